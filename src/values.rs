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

pub use crate::blueprint::param::SecretRef;
use crate::blueprint::param::{check, nearest, noun, shown, Checked, Src, REDACTED};
use crate::blueprint::{Manifest, ParamType, Parameter};
use crate::diag::Diagnostic;
use crate::model::TrustRef;
use crate::types;
use crate::yaml::{self, Key, Kind, Node, Span};
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

/// Why a trust's values could not be loaded. `crate::Error` maps each variant to its own (`Values`, `Io`), with
/// the same wording and exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A values file could not be read (or is too large).
    #[error(transparent)]
    Read(#[from] crate::yaml::ReadError),
    /// The values are invalid: every problem at once.
    #[error("{file}: {} problem(s) in values", diagnostics.len())]
    Invalid {
        file: String,
        diagnostics: Vec<Diagnostic>,
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
pub fn load(manifest: &Manifest, input: &ValuesInput) -> Result<Values, Error> {
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
        return Err(Error::Invalid {
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
