//! The releaser: where work that must outlive its caller runs, and how a
//! caller hands it over.
//!
//! Two kinds of work may not depend on the caller's future or runtime: a
//! dropped [`AgentGuard`](crate::AgentGuard)'s releases (a `Drop` cannot
//! `.await`, and the runtime it runs on may be shutting down), and the
//! end of an agent creation whose registration may have reached the
//! broker (its caller may be cancelled, aborted or shut down with its
//! runtime). Both run on one thread of the SDK's own, started on first
//! use, which runs a current-thread tokio runtime and sends with a client
//! whose connections live on that runtime ([`submit`]).
//!
//! Handing work over must neither block a worker of a live runtime nor
//! let the process exit under it. [`hold`] tells the cases apart:
//!
//! 1. **On the releaser's own thread** (work handing over more work):
//!    nothing to hold; the releaser runs it.
//! 2. **Inside a task of a runtime** (`tokio::task::try_id()` is `Some`:
//!    a worker thread, or the thread of a current-thread runtime), or on
//!    the thread that drives a **current-thread** runtime (its `block_on`):
//!    a small waiter task is spawned on that runtime and the caller returns
//!    at once. The waiter sleeps until the work is done. If the runtime
//!    shuts down first — `#[tokio::main]` returning, a runtime dropped —
//!    tokio drops the waiter, and the waiter's `Drop` blocks, bounded, until
//!    the work is done: the shutdown (and so the end of `main`) waits for
//!    it. A runtime already shutting down drops a newly spawned task at
//!    once, so the waiter then waits right there: no probe is needed. This
//!    thread may be the one that must serve the broker (a current-thread
//!    runtime with the broker or a proxy on it): returning is what lets it.
//! 3. **Outside any task on a multi-thread runtime's context** (its
//!    `block_on` on the caller's thread, which is not a worker), or **with
//!    no runtime at all**: this thread waits, bounded. It is not a worker,
//!    and the program may end right after (a `main` that returns when its
//!    runtime's `block_on` does, or that has no runtime).
//!
//! A runtime that is never dropped (one in a `static`) does not hold the
//! process in case 2: end such tasks before exiting.
//!
//! The thread belongs to the process that started it: a forked child
//! (where that thread does not exist) starts its own on first use.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::Notify;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

type Job = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

thread_local! {
    /// Set on the releaser's thread.
    static ON_RELEASER: Cell<bool> = const { Cell::new(false) };
}

/// This process's releaser (started on first use; a forked child, where
/// the parent's releaser thread does not exist, starts its own, and its
/// work never waits in the parent's queue).
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
            ON_RELEASER.with(|on| on.set(true));
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

/// Work handed to the releaser; tells whoever waits when it has ended.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ticket(Arc<Ended>);

#[derive(Debug, Default)]
struct Ended {
    ended: Mutex<bool>,
    condvar: Condvar,
    notify: Notify,
}

impl Ticket {
    fn end(&self) {
        *self.0.ended.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.0.condvar.notify_all();
        self.0.notify.notify_waiters();
    }

    /// Whether the work has ended.
    pub(crate) fn has_ended(&self) -> bool {
        *self.0.ended.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks this thread until the work has ended, at most `bound`:
    /// `true` when it has.
    pub(crate) fn wait(&self, bound: Duration) -> bool {
        let deadline = Instant::now().checked_add(bound);
        let mut ended = self.0.ended.lock().unwrap_or_else(PoisonError::into_inner);
        while !*ended {
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => bound,
            };
            if left.is_zero() {
                return false;
            }
            ended = self
                .0
                .condvar
                .wait_timeout(ended, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Resolves once the work has ended.
    pub(crate) async fn ended(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.has_ended() {
                return;
            }
            notified.await;
        }
    }
}

/// Ends its ticket when dropped: a job holds it until its last step, so
/// that its ticket ends however the job does (finished, or dropped
/// unfinished with the releaser's runtime).
pub(crate) struct TicketEnd(Ticket);

impl Drop for TicketEnd {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// Runs the job `make` builds on the releaser; the ticket tells when it
/// has ended (the job holds what ends it, however the job ends). `None`
/// when the releaser thread cannot run (logged when it failed to start).
pub(crate) fn submit<J>(make: impl FnOnce(TicketEnd) -> J) -> Option<Ticket>
where
    J: Future<Output = ()> + Send + 'static,
{
    let ticket = Ticket::default();
    // Boxed once, where it is built: a creation's job is a large future.
    let job: Job = Box::pin(make(TicketEnd(ticket.clone())));
    if ON_RELEASER.with(Cell::get) {
        // Work handing over more work: the releaser's runtime is current.
        tokio::spawn(job);
        return Some(ticket);
    }
    jobs()?.send(job).ok()?;
    Some(ticket)
}

/// Waits for a ticket when dropped unless it has ended: what a runtime
/// shutting down does to the waiter task that holds it (see the module
/// docs, case 2).
struct WaitOnDrop {
    ticket: Ticket,
    bound: Duration,
    on_timeout: Option<Box<dyn FnOnce() + Send>>,
}

impl Drop for WaitOnDrop {
    fn drop(&mut self) {
        if !self.ticket.has_ended()
            && !self.ticket.wait(self.bound)
            && let Some(report) = self.on_timeout.take()
        {
            report();
        }
    }
}

/// Makes sure the process does not end before `ticket`'s work, waiting
/// at most `bound`, without blocking a worker of a live runtime (the
/// cases are in the module docs). `on_timeout` reports a wait that ran
/// out.
pub(crate) fn hold(ticket: Ticket, bound: Duration, on_timeout: impl FnOnce() + Send + 'static) {
    if ticket.has_ended() || ON_RELEASER.with(Cell::get) {
        return;
    }
    let waiter = WaitOnDrop {
        ticket,
        bound,
        on_timeout: Some(Box::new(on_timeout)),
    };
    match Handle::try_current() {
        Ok(runtime)
            if tokio::task::try_id().is_some()
                || runtime.runtime_flavor() == RuntimeFlavor::CurrentThread =>
        {
            // Dropped at once by a runtime that is shutting down, or by
            // one that shuts down before the work ends: then it waits.
            runtime.spawn(async move {
                waiter.ticket.ended().await;
                drop(waiter);
            });
        }
        _ => drop(waiter),
    }
}
