//! Fleet benchmarks (issue 6), a `harness = false` bench that prints its figures: `cargo bench --bench fleet`.
//!
//! The fleet is every open English trust of the bundled ODS extract (199), imported into a fresh fleet
//! repository whose shared defaults come from the Royal Berkshire example, each trust in its own subscription
//! of a local cloud run as a separate process (`trustprint cloud serve --in-memory`). trustprint runs as a
//! child reaped with `wait4`, so its peak RSS is its own, not the cloud's.
//!
//! 1. `fleet apply` of the 199 trusts into a cloud with no artificial waits (setup, timed too);
//! 2. `fleet plan` of the unchanged fleet: every trust skipped by content hash (target: under 1 s);
//! 3. `fleet apply` of the 199 trusts into a fresh cloud injecting faults into 10% of requests: no trust may
//!    fail.
//!
//! Peak RSS of each apply is printed (target: under 300 MB) at `--concurrency` C (default 16,
//! `TRUSTPRINT_BENCH_CONCURRENCY`). Not measured yet: an apply with 50 ms latency and 2 s operations against
//! its critical-path bound. The local cloud spends `--lro-ms` on every resource, in the order of the
//! resources' `dependsOn` inside each deployment, so the bound is the longest resource chain across a trust's
//! deployment chain, which this bench does not compute yet.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::BIN;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// What one trustprint run cost.
struct Run {
    wall: Duration,
    cpu: Duration,
    max_rss_mib: f64,
    report: serde_json::Value,
}

fn trustprint(work: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    let run = support::run(cmd, work);
    Run {
        wall: run.wall,
        cpu: run.cpu,
        max_rss_mib: run.max_rss_kib as f64 / 1024.0,
        report: serde_json::from_str(&run.stdout).unwrap_or(serde_json::Value::Null),
    }
}

/// `fleet apply` of the whole fleet into the cloud at `url`, as JSON.
fn apply(work: &Path, url: &str, concurrency: &str) -> Run {
    trustprint(
        work,
        &[
            "fleet",
            "apply",
            "--fleet",
            "fleet",
            "--cloud-url",
            url,
            "--concurrency",
            concurrency,
            "--output",
            "json",
        ],
    )
}

/// A fleet of the 199 open English trusts in `work/fleet`, deployable with its defaults.
fn fleet(work: &Path) {
    let _ = std::fs::remove_dir_all(work.join("fleet"));
    trustprint(work, &["fleet", "init", "fleet"]);
    let path = work.join("fleet/fleet.yaml");
    let mut file: serde_yaml::Mapping =
        serde_yaml::from_str(&std::fs::read_to_string(&path).expect("fleet.yaml")).expect("yaml");
    let example = Path::new(ROOT).join("blueprints/exemplar-epr/examples/royal-berkshire-rhw.yaml");
    let mut defaults: serde_yaml::Mapping =
        serde_yaml::from_str(&std::fs::read_to_string(example).expect("example")).expect("yaml");
    for key in ["trust", "network", "staging"] {
        defaults.remove(key);
    }
    defaults.insert(
        "network".into(),
        serde_yaml::from_str("{dns_servers: [10.131.0.4, 10.131.0.5]}").expect("yaml"),
    );
    file.insert("defaults".into(), defaults.into());
    file.insert(
        "addressing".into(),
        serde_yaml::from_str("{pools: [10.0.0.0/8], sizes: {large: 18, medium: 18, small: 18}}")
            .expect("yaml"),
    );
    std::fs::write(&path, serde_yaml::to_string(&file).expect("yaml")).expect("write fleet.yaml");
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .current_dir(work.join("fleet"))
            .args(args)
            .env("GIT_AUTHOR_NAME", "bench")
            .env("GIT_AUTHOR_EMAIL", "bench@localhost")
            .env("GIT_COMMITTER_NAME", "bench")
            .env("GIT_COMMITTER_EMAIL", "bench@localhost")
            .status()
            .expect("git")
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["commit", "-qam", "Shared defaults and a /8 pool"]);
    trustprint(
        work,
        &["fleet", "import", "--fleet", "fleet", "--ods", "bundled"],
    );
}

fn rollup(run: &Run, key: &str) -> u64 {
    run.report["rollup"][key].as_u64().unwrap_or(u64::MAX)
}

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let work = tmp.path();
    let concurrency: u64 = std::env::var("TRUSTPRINT_BENCH_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(16);
    let c = concurrency.to_string();

    // 1 and 2: apply, then plan the unchanged fleet.
    fleet(work);
    let cloud = support::start_cloud(&["--lro-ms", "0"]);
    let first = apply(work, &cloud.url, &c);
    let trusts = first.report["trusts"].as_array().map_or(0, Vec::len);
    assert_eq!(trusts, 199, "the 199 open English trusts");
    assert_eq!(rollup(&first, "failed"), 0, "{}", first.report["rollup"]);
    println!(
        "fleet apply, 199 trusts, no artificial waits, --concurrency {c}: {:.1} s, trustprint CPU {:.1} s, \
         peak RSS {:.0} MiB",
        first.wall.as_secs_f64(),
        first.cpu.as_secs_f64(),
        first.max_rss_mib
    );
    let mut plans: Vec<f64> = (0..5)
        .map(|_| {
            let plan = trustprint(
                work,
                &[
                    "fleet",
                    "plan",
                    "--fleet",
                    "fleet",
                    "--cloud-url",
                    &cloud.url,
                    "--output",
                    "json",
                ],
            );
            assert_eq!(rollup(&plan, "skipped"), 199, "{}", plan.report["rollup"]);
            plan.wall.as_secs_f64()
        })
        .collect();
    plans.sort_by(f64::total_cmp);
    println!(
        "fleet plan, unchanged fleet of 199: median {:.0} ms (min {:.0}, max {:.0}; target under 1000 ms)",
        plans[2] * 1000.0,
        plans[0] * 1000.0,
        plans[4] * 1000.0
    );
    drop(cloud);

    // 3: 10% injected faults.
    fleet(work);
    let cloud = support::start_cloud(&["--lro-ms", "0", "--fault-rate", "0.1", "--seed", "7"]);
    let faults = apply(work, &cloud.url, &c);
    println!(
        "fleet apply, 199 trusts, 10% injected faults: {} failed, {} applied, {:.1} s, peak RSS {:.0} MiB",
        rollup(&faults, "failed"),
        rollup(&faults, "changed"),
        faults.wall.as_secs_f64(),
        faults.max_rss_mib
    );
    assert_eq!(rollup(&faults, "failed"), 0, "{}", faults.report["rollup"]);
    drop(cloud);
}
