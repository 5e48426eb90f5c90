//! What the local cloud knows about Azure: public region names and the resource types it accepts, with their
//! api-versions. Real ARM asks each resource provider; we answer from this table so that an unknown type, an
//! api-version the type never had, or a region the type is not offered in fails with ARM's own error codes.

use super::errors::ArmError;

/// Azure public regions: (name, display name).
pub const REGIONS: &[(&str, &str)] = &[
    ("uksouth", "UK South"),
    ("ukwest", "UK West"),
    ("northeurope", "North Europe"),
    ("westeurope", "West Europe"),
    ("francecentral", "France Central"),
    ("francesouth", "France South"),
    ("germanywestcentral", "Germany West Central"),
    ("germanynorth", "Germany North"),
    ("norwayeast", "Norway East"),
    ("norwaywest", "Norway West"),
    ("swedencentral", "Sweden Central"),
    ("switzerlandnorth", "Switzerland North"),
    ("switzerlandwest", "Switzerland West"),
    ("polandcentral", "Poland Central"),
    ("italynorth", "Italy North"),
    ("spaincentral", "Spain Central"),
    ("eastus", "East US"),
    ("eastus2", "East US 2"),
    ("centralus", "Central US"),
    ("northcentralus", "North Central US"),
    ("southcentralus", "South Central US"),
    ("westcentralus", "West Central US"),
    ("westus", "West US"),
    ("westus2", "West US 2"),
    ("westus3", "West US 3"),
    ("canadacentral", "Canada Central"),
    ("canadaeast", "Canada East"),
    ("brazilsouth", "Brazil South"),
    ("mexicocentral", "Mexico Central"),
    ("australiaeast", "Australia East"),
    ("australiasoutheast", "Australia Southeast"),
    ("australiacentral", "Australia Central"),
    ("eastasia", "East Asia"),
    ("southeastasia", "Southeast Asia"),
    ("japaneast", "Japan East"),
    ("japanwest", "Japan West"),
    ("koreacentral", "Korea Central"),
    ("koreasouth", "Korea South"),
    ("centralindia", "Central India"),
    ("southindia", "South India"),
    ("westindia", "West India"),
    ("uaenorth", "UAE North"),
    ("qatarcentral", "Qatar Central"),
    ("israelcentral", "Israel Central"),
    ("southafricanorth", "South Africa North"),
];

/// Where a resource type may be placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Any region in [`REGIONS`].
    Regional,
    /// Only `global` (or no location at all).
    Global,
    /// Either a region or `global` (e.g. DNS-like or alerting types).
    RegionalOrGlobal,
    /// No location: extension and settings resources (role assignments, pricings, diagnostic settings).
    None,
}

/// One resource type the emulator accepts.
#[derive(Debug, Clone, Copy)]
pub struct TypeInfo {
    /// Canonical casing, e.g. `Microsoft.Storage/storageAccounts`.
    pub name: &'static str,
    pub api_versions: &'static [&'static str],
    pub placement: Placement,
}

