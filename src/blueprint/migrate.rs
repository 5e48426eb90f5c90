//! Value migrations: a trust's values written for an earlier version of a blueprint, moved to this one.
//!
//! Contract: [`Manifest::migrate`] applies, in the order the manifest lists them, every migration whose `from`
//! requirement the earlier version meets (a manifest keeps its earlier migrations, so a trust can upgrade from
//! any release): renamed keys move with their value, added keys are written when the values do not set them,
//! removed keys are dropped. Keys are dotted parameter names; values may be nested (`patching: {recur_every:
//! ..}`) or dotted at the top (`patching.recur_every: ..`). Every change is described in a note; a value set
//! under both the old and the new name is an error naming both, never a silent choice.

use super::Manifest;
use serde_yaml::{Mapping, Value};

/// Values after a migration and what changed, one line per key.
#[derive(Debug, Clone, PartialEq)]
pub struct Migrated {
    pub values: Mapping,
    pub notes: Vec<String>,
}

impl Manifest {
    /// Move `values`, written for version `from`, to this manifest's version.
    pub fn migrate(&self, from: &semver::Version, values: &Mapping) -> Result<Migrated, String> {
        let mut values = values.clone();
        let mut notes = Vec::new();
        if *from >= self.version {
            return Ok(Migrated { values, notes });
        }
        for mig in &self.migrations {
            let req = semver::VersionReq::parse(&mig.from)
                .map_err(|e| format!("migration from `{}`: {e}", mig.from))?;
            if !req.matches(from) {
                continue;
            }
            for (old, new) in &mig.rename {
                let Some(v) = take(&mut values, old) else {
                    continue;
                };
                if get(&values, new).is_some() {
                    return Err(format!(
                        "sets both {old} and {new}; in {} {old} became {new}: keep one",
                        self.version
                    ));
                }
                put(&mut values, new, v);
                notes.push(format!("renamed {old} to {new}"));
            }
            for (key, v) in &mig.add {
                if get(&values, key).is_none() {
                    let v: Value = serde_yaml::to_value(v).map_err(|e| e.to_string())?;
                    notes.push(format!("added {key}: {}", inline(&v)));
                    put(&mut values, key, v);
                }
            }
            for key in &mig.remove {
                if let Some(v) = take(&mut values, key) {
                    notes.push(format!("removed {key} (was {})", inline(&v)));
                }
            }
        }
        Ok(Migrated { values, notes })
    }
}

fn inline(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Where a dotted key sits: top-level dotted, or nested one map per segment (the first found).
fn get<'a>(values: &'a Mapping, key: &str) -> Option<&'a Value> {
    if let Some(v) = values.get(key) {
        return Some(v);
    }
    let (head, rest) = key.split_once('.')?;
    match values.get(head)? {
        Value::Mapping(m) => get(m, rest),
        _ => None,
    }
}

/// Remove a dotted key, dropping maps it leaves empty.
fn take(values: &mut Mapping, key: &str) -> Option<Value> {
    if let Some(v) = values.remove(key) {
        return Some(v);
    }
    let (head, rest) = key.split_once('.')?;
    let Some(Value::Mapping(m)) = values.get_mut(head) else {
        return None;
    };
    let v = take(m, rest)?;
    if m.is_empty() {
        values.remove(head);
    }
    Some(v)
}

/// Set a dotted key, nested (creating maps as needed).
fn put(values: &mut Mapping, key: &str, v: Value) {
    match key.split_once('.') {
        None => {
            values.insert(key.into(), v);
        }
        Some((head, rest)) => {
            if !values.get(head).is_some_and(Value::is_mapping) {
                values.insert(head.into(), Mapping::new().into());
            }
            if let Some(Value::Mapping(m)) = values.get_mut(head) {
                put(m, rest, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Migration;
    use super::*;

    fn manifest(migrations: Vec<Migration>) -> Manifest {
        let mut m: Manifest = serde_yaml::from_str(
            "apiVersion: trustprint/v1\nname: t\nversion: 2.0.0\ndescription: d\n\
             exemplar: {trust: T, odsCode: RM3}\nparameters: {}\ndeployments: []\n",
        )
        .unwrap();
        m.migrations = migrations;
        m
    }

    fn yaml(s: &str) -> Mapping {
        serde_yaml::from_str(s).unwrap()
    }

    fn mig(from: &str, rename: &[(&str, &str)], add: &[(&str, i64)], remove: &[&str]) -> Migration {
        Migration {
            from: from.into(),
            rename: rename
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            add: add
                .iter()
                .map(|(k, v)| (k.to_string(), (*v).into()))
                .collect(),
            remove: remove.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn renames_adds_and_removes_in_order_for_matching_versions_only() {
        let m = manifest(vec![
            mig(
                "<1.1.0",
                &[("a.old", "a.new")],
                &[("b.added", 1)],
                &["gone"],
            ),
            mig("<2.0.0", &[("a.new", "c.newest")], &[("b.added", 5)], &[]),
        ]);
        let from_1_0 = m
            .migrate(
                &semver::Version::new(1, 0, 0),
                &yaml("a: {old: x, keep: y}\ngone: 3\n"),
            )
            .unwrap();
        assert_eq!(
            from_1_0.values,
            yaml("a: {keep: y}\nb: {added: 1}\nc: {newest: x}\n")
        );
        assert_eq!(
            from_1_0.notes,
            [
                "renamed a.old to a.new",
                "added b.added: 1",
                "removed gone (was 3)",
                "renamed a.new to c.newest"
            ]
        );
        // From 1.1.0 only the second applies: the old name is not touched, the added key gets 5.
        let from_1_1 = m
            .migrate(&semver::Version::new(1, 1, 0), &yaml("a: {new: z}\n"))
            .unwrap();
        assert_eq!(from_1_1.values, yaml("b: {added: 5}\nc: {newest: z}\n"));
        // Nothing to do at the manifest's own version.
        let same = m
            .migrate(&semver::Version::new(2, 0, 0), &yaml("a: {old: x}\n"))
            .unwrap();
        assert!(same.notes.is_empty());
    }

    #[test]
    fn dotted_top_level_keys_migrate_too_and_a_set_value_is_never_overwritten() {
        let m = manifest(vec![mig("<2.0.0", &[("p.x", "p.y")], &[("q", 1)], &[])]);
        let out = m
            .migrate(&semver::Version::new(1, 0, 0), &yaml("p.x: 7\nq: 9\n"))
            .unwrap();
        assert_eq!(out.values, yaml("q: 9\np: {y: 7}\n"));
        assert_eq!(out.notes, ["renamed p.x to p.y"]);
    }

    #[test]
    fn a_value_under_both_names_is_an_error_naming_both() {
        let m = manifest(vec![mig("<2.0.0", &[("p.x", "p.y")], &[], &[])]);
        let e = m
            .migrate(&semver::Version::new(1, 0, 0), &yaml("p: {x: 1, y: 2}\n"))
            .unwrap_err();
        assert_eq!(
            e,
            "sets both p.x and p.y; in 2.0.0 p.x became p.y: keep one"
        );
    }
}
