//! The local cloud's state: one SQLite database (`state.db` in the state folder, or in memory). Every change is
//! one transaction, the journal is WAL, so a `kill -9` leaves either the old or the new state of a resource,
//! never half of one. Rows hold the resource JSON exactly as GET returns it; keys are lower-case ids so that
//! lookups are case-insensitive while bodies keep canonical casing.

use super::errors::ArmError;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS subscriptions (key TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resource_groups (
    key TEXT PRIMARY KEY, sub TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
    key TEXT PRIMARY KEY, sub TEXT NOT NULL, rg TEXT, type TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS resources_by_rg ON resources (sub, rg);
CREATE INDEX IF NOT EXISTS resources_by_type ON resources (sub, type);
CREATE TABLE IF NOT EXISTS deployments (
    key TEXT PRIMARY KEY, sub TEXT NOT NULL, rg TEXT, name TEXT NOT NULL, state TEXT NOT NULL,
    cancel INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL, request TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deployment_operations (
    dep_key TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (dep_key, seq));
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, target TEXT NOT NULL, status TEXT NOT NULL,
    http_status INTEGER, body TEXT);
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, expires INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS scoped_resources (
    key TEXT PRIMARY KEY, scope TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS scoped_resources_by_type ON scoped_resources (type);
CREATE TABLE IF NOT EXISTS policy_states (
    key TEXT PRIMARY KEY, sub TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS policy_states_by_sub ON policy_states (sub);
CREATE TABLE IF NOT EXISTS policy_evaluations (sub TEXT PRIMARY KEY, timestamp TEXT NOT NULL, run TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS token_clients (token TEXT PRIMARY KEY, client_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS token_tenants (token TEXT PRIMARY KEY, tenant_id TEXT NOT NULL);
";

/// A pending or finished long-running operation (resource group delete, what-if, deployment delete).
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub kind: String,
    pub target: String,
    pub status: String,
    pub http_status: Option<u16>,
    pub body: Option<Value>,
}

/// A stored deployment row.
#[derive(Debug, Clone)]
pub struct DeploymentRow {
    pub body: Value,
    pub request: Value,
}

/// The SQLite store. One connection behind a mutex: SQLite serialises writers anyway, and every call is short.
pub struct Store {
    conn: Mutex<Connection>,
}

fn parse(s: &str) -> Result<Value, ArmError> {
    Ok(serde_json::from_str(s)?)
}

impl Store {
    /// Open (creating if needed) the store in `dir/state.db`, or in memory.
    pub fn open(dir: Option<&Path>) -> rusqlite::Result<Store> {
        let conn = match dir {
            Some(d) => {
                let c = Connection::open(d.join("state.db"))?;
                c.pragma_update(None, "journal_mode", "WAL")?;
                c.pragma_update(None, "synchronous", "NORMAL")?;
                // Several trustprint processes may share one state folder (stamps from one working folder):
                // a writer waits for another's short transaction rather than failing.
                c.busy_timeout(std::time::Duration::from_secs(60))?;
                c
            }
            None => {
                let c = Connection::open_in_memory()?;
                // An in-memory database keeps every page in SQLite's page cache, and a commit after a B-tree
                // rebalance walks the whole cache (the rebalance parks a page at the 1 GiB lock page, so the
                // truncation to the database's size cannot take its short path): at 4 KiB pages that walk
                // was an eighth of the fleet bench's cloud time. Larger pages make it four times shorter
                // (and the bodies, JSON of a few KiB, need fewer overflow pages). Set before any table exists.
                c.pragma_update(None, "page_size", 16384)?;
                c
            }
        };
        // Every request runs the same few statements: keep them all prepared.
        conn.set_prepared_statement_cache_capacity(128);
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (rusqlite rolls back on drop), so a
        // poisoned lock still guards a consistent connection.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` inside one transaction.
    pub fn tx<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, ArmError>,
    ) -> Result<T, ArmError> {
        let mut conn = self.lock();
        // IMMEDIATE takes the write lock at BEGIN, where the busy timeout waits for it; a deferred transaction
        // that reads and then writes fails at once if another process wrote in between.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    // ---- subscriptions

    pub fn get_subscription(&self, sub: &str) -> Result<Option<Value>, ArmError> {
        let conn = self.lock();
        let row: Option<String> = conn
            .prepare_cached("SELECT body FROM subscriptions WHERE key = ?1")?
            .query_row([sub.to_lowercase()], |r| r.get(0))
            .optional()?;
        row.map(|s| parse(&s)).transpose()
    }

    pub fn put_subscription(&self, sub: &str, body: &Value) -> Result<(), ArmError> {
        self.lock()
            .prepare_cached("INSERT OR REPLACE INTO subscriptions (key, body) VALUES (?1, ?2)")?
            .execute(params![sub.to_lowercase(), body.to_string()])?;
        Ok(())
    }

    /// The `body` column of every row a query returns, parsed: the shape of every list.
    /// The JSON bodies a query's first column holds, in its order.
    pub(crate) fn bodies(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<Value>, ArmError> {
        let conn = self.lock();
        let mut st = conn.prepare_cached(sql)?;
        let rows = st.query_map(args, |r| r.get::<_, String>(0))?;
        rows.map(|r| parse(&r?)).collect()
    }

    pub fn list_subscriptions(&self) -> Result<Vec<Value>, ArmError> {
        self.bodies("SELECT body FROM subscriptions ORDER BY key", [])
    }

    // ---- resource groups

    pub fn rg_key(sub: &str, rg: &str) -> String {
        format!("{}/{}", sub.to_lowercase(), rg.to_lowercase())
    }

    /// The group's body and state (`Succeeded` or `Deleting`).
    pub fn get_rg(&self, sub: &str, rg: &str) -> Result<Option<(Value, String)>, ArmError> {
        let conn = self.lock();
        let row: Option<(String, String)> = conn
            .prepare_cached("SELECT body, state FROM resource_groups WHERE key = ?1")?
            .query_row([Self::rg_key(sub, rg)], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(b, s)| Ok((parse(&b)?, s))).transpose()
    }

    pub fn put_rg(&self, sub: &str, rg: &str, state: &str, body: &Value) -> Result<(), ArmError> {
        self.lock().prepare_cached("INSERT OR REPLACE INTO resource_groups (key, sub, name, state, body) VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(
            params![Self::rg_key(sub, rg), sub.to_lowercase(), rg.to_lowercase(), state, body.to_string()],
        )?;
        Ok(())
    }

    pub fn list_rgs(&self, sub: &str) -> Result<Vec<Value>, ArmError> {
        self.bodies(
            "SELECT body FROM resource_groups WHERE sub = ?1 ORDER BY name",
            [sub.to_lowercase()],
        )
    }

    /// Groups left in `Deleting` (a delete interrupted by a stop or crash).
    pub fn rgs_being_deleted(&self) -> Result<Vec<(String, String)>, ArmError> {
        let conn = self.lock();
        let mut st =
            conn.prepare_cached("SELECT sub, name FROM resource_groups WHERE state = 'Deleting'")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Delete a group with everything inside it (resources and deployment records), in one transaction.
    pub fn delete_rg_cascade(&self, sub: &str, rg: &str) -> Result<(), ArmError> {
        let (sub, rg) = (sub.to_lowercase(), rg.to_lowercase());
        self.tx(|tx| {
            tx.prepare_cached("DELETE FROM resources WHERE sub = ?1 AND rg = ?2")?.execute(
                params![sub, rg],
            )?;
            tx.prepare_cached("DELETE FROM deployment_operations WHERE dep_key IN (SELECT key FROM deployments WHERE sub = ?1 AND rg = ?2)")?.execute(
                params![sub, rg],
            )?;
            tx.prepare_cached("DELETE FROM deployments WHERE sub = ?1 AND rg = ?2")?.execute(
                params![sub, rg],
            )?;
            // Extension resources scoped to the group itself (policy assignments, role assignments, locks).
            tx.prepare_cached("DELETE FROM resources WHERE key LIKE ?1")?.execute(
                params![format!("/subscriptions/{sub}/resourcegroups/{rg}/%")],
            )?;
            tx.prepare_cached("DELETE FROM resource_groups WHERE key = ?1")?.execute(
                params![format!("{sub}/{rg}")],
            )?;
            Ok(())
        })
    }

    // ---- resources

    pub fn get_resource(&self, id: &str) -> Result<Option<Value>, ArmError> {
        let conn = self.lock();
        let row: Option<String> = conn
            .prepare_cached("SELECT body FROM resources WHERE key = ?1")?
            .query_row([id.to_lowercase()], |r| r.get(0))
            .optional()?;
        row.map(|s| parse(&s)).transpose()
    }

    /// Insert or replace a resource; true when it is new.
    pub fn put_resource(
        tx: &Transaction<'_>,
        id: &str,
        sub: &str,
        rg: Option<&str>,
        resource_type: &str,
        body: &Value,
    ) -> Result<bool, ArmError> {
        let key = id.to_lowercase();
        let existed: Option<i64> = tx
            .prepare_cached("SELECT 1 FROM resources WHERE key = ?1")?
            .query_row([&key], |r| r.get(0))
            .optional()?;
        tx.prepare_cached("INSERT OR REPLACE INTO resources (key, sub, rg, type, body) VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(
            params![
                key,
                sub.to_lowercase(),
                rg.map(str::to_lowercase),
                resource_type.to_lowercase(),
                body.to_string()
            ],
        )?;
        Ok(existed.is_none())
    }

    /// Delete a resource and everything nested under its id (child and extension resources); true when it existed.
    pub fn delete_resource_tree(tx: &Transaction<'_>, id: &str) -> Result<bool, ArmError> {
        let key = id.to_lowercase();
        let n = tx
            .prepare_cached("DELETE FROM resources WHERE key = ?1")?
            .execute([&key])?;
        tx.prepare_cached("DELETE FROM resources WHERE key LIKE ?1 ESCAPE '\\'")?
            .execute([format!("{}/%", key.replace('%', "\\%").replace('_', "\\_"))])?;
        Ok(n > 0)
    }

    /// Resources of a subscription, optionally of one group, ordered by id.
    pub fn list_resources(&self, sub: &str, rg: Option<&str>) -> Result<Vec<Value>, ArmError> {
        let conn = self.lock();
        let mut out = Vec::new();
        let mut push = |s: String| -> Result<(), ArmError> {
            out.push(parse(&s)?);
            Ok(())
        };
        match rg {
            Some(rg) => {
                let mut st = conn.prepare_cached(
                    "SELECT body FROM resources WHERE sub = ?1 AND rg = ?2 ORDER BY key",
                )?;
                for r in st.query_map(params![sub.to_lowercase(), rg.to_lowercase()], |r| {
                    r.get::<_, String>(0)
                })? {
                    push(r?)?;
                }
            }
            None => {
                let mut st =
                    conn.prepare_cached("SELECT body FROM resources WHERE sub = ?1 ORDER BY key")?;
                for r in st.query_map(params![sub.to_lowercase()], |r| r.get::<_, String>(0))? {
                    push(r?)?;
                }
            }
        }
        Ok(out)
    }

    /// All resources of one type in a subscription (used for policy assignments).
    pub fn resources_of_type(
        &self,
        sub: &str,
        resource_type: &str,
    ) -> Result<Vec<Value>, ArmError> {
        self.bodies(
            "SELECT body FROM resources WHERE sub = ?1 AND type = ?2 ORDER BY key",
            params![sub.to_lowercase(), resource_type.to_lowercase()],
        )
    }

    // ---- deployments

    pub fn get_deployment(&self, key: &str) -> Result<Option<DeploymentRow>, ArmError> {
        let conn = self.lock();
        let row: Option<(String, String)> = conn
            .prepare_cached("SELECT body, request FROM deployments WHERE key = ?1")?
            .query_row([key.to_lowercase()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(body, request)| {
            Ok(DeploymentRow {
                body: parse(&body)?,
                request: parse(&request)?,
            })
        })
        .transpose()
    }

    /// Has a cancel been asked for the deployment (`None`: no such deployment)? Reads only that flag: the
    /// engine asks before each step, and the row holds the whole template.
    pub fn deployment_cancel_requested(&self, key: &str) -> Result<Option<bool>, ArmError> {
        Ok(self
            .lock()
            .prepare_cached("SELECT cancel FROM deployments WHERE key = ?1")?
            .query_row([key.to_lowercase()], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|c| c != 0))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn put_deployment(
        &self,
        key: &str,
        sub: &str,
        rg: Option<&str>,
        name: &str,
        state: &str,
        body: &Value,
        request: &Value,
    ) -> Result<(), ArmError> {
        let key = key.to_lowercase();
        self.tx(|tx| {
            tx.prepare_cached("DELETE FROM deployment_operations WHERE dep_key = ?1")?.execute( [&key])?;
            tx.prepare_cached("INSERT OR REPLACE INTO deployments (key, sub, rg, name, state, cancel, body, request) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)")?.execute(
                params![key, sub.to_lowercase(), rg.map(str::to_lowercase), name.to_lowercase(), state, body.to_string(), request.to_string()],
            )?;
            Ok(())
        })
    }

    /// Update a deployment's body and state (the engine's progress).
    pub fn update_deployment(&self, key: &str, state: &str, body: &Value) -> Result<(), ArmError> {
        self.lock()
            .prepare_cached("UPDATE deployments SET state = ?2, body = ?3 WHERE key = ?1")?
            .execute(params![key.to_lowercase(), state, body.to_string()])?;
        Ok(())
    }

    pub fn request_cancel(&self, key: &str) -> Result<(), ArmError> {
        self.lock()
            .prepare_cached("UPDATE deployments SET cancel = 1 WHERE key = ?1")?
            .execute([key.to_lowercase()])?;
        Ok(())
    }

    pub fn delete_deployment(&self, key: &str) -> Result<(), ArmError> {
        let key = key.to_lowercase();
        self.tx(|tx| {
            tx.prepare_cached("DELETE FROM deployment_operations WHERE dep_key = ?1")?
                .execute([&key])?;
            tx.prepare_cached("DELETE FROM deployments WHERE key = ?1")?
                .execute([&key])?;
            Ok(())
        })
    }

    /// Deployments of a scope (`rg` None = subscription scope), ordered by name.
    pub fn list_deployments(&self, sub: &str, rg: Option<&str>) -> Result<Vec<Value>, ArmError> {
        self.bodies(
            "SELECT body FROM deployments WHERE sub = ?1 AND rg IS ?2 ORDER BY name",
            params![sub.to_lowercase(), rg.map(str::to_lowercase)],
        )
    }

    /// Keys of deployments in a non-terminal state (found at startup after a stop or crash).
    pub fn unfinished_deployments(&self) -> Result<Vec<String>, ArmError> {
        let conn = self.lock();
        let mut st = conn.prepare_cached(
            "SELECT key FROM deployments WHERE state NOT IN ('Succeeded', 'Failed', 'Canceled')",
        )?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn add_deployment_operation(&self, key: &str, body: &Value) -> Result<(), ArmError> {
        self.lock().prepare_cached("INSERT INTO deployment_operations (dep_key, seq, body) VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM deployment_operations WHERE dep_key = ?1), ?2)")?.execute(
            params![key.to_lowercase(), body.to_string()],
        )?;
        Ok(())
    }

    pub fn deployment_operations(&self, key: &str) -> Result<Vec<Value>, ArmError> {
        self.bodies(
            "SELECT body FROM deployment_operations WHERE dep_key = ?1 ORDER BY seq",
            [key.to_lowercase()],
        )
    }

    // ---- long-running operations

    pub fn put_operation(&self, op: &Operation) -> Result<(), ArmError> {
        self.lock().prepare_cached("INSERT OR REPLACE INTO operations (id, kind, target, status, http_status, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(
            params![op.id, op.kind, op.target, op.status, op.http_status, op.body.as_ref().map(Value::to_string)],
        )?;
        Ok(())
    }

    pub fn get_operation(&self, id: &str) -> Result<Option<Operation>, ArmError> {
        let conn = self.lock();
        let row = conn
            .prepare_cached(
                "SELECT id, kind, target, status, http_status, body FROM operations WHERE id = ?1",
            )?
            .query_row([id], |r| {
                let op = Operation {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    target: r.get(2)?,
                    status: r.get(3)?,
                    http_status: r.get(4)?,
                    body: None,
                };
                Ok((op, r.get::<_, Option<String>>(5)?))
            })
            .optional()?;
        row.map(|(mut op, body)| {
            op.body = body.map(|b| parse(&b)).transpose()?;
            Ok(op)
        })
        .transpose()
    }

    /// Operations still running (found at startup).
    pub fn running_operations(&self) -> Result<Vec<Operation>, ArmError> {
        let ids: Vec<String> = {
            let conn = self.lock();
            let mut st =
                conn.prepare_cached("SELECT id FROM operations WHERE status = 'Running'")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut out = Vec::new();
        for id in ids {
            if let Some(op) = self.get_operation(&id)? {
                out.push(op);
            }
        }
        Ok(out)
    }

    // ---- tokens

    /// Store a token (its hash) with its expiry, the client id it was issued to and the tenant that issued
    /// it, in one transaction.
    pub fn put_token(
        &self,
        token: &str,
        expires: i64,
        client_id: &str,
        tenant_id: &str,
    ) -> Result<(), ArmError> {
        self.tx(|tx| {
            tx.prepare_cached("INSERT OR REPLACE INTO tokens (token, expires) VALUES (?1, ?2)")?
                .execute(params![token, expires])?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO token_clients (token, client_id) VALUES (?1, ?2)",
            )?
            .execute(params![token, client_id])?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO token_tenants (token, tenant_id) VALUES (?1, ?2)",
            )?
            .execute(params![token, tenant_id])?;
            Ok(())
        })
    }

    /// A token's expiry, the client id it was issued to and its tenant (each empty for tokens issued
    /// before it was recorded).
    pub fn token_lookup(&self, token: &str) -> Result<Option<(i64, String, String)>, ArmError> {
        Ok(self
            .lock()
            .prepare_cached(
                "SELECT t.expires, COALESCE(c.client_id, ''), COALESCE(n.tenant_id, '') FROM tokens t \
                 LEFT JOIN token_clients c ON c.token = t.token \
                 LEFT JOIN token_tenants n ON n.token = t.token WHERE t.token = ?1",
            )?
            .query_row(
                [token],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    // ---- resources above subscriptions (management group policy definitions, assignments, exemptions)

    /// Insert or replace a resource whose scope is a management group; true when it is new.
    pub fn put_scoped(
        &self,
        id: &str,
        scope: &str,
        resource_type: &str,
        body: &Value,
    ) -> Result<bool, ArmError> {
        self.tx(|tx| {
            let key = id.to_lowercase();
            let existed: Option<i64> = tx
                .prepare_cached("SELECT 1 FROM scoped_resources WHERE key = ?1")?.query_row(
                    [&key],
                    |r| r.get(0),
                )
                .optional()?;
            tx.prepare_cached("INSERT OR REPLACE INTO scoped_resources (key, scope, type, body) VALUES (?1, ?2, ?3, ?4)")?.execute(
                params![key, scope.to_lowercase(), resource_type.to_lowercase(), body.to_string()],
            )?;
            Ok(existed.is_none())
        })
    }

    pub fn get_scoped(&self, id: &str) -> Result<Option<Value>, ArmError> {
        let row: Option<String> = self
            .lock()
            .prepare_cached("SELECT body FROM scoped_resources WHERE key = ?1")?
            .query_row([id.to_lowercase()], |r| r.get(0))
            .optional()?;
        row.map(|s| parse(&s)).transpose()
    }

    /// Delete a management-group-scoped resource; true when it existed.
    pub fn delete_scoped(&self, id: &str) -> Result<bool, ArmError> {
        let n = self
            .lock()
            .prepare_cached("DELETE FROM scoped_resources WHERE key = ?1")?
            .execute([id.to_lowercase()])?;
        Ok(n > 0)
    }

    /// Every management-group-scoped resource of one type, ordered by id.
    pub fn scoped_of_type(&self, resource_type: &str) -> Result<Vec<Value>, ArmError> {
        self.bodies(
            "SELECT body FROM scoped_resources WHERE type = ?1 ORDER BY key",
            params![resource_type.to_lowercase()],
        )
    }

    // ---- policy compliance states (the latest evaluation of each subscription)

    /// Replace the policy states of a subscription with the latest evaluation's (`key`, lower case, and body,
    /// whose `timestamp` is null: the evaluation's `timestamp` is kept once for the subscription and given to
    /// each state as it is read), in one transaction. Only rows that changed are written. `run` marks this
    /// evaluation ([`Store::policy_run`]).
    pub fn replace_policy_states(
        &self,
        sub: &str,
        states: &HashMap<String, String>,
        timestamp: &str,
        run: &str,
    ) -> Result<(), ArmError> {
        let sub = sub.to_lowercase();
        self.tx(|tx| {
            let mut old: HashMap<String, String> = HashMap::new();
            {
                let mut q = tx.prepare_cached("SELECT key, body FROM policy_states WHERE sub = ?1")?;
                for row in q.query_map([&sub], |r| Ok((r.get(0)?, r.get(1)?)))? {
                    let (k, b) = row?;
                    old.insert(k, b);
                }
            }
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO policy_states (key, sub, body) VALUES (?1, ?2, ?3)",
            )?;
            for (key, body) in states {
                if old.remove(key).as_ref() != Some(body) {
                    insert.execute(params![key, sub, body])?;
                }
            }
            let mut delete = tx.prepare_cached("DELETE FROM policy_states WHERE key = ?1")?;
            for key in old.keys() {
                delete.execute([key])?;
            }
            tx.prepare_cached(
                "INSERT OR REPLACE INTO policy_evaluations (sub, timestamp, run) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![sub, timestamp, run])?;
            Ok(())
        })
    }

    /// The stored policy states of a subscription as they are kept (timestamp null), by key.
    pub fn policy_state_rows(&self, sub: &str) -> Result<HashMap<String, String>, ArmError> {
        let conn = self.lock();
        let mut q = conn.prepare_cached("SELECT key, body FROM policy_states WHERE sub = ?1")?;
        let rows = q.query_map([sub.to_lowercase()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The mark of the subscription's latest evaluation, if any.
    pub fn policy_run(&self, sub: &str) -> Result<Option<String>, ArmError> {
        Ok(self
            .lock()
            .prepare_cached("SELECT run FROM policy_evaluations WHERE sub = ?1")?
            .query_row([sub.to_lowercase()], |r| r.get(0))
            .optional()?)
    }

    /// The latest policy states, of one subscription or of every one, ordered by key, each with its
    /// evaluation's timestamp.
    pub fn policy_states(&self, sub: Option<&str>) -> Result<Vec<Value>, ArmError> {
        const SELECT: &str = "SELECT s.body, e.timestamp FROM policy_states s \
             LEFT JOIN policy_evaluations e ON e.sub = s.sub";
        let conn = self.lock();
        let mut q = match sub {
            Some(_) => conn.prepare_cached(&format!("{SELECT} WHERE s.sub = ?1 ORDER BY s.key"))?,
            None => conn.prepare_cached(&format!("{SELECT} ORDER BY s.key"))?,
        };
        let args: Vec<String> = sub.map(str::to_lowercase).into_iter().collect();
        let rows = q.query_map(rusqlite::params_from_iter(args), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (body, timestamp) = row?;
            let mut v = parse(&body)?;
            // States stored before evaluations kept their timestamp apart hold their own.
            if let (Some(t), Some(slot)) = (timestamp, v.get_mut("timestamp")) {
                if slot.is_null() {
                    *slot = Value::String(t);
                }
            }
            out.push(v);
        }
        Ok(out)
    }

    /// Counts for `trustprint cloud status`: (subscriptions, resource groups, resources, deployments).
    pub fn counts(&self) -> Result<(i64, i64, i64, i64), ArmError> {
        let conn = self.lock();
        let c = |t: &str| -> rusqlite::Result<i64> {
            conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
        };
        Ok((
            c("subscriptions")?,
            c("resource_groups")?,
            c("resources")?,
            c("deployments")?,
        ))
    }
}
