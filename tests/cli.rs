//! Integration tests: cli. The commands through the real binary: stamp into temp fleet repositories asserted
//! through git2, exit codes, `--output json`, completions and `--help`.

use crate::harness::{head, snapshot_dir, values, Test};
use std::path::Path;

fn stamp_test(name: &str, ods: &str, extra: &str) -> Test {
    Test::new()
        .write("values.yaml", &values(name, ods, extra))
        .blueprint("render-cases")
        .args(["stamp", "--values", "values.yaml", "--fleet", "fleet"])
}

/// Run a stamp in the folder an earlier test run left.
fn restamp(dir: tempfile::TempDir, name: &str, ods: &str, extra: &str) -> Test {
    Test::in_dir(dir)
        .write("values.yaml", &values(name, ods, extra))
        .blueprint("render-cases")
        .args(["stamp", "--values", "values.yaml", "--fleet", "fleet"])
}

fn commit_count(fleet: &Path) -> usize {
    let repo = git2::Repository::open(fleet).unwrap();
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    walk.count()
}

#[test]
fn stamp_records_one_commit_with_the_trust_files() {
    let out = stamp_test("A TRUST", "RJ1", "")
        .stdout_has("recorded trusts/RJ1 in fleet as commit ")
        .run();
    let fleet = out.path("fleet");
    let repo = git2::Repository::open(&fleet).unwrap();
    let commit = repo.head().unwrap().peel_to_commit().unwrap();
    assert_eq!(commit.parent_count(), 0);
    assert_eq!(
        commit.summary(),
        Some("Stamp A TRUST (RJ1) with render-cases 0.1.0")
    );
    assert!(commit.message().unwrap().contains("ODS code: RJ1\n"));
    let tree = commit.tree().unwrap();
    let mut files = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            files.push(format!("{dir}{}", entry.name().unwrap()));
        }
        git2::TreeWalkResult::Ok
    })
    .unwrap();
    assert_eq!(
        files,
        [
            "trusts/RJ1/rendered/governance.json",
            "trusts/RJ1/rendered/governance.parameters.json",
            "trusts/RJ1/rendered/render-manifest.json",
            "trusts/RJ1/rendered/workload.json",
            "trusts/RJ1/rendered/workload.parameters.json",
            "trusts/RJ1/trustprint.lock",
            "trusts/RJ1/values.yaml",
        ]
    );
    assert_eq!(
        out.read("fleet/trusts/RJ1/values.yaml"),
        values("A TRUST", "RJ1", "")
    );
    let lock = out.read("fleet/trusts/RJ1/trustprint.lock");
    for part in [
        "name: render-cases",
        "version: 0.1.0",
        "trustprint_version: ",
        "render_hash: sha256:",
        "content_hash: sha256:",
        "governance.json: sha256:",
    ] {
        assert!(lock.contains(part), "lock lacks {part}:\n{lock}");
    }
    assert!(
        repo.statuses(None).unwrap().is_empty(),
        "fleet work tree clean"
    );
}

#[test]
fn restamping_identical_inputs_makes_no_commit() {
    let first = stamp_test("A TRUST", "RJ1", "").run();
    let before = head(&first.path("fleet"));
    let again = restamp(first.dir, "A TRUST", "RJ1", "")
        .stdout_has("trusts/RJ1 in fleet is unchanged: no commit")
        .run();
    assert_eq!(head(&again.path("fleet")), before);
    assert_eq!(commit_count(&again.path("fleet")), 1);
}

#[test]
fn stamp_json_output_names_the_commit() {
    let out = stamp_test("A TRUST", "RJ1", "")
        .args(["--output", "json"])
        .run();
    let v = out.json();
    assert_eq!(
        v["record"]["commit"].as_str(),
        head(&out.path("fleet")).as_deref()
    );
    assert_eq!(v["record"]["trust_dir"], "trusts/RJ1");
    assert_eq!(v["trust"]["odsCode"], "RJ1");
    assert_eq!(v["deployments"][0]["name"], "governance");
}

/// A failed stamp, at each stage, leaves the fleet's HEAD and files exactly as they were.
#[test]
fn a_failed_stamp_leaves_the_fleet_unchanged() {
    let first = stamp_test("A TRUST", "RJ1", "").run();
    let fleet = first.path("fleet");
    let before_head = head(&fleet);
    let before_files = snapshot_dir(&fleet);
    let mut dir = first.dir;
    for (extra, status, stderr) in [
        ("colour: blue\n", 4, "colour"),
        (
            "case: undefined-variable\n",
            4,
            "Variable `trust.nmae` not found",
        ),
        ("case: bad-json\n", 4, "rendered invalid JSON"),
        (
            "azure:\n  location: westeurope\n",
            3,
            "guardrail violation(s)",
        ),
    ] {
        let out = restamp(dir, "A RENAMED TRUST", "RJ1", extra)
            .status(status)
            .stderr_has(stderr)
            .run();
        assert_eq!(head(&out.path("fleet")), before_head, "{extra}");
        assert_eq!(snapshot_dir(&out.path("fleet")), before_files, "{extra}");
        dir = out.dir;
    }
}

