//! `fleet init | import | add | list | show`: the fleet repository itself (src/fleet).

use super::output::emit;
use super::Global;
use crate::error::Error;
use crate::fleet::{import, Fleet};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

/// `fleet init DIR`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The new fleet repository (a new or empty folder, or a git repository without fleet.yaml).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `fleet import --ods etr.csv`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The fleet repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub fleet: PathBuf,
    /// NHS Digital's ODS etr extract (`etr.csv`); `bundled` for the copy shipped with trustprint.
    #[arg(long, value_name = "FILE")]
    pub ods: String,
    /// Only this NHS England region (Y56..Y63).
    #[arg(long, value_name = "Y..")]
    pub region: Option<String>,
    /// Only this ICB (its ODS code, such as QOP).
    #[arg(long, value_name = "ICB")]
    pub icb: Option<String>,
}

/// `fleet add ODS --values FILE`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The fleet repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub fleet: PathBuf,
    /// The trust's ODS code.
    #[arg(value_name = "ODS")]
    pub ods: String,
    /// The trust's own values file, copied to trusts/<ODS>/values.yaml.
    #[arg(long, value_name = "FILE")]
    pub values: PathBuf,
}

/// `fleet list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The fleet repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub fleet: PathBuf,
}

/// `fleet show ODS`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The fleet repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub fleet: PathBuf,
    /// The trust's ODS code.
    #[arg(value_name = "ODS")]
    pub ods: String,
}

fn committed(commit: &Option<String>) -> String {
    match commit {
        Some(c) => format!("committed {}", &c[..c.len().min(12)]),
        None => "nothing changed, no commit".into(),
    }
}

pub(super) fn init(args: &InitArgs, global: &Global) -> Result<(), Error> {
    let source = global.blueprint_arg().unwrap_or("embedded").to_string();
    // The source must be one trustprint can open later.
    if source != "embedded" {
        crate::blueprint::SourceSpec::parse(&source)?;
    }
    let fleet = Fleet::init(&args.dir, &source)?;
    emit(
        global,
        &json!({"fleet": fleet.dir, "blueprint": source, "file": crate::fleet::FLEET_FILE,
                "missing_defaults": crate::fleet::config::still_missing(&fleet)}),
        || {
            format!(
                "created fleet {} (blueprint {source}); next: `trustprint fleet import --fleet {} --ods bundled` or `fleet add`\n{}",
                fleet.dir.display(),
                fleet.dir.display(),
                match crate::fleet::config::still_missing(&fleet).len() {
                    0 => String::new(),
                    n => format!("fleet.yaml lists the {n} shared value(s) every trust needs as comments under `defaults:`: fill them in before `fleet plan`\n"),
                }
            )
        },
    )
}

pub(super) fn import(args: &ImportArgs, global: &Global) -> Result<(), Error> {
    let mut fleet = Fleet::open(&args.fleet)?;
    let owned;
    let extract: &[crate::ods::OdsTrust] = if args.ods == "bundled" {
        crate::ods::bundled()
    } else {
        let text = std::fs::read_to_string(&args.ods)
            .map_err(|e| Error::io(std::path::Path::new(&args.ods), e))?;
        owned = crate::ods::parse(&text, &args.ods).map_err(crate::fleet::FleetError::from)?;
        &owned
    };
    let filter = import::Filter {
        region: args.region.clone(),
        icb: args.icb.clone(),
    };
    let report = import::import(&mut fleet.file, extract, &filter);
    let before: std::collections::BTreeMap<String, Option<crate::types::Cidr>> = fleet
        .file
        .trusts
        .iter()
        .map(|(k, t)| (k.clone(), t.address_space))
        .collect();
    let commit = if report.changed() {
        fleet.save(&format!(
            "Import {} trust(s) from the ODS list{}",
            report.added.len(),
            [args.region.as_deref(), args.icb.as_deref()]
                .into_iter()
                .flatten()
                .map(|s| format!(" ({s})"))
                .collect::<String>()
        ))?
    } else {
        None
    };
    let allocated: Vec<(String, String)> = fleet
        .file
        .trusts
        .iter()
        .filter(|(k, t)| before.get(*k).copied().flatten() != t.address_space)
        .filter_map(|(k, t)| t.address_space.map(|c| (k.clone(), c.to_string())))
        .collect();
    emit(
        global,
        &json!({"report": report, "allocated": allocated, "commit": commit,
                "missing_defaults": crate::fleet::config::still_missing(&fleet)}),
        || {
            let mut s = format!(
                "{} added, {} unchanged, {} closed skipped, {} outside England or the filter skipped\n",
                report.added.len(),
                report.unchanged,
                report.skipped_closed,
                report.skipped_other
            );
            for (code, old, new) in &report.renamed {
                s.push_str(&format!("renamed: {code}: {old} -> {new}\n"));
            }
            for (code, what) in &report.moved {
                s.push_str(&format!("moved: {code}: {what}\n"));
            }
            for (code, name, date) in &report.closed {
                s.push_str(&format!(
                    "closed: {code} {name} on {date} (merged or dissolved): kept in fleet.yaml, marked closed; remove it when its environment is retired\n"
                ));
            }
            if !allocated.is_empty() {
                s.push_str(&format!("{} address space(s) allocated\n", allocated.len()));
            }
            s.push_str(&committed(&commit));
            s.push('\n');
            s.push_str(&crate::fleet::config::next_steps(&fleet));
            s.push('\n');
            s
        },
    )
}

