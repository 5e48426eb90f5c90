//! Deployment functions (Microsoft's "Deployment functions for ARM templates").

use super::kinds::{ANY, S};
use super::Family::Deployment as F;
use super::{def, str_at, FunctionDef, Imp};
use crate::armexpr::eval::Evaluator;
use crate::armexpr::Error;
use serde_json::Value;

#[rustfmt::skip]
pub(super) const DEFS: &[FunctionDef] = &[
    def(F, "deployer", (0, 0), &[], ANY, Imp::Eager(deployer), "`{objectId, tenantId, userPrincipalName}` of who deploys"),
    def(F, "deployment", (0, 0), &[], ANY, Imp::Eager(deployment), "the current deployment (`name`, `properties`)"),
    def(F, "environment", (0, 0), &[], ANY, Imp::Eager(environment), "the cloud's endpoints (public Azure)"),
    def(F, "parameters", (1, 1), &[S], ANY, Imp::Eager(parameters), "a parameter's value (name in any case)"),
    def(F, "variables", (1, 1), &[S], ANY, Imp::Eager(variables), "a variable's value, evaluated once (name in any case)"),
];

fn deployer(ev: &Evaluator<'_>, _: &str, _: Vec<Value>) -> Result<Value, Error> {
    Ok(ev.ctx.deployer())
}

fn deployment(ev: &Evaluator<'_>, _: &str, _: Vec<Value>) -> Result<Value, Error> {
    Ok(ev.ctx.deployment())
}

fn environment(ev: &Evaluator<'_>, _: &str, _: Vec<Value>) -> Result<Value, Error> {
    Ok(ev.ctx.environment())
}

fn parameters(ev: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let p = str_at(&args, 0);
    if ev.scope.is_unknown(p) {
        return Err(Error::NotYetKnown {
            what: format!("parameter '{p}'"),
        });
    }
    ev.scope
        .parameter(p)
        .cloned()
        .ok_or_else(|| Error::func("parameters", format!("the template has no parameter '{p}'")))
}

fn variables(ev: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    ev.variable(str_at(&args, 0))
}
