//! ARM's built-in functions. Each takes evaluated arguments (except the lazy `if`, `and`, `or`) and either
//! returns ARM's result or an error naming the function: never a guess.

use super::eval::{type_name, Evaluator};
use super::ids;
use super::parse::Expr;
use super::Error;
use base64::Engine as _;
use serde_json::{Map, Value};

/// Every built-in function name trustprint evaluates (lower case), for documentation and suggestions.
pub const SUPPORTED: &[&str] = &[
    "add",
    "and",
    "array",
    "base64",
    "base64tojson",
    "base64tostring",
    "bool",
    "coalesce",
    "concat",
    "contains",
    "copyindex",
    "createarray",
    "createobject",
    "datauri",
    "datauritostring",
    "deployment",
    "div",
    "empty",
    "endswith",
    "environment",
    "equals",
    "extensionresourceid",
    "false",
    "first",
    "format",
    "greater",
    "greaterorequals",
    "guid",
    "if",
    "indexof",
    "int",
    "intersection",
    "items",
    "join",
    "json",
    "last",
    "lastindexof",
    "length",
    "less",
    "lessorequals",
    "list*",
    "max",
    "min",
    "mod",
    "mul",
    "not",
    "null",
    "or",
    "padleft",
    "parameters",
    "range",
    "reference",
    "replace",
    "resourcegroup",
    "resourceid",
    "skip",
    "split",
    "startswith",
    "string",
    "sub",
    "subscription",
    "subscriptionresourceid",
    "substring",
    "take",
    "tenant",
    "tenantresourceid",
    "tolower",
    "toupper",
    "trim",
    "true",
    "union",
    "uniquestring",
    "uri",
    "uricomponent",
    "uricomponenttostring",
    "utcnow",
    "variables",
];

/// Known ARM functions trustprint refuses, with why.
const REFUSED: &[(&str, &str)] = &[
    (
        "pickzones",
        "availability zones depend on the live region; not evaluated",
    ),
    ("providers", "provider metadata is not evaluated"),
    (
        "datetimeadd",
        "its default output format follows the server culture; not evaluated",
    ),
    (
        "newguid",
        "a random guid would make the result non-deterministic",
    ),
    ("managementgroup", "management group scope is not supported"),
    (
        "managementgroupresourceid",
        "management group scope is not supported",
    ),
    (
        "resourceinfo",
        "symbolic-name templates (languageVersion 2.0) are not supported",
    ),
    ("filter", "lambda functions are not supported"),
    ("map", "lambda functions are not supported"),
    ("reduce", "lambda functions are not supported"),
    ("sort", "lambda functions are not supported"),
    ("tobject", "lambda functions are not supported"),
    ("toobject", "lambda functions are not supported"),
    ("mapvalues", "lambda functions are not supported"),
    ("groupby", "lambda functions are not supported"),
    ("lambda", "lambda functions are not supported"),
    ("listaccountsas", "not supported"),
];

fn arity(f: &str, args: &[Value], min: usize, max: usize) -> Result<(), Error> {
    if args.len() < min || args.len() > max {
        let want = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(Error::func(
            f,
            format!("takes {want} argument(s), got {}", args.len()),
        ));
    }
    Ok(())
}

fn string_arg<'v>(f: &str, args: &'v [Value], i: usize) -> Result<&'v str, Error> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(Error::func(
            f,
            format!("argument {} must be a string, not {}", i + 1, type_name(v)),
        )),
        None => Err(Error::func(f, format!("argument {} is missing", i + 1))),
    }
}

fn int_arg(f: &str, args: &[Value], i: usize) -> Result<i64, Error> {
    match args.get(i) {
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
            Error::func(f, format!("argument {} must be an integer, not {n}", i + 1))
        }),
        Some(v) => Err(Error::func(
            f,
            format!(
                "argument {} must be an integer, not {}",
                i + 1,
                type_name(v)
            ),
        )),
        None => Err(Error::func(f, format!("argument {} is missing", i + 1))),
    }
}

fn bool_arg(f: &str, args: &[Value], i: usize) -> Result<bool, Error> {
    match args.get(i) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(Error::func(
            f,
            format!("argument {} must be a bool, not {}", i + 1, type_name(v)),
        )),
        None => Err(Error::func(f, format!("argument {} is missing", i + 1))),
    }
}

/// How ARM turns a value into text (`string()`, `concat`, `format`): .NET's spelling of booleans, compact JSON
/// for arrays and objects, nothing for null.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// The longest string padding may produce: keeps hostile templates from exhausting memory.
const MAX_TEXT: i64 = 131_072;

fn checked(f: &str, r: Option<i64>) -> Result<Value, Error> {
    r.map(Value::from)
        .ok_or_else(|| Error::func(f, "integer overflow or division by zero"))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Deep union of objects (later wins; nested objects merge), as ARM's `union` does.
fn merge_objects(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge_objects(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// .NET composite formatting: `{0}`, `{1:D3}`, `{0,5}`, `{{` and `}}`.
fn format_net(fmt: &str, args: &[Value]) -> Result<String, Error> {
    let mut out = String::with_capacity(fmt.len());
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut spec = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => spec.push(ch),
                        None => {
                            return Err(Error::func(
                                "format",
                                format!("unclosed '{{' in format string '{fmt}'"),
                            ))
                        }
                    }
                }
                let (head, fmt_spec) = match spec.split_once(':') {
                    Some((h, s)) => (h, Some(s)),
                    None => (spec.as_str(), None),
                };
                let (index, align) = match head.split_once(',') {
                    Some((i, a)) => (i.trim(), Some(a.trim())),
                    None => (head.trim(), None),
                };
                let index: usize = index.parse().map_err(|_| {
                    Error::func("format", format!("bad placeholder '{{{spec}}}' in '{fmt}'"))
                })?;
                let arg = args.get(index).ok_or_else(|| {
                    Error::func(
                        "format",
                        format!(
                            "placeholder {{{index}}} but only {} argument(s) given",
                            args.len()
                        ),
                    )
                })?;
                let text = match fmt_spec {
                    None => to_text(arg),
                    Some(s) => format_spec(arg, s)?,
                };
                match align.map(str::parse::<i64>) {
                    None => out.push_str(&text),
                    Some(Ok(w)) if w.unsigned_abs() > MAX_TEXT as u64 => {
                        return Err(Error::func(
                            "format",
                            format!("alignment {w} is wider than {MAX_TEXT}"),
                        ));
                    }
                    Some(Ok(w)) => {
                        let width = w.unsigned_abs() as usize;
                        if w >= 0 {
                            out.push_str(&format!("{text:>width$}"));
                        } else {
                            out.push_str(&format!("{text:<width$}"));
                        }
                    }
                    Some(Err(_)) => {
                        return Err(Error::func(
                            "format",
                            format!("bad alignment in '{{{spec}}}'"),
                        ));
                    }
                }
            }
            '}' => {
                return Err(Error::func(
                    "format",
                    format!("unmatched '}}' in format string '{fmt}'"),
                ))
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn format_spec(arg: &Value, spec: &str) -> Result<String, Error> {
    let unsupported = || {
        Error::func(
            "format",
            format!("format specifier '{spec}' is not supported for {arg}"),
        )
    };
    let n = arg.as_i64().ok_or_else(unsupported)?;
    let split = spec.chars().next().map_or(0, char::len_utf8);
    let (kind, digits) = spec.split_at(split);
    let width: usize = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| unsupported())?
    };
    if width > 64 {
        return Err(unsupported());
    }
    match kind {
        "D" | "d" => {
            let s = format!("{:0width$}", n.unsigned_abs());
            Ok(if n < 0 { format!("-{s}") } else { s })
        }
        "X" => Ok(format!("{n:0width$X}")),
        "x" => Ok(format!("{n:0width$x}")),
        "N" | "n" if width == 0 => {
            let digits = n.unsigned_abs().to_string();
            let mut grouped = String::new();
            for (i, ch) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    grouped.push(',');
                }
                grouped.push(ch);
            }
            Ok(if n < 0 {
                format!("-{grouped}")
            } else {
                grouped
            })
        }
        _ => Err(unsupported()),
    }
}

/// Like .NET `Uri.EscapeDataString`: everything but unreserved characters is percent-encoded.
const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn char_slice(s: &str, start: usize, len: usize) -> String {
    s.chars().skip(start).take(len).collect()
}

