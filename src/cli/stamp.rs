//! `trustprint stamp`.

use super::output::{emit, rendered_json, rendered_text};
use super::Global;
use crate::error::Error;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

pub(super) const HELP: &str = "\
Example:
  trustprint stamp --values blueprints/exemplar-epr/examples/royal-berkshire-rhw.yaml --fleet ../fleet

Records trusts/<ODS>/values.yaml, trusts/<ODS>/rendered/ and trusts/<ODS>/trustprint.lock in the fleet
repository (created when missing) as one commit. Identical inputs make no commit. Nothing is recorded if
loading, rendering or the guardrails fail. A second stamp on the same fleet waits for the first.
--policy uk-nhs|ncsc-caf|FILE also evaluates Azure Policy's initiative over the trust, as `check --policy`
does: its enforced deny effects stop the stamp before anything is recorded (exit 3).";

/// `stamp`.
#[derive(Debug, Args)]
pub struct StampArgs {
    /// The trust's values file (YAML).
    #[arg(long, value_name = "FILE")]
    pub values: PathBuf,
    /// The fleet git repository (created when missing).
    #[arg(long, value_name = "DIR")]
    pub fleet: PathBuf,
    /// Seconds to wait for another trustprint stamping into the same fleet repository.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub lock_timeout: u64,
    /// Evaluate an Azure Policy initiative (`uk-nhs`, `ncsc-caf` or a JSON file) before recording; its
    /// enforced deny effects stop the stamp. Repeatable.
    #[arg(long, value_name = "INITIATIVE|FILE")]
    pub policy: Vec<String>,
}

pub(super) fn stamp(args: &StampArgs, global: &Global) -> Result<(), Error> {
    let inputs = global.inputs(&args.values)?;
    let options = crate::run::StampOptions {
        fleet: args.fleet.clone(),
        lock_timeout: Duration::from_secs(args.lock_timeout),
        deploy: None,
    };
    let policies = policy_gate(&inputs, &args.policy, global)?;
    let stamped = match crate::run::stamp(&inputs, &options) {
        Ok(s) => s,
        Err(Error::Violations { report }) => {
            // The report is what the user needs to act on: print it as the result, then fail with code 3.
            emit(global, &json!({ "check": report }), || {
                report.render_text(global.color_out)
            })?;
            return Err(Error::Violations { report });
        }
        Err(e) => return Err(e),
    };
    let rendered = &stamped.checked.rendered;
    let report = &stamped.checked.report;
    let record = &stamped.record;
    let mut value = rendered_json(rendered);
    value["check"] = json!(report);
    value["record"] = json!(record);
    if !args.policy.is_empty() {
        value["policy"] = json!(policies);
    }
    emit(global, &value, || {
        let mut text = rendered_text(rendered);
        text.push('\n');
        text.push_str(&report.render_text(global.color_out));
        text.push_str(&super::render::policies_text(&policies));
        match &record.commit {
            Some(c) => text.push_str(&format!(
                "recorded {} in {} as commit {}\n",
                record.trust_dir,
                record.fleet.display(),
                &c[..c.len().min(12)]
            )),
            None => text.push_str(&format!(
                "{} in {} is unchanged: no commit\n",
                record.trust_dir,
                record.fleet.display()
            )),
        }
        text
    })
}

/// `stamp --policy`: the initiatives evaluated over the trust before anything is deployed or recorded. An
/// enforced deny effect stops the stamp as a guardrail violation would (its report printed, exit 3); a trust
/// with guardrail violations is left to the stamp, which reports those first.
pub(super) fn policy_gate(
    inputs: &crate::run::Inputs,
    names: &[String],
    global: &Global,
) -> Result<Vec<crate::policy::Report>, Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let checked = crate::run::check_trust(inputs)?;
    let policies = super::render::policies(&checked, names)?;
    if checked.report.violations().next().is_none() {
        if let Some(e) = super::render::denied(&policies) {
            emit(global, &json!({ "policy": policies }), || {
                super::render::policies_text(&policies)
            })?;
            return Err(e);
        }
    }
    Ok(policies)
}
