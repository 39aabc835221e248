//! Test helpers: start MedAssist on its own embedded broker, run a
//! scenario over HTTP and read the run's SSE stream to its end.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use agentwrit_demo_kit::{BrokerSetup, Planner};
use agentwrit_devbroker::DevBroker;
use agentwrit_medassist::{OfflinePlanner, Server, embedded_broker, serve};
use serde_json::{Value, json};

/// A MedAssist server and the broker it runs on.
pub struct Running {
    pub broker: BrokerSetup,
    pub server: Server,
    pub http: reqwest::Client,
}

/// One run as the SSE stream delivered it.
pub struct Trace {
    pub run_id: String,
    /// The raw `text/event-stream` body.
    pub raw: String,
    /// Each `data:` line, parsed: the kit's envelopes.
    pub envelopes: Vec<Value>,
}

impl Trace {
    pub fn kinds(&self) -> Vec<&str> {
        self.envelopes
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect()
    }

    /// The events (the envelope's `event`) of kind `kind`.
    pub fn of(&self, kind: &str) -> Vec<&Value> {
        self.envelopes
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| &e["event"])
            .collect()
    }

    pub fn one(&self, kind: &str) -> &Value {
        let found = self.of(kind);
        assert_eq!(found.len(), 1, "expected one {kind}: {:?}", self.kinds());
        found[0]
    }
}

pub async fn start() -> Running {
    start_with(Arc::new(OfflinePlanner)).await
}

pub async fn start_with(planner: Arc<dyn Planner>) -> Running {
    let broker = embedded_broker(DevBroker::builder()).unwrap();
    let server = serve(&broker, planner, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    Running {
        broker,
        server,
        http: reqwest::Client::new(),
    }
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.url(), path.trim_start_matches('/'))
    }

    /// Starts scenario `id` with its own patient and text.
    pub async fn run_scenario(&self, id: &str) -> Trace {
        self.run(json!({"scenario": id})).await
    }

    /// POSTs `body` to the encounter endpoint and follows the run's SSE
    /// stream until the server closes it after `run_finished`.
    pub async fn run(&self, body: Value) -> Trace {
        let started: Value = self
            .http
            .post(self.url("/api/encounters"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        let run_id = started["run_id"].as_str().unwrap().to_owned();
        let events_url = started["events_url"].as_str().unwrap();
        let response = self.http.get(self.url(events_url)).send().await.unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "the trace is served as server-sent events"
        );
        // The stream ends after run_finished; the timeout only stops a hung
        // test, it does not stand in for synchronisation.
        let raw = tokio::time::timeout(Duration::from_secs(60), response.text())
            .await
            .expect("the run's stream did not end")
            .unwrap();
        let envelopes: Vec<Value> = raw
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(|data| serde_json::from_str(data.trim()).unwrap())
            .collect();
        let seqs: Vec<u64> = envelopes
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(
            seqs,
            (0..envelopes.len() as u64).collect::<Vec<_>>(),
            "every event once, in order"
        );
        assert_eq!(
            envelopes.last().map(|e| e["kind"].clone()),
            Some(json!("run_finished"))
        );
        Trace {
            run_id,
            raw,
            envelopes,
        }
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}
