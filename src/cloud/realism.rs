//! Realism on demand: per-request latency, ARM's per-subscription token-bucket throttling, and injected faults.
//! Randomness comes from one ChaCha generator seeded from the configuration, so a sequence of requests sees
//! the same latencies and faults on every run with the same seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Which token bucket a request draws from, as ARM classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestClass {
    Reads,
    Writes,
    Deletes,
}

impl RequestClass {
    pub fn of(method: &axum::http::Method) -> Self {
        match *method {
            axum::http::Method::GET | axum::http::Method::HEAD => RequestClass::Reads,
            axum::http::Method::DELETE => RequestClass::Deletes,
            _ => RequestClass::Writes,
        }
    }

    pub fn header_suffix(self) -> &'static str {
        match self {
            RequestClass::Reads => "reads",
            RequestClass::Writes => "writes",
            RequestClass::Deletes => "deletes",
        }
    }
}

/// One token bucket's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Requests allowed in a burst (the bucket's size, and its content at start).
    pub size: f64,
    /// Tokens added per second.
    pub refill_per_sec: f64,
}

/// The buckets' figures per request class. The default is ARM's published per-subscription figures:
/// 250 reads refilling at 25/s, 200 writes and 200 deletes refilling at 10/s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleLimits {
    /// GET and HEAD.
    pub reads: Bucket,
    /// PUT, PATCH and POST.
    pub writes: Bucket,
    /// DELETE.
    pub deletes: Bucket,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            reads: Bucket {
                size: 250.0,
                refill_per_sec: 25.0,
            },
            writes: Bucket {
                size: 200.0,
                refill_per_sec: 10.0,
            },
            deletes: Bucket {
                size: 200.0,
                refill_per_sec: 10.0,
            },
        }
    }
}

impl ThrottleLimits {
    fn of(&self, class: RequestClass) -> Bucket {
        match class {
            RequestClass::Reads => self.reads,
            RequestClass::Writes => self.writes,
            RequestClass::Deletes => self.deletes,
        }
    }
}

#[derive(Debug)]
struct Level {
    tokens: f64,
    at: Instant,
}

/// Token buckets per (subscription, class).
#[derive(Debug, Default)]
pub struct Throttle {
    limits: ThrottleLimits,
    buckets: Mutex<HashMap<(String, RequestClass), Level>>,
    throttled: std::sync::atomic::AtomicU64,
}

/// The outcome of drawing from a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Draw {
    /// Allowed; tokens remaining afterwards.
    Allowed(u32),
    /// Throttled; whole seconds until a token is available.
    Throttled(u64),
}

impl Throttle {
    pub fn new(limits: ThrottleLimits) -> Self {
        Throttle {
            limits,
            buckets: Mutex::default(),
            throttled: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many requests have been answered 429 so far.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn draw(&self, subscription: &str, class: RequestClass) -> Draw {
        let Bucket {
            size,
            refill_per_sec: rate,
        } = self.limits.of(class);
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = map
            .entry((subscription.to_lowercase(), class))
            .or_insert(Level {
                tokens: size,
                at: now,
            });
        let elapsed = now.duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(size);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            // Truncation is what we want: a partially refilled token is not yet usable.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Draw::Allowed(b.tokens.floor() as u32)
        } else {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let wait = ((1.0 - b.tokens) / rate).ceil().max(1.0) as u64;
            self.throttled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Draw::Throttled(wait)
        }
    }
}

/// An injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    InternalServerError,
    ServiceUnavailable,
    DropConnection,
}

/// The seeded source of latency and faults.
#[derive(Debug)]
pub struct Chaos {
    rng: Mutex<ChaCha8Rng>,
    latency: Duration,
    fault_rate: f64,
}

impl Chaos {
    pub fn new(seed: u64, latency: Duration, fault_rate: f64) -> Self {
        Chaos {
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            latency,
            fault_rate: fault_rate.clamp(0.0, 1.0),
        }
    }

    /// Draw this request's latency and fault together, so that each request consumes the same amount of
    /// randomness and the sequence stays reproducible.
    pub fn next(&self) -> (Duration, Option<Fault>) {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let jitter: f64 = rng.random_range(0.0..0.5);
        let roll: f64 = rng.random();
        let kind: u8 = rng.random_range(0..3);
        let latency = self.latency.mul_f64(1.0 + jitter);
        let fault = (roll < self.fault_rate).then_some(match kind {
            0 => Fault::InternalServerError,
            1 => Fault::ServiceUnavailable,
            _ => Fault::DropConnection,
        });
        (
            if self.latency.is_zero() {
                Duration::ZERO
            } else {
                latency
            },
            fault,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_size_then_throttles() {
        let t = Throttle::default();
        let mut allowed = 0;
        let mut throttled = None;
        for _ in 0..260 {
            match t.draw("sub", RequestClass::Writes) {
                Draw::Allowed(_) => allowed += 1,
                Draw::Throttled(s) => {
                    throttled = Some(s);
                    break;
                }
            }
        }
        // 200 in the bucket plus whatever refilled (10/s) during the loop.
        assert!((200..=205).contains(&allowed), "{allowed}");
        assert_eq!(throttled, Some(1));
        // Other classes and subscriptions have their own buckets.
        assert!(matches!(
            t.draw("sub", RequestClass::Reads),
            Draw::Allowed(249)
        ));
        assert!(matches!(
            t.draw("other", RequestClass::Writes),
            Draw::Allowed(199)
        ));
    }

    #[test]
    fn configured_limits_replace_arms_figures() {
        let tiny = Bucket {
            size: 2.0,
            refill_per_sec: 0.5,
        };
        let t = Throttle::new(ThrottleLimits {
            writes: tiny,
            ..ThrottleLimits::default()
        });
        assert_eq!(t.draw("sub", RequestClass::Writes), Draw::Allowed(1));
        assert_eq!(t.draw("sub", RequestClass::Writes), Draw::Allowed(0));
        // One token at 0.5/s is two seconds away.
        assert_eq!(t.draw("sub", RequestClass::Writes), Draw::Throttled(2));
        assert_eq!(t.draw("sub", RequestClass::Reads), Draw::Allowed(249));
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let seq = |seed| {
            let c = Chaos::new(seed, Duration::from_millis(10), 0.3);
            (0..50).map(|_| c.next()).collect::<Vec<_>>()
        };
        assert_eq!(seq(7), seq(7));
        assert_ne!(seq(7), seq(8));
        let faults = seq(7).iter().filter(|(_, f)| f.is_some()).count();
        assert!((5..=25).contains(&faults), "{faults}");
    }
}