pub(super) fn add(args: &AddArgs, global: &Global) -> Result<(), Error> {
    let mut fleet = Fleet::open(&args.fleet)?;
    let commit = fleet.add(&args.ods, &args.values)?;
    let ods = args.ods.to_ascii_uppercase();
    let t = fleet.trust(&ods)?;
    let address = t.address_space.map(|c| c.to_string());
    emit(
        global,
        &json!({"ods": ods, "name": t.name, "address_space": address, "commit": commit}),
        || {
            format!(
                "added {ods} {} with address space {}; {}\n",
                t.name,
                address.as_deref().unwrap_or("(none)"),
                committed(&commit)
            )
        },
    )
}

fn trust_json(fleet: &Fleet, ods: &str, t: &crate::fleet::config::TrustEntry) -> serde_json::Value {
    json!({
        "ods": ods,
        "name": t.name,
        "region": t.region,
        "region_name": t.region.as_deref().and_then(crate::ods::region_name),
        "icb": t.icb,
        "tier": t.tier,
        "address_space": t.address_space.map(|c| c.to_string()),
        "address": t.address,
        "ring": fleet.ring_of(ods),
        "version": t.version.as_deref().or(fleet.file.blueprint.version.as_deref()),
        "target": t.target,
        "closed": t.closed,
        "values_file": fleet.values_path(ods).is_file(),
    })
}

pub(super) fn list(args: &ListArgs, global: &Global) -> Result<(), Error> {
    let fleet = Fleet::open(&args.fleet)?;
    let rows: Vec<serde_json::Value> = fleet
        .file
        .trusts
        .iter()
        .map(|(ods, t)| trust_json(&fleet, ods, t))
        .collect();
    emit(global, &json!({"trusts": rows}), || {
        let mut s = format!(
            "{:<6} {:<46} {:<4} {:<6} {:<18} {:<8} {}\n",
            "ODS", "NAME", "REG", "ICB", "ADDRESS", "RING", "STATE"
        );
        for (ods, t) in &fleet.file.trusts {
            let state = match (&t.closed, fleet.values_path(ods).is_file()) {
                (Some(d), _) => format!("closed {d}"),
                (None, true) => "own values".into(),
                (None, false) => "fleet defaults".into(),
            };
            s.push_str(&format!(
                "{:<6} {:<46} {:<4} {:<6} {:<18} {:<8} {}\n",
                ods,
                t.name.chars().take(46).collect::<String>(),
                t.region.as_deref().unwrap_or("-"),
                t.icb.as_deref().unwrap_or("-"),
                t.address_space.map_or("-".into(), |c| c.to_string()),
                fleet.ring_of(ods).unwrap_or("-"),
                state
            ));
        }
        s.push_str(&format!("{} trust(s)\n", fleet.file.trusts.len()));
        s
    })
}

