//! Evidence: a compliance evidence pack per trust, for its information governance lead.
//!
//! Contract: [`build`] takes a checked trust ([`crate::run::Checked`]: values, rendering, guardrail report),
//! optionally its fleet record (the lock's last apply or destroy) and a saved plan, and returns a [`Pack`]:
//! the blueprint's version and commit, the values with secrets removed (secret parameters are named, never
//! valued), the guardrail results with every waiver's justification, the policy assignments, the last plan
//! and deployment record, and every control mapped to the NCSC cloud security principles, the groups of the
//! "UK OFFICIAL and UK NHS" initiative and the CAF-aligned DSPT outcomes (`data/evidence/controls.json`).
//! With the target's policy states ([`Inputs::policy_states`], read by [`after::Reader`]) each initiative
//! group also shows its state after deployment, beside the before-deployment one.
//! [`write`] renders it as `evidence.md`, `evidence.html` (self-contained) and `evidence.json`. The same
//! inputs give the same bytes apart from [`Pack::generated_at`].

pub mod after;
mod render;

use crate::error::Error;
pub use render::esc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

const MAPPING: &str = include_str!("../../data/evidence/controls.json");

/// The file names the pack is written as.
pub const FILES: [&str; 3] = ["evidence.md", "evidence.html", "evidence.json"];

/// The mapping file: every control and what it supports.
#[derive(Debug, Clone, Deserialize)]
pub struct Mapping {
    pub about: String,
    pub sources: Vec<Source>,
    /// Principle number → name.
    pub ncsc: std::collections::BTreeMap<String, String>,
    /// DSPT outcome (`B5.c`) → name.
    pub dspt: std::collections::BTreeMap<String, String>,
    pub controls: Vec<ControlDef>,
}

/// Where part of the mapping comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Source {
    pub name: String,
    pub url: String,
}

/// One control in the mapping file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlDef {
    /// A guardrail rule id (`TP-BAK-001`) or an estate control (`EST-BACKUP`).
    pub id: String,
    /// `guardrail` or `estate`.
    pub kind: String,
    pub title: String,
    pub ncsc: Vec<u8>,
    pub uk_official_groups: Vec<String>,
    pub dspt: Vec<String>,
    /// Estate controls: present when the estate declares a resource of any of these types.
    #[serde(default)]
    pub resource_types: Vec<String>,
    /// Estate controls on policy assignments: the assigned definition's id must contain this.
    #[serde(default)]
    pub policy_definition: Option<String>,
}

/// The mapping shipped with trustprint.
pub fn mapping() -> Result<Mapping, Error> {
    serde_json::from_str(MAPPING).map_err(|e| Error::Internal {
        message: format!("data/evidence/controls.json does not parse: {e}"),
    })
}

/// A control's state in this trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A guardrail with no finding.
    Met,
    /// A guardrail whose findings are all waived (the justifications are in the pack).
    Waived,
    /// A guardrail with violations.
    Violated,
    /// An estate control the trust's resources include.
    Deployed,
    /// An estate control the trust's resources do not include.
    NotDeployed,
}

/// A control with its state and mapping.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Control {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub status: Status,
    /// The resources the status rests on (findings' resources, or the estate resources present), sorted.
    pub resources: Vec<String>,
    /// `2. Asset protection and resilience`, ...
    pub ncsc: Vec<String>,
    pub uk_official_groups: Vec<String>,
    /// `B5.c Backups`, ...
    pub dspt: Vec<String>,
}

/// A guardrail finding in the pack.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingRow {
    pub rule: String,
    pub resource_id: String,
    pub detail: String,
    /// The waiver's justification, when waived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
}

/// A policy assignment the trust deploys.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAssignment {
    pub id: String,
    pub display_name: String,
    pub policy_definition_id: String,
    pub enforcement_mode: String,
}

