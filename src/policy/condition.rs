//! The policy rule language: `allOf`/`anyOf`/`not`, `field`/`value`/`count` conditions and their operators,
//! over one resource. Template functions in a rule go to [`crate::armexpr`]; the policy-only ones (`field()`,
//! `current()`, `requestContext()`, `policy()`) are answered here and handed to it as values.
//!
//! A condition is true, false or [`Undecidable`]: an alias the table lacks, a property that is still an ARM
//! expression before deployment, or a rule Azure itself would fail on. Undecidable is reported, never guessed.

use super::alias::{applies_to, Aliases};
use crate::armexpr::{classify, parse, Context, Evaluator, Expr, Scope, Template};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::cell::RefCell;

/// Why a condition could not be decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undecidable {
    /// The rule uses an alias the alias data lacks.
    UnknownAlias(String),
    /// The property's value is an ARM expression only known once deployed (`[reference(...)]`).
    AfterDeployment { field: String, expression: String },
    /// The rule itself cannot be evaluated (a bad expression, an operator Azure would reject here).
    Invalid(String),
}

impl std::fmt::Display for Undecidable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undecidable::UnknownAlias(a) => write!(
                f,
                "the alias {a} is not in the alias data (data/azure-policy/builtins/aliases.csv)"
            ),
            Undecidable::AfterDeployment { field, expression } => {
                write!(f, "{field} is {expression}, only known after deployment")
            }
            Undecidable::Invalid(m) => write!(f, "{m}"),
        }
    }
}

/// One resource as the rule sees it.
#[derive(Debug, Clone)]
pub struct Subject {
    pub id: String,
    /// The policy type: `Microsoft.Storage/storageAccounts`, an extension's own type
    /// (`Microsoft.Insights/diagnosticSettings`), `Microsoft.Resources/subscriptions/resourceGroups`.
    pub resource_type: String,
    pub api_version: String,
    /// The last segment of the name (`name`); `full_name` is `parent/child`.
    pub name: String,
    pub full_name: String,
    pub location: Option<String>,
    pub tags: Option<Map<String, Value>>,
    /// The whole resource (`properties`, `sku`, `kind`, `identity`, ...).
    pub body: Value,
    /// `resource_type` as a JSON string: the `type` field almost every rule reads, made once per resource.
    pub type_value: Value,
}

impl Subject {
    /// A rendered resource as the rule sees it; the type comes from the id, so an extension written
    /// `Microsoft.Storage/storageAccounts/providers/diagnosticSettings` is `Microsoft.Insights/diagnosticSettings`.
    pub fn from_resource(r: &crate::model::Resource) -> Subject {
        let resource_type = type_of_id(&r.id).unwrap_or_else(|| r.resource_type.clone());
        let name = r.id.rsplit('/').next().unwrap_or(&r.name).to_string();
        Subject {
            id: r.id.clone(),
            type_value: Value::String(resource_type.clone()),
            resource_type,
            api_version: r.api_version.clone(),
            name,
            full_name: r.name.clone(),
            location: r.location.clone().or_else(|| {
                r.body
                    .get("location")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }),
            tags: r
                .tags
                .clone()
                .or_else(|| r.body.get("tags").and_then(Value::as_object).cloned()),
            body: r.body.clone(),
        }
    }

    /// The subscription itself, which subscription-scope policies evaluate.
    pub fn subscription(id: &str) -> Subject {
        Subject {
            id: format!("/subscriptions/{id}"),
            resource_type: "Microsoft.Resources/subscriptions".into(),
            api_version: "2022-12-01".into(),
            name: id.to_string(),
            full_name: id.to_string(),
            location: None,
            tags: None,
            body: json!({}),
            type_value: json!("Microsoft.Resources/subscriptions"),
        }
    }

    /// `/subscriptions/{id}` of the resource.
    pub fn subscription_id(&self) -> Option<&str> {
        let mut parts = self.id.split('/').skip(1);
        match (parts.next(), parts.next()) {
            (Some(s), Some(id)) if s.eq_ignore_ascii_case("subscriptions") => Some(id),
            _ => None,
        }
    }

    /// The resource group name, if the resource is in one (or is one).
    pub fn resource_group(&self) -> Option<&str> {
        let parts: Vec<&str> = self.id.split('/').collect();
        parts
            .iter()
            .position(|p| p.eq_ignore_ascii_case("resourceGroups"))
            .and_then(|i| parts.get(i + 1).copied())
    }
}

/// A resource's policy type from its id (`None` for an id trustprint cannot read).
pub fn type_of_id(id: &str) -> Option<String> {
    let lower = id.to_ascii_lowercase();
    if let Some(at) = lower.rfind("/providers/") {
        let rest: Vec<&str> = id[at + "/providers/".len()..].split('/').collect();
        if rest.len() < 3 {
            return None;
        }
        let mut t = vec![rest[0]];
        t.extend(rest[1..].iter().step_by(2));
        return Some(t.join("/"));
    }
    let parts: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        [s, _] if s.eq_ignore_ascii_case("subscriptions") => {
            Some("Microsoft.Resources/subscriptions".into())
        }
        [s, _, r, _]
            if s.eq_ignore_ascii_case("subscriptions")
                && r.eq_ignore_ascii_case("resourceGroups") =>
        {
            Some("Microsoft.Resources/subscriptions/resourceGroups".into())
        }
        _ => None,
    }
}

