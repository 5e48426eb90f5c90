//! `blueprint import` (issue 16) on Microsoft's five Blueprint samples (tests/fixtures/azure-blueprints, MIT):
//! each imports, lints, renders, passes `check` and stamps into a local cloud, where its policy and role
//! assignments and resources can then be listed; importing twice gives identical output; what cannot be
//! translated is an error naming the artifact and the JSON path, and nothing is written.

use crate::harness::Test;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/azure-blueprints")
        .join(name)
}

/// Every file under `dir`, relative, with its bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = crate::harness::walk(dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(dir.join(&f)).unwrap();
            (f, bytes)
        })
        .collect();
    files.sort();
    files
}

fn import(sample_name: &str) -> crate::harness::Output {
    import_from(&sample(sample_name))
}

fn import_from(export: &Path) -> crate::harness::Output {
    Test::new()
        .args(["blueprint", "import", "--azure-blueprint"])
        .arg(export)
        .args(["--out", "imported"])
        .stdout_has("Imported ")
        .run()
}

/// A GET on the local cloud, as its `value` list.
fn list(
    rt: &tokio::runtime::Runtime,
    client: &trustprint::arm::ArmClient,
    path: &str,
    api: &str,
) -> Vec<Value> {
    let body = rt
        .block_on(client.get_resource(path, api))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .unwrap_or_else(|| panic!("GET {path}: not found"));
    body["value"].as_array().cloned().unwrap_or_default()
}

/// Import, lint, render, check and stamp one sample into a local cloud; then list what it made. Returns the
/// policy assignments' definition ids and the role assignments' principal ids found.
fn round_trip(sample_name: &str, example: &str) -> (Vec<String>, Vec<String>, Vec<Value>) {
    stamped(import(sample_name), example, |_, _, _| {})
}

/// Lint, render, check and stamp an imported blueprint into a local cloud; `also` looks at the cloud (runtime,
/// client, subscription) before it stops. Returns what [`round_trip`] does.
fn stamped(
    out: crate::harness::Output,
    example: &str,
    also: impl FnOnce(&tokio::runtime::Runtime, &trustprint::arm::ArmClient, &str),
) -> (Vec<String>, Vec<String>, Vec<Value>) {
    let bp = out.path("imported");
    let values = format!("imported/examples/{example}.yaml");
    let dir = out.dir;

    let lint = Test::in_dir(dir)
        .arg("--blueprint")
        .arg(&bp)
        .args(["blueprint", "lint"])
        .stdout_has("no problems")
        .run();
    let render = Test::in_dir(lint.dir)
        .arg("--blueprint")
        .arg(&bp)
        .args(["render", "--values", &values, "--out", "rendered"])
        .run();
    let check = Test::in_dir(render.dir)
        .arg("--blueprint")
        .arg(&bp)
        .args(["check", "--values", &values])
        .run();

    let (rt, server) = crate::deploy::start_cloud(trustprint::cloud::Config::default());
    let url = server.url().to_string();
    let stamp = Test::in_dir(check.dir)
        .arg("--blueprint")
        .arg(&bp)
        .args([
            "stamp",
            "--values",
            &values,
            "--fleet",
            "fleet",
            "--cloud-url",
            &url,
        ])
        .stdout_has("Apply complete")
        .run();
    let client = crate::deploy::local_client(&url);
    let sub = trustprint::deploy::target::local_subscription("RM3");
    let resources = list(
        &rt,
        &client,
        &format!("/subscriptions/{sub}/resources"),
        "2021-04-01",
    );
    let of_type = |t: &str, field: &str| -> Vec<String> {
        resources
            .iter()
            .filter(|r| {
                r["type"]
                    .as_str()
                    .is_some_and(|x| x.eq_ignore_ascii_case(t))
            })
            .filter_map(|r| r["properties"][field].as_str().map(str::to_string))
            .collect()
    };
    let policies = of_type(
        "Microsoft.Authorization/policyAssignments",
        "policyDefinitionId",
    );
    let roles = of_type("Microsoft.Authorization/roleAssignments", "principalId");
    also(&rt, &client, &sub);
    drop(stamp);
    rt.block_on(server.shutdown());
    (policies, roles, resources)
}

