//! The HTTP side of deployments: routing, PUT (which starts the engine on a blocking thread), GET, list,
//! validate, cancel, delete, exportTemplate and operations.

use super::engine::run;
use super::secrets::take_secure_parameters;
use super::whatif::what_if;
use super::{
    build_plan, deployment_body, deployment_id, is_expression, is_terminal, management, not_found,
    parse_request, Scope,
};
use crate::armexpr::{NodeKind, Plan};
use crate::cloud::auth::Caller;
use crate::cloud::catalog;
use crate::cloud::errors::ArmError;
use crate::cloud::http::{self, empty, json_body, json_response, Req};
use crate::cloud::ids;
use crate::cloud::AppState;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;

/// Route `{scope}/providers/Microsoft.Resources/deployments[/{name}[/...]]` (a resource group, a
/// subscription or a management group); `at` is the index of the name.
pub async fn route(
    st: &Arc<AppState>,
    req: &Req,
    scope: Scope,
    at: usize,
) -> Result<Response, ArmError> {
    catalog::check_type("Microsoft.Resources/deployments", req.api_version())?;
    let scope = &scope.existing(st)?;
    let n = req.lower.len();
    if n == at {
        let (sub, rg) = scope.store_keys();
        return match req.method {
            Method::GET => http::page(st, req, st.store.list_deployments(&sub, rg)?),
            _ => Err(http::method_not_allowed(req)),
        };
    }
    let name = req.seg(at).to_string();
    let id = deployment_id(scope, &name);
    let action = req.lower.get(at + 1).map_or("", String::as_str);
    match (n - at, &req.method, action) {
        (1, &Method::PUT, _) => put(st, req, scope, &name).await,
        (1, &Method::GET, _) => match st.store.get_deployment(&id)? {
            Some(row) => Ok(json_body(&row.body)),
            None => Err(not_found(&name)),
        },
        (1, &Method::HEAD, _) => Ok(empty(match st.store.get_deployment(&id)? {
            Some(_) => StatusCode::NO_CONTENT,
            None => StatusCode::NOT_FOUND,
        })),
        (1, &Method::DELETE, _) => delete(st, req, scope, &id, &name),
        (2, &Method::POST, "validate") => validate(st, req, scope, &name),
        (2, &Method::POST, "whatif") => what_if(st, req, scope, &name),
        (2, &Method::POST, "cancel") => cancel(st, &id, &name),
        (2, &Method::POST | &Method::GET, "exporttemplate") => {
            let row = st
                .store
                .get_deployment(&id)?
                .ok_or_else(|| not_found(&name))?;
            Ok(json_body(
                &json!({"template": row.request["properties"]["template"]}),
            ))
        }
        (2, &Method::GET, "operations") => {
            st.store
                .get_deployment(&id)?
                .ok_or_else(|| not_found(&name))?;
            http::page(st, req, st.store.deployment_operations(&id)?)
        }
        (3, &Method::GET, "operations") => {
            let op_id = req.seg(at + 2);
            st.store
                .deployment_operations(&id)?
                .into_iter()
                .find(|o| o["operationId"].as_str() == Some(op_id))
                .map(|o| json_body(&o))
                .ok_or_else(|| {
                    ArmError::not_found(
                        "DeploymentOperationNotFound",
                        format!("Deployment operation '{op_id}' of deployment '{name}' could not be found."),
                    )
                })
        }
        (3, &Method::GET, "operationresults") => {
            let op = req.seg(at + 2);
            http::operation_result(st, req, op, Some(&id), &result_path(&id, op))
        }
        (3, &Method::GET, "operationstatuses") => {
            let row = st
                .store
                .get_deployment(&id)?
                .ok_or_else(|| not_found(&name))?;
            Ok(json_body(&operation_status(&row.body, req.seg(at + 2))))
        }
        _ => Err(http::method_not_allowed(req)),
    }
}

/// The body of `GET .../operationStatuses/{id}`.
fn operation_status(body: &Value, op: &str) -> Value {
    let props = &body["properties"];
    let state = props["provisioningState"].as_str().unwrap_or("Running");
    let status = if is_terminal(state) { state } else { "Running" };
    let mut out = json!({
        "id": format!("{}/operationStatuses/{op}", body["id"].as_str().unwrap_or("")),
        "name": op,
        "status": status,
        "startTime": props["timestamp"],
    });
    if is_terminal(state) {
        out["endTime"] = props["timestamp"].clone();
    }
    if let Some(e) = props.get("error") {
        out["error"] = e.clone();
    }
    out
}

