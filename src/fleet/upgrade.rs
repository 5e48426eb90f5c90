//! `fleet upgrade` and `fleet rollout`: trusts moved to a new blueprint version, their values migrated.
//!
//! Contract:
//! - [`upgrade`] with `dry_run` writes nothing: each selected trust is planned at the new version with its
//!   values migrated in memory, and the report lists per trust what the migration changed and the plan
//!   (destructive changes and data loss included);
//! - without `dry_run`, every selected trust's values file is migrated and its version pinned in fleet.yaml,
//!   all in one commit, before anything is deployed; then the trusts are applied as `fleet apply` applies
//!   them (each outcome committed; an interrupted apply continues with `fleet apply --resume`). A trust
//!   whose values cannot be migrated is reported failed and left untouched. When every open trust runs the
//!   new version, fleet.yaml's defaults are migrated and the version becomes the fleet's default (a commit);
//! - versions only go forwards: a trust already newer than the target stops the command before any change;
//! - [`rollout`] upgrades ring by ring in fleet.yaml's order, stops after the first ring with more failed
//!   trusts than `max_failures` (later rings untouched), and commits a record of the rollout under
//!   `rollouts/`, halted or finished.

use super::run::{Mode, Outcome, RunOptions, RunReport, Selection, TrustRun};
use super::version::Versions;
use super::Fleet;
use crate::Error;
use semver::Version;
use serde::Serialize;

/// What `fleet upgrade` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeReport {
    pub to: String,
    pub dry_run: bool,
    /// The commit migrating values and pinning versions (none for a dry run, or when nothing changed).
    pub commit: Option<String>,
    /// The commit making `to` the fleet's default, when the upgrade brought the last trusts to it.
    pub fleet_default_commit: Option<String>,
    #[serde(flatten)]
    pub run: RunReport,
}

impl UpgradeReport {
    /// Per trust lines and the summary.
    pub fn render_text(&self) -> String {
        let mut s = format!(
            "{} to {}{}\n",
            if self.dry_run {
                "Upgrade plan"
            } else {
                "Upgrade"
            },
            self.to,
            if self.dry_run {
                " (dry run: nothing written or deployed)"
            } else {
                ""
            }
        );
        s.push_str(&self.run.render_text());
        match (&self.fleet_default_commit, self.run.rollup.failed) {
            (Some(c), 0) => s.push_str(&format!(
                "Every trust now runs {}: it is the fleet's default version ({c})\n",
                self.to
            )),
            // The values are migrated and pinned whatever the applies did, so the default moves; but the
            // estates that failed do not run it yet, and saying so would be false.
            (Some(c), failed) => s.push_str(&format!(
                "Every trust's values are now at {}, the fleet's default version ({c}); {failed} trust(s) \
                 failed to apply it: `trustprint fleet apply --resume` retries them\n",
                self.to
            )),
            (None, _) => {}
        }
        s
    }
}

