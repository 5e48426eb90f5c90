//! Integration tests: armexpr. Realistic templates expanded through the public API: what the guardrails see
//! (`expand`) and what the local cloud's engine sees (`Plan`).

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use trustprint::armexpr::{
    self, expand, DeploymentScope, Error, Mode, NodeKind, Plan, Resolver, StaticContext,
};
use trustprint::model::{RenderedDeployment, Resource, Scope};

const SUB: &str = "11111111-2222-3333-4444-555555555555";

fn ctx() -> StaticContext {
    StaticContext {
        subscription_id: SUB.into(),
        tenant_id: "tenant-1".into(),
    }
}

fn rg_deployment(template: Value, parameters: Value) -> RenderedDeployment {
    RenderedDeployment {
        name: "epr".into(),
        scope: Scope::ResourceGroup,
        resource_group: Some("rg-rm3-uks-epr".into()),
        location: "uksouth".into(),
        template_path: "epr/main.json.tera".into(),
        template,
        parameters: json!({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
            "contentVersion": "1.0.0.0",
            "parameters": parameters,
        }),
        secret_env: BTreeMap::new(),
        depends_on: vec![],
        hash: "sha256:00".into(),
        stack: None,
    }
}

fn template(parameters: Value, variables: Value, resources: Value) -> Value {
    json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": parameters,
        "variables": variables,
        "resources": resources,
    })
}

fn ids(resources: &[Resource]) -> Vec<&str> {
    resources.iter().map(|r| r.id.as_str()).collect()
}

const RG_ID: &str =
    "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-rm3-uks-epr";

#[test]
fn storage_account_with_parameter_and_resource_group_location() {
    let t = template(
        json!({
            "location": {"type": "string", "defaultValue": "[resourceGroup().location]"},
            "storageName": {"type": "String", "minLength": 3, "maxLength": 24},
            "tags": {"type": "object"}
        }),
        json!({"sku": "Standard_ZRS"}),
        json!([{
            "type": "Microsoft.Storage/storageAccounts",
            "apiVersion": "2023-01-01",
            "name": "[parameters('storageName')]",
            "location": "[parameters('location')]",
            "tags": "[parameters('tags')]",
            "sku": {"name": "[variables('sku')]"},
            "kind": "StorageV2",
            "properties": {
                "supportsHttpsTrafficOnly": true,
                "minimumTlsVersion": "TLS1_2",
                "allowBlobPublicAccess": false,
                "networkAcls": {"defaultAction": "Deny"},
                "primaryEndpoints": "[reference(parameters('storageName')).primaryEndpoints]"
            }
        }]),
    );
    let d = rg_deployment(
        t,
        json!({"storageName": {"value": "strm3uksepr"}, "tags": {"value": {"ods-code": "RM3"}}}),
    );
    let resources = expand(&d, &ctx()).unwrap();
    assert_eq!(resources.len(), 1);
    let st = &resources[0];
    assert_eq!(
        st.id,
        format!("{RG_ID}/providers/Microsoft.Storage/storageAccounts/strm3uksepr")
    );
    assert_eq!(st.resource_type, "Microsoft.Storage/storageAccounts");
    assert_eq!(st.api_version, "2023-01-01");
    assert_eq!(st.name, "strm3uksepr");
    assert_eq!(st.location.as_deref(), Some("uksouth"));
    assert_eq!(st.tags.as_ref().unwrap()["ods-code"], "RM3");
    assert_eq!(st.deployment, "epr");
    assert_eq!(st.body["sku"]["name"], "Standard_ZRS");
    assert_eq!(
        st.body["properties"]["networkAcls"]["defaultAction"],
        "Deny"
    );
    // Only known once deployed: kept as the expression, not a failure.
    assert_eq!(
        st.body["properties"]["primaryEndpoints"],
        "[reference(parameters('storageName')).primaryEndpoints]"
    );
}