impl Evaluator<'_> {
    /// Call a function by name with unevaluated arguments.
    pub(crate) fn call(&self, name: &str, raw: &[Expr]) -> Result<Value, Error> {
        let lower = name.to_ascii_lowercase();
        // Lazy functions first: only the branches taken are evaluated (ARM does the same for `if`).
        match lower.as_str() {
            "if" => {
                if raw.len() != 3 {
                    return Err(Error::func(
                        "if",
                        format!("takes 3 argument(s), got {}", raw.len()),
                    ));
                }
                let cond = self.eval(&raw[0])?;
                let Value::Bool(c) = cond else {
                    return Err(Error::func(
                        "if",
                        format!("the condition must be a bool, not {}", type_name(&cond)),
                    ));
                };
                return self.eval(if c { &raw[1] } else { &raw[2] });
            }
            "and" | "or" => {
                if raw.len() < 2 {
                    return Err(Error::func(
                        &lower,
                        format!("takes at least 2 argument(s), got {}", raw.len()),
                    ));
                }
                let short = lower == "or";
                for (i, a) in raw.iter().enumerate() {
                    match self.eval(a)? {
                        Value::Bool(b) if b == short => return Ok(Value::Bool(short)),
                        Value::Bool(_) => {}
                        v => {
                            return Err(Error::func(
                                &lower,
                                format!("argument {} must be a bool, not {}", i + 1, type_name(&v)),
                            ))
                        }
                    }
                }
                return Ok(Value::Bool(!short));
            }
            _ => {}
        }
        let args = self.args(raw)?;
        // The functions that recurse into template values (variables, user functions) are dispatched here, so
        // the large frame of `builtin` is never on the recursion path.
        if name.contains('.') {
            return self.user_function(name, &args);
        }
        if lower == "variables" {
            arity(name, &args, 1, 1)?;
            return self.variable(string_arg(name, &args, 0)?);
        }
        self.builtin(name, &lower, args)
    }

    /// Every other built-in function: none of them evaluates template values.
    #[inline(never)]
    fn builtin(&self, name: &str, f: &str, args: Vec<Value>) -> Result<Value, Error> {
        match f {
            // ---- scope and template ----
            "parameters" => {
                arity(name, &args, 1, 1)?;
                let p = string_arg(name, &args, 0)?;
                if self.scope.is_unknown(p) {
                    return Err(Error::NotYetKnown {
                        what: format!("parameter '{p}'"),
                    });
                }
                self.scope.parameter(p).cloned().ok_or_else(|| {
                    Error::func("parameters", format!("the template has no parameter '{p}'"))
                })
            }
            "copyindex" => {
                arity(name, &args, 0, 2)?;
                let (loop_name, offset) = match args.as_slice() {
                    [] => (None, 0),
                    [Value::String(n)] => (Some(n.as_str()), 0),
                    [Value::Number(_)] => (None, int_arg(name, &args, 0)?),
                    [Value::String(n), _] => (Some(n.as_str()), int_arg(name, &args, 1)?),
                    _ => {
                        return Err(Error::func(
                            "copyIndex",
                            "takes an optional loop name and an optional offset",
                        ))
                    }
                };
                checked("copyIndex", self.copy_index(loop_name)?.checked_add(offset))
            }
            "deployment" => {
                arity(name, &args, 0, 0)?;
                Ok(self.ctx.deployment())
            }
            "environment" => {
                arity(name, &args, 0, 0)?;
                Ok(self.ctx.environment())
            }
            "subscription" => {
                arity(name, &args, 0, 0)?;
                Ok(self.ctx.subscription())
            }
            "tenant" => {
                arity(name, &args, 0, 0)?;
                Ok(self.ctx.tenant())
            }
            "resourcegroup" => {
                arity(name, &args, 0, 0)?;
                self.ctx.resource_group().ok_or_else(|| {
                    Error::func(
                        "resourceGroup",
                        "not available in a subscription-scope deployment",
                    )
                })
            }
            "resourceid" => self.resource_id(&args),
            "subscriptionresourceid" => {
                arity(name, &args, 2, usize::MAX)?;
                let strs = all_strings(name, &args)?;
                let (sub, rest) =
                    if strs.len() >= 3 && !strs[0].contains('/') && strs[1].contains('/') {
                        (strs[0].to_string(), &strs[1..])
                    } else {
                        (self.subscription_id()?, &strs[..])
                    };
                let scope = ids::subscription_id(&sub);
                Ok(Value::String(format!(
                    "{scope}/providers/{}",
                    ids::provider_path(rest[0], &rest[1..]).map_err(|e| func_err(name, e))?
                )))
            }
            "tenantresourceid" => {
                arity(name, &args, 2, usize::MAX)?;
                let strs = all_strings(name, &args)?;
                Ok(Value::String(format!(
                    "/providers/{}",
                    ids::provider_path(strs[0], &strs[1..]).map_err(|e| func_err(name, e))?
                )))
            }
            "extensionresourceid" => {
                arity(name, &args, 3, usize::MAX)?;
                let strs = all_strings(name, &args)?;
                Ok(Value::String(format!(
                    "{}/providers/{}",
                    strs[0].trim_end_matches('/'),
                    ids::provider_path(strs[1], &strs[2..]).map_err(|e| func_err(name, e))?
                )))
            }
            "reference" => {
                arity(name, &args, 1, 3)?;
                self.not_in_variable(name)?;
                let target = string_arg(name, &args, 0)?;
                let api = match args.get(1) {
                    None | Some(Value::Null) => None,
                    Some(_) => Some(string_arg(name, &args, 1)?),
                };
                let full = match args.get(2) {
                    None => false,
                    Some(_) => string_arg(name, &args, 2)?.eq_ignore_ascii_case("full"),
                };
                let id = self.resolve_name(target);
                self.ctx.reference(&id, api, full)
            }
            f if f.starts_with("list") && !matches!(f, "listaccountsas") => {
                arity(name, &args, 2, 3)?;
                self.not_in_variable(name)?;
                let target = string_arg(name, &args, 0)?;
                let api = string_arg(name, &args, 1)?;
                let id = self.resolve_name(target);
                self.ctx.list(name, &id, api, args.get(2))
            }
            "utcnow" => {
                arity(name, &args, 0, 1)?;
                let now = self.ctx.utc_now().ok_or_else(|| {
                    Error::func("utcNow", "may only be used in a parameter's defaultValue")
                })?;
                let fmt = match args.first() {
                    None => "yyyyMMddTHHmmssZ",
                    Some(_) => string_arg(name, &args, 0)?,
                };
                utc_format(now, fmt)
            }
            // ---- strings ----
            "concat" => {
                if args.is_empty() {
                    return Ok(Value::String(String::new()));
                }
                if args.iter().all(|a| a.is_array() || a.is_null())
                    && args.iter().any(Value::is_array)
                {
                    let mut out = Vec::new();
                    for a in &args {
                        if let Value::Array(items) = a {
                            out.extend(items.iter().cloned());
                        }
                    }
                    return Ok(Value::Array(out));
                }
                if let Some(a) = args.iter().find(|a| a.is_array() || a.is_object()) {
                    return Err(Error::func(
                        "concat",
                        format!(
                            "cannot mix {} with strings; give all arrays or all strings",
                            type_name(a)
                        ),
                    ));
                }
                Ok(Value::String(args.iter().map(to_text).collect()))
            }
            "format" => {
                arity(name, &args, 1, usize::MAX)?;
                Ok(Value::String(format_net(
                    string_arg(name, &args, 0)?,
                    &args[1..],
                )?))
            }
            "tolower" => {
                arity(name, &args, 1, 1)?;
                Ok(Value::String(string_arg(name, &args, 0)?.to_lowercase()))
            }
            "toupper" => {
                arity(name, &args, 1, 1)?;
                Ok(Value::String(string_arg(name, &args, 0)?.to_uppercase()))
            }
            "trim" => {
                arity(name, &args, 1, 1)?;
                Ok(Value::String(
                    string_arg(name, &args, 0)?.trim().to_string(),
                ))
            }
            "replace" => {
                arity(name, &args, 3, 3)?;
                let s = string_arg(name, &args, 0)?;
                let old = string_arg(name, &args, 1)?;
                if old.is_empty() {
                    return Err(Error::func(
                        "replace",
                        "the string to replace must not be empty",
                    ));
                }
                Ok(Value::String(s.replace(old, string_arg(name, &args, 2)?)))
            }
            "substring" => {
                arity(name, &args, 2, 3)?;
                let s = string_arg(name, &args, 0)?;
                let len_chars = s.chars().count() as i64;
                let start = int_arg(name, &args, 1)?;
                let len = if args.len() == 3 {
                    int_arg(name, &args, 2)?
                } else {
                    len_chars - start
                };
                if start < 0
                    || len < 0
                    || start > len_chars
                    || start.saturating_add(len) > len_chars
                {
                    return Err(Error::func(
                        "substring",
                        format!(
                            "start {start} and length {len} must lie within the string '{s}' (length {len_chars})"
                        ),
                    ));
                }
                Ok(Value::String(char_slice(s, start as usize, len as usize)))
            }
            "split" => {
                arity(name, &args, 2, 2)?;
                let s = string_arg(name, &args, 0)?;
                let seps: Vec<String> = match &args[1] {
                    Value::String(d) => vec![d.clone()],
                    Value::Array(ds) => ds
                        .iter()
                        .map(|d| d.as_str().map(str::to_string))
                        .collect::<Option<_>>()
                        .ok_or_else(|| Error::func("split", "delimiters must be strings"))?,
                    v => {
                        return Err(Error::func(
                            "split",
                            format!("argument 2 must be a string or array, not {}", type_name(v)),
                        ))
                    }
                };
                if seps.iter().any(String::is_empty) {
                    return Err(Error::func("split", "a delimiter must not be empty"));
                }
                let mut parts = vec![s.to_string()];
                for sep in &seps {
                    parts = parts
                        .iter()
                        .flat_map(|p| {
                            p.split(sep.as_str())
                                .map(str::to_string)
                                .collect::<Vec<_>>()
                        })
                        .collect();
                }
                Ok(Value::Array(parts.into_iter().map(Value::String).collect()))
            }
            "join" => {
                arity(name, &args, 2, 2)?;
                let Value::Array(items) = &args[0] else {
                    return Err(Error::func(
                        "join",
                        format!("argument 1 must be an array, not {}", type_name(&args[0])),
                    ));
                };
                let sep = string_arg(name, &args, 1)?;
                if let Some(bad) = items.iter().find(|i| i.is_array() || i.is_object()) {
                    return Err(Error::func(
                        "join",
                        format!("cannot join {} values", type_name(bad)),
                    ));
                }
                Ok(Value::String(
                    items.iter().map(to_text).collect::<Vec<_>>().join(sep),
                ))
            }
            "startswith" | "endswith" => {
                arity(name, &args, 2, 2)?;
                let s = string_arg(name, &args, 0)?.to_lowercase();
                let t = string_arg(name, &args, 1)?.to_lowercase();
                Ok(Value::Bool(if f == "startswith" {
                    s.starts_with(&t)
                } else {
                    s.ends_with(&t)
                }))
            }
            "indexof" | "lastindexof" => {
                arity(name, &args, 2, 2)?;
                // Arrays: exact (case-sensitive) match of any value.
                if let Value::Array(items) = &args[0] {
                    let found = if f == "indexof" {
                        items.iter().position(|i| *i == args[1])
                    } else {
                        items.iter().rposition(|i| *i == args[1])
                    };
                    return Ok(Value::from(found.map_or(-1, |i| i as i64)));
                }
                let s = string_arg(name, &args, 0)?.to_lowercase();
                let t = string_arg(name, &args, 1)?.to_lowercase();
                let found = if f == "indexof" {
                    s.find(&t)
                } else {
                    s.rfind(&t)
                };
                Ok(Value::from(
                    found.map_or(-1, |b| s[..b].chars().count() as i64),
                ))
            }
            "padleft" => {
                arity(name, &args, 2, 3)?;
                let s = to_text(&args[0]);
                let width = int_arg(name, &args, 1)?;
                let pad = match args.get(2) {
                    None => ' ',
                    Some(_) => {
                        let p = string_arg(name, &args, 2)?;
                        let mut cs = p.chars();
                        match (cs.next(), cs.next()) {
                            (Some(c), None) => c,
                            _ => {
                                return Err(Error::func(
                                    "padLeft",
                                    "the padding must be exactly one character",
                                ))
                            }
                        }
                    }
                };
                if !(0..=MAX_TEXT).contains(&width) {
                    return Err(Error::func(
                        "padLeft",
                        format!("the length must be 0 to {MAX_TEXT}, got {width}"),
                    ));
                }
                let have = s.chars().count() as i64;
                let need = usize::try_from((width - have).max(0)).unwrap_or(0);
                Ok(Value::String(format!(
                    "{}{s}",
                    pad.to_string().repeat(need)
                )))
            }
            "string" => {
                arity(name, &args, 1, 1)?;
                Ok(Value::String(to_text(&args[0])))
            }
            "json" => {
                arity(name, &args, 1, 1)?;
                let s = string_arg(name, &args, 0)?;
                serde_json::from_str(s)
                    .map_err(|e| Error::func("json", format!("not valid JSON: {e}")))
            }
            "base64" => {
                arity(name, &args, 1, 1)?;
                Ok(Value::String(
                    base64::engine::general_purpose::STANDARD.encode(string_arg(name, &args, 0)?),
                ))
            }
            "base64tostring" | "base64tojson" => {
                arity(name, &args, 1, 1)?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(string_arg(name, &args, 0)?)
                    .map_err(|e| Error::func(name, format!("not valid base64: {e}")))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| Error::func(name, "the decoded bytes are not UTF-8"))?;
                if f == "base64tojson" {
                    serde_json::from_str(&text)
                        .map_err(|e| Error::func(name, format!("not valid JSON: {e}")))
                } else {
                    Ok(Value::String(text))
                }
            }
            "datauri" => {
                arity(name, &args, 1, 1)?;
                let s = to_text(&args[0]);
                Ok(Value::String(format!(
                    "data:text/plain;charset=utf8;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(s)
                )))
            }
            "datauritostring" => {
                arity(name, &args, 1, 1)?;
                let s = string_arg(name, &args, 0)?;
                let (meta, data) = s
                    .strip_prefix("data:")
                    .and_then(|r| r.split_once(','))
                    .ok_or_else(|| Error::func("dataUriToString", "not a data URI"))?;
                if !meta.ends_with(";base64") {
                    return Err(Error::func(
                        "dataUriToString",
                        "only base64 data URIs are supported",
                    ));
                }
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| {
                        Error::func("dataUriToString", format!("not valid base64: {e}"))
                    })?;
                String::from_utf8(bytes)
                    .map(Value::String)
                    .map_err(|_| Error::func("dataUriToString", "the data is not UTF-8"))
            }
            "uri" => {
                arity(name, &args, 2, 2)?;
                let base = string_arg(name, &args, 0)?;
                let rel = string_arg(name, &args, 1)?;
                let base = url::Url::parse(base).map_err(|e| {
                    Error::func("uri", format!("'{base}' is not an absolute URI: {e}"))
                })?;
                base.join(rel)
                    .map(|u| Value::String(u.to_string()))
                    .map_err(|e| Error::func("uri", format!("cannot join '{rel}': {e}")))
            }
            "uricomponent" => {
                arity(name, &args, 1, 1)?;
                Ok(Value::String(
                    percent_encoding::utf8_percent_encode(
                        string_arg(name, &args, 0)?,
                        URI_COMPONENT,
                    )
                    .to_string(),
                ))
            }
            "uricomponenttostring" => {
                arity(name, &args, 1, 1)?;
                percent_encoding::percent_decode_str(string_arg(name, &args, 0)?)
                    .decode_utf8()
                    .map(|s| Value::String(s.into_owned()))
                    .map_err(|_| {
                        Error::func("uriComponentToString", "the decoded bytes are not UTF-8")
                    })
            }
            "guid" => {
                arity(name, &args, 1, usize::MAX)?;
                Ok(Value::String(ids::guid(&all_strings(name, &args)?)))
            }
            "uniquestring" => {
                arity(name, &args, 1, usize::MAX)?;
                Ok(Value::String(ids::unique_string(&all_strings(
                    name, &args,
                )?)))
            }
            // ---- logic and comparison ----
            "true" => {
                arity(name, &args, 0, 0)?;
                Ok(Value::Bool(true))
            }
            "false" => {
                arity(name, &args, 0, 0)?;
                Ok(Value::Bool(false))
            }
            "null" => {
                arity(name, &args, 0, 0)?;
                Ok(Value::Null)
            }
            "not" => {
                arity(name, &args, 1, 1)?;
                Ok(Value::Bool(!bool_arg(name, &args, 0)?))
            }
            "bool" => {
                arity(name, &args, 1, 1)?;
                match &args[0] {
                    Value::Bool(b) => Ok(Value::Bool(*b)),
                    Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
                    Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
                    Value::Number(n) if n.as_i64() == Some(0) => Ok(Value::Bool(false)),
                    Value::Number(n) if n.as_i64() == Some(1) => Ok(Value::Bool(true)),
                    v => Err(Error::func("bool", format!("cannot convert {v} to a bool"))),
                }
            }
            "equals" => {
                arity(name, &args, 2, 2)?;
                Ok(Value::Bool(args[0] == args[1]))
            }
            "less" | "lessorequals" | "greater" | "greaterorequals" => {
                arity(name, &args, 2, 2)?;
                let ord = match (&args[0], &args[1]) {
                    (Value::Number(a), Value::Number(b)) => a.as_i64().cmp(&b.as_i64()),
                    (Value::String(a), Value::String(b)) => a.cmp(b),
                    (a, b) => {
                        return Err(Error::func(
                            name,
                            format!(
                                "can compare two ints or two strings, not {} and {}",
                                type_name(a),
                                type_name(b)
                            ),
                        ))
                    }
                };
                use std::cmp::Ordering::*;
                Ok(Value::Bool(match f {
                    "less" => ord == Less,
                    "lessorequals" => ord != Greater,
                    "greater" => ord == Greater,
                    _ => ord != Less,
                }))
            }
            "empty" => {
                arity(name, &args, 1, 1)?;
                Ok(Value::Bool(is_empty(&args[0])))
            }
            "coalesce" => {
                arity(name, &args, 1, usize::MAX)?;
                Ok(args
                    .into_iter()
                    .find(|a| !a.is_null())
                    .unwrap_or(Value::Null))
            }
            "contains" => {
                arity(name, &args, 2, 2)?;
                match (&args[0], &args[1]) {
                    (Value::String(s), v) => Ok(Value::Bool(s.contains(&to_text(v)))),
                    (Value::Array(items), v) => Ok(Value::Bool(items.contains(v))),
                    (Value::Object(map), Value::String(k)) => Ok(Value::Bool(
                        map.keys().any(|key| key.eq_ignore_ascii_case(k)),
                    )),
                    (c, v) => Err(Error::func(
                        "contains",
                        format!("cannot look for {} in {}", type_name(v), type_name(c)),
                    )),
                }
            }
            // ---- arrays and objects ----
            "length" => {
                arity(name, &args, 1, 1)?;
                match &args[0] {
                    Value::String(s) => Ok(Value::from(s.chars().count())),
                    Value::Array(a) => Ok(Value::from(a.len())),
                    Value::Object(o) => Ok(Value::from(o.len())),
                    v => Err(Error::func(
                        "length",
                        format!("takes a string, array or object, not {}", type_name(v)),
                    )),
                }
            }
            "createarray" => Ok(Value::Array(args)),
            "array" => {
                arity(name, &args, 1, 1)?;
                Ok(match args.into_iter().next() {
                    Some(Value::Array(a)) => Value::Array(a),
                    Some(v) => Value::Array(vec![v]),
                    None => Value::Array(Vec::new()),
                })
            }
            "createobject" => {
                if !args.len().is_multiple_of(2) {
                    return Err(Error::func(
                        "createObject",
                        "takes key/value pairs (an even number of arguments)",
                    ));
                }
                let mut map = Map::new();
                for pair in args.chunks(2) {
                    let Value::String(k) = &pair[0] else {
                        return Err(Error::func(
                            "createObject",
                            format!("keys must be strings, not {}", type_name(&pair[0])),
                        ));
                    };
                    map.insert(k.clone(), pair[1].clone());
                }
                Ok(Value::Object(map))
            }
            "union" => {
                arity(name, &args, 1, usize::MAX)?;
                if args.iter().all(Value::is_object) {
                    let mut out = Map::new();
                    for a in &args {
                        if let Value::Object(o) = a {
                            merge_objects(&mut out, o);
                        }
                    }
                    Ok(Value::Object(out))
                } else if args.iter().all(Value::is_array) {
                    let mut out: Vec<Value> = Vec::new();
                    for item in args.iter().filter_map(Value::as_array).flatten() {
                        if !out.contains(item) {
                            out.push(item.clone());
                        }
                    }
                    Ok(Value::Array(out))
                } else {
                    Err(Error::func("union", "takes all arrays or all objects"))
                }
            }
            "intersection" => {
                arity(name, &args, 2, usize::MAX)?;
                if args.iter().all(Value::is_object) {
                    let first = args[0].as_object().cloned().unwrap_or_default();
                    let out: Map<String, Value> = first
                        .into_iter()
                        .filter(|(k, v)| args[1..].iter().all(|o| o.get(k) == Some(v)))
                        .collect();
                    Ok(Value::Object(out))
                } else if args.iter().all(Value::is_array) {
                    let mut out: Vec<Value> = Vec::new();
                    for item in args[0].as_array().into_iter().flatten() {
                        if args[1..]
                            .iter()
                            .all(|a| a.as_array().is_some_and(|a| a.contains(item)))
                            && !out.contains(item)
                        {
                            out.push(item.clone());
                        }
                    }
                    Ok(Value::Array(out))
                } else {
                    Err(Error::func(
                        "intersection",
                        "takes all arrays or all objects",
                    ))
                }
            }
            "items" => {
                arity(name, &args, 1, 1)?;
                let Value::Object(map) = &args[0] else {
                    return Err(Error::func(
                        "items",
                        format!("takes an object, not {}", type_name(&args[0])),
                    ));
                };
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_by_key(|k| k.to_ascii_lowercase());
                Ok(Value::Array(
                    keys.into_iter()
                        .map(|k| serde_json::json!({"key": k, "value": map[k]}))
                        .collect(),
                ))
            }
            "first" | "last" => {
                arity(name, &args, 1, 1)?;
                match &args[0] {
                    Value::Array(a) => Ok((if f == "first" { a.first() } else { a.last() })
                        .cloned()
                        .unwrap_or(Value::Null)),
                    Value::String(s) => Ok(Value::String(
                        (if f == "first" {
                            s.chars().next()
                        } else {
                            s.chars().last()
                        })
                        .map(String::from)
                        .unwrap_or_default(),
                    )),
                    v => Err(Error::func(
                        name,
                        format!("takes an array or string, not {}", type_name(v)),
                    )),
                }
            }
            "take" | "skip" => {
                arity(name, &args, 2, 2)?;
                let n = usize::try_from(int_arg(name, &args, 1)?.max(0)).unwrap_or(0);
                match &args[0] {
                    Value::Array(a) => Ok(Value::Array(if f == "take" {
                        a.iter().take(n).cloned().collect()
                    } else {
                        a.iter().skip(n).cloned().collect()
                    })),
                    Value::String(s) => Ok(Value::String(if f == "take" {
                        s.chars().take(n).collect()
                    } else {
                        s.chars().skip(n).collect()
                    })),
                    v => Err(Error::func(
                        name,
                        format!("takes an array or string, not {}", type_name(v)),
                    )),
                }
            }
            "range" => {
                arity(name, &args, 2, 2)?;
                let start = int_arg(name, &args, 0)?;
                let count = int_arg(name, &args, 1)?;
                if !(0..=10_000).contains(&count) || start.checked_add(count).is_none() {
                    return Err(Error::func("range", format!("count must be 0 to 10000 and start+count fit an integer; got start {start}, count {count}")));
                }
                Ok(Value::Array(
                    (start..start + count).map(Value::from).collect(),
                ))
            }
            "min" | "max" => {
                arity(name, &args, 1, usize::MAX)?;
                let items: Vec<Value> = match args.as_slice() {
                    [Value::Array(a)] => a.clone(),
                    _ => args.clone(),
                };
                let ints = items
                    .iter()
                    .map(Value::as_i64)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| Error::func(name, "takes integers, or one array of integers"))?;
                let r = if f == "min" {
                    ints.iter().min()
                } else {
                    ints.iter().max()
                };
                r.map(|&i| Value::from(i))
                    .ok_or_else(|| Error::func(name, "the array is empty"))
            }
            "objectkeys" => {
                arity(name, &args, 1, 1)?;
                let Value::Object(map) = &args[0] else {
                    return Err(Error::func(
                        "objectKeys",
                        format!("takes an object, not {}", type_name(&args[0])),
                    ));
                };
                Ok(Value::Array(
                    map.keys().cloned().map(Value::String).collect(),
                ))
            }
            "shallowmerge" => {
                arity(name, &args, 1, 1)?;
                let Value::Array(items) = &args[0] else {
                    return Err(Error::func(
                        "shallowMerge",
                        format!("takes an array of objects, not {}", type_name(&args[0])),
                    ));
                };
                let mut out = Map::new();
                for item in items {
                    let Value::Object(o) = item else {
                        return Err(Error::func(
                            "shallowMerge",
                            format!("every element must be an object, not {}", type_name(item)),
                        ));
                    };
                    out.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                Ok(Value::Object(out))
            }
            "flatten" => {
                arity(name, &args, 1, 1)?;
                let Value::Array(items) = &args[0] else {
                    return Err(Error::func(
                        "flatten",
                        format!("takes an array of arrays, not {}", type_name(&args[0])),
                    ));
                };
                let mut out = Vec::new();
                for item in items {
                    let Value::Array(inner) = item else {
                        return Err(Error::func(
                            "flatten",
                            format!("every element must be an array, not {}", type_name(item)),
                        ));
                    };
                    out.extend(inner.iter().cloned());
                }
                Ok(Value::Array(out))
            }
            "indexfromend" => {
                arity(name, &args, 2, 2)?;
                let Value::Array(items) = &args[0] else {
                    return Err(Error::func(
                        "indexFromEnd",
                        format!("takes an array, not {}", type_name(&args[0])),
                    ));
                };
                let i = int_arg(name, &args, 1)?;
                usize::try_from(i)
                    .ok()
                    .filter(|&i| i >= 1 && i <= items.len())
                    .map(|i| items[items.len() - i].clone())
                    .ok_or_else(|| {
                        Error::func(
                            "indexFromEnd",
                            format!(
                                "index {i} must be 1 to {} (the array's length)",
                                items.len()
                            ),
                        )
                    })
            }
            "tryget" => {
                arity(name, &args, 2, usize::MAX)?;
                let mut cur = args[0].clone();
                for key in &args[1..] {
                    let next = match (&cur, key) {
                        (Value::Object(map), Value::String(k)) => map
                            .get(k)
                            .or_else(|| {
                                map.iter()
                                    .find(|(mk, _)| mk.eq_ignore_ascii_case(k))
                                    .map(|(_, v)| v)
                            })
                            .cloned(),
                        (Value::Array(items), Value::Number(n)) => n
                            .as_i64()
                            .and_then(|i| usize::try_from(i).ok())
                            .and_then(|i| items.get(i))
                            .cloned(),
                        (Value::Null, _) => None,
                        (c, k) => {
                            return Err(Error::func(
                                "tryGet",
                                format!("cannot look up {} in {}", type_name(k), type_name(c)),
                            ))
                        }
                    };
                    match next {
                        Some(v) => cur = v,
                        None => return Ok(Value::Null),
                    }
                }
                Ok(cur)
            }
            "parsecidr" => {
                arity(name, &args, 1, 1)?;
                let net = parse_net("parseCidr", string_arg(name, &args, 0)?)?;
                let (first, last) = usable(&net);
                let mut out = Map::new();
                out.insert("network".into(), Value::String(net.network().to_string()));
                out.insert("netmask".into(), Value::String(net.netmask().to_string()));
                if let ipnet::IpNet::V4(v4) = net {
                    out.insert(
                        "broadcast".into(),
                        Value::String(v4.broadcast().to_string()),
                    );
                }
                out.insert("firstUsable".into(), Value::String(first.to_string()));
                out.insert("lastUsable".into(), Value::String(last.to_string()));
                out.insert("cidr".into(), Value::from(net.prefix_len()));
                Ok(Value::Object(out))
            }
            "cidrsubnet" => {
                arity(name, &args, 3, 3)?;
                let net = parse_net("cidrSubnet", string_arg(name, &args, 0)?)?;
                let new_len = int_arg(name, &args, 1)?;
                let index = int_arg(name, &args, 2)?;
                let max = i64::from(net.max_prefix_len());
                if new_len < i64::from(net.prefix_len()) || new_len > max {
                    return Err(Error::func(
                        "cidrSubnet",
                        format!(
                            "the new prefix length must be {} to {max}, got {new_len}",
                            net.prefix_len()
                        ),
                    ));
                }
                let bits = u32::try_from(new_len - i64::from(net.prefix_len())).unwrap_or(0);
                let count = 1u128.checked_shl(bits).unwrap_or(u128::MAX);
                let idx = u128::try_from(index)
                    .ok()
                    .filter(|&i| i < count)
                    .ok_or_else(|| {
                        Error::func(
                            "cidrSubnet",
                            format!("subnet index {index} is out of range (0 to {})", count - 1),
                        )
                    })?;
                let host_bits =
                    u32::from(net.max_prefix_len()) - u32::try_from(new_len).unwrap_or(0);
                let offset = idx.checked_shl(host_bits).unwrap_or(0);
                let base = add_to_ip(net.network(), offset).ok_or_else(|| {
                    Error::func("cidrSubnet", "the subnet is outside the address space")
                })?;
                Ok(Value::String(format!("{base}/{new_len}")))
            }
            "cidrhost" => {
                arity(name, &args, 2, 2)?;
                let net = parse_net("cidrHost", string_arg(name, &args, 0)?)?;
                let index = int_arg(name, &args, 1)?;
                let (first, last) = usable(&net);
                // Hosts count from the first address after the network address, for IPv6 too (ARM's
                // documented `cidrHost('fdad:3236:5555:3000::/52', 0)` is `...:3000::1`).
                let first = match net {
                    ipnet::IpNet::V6(v6) => add_to_ip(v6.network().into(), 1).unwrap_or(first),
                    ipnet::IpNet::V4(_) => first,
                };
                let host = u128::try_from(index)
                    .ok()
                    .and_then(|i| add_to_ip(first, i))
                    .filter(|h| ip_value(*h) <= ip_value(last))
                    .ok_or_else(|| {
                        Error::func(
                            "cidrHost",
                            format!(
                                "host index {index} is outside the usable range {first} to {last}"
                            ),
                        )
                    })?;
                Ok(Value::String(host.to_string()))
            }
            "datetimefromepoch" => {
                arity(name, &args, 1, 1)?;
                let secs = int_arg(name, &args, 0)?;
                let t = time::OffsetDateTime::from_unix_timestamp(secs).map_err(|_| {
                    Error::func(
                        "dateTimeFromEpoch",
                        format!("{secs} is outside the supported range"),
                    )
                })?;
                let text = t
                    .format(&time::format_description::well_known::Rfc3339)
                    .map_err(|e| Error::func("dateTimeFromEpoch", e.to_string()))?;
                Ok(Value::String(text))
            }
            "datetimetoepoch" => {
                arity(name, &args, 1, 1)?;
                let text = string_arg(name, &args, 0)?;
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map(|t| Value::from(t.unix_timestamp()))
                    .map_err(|_| {
                        Error::func(
                            "dateTimeToEpoch",
                            format!("'{text}' is not an ISO 8601 date and time like '2023-05-02T15:16:13Z'"),
                        )
                    })
            }
            // ---- numbers ----
            "int" => {
                arity(name, &args, 1, 1)?;
                match &args[0] {
                    Value::Number(n) if n.is_i64() => Ok(args[0].clone()),
                    Value::String(s) => s
                        .trim()
                        .parse::<i64>()
                        .map(Value::from)
                        .map_err(|_| Error::func("int", format!("'{s}' is not an integer"))),
                    v => Err(Error::func(
                        "int",
                        format!("cannot convert {} {v} to an integer", type_name(v)),
                    )),
                }
            }
            "add" | "sub" | "mul" | "div" | "mod" => {
                arity(name, &args, 2, 2)?;
                let a = int_arg(name, &args, 0)?;
                let b = int_arg(name, &args, 1)?;
                checked(
                    name,
                    match f {
                        "add" => a.checked_add(b),
                        "sub" => a.checked_sub(b),
                        "mul" => a.checked_mul(b),
                        "div" => a.checked_div(b),
                        _ => a.checked_rem(b),
                    },
                )
            }
            other => {
                if let Some((_, reason)) = REFUSED.iter().find(|(n, _)| *n == other) {
                    return Err(Error::UnknownFunction {
                        name: name.to_string(),
                        reason: (*reason).to_string(),
                    });
                }
                let suggestion = SUPPORTED
                    .iter()
                    .map(|s| (strsim::levenshtein(s, other), *s))
                    .filter(|(d, _)| *d <= 2)
                    .min()
                    .map(|(_, s)| format!("; did you mean '{s}'?"))
                    .unwrap_or_default();
                Err(Error::UnknownFunction {
                    name: name.to_string(),
                    reason: format!("not an ARM template function{suggestion}"),
                })
            }
        }
    }

    /// ARM evaluates variables before any resource exists, so `reference()` and `list*()` may not be used in
    /// them (its rule, and the reason variables can be cached).
    fn not_in_variable(&self, function: &str) -> Result<(), Error> {
        match self.in_variable() {
            Some(var) => Err(Error::func(
                function,
                format!("cannot be used in variables (used in variable '{var}'); use it in the resource or output instead"),
            )),
            None => Ok(()),
        }
    }

    fn subscription_id(&self) -> Result<String, Error> {
        self.ctx
            .subscription_id()
            .ok_or_else(|| Error::template("the deployment context has no subscriptionId"))
    }

    /// A name declared in the template → its resource id; anything else as given.
    fn resolve_name(&self, target: &str) -> String {
        if target.starts_with('/') {
            return target.to_string();
        }
        self.names
            .and_then(|n| n.get(&target.to_ascii_lowercase()))
            .cloned()
            .unwrap_or_else(|| target.to_string())
    }

    /// `resourceId([subscriptionId], [resourceGroupName], resourceType, name1, name2, ...)`.
    fn resource_id(&self, args: &[Value]) -> Result<Value, Error> {
        arity("resourceId", args, 2, usize::MAX)?;
        let strs = all_strings("resourceId", args)?;
        // The type is the first argument with a '/': subscription ids and group names cannot contain one.
        let type_at = strs.iter().position(|s| s.contains('/')).ok_or_else(|| {
            Error::func(
                "resourceId",
                "no resource type (like 'Microsoft.Storage/storageAccounts') among the arguments",
            )
        })?;
        let (rtype, names) = (strs[type_at], &strs[type_at + 1..]);
        if names.is_empty() {
            return Err(Error::func(
                "resourceId",
                format!("type '{rtype}' needs at least one name"),
            ));
        }
        let rg_here = self.ctx.resource_group_name();
        let scope = match &strs[..type_at] {
            [] => match rg_here {
                Some(rg) => ids::resource_group_id(&self.subscription_id()?, &rg),
                None => ids::subscription_id(&self.subscription_id()?),
            },
            [rg] => ids::resource_group_id(&self.subscription_id()?, rg),
            [sub, rg] => ids::resource_group_id(sub, rg),
            _ => {
                return Err(Error::func(
                    "resourceId",
                    "at most a subscription id and a resource group may precede the type",
                ))
            }
        };
        let path = ids::provider_path(rtype, names).map_err(|e| func_err("resourceId", e))?;
        Ok(Value::String(format!("{scope}/providers/{path}")))
    }
}

