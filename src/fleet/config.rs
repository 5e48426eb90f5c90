//! `fleet.yaml`: what a fleet repository says about its blueprint, address pools, rings, shared defaults and
//! trusts. Read with unknown keys refused (a typo never passes silently) and written back in a stable order, so
//! re-running a command that changes nothing changes no byte.

use crate::types::Cidr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// Where the blueprint comes from and the version trusts run unless they say otherwise.
    pub blueprint: BlueprintSource,
    /// Address pools and reserved ranges.
    #[serde(default)]
    pub addressing: Addressing,
    /// Upgrade rings, in rollout order (canary first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rings: Vec<Ring>,
    /// Values a shared service sets once for every trust (admin and supplier groups, contacts, tier); a trust's
    /// own values file overrides them.
    #[serde(default, skip_serializing_if = "serde_yaml::Mapping::is_empty")]
    pub defaults: serde_yaml::Mapping,
    /// The trusts, by ODS code.
    #[serde(default)]
    pub trusts: BTreeMap<String, TrustEntry>,
}

/// The fleet's blueprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueprintSource {
    /// `embedded`, a folder, or a git URL (`https://host/org/repo.git//blueprints/exemplar-epr`).
    pub source: String,
    /// The default version (a git tag for a git source; the manifest's version otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Address planning: every trust gets a non-overlapping range from the pools, sized by tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Addressing {
    /// Where trusts' address spaces are allocated from, in order.
    #[serde(default)]
    pub pools: Vec<Cidr>,
    /// Ranges no trust may use (HSCN, on-premises networks).
    #[serde(default)]
    pub reserved: Vec<Reserved>,
    /// Prefix length allocated per tier.
    #[serde(default = "default_sizes")]
    pub sizes: BTreeMap<String, u8>,
}

impl Default for Addressing {
    fn default() -> Self {
        Addressing {
            pools: Vec::new(),
            reserved: Vec::new(),
            sizes: default_sizes(),
        }
    }
}

/// The exemplar's address plan needs a /16 for a large trust (hub, EPR spoke, AVD), /17 medium, /18 small.
pub fn default_sizes() -> BTreeMap<String, u8> {
    [("large", 16), ("medium", 17), ("small", 18)]
        .into_iter()
        .map(|(t, n)| (t.to_string(), n))
        .collect()
}

/// A range no trust may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reserved {
    /// What it is (`HSCN`, `on-premises`), named in overlap errors.
    pub name: String,
    pub cidr: Cidr,
}

/// An upgrade ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ring {
    pub name: String,
    /// Its trusts by ODS code; a trust may also name its ring itself. Trusts in no ring are in the last one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusts: Vec<String>,
}

/// One trust of the fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustEntry {
    /// Registered name (from the ODS list on import).
    pub name: String,
    /// NHS England region code (`Y62`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Integrated care board code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icb: Option<String>,
    /// `small`, `medium` or `large`; sizes its address space. Defaults to the fleet defaults' `tier`, else medium.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Its address space, and whether the fleet allocated it or someone wrote it by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_space: Option<Cidr>,
    #[serde(default, skip_serializing_if = "is_allocated")]
    pub address: AddressOrigin,
    /// Its ring, when fleet.yaml's `rings` do not list it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring: Option<String>,
    /// Blueprint version, when not the fleet's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Where it deploys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Set by `fleet import` when the ODS list says the trust closed (`YYYYMMDD`); the trust stays until removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<String>,
}

fn is_allocated(o: &AddressOrigin) -> bool {
    *o == AddressOrigin::Allocated
}

/// Who chose a trust's address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressOrigin {
    /// The fleet's address planner (stable: kept once recorded).
    #[default]
    Allocated,
    /// Written by hand; checked, never moved.
    Manual,
}

/// A trust's Azure tenant, subscription and how trustprint authenticates there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub tenant_id: String,
    pub subscription_id: String,
    /// Written as fleet.yaml's readers expect: `default`, or a one-key map such as
    /// `{service_principal: {client_id_env: X, client_secret_env: Y}}` (serde_yaml's own enum form is a YAML
    /// tag, `!service_principal`, which nobody writes by hand).
    #[serde(default, with = "serde_yaml::with::singleton_map")]
    pub credential: Credential,
}

/// How to get a token for a trust's tenant. Only names of environment variables, never secrets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Credential {
    /// Whatever `--target azure` finds in the environment (service principal, workload identity, managed
    /// identity, Azure CLI), as for a single trust.
    #[default]
    Default,
    /// A service principal whose id and secret are in these environment variables.
    ServicePrincipal {
        client_id_env: String,
        client_secret_env: String,
    },
    /// Workload identity federation (GitHub Actions, Azure DevOps): the app's client id, the token file from
    /// the environment.
    WorkloadIdentity { client_id: String },
    /// The fleet's own identity in a managing tenant, delegated the trust's subscription through Azure
    /// Lighthouse: the token is issued by the managing tenant.
    Lighthouse { managing_tenant_id: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_read_and_write_as_one_key_maps() {
        for (text, expected) in [
            ("default", Credential::Default),
            (
                "{service_principal: {client_id_env: RM3_CLIENT_ID, client_secret_env: RM3_CLIENT_SECRET}}",
                Credential::ServicePrincipal {
                    client_id_env: "RM3_CLIENT_ID".into(),
                    client_secret_env: "RM3_CLIENT_SECRET".into(),
                },
            ),
            (
                "{workload_identity: {client_id: 00000000-0000-4000-8000-000000000001}}",
                Credential::WorkloadIdentity {
                    client_id: "00000000-0000-4000-8000-000000000001".into(),
                },
            ),
            (
                "{lighthouse: {managing_tenant_id: 0b5e4a7c-3f2d-4d1e-9a8b-1c2d3e4f5a6b}}",
                Credential::Lighthouse {
                    managing_tenant_id: "0b5e4a7c-3f2d-4d1e-9a8b-1c2d3e4f5a6b".into(),
                },
            ),
        ] {
            let yaml = format!("{{tenant_id: t, subscription_id: s, credential: {text}}}");
            let target: Target = serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(target.credential, expected);
            let again: Target =
                serde_yaml::from_str(&serde_yaml::to_string(&target).unwrap()).unwrap();
            assert_eq!(again, target);
        }
        let target: Target = serde_yaml::from_str("{tenant_id: t, subscription_id: s}").unwrap();
        assert_eq!(target.credential, Credential::Default);
        let e = serde_yaml::from_str::<Target>(
            "{tenant_id: t, subscription_id: s, credential: {service_principal: {client_id_env: X}}}",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("missing field `client_secret_env`"), "{e}");
    }
}
