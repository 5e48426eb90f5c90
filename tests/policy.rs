//! Integration tests: Azure Policy. Microsoft's built-in initiatives over the four example trusts (committed
//! as snapshots and explained in docs/guardrails.md), and `trustprint check --policy` through the binary.

use crate::harness::Test;
use std::path::{Path, PathBuf};
use trustprint::blueprint::SourceSpec;
use trustprint::policy::{Library, PolicyState, State};
use trustprint::values::ValuesInput;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn blueprint_dir() -> PathBuf {
    root().join("blueprints/exemplar-epr")
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(blueprint_dir().join("examples"))
        .expect("examples folder")
        .map(|e| e.expect("examples entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// An example trust evaluated against a shipped initiative.
fn evaluate(values: &Path, initiative: &str) -> trustprint::policy::Report {
    let input = ValuesInput {
        file: Some(values.to_path_buf()),
        base: None,
        text: None,
        overrides: Vec::new(),
    };
    let loaded = trustprint::load::load(&SourceSpec::Dir(blueprint_dir()), &input).expect("loads");
    let rendered = trustprint::render::render(&loaded).expect("renders");
    let ctx = loaded.values.static_context();
    trustprint::policy::check_rendered(&rendered, &ctx, &[initiative.to_string()])
        .expect("evaluates")
        .remove(0)
}

#[test]
fn both_initiatives_over_the_example_trusts_snapshot() {
    for file in examples() {
        let stem = file.file_stem().unwrap().to_str().unwrap().to_string();
        for initiative in ["uk-nhs", "ncsc-caf"] {
            let report = evaluate(&file, initiative);
            insta::with_settings!({prepend_module_to_snapshot => false, snapshot_path => "snapshots"}, {
                insta::assert_snapshot!(format!("policy__{stem}__{initiative}"), report.render_text());
            });
        }
    }
}

#[test]
fn every_policy_of_both_initiatives_has_an_outcome_with_a_reason_when_not_judged() {
    let file = blueprint_dir().join("examples/northern-care-alliance-rm3.yaml");
    for initiative in ["uk-nhs", "ncsc-caf"] {
        let report = evaluate(&file, initiative);
        let expected = Library::builtin()
            .initiative(initiative)
            .unwrap()
            .references
            .len();
        assert_eq!(report.policies.len(), expected);
        assert_eq!(
            report.groups.len(),
            Library::builtin()
                .initiative(initiative)
                .unwrap()
                .groups
                .len()
        );
        for p in &report.policies {
            if matches!(
                p.state,
                PolicyState::NotApplicable | PolicyState::NotEvaluable
            ) {
                assert!(p.reason.is_some(), "{} has no reason", p.reference_id);
            }
            for r in &p.resources {
                match r.state {
                    State::NonCompliant => assert!(
                        !r.reasons.is_empty() || r.detail.is_some(),
                        "{} on {}: non-compliant without a reason",
                        p.reference_id,
                        r.resource_id
                    ),
                    State::NotEvaluable => {
                        assert!(r.detail.is_some(), "{}: no reason", p.reference_id)
                    }
                    _ => {}
                }
            }
        }
        // The built-ins are audit-only: the example trusts are never denied by them.
        assert!(report.passed());
    }
}

#[test]
fn check_with_policy_prints_the_initiative_groups_and_compliance() {
    let values = blueprint_dir().join("examples/royal-berkshire-rhw.yaml");
    Test::new()
        .arg("--blueprint")
        .arg(blueprint_dir())
        .arg("check")
        .arg("--values")
        .arg(&values)
        .args(["--policy", "uk-nhs"])
        .status(0)
        .stdout_has("Azure Policy: UK OFFICIAL and UK NHS v9.7.0")
        .stdout_has("UK_NCSC_CSP_2.3 2.3 Data at rest protection:")
        .stdout_has("compliance ")
        .run();
}

#[test]
fn check_with_policy_json_has_a_report_per_initiative() {
    let values = blueprint_dir().join("examples/royal-berkshire-rhw.yaml");
    let out = Test::new()
        .arg("--blueprint")
        .arg(blueprint_dir())
        .arg("check")
        .arg("--values")
        .arg(&values)
        .args([
            "--policy", "uk-nhs", "--policy", "ncsc-caf", "--output", "json",
        ])
        .status(0)
        .run();
    let json = out.json();
    let reports = json["policy"].as_array().expect("policy reports");
    assert_eq!(reports.len(), 2);
    assert_eq!(
        reports[0]["initiative"],
        "3937f550-eedd-4639-9c5e-294358be442e"
    );
    assert_eq!(reports[1]["groups"].as_array().unwrap().len(), 15);
    assert!(reports[0]["summary"]["compliance_percent"].is_number());
}

/// A user's own deny definition: storage accounts must refuse public blob access. One example trust that
/// allows it is denied like a guardrail violation.
const DENY_LOCATIONS: &str = r#"{
  "name": "deny-west-europe",
  "properties": {
    "displayName": "Nothing in West Europe",
    "mode": "Indexed",
    "policyRule": {
      "if": {"field": "location", "equals": "westeurope"},
      "then": {"effect": "deny"}
    }
  }
}"#;

#[test]
fn an_assigned_deny_fails_the_check_with_exit_code_3() {
    let values = blueprint_dir().join("examples/royal-berkshire-rhw.yaml");
    // The trust is in the UK, so a deny on UK South denies it.
    Test::new()
        .write(
            "deny.json",
            &DENY_LOCATIONS.replace("westeurope", "uksouth"),
        )
        .arg("--blueprint")
        .arg(blueprint_dir())
        .arg("check")
        .arg("--values")
        .arg(&values)
        .args(["--policy", "deny.json"])
        .status(3)
        .stdout_has("would be denied by Azure Policy")
        .stdout_has("location is \"uksouth\"; expected equals \"uksouth\"")
        .stderr_has("error: Azure Policy Nothing in West Europe would deny")
        .run();
    Test::new()
        .write("deny.json", DENY_LOCATIONS)
        .arg("--blueprint")
        .arg(blueprint_dir())
        .arg("check")
        .arg("--values")
        .arg(&values)
        .args(["--policy", "deny.json"])
        .status(0)
        .run();
}

#[test]
fn an_unknown_policy_name_is_invalid_input() {
    let values = blueprint_dir().join("examples/royal-berkshire-rhw.yaml");
    Test::new()
        .arg("--blueprint")
        .arg(blueprint_dir())
        .arg("check")
        .arg("--values")
        .arg(&values)
        .args(["--policy", "uk-nsh"])
        .status(4)
        .stderr_has("unknown policy \"uk-nsh\": expected uk-nhs, ncsc-caf or the path of a policy definition or initiative JSON file")
        .run();
}

#[test]
fn a_policy_file_that_is_not_json_names_the_line_and_column() {
    let values = blueprint_dir().join("examples/royal-berkshire-rhw.yaml");
    Test::new()
        .write("broken.json", "{\n  \"properties\": ,\n}")
        .arg("--blueprint")
        .arg(blueprint_dir())
        .arg("check")
        .arg("--values")
        .arg(&values)
        .args(["--policy", "broken.json"])
        .status(4)
        .stderr_has("broken.json:2:17: not JSON")
        .run();
}

#[test]
fn stamp_with_an_enforced_deny_records_nothing_and_exits_3() {
    let values = blueprint_dir().join("examples/royal-berkshire-rhw.yaml");
    let out = Test::new()
        .write(
            "deny.json",
            &DENY_LOCATIONS.replace("westeurope", "uksouth"),
        )
        .arg("--blueprint")
        .arg(blueprint_dir())
        .arg("stamp")
        .arg("--values")
        .arg(&values)
        .args(["--fleet", "fleet", "--policy", "deny.json"])
        .status(3)
        .stdout_has("would be denied by Azure Policy")
        .stderr_has("error: Azure Policy Nothing in West Europe would deny")
        .run();
    assert!(
        crate::harness::head(&out.path("fleet")).is_none(),
        "a denied stamp recorded a commit"
    );
    // Without a matching deny the stamp records, with the initiative's report beside the guardrails'.
    let out = Test::in_dir(out.dir)
        .write("deny.json", DENY_LOCATIONS)
        .arg("--blueprint")
        .arg(blueprint_dir())
        .arg("stamp")
        .arg("--values")
        .arg(&values)
        .args([
            "--fleet",
            "fleet",
            "--policy",
            "deny.json",
            "--policy",
            "uk-nhs",
        ])
        .status(0)
        .stdout_has("Azure Policy: UK OFFICIAL and UK NHS v9.7.0")
        .stdout_has("recorded trusts/RHW")
        .run();
    assert!(crate::harness::head(&out.path("fleet")).is_some());
}

#[test]
fn plan_with_policy_shows_the_report_and_is_not_stopped_by_a_deny() {
    let values = blueprint_dir().join("examples/royal-berkshire-rhw.yaml");
    let mut t = Test::new().write(
        "deny.json",
        &DENY_LOCATIONS.replace("westeurope", "uksouth"),
    );
    for secret in [
        "VM_ADMIN_PASSWORD",
        "AD_JOIN_PASSWORD",
        "SQL_ADMIN_PASSWORD",
        "SQL_CLUSTER_PASSWORD",
        "SQL_SERVICE_PASSWORD",
    ] {
        t = t.env(&format!("TP_RHW_{secret}"), "Plan-only-1234!");
    }
    let out = t
        .arg("--blueprint")
        .arg(blueprint_dir())
        .args(["plan", "--target", "local", "--values"])
        .arg(&values)
        .args(["--policy", "deny.json", "--output", "json"])
        .status(0)
        .run();
    let json = out.json();
    let report = &json["policy"][0];
    assert_eq!(report["display_name"], "Nothing in West Europe");
    assert!(!report["denials"].as_array().unwrap().is_empty());
}
