//! `trustprint plan`, `apply`, `destroy`, and `stamp` (which deploys unless `--no-deploy`).

use super::output::{emit, rendered_json};
use super::Global;
use crate::deploy::{DeployOptions, TargetKind, TargetOptions};
use crate::error::{Error, ExitCode};
use clap::{Args, ValueEnum};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

pub(super) const PLAN_HELP: &str = "\
Example:
  trustprint plan --values blueprints/exemplar-epr/examples/royal-berkshire-rhw.yaml --detailed-exitcode

What-if for every deployment of the trust, in dependency order; nothing is changed. With --out, the plan is
saved for `apply --plan`, which refuses it if the values, the blueprint or the target changed since.
Exit codes with --detailed-exitcode: 0 no changes, 2 changes, 1 error.";

pub(super) const APPLY_HELP: &str = "\
Example:
  trustprint apply --values trust.yaml --fleet ../fleet --yes

Plans (or reads --plan), then deploys resource groups and deployments in dependency order, independent ones
at once, under deterministic names so a rerun resumes. Refuses to delete data-bearing resources without
--allow-data-loss. Asks for a typed 'yes' unless --yes (required when stdin is not a terminal).";

pub(super) const DESTROY_HELP: &str = "\
Example:
  trustprint destroy --values trust.yaml --fleet ../fleet --yes

Deletes the trust's resource groups and subscription-level assignments in reverse dependency order, after a
typed confirmation (--yes for automation), and records it with --fleet.";

/// `--target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    /// The local cloud: embedded (state under .trustprint/cloud) or --cloud-url.
    Local,
    /// Azure Resource Manager, as the identity in the environment.
    Azure,
}

/// Where to deploy.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Where to deploy. Default: azure when a subscription is configured (values or --subscription), else
    /// local.
    #[arg(long, value_enum, value_name = "TARGET")]
    pub target: Option<TargetArg>,
    /// A running local cloud (`trustprint cloud serve`) instead of the embedded one.
    #[arg(long, value_name = "URL")]
    pub cloud_url: Option<String>,
    /// A CA certificate (PEM) to trust: the one `cloud serve --tls` wrote, <state>/ca.pem.
    #[arg(long, value_name = "FILE", env = "TRUSTPRINT_CLOUD_CA")]
    pub cloud_ca: Option<PathBuf>,
    /// The subscription, over the values' azure.subscription_id.
    #[arg(long, value_name = "ID")]
    pub subscription: Option<String>,
    /// The tenant, over the values' azure.tenant_id.
    #[arg(long, value_name = "ID")]
    pub tenant: Option<String>,
}

impl TargetArg {
    /// The deploy layer's target kind.
    pub(super) fn kind(self) -> TargetKind {
        match self {
            TargetArg::Local => TargetKind::Local,
            TargetArg::Azure => TargetKind::Azure,
        }
    }
}

impl TargetArgs {
    pub(super) fn options(&self) -> TargetOptions {
        TargetOptions {
            kind: self.target.map(TargetArg::kind),
            cloud_url: self.cloud_url.clone(),
            cloud_ca: self.cloud_ca.clone(),
            state_dir: None,
            subscription: self.subscription.clone(),
            tenant: self.tenant.clone(),
            ..TargetOptions::default()
        }
    }
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The trust's values file (YAML).
    #[arg(long, value_name = "FILE")]
    pub values: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Save the plan for `apply --plan`.
    #[arg(long, value_name = "PLAN")]
    pub out: Option<PathBuf>,
    /// Exit 2 when the plan has changes, 0 when it has none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also evaluate an Azure Policy initiative (`uk-nhs`, `ncsc-caf` or a JSON file) and show its outcome
    /// beside the plan; like the guardrails, its deny effects do not stop a plan. Repeatable.
    #[arg(long, value_name = "INITIATIVE|FILE")]
    pub policy: Vec<String>,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The trust's values file (YAML).
    #[arg(long, value_name = "FILE")]
    pub values: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Apply this saved plan (from `plan --out`).
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    /// Record the outcome in this fleet git repository.
    #[arg(long, value_name = "DIR")]
    pub fleet: Option<PathBuf>,
    /// Do not ask for a typed confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Allow a plan that deletes data-bearing resources.
    #[arg(long)]
    pub allow_data_loss: bool,
    /// Update or delete a deployment stack even when Azure says its list of managed resources is out of
    /// sync (sends `bypassStackOutOfSyncError`); check the stack's resources first.
    #[arg(long)]
    pub bypass_stack_out_of_sync: bool,
    /// Seconds to wait for another trustprint recording into the same fleet repository.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub lock_timeout: u64,
}

