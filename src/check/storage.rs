//! Storage account rules: encrypted transport and no anonymous or internet-wide access.
//!
//! Defaults: `supportsHttpsTrafficOnly` defaults to true from apiVersion 2019-04-01 (documented in the
//! `Microsoft.Storage/storageAccounts` template reference), so an absent value passes from that apiVersion on.
//! `minimumTlsVersion`, `allowBlobPublicAccess` and `networkAcls.defaultAction` must be set explicitly: their
//! defaults have changed over time or are insecure (`defaultAction` defaults to Allow).

use super::estate::{str_is, Absent, Estate, Requirement};
use super::{ncsc, Finding, Rule};

pub(crate) const STG_001: Rule = Rule {
    id: "TP-STG-001",
    reason: "Storage accounts must refuse unencrypted HTTP so data is protected in transit",
    principle: ncsc::DATA_IN_TRANSIT,
    fix: "Set properties.supportsHttpsTrafficOnly to true",
};

pub(crate) const STG_002: Rule = Rule {
    id: "TP-STG-002",
    reason: "Storage accounts must refuse TLS versions older than 1.2",
    principle: ncsc::DATA_IN_TRANSIT,
    fix: "Set properties.minimumTlsVersion to \"TLS1_2\"",
};

pub(crate) const STG_003: Rule = Rule {
    id: "TP-STG-003",
    reason: "Storage accounts must not allow anonymous public read access to blobs",
    principle: ncsc::EXTERNAL_INTERFACE,
    fix: "Set properties.allowBlobPublicAccess to false",
};

pub(crate) const STG_004: Rule = Rule {
    id: "TP-STG-004",
    reason: "Storage accounts must deny network access by default and admit only named networks",
    principle: ncsc::EXTERNAL_INTERFACE,
    fix: "Set properties.networkAcls.defaultAction to \"Deny\" and reach the account through a private endpoint or allowed subnets",
};

const STORAGE: &str = "Microsoft.Storage/storageAccounts";

const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        rule: &STG_001,
        path: "properties.supportsHttpsTrafficOnly",
        expected: "true",
        ok: |v| v.as_bool() == Some(true),
        absent: Absent::CompliantSince("2019-04-01"),
    },
    Requirement {
        rule: &STG_002,
        path: "properties.minimumTlsVersion",
        expected: "\"TLS1_2\" or \"TLS1_3\"",
        ok: |v| str_is(v, "TLS1_2") || str_is(v, "TLS1_3"),
        absent: Absent::Violation,
    },
    Requirement {
        rule: &STG_003,
        path: "properties.allowBlobPublicAccess",
        expected: "false",
        ok: |v| v.as_bool() == Some(false),
        absent: Absent::Violation,
    },
    Requirement {
        rule: &STG_004,
        path: "properties.networkAcls.defaultAction",
        expected: "\"Deny\"",
        ok: |v| str_is(v, "Deny"),
        absent: Absent::Violation,
    },
];

pub(crate) fn check(estate: &Estate, findings: &mut Vec<Finding>) {
    for resource in estate.of_type(STORAGE) {
        findings.extend(REQUIREMENTS.iter().filter_map(|r| r.check(resource)));
    }
}
