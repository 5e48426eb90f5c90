//! Load-stage benchmark: open a blueprint, and load + validate values for one trust and for the 199 open
//! English trusts (values generated from data/nhs/trusts_england_active.csv).
//!
//! Run: `cargo bench --bench load`

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use trustprint::blueprint::{self, SourceSpec};
use trustprint::values::{self, ValuesInput};

/// One values file per open English trust, against tests/fixtures/blueprints/minimal.
fn trust_files(dir: &Path) -> Vec<PathBuf> {
    let csv = include_str!("../data/nhs/trusts_england_active.csv");
    csv.lines()
        .skip(1)
        .enumerate()
        .filter_map(|(i, line)| {
            let (code, rest) = line.split_once(',')?;
            // Names with commas are quoted in the CSV.
            let name = match rest.strip_prefix('"') {
                Some(quoted) => quoted.split_once('"')?.0,
                None => rest.split(',').next()?,
            };
            // A JSON string is a valid YAML double-quoted scalar.
            let name = serde_json::Value::String(name.to_string());
            let path = dir.join(format!("{code}.yaml"));
            let text = format!(
                "trust:\n  name: {name}\n  ods_code: {code}\n  contact: cloud.team@{}.nhs.uk\n\
                 azure:\n  location: {}\n  tenant_id: 0b5e4a7c-3f2d-4d1e-9a8b-{:012x}\n\
                 network:\n  address_space: 10.{}.{}.0/20\n  dns_servers: [10.160.4.10, 10.160.4.11]\n\
                 tier: {}\ncost_centre: {code}-IT-001\nsql:\n  admin_password: {{ env: SQL_ADMIN_PASSWORD }}\n",
                code.to_lowercase(),
                if i % 2 == 0 { "uksouth" } else { "ukwest" },
                i,
                i / 16,
                (i % 16) * 16,
                ["small", "medium", "large"][i % 3],
            );
            std::fs::write(&path, text).ok()?;
            Some(path)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let minimal = SourceSpec::Dir(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/blueprints/minimal"),
    );
    c.bench_function("open minimal blueprint (folder)", |b| {
        b.iter(|| blueprint::open(black_box(&minimal)).map(|bp| bp.templates.len()))
    });
    c.bench_function("open embedded blueprint", |b| {
        b.iter(|| blueprint::open(black_box(&SourceSpec::Embedded)).map(|bp| bp.templates.len()))
    });

    let Ok(bp) = blueprint::open(&minimal) else {
        panic!("the minimal blueprint must open");
    };
    let Ok(dir) = tempfile::tempdir() else {
        panic!("a temporary folder");
    };
    let files = trust_files(dir.path());
    assert_eq!(files.len(), 199, "one values file per open English trust");
    for f in &files {
        let input = ValuesInput {
            file: Some(f.clone()),
            ..Default::default()
        };
        match values::load(&bp.manifest, &input) {
            Ok(_) => {}
            Err(trustprint::values::Error::Invalid { diagnostics, .. }) => {
                panic!("{}", trustprint::diag::render(&diagnostics, false))
            }
            Err(e) => panic!("{}: {e}", f.display()),
        }
    }
    let one = ValuesInput {
        file: Some(files[0].clone()),
        ..Default::default()
    };
    c.bench_function("values::load one trust", |b| {
        b.iter(|| values::load(black_box(&bp.manifest), black_box(&one)).map(|v| v.secrets.len()))
    });
    c.bench_function("values::load 199 trusts", |b| {
        b.iter(|| {
            files
                .iter()
                .map(|f| {
                    let input = ValuesInput {
                        file: Some(f.clone()),
                        ..Default::default()
                    };
                    values::load(&bp.manifest, &input)
                        .map(|v| v.secrets.len())
                        .unwrap_or(0)
                })
                .sum::<usize>()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
