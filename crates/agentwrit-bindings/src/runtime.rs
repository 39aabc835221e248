//! The bindings' own tokio runtime, one per process.
//!
//! Every async call of every language runs here (a Node module's promise,
//! an asyncio awaitable), whatever runtime or event loop the caller has:
//! connections, renewal tasks and detached work live on it. After `fork`
//! the child has none of its parent's runtime threads, so a child builds
//! a runtime of its own on first use; the parent's is leaked, never
//! dropped (dropping it would wait for threads that do not exist in the
//! child).

use std::cell::Cell;
use std::future::Future;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

use crate::error::{BindingError, ErrorKind, Result};

/// This process's runtime and the process it belongs to.
static CURRENT: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

thread_local! {
    /// The runtime this thread last used, and for which process: the fast
    /// path takes no lock.
    static LOCAL: Cell<Option<(u32, &'static Runtime)>> = const { Cell::new(None) };
}

/// The id of the calling process.
#[must_use]
pub fn process_id() -> u32 {
    agentwrit_blocking::sansio::process::id()
}

/// This process's runtime, built on first use (again in a forked child).
///
/// # Errors
///
/// The runtime could not be built (the system refused threads).
pub fn runtime() -> Result<&'static Runtime> {
    let pid = process_id();
    if let Some((owner, runtime)) = LOCAL.with(Cell::get)
        && owner == pid
    {
        return Ok(runtime);
    }
    let mut current = CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
    let runtime = match *current {
        Some((owner, runtime)) if owner == pid => runtime,
        _ => {
            let built = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("agentwrit-bindings")
                .build()
                .map_err(|e| {
                    BindingError::plain(
                        ErrorKind::Other,
                        format!("could not start the bindings' runtime: {e}"),
                    )
                })?;
            // Leaked on purpose: a runtime lives as long as its process,
            // and the parent's (in a child) must never be dropped.
            let runtime: &'static Runtime = Box::leak(Box::new(built));
            *current = Some((pid, runtime));
            runtime
        }
    };
    LOCAL.with(|l| l.set(Some((pid, runtime))));
    Ok(runtime)
}

/// Started work still running in this process: how many, and which
/// process counted them (a child starts from zero; its parent's work does
/// not run there).
static IN_FLIGHT: Mutex<(u32, usize)> = Mutex::new((0, 0));
static SETTLED: Condvar = Condvar::new();

/// Counts one piece of started work while it lives.
pub(crate) struct InFlight {
    pid: u32,
}

impl InFlight {
    pub(crate) fn new() -> InFlight {
        let pid = process_id();
        let mut count = IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner);
        if count.0 != pid {
            *count = (pid, 0);
        }
        count.1 += 1;
        InFlight { pid }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut count = IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner);
        if count.0 == self.pid {
            count.1 = count.1.saturating_sub(1);
            if count.1 == 0 {
                SETTLED.notify_all();
            }
        }
    }
}

/// How many started calls (and releases of abandoned agents) are still
/// running in this process.
#[must_use]
pub fn in_flight() -> usize {
    let count = IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner);
    if count.0 == process_id() { count.1 } else { 0 }
}

/// Waits, at most `limit`, until no started work is running in this
/// process: what a language calls before its interpreter exits, so that a
/// release that outlived its caller (a cancelled task's, an abandoned
/// agent's) is not cut off. `true` if everything finished.
pub fn drain(limit: Duration) -> bool {
    let end = Instant::now().checked_add(limit);
    let pid = process_id();
    let mut count = IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if count.0 != pid || count.1 == 0 {
            return true;
        }
        let left = match end {
            Some(end) => end.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(3600),
        };
        if left.is_zero() {
            return false;
        }
        count = SETTLED
            .wait_timeout(count, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// Spawns `future` on this process's runtime; it runs to its end whether
/// or not anyone awaits the handle.
///
/// # Errors
///
/// As [`runtime`].
pub fn spawn<F>(future: F) -> Result<JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let counted = InFlight::new();
    Ok(runtime()?.spawn(async move {
        let output = future.await;
        drop(counted);
        output
    }))
}

/// Runs `f` on the runtime's blocking pool.
pub(crate) fn unblock<T, F>(f: F) -> Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let counted = InFlight::new();
    Ok(runtime()?.spawn_blocking(move || {
        let output = f();
        drop(counted);
        output
    }))
}

/// Drives `future` to its end on the runtime, blocking the calling thread
/// (a language's synchronous call, with its interpreter lock released).
///
/// # Errors
///
/// As [`runtime`]; and when called on a thread that is itself running
/// async code of a tokio runtime (which must not block).
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    if Handle::try_current().is_ok() {
        return Err(BindingError::plain(
            ErrorKind::Other,
            "a blocking call was made from async code running on a tokio runtime; \
             use the async API there"
                .to_owned(),
        ));
    }
    Ok(runtime()?.block_on(future))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runtime_per_process_for_every_thread() {
        let here = runtime().unwrap() as *const Runtime as usize;
        let there = std::thread::spawn(|| runtime().unwrap() as *const Runtime as usize)
            .join()
            .unwrap();
        assert_eq!(here, there);
    }

    #[test]
    fn block_on_refuses_inside_the_runtime() {
        let inner = block_on(async { block_on(async { 1 }).is_err() }).unwrap();
        assert!(inner);
        assert_eq!(block_on(async { 2 }).unwrap(), 2);
    }
}
