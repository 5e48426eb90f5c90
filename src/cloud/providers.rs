//! Resource providers' side of a write: the read-only properties Azure fills in (endpoints, host names, ids,
//! addresses) and the `list*` actions (keys, connection strings, credentials).
//!
//! Contract: [`fill`] completes a resource body being stored so that `GET` and `reference()` show what Azure
//! would: values are well formed and derived only from the resource's id, name, location and declared
//! properties, so the same write always gives the same body (what-if after a deployment sees no change).
//! [`list_action`] answers `POST {id}/{action}` for the common types with deterministic fake secrets that
//! look like Azure's (base64 keys, connection strings) and are no real secret anywhere. Which paths a type
//! marks read-only comes from Microsoft's specifications (`data/arm-catalog/read-only-properties.json.gz`).

use flate2::read::GzDecoder;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::net::Ipv4Addr;
use std::sync::OnceLock;

/// Read-only property paths by type, gzipped: `{"Ns/type": {"apiVersion": "...", "readOnly": {"properties.x": "string"}}}`.
const READ_ONLY_GZ: &[u8] = include_bytes!("../../data/arm-catalog/read-only-properties.json.gz");

/// Read-only property paths of each type (lower-case type → path → JSON kind).
fn read_only() -> &'static HashMap<String, Vec<(String, String)>> {
    static READ_ONLY: OnceLock<HashMap<String, Vec<(String, String)>>> = OnceLock::new();
    READ_ONLY.get_or_init(|| {
        let mut text = String::new();
        GzDecoder::new(READ_ONLY_GZ)
            .read_to_string(&mut text)
            .expect("the embedded read-only property catalogue is valid gzip");
        let raw: Map<String, Value> = serde_json::from_str(&text)
            .expect("the embedded read-only property catalogue is valid JSON");
        raw.into_iter()
            .map(|(t, v)| {
                let paths = v["readOnly"]
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(p, k)| (p.clone(), k.as_str().unwrap_or("").to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                (t.to_ascii_lowercase(), paths)
            })
            .collect()
    })
}

/// The read-only property paths Microsoft's specifications list for a type (dotted, e.g.
/// `properties.primaryEndpoints`), with their JSON kind.
pub fn read_only_paths(resource_type: &str) -> &'static [(String, String)] {
    read_only()
        .get(&resource_type.to_ascii_lowercase())
        .map_or(&[], Vec::as_slice)
}