/// Pre-flight: what ARM checks before accepting a deployment (types, api-versions, locations, policy) for the
/// resources whose values are already known. Returns the validated ids.
fn preflight(st: &AppState, name: &str, plan: &Plan) -> Result<Vec<String>, ArmError> {
    let mut errors = Vec::new();
    let mut validated = Vec::new();
    for node in plan.nodes.iter().filter(|n| n.kind == NodeKind::Resource) {
        let location = node.location.as_deref().filter(|l| !is_expression(l));
        let check = || -> Result<(), ArmError> {
            if management::is_under_management_group(&node.id) {
                // Types ARM deploys at a management group; their bodies are checked as they are written.
                return management::check_type(&node.resource_type, &node.id).map(|_| ());
            }
            let info = catalog::check_type(&node.resource_type, &node.api_version)?;
            if info.name != "Microsoft.Resources/resourceGroups" {
                catalog::check_location(info, location)?;
            }
            let sub = ids::parse_str(&node.id)
                .map_or_else(|| plan.scope.subscription_id.clone(), |r| r.subscription);
            // What the write would meet: modify and append first, then deny (a value still an expression is
            // left to the write itself).
            let mut body = node.body.clone();
            if let (Some(l), Some(obj)) = (location, body.as_object_mut()) {
                obj.insert("location".into(), serde_json::json!(l));
            }
            crate::cloud::policy::on_write(st, &sub, &node.id, info.name, &mut body)
        };
        match check() {
            Ok(()) => validated.push(node.id.clone()),
            Err(e) => errors.push(e.with_target(node.id.clone())),
        }
    }
    if errors.is_empty() {
        return Ok(validated);
    }
    Err(ArmError::bad_request(
        "InvalidTemplateDeployment",
        format!(
            "The template deployment '{name}' is not valid according to the validation procedure. The tracking id is '{}'. See inner errors for details.",
            uuid::Uuid::new_v4()
        ),
    )
    .with_details(errors))
}

