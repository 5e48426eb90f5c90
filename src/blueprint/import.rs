//! `blueprint import`: an Azure Blueprint definition, as Microsoft's tools export it, becomes a trustprint
//! blueprint (manifest, templates and an example values file).
//!
//! Contract: [`import`] reads `blueprint.json` and one JSON file per artifact (`artifact.<name>.json` beside
//! it or `artifacts/<name>.json`; UTF-8 with or without a byte order mark) and an optional assignment export
//! (`assign.json`), and writes a new folder that `blueprint lint` accepts, or nothing at all: the files are
//! built in memory by [`translate`] (pure, deterministic: the same export always gives the same bytes), written
//! to a temporary folder beside the destination and renamed into place. Anything the import cannot translate
//! is an error naming the file, the artifact and the JSON path; nothing is dropped.
//!
//! The mapping (docs/migrating-from-blueprints.md):
//! - blueprint parameters → manifest parameters (type, default, allowed values, display name, description,
//!   `strongType` kept in the description as a hint), each passed to the templates that use it as an ARM
//!   parameter `bp_<key>`;
//! - resource group placeholders → deployments' `resourceGroup`/`location` (a literal or a missing name or
//!   location becomes a parameter `rg.<placeholder>.name`/`.location`, with the blueprint's value as default);
//! - `policyAssignment`, `roleAssignment` and `template` artifacts → one deployment each, at subscription scope
//!   or in their resource group, ordered by `dependsOn`;
//! - Blueprint expressions → ARM expressions computing the same values at deploy time (`parameters()` of the
//!   blueprint become the template's `bp_` parameters, `resourceGroups('x').name`/`.location` the placeholder's
//!   expression, `artifacts('x').outputs.y` a `reference()` of the nested deployment `bp-outputs-x` that
//!   template artifact `x` gains to publish its outputs under a name others can compute; `resourceGroup()`,
//!   `subscription()`, `concat()` and the rest are ARM's own);
//! - the assignment's lock mode → `locks` in the manifest and, unless `none`, every deployment a Deployment
//!   Stack whose deny settings enforce it (`AllResourcesReadOnly` → `denyWriteAndDelete`,
//!   `AllResourcesDoNotDelete` → `denyDelete`, over child scopes as a Blueprint's group lock covered them; the
//!   lock's excluded principals and actions kept, the deploying identity excluded as the Blueprint service's
//!   own identity was); guardrails → UK locations and the assigned initiatives.

use super::manifest::{
    DenySettings, Deployment, Exemplar, Guardrails, LockMode, Locks, Manifest, ParamType,
    Parameter, RuleSet, Stack, API_VERSION, DEPLOYER, MAX_EXCLUDED_ACTIONS,
    MAX_EXCLUDED_PRINCIPALS,
};
use super::Error;
use crate::armexpr::{self, Expr, Template};
use crate::model::Scope;
use indexmap::IndexMap;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SUB_SCHEMA: &str =
    "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#";
const RG_SCHEMA: &str =
    "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";
/// Regions an imported blueprint is held to, and the example region.
const UK: [&str; 2] = ["uksouth", "ukwest"];

/// What an import wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Imported {
    /// The new blueprint's name.
    pub name: String,
    /// The folder written.
    pub out: PathBuf,
    pub parameters: usize,
    pub deployments: usize,
    /// Every file written, relative to `out`, sorted.
    pub files: Vec<String>,
    /// The lock mode recorded (`none` when the export has no assignment).
    pub lock_mode: LockMode,
}

/// One JSON file of the export, parsed.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as shown in errors.
    pub file: String,
    pub json: Value,
}

/// A Blueprint definition as exported: the definition, its artifacts (sorted by file name) and an optional
/// assignment.
#[derive(Debug, Clone)]
pub struct Export {
    /// The export's folder name (the blueprint's name when `blueprint.json` has none).
    pub folder_name: String,
    pub blueprint: SourceFile,
    pub artifacts: Vec<SourceFile>,
    pub assignment: Option<SourceFile>,
}

/// Read an export folder: `blueprint.json`, `artifact.*.json` and `artifacts/*.json`, `assign.json`.
pub fn read_export(dir: &Path) -> Result<Export, Error> {
    let blueprint_path = dir.join("blueprint.json");
    if !blueprint_path.is_file() {
        return Err(Error::Blueprint {
            source_desc: dir.display().to_string(),
            message:
                "no blueprint.json here: expected an Azure Blueprint export (blueprint.json plus \
                      artifact.<name>.json files or an artifacts/ folder)"
                    .into(),
        });
    }
    let blueprint = read_json(&blueprint_path)?;
    let mut artifact_paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("artifact.") && name.ends_with(".json") && path.is_file() {
            artifact_paths.push(path);
        }
    }
    let sub = dir.join("artifacts");
    if sub.is_dir() {
        for entry in std::fs::read_dir(&sub).map_err(|e| Error::io(&sub, e))? {
            let path = entry.map_err(|e| Error::io(&sub, e))?.path();
            if path.extension().is_some_and(|e| e == "json") && path.is_file() {
                artifact_paths.push(path);
            }
        }
    }
    artifact_paths.sort();
    let artifacts = artifact_paths
        .iter()
        .map(|p| read_json(p))
        .collect::<Result<Vec<_>, _>>()?;
    let assignment = ["assign.json", "assignment.json"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .map(|p| read_json(&p))
        .transpose()?;
    let folder_name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "imported".into());
    Ok(Export {
        folder_name,
        blueprint,
        artifacts,
        assignment,
    })
}

fn read_json(path: &Path) -> Result<SourceFile, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let file = path.display().to_string();
    let text = std::str::from_utf8(&bytes).map_err(|e| Error::Blueprint {
        source_desc: file.clone(),
        message: format!("not UTF-8 (byte {})", e.valid_up_to()),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let json = serde_json::from_str(text).map_err(|e| Error::Blueprint {
        source_desc: format!("{file}:{}:{}", e.line(), e.column()),
        message: format!("not valid JSON: {e}"),
    })?;
    Ok(SourceFile { file, json })
}

/// Import the export in `from` as a new trustprint blueprint folder `out` (which must not exist). Nothing is
/// written unless the whole import succeeds.
pub fn import(from: &Path, out: &Path) -> Result<Imported, Error> {
    if out.exists() {
        return Err(Error::OutDir {
            path: out.to_path_buf(),
            message: "already exists; blueprint import writes a new folder".into(),
        });
    }
    let export = read_export(from)?;
    let translated = translate(&export)?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".trustprint-import-")
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    for (rel, bytes) in &translated.files {
        let path = tmp.path().join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
    }
    let tmp_path = tmp.keep();
    std::fs::rename(&tmp_path, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp_path);
        Error::io(out, e)
    })?;
    Ok(Imported {
        name: translated.name,
        out: out.to_path_buf(),
        parameters: translated.parameters,
        deployments: translated.deployments,
        files: translated.files.keys().cloned().collect(),
        lock_mode: translated.lock_mode,
    })
}

/// The files of an imported blueprint, by path relative to its folder.
#[derive(Debug, Clone)]
pub struct Translated {
    pub name: String,
    pub files: BTreeMap<String, Vec<u8>>,
    pub parameters: usize,
    pub deployments: usize,
    pub lock_mode: LockMode,
}

/// A value the templates receive as an ARM parameter, from a manifest parameter.
#[derive(Debug, Clone)]
struct ValueParam {
    /// The ARM parameter's name in generated templates (`bp_organization_name`).
    arm: String,
    /// The manifest parameter's dotted key.
    key: String,
    /// The ARM type (`string`, `securestring`, `int`, `bool`, `array`, `object`).
    arm_type: String,
}

/// A resource group placeholder.
#[derive(Debug, Clone)]
struct ResourceGroup {
    /// The deployment created for it when no artifact deploys into it.
    deployment: String,
    /// Tera templates for the manifest's `resourceGroup` and `location`.
    name_tera: String,
    location_tera: String,
    /// The same as ARM expressions (for `resourceGroups('x').name` in artifacts).
    name_arm: Expr,
    location_arm: Expr,
    depends_on: Vec<String>,
}

/// Where an error happened: file, artifact, JSON path.
#[derive(Clone, Copy)]
struct At<'a> {
    file: &'a str,
    artifact: Option<&'a str>,
}

impl At<'_> {
    fn err(&self, path: &str, message: impl std::fmt::Display) -> Error {
        let what = match self.artifact {
            Some(a) => format!("artifact `{a}` at {path}"),
            None => format!("at {path}"),
        };
        Error::Blueprint {
            source_desc: self.file.to_string(),
            message: format!("{what}: {message}"),
        }
    }
}

struct Ctx<'a> {
    params: IndexMap<String, ValueParam>,
    groups: IndexMap<String, ResourceGroup>,
    /// Template artifacts by name (lower case), for `artifacts('x').outputs.y`.
    artifacts: IndexMap<String, ArtifactOutputs>,
    at: At<'a>,
}

