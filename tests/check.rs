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
            "TP-DIAG-001",
            "TP-ARM-001"
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
        let mut r = estate();
        let kv = id("rg-rm3-uks-sec", "Microsoft.KeyVault/vaults/kv-rm3-uks-epr");
        set(&mut r, &kv, "/location", json!("ukwest"));
        let settings = Settings {
            allowed_locations: vec!["uksouth".into()],
            ..Settings::default()
        };
        assert_eq!(
            findings(&check(&r, &settings)),
            one(
                "TP-LOC-001",
                &kv,
                r#"location is "ukwest"; expected one of: uksouth"#
            )
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
        let json = serde_json::to_value(&report).expect("report serialises");
        assert_eq!(
            json["findings"][0]["waiver"]["justification"],
            json!("Supplier break-glass RDP, approved by the trust SIRO (CAB-2026-114)")
        );
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

mod sql {
    use super::*;

    fn server() -> String {
        id("rg-rm3-uks-epr", "Microsoft.Sql/servers/sql-rm3-uks-epr")
    }

    #[test]
    fn a_public_sql_server_is_a_violation() {
        let mut r = estate();
        set(
            &mut r,
            &server(),
            "/properties/publicNetworkAccess",
            Value::Null,
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-SQL-001",
                &server(),
                r#"properties.publicNetworkAccess is absent; expected "Disabled" (set it explicitly)"#
            )
        );
    }

    #[test]
    fn tde_disabled_is_a_violation_and_no_tde_resource_means_the_default_on() {
        let mut r = estate();
        let tde = format!(
            "{}/databases/sqldb-epr/transparentDataEncryption/current",
            server()
        );
        set(&mut r, &tde, "/properties/state", json!("Disabled"));
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-SQL-002",
                &tde,
                r#"properties.state is "Disabled"; expected "Enabled""#
            )
        );
        r.retain(|res| res.id != tde);
        assert_eq!(findings(&run(&r)), vec![]);
    }

    #[test]
    fn a_server_without_auditing_is_a_violation() {
        let mut r = estate();
        set(&mut r, &server(), "/resources", Value::Null);
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-SQL-003",
                &server(),
                r#"no Microsoft.Sql/servers/auditingSettings child resource; expected one with properties.state "Enabled""#
            )
        );
    }

    #[test]
    fn disabled_auditing_names_the_setting() {
        let mut r = estate();
        set(
            &mut r,
            &server(),
            "/resources/0/properties/state",
            json!("Disabled"),
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-SQL-003",
                &server(),
                r#"no auditing setting is enabled (sql-rm3-uks-epr/default: properties.state is "Disabled"); expected properties.state "Enabled""#
            )
        );
    }

    #[test]
    fn auditing_as_a_top_level_child_resource_counts() {
        let mut r = estate();
        set(&mut r, &server(), "/resources", Value::Null);
        let mut auditing: Resource = serde_json::from_value(json!({
            "id": format!("{}/auditingSettings/default", server()),
            "type": "Microsoft.Sql/servers/auditingSettings",
            "api_version": "2023-08-01",
            "name": "sql-rm3-uks-epr/default",
            "body": {"properties": {"state": "Enabled", "isAzureMonitorTargetEnabled": true}},
            "deployment": "epr"
        }))
        .expect("resource");
        r.push(auditing.clone());
        assert_eq!(findings(&run(&r)), vec![]);
        auditing.body = json!({"properties": {"state": "[parameters('auditState')]"}});
        let last = r.len() - 1;
        r[last] = auditing;
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-SQL-003",
                &server(),
                r#"no auditing setting is enabled (sql-rm3-uks-epr/default: properties.state is the ARM expression "[parameters('auditState')]", which cannot be verified before deployment); expected properties.state "Enabled""#
            )
        );
    }

    fn managed_instance(public: Option<bool>) -> Resource {
        let mut props = json!({"subnetId": "/subscriptions/x/subnets/mi"});
        if let Some(p) = public {
            props["publicDataEndpointEnabled"] = json!(p);
        }
        serde_json::from_value(json!({
            "id": id("rg-rm3-uks-epr", "Microsoft.Sql/managedInstances/sqlmi-rm3-uks-epr"),
            "type": "Microsoft.Sql/managedInstances",
            "api_version": "2023-08-01",
            "name": "sqlmi-rm3-uks-epr",
            "body": {"properties": props},
            "deployment": "epr"
        }))
        .expect("resource")
    }

    #[test]
    fn a_managed_instance_public_data_endpoint_is_a_violation() {
        let mi = id(
            "rg-rm3-uks-epr",
            "Microsoft.Sql/managedInstances/sqlmi-rm3-uks-epr",
        );
        // Without location or tags it is also untagged and without diagnostics: only SQL-004 is asserted here.
        let sql_only = |resources: &[Resource]| -> Vec<(String, String, String)> {
            findings(&run(resources))
                .into_iter()
                .filter(|f| f.0.starts_with("TP-SQL"))
                .collect()
        };
        for public in [None, Some(false)] {
            let mut r = estate();
            r.push(managed_instance(public));
            assert_eq!(sql_only(&r), vec![], "{public:?}");
        }
        let mut r = estate();
        r.push(managed_instance(Some(true)));
        assert_eq!(
            sql_only(&r),
            one(
                "TP-SQL-004",
                &mi,
                "properties.publicDataEndpointEnabled is true; expected false"
            )
        );
    }

    #[test]
    fn public_sql_vm_connectivity_is_a_violation() {
        let mut r = estate();
        let sql_vm = id(
            "rg-rm3-uks-epr",
            "Microsoft.SqlVirtualMachine/sqlVirtualMachines/vm-rm3-uks-sql01",
        );
        set(
            &mut r,
            &sql_vm,
            "/properties/serverConfigurationsManagementSettings/sqlConnectivityUpdateSettings/connectivityType",
            json!("PUBLIC"),
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-SQL-005",
                &sql_vm,
                r#"properties.serverConfigurationsManagementSettings.sqlConnectivityUpdateSettings.connectivityType is "PUBLIC"; expected "PRIVATE" or "LOCAL""#
            )
        );
    }

    #[test]
    fn a_public_ip_on_the_sql_vms_nic_is_caught_on_the_sql_vm_and_the_nic() {
        let mut r = estate();
        let sql_vm = id(
            "rg-rm3-uks-epr",
            "Microsoft.SqlVirtualMachine/sqlVirtualMachines/vm-rm3-uks-sql01",
        );
        let vm = id(
            "rg-rm3-uks-epr",
            "Microsoft.Compute/virtualMachines/vm-rm3-uks-sql01",
        );
        let nic = id(
            "rg-rm3-uks-epr",
            "Microsoft.Network/networkInterfaces/nic-vm-rm3-uks-sql01",
        );
        let pip = id(
            "rg-rm3-uks-epr",
            "Microsoft.Network/publicIPAddresses/pip-sql01",
        );
        set(
            &mut r,
            &nic,
            "/properties/ipConfigurations/0/properties/publicIPAddress",
            json!({ "id": pip }),
        );
        let nic_detail = format!(
            "properties.ipConfigurations[0].properties.publicIPAddress is set (id \"{pip}\"); expected no public IP address"
        );
        assert_eq!(
            findings(&run(&r)),
            vec![
                (
                    "TP-SQL-006".to_owned(),
                    sql_vm,
                    format!("virtual machine {vm} network interface {nic}: {nic_detail}")
                ),
                ("TP-NET-002".to_owned(), nic, nic_detail),
            ]
        );
    }

    #[test]
    fn a_sql_vm_whose_vm_is_not_declared_cannot_be_verified() {
        let mut r = estate();
        let sql_vm = id(
            "rg-rm3-uks-epr",
            "Microsoft.SqlVirtualMachine/sqlVirtualMachines/vm-rm3-uks-sql01",
        );
        let elsewhere = id("rg-other", "Microsoft.Compute/virtualMachines/vm-x");
        set(
            &mut r,
            &sql_vm,
            "/properties/virtualMachineResourceId",
            json!(elsewhere),
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-SQL-006",
                &sql_vm,
                &format!("properties.virtualMachineResourceId is \"{elsewhere}\", which is not among the checked resources, so its network interfaces cannot be verified")
            )
        );
    }
}

