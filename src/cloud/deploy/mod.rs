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

mod engine;
mod handlers;
mod management;
mod secrets;
mod whatif;

pub use engine::recover;
pub(crate) use engine::run;
pub use handlers::route;
pub(crate) use handlers::{result_path, submit, validate_request};
pub(crate) use management::{
    delete as delete_at_management_group, is_under_management_group,
    read as read_at_management_group,
};
pub(crate) use secrets::take_secure_parameters;

use super::catalog;
use super::errors::ArmError;
use super::http::{self, now_rfc3339};
use super::ids;
use super::AppState;
use crate::armexpr::{self, DeploymentScope, Mode, Plan, ResourceGroupScope};
use crate::protocol::ProvisioningState;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Whether a deployment in `state` has ended (ARM's terminal provisioning states).
pub(super) fn is_terminal(state: &str) -> bool {
    ProvisioningState::parse(state).is_terminal()
}

/// Where a deployment (or a deployment stack) is made: a resource group, a subscription or a management
/// group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    ResourceGroup { sub: String, rg: String },
    Subscription { sub: String },
    ManagementGroup { mg: String },
}

impl Scope {
    /// A subscription's or a resource group's scope.
    pub(crate) fn of(sub: &str, rg: Option<&str>) -> Scope {
        match rg {
            Some(rg) => Scope::ResourceGroup {
                sub: sub.to_string(),
                rg: rg.to_string(),
            },
            None => Scope::Subscription {
                sub: sub.to_string(),
            },
        }
    }

    /// The scope with its resource group as stored (ARM's casing), or ARM's error when the group is missing.
    pub(crate) fn existing(self, st: &AppState) -> Result<Scope, ArmError> {
        Ok(match self {
            Scope::ResourceGroup { sub, rg } => {
                let rg = http::existing_rg(st, &sub, &rg)?;
                Scope::ResourceGroup { sub, rg }
            }
            other => other,
        })
    }

    /// The scope's id, canonical.
    pub fn id(&self) -> String {
        match self {
            Scope::ResourceGroup { sub, rg } => ids::scope_id(sub, Some(rg)),
            Scope::Subscription { sub } => ids::scope_id(sub, None),
            Scope::ManagementGroup { mg } => armexpr::management_group_id(mg),
        }
    }

    /// The subscription, unless at a management group.
    pub(crate) fn sub(&self) -> Option<&str> {
        match self {
            Scope::ResourceGroup { sub, .. } | Scope::Subscription { sub } => Some(sub),
            Scope::ManagementGroup { .. } => None,
        }
    }

    /// The resource group, when at one.
    pub(crate) fn rg(&self) -> Option<&str> {
        match self {
            Scope::ResourceGroup { rg, .. } => Some(rg),
            _ => None,
        }
    }

    /// The scope of a deployment's id (`{scope}/providers/Microsoft.Resources/deployments/{name}`).
    pub(crate) fn of_deployment(id: &str) -> Option<Scope> {
        let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
        match segs.as_slice() {
            [s, sub, p, ..]
                if s.eq_ignore_ascii_case("subscriptions")
                    && p.eq_ignore_ascii_case("providers") =>
            {
                Some(Scope::of(sub, None))
            }
            [s, sub, r, rg, ..]
                if s.eq_ignore_ascii_case("subscriptions")
                    && r.eq_ignore_ascii_case("resourcegroups") =>
            {
                Some(Scope::of(sub, Some(rg)))
            }
            [p, ns, m, mg, ..]
                if p.eq_ignore_ascii_case("providers")
                    && ns.eq_ignore_ascii_case("microsoft.management")
                    && m.eq_ignore_ascii_case("managementgroups") =>
            {
                Some(Scope::ManagementGroup {
                    mg: (*mg).to_string(),
                })
            }
            _ => None,
        }
    }

    /// The (sub, rg) columns the store files a deployment under: a management group's deployments under the
    /// group's id.
    pub(super) fn store_keys(&self) -> (String, Option<&str>) {
        match self {
            Scope::ManagementGroup { .. } => (self.id(), None),
            Scope::ResourceGroup { sub, rg } => (sub.clone(), Some(rg)),
            Scope::Subscription { sub } => (sub.clone(), None),
        }
    }
}

