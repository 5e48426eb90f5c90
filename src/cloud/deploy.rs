//! Deployments at subscription and resource-group scope: PUT (an asynchronous operation reported through
//! `Azure-AsyncOperation`), GET, list, validate, what-if, cancel, delete, exportTemplate, operations and
//! operation statuses. Templates are evaluated by [`crate::armexpr`] (the same evaluator the guardrails use):
//! a [`Plan`] gives the resources in dependency layers; the engine writes each layer (resources of one layer
//! are independent, so a layer takes one operation duration, as if run in parallel), recursing into nested
//! deployments, then evaluates the outputs.
//!
//! The engine runs on a blocking thread and checks, between layers, whether the deployment was cancelled or
//! the server is stopping. Every resource write is one transaction. A deployment found Accepted or Running at
//! startup (the server stopped or was killed mid-way) is marked Failed with code `DeploymentInterrupted`: the
//! resources it wrote are whole, the rest were never started, and redeploying finishes the job.

use super::catalog;
use super::errors::ArmError;
use super::http::{self, empty, json_body, json_response, now_rfc3339, Req};
use super::ids;
use super::store::Store;
use super::AppState;
use crate::armexpr::{self, DeploymentScope, Mode, NodeKind, Plan, Resolver, ResourceGroupScope};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TERMINAL: [&str; 3] = ["Succeeded", "Failed", "Canceled"];

fn deployment_id(sub: &str, rg: Option<&str>, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Resources/deployments/{name}",
        ids::scope_id(sub, rg)
    )
}

fn not_found(name: &str) -> ArmError {
    ArmError::not_found(
        "DeploymentNotFound",
        format!("Deployment '{name}' could not be found."),
    )
}