mod network {
    use super::*;

    fn nsg() -> String {
        id(
            "rg-rm3-uks-epr",
            "Microsoft.Network/networkSecurityGroups/nsg-rm3-uks-app",
        )
    }

    fn rdp_rule_finding(r: &[Resource]) -> Vec<(String, String, String)> {
        findings(&run(r))
    }

    #[test]
    fn ssh_or_rdp_from_any_source_is_a_violation_in_every_spelling() {
        let cases = [
            (
                "/properties/securityRules/1/properties/sourceAddressPrefix",
                json!("*"),
                r#"properties.sourceAddressPrefix is "*""#,
            ),
            (
                "/properties/securityRules/1/properties/sourceAddressPrefix",
                json!("0.0.0.0/0"),
                r#"properties.sourceAddressPrefix is "0.0.0.0/0""#,
            ),
            (
                "/properties/securityRules/1/properties/sourceAddressPrefix",
                json!("internet"),
                r#"properties.sourceAddressPrefix is "internet""#,
            ),
            (
                "/properties/securityRules/1/properties/sourceAddressPrefix",
                json!("Any"),
                r#"properties.sourceAddressPrefix is "Any""#,
            ),
            (
                "/properties/securityRules/1/properties/sourceAddressPrefixes",
                json!(["10.0.0.0/8", "Internet"]),
                r#"properties.sourceAddressPrefixes[1] is "Internet""#,
            ),
        ];
        for (pointer, value, source) in cases {
            let mut r = estate();
            set(&mut r, &nsg(), pointer, value);
            assert_eq!(
                rdp_rule_finding(&r),
                one(
                    "TP-NET-001",
                    &nsg(),
                    &format!(
                        r#"properties.securityRules[1] ("allow-rdp-from-bastion") allows inbound SSH/RDP from any source: properties.direction is "Inbound", properties.access is "Allow", {source}, properties.destinationPortRanges[0] is "3389""#
                    )
                ),
                "{pointer}"
            );
        }
    }

