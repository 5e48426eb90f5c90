//! Plan: one what-if per deployment (concurrently, listed in dependency order), and what the plan file records.
//!
//! Contract: [`plan`] changes nothing in the target. The [`Plan`] holds every resource's change (create,
//! modify with its property-level changes, delete, no change, ignore), a [`Summary`], and [`PlanInputs`]:
//! the hashes `apply --plan` compares before it applies ([`PlanInputs::compare`]).

use super::{
    deployment_name, request_parameters, request_with, scope_of, Connection, DeployError, TargetRef,
};
use crate::arm::{ChangeType, PropertyChange, PropertyChangeType, WhatIfChange};
use crate::model::{BlueprintRef, Rendered, Scope, TrustRef};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// The plan file format this trustprint writes and reads.
pub const PLAN_FORMAT: u32 = 1;

/// Resource types whose deletion loses data (compared case-insensitively, child types included).
pub const DATA_BEARING_TYPES: &[&str] = &[
    "Microsoft.Resources/resourceGroups",
    "Microsoft.KeyVault/vaults",
    "Microsoft.KeyVault/managedHSMs",
    "Microsoft.RecoveryServices/vaults",
    "Microsoft.DataProtection/backupVaults",
    "Microsoft.Storage/storageAccounts",
    "Microsoft.Sql/servers",
    "Microsoft.Sql/managedInstances",
    "Microsoft.Compute/disks",
];

/// What a plan was made from; `apply --plan` refuses if any of it differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanInputs {
    pub trust: TrustRef,
    pub blueprint: BlueprintRef,
    /// [`Rendered::hash`].
    pub render_hash: String,
    /// `sha256:` of the validated values (file, defaults and `--set` overrides).
    pub values_hash: String,
    pub target: TargetRef,
}

impl PlanInputs {
    /// The inputs of a trust about to be planned.
    pub fn of(loaded: &crate::load::Loaded, rendered: &Rendered, target: &TargetRef) -> Self {
        PlanInputs {
            trust: rendered.trust.clone(),
            blueprint: rendered.blueprint.clone(),
            render_hash: rendered.hash.clone(),
            values_hash: crate::hash::hash_bytes(&crate::hash::to_bytes(&loaded.values.tree)),
            target: target.clone(),
        }
    }

    /// The first difference between the planned inputs (`self`) and today's, as (what, planned, now).
    pub fn compare(&self, now: &PlanInputs) -> Option<(String, String, String)> {
        let diff = |what: &str, a: &str, b: &str| {
            (a != b).then(|| (what.to_owned(), a.to_owned(), b.to_owned()))
        };
        let commit = |b: &BlueprintRef| b.commit.clone().unwrap_or_else(|| "-".into());
        diff("the trust", &self.trust.ods_code, &now.trust.ods_code)
            .or_else(|| {
                diff(
                    "the blueprint",
                    &format!("{} {}", self.blueprint.name, self.blueprint.version),
                    &format!("{} {}", now.blueprint.name, now.blueprint.version),
                )
            })
            .or_else(|| {
                diff(
                    "the blueprint commit",
                    &commit(&self.blueprint),
                    &commit(&now.blueprint),
                )
            })
            .or_else(|| diff("the values hash", &self.values_hash, &now.values_hash))
            .or_else(|| diff("the rendered hash", &self.render_hash, &now.render_hash))
            .or_else(|| {
                diff(
                    "the target",
                    &format!(
                        "{} {}",
                        self.target.kind.as_str(),
                        self.target.subscription_id
                    ),
                    &format!(
                        "{} {}",
                        now.target.kind.as_str(),
                        now.target.subscription_id
                    ),
                )
            })
    }
}

/// One deployment's part of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentPlan {
    /// The manifest's deployment name.
    pub name: String,
    /// The ARM deployment name apply will use.
    pub deployment_name: String,
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    /// False when the resource group does not exist yet (the changes then come from the template alone).
    pub resource_group_exists: bool,
    /// Every resource's change; for a stack, the resources it no longer declares and deletes are `Delete`s.
    pub changes: Vec<WhatIfChange>,
    /// The deployment's stack, when it is deployed as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<StackPlan>,
}

