//! Helpers shared by the commands.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

pub use crate::metadata::target_dir;

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The path of binary `name` built with `profile` (`debug`, `release`),
/// under the target directory cargo uses.
pub fn binary(profile: &str, name: &str) -> Result<PathBuf, String> {
    Ok(target_dir()?
        .join(profile)
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

/// `cargo` as invoked by the user (respects `$CARGO`).
pub fn cargo() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| String::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root());
    builds_as_by_hand(&mut cmd);
    cmd
}

/// Removes the variables `cargo xtask` (a `cargo run`) set for xtask
/// itself (`CARGO_PKG_NAME=xtask`, `CARGO_MANIFEST_DIR`, ...) from a
/// command that builds Rust (cargo, maturin, napi): ring's build script
/// depends on them, so builds run with them and builds run by hand (or by
/// a test) would rebuild ring and everything above it in turn.
pub fn builds_as_by_hand(cmd: &mut Command) -> &mut Command {
    agentwrit_test_support::strip_cargo_run_env(cmd)
}

/// Runs `cmd`, echoing it and its duration; fails on a non-zero exit.
///
/// The echo is the program and its arguments only: the environment a
/// command was given (credentials among it) is named, never its values.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = shown(cmd);
    eprintln!("\n$ {shown}");
    let start = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {shown}: {e}"))?;
    eprintln!("  ({:.1} s)", start.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed with {status}"))
    }
}

/// `cmd` as a shell-like line: environment variable names (values
/// replaced by `…`), then the program and its arguments.
fn shown(cmd: &Command) -> String {
    let mut line = String::new();
    for (name, value) in cmd.get_envs() {
        if value.is_some() {
            line.push_str(&name.to_string_lossy());
            line.push_str("=… ");
        }
    }
    line.push_str(&cmd.get_program().to_string_lossy());
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// CPU seconds (user and system) used so far by this process and by the
/// children it has waited for (cargo, rustc, the test binaries, ...), from
/// `/proc/self/stat`; `None` where there is no such file. The kernel's
/// unit there is USER_HZ, 100 per second on every Linux architecture.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_of(&stat)
}

/// utime + stime + cutime + cstime of a `/proc/<pid>/stat` line, in
/// seconds.
fn cpu_of(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state): field n is at index n - 3.
    let ticks: Option<Vec<u64>> = (14..=17).map(|n| fields.get(n - 3)?.parse().ok()).collect();
    Some(ticks?.iter().sum::<u64>() as f64 / 100.0)
}

/// True when `--flag` is among `args`.
pub fn flag(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_from_proc_stat_fields_14_to_17() {
        let stat = "4242 (x task (1)) S 1 2 3 4 5 6 7 8 9 10 150 50 200 100 20 0 1 0";
        assert_eq!(cpu_of(stat), Some(5.0));
        assert_eq!(cpu_of("garbage"), None);
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(cpu_seconds().is_some());
        }
    }

    #[test]
    fn the_echo_names_environment_variables_but_never_their_values() {
        let mut cmd = Command::new("compare");
        cmd.args(["--lifecycles", "5"])
            .env("AGENTWRIT_CLIENT_SECRET", "s3cr3t-value")
            .env_remove("HOME");
        let line = shown(&cmd);
        assert_eq!(line, "AGENTWRIT_CLIENT_SECRET=… compare --lifecycles 5");
        assert!(!line.contains("s3cr3t-value"));
    }
}
