//! Our own models of what ARM returns. They are lenient where ARM (or a newer api-version, or the local
//! cloud) may say something the SDK's strict enums do not know: every enum has an `Other(String)` arm and
//! matches case-insensitively. Maps are `BTreeMap` so that serialising a model is deterministic.

use super::error::ErrorDetail;
use crate::protocol::lenient_enum;
pub use crate::protocol::ProvisioningState;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeMap;

lenient_enum! {
    /// Deployment mode.
    DeploymentMode {
        /// Add and update; leave other resources alone.
        Incremental,
        /// Also delete resources of the scope that the template does not declare.
        Complete,
    }
}

lenient_enum! {
    /// What a what-if says will happen to a resource.
    ChangeType {
        /// The resource will be created.
        Create,
        /// The resource will be deleted (Complete mode only).
        Delete,
        /// The resource exists but the template does not manage it.
        Ignore,
        /// The resource will be deployed; details unknown (`ResourceIdOnly`).
        Deploy,
        /// Deployed, and nothing changes.
        NoChange,
        /// Properties change.
        Modify,
        /// What-if cannot tell (see `unsupported_reason`).
        Unsupported,
    }
}

lenient_enum! {
    /// What a what-if says will happen to one property.
    PropertyChangeType {
        /// The property is added.
        Create,
        /// The property is removed.
        Delete,
        /// The value changes.
        Modify,
        /// An array changes; see the children.
        Array,
        /// The change has no effect (normalised by the provider).
        NoEffect,
    }
}

/// A subscription as `GET /subscriptions/{id}` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// `/subscriptions/{id}`.
    #[serde(default)]
    pub id: String,
    /// The subscription GUID.
    #[serde(default)]
    pub subscription_id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// `Enabled`, `Disabled`, `Warned`, ...
    #[serde(default)]
    pub state: String,
    /// The tenant it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// A resource group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceGroup {
    /// `/subscriptions/{s}/resourceGroups/{name}`.
    pub id: String,
    /// The name, in ARM's casing.
    pub name: String,
    /// The region.
    pub location: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// `Succeeded`, or `Deleting` while being deleted.
    pub provisioning_state: Option<ProvisioningState>,
    /// The resource managing this group, if any.
    pub managed_by: Option<String>,
}

impl<'de> Deserialize<'de> for ResourceGroup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Props {
            provisioning_state: Option<ProvisioningState>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            #[serde(default)]
            id: String,
            #[serde(default)]
            name: String,
            #[serde(default)]
            location: String,
            #[serde(default)]
            tags: Option<BTreeMap<String, String>>,
            properties: Option<Props>,
            managed_by: Option<String>,
        }
        let r = Raw::deserialize(d)?;
        Ok(ResourceGroup {
            id: r.id,
            name: r.name,
            location: r.location,
            tags: r.tags.unwrap_or_default(),
            provisioning_state: r.properties.and_then(|p| p.provisioning_state),
            managed_by: r.managed_by,
        })
    }
}

/// Where a deployment runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "camelCase")]
pub enum DeploymentScope {
    /// `/subscriptions/{s}/providers/Microsoft.Resources/deployments/{name}`.
    Subscription {
        /// Subscription id.
        subscription_id: String,
    },
    /// `/subscriptions/{s}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}`.
    ResourceGroup {
        /// Subscription id.
        subscription_id: String,
        /// Resource group name.
        resource_group: String,
    },
}

impl DeploymentScope {
    /// The scope's ARM path (no trailing slash).
    pub fn path(&self) -> String {
        match self {
            DeploymentScope::Subscription { subscription_id } => {
                format!("/subscriptions/{subscription_id}")
            }
            DeploymentScope::ResourceGroup {
                subscription_id,
                resource_group,
            } => format!("/subscriptions/{subscription_id}/resourcegroups/{resource_group}"),
        }
    }

    /// The path of deployment `name` at this scope.
    pub fn deployment_path(&self, name: &str) -> String {
        format!(
            "{}/providers/Microsoft.Resources/deployments/{name}",
            self.path()
        )
    }
}

