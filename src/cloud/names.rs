//! Names as ARM validates them, before anything is stored: no encoded separator (`%2F`, `%5C`) or control or
//! bidirectional-override character in any path segment; resource group names by ARM's documented rule; the
//! names of common resource types by Microsoft's naming rules, with the codes their providers answer
//! (`AccountNameInvalid`, `VaultNameNotValid`, `InvalidResourceName`, `InvalidResourceGroupName`). Sources:
//! <https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules>.
//!
//! A name quoted in a message is escaped and cut, so that what reaches a terminal is printable and short.

use super::errors::ArmError;

/// Longest name any resource type accepts here (ARM's overall limit for a name segment).
const MAX_NAME: usize = 260;

/// Characters that reorder text on screen (bidirectional overrides, isolates and marks).
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `name` fit for a message: escaped (no control or bidi character reaches a terminal) and cut to 80
/// characters, saying how long it was.
pub fn shown(name: &str) -> String {
    let n = name.chars().count();
    let escape = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_control() || is_bidi(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
    };
    if n <= 80 {
        escape(name)
    } else {
        let head: String = name.chars().take(80).collect();
        format!("{}... ({n} characters)", escape(&head))
    }
}

/// Refuse a path whose decoded segments hold a separator, a control or a bidi character.
pub fn check_segments(segs: &[String]) -> Result<(), ArmError> {
    for (i, seg) in segs.iter().enumerate() {
        let bad = seg
            .chars()
            .find(|&c| c == '/' || c == '\\' || c.is_control() || is_bidi(c));
        let Some(c) = bad else { continue };
        let what = match c {
            '/' => "an encoded '/' (%2F)".to_string(),
            '\\' => "an encoded '\\' (%5C)".to_string(),
            c => format!("the character {}", c.escape_unicode()),
        };
        let is_group = i == 3 && segs[2].eq_ignore_ascii_case("resourcegroups");
        let (code, kind) = if is_group {
            ("InvalidResourceGroupName", "resource group name")
        } else {
            ("InvalidResourceName", "resource name")
        };
        return Err(ArmError::bad_request(
            code,
            format!(
                "The {kind} '{}' is invalid: it holds {what}, which no Azure name may contain.",
                shown(seg)
            ),
        ));
    }
    Ok(())
}

/// ARM's rule for resource group names: 1-90 characters, letters and digits (Unicode), `_`, `(`, `)`, `-`
/// and `.`, not ending with `.`.
pub fn check_resource_group(name: &str) -> Result<(), ArmError> {
    let n = name.chars().count();
    let ok = (1..=90).contains(&n)
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '(' | ')' | '-' | '.'))
        && !name.ends_with('.');
    if ok {
        return Ok(());
    }
    Err(ArmError::bad_request(
        "InvalidResourceGroupName",
        format!(
            "Resource group name '{}' is invalid. It must be 1 to 90 characters long ({n} given), may hold letters, digits, underscores, parentheses, hyphens and periods, and must not end with a period.",
            shown(name)
        ),
    ))
}

/// A naming rule: length bounds, allowed characters, and what the first and last characters may be.
struct Rule {
    min: usize,
    max: usize,
    allowed: fn(char) -> bool,
    first: fn(char) -> bool,
    last: fn(char) -> bool,
    /// ARM's code, and the rule in words for the message.
    code: &'static str,
    words: &'static str,
}

fn word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn network(c: char) -> bool {
    word(c) || c == '.' || c == '-'
}

fn any(_: char) -> bool {
    true
}

fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn alnum_hyphen(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

fn rule(resource_type: &str) -> Rule {
    let t = resource_type.to_ascii_lowercase();
    let network_rule = |min, max| {
        Rule {
        min,
        max,
        allowed: network,
        first: word,
        last: word,
        code: "InvalidResourceName",
        words: "It must begin with a letter, digit or underscore, end with a letter, digit or underscore, and hold only letters, digits, '.', '-' and '_'.",
    }
    };
    match t.as_str() {
        "microsoft.storage/storageaccounts" => Rule {
            min: 3,
            max: 24,
            allowed: lower_alnum,
            first: lower_alnum,
            last: lower_alnum,
            code: "AccountNameInvalid",
            words: "Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.",
        },
        "microsoft.keyvault/vaults" | "microsoft.keyvault/managedhsms" => Rule {
            min: 3,
            max: 24,
            allowed: alnum_hyphen,
            first: |c| c.is_ascii_alphabetic(),
            last: alnum,
            code: "VaultNameNotValid",
            words: "A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens.",
        },
        "microsoft.compute/virtualmachines" => Rule {
            min: 1,
            max: 64,
            allowed: |c| !"\\/\"[]:|<>+=;,?*@&~!#$%^'(){}`".contains(c) && !c.is_whitespace(),
            first: |c| c != '_',
            last: |c| c != '.' && c != '-',
            code: "InvalidResourceName",
            words: "A virtual machine's name is 1 to 64 characters, holds no spaces or any of \\/\"[]:|<>+=;,?*@&~!#$%^'(){}`, does not begin with '_' and does not end with '.' or '-'.",
        },
        "microsoft.network/virtualnetworks" => network_rule(2, 64),
        t if t.starts_with("microsoft.network/") => network_rule(1, 80),
        "microsoft.sql/servers" => Rule {
            min: 1,
            max: 63,
            allowed: |c| lower_alnum(c) || c == '-',
            first: lower_alnum,
            last: lower_alnum,
            code: "InvalidResourceName",
            words: "A SQL server's name is 1 to 63 lower-case letters, digits and hyphens, and neither begins nor ends with a hyphen.",
        },
        "microsoft.operationalinsights/workspaces" => Rule {
            min: 4,
            max: 63,
            allowed: alnum_hyphen,
            first: alnum,
            last: alnum,
            code: "InvalidResourceName",
            words: "A workspace's name is 4 to 63 letters, digits and hyphens, and begins and ends with a letter or digit.",
        },
        "microsoft.managedidentity/userassignedidentities" => Rule {
            min: 3,
            max: 128,
            allowed: |c| alnum_hyphen(c) || c == '_',
            first: alnum,
            last: any,
            code: "InvalidResourceName",
            words: "An identity's name is 3 to 128 letters, digits, hyphens and underscores, and begins with a letter or digit.",
        },
        _ => Rule {
            min: 1,
            max: MAX_NAME,
            allowed: |c| !"<>%&?".contains(c),
            first: any,
            last: any,
            code: "InvalidResourceName",
            words: "A resource name is 1 to 260 characters and holds none of <>%&?.",
        },
    }
}

/// Check the name of a resource of `resource_type` (the full type, e.g. `Microsoft.Network/virtualNetworks/
/// subnets`) against its naming rule.
pub fn check_resource(resource_type: &str, name: &str) -> Result<(), ArmError> {
    let r = rule(resource_type);
    let n = name.chars().count();
    let ok = (r.min..=r.max).contains(&n)
        && name
            .chars()
            .all(|c| (r.allowed)(c) && !c.is_control() && !is_bidi(c) && c != '/' && c != '\\')
        && name.chars().next().is_some_and(r.first)
        && name.chars().last().is_some_and(r.last)
        && !(r.code == "VaultNameNotValid" && name.contains("--"));
    if ok {
        return Ok(());
    }
    let message = match r.code {
        "AccountNameInvalid" => format!(
            "'{}' is not a valid storage account name. {}",
            shown(name),
            r.words
        ),
        "VaultNameNotValid" => format!("The vault name '{}' is invalid. {}", shown(name), r.words),
        _ => format!(
            "Resource name '{}' of type '{resource_type}' is invalid ({n} characters). {}",
            shown(name),
            r.words
        ),
    };
    Err(ArmError::bad_request(r.code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_group_names_follow_arm_s_rule() {
        for ok in ["rg-a", "rg_(x).1", "ΑθήναRG", &"a".repeat(90)] {
            assert!(check_resource_group(ok).is_ok(), "{ok}");
        }
        for bad in ["", "rg.", "rg/a", "rg a", "rg\u{202E}a", &"a".repeat(91)] {
            assert_eq!(
                check_resource_group(bad).unwrap_err().code,
                "InvalidResourceGroupName",
                "{bad}"
            );
        }
    }

    #[test]
    fn common_types_follow_microsoft_s_naming_rules() {
        let st = "Microsoft.Storage/storageAccounts";
        assert!(check_resource(st, "stconf01").is_ok());
        let e = check_resource(st, "St-Conf").unwrap_err();
        assert_eq!(e.code, "AccountNameInvalid");
        assert_eq!(e.message, "'St-Conf' is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.");
        let kv = "Microsoft.KeyVault/vaults";
        assert!(check_resource(kv, "kv-rm3-uks").is_ok());
        for bad in ["kv", "1kv", "kv--a", "kv-", &"k".repeat(25)] {
            assert_eq!(
                check_resource(kv, bad).unwrap_err().code,
                "VaultNameNotValid"
            );
        }
        let net = "Microsoft.Network/virtualNetworks";
        assert!(check_resource(net, "vnet-rm3_uks.1").is_ok());
        assert_eq!(
            check_resource(net, "v").unwrap_err().code,
            "InvalidResourceName"
        );
        assert!(check_resource("Microsoft.Network/virtualNetworks/subnets", "snet-app").is_ok());
        assert!(check_resource("Microsoft.Compute/virtualMachines", "vm-app-01").is_ok());
        assert!(check_resource("Microsoft.Compute/virtualMachines", "vm app").is_err());
        // Every type: no control character, and a bound on length.
        let other = "Microsoft.Web/sites";
        assert!(check_resource(other, "app\u{7}").is_err());
        assert!(check_resource(other, &"a".repeat(1000)).is_err());
    }

    #[test]
    fn names_in_messages_are_escaped_and_cut() {
        assert_eq!(shown("a\u{1b}[31mb\nc"), "a\\u{1b}[31mb\\u{a}c");
        let long = "x".repeat(5000);
        assert_eq!(
            shown(&long),
            format!("{}... (5000 characters)", "x".repeat(80))
        );
    }
}