    #[test]
    fn port_ranges_and_wildcards_that_include_22_or_3389_are_caught() {
        for (ports, shown) in [
            (
                json!(["20-30"]),
                r#"properties.destinationPortRanges[0] is "20-30""#,
            ),
            (
                json!(["443", "*"]),
                r#"properties.destinationPortRanges[1] is "*""#,
            ),
            (
                json!(["3000-4000"]),
                r#"properties.destinationPortRanges[0] is "3000-4000""#,
            ),
        ] {
            let mut r = estate();
            set(
                &mut r,
                &nsg(),
                "/properties/securityRules/1/properties/sourceAddressPrefix",
                json!("*"),
            );
            set(
                &mut r,
                &nsg(),
                "/properties/securityRules/1/properties/destinationPortRanges",
                ports,
            );
            let got = rdp_rule_finding(&r);
            assert_eq!(got.len(), 1, "{got:?}");
            assert!(got[0].2.ends_with(shown), "{}", got[0].2);
        }
        let mut r = estate();
        set(
            &mut r,
            &nsg(),
            "/properties/securityRules/1/properties/sourceAddressPrefix",
            json!("*"),
        );
        set(
            &mut r,
            &nsg(),
            "/properties/securityRules/1/properties/destinationPortRanges",
            json!(["443", "8080-8090", "23-3388"]),
        );
        assert_eq!(rdp_rule_finding(&r), vec![]);
    }

    #[test]
    fn deny_outbound_and_icmp_rules_are_not_findings() {
        let mut r = estate();
        set(
            &mut r,
            &nsg(),
            "/properties/securityRules/1/properties/sourceAddressPrefix",
            json!("*"),
        );
        set(
            &mut r,
            &nsg(),
            "/properties/securityRules/1/properties/access",
            json!("Deny"),
        );
        assert_eq!(rdp_rule_finding(&r), vec![]);
        set(
            &mut r,
            &nsg(),
            "/properties/securityRules/1/properties/access",
            json!("Allow"),
        );
        set(
            &mut r,
            &nsg(),
            "/properties/securityRules/1/properties/direction",
            json!("Outbound"),
        );
        assert_eq!(rdp_rule_finding(&r), vec![]);
        set(
            &mut r,
            &nsg(),
            "/properties/securityRules/1/properties/direction",
            json!("Inbound"),
        );
        set(
            &mut r,
            &nsg(),
            "/properties/securityRules/1/properties/protocol",
            json!("Icmp"),
        );
        assert_eq!(rdp_rule_finding(&r), vec![]);
    }

