//! Fleets: every trust of a shared service, ICB or NHS England in one git repository.
//!
//! Contract: a fleet repository holds `fleet.yaml` ([`config::FleetFile`]: blueprint source and default
//! version, address pools and reserved ranges, rings, shared defaults, the trusts with their targets) and
//! `trusts/<ODS>/...` as `stamp --fleet` records them. [`Fleet::open`] reads and checks it (unknown keys,
//! invalid ODS codes, unknown rings, overlapping ranges all fail naming the field); every change goes through
//! [`Fleet::save`], which plans addresses, writes fleet.yaml atomically and commits it ([`crate::record::record_files`]).
//!
//! A trust's values, lowest first: the blueprint's defaults < the fleet's `defaults` < what the fleet knows of
//! the trust ([`Fleet::trust_layer`]: name, ODS code, address space, tenant and subscription) < the trust's own
//! `trusts/<ODS>/values.yaml` < `--set`.

pub mod address;
pub mod ci;
pub mod config;
pub mod drift;
pub mod import;
pub mod report;
pub mod run;
pub mod upgrade;
pub mod version;

use crate::types::OdsCode;
use config::{AddressOrigin, FleetFile, TrustEntry};
use std::path::{Path, PathBuf};

/// The fleet file's name at the top of the repository.
pub const FLEET_FILE: &str = "fleet.yaml";

/// What can be wrong with a fleet.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("{}: not a fleet repository (no {FLEET_FILE}); create one with `trustprint fleet init {}`", dir.display(), dir.display())]
    NotAFleet { dir: PathBuf },
    #[error("{}: already a fleet repository ({FLEET_FILE} exists)", dir.display())]
    Exists { dir: PathBuf },
    #[error("{}: {message}", file.display())]
    Parse { file: PathBuf, message: String },
    #[error("{FLEET_FILE}: {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("address space of {first} overlaps {second}")]
    Overlap { first: String, second: String },
    #[error("no free /{prefix} left for trust {ods} in the address pools ({pools}): add a pool to fleet.yaml")]
    PoolExhausted {
        ods: String,
        prefix: u8,
        pools: String,
    },
    #[error("trust {ods} is not in the fleet ({}); add it with `trustprint fleet add {ods} --values FILE` or `fleet import`", dir.display())]
    UnknownTrust { ods: String, dir: PathBuf },
    #[error(transparent)]
    Ods(#[from] crate::ods::OdsError),
}

/// An opened fleet repository.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub dir: PathBuf,
    pub file: FleetFile,
}

impl Fleet {
    /// Create a fleet repository in `dir` (a new or empty folder, or a git repository without fleet.yaml).
    pub fn init(dir: &Path, blueprint: &str) -> Result<Fleet, crate::Error> {
        if dir.join(FLEET_FILE).exists() {
            return Err(FleetError::Exists {
                dir: dir.to_path_buf(),
            }
            .into());
        }
        let mut fleet = Fleet {
            dir: dir.to_path_buf(),
            file: FleetFile {
                blueprint: config::BlueprintSource {
                    source: blueprint.to_string(),
                    // Pinned, so a newer blueprint reaches the fleet's trusts only through `fleet upgrade`.
                    version: Some(
                        crate::blueprint::open(&crate::blueprint::SourceSpec::parse(blueprint)?)?
                            .manifest
                            .version
                            .to_string(),
                    ),
                },
                addressing: config::Addressing {
                    // Room for every open English trust; why these ranges: config::DEFAULT_POOLS.
                    pools: config::default_pools()
                        .map_err(|message| crate::Error::Internal { message })?,
                    ..Default::default()
                },
                rings: ["canary", "early", "broad"]
                    .into_iter()
                    .map(|name| config::Ring {
                        name: name.to_string(),
                        trusts: Vec::new(),
                    })
                    .collect(),
                defaults: serde_yaml::Mapping::new(),
                trusts: Default::default(),
            },
        };
        fleet.save("Create the fleet")?;
        Ok(fleet)
    }