#[test]
fn boilerplate_imports_with_its_assignment_and_stamps() {
    let out = import("101-boilerplate");
    let example = out.read("imported/examples/101-boilerplate.yaml");
    // The assignment's values, its resource group name, and a UK region instead of its eastus.
    assert!(
        example.contains("principal_ids: \"caeebed6-cfa8-45ff-9d8a-03dba4ef9a7d\""),
        "{example}"
    );
    assert!(
        example.contains("generic_blueprint_parameter: \"test\""),
        "{example}"
    );
    assert!(
        example.contains("rg.single_rg.name: \"test-001\""),
        "{example}"
    );
    assert!(
        example.contains("# rg.single_rg.location: the assignment gave eastus"),
        "{example}"
    );
    let manifest = out.read("imported/blueprint.yaml");
    assert!(manifest.contains("mode: none"), "{manifest}");
    assert!(
        manifest.contains("ruleSets:\n  - uk-locations"),
        "{manifest}"
    );

    let (policies, roles, _) = round_trip("101-boilerplate", "101-boilerplate");
    assert_eq!(
        policies,
        ["/providers/Microsoft.Authorization/policyDefinitions/a451c1ef-c6ca-483d-87ed-f49761e3ffb5"]
    );
    assert_eq!(roles, ["caeebed6-cfa8-45ff-9d8a-03dba4ef9a7d"]);
}

#[test]
fn caf_foundation_imports_lints_renders_and_checks() {
    let out = import("caf-foundation");
    let manifest = out.read("imported/blueprint.yaml");
    // Resource group names computed from a parameter stay computed (as Tera over the values).
    assert!(
        manifest.contains("resourceGroup: '{{ organization_name }}-SharedSvcs-rg'"),
        "{manifest}"
    );
    let bp = out.path("imported");
    let values = "imported/examples/caf-foundation.yaml";
    let lint = Test::in_dir(out.dir)
        .arg("--blueprint")
        .arg(&bp)
        .args(["blueprint", "lint"])
        // Microsoft's published catalogue lists neither version; ARM still accepts both (older than the newest).
        .stdout_has("apiVersion `2017-08-01-preview` of `Microsoft.Security/pricings` is not in Microsoft's published catalogue")
        .stdout_has("apiVersion `2017-03-15-preview` of `Microsoft.OperationalInsights/workspaces` is not in Microsoft's published catalogue")
        .stdout_has("2 warning(s)")
        .run();
    // Held to UK locations: trustprint's other rules (Key Vault, storage, diagnostics) are advice.
    let check = Test::in_dir(lint.dir)
        .arg("--blueprint")
        .arg(&bp)
        .args(["check", "--values", values])
        .stdout_has("0 violations, 12 waived, 17 resources checked")
        .stdout_has("advice only: the blueprint is held to uk-locations")
        .run();
    // The sample's 2016-2018 api-versions (Microsoft.Security/pricings 2017-08-01-preview, Key Vault 2016-10-01,
    // storage 2018-07-01, Log Analytics 2017-03-15-preview) are older than each type's newest, so ARM accepts
    // them, and so does the local cloud; the legacy `<type>/providers/locks` form deploys too.
    Test::in_dir(check.dir)
        .arg("--blueprint")
        .arg(&bp)
        .args([
            "stamp", "--values", values, "--fleet", "fleet", "--target", "local",
        ])
        .stdout_has("✓ artifact-template-securitycenter-standard: Succeeded (deployed)")
        .stdout_has("✓ artifact-template-keyvaults-deploy: Succeeded (deployed)")
        .stdout_has("Apply complete: 16 deployment(s), 17 resource(s) deployed")
        .stdout_has("recorded trusts/RM3 in fleet as commit")
        .run();
}

#[test]
fn two_resource_groups_with_rbac_imports_and_stamps_its_role_assignments() {
    let (policies, roles, _) = round_trip(
        "two-resource-groups-with-rbac",
        "two-resource-groups-with-rbac",
    );
    assert!(policies.is_empty());
    // Three role assignments, at resource group scope, each for a made-up but well-formed principal id.
    assert_eq!(roles.len(), 3, "{roles:?}");
    for r in &roles {
        assert!(uuid::Uuid::parse_str(r).is_ok(), "{r}");
    }
}

#[test]
fn uk_nhs_imports_and_stamps_its_ten_policy_assignments() {
    let (policies, _, _) = round_trip("uknhs", "uknhs");
    assert_eq!(policies.len(), 10, "{policies:?}");
    assert!(policies.contains(
        &"/providers/Microsoft.Authorization/policySetDefinitions/3937f550-eedd-4639-9c5e-294358be442e".to_string()
    ));
}

#[test]
fn uk_official_governance_imports_and_stamps() {
    let (policies, _, _) = round_trip("ukofficial_governance", "ukofficial-governance");
    assert_eq!(policies.len(), 10, "{policies:?}");
}

