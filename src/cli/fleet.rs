//! `trustprint fleet ...`: commands over every trust of a fleet repository: the repository itself (init,
//! import, add, list, show, plan, apply, upgrade, rollout, drift, ci, report in `fleet_repo.rs`) and `cost`.

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

    /// Create a fleet repository: fleet.yaml (blueprint, address pools, rings canary/early/broad) in git.
    #[command(after_help = "\
Example:
  trustprint fleet init ../fleet --blueprint https://github.com/org/blueprints.git//exemplar-epr@v1.0.0

The blueprint defaults to the one built into trustprint. fleet.yaml lists the values every trust needs
as a commented `defaults:` block: fill them in before `fleet plan`. Its address pools (10.64.0.0/10,
10.128.0.0/9, 172.16.0.0/12) hold every open trust in England; add reserved ranges (HSCN, on-premises) and
edit the rings as needed (docs/fleets.md).")]
    Init(super::fleet_repo::InitArgs),

    /// Add the open English trusts of NHS Digital's ODS etr extract (skips closed ones, reports renamed,
    /// moved and closed trusts; running it again changes nothing).
    #[command(after_help = "\
Example:
  trustprint fleet import --fleet ../fleet --ods etr.csv --region Y62
  trustprint fleet import --fleet ../fleet --ods bundled --icb QOP

`--ods bundled` uses the copy shipped with trustprint (data/nhs/etr.csv). Each new trust gets an address
space from the fleet's pools, sized by its tier; fleet.yaml is committed. When the pools cannot hold them,
nothing is written and the error gives the space needed and a pool to add. Ends with what to fill in next:
the shared defaults fleet.yaml still lacks.")]
    Import(super::fleet_repo::ImportArgs),

    /// Add one trust with its own values file (copied to trusts/<ODS>/values.yaml and committed).
    #[command(after_help = "\
Example:
  trustprint fleet add RHW --fleet ../fleet --values royal-berkshire.yaml

An address space in the values file is kept as a manual range, checked against every other trust and the
reserved ranges; without one the fleet allocates it.")]
    Add(super::fleet_repo::AddArgs),

    /// The fleet's trusts, a line each: region, ICB, address space, ring and whether it has its own values.
    #[command(after_help = "\
Example:
  trustprint fleet list --fleet ../fleet --output json")]
    List(super::fleet_repo::ListArgs),

    /// One trust: what the fleet knows of it, its target, ring, version and last stamp.
    #[command(after_help = "\
Example:
  trustprint fleet show RM3 --fleet ../fleet")]
    Show(super::fleet_repo::ShowArgs),

    /// What-if for the selected trusts, a bounded number at once; unchanged trusts skipped without ARM calls.
    #[command(after_help = "\
Example:
  trustprint fleet plan --fleet ../fleet --region Y62 --concurrency 8
  trustprint fleet plan --ring canary --detailed-exitcode --output json

Each trust's values: the fleet's defaults and what fleet.yaml knows of it, under its own
trusts/<ODS>/values.yaml. A trust whose inputs hash as at its last successful apply is skipped with no
ARM call (--refresh asks ARM anyway). Ends with a roll-up: no change, to change, failed, with data loss.
Exit 1 when any trust failed; with --detailed-exitcode 2 when any has changes.")]
    Plan(super::fleet_repo::PlanArgs),

    /// Apply and record the selected trusts, a bounded number at once; one failing never stops the others.
    #[command(after_help = "\
Example:
  trustprint fleet apply --fleet ../fleet --ring canary
  trustprint fleet apply --resume

Every trust's outcome is committed to trusts/<ODS> (failed applies too, marked failed). An interrupted or
partly failed run is journalled in the repository's .git folder; --resume continues it with the trusts it
had not finished. On the local cloud one embedded cloud serves the whole run. Exit 1 when any trust failed.")]
    Apply(super::fleet_repo::ApplyArgs),

    /// Move the selected trusts to a blueprint version: migrate their values, then apply them.
    #[command(after_help = "\
Examples:
  trustprint fleet upgrade --fleet ../fleet --to 1.1.0 --dry-run
  trustprint fleet upgrade --fleet ../fleet --to 1.1.0 --trust RM3,RHW

