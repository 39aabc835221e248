//! `cargo xtask browser-check`: each demo app in a real, headless
//! Chromium. Starts the app (embedded broker, offline planner), lets the
//! page run one scenario by itself (`?scenario=..&autorun=1`), reads the
//! rendered DOM and fails unless the finished trace is there, then saves
//! a screenshot of the finished page under `<target dir>/browser-check/`
//! (`--save-docs`: under `docs/img/`, the README's copies).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::{cargo, flag, root, run};

/// One demo app: its package, the scenario the browser drives, and the
/// trace lines (`data-kind`) the finished page must show.
struct Demo {
    package: &'static str,
    scenario: &'static str,
    must_show: &'static [&'static str],
    screenshot: &'static str,
}

const DEMOS: [Demo; 2] = [
    Demo {
        package: "agentwrit-support-desk",
        scenario: "dangerous",
        must_show: &[
            "agent_created",
            "scope_denied",
            "released",
            "validated",
            "run_finished",
        ],
        screenshot: "docs/img/support-desk.png",
    },
    Demo {
        package: "agentwrit-medassist",
        scenario: "full-encounter",
        must_show: &["agent_created", "released", "validated", "run_finished"],
        screenshot: "docs/img/medassist.png",
    },
];

const CHROMIUM_FLAGS: [&str; 11] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
];

/// How long one Chromium run may take before it is killed.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);
/// Virtual time the page gets to finish its run.
const VIRTUAL_TIME_MS: u32 = 20_000;