/// Where a template artifact's outputs can be read once it is deployed.
#[derive(Debug, Clone)]
struct ArtifactOutputs {
    /// The artifact's name as the blueprint writes it.
    name: String,
    /// Its trustprint deployment.
    deployment: String,
    /// The resource group placeholder it deploys into (`None`: the subscription).
    group: Option<String>,
    /// The outputs its template declares.
    outputs: Vec<String>,
}

/// The name of the nested deployment that publishes a template artifact's outputs under a name other
/// deployments can compute (trustprint's own deployment names carry a content hash).
fn outputs_deployment(deployment: &str) -> String {
    let mut name = format!("bp-outputs-{deployment}");
    name.truncate(64);
    name
}

/// The deployment being built from one artifact: the ARM parameters its expressions use and the artifacts
/// whose outputs they read.
#[derive(Default)]
struct Uses {
    params: BTreeMap<String, ValueParam>,
    outputs_of: BTreeSet<String>,
    /// How many `artifacts(...).outputs` reads were translated (a value that adds one reads outputs).
    output_reads: usize,
}

/// Translate an export into the files of a trustprint blueprint.
pub fn translate(export: &Export) -> Result<Translated, Error> {
    let bp_at = At {
        file: &export.blueprint.file,
        artifact: None,
    };
    let props = export
        .blueprint
        .json
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            bp_at.err(
                "$.properties",
                "missing: expected the blueprint's properties",
            )
        })?;
    if let Some(scope) = props.get("targetScope").and_then(Value::as_str) {
        if !scope.eq_ignore_ascii_case("subscription") {
            return Err(bp_at.err(
                "$.properties.targetScope",
                format!(
                    "`{scope}` is not supported: trustprint stamps blueprints into a subscription"
                ),
            ));
        }
    }
    let raw_name = export
        .blueprint
        .json
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(&export.folder_name);
    let name = kebab(raw_name);
    let display = props
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or(raw_name);
    let description = props
        .get("description")
        .and_then(Value::as_str)
        .filter(|d| !d.trim().is_empty())
        .map_or_else(|| display.to_string(), str::to_string);
    let assign_params = export
        .assignment
        .as_ref()
        .and_then(|a| a.json.pointer("/properties/parameters"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let assign_groups = export
        .assignment
        .as_ref()
        .and_then(|a| a.json.pointer("/properties/resourceGroups"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();

    // Parameters: the trust first (every trustprint blueprint is stamped for one), then the region of
    // subscription-scope deployments, then the blueprint's own.
    let mut parameters: IndexMap<String, Parameter> = IndexMap::new();
    let mut example: Vec<(String, Value, Option<String>)> = Vec::new();
    parameters.insert(
        "trust.name".into(),
        param(
            ParamType::String,
            "The trust's registered name as in the ODS list (shown in tags and reports).",
        )
        .required(),
    );
    example.push((
        "trust.name".into(),
        json!("NORTHERN CARE ALLIANCE NHS FOUNDATION TRUST"),
        Some("an example trust".into()),
    ));
    parameters.insert(
        "trust.ods_code".into(),
        param(ParamType::OdsCode, "The trust's ODS code.").required(),
    );
    example.push((
        "trust.ods_code".into(),
        json!("RM3"),
        Some("an example trust".into()),
    ));
    let mut region = param(
        ParamType::AzureRegion,
        "The region of the subscription-scope deployments and of the policy assignments' managed identities \
         (an Azure Blueprint assignment's location).",
    );
    region.default = Some(json!("uksouth"));
    region.choices = Some(UK.iter().map(|r| json!(r)).collect());
    parameters.insert("azure.location".into(), region);
    let assigned_location = export
        .assignment
        .as_ref()
        .and_then(|a| a.json.get("location"))
        .and_then(Value::as_str);
    example.push(uk_example("azure.location", assigned_location, "uksouth"));

    let mut params: IndexMap<String, ValueParam> = IndexMap::new();
    let mut keys_seen: BTreeMap<String, String> = BTreeMap::new();
    let empty = Map::new();
    let bp_params = match props.get("parameters") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err(bp_at.err("$.properties.parameters", "expected an object")),
    };
    for (bp_name, def) in bp_params {
        let path = format!("$.properties.parameters['{bp_name}']");
        let mut key = snake(bp_name);
        if key.is_empty() || key.starts_with(|c: char| c.is_ascii_digit()) {
            key = format!("p_{key}");
        }
        if [
            "trust",
            "azure",
            "rg",
            "blueprint",
            "deployment",
            "resource_groups",
            "tags",
        ]
        .contains(&key.as_str())
        {
            key = format!("bp_{key}");
        }
        if let Some(other) = keys_seen.insert(key.clone(), bp_name.clone()) {
            return Err(bp_at.err(
                &path,
                format!(
                    "its trustprint name `{key}` is also that of parameter `{other}`; rename one"
                ),
            ));
        }
        let (p, arm_type) = translate_param(bp_name, def, bp_at, &path)?;
        let value = assign_params
            .get(bp_name)
            .and_then(|v| v.get("value"))
            .cloned();
        example.push(example_value(&key, &p, value, def));
        parameters.insert(key.clone(), p);
        params.insert(
            bp_name.clone(),
            ValueParam {
                arm: format!("bp_{key}"),
                key,
                arm_type,
            },
        );
    }

    // Resource groups.
    let mut groups: IndexMap<String, ResourceGroup> = IndexMap::new();
    let bp_groups = match props.get("resourceGroups") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err(bp_at.err("$.properties.resourceGroups", "expected an object")),
    };
    let mut ctx = Ctx {
        params,
        groups: IndexMap::new(),
        artifacts: IndexMap::new(),
        at: bp_at,
    };
    for (placeholder, def) in bp_groups {
        let path = format!("$.properties.resourceGroups['{placeholder}']");
        let snake_name = {
            let s = snake(placeholder);
            if s.starts_with(|c: char| c.is_ascii_digit()) {
                format!("g_{s}")
            } else {
                s
            }
        };
        let display = def
            .pointer("/metadata/displayName")
            .or_else(|| def.get("description"))
            .and_then(Value::as_str)
            .unwrap_or(placeholder);
        let assigned = assign_groups.get(placeholder);
        let mut field = |field: &str| -> Result<(String, Expr), Error> {
            let fpath = format!("{path}.{field}");
            match def.get(field) {
                Some(Value::String(s))
                    if matches!(armexpr::classify(s), Template::Expression(_)) =>
                {
                    let Template::Expression(inner) = armexpr::classify(s) else {
                        unreachable!()
                    };
                    let e = armexpr::parse(inner)
                        .map_err(|e| ctx.at.err(&fpath, format!("not a valid expression: {e}")))?;
                    let tera = tera_of(&e, &ctx, &fpath)?;
                    let mut uses = Uses::default();
                    let arm = translate_expr(&e, &ctx, &mut uses, &fpath)?;
                    Ok((tera, arm))
                }
                v @ (Some(Value::String(_) | Value::Null) | None) => {
                    let key = format!("rg.{snake_name}.{field}");
                    let literal = v.and_then(Value::as_str).map(str::to_string);
                    let mut p = if field == "name" {
                        let mut p = param(
                            ParamType::String,
                            &format!("The name of the resource group `{placeholder}` ({display})."),
                        );
                        p.pattern = Some(r"^[-\w\._\(\)]{1,90}$".into());
                        p
                    } else {
                        let mut p = param(
                            ParamType::AzureRegion,
                            &format!(
                                "The region of the resource group `{placeholder}` ({display})."
                            ),
                        );
                        p.choices = Some(UK.iter().map(|r| json!(r)).collect());
                        p
                    };
                    match &literal {
                        Some(l) => p.default = Some(json!(l)),
                        None => p.required = true,
                    }
                    let assigned_value =
                        assigned.and_then(|a| a.get(field)).and_then(Value::as_str);
                    if field == "name" {
                        let (v, note) = match (assigned_value, &literal) {
                            (Some(a), _) => (a.to_string(), None),
                            (None, Some(l)) => (l.clone(), None),
                            (None, None) => (
                                format!("rg-{}", kebab(placeholder)),
                                Some("an example name".to_string()),
                            ),
                        };
                        example.push((key.clone(), json!(v), note));
                    } else {
                        example.push(uk_example(
                            &key,
                            assigned_value.or(literal.as_deref()),
                            "uksouth",
                        ));
                    }
                    parameters.insert(key.clone(), p);
                    let arm = format!("rg_{snake_name}_{field}");
                    ctx.params.insert(
                        format!("\u{0}rg/{placeholder}/{field}"),
                        ValueParam {
                            arm: arm.clone(),
                            key: key.clone(),
                            arm_type: "string".into(),
                        },
                    );
                    Ok((
                        format!("{{{{ {key} }}}}"),
                        call("parameters", vec![Expr::Str(arm)]),
                    ))
                }
                Some(_) => Err(ctx.at.err(&fpath, "expected a string")),
            }
        };
        let (name_tera, name_arm) = field("name")?;
        let (location_tera, location_arm) = field("location")?;
        let depends_on = string_list(def.get("dependsOn"), bp_at, &format!("{path}.dependsOn"))?;
        groups.insert(
            placeholder.clone(),
            ResourceGroup {
                deployment: format!("rg-{}", kebab(placeholder)),
                name_tera,
                location_tera,
                name_arm,
                location_arm,
                depends_on,
            },
        );
    }
    ctx.groups = groups;

    // Artifacts: name (the `name` field, else the file's name), kind, properties.
    struct Art<'a> {
        name: String,
        stem: String,
        deployment: String,
        kind: String,
        props: &'a Map<String, Value>,
        file: &'a str,
    }
    let mut arts: Vec<Art> = Vec::new();
    let mut deployment_names: BTreeMap<String, String> = BTreeMap::new();
    for f in &export.artifacts {
        let stem = Path::new(&f.file)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .trim_start_matches("artifact.")
            .trim_end_matches(".json")
            .to_string();
        let name = f
            .json
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| stem.clone(), str::to_string);
        let at = At {
            file: &f.file,
            artifact: Some(&name),
        };
        let kind = f
            .json
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                at.err(
                    "$.kind",
                    "missing: expected policyAssignment, roleAssignment or template",
                )
            })?
            .to_string();
        let props = f
            .json
            .get("properties")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                at.err(
                    "$.properties",
                    "missing: expected the artifact's properties",
                )
            })?;
        let mut deployment = kebab(&name);
        if deployment.is_empty() {
            deployment = "artifact".into();
        }
        if let Some(other) = deployment_names.insert(deployment.clone(), name.clone()) {
            return Err(at.err(
                "$.name",
                format!("its deployment name `{deployment}` is also that of artifact `{other}`"),
            ));
        }
        arts.push(Art {
            name,
            stem,
            deployment,
            kind,
            props,
            file: &f.file,
        });
    }
    for a in arts.iter().filter(|a| a.kind == "template") {
        let outputs = a
            .props
            .get("template")
            .and_then(|t| t.get("outputs"))
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let entry = ArtifactOutputs {
            name: a.name.clone(),
            deployment: a.deployment.clone(),
            group: a
                .props
                .get("resourceGroup")
                .and_then(Value::as_str)
                .map(str::to_string),
            outputs,
        };
        ctx.artifacts
            .insert(a.stem.to_ascii_lowercase(), entry.clone());
        ctx.artifacts.insert(a.name.to_ascii_lowercase(), entry);
    }
    let resolve = |dep: &str| -> Option<Vec<String>> {
        if let Some(a) = arts
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(dep) || a.stem.eq_ignore_ascii_case(dep))
        {
            return Some(vec![a.deployment.clone()]);
        }
        ctx.groups
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(dep))
            .map(|(k, _)| {
                arts.iter()
                    .filter(|a| {
                        a.props.get("resourceGroup").and_then(Value::as_str) == Some(k.as_str())
                    })
                    .map(|a| a.deployment.clone())
                    .collect()
            })
    };

    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut deployments: Vec<Deployment> = Vec::new();
    let mut initiatives: BTreeSet<String> = BTreeSet::new();
    let mut used_groups: BTreeSet<String> = BTreeSet::new();
    for art in &arts {
        let at = At {
            file: art.file,
            artifact: Some(&art.name),
        };
        ctx.at = at;
        let group = match art.props.get("resourceGroup") {
            None | Some(Value::Null) => None,
            Some(Value::String(g)) => {
                let (k, rg) = ctx
                    .groups
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(g))
                    .ok_or_else(|| {
                        at.err(
                            "$.properties.resourceGroup",
                            format!(
                                "`{g}` is not a resource group placeholder of the blueprint (it has {})",
                                names_or_none(ctx.groups.keys())
                            ),
                        )
                    })?;
                used_groups.insert(k.clone());
                Some((k.clone(), rg.clone()))
            }
            Some(_) => return Err(at.err("$.properties.resourceGroup", "expected a string")),
        };
        let scope = if group.is_some() {
            Scope::ResourceGroup
        } else {
            Scope::Subscription
        };
        let mut uses = Uses::default();
        let mut mapped: IndexMap<String, String> = IndexMap::new();
        let template = match art.kind.as_str() {
            "policyAssignment" => policy_assignment(
                art.props,
                &art.name,
                scope,
                &ctx,
                &mut uses,
                &mut initiatives,
            )?,
            "roleAssignment" => role_assignment(art.props, scope, &ctx, &mut uses)?,
            "template" => template_artifact(art.props, &art.name, &mut parameters, &mut example, &ctx, &mut uses, &mut mapped)?,
            other => {
                return Err(at.err(
                    "$.kind",
                    format!("`{other}` is not an artifact kind trustprint imports (policyAssignment, roleAssignment, template)"),
                ))
            }
        };
        let mut template = with_parameters(template, &uses, at)?;
        if art.kind == "template" {
            publish_outputs(&mut template, &art.deployment, scope, at)?;
        }
        for vp in uses.params.values() {
            mapped.insert(vp.arm.clone(), vp.key.clone());
        }
        let mut depends_on: Vec<String> = Vec::new();
        let mut deps = string_list(art.props.get("dependsOn"), at, "$.properties.dependsOn")?;
        // Reading an artifact's outputs needs it deployed first, whether or not dependsOn says so.
        deps.extend(
            uses.outputs_of
                .iter()
                .filter_map(|d| ctx.artifacts.values().find(|a| &a.deployment == d))
                .map(|a| a.name.clone()),
        );
        if let Some((_, rg)) = &group {
            deps.extend(rg.depends_on.iter().cloned());
        }
        for (i, d) in deps.iter().enumerate() {
            let targets = resolve(d).ok_or_else(|| {
                at.err(
                    &format!("$.properties.dependsOn[{i}]"),
                    format!("`{d}` is neither an artifact nor a resource group placeholder of the blueprint"),
                )
            })?;
            for t in targets {
                if t != art.deployment && !depends_on.contains(&t) {
                    depends_on.push(t);
                }
            }
        }
        let template_file = format!("{}.json.tera", art.deployment);
        files.insert(
            format!("templates/{template_file}"),
            tera_file(&template, at)?,
        );
        deployments.push(Deployment {
            name: art.deployment.clone(),
            scope,
            resource_group: group.as_ref().map(|(_, g)| g.name_tera.clone()),
            location: Some(group.as_ref().map_or_else(
                || "{{ azure.location }}".to_string(),
                |(_, g)| g.location_tera.clone(),
            )),
            template: template_file,
            depends_on,
            parameters: mapped,
            when: None,
            stack: None,
        });
    }
    // A placeholder no artifact deploys into still becomes a resource group, as the Blueprint made it.
    for (placeholder, rg) in &ctx.groups {
        if used_groups.contains(placeholder) {
            continue;
        }
        ctx.at = bp_at;
        let template = json!({
            "$schema": RG_SCHEMA,
            "contentVersion": "1.0.0.0",
            "parameters": {},
            "resources": [],
        });
        let template_file = format!("{}.json.tera", rg.deployment);
        if deployment_names.contains_key(&rg.deployment) {
            return Err(bp_at.err(
                &format!("$.properties.resourceGroups['{placeholder}']"),
                format!(
                    "its deployment name `{}` is also an artifact's",
                    rg.deployment
                ),
            ));
        }
        files.insert(
            format!("templates/{template_file}"),
            tera_file(&template, bp_at)?,
        );
        let mut depends_on = Vec::new();
        for d in &rg.depends_on {
            if let Some(ts) = resolve(d) {
                depends_on.extend(ts);
            }
        }
        deployments.push(Deployment {
            name: rg.deployment.clone(),
            scope: Scope::ResourceGroup,
            resource_group: Some(rg.name_tera.clone()),
            location: Some(rg.location_tera.clone()),
            template: template_file,
            depends_on,
            parameters: IndexMap::new(),
            when: None,
            stack: None,
        });
    }
    let mut deployments = order(deployments, bp_at)?;

    let lock_mode = match export
        .assignment
        .as_ref()
        .and_then(|a| a.json.pointer("/properties/locks/mode"))
    {
        None | Some(Value::Null) => LockMode::None,
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| Error::Blueprint {
            source_desc: export
                .assignment
                .as_ref()
                .map_or_else(String::new, |a| a.file.clone()),
            message: format!(
                "at $.properties.locks.mode: {v} is not a lock mode (none, AllResourcesReadOnly, \
                     AllResourcesDoNotDelete)"
            ),
        })?,
    };

    // Every parameter without a default shows its example (lint asks for one; the values schema shows it).
    for (key, p) in &mut parameters {
        if p.default.is_none() && p.ty != ParamType::Secret {
            p.example = example
                .iter()
                .find(|(k, _, _)| k == key)
                .map(|(_, v, _)| v.clone());
        }
    }
    if let Some(stack) = lock_stack(export.assignment.as_ref(), lock_mode)? {
        for d in &mut deployments {
            d.stack = Some(stack.clone());
        }
    }
    let manifest = Manifest {
        api_version: API_VERSION.into(),
        name: name.clone(),
        version: semver::Version::new(1, 0, 0),
        description,
        exemplar: Exemplar {
            trust: "NORTHERN CARE ALLIANCE NHS FOUNDATION TRUST".into(),
            ods_code: "RM3".into(),
        },
        template_roots: vec!["templates".into()],
        allowed_locations: UK.iter().map(|s| s.to_string()).collect(),
        parameters,
        deployments,
        outputs: IndexMap::new(),
        waivers: Vec::new(),
        scanner_skips: Vec::new(),
        migrations: Vec::new(),
        guardrails: Some(Guardrails {
            rule_sets: vec![RuleSet::UkLocations],
            initiatives: initiatives.into_iter().collect(),
        }),
        locks: Some(Locks { mode: lock_mode }),
    };
    let param_count = manifest.parameters.len();
    let deployment_count = manifest.deployments.len();
    files.insert(
        "blueprint.yaml".into(),
        manifest_yaml(&manifest, raw_name, display)?,
    );
    files.insert(
        format!("examples/{name}.yaml"),
        example_yaml(&name, &manifest, &example),
    );
    Ok(Translated {
        name,
        files,
        parameters: param_count,
        deployments: deployment_count,
        lock_mode,
    })
}

