//! The evaluator: ARM expressions over `serde_json::Value`, against a caller's [`Context`] and a template
//! [`Scope`] (parameters, variables, user functions, copy loops).

use super::parse::{classify, parse, Expr, Template};
use super::Error;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How deeply evaluation may recurse through variables and user-defined functions.
pub const MAX_EVAL_DEPTH: usize = 128;

/// The largest value (string, array or object, measured as its JSON text) an expression may build: Azure's
/// 4 MB limit on a whole template. Anything larger is [`Error::ValueTooLarge`], found before memory runs out.
pub const MAX_VALUE_BYTES: usize = 4 * 1024 * 1024;

/// How many evaluation steps (expression nodes and template values) one evaluator may take before it gives up
/// with [`Error::TooManySteps`]: far above what Azure's limits let a real template need (800 resources, 800
/// copies), low enough that nested lambdas over `range()` stop within seconds.
pub const MAX_EVAL_STEPS: u64 = 5_000_000;

/// What the evaluator asks the outside world. The local cloud implements it with live state; static expansion
/// (guardrails) implements it with placeholders and answers [`Error::NotYetKnown`] for `reference()`.
pub trait Context: Sync {
    /// `subscription()`: `{id, subscriptionId, tenantId, displayName}`.
    fn subscription(&self) -> Value;
    /// `resourceGroup()`: `{id, name, type, location, tags, properties}`; `None` at subscription scope.
    fn resource_group(&self) -> Option<Value>;
    /// `deployment()`: `{name, properties: {...}, location?}`.
    fn deployment(&self) -> Value;
    /// `tenant()`: `{tenantId, countryCode, displayName}`.
    fn tenant(&self) -> Value;
    /// `subscription().subscriptionId` alone. `resourceId()` and its kin need only this, so a context can
    /// answer it without building the whole object; the default takes it from [`Context::subscription`].
    fn subscription_id(&self) -> Option<String> {
        self.subscription()
            .get("subscriptionId")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
    /// `resourceGroup().name` alone (`None` at subscription scope), for `resourceId()`; the default takes it
    /// from [`Context::resource_group`].
    fn resource_group_name(&self) -> Option<String> {
        self.resource_group()
            .and_then(|rg| rg.get("name").and_then(Value::as_str).map(str::to_string))
    }
    /// `environment()`: the cloud's endpoints. Defaults to the public Azure cloud.
    fn environment(&self) -> Value {
        azure_cloud()
    }
    /// `reference(idOrName, apiVersion, 'Full')`. `id` is a full resource id when the template declares the
    /// resource (names are resolved before this is called), or the name as written otherwise.
    fn reference(&self, id: &str, api_version: Option<&str>, full: bool) -> Result<Value, Error>;
    /// `listKeys(id, apiVersion)` and the other `list*` functions.
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
    /// `managementGroup()`: `{id, name, type, properties}` of the management group a management-group deployment
    /// targets; `None` in any other deployment (ARM allows the function only there).
    fn management_group(&self) -> Option<Value> {
        None
    }
    /// `providers(namespace, [resourceType])`: the provider's registered types with their locations and
    /// api-versions. The default (static checks): not known before deployment.
    fn providers(&self, namespace: &str, resource_type: Option<&str>) -> Result<Value, Error> {
        Err(Error::NotYetKnown {
            what: match resource_type {
                Some(t) => format!("providers('{namespace}', '{t}')"),
                None => format!("providers('{namespace}')"),
            },
        })
    }
    /// The deployment's time, for `utcNow()` and `newGuid()` (only allowed in parameter default values).
    /// `None`: refused.
    fn utc_now(&self) -> Option<time::OffsetDateTime> {
        None
    }
    /// `deployer()`: `{objectId, tenantId, userPrincipalName}` of the principal deploying. The default is a
    /// placeholder principal in the deployment's tenant.
    fn deployer(&self) -> Value {
        let tenant = self
            .tenant()
            .get("tenantId")
            .cloned()
            .unwrap_or(Value::Null);
        serde_json::json!({
            "objectId": "00000000-0000-0000-0000-000000000000",
            "tenantId": tenant,
            "userPrincipalName": ""
        })
    }
}

/// `environment()` of the public Azure cloud.
pub fn azure_cloud() -> Value {
    serde_json::json!({
        "name": "AzureCloud",
        "gallery": "https://gallery.azure.com/",
        "graph": "https://graph.windows.net/",
        "portal": "https://portal.azure.com",
        "graphAudience": "https://graph.windows.net/",
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "batch": "https://batch.core.windows.net/",
        "media": "https://rest.media.azure.net",
        "sqlManagement": "https://management.core.windows.net:8443/",
        "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
        "resourceManager": "https://management.azure.com/",
        "authentication": {
            "loginEndpoint": "https://login.microsoftonline.com/",
            "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
            "tenant": "common",
            "identityProvider": "AAD"
        },
        "suffixes": {
            "acrLoginServer": ".azurecr.io",
            "azureDatalakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "azureDatalakeStoreFileSystem": "azuredatalakestore.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
            "keyvaultDns": ".vault.azure.net",
            "sqlServerHostname": ".database.windows.net",
            "storage": "core.windows.net"
        }
    })
}

/// A user-defined function from the template's `functions` section.
#[derive(Debug, Clone)]
pub(crate) struct UserFunction {
    pub params: Vec<String>,
    pub output: Value,
}

/// The template-level state expressions see: parameter values, variable definitions (evaluated lazily and
/// cached), user-defined functions. Shared (`Arc`) by everything evaluated in one template.
#[derive(Debug, Default)]
pub struct Scope {
    parameters: HashMap<String, Value>,
    variables: HashMap<String, (String, VariableDef)>,
    functions: HashMap<String, UserFunction>,
    cache: Mutex<HashMap<String, Value>>,
    unknown: std::collections::HashSet<String>,
    /// Parameters declared `securestring` or `secureObject` (lower case).
    secure: std::collections::HashSet<String>,
    /// Their values' text (every string in them), scrubbed from error messages as a last line of defence.
    secrets: Vec<String>,
    /// Parsed expressions by text: templates repeat the same expressions (and copy loops evaluate one many
    /// times), so each is parsed once per template.
    parsed: Mutex<HashMap<String, Arc<Expr>>>,
}

/// How many distinct expressions one scope remembers parsed.
const PARSE_CACHE_LIMIT: usize = 4096;

#[derive(Debug, Clone)]
enum VariableDef {
    Plain(Value),
    /// A `copy` entry in `variables`: `{name, count, input}`.
    Copy(Value),
}

impl Scope {
    /// A scope with these parameter values (names compared case-insensitively) and raw variable
    /// definitions (the template's `variables` object, `copy` included).
    pub fn new(
        parameters: &Map<String, Value>,
        variables: &Map<String, Value>,
    ) -> Result<Scope, Error> {
        let mut scope = Scope {
            parameters: parameters
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            ..Scope::default()
        };
        for (name, def) in variables {
            if name.eq_ignore_ascii_case("copy") {
                let entries = def.as_array().ok_or_else(|| {
                    Error::template("variables.copy must be an array of {name, count, input}")
                })?;
                for (i, entry) in entries.iter().enumerate() {
                    let vname = entry.get("name").and_then(Value::as_str).ok_or_else(|| {
                        Error::template(format!("variables.copy[{i}] needs a string 'name'"))
                    })?;
                    scope.variables.insert(
                        vname.to_ascii_lowercase(),
                        (vname.to_string(), VariableDef::Copy(entry.clone())),
                    );
                }
            } else {
                scope.variables.insert(
                    name.to_ascii_lowercase(),
                    (name.clone(), VariableDef::Plain(def.clone())),
                );
            }
        }
        Ok(scope)
    }

