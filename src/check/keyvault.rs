//! Key Vault rules: keys and secrets survive deletion, access is by Entra RBAC, and the vault is reachable only
//! through private endpoints.
//!
//! Every property must be set explicitly: `enableSoftDelete` defaults to true only on newer apiVersions,
//! `enablePurgeProtection` and `enableRbacAuthorization` have no compliant default on the apiVersions in use,
//! and `publicNetworkAccess` defaults to Enabled. Stating them keeps the template readable as evidence.

use super::estate::{str_is, Absent, Estate, Requirement};
use super::{ncsc, Finding, Rule};

pub(crate) const KV_001: Rule = Rule {
    id: "TP-KV-001",
    reason: "Key Vaults must keep deleted keys and secrets recoverable (soft delete)",
    principle: ncsc::ASSET_PROTECTION,
    fix: "Set properties.enableSoftDelete to true",
};

pub(crate) const KV_002: Rule = Rule {
    id: "TP-KV-002",
    reason: "Key Vaults must not allow deleted keys to be purged before retention ends (purge protection)",
    principle: ncsc::ASSET_PROTECTION,
    fix: "Set properties.enablePurgeProtection to true",
};

pub(crate) const KV_003: Rule = Rule {
    id: "TP-KV-003",
    reason:
        "Key Vault data access must be granted through Entra ID RBAC, not vault access policies",
    principle: ncsc::USER_MANAGEMENT,
    fix: "Set properties.enableRbacAuthorization to true and grant Key Vault data roles",
};

pub(crate) const KV_004: Rule = Rule {
    id: "TP-KV-004",
    reason: "Key Vaults must not be reachable from the public internet",
    principle: ncsc::EXTERNAL_INTERFACE,
    fix: "Set properties.publicNetworkAccess to \"Disabled\" and use a private endpoint",
};

const KEY_VAULT: &str = "Microsoft.KeyVault/vaults";

const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        rule: &KV_001,
        path: "properties.enableSoftDelete",
        expected: "true",
        ok: |v| v.as_bool() == Some(true),
        absent: Absent::Violation,
    },
    Requirement {
        rule: &KV_002,
        path: "properties.enablePurgeProtection",
        expected: "true",
        ok: |v| v.as_bool() == Some(true),
        absent: Absent::Violation,
    },
    Requirement {
        rule: &KV_003,
        path: "properties.enableRbacAuthorization",
        expected: "true",
        ok: |v| v.as_bool() == Some(true),
        absent: Absent::Violation,
    },
    Requirement {
        rule: &KV_004,
        path: "properties.publicNetworkAccess",
        expected: "\"Disabled\"",
        ok: |v| str_is(v, "Disabled"),
        absent: Absent::Violation,
    },
];

pub(crate) fn check(estate: &Estate, findings: &mut Vec<Finding>) {
    for resource in estate.of_type(KEY_VAULT) {
        findings.extend(REQUIREMENTS.iter().filter_map(|r| r.check(resource)));
    }
}
