//! A bounded cache of verdicts (the broker's, or a local verification's),
//! keyed by a keyed hash of the token, with single-flight misses.
//!
//! Each entry is fresh for at most `max_staleness` after the verdict was
//! given and never past the token's `exp`. Concurrent misses on one token
//! share one in-flight check (a `tokio::sync::OnceCell` per key): if the
//! request running the check is cancelled, a waiting one runs it instead.
//! Broker failures are shared with the waiters of that flight but never
//! cached.
//!
//! The key is a keyed hash of the token (SipHash-1-3, 128-bit output,
//! under a secret key from the operating system); the argument that no
//! token is ever served another's verdict (collisions, an attacker who
//! controls tokens, the token never stored, timing) is in the crate
//! documentation, section "The cache", where users read it.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand_core::{OsRng, RngCore as _};
use siphasher::sip128::SipHasher13;
use tokio::sync::OnceCell;

use crate::check::Verdict;

/// The cache key of a token: its SipHash-1-3-128 under the cache's secret
/// key (see the module documentation). The token itself is never kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key(u128);

/// The hash map's hasher: the key is already a keyed pseudorandom value,
/// so its own low 64 bits choose the bucket (hashing it again with the
/// map's default SipHash would add nothing but instructions).
#[derive(Clone, Copy, Default)]
struct KeyBits;

impl BuildHasher for KeyBits {
    type Hasher = KeyBitsHasher;

    fn build_hasher(&self) -> KeyBitsHasher {
        KeyBitsHasher(0)
    }
}

#[derive(Default)]
struct KeyBitsHasher(u64);

impl Hasher for KeyBitsHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, key: u128) {
        // Truncation intended: the low half of a pseudorandom value.
        self.0 ^= key as u64;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `Key` (one `write_u128`) is ever hashed here; any other
        // input still gets a usable (if weak) hash.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

struct Entry {
    verdict: Verdict,
    fresh_until: SystemTime,
}

type Flight = Arc<OnceCell<Verdict>>;

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry, KeyBits>,
    /// Insertion order, for eviction; may hold keys already removed.
    order: VecDeque<Key>,
    inflight: HashMap<Key, Flight, KeyBits>,
}

pub(crate) struct Cache {
    /// The keyed hash, holding this cache's secret key. No `Debug`
    /// anywhere shows it.
    hasher: SipHasher13,
    max_staleness: Duration,
    capacity: usize,
    state: Mutex<State>,
}

impl Cache {
    /// A cache with a fresh secret key from the operating system.
    ///
    /// # Errors
    ///
    /// When the operating system's random number generator fails.
    pub(crate) fn new(max_staleness: Duration, capacity: usize) -> Result<Self, rand_core::Error> {
        let mut secret = [0u8; 16];
        OsRng.try_fill_bytes(&mut secret)?;
        Ok(Cache {
            hasher: SipHasher13::new_with_key(&secret),
            max_staleness,
            capacity,
            state: Mutex::new(State::default()),
        })
    }