#[test]
fn copy_loops_conditions_and_property_copy() {
    let t = template(
        json!({"count": {"type": "int", "defaultValue": 3, "minValue": 1, "maxValue": 5},
               "withBastion": {"type": "bool", "defaultValue": false}}),
        json!({"subnets": ["app", "data"]}),
        json!([
            {
                "type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2023-09-01",
                "name": "[format('pip-{0:D2}', copyIndex(1))]", "location": "uksouth",
                "copy": {"name": "pips", "count": "[parameters('count')]"}
            },
            {
                "condition": "[parameters('withBastion')]",
                "type": "Microsoft.Network/bastionHosts", "apiVersion": "2023-09-01",
                "name": "bas-1", "location": "uksouth"
            },
            {
                "type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-09-01",
                "name": "vnet-1", "location": "uksouth",
                "dependsOn": ["pips", "bas-1"],
                "properties": {
                    "copy": [{
                        "name": "subnets", "count": "[length(variables('subnets'))]",
                        "input": {
                            "name": "[variables('subnets')[copyIndex('subnets')]]",
                            "properties": {"addressPrefix": "[concat('10.0.', copyIndex('subnets'), '.0/24')]"}
                        }
                    }]
                }
            }
        ]),
    );
    let d = rg_deployment(t, json!({}));
    let resources = expand(&d, &ctx()).unwrap();
    assert_eq!(
        resources
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["pip-01", "pip-02", "pip-03", "vnet-1"]
    );
    assert_eq!(
        resources[3].body["properties"]["subnets"],
        json!([
            {"name": "app", "properties": {"addressPrefix": "10.0.0.0/24"}},
            {"name": "data", "properties": {"addressPrefix": "10.0.1.0/24"}}
        ])
    );

    // The engine sees the dependency on the whole loop; the excluded bastion is ignored.
    let scope = DeploymentScope::resource_group(SUB, "t", "rg-rm3-uks-epr", "uksouth", "epr");
    let plan = Plan::new(&d.template, &Map::new(), &scope, Mode::Strict).unwrap();
    assert_eq!(plan.nodes[3].depends_on, vec![0, 1, 2]);
    assert_eq!(plan.layers().unwrap(), vec![vec![0, 1, 2], vec![3]]);
}

#[test]
fn serial_copy_with_batch_size_orders_batches() {
    let t = template(
        json!({}),
        json!({}),
        json!([{
            "type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01",
            "name": "[concat('st', copyIndex())]", "location": "uksouth",
            "copy": {"name": "sts", "count": 5, "mode": "Serial", "batchSize": 2}
        }]),
    );
    let scope = DeploymentScope::resource_group(SUB, "t", "rg", "uksouth", "d");
    let plan = Plan::new(&t, &Map::new(), &scope, Mode::Strict).unwrap();
    assert_eq!(
        plan.layers().unwrap(),
        vec![vec![0, 1], vec![2, 3], vec![4]]
    );
}

#[test]
fn child_resources_are_flattened_with_interleaved_ids() {
    let t = template(
        json!({}),
        json!({}),
        json!([{
            "type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-09-01",
            "name": "vnet1", "location": "uksouth",
            "resources": [
                {"type": "subnets", "apiVersion": "2023-09-01", "name": "app",
                 "dependsOn": ["vnet1"], "properties": {"addressPrefix": "10.0.1.0/24"}},
                {"type": "Microsoft.Network/virtualNetworks/subnets", "apiVersion": "2023-09-01",
                 "name": "vnet1/data", "dependsOn": ["[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet1', 'app')]"]}
            ]
        }]),
    );
    let resources = expand(&rg_deployment(t.clone(), json!({})), &ctx()).unwrap();
    assert_eq!(
        ids(&resources),
        [
            format!("{RG_ID}/providers/Microsoft.Network/virtualNetworks/vnet1"),
            format!("{RG_ID}/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/app"),
            format!("{RG_ID}/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/data"),
        ]
    );
    assert_eq!(
        resources[1].resource_type,
        "Microsoft.Network/virtualNetworks/subnets"
    );
    assert_eq!(resources[1].name, "vnet1/app");
    let scope = DeploymentScope::resource_group(SUB, "t", "rg-rm3-uks-epr", "uksouth", "epr");
    let plan = Plan::new(&t, &Map::new(), &scope, Mode::Strict).unwrap();
    assert_eq!(plan.layers().unwrap(), vec![vec![0], vec![1], vec![2]]);
}

