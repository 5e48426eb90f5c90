//! The composer: the one place that sequences the stages for one trust. Commands and fleet runs call it.
//!
//! ```text
//! load ─▶ render ─▶ check ─▶ guard ─▶ plan | apply | destroy | (nothing) ─▶ record
//! ```
//! Contract: [`compose`] (blocking) and [`compose_checked_async`] (a fleet run's, per trust) run the stages an
//! [`Action`] needs, and only those: violations stop [`Action::Apply`] and [`Action::RecordOnly`] before
//! anything is planned, deployed or recorded ([`guard`]); a record to a fleet repository holds the trust's turn
//! for the whole plan, apply and record. The command reaches the stages through [`Hooks`]. Each function here
//! takes typed inputs (never clap types) and returns a typed result for the CLI to print.

use crate::blueprint::SourceSpec;
use crate::error::Error;
use crate::load::Loaded;
use crate::model::Rendered;
use crate::record::{RecordOptions, RecordOutcome};
use crate::values::ValuesInput;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What every single-trust command starts from.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub blueprint: SourceSpec,
    pub values: ValuesInput,
}

/// Load and render one trust.
pub fn render_loaded(inputs: &Inputs) -> Result<(Loaded, Rendered), Error> {
    let loaded = crate::load::load(&inputs.blueprint, &inputs.values)?;
    let rendered = crate::render::render(&loaded)?;
    Ok((loaded, rendered))
}

/// `trustprint render`: load, render and write the ARM files to `out` (atomically).
pub fn render_trust(inputs: &Inputs, out: &Path) -> Result<Rendered, Error> {
    let (_, rendered) = render_loaded(inputs)?;
    crate::render::write(out, &rendered)?;
    Ok(rendered)
}

/// A trust loaded, rendered and checked.
#[derive(Debug)]
pub struct Checked {
    pub loaded: Loaded,
    pub rendered: Rendered,
    pub report: crate::check::Report,
}

/// The guardrails over a rendered trust: ARM expressions evaluated with the trust's subscription and tenant
/// (placeholders until known), every deployment's resources checked together.
pub fn check_loaded(
    blueprint: &crate::blueprint::Blueprint,
    values: &crate::values::Values,
    rendered: &Rendered,
) -> Result<crate::check::Report, Error> {
    let ctx = values.static_context();
    let settings = crate::check::Settings::from_manifest(&blueprint.manifest);
    Ok(crate::check::check_rendered(rendered, &settings, &ctx)?)
}

/// One trust of a fleet, loaded, rendered and checked against a blueprint opened once.
#[derive(Debug)]
pub struct FleetChecked {
    pub values: crate::values::Values,
    pub rendered: Rendered,
    pub report: crate::check::Report,
}

/// Load and render one trust's values against an already opened blueprint and its parsed templates.
pub fn render_one(
    blueprint: &crate::blueprint::Blueprint,
    renderer: &crate::render::Renderer<'_>,
    input: &ValuesInput,
) -> Result<(crate::values::Values, Rendered), Error> {
    let values = crate::values::load(&blueprint.manifest, input)?;
    let rendered = renderer.render(&values)?;
    Ok((values, rendered))
}

/// Load, render and check one trust's values against an already opened blueprint and its parsed templates.
pub fn check_one(
    blueprint: &crate::blueprint::Blueprint,
    renderer: &crate::render::Renderer<'_>,
    input: &ValuesInput,
) -> Result<FleetChecked, Error> {
    let (values, rendered) = render_one(blueprint, renderer, input)?;
    let report = check_loaded(blueprint, &values, &rendered)?;
    Ok(FleetChecked {
        values,
        rendered,
        report,
    })
}

/// [`check_one`] for many trusts, spread over the machine's cores (the blueprint and renderer are shared
/// read-only). Results are in the order of `inputs`; one trust failing does not stop the others.
pub fn check_many(
    blueprint: &crate::blueprint::Blueprint,
    renderer: &crate::render::Renderer<'_>,
    inputs: &[ValuesInput],
) -> Vec<Result<FleetChecked, Error>> {
    // Trusts differ in size: workers take the next one as they finish.
    crate::par::map(inputs, |_| 0, |i| check_one(blueprint, renderer, i))
}

