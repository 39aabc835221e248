//! The recorder: per-token aggregation in bounded memory, and the writer
//! thread that hands finished records to the sinks.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

use crate::record::{Decision, EndReason, Refusal, UsageRecord};
use crate::time::to_millis;
use crate::{TokenFacts, UsageError};

mod builder;
mod table;
mod writer;

pub use builder::RecorderBuilder;
use table::unverified_jti;
use writer::writer_loop;

/// Default for [`RecorderBuilder::capacity`]: tokens tracked at once.
pub const DEFAULT_CAPACITY: usize = 100_000;
/// Default for [`RecorderBuilder::max_scopes_per_token`].
pub const DEFAULT_MAX_SCOPES_PER_TOKEN: usize = 64;
/// Default for [`RecorderBuilder::grace`]: how long a token stays tracked
/// after its `exp`, so refusals of it as expired are still attributed.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);
/// Default for [`RecorderBuilder::sweep_interval`].
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(10);
/// Default for [`RecorderBuilder::queue_capacity`]: records waiting for
/// the writer thread.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;

/// Shards of the token table (each its own lock).
const SHARDS: usize = 16;

type ClockFn = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Records, per token, which scopes a service's requests required and what
/// was decided; hands one [`UsageRecord`] per token to its sinks when the
/// token expires, at [`Recorder::flush`] and at shutdown.
///
/// Cheap to clone (one `Arc`); every clone records into the same tables.
/// Memory is bounded: at most [`RecorderBuilder::capacity`] tokens (when
/// full, the token expiring soonest is written out early), at most
/// [`RecorderBuilder::max_scopes_per_token`] (scope, decision) pairs per
/// token (further checks are counted in `checks_dropped`), and a bounded
/// queue to the writer (a record that does not fit is dropped and
/// counted). The token itself is never kept: only its claims and a SHA-256
/// fingerprint, used to attribute a later refusal of the very same token.
///
/// The calls a verifier makes (any language, through a binding):
///
/// 1. [`Recorder::request`] for every request whose token it accepted;
/// 2. [`Recorder::check`] for every scope decision on that request;
/// 3. [`Recorder::refused`] for a request whose token it refused;
/// 4. [`Recorder::flush`] / [`Recorder::shutdown`] when it wants the
///    records now.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use agentwrit_usage::{MemorySink, Recorder, TokenFacts};
///
/// let sink = MemorySink::new();
/// let recorder = Recorder::builder().service_name("orders-api").sink(sink.clone()).build()?;
///
/// let now = SystemTime::now();
/// let facts = TokenFacts::new("jti-1", "spiffe://agentwrit.local/agent/o/t/1", now, now + Duration::from_secs(300))
///     .with_granted(["read:data:*", "write:data:order-1"]);
/// recorder.request("header.payload.signature", "jti-1", || facts.clone());
/// recorder.check("jti-1", &["read:data:customer-7"], true);
/// recorder.request("header.payload.signature", "jti-1", || facts.clone());
/// recorder.check("jti-1", &["delete:data:customer-7"], false);
///
/// recorder.flush()?;
/// let records = sink.records();
/// assert_eq!(records.len(), 1);
/// assert_eq!(records[0].requests, 2);
/// assert_eq!(records[0].scopes.len(), 2); // one allowed, one denied
/// # Ok::<(), agentwrit_usage::UsageError>(())
/// ```
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

/// The part whose drop shuts the writer down (the writer thread holds
/// only the [`Core`]).
struct Inner {
    core: Arc<Core>,
    writer: Mutex<Option<Writer>>,
}

struct Writer {
    tx: SyncSender<Msg>,
    thread: JoinHandle<()>,
}

enum Msg {
    Records(Vec<UsageRecord>),
    Flush(SyncSender<Result<(), UsageError>>),
    Shutdown(SyncSender<Result<(), UsageError>>),
}

struct Core {
    service: String,
    instance: String,
    shard_capacity: usize,
    max_scopes: usize,
    grace_ms: i64,
    sweep_ms: i64,
    clock: ClockFn,
    shards: Vec<Mutex<Shard>>,
    counters: AtomicCounters,
    /// Set by shutdown: nothing more is recorded.
    closed: AtomicBool,
    /// The sender to the writer, for records the request path emits
    /// (never blocks: a full queue drops and counts).
    queue: Mutex<Option<SyncSender<Msg>>>,
    #[cfg(feature = "metrics")]
    metrics: crate::metrics::Handles,
}

