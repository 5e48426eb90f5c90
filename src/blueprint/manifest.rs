//! `blueprint.yaml`, `apiVersion: trustprint/v1`.

pub use crate::model::{DenyMode, StackSettings, UnmanageAction};
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
    /// The guardrails the blueprint is held to; absent: trustprint's full NHS rule set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<Guardrails>,
    /// The resource locks an Azure Blueprint assignment applied (recorded by `blueprint import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locks: Option<Locks>,
}

/// Which guardrails a blueprint is held to. Findings of trustprint rules outside its rule sets are shown by
/// `check` as advice (waived with a justification saying so), never as violations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Guardrails {
    /// trustprint rule sets: `nhs` (every rule) or `uk-locations` (the location rules alone).
    pub rule_sets: Vec<RuleSet>,
    /// Azure Policy initiatives and definitions the blueprint assigns and is held to (policy definition ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub initiatives: Vec<String>,
}

/// A trustprint rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleSet {
    /// Every trustprint guardrail (the default when a manifest has no `guardrails`).
    Nhs,
    /// UK residency: the location rules (`TP-LOC-*`).
    UkLocations,
}

impl RuleSet {
    /// Whether the rule with this id belongs to the set.
    pub fn holds(self, rule_id: &str) -> bool {
        match self {
            RuleSet::Nhs => true,
            RuleSet::UkLocations => rule_id.starts_with("TP-LOC-"),
        }
    }
}

/// Azure Blueprint resource locks, as an assignment's `locks.mode` named them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Locks {
    pub mode: LockMode,
}

/// `none`, `AllResourcesReadOnly` or `AllResourcesDoNotDelete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockMode {
    #[serde(rename = "none", alias = "None")]
    None,
    AllResourcesReadOnly,
    AllResourcesDoNotDelete,
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
    /// Deploy as an Azure Deployment Stack with these settings (docs/deploying.md); absent: a plain ARM
    /// deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<Stack>,
}

/// A deployment's Deployment Stack settings, as the manifest writes them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Stack {
    #[serde(default)]
    pub deny_settings: DenySettings,
    #[serde(default)]
    pub action_on_unmanage: ActionOnUnmanage,
}

/// Who may not change or delete the stack's resources (an Azure deny assignment).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DenySettings {
    /// `none`, `denyDelete` or `denyWriteAndDelete`.
    #[serde(default)]
    pub mode: DenyMode,
    /// Principals the deny assignment does not apply to: a `uuid` parameter's key (the trust's own group,
    /// `access.admin_group_object_id`), [`DEPLOYER`] (the identity trustprint deploys as) or an object id.
    #[serde(default)]
    pub excluded_principals: Vec<String>,
    /// Management operations still allowed to everyone (`Microsoft.Compute/virtualMachines/restart/action`).
    #[serde(default)]
    pub excluded_actions: Vec<String>,
    /// Also deny on the child scopes of every managed resource (a Key Vault's secrets, a SQL server's
    /// databases declared elsewhere).
    #[serde(default)]
    pub apply_to_child_scopes: bool,
}

/// What happens to what a new version of the template no longer declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionOnUnmanage {
    /// `detach` (the default: kept, no longer managed) or `delete`.
    #[serde(default)]
    pub resources: UnmanageAction,
    /// `detach` (the default) or `delete`.
    #[serde(default)]
    pub resource_groups: UnmanageAction,
}

/// In `excludedPrincipals`: the identity trustprint deploys as, whose object id is known when it connects.
pub const DEPLOYER: &str = "deployer";

/// Azure's limits on a stack's deny settings.
pub const MAX_EXCLUDED_PRINCIPALS: usize = 5;
/// Azure's limits on a stack's deny settings.
pub const MAX_EXCLUDED_ACTIONS: usize = 200;

impl LockMode {
    /// The deny settings mode that protects as this Azure Blueprint lock did (docs/migrating-from-blueprints.md).
    pub fn deny_mode(self) -> DenyMode {
        match self {
            LockMode::None => DenyMode::None,
            LockMode::AllResourcesReadOnly => DenyMode::DenyWriteAndDelete,
            LockMode::AllResourcesDoNotDelete => DenyMode::DenyDelete,
        }
    }
}

