//! `fleet drift` for trusts deployed as Deployment Stacks: besides the what-if of the inputs each trust was
//! last applied with (resources changed outside its stacks show as modified, resources deleted outside them
//! as to be created again), the requests the stacks' deny assignments refused since that apply, read from
//! the subscription's activity log as Azure's administrative log (and the local cloud's) records them.
//!
//! Contract: [`denied_attempts`] reads only; each refused request is one line, oldest first:
//! `<time> <caller> <operation> <resource id> (DenyAssignmentAuthorizationFailed)`.

use crate::deploy::{Connection, DeployError};

/// The code ARM answers a request a deny assignment refuses with.
pub const DENIED: &str = "DenyAssignmentAuthorizationFailed";

/// The requests to the trust's subscription that deny assignments refused since `since` (RFC 3339).
pub async fn denied_attempts(conn: &Connection, since: &str) -> Result<Vec<String>, DeployError> {
    let events = conn
        .client
        .failed_activity(&conn.target.subscription_id, since)
        .await
        .map_err(DeployError::arm("drift: reading the activity log"))?;
    let mut lines: Vec<(String, String)> = events
        .into_iter()
        .filter(|e| e.error_code.as_deref() == Some(DENIED))
        .map(|e| {
            (
                e.event_timestamp.clone(),
                format!(
                    "{} {} {} {} ({DENIED})",
                    e.event_timestamp, e.caller, e.operation, e.resource_id
                ),
            )
        })
        .collect();
    lines.sort();
    Ok(lines.into_iter().map(|(_, l)| l).collect())
}
