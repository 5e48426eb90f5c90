//! Template processing: parameters, variables, conditions, copy loops, child resources, extension resources and
//! nested deployments, turned into a [`Plan`]: concrete resources in a dependency graph.

use super::eval::{type_name, Context, CopyFrame, Evaluator, Scope};
use super::ids;
use super::symbolic::{classic_form, Symbol};
use super::Error;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Where a deployment is made and what `subscription()`, `resourceGroup()`, `deployment()` and `tenant()` say.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentScope {
    /// `subscription().subscriptionId`.
    pub subscription_id: String,
    /// `subscription().tenantId` and `tenant().tenantId`.
    pub tenant_id: String,
    /// The target resource group; `None` for a subscription-scope deployment.
    pub resource_group: Option<ResourceGroupScope>,
    /// The deployment's name (`deployment().name`).
    pub deployment_name: String,
    /// The deployment's location (subscription-scope deployments have one).
    pub location: Option<String>,
    /// The subscription's display name, for `subscription().displayName`.
    pub subscription_display_name: String,
    /// The management group of a management-group-scope deployment (`managementGroup().name`); then
    /// `subscription_id` is empty and resources are created under the group.
    pub management_group: Option<String>,
}

/// The resource group a deployment targets.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceGroupScope {
    /// `resourceGroup().name`.
    pub name: String,
    /// `resourceGroup().location`.
    pub location: String,
    /// `resourceGroup().tags`.
    pub tags: Map<String, Value>,
}

impl DeploymentScope {
    /// A resource-group-scope deployment.
    pub fn resource_group(
        subscription_id: &str,
        tenant_id: &str,
        resource_group: &str,
        location: &str,
        deployment_name: &str,
    ) -> Self {
        DeploymentScope {
            subscription_id: subscription_id.to_string(),
            tenant_id: tenant_id.to_string(),
            resource_group: Some(ResourceGroupScope {
                name: resource_group.to_string(),
                location: location.to_string(),
                tags: Map::new(),
            }),
            deployment_name: deployment_name.to_string(),
            location: None,
            subscription_display_name: String::new(),
            management_group: None,
        }
    }

    /// A subscription-scope deployment.
    pub fn subscription(
        subscription_id: &str,
        tenant_id: &str,
        location: &str,
        deployment_name: &str,
    ) -> Self {
        DeploymentScope {
            subscription_id: subscription_id.to_string(),
            tenant_id: tenant_id.to_string(),
            resource_group: None,
            deployment_name: deployment_name.to_string(),
            location: Some(location.to_string()),
            subscription_display_name: String::new(),
            management_group: None,
        }
    }

    /// A management-group-scope deployment.
    pub fn management_group(
        group: &str,
        tenant_id: &str,
        location: &str,
        deployment_name: &str,
    ) -> Self {
        DeploymentScope {
            subscription_id: String::new(),
            tenant_id: tenant_id.to_string(),
            resource_group: None,
            deployment_name: deployment_name.to_string(),
            location: Some(location.to_string()),
            subscription_display_name: String::new(),
            management_group: Some(group.to_string()),
        }
    }

    /// `/subscriptions/{s}`, `/subscriptions/{s}/resourceGroups/{rg}` or
    /// `/providers/Microsoft.Management/managementGroups/{mg}`: where resources are created.
    pub fn base_id(&self) -> String {
        if let Some(mg) = &self.management_group {
            return ids::management_group_id(mg);
        }
        match &self.resource_group {
            Some(rg) => ids::resource_group_id(&self.subscription_id, &rg.name),
            None => ids::subscription_id(&self.subscription_id),
        }
    }

    /// The id of the deployment itself.
    pub fn deployment_id(&self) -> String {
        format!(
            "{}/providers/Microsoft.Resources/deployments/{}",
            self.base_id(),
            self.deployment_name
        )
    }
}

/// How the local cloud answers `reference()` and `list*()` once resources exist.
pub trait Resolver: Sync {
    /// The resource's properties (or, when `full`, the whole resource). For a nested deployment, its
    /// deployment object (`{"outputs": {...}, ...}` as `properties`). Unknown → [`Error::Resolver`] with ARM's code.
    fn reference(&self, id: &str, api_version: Option<&str>, full: bool) -> Result<Value, Error>;
    /// `listKeys(id, apiVersion)` and friends.
    fn list(
        &self,
        function: &str,
        id: &str,
        api_version: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let _ = (api_version, body);
        Err(Error::NotYetKnown {
            what: format!("{function}('{id}')"),
        })
    }
    /// `providers(namespace, [resourceType])`, from the cloud's provider registrations.
    fn providers(&self, namespace: &str, resource_type: Option<&str>) -> Result<Value, Error> {
        let _ = resource_type;
        Err(Error::NotYetKnown {
            what: format!("providers('{namespace}')"),
        })
    }
}

/// A resolver for when nothing is deployed: every `reference()` is [`Error::NotYetKnown`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Unresolved;

impl Resolver for Unresolved {
    fn reference(&self, id: &str, _: Option<&str>, _: bool) -> Result<Value, Error> {
        Err(Error::NotYetKnown {
            what: format!("reference('{id}')"),
        })
    }
}

/// Records which ids `reference()`/`list*()` asked for, answering "not yet known": implicit dependencies.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<String>>,
}

impl Resolver for Recorder {
    fn reference(&self, id: &str, _: Option<&str>, _: bool) -> Result<Value, Error> {
        if let Ok(mut s) = self.seen.lock() {
            s.push(id.to_string());
        }
        Unresolved.reference(id, None, false)
    }
    fn list(&self, function: &str, id: &str, _: &str, _: Option<&Value>) -> Result<Value, Error> {
        if let Ok(mut s) = self.seen.lock() {
            s.push(id.to_string());
        }
        Err(Error::NotYetKnown {
            what: format!("{function}('{id}')"),
        })
    }
}

struct ScopeContext<'a> {
    scope: &'a DeploymentScope,
    content_version: &'a str,
    resolver: &'a dyn Resolver,
    utc_now: Option<time::OffsetDateTime>,
}

impl Context for ScopeContext<'_> {
    fn subscription(&self) -> Value {
        serde_json::json!({
            "id": ids::subscription_id(&self.scope.subscription_id),
            "subscriptionId": self.scope.subscription_id,
            "tenantId": self.scope.tenant_id,
            "displayName": self.scope.subscription_display_name,
        })
    }
    fn resource_group(&self) -> Option<Value> {
        self.scope.resource_group.as_ref().map(|rg| {
            serde_json::json!({
                "id": ids::resource_group_id(&self.scope.subscription_id, &rg.name),
                "name": rg.name,
                "type": "Microsoft.Resources/resourceGroups",
                "location": rg.location,
                "tags": rg.tags,
                "properties": {"provisioningState": "Succeeded"},
            })
        })
    }
    fn subscription_id(&self) -> Option<String> {
        // A management group deployment has no subscription: `resourceId()` then gives tenant-level ids.
        Some(self.scope.subscription_id.clone()).filter(|s| !s.is_empty())
    }
    fn management_group(&self) -> Option<Value> {
        self.scope.management_group.as_ref().map(|mg| {
            serde_json::json!({
                "id": ids::management_group_id(mg),
                "name": mg,
                "type": "/providers/Microsoft.Management/managementGroups",
                "properties": {"displayName": mg, "tenantId": self.scope.tenant_id},
            })
        })
    }
    fn resource_group_name(&self) -> Option<String> {
        self.scope.resource_group.as_ref().map(|rg| rg.name.clone())
    }
    fn deployment(&self) -> Value {
        let mut d = serde_json::json!({
            "name": self.scope.deployment_name,
            "properties": {
                "template": {"contentVersion": self.content_version},
                "mode": "Incremental",
                "provisioningState": "Accepted",
            },
        });
        if let (Some(loc), Some(obj)) = (&self.scope.location, d.as_object_mut()) {
            obj.insert("location".into(), Value::String(loc.clone()));
        }
        d
    }
    fn tenant(&self) -> Value {
        serde_json::json!({
            "tenantId": self.scope.tenant_id,
            "countryCode": "GB",
            "displayName": "",
        })
    }
    fn reference(&self, id: &str, api_version: Option<&str>, full: bool) -> Result<Value, Error> {
        self.resolver.reference(id, api_version, full)
    }
    fn list(
        &self,
        function: &str,
        id: &str,
        api_version: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        self.resolver.list(function, id, api_version, body)
    }
    fn utc_now(&self) -> Option<time::OffsetDateTime> {
        self.utc_now
    }
    fn providers(&self, namespace: &str, resource_type: Option<&str>) -> Result<Value, Error> {
        self.resolver.providers(namespace, resource_type)
    }
}

