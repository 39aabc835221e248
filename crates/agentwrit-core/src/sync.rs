//! Locking the state that clones of a client or an agent share.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, also when a panic elsewhere poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays consistent at every await-free step, so a
    // panic elsewhere while holding the lock leaves nothing half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
