//! Resource ids: parsed from request paths case-insensitively, written back in canonical casing
//! (`/subscriptions/{s}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}`), keyed in the store by their
//! lower-case form.

use super::catalog;

/// A parsed ARM id of a resource (or of a collection of resources when `names` is one shorter than `types`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceId {
    pub subscription: String,
    pub resource_group: Option<String>,
    /// The canonical id of the scope the resource lives in (subscription, resource group, or another resource
    /// for extension resources).
    pub scope: String,
    pub namespace: String,
    pub types: Vec<String>,
    pub names: Vec<String>,
}

impl ResourceId {
    /// `Namespace/type[/child]`, canonical casing when the catalog knows the type.
    pub fn resource_type(&self) -> String {
        let raw = format!("{}/{}", self.namespace, self.types.join("/"));
        catalog::find_type(&raw).map_or(raw, |t| t.name.to_string())
    }

    /// `name[/childName]`.
    pub fn name(&self) -> String {
        self.names.join("/")
    }

    pub fn is_collection(&self) -> bool {
        self.types.len() > self.names.len()
    }

    /// The canonical id.
    pub fn id(&self) -> String {
        let canonical_type = self.resource_type();
        let mut type_segs = canonical_type.split('/');
        let ns = type_segs.next().unwrap_or(&self.namespace).to_string();
        let mut out = format!("{}/providers/{ns}", self.scope);
        for (i, t) in self.types.iter().enumerate() {
            let t = type_segs.next().map_or(t.clone(), str::to_string);
            out.push('/');
            out.push_str(&t);
            if let Some(n) = self.names.get(i) {
                out.push('/');
                out.push_str(n);
            }
        }
        out
    }

    /// The parent resource of a child resource (`.../vnet/subnets/a` → `.../vnet`).
    pub fn parent(&self) -> Option<ResourceId> {
        if self.types.len() < 2 || self.is_collection() {
            return None;
        }
        let mut p = self.clone();
        p.types.pop();
        p.names.pop();
        Some(p)
    }
}

/// The scope part of a path: `/subscriptions/{s}` or `/subscriptions/{s}/resourceGroups/{rg}`, canonical.
pub fn scope_id(subscription: &str, resource_group: Option<&str>) -> String {
    match resource_group {
        Some(rg) => format!("/subscriptions/{subscription}/resourceGroups/{rg}"),
        None => format!("/subscriptions/{subscription}"),
    }
}

/// Parse the path segments of a request (without the leading empty segment) as a resource id under a
/// subscription. Returns `None` when the path is not of that shape.
pub fn parse(segs: &[&str]) -> Option<ResourceId> {
    if segs.len() < 4 || !segs[0].eq_ignore_ascii_case("subscriptions") {
        return None;
    }
    let subscription = segs[1].to_string();
    let last = segs
        .iter()
        .rposition(|s| s.eq_ignore_ascii_case("providers"))?;
    let rest = &segs[last + 1..];
    if rest.len() < 2 || last < 2 {
        return None;
    }
    let scope_segs = &segs[..last];
    let (scope, resource_group) = if scope_segs.len() == 2 {
        (scope_id(&subscription, None), None)
    } else if scope_segs.len() == 4 && scope_segs[2].eq_ignore_ascii_case("resourcegroups") {
        let rg = scope_segs[3].to_string();
        (scope_id(&subscription, Some(&rg)), Some(rg))
    } else {
        let inner = parse(scope_segs)?;
        if inner.is_collection() {
            return None;
        }
        let rg = inner.resource_group.clone();
        (inner.id(), rg)
    };
    let namespace = rest[0].to_string();
    let mut types = Vec::new();
    let mut names = Vec::new();
    for (i, s) in rest[1..].iter().enumerate() {
        if i % 2 == 0 {
            types.push((*s).to_string());
        } else {
            names.push((*s).to_string());
        }
    }
    Some(ResourceId {
        subscription,
        resource_group,
        scope,
        namespace,
        types,
        names,
    })
}

/// Parse a full id string.
pub fn parse_str(id: &str) -> Option<ResourceId> {
    let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
    parse(&segs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_back_in_canonical_casing() {
        let id = parse_str(
            "/SUBSCRIPTIONS/s1/resourcegroups/rg-A/PROVIDERS/microsoft.network/VIRTUALNETWORKS/vnet1/subnets/app",
        )
        .unwrap();
        assert_eq!(
            id.id(),
            "/subscriptions/s1/resourceGroups/rg-A/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/app"
        );
        assert_eq!(
            id.resource_type(),
            "Microsoft.Network/virtualNetworks/subnets"
        );
        assert_eq!(id.name(), "vnet1/app");
        assert_eq!(
            id.parent().unwrap().id(),
            "/subscriptions/s1/resourceGroups/rg-A/providers/Microsoft.Network/virtualNetworks/vnet1"
        );
    }

    #[test]
    fn extension_resources_keep_their_scope() {
        let id = parse_str("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st/providers/Microsoft.Insights/diagnosticSettings/d").unwrap();
        assert_eq!(
            id.scope,
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"
        );
        assert_eq!(id.resource_type(), "Microsoft.Insights/diagnosticSettings");
        assert_eq!(id.resource_group.as_deref(), Some("rg"));
    }

    #[test]
    fn collections_are_recognised() {
        let id = parse_str("/subscriptions/s/providers/Microsoft.Authorization/policyAssignments")
            .unwrap();
        assert!(id.is_collection());
        assert_eq!(
            id.resource_type(),
            "Microsoft.Authorization/policyAssignments"
        );
    }
}
