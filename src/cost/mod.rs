//! Cost: a monthly GBP estimate of a rendered trust, checked against its budget.
//!
//! Contract: [`estimate`] takes the concrete resources of a trust (the same [`crate::armexpr::expand`] output
//! the guardrails check), a [`PriceSheet`] and the usage [`Assumptions`], and returns an [`Estimate`]: one
//! [`Line`] per resource and meter (quantity, unit price, monthly GBP), totals per deployment and per month,
//! every resource it cannot price in [`Estimate::unpriced`] with the reason (never a silent zero), and the
//! resources that have no charge of their own counted in [`Estimate::no_charge`]. [`estimate_trust`] runs the
//! pipeline (load → render → expand → estimate) and the [`budget`] check for one values file.
//!
//! What is priced, and how, is in `docs/cost.md`: virtual machines by size and hours (Windows licence unless
//! Azure Hybrid Benefit), managed disks by tier, SQL Server licences, firewall, Bastion, gateways, Key Vault,
//! backup, Site Recovery, Log Analytics and Sentinel, storage, public IPs, private endpoints and more.
//! Pay-as-you-go list prices only: no reservations, savings plans or enterprise discounts.

pub mod budget;
mod estimate;
pub mod plan;
pub mod prices;
pub mod refresh;
pub mod rollup;

pub use budget::{BudgetCheck, BudgetStatus, Thresholds};
pub use prices::{PriceItem, PriceSheet, SheetSource};

use crate::model::{Resource, TrustRef};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What can go wrong estimating, refreshing prices or checking a budget.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A price sheet could not be read or is not in the Retail Prices API format.
    #[error("price sheet {source_desc}: {message}")]
    PriceSheet {
        source_desc: String,
        message: String,
    },
    /// `--assume KEY=VALUE` names no assumption or gives no number.
    #[error("--assume {given}: {message}")]
    Assumption { given: String, message: String },
    /// Trusts of a fleet above the failing threshold of their budgets.
    #[error("{} trust(s) over budget: {}", trusts.len(), trusts.join(", "))]
    FleetOverBudget { trusts: Vec<String> },
    /// `--warn-at` / `--fail-at` out of order or not positive.
    #[error(
        "--warn-at {warn_at} --fail-at {fail_at}: expected two percentages above 0 with --warn-at no \
         higher than --fail-at"
    )]
    Thresholds { warn_at: f64, fail_at: f64 },
    /// The Retail Prices API could not be reached or answered with an error.
    #[error("fetching prices from {url}: {message}")]
    Fetch { url: String, message: String },
    /// Writing the refreshed sheet failed.
    #[error("writing the price sheet {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The estimate is above the failing threshold of the trust's budget.
    #[error(
        "{trust}: estimated £{estimate:.2} a month is {percent:.1}% of the £{budget:.2} budget \
         (fails above {fail_at}%)"
    )]
    OverBudget {
        trust: String,
        estimate: f64,
        budget: f64,
        percent: f64,
        fail_at: f64,
    },
}

impl crate::error::FeatureError for Error {
    fn exit_code(&self) -> crate::ExitCode {
        Error::exit_code(self)
    }
    fn kind(&self) -> &'static str {
        "cost"
    }
}

impl From<Error> for crate::Error {
    fn from(e: Error) -> Self {
        crate::Error::Feature(crate::error::Feature(Box::new(e)))
    }
}

impl Error {
    /// The exit code: a budget overrun is a broken guardrail (3), a bad price sheet or assumption invalid
    /// input (4), a failed fetch or write a failed operation (1).
    pub fn exit_code(&self) -> crate::ExitCode {
        match self {
            Error::OverBudget { .. } | Error::FleetOverBudget { .. } => crate::ExitCode::Violations,
            Error::PriceSheet { .. } | Error::Assumption { .. } | Error::Thresholds { .. } => {
                crate::ExitCode::InvalidInput
            }
            Error::Fetch { .. } | Error::Write { .. } => crate::ExitCode::Failure,
        }
    }
}

