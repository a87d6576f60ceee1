//! Ended sessions: a session signed out on one replica is refused on every replica until it
//! would have expired anyway.
//!
//! Session cookies are signed, not stored, so ending one means remembering it until its expiry:
//! by its id (a sign-out), or by its user and a time (every session of that user issued
//! before it: "sign out everywhere", a removed user). Every entry is dropped at the expiry of
//! the sessions it ends, so the set holds no more than the sessions started within one session
//! lifetime, and each check is a hash lookup or two.
//!
//! With several replicas, a [`RevocationStore`] shares the entries: each replica publishes
//! what it ends and reads what the others ended at least twice a second. The PostgreSQL store
//! offers one (`PostgresStore::revocations`). A leaf: it imports nothing of the crate.
// Without the dashboard, only the PostgreSQL store's side of this module is used.
#![cfg_attr(not(feature = "dashboard"), allow(dead_code))]

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

/// What an entry ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// One session, by its id (and its user's, which stands in when too many sessions are
    /// ended one by one).
    Session {
        /// The session id.
        sid: String,
        /// Its user's id.
        user: String,
    },
    /// Every session of this user id issued at or before [`Revocation::at_ms`].
    User(String),
}

/// One ended session, or every session of a user up to a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// What it ends.
    pub ended: Ended,
    /// When it was made, Unix milliseconds (for [`Ended::User`], sessions issued at or
    /// before it are ended).
    pub at_ms: i64,
    /// When it may be forgotten, Unix seconds: the latest expiry of the sessions it ends.
    pub until: i64,
}

/// The future of [`RevocationStore`] methods.
pub type RevocationFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// Where replicas share the sessions they end.
pub trait RevocationStore: Send + Sync + 'static {
    /// Stores an entry for every replica.
    fn publish(&self, r: Revocation) -> RevocationFuture<'_, ()>;
    /// Entries stored after `cursor` (0 at first), with the cursor to ask from next time; at
    /// most [`PAGE`] at a time (a full page means ask again at once). Entries may come again:
    /// adding one twice changes nothing.
    fn since(&self, cursor: i64) -> RevocationFuture<'_, (Vec<Revocation>, i64)>;
}

/// Most entries a [`RevocationStore::since`] answer should hold.
pub const PAGE: usize = 1000;

/// Most entries kept by id; past it (after dropping expired ones) a sign-out ends every
/// session of its user instead, which still holds and costs one entry per user.
const MAX_SESSIONS: usize = 200_000;

/// The ended sessions one process knows of.
#[derive(Debug, Default)]
pub(crate) struct RevocationSet {
    /// False while nothing is ended: the check per request is one atomic load.
    any: AtomicBool,
    inner: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Session id → until.
    sessions: HashMap<String, i64>,
    /// User id → (issued at or before, in milliseconds; until).
    users: HashMap<String, (i64, i64)>,
}