    /// Add the template's `functions` section: `[{namespace, members: {name: {parameters, output}}}]`.
    pub fn with_functions(mut self, functions: &Value) -> Result<Scope, Error> {
        let Some(namespaces) = functions.as_array() else {
            return Err(Error::template("functions must be an array of namespaces"));
        };
        for (i, ns) in namespaces.iter().enumerate() {
            let namespace = ns.get("namespace").and_then(Value::as_str).ok_or_else(|| {
                Error::template(format!("functions[{i}] needs a string 'namespace'"))
            })?;
            let members = ns
                .get("members")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    Error::template(format!("functions[{i}] needs an object 'members'"))
                })?;
            for (name, def) in members {
                let params = match def.get("parameters") {
                    None => Vec::new(),
                    Some(Value::Array(ps)) => ps
                        .iter()
                        .map(|p| {
                            p.get("name")
                                .and_then(Value::as_str)
                                .map(str::to_string)
                                .ok_or_else(|| {
                                    Error::template(format!(
                                    "function {namespace}.{name}: each parameter needs a 'name'"
                                ))
                                })
                        })
                        .collect::<Result<_, _>>()?,
                    Some(_) => {
                        return Err(Error::template(format!(
                            "function {namespace}.{name}: 'parameters' must be an array"
                        )))
                    }
                };
                let output = def
                    .get("output")
                    .and_then(|o| o.get("value"))
                    .cloned()
                    .ok_or_else(|| {
                        Error::template(format!("function {namespace}.{name} needs output.value"))
                    })?;
                self.functions.insert(
                    format!("{namespace}.{name}").to_ascii_lowercase(),
                    UserFunction { params, output },
                );
            }
        }
        Ok(self)
    }

    /// The parsed form of an expression (the text between the brackets), from the cache when it was seen.
    fn parsed(&self, inner: &str) -> Result<Arc<Expr>, Error> {
        if let Some(e) = self.parsed.lock().ok().and_then(|c| c.get(inner).cloned()) {
            return Ok(e);
        }
        let expr = Arc::new(parse(inner)?);
        if let Ok(mut cache) = self.parsed.lock() {
            if cache.len() < PARSE_CACHE_LIMIT {
                cache.insert(inner.to_string(), expr.clone());
            }
        }
        Ok(expr)
    }

    /// A parameter's value (case-insensitive name).
    pub fn parameter(&self, name: &str) -> Option<&Value> {
        self.parameters.get(&name.to_ascii_lowercase())
    }

    /// All parameter values, lower-cased names.
    pub fn parameters(&self) -> &HashMap<String, Value> {
        &self.parameters
    }

    /// Mark a parameter whose value is only known after deployment: `parameters('name')` is then
    /// [`Error::NotYetKnown`].
    pub fn mark_unknown(&mut self, name: &str) {
        self.unknown.insert(name.to_ascii_lowercase());
    }

    /// Whether a parameter's value is only known after deployment.
    pub fn is_unknown(&self, name: &str) -> bool {
        self.unknown.contains(&name.to_ascii_lowercase())
    }

    pub(crate) fn set_parameter(&mut self, name: &str, value: Value) {
        self.parameters.insert(name.to_ascii_lowercase(), value);
    }

    /// Mark a parameter as secure (`securestring`/`secureObject`): no error message shows its value, or
    /// anything derived from it.
    pub fn mark_secure(&mut self, name: &str) {
        let key = name.to_ascii_lowercase();
        if let Some(v) = self.parameters.get(&key) {
            collect_strings(v, &mut self.secrets);
        }
        self.secrets.retain(|s| s.chars().count() >= MIN_SCRUBBED);
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        self.secrets.dedup();
        self.secure.insert(key);
    }

    /// Whether a parameter is declared secure.
    pub fn is_secure(&self, name: &str) -> bool {
        self.secure.contains(&name.to_ascii_lowercase())
    }

    /// Whether any parameter is secure.
    pub fn has_secure(&self) -> bool {
        !self.secure.is_empty()
    }

    pub(crate) fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// A variable's raw definition (for tracing what an expression derives from).
    pub(crate) fn variable_def(&self, name: &str) -> Option<Value> {
        self.variables
            .get(&name.to_ascii_lowercase())
            .map(|(_, d)| match d {
                VariableDef::Plain(v) | VariableDef::Copy(v) => v.clone(),
            })
    }

    /// The parsed form of an expression, for callers outside the evaluator.
    pub(crate) fn parse_cached(&self, inner: &str) -> Result<Arc<Expr>, Error> {
        self.parsed(inner)
    }
}

