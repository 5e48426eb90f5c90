//! Values files: YAML parsed with positions, validated against the manifest's parameters, layered with defaults.
//!
//! Contract: [`load`] returns [`Values`] in which every parameter's value has its declared type (normalised:
//! ODS codes upper case, regions by programmatic name, prefixes canonical), every required parameter is present,
//! defaults fill the rest, and secrets are references only. Every problem in every layer is reported at once as a
//! [`Diagnostic`] (`file:line:col`, the line, what was expected, "did you mean").
//!
//! Layers, lowest first: the manifest's defaults < fleet defaults ([`ValuesInput::base`]) < the values file <
//! `--set key=value`. A later layer replaces a key's whole value (objects and lists are not merged).
//!
//! Nested YAML maps name dotted parameter keys (`trust:` / `  name:` is `trust.name`); a dotted key written
//! directly (`trust.name: ...`) means the same.

use crate::blueprint::{Manifest, ParamType, Parameter};
use crate::diag::Diagnostic;
use crate::model::TrustRef;
use crate::types::{self, Cidr, Email, OdsCode, Region};
use crate::yaml::{self, Key, Kind, Node, Span};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

/// What to build a trust's values from.
#[derive(Debug, Clone, Default)]
pub struct ValuesInput {
    /// The values file.
    pub file: Option<PathBuf>,
    /// The file's text when it differs from what is on disk (values migrated in memory for a blueprint
    /// upgrade, `fleet upgrade --dry-run`); diagnostics still name `file`.
    pub text: Option<String>,
    /// Values under the file's (a fleet's `defaults`), with a name for error messages (`fleet.yaml`).
    pub base: Option<(String, Value)>,
    /// `--set key=value` overrides, raw as typed (`tier=large`); the value is parsed as YAML.
    pub overrides: Vec<String>,
}

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

/// A trust's valid values.
#[derive(Debug, Clone, PartialEq)]
pub struct Values {
    /// The values file as named on the command line (for messages), or `<defaults>`.
    pub file: String,
    /// The file's text as given (recorded in the fleet repository; it holds no secret values).
    pub text: String,
    /// Every value, nested (`{"trust": {"name": ...}}`), defaults filled, normalised (ODS codes upper case).
    /// Optional parameters without a value are `null`, so templates can test them. Secret parameters are absent.
    pub tree: Value,
    /// Secret parameters (dotted key) and how each is supplied.
    pub secrets: BTreeMap<String, SecretRef>,
}

impl Values {
    /// A value by dotted key (`trust.ods_code`).
    pub fn get(&self, key: &str) -> Option<&Value> {
        key.split('.').try_fold(&self.tree, |v, k| v.get(k))
    }

    /// `azure.subscription_id`: the subscription the trust deploys to, when the values give one.
    pub fn subscription_id(&self) -> Option<&str> {
        self.get("azure.subscription_id").and_then(Value::as_str)
    }

    /// `azure.tenant_id`: the trust's Entra ID tenant, when the values give one.
    pub fn tenant_id(&self) -> Option<&str> {
        self.get("azure.tenant_id").and_then(Value::as_str)
    }

    /// What ARM expressions evaluate `subscription()` and `tenant()` with before deployment (the guardrails,
    /// cost): the values' subscription and tenant, the placeholder id where they give none.
    pub fn static_context(&self) -> crate::armexpr::StaticContext {
        let id = |v: Option<&str>| {
            v.unwrap_or(crate::armexpr::PLACEHOLDER_SUBSCRIPTION)
                .to_string()
        };
        crate::armexpr::StaticContext {
            subscription_id: id(self.subscription_id()),
            tenant_id: id(self.tenant_id()),
        }
    }

