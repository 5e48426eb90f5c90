//! Azure Policy's resources as trustprint reads them: definitions, initiatives (policy set definitions),
//! assignments and exemptions. Parsed once from Microsoft's JSON; a missing or mistyped member is an
//! [`Error::Definition`] naming the definition and the member.

use super::Error;
use serde::Serialize;
use serde_json::{Map, Value};

/// A policy definition (`Microsoft.Authorization/policyDefinitions`).
#[derive(Debug, Clone)]
pub struct Definition {
    /// The definition's name, which is its id's last segment (a string: one built-in is not a UUID).
    pub name: String,
    pub display_name: String,
    /// `All`, `Indexed`, or a resource provider mode such as `Microsoft.KeyVault.Data`.
    pub mode: String,
    pub version: Option<String>,
    /// The parameters' declarations (`type`, `defaultValue`, `allowedValues`, `metadata`).
    pub parameters: Map<String, Value>,
    /// `policyRule`: `{if, then}`.
    pub rule: Value,
}

impl Definition {
    /// A definition from its JSON (the built-in repository's layout: `{name, properties: {...}}`, or the
    /// properties alone with `name` beside them).
    pub fn from_json(value: &Value) -> Result<Definition, Error> {
        let props = value.get("properties").unwrap_or(value);
        let name = value
            .get("name")
            .and_then(Value::as_str)
            .or_else(|| {
                value
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|id| id.rsplit('/').next())
            })
            .unwrap_or("")
            .to_string();
        let what = |member: &str, expected: &str| Error::Definition {
            definition: if name.is_empty() {
                "(unnamed)".into()
            } else {
                name.clone()
            },
            member: member.to_string(),
            expected: expected.to_string(),
        };
        let rule = props
            .get("policyRule")
            .filter(|r| r.get("if").is_some_and(Value::is_object))
            .ok_or_else(|| what("properties.policyRule", "an object with `if` and `then`"))?;
        rule.get("then")
            .and_then(|t| t.get("effect"))
            .and_then(Value::as_str)
            .ok_or_else(|| what("properties.policyRule.then.effect", "a string"))?;
        Ok(Definition {
            display_name: props
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or(&name)
                .to_string(),
            mode: props
                .get("mode")
                .and_then(Value::as_str)
                .unwrap_or("Indexed")
                .to_string(),
            version: props
                .get("version")
                .and_then(Value::as_str)
                .map(str::to_string),
            parameters: props
                .get("parameters")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            rule: rule.clone(),
            name,
        })
    }

    /// `/providers/Microsoft.Authorization/policyDefinitions/{name}`.
    pub fn id(&self) -> String {
        format!(
            "/providers/Microsoft.Authorization/policyDefinitions/{}",
            self.name
        )
    }
}

/// One policy of an initiative.
#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    #[serde(rename = "policyDefinitionReferenceId")]
    pub reference_id: String,
    /// The definition's name (the last segment of `policyDefinitionId`).
    #[serde(rename = "policyDefinitionName")]
    pub definition: String,
    /// Parameter values for the definition: `{name: {value}}`, values may be `[parameters('x')]` of the
    /// initiative.
    #[serde(skip)]
    pub parameters: Map<String, Value>,
    #[serde(rename = "groupNames")]
    pub groups: Vec<String>,
}

/// A policy definition group: a control of the framework the initiative maps.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Group {
    /// `UK_NCSC_CSP_2.3`.
    pub name: String,
    /// The control's title (`2.3 Data at rest protection`).
    pub title: String,
}

/// An initiative (`Microsoft.Authorization/policySetDefinitions`).
#[derive(Debug, Clone)]
pub struct Initiative {
    pub name: String,
    pub display_name: String,
    pub version: Option<String>,
    pub parameters: Map<String, Value>,
    pub references: Vec<Reference>,
    pub groups: Vec<Group>,
}

