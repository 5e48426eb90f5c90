//! Microsoft.PolicyInsights in the local cloud: the compliance states [`super::policy::evaluate_subscription`]
//! stored, served as Microsoft's `azure-mgmt-policyinsights` SDK calls them (api-version 2019-10-01).
//!
//! Contract:
//! - `POST {scope}/providers/Microsoft.PolicyInsights/policyStates/{latest|default}/queryResults` and
//!   `.../summarize` at a management group (the subscriptions beneath it), a subscription, a resource group,
//!   a resource, a subscription's or group's policy assignment, or a subscription's policy definition or
//!   initiative. `$filter` takes OData comparisons (`eq`, `ne`) of a state's fields joined by `and`, `or`,
//!   `not` and parentheses; `$select`, `$orderby`, `$top` and `$skiptoken` (with `@odata.nextLink`) are
//!   honoured; `$apply` is refused with a clear error (the local cloud does not aggregate).
//! - `POST /subscriptions/{s}[/resourceGroups/{rg}]/providers/Microsoft.PolicyInsights/policyStates/latest/
//!   triggerEvaluation` is a long-running operation (202, `Location`) that re-evaluates the subscription.
//! - Only the latest evaluation is kept: `$from`/`$to` are accepted and do not select older ones.

use super::errors::ArmError;
use super::http::{
    accepted_location, finish_operation, json_body, method_not_allowed, new_operation, no_route,
    Req,
};
use super::AppState;
use axum::http::Method;
use axum::response::Response;
use serde_json::{json, Map, Value};
use std::sync::Arc;

const API_VERSIONS: [&str; 3] = ["2018-04-04", "2019-10-01", "2024-10-01"];

/// What a query's scope selects.
enum Scope {
    /// A management group: the states of the subscriptions beneath it.
    Subscriptions(Vec<String>),
    Subscription(String),
    Under(String),
    Assignment(String),
    Definition {
        sub: String,
        field: &'static str,
        name: String,
    },
}

impl Scope {
    fn subscription(&self) -> Option<&str> {
        match self {
            Scope::Subscription(s) | Scope::Definition { sub: s, .. } => Some(s),
            Scope::Under(id) | Scope::Assignment(id) => id.split('/').nth(2),
            Scope::Subscriptions(_) => None,
        }
    }

    fn selects(&self, state: &Value) -> bool {
        let s = |k: &str| state[k].as_str().unwrap_or_default();
        match self {
            Scope::Subscription(_) => true,
            Scope::Subscriptions(subs) => subs
                .iter()
                .any(|sub| sub.eq_ignore_ascii_case(s("subscriptionId"))),
            Scope::Under(id) => crate::policy::model::is_under(s("resourceId"), id),
            Scope::Assignment(id) => s("policyAssignmentId").eq_ignore_ascii_case(id),
            Scope::Definition { field, name, .. } => s(field).eq_ignore_ascii_case(name),
        }
    }
}

/// `{scope}/providers/Microsoft.PolicyInsights/...`: `at` is the index of `providers`.
pub async fn route(st: &Arc<AppState>, req: &Req, at: usize) -> Result<Response, ArmError> {
    let rest: Vec<&str> = req.lower[at + 2..].iter().map(String::as_str).collect();
    super::management_groups::check_api_version(req, &API_VERSIONS)?;
    let (resource, action) = match rest.as_slice() {
        ["policystates", resource, action] => (*resource, *action),
        _ => return Err(no_route(req)),
    };
    if req.method != Method::POST {
        return Err(method_not_allowed(req));
    }
    let scope = scope_of(st, req, at)?;
    if action == "triggerevaluation" {
        let Some(sub) = scope.subscription().map(str::to_string) else {
            return Err(no_route(req));
        };
        if resource != "latest" {
            return Err(no_route(req));
        }
        return trigger(st, req, sub);
    }
    if !matches!(resource, "latest" | "default") {
        return Err(ArmError::bad_request(
            "InvalidPolicyStatesResource",
            format!("The policy states resource '{resource}' is not valid: expected 'latest' or 'default'."),
        ));
    }
    let mut states = st.store.policy_states(scope.subscription())?;
    states.retain(|s| scope.selects(s));
    if let Some(f) = req.query.get("$filter") {
        let filter = Filter::parse(f)?;
        states.retain(|s| filter.eval(s));
    }
    match action {
        "queryresults" => query_results(st, req, at, states),
        "summarize" => summarize(st, req, at, &states),
        _ => Err(no_route(req)),
    }
}

