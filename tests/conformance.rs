//! ARM fidelity measured on Microsoft's own quickstart templates (`tests/conformance/`, see its README): every
//! eligible sample is deployed into one in-process local cloud over plain ARM REST, each into its own resource
//! group (or at subscription scope when its `$schema` says so), and must succeed; a what-if of the same
//! template and parameters afterwards must show only `NoChange` or `Ignore`, as Azure promises.
//!
//! Eligibility follows the corpus README's rules, decided here from each sample's files, never from a list of
//! names: prerequisite placeholders, Key Vault references, linked artifacts, parameter files Azure would refuse,
//! and resource types Azure has retired (absent from the embedded catalogue) make a sample ineligible.

use futures_util::stream::{self, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use trustprint::cloud::{catalog, Config, Server};

const SUB: &str = "c0c0c0c0-1111-4222-8333-444444444444";
const DEPLOY_API: &str = "2021-04-01";

/// One sample folder: its template and (filled-in) parameters.
struct Sample {
    name: String,
    template: Value,
    parameters: Map<String, Value>,
    /// A variable the template uses but does not declare: Azure refuses such a template at validation
    /// (`InvalidTemplate`, "The template variable 'x' is not found"), and the local cloud must too.
    undeclared_variable: Option<String>,
    /// The string values its parameter file gives literally (not generated from a `GEN-*` placeholder), and the
    /// items of those that are comma-separated lists.
    literals: BTreeSet<String>,
    /// Types the template declares (not `existing`), with their parents' types spelled out.
    declared: BTreeSet<String>,
}

/// How a sample behaved, when it behaved as Azure does.
enum Outcome {
    /// Deployed, then a what-if and a second deployment showed no change.
    Deployed,
    /// Refused, as Azure refuses it, for the reason given.
    RefusedAsAzureDoes(String),
}

/// The first `variables('x')` whose `x` the template does not declare (case-insensitively, as ARM reads
/// names), looking through every string of the template.
fn undeclared_variable(template: &Value) -> Option<String> {
    let vars = template["variables"].as_object();
    let mut declared: BTreeSet<String> = vars
        .map(|o| o.keys().map(|k| k.to_lowercase()).collect())
        .unwrap_or_default();
    // `"copy": [{"name": "disks", ...}]` inside variables declares `disks`.
    for c in vars
        .and_then(|o| o.get("copy"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(n) = c["name"].as_str() {
            declared.insert(n.to_lowercase());
        }
    }
    let used = regex::Regex::new(r"(?i)\bvariables\(\s*'([^']+)'\s*\)").unwrap();
    // Nested inline templates declare their own variables: only this template's own strings count.
    let mut own = template.clone();
    strip_nested_templates(&mut own);
    let mut names = Vec::new();
    for s in string_values(&own).iter().filter(|s| s.starts_with('[')) {
        names.extend(used.captures_iter(s).map(|c| c[1].to_string()));
    }
    names
        .into_iter()
        .find(|v| !declared.contains(&v.to_lowercase()))
}

/// Every string anywhere in `v`.
fn string_values(v: &Value) -> Vec<&str> {
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

/// `template` without the inline templates of its nested deployments.
fn strip_nested_templates(template: &mut Value) {
    match template {
        Value::Object(o) => {
            if o.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.Resources/deployments"))
            {
                if let Some(p) = o.get_mut("properties").and_then(Value::as_object_mut) {
                    p.remove("template");
                }
            }
            o.values_mut().for_each(strip_nested_templates);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nested_templates),
        _ => {}
    }
}

/// Why a sample is not eligible, in the README's terms.
enum Ineligible {
    Prerequisite(String),
    LinkedArtifacts,
    UndeclaredParameter(String),
    RequiredParameterUnset(String),
    RetiredType(String),
}

impl std::fmt::Display for Ineligible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ineligible::Prerequisite(what) => write!(f, "needs a prerequisite ({what})"),
            Ineligible::LinkedArtifacts => write!(
                f,
                "needs linked artifacts (_artifactsLocation or templateLink)"
            ),
            Ineligible::UndeclaredParameter(p) => write!(
                f,
                "its parameter file sets '{p}', which the template does not declare"
            ),
            Ineligible::RequiredParameterUnset(p) => write!(
                f,
                "its parameter file leaves the required parameter '{p}' unset"
            ),
            Ineligible::RetiredType(t) => write!(f, "declares {t}, a type Azure has retired"),
        }
    }
}

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// Read JSON as Azure's clients do before sending it: comments are stripped and control characters inside
/// strings tolerated (the Azure CLI and PowerShell read templates leniently).
fn read_lenient(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = text.trim_start_matches('\u{feff}');
    serde_json::from_str(text).unwrap_or_else(|_| {
        serde_json::from_str(&strip_comments(text))
            .unwrap_or_else(|e| panic!("{} is not JSON even leniently: {e}", path.display()))
    })
}

