//! Stages 4 and 5, plan and apply (and destroy): a rendered trust made real through Azure Resource Manager,
//! on Azure or on the local cloud.
//!
//! Contracts:
//! - [`plan::plan`] takes a [`Rendered`] trust and a [`target::Connection`] and returns a [`plan::Plan`]: one
//!   what-if per deployment, run concurrently, listed in dependency order. A resource-group deployment whose group does not exist yet
//!   is not sent to what-if (ARM would refuse it); its resources, expanded by [`crate::armexpr`], are all
//!   creates. Nothing is changed in the target.
//! - [`apply::apply`] takes the same trust and its plan and returns an [`apply::ApplyReport`]: deployments in
//!   dependency order, independent ones concurrently, each under a deterministic name
//!   ([`deployment_name`]) so that a rerun attaches to a deployment still running, or keeps one that
//!   already succeeded with the same inputs, instead of starting again. A failed deployment is a report
//!   (with the failing resources' own codes and messages), not an error.
//! - [`destroy::destroy`] deletes what the trust's deployments created, in reverse dependency order.
//!
//! - [`critical::critical_path`] is the least time applying a trust can take on a cloud of given latency and
//!   operation time; the fleet benchmark compares measured applies with it.
//! - Many trusts at once (a fleet run): [`plan_trust_async`], [`apply_trust_async`] and
//!   [`crate::run::stamp_checked_async`] run on the caller's async runtime as trusts of one [`Batch`], which
//!   shares one ARM client per endpoint and identity between them; the blocking [`plan_trust`],
//!   [`apply_trust`] and [`crate::run::stamp`] make a runtime and a client of their own.
//!
//! Secrets: parameters with `secret_env` are read from the environment when the request is built and sent
//! in that request only; they never reach a log, a plan file, a report or the fleet record.

// DeployError keeps ARM's whole error (details, request ids) for the operator; it only travels on the cold
// path of a failed command, and it is boxed inside crate::Error, so its size costs nothing that matters.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod critical;
pub mod destroy;
pub mod plan;
pub mod progress;
pub mod stack;
pub mod target;

use crate::arm::DeploymentScope;
use crate::model::{Rendered, RenderedDeployment, Scope};
use serde_json::{json, Map, Value};
use std::io::{BufRead, IsTerminal, Write};

pub use apply::{ApplyReport, DeploymentOutcome};
pub use destroy::DestroyReport;
pub use plan::{Plan, Summary};
pub use target::{connect, Clients, Connection, TargetKind, TargetOptions, TargetRef, TrustTarget};