/// `trustprint check`: load, render and run the guardrails. Violations are in the report, not an error.
pub fn check_trust(inputs: &Inputs) -> Result<Checked, Error> {
    let (loaded, rendered) = render_loaded(inputs)?;
    let report = check_loaded(&loaded.blueprint, &loaded.values, &rendered)?;
    Ok(Checked {
        loaded,
        rendered,
        report,
    })
}

/// Refuse a trust whose guardrails found violations (waived findings are not violations): the one check every
/// command that would deploy or record goes through. The report travels in the error for the CLI to print.
pub fn guard(checked: &Checked) -> Result<(), Error> {
    if checked.report.violations().next().is_some() {
        return Err(Error::Violations {
            report: Box::new(checked.report.clone()),
        });
    }
    Ok(())
}

/// What a command does with a checked trust. [`compose`] is the one place that decides, per action, which
/// stages run after load → render → check, and whether violations stop it.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// What-if only (`plan`, `fleet plan`, `fleet drift`): nothing changes, so violations do not stop it.
    Plan(&'a crate::deploy::DeployOptions),
    /// Plan, confirm and apply (`apply`, `stamp`, `fleet apply`): violations stop it before anything is
    /// planned.
    Apply(&'a crate::deploy::DeployOptions),
    /// Delete the trust's estate (`destroy`): a trust with violations may still be torn down.
    Destroy(&'a crate::deploy::DeployOptions),
    /// Deploy nothing, only record (`stamp --no-deploy`): violations stop it before anything is recorded.
    RecordOnly,
}

impl Action<'_> {
    /// Whether this action puts the trust's rendering anywhere (a target or the fleet record).
    fn deploys(&self) -> bool {
        matches!(self, Action::Apply(_) | Action::RecordOnly)
    }
    fn options(&self) -> Option<&crate::deploy::DeployOptions> {
        match self {
            Action::Plan(o) | Action::Apply(o) | Action::Destroy(o) => Some(o),
            Action::RecordOnly => None,
        }
    }
}

/// Where and how to record a composed command's outcome in a fleet repository.
#[derive(Debug, Clone)]
pub struct RecordTo {
    /// The fleet repository (created when missing).
    pub fleet: PathBuf,
    /// How long to wait for another trustprint holding the fleet repository.
    pub lock_timeout: Duration,
    /// Record even when the apply changed nothing (`stamp` does: it records the inputs; `apply --fleet`
    /// records only an apply that ran).
    pub even_unchanged: bool,
}

/// The callbacks the stages call back into the command with.
#[derive(Clone, Copy)]
pub struct Hooks<'a> {
    /// Sees the plan (and the trust's values) as soon as it is known, before any confirmation is asked for.
    pub on_plan: &'a dyn Fn(&crate::deploy::Plan, &crate::values::Values),
    /// Asked for the typed confirmation a change needs (unless `--yes`); the terminal's by default.
    pub confirm: crate::deploy::Confirm<'a>,
}

impl Default for Hooks<'_> {
    fn default() -> Self {
        Hooks {
            on_plan: &|_, _| {},
            confirm: &crate::deploy::terminal_confirm,
        }
    }
}

impl std::fmt::Debug for Hooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hooks")
    }
}

/// What a composed command did, stage by stage.
#[derive(Debug)]
pub struct Composed {
    pub checked: Checked,
    /// [`Action::Plan`]: the plan and the target as `describe_target` says it.
    pub planned: Option<(crate::deploy::Plan, String)>,
    /// [`Action::Apply`]: the plan and the apply.
    pub deployed: Option<crate::deploy::Deployed>,
    /// [`Action::Destroy`]: what was deleted.
    pub destroyed: Option<crate::deploy::DestroyReport>,
    /// The record, when asked for and something was to record.
    pub record: Option<RecordOutcome>,
}

