//! Serving the dashboard from your own hyper accept loop (no helper): the dashboard is a plain
//! `hyper::service::Service`, so any connection builder can drive it.
//!
//! `cargo run --example hyper_server` then open http://127.0.0.1:8000/admin/
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use taskdeck::{Dashboard, Scheduler, Task, TaskContext};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scheduler = Scheduler::builder().build()?;
    scheduler.register("hello", |ctx: TaskContext| async move {
        ctx.log("hello from the scheduler");
        Ok(())
    });
    scheduler
        .add(Task::new("hello", "hello").every(Duration::from_secs(10)))
        .await?;
    scheduler.start()?;

    let dashboard = Dashboard::builder(scheduler.clone())
        .prefix("/admin")
        .build()?;
    let addr = std::env::var("TASKDECK_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("dashboard at http://{}/admin/", listener.local_addr()?);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = accepted?;
                // A per-connection clone that knows the client's address (for trusted proxies).
                let service = dashboard.for_client(peer);
                tokio::spawn(async move {
                    let builder = auto::Builder::new(TokioExecutor::new());
                    if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                        eprintln!("connection error: {e}");
                    }
                });
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    scheduler.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
