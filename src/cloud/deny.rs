//! Deny assignments, as deployment stacks create them, and the activity log of the requests they refused.
//!
//! Contract: a stack with `denySettings.mode` other than `none` holds one deny assignment per managed resource
//! in its scope (`Microsoft.Authorization/denyAssignments`, readable with `GET {scope}/providers/
//! Microsoft.Authorization/denyAssignments[/{name}]`). `denyDelete` denies `*/delete`; `denyWriteAndDelete`
//! denies `*` except `*/read`; both leave `Microsoft.Authorization/locks/delete` and the stack's
//! `excludedActions` alone, and apply to the resource's child scopes only with `applyToChildScopes`. A write
//! (PUT, PATCH, a POST action) or a DELETE they deny, by a principal not in `excludedPrincipals` (matched by
//! object id or client id), gets ARM's 403 `DenyAssignmentAuthorizationFailed`, whether it came as a direct
//! request ([`check_request`]) or from a deployment ([`check_deployment_write`]); the stack's own run is
//! exempt from its own assignments. Every refusal is written to the activity log, read with
//! `GET /subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values` ([`activity_log`]).
//! As in Azure, deleting a resource group is not checked against the assignments of the resources inside it
//! (a known issue of deployment stacks); a group a stack manages is protected like any managed resource.

use super::auth::Caller;
use super::errors::ArmError;
use super::http::{self, derived_guid, now_rfc3339, Req};
use super::rbac;
use super::AppState;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{json, Value};

/// Tables of deny assignments and of the activity log (created at startup, kept in the state database).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deny_assignments (
    id TEXT PRIMARY KEY, stack TEXT NOT NULL, scope TEXT NOT NULL, suspended INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deny_assignments_by_stack ON deny_assignments (stack);
CREATE INDEX IF NOT EXISTS deny_assignments_by_scope ON deny_assignments (scope);
CREATE TABLE IF NOT EXISTS activity_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, sub TEXT NOT NULL, ts INTEGER NOT NULL, body TEXT NOT NULL);
";

/// The principal id Azure's deny assignments name for "everyone".
const EVERYONE: &str = "00000000-0000-0000-0000-000000000000";

/// Azure's limits on a stack's deny settings.
pub const MAX_EXCLUDED_PRINCIPALS: usize = 5;
pub const MAX_EXCLUDED_ACTIONS: usize = 200;

/// `denySettings.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyMode {
    None,
    DenyDelete,
    DenyWriteAndDelete,
}

impl DenyMode {
    pub fn parse(s: &str) -> Option<DenyMode> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Some(DenyMode::None),
            "denydelete" => Some(DenyMode::DenyDelete),
            "denywriteanddelete" => Some(DenyMode::DenyWriteAndDelete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DenyMode::None => "none",
            DenyMode::DenyDelete => "denyDelete",
            DenyMode::DenyWriteAndDelete => "denyWriteAndDelete",
        }
    }
}

/// A stack's `denySettings`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenySettings {
    pub mode: DenyMode,
    pub excluded_principals: Vec<String>,
    pub excluded_actions: Vec<String>,
    pub apply_to_child_scopes: bool,
}

impl DenySettings {
    /// As the stack reports them.
    pub fn to_value(&self) -> Value {
        json!({
            "mode": self.mode.as_str(),
            "excludedPrincipals": self.excluded_principals,
            "excludedActions": self.excluded_actions,
            "applyToChildScopes": self.apply_to_child_scopes,
        })
    }

