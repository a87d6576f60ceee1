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

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::Dashboard;

/// How long shutdown waits for open connections to finish.
const DRAIN: Duration = Duration::from_secs(10);

impl Dashboard {
    /// Binds `addr` and serves until `shutdown` completes. See [`Dashboard::serve_listener`].
    pub async fn serve(
        self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
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
                        // HTTP/1 header timeout does not cover: a connection that sends
                        // nothing in as long is closed unserved.
                        let mut first = [0u8; 1];
                        match tokio::time::timeout(limits.header_timeout, stream.peek(&mut first))
                            .await
                        {
                            Ok(Ok(n)) if n > 0 => {}
                            _ => return,
                        }
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
