//! `trustprint dataset generate|load|verify`: fictional patients for rehearsing a migration.

use super::Global;
use crate::dataset::{self, GenerateConfig, Trust};
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
            let config = GenerateConfig {
                patients: args.patients,
                seed: args.seed,
                trust: Trust::lookup(&args.trust)?,
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
    }
}
