//! The execution engine: runs a stored deployment's plan layer by layer on a blocking thread, writing each
//! resource through the same code as a direct request, recursing into nested deployments, then evaluating
//! the outputs and writing the deployment's final state.

use super::secrets::{scrub_secrets, secrets_in_flight};
use super::{
    build_plan, deployment_body, deployment_id, duration_iso, management, parse_request,
    template_error, DeployRequest, Scope,
};
use crate::armexpr::{self, NodeKind, Plan, Resolver};
use crate::cloud::auth::{self, Caller};
use crate::cloud::errors::ArmError;
use crate::cloud::http::{self, now_rfc3339};
use crate::cloud::ids;
use crate::cloud::rbac;
use crate::cloud::store::Store;
use crate::cloud::AppState;
use crate::protocol::ProvisioningState;
use axum::http::Method;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

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

/// Answers `reference()` from the emulator's state: resources, resource groups and deployments.
pub(super) struct StateResolver<'a> {
    pub(super) st: &'a AppState,
    /// The id of the scope the deployment runs at (`/subscriptions/{s}[/resourceGroups/{rg}]` or a
    /// management group's): ARM reads a relative id (`Microsoft.Sql/servers/sql1`) in `reference()` as a
    /// resource there.
    pub(super) scope: String,
}

impl<'a> StateResolver<'a> {
    pub(super) fn new(st: &'a AppState, plan: &Plan) -> Self {
        StateResolver {
            st,
            scope: plan.scope.base_id(),
        }
    }

    /// `id` made absolute: `Namespace/type/name[/...]` is a resource of this deployment's scope. A resource
    /// group written as a subscription resource (`subscriptionResourceId('Microsoft.Resources/resourceGroups',
    /// rg)`, and what `extensionResourceId` builds on it: Bicep's module outputs across scopes) is the group
    /// `/subscriptions/{s}/resourceGroups/{rg}`.
    fn absolute(&self, id: &str) -> String {
        let relative = !id.starts_with('/')
            && id.split('/').next().is_some_and(|ns| ns.contains('.'))
            && id.split('/').count() >= 3;
        if relative {
            return format!("{}/providers/{id}", self.scope);
        }
        let segs: Vec<&str> = id.split('/').collect();
        if segs.len() >= 7
            && segs[0].is_empty()
            && segs[1].eq_ignore_ascii_case("subscriptions")
            && segs[3].eq_ignore_ascii_case("providers")
            && segs[4].eq_ignore_ascii_case("Microsoft.Resources")
            && segs[5].eq_ignore_ascii_case("resourceGroups")
        {
            let rest = segs[7..].join("/");
            let group = format!("/subscriptions/{}/resourceGroups/{}", segs[2], segs[6]);
            return if rest.is_empty() {
                group
            } else {
                format!("{group}/{rest}")
            };
        }
        id.to_string()
    }
}

impl StateResolver<'_> {
    /// `list()` of a web app's `config/appsettings` or `config/connectionstrings`: the settings as stored, from
    /// the config resource when one was written, else from the site's `siteConfig` (Bicep's
    /// `existingSettings.list().properties`, to merge settings).
    fn web_config_list(&self, function: &str, rid: &ids::ResourceId) -> Option<Value> {
        let t = rid.resource_type().to_ascii_lowercase();
        let name = rid.names.last()?.to_ascii_lowercase();
        if !function.eq_ignore_ascii_case("list")
            || !(t == "microsoft.web/sites/config" || t == "microsoft.web/sites/slots/config")
            || !(name == "appsettings" || name == "connectionstrings")
        {
            return None;
        }
        let id = rid.id();
        let properties = match self.st.store.get_resource(&id).ok().flatten() {
            Some(stored) => {
                let mut props = stored["properties"].clone();
                if let Some(o) = props.as_object_mut() {
                    o.remove("provisioningState");
                }
                props
            }
            None => {
                let mut site = rid.clone();
                site.types.pop();
                site.names.pop();
                let body = self.st.store.get_resource(&site.id()).ok().flatten()?;
                let key = if name == "appsettings" {
                    "appSettings"
                } else {
                    "connectionStrings"
                };
                let mut out = serde_json::Map::new();
                for s in body["properties"]["siteConfig"][key]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let Some(n) = s["name"].as_str() else {
                        continue;
                    };
                    let v = if name == "appsettings" {
                        s["value"].clone()
                    } else {
                        serde_json::json!({"value": s["connectionString"], "type": s["type"]})
                    };
                    out.insert(n.to_string(), v);
                }
                Value::Object(out)
            }
        };
        Some(serde_json::json!({
            "id": id,
            "name": rid.names.last(),
            "type": rid.resource_type(),
            "properties": properties,
        }))
    }
}

