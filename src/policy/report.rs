//! What an evaluation found: per policy and resource, per initiative group, and the compliance percentage
//! Azure's dashboard would show.

use super::condition::{Reason, Subject};
use super::effect::Effect;
use super::model::{Assignment, Enforcement, Group, Initiative};
use serde::Serialize;
use std::fmt::Write as _;

/// A resource's compliance state for one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    NonCompliant,
    Compliant,
    Exempt,
    /// Azure decides it only after deployment (or the rule needs data trustprint does not have); the detail
    /// says why.
    NotEvaluable,
}

impl State {
    /// Azure's weight when a resource has several states in one assignment (Resource Graph's documented
    /// query: non-compliant 300, compliant 200, exempt 50, anything else 0).
    fn weight(self) -> u32 {
        match self {
            State::NonCompliant => 300,
            State::Compliant => 200,
            State::Exempt => 50,
            State::NotEvaluable => 0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::NonCompliant => "non-compliant",
            State::Compliant => "compliant",
            State::Exempt => "exempt",
            State::NotEvaluable => "not evaluable before deployment",
        }
    }
}

/// One resource's outcome for one policy.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceOutcome {
    pub resource_id: String,
    pub resource_type: String,
    pub state: State,
    /// For non-compliant resources: the field, its value and what the policy expected.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ResourceOutcome {
    pub fn new(s: &Subject, state: State, reasons: Vec<Reason>, detail: Option<String>) -> Self {
        ResourceOutcome {
            resource_id: s.id.clone(),
            resource_type: s.resource_type.clone(),
            state,
            reasons,
            detail,
        }
    }
}

/// A policy's overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyState {
    NonCompliant,
    Compliant,
    Exempt,
    NotEvaluable,
    /// No resource of the trust is one the policy is about.
    NotApplicable,
    Disabled,
}

impl PolicyState {
    /// The worst state of its resources.
    pub fn of(outcomes: &[ResourceOutcome]) -> PolicyState {
        match outcomes.iter().map(|o| o.state).min() {
            None => PolicyState::NotApplicable,
            Some(State::NonCompliant) => PolicyState::NonCompliant,
            Some(State::Compliant) => PolicyState::Compliant,
            Some(State::Exempt) => PolicyState::Exempt,
            Some(State::NotEvaluable) => PolicyState::NotEvaluable,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyState::NonCompliant => "non-compliant",
            PolicyState::Compliant => "compliant",
            PolicyState::Exempt => "exempt",
            PolicyState::NotEvaluable => "not evaluable before deployment",
            PolicyState::NotApplicable => "not applicable",
            PolicyState::Disabled => "disabled",
        }
    }
}

/// One policy of the initiative.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    pub reference_id: String,
    pub definition: String,
    pub display_name: String,
    pub effect: Effect,
    pub groups: Vec<String>,
    pub state: PolicyState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The roles a deployIfNotExists/modify assignment's identity needs (`details.roleDefinitionIds`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub role_definition_ids: Vec<String>,
    /// The resources it applies to (compliant, non-compliant, exempt, not evaluable).
    pub resources: Vec<ResourceOutcome>,
    /// How many resources it does not apply to.
    pub not_applicable: usize,
}

impl PolicyResult {
    fn count(&self, state: State) -> usize {
        self.resources.iter().filter(|r| r.state == state).count()
    }
}

/// One initiative group (a control of the framework).
#[derive(Debug, Clone, Serialize)]
pub struct GroupResult {
    pub name: String,
    pub title: String,
    /// The group's state as the regulatory compliance dashboard shows a control: non-compliant when any of
    /// its policies is, compliant when every evaluated policy is, otherwise not evaluable / not applicable.
    pub state: PolicyState,
    pub policies: Vec<String>,
    pub non_compliant: usize,
    pub compliant: usize,
    pub not_evaluable: usize,
    pub not_applicable: usize,
}

