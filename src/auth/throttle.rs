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
    /// Attempts being judged now: counted before the password is hashed, so a burst of
    /// concurrent attempts gets no more judgements than the same attempts one by one.
    pending: u32,
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

    /// How long until another attempt may be judged.
    fn retry_after(&self, cap: Duration, now: Instant) -> Duration {
        if self.pending > 0 && self.failures + self.pending >= FREE_FAILURES {
            // Every attempt the sequential allowance gives is being judged: wait for their
            // outcome.
            return PENDING_WAIT;
        }
        (self.last + self.wait(cap)).saturating_duration_since(now)
    }
}

/// What a client is told to wait while earlier attempts of its own are still being judged.
const PENDING_WAIT: Duration = Duration::from_secs(1);

/// At most so many password checks at once, and so many more waiting; beyond, sign-ins are
/// refused at once (503). A check (argon2) holds about 19 MiB while it runs.
#[derive(Debug)]
pub(crate) struct LoginSlots {
    running: tokio::sync::Semaphore,
    /// Checks running or waiting.
    inside: std::sync::atomic::AtomicUsize,
    /// Most checks running or waiting.
    limit: usize,
}

/// A place among the running checks; gives it back when dropped.
#[derive(Debug)]
pub(crate) struct Slot<'s> {
    _permit: tokio::sync::SemaphorePermit<'s>,
    inside: &'s std::sync::atomic::AtomicUsize,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.inside
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl LoginSlots {
    /// `running` checks at once (at least one), `queue` more waiting.
    pub(crate) fn new(running: usize, queue: usize) -> LoginSlots {
        let running = running.max(1);
        LoginSlots {
            running: tokio::sync::Semaphore::new(running),
            inside: std::sync::atomic::AtomicUsize::new(0),
            limit: running + queue,
        }
    }

    /// Waits for a place, or `None` at once when the queue is full.
    pub(crate) async fn enter(&self) -> Option<Slot<'_>> {
        use std::sync::atomic::Ordering;
        if self.inside.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.inside.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        // Counted as inside from here: a waiter dropped before it gets a permit gives its
        // place back through this guard.
        struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize, bool);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    self.0.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
        let mut waiting = Waiting(&self.inside, false);
        // The semaphore is never closed.
        let permit = self.running.acquire().await.ok()?;
        waiting.1 = true;
        Some(Slot {
            _permit: permit,
            inside: &self.inside,
        })
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

/// A login attempt allowed to be judged. Its outcome must be told ([`Attempt::failed`],
/// [`Attempt::succeeded`]); dropped without one (the client went away, maybe while its
/// password was being checked), it counts as a failure, so that hanging up cannot be used to
/// try passwords without being slowed.
#[derive(Debug)]
pub(crate) struct Attempt<'t> {
    throttle: &'t Throttle,
    addr: Option<IpAddr>,
    user: Option<String>,
    done: bool,
}

impl Attempt<'_> {
    /// The password was wrong: counts a failure for the address and the username.
    pub(crate) fn failed(mut self, now: Instant) {
        self.done = true;
        self.throttle
            .settle(self.addr, self.user.as_deref(), Some(now));
    }

    /// Nothing was judged (a sign-in began, a backend served a file): no longer pending, and
    /// no failure counted.
    pub(crate) fn withdrawn(mut self) {
        self.done = true;
        let mut map = self.throttle.lock();
        for (k, _) in Throttle::keys(self.addr, self.user.as_deref()) {
            if let Some(r) = map.get_mut(&k) {
                r.pending = r.pending.saturating_sub(1);
                if r.pending == 0 && r.failures == 0 {
                    map.remove(&k);
                }
            }
        }
    }

    /// The password was right: forgets the username's failures. The address's stay: one
    /// working account must not let its holder wipe the failures of guesses at others.
    pub(crate) fn succeeded(mut self) {
        self.done = true;
        self.throttle.settle(self.addr, self.user.as_deref(), None);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.throttle
                .settle(self.addr, self.user.as_deref(), Some(Instant::now()));
        }
    }
}