    #[test]
    fn security_rule_child_resources_are_checked() {
        let mut r = estate();
        let rule = format!("{}/securityRules/allow-sql-from-app", nsg());
        set(
            &mut r,
            &rule,
            "/properties/destinationPortRange",
            json!("22"),
        );
        assert_eq!(findings(&run(&r)), vec![]);
        set(
            &mut r,
            &rule,
            "/properties/sourceAddressPrefixes",
            json!(["10.20.4.0/24", "0.0.0.0/0"]),
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-NET-001",
                &rule,
                r#"allows inbound SSH/RDP from any source: properties.direction is "Inbound", properties.access is "Allow", properties.sourceAddressPrefixes[1] is "0.0.0.0/0", properties.destinationPortRange is "22""#
            )
        );
    }

    #[test]
    fn a_source_left_as_an_expression_may_be_open_and_is_reported() {
        let mut r = estate();
        set(
            &mut r,
            &nsg(),
            "/properties/securityRules/1/properties/sourceAddressPrefix",
            json!("[parameters('adminSource')]"),
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-NET-001",
                &nsg(),
                r#"properties.securityRules[1] ("allow-rdp-from-bastion") may allow inbound SSH/RDP from any source: properties.direction is "Inbound", properties.access is "Allow", properties.sourceAddressPrefix is the ARM expression "[parameters('adminSource')]", which cannot be verified before deployment, properties.destinationPortRanges[0] is "3389""#
            )
        );
    }

    #[test]
    fn a_public_ip_on_a_vm_nic_is_a_violation() {
        let mut r = estate();
        let nic = id(
            "rg-rm3-uks-epr",
            "Microsoft.Network/networkInterfaces/nic-vm-rm3-uks-app01",
        );
        set(
            &mut r,
            &nic,
            "/properties/ipConfigurations/0/properties/publicIPAddress",
            json!({"id": "[resourceId('Microsoft.Network/publicIPAddresses', 'pip-app01')]"}),
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-NET-002",
                &nic,
                r#"properties.ipConfigurations[0].properties.publicIPAddress is set (id "[resourceId('Microsoft.Network/publicIPAddresses', 'pip-app01')]"); expected no public IP address"#
            )
        );
    }
}

mod backup {
    use super::*;

    const ITEMS: &str =
        "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems";

    #[test]
    fn a_vm_without_a_protected_item_is_a_violation() {
        let mut r = estate();
        // The app VM is covered by sourceResourceId, the SQL VM only by its item's name.
        r.retain(|res| !(res.resource_type == ITEMS && res.name.ends_with("vm-rm3-uks-sql01")));
        let vm = id(
            "rg-rm3-uks-epr",
            "Microsoft.Compute/virtualMachines/vm-rm3-uks-sql01",
        );
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-BAK-001",
                &vm,
                &format!("no protected item has properties.sourceResourceId \"{vm}\" (or, where that is not known, the name \"vm;iaasvmcontainerv2;rg-rm3-uks-epr;vm-rm3-uks-sql01\")")
            )
        );
    }

    #[test]
    fn an_item_named_for_a_vm_but_pointing_elsewhere_does_not_cover_it() {
        let mut r = estate();
        let app = id(
            "rg-rm3-uks-epr",
            "Microsoft.Compute/virtualMachines/vm-rm3-uks-app01",
        );
        let item = r
            .iter_mut()
            .find(|res| res.resource_type == ITEMS && res.name.ends_with("vm-rm3-uks-app01"))
            .expect("app item");
        item.body["properties"]["sourceResourceId"] = json!(format!("{app}x"));
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-BAK-001",
                &app,
                &format!("no protected item has properties.sourceResourceId \"{app}\" (or, where that is not known, the name \"vm;iaasvmcontainerv2;rg-rm3-uks-epr;vm-rm3-uks-app01\")")
            )
        );
    }

    #[test]
    fn a_protected_item_for_another_vm_does_not_cover_it() {
        let mut r = estate();
        let app = id(
            "rg-rm3-uks-epr",
            "Microsoft.Compute/virtualMachines/vm-rm3-uks-app01",
        );
        let item = r
            .iter_mut()
            .find(|res| res.resource_type == ITEMS && res.name.ends_with("vm-rm3-uks-app01"))
            .expect("app item");
        item.name = "rsv-rm3-uks-epr/Azure/c/vm;iaasvmcontainerv2;rg-rm3-uks-epr;vm-other".into();
        item.body["properties"]["sourceResourceId"] =
            json!("[resourceId('Microsoft.Compute/virtualMachines', parameters('vm'))]");
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-BAK-001",
                &app,
                &format!("no protected item has properties.sourceResourceId \"{app}\" (or, where that is not known, the name \"vm;iaasvmcontainerv2;rg-rm3-uks-epr;vm-rm3-uks-app01\"); 1 protected item(s) have a sourceResourceId that is an ARM expression, which cannot be verified before deployment")
            )
        );
    }
}

mod diagnostics {
    use super::*;

    const DIAG: &str = "Microsoft.Insights/diagnosticSettings";