/// What can stop plan, apply or destroy (besides the ARM client's own errors).
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A request to ARM failed; `context` says which step.
    #[error("{context}: {source}")]
    Arm {
        context: String,
        #[source]
        source: crate::arm::Error,
    },
    /// The ARM client could not be set up (credential configuration, endpoint).
    #[error(transparent)]
    Client(#[from] crate::arm::Error),
    /// The embedded local cloud did not start.
    #[error(transparent)]
    Cloud(#[from] crate::cloud::Error),
    /// The target cannot be used as given.
    #[error("target: {message}")]
    Target { message: String },
    /// Azure refused to update or delete a deployment stack whose list of managed resources may be out of
    /// sync (`DeploymentStackOutOfSync`); the message says what to check and the flag that bypasses it.
    #[error("{message}")]
    StackOutOfSync { message: String },
    /// A trust's credential reference in fleet.yaml cannot be resolved (an environment variable it names is
    /// not set, say).
    #[error("trust {ods}: fleet.yaml {field}: {message}")]
    TrustCredential {
        ods: String,
        field: String,
        message: String,
    },
    /// A secret parameter's environment variable is not set.
    #[error(
        "deployment '{deployment}': parameter {parameter} takes its value from environment variable \
         {variable}, which is not set"
    )]
    SecretMissing {
        deployment: String,
        parameter: String,
        variable: String,
    },
    /// The plan deletes data-bearing resources and `--allow-data-loss` was not given.
    #[error(
        "the plan deletes {} data-bearing resource(s); refusing without --allow-data-loss:\n{}",
        resources.len(),
        resources.iter().map(|r| format!("  - {r}")).collect::<Vec<_>>().join("\n")
    )]
    DataLoss { resources: Vec<String> },
    /// A change needs a typed confirmation and stdin is not a terminal.
    #[error("{command} changes {target}: confirm by typing 'yes' at a terminal, or pass --yes")]
    ConfirmationNeeded { command: String, target: String },
    /// The confirmation was not given.
    #[error("{command} cancelled: the answer was not 'yes'; nothing was changed")]
    Cancelled { command: String },
    /// The plan file cannot be read.
    #[error("plan file {}: {message}", path.display())]
    PlanFile {
        path: std::path::PathBuf,
        message: String,
    },
    /// The inputs changed since the plan was made.
    #[error(
        "plan file {} is stale: {what} was {planned} when planned and is {now} now; run plan again",
        path.display()
    )]
    StalePlan {
        path: std::path::PathBuf,
        what: String,
        planned: String,
        now: String,
    },
    /// The live target changed since the plan was made: a new what-if differs from the saved one.
    #[error(
        "plan file {} is stale: the target changed since the plan was made:\n{}\nrun plan again",
        path.display(),
        differences.iter().map(|d| format!("  - {d}")).collect::<Vec<_>>().join("\n")
    )]
    LiveStateChanged {
        path: std::path::PathBuf,
        differences: Vec<String>,
    },
    /// One or more deployments failed (the report lists each failing resource).
    #[error("{} of {total} deployment(s) failed: {}", failed.len(), failed.join(", "))]
    DeploymentsFailed { failed: Vec<String>, total: usize },
    /// A file (a plan) could not be written.
    #[error(transparent)]
    Write(crate::atomic::Error),
    /// A bug in trustprint.
    #[error("internal error (a bug in trustprint, please report it): {message}")]
    Internal { message: String },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl DeployError {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> crate::types::ExitCode {
        use crate::types::ExitCode;
        match self {
            DeployError::Client(crate::arm::Error::CredentialConfig { .. })
            | DeployError::Target { .. }
            | DeployError::SecretMissing { .. }
            | DeployError::DataLoss { .. }
            | DeployError::ConfirmationNeeded { .. }
            | DeployError::PlanFile { .. } => ExitCode::InvalidInput,
            DeployError::Internal { .. } => ExitCode::Internal,
            _ => ExitCode::Failure,
        }
    }

    pub(crate) fn arm(context: impl Into<String>) -> impl FnOnce(crate::arm::Error) -> Self {
        let context = context.into();
        move |source| DeployError::Arm { context, source }
    }
}

/// An apply or destroy outcome as the fleet record keeps it (in the trust's lock).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum DeploymentRecord {
    Apply(ApplyReport),
    Destroy(DestroyReport),
}

/// The ARM deployment name of a rendered deployment: `trustprint-<name>-<first 10 hex of its hash>`. The
/// same inputs give the same name, so a rerun finds the deployment an interrupted run started.
pub fn deployment_name(d: &RenderedDeployment) -> String {
    let hex = d.hash.strip_prefix("sha256:").unwrap_or(&d.hash);
    let short: String = hex.chars().take(10).collect();
    format!("trustprint-{}-{short}", d.name)
}

/// Where a rendered deployment runs in `subscription_id`.
pub fn scope_of(d: &RenderedDeployment, subscription_id: &str) -> DeploymentScope {
    match (d.scope, &d.resource_group) {
        (Scope::ResourceGroup, Some(rg)) => DeploymentScope::ResourceGroup {
            subscription_id: subscription_id.to_owned(),
            resource_group: rg.clone(),
        },
        _ => DeploymentScope::Subscription {
            subscription_id: subscription_id.to_owned(),
        },
    }
}

