//! The report: records (from any number of services) merged per task
//! agent, optionally joined with the broker's audit trail, rolled up per
//! orchestrator and task kind, with the recommended minimal scope set.
//! `agentwrit usage report` prints it; its JSON form is [`Report`]
//! serialised (schema `agentwrit.usage.report/v1`, documented in
//! `docs/usage-evidence.md`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

use agentwrit_wire::AuditEvent;

use crate::UsageRecord;
use crate::record::{Decision, Refusal};
use crate::time::{format_millis, to_millis};

mod audit;
mod model;
mod recommend;

use audit::{Audit, TaskBroker};
pub use model::{
    Coverage, Inputs, KindDenied, KindReport, KindScope, Recommendation, RefusedCount, Report,
    ScopeCount, ServiceSummary, TaskReport,
};
use recommend::covered_by;
pub use recommend::recommend;

/// The value of [`Report::schema`].
pub const REPORT_SCHEMA: &str = "agentwrit.usage.report/v1";

/// How a task id becomes a task kind (for the rollup).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KindRule {
    /// Split on `-`, `_`, `.` and `:`; every part holding a digit becomes
    /// `*` (`order-4823` → `order-*`, `ticket-17-billing` →
    /// `ticket-*-billing`). The default.
    #[default]
    Segments,
    /// The task id itself.
    Task,
}

impl KindRule {
    /// The kind of `task_id`.
    ///
    /// ```
    /// use agentwrit_usage::KindRule;
    /// assert_eq!(KindRule::Segments.kind_of("ticket-17-billing"), "ticket-*-billing");
    /// assert_eq!(KindRule::Segments.kind_of("encounter-3f9a"), "encounter-*");
    /// assert_eq!(KindRule::Task.kind_of("order-4823"), "order-4823");
    /// ```
    #[must_use]
    pub fn kind_of(self, task_id: &str) -> String {
        match self {
            KindRule::Task => task_id.to_owned(),
            KindRule::Segments => {
                let mut out = String::with_capacity(task_id.len());
                let mut part = String::new();
                let flush = |part: &mut String, out: &mut String| {
                    if part.bytes().any(|b| b.is_ascii_digit()) {
                        out.push('*');
                    } else {
                        out.push_str(part);
                    }
                    part.clear();
                };
                for c in task_id.chars() {
                    if matches!(c, '-' | '_' | '.' | ':') {
                        flush(&mut part, &mut out);
                        out.push(c);
                    } else {
                        part.push(c);
                    }
                }
                flush(&mut part, &mut out);
                out
            }
        }
    }
}

/// What to include and how to group.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReportOptions {
    /// Only activity at or after this instant (records whose last
    /// activity is earlier are left out; audit events too).
    pub since: Option<SystemTime>,
    /// "Now", for tokens still alive and for `generated_at`.
    pub now: SystemTime,
    /// Task id → task kind.
    pub kind_rule: KindRule,
}

impl ReportOptions {
    /// Everything, grouped with [`KindRule::Segments`], at `now`.
    #[must_use]
    pub fn new(now: SystemTime) -> Self {
        ReportOptions {
            since: None,
            now,
            kind_rule: KindRule::Segments,
        }
    }

    /// Only activity at or after `since`.
    #[must_use]
    pub fn with_since(mut self, since: Option<SystemTime>) -> Self {
        self.since = since;
        self
    }

    /// The task-kind rule.
    #[must_use]
    pub fn with_kind_rule(mut self, rule: KindRule) -> Self {
        self.kind_rule = rule;
        self
    }
}

/// Interned strings (scopes, services): records repeat them a lot.
#[derive(Default)]
struct Strings {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Strings {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    fn get(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |s| s)
    }
}

#[derive(Clone, Copy, Default)]
struct Span {
    seen: bool,
    count: u64,
    first: i64,
    last: i64,
}

impl Span {
    fn add(&mut self, count: u64, first: i64, last: i64) {
        if !self.seen {
            self.seen = true;
            self.first = first;
            self.last = last;
        } else {
            self.first = self.first.min(first);
            self.last = self.last.max(last);
        }
        self.count += count;
    }
}

#[derive(Default)]
struct Row {
    orch_id: Option<String>,
    task_id: Option<String>,
    sub: String,
    app: Option<String>,
    observed: bool,
    services: BTreeSet<u32>,
    depth: u32,
    delegated_by: Option<String>,
    jtis: Vec<String>,
    granted: BTreeSet<u32>,
    requests: u64,
    uses: Span,
    scopes: HashMap<(u32, Decision), Span>,
    refused: BTreeMap<Refusal, Span>,
    issued_ms: Option<i64>,
    expires_ms: Option<i64>,
    /// The longest `exp - iat` of its tokens (renewal keeps the TTL).
    ttl_ms: Option<i64>,
    checks_dropped: u64,
}

