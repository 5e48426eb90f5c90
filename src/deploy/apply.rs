//! Apply: the planned deployments run through ARM, in dependency order, independent ones concurrently.
//!
//! Contract: [`apply`] never starts a deployment whose dependencies did not succeed (it is `Skipped`), and
//! returns an [`ApplyReport`] for success and failure alike (the caller records both). Each deployment:
//! its resource group is created if missing; a deployment of the same name still running (an interrupted
//! run) is waited for; one that already succeeded is kept when the plan has no change for it; otherwise it
//! is (re)deployed under its deterministic name.

use super::plan::Plan;
use super::progress::{Event, Progress};
use super::{deployment_name, request_parameters, request_with, scope_of, Connection, DeployError};
use crate::arm::{Deployment, ProvisioningState};
use crate::model::{Rendered, RenderedDeployment};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A resource that failed, with the provider's own code and message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceFailure {
    pub resource_id: String,
    pub resource_type: String,
    pub code: String,
    pub message: String,
}

/// What happened to one deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentOutcome {
    pub name: String,
    pub deployment_name: String,
    /// `Succeeded`, `Failed`, `Canceled`, or `Skipped` (a dependency failed).
    pub state: String,
    /// How: `deployed`, `resumed` (attached to a run in progress) or `kept` (succeeded before, no change).
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The deployment's own error (code: message), when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<ResourceFailure>,
    /// The deployment stack's id, when the deployment is made as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_id: Option<String>,
    /// Resources the stack stopped managing and left in place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detached: Vec<String>,
    /// Resources the stack stopped managing and deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<String>,
}

impl DeploymentOutcome {
    fn succeeded(&self) -> bool {
        self.state == ProvisioningState::Succeeded.as_str()
    }
}

/// What an apply did, in the trust's dependency order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    pub succeeded: bool,
    pub target: super::TargetRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blueprint_commit: Option<String>,
    pub render_hash: String,
    pub started_at: String,
    pub finished_at: String,
    pub deployments: Vec<DeploymentOutcome>,
}

impl ApplyReport {
    /// The error a failed apply ends the command with (after it is printed and recorded).
    pub fn error(&self) -> Option<DeployError> {
        let failed: Vec<String> = self
            .deployments
            .iter()
            .filter(|d| !d.succeeded())
            .map(|d| format!("{} ({})", d.name, d.state))
            .collect();
        (!failed.is_empty()).then(|| DeployError::DeploymentsFailed {
            failed,
            total: self.deployments.len(),
        })
    }

    /// The report as text: one line per deployment, the failing resources under it.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        for d in &self.deployments {
            s.push_str(&format!(
                "  {} {}: {} ({}){}\n",
                if d.succeeded() { "✓" } else { "✗" },
                d.name,
                d.state,
                d.action,
                d.correlation_id
                    .as_ref()
                    .map(|c| format!(", correlation id {c}"))
                    .unwrap_or_default()
            ));
            if let Some(e) = &d.error {
                s.push_str(&format!("      {e}\n"));
            }
            for r in &d.deleted {
                s.push_str(&format!("      - deleted (no longer declared): {r}\n"));
            }
            for r in &d.detached {
                s.push_str(&format!(
                    "      / detached (no longer declared, left in place): {r}\n"
                ));
            }
            for f in &d.failures {
                s.push_str(&format!(
                    "      {} ({}): {}: {}\n",
                    f.resource_id, f.resource_type, f.code, f.message
                ));
            }
        }
        let created: usize = self.deployments.iter().map(|d| d.resource_ids.len()).sum();
        s.push_str(&format!(
            "Apply {}: {} deployment(s), {created} resource(s) deployed\n",
            if self.succeeded { "complete" } else { "failed" },
            self.deployments.len()
        ));
        s
    }
}