/// Secret values shorter than this are not scrubbed by value (they would blank out ordinary words); what
/// derives from a secure parameter is concealed by tracing instead.
const MIN_SCRUBBED: usize = 4;

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

/// Where a value is in the template, built as evaluation descends and only turned into text for an error.
#[derive(Debug, Clone, Copy)]
enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(p) => f.write_str(p),
            Path::Key(Path::Root(""), k) => f.write_str(k),
            Path::Key(parent, k) => write!(f, "{parent}.{k}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// One active copy loop: its name and the current index.
#[derive(Debug, Clone)]
pub struct CopyFrame {
    /// The loop's `name` (`copy.name`, or the property/variable/output name).
    pub name: String,
    /// The current iteration, from 0.
    pub index: i64,
    /// The resource's (or output's) own loop: what `copyIndex()` without a name refers to.
    pub primary: bool,
}

/// Evaluates expressions and template values against a context and a scope.
pub struct Evaluator<'a> {
    pub(crate) ctx: &'a dyn Context,
    pub(crate) scope: &'a Scope,
    /// Declared resource names (lower case) → resource id, so `reference('name')` finds the resource.
    pub(crate) names: Option<&'a HashMap<String, String>>,
    copy: RefCell<Vec<CopyFrame>>,
    stack: RefCell<Vec<String>>,
    depth: std::cell::Cell<usize>,
    /// Evaluation steps taken so far (bounded by [`MAX_EVAL_STEPS`]).
    steps: std::cell::Cell<u64>,
    step_limit: u64,
    /// Bound lambda variables, innermost last.
    lambdas: RefCell<Vec<(String, Value)>>,
    /// Keep expressions that depend on deployed resources as their text instead of failing.
    lenient: bool,
}

