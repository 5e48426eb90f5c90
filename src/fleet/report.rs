//! `fleet report --html DIR`: one self-contained page (no external assets: inline CSS, SVG charts and a few
//! lines of script) on the state of the fleet: per trust its blueprint version, last apply and its result,
//! drift at the last `fleet drift`, guardrail status and address space; charts of version adoption and of
//! trusts by NHS England region.
//!
//! Everything comes from the repository: fleet.yaml, each trust's lock, the last drift run
//! (`.git/trustprint-last-drift.json`, written by `fleet drift`), and the guardrails run afresh over each
//! trust's current inputs (offline, the blueprint opened once). Azure Policy's two UK initiatives are evaluated
//! over each trust's rendered resources too (before deployment, trustprint's policy engine): per trust its
//! compliance percentage and, per initiative group (control), its state. With a target ([`AfterOptions`]:
//! `--target`, `--cloud-url`), each applied trust's groups also show their state after deployment, from the
//! compliance states the local cloud or Azure recorded for its subscription ([`crate::evidence::after`]).

use super::Fleet;
use crate::error::Error;
use serde::Serialize;
use std::collections::BTreeMap;

/// Where `fleet drift` keeps its last report, inside the repository's `.git` folder (not versioned).
pub const LAST_DRIFT: &str = "trustprint-last-drift.json";

/// One trust's row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub ods: String,
    pub name: String,
    pub region: String,
    pub icb: String,
    pub address_space: String,
    pub version: String,
    pub last_apply: String,
    pub result: String,
    pub drift: String,
    pub guardrails: String,
    /// Each shipped initiative evaluated over the trust (empty when its inputs do not render).
    pub policy: Vec<PolicyRow>,
}

/// One initiative over one trust: the compliance percentage and each group's state.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyRow {
    pub initiative: String,
    pub display_name: String,
    /// `before deployment (trustprint policy engine)`.
    pub evaluated: String,
    pub compliance_percent: Option<f64>,
    /// Group name → state (`compliant`, `non-compliant`, `not-evaluable`, `not-applicable`, ...).
    pub groups: BTreeMap<String, String>,
    /// After deployment, when the report was made with a target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_deployment: Option<AfterRow>,
}

/// One initiative over one trust after deployment.
#[derive(Debug, Clone, Serialize)]
pub struct AfterRow {
    /// `evaluated`, `not-evaluated` (the target has no state of the initiative), `not-deployed` (no
    /// successful apply recorded) or `failed` (the target could not be read).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub compliance_percent: Option<f64>,
    /// Group name → state, as before deployment (`not-evaluable` is Azure's `Unknown`).
    pub groups: BTreeMap<String, String>,
}

/// Where to read the states after deployment from.
pub struct AfterOptions {
    pub reader: crate::evidence::after::Reader,
    /// Start an evaluation scan of each trust's subscription first.
    pub trigger: bool,
}

/// The page's data.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
    pub versions: BTreeMap<String, usize>,
    pub regions: BTreeMap<String, usize>,
    pub drift_at: Option<String>,
}

