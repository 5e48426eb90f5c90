//! Fleet benchmarks (issue 6), a `harness = false` bench that prints its figures: `cargo bench --bench fleet`.
//!
//! The fleet is every open English trust of the bundled ODS extract (199), imported into a fresh fleet
//! repository whose shared defaults come from the Royal Berkshire example, each trust in its own subscription
//! of a local cloud run as a separate process (`trustprint cloud serve --in-memory`). trustprint runs as a
//! child reaped with `wait4`, so its peak RSS is its own, not the cloud's.
//!
//! 1. `fleet apply` of the 199 trusts into a cloud with no artificial waits (setup, timed too);
//! 2. `fleet plan` of the unchanged fleet: every trust skipped by content hash (target: under 1 s);
//! 3. `fleet apply` of the 199 trusts into a fresh cloud with 50 ms request latency and 2 s operations at
//!    `--concurrency` C (default 50, `TRUSTPRINT_BENCH_CONCURRENCY`), against the critical-path bound: each
//!    fresh trust's longest chain is one what-if (its subscription-scope deployment; the others' groups do not
//!    exist yet, so they need none) and then its six chained deployments (governance → operations →
//!    connectivity → security → epr → resilience), each one 2 s operation, so a wave of C trusts takes at least
//!    7 × 2 s and the bound is ceil(199 / C) × 14 s (target: within 1.3 times it), and peak memory (target:
//!    under 300 MB);
//! 4. `fleet apply` of the 199 trusts into a fresh cloud injecting faults into 10% of requests: no trust may
//!    fail.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_trustprint");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Kills the cloud when dropped.
struct Cloud(Child);

impl Drop for Cloud {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_cloud(extra: &[&str]) -> (Cloud, String) {
    let mut child = Command::new(BIN)
        .args([
            "cloud",
            "serve",
            "--in-memory",
            "--addr",
            "127.0.0.1:0",
            "--throttle",
            "off",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start trustprint cloud serve");
    let stdout = child.stdout.take().expect("cloud stdout");
    let cloud = Cloud(child);
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("read the cloud's first line");
    let url = first
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http"))
        .unwrap_or_else(|| panic!("unexpected first line from cloud serve: {first:?}"))
        .to_string();
    (cloud, url)
}

/// What one trustprint run cost.
struct Run {
    wall: Duration,
    max_rss_mib: f64,
    report: serde_json::Value,
}

// The child is reaped by `wait4` (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn trustprint(work: &Path, args: &[&str]) -> Run {
    let out_path = work.join("run.out");
    let err_path = work.join("run.err");
    let start = Instant::now();
    let child = Command::new(BIN)
        .current_dir(work)
        .env("NO_COLOR", "1")
        .args(args)
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawn trustprint");
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for the child we spawned and reaps it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(reaped, pid, "wait4 failed");
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "trustprint {args:?} failed (status {status}):\n{stdout}\n{}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    Run {
        wall,
        // Linux reports ru_maxrss in KiB.
        max_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        report: serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null),
    }
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
        .unwrap_or(50);
    let c = concurrency.to_string();

    // 1 and 2: apply, then plan the unchanged fleet.
    fleet(work);
    let (cloud, url) = start_cloud(&["--lro-ms", "0"]);
    let apply = trustprint(
        work,
        &[
            "fleet",
            "apply",
            "--fleet",
            "fleet",
            "--cloud-url",
            &url,
            "--concurrency",
            &c,
            "--output",
            "json",
        ],
    );
    let trusts = apply.report["trusts"].as_array().map_or(0, Vec::len);
    assert_eq!(trusts, 199, "the 199 open English trusts");
    assert_eq!(rollup(&apply, "failed"), 0, "{}", apply.report);
    println!(
        "fleet apply, 199 trusts, no artificial waits, --concurrency {c}: {:.1} s, peak RSS {:.0} MiB",
        apply.wall.as_secs_f64(),
        apply.max_rss_mib
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
                    &url,
                    "--output",
                    "json",
                ],
            );
            assert_eq!(rollup(&plan, "skipped"), 199, "{}", plan.report);
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

    // 3: 50 ms latency, 2 s operations.
    fleet(work);
    let (cloud, url) = start_cloud(&["--latency-ms", "50", "--lro-ms", "2000"]);
    let slow = trustprint(
        work,
        &[
            "fleet",
            "apply",
            "--fleet",
            "fleet",
            "--cloud-url",
            &url,
            "--concurrency",
            &c,
            "--output",
            "json",
        ],
    );
    assert_eq!(rollup(&slow, "failed"), 0, "{}", slow.report);
    let waves = 199_u64.div_ceil(concurrency);
    let bound = waves as f64 * 7.0 * 2.0;
    println!(
        "fleet apply, 199 trusts, 50 ms latency, 2 s operations, --concurrency {c}: {:.1} s; critical-path bound \
         {waves} wave(s) x 7 operations x 2 s = {bound:.0} s; ratio {:.2} (target at most 1.30); peak RSS {:.0} MiB \
         (target under 300)",
        slow.wall.as_secs_f64(),
        slow.wall.as_secs_f64() / bound,
        slow.max_rss_mib
    );
    drop(cloud);

    // 4: 10% injected faults.
    fleet(work);
    let (cloud, url) = start_cloud(&["--lro-ms", "0", "--fault-rate", "0.1", "--seed", "7"]);
    let faults = trustprint(
        work,
        &[
            "fleet",
            "apply",
            "--fleet",
            "fleet",
            "--cloud-url",
            &url,
            "--concurrency",
            &c,
            "--output",
            "json",
        ],
    );
    println!(
        "fleet apply, 199 trusts, 10% injected faults: {} failed, {} applied, {:.1} s",
        rollup(&faults, "failed"),
        rollup(&faults, "changed"),
        faults.wall.as_secs_f64()
    );
    assert_eq!(rollup(&faults, "failed"), 0, "{}", faults.report);
    drop(cloud);
}
