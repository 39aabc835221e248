//! The report: records (from any number of services) merged per task
//! agent, optionally joined with the broker's audit trail, rolled up per
//! orchestrator and task kind, with the recommended minimal scope set.
//! `agentwrit usage report` prints it; its JSON form is [`Report`]
//! serialised (schema `agentwrit.usage.report/v1`, documented in
//! `docs/usage-evidence.md`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

use agentwrit_scope::Scope;
use agentwrit_wire::AuditEvent;
use serde::Serialize;

use crate::record::{Decision, Refusal};
use crate::time::{format_millis, parse_millis, to_millis};
use crate::{ReadError, UsageRecord};

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

/// How many allowed uses `granted` covered, and the identifiers they had.
fn covered_by(granted: &str, used: &[ScopeCount]) -> (u64, Vec<String>) {
    let Ok(g) = Scope::parse(granted) else {
        return (0, Vec::new());
    };
    let mut uses = 0;
    let mut ids = BTreeSet::new();
    for u in used {
        if let Ok(s) = Scope::parse(&u.scope)
            && g.covers(&s)
        {
            uses += u.count;
            ids.insert(s.identifier().to_owned());
        }
    }
    (uses, ids.into_iter().collect())
}

/// The recommended minimal scope set for the allowed uses `used` of a
/// task (or a task kind) granted `granted`: per action and resource, the
/// exact scope when one identifier was used; when several were, the
/// wildcard `action:resource:*` if it is within the grant (listing the
/// identifiers it matched), else each exact scope. Never wider than the
/// grant; every allowed use is covered.
///
/// ```
/// use agentwrit_usage::recommend;
/// let rec = recommend(&["read:data:c-1", "read:data:c-2", "write:notes:c-1"], &["read:data:*", "write:notes:*", "delete:data:*"]);
/// let scopes: Vec<&str> = rec.iter().map(|r| r.scope.as_str()).collect();
/// assert_eq!(scopes, ["read:data:*", "write:notes:c-1"]);
/// assert_eq!(rec[0].matched, ["c-1", "c-2"]);
/// ```
#[must_use]
pub fn recommend<U: AsRef<str>, G: AsRef<str>>(used: &[U], granted: &[G]) -> Vec<Recommendation> {
    let mut groups: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for u in used {
        if let Ok(s) = Scope::parse(u.as_ref()) {
            groups
                .entry((s.action(), s.resource()))
                .or_default()
                .insert(s.identifier());
        }
    }
    let mut out = Vec::new();
    for ((action, resource), ids) in groups {
        let wildcard = format!("{action}:{resource}:*");
        if ids.contains("*") {
            out.push(Recommendation {
                scope: wildcard,
                matched: ids
                    .iter()
                    .filter(|i| **i != "*")
                    .map(|i| (*i).to_owned())
                    .collect(),
            });
        } else if ids.len() == 1 {
            let id = ids.iter().next().copied().unwrap_or_default();
            out.push(Recommendation {
                scope: format!("{action}:{resource}:{id}"),
                matched: Vec::new(),
            });
        } else if agentwrit_scope::scope_is_subset(&[wildcard.as_str()], granted) {
            out.push(Recommendation {
                scope: wildcard,
                matched: ids.iter().map(|i| (*i).to_owned()).collect(),
            });
        } else {
            out.extend(ids.iter().map(|id| Recommendation {
                scope: format!("{action}:{resource}:{id}"),
                matched: Vec::new(),
            }));
        }
    }
    out
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

/// What the audit trail says about agents.
struct Audit {
    events: u64,
    /// agent → registration facts.
    registered: BTreeMap<String, Registered>,
    /// jti → agent.
    issued: HashMap<String, (String, Option<i64>, Option<String>)>,
    renewals: HashMap<String, u64>,
    delegations: HashMap<String, u64>,
    released: BTreeSet<String>,
    /// (level, target).
    revoked: Vec<(String, String)>,
}

#[derive(Default)]
struct Registered {
    orch_id: Option<String>,
    task_id: Option<String>,
    app: Option<String>,
    scope: Vec<String>,
    jtis: Vec<String>,
    at_ms: Option<i64>,
    ttl_secs: Option<i64>,
}

struct TaskBroker {
    app: Option<String>,
    ttl_secs: Option<i64>,
    renewals: u64,
    delegations: u64,
    released: bool,
    revoked: bool,
}

/// `key=value` in an audit detail (value up to a space, comma or `|`).
fn detail_value<'a>(detail: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("{key}=");
    let mut from = 0;
    while let Some(i) = detail[from..].find(&needle) {
        let at = from + i;
        let boundary = at == 0
            || !detail.as_bytes()[at - 1].is_ascii_alphanumeric()
                && detail.as_bytes()[at - 1] != b'_';
        let start = at + needle.len();
        if boundary {
            let rest = &detail[start..];
            let end = rest.find([' ', ',', '|']).unwrap_or(rest.len());
            return Some(&rest[..end]).filter(|v| !v.is_empty());
        }
        from = start;
    }
    None
}