fn scope_of(st: &AppState, req: &Req, at: usize) -> Result<Scope, ArmError> {
    let l: Vec<&str> = req.lower[..at].iter().map(String::as_str).collect();
    let seg = |i: usize| req.segs[i].clone();
    let id = format!("/{}", req.segs[..at].join("/"));
    Ok(match l.as_slice() {
        ["providers", "microsoft.management", "managementgroups", _] => {
            Scope::Subscriptions(super::management_groups::subscriptions_under(st, &id)?)
        }
        ["subscriptions", _] => Scope::Subscription(seg(1)),
        ["subscriptions", _, "providers", "microsoft.authorization", "policyassignments", _]
        | ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.authorization", "policyassignments", _] => {
            Scope::Assignment(id)
        }
        ["subscriptions", _, "providers", "microsoft.authorization", "policydefinitions", _] => {
            Scope::Definition {
                sub: seg(1),
                field: "policyDefinitionName",
                name: seg(5),
            }
        }
        ["subscriptions", _, "providers", "microsoft.authorization", "policysetdefinitions", _] => {
            Scope::Definition {
                sub: seg(1),
                field: "policySetDefinitionName",
                name: seg(5),
            }
        }
        ["subscriptions", _, ..] => Scope::Under(id),
        _ => return Err(no_route(req)),
    })
}

fn context(st: &AppState, req: &Req, at: usize, what: &str) -> String {
    format!(
        "{}/{}/providers/Microsoft.PolicyInsights/policyStates/$metadata#{what}",
        st.base_url(),
        req.segs[..at].join("/")
    )
}

