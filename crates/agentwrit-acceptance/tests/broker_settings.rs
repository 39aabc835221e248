//! The `BrokerBuilder` settings no other suite exercises, on both
//! transports: the `User-Agent` every request carries, the response cap,
//! and the clock an app's session decisions follow. (Timeouts, retries and
//! a custom HTTP client are in `faults.rs` and `tls.rs`, the TLS options in
//! `tls.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentwrit_core::wire::AuditQuery;
use agentwrit_core::{Clock, Error, ManualClock};
use agentwrit_devbroker::DevBroker;

/// A one-request HTTP server on loopback: it answers `GET /v1/health` and
/// hands back the request head it read.
struct OneShot {
    url: String,
    head: std::thread::JoinHandle<String>,
}

impl OneShot {
    fn start() -> OneShot {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let head = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let body = r#"{"status":"ok","version":"2.0.0","uptime":1,"db_connected":true,"audit_events_count":0}"#;
            let mut stream = stream;
            write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            head
        });
        OneShot { url, head }
    }

    /// The request head, lower-cased.
    fn head(self) -> String {
        self.head.join().unwrap().to_ascii_lowercase()
    }
}

/// How many times the app logged in, from the broker's audit trail.
fn logins(broker: &agentwrit_devbroker::DevBrokerHandle) -> usize {
    let operator = agentwrit_blocking::Operator::new(broker.url(), broker.admin_secret()).unwrap();
    operator
        .audit_events_all(AuditQuery::new().event_type("app_authenticated"))
        .unwrap()
        .len()
}

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn user_agent_is_sent_on_every_request() {
    let server = OneShot::start();
    let broker = agentwrit_blocking::Broker::builder(&server.url)
        .user_agent("settings-test/1.0")
        .build()
        .unwrap();
    broker.health().unwrap();
    assert!(
        server
            .head()
            .contains("\r\nuser-agent: settings-test/1.0\r\n")
    );

    let server = OneShot::start();
    let broker = agentwrit_async::Broker::builder(&server.url)
        .user_agent("settings-test/1.0")
        .build()
        .unwrap();
    run(broker.health()).unwrap();
    assert!(
        server
            .head()
            .contains("\r\nuser-agent: settings-test/1.0\r\n")
    );

    // The default names the SDK.
    let server = OneShot::start();
    agentwrit_blocking::Broker::new(&server.url)
        .unwrap()
        .health()
        .unwrap();
    let default = format!("\r\nuser-agent: {}\r\n", agentwrit_core::DEFAULT_USER_AGENT);
    assert!(server.head().contains(&default));
    let server = OneShot::start();
    run(agentwrit_async::Broker::new(&server.url).unwrap().health()).unwrap();
    assert!(server.head().contains(&default));
}

/// A response over the cap is a `Decode` error naming the limit; under it,
/// the same answer is read.
fn assert_capped(result: Result<agentwrit_core::wire::HealthResponse, Error>, name: &str) {
    match result {
        Err(Error::Decode {
            status, message, ..
        }) => {
            assert_eq!(status, Some(200), "{name}");
            assert!(message.contains("16-byte limit"), "{name}: {message}");
        }
        other => panic!("{name}: expected Decode for a body over 16 bytes, got {other:?}"),
    }
}

#[test]
fn max_response_bytes_caps_what_is_read() {
    let devbroker = DevBroker::start().unwrap();
    let url = devbroker.url();

    let small = agentwrit_blocking::Broker::builder(url)
        .max_response_bytes(16)
        .build()
        .unwrap();
    assert_capped(small.health(), "blocking");
    let roomy = agentwrit_blocking::Broker::builder(url)
        .max_response_bytes(4096)
        .build()
        .unwrap();
    assert_eq!(roomy.health().unwrap().status, "ok");

    let small = agentwrit_async::Broker::builder(url)
        .max_response_bytes(16)
        .build()
        .unwrap();
    assert_capped(run(small.health()), "async");
    let roomy = agentwrit_async::Broker::builder(url)
        .max_response_bytes(4096)
        .build()
        .unwrap();
    assert_eq!(run(roomy.health()).unwrap().status, "ok");
}

/// With a manual clock moved past the app token's lifetime, the app logs
/// in again before its next call (the broker's own clock has not moved:
/// only the client's decision follows the clock it was given).
#[test]
fn the_clock_drives_the_apps_session() {
    let devbroker = DevBroker::start().unwrap();
    let reg = devbroker.register_universal_app().unwrap();
    let later = Duration::from_secs(2 * 3600);

    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let broker = agentwrit_blocking::Broker::builder(devbroker.url())
        .clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .build()
        .unwrap();
    let app = broker.app(&reg.client_id, &reg.client_secret).unwrap();
    app.create_agent("orch", "t1", &["read:data:*"]).unwrap();
    app.create_agent("orch", "t2", &["read:data:*"]).unwrap();
    assert_eq!(logins(&devbroker), 1, "blocking: one session for two calls");
    clock.advance(later);
    app.create_agent("orch", "t3", &["read:data:*"]).unwrap();
    assert_eq!(
        logins(&devbroker),
        2,
        "blocking: the session expired by the clock"
    );

    // Another app: the broker allows an app three quick logins.
    let reg = devbroker
        .register_app("clock-async", &["read:data:*"], None)
        .unwrap();
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let broker = agentwrit_async::Broker::builder(devbroker.url())
        .clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .build()
        .unwrap();
    let app = broker.app(&reg.client_id, &reg.client_secret).unwrap();
    run(async {
        app.create_agent("orch", "t4", &["read:data:*"])
            .await
            .unwrap();
        app.create_agent("orch", "t5", &["read:data:*"])
            .await
            .unwrap();
    });
    assert_eq!(
        logins(&devbroker),
        3,
        "async: one more session for two calls"
    );
    clock.advance(later);
    run(app.create_agent("orch", "t6", &["read:data:*"])).unwrap();
    assert_eq!(
        logins(&devbroker),
        4,
        "async: the session expired by the clock"
    );
}