#[test]
fn extension_resources_with_scope() {
    let t = template(
        json!({"workspaceId": {"type": "string"}}),
        json!({}),
        json!([
            {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "kv-rm3", "location": "uksouth",
             "properties": {"enableRbacAuthorization": true}},
            {"type": "Microsoft.Insights/diagnosticSettings", "apiVersion": "2021-05-01-preview", "name": "to-law",
             "scope": "[resourceId('Microsoft.KeyVault/vaults', 'kv-rm3')]",
             "dependsOn": ["[resourceId('Microsoft.KeyVault/vaults', 'kv-rm3')]"],
             "properties": {"workspaceId": "[parameters('workspaceId')]"}},
            {"type": "Microsoft.Authorization/locks", "apiVersion": "2020-05-01", "name": "no-delete",
             "scope": "Microsoft.KeyVault/vaults/kv-rm3", "properties": {"level": "CanNotDelete"}},
            {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01",
             "name": "[guid(resourceGroup().id, 'reader')]",
             "properties": {"principalId": "p1"}},
            {"type": "Microsoft.KeyVault/vaults/providers/diagnosticSettings", "apiVersion": "2021-05-01-preview",
             "name": "kv-rm3/Microsoft.Insights/legacy"}
        ]),
    );
    let resources = expand(
        &rg_deployment(t, json!({"workspaceId": {"value": "/ws"}})),
        &ctx(),
    )
    .unwrap();
    let kv = format!("{RG_ID}/providers/Microsoft.KeyVault/vaults/kv-rm3");
    let ra_name = armexpr::guid(&[RG_ID, "reader"]);
    assert_eq!(
        ids(&resources),
        [
            kv.clone(),
            format!("{kv}/providers/Microsoft.Insights/diagnosticSettings/to-law"),
            format!("{kv}/providers/Microsoft.Authorization/locks/no-delete"),
            format!("{RG_ID}/providers/Microsoft.Authorization/roleAssignments/{ra_name}"),
            format!("{kv}/providers/Microsoft.Insights/diagnosticSettings/legacy"),
        ]
    );
    assert_eq!(resources[1].body["properties"]["workspaceId"], "/ws");
}

