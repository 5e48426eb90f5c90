//! Address planning: each trust gets a non-overlapping IPv4 range from the fleet's pools, sized by its tier,
//! stable across runs (an allocated range, once in fleet.yaml, is kept), and every range, allocated or written
//! by hand, is checked against every other trust's and the reserved ranges.
//!
//! Allocation is first fit in pool order, trusts in ODS-code order, each range aligned to its size: the same
//! fleet.yaml always yields the same plan, and adding a trust never moves another.

use super::config::{AddressOrigin, FleetFile};
use super::FleetError;
use crate::types::Cidr;
use ipnet::Ipv4Net;

/// What [`plan`] changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Allocation {
    pub ods: String,
    pub cidr: Cidr,
}

/// One holder of a range, for overlap messages.
#[derive(Debug, Clone)]
struct Holder {
    what: String,
    net: Ipv4Net,
}

fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The prefix length for a trust's tier (its own, else the fleet defaults' `tier`, else medium).
pub fn size_for(fleet: &FleetFile, ods: &str) -> Result<u8, FleetError> {
    let entry = fleet.trusts.get(ods);
    let tier = entry
        .and_then(|t| t.tier.clone())
        .or_else(|| {
            fleet
                .defaults
                .get("tier")
                .and_then(serde_yaml::Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "medium".to_string());
    fleet
        .addressing
        .sizes
        .get(&tier)
        .copied()
        .ok_or_else(|| FleetError::Invalid {
            field: format!("trusts.{ods}.tier"),
            message: format!(
                "tier {tier:?} has no size in addressing.sizes (expected one of: {})",
                fleet
                    .addressing
                    .sizes
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// Check every recorded range, then allocate one to every trust without. Returns the new allocations; the
/// fleet file is updated in place (the caller writes it). When some trusts do not fit, the error says how
/// much space they need and proposes a pool that holds them ([`no_room`]).
pub fn plan(fleet: &mut FleetFile) -> Result<Vec<Allocation>, FleetError> {
    check(fleet)?;
    let mut taken: Vec<Holder> = holders(fleet);
    let mut new = Vec::new();
    let mut unplaced: Vec<(String, u8)> = Vec::new();
    let codes: Vec<String> = fleet
        .trusts
        .iter()
        .filter(|(_, t)| t.address_space.is_none() && t.closed.is_none())
        .map(|(ods, _)| ods.clone())
        .collect();
    for ods in codes {
        let len = size_for(fleet, &ods)?;
        let Some(net) = first_fit(&fleet.addressing.pools, len, &taken) else {
            unplaced.push((ods, len));
            continue;
        };
        let cidr = Cidr::parse(&net.to_string()).map_err(|message| FleetError::Invalid {
            field: format!("trusts.{ods}.address_space"),
            message,
        })?;
        taken.push(Holder {
            what: format!("trust {ods}"),
            net,
        });
        if let Some(t) = fleet.trusts.get_mut(&ods) {
            t.address_space = Some(cidr);
            t.address = AddressOrigin::Allocated;
        }
        new.push(Allocation { ods, cidr });
    }
    if !unplaced.is_empty() {
        return Err(no_room(fleet, &taken, &unplaced));
    }
    Ok(new)
}

/// Where [`no_room`] looks for a pool to propose, in order: the ranges `fleet init` uses first, then the
/// rest of RFC 1918 space.
const PROPOSAL_SPACE: [&str; 5] = [
    "10.64.0.0/10",
    "10.128.0.0/9",
    "172.16.0.0/12",
    "10.0.0.0/10",
    "192.168.0.0/16",
];

/// The error for trusts that do not fit the pools (`unplaced`, in allocation order, with their prefix
/// lengths; `taken` is everything placed): how many, their sizes and total, and the smallest free RFC 1918
/// block that would hold them all if added to the end of `addressing.pools`.
fn no_room(fleet: &FleetFile, taken: &[Holder], unplaced: &[(String, u8)]) -> FleetError {
    let pools = fleet
        .addressing
        .pools
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let mut by_size: std::collections::BTreeMap<u8, usize> = std::collections::BTreeMap::new();
    for (_, len) in unplaced {
        *by_size.entry(*len).or_default() += 1;
    }
    let sizes = by_size
        .iter()
        .map(|(len, n)| format!("{n} x /{len}"))
        .collect::<Vec<_>>()
        .join(" + ");
    let total: u64 = unplaced.iter().map(|(_, len)| 1u64 << (32 - len)).sum();
    let names: Vec<&str> = unplaced.iter().map(|(ods, _)| ods.as_str()).collect();
    let shown = if names.len() > 6 {
        format!("{} and {} more", names[..6].join(", "), names.len() - 6)
    } else {
        names.join(", ")
    };
    // The smallest block at least as large as the total, then larger ones if alignment wastes space.
    let smallest = 32
        - u8::try_from(64 - (total - 1).leading_zeros())
            .unwrap_or(32)
            .min(32);
    let proposal = (8..=smallest)
        .rev()
        .find_map(|len| propose(fleet, taken, unplaced, len));
    let todo = match proposal {
        Some(net) => format!(
            "add a pool that holds them to the end of addressing.pools in fleet.yaml, such as {net} (free \
             and large enough: {} addresses), then run again",
            group(1u64 << (32 - net.prefix_len()))
        ),
        None => "no free RFC 1918 block of that size is left: split the fleet, or give trusts smaller tiers \
                 (addressing.sizes)"
            .to_owned(),
    };
    FleetError::Invalid {
        field: "addressing.pools".into(),
        message: format!(
            "no room in the address pools ({pools}) for {} trust(s) at their tiers' sizes ({shown}): they \
             need {sizes}, {} addresses in all; {todo}",
            unplaced.len(),
            group(total)
        ),
    }
}

/// A free `/len` of [`PROPOSAL_SPACE`] (clear of the pools, reserved ranges and trusts) in which every
/// unplaced trust fits, placed as [`plan`] would place them once it is added to the end of the pools.
fn propose(
    fleet: &FleetFile,
    taken: &[Holder],
    unplaced: &[(String, u8)],
    len: u8,
) -> Option<Ipv4Net> {
    let in_use: Vec<Ipv4Net> = fleet
        .addressing
        .pools
        .iter()
        .map(Cidr::net)
        .chain(taken.iter().map(|h| h.net))
        .collect();
    for space in PROPOSAL_SPACE {
        let Ok(space) = space.parse::<Ipv4Net>() else {
            continue;
        };
        if len < space.prefix_len() {
            continue;
        }
        let Ok(blocks) = space.subnets(len) else {
            continue;
        };
        for block in blocks {
            if in_use.iter().any(|n| overlaps(*n, block)) {
                continue;
            }
            let Ok(pool) = Cidr::parse(&block.to_string()) else {
                continue;
            };
            let mut held: Vec<Holder> = taken.to_vec();
            let fits = unplaced.iter().all(|(ods, l)| {
                match first_fit(std::slice::from_ref(&pool), *l, &held) {
                    Some(net) => {
                        held.push(Holder {
                            what: format!("trust {ods}"),
                            net,
                        });
                        true
                    }
                    None => false,
                }
            });
            if fits {
                return Some(block);
            }
        }
    }
    None
}

/// `9306112` as `9,306,112`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn holders(fleet: &FleetFile) -> Vec<Holder> {
    let mut out: Vec<Holder> = fleet
        .addressing
        .reserved
        .iter()
        .map(|r| Holder {
            what: format!("the reserved range {}", r.name),
            net: r.cidr.net(),
        })
        .collect();
    out.extend(fleet.trusts.iter().filter_map(|(ods, t)| {
        t.address_space.map(|c| Holder {
            what: format!("trust {ods}"),
            net: c.net(),
        })
    }));
    out
}

/// Every recorded range against every other and the reserved ranges; the first clash names both.
pub fn check(fleet: &FleetFile) -> Result<(), FleetError> {
    let reserved = fleet.addressing.reserved.len();
    let all = holders(fleet);
    for (i, a) in all.iter().enumerate().skip(reserved) {
        for b in all.iter().take(i) {
            if overlaps(a.net, b.net) {
                return Err(FleetError::Overlap {
                    first: format!("{} ({})", a.what, a.net),
                    second: format!("{} ({})", b.what, b.net),
                });
            }
        }
    }
    Ok(())
}

/// The lowest aligned `/len` inside the pools, in pool order, clear of everything taken.
fn first_fit(pools: &[Cidr], len: u8, taken: &[Holder]) -> Option<Ipv4Net> {
    for pool in pools {
        let pool = pool.net();
        if len < pool.prefix_len() {
            continue;
        }
        let Ok(subnets) = pool.subnets(len) else {
            continue;
        };
        let mut candidates = subnets.peekable();
        while let Some(net) = candidates.next() {
            match taken.iter().find(|h| overlaps(h.net, net)) {
                None => return Some(net),
                // Skip past a large holder at once rather than one subnet at a time.
                Some(h) if h.net.prefix_len() < len => {
                    let end = u32::from(h.net.broadcast());
                    while candidates
                        .peek()
                        .is_some_and(|n| u32::from(n.network()) <= end)
                    {
                        candidates.next();
                    }
                }
                Some(_) => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::config::*;
    use super::*;

    fn fleet(yaml: &str) -> FleetFile {
        serde_yaml::from_str(yaml).unwrap()
    }

    const BASE: &str = "blueprint: {source: embedded}\naddressing:\n  pools: [10.0.0.0/14]\n  reserved:\n    - {name: HSCN, cidr: 10.0.0.0/16}\n";

    #[test]
    fn allocates_by_tier_around_reserved_and_manual_ranges_and_is_stable() {
        let mut f = fleet(&format!(
            "{BASE}trusts:\n  RM3: {{name: A, tier: large}}\n  RHW: {{name: B}}\n  RY6: {{name: C, tier: small}}\n  \
             RBT: {{name: D, address_space: 10.1.0.0/17, address: manual}}\n"
        ));
        let got = plan(&mut f).unwrap();
        let got: Vec<(String, String)> = got
            .iter()
            .map(|a| (a.ods.clone(), a.cidr.to_string()))
            .collect();
        // ODS order: RHW (medium /17), RM3 (large /16), RY6 (small /18); 10.0/16 reserved, 10.1.0/17 manual.
        assert_eq!(
            got,
            [
                ("RHW".to_string(), "10.1.128.0/17".to_string()),
                ("RM3".to_string(), "10.2.0.0/16".to_string()),
                ("RY6".to_string(), "10.3.0.0/18".to_string()),
            ]
        );
        // Again: nothing new, nothing moved; a new trust fills the next gap without moving the others.
        let before = f.clone();
        assert!(plan(&mut f).unwrap().is_empty());
        assert_eq!(f, before);
        f.trusts.insert(
            "R0A".into(),
            serde_yaml::from_str("{name: E, tier: small}").unwrap(),
        );
        let got = plan(&mut f).unwrap();
        assert_eq!(got[0].cidr.to_string(), "10.3.64.0/18");
        for (ods, t) in &before.trusts {
            assert_eq!(f.trusts[ods].address_space, t.address_space, "{ods}");
        }
        check(&f).unwrap();
    }

    #[test]
    fn overlaps_name_both_holders() {
        let f = fleet(&format!(
            "{BASE}trusts:\n  RHW: {{name: B, address_space: 10.1.0.0/16, address: manual}}\n  \
             RM3: {{name: A, address_space: 10.1.128.0/17, address: manual}}\n"
        ));
        assert_eq!(
            check(&f).unwrap_err().to_string(),
            "address space of trust RM3 (10.1.128.0/17) overlaps trust RHW (10.1.0.0/16)"
        );
        let f = fleet(&format!(
            "{BASE}trusts:\n  RHW: {{name: B, address_space: 10.0.64.0/18, address: manual}}\n"
        ));
        assert_eq!(
            check(&f).unwrap_err().to_string(),
            "address space of trust RHW (10.0.64.0/18) overlaps the reserved range HSCN (10.0.0.0/16)"
        );
    }

    #[test]
    fn an_exhausted_pool_says_how_much_is_needed_and_proposes_a_pool_that_holds_it() {
        let mut f = fleet(
            "blueprint: {source: embedded}\naddressing: {pools: [10.0.0.0/17]}\ntrusts:\n  RM3: {name: A}\n  RHW: {name: B}\n  RY6: {name: C, tier: small}\n  R0A: {name: D, tier: large}\n",
        );
        let before = f.clone();
        // R0A (large) does not fit the /17, RHW takes it, RM3 and RY6 find it full.
        assert_eq!(
            plan(&mut f).unwrap_err().to_string(),
            "fleet.yaml: addressing.pools: no room in the address pools (10.0.0.0/17) for 3 trust(s) at their \
             tiers' sizes (R0A, RM3, RY6): they need 1 x /16 + 1 x /17 + 1 x /18, 114,688 addresses in all; \
             add a pool that holds them to the end of addressing.pools in fleet.yaml, such as 10.64.0.0/15 \
             (free and large enough: 131,072 addresses), then run again"
        );
        // The proposal holds them: with it added, the same fleet plans.
        let mut f = before;
        f.addressing
            .pools
            .push(Cidr::parse("10.64.0.0/15").unwrap());
        assert_eq!(plan(&mut f).unwrap().len(), 4);
    }

    #[test]
    fn the_default_pools_hold_every_open_english_trust_even_at_the_largest_tier() {
        let open = crate::ods::bundled()
            .iter()
            .filter(|t| t.is_open() && t.is_english())
            .count();
        assert_eq!(open, 199);
        let pools = default_pools().unwrap();
        let slash16s: u64 = pools.iter().map(|p| 1u64 << (16 - p.prefix_len())).sum();
        assert!(slash16s >= 199, "{slash16s} /16s");
        let mut yaml = String::from("blueprint: {source: embedded}\ntrusts:\n");
        for t in crate::ods::bundled()
            .iter()
            .filter(|t| t.is_open() && t.is_english())
        {
            yaml.push_str(&format!("  {}: {{name: x, tier: large}}\n", t.code));
        }
        let mut f = fleet(&yaml);
        f.addressing.pools = pools;
        assert_eq!(plan(&mut f).unwrap().len(), 199);
        check(&f).unwrap();
    }

    #[test]
    fn two_hundred_trusts_fit_a_slash_eight() {
        let mut yaml = String::from(
            "blueprint: {source: embedded}\naddressing:\n  pools: [10.0.0.0/8]\n  reserved: [{name: HSCN, cidr: 10.0.0.0/12}]\ntrusts:\n",
        );
        for t in crate::ods::bundled()
            .iter()
            .filter(|t| t.is_open() && t.is_english())
        {
            yaml.push_str(&format!("  {}: {{name: x, tier: small}}\n", t.code));
        }
        let mut f = fleet(&yaml);
        assert_eq!(plan(&mut f).unwrap().len(), 199);
        check(&f).unwrap();
    }
}