/// Gather the report.
pub fn build(fleet: &Fleet, after: Option<&AfterOptions>) -> Result<Report, Error> {
    let open: Vec<String> = fleet
        .file
        .trusts
        .iter()
        .filter(|(_, t)| t.closed.is_none())
        .map(|(ods, _)| ods.clone())
        .collect();
    let versions = super::version::Versions::open(fleet, &open, None)?;
    let renderers = versions
        .all()
        .iter()
        .map(|b| crate::render::Renderer::new(b))
        .collect::<Result<Vec<_>, _>>()?;
    let git_dir = git2::Repository::open(&fleet.dir)
        .map(|r| r.path().to_path_buf())
        .map_err(|source| Error::Git {
            context: format!("opening fleet repository {}", fleet.dir.display()),
            source,
        })?;
    let drift: Option<serde_json::Value> = std::fs::read_to_string(git_dir.join(LAST_DRIFT))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let drift_of = |ods: &str| -> String {
        let Some(d) = &drift else {
            return "not checked".into();
        };
        d["trusts"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["ods"] == ods))
            .map_or("not checked".into(), |r| match r["status"].as_str() {
                Some("drifted") => format!(
                    "drifted ({} resource(s))",
                    r["resources"].as_array().map_or(0, Vec::len)
                ),
                Some("noChange") => "none".into(),
                Some("notApplied") => "inputs changed since apply".into(),
                Some(other) => other.to_string(),
                None => "not checked".into(),
            })
    };
    let mut rows = Vec::new();
    for (ods, t) in fleet.file.trusts.iter().filter(|(_, t)| t.closed.is_none()) {
        let lock = crate::repo::FleetRepo::new(&fleet.dir).read_lock(ods)?;
        let deployment = lock
            .as_ref()
            .and_then(|l| serde_json::to_value(&l.deployment).ok())
            .unwrap_or_default();
        let checked = versions.of(fleet, ods).and_then(|v| {
            let at = versions.index(&v)?;
            let bp = &versions.all()[at];
            let (input, _) = fleet.trust_input(ods, &versions.default, &bp.manifest)?;
            crate::run::check_one(bp, &renderers[at], &input)
        });
        let mut policy = Vec::new();
        let applied = deployment["action"].as_str() == Some("apply")
            && deployment["succeeded"].as_bool() == Some(true);
        let guardrails = match checked {
            Ok(checked) => {
                policy = policy_rows(&checked)?;
                if let Some(after) = after {
                    add_after_deployment(fleet, ods, &checked, applied, after, &mut policy)?;
                }
                let (v, w) = (
                    checked.report.violations().count(),
                    checked.report.waived().count(),
                );
                if v == 0 {
                    format!("pass ({w} waived)")
                } else {
                    format!("{v} violation(s)")
                }
            }
            Err(e) => format!("invalid: {e}"),
        };
        let region = t.region.clone().unwrap_or_default();
        rows.push(Row {
            ods: ods.clone(),
            name: t.name.clone(),
            region: crate::ods::region_name(&region)
                .map_or(region.clone(), |n| format!("{region} {n}")),
            icb: t.icb.clone().unwrap_or_default(),
            address_space: t.address_space.map(|c| c.to_string()).unwrap_or_default(),
            version: lock
                .as_ref()
                .map_or("not stamped".into(), |l| l.blueprint.version.clone()),
            last_apply: deployment["finishedAt"]
                .as_str()
                .map_or("never".into(), str::to_string),
            result: match (
                deployment["action"].as_str(),
                deployment["succeeded"].as_bool(),
            ) {
                (Some("apply"), Some(true)) => "succeeded".into(),
                (Some("apply"), _) => "failed".into(),
                (Some("destroy"), _) => "destroyed".into(),
                _ => "-".into(),
            },
            drift: drift_of(ods),
            guardrails,
            policy,
        });
    }
    let mut versions = BTreeMap::new();
    let mut regions = BTreeMap::new();
    for r in &rows {
        *versions.entry(r.version.clone()).or_insert(0) += 1;
        *regions.entry(r.region.clone()).or_insert(0) += 1;
    }
    Ok(Report {
        rows,
        versions,
        regions,
        drift_at: drift
            .as_ref()
            .and_then(|d| d["checkedAt"].as_str().map(str::to_string)),
    })
}

/// Both shipped initiatives over a checked trust.
fn policy_rows(checked: &crate::run::FleetChecked) -> Result<Vec<PolicyRow>, Error> {
    let resources =
        crate::check::expand_rendered(&checked.rendered, &checked.values.static_context())?;
    let compliance = crate::evidence::policy_compliance(&checked.values, &resources, None)?;
    Ok(compliance
        .into_iter()
        .map(|c| PolicyRow {
            initiative: c.initiative,
            display_name: c.display_name,
            evaluated: c.evaluated,
            compliance_percent: c.compliance_percent,
            groups: c
                .groups
                .iter()
                .map(|g| (g.name.clone(), state_name(g.state)))
                .collect(),
            after_deployment: None,
        })
        .collect())
}