#[test]
fn nested_deployments_inner_and_outer_scope_are_flattened_into_their_groups() {
    let t = json!({
        "$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"ods": {"type": "string"}},
        "variables": {"rgName": "[format('rg-{0}-uks-net', toLower(parameters('ods')))]"},
        "resources": [
            {"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2022-09-01",
             "name": "[variables('rgName')]", "location": "uksouth", "tags": {"ods-code": "[parameters('ods')]"}},
            {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "net-inner",
             "resourceGroup": "[variables('rgName')]",
             "dependsOn": ["[subscriptionResourceId('Microsoft.Resources/resourceGroups', variables('rgName'))]"],
             "properties": {
                "mode": "Incremental",
                "expressionEvaluationOptions": {"scope": "inner"},
                "parameters": {"vnetName": {"value": "[concat('vnet-', toLower(parameters('ods')))]"}},
                "template": {
                    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                    "contentVersion": "1.0.0.0",
                    "parameters": {"vnetName": {"type": "string"}},
                    "resources": [{
                        "type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-09-01",
                        "name": "[parameters('vnetName')]", "location": "[resourceGroup().location]",
                        "properties": {"rg": "[resourceGroup().name]"}
                    }],
                    "outputs": {"vnetId": {"type": "string",
                        "value": "[resourceId('Microsoft.Network/virtualNetworks', parameters('vnetName'))]"}}
                }
             }},
            {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "net-outer",
             "resourceGroup": "[variables('rgName')]",
             "dependsOn": ["net-inner"],
             "properties": {
                "mode": "Incremental",
                "template": {
                    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                    "contentVersion": "1.0.0.0",
                    "resources": [{
                        "type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2023-09-01",
                        "name": "[concat('nsg-', variables('rgName'))]", "location": "uksouth",
                        "properties": {"vnet": "[reference('net-inner').outputs.vnetId.value]"}
                    }]
                }
             }}
        ],
        "outputs": {"rg": {"type": "string", "value": "[variables('rgName')]"}}
    });
    let d = RenderedDeployment {
        name: "connectivity".into(),
        scope: Scope::Subscription,
        resource_group: None,
        location: "uksouth".into(),
        template_path: "connectivity.json.tera".into(),
        template: t.clone(),
        parameters: json!({"parameters": {"ods": {"value": "RM3"}}, "contentVersion": "1.0.0.0"}),
        secret_env: BTreeMap::new(),
        depends_on: vec![],
        hash: "sha256:00".into(),
        stack: None,
    };
    let resources = expand(&d, &ctx()).unwrap();
    let rg = format!("/subscriptions/{SUB}/resourceGroups/rg-rm3-uks-net");
    assert_eq!(
        ids(&resources),
        [
            rg.clone(),
            format!("{rg}/providers/Microsoft.Network/virtualNetworks/vnet-rm3"),
            format!("{rg}/providers/Microsoft.Network/networkSecurityGroups/nsg-rg-rm3-uks-net"),
        ]
    );
    assert_eq!(
        resources[0].resource_type,
        "Microsoft.Resources/resourceGroups"
    );
    assert_eq!(resources[1].body["properties"]["rg"], "rg-rm3-uks-net");
    assert!(resources.iter().all(|r| r.deployment == "connectivity"));
    assert_eq!(
        resources[2].body["properties"]["vnet"],
        "[reference('net-inner').outputs.vnetId.value]"
    );

    // The engine: deployments are nodes; the parent's reference() of the inner deployment resolves through the
    // resolver once it has run.
    let scope = DeploymentScope::subscription(SUB, "t", "uksouth", "connectivity");
    let params: Map<String, Value> = [("ods".to_string(), json!("RM3"))].into_iter().collect();
    let plan = Plan::new(&t, &params, &scope, Mode::Strict).unwrap();
    assert_eq!(plan.nodes[1].kind, NodeKind::Deployment);
    assert_eq!(
        plan.nodes[1].target_resource_group.as_deref(),
        Some("rg-rm3-uks-net")
    );
    assert_eq!(
        plan.nodes[1].id,
        format!("{rg}/providers/Microsoft.Resources/deployments/net-inner")
    );
    assert_eq!(plan.layers().unwrap(), vec![vec![0], vec![1], vec![2]]);
    let inner = plan.nested(1, &NoneDeployed, Some("ukwest")).unwrap();
    assert_eq!(inner.nodes[0].location.as_deref(), Some("ukwest"));
    struct InnerDone(String);
    impl Resolver for InnerDone {
        fn reference(&self, id: &str, _: Option<&str>, _: bool) -> Result<Value, Error> {
            assert_eq!(id, self.0);
            Ok(json!({"outputs": {"vnetId": {"type": "String", "value": "/the/vnet"}}}))
        }
    }
    let outer = plan
        .nested(2, &InnerDone(plan.nodes[1].id.clone()), None)
        .unwrap();
    let nsg = outer
        .evaluate(0, &InnerDone(plan.nodes[1].id.clone()))
        .unwrap();
    assert_eq!(nsg["properties"]["vnet"], "/the/vnet");
    let outputs = plan.outputs(&NoneDeployed).unwrap();
    assert_eq!(
        outputs["rg"],
        json!({"type": "String", "value": "rg-rm3-uks-net"})
    );
}

