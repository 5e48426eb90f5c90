//! `trustprint evidence`.

use super::output::emit;
use super::Global;
use crate::error::Error;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

pub(super) const HELP: &str = "\
Example:
  trustprint evidence --values trust.yaml --out evidence/
  trustprint evidence --values trust.yaml --out evidence/ --fleet ../fleet --plan rhw.plan.json
  trustprint evidence --values trust.yaml --out evidence/ --target local --trigger-evaluation

Writes evidence.md, evidence.html (one self-contained page) and evidence.json: the blueprint version and
commit, the values without secrets, the guardrail results and waivers with their justifications, the policy
assignments, the last plan (--plan) and apply (from the fleet's lock with --fleet), and each control mapped
to the NCSC cloud security principles, the UK OFFICIAL and UK NHS initiative's groups and the DSPT
(CAF-aligned) outcomes. With --fleet the pack is also committed to trusts/<ODS>/evidence/. Guardrail
violations are reported in the pack, not as a failure.

Microsoft's UK OFFICIAL and UK NHS and NCSC CAF initiatives are evaluated per group before deployment; with
--target (or --cloud-url) the pack also shows each group's state after deployment, from the compliance states
the local cloud or Azure recorded for the trust's subscription (--trigger-evaluation starts an evaluation scan
and waits for it first). See docs/evidence.md.";

/// `evidence`.
#[derive(Debug, Args)]
pub struct EvidenceArgs {
    /// The trust's values file (YAML).
    #[arg(long, value_name = "FILE")]
    pub values: PathBuf,
    /// The folder to write the pack into (created when missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The fleet repository: the last deployment is read from the trust's lock, and the pack committed.
    #[arg(long, value_name = "DIR")]
    pub fleet: Option<PathBuf>,
    /// A saved plan (`trustprint plan --out FILE`) to include.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Where the trust is deployed: with --target or --cloud-url, each initiative group also shows its state
    /// after deployment, read from that target's policy states (Microsoft.PolicyInsights).
    #[command(flatten)]
    pub target: super::deploy::TargetArgs,
    /// Start an evaluation scan of the trust's subscription and wait for it before reading the states.
    #[arg(long)]
    pub trigger_evaluation: bool,
}

pub(super) fn run(args: &EvidenceArgs, global: &Global) -> Result<(), Error> {
    let inputs = global.inputs(&args.values)?;
    let checked = crate::run::check_trust(&inputs)?;
    let policy_states = if args.target.target.is_some()
        || args.target.cloud_url.is_some()
        || args.trigger_evaluation
    {
        let reader = crate::evidence::after::Reader::new(args.target.options())?;
        Some(reader.read(
            &checked.loaded.values,
            &checked.rendered.trust.ods_code,
            None,
            args.trigger_evaluation,
        )?)
    } else {
        None
    };
    let pack = crate::evidence::build(
        &checked,
        &crate::evidence::Inputs {
            fleet: args.fleet.clone(),
            plan: args.plan.clone(),
            generated_at: None,
            policy_states,
        },
    )?;
    let written = crate::evidence::write(&args.out, &pack)?;
    let commit = match &args.fleet {
        Some(fleet) => crate::evidence::commit(fleet, &pack)?,
        None => None,
    };
    let value = json!({
        "trust": pack.trust,
        "written": written,
        "commit": commit,
        "guardrailsPassed": pack.guardrails.passed,
    });
    emit(global, &value, || {
        let mut s = format!(
            "Evidence pack for {} ({}) written to {}\n",
            pack.trust.name,
            pack.trust.ods_code,
            args.out.display()
        );
        if let Some(c) = &commit {
            s.push_str(&format!("Committed to the fleet repository as {c}\n"));
        }
        s
    })
}