/// How to apply.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Where each deployment's start, steps and end are reported.
    pub progress: Progress,
    /// ARM deployment names found still running before this apply began (an interrupted apply of the
    /// same plan; the name carries the content's hash). Each is attached to, and its result taken, even if
    /// it has finished by the time its turn comes; a failed one is deployed again.
    pub in_flight: std::collections::HashSet<String>,
    /// `--bypass-stack-out-of-sync`.
    pub bypass_stack_out_of_sync: bool,
}

/// Apply `plan` (made from `rendered`) through `conn`.
pub async fn apply(
    conn: &Connection,
    rendered: &Rendered,
    plan: &Plan,
    options: ApplyOptions,
) -> Result<ApplyReport, DeployError> {
    // Every secret is read before anything starts: a missing one must not leave half an estate. The
    // request bodies (copies of the templates) are made only when each deployment is sent.
    let mut requests = HashMap::new();
    for d in &rendered.deployments {
        requests.insert(d.name.clone(), request_parameters(d, conn.target.kind)?);
    }
    let deployer = super::stack::deployer_if_excluded(conn, rendered).await?;
    let deployer = deployer.as_deref();
    let as_deployer = AsDeployer {
        object_id: deployer,
        bypass_out_of_sync: options.bypass_stack_out_of_sync,
    };
    let planned: HashMap<&str, bool> = plan
        .deployments
        .iter()
        .map(|p| (p.name.as_str(), p.has_changes()))
        .collect();
    let progress = &options.progress;
    let started_at = super::now();
    let mut outcomes: HashMap<String, DeploymentOutcome> = HashMap::new();
    let mut started: std::collections::HashSet<String> = Default::default();
    let mut running = FuturesUnordered::new();
    loop {
        for d in &rendered.deployments {
            if started.contains(&d.name) {
                continue;
            }
            let deps: Vec<&String> = d
                .depends_on
                .iter()
                .filter(|n| rendered.deployments.iter().any(|x| &x.name == *n))
                .collect();
            if deps.iter().any(|n| !outcomes.contains_key(n.as_str())) {
                continue;
            }
            started.insert(d.name.clone());
            if let Some(bad) = deps.iter().find(|n| !outcomes[n.as_str()].succeeded()) {
                outcomes.insert(
                    d.name.clone(),
                    DeploymentOutcome {
                        name: d.name.clone(),
                        deployment_name: deployment_name(d),
                        state: "Skipped".into(),
                        action: format!("not started: {bad} did not succeed"),
                        deployment_id: None,
                        correlation_id: None,
                        outputs: BTreeMap::new(),
                        resource_ids: Vec::new(),
                        started_at: None,
                        finished_at: None,
                        error: None,
                        failures: Vec::new(),
                        stack_id: None,
                        detached: Vec::new(),
                        deleted: Vec::new(),
                    },
                );
                continue;
            }
            progress.report(Event::Started {
                deployment: &d.name,
            });
            let changes = planned.get(d.name.as_str()).copied().unwrap_or(true);
            let in_flight = options.in_flight.contains(&deployment_name(d));
            let parameters = requests.remove(&d.name);
            running.push(async move {
                let outcome = match parameters {
                    Some(p) => {
                        let step = progress.step(&d.name);
                        match &d.stack {
                            Some(settings) => {
                                deploy_stack(conn, d, settings, p, changes, as_deployer, &step)
                                    .await
                            }
                            None => deploy_one(conn, d, p, changes, in_flight, &step).await,
                        }
                    }
                    None => Err(DeployError::Target {
                        message: format!("deployment {} has no request", d.name),
                    }),
                };
                progress.report(Event::Finished {
                    deployment: &d.name,
                    state: match &outcome {
                        Ok(o) => &o.state,
                        Err(_) => "error",
                    },
                });
                (d.name.clone(), outcome)
            });
        }
        let Some((name, outcome)) = running.next().await else {
            break;
        };
        outcomes.insert(name, outcome?);
    }
    let deployments: Vec<DeploymentOutcome> = rendered
        .deployments
        .iter()
        .filter_map(|d| outcomes.remove(&d.name))
        .collect();
    Ok(ApplyReport {
        succeeded: deployments.iter().all(DeploymentOutcome::succeeded),
        target: conn.target.clone(),
        blueprint_commit: rendered.blueprint.commit.clone(),
        render_hash: rendered.hash.clone(),
        started_at,
        finished_at: super::now(),
        deployments,
    })
}