/// Why a resource is non-compliant: one condition that made the rule true.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reason {
    /// The field (`Microsoft.Storage/storageAccounts/minimumTlsVersion`), `value`, or `count(...)`.
    pub field: String,
    /// Its value on the resource (`null` when absent).
    pub actual: Value,
    /// The operator, `not ` in front when the rule negates it (`notEquals`, `not in`).
    pub condition: String,
    pub expected: Value,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is {}; expected {} {}",
            self.field,
            short(&self.actual),
            self.condition,
            short(&self.expected)
        )
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}...", s.chars().take(117).collect::<String>())
    } else {
        s
    }
}

/// A count's element in scope for `current()` and for fields relative to it.
#[derive(Debug, Clone)]
enum Frame {
    /// A field count: the array's property path (lower case, ending `[*]`) and the element.
    Field { alias: String, element: Value },
    /// A value count: its `name` and the element.
    Value {
        name: Option<String>,
        element: Value,
    },
}

/// A field's value on a resource: one value, or every member of a `[*]` array.
enum Got<'v> {
    One(Option<Cow<'v, Value>>),
    Each(Vec<Option<Cow<'v, Value>>>),
}

/// What the ARM evaluator sees of the world inside a policy: the resource's subscription and group.
struct PolicyContext {
    subscription_id: String,
    resource_group: Option<String>,
    location: Option<String>,
}

impl Context for PolicyContext {
    fn subscription(&self) -> Value {
        json!({
            "id": format!("/subscriptions/{}", self.subscription_id),
            "subscriptionId": self.subscription_id,
            "tenantId": crate::armexpr::PLACEHOLDER_SUBSCRIPTION,
            "displayName": self.subscription_id,
        })
    }
    fn resource_group(&self) -> Option<Value> {
        self.resource_group.as_ref().map(|rg| {
            json!({
                "id": format!("/subscriptions/{}/resourceGroups/{rg}", self.subscription_id),
                "name": rg,
                "type": "Microsoft.Resources/resourceGroups",
                "location": self.location,
                "tags": {},
                "properties": {"provisioningState": "Succeeded"},
            })
        })
    }
    fn deployment(&self) -> Value {
        json!({"name": "policy"})
    }
    fn tenant(&self) -> Value {
        json!({"tenantId": crate::armexpr::PLACEHOLDER_SUBSCRIPTION})
    }
    fn reference(
        &self,
        id: &str,
        _: Option<&str>,
        _: bool,
    ) -> Result<Value, crate::armexpr::Error> {
        Err(crate::armexpr::Error::NotYetKnown {
            what: format!("reference('{id}')"),
        })
    }
}

/// Functions only a policy rule has, or whose answer depends on the resource being evaluated.
const RUNTIME_FUNCTIONS: [&str; 7] = [
    "field",
    "current",
    "requestcontext",
    "policy",
    "resourcegroup",
    "subscription",
    "utcnow",
];

/// Does the expression need the resource (or the time) to evaluate?
fn needs_runtime(expr: &Expr) -> bool {
    match expr {
        Expr::Call { name, args, .. } => {
            RUNTIME_FUNCTIONS
                .iter()
                .any(|f| f.eq_ignore_ascii_case(name))
                || args.iter().any(needs_runtime)
        }
        Expr::Property(b, _) => needs_runtime(b),
        Expr::Index(b, i) => needs_runtime(b) || needs_runtime(i),
        _ => false,
    }
}

/// Evaluate every expression of a rule that needs only the parameters, once, so evaluating many resources
/// repeats none of it. A string result that looks like an expression is escaped (`[[`) to stay a literal.
pub fn prepare(value: &Value, params: &Map<String, Value>) -> Result<Value, Undecidable> {
    match value {
        Value::String(s) => match classify(s) {
            Template::Literal(_) => Ok(value.clone()),
            Template::Expression(inner) => {
                let expr = parse(inner).map_err(|e| Undecidable::Invalid(format!("{s}: {e}")))?;
                if needs_runtime(&expr) {
                    return Ok(value.clone());
                }
                let ctx = PolicyContext {
                    subscription_id: crate::armexpr::PLACEHOLDER_SUBSCRIPTION.into(),
                    resource_group: None,
                    location: None,
                };
                let scope = Scope::new(params, &Map::new())
                    .map_err(|e| Undecidable::Invalid(e.to_string()))?;
                let v = Evaluator::new(&ctx, &scope)
                    .eval(&expr)
                    .map_err(|e| Undecidable::Invalid(format!("{s}: {e}")))?;
                Ok(escape(v))
            }
        },
        Value::Array(a) => a
            .iter()
            .map(|v| prepare(v, params))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Value::Object(m) => {
            let mut out = Map::with_capacity(m.len());
            for (k, v) in m {
                out.insert(k.clone(), prepare(v, params)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

fn escape(v: Value) -> Value {
    match v {
        Value::String(s) if s.starts_with('[') => Value::String(format!("[{s}")),
        other => other,
    }
}

/// Evaluates conditions for one policy: its parameter values and the alias table, with `primary` the resource
/// the `if` is about (what `[field()]` reads, also inside an existence condition).
pub struct Evaluation<'a> {
    pub aliases: &'a Aliases,
    pub params: &'a Map<String, Value>,
    pub primary: &'a Subject,
    /// `policy()`: the assignment, definition and reference ids.
    pub policy: Cow<'a, Value>,
    frames: RefCell<Vec<Frame>>,
}

impl<'a> Evaluation<'a> {
    pub fn new(aliases: &'a Aliases, params: &'a Map<String, Value>, primary: &'a Subject) -> Self {
        Evaluation {
            aliases,
            params,
            primary,
            policy: Cow::Owned(Value::Null),
            frames: RefCell::new(Vec::new()),
        }
    }

    /// Evaluate a condition with `field` reading `target`.
    pub fn condition(&self, c: &Value, target: &Subject) -> Result<bool, Undecidable> {
        let Some(obj) = c.as_object() else {
            return Err(Undecidable::Invalid(format!(
                "a condition must be an object, not {c}"
            )));
        };
        if let Some(list) = get_ci(obj, "allOf") {
            return self.all(list, target);
        }
        if let Some(list) = get_ci(obj, "anyOf") {
            return self.any(list, target);
        }
        if let Some(inner) = get_ci(obj, "not") {
            return self.condition(inner, target).map(|b| !b);
        }
        let (op, expected) = operator(obj)?;
        let expected = self.operand(expected)?;
        if let Some(count) = get_ci(obj, "count") {
            let n = self.count(count, target)?;
            return compare_op(&op, &Value::from(n), true, &expected);
        }
        if let Some(field) = get_ci(obj, "field") {
            let name = self.name_of(field)?;
            return match self.field(&name, target)? {
                Got::One(v) => {
                    let present = v.is_some();
                    let actual = v.unwrap_or(Cow::Owned(Value::Null));
                    if !op.eq_ignore_ascii_case("exists") {
                        unresolved(&name, &actual)?;
                    }
                    compare_op(&op, &actual, present, &expected)
                }
                Got::Each(items) => {
                    // A `[*]` field outside a count: true only when every member satisfies the condition.
                    for v in items {
                        let present = v.is_some();
                        let actual = v.unwrap_or(Cow::Owned(Value::Null));
                        if !op.eq_ignore_ascii_case("exists") {
                            unresolved(&name, &actual)?;
                        }
                        if !compare_op(&op, &actual, present, &expected)? {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                }
            };
        }
        if let Some(value) = get_ci(obj, "value") {
            let actual = self.operand(value)?;
            return compare_op(&op, &actual, !actual.is_null(), &expected);
        }
        Err(Undecidable::Invalid(format!(
            "a condition needs field, value, count, allOf, anyOf or not: {c}"
        )))
    }

    fn all(&self, list: &Value, target: &Subject) -> Result<bool, Undecidable> {
        let mut undecided = None;
        for c in list.as_array().into_iter().flatten() {
            match self.condition(c, target) {
                Ok(false) => return Ok(false),
                Ok(true) => {}
                Err(e) => undecided = undecided.or(Some(e)),
            }
        }
        undecided.map_or(Ok(true), Err)
    }

    fn any(&self, list: &Value, target: &Subject) -> Result<bool, Undecidable> {
        let mut undecided = None;
        for c in list.as_array().into_iter().flatten() {
            match self.condition(c, target) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(e) => undecided = undecided.or(Some(e)),
            }
        }
        undecided.map_or(Ok(false), Err)
    }

    /// Is the resource one the rule is about? Only the `type`, `name` and `kind` conditions decide (Azure's
    /// applicability for audit, deny, append and modify); everything else counts as met.
    pub fn applicable(&self, c: &Value, target: &Subject) -> bool {
        self.applicability(c, target) != Some(false)
    }

    fn applicability(&self, c: &Value, target: &Subject) -> Option<bool> {
        let obj = c.as_object()?;
        if let Some(list) = get_ci(obj, "allOf") {
            let r: Vec<_> = list
                .as_array()?
                .iter()
                .map(|c| self.applicability(c, target))
                .collect();
            return if r.contains(&Some(false)) {
                Some(false)
            } else if r.iter().all(|x| *x == Some(true)) {
                Some(true)
            } else {
                None
            };
        }
        if let Some(list) = get_ci(obj, "anyOf") {
            let r: Vec<_> = list
                .as_array()?
                .iter()
                .map(|c| self.applicability(c, target))
                .collect();
            return if r.contains(&Some(true)) {
                Some(true)
            } else if r.iter().all(|x| *x == Some(false)) {
                Some(false)
            } else {
                None
            };
        }
        if let Some(inner) = get_ci(obj, "not") {
            return self.applicability(inner, target).map(|b| !b);
        }
        let field = get_ci(obj, "field")?.as_str()?;
        if ["type", "name", "kind"]
            .iter()
            .any(|f| f.eq_ignore_ascii_case(field))
        {
            self.condition(c, target).ok()
        } else {
            None
        }
    }

    /// The conditions that made `c` true on `target` (`negated`: that made it false), for the report.
    pub fn explain(&self, c: &Value, target: &Subject, negated: bool) -> Vec<Reason> {
        let Some(obj) = c.as_object() else {
            return Vec::new();
        };
        let every = get_ci(obj, "allOf")
            .map(|l| (l, true))
            .or_else(|| get_ci(obj, "anyOf").map(|l| (l, false)));
        if let Some((list, is_all)) = every {
            let items = list.as_array().cloned().unwrap_or_default();
            // allOf true / anyOf false: every member explains; otherwise the first member that decided.
            if is_all != negated {
                return items
                    .iter()
                    .flat_map(|i| self.explain(i, target, negated))
                    .collect();
            }
            let deciding = items
                .iter()
                .find(|i| self.condition(i, target).ok() == Some(!negated));
            return deciding
                .map(|i| self.explain(i, target, negated))
                .unwrap_or_default();
        }
        if let Some(inner) = get_ci(obj, "not") {
            return self.explain(inner, target, !negated);
        }
        let Ok((op, expected)) = operator(obj) else {
            return Vec::new();
        };
        let expected = self.value(expected).unwrap_or(Value::Null);
        let condition = if negated { negate(&op) } else { op.clone() };
        let (field, actual) = if let Some(count) = get_ci(obj, "count") {
            let what = count
                .get("field")
                .or_else(|| count.get("value"))
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .unwrap_or_default();
            (
                format!("count({what})"),
                self.count(count, target)
                    .map(Value::from)
                    .unwrap_or(Value::Null),
            )
        } else if let Some(field) = get_ci(obj, "field") {
            let name = self.name_of(field).unwrap_or_default();
            if name.eq_ignore_ascii_case("type") {
                return Vec::new();
            }
            let actual = match self.field(&name, target) {
                Ok(Got::One(v)) => v.map(Cow::into_owned).unwrap_or(Value::Null),
                Ok(Got::Each(items)) => Value::Array(
                    items
                        .into_iter()
                        .map(|v| v.map(Cow::into_owned).unwrap_or(Value::Null))
                        .collect(),
                ),
                Err(_) => Value::Null,
            };
            (name, actual)
        } else if let Some(value) = get_ci(obj, "value") {
            let shown = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            (
                format!("value {shown}"),
                self.value(value).unwrap_or(Value::Null),
            )
        } else {
            return Vec::new();
        };
        vec![Reason {
            field,
            actual,
            condition,
            expected,
        }]
    }

    fn name_of(&self, field: &Value) -> Result<String, Undecidable> {
        if let Some(s) = field.as_str().filter(|s| !s.starts_with('[')) {
            return Ok(s.to_string());
        }
        match self.value(field)? {
            Value::String(s) => Ok(s),
            other => Err(Undecidable::Invalid(format!(
                "a field must name a string, not {other}"
            ))),
        }
    }

    /// The number of array members (or values) a `count` counts.
    fn count(&self, count: &Value, target: &Subject) -> Result<usize, Undecidable> {
        let where_ = count.get("where");
        if let Some(field) = count.get("field") {
            let alias = self.name_of(field)?;
            if !alias.ends_with("[*]") {
                return Err(Undecidable::Invalid(format!(
                    "count.field must be an array alias ending in [*], not {alias}"
                )));
            }
            let members = match self.field(&alias, target)? {
                Got::Each(items) => items
                    .into_iter()
                    .flatten()
                    .map(Cow::into_owned)
                    .collect::<Vec<_>>(),
                Got::One(_) => Vec::new(),
            };
            let Some(cond) = where_ else {
                return Ok(members.len());
            };
            let mut n = 0;
            for element in members {
                self.frames.borrow_mut().push(Frame::Field {
                    alias: alias.to_ascii_lowercase(),
                    element,
                });
                let r = self.condition(cond, target);
                self.frames.borrow_mut().pop();
                if r? {
                    n += 1;
                }
            }
            return Ok(n);
        }
        let Some(values) = count.get("value") else {
            return Err(Undecidable::Invalid("count needs field or value".into()));
        };
        let values = match self.value(values)? {
            Value::Array(a) => a,
            other => {
                return Err(Undecidable::Invalid(format!(
                    "count.value must be an array, not {other}"
                )))
            }
        };
        let Some(cond) = where_ else {
            return Ok(values.len());
        };
        let name = count
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut n = 0;
        for element in values {
            self.frames.borrow_mut().push(Frame::Value {
                name: name.clone(),
                element,
            });
            let r = self.condition(cond, target);
            self.frames.borrow_mut().pop();
            if r? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// The property path of an alias for `target` (`None`: the alias is of another type).
    fn alias_path(&self, alias: &str, target: &Subject) -> Result<Option<String>, Undecidable> {
        let Some(path) = self.aliases.path(alias) else {
            return Err(Undecidable::UnknownAlias(alias.to_string()));
        };
        Ok(applies_to(alias, &target.resource_type).then(|| path.to_string()))
    }

    /// A field's value on `target`.
    fn field<'s>(&self, name: &str, target: &'s Subject) -> Result<Got<'s>, Undecidable> {
        let lower = name.to_ascii_lowercase();
        let one = |v: Option<Value>| Ok(Got::One(v.map(Cow::Owned)));
        match lower.as_str() {
            "type" => return Ok(Got::One(Some(Cow::Borrowed(&target.type_value)))),
            "name" => return one(Some(Value::String(target.name.clone()))),
            "fullname" => return one(Some(Value::String(target.full_name.clone()))),
            "id" => return one(Some(Value::String(target.id.clone()))),
            "kind" => {
                return Ok(Got::One(
                    get_path_ci(&target.body, "kind").map(Cow::Borrowed),
                ))
            }
            "location" => return one(target.location.clone().map(Value::String)),
            "tags" => return one(target.tags.clone().map(Value::Object)),
            "identity.type" => {
                return Ok(Got::One(
                    get_path_ci(&target.body, "identity.type").map(Cow::Borrowed),
                ))
            }
            "identity.userassignedidentities" => {
                return Ok(Got::One(
                    get_path_ci(&target.body, "identity.userAssignedIdentities").map(Cow::Borrowed),
                ))
            }
            _ => {}
        }
        if let Some(tag) = tag_name(name) {
            let v = target.tags.as_ref().and_then(|t| get_ci(t, &tag)).cloned();
            return one(v);
        }
        // Inside a field count, a field below the counted array reads the current member.
        let frame = self.frames.borrow().iter().rev().find_map(|f| match f {
            Frame::Field { alias, element, .. }
                if lower.starts_with(alias.as_str())
                    && (lower.len() == alias.len() || lower.as_bytes()[alias.len()] == b'.') =>
            {
                Some((alias.len(), element.clone()))
            }
            _ => None,
        });
        if let Some((len, element)) = frame {
            if self.aliases.path(name).is_none() {
                return Err(Undecidable::UnknownAlias(name.to_string()));
            }
            let rest = name[len..].trim_start_matches('.');
            if rest.is_empty() {
                return Ok(Got::One(Some(Cow::Owned(element))));
            }
            let rel = self.relative_path(name, len)?;
            return Ok(collect(&element, &rel).map_owned());
        }
        let Some(path) = self.alias_path(name, target)? else {
            return Ok(Got::One(None));
        };
        Ok(collect(&target.body, &path))
    }

    /// The property path below the counted member for a field `name` whose first `len` characters are
    /// the count's alias.
    fn relative_path(&self, name: &str, len: usize) -> Result<String, Undecidable> {
        let full = self
            .aliases
            .path(name)
            .ok_or_else(|| Undecidable::UnknownAlias(name.to_string()))?;
        let outer = self
            .aliases
            .path(&name[..len])
            .ok_or_else(|| Undecidable::UnknownAlias(name[..len].to_string()))?;
        Ok(full
            .get(outer.len()..)
            .unwrap_or("")
            .trim_start_matches('.')
            .to_string())
    }

    /// [`Self::value`], borrowing the rule's own value when it holds no expression (most operands), so
    /// evaluating many resources copies nothing.
    fn operand<'v>(&self, v: &'v Value) -> Result<Cow<'v, Value>, Undecidable> {
        let literal = |x: &Value| match x {
            Value::String(s) => !s.starts_with('['),
            Value::Array(_) | Value::Object(_) => false,
            _ => true,
        };
        let plain = match v {
            Value::Array(a) => a.iter().all(literal),
            Value::Object(_) => true,
            other => literal(other),
        };
        if plain {
            Ok(Cow::Borrowed(v))
        } else {
            self.value(v).map(Cow::Owned)
        }
    }

    /// A value from the rule: literals as they are, expressions evaluated (policy functions answered here).
    pub fn value(&self, v: &Value) -> Result<Value, Undecidable> {
        match v {
            Value::String(s) => match classify(s) {
                Template::Literal(text) => Ok(Value::String(text.into_owned())),
                Template::Expression(inner) => self.expression(s, inner),
            },
            Value::Array(a) if a.iter().any(|x| x.is_string() || x.is_object()) => a
                .iter()
                .map(|x| self.value(x))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    fn expression(&self, text: &str, inner: &str) -> Result<Value, Undecidable> {
        let expr = parse(inner).map_err(|e| Undecidable::Invalid(format!("{text}: {e}")))?;
        let mut extra = self.params.clone();
        let expr = self.substitute(&expr, &mut extra)?;
        self.arm(&expr, &extra).map_err(|e| match e {
            Undecidable::Invalid(m) => Undecidable::Invalid(format!("{text}: {m}")),
            other => other,
        })
    }

    fn arm(&self, expr: &Expr, params: &Map<String, Value>) -> Result<Value, Undecidable> {
        let ctx = PolicyContext {
            subscription_id: self
                .primary
                .subscription_id()
                .unwrap_or(crate::armexpr::PLACEHOLDER_SUBSCRIPTION)
                .to_string(),
            resource_group: self.primary.resource_group().map(str::to_string),
            location: self.primary.location.clone(),
        };
        let scope =
            Scope::new(params, &Map::new()).map_err(|e| Undecidable::Invalid(e.to_string()))?;
        Evaluator::new(&ctx, &scope)
            .eval(expr)
            .map_err(|e| Undecidable::Invalid(e.to_string()))
    }

    /// Replace the policy functions in `expr` by their values (as `parameters('__policy_n')`).
    fn substitute(&self, expr: &Expr, extra: &mut Map<String, Value>) -> Result<Expr, Undecidable> {
        Ok(match expr {
            Expr::Call {
                name,
                args,
                position,
            } => {
                let args = args
                    .iter()
                    .map(|a| self.substitute(a, extra))
                    .collect::<Result<Vec<_>, _>>()?;
                let lower = name.to_ascii_lowercase();
                let value = match lower.as_str() {
                    "field" => {
                        let [arg] = args.as_slice() else {
                            return Err(Undecidable::Invalid("field() takes one argument".into()));
                        };
                        let field = self.arm(arg, extra)?;
                        let field = field.as_str().unwrap_or_default().to_string();
                        let got = match self.field(&field, self.primary)? {
                            Got::One(v) => v.map(Cow::into_owned).unwrap_or(Value::Null),
                            Got::Each(items) => Value::Array(
                                items
                                    .into_iter()
                                    .map(|v| v.map(Cow::into_owned).unwrap_or(Value::Null))
                                    .collect(),
                            ),
                        };
                        unresolved(&field, &got)?;
                        Some(got)
                    }
                    "current" => {
                        let key = match args.first() {
                            Some(a) => Some(
                                self.arm(a, extra)?
                                    .as_str()
                                    .unwrap_or_default()
                                    .to_ascii_lowercase(),
                            ),
                            None => None,
                        };
                        Some(self.current(key.as_deref())?)
                    }
                    "requestcontext" => Some(json!({"apiVersion": self.primary.api_version})),
                    "policy" => Some(self.policy.clone().into_owned()),
                    _ => None,
                };
                match value {
                    Some(v) => {
                        let key = format!("__policy_{}", extra.len());
                        extra.insert(key.clone(), v);
                        Expr::Call {
                            name: "parameters".into(),
                            args: vec![Expr::Str(key)],
                            position: *position,
                        }
                    }
                    None => Expr::Call {
                        name: name.clone(),
                        args,
                        position: *position,
                    },
                }
            }
            Expr::Property(b, n) => Expr::Property(Box::new(self.substitute(b, extra)?), n.clone()),
            Expr::Index(b, i) => Expr::Index(
                Box::new(self.substitute(b, extra)?),
                Box::new(self.substitute(i, extra)?),
            ),
            other => other.clone(),
        })
    }

    /// `current()` / `current('name')`: the member a count is at.
    fn current(&self, key: Option<&str>) -> Result<Value, Undecidable> {
        let frames = self.frames.borrow();
        let found = frames.iter().rev().find_map(|f| match (f, key) {
            (Frame::Value { element, .. } | Frame::Field { element, .. }, None) => {
                Some(element.clone())
            }
            (
                Frame::Value {
                    name: Some(n),
                    element,
                },
                Some(k),
            ) if n.eq_ignore_ascii_case(k) => Some(element.clone()),
            (Frame::Field { alias, element, .. }, Some(k)) if alias == k => Some(element.clone()),
            (Frame::Field { alias, element, .. }, Some(k))
                if k.starts_with(alias.as_str())
                    && k.as_bytes().get(alias.len()) == Some(&b'.') =>
            {
                let rel = self.relative_path(k, alias.len()).ok()?;
                match collect(element, &rel) {
                    Got::One(v) => Some(v.map(Cow::into_owned).unwrap_or(Value::Null)),
                    Got::Each(items) => Some(Value::Array(
                        items
                            .into_iter()
                            .map(|v| v.map(Cow::into_owned).unwrap_or(Value::Null))
                            .collect(),
                    )),
                }
            }
            _ => None,
        });
        found.ok_or_else(|| {
            Undecidable::Invalid(format!(
                "current({}) is used outside a count that names it",
                key.map(|k| format!("'{k}'")).unwrap_or_default()
            ))
        })
    }
}

impl<'v> Got<'v> {
    fn map_owned(self) -> Got<'static> {
        match self {
            Got::One(v) => Got::One(v.map(|c| Cow::Owned(c.into_owned()))),
            Got::Each(items) => Got::Each(
                items
                    .into_iter()
                    .map(|v| v.map(|c| Cow::Owned(c.into_owned())))
                    .collect(),
            ),
        }
    }
}

/// A value still holding an ARM expression cannot be judged before deployment.
fn unresolved(field: &str, v: &Value) -> Result<(), Undecidable> {
    let check = |s: &str| {
        if matches!(classify(s), Template::Expression(_)) {
            Err(Undecidable::AfterDeployment {
                field: field.to_string(),
                expression: s.to_string(),
            })
        } else {
            Ok(())
        }
    };
    match v {
        Value::String(s) => check(s),
        Value::Array(a) => a.iter().filter_map(Value::as_str).try_for_each(check),
        _ => Ok(()),
    }
}

/// `tags['x']`, `tags[x]`, `tags.x` → `x`.
fn tag_name(field: &str) -> Option<String> {
    let tail = field
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("tags"))
        .map(|_| &field[4..])?;
    if let Some(inner) = tail.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return Some(inner.trim_matches('\'').to_string());
    }
    tail.strip_prefix('.').map(str::to_string)
}

/// The operator of a leaf condition and its operand.
fn operator(obj: &Map<String, Value>) -> Result<(String, &Value), Undecidable> {
    obj.iter()
        .find(|(k, _)| {
            !["field", "value", "count"]
                .iter()
                .any(|x| x.eq_ignore_ascii_case(k))
        })
        .map(|(k, v)| (k.clone(), v))
        .ok_or_else(|| {
            Undecidable::Invalid(format!(
                "a condition needs an operator: {}",
                Value::Object(obj.clone())
            ))
        })
}

fn negate(op: &str) -> String {
    let lower = op.to_ascii_lowercase();
    let pairs = [
        ("equals", "notEquals"),
        ("like", "notLike"),
        ("match", "notMatch"),
        ("matchinsensitively", "notMatchInsensitively"),
        ("contains", "notContains"),
        ("in", "notIn"),
        ("containskey", "notContainsKey"),
        ("less", "greaterOrEquals"),
        ("greater", "lessOrEquals"),
        ("lessorequals", "greater"),
        ("greaterorequals", "less"),
    ];
    for (a, b) in pairs {
        if lower == a {
            return b.to_string();
        }
        if lower == b.to_ascii_lowercase() {
            return a.to_string();
        }
    }
    if lower == "exists" {
        return "not exists".into();
    }
    format!("not {op}")
}

/// Member of an object by name, case-insensitively (exact match first).
pub(crate) fn get_ci<'m>(obj: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    let scan = || {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    };
    // Conditions and most resource objects have a handful of members: comparing them is cheaper than
    // hashing the key, which a policy evaluation over a fleet would do millions of times.
    if obj.len() <= 8 {
        let mut found = None;
        for (k, v) in obj {
            if k == key {
                return Some(v);
            }
            if found.is_none() && k.eq_ignore_ascii_case(key) {
                found = Some(v);
            }
        }
        return found;
    }
    obj.get(key).or_else(scan)
}

/// A dotted path without wildcards.
fn get_path_ci<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(v, |cur, seg| cur.as_object().and_then(|o| get_ci(o, seg)))
}

/// Walk a property path (`properties.networkAcls.ipRules[*].value`) from `root`: one value, or each member
/// when the path has `[*]`.
fn collect<'v>(root: &'v Value, path: &str) -> Got<'v> {
    let mut current: Vec<Option<&Value>> = vec![Some(root)];
    let mut each = false;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let (key, stars) = match seg.find("[*]") {
            Some(i) => (&seg[..i], seg[i..].matches("[*]").count()),
            None => (seg, 0),
        };
        let mut next = Vec::with_capacity(current.len());
        for v in current {
            let mut got = match (v, key.is_empty()) {
                (Some(v), true) => Some(v),
                (Some(v), false) => v.as_object().and_then(|o| get_ci(o, key)),
                (None, _) => None,
            };
            if stars == 0 {
                next.push(got);
                continue;
            }
            each = true;
            let mut members = vec![got.take()];
            for _ in 0..stars {
                members = members
                    .into_iter()
                    .flat_map(|m| match m {
                        Some(Value::Array(a)) => a.iter().map(Some).collect::<Vec<_>>(),
                        _ => Vec::new(),
                    })
                    .collect();
            }
            next.extend(members);
        }
        current = next;
    }
    if each {
        Got::Each(current.into_iter().map(|v| v.map(Cow::Borrowed)).collect())
    } else {
        Got::One(current.into_iter().next().flatten().map(Cow::Borrowed))
    }
}