    /// The trust these values are for.
    pub fn trust(&self) -> TrustRef {
        let s = |k| {
            self.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        TrustRef {
            name: s("trust.name"),
            ods_code: s("trust.ods_code"),
        }
    }
}

/// The name used in messages when there is no values file.
/// [`Values::file`] when the values came from defaults alone (a fleet trust without a values file of its own).
pub const NO_FILE: &str = "<defaults>";

/// Build and validate a trust's values. Every problem is reported at once as a
/// [`crate::diag::Diagnostic`] with `file:line:col`, the line, what was expected and "did you mean".
pub fn load(manifest: &Manifest, input: &ValuesInput) -> Result<Values, crate::Error> {
    let file_name = input
        .file
        .as_ref()
        .map_or_else(|| NO_FILE.to_string(), |p| p.display().to_string());
    let mut assigned: BTreeMap<String, Checked> = BTreeMap::new();
    let mut diags = Vec::new();
    let mut given: Vec<String> = Vec::new();

    for (key, p) in &manifest.parameters {
        if let Some(d) = &p.default {
            if p.ty != ParamType::Secret {
                // Defaults were checked when the manifest was opened; normalise them the same way as values.
                let src = Src::new("blueprint.yaml", "");
                if let Ok(c) = check(p, key, &Node::from_json(d), &src) {
                    assigned.insert(key.clone(), c);
                }
            }
        }
    }

    if let Some((name, base)) = &input.base {
        let node = Node::from_json(base);
        if let Kind::Map(_) = node.kind {
            let mut layer = Layer::new(manifest, Src::new(name, ""));
            layer.walk_map("", &node);
            diags.append(&mut layer.diags);
            given.append(&mut layer.given);
            assigned.extend(layer.out);
        } else {
            diags.push(
                Diagnostic::at(name, "", Span::default(), "the defaults are not a map")
                    .expected("a map of keys to values"),
            );
        }
    }

    let mut text = String::new();
    let mut file_node = None;
    if let Some(path) = &input.file {
        let bytes = match &input.text {
            Some(text) => text.as_bytes().to_vec(),
            None => yaml::read_limited(path)?,
        };
        match yaml::parse(&file_name, &bytes) {
            Ok(node) => {
                // parse succeeded, so the bytes are UTF-8.
                text = String::from_utf8_lossy(&bytes).into_owned();
                let mut layer = Layer::new(manifest, Src::new(&file_name, without_bom(&text)));
                layer.walk_map("", &node);
                diags.append(&mut layer.diags);
                given.append(&mut layer.given);
                assigned.extend(layer.out);
                file_node = Some(node);
            }
            Err(mut d) => diags.append(&mut d),
        }
    }

    for arg in &input.overrides {
        let mut layer = Layer::new(manifest, Src::new("--set", arg));
        layer.set(arg);
        diags.append(&mut layer.diags);
        given.append(&mut layer.given);
        assigned.extend(layer.out);
    }

    // Required keys are only judged when the file itself could be read, so a YAML error is not buried under
    // a list of "missing" keys that are in fact there.
    if diags
        .iter()
        .all(|d| d.file != file_name || file_node.is_some())
    {
        for (key, p) in &manifest.parameters {
            let attempted = given.iter().any(|g| {
                g == key
                    || key
                        .strip_prefix(g.as_str())
                        .is_some_and(|r| r.starts_with('.'))
            });
            if p.required && !assigned.contains_key(key) && !attempted {
                diags.push(missing(
                    key,
                    p,
                    &file_name,
                    without_bom(&text),
                    file_node.as_ref(),
                ));
            }
        }
    }

    if !diags.is_empty() {
        return Err(crate::Error::Values {
            file: file_name,
            diagnostics: diags,
        });
    }

    let mut tree = Value::Object(Map::new());
    let mut secrets = BTreeMap::new();
    for (key, p) in &manifest.parameters {
        match assigned.remove(key) {
            Some(Checked::Secret(s)) => {
                secrets.insert(key.clone(), s);
            }
            Some(Checked::Value(v)) => insert(&mut tree, key, v),
            None if p.ty != ParamType::Secret => insert(&mut tree, key, Value::Null),
            None => {}
        }
    }
    // The text is what the fleet record keeps: with `--set` overrides in it, so that planning from the record
    // reproduces what was stamped.
    if input.file.is_some() && !input.overrides.is_empty() {
        text = with_overrides(&text, &input.overrides);
    }
    Ok(Values {
        file: file_name,
        text,
        tree,
        secrets,
    })
}

/// The values file's text with `--set key=value` overrides written into it (already validated by
/// [`load`]), under a comment saying so. The file's own comments are not kept in that case: it is
/// re-serialised from its parsed YAML.
fn with_overrides(text: &str, overrides: &[String]) -> String {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(without_bom(text))
        .ok()
        .filter(serde_yaml::Value::is_mapping)
        .unwrap_or_else(|| serde_yaml::Mapping::new().into());
    for arg in overrides {
        let Some((key, value)) = arg.split_once('=') else {
            continue;
        };
        let value: serde_yaml::Value =
            serde_yaml::from_str(value).unwrap_or(serde_yaml::Value::Null);
        let parts: Vec<&str> = key.trim().split('.').collect();
        let mut at = &mut doc;
        for (i, part) in parts.iter().enumerate() {
            if !at.is_mapping() {
                *at = serde_yaml::Mapping::new().into();
            }
            let Some(map) = at.as_mapping_mut() else {
                break;
            };
            let k = serde_yaml::Value::String((*part).to_string());
            if i + 1 == parts.len() {
                map.insert(k, value.clone());
                break;
            }
            at = map
                .entry(k)
                .or_insert_with(|| serde_yaml::Mapping::new().into());
        }
    }
    format!(
        "# The values file with trustprint's --set overrides written in (its comments are not kept).\n{}",
        serde_yaml::to_string(&doc).unwrap_or_default()
    )
}

/// Positions count from after a byte-order mark, as the parser saw the text.
fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

fn insert(tree: &mut Value, key: &str, v: Value) {
    let mut node = tree;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let Value::Object(map) = node else { return };
        if parts.peek().is_none() {
            map.insert(part.to_string(), v);
            return;
        }
        node = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

fn missing(key: &str, p: &Parameter, file: &str, text: &str, node: Option<&Node>) -> Diagnostic {
    // Point at the enclosing map's key when the file has it (`trust:`), else at the top of the file.
    let mut span = Span {
        line: 1,
        column: 1,
        len: 1,
    };
    if let Some(root) = node {
        let parts: Vec<&str> = key.split('.').collect();
        let mut cur = root;
        for part in &parts[..parts.len() - 1] {
            match cur.entry(part) {
                Some((k, v)) => {
                    span = k.span;
                    cur = v;
                }
                None => break,
            }
        }
    }
    let src = Src::new(file, text);
    Diagnostic::at(
        file,
        src.line(span.line),
        span,
        format!("missing required key `{key}`"),
    )
    .expected(format!(
        "{}: {}",
        noun(p),
        p.description.trim_end_matches('.')
    ))
}

/// A value after checking: a normalised JSON value or, for secrets, how the secret is supplied.
#[derive(Debug, Clone, PartialEq)]
enum Checked {
    Value(Value),
    Secret(SecretRef),
}

/// The file a layer comes from, for diagnostics.
struct Src<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
}

impl<'a> Src<'a> {
    fn new(file: &'a str, text: &'a str) -> Self {
        Src {
            file,
            lines: text.split('\n').collect(),
        }
    }