/// Create the deployment's resource group when it is missing.
async fn ensure_group(
    conn: &Connection,
    d: &RenderedDeployment,
    step: &dyn Fn(&str),
) -> Result<(), DeployError> {
    let sub = &conn.target.subscription_id;
    let ctx = |what: &str| format!("apply {}: {what}", d.name);
    if let (crate::model::Scope::ResourceGroup, Some(rg)) = (d.scope, &d.resource_group) {
        // Only when missing: a group the blueprint itself declares keeps the tags it was given.
        let exists = conn
            .client
            .resource_group_exists(sub, rg)
            .await
            .map_err(DeployError::arm(ctx(&format!(
                "reading resource group {rg}"
            ))))?;
        if !exists {
            step(&format!("creating resource group {rg}"));
            let tags = [("managed-by".to_owned(), "trustprint".to_owned())]
                .into_iter()
                .collect();
            conn.client
                .create_or_update_resource_group(sub, rg, &d.location, &tags)
                .await
                .map_err(DeployError::arm(ctx(&format!(
                    "creating resource group {rg}"
                ))))?;
        }
    }
    Ok(())
}

/// Deploy `d` as its stack: created or updated unless it already succeeded with nothing to change.
/// The identity's side of a stack update: who deploys (for `deployer` among the excluded principals) and
/// whether to bypass Azure's out-of-sync check (`--bypass-stack-out-of-sync`).
#[derive(Clone, Copy)]
struct AsDeployer<'a> {
    object_id: Option<&'a str>,
    bypass_out_of_sync: bool,
}

async fn deploy_stack(
    conn: &Connection,
    d: &RenderedDeployment,
    settings: &crate::model::StackSettings,
    parameters: serde_json::Map<String, serde_json::Value>,
    has_changes: bool,
    deployer: AsDeployer<'_>,
    step: &dyn Fn(&str),
) -> Result<DeploymentOutcome, DeployError> {
    let sub = &conn.target.subscription_id;
    let scope = scope_of(d, sub);
    let name = super::stack::stack_name(d);
    let ctx = |what: &str| format!("apply {}: {what}", d.name);
    let started_at = super::now();
    ensure_group(conn, d, step).await?;
    let existing = conn
        .client
        .get_stack(&scope, &name)
        .await
        .map_err(DeployError::arm(ctx(&format!("reading stack {name}"))))?;
    let (stack, action) = match existing {
        Some(s) if s.provisioning_state == ProvisioningState::Succeeded && !has_changes => {
            (s, "kept")
        }
        _ => {
            step("deploying the stack");
            let request = super::stack::request(
                d,
                settings,
                request_with(d, parameters),
                deployer.object_id,
                deployer.bypass_out_of_sync,
            )?;
            let s = match conn
                .client
                .create_or_update_stack(&scope, &name, &request)
                .await
            {
                Ok(s) => s,
                Err(e)
                    if e.code()
                        .is_some_and(|c| c.eq_ignore_ascii_case(super::stack::OUT_OF_SYNC)) =>
                {
                    return Err(DeployError::StackOutOfSync {
                        message: super::stack::out_of_sync_message(&d.name, &name, "apply"),
                    })
                }
                Err(crate::arm::Error::Api { status, detail, .. })
                    if refused_by_template(status, &detail.code) =>
                {
                    return Ok(refused(d, &name, &detail, started_at));
                }
                Err(e) => return Err(DeployError::arm(ctx(&format!("deploying stack {name}")))(e)),
            };
            (s, "deployed")
        }
    };
    let ids = |v: &[crate::arm::StackResource]| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let mut failures: Vec<ResourceFailure> = stack
        .failed_resources
        .iter()
        .map(|r| {
            let e = r.error.clone().unwrap_or_default();
            ResourceFailure {
                resource_id: r.id.clone(),
                resource_type: super::plan::resource_type(&r.id),
                code: e.code,
                message: e.message,
            }
        })
        .collect();
    if let Some(e) = &stack.error {
        if failures.is_empty() {
            for cause in e.root_causes() {
                let id = cause.target.clone().unwrap_or_default();
                failures.push(ResourceFailure {
                    resource_type: super::plan::resource_type(&id),
                    resource_id: id,
                    code: cause.code.clone(),
                    message: cause.message.clone(),
                });
            }
        }
    }
    Ok(DeploymentOutcome {
        name: d.name.clone(),
        deployment_name: name,
        state: stack.provisioning_state.to_string(),
        action: action.to_owned(),
        deployment_id: stack.deployment_id.clone(),
        correlation_id: None,
        outputs: stack
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect(),
        resource_ids: ids(&stack.resources),
        started_at: Some(started_at),
        finished_at: Some(super::now()),
        error: stack
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.code, e.message)),
        failures,
        stack_id: Some(stack.id.clone()),
        detached: if action == "kept" {
            Vec::new()
        } else {
            ids(&stack.detached_resources)
        },
        deleted: if action == "kept" {
            Vec::new()
        } else {
            ids(&stack.deleted_resources)
        },
    })
}