const NET: &[&str] = &[
    "2019-11-01",
    "2020-05-01",
    "2020-06-01",
    "2020-11-01",
    "2021-02-01",
    "2021-03-01",
    "2021-05-01",
    "2021-08-01",
    "2022-01-01",
    "2022-05-01",
    "2022-07-01",
    "2022-09-01",
    "2022-11-01",
    "2023-02-01",
    "2023-04-01",
    "2023-05-01",
    "2023-06-01",
    "2023-09-01",
    "2023-11-01",
    "2024-01-01",
    "2024-03-01",
    "2024-05-01",
    "2024-07-01",
    "2024-10-01",
    "2025-01-01",
    "2025-03-01",
    "2025-05-01",
];
const COMPUTE: &[&str] = &[
    "2019-07-01",
    "2020-06-01",
    "2020-12-01",
    "2021-03-01",
    "2021-04-01",
    "2021-07-01",
    "2021-11-01",
    "2022-03-01",
    "2022-08-01",
    "2022-11-01",
    "2023-03-01",
    "2023-07-01",
    "2023-09-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-04-01",
];
const DISKS: &[&str] = &[
    "2019-07-01",
    "2020-12-01",
    "2021-04-01",
    "2021-08-01",
    "2021-12-01",
    "2022-03-02",
    "2022-07-02",
    "2023-01-02",
    "2023-04-02",
    "2023-10-02",
    "2024-03-02",
    "2025-01-02",
];
const STORAGE: &[&str] = &[
    "2019-06-01",
    "2021-01-01",
    "2021-04-01",
    "2021-06-01",
    "2021-08-01",
    "2021-09-01",
    "2022-05-01",
    "2022-09-01",
    "2023-01-01",
    "2023-04-01",
    "2023-05-01",
    "2024-01-01",
    "2025-01-01",
];
const KV: &[&str] = &[
    "2019-09-01",
    "2021-04-01-preview",
    "2021-10-01",
    "2022-07-01",
    "2022-11-01",
    "2023-02-01",
    "2023-07-01",
    "2024-11-01",
    "2024-12-01-preview",
];
const AUTHZ_POLICY: &[&str] = &[
    "2019-09-01",
    "2020-09-01",
    "2021-06-01",
    "2022-06-01",
    "2023-04-01",
    "2024-04-01",
    "2024-05-01",
    "2025-01-01",
    "2025-03-01",
];
const AUTHZ_ROLE: &[&str] = &[
    "2018-09-01-preview",
    "2020-04-01-preview",
    "2020-10-01-preview",
    "2022-04-01",
    "2022-05-01-preview",
    "2022-05-01",
];
const RESOURCES: &[&str] = &[
    "2019-10-01",
    "2020-06-01",
    "2020-10-01",
    "2021-01-01",
    "2021-04-01",
    "2022-09-01",
    "2023-07-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-03-01",
    "2025-04-01",
    "2026-06-01",
];
const INSIGHTS_DIAG: &[&str] = &["2017-05-01-preview", "2021-05-01-preview", "2024-03-01"];
const INSIGHTS_ALERTS: &[&str] = &[
    "2018-03-01",
    "2019-06-01",
    "2021-10-01",
    "2022-06-01",
    "2023-01-01",
    "2023-09-01-preview",
    "2024-02-01",
];
const LOGS: &[&str] = &[
    "2020-08-01",
    "2020-10-01",
    "2021-06-01",
    "2021-12-01-preview",
    "2022-10-01",
    "2023-09-01",
    "2025-02-01",
];
const RECOVERY: &[&str] = &[
    "2021-06-01",
    "2022-01-01",
    "2022-10-01",
    "2023-01-01",
    "2023-04-01",
    "2023-06-01",
    "2023-08-01",
    "2024-01-01",
    "2024-04-01",
    "2024-10-01",
    "2025-01-01",
    "2025-02-01",
];
const SQL: &[&str] = &[
    "2021-02-01-preview",
    "2021-11-01",
    "2022-05-01-preview",
    "2023-05-01-preview",
    "2023-08-01",
    "2024-05-01-preview",
];
const SQLVM: &[&str] = &[
    "2017-03-01-preview",
    "2022-02-01",
    "2022-08-01-preview",
    "2023-10-01",
];
const MANAGED_ID: &[&str] = &[
    "2018-11-30",
    "2022-01-31-preview",
    "2023-01-31",
    "2023-07-31-preview",
    "2024-11-30",
];
const SECURITY: &[&str] = &["2018-06-01", "2022-03-01", "2023-01-01", "2024-01-01"];
const SECURITY_CONTACTS: &[&str] = &["2020-01-01-preview", "2023-12-01-preview"];
const CONSUMPTION: &[&str] = &[
    "2019-10-01",
    "2021-10-01",
    "2023-05-01",
    "2023-11-01",
    "2024-08-01",
];
const MAINT: &[&str] = &[
    "2021-05-01",
    "2022-07-01-preview",
    "2023-04-01",
    "2023-09-01-preview",
    "2023-10-01-preview",
];
const DESKTOP: &[&str] = &[
    "2021-07-12",
    "2022-09-09",
    "2023-09-05",
    "2024-04-03",
    "2024-04-08-preview",
];
const OPS: &[&str] = &["2015-11-01-preview"];
const SECINSIGHTS: &[&str] = &[
    "2022-11-01",
    "2023-02-01",
    "2023-11-01",
    "2024-03-01",
    "2024-09-01",
    "2025-06-01",
];
const LIGHTHOUSE: &[&str] = &[
    "2019-09-01",
    "2020-02-01-preview",
    "2022-01-01-preview",
    "2022-10-01",
];
const DNS: &[&str] = &["2018-09-01", "2020-01-01", "2020-06-01", "2024-06-01"];
const AUTOMATION: &[&str] = &[
    "2020-01-13-preview",
    "2022-08-08",
    "2023-11-01",
    "2024-10-23",
];
const WEB: &[&str] = &[
    "2021-02-01",
    "2022-03-01",
    "2022-09-01",
    "2023-01-01",
    "2023-12-01",
    "2024-04-01",
    "2024-11-01",
];
const DNS_RESOLVER: &[&str] = &[
    "2020-04-01-preview",
    "2022-07-01",
    "2023-07-01-preview",
    "2025-05-01",
];
const LOCKS: &[&str] = &["2016-09-01", "2020-05-01"];
const DCR: &[&str] = &["2021-04-01", "2022-06-01", "2023-03-11"];

