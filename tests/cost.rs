//! Cost estimates, the budget check, `prices refresh` against a local Retail Prices API, and `fleet cost`.

use crate::harness::Test;
use std::path::{Path, PathBuf};
use trustprint::blueprint::SourceSpec;
use trustprint::cost::{Estimate, Options};
use trustprint::values::ValuesInput;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn example(name: &str) -> PathBuf {
    Path::new(ROOT)
        .join("blueprints/exemplar-epr/examples")
        .join(name)
}

/// The snapshot shipped in the repository, named explicitly so a refreshed sheet in the cache of the machine
/// running the tests cannot change the figures.
fn snapshot() -> PathBuf {
    Path::new(ROOT).join("data/prices/retail-prices-gbp.json")
}

fn estimate(values: &str, prices: PathBuf) -> trustprint::cost::Costed {
    let inputs = trustprint::run::Inputs {
        blueprint: SourceSpec::Embedded,
        values: ValuesInput {
            file: Some(example(values)),
            ..ValuesInput::default()
        },
    };
    let options = Options {
        prices: Some(prices),
        ..Options::default()
    };
    trustprint::cost::estimate_trust(&inputs, &options).unwrap()
}

fn sum(e: &Estimate, meter: &str) -> (usize, f64) {
    let lines: Vec<_> = e.lines.iter().filter(|l| l.meter_name == meter).collect();
    let total = lines.iter().map(|l| l.monthly_gbp).sum::<f64>();
    (lines.len(), (total * 100.0).round() / 100.0)
}