/// A state as the report's data spells it (`non-compliant`, `not-evaluable`, `not-evaluated`, ...).
fn state_name(state: impl Serialize) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Each initiative's state after deployment for one trust: read from the target when the trust's last apply
/// succeeded; a target that cannot be read is the trust's `failed` row, not the report's failure.
fn add_after_deployment(
    fleet: &Fleet,
    ods: &str,
    checked: &crate::run::FleetChecked,
    applied: bool,
    after: &AfterOptions,
    rows: &mut [PolicyRow],
) -> Result<(), Error> {
    let row = |status: &str, message: Option<String>| AfterRow {
        status: status.into(),
        message,
        compliance_percent: None,
        groups: BTreeMap::new(),
    };
    if !applied {
        for r in rows.iter_mut() {
            r.after_deployment = Some(row(
                "not-deployed",
                Some("no successful apply is recorded in the trust's lock".into()),
            ));
        }
        return Ok(());
    }
    let read = after.reader.read(
        &checked.values,
        ods,
        fleet.trust_target(ods)?,
        after.trigger,
    );
    let states = match read {
        Ok(s) => s,
        Err(e) => {
            for r in rows.iter_mut() {
                r.after_deployment = Some(row("failed", Some(e.to_string())));
            }
            return Ok(());
        }
    };
    let lib = crate::policy::Library::builtin();
    for r in rows.iter_mut() {
        let Some(initiative) = crate::policy::data::INITIATIVES
            .iter()
            .filter_map(|(short, _)| lib.initiative(short))
            .find(|i| i.name == r.initiative)
        else {
            continue;
        };
        let a = crate::evidence::after::after_deployment(lib, &initiative, &states);
        r.after_deployment = Some(AfterRow {
            status: state_name(a.status),
            message: a.message,
            compliance_percent: a.compliance_percent,
            groups: a
                .groups
                .iter()
                .map(|g| (g.name.clone(), state_name(g.state)))
                .collect(),
        });
    }
    Ok(())
}

/// Per initiative, a table of trusts by group: each cell the group's state before deployment.
fn policy_tables(report: &Report) -> String {
    let esc = crate::evidence::esc;
    let mut initiatives: Vec<(String, String)> = Vec::new();
    for r in &report.rows {
        for p in &r.policy {
            if !initiatives.iter().any(|(i, _)| i == &p.initiative) {
                initiatives.push((p.initiative.clone(), p.display_name.clone()));
            }
        }
    }
    let mark = |state: &str| match state {
        "compliant" => "C",
        "non-compliant" => "N",
        "not-evaluable" => "?",
        "exempt" => "E",
        _ => "-",
    };
    let after = report
        .rows
        .iter()
        .any(|r| r.policy.iter().any(|p| p.after_deployment.is_some()));
    let mut out = String::new();
    for (id, name) in initiatives {
        let groups: std::collections::BTreeSet<&String> = report
            .rows
            .iter()
            .flat_map(|r| r.policy.iter().filter(|p| p.initiative == id))
            .flat_map(|p| p.groups.keys())
            .collect();
        out.push_str(&format!(
            "<h2>{}</h2>\n<p>Evaluated before deployment by trustprint's policy engine{}. C compliant, N non-compliant,              ? not evaluable before deployment (after deployment: Azure's Unknown), E exempt, - not applicable.</p>\n             <table class=\"policy\" data-initiative=\"{}\"><thead><tr><th>ODS</th><th>Compliance</th>",
            esc(&name),
            if after {
                "; the rows marked after show the target's policy states after deployment"
            } else {
                ""
            },
            esc(&id)
        ));
        for g in &groups {
            out.push_str(&format!("<th>{}</th>", esc(g)));
        }
        out.push_str("</tr></thead><tbody>\n");
        for r in &report.rows {
            let Some(p) = r.policy.iter().find(|p| p.initiative == id) else {
                continue;
            };
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td>",
                esc(&r.ods),
                p.compliance_percent
                    .map_or("-".into(), |c| format!("{c:.0}%"))
            ));
            for g in &groups {
                let state = p.groups.get(*g).map_or("", String::as_str);
                out.push_str(&format!(
                    "<td data-state=\"{}\">{}</td>",
                    esc(state),
                    mark(state)
                ));
            }
            out.push_str("</tr>\n");
            if let Some(a) = &p.after_deployment {
                out.push_str(&format!(
                    "<tr class=\"after\" data-ods=\"{}\" data-status=\"{}\"><td>{} after</td><td>{}</td>",
                    esc(&r.ods),
                    esc(&a.status),
                    esc(&r.ods),
                    a.compliance_percent
                        .map_or("-".into(), |c| format!("{c:.0}%"))
                ));
                if a.status == "evaluated" {
                    for g in &groups {
                        let state = a.groups.get(*g).map_or("", String::as_str);
                        out.push_str(&format!(
                            "<td data-state=\"{}\">{}</td>",
                            esc(state),
                            mark(state)
                        ));
                    }
                } else {
                    out.push_str(&format!(
                        "<td colspan=\"{}\">{}: {}</td>",
                        groups.len(),
                        esc(&a.status.replace('-', " ")),
                        esc(a.message.as_deref().unwrap_or_default())
                    ));
                }
                out.push_str("</tr>\n");
            }
        }
        out.push_str("</tbody></table>\n");
    }
    out
}

