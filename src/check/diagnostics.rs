//! Diagnostic settings rule: every resource of a type that emits platform logs sends them to the trust's Log
//! Analytics workspace, where Sentinel and the trust's alert rules see them.
//!
//! The types in [`SUPPORTED`] are those an EPR estate deploys whose platform logs matter for security
//! monitoring (Azure Monitor's "supported categories for resource logs"). Deliberately not required: virtual
//! machines (they have no diagnostic settings; guest logs go through the Azure Monitor agent), network
//! interfaces and private endpoints (metrics only), Azure SQL servers (their logs come through databases and
//! the auditing rule TP-SQL-003), and the Log Analytics workspace itself (it is the destination).

use super::estate::{describe, is_expression, observe, quote, Estate, Observed};
use super::{ncsc, Finding, Rule, Settings};
use crate::model::Resource;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

pub(crate) const DIAG_001: Rule = Rule {
    id: "TP-DIAG-001",
    reason: "Resources that emit platform logs must send them to the trust's Log Analytics workspace",
    principle: ncsc::AUDIT,
    fix: "Add a Microsoft.Insights/diagnosticSettings resource scoped to it with properties.workspaceId set to the trust's Log Analytics workspace",
};

/// Types that must have diagnostic settings.
pub const SUPPORTED: &[&str] = &[
    "Microsoft.KeyVault/vaults",
    "Microsoft.Storage/storageAccounts",
    "Microsoft.Network/networkSecurityGroups",
    "Microsoft.Network/azureFirewalls",
    "Microsoft.Network/virtualNetworks",
    "Microsoft.Network/loadBalancers",
    "Microsoft.Network/publicIPAddresses",
    "Microsoft.Network/applicationGateways",
    "Microsoft.Network/bastionHosts",
    "Microsoft.Network/virtualNetworkGateways",
    "Microsoft.Network/expressRouteCircuits",
    "Microsoft.Network/frontDoors",
    "Microsoft.Network/trafficManagerProfiles",
    "Microsoft.RecoveryServices/vaults",
    "Microsoft.Sql/servers/databases",
    "Microsoft.Sql/managedInstances",
    "Microsoft.Automation/automationAccounts",
    "Microsoft.DesktopVirtualization/hostPools",
    "Microsoft.DesktopVirtualization/applicationGroups",
    "Microsoft.DesktopVirtualization/workspaces",
];

const DIAGNOSTIC_SETTINGS: &str = "Microsoft.Insights/diagnosticSettings";
const WORKSPACES: &str = "Microsoft.OperationalInsights/workspaces";

pub(crate) fn check(estate: &Estate, settings: &Settings, findings: &mut Vec<Finding>) {
    let mut workspaces: HashSet<String> = estate
        .of_type(WORKSPACES)
        .map(|w| w.id.to_ascii_lowercase())
        .collect();
    if let Some(id) = &settings.workspace_id {
        workspaces.insert(id.to_ascii_lowercase());
    }
    // Target resource id (lower case) -> the diagnostic settings scoped to it.
    let mut by_target: HashMap<String, Vec<&Resource>> = HashMap::new();
    for setting in estate.iter().filter(|r| is_diagnostic_setting(r)) {
        if let Some(target) = target_of(setting) {
            by_target
                .entry(target.to_ascii_lowercase())
                .or_default()
                .push(setting);
        }
    }
    for resource in estate.iter().filter(|r| needs_diagnostics(r)) {
        let id = resource.id.to_ascii_lowercase();
        let child_prefix = format!("{id}/");
        // A setting on a sub-service (a storage account's blobServices/default) covers its account too.
        let candidates: Vec<&Resource> = by_target
            .iter()
            .filter(|(t, _)| **t == id || t.starts_with(&child_prefix))
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        if candidates.is_empty() {
            findings.push(Finding::new(
                &DIAG_001,
                resource,
                "no Microsoft.Insights/diagnosticSettings resource is scoped to it; expected one with properties.workspaceId set to the trust's Log Analytics workspace",
            ));
            continue;
        }
        let mut problems = Vec::new();
        let ok = candidates.iter().any(|setting| {
            let name = setting.name.rsplit('/').next().unwrap_or(&setting.name);
            match observe(&setting.body, "properties.workspaceId") {
                Observed::Value(Value::String(ws)) if workspaces.contains(&ws.to_ascii_lowercase()) => {
                    true
                }
                Observed::Value(Value::String(ws)) => {
                    problems.push(format!(
                        "diagnostic setting {}: properties.workspaceId is {}, which is not a Log Analytics workspace of the trust",
                        quote(name),
                        quote(ws)
                    ));
                    false
                }
                observed => {
                    problems.push(format!(
                        "diagnostic setting {}: {}",
                        quote(name),
                        describe("properties.workspaceId", observed)
                    ));
                    false
                }
            }
        });
        if !ok {
            findings.push(Finding::new(&DIAG_001, resource, problems.join("; ")));
        }
    }
}

fn needs_diagnostics(resource: &Resource) -> bool {
    SUPPORTED
        .iter()
        .any(|t| t.eq_ignore_ascii_case(&resource.resource_type))
        // The master database is managed by Azure and takes its settings from the server's auditing.
        && !(resource.resource_type.eq_ignore_ascii_case("Microsoft.Sql/servers/databases")
            && resource.name.rsplit('/').next().is_some_and(|n| n.eq_ignore_ascii_case("master")))
}

/// Both the extension form (`Microsoft.Insights/diagnosticSettings` with `scope`) and the older nested form
/// (`Microsoft.KeyVault/vaults/providers/diagnosticSettings` named `kv/Microsoft.Insights/name`).
fn is_diagnostic_setting(resource: &Resource) -> bool {
    let ty = resource.resource_type.to_ascii_lowercase();
    ty == DIAGNOSTIC_SETTINGS.to_ascii_lowercase() || ty.ends_with("/providers/diagnosticsettings")
}

/// The id of the resource a diagnostic setting is scoped to.
fn target_of(setting: &Resource) -> Option<String> {
    let lower = setting.id.to_ascii_lowercase();
    // `/subscriptions/s/resourceGroups/rg` of the setting, for relative scopes and the nested form.
    let group_prefix = lower
        .find("/providers/")
        .map(|i| setting.id[..i].to_owned())
        .unwrap_or_default();
    if let Some(scope) = setting.body.get("scope").and_then(Value::as_str) {
        if !is_expression(scope) {
            return Some(if scope.starts_with('/') {
                scope.trim_end_matches('/').to_owned()
            } else {
                format!("{group_prefix}/providers/{scope}")
            });
        }
    }
    const MARK: &str = "/providers/microsoft.insights/diagnosticsettings/";
    if let Some(i) = lower.find(MARK) {
        if i > 0 && lower[..i].contains("/providers/") {
            return Some(setting.id[..i].to_owned());
        }
    }
    // Nested form: type `{rp}/{type}/providers/diagnosticSettings`, name `{name}/Microsoft.Insights/{setting}`.
    let ty = setting.resource_type.as_str();
    let target_type = &ty[..ty.to_ascii_lowercase().rfind("/providers/")?];
    let name_lower = setting.name.to_ascii_lowercase();
    let target_name = &setting.name[..name_lower.find("/microsoft.insights/")?];
    Some(format!(
        "{group_prefix}/providers/{target_type}/{target_name}"
    ))
}
