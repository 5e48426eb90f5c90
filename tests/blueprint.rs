//! The exemplar EPR blueprint (`blueprints/exemplar-epr`, templates under `templates/`), end to end through
//! the library: every example trust and every tier × HSCN option loads, renders, passes trustprint's own
//! guardrails with no violation, validates against the ARM deployment template schemas, and passes checkov's
//! ARM scan except the checks the manifest skips with a reason. Rendered output of the example trusts is
//! snapshotted.
//!
//! Schema validation without the network: `data/arm-schemas/` holds the ARM deployment template, subscription
//! deployment template and parameters schemas, which `$ref` one remote schema per resource type. A test-time
//! copy of each schema replaces every remote resource-type `$ref` with the schema's own `resourceBase` (the
//! outer structure every ARM resource shares: `name`, `type`, `apiVersion`, `location`, `tags`, `dependsOn`,
//! `condition`, `copy`, `scope`), turns the `oneOf` lists that held them into `anyOf` (uniqueness among
//! resource types cannot be judged without their schemas) with duplicates removed, and inlines the common
//! definitions (`expression`, ...) the schemas reference. What is checked: the template's top level
//! (`$schema`, `contentVersion`, `parameters`, `variables`, `outputs` and their types) and each resource's
//! shared outer structure; what is not: each resource type's `properties` (checkov and the guardrails look at
//! those).

use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use trustprint::blueprint::SourceSpec;
use trustprint::load::Loaded;
use trustprint::model::{Rendered, Scope};
use trustprint::values::ValuesInput;

const TIERS: [&str; 3] = ["small", "medium", "large"];
const HSCN: [&str; 3] = ["expressroute", "vpn", "none"];
/// The example whose values the tier × HSCN matrix varies.
const MATRIX_BASE: &str = "royal-berkshire-rhw.yaml";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn blueprint_dir() -> PathBuf {
    root().join("blueprints/exemplar-epr")
}

