//! Stage 2, render: Tera templates → ARM JSON, one template and one parameters file per deployment.
//!
//! Contract: [`render`] takes a loaded blueprint and values and returns a [`Rendered`] whose every template is
//! valid JSON, in dependency order, deterministic (same inputs, same bytes) and hashed. Values placed in
//! `.json.tera` templates are JSON-escaped by construction (autoescape), not by a filter authors must remember.
//! [`write`] puts a rendering on disk (`<name>.json`, `<name>.parameters.json`, `render-manifest.json`) by
//! staging it beside the target folder and swapping it in, so the folder is either the old or the new output.
//!
//! The Tera context is the values tree at the top level, plus `blueprint` (`{name, version}`), `deployment`
//! (`{name, resource_group, location}`), `resource_groups` (deployment name → resource group) and `tags` (the
//! tags every taggable resource must carry). The manifest's `resourceGroup`, `location` and `when` are Tera too,
//! rendered over the same context without `deployment`.

pub use crate::model::{Rendered, RenderedDeployment};

use crate::blueprint::Blueprint;
use crate::hash::to_bytes;
use crate::model::{Scope, TrustRef};
use crate::values::{SecretRef, Values};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// What can stop a render. The crate's `Error` words each the same way and gives it the same exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The blueprint cannot be rendered as declared (a dependency cycle, a missing template).
    #[error("blueprint {source_desc}: {message}")]
    Blueprint {
        source_desc: String,
        message: String,
    },
    /// A Tera template (or a manifest snippet) failed to parse or render.
    #[error(
        "template {template}{}: {message}{}",
        line.map(|l| format!(":{l}")).unwrap_or_default(),
        trust.as_ref().map(|t| format!(" (rendering for {t})")).unwrap_or_default()
    )]
    Template {
        template: String,
        /// 1-based line in the template, when Tera or the offending name locates it.
        line: Option<usize>,
        /// `NAME (ODS)`; None for errors found before any trust is rendered (syntax errors).
        trust: Option<String>,
        /// Where the blueprint came from.
        blueprint: String,
        message: String,
    },
    /// A template rendered to text that is not JSON.
    #[error(
        "template {template} rendered invalid JSON at line {line}, column {column} (rendering for {trust}): \
         {message}\n  | {rendered_line}\n  | {:>width$}",
        "^",
        width = *column
    )]
    RenderedJson {
        template: String,
        line: usize,
        column: usize,
        trust: String,
        message: String,
        /// The rendered output's offending line.
        rendered_line: String,
    },
    /// The `--out` folder cannot be written as asked.
    #[error("output folder {}: {message}", path.display())]
    OutDir {
        path: std::path::PathBuf,
        message: String,
    },
    /// A bug in trustprint.
    #[error("internal error (a bug in trustprint, please report it): {message}")]
    Internal { message: String },
}

impl Error {
    /// The exit code this error ends the process with (as the crate's `Error` gives it).
    pub fn exit_code(&self) -> crate::types::ExitCode {
        use crate::types::ExitCode;
        match self {
            Error::Blueprint { .. } | Error::Template { .. } | Error::RenderedJson { .. } => {
                ExitCode::InvalidInput
            }
            Error::Io { .. } | Error::OutDir { .. } => ExitCode::Failure,
            Error::Internal { .. } => ExitCode::Internal,
        }
    }

    fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<crate::atomic::Error> for Error {
    fn from(e: crate::atomic::Error) -> Self {
        match e {
            crate::atomic::Error::Io { path, source } => Error::Io { path, source },
            crate::atomic::Error::OutDir { path, message } => Error::OutDir { path, message },
        }
    }
}

/// The `$schema` of every parameters file.
pub const PARAMETERS_SCHEMA: &str =
    "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#";

/// The file listing a rendering's deployments in dependency order, written beside them.
pub const MANIFEST_FILE: &str = "render-manifest.json";

/// Templates with this suffix are autoescaped with the JSON string escaper.
const AUTOESCAPE_SUFFIX: &str = ".json.tera";

/// The tag every taggable resource must carry when the values give no `data_classification`: NHS patient
/// systems hold OFFICIAL-SENSITIVE data (issue 3, point 7).
const DEFAULT_DATA_CLASSIFICATION: &str = "OFFICIAL-SENSITIVE";

/// Render every deployment of the trust.
pub fn render(loaded: &crate::load::Loaded) -> Result<Rendered, Error> {
    Renderer::new(&loaded.blueprint)?.render(&loaded.values)
}

/// A blueprint's templates, parsed once, ready to render any number of trusts (a fleet renders the same
/// blueprint for many trusts; parsing is most of the cost).
pub struct Renderer<'a> {
    blueprint: &'a Blueprint,
    tera: tera::Tera,
}

/// Names under which the manifest's own Tera snippets are registered; they cannot clash with template files,
/// whose names are paths.
fn manifest_template_name(deployment: &str, field: &str) -> String {
    format!("@manifest:deployments.{deployment}.{field}")
}

impl<'a> Renderer<'a> {
    /// Build the one Tera instance for a blueprint: every template, the manifest's `resourceGroup`, `location`
    /// and `when` snippets, the JSON autoescape and the filters of docs/architecture.md.
    pub fn new(blueprint: &'a Blueprint) -> Result<Self, Error> {
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![AUTOESCAPE_SUFFIX]);
        tera.set_escape_fn(json_escape);
        filters::register(&mut tera);