/// The composer: load, render and check one trust, then [`compose_checked_async`]. Blocking; makes its own
/// async runtime when the action reaches a target.
pub fn compose(
    inputs: &Inputs,
    action: Action<'_>,
    record: Option<&RecordTo>,
    hooks: Hooks<'_>,
) -> Result<Composed, Error> {
    let checked = check_trust(inputs)?;
    let batch = crate::deploy::Batch::default();
    let composed = compose_checked_async(checked, action, record, hooks, &batch);
    match action.options() {
        Some(_) => crate::deploy::runtime()?.block_on(composed),
        // Nothing to wait for without a target: the future finishes at its first poll.
        None => futures_util::FutureExt::now_or_never(composed).unwrap_or_else(|| {
            Err(Error::Internal {
                message: "a record without a target waited for I/O".into(),
            })
        }),
    }
}

/// The stages after check, for a trust already loaded, rendered and checked, on the caller's async runtime
/// as a trust of `batch` (a fleet run's): guard → plan | apply | destroy → record. Nothing is planned, applied
/// or recorded for a trust with violations when `action` deploys. A failed apply is recorded (marked failed)
/// and returned in [`Composed::deployed`]; the caller turns it into the error. Recording blocks the calling
/// thread.
pub async fn compose_checked_async(
    checked: Checked,
    action: Action<'_>,
    record: Option<&RecordTo>,
    hooks: Hooks<'_>,
    batch: &crate::deploy::Batch,
) -> Result<Composed, Error> {
    if action.deploys() {
        guard(&checked)?;
    }
    let mut composed = Composed {
        checked,
        planned: None,
        deployed: None,
        destroyed: None,
        record: None,
    };
    let (loaded, rendered) = (&composed.checked.loaded, &composed.checked.rendered);
    // The trust's turn in the fleet repository covers its whole plan, apply and record; and a fleet folder
    // with uncommitted edits is refused before the target changes, not after.
    let _turn = match (record, action) {
        (Some(to), Action::Apply(_) | Action::Destroy(_)) => {
            let create = matches!(action, Action::Apply(_));
            let turn = crate::record::trust_turn(
                &to.fleet,
                &rendered.trust.ods_code,
                to.lock_timeout,
                create,
            )?;
            crate::record::check_recordable(&to.fleet, loaded, rendered)?;
            turn
        }
        _ => None,
    };
    let deployment = match action {
        Action::Plan(options) => {
            composed.planned =
                Some(crate::deploy::plan_trust_async(loaded, rendered, options, batch).await?);
            None
        }
        Action::Apply(options) => {
            let on_plan = |plan: &crate::deploy::Plan| (hooks.on_plan)(plan, &loaded.values);
            let deployed = crate::deploy::apply_trust_async(
                loaded,
                rendered,
                options,
                &on_plan,
                hooks.confirm,
                batch,
            )
            .await?;
            let report = deployed.report.clone();
            composed.deployed = Some(deployed);
            match report {
                Some(r) => Some(Some(crate::deploy::DeploymentRecord::Apply(r))),
                None if record.is_some_and(|r| r.even_unchanged) => Some(None),
                None => None,
            }
        }
        Action::Destroy(options) => {
            let report =
                crate::deploy::destroy_trust_async(loaded, rendered, options, hooks.confirm)
                    .await?;
            composed.destroyed = Some(report.clone());
            Some(Some(crate::deploy::DeploymentRecord::Destroy(report)))
        }
        Action::RecordOnly => Some(None),
    };
    if let (Some(to), Some(deployment)) = (record, deployment) {
        let _gate = batch.record_gate.lock().await;
        composed.record = Some(crate::record::record_with(
            &to.fleet,
            loaded,
            rendered,
            &RecordOptions {
                lock_timeout: to.lock_timeout,
                deployment,
            },
        )?);
    }
    Ok(composed)
}

/// `trustprint plan`: load, render, check and what-if. Violations do not stop a plan.
pub fn plan(inputs: &Inputs, options: &crate::deploy::DeployOptions) -> Result<Composed, Error> {
    compose(inputs, Action::Plan(options), None, Hooks::default())
}

