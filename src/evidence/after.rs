//! Azure Policy after deployment: the compliance states the target (the local cloud or Azure) recorded for a
//! trust's subscription, read through Microsoft.PolicyInsights ([`crate::arm::policyinsights`]), per shipped
//! initiative and group, beside the before-deployment evaluation of `check --policy`.
//!
//! Contract:
//! - [`Reader`] reaches the target as deploy commands do ([`crate::deploy::target`]: `--target`,
//!   `--cloud-url`, the trust's own identity from fleet.yaml); the embedded local cloud is started once for
//!   all the trusts read. [`Reader::read`] returns the subscription's states of both shipped initiatives
//!   ([`TargetStates`]), after an on-demand evaluation scan when asked (`--trigger-evaluation`).
//! - [`after_deployment`] turns them into one initiative's [`AfterDeployment`]: per group the same counts and
//!   state as before deployment (the engine's [`crate::policy::Report`] built from the states), or, when the
//!   target holds no state of that initiative, `not-evaluated` with what to do about it.

use crate::arm::policyinsights::{PolicyState, QueryOptions};
use crate::error::Error;
use crate::policy::report::GroupResult;
use crate::policy::{Initiative, Library, PolicyResult, PolicyState as Verdict, ResourceOutcome};
use serde::Serialize;

/// What the target holds for one trust's subscription.
#[derive(Debug, Clone)]
pub struct TargetStates {
    /// `local cloud at http://127.0.0.1:PORT` or `Azure (https://management.azure.com)`.
    pub target: String,
    pub subscription_id: String,
    /// Whether an evaluation scan was triggered (and finished) before the states were read.
    pub triggered: bool,
    /// The latest states of the shipped initiatives' assignments.
    pub states: Vec<PolicyState>,
}

/// Whether the target has evaluated the initiative in the trust's subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Evaluated,
    NotEvaluated,
}

/// One initiative after deployment, as the target's policy states say.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AfterDeployment {
    pub target: String,
    pub subscription_id: String,
    pub status: Status,
    /// Why there are no states, and what to do (`not-evaluated` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The newest state's timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluated_at: Option<String>,
    /// The assignments the states come from.
    pub assignments: Vec<String>,
    /// Computed from the states as Azure's compliance view does (each resource once, at its worst state).
    pub compliance_percent: Option<f64>,
    /// The initiative's groups, each with its state from the target's states (`not-evaluable` is Azure's
    /// `Unknown`).
    pub groups: Vec<GroupResult>,
}

/// A compliance state as the engine's resource state.
fn verdict(state: &str) -> crate::policy::State {
    use crate::policy::State;
    match state.to_ascii_lowercase().as_str() {
        "noncompliant" => State::NonCompliant,
        "compliant" | "protected" => State::Compliant,
        "exempt" => State::Exempt,
        _ => State::NotEvaluable,
    }
}

