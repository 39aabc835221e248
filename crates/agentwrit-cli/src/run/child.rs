//! The child: started through `agentwrit __exec` (see [`super::exec`]),
//! its output masked through pipes or a pseudo-terminal, and its exit
//! collected by one reaper (which, when `agentwrit` is PID 1, also reaps
//! the orphans the kernel hands it, as tini does).

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;

use crate::error::CliError;
use crate::mask::{self, Secrets};

/// How long the output pumps may take to drain after the child exited
/// (a grandchild that keeps the pipe open must not hold the release).
const DRAIN: Duration = Duration::from_secs(2);

/// How the child is started.
pub struct Spec<'a> {
    /// The command and its arguments.
    pub command: &'a [OsString],
    /// Its whole environment.
    pub env: Vec<(OsString, OsString)>,
    /// `--mask-output`: the texts to mask.
    pub mask: Option<Secrets>,
    /// The parent-death signal.
    pub death_signal: Option<i32>,
    /// `--json` (for the set-up's own error).
    pub json: bool,
}

/// Whether `--mask-output` will put the child on a pseudo-terminal: when
/// the wrapper's stdout or stderr is one.
pub fn wants_pty(mask: bool) -> bool {
    mask && (std::io::stdout().is_terminal() || std::io::stderr().is_terminal())
}

/// A running child.
pub struct Child {
    /// Its pid while it runs (`None` once reaped, so that no late signal
    /// reaches a process that reused it).
    pid: Option<Pid>,
    reaper: Reaper,
    pty: Option<OwnedFd>,
    pumps: Vec<JoinHandle<()>>,
}

impl Child {
    /// Starts the child. The SIGCHLD stream is set up first, so that no
    /// exit goes unnoticed.
    pub fn spawn(spec: Spec<'_>) -> Result<Child, CliError> {
        let reaper = Reaper::new()?;
        let exe = match std::path::Path::new("/proc/self/exe").exists() {
            true => std::path::PathBuf::from("/proc/self/exe"),
            false => std::env::current_exe()
                .map_err(|e| CliError::io("finding the agentwrit binary", e))?,
        };
        let mut command = Command::new(exe);
        if spec.json {
            command.arg("--json");
        }
        command.arg("__exec");
        if let Some(sig) = spec.death_signal {
            command
                .arg("--death-signal")
                .arg(sig.to_string())
                .arg("--parent")
                .arg(rustix::process::getpid().as_raw_nonzero().to_string());
        }
        command.env_clear().envs(spec.env);
        let mut pty = None;
        let mut pipes: Vec<(OwnedFd, bool)> = Vec::new();
        if let Some(_secrets) = &spec.mask {
            let out_tty = std::io::stdout().is_terminal();
            let err_tty = std::io::stderr().is_terminal();
            if out_tty || err_tty {
                let (master, slave) = open_pty()?;
                let slave2 = slave
                    .try_clone()
                    .map_err(|e| CliError::io("opening a pseudo-terminal", e))?;
                command.arg("--ctty").arg(if out_tty { "1" } else { "2" });
                if out_tty {
                    command.stdout(Stdio::from(slave));
                } else {
                    command.stdout(Stdio::piped());
                }
                if err_tty {
                    command.stderr(Stdio::from(slave2));
                } else {
                    command.stderr(Stdio::piped());
                }
                pty = Some((master, out_tty));
            } else {
                command.stdout(Stdio::piped()).stderr(Stdio::piped());
            }
        }
        command.arg("--").args(spec.command);
        let mut child = command
            .spawn()
            .map_err(|e| CliError::io("starting the child through agentwrit __exec", e))?;
        let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
        if let Some(out) = child.stdout.take() {
            pipes.push((OwnedFd::from(out), true));
        }
        if let Some(err) = child.stderr.take() {
            pipes.push((OwnedFd::from(err), false));
        }
        // `child` is dropped here: std does not wait for it on drop; the
        // reaper does.
        drop(child);
        let mut pumps = Vec::new();
        let secrets = spec.mask.unwrap_or_default();
        for (fd, to_stdout) in pipes {
            let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
                .map_err(|e| CliError::io("reading the child's output", e))?;
            pumps.push(spawn_pump(
                mask::Source::Pipe(reader),
                to_stdout,
                secrets.clone(),
            ));
        }
        let mut master_fd = None;
        if let Some((master, to_stdout)) = pty {
            let copy = master
                .try_clone()
                .map_err(|e| CliError::io("opening a pseudo-terminal", e))?;
            // A character device, not a FIFO: the unchecked constructor
            // (the master was opened non-blocking).
            let reader = tokio::net::unix::pipe::Receiver::from_owned_fd_unchecked(master)
                .map_err(|e| CliError::io("reading the pseudo-terminal", e))?;
            pumps.push(spawn_pump(
                mask::Source::Pty(reader),
                to_stdout,
                secrets.clone(),
            ));
            master_fd = Some(copy);
        }
        let child = Child {
            pid,
            reaper,
            pty: master_fd,
            pumps,
        };
        let _ = child.resize();
        Ok(child)
    }

    /// Whether the child runs on its own pseudo-terminal and session.
    pub fn on_pty(&self) -> bool {
        self.pty.is_some()
    }