/// What applying does to a deployment's stack, besides its resources' changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackPlan {
    /// The stack's name (`trustprint-<deployment>`).
    pub name: String,
    /// Whether the stack exists already (false: apply creates it, taking over any resources it declares
    /// that exist already).
    pub exists: bool,
    /// The deny settings mode it will have.
    pub deny_mode: crate::model::DenyMode,
    /// Its deny settings or unmanage actions change.
    pub settings_change: bool,
    /// Resources it manages today that the template no longer declares and that it will leave in place,
    /// unmanaged and unprotected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detach: Vec<String>,
    /// Set when the target has no stack what-if: why the changes were computed from the deployment what-if
    /// and the stack's resources instead. `None`: they are the stack what-if's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

impl DeploymentPlan {
    /// Whether applying this deployment changes anything.
    pub fn has_changes(&self) -> bool {
        !self.resource_group_exists
            || self.changes.iter().any(|c| is_change(&c.change_type))
            || self
                .stack
                .as_ref()
                .is_some_and(|s| !s.exists || s.settings_change || !s.detach.is_empty())
    }
}

/// Counts of changes by kind over the whole plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub create: usize,
    pub modify: usize,
    pub delete: usize,
    pub no_change: usize,
    pub ignore: usize,
    /// `Deploy` (details unknown) and `Unsupported`.
    pub other: usize,
    /// Resources a stack stops managing and leaves in place.
    #[serde(default)]
    pub detach: usize,
}

impl Summary {
    /// Whether anything would change.
    pub fn has_changes(&self) -> bool {
        self.create + self.modify + self.delete + self.other + self.detach > 0
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Plan: {} to create, {} to modify, {} to delete, {} unchanged",
            self.create, self.modify, self.delete, self.no_change
        )?;
        if self.detach > 0 {
            write!(f, ", {} to detach", self.detach)?;
        }
        if self.ignore > 0 {
            write!(f, ", {} ignored", self.ignore)?;
        }
        if self.other > 0 {
            write!(f, ", {} to deploy without details", self.other)?;
        }
        Ok(())
    }
}

/// A plan: what applying the trust would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub format: u32,
    pub inputs: PlanInputs,
    pub deployments: Vec<DeploymentPlan>,
    pub summary: Summary,
}

fn is_change(c: &ChangeType) -> bool {
    !matches!(
        c,
        ChangeType::NoChange | ChangeType::Ignore | ChangeType::Unsupported
    )
}

impl Plan {
    /// Whether applying it changes anything.
    pub fn has_changes(&self) -> bool {
        self.deployments.iter().any(DeploymentPlan::has_changes)
    }

    /// Forget the resources' bodies and property changes, keeping every change's resource and type and
    /// the summary: all a fleet run reports of a plan.
    pub fn drop_details(&mut self) {
        for d in &mut self.deployments {
            drop_details(&mut d.changes);
        }
    }

    /// Every resource applying would change, as `<change type> <resource id>` (`Modify /subscriptions/...`).
    pub fn changed_resources(&self) -> Vec<String> {
        self.deployments
            .iter()
            .flat_map(|d| &d.changes)
            .filter(|c| is_change(&c.change_type))
            .map(|c| format!("{:?} {}", c.change_type, c.resource_id))
            .collect()
    }

    /// The data-bearing resources the plan deletes, by id.
    pub fn data_loss(&self) -> Vec<String> {
        self.deployments
            .iter()
            .flat_map(|d| &d.changes)
            .filter(|c| c.change_type == ChangeType::Delete)
            .filter(|c| is_data_bearing(&resource_type(&c.resource_id)))
            .map(|c| format!("{} ({})", c.resource_id, resource_type(&c.resource_id)))
            .collect()
    }

