//! Scope-usage evidence end to end: a service with three routes behind
//! `agentwrit-tower` with usage recording on, tokens from a development
//! broker granted so that every case occurs (used, unused, denied,
//! wildcard, delegated, renewed, revoked mid-run, expired, released). The
//! JSON Lines records, the OTLP records a loopback collector received,
//! and `agentwrit usage report --json` (the built binary, with and
//! without `--broker`) all give exactly the expected figures; a
//! truncated record file is named with its line and the rest still read.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use agentwrit_async::wire::RevocationLevel;
use agentwrit_async::{AgentOptions, Broker};
use agentwrit_devbroker::{Clock as _, DevBroker, ManualClock};
use agentwrit_tower::usage::{
    Decision, JsonlSink, OtlpSink, Reader, Recorder, Refusal, UsageRecord,
};
use agentwrit_tower::{AgentAuth, RequireScopes};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::{get, post};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message as _;
use serde_json::Value;
use tower::ServiceExt as _;

use common::BIN;

const ORCH: &str = "orch-u";

/// The service: three routes, three scope templates.
fn service(auth: &AgentAuth) -> Router {
    Router::new()
        .route(
            "/customers/{id}",
            get(|| async { "customer" })
                .route_layer(RequireScopes::new(&["read:data:customer-{id}"])),
        )
        .route(
            "/orders/{id}",
            post(|| async { "order written" })
                .route_layer(RequireScopes::new(&["write:orders:{id}"])),
        )
        .route(
            "/reports/{name}",
            get(|| async { "report" }).route_layer(RequireScopes::new(&["read:reports:{name}"])),
        )
        .layer(auth.layer())
}

