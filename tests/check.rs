//! Integration tests: check. The fixture `epr-estate.json` is a small but complete NHS EPR estate (governance,
//! hub, spoke with VMs and SQL, Key Vault, storage, backup, Log Analytics) that passes every rule; each failing
//! case breaks one property of it and asserts the exact finding.

use serde_json::{json, Value};
use trustprint::check::{check, rules, Report, Settings, Warning};
use trustprint::model::{Resource, Waiver};

const SUB: &str = "/subscriptions/00000000-0000-0000-0000-000000000000";

fn fixture(name: &str) -> Vec<Resource> {
    let path = format!(
        "{}/tests/fixtures/resources/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn estate() -> Vec<Resource> {
    fixture("epr-estate.json")
}

fn id(group: &str, rest: &str) -> String {
    format!("{SUB}/resourceGroups/{group}/providers/{rest}")
}

/// The resource with this id.
fn resource<'a>(resources: &'a mut [Resource], id: &str) -> &'a mut Resource {
    resources
        .iter_mut()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no resource {id} in the fixture"))
}

/// Set (or with `Value::Null`, remove) a property of a resource's body by JSON pointer, keeping the `location`
/// and `tags` fields in step with the body as armexpr would.
fn set(resources: &mut [Resource], id: &str, pointer: &str, value: Value) {
    let r = resource(resources, id);
    let (parent, key) = pointer.rsplit_once('/').expect("pointer with a key");
    let target = r
        .body
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("{id}: no {parent}"));
    match target {
        Value::Object(map) if value.is_null() => {
            map.remove(key);
        }
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        Value::Array(items) => {
            let i: usize = key.parse().expect("array index");
            items[i] = value;
        }
        _ => panic!("{id}: {parent} is not a container"),
    }
    r.location = r
        .body
        .get("location")
        .and_then(Value::as_str)
        .map(str::to_owned);
    r.tags = r.body.get("tags").and_then(Value::as_object).cloned();
}

/// (rule, resource id, detail) of every finding, in report order.
fn findings(report: &Report) -> Vec<(String, String, String)> {
    report
        .findings
        .iter()
        .map(|f| {
            (
                f.rule.id.to_owned(),
                f.resource_id.clone(),
                f.detail.clone(),
            )
        })
        .collect()
}

fn one(rule: &str, id: &str, detail: &str) -> Vec<(String, String, String)> {
    vec![(rule.to_owned(), id.to_owned(), detail.to_owned())]
}

fn run(resources: &[Resource]) -> Report {
    check(resources, &Settings::default())
}

#[test]
fn the_exemplar_style_estate_passes_every_rule() {
    let resources = estate();
    let report = run(&resources);
    assert_eq!(findings(&report), vec![]);
    assert!(report.passed());
    assert!(report.warnings.is_empty());
    // The SQL server's inline auditingSettings child counts as a resource of its own.
    assert_eq!(report.resources_checked, resources.len() + 1);
}

#[test]
fn rules_each_name_an_ncsc_principle() {
    let ids: Vec<&str> = rules().iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        [
            "TP-LOC-001",
            "TP-LOC-002",
            "TP-TAG-001",
            "TP-STG-001",
            "TP-STG-002",
            "TP-STG-003",
            "TP-STG-004",
            "TP-KV-001",
            "TP-KV-002",
            "TP-KV-003",
            "TP-KV-004",
            "TP-SQL-001",
            "TP-SQL-002",
            "TP-SQL-003",
            "TP-SQL-004",
            "TP-SQL-005",
            "TP-SQL-006",
            "TP-NET-001",
            "TP-NET-002",
            "TP-BAK-001",
            "TP-DIAG-001"
        ]
    );
}

mod location {
    use super::*;

