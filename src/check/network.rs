//! Network rules: no management port (SSH 22, RDP 3389) open to the internet, and no public IP addresses on
//! VM network interfaces (administration goes through Azure Bastion or the HSCN gateway).
//!
//! NSG rules are read both inline (`properties.securityRules` of a `networkSecurityGroups` resource) and as
//! `networkSecurityGroups/securityRules` child resources. Any inbound Allow counts, whatever its priority: a
//! higher-priority Deny may shadow it today and stop doing so after an unrelated edit.

use super::estate::{describe, observe, quote, str_is, Estate, Observed};
use super::{ncsc, Finding, Rule};
use crate::model::Resource;
use serde_json::Value;

pub(crate) const NET_001: Rule = Rule {
    id: "TP-NET-001",
    reason: "Network security groups must not allow SSH (22) or RDP (3389) in from any source or the internet",
    principle: ncsc::EXTERNAL_INTERFACE,
    fix: "Restrict sourceAddressPrefix to the Bastion subnet or a named management range, or remove the rule",
};

pub(crate) const NET_002: Rule = Rule {
    id: "TP-NET-002",
    reason: "VM network interfaces must not have public IP addresses",
    principle: ncsc::EXTERNAL_INTERFACE,
    fix: "Remove properties.ipConfigurations[].properties.publicIPAddress; reach VMs through Azure Bastion",
};

const NSGS: &str = "Microsoft.Network/networkSecurityGroups";
const NSG_RULES: &str = "Microsoft.Network/networkSecurityGroups/securityRules";
const NICS: &str = "Microsoft.Network/networkInterfaces";

/// Management ports that must never face the internet.
const MANAGEMENT_PORTS: &[u16] = &[22, 3389];

/// Source prefixes meaning "anyone".
const ANY_SOURCE: &[&str] = &["*", "0.0.0.0/0", "0.0.0.0", "::/0", "Internet", "Any"];

pub(crate) fn check(estate: &Estate, findings: &mut Vec<Finding>) {
    for nsg in estate.of_type(NSGS) {
        match observe(&nsg.body, "properties.securityRules") {
            Observed::Value(Value::Array(rules)) => {
                for (i, rule) in rules.iter().enumerate() {
                    let name = rule.get("name").and_then(Value::as_str).unwrap_or("");
                    let prefix = format!("properties.securityRules[{i}] ({}) ", quote(name));
                    if let Some(props) = rule.get("properties") {
                        if let Some(detail) = open_management_port(props, "properties.") {
                            findings.push(Finding::new(&NET_001, nsg, format!("{prefix}{detail}")));
                        }
                    }
                }
            }
            observed @ Observed::Expression(_) => findings.push(Finding::new(
                &NET_001,
                nsg,
                describe("properties.securityRules", observed),
            )),
            _ => {}
        }
    }
    for rule in estate.of_type(NSG_RULES) {
        if let Some(props) = rule.body.get("properties") {
            if let Some(detail) = open_management_port(props, "properties.") {
                findings.push(Finding::new(&NET_001, rule, detail));
            }
        }
    }
    for nic in estate.of_type(NICS) {
        for detail in nic_public_ips(nic) {
            findings.push(Finding::new(&NET_002, nic, detail));
        }
    }
}

/// Whether one part of a security rule matches the dangerous case.
enum Match {
    Yes(String),
    No,
    /// Still an expression: might match.
    Unknown(String),
}

/// The detail of a finding if this security rule (its `properties` object) lets 22 or 3389 in from anyone,
/// or might once its expressions are known.
fn open_management_port(props: &Value, base: &str) -> Option<String> {
    let direction = enum_match(props, base, "direction", "Inbound")?;
    let access = enum_match(props, base, "access", "Allow")?;
    if let Observed::Value(v) = observe(props, "protocol") {
        if str_is(v, "Icmp") {
            return None;
        }
    }
    let source = any_match(
        props,
        base,
        "sourceAddressPrefix",
        "sourceAddressPrefixes",
        |s| ANY_SOURCE.iter().any(|a| a.eq_ignore_ascii_case(s.trim())),
    );
    let ports = any_match(
        props,
        base,
        "destinationPortRange",
        "destinationPortRanges",
        covers_management_port,
    );
    let parts = [direction, access, source, ports];
    if parts.iter().any(|p| matches!(p, Match::No)) {
        return None;
    }
    let mut what = Vec::new();
    let mut unknown = false;
    for part in parts {
        match part {
            Match::Yes(d) => what.push(d),
            Match::Unknown(d) => {
                unknown = true;
                what.push(d);
            }
            Match::No => {}
        }
    }
    let verdict = if unknown {
        "may allow inbound SSH/RDP from any source"
    } else {
        "allows inbound SSH/RDP from any source"
    };
    Some(format!("{verdict}: {}", what.join(", ")))
}