pub(super) fn deployment_id(scope: &Scope, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Resources/deployments/{name}",
        scope.id()
    )
}

pub(super) fn not_found(name: &str) -> ArmError {
    ArmError::not_found(
        "DeploymentNotFound",
        format!("Deployment '{name}' could not be found."),
    )
}

/// A deployment request body, checked.
pub(super) struct DeployRequest {
    pub(super) location: Option<String>,
    pub(super) tags: Option<Value>,
    pub(super) complete: bool,
    pub(super) template: Value,
    pub(super) parameters: Value,
}

fn invalid_content(message: &str) -> ArmError {
    ArmError::bad_request(
        "InvalidRequestContent",
        format!("The request content was invalid and could not be deserialized: '{message}'."),
    )
}

pub(super) fn parse_request(body: &Value, above_group: bool) -> Result<DeployRequest, ArmError> {
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
    if complete && above_group {
        return Err(ArmError::bad_request(
            "InvalidDeploymentMode",
            "Complete mode is supported for resource group scope deployments only.",
        ));
    }
    let location = body["location"].as_str().map(catalog::normalize_location);
    if above_group {
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
    let parameters = props.get("parameters").cloned().unwrap_or(Value::Null);
    check_limits(&template, &parameters)?;
    Ok(DeployRequest {
        location: if above_group { location } else { None },
        tags: body.get("tags").filter(|t| t.is_object()).cloned(),
        complete,
        template,
        parameters,
    })
}

/// Azure's documented template limits
/// (<https://learn.microsoft.com/azure/azure-resource-manager/templates/best-practices#template-limits>):
/// bytes of the template and of its parameters, counts of parameters, variables and outputs, and characters
/// in one expression. The resource count (800, copies included) is checked once the plan is expanded.
pub(super) mod limits {
    /// Bytes of a template, and of its parameters.
    pub const TEMPLATE_BYTES: usize = 4 * 1024 * 1024;
    pub const PARAMETERS: usize = 256;
    pub const VARIABLES: usize = 256;
    pub const RESOURCES: usize = 800;
    pub const OUTPUTS: usize = 64;
    pub const EXPRESSION_CHARS: usize = 24_576;
}

fn limit_exceeded(what: &str, limit: usize, actual: usize) -> ArmError {
    ArmError::bad_request(
        "InvalidTemplate",
        format!("Deployment template validation failed: 'The number of {what} limit exceeded. Limit: '{limit}' and actual: '{actual}'.'"),
    )
}

fn check_limits(template: &Value, parameters: &Value) -> Result<(), ArmError> {
    // A request's own template and parameters are already within the router's 4 MB request limit; a nested
    // deployment's template built by expressions can exceed it, and Azure's code for that is
    // `DeploymentJobSizeExceeded` (its troubleshooting page "Resolve errors for job size exceeded").
    for (what, v, code) in [
        ("template", template, "DeploymentJobSizeExceeded"),
        ("parameters", parameters, "DeploymentJobSizeExceeded"),
    ] {
        let bytes = v.to_string().len();
        if bytes > limits::TEMPLATE_BYTES {
            return Err(ArmError::bad_request(
                code,
                format!(
                    "The {what} is {bytes} bytes; Azure accepts at most {} (4 MB). Split the template into nested deployments or modules.",
                    limits::TEMPLATE_BYTES
                ),
            ));
        }
    }
    let count = |key: &str| template[key].as_object().map_or(0, Map::len);
    for (key, what, limit) in [
        ("parameters", "template parameters", limits::PARAMETERS),
        ("variables", "template variables", limits::VARIABLES),
        ("outputs", "template outputs", limits::OUTPUTS),
    ] {
        if count(key) > limit {
            return Err(limit_exceeded(what, limit, count(key)));
        }
    }
    let given = parameters
        .get("parameters")
        .filter(|_| parameters.get("$schema").is_some())
        .unwrap_or(parameters);
    if let Some(n) = given
        .as_object()
        .map(Map::len)
        .filter(|n| *n > limits::PARAMETERS)
    {
        return Err(limit_exceeded("parameters", limits::PARAMETERS, n));
    }
    longest_expression(template, "")
}

/// Refuse a template expression longer than ARM's limit, naming where it is.
fn longest_expression(v: &Value, path: &str) -> Result<(), ArmError> {
    match v {
        Value::String(s) if is_expression(s) => {
            let n = s.chars().count();
            if n > limits::EXPRESSION_CHARS {
                return Err(ArmError::bad_request(
                    "InvalidTemplate",
                    format!(
                        "Deployment template validation failed: 'The template expression at '{path}' is {n} characters long; the limit is '{}'.'",
                        limits::EXPRESSION_CHARS
                    ),
                ));
            }
            Ok(())
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| longest_expression(x, &format!("{path}[{i}]"))),
        Value::Object(o) => o.iter().try_for_each(|(k, x)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            longest_expression(x, &p)
        }),
        _ => Ok(()),
    }
}