/// What expressions of one template are evaluated against (shared by a template's nodes; an outer-scope nested
/// deployment shares its parent's).
#[derive(Debug)]
struct Shared {
    scope: Arc<Scope>,
    /// The scope `subscription()`/`resourceGroup()`/`deployment()` describe.
    context: DeploymentScope,
    content_version: String,
    /// Declared resource names (lower case) → ids, for `reference('name')`.
    names: HashMap<String, String>,
}

impl Shared {
    fn evaluator<'a>(&'a self, ctx: &'a ScopeContext<'a>, lenient: bool) -> Evaluator<'a> {
        Evaluator::new(ctx, &self.scope)
            .with_names(&self.names)
            .lenient(lenient)
    }
    fn context<'a>(&'a self, resolver: &'a dyn Resolver) -> ScopeContext<'a> {
        ScopeContext {
            scope: &self.context,
            content_version: &self.content_version,
            resolver,
            utc_now: None,
        }
    }
}

/// What a plan node deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// An ordinary resource: PUT its body.
    Resource,
    /// A nested `Microsoft.Resources/deployments` with an inline template: recurse with [`Plan::nested`].
    Deployment,
}

/// One concrete resource (or nested deployment) of a plan.
#[derive(Debug, Clone)]
pub struct Node {
    /// Position in [`Plan::nodes`].
    pub index: usize,
    /// A resource, or a nested deployment to recurse into.
    pub kind: NodeKind,
    /// Full resource id, in canonical casing as written in the template.
    pub id: String,
    /// Full type (`Microsoft.Network/virtualNetworks/subnets`).
    pub resource_type: String,
    /// The resource's `apiVersion`.
    pub api_version: String,
    /// Full name (`vnet1/app`).
    pub name: String,
    /// The evaluated `location`, when the resource has one (and it does not need `reference()`).
    pub location: Option<String>,
    /// Nodes (indexes) that must be deployed first.
    pub depends_on: Vec<usize>,
    /// Where in the template it is declared (`resources[2].resources[0]`, with `[copy 3]` for loop items).
    pub path: String,
    /// The resource body evaluated as far as possible before deployment; expressions that need `reference()`
    /// stay as their text. `dependsOn`, `copy`, `condition` and child `resources` are removed.
    pub body: Value,
    /// For nested deployments: the target subscription and resource group (`None` = subscription scope).
    pub target_subscription: String,
    /// For nested deployments: the target resource group (`None` = subscription scope). For resources: the
    /// deployment's group.
    pub target_resource_group: Option<String>,
    /// For nested deployments from a management group deployment: the management group they run at (the
    /// parent's own, or a child named by `scope`); `None` when they target a subscription or group.
    pub target_management_group: Option<String>,
    raw: Value,
    copy: Vec<CopyFrame>,
    shared: Arc<Shared>,
}

/// A template evaluated for one deployment: its resources as a DAG, ready for the local cloud's engine (or for
/// static expansion).
#[derive(Debug)]
pub struct Plan {
    /// Where the deployment is made.
    pub scope: DeploymentScope,
    /// Final parameter values, declared names, declaration order.
    pub parameters: Map<String, Value>,
    /// The declared parameter types (ARM's spelling: `String`, `SecureString`, `Int`, ...), same order.
    pub parameter_types: Map<String, Value>,
    /// Concrete resources and nested deployments.
    pub nodes: Vec<Node>,
    outputs: Value,
    shared: Arc<Shared>,
    lenient: bool,
}

/// How a template is planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// For the engine: anything that is not an expression depending on deployed resources must evaluate.
    #[default]
    Strict,
    /// For static checks: values only known after deployment stay as expression text; conditions that
    /// cannot be known count as true; secrets are placeholders.
    Static,
}

const SECRET_PLACEHOLDER: &str = "(secret supplied at deployment)";

/// The placeholder static expansion puts where a secret parameter's value would be.
pub fn secret_placeholder() -> &'static str {
    SECRET_PLACEHOLDER
}

/// Turn a parameters file's `parameters` object (`{"p": {"value": ...}}` or `{"p": {"reference": ...}}`) into
/// values. Key Vault references become a placeholder in [`Mode::Static`] and an error in [`Mode::Strict`]
/// (the engine resolves them itself before planning).
pub fn parameter_values(parameters: &Value, mode: Mode) -> Result<Map<String, Value>, Error> {
    let Some(obj) = parameters.as_object() else {
        if parameters.is_null() {
            return Ok(Map::new());
        }
        return Err(Error::template(format!(
            "parameters must be an object, not {}",
            type_name(parameters)
        )));
    };
    // A whole parameters file, or just its `parameters` member. A parameter that is itself named
    // `parameters` has a `value` or `reference`; the file's member does not.
    let obj = match obj.get("parameters") {
        Some(Value::Object(inner))
            if obj.contains_key("$schema")
                || obj.contains_key("contentVersion")
                || !(inner.contains_key("value") || inner.contains_key("reference")) =>
        {
            inner
        }
        _ => obj,
    };
    let mut out = Map::new();
    for (name, entry) in obj {
        if let Some(v) = entry.get("value") {
            out.insert(name.clone(), v.clone());
        } else if entry.get("reference").is_some() {
            if mode == Mode::Static {
                out.insert(name.clone(), Value::String(SECRET_PLACEHOLDER.into()));
            } else {
                return Err(Error::Parameter {
                    name: name.clone(),
                    message: "a Key Vault reference must be resolved before planning".into(),
                });
            }
        } else {
            return Err(Error::Parameter {
                name: name.clone(),
                message: "needs a 'value' (or a Key Vault 'reference')".into(),
            });
        }
    }
    Ok(out)
}

fn arm_type_name(t: &str) -> Option<&'static str> {
    Some(match t.to_ascii_lowercase().as_str() {
        "string" => "String",
        "securestring" => "SecureString",
        "int" => "Int",
        "bool" => "Bool",
        "object" => "Object",
        "secureobject" => "SecureObject",
        "array" => "Array",
        _ => return None,
    })
}

/// ARM converts a parameter value given as a string where the template declares an int, a bool, an array or
/// an object (`"3"`, `"true"`, `"[\"a\"]"`, `"{}"`): parameter files and the CLI often pass them so. A string
/// that does not convert stays a string (and is then refused with the declared type).
fn coerce(arm_type: &str, value: Value) -> Value {
    let Value::String(text) = &value else {
        return value;
    };
    let converted = match arm_type {
        "Int" => text.trim().parse::<i64>().ok().map(Value::from),
        "Bool" if text.trim().eq_ignore_ascii_case("true") => Some(Value::Bool(true)),
        "Bool" if text.trim().eq_ignore_ascii_case("false") => Some(Value::Bool(false)),
        "Array" => serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_array),
        "Object" | "SecureObject" => serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object),
        _ => None,
    };
    converted.unwrap_or(value)
}

fn type_matches(arm_type: &str, v: &Value) -> bool {
    match arm_type {
        "String" | "SecureString" => v.is_string(),
        "Int" => v.as_i64().is_some(),
        "Bool" => v.is_boolean(),
        "Object" | "SecureObject" => v.is_object(),
        "Array" => v.is_array(),
        _ => false,
    }
}

impl Plan {
    /// Plan a template: `parameters` are values by name (see [`parameter_values`]).
    pub fn new(
        template: &Value,
        parameters: &Map<String, Value>,
        scope: &DeploymentScope,
        mode: Mode,
    ) -> Result<Plan, Error> {
        Self::build(template, parameters, scope, mode, None, &Unresolved)
    }