pub(super) fn show(args: &ShowArgs, global: &Global) -> Result<(), Error> {
    let fleet = Fleet::open(&args.fleet)?;
    let ods = args.ods.to_ascii_uppercase();
    let t = fleet.trust(&ods)?;
    let layer = fleet.trust_layer(&ods)?;
    let lock = crate::repo::FleetRepo::new(&fleet.dir).read_lock(&ods)?;
    let mut value = trust_json(&fleet, &ods, t);
    value["values_from_fleet"] = serde_json::to_value(&layer).unwrap_or_default();
    value["last_stamp"] = lock.as_ref().map_or(serde_json::Value::Null, |l| {
        json!({"blueprint": l.blueprint, "content_hash": l.content_hash, "deployment": l.deployment})
    });
    emit(global, &value, || {
        let mut s = format!("{ods} {}\n", t.name);
        let line = |k: &str, v: String| format!("  {k:<14} {v}\n");
        s.push_str(&line(
            "region",
            match (
                &t.region,
                t.region.as_deref().and_then(crate::ods::region_name),
            ) {
                (Some(code), Some(name)) => format!("{code} {name}"),
                (Some(code), None) => code.clone(),
                _ => "-".into(),
            },
        ));
        s.push_str(&line("icb", t.icb.clone().unwrap_or("-".into())));
        s.push_str(&line(
            "address space",
            t.address_space.map_or("-".into(), |c| {
                format!("{c} ({:?})", t.address).to_lowercase()
            }),
        ));
        s.push_str(&line("ring", fleet.ring_of(&ods).unwrap_or("-").into()));
        s.push_str(&line(
            "version",
            t.version
                .clone()
                .or(fleet.file.blueprint.version.clone())
                .unwrap_or_else(|| "the blueprint's own".into()),
        ));
        s.push_str(&line(
            "target",
            t.target.as_ref().map_or("local cloud only".into(), |g| {
                format!("tenant {} subscription {}", g.tenant_id, g.subscription_id)
            }),
        ));
        s.push_str(&line(
            "values",
            if fleet.values_path(&ods).is_file() {
                format!(
                    "{} over the fleet defaults",
                    crate::repo::FleetRepo::values_rel(&ods)
                )
            } else {
                "the fleet defaults only".into()
            },
        ));
        s.push_str(&line(
            "last stamp",
            lock.as_ref().map_or("never".into(), |l| {
                format!("{} {}", l.blueprint.name, l.blueprint.version)
            }),
        ));
        s
    })
}

/// Which trusts, and where, for `fleet plan` and `fleet apply`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The fleet repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub fleet: PathBuf,
    /// Only these trusts (ODS codes, comma-separated).
    #[arg(long, value_name = "ODS,..", value_delimiter = ',')]
    pub trust: Vec<String>,
    /// Only the trusts of this ring.
    #[arg(long, value_name = "NAME")]
    pub ring: Option<String>,
    /// Only trusts in these NHS England regions (Y56..Y63, comma-separated).
    #[arg(long, value_name = "Y..", value_delimiter = ',')]
    pub region: Vec<String>,
    /// Only trusts in these ICBs (comma-separated).
    #[arg(long, value_name = "ICB,..", value_delimiter = ',')]
    pub icb: Vec<String>,
    /// Trusts worked on at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub concurrency: usize,
    /// Ask ARM about every trust, even those unchanged since their last successful apply.
    #[arg(long)]
    pub refresh: bool,
    #[command(flatten)]
    pub target: FleetTargetArgs,
    /// Evaluate an Azure Policy initiative (`uk-nhs`, `ncsc-caf` or a JSON file) over each trust; a trust an
    /// enforced deny effect would refuse fails, as one with guardrail violations does. Repeatable.
    #[arg(long, value_name = "INITIATIVE|FILE")]
    pub policy: Vec<String>,
}

/// Where a fleet command deploys, or reads policy states from: one target for every trust (each acting as its
/// fleet.yaml identity on Azure).
#[derive(Debug, Clone, Args)]
pub struct FleetTargetArgs {
    /// The target: local (the embedded local cloud, one for the whole run, or --cloud-url) or azure (each
    /// trust as its fleet.yaml identity). `fleet report` reads each applied trust's policy states after
    /// deployment from it.
    #[arg(long, value_enum, value_name = "TARGET")]
    pub target: Option<super::deploy::TargetArg>,
    /// A running local cloud (`trustprint cloud serve`) instead of the embedded one.
    #[arg(long, value_name = "URL")]
    pub cloud_url: Option<String>,
    /// A CA certificate (PEM) to trust: the one `cloud serve --tls` wrote, <state>/ca.pem.
    #[arg(long, value_name = "FILE", env = "TRUSTPRINT_CLOUD_CA")]
    pub cloud_ca: Option<PathBuf>,
}

