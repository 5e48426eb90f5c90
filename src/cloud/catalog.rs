//! What the local cloud knows about Azure: public region names and the resource types it accepts, with their
//! api-versions. Real ARM asks each resource provider; we answer from Microsoft's published catalogue
//! (3,475 types, embedded gzipped from `data/arm-catalog/`) so that an unknown namespace or type, an api-version
//! later than the type's newest or not an api-version at all, or a region the type is not offered in fails with
//! ARM's own error codes and messages.

use super::errors::ArmError;
use flate2::read::GzDecoder;
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::OnceLock;

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
    /// Any region in [`REGIONS`]; a location is required.
    Regional,
    /// Only `global` (or no location at all).
    Global,
    /// Either a region or `global` (e.g. DNS-like or alerting types).
    RegionalOrGlobal,
    /// No location: extension and settings resources (role assignments, pricings, diagnostic settings).
    None,
    /// A type whose placement this table does not record: a location is optional and, when given, must be a
    /// region or `global` (ARM's catalogue knows more, but refusing a valid deployment is the worse error).
    Unrecorded,
}

/// One resource type the emulator accepts.
#[derive(Debug, Clone)]
pub struct TypeInfo {
    /// Canonical casing, e.g. `Microsoft.Storage/storageAccounts`.
    pub name: &'static str,
    /// The api-versions Microsoft's specifications list, oldest first.
    pub api_versions: Vec<&'static str>,
    pub placement: Placement,
}

impl TypeInfo {
    /// The newest api-version the catalogue lists.
    pub fn newest(&self) -> &'static str {
        self.api_versions.last().copied().unwrap_or("")
    }

    /// Whether ARM would route this api-version to the type's provider: any version the catalogue lists, or a
    /// well-formed version no later than the newest listed (providers register older versions that no
    /// published specification lists, such as `Microsoft.Resources/deployments` 2015-01-01).
    pub fn accepts(&self, api_version: &str) -> bool {
        if self
            .api_versions
            .iter()
            .any(|v| v.eq_ignore_ascii_case(api_version))
        {
            return true;
        }
        let (Some(asked), Some(newest)) = (
            ApiVersion::parse(api_version),
            ApiVersion::parse(self.newest()),
        ) else {
            return false;
        };
        asked.date <= newest.date
    }

    /// The listed api-versions nearest to `api_version` (by date), newest first, at most `n`.
    pub fn nearest_versions(&self, api_version: &str, n: usize) -> Vec<&'static str> {
        let Some(asked) = ApiVersion::parse(api_version) else {
            return self.api_versions.iter().rev().take(n).copied().collect();
        };
        let mut by_distance: Vec<(u32, usize, &'static str)> = self
            .api_versions
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                ApiVersion::parse(v).map(|p| (p.days().abs_diff(asked.days()), i, *v))
            })
            .collect();
        by_distance.sort_unstable();
        by_distance.truncate(n);
        by_distance.sort_unstable_by_key(|d| std::cmp::Reverse(d.1));
        by_distance.into_iter().map(|(_, _, v)| v).collect()
    }
}

/// An api-version as ARM writes them: `YYYY-MM-DD` with an optional suffix (`-preview`, `-beta`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersion {
    /// `(year, month, day)`.
    pub date: (u32, u32, u32),
    pub preview: bool,
}

impl ApiVersion {
    /// Parse a well-formed api-version; `None` for anything else (`2020-13-01`, `latest`, `2020-1-1`).
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let (date, suffix) = match text.get(10..) {
            Some("") => (text, None),
            Some(rest) => (&text[..10], Some(rest.strip_prefix('-')?)),
            None => return None,
        };
        if let Some(s) = suffix {
            if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
                return None;
            }
        }
        let b = date.as_bytes();
        if b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let s = &date[r];
            s.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse().ok())?
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(2000..=2999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return None;
        }
        Some(ApiVersion {
            date: (y, m, d),
            preview: suffix.is_some(),
        })
    }

    fn days(self) -> u32 {
        let (y, m, d) = self.date;
        y * 372 + m * 31 + d
    }
}