    fn build(
        template: &Value,
        parameters: &Map<String, Value>,
        target: &DeploymentScope,
        mode: Mode,
        outer: Option<&Arc<Shared>>,
        resolver: &dyn Resolver,
    ) -> Result<Plan, Error> {
        let lenient = mode == Mode::Static;
        let t = template.as_object().ok_or_else(|| {
            Error::template(format!(
                "a template must be a JSON object, not {}",
                type_name(template)
            ))
        })?;
        // A `languageVersion: 2.0` template (resources keyed by symbolic name, `existing` resources,
        // user-defined types) is brought to the classic form, remembering each resource's symbolic name.
        let converted;
        let (t, symbols): (&Map<String, Value>, &[Symbol]) = if t.contains_key("languageVersion")
            || matches!(t.get("resources"), Some(Value::Object(_)))
            || t.contains_key("definitions")
        {
            converted = classic_form(t)?;
            (&converted.0, converted.1.as_slice())
        } else {
            (t, &[])
        };
        let content_version = t
            .get("contentVersion")
            .and_then(Value::as_str)
            .unwrap_or("1.0.0.0")
            .to_string();

        let (scope, param_values, param_types) = match outer {
            Some(parent) => (parent.scope.clone(), Map::new(), Map::new()),
            None => {
                let (values, types) = process_parameters(
                    t.get("parameters"),
                    parameters,
                    target,
                    &content_version,
                    mode,
                )?;
                let mut s = Scope::new(
                    &values,
                    t.get("variables")
                        .and_then(Value::as_object)
                        .unwrap_or(&Map::new()),
                )
                .map_err(|e| e.at(|| "variables".into()))?;
                if let Some(fs) = t.get("functions") {
                    s = s
                        .with_functions(fs)
                        .map_err(|e| e.at(|| "functions".into()))?;
                }
                for (name, t) in &types {
                    if t.as_str().is_some_and(|t| t.starts_with("Secure")) {
                        s.mark_secure(name);
                    }
                }
                if lenient {
                    for (name, v) in &values {
                        if is_unevaluated(v) {
                            s.mark_unknown(name);
                        }
                    }
                }
                (Arc::new(s), values, types)
            }
        };
        let context = match outer {
            // ARM's outer scope: the parent's functions see the parent's deployment, even for resources that go
            // into another resource group.
            Some(parent) => parent.context.clone(),
            None => target.clone(),
        };
        let mut shared = Shared {
            scope,
            context,
            content_version,
            // An outer-scope nested template sees its parent's resources by name too.
            names: outer.map(|p| p.names.clone()).unwrap_or_default(),
        };

        // Pass 1: expand conditions, copy loops and child resources into concrete names and ids.
        let mut pending = Vec::new();
        let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
        let mut excluded: HashSet<String> = HashSet::new();
        let mut symbol_ids: Vec<(String, String)> = Vec::new();
        let mut existing_deps: HashMap<String, Vec<String>> = HashMap::new();
        {
            let ctx = shared.context(resolver);
            let ev = shared.evaluator(&ctx, lenient);
            let resources: &[Value] = match t.get("resources") {
                None => &[],
                Some(Value::Array(r)) => r,
                Some(v) => {
                    return Err(Error::template(format!(
                        "resources must be an array, not {}",
                        type_name(v)
                    )))
                }
            };
            for (i, r) in resources.iter().enumerate() {
                let path = match symbols.get(i) {
                    Some(sym) => format!("resources.{}", sym.name),
                    None => format!("resources[{i}]"),
                };
                let sym = symbols.get(i);
                if sym.is_some_and(|s| s.existing) {
                    // An `existing` resource is not deployed: only its id is needed, for reference() and
                    // dependsOn. A dependsOn on it stands for what it depends on itself (a resource this
                    // template deploys and then reads back as `existing`).
                    let (mut scratch, mut g, mut x) = (Vec::new(), HashMap::new(), HashSet::new());
                    expand_resource(&ev, r, &path, None, target, &mut scratch, &mut g, &mut x)?;
                    let key = sym.map(|s| s.name.to_ascii_lowercase()).unwrap_or_default();
                    let through: Vec<String> = r
                        .get("dependsOn")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .filter(|d| !d.starts_with('['))
                        .map(str::to_ascii_lowercase)
                        .collect();
                    existing_deps.insert(key.clone(), through);
                    if let Some(first) = scratch.first() {
                        symbol_ids.push((key.clone(), first.id.clone()));
                    }
                    excluded.insert(key);
                    continue;
                }
                let before = pending.len();
                expand_resource(
                    &ev,
                    r,
                    &path,
                    None,
                    target,
                    &mut pending,
                    &mut groups,
                    &mut excluded,
                )?;
                if let Some(sym) = sym {
                    let key = sym.name.to_ascii_lowercase();
                    let made: Vec<usize> = (before..pending.len()).collect();
                    if r.get("copy").is_none() {
                        if let Some(&first) = made.first() {
                            symbol_ids.push((key.clone(), pending[first].id.clone()));
                        }
                    } else {
                        // One instance of a copied symbolic resource is `name[i]` (Bicep's
                        // `reference(format('stores[{0}]', i))`, `dependsOn: "[format('stores[{0}]', i)]"`).
                        for (j, &m) in made.iter().enumerate() {
                            let instance = format!("{key}[{j}]");
                            symbol_ids.push((instance.clone(), pending[m].id.clone()));
                            groups.entry(instance).or_default().push(m);
                        }
                    }
                    if made.is_empty() {
                        excluded.insert(key.clone());
                    }
                    groups.entry(key).or_default().extend(made);
                }
            }
        }
        for p in &pending {
            shared
                .names
                .insert(p.name.to_ascii_lowercase(), p.id.clone());
        }
        // A child declared inline is written with its own name only (`"name": "endpoint"` inside a CDN
        // profile), and ARM resolves `reference('endpoint')` to it: the last segment names the child when no
        // other declared resource has that name and no two children share it.
        let mut short: HashMap<String, Option<String>> = HashMap::new();
        for p in &pending {
            if let Some((_, last)) = p.name.rsplit_once('/') {
                short
                    .entry(last.to_ascii_lowercase())
                    .and_modify(|id| *id = None)
                    .or_insert_with(|| Some(p.id.clone()));
            }
        }
        for (key, id) in short {
            if let Some(id) = id {
                shared.names.entry(key).or_insert(id);
            }
        }
        for (key, id) in symbol_ids {
            shared.names.insert(key, id);
        }
        let shared = Arc::new(shared);

        // Pass 2: evaluate bodies (as far as possible) and dependencies.
        let mut index_of: HashMap<String, Vec<usize>> = HashMap::new();
        // A child resource's last name segment: ARM accepts it in dependsOn when nothing else matches.
        let mut short_names: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, p) in pending.iter().enumerate() {
            let by_id = index_of.entry(ids::comparable(&p.id)).or_default();
            if let Some(&first) = by_id.first() {
                return Err(Error::template(format!(
                    "resource '{}' is defined multiple times in the template (also at {})",
                    p.id, pending[first].path
                ))
                .at(|| p.path.clone()));
            }
            by_id.push(i);
            index_of
                .entry(p.name.to_ascii_lowercase())
                .or_default()
                .push(i);
            if let Ok(tn) = ids::provider_path(&p.resource_type, &[&p.name]) {
                index_of.entry(tn.to_ascii_lowercase()).or_default().push(i);
            }
            if let Some((_, short)) = p.name.rsplit_once('/') {
                short_names
                    .entry(short.to_ascii_lowercase())
                    .or_default()
                    .push(i);
            }
        }
        let mut nodes = Vec::with_capacity(pending.len());
        for (index, p) in pending.into_iter().enumerate() {
            let recorder = Recorder::default();
            let ctx = shared.context(&recorder);
            let ev = shared.evaluator(&ctx, true).with_copy(p.copy.clone());
            let body = evaluate_body(&ev, &p.raw, &p.path, p.kind)?;
            let mut deps: Vec<usize> = Vec::new();
            if let Some(d) = p.raw.get("dependsOn") {
                let strict = shared.evaluator(&ctx, false).with_copy(p.copy.clone());
                let list = match d {
                    Value::String(s) => strict.eval_str(s),
                    other => strict.eval_value(other, &format!("{}.dependsOn", p.path), false),
                };
                let list = list.map_err(|e| {
                    if e.is_not_yet_known() {
                        Error::Unsupported {
                            construct: "dependsOn that needs reference()".into(),
                        }
                        .at(|| format!("{}.dependsOn", p.path))
                    } else {
                        e.at(|| format!("{}.dependsOn", p.path))
                    }
                })?;
                let mut entries: Vec<Value> = match list {
                    Value::Array(a) => a,
                    v => vec![v],
                };
                // A dependency on an `existing` resource is one on what that resource depends on.
                let mut seen_existing: HashSet<String> = HashSet::new();
                let mut i = 0;
                while i < entries.len() {
                    if let Some(key) = entries[i].as_str().map(str::to_ascii_lowercase) {
                        if let Some(through) = existing_deps.get(&key) {
                            if seen_existing.insert(key) {
                                entries.extend(through.iter().map(|d| Value::String(d.clone())));
                            }
                        }
                    }
                    i += 1;
                }
                for (di, entry) in entries.iter().enumerate() {
                    let Value::String(target_ref) = entry else {
                        return Err(Error::template("dependsOn entries must be strings")
                            .at(|| format!("{}.dependsOn[{di}]", p.path)));
                    };
                    let key = if target_ref.starts_with('/') {
                        ids::comparable(target_ref)
                    } else {
                        target_ref.to_ascii_lowercase()
                    };
                    let found: Vec<usize> = index_of
                        .get(&key)
                        .cloned()
                        .or_else(|| groups.get(&key).cloned())
                        .or_else(|| short_names.get(&key).cloned())
                        .unwrap_or_default();
                    if found.is_empty() && !excluded.contains(&key) {
                        return Err(Error::UnknownDependency {
                            target: target_ref.clone(),
                        }
                        .at(|| format!("{}.dependsOn[{di}]", p.path)));
                    }
                    deps.extend(found);
                }
            }
            deps.extend(p.implicit.iter().copied());
            // reference() of a resource in this template is an implicit dependency, as in ARM.
            for id in recorder.seen.lock().map(|s| s.clone()).unwrap_or_default() {
                if let Some(found) = index_of.get(&ids::comparable(&id)) {
                    deps.extend(found);
                }
            }
            deps.retain(|&d| d != index);
            deps.sort_unstable();
            deps.dedup();
            let location = body
                .get("location")
                .and_then(Value::as_str)
                .map(str::to_string);
            nodes.push(Node {
                index,
                kind: p.kind,
                id: p.id,
                resource_type: p.resource_type,
                api_version: p.api_version,
                name: p.name,
                location,
                depends_on: deps,
                path: p.path,
                body,
                target_subscription: p.target_subscription,
                target_resource_group: p.target_resource_group,
                target_management_group: p.target_management_group,
                raw: p.raw,
                copy: p.copy,
                shared: shared.clone(),
            });
        }
        let plan = Plan {
            scope: target.clone(),
            parameters: param_values,
            parameter_types: param_types,
            nodes,
            outputs: if outer.is_some() {
                Value::Null
            } else {
                t.get("outputs").cloned().unwrap_or(Value::Null)
            },
            shared,
            lenient,
        };
        plan.layers()?;
        Ok(plan)
    }

    /// The nodes in dependency layers: every node's dependencies are in earlier layers, so each layer's nodes can
    /// be deployed in parallel. A dependency cycle is an error naming the resources in it.
    pub fn layers(&self) -> Result<Vec<Vec<usize>>, Error> {
        let n = self.nodes.len();
        let mut indegree: Vec<usize> = self.nodes.iter().map(|x| x.depends_on.len()).collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for node in &self.nodes {
            for &d in &node.depends_on {
                dependents[d].push(node.index);
            }
        }
        let mut layer: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
        let mut layers = Vec::new();
        let mut done = 0;
        while !layer.is_empty() {
            done += layer.len();
            let mut next = Vec::new();
            for &i in &layer {
                for &j in &dependents[i] {
                    indegree[j] -= 1;
                    if indegree[j] == 0 {
                        next.push(j);
                    }
                }
            }
            next.sort_unstable();
            layers.push(std::mem::take(&mut layer));
            layer = next;
        }
        if done < n {
            return Err(Error::DependencyCycle {
                cycle: self.find_cycle(&indegree),
            });
        }
        Ok(layers)
    }

    fn find_cycle(&self, indegree: &[usize]) -> Vec<String> {
        // Walk dependencies from any node left with unmet dependencies until a node repeats.
        let Some(start) = indegree.iter().position(|&d| d > 0) else {
            return Vec::new();
        };
        let mut seen: Vec<usize> = Vec::new();
        let mut cur = start;
        loop {
            if let Some(pos) = seen.iter().position(|&s| s == cur) {
                let mut cycle: Vec<String> = seen[pos..]
                    .iter()
                    .map(|&i| self.nodes[i].name.clone())
                    .collect();
                cycle.push(self.nodes[cur].name.clone());
                return cycle;
            }
            seen.push(cur);
            match self.nodes[cur]
                .depends_on
                .iter()
                .find(|&&d| indegree[d] > 0)
            {
                Some(&d) => cur = d,
                None => return seen.iter().map(|&i| self.nodes[i].name.clone()).collect(),
            }
        }
    }

    /// Evaluate a node's whole body now that the resources it references exist.
    pub fn evaluate(&self, node: usize, resolver: &dyn Resolver) -> Result<Value, Error> {
        let n = self.node(node)?;
        let ctx = n.shared.context(resolver);
        let ev = n
            .shared
            .evaluator(&ctx, self.lenient)
            .with_copy(n.copy.clone());
        evaluate_body(&ev, &n.raw, &n.path, n.kind)
    }

    fn node(&self, node: usize) -> Result<&Node, Error> {
        self.nodes.get(node).ok_or_else(|| {
            Error::template(format!(
                "no node {node} in the plan ({} nodes)",
                self.nodes.len()
            ))
        })
    }

    /// Plan a nested deployment node: its inline template with its own parameters (`inner` scope) or the
    /// parent's parameters and variables (`outer`, the default). `resource_group_location` is the target
    /// group's location when it is known (the engine knows it; static expansion assumes the parent's).
    pub fn nested(
        &self,
        node: usize,
        resolver: &dyn Resolver,
        resource_group_location: Option<&str>,
    ) -> Result<Plan, Error> {
        let n = self.node(node)?;
        if n.kind != NodeKind::Deployment {
            return Err(Error::template(format!(
                "{} is not a nested deployment",
                n.id
            )));
        }
        let body = self.evaluate(node, resolver)?;
        let props = n.raw.get("properties").cloned().unwrap_or(Value::Null);
        let path = format!("{}.properties", n.path);
        if props.get("templateLink").is_some() {
            return Err(Error::Unsupported {
                construct: "templateLink in nested deployments (inline 'template' only)".into(),
            }
            .at(|| path.clone()));
        }
        let template = props.get("template").ok_or_else(|| {
            Error::template("a nested deployment needs properties.template").at(|| path.clone())
        })?;
        let inner = props
            .pointer("/expressionEvaluationOptions/scope")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("inner"));
        let location = resource_group_location
            .map(str::to_string)
            .or_else(|| {
                self.scope
                    .resource_group
                    .as_ref()
                    .map(|rg| rg.location.clone())
            })
            .or_else(|| self.scope.location.clone())
            .unwrap_or_default();
        let target = DeploymentScope {
            management_group: n.target_management_group.clone(),
            subscription_id: n.target_subscription.clone(),
            tenant_id: self.scope.tenant_id.clone(),
            resource_group: n
                .target_resource_group
                .as_ref()
                .map(|rg| ResourceGroupScope {
                    name: rg.clone(),
                    location: location.clone(),
                    tags: Map::new(),
                }),
            deployment_name: n.name.clone(),
            location: body
                .get("location")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| n.target_resource_group.is_none().then(|| location.clone())),
            subscription_display_name: self.scope.subscription_display_name.clone(),
        };
        let mode = if self.lenient {
            Mode::Static
        } else {
            Mode::Strict
        };
        let result = if inner {
            let params = parameter_values(
                body.pointer("/properties/parameters")
                    .unwrap_or(&Value::Null),
                mode,
            )?;
            Plan::build(template, &params, &target, mode, None, resolver)
        } else {
            Plan::build(
                template,
                &Map::new(),
                &target,
                mode,
                Some(&n.shared),
                resolver,
            )
        };
        result.map_err(|e| e.within(&format!("{path}.template")))
    }

    /// The template's outputs, evaluated once every resource exists: `{"name": {"type": "String", "value": ...}}`.
    pub fn outputs(&self, resolver: &dyn Resolver) -> Result<Map<String, Value>, Error> {
        let mut out = Map::new();
        let Some(outputs) = self.outputs.as_object() else {
            return Ok(out);
        };
        let ctx = self.shared.context(resolver);
        let ev = self.shared.evaluator(&ctx, self.lenient);
        for (name, def) in outputs {
            let path = format!("outputs.{name}");
            if let Some(cond) = def.get("condition") {
                match ev.eval_value(cond, &format!("{path}.condition"), false)? {
                    Value::Bool(false) => continue,
                    Value::Bool(true) => {}
                    Value::String(_) if self.lenient => {}
                    v => {
                        return Err(Error::template(format!(
                            "condition must be a bool, not {}",
                            type_name(&v)
                        ))
                        .at(|| format!("{path}.condition")))
                    }
                }
            }
            let declared = def.get("type").and_then(Value::as_str).unwrap_or("");
            let arm_type = arm_type_name(declared).ok_or_else(|| {
                Error::template(format!("output type '{declared}' is not one of string, securestring, int, bool, object, secureObject, array"))
                    .at(|| format!("{path}.type"))
            })?;
            let value = if let Some(copy) = def.get("copy") {
                let count = ev.copy_count(copy.get("count"), &format!("{path}.copy.count"))?;
                let input = copy.get("input").ok_or_else(|| {
                    Error::template("an output copy needs 'input'").at(|| format!("{path}.copy"))
                })?;
                let mut items = Vec::new();
                for index in 0..count {
                    ev.push_copy(CopyFrame {
                        name: name.clone(),
                        index,
                        primary: true,
                    });
                    let item = ev.eval_value(input, &format!("{path}.copy.input"), false);
                    ev.pop_copy();
                    items.push(item?);
                }
                Value::Array(items)
            } else {
                let v = def.get("value").ok_or_else(|| {
                    Error::template("an output needs 'value' or 'copy'").at(|| path.clone())
                })?;
                ev.eval_value(v, &format!("{path}.value"), false)?
            };
            let nullable = def.get("nullable").and_then(Value::as_bool) == Some(true);
            let allowed_null = nullable && value.is_null();
            if !(self.lenient || allowed_null || type_matches(arm_type, &value)) {
                return Err(Error::template(format!(
                    "output is declared {declared} but the value is {}",
                    type_name(&value)
                ))
                .at(|| path.clone()));
            }
            out.insert(
                name.clone(),
                serde_json::json!({"type": arm_type, "value": value}),
            );
        }
        Ok(out)
    }

    /// Parameters as ARM reports them on a deployment (`{"p": {"type": "String", "value": ...}}`), secure ones
    /// without their value.
    pub fn reported_parameters(&self) -> Map<String, Value> {
        self.parameters
            .iter()
            .map(|(k, v)| {
                let t = self
                    .parameter_types
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("String");
                let entry = if t.starts_with("Secure") {
                    serde_json::json!({"type": t})
                } else {
                    serde_json::json!({"type": t, "value": v})
                };
                (k.clone(), entry)
            })
            .collect()
    }
}

