//! Serving a [`Dashboard`] over TCP with hyper-util: HTTP/1 and HTTP/2, graceful shutdown, and
//! the connection bounds of `DashboardBuilder`: a header timeout that also closes connections
//! that send nothing, HTTP/2 keep-alive pings, an idle time after which a connection with no
//! request going is closed, a bound per client address and a cap on connections, at which
//! the idlest connection makes room for a new one (`web/conns.rs`).
//!
//! Serving from your own accept loop instead, set the same bounds there: hyper's
//! `header_read_timeout` (and a timeout on a connection's first bytes when you use
//! hyper-util's `auto` builder, whose HTTP version detection waits for them), HTTP/2
//! `keep_alive_interval` / `keep_alive_timeout`, and a cap on connections. The body timeout
//! and the live-stream caps are the dashboard's own and hold however it is served.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use std::convert::Infallible;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::conns::{Busy, Conn, Conns};
use super::response::Body;
use super::Dashboard;

/// What an HTTP/2 client sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads a connection's first bytes by `deadline`: until they are not a beginning of the
/// HTTP/2 preface (an HTTP/1 request) or are all of it. `None` when the client sends nothing,
/// closes, or stalls first.
async fn first_bytes(
    mut stream: TcpStream,
    deadline: tokio::time::Instant,
) -> Option<Rewind<TcpStream>> {
    let mut buf = [0u8; 24];
    let mut n = 0;
    while n < buf.len() && buf[..n] == H2_PREFACE[..n] {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf[n..])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(read)) => n += read,
        }
    }
    Some(Rewind {
        first: buf,
        len: n,
        pos: 0,
        inner: stream,
    })
}

/// A stream whose first bytes, already read, are read again before the rest.
struct Rewind<S> {
    first: [u8; 24],
    len: usize,
    pos: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.len {
            let take = (self.len - self.pos).min(out.remaining());
            let from = self.pos;
            out.put_slice(&self.first[from..from + take]);
            self.pos += take;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A bind error that names the address it was for, with a hint for the usual causes.
pub(crate) fn bind_error(addr: SocketAddr, e: io::Error) -> io::Error {
    let hint = match e.kind() {
        io::ErrorKind::AddrInUse => {
            "; another process listens there: stop it or choose another port"
        }
        io::ErrorKind::PermissionDenied => "; ports below 1024 need privileges: choose another",
        io::ErrorKind::AddrNotAvailable => "; no interface of this machine has that address",
        _ => "",
    };
    io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}{hint}"))
}

/// How long a connection asked to close may take to finish what it is sending.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How long shutdown waits for open connections to finish.
const DRAIN: Duration = Duration::from_secs(10);

impl Dashboard {
    /// Binds `addr` and serves until `shutdown` completes. See [`Dashboard::serve_listener`].
    /// A failed bind names the address (`cannot listen on 127.0.0.1:8000: Address already in
    /// use …`), keeping the error's kind.
    pub async fn serve(
        self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| bind_error(addr, e))?;
        self.serve_listener(listener, shutdown).await
    }