/// The request body of a rendered deployment: its template, its parameters (Key Vault references passed
/// as references) and its `secret_env` parameters read from the environment now.
///
/// On the local cloud (`target` [`TargetKind::Local`]) an unset variable gets a random throwaway value, with a
/// warning naming it, so that a trust can be rehearsed before its secrets exist; the value is sent in the
/// request only and the local cloud keeps it in memory only. On Azure an unset variable is an error.
pub fn request(
    d: &RenderedDeployment,
    target: TargetKind,
) -> Result<crate::arm::DeploymentRequest, DeployError> {
    Ok(request_with(d, request_parameters(d, target)?))
}

/// The request body of `d` with `parameters` (from [`request_parameters`]): the template is copied only now.
pub(crate) fn request_with(
    d: &RenderedDeployment,
    parameters: Map<String, Value>,
) -> crate::arm::DeploymentRequest {
    crate::arm::DeploymentRequest {
        location: match d.scope {
            Scope::Subscription => Some(d.location.clone()),
            Scope::ResourceGroup => None,
        },
        tags: [("managed-by".to_owned(), "trustprint".to_owned())]
            .into_iter()
            .collect(),
        mode: crate::arm::DeploymentMode::Incremental,
        template: d.template.clone(),
        parameters,
    }
}

/// The parameters of [`request`], `secret_env` ones read from the environment now.
pub(crate) fn request_parameters(
    d: &RenderedDeployment,
    target: TargetKind,
) -> Result<Map<String, Value>, DeployError> {
    let mut parameters: Map<String, Value> = d
        .parameters
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (parameter, variable) in &d.secret_env {
        let value = match std::env::var(variable).ok().filter(|v| !v.is_empty()) {
            Some(v) => v,
            None if target == TargetKind::Local => {
                // Plan and apply both build requests: say it once per variable.
                static WARNED: std::sync::Mutex<std::collections::BTreeSet<String>> =
                    std::sync::Mutex::new(std::collections::BTreeSet::new());
                let first = WARNED
                    .lock()
                    .map(|mut w| w.insert(variable.clone()))
                    .unwrap_or(true);
                if first {
                    tracing::warn!(
                    "{variable} is not set: deployment '{}' parameter {parameter} gets a random throwaway \
                     value on the local cloud (Azure would refuse)",
                    d.name
                );
                }
                throwaway_secret()
            }
            None => {
                return Err(DeployError::SecretMissing {
                    deployment: d.name.clone(),
                    parameter: parameter.clone(),
                    variable: variable.clone(),
                })
            }
        };
        parameters.insert(parameter.clone(), json!({ "value": value }));
    }
    Ok(parameters)
}

/// A random secret that satisfies Azure's password complexity rules (upper, lower, digit, symbol; 38 chars).
pub(crate) fn throwaway_secret() -> String {
    format!("Tp-{}-x9Z", uuid::Uuid::new_v4().simple())
}

/// Ask for a typed `yes` on stderr/stdin, unless `yes` is already given. Refuses when stdin is not a
/// terminal, where nobody can answer.
pub fn confirm(command: &str, target: &str, prompt: &str, yes: bool) -> Result<(), DeployError> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(DeployError::ConfirmationNeeded {
            command: command.to_owned(),
            target: target.to_owned(),
        });
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{prompt}\n  Only 'yes' will be accepted: ");
    let _ = err.flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| DeployError::Target {
            message: format!("reading the confirmation: {e}"),
        })?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(DeployError::Cancelled {
            command: command.to_owned(),
        })
    }
}

/// A typed confirmation a change needs before it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// `apply` or `destroy`.
    pub command: String,
    /// The target as [`describe_target`] says it.
    pub target: String,
    /// The question.
    pub prompt: String,
}

/// How a command asks for a [`Confirmation`] (injected by the caller, as the plan's display is): `Ok(())`
/// when it is given. Not asked when `--yes` was given.
pub type Confirm<'a> = &'a dyn Fn(&Confirmation) -> Result<(), DeployError>;