/// Leeds Community (RY6), the small tier, checked by hand from data/prices/retail-prices-gbp.json (uksouth),
/// 730 hours a month, the small tier's 5 GB/day of logs and 500 GB/month through the firewall. Each line is
/// rounded to the penny before it is summed.
///
/// governance: Defender for Servers P2, 5 VMs × 730 h × £0.0162                              =    59.13
/// operations: Log Analytics 5 GB/day × 30.416667 days = 152.083 GB × £2.609 = 396.785      =   396.79
///             retention 90 days: 5 GB/day × (90 − 31) = 295 GB-month × £0.10              =    29.50
///             Sentinel 152.083 GB × £3.80 = 577.917                                         =   577.92
///                                                                                           = 1,004.21
/// connectivity: firewall Standard 730 h × £0.9875 = 720.875                                 =   720.88
///             firewall data 500 GB × £0.0126                                                =     6.30
///             2 public IPs × 730 h × £0.004 = 2.92 each                                     =     5.84
///             Bastion Standard 730 h × £0.2291 = 167.243                                    =   167.24
///             DNS resolver in + out endpoints 2 × 730 h × £0.1948 = 142.204 each            =   284.40
///             2 private DNS zones × £0.395 = 0.40 each                                      =     0.80
///             flow log storage 100 GB Hot ZRS × £0.02                                        =     2.00
///                                                                                           = 1,187.46
/// security:   Key Vault Premium 100,000 ops = 10 × 10K × £0.0237 = 0.237                    =     0.24
///             HSM key RSA 3072 (advanced) × £3.95                                           =     3.95
///             private endpoint 730 h × £0.0079 = 5.767                                      =     5.77
///                                                                                           =     9.96
/// epr:        app01 D4s v5 Windows 730 × £0.326                                             =   237.98
///             web01, int01 D2s v5 Windows 2 × 730 × £0.163 = 118.99 each                    =   237.98
///             sql01, sql02 E8bds v5 Windows 2 × 730 × £0.866 = 632.18 each                  = 1,264.36
///             OS disks 127 GB → P10, 5 × £15.28                                             =    76.40
///             data disks 128 GB → P10, 3 × £15.28                                           =    45.84
///             SQL data 512 GB → P20, 2 × £56.73                                             =   113.46
///             SQL log 256 GB → P15, 2 × £29.44                                              =    58.88
///             2 Standard load balancers × 730 h × £0.0198 = 14.454 → 14.45 each             =    28.90
///             witness storage 100 GB Hot ZRS × £0.02                                        =     2.00
///             witness private endpoint 730 h × £0.0079                                      =     5.77
///             SQL Server Enterprise, 8 vCPUs: 2 × 730 h × £2.368 = 1,728.64 each            = 3,457.28
///                                                                                           = 5,528.85
/// resilience: app/web/int: 127 + 128 = 255 GB → 1 protected instance £7.90 + 255 GB GRS
///             × £0.038 = 9.69, 3 × 17.59                                                    =    52.77
///             sql01/02: 127 + 512 + 256 = 895 GB → 2 instances £15.80 + 895 × £0.038 = 34.01,
///             2 × 49.81                                                                     =    99.62
///                                                                                           =   152.39
/// total 59.13 + 1,004.21 + 1,187.46 + 9.96 + 5,528.85 + 152.39                             = 7,942.00
#[test]
fn the_small_example_trust_matches_the_hand_checked_estimate() {
    let costed = estimate("leeds-community-ry6.yaml", snapshot());
    let e = &costed.estimate;
    assert_eq!(e.prices.date, "2026-11-01");
    assert_eq!(e.assumptions.hours_per_month, 730.0);
    assert_eq!(e.assumptions.log_gb_per_day, 5.0, "the small tier's logs");
    let by_deployment: Vec<(&str, f64)> = e
        .deployments
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        by_deployment,
        vec![
            ("connectivity", 1187.46),
            ("epr", 5528.85),
            ("governance", 59.13),
            ("operations", 1004.21),
            ("resilience", 152.39),
            ("security", 9.96),
        ]
    );
    assert_eq!(e.monthly_gbp, 7942.00);
    assert_eq!(sum(e, "D4s v5"), (1, 237.98));
    assert_eq!(sum(e, "D2s v5"), (2, 237.98));
    assert_eq!(sum(e, "E8bds v5"), (2, 1264.36));
    assert_eq!(sum(e, "P10 LRS Disk"), (8, 122.24));
    assert_eq!(sum(e, "8 vCPU VM License"), (2, 3457.28));
    assert_eq!(sum(e, "Pay-as-you-go Analysis"), (1, 577.92));
    assert_eq!(sum(e, "Azure VM Protected Instances"), (5, 55.30));
    // Small trusts have no Site Recovery and no HSCN gateway (connectivity none).
    assert_eq!(sum(e, "VM Replicated to Azure").0, 0);
    assert!(!e.lines.iter().any(|l| l.service_name == "VPN Gateway"));
    let budget = costed.budget.unwrap();
    assert_eq!((budget.budget_gbp, budget.percent), (9000.0, 88.2));
    assert_eq!(budget.status, trustprint::cost::BudgetStatus::Warning);
}

/// Royal Berkshire (RHW), medium, uksouth with Site Recovery to ukwest and a VPN gateway; checked by hand:
/// VMs 2 × D8s v5 Windows (730 × £0.652 = 475.96) + 4 × D4s v5 Windows (237.98) + 2 × E16bds v5 Windows
/// (730 × £1.732 = 1,264.36) = 4,432.56; SQL Enterprise 16 vCPUs 2 × 730 × £4.736 = 6,914.56; Site Recovery
/// 8 VMs in the ukwest vault × (£19.75 × 1.04 = £20.54) = 164.32; VpnGw2AZ 730 × £0.4938 = 360.47.
#[test]
fn the_medium_example_trust_prices_replication_and_the_vpn_gateway() {
    let e = estimate("royal-berkshire-rhw.yaml", snapshot()).estimate;
    let vms: f64 = ["D8s v5", "D4s v5", "E16bds v5"]
        .iter()
        .map(|m| sum(&e, m).1)
        .sum();
    assert_eq!((vms * 100.0).round() / 100.0, 4432.56);
    assert_eq!(sum(&e, "16 vCPU VM License"), (2, 6914.56));
    assert_eq!(sum(&e, "VM Replicated to Azure"), (8, 164.32));
    assert!(e
        .lines
        .iter()
        .filter(|l| l.meter_name == "VM Replicated to Azure")
        .all(|l| l.region == "ukwest"));
    assert_eq!(sum(&e, "VpnGw2AZ"), (1, 360.47));
    assert_eq!(
        e.deployments.get("staging"),
        None,
        "RHW has no migration staging storage"
    );
    // Every line's amount is its quantity times its unit price, and the deployments add up to the total.
    for l in &e.lines {
        assert_eq!(
            l.monthly_gbp,
            ((l.quantity * l.unit_price) * 100.0).round() / 100.0,
            "{l:?}"
        );
    }
    let by_deployment: f64 = e.deployments.values().sum();
    assert!((by_deployment - e.monthly_gbp).abs() < 0.005);
}