/// One initiative's groups from the target's states. The states of other initiatives are ignored; the
/// initiative's references are matched by `policyDefinitionReferenceId`.
pub fn after_deployment(
    library: &Library,
    initiative: &Initiative,
    from: &TargetStates,
) -> AfterDeployment {
    let mine: Vec<&PolicyState> = from
        .states
        .iter()
        .filter(|s| {
            s.policy_set_definition_name
                .eq_ignore_ascii_case(&initiative.name)
        })
        .collect();
    let mut assignments: Vec<String> = mine
        .iter()
        .map(|s| s.policy_assignment_id.clone())
        .collect();
    assignments.sort_by_key(|a| a.to_ascii_lowercase());
    assignments.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    if mine.is_empty() {
        let message = if from.triggered {
            format!(
                "{} holds no compliance state of this initiative for subscription {} even after an \
                 evaluation scan: the initiative is not assigned at the subscription or above it",
                from.target, from.subscription_id
            )
        } else {
            format!(
                "{} holds no compliance state of this initiative for subscription {}: it is not assigned, \
                 or not evaluated yet (Azure evaluates about 30 minutes after an assignment or deployment); \
                 run again with --trigger-evaluation to start an evaluation scan first",
                from.target, from.subscription_id
            )
        };
        return AfterDeployment {
            target: from.target.clone(),
            subscription_id: from.subscription_id.clone(),
            status: Status::NotEvaluated,
            message: Some(message),
            evaluated_at: None,
            assignments,
            compliance_percent: None,
            groups: Vec::new(),
        };
    }
    let policies: Vec<PolicyResult> = initiative
        .references
        .iter()
        .map(|r| {
            let of: Vec<&&PolicyState> = mine
                .iter()
                .filter(|s| {
                    s.policy_definition_reference_id
                        .eq_ignore_ascii_case(&r.reference_id)
                })
                .collect();
            let resources: Vec<ResourceOutcome> = of
                .iter()
                .map(|s| ResourceOutcome {
                    resource_id: s.resource_id.clone(),
                    resource_type: s.resource_type.clone(),
                    state: verdict(s.state()),
                    reasons: Vec::new(),
                    detail: None,
                })
                .collect();
            let definition = library.definition(&r.definition);
            PolicyResult {
                reference_id: r.reference_id.clone(),
                definition: r.definition.clone(),
                display_name: definition
                    .map(|d| d.display_name.clone())
                    .unwrap_or_else(|| r.definition.clone()),
                effect: of
                    .first()
                    .and_then(|s| {
                        crate::policy::Effect::parse(&s.policy_definition_action, &r.definition)
                            .ok()
                    })
                    .unwrap_or(crate::policy::Effect::Audit),
                groups: r.groups.clone(),
                state: Verdict::of(&resources),
                reason: None,
                role_definition_ids: Vec::new(),
                resources,
                not_applicable: 0,
            }
        })
        .collect();
    let scope = format!("/subscriptions/{}", from.subscription_id);
    let report =
        crate::policy::Report::new(initiative, &crate::policy::Assignment::at(scope), policies);
    AfterDeployment {
        target: from.target.clone(),
        subscription_id: from.subscription_id.clone(),
        status: Status::Evaluated,
        message: None,
        evaluated_at: mine.iter().map(|s| s.timestamp.clone()).max(),
        assignments,
        compliance_percent: report.summary.compliance_percent,
        groups: report.groups,
    }
}

/// Reads the targets' policy states for one trust after another: one async runtime, one ARM client per
/// identity, and (for the embedded local cloud) one server for all of them.
pub struct Reader {
    // Fields drop in order: the server and the clients before the runtime they run on.
    _server: Option<crate::cloud::RunningServer>,
    clients: crate::deploy::Clients,
    options: crate::deploy::TargetOptions,
    runtime: tokio::runtime::Runtime,
}

impl Reader {
    /// A reader of the target `options` name (the embedded local cloud is started here, on its state folder).
    pub fn new(mut options: crate::deploy::TargetOptions) -> Result<Reader, Error> {
        let runtime = crate::deploy::runtime()?;
        if options.cloud_url.is_some() && options.kind.is_none() {
            options.kind = Some(crate::deploy::TargetKind::Local);
        }
        let mut server = None;
        if options.kind == Some(crate::deploy::TargetKind::Local) && options.cloud_url.is_none() {
            let dir = options.state_dir.clone().unwrap_or_else(|| {
                std::path::PathBuf::from(crate::deploy::target::LOCAL_STATE_DIR)
            });
            let s = runtime
                .block_on(crate::cloud::Server::start(crate::cloud::Config {
                    state_dir: Some(dir),
                    ..crate::cloud::Config::default()
                }))
                .map_err(crate::deploy::DeployError::from)?;
            options.cloud_url = Some(s.url().to_owned());
            server = Some(s);
        }
        Ok(Reader {
            runtime,
            options,
            clients: crate::deploy::Clients::default(),
            _server: server,
        })
    }

