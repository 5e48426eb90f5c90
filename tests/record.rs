//! The fleet record under adversity (issue 18): a stamp killed at any moment leaves the repository with the
//! old commit or the new one, never half of one, and a later stamp works; a `trusts` symbolic link out of the
//! repository is refused.

use crate::harness::{head, values, Test};
use std::time::{Duration, Instant};

/// `stamp --no-deploy` of trust `name` into `fleet`, in `dir`.
fn stamp(dir: tempfile::TempDir, name: &str) -> Test {
    Test::in_dir(dir)
        .write("values.yaml", &values(name, "RJ1", ""))
        .blueprint("render-cases")
        .args([
            "stamp",
            "--values",
            "values.yaml",
            "--fleet",
            "fleet",
            "--no-deploy",
        ])
}

/// Whether the repository has anything staged or modified (untracked files included), besides nothing.
fn dirty(fleet: &std::path::Path) -> Vec<String> {
    let repo = git2::Repository::open(fleet).unwrap();
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true);
    let statuses = repo.statuses(Some(&mut opts)).unwrap();
    statuses
        .iter()
        .map(|s| format!("{:?} {}", s.status(), s.path().unwrap_or_default()))
        .collect()
}

/// A small deterministic generator (64-bit LCG): the kill points are the same on every run of the test.
struct Lcg(u64);
impl Lcg {
    fn next_fraction(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Issue 18, row 10: `stamp --no-deploy` killed (SIGKILL) at 50 points spread over its run leaves the fleet
/// at its old commit or at the new one; either way the next stamp of the same inputs succeeds and leaves
/// `git status` clean, and the commit holds those inputs. The kill points are fractions of one measured run,
/// drawn from a fixed seed.
#[test]
fn a_stamp_killed_at_any_moment_leaves_the_old_commit_or_the_new_one() {
    let first = stamp(tempfile::tempdir().unwrap(), "TRUST 0").run();
    let fleet = first.path("fleet");
    // One run's length, to spread the kill points over (not asserted: only where to kill).
    let started = Instant::now();
    let mut dir = stamp(first.dir, "TRUST TIMING").run().dir;
    let span = started.elapsed();

    let mut lcg = Lcg(0x18_0a);
    for i in 1..=50 {
        let name = format!("TRUST {i}");
        let before = head(&fleet).unwrap();
        let t = stamp(dir, &name);
        let mut child = t.command().spawn().unwrap();
        std::thread::sleep(Duration::from_secs_f64(
            span.as_secs_f64() * 1.2 * lcg.next_fraction(),
        ));
        let _ = child.kill();
        let _ = child.wait();
        dir = t.into_dir();

        // Old commit or new: HEAD is the commit before, or one commit on top of it.
        let repo = git2::Repository::open(&fleet).unwrap();
        let now = repo.head().unwrap().peel_to_commit().unwrap();
        let old_or_new = now.id().to_string() == before
            || now.parent_id(0).map(|p| p.to_string()).ok().as_deref() == Some(before.as_str());
        assert!(
            old_or_new,
            "kill {i}: HEAD {} is neither {before} nor a child of it",
            now.id()
        );

        // The next stamp of the same inputs works and leaves nothing staged, modified or left over.
        let out = stamp(dir, &name).run();
        assert_eq!(dirty(&fleet), Vec::<String>::new(), "after kill {i}");
        let repo = git2::Repository::open(&fleet).unwrap();
        let tree = repo.head().unwrap().peel_to_tree().unwrap();
        let blob = repo
            .find_blob(
                tree.get_path(std::path::Path::new("trusts/RJ1/values.yaml"))
                    .unwrap()
                    .id(),
            )
            .unwrap();
        assert_eq!(
            std::str::from_utf8(blob.content()).unwrap(),
            values(&name, "RJ1", ""),
            "after kill {i}"
        );
        dir = out.dir;
    }
}

/// Issue 18, row 9: `trusts` in the fleet repository is a symbolic link to a folder outside it. The stamp
/// refuses, naming the link, and writes nothing through it.
#[cfg(unix)]
#[test]
fn a_trusts_symlink_out_of_the_fleet_is_refused() {
    let first = stamp(tempfile::tempdir().unwrap(), "A TRUST").run();
    let outside = first.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::rename(first.path("fleet/trusts"), outside.join("moved")).unwrap();
    std::os::unix::fs::symlink(&outside, first.path("fleet/trusts")).unwrap();
    let out = stamp(first.dir, "A RENAMED TRUST")
        .status(4)
        .stderr_has(
            ": trusts is a symbolic link; trustprint writes only inside the fleet repository",
        )
        .run();
    assert!(!out.path("outside/RJ1").exists());
}