struct NoneDeployed;
impl Resolver for NoneDeployed {
    fn reference(&self, id: &str, _: Option<&str>, _: bool) -> Result<Value, Error> {
        Err(Error::Resolver {
            code: "ResourceNotFound".into(),
            message: format!("The Resource '{id}' was not found."),
        })
    }
}

#[test]
fn nested_parameters_that_need_reference_stay_unknown_in_static_expansion() {
    let t = template(
        json!({}),
        json!({}),
        json!([
            {"type": "Microsoft.OperationalInsights/workspaces", "apiVersion": "2022-10-01", "name": "law",
             "location": "uksouth"},
            {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "diag",
             "properties": {
                "mode": "Incremental",
                "expressionEvaluationOptions": {"scope": "inner"},
                "parameters": {
                    "workspaceKey": {"value": "[reference('law').customerId]"},
                    "retention": {"value": 30}
                },
                "template": {
                    "contentVersion": "1.0.0.0",
                    "parameters": {"workspaceKey": {"type": "string"}, "retention": {"type": "int", "maxValue": 90}},
                    "resources": [{
                        "type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "stdiag",
                        "location": "[resourceGroup().location]",
                        "properties": {"key": "[parameters('workspaceKey')]", "days": "[parameters('retention')]"}
                    }]
                }
             }}
        ]),
    );
    let resources = expand(&rg_deployment(t, json!({})), &ctx()).unwrap();
    assert_eq!(resources.len(), 2);
    assert_eq!(
        resources[1].id,
        format!("{RG_ID}/providers/Microsoft.Storage/storageAccounts/stdiag")
    );
    assert_eq!(resources[1].location.as_deref(), Some("uksouth"));
    assert_eq!(
        resources[1].body["properties"],
        json!({"key": "[parameters('workspaceKey')]", "days": 30})
    );
}

#[test]
fn outer_scope_sees_the_parents_scope_as_arm_does() {
    // With the default (outer) scope, a nested template's functions see the parent deployment: at subscription
    // scope there is no resourceGroup(), even though the resources go into a group.
    let t = json!({
        "contentVersion": "1.0.0.0",
        "resources": [{
            "type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "n",
            "resourceGroup": "rg-x",
            "properties": {"mode": "Incremental", "template": {"contentVersion": "1.0.0.0", "resources": [{
                "type": "Microsoft.Web/sites", "apiVersion": "2023-01-01", "name": "w",
                "location": "[resourceGroup().location]"
            }]}}
        }]
    });
    let mut d = rg_deployment(t, json!({}));
    d.scope = Scope::Subscription;
    d.resource_group = None;
    let err = expand(&d, &ctx()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "resources[0].properties.template.resources[0].location: resourceGroup(): not available in a \
         subscription-scope deployment"
    );
}

#[test]
fn property_copy_with_a_count_known_only_after_deployment_is_kept_as_written() {
    let t = template(
        json!({}),
        json!({}),
        json!([{
            "type": "Microsoft.Network/loadBalancers", "apiVersion": "2023-09-01", "name": "lb",
            "properties": {"copy": [{"name": "rules", "count": "[length(reference('x').rules)]", "input": {"n": "[copyIndex('rules')]"}}]}
        }]),
    );
    let resources = expand(&rg_deployment(t, json!({})), &ctx()).unwrap();
    assert_eq!(
        resources[0].body["properties"]["copy"][0]["count"],
        "[length(reference('x').rules)]"
    );
}

