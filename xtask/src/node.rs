//! `cargo xtask node`: the npm package `agentwrit-rs`
//! (crates/agentwrit-node), built, packed and tested as users install it.
//!
//! Everything lives under `<target>/node/`:
//!
//! 1. `tools/`: an npm project with the pinned build tools (`@napi-rs/cli`,
//!    `typescript`, `@types/node`, and `hono` for the Hono adapter's
//!    types), installed from the npm registry on first use;
//! 2. `tools/build/src/`: the TypeScript layer (`crates/agentwrit-node/ts/`) and
//!    the native module that `napi build` writes beside it (the loader
//!    `native.cjs`, its generated `native.d.cts`, the `.node` file);
//!    `tsc` compiles it (strict) into `tools/build/package/dist/`, where the
//!    ESM entry points (`crates/agentwrit-node/esm/`) join it;
//! 3. `npm pack` of `tools/build/package/` → `agentwrit-rs-<version>.tgz`;
//! 4. `scratch/`: a project that `npm install`s the tarball (and express,
//!    hono, the MCP SDK, typescript) as a user would; the tests
//!    (`crates/agentwrit-node/test/`) and examples
//!    (`crates/agentwrit-node/examples/`) are compiled there by `tsc
//!    --strict` against the installed package's types, then
//!    `node --test` runs them.
//!
//! `--release` builds the native module optimised (what `bench-node`
//! measures). `--no-test` stops after packing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{flag, root, run, target_dir};

/// The build tools, pinned (npm).
const TOOLS: [(&str, &str); 4] = [
    ("@napi-rs/cli", "3.10.12"),
    ("typescript", "5.9.3"),
    ("@types/node", "20.19.43"),
    ("hono", "4.13.23"),
];

/// What the scratch project installs beside the tarball, pinned (npm):
/// the frameworks the adapters are tested in, the official MCP SDK (its
/// server and client), and the compiler the tests and examples go
/// through.
const SCRATCH: [(&str, &str); 7] = [
    ("typescript", "5.9.3"),
    ("@types/node", "20.19.43"),
    ("express", "5.3.0"),
    ("@types/express", "5.0.6"),
    ("hono", "4.13.23"),
    ("@modelcontextprotocol/sdk", "1.32.2"),
    ("zod", "3.25.76"),
];

/// The package's directory in the repository.
fn crate_dir() -> PathBuf {
    root().join("crates").join("agentwrit-node")
}

/// `<target>/node`.
fn node_dir() -> Result<PathBuf, String> {
    Ok(target_dir()?.join("node"))
}

fn io<T>(what: &Path, r: std::io::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{}: {e}", what.display()))
}

/// The two npm projects, installed from the registry when missing: the
/// build tools and the scratch project's dependencies (CI's provisioning
/// lane runs this while the code compiles; `node` does it anyway).
pub fn provision() -> Result<(), String> {
    check_node()?;
    let base = node_dir()?;
    ensure_npm_project(&base.join("tools"), "agentwrit-node-tools", &TOOLS)?;
    ensure_npm_project(&base.join("scratch"), "agentwrit-node-scratch", &SCRATCH)
}

/// Entry point of `cargo xtask node`.
pub fn node(args: &[String]) -> Result<(), String> {
    if let Some(a) = args
        .iter()
        .find(|a| !matches!(a.as_str(), "--release" | "--no-test"))
    {
        return Err(format!(
            "node takes --release and --no-test only (got {a:?})"
        ));
    }
    check_node()?;
    check_no_unsafe()?;
    let tarball = build(flag(args, "--release"))?;
    if flag(args, "--no-test") {
        eprintln!("packed {}", tarball.display());
        return Ok(());
    }
    let scratch = scratch_project(&tarball)?;
    test(&scratch)
}

/// Node 20 or later, and npm.
fn check_node() -> Result<(), String> {
    let out = Command::new("node").arg("--version").output();
    let version = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => return Err("node not found: Node.js 20 or later and npm are needed".into()),
    };
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 20 {
        return Err(format!(
            "Node.js {version} is too old: the package needs 20 or later"
        ));
    }
    Ok(())
}

