//! The meters of each resource type: which sheet items a resource is charged on, and how many of each.
//!
//! A resource type is either priced here, known to have no charge of its own ([`NO_CHARGE`]), or listed as
//! unpriced with the reason. A property the pricing needs that is still an ARM expression (only known at
//! deployment) makes that meter unpriced rather than guessed.

use super::prices::{PriceSheet, Query};
use super::{pennies, trim_number, Assumptions, Line, Unpriced};
use crate::model::Resource;
use serde_json::Value;
use std::collections::HashMap;

/// Resource types with no charge of their own: what they cost is billed on another resource (diagnostic
/// settings on the workspace, keys' operations on the vault, session hosts as VMs) or not at all.
const NO_CHARGE: &[&str] = &[
    "microsoft.authorization/policyassignments",
    "microsoft.authorization/roleassignments",
    "microsoft.compute/availabilitysets",
    "microsoft.compute/diskencryptionsets",
    "microsoft.compute/virtualmachines/extensions",
    "microsoft.consumption/budgets",
    "microsoft.desktopvirtualization/applicationgroups",
    "microsoft.desktopvirtualization/hostpools",
    "microsoft.desktopvirtualization/workspaces",
    "microsoft.insights/actiongroups",
    "microsoft.insights/activitylogalerts",
    "microsoft.insights/datacollectionruleassociations",
    "microsoft.insights/datacollectionrules",
    "microsoft.insights/diagnosticsettings",
    "microsoft.maintenance/configurationassignments",
    "microsoft.maintenance/maintenanceconfigurations",
    "microsoft.managedidentity/userassignedidentities",
    "microsoft.managedservices/registrationassignments",
    "microsoft.managedservices/registrationdefinitions",
    "microsoft.network/dnsforwardingrulesets/forwardingrules",
    "microsoft.network/dnsforwardingrulesets/virtualnetworklinks",
    "microsoft.network/dnsresolvers",
    "microsoft.network/firewallpolicies",
    "microsoft.network/firewallpolicies/rulecollectiongroups",
    "microsoft.network/networkinterfaces",
    "microsoft.network/networksecuritygroups",
    "microsoft.network/networkwatchers",
    "microsoft.network/privatednszones/virtualnetworklinks",
    "microsoft.network/privateendpoints/privatednszonegroups",
    "microsoft.network/routetables",
    "microsoft.network/virtualnetworks",
    "microsoft.network/virtualnetworks/subnets",
    "microsoft.network/virtualnetworks/virtualnetworkpeerings",
    "microsoft.recoveryservices/vaults",
    "microsoft.recoveryservices/vaults/backuppolicies",
    "microsoft.recoveryservices/vaults/replicationfabrics",
    "microsoft.recoveryservices/vaults/replicationfabrics/replicationnetworks/replicationnetworkmappings",
    "microsoft.recoveryservices/vaults/replicationfabrics/replicationprotectioncontainers",
    "microsoft.recoveryservices/vaults/replicationfabrics/replicationprotectioncontainers/replicationprotectioncontainermappings",
    "microsoft.recoveryservices/vaults/replicationpolicies",
    "microsoft.resources/deployments",
    "microsoft.resources/resourcegroups",
    "microsoft.sqlvirtualmachine/sqlvirtualmachinegroups",
    "microsoft.sqlvirtualmachine/sqlvirtualmachinegroups/availabilitygrouplisteners",
    "microsoft.storage/storageaccounts/blobservices",
    "microsoft.storage/storageaccounts/blobservices/containers",
    "microsoft.storage/storageaccounts/blobservices/containers/immutabilitypolicies",
];

/// Premium, Standard SSD and Standard HDD disk tiers: the tier number and its size in GiB. A disk is billed
/// as the smallest tier at least its size.
const DISK_TIERS: [(u32, f64); 11] = [
    (4, 32.0),
    (6, 64.0),
    (10, 128.0),
    (15, 256.0),
    (20, 512.0),
    (30, 1024.0),
    (40, 2048.0),
    (50, 4096.0),
    (60, 8192.0),
    (70, 16384.0),
    (80, 32767.0),
];

pub(super) struct Out {
    pub lines: Vec<Line>,
    pub unpriced: Vec<Unpriced>,
    pub no_charge: usize,
}

struct Ctx<'a> {
    sheet: &'a PriceSheet,
    a: &'a Assumptions,
    primary_region: &'a str,
    by_id: HashMap<String, &'a Resource>,
    out: Out,
}