impl Stack {
    /// The settings with `excludedPrincipals` resolved: parameter keys to the trust's values (a key whose
    /// value is not given is left out: an optional group), [`DEPLOYER`] to a flag, object ids kept.
    pub fn resolve(&self, value: impl Fn(&str) -> Option<String>) -> StackSettings {
        let d = &self.deny_settings;
        let mut excluded = Vec::new();
        let mut exclude_deployer = false;
        for p in &d.excluded_principals {
            let id = if p == DEPLOYER {
                exclude_deployer = true;
                continue;
            } else if uuid::Uuid::parse_str(p).is_ok() {
                Some(p.to_ascii_lowercase())
            } else {
                value(p).map(|v| v.to_ascii_lowercase())
            };
            if let Some(id) = id {
                if !excluded.contains(&id) {
                    excluded.push(id);
                }
            }
        }
        StackSettings {
            deny_mode: d.mode,
            excluded_principals: excluded,
            exclude_deployer,
            excluded_actions: d.excluded_actions.clone(),
            apply_to_child_scopes: d.apply_to_child_scopes,
            unmanage_resources: self.action_on_unmanage.resources,
            unmanage_resource_groups: self.action_on_unmanage.resource_groups,
        }
    }
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

/// Names the render stage puts beside the values at the top of the template context (docs/architecture.md).
/// (`tags` is not among them: a `tags` object parameter holds extra tags the render stage merges under the
/// required ones.)
pub const RESERVED: &[&str] = &["blueprint", "deployment", "resource_groups"];

/// The only manifest format version this trustprint reads.
pub const API_VERSION: &str = "trustprint/v1";

use crate::diag::Diagnostic;
use crate::yaml::{Node, Seg, Span};
use std::collections::{BTreeMap, BTreeSet};

/// A parsed manifest with the positioned tree it came from (for diagnostics).
#[derive(Debug, Clone)]
pub struct Parsed {
    pub manifest: Manifest,
    pub node: Node,
}

/// Parse `blueprint.yaml`: YAML and shape errors come back with `file:line:col`. Semantic checks are
/// [`validate`]'s job, once the templates are known.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Parsed, super::Error> {
    let err = |diagnostics| super::Error::Manifest {
        file: file.to_string(),
        diagnostics,
    };
    let node = crate::yaml::parse(file, bytes).map_err(err)?;
    let text = String::from_utf8_lossy(bytes);
    let manifest: Manifest = serde_yaml::from_str(&text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        let mut message = e.to_string();
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        let source_line = text.lines().nth(line.wrapping_sub(1)).unwrap_or("");
        err(vec![Diagnostic::at(
            file,
            source_line,
            Span {
                line,
                column,
                len: 1,
            },
            message,
        )
        .expected(
            "a manifest as described in docs/blueprint-authoring.md",
        )])
    })?;
    Ok(Parsed { manifest, node })
}

/// The templates a blueprint's roots hold, as the checks need them.
#[derive(Debug, Default, Clone)]
pub struct TemplateIndex {
    /// Paths relative to their root.
    pub files: BTreeSet<String>,
    /// Paths (relative to their root) that are symlinks leading outside the template roots.
    pub escaping: BTreeSet<String>,
    /// A template root could not be read: missing templates are then not reported one by one.
    pub incomplete: bool,
}