#[test]
fn importing_twice_gives_identical_output() {
    for s in ["101-boilerplate", "caf-foundation", "uknhs"] {
        let a = import(s);
        let b = import(s);
        assert_eq!(tree(&a.path("imported")), tree(&b.path("imported")), "{s}");
    }
}

#[test]
fn an_untranslatable_expression_names_the_artifact_and_path_and_writes_nothing() {
    let t = Test::new();
    let src = t.path().join("export");
    std::fs::create_dir_all(src.join("artifacts")).unwrap();
    std::fs::copy(
        sample("101-boilerplate/blueprint.json"),
        src.join("blueprint.json"),
    )
    .unwrap();
    std::fs::write(
        src.join("artifacts/pa.json"),
        "\u{feff}{\"kind\": \"policyAssignment\", \"properties\": {\"policyDefinitionId\": \"/providers/Microsoft.Authorization/policyDefinitions/x\", \
         \"parameters\": {\"effect\": {\"value\": \"[parameters('genericBlueprintParameterr')]\"}}}}",
    )
    .unwrap();
    let out = t
        .args(["blueprint", "import", "--azure-blueprint", "export", "--out", "imported"])
        .status(4)
        .stderr_has("artifact `pa` at $.properties.parameters.effect.value: parameters('genericBlueprintParameterr') names no parameter of the blueprint; did you mean `genericBlueprintParameter`?")
        .run();
    assert!(!out.path("imported").exists());
    let leftovers: Vec<_> = std::fs::read_dir(out.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".trustprint-import")
        })
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn importing_into_an_existing_folder_is_refused() {
    Test::new()
        .write("imported/keep.txt", "mine")
        .args(["blueprint", "import", "--azure-blueprint"])
        .arg(sample("uknhs"))
        .args(["--out", "imported"])
        .status(1)
        .stderr_has("already exists")
        .run();
}

#[test]
fn artifact_outputs_reach_the_artifacts_that_read_them() {
    let out = import("artifact-outputs");
    let spoke = out.read("imported/templates/spoke.json.tera");
    assert!(
        spoke.contains("reference(resourceId(parameters('rg_network_name'), 'Microsoft.Resources/deployments', 'bp-outputs-hub'), '2021-04-01').outputs.vnetId.value"),
        "{spoke}"
    );
    let manifest = out.read("imported/blueprint.yaml");
    assert!(
        manifest.contains("- name: spoke") && manifest.contains("dependsOn:\n  - hub"),
        "the spoke is deployed after the hub though its dependsOn does not say so: {manifest}"
    );

    let (_, _, resources) = round_trip("artifact-outputs", "artifact-outputs");
    let nsg = resources
        .iter()
        .find(|r| r["name"] == "nsg-spoke")
        .expect("the spoke's network security group");
    let vnet = resources
        .iter()
        .find(|r| r["name"] == "vnet-hub")
        .expect("the hub's virtual network");
    assert_eq!(nsg["tags"]["hub"], vnet["id"]);
    assert_eq!(nsg["tags"]["hub-prefix"], "10.1.0.0/16");
}

#[test]
fn an_output_no_artifact_declares_is_an_error_naming_the_artifact() {
    let t = Test::new();
    let src = t.path().join("export");
    std::fs::create_dir_all(src.join("artifacts")).unwrap();
    let from = sample("artifact-outputs");
    std::fs::copy(from.join("blueprint.json"), src.join("blueprint.json")).unwrap();
    std::fs::copy(
        from.join("artifacts/hub.json"),
        src.join("artifacts/hub.json"),
    )
    .unwrap();
    let spoke = std::fs::read_to_string(from.join("artifacts/spoke.json"))
        .unwrap()
        .replace("outputs.vnetId", "outputs.vnetName");
    std::fs::write(src.join("artifacts/spoke.json"), spoke).unwrap();
    t.args(["blueprint", "import", "--azure-blueprint", "export", "--out", "imported"])
        .status(4)
        .stderr_has("artifact `spoke` at $.properties.parameters.hubId.value: artifacts('hub').outputs.vnetName: the template of artifact `hub` declares no output `vnetName`")
        .run();
}