/// The scope list in `Agent registered with scope [a b c]`.
fn bracket_list(detail: &str) -> Vec<String> {
    let Some(open) = detail.find('[') else {
        return Vec::new();
    };
    let Some(close) = detail[open..].find(']') else {
        return Vec::new();
    };
    detail[open + 1..open + close]
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Audit {
    fn from_events(events: &[AuditEvent], since_ms: Option<i64>) -> Audit {
        let mut audit = Audit {
            events: 0,
            registered: BTreeMap::new(),
            issued: HashMap::new(),
            renewals: HashMap::new(),
            delegations: HashMap::new(),
            released: BTreeSet::new(),
            revoked: Vec::new(),
        };
        for e in events {
            let at = parse_millis(e.timestamp.as_str());
            if let (Some(since), Some(at)) = (since_ms, at)
                && at < since
            {
                continue;
            }
            audit.events += 1;
            let agent = e.agent_id.clone().unwrap_or_default();
            let success = e.outcome.as_deref().is_none_or(|o| o == "success");
            if !success {
                continue;
            }
            match e.event_type.as_str() {
                "agent_registered" => {
                    let reg = audit.registered.entry(agent).or_default();
                    reg.orch_id.clone_from(&e.orch_id);
                    reg.task_id.clone_from(&e.task_id);
                    reg.app = detail_value(&e.detail, "app_id").map(str::to_owned);
                    reg.scope = bracket_list(&e.detail);
                    reg.at_ms = at;
                }
                "token_issued" => {
                    let jti = detail_value(&e.detail, "jti").map(str::to_owned);
                    let ttl = detail_value(&e.detail, "ttl").and_then(|t| t.parse().ok());
                    let app = detail_value(&e.detail, "app_id").map(str::to_owned);
                    let reg = audit.registered.entry(agent.clone()).or_default();
                    if reg.task_id.is_none() {
                        reg.orch_id.clone_from(&e.orch_id);
                        reg.task_id.clone_from(&e.task_id);
                    }
                    reg.ttl_secs = reg.ttl_secs.or(ttl);
                    if reg.at_ms.is_none() {
                        reg.at_ms = at;
                    }
                    if let Some(jti) = jti {
                        reg.jtis.push(jti.clone());
                        audit.issued.insert(jti, (agent, ttl, app));
                    }
                }
                "token_renewed" => {
                    *audit.renewals.entry(agent.clone()).or_default() += 1;
                    if let Some(jti) = detail_value(&e.detail, "new_jti") {
                        audit.issued.insert(jti.to_owned(), (agent, None, None));
                    }
                }
                "delegation_created" => {
                    *audit.delegations.entry(agent).or_default() += 1;
                }
                "token_released" => {
                    if let Some(jti) = detail_value(&e.detail, "jti") {
                        audit.released.insert(jti.to_owned());
                    }
                }
                "token_revoked" => {
                    let level = detail_value(&e.detail, "level")
                        .unwrap_or("token")
                        .to_owned();
                    let target = detail_value(&e.detail, "target")
                        .map(str::to_owned)
                        .unwrap_or(agent);
                    audit.revoked.push((level, target));
                }
                _ => {}
            }
        }
        audit
    }

    fn task_facts(&self, row: &Row) -> TaskBroker {
        let reg = self.registered.get(&row.sub);
        let app = reg.and_then(|r| r.app.clone()).or_else(|| {
            row.jtis
                .iter()
                .find_map(|j| self.issued.get(j).and_then(|i| i.2.clone()))
        });
        let ttl_secs = reg.and_then(|r| r.ttl_secs).or_else(|| {
            row.jtis
                .iter()
                .find_map(|j| self.issued.get(j).and_then(|i| i.1))
        });
        let mut jtis: BTreeSet<&str> = row.jtis.iter().map(String::as_str).collect();
        if let Some(reg) = reg {
            jtis.extend(reg.jtis.iter().map(String::as_str));
        }
        // Tokens renewed from this agent's: also its.
        for (jti, (agent, _, _)) in &self.issued {
            if *agent == row.sub {
                jtis.insert(jti);
            }
        }
        let released = jtis.iter().any(|j| self.released.contains(*j));
        let revoked = self
            .revoked
            .iter()
            .any(|(level, target)| match level.as_str() {
                "token" => jtis.contains(target.as_str()),
                "agent" => *target == row.sub,
                "task" => row.task_id.as_deref() == Some(target.as_str()),
                "chain" => {
                    *target == row.sub || row.delegated_by.as_deref() == Some(target.as_str())
                }
                _ => false,
            });
        TaskBroker {
            app,
            ttl_secs,
            renewals: self.renewals.get(&row.sub).copied().unwrap_or(0),
            delegations: self.delegations.get(&row.sub).copied().unwrap_or(0),
            released,
            revoked,
        }
    }
}

/// The whole report (`agentwrit usage report --json`).
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// [`REPORT_SCHEMA`].
    pub schema: &'static str,
    /// When it was made.
    pub generated_at: String,
    /// The `--since` bound, if any.
    pub since: Option<String>,
    /// What was read.
    pub inputs: Inputs,
    /// The services whose records were read: only what these saw is
    /// known.
    pub services: Vec<ServiceSummary>,
    /// Whether the broker's audit trail was joined.
    pub broker_joined: bool,
    /// Audit events used, when joined.
    pub audit_events: Option<u64>,
    /// One entry per task agent (an agent working a task, across its
    /// renewals), ordered by orchestrator, task, agent.
    pub tasks: Vec<TaskReport>,
    /// One entry per orchestrator and task kind.
    pub kinds: Vec<KindReport>,
}