impl<'a> Evaluator<'a> {
    /// An evaluator that fails on anything it cannot evaluate.
    pub fn new(ctx: &'a dyn Context, scope: &'a Scope) -> Self {
        Evaluator {
            ctx,
            scope,
            names: None,
            copy: RefCell::new(Vec::new()),
            stack: RefCell::new(Vec::new()),
            depth: std::cell::Cell::new(0),
            steps: std::cell::Cell::new(0),
            step_limit: MAX_EVAL_STEPS,
            lambdas: RefCell::new(Vec::new()),
            lenient: false,
        }
    }

    /// Give up after `limit` evaluation steps instead of [`MAX_EVAL_STEPS`].
    pub fn with_step_limit(mut self, limit: u64) -> Self {
        self.step_limit = limit;
        self
    }

    /// Keep string expressions whose value is only known after deployment as their text.
    pub fn lenient(mut self, lenient: bool) -> Self {
        self.lenient = lenient;
        self
    }

    /// Resolve `reference('name')` through this table (lower-case name → resource id).
    pub fn with_names(mut self, names: &'a HashMap<String, String>) -> Self {
        self.names = Some(names);
        self
    }

    /// Evaluate with these copy loops active.
    pub fn with_copy(self, frames: Vec<CopyFrame>) -> Self {
        *self.copy.borrow_mut() = frames;
        self
    }

    /// Whether expressions needing deployed state are kept as text.
    pub fn is_lenient(&self) -> bool {
        self.lenient
    }

    /// The copy loops active now.
    pub fn copy_frames(&self) -> Vec<CopyFrame> {
        self.copy.borrow().clone()
    }

    /// The variable being evaluated, if any.
    pub(crate) fn in_variable(&self) -> Option<String> {
        self.stack.borrow().last().cloned()
    }

    pub(crate) fn push_copy(&self, frame: CopyFrame) {
        self.copy.borrow_mut().push(frame);
    }

    pub(crate) fn pop_copy(&self) {
        self.copy.borrow_mut().pop();
    }

    /// Evaluate one template string: an `[expression]` or a literal.
    pub fn eval_str(&self, s: &str) -> Result<Value, Error> {
        self.eval_str_sized(s).map(|(v, _)| v)
    }

    /// [`Evaluator::eval_str`] with the value's size as [`Budget`] counts it.
    fn eval_str_sized(&self, s: &str) -> Result<(Value, usize), Error> {
        match classify(s) {
            Template::Literal(text) => {
                let text = text.into_owned();
                let size = text.len() + 2;
                Ok((Value::String(text), size))
            }
            Template::Expression(inner) => {
                let expr = self.scope.parsed(inner)?;
                self.eval_sized(&expr).map_err(|e| self.redact(e, &expr))
            }
        }
    }

    /// Evaluate a template value: every string in it that is an expression, recursively. Property `copy`
    /// arrays are expanded when `property_copy` is set (inside a resource's `properties`). `path` names the
    /// value in errors (`resources[2].properties`).
    pub fn eval_value(
        &self,
        value: &Value,
        path: &str,
        property_copy: bool,
    ) -> Result<Value, Error> {
        self.eval_value_sized(value, path, property_copy)
            .map(|(v, _)| v)
    }

    /// [`Evaluator::eval_value`] with the value's size as [`Budget`] counts it.
    pub(crate) fn eval_value_sized(
        &self,
        value: &Value,
        path: &str,
        property_copy: bool,
    ) -> Result<(Value, usize), Error> {
        self.eval_at(value, &Path::Root(path), property_copy)
    }

    // Every value is returned with its size (see [`size_up_to`]), measured once where it is made and added up
    // from its parts above: re-measuring at each level of nesting made evaluation quadratic in the depth.
    fn eval_at(
        &self,
        value: &Value,
        path: &Path<'_>,
        property_copy: bool,
    ) -> Result<(Value, usize), Error> {
        self.enter()?;
        let result = self.eval_at_inner(value, path, property_copy);
        self.leave();
        result
    }

