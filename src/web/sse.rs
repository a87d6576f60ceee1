//! The live event stream (`/events`): backend events as server-sent events.
//!
//! Each client gets a small bounded queue fed by its own task. A client that stops reading
//! fills its queue; its feeding task then waits, and its broadcast subscription falls behind
//! and skips ahead (it is sent a `lagged` event, telling the page to refresh in full) — memory
//! stays bounded and nobody else waits.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::StatusCode;
use tokio::sync::{mpsc, watch};

use super::response::{Body, Resp};
use crate::scheduler::{EventStream, Recv};

/// Frames queued per client before its feeder waits.
const QUEUE: usize = 16;

/// Open streams, in total, per holder (a session, a bearer user, or a client address) and per
/// signed-in user (over all their sessions), each bounded.
#[derive(Debug)]
pub(crate) struct Streams {
    open: Mutex<Open>,
    total: AtomicUsize,
    per_holder: usize,
    per_user: usize,
    most: usize,
}

#[derive(Debug, Default)]
struct Open {
    holders: HashMap<String, usize>,
    users: HashMap<String, usize>,
}

/// Lowers `key`'s count, forgetting it at zero.
fn release(map: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// One open stream, counted until dropped (when its feeder ends).
#[derive(Debug)]
pub(crate) struct Held {
    streams: Arc<Streams>,
    holder: String,
    user: Option<String>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.streams.total.fetch_sub(1, Ordering::AcqRel);
        #[cfg(feature = "metrics")]
        metrics::gauge!("taskdeck_sse_clients").decrement(1.0);
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        release(&mut open.holders, &self.holder);
        if let Some(u) = &self.user {
            release(&mut open.users, u);
        }
    }
}

/// Why a stream was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Holder(usize),
    User(usize),
    Total(usize),
}

impl Streams {
    /// Bounds per holder, per user and in total. One user never holds more than half of all
    /// places, so that one account signed in many times leaves room for everyone else.
    pub(crate) fn new(per_holder: usize, per_user: usize, most: usize) -> Streams {
        let most = most.max(1);
        Streams {
            open: Mutex::new(Open::default()),
            total: AtomicUsize::new(0),
            per_holder: per_holder.max(1),
            per_user: per_user.clamp(1, (most / 2).max(1)),
            most,
        }
    }

    /// Counts a new stream for `holder` (of signed-in `user`, if any), or refuses it past any
    /// bound.
    pub(crate) fn hold(
        self: &Arc<Self>,
        holder: &str,
        user: Option<&str>,
    ) -> Result<Held, Refused> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if self.total.load(Ordering::Acquire) >= self.most {
            return Err(Refused::Total(self.most));
        }
        if open.holders.get(holder).copied().unwrap_or(0) >= self.per_holder {
            return Err(Refused::Holder(self.per_holder));
        }
        if let Some(u) = user {
            let n = open.users.entry(u.to_string()).or_insert(0);
            if *n >= self.per_user {
                return Err(Refused::User(self.per_user));
            }
            *n += 1;
        }
        *open.holders.entry(holder.to_string()).or_insert(0) += 1;
        self.total.fetch_add(1, Ordering::AcqRel);
        #[cfg(feature = "metrics")]
        metrics::gauge!("taskdeck_sse_clients").increment(1.0);
        Ok(Held {
            streams: self.clone(),
            holder: holder.to_string(),
            user: user.map(str::to_string),
        })
    }

    /// Streams open now.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

/// Whether a stream may go on: false once the session that opened it is ended or expired.
pub(crate) type Alive = Box<dyn Fn() -> bool + Send>;

/// Starts streaming `events` to a new client; `held` counts it until the stream ends, and
/// `alive`, asked on every keep-alive tick, ends it when its session does.
pub(crate) fn stream(
    mut events: EventStream,
    keepalive: Duration,
    mut closing: watch::Receiver<bool>,
    held: Held,
    alive: Option<Alive>,
) -> Resp {
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
    tokio::spawn(async move {
        let _held = held;
        // Tell the client how long to wait before reconnecting, and open the stream at once.
        if tx
            .send(Bytes::from_static(b"retry: 3000\n: connected\n\n"))
            .await
            .is_err()
        {
            return;
        }
        let mut tick = tokio::time::interval(keepalive);
        tick.tick().await;
        loop {
            let frame = tokio::select! {
                r = events.recv() => match r {
                    Recv::Event(e) => {
                        let name = e.kind();
                        let data = serde_json::to_string(&e).unwrap_or_default();
                        let mut s = String::with_capacity(data.len() + name.len() + 16);
                        let _ = write!(s, "event: {name}\ndata: {data}\n\n");
                        Bytes::from(s)
                    }
                    Recv::Lagged(n) => Bytes::from(format!("event: lagged\ndata: {n}\n\n")),
                    Recv::Closed => return,
                },
                _ = tick.tick() => {
                    if alive.as_ref().is_some_and(|a| !a()) {
                        // Signed out, ended everywhere, or expired: the stream ends too.
                        return;
                    }
                    Bytes::from_static(b": keep-alive\n\n")
                }
                () = tx.closed() => return,
                _ = closing.wait_for(|c| *c) => return,
            };
            if tx.send(frame).await.is_err() {
                return;
            }
        }
    });
    let mut r = super::response::response(StatusCode::OK, Body::stream(rx));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_per_holder_and_in_total() {
        let s = Arc::new(Streams::new(2, 16, 3));
        let a1 = s.hold("a", None).unwrap();
        let _a2 = s.hold("a", None).unwrap();
        assert_eq!(s.hold("a", None).unwrap_err(), Refused::Holder(2));
        let _b1 = s.hold("b", None).unwrap();
        assert_eq!(s.hold("c", None).unwrap_err(), Refused::Total(3));
        drop(a1);
        assert_eq!(s.total(), 2);
        let _a3 = s.hold("a", None).expect("a place came free");
    }

    #[test]
    fn one_user_over_many_sessions_is_bounded_and_leaves_room() {
        let s = Arc::new(Streams::new(8, 16, 1024));
        let mut held = Vec::new();
        for session in 0..130 {
            for _ in 0..8 {
                match s.hold(&format!("sid{session}"), Some("viewer")) {
                    Ok(h) => held.push(h),
                    Err(e) => assert_eq!(e, Refused::User(16)),
                }
            }
        }
        assert_eq!(held.len(), 16);
        assert!(
            s.hold("admin-sid", Some("admin")).is_ok(),
            "room for the admin"
        );
        held.truncate(15);
        assert!(s.hold("sid1", Some("viewer")).is_ok(), "a place came free");
        // However few places there are, one user takes at most half.
        let small = Arc::new(Streams::new(8, 16, 4));
        let _h: Vec<_> = (0..2)
            .map(|i| small.hold(&format!("s{i}"), Some("v")).unwrap())
            .collect();
        assert_eq!(small.hold("s9", Some("v")).unwrap_err(), Refused::User(2));
    }
}