/// What was read.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Inputs {
    /// Files read.
    pub files: u64,
    /// Records read.
    pub records: u64,
    /// Records inside the `--since` window.
    pub records_in_window: u64,
    /// Lines that could not be read (file and line).
    pub errors: Vec<ReadError>,
}

/// One reporting service.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ServiceSummary {
    /// Its name.
    pub service: String,
    /// Its processes.
    pub instances: Vec<String>,
    /// Records from it (in the window).
    pub records: u64,
}

/// A scope with a count and the first and last time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ScopeCount {
    /// The scope (as required by the request).
    pub scope: String,
    /// How many checks.
    pub count: u64,
    /// First (RFC 3339).
    pub first: String,
    /// Last (RFC 3339).
    pub last: String,
}

/// Requests refused for one reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RefusedCount {
    /// `expired` or `revoked`.
    pub reason: String,
    /// How many.
    pub count: u64,
    /// First (RFC 3339).
    pub first: String,
    /// Last (RFC 3339).
    pub last: String,
}

/// What one granted scope covered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Coverage {
    /// The granted scope.
    pub granted: String,
    /// Allowed checks it covered.
    pub uses: u64,
    /// The identifiers of those checks (for a wildcard: what it actually
    /// matched).
    pub matched: Vec<String>,
}