    #[test]
    fn a_region_outside_the_uk_is_a_violation() {
        let mut r = estate();
        let kv = id("rg-rm3-uks-sec", "Microsoft.KeyVault/vaults/kv-rm3-uks-epr");
        set(&mut r, &kv, "/location", json!("westeurope"));
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-LOC-001",
                &kv,
                r#"location is "westeurope"; expected one of: uksouth, ukwest"#
            )
        );
    }

    #[test]
    fn display_names_of_allowed_regions_pass() {
        let mut r = estate();
        let kv = id("rg-rm3-uks-sec", "Microsoft.KeyVault/vaults/kv-rm3-uks-epr");
        set(&mut r, &kv, "/location", json!("UK West"));
        assert_eq!(findings(&run(&r)), vec![]);
    }

    #[test]
    fn resource_groups_are_checked_too() {
        let mut r = estate();
        let group = format!("{SUB}/resourceGroups/rg-rm3-uks-ops");
        set(&mut r, &group, "/location", json!("northeurope"));
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-LOC-001",
                &group,
                r#"location is "northeurope"; expected one of: uksouth, ukwest"#
            )
        );
    }

    #[test]
    fn global_is_only_for_global_types() {
        // The fixture's private DNS zone, its link and the action group are global and pass.
        let mut r = estate();
        let vnet = id(
            "rg-rm3-uks-hub",
            "Microsoft.Network/virtualNetworks/vnet-rm3-uks-hub",
        );
        set(&mut r, &vnet, "/location", json!("global"));
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-LOC-002",
                &vnet,
                r#"location is "global", but Microsoft.Network/virtualNetworks is a regional type; expected one of: uksouth, ukwest"#
            )
        );
    }

    #[test]
    fn an_unresolved_location_expression_cannot_pass() {
        let mut r = estate();
        let kv = id("rg-rm3-uks-sec", "Microsoft.KeyVault/vaults/kv-rm3-uks-epr");
        set(&mut r, &kv, "/location", json!("[reference('x').location]"));
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-LOC-001",
                &kv,
                r#"location is the ARM expression "[reference('x').location]", which cannot be verified before deployment; expected one of: uksouth, ukwest"#
            )
        );
    }

    #[test]
    fn the_allowed_set_comes_from_settings() {
        let r = estate();
        let settings = Settings {
            allowed_locations: vec!["uksouth".into()],
            ..Settings::default()
        };
        let report = check(&r, &settings);
        assert!(report.findings.iter().all(|f| f.rule.id == "TP-LOC-001"));
        assert_eq!(
            report.violations().count(),
            0,
            "{}",
            report.render_text(false)
        );
    }
}

mod waivers {
    use super::*;

    fn with_open_rdp() -> (Vec<Resource>, String) {
        let mut r = estate();
        let nsg = id(
            "rg-rm3-uks-epr",
            "Microsoft.Network/networkSecurityGroups/nsg-rm3-uks-app",
        );
        set(
            &mut r,
            &nsg,
            "/properties/securityRules/1/properties/sourceAddressPrefix",
            json!("Internet"),
        );
        (r, nsg)
    }

    fn waiver(rule: &str, resource: &str, justification: &str) -> Waiver {
        Waiver {
            rule: rule.to_owned(),
            resource: resource.to_owned(),
            justification: justification.to_owned(),
        }
    }

