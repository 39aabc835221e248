//! Validate throughput over a reused connection pool, against an
//! in-process development broker (rate limits off): the standalone
//! `validate(broker_url, token)` (its shared pool) and `app.validate`, on
//! the blocking and the async client.

use std::time::Duration;

use agentwrit_bench::{blocking, nonblocking};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let broker = agentwrit_devbroker::DevBroker::builder()
        .no_rate_limits()
        .start()
        .unwrap();
    let reg = broker
        .register_app("bench", &["read:data:*"], None)
        .unwrap();
    let url = broker.url().to_owned();
    let app = blocking::App::new(&url, &reg.client_id, reg.client_secret.clone()).unwrap();
    let agent = app
        .create_agent("bench-orch", "validate", &["read:data:customer-7291"])
        .unwrap();
    let token = agent.access_token();
    let token = token.expose_secret();

    let mut group = c.benchmark_group("validate");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    group.bench_function("blocking/standalone", |b| {
        b.iter(|| assert!(blocking::validate(&url, token).unwrap().is_valid()))
    });
    group.bench_function("blocking/app", |b| {
        b.iter(|| assert!(app.validate(token).unwrap().is_valid()))
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let async_app = nonblocking::App::new(&url, &reg.client_id, reg.client_secret.clone()).unwrap();
    group.bench_function("async/standalone", |b| {
        b.iter(|| {
            assert!(
                rt.block_on(nonblocking::validate(&url, token))
                    .unwrap()
                    .is_valid()
            )
        })
    });
    group.bench_function("async/app", |b| {
        b.iter(|| assert!(rt.block_on(async_app.validate(token)).unwrap().is_valid()))
    });
    group.finish();
    agent.release().unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