    fn eval_at_inner(
        &self,
        value: &Value,
        path: &Path<'_>,
        property_copy: bool,
    ) -> Result<(Value, usize), Error> {
        match value {
            Value::String(s) => match self.eval_str_sized(s) {
                Ok(v) => Ok(v),
                Err(e) if self.lenient && e.is_not_yet_known() => Ok((value.clone(), s.len() + 2)),
                Err(e) => Err(e.at(|| path.to_string())),
            },
            Value::Array(items) => self.eval_array(items, path, property_copy),
            Value::Object(map) => self.eval_object(map, path, property_copy),
            other => Ok((other.clone(), SCALAR_SIZE)),
        }
    }

    // Arrays and objects are evaluated in functions of their own, so the frames on the recursion path (strings
    // through variables) stay small: deep but allowed nesting must fit in a thread's stack.
    #[inline(never)]
    fn eval_array(
        &self,
        items: &[Value],
        path: &Path<'_>,
        property_copy: bool,
    ) -> Result<(Value, usize), Error> {
        let mut budget = Budget::default();
        let mut out = Vec::with_capacity(items.len());
        let mut size = 2;
        for (i, v) in items.iter().enumerate() {
            let (item, item_size) = self.eval_at(v, &Path::Index(path, i), property_copy)?;
            budget
                .add_size(item_size)
                .map_err(|e| e.at(|| path.to_string()))?;
            size += item_size + 1;
            out.push(item);
        }
        Ok((Value::Array(out), size))
    }

    #[inline(never)]
    fn eval_object(
        &self,
        map: &Map<String, Value>,
        path: &Path<'_>,
        property_copy: bool,
    ) -> Result<(Value, usize), Error> {
        let mut out = Map::with_capacity(map.len());
        let mut budget = Budget::default();
        let mut entries = EntrySizes::default();
        for (k, v) in map {
            let child = Path::Key(path, k);
            if property_copy && k == "copy" && v.is_array() {
                let mut expanded = Vec::new();
                match self.property_copy(v, &child.to_string(), &mut expanded) {
                    Ok(()) => {
                        for (name, items, size) in expanded {
                            entries.insert(&mut out, name, items, size);
                        }
                    }
                    // A count only known after deployment: static checks see the loop as written.
                    Err(e) if self.lenient && e.is_not_yet_known() => {
                        entries.insert(&mut out, k.clone(), v.clone(), size_of(v));
                    }
                    Err(e) => return Err(e),
                }
                continue;
            }
            let key = match self.eval_str(k) {
                Ok(Value::String(s)) => s,
                Ok(other) => {
                    return Err(Error::template(format!(
                        "a property name must evaluate to a string, not {}",
                        type_name(&other)
                    ))
                    .at(|| child.to_string()))
                }
                Err(e) if self.lenient && e.is_not_yet_known() => k.clone(),
                Err(e) => return Err(e.at(|| child.to_string())),
            };
            let (item, item_size) = self.eval_at(v, &child, property_copy)?;
            budget
                .add_size(item_size)
                .map_err(|e| e.at(|| child.to_string()))?;
            entries.insert(&mut out, key, item, item_size);
        }
        Ok((Value::Object(out), entries.size()))
    }

    /// Expand a property `copy` array into `(name, items, size of the items array)` entries.
    fn property_copy(
        &self,
        spec: &Value,
        path: &str,
        out: &mut Vec<(String, Value, usize)>,
    ) -> Result<(), Error> {
        for (i, entry) in spec.as_array().into_iter().flatten().enumerate() {
            let at = format!("{path}[{i}]");
            let name = entry.get("name").and_then(Value::as_str).ok_or_else(|| {
                Error::template("a property copy needs a string 'name'").at(|| at.clone())
            })?;
            let count = self.copy_count(entry.get("count"), &format!("{at}.count"))?;
            let input = entry.get("input").ok_or_else(|| {
                Error::template("a property copy needs 'input'").at(|| at.clone())
            })?;
            let mut items = Vec::with_capacity(count as usize);
            let mut budget = Budget::default();
            let mut size = 2;
            for index in 0..count {
                self.push_copy(CopyFrame {
                    name: name.to_string(),
                    index,
                    primary: false,
                });
                let item = self.eval_value_sized(input, &format!("{at}.input"), true);
                self.pop_copy();
                let (item, item_size) = item?;
                budget
                    .add_size(item_size)
                    .map_err(|e| e.at(|| at.clone()))?;
                size += item_size + 1;
                items.push(item);
            }
            out.push((name.to_string(), Value::Array(items), size));
        }
        Ok(())
    }