    #[test]
    fn a_matching_waiver_excuses_the_finding_and_shows_its_justification() {
        let (r, nsg) = with_open_rdp();
        let settings = Settings {
            waivers: vec![waiver(
                "TP-NET-001",
                "/subscriptions/*/resourceGroups/rg-rm3-uks-epr/providers/Microsoft.Network/networkSecurityGroups/*",
                "Supplier break-glass RDP, approved by the trust SIRO (CAB-2026-114)",
            )],
            ..Settings::default()
        };
        let report = check(&r, &settings);
        assert!(report.passed());
        assert_eq!(report.findings.len(), 1);
        assert_eq!(report.waived().count(), 1);
        assert_eq!(report.findings[0].resource_id, nsg);
        assert!(report.warnings.is_empty());
        assert_eq!(
            report.render_text(false),
            format!(
                "waived TP-NET-001 {nsg}
  reason:     Network security groups must not allow SSH (22) or RDP (3389) in from any source or the internet
  detail:     properties.securityRules[1] (\"allow-rdp-from-bastion\") allows inbound SSH/RDP from any source: properties.direction is \"Inbound\", properties.access is \"Allow\", properties.sourceAddressPrefix is \"Internet\", properties.destinationPortRanges[0] is \"3389\"
  principle:  NCSC 11. External interface protection
  fix:        Restrict sourceAddressPrefix to the Bastion subnet or a named management range, or remove the rule
  deployment: epr
  waived: Supplier break-glass RDP, approved by the trust SIRO (CAB-2026-114)

0 violations, 1 waived, 42 resources checked
"
            )
        );
    }

    #[test]
    fn a_waiver_for_another_rule_or_resource_does_not_apply_and_is_stale() {
        let (r, nsg) = with_open_rdp();
        let other_rule = waiver("TP-NET-002", &nsg, "wrong rule");
        let other_resource = waiver(
            "TP-NET-001",
            "/subscriptions/*/resourceGroups/rg-rm3-uks-hub/**",
            "wrong group",
        );
        let settings = Settings {
            waivers: vec![other_rule.clone(), other_resource.clone()],
            ..Settings::default()
        };
        let report = check(&r, &settings);
        assert_eq!(report.violations().count(), 1);
        assert_eq!(report.waived().count(), 0);
        assert_eq!(
            report.warnings,
            vec![
                Warning::StaleWaiver { waiver: other_rule },
                Warning::StaleWaiver {
                    waiver: other_resource
                }
            ]
        );
    }

    #[test]
    fn stale_and_broken_waivers_are_reported_as_warnings() {
        let r = estate();
        let settings = Settings {
            waivers: vec![
                waiver(
                    "TP-KV-004",
                    "/subscriptions/*/resourceGroups/*/providers/Microsoft.KeyVault/vaults/kv-old",
                    "Old vault, being retired",
                ),
                waiver("TP-XYZ-001", "**", "typo"),
                waiver("TP-KV-004", "/subscriptions/[", "bad pattern"),
            ],
            ..Settings::default()
        };
        let report = check(&r, &settings);
        assert!(report.passed());
        let text = report.render_text(false);
        assert_eq!(
            text,
            "warning: stale waiver: TP-KV-004 for /subscriptions/*/resourceGroups/*/providers/Microsoft.KeyVault/vaults/kv-old matches no finding (justification: Old vault, being retired)
warning: waiver for unknown rule TP-XYZ-001 (resource **): no such rule
warning: waiver TP-KV-004 has an invalid resource pattern \"/subscriptions/[\": unclosed character class; missing ']'

0 violations, 0 waived, 42 resources checked
"
        );
    }

    #[test]
    fn the_json_report_carries_rule_detail_and_waiver() {
        let (r, _) = with_open_rdp();
        let report = run(&r);
        let json = serde_json::to_value(&report).expect("report serialises");
        assert_eq!(json["resources_checked"], json!(42));
        assert_eq!(json["findings"][0]["rule"]["id"], json!("TP-NET-001"));
        assert_eq!(
            json["findings"][0]["rule"]["principle"],
            json!("11. External interface protection")
        );
        assert_eq!(json["findings"][0]["waiver"], Value::Null);
        assert_eq!(json["warnings"], json!([]));
    }
}

mod tags {
    use super::*;

    #[test]
    fn missing_and_empty_required_tags_are_one_finding_naming_each() {
        let mut r = estate();
        let st = id(
            "rg-rm3-uks-sec",
            "Microsoft.Storage/storageAccounts/strm3uksdiag",
        );
        set(&mut r, &st, "/tags/cost-centre", Value::Null);
        set(&mut r, &st, "/tags/trust", json!(" "));
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-TAG-001",
                &st,
                r#"tags.trust is " " (empty); tags.cost-centre is absent"#
            )
        );
    }

    #[test]
    fn a_resource_without_tags_lists_every_required_tag() {
        let mut r = estate();
        let law = id(
            "rg-rm3-uks-ops",
            "Microsoft.OperationalInsights/workspaces/log-rm3-uks-ops",
        );
        set(&mut r, &law, "/tags", Value::Null);
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-TAG-001",
                &law,
                "tags is absent; expected tags ods-code, trust, blueprint, blueprint-version, data-classification, cost-centre"
            )
        );
    }

    #[test]
    fn tag_names_match_case_insensitively() {
        let mut r = estate();
        let law = id(
            "rg-rm3-uks-ops",
            "Microsoft.OperationalInsights/workspaces/log-rm3-uks-ops",
        );
        set(&mut r, &law, "/tags/cost-centre", Value::Null);
        set(&mut r, &law, "/tags/Cost-Centre", json!("IT-EPR-001"));
        assert_eq!(findings(&run(&r)), vec![]);
    }

    #[test]
    fn taggable_child_resources_need_tags_and_other_children_do_not() {
        // The fixture's TDE, security rule, backup policy, protected items, role assignment, Defender plan,
        // budget and diagnostic settings carry no tags and pass; a SQL database is a taggable child.
        let mut r = estate();
        let db = id(
            "rg-rm3-uks-epr",
            "Microsoft.Sql/servers/sql-rm3-uks-epr/databases/sqldb-epr",
        );
        set(&mut r, &db, "/tags/data-classification", json!(""));
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-TAG-001",
                &db,
                r#"tags.data-classification is "" (empty)"#
            )
        );
    }

    #[test]
    fn tags_given_as_an_unresolved_expression_cannot_pass() {
        let mut r = estate();
        let kv = id("rg-rm3-uks-sec", "Microsoft.KeyVault/vaults/kv-rm3-uks-epr");
        set(&mut r, &kv, "/tags", json!("[reference('rg').tags]"));
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-TAG-001",
                &kv,
                r#"tags is the ARM expression "[reference('rg').tags]", which cannot be verified before deployment"#
            )
        );
    }
}