    #[test]
    fn a_resource_without_diagnostic_settings_is_a_violation() {
        let mut r = estate();
        let kv = id("rg-rm3-uks-sec", "Microsoft.KeyVault/vaults/kv-rm3-uks-epr");
        r.retain(|res| !(res.resource_type == DIAG && res.id.starts_with(&kv)));
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-DIAG-001",
                &kv,
                "no Microsoft.Insights/diagnosticSettings resource is scoped to it; expected one with properties.workspaceId set to the trust's Log Analytics workspace"
            )
        );
    }

    #[test]
    fn every_style_of_scoping_is_recognised() {
        // The fixture scopes settings by absolute `scope` (Key Vault), relative `scope` (public IP), the id
        // alone (removed scope below) and the nested `vaults/providers/diagnosticSettings` form (storage).
        let mut r = estate();
        let vnet_diag = format!(
            "{}/providers/Microsoft.Insights/diagnosticSettings/to-law",
            id(
                "rg-rm3-uks-hub",
                "Microsoft.Network/virtualNetworks/vnet-rm3-uks-hub"
            )
        );
        set(&mut r, &vnet_diag, "/scope", Value::Null);
        assert_eq!(findings(&run(&r)), vec![]);
        let nested = r
            .iter()
            .filter(|res| {
                res.resource_type
                    == "Microsoft.Storage/storageAccounts/providers/diagnosticSettings"
            })
            .count();
        assert_eq!(nested, 1);
    }

    #[test]
    fn a_setting_on_a_sub_resource_covers_its_parent() {
        let mut r = estate();
        let st = id(
            "rg-rm3-uks-sec",
            "Microsoft.Storage/storageAccounts/strm3uksdiag",
        );
        let nested = r
            .iter_mut()
            .find(|res| {
                res.resource_type
                    == "Microsoft.Storage/storageAccounts/providers/diagnosticSettings"
            })
            .expect("nested diagnostic setting");
        nested.resource_type = DIAG.into();
        nested.name = "to-law".into();
        nested.id = format!(
            "{st}/blobServices/default/providers/Microsoft.Insights/diagnosticSettings/to-law"
        );
        assert_eq!(findings(&run(&r)), vec![]);
    }

    #[test]
    fn settings_sending_elsewhere_are_a_violation() {
        let mut r = estate();
        let rsv = id(
            "rg-rm3-uks-bak",
            "Microsoft.RecoveryServices/vaults/rsv-rm3-uks-epr",
        );
        let diag = format!("{rsv}/providers/Microsoft.Insights/diagnosticSettings/to-law");
        let foreign = id(
            "rg-other",
            "Microsoft.OperationalInsights/workspaces/log-elsewhere",
        );
        set(&mut r, &diag, "/properties/workspaceId", json!(foreign));
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-DIAG-001",
                &rsv,
                &format!("diagnostic setting \"to-law\": properties.workspaceId is \"{foreign}\", which is not a Log Analytics workspace of the trust")
            )
        );
        // A workspace named in the settings (a shared one outside the estate) is accepted.
        let settings = Settings {
            workspace_id: Some(foreign.to_uppercase()),
            ..Settings::default()
        };
        assert_eq!(findings(&check(&r, &settings)), vec![]);
    }

    #[test]
    fn a_setting_without_a_workspace_is_a_violation() {
        let mut r = estate();
        let db = id(
            "rg-rm3-uks-epr",
            "Microsoft.Sql/servers/sql-rm3-uks-epr/databases/sqldb-epr",
        );
        let diag = format!("{db}/providers/Microsoft.Insights/diagnosticSettings/to-law");
        set(&mut r, &diag, "/properties/workspaceId", Value::Null);
        assert_eq!(
            findings(&run(&r)),
            one(
                "TP-DIAG-001",
                &db,
                "diagnostic setting \"to-law\": properties.workspaceId is absent"
            )
        );
    }
}

mod rendered {
    use super::*;
    use trustprint::armexpr::StaticContext;
    use trustprint::check::check_rendered;
    use trustprint::model::{BlueprintRef, Rendered, RenderedDeployment, Scope, TrustRef};

