//! Deployment stacks (`Microsoft.Resources/deploymentStacks`) at resource group, subscription and management
//! group scope, as Azure's REST API (2022-08-01-preview, 2024-03-01, 2025-07-01) defines them.
//!
//! Contract: PUT checks the stack (its `actionOnUnmanage`, `denySettings` and Azure's limits: 800 stacks per
//! scope, at most 5 excluded principals and 200 excluded actions, no deny assignments at management group
//! scope unless the stack deploys to a subscription) and its template (through the deployments' own checks),
//! answers 201 or 200 with `Azure-AsyncOperation`, then runs the template as a deployment named
//! `{stack}-{date}-{5 hex}` on the deployment engine. When the deployment succeeds, what it created or
//! updated is the stack's `resources`; resources the stack managed before and no longer declares are
//! detached or deleted as `actionOnUnmanage` says (`detachedResources`, `deletedResources`,
//! `failedResources`), and the stack's deny assignments are replaced ([`super::deny`]). When it fails, nothing
//! is unmanaged, and the stack is `failed` with the deployment's error. DELETE (202, `Location`) unmanages
//! every resource as the `unmanageAction.*` query parameters say (detach by default) and removes the stack
//! and its deny assignments. `validate` and `exportTemplate` answer at once.
//!
//! A management group stack deploys at the subscription its `deploymentScope` names (the local cloud does
//! not deploy at management group scope). A resource group's stacks go with the group when it is deleted.

use super::auth::Caller;
use super::catalog;
use super::deny::{self, DenyMode, DenySettings};
use super::deploy;
use super::errors::ArmError;
use super::http::{self, json_body, json_response, now_rfc3339, Req};
use super::rbac;
use super::store::Store;
use super::AppState;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

/// The stacks table (created at startup, kept in the state database).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deployment_stacks (
    key TEXT PRIMARY KEY, scope TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
    template TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deployment_stacks_by_scope ON deployment_stacks (scope);
";

/// Azure's limit of deployment stacks in one scope.
pub const MAX_STACKS_PER_SCOPE: usize = 800;

const TYPE: &str = "Microsoft.Resources/deploymentStacks";

/// Where a stack lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    ResourceGroup { sub: String, rg: String },
    Subscription { sub: String },
    ManagementGroup { mg: String },
}

impl Scope {
    /// The scope's id, canonical.
    pub fn id(&self) -> String {
        match self {
            Scope::ResourceGroup { sub, rg } => format!("/subscriptions/{sub}/resourceGroups/{rg}"),
            Scope::Subscription { sub } => format!("/subscriptions/{sub}"),
            Scope::ManagementGroup { mg } => {
                format!("/providers/Microsoft.Management/managementGroups/{mg}")
            }
        }
    }

    fn key(&self) -> String {
        self.id().to_lowercase()
    }

    fn stack_id(&self, name: &str) -> String {
        format!("{}/providers/{TYPE}/{name}", self.id())
    }
}

/// `delete` or `detach`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Detach,
    Delete,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        match s.to_ascii_lowercase().as_str() {
            "detach" => Some(Action::Detach),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Action::Detach => "detach",
            Action::Delete => "delete",
        }
    }
}

/// `actionOnUnmanage`: what becomes of resources, resource groups and management groups a stack stops
/// managing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OnUnmanage {
    resources: Action,
    resource_groups: Action,
    management_groups: Action,
    /// 2025-07-01: `detach` or `fail` for resources that cannot be deleted (`None`: not given).
    without_delete_support: Option<&'static str>,
}

