//! The web glue: the page, the encounter endpoint, the audit tab. The
//! trace stream, the page shell and its script come from the demo kit.

use agentwrit_async::Operator;
use agentwrit_async::wire::{AuditEvent, AuditQuery};
use agentwrit_demo_kit::{
    PageShell, Problem, RunRequest, RunStarted, Runs, Scenario, document, run_routes,
};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use maud::{Markup, html};
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

fn intro() -> Markup {
    html! {
        p {
            "Type a request about a patient, or pick a scenario. A planner (an LLM, or the \
            offline planner by default) chooses tools. For each tool MedAssist finds or asks the \
            broker for an agent of that tool's category (clinical, prescription, billing) whose \
            token is scoped to " strong { "this patient only" } ", checks the tool's required \
            scope against that token's claims, and runs the tool or answers "
            code { "scope_denied" } ". Prescription writes run under a token the clinical agent \
            delegates. At the end every agent is renewed once, released, and its token shown dead."
        }
    }
}

const SCRIPT: &str = include_str!("medassist.js");

fn page_html() -> Markup {
    let mut shell = PageShell::new("MedAssist", "/api/encounters")
        .tagline("A clinical assistant whose every tool call runs under a per-patient, per-category AgentWrit credential")
        .intro(intro())
        .placeholder("Ask about the patient, e.g. \u{201c}Show me her chart and the latest labs\u{201d}");
    for s in SCENARIOS {
        shell = shell.scenario(Scenario::new(s.id, s.label, s.text).option("patient", s.patient));
    }
    let first = data::PATIENTS.first().map_or("", |p| p.id);
    shell
        .controls(html! {
            label {
                "Patient "
                input data-option name="patient" #patient list="patients" value=(first) size="8" autocomplete="off";
            }
            datalist #patients {
                @for p in data::PATIENTS {
                    option value=(p.id) { (p.name) }
                }
            }
        })
        .sections(html! {
            section.audit #audit {
                h2 { "Audit tab" }
                p #audit-status data-chain=(ChainState::None.as_str()) {
                    "After a run, the broker's audit events for it appear here, with the hash \
                    chain checked. "
                    a href="/audit" { "The whole session's trail" }
                }
                table #audit-events {}
            }
            script src="/assets/medassist.js" {}
        })
        .footer(html! {
            "MedAssist is a demo: the patients and their data are invented. Built on agentwrit-async."
        })
        .render()
}

async fn page() -> Html<String> {
    Html(page_html().into_string())
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
        return Problem::invalid_request("a patient id and a request are required")
            .at("/api/encounters")
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
    /// The verdict on the trail, for the page: `intact`, `broken` or
    /// `none` (no trail to check).
    state: ChainState,
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
            state: ChainState::None,
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
                state: ChainState::of(Some(&chain)),
                chain: Some(chain),
                total: all.len(),
                events,
            }
        }
        Err(error) => AuditView {
            available: false,
            note: Some(format!("reading the audit trail failed: {error}")),
            run,
            state: ChainState::None,
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

/// What the audit tab says of the hash chain; its `data-chain` value is
/// [`ChainState::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ChainState {
    /// Every event's hash matches, each linked to the one before.
    Intact,
    /// The check found a break.
    Broken,
    /// No trail to check (no admin secret, or the broker could not be read).
    None,
}

impl ChainState {
    fn of(check: Option<&ChainCheck>) -> ChainState {
        match check {
            None => ChainState::None,
            Some(check) if check.broken.is_some() => ChainState::Broken,
            Some(_) => ChainState::Intact,
        }
    }

    /// The page's `data-chain` value (as the JSON's `state`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ChainState::Intact => "intact",
            ChainState::Broken => "broken",
            ChainState::None => "none",
        }
    }

    /// The badge's class.
    fn badge(self) -> &'static str {
        match self {
            ChainState::Intact => "badge ok",
            ChainState::Broken | ChainState::None => "badge deny",
        }
    }
}

