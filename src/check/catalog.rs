//! Resource type rule: every resource names a type and api-version Azure Resource Manager accepts, judged
//! against Microsoft's published catalogue (the same one the local cloud answers from), so a typo in a type or
//! an api-version Azure does not have fails at `check`, not halfway through a deployment.

use super::estate::{is_expression, Estate};
use super::{ncsc, Finding, Rule};

pub(crate) const ARM_001: Rule = Rule {
    id: "TP-ARM-001",
    reason:
        "Every resource must use a resource type and api-version Azure Resource Manager accepts",
    principle: ncsc::GOVERNANCE,
    fix: "Correct the type, or use an api-version the type has (the finding lists the nearest)",
};

pub(crate) fn check(estate: &Estate, findings: &mut Vec<Finding>) {
    for resource in estate.iter() {
        let (t, v) = (&resource.resource_type, &resource.api_version);
        // Extension spellings (`.../providers/...`) and values only known at deployment are the engine's to judge.
        if is_expression(t) || is_expression(v) || t.to_ascii_lowercase().contains("/providers/") {
            continue;
        }
        if let Err(e) = crate::cloud::catalog::check_type(t, v) {
            findings.push(Finding::new(
                &ARM_001,
                resource,
                format!("{t}@{v}: {} ({})", e.message, e.code),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Resource;
    use serde_json::json;

    fn resource(t: &str, v: &str) -> Resource {
        Resource {
            id: format!("/subscriptions/s/resourceGroups/rg/providers/{t}/x"),
            resource_type: t.into(),
            api_version: v.into(),
            name: "x".into(),
            location: Some("uksouth".into()),
            tags: None,
            body: json!({}),
            deployment: "d".into(),
        }
    }

    #[test]
    fn unknown_types_and_later_versions_are_findings_known_ones_pass() {
        let resources = vec![
            resource("Microsoft.Storage/storageAccounts", "2023-05-01"),
            resource("Microsoft.Storage/storageAccount", "2023-05-01"),
            resource("Microsoft.KeyVault/vaults", "2099-01-01"),
            resource("Contoso.Widgets/gadgets", "2023-01-01"),
        ];
        let estate = Estate::new(&resources);
        let mut findings = Vec::new();
        check(&estate, &mut findings);
        let details: Vec<&str> = findings.iter().map(|f| f.detail.as_str()).collect();
        assert_eq!(details.len(), 3, "{details:?}");
        assert!(
            details[0].ends_with("(InvalidResourceType)"),
            "{}",
            details[0]
        );
        assert!(
            details[1].contains("The supported api-versions are '"),
            "{}",
            details[1]
        );
        assert!(
            details[2].ends_with("(InvalidResourceNamespace)"),
            "{}",
            details[2]
        );
    }
}