/// Scalars as text, for comparisons across types (`"false"` equals `false`, as Azure compares them).
fn text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// Azure's equality: strings and scalars case-insensitively, arrays and objects member by member.
pub fn equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equals(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| get_ci(y, k).is_some_and(|w| equals(v, w)))
        }
        _ => match (text(a), text(b)) {
            (Some(x), Some(y)) if x.is_ascii() && y.is_ascii() => x.eq_ignore_ascii_case(&y),
            (Some(x), Some(y)) => x.to_lowercase() == y.to_lowercase(),
            _ => false,
        },
    }
}

/// `like`: `*` matches any run of characters, case-insensitively.
pub fn like(value: &str, pattern: &str) -> bool {
    let v: Vec<char> = value.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let (mut vi, mut pi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == v[vi] {
            vi += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// `match`: `#` a digit, `?` a letter, `.` any character, anything else itself.
pub fn matches(value: &str, pattern: &str, insensitive: bool) -> bool {
    let v: Vec<char> = value.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    v.len() == p.len()
        && v.iter().zip(&p).all(|(c, q)| match q {
            '#' => c.is_ascii_digit(),
            '?' => c.is_alphabetic(),
            '.' => true,
            q if insensitive => c.to_lowercase().eq(q.to_lowercase()),
            q => c == q,
        })
}

/// Order two values for `less`/`greater`: numbers numerically, strings case-insensitively (dates in ISO 8601
/// order as text). Different types are an evaluation failure, as in Azure.
fn order(a: &Value, b: &Value) -> Result<std::cmp::Ordering, Undecidable> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .zip(y.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y))
            .ok_or_else(|| Undecidable::Invalid("numbers that cannot be compared".into())),
        (Value::String(x), Value::String(y)) => Ok(x.to_lowercase().cmp(&y.to_lowercase())),
        (Value::Number(x), Value::String(y)) | (Value::String(y), Value::Number(x)) => {
            let parsed: f64 = y.parse().map_err(|_| {
                Undecidable::Invalid(format!(
                    "cannot compare the number {x} with the string {y:?}"
                ))
            })?;
            let o = x.as_f64().unwrap_or(0.0).total_cmp(&parsed);
            Ok(if matches!(a, Value::Number(_)) {
                o
            } else {
                o.reverse()
            })
        }
        _ => Err(Undecidable::Invalid(format!("cannot order {a} and {b}"))),
    }
}