        let mut sources: Vec<(String, String)> = blueprint.templates.clone();
        for d in &blueprint.manifest.deployments {
            if let Some(rg) = &d.resource_group {
                sources.push((manifest_template_name(&d.name, "resourceGroup"), rg.clone()));
            }
            let location = d.location.as_deref().unwrap_or("{{ azure.location }}");
            sources.push((
                manifest_template_name(&d.name, "location"),
                location.to_string(),
            ));
            if let Some(when) = &d.when {
                sources.push((
                    manifest_template_name(&d.name, "when"),
                    format!("{{% if {when} %}}true{{% else %}}false{{% endif %}}"),
                ));
            }
        }
        // All at once: templates import macros from and extend one another, in any order.
        if let Err(e) = add_templates(&mut tera, &sources) {
            let name = failing_template(&e, &sources).unwrap_or_else(|| "(templates)".into());
            let text = sources
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.as_str())
                .unwrap_or("");
            return Err(template_error(blueprint, &name, text, None, &e));
        }
        Ok(Renderer { blueprint, tera })
    }

    /// Render one trust.
    pub fn render(&self, values: &Values) -> Result<Rendered, Error> {
        let trust = values.trust();
        let manifest = &self.blueprint.manifest;
        let mut ctx = base_context(self.blueprint, values)?;

        // Which deployments take part, and where; all before any template, because templates may refer to
        // every deployment's resource group.
        struct Placed<'m> {
            spec: &'m crate::blueprint::Deployment,
            resource_group: Option<String>,
            location: String,
        }
        let mut placed: Vec<Placed> = Vec::new();
        for d in &manifest.deployments {
            if d.when.is_some() {
                let on = self.snippet(&d.name, "when", &ctx, &trust)?;
                if on.trim() != "true" {
                    tracing::debug!(deployment = %d.name, "left out: `when` is false");
                    continue;
                }
            }
            let resource_group = match &d.resource_group {
                Some(_) => Some(self.snippet(&d.name, "resourceGroup", &ctx, &trust)?),
                None => None,
            };
            let location = self.snippet(&d.name, "location", &ctx, &trust)?;
            placed.push(Placed {
                spec: d,
                resource_group,
                location,
            });
        }
        let resource_groups: Map<String, Value> = placed
            .iter()
            .filter_map(|p| {
                p.resource_group
                    .as_ref()
                    .map(|rg| (p.spec.name.clone(), Value::String(rg.clone())))
            })
            .collect();
        ctx.insert("resource_groups", &resource_groups);

        let order = topological_order(
            &placed
                .iter()
                .map(|p| (p.spec.name.as_str(), p.spec.depends_on.as_slice()))
                .collect::<Vec<_>>(),
            self.blueprint,
        )?;

        // Each deployment renders from the same context plus its own `deployment`, so they render over the
        // machine's cores, the largest templates first; the first error in deployment order is the one reported,
        // as one by one.
        let size = |i: &usize| {
            let name = &placed[*i].spec.template;
            let source = self.blueprint.templates.iter().find(|(n, _)| n == name);
            source.map_or(0, |(_, text)| text.len())
        };
        let rendered = crate::par::map(&order, size, |&i| {
            let p = &placed[i];
            let d = p.spec;
            let mut ctx = ctx.clone();
            ctx.insert(
                "deployment",
                &json!({
                    "name": d.name,
                    "resource_group": p.resource_group,
                    "location": p.location,
                }),
            );
            let text = self.tera.render(&d.template, &ctx).map_err(|e| {
                let source = self
                    .blueprint
                    .templates
                    .iter()
                    .find(|(n, _)| n == &d.template)
                    .map(|(_, t)| t.as_str())
                    .unwrap_or("");
                template_error(self.blueprint, &d.template, source, Some(&trust), &e)
            })?;
            let template: Value = serde_json::from_str(&text)
                .map_err(|e| json_error(&d.template, &text, &trust, &e))?;
            let (parameters, secret_env) = parameters_file(d, values);
            let depends_on = d
                .depends_on
                .iter()
                .filter(|n| placed.iter().any(|p| &p.spec.name == *n))
                .cloned()
                .collect();
            let mut deployment = RenderedDeployment {
                name: d.name.clone(),
                scope: d.scope,
                resource_group: p.resource_group.clone(),
                location: p.location.clone(),
                template_path: d.template.clone(),
                template,
                parameters,
                secret_env,
                depends_on,
                hash: String::new(),
                stack: d.stack.as_ref().map(|st| {
                    st.resolve(|key| values.get(key).and_then(Value::as_str).map(str::to_owned))
                }),
            };
            deployment.hash = deployment_hash(&deployment);
            Ok(deployment)
        });
        let deployments = rendered.into_iter().collect::<Result<Vec<_>, Error>>()?;
        let hash = rendered_hash(&deployments);
        Ok(Rendered {
            trust,
            blueprint: self.blueprint.reference(),
            deployments,
            hash,
        })
    }

    fn snippet(
        &self,
        deployment: &str,
        field: &str,
        ctx: &tera::Context,
        trust: &TrustRef,
    ) -> Result<String, Error> {
        let name = manifest_template_name(deployment, field);
        self.tera
            .render(&name, ctx)
            .map(|s| s.trim().to_string())
            .map_err(|e| template_error(self.blueprint, &name, "", Some(trust), &e))
    }
}

/// `tera.add_raw_templates(sources)`, with the parsing (nearly all the cost of opening a blueprint) spread over
/// the machine's cores through Tera's public API: each worker parses its share of the templates into a Tera of
/// its own, with every template that some template imports or extends (found by [`library_names`]), so each
/// share stands alone; the shares are then merged with [`tera::Tera::extend`]. If any share fails, for any
/// reason, the sequential call runs instead, so an error is exactly the one `add_raw_templates` gives.
fn add_templates(tera: &mut tera::Tera, sources: &[(String, String)]) -> tera::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    add_templates_over(tera, sources, cores)
}

/// [`add_templates`] over at most `workers` threads.
fn add_templates_over(
    tera: &mut tera::Tera,
    sources: &[(String, String)],
    workers: usize,
) -> tera::Result<()> {
    let sequential = |tera: &mut tera::Tera| {
        tera.add_raw_templates(sources.iter().map(|(n, t)| (n.as_str(), t.as_str())))
    };
    let libraries = library_names(sources);
    type Sources<'s> = Vec<&'s (String, String)>;
    let (shared, own): (Sources, Sources) = sources
        .iter()
        .partition(|(name, _)| libraries.contains(name.as_str()));
    let workers = workers.min(own.len());
    if workers <= 1 {
        return sequential(tera);
    }
    // Parsing time follows size: largest first, each to the least loaded share.
    let mut by_size = own;
    by_size.sort_by_key(|(_, text)| std::cmp::Reverse(text.len()));
    let mut shares: Vec<(usize, Sources)> = vec![(0, shared.clone()); workers];
    for source in by_size {
        if let Some(share) = shares.iter_mut().min_by_key(|(load, _)| *load) {
            share.0 += source.1.len();
            share.1.push(source);
        }
    }
    let parse = |share: &[&(String, String)]| {
        let mut part = tera::Tera::default();
        part.add_raw_templates(share.iter().map(|(n, t)| (n.as_str(), t.as_str())))
            .map(|()| part)
    };
    // This thread parses the first share straight into `tera`; the others come in through `extend`, which
    // copies their templates.
    let (mine, theirs) = shares.split_at(1);
    let (own_result, parts) = std::thread::scope(|scope| {
        let handles: Vec<_> = theirs
            .iter()
            .map(|(_, share)| scope.spawn(move || parse(share)))
            .collect();
        let own_result =
            tera.add_raw_templates(mine[0].1.iter().map(|(n, t)| (n.as_str(), t.as_str())));
        // A worker only panics on a bug in Tera: pass it on.
        let parts: Vec<tera::Result<tera::Tera>> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        (own_result, parts)
    });
    if own_result.is_err() || parts.iter().any(Result::is_err) {
        return sequential(tera);
    }
    for part in parts.into_iter().flatten() {
        tera.extend(&part)?;
    }
    Ok(())
}