/// Whether a dotted path (`properties.ipAddress`) is read-only for the type, or lies inside a read-only
/// object.
pub fn is_read_only(resource_type: &str, path: &str) -> bool {
    read_only_paths(resource_type).iter().any(|(p, _)| {
        p.eq_ignore_ascii_case(path)
            || (path.len() > p.len()
                && path.as_bytes()[p.len()] == b'.'
                && path[..p.len()].eq_ignore_ascii_case(p))
    })
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// A GUID derived from text (as a provider's ids look: version-4 shape).
pub fn guid_of(text: &str) -> String {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest(text)[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// A base64 key of `len` bytes derived from text: looks like Azure's access keys, is nobody's secret.
pub fn key_of(text: &str, len: usize) -> String {
    use base64::Engine;
    let mut bytes = Vec::with_capacity(len + 32);
    let mut block = digest(text);
    while bytes.len() < len {
        bytes.extend_from_slice(&block);
        block = digest(&hex::encode(block));
    }
    bytes.truncate(len);
    base64::engine::general_purpose::STANDARD.encode(&bytes)
}

/// A public IPv4 address derived from text, in 20.0.0.0/8 (a range Azure allocates public addresses from).
fn public_ip_of(text: &str) -> String {
    let d = digest(text);
    Ipv4Addr::new(20, d[0], d[1], d[2].max(4)).to_string()
}

/// The `n`-th usable host address (Azure reserves the first four and the last) of a CIDR prefix.
fn host_in(prefix: &str, n: u32) -> Option<String> {
    let net: ipnet::Ipv4Net = prefix.trim().parse().ok()?;
    let size = 1u64 << (32 - net.prefix_len());
    let offset = 4 + u64::from(n);
    (offset < size.saturating_sub(1)).then(|| {
        let base = u32::from(net.network());
        Ipv4Addr::from(base + u32::try_from(offset).unwrap_or(4)).to_string()
    })
}

fn last_name(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or("")
}

/// The name segments of a resource id (`.../vaults/kv/secrets/s` → `["kv", "s"]`), for the resource's own
/// provider (after the last `providers/`).
fn names_of(id: &str) -> Vec<&str> {
    let lower = id.to_ascii_lowercase();
    let start = lower
        .rfind("/providers/")
        .map_or(0, |i| i + "/providers/".len());
    id[start..].split('/').skip(2).step_by(2).collect()
}

/// The segment of a resource id after `/{marker}/` (case-insensitive), or `""`.
fn segment_after<'a>(id: &'a str, marker: &str) -> &'a str {
    let mut parts = id.split('/');
    while let Some(p) = parts.next() {
        if p.eq_ignore_ascii_case(marker) {
            return parts.next().unwrap_or("");
        }
    }
    ""
}

fn subscription_of(id: &str) -> &str {
    segment_after(id, "subscriptions")
}

fn resource_group_of(id: &str) -> &str {
    segment_after(id, "resourceGroups")
}

/// Set `props[key]` unless the resource already has a value there.
fn default(props: &mut Map<String, Value>, key: &str, value: Value) {
    if props.get(key).is_none_or(Value::is_null) {
        props.insert(key.to_string(), value);
    }
}

/// Looks another stored resource up by id (private endpoints read their subnet's prefix).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<Value>;

/// Fill in what the type's provider fills in. `resource` is the stored body without `properties`; `props`
/// is its `properties` object.
pub fn fill(
    resource_type: &str,
    id: &str,
    resource: &Map<String, Value>,
    props: &mut Value,
    lookup: Lookup<'_>,
) {
    let Some(p) = props.as_object_mut() else {
        return;
    };
    let names = names_of(id);
    let first = names.first().copied().unwrap_or("");
    let name = last_name(id);
    let key = id.to_ascii_lowercase();
    let location = resource
        .get("location")
        .and_then(Value::as_str)
        .unwrap_or("uksouth");
    match resource_type.to_ascii_lowercase().as_str() {
        "microsoft.network/publicipaddresses" => {
            default(p, "ipAddress", json!(public_ip_of(&key)));
            let label = p
                .get("dnsSettings")
                .and_then(|d| d.get("domainNameLabel"))
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase);
            if let (Some(label), Some(dns)) = (
                label,
                p.get_mut("dnsSettings").and_then(Value::as_object_mut),
            ) {
                default(
                    dns,
                    "fqdn",
                    json!(format!("{label}.{location}.cloudapp.azure.com")),
                );
            }
            default(p, "resourceGuid", json!(guid_of(&format!("guid:{key}"))));
        }
        "microsoft.network/networkinterfaces" => {
            let mac = digest(&format!("mac:{key}"));
            default(
                p,
                "macAddress",
                json!(format!(
                    "00-0D-3A-{:02X}-{:02X}-{:02X}",
                    mac[0], mac[1], mac[2]
                )),
            );
            default(p, "resourceGuid", json!(guid_of(&format!("guid:{key}"))));
            if let Some(configs) = p.get_mut("ipConfigurations").and_then(Value::as_array_mut) {
                for (i, c) in configs.iter_mut().enumerate() {
                    let Some(cp) = c.get_mut("properties").and_then(Value::as_object_mut) else {
                        continue;
                    };
                    if cp.get("privateIPAddress").is_none_or(Value::is_null) {
                        let subnet = cp
                            .get("subnet")
                            .and_then(|s| s["id"].as_str())
                            .map(str::to_string);
                        if let Some(ip) =
                            subnet
                                .and_then(|s| subnet_prefix(&s, lookup))
                                .and_then(|pre| {
                                    host_in(
                                        &pre,
                                        u32::from(digest(&key)[0] % 64)
                                            + u32::try_from(i).unwrap_or(0),
                                    )
                                })
                        {
                            cp.insert("privateIPAddress".into(), json!(ip));
                        }
                    }
                }
            }
        }
        "microsoft.network/privateendpoints" => {
            let nic = format!("{}.nic.{}", name, &guid_of(&key)[..8]);
            let rg_scope = id
                .to_ascii_lowercase()
                .find("/providers/")
                .map_or(id, |i| &id[..i]);
            default(
                p,
                "networkInterfaces",
                json!([{"id": format!("{rg_scope}/providers/Microsoft.Network/networkInterfaces/{nic}")}]),
            );
            let subnet = p
                .get("subnet")
                .and_then(|s| s["id"].as_str())
                .map(str::to_string);
            if let Some(prefix) = subnet.and_then(|s| subnet_prefix(&s, lookup)) {
                let ip = host_in(&prefix, u32::from(digest(&key)[0] % 64)).unwrap_or_default();
                let fqdns: Vec<Value> = p
                    .get("privateLinkServiceConnections")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["properties"]["privateLinkServiceId"].as_str())
                    .map(|target| {
                        json!(format!(
                            "{}.privatelink.azure.net",
                            last_name(target).to_ascii_lowercase()
                        ))
                    })
                    .collect();
                default(
                    p,
                    "customDnsConfigs",
                    json!([{"fqdn": fqdns.first().cloned().unwrap_or(json!(name)), "ipAddresses": [ip]}]),
                );
                default(p, "ipConfigurations", json!([]));
            }
        }
        "microsoft.storage/storageaccounts" => {
            // Always the current endpoints: the blob endpoint follows `TRUSTPRINT_LOCAL_BLOB_ENDPOINT`.
            p.insert(
                "primaryEndpoints".into(),
                json!({
                    "blob": crate::cloud::storage::blob_endpoint(first),
                    "file": format!("https://{first}.file.core.windows.net/"),
                    "queue": format!("https://{first}.queue.core.windows.net/"),
                    "table": format!("https://{first}.table.core.windows.net/"),
                    "dfs": format!("https://{first}.dfs.core.windows.net/"),
                    "web": format!("https://{first}.z33.web.core.windows.net/"),
                }),
            );
            default(p, "primaryLocation", json!(location));
            default(p, "statusOfPrimary", json!("available"));
        }
        "microsoft.web/sites" => {
            let host = format!("{}.azurewebsites.net", first.to_ascii_lowercase());
            default(p, "defaultHostName", json!(host));
            default(p, "hostNames", json!([host]));
            default(
                p,
                "enabledHostNames",
                json!([
                    host,
                    format!("{}.scm.azurewebsites.net", first.to_ascii_lowercase())
                ]),
            );
            default(p, "state", json!("Running"));
            default(
                p,
                "outboundIpAddresses",
                json!(public_ip_of(&format!("out:{key}"))),
            );
        }
        "microsoft.web/sites/slots" => {
            let host = format!(
                "{}-{}.azurewebsites.net",
                first.to_ascii_lowercase(),
                name.to_ascii_lowercase()
            );
            default(p, "defaultHostName", json!(host));
            default(p, "hostNames", json!([host]));
        }
        "microsoft.web/staticsites" => {
            let d = hex::encode(&digest(&key)[..6]);
            default(
                p,
                "defaultHostname",
                json!(format!(
                    "{}-{d}.azurestaticapps.net",
                    name.to_ascii_lowercase()
                )),
            );
        }
        "microsoft.sql/servers" => {
            default(
                p,
                "fullyQualifiedDomainName",
                json!(format!(
                    "{}.database.windows.net",
                    name.to_ascii_lowercase()
                )),
            );
            default(p, "state", json!("Ready"));
        }
        "microsoft.dbforpostgresql/servers" | "microsoft.dbforpostgresql/flexibleservers" => {
            default(
                p,
                "fullyQualifiedDomainName",
                json!(format!(
                    "{}.postgres.database.azure.com",
                    name.to_ascii_lowercase()
                )),
            );
        }
        "microsoft.dbformysql/servers" | "microsoft.dbformysql/flexibleservers" => {
            default(
                p,
                "fullyQualifiedDomainName",
                json!(format!(
                    "{}.mysql.database.azure.com",
                    name.to_ascii_lowercase()
                )),
            );
        }
        "microsoft.dbformariadb/servers" => {
            default(
                p,
                "fullyQualifiedDomainName",
                json!(format!(
                    "{}.mariadb.database.azure.com",
                    name.to_ascii_lowercase()
                )),
            );
        }
        "microsoft.containerservice/managedclusters" => {
            let prefix = p
                .get("dnsPrefix")
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_ascii_lowercase();
            let d = hex::encode(&digest(&key)[..4]);
            default(
                p,
                "fqdn",
                json!(format!("{prefix}-{d}.hcp.{location}.azmk8s.io")),
            );
            default(
                p,
                "azurePortalFQDN",
                json!(format!("{prefix}-{d}.portal.hcp.{location}.azmk8s.io")),
            );
            default(
                p,
                "currentKubernetesVersion",
                p.get("kubernetesVersion")
                    .cloned()
                    .unwrap_or(json!("1.30.6")),
            );
            default(p, "powerState", json!({"code": "Running"}));
            // AKS puts the nodes in a resource group of its own, `MC_{group}_{cluster}_{location}`, and a
            // cluster with a managed identity runs its kubelets as `{cluster}-agentpool` there.
            let node_rg = format!("MC_{}_{name}_{location}", resource_group_of(id));
            default(p, "nodeResourceGroup", json!(node_rg));
            if resource.get("identity").is_some_and(Value::is_object) {
                let node_rg = p["nodeResourceGroup"].as_str().unwrap_or("").to_string();
                let identity = p.entry("identityProfile").or_insert_with(|| json!({}));
                if let Some(identity) = identity.as_object_mut() {
                    default(
                        identity,
                        "kubeletidentity",
                        json!({
                            "resourceId": format!(
                                "/subscriptions/{}/resourcegroups/{node_rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}-agentpool",
                                subscription_of(id)
                            ),
                            "clientId": guid_of(&format!("kubelet-client:{key}")),
                            "objectId": guid_of(&format!("kubelet-object:{key}")),
                        }),
                    );
                }
            }
        }
        "microsoft.compute/virtualmachines" => {
            default(p, "vmId", json!(guid_of(&format!("vm:{key}"))));
            // A managed OS disk created from an image is named `{vm}_OsDisk_1_{32 hex}` in the VM's group.
            if let Some(os) = p
                .get_mut("storageProfile")
                .and_then(|s| s.get_mut("osDisk"))
                .and_then(Value::as_object_mut)
            {
                if os.get("vhd").is_none() {
                    let disk = format!(
                        "{name}_OsDisk_1_{}",
                        hex::encode(&digest(&format!("osdisk:{key}"))[..16])
                    );
                    default(os, "name", json!(disk));
                    let disk = os["name"].as_str().unwrap_or("").to_string();
                    let managed = os.entry("managedDisk").or_insert_with(|| json!({}));
                    if let Some(managed) = managed.as_object_mut() {
                        default(
                            managed,
                            "id",
                            json!(format!(
                                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/disks/{disk}",
                                subscription_of(id),
                                resource_group_of(id)
                            )),
                        );
                    }
                }
            }
        }
        "microsoft.keyvault/vaults" | "microsoft.keyvault/managedhsms" => {
            default(
                p,
                "vaultUri",
                json!(format!(
                    "https://{}.vault.azure.net/",
                    name.to_ascii_lowercase()
                )),
            );
        }
        "microsoft.keyvault/vaults/keys" | "microsoft.keyvault/vaults/secrets" => {
            let kind = if resource_type.to_ascii_lowercase().ends_with("/keys") {
                "key"
            } else {
                "secret"
            };
            let uri = format!("https://{first}.vault.azure.net/{kind}s/{name}");
            let version = guid_of(&format!("version:{key}")).replace('-', "");
            p.insert(
                format!("{kind}UriWithVersion"),
                json!(format!("{uri}/{version}")),
            );
            p.insert(format!("{kind}Uri"), json!(uri));
        }
        "microsoft.documentdb/databaseaccounts" => {
            let endpoint = format!(
                "https://{}.documents.azure.com:443/",
                name.to_ascii_lowercase()
            );
            default(p, "documentEndpoint", json!(endpoint));
            let region = json!([{"locationName": location, "documentEndpoint": format!("https://{}-{location}.documents.azure.com:443/", name.to_ascii_lowercase()), "failoverPriority": 0}]);
            default(p, "writeLocations", region.clone());
            default(p, "readLocations", region);
            default(p, "instanceId", json!(guid_of(&format!("instance:{key}"))));
        }
        "microsoft.eventhub/namespaces"
        | "microsoft.servicebus/namespaces"
        | "microsoft.relay/namespaces" => {
            default(
                p,
                "serviceBusEndpoint",
                json!(format!(
                    "https://{}.servicebus.windows.net:443/",
                    name.to_ascii_lowercase()
                )),
            );
            default(
                p,
                "metricId",
                json!(format!(
                    "{}:{}",
                    guid_of(&format!("sub:{key}")),
                    name.to_ascii_lowercase()
                )),
            );
            default(p, "status", json!("Active"));
        }
        "microsoft.containerregistry/registries" => {
            default(
                p,
                "loginServer",
                json!(format!("{}.azurecr.io", name.to_ascii_lowercase())),
            );
        }
        "microsoft.insights/components" => {
            let ikey = guid_of(&format!("ikey:{key}"));
            default(p, "InstrumentationKey", json!(ikey));
            default(p, "ConnectionString", json!(format!("InstrumentationKey={ikey};IngestionEndpoint=https://{location}-1.in.applicationinsights.azure.com/;LiveEndpoint=https://{location}.livediagnostics.monitor.azure.com/")));
            default(p, "AppId", json!(guid_of(&format!("appid:{key}"))));
            default(p, "ApplicationId", json!(name));
            default(p, "Name", json!(name));
        }
        "microsoft.cache/redis" => {
            default(
                p,
                "hostName",
                json!(format!(
                    "{}.redis.cache.windows.net",
                    name.to_ascii_lowercase()
                )),
            );
            default(p, "port", json!(6379));
            default(p, "sslPort", json!(6380));
        }
        "microsoft.cognitiveservices/accounts" => {
            let sub = p
                .get("customSubDomainName")
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_ascii_lowercase();
            default(
                p,
                "endpoint",
                json!(format!("https://{sub}.cognitiveservices.azure.com/")),
            );
        }
        "microsoft.search/searchservices" => {
            default(p, "status", json!("running"));
        }
        "microsoft.signalrservice/signalr" | "microsoft.signalrservice/webpubsub" => {
            default(
                p,
                "hostName",
                json!(format!("{}.service.signalr.net", name.to_ascii_lowercase())),
            );
        }
        "microsoft.containerinstance/containergroups" => {
            if let Some(ip) = p.get_mut("ipAddress").and_then(Value::as_object_mut) {
                default(ip, "ip", json!(public_ip_of(&key)));
                if let Some(label) = ip
                    .get("dnsNameLabel")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
                {
                    default(
                        ip,
                        "fqdn",
                        json!(format!("{label}.{location}.azurecontainer.io")),
                    );
                }
            }
        }
        "microsoft.containerservice/containerservices" => {
            if let Some(m) = p.get_mut("masterProfile").and_then(Value::as_object_mut) {
                if let Some(prefix) = m
                    .get("dnsPrefix")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
                {
                    default(
                        m,
                        "fqdn",
                        json!(format!("{prefix}.{location}.cloudapp.azure.com")),
                    );
                }
            }
            for pool in p
                .get_mut("agentPoolProfiles")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(pool) = pool.as_object_mut() {
                    if let Some(prefix) = pool
                        .get("dnsPrefix")
                        .and_then(Value::as_str)
                        .map(str::to_ascii_lowercase)
                    {
                        default(
                            pool,
                            "fqdn",
                            json!(format!("{prefix}.{location}.cloudapp.azure.com")),
                        );
                    }
                }
            }
        }
        "microsoft.eventgrid/topics" | "microsoft.eventgrid/domains" => {
            default(
                p,
                "endpoint",
                json!(format!(
                    "https://{}.{location}-1.eventgrid.azure.net/api/events",
                    name.to_ascii_lowercase()
                )),
            );
        }
        "microsoft.devices/iothubs" => {
            let n = name.to_ascii_lowercase();
            default(p, "hostName", json!(format!("{n}.azure-devices.net")));
            let ns = format!(
                "iothub-ns-{}-{}",
                &n[..n.len().min(10)],
                &hex::encode(&digest(&key)[..3])
            );
            default(
                p,
                "eventHubEndpoints",
                json!({"events": {
                    "retentionTimeInDays": 1, "partitionCount": 2,
                    "path": n, "endpoint": format!("sb://{ns}.servicebus.windows.net/"),
                    "partitionIds": ["0", "1"]
                }}),
            );
            default(p, "state", json!("Active"));
        }
        "microsoft.devices/provisioningservices" => {
            let n = name.to_ascii_lowercase();
            default(
                p,
                "serviceOperationsHostName",
                json!(format!("{n}.azure-devices-provisioning.net")),
            );
            default(
                p,
                "deviceProvisioningHostName",
                json!("global.azure-devices-provisioning.net"),
            );
            default(
                p,
                "idScope",
                json!(format!(
                    "0ne{}",
                    hex::encode(&digest(&key)[..4]).to_uppercase()
                )),
            );
        }
        "microsoft.cdn/profiles/endpoints" => {
            default(
                p,
                "hostName",
                json!(format!("{}.azureedge.net", name.to_ascii_lowercase())),
            );
        }
        "microsoft.cdn/profiles/afdendpoints" => {
            let d = hex::encode(&digest(&key)[..7]);
            default(
                p,
                "hostName",
                json!(format!("{}-{d}.z01.azurefd.net", name.to_ascii_lowercase())),
            );
        }
        "microsoft.timeseriesinsights/environments" => {
            default(
                p,
                "dataAccessFqdn",
                json!(format!(
                    "{}-{}.env.timeseries.azure.com",
                    guid_of(&key),
                    name.to_ascii_lowercase()
                )),
            );
            default(p, "dataAccessId", json!(guid_of(&format!("access:{key}"))));
        }
        "microsoft.datalakestore/accounts" | "microsoft.datalakeanalytics/accounts" => {
            let suffix = if resource_type.to_ascii_lowercase().contains("store") {
                "azuredatalakestore.net"
            } else {
                "azuredatalakeanalytics.net"
            };
            default(
                p,
                "endpoint",
                json!(format!("{}.{suffix}", name.to_ascii_lowercase())),
            );
        }
        "microsoft.hdinsight/clusters" => {
            let n = name.to_ascii_lowercase();
            default(
                p,
                "connectivityEndpoints",
                json!([
                    {"name": "SSH", "protocol": "TCP", "location": format!("{n}-ssh.azurehdinsight.net"), "port": 22},
                    {"name": "HTTPS", "protocol": "TCP", "location": format!("{n}.azurehdinsight.net"), "port": 443}
                ]),
            );
        }
        "microsoft.operationalinsights/workspaces" => {
            default(p, "customerId", json!(guid_of(&format!("workspace:{key}"))));
        }
        "microsoft.managedidentity/userassignedidentities" => {
            default(
                p,
                "principalId",
                json!(guid_of(&format!("principal:{key}"))),
            );
            default(p, "clientId", json!(guid_of(&format!("client:{key}"))));
        }
        "microsoft.apimanagement/service" => {
            let n = name.to_ascii_lowercase();
            default(p, "gatewayUrl", json!(format!("https://{n}.azure-api.net")));
            default(
                p,
                "portalUrl",
                json!(format!("https://{n}.portal.azure-api.net")),
            );
            default(
                p,
                "managementApiUrl",
                json!(format!("https://{n}.management.azure-api.net")),
            );
        }
        "microsoft.network/frontdoors" => {
            default(
                p,
                "cname",
                json!(format!("{}.azurefd.net", name.to_ascii_lowercase())),
            );
        }
        "microsoft.network/trafficmanagerprofiles" => {
            if let Some(dns) = p.get_mut("dnsConfig").and_then(Value::as_object_mut) {
                if let Some(rel) = dns
                    .get("relativeName")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
                {
                    default(dns, "fqdn", json!(format!("{rel}.trafficmanager.net")));
                }
            }
        }
        "microsoft.network/dnszones" => {
            // Azure's public DNS zones are served by four name servers of one of its numbered sets
            // (`ns1-01.azure-dns.com.` ...), each name with its trailing dot, as `GET` returns them.
            let set = digest(&key)[0] % 9 + 1;
            default(
                p,
                "nameServers",
                json!([
                    format!("ns1-0{set}.azure-dns.com."),
                    format!("ns2-0{set}.azure-dns.net."),
                    format!("ns3-0{set}.azure-dns.org."),
                    format!("ns4-0{set}.azure-dns.info."),
                ]),
            );
            default(p, "maxNumberOfRecordSets", json!(10000));
            default(p, "maxNumberOfRecordsPerRecordSet", json!(20));
        }
        "microsoft.logic/workflows" => {
            default(
                p,
                "accessEndpoint",
                json!(format!(
                    "https://prod-00.{location}.logic.azure.com:443/workflows/{}",
                    guid_of(&key).replace('-', "")
                )),
            );
        }
        "microsoft.machinelearningservices/workspaces" => {
            default(
                p,
                "workspaceId",
                json!(guid_of(&format!("workspace:{key}"))),
            );
            default(
                p,
                "discoveryUrl",
                json!(format!("https://{location}.api.azureml.ms/discovery")),
            );
        }
        "microsoft.app/managedenvironments" => {
            let d = hex::encode(&digest(&key)[..5]);
            default(
                p,
                "defaultDomain",
                json!(format!(
                    "{}-{d}.{location}.azurecontainerapps.io",
                    name.to_ascii_lowercase()
                )),
            );
            default(p, "staticIp", json!(public_ip_of(&key)));
        }
        "microsoft.app/containerapps" => {
            let d = hex::encode(&digest(&key)[..5]);
            let fqdn = format!(
                "{}.{d}.{location}.azurecontainerapps.io",
                name.to_ascii_lowercase()
            );
            default(p, "latestRevisionFqdn", json!(fqdn.clone()));
            if let Some(ingress) = p
                .get_mut("configuration")
                .and_then(|c| c.get_mut("ingress"))
                .and_then(Value::as_object_mut)
            {
                default(ingress, "fqdn", json!(fqdn));
            }
        }
        _ => {}
    }
    fill_generic(resource_type, &key, p);
    if resource_type
        .get(..b"microsoft.network/".len())
        .is_some_and(|ns| ns.eq_ignore_ascii_case("microsoft.network/"))
    {
        fill_sub_resource_ids(resource_type, id, p);
        if !resource_type.eq_ignore_ascii_case("Microsoft.Network/networkInterfaces") {
            fill_private_ips(resource_type, p, lookup);
        }
    }
}

