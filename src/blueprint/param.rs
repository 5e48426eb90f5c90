//! Checking one value against its declared parameter: the rules a values file, a fleet's defaults and the
//! manifest's own defaults and examples are held to (moved here from `values` so that opening a blueprint
//! need not reach up to the values stage; `values` walks the layers and calls [`check`] for each key).

use super::{ParamType, Parameter};
use crate::diag::Diagnostic;
use crate::types::{self, Cidr, Email, OdsCode, Region};
use crate::yaml::{self, Kind, Node, Span};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a secret parameter's value is supplied at apply time. Secrets never appear in values files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SecretRef {
    /// `{ env: NAME }`: read from the environment at apply time.
    Env(String),
    /// `{ keyVault: <vault resource id>, secretName: NAME, secretVersion?: V }`: an ARM Key Vault reference.
    KeyVault {
        vault_id: String,
        secret_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_version: Option<String>,
    },
}

/// A value after checking: a normalised JSON value or, for secrets, how the secret is supplied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Checked {
    Value(Value),
    Secret(SecretRef),
}

/// The file a layer comes from, for diagnostics.
pub(crate) struct Src<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
}

impl<'a> Src<'a> {
    pub(crate) fn new(file: &'a str, text: &'a str) -> Self {
        Src {
            file,
            lines: text.split('\n').collect(),
        }
    }

    pub(crate) fn line(&self, n: usize) -> &'a str {
        self.lines
            .get(n.wrapping_sub(1))
            .copied()
            .unwrap_or("")
            .trim_end_matches('\r')
    }

    pub(crate) fn diag(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(self.file, self.line(span.line), span, message)
    }

    /// A diagnostic whose source line has the value at `span` blotted out: the line may hold a secret.
    pub(crate) fn masked(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        let line = self.line(span.line);
        let keep: String = line.chars().take(span.column.saturating_sub(1)).collect();
        let mut d = Diagnostic::at(self.file, "", span, message);
        if span.line > 0 {
            d.source_line = format!("{keep}{REDACTED}");
            d.len = REDACTED.chars().count();
        }
        d
    }
}

pub(crate) const REDACTED: &str = "<redacted>";

/// A regex matching `pattern` in full, compiled once per process: values are checked per trust, often for a
/// whole fleet, and compiling dominated the cost of checking a list of addresses. `None` for an invalid pattern
/// (the manifest check reports those).
pub(crate) fn full_match(pattern: &str) -> Option<std::sync::Arc<regex::Regex>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Arc<regex::Regex>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Blueprints declare a handful of patterns; a bound keeps a long-running process from growing without end.
    if map.len() > 1024 {
        map.clear();
    }
    map.entry(pattern.to_string())
        .or_insert_with(|| {
            regex::Regex::new(&format!("^(?:{pattern})$"))
                .ok()
                .map(Arc::new)
        })
        .clone()
}

/// The candidate nearest to `word`, when it is near enough to be a likely typo.
pub(crate) fn nearest<'c>(
    word: &str,
    candidates: impl Iterator<Item = &'c str>,
) -> Option<&'c str> {
    let w = word.to_ascii_lowercase();
    candidates
        .map(|c| (strsim::damerau_levenshtein(&w, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| {
            let len = c.chars().count();
            // A one-letter name is "near" everything; only suggest when most of the word survives.
            (*d > 0 && *d <= (len / 3).max(1) && *d < len) || (*d == 0 && *c != word)
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// How a value is shown in a message: strings quoted (and cut short), other scalars as written.
pub(crate) fn shown(node: &Node) -> String {
    match &node.kind {
        Kind::Map(_) => "a map".into(),
        Kind::Seq(_) => "a list".into(),
        Kind::Scalar { text, quoted } => match yaml::scalar_value(text, *quoted) {
            Value::Null => "an empty value".into(),
            Value::String(s) => quote(&s),
            other => other.to_string(),
        },
    }
}

pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{}…", serde_json::Value::String(cut))
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

/// The article-and-noun name of a parameter type, for messages.
pub(crate) fn noun(p: &Parameter) -> &'static str {
    match p.ty {
        ParamType::String => "a string",
        ParamType::Integer => "an integer",
        ParamType::Number => "a number",
        ParamType::Boolean => "true or false",
        ParamType::Enum => "one of the choices",
        ParamType::List => "a list",
        ParamType::Object => "a map",
        ParamType::Cidr => "an IPv4 prefix",
        ParamType::Uuid => "a UUID",
        ParamType::Email => "an email address",
        ParamType::OdsCode => "an ODS code",
        ParamType::AzureRegion => "an Azure region",
        ParamType::Secret => "a secret reference",
    }
}

/// `12`, `1.5`: bounds without a needless `.0`.
pub(crate) fn num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

pub(crate) fn bounds(min: Option<f64>, max: Option<f64>, unit: &str) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("from {} to {}{unit}", num(a), num(b)),
        (Some(a), None) => format!("at least {}{unit}", num(a)),
        (None, Some(b)) => format!("at most {}{unit}", num(b)),
        (None, None) => String::new(),
    }
}

pub(crate) fn out_of(v: f64, min: Option<f64>, max: Option<f64>) -> bool {
    min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m)
}