/// Usage the prices are multiplied by where the resources themselves do not say. Defaults per tier; each can
/// be overridden with `--assume KEY=VALUE` or a `cost.KEY` value when the blueprint declares one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Assumptions {
    /// Hours in a month: Azure's own billing convention (8760 / 12).
    pub hours_per_month: f64,
    /// GB a day ingested into the Log Analytics workspace (and analysed by Sentinel when it is on).
    pub log_gb_per_day: f64,
    /// GB a month through the Azure Firewall.
    pub firewall_gb_per_month: f64,
    /// Key Vault operations a month per vault (disk encryption wrap/unwrap, secret reads).
    pub keyvault_operations_per_month: f64,
    /// GB stored per storage account.
    pub storage_gb_per_account: f64,
    /// Backup storage as a multiple of the protected disks' size (full copy plus retained increments).
    pub backup_storage_ratio: f64,
    /// Size of an OS disk that does not state one: Windows marketplace images' 127 GB.
    pub os_disk_gb: f64,
}

/// The names `--assume` accepts, in the order they are documented.
pub const ASSUMPTION_KEYS: [&str; 7] = [
    "hours_per_month",
    "log_gb_per_day",
    "firewall_gb_per_month",
    "keyvault_operations_per_month",
    "storage_gb_per_account",
    "backup_storage_ratio",
    "os_disk_gb",
];

impl Assumptions {
    /// The defaults for a tier (`small`, `medium`, `large`; anything else is taken as medium).
    pub fn for_tier(tier: Option<&str>) -> Self {
        let (log_gb_per_day, firewall_gb_per_month) = match tier {
            Some("small") => (5.0, 500.0),
            Some("large") => (40.0, 8000.0),
            _ => (15.0, 2000.0),
        };
        Assumptions {
            hours_per_month: 730.0,
            log_gb_per_day,
            firewall_gb_per_month,
            keyvault_operations_per_month: 100_000.0,
            storage_gb_per_account: 100.0,
            backup_storage_ratio: 1.0,
            os_disk_gb: 127.0,
        }
    }

    fn slot(&mut self, key: &str) -> Option<&mut f64> {
        Some(match key {
            "hours_per_month" => &mut self.hours_per_month,
            "log_gb_per_day" => &mut self.log_gb_per_day,
            "firewall_gb_per_month" => &mut self.firewall_gb_per_month,
            "keyvault_operations_per_month" => &mut self.keyvault_operations_per_month,
            "storage_gb_per_account" => &mut self.storage_gb_per_account,
            "backup_storage_ratio" => &mut self.backup_storage_ratio,
            "os_disk_gb" => &mut self.os_disk_gb,
            _ => return None,
        })
    }

    /// Apply one `KEY=VALUE` override.
    pub fn set(&mut self, given: &str) -> Result<(), Error> {
        let err = |message: String| Error::Assumption {
            given: given.to_string(),
            message,
        };
        let (key, value) = given
            .split_once('=')
            .ok_or_else(|| err("expected KEY=VALUE".into()))?;
        let key = key.trim();
        let slot = self.slot(key).ok_or_else(|| {
            let hint = ASSUMPTION_KEYS
                .iter()
                .max_by(|a, b| strsim::jaro(key, a).total_cmp(&strsim::jaro(key, b)))
                .map(|k| format!(" (did you mean {k}?)"))
                .unwrap_or_default();
            err(format!(
                "no such assumption{hint}; expected one of {}",
                ASSUMPTION_KEYS.join(", ")
            ))
        })?;
        let number: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| err(format!("'{}' is not a number of 0 or more", value.trim())))?;
        *slot = number;
        Ok(())
    }

    /// The defaults for the trust's tier, then `cost.KEY` values, then `overrides` (`KEY=VALUE`).
    pub fn resolve(values: &crate::values::Values, overrides: &[String]) -> Result<Self, Error> {
        let mut a = Assumptions::for_tier(values.get("tier").and_then(|v| v.as_str()));
        for key in ASSUMPTION_KEYS {
            if let Some(n) = values
                .get(&format!("cost.{key}"))
                .and_then(serde_json::Value::as_f64)
            {
                if let Some(slot) = a.slot(key) {
                    *slot = n;
                }
            }
        }
        for given in overrides {
            a.set(given)?;
        }
        Ok(a)
    }
}

/// One resource's charge on one meter for a month.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub resource_id: String,
    pub resource_type: String,
    /// The rendered deployment that declares the resource.
    pub deployment: String,
    /// The Azure region priced.
    pub region: String,
    pub service_name: String,
    pub product_name: String,
    pub sku_name: String,
    pub meter_name: String,
    /// The sheet's unit (`1 Hour`, `1/Month`, `10K`, ...).
    pub unit_of_measure: String,
    /// How many of `unit_of_measure` a month.
    pub quantity: f64,
    /// GBP per `unit_of_measure`.
    pub unit_price: f64,
    /// `quantity × unit_price`, rounded to the penny.
    pub monthly_gbp: f64,
    /// What the quantity rests on (`730 hours`, `15 GB/day assumed`, the disk's name).
    pub basis: String,
}