    /// Serves connections from `listener` until `shutdown` completes, then stops accepting,
    /// ends event streams and waits up to 10 s for open requests.
    ///
    /// ```no_run
    /// # async fn f(dashboard: taskdeck::Dashboard) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
    /// dashboard.serve_listener(listener, async { let _ = tokio::signal::ctrl_c().await; }).await
    /// # }
    /// ```
    pub async fn serve_listener(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let limits = self.shared.limits;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(limits.h2_keepalive)
            .keep_alive_timeout(limits.h2_keepalive);
        let conns = Arc::new(Conns::new(
            limits.max_connections,
            limits.per_client,
            limits.idle_timeout,
        ));
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: say so, breathe, go on.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // A trusted proxy carries many clients: its connections are not bounded per
            // address (the cap and the idle time still hold).
            let ip = peer.ip().to_canonical();
            let client = (!self.shared.trusted_proxies.contains(&ip))
                .then(|| crate::auth::throttle::client_key(ip));
            let slot = match conns.admit(client) {
                Ok(slot) => slot,
                Err(why) => {
                    tracing::debug!(peer = %peer, why = ?why, "connection refused");
                    continue;
                }
            };
            // Responses go out in one write; do not hold their last segment back waiting for
            // the client's delayed ACK.
            let _ = stream.set_nodelay(true);
            let svc = Tracked {
                inner: self.for_client(peer),
                conn: slot.conn.clone(),
            };
            let builder = builder.clone();
            tokio::spawn(async move {
                // Telling HTTP/1 from HTTP/2 waits for the first bytes, which the HTTP/1
                // header timeout does not cover: read them here within it (a connection that
                // sends nothing, or stalls inside what could be the HTTP/2 preface, is closed
                // unserved), then hand them on.
                let deadline = tokio::time::Instant::now() + limits.header_timeout;
                let Some(stream) = first_bytes(stream, deadline).await else {
                    return;
                };
                let conn = builder
                    .serve_connection(TokioIo::new(stream), svc)
                    .into_owned();
                tokio::pin!(conn);
                let mine = &slot.conn;
                let mut closing = false;
                // A connection asked to close gets a few seconds to finish what it sends;
                // past them (a response the client never reads) it is dropped.
                let mut close_by = tokio::time::Instant::now();
                loop {
                    // Closed once idle for `idle_timeout`: checked when it could first be.
                    let idle_check = match mine.idle_for() {
                        Some(idle) => limits.idle_timeout.saturating_sub(idle),
                        None => limits.idle_timeout,
                    };
                    tokio::select! {
                        r = conn.as_mut() => {
                            if let Err(e) = r {
                                tracing::debug!(error = %e, "connection ended with an error");
                            }
                            break;
                        }
                        () = mine.closed(), if !closing => {
                            closing = true;
                            close_by = tokio::time::Instant::now() + CLOSE_GRACE;
                            conn.as_mut().graceful_shutdown();
                        }
                        () = tokio::time::sleep(idle_check), if !closing => {
                            if mine.idle_for().is_some_and(|i| i >= limits.idle_timeout) {
                                closing = true;
                                close_by = tokio::time::Instant::now() + CLOSE_GRACE;
                                conn.as_mut().graceful_shutdown();
                            }
                        }
                        () = tokio::time::sleep_until(close_by), if closing => break,
                    }
                }
                drop(slot);
            });
        }
        drop(listener);
        self.shared.closing.send_replace(true);
        if !conns.close_all(DRAIN).await {
            tracing::warn!("connections still open after 10 s; closing");
        }
        Ok(())
    }
}

/// The dashboard's service on one connection, counting each request as going until its
/// response body is sent, so that the connection is idle only between requests.
#[derive(Clone)]
struct Tracked {
    inner: Dashboard,
    conn: Arc<Conn>,
}

impl<B> hyper::service::Service<http::Request<B>> for Tracked
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<TrackedBody>;
    type Error = Infallible;
    type Future = TrackedFuture;

    fn call(&self, req: http::Request<B>) -> TrackedFuture {
        let busy = self.conn.begin();
        TrackedFuture {
            inner: hyper::service::Service::call(&self.inner, req),
            busy: Some(busy),
        }
    }
}

/// A response on its way, with its request counted as going.
struct TrackedFuture {
    inner: Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>,
    busy: Option<Busy>,
}

impl Future for TrackedFuture {
    type Output = Result<http::Response<TrackedBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let resp = match self.inner.as_mut().poll(cx) {
            Poll::Ready(Ok(resp)) => resp,
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => return Poll::Pending,
        };
        let busy = self.busy.take();
        Poll::Ready(Ok(resp.map(|inner| TrackedBody { inner, busy })))
    }
}

/// A response body whose request counts as going until it is sent or dropped.
struct TrackedBody {
    inner: Body,
    busy: Option<Busy>,
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Infallible>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if let (Poll::Ready(Some(_)), Some(busy)) = (&frame, &self.busy) {
            busy.progressed();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