/// A string that is still an expression: a value static expansion could not know.
fn is_unevaluated(v: &Value) -> bool {
    matches!(v, Value::String(s) if matches!(super::parse::classify(s), super::parse::Template::Expression(_)))
}

/// Whether a parameter value is an allowed value: strings equal without regard to case, anything else equal.
fn same_allowed_value(allowed: &Value, value: &Value) -> bool {
    match (allowed, value) {
        (Value::String(a), Value::String(v)) => a.eq_ignore_ascii_case(v),
        (a, v) => a == v,
    }
}

/// Parameter values and their ARM type names, in declaration order.
type ParameterTable = (Map<String, Value>, Map<String, Value>);

/// Parameter processing: supplied values, defaults (which may be expressions over earlier parameters), types,
/// allowed values and bounds.
fn process_parameters(
    declared: Option<&Value>,
    supplied: &Map<String, Value>,
    target: &DeploymentScope,
    content_version: &str,
    mode: Mode,
) -> Result<ParameterTable, Error> {
    let empty = Map::new();
    let declared = match declared {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(o)) => o,
        Some(v) => {
            return Err(Error::template(format!(
                "parameters must be an object, not {}",
                type_name(v)
            )))
        }
    };
    for name in supplied.keys() {
        if !declared.keys().any(|d| d.eq_ignore_ascii_case(name)) {
            let mut known: Vec<&str> = declared.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(Error::Parameter {
                name: name.clone(),
                message: format!(
                    "a value is given but the template does not declare it (it declares: {})",
                    if known.is_empty() {
                        "nothing".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            });
        }
    }
    let mut values = Map::new();
    let mut types = Map::new();
    let mut scope = Scope::new(&Map::new(), &Map::new())?;
    let ctx = ScopeContext {
        scope: target,
        content_version,
        resolver: &Unresolved,
        utc_now: Some(time::OffsetDateTime::now_utc()),
    };
    for (name, def) in declared {
        let perr = |message: String| Error::Parameter {
            name: name.clone(),
            message,
        };
        let t = def
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| perr("needs a 'type'".into()))?;
        let arm_type = arm_type_name(t).ok_or_else(|| {
            perr(format!("type '{t}' is not one of string, securestring, int, bool, object, secureObject, array"))
        })?;
        // languageVersion 2.0: a `"nullable": true` parameter (Bicep's `param p string?`) is optional, and
        // null when no value is given; a null value skips its type and constraint checks.
        let nullable = def.get("nullable").and_then(Value::as_bool) == Some(true);
        let value = match supplied.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            Some((_, v)) => v.clone(),
            None => match def.get("defaultValue") {
                Some(d) => {
                    let ev = Evaluator::new(&ctx, &scope);
                    ev.eval_value(d, &format!("parameters.{name}.defaultValue"), false)?
                }
                None if nullable => Value::Null,
                None => {
                    return Err(perr(
                        "no value was given and the template has no defaultValue".into(),
                    ))
                }
            },
        };
        if nullable && value.is_null() {
            scope.set_parameter(name, Value::Null);
            values.insert(name.clone(), Value::Null);
            types.insert(name.clone(), Value::String(arm_type.into()));
            continue;
        }
        // Static expansion passes a nested deployment values it could not evaluate (they need reference()):
        // they are unknown, not wrong. Secret placeholders stand for a value checked at deployment.
        if mode == Mode::Static && (is_unevaluated(&value) || value == SECRET_PLACEHOLDER) {
            scope.set_parameter(name, value.clone());
            values.insert(name.clone(), value);
            types.insert(name.clone(), Value::String(arm_type.into()));
            continue;
        }
        let value = coerce(arm_type, value);
        if !type_matches(arm_type, &value) {
            return Err(perr(format!(
                "expected a value of type {t}, got {}",
                type_name(&value)
            )));
        }
        if let Some(Value::Array(allowed)) = def.get("allowedValues") {
            // ARM compares strings without regard to case (Bicep's stricter `@allowed` is its own choice:
            // Azure/bicep#2489), so `eastus` passes `["EastUS"]` and is kept as given.
            let allows = |v: &Value| allowed.iter().any(|a| same_allowed_value(a, v));
            let ok = match &value {
                Value::Array(items) if arm_type == "Array" => items.iter().all(allows),
                v => allows(v),
            };
            if !ok {
                let shown = if arm_type.starts_with("Secure") {
                    "the value".to_string()
                } else {
                    format!("{value}")
                };
                return Err(perr(format!(
                    "{shown} is not one of the allowed values {}",
                    Value::Array(allowed.clone())
                )));
            }
        }
        if let Some(i) = value.as_i64() {
            if let Some(min) = def.get("minValue").and_then(Value::as_i64) {
                if i < min {
                    return Err(perr(format!("{i} is less than minValue {min}")));
                }
            }
            if let Some(max) = def.get("maxValue").and_then(Value::as_i64) {
                if i > max {
                    return Err(perr(format!("{i} is more than maxValue {max}")));
                }
            }
        }
        let len = match &value {
            Value::String(s) => Some(s.chars().count() as i64),
            Value::Array(a) => Some(a.len() as i64),
            _ => None,
        };
        if let Some(len) = len {
            if let Some(min) = def.get("minLength").and_then(Value::as_i64) {
                if len < min {
                    return Err(perr(format!("length {len} is less than minLength {min}")));
                }
            }
            if let Some(max) = def.get("maxLength").and_then(Value::as_i64) {
                if len > max {
                    return Err(perr(format!("length {len} is more than maxLength {max}")));
                }
            }
        }
        scope.set_parameter(name, value.clone());
        values.insert(name.clone(), value);
        types.insert(name.clone(), Value::String(arm_type.into()));
    }
    Ok((values, types))
}

