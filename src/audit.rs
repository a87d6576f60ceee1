//! The audit log: every state change and every login, logout and failed login. Bounded in
//! memory (oldest entries go first).
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

/// Logs an audit entry at info level, without secrets.
pub(crate) fn trace(entry: &AuditEntry) {
    tracing::info!(actor = %entry.actor, action = %entry.action, target = entry.target.as_deref(),
        outcome = %entry.outcome, "audit");
}

/// A bounded, newest-first audit log.
#[derive(Debug)]
pub struct AuditLog {
    entries: Mutex<VecDeque<AuditEntry>>,
    capacity: usize,
}

impl AuditLog {
    /// A log keeping the latest `capacity` entries.
    pub fn new(capacity: usize) -> AuditLog {
        AuditLog {
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity: capacity.max(1),
        }
    }

    /// Records an entry (and logs it at info level, without secrets).
    pub fn record(&self, entry: AuditEntry) {
        trace(&entry);
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if e.len() >= self.capacity {
            e.pop_back();
        }
        e.push_front(entry);
    }

    /// Entries newest first: `offset`, then up to `limit`; and the total.
    pub fn page(&self, offset: usize, limit: usize) -> (Vec<AuditEntry>, usize) {
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        (
            e.iter().skip(offset).take(limit).cloned().collect(),
            e.len(),
        )
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
