//! Management group deployments (issue 17): `PUT /providers/Microsoft.Management/managementGroups/{mg}/providers/
//! Microsoft.Resources/deployments/{name}` runs a managementGroupDeploymentTemplate: policy resources at the
//! group, nested deployments to a subscription (and a group in it) and to a child management group, the scope
//! functions evaluated at the group; what-if, list and delete; ARM's refusal of a type a management group
//! cannot hold. Everything goes over ARM's REST protocol.

use super::*;

const MG_SCHEMA: &str =
    "https://schema.management.azure.com/schemas/2019-08-01/managementGroupDeploymentTemplate.json#";
const MG_ID: &str = "/providers/Microsoft.Management/managementGroups/nhs-trusts";
const POLICY_API: &str = "2023-04-01";

fn mg_dep_path(mg: &str, name: &str) -> String {
    format!("/providers/Microsoft.Management/managementGroups/{mg}/providers/Microsoft.Resources/deployments/{name}?api-version={RG_API}")
}

/// A custom definition (storage accounts must use TLS 1.2) and its assignment at the group, a nested
/// deployment to the subscription that creates a resource group and a storage account in it, and one to a
/// child management group that assigns the same definition there.
fn mg_template() -> Value {
    json!({
        "$schema": MG_SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {"subscriptionId": {"type": "string"}},
        "variables": {
            "definitionId": "[managementGroupResourceId('Microsoft.Authorization/policyDefinitions', 'tls12')]"
        },
        "resources": [
            {
                "type": "Microsoft.Authorization/policyDefinitions", "apiVersion": POLICY_API, "name": "tls12",
                "properties": {
                    "displayName": "Storage accounts use TLS 1.2", "mode": "Indexed", "policyType": "Custom",
                    "policyRule": {
                        "if": {"allOf": [
                            {"field": "type", "equals": "Microsoft.Storage/storageAccounts"},
                            {"field": "Microsoft.Storage/storageAccounts/minimumTlsVersion", "notEquals": "TLS1_2"}
                        ]},
                        "then": {"effect": "audit"}
                    }
                }
            },
            {
                "type": "Microsoft.Authorization/policyAssignments", "apiVersion": POLICY_API, "name": "tls12-at-mg",
                "dependsOn": ["tls12"],
                "properties": {"displayName": "[format('TLS 1.2 at {0}', managementGroup().name)]", "policyDefinitionId": "[variables('definitionId')]"}
            },
            {
                "type": "Microsoft.Resources/deployments", "apiVersion": RG_API, "name": "to-subscription",
                "subscriptionId": "[parameters('subscriptionId')]", "location": "uksouth",
                "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"}, "template": {
                    "$schema": SUB_SCHEMA, "contentVersion": "1.0.0.0",
                    "resources": [{"type": "Microsoft.Resources/resourceGroups", "apiVersion": RG_API, "name": "rg-from-mg", "location": "uksouth"}],
                    "outputs": {"sub": {"type": "string", "value": "[subscription().subscriptionId]"}}
                }}
            },
            {
                "type": "Microsoft.Resources/deployments", "apiVersion": RG_API, "name": "to-group",
                "subscriptionId": "[parameters('subscriptionId')]", "resourceGroup": "rg-from-mg",
                "dependsOn": ["to-subscription"],
                "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"}, "template": {
                    "$schema": RG_SCHEMA, "contentVersion": "1.0.0.0",
                    "resources": [{"type": "Microsoft.Storage/storageAccounts", "apiVersion": ST_API, "name": "stfrommg",
                        "location": "[resourceGroup().location]", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
                        "properties": {"minimumTlsVersion": "TLS1_2"}}]
                }}
            },
            {
                "type": "Microsoft.Resources/deployments", "apiVersion": RG_API, "name": "to-child",
                "scope": "Microsoft.Management/managementGroups/nhs-trust-rxx", "location": "uksouth",
                "dependsOn": ["tls12"],
                "properties": {"mode": "Incremental",
                    "expressionEvaluationOptions": {"scope": "inner"},
                    "parameters": {"definitionId": {"value": "[variables('definitionId')]"}},
                    "template": {
                        "$schema": MG_SCHEMA, "contentVersion": "1.0.0.0",
                        "parameters": {"definitionId": {"type": "string"}},
                        "resources": [{"type": "Microsoft.Authorization/policyAssignments", "apiVersion": POLICY_API,
                            "name": "tls12-at-child", "properties": {"policyDefinitionId": "[parameters('definitionId')]"}}],
                        "outputs": {"group": {"type": "string", "value": "[managementGroup().name]"}}
                    }
                }
            }
        ],
        "outputs": {
            "group": {"type": "object", "value": "[managementGroup()]"},
            "definition": {"type": "string", "value": "[variables('definitionId')]"},
            "tenantLevel": {"type": "string", "value": "[resourceId('Microsoft.Authorization/policyDefinitions', 'tls12')]"},
            "tenantId": {"type": "string", "value": "[tenantResourceId('Microsoft.Management/managementGroups', 'nhs-trusts')]"},
            "extension": {"type": "string", "value": "[extensionResourceId(managementGroup().id, 'Microsoft.Authorization/policyAssignments', 'tls12-at-mg')]"},
            "childGroup": {"type": "string", "value": "[reference('to-child').outputs.group.value]"}
        }
    })
}

