//! Azure Policy in the local cloud, evaluated by trustprint's one policy engine ([`crate::policy`]).
//!
//! Contract:
//! - Built-in definitions and initiatives (the ones trustprint ships: both UK initiatives, every definition they
//!   reference, and a few assigned beside them) are present at
//!   `/providers/Microsoft.Authorization/policyDefinitions/{name}` and `policySetDefinitions/{name}` (GET,
//!   list). Custom definitions and initiatives are PUT at a subscription or a management group.
//! - Assignments and exemptions are stored at a management group, a subscription or a resource group. Those
//!   at a subscription or group are ordinary resources (a deployment can create them); those at a management
//!   group are kept beside them and act on the subscriptions beneath it (and its child groups,
//!   [`super::management_groups`]); a subscription placed in no group is beneath the tenant root group only. A management group in `notScopes` excludes the subscriptions beneath it.
//! - A write (a direct PUT or PATCH, and every write a deployment makes) inside an assignment's scope, outside
//!   its `notScopes`, with `enforcementMode` `Default` and no exemption, is first changed by the `modify` and
//!   `append` policies that match it, then refused with 403 `RequestDisallowedByPolicy` by the first `deny`
//!   policy that matches it, as Azure orders effects. A DELETE matching a `denyAction` policy whose
//!   `actionNames` hold `delete` is refused the same way.
//! - [`evaluate_subscription`] evaluates every assignment covering a subscription over its resources, groups
//!   and itself, and stores the compliance states Microsoft.PolicyInsights serves (`policyinsights`): after
//!   each deployment and on `triggerEvaluation`.

use super::errors::ArmError;
use super::AppState;
use crate::policy::condition::Subject;
use crate::policy::evaluate::{self as engine_eval, Prepared};
use crate::policy::model::{Assignment, Definition, Enforcement, Exemption, Initiative};
use crate::policy::{Effect, Library, Reason, State};
use axum::http::StatusCode;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

pub const DEFINITIONS: &str = "Microsoft.Authorization/policyDefinitions";
pub const SET_DEFINITIONS: &str = "Microsoft.Authorization/policySetDefinitions";
pub const ASSIGNMENTS: &str = "Microsoft.Authorization/policyAssignments";
pub const EXEMPTIONS: &str = "Microsoft.Authorization/policyExemptions";

/// Is this one of Azure Policy's own resource types?
pub fn is_policy_type(resource_type: &str) -> bool {
    [DEFINITIONS, SET_DEFINITIONS, ASSIGNMENTS, EXEMPTIONS]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(resource_type))
}

/// The built-in definitions and initiatives as ARM returns them, by lower-case name.
struct Builtins {
    definitions: Vec<Value>,
    sets: Vec<Value>,
}

fn builtins() -> &'static Builtins {
    static B: OnceLock<Builtins> = OnceLock::new();
    B.get_or_init(|| {
        let shape = |mut v: Value, ty: &str| {
            let name = v["name"].as_str().unwrap_or_default().to_string();
            v["id"] = json!(format!("/providers/{ty}/{name}"));
            v["type"] = json!(ty);
            v["properties"]["policyType"] = json!("BuiltIn");
            v
        };
        let definitions = Library::definitions_json()
            .into_iter()
            .map(|v| shape(v, DEFINITIONS))
            .collect();
        let sets = crate::policy::data::INITIATIVES
            .iter()
            .filter_map(|(short, _)| Library::initiative_json(short))
            .map(|v| shape(v, SET_DEFINITIONS))
            .collect();
        Builtins { definitions, sets }
    })
}