impl RevocationSet {
    /// True when the session `sid` of `user`, issued at `iat_ms` (Unix milliseconds), has
    /// been ended.
    /// [`RevocationSet::is_ended`] for `user` of the login backend `via`: every session of a
    /// user is ended under [`user_key`], so that two backends' users of one id stay apart.
    /// Builds the key only when some user's sessions were ended.
    pub(crate) fn is_ended_as(&self, sid: &str, via: &str, user: &str, iat_ms: i64) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let e = self.inner.read().unwrap_or_else(|p| p.into_inner());
        if e.sessions.contains_key(sid) {
            return true;
        }
        !e.users.is_empty()
            && e.users
                .get(&user_key(via, user))
                .is_some_and(|(at, _)| iat_ms <= *at)
    }

    /// True when every session of `user`, through any backend, issued at or before
    /// `since_ms` was ended.
    pub(crate) fn user_ended_since(&self, user: &str, since_ms: i64) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let e = self.inner.read().unwrap_or_else(|p| p.into_inner());
        e.users.iter().any(|(key, (at, _))| {
            key.split_once(':').is_some_and(|(_, u)| u == user) && since_ms <= *at
        })
    }

    #[cfg(test)]
    pub(crate) fn is_ended(&self, sid: &str, user: &str, iat_ms: i64) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let e = self.inner.read().unwrap_or_else(|p| p.into_inner());
        e.sessions.contains_key(sid) || e.users.get(user).is_some_and(|(at, _)| iat_ms <= *at)
    }

    /// Adds an entry (dropping those past their time, as of `now`).
    pub(crate) fn add(&self, r: &Revocation, now: i64) {
        let mut e = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if r.until <= now {
            return;
        }
        match &r.ended {
            Ended::Session { sid, user } => {
                if e.sessions.len() >= MAX_SESSIONS {
                    e.sessions.retain(|_, until| *until > now);
                }
                if e.sessions.len() < MAX_SESSIONS {
                    e.sessions.insert(sid.clone(), r.until);
                } else {
                    // Still full: the user loses every session issued up to now instead,
                    // which ends this one too.
                    tracing::warn!("too many ended sessions to keep one by one");
                    end_user(&mut e, user, (now * 1000).max(r.at_ms), r.until);
                }
            }
            Ended::User(user) => end_user(&mut e, user, r.at_ms, r.until),
        }
        self.any.store(true, Ordering::Release);
    }

    /// Drops entries past their time.
    pub(crate) fn prune(&self, now: i64) {
        let mut e = self.inner.write().unwrap_or_else(|p| p.into_inner());
        e.sessions.retain(|_, until| *until > now);
        e.users.retain(|_, (_, until)| *until > now);
        let any = !e.sessions.is_empty() || !e.users.is_empty();
        self.any.store(any, Ordering::Release);
    }

    /// Entries kept, for tests and metrics.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let e = self.inner.read().unwrap_or_else(|p| p.into_inner());
        e.sessions.len() + e.users.len()
    }
}

fn end_user(e: &mut Entries, user: &str, at: i64, until: i64) {
    let slot = e.users.entry(user.to_string()).or_insert((at, until));
    slot.0 = slot.0.max(at);
    slot.1 = slot.1.max(until);
}

/// Ended sessions kept in a file, so that sign-outs hold across restarts of a single process
/// (`DashboardBuilder::revocations_file`). One JSON entry per line, appended as sessions end;
/// a cursor is a byte offset. Opening it drops expired entries (written to a new file that
/// replaces the old one). For one process: several would lose entries when one of them
/// opens it and rewrites it; replicas share PostgreSQL's store instead.
#[derive(Debug)]
pub struct RevocationFile {
    path: std::path::PathBuf,
}

impl RevocationFile {
    /// Opens (or creates) the file at `path`, dropping entries past their time.
    pub fn open(path: impl Into<std::path::PathBuf>) -> std::io::Result<RevocationFile> {
        let path = path.into();
        let now = jiff::Timestamp::now().as_second();
        let kept: Vec<String> = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .filter(|l| serde_json::from_str::<Revocation>(l).is_ok_and(|r| r.until > now))
                .map(str::to_string)
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut tmp = path.clone().into_os_string();
        tmp.push(".new");
        let mut body = kept.join("\n");
        if !body.is_empty() {
            body.push('\n');
        }
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, &path)?;
        Ok(RevocationFile { path })
    }

    fn append(path: &std::path::Path, r: &Revocation) -> Result<(), String> {
        use std::io::Write as _;
        let mut line = serde_json::to_string(r).map_err(|e| e.to_string())?;
        line.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        f.write_all(line.as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    fn read(path: &std::path::Path, cursor: i64) -> Result<(Vec<Revocation>, i64), String> {
        use std::io::{Read as _, Seek as _};
        let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let from = u64::try_from(cursor).unwrap_or(0);
        f.seek(std::io::SeekFrom::Start(from))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // Only whole lines: one being appended right now is read next time.
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut out = Vec::new();
        for line in bytes[..whole].split(|b| *b == b'\n') {
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Revocation>(line) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(file = %path.display(), error = %e,
                    "skipped an unreadable line of the ended-sessions file"),
            }
        }
        Ok((out, cursor.saturating_add(whole as i64)))
    }
}

