//! The broker's audit trail, read for the report's join: what the broker
//! says each agent was granted, and how its tokens ended.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use agentwrit_wire::AuditEvent;

use super::Row;
use crate::time::parse_millis;

/// What the audit trail says about agents.
pub(super) struct Audit {
    pub(super) events: u64,
    /// agent → registration facts.
    pub(super) registered: BTreeMap<String, Registered>,
    /// jti → agent.
    pub(super) issued: HashMap<String, (String, Option<i64>, Option<String>)>,
    pub(super) renewals: HashMap<String, u64>,
    pub(super) delegations: HashMap<String, u64>,
    pub(super) released: BTreeSet<String>,
    /// (level, target).
    pub(super) revoked: Vec<(String, String)>,
}

#[derive(Default)]
pub(super) struct Registered {
    pub(super) orch_id: Option<String>,
    pub(super) task_id: Option<String>,
    pub(super) app: Option<String>,
    pub(super) scope: Vec<String>,
    pub(super) jtis: Vec<String>,
    pub(super) at_ms: Option<i64>,
    pub(super) ttl_secs: Option<i64>,
}

pub(super) struct TaskBroker {
    pub(super) app: Option<String>,
    pub(super) ttl_secs: Option<i64>,
    pub(super) renewals: u64,
    pub(super) delegations: u64,
    pub(super) released: bool,
    pub(super) revoked: bool,
}

/// `key=value` in an audit detail (value up to a space, comma or `|`).
pub(super) fn detail_value<'a>(detail: &'a str, key: &str) -> Option<&'a str> {
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
pub(super) fn bracket_list(detail: &str) -> Vec<String> {
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
    pub(super) fn from_events(events: &[AuditEvent], since_ms: Option<i64>) -> Audit {
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

    pub(super) fn task_facts(&self, row: &Row) -> TaskBroker {
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
