//! `trustprint values ...`.

use super::Global;
use crate::error::Error;
use clap::Subcommand;

/// `values` subcommands.
#[derive(Debug, Subcommand)]
pub enum ValuesCommand {
    /// Print the JSON Schema (draft 2020-12) of the blueprint's values files.
    #[command(after_help = "\
Example:
  trustprint values schema > values.schema.json
  trustprint --blueprint blueprints/exemplar-epr values schema

Editors that read JSON Schema (the YAML language server: `# yaml-language-server: $schema=values.schema.json`)
then complete and check values files as you type.")]
    Schema,
}

pub(super) fn run(cmd: &ValuesCommand, global: &Global) -> Result<(), Error> {
    match cmd {
        ValuesCommand::Schema => {
            let schema = crate::run::values_schema(&global.source()?)?;
            // The schema is JSON whatever --output says.
            print!(
                "{}",
                String::from_utf8_lossy(&crate::hash::to_bytes(&schema))
            );
            Ok(())
        }
    }
}