    /// One resource-group deployment whose storage account takes its location from `[resourceGroup().location]`
    /// and its TLS version and tags from `[parameters(...)]`, with the workspace and diagnostic setting it needs.
    fn rendered(tls: &str) -> Rendered {
        let tags = json!({"ods-code": "RM3", "trust": "NORTHERN CARE ALLIANCE NHS FOUNDATION TRUST",
            "blueprint": "exemplar-epr", "blueprint-version": "1.0.0",
            "data-classification": "OFFICIAL-SENSITIVE", "cost-centre": "IT-EPR-001"});
        let template = json!({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {
                "minimumTls": {"type": "string", "defaultValue": "TLS1_2"},
                "tags": {"type": "object"}
            },
            "variables": {"storageName": "strm3uksepr"},
            "resources": [
                {
                    "type": "Microsoft.OperationalInsights/workspaces",
                    "apiVersion": "2023-09-01",
                    "name": "log-rm3-uks-ops",
                    "location": "[resourceGroup().location]",
                    "tags": "[parameters('tags')]",
                    "properties": {"retentionInDays": 90, "sku": {"name": "PerGB2018"}}
                },
                {
                    "type": "Microsoft.Storage/storageAccounts",
                    "apiVersion": "2023-05-01",
                    "name": "[variables('storageName')]",
                    "location": "[resourceGroup().location]",
                    "tags": "[parameters('tags')]",
                    "kind": "StorageV2",
                    "sku": {"name": "Standard_ZRS"},
                    "properties": {
                        "minimumTlsVersion": "[parameters('minimumTls')]",
                        "allowBlobPublicAccess": false,
                        "networkAcls": {"defaultAction": "Deny"}
                    }
                },
                {
                    "type": "Microsoft.Insights/diagnosticSettings",
                    "apiVersion": "2021-05-01-preview",
                    "name": "to-law",
                    "scope": "[format('Microsoft.Storage/storageAccounts/{0}', variables('storageName'))]",
                    "properties": {
                        "workspaceId": "[resourceId('Microsoft.OperationalInsights/workspaces', 'log-rm3-uks-ops')]",
                        "metrics": [{"category": "Transaction", "enabled": true}]
                    }
                }
            ]
        });
        let parameters = json!({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {"minimumTls": {"value": tls}, "tags": {"value": tags}}
        });
        Rendered {
            trust: TrustRef {
                name: "NORTHERN CARE ALLIANCE NHS FOUNDATION TRUST".into(),
                ods_code: "RM3".into(),
            },
            blueprint: BlueprintRef {
                name: "exemplar-epr".into(),
                version: "1.0.0".into(),
                source: "embedded".into(),
                commit: None,
            },
            deployments: vec![RenderedDeployment {
                name: "security".into(),
                scope: Scope::ResourceGroup,
                resource_group: Some("rg-rm3-uks-sec".into()),
                location: "uksouth".into(),
                template_path: "security/storage.json.tera".into(),
                template,
                parameters,
                secret_env: Default::default(),
                depends_on: vec![],
                hash: "sha256:00".into(),
                stack: None,
            }],
            hash: "sha256:00".into(),
        }
    }

    fn ctx() -> StaticContext {
        StaticContext {
            subscription_id: "00000000-0000-0000-0000-000000000000".into(),
            tenant_id: "00000000-0000-0000-0000-000000000000".into(),
        }
    }

    #[test]
    fn expressions_are_resolved_before_checking() {
        let report =
            check_rendered(&rendered("TLS1_2"), &Settings::default(), &ctx()).expect("expands");
        assert_eq!(findings(&report), vec![]);
        assert_eq!(report.resources_checked, 3);
    }

    #[test]
    fn a_violation_behind_a_parameter_is_caught() {
        let report =
            check_rendered(&rendered("TLS1_0"), &Settings::default(), &ctx()).expect("expands");
        assert_eq!(
            findings(&report),
            one(
                "TP-STG-002",
                &id(
                    "rg-rm3-uks-sec",
                    "Microsoft.Storage/storageAccounts/strm3uksepr"
                ),
                r#"properties.minimumTlsVersion is "TLS1_0"; expected "TLS1_2" or "TLS1_3""#
            )
        );
    }
}

mod rendered_errors {
    use super::*;
    use trustprint::armexpr::StaticContext;
    use trustprint::check::check_rendered;
    use trustprint::model::{BlueprintRef, Rendered, RenderedDeployment, Scope, TrustRef};
    use trustprint::ExitCode;

    #[test]
    fn a_template_that_cannot_be_evaluated_names_the_deployment() {
        let rendered = Rendered {
            trust: TrustRef {
                name: "ROYAL BERKSHIRE NHS FOUNDATION TRUST".into(),
                ods_code: "RHW".into(),
            },
            blueprint: BlueprintRef {
                name: "exemplar-epr".into(),
                version: "1.0.0".into(),
                source: "embedded".into(),
                commit: None,
            },
            deployments: vec![RenderedDeployment {
                name: "operations".into(),
                scope: Scope::ResourceGroup,
                resource_group: Some("rg-rhw-uks-operations".into()),
                location: "uksouth".into(),
                template_path: "operations/monitoring.json.tera".into(),
                template: json!({
                    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                    "contentVersion": "1.0.0.0",
                    "resources": [{
                        "type": "Microsoft.OperationalInsights/workspaces",
                        "apiVersion": "2023-09-01",
                        "name": "[parameters('missing')]",
                        "location": "[resourceGroup().location]"
                    }]
                }),
                parameters: json!({
                    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
                    "contentVersion": "1.0.0.0",
                    "parameters": {}
                }),
                secret_env: Default::default(),
                depends_on: vec![],
                hash: "sha256:00".into(),
                stack: None,
            }],
            hash: "sha256:00".into(),
        };
        let ctx = StaticContext {
            subscription_id: "00000000-0000-0000-0000-000000000000".into(),
            tenant_id: "00000000-0000-0000-0000-000000000000".into(),
        };
        let err =
            check_rendered(&rendered, &Settings::default(), &ctx).expect_err("unknown parameter");
        assert_eq!(err.exit_code(), ExitCode::InvalidInput);
        assert_eq!(
            err.to_string(),
            "deployment 'operations': resources[0].name: parameters(): the template has no parameter 'missing'"
        );
    }
}

