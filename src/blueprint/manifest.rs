//! `blueprint.yaml`, `apiVersion: trustprint/v1`.

use crate::model::{Scope, Waiver};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The blueprint manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// Always `trustprint/v1`.
    pub api_version: String,
    pub name: String,
    pub version: semver::Version,
    pub description: String,
    pub exemplar: Exemplar,
    /// Folders, relative to the blueprint folder, that hold its templates (default `["templates"]`). They may
    /// point up (`../../templates`) but never out of the source (the git checkout, or the folder's work tree).
    #[serde(default = "default_template_roots")]
    pub template_roots: Vec<String>,
    /// Regions resources may be placed in (default `uksouth`, `ukwest`).
    #[serde(default = "default_locations")]
    pub allowed_locations: Vec<String>,
    /// Parameters by dotted key (`trust.name`), in the order authors wrote them.
    pub parameters: IndexMap<String, Parameter>,
    pub deployments: Vec<Deployment>,
    #[serde(default)]
    pub outputs: IndexMap<String, Output>,
    #[serde(default)]
    pub waivers: Vec<Waiver>,
    /// Checks of external scanners (checkov) skipped, each with a reason.
    #[serde(default)]
    pub scanner_skips: Vec<ScannerSkip>,
    /// Value migrations from earlier versions (fleet upgrades).
    #[serde(default)]
    pub migrations: Vec<Migration>,
}

fn default_template_roots() -> Vec<String> {
    vec!["templates".into()]
}
fn default_locations() -> Vec<String> {
    vec!["uksouth".into(), "ukwest".into()]
}

/// The trust whose estate the blueprint encodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Exemplar {
    pub trust: String,
    pub ods_code: String,
}

/// Parameter types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
    Enum,
    List,
    Object,
    Cidr,
    Uuid,
    Email,
    OdsCode,
    AzureRegion,
    Secret,
}

/// One parameter of the values interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Parameter {
    #[serde(rename = "type")]
    pub ty: ParamType,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
    /// Regular expression a string must match in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Bounds: numbers' value, strings' and lists' length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Allowed values (enum, and optionally string or azure-region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<Value>>,
    /// Bounds on an IPv4 prefix's length (cidr).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_prefix: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_prefix: Option<u8>,
    /// The type of a list's items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<Parameter>>,
}

/// One ARM deployment of the blueprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deployment {
    pub name: String,
    pub scope: Scope,
    /// The resource group's name: a Tera template over the values (`rg-{{ trust.ods_code | lower }}-epr`).
    /// Required for resourceGroup scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    /// The region: a Tera template over the values; default `{{ azure.location }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The template's path under a template root (`epr/spoke.json.tera`).
    pub template: String,
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// ARM template parameter → dotted values key. Secret parameters go here (never inline in a template).
    #[serde(default)]
    pub parameters: IndexMap<String, String>,
    /// A Tera expression over the values; the deployment is left out when it is false (`avd.enabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// An output the blueprint exposes after apply: a deployment's ARM output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Output {
    pub description: String,
    pub deployment: String,
    pub output: String,
}

/// An external scanner's check skipped for this blueprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScannerSkip {
    pub check: String,
    pub reason: String,
}

/// How values move from an earlier version of the blueprint to this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Migration {
    /// Versions this migration applies from (a semver requirement, `<1.1.0`).
    pub from: String,
    #[serde(default)]
    pub rename: IndexMap<String, String>,
    #[serde(default)]
    pub add: IndexMap<String, Value>,
    #[serde(default)]
    pub remove: Vec<String>,
}
