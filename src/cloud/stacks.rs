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
//! A management group stack deploys at the management group (a management group deployment: policy and role
//! resources at the group, nested deployments to its subscriptions), or at the subscription or resource group
//! its `deploymentScope` names. A resource group's stacks go with the group when it is deleted.
//!
//! Layout: this file routes and stores stacks; `request` reads and checks a stack's body, `run` carries an
//! update through after the PUT has answered, `whatif` predicts one (`deploymentStacksWhatIfResults`).

use super::auth::Caller;
use super::catalog;
use super::deny::{self, DenyMode, DenySettings};
use super::deploy;
use super::errors::ArmError;
use super::http::{self, json_body, json_response, now_rfc3339, Req};
use super::rbac;
use super::store::Store;
use super::AppState;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;

mod request;
mod run;
mod whatif;

use request::{
    invalid_content, kind_of, parse_request, target, without_delete_support, Action, Kind,
    OnUnmanage, StackRequest, Target,
};

use run::{current_body, failed_refs, refs, unmanage, within, Run};

pub use whatif::route as whatif_route;
pub(crate) use whatif::SCHEMA as WHATIF_SCHEMA;

/// The stacks table (created at startup, kept in the state database).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deployment_stacks (
    key TEXT PRIMARY KEY, scope TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
    template TEXT NOT NULL, out_of_sync INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS deployment_stacks_by_scope ON deployment_stacks (scope);
CREATE TABLE IF NOT EXISTS stack_resources (stack TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (stack, id));
CREATE INDEX IF NOT EXISTS stack_resources_by_id ON stack_resources (id);
";

/// Azure's limit of deployment stacks in one scope.
pub const MAX_STACKS_PER_SCOPE: usize = 800;

const TYPE: &str = "Microsoft.Resources/deploymentStacks";

pub use super::deploy::Scope;

impl Scope {
    fn key(&self) -> String {
        self.id().to_lowercase()
    }

    fn stack_id(&self, name: &str) -> String {
        format!("{}/providers/{TYPE}/{name}", self.id())
    }
}

// ---- storage

struct Row {
    body: Value,
    template: Value,
}

fn get_row(st: &AppState, id: &str) -> Result<Option<Row>, ArmError> {
    let row: Option<(String, String)> = st.store.tx(|tx| {
        Ok(tx
            .prepare_cached("SELECT body, template FROM deployment_stacks WHERE key = ?1")?
            .query_row([id.to_lowercase()], |r| Ok((r.get(0)?, r.get(1)?)))
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
            "INSERT INTO deployment_stacks (key, scope, name, body, template) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (key) DO UPDATE SET body = excluded.body, template = excluded.template",
            params![id.to_lowercase(), scope.key(), name.to_lowercase(), body.to_string(), template.to_string()],
        )?;
        index_resources(tx, &id, body)
    })
}

