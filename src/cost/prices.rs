//! The price sheet: items in the Azure Retail Prices API's own format, in GBP, with the date they were taken.
//!
//! Where a sheet comes from, first found wins: `--prices FILE`; the sheet `trustprint prices refresh` wrote to
//! the cache (`<cache>/prices/retail-prices-gbp.json`, see [`crate::blueprint::cache_dir`]); the snapshot built
//! into trustprint (`data/prices/retail-prices-gbp.json`, its origin in `data/README.md`).

use super::Error;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The snapshot built into trustprint.
const EMBEDDED: &str = include_str!("../../data/prices/retail-prices-gbp.json");

/// The file name of a price sheet in the cache.
pub const SHEET_FILE: &str = "retail-prices-gbp.json";

/// One price, exactly as the Retail Prices API returns it (the fields trustprint reads; others are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceItem {
    /// `uksouth`; empty for prices that are the same everywhere (software licences).
    #[serde(default)]
    pub arm_region_name: String,
    /// `Standard_D4s_v5` for virtual machines; often empty for other services.
    #[serde(default)]
    pub arm_sku_name: String,
    pub meter_name: String,
    pub product_name: String,
    pub sku_name: String,
    pub service_name: String,
    /// `1 Hour`, `1/Month`, `1 GB`, `1 GB/Month`, `10K`, ...
    pub unit_of_measure: String,
    pub retail_price: f64,
    pub currency_code: String,
    /// `Consumption`, `Reservation`, `DevTestConsumption`: estimates use `Consumption` only.
    #[serde(rename = "type")]
    pub price_type: String,
    #[serde(default)]
    pub effective_start_date: String,
}

impl PriceItem {
    /// How many of the meter's base units one `unitOfMeasure` is (`10K` → 10000, `1 Hour` → 1).
    pub fn unit_size(&self) -> f64 {
        let u = self.unit_of_measure.trim();
        let digits: String = u.chars().take_while(char::is_ascii_digit).collect();
        let n: f64 = digits.parse().unwrap_or(1.0);
        let rest = u[digits.len()..].trim_start();
        if rest.starts_with('K') {
            n * 1_000.0
        } else if rest == "M" || rest.starts_with("M ") {
            n * 1_000_000.0
        } else {
            n
        }
    }
}

/// A price sheet file: the Retail Prices API's page format (`Items`, `NextPageLink`) plus the date the
/// prices were taken and where they came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SheetFile {
    /// `YYYY-MM-DD`: when the prices were taken (shown with every estimate).
    #[serde(rename = "snapshotDate")]
    pub snapshot_date: String,
    /// How the sheet was made (`prices.azure.com ...` or how a snapshot was compiled).
    #[serde(default)]
    pub origin: String,
    #[serde(rename = "BillingCurrency", default = "gbp")]
    pub billing_currency: String,
    #[serde(rename = "Items")]
    pub items: Vec<PriceItem>,
    #[serde(rename = "NextPageLink", default)]
    pub next_page_link: Option<String>,
    #[serde(rename = "Count", default)]
    pub count: usize,
}

fn gbp() -> String {
    "GBP".into()
}

/// Where a sheet was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SheetSource {
    /// The snapshot built into trustprint.
    Embedded,
    /// A refreshed sheet in the cache.
    Cache { path: PathBuf },
    /// `--prices FILE`.
    File { path: PathBuf },
}

impl std::fmt::Display for SheetSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SheetSource::Embedded => write!(f, "the snapshot built into trustprint"),
            SheetSource::Cache { path } => write!(f, "refreshed sheet {}", path.display()),
            SheetSource::File { path } => write!(f, "{}", path.display()),
        }
    }
}

/// A loaded price sheet.
#[derive(Debug, Clone)]
pub struct PriceSheet {
    pub file: SheetFile,
    pub source: SheetSource,
}

/// What one meter is, to look it up: every field given must match (case-insensitively).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<'a> {
    pub service: &'a str,
    pub product: Option<&'a str>,
    pub sku: Option<&'a str>,
    pub meter: Option<&'a str>,
    pub arm_sku: Option<&'a str>,
}

impl std::fmt::Display for Query<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.service)?;
        for part in [self.product, self.arm_sku, self.sku, self.meter]
            .into_iter()
            .flatten()
        {
            write!(f, " / {part}")?;
        }
        Ok(())
    }
}

impl PriceSheet {
    /// The snapshot built into trustprint.
    pub fn embedded() -> Result<PriceSheet, Error> {
        Self::parse(EMBEDDED.as_bytes(), SheetSource::Embedded)
    }