fn correlation_of(req: &Req) -> String {
    req.headers
        .get("x-ms-correlation-request-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string)
}

async fn put(
    st: &Arc<AppState>,
    req: &Req,
    scope: &Scope,
    name: &str,
) -> Result<Response, ArmError> {
    let input = req.json()?;
    let submitted = submit(
        st,
        scope,
        name,
        &input,
        req.caller.as_ref(),
        &correlation_of(req),
    )?;
    let st2 = Arc::clone(st);
    let key = submitted.id.clone();
    tokio::task::spawn_blocking(move || run(&st2, &key));
    let mut resp = json_response(
        if submitted.replaced {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        &submitted.body,
    );
    http::async_operation(st, req, &mut resp, &submitted.id, &submitted.run_id);
    Ok(resp)
}

/// A deployment checked and stored as Accepted, ready for the engine ([`super::engine::run`]).
pub(crate) struct Submitted {
    /// The deployment's id.
    pub id: String,
    /// Its body as stored (provisioning state `Accepted`).
    pub body: Value,
    /// The run id its `operationStatuses` URL names.
    pub run_id: String,
    /// Whether a finished deployment of the same name was replaced.
    pub replaced: bool,
}

/// Check a deployment request as ARM does before accepting it (name, body, an active deployment of the same
/// name, location, template, pre-flight) and store it as Accepted, its secure parameters kept in memory
/// only. The caller starts the engine: a PUT on a deployment, or a deployment stack's run.
pub(crate) fn submit(
    st: &AppState,
    scope: &Scope,
    name: &str,
    input: &Value,
    caller: Option<&Caller>,
    correlation: &str,
) -> Result<Submitted, ArmError> {
    crate::cloud::names::check_resource("Microsoft.Resources/deployments", name)?;
    let dr = parse_request(input, scope.rg().is_none())?;
    let id = deployment_id(scope, name);
    let existing = st.store.get_deployment(&id)?;
    if let Some(row) = &existing {
        let state = row.body["properties"]["provisioningState"]
            .as_str()
            .unwrap_or("");
        if !is_terminal(state) {
            return Err(ArmError::conflict(
                "DeploymentActive",
                format!(
                    "Unable to edit or replace deployment '{name}': previous deployment from '{}' is still active (expiration time is '{}'). Please see https://aka.ms/arm-deploy for usage details.",
                    row.body["properties"]["timestamp"].as_str().unwrap_or(""),
                    row.body["properties"]["timestamp"].as_str().unwrap_or("")
                ),
            ));
        }
        if let (Some(old), Some(new)) = (row.body["location"].as_str(), &dr.location) {
            if old != new {
                return Err(ArmError::bad_request(
                    "InvalidDeploymentLocation",
                    format!("Invalid deployment location '{new}'. The deployment '{name}' already exists in location '{old}'."),
                ));
            }
        }
    }
    let plan = build_plan(st, scope, name, &dr)?;
    preflight(st, name, &plan)?;
    let body = deployment_body(&id, name, &dr, &plan, "Accepted", correlation);
    let run_id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let mut request = input.clone();
    request["runId"] = json!(run_id);
    if let Some(c) = caller {
        request["caller"] = json!({"clientId": c.client_id, "tenantId": c.tenant_id});
    }
    let secure = take_secure_parameters(&mut request);
    st.secure_parameters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.to_lowercase(), secure);
    let (sub, rg) = scope.store_keys();
    st.store
        .put_deployment(&id, &sub, rg, name, "Accepted", &body, &request)?;
    Ok(Submitted {
        id,
        body,
        run_id,
        replaced: existing.is_some(),
    })
}

/// What validating a deployment request found: its parameters as reported, and the resources pre-flight
/// checked.
pub(crate) struct Validated {
    pub parameters: Value,
    pub resources: Vec<String>,
}

/// Validate a deployment request as `POST .../validate` does (a deployment stack's validate uses it).
pub(crate) fn validate_request(
    st: &AppState,
    scope: &Scope,
    name: &str,
    input: &Value,
) -> Result<Validated, ArmError> {
    let dr = parse_request(input, scope.rg().is_none())?;
    let plan = build_plan(st, scope, name, &dr)?;
    let resources = preflight(st, name, &plan)?;
    Ok(Validated {
        parameters: Value::Object(plan.reported_parameters()),
        resources,
    })
}

fn validate(
    st: &Arc<AppState>,
    req: &Req,
    scope: &Scope,
    name: &str,
) -> Result<Response, ArmError> {
    let dr = parse_request(&req.json()?, scope.rg().is_none())?;
    let plan = build_plan(st, scope, name, &dr)?;
    let validated = preflight(st, name, &plan)?;
    let id = deployment_id(scope, name);
    let mut body = deployment_body(&id, name, &dr, &plan, "Succeeded", &correlation_of(req));
    body["properties"]["validatedResources"] = Value::Array(
        validated
            .into_iter()
            .map(|id| json!({ "id": id }))
            .collect(),
    );
    Ok(json_body(&body))
}

fn cancel(st: &Arc<AppState>, id: &str, name: &str) -> Result<Response, ArmError> {
    let row = st
        .store
        .get_deployment(id)?
        .ok_or_else(|| not_found(name))?;
    let state = row.body["properties"]["provisioningState"]
        .as_str()
        .unwrap_or("");
    if is_terminal(state) {
        return Err(ArmError::conflict(
            "DeploymentCannotBeCancelled",
            format!("The deployment '{name}' cannot be cancelled. Only deployments in state Accepted or Running can be cancelled; it is {state}."),
        ));
    }
    st.store.request_cancel(id)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn delete(
    st: &Arc<AppState>,
    req: &Req,
    scope: &Scope,
    id: &str,
    name: &str,
) -> Result<Response, ArmError> {
    let row = st
        .store
        .get_deployment(id)?
        .ok_or_else(|| not_found(name))?;
    let state = row.body["properties"]["provisioningState"]
        .as_str()
        .unwrap_or("");
    if !is_terminal(state) {
        return Err(ArmError::conflict(
            "DeploymentActive",
            format!("Unable to delete deployment '{name}': it is still active. Cancel it first."),
        ));
    }
    let op = http::new_operation(st, "deployment-delete", id)?;
    let (st2, key, op2) = (Arc::clone(st), id.to_string(), op.clone());
    st.spawn(async move {
        tokio::time::sleep(st2.config.lro).await;
        let _ = match st2.store.delete_deployment(&key) {
            Ok(()) => http::finish_operation(&st2, &op2, "Succeeded", 204, None),
            Err(e) => http::finish_operation(
                &st2,
                &op2,
                "Failed",
                500,
                Some(json!({"error": e.to_value()})),
            ),
        };
    });
    Ok(accepted(st, scope, id, &op, req.api_version()))
}

/// 202 with `Location` and `Retry-After`: a subscription's operation results, or, at a management group,
/// the deployment's own.
pub(super) fn accepted(
    st: &AppState,
    scope: &Scope,
    id: &str,
    op: &str,
    api_version: &str,
) -> Response {
    match scope.sub() {
        Some(sub) => http::accepted_location(st, sub, op, api_version),
        None => http::accepted_at(st, &result_path(id, op), api_version),
    }
}

/// `{target}/operationResults/{op}`: where a management group deployment's (or a stack's) operation result is.
pub(crate) fn result_path(target: &str, op: &str) -> String {
    format!("{target}/operationResults/{op}")
}