/// What to deploy: the body of a deployment PUT, validate or what-if.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRequest {
    /// Where ARM stores the deployment's metadata: required at subscription scope, ignored at resource-group
    /// scope.
    pub location: Option<String>,
    /// Tags on the deployment record.
    pub tags: BTreeMap<String, String>,
    /// Incremental or Complete.
    pub mode: DeploymentMode,
    /// The ARM template.
    pub template: Value,
    /// Parameter values in ARM's form: `{"p": {"value": ...}}` or Key Vault references
    /// `{"p": {"reference": {"keyVault": {"id": ...}, "secretName": ...}}}`.
    pub parameters: serde_json::Map<String, Value>,
}

/// One output of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentOutput {
    /// ARM's type name (`String`, `Object`, ...), as ARM wrote it.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The value.
    #[serde(default)]
    pub value: Value,
}

/// A deployment as ARM reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    /// The deployment's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Metadata location (subscription scope).
    pub location: Option<String>,
    /// Accepted, Running, Succeeded, Failed, Canceled, ...
    pub provisioning_state: ProvisioningState,
    /// ARM's correlation id for every operation of this deployment.
    pub correlation_id: Option<String>,
    /// When ARM last updated it.
    pub timestamp: Option<String>,
    /// ISO 8601 duration.
    pub duration: Option<String>,
    /// Hash of the template ARM deployed.
    pub template_hash: Option<String>,
    /// Mode, as ARM reports it.
    pub mode: Option<DeploymentMode>,
    /// Outputs (when done).
    pub outputs: BTreeMap<String, DeploymentOutput>,
    /// Ids of the resources the deployment created or updated.
    pub output_resources: Vec<String>,
    /// The error tree of a failed deployment.
    pub error: Option<ErrorDetail>,
}

impl<'de> Deserialize<'de> for Deployment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct ResourceRef {
            #[serde(default)]
            id: String,
        }
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct Props {
            provisioning_state: Option<ProvisioningState>,
            correlation_id: Option<String>,
            timestamp: Option<String>,
            duration: Option<String>,
            template_hash: Option<String>,
            mode: Option<DeploymentMode>,
            outputs: Option<BTreeMap<String, DeploymentOutput>>,
            output_resources: Option<Vec<ResourceRef>>,
            error: Option<ErrorDetail>,
        }
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            id: String,
            #[serde(default)]
            name: String,
            location: Option<String>,
            #[serde(default)]
            properties: Option<Props>,
        }
        let r = Raw::deserialize(d)?;
        let p = r.properties.unwrap_or_default();
        Ok(Deployment {
            id: r.id,
            name: r.name,
            location: r.location,
            // No state at all means the operation is synchronous and done.
            provisioning_state: p.provisioning_state.unwrap_or(ProvisioningState::Succeeded),
            correlation_id: p.correlation_id,
            timestamp: p.timestamp,
            duration: p.duration,
            template_hash: p.template_hash,
            mode: p.mode,
            outputs: p.outputs.unwrap_or_default(),
            output_resources: p
                .output_resources
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.id)
                .collect(),
            error: p.error,
        })
    }
}

/// The resource a deployment operation acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetResource {
    /// Resource id.
    #[serde(default)]
    pub id: String,
    /// Resource type.
    #[serde(default)]
    pub resource_type: String,
    /// Resource name.
    #[serde(default)]
    pub resource_name: String,
}

/// One operation of a deployment (one resource create/update, or output evaluation).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentOperation {
    /// The operation's id.
    pub id: String,
    /// The operation id alone.
    pub operation_id: String,
    /// `Create`, `Delete`, `Read`, `Action`, `EvaluateDeploymentOutput`, ...
    pub provisioning_operation: String,
    /// Its state.
    pub provisioning_state: ProvisioningState,
    /// The HTTP status the provider answered with (`OK`, `Created`, `BadRequest`, ...).
    pub status_code: Option<String>,
    /// The provider's error, when the operation failed. A plain-string `statusMessage` becomes the message.
    pub error: Option<ErrorDetail>,
    /// The resource acted on.
    pub target_resource: Option<TargetResource>,
    /// When.
    pub timestamp: Option<String>,
}

impl<'de> Deserialize<'de> for DeploymentOperation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct Props {
            #[serde(default)]
            provisioning_operation: String,
            provisioning_state: Option<ProvisioningState>,
            status_code: Option<String>,
            status_message: Option<Value>,
            target_resource: Option<TargetResource>,
            timestamp: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            #[serde(default)]
            id: String,
            #[serde(default)]
            operation_id: String,
            properties: Option<Props>,
        }
        let r = Raw::deserialize(d)?;
        let p = r.properties.unwrap_or_default();
        let error = p.status_message.and_then(status_message_error);
        Ok(DeploymentOperation {
            id: r.id,
            operation_id: r.operation_id,
            provisioning_operation: p.provisioning_operation,
            provisioning_state: p.provisioning_state.unwrap_or(ProvisioningState::Succeeded),
            status_code: p.status_code,
            error,
            target_resource: p.target_resource,
            timestamp: p.timestamp,
        })
    }
}