use Placement::{Global, None as NoLoc, Regional, RegionalOrGlobal};

/// Placements this table records (the types the exemplar blueprint uses and their neighbours); every other
/// type in the catalogue is [`Placement::Unrecorded`].
const PLACEMENTS: &[(&str, Placement)] = &[
    ("Microsoft.Resources/resourceGroups", Regional),
    ("Microsoft.Resources/deployments", RegionalOrGlobal),
    ("Microsoft.Resources/tags", NoLoc),
    ("Microsoft.Resources/deploymentScripts", Regional),
    ("Microsoft.Authorization/policyAssignments", RegionalOrGlobal),
    ("Microsoft.Authorization/policyDefinitions", NoLoc),
    ("Microsoft.Authorization/policySetDefinitions", NoLoc),
    ("Microsoft.Authorization/policyExemptions", NoLoc),
    ("Microsoft.Authorization/roleAssignments", NoLoc),
    ("Microsoft.Authorization/roleDefinitions", NoLoc),
    ("Microsoft.Authorization/locks", NoLoc),
    ("Microsoft.ManagedServices/registrationDefinitions", NoLoc),
    ("Microsoft.ManagedServices/registrationAssignments", NoLoc),
    ("Microsoft.Security/pricings", NoLoc),
    ("Microsoft.Security/securityContacts", NoLoc),
    ("Microsoft.Security/autoProvisioningSettings", NoLoc),
    ("Microsoft.Security/workspaceSettings", NoLoc),
    ("Microsoft.Security/settings", NoLoc),
    ("Microsoft.Security/assessments", NoLoc),
    ("Microsoft.Consumption/budgets", NoLoc),
    ("Microsoft.Network/virtualNetworks", Regional),
    ("Microsoft.Network/virtualNetworks/subnets", NoLoc),
    ("Microsoft.Network/virtualNetworks/virtualNetworkPeerings", NoLoc),
    ("Microsoft.Network/networkSecurityGroups", Regional),
    ("Microsoft.Network/networkSecurityGroups/securityRules", NoLoc),
    ("Microsoft.Network/routeTables", Regional),
    ("Microsoft.Network/routeTables/routes", NoLoc),
    ("Microsoft.Network/publicIPAddresses", Regional),
    ("Microsoft.Network/publicIPPrefixes", Regional),
    ("Microsoft.Network/networkInterfaces", Regional),
    ("Microsoft.Network/azureFirewalls", Regional),
    ("Microsoft.Network/firewallPolicies", Regional),
    ("Microsoft.Network/firewallPolicies/ruleCollectionGroups", NoLoc),
    ("Microsoft.Network/bastionHosts", Regional),
    ("Microsoft.Network/virtualNetworkGateways", Regional),
    ("Microsoft.Network/localNetworkGateways", Regional),
    ("Microsoft.Network/connections", Regional),
    ("Microsoft.Network/expressRouteCircuits", Regional),
    ("Microsoft.Network/natGateways", Regional),
    ("Microsoft.Network/loadBalancers", Regional),
    ("Microsoft.Network/applicationGateways", Regional),
    ("Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies", Regional),
    ("Microsoft.Network/privateEndpoints", Regional),
    ("Microsoft.Network/privateEndpoints/privateDnsZoneGroups", NoLoc),
    ("Microsoft.Network/privateDnsZones", Global),
    ("Microsoft.Network/privateDnsZones/virtualNetworkLinks", Global),
    ("Microsoft.Network/privateDnsZones/A", NoLoc),
    ("Microsoft.Network/dnsZones", Global),
    ("Microsoft.Network/ddosProtectionPlans", Regional),
    ("Microsoft.Network/dnsResolvers", Regional),
    ("Microsoft.Network/dnsResolvers/inboundEndpoints", Regional),
    ("Microsoft.Network/dnsResolvers/outboundEndpoints", Regional),
    ("Microsoft.Network/dnsForwardingRulesets", Regional),
    ("Microsoft.Network/dnsForwardingRulesets/forwardingRules", NoLoc),
    ("Microsoft.Network/dnsForwardingRulesets/virtualNetworkLinks", NoLoc),
    ("Microsoft.Network/networkWatchers", Regional),
    ("Microsoft.Network/networkWatchers/flowLogs", Regional),
    ("Microsoft.Network/applicationSecurityGroups", Regional),
    ("Microsoft.Compute/virtualMachines", Regional),
    ("Microsoft.Compute/virtualMachines/extensions", Regional),
    ("Microsoft.Compute/virtualMachineScaleSets", Regional),
    ("Microsoft.Compute/availabilitySets", Regional),
    ("Microsoft.Compute/proximityPlacementGroups", Regional),
    ("Microsoft.Compute/disks", Regional),
    ("Microsoft.Compute/snapshots", Regional),
    ("Microsoft.Compute/diskEncryptionSets", Regional),
    ("Microsoft.Compute/images", Regional),
    ("Microsoft.Compute/galleries", Regional),
    ("Microsoft.Storage/storageAccounts", Regional),
    ("Microsoft.Storage/storageAccounts/blobServices", NoLoc),
    ("Microsoft.Storage/storageAccounts/blobServices/containers", NoLoc),
    ("Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies", NoLoc),
    ("Microsoft.Storage/storageAccounts/fileServices", NoLoc),
    ("Microsoft.Storage/storageAccounts/fileServices/shares", NoLoc),
    ("Microsoft.Storage/storageAccounts/queueServices", NoLoc),
    ("Microsoft.Storage/storageAccounts/tableServices", NoLoc),
    ("Microsoft.Storage/storageAccounts/managementPolicies", NoLoc),
    ("Microsoft.KeyVault/vaults", Regional),
    ("Microsoft.KeyVault/vaults/keys", NoLoc),
    ("Microsoft.KeyVault/vaults/secrets", NoLoc),
    ("Microsoft.KeyVault/vaults/accessPolicies", NoLoc),
    ("Microsoft.KeyVault/managedHSMs", Regional),
    ("Microsoft.ManagedIdentity/userAssignedIdentities", Regional),
    ("Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials", NoLoc),
    ("Microsoft.Insights/diagnosticSettings", NoLoc),
    ("Microsoft.Insights/actionGroups", RegionalOrGlobal),
    ("Microsoft.Insights/activityLogAlerts", RegionalOrGlobal),
    ("Microsoft.Insights/metricAlerts", RegionalOrGlobal),
    ("Microsoft.Insights/scheduledQueryRules", Regional),
    ("Microsoft.Insights/components", Regional),
    ("Microsoft.Insights/dataCollectionRules", Regional),
    ("Microsoft.Insights/dataCollectionRuleAssociations", NoLoc),
    ("Microsoft.Insights/dataCollectionEndpoints", Regional),
    ("Microsoft.Insights/workbooks", Regional),
    ("Microsoft.OperationalInsights/workspaces", Regional),
    ("Microsoft.OperationalInsights/workspaces/tables", NoLoc),
    ("Microsoft.OperationalInsights/workspaces/dataSources", NoLoc),
    ("Microsoft.OperationalInsights/workspaces/savedSearches", NoLoc),
    ("Microsoft.OperationsManagement/solutions", Regional),
    ("Microsoft.SecurityInsights/onboardingStates", NoLoc),
    ("Microsoft.SecurityInsights/dataConnectors", NoLoc),
    ("Microsoft.SecurityInsights/alertRules", NoLoc),
    ("Microsoft.RecoveryServices/vaults", Regional),
    ("Microsoft.RecoveryServices/vaults/backupPolicies", NoLoc),
    ("Microsoft.RecoveryServices/vaults/backupstorageconfig", NoLoc),
    ("Microsoft.RecoveryServices/vaults/backupconfig", NoLoc),
    ("Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems", NoLoc),
    ("Microsoft.RecoveryServices/vaults/replicationFabrics", NoLoc),
    ("Microsoft.RecoveryServices/vaults/replicationPolicies", NoLoc),
    ("Microsoft.RecoveryServices/vaults/replicationFabrics/replicationNetworks/replicationNetworkMappings", NoLoc),
    ("Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers", NoLoc),
    ("Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectionContainerMappings", NoLoc),
    ("Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems", NoLoc),
    ("Microsoft.DataProtection/backupVaults", Regional),
    ("Microsoft.Sql/servers", Regional),
    ("Microsoft.Sql/servers/databases", Regional),
    ("Microsoft.Sql/servers/firewallRules", NoLoc),
    ("Microsoft.Sql/servers/auditingSettings", NoLoc),
    ("Microsoft.Sql/servers/securityAlertPolicies", NoLoc),
    ("Microsoft.Sql/servers/administrators", NoLoc),
    ("Microsoft.SqlVirtualMachine/sqlVirtualMachines", Regional),
    ("Microsoft.SqlVirtualMachine/sqlVirtualMachineGroups", Regional),
    ("Microsoft.SqlVirtualMachine/sqlVirtualMachineGroups/availabilityGroupListeners", NoLoc),
    ("Microsoft.Maintenance/maintenanceConfigurations", Regional),
    ("Microsoft.Maintenance/configurationAssignments", RegionalOrGlobal),
    ("Microsoft.DesktopVirtualization/hostPools", Regional),
    ("Microsoft.DesktopVirtualization/applicationGroups", Regional),
    ("Microsoft.DesktopVirtualization/workspaces", Regional),
    ("Microsoft.DesktopVirtualization/scalingPlans", Regional),
    ("Microsoft.Automation/automationAccounts", Regional),
    ("Microsoft.Web/serverfarms", Regional),
    ("Microsoft.Web/sites", Regional),
    ("Microsoft.ContainerRegistry/registries", Regional),
    ("Microsoft.ContainerService/managedClusters", Regional),
    ("Microsoft.EventHub/namespaces", Regional),
    ("Microsoft.Cache/redis", Regional),
];

