//! Login throttling: a growing delay after failed logins, per client address and per username.
//!
//! The first few failures are free; then each further one doubles the wait before the next
//! attempt is heard (429 with `Retry-After`). Waits are capped — 15 minutes per address, one
//! minute per username — and forgotten after a quiet period, so an attacker can slow a real
//! user down but never lock them out for good.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FREE_FAILURES: u32 = 3;
const ADDR_CAP: Duration = Duration::from_secs(15 * 60);
const USER_CAP: Duration = Duration::from_secs(60);
const FORGET_AFTER: Duration = Duration::from_secs(30 * 60);
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Record {
    failures: u32,
    last: Instant,
}

impl Record {
    fn wait(&self, cap: Duration) -> Duration {
        if self.failures < FREE_FAILURES {
            return Duration::ZERO;
        }
        let exp = (self.failures - FREE_FAILURES).min(20);
        Duration::from_secs(1u64 << exp).min(cap)
    }
}

#[derive(Debug, PartialEq, Eq, Hash, Clone)]
enum Key {
    Addr(IpAddr),
    User(String),
}

/// Failed-login bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    map: Mutex<HashMap<Key, Record>>,
}

impl Throttle {
    fn keys(addr: Option<IpAddr>, user: &str) -> Vec<(Key, Duration)> {
        let mut k = vec![(Key::User(user.to_ascii_lowercase()), USER_CAP)];
        if let Some(a) = addr {
            k.push((Key::Addr(a), ADDR_CAP));
        }
        k
    }

    /// How long until this address and username may try again (zero: now).
    pub(crate) fn retry_after(&self, addr: Option<IpAddr>, user: &str, now: Instant) -> Duration {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        Self::keys(addr, user)
            .iter()
            .filter_map(|(k, cap)| map.get(k).map(|r| (r, *cap)))
            .map(|(r, cap)| (r.last + r.wait(cap)).saturating_duration_since(now))
            .max()
            .unwrap_or(Duration::ZERO)
    }

    pub(crate) fn failed(&self, addr: Option<IpAddr>, user: &str, now: Instant) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, r| now.duration_since(r.last) < FORGET_AFTER);
            if map.len() >= MAX_ENTRIES {
                // Still full: drop the stalest half rather than grow without bound.
                let mut ages: Vec<Instant> = map.values().map(|r| r.last).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                map.retain(|_, r| r.last > cut);
            }
        }
        for (k, _) in Self::keys(addr, user) {
            let r = map.entry(k).or_insert(Record {
                failures: 0,
                last: now,
            });
            if now.duration_since(r.last) >= FORGET_AFTER {
                r.failures = 0;
            }
            r.failures += 1;
            r.last = now;
        }
    }

    pub(crate) fn succeeded(&self, addr: Option<IpAddr>, user: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        for (k, _) in Self::keys(addr, user) {
            map.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn delay_grows_is_capped_and_forgotten() {
        let t = Throttle::default();
        let ip = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let t0 = Instant::now();
        for _ in 0..3 {
            t.failed(ip, "ada", t0);
        }
        assert_eq!(t.retry_after(ip, "ada", t0), Duration::from_secs(1));
        for _ in 0..5 {
            t.failed(ip, "ada", t0);
        }
        assert_eq!(
            t.retry_after(ip, "ada", t0),
            Duration::from_secs(32),
            "address doubles"
        );
        let other_ip = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(
            t.retry_after(other_ip, "ada", t0),
            Duration::from_secs(32).min(USER_CAP),
            "username slowed from anywhere"
        );
        assert_eq!(
            t.retry_after(other_ip, "bob", t0),
            Duration::ZERO,
            "others unaffected"
        );
        for _ in 0..30 {
            t.failed(ip, "ada", t0);
        }
        assert_eq!(t.retry_after(ip, "ada", t0), ADDR_CAP, "capped");
        assert_eq!(
            t.retry_after(other_ip, "ada", t0),
            USER_CAP,
            "a real user waits at most a minute"
        );
        let later = t0 + FORGET_AFTER + Duration::from_secs(1);
        t.failed(ip, "ada", later);
        assert_eq!(
            t.retry_after(ip, "ada", later),
            Duration::ZERO,
            "forgotten after a quiet period"
        );
        t.succeeded(ip, "ada");
        assert_eq!(t.retry_after(ip, "ada", t0), Duration::ZERO);
    }
}
