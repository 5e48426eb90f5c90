//! The engine: an assignment of an initiative over a trust's resources, policy by policy and resource by
//! resource, into a [`Report`].

use super::condition::{get_ci, prepare, Evaluation, Reason, Subject, Undecidable};
use super::effect::{Effect, Operation};
use super::model::{Assignment, Definition, Enforcement, Initiative, Reference};
use super::report::{PolicyResult, PolicyState, Report, ResourceOutcome, State};
use super::{Error, Library};
use serde_json::{json, Map, Value};

/// Related resource types Azure creates itself after deployment: a policy that looks for one can only be
/// judged by Azure, once deployed. The reason is shown to the user.
const AFTER_DEPLOYMENT: [(&str, &str); 3] = [
    (
        "Microsoft.Security/assessments",
        "a Microsoft Defender for Cloud assessment, which Defender produces by scanning the deployed resource",
    ),
    (
        "Microsoft.GuestConfiguration/guestConfigurationAssignments",
        "a guest configuration audit inside the machine's operating system, reported by its agent once it runs",
    ),
    (
        "Microsoft.Security/complianceResults",
        "a Microsoft Defender for Cloud compliance result, produced after deployment",
    ),
];

/// Data-plane modes: Azure evaluates them against a service's contents (keys, secrets, Kubernetes objects).
const DATA_PLANE_TYPES: [(&str, &[&str]); 3] = [
    ("Microsoft.KeyVault.Data", &["Microsoft.KeyVault/vaults"]),
    (
        "Microsoft.Kubernetes.Data",
        &[
            "Microsoft.ContainerService/managedClusters",
            "Microsoft.Kubernetes/connectedClusters",
        ],
    ),
    (
        "Microsoft.Network.Data",
        &["Microsoft.Network/networkManagers"],
    ),
];

/// Resource types whose instances live on another resource (extension resources): an existence condition
/// of one of these types looks on the evaluated resource itself.
const EXTENSION_NAMESPACES: [&str; 4] = [
    "Microsoft.Insights/diagnosticSettings",
    "Microsoft.Security/",
    "Microsoft.Authorization/",
    "Microsoft.GuestConfiguration/",
];

/// One policy of an initiative, ready to evaluate: parameters resolved, effect known, parameter-only
/// expressions evaluated.
pub struct Prepared<'l> {
    pub reference: Reference,
    pub definition: &'l Definition,
    pub params: Map<String, Value>,
    pub effect: Effect,
    /// `policyRule.if`, prepared.
    pub condition: Value,
    /// `policyRule.then.details`, prepared.
    pub details: Value,
    /// Why the whole policy cannot be judged before deployment, if so.
    pub undecidable: Option<String>,
}

/// Resolve the initiative's parameters (assignment values over defaults), then each reference's parameters,
/// then each definition's.
pub fn prepare_initiative<'l>(
    library: &'l Library,
    initiative: &Initiative,
    assignment: &Assignment,
) -> Result<Vec<Prepared<'l>>, Error> {
    let mut set_params = Map::new();
    for (name, decl) in &initiative.parameters {
        let value = get_ci(&assignment.parameters, name)
            .map(|v| v.get("value").cloned().unwrap_or_else(|| v.clone()))
            .or_else(|| decl.get("defaultValue").cloned());
        if let Some(v) = value {
            set_params.insert(name.clone(), v);
        }
    }
    let mut out = Vec::with_capacity(initiative.references.len());
    for reference in &initiative.references {
        let definition =
            library
                .definition(&reference.definition)
                .ok_or_else(|| Error::UnknownDefinition {
                    initiative: initiative.name.clone(),
                    reference: reference.reference_id.clone(),
                    definition: reference.definition.clone(),
                })?;
        let mut params = Map::new();
        for (name, decl) in &definition.parameters {
            let given = get_ci(&reference.parameters, name)
                .map(|v| v.get("value").cloned().unwrap_or_else(|| v.clone()));
            let value = match given {
                Some(v) => prepare(&v, &set_params).map_err(|e| Error::Parameter {
                    initiative: initiative.name.clone(),
                    reference: reference.reference_id.clone(),
                    parameter: name.clone(),
                    message: e.to_string(),
                })?,
                None => match decl.get("defaultValue") {
                    Some(d) => d.clone(),
                    None => {
                        return Err(Error::Parameter {
                            initiative: initiative.name.clone(),
                            reference: reference.reference_id.clone(),
                            parameter: name.clone(),
                            message: "has no value and no default".into(),
                        })
                    }
                },
            };
            params.insert(name.clone(), unescape(value));
        }
        out.push(prepare_definition(definition, reference.clone(), params)?);
    }
    Ok(out)
}

