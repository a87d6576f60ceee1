//! Signed-in sessions after their cookie verifies: ended ones are refused, and each live one
//! is re-checked with the login backend at a bounded interval.
//!
//! - **Across restarts**: ended sessions live in a [`RevocationStore`] (PostgreSQL's, or a
//!   file: `DashboardBuilder::revocations_file`). Without one they live in this process only,
//!   so sessions issued before it started are not accepted: a restart signs everyone out
//!   rather than let signed-out sessions back in.
//! - **Ended sessions** ([`crate::revocations`]): a sign-out ends its session, "sign out
//!   everywhere" and [`crate::Dashboard::end_sessions`] every session of a user. With a
//!   shared [`RevocationStore`], what one replica ends is read by the others every
//!   [`POLL`]; what this replica ends holds here at once.
//! - **Re-checks**: at most once per session and interval (`DashboardBuilder::session_recheck`,
//!   default 60 s) the backend says who the user is now ([`AuthBackend::refresh`]): removed
//!   users lose their sessions, demoted ones their roles.
//!
//! Per request this costs one atomic load while nothing is ended (a read lock and a lookup
//! otherwise) and one lock and lookup for the re-check; `cargo bench -p taskdeck-benches --bench web` measures it
//! ("verified session").

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::auth::session::Session;
use crate::auth::{AuthBackend, Refresh, User};
use crate::revocations::{Ended, Revocation, RevocationSet, RevocationStore};

/// How often a replica reads the sessions others ended.
pub(crate) const POLL: Duration = Duration::from_millis(500);

/// How long a request with a session waits for this replica to have read the sessions other
/// replicas ended (at start, or after reading failed), before its session is not accepted.
const SYNC_WAIT: Duration = Duration::from_secs(2);

/// How old the last complete read may be for sessions to be accepted without waiting: one
/// missed poll.
const FRESH: Duration = Duration::from_millis(2 * POLL.as_millis() as u64);

/// Most sessions whose last re-check is remembered; past it the memory starts over (each
/// session is then re-checked once more).
const MAX_CHECKED: usize = 100_000;

/// A verified session, as far as this process knows without asking the backend.
#[derive(Debug)]
pub(crate) enum Known {
    /// Signed out, or its user's sessions ended.
    Ended,
    /// Checked within the interval: this user.
    Current(User),
    /// Not checked within the interval: ask the backend.
    Due,
}

/// What the dashboard knows of live sessions.
pub(crate) struct Sessions {
    ended: RevocationSet,
    store: Option<Arc<dyn RevocationStore>>,
    polling: OnceLock<()>,
    recheck: Duration,
    checked: Mutex<HashMap<String, Checked>>,
    /// The session lifetime: how long an ending must be remembered.
    ttl: Duration,
    /// When this replica last read every session the others ended (milliseconds since
    /// `born`; negative: never), and the waiters for the next such read.
    synced_ms: std::sync::atomic::AtomicI64,
    born: Instant,
    synced: tokio::sync::Notify,
    /// Set while sessions are refused for want of a read; cleared by the next read.
    unsynced_warned: std::sync::atomic::AtomicBool,
    /// Without a store, what this process ended is forgotten when it stops: sessions issued
    /// before it started (Unix milliseconds) are not accepted, or a restart would let
    /// signed-out sessions back in.
    issued_after_ms: Option<i64>,
}

struct Checked {
    at: Instant,
    /// `None`: unchanged; `Some`: the user as the backend now says.
    now: Option<User>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("shared", &self.store.is_some())
            .field("recheck", &self.recheck)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl Sessions {
    pub(crate) fn new(
        store: Option<Arc<dyn RevocationStore>>,
        recheck: Duration,
        ttl: Duration,
    ) -> Sessions {
        let store_none_started_ms = store
            .is_none()
            .then(|| jiff::Timestamp::now().as_millisecond());
        Sessions {
            ended: RevocationSet::default(),
            store,
            polling: OnceLock::new(),
            recheck,
            checked: Mutex::new(HashMap::new()),
            ttl,
            synced_ms: std::sync::atomic::AtomicI64::new(-1),
            born: Instant::now(),
            synced: tokio::sync::Notify::new(),
            unsynced_warned: std::sync::atomic::AtomicBool::new(false),
            issued_after_ms: store_none_started_ms,
        }
    }

    /// True when sessions may be accepted now: there is no shared store, or this replica read
    /// what the others ended within [`FRESH`].
    pub(crate) fn in_sync(&self) -> bool {
        if self.store.is_none() {
            return true;
        }
        let at = self.synced_ms.load(std::sync::atomic::Ordering::Acquire);
        at >= 0
            && (self.born.elapsed().as_millis() as i64).saturating_sub(at)
                <= FRESH.as_millis() as i64
    }

    /// Waits, at most [`SYNC_WAIT`], until [`Sessions::in_sync`]: a fresh replica has then
    /// read every session ended elsewhere before it accepts one. False when the shared store
    /// did not answer in time: the request's session is then not accepted (logged once per
    /// outage).
    pub(crate) async fn sync(self: &Arc<Self>) -> bool {
        self.start_polling();
        let deadline = tokio::time::Instant::now() + SYNC_WAIT;
        loop {
            let next = self.synced.notified();
            tokio::pin!(next);
            next.as_mut().enable();
            if self.in_sync() {
                return true;
            }
            if tokio::time::timeout_at(deadline, next).await.is_err() {
                if !self
                    .unsynced_warned
                    .swap(true, std::sync::atomic::Ordering::AcqRel)
                {
                    tracing::warn!(
                        "the sessions other replicas ended could not be read for {} ms: \
                         sessions are not accepted until they are",
                        SYNC_WAIT.as_millis()
                    );
                }
                return self.in_sync();
            }
        }
    }

    fn until(&self, now: i64) -> i64 {
        now.saturating_add(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX))
    }

