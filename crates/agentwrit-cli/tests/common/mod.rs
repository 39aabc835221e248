//! The harness of the tests that run the real `agentwrit` binary: a broker
//! (a development broker on 127.0.0.1:0, or the external one of
//! `AGENTWRIT_TEST_BROKER_URL` + `AGENTWRIT_TEST_ADMIN_SECRET`, as in
//! `cargo xtask conformance`), apps registered on it, and the binary's
//! command with a clean environment.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agentwrit_blocking::wire::{AuditQuery, CreateAppRequest};
use agentwrit_blocking::{Broker, Operator};
use agentwrit_devbroker::{DevBroker, DevBrokerHandle};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_agentwrit");

pub struct TestBroker {
    _dev: Option<DevBrokerHandle>,
    /// The broker of `AGENTWRIT_TEST_BROKER_URL`, not one this test started.
    external: bool,
    /// One operator session per test (the real broker rate-limits logins).
    operator: std::sync::OnceLock<Operator>,
    pub url: String,
    pub admin_secret: String,
    ca_file: Option<String>,
    client_cert: Option<(String, String)>,
}

fn set(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

impl TestBroker {
    pub fn start() -> TestBroker {
        if let (Some(url), Some(admin)) = (
            set("AGENTWRIT_TEST_BROKER_URL"),
            set("AGENTWRIT_TEST_ADMIN_SECRET"),
        ) {
            let cert = set("AGENTWRIT_TEST_CLIENT_CERT").zip(set("AGENTWRIT_TEST_CLIENT_KEY"));
            return TestBroker {
                _dev: None,
                external: true,
                operator: std::sync::OnceLock::new(),
                url,
                admin_secret: admin,
                ca_file: set("AGENTWRIT_TEST_CA_FILE"),
                client_cert: cert,
            };
        }
        let dev = DevBroker::builder().no_rate_limits().start().unwrap();
        TestBroker {
            url: dev.url().to_owned(),
            admin_secret: dev.admin_secret().expose_secret().to_owned(),
            _dev: Some(dev),
            external: false,
            operator: std::sync::OnceLock::new(),
            ca_file: None,
            client_cert: None,
        }
    }

    /// Stops the development broker (nothing for an external one).
    pub fn stop(&mut self) {
        if let Some(dev) = self._dev.take() {
            dev.shutdown();
        }
    }

    pub fn is_external(&self) -> bool {
        self.external
    }

    pub fn operator(&self) -> &Operator {
        self.operator.get_or_init(|| self.new_operator())
    }

    fn new_operator(&self) -> Operator {
        self.broker().operator(self.admin_secret.as_str()).unwrap()
    }

    /// One connection to the broker, with the test CA and client identity.
    fn broker(&self) -> Broker {
        let mut b = Broker::builder(&self.url);
        if let Some(ca) = &self.ca_file {
            b = b.add_root_certificate_pem(&std::fs::read(ca).unwrap());
        }
        if let Some((cert, key)) = &self.client_cert {
            b = b.identity_pem(&std::fs::read(cert).unwrap(), &std::fs::read(key).unwrap());
        }
        b.build().unwrap()
    }

    /// True when the broker accepts `token`.
    pub fn is_valid(&self, token: &str) -> bool {
        self.broker().validate(token).unwrap().is_valid()
    }

    /// A new app with ceiling `scopes`: (client id, client secret).
    pub fn app(&self, scopes: &[&str]) -> (String, String) {
        let request = CreateAppRequest::new(
            unique("cli-app"),
            scopes.iter().map(|s| s.to_string()).collect(),
        );
        let app = self.operator().create_app(request).unwrap();
        (
            app.client_id.clone(),
            app.client_secret.unwrap().expose_secret().to_owned(),
        )
    }

    /// The binary, with only this broker in its environment (no app).
    pub fn bare(&self) -> Command {
        let mut cmd = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("AGENTWRIT_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AGENTWRIT_BROKER_URL", &self.url);
        if let Some(ca) = &self.ca_file {
            cmd.env("AGENTWRIT_CA_FILE", ca);
        }
        if let Some((cert, key)) = &self.client_cert {
            cmd.env("AGENTWRIT_CLIENT_CERT", cert)
                .env("AGENTWRIT_CLIENT_KEY", key);
        }
        cmd
    }

    /// The binary with an app's credentials (ceiling `scopes`) and the
    /// admin secret in its environment.
    pub fn with_app(&self, scopes: &[&str]) -> (Command, String) {
        let (id, secret) = self.app(scopes);
        let mut cmd = self.bare();
        cmd.env("AGENTWRIT_CLIENT_ID", id)
            .env("AGENTWRIT_CLIENT_SECRET", &secret)
            .env("AGENTWRIT_ADMIN_SECRET", &self.admin_secret);
        (cmd, secret)
    }

    /// The binary with the admin secret (operator commands).
    pub fn admin(&self) -> Command {
        let mut cmd = self.bare();
        cmd.env("AGENTWRIT_ADMIN_SECRET", &self.admin_secret);
        cmd
    }

    /// How many events of `event_type` the broker recorded for `task_id`.
    pub fn events(&self, task_id: &str, event_type: &str) -> u64 {
        self.operator()
            .audit_events(AuditQuery::new().task_id(task_id).event_type(event_type))
            .unwrap()
            .total
    }
}

/// A name no other test (or earlier run against the same broker) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh directory under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Polls `probe` until it returns `Some`, for at most `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The file's content once it exists and is not empty.
pub fn read_when_present(path: &Path) -> String {
    wait_for(
        &format!("{}", path.display()),
        Duration::from_secs(30),
        || std::fs::read_to_string(path).ok().filter(|s| !s.is_empty()),
    )
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The value of `key=` in a child's `key=value` output lines.
pub fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {text:?}"))
        .to_owned()
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

/// True when python3 can be run here.
pub fn has_python() -> bool {
    Command::new("python3")
        .arg("-c")
        .arg("pass")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Sends `signal` (a name for `kill -s`) to `pid`.
pub fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The `agentwrit-devbroker` binary for [`Standalone`]: the one the
/// workspace build put beside the binary under test (`cargo test
/// --workspace --all-targets`, as `cargo xtask test` runs it, builds every
/// bin target into the profile directory), used as it is unless a source
/// it is built from changed after it ([`is_fresh`]).
///
/// Otherwise (`cargo test -p agentwrit-cli` alone, from a clean target
/// directory or after an edit) cargo builds it, once per test process,
/// into that directory with the workspace build's package selection
/// (`--workspace`, no test, example or bench target, so the features it
/// resolves are those the workspace build gives its bins and the
/// dependencies already built are reused), and only this one bin target.
/// Never `-p agentwrit-devbroker`: features resolved for that package
/// alone differ from the workspace's and rebuild shared dependencies.
pub fn devbroker_bin() -> PathBuf {
    static BIN_PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN_PATH
        .get_or_init(|| {
            // Same target directory, same profile (`debug` is the `dev`
            // profile's directory).
            let profile_dir = Path::new(BIN).parent().unwrap();
            let bin = profile_dir.join(format!(
                "agentwrit-devbroker{}",
                std::env::consts::EXE_SUFFIX
            ));
            if is_fresh(&bin) {
                return bin;
            }
            let target_dir = profile_dir.parent().unwrap();
            let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
                "debug" => "dev",
                other => other,
            };
            let built = cargo()
                .args([
                    "build",
                    "--quiet",
                    "--workspace",
                    "--bin",
                    "agentwrit-devbroker",
                ])
                .args(["--profile", profile])
                .arg("--target-dir")
                .arg(target_dir)
                .status()
                .unwrap();
            assert!(
                built.success() && bin.exists(),
                "cannot build {}",
                bin.display()
            );
            bin
        })
        .clone()
}

/// The cargo that runs the tests, in this package's directory.
fn cargo() -> Command {
    // Without the variables cargo set for this test: a build script that
    // depends on them would rebuild its crate (and everything above it)
    // here, and again in the next build outside the test.
    let mut cmd = agentwrit_test_support::nested_cargo();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// Whether `bin` exists and is newer than every file of the workspace
/// packages `agentwrit-devbroker` is built from (itself and its path
/// dependencies, transitively) and than the workspace's `Cargo.toml` and
/// `Cargo.lock`: what an edit or a checkout since the build would have
/// touched. Errs towards "not fresh" (cargo then decides).
fn is_fresh(bin: &Path) -> bool {
    let Some(built) = std::fs::metadata(bin).and_then(|m| m.modified()).ok() else {
        return false;
    };
    let Ok(out) = cargo()
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
    else {
        return false;
    };
    let Ok(meta) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return false;
    };
    let Some(packages) = meta["packages"].as_array() else {
        return false;
    };
    let package = |name: &str| packages.iter().find(|p| p["name"] == name);
    // The packages it is built from: normal and build dependencies by path.
    let mut dirs = Vec::new();
    let mut todo = vec!["agentwrit-devbroker".to_owned()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(p) = package(&name) else {
            return false;
        };
        let Some(manifest) = p["manifest_path"].as_str() else {
            return false;
        };
        dirs.push(Path::new(manifest).parent().unwrap().to_path_buf());
        for dep in p["dependencies"].as_array().into_iter().flatten() {
            let by_path = dep["path"].is_string();
            let built_with = dep["kind"].is_null() || dep["kind"] == "build";
            if let (true, true, Some(dep_name)) = (by_path, built_with, dep["name"].as_str()) {
                todo.push(dep_name.to_owned());
            }
        }
    }
    let root = Path::new(meta["workspace_root"].as_str().unwrap_or("/nonexistent"));
    let mut files = vec![root.join("Cargo.toml"), root.join("Cargo.lock")];
    for dir in &dirs {
        walk(dir, &mut files);
    }
    files.iter().all(|f| {
        std::fs::metadata(f)
            .and_then(|m| m.modified())
            .is_ok_and(|m| m <= built)
    })
}

/// Every file under `dir` (not in hidden, `target` or `node_modules`
/// directories).
fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    walk(&path, files);
                }
            }
            Ok(_) => files.push(path),
            Err(_) => {}
        }
    }
}

