//! Deployments made as Azure Deployment Stacks: a manifest deployment with `stack:` settings is deployed,
//! planned and destroyed through a stack of its own, which owns the resources its template declares, protects
//! them with a deny assignment and deletes or detaches what a new template no longer declares.
//!
//! Contract: a rendered deployment with [`crate::model::StackSettings`] has one stack, named
//! [`stack_name`], at the deployment's scope. [`unmanaged`] says what updating it would stop managing (the
//! stack's current resources that the template's what-if no longer lists), each to be deleted or detached as
//! the settings say; [`request`] builds the stack PUT with the deploying identity among the excluded
//! principals when the manifest says `deployer` ([`deployer_object_id`]).

use super::{Connection, DeployError};
use crate::arm::{
    ActionOnUnmanage, ChangeType, DenySettings, DeploymentStack, StackRequest, WhatIfChange,
};
use crate::model::{RenderedDeployment, StackSettings, UnmanageAction};

/// The stack of a rendered deployment: `trustprint-<name>`. Unlike a deployment's, a stack's name does not
/// change with its content: a stack is updated in place, and it is the stack that remembers what it manages.
pub fn stack_name(d: &RenderedDeployment) -> String {
    format!("trustprint-{}", d.name)
}

/// The object id of the identity `conn` acts as: the `oid` of its token when that is a JWT (Entra ID), or
/// the local cloud's object id of its client id. `None` when neither tells.
pub async fn deployer_object_id(conn: &Connection) -> Result<Option<String>, DeployError> {
    let from_token = conn
        .client
        .caller_object_id()
        .await
        .map_err(DeployError::arm(
            "reading the deploying identity's object id",
        ))?;
    Ok(from_token.or_else(|| {
        (conn.target.kind == super::TargetKind::Local)
            .then(|| conn.client_id.as_deref().map(crate::cloud::object_id))
            .flatten()
    }))
}

/// [`deployer_object_id`], asked only when some stack of `rendered` excludes the deploying identity.
pub async fn deployer_if_excluded(
    conn: &Connection,
    rendered: &crate::model::Rendered,
) -> Result<Option<String>, DeployError> {
    let needed = rendered
        .deployments
        .iter()
        .any(|d| d.stack.as_ref().is_some_and(|s| s.exclude_deployer));
    if needed {
        deployer_object_id(conn).await
    } else {
        Ok(None)
    }
}

/// Whether the resource group of a resource-group-scope deployment exists (`true` at other scopes, which have
/// none to create); `verb` names the command in the error.
pub async fn group_exists(
    conn: &Connection,
    d: &RenderedDeployment,
    verb: &str,
) -> Result<bool, DeployError> {
    match &d.resource_group {
        Some(rg) if d.scope == crate::model::Scope::ResourceGroup => conn
            .client
            .resource_group_exists(&conn.target.subscription_id, rg)
            .await
            .map_err(DeployError::arm(format!(
                "{verb} {}: reading resource group {rg}",
                d.name
            ))),
        _ => Ok(true),
    }
}

/// The deny settings a stack is given: the manifest's, with the deploying identity's object id among the
/// excluded principals when they name `deployer`.
pub fn deny_settings(
    d: &RenderedDeployment,
    settings: &StackSettings,
    deployer: Option<&str>,
) -> Result<DenySettings, DeployError> {
    let mut excluded = settings.excluded_principals.clone();
    if settings.exclude_deployer {
        let Some(id) = deployer else {
            return Err(DeployError::Target {
                message: format!(
                    "deployment '{}': its stack excludes the deploying identity (`deployer`), whose object id \
                     cannot be told from the credential; deploy as a service principal or workload identity",
                    d.name
                ),
            });
        };
        let id = id.to_ascii_lowercase();
        if !excluded.contains(&id) {
            excluded.push(id);
        }
    }
    Ok(DenySettings {
        mode: settings.deny_mode,
        excluded_principals: excluded,
        excluded_actions: settings.excluded_actions.clone(),
        apply_to_child_scopes: settings.apply_to_child_scopes,
    })
}

/// The unmanage actions of the settings.
pub fn action_on_unmanage(settings: &StackSettings) -> ActionOnUnmanage {
    ActionOnUnmanage {
        resources: settings.unmanage_resources,
        resource_groups: settings.unmanage_resource_groups,
    }
}