pub(crate) fn choices_text(choices: &[Value]) -> String {
    choices
        .iter()
        .map(|c| match c {
            Value::String(s) => format!("`{s}`"),
            other => format!("`{other}`"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Check one value against its parameter. `key` names it in messages (`network.subnets[2]` for list items).
/// Every problem found is returned (lists report each bad item).
pub(crate) fn check(
    p: &Parameter,
    key: &str,
    node: &Node,
    src: &Src,
) -> Result<Checked, Vec<Diagnostic>> {
    let bad = |message: String, expected: String| -> Vec<Diagnostic> {
        vec![src.diag(node.span, message).key(key).expected(expected)]
    };
    let kind_err = |expected: &str| -> Vec<Diagnostic> {
        let mut d = src
            .diag(node.span, format!("{} is not {}", shown(node), noun(p)))
            .key(key)
            .expected(expected.to_string());
        if matches!(p.ty, ParamType::String) {
            if let Kind::Scalar {
                text,
                quoted: false,
            } = &node.kind
            {
                if !text.is_empty() {
                    d = d.suggest(format!("quote it to make it text: \"{text}\""));
                }
            }
        }
        vec![d]
    };
    let value = node.to_json();
    let string_of = |node: &Node| -> Option<String> {
        match (&node.kind, node.to_json()) {
            (_, Value::String(s)) => Some(s),
            // Unquoted digits are text where text is wanted (`cost_centre: 10293`).
            (Kind::Scalar { text, .. }, Value::Number(_)) => Some(text.clone()),
            _ => None,
        }
    };
    let checked = match p.ty {
        ParamType::String => {
            let Some(s) = string_of(node) else {
                return Err(kind_err("a string"));
            };
            let len = s.chars().count() as f64;
            if out_of(len, p.min, p.max) {
                return Err(bad(
                    format!("{} is {} characters long", quote(&s), num(len)),
                    format!("a string {}", bounds(p.min, p.max, " characters long")),
                ));
            }
            // Text values end up in names, tags, terminal lines and commit messages: a line break or an
            // escape sequence there would forge a line or drive the terminal.
            if let Some(c) = s.chars().find(|c| c.is_control()) {
                return Err(bad(
                    format!(
                        "{} holds the control character U+{:04X}",
                        quote(&s),
                        u32::from(c)
                    ),
                    "text without control characters (line breaks, tabs, escape sequences)".into(),
                ));
            }
            if let Some(pat) = &p.pattern {
                if let Some(re) = full_match(pat) {
                    if !re.is_match(&s) {
                        return Err(bad(
                            format!("{} does not match the pattern", quote(&s)),
                            format!("a string matching `{pat}`"),
                        ));
                    }
                }
            }
            Value::String(s)
        }
        ParamType::Integer => {
            let Some(i) = value.as_i64() else {
                return Err(kind_err(
                    format!("an integer {}", bounds(p.min, p.max, "")).trim_end(),
                ));
            };
            if out_of(i as f64, p.min, p.max) {
                return Err(bad(
                    format!("{i} is out of range"),
                    format!("an integer {}", bounds(p.min, p.max, "")),
                ));
            }
            Value::from(i)
        }
        ParamType::Number => {
            let Some(f) = value.as_f64() else {
                return Err(kind_err(
                    format!("a number {}", bounds(p.min, p.max, "")).trim_end(),
                ));
            };
            if out_of(f, p.min, p.max) {
                return Err(bad(
                    format!("{} is out of range", num(f)),
                    format!("a number {}", bounds(p.min, p.max, "")),
                ));
            }
            value
        }
        ParamType::Boolean => {
            if !value.is_boolean() {
                return Err(kind_err("true or false"));
            }
            value
        }
        ParamType::Enum => {
            let choices = p.choices.as_deref().unwrap_or_default();
            let matched = choices.iter().find(|c| {
                **c == value || string_of(node).is_some_and(|s| c.as_str() == Some(s.as_str()))
            });
            match matched {
                Some(c) => c.clone(),
                None => {
                    let mut d = src
                        .diag(
                            node.span,
                            format!("{} is not one of the choices", shown(node)),
                        )
                        .key(key)
                        .expected(format!("one of {}", choices_text(choices)));
                    if let Some(s) = string_of(node) {
                        let names: Vec<&str> = choices.iter().filter_map(Value::as_str).collect();
                        if let Some(n) = nearest(&s, names.into_iter()) {
                            d = d.suggest(format!("did you mean `{n}`?"));
                        }
                    }
                    return Err(vec![d]);
                }
            }
        }
        ParamType::List => {
            let Kind::Seq(items) = &node.kind else {
                return Err(kind_err("a list"));
            };
            let n = items.len() as f64;
            if out_of(n, p.min, p.max) {
                return Err(bad(
                    format!("the list has {} item(s)", items.len()),
                    format!("a list of {}", bounds(p.min, p.max, " item(s)")),
                ));
            }
            let mut out = Vec::new();
            let mut diags = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let item_key = format!("{key}[{i}]");
                match &p.items {
                    Some(item_p) => match check(item_p, &item_key, item, src) {
                        Ok(Checked::Value(v)) => out.push(v),
                        Ok(Checked::Secret(_)) => {}
                        Err(mut d) => diags.append(&mut d),
                    },
                    None => match plain(&item_key, item, src) {
                        Ok(v) => out.push(v),
                        Err(mut d) => diags.append(&mut d),
                    },
                }
            }
            if !diags.is_empty() {
                return Err(diags);
            }
            Value::Array(out)
        }
        ParamType::Object => {
            if !matches!(node.kind, Kind::Map(_)) {
                return Err(kind_err("a map of keys to values"));
            }
            plain(key, node, src)?
        }
        ParamType::Cidr => {
            let Some(s) = string_of(node) else {
                return Err(kind_err(&cidr_expected(p)));
            };
            match Cidr::parse_bounded(&s, p.min_prefix, p.max_prefix) {
                Ok(c) => Value::String(c.to_string()),
                Err(m) => return Err(bad(m, cidr_expected(p))),
            }
        }
        ParamType::Uuid => {
            let Some(s) = string_of(node) else {
                return Err(kind_err(types::UUID_EXPECTED));
            };
            match types::parse_uuid(&s) {
                Ok(u) => Value::String(u.to_string()),
                Err(m) => return Err(bad(m, types::UUID_EXPECTED.into())),
            }
        }
        ParamType::Email => {
            let Some(s) = string_of(node) else {
                return Err(kind_err(Email::EXPECTED));
            };
            match Email::parse(&s) {
                Ok(e) => Value::String(e.to_string()),
                Err(m) => return Err(bad(m, Email::EXPECTED.into())),
            }
        }
        ParamType::OdsCode => {
            let Some(s) = string_of(node) else {
                return Err(kind_err(OdsCode::EXPECTED));
            };
            match OdsCode::parse(&s) {
                Ok(c) => Value::String(c.to_string()),
                Err(_) => {
                    return Err(bad(
                        format!("{} is not an ODS code", quote(&s)),
                        OdsCode::EXPECTED.into(),
                    ))
                }
            }
        }
        ParamType::AzureRegion => {
            let Some(s) = string_of(node) else {
                return Err(kind_err(Region::EXPECTED));
            };
            match Region::parse(&s) {
                Ok(r) => Value::String(r.to_string()),
                Err(m) => {
                    let expected = match &p.choices {
                        Some(c) => format!("one of {}", choices_text(c)),
                        None => Region::EXPECTED.into(),
                    };
                    let mut d = src.diag(node.span, m).key(key).expected(expected);
                    let near = match &p.choices {
                        Some(c) => nearest(&s, c.iter().filter_map(Value::as_str)),
                        None => Region::nearest(&s),
                    };
                    if let Some(n) = near {
                        d = d.suggest(format!("did you mean `{n}`?"));
                    }
                    return Err(vec![d]);
                }
            }
        }
        ParamType::Secret => return check_secret(key, node, src).map(Checked::Secret),
    };
    if let Value::String(s) = &checked {
        if s.starts_with('[') {
            return Err(bracket(key, node, src, s));
        }
    }
    // Choices also restrict the types that are not enums (a string or a region from a short list).
    if p.ty != ParamType::Enum {
        if let Some(choices) = &p.choices {
            if !choices.contains(&checked) {
                let mut d = src
                    .diag(
                        node.span,
                        format!("{} is not one of the allowed values", shown(node)),
                    )
                    .key(key)
                    .expected(format!("one of {}", choices_text(choices)));
                if let Value::String(s) = &checked {
                    if let Some(n) = nearest(s, choices.iter().filter_map(Value::as_str)) {
                        d = d.suggest(format!("did you mean `{n}`?"));
                    }
                }
                return Err(vec![d]);
            }
        }
    }
    Ok(Checked::Value(checked))
}

pub(crate) fn cidr_expected(p: &Parameter) -> String {
    match (p.min_prefix, p.max_prefix) {
        (None, None) => Cidr::EXPECTED.to_string(),
        (a, b) => format!(
            "{} with a prefix length of {}",
            Cidr::EXPECTED,
            Cidr::bounds_text(a, b)
        ),
    }
}

pub(crate) fn bracket(key: &str, node: &Node, src: &Src, s: &str) -> Vec<Diagnostic> {
    vec![src
        .diag(
            node.span,
            format!(
                "{} starts with `[`, which Azure Resource Manager would evaluate as an expression",
                quote(s)
            ),
        )
        .key(key)
        .expected("a value that does not start with `[`")]
}

/// A value of an object or an untyped list: any YAML, with strings guarded against ARM expressions.
pub(crate) fn plain(key: &str, node: &Node, src: &Src) -> Result<Value, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    fn walk(key: &str, node: &Node, src: &Src, diags: &mut Vec<Diagnostic>) {
        match &node.kind {
            Kind::Scalar { .. } => {
                if let Value::String(s) = node.to_json() {
                    if s.starts_with('[') {
                        diags.append(&mut bracket(key, node, src, &s));
                    }
                }
            }
            Kind::Seq(items) => {
                for (i, n) in items.iter().enumerate() {
                    walk(&format!("{key}[{i}]"), n, src, diags);
                }
            }
            Kind::Map(entries) => {
                for (k, n) in entries {
                    walk(&format!("{key}.{}", k.text), n, src, diags);
                }
            }
        }
    }
    walk(key, node, src, &mut diags);
    if diags.is_empty() {
        Ok(node.to_json())
    } else {
        Err(diags)
    }
}

pub(crate) const SECRET_EXPECTED: &str = "a reference: `{ env: NAME }` (read from the environment at apply time) or `{ keyVault: <vault resource id>, secretName: NAME }`";

pub(crate) fn check_secret(
    key: &str,
    node: &Node,
    src: &Src,
) -> Result<SecretRef, Vec<Diagnostic>> {
    if node.to_json().is_null() {
        return Err(vec![src
            .diag(node.span, "an empty value is not a secret reference")
            .key(key)
            .expected(SECRET_EXPECTED)]);
    }
    let Kind::Map(entries) = &node.kind else {
        // Never echo the value: it is likely the secret itself.
        return Err(vec![src
            .masked(node.span, "a secret cannot be written in a values file")
            .key(key)
            .expected(SECRET_EXPECTED)]);
    };
    let field = |name: &str| entries.iter().find(|(k, _)| k.text == name).map(|(_, v)| v);
    let text = |n: &Node| match n.to_json() {
        Value::String(s) => Some(s),
        _ => None,
    };
    let mut diags = Vec::new();
    for (k, _) in entries {
        if !["env", "keyVault", "secretName", "secretVersion"].contains(&k.text.as_str()) {
            let mut d = src
                .diag(
                    k.span,
                    format!("unknown key `{}` in a secret reference", k.text),
                )
                .key(key)
                .expected(SECRET_EXPECTED);
            if let Some(n) = nearest(
                &k.text,
                ["env", "keyVault", "secretName", "secretVersion"].into_iter(),
            ) {
                d = d.suggest(format!("did you mean `{n}`?"));
            }
            diags.push(d);
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let env_re = full_match("[A-Za-z_][A-Za-z0-9_]*");
    let vault_re = full_match(
        "(?i)/subscriptions/[0-9a-f-]{36}/resourceGroups/[-\\w._()]+/providers/Microsoft\\.KeyVault/vaults/[a-zA-Z0-9-]{3,24}",
    );
    let name_re = full_match("[0-9A-Za-z-]{1,127}");
    let matches = |re: &Option<std::sync::Arc<regex::Regex>>, s: &str| {
        re.as_ref().is_some_and(|r| r.is_match(s))
    };
    match (field("env"), field("keyVault")) {
        (Some(env), None) if entries.len() == 1 => match text(env) {
            Some(name) if matches(&env_re, &name) => Ok(SecretRef::Env(name)),
            _ => Err(vec![src
                .diag(
                    env.span,
                    format!("{} is not an environment variable name", shown(env)),
                )
                .key(key)
                .expected(
                    "a name of letters, digits and `_`, such as SQL_ADMIN_PASSWORD",
                )]),
        },
        (None, Some(vault)) => {
            let Some(vault_id) = text(vault).filter(|v| matches(&vault_re, v)) else {
                return Err(vec![src
                    .diag(vault.span, format!("{} is not a Key Vault resource id", shown(vault)))
                    .key(key)
                    .expected("/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<name>")]);
            };
            let Some(name_node) = field("secretName") else {
                return Err(vec![src
                    .diag(node.span, "a Key Vault reference without `secretName`")
                    .key(key)
                    .expected("`secretName: NAME` beside `keyVault`")]);
            };
            let Some(secret_name) = text(name_node).filter(|v| matches(&name_re, v)) else {
                return Err(vec![src
                    .diag(
                        name_node.span,
                        format!("{} is not a Key Vault secret name", shown(name_node)),
                    )
                    .key(key)
                    .expected("1 to 127 letters, digits and `-`")]);
            };
            let secret_version = match field("secretVersion") {
                None => None,
                Some(v) => match text(v).filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric())) {
                    Some(s) => Some(s),
                    None => {
                        return Err(vec![src
                            .diag(
                                v.span,
                                format!("{} is not a Key Vault secret version", shown(v)),
                            )
                            .key(key)
                            .expected("the version's id (32 hexadecimal characters)")])
                    }
                },
            };
            Ok(SecretRef::KeyVault {
                vault_id,
                secret_name,
                secret_version,
            })
        }
        _ => Err(vec![src
            .diag(
                node.span,
                "a secret reference needs exactly one of `env` or `keyVault`",
            )
            .key(key)
            .expected(SECRET_EXPECTED)]),
    }
}

/// Check a manifest's default or example against its parameter (used when a blueprint is opened).
pub(crate) fn check_in_manifest(
    p: &Parameter,
    key: &str,
    node: &Node,
    file: &str,
    text: &str,
) -> Vec<Diagnostic> {
    let src = Src::new(file, text);
    check(p, key, node, &src).err().unwrap_or_default()
}