/// The terminal's [`Confirm`]: a typed `yes` on stderr/stdin, refused when stdin is not a terminal.
pub fn terminal_confirm(c: &Confirmation) -> Result<(), DeployError> {
    confirm(&c.command, &c.target, &c.prompt, false)
}

/// A description of the target for prompts and messages.
pub fn describe_target(conn: &Connection) -> String {
    format!(
        "{} subscription {} at {}",
        conn.target.kind.as_str(),
        conn.target.subscription_id,
        conn.client.endpoint().as_str().trim_end_matches('/')
    )
}

/// A multi-threaded runtime for the CLI's blocking entry points.
pub fn runtime() -> Result<tokio::runtime::Runtime, DeployError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DeployError::Runtime)
}

/// Now, RFC 3339 in UTC.
pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(secret_env: &[(&str, &str)]) -> RenderedDeployment {
        RenderedDeployment {
            name: "epr".into(),
            scope: Scope::ResourceGroup,
            resource_group: Some("rg-x".into()),
            location: "uksouth".into(),
            template_path: "epr.json.tera".into(),
            template: json!({"resources": []}),
            parameters: json!({"parameters": {
                "sku": {"value": "S1"},
                "kv": {"reference": {"keyVault": {"id": "/v"}, "secretName": "s"}}
            }}),
            secret_env: secret_env
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            depends_on: vec![],
            hash: "sha256:0123456789abcdef".into(),
            stack: None,
        }
    }

    #[test]
    fn deployment_names_are_deterministic_and_short() {
        assert_eq!(
            deployment_name(&deployment(&[])),
            "trustprint-epr-0123456789"
        );
    }

    #[test]
    fn secrets_come_from_the_environment_and_references_stay_references() {
        let var = "TP_DEPLOY_UNIT_TEST_SECRET";
        std::env::set_var(var, "s3cret");
        let r = request(&deployment(&[("adminPassword", var)]), TargetKind::Azure).unwrap();
        assert_eq!(r.parameters["adminPassword"], json!({"value": "s3cret"}));
        assert_eq!(
            r.parameters["kv"],
            json!({"reference": {"keyVault": {"id": "/v"}, "secretName": "s"}})
        );
        assert_eq!(r.location, None);
        let missing = request(
            &deployment(&[("p", "TP_DEPLOY_UNIT_TEST_UNSET")]),
            TargetKind::Azure,
        )
        .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "deployment 'epr': parameter p takes its value from environment variable \
             TP_DEPLOY_UNIT_TEST_UNSET, which is not set"
        );
    }

    #[test]
    fn the_local_cloud_gets_a_throwaway_value_for_an_unset_secret() {
        let d = deployment(&[("p", "TP_DEPLOY_UNIT_TEST_UNSET_LOCAL")]);
        let a = request(&d, TargetKind::Local).unwrap();
        let b = request(&d, TargetKind::Local).unwrap();
        let (a, b) = (&a.parameters["p"]["value"], &b.parameters["p"]["value"]);
        assert!(a.as_str().is_some_and(|v| v.len() >= 12), "{a}");
        assert_ne!(
            a, b,
            "a fresh random value each time, never a fixed default"
        );
    }
}

/// How plan, apply, destroy and stamp reach and treat the target.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    pub target: TargetOptions,
    /// `--yes`: no typed confirmation.
    pub yes: bool,
    /// Ask for confirmation even on the local cloud (apply and destroy do; stamp asks only for Azure).
    pub confirm_local: bool,
    /// `--allow-data-loss`.
    pub allow_data_loss: bool,
    /// `--bypass-stack-out-of-sync`: update or delete a stack even when Azure says its list of managed
    /// resources is out of sync.
    pub bypass_stack_out_of_sync: bool,
    /// `apply --plan FILE`: apply this saved plan, refusing if its inputs or the live target changed.
    pub plan_file: Option<std::path::PathBuf>,
    /// Where the apply reports its progress (the CLI draws spinners from it).
    pub progress: progress::Progress,
}

