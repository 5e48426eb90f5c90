//! Diagnostic settings rule: every resource of a type that emits platform logs sends them to the trust's Log
//! Analytics workspace, where Sentinel and the trust's alert rules see them.
//!
//! The types in [`SUPPORTED`] are those an EPR estate deploys whose platform logs matter for security
//! monitoring (Azure Monitor's "supported categories for resource logs"). Deliberately not required: virtual
//! machines (they have no diagnostic settings; guest logs go through the Azure Monitor agent), network
//! interfaces and private endpoints (metrics only), Azure SQL servers (their logs come through databases and
//! the auditing rule TP-SQL-003), and the Log Analytics workspace itself (it is the destination).

use super::estate::{
    describe, is_expression, observe, parent_resource_id, quote, Estate, Observed,
};
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
    // Resource id (lower case) -> the diagnostic settings scoped to it or to one of its sub-resources (a
    // setting on a storage account's blobServices/default covers the account too).
    let mut by_target: HashMap<String, Vec<&Resource>> = HashMap::new();
    for setting in estate.iter().filter(|r| is_diagnostic_setting(r)) {
        let Some(target) = target_of(setting) else {
            continue;
        };
        let mut current = Some(target.as_str());
        while let Some(id) = current {
            by_target
                .entry(id.to_ascii_lowercase())
                .or_default()
                .push(setting);
            current = parent_resource_id(id);
        }
    }
    for resource in estate.iter().filter(|r| needs_diagnostics(r)) {
        let candidates = by_target
            .get(&resource.id.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default();
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
    const NESTED: &str = "/providers/diagnosticSettings";
    let ty = &resource.resource_type;
    ty.eq_ignore_ascii_case(DIAGNOSTIC_SETTINGS)
        || (ty.len() > NESTED.len()
            && ty.is_char_boundary(ty.len() - NESTED.len())
            && ty[ty.len() - NESTED.len()..].eq_ignore_ascii_case(NESTED))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn setting(id: &str, ty: &str, name: &str, body: Value) -> Resource {
        Resource {
            id: id.into(),
            resource_type: ty.into(),
            api_version: "2021-05-01-preview".into(),
            name: name.into(),
            location: None,
            tags: None,
            body,
            deployment: "ops".into(),
        }
    }

    const RG: &str = "/subscriptions/s/resourceGroups/rg";

    #[test]
    fn target_from_absolute_and_relative_scope() {
        let kv = format!("{RG}/providers/Microsoft.KeyVault/vaults/kv");
        let abs = setting("x", DIAGNOSTIC_SETTINGS, "d", json!({ "scope": kv }));
        assert_eq!(target_of(&abs), Some(kv.clone()));
        let rel = setting(
            &format!("{RG}/providers/Microsoft.Insights/diagnosticSettings/d"),
            DIAGNOSTIC_SETTINGS,
            "d",
            json!({"scope": "Microsoft.KeyVault/vaults/kv"}),
        );
        assert_eq!(target_of(&rel), Some(kv));
    }

    #[test]
    fn target_from_the_nested_name_when_the_id_does_not_say() {
        let nested = setting(
            &format!("{RG}/providers/Microsoft.KeyVault/vaults/providers/diagnosticSettings/kv/Microsoft.Insights/d"),
            "Microsoft.KeyVault/vaults/providers/diagnosticSettings",
            "kv/Microsoft.Insights/d",
            json!({}),
        );
        assert!(is_diagnostic_setting(&nested));
        assert_eq!(
            target_of(&nested),
            Some(format!("{RG}/providers/Microsoft.KeyVault/vaults/kv"))
        );
    }
}
