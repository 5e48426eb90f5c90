//! Issue 15 point 4: Azure Policy in the local cloud, as a client of Azure sees it: built-in and custom
//! definitions, assignments and exemptions at each scope, deny / modify / denyAction on requests, and the
//! compliance states Microsoft.PolicyInsights serves after a deployment.

use super::*;

const POLICY_API: &str = "api-version=2023-04-01";
const INSIGHTS_API: &str = "api-version=2019-10-01";
const UK_NHS: &str =
    "/providers/Microsoft.Authorization/policySetDefinitions/3937f550-eedd-4639-9c5e-294358be442e";
const MG: &str = "/providers/Microsoft.Management/managementGroups/mg-nhs";

fn sub() -> String {
    format!("/subscriptions/{SUB}")
}

fn policy_path(scope: &str, kind: &str, name: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/{kind}/{name}?{POLICY_API}")
}

/// A custom definition: storage accounts whose minimum TLS version is not 1.2 meet `effect`.
fn tls_definition(effect: &str) -> Value {
    json!({"properties": {
        "displayName": "Storage accounts use TLS 1.2",
        "mode": "Indexed",
        "policyRule": {
            "if": {"allOf": [
                {"field": "type", "equals": "Microsoft.Storage/storageAccounts"},
                {"field": "Microsoft.Storage/storageAccounts/minimumTlsVersion", "notEquals": "TLS1_2"}
            ]},
            "then": {"effect": effect}
        }
    }})
}

fn storage(tls: &str, tags: Value) -> Value {
    json!({"location": "uksouth", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
           "tags": tags, "properties": {"minimumTlsVersion": tls}})
}