/// Merges records into a [`Report`]; feed it with [`ReportBuilder::add`]
/// (any order, any number of services), optionally
/// [`ReportBuilder::join_audit`], then [`ReportBuilder::finish`].
///
/// ```
/// use std::time::SystemTime;
/// use agentwrit_usage::{ReportBuilder, ReportOptions};
///
/// let mut builder = ReportBuilder::new(ReportOptions::new(SystemTime::now()));
/// let mut reader = agentwrit_usage::Reader::new();
/// reader.read_str("a.jsonl", "", |record| builder.add(record));
/// let report = builder.finish(&reader);
/// assert!(report.tasks.is_empty());
/// ```
pub struct ReportBuilder {
    options: ReportOptions,
    since_ms: Option<i64>,
    strings: Strings,
    rows: HashMap<String, Row>,
    services: BTreeMap<u32, (BTreeSet<String>, u64)>,
    records_in: u64,
    records_kept: u64,
    audit: Option<Audit>,
}

impl std::fmt::Debug for ReportBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportBuilder")
            .field("rows", &self.rows.len())
            .field("records", &self.records_in)
            .finish_non_exhaustive()
    }
}

impl ReportBuilder {
    /// An empty report.
    #[must_use]
    pub fn new(options: ReportOptions) -> Self {
        ReportBuilder {
            since_ms: options.since.map(to_millis),
            options,
            strings: Strings::default(),
            rows: HashMap::new(),
            services: BTreeMap::new(),
            records_in: 0,
            records_kept: 0,
            audit: None,
        }
    }

    /// Adds one record.
    pub fn add(&mut self, record: UsageRecord) {
        self.records_in += 1;
        let last_activity = record
            .last_use
            .map(to_millis)
            .into_iter()
            .chain(record.scopes.iter().map(|s| to_millis(s.last)))
            .chain(record.refused.iter().map(|r| to_millis(r.last)))
            .max()
            .unwrap_or_else(|| to_millis(record.issued_at));
        if self.since_ms.is_some_and(|since| last_activity < since) {
            return;
        }
        self.records_kept += 1;
        let service = self.strings.id(&record.service);
        let entry = self.services.entry(service).or_default();
        entry.1 += 1;
        if !entry.0.contains(&record.instance) {
            entry.0.insert(record.instance.clone());
        }
        let task = record.task_id.as_deref().unwrap_or("");
        let mut key = String::with_capacity(record.sub.len() + task.len() + 1);
        key.push_str(&record.sub);
        key.push('\u{0}');
        key.push_str(task);
        let row = self.rows.entry(key).or_insert_with(|| Row {
            orch_id: record.orch_id.clone(),
            task_id: record.task_id.clone(),
            sub: record.sub.clone(),
            depth: record.delegation_depth,
            delegated_by: record.delegated_by.clone(),
            ..Row::default()
        });
        row.observed = true;
        row.services.insert(service);
        if row.app.is_none() {
            row.app.clone_from(&record.app);
        }
        if !row.jtis.contains(&record.jti) {
            row.jtis.push(record.jti.clone());
        }
        for g in &record.granted {
            row.granted.insert(self.strings.id(g));
        }
        row.requests += record.requests;
        if let (Some(first), Some(last)) = (record.first_use, record.last_use) {
            row.uses.add(0, to_millis(first), to_millis(last));
        }
        for s in &record.scopes {
            let id = self.strings.id(&s.scope);
            row.scopes.entry((id, s.decision)).or_default().add(
                s.count,
                to_millis(s.first),
                to_millis(s.last),
            );
        }
        for r in &record.refused {
            row.refused.entry(r.reason).or_default().add(
                r.count,
                to_millis(r.first),
                to_millis(r.last),
            );
        }
        let (iat, exp) = (to_millis(record.issued_at), to_millis(record.expires_at));
        row.issued_ms = Some(row.issued_ms.map_or(iat, |v| v.min(iat)));
        row.expires_ms = Some(row.expires_ms.map_or(exp, |v| v.max(exp)));
        row.ttl_ms = Some(row.ttl_ms.map_or(exp - iat, |v| v.max(exp - iat)));
        row.checks_dropped += record.checks_dropped;
    }