/// A resource after pass 1: concrete name and id, not yet its body.
struct Pending {
    kind: NodeKind,
    id: String,
    resource_type: String,
    api_version: String,
    name: String,
    path: String,
    raw: Value,
    copy: Vec<CopyFrame>,
    implicit: Vec<usize>,
    target_subscription: String,
    target_resource_group: Option<String>,
    target_management_group: Option<String>,
}

struct Parent {
    resource_type: String,
    name: String,
    index: usize,
    base: String,
}

fn eval_string_field(
    ev: &Evaluator<'_>,
    r: &Value,
    field: &str,
    path: &str,
) -> Result<Option<String>, Error> {
    let Some(v) = r.get(field) else {
        return Ok(None);
    };
    let at = format!("{path}.{field}");
    let value = match v {
        Value::String(s) => ev.eval_str(s).map_err(|e| {
            if e.is_not_yet_known() {
                Error::Unsupported {
                    construct: format!("a resource {field} that needs reference()"),
                }
                .at(|| at.clone())
            } else {
                e.at(|| at.clone())
            }
        })?,
        other => other.clone(),
    };
    match value {
        Value::String(s) => Ok(Some(s)),
        Value::Null => Ok(None),
        other => Err(Error::template(format!(
            "{field} must be a string, not {}",
            type_name(&other)
        ))
        .at(|| at)),
    }
}