impl Cloud {
    /// PUT a policy resource; asserts it was created.
    async fn put_policy(&self, scope: &str, kind: &str, name: &str, body: Value) -> Resp {
        let r = self.put(&policy_path(scope, kind, name), body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r
    }

    async fn insights(&self, scope: &str, action: &str, query: &str) -> Resp {
        let r = self
            .post(
                &format!("{scope}/providers/Microsoft.PolicyInsights/policyStates/latest/{action}?{INSIGHTS_API}{query}"),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r
    }

    /// `triggerEvaluation` at `scope`, followed to its end.
    async fn trigger_evaluation(&self, scope: &str) {
        let r = self
            .post(
                &format!("{scope}/providers/Microsoft.PolicyInsights/policyStates/latest/triggerEvaluation?{INSIGHTS_API}"),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        let done = self.poll_location(&r).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    }
}

const MG_API: &str = "api-version=2021-04-01";

impl Cloud {
    /// Create management group `name` under `parent` (the tenant root group when `None`), following the
    /// create's `Azure-AsyncOperation` to `Succeeded`.
    async fn management_group(&self, name: &str, parent: Option<&str>) -> Resp {
        let mut props = json!({"displayName": format!("{name} (test)")});
        if let Some(p) = parent {
            props["details"] = json!({"parent": {"id": format!("/providers/Microsoft.Management/managementGroups/{p}")}});
        }
        let r = self
            .put(
                &format!("/providers/Microsoft.Management/managementGroups/{name}?{MG_API}"),
                json!({"properties": props}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        assert_eq!(r.body["status"], "NotStarted");
        let status = self.get(r.header("azure-asyncoperation")).await;
        assert_eq!(status.body["status"], "Succeeded", "{}", status.body);
        r
    }

    /// Place subscription `sub` in management group `mg`.
    async fn place(&self, mg: &str, sub: &str) {
        let r = self
            .put(
                &format!("/providers/Microsoft.Management/managementGroups/{mg}/subscriptions/{sub}?{MG_API}"),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
}

fn states(r: &Resp) -> Vec<Value> {
    r.body["value"].as_array().unwrap().clone()
}

#[tokio::test]
async fn built_in_initiatives_are_present_and_custom_definitions_are_put_at_a_subscription_and_a_management_group(
) {
    let c = Cloud::default().await;
    let uk = c.get(&format!("{UK_NHS}?{POLICY_API}")).await;
    assert_eq!(uk.status, StatusCode::OK, "{}", uk.body);
    assert_eq!(
        uk.body["properties"]["displayName"],
        "UK OFFICIAL and UK NHS"
    );
    assert_eq!(uk.body["properties"]["policyType"], "BuiltIn");
    assert_eq!(
        uk.body["properties"]["policyDefinitions"]
            .as_array()
            .unwrap()
            .len(),
        45
    );
    let sets = c
        .get(&format!(
            "/providers/Microsoft.Authorization/policySetDefinitions?{POLICY_API}"
        ))
        .await;
    let names: Vec<&str> = sets.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"6d220abf-cf6f-4b17-8f7e-0644c4cc84b4"),
        "{names:?}"
    );
    let allowed = c
        .get(&format!("/providers/Microsoft.Authorization/policyDefinitions/e56962a6-4747-49cd-b67b-bf8b01975c4c?{POLICY_API}"))
        .await;
    assert_eq!(
        allowed.body["properties"]["displayName"],
        "Allowed locations"
    );
    let missing = c
        .get(&format!("/providers/Microsoft.Authorization/policyDefinitions/00000000-0000-0000-0000-000000000000?{POLICY_API}"))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["error"]["code"], "PolicyDefinitionNotFound");

    let at_sub = c
        .put_policy(&sub(), "policyDefinitions", "tls", tls_definition("audit"))
        .await;
    assert_eq!(at_sub.body["properties"]["policyType"], "Custom");
    let at_mg = c
        .put_policy(MG, "policyDefinitions", "tls-mg", tls_definition("deny"))
        .await;
    assert_eq!(
        at_mg.body["id"],
        format!("{MG}/providers/Microsoft.Authorization/policyDefinitions/tls-mg")
    );
    let got = c.get(&policy_path(MG, "policyDefinitions", "tls-mg")).await;
    assert_eq!(
        got.body["properties"]["policyRule"]["then"]["effect"],
        "deny"
    );
    // The subscription's list holds the built-ins and its own; a filter keeps the custom ones.
    let custom = c
        .get(&format!("{}/providers/Microsoft.Authorization/policyDefinitions?{POLICY_API}&$filter=policyType eq 'Custom'", sub()))
        .await;
    let custom: Vec<&str> = custom.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(custom, ["tls"]);
    // A definition that is not one is refused with the member named.
    let bad = c
        .put(&policy_path(&sub(), "policyDefinitions", "bad"), json!({"properties": {"policyRule": {"if": {"field": "type", "equals": "x"}, "then": {"effect": "explode"}}}}))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["code"], "InvalidPolicyRule");
    assert!(
        bad.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("then.effect"),
        "{}",
        bad.body
    );
    // An assignment of a definition that does not exist is refused.
    let nowhere = c
        .put(&policy_path(&sub(), "policyAssignments", "nowhere"), json!({"properties": {"policyDefinitionId": "/providers/Microsoft.Authorization/policyDefinitions/nope"}}))
        .await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert_eq!(nowhere.body["error"]["code"], "PolicyDefinitionNotFound");
    // Deleting the management group's definition removes it.
    assert_eq!(
        c.delete(&policy_path(MG, "policyDefinitions", "tls-mg"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        c.get(&policy_path(MG, "policyDefinitions", "tls-mg"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_deny_policy_refuses_the_write_with_request_disallowed_by_policy_and_an_exemption_lets_it_through(
) {
    let c = Cloud::default().await;
    c.rg("rg-deny", "uksouth").await;
    c.put_policy(
        &sub(),
        "policyDefinitions",
        "tls-deny",
        tls_definition("deny"),
    )
    .await;
    let rg = rg_path("rg-deny");
    let assignment = c
        .put_policy(&rg, "policyAssignments", "tls-12", json!({"properties": {
            "displayName": "TLS 1.2 for storage",
            "policyDefinitionId": format!("{}/providers/Microsoft.Authorization/policyDefinitions/tls-deny", sub()),
        }}))
        .await;
    assert_eq!(assignment.body["properties"]["enforcementMode"], "Default");
    assert_eq!(
        assignment.body["properties"]["scope"],
        format!("/subscriptions/{SUB}/resourceGroups/rg-deny")
    );
    let r = c
        .put(
            &storage_path("rg-deny", "stold"),
            storage("TLS1_0", json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.header("x-ms-error-code"), "RequestDisallowedByPolicy");
    let e = &r.body["error"];
    assert_eq!(e["code"], "RequestDisallowedByPolicy");
    assert_eq!(e["target"], "stold");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.starts_with("Resource 'stold' was disallowed by policy. Policy identifiers: "),
        "{message}"
    );
    assert!(
        message.contains("TLS 1.2 for storage") && message.contains("Storage accounts use TLS 1.2"),
        "{message}"
    );
    let info = &e["additionalInfo"][0];
    assert_eq!(info["type"], "PolicyViolation");
    let info = &info["info"];
    assert_eq!(info["policyAssignmentName"], "tls-12");
    assert_eq!(info["policyAssignmentDisplayName"], "TLS 1.2 for storage");
    assert_eq!(
        info["policyDefinitionId"],
        format!(
            "{}/providers/Microsoft.Authorization/policyDefinitions/tls-deny",
            sub()
        )
    );
    assert_eq!(info["policyDefinitionEffect"], "deny");
    let expr = &info["evaluationDetails"]["evaluatedExpressions"];
    assert!(
        expr.as_array().unwrap().iter().any(|x| x["path"]
            == "Microsoft.Storage/storageAccounts/minimumTlsVersion"
            && x["expressionValue"] == "TLS1_0"),
        "{expr}"
    );
    // Nothing was stored; a compliant account is.
    assert_eq!(
        c.get(&storage_path("rg-deny", "stold")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.put(
            &storage_path("rg-deny", "stnew"),
            storage("TLS1_2", json!({}))
        )
        .await
        .status,
        StatusCode::CREATED
    );
    // A waiver for the group lets the old account in.
    let x = c
        .put_policy(
            &rg,
            "policyExemptions",
            "legacy",
            json!({"properties": {
                "policyAssignmentId": assignment.body["id"], "exemptionCategory": "Waiver",
                "description": "a legacy client needs TLS 1.0 until March"
            }}),
        )
        .await;
    assert_eq!(x.body["properties"]["exemptionCategory"], "Waiver");
    assert_eq!(
        c.put(
            &storage_path("rg-deny", "stold"),
            storage("TLS1_0", json!({}))
        )
        .await
        .status,
        StatusCode::CREATED
    );
    // Deleting the exemption brings the denial back.
    assert_eq!(
        c.delete(&policy_path(&rg, "policyExemptions", "legacy"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        c.put(
            &storage_path("rg-deny", "stold2"),
            storage("TLS1_0", json!({}))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn do_not_enforce_lets_the_write_through_and_records_it_non_compliant() {
    let c = Cloud::default().await;
    c.rg("rg-dne", "uksouth").await;
    c.put_policy(
        &sub(),
        "policyDefinitions",
        "tls-deny",
        tls_definition("deny"),
    )
    .await;
    c.put_policy(&sub(), "policyAssignments", "tls-dne", json!({"properties": {
        "enforcementMode": "DoNotEnforce",
        "policyDefinitionId": format!("{}/providers/Microsoft.Authorization/policyDefinitions/tls-deny", sub()),
    }}))
    .await;
    assert_eq!(
        c.put(
            &storage_path("rg-dne", "stweak"),
            storage("TLS1_0", json!({}))
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        c.put(
            &storage_path("rg-dne", "ststrong"),
            storage("TLS1_2", json!({}))
        )
        .await
        .status,
        StatusCode::CREATED
    );
    c.trigger_evaluation(&sub()).await;
    let r = c.insights(&rg_path("rg-dne"), "queryResults", "").await;
    let by_name = |name: &str| {
        states(&r)
            .into_iter()
            .find(|s| s["resourceId"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no state for {name}: {}", r.body))
    };
    assert_eq!(by_name("stweak")["complianceState"], "NonCompliant");
    assert_eq!(by_name("stweak")["isCompliant"], false);
    assert_eq!(by_name("ststrong")["complianceState"], "Compliant");
    assert_eq!(by_name("stweak")["policyDefinitionAction"], "deny");
    assert_eq!(by_name("stweak")["resourceGroup"], "rg-dne");
}

#[tokio::test]
async fn a_modify_policy_at_a_management_group_adds_a_tag_except_in_its_not_scopes() {
    let c = Cloud::default().await;
    c.management_group("mg-nhs", None).await;
    c.place("mg-nhs", SUB).await;
    c.rg("rg-tagged", "uksouth").await;
    c.rg("rg-skipped", "uksouth").await;
    let def = c
        .put_policy(MG, "policyDefinitions", "add-cost-centre", json!({"properties": {
            "displayName": "Add the cost centre tag", "mode": "Indexed",
            "parameters": {"value": {"type": "String"}},
            "policyRule": {
                "if": {"field": "tags['cost-centre']", "exists": "false"},
                "then": {"effect": "modify", "details": {
                    "roleDefinitionIds": ["/providers/microsoft.authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"],
                    "operations": [{"operation": "addOrReplace", "field": "tags['cost-centre']", "value": "[parameters('value')]"}]
                }}
            }
        }}))
        .await;
    c.put_policy(
        MG,
        "policyAssignments",
        "cost-centre",
        json!({"properties": {
            "policyDefinitionId": def.body["id"],
            "parameters": {"value": {"value": "RM3-IT"}},
            "notScopes": [rg_path("rg-skipped")],
        }}),
    )
    .await;
    let r = c
        .put(
            &storage_path("rg-tagged", "sttag"),
            storage("TLS1_2", json!({"owner": "epr"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["tags"],
        json!({"owner": "epr", "cost-centre": "RM3-IT"})
    );
    assert_eq!(
        c.get(&storage_path("rg-tagged", "sttag")).await.body["tags"]["cost-centre"],
        "RM3-IT"
    );
    let skipped = c
        .put(
            &storage_path("rg-skipped", "stnotag"),
            storage("TLS1_2", json!({"owner": "epr"})),
        )
        .await;
    assert_eq!(skipped.body["tags"], json!({"owner": "epr"}));
    // A parameter the definition does not declare is refused.
    let bad = c
        .put(
            &policy_path(MG, "policyAssignments", "typo"),
            json!({"properties": {
            "policyDefinitionId": def.body["id"], "parameters": {"valeu": {"value": "x"}}}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["code"], "UndefinedPolicyParameter");
}

#[tokio::test]
async fn a_deny_action_policy_refuses_deletes() {
    let c = Cloud::default().await;
    c.rg("rg-keep", "uksouth").await;
    c.put_policy(
        &sub(),
        "policyDefinitions",
        "keep-storage",
        json!({"properties": {
            "displayName": "Do not delete storage", "mode": "Indexed",
            "policyRule": {"if": {"field": "type", "equals": "Microsoft.Storage/storageAccounts"},
                           "then": {"effect": "denyAction", "details": {"actionNames": ["delete"]}}}
        }}),
    )
    .await;
    c.put(
        &storage_path("rg-keep", "stkeep"),
        storage("TLS1_2", json!({})),
    )
    .await;
    c.put_policy(&sub(), "policyAssignments", "keep", json!({"properties": {
        "policyDefinitionId": format!("{}/providers/Microsoft.Authorization/policyDefinitions/keep-storage", sub()),
    }}))
    .await;
    let r = c.delete(&storage_path("rg-keep", "stkeep")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "RequestDisallowedByPolicy");
    assert_eq!(
        r.body["error"]["additionalInfo"][0]["info"]["policyDefinitionEffect"],
        "denyAction"
    );
    assert_eq!(
        c.get(&storage_path("rg-keep", "stkeep")).await.status,
        StatusCode::OK
    );
    c.trigger_evaluation(&rg_path("rg-keep")).await;
    let q = c
        .insights(&storage_path("rg-keep", "stkeep"), "queryResults", "")
        .await;
    assert_eq!(states(&q)[0]["complianceState"], "Protected", "{}", q.body);
}

#[tokio::test]
async fn a_deployment_is_evaluated_and_its_states_are_queried_and_summarized_at_each_scope() {
    let c = Cloud::default().await;
    c.management_group("mg-nhs", None).await;
    c.place("mg-nhs", SUB).await;
    c.rg("rg-eval", "uksouth").await;
    c.put_policy(
        &sub(),
        "policyDefinitions",
        "tls-audit",
        tls_definition("audit"),
    )
    .await;
    c.put_policy(&sub(), "policySetDefinitions", "trust-baseline", json!({"properties": {
        "displayName": "Trust baseline",
        "policyDefinitionGroups": [{"name": "data-at-rest"}, {"name": "locations"}],
        "policyDefinitions": [
            {"policyDefinitionReferenceId": "tls", "groupNames": ["data-at-rest"],
             "policyDefinitionId": format!("{}/providers/Microsoft.Authorization/policyDefinitions/tls-audit", sub())},
            {"policyDefinitionReferenceId": "uk-only", "groupNames": ["locations"],
             "policyDefinitionId": "/providers/Microsoft.Authorization/policyDefinitions/e56962a6-4747-49cd-b67b-bf8b01975c4c",
             "parameters": {"listOfAllowedLocations": {"value": ["uksouth", "ukwest"]}, "effect": {"value": "audit"}}}
        ]
    }}))
    .await;
    c.put_policy(&sub(), "policyAssignments", "baseline", json!({"properties": {
        "policyDefinitionId": format!("{}/providers/Microsoft.Authorization/policySetDefinitions/trust-baseline", sub()),
    }}))
    .await;
    let tpl = json!({"$schema": RG_SCHEMA, "contentVersion": "1.0.0.0", "resources": [
        {"type": "Microsoft.Storage/storageAccounts", "apiVersion": ST_API, "name": "stgood", "location": "uksouth",
         "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "properties": {"minimumTlsVersion": "TLS1_2"}},
        {"type": "Microsoft.Storage/storageAccounts", "apiVersion": ST_API, "name": "stweak", "location": "uksouth",
         "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "properties": {"minimumTlsVersion": "TLS1_0"}}
    ]});
    let d = c
        .deploy(
            Some("rg-eval"),
            "baseline",
            json!({"properties": {"mode": "Incremental", "template": tpl}}),
        )
        .await;
    assert_eq!(
        d.body["properties"]["provisioningState"], "Succeeded",
        "{}",
        d.body
    );
    // No trigger: the evaluation ran as the deployment finished.
    let all = c.insights(&rg_path("rg-eval"), "queryResults", "").await;
    assert_eq!(
        all.body["@odata.count"], 4,
        "two accounts x two policies: {}",
        all.body
    );
    let bad = c
        .insights(
            &rg_path("rg-eval"),
            "queryResults",
            "&$filter=complianceState eq 'NonCompliant'",
        )
        .await;
    let bad = states(&bad);
    assert_eq!(bad.len(), 1);
    assert!(bad[0]["resourceId"].as_str().unwrap().ends_with("/stweak"));
    assert_eq!(bad[0]["policyDefinitionReferenceId"], "tls");
    assert_eq!(
        bad[0]["policyDefinitionGroupNames"],
        json!(["data-at-rest"])
    );
    assert_eq!(bad[0]["policySetDefinitionName"], "trust-baseline");
    let selected = c
        .insights(
            &sub(),
            "queryResults",
            "&$top=1&$select=resourceId,complianceState",
        )
        .await;
    let first = &states(&selected)[0];
    assert_eq!(
        first
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with('@'))
            .count(),
        2,
        "{first}"
    );
    // The management group sees the states of the subscription beneath it.
    assert_eq!(
        c.insights(MG, "queryResults", "").await.body["@odata.count"],
        4
    );
    // Summaries count non-compliant resources, policies and groups.
    for scope in [sub(), rg_path("rg-eval"), MG.to_string()] {
        let s = c.insights(&scope, "summarize", "").await;
        let summary = &s.body["value"][0];
        assert_eq!(
            summary["results"]["nonCompliantResources"], 1,
            "{scope}: {}",
            s.body
        );
        assert_eq!(summary["results"]["nonCompliantPolicies"], 1, "{scope}");
        let a = &summary["policyAssignments"][0];
        assert_eq!(
            a["policySetDefinitionId"],
            format!(
                "{}/providers/Microsoft.Authorization/policySetDefinitions/trust-baseline",
                sub()
            )
        );
        let groups: Vec<(String, Value)> = a["policyGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["policyGroupName"].as_str().unwrap().to_string(),
                    g["results"]["nonCompliantResources"].clone(),
                )
            })
            .collect();
        assert!(
            groups.contains(&("data-at-rest".into(), json!(1))),
            "{groups:?}"
        );
        assert!(
            groups.contains(&("locations".into(), json!(0))),
            "{groups:?}"
        );
    }
    let bad_filter = c
        .post(&format!("{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?{INSIGHTS_API}&$filter=complianceState gt 'x'", sub()), json!({}))
        .await;
    assert_eq!(bad_filter.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad_filter.body["error"]["code"],
        "InvalidFilterInQueryString"
    );
}

#[tokio::test]
async fn the_uk_official_and_uk_nhs_initiative_assigned_in_the_local_cloud_reports_per_group() {
    let c = Cloud::default().await;
    c.rg("rg-nhs", "uksouth").await;
    c.put_policy(
        &sub(),
        "policyAssignments",
        "uk-nhs",
        json!({"properties": {
        "displayName": "UK OFFICIAL and UK NHS", "policyDefinitionId": UK_NHS}}),
    )
    .await;
    c.put(
        &storage_path("rg-nhs", "stnhs"),
        json!({"location": "uksouth", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
        "properties": {"minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": false}}),
    )
    .await;
    c.trigger_evaluation(&sub()).await;
    let q = c
        .insights(
            &storage_path("rg-nhs", "stnhs"),
            "queryResults",
            "&$filter=complianceState eq 'NonCompliant'",
        )
        .await;
    let https = states(&q)
        .into_iter()
        .find(|s| s["policyDefinitionName"] == "404c3081-a854-4457-ae30-26a93ef643f9")
        .unwrap_or_else(|| panic!("secure transfer is not reported non-compliant: {}", q.body));
    assert_eq!(https["policySetDefinitionId"], UK_NHS);
    assert!(!https["policyDefinitionGroupNames"]
        .as_array()
        .unwrap()
        .is_empty());
    let s = c.insights(&sub(), "summarize", "").await;
    assert!(
        s.body["value"][0]["policyAssignments"][0]["policyGroups"]
            .as_array()
            .unwrap()
            .len()
            > 1,
        "{}",
        s.body
    );
}

const SUB2: &str = "22222222-3333-4444-8555-666666666666";
const ROOT: &str = trustprint::cloud::DEFAULT_TENANT;

fn mg_path(name: &str) -> String {
    format!("/providers/Microsoft.Management/managementGroups/{name}")
}

#[tokio::test]
async fn management_groups_form_a_hierarchy_under_the_tenant_root_group() {
    let c = Cloud::default().await;
    // The tenant root group is always there and has no parent.
    let root = c.get(&format!("{}?{MG_API}", mg_path(ROOT))).await;
    assert_eq!(root.status, StatusCode::OK, "{}", root.body);
    assert_eq!(root.body["properties"]["displayName"], "Tenant Root Group");
    assert_eq!(root.body["properties"]["details"]["parent"], Value::Null);
    // A group without a parent goes under the root; a child names its parent.
    c.management_group("mg-nhs", None).await;
    c.management_group("mg-acute", Some("mg-nhs")).await;
    let acute = c
        .get(&format!("{}?{MG_API}&$expand=path", mg_path("MG-ACUTE")))
        .await;
    assert_eq!(acute.body["name"], "mg-acute");
    assert_eq!(
        acute.body["properties"]["details"]["parent"],
        json!({"id": mg_path("mg-nhs"), "name": "mg-nhs", "displayName": "mg-nhs (test)"})
    );
    let path: Vec<&str> = acute.body["properties"]["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(path, [ROOT, "mg-nhs"]);
    let nhs = c.get(&format!("{}?{MG_API}", mg_path("mg-nhs"))).await;
    assert_eq!(
        nhs.body["properties"]["details"]["parent"]["id"],
        mg_path(ROOT)
    );
    // An update answers 200 and keeps the parent.
    let renamed = c
        .put(
            &format!("{}?{MG_API}", mg_path("mg-acute")),
            json!({"properties": {"displayName": "Acute trusts"}}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(
        renamed.body["properties"]["details"]["parent"]["name"],
        "mg-nhs"
    );
    let list = c
        .get(&format!(
            "/providers/Microsoft.Management/managementGroups?{MG_API}"
        ))
        .await;
    let names: Vec<&str> = list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [ROOT, "mg-acute", "mg-nhs"]);

    // A subscription placed in a group is its child; placing it elsewhere moves it.
    c.place("mg-nhs", SUB).await;
    c.place("mg-acute", SUB).await;
    let tree = c
        .get(&format!(
            "{}?{MG_API}&$expand=children&$recurse=true",
            mg_path("mg-nhs")
        ))
        .await;
    let children = &tree.body["properties"]["children"];
    assert_eq!(children.as_array().unwrap().len(), 1, "{children}");
    assert_eq!(children[0]["name"], "mg-acute");
    assert_eq!(
        children[0]["children"][0]["id"],
        format!("/subscriptions/{SUB}")
    );
    assert_eq!(children[0]["children"][0]["type"], "/subscriptions");
    let placed = c
        .get(&format!(
            "{}/subscriptions/{SUB}?{MG_API}",
            mg_path("mg-acute")
        ))
        .await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.body);
    assert_eq!(
        placed.body["properties"]["parent"]["id"],
        mg_path("mg-acute")
    );
    let gone = c
        .get(&format!(
            "{}/subscriptions/{SUB}?{MG_API}",
            mg_path("mg-nhs")
        ))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // No cycles, no unknown parents, no deleting a group with children.
    let cycle = c
        .put(
            &format!("{}?{MG_API}", mg_path("mg-nhs")),
            json!({"properties": {"details": {"parent": {"id": mg_path("mg-acute")}}}}),
        )
        .await;
    assert_eq!(cycle.status, StatusCode::BAD_REQUEST, "{}", cycle.body);
    assert!(cycle.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("its own ancestor"));
    let orphan = c
        .put(
            &format!("{}?{MG_API}", mg_path("mg-x")),
            json!({"properties": {"details": {"parent": {"id": mg_path("mg-missing")}}}}),
        )
        .await;
    assert_eq!(
        orphan.body["error"]["code"],
        "ParentManagementGroupNotFound"
    );
    let busy = c.delete(&format!("{}?{MG_API}", mg_path("mg-nhs"))).await;
    assert_eq!(busy.status, StatusCode::BAD_REQUEST);
    assert_eq!(busy.body["error"]["code"], "ManagementGroupHasChildren");

    // Removing the subscription returns it to the root; then the groups can go, leaf first.
    let out = c
        .delete(&format!(
            "{}/subscriptions/{SUB}?{MG_API}",
            mg_path("mg-acute")
        ))
        .await;
    assert_eq!(out.status, StatusCode::OK);
    let root = c
        .get(&format!("{}?{MG_API}&$expand=children", mg_path(ROOT)))
        .await;
    assert!(
        root.body["properties"]["children"]
            .as_array()
            .unwrap()
            .iter()
            .any(|ch| ch["name"] == SUB),
        "{}",
        root.body
    );
    for g in ["mg-acute", "mg-nhs"] {
        let d = c.delete(&format!("{}?{MG_API}", mg_path(g))).await;
        assert_eq!(d.status, StatusCode::ACCEPTED, "{}", d.body);
        let status = c.get(d.header("azure-asyncoperation")).await;
        assert_eq!(status.body["status"], "Succeeded");
        assert_eq!(
            c.get(&format!("{}?{MG_API}", mg_path(g))).await.status,
            StatusCode::NOT_FOUND
        );
    }
}

fn storage_in(sub: &str, rg: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}?api-version={ST_API}")
}

#[tokio::test]
async fn a_policy_at_a_management_group_acts_on_the_subscriptions_beneath_it_and_no_other() {
    let c = Cloud::default().await;
    c.management_group("mg-nhs", None).await;
    c.management_group("mg-acute", Some("mg-nhs")).await;
    // SUB is beneath mg-nhs through its child group; SUB2 sits under the tenant root group only.
    c.place("mg-acute", SUB).await;
    for sub in [SUB, SUB2] {
        let r = c
            .put(
                &format!("/subscriptions/{sub}/resourcegroups/rg-a?api-version={RG_API}"),
                json!({"location": "uksouth"}),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.body);
    }
    let def = c
        .put_policy(MG, "policyDefinitions", "tls-deny", tls_definition("deny"))
        .await;
    c.put_policy(
        MG,
        "policyAssignments",
        "tls",
        json!({"properties": {"policyDefinitionId": def.body["id"]}}),
    )
    .await;
    let denied = c
        .put(
            &storage_in(SUB, "rg-a", "stweak"),
            storage("TLS1_0", json!({})),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.body);
    assert_eq!(denied.body["error"]["code"], "RequestDisallowedByPolicy");
    let elsewhere = c
        .put(
            &storage_in(SUB2, "rg-a", "stweak"),
            storage("TLS1_0", json!({})),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::CREATED, "{}", elsewhere.body);

    // An exemption at the child group lets its subscriptions through.
    c.put_policy(
        &mg_path("mg-acute"),
        "policyExemptions",
        "acute-waiver",
        json!({"properties": {"policyAssignmentId": format!("{MG}/providers/Microsoft.Authorization/policyAssignments/tls"),
                              "exemptionCategory": "Waiver"}}),
    )
    .await;
    let exempt = c
        .put(
            &storage_in(SUB, "rg-a", "stweak"),
            storage("TLS1_0", json!({})),
        )
        .await;
    assert_eq!(exempt.status, StatusCode::CREATED, "{}", exempt.body);

    // An audit at the tenant root group reaches both; PolicyInsights at a group sums only what is beneath it.
    let audit = c
        .put_policy(
            &mg_path(ROOT),
            "policyDefinitions",
            "tls-audit",
            tls_definition("audit"),
        )
        .await;
    c.put_policy(
        &mg_path(ROOT),
        "policyAssignments",
        "tls-audit",
        json!({"properties": {"policyDefinitionId": audit.body["id"]}}),
    )
    .await;
    c.trigger_evaluation(&format!("/subscriptions/{SUB}")).await;
    c.trigger_evaluation(&format!("/subscriptions/{SUB2}"))
        .await;
    let subs_of = |r: &Resp| -> Vec<String> {
        let mut v: Vec<String> = states(r)
            .iter()
            .filter(|s| s["policyAssignmentName"] == "tls-audit")
            .map(|s| s["subscriptionId"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let at_nhs = c.insights(MG, "queryResults", "").await;
    assert_eq!(subs_of(&at_nhs), [SUB]);
    let at_root = c.insights(&mg_path(ROOT), "queryResults", "").await;
    assert_eq!(subs_of(&at_root), [SUB, SUB2]);
    let sub_state = states(&at_nhs)
        .into_iter()
        .find(|s| s["policyAssignmentName"] == "tls-audit")
        .unwrap();
    assert_eq!(
        sub_state["managementGroupIds"],
        format!("mg-acute,mg-nhs,{ROOT}")
    );
    let summary = c.insights(MG, "summarize", "").await;
    assert_eq!(
        summary.body["value"][0]["results"]["nonCompliantResources"], 1,
        "only SUB's weak account: {}",
        summary.body
    );
    // SUB2's own states say it is under the root only.
    let sub2 = c
        .insights(&format!("/subscriptions/{SUB2}"), "queryResults", "")
        .await;
    assert!(states(&sub2)
        .iter()
        .all(|s| s["managementGroupIds"] == ROOT));

    // Moving SUB out of the hierarchy (back to the root) takes mg-nhs's deny away from it.
    c.delete(&format!(
        "{}/subscriptions/{SUB}?{MG_API}",
        mg_path("mg-acute")
    ))
    .await;
    let free = c
        .put(
            &storage_in(SUB, "rg-a", "stother"),
            storage("TLS1_0", json!({})),
        )
        .await;
    assert_eq!(free.status, StatusCode::CREATED, "{}", free.body);

    // A deny at the root whose notScopes name mg-acute: SUB (under the root again) is refused, and placed
    // back in mg-acute it is not.
    let root_deny = c
        .put_policy(
            &mg_path(ROOT),
            "policyDefinitions",
            "tls-deny-root",
            tls_definition("deny"),
        )
        .await;
    c.put_policy(
        &mg_path(ROOT),
        "policyAssignments",
        "tls-deny-root",
        json!({"properties": {"policyDefinitionId": root_deny.body["id"], "notScopes": [mg_path("mg-acute")]}}),
    )
    .await;
    let refused = c
        .put(
            &storage_in(SUB, "rg-a", "stthird"),
            storage("TLS1_0", json!({})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    c.place("mg-acute", SUB).await;
    let excluded = c
        .put(
            &storage_in(SUB, "rg-a", "stthird"),
            storage("TLS1_0", json!({})),
        )
        .await;
    assert_eq!(excluded.status, StatusCode::CREATED, "{}", excluded.body);
}