async fn call(app: &Router, method: &str, path: &str, token: &str) -> u16 {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    app.clone()
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A loopback OTLP collector keeping every protobuf request.
async fn collector() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let received: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let keep = Arc::clone(&received);
    let app = Router::new().route(
        "/v1/logs",
        post(move |body: Bytes| {
            let keep = Arc::clone(&keep);
            async move {
                keep.lock().unwrap().push(body.to_vec());
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1/logs"), received)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "agentwrit-cli-usage-{name}-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Per jti: the figures a record set gives (requests; scope, decision →
/// count; refusal → count), records of one token added up.
type Figures = BTreeMap<
    String,
    (
        u64,
        BTreeMap<(String, &'static str), u64>,
        BTreeMap<&'static str, u64>,
    ),
>;

fn figures(records: &[UsageRecord]) -> Figures {
    let mut out: Figures = BTreeMap::new();
    for r in records {
        let e = out.entry(r.jti.clone()).or_default();
        e.0 += r.requests;
        for s in &r.scopes {
            *e.1.entry((s.scope.clone(), s.decision.as_str()))
                .or_default() += s.count;
        }
        for f in &r.refused {
            *e.2.entry(f.reason.as_str()).or_default() += f.count;
        }
    }
    out
}

fn report(paths: &[&Path], broker: Option<(&str, &str)>) -> (Value, std::process::Output) {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(["--json", "usage", "report"])
        .args(paths);
    if let Some((url, admin)) = broker {
        cmd.arg("--broker")
            .env("AGENTWRIT_BROKER_URL", url)
            .env("AGENTWRIT_ADMIN_SECRET", admin);
    }
    let out = cmd.output().unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "report is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (doc, out)
}

/// A task of the report, by task id and delegation depth.
fn task<'a>(doc: &'a Value, task_id: &str, depth: u64) -> &'a Value {
    doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == task_id && t["delegation_depth"] == depth)
        .unwrap_or_else(|| panic!("no task {task_id} (depth {depth}) in {doc:#}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn counted(v: &Value) -> Vec<(String, u64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["scope"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn recommended(v: &Value) -> Vec<(String, Vec<String>)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["scope"].as_str().unwrap().to_owned(),
                strings(&r["matched"]),
            )
        })
        .collect()
}

fn own(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_used_denied_in_records_otlp_and_the_report() {
    // One manual clock, an hour behind: the broker, the SDK, the layer and
    // the recorder share it, and every token is over when the report runs.
    let clock = Arc::new(ManualClock::new(
        SystemTime::now() - Duration::from_secs(3600),
    ));
    let dev = DevBroker::builder()
        .clock(clock.clone())
        .no_rate_limits()
        .start()
        .unwrap();
    let admin = dev.admin_secret().expose_secret().to_owned();
    let reg = dev
        .register_app(
            "usage-test",
            &["read:data:*", "write:orders:*", "read:reports:*"],
            None,
        )
        .unwrap();
    let sdk = Broker::builder(dev.url())
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = sdk
        .app(&reg.client_id, reg.client_secret.expose_secret())
        .unwrap();
    let operator = sdk.operator(admin.as_str()).unwrap();

    let dir = scratch("records");
    let (otlp_url, received) = collector().await;
    let recorder_clock = clock.clone();
    let recorder = Recorder::builder()
        .service_name("orders-api")
        .clock(move || recorder_clock.now())
        .sink(JsonlSink::dir(&dir).unwrap())
        .sink(
            OtlpSink::builder(otlp_url)
                .service_name("orders-api")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let auth = AgentAuth::broker(dev.url())
        .max_staleness(Duration::ZERO)
        .clock((*clock).clone())
        .record_usage(recorder.clone())
        .build()
        .unwrap();
    let svc = service(&auth);
    let step = || clock.advance(Duration::from_secs(1));

    // used + unused + denied, renewed, then released.
    let used = app
        .create_agent(
            ORCH,
            "used-1",
            &[
                "read:data:customer-1",
                "write:orders:7",
                "read:reports:daily",
            ],
        )
        .await
        .unwrap();
    let used_jti_0 = used.claims().jti.clone();
    assert_eq!(
        call(
            &svc,
            "GET",
            "/customers/1",
            used.access_token().expose_secret()
        )
        .await,
        200
    );
    step();
    used.renew().await.unwrap();
    let used_token = used.access_token().expose_secret().to_owned();
    let used_jti_1 = used.claims().jti.clone();
    assert_eq!(call(&svc, "GET", "/customers/1", &used_token).await, 200);
    assert_eq!(call(&svc, "POST", "/orders/7", &used_token).await, 200);
    assert_eq!(call(&svc, "GET", "/customers/2", &used_token).await, 403);
    step();

    // wildcard, denied, revoked mid-run.
    let wild = app
        .create_agent(ORCH, "wild-1", &["read:data:*"])
        .await
        .unwrap();
    let wild_token = wild.access_token().expose_secret().to_owned();
    let wild_jti = wild.claims().jti.clone();
    assert_eq!(call(&svc, "GET", "/customers/3", &wild_token).await, 200);
    assert_eq!(call(&svc, "GET", "/customers/4", &wild_token).await, 200);
    assert_eq!(call(&svc, "POST", "/orders/9", &wild_token).await, 403);
    step();
    operator
        .revoke(RevocationLevel::Token, &wild_jti)
        .await
        .unwrap();
    assert_eq!(call(&svc, "GET", "/customers/3", &wild_token).await, 401);

    // delegated: the delegator never calls the service; its delegate does.
    let delegator = app
        .create_agent(
            ORCH,
            "deleg-1",
            &["read:data:customer-5", "read:reports:monthly"],
        )
        .await
        .unwrap();
    let target = app
        .create_agent(ORCH, "target-1", &["read:reports:none"])
        .await
        .unwrap();
    let delegated = delegator
        .delegate(
            &target.agent_id(),
            &["read:data:customer-5"],
            Some(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let delegated_jti = delegated.claims().jti.clone();
    assert_eq!(
        call(
            &svc,
            "GET",
            "/customers/5",
            delegated.access_token().expose_secret()
        )
        .await,
        200
    );

    // released, then refused.
    used.release().await.unwrap();
    assert_eq!(call(&svc, "GET", "/customers/1", &used_token).await, 401);

    // expired: a 30 s token, used once, refused after its TTL.
    let short = app
        .create_agent_with(
            ORCH,
            "exp-1",
            &["read:reports:*"],
            AgentOptions::new().with_max_ttl(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    let short_token = short.access_token().expose_secret().to_owned();
    let short_jti = short.claims().jti.clone();
    assert_eq!(
        call(&svc, "GET", "/reports/weekly", &short_token).await,
        200
    );
    clock.advance(Duration::from_secs(31));
    assert_eq!(
        call(&svc, "GET", "/reports/weekly", &short_token).await,
        401
    );

    // Every other credential ends now.
    delegated.release().await.unwrap();
    delegator.release().await.unwrap();
    target.release().await.unwrap();
    recorder.shutdown().unwrap();

    // 1. The JSON Lines records.
    let mut reader = Reader::new();
    let mut lines = Vec::new();
    reader.read_path(&dir, |r| lines.push(r)).unwrap();
    assert!(reader.errors().is_empty(), "{:?}", reader.errors());
    let s = |x: &str| x.to_owned();
    let expected: Figures = [
        (
            used_jti_0.clone(),
            (
                1,
                [((s("read:data:customer-1"), "allowed"), 1)].into(),
                BTreeMap::new(),
            ),
        ),
        (
            used_jti_1.clone(),
            (
                3,
                [
                    ((s("read:data:customer-1"), "allowed"), 1),
                    ((s("write:orders:7"), "allowed"), 1),
                    ((s("read:data:customer-2"), "denied"), 1),
                ]
                .into(),
                [("revoked", 1)].into(),
            ),
        ),
        (
            wild_jti.clone(),
            (
                3,
                [
                    ((s("read:data:customer-3"), "allowed"), 1),
                    ((s("read:data:customer-4"), "allowed"), 1),
                    ((s("write:orders:9"), "denied"), 1),
                ]
                .into(),
                [("revoked", 1)].into(),
            ),
        ),
        (
            delegated_jti.clone(),
            (
                1,
                [((s("read:data:customer-5"), "allowed"), 1)].into(),
                BTreeMap::new(),
            ),
        ),
        (
            short_jti.clone(),
            (
                1,
                [((s("read:reports:weekly"), "allowed"), 1)].into(),
                [("expired", 1)].into(),
            ),
        ),
    ]
    .into();
    assert_eq!(figures(&lines), expected);
    let delegated_record = lines.iter().find(|r| r.jti == delegated_jti).unwrap();
    assert_eq!(delegated_record.delegation_depth, 1);
    assert_eq!(
        delegated_record.delegated_by.as_deref(),
        Some(delegator.agent_id().as_str())
    );
    assert_eq!(delegated_record.task_id.as_deref(), Some("deleg-1"));
    assert!(lines.iter().all(|r| r.service == "orders-api"));
    assert!(
        lines
            .iter()
            .any(|r| r.scopes.iter().any(|u| u.decision == Decision::Denied))
    );
    assert!(
        lines
            .iter()
            .any(|r| r.refused.iter().any(|u| u.reason == Refusal::Expired))
    );
    // Never a token.
    let raw: String = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    for token in [&used_token, &wild_token, &short_token] {
        assert!(!raw.contains(token.as_str()));
    }
    assert!(!raw.contains("eyJ"));

    // 2. The OTLP records the collector received: the same records.
    let mut otlp = Vec::new();
    let export = dir.join("collector-export.json");
    let mut export_lines = String::new();
    for body in received.lock().unwrap().iter() {
        let request = ExportLogsServiceRequest::decode(body.as_slice()).unwrap();
        export_lines.push_str(&serde_json::to_string(&request).unwrap());
        export_lines.push('\n');
        for r in &request.resource_logs {
            for s in &r.scope_logs {
                for log in &s.log_records {
                    let Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(body),
                    ) = log.body.as_ref().and_then(|b| b.value.clone())
                    else {
                        panic!("no body")
                    };
                    otlp.push(serde_json::from_str::<UsageRecord>(&body).unwrap());
                }
            }
        }
    }
    let sorted = |mut v: Vec<UsageRecord>| {
        v.sort_by(|a, b| (&a.jti, a.seq).cmp(&(&b.jti, b.seq)));
        v
    };
    assert_eq!(sorted(otlp), sorted(lines.clone()));
    let otlp_dir = scratch("otlp");
    let otlp_file = otlp_dir.join("logs.json");
    std::fs::write(&otlp_file, &export_lines).unwrap();
    std::fs::remove_file(&export).ok();

    // 3. The report, without the broker.
    let (doc, out) = report(&[&dir], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(doc["schema"], "agentwrit.usage.report/v1");
    assert_eq!(doc["inputs"]["records"], lines.len());
    assert_eq!(doc["services"][0]["service"], "orders-api");
    assert_eq!(doc["broker_joined"], false);
    assert_eq!(doc["tasks"].as_array().unwrap().len(), 4);
    let t = task(&doc, "used-1", 0);
    assert_eq!(strings(&t["tokens"]).len(), 2);
    assert_eq!(t["requests"], 4);
    assert_eq!(
        counted(&t["used"]),
        own(&[("read:data:customer-1", 2), ("write:orders:7", 1)])
    );
    assert_eq!(strings(&t["unused"]), ["read:reports:daily"]);
    assert_eq!(counted(&t["denied"]), own(&[("read:data:customer-2", 1)]));
    assert_eq!(t["refused"][0]["reason"], "revoked");
    assert_eq!(t["ended_by"], "revoked_or_released"); // no join: refused before its exp
    assert_eq!(
        recommended(&t["recommended"]),
        [
            (s("read:data:customer-1"), vec![]),
            (s("write:orders:7"), vec![])
        ]
    );
    let t = task(&doc, "wild-1", 0);
    assert_eq!(
        counted(&t["used"]),
        own(&[("read:data:customer-3", 1), ("read:data:customer-4", 1)])
    );
    assert!(strings(&t["unused"]).is_empty());
    assert_eq!(counted(&t["denied"]), own(&[("write:orders:9", 1)]));
    assert_eq!(t["coverage"][0]["granted"], "read:data:*");
    assert_eq!(t["coverage"][0]["uses"], 2);
    assert_eq!(
        strings(&t["coverage"][0]["matched"]),
        ["customer-3", "customer-4"]
    );
    assert_eq!(
        recommended(&t["recommended"]),
        [(s("read:data:*"), vec![s("customer-3"), s("customer-4")])]
    );
    let t = task(&doc, "exp-1", 0);
    assert_eq!(counted(&t["used"]), own(&[("read:reports:weekly", 1)]));
    assert_eq!(t["refused"][0]["reason"], "expired");
    assert_eq!(t["ttl_seconds"], 30);
    assert_eq!(t["ended_by"], "expired_or_released"); // no join: release not visible
    assert_eq!(
        recommended(&t["recommended"]),
        [(s("read:reports:weekly"), vec![])]
    );
    let t = task(&doc, "deleg-1", 1);
    assert_eq!(t["agent"], target.agent_id());
    assert_eq!(t["delegated_by"], delegator.agent_id());
    assert_eq!(counted(&t["used"]), own(&[("read:data:customer-5", 1)]));
    assert_eq!(t["ttl_seconds"], 60);

    // The collector's file export gives the same tasks.
    let (from_otlp, out) = report(&[&otlp_file], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(from_otlp["tasks"], doc["tasks"]);
    assert_eq!(from_otlp["kinds"], doc["kinds"]);

    // 4. With the broker's audit trail.
    let (joined, out) = report(&[&dir], Some((dev.url(), &admin)));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(joined["broker_joined"], true);
    // The delegator and the delegate's own registration: issued, never
    // seen by the service (unknown, not unused).
    assert_eq!(joined["tasks"].as_array().unwrap().len(), 6);
    let t = task(&joined, "used-1", 0);
    assert_eq!(t["ended_by"], "released");
    assert_eq!(t["renewals"], 1);
    assert_eq!(t["ttl_seconds"], 300);
    assert_eq!(t["app"], reg.app_id);
    assert_eq!(task(&joined, "wild-1", 0)["ended_by"], "revoked");
    assert_eq!(task(&joined, "exp-1", 0)["ended_by"], "expired");
    assert_eq!(task(&joined, "deleg-1", 1)["ended_by"], "released");
    let unseen = task(&joined, "deleg-1", 0);
    assert_eq!(unseen["observed"], false);
    assert_eq!(unseen["requests"], 0);
    assert_eq!(
        strings(&unseen["granted"]),
        ["read:data:customer-5", "read:reports:monthly"]
    );
    assert_eq!(unseen["ended_by"], "released");
    assert_eq!(task(&joined, "target-1", 0)["observed"], false);
    let kind = joined["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "wild-*")
        .unwrap();
    assert_eq!(kind["orch_id"], ORCH);
    assert_eq!(kind["scopes"][0]["used_in"], 1);
    assert_eq!(
        recommended(&kind["recommended"]),
        [(s("read:data:*"), vec![s("customer-3"), s("customer-4")])]
    );

    // 5. A truncated file beside the records: named, the rest still read.
    let broken = dir.join("zz-broken.jsonl");
    let first_line = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl") && p != &broken)
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_owned()
        })
        .unwrap();
    std::fs::write(
        &broken,
        format!("{first_line}\n{}", &first_line[..first_line.len() / 2]),
    )
    .unwrap();
    let (partial, out) = report(&[&dir], None);
    assert_eq!(out.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:2: truncated", broken.display())),
        "{stderr}"
    );
    assert_eq!(partial["inputs"]["errors"][0]["line"], 2);
    assert_eq!(partial["inputs"]["records"], lines.len() + 1);

    // Every credential is dead at the broker: released, revoked, renewed
    // away or expired.
    for token in [
        used_token.as_str(),
        wild_token.as_str(),
        short_token.as_str(),
        delegated.access_token().expose_secret(),
        delegator.access_token().expose_secret(),
        target.access_token().expose_secret(),
    ] {
        assert!(!sdk.validate(token).await.unwrap().is_valid());
    }
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&otlp_dir).unwrap();
}