/// `statusMessage` is `{"error": {...}}`, `{"status": "Failed", "error": {...}}`, a bare error, or a string.
fn status_message_error(v: Value) -> Option<ErrorDetail> {
    match v {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => ErrorDetail::from_body(s.as_bytes()).or(Some(ErrorDetail {
            message: s,
            ..ErrorDetail::default()
        })),
        Value::Object(ref m) => {
            if let Some(e) = m.get("error") {
                serde_json::from_value(e.clone()).ok()
            } else if m.contains_key("code") {
                serde_json::from_value(v).ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The outcome of `validate`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validation {
    /// `Succeeded` for a valid deployment.
    pub provisioning_state: ProvisioningState,
    /// Ids of the resources the template would deploy.
    pub validated_resources: Vec<String>,
}

impl<'de> Deserialize<'de> for Validation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct ResourceRef {
            #[serde(default)]
            id: String,
        }
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct Props {
            provisioning_state: Option<ProvisioningState>,
            validated_resources: Option<Vec<ResourceRef>>,
        }
        #[derive(Deserialize)]
        struct Raw {
            properties: Option<Props>,
        }
        let p = Raw::deserialize(d)?.properties.unwrap_or_default();
        Ok(Validation {
            provisioning_state: p.provisioning_state.unwrap_or(ProvisioningState::Succeeded),
            validated_resources: p
                .validated_resources
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.id)
                .collect(),
        })
    }
}

/// One property-level change of a what-if `Modify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyChange {
    /// Path of the property (`properties.sku.name`, `tags.owner`).
    #[serde(default)]
    pub path: String,
    /// Kind of change.
    pub property_change_type: PropertyChangeType,
    /// Value before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// Value after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// For arrays and nested objects: the changes inside.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<PropertyChange>,
}

/// One resource of a what-if result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WhatIfChange {
    /// The resource id.
    #[serde(default)]
    pub resource_id: String,
    /// What will happen.
    pub change_type: ChangeType,
    /// Why what-if cannot tell (`Unsupported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported_reason: Option<String>,
    /// The resource now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The resource after deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// Property-level changes (`Modify`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delta: Vec<PropertyChange>,
}

/// The result of a what-if.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIfResult {
    /// `Succeeded` (a failed what-if is an error, not a result).
    pub status: ProvisioningState,
    /// One entry per resource.
    pub changes: Vec<WhatIfChange>,
}

impl<'de> Deserialize<'de> for WhatIfResult {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize, Default)]
        struct Props {
            #[serde(default)]
            changes: Option<Vec<WhatIfChange>>,
        }
        #[derive(Deserialize)]
        struct Raw {
            status: Option<ProvisioningState>,
            properties: Option<Props>,
        }
        let r = Raw::deserialize(d)?;
        Ok(WhatIfResult {
            status: r.status.unwrap_or(ProvisioningState::Succeeded),
            changes: r.properties.unwrap_or_default().changes.unwrap_or_default(),
        })
    }
}