impl Initiative {
    /// An initiative from its JSON; `titles` gives group titles the JSON lacks (Azure keeps them in policy
    /// metadata).
    pub fn from_json(value: &Value, titles: &Map<String, Value>) -> Result<Initiative, Error> {
        let props = value.get("properties").unwrap_or(value);
        let name = value
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)")
            .to_string();
        let what = |member: String, expected: &str| Error::Definition {
            definition: name.clone(),
            member,
            expected: expected.to_string(),
        };
        let refs = props
            .get("policyDefinitions")
            .and_then(Value::as_array)
            .ok_or_else(|| what("properties.policyDefinitions".into(), "an array"))?;
        let mut references = Vec::with_capacity(refs.len());
        for (i, r) in refs.iter().enumerate() {
            let id = r
                .get("policyDefinitionId")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    what(
                        format!("properties.policyDefinitions[{i}].policyDefinitionId"),
                        "a string",
                    )
                })?;
            let definition = id.rsplit('/').next().unwrap_or(id).to_string();
            references.push(Reference {
                reference_id: r
                    .get("policyDefinitionReferenceId")
                    .and_then(Value::as_str)
                    .unwrap_or(&definition)
                    .to_string(),
                definition,
                parameters: r
                    .get("parameters")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
                groups: r
                    .get("groupNames")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        let groups = props
            .get("policyDefinitionGroups")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|g| g.get("name").and_then(Value::as_str))
                    .map(|n| Group {
                        name: n.to_string(),
                        title: titles
                            .get(n)
                            .and_then(Value::as_str)
                            .unwrap_or(n)
                            .to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Initiative {
            display_name: props
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or(&name)
                .to_string(),
            version: props
                .get("metadata")
                .and_then(|m| m.get("version"))
                .or_else(|| props.get("version"))
                .and_then(Value::as_str)
                .map(str::to_string),
            parameters: props
                .get("parameters")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            references,
            groups,
            name,
        })
    }

    /// An initiative of one definition, for assigning a single policy.
    pub fn single(definition: &Definition) -> Initiative {
        let parameters: Map<String, Value> = definition
            .parameters
            .keys()
            .map(|k| {
                (
                    k.clone(),
                    serde_json::json!({"value": format!("[parameters('{k}')]")}),
                )
            })
            .collect();
        Initiative {
            name: definition.name.clone(),
            display_name: definition.display_name.clone(),
            version: definition.version.clone(),
            parameters: definition.parameters.clone(),
            references: vec![Reference {
                reference_id: definition.name.clone(),
                definition: definition.name.clone(),
                parameters,
                groups: Vec::new(),
            }],
            groups: Vec::new(),
        }
    }
}

/// Whether an assignment's deny effects are enforced (`enforcementMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub enum Enforcement {
    #[default]
    Default,
    /// Effects are not enforced (no deny, no modify) but compliance is still evaluated.
    DoNotEnforce,
}

/// A policy exemption (`Microsoft.Authorization/policyExemptions`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Exemption {
    pub name: String,
    /// The scope it is created at: a management group, subscription, resource group or resource id; it
    /// covers that scope and everything below.
    pub scope: String,
    /// `Waiver` or `Mitigated`.
    pub category: String,
    /// The initiative's reference ids it exempts; empty means every policy of the assignment.
    pub reference_ids: Vec<String>,
}

/// A policy assignment: an initiative at a scope, with parameter values.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub name: String,
    /// The scope: `/subscriptions/{id}`, `/subscriptions/{id}/resourceGroups/{rg}`, or a management group.
    pub scope: String,
    /// Scopes below `scope` the assignment skips.
    pub not_scopes: Vec<String>,
    pub enforcement: Enforcement,
    /// The initiative's parameter values (`{name: value}`); unset ones take their defaults.
    pub parameters: Map<String, Value>,
    pub exemptions: Vec<Exemption>,
}

impl Assignment {
    /// An assignment of everything at `scope`, with default parameters and enforcement.
    pub fn at(scope: impl Into<String>) -> Assignment {
        Assignment {
            name: "trustprint".into(),
            scope: scope.into(),
            not_scopes: Vec::new(),
            enforcement: Enforcement::Default,
            parameters: Map::new(),
            exemptions: Vec::new(),
        }
    }

    /// Does the assignment cover this resource id (under `scope`, not under any of `not_scopes`)? A
    /// management group scope covers every subscription (the trust's subscriptions are assumed below it).
    pub fn covers(&self, resource_id: &str) -> bool {
        // Called for every policy and resource of a fleet: no allocation here.
        (is_management_group(&self.scope) || is_under(resource_id, &self.scope))
            && !self
                .not_scopes
                .iter()
                .any(|s| !is_management_group(s) && is_under(resource_id, s))
    }

    /// The exemption covering this policy reference on this resource, if any.
    pub fn exemption(&self, reference_id: &str, resource_id: &str) -> Option<&Exemption> {
        self.exemptions.iter().find(|e| {
            (e.reference_ids.is_empty()
                || e.reference_ids
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(reference_id)))
                && (is_management_group(&e.scope) || is_under(resource_id, &e.scope))
        })
    }
}

/// Is `scope` a management group (`/providers/Microsoft.Management/managementGroups/{name}`)?
pub fn is_management_group(scope: &str) -> bool {
    const MG: &str = "/providers/microsoft.management/managementgroups/";
    scope.len() > MG.len() && scope.as_bytes()[..MG.len()].eq_ignore_ascii_case(MG.as_bytes())
}

/// Is `id` the scope itself or below it? ARM ids compare case-insensitively, segment by segment.
pub fn is_under(id: &str, scope: &str) -> bool {
    let scope = scope.trim_end_matches('/');
    id.len() >= scope.len()
        && id.is_char_boundary(scope.len())
        && id[..scope.len()].eq_ignore_ascii_case(scope)
        && (id.len() == scope.len() || id.as_bytes()[scope.len()] == b'/')
}