/// The Deployment Stack settings that enforce the assignment's lock (none for `none`): its mode as deny
/// settings over the child scopes too, its excluded principals and actions, and the deploying identity.
fn lock_stack(assignment: Option<&SourceFile>, mode: LockMode) -> Result<Option<Stack>, Error> {
    if mode == LockMode::None {
        return Ok(None);
    }
    let file = assignment.map_or_else(String::new, |a| a.file.clone());
    let strings = |key: &str, limit: usize| -> Result<Vec<String>, Error> {
        let at = format!("/properties/locks/{key}");
        match assignment.and_then(|a| a.json.pointer(&at)) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) if items.len() <= limit => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| Error::Blueprint {
                        source_desc: file.clone(),
                        message: format!("at $.properties.locks.{key}: {v} is not a string"),
                    })
                })
                .collect(),
            Some(v) => Err(Error::Blueprint {
                source_desc: file.clone(),
                message: format!(
                    "at $.properties.locks.{key}: expected a list of at most {limit} strings, found {}",
                    if v.is_array() { format!("{} items", v.as_array().map_or(0, Vec::len)) } else { v.to_string() }
                ),
            }),
        }
    };
    // The deploying identity takes the place the Blueprint service's own identity had, so one slot less.
    let mut principals = strings("excludedPrincipals", MAX_EXCLUDED_PRINCIPALS - 1)?;
    principals.push(DEPLOYER.to_string());
    Ok(Some(Stack {
        deny_settings: DenySettings {
            mode: mode.deny_mode(),
            excluded_principals: principals,
            excluded_actions: strings("excludedActions", MAX_EXCLUDED_ACTIONS)?,
            apply_to_child_scopes: true,
        },
        action_on_unmanage: Default::default(),
    }))
}