/// Microsoft's resource type catalogue (see `data/README.md`), gzipped: `{"Namespace/type": ["api-version", ...]}`.
const RESOURCE_TYPES_GZ: &[u8] = include_bytes!("../../data/arm-catalog/resource-types.json.gz");

/// The catalogue, keyed by lower-case type, and the lower-case namespaces it holds.
struct Catalog {
    types: HashMap<String, TypeInfo>,
    namespaces: HashSet<String>,
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut text = String::new();
        GzDecoder::new(RESOURCE_TYPES_GZ)
            .read_to_string(&mut text)
            .expect("the embedded resource type catalogue is valid gzip");
        // The catalogue lives as long as the process: leaking its text once lets every entry borrow from it.
        let text: &'static str = Box::leak(text.into_boxed_str());
        let raw: IndexMap<&'static str, Vec<&'static str>> =
            serde_json::from_str(text).expect("the embedded resource type catalogue is valid JSON");
        let placements: HashMap<String, Placement> = PLACEMENTS
            .iter()
            .map(|(n, p)| (n.to_ascii_lowercase(), *p))
            .collect();
        let mut types = HashMap::with_capacity(raw.len());
        let mut namespaces = HashSet::new();
        for (name, mut versions) in raw {
            let key = name.to_ascii_lowercase();
            if let Some((ns, _)) = key.split_once('/') {
                namespaces.insert(ns.to_string());
            }
            for entry in NEWER_THAN_CATALOGUE {
                if registered_beyond_catalogue(entry, name) && !versions.contains(&entry.1) {
                    versions.push(entry.1);
                }
            }
            versions.sort_by_key(|v| {
                (
                    ApiVersion::parse(v).map(|p| p.date),
                    !v.contains('-') || v.len() == 10,
                )
            });
            let placement = placements
                .get(&key)
                .copied()
                .unwrap_or(Placement::Unrecorded);
            types.insert(
                key,
                TypeInfo {
                    name,
                    api_versions: versions,
                    placement,
                },
            );
        }
        Catalog { types, namespaces }
    })
}