/// Names of the templates that other templates `import` or `extend`: every share of a parallel parse needs
/// them. A name this scan misses only costs the fall-back to sequential parsing in [`add_templates`].
fn library_names(sources: &[(String, String)]) -> std::collections::HashSet<&str> {
    let mut names = std::collections::HashSet::new();
    for (_, text) in sources {
        for keyword in ["import", "extends"] {
            for (at, _) in text.match_indices(keyword) {
                let rest = text[at + keyword.len()..].trim_start();
                let Some(quote) = rest
                    .chars()
                    .next()
                    .filter(|c| matches!(c, '"' | '\'' | '`'))
                else {
                    continue;
                };
                if let Some(end) = rest[1..].find(quote) {
                    if let Some((name, _)) = sources.iter().find(|(n, _)| *n == rest[1..=end]) {
                        names.insert(name.as_str());
                    }
                }
            }
        }
    }
    names
}

/// The context every template and snippet sees: values at the top level, `blueprint` and `tags`.
fn base_context(blueprint: &Blueprint, values: &Values) -> Result<tera::Context, Error> {
    let tree = match &values.tree {
        Value::Object(_) => values.tree.clone(),
        Value::Null => Value::Object(Map::new()),
        other => {
            return Err(Error::Internal {
                message: format!("values tree is not an object: {other}"),
            })
        }
    };
    let mut ctx = tera::Context::from_value(tree).map_err(|e| Error::Internal {
        message: format!("values tree as Tera context: {e}"),
    })?;
    let manifest = &blueprint.manifest;
    ctx.insert(
        "blueprint",
        &json!({"name": manifest.name, "version": manifest.version.to_string()}),
    );
    ctx.insert("tags", &required_tags(blueprint, values));
    Ok(ctx)
}

/// The tags every taggable resource carries: a values file's own `tags` object, then the required ones
/// (which win, so a values file cannot mislabel a resource's trust or blueprint).
pub fn required_tags(blueprint: &Blueprint, values: &Values) -> Map<String, Value> {
    let mut tags = values
        .get("tags")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let trust = values.trust();
    let s = |v: &str| Value::String(v.to_string());
    tags.insert("ods-code".into(), s(&trust.ods_code));
    tags.insert("trust".into(), s(&trust.name));
    tags.insert("blueprint".into(), s(&blueprint.manifest.name));
    tags.insert(
        "blueprint-version".into(),
        s(&blueprint.manifest.version.to_string()),
    );
    let classification = values
        .get("data_classification")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_DATA_CLASSIFICATION);
    tags.insert("data-classification".into(), s(classification));
    // No default for the cost centre: a missing one is for the tags guardrail to report, not to invent.
    if let Some(cc) = values.get("cost_centre").and_then(Value::as_str) {
        tags.insert("cost-centre".into(), s(cc));
    }
    tags
}

/// The ARM parameters file for a deployment, and the parameters whose secret comes from the environment.
fn parameters_file(
    d: &crate::blueprint::Deployment,
    values: &Values,
) -> (Value, BTreeMap<String, String>) {
    let mut params = Map::new();
    let mut secret_env = BTreeMap::new();
    for (arm_name, key) in &d.parameters {
        if let Some(secret) = values.secrets.get(key) {
            match secret {
                SecretRef::Env(var) => {
                    secret_env.insert(arm_name.clone(), var.clone());
                }
                SecretRef::KeyVault {
                    vault_id,
                    secret_name,
                    secret_version,
                } => {
                    let mut reference = json!({
                        "keyVault": {"id": vault_id},
                        "secretName": secret_name,
                    });
                    if let Some(v) = secret_version {
                        reference["secretVersion"] = Value::String(v.clone());
                    }
                    params.insert(arm_name.clone(), json!({ "reference": reference }));
                }
            }
        } else if let Some(v) = values.get(key).filter(|v| !v.is_null()) {
            params.insert(arm_name.clone(), json!({ "value": v }));
        }
        // An optional parameter without a value is left out so the template's own defaultValue applies.
    }
    let file = json!({
        "$schema": PARAMETERS_SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": params,
    });
    (file, secret_env)
}

