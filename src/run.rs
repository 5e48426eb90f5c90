//! The orchestrator: the whole flow, stage by stage. Commands call these.
//!
//! ```text
//! load ─▶ render ─▶ check ─▶ (plan ─▶ apply) ─▶ record
//! ```
//! Each function here takes typed inputs (never clap types) and returns a typed result for the CLI to print.
//! `stamp` is the main job; plan and apply (issue 5) slot in between [`check_loaded`] and
//! [`crate::record::record_with`], taking the same [`Checked`] and handing their report to the record.

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

/// The placeholder subscription and tenant the guardrails evaluate `subscription()` and `tenant()` with when
/// the values do not give them yet.
pub const PLACEHOLDER_ID: &str = "00000000-0000-0000-0000-000000000000";

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
    let id = |key: &str| {
        values
            .get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or(PLACEHOLDER_ID)
            .to_string()
    };
    let ctx = crate::armexpr::StaticContext {
        subscription_id: id("azure.subscription_id"),
        tenant_id: id("azure.tenant_id"),
    };
    let settings = crate::check::Settings::from_manifest(&blueprint.manifest);
    crate::check::check_rendered(rendered, &settings, &ctx)
}

/// One trust of a fleet, loaded, rendered and checked against a blueprint opened once.
#[derive(Debug)]
pub struct FleetChecked {
    pub values: crate::values::Values,
    pub rendered: Rendered,
    pub report: crate::check::Report,
}

/// Load, render and check one trust's values against an already opened blueprint and its parsed templates.
pub fn check_one(
    blueprint: &crate::blueprint::Blueprint,
    renderer: &crate::render::Renderer<'_>,
    input: &ValuesInput,
) -> Result<FleetChecked, Error> {
    let values = crate::values::load(&blueprint.manifest, input)?;
    let rendered = renderer.render(&values)?;
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
    let workers = std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(1)
        .min(inputs.len());
    if workers <= 1 {
        return inputs
            .iter()
            .map(|i| check_one(blueprint, renderer, i))
            .collect();
    }
    // Trusts differ in size, so workers take the next one as they finish instead of a fixed share each.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, Result<FleetChecked, Error>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(input) = inputs.get(i) else { break };
                        mine.push((i, check_one(blueprint, renderer, input)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            // A worker only panics if checking does; pass that panic on rather than lose trusts silently.
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
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

/// How to stamp.
#[derive(Debug, Clone)]
pub struct StampOptions {
    /// The fleet repository (created when missing).
    pub fleet: PathBuf,
    /// How long to wait for another trustprint holding the fleet repository.
    pub lock_timeout: Duration,
    /// Plan and apply to this target before recording (issue 5); `None` records without deploying.
    pub deploy: Option<crate::deploy::DeployOptions>,
}

/// What a stamp did.
#[derive(Debug)]
pub struct Stamped {
    pub checked: Checked,
    pub record: RecordOutcome,
    /// The plan and apply, when a target was given.
    pub deployed: Option<crate::deploy::Deployed>,
}

/// `trustprint stamp`: load, render, check, and record in the fleet repository. Nothing is recorded unless
/// every stage before succeeded: guardrail violations end it with [`Error::Violations`] carrying the report.
pub fn stamp(inputs: &Inputs, options: &StampOptions) -> Result<Stamped, Error> {
    stamp_with(inputs, options, &|_| {})
}

/// [`stamp`], showing the plan to `on_plan` before any confirmation. A failed apply is recorded (marked
/// failed) and returned in [`Stamped::deployed`]; the caller turns it into the error.
pub fn stamp_with(
    inputs: &Inputs,
    options: &StampOptions,
    on_plan: &dyn Fn(&crate::deploy::Plan),
) -> Result<Stamped, Error> {
    stamp_checked(check_trust(inputs)?, options, on_plan)
}

/// [`stamp_with`] for a trust already loaded, rendered and checked.
pub fn stamp_checked(
    checked: Checked,
    options: &StampOptions,
    on_plan: &dyn Fn(&crate::deploy::Plan),
) -> Result<Stamped, Error> {
    let batch = crate::deploy::Batch::default();
    let stamp = stamp_checked_async(checked, options, on_plan, &batch);
    match options.deploy {
        Some(_) => crate::deploy::runtime()?.block_on(stamp),
        // Nothing to wait for without a target: the future finishes at its first poll.
        None => futures_util::FutureExt::now_or_never(stamp).unwrap_or_else(|| {
            Err(Error::Internal {
                message: "a stamp without a target waited for I/O".into(),
            })
        }),
    }
}

/// [`stamp_checked`] on the caller's async runtime, as a trust of `batch` (a fleet run's). Recording in the
/// fleet repository blocks the calling thread.
pub async fn stamp_checked_async(
    checked: Checked,
    options: &StampOptions,
    on_plan: &dyn Fn(&crate::deploy::Plan),
    batch: &crate::deploy::Batch,
) -> Result<Stamped, Error> {
    if checked.report.violations().next().is_some() {
        return Err(Error::Violations {
            report: Box::new(checked.report),
        });
    }
    if options.deploy.is_some() {
        crate::record::check_recordable(&options.fleet, &checked.loaded, &checked.rendered)?;
    }
    let deployed = match &options.deploy {
        Some(d) => Some(
            crate::deploy::apply_trust_async(&checked.loaded, &checked.rendered, d, on_plan, batch)
                .await?,
        ),
        None => None,
    };
    let record = crate::record::record_with(
        &options.fleet,
        &checked.loaded,
        &checked.rendered,
        &RecordOptions {
            lock_timeout: options.lock_timeout,
            deployment: deployed
                .as_ref()
                .and_then(|d| d.report.clone())
                .map(crate::deploy::DeploymentRecord::Apply),
        },
    )?;
    Ok(Stamped {
        checked,
        record,
        deployed,
    })
}

/// `trustprint values schema`: the JSON Schema of the blueprint's values files.
pub fn values_schema(blueprint: &SourceSpec) -> Result<serde_json::Value, Error> {
    let bp = crate::blueprint::open(blueprint)?;
    Ok(crate::values::schema(&bp.manifest))
}