/// The native crate denies `unsafe_code` instead of forbidding it (see
/// its lib.rs); this checks that no `unsafe` and no lint override is
/// written in its source.
fn check_no_unsafe() -> Result<(), String> {
    let src = crate_dir().join("src");
    for entry in io(&src, std::fs::read_dir(&src))? {
        let path = io(&src, entry)?.path();
        let text = io(&path, std::fs::read_to_string(&path))?;
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let overridden = code.contains("allow(unsafe_code)");
            if overridden || code.replace("deny(unsafe_code)", "").contains("unsafe") {
                return Err(format!(
                    "{}:{}: no unsafe code in agentwrit-node (napi-derive's output is the only exception)",
                    path.display(),
                    i + 1
                ));
            }
        }
    }
    Ok(())
}

/// An npm project in `dir` with exactly `deps` (name, version) installed,
/// reused when every one is already there at that version.
fn ensure_npm_project(dir: &Path, name: &str, deps: &[(&str, &str)]) -> Result<(), String> {
    let installed = |(dep, version): &(&str, &str)| {
        let manifest = dir.join("node_modules").join(dep).join("package.json");
        std::fs::read_to_string(&manifest)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .is_some_and(|pkg| pkg["version"] == *version)
    };
    if deps.iter().all(installed) {
        return Ok(());
    }
    io(dir, std::fs::create_dir_all(dir))?;
    let dependencies: serde_json::Map<String, serde_json::Value> = deps
        .iter()
        .map(|(d, v)| ((*d).to_owned(), serde_json::Value::from(*v)))
        .collect();
    let manifest = serde_json::json!({
        "name": name,
        "private": true,
        "dependencies": dependencies,
    });
    let path = dir.join("package.json");
    io(&path, std::fs::write(&path, manifest.to_string()))?;
    run(npm(dir).args(["install", "--no-package-lock"]))
        .map_err(|e| format!("{e}\ncould not install {name}'s packages from npm"))
}

/// `npm` in `dir`, quiet.
fn npm(dir: &Path) -> Command {
    let mut cmd = Command::new("npm");
    cmd.current_dir(dir)
        .args(["--no-audit", "--no-fund", "--loglevel=error"]);
    cmd
}

/// `node <tools>/node_modules/<script>`.
fn tool(tools: &Path, script: &str) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg(tools.join("node_modules").join(script));
    cmd
}

/// Copies every file of `from` (not recursing) into `to`.
fn copy_files(from: &Path, to: &Path) -> Result<(), String> {
    io(to, std::fs::create_dir_all(to))?;
    for entry in io(from, std::fs::read_dir(from))? {
        let path = io(from, entry)?.path();
        if path.is_file() {
            let name = path.file_name().ok_or("a file without a name")?;
            io(&path, std::fs::copy(&path, to.join(name)))?;
        }
    }
    Ok(())
}

/// A fresh, empty directory.
fn fresh(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        io(dir, std::fs::remove_dir_all(dir))?;
    }
    io(dir, std::fs::create_dir_all(dir))
}