use Placement::{Global, None as NoLoc, Regional, RegionalOrGlobal};

/// The resource types the emulator accepts (generous: every type the exemplar blueprint uses and their
/// neighbours). Child types are listed with their full path.
pub const TYPES: &[TypeInfo] = &[
    t("Microsoft.Resources/resourceGroups", RESOURCES, Regional),
    t("Microsoft.Resources/deployments", RESOURCES, RegionalOrGlobal),
    t("Microsoft.Resources/tags", RESOURCES, NoLoc),
    t("Microsoft.Resources/deploymentScripts", &["2020-10-01", "2023-08-01"], Regional),
    t("Microsoft.Authorization/policyAssignments", AUTHZ_POLICY, RegionalOrGlobal),
    t("Microsoft.Authorization/policyDefinitions", AUTHZ_POLICY, NoLoc),
    t("Microsoft.Authorization/policySetDefinitions", AUTHZ_POLICY, NoLoc),
    t("Microsoft.Authorization/policyExemptions", &["2020-07-01-preview", "2022-07-01-preview", "2024-12-01-preview"], NoLoc),
    t("Microsoft.Authorization/roleAssignments", AUTHZ_ROLE, NoLoc),
    t("Microsoft.Authorization/roleDefinitions", AUTHZ_ROLE, NoLoc),
    t("Microsoft.Authorization/locks", LOCKS, NoLoc),
    t("Microsoft.ManagedServices/registrationDefinitions", LIGHTHOUSE, NoLoc),
    t("Microsoft.ManagedServices/registrationAssignments", LIGHTHOUSE, NoLoc),
    t("Microsoft.Security/pricings", &["2018-06-01", "2022-03-01", "2023-01-01", "2024-01-01"], NoLoc),
    t("Microsoft.Security/securityContacts", SECURITY_CONTACTS, NoLoc),
    t("Microsoft.Security/autoProvisioningSettings", &["2017-08-01-preview"], NoLoc),
    t("Microsoft.Security/workspaceSettings", &["2017-08-01-preview"], NoLoc),
    t("Microsoft.Security/settings", &["2019-01-01", "2021-06-01", "2022-05-01"], NoLoc),
    t("Microsoft.Security/assessments", SECURITY, NoLoc),
    t("Microsoft.Consumption/budgets", CONSUMPTION, NoLoc),
    t("Microsoft.Network/virtualNetworks", NET, Regional),
    t("Microsoft.Network/virtualNetworks/subnets", NET, NoLoc),
    t("Microsoft.Network/virtualNetworks/virtualNetworkPeerings", NET, NoLoc),
    t("Microsoft.Network/networkSecurityGroups", NET, Regional),
    t("Microsoft.Network/networkSecurityGroups/securityRules", NET, NoLoc),
    t("Microsoft.Network/routeTables", NET, Regional),
    t("Microsoft.Network/routeTables/routes", NET, NoLoc),
    t("Microsoft.Network/publicIPAddresses", NET, Regional),
    t("Microsoft.Network/publicIPPrefixes", NET, Regional),
    t("Microsoft.Network/networkInterfaces", NET, Regional),
    t("Microsoft.Network/azureFirewalls", NET, Regional),
    t("Microsoft.Network/firewallPolicies", NET, Regional),
    t("Microsoft.Network/firewallPolicies/ruleCollectionGroups", NET, NoLoc),
    t("Microsoft.Network/bastionHosts", NET, Regional),
    t("Microsoft.Network/virtualNetworkGateways", NET, Regional),
    t("Microsoft.Network/localNetworkGateways", NET, Regional),
    t("Microsoft.Network/connections", NET, Regional),
    t("Microsoft.Network/expressRouteCircuits", NET, Regional),
    t("Microsoft.Network/natGateways", NET, Regional),
    t("Microsoft.Network/loadBalancers", NET, Regional),
    t("Microsoft.Network/applicationGateways", NET, Regional),
    t("Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies", NET, Regional),
    t("Microsoft.Network/privateEndpoints", NET, Regional),
    t("Microsoft.Network/privateEndpoints/privateDnsZoneGroups", NET, NoLoc),
    t("Microsoft.Network/privateDnsZones", DNS, Global),
    t("Microsoft.Network/privateDnsZones/virtualNetworkLinks", DNS, Global),
    t("Microsoft.Network/privateDnsZones/A", DNS, NoLoc),
    t("Microsoft.Network/dnsZones", DNS, Global),
    t("Microsoft.Network/ddosProtectionPlans", NET, Regional),
    t("Microsoft.Network/dnsResolvers", DNS_RESOLVER, Regional),
    t("Microsoft.Network/dnsResolvers/inboundEndpoints", DNS_RESOLVER, Regional),
    t("Microsoft.Network/dnsResolvers/outboundEndpoints", DNS_RESOLVER, Regional),
    t("Microsoft.Network/dnsForwardingRulesets", DNS_RESOLVER, Regional),
    t("Microsoft.Network/dnsForwardingRulesets/forwardingRules", DNS_RESOLVER, NoLoc),
    t("Microsoft.Network/dnsForwardingRulesets/virtualNetworkLinks", DNS_RESOLVER, NoLoc),
    t("Microsoft.Network/networkWatchers", NET, Regional),
    t("Microsoft.Network/networkWatchers/flowLogs", NET, Regional),
    t("Microsoft.Network/applicationSecurityGroups", NET, Regional),
    t("Microsoft.Compute/virtualMachines", COMPUTE, Regional),
    t("Microsoft.Compute/virtualMachines/extensions", COMPUTE, Regional),
    t("Microsoft.Compute/virtualMachineScaleSets", COMPUTE, Regional),
    t("Microsoft.Compute/availabilitySets", COMPUTE, Regional),
    t("Microsoft.Compute/proximityPlacementGroups", COMPUTE, Regional),
    t("Microsoft.Compute/disks", DISKS, Regional),
    t("Microsoft.Compute/snapshots", DISKS, Regional),
    t("Microsoft.Compute/diskEncryptionSets", DISKS, Regional),
    t("Microsoft.Compute/images", COMPUTE, Regional),
    t("Microsoft.Compute/galleries", &["2021-10-01", "2022-03-03", "2022-08-03", "2023-07-03", "2024-03-03"], Regional),
    t("Microsoft.Storage/storageAccounts", STORAGE, Regional),
    t("Microsoft.Storage/storageAccounts/blobServices", STORAGE, NoLoc),
    t("Microsoft.Storage/storageAccounts/blobServices/containers", STORAGE, NoLoc),
    t("Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies", STORAGE, NoLoc),
    t("Microsoft.Storage/storageAccounts/fileServices", STORAGE, NoLoc),
    t("Microsoft.Storage/storageAccounts/fileServices/shares", STORAGE, NoLoc),
    t("Microsoft.Storage/storageAccounts/queueServices", STORAGE, NoLoc),
    t("Microsoft.Storage/storageAccounts/tableServices", STORAGE, NoLoc),
    t("Microsoft.Storage/storageAccounts/managementPolicies", STORAGE, NoLoc),
    t("Microsoft.KeyVault/vaults", KV, Regional),
    t("Microsoft.KeyVault/vaults/keys", KV, NoLoc),
    t("Microsoft.KeyVault/vaults/secrets", KV, NoLoc),
    t("Microsoft.KeyVault/vaults/accessPolicies", KV, NoLoc),
    t("Microsoft.KeyVault/managedHSMs", KV, Regional),
    t("Microsoft.ManagedIdentity/userAssignedIdentities", MANAGED_ID, Regional),
    t("Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials", MANAGED_ID, NoLoc),
    t("Microsoft.Insights/diagnosticSettings", INSIGHTS_DIAG, NoLoc),
    t("Microsoft.Insights/actionGroups", INSIGHTS_ALERTS, RegionalOrGlobal),
    t("Microsoft.Insights/activityLogAlerts", &["2017-04-01", "2020-10-01", "2023-01-01-preview"], RegionalOrGlobal),
    t("Microsoft.Insights/metricAlerts", &["2018-03-01", "2024-03-01-preview"], RegionalOrGlobal),
    t("Microsoft.Insights/scheduledQueryRules", &["2018-04-16", "2021-08-01", "2022-06-15", "2023-03-15-preview", "2023-12-01"], Regional),
    t("Microsoft.Insights/components", &["2015-05-01", "2020-02-02"], Regional),
    t("Microsoft.Insights/dataCollectionRules", DCR, Regional),
    t("Microsoft.Insights/dataCollectionRuleAssociations", DCR, NoLoc),
    t("Microsoft.Insights/dataCollectionEndpoints", DCR, Regional),
    t("Microsoft.Insights/workbooks", &["2021-08-01", "2022-04-01", "2023-06-01"], Regional),
    t("Microsoft.OperationalInsights/workspaces", LOGS, Regional),
    t("Microsoft.OperationalInsights/workspaces/tables", LOGS, NoLoc),
    t("Microsoft.OperationalInsights/workspaces/dataSources", LOGS, NoLoc),
    t("Microsoft.OperationalInsights/workspaces/savedSearches", LOGS, NoLoc),
    t("Microsoft.OperationsManagement/solutions", OPS, Regional),
    t("Microsoft.SecurityInsights/onboardingStates", SECINSIGHTS, NoLoc),
    t("Microsoft.SecurityInsights/dataConnectors", SECINSIGHTS, NoLoc),
    t("Microsoft.SecurityInsights/alertRules", SECINSIGHTS, NoLoc),
    t("Microsoft.RecoveryServices/vaults", RECOVERY, Regional),
    t("Microsoft.RecoveryServices/vaults/backupPolicies", RECOVERY, NoLoc),
    t("Microsoft.RecoveryServices/vaults/backupstorageconfig", RECOVERY, NoLoc),
    t("Microsoft.RecoveryServices/vaults/backupconfig", RECOVERY, NoLoc),
    t("Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems", RECOVERY, NoLoc),
    t("Microsoft.RecoveryServices/vaults/replicationFabrics", RECOVERY, NoLoc),
    t("Microsoft.RecoveryServices/vaults/replicationPolicies", RECOVERY, NoLoc),
    t("Microsoft.RecoveryServices/vaults/replicationFabrics/replicationNetworks/replicationNetworkMappings", RECOVERY, NoLoc),
    t("Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers", RECOVERY, NoLoc),
    t("Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectionContainerMappings", RECOVERY, NoLoc),
    t("Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems", RECOVERY, NoLoc),
    t("Microsoft.DataProtection/backupVaults", &["2022-05-01", "2023-01-01", "2023-05-01", "2024-04-01"], Regional),
    t("Microsoft.Sql/servers", SQL, Regional),
    t("Microsoft.Sql/servers/databases", SQL, Regional),
    t("Microsoft.Sql/servers/firewallRules", SQL, NoLoc),
    t("Microsoft.Sql/servers/auditingSettings", SQL, NoLoc),
    t("Microsoft.Sql/servers/securityAlertPolicies", SQL, NoLoc),
    t("Microsoft.Sql/servers/administrators", SQL, NoLoc),
    t("Microsoft.SqlVirtualMachine/sqlVirtualMachines", SQLVM, Regional),
    t("Microsoft.SqlVirtualMachine/sqlVirtualMachineGroups", SQLVM, Regional),
    t("Microsoft.SqlVirtualMachine/sqlVirtualMachineGroups/availabilityGroupListeners", SQLVM, NoLoc),
    t("Microsoft.Maintenance/maintenanceConfigurations", MAINT, Regional),
    t("Microsoft.Maintenance/configurationAssignments", MAINT, RegionalOrGlobal),
    t("Microsoft.DesktopVirtualization/hostPools", DESKTOP, Regional),
    t("Microsoft.DesktopVirtualization/applicationGroups", DESKTOP, Regional),
    t("Microsoft.DesktopVirtualization/workspaces", DESKTOP, Regional),
    t("Microsoft.DesktopVirtualization/scalingPlans", DESKTOP, Regional),
    t("Microsoft.Automation/automationAccounts", AUTOMATION, Regional),
    t("Microsoft.Web/serverfarms", WEB, Regional),
    t("Microsoft.Web/sites", WEB, Regional),
    t("Microsoft.ContainerRegistry/registries", &["2021-09-01", "2023-07-01", "2023-11-01-preview", "2025-04-01"], Regional),
    t("Microsoft.ContainerService/managedClusters", &["2023-08-01", "2024-02-01", "2024-09-01", "2025-01-01"], Regional),
    t("Microsoft.EventHub/namespaces", &["2021-11-01", "2022-10-01-preview", "2024-01-01"], Regional),
    t("Microsoft.Cache/redis", &["2023-04-01", "2023-08-01", "2024-03-01", "2024-11-01"], Regional),
];

