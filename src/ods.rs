//! The NHS trust list: NHS Digital's ODS "etr" extract (`data/nhs/etr.csv`, bundled, or a newer copy a fleet
//! imports from).
//!
//! Contract: [`parse`] reads the extract's format (no header, every field double-quoted, some holding commas,
//! CRLF line ends, 27 columns; see `data/README.md`) into [`OdsTrust`] records, or fails naming the file, the
//! line and what was expected. [`bundled`] is the copy shipped with trustprint, parsed once.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The extract shipped with trustprint.
const BUNDLED: &str = include_str!("../data/nhs/etr.csv");
/// Columns in every line of the extract.
const COLUMNS: usize = 27;

/// One organisation of the extract.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OdsTrust {
    /// ODS code, upper case (`RM3`, `G6V2S`).
    pub code: String,
    /// Registered name, upper case as NHS Digital publishes it.
    pub name: String,
    /// NHS England region code (`Y62`); see [`region_name`].
    pub region: String,
    /// Integrated care board code (`QOP`).
    pub icb: String,
    /// Registered postcode (`M6 8HD`).
    pub postcode: String,
    /// Post town: the last address line that is not empty (`SALFORD`).
    pub town: String,
    /// Opening date, `YYYYMMDD`.
    pub opened: String,
    /// Closing date, `YYYYMMDD`, for a closed organisation.
    pub closed: Option<String>,
    /// Government office region code; `W` is Wales.
    pub gor: String,
}

impl OdsTrust {
    /// Open (no closing date).
    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    /// In England: not a Welsh organisation, and in one of NHS England's regions.
    pub fn is_english(&self) -> bool {
        self.gor != "W" && region_name(&self.region).is_some()
    }

    /// The postcode's outward code, the district (`M6` of `M6 8HD`).
    pub fn postcode_district(&self) -> &str {
        self.postcode.split_whitespace().next().unwrap_or("")
    }
}

/// A line of an extract that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}: {message}")]
pub struct OdsError {
    /// The file (or `bundled etr.csv`).
    pub origin: String,
    /// 1-based line number.
    pub line: u64,
    pub message: String,
}

/// NHS England's seven regions by code.
pub fn region_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "Y56" => "London",
        "Y58" => "South West",
        "Y59" => "South East",
        "Y60" => "Midlands",
        "Y61" => "East of England",
        "Y62" => "North West",
        "Y63" => "North East and Yorkshire",
        _ => return None,
    })
}

/// Read an extract. `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Vec<OdsTrust>, OdsError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| OdsError {
            origin: origin.to_string(),
            line: e.position().map_or(0, |p| p.record() + 1),
            message: format!("not CSV: {e}"),
        })?;
        // One record a line in this extract; the reader's own line count is off by one after a CRLF.
        let line = record.position().map_or(0, |p| p.record() + 1);
        let err = |message: String| OdsError {
            origin: origin.to_string(),
            line,
            message,
        };
        if record.len() != COLUMNS {
            return Err(err(format!(
                "expected {COLUMNS} columns (NHS Digital's etr extract), found {}",
                record.len()
            )));
        }
        let field = |i: usize| record.get(i - 1).unwrap_or("").trim().to_string();
        let code = field(1).to_ascii_uppercase();
        if crate::types::OdsCode::parse(&code).is_err() {
            return Err(err(format!(
                "column 1 is {code:?}, expected {}",
                crate::types::OdsCode::EXPECTED
            )));
        }
        let town = (5..=9)
            .rev()
            .map(field)
            .find(|f| !f.is_empty())
            .unwrap_or_default();
        let closed = Some(field(12)).filter(|c| !c.is_empty());
        out.push(OdsTrust {
            code,
            name: field(2),
            region: field(3),
            icb: field(4),
            postcode: field(10),
            town,
            opened: field(11),
            closed,
            gor: field(24),
        });
    }
    Ok(out)
}

/// The extract shipped with trustprint (`data/nhs/etr.csv`), parsed once.
pub fn bundled() -> &'static [OdsTrust] {
    static TRUSTS: OnceLock<Vec<OdsTrust>> = OnceLock::new();
    // The bundled file is checked by this module's tests; an unreadable copy would be a build mistake.
    TRUSTS.get_or_init(|| parse(BUNDLED, "bundled etr.csv").unwrap_or_default())
}

/// The bundled extract by ODS code.
pub fn bundled_by_code() -> &'static BTreeMap<String, OdsTrust> {
    static BY_CODE: OnceLock<BTreeMap<String, OdsTrust>> = OnceLock::new();
    BY_CODE.get_or_init(|| {
        bundled()
            .iter()
            .map(|t| (t.code.clone(), t.clone()))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_extract_reads_whole() {
        let all = parse(BUNDLED, "etr.csv").unwrap();
        assert_eq!(all.len(), BUNDLED.lines().count());
        assert_eq!(bundled().len(), all.len());
        // The 199 open English trusts derived from it in data/nhs/trusts_england_active.csv.
        let open_english: Vec<&OdsTrust> = all
            .iter()
            .filter(|t| t.is_open() && t.is_english())
            .collect();
        let derived = include_str!("../data/nhs/trusts_england_active.csv");
        let codes: Vec<&str> = derived
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .collect();
        assert_eq!(open_english.len(), 199);
        assert_eq!(
            open_english
                .iter()
                .map(|t| t.code.as_str())
                .collect::<Vec<_>>(),
            codes
        );
    }

    #[test]
    fn fields_with_commas_and_the_post_town() {
        let t = &bundled_by_code()["G6V2S"];
        assert_eq!(t.name, "NORTH LONDON NHS FOUNDATION TRUST");
        assert_eq!((t.region.as_str(), t.icb.as_str()), ("Y56", "Z9B2Z"));
        assert_eq!(
            (t.postcode.as_str(), t.postcode_district()),
            ("NW1 0PE", "NW1")
        );
        assert_eq!(t.town, "LONDON");
        assert!(t.is_open() && t.is_english());
        assert_eq!(region_name(&t.region), Some("London"));
    }

    #[test]
    fn a_bad_line_is_named() {
        let text = "\"RM3\",\"X\"\r\n";
        assert_eq!(
            parse(text, "etr.csv").unwrap_err().to_string(),
            "etr.csv:1: expected 27 columns (NHS Digital's etr extract), found 2"
        );
        let mut fields = vec!["\"\""; 27];
        fields[0] = "\"NOPE1\"";
        let text = format!("{}\r\n", fields.join(","));
        assert_eq!(
            parse(
                &format!(
                    "{}{text}",
                    BUNDLED.lines().next().unwrap().to_owned() + "\r\n"
                ),
                "x.csv"
            )
            .unwrap_err()
            .to_string(),
            format!(
                "x.csv:2: column 1 is \"NOPE1\", expected {}",
                crate::types::OdsCode::EXPECTED
            )
        );
    }
}