fn mg_body(template: Value) -> Value {
    json!({"location": "uksouth", "properties": {
        "mode": "Incremental", "template": template,
        "parameters": {"subscriptionId": {"value": SUB}}
    }})
}

#[tokio::test]
async fn a_management_group_deployment_assigns_policy_at_the_group_and_deploys_to_its_subscription()
{
    let c = Cloud::default().await;
    let path = mg_dep_path("nhs-trusts", "governance");
    // ARM requires a location for a deployment above a resource group.
    let mut no_location = mg_body(mg_template());
    no_location.as_object_mut().unwrap().remove("location");
    let r = c.put(&path, no_location).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "LocationRequired");

    let first = c.put(&path, mg_body(mg_template())).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(
        first.body["id"],
        format!("{MG_ID}/providers/Microsoft.Resources/deployments/governance")
    );
    assert_eq!(first.body["properties"]["provisioningState"], "Accepted");
    let done = c.wait_deployment(&first).await;
    let props = &done.body["properties"];
    assert_eq!(props["provisioningState"], "Succeeded", "{}", done.body);
    assert_eq!(done.body["location"], "uksouth");
    let outputs = &props["outputs"];
    assert_eq!(outputs["group"]["value"]["name"], "nhs-trusts");
    assert_eq!(outputs["group"]["value"]["id"], MG_ID);
    assert_eq!(
        outputs["definition"]["value"],
        format!("{MG_ID}/providers/Microsoft.Authorization/policyDefinitions/tls12")
    );
    // resourceId() at management group scope is tenant-level, as Microsoft's reference says.
    assert_eq!(
        outputs["tenantLevel"]["value"],
        "/providers/Microsoft.Authorization/policyDefinitions/tls12"
    );
    assert_eq!(outputs["tenantId"]["value"], MG_ID);
    assert_eq!(
        outputs["extension"]["value"],
        format!("{MG_ID}/providers/Microsoft.Authorization/policyAssignments/tls12-at-mg")
    );
    assert_eq!(outputs["childGroup"]["value"], "nhs-trust-rxx");

    // The policy resources are at the group, readable through Azure Policy's own routes.
    let assignment = c
        .get(&format!("{MG_ID}/providers/Microsoft.Authorization/policyAssignments/tls12-at-mg?api-version={POLICY_API}"))
        .await;
    assert_eq!(assignment.status, StatusCode::OK, "{}", assignment.body);
    assert_eq!(
        assignment.body["properties"]["displayName"],
        "TLS 1.2 at nhs-trusts"
    );
    assert_eq!(
        assignment.body["properties"]["policyDefinitionId"],
        format!("{MG_ID}/providers/Microsoft.Authorization/policyDefinitions/tls12")
    );
    let child = c
        .get(&format!("/providers/Microsoft.Management/managementGroups/nhs-trust-rxx/providers/Microsoft.Authorization/policyAssignments/tls12-at-child?api-version={POLICY_API}"))
        .await;
    assert_eq!(child.status, StatusCode::OK, "{}", child.body);

    // The nested deployments ran at the subscription and in the group it created.
    assert_eq!(c.get(&rg_path("rg-from-mg")).await.status, StatusCode::OK);
    assert_eq!(
        c.get(&storage_path("rg-from-mg", "stfrommg")).await.status,
        StatusCode::OK
    );
    let nested = c.get(&dep_path(None, "to-subscription")).await;
    assert_eq!(nested.status, StatusCode::OK, "{}", nested.body);
    assert_eq!(nested.body["properties"]["outputs"]["sub"]["value"], SUB);
    let child_dep = c.get(&mg_dep_path("nhs-trust-rxx", "to-child")).await;
    assert_eq!(child_dep.status, StatusCode::OK, "{}", child_dep.body);

    // Listed at the group, and only there.
    let list = c
        .get(&format!(
            "{MG_ID}/providers/Microsoft.Resources/deployments?api-version={RG_API}"
        ))
        .await;
    let names: Vec<&str> = list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["governance"]);

    // Validate at the group: pre-flight, nothing written.
    let v = c
        .post(
            &super::stacks::with(&path, "/validate", ""),
            mg_body(mg_template()),
        )
        .await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.body);
    assert!(
        v.body["properties"]["validatedResources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"]
                == format!(
                    "{MG_ID}/providers/Microsoft.Authorization/policyAssignments/tls12-at-mg"
                )),
        "{}",
        v.body
    );

    // What-if at the group: 202 and Location, then every change (nothing new the second time round).
    let r = c
        .post(
            &super::stacks::with(&path, "/whatIf", ""),
            mg_body(mg_template()),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let w = c.poll_location(&r).await;
    assert_eq!(w.body["status"], "Succeeded", "{}", w.body);
    let changes = w.body["properties"]["changes"].as_array().unwrap();
    let assignment_change = changes
        .iter()
        .find(|ch| {
            ch["resourceId"]
                .as_str()
                .unwrap()
                .ends_with("policyAssignments/tls12-at-mg")
        })
        .unwrap_or_else(|| panic!("no change for the assignment: {}", w.body));
    assert_ne!(
        assignment_change["changeType"], "Create",
        "{assignment_change}"
    );
    assert!(
        changes.iter().any(|ch| ch["resourceId"]
            .as_str()
            .unwrap()
            .ends_with("storageAccounts/stfrommg")),
        "{}",
        w.body
    );

    // DELETE removes the record (202, Location, then 204), not the resources.
    let r = c.delete(&path).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let gone = c.poll_location(&r).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let r = c.get(&path).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"]["code"], "DeploymentNotFound");
    assert_eq!(assignment_status(&c, "tls12-at-mg").await, StatusCode::OK);
}