impl Throttle {
    /// What an attempt is counted against: the username (unless the browser has signed in
    /// as that user before: see [`Throttle::begin`]) and the client, an IPv6 client by its
    /// /64 (one subscriber's whole block, which it can draw fresh addresses from).
    fn keys(addr: Option<IpAddr>, user: Option<&str>) -> Vec<(Key, Duration)> {
        let mut k = Vec::with_capacity(2);
        if let Some(u) = user {
            k.push((Key::User(u.to_ascii_lowercase()), USER_CAP));
        }
        if let Some(a) = addr {
            k.push((Key::Addr(client_key(a)), ADDR_CAP));
        }
        k
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Record>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long until this address and username may try again (zero: now).
    #[cfg(test)]
    pub(crate) fn retry_after(
        &self,
        addr: Option<IpAddr>,
        user: Option<&str>,
        now: Instant,
    ) -> Duration {
        let map = self.lock();
        Self::wait_in(&map, addr, user, now)
    }

    fn wait_in(
        map: &HashMap<Key, Record>,
        addr: Option<IpAddr>,
        user: Option<&str>,
        now: Instant,
    ) -> Duration {
        Self::keys(addr, user)
            .iter()
            .filter_map(|(k, cap)| map.get(k).map(|r| r.retry_after(*cap, now)))
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Lets one attempt be judged now, counting it as pending for its address and username,
    /// or says how long to wait first. Checking and counting are one step, under one lock.
    pub(crate) fn begin(
        &self,
        addr: Option<IpAddr>,
        user: Option<&str>,
        now: Instant,
    ) -> Result<Attempt<'_>, Duration> {
        let mut map = self.lock();
        let wait = Self::wait_in(&map, addr, user, now);
        if !wait.is_zero() {
            return Err(wait);
        }
        Self::make_room(&mut map, now);
        for (k, _) in Self::keys(addr, user) {
            let r = map.entry(k).or_insert(Record {
                failures: 0,
                pending: 0,
                last: now,
            });
            if now.duration_since(r.last) >= FORGET_AFTER && r.pending == 0 {
                r.failures = 0;
            }
            r.pending += 1;
        }
        Ok(Attempt {
            throttle: self,
            addr,
            user: user.map(str::to_string),
            done: false,
        })
    }

    /// Past [`MAX_ENTRIES`], forgets quiet records, then the stalest half of the rest (never
    /// one with an attempt pending).
    fn make_room(map: &mut HashMap<Key, Record>, now: Instant) {
        if map.len() < MAX_ENTRIES {
            return;
        }
        map.retain(|_, r| r.pending > 0 || now.duration_since(r.last) < FORGET_AFTER);
        if map.len() >= MAX_ENTRIES {
            let mut ages: Vec<Instant> = map.values().map(|r| r.last).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            map.retain(|_, r| r.pending > 0 || r.last > cut);
        }
    }

    /// An attempt's outcome: a failure at `failed_at`, or a success (`None`).
    fn settle(&self, addr: Option<IpAddr>, user: Option<&str>, failed_at: Option<Instant>) {
        let mut map = self.lock();
        for (k, _) in Self::keys(addr, user) {
            match failed_at {
                Some(now) => {
                    let r = map.entry(k).or_insert(Record {
                        failures: 0,
                        pending: 1,
                        last: now,
                    });
                    r.pending = r.pending.saturating_sub(1);
                    if now.duration_since(r.last) >= FORGET_AFTER {
                        r.failures = 0;
                    }
                    r.failures += 1;
                    r.last = now;
                }
                None => match k {
                    Key::User(_) => {
                        map.remove(&k);
                    }
                    Key::Addr(_) => {
                        if let Some(r) = map.get_mut(&k) {
                            r.pending = r.pending.saturating_sub(1);
                            if r.pending == 0 && r.failures == 0 {
                                map.remove(&k);
                            }
                        }
                    }
                },
            }
        }
    }

    /// Counts a failure at once (tests of the arithmetic).
    #[cfg(test)]
    pub(crate) fn failed(&self, addr: Option<IpAddr>, user: Option<&str>, now: Instant) {
        self.settle(addr, user, Some(now));
    }

    #[cfg(test)]
    pub(crate) fn succeeded(&self, addr: Option<IpAddr>, user: Option<&str>) {
        self.settle(addr, user, None);
    }
}

/// The throttle's key for a client address: IPv4 as it is, IPv6 by its /64.
pub(crate) fn client_key(a: IpAddr) -> IpAddr {
    match a.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
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
            t.failed(ip, Some("ada"), t0);
        }
        assert_eq!(t.retry_after(ip, Some("ada"), t0), Duration::from_secs(1));
        for _ in 0..5 {
            t.failed(ip, Some("ada"), t0);
        }
        assert_eq!(
            t.retry_after(ip, Some("ada"), t0),
            Duration::from_secs(32),
            "address doubles"
        );
        let other_ip = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(
            t.retry_after(other_ip, Some("ada"), t0),
            Duration::from_secs(32).min(USER_CAP),
            "username slowed from anywhere"
        );
        assert_eq!(
            t.retry_after(other_ip, Some("bob"), t0),
            Duration::ZERO,
            "others unaffected"
        );
        for _ in 0..30 {
            t.failed(ip, Some("ada"), t0);
        }
        assert_eq!(t.retry_after(ip, Some("ada"), t0), ADDR_CAP, "capped");
        assert_eq!(
            t.retry_after(other_ip, Some("ada"), t0),
            USER_CAP,
            "a real user waits at most a minute"
        );
        let later = t0 + FORGET_AFTER + Duration::from_secs(1);
        t.failed(ip, Some("ada"), later);
        assert_eq!(
            t.retry_after(ip, Some("ada"), later),
            Duration::ZERO,
            "forgotten after a quiet period"
        );
        t.succeeded(ip, Some("ada"));
        assert_eq!(
            t.retry_after(other_ip, Some("ada"), later),
            Duration::ZERO,
            "a success forgets the username"
        );
        assert_eq!(
            t.retry_after(ip, None, later),
            Duration::ZERO,
            "the address keeps its one failure, which is free"
        );
    }

    #[test]
    fn a_burst_is_judged_no_more_than_one_by_one() {
        let t = Throttle::default();
        let ip = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let t0 = Instant::now();
        // Two hundred attempts at once: only the free ones may be judged.
        let mut judged = Vec::new();
        let mut refused = 0;
        for _ in 0..200 {
            match t.begin(ip, Some("ada"), t0) {
                Ok(a) => judged.push(a),
                Err(wait) => {
                    assert_eq!(wait, PENDING_WAIT);
                    refused += 1;
                }
            }
        }
        assert_eq!(judged.len() as u32, FREE_FAILURES);
        assert_eq!(refused, 200 - FREE_FAILURES);
        for a in judged {
            a.failed(t0);
        }
        // Then the same wait as after three failures one by one.
        assert_eq!(
            t.begin(ip, Some("ada"), t0).unwrap_err(),
            Duration::from_secs(1)
        );
        let later = t0 + Duration::from_secs(1);
        let a = t.begin(ip, Some("ada"), later).expect("after the wait");
        assert!(
            t.begin(ip, Some("ada"), later).is_err(),
            "one at a time once slowed"
        );
        drop(a);
        assert!(
            t.begin(ip, Some("ada"), later).is_err(),
            "an attempt dropped without an outcome (a hang-up) counts as a failure"
        );
    }

    #[test]
    fn an_ipv6_block_counts_as_one_client() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for i in 1..=3u16 {
            let a = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, i));
            t.begin(Some(a), Some(&format!("u{i}")), t0)
                .unwrap()
                .failed(t0);
        }
        let fresh = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 9, 9, 9, 9));
        assert!(t.begin(Some(fresh), Some("new"), t0).is_err(), "same /64");
        let other = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
        assert!(t.begin(Some(other), Some("new"), t0).is_ok(), "another /64");
    }

    #[test]
    fn a_known_browser_is_not_slowed_by_strangers() {
        let t = Throttle::default();
        let t0 = Instant::now();
        let stranger = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)));
        for _ in 0..3 {
            t.begin(stranger, Some("ada"), t0).unwrap().failed(t0);
        }
        let office = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)));
        assert!(
            t.begin(office, Some("ada"), t0).is_err(),
            "a new browser waits"
        );
        assert!(
            t.begin(office, None, t0).is_ok(),
            "ada's own browser does not"
        );
    }

    #[test]
    fn success_forgets_the_username_not_the_address() {
        let t = Throttle::default();
        let addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let ip = Some(addr);
        let t0 = Instant::now();
        t.begin(ip, Some("ada"), t0).unwrap().failed(t0);
        t.begin(ip, Some("ada"), t0).unwrap().succeeded();
        assert_eq!(t.retry_after(ip, Some("ada"), t0), Duration::ZERO);
        let map = t.lock();
        assert!(!map.contains_key(&Key::User("ada".into())));
        assert_eq!(map[&Key::Addr(addr)].failures, 1);
        assert_eq!(map[&Key::Addr(addr)].pending, 0);
        drop(map);
        // A success with nothing failed leaves nothing behind.
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        t.begin(Some(other), Some("bob"), t0).unwrap().succeeded();
        assert!(!t.lock().contains_key(&Key::Addr(other)));
    }

    #[test]
    fn own_sign_ins_between_guesses_do_not_wipe_the_address() {
        let t = Throttle::default();
        let ip = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)));
        let t0 = Instant::now();
        let mut judged = 0;
        for i in 0..20 {
            if let Ok(a) = t.begin(ip, Some("mallory"), t0) {
                a.succeeded();
            }
            if let Ok(a) = t.begin(ip, Some(&format!("victim{i}")), t0) {
                a.failed(t0);
                judged += 1;
            }
        }
        assert_eq!(judged, 3, "three free guesses, then the address waits");
    }
}