/// The hash of the two files' bytes ([`to_bytes`] of template and parameters), fed to the hasher as they are
/// serialised rather than built in memory first.
fn deployment_hash(d: &RenderedDeployment) -> String {
    let mut h = Sha256::new();
    {
        let mut w = std::io::BufWriter::with_capacity(16 * 1024, &mut h);
        for v in [&d.template, &d.parameters] {
            // Writing to a hasher cannot fail, and serialising a Value cannot either (all keys are strings).
            let _ = serde_json::to_writer_pretty(&mut w, v);
            let _ = std::io::Write::write_all(&mut w, b"\n");
        }
        let _ = std::io::Write::flush(&mut w);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn rendered_hash(deployments: &[RenderedDeployment]) -> String {
    let joined: String = deployments
        .iter()
        .map(|d| format!("{}\n", d.hash))
        .collect();
    crate::hash::sha256(&[joined.as_bytes()])
}

/// Kahn's algorithm over the taking-part deployments; among those ready at once, manifest order wins, so the
/// order is stable. Dependencies on deployments left out by `when` are dropped.
fn topological_order(
    nodes: &[(&str, &[String])],
    blueprint: &Blueprint,
) -> Result<Vec<usize>, Error> {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (*n, i))
        .collect();
    let mut pending: Vec<usize> = vec![0; nodes.len()];
    for (i, (_, deps)) in nodes.iter().enumerate() {
        pending[i] = deps
            .iter()
            .filter(|d| index.contains_key(d.as_str()))
            .count();
    }
    let mut done = vec![false; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    while order.len() < nodes.len() {
        let Some(next) = (0..nodes.len()).find(|&i| !done[i] && pending[i] == 0) else {
            let stuck: Vec<&str> = (0..nodes.len())
                .filter(|&i| !done[i])
                .map(|i| nodes[i].0)
                .collect();
            return Err(Error::Blueprint {
                source_desc: blueprint.source.clone(),
                message: format!(
                    "deployments depend on each other in a cycle: {}",
                    stuck.join(", ")
                ),
            });
        };
        done[next] = true;
        order.push(next);
        let name = nodes[next].0;
        for (i, (_, deps)) in nodes.iter().enumerate() {
            if deps.iter().any(|d| d == name) {
                pending[i] -= 1;
            }
        }
    }
    Ok(order)
}

/// The JSON string escaper used as Tera's autoescape: the text between the quotes of a JSON string.
pub fn json_escape(input: &str) -> String {
    let quoted = serde_json::to_string(input).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_string()
}

/// Turn a Tera error into one naming the template, its line where it can be found, and the trust.
fn template_error(
    blueprint: &Blueprint,
    template: &str,
    source: &str,
    trust: Option<&TrustRef>,
    err: &tera::Error,
) -> Error {
    // Tera nests the real cause several levels down; keep each distinct message once.
    let mut chain: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let msg = e.to_string();
        if !chain.iter().any(|m| m.contains(msg.trim())) {
            chain.push(msg);
        }
        cur = e.source();
    }
    let mut line = None;
    let mut message_parts = Vec::new();
    for m in &chain {
        // Parse errors carry ` --> line:col` in a pest excerpt.
        if let Some(pos) = m.find("--> ") {
            let rest = &m[pos + 4..];
            line = rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok());
        }
        if m.starts_with("Failed to parse") || m.starts_with("Failed to render") {
            continue;
        }
        let m = m.trim_end();
        if m.starts_with("-->") {
            message_parts.push(format!("syntax error\n  {m}"));
        } else {
            message_parts.push(m.to_string());
        }
    }
    // Render errors do not say where; find the first line that mentions what the error names.
    if line.is_none() {
        line = message_parts
            .iter()
            .flat_map(|m| quoted_names(m))
            .filter(|n| n != template)
            .find_map(|n| find_line(source, &n));
    }
    let message = if message_parts.is_empty() {
        chain.join(": ")
    } else {
        message_parts.join(": ")
    };
    Error::Template {
        template: template.to_string(),
        line,
        trust: trust.map(trust_label),
        blueprint: blueprint.source.clone(),
        message,
    }
}

/// Which template a Tera loading error is about: `Failed to parse 'x'`, or the first template named in it.
fn failing_template(err: &tera::Error, sources: &[(String, String)]) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let msg = e.to_string();
        if let Some(rest) = msg.strip_prefix("Failed to parse '") {
            if let Some(end) = rest.find('\'') {
                return Some(rest[..end].to_string());
            }
        }
        if let Some(n) = quoted_names(&msg)
            .into_iter()
            .find(|n| sources.iter().any(|(s, _)| s == n))
        {
            return Some(n);
        }
        cur = e.source();
    }
    None
}

/// Names quoted with backticks or single quotes in a Tera message (`Variable `x.y` not found`).
fn quoted_names(message: &str) -> Vec<String> {
    let mut names = Vec::new();
    for q in ['`', '\''] {
        let mut parts = message.split(q);
        parts.next();
        while let Some(inside) = parts.next() {
            if !inside.is_empty() && !inside.contains(' ') {
                names.push(inside.to_string());
            }
            parts.next();
        }
    }
    names
}

/// The first 1-based line inside a Tera tag (`{{ }}` or `{% %}`) mentioning `needle`, else any line.
fn find_line(source: &str, needle: &str) -> Option<usize> {
    let in_tag = source
        .lines()
        .position(|l| (l.contains("{{") || l.contains("{%")) && l.contains(needle));
    in_tag
        .or_else(|| source.lines().position(|l| l.contains(needle)))
        .map(|i| i + 1)
}

fn trust_label(trust: &TrustRef) -> String {
    format!("{} ({})", trust.name, trust.ods_code)
}

fn json_error(template: &str, text: &str, trust: &TrustRef, err: &serde_json::Error) -> Error {
    let line = err.line();
    let column = err.column();
    let rendered_line = text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or("")
        .to_string();
    let message = err.to_string();
    // serde_json appends " at line L column C"; the variant says it once.
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    Error::RenderedJson {
        template: template.to_string(),
        line,
        column,
        trust: trust_label(trust),
        message,
        rendered_line,
    }
}

/// The files of a rendering, by name, with the exact bytes [`write`] puts on disk (the fleet record stores the
/// same files): per deployment `<name>.json` and `<name>.parameters.json`, then [`MANIFEST_FILE`].
pub fn files(rendered: &Rendered) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::with_capacity(rendered.deployments.len() * 2 + 1);
    for d in &rendered.deployments {
        let [template_file, parameters_file] = deployment_files(d);
        out.push((template_file, to_bytes(&d.template)));
        out.push((parameters_file, to_bytes(&d.parameters)));
    }
    out.push((MANIFEST_FILE.to_string(), manifest_bytes(rendered)));
    out
}

/// The names of a deployment's two files in the rendered folder: its template and its parameters file.
pub fn deployment_files(d: &RenderedDeployment) -> [String; 2] {
    [
        format!("{}.json", d.name),
        format!("{}.parameters.json", d.name),
    ]
}

