//! `fleet.yaml`: what a fleet repository says about its blueprint, address pools, rings, shared defaults and
//! trusts. Read with unknown keys refused (a typo never passes silently) and written back in a stable order, so
//! re-running a command that changes nothing changes no byte.

use crate::blueprint::{Manifest, ParamType, Parameter};
use crate::types::Cidr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

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

/// The address pools `fleet init` writes, in allocation order. Together 208 /16s: room for every open trust
/// in England (199 in the bundled ODS list) even if every one were large (/16), and for all of them at the
/// default medium tier (/17) with 10.64.0.0/10 and 10.128.0.0/9 alone. Left out: 10.0.0.0/10, where trusts'
/// on-premises networks are most often numbered (add HSCN and on-premises ranges as `reserved`), and
/// 192.168.0.0/16, which home routers use (staff on VPN would clash). 172.16.0.0/12 comes last: it is only
/// reached by a fleet of mostly large trusts. docs/fleets.md, *Address planning*, says the same.
pub const DEFAULT_POOLS: [&str; 3] = ["10.64.0.0/10", "10.128.0.0/9", "172.16.0.0/12"];

/// [`DEFAULT_POOLS`], parsed.
pub fn default_pools() -> Result<Vec<Cidr>, String> {
    DEFAULT_POOLS.iter().map(|p| Cidr::parse(p)).collect()
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

/// How to get a token for a trust's tenant, as fleet.yaml spells it; defined by the deployment target, which
/// reads it at connect time.
pub use crate::deploy::target::CredentialRef as Credential;

/// Values fleet.yaml gives each trust itself ([`super::Fleet::trust_layer`]), which `defaults:` need not hold.
pub const GIVEN_PER_TRUST: [&str; 6] = [
    "trust.name",
    "trust.ods_code",
    "tier",
    "network.address_space",
    "azure.tenant_id",
    "azure.subscription_id",
];

/// The blueprint's required parameters a trust with no values file of its own must get from `defaults:`.
pub fn shared_required(manifest: &Manifest) -> Vec<(&str, &Parameter)> {
    manifest
        .parameters
        .iter()
        .filter(|(k, p)| {
            p.required && p.default.is_none() && !GIVEN_PER_TRUST.contains(&k.as_str())
        })
        .map(|(k, p)| (k.as_str(), p))
        .collect()
}

/// Whether `defaults` gives the dotted `key`, as nested maps (`access: {admin_group_object_id: ..}`) or
/// as the dotted key itself.
pub fn gives(defaults: &serde_yaml::Mapping, key: &str) -> bool {
    if defaults.contains_key(key) {
        return true;
    }
    match key.split_once('.') {
        Some((head, rest)) => {
            matches!(defaults.get(head), Some(serde_yaml::Value::Mapping(m)) if gives(m, rest))
        }
        None => false,
    }
}

/// What a required key takes, on one line: its type, an example, and the first sentence of its description.
pub fn note(p: &Parameter) -> String {
    let ty = serde_json::to_value(p.ty)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let description = p
        .description
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let first = description
        .split(". ")
        .next()
        .unwrap_or_default()
        .trim_end_matches('.');
    let example = match (&p.ty, &p.example) {
        (ParamType::Secret, _) => " by reference ({env: VAR} or a Key Vault reference)".to_owned(),
        (_, Some(e)) => format!(", e.g. {}", serde_json::to_string(e).unwrap_or_default()),
        (_, None) => String::new(),
    };
    format!("{ty}{example}: {first}")
}

/// The line the commented `defaults:` block of fleet.yaml starts its keys after.
const GUIDE_MARK: &str = "# defaults:";

/// fleet.yaml's commented `defaults:` block: the keys every trust needs that `defaults:` does not hold yet,
/// each with what it takes (`entries`: dotted key and [`note`]), nested as a values file nests them.
pub fn guide(entries: &[(String, String)], defaults_empty: bool) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let place = if defaults_empty {
        "uncomment the block and fill it in"
    } else {
        "add them under the `defaults:` above"
    };
    let mut out = format!(
        "# Shared defaults: every trust needs these values and `defaults:` does not hold them yet: {place}\n\
         # (a trust's own trusts/<ODS>/values.yaml overrides any of them), then run `trustprint fleet plan`.\n\
         # Secrets only by reference ({{env: VAR}} or a Key Vault reference), never the secret itself.\n\
         {GUIDE_MARK}\n"
    );
    // A tree in first-appearance order, so that each map is opened once.
    #[derive(Default)]
    struct Node {
        children: Vec<(String, Node)>,
        note: Option<String>,
    }
    let mut root = Node::default();
    for (key, n) in entries {
        let mut node = &mut root;
        for part in key.split('.') {
            let i = match node.children.iter().position(|(name, _)| name == part) {
                Some(i) => i,
                None => {
                    node.children.push((part.to_owned(), Node::default()));
                    node.children.len() - 1
                }
            };
            node = &mut node.children[i].1;
        }
        node.note = Some(n.clone());
    }
    fn write(out: &mut String, node: &Node, depth: usize) {
        for (name, child) in &node.children {
            let indent = "  ".repeat(depth);
            match &child.note {
                Some(n) => out.push_str(&format!("#   {indent}{name}:   # {n}\n")),
                None => out.push_str(&format!("#   {indent}{name}:\n")),
            }
            write(out, child, depth + 1);
        }
    }
    write(&mut out, &root, 0);
    out
}