impl Resolver for StateResolver<'_> {
    fn reference(&self, id: &str, _api: Option<&str>, full: bool) -> Result<Value, armexpr::Error> {
        let id = &self.absolute(id);
        let store_err = |e: ArmError| armexpr::Error::Resolver {
            code: e.code.clone(),
            message: e.message.clone(),
        };
        let at_group = management::is_under_management_group(id);
        let found = if let Some(r) = at_group
            .then(|| management::read(self.st, id))
            .transpose()
            .map_err(store_err)?
            .flatten()
        {
            Some(r)
        } else if let Some(r) = (!at_group)
            .then(|| self.st.store.get_resource(id))
            .transpose()
            .map_err(store_err)?
            .flatten()
        {
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
            // Secret values are write-only here too, as in Azure.
            Some(body) if full => Ok(http::redact(body)),
            Some(body) => Ok(http::redact(body)
                .get("properties")
                .cloned()
                .unwrap_or(Value::Null)),
            None => Err(resource_not_found(id)),
        }
    }

    fn providers(
        &self,
        namespace: &str,
        resource_type: Option<&str>,
    ) -> Result<Value, armexpr::Error> {
        crate::cloud::catalog::provider_registration(namespace, resource_type).map_err(|e| {
            armexpr::Error::Resolver {
                code: e.code.clone(),
                message: e.message.clone(),
            }
        })
    }

    fn list(
        &self,
        function: &str,
        id: &str,
        api_version: &str,
        _body: Option<&Value>,
    ) -> Result<Value, armexpr::Error> {
        let id = &self.absolute(id);
        let rid = ids::parse_str(id).ok_or_else(|| resource_not_found(id))?;
        // The action's target may be a sub-resource the provider answers for (an authorization rule, a web
        // app's publishing credentials); the resource at its top must exist.
        let mut top = rid.clone();
        top.types.truncate(1);
        top.names.truncate(1);
        if self
            .st
            .store
            .get_resource(&top.id())
            .ok()
            .flatten()
            .is_none()
        {
            return Err(resource_not_found(&top.id()));
        }
        if let Some(settings) = self.web_config_list(function, &rid) {
            return Ok(settings);
        }
        crate::cloud::providers::list_action(&rid.resource_type(), &rid.id(), function, api_version)
            .ok_or_else(|| armexpr::Error::Resolver {
                code: "InvalidTemplate".into(),
                message: format!(
                    "The local cloud does not emulate {function}() for '{id}' (docs/local-cloud.md lists the list* actions it answers)."
                ),
            })
    }
}

/// ARM's `ResourceNotFound` for a resource a template function reads: "The Resource 'Namespace/type/name' under
/// resource group 'rg' was not found. ...", as Azure words it, when `id` parses as a resource id.
fn resource_not_found(id: &str) -> armexpr::Error {
    let message = match ids::parse_str(id) {
        Some(rid) if !rid.types.is_empty() => http::resource_not_found(&rid).message,
        _ => format!("The Resource '{id}' was not found."),
    };
    armexpr::Error::Resolver {
        code: "ResourceNotFound".into(),
        message,
    }
}

