//! Location rules: UK data residency. A resource with a location must be in an allowed region; `global` is
//! accepted only for the types Azure runs globally (they cannot be placed in a region at all).

use super::estate::{describe, is_expression, quote, Estate, Observed};
use super::{ncsc, Finding, Rule, Settings};
use serde_json::Value;

pub(crate) const LOC_001: Rule = Rule {
    id: "TP-LOC-001",
    reason:
        "Resources must stay in the allowed UK regions so patient data stays under UK jurisdiction",
    principle: ncsc::ASSET_PROTECTION,
    fix:
        "Set location to an allowed region (uksouth or ukwest), e.g. \"[resourceGroup().location]\"",
};

pub(crate) const LOC_002: Rule = Rule {
    id: "TP-LOC-002",
    reason: "Only services Azure runs globally may use location global; anything else must name a UK region",
    principle: ncsc::ASSET_PROTECTION,
    fix: "Set location to an allowed UK region instead of global",
};

/// Types whose only valid location is `global` (from each type's ARM template reference, where `location`
/// is documented as "global"): DNS, alerting and global load balancing.
const GLOBAL_TYPES: &[&str] = &[
    "Microsoft.Network/privateDnsZones",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
    "Microsoft.Network/dnsZones",
    "Microsoft.Network/frontDoors",
    "Microsoft.Network/FrontDoorWebApplicationFirewallPolicies",
    "Microsoft.Network/trafficManagerProfiles",
    "Microsoft.Cdn/profiles",
    "Microsoft.Insights/actionGroups",
    "Microsoft.Insights/activityLogAlerts",
    "Microsoft.Insights/metricAlerts",
];

fn is_global_type(resource_type: &str) -> bool {
    GLOBAL_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(resource_type))
}

/// ARM accepts both `uksouth` and the display name `UK South`.
fn normalise(location: &str) -> String {
    location
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

pub(crate) fn check(estate: &Estate, settings: &Settings, findings: &mut Vec<Finding>) {
    let allowed: Vec<String> = settings
        .allowed_locations
        .iter()
        .map(|l| normalise(l))
        .collect();
    let allowed_text = settings.allowed_locations.join(", ");
    for resource in estate.iter() {
        // A location that stayed an expression is still in the body; `Resource::location` holds the
        // evaluated string when armexpr could evaluate it.
        let raw = resource
            .location
            .as_deref()
            .or_else(|| resource.body.get("location").and_then(Value::as_str));
        let Some(location) = raw else {
            // No location at all: extension and child resources that inherit their parent's placement.
            continue;
        };
        if is_expression(location) {
            findings.push(Finding::new(
                &LOC_001,
                resource,
                format!(
                    "{}; expected one of: {allowed_text}",
                    describe("location", Observed::Expression(location))
                ),
            ));
            continue;
        }
        let location_n = normalise(location);
        if allowed.contains(&location_n) {
            continue;
        }
        if location_n == "global" {
            if !is_global_type(&resource.resource_type) {
                findings.push(Finding::new(
                    &LOC_002,
                    resource,
                    format!(
                        "location is \"global\", but {} is a regional type; expected one of: {allowed_text}",
                        resource.resource_type
                    ),
                ));
            }
            continue;
        }
        findings.push(Finding::new(
            &LOC_001,
            resource,
            format!(
                "location is {}; expected one of: {allowed_text}",
                quote(location)
            ),
        ));
    }
}