fn unescape(v: Value) -> Value {
    match v {
        Value::String(s) if s.starts_with("[[") => Value::String(s[1..].to_string()),
        other => other,
    }
}

/// A definition with its parameter values, ready to evaluate.
pub fn prepare_definition(
    definition: &Definition,
    reference: Reference,
    params: Map<String, Value>,
) -> Result<Prepared<'_>, Error> {
    let bad = |member: &str, e: Undecidable| Error::Definition {
        definition: definition.name.clone(),
        member: member.into(),
        expected: e.to_string(),
    };
    let then = &definition.rule["then"];
    let effect_text = prepare(&then["effect"], &params)
        .map_err(|e| bad("properties.policyRule.then.effect", e))?;
    let effect = Effect::parse(
        unescape(effect_text).as_str().unwrap_or_default(),
        &definition.name,
    )?;
    let condition =
        prepare(&definition.rule["if"], &params).map_err(|e| bad("properties.policyRule.if", e))?;
    // A deployIfNotExists deployment is an ARM template with its own parameters: it is shown, not evaluated.
    let mut raw_details = then.get("details").cloned().unwrap_or(Value::Null);
    let deployment = raw_details
        .as_object_mut()
        .and_then(|d| d.remove("deployment"));
    let mut details =
        prepare(&raw_details, &params).map_err(|e| bad("properties.policyRule.then.details", e))?;
    if let (Some(d), Some(deployment)) = (details.as_object_mut(), deployment) {
        d.insert("deployment".into(), deployment);
    }
    let mut undecidable = None;
    if let Some((_, why)) = DATA_PLANE_TYPES.iter().find(|(m, _)| m.eq_ignore_ascii_case(&definition.mode)).map(|m| {
        (m, format!(
            "a data-plane policy (mode {}): Azure evaluates it against the service's contents after deployment",
            definition.mode
        ))
    }) {
        undecidable = Some(why);
    }
    if effect.if_not_exists() {
        let related = details
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some((_, why)) = AFTER_DEPLOYMENT
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(related))
        {
            undecidable = Some(format!("it needs {why}"));
        }
    }
    Ok(Prepared {
        reference,
        definition,
        params,
        effect,
        condition,
        details,
        undecidable,
    })
}

/// The subjects of a trust: its resources and the subscriptions they are in (subscription-scope policies
/// evaluate the subscription itself).
pub fn subjects(resources: &[crate::model::Resource]) -> Vec<Subject> {
    let mut out: Vec<Subject> = resources.iter().map(Subject::from_resource).collect();
    let mut subs: Vec<String> = out
        .iter()
        .filter_map(|s| s.subscription_id().map(str::to_string))
        .collect();
    subs.sort();
    subs.dedup();
    for s in subs {
        if !out
            .iter()
            .any(|r| r.id.eq_ignore_ascii_case(&format!("/subscriptions/{s}")))
        {
            out.push(Subject::subscription(&s));
        }
    }
    out
}

/// An initiative with its parameters resolved, ready to evaluate many trusts (a fleet assigns the same
/// initiative with the same parameters to each trust's subscription).
pub struct Compiled<'l> {
    pub initiative: Initiative,
    pub prepared: Vec<Prepared<'l>>,
}

impl<'l> Compiled<'l> {
    /// Resolve `initiative`'s parameters with `assignment`'s values (its scope does not matter here).
    pub fn new(
        library: &'l Library,
        initiative: &Initiative,
        assignment: &Assignment,
    ) -> Result<Compiled<'l>, Error> {
        Ok(Compiled {
            initiative: initiative.clone(),
            prepared: prepare_initiative(library, initiative, assignment)?,
        })
    }

    /// Evaluate over a trust's subjects ([`subjects`]) under `assignment` (scope, notScopes, exemptions,
    /// enforcement; its parameter values are the ones compiled in).
    pub fn evaluate(
        &self,
        library: &Library,
        assignment: &Assignment,
        subjects: &[Subject],
    ) -> Report {
        let policies = self
            .prepared
            .iter()
            .map(|p| evaluate_policy(library, p, assignment, subjects))
            .collect();
        Report::new(&self.initiative, assignment, policies)
    }
}

