//! Which blueprint version each trust runs, and its values for a version.
//!
//! Contract: fleet.yaml's `blueprint.version` is the fleet's default version and the one its `defaults` are
//! written for; a trust's own `version` pins it elsewhere (during an upgrade), and its own values file is
//! written for the version it runs. [`Versions::open`] opens each version a command needs once
//! ([`crate::blueprint::open_version`]: a git tag, or a release patch of a folder or the embedded copy).
//! [`Fleet::trust_input`] gives a trust's values for a blueprint version: the defaults and its own file are
//! migrated in memory ([`crate::blueprint::Manifest::migrate`]) when written for an earlier version, so a
//! fleet part-way through an upgrade plans, applies and reports every trust.

use super::{Fleet, FleetError};
use crate::blueprint::{Blueprint, Manifest, SourceSpec};
use crate::Error;
use semver::Version;

impl Fleet {
    /// The fleet's blueprint source, without a version.
    pub fn source_spec(&self) -> Result<SourceSpec, Error> {
        Ok(SourceSpec::parse(&self.file.blueprint.source)?)
    }

    /// A version as fleet.yaml writes it (`1.1.0` or `v1.1.0`), or an error naming the field.
    fn parse_version(field: String, v: &str) -> Result<Version, FleetError> {
        Version::parse(v.trim().trim_start_matches('v')).map_err(|e| FleetError::Invalid {
            field,
            message: format!("`{v}` is not a version ({e}); expected one such as 1.1.0"),
        })
    }

    /// The fleet's default version, if fleet.yaml pins one.
    pub fn pinned_default(&self) -> Result<Option<Version>, FleetError> {
        self.file
            .blueprint
            .version
            .as_deref()
            .map(|v| Self::parse_version("blueprint.version".into(), v))
            .transpose()
    }

    /// The version a trust pins for itself, if any.
    pub fn pinned_version(&self, ods: &str) -> Result<Option<Version>, FleetError> {
        let t = self.trust(ods)?;
        t.version
            .as_deref()
            .map(|v| Self::parse_version(format!("trusts.{ods}.version"), v))
            .transpose()
    }

    /// The blueprint at `version`, or at the source's current version.
    pub fn blueprint_at(&self, version: Option<&Version>) -> Result<Blueprint, Error> {
        let spec = self.source_spec()?;
        match version {
            Some(v) => Ok(crate::blueprint::open_version(&spec, v)?),
            None => Ok(crate::blueprint::open(&spec)?),
        }
    }

    /// A trust's values input for the blueprint version `manifest` describes, with what migrating them
    /// changed (nothing when the trust already runs that version). `default` is the fleet's default version.
    pub fn trust_input(
        &self,
        ods: &str,
        default: &Version,
        manifest: &Manifest,
    ) -> Result<(crate::values::ValuesInput, Vec<String>), Error> {
        let own_version = self.pinned_version(ods)?.unwrap_or_else(|| default.clone());
        let mut layer = self.trust_layer(ods)?;
        if *default < manifest.version {
            // The defaults are written for the default version; the layer's own keys (name, address...) are
            // parameters of every version, so migrating the whole layer moves only the defaults.
            layer = manifest
                .migrate(default, &layer)
                .map_err(|message| FleetError::Invalid {
                    field: "defaults".into(),
                    message: format!(
                        "migrating from {default} to {}: {message}",
                        manifest.version
                    ),
                })?
                .values;
        }
        let base = serde_json::to_value(&layer).map_err(|e| Error::Internal {
            message: format!("fleet.yaml's values for {ods} are not JSON: {e}"),
        })?;
        let path = self.values_path(ods);
        let mut notes = Vec::new();
        let mut text = None;
        if path.is_file() && own_version < manifest.version {
            let original = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            // A file that does not parse is left to the values stage, which reports it with its position.
            if let Ok(values) = serde_yaml::from_str::<serde_yaml::Mapping>(&original) {
                let migrated = manifest.migrate(&own_version, &values).map_err(|message| {
                    FleetError::Parse {
                        file: path.clone(),
                        message: format!(
                            "migrating from {own_version} to {}: {message}",
                            manifest.version
                        ),
                    }
                })?;
                if !migrated.notes.is_empty() {
                    text = Some(migrated_text(&original, &migrated.values)?);
                    notes = migrated.notes;
                }
            }
        }
        Ok((
            crate::values::ValuesInput {
                file: path.is_file().then_some(path),
                text,
                base: Some((super::FLEET_FILE.to_string(), base)),
                overrides: Vec::new(),
            },
            notes,
        ))
    }
}

/// A migrated values file: the original's opening comment lines, then the values.
pub fn migrated_text(original: &str, values: &serde_yaml::Mapping) -> Result<String, Error> {
    let header: String = original
        .lines()
        .take_while(|l| l.trim_start().starts_with('#') || l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let body = serde_yaml::to_string(values).map_err(|e| Error::Internal {
        message: format!("migrated values do not serialise: {e}"),
    })?;
    Ok(format!("{header}{body}"))
}

/// The blueprint at every version a command needs, each opened once.
pub struct Versions {
    /// The fleet's default version (fleet.yaml's, else the source's current).
    pub default: Version,
    blueprints: Vec<std::sync::Arc<Blueprint>>,
}

impl Versions {
    /// Open the versions `trusts` run, and `extra` (an upgrade's target).
    pub fn open(fleet: &Fleet, trusts: &[String], extra: Option<&Version>) -> Result<Self, Error> {
        let mut blueprints: Vec<std::sync::Arc<Blueprint>> = Vec::new();
        let default = match fleet.pinned_default()? {
            Some(v) => v,
            None => {
                let bp = fleet.blueprint_at(None)?;
                let v = bp.manifest.version.clone();
                blueprints.push(bp.into());
                v
            }
        };
        let mut wanted = vec![default.clone()];
        for ods in trusts {
            wanted.push(
                fleet
                    .pinned_version(ods)?
                    .unwrap_or_else(|| default.clone()),
            );
        }
        wanted.extend(extra.cloned());
        wanted.sort();
        wanted.dedup();
        for v in wanted {
            if !blueprints.iter().any(|b| b.manifest.version == v) {
                blueprints.push(fleet.blueprint_at(Some(&v))?.into());
            }
        }
        Ok(Versions {
            default,
            blueprints,
        })
    }

    /// Every opened blueprint.
    pub fn all(&self) -> &[std::sync::Arc<Blueprint>] {
        &self.blueprints
    }

    /// The version a trust runs.
    pub fn of(&self, fleet: &Fleet, ods: &str) -> Result<Version, Error> {
        Ok(fleet
            .pinned_version(ods)?
            .unwrap_or_else(|| self.default.clone()))
    }

    /// Where the blueprint at `v` is in [`Versions::all`] (every version [`Versions::open`] was asked for).
    pub fn index(&self, v: &Version) -> Result<usize, Error> {
        self.blueprints
            .iter()
            .position(|b| b.manifest.version == *v)
            .ok_or_else(|| Error::Internal {
                message: format!("blueprint version {v} was not opened"),
            })
    }

    /// The manifest of the blueprint at `v`.
    pub fn get_manifest(&self, v: &Version) -> Result<&Manifest, Error> {
        Ok(&self.blueprints[self.index(v)?].manifest)
    }
}
