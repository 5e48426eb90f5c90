//! A stack's request: its body read and checked (`actionOnUnmanage`, `denySettings`, Azure's limits on them,
//! the template and parameters) and the scope its deployment runs at.

use super::{catalog, deny, deploy, http, AppState, ArmError, DenyMode, DenySettings, Scope, TYPE};
use serde_json::{json, Value};

/// `delete` or `detach`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Detach,
    Delete,
}

impl Action {
    pub(super) fn parse(s: &str) -> Option<Action> {
        match s.to_ascii_lowercase().as_str() {
            "detach" => Some(Action::Detach),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Action::Detach => "detach",
            Action::Delete => "delete",
        }
    }
}

/// `actionOnUnmanage`: what becomes of resources, resource groups and management groups a stack stops
/// managing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OnUnmanage {
    pub(super) resources: Action,
    pub(super) resource_groups: Action,
    pub(super) management_groups: Action,
    /// 2025-07-01: `detach` or `fail` for resources that cannot be deleted (`None`: not given).
    pub(super) without_delete_support: Option<&'static str>,
}

impl OnUnmanage {
    pub(super) fn to_value(self) -> Value {
        let mut v = json!({
            "resources": self.resources.as_str(),
            "resourceGroups": self.resource_groups.as_str(),
            "managementGroups": self.management_groups.as_str(),
        });
        if let Some(w) = self.without_delete_support {
            v["resourcesWithoutDeleteSupport"] = json!(w);
        }
        v
    }

    pub(super) fn for_id(self, id: &str) -> Action {
        match kind_of(id) {
            Kind::ResourceGroup => self.resource_groups,
            Kind::ManagementGroup => self.management_groups,
            Kind::Resource => self.resources,
        }
    }
}

pub(super) enum Kind {
    Resource,
    ResourceGroup,
    ManagementGroup,
}

pub(super) fn kind_of(id: &str) -> Kind {
    let segs: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    if segs.len() == 4
        && segs[0].eq_ignore_ascii_case("subscriptions")
        && segs[2].eq_ignore_ascii_case("resourcegroups")
    {
        Kind::ResourceGroup
    } else if segs.len() == 4
        && segs[1].eq_ignore_ascii_case("microsoft.management")
        && segs[2].eq_ignore_ascii_case("managementgroups")
    {
        Kind::ManagementGroup
    } else {
        Kind::Resource
    }
}

/// A stack's PUT (or validate) body, checked.
pub(super) struct StackRequest {
    pub(super) location: Option<String>,
    pub(super) tags: Option<Value>,
    pub(super) description: Option<String>,
    pub(super) on_unmanage: OnUnmanage,
    pub(super) deny: DenySettings,
    pub(super) template: Value,
    pub(super) parameters: Value,
    pub(super) bypass_out_of_sync: bool,
    pub(super) deployment_scope: Option<String>,
    pub(super) validation_level: Option<&'static str>,
}

pub(super) fn without_delete_support(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "detach" => Some("detach"),
        "fail" => Some("fail"),
        _ => None,
    }
}

pub(super) fn invalid_content(message: &str) -> ArmError {
    ArmError::bad_request(
        "InvalidRequestContent",
        format!("The request content was invalid and could not be deserialized: '{message}'."),
    )
}

pub(super) fn invalid_definition(name: &str, message: &str) -> ArmError {
    ArmError::bad_request(
        "DeploymentStackInvalidDeploymentStackDefinition",
        format!("The deployment stack '{name}' is invalid: {message}"),
    )
}

pub(super) fn strings(v: &Value, field: &str) -> Result<Vec<String>, ArmError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    invalid_content(&format!("'{field}' must be an array of strings"))
                })
            })
            .collect(),
        _ => Err(invalid_content(&format!(
            "'{field}' must be an array of strings"
        ))),
    }
}