/// Versions Azure's providers register that the August 2026 catalogue does not list, each with the evidence that
/// Azure accepts it. `true` extends the version to every child type of the entry (a provider registers a version
/// for a resource type and the types beneath it together).
/// - Microsoft.Resources 2026-06-01 is the version Microsoft's own `azure-mgmt-resource` Python SDK sends (the
///   local cloud's SDK test uses it).
/// - Microsoft.Web/connections 2018-07-01-preview: Microsoft's quickstart templates `101-logic-app-sendgrid`,
///   `101-logic-app-sql-proc`, `201-logic-app-as2-send-receive` and `101-backup-policies-report` use it and were
///   deployed by the quickstart repository's CI; Microsoft's Logic Apps designer (`Azure/LogicAppsUX`,
///   `ConsumptionConnectionService`) calls the connections API with it. The specifications list none after
///   2016-06-01.
/// - Microsoft.DevTestLab/labs 2018-10-15-preview (and its children): used by Microsoft's quickstart
///   `101-dtl-create-lab-windows-vm`, deployed by its CI, and recorded for `labs/artifactSources` by Microsoft's
///   what-if noise survey (`Azure/whatifnoise`, docs/Microsoft.DevTestLab.md), which runs against Azure.
const NEWER_THAN_CATALOGUE: &[(&str, &str, bool)] = &[
    ("Microsoft.Resources/deployments", "2026-06-01", false),
    ("Microsoft.Resources/resourceGroups", "2026-06-01", false),
    ("Microsoft.Resources/tags", "2026-06-01", false),
    ("Microsoft.Web/connections", "2018-07-01-preview", false),
    ("Microsoft.DevTestLab/labs", "2018-10-15-preview", true),
];