pub fn browser_check(args: &[String]) -> Result<(), String> {
    let only: Option<&str> = args
        .iter()
        .position(|a| a == "--app")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let demos: Vec<&Demo> = DEMOS
        .iter()
        .filter(|d| only.is_none_or(|o| d.package.ends_with(o)))
        .filter(|d| {
            let dir = d.package.trim_start_matches("agentwrit-");
            let present = root()
                .join("examples")
                .join(dir)
                .join("Cargo.toml")
                .exists();
            if !present {
                eprintln!("browser-check: {} is not in this tree; skipped", d.package);
            }
            present
        })
        .collect();
    if demos.is_empty() {
        return Err("no demo app to check".into());
    }
    let chromium = match find_or_install_chromium(!flag(args, "--no-install")) {
        Ok(chromium) => chromium,
        // For CI: no browser to be had here is a skip, not a failure.
        Err(e) if flag(args, "--skip-without-browser") => {
            eprintln!("browser-check: skipped: {e}");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    // The demo apps from the workspace's debug build (the one the tests
    // use), not a build of their own.
    crate::builds::debug()?;
    let target = target_dir()?;
    let mut failures = Vec::new();
    for demo in demos {
        let binary = target.join("debug").join(demo.package);
        // Screenshots go to the target directory; `--save-docs` writes the
        // README's copies under docs/img/ instead.
        let shot = if flag(args, "--save-docs") {
            root().join(demo.screenshot)
        } else {
            let name = Path::new(demo.screenshot)
                .file_name()
                .unwrap_or(demo.package.as_ref());
            target.join("browser-check").join(name)
        };
        match check_one(&chromium, &binary, demo, &shot) {
            Ok(summary) => eprintln!("browser-check: {}: {summary}", demo.package),
            Err(e) => {
                eprintln!("browser-check: {}: FAILED: {e}", demo.package);
                failures.push(format!("{}: {e}", demo.package));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// `chromium` (or a sibling name) on PATH; installs Debian's package when
/// allowed and missing.
pub fn find_or_install_chromium(install: bool) -> Result<PathBuf, String> {
    if let Some(found) = find_chromium() {
        return Ok(found);
    }
    if !install {
        return Err("chromium is not installed (and --no-install was given)".into());
    }
    eprintln!("browser-check: chromium not found; installing Debian's chromium package");
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args([
            "install",
            "-y",
            "--no-install-recommends",
            "chromium",
            "fonts-dejavu-core",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    find_chromium().ok_or_else(|| "chromium is still not on PATH after installing it".into())
}

pub fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// The workspace's target directory, as cargo sees it (honours
/// `CARGO_TARGET_DIR`).
fn target_dir() -> Result<PathBuf, String> {
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let key = "\"target_directory\":\"";
    let start = text
        .find(key)
        .ok_or("cargo metadata has no target_directory")?
        + key.len();
    let end = text[start..]
        .find('"')
        .ok_or("cargo metadata: unterminated target_directory")?;
    Ok(PathBuf::from(
        text[start..start + end].replace("\\\\", "\\"),
    ))
}

/// Kills the app when dropped, whatever happened.
struct App(Child);

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn check_one(chromium: &Path, binary: &Path, demo: &Demo, shot: &Path) -> Result<String, String> {
    let mut child = Command::new(binary)
        .args(["--port", "0"])
        .env_remove("AGENTWRIT_BROKER_URL")
        .env_remove("LLM_BASE_URL")
        .env_remove("LLM_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let app = App(child);
    let base = wait_for_url(stdout, Duration::from_secs(60))?;
    let page = format!(
        "{}/?scenario={}&autorun=1",
        base.trim_end_matches('/'),
        demo.scenario
    );
    eprintln!(
        "browser-check: {} serves {base}; opening {page}",
        demo.package
    );

    // 1. The DOM after the run: the finished trace must be there.
    let dom = chromium_run(chromium, &["--dump-dom"], &page)?;
    if !dom.contains("data-state=\"finished\"") {
        let state = dom
            .find("id=\"trace\"")
            .map(|i| dom[i..].chars().take(120).collect::<String>())
            .unwrap_or_else(|| "no #trace element".into());
        return Err(format!("the trace did not finish in the browser ({state})"));
    }
    for kind in demo.must_show {
        if !dom.contains(&format!("data-kind=\"{kind}\"")) {
            return Err(format!("the finished trace has no {kind} line"));
        }
    }
    if dom.contains("eyJ") {
        return Err("the page shows a JWT".into());
    }
    let lines = dom.matches("<li class=\"ev ").count();

    // 2. The screenshot, of a second run of the same scenario.
    if let Some(dir) = shot.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let _ = std::fs::remove_file(shot);
    let screenshot_flag = format!("--screenshot={}", shot.display());
    chromium_run(
        chromium,
        &[&screenshot_flag, "--window-size=1280,2000"],
        &page,
    )?;
    if !shot.is_file() {
        return Err(format!("no screenshot at {}", shot.display()));
    }
    // That run finished too (the app's own record of its newest run).
    let latest = http_get(&base, "/api/runs/latest")?;
    if !latest.contains("\"finished\":true") {
        return Err("the screenshot's run had not finished".into());
    }
    drop(app);
    Ok(format!(
        "{lines} trace lines rendered, finished; screenshot {}",
        shot.display()
    ))
}

/// Reads the app's stdout until a line saying `open http://...`, the URL
/// to open (the broker's URL may be printed before it).
fn wait_for_url(stdout: impl Read + Send + 'static, limit: Duration) -> Result<String, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = url_to_open(&line) {
                let _ = tx.send(url);
            }
        }
    });
    rx.recv_timeout(limit)
        .map_err(|_| "the app did not print its URL".to_owned())
}

/// The `http://` URL after the word `open` in `line`.
fn url_to_open(line: &str) -> Option<String> {
    let open = line.find("open ")?;
    let at = open + line[open..].find("http://")?;
    Some(
        line[at..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect(),
    )
}

/// Runs headless Chromium on `url` with `extra` flags; returns stdout.
fn chromium_run(chromium: &Path, extra: &[&str], url: &str) -> Result<String, String> {
    let profile = std::env::temp_dir().join(format!(
        "agentwrit-browser-check-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let mut cmd = Command::new(chromium);
    cmd.args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--virtual-time-budget={VIRTUAL_TIME_MS}"))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start chromium: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no chromium stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&profile);
            return Err(format!(
                "chromium did not finish within {} s",
                CHROMIUM_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = reader.join().unwrap_or_default();
    let _ = std::fs::remove_dir_all(&profile);
    if !status.success() {
        return Err(format!("chromium exited with {status}"));
    }
    Ok(out)
}

/// A plain HTTP/1.0 GET on loopback; returns the body.
fn http_get(base: &str, path: &str) -> Result<String, String> {
    let host = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = TcpStream::connect(&host).map_err(|e| format!("connect {host}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("read {path}: {e}"))?;
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::url_to_open;

    #[test]
    fn the_url_to_open_is_not_the_brokers() {
        assert_eq!(
            url_to_open("  broker:  embedded development broker at http://127.0.0.1:4000"),
            None
        );
        assert_eq!(
            url_to_open("  open http://127.0.0.1:5000/   (Ctrl-C to stop)").as_deref(),
            Some("http://127.0.0.1:5000/")
        );
        assert_eq!(
            url_to_open("MedAssist: open http://127.0.0.1:6000/").as_deref(),
            Some("http://127.0.0.1:6000/")
        );
    }
}