/// Two folders hold the same files with the same bytes; else the first difference, readably.
fn same_tree(a: &Path, b: &Path, what: &str) {
    let (ta, tb) = (tree(a), tree(b));
    let names = |t: &[(String, Vec<u8>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ta), names(&tb), "{what}: different files");
    for ((n, x), (_, y)) in ta.iter().zip(&tb) {
        let (x, y) = (String::from_utf8_lossy(x), String::from_utf8_lossy(y));
        if let Some((i, (lx, ly))) = x
            .lines()
            .zip(y.lines())
            .enumerate()
            .find(|(_, (lx, ly))| lx != ly)
        {
            panic!("{what}: {n} differs at line {}:\n  {lx}\n  {ly}", i + 1);
        }
        assert_eq!(x, y, "{what}: {n} differs in length");
    }
}

/// Put a Microsoft sample into the local cloud over the Microsoft.Blueprint API, as Azure held it: the
/// definition, each artifact under its file's name, and a published version.
fn put_sample(
    rt: &tokio::runtime::Runtime,
    client: &trustprint::arm::ArmClient,
    scope: &str,
    sample_name: &str,
) -> String {
    let api = trustprint::blueprint::azure::API_VERSION;
    let read = |p: &Path| -> Value {
        let text = std::fs::read_to_string(p).unwrap();
        serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap()
    };
    let dir = sample(sample_name);
    let definition = read(&dir.join("blueprint.json"));
    // Azure names it as the export does: its `name`, else the folder's.
    let bp_name = definition["name"]
        .as_str()
        .unwrap_or(sample_name)
        .to_string();
    let bp = format!("{scope}/providers/Microsoft.Blueprint/blueprints/{bp_name}");
    rt.block_on(client.put_resource(
        &bp,
        api,
        &serde_json::json!({"properties": definition["properties"]}),
    ))
    .unwrap();
    for f in crate::harness::walk(&dir) {
        let Some(stem) = f
            .strip_prefix("artifact.")
            .or_else(|| f.strip_prefix("artifacts/"))
            .and_then(|s| s.strip_suffix(".json"))
        else {
            continue;
        };
        let a = read(&dir.join(&f));
        let name = a["name"].as_str().unwrap_or(stem).to_string();
        rt.block_on(client.put_resource(
            &format!("{bp}/artifacts/{name}"),
            api,
            &serde_json::json!({"kind": a["kind"], "properties": a["properties"]}),
        ))
        .unwrap();
    }
    rt.block_on(client.put_resource(
        &format!("{bp}/versions/1.0"),
        api,
        &serde_json::json!({"properties": {"changeNotes": "as published"}}),
    ))
    .unwrap();
    bp_name
}

#[test]
fn a_blueprint_read_from_azure_imports_as_its_export_does() {
    let (rt, server) = crate::deploy::start_cloud(trustprint::cloud::Config::default());
    let url = server.url().to_string();
    let client = crate::deploy::local_client(&url);
    let sub = "/subscriptions/c0c0c0c0-1111-4222-8333-444444444444";
    for name in ["two-resource-groups-with-rbac", "ukofficial_governance"] {
        let bp_name = put_sample(&rt, &client, sub, name);
        let folder = import(name);
        let azure = Test::new()
            .args([
                "blueprint",
                "import",
                "--from-azure",
                &bp_name,
                "--scope",
                sub,
                "--cloud-url",
                &url,
            ])
            .args(["--out", "imported"])
            .stdout_has("Imported ")
            .stderr_has("published version 1.0")
            .run();
        same_tree(&azure.path("imported"), &folder.path("imported"), name);
        // The definition is kept on disk: importing the written export again gives the same blueprint.
        let again = Test::in_dir(azure.dir)
            .args([
                "blueprint",
                "import",
                "--azure-blueprint",
                "imported.azure-export",
                "--out",
                "again",
            ])
            .run();
        same_tree(&again.path("again"), &folder.path("imported"), name);
    }
    // The published version is frozen: publishing it again is refused, as Azure does.
    let err = rt
        .block_on(client.put_resource(
            &format!(
                "{sub}/providers/Microsoft.Blueprint/blueprints/UKOFFICIAL_Governance/versions/1.0"
            ),
            trustprint::blueprint::azure::API_VERSION,
            &serde_json::json!({}),
        ))
        .unwrap_err();
    assert!(
        err.to_string().contains("PublishedBlueprintVersionExists"),
        "{err}"
    );
    // An unknown blueprint is an error naming it and its scope.
    Test::new()
        .args([
            "blueprint",
            "import",
            "--from-azure",
            "nope",
            "--scope",
            sub,
            "--cloud-url",
            &url,
        ])
        .args(["--out", "imported"])
        .status(4)
        .stderr_has("no blueprint `nope` in /subscriptions/c0c0c0c0-1111-4222-8333-444444444444")
        .run();
    rt.block_on(server.shutdown());
}