/// Whether an entry of [`NEWER_THAN_CATALOGUE`] applies to the catalogue type `name`.
fn registered_beyond_catalogue(entry: &(&str, &str, bool), name: &str) -> bool {
    let (t, _, children) = *entry;
    name.eq_ignore_ascii_case(t)
        || (children
            && name.len() > t.len()
            && name.as_bytes()[t.len()] == b'/'
            && name[..t.len()].eq_ignore_ascii_case(t))
}

/// How many api-versions an error lists: the nearest to the one asked for.
const VERSIONS_LISTED: usize = 10;

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

/// Look a resource type up by name (case-insensitive). ARM tolerates a trailing slash (`Microsoft.Network/
/// virtualNetworks/`), so it is ignored.
pub fn find_type(resource_type: &str) -> Option<&'static TypeInfo> {
    let lower = resource_type.trim_end_matches('/').to_ascii_lowercase();
    if let Some(t) = catalog().types.get(&lower) {
        return Some(t);
    }
    // Templates spell an extension resource as `{Ns}/{type}/providers/{extension type}` (its namespace is in
    // the name: `vault/Microsoft.Insights/setting`): the extension type is what ARM checks.
    let (_, extension) = lower.rsplit_once("/providers/")?;
    if extension.split('/').next().is_some_and(|s| s.contains('.')) {
        return catalog().types.get(extension);
    }
    EXTENSION_NAMESPACES.iter().find_map(|ns| {
        catalog()
            .types
            .get(&format!("{}/{extension}", ns.to_ascii_lowercase()))
    })
}

/// Where the extension types a template names without their namespace live (`providers/diagnosticSettings`,
/// `providers/locks`, `providers/links`), in the order ARM's own extension providers are tried.
const EXTENSION_NAMESPACES: &[&str] = &[
    "Microsoft.Insights",
    "Microsoft.Authorization",
    "Microsoft.Resources",
    "Microsoft.Security",
    "Microsoft.PolicyInsights",
];

/// Whether the catalogue knows this namespace (`Microsoft.Storage`), case-insensitively.
pub fn is_namespace(namespace: &str) -> bool {
    catalog()
        .namespaces
        .contains(&namespace.to_ascii_lowercase())
}

/// Every type in the catalogue, in no particular order.
pub fn all_types() -> impl Iterator<Item = &'static TypeInfo> {
    catalog().types.values()
}