/// North London (G6V2S) in ukwest has the migration staging storage of issue 8 (`staging.enabled`), priced
/// at UK West's prices (4% above UK South in the snapshot), checked by hand: 100 GB assumed × Hot GRS £0.0333
/// = 3.33; its HSM-protected key £4.108 → 4.11; its private endpoint 730 h × £0.0082 = 5.986 → 5.99; 13.43.
#[test]
fn the_migration_staging_storage_is_priced() {
    let e = estimate("north-london-g6v2s.yaml", snapshot()).estimate;
    assert_eq!(e.deployments.get("staging"), Some(&13.43));
    let staging: Vec<(&str, f64)> = e
        .lines
        .iter()
        .filter(|l| l.deployment == "staging")
        .map(|l| (l.meter_name.as_str(), l.monthly_gbp))
        .collect();
    assert_eq!(
        staging,
        vec![
            ("Premium HSM-protected Advanced Key", 4.11),
            ("Hot GRS Data Stored", 3.33),
            ("Standard Private Endpoint", 5.99)
        ]
    );
}

#[test]
fn every_example_trust_is_estimated_with_the_same_meters_listed_as_unpriced() {
    for (file, total) in [
        ("leeds-community-ry6.yaml", 7942.00),
        ("north-london-g6v2s.yaml", 8357.38),
        ("northern-care-alliance-rm3.yaml", 39558.15),
        ("royal-berkshire-rhw.yaml", 17511.77),
    ] {
        let e = estimate(file, snapshot()).estimate;
        assert_eq!(e.monthly_gbp, total, "{file}");
        let mut kinds: Vec<&str> = e
            .unpriced
            .iter()
            .map(|u| u.resource_type.as_str())
            .collect();
        kinds.dedup();
        assert_eq!(
            kinds,
            vec![
                "Microsoft.Security/pricings",
                "Microsoft.Insights/metricAlerts",
                "Microsoft.Insights/scheduledQueryRules",
                "Microsoft.Network/networkWatchers/flowLogs"
            ],
            "{file}"
        );
    }
}

#[test]
fn a_resource_with_no_meter_in_the_sheet_is_listed_not_priced_at_zero() {
    let mut sheet: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(snapshot()).unwrap()).unwrap();
    let items = sheet["Items"].as_array_mut().unwrap();
    let before = items.len();
    items.retain(|i| i["serviceName"] != "VPN Gateway");
    assert!(items.len() < before);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-vpn.json");
    std::fs::write(&path, serde_json::to_vec(&sheet).unwrap()).unwrap();

    let full = estimate("royal-berkshire-rhw.yaml", snapshot()).estimate;
    let e = estimate("royal-berkshire-rhw.yaml", path).estimate;
    let gateway = e
        .unpriced
        .iter()
        .find(|u| u.resource_type == "Microsoft.Network/virtualNetworkGateways")
        .expect("the gateway is listed");
    assert_eq!(
        gateway.to_string(),
        "unpriced: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-rhw-uks-connectivity/\
         providers/Microsoft.Network/virtualNetworkGateways/vgw-rhw-uks-hscn \
         Microsoft.Network/virtualNetworkGateways: no meter for VPN Gateway / VpnGw2AZ / VpnGw2AZ in uksouth"
    );
    assert_eq!(
        ((full.monthly_gbp - e.monthly_gbp) * 100.0).round() / 100.0,
        360.47
    );
}