/// `destroy`.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The trust's values file (YAML).
    #[arg(long, value_name = "FILE")]
    pub values: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Record the destroy in this fleet git repository.
    #[arg(long, value_name = "DIR")]
    pub fleet: Option<PathBuf>,
    /// Do not ask for a typed confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Update or delete a deployment stack even when Azure says its list of managed resources is out of
    /// sync (sends `bypassStackOutOfSyncError`); check the stack's resources first.
    #[arg(long)]
    pub bypass_stack_out_of_sync: bool,
    /// Seconds to wait for another trustprint recording into the same fleet repository.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub lock_timeout: u64,
}

/// `stamp`: render, check, plan, apply and record.
#[derive(Debug, Args)]
pub struct DeployStampArgs {
    #[command(flatten)]
    pub base: super::stamp::StampArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Render, check and record only; deploy nothing.
    #[arg(long, conflicts_with_all = ["target", "cloud_url", "yes", "allow_data_loss", "bypass_stack_out_of_sync"])]
    pub no_deploy: bool,
    /// Do not ask for a typed confirmation (asked only for --target azure).
    #[arg(long)]
    pub yes: bool,
    /// Allow a plan that deletes data-bearing resources.
    #[arg(long)]
    pub allow_data_loss: bool,
    /// Update or delete a deployment stack even when Azure says its list of managed resources is out of
    /// sync (sends `bypassStackOutOfSyncError`); check the stack's resources first.
    #[arg(long)]
    pub bypass_stack_out_of_sync: bool,
}

fn plan_json(plan: &crate::deploy::Plan) -> serde_json::Value {
    serde_json::to_value(plan).unwrap_or_default()
}

pub(super) fn plan(args: &PlanArgs, global: &Global) -> Result<ExitCode, Error> {
    let inputs = global.inputs(&args.values)?;
    let options = DeployOptions {
        target: args.target.options(),
        ..DeployOptions::default()
    };
    let composed = crate::run::plan(&inputs, &options)?;
    let rendered = &composed.checked.rendered;
    let Some((plan, target)) = composed.planned.as_ref() else {
        return Err(Error::Internal {
            message: "plan ended without a plan".into(),
        });
    };
    if let Some(out) = &args.out {
        plan.save(out)?;
    }
    let policies = super::render::policies(&composed.checked, &args.policy)?;
    let mut value = plan_json(plan);
    if !args.policy.is_empty() {
        value["policy"] = json!(policies);
    }
    emit(global, &value, || {
        let mut s = format!(
            "{} ({}) against {target}\n\n",
            rendered.trust.name, rendered.trust.ods_code
        );
        s.push_str(&plan_text(plan, &composed.checked.loaded.values, global));
        if let Some(out) = &args.out {
            s.push_str(&format!("Saved the plan to {}\n", out.display()));
        }
        s.push_str(&super::render::policies_text(&policies));
        s
    })?;
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitCode::Changes
    } else {
        ExitCode::Success
    })
}

fn record_text(r: &crate::record::RecordOutcome) -> String {
    match &r.commit {
        Some(c) => format!(
            "recorded {} in {} as commit {}\n",
            r.trust_dir,
            r.fleet.display(),
            &c[..c.len().min(12)]
        ),
        None => format!(
            "{} in {} is unchanged: no commit\n",
            r.trust_dir,
            r.fleet.display()
        ),
    }
}

/// Prints the plan as soon as it is known (before a confirmation), on stderr when the results go to stdout
/// as JSON.
fn show_plan(global: &Global) -> impl Fn(&crate::deploy::Plan, &crate::values::Values) + '_ {
    move |plan, values| {
        if !global.json {
            print!("{}", plan_text(plan, values, global));
        }
    }
}

/// The plan as text, with its cost line (priced with the trust's own usage assumptions).
fn plan_text(
    plan: &crate::deploy::Plan,
    values: &crate::values::Values,
    global: &Global,
) -> String {
    let mut s = plan.render_text(global.color_out);
    if let Some(cost) = crate::cost::plan::summary_line(plan, values) {
        s.push_str(&cost);
        s.push('\n');
    }
    s
}

fn deployed_text(d: &crate::deploy::Deployed) -> String {
    match &d.report {
        Some(r) => format!("\nApplied to {}:\n{}", d.target, r.render_text()),
        None => format!("\nNo changes: {} is up to date.\n", d.target),
    }
}

/// Where `--fleet` records, if given.
fn record_to(fleet: Option<&PathBuf>, lock_timeout: u64) -> Option<crate::run::RecordTo> {
    fleet.map(|fleet| crate::run::RecordTo {
        fleet: fleet.clone(),
        lock_timeout: Duration::from_secs(lock_timeout),
        even_unchanged: false,
    })
}

