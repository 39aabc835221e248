//! Secrets never reach logs or problem bodies. Its own test binary: the
//! thread-local subscriber must not race with other tests' callsite
//! registration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use agentwrit_tower::AgentAuth;
use support::*;

const SCOPES: [&str; 2] = ["read:data:customer-7291", "write:data:order-4823"];

#[tokio::test]
async fn secrets_absent_from_logs_and_bodies() {
    use std::io::Write;
    #[derive(Clone, Default)]
    struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // Everything on this (current-thread) runtime logs into `buf`.
    let env = env();
    let auth = AgentAuth::broker(env.broker.url())
        .clock(env.clk())
        .max_staleness(Duration::from_secs(5))
        .build()
        .unwrap();
    let base = serve(service(&auth)).await;
    let agent = env
        .app
        .create_agent("order-worker", "process-ord-4823", &SCOPES)
        .await
        .unwrap();
    let bearer = format!("Bearer {}", agent.access_token().expose_secret());
    let token = agent.access_token().expose_secret().to_owned();
    let mut bodies = String::new();
    for path in ["/me", "/customers/9999", "/customers/7291"] {
        bodies += &call(&base, "GET", path, Some(&bearer)).await.body;
    }
    bodies += &call(&base, "GET", "/me", Some(&format!("Bearer {token}x")))
        .await
        .body;
    bodies += &call(&base, "GET", "/me", Some(&token)).await.body;
    drop(_guard);

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("agentwrit.auth"), "{logs}");
    assert!(logs.contains(&agent.claims().jti), "the span names the jti");
    assert!(
        logs.contains("decision=\"insufficient_scope\"")
            || logs.contains("decision=insufficient_scope"),
        "{logs}"
    );
    assert!(
        logs.contains("task_id=process-ord-4823") || logs.contains("task_id=\"process-ord-4823\"")
    );
    // No token, no signature, no payload: not in logs nor in bodies.
    let signature = token.rsplit('.').next().unwrap();
    for haystack in [&logs, &bodies] {
        assert!(!haystack.contains(&token));
        assert!(!haystack.contains(signature));
    }
    assert!(!format!("{auth:?}").contains(&token));
}