/// An Azure Policy initiative evaluated over the trust (before deployment, by trustprint's policy engine).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyCompliance {
    pub initiative: String,
    pub display_name: String,
    pub version: Option<String>,
    /// Where the states come from: `before deployment (trustprint policy engine)`.
    pub evaluated: String,
    pub compliance_percent: Option<f64>,
    pub groups: Vec<crate::policy::report::GroupResult>,
    /// Group name → the DSPT (CAF-aligned) outcomes it supports: a CAF group is its own outcome (or the
    /// mapping's outcomes beneath its principle or objective); a UK OFFICIAL group supports the outcomes of
    /// the controls mapped to it (`data/evidence/controls.json`).
    pub dspt: std::collections::BTreeMap<String, Vec<String>>,
    /// The target's evaluation after deployment, when the pack was made with a target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_deployment: Option<after::AfterDeployment>,
}

/// The guardrail results.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Guardrails {
    pub passed: bool,
    pub resources_checked: usize,
    pub violations: Vec<FindingRow>,
    pub waived: Vec<FindingRow>,
    pub warnings: Vec<String>,
}

/// The last plan and deployment, when known.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Where the record was read (`trusts/RM3/trustprint.lock` in the fleet repository).
    pub record_source: Option<String>,
    /// The lock's last apply or destroy.
    pub last: Option<crate::deploy::DeploymentRecord>,
    /// A saved plan's summary (`--plan FILE`).
    pub plan: Option<PlanRow>,
}

/// A saved plan in the pack.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanRow {
    pub file: String,
    pub summary: String,
    pub render_hash: String,
    pub data_loss: Vec<String>,
}

/// The evidence pack.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pack {
    /// The one thing that differs between two packs of the same inputs.
    pub generated_at: String,
    pub trustprint_version: String,
    pub trust: crate::model::TrustRef,
    pub blueprint: crate::model::BlueprintRef,
    pub render_hash: String,
    /// The values as validated, defaults filled; secret parameters are absent.
    pub values: Value,
    /// Secret parameters by name only: their values are never in the pack.
    pub secret_parameters: Vec<String>,
    pub guardrails: Guardrails,
    pub policy_assignments: Vec<PolicyAssignment>,
    /// Microsoft's UK NHS and NCSC CAF initiatives, evaluated per group.
    pub policy_compliance: Vec<PolicyCompliance>,
    pub deployment: Deployment,
    pub controls: Vec<Control>,
    pub mapping_about: String,
    pub mapping_sources: Vec<Source>,
}

/// What to put in the pack besides the checked trust.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The fleet repository whose lock holds the last deployment.
    pub fleet: Option<PathBuf>,
    /// A saved plan (`plan --out`).
    pub plan: Option<PathBuf>,
    /// The generation timestamp (RFC 3339); now when None.
    pub generated_at: Option<String>,
    /// The target's policy states for the trust ([`after::Reader::read`]): each initiative group then shows
    /// its state after deployment too.
    pub policy_states: Option<after::TargetStates>,
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Both shipped initiatives over the trust's resources, assigned at its subscription (the evidence pack's and
/// the fleet report's); with the target's states, each also after deployment.
pub fn policy_compliance(
    values: &crate::values::Values,
    resources: &[crate::model::Resource],
    states: Option<&after::TargetStates>,
) -> Result<Vec<PolicyCompliance>, Error> {
    let lib = crate::policy::Library::builtin();
    let mapping = mapping()?;
    let ctx = values.static_context();
    let assignment =
        crate::policy::Assignment::at(format!("/subscriptions/{}", ctx.subscription_id));
    let mut out = Vec::new();
    for (name, _) in crate::policy::data::INITIATIVES {
        let initiative =
            lib.initiative(name)
                .ok_or_else(|| crate::policy::Error::UnknownInitiative {
                    name: name.to_string(),
                })?;
        let report = crate::policy::evaluate(lib, &initiative, &assignment, resources)?;
        out.push(PolicyCompliance {
            initiative: report.initiative,
            display_name: report.display_name,
            version: report.version,
            evaluated: "before deployment (trustprint policy engine)".into(),
            compliance_percent: report.summary.compliance_percent,
            dspt: initiative
                .groups
                .iter()
                .map(|g| (g.name.clone(), mapping.dspt_of_group(&g.name)))
                .collect(),
            groups: report.groups,
            after_deployment: states.map(|s| after::after_deployment(lib, &initiative, s)),
        });
    }
    Ok(out)
}