    /// The states of both shipped initiatives in the trust's subscription, after an evaluation scan when
    /// `trigger`. `trust` is the trust's own target from fleet.yaml, when it has one.
    pub fn read(
        &self,
        values: &crate::values::Values,
        ods: &str,
        trust: Option<crate::deploy::TrustTarget>,
        trigger: bool,
    ) -> Result<TargetStates, Error> {
        let mut options = self.options.clone();
        options.trust = trust;
        self.runtime.block_on(async {
            let conn =
                crate::deploy::target::connect_with(&options, values, ods, &self.clients).await?;
            let sub = conn.target.subscription_id.clone();
            let arm = |what: &str| crate::deploy::DeployError::arm(format!("{what} {sub}"));
            if trigger {
                conn.client
                    .trigger_policy_evaluation(&sub, None)
                    .await
                    .map_err(arm("evaluating Azure Policy in subscription"))?;
            }
            let filter = crate::policy::data::INITIATIVES
                .iter()
                .filter_map(|(short, _)| Library::builtin().initiative(short))
                .map(|i| format!("policySetDefinitionName eq '{}'", i.name))
                .collect::<Vec<_>>()
                .join(" or ");
            let states = conn
                .client
                .policy_states(
                    &format!("/subscriptions/{sub}"),
                    &QueryOptions {
                        filter: Some(filter),
                        ..QueryOptions::default()
                    },
                )
                .await
                .map_err(arm("reading the policy states of subscription"))?;
            let target = match conn.target.kind {
                crate::deploy::TargetKind::Local => {
                    format!(
                        "local cloud at {}",
                        conn.client.endpoint().as_str().trim_end_matches('/')
                    )
                }
                crate::deploy::TargetKind::Azure => {
                    format!(
                        "Azure ({})",
                        conn.client.endpoint().as_str().trim_end_matches('/')
                    )
                }
            };
            Ok::<_, Error>(TargetStates {
                target,
                subscription_id: sub,
                triggered: trigger,
                states,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(reference: &str, resource: &str, compliance: &str) -> PolicyState {
        PolicyState {
            timestamp: "2026-12-05T02:00:00Z".into(),
            resource_id: format!("/subscriptions/s1/resourceGroups/rg/providers/x/y/{resource}"),
            policy_assignment_id:
                "/subscriptions/s1/providers/Microsoft.Authorization/policyAssignments/pa".into(),
            policy_set_definition_name: "3937f550-eedd-4639-9c5e-294358be442e".into(),
            policy_definition_reference_id: reference.into(),
            compliance_state: compliance.into(),
            ..PolicyState::default()
        }
    }

    fn uk_nhs() -> Initiative {
        Library::builtin().initiative("uk-nhs").unwrap()
    }

    #[test]
    fn groups_take_the_worst_state_of_their_policies_from_the_targets_states() {
        let i = uk_nhs();
        let secure = i
            .references
            .iter()
            .find(|r| r.definition == "404c3081-a854-4457-ae30-26a93ef643f9")
            .unwrap();
        let group = secure.groups[0].clone();
        let from = TargetStates {
            target: "local cloud at http://x".into(),
            subscription_id: "s1".into(),
            triggered: false,
            states: vec![
                state(&secure.reference_id, "sta", "Compliant"),
                state(&secure.reference_id, "stb", "NonCompliant"),
            ],
        };
        let after = after_deployment(Library::builtin(), &i, &from);
        assert_eq!(after.status, Status::Evaluated);
        assert_eq!(after.compliance_percent, Some(50.0));
        let g = after.groups.iter().find(|g| g.name == group).unwrap();
        assert_eq!(
            (g.state, g.non_compliant, g.compliant),
            (Verdict::NonCompliant, 1, 0)
        );
        // Every group of the initiative is listed; one without states is not applicable.
        assert_eq!(after.groups.len(), i.groups.len());
        assert!(after
            .groups
            .iter()
            .any(|g| g.state == Verdict::NotApplicable));
        assert_eq!(after.evaluated_at.as_deref(), Some("2026-12-05T02:00:00Z"));
    }

    #[test]
    fn no_state_of_the_initiative_is_not_evaluated_with_what_to_do() {
        let mut other = state("x", "sta", "NonCompliant");
        other.policy_set_definition_name = "another-initiative".into();
        let from = TargetStates {
            target: "Azure (https://management.azure.com)".into(),
            subscription_id: "s1".into(),
            triggered: false,
            states: vec![other],
        };
        let after = after_deployment(Library::builtin(), &uk_nhs(), &from);
        assert_eq!(after.status, Status::NotEvaluated);
        assert!(after.groups.is_empty());
        assert!(
            after
                .message
                .as_deref()
                .unwrap()
                .contains("--trigger-evaluation"),
            "{:?}",
            after.message
        );
    }
}