fn names_or_none<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn param(ty: ParamType, description: &str) -> Parameter {
    Parameter {
        ty,
        description: description.to_string(),
        default: None,
        required: false,
        example: None,
        pattern: None,
        min: None,
        max: None,
        choices: None,
        min_prefix: None,
        max_prefix: None,
        items: None,
    }
}

trait Required {
    fn required(self) -> Self;
}
impl Required for Parameter {
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Call {
        name: name.to_string(),
        args,
        position: 0,
    }
}

/// A blueprint parameter's manifest parameter and ARM type.
fn translate_param(
    bp_name: &str,
    def: &Value,
    at: At,
    path: &str,
) -> Result<(Parameter, String), Error> {
    let ty = def.get("type").and_then(Value::as_str).ok_or_else(|| {
        at.err(
            &format!("{path}.type"),
            "missing: expected string, int, bool, array, object or securestring",
        )
    })?;
    let strong = def.pointer("/metadata/strongType").and_then(Value::as_str);
    let display = def.pointer("/metadata/displayName").and_then(Value::as_str);
    let desc = def.pointer("/metadata/description").and_then(Value::as_str);
    let mut description = match (display, desc) {
        (Some(d), Some(s)) if d != s && s != bp_name => format!("{d}: {s}"),
        (Some(d), _) => d.to_string(),
        (None, Some(s)) => s.to_string(),
        (None, None) => format!("Blueprint parameter {bp_name}."),
    };
    description.push_str(&format!(" (Azure Blueprint parameter `{bp_name}`"));
    if let Some(s) = strong {
        description.push_str(&format!("; strongType {s}"));
    }
    description.push(')');
    let allowed: Vec<Value> = def
        .get("allowedValues")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let default = def.get("defaultValue").cloned();
    if let Some(Value::String(s)) = &default {
        if s.starts_with('[') && !s.starts_with("[[") {
            return Err(at.err(
                &format!("{path}.defaultValue"),
                "an expression as a default cannot be imported: give the parameter a literal default",
            ));
        }
    }
    let lower = ty.to_ascii_lowercase();
    let is_region = strong.is_some_and(|s| s.eq_ignore_ascii_case("location"));
    let (pty, arm_type) = match lower.as_str() {
        "string"
            if is_region
                && allowed.iter().all(|v| {
                    v.as_str()
                        .is_some_and(|s| crate::types::Region::parse(s).is_ok())
                })
                && default.as_ref().is_none_or(|d| {
                    d.as_str()
                        .is_some_and(|s| crate::types::Region::parse(s).is_ok())
                }) =>
        {
            (ParamType::AzureRegion, "string")
        }
        "string" => (ParamType::String, "string"),
        "securestring" => (ParamType::Secret, "securestring"),
        "int" => (ParamType::Integer, "int"),
        "bool" => (ParamType::Boolean, "bool"),
        "array" => (ParamType::List, "array"),
        "object" => (ParamType::Object, "object"),
        other => {
            return Err(at.err(
                &format!("{path}.type"),
                format!(
                "`{other}` cannot be imported (string, securestring, int, bool, array or object)"
            ),
            ))
        }
    };
    let mut p = param(pty, &description);
    if pty == ParamType::Secret {
        if default.is_some() {
            return Err(at.err(
                &format!("{path}.defaultValue"),
                "a securestring with a default cannot be imported: trustprint secrets have no default",
            ));
        }
        p.required = true;
        return Ok((p, arm_type.into()));
    }
    if !allowed.is_empty() {
        if pty == ParamType::List {
            let item_ty = if allowed.iter().all(Value::is_i64) {
                ParamType::Integer
            } else {
                ParamType::String
            };
            let mut item = param(item_ty, &format!("One of the allowed values of {bp_name}."));
            item.choices = Some(allowed.clone());
            p.items = Some(Box::new(item));
        } else {
            p.choices = Some(allowed.clone());
        }
    }
    for (field, target) in [
        ("minValue", 0),
        ("maxValue", 1),
        ("minLength", 0),
        ("maxLength", 1),
    ] {
        if let Some(n) = def.get(field).and_then(Value::as_f64) {
            if target == 0 {
                p.min = Some(n);
            } else {
                p.max = Some(n);
            }
        }
    }
    match default {
        Some(d) => p.default = Some(d),
        None => p.required = true,
    }
    Ok((p, arm_type.into()))
}

