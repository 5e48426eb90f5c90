//! SQL rules: Azure SQL servers, managed instances and SQL Server VMs have no public endpoint, databases are
//! encrypted at rest, and servers are audited.
//!
//! Defaults: a database without a `transparentDataEncryption` child is encrypted (Azure enables TDE on every
//! new database since 2017 and the child only exists to change that), so only a TDE child that is not Enabled
//! is a violation. `publicDataEndpointEnabled` on a managed instance defaults to false. A SQL VM without
//! `sqlConnectivityUpdateSettings` leaves SQL Server's connectivity as installed (local and private), so only an
//! explicit `PUBLIC` is a violation. `publicNetworkAccess` on a server defaults to Enabled and must be set.

use super::estate::{describe, observe, quote, str_is, Absent, Estate, Observed, Requirement};
use super::network::nic_public_ips;
use super::{ncsc, Finding, Rule};
use serde_json::Value;

pub(crate) const SQL_001: Rule = Rule {
    id: "TP-SQL-001",
    reason: "Azure SQL servers must not accept connections from the public internet",
    principle: ncsc::EXTERNAL_INTERFACE,
    fix: "Set properties.publicNetworkAccess to \"Disabled\" and use a private endpoint",
};

pub(crate) const SQL_002: Rule = Rule {
    id: "TP-SQL-002",
    reason: "SQL databases must be encrypted at rest with transparent data encryption",
    principle: ncsc::ASSET_PROTECTION,
    fix: "Set properties.state of the database's transparentDataEncryption resource to \"Enabled\" (or remove it: TDE is on by default)",
};

pub(crate) const SQL_003: Rule = Rule {
    id: "TP-SQL-003",
    reason: "Azure SQL servers must audit database activity",
    principle: ncsc::AUDIT,
    fix: "Add a Microsoft.Sql/servers/auditingSettings child named default with properties.state \"Enabled\" sending to the trust's Log Analytics workspace",
};

pub(crate) const SQL_004: Rule = Rule {
    id: "TP-SQL-004",
    reason: "SQL managed instances must not expose a public data endpoint",
    principle: ncsc::EXTERNAL_INTERFACE,
    fix: "Set properties.publicDataEndpointEnabled to false",
};

pub(crate) const SQL_005: Rule = Rule {
    id: "TP-SQL-005",
    reason: "SQL Server VMs must not open SQL Server to public connectivity",
    principle: ncsc::EXTERNAL_INTERFACE,
    fix: "Set properties.serverConfigurationsManagementSettings.sqlConnectivityUpdateSettings.connectivityType to \"PRIVATE\"",
};

pub(crate) const SQL_006: Rule = Rule {
    id: "TP-SQL-006",
    reason: "The VM behind a SQL Server VM must have no public IP address",
    principle: ncsc::EXTERNAL_INTERFACE,
    fix: "Remove publicIPAddress from the VM's network interfaces; reach it through Bastion or the HSCN gateway",
};

const SERVERS: &str = "Microsoft.Sql/servers";
const TDE: &str = "Microsoft.Sql/servers/databases/transparentDataEncryption";
const AUDITING: &[&str] = &[
    "Microsoft.Sql/servers/auditingSettings",
    "Microsoft.Sql/servers/extendedAuditingSettings",
];
const MANAGED_INSTANCES: &str = "Microsoft.Sql/managedInstances";
const SQL_VMS: &str = "Microsoft.SqlVirtualMachine/sqlVirtualMachines";

const SERVER_PUBLIC: Requirement = Requirement {
    rule: &SQL_001,
    path: "properties.publicNetworkAccess",
    expected: "\"Disabled\"",
    ok: |v| str_is(v, "Disabled"),
    absent: Absent::Violation,
};

const TDE_STATE: Requirement = Requirement {
    rule: &SQL_002,
    path: "properties.state",
    expected: "\"Enabled\"",
    ok: |v| str_is(v, "Enabled"),
    absent: Absent::Violation,
};

const MI_PUBLIC: Requirement = Requirement {
    rule: &SQL_004,
    path: "properties.publicDataEndpointEnabled",
    expected: "false",
    ok: |v| v.as_bool() == Some(false),
    absent: Absent::Compliant,
};

