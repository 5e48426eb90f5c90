//! `trustprint prices refresh`: a new price sheet from Azure's Retail Prices API.
//!
//! Contract: [`refresh`] asks the API (`GET {api}?currencyCode='GBP'&$filter=...`, no authentication) for the
//! pay-as-you-go prices of the services trustprint estimates in the given regions, follows `NextPageLink`
//! until the last page, retries a page on 429 and 5xx answers and on connection failures (honouring
//! `Retry-After`), and writes the sheet atomically, dated today. Offline it fails naming the URL and the
//! underlying error, and leaves any earlier sheet as it was.
//!
//! [`filter`] and [`first_url`] build the request without IO, so they are unit-tested.

use super::prices::{PriceItem, SheetFile};
use super::Error;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The public Retail Prices API.
pub const DEFAULT_API_URL: &str = "https://prices.azure.com/api/retail/prices";

/// The services whose meters trustprint prices (`serviceName` in the API).
pub const SERVICES: [&str; 16] = [
    "Virtual Machines",
    "Virtual Machines Licenses",
    "Storage",
    "Azure Firewall",
    "Azure Bastion",
    "VPN Gateway",
    "ExpressRoute",
    "Virtual Network",
    "Load Balancer",
    "Azure DNS",
    "Key Vault",
    "Backup",
    "Azure Site Recovery",
    "Log Analytics",
    "Sentinel",
    "Microsoft Defender for Cloud",
];

/// How to refresh.
#[derive(Debug, Clone)]
pub struct RefreshOptions {
    /// `armRegionName`s to fetch (prices with no region, such as licences, always come too).
    pub regions: Vec<String>,
    /// The API's URL (a local server in tests).
    pub api_url: String,
    /// Where to write the sheet.
    pub out: PathBuf,
    /// Attempts per page before giving up.
    pub attempts: u32,
    /// The first wait before a retry; doubled each time (a `Retry-After` header wins).
    pub backoff: Duration,
    /// How long one request may take.
    pub timeout: Duration,
}

impl RefreshOptions {
    /// Defaults for `regions`, writing to `out`: the public API, 4 attempts, 1 s backoff, 60 s timeout.
    pub fn new(regions: Vec<String>, out: PathBuf) -> Self {
        RefreshOptions {
            regions,
            api_url: DEFAULT_API_URL.into(),
            out,
            attempts: 4,
            backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(60),
        }
    }
}

/// What a refresh fetched.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refreshed {
    pub path: PathBuf,
    pub items: usize,
    pub pages: usize,
    /// Requests retried (429, 5xx, connection failures).
    pub retries: usize,
    pub snapshot_date: String,
}

/// The OData filter: pay-as-you-go prices of [`SERVICES`] in `regions` or in no region.
pub fn filter(regions: &[String]) -> String {
    let regions: Vec<String> = regions
        .iter()
        .map(|r| format!("armRegionName eq '{}'", r.replace('\'', "''")))
        .chain(std::iter::once("armRegionName eq ''".to_string()))
        .collect();
    let services: Vec<String> = SERVICES
        .iter()
        .map(|s| format!("serviceName eq '{s}'"))
        .collect();
    format!(
        "priceType eq 'Consumption' and ({}) and ({})",
        regions.join(" or "),
        services.join(" or ")
    )
}

/// The first page's URL.
pub fn first_url(api_url: &str, regions: &[String]) -> Result<url::Url, Error> {
    let mut url = url::Url::parse(api_url).map_err(|e| Error::Fetch {
        url: api_url.to_string(),
        message: format!("not a URL: {e}"),
    })?;
    url.query_pairs_mut()
        .append_pair("currencyCode", "'GBP'")
        .append_pair("$filter", &filter(regions));
    Ok(url)
}

#[derive(Deserialize)]
struct Page {
    #[serde(rename = "Items")]
    items: Vec<PriceItem>,
    #[serde(rename = "NextPageLink", default)]
    next_page_link: Option<String>,
}

/// An error and its causes on one line (reqwest's own message leaves out the reason).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// Fetch every page and write the sheet.
pub fn refresh(options: &RefreshOptions) -> Result<Refreshed, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Fetch {
            url: options.api_url.clone(),
            message: format!("starting the HTTP client: {e}"),
        })?;
    runtime.block_on(fetch_and_write(options))
}

