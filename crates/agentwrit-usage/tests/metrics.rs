//! The counters through the `metrics` facade: the names and labels a
//! dashboard uses, and exactly the figures of `Recorder::counters`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use agentwrit_usage::{METRIC_SCOPE_CHECKS, METRIC_TOKEN_REQUESTS, Recorder, TokenFacts};
use metrics::{Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};

/// A metrics recorder keeping every counter by name and labels.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<BTreeMap<String, Arc<Cell>>>>);

#[derive(Default)]
struct Cell(AtomicU64);

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

fn name(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl metrics::Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let cell = Arc::clone(self.0.lock().unwrap().entry(name(key)).or_default());
        Counter::from_arc(cell)
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

impl Capture {
    fn get(&self, name: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |c| c.0.load(Ordering::Relaxed))
    }
}

#[test]
fn counters_have_low_cardinality_labels_and_exact_figures() {
    let capture = Capture::default();
    let recorder = metrics::with_local_recorder(&capture, || Recorder::builder().build().unwrap());
    let now = SystemTime::now();
    let facts = || {
        TokenFacts::new(
            "j1",
            "spiffe://d/agent/o/t/1",
            now,
            now + Duration::from_secs(60),
        )
        .with_granted(["read:data:*"])
    };
    recorder.request("a.eyJqdGkiOiJqMSJ9.c", "j1", facts);
    recorder.check("j1", &["read:data:a", "read:data:b"], true);
    recorder.request("a.eyJqdGkiOiJqMSJ9.c", "j1", facts);
    recorder.check("j1", &["read:data:a", "write:data:a"], false);
    recorder.refused("garbage");
    recorder.refused("a.eyJqdGkiOiJqMSJ9.c");
    recorder.missing_token();
    recorder.verifier_unavailable();

    let c = recorder.counters();
    assert_eq!(
        (c.requests_allowed, c.checks_allowed, c.checks_denied),
        (2, 2, 1)
    );
    assert_eq!(
        (
            c.refused_unknown,
            c.refused_revoked,
            c.missing_token,
            c.verifier_unavailable
        ),
        (1, 1, 1, 1)
    );
    let checks = |d: &str| capture.get(&format!("{METRIC_SCOPE_CHECKS}{{decision={d}}}"));
    let requests = |d: &str| capture.get(&format!("{METRIC_TOKEN_REQUESTS}{{decision={d}}}"));
    assert_eq!((checks("allowed"), checks("denied")), (2, 1));
    assert_eq!(
        [
            requests("allowed"),
            requests("revoked"),
            requests("invalid"),
            requests("missing_token"),
            requests("unavailable"),
            requests("expired")
        ],
        [2, 1, 1, 1, 1, 0]
    );
    // No label names a token, agent or task.
    for key in capture.0.lock().unwrap().keys() {
        assert!(!key.contains("j1") && !key.contains("spiffe"), "{key}");
    }
}