/// A horizontal bar chart as inline SVG.
fn bars(title: &str, data: &BTreeMap<String, usize>) -> String {
    let esc = crate::evidence::esc;
    let max = data.values().copied().max().unwrap_or(1).max(1);
    let row_h = 22;
    let height = row_h * data.len() + 30;
    let mut s = format!(
        "<figure><figcaption>{}</figcaption><svg role=\"img\" aria-label=\"{}\" width=\"560\" height=\"{height}\">",
        esc(title),
        esc(title)
    );
    for (i, (label, n)) in data.iter().enumerate() {
        let y = 10 + i * row_h;
        let w = 300 * n / max;
        s.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect class=\"bar\" x=\"220\" y=\"{y}\" width=\"{w}\" \
             height=\"16\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{n}</text>",
            y + 12,
            esc(label),
            225 + w,
            y + 12
        ));
    }
    s.push_str("</svg></figure>");
    s
}

/// The page.
pub fn html(report: &Report, fleet_name: &str, generated_at: &str) -> String {
    let esc = crate::evidence::esc;
    let mut rows = String::new();
    for r in &report.rows {
        rows.push_str(&format!(
            "<tr data-result=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>\n",
            esc(&r.result),
            esc(&r.ods),
            esc(&r.name),
            esc(&r.region),
            esc(&r.icb),
            esc(&r.address_space),
            esc(&r.version),
            esc(&r.last_apply),
            esc(&r.result),
            esc(&r.drift),
            esc(&r.guardrails)
        ));
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Fleet report: {name}</title>\n\
         <style>body{{font-family:sans-serif;margin:2em;color:#212b32}}table{{border-collapse:collapse;width:100%}}\
         td,th{{border:1px solid #d8dde0;padding:4px 8px;text-align:left;font-size:13px}}th{{background:#f0f4f5}}\
         .bar{{fill:#005eb8}}figure{{display:inline-block;margin:1em 2em 1em 0}}figcaption{{font-weight:bold}}\
         tr[data-result=failed]{{background:#fde8e8}}</style></head><body>\n\
         <h1>Fleet report: {name}</h1>\n<p>Generated {generated_at} by trustprint {version}. Drift as of {drift_at}.</p>\n\
         <p id=\"summary\">{count} trust(s)</p>\n{versions}{regions}\n\
         <table id=\"trusts\"><thead><tr><th>ODS</th><th>Trust</th><th>Region</th><th>ICB</th><th>Address space</th>\
         <th>Blueprint version</th><th>Last apply</th><th>Result</th><th>Drift</th><th>Guardrails</th></tr></thead>\n\
         <tbody>\n{rows}</tbody></table>\n{policy}\
         <script>(function(){{var rows=document.querySelectorAll('#trusts tbody tr');var failed=0;\
         rows.forEach(function(r){{if(r.dataset.result==='failed')failed++;}});\
         document.getElementById('summary').textContent=rows.length+' trust(s), '+failed+' with a failed last apply';}})();\
         </script>\n</body></html>\n",
        name = esc(fleet_name),
        version = env!("CARGO_PKG_VERSION"),
        drift_at = esc(report.drift_at.as_deref().unwrap_or("never checked")),
        count = report.rows.len(),
        versions = bars("Blueprint version adoption", &report.versions),
        regions = bars("Trusts by NHS England region", &report.regions),
        policy = policy_tables(report),
    )
}