fn parse_net(function: &str, text: &str) -> Result<ipnet::IpNet, Error> {
    text.parse::<ipnet::IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| {
            Error::func(
                function,
                format!("'{text}' is not a CIDR range like '10.0.0.0/16'"),
            )
        })
}

fn ip_value(ip: std::net::IpAddr) -> u128 {
    match ip {
        std::net::IpAddr::V4(a) => u128::from(u32::from(a)),
        std::net::IpAddr::V6(a) => u128::from(a),
    }
}

fn add_to_ip(ip: std::net::IpAddr, n: u128) -> Option<std::net::IpAddr> {
    match ip {
        std::net::IpAddr::V4(a) => {
            let v = u128::from(u32::from(a)).checked_add(n)?;
            u32::try_from(v)
                .ok()
                .map(|v| std::net::IpAddr::V4(v.into()))
        }
        std::net::IpAddr::V6(a) => u128::from(a)
            .checked_add(n)
            .map(|v| std::net::IpAddr::V6(v.into())),
    }
}

/// The first and last usable addresses, as ARM's `parseCidr` gives them: IPv4 ranges lose the network and
/// broadcast addresses (except /31 and /32, which have none to spare); IPv6 ranges use every address.
fn usable(net: &ipnet::IpNet) -> (std::net::IpAddr, std::net::IpAddr) {
    match net {
        ipnet::IpNet::V4(v4) if v4.prefix_len() < 31 => (
            std::net::IpAddr::V4((u32::from(v4.network()) + 1).into()),
            std::net::IpAddr::V4((u32::from(v4.broadcast()) - 1).into()),
        ),
        ipnet::IpNet::V4(v4) => (v4.network().into(), v4.broadcast().into()),
        ipnet::IpNet::V6(v6) => (v6.network().into(), v6.broadcast().into()),
    }
}