    /// The key of `token` in this cache.
    pub(crate) fn key(&self, token: &[u8]) -> Key {
        Key(self.hasher.hash(token).as_u128())
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

    /// The cached verdict for `key` if still fresh at `now` (the fast path:
    /// one lock, one map lookup).
    pub(crate) fn fresh(&self, key: Key, now: SystemTime) -> Option<Verdict> {
        let state = self.lock();
        let entry = state.entries.get(&key)?;
        (now < entry.fresh_until).then(|| entry.verdict.clone())
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use agentwrit_wire::Claims;

    const T0: u64 = 1_795_304_437;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn valid(exp: u64) -> Verdict {
        let mut claims = Claims::default();
        claims.exp = i64::try_from(exp).unwrap();
        Verdict::Valid(Arc::new(claims))
    }

    fn waiters(cache: &Cache, key: Key) -> usize {
        cache
            .lock()
            .inflight
            .get(&key)
            .map_or(0, |f| Arc::strong_count(f) - 1)
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_check() {
        let cache = Arc::new(Cache::new(Duration::from_secs(5), 10).unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let key = cache.key(b"t");
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..64 {
            let (cache, calls, gate) = (cache.clone(), calls.clone(), gate.clone());
            tasks.spawn(async move {
                cache
                    .get_or_check(
                        key,
                        || at(T0),
                        || async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            gate.notified().await;
                            valid(T0 + 300)
                        },
                    )
                    .await
            });
        }
        // Every task waits on the one flight before the check may finish.
        while waiters(&cache, key) < 64 {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        while let Some(v) = tasks.join_next().await {
            assert!(matches!(v.unwrap(), Verdict::Valid(_)));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.len(), 1);
        assert!(cache.lock().inflight.is_empty());
    }

    #[tokio::test]
    async fn a_cancelled_check_is_taken_over_and_leaves_nothing() {
        let cache = Cache::new(Duration::from_secs(5), 10).unwrap();
        let key = cache.key(b"t");
        // Cancelled alone: the flight is removed.
        let pending = cache.get_or_check(key, || at(T0), std::future::pending::<Verdict>);
        tokio::select! {
            _ = pending => unreachable!(),
            () = tokio::task::yield_now() => {}
        }
        assert!(cache.lock().inflight.is_empty());
        // A later request checks anew.
        let v = cache
            .get_or_check(key, || at(T0), || async { valid(T0 + 300) })
            .await;
        assert!(matches!(v, Verdict::Valid(_)));
    }

    #[tokio::test]
    async fn freshness_staleness_expiry_and_failures() {
        let cache = Cache::new(Duration::from_secs(5), 10).unwrap();
        let now = std::sync::Mutex::new(T0);
        let clock = || at(*now.lock().unwrap());
        let calls = AtomicUsize::new(0);
        let check = |v: Verdict| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { v }
        };
        let k = cache.key(b"a");
        cache.get_or_check(k, clock, || check(valid(T0 + 3))).await;
        cache.get_or_check(k, clock, || check(valid(T0 + 3))).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Never past exp (3 s), although max_staleness is 5 s.
        *now.lock().unwrap() = T0 + 3;
        cache
            .get_or_check(k, clock, || check(valid(T0 + 300)))
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Then fresh for max_staleness.
        *now.lock().unwrap() = T0 + 7;
        cache
            .get_or_check(k, clock, || check(valid(T0 + 300)))
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        *now.lock().unwrap() = T0 + 8;
        cache
            .get_or_check(k, clock, || check(valid(T0 + 300)))
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // Failures are never cached.
        let f = cache.key(b"b");
        for _ in 0..2 {
            cache
                .get_or_check(f, clock, || check(Verdict::Unavailable("down".into())))
                .await;
        }
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        // Zero staleness: no cache at all.
        let off = Cache::new(Duration::ZERO, 10).unwrap();
        off.get_or_check(k, clock, || check(valid(T0 + 300))).await;
        assert_eq!(off.len(), 0);
    }

    #[test]
    fn keys_are_stable_within_a_cache_and_secret_to_it() {
        let a = Cache::new(Duration::from_secs(5), 10).unwrap();
        let b = Cache::new(Duration::from_secs(5), 10).unwrap();
        let token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln";
        assert!(a.key(token.as_bytes()) == a.key(token.as_bytes()));
        assert!(a.key(token.as_bytes()) != a.key(b"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ5In0.c2ln"));
        // Each cache draws its own secret key: the same token has another
        // key elsewhere (a 2^-128 chance of equality).
        assert!(a.key(token.as_bytes()) != b.key(token.as_bytes()));
        // Not the unkeyed SipHash either.
        let unkeyed = SipHasher13::new_with_key(&[0; 16]).hash(token.as_bytes());
        assert!(a.key(token.as_bytes()) != Key(unkeyed.as_u128()));
    }

    #[tokio::test]
    async fn the_fast_path_sees_fresh_entries_only() {
        let cache = Cache::new(Duration::from_secs(5), 10).unwrap();
        let key = cache.key(b"t");
        assert!(cache.fresh(key, at(T0)).is_none());
        cache
            .get_or_check(key, || at(T0), || async { valid(T0 + 300) })
            .await;
        assert!(matches!(
            cache.fresh(key, at(T0 + 4)),
            Some(Verdict::Valid(_))
        ));
        assert!(cache.fresh(key, at(T0 + 5)).is_none());
        assert!(cache.fresh(cache.key(b"u"), at(T0)).is_none());
    }

    #[test]
    fn the_map_hasher_uses_the_key_s_own_bits() {
        let key = Key(0x1234_5678_9abc_def0_0fed_cba9_8765_4321);
        assert_eq!(KeyBits.hash_one(key), 0x0fed_cba9_8765_4321);
    }

    #[tokio::test]
    async fn capacity_is_a_hard_cap() {
        let cache = Cache::new(Duration::from_secs(60), 16).unwrap();
        for i in 0..1000 {
            let key = cache.key(i.to_string().as_bytes());
            cache
                .get_or_check(key, || at(T0), || async { Verdict::Invalid("no".into()) })
                .await;
            assert!(cache.len() <= 16);
            assert!(cache.lock().order.len() <= 32);
        }
        assert_eq!(cache.len(), 16);
        // The newest are kept.
        let state = cache.lock();
        assert!(state.entries.contains_key(&cache.key(b"999")));
        assert!(!state.entries.contains_key(&cache.key(b"0")));
    }
}