fn cost_cmd(budget: &str) -> Test {
    let t = Test::new();
    let cache = t.path().join("cache");
    t.env("TRUSTPRINT_CACHE", cache.to_str().unwrap())
        .args(["cost", "--values"])
        .arg(example("leeds-community-ry6.yaml"))
        .args(["--set", &format!("budget.monthly_gbp={budget}")])
}

#[test]
fn cost_warns_above_80_percent_of_the_budget() {
    // 7,942.00 of 9,000 is 88.2%.
    cost_cmd("9000")
        .stdout_has("Prices of 2026-11-01 from the snapshot built into trustprint")
        .stdout_has("\nTotal: £7942.00 a month, £95304.00 a year")
        .stdout_has("Budget: £9000.00 a month; the estimate is 88.2% of it (warning: above 80% of the budget)")
        .stdout_has("unpriced: /subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Security/pricings/KeyVaults")
        .stderr_has("WARN Budget: £9000.00 a month; the estimate is 88.2% of it")
        .run();
}

#[test]
fn cost_fails_above_100_percent_of_the_budget_with_exit_3() {
    cost_cmd("7000")
        .status(3)
        .stdout_has("Budget: £7000.00 a month; the estimate is 113.5% of it (over budget: above 100%)")
        .stderr(
            "error: LEEDS COMMUNITY HEALTHCARE NHS TRUST (RY6): estimated £7942.00 a month is 113.5% of the \
             £7000.00 budget (fails above 100%)\n",
        )
        .run();
}

#[test]
fn budget_thresholds_are_configurable() {
    cost_cmd("9000")
        .args(["--warn-at", "90"])
        .stdout_has("88.2% of it (within budget)")
        .stderr_lacks("WARN")
        .run();
    cost_cmd("9000")
        .args(["--fail-at", "85"])
        .status(3)
        .stderr_has("is 88.2% of the £9000.00 budget (fails above 85%)")
        .run();
    cost_cmd("9000")
        .args(["--warn-at", "90", "--fail-at", "50"])
        .status(4)
        .stderr(
            "error: --warn-at 90 --fail-at 50: expected two percentages above 0 with --warn-at no higher than \
             --fail-at\n",
        )
        .run();
}

#[test]
fn assumptions_are_overridable_and_shown_in_json() {
    let out = cost_cmd("90000")
        .args(["--assume", "log_gb_per_day=10", "--output", "json"])
        .run();
    let v = out.json();
    assert_eq!(v["estimate"]["assumptions"]["logGbPerDay"], 10.0);
    assert_eq!(v["estimate"]["prices"]["date"], "2026-11-01");
    // Log Analytics and Sentinel double with the GB/day: 396.79 → 793.57 (304.1667 GB × £2.609 = 793.571),
    // Sentinel 577.92 → 1,155.83 (304.1667 × £3.80), retention 29.50 → 59.00.
    assert_eq!(v["estimate"]["deployments"]["operations"], 2008.40);
    cost_cmd("9000")
        .args(["--assume", "log_gb_per_dy=10"])
        .status(4)
        .stderr(
            "error: --assume log_gb_per_dy=10: no such assumption (did you mean log_gb_per_day?); expected one of \
             hours_per_month, log_gb_per_day, firewall_gb_per_month, keyvault_operations_per_month, \
             storage_gb_per_account, backup_storage_ratio, os_disk_gb\n",
        )
        .run();
}

mod refresh {
    use super::*;
    use axum::extract::{Query, State};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Api {
        base: Mutex<String>,
        requests: Mutex<Vec<HashMap<String, String>>>,
        throttled: AtomicUsize,
    }

    fn item(region: &str, meter: &str, price: f64) -> serde_json::Value {
        serde_json::json!({
            "currencyCode": "GBP", "tierMinimumUnits": 0.0, "retailPrice": price, "unitPrice": price,
            "armRegionName": region, "location": "UK South", "effectiveStartDate": "2026-11-01T00:00:00Z",
            "meterId": "m", "meterName": meter, "productId": "p", "skuId": "s",
            "productName": "Virtual Machines Dsv5 Series Windows", "skuName": meter, "serviceName": "Virtual Machines",
            "serviceId": "DZH313Z7MMC8", "serviceFamily": "Compute", "unitOfMeasure": "1 Hour", "type": "Consumption",
            "isPrimaryMeterRegion": true, "armSkuName": format!("Standard_{}", meter.replace(' ', "_"))
        })
    }

