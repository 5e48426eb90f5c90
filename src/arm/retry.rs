//! Our retry policy for throttling (429) and server errors (5xx), and for connection errors on idempotent
//! requests. azure_core's own retry is switched off (see `client.rs`): it stops after 60 s in total, which
//! cuts ARM's throttling waits short, and two stacked policies would multiply the attempts.
//!
//! Waits honour `retry-after-ms`, `x-ms-retry-after-ms` and `Retry-After` (seconds or an HTTP date); without
//! them, exponential backoff with jitter. Limits are generous and configurable.

use std::time::{Duration, SystemTime};

/// How hard to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOptions {
    /// Requests sent at most, the first included.
    pub max_attempts: u32,
    /// Total time (sending and waiting) after which no further attempt starts.
    pub max_total_wait: Duration,
    /// First backoff when the server gives no `Retry-After`.
    pub initial_backoff: Duration,
    /// Longest backoff (server-given waits are honoured even when longer, up to `max_total_wait`).
    pub max_backoff: Duration,
}

impl Default for RetryOptions {
    /// 15 attempts within 30 minutes, backoff from 1 s doubling to 2 min: ARM's subscription bucket
    /// refills at 10 writes/s, so long throttling is rare but real on busy subscriptions.
    fn default() -> Self {
        RetryOptions {
            max_attempts: 15,
            max_total_wait: Duration::from_secs(30 * 60),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(120),
        }
    }
}

/// Statuses worth retrying: throttling, request timeout, and server errors other than "not implemented"
/// and "HTTP version not supported", which will not change.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429) || ((500..=599).contains(&status) && status != 501 && status != 505)
}

/// Whether a transport error says the server's TLS certificate failed verification (OpenSSL's and rustls'
/// wordings). Asking again cannot fix that, so such errors are never retried: the operator has to trust the
/// right certificate authority (for a local cloud, `--cloud-ca`).
pub fn is_certificate_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "certificate verify failed",
        "invalid peer certificate",
        "self-signed certificate",
        "self signed certificate",
        "unable to get local issuer certificate",
        "certificate has expired",
        "hostname mismatch",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// The wait a response asks for: `retry-after-ms`, `x-ms-retry-after-ms`, then `Retry-After` in seconds or
/// as an HTTP date (relative to `now`; a date in the past means no wait). `header` looks a header up by
/// lower-case name.
pub fn retry_after<'a>(
    header: impl Fn(&str) -> Option<&'a str>,
    now: SystemTime,
) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = header(name).and_then(|v| v.trim().parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let v = header("retry-after")?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Backoff before retry number `retry` (1 for the first retry): exponential, capped, with "equal jitter"
/// (half fixed, half random) so that many clients throttled together do not return together.
/// `unit` is a random number in `[0, 1)`.
pub fn backoff(options: &RetryOptions, retry: u32, unit: f64) -> Duration {
    let exp = options
        .initial_backoff
        .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
    let capped = exp.min(options.max_backoff);
    let half = capped / 2;
    half + half.mul_f64(unit.clamp(0.0, 1.0))
}

/// Whether to try again, and after how long. `retry` is the number of the retry about to happen (1 for
/// the first); `elapsed` the time since the first attempt; `server_wait` what the response asked for.
/// `None` means give up.
pub fn next_delay(
    options: &RetryOptions,
    retry: u32,
    elapsed: Duration,
    server_wait: Option<Duration>,
    unit: f64,
) -> Option<Duration> {
    if retry >= options.max_attempts {
        return None;
    }
    let wait = server_wait.unwrap_or_else(|| backoff(options, retry, unit));
    (elapsed + wait <= options.max_total_wait).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
    }

    #[test]
    fn certificate_failures_are_recognised_and_other_transport_errors_are_not() {
        for m in [
            "client error (Connect): error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:ssl/statem/statem_clnt.c:2091: (self-signed certificate in certificate chain)",
            "error sending request: invalid peer certificate: UnknownIssuer",
            "unable to get local issuer certificate",
        ] {
            assert!(is_certificate_error(m), "{m}");
        }
        for m in [
            "client error (Connect): tcp connect error: Connection refused (os error 111)",
            "connection closed before message completed",
            "operation timed out",
        ] {
            assert!(!is_certificate_error(m), "{m}");
        }
    }

    #[test]
    fn retry_after_seconds_ms_and_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            retry_after(headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(
                headers(&[("retry-after", "7"), ("retry-after-ms", "250")]),
                now
            ),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(headers(&[("x-ms-retry-after-ms", "40")]), now),
            Some(Duration::from_millis(40))
        );
        assert_eq!(
            retry_after(
                headers(&[("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(
                headers(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(headers(&[]), now), None);
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 501, 505] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let o = RetryOptions::default();
        assert_eq!(backoff(&o, 1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(&o, 1, 0.999_999).as_millis(), 999);
        assert_eq!(backoff(&o, 3, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(&o, 30, 0.0), Duration::from_secs(60));
        assert!(backoff(&o, 30, 0.5) <= o.max_backoff);
    }

    #[test]
    fn server_waits_are_honoured_beyond_a_minute_but_not_beyond_the_total() {
        let o = RetryOptions::default();
        assert_eq!(
            next_delay(&o, 1, Duration::ZERO, Some(Duration::from_secs(300)), 0.0),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            next_delay(
                &o,
                1,
                Duration::from_secs(29 * 60),
                Some(Duration::from_secs(300)),
                0.0
            ),
            None
        );
        assert_eq!(
            next_delay(&o, o.max_attempts, Duration::ZERO, None, 0.0),
            None
        );
    }
}
