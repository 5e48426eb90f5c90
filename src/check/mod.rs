//! Stage 3, check: guardrails over the rendered resources.
//!
//! Contract: [`check`] takes the resources of a rendered trust (ARM expressions evaluated, see
//! [`crate::armexpr::expand`]) and the blueprint's guardrail settings, and returns every finding: violations,
//! and those waived by the manifest with their justification, plus warnings about waivers that match nothing.
//! [`check_rendered`] does the expansion of every deployment first and checks the whole estate at once, because
//! rules such as backup coverage and diagnostic settings relate resources declared in different deployments.
//!
//! The rules live one family per file (location, tags, storage, keyvault, sql, network, backup, diagnostics,
//! catalog);
//! `docs/guardrails.md` lists each with its reason, NCSC cloud security principle and fix.
//!
//! Expression policy: a property a rule needs that is still an ARM expression string after expansion (a
//! `reference()` or anything else only known at deployment) is never taken as compliant. The rule reports a
//! finding under its own id whose detail says the value cannot be verified before deployment; a blueprint that
//! means it can waive that finding with a justification like any other.

mod backup;
mod catalog;
mod diagnostics;
mod estate;
mod keyvault;
mod location;
mod network;
mod render_text;
mod sql;
mod storage;
mod tags;

pub use diagnostics::SUPPORTED as DIAGNOSTIC_SETTINGS_REQUIRED;
pub use tags::REQUIRED_TAGS;

use crate::model::{Rendered, Resource, Waiver};
use estate::Estate;
use globset::{GlobBuilder, GlobMatcher};
use serde::Serialize;
use std::fmt;

/// What the guardrails are configured with (from the manifest).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Azure regions resources may be placed in (`uksouth`, `ukwest`); compared case-insensitively and
    /// ignoring spaces, so the display form `UK South` matches too.
    pub allowed_locations: Vec<String>,
    pub waivers: Vec<Waiver>,
    /// The resource id of a Log Analytics workspace outside the rendered estate (for example a shared one run
    /// by a digital team) that diagnostic settings may send to. Workspaces
    /// (`Microsoft.OperationalInsights/workspaces`) declared among the resources are always accepted.
    pub workspace_id: Option<String>,
}

impl Default for Settings {
    /// UK residency: the two UK regions, no waivers, only declared workspaces.
    fn default() -> Self {
        Settings {
            allowed_locations: vec!["uksouth".to_owned(), "ukwest".to_owned()],
            waivers: Vec::new(),
            workspace_id: None,
        }
    }
}

impl Settings {
    /// The guardrail settings a blueprint manifest declares (`allowedLocations`, `waivers`).
    ///
    /// A manifest whose `guardrails` hold it to some rule sets only (an imported Azure Blueprint: UK
    /// locations) gets every other rule as advice: a waiver over all resources whose justification starts
    /// with [`ADVICE`], so `check` still shows what trustprint's full NHS rule set would say.
    pub fn from_manifest(manifest: &crate::blueprint::Manifest) -> Self {
        let mut waivers = manifest.waivers.clone();
        if let Some(g) = &manifest.guardrails {
            let sets: Vec<String> = g
                .rule_sets
                .iter()
                .map(|s| {
                    serde_json::to_value(s)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .collect();
            for rule in rules() {
                if !g.rule_sets.iter().any(|s| s.holds(rule.id)) {
                    waivers.push(Waiver {
                        rule: rule.id.to_owned(),
                        resource: "**".to_owned(),
                        justification: format!(
                            "{ADVICE} the blueprint is held to {} (guardrails in blueprint.yaml); trustprint's \
                             NHS rule set would flag this",
                            sets.join(", ")
                        ),
                    });
                }
            }
        }
        Settings {
            allowed_locations: manifest.allowed_locations.clone(),
            waivers,
            workspace_id: None,
        }
    }
}

/// How the justification of a finding that is advice only (a rule outside the blueprint's rule sets) starts.
pub const ADVICE: &str = "advice only:";

/// A guardrail rule's description.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Rule {
    /// `TP-LOC-001`, ...
    pub id: &'static str,
    /// A one-line reason.
    pub reason: &'static str,
    /// The NCSC cloud security principle it serves (`2. Asset protection and resilience`).
    pub principle: &'static str,
    /// How to fix a violation.
    pub fix: &'static str,
}

/// The 14 NCSC cloud security principles the rules cite, by number and name.
pub(crate) mod ncsc {
    pub const DATA_IN_TRANSIT: &str = "1. Data in transit protection";
    pub const ASSET_PROTECTION: &str = "2. Asset protection and resilience";
    pub const GOVERNANCE: &str = "4. Governance framework";
    pub const USER_MANAGEMENT: &str = "9. Secure user management";
    pub const EXTERNAL_INTERFACE: &str = "11. External interface protection";
    pub const AUDIT: &str = "13. Audit information and alerting for customers";
}

/// One rule broken by one resource.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: &'static Rule,
    pub resource_id: String,
    pub resource_type: String,
    pub deployment: String,
    /// What exactly is wrong, naming the property path and its actual value
    /// (`properties.minimumTlsVersion is "TLS1_0"; expected TLS1_2 or TLS1_3`).
    pub detail: String,
    /// The waiver that excuses it, if any.
    pub waiver: Option<Waiver>,
}