/// What [`apply_trust`] did: the plan, and the apply unless nothing was to change.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub plan: Plan,
    /// `None` when the plan changes nothing.
    pub report: Option<ApplyReport>,
    /// The target as `describe_target` says it.
    pub target: String,
}

fn needs_confirmation(options: &DeployOptions, conn: &Connection) -> bool {
    options.confirm_local || conn.target.kind == TargetKind::Azure
}

/// `trustprint plan`: connect and what-if the trust. Changes nothing.
pub fn plan_trust(
    loaded: &crate::load::Loaded,
    rendered: &Rendered,
    options: &DeployOptions,
) -> Result<(Plan, String), DeployError> {
    runtime()?.block_on(plan_trust_async(
        loaded,
        rendered,
        options,
        &Batch::default(),
    ))
}

/// What the trusts of one run (a fleet run) share, and what the run keeps of their plans.
#[derive(Debug, Default)]
pub struct Batch {
    /// One ARM client per endpoint and identity, for every trust of the run.
    pub clients: Clients,
    /// Plans keep each change's resource and change type only, without resource bodies and property
    /// changes ([`Plan::drop_details`], done per deployment as its what-if answers): all a fleet run
    /// reports, and most of a plan's memory.
    pub brief_plans: bool,
    /// Trusts of the run record into the fleet repository one at a time, waiting here (without holding a
    /// thread) rather than on the repository's file lock, which sleeps and would report this same process as
    /// the holder.
    pub record_gate: tokio::sync::Mutex<()>,
}

/// Connect to the trust's target (as one of `batch`) and seed the Key Vault references the local cloud lacks.
async fn connect_trust(
    loaded: &crate::load::Loaded,
    rendered: &Rendered,
    options: &DeployOptions,
    batch: &Batch,
) -> Result<Connection, DeployError> {
    let conn = target::connect_with(
        &options.target,
        &loaded.values,
        &rendered.trust.ods_code,
        &batch.clients,
    )
    .await?;
    target::seed_key_vault_references(&conn, rendered).await?;
    Ok(conn)
}

/// [`plan_trust`] on the caller's runtime, as a trust of `batch`.
pub async fn plan_trust_async(
    loaded: &crate::load::Loaded,
    rendered: &Rendered,
    options: &DeployOptions,
    batch: &Batch,
) -> Result<(Plan, String), DeployError> {
    let conn = connect_trust(loaded, rendered, options, batch).await?;
    let inputs = plan::PlanInputs::of(loaded, rendered, &conn.target);
    let plan = plan::plan_with(&conn, inputs, rendered, !batch.brief_plans).await?;
    Ok((plan, describe_target(&conn)))
}

/// `trustprint apply` (and the deploying half of `stamp`): plan (or read the saved plan and check it is
/// still current), refuse data loss unless allowed, confirm, apply. `on_plan` sees the plan before the
/// confirmation is asked for. A failed deployment is in the report, not an error.
pub fn apply_trust(
    loaded: &crate::load::Loaded,
    rendered: &Rendered,
    options: &DeployOptions,
    on_plan: &dyn Fn(&Plan),
) -> Result<Deployed, DeployError> {
    runtime()?.block_on(apply_trust_async(
        loaded,
        rendered,
        options,
        on_plan,
        &terminal_confirm,
        &Batch::default(),
    ))
}

