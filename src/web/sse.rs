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

/// Open streams, in total and per holder (a session, a bearer user, or a client address),
/// each bounded.
#[derive(Debug)]
pub(crate) struct Streams {
    open: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
    per_holder: usize,
    most: usize,
}

/// One open stream, counted until dropped (when its feeder ends).
#[derive(Debug)]
pub(crate) struct Held {
    streams: Arc<Streams>,
    holder: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.streams.total.fetch_sub(1, Ordering::AcqRel);
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.holder) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.holder);
            }
        }
    }
}

/// Why a stream was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Holder(usize),
    Total(usize),
}

impl Streams {
    pub(crate) fn new(per_holder: usize, most: usize) -> Streams {
        Streams {
            open: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
            per_holder: per_holder.max(1),
            most: most.max(1),
        }
    }

    /// Counts a new stream for `holder`, or refuses it past either bound.
    pub(crate) fn hold(self: &Arc<Self>, holder: &str) -> Result<Held, Refused> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if self.total.load(Ordering::Acquire) >= self.most {
            return Err(Refused::Total(self.most));
        }
        let n = open.entry(holder.to_string()).or_insert(0);
        if *n >= self.per_holder {
            return Err(Refused::Holder(self.per_holder));
        }
        *n += 1;
        self.total.fetch_add(1, Ordering::AcqRel);
        Ok(Held {
            streams: self.clone(),
            holder: holder.to_string(),
        })
    }

    #[cfg(test)]
    fn total(&self) -> usize {
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
        let s = Arc::new(Streams::new(2, 3));
        let a1 = s.hold("a").unwrap();
        let _a2 = s.hold("a").unwrap();
        assert_eq!(s.hold("a").unwrap_err(), Refused::Holder(2));
        let _b1 = s.hold("b").unwrap();
        assert_eq!(s.hold("c").unwrap_err(), Refused::Total(3));
        drop(a1);
        assert_eq!(s.total(), 2);
        let _a3 = s.hold("a").expect("a place came free");
    }
}