    /// Read and check `dir/fleet.yaml`.
    pub fn open(dir: &Path) -> Result<Fleet, crate::Error> {
        let path = dir.join(FLEET_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(FleetError::NotAFleet {
                    dir: dir.to_path_buf(),
                }
                .into())
            }
            Err(e) => return Err(crate::Error::io(&path, e)),
        };
        let file: FleetFile = serde_yaml::from_str(&text).map_err(|e| FleetError::Parse {
            file: path.clone(),
            message: e.to_string(),
        })?;
        let fleet = Fleet {
            dir: dir.to_path_buf(),
            file,
        };
        fleet.validate()?;
        Ok(fleet)
    }

    /// Codes, rings and addresses.
    pub fn validate(&self) -> Result<(), FleetError> {
        let invalid = |field: String, message: String| FleetError::Invalid { field, message };
        for (ods, t) in &self.file.trusts {
            if OdsCode::parse(ods).map(String::from).as_deref() != Ok(ods.as_str()) {
                return Err(invalid(
                    format!("trusts.{ods}"),
                    format!("expected an upper-case ODS code: {}", OdsCode::EXPECTED),
                ));
            }
            if let Some(ring) = &t.ring {
                if !self.file.rings.iter().any(|r| &r.name == ring) {
                    return Err(invalid(
                        format!("trusts.{ods}.ring"),
                        format!("no ring named {ring:?} in rings ({})", self.ring_names()),
                    ));
                }
            }
            address::size_for(&self.file, ods)?;
        }
        for (i, ring) in self.file.rings.iter().enumerate() {
            if self.file.rings[..i].iter().any(|r| r.name == ring.name) {
                return Err(invalid(
                    format!("rings[{i}].name"),
                    format!("ring {:?} is named twice", ring.name),
                ));
            }
            for ods in &ring.trusts {
                if !self.file.trusts.contains_key(ods) {
                    return Err(invalid(
                        format!("rings[{i}].trusts"),
                        format!("{ods} is not one of the fleet's trusts"),
                    ));
                }
                let others: Vec<&str> = self.file.rings[..i]
                    .iter()
                    .filter(|r| r.trusts.contains(ods))
                    .map(|r| r.name.as_str())
                    .collect();
                if let Some(other) = others.first() {
                    return Err(invalid(
                        format!("rings[{i}].trusts"),
                        format!("{ods} is in ring {other:?} already"),
                    ));
                }
            }
        }
        address::check(&self.file)
    }

    fn ring_names(&self) -> String {
        self.file
            .rings
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The ring a trust is in: the ring listing it, else its own `ring`, else the last ring (none without rings).
    pub fn ring_of(&self, ods: &str) -> Option<&str> {
        self.file
            .rings
            .iter()
            .find(|r| r.trusts.iter().any(|t| t == ods))
            .map(|r| r.name.as_str())
            .or_else(|| self.file.trusts.get(ods).and_then(|t| t.ring.as_deref()))
            .or_else(|| self.file.rings.last().map(|r| r.name.as_str()))
    }

    /// Allocate addresses, check everything, write fleet.yaml atomically and commit it. Returns the commit, or
    /// None when nothing changed.
    pub fn save(&mut self, message: &str) -> Result<Option<String>, crate::Error> {
        self.save_with(Vec::new(), message)
    }

    /// As [`Fleet::save`], committing other files of the repository (relative paths) in the same commit.
    pub fn save_with(
        &mut self,
        mut files: Vec<(String, Vec<u8>)>,
        message: &str,
    ) -> Result<Option<String>, crate::Error> {
        let (planned, text) = self.render_file()?;
        files.push((FLEET_FILE.to_string(), text.into_bytes()));
        let commit = self.commit(files, message)?;
        self.file = planned;
        Ok(commit)
    }

    /// Commit files of the repository (relative paths) in one commit, under the fleet's lock.
    pub fn commit(
        &self,
        files: Vec<(String, Vec<u8>)>,
        message: &str,
    ) -> Result<Option<String>, crate::Error> {
        Ok(crate::record::record_files(
            &self.dir,
            &files,
            message,
            crate::record::DEFAULT_LOCK_TIMEOUT,
        )?)
    }

    /// fleet.yaml's text for the current file, after address planning and checks.
    fn render_file(&self) -> Result<(FleetFile, String), crate::Error> {
        let mut file = self.file.clone();
        address::plan(&mut file)?;
        Fleet {
            dir: self.dir.clone(),
            file: file.clone(),
        }
        .validate()?;
        let text = format!(
            "# The fleet: its blueprint, address plan, rings, shared defaults and trusts (docs/fleets.md).\n{}",
            serde_yaml::to_string(&file).map_err(|e| crate::Error::Internal {
                message: format!("fleet.yaml does not serialise: {e}"),
            })?
        );
        let text = config::with_defaults_guide(&self.dir, &file, text);
        Ok((file, text))
    }

    /// Plan addresses into this fleet (what [`Fleet::save`] does before writing), returning the new ones.
    pub fn plan_addresses(&mut self) -> Result<Vec<address::Allocation>, FleetError> {
        address::plan(&mut self.file)
    }

    /// A trust's entry, or an error naming the fleet.
    pub fn trust(&self, ods: &str) -> Result<&TrustEntry, FleetError> {
        self.file
            .trusts
            .get(&ods.to_ascii_uppercase())
            .ok_or_else(|| FleetError::UnknownTrust {
                ods: ods.to_ascii_uppercase(),
                dir: self.dir.clone(),
            })
    }

    /// The trust's own values file in the repository.
    pub fn values_path(&self, ods: &str) -> PathBuf {
        crate::repo::FleetRepo::new(&self.dir).values_path(ods)
    }

    /// What the fleet knows of a trust, as values (`trust.name`, `trust.ods_code`, `network.address_space`,
    /// `azure.tenant_id`, `azure.subscription_id`), over the fleet's defaults.
    pub fn trust_layer(&self, ods: &str) -> Result<serde_yaml::Mapping, FleetError> {
        let t = self.trust(ods)?;
        let mut out = self.file.defaults.clone();
        let mut set = |path: &[&str], value: serde_yaml::Value| {
            let mut cur = &mut out;
            for key in &path[..path.len() - 1] {
                let k = serde_yaml::Value::from(*key);
                if !cur.get(&k).is_some_and(serde_yaml::Value::is_mapping) {
                    cur.insert(k.clone(), serde_yaml::Mapping::new().into());
                }
                cur = match cur.get_mut(&k) {
                    Some(serde_yaml::Value::Mapping(m)) => m,
                    _ => return,
                };
            }
            cur.insert(path[path.len() - 1].into(), value);
        };
        set(&["trust", "name"], t.name.clone().into());
        set(&["trust", "ods_code"], ods.into());
        if let Some(tier) = &t.tier {
            set(&["tier"], tier.clone().into());
        }
        if let Some(cidr) = t.address_space {
            set(&["network", "address_space"], cidr.to_string().into());
        }
        if let Some(target) = &t.target {
            set(&["azure", "tenant_id"], target.tenant_id.clone().into());
            set(
                &["azure", "subscription_id"],
                target.subscription_id.clone().into(),
            );
        }
        Ok(out)
    }

    /// The trust's target identity as fleet.yaml records it (`trusts.<ODS>.target`): its tenant and credential
    /// reference, which plan and apply act as instead of the environment's identity. `None` without a target.
    pub fn trust_target(
        &self,
        ods: &str,
    ) -> Result<Option<crate::deploy::TrustTarget>, FleetError> {
        Ok(self
            .trust(ods)?
            .target
            .as_ref()
            .map(|t| crate::deploy::TrustTarget {
                ods: ods.to_string(),
                tenant_id: t.tenant_id.clone(),
                credential: t.credential.clone(),
            }))
    }

    /// Add a trust with its own values file, copied to `trusts/<ODS>/values.yaml` and committed with fleet.yaml.
    /// A network address space in the file is kept as a manual range (checked for overlap); without one the
    /// fleet allocates.
    pub fn add(&mut self, ods: &str, values_file: &Path) -> Result<Option<String>, crate::Error> {
        let code = OdsCode::parse(ods)
            .map_err(|message| crate::Error::Usage {
                message: format!("fleet add: {message}"),
            })?
            .to_string();
        let text =
            std::fs::read_to_string(values_file).map_err(|e| crate::Error::io(values_file, e))?;
        let values: serde_yaml::Value =
            serde_yaml::from_str(&text).map_err(|e| FleetError::Parse {
                file: values_file.to_path_buf(),
                message: e.to_string(),
            })?;
        let field = |path: &[&str]| {
            path.iter()
                .try_fold(&values, |v, k| v.get(k))
                .and_then(serde_yaml::Value::as_str)
                .map(str::to_string)
        };
        if let Some(own) = field(&["trust", "ods_code"]) {
            if !own.eq_ignore_ascii_case(&code) {
                return Err(FleetError::Parse {
                    file: values_file.to_path_buf(),
                    message: format!(
                        "trust.ods_code is {own}, but the trust is being added as {code}"
                    ),
                }
                .into());
            }
        }
        let known = crate::ods::bundled_by_code().get(&code);
        let name = field(&["trust", "name"])
            .or_else(|| known.map(|t| t.name.clone()))
            .ok_or_else(|| FleetError::Parse {
                file: values_file.to_path_buf(),
                message: format!(
                    "trust.name is missing and {code} is not in the ODS trust list: give the trust's name"
                ),
            })?;
        let manual = match field(&["network", "address_space"]) {
            Some(s) => {
                Some(
                    crate::types::Cidr::parse(&s).map_err(|message| FleetError::Parse {
                        file: values_file.to_path_buf(),
                        message: format!("network.address_space: {message}"),
                    })?,
                )
            }
            None => None,
        };
        let entry = self.file.trusts.entry(code.clone()).or_insert(TrustEntry {
            name: name.clone(),
            region: known.map(|t| t.region.clone()),
            icb: known.map(|t| t.icb.clone()),
            tier: None,
            address_space: None,
            address: AddressOrigin::Allocated,
            ring: None,
            version: None,
            target: None,
            closed: None,
        });
        entry.name = name;
        entry.tier = field(&["tier"]).or(entry.tier.take());
        if let Some(cidr) = manual {
            entry.address_space = Some(cidr);
            entry.address = AddressOrigin::Manual;
        }
        // Everything checked before anything is written; both files in one commit.
        let (planned, fleet_text) = self.render_file()?;
        let commit = self.commit(
            vec![
                (crate::repo::FleetRepo::values_rel(&code), text.into_bytes()),
                (FLEET_FILE.to_string(), fleet_text.into_bytes()),
            ],
            &format!("Add trust {code}"),
        )?;
        self.file = planned;
        Ok(commit)
    }
}

impl crate::error::FeatureError for FleetError {
    /// A fleet repository or its fleet.yaml is invalid: invalid input.
    fn exit_code(&self) -> crate::ExitCode {
        crate::ExitCode::InvalidInput
    }
    fn kind(&self) -> &'static str {
        "fleet"
    }
}

impl From<FleetError> for crate::Error {
    fn from(e: FleetError) -> Self {
        crate::Error::Feature(crate::error::Feature(Box::new(e)))
    }
}