/// An example value: the assignment's, else the default, else one made up for the type (marked).
fn example_value(
    key: &str,
    p: &Parameter,
    assigned: Option<Value>,
    def: &Value,
) -> (String, Value, Option<String>) {
    let strong = def
        .pointer("/metadata/strongType")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let hint = format!(
        "{} {}",
        key,
        def.pointer("/metadata/displayName")
            .and_then(Value::as_str)
            .unwrap_or("")
    )
    .to_ascii_lowercase();
    if p.ty == ParamType::Secret {
        return (
            key.into(),
            json!({"env": format!("TP_{}", key.to_ascii_uppercase().replace('.', "_"))}),
            Some("read from this environment variable at apply time".into()),
        );
    }
    let is_location = p.ty == ParamType::AzureRegion || strong == "location";
    let uk_choice = p
        .choices
        .as_ref()
        .and_then(|c| {
            c.iter().find(|v| {
                v.as_str()
                    .is_some_and(|s| UK.contains(&s.to_ascii_lowercase().replace(' ', "").as_str()))
            })
        })
        .cloned();
    let is_uk = |v: &Value| -> bool {
        match v {
            Value::String(s) => UK.contains(&s.to_ascii_lowercase().replace(' ', "").as_str()),
            Value::Array(a) => {
                !a.is_empty()
                    && a.iter().all(|x| {
                        x.as_str()
                            .is_some_and(|s| UK.contains(&s.to_ascii_lowercase().as_str()))
                    })
            }
            _ => false,
        }
    };
    if let Some(v) = assigned {
        if is_location && !is_uk(&v) {
            let uk = if p.ty == ParamType::List {
                json!(UK)
            } else {
                json!("uksouth")
            };
            return (
                key.into(),
                uk,
                Some(format!(
                    "the assignment gave {v}; an imported blueprint is held to UK regions"
                )),
            );
        }
        return (key.into(), v, None);
    }
    if let Some(d) = &p.default {
        let useful = !(d.as_str() == Some("") || (is_location && !is_uk(d)));
        if useful {
            return (key.into(), d.clone(), None);
        }
    }
    let made_up = match p.ty {
        ParamType::AzureRegion => json!("uksouth"),
        ParamType::Integer => p
            .choices
            .as_ref()
            .and_then(|c| c.first().cloned())
            .unwrap_or_else(|| json!(p.min.map_or(1, |m| m as i64))),
        ParamType::Boolean => json!(false),
        ParamType::Object => json!({}),
        ParamType::List => {
            if is_location {
                json!(UK)
            } else if let Some(first) = p
                .items
                .as_ref()
                .and_then(|i| i.choices.as_ref())
                .and_then(|c| c.first())
            {
                json!([first])
            } else if strong == "resourcetypes" {
                json!(["Microsoft.ClassicCompute/virtualMachines"])
            } else {
                json!([])
            }
        }
        _ => {
            if let Some(c) =
                uk_choice.or_else(|| p.choices.as_ref().and_then(|c| c.first().cloned()))
            {
                c
            } else if is_location {
                json!("uksouth")
            } else if strong == "principalid"
                || hint.contains("principal")
                || hint.contains("objectid")
            {
                json!(example_guid(key))
            } else if strong == "omsworkspace" {
                json!("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-example/providers/Microsoft.OperationalInsights/workspaces/log-example")
            } else {
                json!("example")
            }
        }
    };
    (
        key.into(),
        made_up,
        Some("an example of its type: replace it".into()),
    )
}

/// A deterministic, well-formed GUID for an example principal id.
fn example_guid(key: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("trustprint-import:{key}").as_bytes(),
    )
    .to_string()
}

fn uk_example(key: &str, given: Option<&str>, fallback: &str) -> (String, Value, Option<String>) {
    match given {
        Some(g) if UK.contains(&g.to_ascii_lowercase().as_str()) => {
            (key.into(), json!(g.to_ascii_lowercase()), None)
        }
        Some(g) => (
            key.into(),
            json!(fallback),
            Some(format!(
                "the assignment gave {g}; an imported blueprint is held to UK regions"
            )),
        ),
        None => (key.into(), json!(fallback), None),
    }
}

fn string_list(v: Option<&Value>, at: At, path: &str) -> Result<Vec<String>, Error> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| at.err(&format!("{path}[{i}]"), "expected a string"))
            })
            .collect(),
        Some(_) => Err(at.err(path, "expected a list of names")),
    }
}

/// A Blueprint expression as a Tera template (resource group names and locations in the manifest).
fn tera_of(e: &Expr, ctx: &Ctx, path: &str) -> Result<String, Error> {
    match e {
        Expr::Str(s) => {
            if s.contains("{{") || s.contains("{%") || s.contains("{#") {
                return Err(ctx.at.err(path, "a literal holding `{{`, `{%` or `{#` cannot be imported"));
            }
            Ok(s.clone())
        }
        Expr::Int(i) => Ok(i.to_string()),
        Expr::Call { name, args, .. } if name.eq_ignore_ascii_case("parameters") => match args.as_slice() {
            [Expr::Str(p)] => {
                let vp = ctx
                    .params
                    .get(p)
                    .ok_or_else(|| unknown_param(p, ctx, path))?;
                Ok(format!("{{{{ {} }}}}", vp.key))
            }
            _ => Err(ctx.at.err(path, "parameters() takes one literal parameter name")),
        },
        Expr::Call { name, args, .. } if name.eq_ignore_ascii_case("concat") => {
            args.iter().map(|a| tera_of(a, ctx, path)).collect()
        }
        Expr::Call { name, args, .. } if name.eq_ignore_ascii_case("toLower") && args.len() == 1 => {
            Ok(format!("{{% filter lower %}}{}{{% endfilter %}}", tera_of(&args[0], ctx, path)?))
        }
        Expr::Call { name, args, .. } if name.eq_ignore_ascii_case("toUpper") && args.len() == 1 => {
            Ok(format!("{{% filter upper %}}{}{{% endfilter %}}", tera_of(&args[0], ctx, path)?))
        }
        other => Err(ctx.at.err(
            path,
            format!(
                "`{}` cannot be imported in a resource group's name or location (literals, parameters(), \
                 concat(), toLower() and toUpper() can)",
                print(other)
            ),
        )),
    }
}

fn unknown_param(p: &str, ctx: &Ctx, path: &str) -> Error {
    let names: Vec<&String> = ctx
        .params
        .keys()
        .filter(|k| !k.starts_with('\u{0}'))
        .collect();
    let near = names
        .iter()
        .map(|n| (strsim::jaro_winkler(n, p), n))
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| format!("; did you mean `{n}`?"))
        .unwrap_or_default();
    ctx.at.err(
        path,
        format!("parameters('{p}') names no parameter of the blueprint{near}"),
    )
}

/// A Blueprint expression as an ARM expression computing the same value in the generated template.
fn translate_expr(e: &Expr, ctx: &Ctx, uses: &mut Uses, path: &str) -> Result<Expr, Error> {
    match e {
        Expr::Call { name, args, .. } if name.eq_ignore_ascii_case("parameters") => match args.as_slice() {
            [Expr::Str(p)] => {
                let vp = ctx
                    .params
                    .get(p)
                    .ok_or_else(|| unknown_param(p, ctx, path))?;
                uses.params.insert(vp.arm.clone(), vp.clone());
                Ok(call("parameters", vec![Expr::Str(vp.arm.clone())]))
            }
            _ => Err(ctx.at.err(path, "parameters() takes one literal parameter name")),
        },
        Expr::Property(inner, prop) => {
            if let Expr::Call { name, args, .. } = inner.as_ref() {
                if name.eq_ignore_ascii_case("resourceGroups") {
                    let [Expr::Str(g)] = args.as_slice() else {
                        return Err(ctx.at.err(path, "resourceGroups() takes one literal placeholder name"));
                    };
                    let rg = ctx
                        .groups
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(g))
                        .map(|(_, v)| v)
                        .ok_or_else(|| {
                            ctx.at.err(
                                path,
                                format!(
                                    "resourceGroups('{g}') names no resource group placeholder (the blueprint has {})",
                                    names_or_none(ctx.groups.keys())
                                ),
                            )
                        })?;
                    let chosen = match prop.to_ascii_lowercase().as_str() {
                        "name" => &rg.name_arm,
                        "location" => &rg.location_arm,
                        _ => {
                            return Err(ctx.at.err(
                                path,
                                format!("resourceGroups('{g}').{prop}: only .name and .location are known before deployment"),
                            ))
                        }
                    };
                    // The placeholder's own expression uses parameters the template must declare too.
                    collect_params(chosen, ctx, uses);
                    return Ok(chosen.clone());
                }
            }
            if let Expr::Property(inner2, outputs) = inner.as_ref() {
                if let Expr::Call { name, args, .. } = inner2.as_ref() {
                    if name.eq_ignore_ascii_case("artifacts") && outputs.eq_ignore_ascii_case("outputs") {
                        let [Expr::Str(a)] = args.as_slice() else {
                            return Err(ctx.at.err(path, "artifacts() takes one literal artifact name"));
                        };
                        return artifact_output(a, prop, ctx, uses, path);
                    }
                }
            }
            Ok(Expr::Property(
                Box::new(translate_expr(inner, ctx, uses, path)?),
                prop.clone(),
            ))
        }
        Expr::Call { name, .. }
            if name.eq_ignore_ascii_case("artifacts") || name.eq_ignore_ascii_case("resourceGroups") =>
        {
            Err(ctx.at.err(
                path,
                format!(
                    "`{}` cannot be imported: use artifacts('x').outputs.<name>, resourceGroups('x').name or \
                     resourceGroups('x').location",
                    print(e)
                ),
            ))
        }
        Expr::Call {
            name,
            args,
            position,
        } => Ok(Expr::Call {
            name: name.clone(),
            args: args
                .iter()
                .map(|a| translate_expr(a, ctx, uses, path))
                .collect::<Result<_, _>>()?,
            position: *position,
        }),
        Expr::Index(a, b) => Ok(Expr::Index(
            Box::new(translate_expr(a, ctx, uses, path)?),
            Box::new(translate_expr(b, ctx, uses, path)?),
        )),
        other => Ok(other.clone()),
    }
}