/// `direction` is Inbound / `access` is Allow. A value that is absent or different is no match.
fn enum_match(props: &Value, base: &str, key: &str, wanted: &str) -> Option<Match> {
    let path = format!("{base}{key}");
    match observe(props, key) {
        Observed::Value(v) if str_is(v, wanted) => {
            Some(Match::Yes(describe(&path, Observed::Value(v))))
        }
        observed @ Observed::Expression(_) => Some(Match::Unknown(describe(&path, observed))),
        _ => None,
    }
}

/// A single-valued property and its array form (`sourceAddressPrefix` / `sourceAddressPrefixes`): a match if
/// any value satisfies `hit`, unknown if any is still an expression.
fn any_match(
    props: &Value,
    base: &str,
    single: &str,
    plural: &str,
    hit: impl Fn(&str) -> bool,
) -> Match {
    let mut unknown = None;
    match observe(props, single) {
        Observed::Value(Value::String(s)) if hit(s) => {
            return Match::Yes(format!("{base}{single} is {}", quote(s)));
        }
        observed @ Observed::Expression(_) => {
            unknown = Some(describe(&format!("{base}{single}"), observed));
        }
        _ => {}
    }
    match observe(props, plural) {
        Observed::Value(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("{base}{plural}[{i}]");
                match item.as_str() {
                    Some(s) if super::estate::is_expression(s) => {
                        unknown.get_or_insert_with(|| describe(&path, Observed::Expression(s)));
                    }
                    Some(s) if hit(s) => return Match::Yes(format!("{path} is {}", quote(s))),
                    _ => {}
                }
            }
        }
        observed @ Observed::Expression(_) => {
            unknown.get_or_insert_with(|| describe(&format!("{base}{plural}"), observed));
        }
        _ => {}
    }
    unknown.map_or(Match::No, Match::Unknown)
}

/// `*`, a single port, or a range `low-high` that includes 22 or 3389.
fn covers_management_port(range: &str) -> bool {
    let range = range.trim();
    if range == "*" {
        return true;
    }
    let (low, high) = match range.split_once('-') {
        Some((l, h)) => (l.trim().parse::<u16>(), h.trim().parse::<u16>()),
        None => (range.parse::<u16>(), range.parse::<u16>()),
    };
    match (low, high) {
        (Ok(low), Ok(high)) => MANAGEMENT_PORTS.iter().any(|p| (low..=high).contains(p)),
        _ => false,
    }
}

/// One detail per IP configuration of a network interface that has (or may have) a public IP address.
pub(crate) fn nic_public_ips(nic: &Resource) -> Vec<String> {
    let mut details = Vec::new();
    match observe(&nic.body, "properties.ipConfigurations") {
        Observed::Value(Value::Array(configs)) => {
            for (i, config) in configs.iter().enumerate() {
                let path = format!("properties.ipConfigurations[{i}].properties.publicIPAddress");
                match observe(config, "properties.publicIPAddress") {
                    Observed::Absent => {}
                    observed @ Observed::Expression(_) => details.push(describe(&path, observed)),
                    Observed::Value(v) => {
                        let target = v
                            .get("id")
                            .map_or_else(|| v.to_string(), |id| id.to_string());
                        details.push(format!(
                            "{path} is set (id {target}); expected no public IP address"
                        ));
                    }
                }
            }
        }
        observed @ Observed::Expression(_) => {
            details.push(describe("properties.ipConfigurations", observed));
        }
        _ => {}
    }
    details
}

#[cfg(test)]
mod tests {
    use super::covers_management_port;

    #[test]
    fn port_ranges_cover_management_ports() {
        for yes in ["22", "3389", "*", "20-30", "3000-4000", " 1-65535 "] {
            assert!(covers_management_port(yes), "{yes}");
        }
        for no in ["443", "23-3388", "3390-4000", "abc", "", "80-"] {
            assert!(!covers_management_port(no), "{no}");
        }
    }
}
