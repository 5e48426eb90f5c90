//! Azure Policy before deployment (issue 15): both built-in initiatives ("UK OFFICIAL and UK NHS", 45
//! policies; "NCSC CAF v3.2", 73 policies) over the fixture EPR estate once, and over 199 copies of it, one
//! per open English trust (each with its own subscription id, as a fleet has). Target: under 2 s for the 199.
//!
//! Run: `cargo bench --bench policy`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use trustprint::model::Resource;
use trustprint::policy::evaluate::{subjects, Compiled};
use trustprint::policy::{evaluate, Assignment, Library};

fn estate() -> Vec<Resource> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/resources/epr-estate.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture estate");
    serde_json::from_str(&text).expect("fixture estate parses")
}

fn fleet(trusts: usize) -> Vec<(String, Vec<Resource>)> {
    let base = serde_json::to_string(&estate()).expect("serialises");
    (0..trusts)
        .map(|i| {
            let sub = format!("00000000-0000-0000-0000-{i:012}");
            let text = base.replace("00000000-0000-0000-0000-000000000000", &sub);
            (sub, serde_json::from_str(&text).expect("copy parses"))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let lib = Library::builtin();
    let initiatives = [
        lib.initiative("uk-nhs").unwrap(),
        lib.initiative("ncsc-caf").unwrap(),
    ];
    let one = estate();
    let assignment = Assignment::at("/subscriptions/00000000-0000-0000-0000-000000000000");
    c.bench_function("policy both initiatives one trust", |b| {
        b.iter(|| {
            for i in &initiatives {
                black_box(evaluate(lib, i, &assignment, black_box(&one)).unwrap());
            }
        })
    });
    let trusts = fleet(199);
    let mut group = c.benchmark_group("policy");
    group.sample_size(10);
    // As a fleet run does: each initiative's parameters resolved once, each trust's resources read once.
    group.bench_function("both initiatives 199 trusts", |b| {
        b.iter(|| {
            let compiled: Vec<Compiled> = initiatives
                .iter()
                .map(|i| Compiled::new(lib, i, &assignment).unwrap())
                .collect();
            for (sub, resources) in &trusts {
                let assignment = Assignment::at(format!("/subscriptions/{sub}"));
                let subjects = subjects(black_box(resources));
                for c in &compiled {
                    black_box(c.evaluate(lib, &assignment, &subjects));
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