fn func_err(f: &str, e: Error) -> Error {
    match e {
        Error::Template { message } => Error::func(f, message),
        e => e,
    }
}

fn all_strings<'v>(f: &str, args: &'v [Value]) -> Result<Vec<&'v str>, Error> {
    (0..args.len()).map(|i| string_arg(f, args, i)).collect()
}

/// `utcNow(format)` for the .NET formats templates use: the default `yyyyMMddTHHmmssZ`, the standard `u`, `s`
/// and `d` formats, and custom patterns of `yyyy yy MM M dd d HH H mm m ss s` (other letters are copied, as
/// .NET does). A .NET specifier trustprint does not write (`dddd`, `fff`, `tt`, `zzz`, ...) is an error.
fn utc_format(now: time::OffsetDateTime, fmt: &str) -> Result<Value, Error> {
    let pattern = match fmt {
        "u" => "yyyy-MM-dd HH:mm:ssZ",
        "s" => "yyyy-MM-ddTHH:mm:ss",
        "d" => "M/d/yyyy",
        other => other,
    };
    let unsupported = || Error::func("utcNow", format!("format '{fmt}' is not supported"));
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let value = match (c, run) {
            ('y', 4) => format!("{:04}", now.year()),
            ('y', 2) => format!("{:02}", now.year().rem_euclid(100)),
            ('M', 2) => format!("{:02}", u8::from(now.month())),
            ('M', 1) => u8::from(now.month()).to_string(),
            ('d', 2) => format!("{:02}", now.day()),
            ('d', 1) => now.day().to_string(),
            ('H', 2) => format!("{:02}", now.hour()),
            ('H', 1) => now.hour().to_string(),
            ('m', 2) => format!("{:02}", now.minute()),
            ('m', 1) => now.minute().to_string(),
            ('s', 2) => format!("{:02}", now.second()),
            ('s', 1) => now.second().to_string(),
            (c, _) if "dfFghHKmMsStyz".contains(c) => return Err(unsupported()),
            (c, n) => c.to_string().repeat(n),
        };
        out.push_str(&value);
        i += run;
    }
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::super::eval::{Context, Evaluator, Scope};
    use super::super::Error;
    use serde_json::{json, Map, Value};

    struct TestCtx;
    impl Context for TestCtx {
        fn subscription(&self) -> Value {
            json!({"id": "/subscriptions/sub-1", "subscriptionId": "sub-1", "tenantId": "ten-1", "displayName": "Dev"})
        }
        fn resource_group(&self) -> Option<Value> {
            Some(
                json!({"id": "/subscriptions/sub-1/resourceGroups/rg-1", "name": "rg-1", "location": "uksouth"}),
            )
        }
        fn deployment(&self) -> Value {
            json!({"name": "dep-1"})
        }
        fn tenant(&self) -> Value {
            json!({"tenantId": "ten-1"})
        }
        fn reference(&self, id: &str, api: Option<&str>, full: bool) -> Result<Value, Error> {
            Ok(json!({"id": id, "api": api, "full": full}))
        }
    }

    fn scope() -> Scope {
        let params: Map<String, Value> = serde_json::from_value(json!({
            "Name": "App-One", "count": 3, "tags": {"a": "1"}, "list": ["x", "y"]
        }))
        .unwrap();
        let vars: Map<String, Value> = serde_json::from_value(json!({
            "prefix": "[toLower(parameters('name'))]",
            "full": "[concat(variables('prefix'), '-', string(parameters('count')))]",
            "loopA": "[variables('loopB')]",
            "loopB": "[variables('loopA')]",
            "copy": [{"name": "disks", "count": 2, "input": {"lun": "[copyIndex('disks')]"}}]
        }))
        .unwrap();
        Scope::new(&params, &vars).unwrap()
    }

    fn eval(expr: &str) -> Result<Value, Error> {
        let s = scope();
        Evaluator::new(&TestCtx, &s).eval_str(expr)
    }

    fn ok(expr: &str) -> Value {
        eval(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    fn err(expr: &str) -> String {
        match eval(expr) {
            Ok(v) => panic!("{expr} gave {v}, expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parameters_and_variables() {
        assert_eq!(ok("[parameters('name')]"), "App-One");
        assert_eq!(ok("[variables('full')]"), "app-one-3");
        assert_eq!(ok("[variables('disks')]"), json!([{"lun": 0}, {"lun": 1}]));
        assert_eq!(
            err("[variables('loopA')]"),
            "variables.loopB: variable cycle: loopA -> loopB -> loopA"
        );
        assert_eq!(
            err("[parameters('nope')]"),
            "parameters(): the template has no parameter 'nope'"
        );
        assert_eq!(
            err("[variables('nope')]"),
            "the template has no variable 'nope'"
        );
    }

    #[test]
    fn literals_and_escapes() {
        assert_eq!(ok("plain"), "plain");
        assert_eq!(ok("[[notAnExpression()]"), "[notAnExpression()]");
        assert_eq!(ok("['it''s']"), "it's");
        assert_eq!(ok("[-5]"), -5);
        assert_eq!(ok("[true]"), true);
        assert_eq!(ok("[null()]"), Value::Null);
    }

    #[test]
    fn scope_functions() {
        assert_eq!(ok("[subscription().subscriptionId]"), "sub-1");
        assert_eq!(ok("[resourceGroup().location]"), "uksouth");
        assert_eq!(ok("[deployment().name]"), "dep-1");
        assert_eq!(ok("[tenant().tenantId]"), "ten-1");
        assert_eq!(ok("[environment().suffixes.storage]"), "core.windows.net");
        assert_eq!(ok("[reference('/x', '2020-01-01', 'Full').full]"), true);
        assert_eq!(ok("[reference('/x').api]"), Value::Null);
    }

    #[test]
    fn resource_ids_in_every_form() {
        assert_eq!(
            ok("[resourceId('Microsoft.Storage/storageAccounts', 'st1')]"),
            "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Storage/storageAccounts/st1"
        );
        assert_eq!(
            ok("[resourceId('rg-2', 'Microsoft.Network/virtualNetworks/subnets', 'v', 's')]"),
            "/subscriptions/sub-1/resourceGroups/rg-2/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
        );
        assert_eq!(
            ok("[resourceId('sub-9', 'rg-2', 'Microsoft.Web/sites', 'w')]"),
            "/subscriptions/sub-9/resourceGroups/rg-2/providers/Microsoft.Web/sites/w"
        );
        assert_eq!(
            ok("[subscriptionResourceId('Microsoft.Resources/resourceGroups', 'rg-2')]"),
            "/subscriptions/sub-1/providers/Microsoft.Resources/resourceGroups/rg-2"
        );
        assert_eq!(
            ok("[subscriptionResourceId('sub-9', 'Microsoft.Authorization/roleDefinitions', 'r')]"),
            "/subscriptions/sub-9/providers/Microsoft.Authorization/roleDefinitions/r"
        );
        assert_eq!(
            ok("[tenantResourceId('Microsoft.Management/managementGroups', 'mg')]"),
            "/providers/Microsoft.Management/managementGroups/mg"
        );
        assert_eq!(
            ok("[extensionResourceId('/subscriptions/s/resourceGroups/r', 'Microsoft.Authorization/locks', 'l')]"),
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Authorization/locks/l"
        );
        assert_eq!(
            err("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'v')]"),
            "resourceId(): resource type 'Microsoft.Network/virtualNetworks/subnets' needs 2 name segment(s), got 1 ('v')"
        );
        assert_eq!(
            err("[resourceId('a', 'b')]"),
            "resourceId(): no resource type (like 'Microsoft.Storage/storageAccounts') among the arguments"
        );
    }

    #[test]
    fn strings() {
        assert_eq!(ok("[concat('a', 1, true, 'b')]"), "a1Trueb");
        assert_eq!(
            ok("[concat(createArray(1), createArray(2, 3))]"),
            json!([1, 2, 3])
        );
        assert_eq!(
            err("[concat('a', createArray(1))]"),
            "concat(): cannot mix array with strings; give all arrays or all strings"
        );
        assert_eq!(ok("[format('{0}-{1:D3}-{{x}}', 'vm', 7)]"), "vm-007-{x}");
        assert_eq!(ok("[format('{0,4}|{0,-4}|', 'ab')]"), "  ab|ab  |");
        assert_eq!(ok("[format('{0:N}', 1234567)]"), "1,234,567");
        assert_eq!(
            err("[format('{0:é2}', 1)]"),
            "format(): format specifier 'é2' is not supported for 1"
        );
        assert_eq!(
            err("[format('{0,999999999}', 1)]"),
            "format(): alignment 999999999 is wider than 131072"
        );
        assert_eq!(
            err("[padLeft('x', 9223372036854775807)]"),
            "padLeft(): the length must be 0 to 131072, got 9223372036854775807"
        );
        assert_eq!(
            err("[format('{1}', 'a')]"),
            "format(): placeholder {1} but only 1 argument(s) given"
        );
        assert_eq!(ok("[toLower('AbC')]"), "abc");
        assert_eq!(ok("[toUpper('AbC')]"), "ABC");
        assert_eq!(ok("[trim('  x ')]"), "x");
        assert_eq!(ok("[replace('a-b-c', '-', '')]"), "abc");
        assert_eq!(ok("[substring('hello', 1, 3)]"), "ell");
        assert_eq!(ok("[substring('hello', 2)]"), "llo");
        assert_eq!(
            err("[substring('abc', 1, 5)]"),
            "substring(): start 1 and length 5 must lie within the string 'abc' (length 3)"
        );
        assert!(err("[substring('abc', -1, 1)]").starts_with("substring(): start -1"));
        assert!(
            err("[substring('abc', 1, 9223372036854775807)]").starts_with("substring(): start 1")
        );
        assert_eq!(
            ok("[split('a,b;c', createArray(',', ';'))]"),
            json!(["a", "b", "c"])
        );
        assert_eq!(ok("[join(createArray('a', 'b'), '/')]"), "a/b");
        assert_eq!(ok("[startsWith('Hello', 'he')]"), true);
        assert_eq!(ok("[endsWith('Hello', 'LO')]"), true);
        assert_eq!(ok("[indexOf('abcabc', 'C')]"), 2);
        assert_eq!(ok("[lastIndexOf('abcabc', 'c')]"), 5);
        assert_eq!(ok("[indexOf('abc', 'z')]"), -1);
        assert_eq!(ok("[indexOf(createArray('a', 'B', 'b'), 'b')]"), 2);
        assert_eq!(ok("[lastIndexOf(createArray(1, 2, 1), 1)]"), 2);
        assert_eq!(
            ok("[indexOf(createArray(createArray(1)), createArray(1))]"),
            0
        );
        assert_eq!(ok("[padLeft('7', 3, '0')]"), "007");
        assert_eq!(ok("[padLeft(12, 1, '0')]"), "12");
        assert_eq!(ok("[string(parameters('tags'))]"), r#"{"a":"1"}"#);
        assert_eq!(ok("[string(5)]"), "5");
        assert_eq!(ok("[json('{\"a\": [1]}').a[0]]"), 1);
        assert!(err("[json('{')]").starts_with("json(): not valid JSON"));
        assert_eq!(ok("[base64('hello')]"), "aGVsbG8=");
        assert_eq!(ok("[base64ToString('aGVsbG8=')]"), "hello");
        assert_eq!(ok("[base64ToJson('eyJhIjoxfQ==').a]"), 1);
        assert_eq!(
            ok("[dataUri('Hello')]"),
            "data:text/plain;charset=utf8;base64,SGVsbG8="
        );
        assert_eq!(ok("[dataUriToString('data:;base64,SGVsbG8=')]"), "Hello");
        assert_eq!(
            ok("[uri('https://a.example/x/y', 'z?q=1')]"),
            "https://a.example/x/z?q=1"
        );
        assert_eq!(ok("[uriComponent('a b/c~')]"), "a%20b%2Fc~");
        assert_eq!(ok("[uriComponentToString('a%20b')]"), "a b");
        assert_eq!(ok("[length('héllo')]"), 5);
        assert_eq!(ok("[first('abc')]"), "a");
        assert_eq!(ok("[last('abc')]"), "c");
        assert_eq!(ok("[take('abc', 2)]"), "ab");
        assert_eq!(ok("[skip('abc', 2)]"), "c");
    }

    #[test]
    fn guid_and_unique_string() {
        assert_eq!(
            ok("[guid('a', 'b', 'c')]"),
            "a98fa280-e03f-5afa-8d8e-92d0a9c201e8"
        );
        assert_eq!(
            ok("[uniqueString(resourceGroup().id)]"),
            json!(super::super::ids::unique_string(&[
                "/subscriptions/sub-1/resourceGroups/rg-1"
            ]))
        );
        assert_eq!(
            err("[guid(1)]"),
            "guid(): argument 1 must be a string, not int"
        );
        assert_eq!(
            err("[uniqueString()]"),
            "uniqueString(): takes at least 1 argument(s), got 0"
        );
    }

    #[test]
    fn logic_and_comparison() {
        assert_eq!(ok("[if(equals(1, 1), 'yes', fail())]"), "yes");
        assert_eq!(ok("[if(false, fail(), 'no')]"), "no");
        assert_eq!(
            err("[if('x', 1, 2)]"),
            "if(): the condition must be a bool, not string"
        );
        assert_eq!(ok("[and(true, not(false))]"), true);
        assert_eq!(ok("[or(false, true, fail())]"), true);
        assert_eq!(
            ok("[equals(createArray(1, 'a'), createArray(1, 'a'))]"),
            true
        );
        assert_eq!(ok("[less(1, 2)]"), true);
        assert_eq!(ok("[greaterOrEquals('b', 'a')]"), true);
        assert_eq!(ok("[lessOrEquals(2, 2)]"), true);
        assert_eq!(ok("[greater(1, 2)]"), false);
        assert_eq!(
            err("[less(1, 'a')]"),
            "less(): can compare two ints or two strings, not int and string"
        );
        assert_eq!(ok("[empty('')]"), true);
        assert_eq!(ok("[empty(createObject())]"), true);
        assert_eq!(ok("[empty(parameters('list'))]"), false);
        assert_eq!(ok("[contains('abc', 'b')]"), true);
        assert_eq!(ok("[contains(parameters('list'), 'y')]"), true);
        assert_eq!(ok("[contains(parameters('tags'), 'A')]"), true);
        assert_eq!(ok("[coalesce(null(), null(), 'x')]"), "x");
        assert_eq!(ok("[bool('TRUE')]"), true);
        assert_eq!(ok("[bool(0)]"), false);
        assert_eq!(
            err("[bool('yes')]"),
            "bool(): cannot convert \"yes\" to a bool"
        );
    }

    #[test]
    fn arrays_and_objects() {
        assert_eq!(ok("[length(parameters('list'))]"), 2);
        assert_eq!(ok("[length(parameters('tags'))]"), 1);
        assert_eq!(
            ok("[createObject('a', 1, 'b', createArray())]"),
            json!({"a": 1, "b": []})
        );
        assert_eq!(
            err("[createObject('a')]"),
            "createObject(): takes key/value pairs (an even number of arguments)"
        );
        assert_eq!(
            ok("[union(createObject('a', createObject('x', 1)), createObject('a', createObject('y', 2)))]"),
            json!({"a": {"x": 1, "y": 2}})
        );
        assert_eq!(
            ok("[union(createArray(1, 2), createArray(2, 3))]"),
            json!([1, 2, 3])
        );
        assert_eq!(
            ok("[intersection(createArray(1, 2, 3), createArray(3, 2))]"),
            json!([2, 3])
        );
        assert_eq!(
            ok("[intersection(createObject('a', 1, 'b', 2), createObject('a', 1, 'b', 3))]"),
            json!({"a": 1})
        );
        assert_eq!(
            ok("[items(createObject('b', 2, 'a', 1))]"),
            json!([{"key": "a", "value": 1}, {"key": "b", "value": 2}])
        );
        assert_eq!(ok("[first(parameters('list'))]"), "x");
        assert_eq!(ok("[last(parameters('list'))]"), "y");
        assert_eq!(ok("[take(parameters('list'), 5)]"), json!(["x", "y"]));
        assert_eq!(ok("[skip(parameters('list'), 1)]"), json!(["y"]));
        assert_eq!(ok("[range(5, 3)]"), json!([5, 6, 7]));
        assert_eq!(ok("[min(3, 1, 2)]"), 1);
        assert_eq!(ok("[max(createArray(3, 9, 2))]"), 9);
        assert_eq!(ok("[array('a')]"), json!(["a"]));
        assert_eq!(ok("[parameters('tags').A]"), "1");
        assert_eq!(ok("[parameters('tags')['a']]"), "1");
        assert_eq!(ok("[parameters('list')[1]]"), "y");
        assert_eq!(
            err("[parameters('list')[2]]"),
            "index 2 is out of range for an array of length 2"
        );
        assert_eq!(
            err("[parameters('tags').b]"),
            "the object has no property 'b' (it has: a)"
        );
        assert_eq!(
            err("[parameters('name').b]"),
            "cannot read property 'b' of string value"
        );
    }

    #[test]
    fn reference_is_refused_in_variables() {
        let vars: Map<String, Value> = serde_json::from_value(
            json!({"r": "[reference('/x').id]", "k": "[listKeys('/x', '1').keys]"}),
        )
        .unwrap();
        let s = Scope::new(&Map::new(), &vars).unwrap();
        let ev = Evaluator::new(&TestCtx, &s);
        assert_eq!(
            ev.eval_str("[variables('r')]").unwrap_err().to_string(),
            "variables.r: reference(): cannot be used in variables (used in variable 'r'); use it in the resource or \
             output instead"
        );
        assert!(ev
            .eval_str("[variables('k')]")
            .unwrap_err()
            .to_string()
            .contains("listKeys(): cannot be used in variables"));
    }

    #[test]
    fn utc_now_formats_the_deployment_time() {
        struct At;
        impl Context for At {
            fn subscription(&self) -> Value {
                json!({})
            }
            fn resource_group(&self) -> Option<Value> {
                None
            }
            fn deployment(&self) -> Value {
                json!({})
            }
            fn tenant(&self) -> Value {
                json!({})
            }
            fn reference(&self, _: &str, _: Option<&str>, _: bool) -> Result<Value, Error> {
                Ok(Value::Null)
            }
            fn utc_now(&self) -> Option<time::OffsetDateTime> {
                Some(time::macros::datetime!(2026-03-04 05:06:07 UTC))
            }
        }
        let s = Scope::default();
        let ev = Evaluator::new(&At, &s);
        assert_eq!(ev.eval_str("[utcNow()]").unwrap(), "20260304T050607Z");
        assert_eq!(
            ev.eval_str("[utcNow('u')]").unwrap(),
            "2026-03-04 05:06:07Z"
        );
        assert_eq!(ev.eval_str("[utcNow('d')]").unwrap(), "3/4/2026");
        assert_eq!(ev.eval_str("[utcNow('yyyy-MM-dd')]").unwrap(), "2026-03-04");
        assert_eq!(
            ev.eval_str("[utcNow('dddd')]").unwrap_err().to_string(),
            "utcNow(): format 'dddd' is not supported"
        );
    }

    #[test]
    fn deep_but_allowed_nesting_evaluates() {
        let deep = format!("[{}'x'{}]", "concat(".repeat(60), ")".repeat(60));
        assert_eq!(ok(&deep), "x");
        let deeper = format!("[{}'x'{}]", "concat(".repeat(100), ")".repeat(100));
        assert!(err(&deeper).contains("nested more than 64 levels deep"));
    }

    #[test]
    fn newer_collection_functions() {
        assert_eq!(
            ok("[objectKeys(createObject('b', 1, 'a', 2))]"),
            json!(["b", "a"])
        );
        assert_eq!(
            ok("[shallowMerge(createArray(createObject('a', createObject('x', 1)), createObject('a', createObject('y', 2))))]"),
            json!({"a": {"y": 2}})
        );
        assert_eq!(
            ok("[flatten(createArray(createArray(1, 2), createArray(), createArray(3)))]"),
            json!([1, 2, 3])
        );
        assert_eq!(
            err("[flatten(createArray(1))]"),
            "flatten(): every element must be an array, not int"
        );
        assert_eq!(ok("[indexFromEnd(parameters('list'), 1)]"), "y");
        assert_eq!(
            err("[indexFromEnd(parameters('list'), 3)]"),
            "indexFromEnd(): index 3 must be 1 to 2 (the array's length)"
        );
        assert_eq!(ok("[tryGet(parameters('tags'), 'a')]"), "1");
        assert_eq!(ok("[tryGet(parameters('tags'), 'missing')]"), Value::Null);
        assert_eq!(ok("[tryGet(parameters('list'), 5)]"), Value::Null);
        assert_eq!(ok("[tryGet(createObject('a', createArray(7)), 'a', 0)]"), 7);
    }

    #[test]
    fn cidr_functions() {
        assert_eq!(
            ok("[parseCidr('10.144.0.0/20')]"),
            json!({"network": "10.144.0.0", "netmask": "255.255.240.0", "broadcast": "10.144.15.255",
                   "firstUsable": "10.144.0.1", "lastUsable": "10.144.15.254", "cidr": 20})
        );
        assert_eq!(
            ok("[parseCidr('fdad:3236:5555::/48')]"),
            json!({"network": "fdad:3236:5555::", "netmask": "ffff:ffff:ffff::",
                   "firstUsable": "fdad:3236:5555::", "lastUsable": "fdad:3236:5555:ffff:ffff:ffff:ffff:ffff", "cidr": 48})
        );
        assert_eq!(ok("[cidrSubnet('10.144.0.0/20', 24, 0)]"), "10.144.0.0/24");
        assert_eq!(
            ok("[cidrSubnet('10.144.0.0/20', 24, 15)]"),
            "10.144.15.0/24"
        );
        assert_eq!(
            err("[cidrSubnet('10.144.0.0/20', 24, 16)]"),
            "cidrSubnet(): subnet index 16 is out of range (0 to 15)"
        );
        assert_eq!(
            err("[cidrSubnet('10.144.0.0/20', 16, 0)]"),
            "cidrSubnet(): the new prefix length must be 20 to 32, got 16"
        );
        assert_eq!(
            ok("[cidrSubnet('fdad:3236:5555::/48', 52, 3)]"),
            "fdad:3236:5555:3000::/52"
        );
        assert_eq!(ok("[cidrHost('10.144.3.0/24', 0)]"), "10.144.3.1");
        assert_eq!(
            ok("[cidrHost('fdad:3236:5555:3000::/52', 4)]"),
            "fdad:3236:5555:3000::5"
        );
        assert_eq!(
            ok("[cidrSubnet('fdad:3236:5555::/48', 52, 1)]"),
            "fdad:3236:5555:1000::/52"
        );
        assert_eq!(ok("[cidrHost('10.144.3.0/24', 253)]"), "10.144.3.254");
        assert_eq!(
            err("[cidrHost('10.144.3.0/24', 254)]"),
            "cidrHost(): host index 254 is outside the usable range 10.144.3.1 to 10.144.3.254"
        );
        assert_eq!(
            err("[parseCidr('10.0.0.0')]"),
            "parseCidr(): '10.0.0.0' is not a CIDR range like '10.0.0.0/16'"
        );
    }

    #[test]
    fn epoch_conversions() {
        assert_eq!(
            ok("[dateTimeFromEpoch(1683040573)]"),
            "2023-05-02T15:16:13Z"
        );
        assert_eq!(ok("[dateTimeToEpoch('2023-05-02T15:16:13Z')]"), 1683040573);
        assert_eq!(
            err("[dateTimeToEpoch('yesterday')]"),
            "dateTimeToEpoch(): 'yesterday' is not an ISO 8601 date and time like '2023-05-02T15:16:13Z'"
        );
        assert!(err("[dateTimeAdd('2020-04-07T14:53:14Z', 'P3Y')]")
            .starts_with("unsupported function 'dateTimeAdd'"));
    }

    #[test]
    fn numbers() {
        assert_eq!(ok("[int('42')]"), 42);
        assert_eq!(ok("[int(7)]"), 7);
        assert_eq!(err("[int('4x')]"), "int(): '4x' is not an integer");
        assert_eq!(
            err("[int(createArray())]"),
            "int(): cannot convert array [] to an integer"
        );
        assert_eq!(ok("[add(2, 3)]"), 5);
        assert_eq!(ok("[sub(2, 3)]"), -1);
        assert_eq!(ok("[mul(4, 3)]"), 12);
        assert_eq!(ok("[div(7, 2)]"), 3);
        assert_eq!(ok("[mod(7, 2)]"), 1);
        assert_eq!(
            err("[div(1, 0)]"),
            "div(): integer overflow or division by zero"
        );
        assert_eq!(
            err("[add(9223372036854775807, 1)]"),
            "add(): integer overflow or division by zero"
        );
        assert_eq!(
            err("[add('1', 1)]"),
            "add(): argument 1 must be an integer, not string"
        );
    }

    #[test]
    fn copy_index_needs_a_loop() {
        assert_eq!(
            err("[copyIndex()]"),
            "copyIndex(): used outside a copy loop"
        );
        let s = scope();
        let ev = Evaluator::new(&TestCtx, &s).with_copy(vec![super::super::CopyFrame {
            name: "vms".into(),
            index: 2,
            primary: true,
        }]);
        assert_eq!(ev.eval_str("[copyIndex()]").unwrap(), 2);
        assert_eq!(ev.eval_str("[copyIndex(1)]").unwrap(), 3);
        assert_eq!(ev.eval_str("[copyIndex('VMS', 10)]").unwrap(), 12);
        assert_eq!(
            ev.eval_str("[copyIndex('other')]").unwrap_err().to_string(),
            "copyIndex(): no copy loop named 'other' is active here"
        );
    }

    #[test]
    fn unknown_and_refused_functions_are_named() {
        assert_eq!(
            err("[toLowr('A')]"),
            "unsupported function 'toLowr': not an ARM template function; did you mean 'tolower'?"
        );
        assert_eq!(
            err("[newGuid()]"),
            "unsupported function 'newGuid': a random guid would make the result non-deterministic"
        );
        assert_eq!(
            err("[filter(createArray(), 'x')]"),
            "unsupported function 'filter': lambda functions are not supported"
        );
        assert_eq!(
            err("[utcNow()]"),
            "utcNow(): may only be used in a parameter's defaultValue"
        );
        assert_eq!(
            err("[ns.f(1)]"),
            "unsupported function 'ns.f': no such user-defined function in the template's 'functions'"
        );
    }

    #[test]
    fn user_defined_functions() {
        let fns = json!([{"namespace": "tp", "members": {"name": {
            "parameters": [{"name": "kind", "type": "string"}, {"name": "ods", "type": "string"}],
            "output": {"type": "string", "value": "[toLower(format('{0}-{1}', parameters('kind'), parameters('ods')))]"}
        }}}]);
        let s = scope().with_functions(&fns).unwrap();
        let ev = Evaluator::new(&TestCtx, &s);
        assert_eq!(ev.eval_str("[tp.name('KV', 'RM3')]").unwrap(), "kv-rm3");
        assert_eq!(
            ev.eval_str("[tp.name('KV')]").unwrap_err().to_string(),
            "tp.name(): takes 2 argument(s), got 1"
        );
    }
}