#[derive(Default)]
struct Shard {
    slots: HashMap<Box<str>, Slot>,
    next_sweep_ms: i64,
}

struct Slot {
    facts: TokenFacts,
    fingerprint: [u8; 32],
    expires_ms: i64,
    seq: u32,
    requests: u64,
    first_ms: Option<i64>,
    last_ms: i64,
    scopes: Vec<ScopeEntry>,
    refused: Vec<RefusedEntry>,
    checks_dropped: u64,
}

struct ScopeEntry {
    scope: Box<str>,
    decision: Decision,
    count: u64,
    first_ms: i64,
    last_ms: i64,
}

struct RefusedEntry {
    reason: Refusal,
    count: u64,
    first_ms: i64,
    last_ms: i64,
}

#[derive(Default)]
struct AtomicCounters {
    requests_allowed: AtomicU64,
    refused_expired: AtomicU64,
    refused_revoked: AtomicU64,
    refused_unknown: AtomicU64,
    missing_token: AtomicU64,
    verifier_unavailable: AtomicU64,
    checks_allowed: AtomicU64,
    checks_denied: AtomicU64,
    checks_dropped: AtomicU64,
    tokens_evicted: AtomicU64,
    records_emitted: AtomicU64,
    records_written: AtomicU64,
    records_dropped: AtomicU64,
    sink_errors: AtomicU64,
}

