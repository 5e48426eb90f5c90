//! Stage 3, check: guardrails over the rendered resources.
//!
//! Contract: [`check`] takes the resources of a rendered trust (ARM expressions evaluated, see
//! [`crate::armexpr::expand`]) and the blueprint's guardrail settings, and returns every finding: violations,
//! and those waived by the manifest with their justification.

use crate::model::{Resource, Waiver};
use serde::Serialize;

/// What the guardrails are configured with (from the manifest).
#[derive(Debug, Clone)]
pub struct Settings {
    pub allowed_locations: Vec<String>,
    pub waivers: Vec<Waiver>,
    /// The trust's Log Analytics workspace is found among the resources; this names its type's resource id
    /// pattern when a blueprint wants it elsewhere. None: any `Microsoft.OperationalInsights/workspaces`.
    pub workspace_id: Option<String>,
}

/// A guardrail rule's description.
#[derive(Debug, Clone, Serialize)]
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

/// One rule broken by one resource.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: &'static Rule,
    pub resource_id: String,
    pub resource_type: String,
    pub deployment: String,
    /// What exactly is wrong (`properties.minimumTlsVersion is TLS1_0`).
    pub detail: String,
    /// The waiver that excuses it, if any.
    pub waiver: Option<Waiver>,
}

/// Every finding, violations first.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// How many resources were checked.
    pub resources_checked: usize,
}

impl Report {
    /// Findings not excused by a waiver.
    pub fn violations(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.waiver.is_none())
    }
}

/// Every rule, in the order they are run.
pub fn rules() -> &'static [Rule] {
    todo!("check stage")
}

/// Run every guardrail over the resources.
pub fn check(resources: &[Resource], settings: &Settings) -> Report {
    let _ = (resources, settings);
    todo!("check stage")
}
