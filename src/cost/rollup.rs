//! `trustprint fleet cost`: every trust of a fleet repository estimated, rolled up by trust, NHS England
//! region and ICB.
//!
//! Contract: [`fleet_cost`] estimates each open trust of a fleet repository (fleet.yaml) with the values and
//! blueprint version a fleet run gives it ([`crate::fleet::Fleet::trust_input`]), or, in a folder of stamped
//! trusts without fleet.yaml, each `trusts/<ODS>/values.yaml` against the blueprint given; it keeps those the
//! [`Selection`] names, uses one price sheet, and sums by region and ICB from the ODS data shipped in `data/nhs/`. One trust failing
//! to load or render is reported in its row and left out of the sums; it never stops the others.

use super::{pennies, BudgetCheck, Options, PriceSheet, PricesUsed};
use crate::error::Error;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// NHS England region names by code, "unknown region" for another.
fn region_name(code: &str) -> &'static str {
    crate::ods::region_name(code).unwrap_or("unknown region")
}

/// A trust's place in the NHS: its region code and ICB code, from NHS Digital's ODS extract shipped in
/// `data/nhs/etr.csv` (open, closed and Welsh organisations alike).
fn ods_place(ods: &str) -> Option<(String, String)> {
    crate::ods::bundled_by_code()
        .get(&ods.to_ascii_uppercase())
        .map(|t| (t.region.clone(), t.icb.clone()))
}

/// Which trusts: empty lists select everything.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub trusts: Vec<String>,
    pub regions: Vec<String>,
    pub icbs: Vec<String>,
}

impl Selection {
    fn keeps(&self, ods: &str, region: &str, icb: &str) -> bool {
        let any = |list: &[String], v: &str| {
            list.is_empty() || list.iter().any(|x| x.eq_ignore_ascii_case(v))
        };
        any(&self.trusts, ods) && any(&self.regions, region) && any(&self.icbs, icb)
    }
}

/// One trust's row.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustCost {
    pub ods_code: String,
    pub name: String,
    pub region_code: String,
    pub region: String,
    pub icb_code: String,
    /// None when the trust could not be estimated (see `error`).
    pub monthly_gbp: Option<f64>,
    pub budget: Option<BudgetCheck>,
    /// How many resources or meters were left out of its estimate.
    pub unpriced: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A group's sum.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub name: String,
    pub trusts: usize,
    pub monthly_gbp: f64,
}

/// The fleet's roll-up.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollup {
    pub prices: PricesUsed,
    pub trusts: Vec<TrustCost>,
    /// Region code → sum.
    pub by_region: BTreeMap<String, Group>,
    /// ICB code → sum.
    pub by_icb: BTreeMap<String, Group>,
    pub monthly_gbp: f64,
    /// Trusts that could not be estimated.
    pub failed: usize,
}