fn query_results(
    st: &AppState,
    req: &Req,
    at: usize,
    mut states: Vec<Value>,
) -> Result<Response, ArmError> {
    if req.query.contains_key("$apply") {
        return Err(ArmError::bad_request(
            "InvalidApplyClause",
            "The local cloud does not evaluate $apply (aggregations); query the states and aggregate them yourself.",
        ));
    }
    if let Some(order) = req.query.get("$orderby") {
        let keys: Vec<(String, bool)> = order
            .split(',')
            .map(|k| {
                let mut it = k.split_whitespace();
                let f = it.next().unwrap_or_default().to_string();
                let desc = it.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
                (f, desc)
            })
            .collect();
        states.sort_by(|a, b| {
            for (f, desc) in &keys {
                let o = field(a, f).to_string().cmp(&field(b, f).to_string());
                let o = if *desc { o.reverse() } else { o };
                if o.is_ne() {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    let skip = match req.query.get("$skiptoken") {
        Some(s) => s.parse::<usize>().map_err(|_| {
            ArmError::bad_request(
                "InvalidSkipToken",
                format!("The skip token '{s}' is invalid."),
            )
        })?,
        None => 0,
    };
    let top = match req.query.get("$top") {
        Some(t) => Some(t.parse::<usize>().map_err(|_| {
            ArmError::bad_request(
                "InvalidTopInQueryString",
                format!("The value '{t}' of $top is invalid: a non-negative integer is expected."),
            )
        })?),
        None => None,
    };
    let total = states.len();
    // Azure pages by 1,000 rows whatever $top says, and $top bounds the whole result.
    let limit = top.unwrap_or(total).min(total);
    let end = (skip + 1000).min(limit);
    let select: Option<Vec<String>> = req
        .query
        .get("$select")
        .map(|s| s.split(',').map(|f| f.trim().to_string()).collect());
    let value: Vec<Value> = states
        .into_iter()
        .skip(skip)
        .take(end.saturating_sub(skip))
        .map(|mut s| {
            if let (Some(sel), Some(obj)) = (&select, s.as_object_mut()) {
                obj.retain(|k, _| {
                    k.starts_with('@') || sel.iter().any(|f| f.eq_ignore_ascii_case(k))
                });
            }
            s
        })
        .collect();
    let mut out = json!({
        "@odata.context": context(st, req, at, "latest"),
        "@odata.count": value.len(),
        "value": value,
    });
    if end < limit {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &req.query {
            if k != "$skiptoken" {
                q.append_pair(k, v);
            }
        }
        q.append_pair("$skiptoken", &end.to_string());
        out["@odata.nextLink"] = json!(format!(
            "{}/{}?{}",
            st.base_url(),
            req.segs.join("/"),
            q.finish()
        ));
    }
    Ok(json_body(&out))
}

fn field<'v>(state: &'v Value, name: &str) -> &'v Value {
    state
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .unwrap_or(&Value::Null)
}

/// Counts of resources or policies per compliance state, as `[{complianceState, count}]`.
fn details(counts: &std::collections::BTreeMap<&str, usize>) -> Value {
    json!(counts
        .iter()
        .map(|(s, n)| json!({"complianceState": s, "count": n}))
        .collect::<Vec<_>>())
}

/// Azure's precedence when one thing has several states: non-compliant over compliant over the rest.
fn worst<'a>(a: &'a str, b: &'a str) -> &'a str {
    let rank = |s: &str| match s {
        "NonCompliant" => 4,
        "Compliant" => 3,
        "Protected" => 2,
        "Exempt" => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Summary results of a set of states: non-compliant resources and policies, and per-state counts of
/// resources, policies and groups.
fn results(states: &[&Value], query_uri: String) -> Value {
    use std::collections::{BTreeMap, BTreeSet};
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_ascii_lowercase();
    let mut per_resource: BTreeMap<String, &str> = BTreeMap::new();
    let mut per_policy: BTreeMap<(String, String), &str> = BTreeMap::new();
    let mut per_group: BTreeMap<(String, String), &str> = BTreeMap::new();
    let mut noncompliant_resources = BTreeSet::new();
    for st in states {
        let state = st["complianceState"].as_str().unwrap_or("Unknown");
        let r = per_resource.entry(s(st, "resourceId")).or_insert(state);
        *r = worst(r, state);
        let key = (
            s(st, "policyAssignmentId"),
            s(st, "policyDefinitionReferenceId") + &s(st, "policyDefinitionId"),
        );
        let p = per_policy.entry(key).or_insert(state);
        *p = worst(p, state);
        for g in st["policyDefinitionGroupNames"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let key = (
                s(st, "policyAssignmentId"),
                g.as_str().unwrap_or_default().to_ascii_lowercase(),
            );
            let e = per_group.entry(key).or_insert(state);
            *e = worst(e, state);
        }
        if state == "NonCompliant" {
            noncompliant_resources.insert(s(st, "resourceId"));
        }
    }
    fn count(m: Vec<&str>) -> BTreeMap<&str, usize> {
        let mut c = BTreeMap::new();
        for s in m {
            *c.entry(s).or_insert(0) += 1;
        }
        c
    }
    let policy_counts = count(per_policy.values().copied().collect());
    json!({
        "queryResultsUri": query_uri,
        "nonCompliantResources": noncompliant_resources.len(),
        "nonCompliantPolicies": policy_counts.get("NonCompliant").copied().unwrap_or(0),
        "resourceDetails": details(&count(per_resource.values().copied().collect())),
        "policyDetails": details(&policy_counts),
        "policyGroupDetails": details(&count(per_group.values().copied().collect())),
    })
}

fn summarize(st: &AppState, req: &Req, at: usize, states: &[Value]) -> Result<Response, ArmError> {
    let top = match req.query.get("$top") {
        Some(t) => t.parse::<usize>().map_err(|_| {
            ArmError::bad_request(
                "InvalidTopInQueryString",
                format!("The value '{t}' of $top is invalid: a non-negative integer is expected."),
            )
        })?,
        None => usize::MAX,
    };
    let base = format!(
        "{}/{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?api-version={}",
        st.base_url(),
        req.segs[..at].join("/"),
        req.api_version()
    );
    let all: Vec<&Value> = states.iter().collect();
    let mut assignments: Map<String, Value> = Map::new();
    let mut order: Vec<String> = Vec::new();
    for s in states {
        let id = s["policyAssignmentId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !assignments.contains_key(&id.to_ascii_lowercase()) {
            order.push(id.clone());
            assignments.insert(id.to_ascii_lowercase(), json!(null));
        }
    }
    let mut summaries = Vec::new();
    for id in order.into_iter().take(top) {
        let mine: Vec<&Value> = all
            .iter()
            .copied()
            .filter(|s| {
                s["policyAssignmentId"]
                    .as_str()
                    .is_some_and(|a| a.eq_ignore_ascii_case(&id))
            })
            .collect();
        let set = mine
            .first()
            .map(|s| s["policySetDefinitionId"].clone())
            .unwrap_or(json!(""));
        let mut refs: Vec<(String, String)> = Vec::new();
        let mut groups: Vec<String> = Vec::new();
        for s in &mine {
            let r = (
                s["policyDefinitionId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                s["policyDefinitionReferenceId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            if !refs.contains(&r) {
                refs.push(r);
            }
            for g in s["policyDefinitionGroupNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !groups.iter().any(|x| x == g) {
                    groups.push(g.to_string());
                }
            }
        }
        let filter_uri = |extra: &str| {
            format!(
                "{base}&$filter={}",
                urlencode(&format!("policyAssignmentId eq '{id}'{extra}"))
            )
        };
        let definitions: Vec<Value> = refs
            .iter()
            .map(|(def, reference)| {
                let of: Vec<&Value> = mine
                    .iter()
                    .copied()
                    .filter(|s| {
                        s["policyDefinitionId"].as_str() == Some(def.as_str())
                            && s["policyDefinitionReferenceId"].as_str() == Some(reference.as_str())
                    })
                    .collect();
                let first = of.first().copied().unwrap_or(&Value::Null);
                json!({
                    "policyDefinitionId": def,
                    "policyDefinitionReferenceId": reference,
                    "policyDefinitionGroupNames": first["policyDefinitionGroupNames"],
                    "effect": first["policyDefinitionAction"],
                    "results": results(&of, filter_uri(&format!(" and policyDefinitionId eq '{def}' and policyDefinitionReferenceId eq '{reference}'"))),
                })
            })
            .collect();
        let group_summaries: Vec<Value> = groups
            .iter()
            .map(|g| {
                let of: Vec<&Value> = mine
                    .iter()
                    .copied()
                    .filter(|s| {
                        s["policyDefinitionGroupNames"]
                            .as_array()
                            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(g.as_str())))
                    })
                    .collect();
                json!({"policyGroupName": g, "results": results(&of, filter_uri(""))})
            })
            .collect();
        summaries.push(json!({
            "policyAssignmentId": id,
            "policySetDefinitionId": set,
            "results": results(&mine, filter_uri("")),
            "policyDefinitions": definitions,
            "policyGroups": group_summaries,
        }));
    }
    Ok(json_body(&json!({
        "@odata.context": context(st, req, at, "summary"),
        "@odata.count": 1,
        "value": [{
            "@odata.id": null,
            "@odata.context": context(st, req, at, "summary/$entity"),
            "results": results(&all, base),
            "policyAssignments": summaries,
        }],
    })))
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An on-demand evaluation scan: 202 with `Location`; the operation finishes once the subscription is
/// evaluated (after the configured operation duration, as other long-running operations).
fn trigger(st: &Arc<AppState>, req: &Req, sub: String) -> Result<Response, ArmError> {
    let op = new_operation(st, "policy-evaluation", &sub)?;
    let st2 = Arc::clone(st);
    let op2 = op.clone();
    let sub2 = sub.clone();
    st.spawn(async move {
        tokio::time::sleep(st2.config.lro).await;
        let st3 = Arc::clone(&st2);
        let result =
            tokio::task::spawn_blocking(move || super::policy::evaluate_subscription(&st3, &sub2))
                .await;
        let _ = match result {
            Ok(Ok(_)) => finish_operation(&st2, &op2, "Succeeded", 200, None),
            Ok(Err(e)) => finish_operation(
                &st2,
                &op2,
                "Failed",
                500,
                Some(json!({"error": e.to_value()})),
            ),
            Err(_) => finish_operation(&st2, &op2, "Failed", 500, None),
        };
    });
    Ok(accepted_location(st, &sub, &op, req.api_version()))
}

/// A parsed OData `$filter`: comparisons of a state's fields joined by `and`, `or`, `not`.
#[derive(Debug)]
enum Filter {
    Cmp {
        field: String,
        equal: bool,
        value: Value,
    },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

impl Filter {
    fn parse(text: &str) -> Result<Filter, ArmError> {
        let tokens = tokenize(text).ok_or_else(|| bad_filter(text, "an unterminated string"))?;
        let mut p = Parser {
            tokens: &tokens,
            at: 0,
            text,
        };
        let f = p.or()?;
        if p.at != tokens.len() {
            return Err(bad_filter(text, &format!("unexpected '{}'", tokens[p.at])));
        }
        Ok(f)
    }

    fn eval(&self, state: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.eval(state) && b.eval(state),
            Filter::Or(a, b) => a.eval(state) || b.eval(state),
            Filter::Not(a) => !a.eval(state),
            Filter::Cmp {
                field: f,
                equal,
                value,
            } => {
                let actual = field(state, f);
                let same = match (actual, value) {
                    (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
                    (a, b) => a == b,
                };
                same == *equal
            }
        }
    }
}

fn bad_filter(text: &str, why: &str) -> ArmError {
    ArmError::bad_request(
        "InvalidFilterInQueryString",
        format!("The $filter '{text}' is not valid: {why}. The local cloud takes comparisons (Field eq 'value', ne) joined by and, or, not and parentheses."),
    )
}

fn tokenize(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' || c == ')' {
            out.push(c.to_string());
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut s = String::from("'");
            loop {
                match chars.next()? {
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        s.push('\'');
                    }
                    '\'' => break,
                    ch => s.push(ch),
                }
            }
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '(' || ch == ')' {
                    break;
                }
                s.push(ch);
                chars.next();
            }
            out.push(s);
        }
    }
    Some(out)
}

struct Parser<'t> {
    tokens: &'t [String],
    at: usize,
    text: &'t str,
}