--dry-run writes and deploys nothing: each trust is planned at the new version with its values migrated in
memory (the blueprint's migrations: renamed, added and removed parameters), and the roll-up counts the
changes, deletions and data loss. Without it the migrated values and the trusts' new version are committed
in one commit, then the trusts are applied as `fleet apply` does. When every trust runs the new version it
becomes the fleet's default. Versions only go forwards. Exit 1 when any trust failed.")]
    Upgrade(super::fleet_repo::UpgradeArgs),

    /// Upgrade ring by ring (fleet.yaml's rings, canary first), halting at the first ring with too many failures.
    #[command(after_help = "\
Example:
  trustprint fleet rollout --fleet ../fleet --to 1.1.0 --max-failures 0

Each ring is upgraded as `fleet upgrade --ring NAME` does; when more than --max-failures of its trusts fail,
the rollout stops there and later rings are left as they were. The rollout is recorded in
rollouts/<start>-<version>.json and committed, halted or finished. Exit 1 when it halted.")]
    Rollout(super::fleet_repo::RolloutArgs),

    /// Live state against what each trust was last applied with: drifted resources per trust; exit 2 on drift.
    #[command(after_help = "\
Example:
  trustprint fleet drift --fleet ../fleet --region Y62

For every selected trust whose inputs are unchanged since its last successful apply, a what-if of those
inputs: any change it shows was made outside trustprint (the portal, a script) and is listed by resource.
A trust whose inputs changed since is reported as such (its differences are pending changes, not drift).
Exit 2 when any trust drifted, 1 when any failed, 0 otherwise.")]
    Drift(super::fleet_repo::DriftArgs),

    /// Write a CI pipeline for the fleet: plan on pull requests, apply ring by ring with a job per trust.
    #[command(after_help = "\
Examples:
  trustprint fleet ci github --fleet ../fleet
  trustprint fleet ci azure-devops --concurrency 30

github writes .github/workflows/trustprint-fleet.yml, azure-devops writes azure-pipelines.yml, committed to
the fleet repository. Both authenticate to Azure with OIDC workload identity federation: set AZURE_TENANT_ID
and AZURE_CLIENT_ID as GitHub variables, or a workload-identity service connection named by
TRUSTPRINT_SERVICE_CONNECTION in Azure DevOps (docs/fleets.md, docs/deploying.md).")]
    Ci(super::fleet_repo::CiArgs),

    /// Write a self-contained HTML page on the fleet: versions, last applies, drift, guardrails, addresses.
    #[command(after_help = "\
Example:
  trustprint fleet report --fleet ../fleet --html report/
  trustprint fleet report --fleet ../fleet --html report/ --target local --trigger-evaluation

Writes report/index.html with no external assets: per trust its blueprint version, last apply and its
result, drift at the last `fleet drift`, guardrail status and address space, and charts of version adoption
and of trusts by NHS England region; per Azure Policy initiative (UK OFFICIAL and UK NHS, NCSC CAF) each
trust's groups before deployment and, with --target or --cloud-url, after deployment from the target's
policy states.")]
    Report(super::fleet_repo::ReportArgs),
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

pub(super) fn run(cmd: &FleetCommand, global: &Global) -> Result<crate::ExitCode, Error> {
    let done = match cmd {
        FleetCommand::Plan(args) => return super::fleet_repo::plan(args, global),
        FleetCommand::Apply(args) => return super::fleet_repo::apply(args, global),
        FleetCommand::Drift(args) => return super::fleet_repo::drift(args, global),
        FleetCommand::Upgrade(args) => return super::fleet_repo::upgrade(args, global),
        FleetCommand::Rollout(args) => return super::fleet_repo::rollout(args, global),
        FleetCommand::Init(args) => super::fleet_repo::init(args, global),
        FleetCommand::Ci(args) => super::fleet_repo::ci(args, global),
        FleetCommand::Report(args) => super::fleet_repo::report(args, global),
        FleetCommand::Import(args) => super::fleet_repo::import(args, global),
        FleetCommand::Add(args) => super::fleet_repo::add(args, global),
        FleetCommand::List(args) => super::fleet_repo::list(args, global),
        FleetCommand::Show(args) => super::fleet_repo::show(args, global),
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
    };
    done.map(|()| crate::ExitCode::Success)
}