impl Finding {
    /// A finding of `rule` on `resource`.
    pub(crate) fn new(rule: &'static Rule, resource: &Resource, detail: impl Into<String>) -> Self {
        Finding {
            rule,
            resource_id: resource.id.clone(),
            resource_type: resource.resource_type.clone(),
            deployment: resource.deployment.clone(),
            detail: detail.into(),
            waiver: None,
        }
    }
}

/// Something about the check itself a blueprint author should act on; never a violation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Warning {
    /// A waiver that matched no finding: the resource was renamed, fixed or removed, and the waiver should go.
    StaleWaiver { waiver: Waiver },
    /// A waiver naming a rule id trustprint does not have.
    UnknownRule { waiver: Waiver },
    /// A waiver whose resource pattern is not a valid glob; it waives nothing.
    InvalidWaiverPattern { waiver: Waiver, message: String },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::StaleWaiver { waiver } => write!(
                f,
                "stale waiver: {} for {} matches no finding (justification: {})",
                waiver.rule, waiver.resource, waiver.justification
            ),
            Warning::UnknownRule { waiver } => write!(
                f,
                "waiver for unknown rule {} (resource {}): no such rule",
                waiver.rule, waiver.resource
            ),
            Warning::InvalidWaiverPattern { waiver, message } => write!(
                f,
                "waiver {} has an invalid resource pattern {:?}: {message}",
                waiver.rule, waiver.resource
            ),
        }
    }
}

/// Every finding, violations first, then the waived ones.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// How many resources were checked.
    pub resources_checked: usize,
    /// Stale or broken waivers.
    pub warnings: Vec<Warning>,
}

impl Report {
    /// Findings not excused by a waiver.
    pub fn violations(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.waiver.is_none())
    }

    /// Findings excused by a waiver.
    pub fn waived(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.waiver.is_some())
    }

    /// True when no finding counts as a violation.
    pub fn passed(&self) -> bool {
        self.violations().next().is_none()
    }
}

/// Every rule, in the order they are run.
pub fn rules() -> &'static [Rule] {
    static RULES: [Rule; 22] = [
        location::LOC_001,
        location::LOC_002,
        tags::TAG_001,
        storage::STG_001,
        storage::STG_002,
        storage::STG_003,
        storage::STG_004,
        keyvault::KV_001,
        keyvault::KV_002,
        keyvault::KV_003,
        keyvault::KV_004,
        sql::SQL_001,
        sql::SQL_002,
        sql::SQL_003,
        sql::SQL_004,
        sql::SQL_005,
        sql::SQL_006,
        network::NET_001,
        network::NET_002,
        backup::BAK_001,
        diagnostics::DIAG_001,
        catalog::ARM_001,
    ];
    &RULES
}

/// Run every guardrail over the resources.
pub fn check(resources: &[Resource], settings: &Settings) -> Report {
    let estate = Estate::new(resources);
    let mut findings = Vec::new();
    location::check(&estate, settings, &mut findings);
    tags::check(&estate, &mut findings);
    storage::check(&estate, &mut findings);
    keyvault::check(&estate, &mut findings);
    sql::check(&estate, &mut findings);
    network::check(&estate, &mut findings);
    backup::check(&estate, &mut findings);
    diagnostics::check(&estate, settings, &mut findings);
    catalog::check(&estate, &mut findings);

    let warnings = apply_waivers(&mut findings, &settings.waivers);
    // Stable sort keeps rule order within each group, so output is deterministic for the same input.
    findings.sort_by_key(|f| f.waiver.is_some());
    Report {
        findings,
        resources_checked: estate.len(),
        warnings,
    }
}

/// What stops the guardrails from checking a rendered trust.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rendered ARM template could not be evaluated (the blueprint's template is wrong).
    #[error("deployment '{deployment}': {source}")]
    Expand {
        deployment: String,
        #[source]
        source: crate::armexpr::Error,
    },
}

impl Error {
    /// The exit code this error ends the process with: invalid input.
    pub fn exit_code(&self) -> crate::types::ExitCode {
        crate::types::ExitCode::InvalidInput
    }
}