/// A built-in definition (`DEFINITIONS`) or initiative (`SET_DEFINITIONS`) by name.
pub fn builtin(resource_type: &str, name: &str) -> Option<Value> {
    let b = builtins();
    let list = if resource_type.eq_ignore_ascii_case(SET_DEFINITIONS) {
        &b.sets
    } else {
        &b.definitions
    };
    list.iter()
        .find(|v| {
            v["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .cloned()
}

/// Every built-in of a type, sorted by name.
pub fn builtins_of(resource_type: &str) -> Vec<Value> {
    let b = builtins();
    if resource_type.eq_ignore_ascii_case(SET_DEFINITIONS) {
        b.sets.clone()
    } else {
        b.definitions.clone()
    }
}

/// The names of every built-in definition and initiative Azure has (April 2026), shipped or not.
const CATALOG: &str = include_str!("../../data/azure-policy/builtins/catalog.tsv");

/// Is this the id of a built-in Azure has but trustprint does not ship? An assignment of one is accepted
/// and stored, as Azure would, but not evaluated.
fn unshipped_builtin(id: &str) -> bool {
    let lower = id.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("/providers/microsoft.authorization/") else {
        return false;
    };
    let Some((kind, name)) = rest.split_once('/') else {
        return false;
    };
    CATALOG.lines().any(|l| {
        l.split_once('\t')
            .is_some_and(|(k, n)| k.eq_ignore_ascii_case(kind) && n.eq_ignore_ascii_case(name))
    })
}

fn is_mg_scoped(id: &str) -> bool {
    id.to_ascii_lowercase()
        .starts_with("/providers/microsoft.management/managementgroups/")
}

/// The scope an extension resource of Microsoft.Authorization is created at: its id before
/// `/providers/Microsoft.Authorization/`.
pub fn scope_of(id: &str) -> &str {
    let lower = id.to_ascii_lowercase();
    match lower.rfind("/providers/microsoft.authorization/") {
        Some(at) => &id[..at],
        None => "",
    }
}

/// A definition or initiative by its full id: built-in, at a subscription or at a management group.
pub fn find(st: &AppState, id: &str) -> Result<Option<Value>, ArmError> {
    let lower = id.to_ascii_lowercase();
    let ty = if lower.contains("/policysetdefinitions/") {
        SET_DEFINITIONS
    } else if lower.contains("/policydefinitions/") {
        DEFINITIONS
    } else {
        return Ok(None);
    };
    let name = id.rsplit('/').next().unwrap_or_default();
    if lower.starts_with("/providers/microsoft.authorization/") {
        return Ok(builtin(ty, name));
    }
    if is_mg_scoped(id) {
        return st.store.get_scoped(id);
    }
    st.store.get_resource(id)
}

fn not_found(ty: &str, id: &str) -> ArmError {
    let (code, what) = if ty.eq_ignore_ascii_case(SET_DEFINITIONS) {
        ("PolicySetDefinitionNotFound", "policy set definition")
    } else {
        ("PolicyDefinitionNotFound", "policy definition")
    };
    ArmError::not_found(code, format!("The {what} '{id}' could not be found."))
}

/// Validate a policy resource's write and fill in what Azure fills in (policy type, defaults, scope).
/// `id` is the resource's canonical id; `props` its `properties`.
pub fn complete(
    st: &AppState,
    resource_type: &str,
    id: &str,
    props: &mut Value,
) -> Result<(), ArmError> {
    let bad = |code: &str, m: String| ArmError::bad_request(code, m);
    if resource_type.eq_ignore_ascii_case(DEFINITIONS) {
        let def =
            Definition::from_json(&json!({"name": id.rsplit('/').next(), "properties": props}))
                .map_err(|e| {
                    bad(
                        "InvalidPolicyRule",
                        format!("Failed to parse the policy definition: {e}."),
                    )
                })?;
        engine_eval::prepare_definition(&def, reference_of(&def), default_params(&def)).map_err(
            |e| {
                bad(
                    "InvalidPolicyRule",
                    format!("The policy definition is not valid: {e}."),
                )
            },
        )?;
        props["policyType"] = json!("Custom");
        if props.get("mode").is_none() {
            props["mode"] = json!("Indexed");
        }
    } else if resource_type.eq_ignore_ascii_case(SET_DEFINITIONS) {
        let refs = props["policyDefinitions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if refs.is_empty() {
            return Err(bad(
                "InvalidPolicySetDefinitionRequest",
                "The policy set definition must have at least one policy definition in properties.policyDefinitions.".into(),
            ));
        }
        for (i, r) in refs.iter().enumerate() {
            let Some(def) = r["policyDefinitionId"].as_str() else {
                return Err(bad(
                    "InvalidPolicySetDefinitionRequest",
                    format!("properties.policyDefinitions[{i}].policyDefinitionId is required."),
                ));
            };
            if find(st, def)?.is_none() && !unshipped_builtin(def) {
                return Err(not_found(DEFINITIONS, def));
            }
        }
        props["policyType"] = json!("Custom");
    } else if resource_type.eq_ignore_ascii_case(ASSIGNMENTS) {
        let Some(def_id) = props["policyDefinitionId"].as_str().map(str::to_string) else {
            return Err(bad(
                "InvalidCreatePolicyAssignmentRequest",
                "The policy assignment must have properties.policyDefinitionId.".into(),
            ));
        };
        let ty = if def_id
            .to_ascii_lowercase()
            .contains("/policysetdefinitions/")
        {
            SET_DEFINITIONS
        } else {
            DEFINITIONS
        };
        let def = match find(st, &def_id)? {
            Some(d) => d,
            None if unshipped_builtin(&def_id) => json!({"id": def_id, "properties": {}}),
            None => return Err(not_found(ty, &def_id)),
        };
        let declared = def["properties"]["parameters"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let given = props["parameters"].as_object().cloned().unwrap_or_default();
        // An unshipped built-in's parameters are unknown here: they are taken as given.
        let known = def["properties"].get("policyRule").is_some()
            || def["properties"].get("policyDefinitions").is_some();
        for name in given.keys().filter(|_| known) {
            if !declared.keys().any(|k| k.eq_ignore_ascii_case(name)) {
                return Err(bad(
                    "UndefinedPolicyParameter",
                    format!(
                        "The policy assignment '{}' has the parameter '{name}' which is not defined in the policy definition '{def_id}'.",
                        id.rsplit('/').next().unwrap_or_default()
                    ),
                ));
            }
        }
        for (name, decl) in &declared {
            if decl.get("defaultValue").is_none()
                && !given.keys().any(|k| k.eq_ignore_ascii_case(name))
            {
                return Err(bad(
                    "MissingPolicyParameter",
                    format!("The policy assignment is missing the parameter '{name}' the policy definition '{def_id}' requires."),
                ));
            }
        }
        match props["enforcementMode"].as_str() {
            None => props["enforcementMode"] = json!("Default"),
            Some(m)
                if m.eq_ignore_ascii_case("Default") || m.eq_ignore_ascii_case("DoNotEnforce") => {}
            Some(m) => {
                return Err(bad(
                    "InvalidCreatePolicyAssignmentRequest",
                    format!(
                        "The enforcementMode '{m}' is not valid: expected Default or DoNotEnforce."
                    ),
                ))
            }
        }
        props["scope"] = json!(scope_of(id));
        if props.get("notScopes").is_none() {
            props["notScopes"] = json!([]);
        }
        if props.get("parameters").is_none() {
            props["parameters"] = json!({});
        }
        props["policyDefinitionId"] = def["id"].clone();
    } else if resource_type.eq_ignore_ascii_case(EXEMPTIONS) {
        let Some(aid) = props["policyAssignmentId"].as_str() else {
            return Err(bad(
                "InvalidCreatePolicyExemptionRequest",
                "The policy exemption must have properties.policyAssignmentId.".into(),
            ));
        };
        let exists = if is_mg_scoped(aid) {
            st.store.get_scoped(aid)?
        } else {
            st.store.get_resource(aid)?
        };
        if exists.is_none() {
            return Err(ArmError::not_found(
                "PolicyAssignmentNotFound",
                format!("The policy assignment '{aid}' could not be found."),
            ));
        }
        match props["exemptionCategory"].as_str() {
            Some(c) if c.eq_ignore_ascii_case("Waiver") || c.eq_ignore_ascii_case("Mitigated") => {}
            other => {
                return Err(bad(
                    "InvalidCreatePolicyExemptionRequest",
                    format!(
                    "The exemptionCategory {other:?} is not valid: expected Waiver or Mitigated."
                ),
                ))
            }
        }
    }
    if let Some(p) = props.as_object_mut() {
        p.remove("provisioningState");
    }
    Ok(())
}

fn reference_of(def: &Definition) -> crate::policy::Reference {
    Initiative::single(def).references.remove(0)
}

fn default_params(def: &Definition) -> Map<String, Value> {
    def.parameters
        .iter()
        .map(|(k, d)| {
            (
                k.clone(),
                d.get("defaultValue").cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// The assignments (or exemptions, `ty`) that may cover resources of a subscription: its own, its resource
/// groups', and those of the management groups above it ([`super::management_groups`]), not of others.
fn stored(st: &AppState, sub: &str, ty: &str) -> Result<Vec<Value>, ArmError> {
    let mut v = st.store.resources_of_type(sub, ty)?;
    let scoped = st.store.scoped_of_type(ty)?;
    // Every write asks: read the hierarchy only when some management group has one.
    if !scoped.is_empty() {
        let above = super::management_groups::ancestors_of_subscription(st, sub)?;
        v.extend(scoped.into_iter().filter(|a| {
            let scope = scope_of(a["id"].as_str().unwrap_or_default());
            above.iter().any(|mg| mg.eq_ignore_ascii_case(scope))
        }));
    }
    Ok(v)
}

/// What an assignment takes from its definition or initiative: the policies, the library they come from and
/// the ids to report. The same for every assignment of one definition, so a built-in's is made once.
struct Definitions {
    library: Cow<'static, Library>,
    initiative: Initiative,
    /// The initiative as stored, when the assignment is of one.
    set: Option<Value>,
    /// Definition names (lower case) to their full ids.
    definition_ids: Map<String, Value>,
    /// When every definition is a built-in: a digest of the definition or initiative (for a built-in, its id:
    /// built-ins never change), to share prepared policies between requests.
    digest: Option<String>,
}

/// One stored assignment, ready for the engine.
struct Compiled {
    body: Value,
    assignment: Assignment,
    defs: Arc<Definitions>,
    /// When every definition is a built-in: a digest of what its prepared policies depend on (the definition
    /// or initiative, and the assignment's parameters), to share them between requests.
    shared_key: Option<String>,
}

/// The prepared policies of one assignment: shared between requests when they are all built-ins, else
/// borrowed from the assignment's own library.
enum PreparedSet<'a> {
    Shared(Arc<Vec<Prepared<'static>>>),
    Own(Vec<Prepared<'a>>),
}

impl<'a> std::ops::Deref for PreparedSet<'a> {
    type Target = [Prepared<'a>];
    fn deref(&self) -> &[Prepared<'a>] {
        match self {
            PreparedSet::Shared(v) => v,
            PreparedSet::Own(v) => v,
        }
    }
}

/// Built-in assignments prepared once: every write a fleet makes (one per resource) meets the same few
/// assignments, and preparing an initiative of 45 policies for each was most of a deployment's time.
fn prepared_cache() -> &'static Mutex<HashMap<String, Arc<Vec<Prepared<'static>>>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Vec<Prepared<'static>>>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// How many prepared assignments the cache keeps before it starts again (each holds one initiative's policies).
const PREPARED_CACHE_ENTRIES: usize = 64;

impl Compiled {
    fn id(&self) -> &str {
        self.body["id"].as_str().unwrap_or_default()
    }

    fn library(&self) -> &Library {
        &self.defs.library
    }

    fn set(&self) -> Option<&Value> {
        self.defs.set.as_ref()
    }

    fn prepared(&self) -> Result<PreparedSet<'_>, ArmError> {
        let failed = |e: crate::policy::Error| policy_failed(self.id(), &e.to_string());
        let (Some(key), Cow::Borrowed(library)) = (&self.shared_key, &self.defs.library) else {
            return engine_eval::prepare_initiative(
                self.library(),
                &self.defs.initiative,
                &self.assignment,
            )
            .map(PreparedSet::Own)
            .map_err(failed);
        };
        let cache = prepared_cache();
        if let Some(hit) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
            return Ok(PreparedSet::Shared(hit.clone()));
        }
        let fresh = Arc::new(
            engine_eval::prepare_initiative(library, &self.defs.initiative, &self.assignment)
                .map_err(failed)?,
        );
        let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= PREPARED_CACHE_ENTRIES {
            map.clear();
        }
        map.insert(key.clone(), fresh.clone());
        Ok(PreparedSet::Shared(fresh))
    }

    fn definition_id(&self, name: &str) -> String {
        self.defs
            .definition_ids
            .get(&name.to_ascii_lowercase())
            .and_then(Value::as_str)
            .map_or_else(
                || format!("/providers/{DEFINITIONS}/{name}"),
                str::to_string,
            )
    }
}

fn policy_failed(assignment: &str, message: &str) -> ArmError {
    ArmError::bad_request(
        "PolicyEvaluationFailed",
        format!("The policy assignment '{assignment}' could not be evaluated: {message}"),
    )
}

fn is_builtin_id(id: &str) -> bool {
    id.to_ascii_lowercase()
        .starts_with("/providers/microsoft.authorization/")
}

/// The definitions of an assignment of `def_id` (`id` is the assignment's, for errors): for a built-in, made
/// once and shared (every write of a fleet meets the same built-in initiative); else read and parsed again.
/// `None` for a built-in trustprint does not ship.
fn definitions(
    st: &AppState,
    id: &str,
    def_id: &str,
) -> Result<Option<Arc<Definitions>>, ArmError> {
    if !is_builtin_id(def_id) {
        return match find(st, def_id)? {
            Some(def) => definitions_of(st, id, def_id, def).map(|d| Some(Arc::new(d))),
            None => Err(policy_failed(
                id,
                &format!("its definition {def_id} no longer exists"),
            )),
        };
    }
    type Cache = Mutex<HashMap<String, Arc<Definitions>>>;
    static BUILTIN: OnceLock<Cache> = OnceLock::new();
    let key = def_id.to_ascii_lowercase();
    let cache = BUILTIN.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(Some(hit.clone()));
    }
    let def = match find(st, def_id)? {
        Some(d) => d,
        None if unshipped_builtin(def_id) => return Ok(None),
        None => {
            return Err(policy_failed(
                id,
                &format!("its definition {def_id} no longer exists"),
            ))
        }
    };
    let fresh = Arc::new(definitions_of(st, id, def_id, def)?);
    // Built-ins are a fixed, small set: the cache holds at most one entry each.
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, fresh.clone());
    Ok(Some(fresh))
}

/// Parse definition or initiative `def` (of id `def_id`) for the engine, reading the custom definitions an
/// initiative references.
fn definitions_of(
    st: &AppState,
    id: &str,
    def_id: &str,
    def: Value,
) -> Result<Definitions, ArmError> {
    let builtin_lib = Library::builtin();
    let mut custom = Vec::new();
    let mut definition_ids = Map::new();
    let (initiative, set) = if def_id
        .to_ascii_lowercase()
        .contains("/policysetdefinitions/")
    {
        for r in def["properties"]["policyDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let rid = r["policyDefinitionId"].as_str().unwrap_or_default();
            let name = rid.rsplit('/').next().unwrap_or_default();
            definition_ids.insert(name.to_ascii_lowercase(), json!(rid));
            if !rid.to_ascii_lowercase().starts_with("/providers/") || is_mg_scoped(rid) {
                let v = find(st, rid)?.ok_or_else(|| {
                    policy_failed(id, &format!("its definition {rid} no longer exists"))
                })?;
                custom.push(
                    Definition::from_json(&v).map_err(|e| policy_failed(id, &e.to_string()))?,
                );
            }
        }
        let mut i = Initiative::from_json(&def, builtin_lib.titles())
            .map_err(|e| policy_failed(id, &e.to_string()))?;
        // Members that are built-ins trustprint does not ship are left out of the evaluation.
        i.references.retain(|r| {
            builtin_lib.definition(&r.definition).is_some()
                || custom
                    .iter()
                    .any(|d: &Definition| d.name.eq_ignore_ascii_case(&r.definition))
        });
        (i, Some(def.clone()))
    } else {
        let d = Definition::from_json(&def).map_err(|e| policy_failed(id, &e.to_string()))?;
        definition_ids.insert(d.name.to_ascii_lowercase(), json!(def_id));
        let i = Initiative::single(&d);
        if builtin_lib.definition(&d.name).is_none() || !is_builtin_id(def_id) {
            custom.push(d);
        }
        (i, None)
    };
    // A digest, not the text: a custom initiative may be megabytes, and the cache holds 64 keys. A built-in
    // is known by its id.
    let digest = custom.is_empty().then(|| {
        if is_builtin_id(def_id) {
            format!("builtin:{}", def_id.to_ascii_lowercase())
        } else {
            crate::hash::sha256(&[def.to_string().as_bytes()])
        }
    });
    let library = if custom.is_empty() {
        Cow::Borrowed(builtin_lib)
    } else {
        Cow::Owned(Library::with_definitions(custom))
    };
    Ok(Definitions {
        library,
        initiative,
        set,
        definition_ids,
        digest,
    })
}

/// An assignment ready for the engine, as it acts on subscription `sub`; `None` for an assignment of a
/// built-in trustprint does not ship.
fn compile(
    st: &AppState,
    sub: &str,
    body: Value,
    exemptions: &[Value],
) -> Result<Option<Compiled>, ArmError> {
    let id = body["id"].as_str().unwrap_or_default().to_string();
    let props = &body["properties"];
    let def_id = props["policyDefinitionId"].as_str().unwrap_or_default();
    let Some(defs) = definitions(st, &id, def_id)? else {
        return Ok(None);
    };
    let shared_key = defs.digest.as_ref().map(|d| {
        crate::hash::sha256(&[
            d.as_bytes(),
            b"\0",
            props["parameters"].to_string().as_bytes(),
        ])
    });
    let now = time::OffsetDateTime::now_utc();
    let exemptions = exemptions
        .iter()
        .filter(|x| {
            x["properties"]["policyAssignmentId"]
                .as_str()
                .is_some_and(|a| a.eq_ignore_ascii_case(&id))
        })
        .filter(|x| {
            x["properties"]["expiresOn"]
                .as_str()
                .and_then(|e| {
                    time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .is_none_or(|e| e > now)
        })
        .map(|x| Exemption {
            name: x["name"].as_str().unwrap_or_default().to_string(),
            scope: scope_of(x["id"].as_str().unwrap_or_default()).to_string(),
            category: x["properties"]["exemptionCategory"]
                .as_str()
                .unwrap_or("Waiver")
                .to_string(),
            reference_ids: x["properties"]["policyDefinitionReferenceIds"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let assignment = Assignment {
        name: body["name"].as_str().unwrap_or_default().to_string(),
        scope: scope_of(&id).to_string(),
        not_scopes: not_scopes(st, sub, strings(&props["notScopes"]))?,
        enforcement: if props["enforcementMode"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("DoNotEnforce"))
        {
            Enforcement::DoNotEnforce
        } else {
            Enforcement::Default
        },
        parameters: props["parameters"].as_object().cloned().unwrap_or_default(),
        exemptions,
    };
    Ok(Some(Compiled {
        body,
        assignment,
        defs,
        shared_key,
    }))
}

/// An assignment's `notScopes` as they act on subscription `sub`: a management group the subscription is
/// beneath excludes the whole subscription (the engine knows no hierarchy); one it is not beneath, nothing.
fn not_scopes(st: &AppState, sub: &str, scopes: Vec<String>) -> Result<Vec<String>, ArmError> {
    let subscription = format!("/subscriptions/{sub}");
    let mut out = Vec::with_capacity(scopes.len());
    for s in scopes {
        if !crate::policy::model::is_management_group(&s) {
            out.push(s);
        } else if super::management_groups::is_descendant(st, &subscription, &s)? {
            out.push(subscription.clone());
        }
    }
    Ok(out)
}

/// A resource's stored (or requested) body as a rule sees it.
pub fn subject(id: &str, resource_type: &str, body: &Value) -> Subject {
    let full_name = match id.to_ascii_lowercase().rfind("/providers/") {
        Some(at) => id[at + "/providers/".len()..]
            .split('/')
            .skip(2)
            .step_by(2)
            .collect::<Vec<_>>()
            .join("/"),
        None => id.rsplit('/').next().unwrap_or_default().to_string(),
    };
    let resource_type =
        crate::policy::condition::type_of_id(id).unwrap_or_else(|| resource_type.to_string());
    Subject {
        id: id.to_string(),
        type_value: json!(resource_type),
        resource_type,
        api_version: String::new(),
        name: id.rsplit('/').next().unwrap_or_default().to_string(),
        full_name,
        location: body["location"]
            .as_str()
            .map(super::catalog::normalize_location),
        tags: body["tags"].as_object().cloned(),
        body: body.clone(),
    }
}

/// The assignments that act on a request for `id` in subscription `sub`: covering it and enforced.
fn enforced(st: &AppState, sub: &str, id: &str) -> Result<Vec<Compiled>, ArmError> {
    let assignments = stored(st, sub, ASSIGNMENTS)?;
    if assignments.is_empty() {
        return Ok(Vec::new());
    }
    let exemptions = stored(st, sub, EXEMPTIONS)?;
    let mut out = Vec::new();
    for a in assignments {
        let props = &a["properties"];
        let enforced = !props["enforcementMode"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("DoNotEnforce"));
        let scope = scope_of(a["id"].as_str().unwrap_or_default());
        let in_scope = crate::policy::model::is_management_group(scope)
            || crate::policy::model::is_under(id, scope);
        if !enforced || !in_scope {
            continue;
        }
        // A definition is validated when stored; one deleted since leaves its assignment with nothing to
        // enforce (it shows in the next evaluation's error instead of failing every write).
        let Ok(Some(c)) = compile(st, sub, a, &exemptions) else {
            continue;
        };
        if c.assignment.covers(id) {
            out.push(c);
        }
    }
    Ok(out)
}

fn applies(p: &Prepared<'_>, c: &Compiled, s: &Subject) -> bool {
    (!p.definition.mode.eq_ignore_ascii_case("Indexed") || engine_eval::indexed(s))
        && c.assignment
            .exemption(&p.reference.reference_id, &s.id)
            .is_none()
}

/// What the assignments covering a write do to it: `modify` and `append` change `body`, then a `deny` refuses
/// it. `resource_type` is the catalogue's type; `body` the request as it will be stored (location included).
pub fn on_write(
    st: &AppState,
    sub: &str,
    id: &str,
    resource_type: &str,
    body: &mut Value,
) -> Result<(), ArmError> {
    if is_policy_type(resource_type) {
        return Ok(());
    }
    let compiled = enforced(st, sub, id)?;
    if compiled.is_empty() {
        return Ok(());
    }
    for c in &compiled {
        for p in c
            .prepared()?
            .iter()
            .filter(|p| matches!(p.effect, Effect::Modify | Effect::Append))
        {
            let s = subject(id, resource_type, body);
            if !applies(p, c, &s) {
                continue;
            }
            if let Ok(Some((_, ops))) = engine_eval::on_request(c.library(), p, &s) {
                crate::policy::effect::apply(body, &ops, &c.library().aliases).map_err(|e| {
                    policy_failed(
                        c.id(),
                        &format!("{} of {}: {e}", p.effect, p.definition.name),
                    )
                })?;
            }
        }
    }
    let s = subject(id, resource_type, body);
    for c in &compiled {
        for p in c.prepared()?.iter().filter(|p| p.effect == Effect::Deny) {
            if !applies(p, c, &s) {
                continue;
            }
            if let Ok(Some((reasons, _))) = engine_eval::on_request(c.library(), p, &s) {
                return Err(disallowed(c, p, &s, &reasons));
            }
        }
    }
    Ok(())
}

/// Types Azure never protects with `denyAction` (to prevent lockouts).
const DENY_ACTION_EXEMPT: [&str; 6] = [
    "Microsoft.Authorization/policyAssignments",
    "Microsoft.Authorization/denyAssignments",
    "Microsoft.Blueprint/blueprintAssignments",
    "Microsoft.Resources/deploymentStacks",
    "Microsoft.Resources/subscriptions",
    "Microsoft.Authorization/locks",
];

/// A DELETE of a stored resource: refused when a `denyAction` policy with `delete` in its `actionNames`
/// matches it.
pub fn on_delete(st: &AppState, sub: &str, id: &str, stored: &Value) -> Result<(), ArmError> {
    let ty = stored["type"].as_str().unwrap_or_default();
    if DENY_ACTION_EXEMPT
        .iter()
        .any(|t| t.eq_ignore_ascii_case(ty))
    {
        return Ok(());
    }
    let s = subject(id, ty, stored);
    for c in &enforced(st, sub, id)? {
        for p in c
            .prepared()?
            .iter()
            .filter(|p| p.effect == Effect::DenyAction)
        {
            let deletes = p.details["actionNames"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|n| n.as_str().is_some_and(|n| n.eq_ignore_ascii_case("delete")))
            });
            if !deletes || !applies(p, c, &s) {
                continue;
            }
            if let Ok(Some((reasons, _))) = engine_eval::on_request(c.library(), p, &s) {
                return Err(disallowed(c, p, &s, &reasons));
            }
        }
    }
    Ok(())
}

/// ARM's 403 `RequestDisallowedByPolicy`, with the policy's identifiers in the message and a
/// `PolicyViolation` in `additionalInfo`.
fn disallowed(c: &Compiled, p: &Prepared<'_>, s: &Subject, reasons: &[Reason]) -> ArmError {
    let props = &c.body["properties"];
    let aid = c.id();
    let aname = c.body["name"].as_str().unwrap_or_default();
    let adisplay = props["displayName"].as_str().unwrap_or(aname);
    let def_id = c.definition_id(&p.definition.name);
    let mut ids = json!({
        "policyAssignment": {"name": adisplay, "id": aid},
        "policyDefinition": {"name": p.definition.display_name, "id": def_id},
    });
    let mut info = json!({
        "evaluationDetails": {"evaluatedExpressions": reasons.iter().map(expression).collect::<Vec<_>>()},
        "policyDefinitionId": def_id,
        "policyDefinitionName": p.definition.name,
        "policyDefinitionDisplayName": p.definition.display_name,
        "policyDefinitionVersion": p.definition.version,
        "policyDefinitionEffect": p.effect.to_string(),
        "policyAssignmentId": aid,
        "policyAssignmentName": aname,
        "policyAssignmentDisplayName": adisplay,
        "policyAssignmentScope": c.assignment.scope,
        "policyAssignmentParameters": props["parameters"],
        "policyExemptionIds": [],
    });
    if let Some(set) = c.set() {
        let set_display = set["properties"]["displayName"]
            .as_str()
            .unwrap_or_default();
        ids["policySetDefinition"] =
            json!({"name": set_display, "id": set["id"], "version": set["properties"]["version"]});
        info["policySetDefinitionId"] = set["id"].clone();
        info["policySetDefinitionName"] = set["name"].clone();
        info["policySetDefinitionDisplayName"] = json!(set_display);
        info["policySetDefinitionVersion"] = set["properties"]["version"].clone();
        info["policyDefinitionReferenceId"] = json!(p.reference.reference_id);
    }
    ArmError::new(
        StatusCode::FORBIDDEN,
        "RequestDisallowedByPolicy",
        format!(
            "Resource '{}' was disallowed by policy. Policy identifiers: '{}'.",
            s.name,
            json!([ids])
        ),
    )
    .with_target(s.name.clone())
    .with_info(json!({"type": "PolicyViolation", "info": info}))
}

/// A reason as ARM's `evaluatedExpressions` entry.
fn expression(r: &Reason) -> Value {
    let kind = if r.field.starts_with("count") {
        "Count"
    } else if r.field == "value" {
        "Value"
    } else {
        "Field"
    };
    json!({
        "result": "True",
        "expressionKind": kind,
        "expression": r.field,
        "path": r.field,
        "expressionValue": r.actual,
        "targetValue": r.expected,
        "operator": r.condition,
    })
}

/// What the last evaluation of a subscription in this process saw, for the next to reuse: the digest of
/// everything but the resources that its states depend on (the assignments, their definitions, parameters,
/// exemptions, `notScopes`, the management groups above), the mark it left in the store, and a digest of each
/// subject (id, type and body) it evaluated.
#[derive(Default)]
pub struct Memo {
    context: String,
    run: String,
    /// Lower-case id to (digest, lower-case type).
    subjects: HashMap<String, (String, String)>,
    /// How many (subject, policy) pairs the evaluation judged; the rest it reused (for tests).
    #[cfg_attr(not(test), allow(dead_code))]
    judged: usize,
}

/// Does a policy's condition read the clock (`utcNow()`)? Then no state of it is ever reused.
fn reads_the_clock(p: &Prepared<'_>) -> bool {
    p.condition
        .to_string()
        .to_ascii_lowercase()
        .contains("utcnow")
}

/// [`reads_the_clock`] of each of an assignment's policies, worked out once per shared prepared set.
fn clock_readers(c: &Compiled, prepared: &[Prepared<'_>]) -> Arc<Vec<bool>> {
    type Cache = Mutex<HashMap<String, Arc<Vec<bool>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let work = || Arc::new(prepared.iter().map(reads_the_clock).collect::<Vec<_>>());
    let Some(key) = &c.shared_key else {
        return work();
    };
    let mut map = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if map.len() >= PREPARED_CACHE_ENTRIES && !map.contains_key(key) {
        map.clear();
    }
    map.entry(key.clone()).or_insert_with(work).clone()
}

/// Evaluate every assignment covering subscription `sub` over its resources, resource groups and itself, and
/// store the states (replacing the previous evaluation's). Returns how many states were stored.
///
/// Incremental, with the same states as evaluating everything: when nothing but resources changed since this
/// process last evaluated the subscription (same assignments, definitions, parameters, exemptions and
/// hierarchy, and the store still holds that evaluation's states), a resource whose body is unchanged keeps
/// its states under every policy that judges a resource by itself alone; the rest are evaluated again.
pub fn evaluate_subscription(st: &AppState, sub: &str) -> Result<usize, ArmError> {
    let memo_key = sub.to_ascii_lowercase();
    let previous = st
        .policy_memo
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&memo_key);
    let timestamp = super::http::now_rfc3339();
    let run = uuid::Uuid::new_v4().to_string();
    let assignments = stored(st, sub, ASSIGNMENTS)?;
    if assignments.is_empty() {
        st.store
            .replace_policy_states(sub, &HashMap::new(), &timestamp, &run)?;
        return Ok(0);
    }
    let exemptions = stored(st, sub, EXEMPTIONS)?;
    let mut subjects: Vec<Subject> = Vec::new();
    let mut bodies: HashMap<String, Value> = Default::default();
    let mut digests: HashMap<String, (String, String)> = Default::default();
    for body in st
        .store
        .list_rgs(sub)?
        .into_iter()
        .chain(st.store.list_resources(sub, None)?)
    {
        let id = body["id"].as_str().unwrap_or_default().to_string();
        let ty = body["type"].as_str().unwrap_or_default().to_string();
        if is_policy_type(&ty) {
            continue;
        }
        let digest = crate::hash::sha256(&[
            id.as_bytes(),
            b"\0",
            ty.as_bytes(),
            b"\0",
            body.to_string().as_bytes(),
        ]);
        let s = subject(&id, &ty, &body);
        digests.insert(
            id.to_ascii_lowercase(),
            (digest, s.resource_type.to_ascii_lowercase()),
        );
        subjects.push(s);
        bodies.insert(id.to_ascii_lowercase(), body);
    }
    subjects.push(Subject::subscription(sub));
    // `managementGroupIds`: the groups above the subscription, nearest first, as Azure lists them.
    let groups = super::management_groups::ancestors_of_subscription(st, sub)?
        .iter()
        .filter_map(|id| super::management_groups::name_of(id).map(str::to_string))
        .collect::<Vec<_>>()
        .join(",");
    let mut compiled = Vec::new();
    for a in assignments {
        if let Some(c) = compile(st, sub, a, &exemptions)? {
            compiled.push(c);
        }
    }
    // The context: an assignment of custom definitions (no shared key) is read afresh each time, so it is
    // never reused.
    let mut context = vec![groups.clone()];
    let mut reusable = true;
    for c in &compiled {
        reusable &= c.shared_key.is_some();
        context.push(c.body.to_string());
        context.push(c.shared_key.clone().unwrap_or_default());
        context.push(format!("{:?}", c.assignment));
    }
    let context = crate::hash::sha256(&context.iter().map(String::as_bytes).collect::<Vec<_>>());
    let previous = previous.filter(|m| {
        reusable
            && m.context == context
            && st.store.policy_run(sub).ok().flatten().as_deref() == Some(m.run.as_str())
    });
    // Which subjects keep their states, and the stored states they keep.
    let (keep, old_states): (Vec<bool>, HashMap<String, String>) = match &previous {
        Some(m) => (
            subjects
                .iter()
                .map(|s| {
                    let id = s.id.to_ascii_lowercase();
                    // The subscription's subject is made from its id alone.
                    digests.get(&id).map_or(
                        s.resource_type
                            .eq_ignore_ascii_case("Microsoft.Resources/subscriptions"),
                        |d| m.subjects.get(&id).is_some_and(|m| m.0 == d.0),
                    )
                })
                .collect(),
            st.store.policy_state_rows(sub)?,
        ),
        None => (vec![false; subjects.len()], HashMap::new()),
    };
    let changed: Vec<Subject> = subjects
        .iter()
        .zip(&keep)
        .filter(|(_, k)| !**k)
        .map(|(s, _)| s.clone())
        .collect();
    // The types of the resources added, changed or removed: an `ifNotExists` policy whose related type is one
    // of them judges every resource again.
    let mut changed_types: std::collections::HashSet<String> = changed
        .iter()
        .map(|s| s.resource_type.to_ascii_lowercase())
        .collect();
    if let Some(m) = &previous {
        changed_types.extend(
            m.subjects
                .iter()
                .filter(|(id, _)| !digests.contains_key(*id))
                .map(|(_, (_, ty))| ty.clone()),
        );
    }
    let mut states: HashMap<String, String> = HashMap::new();
    let mut judged = 0;
    // The policies (assignment id, reference id, lower case) that judged every subject again.
    let mut again_all: std::collections::HashSet<(String, String)> = Default::default();
    for c in &compiled {
        let prepared = c.prepared()?;
        let clock = clock_readers(c, &prepared);
        for (p, reads_the_clock) in prepared.iter().zip(clock.iter()) {
            let related_changed = p.effect.if_not_exists()
                && p.details
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| changed_types.contains(&t.to_ascii_lowercase()));
            let again = previous.is_none() || *reads_the_clock || related_changed;
            let over: &[Subject] = if again { &subjects } else { &changed };
            judged += over.len();
            if again {
                again_all.insert((
                    c.id().to_lowercase(),
                    p.reference.reference_id.to_lowercase(),
                ));
            }
            let policy =
                engine_eval::evaluate_policy_over(c.library(), p, &c.assignment, over, &subjects);
            for outcome in &policy.resources {
                let body = bodies.get(&outcome.resource_id.to_ascii_lowercase());
                let state = state_json(c, &policy, outcome, body, sub, &groups);
                let key = format!("{}|{}|{}", outcome.resource_id, c.id(), policy.reference_id)
                    .to_lowercase();
                states.insert(key, state.to_string());
            }
        }
    }
    // An unchanged subject keeps its stored state under each policy that judged only the changed ones (a key
    // is `resource id|assignment id|reference id`; ids hold no `|`).
    let kept: std::collections::HashSet<String> = subjects
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(s, _)| s.id.to_lowercase())
        .collect();
    for (key, body) in old_states {
        let mut parts = key.splitn(3, '|');
        let (Some(resource), Some(assignment), Some(reference)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if kept.contains(resource)
            && !again_all.contains(&(assignment.to_string(), reference.to_string()))
        {
            states.insert(key, body);
        }
    }
    st.store
        .replace_policy_states(sub, &states, &timestamp, &run)?;
    st.policy_memo
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            memo_key,
            Memo {
                context,
                run,
                subjects: digests,
                judged,
            },
        );
    Ok(states.len())
}

fn state_json(
    c: &Compiled,
    policy: &crate::policy::PolicyResult,
    outcome: &crate::policy::ResourceOutcome,
    body: Option<&Value>,
    sub: &str,
    management_groups: &str,
) -> Value {
    let props = &c.body["properties"];
    let compliance = match outcome.state {
        State::NonCompliant => "NonCompliant",
        State::Compliant if policy.effect == Effect::DenyAction => "Protected",
        State::Compliant => "Compliant",
        State::Exempt => "Exempt",
        State::NotEvaluable => "Unknown",
    };
    let rg = outcome
        .resource_id
        .split('/')
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0].eq_ignore_ascii_case("resourceGroups"))
        .map(|w| w[1].to_string())
        .unwrap_or_default();
    let def = c.library().definition(&policy.definition);
    let category = |v: Option<&Value>| {
        v.and_then(|d| d["properties"]["metadata"]["category"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let (set_id, set_name, set_category, set_version, set_params) = match c.set() {
        Some(s) => (
            s["id"].as_str().unwrap_or_default().to_string(),
            s["name"].as_str().unwrap_or_default().to_string(),
            category(Some(s)),
            s["properties"]["version"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            props["parameters"].to_string(),
        ),
        None => Default::default(),
    };
    let mut details = json!({
        "evaluatedExpressions": outcome.reasons.iter().map(|r| {
            let mut e = expression(r);
            e["result"] = json!("True");
            e
        }).collect::<Vec<_>>(),
    });
    if let Some(d) = &outcome.detail {
        details["reason"] = json!(d);
    }
    json!({
        "@odata.id": null,
        "@odata.context": "https://management.azure.com/providers/Microsoft.PolicyInsights/policyStates/$metadata#latest/$entity",
        "timestamp": null,
        "resourceId": outcome.resource_id,
        "policyAssignmentId": c.id(),
        "policyDefinitionId": c.definition_id(&policy.definition),
        "effectiveParameters": "",
        "isCompliant": outcome.state == State::Compliant,
        "subscriptionId": sub,
        "resourceType": outcome.resource_type,
        "resourceLocation": body.and_then(|b| b["location"].as_str()).unwrap_or_default(),
        "resourceGroup": rg,
        "resourceTags": body.map(|b| b["tags"].clone()).filter(|t| t.is_object()).unwrap_or_else(|| json!({})).to_string(),
        "policyAssignmentName": c.body["name"],
        "policyAssignmentOwner": "tbd",
        "policyAssignmentParameters": props["parameters"].to_string(),
        "policyAssignmentScope": c.assignment.scope,
        "policyDefinitionName": policy.definition,
        "policyDefinitionAction": policy.effect.to_string().to_ascii_lowercase(),
        "policyDefinitionCategory": "tbd",
        "policySetDefinitionId": set_id,
        "policySetDefinitionName": set_name,
        "policySetDefinitionOwner": if c.set().is_some() { "tbd" } else { "" },
        "policySetDefinitionCategory": set_category,
        "policySetDefinitionParameters": set_params,
        "managementGroupIds": management_groups,
        "policyDefinitionReferenceId": if c.set().is_some() { policy.reference_id.clone() } else { String::new() },
        "complianceState": compliance,
        "policyEvaluationDetails": details,
        "policyDefinitionGroupNames": policy.groups,
        "policyDefinitionVersion": def.and_then(|d| d.version.clone()).unwrap_or_default(),
        "policySetDefinitionVersion": set_version,
        "policyAssignmentVersion": "",
    })
}

/// Store a management-group-scoped policy resource (validated), or read, delete or list them. `id` is the
/// resource's id (`/providers/Microsoft.Management/managementGroups/{mg}/providers/Microsoft.Authorization/
/// {type}/{name}`).
pub fn put_scoped(
    st: &AppState,
    id: &str,
    resource_type: &str,
    input: &Value,
) -> Result<(Value, bool), ArmError> {
    let name = id.rsplit('/').next().unwrap_or_default();
    super::names::check_resource(resource_type, name)?;
    let mut props = input["properties"].clone();
    if !props.is_object() {
        props = json!({});
    }
    complete(st, resource_type, id, &mut props)?;
    let mut body = json!({
        "id": id,
        "name": name,
        "type": resource_type,
        "properties": props,
    });
    for k in ["location", "identity", "metadata"] {
        if let Some(v) = input.get(k) {
            body[k] = v.clone();
        }
    }
    let created = st
        .store
        .put_scoped(id, scope_of(id), resource_type, &body)?;
    Ok((body, created))
}

/// The `$filter`s Azure Policy's lists take: `policyType eq '...'`, `category eq '...'`,
/// `policyDefinitionId eq '...'`, `atScope()`, `atExactScope()`.
fn list_filter(raw: Option<&String>) -> Result<impl Fn(&Value) -> bool, ArmError> {
    let re = regex::Regex::new(
        r"(?i)^\s*(policyType|category|policyDefinitionId)\s+eq\s+'((?:[^']|'')*)'\s*$",
    )
    .map_err(|e| ArmError::internal(e.to_string()))?;
    let mut clause: Option<(String, String)> = None;
    if let Some(f) = raw {
        let t = f.trim();
        if !(t.eq_ignore_ascii_case("atScope()") || t.eq_ignore_ascii_case("atExactScope()")) {
            let c = re.captures(t).ok_or_else(|| {
                ArmError::bad_request(
                    "InvalidFilterInQueryString",
                    format!("The $filter '{f}' is not supported: use policyType eq '...', category eq '...', policyDefinitionId eq '...', atScope() or atExactScope()."),
                )
            })?;
            clause = Some((c[1].to_ascii_lowercase(), c[2].replace("''", "'")));
        }
    }
    Ok(move |v: &Value| match &clause {
        None => true,
        Some((k, want)) => {
            let p = &v["properties"];
            let got = match k.as_str() {
                "policytype" => p["policyType"].as_str(),
                "category" => p["metadata"]["category"].as_str(),
                _ => p["policyDefinitionId"].as_str(),
            };
            got.is_some_and(|g| g.eq_ignore_ascii_case(want))
        }
    })
}

/// `GET /subscriptions/{s}/providers/Microsoft.Authorization/policy{Set}Definitions`: the built-ins and the
/// subscription's own.
pub fn list_at_subscription(
    st: &AppState,
    req: &super::http::Req,
    sub: &str,
) -> Result<axum::response::Response, ArmError> {
    let ty = if req.is(4, "policysetdefinitions") {
        SET_DEFINITIONS
    } else {
        DEFINITIONS
    };
    super::catalog::check_type(ty, req.api_version())?;
    let keep = list_filter(req.query.get("$filter"))?;
    let mut items = builtins_of(ty);
    items.extend(
        st.store
            .resources_of_type(sub, ty)?
            .into_iter()
            .filter(|v| {
                v["id"].as_str().is_some_and(|i| {
                    scope_of(i).eq_ignore_ascii_case(&format!("/subscriptions/{sub}"))
                })
            }),
    );
    items.retain(|v| keep(v));
    super::http::page(st, req, items)
}

/// Requests under `/providers/`: the built-in definitions and initiatives, and management groups' policy
/// resources and compliance states.
pub async fn route_tenant(
    st: &std::sync::Arc<AppState>,
    req: &super::http::Req,
) -> Result<axum::response::Response, ArmError> {
    use super::http::{empty, json_body, json_response, method_not_allowed, no_route, page};
    use axum::http::Method;
    if let Some(r) = super::management_groups::route(st, req) {
        return r;
    }
    let l: Vec<&str> = req.lower.iter().map(String::as_str).collect();
    let type_of = |seg: &str| match seg {
        "policydefinitions" => Some(DEFINITIONS),
        "policysetdefinitions" => Some(SET_DEFINITIONS),
        "policyassignments" => Some(ASSIGNMENTS),
        "policyexemptions" => Some(EXEMPTIONS),
        _ => None,
    };
    match l.as_slice() {
        ["providers", "microsoft.authorization", t]
        | ["providers", "microsoft.authorization", t, _]
            if matches!(*t, "policydefinitions" | "policysetdefinitions") =>
        {
            let ty = type_of(t).unwrap_or(DEFINITIONS);
            if req.method != Method::GET {
                return Err(method_not_allowed(req));
            }
            super::catalog::check_type(ty, req.api_version())?;
            if l.len() == 4 {
                return builtin(ty, req.seg(3))
                    .map(|v| json_body(&v))
                    .ok_or_else(|| not_found(ty, &format!("/{}", req.segs.join("/"))));
            }
            let keep = list_filter(req.query.get("$filter"))?;
            let items = builtins_of(ty).into_iter().filter(|v| keep(v)).collect();
            page(st, req, items)
        }
        ["providers", "microsoft.management", "managementgroups", _, "providers", "microsoft.policyinsights", ..] => {
            super::policyinsights::route(st, req, 4).await
        }
        ["providers", "microsoft.management", "managementgroups", _, "providers", "microsoft.authorization", t, rest @ ..]
            if type_of(t).is_some() && rest.len() <= 1 =>
        {
            let ty = type_of(t).unwrap_or(DEFINITIONS);
            super::catalog::check_type(ty, req.api_version())?;
            let scope = format!(
                "/providers/Microsoft.Management/managementGroups/{}",
                req.seg(3)
            );
            if rest.is_empty() {
                if req.method != Method::GET {
                    return Err(method_not_allowed(req));
                }
                let keep = list_filter(req.query.get("$filter"))?;
                let mut items = if matches!(ty, DEFINITIONS | SET_DEFINITIONS) {
                    builtins_of(ty)
                } else {
                    Vec::new()
                };
                items.extend(st.store.scoped_of_type(ty)?.into_iter().filter(|v| {
                    v["id"]
                        .as_str()
                        .is_some_and(|i| scope_of(i).eq_ignore_ascii_case(&scope))
                }));
                items.retain(|v| keep(v));
                return page(st, req, items);
            }
            let id = format!("{scope}/providers/{ty}/{}", req.seg(7));
            match req.method {
                Method::PUT => {
                    let (body, created) = put_scoped(st, &id, ty, &req.json()?)?;
                    Ok(json_response(
                        if created {
                            StatusCode::CREATED
                        } else {
                            StatusCode::OK
                        },
                        &body,
                    ))
                }
                Method::GET => st
                    .store
                    .get_scoped(&id)?
                    .map(|b| json_body(&b))
                    .ok_or_else(|| {
                        ArmError::not_found(
                            "ResourceNotFound",
                            format!(
                                "The Resource '{ty}/{}' under management group '{}' was not found.",
                                req.seg(7),
                                req.seg(3)
                            ),
                        )
                    }),
                Method::DELETE => Ok(empty(if st.store.delete_scoped(&id)? {
                    StatusCode::OK
                } else {
                    StatusCode::NO_CONTENT
                })),
                _ => Err(method_not_allowed(req)),
            }
        }
        _ => Err(no_route(req)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::store::Store;

    const SUB: &str = "00000000-0000-0000-0000-0000000000aa";

    fn put(st: &AppState, id: &str, ty: &str, body: Value) {
        let rg = id.split('/').nth(4).map(str::to_string);
        st.store
            .tx(|tx| Store::put_resource(tx, id, SUB, rg.as_deref(), ty, &body))
            .unwrap();
    }

    fn delete(st: &AppState, id: &str) {
        st.store
            .tx(|tx| Store::delete_resource_tree(tx, id))
            .unwrap();
    }

    /// The subscription's states as a client reads them, less the evaluation's timestamp.
    fn states(st: &AppState) -> Vec<Value> {
        let mut v = st.store.policy_states(Some(SUB)).unwrap();
        for s in &mut v {
            assert!(s["timestamp"].is_string(), "{s}");
            s["timestamp"] = Value::Null;
        }
        v
    }

    /// Evaluate as the deployments do (reusing the last evaluation), then from nothing; both must store the
    /// same states. Returns them, and how many (resource, policy) pairs the first judged.
    fn incremental_equals_full(st: &AppState) -> (Vec<Value>, usize) {
        evaluate_subscription(st, SUB).unwrap();
        let judged = st.policy_memo.lock().unwrap()[SUB].judged;
        let incremental = states(st);
        st.policy_memo.lock().unwrap().clear();
        evaluate_subscription(st, SUB).unwrap();
        let full = states(st);
        assert_eq!(incremental.len(), full.len());
        for (i, f) in incremental.iter().zip(&full) {
            assert_eq!(i, f);
        }
        (full, judged)
    }

    fn resource(id: &str, ty: &str, properties: Value) -> Value {
        json!({
            "id": id,
            "name": id.rsplit('/').next(),
            "type": ty,
            "location": "uksouth",
            "tags": {"owner": "test"},
            "properties": properties,
        })
    }

    #[tokio::test]
    async fn an_incremental_evaluation_stores_the_states_a_full_one_does() {
        let server = crate::cloud::Server::start(crate::cloud::Config::default())
            .await
            .unwrap();
        let st = &*server.state;
        let scope = format!("/subscriptions/{SUB}");
        let rg = format!("{scope}/resourceGroups/rg-app");
        let assignment = format!("{scope}/providers/{ASSIGNMENTS}/uk-official");
        let mut props = json!({
            "policyDefinitionId": "/providers/Microsoft.Authorization/policySetDefinitions/3937f550-eedd-4639-9c5e-294358be442e",
        });
        complete(st, ASSIGNMENTS, &assignment, &mut props).unwrap();
        put(
            st,
            &assignment,
            ASSIGNMENTS,
            json!({"id": assignment, "name": "uk-official", "type": ASSIGNMENTS, "properties": props}),
        );
        st.store
            .put_rg(
                SUB,
                "rg-app",
                "Succeeded",
                &json!({"id": rg, "name": "rg-app", "type": "Microsoft.Resources/resourceGroups", "location": "uksouth"}),
            )
            .unwrap();
        let storage = format!("{rg}/providers/Microsoft.Storage/storageAccounts/stapp");
        let vault = format!("{rg}/providers/Microsoft.KeyVault/vaults/kv-app");
        let diagnostics =
            format!("{vault}/providers/Microsoft.Insights/diagnosticSettings/to-logs");
        let sql = format!("{rg}/providers/Microsoft.Sql/servers/sql-app");
        let storage_body = |https: bool| {
            resource(
                &storage,
                "Microsoft.Storage/storageAccounts",
                json!({"supportsHttpsTrafficOnly": https, "minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": !https,
                       "networkAcls": {"defaultAction": if https { "Deny" } else { "Allow" }}}),
            )
        };
        put(
            st,
            &storage,
            "Microsoft.Storage/storageAccounts",
            storage_body(true),
        );
        put(
            st,
            &vault,
            "Microsoft.KeyVault/vaults",
            resource(
                &vault,
                "Microsoft.KeyVault/vaults",
                json!({"enableSoftDelete": true, "enablePurgeProtection": true, "enableRbacAuthorization": true}),
            ),
        );
        put(
            st,
            &diagnostics,
            "Microsoft.Insights/diagnosticSettings",
            json!({"id": diagnostics, "name": "to-logs", "type": "Microsoft.Insights/diagnosticSettings",
                   "properties": {"logs": [{"categoryGroup": "allLogs", "enabled": true}],
                                  "workspaceId": format!("{rg}/providers/Microsoft.OperationalInsights/workspaces/log")}}),
        );
        put(
            st,
            &sql,
            "Microsoft.Sql/servers",
            resource(
                &sql,
                "Microsoft.Sql/servers",
                json!({"publicNetworkAccess": "Disabled", "minimalTlsVersion": "1.2"}),
            ),
        );

        // The first evaluation has nothing to reuse.
        evaluate_subscription(st, SUB).unwrap();
        let first = states(st);
        let everything = st.policy_memo.lock().unwrap()[SUB].judged;
        assert!(!first.is_empty());

        // Nothing changed: every state kept, only the policies that look beyond a resource judged again.
        let (same, judged) = incremental_equals_full(st);
        assert_eq!(same, first);
        assert!(judged < everything, "{judged} of {everything}");

        // One resource changed: its states change, and the incremental evaluation stores what a full one does.
        put(
            st,
            &storage,
            "Microsoft.Storage/storageAccounts",
            storage_body(false),
        );
        let (changed, _) = incremental_equals_full(st);
        let of = |v: &[Value], id: &str| -> Vec<Value> {
            v.iter()
                .filter(|s| {
                    s["resourceId"]
                        .as_str()
                        .is_some_and(|r| r.eq_ignore_ascii_case(id))
                })
                .cloned()
                .collect()
        };
        assert_ne!(of(&changed, &storage), of(&first, &storage));
        assert_eq!(of(&changed, &vault), of(&first, &vault));

        // A related resource deleted (the vault's diagnostic setting) and a resource deleted.
        delete(st, &diagnostics);
        let (without_logs, _) = incremental_equals_full(st);
        delete(st, &sql);
        let (without_sql, _) = incremental_equals_full(st);
        assert!(of(&without_sql, &sql).is_empty());
        assert!(!of(&without_logs, &sql).is_empty());

        // An assignment changed (enforcement mode): everything is judged again.
        props["enforcementMode"] = json!("DoNotEnforce");
        put(
            st,
            &assignment,
            ASSIGNMENTS,
            json!({"id": assignment, "name": "uk-official", "type": ASSIGNMENTS, "properties": props}),
        );
        evaluate_subscription(st, SUB).unwrap();
        let after_change = st.policy_memo.lock().unwrap()[SUB].judged;
        let reassigned = states(st);
        st.policy_memo.lock().unwrap().clear();
        evaluate_subscription(st, SUB).unwrap();
        assert_eq!(after_change, st.policy_memo.lock().unwrap()[SUB].judged);
        assert_eq!(reassigned, states(st));
    }
}