    /// The assignment's permissions: what it denies and what it leaves alone (the excluded actions with those
    /// Azure appends: `*/read` for `denyWriteAndDelete`, `Microsoft.Authorization/locks/delete` for both).
    fn permissions(&self) -> (Vec<String>, Vec<String>) {
        let actions = match self.mode {
            DenyMode::DenyWriteAndDelete => vec!["*".to_string()],
            _ => vec!["*/delete".to_string()],
        };
        let mut not_actions: Vec<String> = Vec::new();
        let appended: &[&str] = match self.mode {
            DenyMode::DenyWriteAndDelete => &["*/read", "Microsoft.Authorization/locks/delete"],
            _ => &["Microsoft.Authorization/locks/delete"],
        };
        for a in self
            .excluded_actions
            .iter()
            .map(String::as_str)
            .chain(appended.iter().copied())
        {
            if !not_actions.iter().any(|x| x.eq_ignore_ascii_case(a)) {
                not_actions.push(a.to_string());
            }
        }
        (actions, not_actions)
    }
}

/// The deny assignment a stack puts on one managed resource.
pub fn assignment(stack_id: &str, resource_id: &str, settings: &DenySettings) -> Value {
    let guid = derived_guid(&format!(
        "deny|{}|{}",
        stack_id.to_lowercase(),
        resource_id.to_lowercase()
    ));
    let (actions, not_actions) = settings.permissions();
    json!({
        "id": format!("{resource_id}/providers/Microsoft.Authorization/denyAssignments/{guid}"),
        "name": guid,
        "type": "Microsoft.Authorization/denyAssignments",
        "properties": {
            "denyAssignmentName": format!("Deny assignment '{guid}' created by Deployment Stack '{stack_id}'."),
            "description": format!("Created by Deployment Stack '{stack_id}'."),
            "permissions": [{
                "actions": actions, "notActions": not_actions, "dataActions": [], "notDataActions": []
            }],
            "scope": resource_id,
            "doNotApplyToChildScopes": !settings.apply_to_child_scopes,
            "principals": [{"id": EVERYONE, "type": "SystemDefined"}],
            "excludePrincipals": settings.excluded_principals.iter()
                .map(|p| json!({"id": p, "type": "ServicePrincipal"})).collect::<Vec<_>>(),
            "isSystemProtected": true,
        }
    })
}

/// Replace a stack's assignments (an update, or none at all when `assignments` is empty).
pub fn replace_for_stack(
    tx: &Transaction<'_>,
    stack_id: &str,
    assignments: &[Value],
) -> Result<(), ArmError> {
    let stack = stack_id.to_lowercase();
    tx.prepare_cached("DELETE FROM deny_assignments WHERE stack = ?1")?
        .execute([&stack])?;
    for a in assignments {
        tx.prepare_cached("INSERT OR REPLACE INTO deny_assignments (id, stack, scope, suspended, body) VALUES (?1, ?2, ?3, 0, ?4)")?.execute(
            params![
                a["id"].as_str().unwrap_or("").to_lowercase(),
                stack,
                a["properties"]["scope"].as_str().unwrap_or("").to_lowercase(),
                a.to_string()
            ],
        )?;
    }
    Ok(())
}

/// A scope was deleted (a resource, or a resource group with everything in it): the deny assignments at and
/// under it go with it, as Azure's do.
pub fn forget_scope(st: &AppState, scope: &str) -> Result<(), ArmError> {
    let s = scope.trim_end_matches('/').to_lowercase();
    st.store.tx(|tx| {
        // `scope >= s/ AND scope < s0` is every scope under `s` (`0` follows `/`), read from the index.
        tx.prepare_cached("DELETE FROM deny_assignments WHERE scope = ?1 OR (scope >= ?1 || '/' AND scope < ?1 || '0')")?.execute(
            [&s],
        )?;
        Ok(())
    })
}

/// While a stack runs, its own assignments do not hold against its deployment.
pub fn suspend_for_stack(st: &AppState, stack_id: &str) -> Result<(), ArmError> {
    st.store.tx(|tx| {
        tx.prepare_cached("UPDATE deny_assignments SET suspended = 1 WHERE stack = ?1")?
            .execute([stack_id.to_lowercase()])?;
        Ok(())
    })
}