/// Apply a condition operator. `present` is false when the field does not exist on the resource.
pub fn compare_op(
    op: &str,
    actual: &Value,
    present: bool,
    expected: &Value,
) -> Result<bool, Undecidable> {
    let lower = op.to_ascii_lowercase();
    let as_text = |v: &Value| text(v).map(|c| c.into_owned());
    Ok(match lower.as_str() {
        "equals" => equals(actual, expected),
        "notequals" => !equals(actual, expected),
        "like" | "notlike" => {
            let pattern = as_text(expected).unwrap_or_default();
            let hit = as_text(actual).is_some_and(|a| like(&a, &pattern));
            hit == (lower == "like")
        }
        "match" | "notmatch" | "matchinsensitively" | "notmatchinsensitively" => {
            let pattern = as_text(expected).unwrap_or_default();
            let hit = as_text(actual)
                .is_some_and(|a| matches(&a, &pattern, lower.contains("insensitively")));
            hit != lower.starts_with("not")
        }
        "contains" | "notcontains" => {
            let hit = match actual {
                Value::Array(a) => a.iter().any(|x| equals(x, expected)),
                Value::Object(o) => as_text(expected).is_some_and(|k| get_ci(o, &k).is_some()),
                other => match (as_text(other), as_text(expected)) {
                    (Some(a), Some(e)) => a.to_lowercase().contains(&e.to_lowercase()),
                    _ => false,
                },
            };
            hit == (lower == "contains")
        }
        "in" | "notin" => {
            let Value::Array(list) = expected else {
                return Err(Undecidable::Invalid(format!(
                    "{op} needs an array, not {expected}"
                )));
            };
            let hit = present && list.iter().any(|x| equals(actual, x));
            hit == (lower == "in")
        }
        "containskey" | "notcontainskey" => {
            let key = as_text(expected).unwrap_or_default();
            let hit = actual
                .as_object()
                .is_some_and(|o| get_ci(o, &key).is_some());
            hit == (lower == "containskey")
        }
        "less" | "lessorequals" | "greater" | "greaterorequals" => {
            if !present || actual.is_null() {
                return Ok(false);
            }
            let o = order(actual, expected)?;
            match lower.as_str() {
                "less" => o.is_lt(),
                "lessorequals" => o.is_le(),
                "greater" => o.is_gt(),
                _ => o.is_ge(),
            }
        }
        "exists" => {
            let want = match expected {
                Value::Bool(b) => *b,
                Value::String(s) => s.eq_ignore_ascii_case("true"),
                _ => {
                    return Err(Undecidable::Invalid(format!(
                        "exists needs true or false, not {expected}"
                    )))
                }
            };
            (present && !actual.is_null()) == want
        }
        _ => {
            return Err(Undecidable::Invalid(format!(
                "unknown condition operator '{op}'"
            )))
        }
    })
}
