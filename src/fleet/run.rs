//! `fleet plan` and `fleet apply`: the selected trusts of a fleet, each through the single-trust pipeline
//! (load → render → check → plan, and apply → record), over a bounded number of workers.
//!
//! Contract:
//! - a trust's values are the fleet's layer ([`super::Fleet::trust_layer`]) under its own
//!   `trusts/<ODS>/values.yaml` when it has one;
//! - a trust whose content hash (values and rendered files, [`crate::record::Lock::content_hash`]) equals the one
//!   its lock recorded after a successful apply is skipped with no ARM call, unless `refresh`; when the lock
//!   was written by this trustprint version and the run evaluates no Azure Policy files, its guardrails are
//!   not run again either (they passed before that apply, on the same input and rules);
//! - one trust failing (invalid values, a guardrail, ARM) is reported in its row and never stops or touches the
//!   others; every applied trust is recorded (one commit each, under the fleet's lock), failed applies too;
//! - the run's selection and progress are journalled in `.git/trustprint-fleet-run.json`, so `resume`
//!   continues an interrupted run with the trusts it had not finished;
//! - on the local cloud, one embedded cloud serves the whole run (each trust in its own subscription).

use super::Fleet;
use crate::deploy::{DeployOptions, TargetKind};
use crate::error::Error;
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Which trusts: empty lists select every open trust.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Selection {
    pub trusts: Vec<String>,
    pub ring: Option<String>,
    pub regions: Vec<String>,
    pub icbs: Vec<String>,
}

