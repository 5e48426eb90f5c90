//! A minimal emulation of Azure role-based access control: role assignments of the three built-in roles
//! (Owner, Contributor, Reader) to a client id at a scope, checked at the front door for every request
//! under a subscription. A request the caller's roles do not allow gets ARM's 403 `AuthorizationFailed`,
//! with the action and scope ARM would name.
//!
//! Contract: with no assignments configured every identity may do everything (the default, so that a
//! fresh local cloud needs no setup). With assignments, an identity holds the roles assigned to its client
//! id at the request's scope or any scope above it; reads need any role, writes, deletes and POST actions
//! need Contributor or Owner, and writes or deletes of `Microsoft.Authorization` resources (role and policy
//! assignments) and managing a deployment stack's deny settings need Owner. Every write and delete a
//! deployment makes, at every nesting level, is checked as a request of the deployment's caller
//! ([`authorize_id`]). Deployment stacks' deny assignments are checked after these roles, in
//! [`super::deny`]. Not emulated: custom roles, other deny assignments and data actions (see
//! `docs/local-cloud.md`).

use super::errors::ArmError;
use super::http::Req;
use axum::http::{Method, StatusCode};
use std::fmt;
use std::str::FromStr;

/// A built-in Azure role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including role and policy assignments.
    Owner,
    /// Everything except writing or deleting `Microsoft.Authorization` resources.
    Contributor,
    /// Reads only.
    Reader,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Owner => "Owner",
            Role::Contributor => "Contributor",
            Role::Reader => "Reader",
        })
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "owner" => Ok(Role::Owner),
            "contributor" => Ok(Role::Contributor),
            "reader" => Ok(Role::Reader),
            _ => Err(format!(
                "unknown role '{s}': expected Owner, Contributor or Reader"
            )),
        }
    }
}

impl Role {
    /// Whether this role allows `action` (`Namespace/type[/type...]/read|write|delete|name/action`).
    fn allows(self, action: &str) -> bool {
        let a = action.to_ascii_lowercase();
        match self {
            Role::Owner => true,
            // Contributor's NotActions include managing a deployment stack's deny settings.
            Role::Contributor => {
                !(a.starts_with("microsoft.authorization/")
                    && (a.ends_with("/write") || a.ends_with("/delete")))
                    && a != "microsoft.resources/deploymentstacks/managedenysetting/action"
            }
            Role::Reader => a.ends_with("/read"),
        }
    }
}

/// One role assignment: `client_id` holds `role` at `scope` and everything below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    /// The client (application) id the local cloud's token endpoint issued the token to.
    pub client_id: String,
    /// The role held.
    pub role: Role,
    /// `/` (everything), `/subscriptions/{id}`, `/subscriptions/{id}/resourceGroups/{name}` or a resource id.
    pub scope: String,
}

impl FromStr for RoleAssignment {
    type Err = String;
    /// `CLIENT_ID:ROLE:SCOPE`, e.g. `ci-reader:Reader:/subscriptions/0000...`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let (Some(client_id), Some(role), Some(scope)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "'{s}' is not a role assignment: expected CLIENT_ID:ROLE:SCOPE"
            ));
        };
        if client_id.is_empty() {
            return Err(format!("'{s}': the client id is empty"));
        }
        if !scope.starts_with('/') {
            return Err(format!(
                "'{s}': the scope '{scope}' must start with '/' (e.g. /subscriptions/<id>)"
            ));
        }
        Ok(RoleAssignment {
            client_id: client_id.to_string(),
            role: role.parse()?,
            scope: scope.to_string(),
        })
    }
}

/// The object id the local cloud gives a client id: stable, so that error messages repeat across runs.
pub fn object_id(client_id: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("trustprint-local-principal:{client_id}").as_bytes(),
    )
    .to_string()
}

/// Whether assignment scope `outer` contains request scope `inner` (segment-wise, case-insensitively).
fn covers(outer: &str, inner: &str) -> bool {
    let o = outer.trim_end_matches('/').to_ascii_lowercase();
    let i = inner.to_ascii_lowercase();
    o.is_empty() || i == o || i.starts_with(&format!("{o}/"))
}