impl FleetTargetArgs {
    fn options(&self) -> crate::deploy::target::TargetOptions {
        crate::deploy::target::TargetOptions {
            kind: self.target.map(super::deploy::TargetArg::kind),
            cloud_url: self.cloud_url.clone(),
            cloud_ca: self.cloud_ca.clone(),
            ..Default::default()
        }
    }

    /// Whether a target was named at all.
    fn given(&self) -> bool {
        self.target.is_some() || self.cloud_url.is_some()
    }

    fn is_azure(&self) -> bool {
        self.target == Some(super::deploy::TargetArg::Azure)
    }
}

/// `fleet plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Exit 2 when any trust has changes (0 none, 1 a trust failed).
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// `fleet apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Continue the interrupted `fleet apply` with the trusts it had not finished.
    #[arg(long)]
    pub resume: bool,
    /// Apply without asking (required for --target azure).
    #[arg(long)]
    pub yes: bool,
    /// Allow plans that delete or replace data-bearing resources.
    #[arg(long)]
    pub allow_data_loss: bool,
    /// Update stacks even when Azure says their list of managed resources is out of sync (sends
    /// `bypassStackOutOfSyncError`); check the stacks' resources first.
    #[arg(long)]
    pub bypass_stack_out_of_sync: bool,
}

impl RunArgs {
    fn options(
        &self,
        global: &Global,
        resume: bool,
        yes: bool,
        allow_data_loss: bool,
    ) -> crate::fleet::run::RunOptions {
        crate::fleet::run::RunOptions {
            selection: crate::fleet::run::Selection {
                trusts: self.trust.iter().map(|t| t.to_ascii_uppercase()).collect(),
                ring: self.ring.clone(),
                regions: self.region.clone(),
                icbs: self.icb.clone(),
            },
            concurrency: self.concurrency,
            refresh: self.refresh,
            resume,
            deploy: crate::deploy::DeployOptions {
                target: self.target.options(),
                yes,
                allow_data_loss,
                ..Default::default()
            },
            progress: super::progress::trust_lines(global.json),
            upgrade_to: None,
            policy: self.policy.clone(),
        }
    }
}

fn emit_run(global: &Global, report: &crate::fleet::run::RunReport) -> Result<(), Error> {
    emit(global, &json!(report), || report.render_text())
}

pub(super) fn plan(args: &PlanArgs, global: &Global) -> Result<crate::ExitCode, Error> {
    let fleet = Fleet::open(&args.run.fleet)?;
    let report = crate::fleet::run::run(
        &fleet,
        &args.run.options(global, false, true, false),
        crate::fleet::run::Mode::Plan,
    )?;
    emit_run(global, &report)?;
    Ok(if report.any_failed() {
        crate::ExitCode::Failure
    } else if args.detailed_exitcode && report.rollup.changed > 0 {
        crate::ExitCode::Changes
    } else {
        crate::ExitCode::Success
    })
}

pub(super) fn apply(args: &ApplyArgs, global: &Global) -> Result<crate::ExitCode, Error> {
    let fleet = Fleet::open(&args.run.fleet)?;
    if args.run.target.is_azure() && !args.yes {
        return Err(Error::Usage {
            message: "fleet apply --target azure changes many trusts' estates: give --yes (after reading `fleet plan`)".into(),
        });
    }
    let mut options = args
        .run
        .options(global, args.resume, true, args.allow_data_loss);
    options.deploy.bypass_stack_out_of_sync = args.bypass_stack_out_of_sync;
    let report = crate::fleet::run::run(&fleet, &options, crate::fleet::run::Mode::Apply)?;
    emit_run(global, &report)?;
    Ok(if report.any_failed() {
        crate::ExitCode::Failure
    } else {
        crate::ExitCode::Success
    })
}

