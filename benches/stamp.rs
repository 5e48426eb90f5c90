//! load + render + check: one trust from scratch, and the 199 open English NHS trusts as a fleet would do
//! them (the blueprint opened and its templates parsed once, then per trust: values loaded and validated,
//! rendered, expanded and checked). Issue 2's targets: under 20 ms per trust, all 199 under 1 s.
//!
//! Values are generated from `data/nhs/trusts_england_active.csv`: each trust's ODS code and name over the
//! blueprint's first example values file, tier by name (teaching/university → large, community/mental
//! health/ambulance → small, else medium), address space `10.<index>.0.0/16`.
//! The blueprint is `blueprints/exemplar-epr` when the checkout has it, else the test blueprint
//! `tests/fixtures/blueprints/render-cases`, or the folder `TRUSTPRINT_BENCH_BLUEPRINT` names; the run prints
//! which.
//!
//! The fleet bench goes through [`trustprint::run::check_many`], which spreads the trusts over the machine's
//! cores (all of them, as `std::thread::available_parallelism` reports): its figure depends on the core count
//! (issue 2's target is for a 2-core machine). The one-trust bench parses the blueprint's templates over the
//! cores too (`render::Renderer::new`), then does the rest on one thread.
//!
//! Run: `cargo bench --bench stamp`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use trustprint::blueprint::SourceSpec;
use trustprint::run::Inputs;
use trustprint::values::ValuesInput;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn blueprint_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TRUSTPRINT_BENCH_BLUEPRINT") {
        return PathBuf::from(dir);
    }
    let exemplar = Path::new(ROOT).join("blueprints/exemplar-epr");
    if exemplar.join("blueprint.yaml").is_file() && exemplar.join("examples").is_dir() {
        exemplar
    } else {
        Path::new(ROOT).join("tests/fixtures/blueprints/render-cases")
    }
}

/// The values every generated trust starts from: the blueprint's first example, else a minimal one.
fn base_values(blueprint: &Path) -> serde_yaml::Value {
    let mut examples: Vec<PathBuf> = std::fs::read_dir(blueprint.join("examples"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    examples.sort();
    match examples.first() {
        Some(p) => serde_yaml::from_str(&std::fs::read_to_string(p).expect("example values"))
            .expect("example values parse"),
        None => serde_yaml::from_str("trust: {name: X, ods_code: RJ1}").expect("yaml"),
    }
}

fn tier(name: &str) -> &'static str {
    let n = name.to_ascii_uppercase();
    if n.contains("UNIVERSITY") || n.contains("TEACHING") {
        "large"
    } else if n.contains("COMMUNITY") || n.contains("MENTAL") || n.contains("AMBULANCE") {
        "small"
    } else {
        "medium"
    }
}

fn set(v: &mut serde_yaml::Value, path: &[&str], value: &str) {
    let mut cur = v;
    for key in &path[..path.len() - 1] {
        cur = &mut cur[*key];
    }
    if let serde_yaml::Value::Mapping(m) = cur {
        m.insert(path[path.len() - 1].into(), value.into());
    }
}

/// One values file per open English trust, written into `dir`.
fn generate(dir: &Path, base: &serde_yaml::Value) -> Vec<PathBuf> {
    let csv = std::fs::read_to_string(Path::new(ROOT).join("data/nhs/trusts_england_active.csv"))
        .expect("ODS trust list");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect("column");
    let (ods_col, name_col) = (col("ods_code"), col("name"));
    lines
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            let (ods, name) = (fields[ods_col], fields[name_col]);
            let mut v = base.clone();
            set(&mut v, &["trust", "name"], name);
            set(&mut v, &["trust", "ods_code"], ods);
            if v.get("tier").is_some() {
                set(&mut v, &["tier"], tier(name));
            }
            if v.get("network").is_some() {
                set(
                    &mut v,
                    &["network", "address_space"],
                    &format!("10.{i}.0.0/16"),
                );
            }
            let path = dir.join(format!("{ods}.yaml"));
            std::fs::write(&path, serde_yaml::to_string(&v).expect("yaml")).expect("write values");
            path
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let bp_dir = blueprint_dir();
    eprintln!("blueprint: {}", bp_dir.display());
    let tmp = tempfile::tempdir().expect("temp dir");
    let files = generate(tmp.path(), &base_values(&bp_dir));
    assert_eq!(files.len(), 199, "open English trusts in the ODS list");
    let source = SourceSpec::Dir(bp_dir.clone());

    let one = Inputs {
        blueprint: source.clone(),
        values: ValuesInput {
            file: Some(files[0].clone()),
            ..ValuesInput::default()
        },
    };
    let checked = trustprint::run::check_trust(&one).expect("first trust checks");
    eprintln!(
        "{} deployments, {} resources checked, {} violation(s)",
        checked.rendered.deployments.len(),
        checked.report.resources_checked,
        checked.report.violations().count()
    );
    c.bench_function("load+render+check one trust (from scratch)", |b| {
        b.iter(|| black_box(trustprint::run::check_trust(black_box(&one)).expect("checks")))
    });
    // The same with the blueprint built into trustprint, which commands use when no --blueprint is given: no
    // files to read and no git work tree to ask for its commit.
    if bp_dir.ends_with("blueprints/exemplar-epr") {
        let embedded = Inputs {
            blueprint: SourceSpec::Embedded,
            values: one.values.clone(),
        };
        c.bench_function(
            "load+render+check one trust (from scratch, built-in blueprint)",
            |b| {
                b.iter(|| {
                    black_box(trustprint::run::check_trust(black_box(&embedded)).expect("checks"))
                })
            },
        );
    }

    let blueprint = trustprint::blueprint::open(&source).expect("blueprint");
    let renderer = trustprint::render::Renderer::new(&blueprint).expect("templates parse");
    let inputs: Vec<ValuesInput> = files
        .iter()
        .map(|f| ValuesInput {
            file: Some(f.clone()),
            ..ValuesInput::default()
        })
        .collect();
    let mut group = c.benchmark_group("fleet");
    group.sample_size(10);
    group.bench_function("load+render+check 199 trusts", |b| {
        b.iter(|| {
            for checked in trustprint::run::check_many(&blueprint, &renderer, &inputs) {
                black_box(checked.expect("checks"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