/// A page of a list (`{"value": [...], "nextLink": ...}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    pub next_link: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_states_are_kept_and_not_terminal() {
        let s: ProvisioningState = serde_json::from_value(json!("Provisioning")).unwrap();
        assert_eq!(s, ProvisioningState::Other("Provisioning".into()));
        assert!(!s.is_terminal());
        let s: ProvisioningState = serde_json::from_value(json!("succeeded")).unwrap();
        assert_eq!(s, ProvisioningState::Succeeded);
        assert!(s.is_terminal());
    }

    #[test]
    fn failed_deployment_reads_the_error_tree_outputs_and_resources() {
        let d: Deployment = serde_json::from_value(json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/deployments/d",
            "name": "d",
            "properties": {
                "provisioningState": "Failed",
                "correlationId": "c-1",
                "outputs": {"kv": {"type": "String", "value": "kv-rm3"}},
                "outputResources": [{"id": "/x/1"}],
                "error": {
                    "code": "DeploymentFailed",
                    "message": "At least one resource deployment operation failed.",
                    "details": [{"code": "ResourceDeploymentFailure", "message": "m", "target": "/x/2",
                                 "details": [{"code": "StorageAccountAlreadyTaken", "message": "taken"}]}]
                }
            }
        }))
        .unwrap();
        assert_eq!(d.provisioning_state, ProvisioningState::Failed);
        assert_eq!(d.correlation_id.as_deref(), Some("c-1"));
        assert_eq!(d.outputs["kv"].value, json!("kv-rm3"));
        assert_eq!(d.output_resources, vec!["/x/1".to_string()]);
        let e = d.error.unwrap();
        let roots: Vec<&str> = e.root_causes().iter().map(|e| e.code.as_str()).collect();
        assert_eq!(roots, vec!["StorageAccountAlreadyTaken"]);
    }

    #[test]
    fn operation_status_message_may_be_a_string_or_an_error() {
        let op: DeploymentOperation = serde_json::from_value(json!({
            "id": "/op/1", "operationId": "1",
            "properties": {"provisioningOperation": "Create", "provisioningState": "Failed",
                           "statusCode": "Conflict", "statusMessage": "name taken",
                           "targetResource": {"id": "/r", "resourceType": "T", "resourceName": "n"}}
        }))
        .unwrap();
        assert_eq!(op.error.unwrap().message, "name taken");
        let op: DeploymentOperation = serde_json::from_value(json!({
            "id": "/op/2", "operationId": "2",
            "properties": {"provisioningOperation": "Create", "provisioningState": "Failed",
                           "statusMessage": {"status": "Failed", "error": {"code": "BadRequest", "message": "no"}}}
        }))
        .unwrap();
        assert_eq!(op.error.unwrap().code, "BadRequest");
    }

    #[test]
    fn what_if_result_with_unknown_change_type() {
        let r: WhatIfResult = serde_json::from_value(json!({
            "status": "Succeeded",
            "properties": {"changes": [
                {"resourceId": "/a", "changeType": "Modify",
                 "delta": [{"path": "tags.x", "propertyChangeType": "Modify", "before": "1", "after": "2"}]},
                {"resourceId": "/b", "changeType": "Teleport"}
            ]},
            "error": null
        }))
        .unwrap();
        assert_eq!(r.changes[0].change_type, ChangeType::Modify);
        assert_eq!(r.changes[0].delta[0].after, Some(json!("2")));
        assert_eq!(
            r.changes[1].change_type,
            ChangeType::Other("Teleport".into())
        );
    }

    #[test]
    fn a_stack_what_if_reads_as_changes_deletes_and_detaches() {
        let w: StackWhatIf = serde_json::from_value(serde_json::json!({
            "id": "x", "properties": {"changes": {
                "resourceChanges": [
                    {"id": "/s/a", "changeType": "create", "resourceConfigurationChanges": {"after": {"name": "a"}}},
                    {"id": "/s/b", "changeType": "modify", "resourceConfigurationChanges": {
                        "delta": [{"path": "properties.x", "changeType": "modify", "before": 1, "after": 2}]}},
                    {"id": "/s/c", "changeType": "delete"},
                    {"id": "/s/d", "changeType": "detach"},
                    {"id": "/s/e", "changeType": "unsupported", "unsupportedReason": "why"}
                ],
                "denySettingsChange": {"delta": []}
            }}
        }))
        .unwrap();
        let kinds: Vec<ChangeType> = w.changes.iter().map(|c| c.change_type.clone()).collect();
        assert_eq!(
            kinds,
            [
                ChangeType::Create,
                ChangeType::Modify,
                ChangeType::Delete,
                ChangeType::Unsupported
            ]
        );
        assert_eq!(
            w.changes[1].delta[0].property_change_type,
            PropertyChangeType::Modify
        );
        assert_eq!(w.changes[3].unsupported_reason.as_deref(), Some("why"));
        assert_eq!(w.detach, ["/s/d"]);
        assert!(!w.deny_settings_change);
    }
}

// ---- deployment stacks ---------------------------------------------------------------------------------

