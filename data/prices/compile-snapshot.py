# Compiles retail-prices-gbp.json, the price snapshot trustprint embeds (run from this folder:
# python3 compile-snapshot.py). It was made on a machine with no internet access, so the figures are NOT
# fetched from the Retail Prices API: they are pay-as-you-go list prices compiled by hand (Azure's published
# US dollar rates for these meters, converted at 0.79 GBP per USD and rounded to 4 places; UK West 4% above
# UK South for compute). They are close enough to compare designs and budgets, not to quote.
# `trustprint prices refresh` replaces the snapshot with the live API's real GBP figures.
import json

SNAPSHOT_DATE = "2026-11-01"
ORIGIN = ("compiled by hand (no internet access when the snapshot was made): Azure pay-as-you-go list prices "
          "in USD converted at 0.79 GBP/USD; replace with `trustprint prices refresh`")
REGIONS = {"uksouth": 1.0, "ukwest": 1.04}
items = []

def item(region, service, product, sku, meter, unit, price, arm_sku="", regional=True):
    items.append({
        "currencyCode": "GBP",
        "retailPrice": round(price * (REGIONS[region] if regional and region else 1.0), 4),
        "unitPrice": round(price * (REGIONS[region] if regional and region else 1.0), 4),
        "armRegionName": region,
        "location": {"uksouth": "UK South", "ukwest": "UK West", "": ""}[region],
        "effectiveStartDate": "2026-10-01T00:00:00Z",
        "meterName": meter,
        "productName": product,
        "skuName": sku,
        "serviceName": service,
        "unitOfMeasure": unit,
        "type": "Consumption",
        "armSkuName": arm_sku,
    })

# Virtual machines: (series product, size, vCPUs, Linux GBP/hour). Windows adds the licence per vCPU-hour.
WINDOWS_PER_VCPU = 0.0365
VMS = [("Dsv5", "D2s v5", 2, 0.0900), ("Dsv5", "D4s v5", 4, 0.1800), ("Dsv5", "D8s v5", 8, 0.3600),
       ("Dsv5", "D16s v5", 16, 0.7200), ("Ebdsv5", "E8bds v5", 8, 0.5740), ("Ebdsv5", "E16bds v5", 16, 1.1480),
       ("Ebdsv5", "E32bds v5", 32, 2.2960)]
