//! The engine against examples from Microsoft's Azure Policy documentation (learn.microsoft.com:
//! "Azure Policy definition structure policy rule", "the count operator" pattern, "definitions effect
//! basics"), one test per condition and effect.

use super::condition::{compare_op, like, matches, Evaluation, Subject};
use super::*;
use crate::model::Resource;
use serde_json::{json, Map, Value};

const SUB: &str = "00000000-0000-0000-0000-000000000001";

fn resource(rtype: &str, name: &str, body: Value) -> Resource {
    let id = format!("/subscriptions/{SUB}/resourceGroups/rg-app/providers/{rtype}/{name}");
    Resource {
        id,
        resource_type: rtype.to_string(),
        api_version: "2023-01-01".into(),
        name: name.to_string(),
        location: body
            .get("location")
            .and_then(Value::as_str)
            .map(str::to_string),
        tags: body.get("tags").and_then(Value::as_object).cloned(),
        body,
        deployment: "app".into(),
    }
}

fn storage(props: Value) -> Resource {
    resource(
        "Microsoft.Storage/storageAccounts",
        "stapp",
        json!({"location": "uksouth", "tags": {"Environment": "prod"}, "kind": "StorageV2", "properties": props}),
    )
}

/// Evaluate one `if` on one resource with these parameter values.
fn holds(condition: Value, r: &Resource, params: Value) -> Result<bool, Undecidable> {
    let lib = Library::builtin();
    let subject = Subject::from_resource(r);
    let params: Map<String, Value> = params.as_object().cloned().unwrap_or_default();
    Evaluation::new(&lib.aliases, &params, &subject).condition(&condition, &subject)
}

fn definition(rule: Value, mode: &str, parameters: Value) -> Definition {
    Definition::from_json(&json!({
        "name": "test-policy",
        "properties": {"displayName": "Test policy", "mode": mode, "parameters": parameters, "policyRule": rule}
    }))
    .unwrap()
}

fn run(def: Definition, resources: &[Resource], assignment: Assignment) -> Report {
    let initiative = Initiative::single(&def);
    let lib = Library::with_definitions([def]);
    evaluate(&lib, &initiative, &assignment, resources).unwrap()
}

fn sub_assignment() -> Assignment {
    Assignment::at(format!("/subscriptions/{SUB}"))
}

fn state_of(report: &Report, id_suffix: &str) -> Option<State> {
    report.policies[0]
        .resources
        .iter()
        .find(|r| r.resource_id.ends_with(id_suffix))
        .map(|r| r.state)
}

#[test]
fn equals_is_case_insensitive_and_not_equals_its_negation() {
    let r = storage(json!({"minimumTlsVersion": "TLS1_2"}));
    let f = "Microsoft.Storage/storageAccounts/minimumTlsVersion";
    assert_eq!(
        holds(json!({"field": f, "equals": "tls1_2"}), &r, json!({})),
        Ok(true)
    );
    assert_eq!(
        holds(json!({"field": f, "notEquals": "TLS1_2"}), &r, json!({})),
        Ok(false)
    );
    // A boolean property compared with the string "false", as built-ins write it.
    let r = storage(json!({"supportsHttpsTrafficOnly": false}));
    let f = "Microsoft.Storage/storageAccounts/supportsHttpsTrafficOnly";
    assert_eq!(
        holds(json!({"field": f, "equals": "false"}), &r, json!({})),
        Ok(true)
    );
}

#[test]
fn like_takes_a_wildcard_and_not_like_negates_it() {
    assert!(like(
        "Microsoft.Compute/virtualMachines",
        "microsoft.compute/*"
    ));
    assert!(like("vm-rm3-uks-epr01", "vm-*-epr*"));
    assert!(!like("vm-rm3", "st*"));
    let r = storage(json!({}));
    assert_eq!(
        holds(json!({"field": "name", "like": "st*"}), &r, json!({})),
        Ok(true)
    );
    assert_eq!(
        holds(json!({"field": "name", "notLike": "st*"}), &r, json!({})),
        Ok(false)
    );
}