/// Evaluate an assignment of an initiative over a trust's resources.
pub fn evaluate(
    library: &Library,
    initiative: &Initiative,
    assignment: &Assignment,
    resources: &[crate::model::Resource],
) -> Result<Report, Error> {
    let prepared = prepare_initiative(library, initiative, assignment)?;
    let subjects = subjects(resources);
    let policies = prepared
        .iter()
        .map(|p| evaluate_policy(library, p, assignment, &subjects))
        .collect();
    Ok(Report::new(initiative, assignment, policies))
}

/// One policy over every subject.
pub fn evaluate_policy(
    library: &Library,
    p: &Prepared<'_>,
    assignment: &Assignment,
    subjects: &[Subject],
) -> PolicyResult {
    evaluate_policy_over(library, p, assignment, subjects, subjects)
}

/// One policy over the subjects `judged`, an `ifNotExists` effect looking for related resources among `all`
/// (the local cloud judges again only the resources that changed).
pub fn evaluate_policy_over(
    library: &Library,
    p: &Prepared<'_>,
    assignment: &Assignment,
    judged: &[Subject],
    all: &[Subject],
) -> PolicyResult {
    let mut result = PolicyResult {
        reference_id: p.reference.reference_id.clone(),
        definition: p.definition.name.clone(),
        display_name: p.definition.display_name.clone(),
        effect: p.effect,
        groups: p.reference.groups.clone(),
        state: PolicyState::NotApplicable,
        reason: None,
        role_definition_ids: p
            .details
            .get("roleDefinitionIds")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        resources: Vec::new(),
        not_applicable: 0,
    };
    if p.effect == Effect::Disabled {
        result.state = PolicyState::Disabled;
        result.reason = Some("the effect is disabled".into());
        return result;
    }
    let mode = p.definition.mode.to_ascii_lowercase();
    let data_plane = DATA_PLANE_TYPES
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(&mode));
    let policy_fn = json!({
        "assignmentId": format!("{}/providers/Microsoft.Authorization/policyAssignments/{}", assignment.scope, assignment.name),
        "definitionId": p.definition.id(),
        "setDefinitionId": "",
        "definitionReferenceId": p.reference.reference_id,
    });
    for subject in judged {
        if !assignment.covers(&subject.id) {
            continue;
        }
        if let Some((_, types)) = data_plane {
            if types
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&subject.resource_type))
            {
                result.resources.push(ResourceOutcome::new(
                    subject,
                    State::NotEvaluable,
                    Vec::new(),
                    p.undecidable.clone(),
                ));
            } else {
                result.not_applicable += 1;
            }
            continue;
        }
        if mode == "indexed" && !indexed(subject) {
            result.not_applicable += 1;
            continue;
        }
        let mut eval = Evaluation::new(&library.aliases, &p.params, subject);
        eval.policy = std::borrow::Cow::Borrowed(&policy_fn);
        let outcome = match eval.condition(&p.condition, subject) {
            Err(u) => Some(ResourceOutcome::new(
                subject,
                State::NotEvaluable,
                Vec::new(),
                Some(u.to_string()),
            )),
            Ok(false) => {
                if !p.effect.if_not_exists()
                    && p.effect != Effect::Manual
                    && eval.applicable(&p.condition, subject)
                {
                    Some(ResourceOutcome::new(
                        subject,
                        State::Compliant,
                        Vec::new(),
                        None,
                    ))
                } else {
                    None
                }
            }
            Ok(true) => Some(matched(p, &eval, subject, all)),
        };
        match outcome {
            None => result.not_applicable += 1,
            Some(mut o) => {
                if let Some(x) = assignment.exemption(&p.reference.reference_id, &subject.id) {
                    o.state = State::Exempt;
                    o.detail = Some(format!("exempted by {} ({})", x.name, x.category));
                }
                result.resources.push(o);
            }
        }
    }
    result.state = PolicyState::of(&result.resources);
    if result.resources.is_empty() {
        result.reason = Some(match &p.undecidable {
            Some(why) => format!("no resource of the trust it applies to (when it does, {why})"),
            None => "no resource of the trust it applies to".into(),
        });
    } else if result.state == PolicyState::NotEvaluable {
        result.reason = p
            .undecidable
            .clone()
            .or_else(|| result.resources.iter().find_map(|r| r.detail.clone()));
    }
    if assignment.enforcement == Enforcement::DoNotEnforce && p.effect == Effect::Deny {
        result.reason.get_or_insert_with(|| {
            "enforcement mode DoNotEnforce: not denied, only reported".into()
        });
    }
    result
}