/// Who started a deployment, as stored with its request (`None` for deployments stored before callers were
/// recorded, which then run unchecked as they did).
fn caller_of(request: &Value) -> Option<Caller> {
    let c = &request["caller"];
    Some(Caller {
        client_id: c["clientId"].as_str()?.to_string(),
        tenant_id: c["tenantId"].as_str()?.to_string(),
    })
}

/// Every write and delete a deployment makes passes the checks a direct request by its caller would: the
/// subscription's tenant must accept the caller's token, and the caller's roles must allow the action.
/// (Policy is checked by the write path itself, as for a direct request.)
fn authorize(
    st: &AppState,
    caller: Option<&Caller>,
    method: &Method,
    id: &str,
) -> Result<(), ArmError> {
    let Some(caller) = caller else {
        return Ok(());
    };
    let segs: Vec<&str> = id.split('/').collect();
    if let (Some(s), Some(sub)) = (segs.get(1), segs.get(2).filter(|s| !s.is_empty())) {
        if s.eq_ignore_ascii_case("subscriptions") {
            auth::check_tenant(st, caller, sub)?;
        }
    }
    rbac::authorize_id(&st.config.role_assignments, &caller.client_id, method, id)?;
    // A deployment stack's deny assignments hold against other deployments too; a stack's own run is not
    // held back by its own assignments (they are suspended while it runs).
    crate::cloud::deny::check_deployment_write(st, caller, method, id)
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

fn apply_resource(
    st: &AppState,
    caller: Option<&Caller>,
    node: &armexpr::Node,
    body: &Value,
) -> Result<bool, ArmError> {
    authorize(st, caller, &Method::PUT, &node.id)?;
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
    if management::is_under_management_group(&node.id) {
        return management::write(st, &node.id, &node.resource_type, body);
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

pub(super) fn runtime_error(e: &armexpr::Error) -> ArmError {
    let code = e.arm_code().to_string();
    ArmError::bad_request(&code, e.to_string())
}

/// Run a plan's layers, recursing into nested deployments. `root` is the deployment at the top of the tree
/// (a deployment stack knows its own by that id).
fn execute(
    st: &AppState,
    caller: Option<&Caller>,
    plan: &Plan,
    (dep_key, root): (&str, &str),
    complete: bool,
    depth: usize,
) -> Outcome {
    let resolver = StateResolver::new(st, plan);
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
            .deployment_cancel_requested(dep_key)
            .ok()
            .flatten()
            .unwrap_or(false)
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
                        .and_then(|body| apply_resource(st, caller, node, &body));
                    if result.is_ok() {
                        let _ = crate::cloud::stacks::changed_outside(st, &node.id, root);
                    }
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
                    let result = run_nested(st, caller, plan, i, root, depth);
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
            complete_mode_deletes(st, caller, plan, &rg.name, (dep_key, root), &mut out);
        }
    }
    let started = Instant::now();
    match plan.outputs(&resolver) {
        Ok(o) => {
            out.outputs = Some(without_secure_outputs(o));
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

/// Outputs as Azure returns them: `securestring` and `secureObject` outputs are left out (and so never
/// stored), whatever their value.
fn without_secure_outputs(outputs: Map<String, Value>) -> Map<String, Value> {
    outputs
        .into_iter()
        .filter(|(_, o)| {
            !o["type"]
                .as_str()
                .is_some_and(|t| t.to_ascii_lowercase().starts_with("secure"))
        })
        .collect()
}

/// Complete mode: delete what the group holds and the template no longer declares.
fn complete_mode_deletes(
    st: &AppState,
    caller: Option<&Caller>,
    plan: &Plan,
    rg: &str,
    (dep_key, root): (&str, &str),
    out: &mut Outcome,
) {
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
        let result = authorize(st, caller, &Method::DELETE, id)
            .and_then(|()| st.store.tx(|tx| Store::delete_resource_tree(tx, id)));
        if result.is_ok() {
            let _ = crate::cloud::stacks::changed_outside(st, id, root);
        }
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

fn run_nested(
    st: &AppState,
    caller: Option<&Caller>,
    plan: &Plan,
    i: usize,
    root: &str,
    depth: usize,
) -> Result<(), ArmError> {
    if depth > 10 {
        return Err(ArmError::bad_request(
            "InvalidTemplate",
            "Nested deployments are nested more than 10 levels deep.",
        ));
    }
    let node = &plan.nodes[i];
    let resolver = StateResolver::new(st, plan);
    let sub = node.target_subscription.clone();
    let scope = match &node.target_management_group {
        Some(mg) => Scope::ManagementGroup { mg: mg.clone() },
        None => Scope::of(&sub, node.target_resource_group.as_deref()),
    };
    // The nested deployment is a write of the caller's, in its own scope.
    authorize(st, caller, &Method::PUT, &deployment_id(&scope, &node.name))?;
    if scope.sub().is_some() {
        http::ensure_subscription(st, &sub)?;
    }
    let rg_location = match scope.rg() {
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
    let key = deployment_id(&scope, &node.name);
    let dr = DeployRequest {
        location: nested
            .scope
            .location
            .clone()
            .filter(|_| scope.rg().is_none()),
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
    // An inner template evaluated in the outer scope may hold a secure parameter's value: never stored.
    let request = scrub_secrets(&request, &secrets_in_flight(st));
    let (store_sub, store_rg) = scope.store_keys();
    st.store.put_deployment(
        &key, &store_sub, store_rg, &node.name, "Running", &body, &request,
    )?;
    let started = Instant::now();
    let outcome = execute(st, caller, &nested, (&key, root), complete, depth + 1);
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
        (ProvisioningState::Canceled, None)
    } else if outcome.errors.is_empty() {
        (ProvisioningState::Succeeded, None)
    } else {
        let e = ArmError::bad_request(
            "DeploymentFailed",
            "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.",
        )
        .with_target(id.clone())
        .with_details(outcome.errors);
        (ProvisioningState::Failed, Some(e))
    };
    props["provisioningState"] = json!(state.as_str());
    if let Some(e) = &error {
        props["error"] = e.to_value();
    }
    if state == ProvisioningState::Succeeded {
        props["outputs"] = Value::Object(outcome.outputs.unwrap_or_default());
        props["outputResources"] = Value::Array(
            outcome
                .deployed
                .iter()
                .map(|d| json!({ "id": d }))
                .collect(),
        );
    }
    // Azure Policy's evaluation after a deployment: the states are there when the client sees it finish.
    if let Some(sub) = Scope::of_deployment(&id).as_ref().and_then(Scope::sub) {
        let _ = crate::cloud::policy::evaluate_subscription(st, sub);
    }
    let _ = st.store.update_deployment(key, state.as_str(), body);
    if state == ProvisioningState::Canceled {
        return Some(ArmError::conflict(
            "DeploymentCanceled",
            format!("The deployment '{id}' was canceled."),
        ));
    }
    error
}

/// Run a stored deployment to its end (on a blocking thread).
pub(crate) fn run(st: &AppState, key: &str) {
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
    let caller = caller_of(&row.request);
    if let Some(params) = row.request["properties"]["parameters"].as_object_mut() {
        params.extend(secure);
    }
    let mut body = row.body;
    let Some(id) = body["id"].as_str().map(str::to_string) else {
        return;
    };
    let Some(scope) = Scope::of_deployment(&id) else {
        return;
    };
    let name = id.rsplit('/').next().unwrap_or_default().to_string();
    let started = Instant::now();
    // A short pause before Running so clients observe Accepted, as with ARM.
    if !step_sleep(st) {
        return;
    }
    body["properties"]["provisioningState"] = json!("Running");
    let _ = st.store.update_deployment(key, "Running", &body);
    let dr = match parse_request(&row.request, scope.rg().is_none()) {
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
    let outcome = match build_plan(st, &scope, &name, &dr) {
        Ok(plan) => execute(st, caller.as_ref(), &plan, (key, key), dr.complete, 0),
        Err(e) => Outcome {
            errors: vec![e],
            ..Outcome::default()
        },
    };
    finish(st, key, &mut body, outcome, started);
}