impl OnUnmanage {
    fn to_value(self) -> Value {
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

    fn for_id(self, id: &str) -> Action {
        match kind_of(id) {
            Kind::ResourceGroup => self.resource_groups,
            Kind::ManagementGroup => self.management_groups,
            Kind::Resource => self.resources,
        }
    }
}

enum Kind {
    Resource,
    ResourceGroup,
    ManagementGroup,
}

fn kind_of(id: &str) -> Kind {
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
struct StackRequest {
    location: Option<String>,
    tags: Option<Value>,
    description: Option<String>,
    on_unmanage: OnUnmanage,
    deny: DenySettings,
    template: Value,
    parameters: Value,
    bypass_out_of_sync: bool,
    deployment_scope: Option<String>,
    validation_level: Option<&'static str>,
}

fn without_delete_support(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "detach" => Some("detach"),
        "fail" => Some("fail"),
        _ => None,
    }
}

fn invalid_content(message: &str) -> ArmError {
    ArmError::bad_request(
        "InvalidRequestContent",
        format!("The request content was invalid and could not be deserialized: '{message}'."),
    )
}

fn invalid_definition(name: &str, message: &str) -> ArmError {
    ArmError::bad_request(
        "DeploymentStackInvalidDeploymentStackDefinition",
        format!("The deployment stack '{name}' is invalid: {message}"),
    )
}

fn strings(v: &Value, field: &str) -> Result<Vec<String>, ArmError> {
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

fn parse_request(body: &Value, scope: &Scope, name: &str) -> Result<StackRequest, ArmError> {
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

/// Where a stack's deployment runs: `(subscription, resource group)`, and the scope its deny assignments
/// cover.
struct Target {
    sub: String,
    rg: Option<String>,
    deny_scope: Option<String>,
}

fn target(st: &AppState, scope: &Scope, sr: &StackRequest, name: &str) -> Result<Target, ArmError> {
    // Azure: deny assignments are not supported at management group scope, only when a management group
    // stack deploys to a subscription.
    if let Scope::ManagementGroup { mg } = scope {
        if sr.deny.mode != DenyMode::None && sr.deployment_scope.is_none() {
            return Err(invalid_definition(
                name,
                &format!("deny assignments are not supported at the management group scope ('{mg}'): set denySettings.mode to 'none', or set deploymentScope to a subscription under the management group."),
            ));
        }
    }
    let given = sr.deployment_scope.as_deref().map(|s| {
        s.split('/')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    let parsed = match given.as_deref() {
        None => None,
        Some([s, sub]) if s.eq_ignore_ascii_case("subscriptions") => Some((sub.clone(), None)),
        Some([s, sub, r, rg])
            if s.eq_ignore_ascii_case("subscriptions") && r.eq_ignore_ascii_case("resourcegroups") =>
        {
            Some((sub.clone(), Some(rg.clone())))
        }
        Some([p, ns, m, mg])
            if p.eq_ignore_ascii_case("providers")
                && ns.eq_ignore_ascii_case("microsoft.management")
                && m.eq_ignore_ascii_case("managementgroups") =>
        {
            match scope {
                Scope::ManagementGroup { mg: own } if own.eq_ignore_ascii_case(mg) => None,
                _ => {
                    return Err(invalid_definition(
                        name,
                        &format!("deploymentScope '{}' is not the stack's own scope or a scope under it.", sr.deployment_scope.as_deref().unwrap_or("")),
                    ))
                }
            }
        }
        Some(_) => {
            return Err(invalid_definition(
                name,
                &format!(
                    "deploymentScope '{}' is not a management group, subscription or resource group id.",
                    sr.deployment_scope.as_deref().unwrap_or("")
                ),
            ))
        }
    };
    let t = match (scope, parsed) {
        (Scope::ResourceGroup { sub, rg }, None) => Target {
            sub: sub.clone(),
            rg: Some(rg.clone()),
            deny_scope: Some(scope.id()),
        },
        (Scope::ResourceGroup { sub, rg }, Some((s, Some(r))))
            if s.eq_ignore_ascii_case(sub) && r.eq_ignore_ascii_case(rg) =>
        {
            Target {
                sub: sub.clone(),
                rg: Some(rg.clone()),
                deny_scope: Some(scope.id()),
            }
        }
        (Scope::Subscription { sub }, None) => Target {
            sub: sub.clone(),
            rg: None,
            deny_scope: Some(scope.id()),
        },
        (Scope::Subscription { sub }, Some((s, rg))) if s.eq_ignore_ascii_case(sub) => Target {
            sub: sub.clone(),
            rg: match rg {
                Some(r) => Some(http::existing_rg(st, sub, &r)?),
                None => None,
            },
            deny_scope: Some(scope.id()),
        },
        (Scope::ManagementGroup { mg }, None) => {
            return Err(ArmError::bad_request(
                "UnsupportedDeploymentScope",
                format!(
                    "The local cloud does not run deployments at management group scope: give the stack '{name}' at management group '{mg}' a properties.deploymentScope of '/subscriptions/<id>' (a subscription under the management group)."
                ),
            ))
        }
        (Scope::ManagementGroup { .. }, Some((s, rg))) => {
            let sub = http::ensure_subscription(st, &s)?;
            let rg = match rg {
                Some(r) => Some(http::existing_rg(st, &sub, &r)?),
                None => None,
            };
            Target {
                deny_scope: Some(format!("/subscriptions/{sub}")),
                sub,
                rg,
            }
        }
        _ => {
            return Err(invalid_definition(
                name,
                &format!(
                    "deploymentScope '{}' is not the stack's own scope or a scope under it.",
                    sr.deployment_scope.as_deref().unwrap_or("")
                ),
            ))
        }
    };
    Ok(t)
}

// ---- storage

struct Row {
    body: Value,
    template: Value,
}

fn get_row(st: &AppState, id: &str) -> Result<Option<Row>, ArmError> {
    let row: Option<(String, String)> = st.store.tx(|tx| {
        Ok(tx
            .query_row(
                "SELECT body, template FROM deployment_stacks WHERE key = ?1",
                [id.to_lowercase()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    })?;
    row.map(|(b, t)| {
        Ok(Row {
            body: serde_json::from_str(&b)?,
            template: serde_json::from_str(&t)?,
        })
    })
    .transpose()
}

fn put_row(
    st: &AppState,
    scope: &Scope,
    name: &str,
    body: &Value,
    template: &Value,
) -> Result<(), ArmError> {
    let id = scope.stack_id(name);
    st.store.tx(|tx| {
        tx.execute(
            "INSERT OR REPLACE INTO deployment_stacks (key, scope, name, body, template) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id.to_lowercase(), scope.key(), name.to_lowercase(), body.to_string(), template.to_string()],
        )?;
        Ok(())
    })
}

/// Write a stack's body (its template unchanged).
fn update_body(st: &AppState, id: &str, body: &Value) -> Result<(), ArmError> {
    st.store.tx(|tx| {
        tx.execute(
            "UPDATE deployment_stacks SET body = ?2 WHERE key = ?1",
            params![id.to_lowercase(), body.to_string()],
        )?;
        Ok(())
    })
}

fn count_at(st: &AppState, scope: &Scope) -> Result<usize, ArmError> {
    st.store.tx(|tx| {
        let n: i64 = tx.query_row(
            "SELECT COUNT(*) FROM deployment_stacks WHERE scope = ?1",
            [scope.key()],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(0))
    })
}

fn list_at(st: &AppState, scope: &Scope) -> Result<Vec<Value>, ArmError> {
    st.store.tx(|tx| {
        let mut q =
            tx.prepare("SELECT body FROM deployment_stacks WHERE scope = ?1 ORDER BY name")?;
        let rows = q.query_map([scope.key()], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(serde_json::from_str(&r?)?);
        }
        Ok(out)
    })
}

/// A resource group was deleted: its stacks (and their deny assignments) go with it, as in Azure.
pub fn forget_resource_group(st: &AppState, sub: &str, rg: &str) -> Result<(), ArmError> {
    let scope = Scope::ResourceGroup {
        sub: sub.to_string(),
        rg: rg.to_string(),
    }
    .key();
    st.store.tx(|tx| {
        tx.execute(
            "DELETE FROM deny_assignments WHERE stack IN (SELECT key FROM deployment_stacks WHERE scope = ?1)",
            [&scope],
        )?;
        tx.execute("DELETE FROM deployment_stacks WHERE scope = ?1", [&scope])?;
        Ok(())
    })
}

/// Stacks left mid-operation by a stop or crash are marked failed; their deny assignments stay as they were.
pub fn recover(st: &AppState) -> Result<(), ArmError> {
    let rows: Vec<(String, String)> = st.store.tx(|tx| {
        let mut q = tx.prepare("SELECT key, body FROM deployment_stacks")?;
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    })?;
    for (key, body) in rows {
        let mut body: Value = serde_json::from_str(&body)?;
        if !is_terminal(
            body["properties"]["provisioningState"]
                .as_str()
                .unwrap_or(""),
        ) {
            body["properties"]["provisioningState"] = json!("failed");
            body["properties"]["error"] = ArmError::conflict(
                "DeploymentStackInterrupted",
                "The local cloud stopped while this deployment stack was being updated or deleted. Run the operation again to finish it.",
            )
            .to_value();
            update_body(st, &key, &body)?;
        }
    }
    st.store.tx(|tx| {
        tx.execute("UPDATE deny_assignments SET suspended = 0", [])?;
        Ok(())
    })
}

fn is_terminal(state: &str) -> bool {
    ["succeeded", "failed", "canceled"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(state))
}

fn not_found(name: &str) -> ArmError {
    ArmError::not_found(
        "DeploymentStackNotFound",
        format!("Deployment stack '{name}' could not be found."),
    )
}

fn check_name(name: &str) -> Result<(), ArmError> {
    let n = name.chars().count();
    let ok = (1..=90).contains(&n)
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
    if ok {
        return Ok(());
    }
    Err(ArmError::bad_request(
        "InvalidDeploymentStackName",
        format!("The deployment stack name '{name}' is invalid: it must be 1 to 90 characters ({n} given) of letters, digits, '-', '_', '.', '(' and ')'."),
    ))
}

// ---- routing

/// Route `{scope}/providers/Microsoft.Resources/deploymentStacks[/{name}[/...]]`; `at` is the index of the
/// name segment.
pub async fn route(
    st: &Arc<AppState>,
    req: &Req,
    scope: Scope,
    at: usize,
) -> Result<Response, ArmError> {
    catalog::check_type(TYPE, req.api_version())?;
    let scope = match scope {
        Scope::ResourceGroup { sub, rg } => {
            let rg = http::existing_rg(st, &sub, &rg)?;
            Scope::ResourceGroup { sub, rg }
        }
        other => other,
    };
    let n = req.lower.len();
    if n == at {
        return match req.method {
            Method::GET => http::page(st, req, list_at(st, &scope)?),
            _ => Err(http::method_not_allowed(req)),
        };
    }
    let name = req.seg(at).to_string();
    let id = scope.stack_id(&name);
    let action = req.lower.get(at + 1).map_or("", String::as_str);
    match (n - at, &req.method, action) {
        (1, &Method::PUT, _) => put(st, req, &scope, &name),
        (1, &Method::GET, _) => match get_row(st, &id)? {
            Some(row) => Ok(json_body(&row.body)),
            None => Err(not_found(&name)),
        },
        (1, &Method::DELETE, _) => delete(st, req, &scope, &name),
        (2, &Method::POST, "validate") => validate(st, req, &scope, &name),
        (2, &Method::POST, "exporttemplate") => {
            let row = get_row(st, &id)?.ok_or_else(|| not_found(&name))?;
            Ok(json_body(&json!({"template": row.template})))
        }
        (3, &Method::GET, "operationstatuses") => operation_status(st, &id, req.seg(at + 2)),
        (3, &Method::GET, "operationresults") => operation_result(st, req, &id, req.seg(at + 2)),
        _ => Err(http::method_not_allowed(req)),
    }
}

fn operation_status(st: &AppState, stack_id: &str, op: &str) -> Result<Response, ArmError> {
    let found = st
        .store
        .get_operation(op)?
        .filter(|o| o.target.eq_ignore_ascii_case(stack_id));
    let Some(o) = found else {
        return Err(ArmError::not_found(
            "OperationNotFound",
            format!("The operation '{op}' could not be found."),
        ));
    };
    let mut out = json!({
        "id": format!("{stack_id}/operationStatuses/{op}"),
        "name": op,
        "status": o.status,
    });
    if let Some(e) = o.body.as_ref().and_then(|b| b.get("error")) {
        out["error"] = e.clone();
    }
    Ok(json_body(&out))
}

fn operation_result(
    st: &AppState,
    req: &Req,
    stack_id: &str,
    op: &str,
) -> Result<Response, ArmError> {
    let found = st
        .store
        .get_operation(op)?
        .filter(|o| o.target.eq_ignore_ascii_case(stack_id));
    let Some(o) = found else {
        return Err(ArmError::not_found(
            "OperationNotFound",
            format!("The operation '{op}' could not be found."),
        ));
    };
    if o.status == "Running" {
        return Ok(accepted(st, stack_id, op, req.api_version()));
    }
    let status = StatusCode::from_u16(o.http_status.unwrap_or(200)).unwrap_or(StatusCode::OK);
    Ok(match o.body {
        Some(b) => json_response(status, &b),
        None => http::empty(status),
    })
}

/// 202 with `Location` on the stack's own operation results, and `Retry-After`.
fn accepted(st: &AppState, stack_id: &str, op: &str, api_version: &str) -> Response {
    let mut r = http::empty(StatusCode::ACCEPTED);
    let loc = format!(
        "{}{stack_id}/operationResults/{op}?api-version={api_version}",
        st.base_url()
    );
    if let Ok(v) = HeaderValue::from_str(&loc) {
        r.headers_mut().insert("location", v);
    }
    r.headers_mut()
        .insert("retry-after", HeaderValue::from(http::retry_after(st)));
    r
}

fn correlation_of(req: &Req) -> String {
    req.headers
        .get("x-ms-correlation-request-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string)
}

fn system_data(caller: Option<&Caller>, created: Option<&Value>) -> Value {
    let who = caller.map_or("", |c| c.client_id.as_str());
    let now = now_rfc3339();
    let mut sd = json!({
        "createdBy": who, "createdByType": "Application", "createdAt": now,
        "lastModifiedBy": who, "lastModifiedByType": "Application", "lastModifiedAt": now,
    });
    if let Some(c) = created {
        for k in ["createdBy", "createdByType", "createdAt"] {
            if let Some(v) = c.get(k) {
                sd[k] = v.clone();
            }
        }
    }
    sd
}

/// The deployment a stack runs: Incremental, its template and parameters, at the stack's location.
fn deployment_request(sr: &StackRequest, target: &Target) -> Value {
    let mut d = json!({"properties": {"mode": "Incremental", "template": sr.template, "parameters": sr.parameters}});
    if target.rg.is_none() {
        if let Some(l) = &sr.location {
            d["location"] = json!(l);
        }
    }
    d
}

fn deployment_name(stack: &str) -> String {
    let today = time::OffsetDateTime::now_utc().date();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..5];
    let mut base: String = stack.chars().take(64 - 15).collect();
    // Deployment names allow fewer characters than stack names.
    base = base
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "{base}-{:04}{:02}{:02}-{suffix}",
        today.year(),
        u8::from(today.month()),
        today.day()
    )
}

fn put(st: &Arc<AppState>, req: &Req, scope: &Scope, name: &str) -> Result<Response, ArmError> {
    check_name(name)?;
    let input = req.json()?;
    let sr = parse_request(&input, scope, name)?;
    let target = target(st, scope, &sr, name)?;
    let id = scope.stack_id(name);
    let existing = get_row(st, &id)?;
    if let Some(row) = &existing {
        let state = row.body["properties"]["provisioningState"]
            .as_str()
            .unwrap_or("");
        if !is_terminal(state) {
            return Err(ArmError::conflict(
                "DeploymentStackInProgress",
                format!("The deployment stack '{name}' is currently '{state}': wait for that operation to finish before updating it."),
            ));
        }
        if let (Some(old), Some(new)) = (row.body["location"].as_str(), &sr.location) {
            if !old.eq_ignore_ascii_case(new) {
                return Err(ArmError::bad_request(
                    "InvalidDeploymentStackLocation",
                    format!("The location of deployment stack '{name}' cannot be changed from '{old}' to '{new}'."),
                ));
            }
        }
    } else if count_at(st, scope)? >= MAX_STACKS_PER_SCOPE {
        return Err(ArmError::bad_request(
            "DeploymentStackCountLimitExceeded",
            format!(
                "The deployment stack '{name}' cannot be created: the scope '{}' already holds {MAX_STACKS_PER_SCOPE} deployment stacks, the most Azure allows in one scope.",
                scope.id()
            ),
        ));
    }
    let correlation = correlation_of(req);
    let dep_name = deployment_name(name);
    let submitted = deploy::submit(
        st,
        &target.sub,
        target.rg.as_deref(),
        &dep_name,
        &deployment_request(&sr, &target),
        req.caller.as_ref(),
        &correlation,
    )?;
    // The stored deployment request holds the parameters without secure values.
    let parameters = st
        .store
        .get_deployment(&submitted.id)?
        .map(|d| d.request["properties"]["parameters"].clone())
        .unwrap_or(Value::Null);
    let previous = existing.as_ref().map(|r| r.body.clone());
    let mut body = json!({"id": id, "name": name, "type": TYPE});
    if let Some(l) = sr.location.clone().or_else(|| {
        previous
            .as_ref()
            .and_then(|p| p["location"].as_str().map(str::to_string))
    }) {
        body["location"] = json!(l);
    }
    if let Some(t) = &sr.tags {
        body["tags"] = t.clone();
    }
    body["systemData"] = system_data(
        req.caller.as_ref(),
        previous.as_ref().map(|p| &p["systemData"]),
    );
    let mut props = json!({
        "actionOnUnmanage": sr.on_unmanage.to_value(),
        "denySettings": sr.deny.to_value(),
        "bypassStackOutOfSyncError": sr.bypass_out_of_sync,
        "parameters": if parameters.is_null() { json!({}) } else { parameters },
        "provisioningState": "creating",
        "correlationId": correlation,
        "deploymentId": submitted.id,
        "deploymentScope": ids_scope(&target),
        "resources": previous.as_ref().map_or(json!([]), |p| p["properties"]["resources"].clone()),
        "detachedResources": [],
        "deletedResources": [],
        "failedResources": [],
    });
    if let Some(d) = &sr.description {
        props["description"] = json!(d);
    }
    if let Some(v) = sr.validation_level {
        props["validationLevel"] = json!(v);
    }
    body["properties"] = props;
    put_row(st, scope, name, &body, &sr.template)?;
    let op = http::new_operation(st, "stack-put", &id)?;
    let run = Run {
        scope: scope.clone(),
        id: id.clone(),
        dep_id: submitted.id.clone(),
        on_unmanage: sr.on_unmanage,
        deny: sr.deny.clone(),
        deny_scope: target.deny_scope.clone(),
        caller: req.caller.clone(),
        op: op.clone(),
    };
    let st2 = Arc::clone(st);
    tokio::task::spawn_blocking(move || run.execute(&st2));
    let mut resp = json_response(
        if existing.is_some() {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        &body,
    );
    let status_url = format!(
        "{}{id}/operationStatuses/{op}?api-version={}",
        st.base_url(),
        req.api_version()
    );
    if let Ok(v) = HeaderValue::from_str(&status_url) {
        resp.headers_mut().insert("azure-asyncoperation", v);
    }
    resp.headers_mut()
        .insert("retry-after", HeaderValue::from(http::retry_after(st)));
    Ok(resp)
}

fn ids_scope(t: &Target) -> String {
    super::ids::scope_id(&t.sub, t.rg.as_deref())
}

/// A stack's update, run on a blocking thread after the PUT has answered.
struct Run {
    scope: Scope,
    id: String,
    dep_id: String,
    on_unmanage: OnUnmanage,
    deny: DenySettings,
    deny_scope: Option<String>,
    caller: Option<Caller>,
    op: String,
}

/// What a deployment did, read from its operations (nested deployments included): the resources it wrote,
/// and those it failed to write with their errors.
fn deployed_resources(
    st: &AppState,
    dep_id: &str,
    depth: usize,
) -> (Vec<String>, Vec<(String, Value)>) {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    let Ok(ops) = st.store.deployment_operations(dep_id) else {
        return (ok, failed);
    };
    for o in ops {
        let p = &o["properties"];
        if p["provisioningOperation"] != "Create" {
            continue;
        }
        let Some(id) = p["targetResource"]["id"].as_str() else {
            continue;
        };
        let ty = p["targetResource"]["resourceType"].as_str().unwrap_or("");
        if ty.eq_ignore_ascii_case("Microsoft.Resources/deployments") {
            if depth < 10 {
                let (o2, f2) = deployed_resources(st, id, depth + 1);
                ok.extend(o2);
                failed.extend(f2);
            }
            continue;
        }
        if p["provisioningState"] == "Succeeded" {
            ok.push(id.to_string());
        } else {
            failed.push((id.to_string(), p["statusMessage"]["error"].clone()));
        }
    }
    (ok, failed)
}

fn dedup(ids: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.into_iter()
        .filter(|i| seen.insert(i.to_lowercase()))
        .collect()
}

/// Delete one resource a stack stops managing, as its caller (whose roles must allow it); a resource already
/// gone counts as deleted.
fn delete_managed(st: &AppState, caller: Option<&Caller>, id: &str) -> Result<(), ArmError> {
    if let Some(c) = caller {
        rbac::authorize_id(
            &st.config.role_assignments,
            &c.client_id,
            &Method::DELETE,
            id,
        )?;
    }
    let segs: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    match kind_of(id) {
        Kind::ResourceGroup => {
            if st.store.get_rg(segs[1], segs[3])?.is_some() {
                st.store.delete_rg_cascade(segs[1], segs[3])?;
                forget_resource_group(st, segs[1], segs[3])?;
            }
            Ok(())
        }
        Kind::ManagementGroup => Err(ArmError::bad_request(
            "DeploymentStackDeleteFailed",
            format!("The local cloud does not emulate management groups and cannot delete '{id}'."),
        )),
        Kind::Resource => {
            st.store.tx(|tx| Store::delete_resource_tree(tx, id))?;
            Ok(())
        }
    }
}

/// What unmanaging a set of resources did.
#[derive(Default)]
struct Unmanaged {
    detached: Vec<String>,
    deleted: Vec<String>,
    failed: Vec<(String, Value)>,
}

/// Detach or delete `ids` as `on_unmanage` says: resources first (children before parents), then resource
/// groups, then management groups.
fn unmanage(
    st: &AppState,
    caller: Option<&Caller>,
    ids: &[String],
    on_unmanage: OnUnmanage,
) -> Unmanaged {
    let mut order: Vec<&String> = ids.iter().collect();
    order.sort_by_key(|id| {
        let rank = match kind_of(id) {
            Kind::Resource => 0,
            Kind::ResourceGroup => 1,
            Kind::ManagementGroup => 2,
        };
        (rank, std::cmp::Reverse(id.len()))
    });
    let mut out = Unmanaged::default();
    for id in order {
        match on_unmanage.for_id(id) {
            Action::Detach => out.detached.push(id.clone()),
            Action::Delete => match delete_managed(st, caller, id) {
                Ok(()) => out.deleted.push(id.clone()),
                Err(e) => out.failed.push((id.clone(), e.to_value())),
            },
        }
    }
    out
}

fn refs(ids: &[String]) -> Value {
    Value::Array(ids.iter().map(|i| json!({ "id": i })).collect())
}

fn failed_refs(f: &[(String, Value)]) -> Value {
    Value::Array(
        f.iter()
            .map(|(i, e)| json!({"id": i, "error": e}))
            .collect(),
    )
}

fn within(scope: &str, id: &str) -> bool {
    let s = scope.to_lowercase();
    let i = id.to_lowercase();
    i == s || i.starts_with(&format!("{s}/"))
}

impl Run {
    fn execute(self, st: &AppState) {
        let started = Instant::now();
        let _ = deny::suspend_for_stack(st, &self.id);
        self.set_state(st, "deploying");
        deploy::run(st, &self.dep_id);
        let result = self.finish(st, started);
        let (status, body) = match result {
            Ok(None) => ("Succeeded", None),
            Ok(Some(e)) => ("Failed", Some(json!({"error": e.to_value()}))),
            Err(e) => ("Failed", Some(json!({"error": e.to_value()}))),
        };
        let _ = http::finish_operation(st, &self.op, status, 200, body);
    }

    fn set_state(&self, st: &AppState, state: &str) {
        if let Ok(Some(mut row)) = get_row(st, &self.id) {
            row.body["properties"]["provisioningState"] = json!(state);
            let _ = update_body(st, &self.id, &row.body);
        }
    }

    /// Read the deployment's end, unmanage, replace the deny assignments and write the stack's final state;
    /// returns the stack's error when it failed.
    fn finish(&self, st: &AppState, started: Instant) -> Result<Option<ArmError>, ArmError> {
        let Some(mut body) = get_row(st, &self.id)?.map(|r| r.body) else {
            return Ok(None);
        };
        let dep = st.store.get_deployment(&self.dep_id)?;
        let dep_state = dep
            .as_ref()
            .and_then(|d| {
                d.body["properties"]["provisioningState"]
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "Failed".into());
        let previous: Vec<String> = body["properties"]["resources"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let (written, failed) = deployed_resources(st, &self.dep_id, 0);
        let written = dedup(written);
        let now: HashSet<String> = written.iter().map(|i| i.to_lowercase()).collect();
        let mut error = None;
        let (managed, mut unmanaged) = if dep_state.eq_ignore_ascii_case("Succeeded") {
            let gone: Vec<String> = previous
                .iter()
                .filter(|p| !now.contains(&p.to_lowercase()))
                .cloned()
                .collect();
            if !gone.is_empty() {
                self.set_state(st, "deletingResources");
                // The state change above rewrote the body: read it again.
                if let Some(r) = get_row(st, &self.id)? {
                    body = r.body;
                }
            }
            (
                written.clone(),
                unmanage(st, self.caller.as_ref(), &gone, self.on_unmanage),
            )
        } else {
            // A failed deployment unmanages nothing: what the stack had stays, with what this run wrote.
            let mut keep = previous.clone();
            keep.extend(written.clone());
            let dep_error = dep
                .as_ref()
                .and_then(|d| ArmError::from_value(&d.body["properties"]["error"]))
                .unwrap_or_else(|| {
                    ArmError::bad_request("DeploymentFailed", "The deployment failed.")
                });
            error = Some(
                ArmError::bad_request(
                    "DeploymentStackDeploymentFailed",
                    format!(
                        "One or more stages of the deployment stack failed. Correlation id: '{}'.",
                        body["properties"]["correlationId"].as_str().unwrap_or("")
                    ),
                )
                .with_details(vec![dep_error]),
            );
            (dedup(keep), Unmanaged::default())
        };
        unmanaged.failed.extend(failed);
        let failed_delete: HashSet<String> = unmanaged
            .failed
            .iter()
            .map(|(i, _)| i.to_lowercase())
            .collect();
        // Resources a delete failed on stay managed, marked `deleteFailed`.
        let mut listed: Vec<(String, &str)> =
            managed.iter().map(|i| (i.clone(), "managed")).collect();
        for p in &previous {
            let l = p.to_lowercase();
            if failed_delete.contains(&l) && !now.contains(&l) {
                listed.push((p.clone(), "deleteFailed"));
            }
        }
        self.set_state(st, "updatingDenyAssignments");
        let mut assignments = Vec::new();
        let resources: Vec<Value> = listed
            .iter()
            .map(|(id, status)| {
                let deny_status = match (&self.deny_scope, self.deny.mode) {
                    (_, DenyMode::None) => "none",
                    (Some(scope), mode) if within(scope, id) => {
                        assignments.push(deny::assignment(&self.id, id, &self.deny));
                        mode.as_str()
                    }
                    _ => "inapplicable",
                };
                json!({"id": id, "status": status, "denyStatus": deny_status})
            })
            .collect();
        let stack_id = self.id.clone();
        st.store
            .tx(|tx| deny::replace_for_stack(tx, &stack_id, &assignments))?;
        if let Some(r) = get_row(st, &self.id)? {
            body = r.body;
        }
        let props = &mut body["properties"];
        props["resources"] = Value::Array(resources);
        props["detachedResources"] = refs(&unmanaged.detached);
        props["deletedResources"] = refs(&unmanaged.deleted);
        props["failedResources"] = failed_refs(&unmanaged.failed);
        props["duration"] = json!(format!("PT{:.3}S", started.elapsed().as_secs_f64()));
        if let Some(d) = &dep {
            if let Some(o) = d.body["properties"].get("outputs") {
                props["outputs"] = o.clone();
            }
            if let Some(p) = d.body["properties"]["parameters"].as_object() {
                props["parameters"] = Value::Object(without_types(p));
            }
        }
        if error.is_none() && !unmanaged.failed.is_empty() {
            error = Some(ArmError::bad_request(
                "DeploymentStackDeleteResourcesFailed",
                format!(
                    "One or more resources could not be deleted. Correlation id: '{}'. See failedResources for details.",
                    props["correlationId"].as_str().unwrap_or("")
                ),
            ));
        }
        match &error {
            Some(e) => {
                props["provisioningState"] = json!("failed");
                props["error"] = e.to_value();
            }
            None => {
                props["provisioningState"] = json!("succeeded");
                if let Some(o) = props.as_object_mut() {
                    o.remove("error");
                }
            }
        }
        let _ = &self.scope;
        update_body(st, &self.id, &body)?;
        Ok(error)
    }
}

/// A deployment's reported parameters (`{"type", "value"}`) as a stack reports them (`{"value"}`); secure
/// parameters keep no value.
fn without_types(p: &Map<String, Value>) -> Map<String, Value> {
    p.iter()
        .map(|(k, v)| {
            let entry = match v.get("value") {
                Some(x) => json!({ "value": x }),
                None => json!({}),
            };
            (k.clone(), entry)
        })
        .collect()
}

fn query_action(req: &Req, key: &str) -> Result<Action, ArmError> {
    match req.query.get(&key.to_ascii_lowercase()) {
        None => Ok(Action::Detach),
        Some(v) => Action::parse(v).ok_or_else(|| {
            ArmError::bad_request(
                "InvalidQueryParameterValue",
                format!("The value '{v}' of query parameter '{key}' is invalid: expected 'delete' or 'detach'."),
            )
        }),
    }
}

fn delete(st: &Arc<AppState>, req: &Req, scope: &Scope, name: &str) -> Result<Response, ArmError> {
    let id = scope.stack_id(name);
    let without = match req.query.get("unmanageaction.resourceswithoutdeletesupport") {
        None => None,
        Some(v) => Some(without_delete_support(v).ok_or_else(|| {
            ArmError::bad_request(
                "InvalidQueryParameterValue",
                format!("The value '{v}' of query parameter 'unmanageAction.ResourcesWithoutDeleteSupport' is invalid: expected 'detach' or 'fail'."),
            )
        })?),
    };
    if let Some(v) = req.query.get("bypassstackoutofsyncerror") {
        if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
            return Err(ArmError::bad_request(
                "InvalidQueryParameterValue",
                format!("The value '{v}' of query parameter 'bypassStackOutOfSyncError' is invalid: expected true or false."),
            ));
        }
    }
    let on_unmanage = OnUnmanage {
        resources: query_action(req, "unmanageAction.Resources")?,
        resource_groups: query_action(req, "unmanageAction.ResourceGroups")?,
        management_groups: query_action(req, "unmanageAction.ManagementGroups")?,
        without_delete_support: without,
    };
    let Some(row) = get_row(st, &id)? else {
        return Ok(http::empty(StatusCode::NO_CONTENT));
    };
    let state = row.body["properties"]["provisioningState"]
        .as_str()
        .unwrap_or("");
    if !is_terminal(state) {
        return Err(ArmError::conflict(
            "DeploymentStackInProgress",
            format!("The deployment stack '{name}' is currently '{state}': wait for that operation to finish before deleting it."),
        ));
    }
    let mut body = row.body;
    body["properties"]["provisioningState"] = json!("deleting");
    update_body(st, &id, &body)?;
    let op = http::new_operation(st, "stack-delete", &id)?;
    let managed: Vec<String> = body["properties"]["resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let (st2, op2, caller) = (Arc::clone(st), op.clone(), req.caller.clone());
    let stack_id = id.clone();
    tokio::task::spawn_blocking(move || {
        let st = &*st2;
        let _ = deny::suspend_for_stack(st, &stack_id);
        let _ = &caller;
        let done = unmanage(st, caller.as_ref(), &managed, on_unmanage);
        if done.failed.is_empty() {
            let removed = st.store.tx(|tx| {
                deny::replace_for_stack(tx, &stack_id, &[])?;
                tx.execute(
                    "DELETE FROM deployment_stacks WHERE key = ?1",
                    [stack_id.to_lowercase()],
                )?;
                Ok(())
            });
            let _ = match removed {
                Ok(()) => http::finish_operation(st, &op2, "Succeeded", 200, None),
                Err(e) => http::finish_operation(
                    st,
                    &op2,
                    "Failed",
                    500,
                    Some(json!({"error": e.to_value()})),
                ),
            };
            return;
        }
        // Some deletes failed: the stack stays, listing what it still manages.
        let failed: HashSet<String> = done.failed.iter().map(|(i, _)| i.to_lowercase()).collect();
        let e = ArmError::bad_request(
            "DeploymentStackDeleteResourcesFailed",
            "One or more resources could not be deleted; the deployment stack was kept. See failedResources for details.",
        );
        if let Ok(Some(mut row)) = get_row(st, &stack_id) {
            let props = &mut row.body["properties"];
            let kept: Vec<Value> = props["resources"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|r| {
                    r["id"]
                        .as_str()
                        .is_some_and(|i| failed.contains(&i.to_lowercase()))
                })
                .map(|mut r| {
                    r["status"] = json!("deleteFailed");
                    r
                })
                .collect();
            props["resources"] = Value::Array(kept);
            props["deletedResources"] = refs(&done.deleted);
            props["detachedResources"] = refs(&done.detached);
            props["failedResources"] = failed_refs(&done.failed);
            props["provisioningState"] = json!("failed");
            props["error"] = e.to_value();
            let _ = update_body(st, &stack_id, &row.body);
        }
        let _ = st.store.tx(|tx| {
            tx.execute(
                "UPDATE deny_assignments SET suspended = 0 WHERE stack = ?1",
                [stack_id.to_lowercase()],
            )?;
            Ok(())
        });
        let _ = http::finish_operation(
            st,
            &op2,
            "Failed",
            400,
            Some(json!({"error": e.to_value()})),
        );
    });
    Ok(accepted(st, &id, &op, req.api_version()))
}

/// `POST .../validate`: the stack's and its template's checks, without deploying; 200 with the validated
/// resources, or 400 with the first problem.
fn validate(
    st: &Arc<AppState>,
    req: &Req,
    scope: &Scope,
    name: &str,
) -> Result<Response, ArmError> {
    check_name(name)?;
    let input = req.json()?;
    let sr = parse_request(&input, scope, name)?;
    let target = target(st, scope, &sr, name)?;
    let id = scope.stack_id(name);
    let validated = deploy::validate_request(
        st,
        &target.sub,
        target.rg.as_deref(),
        &deployment_name(name),
        &deployment_request(&sr, &target),
    )?;
    let mut props = json!({
        "actionOnUnmanage": sr.on_unmanage.to_value(),
        "denySettings": sr.deny.to_value(),
        "correlationId": correlation_of(req),
        "deploymentScope": ids_scope(&target),
        "parameters": validated.parameters,
        "validatedResources": refs(&validated.resources),
    });
    if let Some(d) = &sr.description {
        props["description"] = json!(d);
    }
    Ok(json_body(
        &json!({"id": id, "name": name, "type": TYPE, "properties": props}),
    ))
}
