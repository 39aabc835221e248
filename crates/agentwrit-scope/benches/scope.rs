//! `scope_is_subset` over the cases the performance targets name:
//! 1×1, 2×2, 1-vs-4-wildcards, denied, 10×10 and 100×100.

use std::hint::black_box;

use agentwrit_scope::scope_is_subset;
use criterion::{Criterion, criterion_group, criterion_main};

fn scopes(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:data:item-{i}")).collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("scope_is_subset");

    let one = ["read:data:customer-7291"];
    group.bench_function("1x1", |b| {
        b.iter(|| scope_is_subset(black_box(&one), black_box(&one)))
    });

    let two_req = ["read:data:customer-7291", "write:data:order-4823"];
    let two_held = ["read:data:customer-7291", "write:data:order-4823"];
    group.bench_function("2x2", |b| {
        b.iter(|| scope_is_subset(black_box(&two_req), black_box(&two_held)))
    });

    let wildcards = [
        "read:data:*",
        "write:data:*",
        "read:analytics:*",
        "write:reports:*",
    ];
    let report = ["write:reports:hospital"];
    group.bench_function("1_vs_4_wildcards", |b| {
        b.iter(|| scope_is_subset(black_box(&report), black_box(&wildcards)))
    });

    let denied = ["read:data:customer-9999"];
    let held = ["read:data:customer-7291", "write:data:order-4823"];
    group.bench_function("denied", |b| {
        b.iter(|| scope_is_subset(black_box(&denied), black_box(&held)))
    });

    let ten = scopes("read", 10);
    let mut ten_held = ten.clone();
    ten_held.reverse();
    group.bench_function("10x10", |b| {
        b.iter(|| scope_is_subset(black_box(&ten), black_box(&ten_held)))
    });

    let hundred = scopes("read", 100);
    let mut hundred_held = hundred.clone();
    hundred_held.reverse();
    group.bench_function("100x100", |b| {
        b.iter(|| scope_is_subset(black_box(&hundred), black_box(&hundred_held)))
    });

    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