pub(super) fn parse_request(
    body: &Value,
    scope: &Scope,
    name: &str,
) -> Result<StackRequest, ArmError> {
    let props = body
        .get("properties")
        .filter(|p| p.is_object())
        .ok_or_else(|| invalid_content("Required property 'properties' not found in JSON"))?;
    let aou = props
        .get("actionOnUnmanage")
        .filter(|a| a.is_object())
        .ok_or_else(|| invalid_content("Required property 'actionOnUnmanage' not found in JSON"))?;
    let action = |key: &str, required: bool| -> Result<Action, ArmError> {
        match aou.get(key).and_then(Value::as_str) {
            Some(s) => Action::parse(s).ok_or_else(|| {
                invalid_content(&format!(
                    "Error converting value \"{s}\" to type 'DeploymentStacksDeleteDetachEnum' (actionOnUnmanage.{key}: expected 'delete' or 'detach')"
                ))
            }),
            None if required => Err(invalid_content(&format!(
                "Required property '{key}' not found in JSON (actionOnUnmanage)"
            ))),
            None => Ok(Action::Detach),
        }
    };
    let on_unmanage = OnUnmanage {
        resources: action("resources", true)?,
        resource_groups: action("resourceGroups", false)?,
        management_groups: action("managementGroups", false)?,
        without_delete_support: match aou.get("resourcesWithoutDeleteSupport").and_then(Value::as_str) {
            None => None,
            Some(w) => Some(without_delete_support(w).ok_or_else(|| {
                invalid_content(&format!(
                    "Error converting value \"{w}\" to type 'ResourcesWithoutDeleteSupportAction' (actionOnUnmanage.resourcesWithoutDeleteSupport: expected 'detach' or 'fail')"
                ))
            })?),
        },
    };
    let ds = props
        .get("denySettings")
        .filter(|d| d.is_object())
        .ok_or_else(|| invalid_content("Required property 'denySettings' not found in JSON"))?;
    let mode_text = ds["mode"].as_str().ok_or_else(|| {
        invalid_content("Required property 'mode' not found in JSON (denySettings)")
    })?;
    let mode = DenyMode::parse(mode_text).ok_or_else(|| {
        invalid_content(&format!(
            "Error converting value \"{mode_text}\" to type 'DenySettingsMode' (denySettings.mode: expected 'none', 'denyDelete' or 'denyWriteAndDelete')"
        ))
    })?;
    let deny = DenySettings {
        mode,
        excluded_principals: strings(&ds["excludedPrincipals"], "denySettings.excludedPrincipals")?,
        excluded_actions: strings(&ds["excludedActions"], "denySettings.excludedActions")?,
        apply_to_child_scopes: ds["applyToChildScopes"].as_bool().unwrap_or(false),
    };
    if deny.excluded_principals.len() > deny::MAX_EXCLUDED_PRINCIPALS {
        return Err(invalid_definition(
            name,
            &format!(
                "denySettings.excludedPrincipals holds {} principals; at most {} are permitted.",
                deny.excluded_principals.len(),
                deny::MAX_EXCLUDED_PRINCIPALS
            ),
        ));
    }
    if deny.excluded_actions.len() > deny::MAX_EXCLUDED_ACTIONS {
        return Err(invalid_definition(
            name,
            &format!(
                "denySettings.excludedActions holds {} actions; at most {} are permitted.",
                deny.excluded_actions.len(),
                deny::MAX_EXCLUDED_ACTIONS
            ),
        ));
    }
    if let Some(link) = props.get("templateLink") {
        return Err(ArmError::bad_request(
            "InvalidContentLink",
            format!(
                "The local cloud does not fetch linked templates or template specs (templateLink '{}'): send the template inline.",
                link["uri"].as_str().or(link["id"].as_str()).unwrap_or("")
            ),
        ));
    }
    if props.get("parametersLink").is_some() {
        return Err(ArmError::bad_request(
            "InvalidContentLink",
            "The local cloud does not fetch linked parameters (parametersLink): send the parameters inline.",
        ));
    }
    // The template may come as an object or as JSON text.
    let template = match props.get("template") {
        Some(Value::String(text)) => serde_json::from_str(text)
            .map_err(|e| invalid_content(&format!("'template' is not valid JSON: {e}")))?,
        Some(t @ Value::Object(_)) => t.clone(),
        _ => {
            return Err(invalid_content(
                "Required property 'template' not found in JSON",
            ))
        }
    };
    let description = props["description"].as_str().map(str::to_string);
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 4096)
    {
        return Err(invalid_definition(
            name,
            "the description is longer than 4096 characters.",
        ));
    }
    let location = body["location"].as_str().map(catalog::normalize_location);
    if let Some(l) = &location {
        if !catalog::is_region(l) {
            return Err(ArmError::bad_request(
                "LocationNotAvailableForResourceType",
                format!("The provided location '{l}' is not available for resource type '{TYPE}'."),
            ));
        }
    }
    if !matches!(scope, Scope::ResourceGroup { .. }) && location.is_none() {
        return Err(ArmError::bad_request(
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    }
    let deployment_scope = props["deploymentScope"].as_str().map(str::to_string);
    let validation_level = match props["validationLevel"].as_str() {
        None => None,
        Some(v) => Some(
            ["Template", "Provider", "ProviderNoRbac"]
                .into_iter()
                .find(|l| l.eq_ignore_ascii_case(v))
                .ok_or_else(|| {
                    invalid_content(&format!(
                        "Error converting value \"{v}\" to type 'ValidationLevel' (validationLevel: expected 'Template', 'Provider' or 'ProviderNoRbac')"
                    ))
                })?,
        ),
    };
    Ok(StackRequest {
        location,
        tags: body.get("tags").filter(|t| t.is_object()).cloned(),
        description,
        on_unmanage,
        deny,
        template,
        parameters: props.get("parameters").cloned().unwrap_or(Value::Null),
        bypass_out_of_sync: props["bypassStackOutOfSyncError"]
            .as_bool()
            .unwrap_or(false),
        deployment_scope,
        validation_level,
    })
}

/// Where a stack's deployment runs, and the scope its deny assignments cover.
pub(super) struct Target {
    pub(super) at: Scope,
    pub(super) deny_scope: Option<String>,
}

pub(super) fn target(
    st: &AppState,
    scope: &Scope,
    sr: &StackRequest,
    name: &str,
) -> Result<Target, ArmError> {
    let outside = || {
        invalid_definition(
            name,
            &format!(
                "deploymentScope '{}' is not the stack's own scope or a scope under it.",
                sr.deployment_scope.as_deref().unwrap_or("")
            ),
        )
    };
    let given = match sr.deployment_scope.as_deref() {
        None => None,
        Some(d) => Some(deploy::Scope::of_deployment(&format!("{}/providers/", d.trim_end_matches('/'))).ok_or_else(|| {
            invalid_definition(
                name,
                &format!(
                    "deploymentScope '{d}' is not a management group, subscription or resource group id."
                ),
            )
        })?),
    };
    let same = |a: &Scope, b: &Scope| a.id().eq_ignore_ascii_case(&b.id());
    let t = match (scope, given) {
        (own, None) => Target {
            at: own.clone(),
            deny_scope: match own {
                Scope::ManagementGroup { .. } => None,
                _ => Some(own.id()),
            },
        },
        (own, Some(g)) if same(own, &g) => Target {
            at: own.clone(),
            deny_scope: match own {
                Scope::ManagementGroup { .. } => None,
                _ => Some(own.id()),
            },
        },
        (Scope::Subscription { sub }, Some(Scope::ResourceGroup { sub: s, rg }))
            if s.eq_ignore_ascii_case(sub) =>
        {
            Target {
                at: Scope::ResourceGroup {
                    sub: sub.clone(),
                    rg: http::existing_rg(st, sub, &rg)?,
                },
                deny_scope: Some(scope.id()),
            }
        }
        // A management group stack may deploy to a subscription (or a group in it); the local cloud takes the
        // management group's subscriptions as given.
        (
            Scope::ManagementGroup { .. },
            Some(g @ (Scope::Subscription { .. } | Scope::ResourceGroup { .. })),
        ) => {
            let sub = http::ensure_subscription(st, g.sub().unwrap_or_default())?;
            let at = match g.rg() {
                Some(r) => Scope::ResourceGroup {
                    rg: http::existing_rg(st, &sub, r)?,
                    sub: sub.clone(),
                },
                None => Scope::Subscription { sub: sub.clone() },
            };
            Target {
                at,
                deny_scope: Some(format!("/subscriptions/{sub}")),
            }
        }
        _ => return Err(outside()),
    };
    // Azure: deny assignments are not supported at management group scope, only when a management group
    // stack deploys to a subscription.
    if let Scope::ManagementGroup { mg } = &t.at {
        if sr.deny.mode != DenyMode::None {
            return Err(invalid_definition(
                name,
                &format!("deny assignments are not supported at the management group scope ('{mg}'): set denySettings.mode to 'none', or set deploymentScope to a subscription under the management group."),
            ));
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rg() -> Scope {
        Scope::ResourceGroup {
            sub: "s".into(),
            rg: "rg".into(),
        }
    }

    fn body(aou: Value, deny: Value) -> Value {
        json!({"properties": {"template": {"resources": []}, "actionOnUnmanage": aou, "denySettings": deny}})
    }

    #[test]
    fn a_stack_body_is_read_with_azures_defaults_and_a_bad_one_names_its_field() {
        let sr = parse_request(
            &body(
                json!({"resources": "delete"}),
                json!({"mode": "denyDelete"}),
            ),
            &rg(),
            "x",
        )
        .unwrap();
        assert_eq!(sr.on_unmanage.resources, Action::Delete);
        assert_eq!(sr.on_unmanage.resource_groups, Action::Detach);
        assert_eq!(sr.deny.mode, DenyMode::DenyDelete);
        assert!(!sr.deny.apply_to_child_scopes);
        // The template may be JSON text.
        let mut text = body(json!({"resources": "detach"}), json!({"mode": "none"}));
        text["properties"]["template"] = json!("{\"resources\": []}");
        assert!(parse_request(&text, &rg(), "x").is_ok());
        let e = parse_request(
            &body(json!({"resources": "remove"}), json!({"mode": "none"})),
            &rg(),
            "x",
        )
        .err()
        .unwrap();
        assert!(
            e.message.contains("actionOnUnmanage.resources"),
            "{}",
            e.message
        );
        let e = parse_request(
            &body(json!({"resources": "detach"}), json!({"mode": "lock"})),
            &rg(),
            "x",
        )
        .err()
        .unwrap();
        assert!(e.message.contains("denySettings.mode"), "{}", e.message);
        let e = parse_request(
            &body(json!({"resources": "detach"}), json!({"mode": "none"})),
            &Scope::Subscription { sub: "s".into() },
            "x",
        )
        .err()
        .unwrap();
        assert_eq!(e.code, "LocationRequired");
        let mut linked = body(json!({"resources": "detach"}), json!({"mode": "none"}));
        linked["properties"]["templateLink"] = json!({"uri": "https://example.com/t.json"});
        assert_eq!(
            parse_request(&linked, &rg(), "x").err().unwrap().code,
            "InvalidContentLink"
        );
    }

    #[test]
    fn ids_are_told_apart_as_resources_groups_and_management_groups() {
        assert!(matches!(
            kind_of("/subscriptions/s/resourceGroups/rg"),
            Kind::ResourceGroup
        ));
        assert!(matches!(
            kind_of("/providers/Microsoft.Management/managementGroups/mg"),
            Kind::ManagementGroup
        ));
        assert!(matches!(
            kind_of(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a"
            ),
            Kind::Resource
        ));
    }
}