    fn line(&self, n: usize) -> &'a str {
        self.lines
            .get(n.wrapping_sub(1))
            .copied()
            .unwrap_or("")
            .trim_end_matches('\r')
    }

    fn diag(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(self.file, self.line(span.line), span, message)
    }

    /// A diagnostic whose source line has the value at `span` blotted out: the line may hold a secret.
    fn masked(&self, span: Span, message: impl Into<String>) -> Diagnostic {
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

const REDACTED: &str = "<redacted>";

/// One layer being walked: its diagnostics and the values it assigns.
struct Layer<'a> {
    manifest: &'a Manifest,
    src: Src<'a>,
    diags: Vec<Diagnostic>,
    out: Vec<(String, Checked)>,
    seen: HashSet<String>,
    /// Keys (and groups of keys) this layer gave, valid or not: a bad value is not also "missing".
    given: Vec<String>,
}

impl<'a> Layer<'a> {
    fn new(manifest: &'a Manifest, src: Src<'a>) -> Self {
        Layer {
            manifest,
            src,
            diags: Vec::new(),
            out: Vec::new(),
            seen: HashSet::new(),
            given: Vec::new(),
        }
    }

    fn is_prefix(&self, key: &str) -> bool {
        self.manifest
            .parameters
            .keys()
            .any(|k| k.len() > key.len() && k.starts_with(key) && k.as_bytes()[key.len()] == b'.')
    }

    fn walk_map(&mut self, prefix: &str, node: &Node) {
        if let Kind::Map(entries) = &node.kind {
            for (key, value) in entries {
                self.visit(prefix, key, value);
            }
        }
    }