/// Builds the native module and the TypeScript layer, assembles the
/// package and packs it; returns the tarball.
pub fn build(release: bool) -> Result<PathBuf, String> {
    let base = node_dir()?;
    let tools = base.join("tools");
    ensure_npm_project(&tools, "agentwrit-node-tools", &TOOLS)?;
    // Under the tools' project, so that the compiler resolves their
    // packages (hono's types) from the sources.
    let src = tools.join("build").join("src");
    let package = tools.join("build").join("package");
    fresh(&src)?;
    fresh(&package)?;
    copy_files(&crate_dir().join("ts"), &src)?;

    // The native module, its loader and its types, into the sources.
    let mut napi = tool(&tools, "@napi-rs/cli/dist/cli.js");
    napi.current_dir(crate_dir())
        .args([
            "build",
            "--platform",
            "--js",
            "native.cjs",
            "--dts",
            "native.d.cts",
        ])
        .arg("--manifest-path")
        .arg(crate_dir().join("Cargo.toml"))
        .arg("--package-json-path")
        .arg(crate_dir().join("package.json"))
        .arg("--target-dir")
        .arg(target_dir()?)
        .arg("--output-dir")
        .arg(&src);
    if release {
        napi.arg("--release");
    }
    crate::util::builds_as_by_hand(&mut napi);
    run(&mut napi)?;

    // The TypeScript layer, strict, into the package.
    let dist = package.join("dist");
    run(tool(&tools, "typescript/bin/tsc")
        .arg("-p")
        .arg(src.join("tsconfig.json"))
        .arg("--outDir")
        .arg(&dist)
        .arg("--typeRoots")
        .arg(tools.join("node_modules").join("@types")))?;
    // The native module ships as it was generated, beside the layer.
    for entry in io(&src, std::fs::read_dir(&src))? {
        let path = io(&src, entry)?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.starts_with("native.") || name.ends_with(".node") {
            io(&path, std::fs::copy(&path, dist.join(&name)))?;
        }
    }
    copy_files(&crate_dir().join("esm"), &dist)?;
    for file in ["package.json", "README.md"] {
        let from = crate_dir().join(file);
        io(&from, std::fs::copy(&from, package.join(file)))?;
    }
    for file in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let from = root().join(file);
        io(&from, std::fs::copy(&from, package.join(file)))?;
    }

    // Packed as it would be published.
    let out = io(
        &package,
        npm(&package)
            .args(["pack", "--pack-destination"])
            .arg(&base)
            .output(),
    )?;
    if !out.status.success() {
        return Err(format!(
            "npm pack failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let name = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let tarball = base.join(&name);
    if name.is_empty() || !tarball.is_file() {
        return Err(format!("npm pack wrote no tarball into {}", base.display()));
    }
    Ok(tarball)
}

/// `<target>/node/scratch`: the tarball installed as a user installs it
/// (its previous copy removed first), with the test dependencies.
fn scratch_project(tarball: &Path) -> Result<PathBuf, String> {
    let dir = node_dir()?.join("scratch");
    ensure_npm_project(&dir, "agentwrit-node-scratch", &SCRATCH)?;
    let installed = dir.join("node_modules").join("agentwrit-rs");
    if installed.exists() {
        io(&installed, std::fs::remove_dir_all(&installed))?;
    }
    run(npm(&dir)
        .args(["install", "--no-package-lock", "--no-save"])
        .arg(tarball))?;
    Ok(dir)
}

/// Copies the tests, examples and benchmark into `<scratch>/work` and
/// compiles them against the installed package (tsc --strict) into
/// `<scratch>/work/out`.
fn compile(scratch: &Path) -> Result<PathBuf, String> {
    let work = scratch.join("work");
    fresh(&work)?;
    for dir in ["test", "examples", "bench"] {
        copy_files(&crate_dir().join(dir), &work.join(dir))?;
    }
    let tsconfig = serde_json::json!({
        "compilerOptions": {
            "target": "ES2022",
            "lib": ["ES2023", "ESNext.Disposable", "DOM"],
            "module": "Node16",
            "moduleResolution": "Node16",
            "strict": true,
            "noUncheckedIndexedAccess": true,
            // The installed package's declarations are checked too, as
            // a strict user project checks them.
            "skipLibCheck": false,
            "types": ["node"],
            "rootDir": ".",
            "outDir": "out",
        },
        "include": ["test/*.mts", "test/*.cts", "examples/*.mts", "bench/*.mts"],
    });
    let path = work.join("tsconfig.json");
    io(&path, std::fs::write(&path, tsconfig.to_string()))?;
    run(Command::new("node")
        .current_dir(&work)
        .arg(
            scratch
                .join("node_modules")
                .join("typescript")
                .join("bin")
                .join("tsc"),
        )
        .arg("-p")
        .arg(&path))?;
    Ok(work)
}

/// Compiles everything, then runs the tests with `node --test`.
fn test(scratch: &Path) -> Result<(), String> {
    let work = compile(scratch)?;
    let out = work.join("out").join("test");
    let mut files: Vec<PathBuf> = io(&out, std::fs::read_dir(&out))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(".test."))
        })
        .collect();
    files.sort();
    run(Command::new("node")
        .current_dir(&work)
        .args(["--test", "--test-concurrency=2"])
        .args(&files))
}

