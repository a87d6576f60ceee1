//! The load harness's baseline: a raw hyper 1.x hello-world, accepted and served exactly like
//! `Dashboard::serve_listener` serves the dashboard (hyper-util auto builder, HTTP/1 header
//! read timeout, one task per connection). `scripts/load` compares the dashboard against it.
//! `/sized/N` answers N bytes of filler instead: the cost of moving a page-sized response
//! without producing it, for comparison with the rendered pages.
//!
//! `cargo run --release --example baseline` (`TASKDECK_ADDR`, default 127.0.0.1:8001)
#![allow(clippy::print_stdout)]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;

/// Size of the static body served at `/sized/N` (at most 1 MiB): what a response of a page's
/// size costs raw hyper and the load generator, with no rendering at all.
const MAX_SIZED: usize = 1 << 20;

async fn hello(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    static FILLER: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    if let Some(n) = req.uri().path().strip_prefix("/sized/") {
        let n = n.parse::<usize>().unwrap_or(0).min(MAX_SIZED);
        let filler = FILLER.get_or_init(|| Bytes::from(vec![b'x'; MAX_SIZED]));
        return Ok(Response::new(Full::new(filler.slice(..n))));
    }
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("TASKDECK_ADDR").unwrap_or_else(|_| "127.0.0.1:8001".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("baseline hello-world on http://{}/", listener.local_addr()?);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let _ = stream.set_nodelay(true);
                let conn = builder.serve_connection(TokioIo::new(stream), service_fn(hello)).into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(())
}