const SQL_VM_CONNECTIVITY: Requirement = Requirement {
    rule: &SQL_005,
    path: "properties.serverConfigurationsManagementSettings.sqlConnectivityUpdateSettings.connectivityType",
    expected: "\"PRIVATE\" or \"LOCAL\"",
    ok: |v| !str_is(v, "PUBLIC"),
    absent: Absent::Compliant,
};

pub(crate) fn check(estate: &Estate, findings: &mut Vec<Finding>) {
    for server in estate.of_type(SERVERS) {
        findings.extend(SERVER_PUBLIC.check(server));
        check_auditing(estate, server, findings);
    }
    for tde in estate.of_type(TDE) {
        findings.extend(TDE_STATE.check(tde));
    }
    for mi in estate.of_type(MANAGED_INSTANCES) {
        findings.extend(MI_PUBLIC.check(mi));
    }
    for sql_vm in estate.of_type(SQL_VMS) {
        findings.extend(SQL_VM_CONNECTIVITY.check(sql_vm));
        check_sql_vm_public_ip(estate, sql_vm, findings);
    }
}

fn check_auditing(estate: &Estate, server: &crate::model::Resource, findings: &mut Vec<Finding>) {
    let mut seen = Vec::new();
    for ty in AUDITING {
        for setting in estate.children(server, ty) {
            match observe(&setting.body, "properties.state") {
                Observed::Value(v) if str_is(v, "Enabled") => return,
                observed => seen.push(format!(
                    "{}: {}",
                    setting.name,
                    describe("properties.state", observed)
                )),
            }
        }
    }
    let detail = if seen.is_empty() {
        "no Microsoft.Sql/servers/auditingSettings child resource; expected one with properties.state \"Enabled\"".to_owned()
    } else {
        format!(
            "no auditing setting is enabled ({}); expected properties.state \"Enabled\"",
            seen.join("; ")
        )
    };
    findings.push(Finding::new(&SQL_003, server, detail));
}

fn check_sql_vm_public_ip(
    estate: &Estate,
    sql_vm: &crate::model::Resource,
    findings: &mut Vec<Finding>,
) {
    const VM_PATH: &str = "properties.virtualMachineResourceId";
    let vm_id = match observe(&sql_vm.body, VM_PATH) {
        Observed::Value(Value::String(id)) => id,
        observed => {
            findings.push(Finding::new(
                &SQL_006,
                sql_vm,
                format!(
                    "{}; expected the id of a virtual machine declared in the blueprint",
                    describe(VM_PATH, observed)
                ),
            ));
            return;
        }
    };
    let Some(vm) = estate.get(vm_id) else {
        findings.push(Finding::new(
            &SQL_006,
            sql_vm,
            format!(
                "{VM_PATH} is {}, which is not among the checked resources, so its network interfaces cannot be verified",
                quote(vm_id)
            ),
        ));
        return;
    };
    let nics = vm
        .body
        .pointer("/properties/networkProfile/networkInterfaces")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, nic_ref) in nics.iter().enumerate() {
        let path = format!("properties.networkProfile.networkInterfaces[{i}].id");
        let nic_id = match observe(nic_ref, "id") {
            Observed::Value(Value::String(id)) => id,
            observed => {
                findings.push(Finding::new(
                    &SQL_006,
                    sql_vm,
                    format!("virtual machine {}: {}", vm.id, describe(&path, observed)),
                ));
                continue;
            }
        };
        let Some(nic) = estate.get(nic_id) else {
            findings.push(Finding::new(
                &SQL_006,
                sql_vm,
                format!(
                    "virtual machine {}: {path} is {}, which is not among the checked resources, so it cannot be verified",
                    vm.id,
                    quote(nic_id)
                ),
            ));
            continue;
        };
        for public_ip in nic_public_ips(nic) {
            findings.push(Finding::new(
                &SQL_006,
                sql_vm,
                format!(
                    "virtual machine {} network interface {}: {public_ip}",
                    vm.id, nic.id
                ),
            ));
        }
    }
}