impl Selection {
    /// The selected trusts' ODS codes, in code order; closed trusts are never selected.
    pub fn resolve(&self, fleet: &Fleet) -> Result<Vec<String>, Error> {
        for ods in &self.trusts {
            fleet.trust(ods)?;
        }
        if let Some(ring) = &self.ring {
            if !fleet.file.rings.iter().any(|r| &r.name == ring) {
                return Err(Error::Usage {
                    message: format!(
                        "--ring {ring}: fleet.yaml has no such ring (rings: {})",
                        fleet
                            .file
                            .rings
                            .iter()
                            .map(|r| r.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        let any = |list: &[String], v: Option<&str>| {
            list.is_empty() || v.is_some_and(|v| list.iter().any(|x| x.eq_ignore_ascii_case(v)))
        };
        Ok(fleet
            .file
            .trusts
            .iter()
            .filter(|(ods, t)| {
                t.closed.is_none()
                    && any(&self.trusts, Some(ods))
                    && any(&self.regions, t.region.as_deref())
                    && any(&self.icbs, t.icb.as_deref())
                    && self
                        .ring
                        .as_deref()
                        .is_none_or(|r| fleet.ring_of(ods) == Some(r))
            })
            .map(|(ods, _)| ods.clone())
            .collect())
    }
}

/// What a run does to each trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// What-if: the changes applying would make.
    Plan,
    /// Apply and record.
    Apply,
    /// What-if of the inputs each trust was last applied with: any change is drift made outside trustprint.
    Drift,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Plan => "plan",
            Mode::Apply => "apply",
            Mode::Drift => "drift",
        }
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub selection: Selection,
    /// Trusts worked on at once.
    pub concurrency: usize,
    /// Plan even trusts whose content hash matches their last successful apply.
    pub refresh: bool,
    /// Continue the interrupted run recorded in the journal.
    pub resume: bool,
    /// Target and safety options, as for one trust (`yes` is the run's).
    pub deploy: DeployOptions,
    /// Where each finished trust is reported ([`Event::Trust`](crate::deploy::progress::Event::Trust)).
    pub progress: crate::deploy::progress::Progress,
    /// Plan every trust at this blueprint version, its values migrated in memory (`fleet upgrade --dry-run`).
    pub upgrade_to: Option<semver::Version>,
    /// Azure Policy initiatives (`--policy`) evaluated over each trust: an enforced deny stops the trust as a
    /// guardrail violation does.
    pub policy: Vec<String>,
}

/// What happened to one trust.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum Outcome {
    /// Same inputs as its last successful apply: no ARM call made.
    Skipped,
    /// Planned (or applied) with nothing to change.
    NoChange,
    /// `fleet plan`: the changes applying would make.
    Changes {
        create: usize,
        modify: usize,
        delete: usize,
        /// Resources its stacks would stop managing and leave in place.
        #[serde(skip_serializing_if = "is_zero")]
        detach: usize,
        data_loss: Vec<String>,
    },
    /// `fleet apply`: applied and recorded.
    Applied {
        create: usize,
        modify: usize,
        delete: usize,
        #[serde(skip_serializing_if = "is_zero")]
        detach: usize,
        commit: Option<String>,
    },
    /// `fleet drift`: live resources differ from what the trust was last applied with, or its stacks' deny
    /// assignments refused someone's requests since (`denied`, one line each).
    Drifted {
        resources: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        denied: Vec<String>,
    },
    /// `fleet drift`: the trust's inputs changed since its last successful apply (or it was never applied),
    /// so a difference would be a pending change, not drift.
    NotApplied,
    /// Failed at any stage; the others went on.
    Failed { error: String },
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One trust's row.
#[derive(Debug, Clone, Serialize)]
pub struct TrustRun {
    pub ods: String,
    pub name: String,
    /// The blueprint version it was planned or applied at (empty when it failed before that was known).
    pub version: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What migrating its values to `version` changed (`fleet upgrade`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub migrated: Vec<String>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub command: String,
    pub trusts: Vec<TrustRun>,
    pub rollup: Rollup,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Rollup {
    pub no_change: usize,
    pub changed: usize,
    pub failed: usize,
    pub with_data_loss: usize,
    pub skipped: usize,
    pub drifted: usize,
    pub not_applied: usize,
}

impl RunReport {
    /// The report of these rows, with their roll-up.
    pub fn new(command: &str, trusts: Vec<TrustRun>) -> Self {
        let mut r = Rollup::default();
        for t in &trusts {
            match &t.outcome {
                Outcome::Skipped => {
                    r.skipped += 1;
                    r.no_change += 1;
                }
                Outcome::NoChange => r.no_change += 1,
                Outcome::Changes { data_loss, .. } => {
                    r.changed += 1;
                    if !data_loss.is_empty() {
                        r.with_data_loss += 1;
                    }
                }
                Outcome::Applied { .. } => r.changed += 1,
                Outcome::Drifted { .. } => r.drifted += 1,
                Outcome::NotApplied => r.not_applied += 1,
                Outcome::Failed { .. } => r.failed += 1,
            }
        }
        RunReport {
            command: command.to_string(),
            trusts,
            rollup: r,
        }
    }

    /// "150 no change, 38 modify, 2 failed, 0 with data loss".
    pub fn summary(&self) -> String {
        let r = &self.rollup;
        if self.command == "drift" {
            return format!(
                "{} trust(s): {} drifted, {} as applied, {} with inputs changed since their last apply, {} failed",
                self.trusts.len(),
                r.drifted,
                r.no_change,
                r.not_applied,
                r.failed
            );
        }
        let verb = if ["apply", "upgrade", "rollout"].contains(&self.command.as_str()) {
            "applied"
        } else {
            "to change"
        };
        format!(
            "{} trust(s): {} no change ({} skipped by content hash), {} {verb}, {} failed, {} with data loss",
            self.trusts.len(),
            r.no_change,
            r.skipped,
            r.changed,
            r.failed,
            r.with_data_loss
        )
    }

    /// A line per trust and the summary.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        for t in &self.trusts {
            s.push_str(&format!("{:<6} {}\n", t.ods, outcome_text(&t.outcome)));
            for note in &t.migrated {
                s.push_str(&format!("       values: {note}\n"));
            }
        }
        s.push_str(&self.summary());
        s.push('\n');
        s
    }

    /// Whether any trust failed.
    pub fn any_failed(&self) -> bool {
        self.rollup.failed > 0
    }
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Skipped => "no change (unchanged since its last apply: skipped)".into(),
        Outcome::NoChange => "no change".into(),
        Outcome::Changes {
            create,
            modify,
            delete,
            detach,
            data_loss,
        } => {
            let mut s = format!("{create} to create, {modify} to modify, {delete} to delete");
            if *detach > 0 {
                s.push_str(&format!(", {detach} to detach"));
            }
            if !data_loss.is_empty() {
                s.push_str(&format!("; DATA LOSS: {}", data_loss.join(", ")));
            }
            s
        }
        Outcome::Applied {
            create,
            modify,
            delete,
            detach,
            commit,
        } => format!(
            "applied: {create} created, {modify} modified, {delete} deleted{}; {}",
            if *detach > 0 {
                format!(", {detach} detached")
            } else {
                String::new()
            },
            commit.as_deref().map_or("no commit".into(), |c| format!(
                "recorded {}",
                &c[..c.len().min(12)]
            ))
        ),
        Outcome::Drifted { resources, denied } => {
            let mut s = format!("DRIFTED: {} resource(s)", resources.len());
            if !denied.is_empty() {
                s.push_str(&format!(
                    "; {} request(s) refused by its stacks' deny settings",
                    denied.len()
                ));
            }
            for r in resources {
                s.push_str(&format!("\n         {r}"));
            }
            for r in denied {
                s.push_str(&format!("\n         denied: {r}"));
            }
            s
        }
        Outcome::NotApplied => {
            "inputs changed since its last apply (or never applied): `fleet plan` shows the pending changes".into()
        }
        Outcome::Failed { error } => format!("FAILED: {error}"),
    }
}

/// The journal of a run, for `resume`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Journal {
    command: String,
    trusts: Vec<String>,
    done: BTreeSet<String>,
}

const JOURNAL: &str = "trustprint-fleet-run.json";

impl Fleet {
    fn journal_path(&self) -> Result<PathBuf, Error> {
        let repo = git2::Repository::open(&self.dir).map_err(|source| Error::Git {
            context: format!("opening fleet repository {}", self.dir.display()),
            source,
        })?;
        Ok(repo.path().join(JOURNAL))
    }
}

/// `fleet plan`, `fleet apply` or `fleet drift`.
pub fn run(fleet: &Fleet, options: &RunOptions, mode: Mode) -> Result<RunReport, Error> {
    let apply = mode == Mode::Apply;
    let command = mode.name();
    let journal_path = fleet.journal_path()?;
    let selected = if options.resume {
        let text = std::fs::read_to_string(&journal_path).map_err(|_| Error::Usage {
            message: format!(
                "--resume: no interrupted fleet {command} to resume in {}",
                fleet.dir.display()
            ),
        })?;
        let journal: Journal = serde_json::from_str(&text).map_err(|e| Error::Usage {
            message: format!(
                "--resume: {} is not a fleet run journal: {e}",
                journal_path.display()
            ),
        })?;
        if journal.command != command {
            return Err(Error::Usage {
                message: format!(
                    "--resume: the interrupted run was `fleet {}`, not `fleet {command}`",
                    journal.command
                ),
            });
        }
        journal
            .trusts
            .into_iter()
            .filter(|t| !journal.done.contains(t))
            .collect()
    } else {
        options.selection.resolve(fleet)?
    };
    let journal = Mutex::new(Journal {
        command: command.to_string(),
        trusts: selected.clone(),
        done: BTreeSet::new(),
    });
    let write_journal = |j: &Journal| {
        if let Ok(bytes) = serde_json::to_vec_pretty(j) {
            if let Err(e) = crate::atomic::write_atomic(&journal_path, &bytes) {
                tracing::warn!(error = %e, "could not write the fleet run journal");
            }
        }
    };
    if apply {
        if let Ok(j) = journal.lock() {
            write_journal(&j);
        }
    }

    // One async runtime and one ARM client per identity for the whole run. Trusts are tasks polled by one
    // thread per core, which also renders, checks and records them in place: a trust waiting for ARM holds
    // its own data but no thread, runtime or HTTP client of its own, so the concurrency can be high.
    let runtime = crate::deploy::runtime()?;
    // Each blueprint version the run needs is opened and its templates parsed once for the whole run.
    let versions = super::version::Versions::open(fleet, &selected, options.upgrade_to.as_ref())?;
    super::config::check_shared_defaults(fleet, &versions, &selected, options.upgrade_to.as_ref())?;
    let renderers = versions
        .all()
        .iter()
        .map(|b| crate::render::Renderer::new(b))
        .collect::<Result<Vec<_>, _>>()?;
    let shared = Shared {
        versions: &versions,
        renderers: &renderers,
        options,
        local: options.deploy.target.kind != Some(TargetKind::Azure)
            && options.deploy.target.cloud_url.is_none(),
        server: tokio::sync::OnceCell::new(),
        batch: crate::deploy::Batch {
            brief_plans: true,
            ..crate::deploy::Batch::default()
        },
    };

    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<TrustRun>>> = Mutex::new(vec![None; selected.len()]);
    let done =
        |i: usize, ods: &String, (version, outcome, migrated): (String, Outcome, Vec<String>)| {
            let n = finished.fetch_add(1, Ordering::SeqCst) + 1;
            if options.progress.is_on() {
                options
                    .progress
                    .report(crate::deploy::progress::Event::Trust {
                        ods,
                        done: n,
                        of: selected.len(),
                        outcome: &outcome_text(&outcome),
                    });
            }
            let row = TrustRun {
                ods: ods.clone(),
                name: fleet
                    .file
                    .trusts
                    .get(ods)
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
                version,
                outcome,
                migrated,
            };
            if apply && !matches!(row.outcome, Outcome::Failed { .. }) {
                if let Ok(mut j) = journal.lock() {
                    j.done.insert(ods.clone());
                    write_journal(&j);
                }
            }
            if let Ok(mut r) = results.lock() {
                r[i] = Some(row);
            }
        };
    let workers = options.concurrency.clamp(1, selected.len().max(1));
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(workers);
    std::thread::scope(|scope| {
        for k in 0..threads {
            // The run's concurrency split between the threads: at most `workers` trusts in flight in all.
            let share = workers / threads + usize::from(k < workers % threads);
            let (runtime, shared, next, selected, done) =
                (&runtime, &shared, &next, &selected, &done);
            scope.spawn(move || {
                runtime.block_on(async {
                    let mut running = FuturesUnordered::new();
                    loop {
                        while running.len() < share {
                            let i = next.fetch_add(1, Ordering::SeqCst);
                            let Some(ods) = selected.get(i) else { break };
                            running.push(async move {
                                let row = one(fleet, shared, ods, options.refresh, mode)
                                    .await
                                    .unwrap_or_else(|e| {
                                        let error = error_text(&e);
                                        (String::new(), Outcome::Failed { error }, Vec::new())
                                    });
                                (i, ods, row)
                            });
                        }
                        let Some((i, ods, row)) = running.next().await else {
                            break;
                        };
                        done(i, ods, row);
                    }
                });
            });
        }
    });
    drop(shared);
    drop(runtime);
    let rows: Vec<TrustRun> = results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect();
    let report = RunReport::new(command, rows);
    // A run that reached every trust leaves no journal; one with failures keeps it for --resume.
    if apply && !report.any_failed() {
        let _ = std::fs::remove_file(&journal_path);
    }
    Ok(report)
}

/// An error and its causes on one line.
fn error_text(e: &Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = std::error::Error::source(e);
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = inner.source();
    }
    if let Error::Values { diagnostics, .. } = e {
        parts.extend(diagnostics.iter().map(|d| {
            let mut m = match &d.key {
                Some(k) => format!("{} line {}: {k}: {}", d.file, d.line, d.message),
                None => format!("{} line {}: {}", d.file, d.line, d.message),
            };
            if let Some(x) = &d.expected {
                m.push_str(&format!(" (expected {x})"));
            }
            m
        }));
    }
    parts.join(": ")
}

/// What every trust of a run shares.
struct Shared<'a> {
    versions: &'a super::version::Versions,
    /// One per blueprint of `versions`, in the same order.
    renderers: &'a [crate::render::Renderer<'a>],
    options: &'a RunOptions,
    /// Whether the run deploys to an embedded local cloud, started only when a trust first needs it (an
    /// unchanged fleet plans with no cloud at all).
    local: bool,
    server: tokio::sync::OnceCell<Result<crate::cloud::RunningServer, String>>,
    /// One ARM client per identity; plans without resource bodies (the run reports counts and ids only).
    batch: crate::deploy::Batch,
}