/// `fleet upgrade --to VERSION [--dry-run]` over `options.selection`.
pub fn upgrade(
    fleet: &mut Fleet,
    to: &Version,
    options: &RunOptions,
    dry_run: bool,
) -> Result<UpgradeReport, Error> {
    let selected = options.selection.resolve(fleet)?;
    let versions = Versions::open(fleet, &selected, Some(to))?;
    let newer: Vec<String> = selected
        .iter()
        .filter_map(|ods| {
            let v = versions.of(fleet, ods).ok()?;
            (v > *to).then(|| format!("{ods} runs {v}"))
        })
        .collect();
    if !newer.is_empty() {
        return Err(Error::Usage {
            message: format!(
                "--to {to}: {}; fleet upgrade only goes forwards (value migrations have no way back)",
                newer.join(", ")
            ),
        });
    }
    if dry_run {
        let mut plan = options.clone();
        plan.upgrade_to = Some(to.clone());
        plan.refresh = true;
        plan.resume = false;
        let run = super::run::run(fleet, &plan, Mode::Plan)?;
        return Ok(UpgradeReport {
            to: to.to_string(),
            dry_run: true,
            commit: None,
            fleet_default_commit: None,
            run,
        });
    }

    // Migrate every trust first and commit it all at once: a deploy never starts from half-migrated values.
    let target = versions.get_manifest(to)?;
    let mut files = Vec::new();
    let mut notes: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut failed: Vec<TrustRun> = Vec::new();
    let mut upgrading = Vec::new();
    for ods in &selected {
        if versions.of(fleet, ods)? == *to {
            upgrading.push(ods.clone());
            continue;
        }
        match fleet.trust_input(ods, &versions.default, target) {
            Ok((input, migrated)) => {
                if let Some(text) = input.text {
                    files.push((crate::repo::FleetRepo::values_rel(ods), text.into_bytes()));
                }
                notes.insert(ods.clone(), migrated);
                upgrading.push(ods.clone());
            }
            Err(e) => failed.push(TrustRun {
                ods: ods.clone(),
                name: fleet.trust(ods)?.name.clone(),
                version: versions.of(fleet, ods)?.to_string(),
                outcome: Outcome::Failed {
                    error: format!("its values cannot be migrated to {to}: {e}"),
                },
                migrated: Vec::new(),
            }),
        }
    }
    for ods in notes.keys() {
        if let Some(t) = fleet.file.trusts.get_mut(ods) {
            t.version = (*to != versions.default).then(|| to.to_string());
        }
    }
    let mut message = format!("Upgrade {} trust(s) to {} {to}\n", notes.len(), target.name);
    for (ods, n) in &notes {
        message.push_str(&format!("\n{ods}: {}", n.join("; ")));
        if n.is_empty() {
            message.push_str("no values to migrate");
        }
    }
    let commit = if notes.is_empty() {
        None
    } else {
        fleet.save_with(files, &message)?
    };

    let mut run = if upgrading.is_empty() {
        RunReport::new("upgrade", Vec::new())
    } else {
        let mut apply = options.clone();
        apply.selection = Selection {
            trusts: upgrading,
            ..Selection::default()
        };
        apply.upgrade_to = None;
        apply.resume = false;
        super::run::run(fleet, &apply, Mode::Apply)?
    };
    for row in &mut run.trusts {
        row.migrated = notes.remove(&row.ods).unwrap_or_default();
    }
    let mut rows = run.trusts;
    rows.extend(failed);
    rows.sort_by(|a, b| a.ods.cmp(&b.ods));
    let run = RunReport::new("upgrade", rows);
    let fleet_default_commit = make_default_when_complete(fleet, to, &versions)?;
    Ok(UpgradeReport {
        to: to.to_string(),
        dry_run: false,
        commit,
        fleet_default_commit,
        run,
    })
}

/// When every open trust runs `to`, migrate fleet.yaml's defaults and make `to` the default version.
fn make_default_when_complete(
    fleet: &mut Fleet,
    to: &Version,
    versions: &Versions,
) -> Result<Option<String>, Error> {
    if versions.default == *to {
        return Ok(None);
    }
    let all_there = fleet
        .file
        .trusts
        .iter()
        .filter(|(_, t)| t.closed.is_none())
        .all(|(ods, _)| fleet.pinned_version(ods).ok().flatten().as_ref() == Some(to));
    if !all_there {
        return Ok(None);
    }
    let target = versions.get_manifest(to)?;
    let migrated = target
        .migrate(&versions.default, &fleet.file.defaults)
        .map_err(|message| super::FleetError::Invalid {
            field: "defaults".into(),
            message: format!("migrating from {} to {to}: {message}", versions.default),
        })?;
    fleet.file.defaults = migrated.values;
    fleet.file.blueprint.version = Some(to.to_string());
    for t in fleet.file.trusts.values_mut() {
        if t.version.as_deref().map(|v| v.trim_start_matches('v')) == Some(&to.to_string()) {
            t.version = None;
        }
    }
    let mut message = format!(
        "Fleet default version {} (was {}): every trust runs it",
        to, versions.default
    );
    if !migrated.notes.is_empty() {
        message.push_str(&format!("\n\ndefaults: {}", migrated.notes.join("; ")));
    }
    fleet.save(&message)
}

/// One ring of a rollout.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RingResult {
    pub ring: String,
    pub trusts: Vec<TrustRun>,
    pub failed: usize,
}

/// A rollout, as recorded under `rollouts/`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutReport {
    pub version: String,
    pub from: String,
    pub started_at: String,
    pub finished_at: String,
    pub max_failures: usize,
    /// `finished`, or `halted` at `halted_at`.
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted_at: Option<String>,
    pub rings: Vec<RingResult>,
    /// Where the record was committed.
    #[serde(skip)]
    pub record: Option<(String, Option<String>)>,
}

impl RolloutReport {
    pub fn halted(&self) -> bool {
        self.halted_at.is_some()
    }

    /// Per ring lines and the result.
    pub fn render_text(&self) -> String {
        let mut s = format!("Rollout of {} (from {})\n", self.version, self.from);
        for r in &self.rings {
            let rollup = RunReport::new("rollout", r.trusts.clone());
            s.push_str(&format!("ring {}: {}\n", r.ring, rollup.summary()));
            for t in r
                .trusts
                .iter()
                .filter(|t| matches!(t.outcome, Outcome::Failed { .. }))
            {
                if let Outcome::Failed { error } = &t.outcome {
                    s.push_str(&format!("  {:<6} failed: {error}\n", t.ods));
                }
            }
        }
        match &self.halted_at {
            Some(ring) => s.push_str(&format!(
                "Halted at ring {ring}: more than {} trust(s) failed; later rings were not touched\n",
                self.max_failures
            )),
            None => s.push_str("Finished: every ring upgraded\n"),
        }
        if let Some((path, commit)) = &self.record {
            s.push_str(&format!(
                "Recorded in {path}{}\n",
                commit
                    .as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            ));
        }
        s
    }
}