#[test]
fn match_uses_hash_for_digits_and_question_mark_for_letters() {
    // The documentation's example: "match": "Contoso-###" for a name such as Contoso-123.
    assert!(matches("Contoso-123", "Contoso-###", false));
    assert!(!matches("contoso-123", "Contoso-###", false));
    assert!(matches("contoso-123", "Contoso-###", true));
    assert!(matches("ab.c", "??.?", false));
    assert!(!matches("Contoso-12", "Contoso-###", false));
    let r = resource(
        "Microsoft.Web/sites",
        "Contoso-123",
        json!({"location": "uksouth"}),
    );
    assert_eq!(
        holds(
            json!({"field": "name", "match": "Contoso-###"}),
            &r,
            json!({})
        ),
        Ok(true)
    );
    assert_eq!(
        holds(
            json!({"field": "name", "notMatch": "Contoso-###"}),
            &r,
            json!({})
        ),
        Ok(false)
    );
    assert_eq!(
        holds(
            json!({"field": "name", "matchInsensitively": "CONTOSO-###"}),
            &r,
            json!({})
        ),
        Ok(true)
    );
    assert_eq!(
        holds(
            json!({"field": "name", "notMatchInsensitively": "CONTOSO-###"}),
            &r,
            json!({})
        ),
        Ok(false)
    );
}

#[test]
fn contains_and_not_contains_on_strings_and_arrays() {
    assert_eq!(
        compare_op("contains", &json!("rg-rm3-uks-epr"), true, &json!("UKS")),
        Ok(true)
    );
    assert_eq!(
        compare_op("notContains", &json!("rg-rm3-uks-epr"), true, &json!("ukw")),
        Ok(true)
    );
    assert_eq!(
        compare_op("contains", &json!(["a", "B"]), true, &json!("b")),
        Ok(true)
    );
}

#[test]
fn in_and_not_in_compare_with_every_member() {
    // Allowed locations: "field": "location", "notIn": "[parameters('listOfAllowedLocations')]".
    let r = storage(json!({}));
    let params = json!({"listOfAllowedLocations": ["uksouth", "ukwest"]});
    let c = json!({"field": "location", "notIn": "[parameters('listOfAllowedLocations')]"});
    assert_eq!(holds(c.clone(), &r, params), Ok(false));
    assert_eq!(
        holds(c, &r, json!({"listOfAllowedLocations": ["westeurope"]})),
        Ok(true)
    );
    assert_eq!(
        holds(
            json!({"field": "location", "in": ["UKSOUTH"]}),
            &r,
            json!({})
        ),
        Ok(true)
    );
}

#[test]
fn contains_key_on_tags_from_the_documentation() {
    // "not": {"field": "tags", "containsKey": "application"} with a storage account type condition.
    let r = storage(json!({}));
    let c = json!({"allOf": [
        {"not": {"field": "tags", "containsKey": "application"}},
        {"field": "type", "equals": "Microsoft.Storage/storageAccounts"}
    ]});
    assert_eq!(holds(c, &r, json!({})), Ok(true));
    assert_eq!(
        holds(
            json!({"field": "tags", "containsKey": "environment"}),
            &r,
            json!({})
        ),
        Ok(true)
    );
    assert_eq!(
        holds(
            json!({"field": "tags", "notContainsKey": "environment"}),
            &r,
            json!({})
        ),
        Ok(false)
    );
    assert_eq!(
        holds(
            json!({"field": "tags['Environment']", "equals": "prod"}),
            &r,
            json!({})
        ),
        Ok(true)
    );
    assert_eq!(
        holds(
            json!({"field": "tags.environment", "exists": true}),
            &r,
            json!({})
        ),
        Ok(true)
    );
}

