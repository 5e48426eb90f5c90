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
    /// Import an Azure Blueprint definition (as exported: blueprint.json plus its artifacts) as a new
    /// trustprint blueprint folder: manifest, templates and an example values file.
    #[command(after_help = "\
Examples:
  trustprint blueprint import --azure-blueprint exported/uk-nhs --out blueprints/uk-nhs
  trustprint --blueprint blueprints/uk-nhs stamp --values blueprints/uk-nhs/examples/uknhs.yaml --target local")]
    Import(ImportArgs),
}

/// `blueprint import` arguments.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The exported definition: blueprint.json plus artifact.<name>.json files or an artifacts/ folder.
    #[arg(long, value_name = "DIR")]
    pub azure_blueprint: std::path::PathBuf,
    /// The new blueprint folder (must not exist; written whole or not at all).
    #[arg(long, value_name = "NEW_DIR")]
    pub out: std::path::PathBuf,
}

pub(super) fn run(cmd: &BlueprintCommand, global: &Global) -> Result<(), Error> {
    match cmd {
        BlueprintCommand::Import(args) => {
            let imported = crate::blueprint::import::import(&args.azure_blueprint, &args.out)?;
            let value = serde_json::to_value(&imported).unwrap_or_default();
            super::output::emit(global, &value, || {
                format!(
                    "Imported {} into {}: {} parameter(s), {} deployment(s), lock mode {:?}; example values in \
                     examples/{}.yaml\n",
                    imported.name,
                    imported.out.display(),
                    imported.parameters,
                    imported.deployments,
                    imported.lock_mode,
                    imported.name
                )
            })
        }
        BlueprintCommand::Lint => {
            let bp = crate::blueprint::open(&global.source()?)?;
            // Every template must at least parse (the render stage's own loader says where it does not).
            crate::render::Renderer::new(&bp)?;
            let mut warnings = crate::blueprint::lint(&bp);
            // An output derived from a secret would be recorded in the lock: refuse it (issue #18).
            match crate::lint::secret_outputs(&bp) {
                Ok(found) if !found.is_empty() => {
                    return Err(Error::Blueprint {
                        source_desc: bp.source.clone(),
                        message: format!(
                            "{}; Azure never returns secure outputs and trustprint records every output, \
                             so remove these outputs",
                            found.join("; ")
                        ),
                    })
                }
                Ok(_) => {}
                Err(e) => warnings.push(crate::diag::Diagnostic::at(
                    &bp.manifest_file,
                    "",
                    crate::yaml::Span::default(),
                    format!("outputs not checked for secrets: the parameters' examples do not render ({e})"),
                )),
            }
            let m = &bp.manifest;
            let value = json!({
                "blueprint": bp.reference(),
                "deployments": m.deployments.len(),
                "parameters": m.parameters.len(),
                "templates": bp.templates.len(),
                "warnings": warnings,
            });
            super::output::emit(global, &value, || {
                let mut text = crate::diag::render_as(
                    &warnings,
                    crate::diag::Severity::Warning,
                    global.color_out,
                );
                text.push_str(&format!(
                    "{} {} ({}): {} parameter(s), {} deployment(s), {} template(s): {}\n",
                    m.name,
                    m.version,
                    bp.source,
                    m.parameters.len(),
                    m.deployments.len(),
                    bp.templates.len(),
                    match warnings.len() {
                        0 => "no problems".to_string(),
                        n => format!("{n} warning(s)"),
                    }
                ));
                text
            })
        }
    }
}
