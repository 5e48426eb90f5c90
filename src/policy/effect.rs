//! Effects: what a policy does when its `if` is true, and how it turns into a compliance state.

use super::Error;
use serde::Serialize;
use serde_json::{Map, Value};

/// A policy effect, as `then.effect` names it (case-insensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Effect {
    Deny,
    Audit,
    Append,
    Modify,
    AuditIfNotExists,
    DeployIfNotExists,
    DenyAction,
    Disabled,
    Manual,
}

impl Effect {
    /// Parse an effect name.
    pub fn parse(name: &str, definition: &str) -> Result<Effect, Error> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "deny" => Effect::Deny,
            "audit" => Effect::Audit,
            "append" => Effect::Append,
            "modify" => Effect::Modify,
            "auditifnotexists" => Effect::AuditIfNotExists,
            "deployifnotexists" => Effect::DeployIfNotExists,
            "denyaction" => Effect::DenyAction,
            "disabled" => Effect::Disabled,
            "manual" => Effect::Manual,
            _ => {
                return Err(Error::Definition {
                    definition: definition.to_string(),
                    member: "properties.policyRule.then.effect".into(),
                    expected: format!(
                        "one of deny, audit, append, modify, auditIfNotExists, deployIfNotExists, denyAction, \
                         disabled, manual (got {name:?})"
                    ),
                })
            }
        })
    }

    /// Does the effect look for related resources (`details.type`, `existenceCondition`)?
    pub fn if_not_exists(self) -> bool {
        matches!(self, Effect::AuditIfNotExists | Effect::DeployIfNotExists)
    }
}

impl std::fmt::Display for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self).ok();
        write!(f, "{}", s.as_ref().and_then(Value::as_str).unwrap_or("?"))
    }
}

/// One `modify` operation or `append` entry, with its values evaluated.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Operation {
    /// `addOrReplace`, `add`, `remove` (append entries are `add`).
    pub operation: String,
    /// A field: `tags['x']` or an alias.
    pub field: String,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub value: Value,
}

/// Apply operations to a resource body (a PUT's request): tags by name, aliases through their property path.
/// An alias without a path, or a path through a non-object, is an error naming it.
pub fn apply(
    body: &mut Value,
    operations: &[Operation],
    aliases: &super::alias::Aliases,
) -> Result<(), String> {
    for op in operations {
        let path: Vec<String> = if let Some(tag) = tag_of(&op.field) {
            vec!["tags".into(), tag]
        } else {
            let p = aliases
                .path(&op.field)
                .ok_or_else(|| format!("the alias {} is not in the alias data", op.field))?;
            if p.contains("[*]") {
                p.trim_end_matches("[*]")
                    .split('.')
                    .map(str::to_string)
                    .collect()
            } else {
                p.split('.').map(str::to_string).collect()
            }
        };
        let array_append = aliases.path(&op.field).is_some_and(|p| p.ends_with("[*]"));
        let (last, parents) = path.split_last().ok_or("an empty field")?;
        let mut cur = &mut *body;
        for seg in parents {
            let obj = cur
                .as_object_mut()
                .ok_or_else(|| format!("{} is not an object", op.field))?;
            let key = obj
                .keys()
                .find(|k| k.eq_ignore_ascii_case(seg))
                .cloned()
                .unwrap_or_else(|| seg.clone());
            cur = obj.entry(key).or_insert_with(|| Value::Object(Map::new()));
        }
        let obj = cur
            .as_object_mut()
            .ok_or_else(|| format!("{} is not an object", op.field))?;
        let key = obj
            .keys()
            .find(|k| k.eq_ignore_ascii_case(last))
            .cloned()
            .unwrap_or_else(|| last.clone());
        match op.operation.to_ascii_lowercase().as_str() {
            "remove" => {
                obj.remove(&key);
            }
            "add" if obj.contains_key(&key) && !array_append => {}
            _ if array_append => {
                let entry = obj.entry(key).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = entry {
                    match &op.value {
                        Value::Array(items) => a.extend(items.iter().cloned()),
                        v => a.push(v.clone()),
                    }
                }
            }
            _ => {
                obj.insert(key, op.value.clone());
            }
        }
    }
    Ok(())
}

fn tag_of(field: &str) -> Option<String> {
    let tail = field
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("tags"))
        .map(|_| &field[4..])?;
    if let Some(inner) = tail.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return Some(inner.trim_matches('\'').to_string());
    }
    tail.strip_prefix('.').map(str::to_string)
}