/// An IP configuration in a subnet gets a private address from that subnet's first free ones (an Azure
/// firewall's is the subnet's `.4`), as the network provider allocates them; a gateway that runs BGP
/// peers from its own address, with Azure's default ASN 65515.
fn fill_private_ips(resource_type: &str, p: &mut Map<String, Value>, lookup: Lookup<'_>) {
    let mut first_ip = None;
    for collection in ["ipConfigurations", "frontendIPConfigurations"] {
        let Some(configs) = p.get_mut(collection).and_then(Value::as_array_mut) else {
            continue;
        };
        for (i, c) in configs.iter_mut().enumerate() {
            let Some(cp) = c.get_mut("properties").and_then(Value::as_object_mut) else {
                continue;
            };
            let subnet = cp
                .get("subnet")
                .and_then(|s| s["id"].as_str())
                .map(str::to_string);
            if cp.get("privateIPAddress").is_none_or(Value::is_null) {
                let ip = subnet
                    .and_then(|s| subnet_prefix(&s, lookup))
                    .and_then(|pre| host_in(&pre, u32::try_from(i).unwrap_or(0)));
                if let Some(ip) = ip {
                    cp.insert("privateIPAddress".into(), json!(ip));
                }
            }
            if first_ip.is_none() {
                first_ip = cp.get("privateIPAddress").cloned();
            }
        }
    }
    if resource_type.eq_ignore_ascii_case("Microsoft.Network/virtualNetworkGateways") {
        let mut bgp = json!({"asn": 65515, "peerWeight": 0});
        if let Some(ip) = first_ip {
            bgp["bgpPeeringAddress"] = ip;
        }
        default(p, "bgpSettings", bgp);
    }
}

