//! The guardrails' share of the per-trust budget (issue 2: load + render + check under 20 ms per trust, all 199
//! open English trusts under 1 s). Checks the fixture EPR estate once, and 199 copies of it, one per trust
//! (each with its own subscription id, as a fleet has).
//!
//! Run: `cargo bench --bench check`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use trustprint::check::{check, Settings};
use trustprint::model::Resource;

fn estate() -> Vec<Resource> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/resources/epr-estate.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture estate");
    serde_json::from_str(&text).expect("fixture estate parses")
}

fn fleet(trusts: usize) -> Vec<Vec<Resource>> {
    let base = serde_json::to_string(&estate()).expect("serialises");
    (0..trusts)
        .map(|i| {
            let text = base.replace(
                "00000000-0000-0000-0000-000000000000",
                &format!("00000000-0000-0000-0000-{i:012}"),
            );
            serde_json::from_str(&text).expect("copy parses")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let settings = Settings::default();
    let one = estate();
    c.bench_function("check one trust", |b| {
        b.iter(|| black_box(check(black_box(&one), &settings)))
    });
    let trusts = fleet(199);
    c.bench_function("check 199 trusts", |b| {
        b.iter(|| {
            for resources in &trusts {
                black_box(check(black_box(resources), &settings));
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