/// The action a request performs and the scope it performs it on, as ARM names them in
/// `AuthorizationFailed`: `Microsoft.Resources/deployments/write` over the deployment's id, a resource
/// type's `write` over the resource id, `Microsoft.Resources/deployments/whatIf/action` for a POST.
pub fn action_and_scope(method: &Method, segs: &[String]) -> (String, String) {
    let verb = match *method {
        Method::GET | Method::HEAD => "read",
        Method::DELETE => "delete",
        Method::POST => "action",
        _ => "write",
    };
    let join = |n: usize| format!("/{}", segs[..n.min(segs.len())].join("/"));
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    // Provider paths: the last `providers/{namespace}` names the resource type; type and name alternate
    // after it, and a trailing odd segment is a collection (GET) or an action (POST).
    if let Some(p) = lower.iter().rposition(|s| s == "providers") {
        if p + 1 < segs.len() {
            let ns = &segs[p + 1];
            let rest = &segs[p + 2..];
            let mut types: Vec<&str> = rest.iter().step_by(2).map(String::as_str).collect();
            let named = rest.len() / 2;
            let mut tail = verb.to_string();
            if rest.len() % 2 == 1 && *method == Method::POST && types.len() > 1 {
                if let Some(action) = types.pop() {
                    tail = format!("{action}/action");
                }
            }
            let scope_len = if named == 0 { p } else { p + 2 + 2 * named };
            let kind = if types.is_empty() {
                ns.clone()
            } else {
                format!("{ns}/{}", types.join("/"))
            };
            let scope = if scope_len == 0 {
                "/".into()
            } else {
                join(scope_len)
            };
            return (format!("{kind}/{tail}"), scope);
        }
    }
    // Microsoft.Resources paths without `providers`: subscriptions and resource groups.
    match lower.len() {
        0..=2 => ("Microsoft.Resources/subscriptions/read".into(), join(2)),
        3 | 4 if lower[2] == "resourcegroups" => (
            format!("Microsoft.Resources/subscriptions/resourceGroups/{verb}"),
            join(lower.len()),
        ),
        _ if lower[2] == "resourcegroups" && lower.len() >= 5 && *method == Method::POST => (
            format!(
                "Microsoft.Resources/subscriptions/resourceGroups/{}/action",
                segs[4]
            ),
            join(4),
        ),
        _ => (
            format!("Microsoft.Resources/{}/{verb}", segs[lower.len() - 1]),
            join(lower.len()),
        ),
    }
}

/// Check a request by `client_id` against the configured assignments.
pub fn authorize(
    assignments: &[RoleAssignment],
    client_id: &str,
    req: &Req,
) -> Result<(), ArmError> {
    authorize_path(assignments, client_id, &req.method, &req.segs)
}

/// Check that `client_id` may perform `method` on the resource `id`, as if it had sent that request itself:
/// what a deployment's engine asks before each write or delete it makes for its caller.
pub fn authorize_id(
    assignments: &[RoleAssignment],
    client_id: &str,
    method: &Method,
    id: &str,
) -> Result<(), ArmError> {
    authorize_path(assignments, client_id, method, &id_segments(id))
}

