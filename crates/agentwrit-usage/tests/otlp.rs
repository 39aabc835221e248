//! The OTLP sink against a loopback collector: an axum server on
//! 127.0.0.1:0 that keeps every `POST /v1/logs` it receives. The records
//! it decodes (protobuf and JSON) are exactly those the recorder wrote to
//! a memory sink beside it, and the collector's JSON reads back through
//! [`Reader`] as the same records.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use agentwrit_usage::{
    MemorySink, OTLP_EVENT_NAME, OtlpProtocol, OtlpSink, Reader, Recorder, TokenFacts, UsageRecord,
};
use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use base64::Engine as _;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message as _;

type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A collector on a loopback port; the runtime lives as long as it does.
struct Collector {
    url: String,
    received: Received,
    _runtime: tokio::runtime::Runtime,
}

fn collector() -> Collector {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let received: Received = Arc::default();
    let keep = Arc::clone(&received);
    let app = Router::new().route(
        "/v1/logs",
        post(move |headers: HeaderMap, body: Bytes| {
            let keep = Arc::clone(&keep);
            async move {
                let ct = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                keep.lock().unwrap().push((ct, body.to_vec()));
                ""
            }
        }),
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await });
    Collector {
        url: format!("http://{addr}/v1/logs"),
        received,
        _runtime: runtime,
    }
}

fn token_for(jti: &str) -> String {
    let payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{{\"jti\":\"{jti}\"}}"));
    format!("eyJhbGciOiJFZERTQSJ9.{payload}.c2ln")
}

/// Records a small scenario: two tokens, allowed and denied checks.
fn scenario(recorder: &Recorder) {
    let iat = UNIX_EPOCH + Duration::from_secs(1_795_304_437);
    for (jti, task) in [("j-1", "task-1"), ("j-2", "task-2")] {
        let facts = || {
            TokenFacts::new(
                jti,
                format!("spiffe://agentwrit.local/agent/o/{task}/x"),
                iat,
                iat + Duration::from_secs(300),
            )
            .with_granted(["read:data:*", "write:data:order-1"])
            .with_orch_id("o")
            .with_task_id(task)
        };
        recorder.request(&token_for(jti), jti, facts);
        recorder.check(jti, &["read:data:customer-7"], true);
        recorder.request(&token_for(jti), jti, facts);
        recorder.check(jti, &["delete:data:customer-7"], false);
    }
}

fn by_jti(mut records: Vec<UsageRecord>) -> Vec<UsageRecord> {
    records.sort_by(|a, b| a.jti.cmp(&b.jti));
    records
}

fn bodies_from_protobuf(request: &ExportLogsServiceRequest) -> Vec<UsageRecord> {
    let mut out = Vec::new();
    for resource in &request.resource_logs {
        for scope in &resource.scope_logs {
            for log in &scope.log_records {
                assert_eq!(log.event_name, OTLP_EVENT_NAME);
                let Some(Value::StringValue(body)) =
                    log.body.as_ref().and_then(|b| b.value.clone())
                else {
                    panic!("a log record without a string body");
                };
                let attr = |k: &str| {
                    log.attributes
                        .iter()
                        .find(|a| a.key == k)
                        .and_then(|a| a.value.as_ref())
                        .and_then(|v| v.value.clone())
                };
                let record: UsageRecord = serde_json::from_str(&body).unwrap();
                assert_eq!(
                    attr("agentwrit.jti"),
                    Some(Value::StringValue(record.jti.clone()))
                );
                assert_eq!(attr("agentwrit.requests"), Some(Value::IntValue(2)));
                assert_eq!(attr("agentwrit.denied"), Some(Value::IntValue(1)));
                out.push(record);
            }
        }
    }
    out
}

#[test]
fn protobuf_records_reach_the_collector_exactly() {
    let collector = collector();
    let memory = MemorySink::new();
    let otlp = OtlpSink::builder(&collector.url)
        .service_name("orders-api")
        .header("x-api-key", "k")
        .build()
        .unwrap();
    let recorder = Recorder::builder()
        .service_name("orders-api")
        .sink(memory.clone())
        .sink(otlp)
        .build()
        .unwrap();
    scenario(&recorder);
    recorder.flush().unwrap();

    let received = collector.received.lock().unwrap().clone();
    assert!(!received.is_empty());
    let mut got = Vec::new();
    for (content_type, body) in &received {
        assert_eq!(content_type, "application/x-protobuf");
        let request = ExportLogsServiceRequest::decode(body.as_slice()).unwrap();
        let service = request.resource_logs[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .find(|a| a.key == "service.name")
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value);
        assert_eq!(service, Some(Value::StringValue("orders-api".into())));
        got.extend(bodies_from_protobuf(&request));

        // The collector's file export (OTLP JSON, one request per line)
        // reads back through the report's reader as the same records.
        let line = serde_json::to_string(&request).unwrap();
        let mut reader = Reader::new();
        let mut again = Vec::new();
        reader.read_str("export.json", &line, |r| again.push(r));
        assert!(reader.errors().is_empty(), "{:?}", reader.errors());
        assert_eq!(by_jti(again), by_jti(bodies_from_protobuf(&request)));
    }
    let expected = by_jti(memory.records());
    assert_eq!(expected.len(), 2);
    assert_eq!(by_jti(got), expected);
    assert_eq!(recorder.counters().records_written, 2);
    assert_eq!(recorder.counters().sink_errors, 0);
    recorder.shutdown().unwrap();
}

#[test]
fn json_protocol_is_read_back_by_the_reader() {
    let collector = collector();
    let memory = MemorySink::new();
    let otlp = OtlpSink::builder(&collector.url)
        .protocol(OtlpProtocol::HttpJson)
        .build()
        .unwrap();
    let recorder = Recorder::builder()
        .sink(memory.clone())
        .sink(otlp)
        .build()
        .unwrap();
    scenario(&recorder);
    recorder.shutdown().unwrap();
    let received = collector.received.lock().unwrap().clone();
    let mut got = Vec::new();
    for (content_type, body) in &received {
        assert_eq!(content_type, "application/json");
        let mut reader = Reader::new();
        reader.read_str("posted.json", std::str::from_utf8(body).unwrap(), |r| {
            got.push(r)
        });
        assert!(reader.errors().is_empty(), "{:?}", reader.errors());
    }
    assert_eq!(by_jti(got), by_jti(memory.records()));
}

#[test]
fn a_collector_that_is_down_is_a_flush_error_and_counted() {
    // A port nobody listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let otlp = OtlpSink::builder(format!("http://127.0.0.1:{port}/v1/logs"))
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let recorder = Recorder::builder().sink(otlp).build().unwrap();
    scenario(&recorder);
    let err = recorder.flush().unwrap_err();
    assert!(err.to_string().contains("otlp"), "{err}");
    assert!(recorder.counters().sink_errors >= 1);
}

#[test]
fn bad_endpoints_are_refused_at_build() {
    for bad in ["collector:4318", "ftp://x/v1/logs", "http://"] {
        let err = OtlpSink::builder(bad).build().unwrap_err();
        assert!(err.to_string().contains("OTLP"), "{bad}: {err}");
    }
    // A header value (a backend's API key) never shows in Debug.
    let builder =
        OtlpSink::builder("http://127.0.0.1:4318/v1/logs").header("x-api-key", "s3cr3t-key");
    let shown = format!("{builder:?}");
    assert!(
        shown.contains("x-api-key") && !shown.contains("s3cr3t-key"),
        "{shown}"
    );
    let err = OtlpSink::builder("https://127.0.0.1:4318/v1/logs")
        .add_root_certificate_pem(b"not pem")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
}