#[test]
fn guardrail_violation_exits_3_with_the_report() {
    Test::new()
        .write(
            "values.yaml",
            &values("A TRUST", "RJ1", "azure:\n  location: westeurope\n"),
        )
        .blueprint("render-cases")
        .args(["check", "--values", "values.yaml"])
        .status(3)
        .stdout_has("TP-LOC-001")
        .stderr_has("guardrail violation(s)")
        .run();
}

#[test]
fn check_json_reports_violations_on_stdout_and_the_error_on_stderr() {
    let out = Test::new()
        .write(
            "values.yaml",
            &values("A TRUST", "RJ1", "azure:\n  location: westeurope\n"),
        )
        .blueprint("render-cases")
        .args(["check", "--values", "values.yaml", "--output", "json"])
        .status(3)
        .run();
    let v = out.json();
    assert_eq!(v["check"]["findings"][0]["rule"]["id"], "TP-LOC-001");
    assert_eq!(v["trust"]["odsCode"], "RJ1");
    let err: serde_json::Value = serde_json::from_str(&out.stderr).unwrap();
    assert_eq!(
        err,
        serde_json::json!({"error": {
            "kind": "violations",
            "message": format!("{} guardrail violation(s)", err["error"]["violations"]),
            "causes": [],
            "exitCode": 3,
            "violations": err["error"]["violations"],
        }})
    );
    assert!(err["error"]["violations"].as_u64().unwrap() >= 1);
}

#[test]
fn check_passes_a_clean_trust() {
    Test::new()
        .write("values.yaml", &values("A TRUST", "RJ1", ""))
        .blueprint("render-cases")
        .args(["check", "--values", "values.yaml"])
        .stdout_has("0 violations")
        .run();
}

#[test]
fn a_second_stamp_waits_for_the_lock_then_gives_up_clearly() {
    let first = stamp_test("A TRUST", "RJ1", "").run();
    let lock_path = first.path("fleet/.git/trustprint.lock");
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&lock_path)
        .unwrap();
    lock.lock().unwrap();
    std::fs::write(
        &lock_path,
        "trustprint 0.1.0 pid 4242 since 2026-01-01T00:00:00Z\n",
    )
    .unwrap();
    let before = head(&first.path("fleet"));
    let out = restamp(first.dir, "A TRUST", "RJ2", "")
        .args(["--lock-timeout", "1"])
        .status(1)
        .stderr_has("waiting for the fleet repository")
        .stderr_has(
            "is locked by another trustprint (trustprint 0.1.0 pid 4242 since 2026-01-01T00:00:00Z); gave up \
             after 1 s (raise --lock-timeout, or remove",
        )
        .run();
    assert_eq!(head(&out.path("fleet")), before);
    // Once the holder lets go, a waiting stamp goes ahead.
    let test = restamp(out.dir, "A TRUST", "RJ2", "");
    let child = test.command().spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    lock.unlock().unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(commit_count(&test.path().join("fleet")), 2);
}

#[test]
fn concurrent_stamps_both_land_consistently() {
    let first = stamp_test("FIRST TRUST", "RJ1", "").run();
    let dir = first.dir;
    let a = Test::in_dir(dir)
        .write("a.yaml", &values("SECOND TRUST", "RJ2", ""))
        .write("b.yaml", &values("THIRD TRUST", "RJ3", ""));
    let cmd = |file: &str| {
        let mut c = a.command();
        c.args(["--blueprint"])
            .arg(crate::harness::fixture_blueprint("render-cases"))
            .args(["stamp", "--values", file, "--fleet", "fleet"]);
        c
    };
    let (mut ca, mut cb) = (cmd("a.yaml"), cmd("b.yaml"));
    let (pa, pb) = (ca.spawn().unwrap(), cb.spawn().unwrap());
    for p in [
        pa.wait_with_output().unwrap(),
        pb.wait_with_output().unwrap(),
    ] {
        assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    }
    let fleet = a.path().join("fleet");
    assert_eq!(commit_count(&fleet), 3);
    let repo = git2::Repository::open(&fleet).unwrap();
    let tree = repo.head().unwrap().peel_to_tree().unwrap();
    for ods in ["RJ1", "RJ2", "RJ3"] {
        assert!(tree
            .get_path(Path::new(&format!("trusts/{ods}/trustprint.lock")))
            .is_ok());
    }
    assert!(repo.statuses(None).unwrap().is_empty());
}