    /// Three pages; the second answers 429 once before it succeeds.
    async fn prices(
        State(api): State<Arc<Api>>,
        Query(q): Query<HashMap<String, String>>,
    ) -> Response {
        api.requests.lock().unwrap().push(q.clone());
        let base = api.base.lock().unwrap().clone();
        let skip: usize = q.get("$skip").and_then(|s| s.parse().ok()).unwrap_or(0);
        if skip == 2 && api.throttled.fetch_add(1, Ordering::SeqCst) == 0 {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                "slow down",
            )
                .into_response();
        }
        let (items, next) = match skip {
            0 => (
                vec![
                    item("uksouth", "D4s v5", 0.33),
                    item("uksouth", "D2s v5", 0.17),
                ],
                Some(2),
            ),
            2 => (
                vec![
                    item("ukwest", "D4s v5", 0.34),
                    item("ukwest", "D2s v5", 0.18),
                ],
                Some(4),
            ),
            _ => (vec![item("uksouth", "D8s v5", 0.66)], None),
        };
        let next = next.map(|n| {
            format!("{base}?currencyCode='GBP'&$filter=armRegionName%20eq%20'uksouth'&$skip={n}")
        });
        axum::Json(serde_json::json!({
            "BillingCurrency": "GBP", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
            "Items": items, "NextPageLink": next, "Count": items.len()
        }))
        .into_response()
    }

    fn serve() -> (Arc<Api>, String, std::sync::mpsc::Sender<()>) {
        let api = Arc::new(Api::default());
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let state = api.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new()
                    .route("/api/retail/prices", axum::routing::get(prices))
                    .with_state(state);
                let stop = async move {
                    let _ = tokio::task::spawn_blocking(move || stop_rx.recv()).await;
                };
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        let url = format!("http://{addr}/api/retail/prices");
        *api.base.lock().unwrap() = url.clone();
        (api, url, stop_tx)
    }

    #[test]
    fn refresh_follows_next_page_links_retries_a_throttled_page_and_writes_a_dated_sheet() {
        let (api, url, stop) = serve();
        let out = Test::new()
            .args([
                "prices",
                "refresh",
                "--api-url",
                &url,
                "--out",
                "sheet.json",
                "--output",
                "json",
            ])
            .run();
        stop.send(()).unwrap();
        let result = out.json();
        assert_eq!(result["items"], 5);
        assert_eq!(result["pages"], 3);
        assert_eq!(result["retries"], 1);
        let requests = api.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 4, "three pages and one retry");
        assert_eq!(requests[0]["currencyCode"], "'GBP'");
        assert!(requests[0]["$filter"].starts_with(
            "priceType eq 'Consumption' and (armRegionName eq 'uksouth' or armRegionName eq 'ukwest' or armRegionName eq '')"
        ));
        let sheet: serde_json::Value = serde_json::from_str(&out.read("sheet.json")).unwrap();
        let today = time::OffsetDateTime::now_utc().date();
        assert_eq!(
            sheet["snapshotDate"],
            format!(
                "{:04}-{:02}-{:02}",
                today.year(),
                u8::from(today.month()),
                today.day()
            )
        );
        let meters: Vec<(String, String)> = sheet["Items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["armRegionName"].as_str().unwrap().into(),
                    i["meterName"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            meters,
            [
                ("uksouth", "D2s v5"),
                ("uksouth", "D4s v5"),
                ("uksouth", "D8s v5"),
                ("ukwest", "D2s v5"),
                ("ukwest", "D4s v5")
            ]
            .map(|(r, m)| (r.to_string(), m.to_string()))
        );
        // The refreshed sheet prices an estimate: its VMs at the new prices, everything else unpriced.
        let e = super::estimate("leeds-community-ry6.yaml", out.path("sheet.json")).estimate;
        assert!(e.prices.date != "2026-11-01");
        assert_eq!(sum(&e, "D4s v5"), (1, 240.90), "730 h × £0.33");
        assert!(e.unpriced.iter().any(|u| u.reason
            == "no meter for Azure Firewall / Standard / Standard Deployment in uksouth"));
    }

    #[test]
    fn refresh_is_written_to_the_cache_where_estimates_find_it() {
        let (_api, url, stop) = serve();
        let t = Test::new();
        let cache = t.path().join("cache");
        let cache = cache.to_str().unwrap().to_string();
        let out = t
            .env("TRUSTPRINT_CACHE", &cache)
            .args(["prices", "refresh", "--api-url", &url])
            .run();
        stop.send(()).unwrap();
        assert!(
            out.stdout.starts_with("Wrote 5 prices of "),
            "{}",
            out.stdout
        );
        Test::in_dir(out.dir)
            .env("TRUSTPRINT_CACHE", &cache)
            .args(["cost", "--values"])
            .arg(example("leeds-community-ry6.yaml"))
            .stdout_has(&format!(
                "from refreshed sheet {cache}/prices/retail-prices-gbp.json"
            ))
            .stdout_has("£    240.90  Microsoft.Compute/virtualMachines/vm-ry6-uks-app01  D4s v5")
            .run();
    }

    #[test]
    fn refresh_fails_clearly_when_the_api_cannot_be_reached() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}/api/retail/prices");
        let out = Test::new()
            .args([
                "prices",
                "refresh",
                "--api-url",
                &url,
                "--out",
                "sheet.json",
                "--attempts",
                "2",
            ])
            .status(1)
            .stderr_has(&format!(
                "error: fetching prices from {url}?currencyCode=%27GBP%27&%24filter="
            ))
            .stderr_has("(after 2 attempt(s); is this machine online?)")
            .run();
        assert!(
            out.stderr.contains("Connection refused") || out.stderr.contains("connect"),
            "{}",
            out.stderr
        );
        assert!(!out.path("sheet.json").exists());
    }
}