async fn assignment_status(c: &Cloud, name: &str) -> StatusCode {
    c.get(&format!("{MG_ID}/providers/Microsoft.Authorization/policyAssignments/{name}?api-version={POLICY_API}"))
        .await
        .status
}

#[tokio::test]
async fn a_management_group_deployment_refuses_a_resource_a_management_group_cannot_hold() {
    let c = Cloud::default().await;
    let template = json!({"$schema": MG_SCHEMA, "contentVersion": "1.0.0.0", "resources": [
        {"type": "Microsoft.Storage/storageAccounts", "apiVersion": ST_API, "name": "stonmg", "location": "uksouth",
         "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "properties": {}}]});
    let r = c
        .put(
            &mg_dep_path("nhs-trusts", "wrong"),
            json!({"location": "uksouth", "properties": {"mode": "Incremental", "template": template}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "InvalidTemplateDeployment");
    let inner = &r.body["error"]["details"][0];
    assert_eq!(inner["code"], "InvalidResourceType");
    assert_eq!(
        inner["target"],
        format!("{MG_ID}/providers/Microsoft.Storage/storageAccounts/stonmg")
    );
    assert!(
        inner["message"].as_str().unwrap().contains(
            "'Microsoft.Storage/storageAccounts' cannot be deployed at management group scope"
        ),
        "{inner}"
    );
    // Nothing was recorded.
    assert_eq!(
        c.get(&mg_dep_path("nhs-trusts", "wrong")).await.status,
        StatusCode::NOT_FOUND
    );
    // Complete mode is for resource groups only, at a management group as at a subscription.
    let r = c
        .put(
            &mg_dep_path("nhs-trusts", "complete"),
            json!({"location": "uksouth", "properties": {"mode": "Complete", "template": {"$schema": MG_SCHEMA, "contentVersion": "1.0.0.0", "resources": []}}}),
        )
        .await;
    assert_eq!(
        r.body["error"]["code"], "InvalidDeploymentMode",
        "{}",
        r.body
    );
}
