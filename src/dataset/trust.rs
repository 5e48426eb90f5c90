//! The trust a dataset is generated for, read from the ODS "etr" extract shipped in `data/nhs/etr.csv`:
//! its name, the postcode district its patients live in (column 10, the trust's registered postcode) and
//! whether it is an acute or a community trust, which shapes the clinical mix.

use super::DatasetError;

const ETR: &str = include_str!("../../data/nhs/etr.csv");

/// What kind of care a trust gives; it decides encounter classes, ages and the conditions drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrustKind {
    /// Hospitals: emergency, inpatient and outpatient encounters, acute conditions.
    Acute,
    /// Community and mental health services: home visits and clinics, long-term conditions, older patients.
    Community,
}

impl TrustKind {
    /// The ODS extract has no service-type column, so the kind is read from the organisation's name: the
    /// words NHS England uses for community, mental health and combined health-and-care providers.
    pub fn from_name(name: &str) -> Self {
        const COMMUNITY_WORDS: [&str; 6] = [
            "COMMUNITY",
            "MENTAL HEALTH",
            "PARTNERSHIP",
            "CARE SERVICES",
            "HEALTH AND CARE",
            "INTEGRATED CARE",
        ];
        let upper = name.to_ascii_uppercase();
        if COMMUNITY_WORDS.iter().any(|w| upper.contains(w)) {
            TrustKind::Community
        } else {
            TrustKind::Acute
        }
    }
}

/// One open NHS trust as the generator needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trust {
    pub ods_code: String,
    pub name: String,
    /// The registered postcode (`M6 8HD`).
    pub postcode: String,
    /// Its outward code (`M6`): every patient's postcode is in this district.
    pub district: String,
    /// The post town (`SALFORD`).
    pub town: String,
    pub kind: TrustKind,
}

/// Split one line of the extract: every field is double-quoted, some hold commas ("4TH FLOOR, EAST WING").
fn fields(line: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(27);
    let mut rest = line.trim_end_matches(['\r', '\n']);
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            out.push(&quoted[..end]);
            rest = quoted.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            out.push(&rest[..end]);
            rest = &rest[end..];
        }
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    out
}

impl Trust {
    /// The open trust with this ODS code (case-insensitive).
    pub fn lookup(ods_code: &str) -> Result<Trust, DatasetError> {
        let wanted = ods_code.trim().to_ascii_uppercase();
        let mut closed = false;
        for line in ETR.lines() {
            let f = fields(line);
            if f.first() != Some(&wanted.as_str()) {
                continue;
            }
            if f.get(11).is_some_and(|c| !c.is_empty()) {
                closed = true;
                continue;
            }
            let name = f.get(1).copied().unwrap_or_default().to_owned();
            let postcode = f.get(9).copied().unwrap_or_default().trim().to_owned();
            let district = postcode.split_whitespace().next().unwrap_or("").to_owned();
            if district.is_empty() {
                return Err(DatasetError::Trust {
                    ods_code: wanted,
                    message: "its ODS record (data/nhs/etr.csv) has no postcode".into(),
                });
            }
            return Ok(Trust {
                kind: TrustKind::from_name(&name),
                ods_code: wanted,
                town: f.get(7).copied().unwrap_or_default().to_owned(),
                name,
                postcode,
                district,
            });
        }
        Err(DatasetError::Trust {
            message: if closed {
                "the trust is closed in the ODS extract (data/nhs/etr.csv)".into()
            } else {
                "no trust has this code in the ODS extract (data/nhs/etr.csv)".into()
            },
            ods_code: wanted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exemplar_trusts() {
        let rm3 = Trust::lookup("rm3").unwrap();
        assert_eq!(rm3.name, "NORTHERN CARE ALLIANCE NHS FOUNDATION TRUST");
        assert_eq!(
            (rm3.district.as_str(), rm3.town.as_str()),
            ("M6", "SALFORD")
        );
        assert_eq!(rm3.kind, TrustKind::Acute);
        let ry6 = Trust::lookup("RY6").unwrap();
        assert_eq!(ry6.district, "LS11");
        assert_eq!(ry6.kind, TrustKind::Community);
        // A field holding a comma does not shift the columns after it.
        assert_eq!(Trust::lookup("G6V2S").unwrap().postcode, "NW1 0PE");
    }

    #[test]
    fn unknown_and_closed_codes() {
        assert_eq!(
            Trust::lookup("RZZ").unwrap_err().to_string(),
            "trust RZZ: no trust has this code in the ODS extract (data/nhs/etr.csv)"
        );
        let closed = ETR
            .lines()
            .map(fields)
            .find(|f| f.get(11).is_some_and(|c| !c.is_empty()))
            .map(|f| f[0].to_owned())
            .unwrap();
        assert!(Trust::lookup(&closed)
            .unwrap_err()
            .to_string()
            .ends_with("the trust is closed in the ODS extract (data/nhs/etr.csv)"));
    }
}
