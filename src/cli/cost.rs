//! `trustprint cost` and `trustprint prices refresh`.

use super::output::emit;
use super::Global;
use crate::cost::{Options, Thresholds};
use crate::error::Error;
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::PathBuf;

pub(super) const COST_HELP: &str = "\
Example:
  trustprint cost --values blueprints/exemplar-epr/examples/royal-berkshire-rhw.yaml
  trustprint cost --values trust.yaml --assume log_gb_per_day=30 --output json

A line per resource and meter (quantity × unit price), totals per deployment and per month, the price sheet's
date, the usage assumed, and every resource that could not be priced. Checked against budget.monthly_gbp:
a warning above --warn-at percent, exit 3 above --fail-at. Prices: --prices FILE, else a sheet written by
`trustprint prices refresh`, else the snapshot built in. See docs/cost.md.";

pub(super) const REFRESH_HELP: &str = "\
Example:
  trustprint prices refresh --region uksouth,ukwest

Fetches the pay-as-you-go GBP prices trustprint uses from Azure's Retail Prices API (no sign-in needed),
page by page, retrying when throttled, and writes them to the cache (TRUSTPRINT_CACHE, XDG_CACHE_HOME or
~/.cache, under trustprint/prices/) or --out. Later estimates use it instead of the built-in snapshot.";

/// Options shared by `cost` and `fleet cost`.
#[derive(Debug, Args)]
pub struct CostOptionArgs {
    /// A price sheet (Retail Prices API items in GBP) instead of the refreshed or built-in one.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Override a usage assumption: `--assume log_gb_per_day=30` (see docs/cost.md for the keys).
    #[arg(long, value_name = "KEY=VALUE")]
    pub assume: Vec<String>,
    /// Warn when the estimate is above this percentage of the budget.
    #[arg(long, value_name = "PERCENT", default_value_t = 80.0)]
    pub warn_at: f64,
    /// Fail (exit 3) when the estimate is above this percentage of the budget.
    #[arg(long, value_name = "PERCENT", default_value_t = 100.0)]
    pub fail_at: f64,
}

impl CostOptionArgs {
    pub(super) fn options(&self) -> Options {
        Options {
            prices: self.prices.clone(),
            assume: self.assume.clone(),
            thresholds: Thresholds {
                warn_at: self.warn_at,
                fail_at: self.fail_at,
            },
        }
    }
}

/// `cost`.
#[derive(Debug, Args)]
pub struct CostArgs {
    /// The trust's values file (YAML).
    #[arg(long, value_name = "FILE")]
    pub values: PathBuf,
    #[command(flatten)]
    pub options: CostOptionArgs,
}

/// `prices` subcommands.
#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Fetch current GBP prices from Azure's Retail Prices API.
    #[command(after_help = REFRESH_HELP)]
    Refresh(RefreshArgs),
}

/// `prices refresh`.
#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Regions to fetch, comma-separated.
    #[arg(
        long,
        value_name = "REGION,..",
        value_delimiter = ',',
        default_value = "uksouth,ukwest"
    )]
    pub region: Vec<String>,
    /// The Retail Prices API.
    #[arg(long, value_name = "URL", default_value = crate::cost::refresh::DEFAULT_API_URL)]
    pub api_url: String,
    /// Where to write the sheet. Default: the cache, where estimates look for it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Attempts per page when throttled (429), on server errors (5xx) or when the connection fails.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub attempts: u32,
}

pub(super) fn cost(args: &CostArgs, global: &Global) -> Result<(), Error> {
    let inputs = global.inputs(&args.values)?;
    let costed = crate::cost::estimate_trust(&inputs, &args.options.options())?;
    let value = json!(costed);
    emit(global, &value, || costed.render_text())?;
    if let Some(b) = costed
        .budget
        .as_ref()
        .filter(|b| b.status == crate::cost::BudgetStatus::Warning)
    {
        tracing::warn!("{b}");
    }
    match costed.over_budget() {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

pub(super) fn prices(cmd: &PricesCommand, global: &Global) -> Result<(), Error> {
    match cmd {
        PricesCommand::Refresh(args) => {
            let out = match &args.out {
                Some(o) => o.clone(),
                None => crate::cost::prices::cached_sheet_path().ok_or_else(|| Error::Usage {
                    message: "no cache folder for the price sheet: set TRUSTPRINT_CACHE (or XDG_CACHE_HOME or \
                              HOME), or give --out"
                        .into(),
                })?,
            };
            let mut options = crate::cost::refresh::RefreshOptions::new(args.region.clone(), out);
            options.api_url = args.api_url.clone();
            options.attempts = args.attempts;
            let refreshed = crate::cost::refresh::refresh(&options)?;
            emit(global, &json!(refreshed), || {
                format!(
                    "Wrote {} prices of {} ({} page(s), {} retried request(s)) to {}\n",
                    refreshed.items,
                    refreshed.snapshot_date,
                    refreshed.pages,
                    refreshed.retries,
                    refreshed.path.display()
                )
            })
        }
    }
}