    /// The child's process group, while it runs.
    pub fn pgid(&self) -> Option<Pid> {
        self.pid
            .and_then(|pid| rustix::process::getpgid(Some(pid)).ok())
    }

    /// Sends `sig` to the child, if it still runs (an exit in between is
    /// not an error).
    pub fn signal(&self, sig: Signal) {
        if let Some(pid) = self.pid {
            let _ = rustix::process::kill_process(pid, sig);
        }
    }

    /// Copies the terminal's window size to the child's pseudo-terminal;
    /// true when the size changed (the kernel then sends the child
    /// SIGWINCH).
    pub fn resize(&self) -> bool {
        let Some(master) = &self.pty else {
            return false;
        };
        let size = [
            std::io::stdout().as_fd(),
            std::io::stderr().as_fd(),
            std::io::stdin().as_fd(),
        ]
        .into_iter()
        .find_map(|fd| rustix::termios::tcgetwinsize(fd).ok());
        let Some(size) = size else {
            return false;
        };
        if rustix::termios::tcgetwinsize(master).ok() == Some(size) {
            return false;
        }
        rustix::termios::tcsetwinsize(master, size).is_ok()
    }

    /// Waits for the child to exit; its status.
    pub async fn exited(&mut self) -> Result<WaitStatus, CliError> {
        let Some(pid) = self.pid else {
            return Err(CliError::io(
                "waiting for the child",
                std::io::Error::other("the child was already collected"),
            ));
        };
        let status = self.reaper.wait_for(pid).await?;
        self.pid = None;
        Ok(status)
    }

    /// Lets the output pumps finish (at most [`DRAIN`]).
    pub async fn drain(&mut self) {
        self.pty = None;
        for pump in self.pumps.drain(..) {
            let _ = tokio::time::timeout(DRAIN, pump).await;
        }
    }
}

fn spawn_pump(source: mask::Source, to_stdout: bool, secrets: Secrets) -> JoinHandle<()> {
    tokio::spawn(async move {
        if to_stdout {
            mask::pump(source, tokio::io::stdout(), secrets).await;
        } else {
            mask::pump(source, tokio::io::stderr(), secrets).await;
        }
    })
}

/// A new pseudo-terminal: the master (non-blocking, for the pump) and
/// the slave (for the child; output passed through unchanged, so the
/// wrapper's terminal does its own line endings).
fn open_pty() -> Result<(OwnedFd, OwnedFd), CliError> {
    use rustix::pty::OpenptFlags;
    let failed = |e: rustix::io::Errno| CliError::io("opening a pseudo-terminal", e.into());
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .map_err(failed)?;
    rustix::pty::grantpt(&master).map_err(failed)?;
    rustix::pty::unlockpt(&master).map_err(failed)?;
    let name = rustix::pty::ptsname(&master, Vec::new()).map_err(failed)?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(failed)?;
    if let Ok(mut termios) = rustix::termios::tcgetattr(&slave) {
        termios
            .output_modes
            .remove(rustix::termios::OutputModes::OPOST);
        let _ = rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &termios);
    }
    rustix::fs::fcntl_setfl(&master, rustix::fs::OFlags::NONBLOCK).map_err(failed)?;
    Ok((master, slave))
}

/// The one owner of `waitpid`. As PID 1 it collects every child that
/// exits (`waitpid(-1)`, tini's `reap_zombies`), orphans included, and
/// keeps the main child's status; otherwise it waits for the main child
/// alone.
struct Reaper {
    sigchld: tokio::signal::unix::Signal,
    init: bool,
}

impl Reaper {
    fn new() -> Result<Reaper, CliError> {
        let sigchld = signal(SignalKind::child())
            .map_err(|e| CliError::io("installing the SIGCHLD handler", e))?;
        Ok(Reaper {
            sigchld,
            init: rustix::process::getpid().is_init(),
        })
    }

    /// Waits until `pid` has exited. Cancel-safe: a status is only
    /// collected inside a poll that then returns it.
    async fn wait_for(&mut self, pid: Pid) -> Result<WaitStatus, CliError> {
        loop {
            if let Some(status) = self.collect(pid)? {
                return Ok(status);
            }
            // SIGCHLD, or a periodic look in case signals were merged.
            tokio::select! {
                _ = self.sigchld.recv() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    fn collect(&mut self, main: Pid) -> Result<Option<WaitStatus>, CliError> {
        let failed = |e: rustix::io::Errno| CliError::io("waiting for the child", e.into());
        if !self.init {
            return Ok(rustix::process::waitpid(Some(main), WaitOptions::NOHANG)
                .map_err(failed)?
                .map(|(_, status)| status));
        }
        let mut found = None;
        loop {
            match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some((pid, status))) if pid == main => found = Some(status),
                Ok(Some(_orphan)) => {}
                Ok(None) | Err(rustix::io::Errno::CHILD) => break,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(failed(e)),
            }
        }
        Ok(found)
    }
}

/// The exit code for a child's status: its code, or 128+N when signal N
/// ended it.
pub fn exit_code(status: WaitStatus) -> u8 {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(sig)) => u8::try_from((128 + sig) & 0xff).unwrap_or(1),
        (None, None) => 1,
    }
}
