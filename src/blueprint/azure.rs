//! Reading a Blueprint definition from Azure (or the local cloud) over the `Microsoft.Blueprint` REST API
//! (api-version 2018-11-01-preview), for `blueprint import --from-azure`.
//!
//! Contract: [`Target::parse`] turns what the user typed (a blueprint id, a published version's id, or a name
//! with `--scope`) into the scope, blueprint and version; the paths are built by pure functions; [`fetch`]
//! reads the definition and its artifacts (a published version's when one is named, else the newest
//! published version, else the draft) and [`write_export`] writes them in the layout Microsoft's tools export
//! (`blueprint.json`, `artifacts/<name>.json`), which the folder import then reads. The definition is kept on
//! disk even after Azure deletes it (Blueprints retire on 31 January 2027).

use super::Error;
use crate::arm::ArmClient;
use serde_json::{json, Map, Value};
use std::path::Path;

/// The api-version of Microsoft.Blueprint.
pub const API_VERSION: &str = "2018-11-01-preview";

/// Which blueprint to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `/subscriptions/{s}` or `/providers/Microsoft.Management/managementGroups/{mg}`.
    pub scope: String,
    pub blueprint: String,
    /// A published version; `None`: the newest published version, else the draft.
    pub version: Option<String>,
}

impl Target {
    /// `blueprint`: an id (`{scope}/providers/Microsoft.Blueprint/blueprints/{name}[/versions/{v}]`) or a name;
    /// `scope`: a subscription id, `/subscriptions/{s}` or a management group's id (needed with a name).
    pub fn parse(blueprint: &str, scope: Option<&str>) -> Result<Target, String> {
        let lower = blueprint.to_ascii_lowercase();
        if let Some(at) = lower.find("/providers/microsoft.blueprint/blueprints/") {
            let scope = normalize_scope(&blueprint[..at])?;
            let rest: Vec<&str> = blueprint
                [at + "/providers/microsoft.blueprint/blueprints/".len()..]
                .split('/')
                .filter(|s| !s.is_empty())
                .collect();
            return match rest.as_slice() {
                [name] => Ok(Target {
                    scope,
                    blueprint: (*name).to_string(),
                    version: None,
                }),
                [name, v, version] if v.eq_ignore_ascii_case("versions") => Ok(Target {
                    scope,
                    blueprint: (*name).to_string(),
                    version: Some((*version).to_string()),
                }),
                _ => Err(format!(
                    "`{blueprint}` is not a blueprint id ({{scope}}/providers/Microsoft.Blueprint/blueprints/{{name}}) or a published version's id (.../versions/{{version}})"
                )),
            };
        }
        if blueprint.contains('/') || blueprint.trim().is_empty() {
            return Err(format!(
                "`{blueprint}` is neither a blueprint's name nor its id ({{scope}}/providers/Microsoft.Blueprint/blueprints/{{name}})"
            ));
        }
        let scope = scope.ok_or_else(|| {
            format!("--scope is needed with a blueprint name (`{blueprint}`): a subscription id or a management group's id")
        })?;
        Ok(Target {
            scope: normalize_scope(scope)?,
            blueprint: blueprint.to_string(),
            version: None,
        })
    }

    /// The blueprint definition's path.
    pub fn blueprint_path(&self) -> String {
        format!(
            "{}/providers/Microsoft.Blueprint/blueprints/{}",
            self.scope, self.blueprint
        )
    }
}

/// A scope as ARM writes it: a bare subscription id becomes `/subscriptions/{id}`.
fn normalize_scope(scope: &str) -> Result<String, String> {
    let s = scope.trim().trim_end_matches('/');
    let lower = s.to_ascii_lowercase();
    let parts: Vec<&str> = s.trim_start_matches('/').split('/').collect();
    if lower.starts_with("/subscriptions/") && parts.len() == 2 {
        return Ok(format!("/subscriptions/{}", parts[1]));
    }
    if lower.starts_with("/providers/microsoft.management/managementgroups/") && parts.len() == 4 {
        return Ok(format!(
            "/providers/Microsoft.Management/managementGroups/{}",
            parts[3]
        ));
    }
    if !s.is_empty() && !s.contains('/') && uuid::Uuid::parse_str(s).is_ok() {
        return Ok(format!("/subscriptions/{s}"));
    }
    Err(format!(
        "`{scope}` is not a blueprint scope: expected /subscriptions/{{id}}, a subscription id or \
         /providers/Microsoft.Management/managementGroups/{{name}}"
    ))
}

/// What was read: the definition (as `blueprint.json` holds it) and the artifacts, each `(name, json)`.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub blueprint: Value,
    pub artifacts: Vec<(String, Value)>,
    /// The published version read, if any.
    pub version: Option<String>,
}

/// A failure to read: ARM's error, or an answer that is not what the API documents.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Arm(#[from] crate::arm::Error),
    #[error("{path}: {message}")]
    Unexpected { path: String, message: String },
}

async fn get(client: &ArmClient, path: &str) -> Result<Option<Value>, FetchError> {
    Ok(client.get_resource(path, API_VERSION).await?)
}

