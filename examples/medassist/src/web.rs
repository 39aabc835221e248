//! The web glue: the page, the encounter endpoint, the audit tab. The
//! trace stream, the page shell and its script come from the demo kit.

use agentwrit_async::Operator;
use agentwrit_async::wire::{AuditEvent, AuditQuery};
use agentwrit_demo_kit::{
    PageShell, RunRequest, RunStarted, Runs, Scenario, escape_html, run_routes,
};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{ChainCheck, verify_chain};
use crate::data;
use crate::encounter::{self, Clinic, ORCH_ID, task_prefix};
use crate::scenarios::SCENARIOS;

/// What the handlers share.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub(crate) clinic: Clinic,
    pub(crate) runs: Runs,
    pub(crate) operator: Option<Operator>,
}

/// Every route of the app.
pub(crate) fn router(state: AppState) -> Router {
    let runs = state.runs.clone();
    Router::new()
        .route("/", get(page))
        .route("/audit", get(audit_page))
        .route("/api/encounters", post(start_encounter))
        .route("/api/audit", get(audit_json))
        .route("/api/scenarios", get(scenarios))
        .route("/assets/medassist.js", get(script))
        .with_state(state)
        .merge(run_routes(runs))
}

const INTRO: &str = "<p>Type a request about a patient, or pick a scenario. A planner (an LLM, \
or the offline planner by default) chooses tools. For each tool MedAssist finds or asks the \
broker for an agent of that tool's category (clinical, prescription, billing) whose token is \
scoped to <strong>this patient only</strong>, checks the tool's required scope against that \
token's claims, and runs the tool or answers <code>scope_denied</code>. Prescription writes run \
under a token the clinical agent delegates. At the end every agent is renewed once, released, \
and its token shown dead.</p>";

const SCRIPT: &str = include_str!("medassist.js");

fn page_html() -> String {
    let mut shell = PageShell::new("MedAssist", "/api/encounters")
        .tagline("A clinical assistant whose every tool call runs under a per-patient, per-category AgentWrit credential")
        .intro_html(INTRO)
        .placeholder("Ask about the patient, e.g. \u{201c}Show me her chart and the latest labs\u{201d}");
    for s in SCENARIOS {
        shell = shell.scenario(Scenario::new(s.id, s.label, s.text).option("patient", s.patient));
    }
    let mut patients = String::new();
    for p in data::PATIENTS {
        patients.push_str(&format!(
            "<option value=\"{}\">{}</option>",
            escape_html(p.id),
            escape_html(p.name)
        ));
    }
    let first = data::PATIENTS.first().map_or("", |p| p.id);
    let controls = format!(
        "<label>Patient <input data-option name=\"patient\" id=\"patient\" list=\"patients\" \
         value=\"{}\" size=\"8\" autocomplete=\"off\"></label><datalist id=\"patients\">{patients}</datalist>",
        escape_html(first)
    );
    let sections = "<section class=\"audit\" id=\"audit\"><h2>Audit tab</h2>\
        <p id=\"audit-status\" data-chain=\"none\">After a run, the broker's audit events for it appear here, \
        with the hash chain checked. <a href=\"/audit\">The whole session's trail</a></p>\
        <table id=\"audit-events\"></table></section>\
        <script src=\"/assets/medassist.js\"></script>";
    shell
        .controls_html(&controls)
        .sections_html(sections)
        .footer_html("MedAssist is a demo: the patients and their data are invented. Built on agentwrit-async.")
        .render()
}

async fn page() -> Html<String> {
    Html(page_html())
}

async fn script() -> Response {
    ([("content-type", "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

async fn scenarios() -> Json<serde_json::Value> {
    Json(json!(SCENARIOS))
}

async fn start_encounter(
    State(state): State<AppState>,
    Json(request): Json<RunRequest>,
) -> Response {
    // A scenario id alone is enough: its patient and text fill the gaps.
    let known = crate::scenarios::scenario(&request.scenario);
    let patient = request
        .option_str("patient")
        .filter(|p| !p.trim().is_empty())
        .or(known.map(|s| s.patient))
        .unwrap_or_default()
        .to_owned();
    let text = if request.text.trim().is_empty() {
        known.map_or_else(String::new, |s| s.text.to_owned())
    } else {
        request.text.clone()
    };
    if patient.trim().is_empty() || text.trim().is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "a patient id and a request are required"})),
        )
            .into_response();
    }
    let (run_id, bus) = state.runs.start();
    let scenario = if request.scenario.is_empty() {
        "free-text".to_owned()
    } else {
        request.scenario.clone()
    };
    let clinic = state.clinic.clone();
    let id = run_id.clone();
    tokio::spawn(async move {
        encounter::run(&clinic, &bus, &id, &scenario, &patient, &text).await;
    });
    (StatusCode::ACCEPTED, Json(RunStarted::new(&run_id))).into_response()
}

/// `?run=run-3` narrows the audit tab to one encounter.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditParams {
    run: Option<String>,
}

/// The audit tab's data.
#[derive(Debug, Serialize)]
pub(crate) struct AuditView {
    /// Whether the operator API is available.
    available: bool,
    /// Why not, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    /// The run shown, or `None` for the whole session.
    run: Option<String>,
    /// The check of the whole trail (every event the broker holds).
    chain: Option<ChainCheck>,
    /// Events in the trail.
    total: usize,
    /// This session's (or this run's) events, oldest first.
    events: Vec<AuditEvent>,
}

fn belongs(event: &AuditEvent, prefix: &str) -> bool {
    event
        .task_id
        .as_deref()
        .is_some_and(|t| t.starts_with(prefix))
        || event
            .agent_id
            .as_deref()
            .is_some_and(|a| a.contains(&format!("/{ORCH_ID}/{prefix}")))
}