/// `artifacts('a').outputs.prop` as ARM computes it at deploy time: the output of the nested deployment that
/// publishes artifact `a`'s outputs (see [`publish_outputs`]), read with `reference()`.
fn artifact_output(
    a: &str,
    prop: &str,
    ctx: &Ctx,
    uses: &mut Uses,
    path: &str,
) -> Result<Expr, Error> {
    let art = ctx.artifacts.get(&a.to_ascii_lowercase()).ok_or_else(|| {
        ctx.at.err(
            path,
            format!(
                "artifacts('{a}') names no template artifact of the blueprint (only a template artifact's outputs \
                 can be imported; it has {})",
                names_or_none(ctx.artifacts.values().map(|x| &x.name))
            ),
        )
    })?;
    let output = art
        .outputs
        .iter()
        .find(|o| o.eq_ignore_ascii_case(prop))
        .ok_or_else(|| {
            ctx.at.err(
                path,
                format!(
                    "artifacts('{a}').outputs.{prop}: the template of artifact `{}` declares no output `{prop}` (it \
                     declares {})",
                    art.name,
                    names_or_none(art.outputs.iter())
                ),
            )
        })?;
    let name = Expr::Str(outputs_deployment(&art.deployment));
    let kind = Expr::Str("Microsoft.Resources/deployments".into());
    let id = match &art.group {
        Some(g) => {
            let rg = ctx
                .groups
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(g))
                .map(|(_, v)| v)
                .ok_or_else(|| ctx.at.err(path, format!("artifact `{}` deploys into `{g}`, which is not a resource group placeholder", art.name)))?;
            collect_params(&rg.name_arm, ctx, uses);
            call("resourceId", vec![rg.name_arm.clone(), kind, name])
        }
        None => call("subscriptionResourceId", vec![kind, name]),
    };
    uses.outputs_of.insert(art.deployment.clone());
    uses.output_reads += 1;
    Ok(Expr::Property(
        Box::new(Expr::Property(
            Box::new(Expr::Property(
                Box::new(call(
                    "reference",
                    vec![id, Expr::Str(DEPLOYMENTS_API.into())],
                )),
                "outputs".into(),
            )),
            output.clone(),
        )),
        "value".into(),
    ))
}

/// The api-version of the nested deployments the import writes.
const DEPLOYMENTS_API: &str = "2021-04-01";

/// Add to a template artifact's template the nested deployment that publishes its outputs under the stable
/// name [`outputs_deployment`]: its parameter carries the template's output values (evaluated in the
/// artifact's deployment, so `reference()` in them works and orders it after what it reads), and its own
/// outputs return them. `artifacts('x').outputs.y` elsewhere reads them (ARM's own way of reading another
/// deployment's outputs).
fn publish_outputs(
    template: &mut Value,
    deployment: &str,
    scope: Scope,
    at: At,
) -> Result<(), Error> {
    let Some(outputs) = template.get("outputs").and_then(Value::as_object).cloned() else {
        return Ok(());
    };
    if outputs.is_empty() {
        return Ok(());
    }
    let mut values = Map::new();
    let mut declared = Map::new();
    for (k, o) in &outputs {
        let path = format!("$.properties.template.outputs.{k}");
        if o.get("copy").is_some() {
            return Err(at.err(
                &path,
                "an output with `copy` cannot be published to other artifacts yet",
            ));
        }
        let value = o
            .get("value")
            .ok_or_else(|| at.err(&path, "an output needs a value"))?;
        let ty = o.get("type").and_then(Value::as_str).unwrap_or("string");
        if ty.to_ascii_lowercase().starts_with("secure") {
            continue;
        }
        values.insert(k.clone(), value.clone());
        declared.insert(
            k.clone(),
            json!({"type": ty, "value": format!("[parameters('outputs')['{}']]", k.replace('\'', "''"))}),
        );
    }
    let mut nested = json!({
        "type": "Microsoft.Resources/deployments",
        "apiVersion": DEPLOYMENTS_API,
        "name": outputs_deployment(deployment),
        "properties": {
            "mode": "Incremental",
            "expressionEvaluationOptions": {"scope": "inner"},
            "parameters": {"outputs": {"value": Value::Object(values)}},
            "template": {
                "$schema": schema(scope),
                "contentVersion": "1.0.0.0",
                "parameters": {"outputs": {"type": "object"}},
                "resources": [],
                "outputs": Value::Object(declared),
            },
        },
    });
    if scope == Scope::Subscription {
        nested["location"] = json!("[deployment().location]");
    }
    match template.get_mut("resources") {
        Some(Value::Array(r)) => r.push(nested),
        _ => template["resources"] = json!([nested]),
    }
    Ok(())
}

/// Replace `parameters('name')` in every expression of a template's resources and outputs by `with`: a
/// template artifact's parameter whose value reads another artifact's outputs (ARM allows `reference()` there,
/// not in a parameter's default value).
fn substitute_parameter(
    template: &mut Value,
    name: &str,
    with: &Expr,
    at: At,
    path: &str,
) -> Result<(), Error> {
    fn walk(v: &mut Value, name: &str, with: &Expr) {
        match v {
            Value::String(s) => {
                let Template::Expression(inner) = armexpr::classify(s) else {
                    return;
                };
                let Ok(e) = armexpr::parse(inner) else {
                    return;
                };
                let (e, changed) = replace(&e, name, with);
                if changed {
                    *s = format!("[{}]", print(&e));
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, name, with)),
            Value::Object(o) => o.values_mut().for_each(|x| walk(x, name, with)),
            _ => {}
        }
    }
    fn replace(e: &Expr, name: &str, with: &Expr) -> (Expr, bool) {
        match e {
            Expr::Call { name: f, args, .. }
                if f.eq_ignore_ascii_case("parameters")
                    && matches!(args.as_slice(), [Expr::Str(p)] if p.eq_ignore_ascii_case(name)) =>
            {
                (with.clone(), true)
            }
            Expr::Call {
                name: f,
                args,
                position,
            } => {
                let mut changed = false;
                let args = args
                    .iter()
                    .map(|a| {
                        let (a, c) = replace(a, name, with);
                        changed |= c;
                        a
                    })
                    .collect();
                (
                    Expr::Call {
                        name: f.clone(),
                        args,
                        position: *position,
                    },
                    changed,
                )
            }
            Expr::Property(a, p) => {
                let (a, c) = replace(a, name, with);
                (Expr::Property(Box::new(a), p.clone()), c)
            }
            Expr::Index(a, b) => {
                let (a, c1) = replace(a, name, with);
                let (b, c2) = replace(b, name, with);
                (Expr::Index(Box::new(a), Box::new(b)), c1 || c2)
            }
            other => (other.clone(), false),
        }
    }
    if let Some(vars) = template.get("variables") {
        let mut probe = vars.clone();
        walk(&mut probe, name, &Expr::Null);
        if &probe != vars {
            return Err(at.err(
                path,
                format!("reads another artifact's outputs, and the template uses parameter `{name}` in its variables, where ARM allows no reference(); use it in resources or outputs"),
            ));
        }
    }
    for key in ["resources", "outputs"] {
        if let Some(v) = template.get_mut(key) {
            walk(v, name, with);
        }
    }
    if let Some(ps) = template
        .get_mut("parameters")
        .and_then(Value::as_object_mut)
    {
        ps.remove(name);
    }
    Ok(())
}

/// The ARM parameters an already-translated expression reads.
fn collect_params(e: &Expr, ctx: &Ctx, uses: &mut Uses) {
    match e {
        Expr::Call { name, args, .. } => {
            if name.eq_ignore_ascii_case("parameters") {
                if let [Expr::Str(arm)] = args.as_slice() {
                    if let Some(vp) = ctx.params.values().find(|vp| &vp.arm == arm) {
                        uses.params.insert(vp.arm.clone(), vp.clone());
                    }
                }
            }
            for a in args {
                collect_params(a, ctx, uses);
            }
        }
        Expr::Property(a, _) => collect_params(a, ctx, uses),
        Expr::Index(a, b) => {
            collect_params(a, ctx, uses);
            collect_params(b, ctx, uses);
        }
        _ => {}
    }
}

/// An ARM expression's text (without the brackets).
fn print(e: &Expr) -> String {
    match e {
        Expr::Str(s) => format!("'{}'", s.replace('\'', "''")),
        Expr::Int(i) => i.to_string(),
        Expr::Bool(b) => if *b { "true()" } else { "false()" }.to_string(),
        Expr::Null => "null()".into(),
        Expr::Call { name, args, .. } => format!(
            "{name}({})",
            args.iter().map(print).collect::<Vec<_>>().join(", ")
        ),
        Expr::Property(a, p) => format!("{}.{p}", print(a)),
        Expr::Index(a, b) => format!("{}[{}]", print(a), print(b)),
    }
}

/// Translate every expression string in a JSON value (artifact parameter values, nested arrays and objects).
fn translate_value(v: &Value, ctx: &Ctx, uses: &mut Uses, path: &str) -> Result<Value, Error> {
    Ok(match v {
        Value::String(s) => match armexpr::classify(s) {
            Template::Expression(inner) => {
                let e = armexpr::parse(inner)
                    .map_err(|e| ctx.at.err(path, format!("not a valid expression: {e}")))?;
                Value::String(format!(
                    "[{}]",
                    print(&translate_expr(&e, ctx, uses, path)?)
                ))
            }
            Template::Literal(_) => v.clone(),
        },
        Value::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, x)| translate_value(x, ctx, uses, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    Ok((
                        k.clone(),
                        translate_value(x, ctx, uses, &format!("{path}.{k}"))?,
                    ))
                })
                .collect::<Result<_, Error>>()?,
        ),
        other => other.clone(),
    })
}

