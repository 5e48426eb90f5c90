//! What the process benchmarks share (`mod support;` in each): a `trustprint cloud serve` child, and running
//! trustprint as a child reaped with `wait4` so its CPU time and peak RSS are its own, not the cloud's.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_trustprint");

/// A running `trustprint cloud serve`, killed when dropped.
pub struct Cloud {
    child: Child,
    pub url: String,
}

impl Drop for Cloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `trustprint cloud serve --in-memory --throttle off` on a free port, with `extra` flags (`--lro-ms 0`).
pub fn start_cloud(extra: &[&str]) -> Cloud {
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
    let mut stdout = BufReader::new(child.stdout.take().expect("cloud stdout"));
    let mut first = String::new();
    stdout
        .read_line(&mut first)
        .expect("read the cloud's first line");
    // Keep reading: a closed pipe would end the cloud at its next line of output.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = first
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http"))
        .unwrap_or_else(|| panic!("unexpected first line from cloud serve: {first:?}"))
        .to_string();
    Cloud { child, url }
}

/// One trustprint run, measured from outside.
pub struct ChildRun {
    pub wall: Duration,
    /// User + system CPU time of the trustprint process.
    pub cpu: Duration,
    pub max_rss_kib: u64,
    pub stdout: String,
}

/// Run `cmd` (a trustprint command) in `work` to its end; panics, with its output, when it fails.
// The child is reaped by `wait4` (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
pub fn run(mut cmd: Command, work: &Path) -> ChildRun {
    let out_path = work.join("run.out");
    let err_path = work.join("run.err");
    cmd.current_dir(work)
        .env("NO_COLOR", "1")
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn trustprint");
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for the child we spawned and reaps it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(reaped, pid, "wait4 failed");
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let head: String = stdout.chars().take(4000).collect();
        panic!(
            "{cmd:?} failed (status {status}):\n{head}\n{}",
            std::fs::read_to_string(&err_path)
                .unwrap_or_default()
                .chars()
                .take(4000)
                .collect::<String>()
        );
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    ChildRun {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        stdout,
    }
}
