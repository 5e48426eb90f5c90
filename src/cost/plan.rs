//! The monthly cost change a plan would cause: the resources before (what-if's `before` of everything that
//! exists and stays, changes or goes) and after (what-if's `after`, and the unchanged ones as they are)
//! estimated with the same sheet and assumptions, and the difference.
//!
//! Called from the plan's text output (one summary line). The usage assumptions are the medium tier's: a
//! plan does not carry the trust's values, and usage meters (logs, firewall data) only differ when the
//! resources they hang on are created or deleted.

use super::{pennies, Assumptions, PriceSheet};
use crate::arm::{ChangeType, WhatIfChange};
use crate::model::Resource;
use serde::Serialize;
use serde_json::Value;

/// The plan's effect on the monthly estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanCost {
    pub before_gbp: f64,
    pub after_gbp: f64,
    /// `after_gbp - before_gbp`.
    pub change_gbp: f64,
    /// The date of the prices used.
    pub prices_date: String,
    /// Resources or meters of the result that could not be priced.
    pub unpriced: usize,
}

fn resource(change: &WhatIfChange, body: &Value, deployment: &str) -> Resource {
    let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let resource_type = s("type").unwrap_or_else(|| {
        // `/providers/Microsoft.X/y/name/z/name2` → `Microsoft.X/y/z`.
        let after = change
            .resource_id
            .rsplit_once("/providers/")
            .map(|(_, a)| a)
            .unwrap_or_default();
        let segs: Vec<&str> = after.split('/').collect();
        let mut t = segs.first().copied().unwrap_or_default().to_string();
        for pair in segs[1..].chunks(2) {
            t.push('/');
            t.push_str(pair[0]);
        }
        t
    });
    Resource {
        id: change.resource_id.clone(),
        resource_type,
        api_version: s("apiVersion").unwrap_or_default(),
        name: s("name").unwrap_or_default(),
        location: s("location"),
        tags: body.get("tags").and_then(Value::as_object).cloned(),
        body: body.clone(),
        deployment: deployment.to_string(),
    }
}

/// Estimate the plan's before and after with usage assumptions `a`. `primary_region` prices resources with no
/// region of their own.
pub fn plan_cost(
    plan: &crate::deploy::Plan,
    sheet: &PriceSheet,
    primary_region: &str,
    a: &Assumptions,
) -> PlanCost {
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for d in &plan.deployments {
        for c in &d.changes {
            if let Some(b) = &c.before {
                before.push(resource(c, b, &d.name));
            }
            let now = match (&c.change_type, &c.after, &c.before) {
                (ChangeType::Delete, _, _) => None,
                (_, Some(a), _) => Some(a),
                // Unchanged and ignored resources stay as they are.
                (_, None, Some(b)) => Some(b),
                (_, None, None) => None,
            };
            if let Some(a) = now {
                after.push(resource(c, a, &d.name));
            }
        }
    }
    let b = super::estimate(&before, sheet, a, primary_region);
    let n = super::estimate(&after, sheet, a, primary_region);
    PlanCost {
        before_gbp: b.monthly_gbp,
        after_gbp: n.monthly_gbp,
        change_gbp: pennies(n.monthly_gbp - b.monthly_gbp),
        prices_date: sheet.date().to_string(),
        unpriced: n.unpriced.len(),
    }
}

/// The plan's summary line about cost, with the price sheet estimates use (a refreshed one in the cache,
/// else the snapshot) and the trust's usage assumptions (its tier's, then its `cost.*` values, as `trustprint
/// cost`); None if no sheet can be read or what-if gave no resource bodies to price. The CLI prints it under
/// the plan: rendering a plan reads no price sheet.
pub fn summary_line(plan: &crate::deploy::Plan, values: &crate::values::Values) -> Option<String> {
    let changes = || plan.deployments.iter().flat_map(|d| &d.changes);
    if !changes().any(|c| c.before.is_some() || c.after.is_some()) {
        return None;
    }
    let sheet = PriceSheet::resolve(None).ok()?;
    let region = plan
        .deployments
        .iter()
        .flat_map(|d| &d.changes)
        .find_map(|c| {
            c.after
                .as_ref()
                .or(c.before.as_ref())
                .and_then(|b| b.get("location"))
                .and_then(Value::as_str)
                .filter(|l| !l.eq_ignore_ascii_case("global"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "uksouth".into());
    let assumptions = Assumptions::resolve(values, &[]).ok()?;
    let tier = values
        .get("tier")
        .and_then(Value::as_str)
        .unwrap_or("medium");
    let c = plan_cost(plan, &sheet, &region, &assumptions);
    let sign = if c.change_gbp < 0.0 { "-" } else { "+" };
    Some(format!(
        "Cost: {sign}£{:.2} a month (£{:.2} → £{:.2}, prices of {}, {tier}-tier usage assumed{}; \
         `trustprint cost` has the lines)",
        c.change_gbp.abs(),
        c.before_gbp,
        c.after_gbp,
        c.prices_date,
        if c.unpriced > 0 {
            format!(", {} unpriced", c.unpriced)
        } else {
            String::new()
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vm(name: &str, size: &str) -> Value {
        json!({"type": "Microsoft.Compute/virtualMachines", "apiVersion": "2024-07-01", "name": name,
               "location": "uksouth", "properties": {"hardwareProfile": {"vmSize": size},
               "storageProfile": {"imageReference": {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer"},
               "osDisk": {"diskSizeGB": 127, "managedDisk": {"storageAccountType": "Premium_LRS"}}}}})
    }

    #[test]
    fn a_plan_that_resizes_one_vm_and_deletes_another_costs_the_difference() {
        let id = |n: &str| {
            format!(
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/{n}"
            )
        };
        let plan: crate::deploy::Plan = serde_json::from_value(json!({
            "format": 1,
            "inputs": {"trust": {"name": "T", "ods_code": "RXX"}, "blueprint": {"name": "b", "version": "1", "source": "s"},
                       "renderHash": "h", "valuesHash": "h",
                       "target": {"kind": "local", "subscriptionId": "s"}},
            "deployments": [{"name": "epr", "deploymentName": "d", "scope": "resourceGroup", "resourceGroup": "g",
                "resourceGroupExists": true, "changes": [
                {"resourceId": id("a"), "changeType": "Modify", "before": vm("a", "Standard_D2s_v5"), "after": vm("a", "Standard_D4s_v5")},
                {"resourceId": id("b"), "changeType": "Delete", "before": vm("b", "Standard_D2s_v5")},
                {"resourceId": id("c"), "changeType": "NoChange", "before": vm("c", "Standard_D2s_v5")}
            ]}],
            "summary": {"create": 0, "modify": 1, "delete": 1, "noChange": 1, "ignore": 0, "other": 0}
        }))
        .unwrap();
        let sheet = PriceSheet::embedded().unwrap();
        let c = plan_cost(&plan, &sheet, "uksouth", &Assumptions::for_tier(None));
        // Before: 3 × D2s v5 Windows (730 × £0.163 = 118.99) + 3 × P10 (15.28) = 402.81.
        // After: D4s v5 (237.98) + D2s v5 (118.99) + 2 × P10 (30.56) = 387.53.
        assert_eq!(
            (c.before_gbp, c.after_gbp, c.change_gbp),
            (402.81, 387.53, -15.28)
        );
    }
}
