//! Fleet benchmarks (issue 6), a `harness = false` bench that prints its figures: `cargo bench --bench fleet`
//! (about 6 minutes; `TRUSTPRINT_BENCH_CASES=apply,plan,faults,latency` picks cases, all by default).
//!
//! The fleet is every open English trust of the bundled ODS extract (199), imported into a fresh fleet
//! repository whose shared defaults come from the Royal Berkshire example, each trust in its own subscription
//! of a local cloud run as a separate process (`trustprint cloud serve --in-memory`). trustprint runs as a
//! child reaped with `wait4`, so its peak RSS is its own, not the cloud's; every case prints it.
//!
//! 1. `apply`: `fleet apply` of the 199 trusts into a cloud with no artificial waits, at `--concurrency`
//!    `TRUSTPRINT_BENCH_CONCURRENCY` (default 16);
//! 2. `plan`: `fleet plan` of the unchanged fleet, five times: every trust skipped by content hash (target:
//!    under 1 s);
//! 3. `faults`: `fleet apply` of the 199 trusts into a fresh cloud injecting faults into 10% of requests: no
//!    trust may fail;
//! 4. `latency`: `fleet apply` of the 199 trusts into a fresh cloud with 50 ms per request and 2 s per
//!    operation step (`--latency-ms 50 --lro-ms 2000`) at `--concurrency` `TRUSTPRINT_BENCH_LATENCY_CONCURRENCY`
//!    (default 100; trusts spend their time waiting, so the concurrency is high), against the critical-path
//!    bound, computed before the run by trustprint's library (`deploy::critical`) from each trust as the fleet
//!    renders it: per trust, reading the subscription, the slowest what-if and the longest path through the
//!    deployment graph, each deployment weighing its requests × 50 ms plus (1 + its engine steps) × 2 s; over
//!    the fleet, `max(T_max, ΣT / C, max_k (T_(kC−k+1) + … + T_(kC+1)))`. Targets: at most 1.3 × the bound,
//!    peak RSS under 300 MB.

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

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

