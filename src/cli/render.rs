//! `trustprint render` and `trustprint check`.

use super::output::{emit, rendered_json, rendered_text};
use super::Global;
use crate::error::Error;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

pub(super) const RENDER_HELP: &str = "\
Example:
  trustprint render --values blueprints/exemplar-epr/examples/rhw.yaml --out rendered/rhw

Writes <deployment>.json and <deployment>.parameters.json per deployment and render-manifest.json (the
deployments in dependency order with their hashes). The folder is replaced as a whole, or left as it was
if anything fails; a non-empty folder that is not an earlier render output is refused.";

pub(super) const CHECK_HELP: &str = "\
Example:
  trustprint check --values blueprints/exemplar-epr/examples/rhw.yaml

Exit code 3 when any guardrail is violated; waived findings are shown with their justification.
--policy uk-nhs|ncsc-caf|FILE also evaluates Azure Policy's built-in initiative (or a definition or
initiative JSON file) over the rendered trust; its enforced deny effects fail the check too (exit 3).";

/// `render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The trust's values file (YAML).
    #[arg(long, value_name = "FILE")]
    pub values: PathBuf,
    /// The folder to write (replaced as a whole).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The trust's values file (YAML).
    #[arg(long, value_name = "FILE")]
    pub values: PathBuf,
    /// Evaluate an Azure Policy initiative: `uk-nhs` (UK OFFICIAL and UK NHS), `ncsc-caf` (NCSC CAF v3.2),
    /// or a policy definition / initiative JSON file. Repeatable.
    #[arg(long, value_name = "INITIATIVE|FILE")]
    pub policy: Vec<String>,
}

pub(super) fn render(args: &RenderArgs, global: &Global) -> Result<(), Error> {
    let inputs = global.inputs(&args.values)?;
    let rendered = crate::run::render_trust(&inputs, &args.out)?;
    let mut value = rendered_json(&rendered);
    value["out"] = json!(args.out);
    emit(global, &value, || {
        format!(
            "{}\nwritten to {}\n",
            rendered_text(&rendered),
            args.out.display()
        )
    })
}

pub(super) fn check(args: &CheckArgs, global: &Global) -> Result<(), Error> {
    let inputs = global.inputs(&args.values)?;
    let checked = crate::run::check_trust(&inputs)?;
    let policies = policies(&checked, &args.policy)?;
    let report = checked.report;
    let mut value = rendered_json(&checked.rendered);
    value["check"] = json!(report);
    if !policies.is_empty() {
        value["policy"] = json!(policies);
    }
    // The report is the result whether or not it passes; a violation also sets the exit code (3).
    emit(global, &value, || {
        let mut text = report.render_text(global.color_out);
        for p in &policies {
            text.push('\n');
            text.push_str(&p.render_text());
        }
        text
    })?;
    if report.violations().next().is_some() {
        return Err(Error::Violations {
            report: Box::new(report),
        });
    }
    match denied(&policies) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `--policy` (on check, stamp and plan): the named initiatives evaluated over a checked trust, as the
/// guardrails see it (ARM expressions evaluated with the trust's subscription and tenant).
pub(super) fn policies(
    checked: &crate::run::Checked,
    asked: &[String],
) -> Result<Vec<crate::policy::Report>, Error> {
    let ctx = checked.loaded.values.static_context();
    let mut names = asked.to_vec();
    // A blueprint is held to the initiatives its manifest names (an imported Azure Blueprint: those it
    // assigned); the ones trustprint ships are evaluated without --policy.
    let held: &[String] = checked
        .loaded
        .blueprint
        .manifest
        .guardrails
        .as_ref()
        .map_or(&[], |g| &g.initiatives);
    for id in held {
        let guid = id.rsplit('/').next().unwrap_or(id);
        for (short, _) in crate::policy::data::INITIATIVES.iter() {
            let shipped = crate::policy::Library::initiative_json(short)
                .and_then(|j| j["name"].as_str().map(|n| n.eq_ignore_ascii_case(guid)))
                .unwrap_or(false);
            if shipped && !names.iter().any(|n| n.eq_ignore_ascii_case(short)) {
                names.push((*short).to_string());
            }
        }
    }
    Ok(crate::policy::check_rendered(
        &checked.rendered,
        &ctx,
        &names,
    )?)
}

/// The error the first initiative with enforced deny effects makes (exit 3, as a guardrail violation).
pub(super) fn denied(policies: &[crate::policy::Report]) -> Option<Error> {
    policies
        .iter()
        .find(|p| !p.passed())
        .map(|p| Error::PolicyDenied {
            initiative: p.display_name.clone(),
            denials: p.denials.len(),
        })
}

/// The policy reports as text, one after another.
pub(super) fn policies_text(policies: &[crate::policy::Report]) -> String {
    policies
        .iter()
        .map(|p| format!("\n{}", p.render_text()))
        .collect()
}