/// Prints the guardrails' report as the result of a command they stopped, then passes the error on
/// (exit code 3).
fn violations_printed(global: &Global, e: Error) -> Error {
    if let Error::Violations { report } = &e {
        if let Err(print) = emit(global, &json!({ "check": report }), || {
            report.render_text(global.color_out)
        }) {
            return print;
        }
    }
    e
}

pub(super) fn apply(args: &ApplyArgs, global: &Global) -> Result<(), Error> {
    let inputs = global.inputs(&args.values)?;
    let options = DeployOptions {
        target: args.target.options(),
        yes: args.yes,
        confirm_local: true,
        allow_data_loss: args.allow_data_loss,
        bypass_stack_out_of_sync: args.bypass_stack_out_of_sync,
        plan_file: args.plan.clone(),
        progress: super::progress::spinners(global.json),
    };
    let on_plan = show_plan(global);
    let composed = crate::run::apply(
        &inputs,
        &options,
        record_to(args.fleet.as_ref(), args.lock_timeout).as_ref(),
        crate::run::Hooks {
            on_plan: &on_plan,
            ..crate::run::Hooks::default()
        },
    )
    .map_err(|e| violations_printed(global, e))?;
    let recorded = &composed.record;
    let Some(deployed) = &composed.deployed else {
        return Err(Error::Internal {
            message: "apply ended without applying".into(),
        });
    };
    emit(
        global,
        &json!({"plan": plan_json(&deployed.plan), "apply": deployed.report, "record": recorded}),
        || {
            let mut s = deployed_text(deployed);
            if let Some(r) = recorded {
                s.push_str(&record_text(r));
            }
            s
        },
    )?;
    match deployed.report.as_ref().and_then(|r| r.error()) {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

pub(super) fn destroy(args: &DestroyArgs, global: &Global) -> Result<(), Error> {
    let inputs = global.inputs(&args.values)?;
    let options = DeployOptions {
        target: args.target.options(),
        yes: args.yes,
        confirm_local: true,
        bypass_stack_out_of_sync: args.bypass_stack_out_of_sync,
        ..DeployOptions::default()
    };
    let composed = crate::run::destroy(
        &inputs,
        &options,
        record_to(args.fleet.as_ref(), args.lock_timeout).as_ref(),
        crate::run::Hooks::default(),
    )?;
    let recorded = &composed.record;
    let Some(report) = &composed.destroyed else {
        return Err(Error::Internal {
            message: "destroy ended without destroying".into(),
        });
    };
    emit(
        global,
        &json!({"destroy": report, "record": recorded}),
        || {
            let mut s = report.render_text();
            if let Some(r) = recorded {
                s.push_str(&record_text(r));
            }
            s
        },
    )
}

pub(super) fn stamp(args: &DeployStampArgs, global: &Global) -> Result<(), Error> {
    if args.no_deploy {
        return super::stamp::stamp(&args.base, global);
    }
    let inputs = global.inputs(&args.base.values)?;
    let policies = super::stamp::policy_gate(&inputs, &args.base.policy, global)?;
    let options = crate::run::StampOptions {
        fleet: args.base.fleet.clone(),
        lock_timeout: Duration::from_secs(args.base.lock_timeout),
        deploy: Some(DeployOptions {
            target: args.target.options(),
            yes: args.yes,
            confirm_local: false,
            allow_data_loss: args.allow_data_loss,
            bypass_stack_out_of_sync: args.bypass_stack_out_of_sync,
            plan_file: None,
            progress: super::progress::spinners(global.json),
        }),
    };
    let stamped = crate::run::stamp_with(&inputs, &options, &show_plan(global))
        .map_err(|e| violations_printed(global, e))?;
    let rendered = &stamped.checked.rendered;
    let mut value = rendered_json(rendered);
    value["check"] = json!(stamped.checked.report);
    if let Some(d) = &stamped.deployed {
        value["plan"] = plan_json(&d.plan);
        value["apply"] = json!(d.report);
    }
    value["record"] = json!(stamped.record);
    if !args.base.policy.is_empty() {
        value["policy"] = json!(policies);
    }
    emit(global, &value, || {
        // The plan was printed before any confirmation; what remains is what was done.
        let mut text = String::new();
        if let Some(d) = &stamped.deployed {
            text.push_str(&deployed_text(d));
        }
        text.push_str(&record_text(&stamped.record));
        text.push_str(&super::render::policies_text(&policies));
        text
    })?;
    match stamped
        .deployed
        .as_ref()
        .and_then(|d| d.report.as_ref())
        .and_then(|r| r.error())
    {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