/// One scope of a recommended minimal set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Recommendation {
    /// The scope, in the broker's syntax.
    pub scope: String,
    /// For a wildcard: the identifiers it matched in the evidence.
    pub matched: Vec<String>,
}

/// One task agent.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct TaskReport {
    /// Orchestrator.
    pub orch_id: Option<String>,
    /// Task.
    pub task_id: Option<String>,
    /// Task kind (by the kind rule).
    pub kind: String,
    /// The agent (SPIFFE id).
    pub agent: String,
    /// The app (from a record, or the broker's audit trail).
    pub app: Option<String>,
    /// False for a task only the broker's audit trail knows: no reporting
    /// service saw its token, so its use is unknown.
    pub observed: bool,
    /// The services that reported it.
    pub services: Vec<String>,
    /// Delegation hops behind its token.
    pub delegation_depth: u32,
    /// The delegating agent.
    pub delegated_by: Option<String>,
    /// Its token ids (renewals give new ones).
    pub tokens: Vec<String>,
    /// Granted scopes.
    pub granted: Vec<String>,
    /// Requests accepted.
    pub requests: u64,
    /// First accepted request.
    pub first_use: Option<String>,
    /// Last accepted request.
    pub last_use: Option<String>,
    /// Scopes required by allowed requests.
    pub used: Vec<ScopeCount>,
    /// Granted scopes no allowed request needed (at the reporting
    /// services).
    pub unused: Vec<String>,
    /// Denied attempts, by the scope that was missing.
    pub denied: Vec<ScopeCount>,
    /// Requests refused after the token had been accepted.
    pub refused: Vec<RefusedCount>,
    /// Checks not itemised (per-token limit of the recorder).
    pub checks_dropped: u64,
    /// Per granted scope: the allowed uses it covered.
    pub coverage: Vec<Coverage>,
    /// The recommended minimal scope set.
    pub recommended: Vec<Recommendation>,
    /// Earliest `iat`.
    pub issued_at: Option<String>,
    /// Latest `exp`.
    pub expires_at: Option<String>,
    /// The token lifetime as issued.
    pub ttl_seconds: Option<i64>,
    /// From issue to the last accepted request, rounded up.
    pub lifetime_used_seconds: Option<i64>,
    /// Renewals (broker join only).
    pub renewals: Option<u64>,
    /// Delegations to this agent (broker join only).
    pub delegations_received: Option<u64>,
    /// With the broker join: `released`, `revoked`, `expired` or `active`.
    /// Without: `revoked_or_released` (refused before its `exp`),
    /// `expired_or_released` (past its `exp`) or `active`.
    pub ended_by: String,
}

/// One orchestrator and task kind.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct KindReport {
    /// Orchestrator.
    pub orch_id: Option<String>,
    /// Task kind.
    pub kind: String,
    /// Task agents of this kind.
    pub tasks: u64,
    /// Of those, seen by a reporting service.
    pub observed_tasks: u64,
    /// Requests accepted.
    pub requests: u64,
    /// Per granted scope: how often granted and used.
    pub scopes: Vec<KindScope>,
    /// Denied attempts by missing scope.
    pub denied: Vec<KindDenied>,
    /// The recommended minimal scope set for the kind.
    pub recommended: Vec<Recommendation>,
}

/// How often one granted scope was used across a kind's tasks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct KindScope {
    /// The granted scope.
    pub scope: String,
    /// In how many tasks it was granted.
    pub granted_in: u64,
    /// In how many of those an allowed request needed it.
    pub used_in: u64,
    /// Allowed checks it covered.
    pub uses: u64,
    /// Identifiers it matched.
    pub matched: Vec<String>,
}

/// Denied attempts for one scope across a kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct KindDenied {
    /// The missing scope.
    pub scope: String,
    /// Denied checks.
    pub count: u64,
    /// Tasks that tried.
    pub tasks: u64,
}

#[cfg(test)]
mod tests;