impl Shared<'_> {
    /// The deploy options of one trust of the run.
    async fn deploy(&self) -> Result<DeployOptions, Error> {
        let options = self.options;
        let mut deploy = options.deploy.clone();
        deploy.yes = true;
        deploy.progress = crate::deploy::progress::Progress::none();
        // A running local cloud is the target whatever subscriptions fleet.yaml names for Azure.
        if deploy.target.cloud_url.is_some() && deploy.target.kind.is_none() {
            deploy.target.kind = Some(TargetKind::Local);
        }
        if self.local {
            let started =
                self.server
                    .get_or_init(|| async {
                        let dir = options.deploy.target.state_dir.clone().unwrap_or_else(|| {
                            PathBuf::from(crate::deploy::target::LOCAL_STATE_DIR)
                        });
                        crate::cloud::Server::start(crate::cloud::Config {
                            state_dir: Some(dir),
                            ..crate::cloud::Config::default()
                        })
                        .await
                        .map_err(|e| e.to_string())
                    })
                    .await;
            let s = started.as_ref().map_err(|message| Error::Usage {
                message: format!("starting the embedded local cloud: {message}"),
            })?;
            deploy.target.kind = Some(TargetKind::Local);
            deploy.target.cloud_url = Some(s.url().to_owned());
        }
        Ok(deploy)
    }
}