impl Mapping {
    /// The DSPT (CAF-aligned) outcomes an initiative group supports, as `B5.c Backups`:
    /// - a group of the NCSC CAF initiative (`UK_NCSC_CAF_v3.2_B4.b`) is a CAF outcome itself; a principle or
    ///   objective (`..._C1`, `..._D`) supports the outcomes beneath it that the DSPT names;
    /// - a group of the UK OFFICIAL and UK NHS initiative (`UK_NCSC_CSP_2.6`) supports the outcomes of the
    ///   controls mapped to it.
    pub fn dspt_of_group(&self, group: &str) -> Vec<String> {
        let named = |id: &str| match self.dspt.get(id) {
            Some(name) => format!("{id} {name}"),
            None => id.to_string(),
        };
        if let Some(caf) = group.strip_prefix("UK_NCSC_CAF_v3.2_") {
            if caf.contains('.') {
                return vec![named(caf)];
            }
            return self
                .dspt
                .keys()
                .filter(|id| id.starts_with(caf))
                .map(|id| named(id))
                .collect();
        }
        let mut ids: Vec<&String> = self
            .controls
            .iter()
            .filter(|c| {
                c.uk_official_groups
                    .iter()
                    .any(|g| g.eq_ignore_ascii_case(group))
            })
            .flat_map(|c| c.dspt.iter())
            .collect();
        ids.sort();
        ids.dedup();
        ids.into_iter().map(|id| named(id)).collect()
    }
}

