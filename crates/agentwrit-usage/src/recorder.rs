//! The recorder: per-token aggregation in bounded memory, and the writer
//! thread that hands finished records to the sinks.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

use crate::record::{Decision, EndReason, Refusal, Refused, SCHEMA, ScopeUse, UsageRecord};
use crate::time::{from_millis, to_millis};
use crate::{Sink, TokenFacts, UsageError};

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

impl Core {
    fn lock(&self, jti: &str) -> MutexGuard<'_, Shard> {
        // FNV-1a: cheap, and only spreads the lock over the shards.
        let mut h: u32 = 0x811c_9dc5;
        for &b in jti.as_bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        lock(&self.shards[h as usize % SHARDS])
    }

    fn count_checks(&self, allowed: bool, n: u64) {
        let counter = if allowed {
            &self.counters.checks_allowed
        } else {
            &self.counters.checks_denied
        };
        counter.fetch_add(n, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.metrics.checks(allowed, n);
    }

    /// Sweeps the shard when its sweep is due.
    fn sweep_if_due(&self, shard: &mut Shard, now: i64) -> Vec<UsageRecord> {
        if now < shard.next_sweep_ms {
            return Vec::new();
        }
        shard.next_sweep_ms = now.saturating_add(self.sweep_ms);
        self.sweep(shard, now)
    }

    /// Removes the tokens past `exp` + grace; their records (those with
    /// activity since their last one).
    fn sweep(&self, shard: &mut Shard, now: i64) -> Vec<UsageRecord> {
        let grace = self.grace_ms;
        let done: Vec<Box<str>> = shard
            .slots
            .iter()
            .filter(|(_, s)| now >= s.expires_ms.saturating_add(grace))
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for key in done {
            if let Some(mut slot) = shard.slots.remove(&key)
                && slot.has_activity()
            {
                out.push(self.take_record(&mut slot, EndReason::Expired));
            }
        }
        out
    }

    /// A full shard: sweeps, and if that frees nothing writes out the
    /// token expiring soonest.
    fn make_room(&self, shard: &mut Shard, now: i64) -> Vec<UsageRecord> {
        let mut out = self.sweep(shard, now);
        while shard.slots.len() >= self.shard_capacity {
            let Some(key) = shard
                .slots
                .iter()
                .min_by_key(|(_, s)| s.expires_ms)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(mut slot) = shard.slots.remove(&key) {
                self.counters.tokens_evicted.fetch_add(1, Ordering::Relaxed);
                if slot.has_activity() {
                    out.push(self.take_record(&mut slot, EndReason::Capacity));
                }
            }
        }
        out
    }

    /// The slot's record since its last one; resets its activity.
    fn take_record(&self, slot: &mut Slot, reason: EndReason) -> UsageRecord {
        let facts = &slot.facts;
        let record = UsageRecord {
            schema: SCHEMA.to_owned(),
            service: self.service.clone(),
            instance: self.instance.clone(),
            seq: slot.seq,
            reason,
            jti: facts.jti.clone(),
            sub: facts.sub.clone(),
            orch_id: facts.orch_id.clone(),
            task_id: facts.task_id.clone(),
            app: facts.app.clone(),
            granted: facts.granted.clone(),
            issued_at: facts.issued_at,
            expires_at: facts.expires_at,
            delegation_depth: facts.delegation_depth,
            delegated_by: facts.delegated_by.clone(),
            requests: slot.requests,
            first_use: slot.first_ms.map(from_millis),
            last_use: slot.first_ms.map(|_| from_millis(slot.last_ms)),
            scopes: slot
                .scopes
                .drain(..)
                .map(|e| ScopeUse {
                    scope: e.scope.into(),
                    decision: e.decision,
                    count: e.count,
                    first: from_millis(e.first_ms),
                    last: from_millis(e.last_ms),
                })
                .collect(),
            refused: slot
                .refused
                .drain(..)
                .map(|e| Refused {
                    reason: e.reason,
                    count: e.count,
                    first: from_millis(e.first_ms),
                    last: from_millis(e.last_ms),
                })
                .collect(),
            checks_dropped: slot.checks_dropped,
        };
        slot.seq = slot.seq.saturating_add(1);
        slot.requests = 0;
        slot.first_ms = None;
        slot.checks_dropped = 0;
        record
    }

    /// Hands records from the request path to the writer without
    /// blocking; what does not fit is dropped and counted.
    fn emit(&self, records: Vec<UsageRecord>) {
        if records.is_empty() {
            return;
        }
        let n = records.len() as u64;
        self.counters
            .records_emitted
            .fetch_add(n, Ordering::Relaxed);
        let queue = lock(&self.queue).clone();
        let Some(queue) = queue else {
            return;
        };
        match queue.try_send(Msg::Records(records)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters
                    .records_dropped
                    .fetch_add(n, Ordering::Relaxed);
                #[cfg(feature = "metrics")]
                self.metrics.records_dropped.increment(n);
            }
        }
    }
}