/// What a stack PUT sends: a deployment request (template, parameters, location for a subscription stack)
/// and the stack's own settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StackRequest {
    /// Template, parameters, location and tags, as for a deployment (the mode is not sent: a stack always
    /// deploys incrementally and then acts on what it no longer manages).
    pub deployment: DeploymentRequest,
    /// Shown in the portal.
    pub description: String,
    /// Deny settings.
    pub deny_settings: DenySettings,
    /// What happens to resources and resource groups the template no longer declares.
    pub action_on_unmanage: ActionOnUnmanage,
    /// Update the stack even when Azure says its list of managed resources is out of sync
    /// (`bypassStackOutOfSyncError`): only when the user asks.
    pub bypass_out_of_sync: bool,
}

/// A stack's `denySettings`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DenySettings {
    /// `none`, `denyDelete` or `denyWriteAndDelete`.
    pub mode: crate::model::DenyMode,
    /// Object ids not denied.
    #[serde(default)]
    pub excluded_principals: Vec<String>,
    /// Operations not denied.
    #[serde(default)]
    pub excluded_actions: Vec<String>,
    /// Deny on the managed resources' child scopes too.
    #[serde(default)]
    pub apply_to_child_scopes: bool,
}

/// A stack's `actionOnUnmanage` (management groups are always detached: trustprint deploys none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionOnUnmanage {
    /// For resources.
    pub resources: crate::model::UnmanageAction,
    /// For resource groups.
    #[serde(default)]
    pub resource_groups: crate::model::UnmanageAction,
}

/// A resource a stack refers to (`resources`, `detachedResources`, `deletedResources`, `failedResources`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackResource {
    /// Its id.
    #[serde(default)]
    pub id: String,
    /// `managed`, `deleteFailed` or `none` (`resources` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `denyDelete`, `denyWriteAndDelete`, `none`, `notSupported`, `removedBySystem`, `inapplicable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_status: Option<String>,
    /// Why it failed (`failedResources` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// A deployment stack as `GET .../deploymentStacks/{name}` describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentStack {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `Succeeded`, `Failed`, `Canceled`, or in progress (`Deploying`, `Deleting`, ...).
    pub provisioning_state: ProvisioningState,
    /// The deny settings in force.
    pub deny_settings: Option<DenySettings>,
    /// What happens to unmanaged resources.
    pub action_on_unmanage: Option<ActionOnUnmanage>,
    /// The resources it manages.
    pub resources: Vec<StackResource>,
    /// Resources its last update stopped managing and left in place.
    pub detached_resources: Vec<StackResource>,
    /// Resources its last update deleted.
    pub deleted_resources: Vec<StackResource>,
    /// Resources its last update failed to deploy or delete.
    pub failed_resources: Vec<StackResource>,
    /// The underlying deployment's id.
    pub deployment_id: Option<String>,
    /// The template's outputs.
    pub outputs: BTreeMap<String, DeploymentOutput>,
    /// Why it failed.
    pub error: Option<ErrorDetail>,
}

impl<'de> Deserialize<'de> for DeploymentStack {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct Props {
            provisioning_state: Option<ProvisioningState>,
            deny_settings: Option<DenySettings>,
            action_on_unmanage: Option<Value>,
            resources: Vec<StackResource>,
            detached_resources: Vec<StackResource>,
            deleted_resources: Vec<StackResource>,
            failed_resources: Vec<StackResource>,
            deployment_id: Option<String>,
            outputs: Option<BTreeMap<String, DeploymentOutput>>,
            error: Option<Value>,
        }
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            id: String,
            #[serde(default)]
            name: String,
            #[serde(default)]
            properties: Option<Props>,
        }
        let r = Raw::deserialize(d)?;
        let p = r.properties.unwrap_or_default();
        // actionOnUnmanage values are lenient: an unknown word reads as detach, never as a failure to read.
        let action = p.action_on_unmanage.map(|a| {
            let word = |k: &str| match a.get(k).and_then(Value::as_str) {
                Some(s) if s.eq_ignore_ascii_case("delete") => crate::model::UnmanageAction::Delete,
                _ => crate::model::UnmanageAction::Detach,
            };
            ActionOnUnmanage {
                resources: word("resources"),
                resource_groups: word("resourceGroups"),
            }
        });
        // `error` is ARM's error tree, sometimes wrapped once more in `{"error": {...}}`.
        let error = p.error.and_then(|e| {
            let inner = e.get("error").cloned().unwrap_or(e);
            serde_json::from_value::<ErrorDetail>(inner).ok()
        });
        Ok(DeploymentStack {
            id: r.id,
            name: r.name,
            provisioning_state: p.provisioning_state.unwrap_or(ProvisioningState::Succeeded),
            deny_settings: p.deny_settings,
            action_on_unmanage: action,
            resources: p.resources,
            detached_resources: p.detached_resources,
            deleted_resources: p.deleted_resources,
            failed_resources: p.failed_resources,
            deployment_id: p.deployment_id,
            outputs: p.outputs.unwrap_or_default(),
            error,
        })
    }
}