    /// What the live target shows now (`fresh`, a new what-if of the same inputs) that this saved plan did
    /// not expect, one line per resource: a change that differs from the planned one (another change type,
    /// or other property changes), or a change to a resource the plan did not mention. A resource that now
    /// needs no change is not a difference: it is already as the plan would leave it (an interrupted
    /// apply of this plan did it), so applying the plan stays safe.
    pub fn live_differences(&self, fresh: &Plan) -> Vec<String> {
        let mut out = Vec::new();
        for now in &fresh.deployments {
            let saved = self.deployments.iter().find(|d| d.name == now.name);
            for c in now.changes.iter().filter(|c| is_change(&c.change_type)) {
                let planned = saved.and_then(|d| {
                    d.changes
                        .iter()
                        .find(|p| p.resource_id.eq_ignore_ascii_case(&c.resource_id))
                });
                let same =
                    planned.is_some_and(|p| p.change_type == c.change_type && p.delta == c.delta);
                if same {
                    continue;
                }
                let describe = |w: &WhatIfChange| {
                    let props = paths(&w.delta);
                    if props.is_empty() {
                        w.change_type.to_string()
                    } else {
                        format!("{} ({})", w.change_type, props.join(", "))
                    }
                };
                out.push(format!(
                    "{}: {}: planned {}, now {}",
                    now.name,
                    short_id(&c.resource_id),
                    planned.map_or_else(|| "nothing".to_owned(), describe),
                    describe(c)
                ));
            }
        }
        out
    }

    /// Write the plan file atomically.
    pub fn save(&self, path: &Path) -> Result<(), DeployError> {
        let bytes = crate::hash::to_bytes(&serde_json::to_value(self).map_err(|e| {
            DeployError::Internal {
                message: format!("serialising the plan: {e}"),
            }
        })?);
        crate::atomic::write_atomic(path, &bytes).map_err(DeployError::Write)
    }

