//! The evidence pack: its mapping, its contents, its determinism and its commit to the fleet repository.

use crate::harness::Test;
use serde_json::Value;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn example(name: &str) -> PathBuf {
    Path::new(ROOT)
        .join("blueprints/exemplar-epr/examples")
        .join(name)
}

fn control<'a>(pack: &'a Value, id: &str) -> &'a Value {
    pack["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no control {id}"))
}

#[test]
fn the_pack_maps_controls_to_ncsc_the_uk_official_groups_and_dspt() {
    let out = Test::new()
        .args(["evidence", "--out", "pack", "--values"])
        .arg(example("royal-berkshire-rhw.yaml"))
        .stdout_has(
            "Evidence pack for ROYAL BERKSHIRE NHS FOUNDATION TRUST (RHW) written to pack\n",
        )
        .run();
    let pack: Value = serde_json::from_str(&out.read("pack/evidence.json")).unwrap();
    assert_eq!(pack["blueprint"]["name"], "exemplar-epr");
    assert_eq!(pack["blueprint"]["version"], "1.1.0");
    let backup = control(&pack, "TP-BAK-001");
    assert_eq!(backup["status"], "met");
    assert_eq!(
        backup["ncsc"],
        serde_json::json!(["2. Asset protection and resilience"])
    );
    assert_eq!(
        backup["ukOfficialGroups"],
        serde_json::json!(["UK_NCSC_CSP_2.6"])
    );
    assert_eq!(backup["dspt"], serde_json::json!(["B5.c Backups"]));
    let vault = control(&pack, "EST-BACKUP");
    assert_eq!(vault["status"], "deployed");
    let dr = control(&pack, "EST-DR");
    assert_eq!(
        (
            dr["status"].as_str(),
            dr["resources"].as_array().unwrap().len()
        ),
        (Some("deployed"), 1)
    );
    // RHW names no Lighthouse tenant: that control is not deployed, and the pack says so.
    assert_eq!(control(&pack, "EST-LIGHTHOUSE")["status"], "not-deployed");
    let initiative = control(&pack, "EST-POLICY");
    assert_eq!(
        initiative["resources"],
        serde_json::json!(["/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/policyAssignments/pa-rhw-uk-official-nhs"])
    );
    let assignments: Vec<&str> = pack["policyAssignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["policyDefinitionId"].as_str().unwrap())
        .collect();
    assert!(assignments.contains(&"/providers/Microsoft.Authorization/policySetDefinitions/3937f550-eedd-4639-9c5e-294358be442e"));
    assert_eq!(pack["guardrails"]["passed"], true);

    // Secrets are named, never valued: the values hold no secret parameter and no environment variable name.
    assert!(pack["secretParameters"]
        .as_array()
        .unwrap()
        .contains(&Value::from("vm.admin_password")));
    assert!(pack["values"]["vm"].get("admin_password").is_none());
    for file in [
        "pack/evidence.md",
        "pack/evidence.html",
        "pack/evidence.json",
    ] {
        assert!(
            !out.read(file).contains("TP_RHW_VM_ADMIN_PASSWORD"),
            "{file}"
        );
    }

    let md = out.read("pack/evidence.md");
    assert!(md.contains(
        "| TP-BAK-001 Every VM backed up by a Recovery Services vault | met | 2. Asset protection and resilience \
         | UK_NCSC_CSP_2.6 | B5.c Backups |"
    ));
    assert!(md.contains("No fleet repository was given: no deployment record."));
    // The page stands alone: no scripts, stylesheets or images fetched from anywhere.
    let html = out.read("pack/evidence.html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    for external in ["<script", "<link", "src=", "href="] {
        assert!(!html.contains(external), "{external}");
    }
    assert!(html.contains("<td>TP-BAK-001 Every VM backed up by a Recovery Services vault</td>"));
}

#[test]
fn the_pack_is_the_same_for_the_same_inputs_apart_from_its_timestamp() {
    let run = || {
        Test::new()
            .args(["evidence", "--out", "pack", "--values"])
            .arg(example("northern-care-alliance-rm3.yaml"))
            .run()
    };
    let (a, b) = (run(), run());
    let stamp = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    for file in [
        "pack/evidence.md",
        "pack/evidence.html",
        "pack/evidence.json",
    ] {
        let (x, y) = (a.read(file), b.read(file));
        assert_eq!(stamp.find_iter(&x).count(), 1, "{file}: one timestamp");
        assert_eq!(
            stamp.replace_all(&x, "<T>"),
            stamp.replace_all(&y, "<T>"),
            "{file}"
        );
    }
}

#[test]
fn waived_findings_carry_their_justification_and_violations_show() {
    let inputs = trustprint::run::Inputs {
        blueprint: trustprint::blueprint::SourceSpec::Embedded,
        values: trustprint::values::ValuesInput {
            file: Some(example("leeds-community-ry6.yaml")),
            ..Default::default()
        },
    };
    let mut checked = trustprint::run::check_trust(&inputs).unwrap();
    let rule = |id: &str| {
        trustprint::check::rules()
            .iter()
            .find(|r| r.id == id)
            .unwrap()
    };
    let finding = |id: &str, waiver: Option<&str>| trustprint::check::Finding {
        rule: rule(id),
        resource_id: "/subscriptions/s/resourceGroups/NetworkWatcherRG".into(),
        resource_type: "Microsoft.Resources/resourceGroups".into(),
        deployment: "governance".into(),
        detail: "tags are missing".into(),
        waiver: waiver.map(|j| trustprint::model::Waiver {
            rule: id.into(),
            resource: "/subscriptions/*/resourceGroups/NetworkWatcherRG".into(),
            justification: j.into(),
        }),
    };
    checked
        .report
        .findings
        .push(finding("TP-TAG-001", Some("Created by Azure itself")));
    checked.report.findings.push(finding("TP-NET-002", None));
    let pack = trustprint::evidence::build(
        &checked,
        &trustprint::evidence::Inputs {
            generated_at: Some("2026-11-29T07:00:00Z".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let v = serde_json::json!(pack);
    assert_eq!(control(&v, "TP-TAG-001")["status"], "waived");
    assert_eq!(control(&v, "TP-NET-002")["status"], "violated");
    assert_eq!(v["guardrails"]["passed"], false);
    assert_eq!(
        v["guardrails"]["waived"][0]["justification"],
        "Created by Azure itself"
    );
    let dir = tempfile::tempdir().unwrap();
    trustprint::evidence::write(dir.path(), &pack).unwrap();
    let md = std::fs::read_to_string(dir.path().join("evidence.md")).unwrap();
    assert!(md.contains(
        "| TP-TAG-001 | waived | /subscriptions/s/resourceGroups/NetworkWatcherRG | tags are missing | Created by \
         Azure itself |"
    ));
    assert!(md.contains(
        "| TP-NET-002 No public IPs on VM network interfaces | VIOLATED (1 finding(s)) |"
    ));
    assert!(md.contains("Guardrails FAILED over"));
}

#[test]
fn with_a_fleet_the_pack_reads_the_lock_and_is_committed_to_the_trusts_folder() {
    let t = Test::new()
        .args(["stamp", "--no-deploy", "--fleet", "fleet", "--values"])
        .arg(example("leeds-community-ry6.yaml"))
        .run();
    let out = Test::in_dir(t.dir)
        .args(["evidence", "--out", "pack", "--fleet", "fleet", "--values"])
        .arg(example("leeds-community-ry6.yaml"))
        .stdout_has("Committed to the fleet repository as ")
        .run();
    let repo = git2::Repository::open(out.path("fleet")).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    assert!(head.message().unwrap().starts_with(
        "Evidence pack for LEEDS COMMUNITY HEALTHCARE NHS TRUST (RY6) with exemplar-epr 1.1.0\n"
    ));
    let tree = head.tree().unwrap();
    for file in ["evidence.md", "evidence.html", "evidence.json"] {
        let entry = tree
            .get_path(Path::new(&format!("trusts/RY6/evidence/{file}")))
            .unwrap();
        let blob = repo.find_blob(entry.id()).unwrap();
        assert_eq!(
            blob.content(),
            std::fs::read(out.path(&format!("fleet/trusts/RY6/evidence/{file}"))).unwrap()
        );
    }
    // Only the evidence changed in that commit, and the working tree is clean.
    let parent = head.parent(0).unwrap().tree().unwrap();
    let diff = repo
        .diff_tree_to_tree(Some(&parent), Some(&tree), None)
        .unwrap();
    assert_eq!(diff.deltas().count(), 3);
    assert!(repo
        .statuses(None)
        .unwrap()
        .iter()
        .all(|s| s.path().is_some_and(|p| !p.starts_with("trusts/"))));
    let md = out.read("fleet/trusts/RY6/evidence/evidence.md");
    assert!(md.contains("trusts/RY6/trustprint.lock records no apply yet."));

    // A restamp with a changed value rewrites the trust's folder and keeps the committed evidence.
    let out = Test::in_dir(out.dir)
        .args([
            "stamp",
            "--no-deploy",
            "--fleet",
            "fleet",
            "--set",
            "cost_centre=LCH-IT-2",
            "--values",
        ])
        .arg(example("leeds-community-ry6.yaml"))
        .run();
    let repo = git2::Repository::open(out.path("fleet")).unwrap();
    let restamp = repo.head().unwrap().peel_to_commit().unwrap();
    assert!(
        restamp.message().unwrap().starts_with("Restamp "),
        "{:?}",
        restamp.message()
    );
    assert!(restamp
        .tree()
        .unwrap()
        .get_path(Path::new("trusts/RY6/evidence/evidence.md"))
        .is_ok());
    assert_eq!(out.read("fleet/trusts/RY6/evidence/evidence.md"), md);
}

#[test]
fn evidence_with_a_fleet_that_does_not_hold_the_trust_says_so() {
    Test::new()
        .args(["evidence", "--out", "pack", "--fleet", "nowhere", "--values"])
        .arg(example("leeds-community-ry6.yaml"))
        .status(4)
        .stderr("error: fleet repository nowhere: no trusts/RY6/trustprint.lock; stamp the trust into the fleet first\n")
        .run();
}

const UK_NHS: &str = "3937f550-eedd-4639-9c5e-294358be442e";
const NCSC_CAF: &str = "6d220abf-cf6f-4b17-8f7e-0644c4cc84b4";

/// What the local cloud kept in `state_dir` says, through its own Microsoft.PolicyInsights `summarize` at
/// the subscription: per group of the initiative's assignment, how many policies are in each compliance
/// state (`NonCompliant`, `Compliant`, `Unknown`, ...).
pub(crate) fn local_cloud_group_policies(
    state_dir: &Path,
    subscription: &str,
    initiative: &str,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = trustprint::cloud::Server::start(trustprint::cloud::Config {
            state_dir: Some(state_dir.to_path_buf()),
            ..trustprint::cloud::Config::default()
        })
        .await
        .unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let token = crate::cloud::token(&http, server.url()).await;
        let summary: Value = http
            .post(format!(
                "{}/subscriptions/{subscription}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize?api-version=2019-10-01",
                server.url()
            ))
            .bearer_auth(token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let assignment = summary["value"][0]["policyAssignments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| {
                a["policySetDefinitionId"]
                    .as_str()
                    .is_some_and(|s| s.ends_with(initiative))
            })
            .unwrap_or_else(|| panic!("no assignment of {initiative}: {summary}"))
            .clone();
        assignment["policyGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                let counts = g["results"]["policyDetails"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| {
                        (
                            d["complianceState"].as_str().unwrap().to_string(),
                            d["count"].as_u64().unwrap(),
                        )
                    })
                    .collect();
                (g["policyGroupName"].as_str().unwrap().to_string(), counts)
            })
            .collect()
    })
}

