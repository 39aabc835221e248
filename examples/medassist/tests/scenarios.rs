//! Every scenario driven over HTTP against a running MedAssist (its own
//! embedded development broker, the offline planner), with the SSE
//! stream's events asserted in order.

mod common;

use serde_json::{Value, json};

use common::{Running, Trace, start};

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// The wind-down every run with agents ends with: each agent renewed
/// once and its old token refused, the delegated token (if any) and
/// every agent released, every token refused afterwards.
fn assert_wind_down(trace: &Trace, agents: usize, delegated: bool) {
    assert_eq!(trace.of("agent_created").len(), agents);
    assert_eq!(trace.of("renewed").len(), agents);
    let old = trace.of("old_token_checked");
    assert_eq!(old.len(), agents);
    assert!(
        old.iter().all(|e| e["data"]["valid"] == false),
        "old tokens dead after renewal"
    );
    let tokens = agents + usize::from(delegated);
    assert_eq!(trace.of("released").len(), tokens);
    let validated = trace.of("validated");
    assert_eq!(validated.len(), tokens);
    for v in &validated {
        assert_eq!(v["valid"], false, "{v}");
        assert_eq!(v["reason"], "token is invalid or expired");
    }
    // Renewal keeps the SPIFFE id: renewed, released and validated name
    // the agent that was created.
    for created in trace.of("agent_created") {
        let id = &created["agent_id"];
        assert!(trace.of("renewed").iter().any(|e| &e["agent_id"] == id));
        assert!(trace.of("released").iter().any(|e| &e["agent_id"] == id));
    }
    // Release comes after the conversation, validation after release.
    let kinds = trace.kinds();
    let last_answer = kinds.iter().rposition(|k| *k == "planner_answer").unwrap();
    let first_release = kinds.iter().position(|k| *k == "released").unwrap();
    let first_validated = kinds.iter().position(|k| *k == "validated").unwrap();
    let last_release = kinds.iter().rposition(|k| *k == "released").unwrap();
    assert!(last_answer < first_release && last_release < first_validated);
}