/// The entries of a [`guide`] in fleet.yaml's text (none when it has no guide).
pub fn parse_guide(text: &str) -> Vec<(String, String)> {
    let mut lines = text.lines().skip_while(|l| *l != GUIDE_MARK);
    if lines.next().is_none() {
        return Vec::new();
    }
    let mut path: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in lines {
        let Some(rest) = line.strip_prefix("#   ") else {
            break;
        };
        let depth = (rest.len() - rest.trim_start().len()) / 2;
        let (name, note) = match rest.trim_start().split_once(':') {
            Some((name, after)) => (name.to_owned(), after.trim().strip_prefix("# ")),
            None => break,
        };
        path.truncate(depth);
        path.push(name);
        if let Some(n) = note {
            out.push((path.join("."), n.to_owned()));
        }
    }
    out
}

/// fleet.yaml's `text` with the commented `defaults:` block in front of `trusts:`, listing the keys every
/// trust needs that `file.defaults` does not hold yet. The keys come from the block the file on disk already
/// has (a save keeps it, shrinking as keys are filled in) or, when there is no file yet (`fleet init`), from
/// the blueprint. Without either, `text` is returned as it is.
pub fn with_defaults_guide(dir: &Path, file: &FleetFile, text: String) -> String {
    let entries = match std::fs::read_to_string(dir.join(super::FLEET_FILE)) {
        Ok(old) => parse_guide(&old),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let fleet = super::Fleet {
                dir: dir.to_path_buf(),
                file: file.clone(),
            };
            // The source's current version: the one `fleet init` pins (a git source need not tag it).
            let blueprint = fleet.blueprint_at(None).ok();
            match blueprint {
                Some(b) => shared_required(&b.manifest)
                    .into_iter()
                    .map(|(k, p)| (k.to_owned(), note(p)))
                    .collect(),
                None => Vec::new(),
            }
        }
        Err(_) => Vec::new(),
    };
    let missing: Vec<(String, String)> = entries
        .into_iter()
        .filter(|(k, _)| !gives(&file.defaults, k))
        .collect();
    let block = guide(&missing, file.defaults.is_empty());
    if block.is_empty() {
        return text;
    }
    match text.find("\ntrusts:") {
        Some(i) => format!("{}{block}{}", &text[..=i], &text[i + 1..]),
        None => format!("{text}{block}"),
    }
}

