//! Running a program under Valgrind's callgrind (and natively, for the CPU
//! time), and reading the instruction total back.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::run;

/// A program to run: the executable (and a script for an interpreter),
/// its arguments, and the environment it needs (which carries the sample
/// apps' secrets, so it is never echoed).
pub(super) struct Invocation<'a> {
    pub program: &'a [PathBuf],
    pub args: Vec<String>,
    pub envs: &'a [(&'static str, String)],
}

impl Invocation<'_> {
    fn command(&self, prefix: Option<Command>) -> Result<Command, String> {
        let (first, rest) = self.program.split_first().ok_or("empty command")?;
        let mut cmd = match prefix {
            Some(mut c) => {
                c.arg(first);
                c
            }
            None => Command::new(first),
        };
        cmd.args(rest).args(&self.args).stdin(Stdio::null());
        for (k, v) in self.envs {
            cmd.env(k, v);
        }
        Ok(cmd)
    }

    fn shown(&self) -> String {
        self.program
            .iter()
            .map(|p| p.display().to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Installs Debian's valgrind with apt-get when it is missing.
pub(super) fn ensure_valgrind() -> Result<(), String> {
    let present = || {
        Command::new("valgrind")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if present() {
        return Ok(());
    }
    eprintln!("bench-cost: valgrind missing; installing Debian's package");
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get").args(["install", "-y", "--no-install-recommends", "valgrind"]))
        .map_err(|e| {
            format!("{e}\ninstall valgrind (Debian/Ubuntu: apt-get install valgrind) and retry")
        })?;
    if present() {
        Ok(())
    } else {
        Err("valgrind still not runnable after apt-get install".into())
    }
}

/// Runs `inv` under callgrind, writing its profile to `out_file`; returns
/// the instructions it executed (every thread). Not `util::run`: the
/// environment carries secrets.
pub(super) fn instructions(inv: &Invocation<'_>, out_file: &Path) -> Result<u64, String> {
    let mut valgrind = Command::new("valgrind");
    valgrind
        .args(["--tool=callgrind", "-q"])
        .arg(format!("--callgrind-out-file={}", out_file.display()));
    let status = inv
        .command(Some(valgrind))?
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("could not start valgrind: {e}"))?;
    if !status.success() {
        return Err(format!(
            "valgrind --tool=callgrind {} failed with {status}",
            inv.shown()
        ));
    }
    let text =
        std::fs::read_to_string(out_file).map_err(|e| format!("{}: {e}", out_file.display()))?;
    parse_total(&text).ok_or_else(|| format!("{}: no totals line", out_file.display()))
}

/// The instruction total of a callgrind output file (`totals:`, or
/// `summary:` in older formats).
fn parse_total(text: &str) -> Option<u64> {
    let find = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    find("totals:").or_else(|| find("summary:"))
}

/// Runs `inv` natively; returns the CPU nanoseconds of its measured
/// window as the program reported them (`{"cpu_ns": ..}` on stdout).
pub(super) fn cpu_ns(inv: &Invocation<'_>) -> Result<Option<f64>, String> {
    let out = inv
        .command(None)?
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start the native run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the native run {} failed with {}",
            inv.args.join(" "),
            out.status
        ));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(line.trim())
        .map_err(|e| format!("the native run printed {line:?}: {e}"))?;
    Ok(v.get("cpu_ns").and_then(Value::as_f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_callgrind_totals() {
        assert_eq!(
            parse_total("events: Ir\nfn=main\n1 5\ntotals: 123456\n"),
            Some(123_456)
        );
        assert_eq!(parse_total("events: Ir\nsummary: 99\n"), Some(99));
        assert_eq!(parse_total("events: Ir\n"), None);
    }

    #[test]
    fn the_valgrind_command_line_prefixes_the_program_and_hides_nothing_but_envs() {
        let program = [PathBuf::from("/bin/py"), PathBuf::from("script.py")];
        let envs = [("SECRET", "s3cr3t".to_owned())];
        let inv = Invocation {
            program: &program,
            args: vec!["rs".into(), "3".into()],
            envs: &envs,
        };
        let cmd = inv.command(Some(Command::new("valgrind"))).unwrap();
        assert_eq!(cmd.get_program(), "valgrind");
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(args, ["/bin/py", "script.py", "rs", "3"]);
        assert!(!inv.shown().contains("s3cr3t"));
    }
}
