//! Resources at management group scope, as a management group deployment writes them: Azure Policy's
//! definitions, initiatives, assignments and exemptions (through [`crate::cloud::policy`], which checks them
//! as a direct PUT would), role definitions and assignments, and the other extension resources Microsoft lists
//! as deployable at a management group. The local cloud treats a management group id as given: the group's
//! hierarchy is not modelled here.

use crate::cloud::errors::ArmError;
use crate::cloud::AppState;
use serde_json::{json, Value};

/// The types a management group deployment can create at the group (Microsoft's "Management group
/// deployments with ARM templates", supported resources), besides nested deployments.
pub(crate) const TYPES: &[&str] = &[
    "Microsoft.Authorization/policyDefinitions",
    "Microsoft.Authorization/policySetDefinitions",
    "Microsoft.Authorization/policyAssignments",
    "Microsoft.Authorization/policyExemptions",
    "Microsoft.Authorization/roleDefinitions",
    "Microsoft.Authorization/roleAssignments",
    "Microsoft.Insights/diagnosticSettings",
    "Microsoft.Consumption/budgets",
    "Microsoft.PolicyInsights/remediations",
];

const POLICY_TYPES: &[&str] = &[
    "Microsoft.Authorization/policyDefinitions",
    "Microsoft.Authorization/policySetDefinitions",
    "Microsoft.Authorization/policyAssignments",
    "Microsoft.Authorization/policyExemptions",
];

/// Whether `id` is a resource under a management group (`/providers/Microsoft.Management/managementGroups/
/// {mg}/providers/...`).
pub(crate) fn is_under_management_group(id: &str) -> bool {
    let lower = id.to_ascii_lowercase();
    lower.starts_with("/providers/microsoft.management/managementgroups/")
        && lower.matches("/providers/").count() >= 2
}

/// The type ARM would accept at a management group, in its canonical casing; otherwise the refusal.
pub(crate) fn check_type(resource_type: &str, id: &str) -> Result<&'static str, ArmError> {
    TYPES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(resource_type))
        .copied()
        .ok_or_else(|| {
            ArmError::bad_request(
                "InvalidResourceType",
                format!(
                    "The resource '{id}' of type '{resource_type}' cannot be deployed at management group scope. A management group deployment creates {} at the group; deploy other resources through a nested deployment to a subscription or resource group (subscriptionId, resourceGroup).",
                    TYPES.join(", ")
                ),
            )
        })
}

/// Store `body` as the resource `id` under its management group; true when it is new.
pub(crate) fn write(
    st: &AppState,
    id: &str,
    resource_type: &str,
    body: &Value,
) -> Result<bool, ArmError> {
    let ty = check_type(resource_type, id)?;
    if POLICY_TYPES.contains(&ty) {
        return crate::cloud::policy::put_scoped(st, id, ty, body).map(|(_, created)| created);
    }
    let name = id.rsplit('/').next().unwrap_or_default();
    crate::cloud::names::check_resource(ty, name)?;
    let mut stored = json!({
        "id": id,
        "name": name,
        "type": ty,
        "properties": body.get("properties").cloned().unwrap_or_else(|| json!({})),
    });
    for k in ["location", "tags", "identity", "sku", "kind"] {
        if let Some(v) = body.get(k) {
            stored[k] = v.clone();
        }
    }
    st.store.put_scoped(id, scope_of(id), ty, &stored)
}

/// A management group resource's stored body.
pub(crate) fn read(st: &AppState, id: &str) -> Result<Option<Value>, ArmError> {
    st.store.get_scoped(id)
}

/// Delete a management group resource; a resource already gone is not an error.
pub(crate) fn delete(st: &AppState, id: &str) -> Result<(), ArmError> {
    st.store.delete_scoped(id).map(|_| ())
}

/// The scope an extension resource hangs under: its id before the last `/providers/`.
fn scope_of(id: &str) -> &str {
    let lower = id.to_ascii_lowercase();
    lower.rfind("/providers/").map_or("", |at| &id[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_resources_under_a_management_group_count_as_such() {
        assert!(is_under_management_group(
            "/providers/Microsoft.Management/managementGroups/mg1/providers/Microsoft.Authorization/policyAssignments/a"
        ));
        assert!(!is_under_management_group(
            "/providers/Microsoft.Management/managementGroups/mg1"
        ));
        assert!(!is_under_management_group(
            "/subscriptions/s/providers/Microsoft.Authorization/policyAssignments/a"
        ));
    }

    #[test]
    fn a_type_not_deployable_at_a_management_group_is_refused_by_name() {
        assert_eq!(
            check_type("microsoft.authorization/ROLEASSIGNMENTS", "x").unwrap(),
            "Microsoft.Authorization/roleAssignments"
        );
        let e = check_type("Microsoft.Storage/storageAccounts", "/providers/x").unwrap_err();
        assert_eq!(e.code, "InvalidResourceType");
        assert!(
            e.message.contains(
                "'Microsoft.Storage/storageAccounts' cannot be deployed at management group scope"
            ),
            "{}",
            e.message
        );
        assert_eq!(
            scope_of("/providers/Microsoft.Management/managementGroups/mg/providers/Microsoft.Authorization/roleAssignments/r"),
            "/providers/Microsoft.Management/managementGroups/mg"
        );
    }
}