/// Expand every deployment of a rendered trust (ARM expressions, conditions, copy loops) and check all its
/// resources together. A template that cannot be evaluated is [`Error::Expand`] (invalid input: the
/// blueprint's template is wrong), naming the deployment.
pub fn check_rendered(
    rendered: &Rendered,
    settings: &Settings,
    ctx: &crate::armexpr::StaticContext,
) -> Result<Report, Error> {
    Ok(check(&expand_rendered(rendered, ctx)?, settings))
}

/// The concrete resources of a rendered trust: every deployment expanded (ARM expressions, conditions, copy
/// loops), in order. The same resources the guardrails check and the cost estimate prices. A template that
/// cannot be evaluated is [`Error::Expand`], naming the deployment.
pub fn expand_rendered(
    rendered: &Rendered,
    ctx: &crate::armexpr::StaticContext,
) -> Result<Vec<crate::model::Resource>, Error> {
    // Deployments expand independently, over the machine's cores (a template's resource count standing for
    // its cost); the first error in deployment order is the one reported, as one by one.
    let resources_of = |d: &crate::model::RenderedDeployment| match d.template.get("resources") {
        Some(serde_json::Value::Array(r)) => r.len(),
        Some(serde_json::Value::Object(r)) => r.len(),
        _ => 0,
    };
    let expanded = crate::par::map(&rendered.deployments, resources_of, |deployment| {
        crate::armexpr::expand(deployment, ctx).map_err(|source| Error::Expand {
            deployment: deployment.name.clone(),
            source,
        })
    });
    let mut resources = Vec::new();
    for e in expanded {
        resources.extend(e?);
    }
    Ok(resources)
}

/// Mark findings excused by a waiver and report waivers that excuse nothing.
fn apply_waivers(findings: &mut [Finding], waivers: &[Waiver]) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for waiver in waivers {
        if !rules()
            .iter()
            .any(|r| r.id.eq_ignore_ascii_case(&waiver.rule))
        {
            warnings.push(Warning::UnknownRule {
                waiver: waiver.clone(),
            });
            continue;
        }
        let matcher = match resource_glob(&waiver.resource) {
            Ok(m) => m,
            Err(e) => {
                warnings.push(Warning::InvalidWaiverPattern {
                    waiver: waiver.clone(),
                    message: e.kind().to_string(),
                });
                continue;
            }
        };
        let mut used = false;
        for finding in findings.iter_mut() {
            if finding.rule.id.eq_ignore_ascii_case(&waiver.rule)
                && matcher.is_match(&finding.resource_id)
            {
                used = true;
                // The first waiver listed wins, so a finding shows one justification.
                if finding.waiver.is_none() {
                    finding.waiver = Some(waiver.clone());
                }
            }
        }
        if !used && !waiver.justification.starts_with(ADVICE) {
            warnings.push(Warning::StaleWaiver {
                waiver: waiver.clone(),
            });
        }
    }
    warnings
}

/// A waiver's resource pattern: `*` within one id segment, `**` across segments; ARM ids are
/// case-insensitive, so the match is too.
fn resource_glob(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(GlobBuilder::new(pattern)
        .literal_separator(true)
        .case_insensitive(true)
        .build()?
        .compile_matcher())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn rule_ids_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for rule in rules() {
            assert!(seen.insert(rule.id), "duplicate rule id {}", rule.id);
            assert!(rule.id.starts_with("TP-"), "{}", rule.id);
            assert!(
                !rule.reason.is_empty() && !rule.fix.is_empty(),
                "{}",
                rule.id
            );
            let number: u8 = rule
                .principle
                .split('.')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            assert!(
                (1..=14).contains(&number),
                "{}: {}",
                rule.id,
                rule.principle
            );
        }
    }

    #[test]
    fn resource_glob_star_stays_within_a_segment() {
        let m = resource_glob(
            "/subscriptions/*/resourceGroups/rg-epr/providers/Microsoft.Compute/virtualMachines/*",
        )
        .unwrap();
        assert!(m.is_match("/subscriptions/s1/resourcegroups/RG-EPR/providers/Microsoft.Compute/virtualMachines/vm1"));
        assert!(!m.is_match("/subscriptions/s1/resourceGroups/rg-epr/providers/Microsoft.Compute/virtualMachines/vm1/extensions/x"));
        let deep = resource_glob("/subscriptions/*/resourceGroups/rg-epr/**").unwrap();
        assert!(deep.is_match("/subscriptions/s1/resourceGroups/rg-epr/providers/Microsoft.Compute/virtualMachines/vm1/extensions/x"));
    }
}