/// `fleet drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub run: RunArgs,
}

pub(super) fn drift(args: &DriftArgs, global: &Global) -> Result<crate::ExitCode, Error> {
    let fleet = Fleet::open(&args.run.fleet)?;
    let report = crate::fleet::run::run(
        &fleet,
        &args.run.options(global, false, true, false),
        crate::fleet::run::Mode::Drift,
    )?;
    // Kept (unversioned, in .git) for `fleet report`.
    let mut last = json!(report);
    last["checkedAt"] = json!(crate::deploy::now());
    if let Ok(repo) = git2::Repository::open(&fleet.dir) {
        let path = repo.path().join(crate::fleet::report::LAST_DRIFT);
        if let Err(e) = crate::atomic::write_atomic(&path, last.to_string().as_bytes()) {
            tracing::warn!(error = %e, "could not keep the drift report for `fleet report`");
        }
    }
    emit_run(global, &report)?;
    Ok(if report.any_failed() {
        crate::ExitCode::Failure
    } else if report.rollup.drifted > 0 {
        crate::ExitCode::Changes
    } else {
        crate::ExitCode::Success
    })
}

/// `fleet ci ENGINE`.
#[derive(Debug, Args)]
pub struct CiArgs {
    /// github (a GitHub Actions workflow) or azure-devops (an Azure Pipelines definition).
    #[arg(value_enum, value_name = "ENGINE")]
    pub engine: CiEngine,
    /// The fleet repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub fleet: PathBuf,
    /// Trust jobs at once in each ring.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub concurrency: usize,
}

/// The CI engines `fleet ci` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CiEngine {
    Github,
    AzureDevops,
}

pub(super) fn ci(args: &CiArgs, global: &Global) -> Result<(), Error> {
    let fleet = Fleet::open(&args.fleet)?;
    let engine = match args.engine {
        CiEngine::Github => crate::fleet::ci::Engine::GitHub,
        CiEngine::AzureDevops => crate::fleet::ci::Engine::AzureDevOps,
    };
    let text = crate::fleet::ci::definition(&fleet, engine, args.concurrency.max(1));
    let path = engine.path();
    let commit = fleet.commit(
        vec![(path.to_string(), text.into_bytes())],
        &format!("CI pipeline for the fleet ({path})"),
    )?;
    let rings = crate::fleet::ci::rings(&fleet);
    emit(
        global,
        &json!({"file": path, "commit": commit, "rings": rings}),
        || {
            format!(
                "wrote {path}: plan on pull requests, then apply ring by ring ({}); {}\n",
                rings
                    .iter()
                    .map(|(r, m)| format!("{r}: {} trust(s)", m.len()))
                    .collect::<Vec<_>>()
                    .join(", "),
                committed(&commit)
            )
        },
    )
}

/// `fleet report --html DIR`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The fleet repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub fleet: PathBuf,
    /// Folder to write index.html into.
    #[arg(long, value_name = "DIR")]
    pub html: PathBuf,
    /// With a target, each applied trust's policy states after deployment are shown too, read from it.
    #[command(flatten)]
    pub target: FleetTargetArgs,
    /// Start an evaluation scan of each applied trust's subscription and wait for it before reading.
    #[arg(long)]
    pub trigger_evaluation: bool,
}

pub(super) fn report(args: &ReportArgs, global: &Global) -> Result<(), Error> {
    let fleet = Fleet::open(&args.fleet)?;
    let after = if args.target.given() {
        Some(crate::fleet::report::AfterOptions {
            reader: crate::evidence::after::Reader::new(args.target.options())?,
            trigger: args.trigger_evaluation,
        })
    } else {
        None
    };
    let report = crate::fleet::report::build(&fleet, after.as_ref())?;
    let name = std::fs::canonicalize(&fleet.dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "fleet".into());
    let page = crate::fleet::report::html(&report, &name, &crate::deploy::now());
    let path = args.html.join("index.html");
    crate::atomic::write_atomic(&path, page.as_bytes())?;
    emit(global, &json!({"file": path, "report": report}), || {
        format!(
            "wrote {} ({} trust(s))\n",
            path.display(),
            report.rows.len()
        )
    })
}

