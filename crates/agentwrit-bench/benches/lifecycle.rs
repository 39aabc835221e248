//! End-to-end agent lifecycle (create → validate → release → validate-dead)
//! against an in-process development broker (rate limits off), on the
//! blocking and the async client, over plain HTTP and over HTTPS (a
//! throwaway CA; connections warm, so the HTTPS figure is the per-request
//! record cost, not handshakes: the bench checks that the pool kept them
//! few). The broker shares the machine, so each figure includes its CPU.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentwrit_bench::{blocking, lifecycle_async, lifecycle_blocking, nonblocking};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let broker = agentwrit_devbroker::DevBroker::builder()
        .no_rate_limits()
        .start()
        .unwrap();
    let reg = broker
        .register_app("bench", &["read:data:*", "write:data:*"], None)
        .unwrap();
    let counter = AtomicUsize::new(0);
    let mut group = c.benchmark_group("lifecycle");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));

    let app = blocking::App::new(broker.url(), &reg.client_id, reg.client_secret.clone()).unwrap();
    group.bench_function("blocking", |b| {
        b.iter(|| {
            let o =
                lifecycle_blocking(&app, counter.fetch_add(1, Ordering::Relaxed), None).unwrap();
            assert!(o.dead_after_release);
        })
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app =
        nonblocking::App::new(broker.url(), &reg.client_id, reg.client_secret.clone()).unwrap();
    group.bench_function("async", |b| {
        b.iter(|| {
            let i = counter.fetch_add(1, Ordering::Relaxed);
            let o = rt.block_on(lifecycle_async(&app, i, None)).unwrap();
            assert!(o.dead_after_release);
        })
    });

    // The same over HTTPS.
    let pki = agentwrit_devbroker::tls::TestPki::generate().unwrap();
    let tls_broker = agentwrit_devbroker::DevBroker::builder()
        .no_rate_limits()
        .tls(pki.server_config().unwrap())
        .start()
        .unwrap();
    let reg = tls_broker
        .register_app("bench", &["read:data:*", "write:data:*"], None)
        .unwrap();
    let ca = pki.ca_pem().as_bytes();
    let app = blocking::Broker::builder(tls_broker.url())
        .add_root_certificate_pem(ca)
        .build()
        .unwrap()
        .app(&reg.client_id, reg.client_secret.clone())
        .unwrap();
    group.bench_function("blocking_https", |b| {
        b.iter(|| {
            let o =
                lifecycle_blocking(&app, counter.fetch_add(1, Ordering::Relaxed), None).unwrap();
            assert!(o.dead_after_release);
        })
    });
    let app = nonblocking::Broker::builder(tls_broker.url())
        .add_root_certificate_pem(ca)
        .build()
        .unwrap()
        .app(&reg.client_id, reg.client_secret.clone())
        .unwrap();
    group.bench_function("async_https", |b| {
        b.iter(|| {
            let i = counter.fetch_add(1, Ordering::Relaxed);
            let o = rt.block_on(lifecycle_async(&app, i, None)).unwrap();
            assert!(o.dead_after_release);
        })
    });
    // Hundreds of lifecycles, a handful of handshakes: connections pooled.
    let handshakes = tls_broker.tls_handshakes();
    assert!(handshakes <= 8, "{handshakes} TLS handshakes");
    eprintln!("lifecycle over HTTPS: {handshakes} TLS handshakes in all");
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
