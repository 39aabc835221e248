//! `cargo xtask browser-check`: each demo app in a real, headless
//! Chromium. Starts the app (embedded broker, offline planner), lets the
//! page run one scenario by itself (`?scenario=..&autorun=1`), reads the
//! rendered DOM and fails unless the finished trace and the scope-usage
//! panel are there, then saves a screenshot of the finished page under
//! `<target dir>/browser-check/` (`--save-docs`: under `docs/img/`, the
//! README's copies).
//!
//! The demos also write their usage records (`AGENTWRIT_USAGE_DIR`); the
//! built `agentwrit usage report --format html` turns them into a page,
//! which Chromium must render with its chart drawn.

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
            "usage",
            "run_finished",
        ],
        screenshot: "docs/img/support-desk.png",
    },
    Demo {
        package: "agentwrit-medassist",
        scenario: "full-encounter",
        must_show: &[
            "agent_created",
            "released",
            "validated",
            "usage",
            "run_finished",
        ],
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
    // The demo apps and the command line from the workspace's debug build
    // (the one the tests use), not a build of their own.
    crate::builds::debug()?;
    let target = target_dir()?;
    let usage_root = target.join("browser-check").join("usage");
    let _ = std::fs::remove_dir_all(&usage_root);
    let mut failures = Vec::new();
    let mut usage_dirs = Vec::new();
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
        let usage_dir = usage_root.join(demo.package);
        match check_one(&chromium, &binary, demo, &shot, &usage_dir) {
            Ok(summary) => eprintln!("browser-check: {}: {summary}", demo.package),
            Err(e) => {
                eprintln!("browser-check: {}: FAILED: {e}", demo.package);
                failures.push(format!("{}: {e}", demo.package));
            }
        }
        usage_dirs.push(usage_dir);
    }
    let report_shot = if flag(args, "--save-docs") {
        root().join(USAGE_REPORT_SCREENSHOT)
    } else {
        target.join("browser-check").join("usage-report.png")
    };
    let cli = target.join("debug").join("agentwrit");
    let report_page = target.join("browser-check").join("usage-report.html");
    match check_usage_report(&chromium, &cli, &usage_dirs, &report_page, &report_shot) {
        Ok(summary) => eprintln!("browser-check: usage report: {summary}"),
        Err(e) => {
            eprintln!("browser-check: usage report: FAILED: {e}");
            failures.push(format!("usage report: {e}"));
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

fn check_one(
    chromium: &Path,
    binary: &Path,
    demo: &Demo,
    shot: &Path,
    usage_dir: &Path,
) -> Result<String, String> {
    let mut child = Command::new(binary)
        .args(["--port", "0"])
        .env("AGENTWRIT_USAGE_DIR", usage_dir)
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
    // The scope-usage panel: a table with one row per agent.
    if !dom.contains("id=\"usage-panel\"") {
        return Err("the finished page has no scope-usage panel".into());
    }
    let panel_rows = dom.matches("<tr data-role=").count();
    if panel_rows == 0 {
        return Err("the scope-usage panel has no agent row".into());
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
        "{lines} trace lines rendered, finished, usage panel with {panel_rows} agent row(s); screenshot {}",
        shot.display()
    ))
}

/// Where `--save-docs` puts the usage report's screenshot.
const USAGE_REPORT_SCREENSHOT: &str = "docs/img/usage-report.png";

/// `agentwrit usage report --format html` over the demos' records, opened
/// in Chromium: the page must have run its script (`data-state="ready"`)
/// and drawn every non-empty bar of its chart.
fn check_usage_report(
    chromium: &Path,
    cli: &Path,
    dirs: &[PathBuf],
    page: &Path,
    shot: &Path,
) -> Result<String, String> {
    let dirs: Vec<&PathBuf> = dirs.iter().filter(|d| d.is_dir()).collect();
    if dirs.is_empty() {
        return Err("no demo wrote usage records".into());
    }
    for file in [page, shot] {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
    }
    let output = Command::new(cli)
        .args(["usage", "report", "--format", "html", "--output"])
        .arg(page)
        .args(&dirs)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", cli.display()))?;
    if !output.status.success() {
        return Err(format!(
            "agentwrit usage report failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let html = std::fs::read_to_string(page).map_err(|e| format!("{}: {e}", page.display()))?;
    let bars = html.matches("class=\"bar\"").count() - html.matches("data-value=\"0\"").count();
    let url = format!("file://{}", page.display());
    let dom = chromium_run(chromium, &["--dump-dom"], &url)?;
    if !dom.contains("data-state=\"ready\"") {
        return Err("the report page's script did not run".into());
    }
    let drawn = dom
        .split("data-rendered=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or("the chart was not measured")?;
    if bars == 0 || drawn != bars {
        return Err(format!("the chart drew {drawn} of {bars} bars"));
    }
    if dom.contains("eyJ") {
        return Err("the report shows a JWT".into());
    }
    let _ = std::fs::remove_file(shot);
    let screenshot_flag = format!("--screenshot={}", shot.display());
    chromium_run(
        chromium,
        &[&screenshot_flag, "--window-size=1280,1400"],
        &url,
    )?;
    if !shot.is_file() {
        return Err(format!("no screenshot at {}", shot.display()));
    }
    Ok(format!(
        "{} task row(s), chart of {drawn} bar(s) drawn; screenshot {}",
        dom.matches("<tr data-task=").count(),
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