#[test]
fn less_greater_and_their_or_equals_forms() {
    assert_eq!(compare_op("less", &json!(1), true, &json!(2)), Ok(true));
    assert_eq!(
        compare_op("lessOrEquals", &json!(2), true, &json!(2)),
        Ok(true)
    );
    assert_eq!(compare_op("greater", &json!(2), true, &json!(2)), Ok(false));
    assert_eq!(
        compare_op(
            "greaterOrEquals",
            &json!("2026-01-02"),
            true,
            &json!("2026-01-01")
        ),
        Ok(true)
    );
    // Different types fail the evaluation, as in Azure, rather than guessing.
    assert!(compare_op("less", &json!(true), true, &json!(1)).is_err());
}

#[test]
fn exists_tells_present_from_absent() {
    let r = storage(json!({"minimumTlsVersion": "TLS1_2"}));
    let f = "Microsoft.Storage/storageAccounts/minimumTlsVersion";
    assert_eq!(
        holds(json!({"field": f, "exists": "true"}), &r, json!({})),
        Ok(true)
    );
    let r = storage(json!({}));
    assert_eq!(
        holds(json!({"field": f, "exists": false}), &r, json!({})),
        Ok(true)
    );
}

#[test]
fn value_conditions_evaluate_template_functions() {
    let r = storage(json!({}));
    let c = json!({"value": "[resourceGroup().name]", "like": "rg-*"});
    assert_eq!(holds(c, &r, json!({})), Ok(true));
    let c = json!({"value": "[concat(field('name'), '-x')]", "equals": "stapp-x"});
    assert_eq!(holds(c, &r, json!({})), Ok(true));
    let c = json!({"value": "[requestContext().apiVersion]", "greaterOrEquals": "2019-01-01"});
    assert_eq!(holds(c, &r, json!({})), Ok(true));
}

fn nsg(rules: Value) -> Resource {
    resource(
        "Microsoft.Network/networkSecurityGroups",
        "nsg-app",
        json!({"location": "uksouth", "properties": {"securityRules": rules}}),
    )
}

/// The documentation's count pattern: audit NSGs allowing inbound RDP.
fn rdp_rule() -> Value {
    json!({
        "if": {"allOf": [
            {"field": "type", "equals": "Microsoft.Network/networkSecurityGroups"},
            {"count": {
                "field": "Microsoft.Network/networkSecurityGroups/securityRules[*]",
                "where": {"allOf": [
                    {"field": "Microsoft.Network/networkSecurityGroups/securityRules[*].direction", "equals": "Inbound"},
                    {"field": "Microsoft.Network/networkSecurityGroups/securityRules[*].access", "equals": "Allow"},
                    {"field": "Microsoft.Network/networkSecurityGroups/securityRules[*].destinationPortRange", "equals": "3389"}
                ]}
            }, "greater": 0}
        ]},
        "then": {"effect": "audit"}
    })
}

#[test]
fn field_count_with_where_counts_matching_members() {
    let open = nsg(json!([
        {"name": "https", "properties": {"direction": "Inbound", "access": "Allow", "destinationPortRange": "443"}},
        {"name": "rdp", "properties": {"direction": "Inbound", "access": "Allow", "destinationPortRange": "3389"}}
    ]));
    let shut = nsg(json!([
        {"name": "rdp", "properties": {"direction": "Inbound", "access": "Deny", "destinationPortRange": "3389"}}
    ]));
    let rule = rdp_rule();
    assert_eq!(holds(rule["if"].clone(), &open, json!({})), Ok(true));
    assert_eq!(holds(rule["if"].clone(), &shut, json!({})), Ok(false));
    let report = run(
        definition(rule, "All", json!({})),
        &[open],
        sub_assignment(),
    );
    let o = &report.policies[0]
        .resources
        .iter()
        .find(|r| r.resource_id.ends_with("nsg-app"))
        .unwrap();
    assert_eq!(o.state, State::NonCompliant);
    assert_eq!(
        o.reasons[0].field,
        "count(Microsoft.Network/networkSecurityGroups/securityRules[*])"
    );
    assert_eq!(o.reasons[0].actual, json!(1));
}