/// A meter to charge: the sheet query, how many base units a month, and what that rests on.
struct Charge<'q> {
    query: Query<'q>,
    quantity: f64,
    basis: String,
}

impl<'a> Ctx<'a> {
    fn unpriced(&mut self, r: &Resource, reason: impl Into<String>) {
        self.out.unpriced.push(Unpriced {
            resource_id: r.id.clone(),
            resource_type: r.resource_type.clone(),
            reason: reason.into(),
        });
    }

    fn charge(&mut self, r: &Resource, region: &str, c: Charge<'_>) {
        let Some(item) = self.sheet.find(region, &c.query) else {
            self.unpriced(r, format!("no meter for {} in {region}", c.query));
            return;
        };
        let quantity = c.quantity / item.unit_size();
        self.out.lines.push(Line {
            resource_id: r.id.clone(),
            resource_type: r.resource_type.clone(),
            deployment: r.deployment.clone(),
            region: region.to_string(),
            service_name: item.service_name.clone(),
            product_name: item.product_name.clone(),
            sku_name: item.sku_name.clone(),
            meter_name: item.meter_name.clone(),
            unit_of_measure: item.unit_of_measure.clone(),
            quantity,
            unit_price: item.retail_price,
            monthly_gbp: pennies(quantity * item.retail_price),
            basis: c.basis,
        });
    }

    fn hours(&self) -> (f64, String) {
        let h = self.a.hours_per_month;
        (h, format!("{} hours", trim_number(h)))
    }

    /// The resource's region; for child resources without one, the parent's; else the trust's primary region.
    fn region(&self, r: &Resource) -> String {
        let mut id = r.id.as_str();
        let mut location = r.location.as_deref();
        while location.is_none() {
            match parent_id(id) {
                Some(p) => {
                    id = p;
                    location = self
                        .by_id
                        .get(&p.to_ascii_lowercase())
                        .and_then(|p| p.location.as_deref());
                }
                None => break,
            }
        }
        match location.map(|l| l.to_ascii_lowercase().replace(' ', "")) {
            Some(l) if l != "global" => l,
            _ => self.primary_region.to_string(),
        }
    }

    fn get(&self, id: &str) -> Option<&'a Resource> {
        self.by_id.get(&id.to_ascii_lowercase()).copied()
    }
}

/// The id of the resource a child resource belongs to (`.../vaults/v/keys/k` → `.../vaults/v`); None at the
/// top (a provider's first type, a resource group, a subscription).
fn parent_id(id: &str) -> Option<&str> {
    let providers = id.rfind("/providers/")?;
    let after = &id[providers + "/providers/".len()..];
    // namespace/type/name is the top resource; each further type/name pair is a child.
    if after.split('/').count() <= 3 {
        return None;
    }
    let cut = id.rfind('/')?;
    let cut = id[..cut].rfind('/')?;
    Some(&id[..cut])
}

/// A string property, or None when absent or still an ARM expression.
fn text<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.starts_with('['))
}