/// [`apply_trust`] on the caller's runtime, as a trust of `batch`, asking `confirm` for the confirmation.
pub async fn apply_trust_async(
    loaded: &crate::load::Loaded,
    rendered: &Rendered,
    options: &DeployOptions,
    on_plan: &dyn Fn(&Plan),
    confirm: Confirm<'_>,
    batch: &Batch,
) -> Result<Deployed, DeployError> {
    let conn = connect_trust(loaded, rendered, options, batch).await?;
    let inputs = plan::PlanInputs::of(loaded, rendered, &conn.target);
    let mut in_flight = std::collections::HashSet::new();
    let plan = match &options.plan_file {
        Some(path) => {
            let saved = Plan::load(path)?;
            if let Some((what, planned, now)) = saved.inputs.compare(&inputs) {
                return Err(DeployError::StalePlan {
                    path: path.clone(),
                    what,
                    planned,
                    now,
                });
            }
            // Deployments of this plan still running are an interrupted apply of it: noted before the
            // what-ifs below (which take time) so that apply attaches to them rather than redeploying.
            for d in &rendered.deployments {
                let name = deployment_name(d);
                let scope = scope_of(d, &conn.target.subscription_id);
                match conn.client.get_deployment(&scope, &name).await {
                    Ok(dep) if !dep.provisioning_state.is_terminal() => {
                        in_flight.insert(name);
                    }
                    Ok(_) | Err(crate::arm::Error::Api { status: 404, .. }) => {}
                    Err(e) => {
                        return Err(DeployError::arm(format!(
                            "apply {}: reading the deployment",
                            d.name
                        ))(e))
                    }
                }
            }
            // The inputs are the same; the target may not be. What-if again and refuse if the live
            // state no longer matches what was planned (terraform's "saved plan is stale").
            let fresh = plan::plan_with(&conn, inputs, rendered, !batch.brief_plans).await?;
            let differences = saved.live_differences(&fresh);
            if !differences.is_empty() {
                return Err(DeployError::LiveStateChanged {
                    path: path.clone(),
                    differences,
                });
            }
            saved
        }
        None => plan::plan_with(&conn, inputs, rendered, !batch.brief_plans).await?,
    };
    on_plan(&plan);
    let target = describe_target(&conn);
    let loss = plan.data_loss();
    if !loss.is_empty() && !options.allow_data_loss {
        return Err(DeployError::DataLoss { resources: loss });
    }
    if !plan.has_changes() {
        return Ok(Deployed {
            plan,
            report: None,
            target,
        });
    }
    if needs_confirmation(options, &conn) && !options.yes {
        confirm(&Confirmation {
            command: "apply".into(),
            target: target.clone(),
            prompt: format!("Apply these changes to {target}?"),
        })?;
    }
    let report = apply::apply(
        &conn,
        rendered,
        &plan,
        apply::ApplyOptions {
            progress: options.progress.clone(),
            in_flight,
            bypass_stack_out_of_sync: options.bypass_stack_out_of_sync,
        },
    )
    .await?;
    Ok(Deployed {
        plan,
        report: Some(report),
        target,
    })
}

/// `trustprint destroy`: confirm, then delete the trust's estate.
pub fn destroy_trust(
    loaded: &crate::load::Loaded,
    rendered: &Rendered,
    options: &DeployOptions,
) -> Result<DestroyReport, DeployError> {
    runtime()?.block_on(destroy_trust_async(
        loaded,
        rendered,
        options,
        &terminal_confirm,
    ))
}

/// [`destroy_trust`] on the caller's runtime, asking `confirm` for the confirmation.
pub async fn destroy_trust_async(
    loaded: &crate::load::Loaded,
    rendered: &Rendered,
    options: &DeployOptions,
    confirm: Confirm<'_>,
) -> Result<DestroyReport, DeployError> {
    let conn = connect(&options.target, &loaded.values, &rendered.trust.ods_code).await?;
    let target = describe_target(&conn);
    if !options.yes {
        confirm(&Confirmation {
            command: "destroy".into(),
            target: target.clone(),
            prompt: format!(
                "Destroy every resource of {} ({}) in {target}? This deletes its data.",
                rendered.trust.name, rendered.trust.ods_code
            ),
        })?;
    }
    destroy::destroy(&conn, rendered, options.bypass_stack_out_of_sync).await
}