    /// Joins the broker's audit events (issued, renewed, delegated,
    /// released, revoked): apps, renewals, how each task ended, and the
    /// tokens issued that no reporting service ever saw (listed as not
    /// observed: their scopes' use is unknown, not nil).
    pub fn join_audit(&mut self, events: &[AuditEvent]) {
        let audit = Audit::from_events(events, self.since_ms);
        // Tokens the broker issued that no record mentions.
        let known: BTreeSet<(&str, &str)> = self
            .rows
            .values()
            .map(|r| (r.sub.as_str(), r.task_id.as_deref().unwrap_or("")))
            .collect();
        let mut missing: Vec<Row> = Vec::new();
        for (agent, reg) in &audit.registered {
            if known.contains(&(agent.as_str(), reg.task_id.as_deref().unwrap_or(""))) {
                continue;
            }
            let mut row = Row {
                orch_id: reg.orch_id.clone(),
                task_id: reg.task_id.clone(),
                sub: agent.clone(),
                app: reg.app.clone(),
                ..Row::default()
            };
            for s in &reg.scope {
                row.granted.insert(self.strings.id(s));
            }
            row.jtis.clone_from(&reg.jtis);
            row.issued_ms = reg.at_ms;
            row.expires_ms = reg.ttl_secs.zip(reg.at_ms).map(|(ttl, at)| at + ttl * 1000);
            missing.push(row);
        }
        for row in missing {
            let key = format!("{}\u{0}{}", row.sub, row.task_id.as_deref().unwrap_or(""));
            self.rows.insert(key, row);
        }
        self.audit = Some(audit);
    }

    /// The report. `reader` supplies the input figures and the lines it
    /// could not read.
    #[must_use]
    pub fn finish(self, reader: &crate::Reader) -> Report {
        let now = to_millis(self.options.now);
        let strings = &self.strings;
        let audit = self.audit.as_ref();
        let mut rows: Vec<&Row> = self.rows.values().collect();
        rows.sort_by(|a, b| {
            (&a.orch_id, &a.task_id, &a.sub, a.issued_ms).cmp(&(
                &b.orch_id,
                &b.task_id,
                &b.sub,
                b.issued_ms,
            ))
        });
        let mut tasks = Vec::with_capacity(rows.len());
        let mut kinds: BTreeMap<(Option<String>, String), KindAcc> = BTreeMap::new();
        for row in rows {
            let task = task_report(row, strings, audit, now, self.options.kind_rule);
            let acc = kinds
                .entry((task.orch_id.clone(), task.kind.clone()))
                .or_default();
            acc.add(&task);
            tasks.push(task);
        }
        let kinds = kinds
            .into_iter()
            .map(|((orch_id, kind), acc)| acc.finish(orch_id, kind))
            .collect();
        let services = self
            .services
            .iter()
            .map(|(id, (instances, records))| ServiceSummary {
                service: strings.get(*id).to_owned(),
                instances: instances.iter().cloned().collect(),
                records: *records,
            })
            .collect();
        Report {
            schema: REPORT_SCHEMA,
            generated_at: format_millis(now),
            since: self.since_ms.map(format_millis),
            inputs: Inputs {
                files: reader.files(),
                records: self.records_in,
                records_in_window: self.records_kept,
                errors: reader.errors().to_vec(),
            },
            services,
            broker_joined: audit.is_some(),
            audit_events: audit.map(|a| a.events),
            tasks,
            kinds,
        }
    }
}

fn time(ms: i64) -> String {
    format_millis(ms)
}