#[allow(clippy::too_many_arguments)]
fn expand_resource(
    ev: &Evaluator<'_>,
    r: &Value,
    path: &str,
    parent: Option<&Parent>,
    target: &DeploymentScope,
    pending: &mut Vec<Pending>,
    groups: &mut HashMap<String, Vec<usize>>,
    excluded: &mut HashSet<String>,
) -> Result<(), Error> {
    if !r.is_object() {
        return Err(Error::template(format!(
            "a resource must be an object, not {}",
            type_name(r)
        ))
        .at(|| path.into()));
    }
    match r.get("copy") {
        None => expand_one(ev, r, path, parent, target, pending, groups, excluded),
        Some(copy) => {
            let cpath = format!("{path}.copy");
            let loop_name = copy
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::template("copy needs a string 'name'").at(|| cpath.clone()))?
                .to_string();
            let count = ev.copy_count(copy.get("count"), &format!("{cpath}.count"))?;
            let serial = copy
                .get("mode")
                .and_then(Value::as_str)
                .is_some_and(|m| m.eq_ignore_ascii_case("serial"));
            let batch = match copy.get("batchSize") {
                None => 1,
                Some(v) => match ev
                    .eval_value(v, &format!("{cpath}.batchSize"), false)?
                    .as_i64()
                {
                    Some(b) if b >= 1 => b as usize,
                    _ => {
                        return Err(Error::template("batchSize must be a positive integer")
                            .at(|| format!("{cpath}.batchSize")))
                    }
                },
            };
            let key = loop_name.to_ascii_lowercase();
            groups.entry(key.clone()).or_default();
            excluded.insert(key.clone());
            let mut batches: Vec<Vec<usize>> = Vec::new();
            for index in 0..count {
                ev.push_copy(CopyFrame {
                    name: loop_name.clone(),
                    index,
                    primary: true,
                });
                let before = pending.len();
                let result = expand_one(
                    ev,
                    r,
                    &format!("{path}[copy {index}]"),
                    parent,
                    target,
                    pending,
                    groups,
                    excluded,
                );
                ev.pop_copy();
                result?;
                let made: Vec<usize> = (before..pending.len()).collect();
                // Only the looped resource itself (not its children) belongs to the loop.
                if let Some(&first) = made.first() {
                    groups.entry(key.clone()).or_default().push(first);
                    let b = index as usize / batch;
                    if batches.len() <= b {
                        batches.push(Vec::new());
                    }
                    batches[b].push(first);
                    if serial && b > 0 {
                        let prev = batches[b - 1].clone();
                        pending[first].implicit.extend(prev);
                    }
                }
            }
            Ok(())
        }
    }
}