/// One event of the activity log, as far as trustprint reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityEvent {
    /// When (RFC 3339).
    pub event_timestamp: String,
    /// Who: the caller's object id (or user principal name).
    pub caller: String,
    /// The operation (`Microsoft.RecoveryServices/vaults/delete`).
    pub operation: String,
    /// The resource the request was for.
    pub resource_id: String,
    /// `Succeeded`, `Failed`, ...
    pub status: String,
    /// `Forbidden`, ...
    pub sub_status: String,
    /// The error code of a failed request, when the event carries one
    /// (`DenyAssignmentAuthorizationFailed`).
    pub error_code: Option<String>,
}

impl<'de> Deserialize<'de> for ActivityEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let text = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        // The error is a JSON document inside a string (`properties.statusMessage`).
        let error_code = v
            .pointer("/properties/statusMessage")
            .and_then(Value::as_str)
            .and_then(|m| serde_json::from_str::<Value>(m).ok())
            .and_then(|m| {
                m.pointer("/error/code")
                    .or_else(|| m.pointer("/code"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        Ok(ActivityEvent {
            event_timestamp: text("/eventTimestamp"),
            caller: text("/caller"),
            operation: text("/operationName/value"),
            resource_id: text("/resourceId"),
            status: text("/status/value"),
            sub_status: text("/subStatus/value"),
            error_code,
        })
    }
}

/// A deployment stack what-if's answer (`POST .../deploymentStacksWhatIfResults/{name}/whatIf`, api-version
/// 2025-07-01): what updating the stack with a template would do to each resource, in a deployment what-if's
/// terms, and what it would stop managing and leave in place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackWhatIf {
    /// The template's resources (`Create`, `Modify`, `NoChange`, `Unsupported`) and those the stack would
    /// delete (`Delete`).
    pub changes: Vec<WhatIfChange>,
    /// Resources the stack manages today and would detach: left in place, unmanaged and unprotected.
    pub detach: Vec<String>,
    /// Whether its deny settings would change.
    pub deny_settings_change: bool,
}

impl<'de> Deserialize<'de> for StackWhatIf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The stack what-if's own shapes: change types and property change types are camel case
        // (`create`, `noChange`, `detach`), and a property change's kind is `changeType`.
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct Config {
            before: Option<Value>,
            after: Option<Value>,
            delta: Vec<Property>,
        }
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct Property {
            path: String,
            change_type: String,
            before: Option<Value>,
            after: Option<Value>,
            children: Vec<Property>,
        }
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct Change {
            id: String,
            change_type: String,
            unsupported_reason: Option<String>,
            resource_configuration_changes: Option<Config>,
        }
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct Changes {
            resource_changes: Vec<Change>,
            deny_settings_change: Option<Value>,
        }
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Props {
            changes: Changes,
        }
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Raw {
            properties: Props,
        }
        fn property(p: Property) -> PropertyChange {
            PropertyChange {
                path: p.path,
                property_change_type: PropertyChangeType::parse(&p.change_type),
                before: p.before,
                after: p.after,
                children: p.children.into_iter().map(property).collect(),
            }
        }
        let raw = Raw::deserialize(d)?;
        let mut changes = Vec::new();
        let mut detach = Vec::new();
        for c in raw.properties.changes.resource_changes {
            if c.change_type.eq_ignore_ascii_case("detach") {
                detach.push(c.id);
                continue;
            }
            let config = c.resource_configuration_changes.unwrap_or_default();
            changes.push(WhatIfChange {
                resource_id: c.id,
                change_type: ChangeType::parse(&c.change_type),
                unsupported_reason: c.unsupported_reason,
                before: config.before,
                after: config.after,
                delta: config.delta.into_iter().map(property).collect(),
            });
        }
        let deny_settings_change = raw
            .properties
            .changes
            .deny_settings_change
            .as_ref()
            .and_then(|d| d.get("delta"))
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        Ok(StackWhatIf {
            changes,
            detach,
            deny_settings_change,
        })
    }
}
