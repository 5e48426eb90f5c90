//! Benchmarks of the ARM template evaluator: one expression, and static expansion of a realistic
//! subscription-scope deployment (a resource group and a nested deployment of 40 resources), as the guardrails
//! run it for every trust. Run: `cargo bench --bench armexpr`.

#![recursion_limit = "256"]

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::hint::black_box;
use trustprint::armexpr::{self, expand, StaticContext};
use trustprint::model::{RenderedDeployment, Scope};

fn workload_template() -> Value {
    json!({
        "$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "ods": {"type": "string"}, "location": {"type": "string", "defaultValue": "uksouth"},
            "tags": {"type": "object"}, "vmCount": {"type": "int", "defaultValue": 8, "maxValue": 20}
        },
        "variables": {
            "rgName": "[format('rg-{0}-uks-epr', toLower(parameters('ods')))]",
            "subnets": ["app", "data", "mgmt", "bastion", "pe", "agw"]
        },
        "resources": [
            {"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2022-09-01",
             "name": "[variables('rgName')]", "location": "[parameters('location')]", "tags": "[parameters('tags')]"},
            {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "epr",
             "resourceGroup": "[variables('rgName')]",
             "dependsOn": ["[subscriptionResourceId('Microsoft.Resources/resourceGroups', variables('rgName'))]"],
             "properties": {
                "mode": "Incremental",
                "expressionEvaluationOptions": {"scope": "inner"},
                "parameters": {
                    "ods": {"value": "[parameters('ods')]"}, "location": {"value": "[parameters('location')]"},
                    "tags": {"value": "[parameters('tags')]"}, "vmCount": {"value": "[parameters('vmCount')]"}
                },
                "template": {
                    "contentVersion": "1.0.0.0",
                    "parameters": {
                        "ods": {"type": "string"}, "location": {"type": "string"},
                        "tags": {"type": "object"}, "vmCount": {"type": "int"}
                    },
                    "variables": {"subnets": ["app", "data", "mgmt", "bastion", "pe", "agw"]},
                    "resources": [
                        {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-09-01",
                         "name": "[concat('vnet-', toLower(parameters('ods')))]", "location": "[parameters('location')]",
                         "tags": "[parameters('tags')]",
                         "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
                            "copy": [{"name": "subnets", "count": "[length(variables('subnets'))]", "input": {
                                "name": "[variables('subnets')[copyIndex('subnets')]]",
                                "properties": {"addressPrefix": "[format('10.1.{0}.0/24', copyIndex('subnets'))]"}}}]}},
                        {"type": "Microsoft.Compute/virtualMachines", "apiVersion": "2023-09-01",
                         "name": "[format('vm-{0}-{1:D2}', toLower(parameters('ods')), copyIndex(1))]",
                         "location": "[parameters('location')]", "tags": "[parameters('tags')]",
                         "copy": {"name": "vms", "count": "[parameters('vmCount')]"},
                         "dependsOn": ["[resourceId('Microsoft.Network/virtualNetworks', concat('vnet-', toLower(parameters('ods'))))]"],
                         "properties": {"hardwareProfile": {"vmSize": "Standard_D4s_v5"},
                            "osProfile": {"computerName": "[format('vm{0}', copyIndex())]"}}},
                        {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01",
                         "name": "[guid(resourceGroup().id, 'vm', string(copyIndex()))]",
                         "copy": {"name": "ras", "count": "[parameters('vmCount')]"},
                         "properties": {"principalId": "[uniqueString(resourceGroup().id, string(copyIndex()))]"}},
                        {"type": "Microsoft.Insights/diagnosticSettings", "apiVersion": "2021-05-01-preview",
                         "name": "to-law", "copy": {"name": "diags", "count": "[parameters('vmCount')]"},
                         "scope": "[resourceId('Microsoft.Compute/virtualMachines', format('vm-{0}-{1:D2}', toLower(parameters('ods')), copyIndex(1)))]",
                         "properties": {"workspaceId": "[reference('law').customerId]"}},
                        {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01",
                         "name": "[concat('kv-', toLower(parameters('ods')), '-', uniqueString(resourceGroup().id))]",
                         "location": "[parameters('location')]", "tags": "[parameters('tags')]",
                         "properties": {"enableRbacAuthorization": true, "enablePurgeProtection": true,
                            "tenantId": "[subscription().tenantId]"}}
                    ]
                }
             }}
        ]
    })
}

fn deployment() -> RenderedDeployment {
    RenderedDeployment {
        name: "epr".into(),
        scope: Scope::Subscription,
        resource_group: None,
        location: "uksouth".into(),
        template_path: "epr.json.tera".into(),
        template: workload_template(),
        parameters: json!({"parameters": {
            "ods": {"value": "RM3"},
            "tags": {"value": {"ods-code": "RM3", "trust": "Northern Care Alliance", "cost-centre": "1234"}}
        }}),
        secret_env: BTreeMap::new(),
        depends_on: vec![],
        hash: String::new(),
        stack: None,
    }
}

fn benches(c: &mut Criterion) {
    let d = deployment();
    let ctx = StaticContext::default();
    match expand(&d, &ctx) {
        Ok(r) => assert_eq!(
            r.len(),
            27,
            "the benchmark template should expand to 27 resources"
        ),
        Err(e) => panic!("the benchmark template does not expand: {e}"),
    }
    c.bench_function(
        "expand: subscription deployment with a nested 26-resource deployment",
        |b| b.iter(|| expand(black_box(&d), &ctx)),
    );

    let s = armexpr::Scope::new(
        &serde_json::from_value(json!({"ods": "RM3"})).unwrap_or_default(),
        &Map::new(),
    )
    .unwrap_or_default();
    struct Ctx;
    impl armexpr::Context for Ctx {
        fn subscription(&self) -> Value {
            json!({"subscriptionId": "s"})
        }
        fn resource_group(&self) -> Option<Value> {
            Some(
                json!({"id": "/subscriptions/s/resourceGroups/rg", "name": "rg", "location": "uksouth"}),
            )
        }
        fn deployment(&self) -> Value {
            json!({})
        }
        fn tenant(&self) -> Value {
            json!({})
        }
        fn reference(&self, id: &str, _: Option<&str>, _: bool) -> Result<Value, armexpr::Error> {
            Ok(json!({"id": id}))
        }
    }
    c.bench_function("eval: one typical expression", |b| {
        b.iter(|| {
            armexpr::Evaluator::new(&Ctx, &s).eval_str(black_box(
                "[format('kv-{0}-{1}', toLower(parameters('ods')), uniqueString(resourceGroup().id))]",
            ))
        })
    });
}

criterion_group!(armexpr_benches, benches);
criterion_main!(armexpr_benches);