/// Resource counts and the compliance percentage.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Resources with a compliance state (each counted once, at its worst state across the policies).
    pub resources: usize,
    pub compliant: usize,
    pub non_compliant: usize,
    pub exempt: usize,
    /// Resources only judged after deployment by every policy that applies to them.
    pub not_evaluable: usize,
    /// `(compliant + exempt) / (compliant + non-compliant + exempt)`, as Azure's compliance view computes
    /// it; `None` when no resource has a state.
    pub compliance_percent: Option<f64>,
    pub policies: usize,
    pub policies_non_compliant: usize,
    pub policies_compliant: usize,
    pub policies_not_evaluable: usize,
    pub policies_not_applicable: usize,
}

/// A resource a `deny` policy would refuse.
#[derive(Debug, Clone, Serialize)]
pub struct Denial {
    pub reference_id: String,
    pub display_name: String,
    pub resource_id: String,
    pub reasons: Vec<Reason>,
}

/// An initiative's evaluation over a trust.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub initiative: String,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub scope: String,
    pub enforcement: Enforcement,
    pub summary: Summary,
    pub groups: Vec<GroupResult>,
    pub policies: Vec<PolicyResult>,
    /// Enforced `deny` effects the trust would hit: the check fails on these.
    pub denials: Vec<Denial>,
    /// Aliases the rules needed that the alias data lacks.
    pub missing_aliases: Vec<String>,
}