/// Plan or apply one trust: the version it ran at, the outcome, and what migrating its values changed.
async fn one(
    fleet: &Fleet,
    shared: &Shared<'_>,
    ods: &str,
    refresh: bool,
    mode: Mode,
) -> Result<(String, Outcome, Vec<String>), Error> {
    let version = match &shared.options.upgrade_to {
        Some(v) => v.clone(),
        None => shared.versions.of(fleet, ods)?,
    };
    let at = shared.versions.index(&version)?;
    let (blueprint, renderer) = (&shared.versions.all()[at], &shared.renderers[at]);
    let (input, migrated) =
        fleet.trust_input(ods, &shared.versions.default, &blueprint.manifest)?;
    // A failure is the trust's outcome, reported with what its values' migration changed.
    let outcome = one_at(
        fleet, shared, blueprint, renderer, &input, ods, refresh, mode,
    )
    .await
    .unwrap_or_else(|e| Outcome::Failed {
        error: error_text(&e),
    });
    Ok((version.to_string(), outcome, migrated))
}

/// Plan or apply one trust at one blueprint version.
#[allow(clippy::too_many_arguments)]
async fn one_at(
    fleet: &Fleet,
    shared: &Shared<'_>,
    blueprint: &std::sync::Arc<crate::blueprint::Blueprint>,
    renderer: &crate::render::Renderer<'_>,
    input: &crate::values::ValuesInput,
    ods: &str,
    refresh: bool,
    mode: Mode,
) -> Result<Outcome, Error> {
    // The trust acts as its own identity when fleet.yaml records one (its client shared with every trust
    // acting as the same identity).
    let trust_target = fleet.trust_target(ods)?;
    let deploy = || async {
        let mut options = shared.deploy().await?;
        options.target.trust.clone_from(&trust_target);
        Ok::<_, Error>(options)
    };
    // The run's trusts already keep the cores busy: a trust's deployments render and expand on its own thread.
    let (values, rendered) =
        crate::par::inline(|| crate::run::render_one(blueprint, renderer, input))?;
    let loaded = crate::load::Loaded {
        blueprint: blueprint.clone(),
        values,
    };
    let last = unchanged_since_last_apply(fleet, ods, &loaded, &rendered)?;
    // A trust skipped as unchanged deploys nothing, and its guardrails would say what they said before its last
    // apply, which they passed: the same values and rendering, checked by the same trustprint (the same rules;
    // the blueprint's own settings are in the rendering's blueprint version and commit, docs/fleets.md). So
    // they are not run again. Azure Policy files given to the run are not in the lock: with them, the trust is
    // checked.
    if !refresh
        && mode != Mode::Drift
        && shared.options.policy.is_empty()
        && last
            .as_ref()
            .is_some_and(|lock| lock.trustprint_version == env!("CARGO_PKG_VERSION"))
    {
        return Ok(Outcome::Skipped);
    }
    let report =
        crate::par::inline(|| crate::run::check_loaded(blueprint, &loaded.values, &rendered))?;
    let checked = crate::run::Checked {
        loaded,
        rendered,
        report,
    };
    // A fleet run stops a trust with violations whatever the mode: its plan would not be applied.
    if let Err(Error::Violations { report }) = crate::run::guard(&checked) {
        return Ok(Outcome::Failed {
            error: format!(
                "{} guardrail violation(s); `trustprint check` on the trust lists them",
                report.violations().count()
            ),
        });
    }
    if !shared.options.policy.is_empty() {
        let ctx = checked.loaded.values.static_context();
        let reports =
            crate::policy::check_rendered(&checked.rendered, &ctx, &shared.options.policy)?;
        if let Some(denied) = reports.iter().find(|r| !r.passed()) {
            return Ok(Outcome::Failed {
                error: format!(
                    "Azure Policy {} would deny {} resource(s); `trustprint check --policy` on the trust lists them",
                    denied.display_name,
                    denied.denials.len()
                ),
            });
        }
    }
    if mode == Mode::Drift {
        // An unchanged trust's lock records its successful apply (and when it started).
        let Some(crate::deploy::DeploymentRecord::Apply(applied)) =
            last.as_ref().and_then(|lock| lock.deployment.as_ref())
        else {
            return Ok(Outcome::NotApplied);
        };
        let options = deploy().await?;
        // Trusts deployed through stacks: the requests their deny assignments refused since the last apply.
        let denied = if checked
            .rendered
            .deployments
            .iter()
            .any(|d| d.stack.is_some())
        {
            let conn = crate::deploy::target::connect_with(
                &options.target,
                &checked.loaded.values,
                ods,
                &shared.batch.clients,
            )
            .await?;
            super::drift::denied_attempts(&conn, &applied.started_at).await?
        } else {
            Vec::new()
        };
        let plan = plan_of(checked, &options, &shared.batch).await?;
        return Ok(if plan.has_changes() || !denied.is_empty() {
            Outcome::Drifted {
                resources: plan.changed_resources(),
                denied,
            }
        } else {
            Outcome::NoChange
        });
    }
    if !refresh && last.is_some() {
        return Ok(Outcome::Skipped);
    }
    if mode == Mode::Plan {
        let plan = plan_of(checked, &deploy().await?, &shared.batch).await?;
        let s = plan.summary;
        return Ok(if plan.has_changes() {
            Outcome::Changes {
                create: s.create,
                modify: s.modify,
                delete: s.delete,
                detach: s.detach,
                data_loss: plan.data_loss(),
            }
        } else {
            Outcome::NoChange
        });
    }
    let stamped = crate::run::stamp_checked_async(
        checked,
        &crate::run::StampOptions {
            fleet: fleet.dir.clone(),
            lock_timeout: crate::record::DEFAULT_LOCK_TIMEOUT,
            deploy: Some(deploy().await?),
        },
        &|_, _| {},
        &shared.batch,
    )
    .await?;
    let commit = stamped.record.commit.clone();
    let Some(deployed) = &stamped.deployed else {
        return Ok(Outcome::NoChange);
    };
    match &deployed.report {
        None => Ok(Outcome::NoChange),
        Some(r) => match r.error() {
            Some(e) => Ok(Outcome::Failed {
                error: format!("{e} (recorded as failed)"),
            }),
            None => {
                let s = deployed.plan.summary;
                Ok(Outcome::Applied {
                    create: s.create,
                    modify: s.modify,
                    delete: s.delete,
                    detach: s.detach,
                    commit,
                })
            }
        },
    }
}

