//! The token table: aggregating each token's requests and scope
//! decisions in its shard, and writing out what has expired.

use std::sync::MutexGuard;
use std::sync::atomic::Ordering;
use std::sync::mpsc::TrySendError;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Core, Msg, RefusedEntry, SHARDS, ScopeEntry, Shard, Slot, lock};
use crate::record::{Decision, EndReason, Refusal, Refused, SCHEMA, ScopeUse, UsageRecord};
use crate::time::from_millis;

impl Core {
    pub(super) fn lock(&self, jti: &str) -> MutexGuard<'_, Shard> {
        // FNV-1a: cheap, and only spreads the lock over the shards.
        let mut h: u32 = 0x811c_9dc5;
        for &b in jti.as_bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        lock(&self.shards[h as usize % SHARDS])
    }

    pub(super) fn count_checks(&self, allowed: bool, n: u64) {
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
    pub(super) fn sweep_if_due(&self, shard: &mut Shard, now: i64) -> Vec<UsageRecord> {
        if now < shard.next_sweep_ms {
            return Vec::new();
        }
        shard.next_sweep_ms = now.saturating_add(self.sweep_ms);
        self.sweep(shard, now)
    }

    /// Removes the tokens past `exp` + grace; their records (those with
    /// activity since their last one).
    pub(super) fn sweep(&self, shard: &mut Shard, now: i64) -> Vec<UsageRecord> {
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
    pub(super) fn make_room(&self, shard: &mut Shard, now: i64) -> Vec<UsageRecord> {
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
    pub(super) fn take_record(&self, slot: &mut Slot, reason: EndReason) -> UsageRecord {
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
    pub(super) fn emit(&self, records: Vec<UsageRecord>) {
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
    pub(super) fn has_activity(&self) -> bool {
        self.requests > 0
            || !self.scopes.is_empty()
            || !self.refused.is_empty()
            || self.checks_dropped > 0
    }

    pub(super) fn count_request(&mut self, now: i64) {
        self.requests += 1;
        if self.first_ms.is_none() {
            self.first_ms = Some(now);
        }
        self.last_ms = self.last_ms.max(now);
    }

    /// Counts one check; `false` when it could not be itemised (the
    /// token's pair limit), counted in `checks_dropped` instead.
    pub(super) fn add_scope(
        &mut self,
        scope: &str,
        decision: Decision,
        now: i64,
        max: usize,
    ) -> bool {
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

    pub(super) fn add_refusal(&mut self, reason: Refusal, now: i64) {
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

/// The `jti` claim of a compact JWS, read without verifying anything
/// (only used to find a token this recorder already verified, whose
/// fingerprint must then match).
pub(super) fn unverified_jti(token: &str) -> Option<String> {
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