    /// Read a sheet file.
    pub fn read(path: &Path, source: SheetSource) -> Result<PriceSheet, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::PriceSheet {
            source_desc: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&bytes, source)
    }

    fn parse(bytes: &[u8], source: SheetSource) -> Result<PriceSheet, Error> {
        let invalid = |message: String| Error::PriceSheet {
            source_desc: source.to_string(),
            message,
        };
        let file: SheetFile = serde_json::from_slice(bytes).map_err(|e| {
            invalid(format!(
                "not a price sheet (the Retail Prices API's item format with a snapshotDate): {e}"
            ))
        })?;
        if let Some(item) = file.items.iter().find(|i| i.currency_code != "GBP") {
            return Err(invalid(format!(
                "item '{}' ({}) is priced in {}; expected GBP",
                item.meter_name, item.arm_region_name, item.currency_code
            )));
        }
        Ok(PriceSheet { file, source })
    }

    /// The sheet an estimate uses: `explicit` (`--prices FILE`), else a refreshed sheet in the cache, else the
    /// embedded snapshot.
    pub fn resolve(explicit: Option<&Path>) -> Result<PriceSheet, Error> {
        if let Some(path) = explicit {
            return Self::read(
                path,
                SheetSource::File {
                    path: path.to_path_buf(),
                },
            );
        }
        if let Some(path) = cached_sheet_path().filter(|p| p.is_file()) {
            return Self::read(&path.clone(), SheetSource::Cache { path });
        }
        Self::embedded()
    }

    /// The date the prices were taken.
    pub fn date(&self) -> &str {
        &self.file.snapshot_date
    }

    /// The pay-as-you-go price of the meter `query` names in `region`; prices that are the same everywhere
    /// (an empty `armRegionName`) match any region.
    pub fn find(&self, region: &str, query: &Query<'_>) -> Option<&PriceItem> {
        let eq = |a: &str, b: Option<&str>| b.is_none_or(|b| a.eq_ignore_ascii_case(b));
        let mut found: Option<&PriceItem> = None;
        for item in &self.file.items {
            let region_ok = item.arm_region_name.is_empty()
                || item.arm_region_name.eq_ignore_ascii_case(region);
            if region_ok
                && item.price_type == "Consumption"
                && item.service_name.eq_ignore_ascii_case(query.service)
                && eq(&item.product_name, query.product)
                && eq(&item.sku_name, query.sku)
                && eq(&item.meter_name, query.meter)
                && eq(&item.arm_sku_name, query.arm_sku)
                // Spot and low-priority meters share a VM's armSkuName; an estimate is for regular VMs.
                && !item.sku_name.contains("Spot")
                && !item.sku_name.contains("Low Priority")
            {
                // The latest effective price wins when the API lists a meter's history.
                if found.is_none_or(|f| item.effective_start_date > f.effective_start_date) {
                    found = Some(item);
                }
            }
        }
        found
    }
}

/// Where `prices refresh` writes and estimates look for a refreshed sheet.
pub fn cached_sheet_path() -> Option<PathBuf> {
    crate::blueprint::cache_dir().map(|c| c.join("prices").join(SHEET_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_snapshot_parses_and_is_dated() {
        let sheet = PriceSheet::embedded().unwrap();
        assert_eq!(sheet.date(), "2026-11-01");
        assert!(sheet.file.items.len() > 100);
    }

    #[test]
    fn lookup_matches_region_and_falls_back_to_regionless_items() {
        let sheet = PriceSheet::embedded().unwrap();
        let q = Query {
            service: "Virtual Machines",
            arm_sku: Some("Standard_D4s_v5"),
            product: Some("Virtual Machines Dsv5 Series Windows"),
            ..Query::default()
        };
        let uks = sheet.find("uksouth", &q).unwrap().retail_price;
        let ukw = sheet.find("ukwest", &q).unwrap().retail_price;
        assert_eq!(uks, 0.326);
        assert!(ukw > uks, "UK West compute is dearer in the snapshot");
        assert!(sheet.find("eastus", &q).is_none());
        let licence = Query {
            service: "Virtual Machines Licenses",
            product: Some("SQL Server Enterprise"),
            sku: Some("16 vCPU VM"),
            ..Query::default()
        };
        assert!(sheet.find("ukwest", &licence).is_some());
    }

    #[test]
    fn unit_sizes() {
        let mut item = PriceSheet::embedded().unwrap().file.items[0].clone();
        for (unit, size) in [
            ("1 Hour", 1.0),
            ("10K", 10_000.0),
            ("1 GB/Month", 1.0),
            ("100 Hours", 100.0),
        ] {
            item.unit_of_measure = unit.into();
            assert_eq!(item.unit_size(), size, "{unit}");
        }
    }
}
