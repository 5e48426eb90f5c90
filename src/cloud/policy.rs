//! Policy: the built-in "Allowed locations" definition (e56962a6-4747-49cd-b67b-bf8b01975c4c), enforced as
//! Azure enforces it (mode Indexed: resources with a location other than `global`; resource groups are not
//! evaluated). Assignments are ordinary resources of type `Microsoft.Authorization/policyAssignments`; a write
//! inside an assignment's scope (and outside its `notScopes`) whose location is not listed is refused with
//! 403 `RequestDisallowedByPolicy` and a `PolicyViolation` in `additionalInfo`. Other policy definitions are
//! stored but not evaluated.

use super::catalog::normalize_location;
use super::errors::ArmError;
use axum::http::StatusCode;
use serde_json::{json, Value};

/// The built-in "Allowed locations" policy definition id.
pub const ALLOWED_LOCATIONS: &str =
    "/providers/Microsoft.Authorization/policyDefinitions/e56962a6-4747-49cd-b67b-bf8b01975c4c";

/// The scope of an assignment: its id up to `/providers/Microsoft.Authorization/policyAssignments/`.
fn assignment_scope(id: &str) -> Option<&str> {
    let lower = id.to_lowercase();
    let at = lower.rfind("/providers/microsoft.authorization/policyassignments/")?;
    Some(&id[..at])
}

fn within(target: &str, scope: &str) -> bool {
    let (t, s) = (target.to_lowercase(), scope.to_lowercase());
    t == s || t.starts_with(&format!("{s}/"))
}

/// Check a write of `resource_id` (type `resource_type`) at `location` against the given assignments.
pub fn check_write(
    assignments: &[Value],
    resource_id: &str,
    resource_name: &str,
    resource_type: &str,
    location: Option<&str>,
) -> Result<(), ArmError> {
    let Some(raw_loc) = location else {
        return Ok(());
    };
    let loc = normalize_location(raw_loc);
    if loc == "global" || resource_type.eq_ignore_ascii_case("Microsoft.Resources/resourceGroups") {
        return Ok(());
    }
    for a in assignments {
        let props = &a["properties"];
        let def = props["policyDefinitionId"].as_str().unwrap_or("");
        if !def.eq_ignore_ascii_case(ALLOWED_LOCATIONS) {
            continue;
        }
        if props["enforcementMode"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("DoNotEnforce"))
        {
            continue;
        }
        let Some(id) = a["id"].as_str() else { continue };
        let Some(scope) = assignment_scope(id) else {
            continue;
        };
        if !within(resource_id, scope) {
            continue;
        }
        let excluded = props["notScopes"].as_array().is_some_and(|ns| {
            ns.iter()
                .filter_map(Value::as_str)
                .any(|n| within(resource_id, n))
        });
        if excluded {
            continue;
        }
        let allowed: Vec<String> = props["parameters"]["listOfAllowedLocations"]["value"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(normalize_location)
                    .collect()
            })
            .unwrap_or_default();
        if allowed.contains(&loc) {
            continue;
        }
        let name = a["name"].as_str().unwrap_or("");
        let display = props["displayName"].as_str().unwrap_or(name);
        let identifiers = json!([{
            "policyAssignment": {"name": display, "id": id},
            "policyDefinition": {"name": "Allowed locations", "id": ALLOWED_LOCATIONS},
        }]);
        return Err(ArmError::new(
            StatusCode::FORBIDDEN,
            "RequestDisallowedByPolicy",
            format!(
                "Resource '{resource_name}' was disallowed by policy. Policy identifiers: '{identifiers}'."
            ),
        )
        .with_target(resource_name)
        .with_info(json!({
            "type": "PolicyViolation",
            "info": {
                "evaluationDetails": {"evaluatedExpressions": [{
                    "result": "False",
                    "expressionKind": "Field",
                    "expression": "location",
                    "path": "location",
                    "expressionValue": raw_loc,
                    "targetValue": allowed,
                    "operator": "In",
                }]},
                "policyDefinitionId": ALLOWED_LOCATIONS,
                "policyDefinitionName": "e56962a6-4747-49cd-b67b-bf8b01975c4c",
                "policyDefinitionDisplayName": "Allowed locations",
                "policyDefinitionEffect": "deny",
                "policyAssignmentId": id,
                "policyAssignmentName": name,
                "policyAssignmentDisplayName": display,
                "policyAssignmentScope": scope,
                "policyAssignmentParameters": props["parameters"].clone(),
            }
        })));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(scope: &str, locations: &[&str]) -> Value {
        json!({
            "id": format!("{scope}/providers/Microsoft.Authorization/policyAssignments/allowed-locations"),
            "name": "allowed-locations",
            "properties": {
                "policyDefinitionId": ALLOWED_LOCATIONS,
                "parameters": {"listOfAllowedLocations": {"value": locations}},
            }
        })
    }

    #[test]
    fn writes_outside_the_allowed_locations_are_denied_in_scope_only() {
        let a = [assignment("/subscriptions/s", &["uksouth", "ukwest"])];
        let id =
            "/subscriptions/S/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st";
        assert!(check_write(
            &a,
            id,
            "st",
            "Microsoft.Storage/storageAccounts",
            Some("UK South")
        )
        .is_ok());
        let e = check_write(
            &a,
            id,
            "st",
            "Microsoft.Storage/storageAccounts",
            Some("eastus"),
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert_eq!(e.code, "RequestDisallowedByPolicy");
        assert_eq!(e.additional_info[0]["type"], "PolicyViolation");
        assert!(check_write(
            &a,
            "/subscriptions/other/resourceGroups/rg/providers/X/y/z",
            "z",
            "X/y",
            Some("eastus")
        )
        .is_ok());
        assert!(check_write(
            &a,
            id,
            "st",
            "Microsoft.Storage/storageAccounts",
            Some("global")
        )
        .is_ok());
    }
}
