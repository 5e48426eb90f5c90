//! Resource ids, `guid()` and `uniqueString()`.

use super::Error;

/// ARM's namespace for `guid()`.
pub const GUID_NAMESPACE: uuid::Uuid = uuid::uuid!("11fb06fb-712d-4ddd-98c7-e71bbd588830");

/// `guid(a, b, ...)`: a version-5 UUID in ARM's namespace over the UTF-8 arguments joined by `-` (the RFC 4122
/// name-based algorithm, which is what ARM's `GenerateDeterministicGuid` computes).
pub fn guid(parts: &[&str]) -> String {
    uuid::Uuid::new_v5(&GUID_NAMESPACE, parts.join("-").as_bytes()).to_string()
}

/// `uniqueString(a, b, ...)`: Azure's own value. The arguments are joined by `-`, hashed with the 64-bit
/// MurmurHash variant of Microsoft's `Azure.Deployments.Expression` (two 32-bit lanes, Murmur3's mixing
/// constants; the same code as `Microsoft.WindowsAzure.ResourceStack`'s `ComputeHash`), and the hash written as
/// 13 characters of `a-z2-7`, five bits at a time from the top.
pub fn unique_string(parts: &[&str]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bits = murmur64(parts.join("-").as_bytes());
    let mut out = String::with_capacity(13);
    for _ in 0..13 {
        out.push(char::from(ALPHABET[(bits >> 59) as usize]));
        bits <<= 5;
    }
    out
}