#[test]
fn values_errors_exit_4_and_json_errors_go_to_stderr() {
    let out = Test::new()
        .write("values.yaml", &values("A TRUST", "RJ1", "colour: blue\n"))
        .blueprint("render-cases")
        .args([
            "--output",
            "json",
            "render",
            "--values",
            "values.yaml",
            "--out",
            "out",
        ])
        .status(4)
        .stdout("")
        .run();
    let err: serde_json::Value = serde_json::from_str(&out.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "values");
    assert_eq!(err["error"]["exitCode"], 4);
    assert_eq!(err["error"]["diagnostics"][0]["line"], 4);
    assert!(!out.path("out").exists());
}

#[test]
fn usage_errors_exit_4_and_help_exits_0() {
    Test::new()
        .args(["render", "--values", "v.yaml"])
        .status(4)
        .stderr_has("--out <DIR>")
        .run();
    Test::new().arg("frobnicate").status(4).run();
    Test::new().arg("--version").stdout_has("trustprint ").run();
}

#[test]
fn every_command_help_shows_an_example() {
    for cmd in [
        vec!["render"],
        vec!["check"],
        vec!["stamp"],
        vec!["values", "schema"],
        vec!["blueprint", "lint"],
        vec!["completions"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let example = format!("  trustprint {}", cmd[0]);
        Test::new()
            .args(args)
            .stdout_has("Example")
            .stdout_has(&example)
            .run();
    }
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _trustprint"),
        ("zsh", "#compdef trustprint"),
        ("fish", "complete -c trustprint"),
    ] {
        Test::new()
            .args(["completions", shell])
            .stdout_has(marker)
            .stdout_has("stamp")
            .run();
    }
}

#[test]
fn blueprint_lint_reports_a_clean_blueprint() {
    Test::new()
        .blueprint("render-cases")
        .args(["blueprint", "lint"])
        .stdout_has("render-cases 0.1.0")
        .run();
}

#[test]
fn set_overrides_the_values_file() {
    let out = Test::new()
        .write("values.yaml", &values("A TRUST", "RJ1", ""))
        .blueprint("render-cases")
        .args(["render", "--values", "values.yaml", "--out", "out"])
        .args([
            "--set",
            "azure.location=ukwest",
            "--set",
            "trust.name=SET TRUST",
        ])
        .stdout_has("SET TRUST (RJ1) with render-cases 0.1.0: 2 deployment(s)")
        .stdout_has("2. workload (resource group rg-rj1-ukw-app, ukwest)")
        .run();
    assert!(out.read("out/governance.json").contains("\"SET TRUST\""));
}

#[test]
fn colour_only_when_asked() {
    let bad = values("A TRUST", "RJ1", "colour: blue\n");
    let plain = Test::new()
        .write("values.yaml", &bad)
        .blueprint("render-cases")
        .args(["check", "--values", "values.yaml"])
        .status(4)
        .stderr_has("error: unknown key `colour`")
        .run();
    assert!(!plain.stderr.contains('\x1b'), "{}", plain.stderr);
    let coloured = Test::new()
        .write("values.yaml", &bad)
        .blueprint("render-cases")
        .args(["check", "--values", "values.yaml", "--color", "always"])
        .status(4)
        .run();
    assert!(coloured.stderr.contains("\x1b["), "{}", coloured.stderr);
}

#[test]
fn verbose_logs_go_to_stderr_and_quiet_silences_them() {
    let verbose = stamp_test("A TRUST", "RJ1", "")
        .arg("-v")
        .stderr_has("created fleet repository")
        .run();
    assert!(verbose.stdout.contains("recorded trusts/RJ1"));
    stamp_test("A TRUST", "RJ1", "").arg("-q").stderr("").run();
}

#[test]
fn values_schema_is_json_schema_of_the_blueprint() {
    let out = Test::new()
        .blueprint("render-cases")
        .args(["values", "schema"])
        .run();
    let schema = out.json();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(schema["properties"]["trust"]["properties"]["ods_code"].is_object());
    assert_eq!(
        schema["properties"]["case"]["enum"],
        serde_json::json!(["ok", "undefined-variable", "bad-json"])
    );
}

#[test]
fn the_fleet_records_the_same_files_render_writes() {
    let out = stamp_test("A TRUST", "RJ1", "").run();
    let rendered = Test::in_dir(out.dir)
        .blueprint("render-cases")
        .args(["render", "--values", "values.yaml", "--out", "out"])
        .run();
    assert_eq!(
        snapshot_dir(&rendered.path("out")),
        snapshot_dir(&rendered.path("fleet/trusts/RJ1/rendered"))
    );
}