impl Slot {
    fn has_activity(&self) -> bool {
        self.requests > 0
            || !self.scopes.is_empty()
            || !self.refused.is_empty()
            || self.checks_dropped > 0
    }

    fn count_request(&mut self, now: i64) {
        self.requests += 1;
        if self.first_ms.is_none() {
            self.first_ms = Some(now);
        }
        self.last_ms = self.last_ms.max(now);
    }

    /// Counts one check; `false` when it could not be itemised (the
    /// token's pair limit), counted in `checks_dropped` instead.
    fn add_scope(&mut self, scope: &str, decision: Decision, now: i64, max: usize) -> bool {
        if let Some(e) = self
            .scopes
            .iter_mut()
            .find(|e| e.decision == decision && &*e.scope == scope)
        {
            e.count += 1;
            e.last_ms = e.last_ms.max(now);
            return true;
        }
        if self.scopes.len() >= max {
            self.checks_dropped += 1;
            return false;
        }
        self.scopes.push(ScopeEntry {
            scope: scope.into(),
            decision,
            count: 1,
            first_ms: now,
            last_ms: now,
        });
        true
    }

    fn add_refusal(&mut self, reason: Refusal, now: i64) {
        if let Some(e) = self.refused.iter_mut().find(|e| e.reason == reason) {
            e.count += 1;
            e.last_ms = e.last_ms.max(now);
            return;
        }
        self.refused.push(RefusedEntry {
            reason,
            count: 1,
            first_ms: now,
            last_ms: now,
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The `jti` claim of a compact JWS, read without verifying anything
/// (only used to find a token this recorder already verified, whose
/// fingerprint must then match).
fn unverified_jti(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Jti {
        jti: String,
    }
    let mut parts = token.split('.');
    let (_, payload) = (parts.next()?, parts.next()?);
    if payload.len() > 64 * 1024 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Jti>(&bytes).ok().map(|j| j.jti)
}

/// Configures a [`Recorder`].
///
/// ```
/// use std::time::Duration;
/// use agentwrit_usage::{JsonlSink, Recorder};
///
/// let dir = std::env::temp_dir().join(format!("usage-doc-{}", std::process::id()));
/// let recorder = Recorder::builder()
///     .service_name("orders-api")
///     .capacity(50_000)
///     .grace(Duration::from_secs(30))
///     .sink(JsonlSink::dir(&dir)?)
///     .build()?;
/// recorder.shutdown()?;
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), agentwrit_usage::UsageError>(())
/// ```
#[must_use]
pub struct RecorderBuilder {
    service: Option<String>,
    instance: Option<String>,
    capacity: usize,
    max_scopes: usize,
    grace: Duration,
    sweep: Duration,
    queue: usize,
    clock: ClockFn,
    sinks: Vec<Box<dyn Sink>>,
}

impl fmt::Debug for RecorderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecorderBuilder")
            .field("service", &self.service)
            .field("capacity", &self.capacity)
            .field("sinks", &self.sinks.len())
            .finish_non_exhaustive()
    }
}

impl RecorderBuilder {
    fn new() -> Self {
        RecorderBuilder {
            service: None,
            instance: None,
            capacity: DEFAULT_CAPACITY,
            max_scopes: DEFAULT_MAX_SCOPES_PER_TOKEN,
            grace: DEFAULT_GRACE,
            sweep: DEFAULT_SWEEP_INTERVAL,
            queue: DEFAULT_QUEUE_CAPACITY,
            clock: Arc::new(SystemTime::now),
            sinks: Vec::new(),
        }
    }

    /// The name of the reporting service, in every record (default: the
    /// program's file name). The report lists which services reported.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }

    /// The reporting process (default `pid-<process id>`).
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// The most tokens tracked at once (default [`DEFAULT_CAPACITY`]).
    /// When full, the token expiring soonest is written out early (reason
    /// `capacity`) and counted in [`Counters::tokens_evicted`].
    pub fn capacity(mut self, tokens: usize) -> Self {
        self.capacity = tokens.max(1);
        self
    }

    /// The most distinct (scope, decision) pairs kept per token (default
    /// [`DEFAULT_MAX_SCOPES_PER_TOKEN`]); further checks are counted in
    /// the record's `checks_dropped`.
    pub fn max_scopes_per_token(mut self, pairs: usize) -> Self {
        self.max_scopes = pairs;
        self
    }

    /// How long a token stays tracked past its `exp` (default
    /// [`DEFAULT_GRACE`]), so that requests refusing it as expired are
    /// still recorded on it.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How often expired tokens are written out and forgotten (default
    /// [`DEFAULT_SWEEP_INTERVAL`]).
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep = interval.max(Duration::from_millis(1));
        self
    }

    /// The most records waiting for the writer thread (default
    /// [`DEFAULT_QUEUE_CAPACITY`]); beyond it a record is dropped and
    /// counted.
    pub fn queue_capacity(mut self, records: usize) -> Self {
        self.queue = records.max(1);
        self
    }