/// The 64-bit MurmurHash variant (seed 0) behind ARM's `uniqueString()` and its template hashes.
fn murmur64(data: &[u8]) -> u64 {
    const C1: u32 = 0x239b_961b;
    const C2: u32 = 0xab0e_9789;
    const C3: u32 = 0x561c_cd1b;
    const C4: u32 = 0x0bca_a747;
    const C5: u32 = 0x85eb_ca6b;
    const C6: u32 = 0xc2b2_ae35;
    fn word(bytes: &[u8]) -> u32 {
        bytes
            .iter()
            .take(4)
            .enumerate()
            .fold(0, |w, (i, &b)| w | (u32::from(b) << (8 * i)))
    }
    fn mix1(k: u32) -> u32 {
        k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
    }
    fn mix2(k: u32) -> u32 {
        k.wrapping_mul(C2).rotate_left(17).wrapping_mul(C1)
    }
    fn finish(mut h: u32) -> u32 {
        h ^= h >> 16;
        h = h.wrapping_mul(C5);
        h ^= h >> 13;
        h = h.wrapping_mul(C6);
        h ^ (h >> 16)
    }
    let (mut h1, mut h2) = (0u32, 0u32);
    let mut blocks = data.chunks_exact(8);
    for block in blocks.by_ref() {
        h1 ^= mix1(word(&block[..4]));
        h1 = h1
            .rotate_left(19)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(C3);
        h2 ^= mix2(word(&block[4..]));
        h2 = h2
            .rotate_left(13)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(C4);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        h1 ^= mix1(word(tail));
        if tail.len() > 4 {
            h2 ^= mix2(word(&tail[4..]));
        }
    }
    // The length is mixed in as a 32-bit value, as the reference does.
    let len = data.len() as u32;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = finish(h1);
    h2 = finish(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (u64::from(h2) << 32) | u64::from(h1)
}

/// `{ns}/{t1}/{n1}/{t2}/{n2}...` for a type (`Microsoft.Network/virtualNetworks/subnets`) and its names
/// (`["vnet1", "app"]`, or one name `vnet1/app`).
pub fn provider_path(resource_type: &str, names: &[&str]) -> Result<String, Error> {
    // ARM accepts a type written with a trailing slash (`'Microsoft.Network/virtualNetworks/'`), as many of
    // Microsoft's quickstart templates write it.
    let resource_type = resource_type.strip_suffix('/').unwrap_or(resource_type);
    let type_segments: Vec<&str> = resource_type.split('/').collect();
    if type_segments.len() < 2 || type_segments.iter().any(|s| s.is_empty()) {
        return Err(Error::template(format!(
            "resource type '{resource_type}' must be '<namespace>/<type>[/<child type>...]'"
        )));
    }
    let name_segments: Vec<&str> = names.iter().flat_map(|n| n.split('/')).collect();
    let expected = type_segments.len() - 1;
    if name_segments.len() != expected {
        return Err(Error::template(format!(
            "resource type '{resource_type}' needs {expected} name segment(s), got {} ('{}')",
            name_segments.len(),
            name_segments.join("/")
        )));
    }
    let mut out = String::from(type_segments[0]);
    for (t, n) in type_segments[1..].iter().zip(&name_segments) {
        out.push('/');
        out.push_str(t);
        out.push('/');
        out.push_str(n);
    }
    Ok(out)
}

/// `/subscriptions/{s}`.
pub fn subscription_id(subscription: &str) -> String {
    format!("/subscriptions/{subscription}")
}

/// `/providers/Microsoft.Management/managementGroups/{mg}`.
pub fn management_group_id(group: &str) -> String {
    format!("/providers/Microsoft.Management/managementGroups/{group}")
}

/// `/subscriptions/{s}/resourceGroups/{rg}`.
pub fn resource_group_id(subscription: &str, resource_group: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{resource_group}")
}

/// The id of a resource at a scope (`/subscriptions/{s}`, `/subscriptions/{s}/resourceGroups/{rg}`, `""` for
/// tenant, or any resource id for an extension resource).
pub fn resource_id_at(scope: &str, resource_type: &str, names: &[&str]) -> Result<String, Error> {
    // A resource group deployed at subscription scope has the id ARM gives resource groups, not a provider id.
    if resource_type.eq_ignore_ascii_case("Microsoft.Resources/resourceGroups") {
        if let Some(sub) = scope.strip_prefix("/subscriptions/") {
            if !sub.contains('/') {
                let name = names.join("/");
                return Ok(resource_group_id(sub, &name));
            }
        }
    }
    Ok(format!(
        "{scope}/providers/{}",
        provider_path(resource_type, names)?
    ))
}

/// Bring an id to the shape declared resources get, so `dependsOn` ids from `subscriptionResourceId(...)` or
/// `resourceId(...)` match: `/subscriptions/{s}/providers/Microsoft.Resources/resourceGroups/{rg}` is the resource
/// group `/subscriptions/{s}/resourceGroups/{rg}`. Lower case, for comparison only.
pub fn comparable(id: &str) -> String {
    let lower = id.to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('/');
    if let Some(rest) = trimmed.strip_prefix("/subscriptions/") {
        if let Some((sub, tail)) = rest.split_once("/providers/microsoft.resources/resourcegroups/")
        {
            if !sub.contains('/') && !tail.contains('/') {
                return format!("/subscriptions/{sub}/resourcegroups/{tail}");
            }
        }
    }
    trimmed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_matches_rfc4122_v5_in_arms_namespace() {
        // Independently computed with Python's uuid.uuid5(UUID('11fb06fb-712d-4ddd-98c7-e71bbd588830'), name),
        // the algorithm Microsoft documents for guid() and Terraform's uuidv5 reproduces for role assignments.
        assert_eq!(
            guid(&["a", "b", "c"]),
            "a98fa280-e03f-5afa-8d8e-92d0a9c201e8"
        );
        assert_eq!(
            guid(&["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test"]),
            "a2891463-5ec5-5784-9bee-32d5ad772a3b"
        );
        assert_eq!(guid(&["a", "b", "c"]), guid(&["a-b-c"]));
        assert_ne!(guid(&["a", "b"]), guid(&["ab"]));
        let g = guid(&["x"]);
        assert_eq!(g.len(), 36);
        assert_eq!(&g[14..15], "5", "version 5 nibble: {g}");
    }

    #[test]
    fn unique_string_matches_azure_on_published_pairs() {
        // Stack Overflow question 43295720 ("Azure ARM uniqueString function mimic"), answer of 2023-01-05:
        // computed with Microsoft's Azure.Deployments.Expression package, uniqueString('tyeth').
        assert_eq!(unique_string(&["tyeth"]), "zcztcwvu6iyg6");
        // github.com/JasonWhall/go-azure-uniquestring README: uniqueString('hello', 'world'), hash
        // 571013382255652050.
        assert_eq!(murmur64(b"hello-world"), 571_013_382_255_652_050);
        assert_eq!(unique_string(&["hello", "world"]), "a7wkljktk6wne");
        // An empty input hashes to 0 (all lanes zero, length 0).
        assert_eq!(unique_string(&[""]), "aaaaaaaaaaaaa");
    }

    #[test]
    fn unique_string_is_13_base32_chars_and_deterministic() {
        let a = unique_string(&["/subscriptions/s/resourceGroups/rg"]);
        assert_eq!(a.len(), 13);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c)),
            "{a}"
        );
        assert_eq!(a, unique_string(&["/subscriptions/s/resourceGroups/rg"]));
        assert_ne!(a, unique_string(&["/subscriptions/s/resourceGroups/rg2"]));
        assert_eq!(unique_string(&["a", "b"]), unique_string(&["a-b"]));
    }

    #[test]
    fn provider_paths_interleave_types_and_names() {
        assert_eq!(
            provider_path(
                "Microsoft.Network/virtualNetworks/subnets",
                &["vnet1", "app"]
            )
            .unwrap(),
            "Microsoft.Network/virtualNetworks/vnet1/subnets/app"
        );
        assert_eq!(
            provider_path("Microsoft.Network/virtualNetworks/subnets", &["vnet1/app"]).unwrap(),
            "Microsoft.Network/virtualNetworks/vnet1/subnets/app"
        );
        assert_eq!(
            provider_path("Microsoft.Network/virtualNetworks/subnets", &["vnet1"]).unwrap_err().to_string(),
            "resource type 'Microsoft.Network/virtualNetworks/subnets' needs 2 name segment(s), got 1 ('vnet1')"
        );
        assert!(provider_path("storageAccounts", &["x"]).is_err());
        assert_eq!(
            provider_path("Microsoft.Network/virtualNetworks/", &["vnet1"]).unwrap(),
            "Microsoft.Network/virtualNetworks/vnet1"
        );
    }

    #[test]
    fn resource_groups_at_subscription_scope_get_group_ids() {
        assert_eq!(
            resource_id_at(
                "/subscriptions/s1",
                "Microsoft.Resources/resourceGroups",
                &["rg-a"]
            )
            .unwrap(),
            "/subscriptions/s1/resourceGroups/rg-a"
        );
        assert_eq!(
            comparable("/subscriptions/S1/providers/Microsoft.Resources/resourceGroups/RG-A"),
            "/subscriptions/s1/resourcegroups/rg-a"
        );
    }
}