/// `Indexed` mode evaluates only resources that take tags and a location (not resource groups,
/// subscriptions, or child and extension resources without a location).
pub fn indexed(s: &Subject) -> bool {
    s.location.is_some()
        && !s
            .resource_type
            .eq_ignore_ascii_case("Microsoft.Resources/subscriptions")
        && !s
            .resource_type
            .eq_ignore_ascii_case("Microsoft.Resources/subscriptions/resourceGroups")
}

/// The outcome for a resource whose `if` is true.
fn matched(
    p: &Prepared<'_>,
    eval: &Evaluation<'_>,
    subject: &Subject,
    all: &[Subject],
) -> ResourceOutcome {
    match p.effect {
        Effect::AuditIfNotExists | Effect::DeployIfNotExists => {
            if let Some(why) = &p.undecidable {
                return ResourceOutcome::new(
                    subject,
                    State::NotEvaluable,
                    Vec::new(),
                    Some(why.clone()),
                );
            }
            existence(p, eval, subject, all)
        }
        Effect::Manual => {
            let default = p
                .details
                .get("defaultState")
                .and_then(Value::as_str)
                .unwrap_or("Unknown");
            let state = match default.to_ascii_lowercase().as_str() {
                "compliant" => State::Compliant,
                "noncompliant" => State::NonCompliant,
                _ => State::NotEvaluable,
            };
            ResourceOutcome::new(
                subject,
                state,
                Vec::new(),
                Some(format!("manual attestation (default state {default})")),
            )
        }
        Effect::DenyAction => {
            let actions = p
                .details
                .get("actionNames")
                .map(Value::to_string)
                .unwrap_or_default();
            ResourceOutcome::new(
                subject,
                State::Compliant,
                Vec::new(),
                Some(format!("protected: {actions} refused")),
            )
        }
        Effect::Modify | Effect::Append => {
            let reasons = eval.explain(&p.condition, subject, false);
            let ops = operations(p, eval);
            let detail = match ops {
                Ok(ops) if !ops.is_empty() => Some(format!(
                    "{} would {}",
                    p.effect,
                    ops.iter()
                        .map(|o| format!("{} {} {}", o.operation, o.field, o.value))
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
                Ok(_) => None,
                Err(e) => Some(e.to_string()),
            };
            ResourceOutcome::new(subject, State::NonCompliant, reasons, detail)
        }
        Effect::Deny | Effect::Audit | Effect::Disabled => {
            let reasons = eval.explain(&p.condition, subject, false);
            ResourceOutcome::new(subject, State::NonCompliant, reasons, None)
        }
    }
}

/// `modify`'s `details.operations`, or `append`'s `details` list, with values evaluated for the resource.
pub fn operations(p: &Prepared<'_>, eval: &Evaluation<'_>) -> Result<Vec<Operation>, Undecidable> {
    let list = if p.effect == Effect::Modify {
        p.details
            .get("operations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    } else {
        p.details.as_array().cloned().unwrap_or_default()
    };
    list.iter()
        .map(|o| {
            // Azure accepts a field count inside `value` only from the request; a value is evaluated here.
            Ok(Operation {
                operation: o
                    .get("operation")
                    .and_then(Value::as_str)
                    .unwrap_or("add")
                    .to_string(),
                field: eval
                    .value(o.get("field").unwrap_or(&Value::Null))?
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                value: o
                    .get("value")
                    .map(|v| eval.value(v))
                    .transpose()?
                    .unwrap_or(Value::Null),
            })
        })
        .collect()
}

/// `auditIfNotExists` / `deployIfNotExists`: is there a related resource matching the existence condition?
fn existence(
    p: &Prepared<'_>,
    eval: &Evaluation<'_>,
    subject: &Subject,
    all: &[Subject],
) -> ResourceOutcome {
    let d = &p.details;
    let related_type = d.get("type").and_then(Value::as_str).unwrap_or_default();
    let name = match d.get("name").map(|n| eval.value(n)) {
        Some(Ok(v)) => v.as_str().map(str::to_string),
        Some(Err(e)) => {
            return ResourceOutcome::new(
                subject,
                State::NotEvaluable,
                Vec::new(),
                Some(e.to_string()),
            )
        }
        None => None,
    };
    let rg = match d.get("resourceGroupName").map(|n| eval.value(n)) {
        Some(Ok(v)) => v.as_str().map(str::to_string),
        Some(Err(e)) => {
            return ResourceOutcome::new(
                subject,
                State::NotEvaluable,
                Vec::new(),
                Some(e.to_string()),
            )
        }
        None => None,
    };
    let scope_sub = d
        .get("existenceScope")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("subscription"));
    let lower_type = related_type.to_ascii_lowercase();
    let beneath = lower_type
        .starts_with(&format!("{}/", subject.resource_type.to_ascii_lowercase()))
        || EXTENSION_NAMESPACES
            .iter()
            .any(|n| lower_type.starts_with(&n.to_ascii_lowercase()));
    let prefix = format!("{}/", subject.id.to_ascii_lowercase());
    let candidates: Vec<&Subject> = all
        .iter()
        .filter(|r| r.resource_type.eq_ignore_ascii_case(related_type))
        .filter(|r| {
            name.as_deref().is_none_or(|n| {
                r.name.eq_ignore_ascii_case(n) || r.full_name.eq_ignore_ascii_case(n)
            })
        })
        .filter(|r| {
            if beneath && !scope_sub {
                r.id.to_ascii_lowercase().starts_with(&prefix)
            } else if scope_sub {
                r.subscription_id() == subject.subscription_id()
            } else {
                let want = rg.as_deref().or(subject.resource_group());
                r.subscription_id() == subject.subscription_id()
                    && r.resource_group().map(str::to_ascii_lowercase)
                        == want.map(str::to_ascii_lowercase)
            }
        })
        .collect();
    let condition = d.get("existenceCondition");
    let mut undecided = None;
    for c in &candidates {
        match condition.map_or(Ok(true), |cond| eval.condition(cond, c)) {
            Ok(true) => {
                return ResourceOutcome::new(
                    subject,
                    State::Compliant,
                    Vec::new(),
                    Some(format!("related {related_type}: {}", c.id)),
                )
            }
            Ok(false) => {}
            Err(u) => undecided = undecided.or(Some(u)),
        }
    }
    if let Some(u) = undecided {
        return ResourceOutcome::new(
            subject,
            State::NotEvaluable,
            Vec::new(),
            Some(u.to_string()),
        );
    }
    let mut reasons = Vec::new();
    if let (Some(cond), Some(first)) = (condition, candidates.first()) {
        reasons = eval.explain(cond, first, true);
        for r in &mut reasons {
            r.field = format!("{} of {}", r.field, first.id);
        }
    }
    let what = match &name {
        Some(n) => format!("{related_type} named {n}"),
        None => related_type.to_string(),
    };
    let detail = if candidates.is_empty() {
        format!("no related {what} found")
    } else {
        format!(
            "{} related {what}, none meets the existence condition",
            candidates.len()
        )
    };
    ResourceOutcome::new(subject, State::NonCompliant, reasons, Some(detail))
}

/// A matching policy's effect on a request: why it matched, and the operations it applies (modify, append).
pub type RequestEffect = (Vec<Reason>, Vec<Operation>);

/// What a `deny`/`modify`/`append` policy does to a request (for the local cloud): `Ok(None)` when the
/// policy does not match, the reasons when it denies, the operations when it changes the request.
pub fn on_request(
    library: &Library,
    p: &Prepared<'_>,
    subject: &Subject,
) -> Result<Option<RequestEffect>, Undecidable> {
    let eval = Evaluation::new(&library.aliases, &p.params, subject);
    if !eval.condition(&p.condition, subject)? {
        return Ok(None);
    }
    let reasons = eval.explain(&p.condition, subject, false);
    let ops = if matches!(p.effect, Effect::Modify | Effect::Append) {
        operations(p, &eval)?
    } else {
        Vec::new()
    };
    Ok(Some((reasons, ops)))
}