/// Every semantic problem of a manifest at once, each pointing into `text` (the manifest as read).
pub fn validate(
    m: &Manifest,
    node: &Node,
    file: &str,
    text: &str,
    templates: &TemplateIndex,
) -> Vec<Diagnostic> {
    let lines: Vec<&str> = text.split('\n').collect();
    let at = |span: Span, message: String| {
        let line = lines
            .get(span.line.wrapping_sub(1))
            .copied()
            .unwrap_or("")
            .trim_end_matches('\r');
        Diagnostic::at(file, line, span, message)
    };
    let mut out = Vec::new();

    if m.api_version != API_VERSION {
        out.push(
            at(
                node.span_at(&[Seg::Key("apiVersion")]),
                format!("apiVersion `{}` is not supported", m.api_version),
            )
            .expected(format!("`{API_VERSION}`")),
        );
    }
    if crate::types::OdsCode::parse(&m.exemplar.ods_code).is_err() {
        out.push(
            at(
                node.span_at(&[Seg::Key("exemplar"), Seg::Key("odsCode")]),
                format!("{:?} is not an ODS code", m.exemplar.ods_code),
            )
            .expected(crate::types::OdsCode::EXPECTED),
        );
    }
    for (i, loc) in m.allowed_locations.iter().enumerate() {
        if crate::types::Region::parse(loc).is_err() {
            let mut d = at(
                node.span_at(&[Seg::Key("allowedLocations"), Seg::Index(i)]),
                format!("{loc:?} is not an Azure region"),
            )
            .expected(crate::types::Region::EXPECTED);
            if let Some(n) = crate::types::Region::nearest(loc) {
                d = d.suggest(format!("did you mean `{n}`?"));
            }
            out.push(d);
        }
    }
    if m.template_roots.is_empty() {
        out.push(
            at(
                node.span_at(&[Seg::Key("templateRoots")]),
                "no template roots".into(),
            )
            .expected("at least one folder, such as `templates`"),
        );
    }

    // Parameters.
    let keys: Vec<&String> = m.parameters.keys().collect();
    let segment = regex::Regex::new("^[A-Za-z_][A-Za-z0-9_]*$").ok();
    for (key, p) in &m.parameters {
        let ppath = [Seg::Key("parameters"), Seg::Key(key)];
        let key_span = node.key_span(&[Seg::Key("parameters")], key);
        if let Some(re) = &segment {
            if !key.split('.').all(|s| re.is_match(s)) {
                out.push(
                    at(
                        key_span,
                        format!("parameter key `{key}` is not usable in templates"),
                    )
                    .expected("dot-separated names of letters, digits and `_` (`trust.ods_code`)"),
                );
            }
        }
        let top = key.split('.').next().unwrap_or(key);
        if RESERVED.contains(&top) {
            out.push(
                at(
                    key_span,
                    format!(
                        "parameter `{key}` uses the name `{top}`, which templates already have"
                    ),
                )
                .expected(format!("a first name other than {}", quote_list(RESERVED))),
            );
        }
        if let Some(longer) = keys.iter().find(|k| {
            k.len() > key.len() && k.starts_with(key.as_str()) && k.as_bytes()[key.len()] == b'.'
        }) {
            out.push(
                at(
                    key_span,
                    format!("parameter `{key}` is also the parent of `{longer}`"),
                )
                .expected("a key that is either a value or a group of keys, not both"),
            );
        }
        if p.ty == ParamType::Enum && p.choices.as_ref().is_none_or(Vec::is_empty) {
            out.push(
                at(
                    node.span_at(&ppath),
                    format!("enum parameter `{key}` has no choices"),
                )
                .expected("`choices: [...]` with at least one value"),
            );
        }
        if p.ty == ParamType::Secret && p.default.is_some() {
            let span = node.span_at(&[ppath[0], ppath[1], Seg::Key("default")]);
            let mut d = at(span, format!("secret parameter `{key}` has a default")).expected(
                "no default: a secret is supplied at apply time by `{ env }` or `{ keyVault, secretName }`",
            );
            // The default is likely a real secret: do not print it back.
            let keep: String = d
                .source_line
                .chars()
                .take(span.column.saturating_sub(1))
                .collect();
            d.source_line = format!("{keep}<redacted>");
            d.len = "<redacted>".len();
            out.push(d);
        }
        if p.ty == ParamType::List && p.items.as_ref().is_some_and(|i| i.ty == ParamType::Secret) {
            out.push(
                at(
                    node.span_at(&ppath),
                    format!("list parameter `{key}` has secret items"),
                )
                .expected("a secret parameter of its own for each secret"),
            );
        }
        if p.required && p.default.is_some() {
            out.push(
                at(
                    node.span_at(&[ppath[0], ppath[1], Seg::Key("required")]),
                    format!("parameter `{key}` is required and has a default"),
                )
                .expected("either `required: true` or a default, not both"),
            );
        }
        if let Some(pat) = &p.pattern {
            if let Err(e) = regex::Regex::new(pat) {
                let first = e.to_string().lines().last().unwrap_or_default().to_string();
                out.push(
                    at(
                        node.span_at(&[ppath[0], ppath[1], Seg::Key("pattern")]),
                        format!(
                            "the pattern of `{key}` is not a valid regular expression ({})",
                            first.trim()
                        ),
                    )
                    .expected("a regular expression (Rust regex syntax)"),
                );
            }
        }
        if let (Some(a), Some(b)) = (p.min, p.max) {
            if a > b {
                out.push(
                    at(
                        node.span_at(&[ppath[0], ppath[1], Seg::Key("min")]),
                        format!("`{key}` has min {a} above max {b}"),
                    )
                    .expected("min <= max"),
                );
            }
        }
        let (lo, hi) = (p.min_prefix.unwrap_or(0), p.max_prefix.unwrap_or(32));
        if lo > hi || hi > 32 {
            out.push(
                at(
                    node.span_at(&[ppath[0], ppath[1], Seg::Key("minPrefix")]),
                    format!("`{key}` has prefix bounds /{lo} to /{hi}"),
                )
                .expected("0 <= minPrefix <= maxPrefix <= 32"),
            );
        }
        for field in ["default", "example"] {
            let value_node = node
                .get("parameters")
                .and_then(|n| n.get(key))
                .and_then(|n| n.get(field));
            if let Some(v) = value_node {
                if p.ty == ParamType::Secret && field == "default" {
                    continue;
                }
                let mut ds =
                    super::param::check_in_manifest(p, &format!("{key} ({field})"), v, file, text);
                out.append(&mut ds);
            }
        }
    }

    // Deployments.
    let mut names: Vec<&str> = Vec::new();
    for d in &m.deployments {
        if !names.contains(&d.name.as_str()) {
            names.push(&d.name);
        }
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let operation = regex::Regex::new(r"^[A-Za-z0-9.*]+(/[A-Za-z0-9.*_-]+)+$").ok();
    for (i, d) in m.deployments.iter().enumerate() {
        let dpath = |k: &'static str| [Seg::Key("deployments"), Seg::Index(i), Seg::Key(k)];
        if let Some(first) = seen.insert(d.name.as_str(), i) {
            out.push(
                at(
                    node.span_at(&dpath("name")),
                    format!("deployment name `{}` is used twice", d.name),
                )
                .expected(format!(
                    "unique names; deployment {} is already called `{}`",
                    first + 1,
                    d.name
                )),
            );
        }
        match (d.scope, &d.resource_group) {
            (Scope::ResourceGroup, None) => out.push(
                at(
                    node.span_at(&[Seg::Key("deployments"), Seg::Index(i)]),
                    format!(
                        "deployment `{}` has resourceGroup scope but no resourceGroup",
                        d.name
                    ),
                )
                .expected("`resourceGroup: <name template>` for a resourceGroup-scope deployment"),
            ),
            (Scope::Subscription, Some(_)) => out.push(
                at(
                    node.span_at(&dpath("resourceGroup")),
                    format!(
                        "deployment `{}` has subscription scope and a resourceGroup",
                        d.name
                    ),
                )
                .expected("no resourceGroup for a subscription-scope deployment"),
            ),
            _ => {}
        }
        for (j, dep) in d.depends_on.iter().enumerate() {
            if !names.contains(&dep.as_str()) {
                let mut diag = at(
                    node.span_at(&[
                        Seg::Key("deployments"),
                        Seg::Index(i),
                        Seg::Key("dependsOn"),
                        Seg::Index(j),
                    ]),
                    format!(
                        "deployment `{}` depends on `{dep}`, which does not exist",
                        d.name
                    ),
                )
                .expected(format!("one of the deployments {}", quote_list(&names)));
                if let Some(n) = super::param::nearest(dep, names.iter().copied()) {
                    diag = diag.suggest(format!("did you mean `{n}`?"));
                }
                out.push(diag);
            }
        }
        for (arm_param, key) in &d.parameters {
            if !m.parameters.contains_key(key) {
                let mut diag = at(
                    node.span_at(&[
                        Seg::Key("deployments"),
                        Seg::Index(i),
                        Seg::Key("parameters"),
                        Seg::Key(arm_param),
                    ]),
                    format!(
                        "deployment `{}` maps `{arm_param}` to `{key}`, which is not a parameter",
                        d.name
                    ),
                )
                .expected("a parameter key declared under `parameters`");
                if let Some(n) = super::param::nearest(key, m.parameters.keys().map(String::as_str))
                {
                    diag = diag.suggest(format!("did you mean `{n}`?"));
                }
                out.push(diag);
            }
        }
        if let Some(stack) = &d.stack {
            let deny = &stack.deny_settings;
            let spath = |k: &'static str| {
                vec![
                    Seg::Key("deployments"),
                    Seg::Index(i),
                    Seg::Key("stack"),
                    Seg::Key("denySettings"),
                    Seg::Key(k),
                ]
            };
            let has_exclusions = !deny.excluded_principals.is_empty()
                || !deny.excluded_actions.is_empty()
                || deny.apply_to_child_scopes;
            if deny.mode == DenyMode::None && has_exclusions {
                out.push(
                    at(
                        node.span_at(&spath("mode")),
                        format!(
                            "deployment `{}`: stack deny settings have mode `none` but exclusions",
                            d.name
                        ),
                    )
                    .expected("`mode: denyDelete` or `denyWriteAndDelete` with exclusions, or no exclusions"),
                );
            }
            if deny.excluded_principals.len() > MAX_EXCLUDED_PRINCIPALS {
                out.push(
                    at(
                        node.span_at(&spath("excludedPrincipals")),
                        format!(
                            "deployment `{}`: {} excluded principals",
                            d.name,
                            deny.excluded_principals.len()
                        ),
                    )
                    .expected(format!(
                        "at most {MAX_EXCLUDED_PRINCIPALS} (Azure's limit): exclude a group rather than its members"
                    )),
                );
            }
            for (j, p) in deny.excluded_principals.iter().enumerate() {
                if p == DEPLOYER || uuid::Uuid::parse_str(p).is_ok() {
                    continue;
                }
                let mut path = spath("excludedPrincipals");
                path.push(Seg::Index(j));
                match m.parameters.get(p) {
                    Some(param) if param.ty == ParamType::Uuid => {}
                    Some(param) => out.push(
                        at(
                            node.span_at(&path),
                            format!(
                                "deployment `{}`: excluded principal `{p}` is a {:?} parameter, not an object id",
                                d.name, param.ty
                            ),
                        )
                        .expected("a `uuid` parameter holding an Entra ID object id"),
                    ),
                    None => {
                        let mut diag = at(
                            node.span_at(&path),
                            format!(
                                "deployment `{}`: excluded principal `{p}` is not a parameter, `{DEPLOYER}` or an object id",
                                d.name
                            ),
                        )
                        .expected(format!(
                            "a `uuid` parameter's key (`access.admin_group_object_id`), `{DEPLOYER}` (the deploying \
                             identity) or an object id"
                        ));
                        let uuids = m
                            .parameters
                            .iter()
                            .filter(|(_, q)| q.ty == ParamType::Uuid)
                            .map(|(k, _)| k.as_str())
                            .chain([DEPLOYER]);
                        if let Some(n) = super::param::nearest(p, uuids) {
                            diag = diag.suggest(format!("did you mean `{n}`?"));
                        }
                        out.push(diag);
                    }
                }
            }
            if deny.excluded_actions.len() > MAX_EXCLUDED_ACTIONS {
                out.push(
                    at(
                        node.span_at(&spath("excludedActions")),
                        format!(
                            "deployment `{}`: {} excluded actions",
                            d.name,
                            deny.excluded_actions.len()
                        ),
                    )
                    .expected(format!("at most {MAX_EXCLUDED_ACTIONS} (Azure's limit)")),
                );
            }
            for (j, a) in deny.excluded_actions.iter().enumerate() {
                if operation.as_ref().is_some_and(|re| !re.is_match(a)) {
                    let mut path = spath("excludedActions");
                    path.push(Seg::Index(j));
                    out.push(
                        at(
                            node.span_at(&path),
                            format!("deployment `{}`: `{a}` is not an operation", d.name),
                        )
                        .expected(
                            "a resource provider operation such as `Microsoft.Compute/virtualMachines/restart/action`",
                        ),
                    );
                }
            }
        }
        if let Some(problem) = template_path_problem(&d.template) {
            out.push(
                at(
                    node.span_at(&dpath("template")),
                    format!("template path `{}` {problem}", d.template),
                )
                .expected("a relative path under a template root, without `..`"),
            );
        } else if templates.escaping.contains(&d.template) {
            out.push(
                at(
                    node.span_at(&dpath("template")),
                    format!(
                        "template `{}` is a symlink leading outside the template roots",
                        d.template
                    ),
                )
                .expected("a template file inside the template roots"),
            );
        } else if !templates.files.contains(&d.template) && !templates.incomplete {
            let mut diag = at(
                node.span_at(&dpath("template")),
                format!(
                    "template `{}` does not exist under the template roots",
                    d.template
                ),
            )
            .expected(format!(
                "a file under {}",
                quote_list(
                    &m.template_roots
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                )
            ));
            if let Some(n) =
                super::param::nearest(&d.template, templates.files.iter().map(String::as_str))
            {
                diag = diag.suggest(format!("did you mean `{n}`?"));
            }
            out.push(diag);
        }
    }
    if let Some(cycle) = find_cycle(&m.deployments) {
        let first = cycle[0].as_str();
        let i = m
            .deployments
            .iter()
            .position(|d| d.name == first)
            .unwrap_or(0);
        out.push(
            at(
                node.span_at(&[
                    Seg::Key("deployments"),
                    Seg::Index(i),
                    Seg::Key("dependsOn"),
                ]),
                format!(
                    "deployments depend on each other in a cycle: {}",
                    cycle.join(" -> ")
                ),
            )
            .expected("dependencies without cycles"),
        );
    }

    for (name, o) in &m.outputs {
        if !names.contains(&o.deployment.as_str()) {
            out.push(
                at(
                    node.span_at(&[Seg::Key("outputs"), Seg::Key(name), Seg::Key("deployment")]),
                    format!(
                        "output `{name}` comes from deployment `{}`, which does not exist",
                        o.deployment
                    ),
                )
                .expected(format!("one of the deployments {}", quote_list(&names))),
            );
        }
    }
    for (i, w) in m.waivers.iter().enumerate() {
        if w.justification.trim().is_empty() {
            out.push(
                at(
                    node.span_at(&[
                        Seg::Key("waivers"),
                        Seg::Index(i),
                        Seg::Key("justification"),
                    ]),
                    format!(
                        "the waiver of {} for `{}` has no justification",
                        w.rule, w.resource
                    ),
                )
                .expected("a written justification: every check output shows it"),
            );
        }
    }
    for (i, s) in m.scanner_skips.iter().enumerate() {
        if s.reason.trim().is_empty() {
            out.push(
                at(
                    node.span_at(&[Seg::Key("scannerSkips"), Seg::Index(i), Seg::Key("reason")]),
                    format!("the skip of {} has no reason", s.check),
                )
                .expected("a written reason"),
            );
        }
    }
    for (i, mig) in m.migrations.iter().enumerate() {
        if semver::VersionReq::parse(&mig.from).is_err() {
            out.push(
                at(
                    node.span_at(&[Seg::Key("migrations"), Seg::Index(i), Seg::Key("from")]),
                    format!("`{}` is not a version requirement", mig.from),
                )
                .expected("a semver requirement such as `<1.1.0`"),
            );
        }
        // Values migrate into this version's parameters, and out of names it no longer has.
        let span = |field: &'static str, key: &str| {
            node.span_at(&[
                Seg::Key("migrations"),
                Seg::Index(i),
                Seg::Key(field),
                Seg::Key(key),
            ])
        };
        let is_param = |k: &str| m.parameters.contains_key(k);
        for (old, new) in &mig.rename {
            if is_param(old) {
                out.push(
                    at(
                        span("rename", old),
                        format!("renames {old}, which is still a parameter"),
                    )
                    .expected("the old name of a parameter this version no longer has"),
                );
            }
            if !is_param(new) {
                out.push(
                    at(
                        span("rename", old),
                        format!("renames {old} to {new}, which is not a parameter"),
                    )
                    .expected("a parameter of this version as the new name"),
                );
            }
        }
        for key in mig.add.keys() {
            if !is_param(key) {
                out.push(
                    at(
                        span("add", key),
                        format!("adds {key}, which is not a parameter"),
                    )
                    .expected("a parameter of this version"),
                );
            }
        }
        for (j, key) in mig.remove.iter().enumerate() {
            if is_param(key) {
                out.push(
                    at(
                        node.span_at(&[
                            Seg::Key("migrations"),
                            Seg::Index(i),
                            Seg::Key("remove"),
                            Seg::Index(j),
                        ]),
                        format!("removes {key}, which is still a parameter"),
                    )
                    .expected("a parameter this version no longer has"),
                );
            }
        }
    }
    out.sort_by_key(|d| (d.line == 0, d.line, d.column));
    out
}