/// Every example values file, sorted.
fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(blueprint_dir().join("examples"))
        .expect("examples folder")
        .map(|e| e.expect("examples entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .expect("file stem")
        .to_string()
}

fn render(values: &Path, overrides: &[String]) -> (Loaded, Rendered) {
    let input = ValuesInput {
        file: Some(values.to_path_buf()),
        base: None,
        text: None,
        overrides: overrides.to_vec(),
    };
    let loaded = trustprint::load::load(&SourceSpec::Dir(blueprint_dir()), &input)
        .unwrap_or_else(|e| panic!("{} {overrides:?} does not load: {e}", values.display()));
    let rendered = trustprint::render::render(&loaded)
        .unwrap_or_else(|e| panic!("{} {overrides:?} does not render: {e}", values.display()));
    (loaded, rendered)
}

/// (case name, values file, `--set` overrides): every example, then every tier × HSCN option in both UK
/// regions (ukwest has no availability zones, so its templates take other branches).
fn cases() -> Vec<(String, PathBuf, Vec<String>)> {
    let mut cases: Vec<_> = examples()
        .into_iter()
        .map(|f| (stem(&f), f, Vec::new()))
        .collect();
    let base = blueprint_dir().join("examples").join(MATRIX_BASE);
    for location in ["uksouth", "ukwest"] {
        for tier in TIERS {
            for hscn in HSCN {
                cases.push((
                    format!("{location}-{tier}-{hscn}"),
                    base.clone(),
                    vec![
                        format!("azure.location={location}"),
                        format!("tier={tier}"),
                        format!("hscn.connectivity={hscn}"),
                    ],
                ));
            }
        }
    }
    cases
}

fn resources_of(rendered: &Rendered) -> Vec<trustprint::model::Resource> {
    let ctx = trustprint::armexpr::StaticContext::default();
    rendered
        .deployments
        .iter()
        .flat_map(|d| {
            trustprint::armexpr::expand(d, &ctx)
                .unwrap_or_else(|e| panic!("deployment {} does not expand: {e}", d.name))
        })
        .collect()
}

#[test]
fn there_are_examples_for_each_tier_and_a_five_character_ods_code() {
    let mut tiers = Vec::new();
    let mut long_code = false;
    for file in examples() {
        let (loaded, _) = render(&file, &[]);
        let tier = loaded.values.get("tier").and_then(Value::as_str).unwrap();
        tiers.push(tier.to_string());
        let ods = loaded.values.trust().ods_code;
        long_code |= ods.len() == 5;
        // Each example is a real open trust from the ODS list, spelled as the list spells it.
        let list =
            std::fs::read_to_string(root().join("data/nhs/trusts_england_active.csv")).unwrap();
        let row = format!("{ods},{},", loaded.values.trust().name);
        assert!(
            list.lines().any(|l| l.starts_with(&row)),
            "{}: {ods} {} is not in data/nhs/trusts_england_active.csv",
            file.display(),
            loaded.values.trust().name
        );
    }
    for tier in TIERS {
        assert!(tiers.iter().any(|t| t == tier), "no example on tier {tier}");
    }
    assert!(long_code, "no example with a 5-character ODS code");
}

#[test]
fn every_case_passes_the_guardrails_with_only_manifest_waivers() {
    for (name, file, overrides) in cases() {
        let (loaded, rendered) = render(&file, &overrides);
        let settings = trustprint::check::Settings::from_manifest(&loaded.blueprint.manifest);
        let report = trustprint::check::check_rendered(
            &rendered,
            &settings,
            &trustprint::armexpr::StaticContext::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: guardrails cannot evaluate the rendering: {e}"));
        assert!(
            report.passed() && report.violations().count() == 0,
            "{name}: guardrail violations\n{}",
            report.render_text(false)
        );
        assert!(
            report.warnings.is_empty(),
            "{name}: waiver warnings\n{}",
            report.render_text(false)
        );
        for finding in report.waived() {
            let waiver = finding.waiver.as_ref().unwrap();
            assert!(
                loaded.blueprint.manifest.waivers.contains(waiver)
                    && !waiver.justification.trim().is_empty(),
                "{name}: {} waived without a justified manifest waiver",
                finding.resource_id
            );
        }
        assert!(report.resources_checked > 100, "{name}: too few resources");
    }
}

/// VM counts by tier as docs/exemplar-epr.md states them (app, web, interface, SQL).
#[test]
fn tiers_size_the_estate_as_documented() {
    let base = blueprint_dir().join("examples").join(MATRIX_BASE);
    for (tier, vms, asr_items, log_days) in [
        ("small", 5, 0, 90),
        ("medium", 8, 8, 180),
        ("large", 11, 11, 365),
    ] {
        let (_, rendered) = render(&base, &[format!("tier={tier}")]);
        let resources = resources_of(&rendered);
        let count = |t: &str| resources.iter().filter(|r| r.resource_type == t).count();
        assert_eq!(
            count("Microsoft.Compute/virtualMachines"),
            vms,
            "{tier} VMs"
        );
        assert_eq!(
            count("Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems"),
            vms,
            "{tier}: one backup protected item per VM"
        );
        assert_eq!(
            count("Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems"),
            asr_items,
            "{tier}: Site Recovery by default on medium and large only"
        );
        assert_eq!(
            count("Microsoft.Compute/virtualMachines/extensions"),
            2 * vms,
            "{tier}: domain join and monitoring agent on every VM"
        );
        assert_eq!(
            count("Microsoft.Maintenance/configurationAssignments"),
            vms,
            "{tier}: every VM in the monthly patching window"
        );
        let workspace = resources
            .iter()
            .find(|r| r.resource_type == "Microsoft.OperationalInsights/workspaces")
            .unwrap();
        assert_eq!(
            workspace.body["properties"]["retentionInDays"], log_days,
            "{tier}"
        );
    }
}

#[test]
fn site_recovery_follows_the_parameter_over_the_tier_default() {
    let base = blueprint_dir().join("examples").join(MATRIX_BASE);
    let asr = |overrides: &[&str]| {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        let (_, rendered) = render(&base, &overrides);
        resources_of(&rendered)
            .iter()
            .filter(|r| r.resource_type.ends_with("/replicationProtectedItems"))
            .count()
    };
    assert_eq!(asr(&["tier=small", "site_recovery.enabled=true"]), 5);
    assert_eq!(asr(&["tier=large", "site_recovery.enabled=false"]), 0);
}

#[test]
fn hscn_option_decides_the_gateway() {
    let base = blueprint_dir().join("examples").join(MATRIX_BASE);
    for (hscn, gateway_type) in [
        ("expressroute", Some("ExpressRoute")),
        ("vpn", Some("Vpn")),
        ("none", None),
    ] {
        let (_, rendered) = render(&base, &[format!("hscn.connectivity={hscn}")]);
        let gateways: Vec<_> = resources_of(&rendered)
            .into_iter()
            .filter(|r| r.resource_type == "Microsoft.Network/virtualNetworkGateways")
            .map(|r| {
                r.body["properties"]["gatewayType"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            gateways,
            gateway_type
                .map(str::to_string)
                .into_iter()
                .collect::<Vec<_>>(),
            "{hscn}"
        );
    }
}

#[test]
fn names_respect_azure_length_limits() {
    for (name, file, overrides) in cases() {
        let (_, rendered) = render(&file, &overrides);
        for r in resources_of(&rendered) {
            let leaf = r.name.rsplit('/').next().unwrap();
            let limit = match r.resource_type.as_str() {
                "Microsoft.KeyVault/vaults" | "Microsoft.Storage/storageAccounts" => 24,
                "Microsoft.Compute/virtualMachines" => 64,
                "Microsoft.SqlVirtualMachine/sqlVirtualMachineGroups" => 15,
                _ => 80,
            };
            assert!(
                leaf.len() <= limit,
                "{name}: {} is longer than {limit}",
                r.id
            );
            if r.resource_type == "Microsoft.Storage/storageAccounts" {
                assert!(
                    leaf.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
                    "{name}: storage account {leaf}"
                );
            }
            if r.resource_type == "Microsoft.Compute/virtualMachines" {
                let computer = r.body["properties"]["osProfile"]["computerName"]
                    .as_str()
                    .unwrap();
                assert!(computer.len() <= 15, "{name}: computer name {computer}");
            }
        }
    }
}

// ---- ARM schema validation ----

const ARM_SCHEMA_HOST: &str = "https://schema.management.azure.com/schemas/";

/// Vendored schemas other schemas `$ref` into: (URL, file in data/arm-schemas, prefix for inlined definitions).
const VENDORED: [(&str, &str, &str); 2] = [
    (
        "https://schema.management.azure.com/schemas/common/definitions.json",
        "schemas_common_definitions.json",
        "common_",
    ),
    (
        "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json",
        "schemas_2019-04-01_deploymentTemplate.json",
        "template_",
    ),
];

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Rewrite a schema as the module docs describe: remote resource-type refs become `base` (the schema's
/// resourceBase), and the oneOf lists holding them anyOf without duplicates. Returns whether `v` itself was
/// such a ref.
fn offline(v: &mut Value, base: &str) -> bool {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                if r.starts_with(ARM_SCHEMA_HOST) {
                    map.clear();
                    map.insert("$ref".into(), base.into());
                    return true;
                }
            }
            for key in ["oneOf", "anyOf"] {
                if let Some(Value::Array(alternatives)) = map.get_mut(key) {
                    let mut remote = false;
                    for alt in alternatives.iter_mut() {
                        remote |= offline(alt, base);
                    }
                    if remote {
                        let mut unique: Vec<Value> = Vec::new();
                        for alt in alternatives.drain(..) {
                            if !unique.contains(&alt) {
                                unique.push(alt);
                            }
                        }
                        map.remove(key);
                        map.insert("anyOf".into(), Value::Array(unique));
                    }
                }
            }
            for (key, child) in map.iter_mut() {
                if key != "oneOf" && key != "anyOf" {
                    offline(child, base);
                }
            }
            false
        }
        Value::Array(items) => {
            for item in items {
                offline(item, base);
            }
            false
        }
        _ => false,
    }
}

/// A validator for one of the vendored ARM schemas that never fetches anything: definitions of the other
/// vendored schemas it references are inlined under a prefix, remote resource-type schemas are replaced.
fn arm_validator(file: &str) -> jsonschema::Validator {
    let dir = root().join("data/arm-schemas");
    let mut schema = read_json(&dir.join(file));
    let mut inlined = Map::new();
    for (_, vendored, prefix) in VENDORED.iter().filter(|(_, f, _)| *f != file) {
        let defs = read_json(&dir.join(vendored))["definitions"].clone();
        let text = serde_json::to_string(&defs)
            .unwrap()
            .replace("\"#/definitions/", &format!("\"#/definitions/{prefix}"));
        let defs: Map<String, Value> = serde_json::from_str(&text).unwrap();
        for (name, def) in defs {
            inlined.insert(format!("{prefix}{name}"), def);
        }
    }
    schema["definitions"]
        .as_object_mut()
        .unwrap()
        .extend(inlined);
    let mut text = serde_json::to_string(&schema).unwrap();
    for (url, _, prefix) in VENDORED.iter().filter(|(_, f, _)| *f != file) {
        text = text.replace(
            &format!("\"{url}#/definitions/"),
            &format!("\"#/definitions/{prefix}"),
        );
    }
    let mut schema: Value = serde_json::from_str(&text).unwrap();
    let base = if schema["definitions"].get("resourceBase").is_some() {
        "#/definitions/resourceBase"
    } else {
        "#/definitions/template_resourceBase"
    };
    offline(&mut schema, base);
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn schema_errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn arm_schema_validator_rejects_a_broken_template() {
    let validator = arm_validator("schemas_2019-04-01_deploymentTemplate.json");
    let good = serde_json::json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [{"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2024-05-01",
                       "name": "vnet", "location": "uksouth", "dependsOn": []}]
    });
    assert_eq!(schema_errors(&validator, &good), Vec::<String>::new());
    let mut no_type = good.clone();
    no_type["resources"][0]
        .as_object_mut()
        .unwrap()
        .remove("type");
    assert!(
        !schema_errors(&validator, &no_type).is_empty(),
        "a resource without type passed"
    );
    let mut bad_depends = good.clone();
    bad_depends["resources"][0]["dependsOn"] = serde_json::json!("vnet");
    assert!(
        !schema_errors(&validator, &bad_depends).is_empty(),
        "dependsOn as a string passed"
    );
    let mut no_version = good;
    no_version.as_object_mut().unwrap().remove("contentVersion");
    assert!(
        !schema_errors(&validator, &no_version).is_empty(),
        "a template without contentVersion passed"
    );
}

#[test]
fn every_rendered_template_validates_against_the_arm_schemas() {
    let resource_group = arm_validator("schemas_2019-04-01_deploymentTemplate.json");
    let subscription = arm_validator("schemas_2018-05-01_subscriptionDeploymentTemplate.json");
    let parameters = arm_validator("schemas_2019-04-01_deploymentParameters.json");
    for (name, file, overrides) in cases() {
        let (_, rendered) = render(&file, &overrides);
        for d in &rendered.deployments {
            let (validator, schema_url) = match d.scope {
                Scope::Subscription => (
                    &subscription,
                    "2018-05-01/subscriptionDeploymentTemplate.json#",
                ),
                Scope::ResourceGroup => (&resource_group, "2019-04-01/deploymentTemplate.json#"),
            };
            assert_eq!(
                d.template["$schema"],
                format!("{ARM_SCHEMA_HOST}{schema_url}"),
                "{name}/{}: $schema",
                d.name
            );
            let errors = schema_errors(validator, &d.template);
            assert!(errors.is_empty(), "{name}/{}: {errors:#?}", d.name);
            let errors = schema_errors(&parameters, &d.parameters);
            assert!(
                errors.is_empty(),
                "{name}/{}.parameters: {errors:#?}",
                d.name
            );
        }
    }
}

// ---- checkov ----

/// Write every case's templates into `dir`; returns the manifest's scanner skips.
fn render_all_into(dir: &Path) -> Vec<trustprint::blueprint::ScannerSkip> {
    let mut skips = Vec::new();
    for (name, file, overrides) in cases() {
        let (loaded, rendered) = render(&file, &overrides);
        skips = loaded.blueprint.manifest.scanner_skips.clone();
        for d in &rendered.deployments {
            let path = dir.join(format!("{name}--{}.json", d.name));
            std::fs::write(&path, serde_json::to_vec_pretty(&d.template).unwrap()).unwrap();
        }
    }
    skips
}

/// Run `scripts/checkov.sh DIR SKIP...`: (exit status, stdout). Fails loudly when checkov is missing.
fn checkov(dir: &Path, skips: &[&str]) -> (Option<i32>, String) {
    let output = Command::new("bash")
        .arg(root().join("scripts/checkov.sh"))
        .arg(dir)
        .args(skips)
        .output()
        .expect("run scripts/checkov.sh");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(127) {
        panic!(
            "checkov is not installed; this test needs it. Install it with:\n  \
             python3 -m venv .venv && .venv/bin/pip install checkov==3.3.30\n{stderr}"
        );
    }
    assert!(
        stdout.contains("Passed checks:"),
        "checkov scanned nothing:\n{stdout}\n{stderr}"
    );
    (output.status.code(), stdout)
}

#[test]
fn checkov_finds_no_failed_check_beyond_the_manifest_skips() {
    let out = tempfile::tempdir().unwrap();
    let skips = render_all_into(out.path());
    for skip in &skips {
        assert!(
            skip.reason.trim().len() > 40,
            "scanner skip {} needs a written reason",
            skip.check
        );
    }
    let ids: Vec<&str> = skips.iter().map(|s| s.check.as_str()).collect();
    let (status, stdout) = checkov(out.path(), &ids);
    assert_eq!(status, Some(0), "checkov reported failed checks:\n{stdout}");
    assert!(
        stdout.contains("Failed checks: 0"),
        "checkov output:\n{stdout}"
    );
}

/// Without the skips, checkov fails exactly the skipped checks: none is stale, none hides another.
#[test]
fn every_checkov_skip_is_still_needed() {
    let out = tempfile::tempdir().unwrap();
    let skips = render_all_into(out.path());
    let (status, stdout) = checkov(out.path(), &[]);
    assert_eq!(status, Some(1), "checkov without skips:\n{stdout}");
    // In compact quiet mode checkov prints only failed checks, each as `Check: CKV_...: "title"`.
    let mut failed: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Check: "))
        .filter_map(|l| l.split(':').next())
        .collect();
    failed.sort_unstable();
    failed.dedup();
    let mut skipped: Vec<&str> = skips.iter().map(|s| s.check.as_str()).collect();
    skipped.sort_unstable();
    assert_eq!(failed, skipped);
}

// ---- snapshots ----

#[test]
fn rendered_examples_snapshot() {
    for file in examples() {
        let (_, rendered) = render(&file, &[]);
        for d in &rendered.deployments {
            insta::with_settings!({prepend_module_to_snapshot => false, snapshot_path => "snapshots"}, {
                insta::assert_json_snapshot!(format!("blueprint__{}__{}", stem(&file), d.name), d.template);
            });
        }
    }
}

#[test]
fn values_schema_describes_every_parameter_with_an_example() {
    let bp = trustprint::blueprint::open(&SourceSpec::Dir(blueprint_dir())).unwrap();
    let schema = trustprint::values::schema(&bp.manifest);
    for key in bp.manifest.parameters.keys() {
        let mut node = &schema;
        for part in key.split('.') {
            node = &node["properties"][part];
        }
        assert!(
            node["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{key}: no description in the values schema"
        );
        let has_example = node.get("examples").is_some() || node.get("example").is_some();
        assert!(
            has_example,
            "{key}: no example in the values schema: {node}"
        );
    }
}

#[test]
fn a_half_configured_lighthouse_delegation_is_refused() {
    let base = blueprint_dir().join("examples").join(MATRIX_BASE);
    let input = ValuesInput {
        file: Some(base),
        base: None,
        text: None,
        overrides: vec![
            "lighthouse.managing_tenant_id=2e7a9c4b-1d3f-4b8e-a6c5-7f9e0d1c2b3a".into(),
        ],
    };
    let loaded = trustprint::load::load(&SourceSpec::Dir(blueprint_dir()), &input).unwrap();
    let err = trustprint::render::render(&loaded).expect_err("renders without a managing group");
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(&format!(": {s}"));
        source = s.source();
    }
    assert!(
        chain.contains(
            "lighthouse.managing_tenant_id and lighthouse.group_object_id must be given together"
        ),
        "{chain}"
    );
}

/// The activity log's diagnostic setting is a subscription-scope resource deployed from the operations
/// resource group (after the workspace exists) through a nested deployment that names the subscription and a
/// location but no resource group: ARM's way of reaching subscription scope from a resource group deployment.
#[test]
fn the_subscription_activity_log_goes_to_the_trust_workspace() {
    let base = blueprint_dir().join("examples").join(MATRIX_BASE);
    let (_, rendered) = render(&base, &[]);
    let operations = rendered
        .deployments
        .iter()
        .find(|d| d.name == "operations")
        .unwrap();
    let nested = operations.template["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "activity-log-rhw")
        .expect("the nested subscription deployment");
    assert_eq!(nested["subscriptionId"], "[subscription().subscriptionId]");
    assert_eq!(nested["location"], "uksouth");
    assert!(nested.get("resourceGroup").is_none());
    let resources = resources_of(&rendered);
    let setting = resources
        .iter()
        .find(|r| {
            r.resource_type == "Microsoft.Insights/diagnosticSettings"
                && r.name == "activity-log-to-log-rhw-uks-ops"
        })
        .expect("an activity log diagnostic setting");
    assert_eq!(
        setting.body["properties"]["workspaceId"],
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-rhw-uks-operations/providers/Microsoft.OperationalInsights/workspaces/log-rhw-uks-ops"
    );
    let categories: Vec<&str> = setting.body["properties"]["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["category"].as_str().unwrap())
        .collect();
    assert!(categories.contains(&"Administrative") && categories.contains(&"Security"));
}