#[test]
fn a_star_field_outside_count_needs_every_member() {
    let r = nsg(json!([
        {"properties": {"access": "Deny"}},
        {"properties": {"access": "Allow"}}
    ]));
    let f = "Microsoft.Network/networkSecurityGroups/securityRules[*].access";
    assert_eq!(
        holds(json!({"field": f, "equals": "Deny"}), &r, json!({})),
        Ok(false)
    );
    assert_eq!(
        holds(json!({"field": f, "in": ["Deny", "Allow"]}), &r, json!({})),
        Ok(true)
    );
    let count = json!({"count": {"field": "Microsoft.Network/networkSecurityGroups/securityRules[*]"}, "equals": 2});
    assert_eq!(holds(count, &r, json!({})), Ok(true));
}

#[test]
fn value_count_with_current() {
    // The documentation's value count: how many of the listed names does the resource's name contain?
    let r = storage(json!({}));
    let c = json!({"count": {
        "value": ["st", "kv", "app"],
        "name": "pattern",
        "where": {"field": "name", "contains": "[current('pattern')]"}
    }, "equals": 2});
    assert_eq!(holds(c, &r, json!({})), Ok(true));
}

#[test]
fn an_alias_the_data_lacks_is_reported_not_guessed() {
    let r = storage(json!({}));
    let c = json!({"field": "Microsoft.Storage/storageAccounts/noSuchProperty", "equals": "x"});
    assert_eq!(
        holds(c, &r, json!({})),
        Err(Undecidable::UnknownAlias(
            "Microsoft.Storage/storageAccounts/noSuchProperty".into()
        ))
    );
}

#[test]
fn a_value_known_only_after_deployment_is_not_evaluable() {
    let r = storage(json!({"minimumTlsVersion": "[reference('x').tls]"}));
    let c =
        json!({"field": "Microsoft.Storage/storageAccounts/minimumTlsVersion", "equals": "TLS1_2"});
    assert!(matches!(
        holds(c, &r, json!({})),
        Err(Undecidable::AfterDeployment { .. })
    ));
}

fn https_only(effect: &str) -> Definition {
    definition(
        json!({
            "if": {"allOf": [
                {"field": "type", "equals": "Microsoft.Storage/storageAccounts"},
                {"field": "Microsoft.Storage/storageAccounts/supportsHttpsTrafficOnly", "notEquals": "true"}
            ]},
            "then": {"effect": "[parameters('effect')]"}
        }),
        "Indexed",
        json!({"effect": {"type": "String", "defaultValue": effect}}),
    )
}

#[test]
fn audit_marks_matching_resources_non_compliant_others_compliant_or_not_applicable() {
    let bad = storage(json!({"supportsHttpsTrafficOnly": false}));
    let mut good = storage(json!({"supportsHttpsTrafficOnly": true}));
    good.id = good.id.replace("stapp", "stgood");
    let vnet = resource(
        "Microsoft.Network/virtualNetworks",
        "vnet",
        json!({"location": "uksouth"}),
    );
    let report = run(https_only("Audit"), &[bad, good, vnet], sub_assignment());
    assert_eq!(state_of(&report, "/stapp"), Some(State::NonCompliant));
    assert_eq!(state_of(&report, "/stgood"), Some(State::Compliant));
    assert_eq!(
        state_of(&report, "/vnet"),
        None,
        "not applicable: another type"
    );
    assert_eq!(
        report.policies[0].not_applicable, 2,
        "the vnet, and the subscription Indexed skips"
    );
    let r = &report.policies[0].resources[0].reasons[0];
    assert_eq!(
        r.field,
        "Microsoft.Storage/storageAccounts/supportsHttpsTrafficOnly"
    );
    assert_eq!(r.actual, json!(false));
    assert_eq!(r.condition, "notEquals");
    assert_eq!(report.summary.compliance_percent, Some(50.0));
    assert!(report.passed(), "audit never denies");
}

