//! CIDR functions (Microsoft's "CIDR functions for ARM templates"), IPv4 and IPv6.

use super::kinds::{ANY, I, S};
use super::Family::Cidr as F;
use super::{def, int_at, str_at, FunctionDef, Imp};
use crate::armexpr::eval::Evaluator;
use crate::armexpr::Error;
use serde_json::{Map, Value};

#[rustfmt::skip]
pub(super) const DEFS: &[FunctionDef] = &[
    def(
        F,
        "cidrHost",
        (2, 2),
        &[S, I],
        ANY,
        Imp::Eager(cidr_host),
        "the usable host at an index",
    ),
    def(
        F,
        "cidrSubnet",
        (3, 3),
        &[S, I, I],
        ANY,
        Imp::Eager(cidr_subnet),
        "the subnet of a prefix length at an index",
    ),
    def(
        F,
        "parseCidr",
        (1, 1),
        &[S],
        ANY,
        Imp::Eager(parse_cidr),
        "network, netmask, broadcast, first and last usable, prefix",
    ),
];

fn parse_cidr(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let net = parse_net("parseCidr", str_at(&args, 0))?;
    let (first, last) = usable(&net);
    let mut out = Map::new();
    out.insert("network".into(), Value::String(net.network().to_string()));
    out.insert("netmask".into(), Value::String(net.netmask().to_string()));
    if let ipnet::IpNet::V4(v4) = net {
        out.insert(
            "broadcast".into(),
            Value::String(v4.broadcast().to_string()),
        );
    }
    out.insert("firstUsable".into(), Value::String(first.to_string()));
    out.insert("lastUsable".into(), Value::String(last.to_string()));
    out.insert("cidr".into(), Value::from(net.prefix_len()));
    Ok(Value::Object(out))
}

fn cidr_subnet(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let net = parse_net("cidrSubnet", str_at(&args, 0))?;
    let new_len = int_at(&args, 1);
    let index = int_at(&args, 2);
    let max = i64::from(net.max_prefix_len());
    if new_len < i64::from(net.prefix_len()) || new_len > max {
        return Err(Error::func(
            "cidrSubnet",
            format!(
                "the new prefix length must be {} to {max}, got {new_len}",
                net.prefix_len()
            ),
        ));
    }
    let bits = u32::try_from(new_len - i64::from(net.prefix_len())).unwrap_or(0);
    let count = 1u128.checked_shl(bits).unwrap_or(u128::MAX);
    let idx = u128::try_from(index)
        .ok()
        .filter(|&i| i < count)
        .ok_or_else(|| {
            Error::func(
                "cidrSubnet",
                format!("subnet index {index} is out of range (0 to {})", count - 1),
            )
        })?;
    let host_bits = u32::from(net.max_prefix_len()) - u32::try_from(new_len).unwrap_or(0);
    let offset = idx.checked_shl(host_bits).unwrap_or(0);
    let base = add_to_ip(net.network(), offset)
        .ok_or_else(|| Error::func("cidrSubnet", "the subnet is outside the address space"))?;
    Ok(Value::String(format!("{base}/{new_len}")))
}

fn cidr_host(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let net = parse_net("cidrHost", str_at(&args, 0))?;
    let index = int_at(&args, 1);
    let (first, last) = usable(&net);
    // Hosts count from the first address after the network address, for IPv6 too (ARM's
    // documented `cidrHost('fdad:3236:5555:3000::/52', 0)` is `...:3000::1`).
    let first = match net {
        ipnet::IpNet::V6(v6) => add_to_ip(v6.network().into(), 1).unwrap_or(first),
        ipnet::IpNet::V4(_) => first,
    };
    let host = u128::try_from(index)
        .ok()
        .and_then(|i| add_to_ip(first, i))
        .filter(|h| ip_value(*h) <= ip_value(last))
        .ok_or_else(|| {
            Error::func(
                "cidrHost",
                format!("host index {index} is outside the usable range {first} to {last}"),
            )
        })?;
    Ok(Value::String(host.to_string()))
}

fn parse_net(function: &str, text: &str) -> Result<ipnet::IpNet, Error> {
    text.parse::<ipnet::IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| {
            Error::func(
                function,
                format!("'{text}' is not a CIDR range like '10.0.0.0/16'"),
            )
        })
}

fn ip_value(ip: std::net::IpAddr) -> u128 {
    match ip {
        std::net::IpAddr::V4(a) => u128::from(u32::from(a)),
        std::net::IpAddr::V6(a) => u128::from(a),
    }
}

fn add_to_ip(ip: std::net::IpAddr, n: u128) -> Option<std::net::IpAddr> {
    match ip {
        std::net::IpAddr::V4(a) => {
            let v = u128::from(u32::from(a)).checked_add(n)?;
            u32::try_from(v)
                .ok()
                .map(|v| std::net::IpAddr::V4(v.into()))
        }
        std::net::IpAddr::V6(a) => u128::from(a)
            .checked_add(n)
            .map(|v| std::net::IpAddr::V6(v.into())),
    }
}

/// The first and last usable addresses, as ARM's `parseCidr` gives them: IPv4 ranges lose the network and
/// broadcast addresses (except /31 and /32, which have none to spare); IPv6 ranges use every address.
fn usable(net: &ipnet::IpNet) -> (std::net::IpAddr, std::net::IpAddr) {
    match net {
        ipnet::IpNet::V4(v4) if v4.prefix_len() < 31 => (
            std::net::IpAddr::V4((u32::from(v4.network()) + 1).into()),
            std::net::IpAddr::V4((u32::from(v4.broadcast()) - 1).into()),
        ),
        ipnet::IpNet::V4(v4) => (v4.network().into(), v4.broadcast().into()),
        ipnet::IpNet::V6(v6) => (v6.network().into(), v6.broadcast().into()),
    }
}
