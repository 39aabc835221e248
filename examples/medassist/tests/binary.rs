//! The binary as a user starts it: against a broker given in the
//! environment, it says where to open, serves a run, and nothing it logs
//! (at trace level), serves or streams contains a secret or a token.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use agentwrit_devbroker::DevBroker;
use serde_json::Value;

#[test]
fn runs_against_a_configured_broker_and_leaks_nothing() {
    let broker = DevBroker::start().unwrap();
    let admin = broker.admin_secret().expose_secret().to_owned();
    let ceiling = agentwrit_medassist::app_ceiling();
    let reg = broker
        .register_app("medassist-given", &ceiling, None)
        .unwrap();
    let client_secret = reg.client_secret.expose_secret().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_agentwrit-medassist"))
        .args(["--port", "0"])
        .env("AGENTWRIT_BROKER_URL", broker.url())
        .env("AGENTWRIT_CLIENT_ID", &reg.client_id)
        .env("AGENTWRIT_CLIENT_SECRET", &client_secret)
        .env("AGENTWRIT_ADMIN_SECRET", &admin)
        .env("MEDASSIST_LOG", "trace")
        .env_remove("LLM_BASE_URL")
        .env_remove("LLM_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    let url = loop {
        let mut line = String::new();
        assert_ne!(
            stdout.read_line(&mut line).unwrap(),
            0,
            "exited early: {banner}"
        );
        banner.push_str(&line);
        if let Some(url) = line.trim().strip_prefix("MedAssist: open ") {
            break url.to_owned();
        }
    };
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(
        banner.contains(&format!("broker {} with the given app", broker.url())),
        "{banner}"
    );
    assert!(banner.contains("planner offline"));

    let served = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let http = reqwest::Client::new();
            let started: Value = http
                .post(format!("{url}api/encounters"))
                .json(&serde_json::json!({"scenario": "full-encounter"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let events = started["events_url"].as_str().unwrap();
            let trace = http
                .get(format!("{}{}", url.trim_end_matches('/'), events))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(trace.contains("\"kind\":\"delegated\""));
            assert!(trace.contains("\"kind\":\"run_finished\""));
            let audit = http
                .get(format!("{url}api/audit"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(audit.contains("\"broken\":null"), "{audit}");
            let page = http.get(&url).send().await.unwrap().text().await.unwrap();
            format!("{trace}{audit}{page}")
        });

    child.kill().unwrap();
    child.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("step=\"create_agent.register\"") && stderr.contains("step=\"delegate\""),
        "trace logging was on, so the SDK's request spans are in the log: {stderr}"
    );
    let everything = format!("{banner}{rest}{stderr}{served}");
    for (what, secret) in [
        ("client secret", client_secret.as_str()),
        ("admin secret", admin.as_str()),
    ] {
        assert!(!everything.contains(secret), "the {what} leaked");
    }
    assert!(!everything.contains("eyJ"), "a JWT leaked");
}
