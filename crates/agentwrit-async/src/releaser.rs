//! The releaser: where a dropped [`AgentGuard`](crate::AgentGuard) sends
//! its releases.
//!
//! A `Drop` cannot `.await`, and the runtime it runs on may be shutting
//! down (the guard in `#[tokio::main]`'s `main` is dropped as the runtime
//! stops; a task's guard is dropped when the task is aborted), so its
//! releases cannot be left to that runtime. They go to one thread of the
//! SDK's own, started on the first drop that needs it, which runs a
//! current-thread tokio runtime and sends each job with a client whose
//! connections live on that runtime. The dropping thread waits for the
//! job's answer, bounded by the request timeout, so that `main` returning
//! cannot lose it.
//!
//! The thread belongs to the process that started it: a forked child
//! (where that thread does not exist) starts its own on its first drop,
//! and its jobs never wait in the parent's queue.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

type Job = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Why a job's result did not come back.
#[derive(Debug)]
pub(crate) enum NotDone {
    /// The releaser thread could not be started (logged once).
    NoReleaser,
    /// The job is still running after the bound.
    TimedOut,
}

/// This process's releaser (started on first use).
fn jobs() -> Option<UnboundedSender<Job>> {
    /// The releaser and the process it runs in.
    static JOBS: Mutex<Option<(u32, Option<UnboundedSender<Job>>)>> = Mutex::new(None);
    let pid = agentwrit_core::process::id();
    let mut jobs = JOBS.lock().unwrap_or_else(PoisonError::into_inner);
    match &*jobs {
        Some((owner, sender)) if *owner == pid => sender.clone(),
        _ => {
            let sender = start();
            // A parent's sender is forgotten, not dropped, in a child: its
            // thread is not here to see the channel close.
            if let Some(stale) = jobs.replace((pid, sender.clone())) {
                std::mem::forget(stale);
            }
            sender
        }
    }
}

fn start() -> Option<UnboundedSender<Job>> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::warn!(%error, "could not start the releaser's runtime");
            return None;
        }
    };
    let (sender, mut receiver) = unbounded_channel::<Job>();
    let started = std::thread::Builder::new()
        .name("agentwrit-release".into())
        .spawn(move || {
            runtime.block_on(async move {
                while let Some(job) = receiver.recv().await {
                    tokio::spawn(job);
                }
            });
        });
    match started {
        Ok(_) => Some(sender),
        Err(error) => {
            tracing::warn!(%error, "could not start the releaser thread");
            None
        }
    }
}

/// Runs `job` on the releaser and waits at most `bound` for its output.
/// Blocks the calling thread (a tokio worker included) meanwhile; the
/// releaser does not need the caller's runtime to make progress.
pub(crate) fn run<T: Send + 'static>(
    job: impl Future<Output = T> + Send + 'static,
    bound: Duration,
) -> Result<T, NotDone> {
    let jobs = jobs().ok_or(NotDone::NoReleaser)?;
    let (done, result) = mpsc::sync_channel(1);
    let job: Job = Box::pin(async move {
        let _ = done.send(job.await);
    });
    jobs.send(job).map_err(|_| NotDone::NoReleaser)?;
    result.recv_timeout(bound).map_err(|error| match error {
        mpsc::RecvTimeoutError::Timeout => NotDone::TimedOut,
        mpsc::RecvTimeoutError::Disconnected => NotDone::NoReleaser,
    })
}
