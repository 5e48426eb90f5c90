//! `trustprint blueprint ...`.

use super::Global;
use crate::error::Error;
use clap::Subcommand;
use serde_json::json;

/// `blueprint` subcommands.
#[derive(Debug, Subcommand)]
pub enum BlueprintCommand {
    /// Check a blueprint: its manifest, template paths and templates (they must parse), with warnings for
    /// parameters no template uses.
    #[command(after_help = "\
Examples:
  trustprint blueprint lint
  trustprint --blueprint blueprints/exemplar-epr blueprint lint
  trustprint --blueprint https://github.com/org/blueprints.git//exemplar-epr@v1.0.0 blueprint lint")]
    Lint,
}

pub(super) fn run(cmd: &BlueprintCommand, global: &Global) -> Result<(), Error> {
    match cmd {
        BlueprintCommand::Lint => {
            let bp = crate::blueprint::open(&global.source()?)?;
            // Every template must at least parse (the render stage's own loader says where it does not).
            crate::render::Renderer::new(&bp)?;
            let m = &bp.manifest;
            let value = json!({
                "blueprint": bp.reference(),
                "deployments": m.deployments.len(),
                "parameters": m.parameters.len(),
                "templates": bp.templates.len(),
            });
            super::output::emit(global, &value, || {
                format!(
                    "{} {} ({}): {} parameter(s), {} deployment(s), {} template(s): no problems\n",
                    m.name,
                    m.version,
                    bp.source,
                    m.parameters.len(),
                    m.deployments.len(),
                    bp.templates.len()
                )
            })
        }
    }
}
