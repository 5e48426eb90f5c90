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

Exit code 3 when any guardrail is violated; waived findings are shown with their justification.";

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
    let report = checked.report;
    let mut value = rendered_json(&checked.rendered);
    value["check"] = json!(report);
    // The report is the result whether or not it passes; a violation also sets the exit code (3).
    emit(global, &value, || report.render_text(global.color_out))?;
    if report.violations().next().is_some() {
        return Err(Error::Violations {
            report: Box::new(report),
        });
    }
    Ok(())
}