/// A resource (or one of its meters) that could not be priced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unpriced {
    pub resource_id: String,
    pub resource_type: String,
    /// Why: `no meter for ...`, a value only known at deployment, ...
    pub reason: String,
}

impl std::fmt::Display for Unpriced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unpriced: {} {}: {}",
            self.resource_id, self.resource_type, self.reason
        )
    }
}

/// The prices an estimate used.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PricesUsed {
    /// The date the prices were taken.
    pub date: String,
    pub currency: String,
    /// Where the sheet was read from.
    pub source: String,
    /// How the sheet was made.
    pub origin: String,
}

/// A trust's monthly estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    pub prices: PricesUsed,
    pub assumptions: Assumptions,
    /// One per resource and meter, in resource order.
    pub lines: Vec<Line>,
    /// Deployment name → its monthly GBP.
    pub deployments: BTreeMap<String, f64>,
    /// The sum of every line, GBP a month.
    pub monthly_gbp: f64,
    /// Every resource or meter not priced.
    pub unpriced: Vec<Unpriced>,
    /// How many resources have no charge of their own (networks, role assignments, policies, ...).
    pub no_charge: usize,
}

/// Round to the penny (half away from zero), the precision every amount is shown and summed at.
pub fn pennies(x: f64) -> f64 {
    // `+ 0.0` turns the -0.0 of an empty sum into 0.0, so nothing prints as "£-0.00".
    (x * 100.0).round() / 100.0 + 0.0
}

/// Price `resources`. `primary_region` prices resources with no region of their own (`global` DNS zones,
/// subscription-level plans).
pub fn estimate(
    resources: &[Resource],
    sheet: &PriceSheet,
    assumptions: &Assumptions,
    primary_region: &str,
) -> Estimate {
    let out = estimate::run(resources, sheet, assumptions, primary_region);
    let mut deployments: BTreeMap<String, f64> = BTreeMap::new();
    for line in &out.lines {
        *deployments.entry(line.deployment.clone()).or_default() += line.monthly_gbp;
    }
    for total in deployments.values_mut() {
        *total = pennies(*total);
    }
    let monthly_gbp = pennies(out.lines.iter().map(|l| l.monthly_gbp).sum());
    Estimate {
        prices: PricesUsed {
            date: sheet.date().to_string(),
            currency: sheet.file.billing_currency.clone(),
            source: sheet.source.to_string(),
            origin: sheet.file.origin.clone(),
        },
        assumptions: assumptions.clone(),
        lines: out.lines,
        deployments,
        monthly_gbp,
        unpriced: out.unpriced,
        no_charge: out.no_charge,
    }
}

/// How to estimate a trust.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--prices FILE`; None: a refreshed sheet in the cache, else the embedded snapshot.
    pub prices: Option<PathBuf>,
    /// `--assume KEY=VALUE` overrides.
    pub assume: Vec<String>,
    pub thresholds: Thresholds,
}

/// A trust estimated and checked against its budget.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Costed {
    pub trust: TrustRef,
    pub blueprint: crate::model::BlueprintRef,
    pub estimate: Estimate,
    /// None when the values give no `budget.monthly_gbp`.
    pub budget: Option<BudgetCheck>,
}

/// The concrete resources of a rendered trust, expanded as the guardrails see them.
pub fn resources(
    values: &crate::values::Values,
    rendered: &crate::model::Rendered,
) -> Result<Vec<Resource>, crate::Error> {
    Ok(crate::check::expand_rendered(
        rendered,
        &values.static_context(),
    )?)
}

/// The trust's primary region: `azure.location`, else the first deployment's.
fn primary_region(values: &crate::values::Values, rendered: &crate::model::Rendered) -> String {
    values
        .get("azure.location")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .or_else(|| rendered.deployments.first().map(|d| d.location.clone()))
        .unwrap_or_else(|| "uksouth".into())
}

