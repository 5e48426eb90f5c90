//! Integration tests: harness. A small fluent builder over the real binary, in the manner of casey/just's
//! `Test`: `Test::new().write("v.yaml", ..).args(["render", ..]).stdout_has("..").status(0).run()`. On any
//! failed expectation it prints the command, its folder and both streams, so a failure explains itself.

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder of test blueprints.
pub fn fixture_blueprint(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/blueprints")
        .join(name)
}

/// A values file for the `render-cases` blueprint.
pub fn values(name: &str, ods: &str, extra: &str) -> String {
    format!(
        "trust:\n  name: {}\n  ods_code: {ods}\n{extra}",
        serde_json::to_string(name).unwrap()
    )
}

/// What a run must produce.
enum Expect {
    Exact(String),
    Has(String),
    Lacks(String),
}

/// One run of the binary in a fresh temporary folder.
pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    status: i32,
    stdout: Vec<Expect>,
    stderr: Vec<Expect>,
}

/// What a run produced; the temporary folder lives as long as this does.
pub struct Output {
    pub dir: tempfile::TempDir,
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
}

impl Output {
    /// A path inside the test's folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    /// A file inside the test's folder, as text.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }
    /// stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    pub fn new() -> Self {
        Test {
            dir: tempfile::tempdir().expect("temporary folder"),
            args: Vec::new(),
            env: vec![
                ("NO_COLOR".into(), "1".into()),
                // The commit author must not depend on the machine's git configuration.
                ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ],
            status: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    /// Run in an existing temporary folder (to run again on what an earlier run left).
    pub fn in_dir(dir: tempfile::TempDir) -> Self {
        Test { dir, ..Self::new() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The test's folder, to run again in it after driving [`Test::command`] by hand.
    pub fn into_dir(self) -> tempfile::TempDir {
        self.dir
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// `--blueprint` with a fixture blueprint.
    pub fn blueprint(self, name: &str) -> Self {
        let path = fixture_blueprint(name);
        self.arg("--blueprint").arg(path)
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Write a file into the test's folder.
    pub fn write(self, rel: &str, content: &str) -> Self {
        let path = self.dir.path().join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).unwrap();
        }
        std::fs::write(path, content).unwrap();
        self
    }

    pub fn status(mut self, code: i32) -> Self {
        self.status = code;
        self
    }

    pub fn stdout(mut self, exact: &str) -> Self {
        self.stdout.push(Expect::Exact(exact.into()));
        self
    }

    pub fn stdout_has(mut self, part: &str) -> Self {
        self.stdout.push(Expect::Has(part.into()));
        self
    }

    pub fn stderr(mut self, exact: &str) -> Self {
        self.stderr.push(Expect::Exact(exact.into()));
        self
    }

    pub fn stderr_has(mut self, part: &str) -> Self {
        self.stderr.push(Expect::Has(part.into()));
        self
    }

    pub fn stderr_lacks(mut self, part: &str) -> Self {
        self.stderr.push(Expect::Lacks(part.into()));
        self
    }

    /// The command this test runs (also for tests that start several at once).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trustprint"));
        cmd.args(&self.args).current_dir(self.dir.path());
        cmd.env_remove("TRUSTPRINT_BLUEPRINT")
            .env_remove("TRUSTPRINT_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(self) -> Output {
        let output = self
            .command()
            .output()
            .expect("running the trustprint binary");
        let out = Output {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            status: output.status.code().unwrap_or(-1),
            dir: self.dir,
        };
        let mut problems = Vec::new();
        if out.status != self.status {
            problems.push(format!(
                "exit status {} (expected {})",
                out.status, self.status
            ));
        }
        for (name, text, expects) in [
            ("stdout", &out.stdout, &self.stdout),
            ("stderr", &out.stderr, &self.stderr),
        ] {
            for e in expects {
                match e {
                    Expect::Exact(s) if text != s => {
                        problems.push(format!("{name} is not exactly:\n{s}"))
                    }
                    Expect::Has(s) if !text.contains(s.as_str()) => {
                        problems.push(format!("{name} lacks:\n{s}"))
                    }
                    Expect::Lacks(s) if text.contains(s.as_str()) => {
                        problems.push(format!("{name} should not contain:\n{s}"))
                    }
                    _ => {}
                }
            }
        }
        if !problems.is_empty() {
            let listing: Vec<String> = walk(out.dir.path());
            panic!(
                "\n{}\n--- command: trustprint {}\n--- in: {}\n--- files:\n{}\n--- stdout:\n{}\n--- stderr:\n{}\n",
                problems.join("\n"),
                self.args
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
                out.dir.path().display(),
                listing.join("\n"),
                out.stdout,
                out.stderr
            );
        }
        out
    }
}

/// Every file under `dir` (relative paths, sorted), skipping `.git`.
pub fn walk(dir: &Path) -> Vec<String> {
    fn go(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if p.is_dir() {
                go(root, &p, out);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    go(dir, dir, &mut out);
    out.sort();
    out
}

/// Every file under `dir` with its bytes (to compare a folder before and after).
pub fn snapshot_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    walk(dir)
        .into_iter()
        .map(|rel| {
            let bytes = std::fs::read(dir.join(&rel)).unwrap();
            (rel, bytes)
        })
        .collect()
}

/// A fleet repository's HEAD commit id, or None when it has none.
pub fn head(fleet: &Path) -> Option<String> {
    let repo = git2::Repository::open(fleet).ok()?;
    let head = repo.head().ok()?;
    head.target().map(|o| o.to_string())
}