const fn t(
    name: &'static str,
    api_versions: &'static [&'static str],
    placement: Placement,
) -> TypeInfo {
    TypeInfo {
        name,
        api_versions,
        placement,
    }
}

/// Normalise a location as ARM does: `UK South` and `uksouth` are the same region.
pub fn normalize_location(loc: &str) -> String {
    loc.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a (normalised) name is a real Azure region.
pub fn is_region(loc: &str) -> bool {
    REGIONS.iter().any(|(n, _)| *n == loc)
}

/// Look a resource type up by name (case-insensitive).
pub fn find_type(resource_type: &str) -> Option<&'static TypeInfo> {
    TYPES
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(resource_type))
}

/// Check a type and api-version as ARM's front door does, returning the type's entry.
pub fn check_type(resource_type: &str, api_version: &str) -> Result<&'static TypeInfo, ArmError> {
    let (namespace, rest) = resource_type.split_once('/').unwrap_or((resource_type, ""));
    let Some(info) = find_type(resource_type) else {
        let ns_known = TYPES.iter().any(|t| {
            t.name
                .split_once('/')
                .is_some_and(|(ns, _)| ns.eq_ignore_ascii_case(namespace))
        });
        if !ns_known {
            return Err(ArmError::bad_request(
                "InvalidResourceNamespace",
                format!("The resource namespace '{namespace}' is invalid."),
            ));
        }
        return Err(ArmError::bad_request(
            "InvalidResourceType",
            format!(
                "The resource type '{rest}' could not be found in the namespace '{namespace}' for api version '{api_version}'."
            ),
        ));
    };
    if !info.api_versions.contains(&api_version) {
        let short = info.name.split_once('/').map_or(info.name, |(_, r)| r);
        return Err(ArmError::bad_request(
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location 'uksouth' and API version '{api_version}' for type '{short}'. The supported api-versions are '{}'. The supported locations are '{}'.",
                info.api_versions.join(", "),
                REGIONS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Ok(info)
}

/// Check a resource's location against where its type may be placed.
pub fn check_location(info: &TypeInfo, location: Option<&str>) -> Result<(), ArmError> {
    let Some(raw) = location else {
        return match info.placement {
            Placement::Regional => Err(ArmError::bad_request(
                "LocationRequired",
                "The location property is required for this definition.",
            )),
            _ => Ok(()),
        };
    };
    let loc = normalize_location(raw);
    let ok = match info.placement {
        Placement::Regional => is_region(&loc),
        Placement::Global => loc == "global",
        Placement::RegionalOrGlobal | Placement::None => loc == "global" || is_region(&loc),
    };
    if ok {
        return Ok(());
    }
    let available = match info.placement {
        Placement::Global => "global".to_string(),
        _ => REGIONS
            .iter()
            .map(|(_, d)| *d)
            .collect::<Vec<_>>()
            .join(","),
    };
    Err(ArmError::bad_request(
        "LocationNotAvailableForResourceType",
        format!(
            "The provided location '{raw}' is not available for resource type '{}'. List of available regions for the resource type is '{available}'.",
            info.name
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_found_case_insensitively_and_api_versions_checked() {
        let info = check_type("microsoft.storage/STORAGEACCOUNTS", "2023-05-01").unwrap();
        assert_eq!(info.name, "Microsoft.Storage/storageAccounts");
        let e = check_type("Microsoft.Storage/storageAccounts", "2099-01-01").unwrap_err();
        assert_eq!(e.code, "NoRegisteredProviderFound");
        assert_eq!(
            check_type("Microsoft.Storage/bogus", "2023-05-01")
                .unwrap_err()
                .code,
            "InvalidResourceType"
        );
        assert_eq!(
            check_type("Contoso.Widgets/gadgets", "2023-05-01")
                .unwrap_err()
                .code,
            "InvalidResourceNamespace"
        );
    }

    #[test]
    fn locations_are_normalised_and_checked_against_real_regions() {
        let info = find_type("Microsoft.Storage/storageAccounts").unwrap();
        assert!(check_location(info, Some("UK South")).is_ok());
        let e = check_location(info, Some("moon")).unwrap_err();
        assert_eq!(e.code, "LocationNotAvailableForResourceType");
        assert!(e.message.starts_with("The provided location 'moon' is not available for resource type 'Microsoft.Storage/storageAccounts'."));
        let dns = find_type("Microsoft.Network/privateDnsZones").unwrap();
        assert!(check_location(dns, Some("global")).is_ok());
        assert!(check_location(dns, Some("uksouth")).is_err());
    }

    #[test]
    fn every_type_has_api_versions_and_a_namespace() {
        for t in TYPES {
            assert!(!t.api_versions.is_empty(), "{}", t.name);
            assert!(t.name.contains('/'), "{}", t.name);
        }
    }
}