fn schema(scope: Scope) -> &'static str {
    match scope {
        Scope::Subscription => SUB_SCHEMA,
        Scope::ResourceGroup => RG_SCHEMA,
    }
}

/// A policy assignment artifact as an ARM template with one `Microsoft.Authorization/policyAssignments`.
fn policy_assignment(
    props: &Map<String, Value>,
    artifact: &str,
    scope: Scope,
    ctx: &Ctx,
    uses: &mut Uses,
    initiatives: &mut BTreeSet<String>,
) -> Result<Value, Error> {
    let def_id = props.get("policyDefinitionId").ok_or_else(|| {
        ctx.at.err(
            "$.properties.policyDefinitionId",
            "missing: a policy assignment needs the definition it assigns",
        )
    })?;
    let def_id_t = translate_value(def_id, ctx, uses, "$.properties.policyDefinitionId")?;
    if let Some(id) = def_id.as_str() {
        initiatives.insert(id.to_string());
    }
    let mut params = Map::new();
    if let Some(ps) = props.get("parameters") {
        let ps = ps
            .as_object()
            .ok_or_else(|| ctx.at.err("$.properties.parameters", "expected an object"))?;
        for (k, v) in ps {
            let path = format!("$.properties.parameters.{k}");
            let value = v
                .get("value")
                .ok_or_else(|| ctx.at.err(&path, "expected {\"value\": ...} (Key Vault references cannot be imported into a policy assignment)"))?;
            params.insert(
                k.clone(),
                json!({"value": translate_value(value, ctx, uses, &format!("{path}.value"))?}),
            );
        }
    }
    let mut properties = Map::new();
    if let Some(d) = props.get("displayName") {
        properties.insert(
            "displayName".into(),
            translate_value(d, ctx, uses, "$.properties.displayName")?,
        );
    }
    if let Some(d) = props.get("description") {
        properties.insert(
            "description".into(),
            translate_value(d, ctx, uses, "$.properties.description")?,
        );
    }
    properties.insert("policyDefinitionId".into(), def_id_t);
    properties.insert("parameters".into(), Value::Object(params));
    properties.insert(
        "metadata".into(),
        json!({"assignedBy": "trustprint", "azureBlueprintArtifact": artifact}),
    );
    let location = match scope {
        Scope::Subscription => "[deployment().location]",
        Scope::ResourceGroup => "[resourceGroup().location]",
    };
    Ok(json!({
        "$schema": schema(scope),
        "contentVersion": "1.0.0.0",
        "parameters": {},
        "resources": [{
            "type": "Microsoft.Authorization/policyAssignments",
            "apiVersion": "2022-06-01",
            "name": assignment_name(artifact),
            "location": location,
            // Blueprints gave every policy assignment a managed identity (deployIfNotExists and modify
            // policies need one to remediate).
            "identity": {"type": "SystemAssigned"},
            "properties": properties,
        }],
    }))
}

/// A policy assignment's name: the artifact's, within Azure's 64 characters and without `%&\?/`.
fn assignment_name(artifact: &str) -> String {
    let cleaned: String = artifact
        .chars()
        .map(|c| if "%&\\?/<>*:+#".contains(c) { '-' } else { c })
        .collect();
    let trimmed: String = cleaned.chars().take(64).collect();
    trimmed.trim_end_matches(['.', ' ']).to_string()
}

/// A role assignment artifact: one `Microsoft.Authorization/roleAssignments` per principal (a copy loop over
/// the principal ids, which may be literals, parameters of type string or parameters of type array).
fn role_assignment(
    props: &Map<String, Value>,
    scope: Scope,
    ctx: &Ctx,
    uses: &mut Uses,
) -> Result<Value, Error> {
    let role = props.get("roleDefinitionId").ok_or_else(|| {
        ctx.at.err(
            "$.properties.roleDefinitionId",
            "missing: a role assignment needs the role it grants",
        )
    })?;
    let role_expr: String = match role {
        Value::String(s) => match armexpr::classify(s) {
            Template::Expression(_) => {
                let v = translate_value(role, ctx, uses, "$.properties.roleDefinitionId")?;
                let t = v.as_str().unwrap_or_default();
                t[1..t.len() - 1].to_string()
            }
            Template::Literal(l) => {
                // Blueprints name built-in roles tenant-wide; a role assignment names them in its subscription.
                const TENANT_ROLE: &str = "/providers/microsoft.authorization/roledefinitions/";
                if l.to_ascii_lowercase().starts_with(TENANT_ROLE) {
                    let guid = l[TENANT_ROLE.len()..].to_string();
                    format!(
                        "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', {})",
                        print(&Expr::Str(guid))
                    )
                } else {
                    print(&Expr::Str(l.to_string()))
                }
            }
        },
        _ => {
            return Err(ctx
                .at
                .err("$.properties.roleDefinitionId", "expected a string"))
        }
    };
    let principals = props.get("principalIds").ok_or_else(|| {
        ctx.at.err(
            "$.properties.principalIds",
            "missing: a role assignment needs its principals",
        )
    })?;
    let items: Vec<(String, &Value)> = match principals {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("$.properties.principalIds[{i}]"), v))
            .collect(),
        v => vec![("$.properties.principalIds".to_string(), v)],
    };
    let mut parts = Vec::new();
    for (path, v) in items {
        let t = translate_value(v, ctx, uses, &path)?;
        let part = match &t {
            Value::String(s) => match armexpr::classify(s) {
                Template::Expression(inner) => inner.to_string(),
                Template::Literal(l) => print(&Expr::Str(l.into_owned())),
            },
            _ => {
                return Err(ctx
                    .at
                    .err(&path, "expected a principal id or an expression"))
            }
        };
        parts.push(format!("array({part})"));
    }
    let list = if parts.is_empty() {
        "createArray()".to_string()
    } else {
        format!("flatten(createArray({}))", parts.join(", "))
    };
    let scope_id = match scope {
        Scope::Subscription => "subscription().id",
        Scope::ResourceGroup => "resourceGroup().id",
    };
    Ok(json!({
        "$schema": schema(scope),
        "contentVersion": "1.0.0.0",
        "parameters": {},
        "variables": {"principalIds": format!("[{list}]"), "roleDefinitionId": format!("[{role_expr}]")},
        "resources": [{
            "type": "Microsoft.Authorization/roleAssignments",
            "apiVersion": "2022-04-01",
            "name": format!("[guid({scope_id}, variables('roleDefinitionId'), variables('principalIds')[copyIndex()])]"),
            "copy": {"name": "principals", "count": "[length(variables('principalIds'))]"},
            "properties": {
                "roleDefinitionId": "[variables('roleDefinitionId')]",
                "principalId": "[variables('principalIds')[copyIndex()]]",
            },
        }],
    }))
}

