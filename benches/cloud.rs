//! Requests per second of the local cloud over loopback: resource PUT and GET (one at a time, and 32 in
//! flight), and a whole deployment of a 20-resource template. Throughput is reported in elements (requests or
//! deployments) per second. Run: `cargo bench --bench cloud`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use std::time::Duration;
use trustprint::cloud::{Config, RunningServer, Server};

const SUB: &str = "11111111-2222-4333-8444-555555555555";

struct Bench {
    rt: tokio::runtime::Runtime,
    server: RunningServer,
    http: reqwest::Client,
    token: String,
    _dir: tempfile::TempDir,
}

fn setup() -> Bench {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        state_dir: Some(dir.path().to_path_buf()),
        throttle: false,
        ..Config::default()
    };
    let server = rt.block_on(Server::start(config)).expect("server");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let token = rt.block_on(async {
        let v: Value = http
            .post(format!("{}/t/oauth2/v2.0/token", server.url()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "bench"),
                ("client_secret", "bench"),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    });
    let b = Bench {
        rt,
        server,
        http,
        token,
        _dir: dir,
    };
    b.rt.block_on(b.send(
        reqwest::Method::PUT,
        &format!("/subscriptions/{SUB}/resourcegroups/rg-bench?api-version=2021-04-01"),
        Some(json!({"location": "uksouth"})),
    ));
    b
}

impl Bench {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> u16 {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.server.url()))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("request");
        let status = r.status().as_u16();
        let _ = r.bytes().await;
        assert!(status < 300, "HTTP {status} for {path}");
        status
    }
}

fn storage(i: usize) -> (String, Value) {
    (
        format!("/subscriptions/{SUB}/resourceGroups/rg-bench/providers/Microsoft.Storage/storageAccounts/st{i}?api-version=2023-05-01"),
        json!({"location": "uksouth", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "tags": {"n": i.to_string()},
               "properties": {"minimumTlsVersion": "TLS1_2"}}),
    )
}

fn requests(c: &mut Criterion) {
    let b = setup();
    let mut g = c.benchmark_group("cloud");
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("resource_put", |bench| {
        bench.iter(|| {
            i += 1;
            let (path, body) = storage(i % 500);
            b.rt.block_on(b.send(reqwest::Method::PUT, &path, Some(body)))
        });
    });
    g.bench_function("resource_get", |bench| {
        let (path, _) = storage(1);
        bench.iter(|| b.rt.block_on(b.send(reqwest::Method::GET, &path, None)));
    });
    const FLIGHT: usize = 32;
    g.throughput(Throughput::Elements(FLIGHT as u64));
    g.bench_function("resource_put_32_in_flight", |bench| {
        bench.iter(|| {
            b.rt.block_on(async {
                let b = &b;
                let futs = (0..FLIGHT).map(|k| async move {
                    let (path, body) = storage(k);
                    b.send(reqwest::Method::PUT, &path, Some(body)).await
                });
                futures_util::future::join_all(futs).await
            })
        });
    });
    g.bench_function("resource_get_32_in_flight", |bench| {
        bench.iter(|| {
            b.rt.block_on(async {
                let b = &b;
                let futs = (0..FLIGHT).map(|k| async move {
                    let (path, _) = storage(k);
                    b.send(reqwest::Method::GET, &path, None).await
                });
                futures_util::future::join_all(futs).await
            })
        });
    });
    g.throughput(Throughput::Elements(1));
    let template = json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-09-01", "name": "vnet", "location": "[resourceGroup().location]",
             "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}},
            {"type": "Microsoft.Network/virtualNetworks/subnets", "apiVersion": "2023-09-01", "name": "[concat('vnet/s', copyIndex())]",
             "copy": {"name": "subnets", "count": 9, "mode": "serial", "batchSize": 1}, "dependsOn": ["vnet"],
             "properties": {"addressPrefix": "[concat('10.0.', copyIndex(), '.0/24')]"}},
            {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01", "name": "[concat('stdep', copyIndex())]",
             "copy": {"name": "st", "count": 10}, "location": "[resourceGroup().location]", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}
        ]
    });
    let mut n = 0usize;
    g.bench_function("deploy_20_resources", |bench| {
        bench.iter(|| {
            n += 1;
            b.rt.block_on(async {
                let path = format!("/subscriptions/{SUB}/resourcegroups/rg-bench/providers/Microsoft.Resources/deployments/d{n}?api-version=2025-04-01");
                let r = b.http.put(format!("{}{path}", b.server.url())).bearer_auth(&b.token)
                    .json(&json!({"properties": {"mode": "Incremental", "template": template}}))
                    .send().await.expect("deploy");
                assert_eq!(r.status().as_u16(), 201);
                for _ in 0..10_000 {
                    let v: Value = b.http.get(format!("{}{path}", b.server.url())).bearer_auth(&b.token).send().await.expect("get").json().await.expect("json");
                    match v["properties"]["provisioningState"].as_str() {
                        Some("Succeeded") => return,
                        Some("Failed") => panic!("deployment failed: {v}"),
                        _ => tokio::time::sleep(Duration::from_millis(1)).await,
                    }
                }
                panic!("deployment did not finish");
            })
        });
    });
    g.finish();
}

criterion_group!(benches, requests);
criterion_main!(benches);