/// What-if of a checked trust through the composer, as one of the run's `batch`.
async fn plan_of(
    checked: crate::run::Checked,
    deploy: &DeployOptions,
    batch: &crate::deploy::Batch,
) -> Result<crate::deploy::Plan, Error> {
    let composed = crate::run::compose_checked_async(
        checked,
        crate::run::Action::Plan(deploy),
        None,
        crate::run::Hooks::default(),
        batch,
    )
    .await?;
    composed
        .planned
        .map(|(plan, _)| plan)
        .ok_or_else(|| Error::Internal {
            message: "a fleet plan ended without a plan".into(),
        })
}

/// The trust's lock when its inputs hash as the lock recorded after a successful apply; `None` when they
/// differ, the last apply failed or there is none. A lock that is not one fails the trust, naming the file.
fn unchanged_since_last_apply(
    fleet: &Fleet,
    ods: &str,
    loaded: &crate::load::Loaded,
    rendered: &crate::model::Rendered,
) -> Result<Option<crate::repo::Lock>, Error> {
    let Some(lock) = crate::repo::FleetRepo::new(&fleet.dir).read_lock(ods)? else {
        return Ok(None);
    };
    Ok((lock.applied() && crate::record::matches_lock(&lock, loaded, rendered)).then_some(lock))
}
