//! Policy aliases: `Microsoft.Storage/storageAccounts/supportsHttpsTrafficOnly` names the property path
//! `properties.supportsHttpsTrafficOnly` of the resource type the alias starts with. Only the table decides:
//! an alias it lacks is an error the caller reports, never a guessed path.

use std::collections::HashMap;
use std::sync::Arc;

/// The alias table (`alias,property path` lines), looked up case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct Aliases {
    paths: Arc<HashMap<String, String>>,
}

impl Aliases {
    /// Parse `alias,path` lines; blank lines are skipped.
    pub fn parse(csv: &str) -> Aliases {
        let paths = csv
            .lines()
            .filter_map(|l| l.split_once(','))
            .map(|(a, p)| (a.trim().to_ascii_lowercase(), p.trim().to_string()))
            .collect();
        Aliases {
            paths: Arc::new(paths),
        }
    }

    /// The property path of an alias.
    pub fn path(&self, alias: &str) -> Option<&str> {
        self.paths
            .get(&alias.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

/// Does `alias` belong to `resource_type` (the alias is the type, a slash, then a property name with no
/// further slash)? An alias of another type names a property this resource does not have.
pub fn applies_to(alias: &str, resource_type: &str) -> bool {
    alias.len() > resource_type.len() + 1
        && alias.is_char_boundary(resource_type.len())
        && alias[..resource_type.len()].eq_ignore_ascii_case(resource_type)
        && alias.as_bytes()[resource_type.len()] == b'/'
        && !alias[resource_type.len() + 1..].contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_belongs_to_its_own_type_only() {
        assert!(applies_to(
            "Microsoft.Storage/storageAccounts/supportsHttpsTrafficOnly",
            "microsoft.storage/storageaccounts"
        ));
        assert!(!applies_to(
            "Microsoft.Sql/servers/databases/zoneRedundant",
            "Microsoft.Sql/servers"
        ));
        assert!(!applies_to(
            "Microsoft.Sql/servers",
            "Microsoft.Sql/servers"
        ));
    }

    #[test]
    fn lookups_ignore_case() {
        let a = Aliases::parse(
            "Microsoft.Storage/storageAccounts/minimumTlsVersion,properties.minimumTlsVersion\n",
        );
        assert_eq!(
            a.path("microsoft.storage/storageaccounts/MINIMUMTLSVERSION"),
            Some("properties.minimumTlsVersion")
        );
        assert_eq!(a.path("Microsoft.Storage/storageAccounts/nope"), None);
    }
}