/// The management group a `scope` names: `Microsoft.Management/managementGroups/{mg}` or its full id.
fn management_group_of(scope: &str) -> Option<String> {
    let segs: Vec<&str> = scope.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segs.as_slice() {
        [p, rest @ ..] if p.eq_ignore_ascii_case("providers") => rest,
        all => all,
    };
    match rest {
        [ns, t, mg]
            if ns.eq_ignore_ascii_case("Microsoft.Management")
                && t.eq_ignore_ascii_case("managementGroups") =>
        {
            Some((*mg).to_string())
        }
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn expand_one(
    ev: &Evaluator<'_>,
    r: &Value,
    path: &str,
    parent: Option<&Parent>,
    target: &DeploymentScope,
    pending: &mut Vec<Pending>,
    groups: &mut HashMap<String, Vec<usize>>,
    excluded: &mut HashSet<String>,
) -> Result<(), Error> {
    let rtype = eval_string_field(ev, r, "type", path)?
        .ok_or_else(|| Error::template("a resource needs a 'type'").at(|| path.into()))?;
    let rname = eval_string_field(ev, r, "name", path)?
        .ok_or_else(|| Error::template("a resource needs a 'name'").at(|| path.into()))?;
    let (full_type, full_name) = match parent {
        Some(p) => {
            // A child's type is relative to its parent's unless it starts with a namespace
            // (`blobServices/containers`, `providers/diagnosticSettings`), and its name is relative when it
            // has fewer segments than its full type needs (`default/x` under storage account `st`).
            let relative = rtype.split('/').next().is_some_and(|ns| !ns.contains('.'));
            let full_type = if relative {
                format!("{}/{rtype}", p.resource_type)
            } else {
                rtype.clone()
            };
            let full_name = if rname.split('/').count() < name_segments(&full_type) {
                format!("{}/{rname}", p.name)
            } else {
                rname.clone()
            };
            (full_type, full_name)
        }
        None => (rtype.clone(), rname.clone()),
    };
    if let Some(cond) = r.get("condition") {
        let at = format!("{path}.condition");
        let v = match cond {
            Value::String(s) => ev.eval_str(s),
            other => Ok(other.clone()),
        };
        let include = match v {
            Ok(Value::Bool(b)) => b,
            // Static checks look at a resource whose condition depends on deployed state, to be safe.
            Err(e) if e.is_not_yet_known() && ev.is_lenient() => true,
            Err(e) if e.is_not_yet_known() => {
                return Err(Error::Unsupported {
                    construct: "a condition that needs reference()".into(),
                }
                .at(|| at))
            }
            Err(e) => return Err(e.at(|| at)),
            Ok(v) => {
                return Err(Error::template(format!(
                    "condition must be a bool, not {}",
                    type_name(&v)
                ))
                .at(|| at))
            }
        };
        if !include {
            excluded.insert(full_name.to_ascii_lowercase());
            if let Ok(tn) = ids::provider_path(&full_type, &[&full_name]) {
                excluded.insert(tn.to_ascii_lowercase());
            }
            let base = match parent {
                Some(p) => p.base.clone(),
                None => target.base_id(),
            };
            if let Ok(id) = ids::resource_id_at(&base, &full_type, &[&full_name]) {
                excluded.insert(ids::comparable(&id));
            }
            return Ok(());
        }
    }
    let api_version = eval_string_field(ev, r, "apiVersion", path)?
        .ok_or_else(|| Error::template("a resource needs an 'apiVersion'").at(|| path.into()))?;
    let is_deployment = full_type.eq_ignore_ascii_case("Microsoft.Resources/deployments");
    let mut target_subscription = target.subscription_id.clone();
    let mut target_rg = target.resource_group.as_ref().map(|rg| rg.name.clone());
    let mut target_mg = target.management_group.clone();
    let base = match parent {
        Some(p) => p.base.clone(),
        None => target.base_id(),
    };
    // A nested deployment, and a languageVersion 2.0 `existing` resource in another scope (Bicep's
    // `existing = { scope: resourceGroup('other') }`), say where they are with `subscriptionId` and
    // `resourceGroup`.
    let scoped = !is_deployment
        && parent.is_none()
        && r.get("scope").is_none()
        && (r.get("subscriptionId").is_some() || r.get("resourceGroup").is_some());
    let id = if is_deployment && target.management_group.is_some() {
        // From a management group: to a subscription (`subscriptionId`, optionally `resourceGroup`), to
        // another management group (`scope`), or at the same group.
        let sub = eval_string_field(ev, r, "subscriptionId", path)?;
        let rg = eval_string_field(ev, r, "resourceGroup", path)?;
        let scope = eval_string_field(ev, r, "scope", path)?;
        if rg.is_some() && sub.is_none() {
            return Err(Error::template(
                "a nested deployment from a management group deployment that names a resourceGroup needs a subscriptionId too",
            )
            .at(|| path.into()));
        }
        let base = if let Some(s) = sub {
            target_mg = None;
            target_subscription = s;
            target_rg = rg;
            match &target_rg {
                Some(rg) => ids::resource_group_id(&target_subscription, rg),
                None => ids::subscription_id(&target_subscription),
            }
        } else if let Some(sc) = scope {
            let mg = management_group_of(&sc).ok_or_else(|| {
                Error::template(format!(
                    "the scope '{sc}' of a nested deployment from a management group deployment must be a management group ('Microsoft.Management/managementGroups/<name>')"
                ))
                .at(|| format!("{path}.scope"))
            })?;
            target_mg = Some(mg.clone());
            ids::management_group_id(&mg)
        } else {
            target.base_id()
        };
        ids::resource_id_at(&base, &full_type, &[&full_name]).map_err(|e| e.at(|| path.into()))?
    } else if is_deployment || scoped {
        let sub = eval_string_field(ev, r, "subscriptionId", path)?;
        let rg = eval_string_field(ev, r, "resourceGroup", path)?;
        if let Some(s) = &sub {
            // `subscriptionId` without `resourceGroup` is the subscription itself, as ARM reads a nested
            // deployment "scoped to subscription" (and Bicep's `scope: subscription()`).
            if rg.is_none() {
                target_rg = None;
            }
            target_subscription = s.clone();
        }
        if rg.is_some() {
            target_rg = rg;
        }
        let base = match &target_rg {
            Some(rg) => ids::resource_group_id(&target_subscription, rg),
            None => ids::subscription_id(&target_subscription),
        };
        ids::resource_id_at(&base, &full_type, &[&full_name]).map_err(|e| e.at(|| path.into()))?
    } else if let Some(scope) = eval_string_field(ev, r, "scope", path)? {
        let scope_id = if scope.starts_with('/') {
            scope.trim_end_matches('/').to_string()
        } else if let Some(mg) = management_group_of(&scope) {
            ids::management_group_id(&mg)
        } else {
            // `Microsoft.Storage/storageAccounts/st1`: a resource in this deployment's scope.
            format!("{}/providers/{scope}", target.base_id())
        };
        ids::resource_id_at(&scope_id, &full_type, &[&full_name])
            .map_err(|e| e.at(|| path.into()))?
    } else if let Some((base_type, ext_type)) = split_extension_type(&full_type) {
        legacy_extension_id(&base, base_type, ext_type, &full_name)
            .map_err(|e| e.at(|| path.into()))?
    } else {
        ids::resource_id_at(&base, &full_type, &[&full_name]).map_err(|e| e.at(|| path.into()))?
    };
    // Child resources become nodes of their own (below) and nothing reads them from the parent's body, so
    // they are left out rather than copied once more per level of nesting.
    let mut raw = match r {
        Value::Object(obj) => Value::Object(
            obj.iter()
                .filter(|(k, _)| k.as_str() != "resources")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    };
    if let Some(obj) = raw.as_object_mut() {
        obj.insert("type".into(), Value::String(full_type.clone()));
        obj.insert("name".into(), Value::String(full_name.clone()));
    }
    let index = pending.len();
    let implicit = parent.map(|p| vec![p.index]).unwrap_or_default();
    pending.push(Pending {
        kind: if is_deployment {
            NodeKind::Deployment
        } else {
            NodeKind::Resource
        },
        id: id.clone(),
        resource_type: full_type.clone(),
        api_version,
        name: full_name.clone(),
        path: path.to_string(),
        raw,
        copy: ev.copy_frames(),
        implicit,
        target_subscription,
        target_resource_group: target_rg,
        target_management_group: target_mg,
    });
    if let Some(Value::Array(children)) = r.get("resources") {
        let me = Parent {
            resource_type: full_type,
            name: full_name,
            index,
            base,
        };
        for (i, child) in children.iter().enumerate() {
            expand_resource(
                ev,
                child,
                &format!("{path}.resources[{i}]"),
                Some(&me),
                target,
                pending,
                groups,
                excluded,
            )?;
        }
    }
    Ok(())
}

/// How many name segments a full type needs: one per type segment after the namespace; the older extension
/// form (`{base type}/providers/{ext type}`) also names the extension's namespace.
fn name_segments(full_type: &str) -> usize {
    match split_extension_type(full_type) {
        Some((base, ext)) => base.split('/').count() - 1 + 1 + ext.split('/').count(),
        None => full_type.split('/').count().saturating_sub(1),
    }
}

/// `Microsoft.Storage/storageAccounts/providers/diagnosticSettings` → (`Microsoft.Storage/storageAccounts`,
/// `diagnosticSettings`): the older way of writing extension resources.
fn split_extension_type(t: &str) -> Option<(&str, &str)> {
    let lower = t.to_ascii_lowercase();
    let at = lower.find("/providers/")?;
    Some((&t[..at], &t[at + "/providers/".len()..]))
}

/// Id of `{base type}/providers/{ext type}` named `{base names}/{namespace}/{ext names}`.
fn legacy_extension_id(
    base: &str,
    base_type: &str,
    ext_type: &str,
    name: &str,
) -> Result<String, Error> {
    let segs: Vec<&str> = name.split('/').collect();
    let base_count = base_type.split('/').count() - 1;
    let ext_count = ext_type.split('/').count();
    if segs.len() != base_count + 1 + ext_count {
        return Err(Error::template(format!(
            "resource type '{base_type}/providers/{ext_type}' needs a name of {} segments \
             (<resource>/<extension namespace>/<name>), got '{name}'",
            base_count + 1 + ext_count
        )));
    }
    let resource = ids::resource_id_at(base, base_type, &segs[..base_count])?;
    let ext_full = format!("{}/{ext_type}", segs[base_count]);
    ids::resource_id_at(&resource, &ext_full, &segs[base_count + 1..])
}

/// Evaluate a resource body: `properties` with property copy loops; a nested deployment's inline template is
/// left for its own plan.
fn evaluate_body(
    ev: &Evaluator<'_>,
    raw: &Value,
    path: &str,
    kind: NodeKind,
) -> Result<Value, Error> {
    let Some(obj) = raw.as_object() else {
        return Ok(raw.clone());
    };
    let mut out = Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "dependsOn" | "copy" | "condition" | "resources" | "comments" => continue,
            "properties" if kind == NodeKind::Deployment => {
                let mut props = Map::new();
                if let Some(p) = v.as_object() {
                    for (pk, pv) in p {
                        if pk == "template" {
                            props.insert(pk.clone(), pv.clone());
                        } else {
                            props.insert(
                                pk.clone(),
                                ev.eval_value(pv, &format!("{path}.properties.{pk}"), false)?,
                            );
                        }
                    }
                }
                out.insert(k.clone(), Value::Object(props));
            }
            "properties" => {
                out.insert(
                    k.clone(),
                    ev.eval_value(v, &format!("{path}.properties"), true)?,
                );
            }
            _ => {
                out.insert(k.clone(), ev.eval_value(v, &format!("{path}.{k}"), false)?);
            }
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameter_values_take_a_whole_file_or_its_parameters() {
        let expected: Map<String, Value> =
            serde_json::from_value(json!({"a": 1, "parameters": "p"})).unwrap();
        let member = json!({"a": {"value": 1}, "parameters": {"value": "p"}});
        assert_eq!(parameter_values(&member, Mode::Strict).unwrap(), expected);
        let file = json!({"contentVersion": "1.0.0.0", "parameters": member.clone()});
        assert_eq!(parameter_values(&file, Mode::Strict).unwrap(), expected);
        let bare = json!({"parameters": {"a": {"value": 1}}});
        assert_eq!(parameter_values(&bare, Mode::Strict).unwrap()["a"], 1);
        let kv = json!({"s": {"reference": {"keyVault": {"id": "/kv"}, "secretName": "x"}}});
        assert_eq!(
            parameter_values(&kv, Mode::Strict).unwrap_err().to_string(),
            "parameter 's': a Key Vault reference must be resolved before planning"
        );
        assert_eq!(
            parameter_values(&kv, Mode::Static).unwrap()["s"],
            secret_placeholder()
        );
    }

    /// Answers `reference(id)` with the id it was asked for, so a test sees which resource a name resolved to.
    struct EchoId;

    impl Resolver for EchoId {
        fn reference(&self, id: &str, _: Option<&str>, _: bool) -> Result<Value, Error> {
            Ok(json!({"id": id}))
        }
    }

    #[test]
    fn reference_names_an_inline_child_by_its_own_name_when_unambiguous() {
        // As 201-cdn-with-web-app writes it: the endpoint is declared inside its profile with its short name.
        let t = json!({
            "resources": [
                {"type": "Microsoft.Cdn/profiles", "apiVersion": "2020-04-15", "name": "prof", "location": "global",
                 "resources": [{"type": "endpoints", "apiVersion": "2020-04-15", "name": "edge", "location": "global",
                                "dependsOn": ["prof"]}]},
                {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "st", "location": "uksouth",
                 "resources": [{"type": "blobServices/containers", "apiVersion": "2023-01-01", "name": "default/logs"}]},
                {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "st2", "location": "uksouth",
                 "resources": [{"type": "blobServices/containers", "apiVersion": "2023-01-01", "name": "default/logs"}]}
            ],
            "outputs": {
                "edge": {"type": "object", "value": "[reference('edge')]"},
                "logs": {"type": "object", "value": "[reference('logs')]"}
            }
        });
        let scope = DeploymentScope::resource_group("s", "t", "rg", "uksouth", "d");
        let plan = Plan::new(&t, &Map::new(), &scope, Mode::Strict).unwrap();
        let out = plan.outputs(&EchoId).unwrap();
        assert_eq!(
            out["edge"]["value"]["id"],
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cdn/profiles/prof/endpoints/edge"
        );
        // Two containers are called 'logs': the short name stays unresolved, as written.
        assert_eq!(out["logs"]["value"]["id"], "logs");
    }

    #[test]
    fn allowed_values_compare_strings_without_regard_to_case_as_arm_does() {
        let t = json!({
            "parameters": {
                "sku": {"type": "string", "allowedValues": ["Standard_LRS", "Standard_GRS"]},
                "zones": {"type": "array", "allowedValues": ["1", "2", "3"]}
            },
            "resources": []
        });
        let scope = DeploymentScope::resource_group("s", "t", "rg", "uksouth", "d");
        let given: Map<String, Value> =
            serde_json::from_value(json!({"sku": "standard_lrs", "zones": ["1", "3"]})).unwrap();
        let plan = Plan::new(&t, &given, &scope, Mode::Strict).unwrap();
        assert_eq!(
            plan.parameters["sku"], "standard_lrs",
            "the value is kept as given"
        );
        let bad: Map<String, Value> =
            serde_json::from_value(json!({"sku": "Premium_LRS", "zones": ["1"]})).unwrap();
        assert_eq!(
            Plan::new(&t, &bad, &scope, Mode::Strict).unwrap_err().to_string(),
            "parameter 'sku': \"Premium_LRS\" is not one of the allowed values [\"Standard_LRS\",\"Standard_GRS\"]"
        );
    }

    #[test]
    fn nullable_parameters_are_optional_and_null_when_not_given() {
        // Bicep's `param tags object?` and `output name string? = ...` (languageVersion 2.0).
        let t = json!({
            "languageVersion": "2.0",
            "contentVersion": "1.0.0.0",
            "definitions": {"cfg": {"type": "object", "nullable": true}},
            "parameters": {
                "suffix": {"type": "string", "nullable": true, "minLength": 3},
                "cfg": {"$ref": "#/definitions/cfg"},
                "required": {"type": "string"}
            },
            "resources": {},
            "outputs": {
                "suffix": {"type": "string", "nullable": true, "value": "[parameters('suffix')]"},
                "zone": {"type": "string", "value": "[coalesce(tryGet(parameters('cfg'), 'zone'), '1')]"}
            }
        });
        let scope = DeploymentScope::resource_group("s", "t", "rg", "uksouth", "d");
        let given: Map<String, Value> = serde_json::from_value(json!({"required": "x"})).unwrap();
        let plan = Plan::new(&t, &given, &scope, Mode::Strict).unwrap();
        assert_eq!(plan.parameters["suffix"], Value::Null);
        let out = plan.outputs(&EchoId).unwrap();
        assert_eq!(out["suffix"]["value"], Value::Null);
        assert_eq!(out["zone"]["value"], "1");
        // A value given is still checked; a parameter that is not nullable is still required.
        let short: Map<String, Value> =
            serde_json::from_value(json!({"required": "x", "suffix": "ab"})).unwrap();
        assert_eq!(
            Plan::new(&t, &short, &scope, Mode::Strict)
                .unwrap_err()
                .to_string(),
            "parameter 'suffix': length 2 is less than minLength 3"
        );
        assert_eq!(
            Plan::new(&t, &Map::new(), &scope, Mode::Strict)
                .unwrap_err()
                .to_string(),
            "parameter 'required': no value was given and the template has no defaultValue"
        );
    }

    #[test]
    fn a_copy_inside_a_variable_object_builds_its_array_property() {
        // ARM's variable iteration on an object (Microsoft's "Variable iteration in ARM templates" example).
        let t = json!({
            "contentVersion": "1.0.0.0",
            "variables": {
                "diskObject": {
                    "copy": [{"name": "disks", "count": 3, "input": {
                        "name": "[concat('myDataDisk', copyIndex('disks', 1))]",
                        "diskSizeGB": "1", "diskIndex": "[copyIndex('disks')]"}}],
                    "kind": "data"
                }
            },
            "resources": [],
            "outputs": {"o": {"type": "object", "value": "[variables('diskObject')]"}}
        });
        let scope = DeploymentScope::resource_group("s", "t", "rg", "uksouth", "d");
        let plan = Plan::new(&t, &Map::new(), &scope, Mode::Strict).unwrap();
        let out = plan.outputs(&EchoId).unwrap();
        assert_eq!(
            out["o"]["value"],
            json!({"disks": [
                {"name": "myDataDisk1", "diskSizeGB": "1", "diskIndex": 0},
                {"name": "myDataDisk2", "diskSizeGB": "1", "diskIndex": 1},
                {"name": "myDataDisk3", "diskSizeGB": "1", "diskIndex": 2}
            ], "kind": "data"})
        );
    }

    #[test]
    fn plans_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Plan>();
        assert_send_sync::<Node>();
    }

    #[test]
    fn duplicate_resources_are_an_error() {
        let t = json!({"contentVersion": "1.0.0.0", "resources": [
            {"type": "Microsoft.Web/sites", "apiVersion": "2023-01-01", "name": "w"},
            {"type": "Microsoft.Web/sites", "apiVersion": "2023-01-01", "name": "W"}
        ]});
        let scope = DeploymentScope::resource_group("s", "t", "rg", "uksouth", "d");
        let err = Plan::new(&t, &Map::new(), &scope, Mode::Strict).unwrap_err();
        assert_eq!(
            err.to_string(),
            "resources[1]: resource '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/W' is defined \
             multiple times in the template (also at resources[0])"
        );
    }

    #[test]
    fn long_variable_chains_stop_with_an_error_not_a_stack_overflow() {
        let mut vars = Map::new();
        for i in 0..1000 {
            vars.insert(format!("v{i}"), json!(format!("[variables('v{}')]", i + 1)));
        }
        vars.insert("v1000".into(), json!("end"));
        let t = json!({
            "contentVersion": "1.0.0.0",
            "variables": vars,
            "resources": [],
            "outputs": {"o": {"type": "string", "value": "[variables('v0')]"}}
        });
        let scope = DeploymentScope::resource_group("s", "t", "rg", "uksouth", "d");
        let plan = Plan::new(&t, &Map::new(), &scope, Mode::Strict).unwrap();
        let err = plan.outputs(&Unresolved).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("evaluation nested more than 128 levels deep"),
            "{err}"
        );
    }

    // Issue #13's leniencies, as Microsoft's quickstart templates write them.
    #[test]
    fn arm_leniencies_of_microsofts_quickstart_templates() {
        let t = json!({
            "contentVersion": "1.0.0.0",
            "parameters": {
                "subnets": {"type": "array"},
                "count": {"type": "int"},
                "tags": {"type": "object"},
                "enabled": {"type": "bool"},
                "id": {"type": "string", "defaultValue": "[newGuid()]"}
            },
            "resources": [
                {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "st",
                 "resources": [
                    {"type": "blobServices/containers", "apiVersion": "2023-01-01", "name": "default/logs",
                     "dependsOn": ["[resourceId('Microsoft.Storage/storageAccounts/', 'st')]"]},
                    {"type": "providers/diagnosticSettings", "apiVersion": "2021-05-01-preview",
                     "name": "Microsoft.Insights/service", "dependsOn": ["st"]}
                 ]},
                {"type": "Microsoft.Web/sites", "apiVersion": "2023-01-01", "name": "web", "dependsOn": ["logs"]}
            ]
        });
        let params: Map<String, Value> = serde_json::from_value(json!({
            "subnets": "[\"a\", \"b\"]", "count": "3", "tags": "{\"x\": \"y\"}", "enabled": "True"
        }))
        .unwrap();
        let scope = DeploymentScope::resource_group("s", "t", "rg", "uksouth", "d");
        let plan = Plan::new(&t, &params, &scope, Mode::Strict).unwrap();
        assert_eq!(plan.parameters["subnets"], json!(["a", "b"]));
        assert_eq!(plan.parameters["count"], json!(3));
        assert_eq!(plan.parameters["tags"], json!({"x": "y"}));
        assert_eq!(plan.parameters["enabled"], json!(true));
        assert_eq!(plan.parameters["id"].as_str().map(str::len), Some(36));
        let names: Vec<(&str, &str)> = plan
            .nodes
            .iter()
            .map(|n| (n.resource_type.as_str(), n.name.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("Microsoft.Storage/storageAccounts", "st"),
                (
                    "Microsoft.Storage/storageAccounts/blobServices/containers",
                    "st/default/logs"
                ),
                (
                    "Microsoft.Storage/storageAccounts/providers/diagnosticSettings",
                    "st/Microsoft.Insights/service"
                ),
                ("Microsoft.Web/sites", "web"),
            ]
        );
        assert_eq!(
            plan.nodes[1].id,
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st/blobServices/default/containers/logs"
        );
        assert_eq!(
            plan.nodes[2].id,
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st/providers/Microsoft.Insights/diagnosticSettings/service"
        );
        assert_eq!(plan.nodes[1].depends_on, vec![0]);
        assert_eq!(
            plan.nodes[3].depends_on,
            vec![1],
            "dependsOn a child by its short name"
        );
        // A string that does not convert is refused with the declared type.
        let bad: Map<String, Value> = serde_json::from_value(json!({
            "subnets": "a,b", "count": 3, "tags": {}, "enabled": true
        }))
        .unwrap();
        assert_eq!(
            Plan::new(&t, &bad, &scope, Mode::Strict)
                .unwrap_err()
                .to_string(),
            "parameter 'subnets': expected a value of type array, got string"
        );
    }
}