/// Every item of the list at `path`, page by page (`nextLink`), so no artifact or version is left out.
async fn values(client: &ArmClient, path: &str) -> Result<Vec<Value>, FetchError> {
    Ok(client.list_resources(path, API_VERSION).await?)
}

/// Read the blueprint and its artifacts.
pub async fn fetch(client: &ArmClient, target: &Target) -> Result<Fetched, FetchError> {
    let bp_path = target.blueprint_path();
    let definition = get(client, &bp_path)
        .await?
        .ok_or_else(|| FetchError::Unexpected {
            path: bp_path.clone(),
            message: format!("no blueprint `{}` in {}", target.blueprint, target.scope),
        })?;
    let version = match &target.version {
        Some(v) => Some(v.clone()),
        None => {
            let path = format!("{bp_path}/versions");
            let mut versions = values(client, &path).await?;
            // The newest published: by the time it was published, then by name.
            versions.sort_by_key(|v| {
                (
                    v.pointer("/properties/status/timeCreated")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    v["name"].as_str().unwrap_or("").to_string(),
                )
            });
            versions
                .last()
                .and_then(|v| v["name"].as_str())
                .map(str::to_string)
        }
    };
    let (source, artifacts_path) = match &version {
        Some(v) => {
            let path = format!("{bp_path}/versions/{v}");
            let body = get(client, &path)
                .await?
                .ok_or_else(|| FetchError::Unexpected {
                    path: path.clone(),
                    message: format!(
                        "blueprint `{}` has no published version `{v}`",
                        target.blueprint
                    ),
                })?;
            (body, format!("{path}/artifacts"))
        }
        None => (definition.clone(), format!("{bp_path}/artifacts")),
    };
    let mut props = source
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for k in [
        "status",
        "blueprintName",
        "changeNotes",
        "versions",
        "layout",
    ] {
        props.remove(k);
    }
    let name = definition["name"]
        .as_str()
        .unwrap_or(&target.blueprint)
        .to_string();
    let blueprint = json!({
        "name": name,
        "type": "Microsoft.Blueprint/blueprints",
        "properties": Value::Object(props),
    });
    let mut artifacts = Vec::new();
    for a in values(client, &artifacts_path).await? {
        let aname = a["name"].as_str().unwrap_or_default().to_string();
        let mut out = Map::new();
        out.insert("kind".into(), a["kind"].clone());
        out.insert("name".into(), json!(aname));
        out.insert("properties".into(), a["properties"].clone());
        out.insert(
            "type".into(),
            json!("Microsoft.Blueprint/blueprints/artifacts"),
        );
        artifacts.push((aname, Value::Object(out)));
    }
    Ok(Fetched {
        blueprint,
        artifacts,
        version,
    })
}

/// Write what was read as an export folder (`dir` must not exist).
pub fn write_export(dir: &Path, fetched: &Fetched) -> Result<(), Error> {
    if dir.exists() {
        return Err(Error::OutDir {
            path: dir.to_path_buf(),
            message: "already exists; the export of the Azure blueprint is written to a new folder"
                .into(),
        });
    }
    let write = |path: &Path, v: &Value| -> Result<(), Error> {
        let mut text = serde_json::to_string_pretty(v).map_err(|e| Error::Internal {
            message: e.to_string(),
        })?;
        text.push('\n');
        std::fs::write(path, text).map_err(|e| Error::io(path, e))
    };
    let arts = dir.join("artifacts");
    std::fs::create_dir_all(&arts).map_err(|e| Error::io(&arts, e))?;
    write(&dir.join("blueprint.json"), &fetched.blueprint)?;
    for (name, a) in &fetched.artifacts {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(Error::Blueprint {
                source_desc: dir.display().to_string(),
                message: format!("the artifact name `{name}` cannot be a file name"),
            });
        }
        write(&arts.join(format!("{name}.json")), a)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_ids_version_ids_or_names_with_a_scope() {
        let sub = "/subscriptions/c0c0c0c0-1111-4222-8333-444444444444";
        assert_eq!(
            Target::parse(
                &format!("{sub}/providers/Microsoft.Blueprint/blueprints/uknhs"),
                None
            )
            .unwrap(),
            Target {
                scope: sub.into(),
                blueprint: "uknhs".into(),
                version: None
            }
        );
        assert_eq!(
            Target::parse("/providers/Microsoft.Management/managementGroups/nhs/providers/Microsoft.Blueprint/blueprints/uknhs/versions/1.2", None)
                .unwrap(),
            Target {
                scope: "/providers/Microsoft.Management/managementGroups/nhs".into(),
                blueprint: "uknhs".into(),
                version: Some("1.2".into())
            }
        );
        assert_eq!(
            Target::parse("uknhs", Some("c0c0c0c0-1111-4222-8333-444444444444"))
                .unwrap()
                .blueprint_path(),
            format!("{sub}/providers/Microsoft.Blueprint/blueprints/uknhs")
        );
        assert!(Target::parse("uknhs", None)
            .unwrap_err()
            .contains("--scope is needed"));
        assert!(Target::parse("uknhs", Some("rg-1"))
            .unwrap_err()
            .contains("is not a blueprint scope"));
    }
}
