//! Scope functions (Microsoft's "Scope functions for ARM templates"): where the deployment is.

use super::kinds::ANY;
use super::Family::Scope as F;
use super::{def, FunctionDef, Imp};
use crate::armexpr::eval::Evaluator;
use crate::armexpr::Error;
use serde_json::Value;

#[rustfmt::skip]
pub(super) const DEFS: &[FunctionDef] = &[
    def(F, "managementGroup", (0, 0), &[], ANY, Imp::Eager(management_group), "the management group of a management-group deployment (`id`, `name`, `properties`)"),
    def(F, "resourceGroup", (0, 0), &[], ANY, Imp::Eager(resource_group), "the resource group (`id`, `name`, `location`, ...)"),
    def(F, "subscription", (0, 0), &[], ANY, Imp::Eager(subscription), "the subscription (`id`, `subscriptionId`, `tenantId`, ...)"),
    def(F, "tenant", (0, 0), &[], ANY, Imp::Eager(tenant), "the tenant (`tenantId`, `countryCode`, `displayName`)"),
];

fn resource_group(ev: &Evaluator<'_>, _: &str, _: Vec<Value>) -> Result<Value, Error> {
    ev.ctx.resource_group().ok_or_else(|| {
        Error::func(
            "resourceGroup",
            "not available in a subscription-scope deployment",
        )
    })
}

fn subscription(ev: &Evaluator<'_>, _: &str, _: Vec<Value>) -> Result<Value, Error> {
    Ok(ev.ctx.subscription())
}

fn tenant(ev: &Evaluator<'_>, _: &str, _: Vec<Value>) -> Result<Value, Error> {
    Ok(ev.ctx.tenant())
}

/// ARM allows `managementGroup()` only in a deployment at management group scope.
fn management_group(ev: &Evaluator<'_>, _: &str, _: Vec<Value>) -> Result<Value, Error> {
    ev.ctx.management_group().ok_or_else(|| {
        Error::func(
            "managementGroup",
            "can only be used in a management group deployment; this deployment is at subscription or resource group scope",
        )
    })
}