#[test]
fn management_groups_hold_blueprints_too() {
    let (rt, server) = crate::deploy::start_cloud(trustprint::cloud::Config::default());
    let url = server.url().to_string();
    let client = crate::deploy::local_client(&url);
    let mg = "/providers/Microsoft.Management/managementGroups/nhs-trusts";
    put_sample(&rt, &client, mg, "101-boilerplate");
    let list = rt
        .block_on(client.get_resource(
            &format!("{mg}/providers/Microsoft.Blueprint/blueprints/101-boilerplate/versions/1.0/artifacts"),
            trustprint::blueprint::azure::API_VERSION,
        ))
        .unwrap()
        .unwrap();
    let mut names: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["myTemplate", "policyAssignment", "rbacAssignment"]);
    let out = Test::new()
        .args(["blueprint", "import", "--from-azure"])
        .arg(format!(
            "{mg}/providers/Microsoft.Blueprint/blueprints/101-boilerplate/versions/1.0"
        ))
        .args(["--cloud-url", &url, "--out", "imported"])
        .stdout_has("Imported ")
        .run();
    assert!(out.read("imported/blueprint.yaml").contains("deployments:"));
    rt.block_on(server.shutdown());
}

#[test]
fn check_evaluates_the_initiative_the_imported_blueprint_assigned() {
    // UK OFFICIAL and UK NHS assigns Microsoft's initiative 3937f550-...: `check` evaluates it without --policy.
    let out = import("uknhs");
    let bp = out.path("imported");
    Test::in_dir(out.dir)
        .arg("--blueprint")
        .arg(&bp)
        .args(["check", "--values", "imported/examples/uknhs.yaml"])
        .stdout_has("Azure Policy: UK OFFICIAL and UK NHS")
        .run();
}

/// An assignment's lock becomes Deployment Stacks' deny settings: `AllResourcesDoNotDelete` imports as a
/// `denyDelete` stack per deployment (over child scopes, the lock's excluded principal and the deploying
/// identity excluded), and the stamp deploys them as such.
#[test]
fn an_assignments_lock_is_enforced_by_deployment_stacks() {
    let tmp = tempfile::tempdir().unwrap();
    // The folder's name is the blueprint's (and its example's).
    let export = tmp.path().join("101-boilerplate");
    for (f, bytes) in tree(&sample("101-boilerplate")) {
        let to = export.join(&f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, bytes).unwrap();
    }
    let assign = export.join("assign.json");
    let text = std::fs::read_to_string(&assign).unwrap();
    let mut json: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap();
    json["properties"]["locks"] = serde_json::json!({
        "mode": "AllResourcesDoNotDelete",
        "excludedPrincipals": ["7f1a2b3c-0000-4000-8000-000000000b0b"]
    });
    std::fs::write(&assign, serde_json::to_vec_pretty(&json).unwrap()).unwrap();

    let out = import_from(&export);
    let manifest: Value = serde_yaml::from_str(&out.read("imported/blueprint.yaml")).unwrap();
    let deployments = manifest["deployments"].as_array().unwrap();
    assert!(!deployments.is_empty());
    for d in deployments {
        let deny = &d["stack"]["denySettings"];
        assert_eq!(deny["mode"], "denyDelete", "{d}");
        assert_eq!(deny["applyToChildScopes"], true, "{d}");
        assert_eq!(
            deny["excludedPrincipals"],
            serde_json::json!(["7f1a2b3c-0000-4000-8000-000000000b0b", "deployer"]),
            "{d}"
        );
    }
    let stacks = std::cell::RefCell::new(Vec::new());
    stamped(out, "101-boilerplate", |rt, client, sub| {
        *stacks.borrow_mut() = list(
            rt,
            client,
            &format!("/subscriptions/{sub}/providers/Microsoft.Resources/deploymentStacks"),
            "2024-03-01",
        );
    });
    let stacks = stacks.into_inner();
    assert!(!stacks.is_empty(), "no subscription stack was deployed");
    for stack in &stacks {
        let p = &stack["properties"];
        assert_eq!(p["provisioningState"], "succeeded", "{stack}");
        assert_eq!(p["denySettings"]["mode"], "denyDelete", "{stack}");
        assert!(
            p["denySettings"]["excludedPrincipals"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("7f1a2b3c-0000-4000-8000-000000000b0b")),
            "{stack}"
        );
    }
}