fn chain_line(view: &AuditView) -> String {
    match &view.chain {
        None => view
            .note
            .clone()
            .unwrap_or_else(|| "audit trail unavailable".into()),
        Some(check) => match &check.broken {
            None => format!(
                "hash chain intact: {} events checked{}",
                check.checked,
                if check.from_genesis {
                    " from the first"
                } else {
                    ""
                }
            ),
            Some(b) => format!("hash chain BROKEN at {} (#{}): {}", b.id, b.index, b.reason),
        },
    }
}

fn audit_html(view: &AuditView) -> Markup {
    let scope = view
        .run
        .as_deref()
        .map_or_else(|| "this session".to_owned(), |r| format!("run {r}"));
    let body = html! {
        header {
            h1 { "MedAssist: audit tab" }
            p.tagline { "The broker's audit trail for " (scope) ", read with the operator API" }
        }
        main {
            p { a href="/" { "Back to the encounter" } }
            p #audit-status data-chain=(view.state.as_str()) {
                span class=(view.state.badge()) { (chain_line(view)) }
                " (" (view.total) " events in the broker's trail, " (view.events.len()) " for " (scope) ")"
            }
            table #audit-events {
                tr {
                    @for h in ["id", "time", "event", "outcome", "agent", "detail", "hash"] {
                        th { (h) }
                    }
                }
                @for e in &view.events {
                    tr {
                        td { (e.id) }
                        td { (e.timestamp.as_str()) }
                        td { (e.event_type) }
                        td { (e.outcome.as_deref().unwrap_or("")) }
                        td { (e.agent_id.as_deref().unwrap_or("")) }
                        td { (e.detail) }
                        td { code { (e.hash.get(..12).unwrap_or(&e.hash)) } }
                    }
                }
            }
        }
    };
    document("MedAssist audit tab", body)
}

async fn audit_page(
    State(state): State<AppState>,
    Query(params): Query<AuditParams>,
) -> Html<String> {
    let view = audit_view(&state, params.run).await;
    Html(audit_html(&view).into_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_a_button_per_scenario_with_its_patient() {
        let html = page_html().into_string();
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
        let check = ChainCheck {
            checked: 3,
            from_genesis: true,
            broken: None,
        };
        let mut view = AuditView {
            available: true,
            note: None,
            run: None,
            state: ChainState::of(Some(&check)),
            chain: Some(check),
            total: 3,
            events: Vec::new(),
        };
        assert_eq!(view.state, ChainState::Intact);
        assert_eq!(
            chain_line(&view),
            "hash chain intact: 3 events checked from the first"
        );
        let mut e = AuditEvent::default();
        e.id = "evt-000001".into();
        e.detail = "<script>alert(1)</script>".into();
        view.events.push(e);
        let html = audit_html(&view).into_string();
        assert!(html.contains(r#"data-chain="intact""#), "{html}");
        assert!(html.contains(r#"<span class="badge ok">hash chain intact"#));
        // Text from the broker is escaped by the template.
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>alert"));

        let broken = ChainCheck {
            checked: 3,
            from_genesis: true,
            broken: Some(crate::audit::ChainBreak {
                index: 1,
                id: "evt-000002".into(),
                reason: "hash does not match the event's contents".into(),
            }),
        };
        view.state = ChainState::of(Some(&broken));
        view.chain = Some(broken);
        assert_eq!(view.state, ChainState::Broken);
        let line = chain_line(&view);
        assert!(
            line.starts_with("hash chain BROKEN at evt-000002"),
            "{line}"
        );
        assert!(
            audit_html(&view)
                .into_string()
                .contains(r#"data-chain="broken""#)
        );
        view.chain = None;
        view.state = ChainState::of(None);
        view.note = Some("no admin secret".into());
        assert_eq!(view.state, ChainState::None);
        assert_eq!(chain_line(&view), "no admin secret");
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["state"], "none");
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
