//! The audit log: every state change and every login, logout and failed login. Bounded in
//! memory (oldest entries go first).
//!
//! Strangers cannot flush it: entries of nobody signed in (actor [`ANONYMOUS`]: refused
//! sign-ins) are kept within a bound of their own, so they never evict what signed-in users
//! did, and the dashboard folds repeated refusals from one client into one entry per window
//! ([`Refusals`]).
//!
//! A leaf: the dashboard writes entries, [`AuditSink`] is where they go, and a shared store
//! (PostgreSQL) may offer one. It imports nothing of the crate.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One audited event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: Timestamp,
    /// Who (user id), or `anonymous`.
    pub actor: String,
    /// From where.
    pub address: Option<String>,
    /// What: `login`, `logout`, `login_failed`, `task.pause`, `task.create`, …
    pub action: String,
    /// On what (task id, username), if anything.
    pub target: Option<String>,
    /// `ok`, or why not.
    pub outcome: String,
}

/// The future of [`AuditSink::page`]: entries newest first and the total, or why not.
pub type AuditPage<'a> =
    Pin<Box<dyn Future<Output = Result<(Vec<AuditEntry>, usize), String>> + Send + 'a>>;

/// Where audit entries go: [`AuditLog`] in memory by default; a shared store (PostgreSQL)
/// keeps them for every replica.
pub trait AuditSink: Send + Sync + 'static {
    /// Records an entry. Must not block: a database sink writes in the background.
    fn record(&self, entry: AuditEntry);
    /// Entries newest first: `offset`, then up to `limit`; and the total.
    fn page(&self, offset: usize, limit: usize) -> AuditPage<'_>;
}

/// The actor of entries made by nobody signed in.
pub(crate) const ANONYMOUS: &str = "anonymous";

impl AuditEntry {
    /// Made by nobody signed in (a refused sign-in): kept within the strangers' bound.
    pub fn is_anonymous(&self) -> bool {
        self.actor == ANONYMOUS
    }
}

/// Logs an audit entry at info level, without secrets.
pub(crate) fn trace(entry: &AuditEntry) {
    // What strangers typed as a username is often a password in the wrong field: the log
    // does not get it (admins see it in the audit log).
    let target = if entry.is_anonymous() {
        None
    } else {
        entry.target.as_deref()
    };
    tracing::info!(actor = %entry.actor, action = %entry.action, target,
        outcome = %entry.outcome, "audit");
}

/// A bounded, newest-first audit log: signed-in users' entries and strangers' (anonymous)
/// entries each within a bound of their own.
#[derive(Debug)]
pub struct AuditLog {
    entries: Mutex<Rings>,
    capacity: usize,
    strangers: usize,
}

#[derive(Debug, Default)]
struct Rings {
    users: VecDeque<AuditEntry>,
    anonymous: VecDeque<AuditEntry>,
}

impl AuditLog {
    /// A log keeping the latest `capacity` entries of signed-in users, and a tenth as many
    /// (at least 100) of nobody signed in.
    pub fn new(capacity: usize) -> AuditLog {
        let capacity = capacity.max(1);
        AuditLog::with_bounds(capacity, (capacity / 10).max(100))
    }

    /// A log keeping the latest `users` entries of signed-in users and `strangers` of nobody
    /// signed in.
    pub fn with_bounds(users: usize, strangers: usize) -> AuditLog {
        AuditLog {
            entries: Mutex::new(Rings::default()),
            capacity: users.max(1),
            strangers: strangers.max(1),
        }
    }

    /// Records an entry (and logs it at info level, without secrets).
    pub fn record(&self, entry: AuditEntry) {
        trace(&entry);
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (ring, bound) = if entry.is_anonymous() {
            (&mut e.anonymous, self.strangers)
        } else {
            (&mut e.users, self.capacity)
        };
        if ring.len() >= bound {
            ring.pop_back();
        }
        ring.push_front(entry);
    }

    /// Entries newest first (both kinds, merged by time): `offset`, then up to `limit`; and
    /// the total.
    pub fn page(&self, offset: usize, limit: usize) -> (Vec<AuditEntry>, usize) {
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (mut u, mut a) = (e.users.iter().peekable(), e.anonymous.iter().peekable());
        let merged = std::iter::from_fn(|| match (u.peek(), a.peek()) {
            (Some(x), Some(y)) if x.at >= y.at => u.next(),
            (Some(_), Some(_)) => a.next(),
            (Some(_), None) => u.next(),
            (None, _) => a.next(),
        });
        (
            merged.skip(offset).take(limit).cloned().collect(),
            e.users.len() + e.anonymous.len(),
        )
    }
}

/// Folds repeated refusals (failed, throttled or turned-away sign-ins) from one client into
/// one audit entry per window: the first is recorded at once, and what follows within the
/// window is counted and recorded as one summary when the window is over (seen on the next
/// refusal from anyone). Bounded: past [`Refusals::MAX_CLIENTS`] windows open, the oldest are
/// summarized early.
#[cfg(feature = "dashboard")]
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    open: Mutex<std::collections::HashMap<(Option<String>, String), Window>>,
}

#[cfg(feature = "dashboard")]
#[derive(Debug)]
struct Window {
    start: Timestamp,
    /// Refusals after the first.
    more: u32,
    /// Usernames tried after the first (the first few).
    names: Vec<String>,
    outcome: String,
}