/// Estimate every selected trust of the fleet repository at `fleet`.
pub fn fleet_cost(
    fleet: &Path,
    blueprint: &crate::blueprint::SourceSpec,
    selection: &Selection,
    options: &Options,
) -> Result<Rollup, Error> {
    options.thresholds.validate()?;
    let sheet = PriceSheet::resolve(options.prices.as_deref())?;
    // A fleet repository's trusts run their own blueprint versions on the fleet's defaults (docs/fleets.md);
    // a folder of stamped trusts without fleet.yaml is read as `stamp --fleet` writes it, with `blueprint`.
    let mut blueprints: Vec<std::sync::Arc<crate::blueprint::Blueprint>> = Vec::new();
    let mut jobs: Vec<(String, usize, Result<crate::values::ValuesInput, Error>)> = Vec::new();
    if fleet.join(crate::fleet::FLEET_FILE).is_file() {
        let repo = crate::fleet::Fleet::open(fleet)?;
        let open: Vec<String> = crate::fleet::run::Selection::default().resolve(&repo)?;
        let versions = crate::fleet::version::Versions::open(&repo, &open, None)?;
        blueprints = versions.all().to_vec();
        for ods in open {
            let (region_code, icb_code) = ods_place(&ods).unwrap_or_default();
            if !selection.keeps(&ods, &region_code, &icb_code) {
                continue;
            }
            let at = versions.index(&versions.of(&repo, &ods)?)?;
            let input = repo
                .trust_input(&ods, &versions.default, &blueprints[at].manifest)
                .map(|(input, _)| input);
            jobs.push((ods, at, input));
        }
    } else {
        let repo = crate::repo::FleetRepo::new(fleet);
        let mut folders = repo.trust_folders()?;
        folders.retain(|ods| repo.values_path(ods).is_file());
        blueprints.push(crate::blueprint::open(blueprint)?.into());
        for ods in folders {
            let (region_code, icb_code) = ods_place(&ods).unwrap_or_default();
            if selection.keeps(&ods, &region_code, &icb_code) {
                let input = crate::values::ValuesInput {
                    file: Some(repo.values_path(&ods)),
                    text: None,
                    base: None,
                    overrides: Vec::new(),
                };
                jobs.push((ods, 0, Ok(input)));
            }
        }
    }
    let renderers = blueprints
        .iter()
        .map(|b| crate::render::Renderer::new(b))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    for (ods, at, input) in jobs {
        let (region_code, icb_code) = ods_place(&ods).unwrap_or_default();
        let costed = input.and_then(|input| {
            let values = crate::values::load(&blueprints[at].manifest, &input)?;
            let rendered = renderers[at].render(&values)?;
            super::estimate_rendered(&values, &rendered, &sheet, options)
        });
        let mut row = TrustCost {
            ods_code: ods.clone(),
            name: String::new(),
            region: region_name(&region_code).to_string(),
            region_code,
            icb_code,
            monthly_gbp: None,
            budget: None,
            unpriced: 0,
            error: None,
        };
        match costed {
            Ok(c) => {
                row.name = c.trust.name.clone();
                row.monthly_gbp = Some(c.estimate.monthly_gbp);
                row.unpriced = c.estimate.unpriced.len();
                row.budget = c.budget;
            }
            Err(e) => row.error = Some(e.to_string()),
        }
        rows.push(row);
    }
    let mut by_region: BTreeMap<String, Group> = BTreeMap::new();
    let mut by_icb: BTreeMap<String, Group> = BTreeMap::new();
    for row in &rows {
        let Some(gbp) = row.monthly_gbp else { continue };
        for (map, key, name) in [
            (&mut by_region, &row.region_code, row.region.clone()),
            (&mut by_icb, &row.icb_code, row.icb_code.clone()),
        ] {
            let g = map.entry(key.clone()).or_insert_with(|| Group {
                name,
                ..Group::default()
            });
            g.trusts += 1;
            g.monthly_gbp = pennies(g.monthly_gbp + gbp);
        }
    }
    let monthly_gbp = pennies(rows.iter().filter_map(|r| r.monthly_gbp).sum());
    Ok(Rollup {
        prices: PricesUsed {
            date: sheet.date().to_string(),
            currency: sheet.file.billing_currency.clone(),
            source: sheet.source.to_string(),
            origin: sheet.file.origin.clone(),
        },
        failed: rows.iter().filter(|r| r.error.is_some()).count(),
        trusts: rows,
        by_region,
        by_icb,
        monthly_gbp,
    })
}

impl Rollup {
    /// The roll-up as text: a row per trust, then the sums by region and ICB.
    pub fn render_text(&self) -> String {
        use std::fmt::Write;
        let mut s = format!(
            "Fleet monthly estimate in {}, prices of {} from {}\n\n",
            self.prices.currency, self.prices.date, self.prices.source
        );
        for t in &self.trusts {
            match (&t.monthly_gbp, &t.error) {
                (Some(gbp), _) => {
                    let budget = t
                        .budget
                        .as_ref()
                        .map(|b| format!(", {:.1}% of budget", b.percent))
                        .unwrap_or_default();
                    let unpriced = if t.unpriced > 0 {
                        format!(", {} unpriced", t.unpriced)
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        s,
                        "  {:<6} £{:>11.2}  {} ({}, ICB {}){budget}{unpriced}",
                        t.ods_code, gbp, t.name, t.region, t.icb_code
                    );
                }
                (None, error) => {
                    let _ = writeln!(
                        s,
                        "  {:<6} failed: {}",
                        t.ods_code,
                        error.as_deref().unwrap_or("unknown")
                    );
                }
            }
        }
        let _ = writeln!(s, "\nBy NHS England region:");
        for (code, g) in &self.by_region {
            let _ = writeln!(
                s,
                "  {code} {:<26} {:>3} trust(s)  £{:>12.2}",
                g.name, g.trusts, g.monthly_gbp
            );
        }
        let _ = writeln!(s, "\nBy ICB:");
        for (code, g) in &self.by_icb {
            let _ = writeln!(
                s,
                "  {code:<6} {:>3} trust(s)  £{:>12.2}",
                g.trusts, g.monthly_gbp
            );
        }
        let _ = writeln!(
            s,
            "\nTotal: £{:.2} a month over {} trust(s){}",
            self.monthly_gbp,
            self.trusts.len() - self.failed,
            if self.failed > 0 {
                format!("; {} failed and are not in it", self.failed)
            } else {
                String::new()
            }
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ods_place_reads_active_and_closed_trusts() {
        assert_eq!(ods_place("G6V2S"), Some(("Y56".into(), "Z9B2Z".into())));
        assert_eq!(ods_place("r0a"), Some(("Y62".into(), "QOP".into())));
        assert_eq!(ods_place("XXX"), None);
        // A name with commas, quoted in the file.
        assert_eq!(ods_place("RF4"), Some(("Y56".into(), "QMF".into())));
    }
}