for region in REGIONS:
    for series, size, vcpus, linux in VMS:
        arm = "Standard_" + size.replace(" ", "_")
        item(region, "Virtual Machines", f"Virtual Machines {series} Series", size, size, "1 Hour", linux, arm)
        item(region, "Virtual Machines", f"Virtual Machines {series} Series Windows", size, size, "1 Hour",
             linux + WINDOWS_PER_VCPU * vcpus, arm)
    # Managed disks, per disk per month.
    for tier, price in [("P4", 4.10), ("P6", 7.86), ("P10", 15.28), ("P15", 29.44), ("P20", 56.73),
                        ("P30", 104.72), ("P40", 200.93), ("P50", 383.67), ("P60", 695.33), ("P70", 1327.10),
                        ("P80", 2563.95)]:
        item(region, "Storage", "Premium SSD Managed Disks", f"{tier} LRS", f"{tier} LRS Disk", "1/Month", price)
        item(region, "Storage", "Premium SSD Managed Disks", f"{tier} ZRS", f"{tier} ZRS Disk", "1/Month", price * 1.5)
    for tier, price in [("E4", 1.90), ("E6", 3.79), ("E10", 7.44), ("E15", 14.87), ("E20", 29.75), ("E30", 59.49),
                        ("E40", 118.99), ("E50", 237.97)]:
        item(region, "Storage", "Standard SSD Managed Disks", f"{tier} LRS", f"{tier} LRS Disk", "1/Month", price)
    for tier, price in [("S4", 1.21), ("S6", 2.35), ("S10", 4.56), ("S15", 8.93), ("S20", 17.45), ("S30", 32.62),
                        ("S40", 62.05), ("S50", 118.97)]:
        item(region, "Storage", "Standard HDD Managed Disks", f"{tier} LRS", f"{tier} LRS Disk", "1/Month", price)
    # Networking.
    item(region, "Azure Firewall", "Azure Firewall", "Standard", "Standard Deployment", "1 Hour", 0.9875)
    item(region, "Azure Firewall", "Azure Firewall", "Standard", "Standard Data Processed", "1 GB", 0.0126)
    item(region, "Azure Firewall", "Azure Firewall", "Premium", "Premium Deployment", "1 Hour", 1.3825)
    item(region, "Azure Firewall", "Azure Firewall", "Premium", "Premium Data Processed", "1 GB", 0.0126)
    item(region, "Azure Firewall", "Azure Firewall", "Basic", "Basic Deployment", "1 Hour", 0.3002)
    item(region, "Azure Firewall", "Azure Firewall", "Basic", "Basic Data Processed", "1 GB", 0.0513)
    item(region, "Azure Bastion", "Azure Bastion", "Basic", "Basic Gateway", "1 Hour", 0.1501)
    item(region, "Azure Bastion", "Azure Bastion", "Standard", "Standard Gateway", "1 Hour", 0.2291)
    item(region, "Azure Bastion", "Azure Bastion", "Standard", "Standard Additional Gateway", "1 Hour", 0.1106)
    item(region, "Azure Bastion", "Azure Bastion", "Premium", "Premium Gateway", "1 Hour", 0.3002)
    for sku, usd in [("VpnGw1", 0.19), ("VpnGw2", 0.49), ("VpnGw3", 1.25), ("VpnGw1AZ", 0.361), ("VpnGw2AZ", 0.625),
                     ("VpnGw3AZ", 1.432)]:
        item(region, "VPN Gateway", "VPN Gateway", sku, sku, "1 Hour", usd * 0.79)
    for sku, usd in [("Standard", 0.19), ("HighPerformance", 0.49), ("UltraPerformance", 1.87), ("ErGw1AZ", 0.36),
                     ("ErGw2AZ", 0.62), ("ErGw3AZ", 2.05)]:
        item(region, "ExpressRoute", "ExpressRoute Gateway", sku, f"{sku} Gateway", "1 Hour", usd * 0.79)
    item(region, "Virtual Network", "IP Addresses", "Standard", "Standard IPv4 Static Public IP", "1 Hour", 0.0040)
    item(region, "Virtual Network", "Virtual Network Private Link", "Standard", "Standard Private Endpoint", "1 Hour", 0.0079)
    item(region, "Load Balancer", "Load Balancer", "Standard", "Standard Included LB Rules and Outbound Rules", "1 Hour", 0.0198)
    item(region, "Azure DNS", "Azure DNS Private Resolver", "Standard", "Inbound Endpoint", "1 Hour", 0.1948)
    item(region, "Azure DNS", "Azure DNS Private Resolver", "Standard", "Outbound Endpoint", "1 Hour", 0.1948)
    item(region, "Azure DNS", "Azure DNS Private Resolver", "Standard", "DNS Forwarding Ruleset", "1 Hour", 0.0027)
    # Key Vault.
    item(region, "Key Vault", "Key Vault", "Standard", "Operations", "10K", 0.0237)
    item(region, "Key Vault", "Key Vault", "Premium", "Operations", "10K", 0.0237)
    item(region, "Key Vault", "Key Vault", "Premium", "Premium HSM-protected RSA 2048-bit key", "1/Month", 0.7900)
    item(region, "Key Vault", "Key Vault", "Premium", "Premium HSM-protected Advanced Key", "1/Month", 3.9500)
    # Backup and Site Recovery.
    item(region, "Backup", "Backup", "Standard", "Azure VM Protected Instances", "1/Month", 7.9000)
    for red, price in [("LRS", 0.0190), ("ZRS", 0.0238), ("GRS", 0.0380)]:
        item(region, "Backup", "Backup", "Standard", f"{red} Data Stored", "1 GB/Month", price)
    item(region, "Azure Site Recovery", "Azure Site Recovery", "Azure", "VM Replicated to Azure", "1/Month", 19.7500)
    # Monitoring.
    item(region, "Log Analytics", "Log Analytics", "Analytics Logs", "Analytics Logs Data Ingestion", "1 GB", 2.6090)
    item(region, "Log Analytics", "Log Analytics", "Analytics Logs", "Analytics Logs Data Retention", "1 GB/Month", 0.1000)
    item(region, "Sentinel", "Sentinel", "Pay-as-you-go", "Pay-as-you-go Analysis", "1 GB", 3.8000)
    item(region, "Microsoft Defender for Cloud", "Microsoft Defender for Servers", "Standard P2", "Standard P2 Node", "1 Hour", 0.0162)
    # Storage accounts (block blob, hot tier).
    for red, price in [("LRS", 0.0160), ("ZRS", 0.0200), ("GRS", 0.0320), ("RA-GRS", 0.0400), ("GZRS", 0.0360),
                       ("RA-GZRS", 0.0450)]:
        item(region, "Storage", "General Block Blob v2", f"Hot {red}", f"Hot {red} Data Stored", "1 GB/Month", price)
    item(region, "Azure DNS", "Azure DNS", "Private", "Private Zone", "1/Month", 0.3950, regional=False)

# SQL Server licences are not regional (armRegionName is empty in the API): per VM by its vCPU count.
for vcpus in [4, 8, 16, 32, 48, 64]:
    item("", "Virtual Machines Licenses", "SQL Server Enterprise", f"{vcpus} vCPU VM",
         f"{vcpus} vCPU VM License", "1 Hour", 0.2960 * vcpus)
    item("", "Virtual Machines Licenses", "SQL Server Standard", f"{vcpus} vCPU VM",
         f"{vcpus} vCPU VM License", "1 Hour", 0.0780 * vcpus)

sheet = {
    "snapshotDate": SNAPSHOT_DATE,
    "origin": ORIGIN,
    "BillingCurrency": "GBP",
    "CustomerEntityId": "Default",
    "CustomerEntityType": "Retail",
    "Items": items,
    "NextPageLink": None,
    "Count": len(items),
}
with open("retail-prices-gbp.json", "w") as f:
    json.dump(sheet, f, indent=1)
    f.write("\n")
print(len(items), "items")