mod fleet {
    use super::*;

    fn fleet_with(trusts: &[(&str, &str)]) -> Test {
        let mut t = Test::new();
        for (ods, file) in trusts {
            let text = std::fs::read_to_string(example(file)).unwrap();
            t = t.write(&format!("fleet/trusts/{ods}/values.yaml"), &text);
        }
        let cache = t.path().join("cache");
        t.env("TRUSTPRINT_CACHE", cache.to_str().unwrap())
    }

    #[test]
    fn fleet_cost_rolls_up_by_trust_region_and_icb_and_reports_a_broken_trust() {
        let out = fleet_with(&[
            ("RY6", "leeds-community-ry6.yaml"),
            ("RHW", "royal-berkshire-rhw.yaml"),
            ("G6V2S", "north-london-g6v2s.yaml"),
            ("RM3", "northern-care-alliance-rm3.yaml"),
        ])
        .write("fleet/trusts/RXX/values.yaml", "trust:\n  name: BROKEN\n")
        .args(["fleet", "cost", "--fleet", "fleet", "--output", "json"])
        .run();
        let v = out.json();
        let rows: Vec<(String, serde_json::Value)> = v["trusts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["odsCode"].as_str().unwrap().to_string(),
                    t["monthlyGbp"].clone(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                ("G6V2S".to_string(), serde_json::json!(8357.38)),
                ("RHW".into(), serde_json::json!(17511.77)),
                ("RM3".into(), serde_json::json!(39558.15)),
                ("RXX".into(), serde_json::Value::Null),
                ("RY6".into(), serde_json::json!(7942.0)),
            ]
        );
        assert!(v["trusts"][3]["error"]
            .as_str()
            .unwrap()
            .contains("problem(s) in values"));
        assert_eq!(v["failed"], 1);
        // 8,357.38 + 17,511.77 + 39,558.15 + 7,942.00
        assert_eq!(v["monthlyGbp"], 73369.30);
        assert_eq!(
            v["byRegion"]["Y56"],
            serde_json::json!({"name": "London", "trusts": 1, "monthlyGbp": 8357.38})
        );
        assert_eq!(v["byRegion"]["Y63"]["name"], "North East and Yorkshire");
        assert_eq!(v["byIcb"]["QOP"]["monthlyGbp"], 39558.15);
        assert_eq!(v["byIcb"]["S0E4D"]["trusts"], 1);
    }