/// The stack PUT of `d` (`bypass_out_of_sync` only when the user asks: `--bypass-stack-out-of-sync`).
pub fn request(
    d: &RenderedDeployment,
    settings: &StackSettings,
    deployment: crate::arm::DeploymentRequest,
    deployer: Option<&str>,
    bypass_out_of_sync: bool,
) -> Result<StackRequest, DeployError> {
    Ok(StackRequest {
        deployment,
        description: format!("trustprint: deployment {} of the blueprint", d.name),
        deny_settings: deny_settings(d, settings, deployer)?,
        action_on_unmanage: action_on_unmanage(settings),
        bypass_out_of_sync,
    })
}

/// ARM's code for a stack update or delete refused because the stack's list of managed resources may be
/// out of sync.
pub const OUT_OF_SYNC: &str = "DeploymentStackOutOfSync";

/// What to tell the user when Azure refuses to update or delete stack `name` of deployment `deployment`
/// as out of sync.
pub fn out_of_sync_message(deployment: &str, name: &str, command: &str) -> String {
    format!(
        "deployment '{deployment}': Azure refused to {command} stack {name}: its list of managed resources \
         may be out of sync (another deployment or stack changed or deleted resources it manages since its \
         last update, or its last operation was interrupted), and this {command} would delete resources. \
         Check what the stack lists (`az stack group show` / `az stack sub show`, or the portal); if every \
         resource it would delete is the blueprint's to delete, run the {command} again with \
         --bypass-stack-out-of-sync; otherwise redeploy the stack with its current version first"
    )
}

/// Whether the stack's deny settings or unmanage actions differ from those wanted (an update is then due
/// even when no resource changes).
pub fn settings_differ(
    stack: &DeploymentStack,
    deny: &DenySettings,
    action: ActionOnUnmanage,
) -> bool {
    let sorted = |v: &[String]| {
        let mut v: Vec<String> = v.iter().map(|s| s.to_ascii_lowercase()).collect();
        v.sort();
        v
    };
    let deny_differs = match &stack.deny_settings {
        None => deny.mode != crate::model::DenyMode::None,
        Some(now) => {
            now.mode != deny.mode
                || sorted(&now.excluded_principals) != sorted(&deny.excluded_principals)
                || now.apply_to_child_scopes != deny.apply_to_child_scopes
                // Azure appends `*/read` and `Microsoft.Authorization/locks/delete` itself.
                || !deny
                    .excluded_actions
                    .iter()
                    .all(|a| now.excluded_actions.iter().any(|n| n.eq_ignore_ascii_case(a)))
        }
    };
    deny_differs || stack.action_on_unmanage.is_some_and(|a| a != action)
}

