//! `trustprint fleet ...`: commands over every trust of a fleet repository. `cost` is the first; the fleet
//! work (issue 6) adds init, import, plan, apply, ... beside it as further [`FleetCommand`] variants.

use super::cost::CostOptionArgs;
use super::output::emit;
use super::Global;
use crate::error::Error;
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::PathBuf;

/// `fleet` subcommands.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Monthly estimates of the fleet's trusts, rolled up by NHS England region and ICB.
    #[command(after_help = "\
Example:
  trustprint fleet cost --fleet ../fleet --region Y62

Estimates trusts/<ODS>/values.yaml of every selected trust (as `trustprint cost` does) and sums them by
trust, NHS England region (Y56..Y63) and ICB, from NHS Digital's ODS data. A trust that fails is shown with
its error and left out of the sums. Exit 3 when any trust is above --fail-at of its budget.")]
    Cost(FleetCostArgs),
}

/// Which trusts of the fleet.
#[derive(Debug, Args)]
pub struct FleetSelectArgs {
    /// The fleet repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub fleet: PathBuf,
    /// Only these trusts (ODS codes, comma-separated).
    #[arg(long, value_name = "ODS,..", value_delimiter = ',')]
    pub trust: Vec<String>,
    /// Only trusts in these NHS England regions (Y56..Y63, comma-separated).
    #[arg(long, value_name = "Y..", value_delimiter = ',')]
    pub region: Vec<String>,
    /// Only trusts in these ICBs (ODS codes, comma-separated).
    #[arg(long, value_name = "ICB,..", value_delimiter = ',')]
    pub icb: Vec<String>,
}

impl FleetSelectArgs {
    fn selection(&self) -> crate::cost::rollup::Selection {
        crate::cost::rollup::Selection {
            trusts: self.trust.clone(),
            regions: self.region.clone(),
            icbs: self.icb.clone(),
        }
    }
}

/// `fleet cost`.
#[derive(Debug, Args)]
pub struct FleetCostArgs {
    #[command(flatten)]
    pub select: FleetSelectArgs,
    #[command(flatten)]
    pub options: CostOptionArgs,
}

pub(super) fn run(cmd: &FleetCommand, global: &Global) -> Result<(), Error> {
    match cmd {
        FleetCommand::Cost(args) => {
            let rollup = crate::cost::rollup::fleet_cost(
                &args.select.fleet,
                &global.source()?,
                &args.select.selection(),
                &args.options.options(),
            )?;
            emit(global, &json!(rollup), || rollup.render_text())?;
            let over: Vec<String> = rollup
                .trusts
                .iter()
                .filter(|t| {
                    t.budget
                        .as_ref()
                        .is_some_and(|b| b.status == crate::cost::BudgetStatus::Over)
                })
                .map(|t| t.ods_code.clone())
                .collect();
            if !over.is_empty() {
                return Err(crate::cost::Error::FleetOverBudget { trusts: over }.into());
            }
            Ok(())
        }
    }
}
