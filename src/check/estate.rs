//! The resources under check, indexed once, and the shared vocabulary the rule families use to read
//! properties: [`Observed`] (absent, an unresolved ARM expression, or a value) and the detail wording.

use crate::model::Resource;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

/// Every resource of the trust: the expanded ones plus child resources declared inline in a parent's
/// `resources` array, so that each rule sees one flat list whatever style the template was written in.
pub(crate) struct Estate<'a> {
    resources: Vec<Cow<'a, Resource>>,
    by_id: HashMap<String, usize>,
}

impl<'a> Estate<'a> {
    pub(crate) fn new(resources: &'a [Resource]) -> Self {
        let mut all: Vec<Cow<'a, Resource>> = resources.iter().map(Cow::Borrowed).collect();
        let mut inline = Vec::new();
        for r in resources {
            inline_children(r, &mut inline);
        }
        all.extend(inline.into_iter().map(Cow::Owned));
        let by_id = all
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.to_ascii_lowercase(), i))
            .collect();
        Estate {
            resources: all,
            by_id,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.resources.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.resources.iter().map(|r| r.as_ref())
    }

    /// Resources of one type (ARM types are case-insensitive).
    pub(crate) fn of_type<'s>(
        &'s self,
        resource_type: &'s str,
    ) -> impl Iterator<Item = &'s Resource> {
        self.iter()
            .filter(move |r| r.resource_type.eq_ignore_ascii_case(resource_type))
    }

    /// The resource with this id (case-insensitive), if it is in the estate.
    pub(crate) fn get(&self, id: &str) -> Option<&Resource> {
        self.by_id
            .get(&id.to_ascii_lowercase())
            .map(|&i| self.resources[i].as_ref())
    }

    /// Child resources of `parent` of type `child_type` (full type, e.g. `Microsoft.Sql/servers/databases`).
    pub(crate) fn children<'s>(
        &'s self,
        parent: &'s Resource,
        child_type: &'s str,
    ) -> impl Iterator<Item = &'s Resource> {
        self.of_type(child_type).filter(move |c| {
            starts_with_ignore_case(&c.id, &parent.id)
                && c.id.as_bytes().get(parent.id.len()) == Some(&b'/')
        })
    }
}

/// Child resources written inside a parent's `resources` array (`{"type": "auditingSettings", "name":
/// "default", ...}` under a SQL server) become resources of their own, with full type, name and id.
fn inline_children(parent: &Resource, out: &mut Vec<Resource>) {
    let Some(children) = parent.body.get("resources").and_then(Value::as_array) else {
        return;
    };
    for child in children {
        let (Some(ty), Some(name)) = (
            child.get("type").and_then(Value::as_str),
            child.get("name").and_then(Value::as_str),
        ) else {
            continue;
        };
        let full_type = if ty.contains('/') {
            ty.to_owned()
        } else {
            format!("{}/{ty}", parent.resource_type)
        };
        let last_type = full_type.rsplit('/').next().unwrap_or(&full_type);
        let last_name = name.rsplit('/').next().unwrap_or(name);
        let full_name = if name.contains('/') {
            name.to_owned()
        } else {
            format!("{}/{name}", parent.name)
        };
        let resource = Resource {
            id: format!("{}/{last_type}/{last_name}", parent.id),
            resource_type: full_type,
            api_version: child
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or(&parent.api_version)
                .to_owned(),
            name: full_name,
            location: child
                .get("location")
                .and_then(Value::as_str)
                .map(str::to_owned),
            tags: child.get("tags").and_then(Value::as_object).cloned(),
            body: child.clone(),
            deployment: parent.deployment.clone(),
        };
        inline_children(&resource, out);
        out.push(resource);
    }
}

/// A property as a rule sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Observed<'a> {
    /// Not set (or JSON null): the Azure default applies.
    Absent,
    /// Still an ARM expression string: only known at deployment.
    Expression(&'a str),
    Value(&'a Value),
}

/// True for a string that is an ARM expression (`[...]`, but not the `[[` escape of a literal bracket).
pub(crate) fn is_expression(s: &str) -> bool {
    s.starts_with('[') && s.ends_with(']') && !s.starts_with("[[")
}

/// Look up a dotted path (`properties.networkAcls.defaultAction`) in a JSON value. An expression met on the
/// way (a whole `networkAcls` object given as `[parameters('acls')]`) is reported as the expression.
pub(crate) fn observe<'a>(value: &'a Value, path: &str) -> Observed<'a> {
    let mut current = value;
    for key in path.split('.') {
        match current {
            Value::Object(map) => match map.get(key) {
                Some(v) => current = v,
                None => return Observed::Absent,
            },
            Value::String(s) if is_expression(s) => return Observed::Expression(s),
            _ => return Observed::Absent,
        }
    }
    match current {
        Value::Null => Observed::Absent,
        Value::String(s) if is_expression(s) => Observed::Expression(s),
        v => Observed::Value(v),
    }
}

/// How a finding's detail names a property's actual state: `properties.x is "TLS1_0"`, `properties.x is
/// absent`, or `properties.x is the ARM expression "[...]", which cannot be verified before deployment`.
pub(crate) fn describe(path: &str, observed: Observed<'_>) -> String {
    match observed {
        Observed::Absent => format!("{path} is absent"),
        Observed::Expression(e) => format!(
            "{path} is the ARM expression {}, which cannot be verified before deployment",
            quote(e)
        ),
        Observed::Value(v) => format!("{path} is {}", short_json(v)),
    }
}