/// A resource id's path segments, as a request's are split.
pub(crate) fn id_segments(id: &str) -> Vec<String> {
    id.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn authorize_path(
    assignments: &[RoleAssignment],
    client_id: &str,
    method: &Method,
    segs: &[String],
) -> Result<(), ArmError> {
    if assignments.is_empty() {
        return Ok(());
    }
    let (action, scope) = action_and_scope(method, segs);
    let allowed = assignments.iter().any(|a| {
        a.client_id.eq_ignore_ascii_case(client_id)
            && covers(&a.scope, &scope)
            && a.role.allows(&action)
    });
    if allowed {
        return Ok(());
    }
    Err(ArmError::new(
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
        format!(
            "The client '{client_id}' with object id '{}' does not have authorization to perform action \
             '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please \
             refresh your credentials.",
            object_id(client_id)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        path.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn actions_and_scopes_are_named_as_arm_names_them() {
        let sub = "/subscriptions/s1";
        let cases = [
            (Method::PUT, format!("{sub}/resourceGroups/rg/providers/Microsoft.Resources/deployments/d"),
             "Microsoft.Resources/deployments/write", format!("{sub}/resourceGroups/rg/providers/Microsoft.Resources/deployments/d")),
            (Method::POST, format!("{sub}/providers/Microsoft.Resources/deployments/d/whatIf"),
             "Microsoft.Resources/deployments/whatIf/action", format!("{sub}/providers/Microsoft.Resources/deployments/d")),
            (Method::GET, format!("{sub}/providers/Microsoft.Resources/deployments"),
             "Microsoft.Resources/deployments/read", sub.to_string()),
            (Method::GET, format!("{sub}/providers/Microsoft.Resources/deployments/d/operationStatuses/o1"),
             "Microsoft.Resources/deployments/operationStatuses/read", format!("{sub}/providers/Microsoft.Resources/deployments/d/operationStatuses/o1")),
            (Method::PUT, format!("{sub}/resourceGroups/rg"),
             "Microsoft.Resources/subscriptions/resourceGroups/write", format!("{sub}/resourceGroups/rg")),
            (Method::DELETE, format!("{sub}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s"),
             "Microsoft.Network/virtualNetworks/subnets/delete", format!("{sub}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s")),
            (Method::PUT, format!("{sub}/providers/Microsoft.Authorization/policyAssignments/p"),
             "Microsoft.Authorization/policyAssignments/write", format!("{sub}/providers/Microsoft.Authorization/policyAssignments/p")),
            (Method::GET, sub.to_string(), "Microsoft.Resources/subscriptions/read", sub.to_string()),
        ];
        for (m, path, action, scope) in cases {
            assert_eq!(
                action_and_scope(&m, &segs(&path)),
                (action.to_string(), scope),
                "{m} {path}"
            );
        }
    }

    #[test]
    fn roles_allow_what_azure_s_built_in_roles_allow() {
        assert!(Role::Reader.allows("Microsoft.Resources/deployments/read"));
        assert!(!Role::Reader.allows("Microsoft.Resources/deployments/write"));
        assert!(!Role::Reader.allows("Microsoft.Resources/deployments/whatIf/action"));
        assert!(Role::Contributor.allows("Microsoft.Resources/deployments/write"));
        assert!(!Role::Contributor.allows("Microsoft.Authorization/roleAssignments/write"));
        assert!(Role::Contributor.allows("Microsoft.Authorization/roleAssignments/read"));
        assert!(Role::Owner.allows("Microsoft.Authorization/policyAssignments/delete"));
    }

    #[test]
    fn scopes_cover_what_is_below_them_segment_wise() {
        assert!(covers("/", "/subscriptions/s1/resourceGroups/rg"));
        assert!(covers(
            "/subscriptions/S1",
            "/subscriptions/s1/resourceGroups/rg"
        ));
        assert!(covers("/subscriptions/s1", "/subscriptions/s1"));
        assert!(!covers("/subscriptions/s1", "/subscriptions/s10"));
        assert!(!covers(
            "/subscriptions/s1/resourceGroups/a",
            "/subscriptions/s1"
        ));
    }

    #[test]
    fn role_assignments_parse_from_the_command_line_form() {
        assert_eq!(
            "ci:reader:/subscriptions/s1".parse::<RoleAssignment>(),
            Ok(RoleAssignment {
                client_id: "ci".into(),
                role: Role::Reader,
                scope: "/subscriptions/s1".into()
            })
        );
        assert_eq!(
            "ci:Admin:/".parse::<RoleAssignment>(),
            Err("unknown role 'Admin': expected Owner, Contributor or Reader".into())
        );
        assert_eq!(
            "ci:Owner".parse::<RoleAssignment>(),
            Err("'ci:Owner' is not a role assignment: expected CLIENT_ID:ROLE:SCOPE".into())
        );
        assert_eq!(
            "ci:Owner:subscriptions/s1".parse::<RoleAssignment>(),
            Err("'ci:Owner:subscriptions/s1': the scope 'subscriptions/s1' must start with '/' (e.g. /subscriptions/<id>)".into())
        );
    }
}