#[test]
fn deny_fails_the_check_unless_not_enforced_or_exempt() {
    let bad = storage(json!({"supportsHttpsTrafficOnly": false}));
    let report = run(
        https_only("Deny"),
        std::slice::from_ref(&bad),
        sub_assignment(),
    );
    assert!(!report.passed());
    assert_eq!(report.denials[0].resource_id, bad.id);

    let mut relaxed = sub_assignment();
    relaxed.enforcement = Enforcement::DoNotEnforce;
    let report = run(https_only("Deny"), std::slice::from_ref(&bad), relaxed);
    assert!(report.passed());
    assert_eq!(
        state_of(&report, "/stapp"),
        Some(State::NonCompliant),
        "still reported"
    );

    let mut exempted = sub_assignment();
    exempted.exemptions.push(Exemption {
        name: "legacy-clients".into(),
        scope: format!("/subscriptions/{SUB}/resourceGroups/rg-app"),
        category: "Waiver".into(),
        reference_ids: Vec::new(),
    });
    let report = run(https_only("Deny"), std::slice::from_ref(&bad), exempted);
    assert!(report.passed());
    assert_eq!(state_of(&report, "/stapp"), Some(State::Exempt));
    assert_eq!(
        report.summary.compliance_percent,
        Some(100.0),
        "exempt counts as compliant"
    );
}

#[test]
fn not_scopes_leave_resources_out() {
    let bad = storage(json!({"supportsHttpsTrafficOnly": false}));
    let mut a = sub_assignment();
    a.not_scopes
        .push(format!("/subscriptions/{SUB}/resourceGroups/RG-APP"));
    let report = run(https_only("Deny"), &[bad], a);
    assert!(report.policies[0].resources.is_empty());
    assert_eq!(report.policies[0].state, PolicyState::NotApplicable);
}

#[test]
fn disabled_evaluates_nothing() {
    let report = run(
        https_only("Disabled"),
        &[storage(json!({}))],
        sub_assignment(),
    );
    assert_eq!(report.policies[0].state, PolicyState::Disabled);
    assert!(report.policies[0].resources.is_empty());
}

#[test]
fn indexed_mode_skips_resource_groups_all_mode_includes_them() {
    let rule = json!({"if": {"field": "tags", "exists": false}, "then": {"effect": "audit"}});
    let rg = Resource {
        id: format!("/subscriptions/{SUB}/resourceGroups/rg-app"),
        resource_type: "Microsoft.Resources/resourceGroups".into(),
        api_version: "2022-09-01".into(),
        name: "rg-app".into(),
        location: Some("uksouth".into()),
        tags: None,
        body: json!({"location": "uksouth"}),
        deployment: "base".into(),
    };
    let indexed = run(
        definition(rule.clone(), "Indexed", json!({})),
        std::slice::from_ref(&rg),
        sub_assignment(),
    );
    assert!(indexed.policies[0].resources.is_empty());
    let all = run(definition(rule, "All", json!({})), &[rg], sub_assignment());
    assert_eq!(state_of(&all, "/rg-app"), Some(State::NonCompliant));
    assert_eq!(
        all.policies[0].resources.len(),
        2,
        "the resource group and the subscription"
    );
}

