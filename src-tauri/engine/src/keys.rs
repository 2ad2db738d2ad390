//! API keys and secret-link tokens: random tokens, shown once, stored as SHA-256 hashes,
//! compared in constant time; and the limiter that slows down key guessing.
//!
//! SECURITY: tokens are 32 random bytes (hex), so a fast hash is enough; nothing stores or
//! logs a token itself. A presented token is hashed and compared with every stored hash
//! by [`ct_eq`], which looks at every byte whatever matches, so the time taken does not
//! tell a guesser how close it came. Failed key attempts are counted per client address
//! by [`FailureLimiter`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A random hex token of `bytes` bytes.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// The stored form of a key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.trim().as_bytes()))
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keep the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

/// Whether `token` hashes to one of `hashes` (hex SHA-256), checking every one of them.
pub fn matches_any<'a>(token: &str, hashes: impl IntoIterator<Item = &'a str>) -> bool {
    let presented = hash_key(token);
    hashes.into_iter().fold(false, |found, h| ct_eq(presented.as_bytes(), h.as_bytes()) | found)
}

/// Pulls the key out of an `Authorization: Key <key>` header value.
pub fn parse_authorization(value: &str) -> Option<&str> {
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("key").then(|| key.trim()).filter(|k| !k.is_empty())
}

/// Failed key attempts allowed per address before it must wait.
pub const FAILURE_BURST: f64 = 10.0;
/// How fast the allowance refills: [`FAILURE_BURST`] attempts per minute.
const REFILL_PER_SEC: f64 = FAILURE_BURST / 60.0;
/// Addresses tracked at most; full buckets are forgotten first.
const MAX_TRACKED: usize = 10_000;

/// A token bucket per client address, spent only by failed key attempts (successes and
/// requests without a key cost nothing). Empty → the address gets 429 until it refills.
#[derive(Debug, Default)]
pub struct FailureLimiter {
    // A std lock: held for a map lookup, never across an await.
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// The address a bucket belongs to: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64, since
/// one host usually holds a whole /64 and could otherwise rotate addresses.
fn bucket_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

impl FailureLimiter {
    fn level(tokens: f64, since: Instant, now: Instant) -> f64 {
        (tokens + now.saturating_duration_since(since).as_secs_f64() * REFILL_PER_SEC).min(FAILURE_BURST)
    }

    /// `Some(wait)` when `ip` has used up its failures and must wait before trying a key.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let &(tokens, since) = map.get(&bucket_of(ip))?;
        let level = Self::level(tokens, since, now);
        (level < 1.0).then(|| Duration::from_secs_f64((1.0 - level) / REFILL_PER_SEC))
    }

    /// Records a failed attempt from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (t, since)| Self::level(*t, *since, now) < FAILURE_BURST);
        }
        let entry = map.entry(bucket_of(ip)).or_insert((FAILURE_BURST, now));
        let level = Self::level(entry.0, entry.1, now);
        *entry = ((level - 1.0).max(0.0), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_header() {
        assert_eq!(parse_authorization("Key abc"), Some("abc"));
        assert_eq!(parse_authorization("key  abc "), Some("abc"));
        assert_eq!(parse_authorization("Bearer abc"), None);
        assert_eq!(parse_authorization("Key "), None);
    }

    #[test]
    fn tokens_are_unique_and_hashes_stable() {
        let a = random_token(32);
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token(32));
        assert_eq!(hash_key(&a), hash_key(&a));
        assert_ne!(hash_key(&a), a);
    }

    #[test]
    fn constant_time_compare() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        let k = random_token(32);
        let other = hash_key("other");
        assert!(matches_any(&k, [other.as_str(), hash_key(&k).as_str()]));
        assert!(!matches_any(&k, [other.as_str()]));
        assert!(!matches_any(&k, []));
    }

    #[test]
    fn limiter_blocks_after_the_burst_and_only_that_address() {
        let l = FailureLimiter::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().expect("ip"), "10.0.0.2".parse().expect("ip"));
        for _ in 0..10 {
            assert!(l.blocked(a).is_none());
            l.failed(a);
        }
        let wait = l.blocked(a).expect("blocked after 10 failures");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(6), "{wait:?}");
        assert!(l.blocked(b).is_none());
        // IPv6 counts per /64; IPv4-mapped addresses count as their IPv4 address.
        let v6 = |s: &str| -> IpAddr { s.parse().expect("ip") };
        for i in 0..10 {
            l.failed(v6(&format!("fd00:1:2:3::{i:x}")));
        }
        assert!(l.blocked(v6("fd00:1:2:3:ffff::1")).is_some());
        assert!(l.blocked(v6("fd00:1:2:4::1")).is_none());
        assert!(l.blocked(v6("::ffff:10.0.0.1")).is_some());
    }
}