/// Each selected trust's critical path on a fresh cloud timed as `timing`, computed by trustprint's library
/// from the trusts as the fleet renders them (no measurement).
fn critical_paths(
    work: &Path,
    timing: &trustprint::deploy::critical::Timing,
) -> Vec<(String, trustprint::deploy::critical::CriticalPath)> {
    let fleet = trustprint::fleet::Fleet::open(&work.join("fleet")).expect("open the fleet");
    let selected = trustprint::fleet::run::Selection::default()
        .resolve(&fleet)
        .expect("select the trusts");
    // Every trust of the bench fleet runs the fleet's default version.
    let versions = trustprint::fleet::version::Versions::open(&fleet, &selected, None)
        .expect("open the blueprint");
    let blueprint = &versions.all()[versions.index(&versions.default).expect("default version")];
    let renderer = trustprint::render::Renderer::new(blueprint).expect("parse the templates");
    let inputs: Vec<_> = selected
        .iter()
        .map(|ods| {
            fleet
                .trust_input(ods, &versions.default, &blueprint.manifest)
                .expect("values")
                .0
        })
        .collect();
    trustprint::run::check_many(blueprint, &renderer, &inputs)
        .into_iter()
        .zip(selected)
        .map(|(checked, ods)| {
            let checked = checked.expect("render and check");
            let path = trustprint::deploy::critical::critical_path(&checked.rendered, timing, true)
                .expect("critical path");
            (ods, path)
        })
        .collect()
}

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let work = tmp.path();
    let concurrency = env_usize("TRUSTPRINT_BENCH_CONCURRENCY", 16);
    let c = concurrency.to_string();
    let cases = std::env::var("TRUSTPRINT_BENCH_CASES")
        .unwrap_or_else(|_| "apply,plan,faults,latency".into());
    let case = |name: &str| cases.split(',').any(|c| c.trim() == name);

    // 1 and 2: apply, then plan the unchanged fleet.
    if case("apply") || case("plan") {
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
        if case("plan") {
            let mut plans: Vec<(f64, f64)> = (0..5)
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
                    (plan.wall.as_secs_f64(), plan.max_rss_mib)
                })
                .collect();
            plans.sort_by(|a, b| a.0.total_cmp(&b.0));
            println!(
                "fleet plan, unchanged fleet of 199: median {:.0} ms (min {:.0}, max {:.0}; target under 1000 ms), \
                 peak RSS {:.0} MiB",
                plans[2].0 * 1000.0,
                plans[0].0 * 1000.0,
                plans[4].0 * 1000.0,
                plans.iter().map(|p| p.1).fold(0.0, f64::max)
            );
        }
        drop(cloud);
    }

    // 3: 10% injected faults.
    if case("faults") {
        fleet(work);
        let cloud = support::start_cloud(&["--lro-ms", "0", "--fault-rate", "0.1", "--seed", "7"]);
        let faults = apply(work, &cloud.url, &c);
        println!(
            "fleet apply, 199 trusts, 10% injected faults, --concurrency {c}: {} failed, {} applied, {:.1} s, \
             peak RSS {:.0} MiB",
            rollup(&faults, "failed"),
            rollup(&faults, "changed"),
            faults.wall.as_secs_f64(),
            faults.max_rss_mib
        );
        assert_eq!(rollup(&faults, "failed"), 0, "{}", faults.report["rollup"]);
        drop(cloud);
    }

    // 4: 50 ms per request, 2 s per operation step, against the critical-path bound.
    if case("latency") {
        let lc = env_usize("TRUSTPRINT_BENCH_LATENCY_CONCURRENCY", 100);
        let (latency_ms, lro_ms) = (50u64, 2000u64);
        fleet(work);
        let timing = trustprint::deploy::critical::Timing {
            latency: Duration::from_millis(latency_ms),
            lro: Duration::from_millis(lro_ms),
        };
        let paths = critical_paths(work, &timing);
        assert_eq!(paths.len(), 199, "the 199 open English trusts");
        let mut totals: Vec<Duration> = paths.iter().map(|(_, p)| p.total).collect();
        totals.sort_unstable();
        let sum: Duration = totals.iter().sum();
        let bound = trustprint::deploy::critical::fleet_bound(&totals, lc);
        let (slowest, slowest_path) = paths.iter().max_by_key(|(_, p)| p.total).expect("a trust");
        println!(
            "critical path per trust (latency {latency_ms} ms, operations {lro_ms} ms per step; connect + \
             slowest what-if + longest deployment chain): min {:.2} s, median {:.2} s, max {:.2} s ({slowest}: {}), \
             sum {:.1} s",
            totals[0].as_secs_f64(),
            totals[totals.len() / 2].as_secs_f64(),
            totals[totals.len() - 1].as_secs_f64(),
            slowest_path
                .path
                .iter()
                .map(|name| {
                    let d = slowest_path
                        .deployments
                        .iter()
                        .find(|d| &d.name == name)
                        .expect("on the path");
                    format!("{name} {} steps {:.2} s", d.steps, d.apply.as_secs_f64())
                })
                .collect::<Vec<_>>()
                .join(" → "),
            sum.as_secs_f64()
        );
        println!(
            "fleet bound at --concurrency {lc} over N = {}: max(T_max, ΣT / C, max over k of T_(kC-k+1) + … + \
             T_(kC+1)) = max({:.2}, {:.2}, {:.2}) = {:.2} s",
            totals.len(),
            bound.longest.as_secs_f64(),
            bound.spread.as_secs_f64(),
            bound.stacked.as_secs_f64(),
            bound.bound.as_secs_f64()
        );
        let cloud = support::start_cloud(&[
            "--latency-ms",
            &latency_ms.to_string(),
            "--lro-ms",
            &lro_ms.to_string(),
        ]);
        let run = apply(work, &cloud.url, &lc.to_string());
        assert_eq!(rollup(&run, "failed"), 0, "{}", run.report["rollup"]);
        assert_eq!(rollup(&run, "changed"), 199, "{}", run.report["rollup"]);
        println!(
            "fleet apply, 199 trusts, latency {latency_ms} ms, operations {lro_ms} ms, --concurrency {lc}: {:.1} s, \
             {:.2} × the bound (target at most 1.3), trustprint CPU {:.1} s, peak RSS {:.0} MiB (target under 300 MB)",
            run.wall.as_secs_f64(),
            run.wall.as_secs_f64() / bound.bound.as_secs_f64(),
            run.cpu.as_secs_f64(),
            run.max_rss_mib
        );
        drop(cloud);
    }
}
