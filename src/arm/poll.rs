//! Long-running operations. ARM starts one with 201/202 and either an `Azure-AsyncOperation` header (a status
//! resource: always 200 with `{"status": ...}`) or a `Location` header (202 while running, then the result:
//! 200 with a body, or 204). We poll with our own loop: the SDK's futures re-send the PUT instead.
//!
//! The classification of one poll response is a pure function; the loop (in `client.rs`) waits
//! `Retry-After` (or the default interval) between polls and gives up after the operation's timeout.
//! Dropping the polling future is safe: it holds no state but the URL; the operation continues in Azure.

use super::error::ErrorDetail;
use super::models::ProvisioningState;
use serde::Deserialize;
use std::time::Duration;

/// How to wait for long-running operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollOptions {
    /// Wait between polls when ARM gives no `Retry-After`.
    pub interval: Duration,
    /// Upper bound on any wait between polls, including ARM's `Retry-After`.
    pub max_interval: Duration,
    /// Give up on one operation after this long.
    pub timeout: Duration,
}

impl Default for PollOptions {
    /// Poll every 5 s (at most every 60 s), give up after 2 hours: a hub network with a firewall and a
    /// VPN gateway can take most of an hour.
    fn default() -> Self {
        PollOptions {
            interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(2 * 60 * 60),
        }
    }
}

/// How the operation is to be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Monitor {
    /// Poll the status resource at this URL.
    AsyncOperation(String),
    /// Poll this URL until it stops answering 202.
    Location(String),
    /// Nothing to poll: the first response is final.
    Done,
}

/// Chooses how to follow an operation from its first response: `Azure-AsyncOperation` wins over
/// `Location`; a 200/204 without either is final; a 201/202 without either is followed by re-reading the
/// resource (the caller's job), signalled as `Done` for non-accepted statuses only.
pub fn monitor(status: u16, async_operation: Option<&str>, location: Option<&str>) -> Monitor {
    match (async_operation, location) {
        (Some(a), _) if status == 201 || status == 202 || status == 200 => {
            Monitor::AsyncOperation(a.to_owned())
        }
        (None, Some(l)) if status == 202 || status == 201 => Monitor::Location(l.to_owned()),
        _ => Monitor::Done,
    }
}

/// What one poll said.
#[derive(Debug, Clone, PartialEq)]
pub enum PollState {
    /// Still running; the state ARM reported, if any.
    Running(Option<ProvisioningState>),
    /// Finished well. For a `Location` poll, the final body (empty for 204).
    Succeeded(Vec<u8>),
    /// Finished `Failed` or `Canceled`, with ARM's error if it gave one.
    Failed {
        /// `Failed` or `Canceled`.
        state: ProvisioningState,
        /// ARM's error tree.
        error: Option<ErrorDetail>,
    },
    /// An HTTP error status: the caller maps it to a typed error (and retries 429/5xx).
    HttpError,
}

#[derive(Deserialize)]
struct StatusBody {
    status: Option<ProvisioningState>,
    error: Option<ErrorDetail>,
}

/// Classifies a response to a GET on an `Azure-AsyncOperation` URL.
pub fn classify_async_operation(status: u16, body: &[u8]) -> PollState {
    if !(200..300).contains(&status) {
        return PollState::HttpError;
    }
    let parsed: Option<StatusBody> = serde_json::from_slice(body).ok();
    match parsed.and_then(|b| b.status.map(|s| (s, b.error))) {
        Some((ProvisioningState::Succeeded, _)) => PollState::Succeeded(Vec::new()),
        Some((state @ (ProvisioningState::Failed | ProvisioningState::Canceled), error)) => {
            PollState::Failed { state, error }
        }
        Some((state, _)) => PollState::Running(Some(state)),
        // A status resource without a status is not finished as far as anyone can tell.
        None => PollState::Running(None),
    }
}

/// Classifies a response to a GET on a `Location` URL: 202 means running; 200/201/204 is the result (which
/// may itself carry a terminal `status`, as what-if results do).
pub fn classify_location(status: u16, body: &[u8]) -> PollState {
    match status {
        202 => PollState::Running(None),
        200 | 201 | 204 => {
            if let Ok(StatusBody {
                status: Some(state @ (ProvisioningState::Failed | ProvisioningState::Canceled)),
                error,
            }) = serde_json::from_slice::<StatusBody>(body)
            {
                return PollState::Failed { state, error };
            }
            PollState::Succeeded(body.to_vec())
        }
        _ => PollState::HttpError,
    }
}

/// The wait before the next poll: ARM's `Retry-After` if given, else the interval, never above the maximum.
pub fn poll_delay(options: &PollOptions, server_wait: Option<Duration>) -> Duration {
    server_wait
        .unwrap_or(options.interval)
        .min(options.max_interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn async_operation_states() {
        assert_eq!(
            classify_async_operation(200, br#"{"status":"Running"}"#),
            PollState::Running(Some(ProvisioningState::Running))
        );
        assert_eq!(
            classify_async_operation(200, br#"{"status":"Succeeded"}"#),
            PollState::Succeeded(Vec::new())
        );
        let failed = classify_async_operation(
            200,
            br#"{"status":"Failed","error":{"code":"DeploymentFailed","message":"m"}}"#,
        );
        match failed {
            PollState::Failed { state, error } => {
                assert_eq!(state, ProvisioningState::Failed);
                assert_eq!(error.unwrap().code, "DeploymentFailed");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify_async_operation(200, br#"{"status":"Canceled"}"#),
            PollState::Failed {
                state: ProvisioningState::Canceled,
                ..
            }
        ));
        assert_eq!(
            classify_async_operation(200, b"{}"),
            PollState::Running(None)
        );
        assert_eq!(classify_async_operation(429, b""), PollState::HttpError);
    }

    #[test]
    fn location_states() {
        assert_eq!(classify_location(202, b""), PollState::Running(None));
        assert_eq!(
            classify_location(204, b""),
            PollState::Succeeded(Vec::new())
        );
        assert_eq!(
            classify_location(200, br#"{"status":"Succeeded","properties":{}}"#),
            PollState::Succeeded(br#"{"status":"Succeeded","properties":{}}"#.to_vec())
        );
        assert!(matches!(
            classify_location(
                200,
                br#"{"status":"Failed","error":{"code":"X","message":"y"}}"#
            ),
            PollState::Failed { .. }
        ));
        assert_eq!(classify_location(500, b""), PollState::HttpError);
    }

    #[test]
    fn monitor_prefers_async_operation() {
        assert_eq!(
            monitor(201, Some("http://a/op"), Some("http://a/loc")),
            Monitor::AsyncOperation("http://a/op".into())
        );
        assert_eq!(
            monitor(202, None, Some("http://a/loc")),
            Monitor::Location("http://a/loc".into())
        );
        assert_eq!(monitor(200, None, None), Monitor::Done);
    }

    #[test]
    fn delay_uses_retry_after_capped() {
        let o = PollOptions::default();
        assert_eq!(poll_delay(&o, None), Duration::from_secs(5));
        assert_eq!(
            poll_delay(&o, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            poll_delay(&o, Some(Duration::from_secs(600))),
            Duration::from_secs(60)
        );
    }
}