    /// What is known of a verified session without asking the backend: the common case, with
    /// no waiting (the gate awaits [`Sessions::recheck`] only when this says [`Known::Due`]).
    pub(crate) fn known(self: &Arc<Self>, s: &Session) -> Known {
        self.start_polling();
        if self.before_start(s.iat_ms) || self.ended.is_ended_as(&s.sid, &s.via, &s.sub, s.iat_ms) {
            return Known::Ended;
        }
        let checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        match checked.get(&s.sid) {
            Some(c) if c.at.elapsed() < self.recheck => {
                Known::Current(c.now.clone().unwrap_or_else(|| s.user()))
            }
            _ => Known::Due,
        }
    }

    /// Asks the backend who a session's user is now; `None` when the user was removed (every
    /// session of theirs then ends).
    pub(crate) async fn recheck(&self, auth: &dyn AuthBackend, s: &Session) -> Option<User> {
        let now = Instant::now();
        let user = s.user();
        let verdict = match auth.refresh(&user).await {
            Refresh::Unchanged | Refresh::Unknown => None,
            Refresh::Changed(u) => Some(u),
            Refresh::Removed => {
                self.end_user(&s.via, &s.sub).await;
                return None;
            }
        };
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        if checked.len() >= MAX_CHECKED {
            let recheck = self.recheck;
            checked.retain(|_, c| now.duration_since(c.at) < recheck);
            if checked.len() >= MAX_CHECKED {
                checked.clear();
            }
        }
        let answer = verdict.clone().unwrap_or(user);
        checked.insert(
            s.sid.clone(),
            Checked {
                at: now,
                now: verdict,
            },
        );
        Some(answer)
    }

    /// Ends one session of `user` (a sign-out through the backend `via`) until it expires at
    /// `exp` (Unix seconds).
    pub(crate) async fn end_session(&self, sid: &str, via: &str, user: &str, exp: i64) {
        let now = jiff::Timestamp::now();
        self.end(Revocation {
            ended: Ended::Session {
                sid: sid.to_string(),
                user: crate::revocations::user_key(via, user),
            },
            at_ms: now.as_millisecond(),
            until: exp.max(now.as_second()),
        })
        .await;
    }

    /// True while a session may still be used: not ended, not expired.
    pub(crate) fn is_live(&self, sid: &str, via: &str, user: &str, iat_ms: i64, exp: i64) -> bool {
        exp > now_secs()
            && !self.before_start(iat_ms)
            && !self.ended.is_ended_as(sid, via, user, iat_ms)
    }

    /// True when every session of `user` (through any backend) was ended at or after
    /// `since_ms`, or this process started after it without a store of ended sessions.
    pub(crate) fn user_ended_since(&self, user: &str, since_ms: i64) -> bool {
        self.before_start(since_ms) || self.ended.user_ended_since(user, since_ms)
    }

    /// True for a session issued before this process started, when no store keeps ended
    /// sessions across restarts.
    fn before_start(&self, iat_ms: i64) -> bool {
        self.issued_after_ms.is_some_and(|t| iat_ms < t)
    }

    /// Ends every session of `user`, signed in through the backend `via`, issued until now.
    pub(crate) async fn end_user(&self, via: &str, user: &str) {
        let now = jiff::Timestamp::now();
        self.end(Revocation {
            ended: Ended::User(crate::revocations::user_key(via, user)),
            at_ms: now.as_millisecond(),
            until: self.until(now.as_second()),
        })
        .await;
    }

    /// Holds here at once, and for every replica once published.
    async fn end(&self, r: Revocation) {
        let now = now_secs();
        self.ended.prune(now);
        self.ended.add(&r, now);
        if let Ended::User(key) = &r.ended {
            // Re-checked answers about this user are forgotten (those of a user of the same id
            // through another backend too: they are only asked again).
            let user = key.split_once(':').map_or(key.as_str(), |(_, u)| u);
            let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
            checked.retain(|_, c| c.now.as_ref().is_none_or(|u| u.id != user));
        }
        if let Some(store) = &self.store {
            if let Err(e) = store.publish(r).await {
                tracing::error!(error = %e, "could not share an ended session with other replicas");
            }
        }
    }

    /// Starts reading what other replicas end (once, and only with a shared store and a
    /// runtime). The task ends with the dashboard.
    fn start_polling(self: &Arc<Self>) {
        let Some(store) = self.store.clone() else {
            return;
        };
        if self.polling.get().is_some() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.polling.set(()).is_err() {
            return;
        }
        let me: Weak<Sessions> = Arc::downgrade(self);
        rt.spawn(async move {
            let mut cursor = 0;
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tick.tick().await;
                let Some(sessions) = me.upgrade() else { return };
                // Pages until a short one: after a restart, every unexpired entry is read
                // before the next tick.
                loop {
                    match store.since(cursor).await {
                        Ok((list, next)) => {
                            let now = now_secs();
                            for r in &list {
                                sessions.ended.add(r, now);
                            }
                            let more = list.len() >= crate::revocations::PAGE && next > cursor;
                            cursor = next;
                            failing = false;
                            if !more {
                                let at = sessions.born.elapsed().as_millis() as i64;
                                sessions
                                    .synced_ms
                                    .store(at, std::sync::atomic::Ordering::Release);
                                sessions
                                    .unsynced_warned
                                    .store(false, std::sync::atomic::Ordering::Release);
                                sessions.synced.notify_waiters();
                                break;
                            }
                        }
                        Err(e) => {
                            if !failing {
                                tracing::warn!(error = %e, "could not read the sessions other replicas ended");
                            }
                            failing = true;
                            break;
                        }
                    }
                }
            }
        });
    }
}