/// The render manifest's bytes ([`MANIFEST_FILE`]): the trust, the blueprint, every deployment's place, files
/// and `hash` (of its two files' bytes), and the rendering's hash. Equal manifests mean equal files.
pub fn manifest_bytes(rendered: &Rendered) -> Vec<u8> {
    let listed: Vec<Value> = rendered
        .deployments
        .iter()
        .map(|d| {
            let [template_file, parameters_file] = deployment_files(d);
            let mut entry = json!({
                "name": d.name,
                "scope": d.scope,
            });
            if let Some(rg) = &d.resource_group {
                entry["resourceGroup"] = Value::String(rg.clone());
            }
            entry["location"] = Value::String(d.location.clone());
            entry["template"] = Value::String(template_file);
            entry["parameters"] = Value::String(parameters_file);
            entry["source"] = Value::String(d.template_path.clone());
            entry["dependsOn"] = json!(d.depends_on);
            if !d.secret_env.is_empty() {
                entry["secretEnv"] = json!(d.secret_env);
            }
            entry["hash"] = Value::String(d.hash.clone());
            if let Some(stack) = &d.stack {
                entry["stack"] = json!(stack);
            }
            entry
        })
        .collect();
    let manifest = json!({
        "trust": {"name": rendered.trust.name, "odsCode": rendered.trust.ods_code},
        "blueprint": rendered.blueprint,
        "hash": rendered.hash,
        "deployments": listed,
    });
    to_bytes(&manifest)
}

/// Scope as written in the render manifest (`subscription`, `resourceGroup`).
pub fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Subscription => "subscription",
        Scope::ResourceGroup => "resourceGroup",
    }
}

/// Write a rendering to `dir`, replacing what is there. The files are staged in a temporary folder beside
/// `dir` and swapped in with renames, so `dir` holds either the previous output or the complete new one.
/// A non-empty `dir` is replaced only when it is exactly an earlier render's output ([`check_replaceable`]),
/// so a mistyped `--out .` (or a folder holding a forged `render-manifest.json`) cannot delete anyone's files.
pub fn write(dir: &Path, rendered: &Rendered) -> Result<(), Error> {
    check_replaceable(dir)?;
    Ok(crate::atomic::write_files(dir, &files(rendered))?)
}

