//! Newtypes parsed and validated once: once a value of one of these types exists, it is valid.
//! (Owned by the load stage; implementations filled in there.)

use serde::{Deserialize, Serialize};
use std::fmt;

/// An NHS ODS organisation code for a trust: 3 characters starting R or T (`RM3`, `TAF`), or the 5-character
/// form that alternates letter and digit (`G6V2S`). Stored upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OdsCode(String);

impl OdsCode {
    /// What a valid code looks like, for error messages.
    pub const EXPECTED: &'static str =
        "a 3-character ODS code starting R or T (RM3) or a 5-character code alternating letter and digit (G6V2S)";

    pub fn parse(s: &str) -> Result<Self, String> {
        let up = s.trim().to_ascii_uppercase();
        let b = up.as_bytes();
        let classic = b.len() == 3
            && (b[0] == b'R' || b[0] == b'T')
            && b[1..].iter().all(u8::is_ascii_alphanumeric);
        let new_form = b.len() == 5
            && b.iter().enumerate().all(|(i, c)| {
                if i % 2 == 0 {
                    c.is_ascii_uppercase()
                } else {
                    c.is_ascii_digit()
                }
            });
        if s.trim() == s && (classic || new_form) {
            Ok(OdsCode(up))
        } else {
            Err(format!("{s:?} is not {}", Self::EXPECTED))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Lower case, for resource names (`kv-rm3-uks-...`).
    pub fn lower(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl TryFrom<String> for OdsCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}
impl From<OdsCode> for String {
    fn from(c: OdsCode) -> String {
        c.0
    }
}
impl fmt::Display for OdsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IPv4 address prefix (`10.20.0.0/16`) whose host bits are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr(ipnet::Ipv4Net);

impl Cidr {
    /// What a valid prefix looks like, for error messages.
    pub const EXPECTED: &'static str = "an IPv4 prefix such as 10.20.0.0/16";

    /// Parse `a.b.c.d/n`; the address must be the network address (no host bits set).
    pub fn parse(s: &str) -> Result<Self, String> {
        let net: ipnet::Ipv4Net = s
            .parse()
            .map_err(|_| format!("{s:?} is not an IPv4 prefix"))?;
        if net.trunc() != net {
            return Err(format!(
                "{s:?} has host bits set (the network address is {})",
                net.trunc()
            ));
        }
        Ok(Cidr(net))
    }

    /// Parse and require the prefix length to lie within `min..=max`.
    pub fn parse_bounded(s: &str, min: Option<u8>, max: Option<u8>) -> Result<Self, String> {
        let c = Self::parse(s)?;
        let len = c.prefix_len();
        if min.is_some_and(|m| len < m) || max.is_some_and(|m| len > m) {
            return Err(format!(
                "{s:?} has a /{len} prefix, outside {}",
                Self::bounds_text(min, max)
            ));
        }
        Ok(c)
    }

    /// `/16 to /22`, `/16 or longer`, ... for messages.
    pub fn bounds_text(min: Option<u8>, max: Option<u8>) -> String {
        match (min, max) {
            (Some(a), Some(b)) => format!("/{a} to /{b}"),
            (Some(a), None) => format!("/{a} or longer"),
            (None, Some(b)) => format!("/{b} or shorter"),
            (None, None) => "/0 to /32".into(),
        }
    }

    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }
    pub fn net(&self) -> ipnet::Ipv4Net {
        self.0
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}
impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        c.0.to_string()
    }
}
impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Azure public-cloud region names (`az account list-locations --query "[].name"`), the programmatic form ARM
/// accepts in `location`.
pub const AZURE_REGIONS: &[&str] = &[
    "australiacentral",
    "australiacentral2",
    "australiaeast",
    "australiasoutheast",
    "austriaeast",
    "belgiumcentral",
    "brazilsouth",
    "brazilsoutheast",
    "canadacentral",
    "canadaeast",
    "centralindia",
    "centralus",
    "chilecentral",
    "eastasia",
    "eastus",
    "eastus2",
    "francecentral",
    "francesouth",
    "germanynorth",
    "germanywestcentral",
    "indonesiacentral",
    "israelcentral",
    "italynorth",
    "japaneast",
    "japanwest",
    "jioindiacentral",
    "jioindiawest",
    "koreacentral",
    "koreasouth",
    "malaysiawest",
    "mexicocentral",
    "newzealandnorth",
    "northcentralus",
    "northeurope",
    "norwayeast",
    "norwaywest",
    "polandcentral",
    "qatarcentral",
    "southafricanorth",
    "southafricawest",
    "southcentralus",
    "southindia",
    "southeastasia",
    "spaincentral",
    "swedencentral",
    "switzerlandnorth",
    "switzerlandwest",
    "uaecentral",
    "uaenorth",
    "uksouth",
    "ukwest",
    "westcentralus",
    "westeurope",
    "westindia",
    "westus",
    "westus2",
    "westus3",
];

/// An Azure region by its programmatic name (`uksouth`). Display names (`UK South`) are accepted and normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

impl Region {
    pub const EXPECTED: &'static str = "an Azure region name such as uksouth or ukwest";

    pub fn parse(s: &str) -> Result<Self, String> {
        let name: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if AZURE_REGIONS.contains(&name.as_str()) {
            Ok(Region(name))
        } else {
            Err(format!("{s:?} is not an Azure region"))
        }
    }