impl RevocationStore for RevocationFile {
    fn publish(&self, r: Revocation) -> RevocationFuture<'_, ()> {
        let path = self.path.clone();
        Box::pin(blocking(move || RevocationFile::append(&path, &r)))
    }

    fn since(&self, cursor: i64) -> RevocationFuture<'_, (Vec<Revocation>, i64)> {
        let path = self.path.clone();
        Box::pin(blocking(move || RevocationFile::read(&path, cursor)))
    }
}

/// Runs file work on tokio's blocking threads when there is a runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => rt
            .spawn_blocking(work)
            .await
            .unwrap_or_else(|e| Err(e.to_string())),
        Err(_) => work(),
    }
}

/// How the sessions of `user`, signed in by the login backend `via`, are named when ended
/// together: `via:user` (backend names have no `:`), so that a user of one backend cannot end
/// the sessions of another backend's user of the same id.
pub(crate) fn user_key(via: &str, user: &str) -> String {
    let mut k = String::with_capacity(via.len() + user.len() + 1);
    k.push_str(via);
    k.push(':');
    k.push_str(user);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_keeps_entries_across_opens_and_drops_expired_ones() {
        let dir = std::env::temp_dir().join(format!("taskdeck-rev-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ended.jsonl");
        let now = jiff::Timestamp::now().as_second();
        let f = RevocationFile::open(&path).unwrap();
        f.publish(session("a", now + 100)).await.unwrap();
        f.publish(session("old", now - 1)).await.unwrap();
        let (got, cursor) = f.since(0).await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(f.since(cursor).await.unwrap().0, Vec::new(), "nothing new");
        f.publish(session("b", now + 100)).await.unwrap();
        let (more, _) = f.since(cursor).await.unwrap();
        assert_eq!(more, vec![session("b", now + 100)]);
        // A restart: the expired entry is gone, the others are read from the start.
        let again = RevocationFile::open(&path).unwrap();
        let (got, _) = again.since(0).await.unwrap();
        let sids: Vec<_> = got
            .iter()
            .map(|r| match &r.ended {
                Ended::Session { sid, .. } => sid.as_str(),
                Ended::User(u) => u.as_str(),
            })
            .collect();
        assert_eq!(sids, ["a", "b"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn session(sid: &str, until: i64) -> Revocation {
        Revocation {
            ended: Ended::Session {
                sid: sid.into(),
                user: "ada".into(),
            },
            at_ms: 0,
            until,
        }
    }

    #[test]
    fn ends_sessions_and_users_until_their_time() {
        let s = RevocationSet::default();
        assert!(!s.is_ended("a", "ada", 10));
        s.add(&session("a", 100), 50);
        assert!(s.is_ended("a", "ada", 10));
        assert!(!s.is_ended("b", "ada", 10), "other sessions stay");
        s.add(
            &Revocation {
                ended: Ended::User("bob".into()),
                at_ms: 60_000,
                until: 200,
            },
            60,
        );
        assert!(s.is_ended("x", "bob", 60_000) && s.is_ended("y", "bob", 10));
        assert!(
            !s.is_ended("z", "bob", 60_001),
            "a later sign-in is a new session"
        );
        s.prune(150);
        assert!(!s.is_ended("a", "ada", 10), "forgotten once expired");
        assert_eq!(s.len(), 1);
        s.prune(300);
        assert_eq!(s.len(), 0);
        s.add(&session("old", 10), 20);
        assert_eq!(s.len(), 0, "already past its time");
    }
}