/// The network provider gives each named item of a resource's top-level collections (a virtual network's
/// `subnets`, a load balancer's `frontendIPConfigurations` and `backendAddressPools`, a security group's
/// `securityRules`, an interface's `ipConfigurations`...) its own id, `{resource id}/{collection}/{name}`, and
/// its type, as `GET` and `reference()` return them (`reference('vnet').subnets[0].id`).
fn fill_sub_resource_ids(resource_type: &str, id: &str, p: &mut Map<String, Value>) {
    for (collection, items) in p.iter_mut() {
        let Some(items) = items.as_array_mut() else {
            continue;
        };
        for item in items {
            let Some(o) = item.as_object_mut() else {
                continue;
            };
            let Some(name) = o.get("name").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            if !o.get("properties").is_some_and(Value::is_object) {
                continue;
            }
            default(o, "id", json!(format!("{id}/{collection}/{name}")));
            default(o, "type", json!(format!("{resource_type}/{collection}")));
        }
    }
}

/// For any type: the read-only identifiers its specification lists directly under `properties` get a
/// derived GUID when absent, and its read-only lists an empty list (Azure returns a collection it fills in,
/// such as a namespace's `privateEndpointConnections`, as `[]` until there is something in it), so
/// `reference()` of them works.
fn fill_generic(resource_type: &str, key: &str, p: &mut Map<String, Value>) {
    const GUID_LEAVES: &[&str] = &[
        "metricResourceId",
        "resourceGuid",
        "uniqueIdentifier",
        "instanceId",
        "uuid",
        "customerId",
    ];
    for (path, kind) in read_only_paths(resource_type) {
        let Some(leaf) = path.strip_prefix("properties.") else {
            continue;
        };
        if kind == "string" && GUID_LEAVES.iter().any(|g| g.eq_ignore_ascii_case(leaf)) {
            default(p, leaf, json!(guid_of(&format!("{leaf}:{key}"))));
        } else if kind == "array" && !leaf.contains('.') {
            default(p, leaf, json!([]));
        }
    }
}