/// A snapshot of the recorder's counters (process totals since it was
/// built; no per-token detail).
///
/// ```
/// let recorder = agentwrit_usage::Recorder::builder().build()?;
/// recorder.missing_token();
/// assert_eq!(recorder.counters().missing_token, 1);
/// # Ok::<(), agentwrit_usage::UsageError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Requests whose token was accepted.
    pub requests_allowed: u64,
    /// Requests refused: a tracked token past its `exp`.
    pub refused_expired: u64,
    /// Requests refused: a tracked token before its `exp` (revoked or
    /// released).
    pub refused_revoked: u64,
    /// Requests refused with a token this recorder had never seen valid
    /// (forged, garbage, or expired/revoked before its first use here).
    pub refused_unknown: u64,
    /// Requests without a bearer token.
    pub missing_token: u64,
    /// Requests the verifier could not decide (broker unreachable).
    pub verifier_unavailable: u64,
    /// Scope checks allowed (one per required scope).
    pub checks_allowed: u64,
    /// Scope checks denied (one per missing scope).
    pub checks_denied: u64,
    /// Scope checks not itemised (a token's pair limit reached).
    pub checks_dropped: u64,
    /// Tokens written out early because the recorder was full.
    pub tokens_evicted: u64,
    /// Tokens tracked now.
    pub tokens_tracked: u64,
    /// Records produced.
    pub records_emitted: u64,
    /// Records every sink accepted.
    pub records_written: u64,
    /// Records lost: the writer's queue was full, or a sink failed.
    pub records_dropped: u64,
    /// Sink failures (each also logged in the error of the next flush).
    pub sink_errors: u64,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = &self.inner.core;
        f.debug_struct("Recorder")
            .field("service", &core.service)
            .field("instance", &core.instance)
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A builder with the defaults: no sinks, the system clock, service
    /// name from the program's file name.
    pub fn builder() -> RecorderBuilder {
        RecorderBuilder::new()
    }

    fn now_ms(&self) -> i64 {
        to_millis((self.inner.core.clock)())
    }

    /// One request whose token the verifier accepted: starts tracking the
    /// token (with the facts `facts` builds, called only the first time
    /// `jti` is seen) and counts the request. `token` is used only to
    /// compute a fingerprint the first time; it is never kept.
    pub fn request(&self, token: &str, jti: &str, facts: impl FnOnce() -> TokenFacts) {
        let core = &self.inner.core;
        if core.closed.load(Ordering::Relaxed) {
            return;
        }
        let now = self.now_ms();
        core.counters
            .requests_allowed
            .fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        core.metrics.requests_allowed.increment(1);
        let mut shard = core.lock(jti);
        // Shutdown sets `closed` before it drains the shards under their
        // locks: seen here, nothing inserted now would be written.
        if core.closed.load(Ordering::Acquire) {
            return;
        }
        if let Some(slot) = shard.slots.get_mut(jti) {
            slot.count_request(now);
            return;
        }
        let mut emitted = core.sweep_if_due(&mut shard, now);
        if shard.slots.len() >= core.shard_capacity {
            emitted.extend(core.make_room(&mut shard, now));
        }
        let facts = facts();
        let mut slot = Slot {
            expires_ms: to_millis(facts.expires_at),
            facts,
            fingerprint: Sha256::digest(token.as_bytes()).into(),
            seq: 0,
            requests: 0,
            first_ms: None,
            last_ms: now,
            scopes: Vec::new(),
            refused: Vec::new(),
            checks_dropped: 0,
        };
        slot.count_request(now);
        shard.slots.insert(jti.into(), slot);
        drop(shard);
        core.emit(emitted);
    }

    /// One scope decision for a request with token `jti`: `allowed` when
    /// the token granted every scope in `required`. An allowed check
    /// counts each required scope as used; a denied one records the
    /// scopes the token lacked (by the broker's subset rule against the
    /// token's grant) as denied.
    pub fn check<S: AsRef<str>>(&self, jti: &str, required: &[S], allowed: bool) {
        let core = &self.inner.core;
        if required.is_empty() || core.closed.load(Ordering::Relaxed) {
            return;
        }
        let now = self.now_ms();
        let mut shard = core.lock(jti);
        let Some(slot) = shard.slots.get_mut(jti) else {
            drop(shard);
            core.count_checks(allowed, required.len() as u64);
            return;
        };
        let (mut counted, mut dropped) = (0u64, 0u64);
        for scope in required {
            let scope = scope.as_ref();
            let decision = if allowed {
                Decision::Allowed
            } else if agentwrit_scope::scope_is_subset(&[scope], &slot.facts.granted) {
                // Granted: not what denied the request.
                continue;
            } else {
                Decision::Denied
            };
            counted += 1;
            if !slot.add_scope(scope, decision, now, core.max_scopes) {
                dropped += 1;
            }
        }
        drop(shard);
        core.count_checks(allowed, counted);
        if dropped > 0 {
            core.counters
                .checks_dropped
                .fetch_add(dropped, Ordering::Relaxed);
        }
    }

    /// A request whose token the verifier refused. When this recorder
    /// had accepted this very token before (same bytes), the refusal is
    /// recorded on it: as `expired` past its `exp`, else as `revoked`
    /// (revoked or released). Other tokens are only counted.
    pub fn refused(&self, token: &str) {
        let core = &self.inner.core;
        if core.closed.load(Ordering::Relaxed) {
            return;
        }
        let now = self.now_ms();
        if let Some(jti) = unverified_jti(token) {
            let mut shard = core.lock(&jti);
            if let Some(slot) = shard.slots.get_mut(jti.as_str()) {
                let fingerprint: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                if fingerprint == slot.fingerprint {
                    let reason = if now >= slot.expires_ms {
                        Refusal::Expired
                    } else {
                        Refusal::Revoked
                    };
                    slot.add_refusal(reason, now);
                    drop(shard);
                    let counter = match reason {
                        Refusal::Expired => &core.counters.refused_expired,
                        _ => &core.counters.refused_revoked,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    #[cfg(feature = "metrics")]
                    core.metrics.refused(reason);
                    return;
                }
            }
        }
        core.counters
            .refused_unknown
            .fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        core.metrics.refused_unknown.increment(1);
    }

    /// A request that carried no bearer token (counted only).
    pub fn missing_token(&self) {
        let core = &self.inner.core;
        core.counters.missing_token.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        core.metrics.missing_token.increment(1);
    }

    /// A request the verifier could not decide, e.g. the broker was
    /// unreachable (counted only).
    pub fn verifier_unavailable(&self) {
        let core = &self.inner.core;
        core.counters
            .verifier_unavailable
            .fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        core.metrics.unavailable.increment(1);
    }

    /// The counters now.
    #[must_use]
    pub fn counters(&self) -> Counters {
        let c = &self.inner.core.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counters {
            requests_allowed: get(&c.requests_allowed),
            refused_expired: get(&c.refused_expired),
            refused_revoked: get(&c.refused_revoked),
            refused_unknown: get(&c.refused_unknown),
            missing_token: get(&c.missing_token),
            verifier_unavailable: get(&c.verifier_unavailable),
            checks_allowed: get(&c.checks_allowed),
            checks_denied: get(&c.checks_denied),
            checks_dropped: get(&c.checks_dropped),
            tokens_evicted: get(&c.tokens_evicted),
            tokens_tracked: self.tracked_tokens() as u64,
            records_emitted: get(&c.records_emitted),
            records_written: get(&c.records_written),
            records_dropped: get(&c.records_dropped),
            sink_errors: get(&c.sink_errors),
        }
    }

    /// How many tokens are tracked now.
    #[must_use]
    pub fn tracked_tokens(&self) -> usize {
        self.inner
            .core
            .shards
            .iter()
            .map(|s| lock(s).slots.len())
            .sum()
    }

    /// The service name records carry.
    #[must_use]
    pub fn service_name(&self) -> &str {
        &self.inner.core.service
    }

    /// Writes a record for every token with activity since its previous
    /// record (reason `flush`; the tokens stay tracked), and one for every
    /// token past its `exp` plus the grace (reason `expired`; those leave
    /// memory), then waits until every sink has written and flushed them.
    /// Blocks the calling thread for that long.
    ///
    /// # Errors
    ///
    /// A sink failed (since the previous flush), or the recorder was shut
    /// down.
    pub fn flush(&self) -> Result<(), UsageError> {
        let core = &self.inner.core;
        let now = self.now_ms();
        let mut records = Vec::new();
        for shard in &core.shards {
            let mut shard = lock(shard);
            records.extend(core.sweep(&mut shard, now));
            for slot in shard.slots.values_mut() {
                if slot.has_activity() {
                    records.push(core.take_record(slot, EndReason::Flush));
                }
            }
        }
        self.deliver(records, Msg::Flush)
    }

    /// Writes every tracked token's pending activity (reason `shutdown`),
    /// flushes and closes the sinks and stops the writer thread. Later
    /// calls record nothing more. Dropping the last clone of the recorder
    /// does the same.
    ///
    /// # Errors
    ///
    /// A sink failed, or the recorder was already shut down.
    pub fn shutdown(&self) -> Result<(), UsageError> {
        self.inner.shutdown()
    }

    fn deliver(
        &self,
        records: Vec<UsageRecord>,
        msg: fn(SyncSender<Result<(), UsageError>>) -> Msg,
    ) -> Result<(), UsageError> {
        let core = &self.inner.core;
        let tx = lock(&self.inner.writer).as_ref().map(|w| w.tx.clone());
        let Some(tx) = tx else {
            core.counters
                .records_emitted
                .fetch_add(records.len() as u64, Ordering::Relaxed);
            return if core.closed.load(Ordering::Relaxed) {
                Err(UsageError::Closed)
            } else {
                Ok(())
            };
        };
        core.counters
            .records_emitted
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        if !records.is_empty() {
            tx.send(Msg::Records(records))
                .map_err(|_| UsageError::Closed)?;
        }
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        tx.send(msg(reply_tx)).map_err(|_| UsageError::Closed)?;
        reply_rx.recv().map_err(|_| UsageError::Closed)?
    }
}