    /// The clock (default `SystemTime::now`): first and last use,
    /// expiry. A test can hand in a manual clock.
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Adds a sink: every record goes to every sink, on the recorder's
    /// writer thread.
    pub fn sink(mut self, sink: impl Sink) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Builds the recorder and, when it has sinks, starts its writer
    /// thread (`agentwrit-usage`).
    ///
    /// # Errors
    ///
    /// The thread could not be started.
    pub fn build(self) -> Result<Recorder, UsageError> {
        let service = self.service.unwrap_or_else(program_name);
        let instance = self
            .instance
            .unwrap_or_else(|| format!("pid-{}", std::process::id()));
        let core = Arc::new(Core {
            service,
            instance,
            shard_capacity: self.capacity.div_ceil(SHARDS).max(1),
            max_scopes: self.max_scopes,
            grace_ms: i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX),
            sweep_ms: i64::try_from(self.sweep.as_millis()).unwrap_or(i64::MAX),
            clock: self.clock,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            counters: AtomicCounters::default(),
            closed: AtomicBool::new(false),
            queue: Mutex::new(None),
            #[cfg(feature = "metrics")]
            metrics: crate::metrics::Handles::register(),
        });
        let writer = if self.sinks.is_empty() {
            None
        } else {
            let (tx, rx) = mpsc::sync_channel(self.queue);
            *lock(&core.queue) = Some(tx.clone());
            let thread_core = Arc::clone(&core);
            let sinks = self.sinks;
            let thread = std::thread::Builder::new()
                .name("agentwrit-usage".into())
                .spawn(move || writer_loop(&thread_core, sinks, &rx))
                .map_err(|e| UsageError::Thread(format!("cannot start the writer thread: {e}")))?;
            Some(Writer { tx, thread })
        };
        Ok(Recorder {
            inner: Arc::new(Inner {
                core,
                writer: Mutex::new(writer),
            }),
        })
    }
}

fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unknown-service".to_owned())
}

/// The writer thread: writes what arrives, sweeps expired tokens every
/// sweep interval, answers flush and shutdown requests.
fn writer_loop(core: &Core, mut sinks: Vec<Box<dyn Sink>>, rx: &Receiver<Msg>) {
    let interval = Duration::from_millis(u64::try_from(core.sweep_ms).unwrap_or(u64::MAX));
    let mut failure: Option<UsageError> = None;
    // Records written since the sinks were last flushed.
    let mut unflushed = false;
    let write = |sinks: &mut Vec<Box<dyn Sink>>,
                 records: &[UsageRecord],
                 failure: &mut Option<UsageError>| {
        if records.is_empty() {
            return;
        }
        let mut ok = true;
        for sink in sinks.iter_mut() {
            if let Err(e) = sink.write(records) {
                ok = false;
                core.counters.sink_errors.fetch_add(1, Ordering::Relaxed);
                failure.get_or_insert(e);
            }
        }
        let n = records.len() as u64;
        if ok {
            core.counters
                .records_written
                .fetch_add(n, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            core.metrics.records_written.increment(n);
        } else {
            core.counters
                .records_dropped
                .fetch_add(n, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            core.metrics.records_dropped.increment(n);
        }
    };
    loop {
        match rx.recv_timeout(interval) {
            Ok(Msg::Records(records)) => {
                unflushed |= !records.is_empty();
                write(&mut sinks, &records, &mut failure);
            }
            Ok(Msg::Flush(reply)) => {
                unflushed = false;
                for sink in &mut sinks {
                    if let Err(e) = sink.flush() {
                        core.counters.sink_errors.fetch_add(1, Ordering::Relaxed);
                        failure.get_or_insert(e);
                    }
                }
                let _ = reply.send(failure.take().map_or(Ok(()), Err));
            }
            Ok(Msg::Shutdown(reply)) => {
                for sink in &mut sinks {
                    if let Err(e) = sink.shutdown() {
                        core.counters.sink_errors.fetch_add(1, Ordering::Relaxed);
                        failure.get_or_insert(e);
                    }
                }
                let _ = reply.send(failure.take().map_or(Ok(()), Err));
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = to_millis((core.clock)());
                let mut records = Vec::new();
                for shard in &core.shards {
                    let mut shard = lock(shard);
                    shard.next_sweep_ms = now.saturating_add(core.sweep_ms);
                    records.extend(core.sweep(&mut shard, now));
                }
                core.counters
                    .records_emitted
                    .fetch_add(records.len() as u64, Ordering::Relaxed);
                unflushed |= !records.is_empty();
                write(&mut sinks, &records, &mut failure);
                if unflushed {
                    unflushed = false;
                    for sink in &mut sinks {
                        if let Err(e) = sink.flush() {
                            core.counters.sink_errors.fetch_add(1, Ordering::Relaxed);
                            failure.get_or_insert(e);
                        }
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                for sink in &mut sinks {
                    let _ = sink.shutdown();
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