/// Entry point of `cargo xtask bench-node`: the package's client CPU per
/// `createAgent` against the Rust async client's and a hand-written
/// pure-JS floor's, and 32 concurrent creates against sequential ones,
/// on one development broker (a separate release process) in one run.
///
/// The clients run in turn, `--rounds R` times (default 3; `--quick`: 1
/// round of 200 creates), and each figure is the median of its rounds:
/// this 2-core machine is shared, and single runs differ. Concurrency is
/// measured twice: straight to the broker, and through a loopback proxy
/// (a separate process) that holds each answer back 2 ms, as a network
/// between client and broker would.
///
/// `--creates N` (default 2000); `--check` fails when a target is
/// missed. The native module and the Rust side are release builds.
pub fn bench_node(args: &[String]) -> Result<(), String> {
    let quick = flag(args, "--quick");
    let mut creates: usize = if quick { 200 } else { 2000 };
    let mut rounds: usize = if quick { 1 } else { 3 };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = |name: &str, min: usize| -> Result<usize, String> {
            let v = it.next().ok_or_else(|| format!("{name} needs a value"))?;
            v.parse()
                .ok()
                .filter(|n| *n >= min)
                .ok_or_else(|| format!("{name}: expected a number >= {min}, got {v:?}"))
        };
        match a.as_str() {
            "--quick" | "--check" => {}
            "--creates" => creates = number("--creates", 64)?,
            "--rounds" => rounds = number("--rounds", 1)?,
            other => return Err(format!("bench-node: unknown argument {other:?}")),
        }
    }
    check_node()?;
    let tarball = build(true)?;
    let scratch = scratch_project(&tarball)?;
    let work = compile(&scratch)?;
    run(crate::util::cargo().args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "agentwrit-devbroker",
        "-p",
        "agentwrit-bench",
        "--bins",
    ]))?;
    let broker_bin = crate::util::binary("release", "agentwrit-devbroker")?;
    let create_loop = crate::util::binary("release", "create_loop")?;
    let mut broker = crate::python::Broker::start(&broker_bin, &["--no-rate-limits"])?;
    eprintln!("bench-node: development broker at {}", broker.url);
    let result = measure(&work, &create_loop, &broker, creates, rounds);
    broker.stop();
    report(&result?, creates, rounds, flag(args, "--check"))
}

/// The medians of the rounds (µs of client CPU per create; creates per
/// second).
struct Figures {
    rust_async: f64,
    node: f64,
    floor: f64,
    sequential: f64,
    concurrent: f64,
    sequential_delayed: f64,
    concurrent_delayed: f64,
}

/// The broker (or proxy) and app a benchmark process talks to.
struct Target<'a> {
    url: &'a str,
    broker: &'a crate::python::Broker,
}

fn with_target(cmd: &mut Command, target: &Target<'_>) {
    cmd.env("AGENTWRIT_BROKER_URL", target.url)
        .env("AGENTWRIT_CLIENT_ID", &target.broker.client_id)
        .env("AGENTWRIT_CLIENT_SECRET", &target.broker.client_secret);
}