#[cfg(feature = "dashboard")]
impl Refusals {
    /// How long a window lasts.
    pub(crate) const WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);
    /// Most windows open at once.
    pub(crate) const MAX_CLIENTS: usize = 4096;
    /// Most usernames named in a summary.
    const NAMES: usize = 5;

    /// Notes a refusal; returns the entries to record now (none, the first of a window, and
    /// summaries of windows that are over).
    pub(crate) fn note(&self, entry: AuditEntry) -> Vec<AuditEntry> {
        let now = entry.at;
        let mut out = Vec::new();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        // Close windows that are over (and, past the bound, the oldest half).
        let over = |w: &Window| now.duration_since(w.start) >= Self::WINDOW;
        let mut closing: Vec<(Option<String>, String)> = open
            .iter()
            .filter(|(_, w)| over(w))
            .map(|(k, _)| k.clone())
            .collect();
        if open.len() >= Self::MAX_CLIENTS {
            let mut by_age: Vec<_> = open.iter().map(|(k, w)| (w.start, k.clone())).collect();
            by_age.sort();
            closing.extend(by_age.into_iter().take(open.len() / 2).map(|(_, k)| k));
        }
        for key in closing {
            if let Some(w) = open.remove(&key) {
                if w.more > 0 {
                    out.push(summary(&key, w, now));
                }
            }
        }
        let key = (entry.address.clone(), entry.action.clone());
        match open.get_mut(&key) {
            Some(w) => {
                w.more += 1;
                if let Some(name) = &entry.target {
                    if w.names.len() < Self::NAMES && !w.names.contains(name) {
                        w.names.push(name.clone());
                    }
                }
            }
            None => {
                open.insert(
                    key,
                    Window {
                        start: now,
                        more: 0,
                        names: Vec::new(),
                        outcome: entry.outcome.clone(),
                    },
                );
                out.push(entry);
            }
        }
        out
    }
}

#[cfg(feature = "dashboard")]
fn summary(key: &(Option<String>, String), w: Window, now: Timestamp) -> AuditEntry {
    let mut target = w.names.join(", ");
    if w.names.len() == Refusals::NAMES {
        target.push_str(", …");
    }
    AuditEntry {
        at: now,
        actor: ANONYMOUS.into(),
        address: key.0.clone(),
        action: key.1.clone(),
        target: (!target.is_empty()).then_some(target),
        outcome: format!(
            "{} more ({}) within {} s of the first",
            w.more,
            w.outcome,
            Refusals::WINDOW.as_secs()
        ),
    }
}

impl AuditSink for AuditLog {
    fn record(&self, entry: AuditEntry) {
        AuditLog::record(self, entry);
    }

    fn page(&self, offset: usize, limit: usize) -> AuditPage<'_> {
        Box::pin(std::future::ready(Ok(AuditLog::page(self, offset, limit))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(at: i64, address: &str, user: &str) -> AuditEntry {
        AuditEntry {
            at: Timestamp::from_second(at).unwrap(),
            actor: ANONYMOUS.into(),
            address: Some(address.into()),
            action: "login_failed".into(),
            target: Some(user.into()),
            outcome: "bad credentials".into(),
        }
    }

    #[test]
    fn strangers_cannot_evict_users() {
        let log = AuditLog::with_bounds(2, 3);
        log.record(AuditEntry {
            actor: "ada".into(),
            action: "task.pause".into(),
            ..refused(1, "10.0.0.1", "x")
        });
        for i in 0..1100 {
            log.record(refused(2 + i, "203.0.113.9", "root"));
        }
        let (page, total) = log.page(0, 10);
        assert_eq!(total, 4);
        assert!(page.iter().any(|e| e.actor == "ada"), "{page:?}");
        assert_eq!(page.iter().filter(|e| e.is_anonymous()).count(), 3);
        assert_eq!(page[0].at.as_second(), 1101, "newest first");
    }

    #[cfg(feature = "dashboard")]
    #[test]
    fn refusals_fold_per_client_and_window() {
        let r = Refusals::default();
        let mut recorded = Vec::new();
        for i in 0..1100 {
            let user = format!("user{}", i % 7);
            recorded.extend(r.note(refused(i / 300, "203.0.113.9", &user)));
        }
        assert_eq!(recorded.len(), 1, "only the first, while the window lasts");
        recorded.extend(r.note(refused(100, "198.51.100.1", "ada")));
        assert_eq!(
            recorded.len(),
            3,
            "a new client, and the first one's summary"
        );
        let summary = &recorded[1];
        assert_eq!(summary.address.as_deref(), Some("203.0.113.9"));
        assert!(
            summary.outcome.starts_with("1099 more"),
            "{}",
            summary.outcome
        );
        assert_eq!(
            summary.target.as_deref(),
            Some("user1, user2, user3, user4, user5, …")
        );
    }

    #[test]
    fn bounded_newest_first() {
        let log = AuditLog::new(2);
        for i in 0..3 {
            log.record(AuditEntry {
                at: Timestamp::UNIX_EPOCH,
                actor: format!("u{i}"),
                address: None,
                action: "login".into(),
                target: None,
                outcome: "ok".into(),
            });
        }
        let (page, total) = log.page(0, 10);
        assert_eq!(total, 2);
        assert_eq!(page[0].actor, "u2");
        assert_eq!(page[1].actor, "u1");
    }
}