#[test]
fn dependency_cycles_are_reported_by_name() {
    let t = template(
        json!({}),
        json!({}),
        json!([
            {"type": "Microsoft.Web/sites", "apiVersion": "2023-01-01", "name": "a", "dependsOn": ["b"]},
            {"type": "Microsoft.Web/sites", "apiVersion": "2023-01-01", "name": "b", "dependsOn": ["a"]}
        ]),
    );
    let scope = DeploymentScope::resource_group(SUB, "t", "rg", "uksouth", "d");
    let err = Plan::new(&t, &Map::new(), &scope, Mode::Strict).unwrap_err();
    assert_eq!(
        err.to_string(),
        "circular dependency between resources: a -> b -> a"
    );
}

#[test]
fn template_errors_name_the_path_and_what_was_expected() {
    let t = template(
        json!({}),
        json!({}),
        json!([
            {"type": "Microsoft.Web/sites", "apiVersion": "2023-01-01", "name": "ok"},
            {"type": "Microsoft.Web/sites", "apiVersion": "2023-01-01", "name": "x",
             "properties": {"siteConfig": {"n": "[substring('abc', 2, 5)]"}}}
        ]),
    );
    let err = expand(&rg_deployment(t, json!({})), &ctx()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "resources[1].properties.siteConfig.n: substring(): start 2 and length 5 must lie within the string 'abc' (length 3)"
    );
    assert_eq!(err.arm_code(), "InvalidTemplate");

    let t = template(
        json!({}),
        json!({}),
        json!([{"type": "Microsoft.Web/sites", "apiVersion": "2023-01-01", "name": "[references('sites')]"}]),
    );
    let err = expand(&rg_deployment(t, json!({})), &ctx()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "resources[0].name: unsupported function 'references': symbolic-name collections are not supported"
    );

    let t = template(
        json!({}),
        json!({}),
        json!([{"type": "Microsoft.Web/sites", "apiVersion": "2023-01-01", "name": "a", "dependsOn": ["nope"]}]),
    );
    let err = expand(&rg_deployment(t, json!({})), &ctx()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "resources[0].dependsOn[0]: dependsOn 'nope' matches no resource in the template"
    );
}