/// Runs `node bench/create.mjs <args>` and returns its JSON.
fn node_bench(
    work: &Path,
    target: &Target<'_>,
    args: &[&str],
) -> Result<serde_json::Value, String> {
    let mut cmd = Command::new("node");
    cmd.current_dir(work)
        .arg(work.join("out").join("bench").join("create.mjs"))
        .args(args);
    with_target(&mut cmd, target);
    // Not `util::run`: the output is what we read.
    eprintln!(
        "\n$ node bench/create.mjs {} (AGENTWRIT_* set to {})",
        args.join(" "),
        target.url
    );
    let out = cmd
        .output()
        .map_err(|e| format!("could not start node: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the benchmark failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("  {}", text.trim());
    serde_json::from_str(text.trim())
        .map_err(|e| format!("the benchmark printed no JSON ({e}): {text}"))
}

fn field(v: &serde_json::Value, name: &str) -> Result<f64, String> {
    v[name]
        .as_f64()
        .ok_or_else(|| format!("no {name} in the benchmark's output: {v}"))
}

/// The Rust async client on a multi-thread runtime (as the package's own
/// runtime is): µs of client CPU per create.
fn rust_async(create_loop: &Path, target: &Target<'_>, n: &str) -> Result<f64, String> {
    let mut rust = Command::new(create_loop);
    rust.args([n, "--async", "--multi-thread"]);
    with_target(&mut rust, target);
    eprintln!("\n$ {} {n} --async --multi-thread", create_loop.display());
    let out = rust
        .output()
        .map_err(|e| format!("could not start create_loop: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "create_loop failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    eprint!("{text}");
    text.lines()
        .find_map(|l| {
            l.split_once("creates: ")
                .and_then(|(_, r)| r.split_whitespace().next())
        })
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("create_loop printed no CPU per create: {text}"))
}

/// A loopback proxy to the broker holding each answer back `delay_ms`
/// (the benchmark script's `proxy` mode, its own process); killed on drop.
struct Proxy {
    child: std::process::Child,
    url: String,
}

impl Proxy {
    fn start(work: &Path, upstream: &str, delay_ms: u32) -> Result<Proxy, String> {
        use std::io::BufRead as _;
        let mut child = Command::new("node")
            .current_dir(work)
            .arg(work.join("out").join("bench").join("create.mjs"))
            .args(["proxy", upstream, &delay_ms.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start the proxy: {e}"))?;
        let line = child
            .stdout
            .take()
            .and_then(|out| std::io::BufReader::new(out).lines().next())
            .and_then(Result::ok)
            .unwrap_or_default();
        let proxy = Proxy {
            child,
            url: line.trim().to_owned(),
        };
        if !proxy.url.starts_with("http://127.0.0.1:") {
            return Err(format!("the proxy printed no URL: {line:?}"));
        }
        Ok(proxy)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn measure(
    work: &Path,
    create_loop: &Path,
    broker: &crate::python::Broker,
    creates: usize,
    rounds: usize,
) -> Result<Figures, String> {
    let n = creates.to_string();
    let direct = Target {
        url: &broker.url,
        broker,
    };
    let proxy = Proxy::start(work, &broker.url, 2)?;
    let delayed = Target {
        url: &proxy.url,
        broker,
    };
    // Fewer creates behind the proxy: each takes milliseconds there.
    let n_delayed = (creates / 4).max(64).to_string();
    let mut samples: [Vec<f64>; 7] = Default::default();
    for round in 1..=rounds {
        eprintln!("\nbench-node: round {round} of {rounds}");
        samples[0].push(rust_async(create_loop, &direct, &n)?);
        let node = node_bench(work, &direct, &["sdk", &n])?;
        samples[1].push(field(&node, "cpuUsPerCreate")?);
        samples[3].push(field(&node, "perSecond")?);
        samples[2].push(field(
            &node_bench(work, &direct, &["floor", &n])?,
            "cpuUsPerCreate",
        )?);
        samples[4].push(field(
            &node_bench(work, &direct, &["concurrent", &n, "32"])?,
            "perSecond",
        )?);
        samples[5].push(field(
            &node_bench(work, &delayed, &["sdk", &n_delayed])?,
            "perSecond",
        )?);
        samples[6].push(field(
            &node_bench(work, &delayed, &["concurrent", &n_delayed, "32"])?,
            "perSecond",
        )?);
    }
    let [a, b, c, d, e, f, g] = samples.map(median);
    Ok(Figures {
        rust_async: a,
        node: b,
        floor: c,
        sequential: d,
        concurrent: e,
        sequential_delayed: f,
        concurrent_delayed: g,
    })
}

fn report(f: &Figures, creates: usize, rounds: usize, check: bool) -> Result<(), String> {
    let vs_rust = f.node / f.rust_async;
    let vs_floor = f.node / f.floor;
    let direct = f.concurrent / f.sequential;
    let delayed = f.concurrent_delayed / f.sequential_delayed;
    let mark = |ok: bool| if ok { "met" } else { "MISSED" };
    println!();
    println!(
        "bench-node: {creates} creates per client and round, median of {rounds} round(s), \
         one development broker (release, a separate process)"
    );
    println!("| client | CPU per create |");
    println!("|:--|--:|");
    println!(
        "| Rust async client (agentwrit-async, multi-thread runtime) | {:.0} µs |",
        f.rust_async
    );
    println!(
        "| agentwrit-rs on Node (release native module) | {:.0} µs |",
        f.node
    );
    println!(
        "| pure-JS floor (node:crypto Ed25519 + fetch) | {:.0} µs |",
        f.floor
    );
    println!();
    println!("| creates per second | sequential | 32 concurrent | ratio |");
    println!("|:--|--:|--:|--:|");
    println!(
        "| straight to the broker | {:.0} | {:.0} | {direct:.1}x |",
        f.sequential, f.concurrent
    );
    println!(
        "| through a loopback proxy, 2 ms per answer | {:.0} | {:.0} | {delayed:.1}x |",
        f.sequential_delayed, f.concurrent_delayed
    );
    println!();
    println!(
        "Node / Rust async CPU: {vs_rust:.2}x (target <= 1.25: {})",
        mark(vs_rust <= 1.25)
    );
    println!(
        "Node / pure-JS floor CPU: {vs_floor:.2}x (target <= 1.00: {})",
        mark(vs_floor <= 1.0)
    );
    println!(
        "32 concurrent / sequential, 2 ms per answer: {delayed:.1}x (target >= 10: {}); \
         straight to a broker on the same two cores: {direct:.1}x (both CPU-bound)",
        mark(delayed >= 10.0)
    );
    if check && (vs_rust > 1.25 || vs_floor > 1.0 || delayed < 10.0) {
        return Err("a bench-node target was missed".into());
    }
    Ok(())
}