#[test]
fn append_and_modify_report_and_apply_their_operations() {
    // The documentation's modify example: add or replace an 'environment' tag.
    let rule = json!({
        "if": {"field": "tags['environment']", "exists": "false"},
        "then": {"effect": "modify", "details": {
            "roleDefinitionIds": ["/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"],
            "operations": [{"operation": "addOrReplace", "field": "tags['environment']", "value": "[parameters('tagValue')]"}]
        }}
    });
    let def = definition(
        rule,
        "Indexed",
        json!({"tagValue": {"type": "String", "defaultValue": "prod"}}),
    );
    let r = resource(
        "Microsoft.Web/sites",
        "app",
        json!({"location": "uksouth", "tags": {}}),
    );
    let report = run(def.clone(), std::slice::from_ref(&r), sub_assignment());
    let p = &report.policies[0];
    assert_eq!(p.role_definition_ids.len(), 1);
    assert_eq!(p.resources[0].state, State::NonCompliant);
    assert!(p.resources[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("addOrReplace tags['environment'] \"prod\""));

    let lib = Library::with_definitions([def.clone()]);
    let prepared = evaluate::prepare_definition(
        lib.definition("test-policy").unwrap(),
        Initiative::single(&def).references[0].clone(),
        json!({"tagValue": "prod"}).as_object().unwrap().clone(),
    )
    .unwrap();
    let (_, ops) = evaluate::on_request(&lib, &prepared, &Subject::from_resource(&r))
        .unwrap()
        .unwrap();
    let mut body = r.body.clone();
    effect::apply(&mut body, &ops, &lib.aliases).unwrap();
    assert_eq!(body["tags"]["environment"], "prod");

    // append: add a network rule's default action.
    let mut body = json!({"properties": {}});
    let ops = vec![Operation {
        operation: "add".into(),
        field: "Microsoft.Storage/storageAccounts/networkAcls.defaultAction".into(),
        value: json!("Deny"),
    }];
    effect::apply(&mut body, &ops, &lib.aliases).unwrap();
    assert_eq!(body["properties"]["networkAcls"]["defaultAction"], "Deny");
}

fn sql_server() -> Resource {
    resource(
        "Microsoft.Sql/servers",
        "sql-app",
        json!({"location": "uksouth", "properties": {}}),
    )
}

/// The documentation's auditIfNotExists shape: SQL servers should have auditing on.
fn sql_auditing() -> Definition {
    definition(
        json!({
            "if": {"field": "type", "equals": "Microsoft.Sql/servers"},
            "then": {"effect": "auditIfNotExists", "details": {
                "type": "Microsoft.Sql/servers/auditingSettings",
                "name": "default",
                "existenceCondition": {"field": "Microsoft.Sql/servers/auditingSettings/state", "equals": "Enabled"}
            }}
        }),
        "Indexed",
        json!({}),
    )
}

#[test]
fn audit_if_not_exists_looks_for_the_related_resource() {
    let server = sql_server();
    let report = run(
        sql_auditing(),
        std::slice::from_ref(&server),
        sub_assignment(),
    );
    let o = &report.policies[0].resources[0];
    assert_eq!(o.state, State::NonCompliant);
    assert_eq!(
        o.detail.as_deref(),
        Some("no related Microsoft.Sql/servers/auditingSettings named default found")
    );

    let mut on = resource(
        "Microsoft.Sql/servers/auditingSettings",
        "default",
        json!({"properties": {"state": "Enabled"}}),
    );
    on.id = format!("{}/auditingSettings/default", server.id);
    on.name = "sql-app/default".into();
    let report = run(
        sql_auditing(),
        &[server.clone(), on.clone()],
        sub_assignment(),
    );
    assert_eq!(state_of(&report, "/sql-app"), Some(State::Compliant));

    on.body = json!({"properties": {"state": "Disabled"}});
    let report = run(sql_auditing(), &[server, on], sub_assignment());
    let o = report.policies[0]
        .resources
        .iter()
        .find(|r| r.resource_id.ends_with("/sql-app"))
        .unwrap();
    assert_eq!(o.state, State::NonCompliant);
    assert_eq!(o.reasons[0].actual, json!("Disabled"));
}

#[test]
fn deploy_if_not_exists_with_subscription_existence_scope_shows_its_roles() {
    let def = definition(
        json!({
            "if": {"field": "type", "equals": "Microsoft.Resources/subscriptions"},
            "then": {"effect": "deployIfNotExists", "details": {
                "type": "Microsoft.Security/pricings",
                "name": "VirtualMachines",
                "existenceScope": "subscription",
                "existenceCondition": {"field": "Microsoft.Security/pricings/pricingTier", "equals": "Standard"},
                "roleDefinitionIds": ["/providers/microsoft.authorization/roleDefinitions/fb1c8493-542b-48eb-b624-b4c8fea62acd"],
                "deployment": {"properties": {"mode": "incremental", "template": {}}}
            }}
        }),
        "All",
        json!({}),
    );
    let mut pricing = resource(
        "Microsoft.Security/pricings",
        "VirtualMachines",
        json!({"properties": {"pricingTier": "Standard"}}),
    );
    pricing.id =
        format!("/subscriptions/{SUB}/providers/Microsoft.Security/pricings/VirtualMachines");
    let report = run(def, &[pricing], sub_assignment());
    let p = &report.policies[0];
    assert_eq!(p.role_definition_ids.len(), 1);
    assert_eq!(
        state_of(&report, &format!("/subscriptions/{SUB}")),
        Some(State::Compliant)
    );
}

#[test]
fn defender_assessments_are_not_evaluable_before_deployment() {
    let def = definition(
        json!({
            "if": {"field": "type", "equals": "Microsoft.Sql/servers"},
            "then": {"effect": "auditIfNotExists", "details": {"type": "Microsoft.Security/assessments"}}
        }),
        "Indexed",
        json!({}),
    );
    let report = run(def, &[sql_server()], sub_assignment());
    let o = &report.policies[0].resources[0];
    assert_eq!(o.state, State::NotEvaluable);
    assert!(o.detail.as_deref().unwrap().contains("Defender"));
    assert_eq!(report.summary.compliance_percent, None);
}

#[test]
fn manual_takes_its_default_state_and_deny_action_protects() {
    let manual = definition(
        json!({"if": {"field": "type", "equals": "Microsoft.Resources/subscriptions"},
               "then": {"effect": "manual", "details": {"defaultState": "Unknown"}}}),
        "All",
        json!({}),
    );
    let report = run(manual, &[storage(json!({}))], sub_assignment());
    assert_eq!(state_of(&report, SUB), Some(State::NotEvaluable));
    let deny_action = definition(
        json!({"if": {"field": "type", "equals": "Microsoft.Storage/storageAccounts"},
               "then": {"effect": "denyAction", "details": {"actionNames": ["delete"]}}}),
        "Indexed",
        json!({}),
    );
    let report = run(deny_action, &[storage(json!({}))], sub_assignment());
    assert!(
        report.passed(),
        "denyAction refuses deletes, not deployments"
    );
    assert!(report.policies[0].resources[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("delete"));
}

#[test]
fn initiative_parameters_flow_to_references_and_assignment_values_win() {
    let lib = Library::builtin();
    let initiative = lib.initiative("ncsc-caf").unwrap();
    assert_eq!(initiative.references.len(), 73);
    assert_eq!(initiative.groups.len(), 15);
    let mut a = sub_assignment();
    let p = evaluate::prepare_initiative(lib, &initiative, &a).unwrap();
    let i = p
        .iter()
        .position(|p| p.reference.reference_id.starts_with("ea53dbee"))
        .unwrap();
    assert_eq!(p[i].params["IncludeArcMachines"], json!("false"));
    a.parameters.insert(
        "IncludeArcMachines-ea53dbee-c6c9-4f0e-9f9e-de0039b78023".into(),
        json!({"value": "true"}),
    );
    let p = evaluate::prepare_initiative(lib, &initiative, &a).unwrap();
    assert_eq!(p[i].params["IncludeArcMachines"], json!("true"));
}

#[test]
fn both_shipped_initiatives_resolve_every_member() {
    let lib = Library::builtin();
    let nhs = lib.initiative("uk-nhs").unwrap();
    assert_eq!(nhs.references.len(), 45);
    assert_eq!(nhs.groups.len(), 23);
    assert_eq!(nhs.groups[0].title, "1. Data in transit protection");
    for name in ["uk-nhs", "ncsc-caf"] {
        let i = lib.initiative(name).unwrap();
        evaluate::prepare_initiative(lib, &i, &sub_assignment()).unwrap();
    }
}
