//! Values that belong to one process: what the transports' HTTP clients
//! are kept in, so that a process forked from the one that built a client
//! never uses it.
//!
//! `fork` copies a process's memory but only the thread that called it:
//! a pooled keep-alive connection of the parent shows up in the child as
//! the same socket, shared by two processes that each think they own it
//! (answers land in the wrong process), and a runtime's worker threads do
//! not exist in the child at all. Python's `multiprocessing` (start method
//! `fork`), gunicorn's `--preload` and Celery's prefork pool all fork a
//! process that has used its clients.
//!
//! [`PerProcess`] holds a value with the id of the process that built it
//! and a way to build another; read in any other process, it builds (once
//! per process) and hands out that process's own value. The original is
//! never used nor dropped there, so nothing is written to the parent's
//! connections from the child.

use core::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::Error;

/// The id of the calling process (`getpid`).
///
/// ```
/// assert_eq!(agentwrit_core::process::id(), std::process::id());
/// ```
#[must_use]
pub fn id() -> u32 {
    std::process::id()
}

type Build<T> = dyn Fn() -> Result<T, Error> + Send + Sync;

/// A value of one process, rebuilt in any other (a forked child).
///
/// Clones share the rebuilt value, so a child builds once per
/// `PerProcess` family, not once per clone.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use agentwrit_core::process::PerProcess;
///
/// let builds = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&builds);
/// let client = PerProcess::new(String::from("pool of this process"), move || {
///     counter.fetch_add(1, Ordering::SeqCst);
///     Ok(String::from("pool of a child"))
/// });
/// // In the process that built it, the value itself; nothing is rebuilt.
/// assert_eq!(*client.get()?, "pool of this process");
/// assert_eq!(builds.load(Ordering::SeqCst), 0);
/// # Ok::<(), agentwrit_core::Error>(())
/// ```
pub struct PerProcess<T> {
    pid: u32,
    value: T,
    rebuild: Option<Arc<Rebuild<T>>>,
}

struct Rebuild<T> {
    build: Box<Build<T>>,
    /// The value of the process (other than `pid`) that last needed one.
    forked: Mutex<Option<(u32, T)>>,
}

impl<T: Clone> Clone for PerProcess<T> {
    fn clone(&self) -> Self {
        PerProcess {
            pid: self.pid,
            value: self.value.clone(),
            rebuild: self.rebuild.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for PerProcess<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerProcess")
            .field("pid", &self.pid)
            .field("value", &self.value)
            .field("rebuilt_after_fork", &self.rebuild.is_some())
            .finish()
    }
}

impl<T: Clone> PerProcess<T> {
    /// `value`, built by this process; `build` makes another in a forked
    /// child.
    pub fn new(value: T, build: impl Fn() -> Result<T, Error> + Send + Sync + 'static) -> Self {
        PerProcess {
            pid: id(),
            value,
            rebuild: Some(Arc::new(Rebuild {
                build: Box::new(build),
                forked: Mutex::new(None),
            })),
        }
    }

    /// `value`, used as it is in every process: for what the SDK cannot
    /// rebuild (an HTTP client the user handed in; its fork safety is the
    /// user's).
    pub fn fixed(value: T) -> Self {
        PerProcess {
            pid: id(),
            value,
            rebuild: None,
        }
    }

    /// This process's value: the original in the process that built it,
    /// otherwise the one built for this process (on first use).
    ///
    /// # Errors
    ///
    /// The rebuild's error, in a forked child whose value could not be
    /// built.
    pub fn get(&self) -> Result<std::borrow::Cow<'_, T>, Error> {
        let Some(rebuild) = &self.rebuild else {
            return Ok(std::borrow::Cow::Borrowed(&self.value));
        };
        let pid = id();
        if pid == self.pid {
            return Ok(std::borrow::Cow::Borrowed(&self.value));
        }
        let mut forked = rebuild
            .forked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &*forked {
            Some((owner, value)) if *owner == pid => Ok(std::borrow::Cow::Owned(value.clone())),
            _ => {
                let value = (rebuild.build)()?;
                // The previous process's value (a grandparent's child) is
                // forgotten, not dropped: dropping it here could write to a
                // connection that process still uses.
                if let Some(stale) = forked.replace((pid, value.clone())) {
                    std::mem::forget(stale);
                }
                Ok(std::borrow::Cow::Owned(value))
            }
        }
    }

    /// Whether this process built the value (false in a forked child).
    #[must_use]
    pub fn is_original_process(&self) -> bool {
        self.pid == id()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// As read in a process other than the builder's.
    fn as_if_forked<T: Clone>(mut p: PerProcess<T>) -> PerProcess<T> {
        p.pid = p.pid.wrapping_add(1);
        p
    }

    #[test]
    fn a_child_builds_once_and_every_clone_shares_it() {
        let builds = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&builds);
        let original = PerProcess::new(0_usize, move || {
            Ok(counter.fetch_add(1, Ordering::SeqCst) + 100)
        });
        assert_eq!(*original.get().unwrap(), 0);
        let child = as_if_forked(original.clone());
        assert!(!child.is_original_process());
        assert_eq!(*child.get().unwrap(), 100);
        assert_eq!(*child.clone().get().unwrap(), 100);
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        // The original, read in its own process, is untouched.
        assert_eq!(*original.get().unwrap(), 0);
    }

    #[test]
    fn a_fixed_value_is_never_rebuilt() {
        let child = as_if_forked(PerProcess::fixed(7));
        assert_eq!(*child.get().unwrap(), 7);
    }

    #[test]
    fn a_failed_rebuild_is_an_error_and_is_tried_again() {
        let tries = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&tries);
        let child = as_if_forked(PerProcess::new(1, move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Err(Error::invalid_state("no client"))
        }));
        assert!(child.get().is_err());
        assert!(child.get().is_err());
        assert_eq!(tries.load(Ordering::SeqCst), 2);
    }
}