/// Assignments whose scope is `target` or above it (and, with `below`, those under it), with whether each is
/// suspended.
fn assignments_around(
    st: &AppState,
    target: &str,
    below: bool,
) -> Result<Vec<(Value, bool)>, ArmError> {
    let t = target.trim_end_matches('/').to_lowercase();
    // The target and every scope above it (each prefix ending at a `/`), looked up one by one in the scope
    // index: a write must not scan every assignment in the cloud (a fleet holds one per managed resource).
    let mut scopes: Vec<&str> = t
        .match_indices('/')
        .map(|(at, _)| &t[..at])
        .filter(|p| !p.is_empty())
        .collect();
    scopes.push(&t);
    st.store.tx(|tx| {
        let mut rows: Vec<(String, String, i64)> = Vec::new();
        let read = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
        let mut at =
            tx.prepare_cached("SELECT id, body, suspended FROM deny_assignments WHERE scope = ?1")?;
        for scope in &scopes {
            for r in at.query_map([scope], read)? {
                rows.push(r?);
            }
        }
        if below {
            let mut under = tx.prepare_cached(
                "SELECT id, body, suspended FROM deny_assignments \
                 WHERE scope >= ?1 || '/' AND scope < ?1 || '0'",
            )?;
            for r in under.query_map([&t], read)? {
                rows.push(r?);
            }
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = Vec::new();
        for (_, body, suspended) in rows {
            out.push((serde_json::from_str(&body)?, suspended != 0));
        }
        Ok(out)
    })
}

/// Whether `pattern` (an action with `*` wildcards) matches `action`, case-insensitively.
fn action_matches(pattern: &str, action: &str) -> bool {
    let (p, a) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == a;
    }
    let mut rest = a.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Whether an assignment denies `action` on `target` to `caller`.
fn denies(assignment: &Value, caller: &Caller, action: &str, target: &str) -> bool {
    let p = &assignment["properties"];
    let scope = p["scope"].as_str().unwrap_or("").to_lowercase();
    let t = target.trim_end_matches('/').to_lowercase();
    let at_scope = t == scope;
    if !at_scope && p["doNotApplyToChildScopes"].as_bool().unwrap_or(false) {
        return false;
    }
    let object_id = rbac::object_id(&caller.client_id);
    let excluded = p["excludePrincipals"].as_array().is_some_and(|ps| {
        ps.iter().filter_map(|x| x["id"].as_str()).any(|id| {
            id.eq_ignore_ascii_case(&object_id) || id.eq_ignore_ascii_case(&caller.client_id)
        })
    });
    if excluded {
        return false;
    }
    let perms = p["permissions"].as_array().cloned().unwrap_or_default();
    perms.iter().any(|perm| {
        let list = |k: &str| -> Vec<String> {
            perm[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        list("actions").iter().any(|a| action_matches(a, action))
            && !list("notActions").iter().any(|a| action_matches(a, action))
    })
}

fn denied_error(caller: &Caller, action: &str, scope: &str, assignment: &Value) -> ArmError {
    let p = &assignment["properties"];
    ArmError::new(
        StatusCode::FORBIDDEN,
        "DenyAssignmentAuthorizationFailed",
        format!(
            "The client '{}' with object id '{}' has permission to perform action '{action}' on scope '{scope}'; however, the access is denied because of the deny assignment with name '{}' and Id '{}' at scope '{}'.",
            caller.client_id,
            rbac::object_id(&caller.client_id),
            p["denyAssignmentName"].as_str().unwrap_or(""),
            assignment["name"].as_str().unwrap_or(""),
            p["scope"].as_str().unwrap_or(""),
        ),
    )
}

/// Check an action on `target` against the deny assignments around it; `skip_suspended` for a deployment
/// (a running stack's own assignments do not hold against it). A refusal is logged.
fn check(
    st: &AppState,
    caller: &Caller,
    method: &Method,
    action: &str,
    target: &str,
    skip_suspended: bool,
) -> Result<(), ArmError> {
    if action.to_ascii_lowercase().ends_with("/read") {
        return Ok(());
    }
    for (a, suspended) in assignments_around(st, target, false)? {
        if suspended && skip_suspended {
            continue;
        }
        if denies(&a, caller, action, target) {
            let e = denied_error(caller, action, target, &a);
            log_denied(st, caller, method, action, target, &e);
            return Err(e);
        }
    }
    Ok(())
}

/// The front door's check of a write, action or delete request (reads are never denied).
pub fn check_request(st: &AppState, caller: &Caller, req: &Req) -> Result<(), ArmError> {
    if matches!(req.method, Method::GET | Method::HEAD) {
        return Ok(());
    }
    let (action, scope) = rbac::action_and_scope(&req.method, &req.segs);
    check(st, caller, &req.method, &action, &scope, false)
}

/// The check of a write or delete a deployment makes for its caller.
pub fn check_deployment_write(
    st: &AppState,
    caller: &Caller,
    method: &Method,
    id: &str,
) -> Result<(), ArmError> {
    let (action, scope) = rbac::action_and_scope(method, &rbac::id_segments(id));
    check(st, caller, method, &action, &scope, true)
}

// ---- the activity log

fn localized(v: &str) -> Value {
    json!({"value": v, "localizedValue": v})
}

/// Write a refused request to the activity log, as Azure's administrative log records it. A failure to log
/// must not change the answer the caller gets.
fn log_denied(
    st: &AppState,
    caller: &Caller,
    method: &Method,
    action: &str,
    target: &str,
    error: &ArmError,
) {
    let segs: Vec<&str> = target.split('/').filter(|s| !s.is_empty()).collect();
    let sub = if segs
        .first()
        .is_some_and(|s| s.eq_ignore_ascii_case("subscriptions"))
    {
        segs.get(1).copied().unwrap_or("")
    } else {
        ""
    };
    let rg = (segs
        .get(2)
        .is_some_and(|s| s.eq_ignore_ascii_case("resourcegroups")))
    .then(|| segs.get(3).copied())
    .flatten()
    .unwrap_or("");
    let provider = action.split('/').next().unwrap_or("");
    let resource_type = action.rsplit_once('/').map_or(action, |(t, _)| t);
    let now = time::OffsetDateTime::now_utc();
    let ts = now_rfc3339();
    let event = uuid::Uuid::new_v4().to_string();
    let ticks = now.unix_timestamp_nanos() / 100 + 621_355_968_000_000_000;
    let body = json!({
        "authorization": {"action": action, "scope": target},
        "caller": rbac::object_id(&caller.client_id),
        "claims": {"appid": caller.client_id, "tid": caller.tenant_id},
        "correlationId": uuid::Uuid::new_v4().to_string(),
        "description": "",
        "eventDataId": event,
        "eventName": {"value": "EndRequest", "localizedValue": "End request"},
        "category": localized("Administrative"),
        "eventTimestamp": ts,
        "id": format!("{target}/events/{event}/ticks/{ticks}"),
        "level": "Error",
        "operationId": uuid::Uuid::new_v4().to_string(),
        "operationName": localized(action),
        "resourceGroupName": rg,
        "resourceProviderName": localized(provider),
        "resourceType": localized(resource_type),
        "resourceId": target,
        "status": localized("Failed"),
        "subStatus": {"value": "Forbidden", "localizedValue": "Forbidden (HTTP Status Code: 403)"},
        "submissionTimestamp": ts,
        "subscriptionId": sub,
        "tenantId": caller.tenant_id,
        "properties": {
            "statusCode": "Forbidden",
            "statusMessage": json!({"error": error.to_value()}).to_string(),
            "eventCategory": "Administrative",
            "message": action,
        },
        "httpRequest": {"clientIpAddress": "127.0.0.1", "method": method.as_str()},
    });
    let _ = st.store.tx(|tx| {
        tx.prepare_cached("INSERT INTO activity_log (sub, ts, body) VALUES (?1, ?2, ?3)")?
            .execute(params![
                sub.to_lowercase(),
                now.unix_timestamp_nanos() as i64,
                body.to_string()
            ])?;
        Ok(())
    });
}

/// A `$filter` of the activity log: `eventTimestamp ge '...'` (required, as Azure requires it) and optionally
/// `eventTimestamp le '...'`, `resourceGroupName eq '...'`, `resourceUri eq '...'` (or `resourceId`),
/// `resourceProvider eq '...'`, `correlationId eq '...'`, `caller eq '...'`, `status eq '...'`, joined by `and`.
#[derive(Debug, Default)]
struct LogFilter {
    from: Option<i128>,
    to: Option<i128>,
    equals: Vec<(String, String)>,
}

fn bad_filter(message: String) -> ArmError {
    ArmError::bad_request("BadRequest", message)
}

fn parse_time(s: &str) -> Option<i128> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp_nanos())
}

fn parse_log_filter(raw: Option<&String>) -> Result<LogFilter, ArmError> {
    let Some(raw) = raw else {
        return Err(bad_filter(
            "The $filter query parameter is required: give at least eventTimestamp ge '<start time>'.".into(),
        ));
    };
    let clause = regex::Regex::new(
        r"(?i)^\s*(eventTimestamp|resourceGroupName|resourceUri|resourceId|resourceProvider|correlationId|caller|status)\s+(ge|le|eq)\s+'((?:[^']|'')*)'\s*$",
    )
    .map_err(|e| ArmError::internal(e.to_string()))?;
    let and = regex::Regex::new(r"(?i)\s+and\s+").map_err(|e| ArmError::internal(e.to_string()))?;
    let mut f = LogFilter::default();
    for part in and.split(raw) {
        let Some(c) = clause.captures(part) else {
            return Err(bad_filter(format!(
                "The $filter '{raw}' is not supported: clause '{}' is not one of eventTimestamp ge|le '<time>', resourceGroupName, resourceUri, resourceId, resourceProvider, correlationId, caller or status eq '<value>', joined by 'and'.",
                part.trim()
            )));
        };
        let (field, op, value) = (
            c[1].to_ascii_lowercase(),
            c[2].to_ascii_lowercase(),
            c[3].replace("''", "'"),
        );
        match (field.as_str(), op.as_str()) {
            ("eventtimestamp", "ge" | "le") => {
                let t = parse_time(&value).ok_or_else(|| {
                    bad_filter(format!(
                        "The time '{value}' in $filter is not a valid date-time (expected e.g. 2026-12-04T10:00:00Z)."
                    ))
                })?;
                if op == "ge" {
                    f.from = Some(t);
                } else {
                    f.to = Some(t);
                }
            }
            ("eventtimestamp", _) => {
                return Err(bad_filter(format!(
                    "eventTimestamp takes ge or le in $filter, not '{op}'."
                )))
            }
            (_, "eq") => f.equals.push((field, value)),
            _ => {
                return Err(bad_filter(format!(
                    "{field} takes eq in $filter, not '{op}'."
                )))
            }
        }
    }
    if f.from.is_none() {
        return Err(bad_filter(format!(
            "The $filter '{raw}' must give eventTimestamp ge '<start time>'."
        )));
    }
    Ok(f)
}

impl LogFilter {
    fn matches(&self, e: &Value) -> bool {
        self.equals.iter().all(|(field, want)| {
            let got = match field.as_str() {
                "resourcegroupname" => e["resourceGroupName"].as_str(),
                "resourceuri" | "resourceid" => e["resourceId"].as_str(),
                "resourceprovider" => e["resourceProviderName"]["value"].as_str(),
                "correlationid" => e["correlationId"].as_str(),
                "caller" => e["caller"].as_str(),
                _ => e["status"]["value"].as_str(),
            };
            got.is_some_and(|g| g.eq_ignore_ascii_case(want))
        })
    }
}

/// `GET /subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values`: the activity log's
/// entries for the subscription (the requests deny assignments refused), newest first, as Azure lists them.
pub fn activity_log(st: &AppState, req: &Req, sub: &str) -> Result<Response, ArmError> {
    if req.method != Method::GET {
        return Err(http::method_not_allowed(req));
    }
    let f = parse_log_filter(req.query.get("$filter"))?;
    let from = f.from.unwrap_or(i128::MIN);
    let to = f.to.unwrap_or(i128::MAX);
    let rows: Vec<(i64, String)> = st.store.tx(|tx| {
        let mut q = tx
            .prepare_cached("SELECT ts, body FROM activity_log WHERE sub = ?1 ORDER BY seq DESC")?;
        let rows = q.query_map([sub.to_lowercase()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    })?;
    let mut items = Vec::new();
    for (ts, body) in rows {
        let ts = i128::from(ts);
        if ts < from || ts > to {
            continue;
        }
        let v: Value = serde_json::from_str(&body)?;
        if f.matches(&v) {
            items.push(v);
        }
    }
    http::page(st, req, items)
}

// ---- reading deny assignments

/// `{scope}/providers/Microsoft.Authorization/denyAssignments[/{name}]`: list (at, above and below the
/// scope; with `$filter=atScope()` at and above only) or get one. Deny assignments are read-only.
pub fn route(
    st: &AppState,
    req: &Req,
    scope: &str,
    name: Option<&str>,
) -> Result<Response, ArmError> {
    if req.method != Method::GET {
        return Err(ArmError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "Deny assignments are read-only: they are created and removed by deployment stacks.",
        ));
    }
    if let Some(name) = name {
        let found: Option<String> = st.store.tx(|tx| {
            Ok(tx
                .prepare_cached(
                    "SELECT body FROM deny_assignments WHERE id LIKE ?1 ESCAPE '\\' LIMIT 1",
                )?
                .query_row(
                    [format!(
                        "%/providers/microsoft.authorization/denyassignments/{}",
                        name.to_lowercase().replace('%', "\\%").replace('_', "\\_")
                    )],
                    |r| r.get(0),
                )
                .optional()?)
        })?;
        return match found {
            Some(b) => Ok(http::json_body(&serde_json::from_str(&b)?)),
            None => Err(ArmError::not_found(
                "DenyAssignmentNotFound",
                format!("The deny assignment '{name}' could not be found at scope '{scope}'."),
            )),
        };
    }
    let filter = req
        .query
        .get("$filter")
        .map(|f| f.trim().to_ascii_lowercase());
    let below = match filter.as_deref() {
        None | Some("") => true,
        Some("atscope()") => false,
        Some(other) => {
            return Err(ArmError::bad_request(
                "InvalidFilter",
                format!("The $filter '{other}' is not supported for deny assignments: use atScope() or none."),
            ))
        }
    };
    let items = assignments_around(st, scope, below)?
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    http::page(st, req, items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(id: &str) -> Caller {
        Caller {
            client_id: id.into(),
            tenant_id: "t".into(),
        }
    }

    fn settings(mode: DenyMode, excluded: &[&str], actions: &[&str], child: bool) -> DenySettings {
        DenySettings {
            mode,
            excluded_principals: excluded.iter().map(|s| (*s).to_string()).collect(),
            excluded_actions: actions.iter().map(|s| (*s).to_string()).collect(),
            apply_to_child_scopes: child,
        }
    }

    const RES: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1";

    #[test]
    fn wildcards_match_actions_as_azure_reads_them() {
        assert!(action_matches(
            "*",
            "Microsoft.Storage/storageAccounts/write"
        ));
        assert!(action_matches(
            "*/delete",
            "Microsoft.Storage/storageAccounts/delete"
        ));
        assert!(!action_matches(
            "*/delete",
            "Microsoft.Storage/storageAccounts/write"
        ));
        assert!(action_matches(
            "microsoft.storage/*/listkeys/action",
            "Microsoft.Storage/storageAccounts/listKeys/action"
        ));
        assert!(!action_matches(
            "Microsoft.Storage/storageAccounts/write",
            "Microsoft.Storage/storageAccounts/delete"
        ));
    }

    #[test]
    fn deny_delete_refuses_deletes_only_and_spares_excluded_principals_and_actions() {
        let s = settings(DenyMode::DenyDelete, &["deployer"], &[], false);
        let a = assignment("/stack", RES, &s);
        let admin = caller("trust-admin");
        assert!(denies(
            &a,
            &admin,
            "Microsoft.Storage/storageAccounts/delete",
            RES
        ));
        assert!(!denies(
            &a,
            &admin,
            "Microsoft.Storage/storageAccounts/write",
            RES
        ));
        assert!(!denies(
            &a,
            &caller("deployer"),
            "Microsoft.Storage/storageAccounts/delete",
            RES
        ));
        // By object id too.
        let oid = rbac::object_id("ops");
        let a = assignment(
            "/stack",
            RES,
            &settings(DenyMode::DenyDelete, &[&oid], &[], false),
        );
        assert!(!denies(
            &a,
            &caller("ops"),
            "Microsoft.Storage/storageAccounts/delete",
            RES
        ));
        assert!(!denies(
            &a,
            &admin,
            "Microsoft.Authorization/locks/delete",
            RES
        ));
    }

    #[test]
    fn deny_write_and_delete_leaves_reads_and_excluded_actions_and_child_scopes_by_setting() {
        let s = settings(
            DenyMode::DenyWriteAndDelete,
            &[],
            &["Microsoft.Storage/storageAccounts/listKeys/action"],
            false,
        );
        let a = assignment("/stack", RES, &s);
        let admin = caller("trust-admin");
        assert!(denies(
            &a,
            &admin,
            "Microsoft.Storage/storageAccounts/write",
            RES
        ));
        assert!(!denies(
            &a,
            &admin,
            "Microsoft.Storage/storageAccounts/read",
            RES
        ));
        assert!(!denies(
            &a,
            &admin,
            "Microsoft.Storage/storageAccounts/listKeys/action",
            RES
        ));
        let child = format!("{RES}/blobServices/default");
        assert!(!denies(
            &a,
            &admin,
            "Microsoft.Storage/storageAccounts/blobServices/write",
            &child
        ));
        let s = settings(DenyMode::DenyWriteAndDelete, &[], &[], true);
        let a = assignment("/stack", RES, &s);
        assert!(denies(
            &a,
            &admin,
            "Microsoft.Storage/storageAccounts/blobServices/write",
            &child
        ));
        assert_eq!(
            a["properties"]["permissions"][0]["notActions"],
            json!(["*/read", "Microsoft.Authorization/locks/delete"])
        );
    }

    #[test]
    fn the_activity_log_filter_needs_a_start_time_and_reads_azures_clauses() {
        assert!(parse_log_filter(None).is_err());
        assert!(parse_log_filter(Some(&"resourceGroupName eq 'rg'".to_string())).is_err());
        let f = parse_log_filter(Some(
            &"eventTimestamp ge '2026-12-01T00:00:00Z' and eventTimestamp le '2026-12-31' and resourceGroupName eq 'rg-a'"
                .to_string(),
        ))
        .unwrap();
        assert!(f.from.unwrap() < f.to.unwrap());
        assert!(f.matches(&json!({"resourceGroupName": "RG-A"})));
        assert!(!f.matches(&json!({"resourceGroupName": "rg-b"})));
        let e = parse_log_filter(Some(&"eventTimestamp ge 'yesterday'".to_string())).unwrap_err();
        assert!(e.message.contains("'yesterday'"), "{}", e.message);
    }
}