/// Build the pack of a checked trust.
pub fn build(checked: &crate::run::Checked, inputs: &Inputs) -> Result<Pack, Error> {
    let mapping = mapping()?;
    let rendered = &checked.rendered;
    let values = &checked.loaded.values;
    let resources = crate::check::expand_rendered(rendered, &values.static_context())?;
    let report = &checked.report;

    let row = |f: &crate::check::Finding| FindingRow {
        rule: f.rule.id.to_string(),
        resource_id: f.resource_id.clone(),
        detail: f.detail.clone(),
        justification: f.waiver.as_ref().map(|w| w.justification.clone()),
    };
    let guardrails = Guardrails {
        passed: report.passed(),
        resources_checked: report.resources_checked,
        violations: report.violations().map(row).collect(),
        waived: report.waived().map(row).collect(),
        warnings: report.warnings.iter().map(ToString::to_string).collect(),
    };

    let mut policy_assignments: Vec<PolicyAssignment> = resources
        .iter()
        .filter(|r| {
            r.resource_type
                .eq_ignore_ascii_case("Microsoft.Authorization/policyAssignments")
        })
        .map(|r| {
            let p = &r.body["properties"];
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            PolicyAssignment {
                id: r.id.clone(),
                display_name: s("displayName"),
                policy_definition_id: s("policyDefinitionId"),
                enforcement_mode: p["enforcementMode"]
                    .as_str()
                    .unwrap_or("Default")
                    .to_string(),
            }
        })
        .collect();
    policy_assignments.sort_by(|a, b| a.id.cmp(&b.id));
    let policy_compliance = policy_compliance(values, &resources, inputs.policy_states.as_ref())?;

    let mut controls = Vec::new();
    for def in &mapping.controls {
        let (status, mut on) = if def.kind == "guardrail" {
            let findings: Vec<_> = report
                .findings
                .iter()
                .filter(|f| f.rule.id == def.id)
                .collect();
            let on: Vec<String> = findings.iter().map(|f| f.resource_id.clone()).collect();
            let status = if findings.iter().any(|f| f.waiver.is_none()) {
                Status::Violated
            } else if findings.is_empty() {
                Status::Met
            } else {
                Status::Waived
            };
            (status, on)
        } else {
            let on: Vec<String> = resources
                .iter()
                .filter(|r| {
                    def.resource_types
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(&r.resource_type))
                        && def.policy_definition.as_ref().is_none_or(|want| {
                            r.body["properties"]["policyDefinitionId"]
                                .as_str()
                                .is_some_and(|id| id.to_ascii_lowercase().contains(want))
                        })
                })
                .map(|r| r.id.clone())
                .collect();
            let status = if on.is_empty() {
                Status::NotDeployed
            } else {
                Status::Deployed
            };
            (status, on)
        };
        on.sort();
        on.dedup();
        controls.push(Control {
            id: def.id.clone(),
            kind: def.kind.clone(),
            title: def.title.clone(),
            status,
            resources: on,
            ncsc: def
                .ncsc
                .iter()
                .map(|n| {
                    let name = mapping
                        .ncsc
                        .get(&n.to_string())
                        .map(String::as_str)
                        .unwrap_or("?");
                    format!("{n}. {name}")
                })
                .collect(),
            uk_official_groups: def.uk_official_groups.clone(),
            dspt: def
                .dspt
                .iter()
                .map(|d| {
                    let name = mapping.dspt.get(d).map(String::as_str).unwrap_or("?");
                    format!("{d} {name}")
                })
                .collect(),
        });
    }

    let mut deployment = Deployment {
        record_source: None,
        last: None,
        plan: None,
    };
    if let Some(fleet) = &inputs.fleet {
        let ods = &rendered.trust.ods_code;
        let rel = crate::repo::FleetRepo::trust_file_rel(ods, crate::repo::LOCK_FILE);
        match crate::repo::FleetRepo::new(fleet).read_lock(ods)? {
            Some(lock) => {
                deployment.record_source = Some(rel);
                deployment.last = lock.deployment;
            }
            None => {
                return Err(Error::Usage {
                    message: format!(
                        "fleet repository {}: no {rel}; stamp the trust into the fleet first",
                        fleet.display()
                    ),
                })
            }
        }
    }
    if let Some(file) = &inputs.plan {
        let plan = crate::deploy::Plan::load(file).map_err(|e| Error::Deploy(Box::new(e)))?;
        deployment.plan = Some(PlanRow {
            file: file.display().to_string(),
            summary: plan.summary.to_string(),
            render_hash: plan.inputs.render_hash.clone(),
            data_loss: plan.data_loss(),
        });
    }

    Ok(Pack {
        generated_at: inputs.generated_at.clone().unwrap_or_else(now_rfc3339),
        trustprint_version: env!("CARGO_PKG_VERSION").into(),
        trust: rendered.trust.clone(),
        blueprint: rendered.blueprint.clone(),
        render_hash: rendered.hash.clone(),
        values: values.tree.clone(),
        secret_parameters: values.secrets.keys().cloned().collect(),
        guardrails,
        policy_assignments,
        policy_compliance,
        deployment,
        controls,
        mapping_about: mapping.about,
        mapping_sources: mapping.sources,
    })
}

/// The pack's files: name → bytes.
pub fn files(pack: &Pack) -> Vec<(String, Vec<u8>)> {
    vec![
        (FILES[0].into(), render::markdown(pack).into_bytes()),
        (FILES[1].into(), render::html(pack).into_bytes()),
        (
            FILES[2].into(),
            crate::hash::to_bytes(&serde_json::json!(pack)),
        ),
    ]
}