/// One type's registration as ARM's `providers()` function and the providers API show it: the type relative to
/// its namespace, the display names of its locations, its api-versions newest first.
fn registration(info: &TypeInfo) -> Value {
    let short = info.name.split_once('/').map_or(info.name, |(_, r)| r);
    let locations: Vec<&str> = match info.placement {
        Placement::Global => vec!["global"],
        Placement::None => Vec::new(),
        _ => REGIONS.iter().map(|(_, d)| *d).collect(),
    };
    let versions: Vec<&str> = info.api_versions.iter().rev().copied().collect();
    serde_json::json!({"resourceType": short, "locations": locations, "apiVersions": versions})
}

/// `providers(namespace, [resourceType])`: the namespace's registered types (sorted by type), or one type's
/// registration; ARM's errors for an unknown namespace or type.
pub fn provider_registration(
    namespace: &str,
    resource_type: Option<&str>,
) -> Result<Value, ArmError> {
    if !is_namespace(namespace) {
        return Err(ArmError::bad_request(
            "InvalidResourceNamespace",
            format!("The resource namespace '{namespace}' is invalid."),
        ));
    }
    if let Some(t) = resource_type {
        return find_type(&format!("{namespace}/{t}"))
            .map(registration)
            .ok_or_else(|| {
                ArmError::bad_request(
                    "InvalidResourceType",
                    format!("The resource type '{t}' could not be found in the namespace '{namespace}'."),
                )
            });
    }
    let prefix = format!("{}/", namespace.to_ascii_lowercase());
    let mut types: Vec<&TypeInfo> = all_types()
        .filter(|t| t.name.to_ascii_lowercase().starts_with(&prefix))
        .collect();
    types.sort_by_key(|t| t.name.to_ascii_lowercase());
    let canonical = types
        .first()
        .and_then(|t| t.name.split_once('/'))
        .map_or(namespace, |(ns, _)| ns);
    Ok(serde_json::json!({
        "namespace": canonical,
        "resourceTypes": types.into_iter().map(registration).collect::<Vec<_>>(),
    }))
}