    /// The known region nearest to a misspelt one, for "did you mean".
    pub fn nearest(s: &str) -> Option<&'static str> {
        let s = s.to_ascii_lowercase();
        AZURE_REGIONS
            .iter()
            .map(|r| (strsim::levenshtein(&s, r), *r))
            .filter(|(d, r)| *d <= (r.len() / 3).max(1))
            .min()
            .map(|(_, r)| r)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Region {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}
impl From<Region> for String {
    fn from(r: Region) -> String {
        r.0
    }
}
impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, checked for shape only (`local@domain.tld`): deliverability is not ours to judge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub const EXPECTED: &'static str = "an email address such as cloud.team@nca.nhs.uk";

    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an email address");
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && domain.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Email(s.to_string()))
        } else {
            Err(bad())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}
impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}
impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a UUID looks like, for error messages.
pub const UUID_EXPECTED: &str = "a UUID such as 0b5e4a7c-3f2d-4d1e-9a8b-7c6d5e4f3a2b";

/// Parse a UUID in its hyphenated form (the only form Azure shows), lower-cased.
pub fn parse_uuid(s: &str) -> Result<uuid::Uuid, String> {
    let bad = || format!("{s:?} is not a UUID");
    if s.len() != 36 {
        return Err(bad());
    }
    uuid::Uuid::parse_str(s).map_err(|_| bad())
}

/// An Azure subscription id (a UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubscriptionId(uuid::Uuid);

impl SubscriptionId {
    pub fn parse(s: &str) -> Result<Self, String> {
        parse_uuid(s)
            .map(SubscriptionId)
            .map_err(|_| format!("{s:?} is not a subscription id (a UUID)"))
    }
    pub fn uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl TryFrom<String> for SubscriptionId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}
impl From<SubscriptionId> for String {
    fn from(s: SubscriptionId) -> String {
        s.0.to_string()
    }
}
impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Process exit codes (documented in README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    Success = 0,
    /// The operation failed (I/O, git, Azure Resource Manager, a deployment).
    Failure = 1,
    /// `plan --detailed-exitcode` / `fleet drift`: changes (or drift) present.
    Changes = 2,
    /// Guardrail violations.
    Violations = 3,
    /// Invalid input: command line, values, blueprint.
    InvalidInput = 4,
    /// A bug in trustprint.
    Internal = 5,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ods_codes() {
        for ok in ["RM3", "rbt", "R0A", "TAF", "G6V2S", "K0N6A", "Z9B2Z"] {
            assert!(OdsCode::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            OdsCode::parse("rm3").map(String::from),
            Ok("RM3".to_string())
        );
        for bad in [
            "RM", "RM3X", "AM3", "G6V2", "66V2S", "GGV2S", " RM3", "R-3", "",
        ] {
            assert!(OdsCode::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            OdsCode::parse("RX1X").unwrap_err(),
            format!("\"RX1X\" is not {}", OdsCode::EXPECTED)
        );
    }

    #[test]
    fn every_open_english_trust_code_is_valid() {
        let csv = include_str!("../data/nhs/trusts_england_active.csv");
        for line in csv.lines().skip(1) {
            let code = line.split(',').next().unwrap_or_default();
            assert!(OdsCode::parse(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn cidrs() {
        assert_eq!(Cidr::parse("10.20.0.0/16").map(|c| c.prefix_len()), Ok(16));
        assert_eq!(
            Cidr::parse("10.20.0.1/16").unwrap_err(),
            "\"10.20.0.1/16\" has host bits set (the network address is 10.20.0.0/16)"
        );
        assert_eq!(
            Cidr::parse("10.0.0.0/33").unwrap_err(),
            "\"10.0.0.0/33\" is not an IPv4 prefix"
        );
        assert!(Cidr::parse("10.0.0.0").is_err());
        assert!(Cidr::parse("fd00::/8").is_err());
        assert_eq!(
            Cidr::parse_bounded("10.0.0.0/8", Some(16), Some(22)).unwrap_err(),
            "\"10.0.0.0/8\" has a /8 prefix, outside /16 to /22"
        );
        assert!(Cidr::parse_bounded("10.0.0.0/20", Some(16), Some(22)).is_ok());
    }

    #[test]
    fn regions() {
        assert_eq!(
            Region::parse("uksouth").map(String::from),
            Ok("uksouth".into())
        );
        assert_eq!(
            Region::parse("UK South").map(String::from),
            Ok("uksouth".into())
        );
        assert!(Region::parse("uknorth").is_err());
        assert_eq!(Region::nearest("uksouht"), Some("uksouth"));
        assert_eq!(Region::nearest("mars"), None);
    }

    #[test]
    fn emails() {
        assert!(Email::parse("cloud.team@nca.nhs.uk").is_ok());
        for bad in [
            "cloud",
            "a@b",
            "@nhs.uk",
            "a b@nhs.uk",
            "a@-x.uk",
            "a..b@nhs.uk",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uuids_and_subscriptions() {
        assert!(parse_uuid("0b5e4a7c-3f2d-4d1e-9a8b-7c6d5e4f3a2b").is_ok());
        assert!(parse_uuid("0b5e4a7c3f2d4d1e9a8b7c6d5e4f3a2b").is_err());
        assert!(parse_uuid("17k78e20-9358-41c9-923c-fb736d382a12").is_err());
        assert!(SubscriptionId::parse("0b5e4a7c-3f2d-4d1e-9a8b-7c6d5e4f3a2b").is_ok());
    }
}