async fn audit_view(state: &AppState, run: Option<String>) -> AuditView {
    let Some(operator) = &state.operator else {
        return AuditView {
            available: false,
            note: Some(
                "no admin secret: set AGENTWRIT_ADMIN_SECRET to read the audit trail".into(),
            ),
            run,
            chain: None,
            total: 0,
            events: Vec::new(),
        };
    };
    match operator
        .audit_events_all(AuditQuery::new().limit(1000))
        .await
    {
        Ok(all) => {
            let chain = verify_chain(&all);
            let prefix = task_prefix(&state.clinic.instance, run.as_deref());
            let events: Vec<AuditEvent> = all
                .iter()
                .filter(|e| belongs(e, &prefix))
                .cloned()
                .collect();
            AuditView {
                available: true,
                note: None,
                run,
                chain: Some(chain),
                total: all.len(),
                events,
            }
        }
        Err(error) => AuditView {
            available: false,
            note: Some(format!("reading the audit trail failed: {error}")),
            run,
            chain: None,
            total: 0,
            events: Vec::new(),
        },
    }
}

async fn audit_json(
    State(state): State<AppState>,
    Query(params): Query<AuditParams>,
) -> Json<AuditView> {
    Json(audit_view(&state, params.run).await)
}

fn chain_line(view: &AuditView) -> (String, &'static str) {
    match &view.chain {
        None => (
            view.note
                .clone()
                .unwrap_or_else(|| "audit trail unavailable".into()),
            "none",
        ),
        Some(check) => match &check.broken {
            None => (
                format!(
                    "hash chain intact: {} events checked{}",
                    check.checked,
                    if check.from_genesis {
                        " from the first"
                    } else {
                        ""
                    }
                ),
                "intact",
            ),
            Some(b) => (
                format!("hash chain BROKEN at {} (#{}): {}", b.id, b.index, b.reason),
                "broken",
            ),
        },
    }
}

async fn audit_page(
    State(state): State<AppState>,
    Query(params): Query<AuditParams>,
) -> Html<String> {
    let view = audit_view(&state, params.run).await;
    let (line, chain) = chain_line(&view);
    let badge = if chain == "intact" { "ok" } else { "deny" };
    let scope = view
        .run
        .as_deref()
        .map_or_else(|| "this session".to_owned(), |r| format!("run {r}"));
    let mut rows = String::new();
    for e in &view.events {
        let short = e.hash.get(..12).unwrap_or(&e.hash);
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
            escape_html(&e.id),
            escape_html(e.timestamp.as_str()),
            escape_html(&e.event_type),
            escape_html(e.outcome.as_deref().unwrap_or("")),
            escape_html(e.agent_id.as_deref().unwrap_or("")),
            escape_html(&e.detail),
            escape_html(short),
        ));
    }
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MedAssist audit tab</title>
<link rel="stylesheet" href="/assets/demo.css"></head>
<body><header><h1>MedAssist: audit tab</h1><p class="tagline">The broker's audit trail for {scope}, read with the operator API</p></header>
<main><p><a href="/">Back to the encounter</a></p>
<p id="audit-status" data-chain="{chain}"><span class="badge {badge}">{line}</span> ({total} events in the broker's trail, {shown} for {scope})</p>
<table id="audit-events"><tr><th>id</th><th>time</th><th>event</th><th>outcome</th><th>agent</th><th>detail</th><th>hash</th></tr>
{rows}</table></main></body></html>
"#,
        scope = escape_html(&scope),
        chain = chain,
        badge = badge,
        line = escape_html(&line),
        total = view.total,
        shown = view.events.len(),
        rows = rows,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_a_button_per_scenario_with_its_patient() {
        let html = page_html();
        for s in SCENARIOS {
            assert!(
                html.contains(&format!("data-scenario=\"{}\"", s.id)),
                "{}",
                s.id
            );
            assert!(html.contains(&format!("&quot;patient&quot;:&quot;{}&quot;", s.patient)));
        }
        assert!(html.contains("name=\"patient\""));
        assert!(html.contains("/assets/medassist.js"));
    }

    #[test]
    fn the_tab_says_intact_broken_or_unavailable() {
        let mut view = AuditView {
            available: true,
            note: None,
            run: None,
            chain: Some(ChainCheck {
                checked: 3,
                from_genesis: true,
                broken: None,
            }),
            total: 3,
            events: Vec::new(),
        };
        assert_eq!(
            chain_line(&view),
            (
                "hash chain intact: 3 events checked from the first".to_owned(),
                "intact"
            )
        );
        view.chain = Some(ChainCheck {
            checked: 3,
            from_genesis: true,
            broken: Some(crate::audit::ChainBreak {
                index: 1,
                id: "evt-000002".into(),
                reason: "hash does not match the event's contents".into(),
            }),
        });
        let (line, state) = chain_line(&view);
        assert_eq!(state, "broken");
        assert!(
            line.starts_with("hash chain BROKEN at evt-000002"),
            "{line}"
        );
        view.chain = None;
        view.note = Some("no admin secret".into());
        assert_eq!(chain_line(&view), ("no admin secret".to_owned(), "none"));
    }

    #[test]
    fn events_belong_to_a_run_by_task_or_agent_id() {
        let mut e = AuditEvent::default();
        e.task_id = Some("ma1-run-1-clinical".into());
        assert!(belongs(&e, "ma1-run-1-"));
        assert!(!belongs(&e, "ma1-run-10-"));
        let mut d = AuditEvent::default();
        d.agent_id = Some("spiffe://agentwrit.local/agent/medassist/ma1-run-1-billing/ab12".into());
        assert!(belongs(&d, "ma1-run-1-"));
        assert!(belongs(&d, "ma1-"));
        assert!(!belongs(&d, "ma2-"));
    }
}