#[test]
fn parameter_errors_name_the_parameter() {
    let decl = json!({
        "sku": {"type": "string", "allowedValues": ["Standard_LRS", "Standard_ZRS"]},
        "n": {"type": "int", "defaultValue": 2, "maxValue": 3}
    });
    let cases = [
        (json!({}), "parameter 'sku': no value was given and the template has no defaultValue"),
        (json!({"sku": {"value": 5}}), "parameter 'sku': expected a value of type string, got int"),
        (
            json!({"sku": {"value": "Premium_LRS"}}),
            "parameter 'sku': \"Premium_LRS\" is not one of the allowed values [\"Standard_LRS\",\"Standard_ZRS\"]",
        ),
        (json!({"sku": {"value": "Standard_LRS"}, "n": {"value": 4}}), "parameter 'n': 4 is more than maxValue 3"),
        (
            json!({"sku": {"value": "Standard_LRS"}, "other": {"value": 1}}),
            "parameter 'other': a value is given but the template does not declare it (it declares: n, sku)",
        ),
    ];
    for (params, message) in cases {
        let err = expand(
            &rg_deployment(template(decl.clone(), json!({}), json!([])), params),
            &ctx(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn secrets_are_placeholders_in_static_expansion() {
    let t = template(
        json!({"adminPassword": {"type": "secureString", "minLength": 12, "maxLength": 20},
               "other": {"type": "secureObject"}}),
        json!({}),
        json!([{"type": "Microsoft.Sql/servers", "apiVersion": "2023-05-01-preview", "name": "sql-1",
                "location": "uksouth", "properties": {"administratorLoginPassword": "[parameters('adminPassword')]"}}]),
    );
    let mut d = rg_deployment(
        t,
        json!({"adminPassword": {"reference": {"keyVault": {"id": "/kv"}, "secretName": "sql"}}}),
    );
    d.secret_env.insert("other".into(), "SQL_OTHER".into());
    let resources = expand(&d, &ctx()).unwrap();
    assert_eq!(
        resources[0].body["properties"]["administratorLoginPassword"],
        armexpr::secret_placeholder()
    );
}

#[test]
fn symbolic_name_templates_name_the_resource_in_errors() {
    let t = json!({"languageVersion": "2.0", "contentVersion": "1.0.0.0", "resources": {"st": {}}});
    let err = expand(&rg_deployment(t, json!({})), &ctx()).unwrap_err();
    assert_eq!(err.to_string(), "resources.st: a resource needs a 'type'");
}

mod properties {
    //! Arbitrary strings and arbitrary generated expressions: parsing and evaluating never panic, and
    //! whole templates built from them fail with errors, not crashes.
    use super::*;
    use proptest::prelude::*;

    struct AnyCtx;
    impl armexpr::Context for AnyCtx {
        fn subscription(&self) -> Value {
            json!({"id": "/subscriptions/s", "subscriptionId": "s", "tenantId": "t", "displayName": ""})
        }
        fn resource_group(&self) -> Option<Value> {
            Some(
                json!({"id": "/subscriptions/s/resourceGroups/rg", "name": "rg", "location": "uksouth"}),
            )
        }
        fn deployment(&self) -> Value {
            json!({"name": "d"})
        }
        fn tenant(&self) -> Value {
            json!({"tenantId": "t"})
        }
        fn reference(&self, id: &str, _: Option<&str>, _: bool) -> Result<Value, Error> {
            Ok(json!({"id": id, "outputs": {}}))
        }
    }

    fn scope() -> armexpr::Scope {
        let params: Map<String, Value> = serde_json::from_value(
            json!({"s": "text", "n": 3, "a": [1, "x", null], "o": {"k": [true]}}),
        )
        .unwrap();
        let vars: Map<String, Value> =
            serde_json::from_value(json!({"v": "[parameters('a')]", "w": "[variables('w')]"}))
                .unwrap();
        armexpr::Scope::new(&params, &vars).unwrap()
    }

    const NAMES: &[&str] = &[
        "concat",
        "format",
        "substring",
        "length",
        "split",
        "join",
        "replace",
        "toLower",
        "int",
        "add",
        "sub",
        "mul",
        "div",
        "mod",
        "range",
        "take",
        "skip",
        "first",
        "last",
        "union",
        "intersection",
        "createArray",
        "createObject",
        "items",
        "json",
        "string",
        "base64",
        "base64ToString",
        "uri",
        "if",
        "equals",
        "and",
        "or",
        "not",
        "empty",
        "contains",
        "coalesce",
        "guid",
        "uniqueString",
        "resourceId",
        "parameters",
        "variables",
        "copyIndex",
        "padLeft",
        "min",
        "max",
        "indexOf",
        "bool",
        "array",
        "reference",
        "nope",
        "dataUriToString",
        "uriComponentToString",
        "subscriptionResourceId",
        "extensionResourceId",
        "parseCidr",
        "cidrSubnet",
        "cidrHost",
        "tryGet",
        "indexFromEnd",
        "flatten",
        "shallowMerge",
        "objectKeys",
        "dateTimeFromEpoch",
        "dateTimeToEpoch",
        "utcNow",
        "lastIndexOf",
        "uriComponent",
        "less",
    ];

    fn expr() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            "[a-z ]{0,6}".prop_map(|s| format!("'{s}'")),
            any::<i64>().prop_map(|i| i.to_string()),
            Just("true".to_string()),
            Just("null".to_string()),
            prop::sample::select(vec![
                "'s'",
                "'n'",
                "'a'",
                "'o'",
                "'v'",
                "'w'",
                "'10.1.0.0/16'",
                "'fd00::/8'",
                "'{0:D3}-{1}'",
                "'2023-05-02T15:16:13Z'",
                "'Microsoft.Web/sites'",
            ])
            .prop_map(str::to_string),
        ];
        leaf.prop_recursive(6, 48, 4, |inner| {
            prop_oneof![
                (
                    prop::sample::select(NAMES),
                    prop::collection::vec(inner.clone(), 0..4)
                )
                    .prop_map(|(n, args)| format!("{n}({})", args.join(", "))),
                // Property access after a call: `1.a` would read as a decimal number, which ARM lacks.
                (inner.clone(), "[a-zA-Z]{1,4}").prop_map(|(e, p)| format!("array({e}).{p}")),
                (inner.clone(), inner).prop_map(|(e, i)| format!("{e}[{i}]")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,80}") {
            let scope = scope();
            let _ = armexpr::Evaluator::new(&AnyCtx, &scope).eval_str(&s);
            let _ = armexpr::Evaluator::new(&AnyCtx, &scope).eval_str(&format!("[{s}]"));
        }

        #[test]
        fn arbitrary_bracketed_grammar_soup_never_panics(s in "[\\[\\]()',.a-z0-9 -]{0,60}") {
            let scope = scope();
            let _ = armexpr::Evaluator::new(&AnyCtx, &scope).eval_str(&format!("[{s}]"));
        }

        #[test]
        fn generated_expressions_never_panic(e in expr()) {
            let scope = scope();
            let text = format!("[{e}]");
            // Every generated expression is well-formed, so it must parse; evaluating may fail but not panic.
            prop_assert!(armexpr::parse(&e).is_ok(), "did not parse: {}", text);
            let _ = armexpr::Evaluator::new(&AnyCtx, &scope).eval_str(&text);
        }

        #[test]
        fn generated_templates_never_panic(name in expr(), count in expr(), prop in expr()) {
            let t = template(
                json!({"p": {"type": "string", "defaultValue": "x"}}),
                json!({"v": format!("[{prop}]")}),
                json!([{
                    "type": "Microsoft.Web/sites", "apiVersion": "2023-01-01",
                    "name": format!("[{name}]"),
                    "copy": {"name": "c", "count": format!("[{count}]")},
                    "properties": {"x": format!("[{prop}]"), "y": "[variables('v')]"}
                }]),
            );
            let _ = expand(&rg_deployment(t.clone(), json!({})), &ctx());
            let scope = DeploymentScope::resource_group(SUB, "t", "rg", "uksouth", "d");
            if let Ok(plan) = Plan::new(&t, &Map::new(), &scope, Mode::Strict) {
                for i in 0..plan.nodes.len() {
                    let _ = plan.evaluate(i, &NoneDeployed);
                }
                let _ = plan.outputs(&NoneDeployed);
            }
        }
    }
}

/// Issue #18, row 1: an output derived from a secure parameter passed `blueprint lint`, and the stamp then
/// recorded the password in the lock. Lint now refuses it, naming the deployment, template, output and source.
#[test]
fn blueprint_lint_refuses_outputs_derived_from_secrets() {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let bp = dir.path().join("minimal");
    copy(&crate::harness::fixture_blueprint("minimal"), &bp);
    let lint = || {
        crate::harness::Test::new()
            .arg("--blueprint")
            .arg(&bp)
            .args(["blueprint", "lint"])
    };
    lint().status(0).stdout_has("no problems").run();

    let spoke = bp.join("templates/core/spoke.json.tera");
    let text = std::fs::read_to_string(&spoke).unwrap().replacen(
        "\"outputs\": {",
        "\"outputs\": {\n    \"password\": { \"type\": \"securestring\", \"value\": \"[parameters('sqlAdminPassword')]\" },",
        1,
    );
    std::fs::write(&spoke, text).unwrap();
    lint()
        .status(4)
        .stderr_has(
            "deployment 'spoke' (core/spoke.json.tera): output 'password' derives from secure parameter \
             'sqlAdminPassword'; Azure never returns secure outputs and trustprint records every output, so \
             remove these outputs",
        )
        .run();
}