/// Route `{scope}/providers/Microsoft.Resources/deployments[/{name}[/...]]`; `at` is the index of the name.
pub async fn route(
    st: &Arc<AppState>,
    req: &Req,
    sub: &str,
    rg: Option<&str>,
    at: usize,
) -> Result<Response, ArmError> {
    catalog::check_type("Microsoft.Resources/deployments", req.api_version())?;
    let rg = match rg {
        Some(r) => Some(http::existing_rg(st, sub, r)?),
        None => None,
    };
    let rg = rg.as_deref();
    let n = req.lower.len();
    if n == at {
        return match req.method {
            Method::GET => http::page(st, req, st.store.list_deployments(sub, rg)?),
            _ => Err(http::method_not_allowed(req)),
        };
    }
    let name = req.seg(at).to_string();
    let id = deployment_id(sub, rg, &name);
    let action = req.lower.get(at + 1).map_or("", String::as_str);
    match (n - at, &req.method, action) {
        (1, &Method::PUT, _) => put(st, req, sub, rg, &name).await,
        (1, &Method::GET, _) => match st.store.get_deployment(&id)? {
            Some(row) => Ok(json_body(&row.body)),
            None => Err(not_found(&name)),
        },
        (1, &Method::HEAD, _) => Ok(empty(match st.store.get_deployment(&id)? {
            Some(_) => StatusCode::NO_CONTENT,
            None => StatusCode::NOT_FOUND,
        })),
        (1, &Method::DELETE, _) => delete(st, req, sub, &id, &name),
        (2, &Method::POST, "validate") => validate(st, req, sub, rg, &name),
        (2, &Method::POST, "whatif") => what_if(st, req, sub, rg, &name),
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
    let status = if TERMINAL.contains(&state) {
        state
    } else {
        "Running"
    };
    let mut out = json!({
        "id": format!("{}/operationStatuses/{op}", body["id"].as_str().unwrap_or("")),
        "name": op,
        "status": status,
        "startTime": props["timestamp"],
    });
    if TERMINAL.contains(&state) {
        out["endTime"] = props["timestamp"].clone();
    }
    if let Some(e) = props.get("error") {
        out["error"] = e.clone();
    }
    out
}

/// A deployment request body, checked.
struct DeployRequest {
    location: Option<String>,
    tags: Option<Value>,
    complete: bool,
    template: Value,
    parameters: Value,
}

fn invalid_content(message: &str) -> ArmError {
    ArmError::bad_request(
        "InvalidRequestContent",
        format!("The request content was invalid and could not be deserialized: '{message}'."),
    )
}

fn parse_request(body: &Value, sub_scope: bool) -> Result<DeployRequest, ArmError> {
    let props = body
        .get("properties")
        .filter(|p| p.is_object())
        .ok_or_else(|| invalid_content("Required property 'properties' not found in JSON"))?;
    if let Some(link) = props.get("templateLink") {
        return Err(ArmError::bad_request(
            "InvalidContentLink",
            format!(
                "The local cloud does not fetch linked templates (templateLink '{}'): send the template inline.",
                link["uri"].as_str().unwrap_or("")
            ),
        ));
    }
    if props.get("parametersLink").is_some() {
        return Err(ArmError::bad_request(
            "InvalidContentLink",
            "The local cloud does not fetch linked parameters (parametersLink): send the parameters inline.",
        ));
    }
    let template = props
        .get("template")
        .cloned()
        .ok_or_else(|| invalid_content("Required property 'template' not found in JSON"))?;
    let mode = props["mode"].as_str().unwrap_or("Incremental");
    let complete = if mode.eq_ignore_ascii_case("complete") {
        true
    } else if mode.eq_ignore_ascii_case("incremental") {
        false
    } else {
        return Err(invalid_content(&format!(
            "Error converting value \"{mode}\" to type 'DeploymentMode'"
        )));
    };
    if complete && sub_scope {
        return Err(ArmError::bad_request(
            "InvalidDeploymentMode",
            "Complete mode is supported for resource group scope deployments only.",
        ));
    }
    let location = body["location"].as_str().map(catalog::normalize_location);
    if sub_scope {
        match &location {
            None => {
                return Err(ArmError::bad_request(
                    "LocationRequired",
                    "The location property is required for this definition.",
                ))
            }
            Some(l) if !catalog::is_region(l) => {
                return Err(ArmError::bad_request(
                    "InvalidDeploymentLocation",
                    format!("The provided location '{l}' is not a valid Azure region."),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(DeployRequest {
        location: if sub_scope { location } else { None },
        tags: body.get("tags").filter(|t| t.is_object()).cloned(),
        complete,
        template,
        parameters: props.get("parameters").cloned().unwrap_or(Value::Null),
    })
}

fn template_error(e: &armexpr::Error) -> ArmError {
    ArmError::bad_request(
        "InvalidTemplate",
        format!("Deployment template validation failed: '{e}'."),
    )
    .with_info(json!({
        "type": "TemplateViolation",
        "info": {"lineNumber": 0, "linePosition": 0, "path": e.path().unwrap_or("")}
    }))
}

/// Replace Key Vault references with the secret's value from the emulated vault
/// (`{vault}/secrets/{name}` with `properties.value`).
fn resolve_key_vault(st: &AppState, parameters: &Value) -> Result<Value, ArmError> {
    let Some(obj) = parameters.as_object() else {
        return Ok(parameters.clone());
    };
    // A whole parameters file or just its `parameters` member.
    let (inner, wrapped) = match obj.get("parameters") {
        Some(Value::Object(p))
            if obj.contains_key("$schema") || obj.contains_key("contentVersion") =>
        {
            (p, true)
        }
        _ => (obj, false),
    };
    let mut out = Map::new();
    for (name, entry) in inner {
        match entry.get("reference") {
            Some(r) => {
                let vault = r["keyVault"]["id"].as_str().unwrap_or("");
                let secret = r["secretName"].as_str().unwrap_or("");
                let value = st
                    .store
                    .get_resource(&format!("{vault}/secrets/{secret}"))?
                    .and_then(|s| s["properties"]["value"].as_str().map(str::to_string))
                    .ok_or_else(|| {
                        ArmError::bad_request(
                            "KeyVaultParameterReferenceSecretRetrieveFailed",
                            format!("The secret of KeyVault parameter '{name}' cannot be retrieved. Http status code: 'NotFound'. Error message: 'A secret with (name/id) {secret} was not found in this key vault.'"),
                        )
                    })?;
                out.insert(name.clone(), json!({ "value": value }));
            }
            None => {
                out.insert(name.clone(), entry.clone());
            }
        }
    }
    let _ = wrapped;
    Ok(Value::Object(out))
}

/// The scope `subscription()`/`resourceGroup()` describe for a deployment.
fn scope_for(
    st: &AppState,
    sub: &str,
    rg: Option<&str>,
    location: Option<&str>,
    name: &str,
) -> Result<DeploymentScope, ArmError> {
    let display = st
        .store
        .get_subscription(sub)?
        .and_then(|s| s["displayName"].as_str().map(str::to_string))
        .unwrap_or_default();
    let resource_group = match rg {
        Some(rg) => {
            let (body, _) = st
                .store
                .get_rg(sub, rg)?
                .ok_or_else(|| http::rg_not_found(rg))?;
            Some(ResourceGroupScope {
                name: body["name"].as_str().unwrap_or(rg).to_string(),
                location: body["location"].as_str().unwrap_or("").to_string(),
                tags: body["tags"].as_object().cloned().unwrap_or_default(),
            })
        }
        None => None,
    };
    Ok(DeploymentScope {
        subscription_id: sub.to_string(),
        tenant_id: st.config.tenant_id.clone(),
        resource_group,
        deployment_name: name.to_string(),
        location: location.map(str::to_string),
        subscription_display_name: display,
    })
}

fn build_plan(
    st: &AppState,
    sub: &str,
    rg: Option<&str>,
    name: &str,
    dr: &DeployRequest,
) -> Result<Plan, ArmError> {
    let parameters = resolve_key_vault(st, &dr.parameters)?;
    let values =
        armexpr::parameter_values(&parameters, Mode::Strict).map_err(|e| template_error(&e))?;
    let scope = scope_for(st, sub, rg, dr.location.as_deref(), name)?;
    let plan =
        Plan::new(&dr.template, &values, &scope, Mode::Strict).map_err(|e| template_error(&e))?;
    plan.layers().map_err(|e| template_error(&e))?;
    // ARM validates the outputs' expressions up front too; values that need deployed resources wait.
    if let Err(e) = plan.outputs(&armexpr::Unresolved) {
        if !e.is_not_yet_known() {
            return Err(template_error(&e));
        }
    }
    Ok(plan)
}

fn is_expression(s: &str) -> bool {
    s.starts_with('[') && !s.starts_with("[[")
}

/// Pre-flight: what ARM checks before accepting a deployment (types, api-versions, locations, policy) for the
/// resources whose values are already known. Returns the validated ids.
fn preflight(st: &AppState, name: &str, plan: &Plan) -> Result<Vec<String>, ArmError> {
    let mut errors = Vec::new();
    let mut validated = Vec::new();
    for node in plan.nodes.iter().filter(|n| n.kind == NodeKind::Resource) {
        let location = node.location.as_deref().filter(|l| !is_expression(l));
        let check = || -> Result<(), ArmError> {
            let info = catalog::check_type(&node.resource_type, &node.api_version)?;
            if info.name != "Microsoft.Resources/resourceGroups" {
                catalog::check_location(info, location)?;
            }
            let sub = ids::parse_str(&node.id)
                .map_or_else(|| plan.scope.subscription_id.clone(), |r| r.subscription);
            super::policy::check_write(
                &http::assignments(st, &sub)?,
                &node.id,
                &node.name,
                info.name,
                location.map(catalog::normalize_location).as_deref(),
            )
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

fn template_hash(template: &Value) -> String {
    let h = Sha256::digest(template.to_string().as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    u64::from_be_bytes(b).to_string()
}

fn duration_iso(d: Duration) -> String {
    format!("PT{:.3}S", d.as_secs_f64())
}

/// `providers` and `dependencies` as ARM reports them.
fn providers_and_dependencies(plan: &Plan) -> (Value, Value) {
    // namespace → [(type, locations)], in first-seen order.
    type Types = Vec<(String, Vec<String>)>;
    let mut providers: Vec<(String, Types)> = Vec::new();
    for n in &plan.nodes {
        let (ns, ty) = n
            .resource_type
            .split_once('/')
            .unwrap_or((&n.resource_type, ""));
        let entry = match providers
            .iter_mut()
            .find(|(p, _)| p.eq_ignore_ascii_case(ns))
        {
            Some(e) => e,
            None => {
                providers.push((ns.to_string(), Vec::new()));
                let last = providers.len() - 1;
                &mut providers[last]
            }
        };
        let loc = n
            .location
            .clone()
            .filter(|l| !is_expression(l))
            .map(|l| catalog::normalize_location(&l));
        match entry.1.iter_mut().find(|(t, _)| t == ty) {
            Some((_, locs)) => {
                if let Some(l) = loc {
                    if !locs.contains(&l) {
                        locs.push(l);
                    }
                }
            }
            None => entry.1.push((ty.to_string(), loc.into_iter().collect())),
        }
    }
    let providers = providers
        .into_iter()
        .map(|(ns, types)| {
            json!({"namespace": ns, "resourceTypes": types.into_iter().map(|(t, l)| json!({"resourceType": t, "locations": l})).collect::<Vec<_>>()})
        })
        .collect::<Vec<_>>();
    let dependencies = plan
        .nodes
        .iter()
        .filter(|n| !n.depends_on.is_empty())
        .map(|n| {
            json!({
                "dependsOn": n.depends_on.iter().filter_map(|d| plan.nodes.get(*d)).map(|d| json!({
                    "id": d.id, "resourceType": d.resource_type, "resourceName": d.name
                })).collect::<Vec<_>>(),
                "id": n.id, "resourceType": n.resource_type, "resourceName": n.name,
            })
        })
        .collect::<Vec<_>>();
    (Value::Array(providers), Value::Array(dependencies))
}

fn deployment_body(
    id: &str,
    name: &str,
    dr: &DeployRequest,
    plan: &Plan,
    state: &str,
    correlation: &str,
) -> Value {
    let (providers, dependencies) = providers_and_dependencies(plan);
    let mut body = json!({
        "id": id,
        "name": name,
        "type": "Microsoft.Resources/deployments",
    });
    if let Some(l) = &dr.location {
        body["location"] = json!(l);
    }
    if let Some(t) = &dr.tags {
        body["tags"] = t.clone();
    }
    body["properties"] = json!({
        "templateHash": template_hash(&dr.template),
        "parameters": plan.reported_parameters(),
        "mode": if dr.complete { "Complete" } else { "Incremental" },
        "provisioningState": state,
        "timestamp": now_rfc3339(),
        "duration": "PT0S",
        "correlationId": correlation,
        "providers": providers,
        "dependencies": dependencies,
    });
    body
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
    sub: &str,
    rg: Option<&str>,
    name: &str,
) -> Result<Response, ArmError> {
    let input = req.json()?;
    let dr = parse_request(&input, rg.is_none())?;
    let id = deployment_id(sub, rg, name);
    let existing = st.store.get_deployment(&id)?;
    if let Some(row) = &existing {
        let state = row.body["properties"]["provisioningState"]
            .as_str()
            .unwrap_or("");
        if !TERMINAL.contains(&state) {
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
    let plan = build_plan(st, sub, rg, name, &dr)?;
    preflight(st, name, &plan)?;
    let body = deployment_body(&id, name, &dr, &plan, "Accepted", &correlation_of(req));
    let run_id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let mut request = input.clone();
    request["runId"] = json!(run_id);
    let secure = take_secure_parameters(&mut request);
    st.secure_parameters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.to_lowercase(), secure);
    st.store
        .put_deployment(&id, sub, rg, name, "Accepted", &body, &request)?;
    let st2 = Arc::clone(st);
    let key = id.clone();
    tokio::task::spawn_blocking(move || run(&st2, &key));
    let mut resp = json_response(
        if existing.is_some() {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        &body,
    );
    let status_url = format!(
        "{}{id}/operationStatuses/{run_id}?api-version={}",
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

fn validate(
    st: &Arc<AppState>,
    req: &Req,
    sub: &str,
    rg: Option<&str>,
    name: &str,
) -> Result<Response, ArmError> {
    let dr = parse_request(&req.json()?, rg.is_none())?;
    let plan = build_plan(st, sub, rg, name, &dr)?;
    let validated = preflight(st, name, &plan)?;
    let id = deployment_id(sub, rg, name);
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
    if TERMINAL.contains(&state) {
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
    sub: &str,
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
    if !TERMINAL.contains(&state) {
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
    Ok(http::accepted_location(st, sub, &op, req.api_version()))
}

/// Mark deployments interrupted by a stop or crash as Failed (see the module docs).
pub fn recover(st: &AppState) -> Result<(), ArmError> {
    for key in st.store.unfinished_deployments()? {
        if let Some(row) = st.store.get_deployment(&key)? {
            let mut body = row.body;
            body["properties"]["provisioningState"] = json!("Failed");
            body["properties"]["error"] = ArmError::conflict(
                "DeploymentInterrupted",
                "The local cloud stopped while this deployment was running. Resources it had written are complete; the rest were not started. Deploy again to finish.",
            )
            .to_value();
            st.store.update_deployment(&key, "Failed", &body)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- the engine

/// Answers `reference()` from the emulator's state: resources, resource groups and deployments.
struct StateResolver<'a> {
    st: &'a AppState,
}

impl Resolver for StateResolver<'_> {
    fn reference(&self, id: &str, _api: Option<&str>, full: bool) -> Result<Value, armexpr::Error> {
        let store_err = |e: ArmError| armexpr::Error::Resolver {
            code: e.code.clone(),
            message: e.message.clone(),
        };
        let found = if let Some(r) = self.st.store.get_resource(id).map_err(store_err)? {
            Some(r)
        } else if let Some(d) = self.st.store.get_deployment(id).map_err(store_err)? {
            Some(d.body)
        } else {
            let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
            if segs.len() == 4 && segs[2].eq_ignore_ascii_case("resourcegroups") {
                self.st
                    .store
                    .get_rg(segs[1], segs[3])
                    .map_err(store_err)?
                    .map(|(b, _)| b)
            } else {
                None
            }
        };
        match found {
            Some(body) if full => Ok(body),
            Some(body) => Ok(body.get("properties").cloned().unwrap_or(Value::Null)),
            None => Err(armexpr::Error::Resolver {
                code: "ResourceNotFound".into(),
                message: format!("The Resource '{id}' was not found."),
            }),
        }
    }

    fn list(
        &self,
        function: &str,
        id: &str,
        _api_version: &str,
        _body: Option<&Value>,
    ) -> Result<Value, armexpr::Error> {
        let is_storage = ids::parse_str(id)
            .is_some_and(|r| r.resource_type() == "Microsoft.Storage/storageAccounts");
        if function.eq_ignore_ascii_case("listKeys") && is_storage {
            return self.list_keys(id);
        }
        Err(armexpr::Error::Resolver {
            code: "InvalidTemplate".into(),
            message: format!(
                "The local cloud does not emulate {function}() for '{id}' (only listKeys of storage accounts)."
            ),
        })
    }
}

impl StateResolver<'_> {
    /// `listKeys` of a storage account: two deterministic keys (the emulator has no data plane).
    fn list_keys(&self, id: &str) -> Result<Value, armexpr::Error> {
        if self.st.store.get_resource(id).ok().flatten().is_none() {
            return Err(armexpr::Error::Resolver {
                code: "ResourceNotFound".into(),
                message: format!("The Resource '{id}' was not found."),
            });
        }
        let key = |n: &str| super::storage::storage_account_key(id, n);
        Ok(json!({"keys": [
            {"keyName": "key1", "value": key("key1"), "permissions": "FULL"},
            {"keyName": "key2", "value": key("key2"), "permissions": "FULL"},
        ]}))
    }
}

/// What running a plan produced.
#[derive(Default)]
struct Outcome {
    deployed: Vec<String>,
    errors: Vec<ArmError>,
    canceled: bool,
    interrupted: bool,
    outputs: Option<Map<String, Value>>,
}

/// Sleep for the configured step duration, waking early when the server stops.
fn step_sleep(st: &AppState) -> bool {
    let end = Instant::now() + st.config.lro;
    while Instant::now() < end {
        if st.is_stopping() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10).min(end - Instant::now()));
    }
    !st.is_stopping()
}

fn record_operation(
    st: &AppState,
    dep_id: &str,
    operation: &str,
    target: Option<(&str, &str, &str)>,
    started: Instant,
    result: Result<bool, &ArmError>,
) {
    let op_id = uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase();
    let (state, code, message) = match result {
        Ok(true) => ("Succeeded", "Created", json!({"status": "Succeeded"})),
        Ok(false) => ("Succeeded", "OK", json!({"status": "Succeeded"})),
        Err(e) => (
            "Failed",
            e.status.canonical_reason().unwrap_or("BadRequest"),
            json!({"status": "Failed", "error": e.to_value()}),
        ),
    };
    let mut props = json!({
        "provisioningOperation": operation,
        "provisioningState": state,
        "timestamp": now_rfc3339(),
        "duration": duration_iso(started.elapsed()),
        "trackingId": uuid::Uuid::new_v4().to_string(),
        "serviceRequestId": uuid::Uuid::new_v4().to_string(),
        "statusCode": code.replace(' ', ""),
        "statusMessage": message,
    });
    if let Some((id, ty, name)) = target {
        props["targetResource"] = json!({"id": id, "resourceType": ty, "resourceName": name});
    }
    let body = json!({
        "id": format!("{dep_id}/operations/{op_id}"),
        "operationId": op_id,
        "properties": props,
    });
    // A failure to record an operation must not fail the deployment itself.
    let _ = st.store.add_deployment_operation(dep_id, &body);
}

/// Secure parameters with a literal value are removed from `request` (the stored copy) and returned, so that
/// no secret reaches the state database; Key Vault references stay (they hold no secret).
fn take_secure_parameters(request: &mut Value) -> Map<String, Value> {
    let secure: HashSet<String> = request["properties"]["template"]["parameters"]
        .as_object()
        .map(|declared| {
            declared
                .iter()
                .filter(|(_, d)| {
                    d["type"]
                        .as_str()
                        .is_some_and(|t| t.to_ascii_lowercase().starts_with("secure"))
                })
                .map(|(name, _)| name.to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let mut taken = Map::new();
    if let Some(params) = request["properties"]["parameters"].as_object_mut() {
        let names: Vec<String> = params
            .iter()
            .filter(|(n, v)| secure.contains(&n.to_ascii_lowercase()) && v.get("value").is_some())
            .map(|(n, _)| n.clone())
            .collect();
        for n in names {
            if let Some(v) = params.remove(&n) {
                taken.insert(n, v);
            }
        }
    }
    taken
}

/// Every secret string in secure parameters (their values, and the strings inside secure objects).
fn secret_strings<'a>(parameters: impl IntoIterator<Item = &'a Map<String, Value>>) -> Vec<String> {
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) if !s.is_empty() => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(o) => o.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for params in parameters {
        params.values().for_each(|p| strings(&p["value"], &mut out));
    }
    out
}

/// Every secret string of the deployments in flight.
fn secrets_in_flight(st: &AppState) -> Vec<String> {
    secret_strings(
        st.secure_parameters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values(),
    )
}

/// Resource providers never return write-only secrets (a VM's `adminPassword`, a SQL server's
/// `administratorLoginPassword`): drop every property whose value holds a secret before the body is stored.
fn scrub_secrets(body: &Value, secrets: &[String]) -> Value {
    // Short strings (a secure object's `"true"`, `"1"`) would match half the body as substrings: those count
    // only when a property is exactly them.
    let holds = |s: &str| {
        secrets
            .iter()
            .any(|secret| s == secret || (secret.len() >= 8 && s.contains(secret.as_str())))
    };
    match body {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, v)| !v.as_str().is_some_and(holds))
                .map(|(k, v)| (k.clone(), scrub_secrets(v, secrets)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|v| !v.as_str().is_some_and(holds))
                .map(|v| scrub_secrets(v, secrets))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn apply_resource(st: &AppState, node: &armexpr::Node, body: &Value) -> Result<bool, ArmError> {
    let secrets = secrets_in_flight(st);
    let scrubbed;
    let body = if secrets.is_empty() {
        body
    } else {
        scrubbed = scrub_secrets(body, &secrets);
        &scrubbed
    };
    if node
        .resource_type
        .eq_ignore_ascii_case("Microsoft.Resources/resourceGroups")
    {
        let id = ids::parse_str(&node.id);
        let sub = node
            .id
            .split('/')
            .nth(2)
            .map(str::to_string)
            .or_else(|| id.map(|i| i.subscription))
            .unwrap_or_default();
        http::ensure_subscription(st, &sub)?;
        return http::put_resource_group(st, &sub, &node.name, body).map(|(_, created)| created);
    }
    let rid = ids::parse_str(&node.id).ok_or_else(|| {
        ArmError::bad_request(
            "InvalidResourceId",
            format!("'{}' is not a valid resource id.", node.id),
        )
    })?;
    http::write_resource(st, &rid, &node.api_version, body, false).map(|(_, created)| created)
}

fn resource_failure(id: &str, inner: ArmError) -> ArmError {
    ArmError::bad_request(
        "ResourceDeploymentFailure",
        format!("The resource write operation failed to complete successfully, because it reached terminal provisioning state 'Failed'. Resource: '{id}'."),
    )
    .with_target(id)
    .with_details(vec![inner])
}

fn runtime_error(e: &armexpr::Error) -> ArmError {
    let code = e.arm_code().to_string();
    ArmError::bad_request(&code, e.to_string())
}

/// Run a plan's layers, recursing into nested deployments.
fn execute(st: &AppState, plan: &Plan, dep_key: &str, complete: bool, depth: usize) -> Outcome {
    let resolver = StateResolver { st };
    let mut out = Outcome::default();
    let layers = match plan.layers() {
        Ok(l) => l,
        Err(e) => {
            out.errors.push(template_error(&e));
            return out;
        }
    };
    for layer in layers {
        if st.is_stopping() {
            out.interrupted = true;
            return out;
        }
        if st
            .store
            .get_deployment(dep_key)
            .ok()
            .flatten()
            .is_some_and(|r| r.cancel)
        {
            out.canceled = true;
            return out;
        }
        for i in layer {
            let node = &plan.nodes[i];
            let started = Instant::now();
            match node.kind {
                NodeKind::Resource => {
                    let result = plan
                        .evaluate(i, &resolver)
                        .map_err(|e| runtime_error(&e))
                        .and_then(|body| apply_resource(st, node, &body));
                    record_operation(
                        st,
                        dep_key,
                        "Create",
                        Some((&node.id, &node.resource_type, &node.name)),
                        started,
                        result.as_ref().copied(),
                    );
                    match result {
                        Ok(_) => out.deployed.push(node.id.to_lowercase()),
                        Err(e) => out.errors.push(resource_failure(&node.id, e)),
                    }
                }
                NodeKind::Deployment => {
                    let result = run_nested(st, plan, i, depth);
                    record_operation(
                        st,
                        dep_key,
                        "Create",
                        Some((&node.id, "Microsoft.Resources/deployments", &node.name)),
                        started,
                        result.as_ref().map(|()| true),
                    );
                    match result {
                        Ok(()) => out.deployed.push(node.id.to_lowercase()),
                        Err(e) => out.errors.push(e),
                    }
                }
            }
        }
        if !step_sleep(st) {
            out.interrupted = true;
            return out;
        }
        if !out.errors.is_empty() {
            return out;
        }
    }
    if complete {
        if let Some(rg) = &plan.scope.resource_group {
            complete_mode_deletes(st, plan, &rg.name, dep_key, &mut out);
        }
    }
    let started = Instant::now();
    match plan.outputs(&resolver) {
        Ok(o) => {
            out.outputs = Some(o);
            record_operation(
                st,
                dep_key,
                "EvaluateDeploymentOutput",
                None,
                started,
                Ok(false),
            );
        }
        Err(e) => {
            let err = ArmError::bad_request(
                "DeploymentOutputEvaluationFailed",
                format!("Unable to evaluate template outputs: {e}"),
            );
            record_operation(
                st,
                dep_key,
                "EvaluateDeploymentOutput",
                None,
                started,
                Err(&err),
            );
            out.errors.push(err);
        }
    }
    out
}

/// Complete mode: delete what the group holds and the template no longer declares.
fn complete_mode_deletes(st: &AppState, plan: &Plan, rg: &str, dep_key: &str, out: &mut Outcome) {
    let sub = &plan.scope.subscription_id;
    let Ok(existing) = st.store.list_resources(sub, Some(rg)) else {
        return;
    };
    let keep: HashSet<&str> = out.deployed.iter().map(String::as_str).collect();
    for r in existing {
        let Some(id) = r["id"].as_str() else { continue };
        let lower = id.to_lowercase();
        let ty = r["type"].as_str().unwrap_or("");
        // Extension resources (locks, role and policy assignments) are not part of a template's contents.
        if ty.to_lowercase().starts_with("microsoft.authorization/") {
            continue;
        }
        if keep.contains(lower.as_str()) || keep.iter().any(|k| lower.starts_with(&format!("{k}/")))
        {
            continue;
        }
        let started = Instant::now();
        let result = st.store.tx(|tx| Store::delete_resource_tree(tx, id));
        let name = r["name"].as_str().unwrap_or("");
        record_operation(
            st,
            dep_key,
            "Delete",
            Some((id, ty, name)),
            started,
            result.as_ref().map(|_| false),
        );
        if let Err(e) = result {
            out.errors.push(resource_failure(id, e));
        }
    }
}

fn run_nested(st: &AppState, plan: &Plan, i: usize, depth: usize) -> Result<(), ArmError> {
    if depth > 10 {
        return Err(ArmError::bad_request(
            "InvalidTemplate",
            "Nested deployments are nested more than 10 levels deep.",
        ));
    }
    let node = &plan.nodes[i];
    let resolver = StateResolver { st };
    let sub = node.target_subscription.clone();
    http::ensure_subscription(st, &sub)?;
    let rg_location = match &node.target_resource_group {
        Some(rg) => {
            let (body, _) = st
                .store
                .get_rg(&sub, rg)?
                .ok_or_else(|| http::rg_not_found(rg))?;
            body["location"].as_str().map(str::to_string)
        }
        None => None,
    };
    let evaluated = plan.evaluate(i, &resolver).map_err(|e| runtime_error(&e))?;
    let nested = plan
        .nested(i, &resolver, rg_location.as_deref())
        .map_err(|e| template_error(&e))?;
    let complete = evaluated["properties"]["mode"]
        .as_str()
        .is_some_and(|m| m.eq_ignore_ascii_case("complete"));
    let rg = node.target_resource_group.as_deref();
    let key = deployment_id(&sub, rg, &node.name);
    let dr = DeployRequest {
        location: nested.scope.location.clone().filter(|_| rg.is_none()),
        tags: None,
        complete,
        template: evaluated["properties"]["template"].clone(),
        parameters: Value::Null,
    };
    let mut body = deployment_body(
        &key,
        &node.name,
        &dr,
        &nested,
        "Running",
        &uuid::Uuid::new_v4().to_string(),
    );
    let request = json!({"properties": {"mode": if complete {"Complete"} else {"Incremental"}, "template": dr.template}, "nested": true});
    st.store
        .put_deployment(&key, &sub, rg, &node.name, "Running", &body, &request)?;
    let started = Instant::now();
    let outcome = execute(st, &nested, &key, complete, depth + 1);
    let error = finish(st, &key, &mut body, outcome, started);
    match error {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// Write a deployment's final state; returns its error when it did not succeed.
fn finish(
    st: &AppState,
    key: &str,
    body: &mut Value,
    outcome: Outcome,
    started: Instant,
) -> Option<ArmError> {
    if outcome.interrupted {
        // Leave the record as it is: the next start marks it interrupted.
        return Some(ArmError::conflict(
            "DeploymentInterrupted",
            "The local cloud is stopping.",
        ));
    }
    let id = body["id"].as_str().unwrap_or("").to_string();
    let props = &mut body["properties"];
    props["duration"] = json!(duration_iso(started.elapsed()));
    props["timestamp"] = json!(now_rfc3339());
    let (state, error) = if outcome.canceled {
        ("Canceled", None)
    } else if outcome.errors.is_empty() {
        ("Succeeded", None)
    } else {
        let e = ArmError::bad_request(
            "DeploymentFailed",
            "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.",
        )
        .with_target(id.clone())
        .with_details(outcome.errors);
        ("Failed", Some(e))
    };
    props["provisioningState"] = json!(state);
    if let Some(e) = &error {
        props["error"] = e.to_value();
    }
    if state == "Succeeded" {
        props["outputs"] = Value::Object(outcome.outputs.unwrap_or_default());
        props["outputResources"] = Value::Array(
            outcome
                .deployed
                .iter()
                .map(|d| json!({ "id": d }))
                .collect(),
        );
    }
    let _ = st.store.update_deployment(key, state, body);
    if state == "Canceled" {
        return Some(ArmError::conflict(
            "DeploymentCanceled",
            format!("The deployment '{id}' was canceled."),
        ));
    }
    error
}

/// Run a stored deployment to its end (on a blocking thread).
fn run(st: &AppState, key: &str) {
    run_with_secure_parameters(st, key);
    st.secure_parameters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&key.to_lowercase());
}

fn run_with_secure_parameters(st: &AppState, key: &str) {
    let Ok(Some(mut row)) = st.store.get_deployment(key) else {
        return;
    };
    let secure = st
        .secure_parameters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key.to_lowercase())
        .cloned()
        .unwrap_or_default();
    if let Some(params) = row.request["properties"]["parameters"].as_object_mut() {
        params.extend(secure);
    }
    let mut body = row.body;
    let Some(id) = ids_of(&body) else { return };
    let (sub, rg, name) = id;
    let started = Instant::now();
    // A short pause before Running so clients observe Accepted, as with ARM.
    if !step_sleep(st) {
        return;
    }
    body["properties"]["provisioningState"] = json!("Running");
    let _ = st.store.update_deployment(key, "Running", &body);
    let dr = match parse_request(&row.request, rg.is_none()) {
        Ok(d) => d,
        Err(e) => {
            let outcome = Outcome {
                errors: vec![e],
                ..Outcome::default()
            };
            finish(st, key, &mut body, outcome, started);
            return;
        }
    };
    let outcome = match build_plan(st, &sub, rg.as_deref(), &name, &dr) {
        Ok(plan) => execute(st, &plan, key, dr.complete, 0),
        Err(e) => Outcome {
            errors: vec![e],
            ..Outcome::default()
        },
    };
    finish(st, key, &mut body, outcome, started);
}

/// (subscription, resource group, name) of a deployment body's id.
fn ids_of(body: &Value) -> Option<(String, Option<String>, String)> {
    let id = body["id"].as_str()?;
    let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
    let sub = segs.get(1)?.to_string();
    let rg = (segs
        .get(2)
        .is_some_and(|s| s.eq_ignore_ascii_case("resourcegroups")))
    .then(|| segs.get(3).map(|s| (*s).to_string()))
    .flatten();
    let name = segs.last()?.to_string();
    Some((sub, rg, name))
}

// ---------------------------------------------------------------- what-if

/// Read-only properties a what-if comparison leaves out.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
        o.remove("name");
        o.remove("type");
        o.remove("etag");
        if let Some(p) = o.get_mut("properties").and_then(Value::as_object_mut) {
            p.remove("provisioningState");
        }
        if let Some(i) = o.get_mut("identity").and_then(Value::as_object_mut) {
            i.remove("principalId");
            i.remove("tenantId");
        }
    }
    v
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Property deltas between two values, as what-if reports them: objects by dotted path, arrays with children.
fn delta(before: &Value, after: &Value, path: &str, out: &mut Vec<Value>) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, av) in a {
                match b.get(k) {
                    Some(bv) => delta(bv, av, &join(path, k), out),
                    None => out.push(
                        json!({"path": join(path, k), "propertyChangeType": "Create", "after": av}),
                    ),
                }
            }
            for (k, bv) in b {
                if !a.contains_key(k) {
                    out.push(json!({"path": join(path, k), "propertyChangeType": "Delete", "before": bv}));
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            let mut children = Vec::new();
            for i in 0..a.len().max(b.len()) {
                let p = i.to_string();
                match (b.get(i), a.get(i)) {
                    (Some(bv), Some(av)) if bv != av => {
                        if bv.is_object() && av.is_object() {
                            let mut inner = Vec::new();
                            delta(bv, av, "", &mut inner);
                            children.push(json!({"path": p, "propertyChangeType": "Modify", "children": inner}));
                        } else {
                            children.push(json!({"path": p, "propertyChangeType": "Modify", "before": bv, "after": av}));
                        }
                    }
                    (None, Some(av)) => children
                        .push(json!({"path": p, "propertyChangeType": "Create", "after": av})),
                    (Some(bv), None) => children
                        .push(json!({"path": p, "propertyChangeType": "Delete", "before": bv})),
                    _ => {}
                }
            }
            out.push(json!({"path": path, "propertyChangeType": "Array", "children": children}));
        }
        _ => out.push(
            json!({"path": path, "propertyChangeType": "Modify", "before": before, "after": after}),
        ),
    }
}

fn change(resource_id: &str, before: Option<Value>, after: Option<Value>, ids_only: bool) -> Value {
    let (kind, d) = match (&before, &after) {
        (None, Some(_)) => ("Create", None),
        (Some(_), None) => ("Delete", None),
        (Some(b), Some(a)) => {
            let mut d = Vec::new();
            delta(&comparable(b), &comparable(a), "", &mut d);
            if d.is_empty() {
                ("NoChange", None)
            } else {
                ("Modify", Some(d))
            }
        }
        (None, None) => ("Ignore", None),
    };
    if ids_only {
        let kind = match kind {
            "Modify" | "NoChange" => "Deploy",
            k => k,
        };
        return json!({"resourceId": resource_id, "changeType": kind});
    }
    let mut c = json!({"resourceId": resource_id, "changeType": kind});
    if let Some(b) = before {
        c["before"] = b;
    }
    if let Some(a) = after {
        c["after"] = a;
    }
    if let Some(d) = d {
        c["delta"] = Value::Array(d);
    }
    c
}

/// The body a node would be stored with, when it cannot be prepared against current state (its group or
/// parent does not exist yet): what the template says, with the id, name and type filled in.
fn synthesized(node: &armexpr::Node, body: &Value) -> Value {
    let mut b = body.clone();
    if let Some(o) = b.as_object_mut() {
        o.remove("apiVersion");
        o.insert("id".into(), json!(node.id));
        o.insert("name".into(), json!(node.name));
        o.insert("type".into(), json!(node.resource_type));
        if let Some(l) = o
            .get("location")
            .and_then(Value::as_str)
            .map(catalog::normalize_location)
        {
            o.insert("location".into(), json!(l));
        }
    }
    b
}

fn changes_for(
    st: &AppState,
    plan: &Plan,
    complete: bool,
    ids_only: bool,
    secrets: &[String],
    out: &mut Vec<Value>,
) -> Result<(), ArmError> {
    let resolver = StateResolver { st };
    let mut declared = HashSet::new();
    for (i, node) in plan.nodes.iter().enumerate() {
        declared.insert(node.id.to_lowercase());
        // Values that need resources this deployment creates stay as their expression text.
        let body = match plan.evaluate(i, &resolver) {
            Ok(b) => b,
            Err(e)
                if e.is_not_yet_known()
                    || matches!(e.innermost(), armexpr::Error::Resolver { .. }) =>
            {
                node.body.clone()
            }
            Err(e) => return Err(template_error(&e)),
        };
        // Compared as the provider would store it: without write-only secrets.
        let body = if secrets.is_empty() {
            body
        } else {
            scrub_secrets(&body, secrets)
        };
        match node.kind {
            NodeKind::Deployment => {
                let rg_location = node.target_resource_group.as_ref().and_then(|rg| {
                    st.store
                        .get_rg(&node.target_subscription, rg)
                        .ok()
                        .flatten()
                        .and_then(|(b, _)| b["location"].as_str().map(str::to_string))
                });
                match plan.nested(i, &resolver, rg_location.as_deref()) {
                    Ok(nested) => {
                        let nested_complete = body["properties"]["mode"]
                            .as_str()
                            .is_some_and(|m| m.eq_ignore_ascii_case("complete"));
                        changes_for(st, &nested, nested_complete, ids_only, secrets, out)?;
                    }
                    Err(e) => out.push(json!({
                        "resourceId": node.id, "changeType": "Unsupported",
                        "unsupportedReason": format!("The nested deployment cannot be evaluated before deployment: {e}"),
                    })),
                }
            }
            NodeKind::Resource
                if node
                    .resource_type
                    .eq_ignore_ascii_case("Microsoft.Resources/resourceGroups") =>
            {
                let before = st
                    .store
                    .get_rg(&plan.scope.subscription_id, &node.name)?
                    .map(|(b, _)| b);
                let mut after = synthesized(node, &body);
                after["properties"] = json!({"provisioningState": "Succeeded"});
                out.push(change(&node.id, before, Some(after), ids_only));
            }
            NodeKind::Resource => {
                let Some(rid) = ids::parse_str(&node.id) else {
                    return Err(ArmError::bad_request(
                        "InvalidResourceId",
                        format!("'{}' is not a valid resource id.", node.id),
                    ));
                };
                match http::prepare_write(st, &rid, &node.api_version, &body, false) {
                    Ok(w) => out.push(change(&w.id, w.existing, Some(w.body), ids_only)),
                    Err(e)
                        if e.code == "ResourceGroupNotFound"
                            || e.code == "ParentResourceNotFound" =>
                    {
                        out.push(change(
                            &node.id,
                            None,
                            Some(synthesized(node, &body)),
                            ids_only,
                        ));
                    }
                    Err(e) => return Err(e.with_target(node.id.clone())),
                }
            }
        }
    }
    if let Some(rg) = &plan.scope.resource_group {
        for r in st
            .store
            .list_resources(&plan.scope.subscription_id, Some(&rg.name))?
        {
            let Some(id) = r["id"].as_str() else { continue };
            let lower = id.to_lowercase();
            if declared.contains(&lower)
                || declared.iter().any(|k| lower.starts_with(&format!("{k}/")))
            {
                continue;
            }
            let ty = r["type"].as_str().unwrap_or("").to_lowercase();
            if complete && !ty.starts_with("microsoft.authorization/") {
                out.push(change(id, Some(r.clone()), None, ids_only));
            } else {
                let mut c = json!({"resourceId": id, "changeType": "Ignore"});
                if !ids_only {
                    c["before"] = r.clone();
                }
                out.push(c);
            }
        }
    }
    Ok(())
}

fn what_if(
    st: &Arc<AppState>,
    req: &Req,
    sub: &str,
    rg: Option<&str>,
    name: &str,
) -> Result<Response, ArmError> {
    let input = req.json()?;
    let dr = parse_request(&input, rg.is_none())?;
    let ids_only = input["properties"]["whatIfSettings"]["resultFormat"]
        .as_str()
        .is_some_and(|f| f.eq_ignore_ascii_case("ResourceIdOnly"));
    let plan = build_plan(st, sub, rg, name, &dr)?;
    let secrets = secret_strings([&take_secure_parameters(&mut input.clone())]);
    let mut changes = Vec::new();
    let result = match changes_for(st, &plan, dr.complete, ids_only, &secrets, &mut changes) {
        Ok(()) => json!({"status": "Succeeded", "properties": {"changes": changes}, "error": null}),
        Err(e) => json!({"status": "Failed", "error": e.to_value()}),
    };
    let op = http::new_operation(st, "whatif", &deployment_id(sub, rg, name))?;
    let (st2, op2) = (Arc::clone(st), op.clone());
    st.spawn(async move {
        tokio::time::sleep(st2.config.lro).await;
        let _ = http::finish_operation(&st2, &op2, "Succeeded", 200, Some(result));
    });
    Ok(http::accepted_location(st, sub, &op, req.api_version()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_drops_properties_holding_a_secret_and_keeps_the_rest() {
        let body = json!({"properties": {"adminPassword": "Pa55-w0rd-long", "connection": "user=sa;pwd=Pa55-w0rd-long",
                                         "enabled": "1", "count": "10", "name": "vm1", "list": ["Pa55-w0rd-long", "x"]}});
        let secrets = vec!["Pa55-w0rd-long".to_string(), "1".to_string()];
        assert_eq!(
            scrub_secrets(&body, &secrets),
            json!({"properties": {"count": "10", "name": "vm1", "list": ["x"]}})
        );
    }

    #[test]
    fn deltas_use_dotted_paths_for_objects_and_children_for_arrays() {
        let mut d = Vec::new();
        delta(
            &json!({"properties": {"a": 1, "gone": true, "list": ["x", "y"]}}),
            &json!({"properties": {"a": 2, "new": "n", "list": ["x", "z", "w"]}}),
            "",
            &mut d,
        );
        assert_eq!(
            d,
            vec![
                json!({"path": "properties.a", "propertyChangeType": "Modify", "before": 1, "after": 2}),
                json!({"path": "properties.new", "propertyChangeType": "Create", "after": "n"}),
                json!({"path": "properties.list", "propertyChangeType": "Array", "children": [
                    {"path": "1", "propertyChangeType": "Modify", "before": "y", "after": "z"},
                    {"path": "2", "propertyChangeType": "Create", "after": "w"}]}),
                json!({"path": "properties.gone", "propertyChangeType": "Delete", "before": true}),
            ]
        );
    }

    #[test]
    fn read_only_properties_do_not_count_as_changes() {
        let before = json!({"id": "x", "properties": {"provisioningState": "Succeeded", "a": 1}, "identity": {"type": "SystemAssigned", "principalId": "p"}});
        let after = json!({"id": "x", "properties": {"provisioningState": "Succeeded", "a": 1}, "identity": {"type": "SystemAssigned"}});
        assert_eq!(
            change("x", Some(before), Some(after), false)["changeType"],
            "NoChange"
        );
    }
}