async fn deploy_one(
    conn: &Connection,
    d: &RenderedDeployment,
    parameters: serde_json::Map<String, serde_json::Value>,
    has_changes: bool,
    in_flight: bool,
    step: &dyn Fn(&str),
) -> Result<DeploymentOutcome, DeployError> {
    let sub = &conn.target.subscription_id;
    let scope = scope_of(d, sub);
    let name = deployment_name(d);
    let ctx = |what: &str| format!("apply {}: {what}", d.name);
    let started_at = super::now();
    ensure_group(conn, d, step).await?;
    let existing = match conn.client.get_deployment(&scope, &name).await {
        Ok(dep) => Some(dep),
        Err(crate::arm::Error::Api { status: 404, .. }) => None,
        Err(e) => return Err(DeployError::arm(ctx("reading the deployment"))(e)),
    };
    let (deployment, action) = match existing {
        Some(dep) if !dep.provisioning_state.is_terminal() => {
            step("attaching to the run in progress");
            tracing::info!(deployment = %name, "an earlier run is still deploying; waiting for it");
            let dep = conn
                .client
                .wait_for_deployment(&scope, &name)
                .await
                .map_err(DeployError::arm(ctx("waiting for the run in progress")))?;
            (dep, "resumed")
        }
        Some(dep) if dep.provisioning_state == ProvisioningState::Succeeded && in_flight => {
            (dep, "resumed")
        }
        Some(dep) if dep.provisioning_state == ProvisioningState::Succeeded && !has_changes => {
            (dep, "kept")
        }
        _ => {
            step("deploying");
            // The template is copied into the request only now, and dropped once ARM has it.
            let body = request_with(d, parameters);
            let started = match conn.client.begin_deployment(&scope, &name, &body).await {
                Ok(s) => s,
                // ARM refused the template before deploying (validation, policy): a failed deployment
                // with the reasons per resource, recorded like any other failure.
                Err(crate::arm::Error::Api { status, detail, .. })
                    if refused_by_template(status, &detail.code) =>
                {
                    return Ok(refused(d, &name, &detail, started_at));
                }
                Err(e) => return Err(DeployError::arm(ctx("starting the deployment"))(e)),
            };
            drop(body);
            let dep = conn
                .client
                .finish_deployment(started)
                .await
                .map_err(DeployError::arm(ctx("waiting for the deployment")))?;
            (dep, "deployed")
        }
    };
    outcome(conn, d, &scope, deployment, action, started_at).await
}

