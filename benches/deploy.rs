//! trustprint's own cost per stamped trust, and how fast the exemplar blueprint deploys into the local cloud.
//!
//! `trustprint cloud serve` runs as a separate process (in memory, `--lro-ms 0`, `--throttle off`, so the
//! cloud adds no artificial waits); each run is `trustprint stamp --cloud-url ...` of one example trust into a
//! fresh subscription and a fresh fleet repository, as a child process reaped with `wait4`, whose resource
//! usage gives the child's CPU time (user + sys) and peak RSS. The cloud's CPU is not in those figures:
//! it is a different process. Wall time per full trust, deployments/s and resources/s are the same runs
//! seen from outside (render, check, what-if, apply and record, end to end).
//!
//! A `harness = false` bench that prints figures (medians over the runs; min and max beside):
//! `cargo bench --bench deploy`. `TRUSTPRINT_BENCH_RUNS` sets the runs per trust (default 5).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::BIN;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The example trusts: values file, ODS code.
const TRUSTS: &[(&str, &str)] = &[
    ("royal-berkshire-rhw.yaml", "RHW"),
    ("leeds-community-ry6.yaml", "RY6"),
    ("northern-care-alliance-rm3.yaml", "RM3"),
    ("north-london-g6v2s.yaml", "G6V2S"),
];

/// One stamp, measured.
struct Run {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: u64,
    deployments: u64,
    resources: u64,
}

/// The number before `word` in `text` ("Apply complete: 6 deployment(s), 185 resource(s) deployed").
fn count_before(text: &str, word: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.starts_with("Apply complete: "))
        .unwrap_or_else(|| panic!("no 'Apply complete' line in:\n{text}"));
    let at = line.find(word).expect("count word");
    line[..at]
        .trim_end()
        .rsplit([' ', ','])
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count before {word:?} in {line:?}"))
}

fn stamp(url: &str, values: &Path, ods: &str, work: &Path) -> Run {
    let subscription = uuid::Uuid::new_v4().to_string();
    let mut cmd = Command::new(BIN);
    cmd.args(["stamp", "--target", "local", "--cloud-url", url])
        .args(["--subscription", &subscription, "--yes", "--fleet", "fleet"])
        .arg("--values")
        .arg(values);
    for secret in [
        "VM_ADMIN",
        "AD_JOIN",
        "SQL_ADMIN",
        "SQL_CLUSTER",
        "SQL_SERVICE",
    ] {
        cmd.env(format!("TP_{ods}_{secret}_PASSWORD"), "Xx1-bench-secret-9");
    }
    let run = support::run(cmd, work);
    let _ = std::fs::remove_dir_all(work.join("fleet"));
    Run {
        wall: run.wall,
        cpu: run.cpu,
        max_rss_kib: run.max_rss_kib,
        deployments: count_before(&run.stdout, " deployment(s)"),
        resources: count_before(&run.stdout, " resource(s)"),
    }
}

/// (median, min, max) of `xs`.
fn spread(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run once, quickly, then.
    let benching = std::env::args().any(|a| a == "--bench");
    let runs: usize = if benching {
        std::env::var("TRUSTPRINT_BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5)
    } else {
        1
    };
    let cloud = support::start_cloud(&["--lro-ms", "0"]);
    let url = cloud.url.clone();
    let work = tempfile::tempdir().expect("temp dir");
    let examples = Path::new(ROOT).join("blueprints/exemplar-epr/examples");
    println!(
        "trustprint stamp per example trust into `trustprint cloud serve --in-memory --lro-ms 0 --throttle off`, \
         {runs} run(s) each, fresh subscription and fleet per run; median [min..max]"
    );
    for (file, ods) in TRUSTS {
        let values = examples.join(file);
        // One warm-up run (page cache, the cloud's first subscription).
        stamp(&url, &values, ods, work.path());
        let results: Vec<Run> = (0..runs)
            .map(|_| stamp(&url, &values, ods, work.path()))
            .collect();
        let (deployments, resources) = (results[0].deployments, results[0].resources);
        let (cpu, cpu_lo, cpu_hi) =
            spread(results.iter().map(|r| r.cpu.as_secs_f64() * 1e3).collect());
        let (rss, rss_lo, rss_hi) = spread(
            results
                .iter()
                .map(|r| r.max_rss_kib as f64 / 1024.0)
                .collect(),
        );
        let (wall, wall_lo, wall_hi) =
            spread(results.iter().map(|r| r.wall.as_secs_f64()).collect());
        println!(
            "{ods:>6}: {deployments} deployments, {resources} resources | trustprint CPU (user+sys) \
             {cpu:.0} ms [{cpu_lo:.0}..{cpu_hi:.0}] | peak RSS {rss:.1} MiB [{rss_lo:.1}..{rss_hi:.1}] | \
             wall {wall:.2} s [{wall_lo:.2}..{wall_hi:.2}] = {:.1} deployments/s, {:.0} resources/s",
            deployments as f64 / wall,
            resources as f64 / wall
        );
    }
}