/// A JSON value for a detail line, shortened so one finding stays one readable line.
pub(crate) fn short_json(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        let cut: String = s.chars().take(117).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// A string as JSON writes it, for details.
pub(crate) fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// A case-insensitive string comparison for ARM enum values (`Disabled`, `disabled`).
pub(crate) fn str_is(v: &Value, expected: &str) -> bool {
    v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(expected))
}

/// Compare an `apiVersion` (`2023-01-01`, `2023-01-01-preview`) with a date: true when it is that date or later.
pub(crate) fn api_at_least(api_version: &str, date: &str) -> bool {
    api_version.get(..10).unwrap_or(api_version) >= date
}

/// The resource group named in a resource id, if any.
pub(crate) fn resource_group_of(id: &str) -> Option<&str> {
    let mut segments = id.split('/');
    while let Some(s) = segments.next() {
        if s.eq_ignore_ascii_case("resourceGroups") {
            return segments.next();
        }
    }
    None
}

/// `str::starts_with`, ignoring ASCII case (ARM ids and types are case-insensitive).
pub(crate) fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// The parent id of a child resource id (drops the last `/{type}/{name}` pair), if the parent is itself a
/// resource (it still has a `providers/{namespace}/{type}/{name}` part).
pub(crate) fn parent_resource_id(id: &str) -> Option<&str> {
    let (rest, _) = id.rsplit_once('/')?;
    let (parent, _) = rest.rsplit_once('/')?;
    let lower = parent.to_ascii_lowercase();
    let after = &lower[lower.rfind("/providers/")? + "/providers/".len()..];
    (after.split('/').count() >= 3).then_some(parent)
}

/// A simple property requirement of one rule on one resource type.
pub(crate) struct Requirement {
    pub rule: &'static super::Rule,
    pub path: &'static str,
    /// What a compliant value is, for the detail (`true`, `"Disabled"`, `TLS1_2 or TLS1_3`).
    pub expected: &'static str,
    pub ok: fn(&Value) -> bool,
    /// What an absent property means.
    pub absent: Absent,
}

/// What an absent property means for a [`Requirement`].
pub(crate) enum Absent {
    /// The Azure default is not compliant (or not documented): the property must be set.
    Violation,
    /// The Azure default is compliant on every apiVersion.
    Compliant,
    /// The Azure default is compliant from this apiVersion on (and not before).
    CompliantSince(&'static str),
}

impl Requirement {
    /// The finding for `resource`, if it does not meet the requirement.
    pub(crate) fn check(&self, resource: &Resource) -> Option<super::Finding> {
        let observed = observe(&resource.body, self.path);
        let detail = match observed {
            Observed::Value(v) if (self.ok)(v) => return None,
            Observed::Absent => match self.absent {
                Absent::Compliant => return None,
                Absent::CompliantSince(date) if api_at_least(&resource.api_version, date) => {
                    return None
                }
                Absent::CompliantSince(date) => format!(
                    "{} (the Azure default is not {} before apiVersion {date}; this is {})",
                    describe(self.path, observed),
                    self.expected,
                    resource.api_version
                ),
                Absent::Violation => format!(
                    "{}; expected {} (set it explicitly)",
                    describe(self.path, observed),
                    self.expected
                ),
            },
            _ => format!(
                "{}; expected {}",
                describe(self.path, observed),
                self.expected
            ),
        };
        Some(super::Finding::new(self.rule, resource, detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn observe_distinguishes_absent_expression_and_value() {
        let body = json!({"properties": {"a": "[parameters('x')]", "b": "[[literal]", "c": null,
                          "d": {"e": 1}, "f": "[variables('acl')]"}});
        assert!(matches!(
            observe(&body, "properties.a"),
            Observed::Expression(_)
        ));
        assert!(matches!(observe(&body, "properties.b"), Observed::Value(_)));
        assert!(matches!(observe(&body, "properties.c"), Observed::Absent));
        assert!(matches!(observe(&body, "properties.zz"), Observed::Absent));
        assert!(matches!(observe(&body, "properties.d.e"), Observed::Value(v) if v == &json!(1)));
        assert!(matches!(
            observe(&body, "properties.f.defaultAction"),
            Observed::Expression(_)
        ));
    }

    #[test]
    fn api_versions_compare_by_date() {
        assert!(api_at_least("2019-04-01", "2019-04-01"));
        assert!(api_at_least("2023-01-01-preview", "2019-04-01"));
        assert!(!api_at_least("2018-07-01", "2019-04-01"));
    }

    #[test]
    fn parents_of_child_resources() {
        let st =
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st";
        assert_eq!(
            parent_resource_id(&format!("{st}/blobServices/default")),
            Some(st)
        );
        assert_eq!(parent_resource_id(st), None);
    }

    #[test]
    fn resource_group_is_read_from_the_id() {
        let id =
            "/subscriptions/s/resourceGroups/rg-x/providers/Microsoft.Sql/servers/a/databases/b";
        assert_eq!(resource_group_of(id), Some("rg-x"));
        assert_eq!(
            resource_group_of(
                "/subscriptions/s/providers/Microsoft.Security/pricings/VirtualMachines"
            ),
            None
        );
    }
}
