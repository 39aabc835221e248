//! A bounded cache of broker verdicts, keyed by the SHA-256 of the token,
//! with single-flight misses.
//!
//! Each entry is fresh for at most `max_staleness` after the broker gave it
//! and never past the token's `exp`. Concurrent misses on one token share
//! one in-flight check (a `tokio::sync::OnceCell` per key): if the request
//! running the check is cancelled, a waiting one runs it instead. Broker
//! failures are shared with the waiters of that flight but never cached.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::check::Verdict;

/// The cache key: SHA-256 of the token (the token itself is never kept).
pub(crate) type Key = [u8; 32];

pub(crate) fn key_of(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

struct Entry {
    verdict: Verdict,
    fresh_until: SystemTime,
}

type Flight = Arc<OnceCell<Verdict>>;

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// Insertion order, for eviction; may hold keys already removed.
    order: VecDeque<Key>,
    inflight: HashMap<Key, Flight>,
}

pub(crate) struct Cache {
    max_staleness: Duration,
    capacity: usize,
    state: Mutex<State>,
}

impl Cache {
    pub(crate) fn new(max_staleness: Duration, capacity: usize) -> Self {
        Cache {
            max_staleness,
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enabled(&self) -> bool {
        !self.max_staleness.is_zero() && self.capacity > 0
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// The cached verdict for `key` if still fresh at `now`, else the
    /// verdict of one shared call of `check`.
    pub(crate) async fn get_or_check<F, Fut>(
        &self,
        key: Key,
        now: impl Fn() -> SystemTime,
        check: F,
    ) -> Verdict
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Verdict>,
    {
        let flight = {
            let mut state = self.lock();
            if let MapEntry::Occupied(entry) = state.entries.entry(key) {
                if now() < entry.get().fresh_until {
                    return entry.get().verdict.clone();
                }
                entry.remove();
            }
            Arc::clone(state.inflight.entry(key).or_default())
        };
        let guard = FlightGuard {
            cache: self,
            key,
            flight: &flight,
        };
        let verdict = flight.get_or_init(check).await.clone();
        drop(guard);
        self.finish(key, &flight, &verdict, now());
        verdict
    }

    /// The first waiter back removes the flight and stores a cacheable
    /// verdict.
    fn finish(&self, key: Key, flight: &Flight, verdict: &Verdict, now: SystemTime) {
        let mut state = self.lock();
        match state.inflight.get(&key) {
            Some(current) if Arc::ptr_eq(current, flight) => {
                state.inflight.remove(&key);
            }
            _ => return,
        }
        if !self.enabled() {
            return;
        }
        let mut fresh_until = now.checked_add(self.max_staleness).unwrap_or(now);
        match verdict {
            Verdict::Valid(claims) => {
                let exp = UNIX_EPOCH
                    .checked_add(Duration::from_secs(u64::try_from(claims.exp).unwrap_or(0)))
                    .unwrap_or(UNIX_EPOCH);
                fresh_until = fresh_until.min(exp);
            }
            Verdict::Invalid(_) => {}
            Verdict::Unavailable(_) => return,
        }
        if fresh_until <= now {
            return;
        }
        let entry = Entry {
            verdict: verdict.clone(),
            fresh_until,
        };
        if state.entries.insert(key, entry).is_none() {
            state.order.push_back(key);
        }
        self.evict(&mut state);
    }

    /// Oldest first; stale entries also leave when next looked up.
    fn evict(&self, state: &mut State) {
        while state.entries.len() > self.capacity {
            let Some(oldest) = state.order.pop_front() else {
                break;
            };
            state.entries.remove(&oldest);
        }
        if state.order.len() > self.capacity.saturating_mul(2) {
            let State { entries, order, .. } = state;
            order.retain(|k| entries.contains_key(k));
        }
    }
}

/// Removes an abandoned flight (its request was cancelled before the
/// check finished and nobody else waits on it), so cancelled requests leave
/// nothing behind.
struct FlightGuard<'a> {
    cache: &'a Cache,
    key: Key,
    flight: &'a Flight,
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        if self.flight.initialized() {
            return;
        }
        let mut state = self.cache.lock();
        if let Some(current) = state.inflight.get(&self.key)
            && Arc::ptr_eq(current, self.flight)
            && Arc::strong_count(self.flight) <= 2
        {
            state.inflight.remove(&self.key);
        }
    }
}