/// The address prefix of a subnet, from the stored subnet or from its virtual network's `subnets`.
fn subnet_prefix(subnet_id: &str, lookup: Lookup<'_>) -> Option<String> {
    let prefix_of = |props: &Value| {
        props["addressPrefix"]
            .as_str()
            .map(str::to_string)
            .or_else(|| props["addressPrefixes"][0].as_str().map(str::to_string))
    };
    if let Some(s) = lookup(subnet_id) {
        if let Some(p) = prefix_of(&s["properties"]) {
            return Some(p);
        }
    }
    let lower = subnet_id.to_ascii_lowercase();
    let cut = lower.rfind("/subnets/")?;
    let vnet = lookup(&subnet_id[..cut])?;
    let name = &subnet_id[cut + "/subnets/".len()..];
    vnet["properties"]["subnets"]
        .as_array()?
        .iter()
        .find(|s| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .and_then(|s| prefix_of(&s["properties"]))
}

/// Child resources a provider creates with their parent (a storage account's `default` services) or that
/// exist without being created (a web app's `config`, a vault's discovered backup containers): a write under
/// one of them needs only the resource above it. `(type, name)`; `*` is any name.
const IMPLICIT: &[(&str, &str)] = &[
    ("Microsoft.Storage/storageAccounts/blobServices", "default"),
    ("Microsoft.Storage/storageAccounts/fileServices", "default"),
    ("Microsoft.Storage/storageAccounts/queueServices", "default"),
    ("Microsoft.Storage/storageAccounts/tableServices", "default"),
    ("Microsoft.Web/sites/config", "*"),
    ("Microsoft.Web/sites/slots/config", "*"),
    ("Microsoft.Web/sites/host", "*"),
    ("Microsoft.RecoveryServices/vaults/backupFabrics", "*"),
    (
        "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers",
        "*",
    ),
    ("Microsoft.RecoveryServices/vaults/replicationFabrics", "*"),
    (
        "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationNetworks",
        "*",
    ),
    ("Microsoft.Sql/servers/databases", "master"),
];

/// Whether a resource of this type and (last) name exists as soon as its own parent does.
pub fn is_implicit(resource_type: &str, name: &str) -> bool {
    let leaf = last_name(name);
    IMPLICIT.iter().any(|(t, n)| {
        t.eq_ignore_ascii_case(resource_type) && (*n == "*" || n.eq_ignore_ascii_case(leaf))
    })
}

/// Answer a `list*` action (`POST {id}/listKeys`, `.../authorizationRules/{rule}/listKeys`,
/// `.../config/publishingcredentials/list`...) of a stored resource; `None` when the local cloud does not
/// emulate that action for the type.
pub fn list_action(
    resource_type: &str,
    id: &str,
    action: &str,
    api_version: &str,
) -> Option<Value> {
    let key = id.to_ascii_lowercase();
    let name = last_name(id).to_ascii_lowercase();
    let names = names_of(id);
    let first = names
        .first()
        .map_or(String::new(), |n| n.to_ascii_lowercase());
    let k = |label: &str, len: usize| key_of(&format!("{label}:{action}:{key}"), len);
    let action = action.to_ascii_lowercase();
    let t = resource_type.to_ascii_lowercase();
    let answer = match (t.as_str(), action.as_str()) {
        // Before 2016-01-01 the storage provider answered with the two keys as properties.
        ("microsoft.storage/storageaccounts", "listkeys") if api_version < "2016-01-01" => json!({
            "key1": super::storage::storage_account_key(id, "key1"),
            "key2": super::storage::storage_account_key(id, "key2"),
        }),
        ("microsoft.storage/storageaccounts", "listkeys") => json!({"keys": [
            {"keyName": "key1", "value": super::storage::storage_account_key(id, "key1"), "permissions": "FULL"},
            {"keyName": "key2", "value": super::storage::storage_account_key(id, "key2"), "permissions": "FULL"},
        ]}),
        ("microsoft.storage/storageaccounts", "listaccountsas") => {
            json!({"accountSasToken": format!("sv=2022-11-02&ss=b&srt=sco&sp=rl&se=2030-01-01T00:00:00Z&sig={}", urlencode(&k("sas", 32)))})
        }
        ("microsoft.storage/storageaccounts", "listservicesas") => {
            json!({"serviceSasToken": format!("sv=2022-11-02&sr=c&sp=rl&se=2030-01-01T00:00:00Z&sig={}", urlencode(&k("sas", 32)))})
        }
        ("microsoft.documentdb/databaseaccounts", "listkeys") => json!({
            "primaryMasterKey": k("pm", 64), "secondaryMasterKey": k("sm", 64),
            "primaryReadonlyMasterKey": k("pr", 64), "secondaryReadonlyMasterKey": k("sr", 64),
        }),
        ("microsoft.documentdb/databaseaccounts", "listreadonlykeys") => json!({
            "primaryReadonlyMasterKey": k("pr", 64), "secondaryReadonlyMasterKey": k("sr", 64),
        }),
        ("microsoft.documentdb/databaseaccounts", "listconnectionstrings") => {
            let endpoint = format!("https://{name}.documents.azure.com:443/");
            json!({"connectionStrings": [
                {"connectionString": format!("AccountEndpoint={endpoint};AccountKey={}", k("pm", 64)), "description": "Primary SQL Connection String"},
                {"connectionString": format!("AccountEndpoint={endpoint};AccountKey={}", k("sm", 64)), "description": "Secondary SQL Connection String"},
            ]})
        }
        (t, "listkeys")
            if t.starts_with("microsoft.eventhub/")
                || t.starts_with("microsoft.servicebus/")
                || t.starts_with("microsoft.relay/") =>
        {
            let rule = if t.ends_with("/authorizationrules") {
                last_name(id).to_string()
            } else {
                "RootManageSharedAccessKey".into()
            };
            let (pk, sk) = (k("primary", 32), k("secondary", 32));
            let entity = if names.len() >= 3 {
                format!(";EntityPath={}", names[1])
            } else {
                String::new()
            };
            let cs = |key: &str| {
                format!("Endpoint=sb://{first}.servicebus.windows.net/;SharedAccessKeyName={rule};SharedAccessKey={key}{entity}")
            };
            json!({"keyName": rule, "primaryKey": pk, "secondaryKey": sk,
                   "primaryConnectionString": cs(&pk), "secondaryConnectionString": cs(&sk)})
        }
        ("microsoft.web/sites/config", "list") if name == "publishingcredentials" => json!({
            "id": id, "name": "publishingcredentials", "type": "Microsoft.Web/sites/config",
            "properties": {"publishingUserName": format!("${first}"), "publishingPassword": k("pw", 45),
                           "scmUri": format!("https://${first}:{}@{first}.scm.azurewebsites.net", k("pw", 45))}
        }),
        ("microsoft.web/sites", "listpublishingcredentials") => json!({
            "properties": {"publishingUserName": format!("${name}"), "publishingPassword": k("pw", 45)}
        }),
        ("microsoft.web/staticsites", "listsecrets") => json!({
            "id": format!("{id}/secrets"), "name": "secrets", "type": "Microsoft.Web/staticSites/secrets",
            "properties": {"apiKey": hex::encode(&digest(&format!("swa:{key}"))[..24])}
        }),
        ("microsoft.web/sites/host", "listkeys") | ("microsoft.web/sites", "listkeys") => json!({
            "masterKey": k("master", 40), "functionKeys": {"default": k("default", 40)}, "systemKeys": {}
        }),
        ("microsoft.cache/redis", "listkeys") => {
            json!({"primaryKey": k("p", 32), "secondaryKey": k("s", 32)})
        }
        ("microsoft.cognitiveservices/accounts", "listkeys") => {
            json!({"key1": hex::encode(&digest(&format!("1:{key}"))[..16]), "key2": hex::encode(&digest(&format!("2:{key}"))[..16])})
        }
        ("microsoft.search/searchservices", "listadminkeys") => {
            json!({"primaryKey": hex::encode(&digest(&format!("p:{key}"))[..16]).to_uppercase(), "secondaryKey": hex::encode(&digest(&format!("s:{key}"))[..16]).to_uppercase()})
        }
        ("microsoft.search/searchservices", "listquerykeys") => {
            json!({"value": [{"name": null, "key": hex::encode(&digest(&format!("q:{key}"))[..16]).to_uppercase()}]})
        }
        ("microsoft.containerregistry/registries", "listcredentials") => json!({
            "username": name, "passwords": [{"name": "password", "value": k("p1", 32)}, {"name": "password2", "value": k("p2", 32)}]
        }),
        ("microsoft.operationalinsights/workspaces", "sharedkeys" | "listkeys") => {
            json!({"primarySharedKey": k("p", 64), "secondarySharedKey": k("s", 64)})
        }
        ("microsoft.signalrservice/signalr" | "microsoft.signalrservice/webpubsub", "listkeys") => {
            let pk = k("p", 32);
            json!({"primaryKey": pk, "secondaryKey": k("s", 32),
                   "primaryConnectionString": format!("Endpoint=https://{name}.service.signalr.net;AccessKey={pk};Version=1.0;")})
        }
        ("microsoft.devices/iothubs", "listkeys") => json!({"value": [
            {"keyName": "iothubowner", "primaryKey": k("p", 32), "secondaryKey": k("s", 32), "rights": "RegistryWrite, ServiceConnect, DeviceConnect"}
        ]}),
        ("microsoft.devices/iothubs/iothubkeys", "listkeys") => json!({
            "keyName": name, "primaryKey": k("p", 32), "secondaryKey": k("s", 32), "rights": "ServiceConnect"
        }),
        ("microsoft.eventgrid/topics" | "microsoft.eventgrid/domains", "listkeys") => {
            json!({"key1": k("1", 32), "key2": k("2", 32)})
        }
        ("microsoft.maps/accounts", "listkeys") => {
            json!({"primaryKey": k("p", 32), "secondaryKey": k("s", 32)})
        }
        ("microsoft.batch/batchaccounts", "listkeys") => {
            json!({"accountName": name, "primary": k("p", 64), "secondary": k("s", 64)})
        }
        ("microsoft.appconfiguration/configurationstores", "listkeys") => json!({"value": [
            {"id": k("id", 9), "name": "Primary", "value": k("p", 32), "connectionString": format!("Endpoint=https://{name}.azconfig.io;Id={};Secret={}", k("id", 9), k("p", 32)), "readOnly": false}
        ]}),
        ("microsoft.logic/integrationaccounts", "listcallbackurl") => json!({
            "value": format!("https://prod-00.{}.logic.azure.com:443/integrationAccounts/{}?api-version=2015-08-01-preview&sp=%2F%2F%2A&sv=1.0&sig={}", "uksouth", guid_of(&key).replace('-', ""), urlencode(&k("sig", 32)))
        }),
        ("microsoft.logic/workflows/triggers", "listcallbackurl") => json!({
            "value": format!("https://prod-00.{}.logic.azure.com/workflows/{}/triggers/{name}/paths/invoke?sig={}", "uksouth", guid_of(&key).replace('-', ""), urlencode(&k("sig", 32)))
        }),
        _ => return None,
    };
    Some(answer)
}

/// `POST {resource id}/{action}`: the action's answer for a stored resource, or ARM's errors when the resource
/// does not exist or the local cloud does not emulate that action.
pub fn post_action(
    st: &super::AppState,
    req: &super::http::Req,
    id: &super::ids::ResourceId,
) -> Result<axum::response::Response, super::errors::ArmError> {
    let mut target = id.clone();
    let action = target.types.pop().unwrap_or_default();
    let mut top = target.clone();
    top.types.truncate(1);
    top.names.truncate(1);
    if st.store.get_resource(&top.id())?.is_none() {
        return Err(super::http::resource_not_found(&top));
    }
    list_action(
        &target.resource_type(),
        &target.id(),
        &action,
        req.api_version(),
    )
    .map(|v| super::http::json_body(&v))
    .ok_or_else(|| super::http::no_route(req))
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RG: &str = "/subscriptions/s/resourceGroups/rg/providers";

    fn filled(
        resource_type: &str,
        id: &str,
        resource: Value,
        props: Value,
        lookup: Lookup<'_>,
    ) -> Value {
        let mut props = props;
        fill(
            resource_type,
            id,
            resource.as_object().unwrap(),
            &mut props,
            lookup,
        );
        props
    }

    #[test]
    fn dns_zones_get_azures_name_servers_and_read_only_lists_start_empty() {
        let id = format!("{RG}/Microsoft.Network/dnsZones/contoso.org");
        let p = filled(
            "Microsoft.Network/dnsZones",
            &id,
            json!({"location": "global"}),
            json!({}),
            &|_| None,
        );
        let servers: Vec<&str> = p["nameServers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(servers.len(), 4, "{p}");
        let set = &servers[0]["ns1-".len().."ns1-".len() + 2];
        assert_eq!(
            servers,
            [
                format!("ns1-{set}.azure-dns.com."),
                format!("ns2-{set}.azure-dns.net."),
                format!("ns3-{set}.azure-dns.org."),
                format!("ns4-{set}.azure-dns.info."),
            ]
        );
        // The same zone always gets the same servers.
        let again = filled(
            "Microsoft.Network/dnsZones",
            &id,
            json!({"location": "global"}),
            json!({}),
            &|_| None,
        );
        assert_eq!(p, again);
        // A read-only collection the specification lists (a key vault's private endpoint connections)
        // reads as an empty list, and a value the body gives is kept.
        let ns = filled(
            "Microsoft.KeyVault/vaults",
            &format!("{RG}/Microsoft.KeyVault/vaults/kv1"),
            json!({"location": "uksouth"}),
            json!({}),
            &|_| None,
        );
        assert_eq!(ns["privateEndpointConnections"], json!([]), "{ns}");
        let kept = filled(
            "Microsoft.Network/dnsZones",
            &id,
            json!({"location": "global"}),
            json!({"nameServers": ["a."]}),
            &|_| None,
        );
        assert_eq!(kept["nameServers"], json!(["a."]));
    }

    #[test]
    fn public_ips_get_an_address_and_their_dns_label_an_fqdn() {
        let id = format!("{RG}/Microsoft.Network/publicIPAddresses/pip1");
        let p = filled(
            "Microsoft.Network/publicIPAddresses",
            &id,
            json!({"location": "uksouth"}),
            json!({"dnsSettings": {"domainNameLabel": "MyApp"}}),
            &|_| None,
        );
        assert_eq!(p["dnsSettings"]["fqdn"], "myapp.uksouth.cloudapp.azure.com");
        let ip: Ipv4Addr = p["ipAddress"].as_str().unwrap().parse().unwrap();
        assert_eq!(ip.octets()[0], 20);
        let again = filled(
            "Microsoft.Network/publicIPAddresses",
            &id,
            json!({"location": "uksouth"}),
            json!({}),
            &|_| None,
        );
        assert_eq!(again["ipAddress"], p["ipAddress"], "deterministic");
    }

    #[test]
    fn host_names_follow_azures_patterns() {
        let site = filled(
            "Microsoft.Web/sites",
            &format!("{RG}/Microsoft.Web/sites/App1"),
            json!({}),
            json!({}),
            &|_| None,
        );
        assert_eq!(site["defaultHostName"], "app1.azurewebsites.net");
        let sql = filled(
            "Microsoft.Sql/servers",
            &format!("{RG}/Microsoft.Sql/servers/sql1"),
            json!({}),
            json!({}),
            &|_| None,
        );
        assert_eq!(sql["fullyQualifiedDomainName"], "sql1.database.windows.net");
        let kv = filled(
            "Microsoft.KeyVault/vaults",
            &format!("{RG}/Microsoft.KeyVault/vaults/kv1"),
            json!({}),
            json!({}),
            &|_| None,
        );
        assert_eq!(kv["vaultUri"], "https://kv1.vault.azure.net/");
        let aks = filled(
            "Microsoft.ContainerService/managedClusters",
            &format!("{RG}/Microsoft.ContainerService/managedClusters/aks"),
            json!({"location": "uksouth"}),
            json!({"dnsPrefix": "dns1"}),
            &|_| None,
        );
        let fqdn = aks["fqdn"].as_str().unwrap();
        assert!(
            fqdn.starts_with("dns1-") && fqdn.ends_with(".hcp.uksouth.azmk8s.io"),
            "{fqdn}"
        );
    }

    #[test]
    fn network_sub_resources_get_their_own_ids() {
        let id = format!("{RG}/Microsoft.Network/virtualNetworks/vnet1");
        let p = filled(
            "Microsoft.Network/virtualNetworks",
            &id,
            json!({"location": "uksouth"}),
            json!({
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [
                    {"name": "app", "properties": {"addressPrefix": "10.0.0.0/24"}},
                    {"name": "data", "id": "kept", "properties": {"addressPrefix": "10.0.1.0/24"}}
                ]
            }),
            &|_| None,
        );
        assert_eq!(p["subnets"][0]["id"], json!(format!("{id}/subnets/app")));
        assert_eq!(
            p["subnets"][0]["type"],
            json!("Microsoft.Network/virtualNetworks/subnets")
        );
        assert_eq!(p["subnets"][1]["id"], json!("kept"));
        // Lists of plain values and other providers' collections are left alone.
        assert_eq!(p["addressSpace"]["addressPrefixes"], json!(["10.0.0.0/16"]));
        let other = filled(
            "Microsoft.Web/sites",
            &format!("{RG}/Microsoft.Web/sites/app1"),
            json!({"location": "uksouth"}),
            json!({"hostNameSslStates": [{"name": "a", "properties": {}}]}),
            &|_| None,
        );
        assert!(other["hostNameSslStates"][0].get("id").is_none(), "{other}");
    }

    #[test]
    fn clusters_and_virtual_machines_get_what_their_providers_create_alongside() {
        let id = format!("{RG}/Microsoft.ContainerService/managedClusters/aks1");
        let p = filled(
            "Microsoft.ContainerService/managedClusters",
            &id,
            json!({"location": "uksouth", "identity": {"type": "SystemAssigned"}}),
            json!({"dnsPrefix": "aks1"}),
            &|_| None,
        );
        assert_eq!(p["nodeResourceGroup"], "MC_rg_aks1_uksouth");
        let kubelet = &p["identityProfile"]["kubeletidentity"];
        assert_eq!(
            kubelet["resourceId"],
            "/subscriptions/s/resourcegroups/MC_rg_aks1_uksouth/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aks1-agentpool"
        );
        assert_eq!(kubelet["objectId"].as_str().unwrap().len(), 36);
        assert_ne!(kubelet["objectId"], kubelet["clientId"]);
        let vm = format!("{RG}/Microsoft.Compute/virtualMachines/vm1");
        let p = filled(
            "Microsoft.Compute/virtualMachines",
            &vm,
            json!({"location": "uksouth"}),
            json!({"storageProfile": {"osDisk": {"createOption": "FromImage"}}}),
            &|_| None,
        );
        let disk = p["storageProfile"]["osDisk"]["name"].as_str().unwrap();
        assert!(disk.starts_with("vm1_OsDisk_1_") && disk.len() == "vm1_OsDisk_1_".len() + 32);
        assert_eq!(
            p["storageProfile"]["osDisk"]["managedDisk"]["id"],
            json!(format!(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/{disk}"
            ))
        );
        assert_eq!(p["vmId"].as_str().unwrap().len(), 36);
    }

    #[test]
    fn firewalls_and_gateways_get_addresses_in_their_subnets() {
        let vnet = format!("{RG}/Microsoft.Network/virtualNetworks/hub");
        let lookup = |id: &str| {
            id.eq_ignore_ascii_case(&vnet).then(|| {
                json!({"properties": {"subnets": [
                    {"name": "AzureFirewallSubnet", "properties": {"addressPrefix": "10.0.1.0/26"}},
                    {"name": "GatewaySubnet", "properties": {"addressPrefix": "10.0.2.0/27"}}
                ]}})
            })
        };
        let fw = filled(
            "Microsoft.Network/azureFirewalls",
            &format!("{RG}/Microsoft.Network/azureFirewalls/fw"),
            json!({"location": "uksouth"}),
            json!({"ipConfigurations": [{"name": "c", "properties": {
                "subnet": {"id": format!("{vnet}/subnets/AzureFirewallSubnet")}}}]}),
            &lookup,
        );
        assert_eq!(
            fw["ipConfigurations"][0]["properties"]["privateIPAddress"],
            "10.0.1.4"
        );
        let gw = filled(
            "Microsoft.Network/virtualNetworkGateways",
            &format!("{RG}/Microsoft.Network/virtualNetworkGateways/gw"),
            json!({"location": "uksouth"}),
            json!({"enableBgp": true, "ipConfigurations": [{"name": "c", "properties": {
                "subnet": {"id": format!("{vnet}/subnets/GatewaySubnet")}}}]}),
            &lookup,
        );
        assert_eq!(
            gw["bgpSettings"],
            json!({"asn": 65515, "peerWeight": 0, "bgpPeeringAddress": "10.0.2.4"})
        );
        // A static address the template gives is kept.
        let lb = filled(
            "Microsoft.Network/loadBalancers",
            &format!("{RG}/Microsoft.Network/loadBalancers/ilb"),
            json!({"location": "uksouth"}),
            json!({"frontendIPConfigurations": [{"name": "fe", "properties": {
                "privateIPAddress": "10.0.1.10",
                "subnet": {"id": format!("{vnet}/subnets/AzureFirewallSubnet")}}}]}),
            &lookup,
        );
        assert_eq!(
            lb["frontendIPConfigurations"][0]["properties"]["privateIPAddress"],
            "10.0.1.10"
        );
    }

    #[test]
    fn private_endpoints_get_an_address_inside_their_subnet() {
        let vnet = format!("{RG}/Microsoft.Network/virtualNetworks/v");
        let stored = json!({"properties": {"subnets": [{"name": "pe", "properties": {"addressPrefix": "10.1.2.0/24"}}]}});
        let lookup = |id: &str| (id == vnet).then(|| stored.clone());
        let p = filled(
            "Microsoft.Network/privateEndpoints",
            &format!("{RG}/Microsoft.Network/privateEndpoints/pe1"),
            json!({}),
            json!({"subnet": {"id": format!("{vnet}/subnets/pe")}}),
            &lookup,
        );
        let ip: Ipv4Addr = p["customDnsConfigs"][0]["ipAddresses"][0]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let net: ipnet::Ipv4Net = "10.1.2.0/24".parse().unwrap();
        assert!(net.contains(&ip) && ip.octets()[3] >= 4, "{ip}");
        assert!(p["networkInterfaces"][0]["id"]
            .as_str()
            .unwrap()
            .contains("/networkInterfaces/pe1.nic."));
    }

    #[test]
    fn list_actions_answer_deterministic_keys_and_connection_strings() {
        let eh = format!("{RG}/Microsoft.EventHub/namespaces/ns1/authorizationRules/send");
        let a = list_action(
            "Microsoft.EventHub/namespaces/authorizationRules",
            &eh,
            "listKeys",
            "2021-11-01",
        )
        .unwrap();
        assert_eq!(
            a,
            list_action(
                "Microsoft.EventHub/namespaces/authorizationRules",
                &eh,
                "listKeys",
                "2021-11-01"
            )
            .unwrap()
        );
        let cs = a["primaryConnectionString"].as_str().unwrap();
        assert!(cs.starts_with("Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey="), "{cs}");
        let swa = list_action(
            "Microsoft.Web/staticSites",
            &format!("{RG}/Microsoft.Web/staticSites/swa1"),
            "listSecrets",
            "2022-03-01",
        )
        .unwrap();
        assert_eq!(swa["properties"]["apiKey"].as_str().unwrap().len(), 48);
        // The rule's name keeps its case, as Azure spells the default rule.
        let root = list_action(
            "Microsoft.ServiceBus/namespaces/authorizationRules",
            &format!("{RG}/Microsoft.ServiceBus/namespaces/sb1/authorizationRules/RootManageSharedAccessKey"),
            "listKeys",
            "2021-11-01",
        )
        .unwrap();
        assert_eq!(root["keyName"], "RootManageSharedAccessKey");
        assert!(root["primaryConnectionString"]
            .as_str()
            .unwrap()
            .contains(";SharedAccessKeyName=RootManageSharedAccessKey;"));
        let cosmos = list_action(
            "Microsoft.DocumentDB/databaseAccounts",
            &format!("{RG}/Microsoft.DocumentDB/databaseAccounts/c1"),
            "listKeys",
            "2024-05-15",
        )
        .unwrap();
        assert_eq!(cosmos["primaryMasterKey"].as_str().unwrap().len(), 88);
        let creds = list_action(
            "Microsoft.Web/sites/config",
            &format!("{RG}/Microsoft.Web/sites/app/config/publishingcredentials"),
            "list",
            "2022-03-01",
        )
        .unwrap();
        assert_eq!(creds["properties"]["publishingUserName"], "$app");
        assert!(list_action(
            "Microsoft.Network/virtualNetworks",
            "x",
            "listKeys",
            "2024-01-01"
        )
        .is_none());
        let st = format!("{RG}/Microsoft.Storage/storageAccounts/st1");
        let old = list_action(
            "Microsoft.Storage/storageAccounts",
            &st,
            "listKeys",
            "2015-06-15",
        )
        .unwrap();
        let new = list_action(
            "Microsoft.Storage/storageAccounts",
            &st,
            "listKeys",
            "2023-05-01",
        )
        .unwrap();
        assert_eq!(old["key1"], new["keys"][0]["value"]);
    }

    #[test]
    fn default_services_exist_with_their_account() {
        assert!(is_implicit(
            "microsoft.storage/storageAccounts/blobServices",
            "st1/default"
        ));
        assert!(!is_implicit(
            "Microsoft.Storage/storageAccounts/blobServices",
            "st1/other"
        ));
        assert!(!is_implicit(
            "Microsoft.Network/virtualNetworks/subnets",
            "v/default"
        ));
    }

    #[test]
    fn read_only_paths_come_from_the_specifications() {
        assert!(is_read_only(
            "Microsoft.Storage/storageAccounts",
            "properties.primaryEndpoints.blob"
        ));
        assert!(!is_read_only(
            "Microsoft.Storage/storageAccounts",
            "properties.minimumTlsVersion"
        ));
        assert!(read_only_paths("microsoft.web/SITES")
            .iter()
            .any(|(p, _)| p == "properties.defaultHostName"));
    }
}