/// The keys of [`parse_guide`] still listed in the fleet's fleet.yaml: what `fleet import` tells the user
/// to fill in next.
pub fn still_missing(fleet: &super::Fleet) -> Vec<String> {
    std::fs::read_to_string(fleet.dir.join(super::FLEET_FILE))
        .map(|t| parse_guide(&t))
        .unwrap_or_default()
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| !gives(&fleet.file.defaults, k))
        .collect()
}

/// What `fleet import` (and `fleet init`) tell the user to do next: fill in the shared defaults still missing,
/// then plan.
pub fn next_steps(fleet: &super::Fleet) -> String {
    let plan = format!("`trustprint fleet plan --fleet {}`", fleet.dir.display());
    let missing = still_missing(fleet);
    if missing.is_empty() {
        return format!("next: {plan}");
    }
    format!(
        "next: fill in the {} shared value(s) every trust needs under `defaults:` in {} (listed there as \
         comments: {}), then {plan}",
        missing.len(),
        fleet.dir.join(super::FLEET_FILE).display(),
        missing.join(", ")
    )
}

/// Before a fleet run starts any trust: the required values that no selected trust gets (from `defaults:`,
/// what fleet.yaml knows of it, or its own values file) fail the run once, listed with what each takes,
/// instead of every trust failing with the same list. A value only some trusts lack fails those trusts
/// alone, each naming its own values file, as any other problem of one trust does.
pub fn check_shared_defaults(
    fleet: &super::Fleet,
    versions: &super::version::Versions,
    trusts: &[String],
    upgrade_to: Option<&semver::Version>,
) -> Result<(), crate::Error> {
    let mut lacking: Option<Vec<(String, String)>> = None;
    for ods in trusts {
        let version = match upgrade_to {
            Some(v) => v.clone(),
            None => versions.of(fleet, ods)?,
        };
        let manifest = versions.get_manifest(&version)?;
        // A trust whose values cannot even be put together fails alone, later, with its own error.
        let Ok((input, _)) = fleet.trust_input(ods, &versions.default, manifest) else {
            return Ok(());
        };
        let missing: Vec<(String, String)> = match crate::values::load(manifest, &input) {
            Ok(_) => return Ok(()),
            Err(crate::values::Error::Invalid { diagnostics, .. }) => diagnostics
                .iter()
                .filter_map(|d| {
                    let key = d
                        .message
                        .strip_prefix("missing required key `")?
                        .strip_suffix('`')?;
                    let p = manifest.parameters.get(key)?;
                    Some((key.to_owned(), note(p)))
                })
                .collect(),
            Err(_) => return Ok(()),
        };
        let common = match lacking.take() {
            None => missing,
            Some(before) => before
                .into_iter()
                .filter(|(k, _)| missing.iter().any(|(m, _)| m == k))
                .collect(),
        };
        if common.is_empty() {
            return Ok(());
        }
        lacking = Some(common);
    }
    let Some(keys) = lacking else {
        return Ok(());
    };
    let list: Vec<String> = keys.iter().map(|(k, n)| format!("  - {k}: {n}")).collect();
    Err(super::FleetError::Invalid {
        field: "defaults".into(),
        message: format!(
            "{} required value(s) are missing for all {} selected trust(s): neither `defaults:` in {} nor \
             any trust's own trusts/<ODS>/values.yaml gives them:\n{}\nFill them in under `defaults:` \
             (`fleet init` listed them there as comments; docs/fleets.md, \"Shared defaults\"), then run \
             again. No trust was started.",
            keys.len(),
            trusts.len(),
            fleet.dir.join(super::FLEET_FILE).display(),
            list.join("\n")
        ),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<(String, String)> {
        [
            ("access.admin_group_object_id", "uuid: admins"),
            ("contacts.it_email", "email: service desk"),
            ("access.epr_supplier_group_object_id", "uuid: supplier"),
            ("cost_centre", "string: cost centre"),
        ]
        .iter()
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .collect()
    }

    #[test]
    fn the_defaults_guide_nests_each_map_once_and_reads_back() {
        let text = guide(&entries(), true);
        assert!(
            text.ends_with(
                "# defaults:\n#   access:\n#     admin_group_object_id:   # uuid: admins\n\
                 #     epr_supplier_group_object_id:   # uuid: supplier\n#   contacts:\n\
                 #     it_email:   # email: service desk\n#   cost_centre:   # string: cost centre\n"
            ),
            "{text}"
        );
        let mut back = parse_guide(&format!("blueprint: {{}}\n{text}trusts: {{}}\n"));
        let mut want = entries();
        back.sort();
        want.sort();
        assert_eq!(back, want);
        assert!(guide(&[], true).is_empty());
        assert!(parse_guide("blueprint: {}\n# defaults are nice\n").is_empty());
    }

    #[test]
    fn defaults_give_a_key_nested_or_dotted() {
        let d: serde_yaml::Mapping =
            serde_yaml::from_str("{access: {admin_group_object_id: x}, contacts.it_email: y}")
                .unwrap();
        assert!(gives(&d, "access.admin_group_object_id"));
        assert!(gives(&d, "contacts.it_email"));
        assert!(!gives(&d, "access.epr_supplier_group_object_id"));
        assert!(!gives(&d, "cost_centre"));
    }

    #[test]
    fn a_save_keeps_the_guide_in_front_of_the_trusts_listing_only_what_is_still_missing() {
        let dir = tempfile::tempdir().unwrap();
        let mut file: FleetFile = serde_yaml::from_str("blueprint: {source: embedded}").unwrap();
        let on_disk = format!(
            "blueprint:\n  source: embedded\n{}trusts: {{}}\n",
            guide(&entries(), true)
        );
        std::fs::write(dir.path().join(super::super::FLEET_FILE), &on_disk).unwrap();
        let text = "blueprint:\n  source: embedded\ntrusts: {}\n".to_string();
        assert_eq!(
            with_defaults_guide(dir.path(), &file, text.clone()),
            on_disk
        );
        file.defaults = serde_yaml::from_str(
            "{access: {admin_group_object_id: x, epr_supplier_group_object_id: y}}",
        )
        .unwrap();
        let saved = with_defaults_guide(dir.path(), &file, text.clone());
        assert_eq!(
            parse_guide(&saved),
            [
                (
                    "contacts.it_email".to_string(),
                    "email: service desk".to_string()
                ),
                ("cost_centre".to_string(), "string: cost centre".to_string())
            ]
        );
        assert!(
            saved.contains("add them under the `defaults:` above"),
            "{saved}"
        );
        assert!(saved.ends_with("cost centre\ntrusts: {}\n"), "{saved}");
        file.defaults =
            serde_yaml::from_str("{access: {admin_group_object_id: x, epr_supplier_group_object_id: y}, contacts: {it_email: z}, cost_centre: c}")
                .unwrap();
        assert_eq!(with_defaults_guide(dir.path(), &file, text.clone()), text);
    }

    #[test]
    fn a_new_fleet_lists_the_blueprints_required_keys_but_not_what_fleet_yaml_gives_each_trust() {
        let bp = crate::blueprint::open(&crate::blueprint::SourceSpec::parse("embedded").unwrap())
            .unwrap();
        let keys: Vec<&str> = shared_required(&bp.manifest)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys.len(), 15, "{keys:?}");
        assert!(keys.contains(&"access.admin_group_object_id"));
        assert!(keys.contains(&"sql.service_account_password"));
        assert!(!keys.iter().any(|k| GIVEN_PER_TRUST.contains(k)));
        let p = &bp.manifest.parameters["sql.service_account_password"];
        assert!(
            note(p).starts_with("secret by reference ({env: VAR} or a Key Vault reference): "),
            "{}",
            note(p)
        );
    }

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
