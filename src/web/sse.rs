//! The live event stream (`/events`): backend events as server-sent events.
//!
//! Each client gets a small bounded queue fed by its own task. A client that stops reading
//! fills its queue; its feeding task then waits, and its broadcast subscription falls behind
//! and skips ahead (it is sent a `lagged` event, telling the page to refresh in full) — memory
//! stays bounded and nobody else waits.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::StatusCode;
use tokio::sync::{mpsc, watch};

use super::response::{Body, Resp};
use crate::scheduler::{EventStream, Recv};

/// Frames queued per client before its feeder waits.
const QUEUE: usize = 16;

/// Starts streaming `events` to a new client.
pub(crate) fn stream(
    mut events: EventStream,
    keepalive: Duration,
    mut closing: watch::Receiver<bool>,
) -> Resp {
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
    tokio::spawn(async move {
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
                _ = tick.tick() => Bytes::from_static(b": keep-alive\n\n"),
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