/// `fleet rollout --to VERSION --max-failures N`: ring by ring, halting at the first ring over the limit.
pub fn rollout(
    fleet: &mut Fleet,
    to: &Version,
    max_failures: usize,
    options: &RunOptions,
) -> Result<RolloutReport, Error> {
    let open: Vec<String> = Selection::default().resolve(fleet)?;
    let from = Versions::open(fleet, &[], None)?.default.to_string();
    let rings: Vec<Option<String>> = if fleet.file.rings.is_empty() {
        vec![None]
    } else {
        fleet
            .file
            .rings
            .iter()
            .map(|r| Some(r.name.clone()))
            .collect()
    };
    let started = time::OffsetDateTime::now_utc();
    let started_at = crate::deploy::now();
    let mut report = RolloutReport {
        version: to.to_string(),
        from,
        started_at: started_at.clone(),
        finished_at: String::new(),
        max_failures,
        result: "finished".into(),
        halted_at: None,
        rings: Vec::new(),
        record: None,
    };
    for ring in rings {
        let name = ring.clone().unwrap_or_else(|| "all".into());
        let members = open
            .iter()
            .filter(|ods| ring.is_none() || fleet.ring_of(ods) == ring.as_deref())
            .count();
        if members == 0 {
            report.rings.push(RingResult {
                ring: name,
                trusts: Vec::new(),
                failed: 0,
            });
            continue;
        }
        let mut step = options.clone();
        step.selection = Selection {
            ring,
            ..Selection::default()
        };
        let done = upgrade(fleet, to, &step, false)?;
        let failed = done.run.rollup.failed;
        report.rings.push(RingResult {
            ring: name.clone(),
            trusts: done.run.trusts,
            failed,
        });
        if failed > max_failures {
            report.result = "halted".into();
            report.halted_at = Some(name);
            break;
        }
    }
    report.finished_at = crate::deploy::now();
    let stamp =
        time::format_description::parse_borrowed::<2>("[year][month][day]T[hour][minute][second]Z")
            .ok()
            .and_then(|f| started.format(&f).ok())
            .unwrap_or_default();
    let path = format!("rollouts/{stamp}-{to}.json");
    let mut bytes = serde_json::to_vec_pretty(&report).map_err(|e| Error::Internal {
        message: format!("the rollout record does not serialise: {e}"),
    })?;
    bytes.push(b'\n');
    let commit = fleet.commit(
        vec![(path.clone(), bytes)],
        &format!(
            "Rollout of {to}: {}{}",
            report.result,
            report
                .halted_at
                .as_deref()
                .map(|r| format!(" at ring {r}"))
                .unwrap_or_default()
        ),
    )?;
    report.record = Some((path, commit));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcomes: &[(&str, Outcome)]) -> UpgradeReport {
        let rows = outcomes
            .iter()
            .map(|(ods, outcome)| TrustRun {
                ods: (*ods).into(),
                name: format!("TRUST {ods}"),
                version: "1.1.0".into(),
                outcome: outcome.clone(),
                migrated: Vec::new(),
            })
            .collect();
        UpgradeReport {
            to: "1.1.0".into(),
            dry_run: false,
            commit: Some("abc123".into()),
            fleet_default_commit: Some("def456".into()),
            run: RunReport::new("upgrade", rows),
        }
    }

    /// The default version moves once every trust's values are migrated, but the summary says every trust
    /// runs it only when none failed to apply it.
    #[test]
    fn the_summary_says_every_trust_runs_the_version_only_when_none_failed() {
        let all = report(&[("RHW", Outcome::NoChange), ("RM3", Outcome::NoChange)]).render_text();
        assert!(
            all.contains("Every trust now runs 1.1.0: it is the fleet's default version (def456)"),
            "{all}"
        );
        let one_failed = report(&[
            ("RHW", Outcome::NoChange),
            (
                "RM3",
                Outcome::Failed {
                    error: "refused".into(),
                },
            ),
        ])
        .render_text();
        assert!(!one_failed.contains("Every trust now runs"), "{one_failed}");
        assert!(
            one_failed.contains(
                "1 trust(s) failed to apply it: `trustprint fleet apply --resume` retries them"
            ),
            "{one_failed}"
        );
    }
}
