//! What the binding layer's tests share: a development broker, its audit
//! trail read as "which tokens are still alive", a loopback proxy that
//! delays the broker's answers, and a port that accepts and never answers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentwrit_bindings::{AuditFilter, Flavour, Operator, Options, Settings};
use agentwrit_devbroker::{DevBroker, DevBrokerHandle};

/// A broker without rate limits and its universal app's credentials.
pub fn broker() -> (DevBrokerHandle, String, String) {
    broker_with(DevBroker::builder().no_rate_limits())
}

pub fn broker_with(
    builder: agentwrit_devbroker::DevBrokerBuilder,
) -> (DevBrokerHandle, String, String) {
    let broker = builder.start().unwrap();
    let app = broker.register_universal_app().unwrap();
    let secret = app.client_secret.expose_secret().to_owned();
    (broker, app.client_id, secret)
}

pub fn settings(timeout: f64) -> Settings {
    Settings::new(Options {
        timeout_secs: Some(timeout),
        ..Options::default()
    })
    .unwrap()
}

/// Every audit event, oldest first.
fn events(op: &Operator) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = op
            .audit_events(AuditFilter {
                limit: Some(500),
                offset: Some(offset),
                ..AuditFilter::default()
            })
            .wait()
            .unwrap();
        let events = page["events"].as_array().unwrap().clone();
        let n = events.len();
        out.extend(events);
        if n < 500 {
            return out;
        }
        offset += 500;
    }
}

/// The hex id after `key` in `detail`.
fn jti_after(detail: &str, key: &str) -> Option<String> {
    let at = detail.find(key)?;
    Some(
        detail[at + key.len()..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect(),
    )
}

/// The broker's whole audit trail, oldest first.
pub fn audit(broker: &DevBrokerHandle) -> Vec<serde_json::Value> {
    events(&operator(broker))
}

fn operator(broker: &DevBrokerHandle) -> Operator {
    Operator::new(
        Flavour::Blocking,
        broker.url(),
        broker.admin_secret().expose_secret(),
        &Settings::default(),
    )
    .unwrap()
}

/// The agents' current tokens (the registration's, or the last renewal's)
/// that the broker has not seen released: what would still be alive.
pub fn unreleased(broker: &DevBrokerHandle) -> BTreeSet<String> {
    let mut current: std::collections::BTreeMap<String, String> = Default::default();
    let mut released = BTreeSet::new();
    for e in events(&operator(broker)) {
        let agent = e["agent_id"].as_str().unwrap_or_default().to_owned();
        let detail = e["detail"].as_str().unwrap_or_default();
        match e["event_type"].as_str().unwrap_or_default() {
            "token_issued" => {
                if let Some(jti) = jti_after(detail, "jti=") {
                    current.insert(agent, jti);
                }
            }
            "token_renewed" => {
                if let Some(jti) = jti_after(detail, "new_jti=") {
                    current.insert(agent, jti);
                }
            }
            "token_released" => {
                if let Some(jti) = jti_after(detail, "jti=") {
                    released.insert(jti);
                }
            }
            _ => {}
        }
    }
    current
        .into_values()
        .filter(|jti| !released.contains(jti))
        .collect()
}

/// How many agents the broker registered.
pub fn issued(broker: &DevBrokerHandle) -> usize {
    events(&operator(broker))
        .iter()
        .filter(|e| e["event_type"] == "agent_registered")
        .count()
}

/// Polls `done` until it holds or `limit` passes (a bounded wait for
/// work the runtime finishes on its own, never a fixed sleep).
pub fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback proxy to `upstream` that holds each of the broker's answers
/// back for `delay`, and reports each request chunk it forwarded.
pub struct DelayProxy {
    pub url: String,
    forwarded: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl DelayProxy {
    pub fn start(upstream: &str, delay: Duration) -> DelayProxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    return;
                };
                let tx = tx.clone();
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(client, server, None, Some(tx)));
                std::thread::spawn(move || pump(s2, c2, Some(delay), None));
            }
        });
        DelayProxy {
            url,
            forwarded: Arc::new(Mutex::new(rx)),
        }
    }

    /// Waits for the next forwarded request chunk.
    pub fn next_request(&self) -> bool {
        self.forwarded
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30))
            .is_ok()
    }

    /// Forgets the chunks reported so far.
    pub fn drain(&self) {
        while self.forwarded.lock().unwrap().try_recv().is_ok() {}
    }
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    delay: Option<Duration>,
    tell: Option<mpsc::Sender<()>>,
) {
    let mut buf = vec![0_u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if let Some(tell) = &tell {
            let _ = tell.send(());
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A loopback port that accepts connections and never answers.
pub struct Silent {
    pub url: String,
    accepted: Arc<AtomicUsize>,
}

impl Silent {
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                count.fetch_add(1, Ordering::SeqCst);
                held.push(conn);
            }
        });
        Silent { url, accepted }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}