/// `fleet upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The blueprint version to move the selected trusts to (a git tag for a git source).
    #[arg(long, value_name = "VERSION")]
    pub to: String,
    /// Plan each trust at the new version with its values migrated in memory; write and deploy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply without asking (required for --target azure).
    #[arg(long)]
    pub yes: bool,
    /// Allow plans that delete or replace data-bearing resources.
    #[arg(long)]
    pub allow_data_loss: bool,
    /// Update stacks even when Azure says their list of managed resources is out of sync (sends
    /// `bypassStackOutOfSyncError`); check the stacks' resources first.
    #[arg(long)]
    pub bypass_stack_out_of_sync: bool,
}

/// `--to` as a version.
fn target_version(to: &str) -> Result<semver::Version, Error> {
    semver::Version::parse(to.trim().trim_start_matches('v')).map_err(|e| Error::Usage {
        message: format!("--to {to}: not a version ({e}); expected one such as 1.1.0"),
    })
}

fn refuse_azure_without_yes(run: &RunArgs, yes: bool, command: &str) -> Result<(), Error> {
    if run.target.is_azure() && !yes {
        return Err(Error::Usage {
            message: format!(
                "fleet {command} --target azure changes many trusts' estates: give --yes (after reading `fleet upgrade --dry-run`)"
            ),
        });
    }
    Ok(())
}

pub(super) fn upgrade(args: &UpgradeArgs, global: &Global) -> Result<crate::ExitCode, Error> {
    let mut fleet = Fleet::open(&args.run.fleet)?;
    let to = target_version(&args.to)?;
    if !args.dry_run {
        refuse_azure_without_yes(&args.run, args.yes, "upgrade")?;
    }
    let mut options = args.run.options(global, false, true, args.allow_data_loss);
    options.deploy.bypass_stack_out_of_sync = args.bypass_stack_out_of_sync;
    let report = crate::fleet::upgrade::upgrade(&mut fleet, &to, &options, args.dry_run)?;
    emit(global, &json!(report), || report.render_text())?;
    Ok(if report.run.any_failed() {
        crate::ExitCode::Failure
    } else {
        crate::ExitCode::Success
    })
}

/// `fleet rollout`.
#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// The fleet repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub fleet: PathBuf,
    /// The blueprint version to roll out (a git tag for a git source).
    #[arg(long, value_name = "VERSION")]
    pub to: String,
    /// Stop after the first ring in which more trusts than this fail.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_failures: usize,
    /// Trusts worked on at once within a ring.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub concurrency: usize,
    #[command(flatten)]
    pub target: FleetTargetArgs,
    /// Apply without asking (required for --target azure).
    #[arg(long)]
    pub yes: bool,
    /// Allow plans that delete or replace data-bearing resources.
    #[arg(long)]
    pub allow_data_loss: bool,
    /// Update stacks even when Azure says their list of managed resources is out of sync (sends
    /// `bypassStackOutOfSyncError`); check the stacks' resources first.
    #[arg(long)]
    pub bypass_stack_out_of_sync: bool,
}

pub(super) fn rollout(args: &RolloutArgs, global: &Global) -> Result<crate::ExitCode, Error> {
    let mut fleet = Fleet::open(&args.fleet)?;
    let to = target_version(&args.to)?;
    let run = RunArgs {
        fleet: args.fleet.clone(),
        trust: Vec::new(),
        ring: None,
        region: Vec::new(),
        icb: Vec::new(),
        concurrency: args.concurrency,
        refresh: false,
        target: args.target.clone(),
        policy: Vec::new(),
    };
    refuse_azure_without_yes(&run, args.yes, "rollout")?;
    let mut options = run.options(global, false, true, args.allow_data_loss);
    options.deploy.bypass_stack_out_of_sync = args.bypass_stack_out_of_sync;
    let report = crate::fleet::upgrade::rollout(&mut fleet, &to, args.max_failures, &options)?;
    let mut value = json!(report);
    if let Some((path, commit)) = &report.record {
        value["record"] = json!({"path": path, "commit": commit});
    }
    emit(global, &value, || report.render_text())?;
    Ok(if report.halted() {
        crate::ExitCode::Failure
    } else {
        crate::ExitCode::Success
    })
}
