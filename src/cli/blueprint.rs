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
  trustprint blueprint import --from-azure uknhs --scope /subscriptions/<id> --out blueprints/uk-nhs
  trustprint --blueprint blueprints/uk-nhs stamp --values blueprints/uk-nhs/examples/uknhs.yaml --target local")]
    Import(ImportArgs),
}

/// `blueprint import` arguments.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["azure_blueprint", "from_azure"])))]
pub struct ImportArgs {
    /// The exported definition: blueprint.json plus artifact.<name>.json files or an artifacts/ folder.
    #[arg(long, value_name = "DIR")]
    pub azure_blueprint: Option<std::path::PathBuf>,
    /// Read the definition from Azure instead: a blueprint's id, a published version's id
    /// (`.../versions/<v>`), or its name with --scope. The newest published version is read when none is
    /// named (the draft when none is published); the export is written beside --out first.
    #[arg(long, value_name = "BLUEPRINT")]
    pub from_azure: Option<String>,
    /// With --from-azure and a name: the subscription (`/subscriptions/<id>` or the id) or management group
    /// (`/providers/Microsoft.Management/managementGroups/<name>`) holding the blueprint.
    #[arg(long, value_name = "SCOPE", requires = "from_azure")]
    pub scope: Option<String>,
    /// With --from-azure: a local cloud to read from instead of Azure (its URL).
    #[arg(long, value_name = "URL", requires = "from_azure")]
    pub cloud_url: Option<String>,
    /// With --from-azure: where the export is written (default: `<out>.azure-export`, beside --out).
    #[arg(long, value_name = "NEW_DIR", requires = "from_azure")]
    pub export_to: Option<std::path::PathBuf>,
    /// The new blueprint folder (must not exist; written whole or not at all).
    #[arg(long, value_name = "NEW_DIR")]
    pub out: std::path::PathBuf,
}

/// `--from-azure`: read the blueprint over ARM and write its export beside `--out`; returns the export folder.
fn fetch_from_azure(args: &ImportArgs, blueprint: &str) -> Result<std::path::PathBuf, Error> {
    use crate::blueprint::azure;
    let invalid = |message: String| Error::Usage { message };
    let target = azure::Target::parse(blueprint, args.scope.as_deref()).map_err(invalid)?;
    let export = args.export_to.clone().unwrap_or_else(|| {
        let mut name = args.out.file_name().unwrap_or_default().to_os_string();
        name.push(".azure-export");
        args.out.with_file_name(name)
    });
    if export.exists() {
        return Err(invalid(format!(
            "{} already exists; the export of the Azure blueprint is written to a new folder (--export-to)",
            export.display()
        )));
    }
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let client = match &args.cloud_url {
        Some(url) => {
            let authority_host =
                url::Url::parse(url).map_err(|e| invalid(format!("--cloud-url {url}: {e}")))?;
            crate::arm::ArmClient::new(
                url.trim_end_matches('/'),
                crate::arm::Credential::ServicePrincipal {
                    tenant_id: var("AZURE_TENANT_ID")
                        .unwrap_or_else(|| crate::cloud::DEFAULT_TENANT.to_owned()),
                    client_id: var("AZURE_CLIENT_ID")
                        .unwrap_or_else(|| crate::deploy::target::LOCAL_CLIENT_ID.to_owned()),
                    client_secret: crate::arm::Secret::new(
                        var("AZURE_CLIENT_SECRET").unwrap_or_else(|| "local".to_owned()),
                    ),
                    authority_host,
                },
                crate::arm::ArmClientOptions::default(),
            )?
        }
        None => crate::arm::ArmClient::new(
            crate::deploy::target::AZURE_ENDPOINT,
            crate::arm::Credential::from_vars(var)?,
            crate::arm::ArmClientOptions::default(),
        )?,
    };
    let rt = tokio::runtime::Runtime::new().map_err(|e| Error::Internal {
        message: format!("could not start the async runtime: {e}"),
    })?;
    let fetched = rt
        .block_on(azure::fetch(&client, &target))
        .map_err(|e| match e {
            azure::FetchError::Arm(a) => Error::Arm(a),
            other => Error::Blueprint {
                source_desc: target.blueprint_path(),
                message: other.to_string(),
            },
        })?;
    azure::write_export(&export, &fetched)?;
    eprintln!(
        "Read {} ({}, {} artifact(s)) into {}",
        target.blueprint_path(),
        fetched.version.as_deref().map_or_else(
            || "the draft: no version is published".to_string(),
            |v| format!("published version {v}")
        ),
        fetched.artifacts.len(),
        export.display()
    );
    Ok(export)
}

pub(super) fn run(cmd: &BlueprintCommand, global: &Global) -> Result<(), Error> {
    match cmd {
        BlueprintCommand::Import(args) => {
            let from = match (&args.azure_blueprint, &args.from_azure) {
                (Some(dir), _) => dir.clone(),
                (None, Some(bp)) => fetch_from_azure(args, bp)?,
                (None, None) => unreachable!("clap requires one source"),
            };
            let imported = crate::blueprint::import::import(&from, &args.out)?;
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