fn refused(
    d: &RenderedDeployment,
    name: &str,
    detail: &crate::arm::ErrorDetail,
    started_at: String,
) -> DeploymentOutcome {
    let failures = detail
        .root_causes()
        .into_iter()
        .map(|c| {
            let id = c.target.clone().unwrap_or_default();
            ResourceFailure {
                resource_type: super::plan::resource_type(&id),
                resource_id: id,
                code: c.code.clone(),
                message: c.message.clone(),
            }
        })
        .collect();
    DeploymentOutcome {
        name: d.name.clone(),
        deployment_name: name.to_owned(),
        state: ProvisioningState::Failed.to_string(),
        action: "refused by ARM".into(),
        deployment_id: None,
        correlation_id: None,
        outputs: BTreeMap::new(),
        resource_ids: Vec::new(),
        started_at: Some(started_at),
        finished_at: Some(super::now()),
        error: Some(format!("{}: {}", detail.code, detail.message)),
        failures,
        stack_id: None,
        detached: Vec::new(),
        deleted: Vec::new(),
    }
}

async fn outcome(
    conn: &Connection,
    d: &RenderedDeployment,
    scope: &crate::arm::DeploymentScope,
    dep: Deployment,
    action: &str,
    started_at: String,
) -> Result<DeploymentOutcome, DeployError> {
    let mut failures = Vec::new();
    if dep.provisioning_state != ProvisioningState::Succeeded {
        // "DeploymentFailed" says nothing; the operations say which resource failed and why.
        let ops = conn
            .client
            .deployment_failures(scope, &dep.name)
            .await
            .map_err(DeployError::arm(format!(
                "apply {}: reading the failed operations",
                d.name
            )))?;
        for op in ops {
            let target = op.target_resource.unwrap_or(crate::arm::TargetResource {
                id: String::new(),
                resource_type: String::new(),
                resource_name: String::new(),
            });
            for cause in op.error.iter().flat_map(|e| e.root_causes()) {
                failures.push(ResourceFailure {
                    resource_id: target.id.clone(),
                    resource_type: target.resource_type.clone(),
                    code: cause.code.clone(),
                    message: cause.message.clone(),
                });
            }
        }
    }
    Ok(DeploymentOutcome {
        name: d.name.clone(),
        deployment_name: dep.name.clone(),
        state: dep.provisioning_state.to_string(),
        action: action.to_owned(),
        deployment_id: Some(dep.id.clone()),
        correlation_id: dep.correlation_id.clone(),
        outputs: dep
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect(),
        resource_ids: dep.output_resources.clone(),
        started_at: Some(started_at),
        finished_at: dep.timestamp.clone().or_else(|| Some(super::now())),
        error: dep
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.code, e.message)),
        failures,
        stack_id: None,
        detached: Vec::new(),
        deleted: Vec::new(),
    })
}

/// Whether ARM's refusal to start a deployment is the deployment's own failure, to be recorded as its outcome:
/// a 4xx about the template or the request (validation, policy). An authorisation failure is the identity's,
/// and a 5xx the service's (or, on the local cloud, the machine's own state, such as a locked database):
/// those end the command with an error and are never recorded as the trust's outcome (issue 18).
fn refused_by_template(status: u16, code: &str) -> bool {
    status < 500 && code != "AuthorizationFailed"
}

#[cfg(test)]
mod refusal_tests {
    #[test]
    fn only_a_refusal_of_the_template_is_the_deployments_outcome() {
        assert!(super::refused_by_template(400, "InvalidTemplate"));
        assert!(super::refused_by_template(400, "RequestDisallowedByPolicy"));
        assert!(!super::refused_by_template(403, "AuthorizationFailed"));
        assert!(!super::refused_by_template(500, "InternalServerError"));
        assert!(!super::refused_by_template(503, "ServiceUnavailable"));
    }
}