/// Estimate a trust already loaded and rendered, with a sheet already resolved.
pub fn estimate_rendered(
    values: &crate::values::Values,
    rendered: &crate::model::Rendered,
    sheet: &PriceSheet,
    options: &Options,
) -> Result<Costed, crate::Error> {
    let assumptions = Assumptions::resolve(values, &options.assume)?;
    let resources = resources(values, rendered)?;
    let estimate = estimate(
        &resources,
        sheet,
        &assumptions,
        &primary_region(values, rendered),
    );
    let budget = values
        .get("budget.monthly_gbp")
        .and_then(serde_json::Value::as_f64)
        .map(|b| BudgetCheck::new(estimate.monthly_gbp, b, &options.thresholds));
    Ok(Costed {
        trust: rendered.trust.clone(),
        blueprint: rendered.blueprint.clone(),
        estimate,
        budget,
    })
}

/// `trustprint cost`: load, render, expand and estimate one trust, and check its budget. An estimate over
/// the failing threshold is still returned: the caller shows it, then turns [`Costed::over_budget`] into
/// the error.
pub fn estimate_trust(
    inputs: &crate::run::Inputs,
    options: &Options,
) -> Result<Costed, crate::Error> {
    options.thresholds.validate()?;
    let sheet = PriceSheet::resolve(options.prices.as_deref())?;
    let (loaded, rendered) = crate::run::render_loaded(inputs)?;
    estimate_rendered(&loaded.values, &rendered, &sheet, options)
}

impl Costed {
    /// [`Error::OverBudget`] when the estimate is above the failing threshold.
    pub fn over_budget(&self) -> Option<Error> {
        let b = self.budget.as_ref()?;
        (b.status == BudgetStatus::Over).then(|| Error::OverBudget {
            trust: format!("{} ({})", self.trust.name, self.trust.ods_code),
            estimate: b.estimate_gbp,
            budget: b.budget_gbp,
            percent: b.percent,
            fail_at: b.fail_at,
        })
    }

    /// The estimate as text: the price date and assumptions, a line per resource and meter, totals, what
    /// could not be priced, the budget.
    pub fn render_text(&self) -> String {
        use std::fmt::Write;
        let e = &self.estimate;
        let a = &e.assumptions;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} ({}) with {} {}: monthly estimate in {}",
            self.trust.name,
            self.trust.ods_code,
            self.blueprint.name,
            self.blueprint.version,
            e.prices.currency
        );
        let _ = writeln!(
            s,
            "Prices of {} from {} ({})",
            e.prices.date, e.prices.source, e.prices.origin
        );
        let _ = writeln!(
            s,
            "Assumed: {} hours a month, {} GB/day of logs, {} GB/month through the firewall, {} Key Vault \
             operations per vault, {} GB per storage account, backup storage {}x the protected disks, \
             {} GB OS disks where unstated",
            a.hours_per_month,
            a.log_gb_per_day,
            a.firewall_gb_per_month,
            a.keyvault_operations_per_month,
            a.storage_gb_per_account,
            a.backup_storage_ratio,
            a.os_disk_gb
        );
        let mut current = "";
        for line in &e.lines {
            if line.deployment != current {
                current = &line.deployment;
                let _ = writeln!(
                    s,
                    "\n{current}: £{:.2}",
                    e.deployments.get(current).copied().unwrap_or_default()
                );
            }
            let _ = writeln!(
                s,
                "  £{:>10.2}  {}  {} ({}): {} × £{} per {} ({})",
                line.monthly_gbp,
                short_id(&line.resource_id),
                line.meter_name,
                line.product_name,
                trim_number(line.quantity),
                trim_number(line.unit_price),
                line.unit_of_measure,
                line.basis
            );
        }
        let _ = writeln!(
            s,
            "\nTotal: £{:.2} a month, £{:.2} a year ({} resources with no charge of their own)",
            e.monthly_gbp,
            pennies(e.monthly_gbp * 12.0),
            e.no_charge
        );
        if !e.unpriced.is_empty() {
            let _ = writeln!(s, "\nNot in the total ({}):", e.unpriced.len());
            for u in &e.unpriced {
                let _ = writeln!(s, "  {u}");
            }
        }
        if let Some(b) = &self.budget {
            let _ = writeln!(s, "\n{b}");
        }
        s
    }
}

/// A number without trailing zeros (`730`, `0.326`, `1.5`).
pub(crate) fn trim_number(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// `<type>/<name>` of a resource id, enough to recognise it in a listing.
fn short_id(id: &str) -> String {
    match id.rfind("/providers/") {
        Some(i) => id[i + "/providers/".len()..].to_string(),
        None => id.rsplit('/').next().unwrap_or(id).to_string(),
    }
}