/// Check a type and api-version as ARM's front door does, returning the type's entry.
pub fn check_type(resource_type: &str, api_version: &str) -> Result<&'static TypeInfo, ArmError> {
    let (namespace, rest) = resource_type.split_once('/').unwrap_or((resource_type, ""));
    let Some(info) = find_type(resource_type) else {
        if !is_namespace(namespace) {
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
    if !info.accepts(api_version) {
        let short = info.name.split_once('/').map_or(info.name, |(_, r)| r);
        return Err(ArmError::bad_request(
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location 'uksouth' and API version '{api_version}' for type '{short}'. The supported api-versions are '{}'. The supported locations are '{}'.",
                info.nearest_versions(api_version, VERSIONS_LISTED).join(", "),
                REGIONS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Ok(info)
}

/// A literal `apiVersion` in template text that the catalogue does not list for its literal `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnlistedVersion {
    /// 1-based line and column of the api-version's text.
    pub line: usize,
    pub column: usize,
    pub resource_type: String,
    pub api_version: String,
    /// ARM's refusal when ARM would refuse it (later than the newest, malformed); `None` when the version is
    /// older than the newest and only missing from the published specifications.
    pub refusal: Option<String>,
}

/// Scan template text (JSON, possibly with Tera markup) for resources whose literal `type` and `apiVersion`
/// the catalogue does not list together. Types it does not know are left to `check` (guardrail TP-ARM-001);
/// values that are expressions or template markup are skipped.
pub fn unlisted_versions(text: &str) -> Vec<UnlistedVersion> {
    let re = regex::Regex::new(r#""(type|apiVersion)"\s*:\s*"([^"]*)""#).expect("valid regex");
    let matches: Vec<(usize, String, String, usize)> = re
        .captures_iter(text)
        .filter_map(|c| {
            let whole = c.get(0)?;
            let value = c.get(2)?;
            Some((
                whole.start(),
                c[1].to_string(),
                c[2].to_string(),
                value.start(),
            ))
        })
        .collect();
    // The object each match sits in: the innermost `{` open at its offset, outside strings.
    let mut owners = Vec::with_capacity(matches.len());
    let (mut stack, mut in_string, mut escaped, mut next) = (Vec::new(), false, false, 0);
    for (i, b) in text.bytes().enumerate() {
        while next < matches.len() && matches[next].0 == i {
            owners.push(stack.last().copied());
            next += 1;
        }
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b'{') => stack.push(i),
            (false, _, b'}') => {
                stack.pop();
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (i, (_, key, value, _)) in matches.iter().enumerate() {
        if key != "type" || value.contains(['[', '{']) {
            continue;
        }
        let Some(owner) = owners.get(i).copied().flatten() else {
            continue;
        };
        let version = matches
            .iter()
            .zip(&owners)
            .find(|((_, k, _, _), o)| k == "apiVersion" && **o == Some(owner));
        let Some(((_, _, v, at), _)) = version else {
            continue;
        };
        if v.contains(['[', '{']) {
            continue;
        }
        let Some(info) = find_type(value) else {
            continue;
        };
        if info.api_versions.iter().any(|l| l.eq_ignore_ascii_case(v)) {
            continue;
        }
        let before = &text[..*at];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1;
        out.push(UnlistedVersion {
            line,
            column,
            resource_type: info.name.to_string(),
            api_version: v.clone(),
            refusal: check_type(value, v).err().map(|e| e.message),
        });
    }
    out
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
        Placement::RegionalOrGlobal | Placement::None | Placement::Unrecorded => {
            loc == "global" || is_region(&loc)
        }
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
    fn provider_registrations_list_types_locations_and_versions_newest_first() {
        let st = provider_registration("microsoft.storage", Some("STORAGEACCOUNTS")).unwrap();
        assert_eq!(st["resourceType"], "storageAccounts");
        let versions: Vec<&str> = st["apiVersions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(versions.contains(&"2023-05-01"));
        assert!(versions.windows(2).all(|w| w[0] >= w[1]), "newest first");
        assert!(st["locations"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("UK South")));
        let ns = provider_registration("Microsoft.KeyVault", None).unwrap();
        assert_eq!(ns["namespace"], "Microsoft.KeyVault");
        assert!(ns["resourceTypes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["resourceType"] == "vaults/secrets"));
        assert_eq!(
            provider_registration("Contoso.Nothing", None)
                .unwrap_err()
                .code,
            "InvalidResourceNamespace"
        );
        assert_eq!(
            provider_registration("Microsoft.Storage", Some("bogus"))
                .unwrap_err()
                .code,
            "InvalidResourceType"
        );
    }

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
        let mut n = 0;
        for t in all_types() {
            assert!(!t.api_versions.is_empty(), "{}", t.name);
            assert!(t.name.contains('/'), "{}", t.name);
            n += 1;
        }
        assert_eq!(n, 3475);
        for (name, _) in PLACEMENTS {
            assert!(find_type(name).is_some(), "{name} is not in the catalogue");
        }
    }

    #[test]
    fn older_unlisted_versions_are_accepted_up_to_the_newest_and_malformed_ones_refused() {
        // Quickstart templates deploy deployments at 2015-01-01, which no published specification lists.
        assert!(check_type("Microsoft.Resources/deployments", "2015-01-01").is_ok());
        assert!(check_type("Microsoft.Network/virtualNetworks/", "2015-06-15").is_ok());
        let newest = find_type("Microsoft.KeyVault/vaults").unwrap().newest();
        assert!(check_type("Microsoft.KeyVault/vaults", newest).is_ok());
        for bad in [
            "2999-01-01",
            "2020-13-01",
            "2020-1-1",
            "latest",
            "2020-01-01-",
            "2020-01-01-pre view",
        ] {
            let e = check_type("Microsoft.KeyVault/vaults", bad).unwrap_err();
            assert_eq!(e.code, "NoRegisteredProviderFound", "{bad}");
        }
    }

    #[test]
    fn versions_azure_registers_beyond_the_specifications_are_accepted_where_the_evidence_says() {
        // Later than the newest version the specifications list, yet deployed by Microsoft's own CI.
        assert!(check_type("Microsoft.Web/connections", "2018-07-01-preview").is_ok());
        assert!(check_type("Microsoft.DevTestLab/labs", "2018-10-15-preview").is_ok());
        assert!(check_type(
            "Microsoft.DevTestLab/labs/virtualmachines",
            "2018-10-15-preview"
        )
        .is_ok());
        // Only the entry's own type and its children: a sibling type, or a later version, is still refused.
        assert_eq!(
            check_type("Microsoft.DevTestLab/schedules", "2018-10-15-preview")
                .unwrap_err()
                .code,
            "NoRegisteredProviderFound"
        );
        assert!(check_type("Microsoft.Web/connections", "2018-08-01-preview").is_err());
        assert!(!registered_beyond_catalogue(
            &("Microsoft.DevTestLab/labs", "v", true),
            "Microsoft.DevTestLab/labsx"
        ));
    }

    #[test]
    fn a_refused_version_lists_the_nearest_supported_ones_newest_first() {
        let e = check_type("Microsoft.Storage/storageAccounts", "2099-01-01").unwrap_err();
        let info = find_type("Microsoft.Storage/storageAccounts").unwrap();
        let listed: Vec<&str> = info
            .api_versions
            .iter()
            .rev()
            .take(VERSIONS_LISTED)
            .copied()
            .collect();
        assert_eq!(
            e.message,
            format!(
                "No registered resource provider found for location 'uksouth' and API version '2099-01-01' for type 'storageAccounts'. The supported api-versions are '{}'. The supported locations are '{}'.",
                listed.join(", "),
                REGIONS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )
        );
        let near = info.nearest_versions("2016-01-02", 3);
        assert!(near.contains(&"2016-01-01"), "{near:?}");
    }

    #[test]
    fn extension_spellings_name_the_extension_type() {
        let t =
            find_type("Microsoft.RecoveryServices/vaults/providers/diagnosticSettings").unwrap();
        assert_eq!(t.name, "Microsoft.Insights/diagnosticSettings");
        let t = find_type("Microsoft.Web/sites/providers/roleAssignments").unwrap();
        assert_eq!(t.name, "Microsoft.Authorization/roleAssignments");
        let t = find_type("Microsoft.Sql/servers/providers/Microsoft.Authorization/locks").unwrap();
        assert_eq!(t.name, "Microsoft.Authorization/locks");
        assert!(find_type("Microsoft.Web/sites/providers/nonsense").is_none());
    }

    #[test]
    fn template_text_is_scanned_for_versions_the_catalogue_does_not_list() {
        let text = r#"{
  "resources": [
    {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01", "name": "{{ name }}"},
    {
      "apiVersion": "2016-01-02",
      "type": "Microsoft.KeyVault/vaults",
      "properties": {"type": "inner", "apiVersion": "1"}
    },
    {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2099-01-01"},
    {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "{{ api }}"}
  ]
}"#;
        let found = unlisted_versions(text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].line, found[0].column), (5, 22));
        assert_eq!(found[0].resource_type, "Microsoft.KeyVault/vaults");
        assert!(
            found[0].refusal.is_none(),
            "older than the newest: accepted, only unlisted"
        );
        assert_eq!(found[1].api_version, "2099-01-01");
        assert!(found[1]
            .refusal
            .as_deref()
            .unwrap()
            .starts_with("No registered resource provider"));
    }

    #[test]
    fn api_versions_parse_as_arm_writes_them() {
        let p = ApiVersion::parse("2021-04-01-preview").unwrap();
        assert_eq!(p.date, (2021, 4, 1));
        assert!(p.preview);
        assert!(!ApiVersion::parse("2021-04-01").unwrap().preview);
        assert!(ApiVersion::parse("2021-04-01preview").is_none());
        assert!(ApiVersion::parse("v1").is_none());
    }
}
