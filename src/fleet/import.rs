//! `fleet import`: trusts from NHS Digital's ODS etr extract into fleet.yaml.
//!
//! Contract: open English trusts (optionally one NHS England region or ICB) are added with their name, region
//! and ICB; closed ones are skipped, and a trust already in the fleet that the extract shows closed is marked
//! `closed` (it may have merged) and reported, never removed; a changed name is updated and reported. Importing
//! the same extract again changes nothing.

use super::config::{FleetFile, TrustEntry};
use crate::ods::OdsTrust;

/// Which part of the extract to import.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// NHS England region code (`Y62`).
    pub region: Option<String>,
    /// ICB code (`QOP`).
    pub icb: Option<String>,
}

impl Filter {
    fn keeps(&self, t: &OdsTrust) -> bool {
        self.region
            .as_deref()
            .is_none_or(|r| r.eq_ignore_ascii_case(&t.region))
            && self
                .icb
                .as_deref()
                .is_none_or(|i| i.eq_ignore_ascii_case(&t.icb))
    }
}

/// What an import did, for the report and `--output json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// Newly added trusts.
    pub added: Vec<String>,
    /// `(code, old name, new name)`.
    pub renamed: Vec<(String, String, String)>,
    /// Trusts of the fleet the extract shows closed (merged or dissolved): `(code, name, closing date)`.
    pub closed: Vec<(String, String, String)>,
    /// Region or ICB changed: `(code, what)`.
    pub moved: Vec<(String, String)>,
    /// Closed organisations of the extract skipped.
    pub skipped_closed: usize,
    /// Organisations outside England (or outside the filter) skipped.
    pub skipped_other: usize,
    /// Already in the fleet and unchanged.
    pub unchanged: usize,
}

impl ImportReport {
    /// Whether fleet.yaml changed.
    pub fn changed(&self) -> bool {
        !(self.added.is_empty()
            && self.renamed.is_empty()
            && self.closed.is_empty()
            && self.moved.is_empty())
    }
}

/// Merge the extract into the fleet.
pub fn import(fleet: &mut FleetFile, extract: &[OdsTrust], filter: &Filter) -> ImportReport {
    let mut report = ImportReport::default();
    for t in extract {
        if !t.is_english() || !filter.keeps(t) {
            report.skipped_other += 1;
            continue;
        }
        match (fleet.trusts.get_mut(&t.code), &t.closed) {
            (None, Some(_)) => report.skipped_closed += 1,
            (None, None) => {
                fleet.trusts.insert(
                    t.code.clone(),
                    TrustEntry {
                        name: t.name.clone(),
                        region: Some(t.region.clone()),
                        icb: Some(t.icb.clone()),
                        tier: None,
                        address_space: None,
                        address: Default::default(),
                        ring: None,
                        version: None,
                        target: None,
                        closed: None,
                    },
                );
                report.added.push(t.code.clone());
            }
            (Some(entry), closed) => {
                let mut same = true;
                if entry.name != t.name {
                    report
                        .renamed
                        .push((t.code.clone(), entry.name.clone(), t.name.clone()));
                    entry.name = t.name.clone();
                    same = false;
                }
                for (field, now, new) in [
                    ("region", &mut entry.region, &t.region),
                    ("ICB", &mut entry.icb, &t.icb),
                ] {
                    if now.as_deref() != Some(new.as_str()) {
                        report.moved.push((
                            t.code.clone(),
                            format!("{field} {} -> {new}", now.as_deref().unwrap_or("(none)")),
                        ));
                        *now = Some(new.clone());
                        same = false;
                    }
                }
                if entry.closed != *closed {
                    if let Some(date) = closed {
                        report
                            .closed
                            .push((t.code.clone(), t.name.clone(), date.clone()));
                    }
                    entry.closed = closed.clone();
                    same = false;
                }
                if same {
                    report.unchanged += 1;
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(lines: &[(&str, &str, &str, &str, &str)]) -> Vec<OdsTrust> {
        let text: String = lines
            .iter()
            .map(|(code, name, region, icb, closed)| {
                let mut f = vec![String::new(); 27];
                f[0] = code.to_string();
                f[1] = name.to_string();
                f[2] = region.to_string();
                f[3] = icb.to_string();
                f[11] = closed.to_string();
                f[23] = if region.is_empty() { "W" } else { "B" }.to_string();
                f.iter()
                    .map(|s| format!("\"{s}\""))
                    .collect::<Vec<_>>()
                    .join(",")
                    + "\r\n"
            })
            .collect();
        crate::ods::parse(&text, "etr.csv").unwrap()
    }

    fn empty() -> FleetFile {
        serde_yaml::from_str("blueprint: {source: embedded}").unwrap()
    }

    #[test]
    fn adds_open_english_trusts_skips_closed_and_welsh_and_is_idempotent() {
        let etr = extract(&[
            ("RM3", "NORTHERN CARE ALLIANCE", "Y62", "QOP", ""),
            ("RW6", "PENNINE ACUTE", "Y62", "QOP", "20210331"),
            ("RHW", "ROYAL BERKSHIRE", "Y59", "QU9", ""),
            ("RQF", "VELINDRE", "", "", ""),
        ]);
        let mut f = empty();
        let r = import(&mut f, &etr, &Filter::default());
        assert_eq!(r.added, ["RM3", "RHW"]);
        assert_eq!((r.skipped_closed, r.skipped_other), (1, 1));
        assert_eq!(f.trusts["RM3"].icb.as_deref(), Some("QOP"));
        let before = f.clone();
        let again = import(&mut f, &etr, &Filter::default());
        assert!(!again.changed());
        assert_eq!(again.unchanged, 2);
        assert_eq!(f, before);

        let north_west = import(
            &mut empty(),
            &etr,
            &Filter {
                region: Some("y62".into()),
                icb: None,
            },
        );
        assert_eq!(north_west.added, ["RM3"]);
    }

    #[test]
    fn renamed_moved_and_closed_trusts_are_reported_not_removed() {
        let mut f = empty();
        import(
            &mut f,
            &extract(&[
                ("RM3", "SALFORD ROYAL", "Y62", "QOP", ""),
                ("RW6", "PENNINE ACUTE", "Y62", "QOP", ""),
            ]),
            &Filter::default(),
        );
        let r = import(
            &mut f,
            &extract(&[
                ("RM3", "NORTHERN CARE ALLIANCE", "Y62", "QOP", ""),
                ("RW6", "PENNINE ACUTE", "Y62", "QOP", "20210331"),
            ]),
            &Filter::default(),
        );
        assert_eq!(
            r.renamed,
            [(
                "RM3".to_string(),
                "SALFORD ROYAL".to_string(),
                "NORTHERN CARE ALLIANCE".to_string()
            )]
        );
        assert_eq!(
            r.closed,
            [(
                "RW6".to_string(),
                "PENNINE ACUTE".to_string(),
                "20210331".to_string()
            )]
        );
        assert_eq!(f.trusts["RW6"].closed.as_deref(), Some("20210331"));
        assert_eq!(f.trusts.len(), 2);
    }
}