impl Parser<'_> {
    fn peek_word(&self, w: &str) -> bool {
        self.tokens
            .get(self.at)
            .is_some_and(|t| t.eq_ignore_ascii_case(w))
    }

    fn or(&mut self) -> Result<Filter, ArmError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ArmError> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ArmError> {
        if self.peek_word("not") {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.peek_word("(") {
            self.at += 1;
            let f = self.or()?;
            if !self.peek_word(")") {
                return Err(bad_filter(self.text, "a missing ')'"));
            }
            self.at += 1;
            return Ok(f);
        }
        let (Some(field), Some(op), Some(lit)) = (
            self.tokens.get(self.at),
            self.tokens.get(self.at + 1),
            self.tokens.get(self.at + 2),
        ) else {
            return Err(bad_filter(self.text, "a comparison is incomplete"));
        };
        let equal = match op.to_ascii_lowercase().as_str() {
            "eq" => true,
            "ne" => false,
            other => {
                return Err(bad_filter(
                    self.text,
                    &format!("the operator '{other}' is not supported"),
                ))
            }
        };
        let value = if let Some(s) = lit.strip_prefix('\'') {
            json!(s)
        } else if lit.eq_ignore_ascii_case("true") || lit.eq_ignore_ascii_case("false") {
            json!(lit.eq_ignore_ascii_case("true"))
        } else if let Ok(n) = lit.parse::<f64>() {
            json!(n)
        } else {
            return Err(bad_filter(self.text, &format!("'{lit}' is not a literal")));
        };
        self.at += 3;
        Ok(Filter::Cmp {
            field: field.clone(),
            equal,
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compare_fields_case_insensitively_with_and_or_not() {
        let s = json!({"complianceState": "NonCompliant", "resourceType": "Microsoft.Storage/storageAccounts", "isCompliant": false});
        let t = |f: &str| Filter::parse(f).unwrap().eval(&s);
        assert!(t("ComplianceState eq 'noncompliant'"));
        assert!(!t("complianceState ne 'NonCompliant'"));
        assert!(t("complianceState eq 'Compliant' or (resourceType eq 'microsoft.storage/storageaccounts' and isCompliant eq false)"));
        assert!(t("not (complianceState eq 'Compliant')"));
        assert!(Filter::parse("complianceState gt 'x'").is_err());
        assert!(Filter::parse("complianceState eq 'x").is_err());
        assert!(Filter::parse("(complianceState eq 'x'").is_err());
    }
}
