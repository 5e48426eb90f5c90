//! Tag rule: every taggable resource carries the six tags that tie it to a trust, a blueprint and a budget.
//!
//! Which types are taggable follows Microsoft's "Tag support for Azure resources" table
//! (learn.microsoft.com/azure/azure-resource-manager/management/tag-support): top-level types are taggable
//! except the families listed in [`NOT_TAGGABLE_PREFIXES`] and [`NOT_TAGGABLE`]; extension resources (ids with
//! a second `/providers/` segment) and child resources are not, except the children in [`TAGGABLE_CHILDREN`].

use super::estate::{is_expression, quote, Estate};
use super::{ncsc, Finding, Rule};
use crate::model::Resource;
use serde_json::Value;

pub(crate) const TAG_001: Rule = Rule {
    id: "TP-TAG-001",
    reason: "Every taggable resource must name its trust, blueprint, data classification and cost centre",
    principle: ncsc::GOVERNANCE,
    fix: "Add \"tags\": {{ tags | json_encode | safe }} to the resource in its template",
};

/// The tags every taggable resource must carry, with a non-empty value.
pub const REQUIRED_TAGS: &[&str] = &[
    "ods-code",
    "trust",
    "blueprint",
    "blueprint-version",
    "data-classification",
    "cost-centre",
];

/// Provider namespaces none of whose types take tags: role and policy assignments, locks and definitions;
/// Defender plans and contacts; Lighthouse registrations.
const NOT_TAGGABLE_PREFIXES: &[&str] = &[
    "Microsoft.Authorization/",
    "Microsoft.Security/",
    "Microsoft.ManagedServices/",
    "Microsoft.PolicyInsights/",
];

/// Top-level (or extension) types that take no tags.
const NOT_TAGGABLE: &[&str] = &[
    "Microsoft.Insights/diagnosticSettings",
    "Microsoft.Consumption/budgets",
    "Microsoft.CostManagement/scheduledActions",
    "Microsoft.CostManagement/exports",
    "Microsoft.Maintenance/configurationAssignments",
    "Microsoft.SecurityInsights/onboardingStates",
    "Microsoft.Resources/deployments",
    "Microsoft.Resources/tags",
];

/// Child types that do take tags.
const TAGGABLE_CHILDREN: &[&str] = &[
    "Microsoft.Compute/virtualMachines/extensions",
    "Microsoft.Sql/servers/databases",
    "Microsoft.Sql/servers/elasticPools",
    "Microsoft.Sql/managedInstances/databases",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
    "Microsoft.Automation/automationAccounts/runbooks",
    "Microsoft.Web/sites/slots",
];

/// Whether Azure lets this resource carry tags.
pub(crate) fn is_taggable(resource: &Resource) -> bool {
    let ty = resource.resource_type.as_str();
    let eq = |t: &&str| t.eq_ignore_ascii_case(ty);
    let starts = |p: &&str| {
        ty.len() >= p.len() && ty.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
    };
    if NOT_TAGGABLE_PREFIXES.iter().any(starts) || NOT_TAGGABLE.iter().any(eq) {
        return false;
    }
    // `Microsoft.KeyVault/vaults/providers/diagnosticSettings` style, any id scoped under another resource
    // (`.../vaults/kv/providers/Microsoft.Insights/...`) and any resource declared with `scope` are extension
    // resources (data collection rule associations, locks, ...).
    if ty.split('/').any(|s| s.eq_ignore_ascii_case("providers"))
        || is_extension_id(&resource.id)
        || resource.body.get("scope").is_some()
    {
        return false;
    }
    // `Namespace/type` is top level; more segments make a child.
    if ty.matches('/').count() > 1 {
        return TAGGABLE_CHILDREN.iter().any(eq);
    }
    true
}

fn is_extension_id(id: &str) -> bool {
    id.split('/')
        .filter(|s| s.eq_ignore_ascii_case("providers"))
        .count()
        > 1
}

pub(crate) fn check(estate: &Estate, findings: &mut Vec<Finding>) {
    for resource in estate.iter().filter(|r| is_taggable(r)) {
        let problems = match (&resource.tags, resource.body.get("tags")) {
            (Some(tags), _) => tag_problems(tags),
            (None, Some(Value::String(e))) if is_expression(e) => vec![format!(
                "tags is the ARM expression {}, which cannot be verified before deployment",
                quote(e)
            )],
            (None, Some(Value::Object(tags))) => tag_problems(tags),
            (None, _) => vec![format!(
                "tags is absent; expected tags {}",
                REQUIRED_TAGS.join(", ")
            )],
        };
        if !problems.is_empty() {
            findings.push(Finding::new(&TAG_001, resource, problems.join("; ")));
        }
    }
}

/// What is wrong with one resource's tags, one clause per required tag. Tag names are case-insensitive in
/// Azure, so `Cost-Centre` counts as `cost-centre`.
fn tag_problems(tags: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    for &name in REQUIRED_TAGS {
        let value = tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v);
        match value {
            None => problems.push(format!("tags.{name} is absent")),
            Some(Value::String(s)) if s.trim().is_empty() => {
                problems.push(format!("tags.{name} is {} (empty)", quote(s)));
            }
            Some(Value::String(s)) if is_expression(s) => problems.push(format!(
                "tags.{name} is the ARM expression {}, which cannot be verified before deployment",
                quote(s)
            )),
            Some(Value::String(_)) => {}
            Some(other) => problems.push(format!("tags.{name} is {other}; expected a string")),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resource(id: &str, ty: &str, body: Value) -> Resource {
        Resource {
            id: id.into(),
            resource_type: ty.into(),
            api_version: "2023-01-01".into(),
            name: id.rsplit('/').next().unwrap_or_default().into(),
            location: None,
            tags: None,
            body,
            deployment: "d".into(),
        }
    }

    const RG: &str = "/subscriptions/s/resourceGroups/rg/providers";

    #[test]
    fn taggable_follows_the_tag_support_table() {
        let cases = [
            (format!("{RG}/Microsoft.KeyVault/vaults/kv"), "Microsoft.KeyVault/vaults", json!({}), true),
            ("/subscriptions/s/resourceGroups/rg".into(), "Microsoft.Resources/resourceGroups", json!({}), true),
            (format!("{RG}/Microsoft.Sql/servers/s/databases/db"), "Microsoft.Sql/servers/databases", json!({}), true),
            (format!("{RG}/Microsoft.Sql/servers/s/auditingSettings/default"), "Microsoft.Sql/servers/auditingSettings", json!({}), false),
            (format!("{RG}/Microsoft.Authorization/roleAssignments/x"), "Microsoft.Authorization/roleAssignments", json!({}), false),
            ("/subscriptions/s/providers/Microsoft.Security/pricings/VirtualMachines".into(), "Microsoft.Security/pricings", json!({}), false),
            (format!("{RG}/Microsoft.Compute/virtualMachines/vm/providers/Microsoft.Insights/dataCollectionRuleAssociations/a"), "Microsoft.Insights/dataCollectionRuleAssociations", json!({}), false),
            (format!("{RG}/Microsoft.Insights/dataCollectionRuleAssociations/a"), "Microsoft.Insights/dataCollectionRuleAssociations", json!({"scope": "Microsoft.Compute/virtualMachines/vm"}), false),
        ];
        for (id, ty, body, taggable) in cases {
            assert_eq!(is_taggable(&resource(&id, ty, body)), taggable, "{ty}");
        }
    }
}