pub(super) fn template_error(e: &armexpr::Error) -> ArmError {
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
                    .and_then(|s| http::secret_value(st, &s))
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

/// The scope `subscription()`/`resourceGroup()`/`managementGroup()` describe for a deployment.
fn scope_for(
    st: &AppState,
    scope: &Scope,
    location: Option<&str>,
    name: &str,
) -> Result<DeploymentScope, ArmError> {
    let (sub, rg) = match scope {
        Scope::ManagementGroup { mg } => {
            let mut s = DeploymentScope::management_group(
                mg,
                &st.config.tenant_id,
                location.unwrap_or(""),
                name,
            );
            s.location = location.map(str::to_string);
            return Ok(s);
        }
        Scope::ResourceGroup { sub, rg } => (sub.as_str(), Some(rg.as_str())),
        Scope::Subscription { sub } => (sub.as_str(), None),
    };
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
        management_group: None,
    })
}

pub(super) fn build_plan(
    st: &AppState,
    at: &Scope,
    name: &str,
    dr: &DeployRequest,
) -> Result<Plan, ArmError> {
    let parameters = resolve_key_vault(st, &dr.parameters)?;
    let values =
        armexpr::parameter_values(&parameters, Mode::Strict).map_err(|e| template_error(&e))?;
    let scope = scope_for(st, at, dr.location.as_deref(), name)?;
    let plan =
        Plan::new(&dr.template, &values, &scope, Mode::Strict).map_err(|e| template_error(&e))?;
    let resources = plan.nodes.len();
    if resources > limits::RESOURCES {
        return Err(limit_exceeded(
            "template resources",
            limits::RESOURCES,
            resources,
        ));
    }
    plan.layers().map_err(|e| template_error(&e))?;
    // ARM validates the outputs' expressions up front too; values that need deployed resources wait.
    if let Err(e) = plan.outputs(&armexpr::Unresolved) {
        if !e.is_not_yet_known() {
            return Err(template_error(&e));
        }
    }
    Ok(plan)
}

pub(super) fn is_expression(s: &str) -> bool {
    s.starts_with('[') && !s.starts_with("[[")
}

fn template_hash(template: &Value) -> String {
    let h = Sha256::digest(template.to_string().as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    u64::from_be_bytes(b).to_string()
}

pub(super) fn duration_iso(d: Duration) -> String {
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

pub(super) fn deployment_body(
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

/// The what-if of a deployment request (the full result format of `POST .../whatIf`, computed at once): ARM's
/// change objects (`resourceId`, `changeType`, `before`, `after`, `delta`). A deployment stack's what-if
/// builds on it.
pub(crate) fn what_if_changes(
    st: &AppState,
    scope: &Scope,
    name: &str,
    input: &Value,
) -> Result<Vec<Value>, ArmError> {
    let dr = parse_request(input, scope.rg().is_none())?;
    let plan = build_plan(st, scope, name, &dr)?;
    let secrets = secrets::secret_strings([&secrets::take_secure_parameters(&mut input.clone())]);
    let mut out = Vec::new();
    whatif::changes_for(st, &plan, dr.complete, false, &secrets, &mut out)?;
    Ok(out)
}