/// `text` without `//` and `/* */` comments outside strings, and with raw control characters inside strings
/// escaped.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let (mut in_string, mut escaped) = (false, false);
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                _ if escaped => {
                    escaped = false;
                    out.push(c);
                }
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_string = false;
                    out.push(c);
                }
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut last = ' ';
                for d in chars.by_ref() {
                    if last == '*' && d == '/' {
                        break;
                    }
                    last = d;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// A short deterministic hex digest of text, for names and values made up per sample.
fn digest(text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut out = String::new();
    for salt in 0..4u8 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, text).hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// The placeholders Microsoft's CI fills (README: GEN-UNIQUE[-N], GEN-PASSWORD, GEN-SSH-PUB-KEY, GEN-GUID). Each
/// occurrence gets its own value, as in Microsoft's CI (two names both `GEN-UNIQUE` are two different names).
fn fill_placeholders(text: &str, sample: &str) -> String {
    let placeholder =
        regex::Regex::new(r"GEN-(UNIQUE-(\d+)|UNIQUE|PASSWORD|SSH-PUB-KEY|GUID)").unwrap();
    let mut n = 0;
    placeholder
        .replace_all(text, |c: &regex::Captures| {
            n += 1;
            let d = digest(&format!("{sample}#{n}"));
            let letters: String = d
                .chars()
                .map(|c| match c.to_digit(16) {
                    Some(n) if n < 10 => char::from(b'a' + u8::try_from(n).unwrap_or(0)),
                    _ => c,
                })
                .collect();
            match &c[1] {
                "UNIQUE" => format!("u{}", &letters[..9]),
                "PASSWORD" => format!("Cf!{}Aa9", &d[..12]),
                "SSH-PUB-KEY" => format!(
                    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC{} conformance@trustprint",
                    &letters[..40]
                ),
                "GUID" => format!(
                    "{}-{}-4{}-8{}-{}",
                    &d[..8],
                    &d[8..12],
                    &d[13..16],
                    &d[17..20],
                    &d[20..32]
                ),
                _ => {
                    let len: usize = c[2].parse().unwrap_or(10);
                    format!("u{}", &letters[..len.saturating_sub(1).min(letters.len())])
                }
            }
        })
        .into_owned()
}

/// Every resource type a template declares: nested `resources` with relative types resolved against their
/// parent, languageVersion 2.0's symbolic resources, and inline nested deployments' templates. Types that are
/// expressions are skipped; extension spellings (`.../providers/diagnosticSettings`) are kept, and the catalogue
/// reads them as the extension type.
fn declared_types(template: &Value, out: &mut BTreeSet<String>) {
    fn walk(resources: &Value, parent: Option<&str>, out: &mut BTreeSet<String>) {
        let list: Vec<&Value> = match resources {
            Value::Array(a) => a.iter().collect(),
            Value::Object(o) => o.values().collect(),
            _ => return,
        };
        for r in list {
            let Some(t) = r["type"].as_str() else {
                continue;
            };
            if t.starts_with('[') {
                continue;
            }
            let t = t.trim_end_matches('/');
            let full = match parent {
                Some(p) if !t.split('/').next().unwrap_or("").contains('.') => format!("{p}/{t}"),
                _ => t.to_string(),
            };

            if r["existing"] != json!(true) {
                out.insert(full.clone());
            }
            walk(&r["resources"], Some(&full), out);
            if full.eq_ignore_ascii_case("Microsoft.Resources/deployments") {
                declared_types(&r["properties"]["template"], out);
            }
        }
    }
    walk(&template["resources"], None, out);
}

/// Decide eligibility by the corpus README and fill the parameters.
fn load(dir: &Path) -> Result<Sample, Ineligible> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let template_text = std::fs::read_to_string(dir.join("azuredeploy.json")).unwrap();
    let template = read_lenient(&dir.join("azuredeploy.json"));
    if template_text.contains("_artifactsLocation") || template_text.contains("templateLink") {
        return Err(Ineligible::LinkedArtifacts);
    }
    let params_path = dir.join("azuredeploy.parameters.json");
    let mut parameters = Map::new();
    let mut literals = BTreeSet::new();
    if params_path.exists() {
        let raw = std::fs::read_to_string(&params_path).unwrap();
        literals = string_values(&read_lenient(&params_path))
            .into_iter()
            .filter(|v| !v.contains("GEN-") && !v.starts_with('['))
            // A list given as one string ("client01,client02") names each of its items.
            .flat_map(|v| {
                v.split([',', ';'])
                    .chain([v])
                    .map(|x| x.trim().to_lowercase())
            })
            .filter(|v| !v.is_empty())
            .collect();
        let filled = fill_placeholders(&raw, &name);
        // `GET-PREREQ-*` values are outputs of the sample's prerequisite deployment in Microsoft's CI: like
        // the other `GEN-*` placeholders, they name resources that must already exist.
        if let Some(m) = regex::Regex::new(r"(GEN|GET-PREREQ)-[A-Za-z0-9-]+")
            .unwrap()
            .find(&filled)
        {
            return Err(Ineligible::Prerequisite(m.as_str().to_string()));
        }
        let tmp = std::env::temp_dir().join(format!("trustprint-conformance-{name}.json"));
        std::fs::write(&tmp, filled).unwrap();
        let file = read_lenient(&tmp);
        let _ = std::fs::remove_file(&tmp);
        let given = file
            .get("parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in &given {
            if v.get("reference").is_some() {
                return Err(Ineligible::Prerequisite(format!(
                    "Key Vault reference for '{k}'"
                )));
            }
        }
        parameters = given;
    }
    let declared = template["parameters"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let declared_lower: BTreeSet<String> = declared.keys().map(|k| k.to_lowercase()).collect();
    if let Some(extra) = parameters
        .keys()
        .find(|k| !declared_lower.contains(&k.to_lowercase()))
    {
        return Err(Ineligible::UndeclaredParameter(extra.clone()));
    }
    let given_lower: BTreeSet<String> = parameters.keys().map(|k| k.to_lowercase()).collect();
    if let Some((missing, _)) = declared.iter().find(|(k, p)| {
        // A `"nullable": true` parameter (languageVersion 2.0) is optional, as a default makes one.
        p.get("defaultValue").is_none()
            && p.get("nullable") != Some(&json!(true))
            && !given_lower.contains(&k.to_lowercase())
    }) {
        return Err(Ineligible::RequiredParameterUnset(missing.clone()));
    }
    let mut types = BTreeSet::new();
    declared_types(&template, &mut types);
    if let Some(retired) = types.iter().find(|t| catalog::find_type(t).is_none()) {
        return Err(Ineligible::RetiredType(retired.clone()));
    }
    let undeclared_variable = undeclared_variable(&template);
    Ok(Sample {
        name,
        template,
        parameters,
        undeclared_variable,
        literals,
        declared: types,
    })
}

fn is_subscription_scope(template: &Value) -> bool {
    template["$schema"]
        .as_str()
        .is_some_and(|s| s.contains("subscriptionDeploymentTemplate"))
}

/// The namespaces a template declares resources of (its row(s) in the pass-rate table).
fn providers_of(template: &Value) -> BTreeSet<String> {
    let mut types = BTreeSet::new();
    declared_types(template, &mut types);
    let mut out: BTreeSet<String> = types
        .iter()
        .filter_map(|t| catalog::find_type(t))
        .map(|t| t.name.split('/').next().unwrap_or("").to_string())
        .filter(|ns| !ns.eq_ignore_ascii_case("Microsoft.Resources"))
        .collect();
    if out.is_empty() {
        out.insert("Microsoft.Resources".into());
    }
    out
}

/// A client of the local cloud with a token.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, Value), String> {
        let url = if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{url}", self.base)
        };
        let mut rb = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let r = rb.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.map_err(|e| e.to_string())?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| format!("{url}: not JSON: {e}"))?
        };
        Ok((status, headers, body))
    }

    /// Follow `header` (Azure-AsyncOperation or Location) until the operation ends; returns its last body.
    async fn wait(
        &self,
        headers: &reqwest::header::HeaderMap,
        header: &str,
    ) -> Result<Value, String> {
        let url = headers
            .get(header)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("no {header} header"))?
            .to_string();
        for _ in 0..2000 {
            let (status, _, body) = self.send(reqwest::Method::GET, &url, None).await?;
            let running = status == StatusCode::ACCEPTED
                || body["status"]
                    .as_str()
                    .is_some_and(|s| matches!(s, "Running" | "Accepted" | "InProgress"));
            if !running {
                return Ok(body);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err(format!("{url} never finished"))
    }
}