mod settings {
    use super::*;
    use trustprint::blueprint::{open, SourceSpec};

    #[test]
    fn settings_come_from_the_manifest() {
        let dir = format!(
            "{}/tests/fixtures/blueprints/minimal",
            env!("CARGO_MANIFEST_DIR")
        );
        let blueprint = open(&SourceSpec::Dir(dir.into())).expect("minimal blueprint opens");
        let settings = Settings::from_manifest(&blueprint.manifest);
        assert_eq!(settings.allowed_locations, ["uksouth", "ukwest"]);
        assert_eq!(
            settings.waivers,
            [Waiver {
                rule: "TP-TAG-001".into(),
                resource: "/subscriptions/*/resourceGroups/NetworkWatcherRG".into(),
                justification: "Created by Azure itself; its tags are not ours to set".into(),
            }]
        );
        assert_eq!(settings.workspace_id, None);
    }
}

/// The guardrails over the real exemplar: every example trust, and every tier and HSCN option, must pass
/// with no violation and no warning (issue 3); the rules must not cry wolf on a correct NHS EPR estate.
mod exemplar {
    use super::*;
    use trustprint::blueprint::SourceSpec;
    use trustprint::run::{check_trust, Inputs};
    use trustprint::values::ValuesInput;

    fn checked(example: &str, overrides: &[&str]) -> Report {
        let root = env!("CARGO_MANIFEST_DIR");
        let inputs = Inputs {
            blueprint: SourceSpec::Dir(format!("{root}/blueprints/exemplar-epr").into()),
            values: ValuesInput {
                file: Some(format!("{root}/blueprints/exemplar-epr/examples/{example}").into()),
                text: None,
                overrides: overrides.iter().map(|s| s.to_string()).collect(),
                ..ValuesInput::default()
            },
        };
        check_trust(&inputs)
            .unwrap_or_else(|e| panic!("{example} {overrides:?}: {e}"))
            .report
    }

    fn assert_clean(report: &Report, what: &str) {
        assert!(
            report.passed() && report.warnings.is_empty(),
            "{what}:\n{}",
            report.render_text(false)
        );
        assert!(
            report.resources_checked > 100,
            "{what}: {}",
            report.resources_checked
        );
    }

    #[test]
    fn every_example_trust_passes() {
        let dir = format!(
            "{}/blueprints/exemplar-epr/examples",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut examples: Vec<String> = std::fs::read_dir(&dir)
            .expect("examples folder")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".yaml"))
            .collect();
        examples.sort();
        assert!(examples.len() >= 3, "{examples:?}");
        for example in examples {
            assert_clean(&checked(&example, &[]), &example);
        }
    }

    #[test]
    fn every_tier_and_hscn_option_passes() {
        let mut sizes = std::collections::BTreeSet::new();
        for tier in ["small", "medium", "large"] {
            for hscn in ["expressroute", "vpn", "none"] {
                let tier_set = format!("tier={tier}");
                let hscn_set = format!("hscn.connectivity={hscn}");
                let report = checked("royal-berkshire-rhw.yaml", &[&tier_set, &hscn_set]);
                assert_clean(&report, &format!("{tier}, {hscn}"));
                sizes.insert(report.resources_checked);
            }
        }
        // The overrides took effect: the tiers deploy different numbers of resources.
        assert!(sizes.len() >= 3, "{sizes:?}");
    }
}

/// Real mistakes made in the exemplar's rendered templates are caught, through expression evaluation.
mod exemplar_mistakes {
    use super::*;
    use trustprint::armexpr::StaticContext;
    use trustprint::blueprint::SourceSpec;
    use trustprint::check::check_rendered;
    use trustprint::model::Rendered;
    use trustprint::run::{render_loaded, Inputs};
    use trustprint::values::ValuesInput;