/// Refuse to replace `dir` unless it is missing, empty, or holds exactly the files its
/// `render-manifest.json` lists, each pair of deployment files with the hash the manifest gives it; the
/// error names the first file that is not so.
pub fn check_replaceable(dir: &Path) -> Result<(), Error> {
    let refuse = |message: String| Error::OutDir {
        path: dir.to_path_buf(),
        message,
    };
    let mut on_disk = Vec::new();
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => list_dir(dir, "", &mut on_disk)?,
        Ok(_) => return Err(refuse("it exists and is not a folder".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    }
    if on_disk.is_empty() {
        return Ok(());
    }
    let Ok(manifest_text) = std::fs::read(dir.join(MANIFEST_FILE)) else {
        return Err(refuse(format!(
            "it is not empty and holds no {MANIFEST_FILE}, so it is not an earlier render output; refusing to \
             replace it"
        )));
    };
    let not_ours = |why: String| {
        refuse(format!(
            "{why}, so it is not exactly an earlier render output; refusing to replace it (move the file \
             away, or render into a new folder)"
        ))
    };
    let manifest: Value = serde_json::from_slice(&manifest_text)
        .map_err(|e| not_ours(format!("{MANIFEST_FILE} is not a render manifest ({e})")))?;
    let mut listed: BTreeMap<String, ()> = BTreeMap::new();
    listed.insert(MANIFEST_FILE.to_string(), ());
    let deployments = manifest
        .get("deployments")
        .and_then(Value::as_array)
        .ok_or_else(|| not_ours(format!("{MANIFEST_FILE} lists no deployments")))?;
    for d in deployments {
        let field = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default();
        let (template, parameters, hash) = (field("template"), field("parameters"), field("hash"));
        let mut bytes = Vec::new();
        for f in [template, parameters] {
            let b = std::fs::read(dir.join(f))
                .map_err(|_| not_ours(format!("{f}, listed in {MANIFEST_FILE}, is missing")))?;
            bytes.extend(b);
            listed.insert(f.to_string(), ());
        }
        if crate::hash::hash_bytes(&bytes) != hash {
            return Err(not_ours(format!(
                "{template} or {parameters} has changed since it was rendered (its hash is not the one in \
                 {MANIFEST_FILE})"
            )));
        }
    }
    match on_disk.iter().find(|f| !listed.contains_key(f.as_str())) {
        Some(extra) => Err(not_ours(format!(
            "it holds {extra}, which {MANIFEST_FILE} does not list"
        ))),
        None => Ok(()),
    }
}

/// Every entry under `dir`, relative and `/` separated; a folder is listed as `name/` when empty or as its
/// files, and a symbolic link as itself (never followed).
fn list_dir(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut names: Vec<_> = entries
        .map(|e| e.map_err(|e| Error::io(dir, e)))
        .collect::<Result<_, _>>()?;
    names.sort_by_key(std::fs::DirEntry::file_name);
    for e in names {
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        let kind = e.file_type().map_err(|err| Error::io(e.path(), err))?;
        if kind.is_dir() {
            let before = out.len();
            list_dir(&e.path(), &format!("{name}/"), out)?;
            if out.len() == before {
                out.push(format!("{name}/"));
            }
        } else {
            out.push(name);
        }
    }
    Ok(())
}

/// The filters of docs/architecture.md, registered in one place.
mod filters {
    use ipnet::Ipv4Net;
    use serde_json::Value;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;
    use tera::{Error, Result};

    pub(super) fn register(tera: &mut tera::Tera) {
        tera.register_filter("region_short", region_short);
        tera.register_filter("paired_region", paired_region);
        tera.register_filter("cidr_subnet", cidr_subnet);
        tera.register_filter("cidr_host", cidr_host);
        tera.register_filter("alnum", alnum);
        tera.register_filter("max_len", max_len);
    }

    /// Azure regions trustprint knows the short form and pair of (UK residency first).
    const REGIONS: &[(&str, &str, &str)] = &[
        ("uksouth", "uks", "ukwest"),
        ("ukwest", "ukw", "uksouth"),
        ("northeurope", "neu", "westeurope"),
        ("westeurope", "weu", "northeurope"),
    ];

    fn str_arg<'v>(filter: &str, value: &'v Value) -> Result<&'v str> {
        value
            .as_str()
            .ok_or_else(|| Error::msg(format!("filter `{filter}` expects a string, got {value}")))
    }

    fn int_arg(filter: &str, args: &HashMap<String, Value>, name: &str) -> Result<u64> {
        args.get(name).and_then(Value::as_u64).ok_or_else(|| {
            Error::msg(format!(
                "filter `{filter}` needs `{name}=N`, a whole number 0 or more"
            ))
        })
    }

    fn region<'r>(
        filter: &str,
        value: &Value,
    ) -> Result<&'r (&'static str, &'static str, &'static str)> {
        let name = str_arg(filter, value)?;
        REGIONS.iter().find(|r| r.0 == name).ok_or_else(|| {
            let known: Vec<&str> = REGIONS.iter().map(|r| r.0).collect();
            Error::msg(format!(
                "filter `{filter}`: unknown region {name:?}, expected one of {}",
                known.join(", ")
            ))
        })
    }

    fn region_short(value: &Value, _: &HashMap<String, Value>) -> Result<Value> {
        Ok(Value::String(region("region_short", value)?.1.into()))
    }

    fn paired_region(value: &Value, _: &HashMap<String, Value>) -> Result<Value> {
        Ok(Value::String(region("paired_region", value)?.2.into()))
    }

    fn prefix(filter: &str, value: &Value) -> Result<Ipv4Net> {
        let s = str_arg(filter, value)?;
        s.parse::<Ipv4Net>().map_err(|_| {
            Error::msg(format!(
                "filter `{filter}`: {s:?} is not an IPv4 prefix such as 10.20.0.0/16"
            ))
        })
    }

    /// As terraform's `cidrsubnet(prefix, newbits, netnum)`.
    fn cidr_subnet(value: &Value, args: &HashMap<String, Value>) -> Result<Value> {
        let net = prefix("cidr_subnet", value)?.trunc();
        let newbits = int_arg("cidr_subnet", args, "newbits")?;
        let netnum = int_arg("cidr_subnet", args, "netnum")?;
        let len = u64::from(net.prefix_len()) + newbits;
        if len > 32 {
            return Err(Error::msg(format!(
                "filter `cidr_subnet`: {net} has no room for {newbits} more bits"
            )));
        }
        if netnum >= 1u64 << newbits {
            return Err(Error::msg(format!(
                "filter `cidr_subnet`: netnum {netnum} does not fit in {newbits} bits of {net}"
            )));
        }
        let base = u64::from(u32::from(net.network()));
        let addr = base + (netnum << (32 - len));
        let addr =
            Ipv4Addr::from(u32::try_from(addr).map_err(|_| Error::msg("cidr_subnet overflow"))?);
        Ok(Value::String(format!("{addr}/{len}")))
    }

    /// As terraform's `cidrhost(prefix, hostnum)`: the address, without a prefix length.
    fn cidr_host(value: &Value, args: &HashMap<String, Value>) -> Result<Value> {
        let net = prefix("cidr_host", value)?.trunc();
        let hostnum = int_arg("cidr_host", args, "hostnum")?;
        let host_bits = 32 - u32::from(net.prefix_len());
        if host_bits < 64 && hostnum >= 1u64 << host_bits {
            return Err(Error::msg(format!(
                "filter `cidr_host`: host {hostnum} is outside {net}"
            )));
        }
        let addr = u64::from(u32::from(net.network())) + hostnum;
        let addr =
            Ipv4Addr::from(u32::try_from(addr).map_err(|_| Error::msg("cidr_host overflow"))?);
        Ok(Value::String(addr.to_string()))
    }

    fn alnum(value: &Value, _: &HashMap<String, Value>) -> Result<Value> {
        let s = str_arg("alnum", value)?;
        Ok(Value::String(
            s.chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .collect(),
        ))
    }

    fn max_len(value: &Value, args: &HashMap<String, Value>) -> Result<Value> {
        let s = str_arg("max_len", value)?;
        let n = usize::try_from(int_arg("max_len", args, "n")?).unwrap_or(usize::MAX);
        Ok(Value::String(s.chars().take(n).collect()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::blueprint::Manifest;
    use crate::load::Loaded;

    const MANIFEST: &str = r#"
apiVersion: trustprint/v1
name: test-bp
version: 1.2.3
description: test
exemplar: { trust: EXEMPLAR TRUST, odsCode: RM3 }
parameters:
  trust.name: { type: string, description: name }
  trust.ods_code: { type: ods-code, description: code }
  azure.location: { type: azure-region, description: region, default: uksouth }
  sql.admin_password: { type: secret, description: pw }
  vm.admin_password: { type: secret, description: pw }
  cost_centre: { type: string, description: cc }
deployments:
  - name: workload
    scope: resourceGroup
    resourceGroup: "rg-{{ trust.ods_code | lower }}-{{ azure.location | region_short }}-epr"
    template: workload.json.tera
    dependsOn: [base]
    parameters:
      sqlAdminPassword: sql.admin_password
      vmAdminPassword: vm.admin_password
      trustName: trust.name
  - name: base
    scope: subscription
    template: base.json.tera
  - name: optional
    scope: subscription
    template: base.json.tera
    when: "trust.ods_code == 'ZZZ'"
"#;

    const BASE: &str = r#"{
  "$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "resources": [],
  "outputs": { "name": { "type": "string", "value": "{{ trust.name }}" } },
  "tags": {{ tags | json_encode | safe }},
  "rg": "{{ resource_groups.workload }}"
}"#;

    const WORKLOAD: &str = r#"{
  "contentVersion": "1.0.0.0",
  "parameters": { "sqlAdminPassword": { "type": "securestring" } },
  "variables": {
    "vnet": "{{ '10.20.0.0/16' | cidr_subnet(newbits=8, netnum=3) }}",
    "host": "{{ '10.20.0.0/16' | cidr_host(hostnum=260) }}",
    {% set st = 'st' ~ trust.ods_code ~ 'uks-EPR!' %}"st": "{{ st | alnum | max_len(n=8) }}",
    "pair": "{{ deployment.location | paired_region }}",
    "rg": "{{ deployment.resource_group }}"
  },
  "resources": []
}"#;

    pub(crate) fn loaded(name: &str, templates: &[(&str, &str)]) -> Loaded {
        let manifest: Manifest = serde_yaml::from_str(MANIFEST).expect("test manifest");
        let blueprint = Blueprint {
            manifest,
            source: "tests".into(),
            commit: None,
            manifest_file: "blueprint.yaml".into(),
            manifest_text: MANIFEST.into(),
            templates: templates
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
        };
        let mut secrets = BTreeMap::new();
        secrets.insert(
            "sql.admin_password".into(),
            SecretRef::KeyVault {
                vault_id:
                    "/subscriptions/x/resourceGroups/y/providers/Microsoft.KeyVault/vaults/kv"
                        .into(),
                secret_name: "sql-admin".into(),
                secret_version: None,
            },
        );
        secrets.insert("vm.admin_password".into(), SecretRef::Env("VM_PW".into()));
        let values = Values {
            file: "values.yaml".into(),
            text: String::new(),
            tree: json!({
                "trust": {"name": name, "ods_code": "RM3"},
                "azure": {"location": "uksouth"},
                "cost_centre": "IT-1",
            }),
            secrets,
        };
        Loaded {
            blueprint: std::sync::Arc::new(blueprint),
            values,
        }
    }

    pub(crate) fn standard(name: &str) -> Loaded {
        loaded(
            name,
            &[("base.json.tera", BASE), ("workload.json.tera", WORKLOAD)],
        )
    }

    #[test]
    fn injection_strings_round_trip_exactly() {
        let name =
            "GUY'S AND ST THOMAS' \"Trust\" {{x}} </script>\nline two\t\u{e9}\u{2603} \\ end";
        let r = render(&standard(name)).expect("renders");
        let base = r.deployments.iter().find(|d| d.name == "base").unwrap();
        assert_eq!(base.template["outputs"]["name"]["value"], json!(name));
        assert_eq!(base.template["tags"]["trust"], json!(name));
        let workload = r.deployments.iter().find(|d| d.name == "workload").unwrap();
        assert_eq!(
            workload.parameters["parameters"]["trustName"]["value"],
            json!(name)
        );
    }

    #[test]
    fn dependency_order_filters_context_and_when() {
        let r = render(&standard("A TRUST")).expect("renders");
        let names: Vec<&str> = r.deployments.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["base", "workload"]);
        let w = &r.deployments[1];
        assert_eq!(w.resource_group.as_deref(), Some("rg-rm3-uks-epr"));
        assert_eq!(w.scope, Scope::ResourceGroup);
        assert_eq!(
            w.template["variables"],
            json!({
                "vnet": "10.20.3.0/24",
                "host": "10.20.1.4",
                "st": "strm3uks",
                "pair": "ukwest",
                "rg": "rg-rm3-uks-epr",
            })
        );
        assert_eq!(r.deployments[0].template["rg"], json!("rg-rm3-uks-epr"));
        assert_eq!(
            r.deployments[0].template["tags"],
            json!({
                "ods-code": "RM3",
                "trust": "A TRUST",
                "blueprint": "test-bp",
                "blueprint-version": "1.2.3",
                "data-classification": "OFFICIAL-SENSITIVE",
                "cost-centre": "IT-1",
            })
        );
    }

    #[test]
    fn parameters_file_holds_references_never_secret_values() {
        let r = render(&standard("A TRUST")).expect("renders");
        let w = &r.deployments[1];
        assert_eq!(
            w.parameters,
            json!({
                "$schema": PARAMETERS_SCHEMA,
                "contentVersion": "1.0.0.0",
                "parameters": {
                    "sqlAdminPassword": {"reference": {
                        "keyVault": {"id": "/subscriptions/x/resourceGroups/y/providers/Microsoft.KeyVault/vaults/kv"},
                        "secretName": "sql-admin",
                    }},
                    "trustName": {"value": "A TRUST"},
                }
            })
        );
        assert_eq!(
            w.secret_env.get("vmAdminPassword").map(String::as_str),
            Some("VM_PW")
        );
    }

    #[test]
    fn deterministic_bytes_and_hashes() {
        let a = render(&standard("A TRUST")).unwrap();
        let b = render(&standard("A TRUST")).unwrap();
        assert_eq!(files(&a), files(&b));
        assert_eq!(a.hash, b.hash);
        assert!(a.hash.starts_with("sha256:") && a.hash.len() == 7 + 64);
        let c = render(&standard("ANOTHER TRUST")).unwrap();
        assert_ne!(a.hash, c.hash);
        let (_, bytes) = &files(&a)[0];
        assert!(bytes.ends_with(b"}\n") && bytes.starts_with(b"{\n  \""));
    }

    #[test]
    fn deployment_hash_is_over_the_written_files_bytes() {
        let r = render(&standard("A TRUST")).unwrap();
        assert!(!r.deployments.is_empty());
        for d in &r.deployments {
            let expected = crate::hash::sha256(&[&to_bytes(&d.template), &to_bytes(&d.parameters)]);
            assert_eq!(d.hash, expected, "deployment {}", d.name);
        }
    }

    #[test]
    fn undefined_variable_names_template_line_and_trust() {
        let bad = "{\n  \"a\": 1,\n  \"b\": \"{{ trust.nme }}\"\n}";
        let l = loaded(
            "A TRUST",
            &[("base.json.tera", bad), ("workload.json.tera", WORKLOAD)],
        );
        let err = render(&l).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "template base.json.tera:3: Variable `trust.nme` not found in context"
            ),
            "{text}"
        );
        assert!(text.ends_with("(rendering for A TRUST (RM3))"), "{text}");
        assert_eq!(err.exit_code(), crate::types::ExitCode::InvalidInput);
    }

    fn error_chain(e: &dyn std::error::Error) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut cur = e.source();
        while let Some(inner) = cur {
            out.push(inner.to_string());
            cur = inner.source();
        }
        out
    }

    fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    }

    fn in_turn(sources: &[(String, String)]) -> tera::Result<tera::Tera> {
        let mut tera = tera::Tera::default();
        tera.add_raw_templates(sources.iter().map(|(n, t)| (n.as_str(), t.as_str())))
            .map(|()| tera)
    }

    #[test]
    fn parsing_over_threads_gives_what_parsing_in_turn_gives() {
        let good = owned(&[
            ("m.tera", "{% macro hi(n) %}hi {{ n }}{% endmacro %}"),
            ("a.tera", "{% import \"m.tera\" as m %}{{ m::hi(n=x) }} a"),
            (
                "b.tera",
                "{% extends 'base.tera' %}{% block x %}b{% endblock %}",
            ),
            ("base.tera", "[{% block x %}{% endblock %}]"),
            ("c.tera", "{% for i in [1, 2] %}{{ i }}{% endfor %}"),
            ("d.tera", "{% include \"c.tera\" %} and {{ x }}"),
        ]);
        assert_eq!(
            library_names(&good),
            ["m.tera", "base.tera"].into_iter().collect()
        );
        let seq = in_turn(&good).unwrap();
        let mut ctx = tera::Context::new();
        ctx.insert("x", "there");
        for workers in [1, 2, 3, 8] {
            let mut par = tera::Tera::default();
            add_templates_over(&mut par, &good, workers).unwrap();
            let mut names: Vec<&str> = par.get_template_names().collect();
            names.sort_unstable();
            assert_eq!(
                names,
                [
                    "a.tera",
                    "b.tera",
                    "base.tera",
                    "c.tera",
                    "d.tera",
                    "m.tera"
                ]
            );
            for (name, _) in &good {
                assert_eq!(
                    par.render(name, &ctx).unwrap(),
                    seq.render(name, &ctx).unwrap(),
                    "{name} over {workers} threads"
                );
            }
        }
    }

    #[test]
    fn parsing_over_threads_fails_as_parsing_in_turn_fails() {
        // Two broken templates: the first in source order is the one named, as in turn.
        let bad = owned(&[
            ("big.tera", &"x".repeat(10_000)),
            ("first-bad.tera", "{{ oops "),
            ("second-bad.tera", "{% if %}"),
            ("fine.tera", "ok"),
        ]);
        // A macro file that is missing.
        let missing = owned(&[
            ("a.tera", "{% import \"nope.tera\" as m %}{{ m::hi() }}"),
            ("b.tera", "b"),
        ]);
        // A child whose parent is missing.
        let orphan = owned(&[
            (
                "child.tera",
                "{% extends \"gone.tera\" %}{% block x %}{% endblock %}",
            ),
            ("c.tera", "c"),
        ]);
        for sources in [bad, missing, orphan] {
            let want = in_turn(&sources).err().unwrap();
            let got = add_templates_over(&mut tera::Tera::default(), &sources, 2)
                .err()
                .unwrap();
            assert_eq!(error_chain(&got), error_chain(&want));
        }
    }

    #[test]
    fn syntax_error_names_template_and_line() {
        let bad = "{\n  \"a\": {{ trust.name \n}";
        let l = loaded(
            "A TRUST",
            &[("base.json.tera", bad), ("workload.json.tera", WORKLOAD)],
        );
        let err = render(&l).unwrap_err();
        let Error::Template { template, line, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(template, "base.json.tera");
        assert_eq!(*line, Some(3), "{err}");
    }

    #[test]
    fn templates_import_macros_from_each_other_in_any_order() {
        let base =
            "{% import \"shared/m.json.tera\" as m %}{ \"n\": \"{{ m::name(s=trust.name) }}\" }";
        let macros = "{% macro name(s) %}x-{{ s }}{% endmacro name %}";
        let l = loaded(
            "A \"Q\"",
            &[
                ("base.json.tera", base),
                ("shared/m.json.tera", macros),
                ("workload.json.tera", WORKLOAD),
            ],
        );
        let r = render(&l).expect("renders");
        assert_eq!(r.deployments[0].template["n"], json!("x-A \"Q\""));

        let broken = "{% macro name(s) %}{{ s }{% endmacro name %}";
        let l = loaded(
            "T",
            &[
                ("base.json.tera", base),
                ("shared/m.json.tera", broken),
                ("workload.json.tera", WORKLOAD),
            ],
        );
        let err = render(&l).unwrap_err();
        let Error::Template { template, line, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(
            (template.as_str(), *line),
            ("shared/m.json.tera", Some(1)),
            "{err}"
        );
    }

    #[test]
    fn invalid_json_names_template_position_and_line() {
        let bad = "{\n  \"a\": {{ trust.name | safe }}\n}";
        let l = loaded(
            "A TRUST",
            &[("base.json.tera", bad), ("workload.json.tera", WORKLOAD)],
        );
        let err = render(&l).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template base.json.tera rendered invalid JSON at line 2, column 8 (rendering for A TRUST (RM3)): \
             expected value\n  |   \"a\": A TRUST\n  |        ^"
        );
    }

    #[test]
    fn filter_errors_are_clear() {
        let bad = "{ \"a\": \"{{ '10.0.0.0/30' | cidr_subnet(newbits=4, netnum=0) }}\" }";
        let l = loaded(
            "T",
            &[("base.json.tera", bad), ("workload.json.tera", WORKLOAD)],
        );
        let text = render(&l).unwrap_err().to_string();
        assert!(
            text.contains("filter `cidr_subnet`: 10.0.0.0/30 has no room for 4 more bits"),
            "{text}"
        );
    }

    #[test]
    fn write_swaps_atomically_and_refuses_foreign_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let r = render(&standard("A TRUST")).unwrap();
        write(&out, &r).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "base.json",
                "base.parameters.json",
                "render-manifest.json",
                "workload.json",
                "workload.parameters.json"
            ]
        );
        // A second write replaces the first, leaving nothing staged beside it.
        write(&out, &r).unwrap();
        let siblings: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(siblings.len(), 1);
        // A file the manifest does not list is not replaced (issue 18): the folder is refused whole.
        std::fs::write(out.join("stale.json"), "{}").unwrap();
        let err = write(&out, &r).unwrap_err();
        assert!(
            err.to_string()
                .contains("it holds stale.json, which render-manifest.json does not list"),
            "{err}"
        );
        assert!(out.join("stale.json").exists());

        let foreign = tmp.path().join("src");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("main.rs"), "fn main() {}").unwrap();
        let err = write(&foreign, &r).unwrap_err();
        assert!(err.to_string().contains("refusing to replace it"), "{err}");
        assert!(foreign.join("main.rs").exists());
    }

    #[test]
    fn dependency_cycle_is_a_blueprint_error() {
        let l = standard("T");
        let nodes: Vec<(&str, &[String])> = vec![
            ("a", &[]),
            ("b", std::slice::from_ref(&"c".to_string()).to_vec().leak()),
            ("c", std::slice::from_ref(&"b".to_string()).to_vec().leak()),
        ];
        let err = topological_order(&nodes, &l.blueprint).unwrap_err();
        assert_eq!(
            err.to_string(),
            "blueprint tests: deployments depend on each other in a cycle: b, c"
        );
    }
}
