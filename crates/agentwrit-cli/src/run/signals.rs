//! The signals `run` handles, installed before the agents are created so
//! that none is lost, and the rule that decides whether one is forwarded.
//!
//! The rule (uv's, `astral-sh/uv` `crates/uv/src/child.rs`, made exact
//! with the terminal's foreground process group): a key the user types —
//! Ctrl-C (SIGINT), Ctrl-\ (SIGQUIT) — and a window resize (SIGWINCH)
//! reach every process of the terminal's foreground process group. When
//! `agentwrit` is in that group and the child still shares it, the child
//! already has the signal and it is not sent again. Every other signal,
//! and these when sent to `agentwrit` alone (`kill -INT PID`, a supervisor,
//! no terminal), is forwarded once.

use std::os::fd::OwnedFd;

use rustix::process::Signal;
use tokio::signal::unix::{SignalKind, signal};

use crate::error::CliError;

/// The signals handled, and the streams that receive them.
pub struct Signals {
    streams: Vec<(tokio::signal::unix::Signal, Signal)>,
    /// SIGINT, SIGTERM and SIGHUP received so far.
    stops: u32,
    /// The controlling terminal, if there is one.
    tty: Option<OwnedFd>,
}

impl Signals {
    /// Installs the handlers. With `pty` (the child on its own
    /// pseudo-terminal and session), SIGTSTP and SIGCONT too, to pass job
    /// control through. A signal that was ignored when `agentwrit` started
    /// (`nohup` ignores SIGHUP) stays ignored, for the child too.
    pub fn install(pty: bool) -> Result<Self, CliError> {
        let ignored = ignored_at_start();
        let mut wanted = vec![
            Signal::INT,
            Signal::TERM,
            Signal::HUP,
            Signal::QUIT,
            Signal::USR1,
            Signal::USR2,
            Signal::ALARM,
            Signal::WINCH,
        ];
        if pty {
            wanted.extend([Signal::TSTP, Signal::CONT]);
        }
        let mut streams = Vec::new();
        for sig in wanted {
            if ignored & (1u64 << (sig.as_raw() - 1)) != 0 {
                continue;
            }
            let stream = signal(SignalKind::from_raw(sig.as_raw()))
                .map_err(|e| CliError::io("installing signal handlers", e))?;
            streams.push((stream, sig));
        }
        let tty = rustix::fs::open(
            "/dev/tty",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok();
        Ok(Signals {
            streams,
            stops: 0,
            tty,
        })
    }

    /// The next signal received.
    pub async fn next(&mut self) -> Signal {
        let sig = std::future::poll_fn(|cx| {
            for (stream, sig) in &mut self.streams {
                if let std::task::Poll::Ready(Some(())) = stream.poll_recv(cx) {
                    return std::task::Poll::Ready(*sig);
                }
            }
            std::task::Poll::Pending
        })
        .await;
        if matches!(sig, Signal::INT | Signal::TERM | Signal::HUP) {
            self.stops += 1;
        }
        sig
    }

    /// How many SIGINT, SIGTERM and SIGHUP have been received.
    pub fn stops(&self) -> u32 {
        self.stops
    }

    /// Whether the terminal delivered `sig` to the child already: a
    /// terminal signal, `agentwrit` in the terminal's foreground process
    /// group, and the child (`child_pgid`) in it too.
    pub fn delivered_by_terminal(
        &self,
        sig: Signal,
        child_pgid: Option<rustix::process::Pid>,
    ) -> bool {
        if !matches!(sig, Signal::INT | Signal::QUIT | Signal::WINCH) {
            return false;
        }
        let ours = rustix::process::getpgrp();
        let foreground = self
            .tty
            .as_ref()
            .and_then(|tty| rustix::termios::tcgetpgrp(tty).ok());
        foreground == Some(ours) && child_pgid == Some(ours)
    }
}

/// The signals ignored when the process started (`SigIgn` in
/// `/proc/self/status`, bit N-1 for signal N); none where it cannot be
/// read.
fn ignored_at_start() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("SigIgn:")
                    .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            })
        })
        .unwrap_or(0)
}

/// The name of `sig` for messages (`SIGINT`).
pub fn name(sig: i32) -> String {
    let known = [
        (Signal::HUP, "SIGHUP"),
        (Signal::INT, "SIGINT"),
        (Signal::QUIT, "SIGQUIT"),
        (Signal::KILL, "SIGKILL"),
        (Signal::USR1, "SIGUSR1"),
        (Signal::USR2, "SIGUSR2"),
        (Signal::ALARM, "SIGALRM"),
        (Signal::TERM, "SIGTERM"),
        (Signal::WINCH, "SIGWINCH"),
    ];
    known
        .iter()
        .find(|(s, _)| s.as_raw() == sig)
        .map(|(_, n)| (*n).to_owned())
        .unwrap_or_else(|| format!("signal {sig}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ignored_set_is_read() {
        // Rust's runtime ignores SIGPIPE in every Rust program.
        assert_ne!(ignored_at_start() & (1 << (Signal::PIPE.as_raw() - 1)), 0);
    }

    #[test]
    fn names() {
        assert_eq!(name(2), "SIGINT");
        assert_eq!(name(64), "signal 64");
    }
}