/// Write the pack's files into `out` (created when missing), each atomically.
pub fn write(out: &Path, pack: &Pack) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut written = Vec::new();
    for (name, bytes) in files(pack) {
        let path = out.join(&name);
        let mut tmp = tempfile::NamedTempFile::new_in(out).map_err(|e| Error::io(out, e))?;
        std::io::Write::write_all(&mut tmp, &bytes).map_err(|e| Error::io(&path, e))?;
        tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        written.push(path);
    }
    Ok(written)
}

/// Commit the pack into the fleet repository at `trusts/<ODS>/evidence/` ([`crate::record::record_files`]:
/// under the fleet's lock, one commit holding only those files). Returns the commit, or None when the files
/// are unchanged. A restamp of the trust keeps them.
pub fn commit(fleet: &Path, pack: &Pack) -> Result<Option<String>, Error> {
    let dir =
        crate::repo::FleetRepo::trust_file_rel(&pack.trust.ods_code, crate::repo::EVIDENCE_DIR);
    let files: Vec<(String, Vec<u8>)> = files(pack)
        .into_iter()
        .map(|(name, bytes)| (format!("{dir}/{name}"), bytes))
        .collect();
    let message = format!(
        "Evidence pack for {} ({}) with {} {}\n\nGenerated at {} by trustprint {}\n",
        pack.trust.name,
        pack.trust.ods_code,
        pack.blueprint.name,
        pack.blueprint.version,
        pack.generated_at,
        pack.trustprint_version
    );
    Ok(crate::record::record_files(
        fleet,
        &files,
        &message,
        crate::record::DEFAULT_LOCK_TIMEOUT,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_guardrail_rule_is_mapped_and_every_group_exists_in_the_initiative() {
        let m = mapping().unwrap();
        for rule in crate::check::rules() {
            let c = m
                .controls
                .iter()
                .find(|c| c.id == rule.id)
                .unwrap_or_else(|| panic!("{} has no mapping", rule.id));
            let number: u8 = rule.principle.split('.').next().unwrap().parse().unwrap();
            assert!(
                c.ncsc.contains(&number),
                "{}: the rule's own principle {number} is mapped",
                rule.id
            );
        }
        let initiative: Value = serde_json::from_str(include_str!(
            "../../data/azure-policy/ukofficial_audit.json"
        ))
        .unwrap();
        let groups: Vec<&str> = initiative["properties"]["policyDefinitionGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        for c in &m.controls {
            assert!(!c.ncsc.is_empty() && !c.dspt.is_empty(), "{}", c.id);
            for g in &c.uk_official_groups {
                assert!(
                    groups.contains(&g.as_str()),
                    "{}: {g} is not a group of the initiative",
                    c.id
                );
            }
            for n in &c.ncsc {
                assert!((1..=14).contains(n), "{}", c.id);
            }
            for d in &c.dspt {
                assert!(m.dspt.contains_key(d), "{}: {d}", c.id);
            }
        }
        assert_eq!(m.ncsc.len(), 14);
    }

    #[test]
    fn a_caf_group_supports_its_own_outcome_or_those_beneath_it_and_a_uk_official_group_its_controls(
    ) {
        let m = mapping().unwrap();
        assert_eq!(
            m.dspt_of_group("UK_NCSC_CAF_v3.2_B2.a"),
            ["B2.a Identity verification, authentication and authorisation"]
        );
        // An outcome the mapping does not name keeps its id.
        assert_eq!(m.dspt_of_group("UK_NCSC_CAF_v3.2_B3.d"), ["B3.d"]);
        assert_eq!(
            m.dspt_of_group("UK_NCSC_CAF_v3.2_C1"),
            [
                "C1.a Monitoring coverage",
                "C1.b Securing logs",
                "C1.c Generating alerts",
                "C1.d Identifying security incidents"
            ]
        );
        assert_eq!(m.dspt_of_group("UK_NCSC_CSP_1"), ["B3.b Data in transit"]);
        assert!(m.dspt_of_group("UK_NCSC_CSP_14").is_empty());
    }
}