fn compliance<'a>(pack: &'a Value, initiative: &str) -> &'a Value {
    pack["policyCompliance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["initiative"] == initiative)
        .unwrap_or_else(|| panic!("no {initiative} in the pack"))
}

/// Issue 15 point 5: a trust stamped into the local cloud (its governance deployment assigns the UK OFFICIAL
/// and UK NHS initiative) has, in its evidence pack, each group's state after deployment as the local cloud's
/// PolicyInsights reports it, beside the state before deployment and the DSPT outcomes the group supports.
#[test]
fn after_deployment_each_group_shows_the_local_clouds_policy_states_beside_before_deployment() {
    let values = example("royal-berkshire-rhw.yaml");
    // Before the stamp the local cloud has no state for the trust: the pack says so and what to do.
    let out = Test::new()
        .args(["evidence", "--out", "pack", "--target", "local", "--values"])
        .arg(&values)
        .run();
    let pack: Value = serde_json::from_str(&out.read("pack/evidence.json")).unwrap();
    let before = &compliance(&pack, UK_NHS)["afterDeployment"];
    assert_eq!(before["status"], "not-evaluated", "{before}");
    assert!(
        before["message"]
            .as_str()
            .unwrap()
            .contains("run again with --trigger-evaluation"),
        "{before}"
    );

    let out = crate::deploy::with_example_secrets(Test::in_dir(out.dir), "RHW")
        .args(["stamp", "--target", "local", "--fleet", "fleet", "--values"])
        .arg(&values)
        .stdout_has("Apply complete: 6 deployment(s), ")
        .run();
    let out = Test::in_dir(out.dir)
        .args(["evidence", "--out", "pack", "--target", "local", "--values"])
        .arg(&values)
        .run();
    let pack: Value = serde_json::from_str(&out.read("pack/evidence.json")).unwrap();
    let uk = compliance(&pack, UK_NHS);
    let after = &uk["afterDeployment"];
    assert_eq!(after["status"], "evaluated", "{after}");
    assert!(
        after["target"]
            .as_str()
            .unwrap()
            .starts_with("local cloud at http://127.0.0.1:"),
        "{after}"
    );
    assert!(
        after["assignments"][0]
            .as_str()
            .unwrap()
            .ends_with("/policyAssignments/pa-rhw-uk-official-nhs"),
        "{after}"
    );
    let sub = after["subscriptionId"].as_str().unwrap();
    let cloud = local_cloud_group_policies(&out.path(".trustprint/cloud"), sub, UK_NHS);
    let groups = after["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 23);
    let mut evaluated = 0;
    for g in groups {
        let name = g["name"].as_str().unwrap();
        let counts = cloud.get(name);
        let n = |state: &str| counts.and_then(|c| c.get(state)).copied().unwrap_or(0);
        assert_eq!(
            g["non_compliant"],
            n("NonCompliant"),
            "{name}: {g} vs {counts:?}"
        );
        assert_eq!(
            g["compliant"],
            n("Compliant") + n("Protected") + n("Exempt"),
            "{name}: {g} vs {counts:?}"
        );
        assert_eq!(
            g["not_evaluable"],
            n("Unknown"),
            "{name}: {g} vs {counts:?}"
        );
        let state = match () {
            () if n("NonCompliant") > 0 => "non-compliant",
            () if n("Compliant") + n("Exempt") + n("Protected") > 0 => "compliant",
            () if n("Unknown") > 0 => "not-evaluable",
            () => "not-applicable",
        };
        assert_eq!(g["state"], state, "{name}");
        evaluated += usize::from(counts.is_some());
    }
    assert!(
        evaluated > 5,
        "only {evaluated} groups have states: {cloud:?}"
    );
    // The DSPT outcomes each group supports travel with it.
    assert_eq!(
        uk["dspt"]["UK_NCSC_CSP_2.6"],
        serde_json::json!([
            "B5.a Resilience preparation",
            "B5.b Design for resilience",
            "B5.c Backups",
            "D1.a Response plan"
        ])
    );
    // The blueprint does not assign NCSC CAF: the target has nothing of it.
    let caf = compliance(&pack, NCSC_CAF);
    assert_eq!(caf["afterDeployment"]["status"], "not-evaluated");
    assert_eq!(
        caf["dspt"]["UK_NCSC_CAF_v3.2_B4.b"],
        serde_json::json!(["B4.b Secure configuration"])
    );
    let md = out.read("pack/evidence.md");
    assert!(
        md.contains("| Group | Control | Before deployment | After deployment | DSPT outcomes |"),
        "{md}"
    );
    assert!(md.contains("After deployment: compliance "), "{md}");
    assert!(
        md.contains(&format!(
            "in subscription {sub} of the local cloud at http://127.0.0.1:"
        )),
        "{md}"
    );
}
