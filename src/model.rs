//! Types that travel between stages: what render produces and check, plan, apply and record consume.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where an ARM deployment is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// `/subscriptions/{s}/providers/Microsoft.Resources/deployments/{name}`
    Subscription,
    /// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments/{name}`
    ResourceGroup,
}

/// The trust a rendering is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustRef {
    /// The trust's name as given in its values (`trust.name`).
    pub name: String,
    /// The trust's ODS code (`trust.ods_code`), upper case.
    pub ods_code: String,
}

/// Which blueprint, from where, rendered a trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlueprintRef {
    pub name: String,
    pub version: String,
    /// How the blueprint was found: `embedded`, a folder path, or a git URL with its ref.
    pub source: String,
    /// The git commit the blueprint came from, when it came from git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// One ARM deployment, rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderedDeployment {
    /// The manifest's deployment name (`governance`, `connectivity`, ...).
    pub name: String,
    pub scope: Scope,
    /// The resource group, for resource-group-scope deployments (already rendered from its template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    /// The Azure region of the deployment (and of its resource group).
    pub location: String,
    /// The template's path under a template root, as the manifest names it.
    pub template_path: String,
    /// The ARM deployment template (parsed JSON).
    pub template: Value,
    /// The ARM parameters file (`{"$schema", "contentVersion", "parameters": {...}}`). Secrets appear only as
    /// Key Vault references; secrets taken from the environment are listed in `secret_env` instead.
    pub parameters: Value,
    /// ARM parameter name → environment variable that supplies its value at apply time.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub secret_env: std::collections::BTreeMap<String, String>,
    /// Other deployments (by name) that must succeed first.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// `sha256:<hex>` of the template and parameters files' bytes as written.
    pub hash: String,
    /// Deployed as an Azure Deployment Stack with these settings; `None`: a plain ARM deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<StackSettings>,
}

/// What a stack's deny assignment forbids to everyone not excluded (ARM's `denySettings.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DenyMode {
    /// No deny assignment.
    #[default]
    None,
    /// Reads and writes allowed; deletes denied.
    DenyDelete,
    /// Reads allowed; writes and deletes denied.
    DenyWriteAndDelete,
}

impl DenyMode {
    /// As ARM and the manifest write it.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyMode::None => "none",
            DenyMode::DenyDelete => "denyDelete",
            DenyMode::DenyWriteAndDelete => "denyWriteAndDelete",
        }
    }
}

/// What happens to a resource (or resource group) a stack stops managing (ARM's `actionOnUnmanage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UnmanageAction {
    /// It stays, no longer managed or protected by the stack.
    #[default]
    Detach,
    /// It is deleted.
    Delete,
}

impl UnmanageAction {
    /// As ARM and the manifest write it.
    pub fn as_str(self) -> &'static str {
        match self {
            UnmanageAction::Detach => "detach",
            UnmanageAction::Delete => "delete",
        }
    }
}

/// A deployment's stack settings with the manifest's principal names resolved against the trust's values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackSettings {
    pub deny_mode: DenyMode,
    /// Object ids excluded from the deny assignment (from the values, or given literally).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_principals: Vec<String>,
    /// Whether the identity that deploys is excluded too (its object id is known only when connected).
    #[serde(default)]
    pub exclude_deployer: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_actions: Vec<String>,
    #[serde(default)]
    pub apply_to_child_scopes: bool,
    /// For resources the template no longer declares.
    pub unmanage_resources: UnmanageAction,
    /// For resource groups the template no longer declares.
    pub unmanage_resource_groups: UnmanageAction,
}

/// A whole trust, rendered: every deployment in dependency order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rendered {
    pub trust: TrustRef,
    pub blueprint: BlueprintRef,
    pub deployments: Vec<RenderedDeployment>,
    /// `sha256:<hex>` over every deployment's hash, in order: one hash for the whole trust.
    pub hash: String,
}

/// A concrete resource after ARM expressions, conditions and copy loops have been evaluated: what guardrails
/// and cost estimates look at. Nested deployments are flattened into their resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// Full ARM resource id (`/subscriptions/{s}/resourceGroups/{rg}/providers/{type}/{name}`). The subscription
    /// is a placeholder when none is known yet.
    pub id: String,
    /// e.g. `Microsoft.Storage/storageAccounts` (child types have several segments).
    #[serde(rename = "type")]
    pub resource_type: String,
    pub api_version: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Tags, when the resource declares them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<serde_json::Map<String, Value>>,
    /// The whole evaluated resource JSON (`properties`, `sku`, `kind`, ...). Values that could not be known
    /// before deployment (for example `reference()` of another resource) stay as their ARM expression string.
    pub body: Value,
    /// The rendered deployment (manifest name) that declares it.
    pub deployment: String,
}

/// A guardrail waiver from the manifest: rule `rule` does not apply to resources matching `resource`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiver {
    /// A rule id such as `TP-NET-001`.
    pub rule: String,
    /// A resource id, or a glob over resource ids (`*` matches within a segment, `**` across segments).
    pub resource: String,
    /// Why the rule is waived: shown with every check output.
    pub justification: String,
}