fn task_report(
    row: &Row,
    strings: &Strings,
    audit: Option<&Audit>,
    now: i64,
    rule: KindRule,
) -> TaskReport {
    let granted: Vec<&str> = row.granted.iter().map(|&id| strings.get(id)).collect();
    let mut used = Vec::new();
    let mut denied = Vec::new();
    let mut pairs: Vec<(&(u32, Decision), &Span)> = row.scopes.iter().collect();
    pairs.sort_by(|a, b| {
        strings
            .get(a.0.0)
            .cmp(strings.get(b.0.0))
            .then(a.0.1.cmp(&b.0.1))
    });
    for ((id, decision), span) in pairs {
        let count = ScopeCount {
            scope: strings.get(*id).to_owned(),
            count: span.count,
            first: time(span.first),
            last: time(span.last),
        };
        match decision {
            Decision::Allowed => used.push(count),
            _ => denied.push(count),
        }
    }
    let used_scopes: Vec<&str> = used.iter().map(|u| u.scope.as_str()).collect();
    let coverage: Vec<Coverage> = granted
        .iter()
        .map(|g| {
            let (uses, matched) = covered_by(g, &used);
            Coverage {
                granted: (*g).to_owned(),
                uses,
                matched,
            }
        })
        .collect();
    let unused = coverage
        .iter()
        .filter(|c| c.uses == 0)
        .map(|c| c.granted.clone())
        .collect();
    let recommended = recommend(&used_scopes, &granted);
    let refused = row
        .refused
        .iter()
        .map(|(reason, span)| RefusedCount {
            reason: reason.as_str().to_owned(),
            count: span.count,
            first: time(span.first),
            last: time(span.last),
        })
        .collect();
    let mut jtis = row.jtis.clone();
    jtis.sort();
    jtis.dedup();
    let broker = audit.map(|a| a.task_facts(row));
    let ended_by = ended_by(row, broker.as_ref(), now).to_owned();
    let app = row
        .app
        .clone()
        .or_else(|| broker.as_ref().and_then(|b| b.app.clone()));
    let ttl_seconds = broker.as_ref().and_then(|b| b.ttl_secs).or_else(|| {
        row.issued_ms
            .zip(row.expires_ms)
            .map(|(i, e)| (e - i) / 1000)
    });
    let first_use = row_first(row);
    let last_use = row_last(row);
    let lifetime_used_seconds = row
        .issued_ms
        .zip(last_use)
        .map(|(issued, last)| ((last - issued).max(0) + 999) / 1000);
    TaskReport {
        orch_id: row.orch_id.clone(),
        task_id: row.task_id.clone(),
        kind: rule.kind_of(row.task_id.as_deref().unwrap_or("")),
        agent: row.sub.clone(),
        app,
        observed: row.observed,
        services: row
            .services
            .iter()
            .map(|&id| strings.get(id).to_owned())
            .collect(),
        delegation_depth: row.depth,
        delegated_by: row.delegated_by.clone(),
        tokens: jtis,
        granted: granted.iter().map(|s| (*s).to_owned()).collect(),
        requests: row.requests,
        first_use: first_use.map(time),
        last_use: last_use.map(time),
        used,
        unused,
        denied,
        refused,
        checks_dropped: row.checks_dropped,
        coverage,
        recommended,
        issued_at: row.issued_ms.map(time),
        expires_at: row.expires_ms.map(time),
        ttl_seconds,
        lifetime_used_seconds,
        renewals: broker.as_ref().map(|b| b.renewals),
        delegations_received: broker.as_ref().map(|b| b.delegations),
        ended_by,
    }
}

fn row_first(row: &Row) -> Option<i64> {
    row.uses.seen.then_some(row.uses.first)
}

fn row_last(row: &Row) -> Option<i64> {
    row.uses.seen.then_some(row.uses.last)
}

fn ended_by(row: &Row, broker: Option<&TaskBroker>, now: i64) -> &'static str {
    if let Some(b) = broker {
        if b.released {
            return "released";
        }
        if b.revoked {
            return "revoked";
        }
    }
    if broker.is_none() && row.refused.contains_key(&Refusal::Revoked) {
        // Refused before its exp: the broker ended it; without its audit
        // trail, which way is not known.
        return "revoked_or_released";
    }
    if row.expires_ms.is_some_and(|exp| exp <= now) {
        // With the audit trail: neither released nor revoked. Without it,
        // a release nobody presented the token after is invisible here.
        return if broker.is_some() {
            "expired"
        } else {
            "expired_or_released"
        };
    }
    "active"
}

#[derive(Default)]
struct KindAcc {
    tasks: u64,
    observed: u64,
    requests: u64,
    granted: BTreeMap<String, (u64, u64, u64, BTreeSet<String>)>,
    used: BTreeSet<String>,
    denied: BTreeMap<String, (u64, u64)>,
    grant_union: BTreeSet<String>,
}

impl KindAcc {
    fn add(&mut self, task: &TaskReport) {
        self.tasks += 1;
        if task.observed {
            self.observed += 1;
        }
        self.requests += task.requests;
        for c in &task.coverage {
            let e = self.granted.entry(c.granted.clone()).or_default();
            e.0 += 1;
            if c.uses > 0 {
                e.1 += 1;
            }
            e.2 += c.uses;
            e.3.extend(c.matched.iter().cloned());
            self.grant_union.insert(c.granted.clone());
        }
        for u in &task.used {
            self.used.insert(u.scope.clone());
        }
        for d in &task.denied {
            let e = self.denied.entry(d.scope.clone()).or_default();
            e.0 += d.count;
            e.1 += 1;
        }
    }

    fn finish(self, orch_id: Option<String>, kind: String) -> KindReport {
        let used: Vec<&str> = self.used.iter().map(String::as_str).collect();
        let grant: Vec<&str> = self.grant_union.iter().map(String::as_str).collect();
        KindReport {
            recommended: recommend(&used, &grant),
            orch_id,
            kind,
            tasks: self.tasks,
            observed_tasks: self.observed,
            requests: self.requests,
            scopes: self
                .granted
                .into_iter()
                .map(|(scope, (granted_in, used_in, uses, matched))| KindScope {
                    scope,
                    granted_in,
                    used_in,
                    uses,
                    matched: matched.into_iter().collect(),
                })
                .collect(),
            denied: self
                .denied
                .into_iter()
                .map(|(scope, (count, tasks))| KindDenied {
                    scope,
                    count,
                    tasks,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
