//! `trustprint dataset generate|load|verify`: fictional patients for rehearsing a migration.

use super::deploy::{TargetArg, TargetArgs};
use super::Global;
use crate::dataset::{self, GenerateConfig, LoadConfig, StagingTarget, Trust, TrustKind};
use crate::deploy::target::{TargetKind, TargetOptions};
use crate::error::Error;
use clap::{Args, Subcommand};
use std::path::PathBuf;

pub(super) const HELP: &str = "\
Examples:
  trustprint dataset generate --patients 100000 --seed 42 --trust RM3 --out dataset/
  trustprint dataset load --values trust.yaml --from dataset/
  trustprint dataset verify --values trust.yaml

Every record is fictional and tagged HTEST (test health data); NHS numbers come from the 999 test range.
See docs/fictional-data.md.";

/// `dataset` subcommands.
#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Generate a trust's fictional population as FHIR R4 NDJSON (one file per resource type) and a manifest.
    #[command(after_help = "\
Example:
  trustprint dataset generate --patients 1000 --seed 7 --trust RY6 --out dataset/

The same seed, number of patients and trust always give byte-identical files.")]
    Generate(GenerateArgs),
    /// Upload a generated dataset into the trust's migration staging storage (parallel blocks, resumable).
    #[command(after_help = "\
Examples:
  trustprint dataset load --values trust.yaml --from dataset/
  trustprint dataset load --values trust.yaml --target azure --from dataset/

Needs the staging storage deployed (staging.enabled: true, then apply). On Azure it authenticates as deploy
does (AZURE_* variables, managed identity or the Azure CLI) with an Entra ID token for storage, and must run
from a network that reaches the account's private endpoint. Run it again after an interruption: committed
files are skipped and blocks already put are reused.")]
    Load(LoadArgs),
    /// Check that staging storage holds the dataset its manifest describes (record counts and checksums).
    #[command(after_help = "\
Example:
  trustprint dataset verify --values trust.yaml --from dataset/

Exit status 1 with one line per difference when storage does not match.")]
    Verify(VerifyArgs),
}

/// `--kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    Acute,
    Community,
}

/// `dataset load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The trust's values file (YAML).
    #[arg(long, value_name = "FILE")]
    pub values: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// The generated dataset's folder.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Block size in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 4096)]
    pub block_size_kib: usize,
    /// Blocks uploaded at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub parallel: usize,
    /// Stop with an error after putting this many blocks (rehearses an interrupted upload).
    #[arg(long, value_name = "N", hide = true)]
    pub stop_after_blocks: Option<u64>,
}

/// `dataset verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The trust's values file (YAML).
    #[arg(long, value_name = "FILE")]
    pub values: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Also require storage's manifest to equal this generated dataset's.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
}

fn staging(
    values: &std::path::Path,
    target: &TargetArgs,
    global: &Global,
) -> Result<StagingTarget, Error> {
    Ok(StagingTarget {
        inputs: global.inputs(values)?,
        target: TargetOptions {
            kind: target.target.map(|t| match t {
                TargetArg::Local => TargetKind::Local,
                TargetArg::Azure => TargetKind::Azure,
            }),
            cloud_url: target.cloud_url.clone(),
            cloud_ca: target.cloud_ca.clone(),
            state_dir: None,
            subscription: target.subscription.clone(),
            tenant: target.tenant.clone(),
            ..TargetOptions::default()
        },
    })
}

/// `dataset generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many patients.
    #[arg(long, value_name = "N")]
    pub patients: u64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The trust's ODS code: names its area (postcode district) and whether it is acute or community.
    #[arg(long, value_name = "ODS", default_value = "RM3")]
    pub trust: String,
    /// Acute or community, when the trust's name does not tell (the default reads it from the name; see
    /// docs/fictional-data.md).
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Worker threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

pub(super) fn run(cmd: &DatasetCommand, global: &Global) -> Result<(), Error> {
    match cmd {
        DatasetCommand::Generate(args) => {
            let mut trust = Trust::lookup(&args.trust)?;
            if let Some(kind) = args.kind {
                trust.kind = match kind {
                    KindArg::Acute => TrustKind::Acute,
                    KindArg::Community => TrustKind::Community,
                };
            }
            let config = GenerateConfig {
                patients: args.patients,
                seed: args.seed,
                trust,
                out: args.out.clone(),
                threads: args.threads,
            };
            let manifest = dataset::generate(&config)?;
            let value = serde_json::to_value(&manifest).map_err(|e| Error::Internal {
                message: format!("manifest as JSON: {e}"),
            })?;
            super::output::emit(global, &value, || {
                let mut s = format!(
                    "{} fictional patient(s) of {} ({}, {} trust, {}) with seed {} in {}\n",
                    manifest.patients,
                    manifest.trust.name,
                    manifest.trust.ods_code,
                    manifest.trust.kind,
                    manifest.trust.district,
                    manifest.seed,
                    args.out.display()
                );
                for f in &manifest.files {
                    s.push_str(&format!(
                        "  {:<24} {:>10} record(s) {:>12} bytes  sha256 {}\n",
                        f.file, f.count, f.bytes, f.sha256
                    ));
                }
                s
            })
        }
        DatasetCommand::Load(args) => {
            let report = dataset::load(&LoadConfig {
                staging: staging(&args.values, &args.target, global)?,
                from: args.from.clone(),
                block_size: args.block_size_kib.saturating_mul(1024),
                parallel: args.parallel,
                stop_after_blocks: args.stop_after_blocks,
            })?;
            let value = serde_json::to_value(&report).map_err(|e| Error::Internal {
                message: format!("load report as JSON: {e}"),
            })?;
            super::output::emit(global, &value, || {
                let mut s = format!(
                    "loaded {} into {}/{} ({})\n",
                    args.from.display(),
                    report.account,
                    report.container,
                    report.endpoint
                );
                for f in &report.files {
                    let what = if f.skipped {
                        "already loaded, skipped".to_owned()
                    } else {
                        format!(
                            "{} block(s): {} uploaded, {} resumed",
                            f.blocks, f.uploaded, f.resumed
                        )
                    };
                    s.push_str(&format!("  {:<36} {:>12} bytes  {what}\n", f.blob, f.bytes));
                }
                s
            })
        }
        DatasetCommand::Verify(args) => {
            let report = dataset::verify(
                &staging(&args.values, &args.target, global)?,
                args.from.as_deref(),
            )?;
            let value = serde_json::to_value(&report).map_err(|e| Error::Internal {
                message: format!("verify report as JSON: {e}"),
            })?;
            super::output::emit(global, &value, || {
                let mut s = format!(
                    "{}/{} holds the dataset of {} patient(s) (seed {}, {}): every count and checksum matches\n",
                    report.account,
                    report.container,
                    report.manifest.patients,
                    report.manifest.seed,
                    report.manifest.trust.ods_code
                );
                for f in &report.manifest.files {
                    s.push_str(&format!(
                        "  {:<24} {:>10} record(s)  md5 {}\n",
                        f.file, f.count, f.md5
                    ));
                }
                s
            })
        }
    }
}