    #[test]
    fn fleet_cost_selects_by_region_and_trust() {
        fleet_with(&[("RY6", "leeds-community-ry6.yaml"), ("G6V2S", "north-london-g6v2s.yaml")])
            .args(["fleet", "cost", "--fleet", "fleet", "--region", "Y56"])
            .stdout_has("  G6V2S  £    8357.38  NORTH LONDON NHS FOUNDATION TRUST (London, ICB Z9B2Z), 57.6% of budget, 10 unpriced\n")
            .stdout_has("\nTotal: £8357.38 a month over 1 trust(s)\n")
            .run();
        fleet_with(&[
            ("RY6", "leeds-community-ry6.yaml"),
            ("G6V2S", "north-london-g6v2s.yaml"),
        ])
        .args([
            "fleet",
            "cost",
            "--fleet",
            "fleet",
            "--trust",
            "RY6",
            "--fail-at",
            "85",
        ])
        .status(3)
        .stderr("error: 1 trust(s) over budget: RY6\n")
        .run();
    }
}

#[test]
fn plan_shows_the_monthly_cost_change() {
    let mut t = Test::new();
    let cache = t.path().join("cache");
    t = t.env("TRUSTPRINT_CACHE", cache.to_str().unwrap());
    for secret in [
        "VM_ADMIN_PASSWORD",
        "AD_JOIN_PASSWORD",
        "SQL_ADMIN_PASSWORD",
        "SQL_CLUSTER_PASSWORD",
        "SQL_SERVICE_PASSWORD",
    ] {
        t = t.env(&format!("TP_RY6_{secret}"), "Plan-only-1234!");
    }
    // Everything is created, so the change is the whole estimate with the trust's own (small) tier's usage:
    // the 7,942.00 of `cost` (issue 14: the plan no longer assumes the medium tier for every trust).
    t.args(["plan", "--target", "local", "--values"])
        .arg(example("leeds-community-ry6.yaml"))
        .stdout_has(
            "Plan: 153 to create, 0 to modify, 0 to delete, 0 unchanged\nCost: +£7942.00 a month (£0.00 → \
             £7942.00, prices of 2026-11-01, small-tier usage assumed, 10 unpriced; `trustprint cost` has the \
             lines)\n",
        )
        .run();
}

/// A blueprint that declares `cost.log_gb_per_day` lets each trust's values set it: the exemplar's manifest
/// with that one parameter added, in a folder holding a copy of the repository's templates.
#[test]
fn a_blueprint_can_let_values_set_the_usage_assumptions() {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy(&path, &target);
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("blueprints/exemplar-epr/blueprint.yaml"))
        .unwrap()
        .replacen("templateRoots: [\"../../templates\"]", "templateRoots: [\"templates\"]", 1)
        .replacen(
            "\nparameters:\n",
            "\nparameters:\n  cost.log_gb_per_day:\n    type: integer\n    description: GB of logs a day, for cost \
             estimates.\n    example: 10\n    min: 0\n    max: 10000\n",
            1,
        );
    std::fs::write(dir.path().join("blueprint.yaml"), manifest).unwrap();
    copy(
        &Path::new(ROOT).join("templates"),
        &dir.path().join("templates"),
    );
    let values = std::fs::read_to_string(example("leeds-community-ry6.yaml")).unwrap()
        + "cost:\n  log_gb_per_day: 10\n";
    let t = Test::new().write("ry6.yaml", &values);
    let cache = t.path().join("cache");
    let out = t
        .env("TRUSTPRINT_CACHE", cache.to_str().unwrap())
        .arg("--blueprint")
        .arg(dir.path())
        .args(["cost", "--values", "ry6.yaml", "--output", "json"])
        .run();
    let v = out.json();
    assert_eq!(v["estimate"]["assumptions"]["logGbPerDay"], 10.0);
    // As with --assume log_gb_per_day=10 above.
    assert_eq!(v["estimate"]["deployments"]["operations"], 2008.40);
}
