//! Serving a [`Dashboard`] over TCP with hyper-util: HTTP/1 and HTTP/2, graceful shutdown, and
//! the connection bounds of `DashboardBuilder`: a header timeout that also closes connections
//! that send nothing, HTTP/2 keep-alive pings, and a cap on connections served at once.
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

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::sync::Arc;

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

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
        let graceful = GracefulShutdown::new();
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
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        tokio::pin!(shutdown);
        loop {
            // At the cap, stop accepting until a connection closes.
            let slot = tokio::select! {
                s = slots.clone().acquire_owned() => match s {
                    Ok(s) => s,
                    Err(_closed) => break,
                },
                () = &mut shutdown => break,
            };
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of descriptors and the like: say so, breathe, go on.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    // Responses go out in one write; do not hold their last segment back
                    // waiting for the client's delayed ACK.
                    let _ = stream.set_nodelay(true);
                    let svc = self.for_client(peer);
                    let builder = builder.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        let _slot = slot;
                        // Telling HTTP/1 from HTTP/2 waits for the first bytes, which the
                        // HTTP/1 header timeout does not cover: read them here within it (a
                        // connection that sends nothing, or stalls inside what could be the
                        // HTTP/2 preface, is closed unserved), then hand them on.
                        let deadline = tokio::time::Instant::now() + limits.header_timeout;
                        let Some(stream) = first_bytes(stream, deadline).await else {
                            return;
                        };
                        let conn = builder.serve_connection(TokioIo::new(stream), svc);
                        if let Err(e) = watcher.watch(conn.into_owned()).await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        self.shared.closing.send_replace(true);
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(DRAIN) => {
                tracing::warn!("connections still open after 10 s; closing");
            }
        }
        Ok(())
    }
}