impl Report {
    pub fn new(
        initiative: &Initiative,
        assignment: &Assignment,
        policies: Vec<PolicyResult>,
    ) -> Report {
        let groups = groups(&initiative.groups, &policies);
        let mut worst: std::collections::BTreeMap<String, State> = Default::default();
        for p in &policies {
            for r in &p.resources {
                let e = worst
                    .entry(r.resource_id.to_ascii_lowercase())
                    .or_insert(r.state);
                if r.state.weight() > e.weight() {
                    *e = r.state;
                }
            }
        }
        let n = |s: State| worst.values().filter(|v| **v == s).count();
        let (compliant, non_compliant, exempt) = (
            n(State::Compliant),
            n(State::NonCompliant),
            n(State::Exempt),
        );
        let judged = compliant + non_compliant + exempt;
        let ps = |s: PolicyState| policies.iter().filter(|p| p.state == s).count();
        let summary = Summary {
            resources: worst.len(),
            compliant,
            non_compliant,
            exempt,
            not_evaluable: n(State::NotEvaluable),
            compliance_percent: (judged > 0)
                .then(|| ((compliant + exempt) as f64 * 1000.0 / judged as f64).round() / 10.0),
            policies: policies.len(),
            policies_non_compliant: ps(PolicyState::NonCompliant),
            policies_compliant: ps(PolicyState::Compliant),
            policies_not_evaluable: ps(PolicyState::NotEvaluable),
            policies_not_applicable: ps(PolicyState::NotApplicable),
        };
        let denials = if assignment.enforcement == Enforcement::Default {
            policies
                .iter()
                .filter(|p| p.effect == Effect::Deny)
                .flat_map(|p| {
                    p.resources
                        .iter()
                        .filter(|r| r.state == State::NonCompliant)
                        .map(|r| Denial {
                            reference_id: p.reference_id.clone(),
                            display_name: p.display_name.clone(),
                            resource_id: r.resource_id.clone(),
                            reasons: r.reasons.clone(),
                        })
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut missing_aliases: Vec<String> = policies
            .iter()
            .flat_map(|p| p.resources.iter())
            .filter_map(|r| r.detail.as_deref())
            .filter_map(|d| d.strip_prefix("the alias "))
            .filter_map(|d| d.split_once(' ').map(|(a, _)| a.to_string()))
            .collect();
        missing_aliases.sort();
        missing_aliases.dedup();
        Report {
            initiative: initiative.name.clone(),
            display_name: initiative.display_name.clone(),
            version: initiative.version.clone(),
            scope: assignment.scope.clone(),
            enforcement: assignment.enforcement,
            summary,
            groups,
            policies,
            denials,
            missing_aliases,
        }
    }

    /// True when no enforced `deny` would refuse a resource.
    pub fn passed(&self) -> bool {
        self.denials.is_empty()
    }

    /// The report as text: the summary, each group with its policies, then each policy's resources.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let s = &self.summary;
        let _ = writeln!(
            out,
            "Azure Policy: {}{} ({})",
            self.display_name,
            self.version
                .as_deref()
                .map(|v| format!(" v{v}"))
                .unwrap_or_default(),
            self.initiative
        );
        let _ = writeln!(
            out,
            "  compliance {} ({} of {} resources with a state compliant, {} exempt; {} only evaluable after deployment)",
            s.compliance_percent.map_or("n/a".to_string(), |p| format!("{p:.1}%")),
            s.compliant,
            s.compliant + s.non_compliant + s.exempt,
            s.exempt,
            s.not_evaluable
        );
        let _ = writeln!(
            out,
            "  policies: {} non-compliant, {} compliant, {} not evaluable before deployment, {} not applicable (of {})",
            s.policies_non_compliant, s.policies_compliant, s.policies_not_evaluable, s.policies_not_applicable, s.policies
        );
        for g in &self.groups {
            let _ = writeln!(out, "\n{} {}: {}", g.name, g.title, g.state.as_str());
            for id in &g.policies {
                if let Some(p) = self.policies.iter().find(|p| &p.reference_id == id) {
                    let _ = writeln!(out, "  [{}] {}", p.state.as_str(), p.display_name);
                }
            }
        }
        let _ = writeln!(out, "\nPolicies");
        for p in &self.policies {
            let _ = writeln!(
                out,
                "\n{} ({}, {}): {}",
                p.display_name,
                p.effect,
                p.reference_id,
                p.state.as_str()
            );
            if let Some(r) = &p.reason {
                let _ = writeln!(out, "  {r}");
            }
            if !p.role_definition_ids.is_empty() {
                let _ = writeln!(
                    out,
                    "  remediation roles: {}",
                    p.role_definition_ids.join(", ")
                );
            }
            let compliant = p.count(State::Compliant);
            if compliant > 0 {
                let _ = writeln!(out, "  {compliant} compliant");
            }
            for r in p.resources.iter().filter(|r| r.state != State::Compliant) {
                let _ = writeln!(out, "  {}: {}", r.state.as_str(), r.resource_id);
                for reason in &r.reasons {
                    let _ = writeln!(out, "    {reason}");
                }
                if let Some(d) = &r.detail {
                    let _ = writeln!(out, "    {d}");
                }
            }
        }
        if !self.missing_aliases.is_empty() {
            let _ = writeln!(
                out,
                "\naliases missing from the alias data: {}",
                self.missing_aliases.join(", ")
            );
        }
        if !self.denials.is_empty() {
            let _ = writeln!(
                out,
                "\n{} resource(s) would be denied by Azure Policy:",
                self.denials.len()
            );
            for d in &self.denials {
                let _ = writeln!(out, "  {}: {}", d.display_name, d.resource_id);
                for r in &d.reasons {
                    let _ = writeln!(out, "    {r}");
                }
            }
        }
        out
    }
}

fn groups(groups: &[Group], policies: &[PolicyResult]) -> Vec<GroupResult> {
    groups
        .iter()
        .map(|g| {
            let members: Vec<&PolicyResult> = policies
                .iter()
                .filter(|p| p.groups.iter().any(|n| n.eq_ignore_ascii_case(&g.name)))
                .collect();
            let n = |s: PolicyState| members.iter().filter(|p| p.state == s).count();
            let state = if n(PolicyState::NonCompliant) > 0 {
                PolicyState::NonCompliant
            } else if n(PolicyState::Compliant) + n(PolicyState::Exempt) > 0 {
                PolicyState::Compliant
            } else if n(PolicyState::NotEvaluable) > 0 {
                PolicyState::NotEvaluable
            } else {
                PolicyState::NotApplicable
            };
            GroupResult {
                name: g.name.clone(),
                title: g.title.clone(),
                state,
                policies: members.iter().map(|p| p.reference_id.clone()).collect(),
                non_compliant: n(PolicyState::NonCompliant),
                compliant: n(PolicyState::Compliant) + n(PolicyState::Exempt),
                not_evaluable: n(PolicyState::NotEvaluable),
                not_applicable: n(PolicyState::NotApplicable) + n(PolicyState::Disabled),
            }
        })
        .collect()
}