/// A template artifact: its template, with each artifact parameter's value given through the manifest (a
/// blueprint parameter), as the parameter's default (a literal or an expression), or, when the artifact
/// leaves a template parameter without a value or default, as a new manifest parameter `<artifact>.<name>`.
#[allow(clippy::too_many_arguments)]
fn template_artifact(
    props: &Map<String, Value>,
    artifact: &str,
    parameters: &mut IndexMap<String, Parameter>,
    example: &mut Vec<(String, Value, Option<String>)>,
    ctx: &Ctx,
    uses: &mut Uses,
    mapped: &mut IndexMap<String, String>,
) -> Result<Value, Error> {
    let mut template = props
        .get("template")
        .filter(|t| t.is_object())
        .cloned()
        .ok_or_else(|| {
            ctx.at.err(
                "$.properties.template",
                "missing: a template artifact needs its ARM template",
            )
        })?;
    if template.get("parameters").is_none() {
        template["parameters"] = json!({});
    }
    let declared = template["parameters"].as_object().cloned().ok_or_else(|| {
        ctx.at
            .err("$.properties.template.parameters", "expected an object")
    })?;
    let given = match props.get("parameters") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return Err(ctx.at.err("$.properties.parameters", "expected an object")),
    };
    for (k, v) in &given {
        let path = format!("$.properties.parameters.{k}");
        if !declared.contains_key(k) {
            return Err(ctx
                .at
                .err(&path, format!("the template declares no parameter `{k}`")));
        }
        let value = v.get("value").ok_or_else(|| {
            ctx.at.err(
                &path,
                "expected {\"value\": ...} (Key Vault references cannot be imported yet)",
            )
        })?;
        // `[parameters('x')]` alone: the manifest passes the blueprint parameter's value straight through.
        if let Some(Template::Expression(inner)) = value.as_str().map(armexpr::classify) {
            if let Ok(Expr::Call { name, args, .. }) = armexpr::parse(inner) {
                if name.eq_ignore_ascii_case("parameters") {
                    if let [Expr::Str(p)] = args.as_slice() {
                        let vp = ctx
                            .params
                            .get(p)
                            .ok_or_else(|| unknown_param(p, ctx, &format!("{path}.value")))?;
                        mapped.insert(k.clone(), vp.key.clone());
                        continue;
                    }
                }
            }
        }
        let before = uses.output_reads;
        let t = translate_value(value, ctx, uses, &format!("{path}.value"))?;
        if uses.output_reads == before {
            template["parameters"][k]["defaultValue"] = t;
            continue;
        }
        // It reads another artifact's outputs: `reference()`, which ARM refuses in a default value, so the
        // expression takes the parameter's place in the template.
        let expr = match t.as_str().map(armexpr::classify) {
            Some(Template::Expression(inner)) => armexpr::parse(inner).ok(),
            _ => None,
        }
        .ok_or_else(|| {
            ctx.at.err(
                &format!("{path}.value"),
                "reads another artifact's outputs inside an array or object; write the whole value as one expression",
            )
        })?;
        substitute_parameter(&mut template, k, &expr, ctx.at, &format!("{path}.value"))?;
    }
    let art_key = snake(artifact);
    for (k, def) in &declared {
        if given.contains_key(k) || def.get("defaultValue").is_some() {
            continue;
        }
        // Left for the assignment to fill: a parameter of the imported blueprint.
        let key = format!(
            "{}.{}",
            if art_key.starts_with(|c: char| c.is_ascii_digit()) {
                format!("a_{art_key}")
            } else {
                art_key.clone()
            },
            snake(k)
        );
        let path = format!("$.properties.template.parameters.{k}");
        let (mut p, _) = translate_param(k, def, ctx.at, &path)?;
        p.description = format!(
            "{} (parameter `{k}` of template artifact `{artifact}`)",
            p.description
        );
        example.push(example_value(&key, &p, None, def));
        parameters.insert(key.clone(), p);
        mapped.insert(k.clone(), key);
    }
    Ok(template)
}

/// Add the ARM parameters the translated expressions read (`bp_<key>`, `rg_<group>_name`) to a template.
fn with_parameters(mut template: Value, uses: &Uses, at: At) -> Result<Value, Error> {
    let Some(ps) = template
        .get_mut("parameters")
        .and_then(Value::as_object_mut)
    else {
        return Err(at.err("$.properties.template.parameters", "expected an object"));
    };
    for vp in uses.params.values() {
        if ps.contains_key(&vp.arm) {
            return Err(at.err(
                &format!("$.properties.template.parameters.{}", vp.arm),
                format!("the template already declares `{}`, the name the import gives blueprint parameter `{}`", vp.arm, vp.key),
            ));
        }
        ps.insert(vp.arm.clone(), json!({"type": vp.arm_type}));
    }
    Ok(template)
}

/// A generated ARM template as a Tera file: raw, so nothing in it is read as Tera.
fn tera_file(template: &Value, at: At) -> Result<Vec<u8>, Error> {
    let text = String::from_utf8(crate::hash::to_bytes(template)).unwrap_or_default();
    if text.contains("{{") || text.contains("{%") || text.contains("{#") {
        if text.contains("endraw") {
            return Err(at.err(
                "$.properties.template",
                "the template holds Tera's `endraw`; it cannot be kept raw",
            ));
        }
        return Ok(format!("{{% raw %}}{}{{% endraw %}}\n", text.trim_end()).into_bytes());
    }
    Ok(text.into_bytes())
}

/// Deployments in dependency order, stable otherwise (the artifacts' file order).
fn order(mut deployments: Vec<Deployment>, at: At) -> Result<Vec<Deployment>, Error> {
    let mut out: Vec<Deployment> = Vec::new();
    while !deployments.is_empty() {
        let Some(i) = deployments.iter().position(|d| {
            d.depends_on
                .iter()
                .all(|x| out.iter().any(|o| &o.name == x))
        }) else {
            let names: Vec<&str> = deployments.iter().map(|d| d.name.as_str()).collect();
            return Err(at.err(
                "dependsOn",
                format!(
                    "the artifacts' dependsOn form a cycle among {}",
                    names.join(", ")
                ),
            ));
        };
        out.push(deployments.remove(i));
    }
    Ok(out)
}

/// `blueprint.yaml`: the manifest, without the fields at their defaults, after a header saying where it
/// came from and what its locks mean.
fn manifest_yaml(m: &Manifest, raw_name: &str, display: &str) -> Result<Vec<u8>, Error> {
    let mut v = serde_json::to_value(m).map_err(|e| Error::Internal {
        message: e.to_string(),
    })?;
    if let Some(ps) = v.get_mut("parameters").and_then(Value::as_object_mut) {
        for p in ps.values_mut() {
            prune_param(p);
        }
    }
    if let Some(ds) = v.get_mut("deployments").and_then(Value::as_array_mut) {
        for d in ds {
            if let Some(o) = d.as_object_mut() {
                o.retain(|k, x| !((k == "dependsOn" || k == "parameters") && is_empty(x)));
            }
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.retain(|k, x| {
            !(["outputs", "waivers", "scannerSkips", "migrations"].contains(&k.as_str())
                && is_empty(x))
        });
    }
    let yaml = serde_yaml::to_string(&v).map_err(|e| Error::Internal {
        message: e.to_string(),
    })?;
    let lock = match m.locks.as_ref().map_or(LockMode::None, |l| l.mode) {
        LockMode::None => "none: the assignment locked nothing",
        LockMode::AllResourcesReadOnly => {
            "AllResourcesReadOnly: the assignment denied every change and deletion of what it deployed"
        }
        LockMode::AllResourcesDoNotDelete => {
            "AllResourcesDoNotDelete: the assignment denied deleting what it deployed"
        }
    };
    let enforced = if m.locks.as_ref().is_some_and(|l| l.mode != LockMode::None) {
        " Each deployment is a Deployment Stack whose deny settings enforce it\n\
         #   (`stack:` below; docs/migrating-from-blueprints.md)."
    } else {
        ""
    };
    let header = format!(
        "# Imported from the Azure Blueprint `{raw_name}` ({display}) by `trustprint blueprint import`.\n\
         # exemplar: replace with the trust whose estate this blueprint encodes.\n\
         # guardrails: held to UK locations and to the policies the Blueprint assigned; `check` shows the rest\n\
         #   of trustprint's NHS rules as advice.\n\
         # locks: {lock}.{enforced}\n"
    );
    Ok(format!("{header}{yaml}").into_bytes())
}

fn prune_param(p: &mut Value) {
    if let Some(o) = p.as_object_mut() {
        if o.get("required") == Some(&Value::Bool(false)) {
            o.remove("required");
        }
        if let Some(items) = o.get_mut("items") {
            prune_param(items);
        }
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

/// `examples/<name>.yaml`: a value for every parameter, made-up ones marked.
fn example_yaml(name: &str, m: &Manifest, example: &[(String, Value, Option<String>)]) -> Vec<u8> {
    let mut s = format!(
        "# Values for the imported blueprint `{name}`: every parameter, from the Blueprint assignment where the\n\
         # export had one, else the parameter's default; lines marked `example` were made up for their type.\n\
         # Stamp it into the local cloud: trustprint --blueprint <this folder> stamp --values <this file> --target local\n"
    );
    for key in m.parameters.keys() {
        let Some((_, v, note)) = example.iter().find(|(k, _, _)| k == key) else {
            continue;
        };
        if let Some(n) = note {
            s.push_str(&format!("# {key}: {n}\n"));
        }
        s.push_str(&format!(
            "{key}: {}\n",
            serde_json::to_string(v).unwrap_or_default()
        ));
    }
    s.into_bytes()
}

/// `Policy_Allowed-Locations` → `policy_allowed_locations`; `principalIds` → `principal_ids`.
fn snake(s: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase()
                && prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
            {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
        prev = Some(c);
    }
    out.trim_end_matches('_').to_string()
}

/// `SharedServices-RG` → `shared-services-rg`.
fn kebab(s: &str) -> String {
    snake(s).replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_template_keys() {
        assert_eq!(
            snake("Policy_Allowed-Locations"),
            "policy_allowed_locations"
        );
        assert_eq!(snake("principalIds"), "principal_ids");
        assert_eq!(snake("KV-AccessPolicy"), "kv_access_policy");
        assert_eq!(
            snake("[Preview]:DeployLogAnalyticsAgentforWindowsVMs_logAnalytics"),
            "preview_deploy_log_analytics_agentfor_windows_vms_log_analytics"
        );
        assert_eq!(kebab("SharedServices-RG"), "shared-services-rg");
    }

    #[test]
    fn expressions_print_back_as_arm() {
        let e = armexpr::parse("concat(parameters('a'), '-x''y', string(1))").unwrap();
        assert_eq!(print(&e), "concat(parameters('a'), '-x''y', string(1))");
    }
}
