use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;
use crate::MemorySink;
use std::time::UNIX_EPOCH;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn token_for(jti: &str) -> String {
    let payload = URL_SAFE_NO_PAD.encode(format!("{{\"jti\":\"{jti}\"}}"));
    format!("eyJhbGciOiJFZERTQSJ9.{payload}.c2ln")
}

fn clock() -> (
    Arc<Mutex<SystemTime>>,
    impl Fn() -> SystemTime + Send + Sync + 'static,
) {
    let now = Arc::new(Mutex::new(at(1_000)));
    let c = Arc::clone(&now);
    (now, move || *lock(&c))
}

fn facts(jti: &str, exp: u64) -> TokenFacts {
    TokenFacts::new(
        jti,
        format!("spiffe://d/agent/o/t/{jti}"),
        at(1_000),
        at(exp),
    )
    .with_granted(["read:data:*", "write:data:order-1"])
}

#[test]
fn unverified_jti_reads_only_a_payload_jti() {
    assert_eq!(unverified_jti(&token_for("abc")).as_deref(), Some("abc"));
    assert_eq!(unverified_jti("garbage"), None);
    assert_eq!(unverified_jti("a.!!!.c"), None);
}

#[test]
fn a_forged_token_with_a_known_jti_is_not_attributed() {
    let sink = MemorySink::new();
    let r = Recorder::builder().sink(sink.clone()).build().unwrap();
    let real = token_for("j1");
    r.request(&real, "j1", || facts("j1", 9_999_999_999));
    let forged = format!("{real}x");
    r.refused(&forged);
    assert_eq!(r.counters().refused_unknown, 1);
    r.refused(&real);
    assert_eq!(r.counters().refused_revoked, 1);
    r.flush().unwrap();
    let rec = &sink.records()[0];
    assert_eq!(rec.refused.len(), 1);
    assert_eq!(rec.refused[0].count, 1);
}

#[test]
fn capacity_writes_out_the_soonest_expiring_token() {
    let sink = MemorySink::new();
    let (_now, c) = clock();
    let r = Recorder::builder()
        .capacity(1)
        .clock(c)
        .sink(sink.clone())
        .build()
        .unwrap();
    // Capacity 1 over 16 shards is one token per shard: use jtis that
    // land in one shard.
    let jtis: Vec<String> = (0..200)
        .map(|i| format!("j{i}"))
        .filter(|j| {
            let mut h: u32 = 0x811c_9dc5;
            for &b in j.as_bytes() {
                h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
            }
            (h as usize).is_multiple_of(SHARDS)
        })
        .take(2)
        .collect();
    r.request(&token_for(&jtis[0]), &jtis[0], || facts(&jtis[0], 2_000));
    r.request(&token_for(&jtis[1]), &jtis[1], || facts(&jtis[1], 3_000));
    assert_eq!(r.counters().tokens_evicted, 1);
    r.flush().unwrap();
    let records = sink.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].jti, jtis[0]);
    assert_eq!(records[0].reason, EndReason::Capacity);
    assert_eq!(records[1].reason, EndReason::Flush);
}

#[test]
fn per_token_pairs_are_bounded_and_counted() {
    let sink = MemorySink::new();
    let r = Recorder::builder()
        .max_scopes_per_token(2)
        .sink(sink.clone())
        .build()
        .unwrap();
    r.request(&token_for("j"), "j", || facts("j", 9_999_999_999));
    for i in 0..5 {
        r.check("j", &[format!("read:data:c{i}")], true);
    }
    r.flush().unwrap();
    let rec = &sink.records()[0];
    assert_eq!(rec.scopes.len(), 2);
    assert_eq!(rec.checks_dropped, 3);
}

#[test]
fn flush_writes_deltas_and_expiry_forgets() {
    let sink = MemorySink::new();
    let (now, c) = clock();
    let r = Recorder::builder()
        .grace(Duration::from_secs(10))
        .clock(c)
        .sink(sink.clone())
        .build()
        .unwrap();
    let t = token_for("j");
    r.request(&t, "j", || facts("j", 1_100));
    r.check("j", &["read:data:a"], true);
    r.flush().unwrap();
    r.flush().unwrap(); // nothing new: no record
    r.request(&t, "j", || facts("j", 1_100));
    *lock(&now) = at(1_105);
    r.refused(&t);
    *lock(&now) = at(1_111);
    r.flush().unwrap();
    let records = sink.records();
    assert_eq!(records.len(), 2);
    assert_eq!((records[0].seq, records[0].requests), (0, 1));
    assert_eq!((records[1].seq, records[1].requests), (1, 1));
    assert_eq!(records[1].reason, EndReason::Expired);
    assert_eq!(records[1].refused[0].reason, Refusal::Expired);
    assert_eq!(r.tracked_tokens(), 0);
}

#[test]
fn shutdown_writes_everything_and_closes() {
    let sink = MemorySink::new();
    let r = Recorder::builder().sink(sink.clone()).build().unwrap();
    r.request(&token_for("j"), "j", || facts("j", 9_999_999_999));
    r.shutdown().unwrap();
    assert_eq!(sink.records()[0].reason, EndReason::Shutdown);
    assert!(matches!(r.flush(), Err(UsageError::Closed)));
}

#[test]
fn dropping_the_last_clone_writes_the_records() {
    let sink = MemorySink::new();
    let r = Recorder::builder().sink(sink.clone()).build().unwrap();
    let clone = r.clone();
    r.request(&token_for("j"), "j", || facts("j", 9_999_999_999));
    drop(r);
    assert!(sink.records().is_empty());
    drop(clone);
    assert_eq!(sink.records().len(), 1);
}