    /// Evaluate a copy `count` (an integer or an expression giving one, 0 to 800).
    pub fn copy_count(&self, count: Option<&Value>, path: &str) -> Result<i64, Error> {
        let v = match count {
            None => return Err(Error::template("copy needs a 'count'").at(|| path.to_string())),
            Some(Value::String(s)) => self.eval_str(s).map_err(|e| e.at(|| path.to_string()))?,
            Some(v) => v.clone(),
        };
        let n = v.as_i64().ok_or_else(|| {
            Error::template(format!(
                "copy count must be an integer, not {}",
                type_name(&v)
            ))
            .at(|| path.to_string())
        })?;
        if !(0..=800).contains(&n) {
            return Err(
                Error::template(format!("copy count must be between 0 and 800, got {n}"))
                    .at(|| path.to_string()),
            );
        }
        Ok(n)
    }

    fn enter(&self) -> Result<(), Error> {
        let steps = self.steps.get() + 1;
        if steps > self.step_limit {
            return Err(Error::TooManySteps {
                limit: self.step_limit,
            });
        }
        self.steps.set(steps);
        let d = self.depth.get() + 1;
        if d > MAX_EVAL_DEPTH {
            return Err(Error::TooDeep {
                limit: MAX_EVAL_DEPTH,
            });
        }
        self.depth.set(d);
        Ok(())
    }

    fn leave(&self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }

    /// Evaluate a parsed expression.
    pub fn eval(&self, expr: &Expr) -> Result<Value, Error> {
        self.eval_sized(expr).map(|(v, _)| v)
    }

    /// [`Evaluator::eval`] with the value's size as [`Budget`] counts it (a function's result is measured
    /// once, when the function returns it).
    pub(crate) fn eval_sized(&self, expr: &Expr) -> Result<(Value, usize), Error> {
        self.enter()?;
        let r = self.eval_inner(expr);
        self.leave();
        r
    }

    fn eval_inner(&self, expr: &Expr) -> Result<(Value, usize), Error> {
        match expr {
            Expr::Str(s) => Ok((Value::String(s.clone()), s.len() + 2)),
            Expr::Int(i) => Ok((Value::from(*i), SCALAR_SIZE)),
            Expr::Bool(b) => Ok((Value::Bool(*b), SCALAR_SIZE)),
            Expr::Null => Ok((Value::Null, SCALAR_SIZE)),
            Expr::Property(base, name) => {
                let base = self.eval(base)?;
                let v = property(&base, name)?;
                let size = size_of(&v);
                Ok((v, size))
            }
            Expr::Index(base, index) => {
                let base = self.eval(base)?;
                let index = self.eval(index)?;
                let v = index_value(&base, &index)?;
                let size = size_of(&v);
                Ok((v, size))
            }
            Expr::Call { name, args, .. } => self.call(name, args),
        }
    }

    /// Evaluate a call's arguments, bounding their total size (so no function is handed more than the
    /// largest value it may build).
    pub(crate) fn args(&self, args: &[Expr]) -> Result<Vec<Value>, Error> {
        let mut budget = Budget::default();
        let mut out = Vec::with_capacity(args.len());
        for a in args {
            let (v, size) = self.eval_sized(a)?;
            budget.add_size(size)?;
            out.push(v);
        }
        Ok(out)
    }

    /// A function's result with its size, refused when larger than [`MAX_VALUE_BYTES`].
    pub(crate) fn bounded(&self, value: Value) -> Result<(Value, usize), Error> {
        let size = size_up_to(&value, MAX_VALUE_BYTES);
        Budget::default().add_size(size)?;
        Ok((value, size))
    }