/// What updating `stack` with a template whose what-if is `changes` stops managing: resources to delete (as
/// what-if `Delete` changes) and resources to detach (their ids), by the settings' unmanage actions.
/// Declared means listed by the what-if as anything but `Ignore` or `Delete`.
pub fn unmanaged(
    stack: &DeploymentStack,
    changes: &[WhatIfChange],
    settings: &StackSettings,
) -> (Vec<WhatIfChange>, Vec<String>) {
    let declared: std::collections::HashSet<String> = changes
        .iter()
        .filter(|c| !matches!(c.change_type, ChangeType::Ignore | ChangeType::Delete))
        .map(|c| c.resource_id.to_ascii_lowercase())
        .collect();
    let mut delete = Vec::new();
    let mut detach = Vec::new();
    for r in &stack.resources {
        if declared.contains(&r.id.to_ascii_lowercase()) {
            continue;
        }
        let is_group = super::plan::resource_type(&r.id) == "Microsoft.Resources/resourceGroups";
        let action = if is_group {
            settings.unmanage_resource_groups
        } else {
            settings.unmanage_resources
        };
        match action {
            UnmanageAction::Delete => delete.push(WhatIfChange {
                resource_id: r.id.clone(),
                change_type: ChangeType::Delete,
                unsupported_reason: None,
                before: None,
                after: None,
                delta: Vec::new(),
            }),
            UnmanageAction::Detach => detach.push(r.id.clone()),
        }
    }
    (delete, detach)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VNET: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v";
    const VAULT: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/rsv";
    const ALERT: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Insights/metricAlerts/a";
    const GROUP: &str = "/subscriptions/s/resourceGroups/rg-old";

    fn stack() -> DeploymentStack {
        serde_json::from_value(json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/deploymentStacks/trustprint-x",
            "name": "trustprint-x",
            "properties": {
                "provisioningState": "succeeded",
                "denySettings": {"mode": "denyDelete", "excludedPrincipals": ["A"], "excludedActions": ["*/read"], "applyToChildScopes": false},
                "actionOnUnmanage": {"resources": "delete", "resourceGroups": "detach", "managementGroups": "detach"},
                "resources": [
                    {"id": VNET, "status": "managed", "denyStatus": "denyDelete"},
                    {"id": VAULT.to_uppercase(), "status": "managed", "denyStatus": "denyDelete"},
                    {"id": ALERT, "status": "managed", "denyStatus": "denyDelete"},
                    {"id": GROUP, "status": "managed", "denyStatus": "denyDelete"}
                ]
            }
        }))
        .unwrap()
    }

    fn settings(resources: UnmanageAction) -> StackSettings {
        StackSettings {
            deny_mode: crate::model::DenyMode::DenyDelete,
            excluded_principals: vec!["a".into()],
            exclude_deployer: false,
            excluded_actions: vec![],
            apply_to_child_scopes: false,
            unmanage_resources: resources,
            unmanage_resource_groups: UnmanageAction::Detach,
        }
    }

    fn change(id: &str, t: ChangeType) -> WhatIfChange {
        WhatIfChange {
            resource_id: id.into(),
            change_type: t,
            unsupported_reason: None,
            before: None,
            after: None,
            delta: Vec::new(),
        }
    }

    #[test]
    fn what_the_template_drops_is_deleted_or_detached_as_the_settings_say() {
        // The new template keeps the vault (in another casing) and drops the alert and the group; the vnet
        // is still there but no longer declared (what-if says Ignore).
        let changes = vec![
            change(VAULT, ChangeType::NoChange),
            change(VNET, ChangeType::Ignore),
        ];
        let (delete, detach) = unmanaged(&stack(), &changes, &settings(UnmanageAction::Delete));
        let ids: Vec<&str> = delete.iter().map(|c| c.resource_id.as_str()).collect();
        assert_eq!(ids, [VNET, ALERT]);
        assert!(delete.iter().all(|c| c.change_type == ChangeType::Delete));
        assert_eq!(detach, [GROUP]);
        let (delete, detach) = unmanaged(&stack(), &changes, &settings(UnmanageAction::Detach));
        assert!(delete.is_empty());
        assert_eq!(detach, [VNET, ALERT, GROUP]);
    }

    #[test]
    fn a_new_deployer_or_mode_is_a_settings_change_and_the_same_settings_are_not() {
        let s = stack();
        let action = ActionOnUnmanage {
            resources: UnmanageAction::Delete,
            resource_groups: UnmanageAction::Detach,
        };
        let d = crate::model::RenderedDeployment {
            name: "x".into(),
            scope: crate::model::Scope::ResourceGroup,
            resource_group: Some("rg".into()),
            location: "uksouth".into(),
            template_path: "x".into(),
            template: json!({}),
            parameters: json!({}),
            secret_env: Default::default(),
            depends_on: vec![],
            hash: "sha256:00".into(),
            stack: None,
        };
        let same = deny_settings(&d, &settings(UnmanageAction::Delete), None).unwrap();
        assert!(!settings_differ(&s, &same, action));
        let mut with_deployer = settings(UnmanageAction::Delete);
        with_deployer.exclude_deployer = true;
        let more = deny_settings(&d, &with_deployer, Some("B")).unwrap();
        assert_eq!(more.excluded_principals, ["a", "b"]);
        assert!(settings_differ(&s, &more, action));
        assert_eq!(
            deny_settings(&d, &with_deployer, None).unwrap_err().to_string(),
            "target: deployment 'x': its stack excludes the deploying identity (`deployer`), whose object id \
             cannot be told from the credential; deploy as a service principal or workload identity"
        );
        assert!(settings_differ(
            &s,
            &same,
            ActionOnUnmanage {
                resources: UnmanageAction::Detach,
                resource_groups: UnmanageAction::Detach
            }
        ));
    }
}