    fn visit(&mut self, prefix: &str, key: &Key, value: &Node) {
        // A key with nothing after it: the parser places the empty value at the next token, often on another
        // line; the key is the place to point at.
        let empty;
        let value = match &value.kind {
            Kind::Scalar {
                text,
                quoted: false,
            } if text.is_empty() => {
                empty = Node {
                    span: key.span,
                    kind: value.kind.clone(),
                };
                &empty
            }
            _ => value,
        };
        let full = if prefix.is_empty() {
            key.text.clone()
        } else {
            format!("{prefix}.{}", key.text)
        };
        if let Some(p) = self.manifest.parameters.get(&full) {
            self.given.push(full.clone());
            if !self.seen.insert(full.clone()) {
                self.diags.push(
                    self.src
                        .diag(key.span, format!("`{full}` is given twice"))
                        .expected("each key once"),
                );
                return;
            }
            match check(p, &full, value, &self.src) {
                Ok(c) => self.out.push((full, c)),
                Err(mut d) => self.diags.append(&mut d),
            }
        } else if self.is_prefix(&full) {
            match &value.kind {
                Kind::Map(_) => self.walk_map(&full, value),
                Kind::Scalar {
                    text,
                    quoted: false,
                } if text.is_empty() => {}
                _ => {
                    self.given.push(full.clone());
                    let children = children(self.manifest, &full);
                    self.diags.push(
                        self.src
                            .diag(value.span, format!("{} is not a map", shown(value)))
                            .key(full)
                            .expected(format!("a map with the keys {}", list_keys(&children))),
                    );
                }
            }
        } else {
            self.unknown(key, &full);
        }
    }

    fn unknown(&mut self, key: &Key, full: &str) {
        // The level a dotted key belongs to is its own parent, not the map it was written in.
        let (level, leaf) = match full.rsplit_once('.') {
            Some((l, f)) => (l.to_string(), f.to_string()),
            None => (String::new(), full.to_string()),
        };
        let siblings = children(self.manifest, &level);
        let suggestion = nearest(&leaf, siblings.iter().map(String::as_str))
            .map(str::to_string)
            .or_else(|| {
                // The right name at the wrong level (`ods_code` at the top instead of under `trust`).
                self.manifest
                    .parameters
                    .keys()
                    .find(|k| k.rsplit('.').next() == Some(leaf.as_str()))
                    .map(|k| k.to_string())
            });
        let looks_secret = [
            "password",
            "secret",
            "token",
            "apikey",
            "api_key",
            "connection",
        ]
        .iter()
        .any(|w| leaf.to_ascii_lowercase().contains(w));
        let mut d = if looks_secret {
            // Keep the key visible, hide what follows it.
            let line = self.src.line(key.span.line);
            let keep: String = line
                .chars()
                .take(key.span.column - 1 + key.span.len)
                .collect();
            let mut d = self.src.diag(key.span, format!("unknown key `{full}`"));
            if key.span.line > 0 {
                d.source_line = format!("{keep}: {REDACTED}");
            }
            d
        } else {
            self.src.diag(key.span, format!("unknown key `{full}`"))
        };
        d = if siblings.is_empty() {
            d.expected("no keys here")
        } else if level.is_empty() {
            d.expected(format!(
                "one of the top-level keys {}",
                list_keys(&siblings)
            ))
        } else {
            d.expected(format!(
                "one of the keys of `{level}`: {}",
                list_keys(&siblings)
            ))
        };
        if let Some(s) = suggestion {
            d = d.suggest(format!("did you mean `{s}`?"));
        }
        self.diags.push(d);
    }

