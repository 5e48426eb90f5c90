//! `languageVersion: 2.0` templates (what Bicep emits for user-defined types, `existing` resources and other
//! newer features): resources as an object keyed by symbolic name, parameter and output types given by
//! `$ref` to `definitions`. [`classic_form`] brings such a template to the classic form the planner reads,
//! and returns each resource's symbolic name, so `dependsOn` and `reference()` can use it.

use super::Error;
use serde_json::{Map, Value};

/// A resource's symbolic name, in the order of the classic form's `resources` array.
#[derive(Debug, Clone)]
pub(crate) struct Symbol {
    pub name: String,
    /// `"existing": true`: the resource is referenced, not deployed.
    pub existing: bool,
}

/// How many `$ref` hops a type may take before it is called circular.
const MAX_REF_DEPTH: usize = 32;

/// The classic form of a symbolic-name template, and its resources' symbolic names.
pub(crate) fn classic_form(
    t: &Map<String, Value>,
) -> Result<(Map<String, Value>, Vec<Symbol>), Error> {
    let mut out = t.clone();
    out.remove("languageVersion");
    if let Some(imports) = out.remove("imports") {
        if imports.as_object().is_some_and(|i| !i.is_empty()) {
            return Err(Error::Unsupported {
                construct: "imports (Bicep extensibility providers)".into(),
            });
        }
    }
    let definitions = out
        .remove("definitions")
        .and_then(|d| d.as_object().cloned())
        .unwrap_or_default();
    for section in ["parameters", "outputs"] {
        if let Some(Value::Object(entries)) = out.get_mut(section) {
            for (name, def) in entries.iter_mut() {
                *def = resolve(def, &definitions, 0)
                    .map_err(|e| e.at(|| format!("{section}.{name}")))?;
            }
        }
    }
    let mut symbols = Vec::new();
    if let Some(Value::Object(resources)) = out.get("resources") {
        let mut list = Vec::with_capacity(resources.len());
        for (name, r) in resources {
            let mut r = r.clone();
            let existing = match r.as_object_mut() {
                Some(obj) => obj
                    .remove("existing")
                    .is_some_and(|e| e.as_bool() == Some(true)),
                None => false,
            };
            symbols.push(Symbol {
                name: name.clone(),
                existing,
            });
            list.push(r);
        }
        out.insert("resources".into(), Value::Array(list));
    }
    Ok((out, symbols))
}

/// A parameter or output definition with its `$ref` replaced by the definition it names (its own fields win).
fn resolve(def: &Value, definitions: &Map<String, Value>, depth: usize) -> Result<Value, Error> {
    let Some(obj) = def.as_object() else {
        return Ok(def.clone());
    };
    let Some(reference) = obj.get("$ref").and_then(Value::as_str) else {
        return Ok(def.clone());
    };
    if depth >= MAX_REF_DEPTH {
        return Err(Error::template(format!(
            "type reference '{reference}' is circular"
        )));
    }
    let name = reference.strip_prefix("#/definitions/").ok_or_else(|| {
        Error::template(format!(
            "type reference '{reference}' must be '#/definitions/<name>' (imported types are not supported)"
        ))
    })?;
    let target = definitions.get(name).ok_or_else(|| {
        Error::template(format!(
            "type reference '{reference}' names no entry of 'definitions'"
        ))
    })?;
    let mut merged = resolve(target, definitions, depth + 1)?
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (k, v) in obj {
        if k != "$ref" {
            merged.insert(k.clone(), v.clone());
        }
    }
    Ok(Value::Object(merged))
}

#[cfg(test)]
mod tests {
    use super::super::{DeploymentScope, Mode, Plan, Unresolved};
    use serde_json::{json, Map};