    /// `lambdaVariables('name')`: the innermost lambda variable of that name.
    pub(crate) fn lambda_variable(&self, name: &str) -> Result<Value, Error> {
        self.lambdas
            .borrow()
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                Error::func(
                    "lambdaVariables",
                    format!("no lambda variable named '{name}' is in scope"),
                )
            })
    }

    /// Evaluate `body` with lambda variables bound to `values`.
    pub(crate) fn with_lambda(
        &self,
        names: &[String],
        values: Vec<Value>,
        body: &Expr,
    ) -> Result<Value, Error> {
        let n = names.len().min(values.len());
        {
            let mut frames = self.lambdas.borrow_mut();
            for (name, value) in names.iter().zip(values) {
                frames.push((name.clone(), value));
            }
        }
        let result = self.eval(body);
        let mut frames = self.lambdas.borrow_mut();
        let keep = frames.len().saturating_sub(n);
        frames.truncate(keep);
        result
    }

    /// Hide secure values from an error raised evaluating `expr`: when the expression derives from a secure
    /// parameter (or a `list*` action), the error says so instead of showing the value; and any secure
    /// parameter's value left in the text is replaced, whatever the error.
    #[cold]
    #[inline(never)]
    fn redact(&self, e: Error, expr: &Expr) -> Error {
        if e.is_not_yet_known() {
            return e;
        }
        let e = match super::secure::source(self.scope, expr) {
            Some(source) => e.conceal(&source),
            None => e,
        };
        if self.scope.secrets().is_empty() {
            e
        } else {
            e.scrub(self.scope.secrets())
        }
    }

    /// `variables('name')`: evaluated on first use, cached, cycles detected.
    pub(crate) fn variable(&self, name: &str) -> Result<Value, Error> {
        let key = name.to_ascii_lowercase();
        if let Some(v) = self
            .scope
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(&key).cloned())
        {
            return Ok(v);
        }
        let Some((orig, def)) = self.scope.variables.get(&key) else {
            // ARM's wording (InvalidTemplate), so a user can search for it.
            return Err(Error::template(format!(
                "The template variable '{name}' is not found. Please see https://aka.ms/arm-syntax-variables for usage details."
            )));
        };
        if self
            .stack
            .borrow()
            .iter()
            .any(|s| s.eq_ignore_ascii_case(orig))
        {
            let mut cycle: Vec<String> = self.stack.borrow().clone();
            let start = cycle
                .iter()
                .position(|s| s.eq_ignore_ascii_case(orig))
                .unwrap_or(0);
            cycle.drain(..start);
            cycle.push(orig.clone());
            return Err(Error::VariableCycle { cycle });
        }
        self.stack.borrow_mut().push(orig.clone());
        // Variables see no copy loop but their own.
        let saved = self.copy.replace(Vec::new());
        let path = format!("variables.{orig}");
        let result = match def {
            // A `copy` array inside a variable's object builds that object's array properties, as in
            // resource properties (ARM's "variable iteration" on an object).
            VariableDef::Plain(v) => self.eval_value(v, &path, true),
            VariableDef::Copy(entry) => self.variable_copy(orig, entry, &path),
        };
        *self.copy.borrow_mut() = saved;
        self.stack.borrow_mut().pop();
        let value = result?;
        if let Ok(mut cache) = self.scope.cache.lock() {
            cache.insert(key, value.clone());
        }
        Ok(value)
    }

    fn variable_copy(&self, name: &str, entry: &Value, path: &str) -> Result<Value, Error> {
        let count = self.copy_count(entry.get("count"), &format!("{path}.count"))?;
        let input = entry.get("input").ok_or_else(|| {
            Error::template("a variable copy needs 'input'").at(|| path.to_string())
        })?;
        let mut items = Vec::with_capacity(count as usize);
        let mut budget = Budget::default();
        for index in 0..count {
            self.push_copy(CopyFrame {
                name: name.to_string(),
                index,
                primary: true,
            });
            let item = self.eval_value_sized(input, &format!("{path}.input"), false);
            self.pop_copy();
            let (item, item_size) = item?;
            budget
                .add_size(item_size)
                .map_err(|e| e.at(|| path.to_string()))?;
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    pub(crate) fn copy_index(&self, name: Option<&str>) -> Result<i64, Error> {
        let frames = self.copy.borrow();
        let frame = match name {
            Some(n) => frames
                .iter()
                .rev()
                .find(|f| f.name.eq_ignore_ascii_case(n))
                .ok_or_else(|| {
                    Error::func(
                        "copyIndex",
                        format!("no copy loop named '{n}' is active here"),
                    )
                })?,
            None => frames
                .iter()
                .rev()
                .find(|f| f.primary)
                .or_else(|| frames.last())
                .ok_or_else(|| Error::func("copyIndex", "used outside a copy loop"))?,
        };
        Ok(frame.index)
    }

    pub(crate) fn user_function(&self, name: &str, args: &[Value]) -> Result<Value, Error> {
        let Some(f) = self.scope.functions.get(&name.to_ascii_lowercase()) else {
            return Err(Error::UnknownFunction {
                name: name.to_string(),
                reason: "no such user-defined function in the template's 'functions'".to_string(),
            });
        };
        if f.params.len() != args.len() {
            return Err(Error::func(
                name,
                format!("takes {} argument(s), got {}", f.params.len(), args.len()),
            ));
        }
        let params: Map<String, Value> =
            f.params.iter().cloned().zip(args.iter().cloned()).collect();
        // User-defined functions may not use variables or call other user-defined functions (ARM rules), so
        // the function's scope holds only its parameters.
        let fscope = Scope::new(&params, &Map::new())?;
        let inner = Evaluator {
            ctx: self.ctx,
            scope: &fscope,
            names: self.names,
            copy: RefCell::new(Vec::new()),
            stack: RefCell::new(Vec::new()),
            depth: std::cell::Cell::new(self.depth.get()),
            steps: std::cell::Cell::new(self.steps.get()),
            step_limit: self.step_limit,
            lambdas: RefCell::new(Vec::new()),
            lenient: false,
        };
        let result = inner.eval_value(&f.output, &format!("functions.{name}.output.value"), false);
        self.steps.set(inner.steps.get());
        result
    }
}

/// The JSON type name ARM uses in messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `.name` on a value: object properties match case-insensitively, as in ARM.
pub fn property(base: &Value, name: &str) -> Result<Value, Error> {
    match base {
        Value::Object(map) => map
            .get(name)
            .or_else(|| {
                map.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .cloned()
            .ok_or_else(|| {
                let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
                keys.sort_unstable();
                Error::template(format!(
                    "the object has no property '{name}' (it has: {})",
                    if keys.is_empty() {
                        "none".to_string()
                    } else {
                        keys.join(", ")
                    }
                ))
            }),
        other => Err(Error::template(format!(
            "cannot read property '{name}' of {} value",
            type_name(other)
        ))),
    }
}

/// `[index]` on a value: an integer into an array or a string into an object.
pub fn index_value(base: &Value, index: &Value) -> Result<Value, Error> {
    match (base, index) {
        (Value::Array(items), Value::Number(n)) => {
            let i = n.as_i64().unwrap_or(-1);
            usize::try_from(i)
                .ok()
                .and_then(|i| items.get(i))
                .cloned()
                .ok_or_else(|| {
                    Error::template(format!(
                        "index {n} is out of range for an array of length {}",
                        items.len()
                    ))
                })
        }
        (Value::Object(_), Value::String(name)) => property(base, name),
        (b, i) => Err(Error::template(format!(
            "cannot index {} value with {} value",
            type_name(b),
            type_name(i)
        ))),
    }
}

/// A running total of the size of values being put together, refused past [`MAX_VALUE_BYTES`].
#[derive(Default)]
pub(crate) struct Budget(usize);

impl Budget {
    pub(crate) fn add(&mut self, v: &Value) -> Result<(), Error> {
        self.add_size(size_up_to(v, MAX_VALUE_BYTES.saturating_sub(self.0)))
    }

    /// Count a value whose size is already known (as [`size_up_to`] measures it, or at least as large).
    pub(crate) fn add_size(&mut self, size: usize) -> Result<(), Error> {
        self.0 = self.0.saturating_add(size);
        if self.0 > MAX_VALUE_BYTES {
            return Err(Error::ValueTooLarge {
                limit: MAX_VALUE_BYTES,
            });
        }
        Ok(())
    }
}

/// What [`size_up_to`] counts for a number, bool or null.
const SCALAR_SIZE: usize = 5;

/// The size of a value no larger than [`MAX_VALUE_BYTES`] (larger ones measure as just past it).
pub(crate) fn size_of(v: &Value) -> usize {
    size_up_to(v, MAX_VALUE_BYTES)
}

/// The size of an object being put together from entries whose sizes are known: what [`size_up_to`] would
/// measure for the finished object, including when a later entry replaces an earlier one of the same name.
#[derive(Default)]
struct EntrySizes(usize);

impl EntrySizes {
    fn insert(&mut self, out: &mut Map<String, Value>, key: String, value: Value, size: usize) {
        let key_len = key.len();
        match out.insert(key, value) {
            Some(old) => {
                self.0 = self.0.saturating_sub(size_of(&old)).saturating_add(size);
            }
            None => self.0 = self.0.saturating_add(key_len + 4 + size),
        }
    }

    fn size(&self) -> usize {
        2 + self.0
    }
}

/// About the size of a value's JSON text, counting no further than just past `limit`.
fn size_up_to(v: &Value, limit: usize) -> usize {
    match v {
        Value::String(s) => s.len() + 2,
        Value::Array(items) => {
            let mut n = 2;
            for i in items {
                n += size_up_to(i, limit.saturating_sub(n)) + 1;
                if n > limit {
                    break;
                }
            }
            n
        }
        Value::Object(map) => {
            let mut n = 2;
            for (k, i) in map {
                n += k.len() + 4 + size_up_to(i, limit.saturating_sub(n));
                if n > limit {
                    break;
                }
            }
            n
        }
        _ => SCALAR_SIZE,
    }
}