mod storage {
    use super::*;

    fn st() -> String {
        id(
            "rg-rm3-uks-sec",
            "Microsoft.Storage/storageAccounts/strm3uksdiag",
        )
    }

    #[test]
    fn http_allowed_is_a_violation() {
        let mut r = estate();
        set(
            &mut r,
            &st(),
            "/properties/supportsHttpsTrafficOnly",
            json!(false),
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-STG-001",
                &st(),
                "properties.supportsHttpsTrafficOnly is false; expected true"
            )
        );
    }

    #[test]
    fn https_only_defaults_to_true_from_2019_04_01_but_not_before() {
        let mut r = estate();
        set(
            &mut r,
            &st(),
            "/properties/supportsHttpsTrafficOnly",
            Value::Null,
        );
        assert_eq!(findings(&run(&r)), vec![]);
        resource(&mut r, &st()).api_version = "2018-07-01".into();
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-STG-001",
                &st(),
                "properties.supportsHttpsTrafficOnly is absent (the Azure default is not true before apiVersion 2019-04-01; this is 2018-07-01)"
            )
        );
    }

    #[test]
    fn old_tls_is_a_violation_and_tls_1_3_passes() {
        let mut r = estate();
        set(
            &mut r,
            &st(),
            "/properties/minimumTlsVersion",
            json!("TLS1_3"),
        );
        assert_eq!(findings(&run(&r)), vec![]);
        set(
            &mut r,
            &st(),
            "/properties/minimumTlsVersion",
            json!("TLS1_0"),
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-STG-002",
                &st(),
                r#"properties.minimumTlsVersion is "TLS1_0"; expected "TLS1_2" or "TLS1_3""#
            )
        );
    }

    #[test]
    fn absent_tls_version_must_be_set_explicitly() {
        let mut r = estate();
        set(&mut r, &st(), "/properties/minimumTlsVersion", Value::Null);
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-STG-002",
                &st(),
                r#"properties.minimumTlsVersion is absent; expected "TLS1_2" or "TLS1_3" (set it explicitly)"#
            )
        );
    }

    #[test]
    fn public_blob_access_is_a_violation() {
        let mut r = estate();
        set(
            &mut r,
            &st(),
            "/properties/allowBlobPublicAccess",
            json!(true),
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-STG-003",
                &st(),
                "properties.allowBlobPublicAccess is true; expected false"
            )
        );
    }

    #[test]
    fn network_default_allow_is_a_violation() {
        let mut r = estate();
        set(
            &mut r,
            &st(),
            "/properties/networkAcls/defaultAction",
            json!("Allow"),
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-STG-004",
                &st(),
                r#"properties.networkAcls.defaultAction is "Allow"; expected "Deny""#
            )
        );
    }
}

mod keyvault {
    use super::*;

    fn kv() -> String {
        id("rg-rm3-uks-sec", "Microsoft.KeyVault/vaults/kv-rm3-uks-epr")
    }

    #[test]
    fn soft_delete_off_is_a_violation() {
        let mut r = estate();
        set(&mut r, &kv(), "/properties/enableSoftDelete", json!(false));
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-KV-001",
                &kv(),
                "properties.enableSoftDelete is false; expected true"
            )
        );
    }

    #[test]
    fn purge_protection_absent_is_a_violation() {
        let mut r = estate();
        set(
            &mut r,
            &kv(),
            "/properties/enablePurgeProtection",
            Value::Null,
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-KV-002",
                &kv(),
                "properties.enablePurgeProtection is absent; expected true (set it explicitly)"
            )
        );
    }

    #[test]
    fn access_policies_instead_of_rbac_is_a_violation() {
        let mut r = estate();
        set(
            &mut r,
            &kv(),
            "/properties/enableRbacAuthorization",
            json!(false),
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-KV-003",
                &kv(),
                "properties.enableRbacAuthorization is false; expected true"
            )
        );
    }

    #[test]
    fn public_network_access_is_a_violation_whatever_the_case() {
        let mut r = estate();
        set(
            &mut r,
            &kv(),
            "/properties/publicNetworkAccess",
            json!("disabled"),
        );
        assert_eq!(findings(&run(&r)), vec![]);
        set(
            &mut r,
            &kv(),
            "/properties/publicNetworkAccess",
            json!("Enabled"),
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-KV-004",
                &kv(),
                r#"properties.publicNetworkAccess is "Enabled"; expected "Disabled""#
            )
        );
    }
}