/// Keep `stack_resources` (which stacks manage an id) in step with a stack body's `resources`.
/// The ids of the resources a stack's body lists as managed.
fn managed_ids(body: &Value) -> Vec<String> {
    body["properties"]["resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn index_resources(
    tx: &rusqlite::Transaction<'_>,
    stack_id: &str,
    body: &Value,
) -> Result<(), ArmError> {
    let key = stack_id.to_lowercase();
    tx.prepare_cached("DELETE FROM stack_resources WHERE stack = ?1")?
        .execute([&key])?;
    let mut insert =
        tx.prepare_cached("INSERT OR IGNORE INTO stack_resources (stack, id) VALUES (?1, ?2)")?;
    for id in managed_ids(body) {
        insert.execute(params![key, id.to_lowercase()])?;
    }
    Ok(())
}

/// Remove a stack's row and its index entries.
fn remove_row(tx: &rusqlite::Transaction<'_>, stack_id: &str) -> Result<(), ArmError> {
    let key = stack_id.to_lowercase();
    tx.prepare_cached("DELETE FROM stack_resources WHERE stack = ?1")?
        .execute([&key])?;
    tx.prepare_cached("DELETE FROM deployment_stacks WHERE key = ?1")?
        .execute([&key])?;
    Ok(())
}

/// A deployment (`by`, the id of the deployment at the top of its tree) or a stack (`by`, the stack's id)
/// wrote or deleted `id`: every other stack that manages it may now list what it manages wrongly, Azure's
/// out-of-sync state (see [`check_in_sync`]). A stack's own deployment does not put it out of sync.
pub(crate) fn changed_outside(st: &AppState, id: &str, by: &str) -> Result<(), ArmError> {
    st.store.tx(|tx| {
        let rows: Vec<(String, String)> = {
            let mut q = tx.prepare_cached(
                "SELECT s.key, s.body FROM stack_resources r JOIN deployment_stacks s ON s.key = r.stack \
                 WHERE r.id = ?1",
            )?;
            let rows = q.query_map([id.to_lowercase()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for (key, body) in rows {
            let body: Value = serde_json::from_str(&body)?;
            let own = key.eq_ignore_ascii_case(by)
                || body["properties"]["deploymentId"]
                    .as_str()
                    .is_some_and(|d| d.eq_ignore_ascii_case(by));
            if !own {
                tx.prepare_cached("UPDATE deployment_stacks SET out_of_sync = 1 WHERE key = ?1")?.execute(
                    [&key],
                )?;
            }
        }
        Ok(())
    })
}

/// Write a stack's body (its template unchanged).
fn update_body(st: &AppState, id: &str, body: &Value) -> Result<(), ArmError> {
    st.store.tx(|tx| {
        tx.prepare_cached("UPDATE deployment_stacks SET body = ?2 WHERE key = ?1")?
            .execute(params![id.to_lowercase(), body.to_string()])?;
        index_resources(tx, id, body)
    })
}

fn count_at(st: &AppState, scope: &Scope) -> Result<usize, ArmError> {
    st.store.tx(|tx| {
        let n: i64 = tx
            .prepare_cached("SELECT COUNT(*) FROM deployment_stacks WHERE scope = ?1")?
            .query_row([scope.key()], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    })
}

fn list_at(st: &AppState, scope: &Scope) -> Result<Vec<Value>, ArmError> {
    st.store.bodies(
        "SELECT body FROM deployment_stacks WHERE scope = ?1 ORDER BY name",
        [scope.key()],
    )
}

/// A resource group was deleted: its stacks (and their deny assignments) go with it, as in Azure.
pub fn forget_resource_group(st: &AppState, sub: &str, rg: &str) -> Result<(), ArmError> {
    let scope = Scope::ResourceGroup {
        sub: sub.to_string(),
        rg: rg.to_string(),
    }
    .key();
    st.store.tx(|tx| {
        tx.prepare_cached("DELETE FROM deny_assignments WHERE stack IN (SELECT key FROM deployment_stacks WHERE scope = ?1)")?.execute(
            [&scope],
        )?;
        tx.prepare_cached("DELETE FROM stack_resources WHERE stack IN (SELECT key FROM deployment_stacks WHERE scope = ?1)")?.execute(
            [&scope],
        )?;
        tx.prepare_cached("DELETE FROM deployment_stacks WHERE scope = ?1")?.execute( [&scope])?;
        Ok(())
    })
}

/// Stacks left mid-operation by a stop or crash are marked failed; their deny assignments stay as they were.
pub fn recover(st: &AppState) -> Result<(), ArmError> {
    let rows: Vec<(String, String)> = st.store.tx(|tx| {
        let mut q = tx.prepare_cached("SELECT key, body FROM deployment_stacks")?;
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    })?;
    for (key, body) in rows {
        let mut body: Value = serde_json::from_str(&body)?;
        // Stacks stored before the index of managed resources existed get their entries now.
        st.store.tx(|tx| index_resources(tx, &key, &body))?;
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
            // Its list of managed resources may be inaccurate now.
            st.store.tx(|tx| {
                tx.prepare_cached("UPDATE deployment_stacks SET out_of_sync = 1 WHERE key = ?1")?
                    .execute([&key])?;
                Ok(())
            })?;
        }
    }
    st.store.tx(|tx| {
        tx.prepare_cached("UPDATE deny_assignments SET suspended = 0")?
            .execute([])?;
        Ok(())
    })
}

fn is_out_of_sync(st: &AppState, id: &str) -> Result<bool, ArmError> {
    st.store.tx(|tx| {
        Ok(tx
            .prepare_cached("SELECT out_of_sync FROM deployment_stacks WHERE key = ?1")?
            .query_row([id.to_lowercase()], |r| r.get::<_, i64>(0))
            .optional()?
            .is_some_and(|v| v != 0))
    })
}

fn set_in_sync(st: &AppState, id: &str) -> Result<(), ArmError> {
    st.store.tx(|tx| {
        tx.prepare_cached("UPDATE deployment_stacks SET out_of_sync = 0 WHERE key = ?1")?
            .execute([id.to_lowercase()])?;
        Ok(())
    })
}

/// A stack whose last operation was interrupted, or one of whose resources another deployment or stack has
/// written or deleted since its last update, may not list what it manages accurately: an update or delete
/// that would delete resources is refused unless `bypassStackOutOfSyncError` is set.
fn check_in_sync(
    st: &AppState,
    id: &str,
    name: &str,
    on_unmanage: OnUnmanage,
    bypass: bool,
) -> Result<(), ArmError> {
    let deletes = [
        on_unmanage.resources,
        on_unmanage.resource_groups,
        on_unmanage.management_groups,
    ]
    .contains(&Action::Delete);
    if deletes && !bypass && is_out_of_sync(st, id)? {
        return Err(ArmError::bad_request(
            "DeploymentStackOutOfSync",
            format!("The deployment stack '{name}' might not have an accurate list of managed resources. To prevent resources from being accidentally deleted, check that the managed resource list doesn't have any additional values. If there is any uncertainty, it's recommended to redeploy the stack with the same template and parameters as the current iteration. To bypass this warning, specify the 'BypassStackOutOfSyncError' flag."),
        ));
    }
    Ok(())
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
    let scope = scope.existing(st)?;
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
        (3, &Method::GET, "operationresults") => {
            let op = req.seg(at + 2);
            http::operation_result(st, req, op, Some(&id), &deploy::result_path(&id, op))
        }
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
    if target.at.rg().is_none() {
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
    if existing.is_some() {
        let bypass = sr.bypass_out_of_sync || bypass_query(req)?;
        check_in_sync(st, &id, name, sr.on_unmanage, bypass)?;
    }
    let denied_before = existing.as_ref().is_some_and(|r| has_deny(&r.body));
    if sr.deny.mode != DenyMode::None || denied_before {
        manage_deny_settings(st, req, &id)?;
    }
    let correlation = correlation_of(req);
    let dep_name = deployment_name(name);
    let submitted = deploy::submit(
        st,
        &target.at,
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
    http::async_operation(st, req, &mut resp, &id, &op);
    Ok(resp)
}

/// Whether a stack's deny settings are other than `none`.
fn has_deny(body: &Value) -> bool {
    body["properties"]["denySettings"]["mode"]
        .as_str()
        .and_then(DenyMode::parse)
        .is_some_and(|m| m != DenyMode::None)
}

/// Setting deny settings other than `none`, or changing or deleting a stack that has them, needs
/// `Microsoft.Resources/deploymentStacks/manageDenySetting/action` at the stack (Owner has it, Contributor
/// does not), as Azure requires since May 2024.
fn manage_deny_settings(st: &AppState, req: &Req, stack_id: &str) -> Result<(), ArmError> {
    let Some(c) = &req.caller else {
        return Ok(());
    };
    rbac::authorize_id(
        &st.config.role_assignments,
        &c.client_id,
        &Method::POST,
        &format!("{stack_id}/manageDenySetting"),
    )
}

fn ids_scope(t: &Target) -> String {
    t.at.id()
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

/// The `bypassStackOutOfSyncError` query parameter (DELETE's; a PUT may give it too, besides the body's).
fn bypass_query(req: &Req) -> Result<bool, ArmError> {
    match req.query.get("bypassstackoutofsyncerror") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ArmError::bad_request(
            "InvalidQueryParameterValue",
            format!("The value '{v}' of query parameter 'bypassStackOutOfSyncError' is invalid: expected true or false."),
        )),
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
    let bypass = bypass_query(req)?;
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
    if has_deny(&row.body) {
        manage_deny_settings(st, req, &id)?;
    }
    check_in_sync(st, &id, name, on_unmanage, bypass)?;
    let mut body = row.body;
    body["properties"]["provisioningState"] = json!("deleting");
    update_body(st, &id, &body)?;
    let op = http::new_operation(st, "stack-delete", &id)?;
    let managed = managed_ids(&body);
    let (st2, op2, caller) = (Arc::clone(st), op.clone(), req.caller.clone());
    let stack_id = id.clone();
    tokio::task::spawn_blocking(move || {
        let st = &*st2;
        let _ = deny::suspend_for_stack(st, &stack_id);
        let done = unmanage(st, &stack_id, caller.as_ref(), &managed, on_unmanage);
        if done.failed.is_empty() {
            let removed = st.store.tx(|tx| {
                deny::replace_for_stack(tx, &stack_id, &[])?;
                remove_row(tx, &stack_id)
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
            tx.prepare_cached("UPDATE deny_assignments SET suspended = 0 WHERE stack = ?1")?
                .execute([stack_id.to_lowercase()])?;
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
    Ok(http::accepted_at(
        st,
        &deploy::result_path(&id, &op),
        req.api_version(),
    ))
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
        &target.at,
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