async fn fetch_and_write(options: &RefreshOptions) -> Result<Refreshed, Error> {
    let client = reqwest::Client::builder()
        .timeout(options.timeout)
        .user_agent(concat!("trustprint/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Fetch {
            url: options.api_url.clone(),
            message: chain(&e),
        })?;
    let first = first_url(&options.api_url, &options.regions)?;
    let mut next = Some(first.to_string());
    let mut items = Vec::new();
    let (mut pages, mut retries) = (0, 0);
    while let Some(url) = next.take() {
        let (page, retried) = get_page(&client, &url, options).await?;
        retries += retried;
        pages += 1;
        items.extend(page.items);
        next = page.next_page_link.filter(|l| !l.is_empty());
    }
    // The API pages in no promised order; sorted, the same prices give the same file.
    items.sort_by(|a, b| {
        (
            &a.arm_region_name,
            &a.service_name,
            &a.product_name,
            &a.sku_name,
            &a.meter_name,
            &a.price_type,
            &a.effective_start_date,
        )
            .cmp(&(
                &b.arm_region_name,
                &b.service_name,
                &b.product_name,
                &b.sku_name,
                &b.meter_name,
                &b.price_type,
                &b.effective_start_date,
            ))
    });
    let today = time::OffsetDateTime::now_utc().date();
    let snapshot_date = format!(
        "{:04}-{:02}-{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    );
    let sheet = SheetFile {
        snapshot_date: snapshot_date.clone(),
        origin: format!(
            "Azure Retail Prices API {}, currencyCode 'GBP', regions {}",
            options.api_url,
            options.regions.join(", ")
        ),
        billing_currency: "GBP".into(),
        count: items.len(),
        items,
        next_page_link: None,
    };
    write_atomic(&options.out, &sheet)?;
    Ok(Refreshed {
        path: options.out.clone(),
        items: sheet.count,
        pages,
        retries,
        snapshot_date,
    })
}

/// One page, retried on 429, 5xx and connection failures. Returns the page and how many retries it took.
async fn get_page(
    client: &reqwest::Client,
    url: &str,
    options: &RefreshOptions,
) -> Result<(Page, usize), Error> {
    let fail = |message: String| Error::Fetch {
        url: url.to_string(),
        message,
    };
    let mut wait = options.backoff;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = attempt >= options.attempts.max(1);
        let retry_after = match client.get(url).send().await {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    let bytes = response.bytes().await.map_err(|e| fail(chain(&e)))?;
                    let page: Page = serde_json::from_slice(&bytes).map_err(|e| {
                        fail(format!("the answer is not a Retail Prices API page: {e}"))
                    })?;
                    return Ok((page, (attempt - 1) as usize));
                }
                let retryable = status.as_u16() == 429 || status.is_server_error();
                if !retryable || last {
                    let body = response.text().await.unwrap_or_default();
                    let body: String = body.chars().take(300).collect();
                    return Err(fail(format!(
                        "HTTP {status}{}{}",
                        if body.is_empty() { "" } else { ": " },
                        body.trim()
                    )));
                }
                response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(60)))
            }
            Err(e) => {
                if last {
                    return Err(fail(format!(
                        "{} (after {attempt} attempt(s); is this machine online?)",
                        chain(&e)
                    )));
                }
                None
            }
        };
        tokio::time::sleep(retry_after.unwrap_or(wait)).await;
        wait *= 2;
    }
}

fn write_atomic(path: &Path, sheet: &SheetFile) -> Result<(), Error> {
    let err = |source: std::io::Error| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let bytes =
        serde_json::to_vec_pretty(sheet).map_err(|e| err(std::io::Error::other(e.to_string())))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    std::io::Write::write_all(&mut tmp, &bytes).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_url_asks_for_gbp_and_filters_regions_and_services() {
        let url = first_url(DEFAULT_API_URL, &["uksouth".into(), "ukwest".into()]).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs[0], ("currencyCode".into(), "'GBP'".into()));
        assert_eq!(pairs[1].0, "$filter");
        assert!(pairs[1].1.starts_with(
            "priceType eq 'Consumption' and (armRegionName eq 'uksouth' or armRegionName eq 'ukwest' or \
             armRegionName eq '') and (serviceName eq 'Virtual Machines' or "
        ));
        assert!(url.as_str().starts_with(
            "https://prices.azure.com/api/retail/prices?currencyCode=%27GBP%27&%24filter="
        ));
    }
}