    /// One `--set key=value` argument.
    fn set(&mut self, arg: &str) {
        let whole = Span {
            line: 1,
            column: 1,
            len: arg.chars().count(),
        };
        let Some((key, value)) = arg.split_once('=') else {
            self.diags.push(
                self.src
                    .masked(whole, "not of the form key=value")
                    .expected("`--set key=value`, such as `--set tier=large`"),
            );
            return;
        };
        let key_text = key.trim();
        if key_text.is_empty() {
            self.diags.push(
                self.src
                    .masked(whole, "no key before `=`")
                    .expected("`--set key=value`, such as `--set tier=large`"),
            );
            return;
        }
        let offset = key.chars().count() + 1;
        match yaml::parse_value("--set", value, offset) {
            Ok(node) => {
                let k = Key {
                    text: key_text.to_string(),
                    span: Span {
                        line: 1,
                        column: 1,
                        len: key.chars().count(),
                    },
                };
                self.visit("", &k, &node);
            }
            Err(ds) => {
                for d in ds {
                    let mut m = self.src.masked(
                        Span {
                            line: 1,
                            column: d.column,
                            len: 1,
                        },
                        d.message,
                    );
                    m.expected = d.expected;
                    self.diags.push(m);
                }
            }
        }
    }
}

/// A regex matching `pattern` in full, compiled once per process: values are checked per trust, often for a
/// whole fleet, and compiling dominated the cost of checking a list of addresses. `None` for an invalid pattern
/// (the manifest check reports those).
fn full_match(pattern: &str) -> Option<std::sync::Arc<regex::Regex>> {
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

/// The names one level below `level` (`""` for the top), in manifest order.
fn children(manifest: &Manifest, level: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in manifest.parameters.keys() {
        let rest = if level.is_empty() {
            Some(k.as_str())
        } else {
            k.strip_prefix(level).and_then(|r| r.strip_prefix('.'))
        };
        if let Some(rest) = rest {
            let child = rest.split('.').next().unwrap_or(rest).to_string();
            if !out.contains(&child) {
                out.push(child);
            }
        }
    }
    out
}

fn list_keys(keys: &[String]) -> String {
    const SHOWN: usize = 12;
    let mut s = keys
        .iter()
        .take(SHOWN)
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > SHOWN {
        s.push_str(&format!(" and {} more", keys.len() - SHOWN));
    }
    s
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
fn shown(node: &Node) -> String {
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

fn quote(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{}…", serde_json::Value::String(cut))
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

/// The article-and-noun name of a parameter type, for messages.
fn noun(p: &Parameter) -> &'static str {
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
fn num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

fn bounds(min: Option<f64>, max: Option<f64>, unit: &str) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("from {} to {}{unit}", num(a), num(b)),
        (Some(a), None) => format!("at least {}{unit}", num(a)),
        (None, Some(b)) => format!("at most {}{unit}", num(b)),
        (None, None) => String::new(),
    }
}

fn out_of(v: f64, min: Option<f64>, max: Option<f64>) -> bool {
    min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m)
}

fn choices_text(choices: &[Value]) -> String {
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
fn check(p: &Parameter, key: &str, node: &Node, src: &Src) -> Result<Checked, Vec<Diagnostic>> {
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

fn cidr_expected(p: &Parameter) -> String {
    match (p.min_prefix, p.max_prefix) {
        (None, None) => Cidr::EXPECTED.to_string(),
        (a, b) => format!(
            "{} with a prefix length of {}",
            Cidr::EXPECTED,
            Cidr::bounds_text(a, b)
        ),
    }
}

fn bracket(key: &str, node: &Node, src: &Src, s: &str) -> Vec<Diagnostic> {
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
fn plain(key: &str, node: &Node, src: &Src) -> Result<Value, Vec<Diagnostic>> {
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

const SECRET_EXPECTED: &str = "a reference: `{ env: NAME }` (read from the environment at apply time) or `{ keyVault: <vault resource id>, secretName: NAME }`";

fn check_secret(key: &str, node: &Node, src: &Src) -> Result<SecretRef, Vec<Diagnostic>> {
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

/// A JSON Schema (draft 2020-12) for the manifest's values files: every key with its description and example.
pub fn schema(manifest: &Manifest) -> Value {
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("https://trustprint.dev/schemas/{}/{}/values.json", manifest.name, manifest.version),
        "title": format!("Values for the {} blueprint {}", manifest.name, manifest.version),
        "description": manifest.description,
        "type": "object",
        "additionalProperties": false,
        "properties": {},
    });
    for (key, p) in &manifest.parameters {
        let parts: Vec<&str> = key.split('.').collect();
        let mut node = &mut root;
        for (i, part) in parts.iter().enumerate() {
            let last = i == parts.len() - 1;
            if p.required {
                add_required(node, part);
            }
            let props = node
                .as_object_mut()
                .and_then(|o| o.get_mut("properties"))
                .and_then(Value::as_object_mut);
            let Some(props) = props else { break };
            if last {
                props.insert(part.to_string(), param_schema(p));
                break;
            }
            node = props.entry(part.to_string()).or_insert_with(
                || json!({"type": "object", "additionalProperties": false, "properties": {}}),
            );
        }
    }
    root
}

fn add_required(node: &mut Value, part: &str) {
    if let Some(o) = node.as_object_mut() {
        let req = o.entry("required").or_insert_with(|| json!([]));
        if let Some(a) = req.as_array_mut() {
            if !a.iter().any(|v| v == part) {
                a.push(json!(part));
            }
        }
    }
}

fn param_schema(p: &Parameter) -> Value {
    let mut s = Map::new();
    s.insert("description".into(), json!(p.description));
    let mut put = |k: &str, v: Value| {
        s.insert(k.into(), v);
    };
    match p.ty {
        ParamType::String => {
            put("type", json!("string"));
            if let Some(pat) = &p.pattern {
                put("pattern", json!(format!("^(?:{pat})$")));
            }
            if let Some(m) = p.min {
                put("minLength", json!(m as u64));
            }
            if let Some(m) = p.max {
                put("maxLength", json!(m as u64));
            }
            put("not", json!({"pattern": "^\\["}));
        }
        ParamType::Integer | ParamType::Number => {
            put(
                "type",
                json!(if p.ty == ParamType::Integer {
                    "integer"
                } else {
                    "number"
                }),
            );
            if let Some(m) = p.min {
                put("minimum", json!(m));
            }
            if let Some(m) = p.max {
                put("maximum", json!(m));
            }
        }
        ParamType::Boolean => put("type", json!("boolean")),
        ParamType::Enum => put("enum", json!(p.choices.clone().unwrap_or_default())),
        ParamType::List => {
            put("type", json!("array"));
            if let Some(items) = &p.items {
                put("items", param_schema(items));
            }
            if let Some(m) = p.min {
                put("minItems", json!(m as u64));
            }
            if let Some(m) = p.max {
                put("maxItems", json!(m as u64));
            }
        }
        ParamType::Object => put("type", json!("object")),
        ParamType::Cidr => {
            put("type", json!("string"));
            put(
                "pattern",
                json!("^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])/(3[0-2]|[12]?[0-9])$"),
            );
            put(
                "x-trustprint-prefix",
                json!({"min": p.min_prefix, "max": p.max_prefix}),
            );
        }
        ParamType::Uuid => {
            put("type", json!("string"));
            put("format", json!("uuid"));
        }
        ParamType::Email => {
            put("type", json!("string"));
            put("format", json!("email"));
        }
        ParamType::OdsCode => {
            put("type", json!("string"));
            put(
                "pattern",
                json!("^([RrTt][A-Za-z0-9]{2}|[A-Za-z][0-9][A-Za-z][0-9][A-Za-z])$"),
            );
        }
        ParamType::AzureRegion => {
            put("type", json!("string"));
            let names: Vec<Value> = types::AZURE_REGIONS.iter().map(|r| json!(r)).collect();
            put("enum", Value::Array(names));
        }
        ParamType::Secret => {
            put(
                "oneOf",
                json!([
                    {"type": "object", "properties": {"env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}},
                     "required": ["env"], "additionalProperties": false},
                    {"type": "object", "properties": {
                        "keyVault": {"type": "string", "description": "the Key Vault's resource id"},
                        "secretName": {"type": "string", "pattern": "^[0-9A-Za-z-]{1,127}$"},
                        "secretVersion": {"type": "string"}},
                     "required": ["keyVault", "secretName"], "additionalProperties": false}
                ]),
            );
            put("writeOnly", json!(true));
        }
    }
    if p.ty != ParamType::Enum {
        if let Some(c) = &p.choices {
            put("enum", json!(c));
        }
    }
    if let Some(d) = &p.default {
        put("default", d.clone());
    }
    if let Some(e) = &p.example {
        put("examples", json!([e]));
    }
    Value::Object(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_suggests_typos_only() {
        let keys = ["ods_code", "name", "region"];
        assert_eq!(nearest("ods_cod", keys.into_iter()), Some("ods_code"));
        assert_eq!(nearest("Name", keys.into_iter()), Some("name"));
        assert_eq!(nearest("banana", keys.into_iter()), None);
    }

    #[test]
    fn children_lists_one_level() {
        let m: Manifest = serde_yaml::from_str(
            "apiVersion: trustprint/v1\nname: t\nversion: 1.0.0\ndescription: d\nexemplar: {trust: T, odsCode: RM3}\n\
             parameters:\n  trust.name: {type: string, description: n}\n  trust.ods_code: {type: ods-code, description: o}\n  tier: {type: string, description: t}\n\
             deployments: []\n",
        )
        .expect("manifest");
        assert_eq!(children(&m, ""), vec!["trust", "tier"]);
        assert_eq!(children(&m, "trust"), vec!["name", "ods_code"]);
    }
}