/// `Standard_E16bds_v5` → (`Ebdsv5`, 16): the product series the Retail Prices API names VMs by, and the
/// vCPU count SQL Server licences are sold by.
fn vm_series(size: &str) -> Option<(String, u32)> {
    let rest = size.strip_prefix("Standard_")?;
    let (head, version) = match rest.split_once('_') {
        Some((h, v)) => (h, v),
        None => (rest, ""),
    };
    let family: String = head.chars().take_while(char::is_ascii_uppercase).collect();
    let digits: String = head[family.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let vcpus: u32 = digits.parse().ok()?;
    let suffix = &head[family.len() + digits.len()..];
    // Constrained-core sizes (`E16-8bds_v5`) bill as their full size; the licence goes by the active cores.
    let (suffix, vcpus) = match suffix.strip_prefix('-') {
        Some(s) => {
            let active: String = s.chars().take_while(char::is_ascii_digit).collect();
            (&s[active.len()..], active.parse().unwrap_or(vcpus))
        }
        None => (suffix, vcpus),
    };
    Some((format!("{family}{suffix}{version}"), vcpus))
}

/// Whether a VM pays for a Windows Server licence: a Windows image or OS, and not Azure Hybrid Benefit.
fn windows_licence(body: &Value) -> (bool, &'static str) {
    let props = &body["properties"];
    let publisher = text(props, "/storageProfile/imageReference/publisher").unwrap_or("");
    let offer = text(props, "/storageProfile/imageReference/offer").unwrap_or("");
    let windows = publisher.starts_with("MicrosoftWindows")
        || (publisher == "MicrosoftSQLServer" && offer.contains("-ws"))
        || props.pointer("/osProfile/windowsConfiguration").is_some()
        || text(props, "/storageProfile/osDisk/osType") == Some("Windows");
    match (windows, text(props, "/licenseType")) {
        (true, Some("Windows_Server" | "Windows_Client")) => (
            false,
            "Windows under Azure Hybrid Benefit: no licence charge",
        ),
        (true, _) => (true, "Windows Server licence included"),
        (false, _) => (false, "no OS licence"),
    }
}

/// Every disk of a VM: (name, storage account type, size GiB).
fn vm_disks(body: &Value, a: &Assumptions) -> Vec<(String, String, Option<f64>)> {
    let storage = &body["properties"]["storageProfile"];
    let mut disks = Vec::new();
    let disk = |d: &Value, default_size: Option<f64>| {
        (
            text(d, "/name").unwrap_or("disk").to_string(),
            text(d, "/managedDisk/storageAccountType")
                .unwrap_or("Premium_LRS")
                .to_string(),
            match d.get("diskSizeGB") {
                None => default_size,
                Some(v) => v.as_f64(),
            },
        )
    };
    if let Some(os) = storage.get("osDisk") {
        disks.push(disk(os, Some(a.os_disk_gb)));
    }
    if let Some(data) = storage.get("dataDisks").and_then(Value::as_array) {
        disks.extend(data.iter().map(|d| disk(d, None)));
    }
    disks
}

pub(super) fn run(
    resources: &[Resource],
    sheet: &PriceSheet,
    a: &Assumptions,
    primary_region: &str,
) -> Out {
    let mut ctx = Ctx {
        sheet,
        a,
        primary_region,
        by_id: resources
            .iter()
            .map(|r| (r.id.to_ascii_lowercase(), r))
            .collect(),
        out: Out {
            lines: Vec::new(),
            unpriced: Vec::new(),
            no_charge: 0,
        },
    };
    let vm_count = resources
        .iter()
        .filter(|r| {
            r.resource_type
                .eq_ignore_ascii_case("Microsoft.Compute/virtualMachines")
        })
        .count();
    for r in resources {
        let t = r.resource_type.to_ascii_lowercase();
        if NO_CHARGE.contains(&t.as_str()) {
            ctx.out.no_charge += 1;
            continue;
        }
        let region = ctx.region(r);
        match t.as_str() {
            "microsoft.compute/virtualmachines" => virtual_machine(&mut ctx, r, &region),
            "microsoft.sqlvirtualmachine/sqlvirtualmachines" => sql_licence(&mut ctx, r),
            "microsoft.network/azurefirewalls" => firewall(&mut ctx, r, &region),
            "microsoft.network/bastionhosts" => bastion(&mut ctx, r, &region),
            "microsoft.network/virtualnetworkgateways" => gateway(&mut ctx, r, &region),
            "microsoft.network/publicipaddresses" => {
                match text(&r.body, "/sku/name").unwrap_or("Basic") {
                    "Standard" => {
                        let (quantity, basis) = ctx.hours();
                        ctx.charge(r, &region, Charge {
                            query: Query {
                                service: "Virtual Network",
                                product: Some("IP Addresses"),
                                meter: Some("Standard IPv4 Static Public IP"),
                                ..Query::default()
                            },
                            quantity,
                            basis,
                        });
                    }
                    other => ctx.unpriced(r, format!("no meter for a {other} SKU public IP address")),
                }
            }
            "microsoft.network/privateendpoints" => {
                let (quantity, basis) = ctx.hours();
                ctx.charge(r, &region, Charge {
                    query: Query {
                        service: "Virtual Network",
                        product: Some("Virtual Network Private Link"),
                        meter: Some("Standard Private Endpoint"),
                        ..Query::default()
                    },
                    quantity,
                    basis: format!("{basis}; data processed not estimated"),
                });
            }
            "microsoft.network/loadbalancers" => match text(&r.body, "/sku/name") {
                Some("Standard") => {
                    let (quantity, basis) = ctx.hours();
                    ctx.charge(r, &region, Charge {
                        query: Query {
                            service: "Load Balancer",
                            meter: Some("Standard Included LB Rules and Outbound Rules"),
                            ..Query::default()
                        },
                        quantity,
                        basis: format!("{basis}, first five rules"),
                    });
                }
                // Basic load balancers are free (and retired); Gateway ones have their own meters.
                Some("Basic") | None => ctx.out.no_charge += 1,
                Some(other) => ctx.unpriced(r, format!("no meter for a {other} load balancer")),
            },
            "microsoft.network/dnsresolvers/inboundendpoints"
            | "microsoft.network/dnsresolvers/outboundendpoints"
            | "microsoft.network/dnsforwardingrulesets" => {
                let meter = match t.rsplit('/').next() {
                    Some("inboundendpoints") => "Inbound Endpoint",
                    Some("outboundendpoints") => "Outbound Endpoint",
                    _ => "DNS Forwarding Ruleset",
                };
                let (quantity, basis) = ctx.hours();
                ctx.charge(r, &region, Charge {
                    query: Query {
                        service: "Azure DNS",
                        product: Some("Azure DNS Private Resolver"),
                        meter: Some(meter),
                        ..Query::default()
                    },
                    quantity,
                    basis,
                });
            }
            "microsoft.network/privatednszones" => ctx.charge(r, &region, Charge {
                query: Query {
                    service: "Azure DNS",
                    meter: Some("Private Zone"),
                    ..Query::default()
                },
                quantity: 1.0,
                basis: "1 zone; queries not estimated".into(),
            }),
            "microsoft.keyvault/vaults" => key_vault(&mut ctx, r, &region),
            "microsoft.keyvault/vaults/keys" => key(&mut ctx, r, &region),
            "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems" => {
                backup(&mut ctx, r, &region)
            }
            "microsoft.recoveryservices/vaults/replicationfabrics/replicationprotectioncontainers/replicationprotecteditems" => {
                ctx.charge(r, &region, Charge {
                    query: Query {
                        service: "Azure Site Recovery",
                        meter: Some("VM Replicated to Azure"),
                        ..Query::default()
                    },
                    quantity: 1.0,
                    basis: "1 protected VM; replica disks and cache storage not estimated".into(),
                })
            }
            "microsoft.operationalinsights/workspaces" => workspace(&mut ctx, r, &region),
            "microsoft.securityinsights/onboardingstates" => {
                let gb = ctx.a.log_gb_per_day * ctx.a.hours_per_month / 24.0;
                ctx.charge(r, &region, Charge {
                    query: Query {
                        service: "Sentinel",
                        meter: Some("Pay-as-you-go Analysis"),
                        ..Query::default()
                    },
                    quantity: gb,
                    basis: format!(
                        "{} GB/day assumed, every GB in the workspace analysed",
                        trim_number(ctx.a.log_gb_per_day)
                    ),
                })
            }
            "microsoft.storage/storageaccounts" => storage_account(&mut ctx, r, &region),
            "microsoft.security/pricings" => defender(&mut ctx, r, &region, vm_count),
            _ => ctx.unpriced(
                r,
                format!("no meter for resource type {}", r.resource_type),
            ),
        }
    }
    ctx.out
}

fn virtual_machine(ctx: &mut Ctx<'_>, r: &Resource, region: &str) {
    let Some(size) = text(&r.body, "/properties/hardwareProfile/vmSize") else {
        ctx.unpriced(
            r,
            "no meter for a VM whose size is not known before deployment",
        );
        return;
    };
    match vm_series(size) {
        None => ctx.unpriced(
            r,
            format!("no meter for VM size {size} (not a Standard_ size)"),
        ),
        Some((series, _)) => {
            let (windows, note) = windows_licence(&r.body);
            let product = format!(
                "Virtual Machines {series} Series{}",
                if windows { " Windows" } else { "" }
            );
            let (quantity, basis) = ctx.hours();
            ctx.charge(
                r,
                region,
                Charge {
                    query: Query {
                        service: "Virtual Machines",
                        product: Some(&product),
                        arm_sku: Some(size),
                        ..Query::default()
                    },
                    quantity,
                    basis: format!("{basis}; {note}"),
                },
            );
        }
    }
    for (name, kind, size) in vm_disks(&r.body, ctx.a) {
        disk(ctx, r, region, &name, &kind, size);
    }
}

fn disk(ctx: &mut Ctx<'_>, r: &Resource, region: &str, name: &str, kind: &str, size: Option<f64>) {
    let Some(size) = size else {
        ctx.unpriced(
            r,
            format!("no meter for disk {name}: its size is not known before deployment"),
        );
        return;
    };
    let (letter, product) = match kind.split('_').next() {
        Some("Premium") => ('P', "Premium SSD Managed Disks"),
        Some("StandardSSD") => ('E', "Standard SSD Managed Disks"),
        Some("Standard") => ('S', "Standard HDD Managed Disks"),
        _ => {
            ctx.unpriced(r, format!("no meter for disk {name} of type {kind}"));
            return;
        }
    };
    let redundancy = kind.rsplit('_').next().unwrap_or("LRS");
    let Some((tier, tier_gb)) = DISK_TIERS.iter().find(|(_, gb)| *gb >= size) else {
        ctx.unpriced(
            r,
            format!("no meter for disk {name} of {size} GiB (larger than any tier)"),
        );
        return;
    };
    let sku = format!("{letter}{tier} {redundancy}");
    let meter = format!("{sku} Disk");
    ctx.charge(
        r,
        region,
        Charge {
            query: Query {
                service: "Storage",
                product: Some(product),
                sku: Some(&sku),
                meter: Some(&meter),
                ..Query::default()
            },
            quantity: 1.0,
            basis: format!(
                "disk {name}, {} GiB billed as {} GiB",
                trim_number(size),
                trim_number(*tier_gb)
            ),
        },
    );
}

fn sql_licence(ctx: &mut Ctx<'_>, r: &Resource) {
    let props = &r.body["properties"];
    let licence = text(props, "/sqlServerLicenseType").unwrap_or("PAYG");
    if licence != "PAYG" {
        // AHUB (Azure Hybrid Benefit) or DR (free passive replica): the trust's own licences.
        ctx.out.no_charge += 1;
        return;
    }
    let edition = text(props, "/sqlImageSku").unwrap_or("Enterprise");
    if matches!(edition, "Developer" | "Express") {
        ctx.out.no_charge += 1;
        return;
    }
    let vm = text(props, "/virtualMachineResourceId").and_then(|id| ctx.get(id));
    let Some(vm) = vm else {
        ctx.unpriced(
            r,
            "no meter for the SQL Server licence: its virtual machine is not in the estate",
        );
        return;
    };
    let Some((_, vcpus)) = text(&vm.body, "/properties/hardwareProfile/vmSize").and_then(vm_series)
    else {
        ctx.unpriced(
            r,
            "no meter for the SQL Server licence: the VM's size is not known",
        );
        return;
    };
    // Licences are sold for at least 4 cores.
    let cores = vcpus.max(4);
    let sku = format!("{cores} vCPU VM");
    let product = format!("SQL Server {edition}");
    let region = ctx.region(vm);
    let (quantity, basis) = ctx.hours();
    ctx.charge(
        r,
        &region,
        Charge {
            query: Query {
                service: "Virtual Machines Licenses",
                product: Some(&product),
                sku: Some(&sku),
                ..Query::default()
            },
            quantity,
            basis: format!("{basis}; pay-as-you-go licence for {cores} vCPUs"),
        },
    );
}

fn firewall(ctx: &mut Ctx<'_>, r: &Resource, region: &str) {
    let Some(tier) = text(&r.body, "/properties/sku/tier") else {
        ctx.unpriced(
            r,
            "no meter for a firewall whose tier is not known before deployment",
        );
        return;
    };
    let deployment = format!("{tier} Deployment");
    let processed = format!("{tier} Data Processed");
    let (quantity, basis) = ctx.hours();
    ctx.charge(
        r,
        region,
        Charge {
            query: Query {
                service: "Azure Firewall",
                sku: Some(tier),
                meter: Some(&deployment),
                ..Query::default()
            },
            quantity,
            basis,
        },
    );
    let gb = ctx.a.firewall_gb_per_month;
    ctx.charge(
        r,
        region,
        Charge {
            query: Query {
                service: "Azure Firewall",
                sku: Some(tier),
                meter: Some(&processed),
                ..Query::default()
            },
            quantity: gb,
            basis: format!("{} GB/month assumed", trim_number(gb)),
        },
    );
}

fn bastion(ctx: &mut Ctx<'_>, r: &Resource, region: &str) {
    let sku = text(&r.body, "/sku/name").unwrap_or("Standard");
    if sku == "Developer" {
        ctx.out.no_charge += 1;
        return;
    }
    let meter = format!("{sku} Gateway");
    let (hours, basis) = ctx.hours();
    ctx.charge(
        r,
        region,
        Charge {
            query: Query {
                service: "Azure Bastion",
                sku: Some(sku),
                meter: Some(&meter),
                ..Query::default()
            },
            quantity: hours,
            basis: format!("{basis}, 2 instances included"),
        },
    );
    let units = r.body["properties"]["scaleUnits"].as_f64().unwrap_or(2.0);
    if units > 2.0 {
        ctx.charge(
            r,
            region,
            Charge {
                query: Query {
                    service: "Azure Bastion",
                    meter: Some("Standard Additional Gateway"),
                    ..Query::default()
                },
                quantity: (units - 2.0) * hours,
                basis: format!("{} extra scale units × {basis}", trim_number(units - 2.0)),
            },
        );
    }
}

fn gateway(ctx: &mut Ctx<'_>, r: &Resource, region: &str) {
    let props = &r.body["properties"];
    let Some(sku) = text(props, "/sku/name") else {
        ctx.unpriced(
            r,
            "no meter for a gateway whose SKU is not known before deployment",
        );
        return;
    };
    let (quantity, basis) = ctx.hours();
    match text(props, "/gatewayType").unwrap_or("Vpn") {
        "ExpressRoute" => {
            let meter = format!("{sku} Gateway");
            ctx.charge(
                r,
                region,
                Charge {
                    query: Query {
                        service: "ExpressRoute",
                        product: Some("ExpressRoute Gateway"),
                        sku: Some(sku),
                        meter: Some(&meter),
                        ..Query::default()
                    },
                    quantity,
                    basis: format!("{basis}; the circuit is billed by the HSCN provider"),
                },
            );
        }
        _ => ctx.charge(
            r,
            region,
            Charge {
                query: Query {
                    service: "VPN Gateway",
                    sku: Some(sku),
                    meter: Some(sku),
                    ..Query::default()
                },
                quantity,
                basis: format!("{basis}; egress not estimated"),
            },
        ),
    }
}

fn key_vault(ctx: &mut Ctx<'_>, r: &Resource, region: &str) {
    let sku = match text(&r.body, "/properties/sku/name") {
        Some(s) if s.eq_ignore_ascii_case("premium") => "Premium",
        _ => "Standard",
    };
    let ops = ctx.a.keyvault_operations_per_month;
    ctx.charge(
        r,
        region,
        Charge {
            query: Query {
                service: "Key Vault",
                sku: Some(sku),
                meter: Some("Operations"),
                ..Query::default()
            },
            quantity: ops,
            basis: format!("{} operations/month assumed", trim_number(ops)),
        },
    );
}

fn key(ctx: &mut Ctx<'_>, r: &Resource, region: &str) {
    let props = &r.body["properties"];
    let kty = text(props, "/kty").unwrap_or("RSA");
    if !kty.ends_with("-HSM") {
        // Software keys cost only their operations, counted on the vault.
        ctx.out.no_charge += 1;
        return;
    }
    let size = props["keySize"].as_u64().unwrap_or(2048);
    let meter = if kty == "RSA-HSM" && size <= 2048 {
        "Premium HSM-protected RSA 2048-bit key"
    } else {
        "Premium HSM-protected Advanced Key"
    };
    ctx.charge(
        r,
        region,
        Charge {
            query: Query {
                service: "Key Vault",
                meter: Some(meter),
                ..Query::default()
            },
            quantity: 1.0,
            basis: format!("1 {kty} {size}-bit key; its operations are on the vault"),
        },
    );
}

fn backup(ctx: &mut Ctx<'_>, r: &Resource, region: &str) {
    let props = &r.body["properties"];
    let source = text(props, "/sourceResourceId").and_then(|id| ctx.get(id));
    let Some(vm) = source.filter(|v| {
        v.resource_type
            .eq_ignore_ascii_case("Microsoft.Compute/virtualMachines")
    }) else {
        ctx.unpriced(
            r,
            "no meter for a protected item whose source VM is not in the estate",
        );
        return;
    };
    let disks = vm_disks(&vm.body, ctx.a);
    if disks.iter().any(|(_, _, s)| s.is_none()) {
        ctx.unpriced(
            r,
            "no meter for a protected VM whose disk sizes are not known before deployment",
        );
        return;
    }
    let gb: f64 = disks.iter().filter_map(|(_, _, s)| *s).sum();
    // Azure bills a protected VM per started 500 GB; up to 50 GB counts as half an instance.
    let instances = if gb <= 50.0 { 0.5 } else { (gb / 500.0).ceil() };
    ctx.charge(
        r,
        region,
        Charge {
            query: Query {
                service: "Backup",
                meter: Some("Azure VM Protected Instances"),
                ..Query::default()
            },
            quantity: instances,
            basis: format!(
                "{} GB protected, billed per started 500 GB",
                trim_number(gb)
            ),
        },
    );
    let vault_id =
        r.id.find("/backupFabrics/")
            .map(|i| &r.id[..i])
            .unwrap_or(&r.id);
    let redundancy = ctx
        .get(vault_id)
        .and_then(|v| {
            text(
                &v.body,
                "/properties/redundancySettings/standardTierStorageRedundancy",
            )
        })
        .unwrap_or("GeoRedundant");
    let red = match redundancy {
        "LocallyRedundant" => "LRS",
        "ZoneRedundant" => "ZRS",
        _ => "GRS",
    };
    let meter = format!("{red} Data Stored");
    let stored = gb * ctx.a.backup_storage_ratio;
    ctx.charge(
        r,
        region,
        Charge {
            query: Query {
                service: "Backup",
                meter: Some(&meter),
                ..Query::default()
            },
            quantity: stored,
            basis: format!(
                "{} GB protected × {} assumed",
                trim_number(gb),
                trim_number(ctx.a.backup_storage_ratio)
            ),
        },
    );
}

fn workspace(ctx: &mut Ctx<'_>, r: &Resource, region: &str) {
    let props = &r.body["properties"];
    match text(props, "/sku/name").unwrap_or("PerGB2018") {
        "PerGB2018" => {}
        other => {
            ctx.unpriced(
                r,
                format!("no meter for a {other} workspace (commitment tiers are not estimated)"),
            );
            return;
        }
    }
    let per_day = ctx.a.log_gb_per_day;
    let days = ctx.a.hours_per_month / 24.0;
    ctx.charge(
        r,
        region,
        Charge {
            query: Query {
                service: "Log Analytics",
                meter: Some("Analytics Logs Data Ingestion"),
                ..Query::default()
            },
            quantity: per_day * days,
            basis: format!(
                "{} GB/day assumed × {} days",
                trim_number(per_day),
                trim_number(days)
            ),
        },
    );
    let retention = props["retentionInDays"].as_f64().unwrap_or(30.0);
    // The first 31 days are included; in a steady state the workspace holds a day's logs for each day kept.
    if retention > 31.0 {
        ctx.charge(
            r,
            region,
            Charge {
                query: Query {
                    service: "Log Analytics",
                    meter: Some("Analytics Logs Data Retention"),
                    ..Query::default()
                },
                quantity: per_day * (retention - 31.0),
                basis: format!(
                    "{} GB/day × {} days kept beyond the 31 included",
                    trim_number(per_day),
                    trim_number(retention - 31.0)
                ),
            },
        );
    }
}

fn storage_account(ctx: &mut Ctx<'_>, r: &Resource, region: &str) {
    let Some(sku) = text(&r.body, "/sku/name") else {
        ctx.unpriced(
            r,
            "no meter for a storage account whose SKU is not known before deployment",
        );
        return;
    };
    let Some(red) = sku.strip_prefix("Standard_") else {
        ctx.unpriced(
            r,
            format!("no meter for a {sku} storage account (premium storage is not estimated)"),
        );
        return;
    };
    let red = match red {
        "RAGRS" => "RA-GRS",
        "RAGZRS" => "RA-GZRS",
        other => other,
    };
    let tier = match text(&r.body, "/properties/accessTier") {
        Some("Cool") => "Cool",
        _ => "Hot",
    };
    let sku_name = format!("{tier} {red}");
    let meter = format!("{sku_name} Data Stored");
    let gb = ctx.a.storage_gb_per_account;
    ctx.charge(
        r,
        region,
        Charge {
            query: Query {
                service: "Storage",
                product: Some("General Block Blob v2"),
                sku: Some(&sku_name),
                meter: Some(&meter),
                ..Query::default()
            },
            quantity: gb,
            basis: format!("{} GB assumed; transactions not estimated", trim_number(gb)),
        },
    );
}

fn defender(ctx: &mut Ctx<'_>, r: &Resource, region: &str, vm_count: usize) {
    let props = &r.body["properties"];
    if text(props, "/pricingTier") == Some("Free") {
        ctx.out.no_charge += 1;
        return;
    }
    if r.name == "VirtualMachines" {
        let plan = text(props, "/subPlan").unwrap_or("P2");
        let sku = format!("Standard {plan}");
        let meter = format!("Standard {plan} Node");
        let hours = ctx.a.hours_per_month;
        ctx.charge(
            r,
            region,
            Charge {
                query: Query {
                    service: "Microsoft Defender for Cloud",
                    sku: Some(&sku),
                    meter: Some(&meter),
                    ..Query::default()
                },
                quantity: vm_count as f64 * hours,
                basis: format!("{vm_count} VMs × {} hours", trim_number(hours)),
            },
        );
    } else {
        ctx.unpriced(
            r,
            format!(
                "no meter for Defender for Cloud plan {}: charged per protected resource or transaction, not estimated",
                r.name
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_series_names_the_retail_product() {
        assert_eq!(vm_series("Standard_D4s_v5"), Some(("Dsv5".into(), 4)));
        assert_eq!(vm_series("Standard_E16bds_v5"), Some(("Ebdsv5".into(), 16)));
        assert_eq!(
            vm_series("Standard_E16-8bds_v5"),
            Some(("Ebdsv5".into(), 8))
        );
        assert_eq!(vm_series("Standard_B2ms"), Some(("Bms".into(), 2)));
        assert_eq!(vm_series("Basic_A1"), None);
    }

    fn resource(kind: &str, name: &str, body: Value) -> Resource {
        let segs: Vec<&str> = kind.split('/').collect();
        Resource {
            id: format!(
                "/subscriptions/s/resourceGroups/g/providers/{}/{}/{name}",
                segs[0], segs[1]
            ),
            resource_type: kind.into(),
            api_version: "2024-01-01".into(),
            name: name.into(),
            location: Some("uksouth".into()),
            tags: None,
            body,
            deployment: "epr".into(),
        }
    }

    fn vm(name: &str, licence: Option<&str>) -> Resource {
        let mut body = serde_json::json!({"properties": {
            "hardwareProfile": {"vmSize": "Standard_E8bds_v5"},
            "storageProfile": {
                "imageReference": {"publisher": "MicrosoftSQLServer", "offer": "sql2022-ws2022", "sku": "enterprise-gen2"},
                "osDisk": {"managedDisk": {"storageAccountType": "Premium_ZRS"}}
            }
        }});
        if let Some(l) = licence {
            body["properties"]["licenseType"] = l.into();
        }
        resource("Microsoft.Compute/virtualMachines", name, body)
    }

    fn sql(vm: &str, licence: &str) -> Resource {
        resource(
            "Microsoft.SqlVirtualMachine/sqlVirtualMachines",
            vm,
            serde_json::json!({"properties": {
                "virtualMachineResourceId": format!("/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/{vm}"),
                "sqlServerLicenseType": licence, "sqlImageSku": "Enterprise"
            }}),
        )
    }

    #[test]
    fn hybrid_benefit_drops_the_windows_and_sql_licences() {
        let sheet = PriceSheet::embedded().unwrap();
        let a = Assumptions::for_tier(Some("small"));
        let resources = [
            vm("payg", None),
            sql("payg", "PAYG"),
            vm("ahb", Some("Windows_Server")),
            sql("ahb", "AHUB"),
        ];
        let out = run(&resources, &sheet, &a, "uksouth");
        let lines: Vec<(&str, &str, f64)> = out
            .lines
            .iter()
            .map(|l| {
                (
                    l.resource_id.rsplit('/').next().unwrap(),
                    l.product_name.as_str(),
                    l.monthly_gbp,
                )
            })
            .collect();
        assert_eq!(
            lines,
            vec![
                // 730 h × £0.866 (Windows) and × £0.574 (compute only); the OS disk 127 GB → P10 ZRS £22.92.
                ("payg", "Virtual Machines Ebdsv5 Series Windows", 632.18),
                ("payg", "Premium SSD Managed Disks", 22.92),
                ("payg", "SQL Server Enterprise", 1728.64),
                ("ahb", "Virtual Machines Ebdsv5 Series", 419.02),
                ("ahb", "Premium SSD Managed Disks", 22.92),
            ]
        );
        assert_eq!(out.no_charge, 1, "the AHUB SQL licence");
        assert!(out.unpriced.is_empty());
    }

    #[test]
    fn parent_of_a_child_resource() {
        let key = "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v/keys/k";
        assert_eq!(
            parent_id(key),
            Some("/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v")
        );
        assert_eq!(parent_id(parent_id(key).unwrap()), None);
    }
}
