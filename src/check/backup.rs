//! Backup rule: every virtual machine is protected by a Recovery Services vault (the DSPT backups outcome, and
//! the recovery path after ransomware).

use super::estate::{is_expression, resource_group_of, Estate};
use super::{ncsc, Finding, Rule};
use serde_json::Value;

pub(crate) const BAK_001: Rule = Rule {
    id: "TP-BAK-001",
    reason: "Every virtual machine must be backed up by a Recovery Services vault",
    principle: ncsc::ASSET_PROTECTION,
    fix: "Add a Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems resource with properties.sourceResourceId set to the VM's id",
};

const VMS: &str = "Microsoft.Compute/virtualMachines";
const PROTECTED_ITEMS: &str =
    "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems";

pub(crate) fn check(estate: &Estate, findings: &mut Vec<Finding>) {
    let items: Vec<_> = estate.of_type(PROTECTED_ITEMS).collect();
    for vm in estate.of_type(VMS) {
        let rg = resource_group_of(&vm.id).unwrap_or("");
        // The name Azure Backup gives a VM's protected item: `vm;iaasvmcontainerv2;{rg};{vm}`.
        let encoded = format!("vm;iaasvmcontainerv2;{rg};{}", vm.name);
        let mut unverifiable = 0;
        let covered = items.iter().any(|item| {
            let source = item
                .body
                .pointer("/properties/sourceResourceId")
                .and_then(Value::as_str);
            if source.is_some_and(is_expression) {
                unverifiable += 1;
            }
            let item_name = item.name.rsplit('/').next().unwrap_or(&item.name);
            source.is_some_and(|s| s.eq_ignore_ascii_case(&vm.id))
                || item_name.eq_ignore_ascii_case(&encoded)
        });
        if covered {
            continue;
        }
        let mut detail = format!(
            "no protected item has properties.sourceResourceId \"{}\" or the name \"{encoded}\"",
            vm.id
        );
        if unverifiable > 0 {
            detail.push_str(&format!(
                " ({unverifiable} protected item(s) have a sourceResourceId that is an ARM expression, which cannot be verified before deployment)"
            ));
        }
        findings.push(Finding::new(&BAK_001, vm, detail));
    }
}
