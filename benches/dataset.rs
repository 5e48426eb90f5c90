//! Fictional patients: generation throughput (100,000 patients of an acute trust; the target is under
//! a minute) and load throughput into Azurite (the Royal Berkshire example with staging storage on, applied
//! to the embedded local cloud, its staging account pointing at an Azurite started here from `.ci/node`, where
//! `.ci/run` installs it).
//!
//! Run: `cargo bench --bench dataset` (generation only: `cargo bench --bench dataset -- generate`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use trustprint::dataset::{self, GenerateConfig, LoadConfig, StagingTarget, Trust};
use trustprint::deploy::target::{TargetKind, TargetOptions};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn config(patients: u64, seed: u64, out: &Path) -> GenerateConfig {
    GenerateConfig {
        patients,
        seed,
        trust: Trust::lookup("RM3").expect("RM3 is in the ODS extract"),
        out: out.to_path_buf(),
        threads: 0,
    }
}

fn generation(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut group = c.benchmark_group("generate");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(60));
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("100000 patients (RM3, acute)", |b| {
        b.iter(|| dataset::generate(&config(100_000, 42, dir.path())).expect("generate"))
    });
    group.finish();
}

/// Azurite on `port`, killed when dropped.
struct Azurite(Child);

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn load(c: &mut Criterion) {
    let bin = Path::new(ROOT).join(".ci/node/node_modules/.bin/azurite-blob");
    assert!(
        bin.exists(),
        "Azurite is not installed at {}: run .ci/run",
        bin.display()
    );
    let work = tempfile::tempdir().expect("temporary folder");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    // Read by the local cloud when it writes the storage account (the bench is single-threaded here).
    std::env::set_var(
        trustprint::cloud::BLOB_ENDPOINT_ENV,
        format!("http://127.0.0.1:{port}"),
    );
    let values =
        PathBuf::from(ROOT).join("blueprints/exemplar-epr/examples/royal-berkshire-rhw.yaml");
    let inputs = trustprint::run::Inputs {
        blueprint: trustprint::blueprint::SourceSpec::Embedded,
        values: trustprint::values::ValuesInput {
            file: Some(values),
            base: None,
            text: None,
            overrides: vec!["staging.enabled=true".into()],
        },
    };
    let target = TargetOptions {
        kind: Some(TargetKind::Local),
        state_dir: Some(work.path().join("cloud")),
        ..TargetOptions::default()
    };
    let (loaded, rendered) = trustprint::run::render_loaded(&inputs).expect("render RHW");
    trustprint::deploy::apply_trust(
        &loaded,
        &rendered,
        &trustprint::deploy::DeployOptions {
            target: target.clone(),
            yes: true,
            confirm_local: false,
            allow_data_loss: false,
            bypass_stack_out_of_sync: false,
            plan_file: None,
            progress: Default::default(),
        },
        &|_| {},
    )
    .expect("apply RHW to the local cloud");
    let id = format!(
        "/subscriptions/{}/resourceGroups/rg-rhw-uks-staging/providers/Microsoft.Storage/storageAccounts/strhwuksstaging",
        trustprint::deploy::target::local_subscription("RHW")
    );
    let key = trustprint::cloud::storage_account_key(&id, "key1");
    let _azurite = Azurite(
        Command::new(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(work.path().join("azurite"))
            .args(["--silent", "--skipApiVersionCheck"])
            .env("AZURITE_ACCOUNTS", format!("strhwuksstaging:{key}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Azurite"),
    );
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Two datasets loaded in turn, so every iteration uploads every block (a reload of the same one skips).
    let sets: Vec<PathBuf> = (0..2)
        .map(|seed| {
            let out = work.path().join(format!("ds{seed}"));
            dataset::generate(&config(5_000, seed, &out)).expect("generate");
            out
        })
        .collect();
    let bytes: u64 = dataset::Manifest::read(&sets[0])
        .expect("manifest")
        .files
        .iter()
        .map(|f| f.bytes)
        .sum();
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    let mut turn = 0usize;
    group.bench_function(
        "5000 patients into Azurite (4 MiB blocks, 8 in flight)",
        |b| {
            b.iter(|| {
                turn += 1;
                dataset::load(&LoadConfig {
                    staging: StagingTarget {
                        inputs: inputs.clone(),
                        target: target.clone(),
                    },
                    from: sets[turn % 2].clone(),
                    block_size: 4 << 20,
                    parallel: 8,
                    stop_after_blocks: None,
                })
                .expect("load")
            })
        },
    );
    group.finish();
}

criterion_group!(benches, generation, load);
criterion_main!(benches);