impl Inner {
    fn shutdown(&self) -> Result<(), UsageError> {
        let core = &self.core;
        if core.closed.swap(true, Ordering::SeqCst) {
            return Err(UsageError::Closed);
        }
        let writer = lock(&self.writer).take();
        *lock(&core.queue) = None;
        let mut records = Vec::new();
        for shard in &core.shards {
            let mut shard = lock(shard);
            for (_, mut slot) in shard.slots.drain() {
                if slot.has_activity() {
                    records.push(core.take_record(&mut slot, EndReason::Shutdown));
                }
            }
        }
        core.counters
            .records_emitted
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let Some(writer) = writer else {
            return Ok(());
        };
        let result = (|| {
            if !records.is_empty() {
                writer
                    .tx
                    .send(Msg::Records(records))
                    .map_err(|_| UsageError::Closed)?;
            }
            let (reply_tx, reply_rx) = mpsc::sync_channel(1);
            writer
                .tx
                .send(Msg::Shutdown(reply_tx))
                .map_err(|_| UsageError::Closed)?;
            reply_rx.recv().map_err(|_| UsageError::Closed)?
        })();
        drop(writer.tx);
        if writer.thread.join().is_err() {
            return Err(UsageError::Thread(
                "the usage writer thread panicked".into(),
            ));
        }
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