    /// Read a plan file.
    pub fn load(path: &Path) -> Result<Plan, DeployError> {
        let err = |message: String| DeployError::PlanFile {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let plan: Plan = serde_json::from_slice(&text)
            .map_err(|e| err(format!("not a trustprint plan: {e}")))?;
        if plan.format != PLAN_FORMAT {
            return Err(err(format!(
                "format {} is not the format {PLAN_FORMAT} this trustprint reads",
                plan.format
            )));
        }
        Ok(plan)
    }

    /// The plan as text: each deployment's changes, then the summary line.
    pub fn render_text(&self, color: bool) -> String {
        let paint = |code: &str, s: &str| {
            if color {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_owned()
            }
        };
        let mut out = String::new();
        for d in &self.deployments {
            let place = match &d.resource_group {
                Some(rg) if d.resource_group_exists => format!("resource group {rg}"),
                Some(rg) => format!("resource group {rg}, to be created"),
                None => "subscription".into(),
            };
            match &d.stack {
                Some(s) => {
                    let _ = writeln!(
                        out,
                        "{} ({place}) as stack {}{}, deny settings {}{}",
                        d.name,
                        s.name,
                        if s.exists { "" } else { " (new)" },
                        s.deny_mode.as_str(),
                        if s.settings_change { " (changing)" } else { "" }
                    );
                    if let Some(why) = &s.fallback {
                        let _ = writeln!(out, "  note: {why}");
                    }
                }
                None => {
                    let _ = writeln!(out, "{} ({place}) as {}", d.name, d.deployment_name);
                }
            }
            if d.changes.is_empty() && d.stack.as_ref().is_none_or(|s| s.detach.is_empty()) {
                let _ = writeln!(out, "  (no resources)");
            }
            for c in &d.changes {
                let (sym, code) = symbol(&c.change_type);
                let _ = writeln!(
                    out,
                    "  {} {} {}{}",
                    paint(code, sym),
                    short_id(&c.resource_id),
                    paint("2", &format!("[{}]", c.change_type)),
                    c.unsupported_reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
                for p in &c.delta {
                    write_property(&mut out, p, 2, &paint);
                }
            }
            for id in d.stack.iter().flat_map(|s| &s.detach) {
                let _ = writeln!(
                    out,
                    "  {} {} {}",
                    paint("36", "/"),
                    short_id(id),
                    paint("2", "[Detach]")
                );
            }
        }
        let _ = writeln!(out, "\n{}", self.summary);
        out
    }
}

fn symbol(c: &ChangeType) -> (&'static str, &'static str) {
    match c {
        ChangeType::Create => ("+", "32"),
        ChangeType::Delete => ("-", "31"),
        ChangeType::Modify => ("~", "33"),
        ChangeType::NoChange => ("=", "2"),
        ChangeType::Ignore => ("*", "2"),
        ChangeType::Deploy => ("!", "35"),
        _ => ("?", "35"),
    }
}

fn write_property(
    out: &mut String,
    p: &PropertyChange,
    depth: usize,
    paint: &dyn Fn(&str, &str) -> String,
) {
    let show = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map(|v| serde_json::to_string(v).unwrap_or_default())
            .unwrap_or_else(|| "(none)".into())
    };
    let indent = "  ".repeat(depth);
    let line = match p.property_change_type {
        PropertyChangeType::Create => {
            format!("{} {}: {}", paint("32", "+"), p.path, show(&p.after))
        }
        PropertyChangeType::Delete => {
            format!("{} {}: {}", paint("31", "-"), p.path, show(&p.before))
        }
        PropertyChangeType::Modify => format!(
            "{} {}: {} => {}",
            paint("33", "~"),
            p.path,
            show(&p.before),
            show(&p.after)
        ),
        PropertyChangeType::Array => format!("{} {}:", paint("33", "~"), p.path),
        PropertyChangeType::NoEffect => format!("{} {} (no effect)", paint("2", "x"), p.path),
        PropertyChangeType::Other(ref o) => format!("? {} [{o}]", p.path),
    };
    let _ = writeln!(out, "{indent}{line}");
    for c in &p.children {
        write_property(out, c, depth + 1, paint);
    }
}

/// The resource's type from its id (`Microsoft.KeyVault/vaults`, child types with all their segments);
/// resource groups are `Microsoft.Resources/resourceGroups`.
pub fn resource_type(id: &str) -> String {
    let lower = id.to_ascii_lowercase();
    if let Some(i) = lower.rfind("/providers/") {
        let rest: Vec<&str> = id[i + "/providers/".len()..].split('/').collect();
        let mut t = rest.first().copied().unwrap_or_default().to_owned();
        for seg in rest.iter().skip(1).step_by(2) {
            t.push('/');
            t.push_str(seg);
        }
        return t;
    }
    let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
    if segs.len() == 4 && segs[2].eq_ignore_ascii_case("resourceGroups") {
        return "Microsoft.Resources/resourceGroups".into();
    }
    String::new()
}

fn is_data_bearing(t: &str) -> bool {
    DATA_BEARING_TYPES.iter().any(|d| {
        let t = t.to_ascii_lowercase();
        let d = d.to_ascii_lowercase();
        t == d || t.starts_with(&format!("{d}/"))
    })
}

/// The leaf changes of a what-if delta as `path: before => after`, nested changes included.
fn paths(delta: &[PropertyChange]) -> Vec<String> {
    let mut out = Vec::new();
    for p in delta {
        if p.children.is_empty() {
            let v = |v: &Option<serde_json::Value>| {
                v.as_ref()
                    .map_or_else(|| "-".to_owned(), ToString::to_string)
            };
            out.push(format!("{}: {} => {}", p.path, v(&p.before), v(&p.after)));
        } else {
            // Array elements are numbered children: `addressPrefixes[0]`.
            out.extend(paths(&p.children).into_iter().map(|c| {
                let (head, rest) = c.split_once(':').unwrap_or((c.as_str(), ""));
                match head.split_once('.').unwrap_or((head, "")) {
                    (i, tail) if i.parse::<usize>().is_ok() => {
                        let dot = if tail.is_empty() { "" } else { "." };
                        format!("{}[{i}]{dot}{tail}:{rest}", p.path)
                    }
                    _ => format!("{}.{c}", p.path),
                }
            }));
        }
    }
    out
}

fn drop_details(changes: &mut [WhatIfChange]) {
    for c in changes {
        c.before = None;
        c.after = None;
        c.delta = Vec::new();
    }
}

/// The id without its subscription prefix, for reading.
fn short_id(id: &str) -> &str {
    let lower = id.to_ascii_lowercase();
    match lower.find("/providers/") {
        Some(i) if lower.starts_with("/subscriptions/") => &id[i + "/providers/".len()..],
        // A resource group: `resourceGroups/<name>`.
        _ => match lower.find("/resourcegroups/") {
            Some(i) if lower.starts_with("/subscriptions/") => &id[i + 1..],
            _ => id,
        },
    }
}

/// What-if every deployment of `rendered` against `conn`. The what-ifs only read the target, so they run
/// concurrently (a trust's plan takes as long as its slowest what-if, not their sum); the plan lists the
/// deployments in dependency order.
pub async fn plan(
    conn: &Connection,
    inputs: PlanInputs,
    rendered: &Rendered,
) -> Result<Plan, DeployError> {
    plan_with(conn, inputs, rendered, true).await
}

/// [`plan`]; without `details`, each deployment's changes lose their bodies and property changes
/// ([`Plan::drop_details`]) as soon as they are known.
pub async fn plan_with(
    conn: &Connection,
    inputs: PlanInputs,
    rendered: &Rendered,
    details: bool,
) -> Result<Plan, DeployError> {
    let sub = &conn.target.subscription_id;
    let deployer = super::stack::deployer_if_excluded(conn, rendered).await?;
    let deployer = deployer.as_deref();
    let deployments =
        futures_util::future::try_join_all(rendered.deployments.iter().map(|d| async move {
            let scope = scope_of(d, sub);
            let name = deployment_name(d);
            // Secrets are read (a missing one stops the plan) whether or not a what-if is sent; the template
            // is copied into a request body only for a what-if, and only while it is sent.
            let parameters = request_parameters(d, conn.target.kind)?;
            let exists = super::stack::group_exists(conn, d, "plan").await?;
            // A stack's plan is Azure's stack what-if's answer, where the target has it.
            if let (Some(settings), true) = (&d.stack, exists) {
                let request = super::stack::request(
                    d,
                    settings,
                    request_with(d, parameters.clone()),
                    deployer,
                    false,
                )?;
                if let Some(mut p) =
                    plan_by_stack_what_if(conn, d, settings, &scope, &name, &request).await?
                {
                    if !details {
                        drop_details(&mut p.changes);
                    }
                    return Ok(p);
                }
            }
            let changes = if exists {
                tracing::info!(deployment = %d.name, "what-if");
                conn.client
                    .what_if(&scope, &name, &request_with(d, parameters))
                    .await
                    .map_err(DeployError::arm(format!("plan {}: what-if", d.name)))?
                    .changes
            } else {
                // ARM's what-if needs the group; a group that does not exist holds nothing, so everything the
                // template declares is created.
                let ctx = crate::armexpr::StaticContext {
                    subscription_id: sub.clone(),
                    tenant_id: conn.tenant_id.clone(),
                };
                crate::armexpr::expand(d, &ctx)
                    .map_err(|source| DeployError::Target {
                        message: format!("plan {}: expanding the template: {source}", d.name),
                    })?
                    .into_iter()
                    .map(|r| WhatIfChange {
                        resource_id: r.id,
                        change_type: ChangeType::Create,
                        unsupported_reason: None,
                        before: None,
                        after: Some(r.body),
                        delta: Vec::new(),
                    })
                    .collect()
            };
            let mut changes = changes;
            let stack = match &d.stack {
                Some(settings) => {
                    let mut s =
                        plan_stack(conn, d, settings, &scope, exists, deployer, &mut changes)
                            .await?;
                    if exists {
                        s.fallback = Some(NO_STACK_WHAT_IF.to_owned());
                    }
                    Some(s)
                }
                None => None,
            };
            if !details {
                drop_details(&mut changes);
            }
            Ok::<_, DeployError>(DeploymentPlan {
                name: d.name.clone(),
                deployment_name: name,
                scope: d.scope,
                resource_group: d.resource_group.clone(),
                resource_group_exists: exists,
                changes,
                stack,
            })
        }))
        .await?;
    let mut summary = Summary {
        detach: deployments
            .iter()
            .filter_map(|d| d.stack.as_ref())
            .map(|s| s.detach.len())
            .sum(),
        ..Summary::default()
    };
    for c in deployments.iter().flat_map(|d| &d.changes) {
        match c.change_type {
            ChangeType::Create => summary.create += 1,
            ChangeType::Modify => summary.modify += 1,
            ChangeType::Delete => summary.delete += 1,
            ChangeType::NoChange => summary.no_change += 1,
            ChangeType::Ignore => summary.ignore += 1,
            _ => summary.other += 1,
        }
    }
    Ok(Plan {
        format: PLAN_FORMAT,
        inputs,
        deployments,
        summary,
    })
}

/// Why a stack's plan came from the deployment what-if: the target answered that it does not know the stack
/// what-if (`Microsoft.Resources/deploymentStacksWhatIfResults`, 2025-07-01), as an Azure before August 2026.
const NO_STACK_WHAT_IF: &str = "the target has no stack what-if (deploymentStacksWhatIfResults 2025-07-01); predicted from the deployment what-if and the stack's resources";

/// A stack deployment's plan from Azure's stack what-if: the stack as it is (its existence and settings),
/// then the what-if's changes, deletes and detaches. `None` when the target does not know the stack what-if
/// (the caller then falls back to the deployment what-if).
async fn plan_by_stack_what_if(
    conn: &Connection,
    d: &crate::model::RenderedDeployment,
    settings: &crate::model::StackSettings,
    scope: &crate::arm::DeploymentScope,
    deployment_name: &str,
    request: &crate::arm::StackRequest,
) -> Result<Option<DeploymentPlan>, DeployError> {
    let name = super::stack::stack_name(d);
    tracing::info!(deployment = %d.name, stack = %name, "stack what-if");
    let what_if = match conn
        .client
        .stack_what_if(scope, &format!("{deployment_name}-plan"), &name, request)
        .await
    {
        Ok(w) => w,
        Err(e) if e.is_unknown_api() => {
            tracing::info!(deployment = %d.name, error = %e, "no stack what-if at the target");
            return Ok(None);
        }
        Err(e) => {
            return Err(DeployError::arm(format!("plan {}: stack what-if", d.name))(
                e,
            ));
        }
    };
    let current = conn
        .client
        .get_stack(scope, &name)
        .await
        .map_err(DeployError::arm(format!(
            "plan {}: reading stack {name}",
            d.name
        )))?;
    let settings_change = current.as_ref().is_some_and(|stack| {
        what_if.deny_settings_change
            || super::stack::settings_differ(
                stack,
                &request.deny_settings,
                super::stack::action_on_unmanage(settings),
            )
    });
    Ok(Some(DeploymentPlan {
        name: d.name.clone(),
        deployment_name: deployment_name.to_owned(),
        scope: d.scope,
        resource_group: d.resource_group.clone(),
        resource_group_exists: true,
        changes: what_if.changes,
        stack: Some(StackPlan {
            name,
            exists: current.is_some(),
            deny_mode: settings.deny_mode,
            settings_change,
            detach: what_if.detach,
            fallback: None,
        }),
    }))
}

/// The stack part of a deployment's plan: the stack as it is, what the update stops managing (deletes are
/// added to `changes`, replacing the what-if's `Ignore` of the same resource), and whether its settings change.
async fn plan_stack(
    conn: &Connection,
    d: &crate::model::RenderedDeployment,
    settings: &crate::model::StackSettings,
    scope: &crate::arm::DeploymentScope,
    group_exists: bool,
    deployer: Option<&str>,
    changes: &mut Vec<WhatIfChange>,
) -> Result<StackPlan, DeployError> {
    let name = super::stack::stack_name(d);
    let wanted = super::stack::deny_settings(d, settings, deployer)?;
    let current = if group_exists {
        conn.client
            .get_stack(scope, &name)
            .await
            .map_err(DeployError::arm(format!(
                "plan {}: reading stack {name}",
                d.name
            )))?
    } else {
        None
    };
    let mut plan = StackPlan {
        name,
        exists: current.is_some(),
        deny_mode: settings.deny_mode,
        settings_change: false,
        detach: Vec::new(),
        fallback: None,
    };
    if let Some(stack) = current {
        let (delete, detach) = super::stack::unmanaged(&stack, changes, settings);
        for del in delete {
            match changes
                .iter_mut()
                .find(|c| c.resource_id.eq_ignore_ascii_case(&del.resource_id))
            {
                Some(c) => c.change_type = ChangeType::Delete,
                None => changes.push(del),
            }
        }
        // A detached resource stays, and its what-if `Ignore` says so already; the stack plan names it.
        plan.detach = detach;
        plan.settings_change = super::stack::settings_differ(
            &stack,
            &wanted,
            super::stack::action_on_unmanage(settings),
        );
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_types_come_from_the_id() {
        assert_eq!(
            resource_type(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/a/databases/b"
            ),
            "Microsoft.Sql/servers/databases"
        );
        assert_eq!(
            resource_type("/subscriptions/s/resourceGroups/rg"),
            "Microsoft.Resources/resourceGroups"
        );
        assert!(is_data_bearing("Microsoft.Sql/servers/databases"));
        assert!(is_data_bearing("microsoft.keyvault/vaults"));
        assert!(!is_data_bearing("Microsoft.Network/virtualNetworks"));
    }

    fn plan_with(changes: serde_json::Value) -> Plan {
        let changes: Vec<WhatIfChange> = serde_json::from_value(changes).unwrap();
        Plan {
            format: PLAN_FORMAT,
            inputs: PlanInputs {
                trust: TrustRef {
                    name: "T".into(),
                    ods_code: "RM3".into(),
                },
                blueprint: BlueprintRef {
                    name: "b".into(),
                    version: "1".into(),
                    source: "embedded".into(),
                    commit: None,
                },
                render_hash: "sha256:r".into(),
                values_hash: "sha256:v".into(),
                target: TargetRef {
                    kind: super::super::TargetKind::Local,
                    subscription_id: "s".into(),
                },
            },
            deployments: vec![DeploymentPlan {
                name: "security".into(),
                deployment_name: "trustprint-security-1".into(),
                scope: Scope::ResourceGroup,
                resource_group: Some("rg".into()),
                resource_group_exists: true,
                changes,
                stack: None,
            }],
            summary: Summary::default(),
        }
    }

    #[test]
    fn deleting_a_vault_is_data_loss_and_a_modify_is_not() {
        let p = plan_with(json!([
            {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv", "changeType": "Delete"},
            {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v", "changeType": "Delete"},
            {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st", "changeType": "Modify"}
        ]));
        assert_eq!(
            p.data_loss(),
            vec!["/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv (Microsoft.KeyVault/vaults)".to_string()]
        );
    }

    #[test]
    fn text_shows_property_changes_and_the_summary() {
        let mut p = plan_with(json!([
            {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv", "changeType": "Modify",
             "delta": [{"path": "properties.sku.name", "propertyChangeType": "Modify", "before": "standard", "after": "premium"}]},
            {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v", "changeType": "NoChange"}
        ]));
        p.summary = Summary {
            modify: 1,
            no_change: 1,
            ..Summary::default()
        };
        assert_eq!(
            p.render_text(false),
            "security (resource group rg) as trustprint-security-1\n  \
             ~ Microsoft.KeyVault/vaults/kv [Modify]\n    \
             ~ properties.sku.name: \"standard\" => \"premium\"\n  \
             = Microsoft.Network/virtualNetworks/v [NoChange]\n\n\
             Plan: 0 to create, 1 to modify, 0 to delete, 1 unchanged\n"
        );
    }

    #[test]
    fn a_stack_shows_its_deny_mode_what_it_deletes_and_what_it_detaches() {
        let mut p = plan_with(json!([
            {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt", "changeType": "Delete"},
            {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st", "changeType": "Ignore"}
        ]));
        p.deployments[0].stack = Some(StackPlan {
            name: "trustprint-security".into(),
            exists: true,
            deny_mode: crate::model::DenyMode::DenyWriteAndDelete,
            settings_change: false,
            detach: vec![
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"
                    .into(),
            ],
            fallback: None,
        });
        p.summary = Summary {
            delete: 1,
            ignore: 1,
            detach: 1,
            ..Summary::default()
        };
        assert!(p.has_changes());
        assert_eq!(
            p.render_text(false),
            "security (resource group rg) as stack trustprint-security, deny settings denyWriteAndDelete\n  \
             - Microsoft.Network/routeTables/rt [Delete]\n  \
             * Microsoft.Storage/storageAccounts/st [Ignore]\n  \
             / Microsoft.Storage/storageAccounts/st [Detach]\n\n\
             Plan: 0 to create, 0 to modify, 1 to delete, 0 unchanged, 1 to detach, 1 ignored\n"
        );
        // A stack that exists with the same settings and nothing to unmanage changes nothing by itself.
        let mut quiet = plan_with(json!([
            {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt", "changeType": "NoChange"}
        ]));
        quiet.deployments[0].stack = Some(StackPlan {
            detach: vec![],
            ..p.deployments[0].stack.clone().unwrap()
        });
        assert!(!quiet.has_changes());
        quiet.deployments[0].stack.as_mut().unwrap().exists = false;
        assert!(quiet.has_changes(), "a new stack is a change");
        // Against an Azure without the stack what-if, the plan says where its answer came from.
        let mut older = quiet.clone();
        older.deployments[0].stack.as_mut().unwrap().fallback = Some(NO_STACK_WHAT_IF.to_owned());
        assert!(
            older.render_text(false).contains(
                "as stack trustprint-security (new), deny settings denyWriteAndDelete\n  note: the target has no stack what-if (deploymentStacksWhatIfResults 2025-07-01); predicted from the deployment what-if and the stack's resources\n"
            ),
            "{}",
            older.render_text(false)
        );
    }

    #[test]
    fn a_changed_input_makes_the_plan_stale() {
        let a = plan_with(json!([])).inputs;
        let mut b = a.clone();
        assert_eq!(a.compare(&b), None);
        b.values_hash = "sha256:w".into();
        assert_eq!(
            a.compare(&b),
            Some((
                "the values hash".into(),
                "sha256:v".into(),
                "sha256:w".into()
            ))
        );
    }

    #[test]
    fn live_differences_name_changed_and_new_changes_but_not_progress() {
        let kv = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv";
        let st =
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st";
        let saved = plan_with(serde_json::json!([
            {"resourceId": kv, "changeType": "Modify",
             "delta": [{"path": "properties.sku.name", "propertyChangeType": "Modify", "before": "standard", "after": "premium"}]},
            {"resourceId": st, "changeType": "Create"},
        ]));
        // The same what-if again, or the storage account already created (an interrupted apply): applies.
        assert_eq!(saved.live_differences(&saved), Vec::<String>::new());
        let progressed = plan_with(serde_json::json!([
            {"resourceId": kv, "changeType": "Modify",
             "delta": [{"path": "properties.sku.name", "propertyChangeType": "Modify", "before": "standard", "after": "premium"}]},
            {"resourceId": st, "changeType": "NoChange"},
        ]));
        assert_eq!(saved.live_differences(&progressed), Vec::<String>::new());
        // The vault's sku was changed out of band, and a tag appeared on a resource the plan did not name.
        let drifted = plan_with(serde_json::json!([
            {"resourceId": kv, "changeType": "Modify",
             "delta": [{"path": "properties.sku.name", "propertyChangeType": "Modify", "before": "basic", "after": "premium"}]},
            {"resourceId": st, "changeType": "Create"},
            {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v", "changeType": "Modify",
             "delta": [{"path": "properties.addressSpace.addressPrefixes", "propertyChangeType": "Array",
                        "children": [{"path": "0", "propertyChangeType": "Modify", "before": "10.1.0.0/16", "after": "10.0.0.0/16"}]}]},
        ]));
        assert_eq!(
            saved.live_differences(&drifted),
            vec![
                "security: Microsoft.KeyVault/vaults/kv: planned Modify (properties.sku.name: \"standard\" => \"premium\"), \
                 now Modify (properties.sku.name: \"basic\" => \"premium\")".to_string(),
                "security: Microsoft.Network/virtualNetworks/v: planned nothing, now Modify \
                 (properties.addressSpace.addressPrefixes[0]: \"10.1.0.0/16\" => \"10.0.0.0/16\")".to_string(),
            ]
        );
    }
}