async fn audit_for(app: &Running, run_id: &str) -> Value {
    app.get_json(&format!("/api/audit?run={run_id}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_and_labs_spawns_one_clinical_agent_for_one_patient() {
    let app = start().await;
    let trace = app.run_scenario("chart-and-labs").await;
    assert_eq!(
        trace.kinds(),
        [
            "run_started",
            "patient_lookup",
            "step",
            "agent_created",
            "tool_proposed",
            "scope_passed",
            "tool_result",
            "tool_proposed",
            "scope_passed",
            "tool_result",
            "planner_answer",
            "renewed",
            "old_token_checked",
            "released",
            "validated",
            "usage",
            "run_finished"
        ]
    );
    let created = trace.one("agent_created");
    assert_eq!(created["role"], "clinical");
    assert!(
        created["agent_id"]
            .as_str()
            .unwrap()
            .starts_with("spiffe://agentwrit.local/agent/medassist/")
    );
    assert_eq!(
        strs(&created["scope"]),
        [
            "read:records:P-4107",
            "write:records:P-4107",
            "read:labs:P-4107",
            "write:prescriptions:P-4107"
        ]
    );
    let results = trace.of("tool_result");
    assert_eq!(results[0]["tool"], "get_patient_records");
    assert_eq!(results[0]["result"]["name"], "Ines Okafor");
    assert_eq!(results[1]["result"]["labs"][0]["test"], "HbA1c");
    assert_wind_down(&trace, 1, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_gets_a_billing_agent_that_cannot_read_the_chart() {
    let app = start().await;
    let trace = app.run_scenario("billing").await;
    let created = trace.one("agent_created");
    assert_eq!(created["role"], "billing");
    let scope = strs(&created["scope"]);
    assert_eq!(
        scope,
        [
            "read:billing:P-6318",
            "read:insurance:P-6318",
            "write:billing:P-6318"
        ]
    );
    assert!(!scope.iter().any(|s| s.starts_with("read:records")));
    let tools: Vec<&Value> = trace
        .of("scope_passed")
        .iter()
        .map(|e| &e["tool"])
        .collect();
    assert_eq!(
        tools,
        [
            &json!("get_billing_history"),
            &json!("get_insurance_coverage")
        ]
    );
    assert_eq!(
        trace.of("tool_result")[0]["result"]["patient_balance"],
        45.0
    );
    assert!(trace.of("scope_denied").is_empty());
    assert_wind_down(&trace, 1, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prescription_is_written_under_the_clinical_agents_delegation() {
    let app = start().await;
    let trace = app.run_scenario("prescription").await;
    assert_eq!(
        &trace.kinds()[..14],
        [
            "run_started",
            "patient_lookup",
            "step",
            "agent_created", // prescription: interaction check first
            "tool_proposed",
            "scope_passed",
            "tool_result",
            "step",
            "agent_created", // clinical: to delegate the write
            "delegated",
            "tool_proposed",
            "scope_passed",
            "tool_result",
            "planner_answer",
        ]
    );
    let created = trace.of("agent_created");
    assert_eq!(created[0]["role"], "prescription");
    // The prescription agent never holds the write itself.
    assert_eq!(
        strs(&created[0]["scope"]),
        ["read:formulary:*", "read:medications:P-5236"]
    );
    assert_eq!(created[1]["role"], "clinical");
    let delegated = trace.one("delegated");
    assert_eq!(delegated["from_role"], "clinical");
    assert_eq!(delegated["to_role"], "prescription");
    assert_eq!(strs(&delegated["scope"]), ["write:prescriptions:P-5236"]);
    assert_eq!(
        delegated["chain"],
        json!([created[1]["agent_id"], created[0]["agent_id"]]),
        "clinical → prescription"
    );
    let passed = trace.of("scope_passed");
    assert_eq!(passed[1]["tool"], "write_prescription");
    assert_eq!(passed[1]["role"], "prescription (delegated)");
    assert_eq!(strs(&passed[1]["held"]), ["write:prescriptions:P-5236"]);
    let rx = trace.of("tool_result")[1]["result"].clone();
    assert_eq!(
        (
            rx["drug"].as_str(),
            rx["dose"].as_str(),
            rx["patient_id"].as_str()
        ),
        (Some("Amoxicillin"), Some("500 mg"), Some("P-5236"))
    );
    let answer = trace.one("planner_answer")["text"].as_str().unwrap();
    assert!(
        answer.contains("Warfarin with Amoxicillin is a moderate interaction"),
        "{answer}"
    );
    assert_wind_down(&trace, 2, true);
    assert!(
        trace
            .of("released")
            .iter()
            .any(|e| e["role"] == "prescription (delegated)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_encounter_spawns_one_agent_per_category() {
    let app = start().await;
    let trace = app.run_scenario("full-encounter").await;
    let roles: Vec<&Value> = trace
        .of("agent_created")
        .iter()
        .map(|e| &e["role"])
        .collect();
    assert_eq!(
        roles,
        [
            &json!("clinical"),
            &json!("billing"),
            &json!("prescription")
        ]
    );
    let ran: Vec<&Value> = trace.of("tool_result").iter().map(|e| &e["tool"]).collect();
    assert_eq!(
        ran,
        [
            &json!("get_patient_records"),
            &json!("get_lab_results"),
            &json!("get_billing_history"),
            &json!("get_insurance_coverage"),
            &json!("check_drug_interactions"),
            &json!("write_prescription")
        ]
    );
    assert_eq!(
        trace.one("delegated")["scope"],
        json!(["write:prescriptions:P-4107"])
    );
    assert!(trace.of("scope_denied").is_empty());
    assert_wind_down(&trace, 3, true);
    assert!(
        trace.one("run_finished")["summary"]
            .as_str()
            .unwrap()
            .starts_with("3 agent(s) created, 6 tool call(s) ran, 0 denied")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_patients_chart_is_denied_and_never_read() {
    let app = start().await;
    let trace = app.run_scenario("cross-patient").await;
    assert_eq!(
        trace.kinds(),
        [
            "run_started",
            "patient_lookup",
            "step",
            "agent_created",
            "tool_proposed",
            "scope_passed",
            "tool_result",
            "tool_proposed",
            "scope_denied",
            "planner_answer",
            "renewed",
            "old_token_checked",
            "released",
            "validated",
            "usage",
            "run_finished"
        ]
    );
    let proposed = trace.of("tool_proposed");
    assert_eq!(proposed[1]["arguments"]["patient_id"], "P-5236");
    let denied = trace.one("scope_denied");
    assert_eq!(denied["tool"], "get_patient_records");
    assert_eq!(strs(&denied["required"]), ["read:records:P-5236"]);
    assert!(strs(&denied["held"]).contains(&"read:records:P-4107"));
    // The usage panel: the clinical agent used its own patient's records
    // scope and was denied the other patient's.
    let usage = &trace.one("usage")["agents"][0];
    assert_eq!(usage["role"], "clinical");
    assert_eq!(usage["used"][0]["scope"], "read:records:P-4107");
    assert_eq!(
        usage["denied"],
        json!([{"scope": "read:records:P-5236", "count": 1}])
    );
    assert!(strs(&usage["granted"]).contains(&"read:records:P-4107"));
    // The other patient's data never reached the trace.
    assert!(!trace.raw.contains("Tomasz Lindqvist"));
    assert_eq!(trace.of("tool_result").len(), 1);
    let answer = trace.one("planner_answer")["text"].as_str().unwrap();
    assert!(
        answer.contains("Not allowed: get_patient_records for P-5236"),
        "{answer}"
    );
    assert_wind_down(&trace, 1, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delegated_write_covers_this_patient_only() {
    let app = start().await;
    let trace = app.run_scenario("cross-patient-prescription").await;
    let denied = trace.of("scope_denied");
    assert_eq!(denied.len(), 2);
    assert_eq!(denied[0]["tool"], "check_drug_interactions");
    assert_eq!(
        strs(&denied[0]["required"]),
        ["read:formulary:*", "read:medications:P-5236"]
    );
    assert_eq!(denied[1]["tool"], "write_prescription");
    assert_eq!(denied[1]["role"], "prescription (delegated)");
    assert_eq!(strs(&denied[1]["required"]), ["write:prescriptions:P-5236"]);
    assert_eq!(strs(&denied[1]["held"]), ["write:prescriptions:P-6318"]);
    let written: Vec<&Value> = trace
        .of("tool_result")
        .into_iter()
        .filter(|e| e["tool"] == "write_prescription")
        .collect();
    assert_eq!(written.len(), 1);
    assert_eq!(written[0]["result"]["patient_id"], "P-6318");
    assert_eq!(written[0]["result"]["drug"], "Melatonin");
    assert_wind_down(&trace, 2, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_patient_stops_before_any_agent_is_minted() {
    let app = start().await;
    let trace = app.run_scenario("unknown-patient").await;
    assert_eq!(
        trace.kinds(),
        ["run_started", "patient_lookup", "halted", "run_finished"]
    );
    assert_eq!(trace.one("patient_lookup")["data"]["found"], false);
    let audit = audit_for(&app, &trace.run_id).await;
    assert_eq!(audit["available"], true);
    assert_eq!(
        audit["events"],
        json!([]),
        "nothing registered at the broker"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_text_and_a_chosen_patient_work_without_a_scenario() {
    let app = start().await;
    let trace = app
        .run(json!({"scenario": "free-text", "text": "What are the labs?", "options": {"patient": "p-6318"}}))
        .await;
    assert_eq!(trace.one("run_started")["scenario"], "free-text");
    assert_eq!(trace.one("tool_result")["result"]["labs"][0]["test"], "TSH");
    // Neither a patient nor a text: refused before a run exists.
    let refused = app
        .http
        .post(app.url("/api/encounters"))
        .json(&json!({"scenario": "free-text", "text": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["error_code"], "invalid_request");
    assert_eq!(problem["detail"], "a patient id and a request are required");
    assert_eq!(problem["instance"], "/api/encounters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_tab_shows_the_runs_broker_events_with_an_intact_chain() {
    let app = start().await;
    let first = app.run_scenario("prescription").await;
    let second = app.run_scenario("billing").await;
    let audit = audit_for(&app, &first.run_id).await;
    assert_eq!(audit["available"], true);
    let chain = &audit["chain"];
    assert_eq!(chain["broken"], Value::Null);
    assert_eq!(chain["from_genesis"], true);
    assert_eq!(chain["checked"], audit["total"]);
    let types: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    for wanted in [
        "agent_registered",
        "token_issued",
        "delegation_created",
        "token_renewed",
        "token_released",
    ] {
        assert!(types.contains(&wanted), "{wanted} missing from {types:?}");
    }
    // Only this run's events: the second run's billing agent is not here.
    let tasks: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["task_id"].as_str())
        .collect();
    assert!(
        tasks
            .iter()
            .all(|t| t.contains(&format!("-{}-", first.run_id))),
        "{tasks:?}"
    );
    let session = app.get_json("/api/audit").await;
    assert!(
        session["events"].as_array().unwrap().len() > audit["events"].as_array().unwrap().len()
    );
    // The server-rendered tab says the same.
    let page = app.get_text(&format!("/audit?run={}", second.run_id)).await;
    assert!(page.contains("data-chain=\"intact\""));
    assert!(page.contains("hash chain intact"));
    assert!(page.contains("token_released"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_offers_every_scenario_and_late_subscribers_replay_the_run() {
    let app = start().await;
    let page = app.get_text("/").await;
    for s in agentwrit_medassist::SCENARIOS {
        assert!(
            page.contains(&format!("data-scenario=\"{}\"", s.id)),
            "{}",
            s.id
        );
    }
    assert!(page.contains("<script src=\"/assets/demo.js\"></script>"));
    assert!(
        app.get_text("/assets/medassist.js")
            .await
            .contains("demo:run-finished")
    );
    let trace = app.run_scenario("cross-patient").await;
    // Reading the finished run again (a late subscriber) gives the same trace.
    let again = app.get_json(&format!("/api/runs/{}", trace.run_id)).await;
    assert_eq!(again["finished"], true);
    assert_eq!(again["events"].as_array().unwrap(), &trace.envelopes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_secret_reaches_the_page_the_stream_or_the_audit_json() {
    let app = start().await;
    let admin = app
        .broker
        .embedded_broker()
        .unwrap()
        .admin_secret()
        .expose_secret()
        .to_owned();
    let mut seen = String::new();
    for s in agentwrit_medassist::SCENARIOS {
        seen.push_str(&app.run_scenario(s.id).await.raw);
    }
    seen.push_str(&app.get_text("/").await);
    seen.push_str(&app.get_text("/api/audit").await);
    seen.push_str(&app.get_text("/audit").await);
    // Every JWT starts with base64url('{"'): no token anywhere.
    assert!(!seen.contains("eyJ"), "a JWT leaked");
    assert!(!seen.contains(&admin));
    assert!(seen.contains("scope_denied") && seen.contains("spiffe://"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_encounters_keep_their_own_agents() {
    let app = start().await;
    let (a, b) = tokio::join!(
        app.run_scenario("full-encounter"),
        app.run_scenario("cross-patient")
    );
    assert_ne!(a.run_id, b.run_id);
    for (trace, agents) in [(&a, 3), (&b, 1)] {
        let created = trace.of("agent_created");
        assert_eq!(created.len(), agents);
        for c in created {
            let id = c["agent_id"].as_str().unwrap();
            assert!(id.contains(&format!("-{}-", trace.run_id)), "{id}");
        }
        assert_wind_down(trace, agents, agents == 3);
    }
    assert_eq!(b.of("scope_denied").len(), 1);
    assert!(a.of("scope_denied").is_empty());
}