    // The shape Bicep emits for `languageVersion: 2.0` (user-defined types, `existing`, symbolic dependsOn),
    // as in Microsoft's "Template syntax, languageVersion 2.0" documentation.
    #[test]
    fn symbolic_name_templates_plan_like_classic_ones() {
        let template = json!({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "languageVersion": "2.0",
            "contentVersion": "1.0.0.0",
            "definitions": {"skuName": {"type": "string", "allowedValues": ["Standard_LRS", "Standard_GRS"]}},
            "parameters": {"sku": {"$ref": "#/definitions/skuName", "defaultValue": "Standard_LRS"}},
            "resources": {
                "vnet": {
                    "existing": true,
                    "type": "Microsoft.Network/virtualNetworks",
                    "apiVersion": "2023-09-01",
                    "name": "hub"
                },
                "storage": {
                    "type": "Microsoft.Storage/storageAccounts",
                    "apiVersion": "2023-01-01",
                    "name": "stapp",
                    "location": "[resourceGroup().location]",
                    "sku": {"name": "[parameters('sku')]"},
                    "dependsOn": ["vnet"]
                },
                "container": {
                    "type": "Microsoft.Storage/storageAccounts/blobServices/containers",
                    "apiVersion": "2023-01-01",
                    "name": "stapp/default/logs",
                    "dependsOn": ["storage"]
                }
            },
            "outputs": {
                "endpoint": {"type": "string", "value": "[reference('storage').primaryEndpoints.blob]"},
                "hub": {"type": "string", "value": "[reference('vnet', '2023-09-01', 'Full').id]"}
            }
        });
        let scope = DeploymentScope::resource_group("sub", "ten", "rg", "uksouth", "dep");
        let plan = Plan::new(&template, &Map::new(), &scope, Mode::Strict).unwrap();
        assert_eq!(plan.nodes.len(), 2, "the existing vnet is not deployed");
        assert_eq!(plan.nodes[0].name, "stapp");
        assert_eq!(plan.nodes[0].body["sku"]["name"], "Standard_LRS");
        assert!(plan.nodes[0].depends_on.is_empty());
        assert_eq!(plan.nodes[1].depends_on, vec![0]);
        assert_eq!(plan.layers().unwrap(), vec![vec![0], vec![1]]);
        // reference() by symbolic name asks for the resource's id, existing or deployed.
        let e = plan.outputs(&Unresolved).unwrap_err();
        assert!(
            e.to_string()
                .contains("/providers/Microsoft.Storage/storageAccounts/stapp"),
            "{e}"
        );
        // The user-defined type's allowedValues apply.
        let bad: Map<String, serde_json::Value> =
            serde_json::from_value(json!({"sku": "Premium_ZRS"})).unwrap();
        let e = Plan::new(&template, &bad, &scope, Mode::Strict).unwrap_err();
        assert!(
            e.to_string().contains("is not one of the allowed values"),
            "{e}"
        );
    }

    /// Answers `reference(id)` with the id asked for.
    struct EchoId;

    impl super::super::Resolver for EchoId {
        fn reference(
            &self,
            id: &str,
            _: Option<&str>,
            _: bool,
        ) -> Result<serde_json::Value, super::super::Error> {
            Ok(json!({"id": id}))
        }
    }

    // What Bicep emits for a resource loop (`stores[i]`), an `existing` resource read back after this
    // template deploys it, and an `existing` resource group at subscription scope.
    #[test]
    fn copied_symbols_existing_dependencies_and_scoped_existing_resources() {
        let template = json!({
            "languageVersion": "2.0",
            "contentVersion": "1.0.0.0",
            "resources": {
                "ids": {
                    "copy": {"name": "ids", "count": 2},
                    "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
                    "apiVersion": "2023-01-31",
                    "name": "[format('id-{0}', copyIndex())]",
                    "location": "uksouth"
                },
                "st": {
                    "type": "Microsoft.Storage/storageAccounts",
                    "apiVersion": "2023-01-01",
                    "name": "stapp",
                    "location": "uksouth",
                    "dependsOn": ["[format('ids[{0}]', 1)]"]
                },
                "stRead": {
                    "existing": true,
                    "type": "Microsoft.Storage/storageAccounts",
                    "apiVersion": "2023-01-01",
                    "name": "stapp",
                    "dependsOn": ["st"]
                },
                "blob": {
                    "type": "Microsoft.Storage/storageAccounts/blobServices",
                    "apiVersion": "2023-01-01",
                    "name": "stapp/default",
                    "dependsOn": ["stRead"]
                },
                "group": {
                    "existing": true,
                    "type": "Microsoft.Resources/resourceGroups",
                    "apiVersion": "2022-09-01",
                    "subscriptionId": "sub",
                    "name": "rg"
                }
            },
            "outputs": {
                "second": {"type": "object", "value": "[reference(format('ids[{0}]', 1))]"},
                "group": {"type": "object", "value": "[reference('group', '2022-09-01', 'full')]"}
            }
        });
        let scope = DeploymentScope::resource_group("sub", "ten", "rg", "uksouth", "dep");
        let plan = Plan::new(&template, &Map::new(), &scope, Mode::Strict).unwrap();
        let names: Vec<&str> = plan.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["id-0", "id-1", "stapp", "stapp/default"]);
        assert_eq!(
            plan.nodes[2].depends_on,
            vec![1],
            "st waits for ids[1] only"
        );
        assert_eq!(
            plan.nodes[3].depends_on,
            vec![2],
            "a dependency on the existing account is one on the account this template deploys"
        );
        let out = plan.outputs(&EchoId).unwrap();
        assert_eq!(
            out["second"]["value"]["id"],
            "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-1"
        );
        assert_eq!(
            out["group"]["value"]["id"],
            "/subscriptions/sub/resourceGroups/rg"
        );
    }
}