/// The innermost error messages of an ARM error, for the report.
fn innermost(error: &Value, out: &mut Vec<String>) {
    match error["details"].as_array() {
        Some(details) if !details.is_empty() => {
            for d in details {
                innermost(d, out);
            }
        }
        _ => out.push(format!(
            "{}: {}",
            error["code"].as_str().unwrap_or("?"),
            error["message"].as_str().unwrap_or("?")
        )),
    }
}

fn error_text(error: &Value) -> String {
    let mut msgs = Vec::new();
    innermost(error, &mut msgs);
    msgs.dedup();
    let mut text = msgs.join(" | ");
    if text.len() > 400 {
        let mut cut = 400;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Deploy one sample, then what-if it again. `Ok` when both behave as Azure does.
async fn run_sample(c: &Client, i: usize, s: &Sample) -> Result<Outcome, String> {
    let sub_scope = is_subscription_scope(&s.template);
    let mut props =
        json!({"mode": "Incremental", "template": s.template, "parameters": s.parameters});
    let scope = if sub_scope {
        format!("/subscriptions/{SUB}")
    } else {
        let rg = format!("/subscriptions/{SUB}/resourcegroups/conformance-{i:03}");
        let (status, _, body) = c
            .send(
                reqwest::Method::PUT,
                &format!("{rg}?api-version={DEPLOY_API}"),
                Some(&json!({"location": "uksouth"})),
            )
            .await?;
        if !status.is_success() {
            return Err(format!("resource group: {status} {body}"));
        }
        rg
    };
    props["mode"] = json!("Incremental");
    let mut body = json!({"properties": props});
    if sub_scope {
        body["location"] = json!("uksouth");
    }
    let dep = format!("{scope}/providers/Microsoft.Resources/deployments/conformance-{i:03}");
    if let Some(var) = &s.undeclared_variable {
        return refused_as_azure_refuses(c, &dep, &body, var).await;
    }
    let done = match deploy(c, &dep, &body).await {
        Ok(done) => done,
        Err(e) => {
            return match needs_existing(s, &e) {
                Some(name) => Ok(Outcome::RefusedAsAzureDoes(format!(
                    "its parameter file names '{name}', a resource that must already exist and that the \
                     template does not create; Azure refuses it the same way: {e}"
                ))),
                None => Err(e),
            }
        }
    };
    let (status, headers, wi) = c
        .send(
            reqwest::Method::POST,
            &format!("{dep}/whatIf?api-version={DEPLOY_API}"),
            Some(&body),
        )
        .await?;
    if status != StatusCode::ACCEPTED {
        return Err(format!(
            "what-if refused ({status}): {}",
            error_text(&wi["error"])
        ));
    }
    let result = c.wait(&headers, "location").await?;
    if result["status"] != "Succeeded" {
        return Err(format!("what-if failed: {}", error_text(&result["error"])));
    }
    let changed: Vec<String> = result["properties"]["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|ch| !matches!(ch["changeType"].as_str(), Some("NoChange" | "Ignore")))
        .map(|ch| {
            format!(
                "{} {}",
                ch["changeType"].as_str().unwrap_or("?"),
                ch["resourceId"].as_str().unwrap_or("?")
            )
        })
        .collect();
    if !changed.is_empty() {
        return Err(format!(
            "what-if after deploying shows changes: {}",
            changed.join(", ")
        ));
    }
    // Deploying again changes nothing: every resource the first deployment made reads back the same. Nested
    // deployments are records of a run (each run has its own timestamp and correlation id), not resources.
    let made: Vec<String> = done["properties"]["outputResources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .filter(|id| !type_of(id).eq_ignore_ascii_case("Microsoft.Resources/deployments"))
        .collect();
    let before = read_all(c, &made).await?;
    deploy(c, &dep, &body)
        .await
        .map_err(|e| format!("second deployment: {e}"))?;
    let after = read_all(c, &made).await?;
    if let Some((id, _)) = before
        .iter()
        .zip(&after)
        .find(|(b, a)| b != a)
        .map(|(b, _)| b)
    {
        return Err(format!("deploying again changed {id}"));
    }
    Ok(Outcome::Deployed)
}

/// A sample whose parameter file names a resource that must already exist (Microsoft's CI deploys such a
/// sample's prerequisites first; the corpus README's placeholders do not reveal them) fails on Azure with
/// `ParentResourceNotFound` or `ResourceNotFound` naming that resource. The missing resource's name, when `error`
/// is such a failure: a name the parameter file gives literally, of a type the template never creates (for a
/// missing parent, the template declares children whose top-level parent type it does not declare).
fn needs_existing(s: &Sample, error: &str) -> Option<String> {
    let quoted = regex::Regex::new(r"'([^']+)'").unwrap();
    let error = error.strip_prefix("Failed: ").unwrap_or(error);
    for part in error.split(" | ") {
        let (code, message) = part.split_once(": ")?;
        let names: Vec<&str> = quoted
            .captures_iter(message)
            .map(|c| c.get(1).unwrap().as_str())
            .collect();
        let undeclared = |t: &str| !s.declared.iter().any(|d| d.eq_ignore_ascii_case(t));
        let found = match code {
            "ParentResourceNotFound" => names.into_iter().find(|n| {
                s.literals.contains(&n.to_lowercase())
                    && s.declared.iter().any(|d| {
                        let top: Vec<&str> = d.splitn(3, '/').take(2).collect();
                        d.matches('/').count() > 1 && undeclared(&top.join("/"))
                    })
            }),
            "ResourceNotFound" => names.into_iter().find(|n| match n.rsplit_once('/') {
                Some((t, name)) => s.literals.contains(&name.to_lowercase()) && undeclared(t),
                None => false,
            }),
            _ => None,
        };
        if let Some(n) = found {
            return Some(n.rsplit('/').next().unwrap_or(n).to_string());
        }
    }
    None
}

/// PUT a deployment and wait for it; its final body when it succeeded.
async fn deploy(c: &Client, dep: &str, body: &Value) -> Result<Value, String> {
    let (status, headers, put) = c
        .send(
            reqwest::Method::PUT,
            &format!("{dep}?api-version={DEPLOY_API}"),
            Some(body),
        )
        .await?;
    if !status.is_success() {
        return Err(format!("refused ({status}): {}", error_text(&put["error"])));
    }
    c.wait(&headers, "azure-asyncoperation").await?;
    let (_, _, done) = c
        .send(
            reqwest::Method::GET,
            &format!("{dep}?api-version={DEPLOY_API}"),
            None,
        )
        .await?;
    let state = done["properties"]["provisioningState"]
        .as_str()
        .unwrap_or("?");
    if state != "Succeeded" {
        return Err(format!(
            "{state}: {}",
            error_text(&done["properties"]["error"])
        ));
    }
    Ok(done)
}

/// A template Azure refuses at validation must be refused here too, with ARM's code and message.
async fn refused_as_azure_refuses(
    c: &Client,
    dep: &str,
    body: &Value,
    variable: &str,
) -> Result<Outcome, String> {
    let (status, _, put) = c
        .send(
            reqwest::Method::PUT,
            &format!("{dep}?api-version={DEPLOY_API}"),
            Some(body),
        )
        .await?;
    let expected = format!("The template variable '{variable}' is not found.");
    let message = put["error"]["message"].as_str().unwrap_or("");
    if status == StatusCode::BAD_REQUEST
        && put["error"]["code"] == "InvalidTemplate"
        && message.contains(&expected)
    {
        Ok(Outcome::RefusedAsAzureDoes(format!(
            "the template uses a variable it never declares; Azure refuses it at validation: \"{expected}\""
        )))
    } else {
        Err(format!(
            "Azure refuses it (\"{expected}\"), the local cloud answered {status}: {}",
            error_text(&put["error"])
        ))
    }
}

/// The resource type of an id: the namespace and type segments after its last `/providers/`.
fn type_of(id: &str) -> String {
    let lower = id.to_ascii_lowercase();
    let start = lower
        .rfind("/providers/")
        .map_or(0, |i| i + "/providers/".len());
    let segs: Vec<&str> = id[start..].split('/').collect();
    let mut t = vec![segs[0]];
    t.extend(segs.iter().skip(1).step_by(2));
    t.join("/")
}

/// Each resource as `GET` returns it, at its type's newest api-version.
async fn read_all(c: &Client, ids: &[String]) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::new();
    for id in ids {
        let Some(info) = catalog::find_type(&type_of(id)) else {
            continue;
        };
        let (status, _, body) = c
            .send(
                reqwest::Method::GET,
                &format!("{id}?api-version={}", info.newest()),
                None,
            )
            .await?;
        if status.is_success() {
            out.push((id.clone(), body));
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsofts_quickstart_templates_deploy_and_then_show_no_changes() {
    let mut dirs: Vec<PathBuf> = [
        "quickstarts-2021",
        "quickstarts-modern",
        "quickstarts-extra",
    ]
    .iter()
    .flat_map(|set| std::fs::read_dir(corpus_root().join(set)).unwrap())
    .map(|e| e.unwrap().path())
    .filter(|p| p.join("azuredeploy.json").exists())
    .collect();
    dirs.sort();
    let started = std::time::Instant::now();
    assert!(
        dirs.len() > 200,
        "the corpus is missing: {} samples",
        dirs.len()
    );
    let mut samples = Vec::new();
    let mut ineligible = BTreeMap::new();
    for d in &dirs {
        match load(d) {
            Ok(s) => samples.push(s),
            Err(why) => {
                ineligible.insert(d.file_name().unwrap().to_string_lossy().into_owned(), why);
            }
        }
    }
    let loaded = started.elapsed();
    let server = Server::start(Config {
        throttle: false,
        ..Config::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let token: Value = http
        .post(format!("{}/conformance/oauth2/v2.0/token", server.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "conformance"),
            ("client_secret", "conformance"),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client = Client {
        http,
        base: server.url().to_string(),
        token: token["access_token"].as_str().unwrap().to_string(),
    };
    let outcomes: Vec<(usize, Result<Outcome, String>)> = stream::iter(samples.iter().enumerate())
        .map(|(i, s)| {
            let c = client.clone();
            async move { (i, run_sample(&c, i, s).await) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let ran = started.elapsed();
    // Per provider: deployed, refused as Azure refuses them, eligible.
    let mut by_provider: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut failures = BTreeMap::new();
    let mut refused = BTreeMap::new();
    for (i, outcome) in &outcomes {
        let s = &samples[*i];
        for p in providers_of(&s.template) {
            let row = by_provider.entry(p).or_default();
            row.2 += 1;
            match outcome {
                Ok(Outcome::Deployed) => row.0 += 1,
                Ok(Outcome::RefusedAsAzureDoes(_)) => row.1 += 1,
                Err(_) => {}
            }
        }
        match outcome {
            Err(e) => {
                failures.insert(s.name.clone(), e.clone());
            }
            Ok(Outcome::RefusedAsAzureDoes(why)) => {
                refused.insert(s.name.clone(), why.clone());
            }
            Ok(Outcome::Deployed) => {}
        }
    }
    let passed = samples.len() - failures.len();
    println!("| resource provider | deployed | refused as on Azure | eligible | as on Azure |\n| --- | --- | --- | --- | --- |");
    for (p, (ok, no, n)) in &by_provider {
        println!("| {p} | {ok} | {no} | {n} | {}% |", (ok + no) * 100 / n);
    }
    println!("\nrefused, as Azure refuses them:");
    for (name, why) in &refused {
        println!("- {name}: {why}");
    }
    println!("\nnot as Azure behaves:");
    for (name, why) in &failures {
        println!("- {name}: {why}");
    }
    println!("\nnot eligible:");
    for (name, why) in &ineligible {
        println!("- {name}: {why}");
    }
    println!(
        "\nconformance: {passed} of {} eligible samples behave as on Azure ({}%): {} deploy and what-if clean, {} are refused as Azure refuses them; {} of {} samples not eligible; loaded in {loaded:.1?}, deployed in {:.1?}",
        samples.len(),
        passed * 100 / samples.len().max(1),
        passed - refused.len(),
        refused.len(),
        ineligible.len(),
        dirs.len(),
        ran - loaded
    );
    assert!(
        failures.is_empty(),
        "{} of {} eligible samples do not behave as on Azure: {}",
        failures.len(),
        samples.len(),
        failures.keys().cloned().collect::<Vec<_>>().join(", ")
    );
}