    fn rendered() -> (Rendered, Settings) {
        let root = env!("CARGO_MANIFEST_DIR");
        let inputs = Inputs {
            blueprint: SourceSpec::Dir(format!("{root}/blueprints/exemplar-epr").into()),
            values: ValuesInput {
                file: Some(
                    format!("{root}/blueprints/exemplar-epr/examples/royal-berkshire-rhw.yaml")
                        .into(),
                ),
                ..ValuesInput::default()
            },
        };
        let (loaded, rendered) = render_loaded(&inputs).expect("exemplar renders");
        (
            rendered,
            Settings::from_manifest(&loaded.blueprint.manifest),
        )
    }

    /// Apply `edit` to every resource of `ty` in every deployment template (nested templates and child
    /// `resources` included); returns how many were edited.
    fn edit_all(rendered: &mut Rendered, ty: &str, edit: &dyn Fn(&mut Value)) -> usize {
        fn walk(resources: &mut Value, ty: &str, edit: &dyn Fn(&mut Value)) -> usize {
            let Some(list) = resources.as_array_mut() else {
                return 0;
            };
            let mut n = 0;
            for r in list {
                if r["type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(ty))
                {
                    edit(r);
                    n += 1;
                }
                if let Some(inner) = r.pointer_mut("/properties/template/resources") {
                    n += walk(inner, ty, edit);
                }
                if let Some(children) = r.get_mut("resources") {
                    n += walk(children, ty, edit);
                }
            }
            n
        }
        rendered
            .deployments
            .iter_mut()
            .map(|d| walk(&mut d.template["resources"], ty, edit))
            .sum()
    }

    type Edit = dyn Fn(&mut Value);

    fn violated_rules(rendered: &Rendered, settings: &Settings) -> Vec<String> {
        let ctx = StaticContext {
            subscription_id: "00000000-0000-0000-0000-000000000000".into(),
            tenant_id: "00000000-0000-0000-0000-000000000000".into(),
        };
        let report = check_rendered(rendered, settings, &ctx).expect("expands");
        let mut ids: Vec<String> = report.violations().map(|f| f.rule.id.to_owned()).collect();
        ids.dedup();
        ids
    }

    #[test]
    fn mistakes_in_each_family_are_caught() {
        let cases: Vec<(&str, &str, Box<Edit>)> = vec![
            ("Microsoft.KeyVault/vaults", "TP-KV-004", Box::new(|r| r["properties"]["publicNetworkAccess"] = json!("Enabled"))),
            ("Microsoft.Storage/storageAccounts", "TP-STG-003", Box::new(|r| r["properties"]["allowBlobPublicAccess"] = json!(true))),
            ("Microsoft.Network/virtualNetworks", "TP-LOC-001", Box::new(|r| r["location"] = json!("eastus"))),
            ("Microsoft.Network/networkInterfaces", "TP-TAG-001", Box::new(|r| r["tags"] = json!({}))),
            ("Microsoft.SqlVirtualMachine/sqlVirtualMachines", "TP-SQL-005", Box::new(|r| {
                r["properties"]["serverConfigurationsManagementSettings"] =
                    json!({"sqlConnectivityUpdateSettings": {"connectivityType": "PUBLIC", "port": 1433}});
            })),
            ("Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems", "TP-BAK-001", Box::new(|r| {
                // Each item now names and points at a VM that does not exist (a typo in the VM list).
                let name = format!("{}-gone", r["name"].as_str().expect("item name"));
                r["name"] = json!(name);
                r["properties"]["sourceResourceId"] = json!(format!("{SUB}/resourceGroups/rg-x/providers/Microsoft.Compute/virtualMachines/{name}"));
            })),
            ("Microsoft.Insights/diagnosticSettings", "TP-DIAG-001", Box::new(|r| {
                r["properties"]["workspaceId"] = json!("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-elsewhere/providers/Microsoft.OperationalInsights/workspaces/log-elsewhere");
            })),
            ("Microsoft.Network/networkSecurityGroups", "TP-NET-001", Box::new(|r| {
                r["properties"]["securityRules"].as_array_mut().expect("inline rules").push(json!({
                    "name": "AllowRdpFromAnywhere",
                    "properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRanges": ["3300-3400"],
                        "sourceAddressPrefix": "0.0.0.0/0", "destinationAddressPrefix": "*", "access": "Allow",
                        "priority": 150, "direction": "Inbound"}
                }));
            })),
        ];
        for (ty, rule, edit) in cases {
            let (mut rendered, settings) = rendered();
            assert!(
                edit_all(&mut rendered, ty, edit.as_ref()) > 0,
                "no {ty} in the exemplar"
            );
            assert_eq!(violated_rules(&rendered, &settings), [rule], "{ty}");
        }
    }
}