/// `trustprint apply`: load, render, check (violations stop it), plan, confirm, apply, and record when
/// `record` is given and the apply ran.
pub fn apply(
    inputs: &Inputs,
    options: &crate::deploy::DeployOptions,
    record: Option<&RecordTo>,
    hooks: Hooks<'_>,
) -> Result<Composed, Error> {
    compose(inputs, Action::Apply(options), record, hooks)
}

/// `trustprint destroy`: load, render, check, confirm, delete, and record when `record` is given.
pub fn destroy(
    inputs: &Inputs,
    options: &crate::deploy::DeployOptions,
    record: Option<&RecordTo>,
    hooks: Hooks<'_>,
) -> Result<Composed, Error> {
    compose(inputs, Action::Destroy(options), record, hooks)
}

/// How to stamp.
#[derive(Debug, Clone)]
pub struct StampOptions {
    /// The fleet repository (created when missing).
    pub fleet: PathBuf,
    /// How long to wait for another trustprint holding the fleet repository.
    pub lock_timeout: Duration,
    /// Plan and apply to this target before recording; `None` records without deploying.
    pub deploy: Option<crate::deploy::DeployOptions>,
}

impl StampOptions {
    fn record_to(&self) -> RecordTo {
        RecordTo {
            fleet: self.fleet.clone(),
            lock_timeout: self.lock_timeout,
            even_unchanged: true,
        }
    }
    fn action(&self) -> Action<'_> {
        match &self.deploy {
            Some(d) => Action::Apply(d),
            None => Action::RecordOnly,
        }
    }
}

/// What a stamp did.
#[derive(Debug)]
pub struct Stamped {
    pub checked: Checked,
    pub record: RecordOutcome,
    /// The plan and apply, when a target was given.
    pub deployed: Option<crate::deploy::Deployed>,
}

impl Stamped {
    fn of(c: Composed) -> Result<Self, Error> {
        Ok(Stamped {
            checked: c.checked,
            record: c.record.ok_or_else(|| Error::Internal {
                message: "a stamp ended without a record".into(),
            })?,
            deployed: c.deployed,
        })
    }
}

/// `trustprint stamp`: load, render, check, (plan, apply) and record in the fleet repository. Nothing is
/// recorded unless every stage before succeeded: guardrail violations end it with [`Error::Violations`]
/// carrying the report.
pub fn stamp(inputs: &Inputs, options: &StampOptions) -> Result<Stamped, Error> {
    stamp_with(inputs, options, &|_, _| {})
}

/// [`stamp`], showing the plan to `on_plan` before any confirmation. A failed apply is recorded (marked
/// failed) and returned in [`Stamped::deployed`]; the caller turns it into the error.
pub fn stamp_with(
    inputs: &Inputs,
    options: &StampOptions,
    on_plan: &dyn Fn(&crate::deploy::Plan, &crate::values::Values),
) -> Result<Stamped, Error> {
    Stamped::of(compose(
        inputs,
        options.action(),
        Some(&options.record_to()),
        Hooks {
            on_plan,
            ..Hooks::default()
        },
    )?)
}

/// [`stamp_with`] for a trust already loaded, rendered and checked, on the caller's async runtime as a trust
/// of `batch` (a fleet run's).
pub async fn stamp_checked_async(
    checked: Checked,
    options: &StampOptions,
    on_plan: &dyn Fn(&crate::deploy::Plan, &crate::values::Values),
    batch: &crate::deploy::Batch,
) -> Result<Stamped, Error> {
    Stamped::of(
        compose_checked_async(
            checked,
            options.action(),
            Some(&options.record_to()),
            Hooks {
                on_plan,
                ..Hooks::default()
            },
            batch,
        )
        .await?,
    )
}

/// `trustprint values schema`: the JSON Schema of the blueprint's values files.
pub fn values_schema(blueprint: &SourceSpec) -> Result<serde_json::Value, Error> {
    let bp = crate::blueprint::open(blueprint)?;
    Ok(crate::values::schema(&bp.manifest))
}