/// A development broker in a process of its own (`agentwrit-devbroker`),
/// so that a test can pause it (SIGSTOP) and resume it. Killed on drop.
pub struct Standalone {
    child: std::process::Child,
    pub url: String,
    pub admin_secret: String,
}

impl Standalone {
    /// Starts the `agentwrit-devbroker` binary ([`devbroker_bin`]) on
    /// 127.0.0.1:0.
    pub fn start() -> Standalone {
        let bin = devbroker_bin();
        let admin_secret = unique("admin-secret");
        let mut child = Command::new(&bin)
            .args([
                "--port",
                "0",
                "--no-rate-limits",
                "--admin-secret",
                &admin_secret,
            ])
            .env_remove("AA_ADMIN_SECRET")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines =
            std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let first = lines.next().unwrap().unwrap();
        let url = first.rsplit(' ').next().unwrap().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{first}");
        // Keep draining its stdout so that it never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Standalone {
            child,
            url,
            admin_secret,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGSTOP: connections are still accepted by the kernel, nothing is
    /// answered.
    pub fn pause(&self) {
        kill(self.pid(), "STOP");
    }

    pub fn resume(&self) {
        kill(self.pid(), "CONT");
    }

    /// The harness's view of it.
    pub fn as_test_broker(&self) -> TestBroker {
        TestBroker {
            _dev: None,
            external: true,
            operator: std::sync::OnceLock::new(),
            url: self.url.clone(),
            admin_secret: self.admin_secret.clone(),
            ca_file: None,
            client_cert: None,
        }
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        let _ = kill_quiet(self.pid(), "CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kill_quiet(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// The lines a process writes to a pipe, as they come.
pub fn line_reader(pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(pipe)) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next line containing `needle` (30 s at most); the lines skipped
/// are appended to `seen`.
pub fn wait_line(
    rx: &std::sync::mpsc::Receiver<String>,
    needle: &str,
    seen: &mut Vec<String>,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no line with {needle:?}; saw {seen:?}"),
        }
    }
}

/// The token's claims, decoded by `agentwrit token inspect`.
pub fn claims(token: &str) -> serde_json::Value {
    let out = Command::new(BIN)
        .args(["--json", "token", "inspect", token])
        .output()
        .unwrap();
    json(&out)["claims"].clone()
}

/// Seconds since the epoch, as a float.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// True when `script` (util-linux) can give a command a pseudo-terminal.
pub fn has_script() -> bool {
    Command::new("script")
        .args(["-qc", "true", "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Kills a process group when dropped (a test that fails half-way leaves
/// no `script` or wrapper behind).
pub struct KillGroup(pub u32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.0)])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Whether this test process ignores signal `number` (1 SIGHUP, 2 SIGINT,
/// 3 SIGQUIT): a disposition inherited, e.g. by tests started in the
/// background of a non-interactive shell, which ignores SIGINT and SIGQUIT
/// there. An ignored signal stays ignored in the wrapper and cannot be
/// trapped by a `sh` child, so a test that sends it can only skip.
#[allow(dead_code)] // not every test binary sends signals
pub fn ignored_here(number: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("SigIgn:").map(|v| v.trim().to_owned()))
        })
        .and_then(|hex| u64::from_str_radix(&hex, 16).ok())
        .is_some_and(|mask| number >= 1 && mask & (1 << (number - 1)) != 0)
}