/// Why a template path (as written in the manifest) is unacceptable, if it is.
pub fn template_path_problem(path: &str) -> Option<&'static str> {
    let p = std::path::Path::new(path);
    if path.is_empty() {
        Some("is empty")
    } else if p.is_absolute()
        || path.starts_with('/')
        || path.starts_with('\\')
        || path.contains(':')
    {
        Some("is absolute")
    } else if path.split(['/', '\\']).any(|c| c == "..") {
        Some("leaves the template roots (`..`)")
    } else {
        None
    }
}

fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A dependency cycle among deployments, as the names along it with the first repeated at the end.
fn find_cycle(deployments: &[Deployment]) -> Option<Vec<String>> {
    fn visit<'a>(
        name: &'a str,
        deps: &BTreeMap<&'a str, &'a [String]>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(name) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|n| *n == name).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(name, 1);
        stack.push(name);
        for d in deps.get(name).copied().unwrap_or_default() {
            if deps.contains_key(d.as_str()) {
                if let Some(c) = visit(d, deps, state, stack) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        state.insert(name, 2);
        None
    }
    let deps: BTreeMap<&str, &[String]> = deployments
        .iter()
        .map(|d| (d.name.as_str(), d.depends_on.as_slice()))
        .collect();
    let mut state = BTreeMap::new();
    for d in deployments {
        if let Some(c) = visit(&d.name, &deps, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

impl Manifest {
    /// Deployments in an order where each comes after the ones it depends on (manifest order otherwise).
    /// Assumes a valid manifest (no cycles); unknown names are ignored.
    pub fn deployment_order(&self) -> Vec<&Deployment> {
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut out = Vec::new();
        while out.len() < self.deployments.len() {
            let before = out.len();
            for d in &self.deployments {
                if !done.contains(d.name.as_str())
                    && d.depends_on.iter().all(|x| {
                        done.contains(x.as_str()) || !self.deployments.iter().any(|e| &e.name == x)
                    })
                {
                    done.insert(&d.name);
                    out.push(d);
                }
            }
            if out.len() == before {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, deps: &[&str]) -> Deployment {
        Deployment {
            name: name.into(),
            scope: Scope::Subscription,
            resource_group: None,
            location: None,
            template: "t.json.tera".into(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            parameters: IndexMap::new(),
            when: None,
            stack: None,
        }
    }

    const STACKED: &str = "apiVersion: trustprint/v1
name: t
version: 1.0.0
description: d
exemplar: {trust: T, odsCode: RM3}
parameters:
  access.admin_group_object_id: {type: uuid, description: admins, required: true}
  tier: {type: string, description: tier, default: small}
deployments:
  - name: net
    scope: subscription
    template: t.json.tera
    stack:
      denySettings:
        mode: MODE
        excludedPrincipals: PRINCIPALS
        excludedActions: [Microsoft.Network/virtualNetworks/write, not an action]
      actionOnUnmanage: {resources: delete}
";

    fn stacked(mode: &str, principals: &str) -> Vec<String> {
        let text = STACKED
            .replace("MODE", mode)
            .replace("PRINCIPALS", principals);
        let index = TemplateIndex {
            incomplete: true,
            ..TemplateIndex::default()
        };
        let diagnostics = match parse("blueprint.yaml", text.as_bytes()) {
            Ok(p) => validate(&p.manifest, &p.node, "blueprint.yaml", &text, &index),
            Err(super::super::Error::Manifest { diagnostics, .. }) => diagnostics,
            Err(e) => panic!("{e}"),
        };
        diagnostics.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn stack_settings_name_the_field_that_is_wrong() {
        assert_eq!(
            stacked(
                "denyWriteAndDelete",
                "[access.admin_group_object_id, deployer, 0b6f3c2e-7d41-4a5e-9c18-2f7e4d6a1b93, tier, access.admin_group_objectid]"
            ),
            vec![
                "blueprint.yaml:16:108: deployment `net`: excluded principal `tier` is a String parameter, not an \
                 object id; expected a `uuid` parameter holding an Entra ID object id"
                    .to_string(),
                "blueprint.yaml:16:114: deployment `net`: excluded principal `access.admin_group_objectid` is not a parameter, \
                 `deployer` or an object id; expected a `uuid` parameter's key (`access.admin_group_object_id`), \
                 `deployer` (the deploying identity) or an object id; did you mean `access.admin_group_object_id`?"
                    .to_string(),
                "blueprint.yaml:17:68: deployment `net`: `not an action` is not an operation; expected a resource \
                 provider operation such as `Microsoft.Compute/virtualMachines/restart/action`"
                    .to_string(),
            ]
        );
        let none = stacked("none", "[deployer]");
        assert_eq!(
            none[0],
            "blueprint.yaml:15:15: deployment `net`: stack deny settings have mode `none` but exclusions; \
             expected `mode: denyDelete` or `denyWriteAndDelete` with exclusions, or no exclusions"
        );
        let six = stacked(
            "denyDelete",
            "[deployer, deployer, deployer, deployer, deployer, deployer]",
        );
        assert!(
            six[0].ends_with("6 excluded principals; expected at most 5 (Azure's limit): exclude a group rather than its members"),
            "{six:?}"
        );
        let unknown = stacked("denyAll", "[]");
        assert!(
            unknown[0].contains("blueprint.yaml:15:")
                && unknown[0].contains("unknown variant `denyAll`, expected one of `none`, `denyDelete`, `denyWriteAndDelete`"),
            "{unknown:?}"
        );
    }

    #[test]
    fn principals_resolve_to_the_trusts_values_and_the_deployer_to_a_flag() {
        let stack = Stack {
            deny_settings: DenySettings {
                mode: DenyMode::DenyDelete,
                excluded_principals: vec![
                    "access.admin_group_object_id".into(),
                    DEPLOYER.into(),
                    "lighthouse.group_object_id".into(),
                    "0B6F3C2E-7D41-4A5E-9C18-2F7E4D6A1B93".into(),
                ],
                excluded_actions: vec![],
                apply_to_child_scopes: false,
            },
            action_on_unmanage: ActionOnUnmanage::default(),
        };
        let settings = stack.resolve(|k| {
            (k == "access.admin_group_object_id")
                .then(|| "6c2d8e14-3a9b-4f70-b5e2-d1c9a8f7e603".to_string())
        });
        assert_eq!(
            settings.excluded_principals,
            vec![
                "6c2d8e14-3a9b-4f70-b5e2-d1c9a8f7e603".to_string(),
                "0b6f3c2e-7d41-4a5e-9c18-2f7e4d6a1b93".to_string()
            ],
            "an optional group without a value is left out"
        );
        assert!(settings.exclude_deployer);
        assert_eq!(settings.unmanage_resources, UnmanageAction::Detach);
    }

    #[test]
    fn template_paths() {
        assert_eq!(template_path_problem("epr/spoke.json.tera"), None);
        assert_eq!(
            template_path_problem("../x"),
            Some("leaves the template roots (`..`)")
        );
        assert_eq!(
            template_path_problem("a/../../x"),
            Some("leaves the template roots (`..`)")
        );
        assert_eq!(template_path_problem("/etc/passwd"), Some("is absolute"));
        assert_eq!(template_path_problem("C:\\x"), Some("is absolute"));
        assert_eq!(template_path_problem(""), Some("is empty"));
    }

    #[test]
    fn cycles_are_found_and_named() {
        assert_eq!(find_cycle(&[dep("a", &[]), dep("b", &["a"])]), None);
        assert_eq!(
            find_cycle(&[dep("a", &["b"]), dep("b", &["a"])]),
            Some(vec!["a".into(), "b".into(), "a".into()])
        );
        assert_eq!(
            find_cycle(&[dep("a", &["a"])]),
            Some(vec!["a".into(), "a".into()])
        );
        // Unknown names are reported elsewhere, not as cycles.
        assert_eq!(find_cycle(&[dep("a", &["zz"])]), None);
    }

    #[test]
    fn deployment_order_puts_dependencies_first() {
        let m = Manifest {
            api_version: API_VERSION.into(),
            name: "t".into(),
            version: semver::Version::new(1, 0, 0),
            description: "d".into(),
            exemplar: Exemplar {
                trust: "T".into(),
                ods_code: "RM3".into(),
            },
            template_roots: default_template_roots(),
            allowed_locations: default_locations(),
            parameters: IndexMap::new(),
            deployments: vec![
                dep("epr", &["net", "gov"]),
                dep("net", &["gov"]),
                dep("gov", &[]),
            ],
            outputs: IndexMap::new(),
            waivers: vec![],
            scanner_skips: vec![],
            migrations: vec![],
            guardrails: None,
            locks: None,
        };
        let order: Vec<&str> = m
            .deployment_order()
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(order, ["gov", "net", "epr"]);
    }
}
