//! The dashboard nested in an axum app at `/jobs`, beside the app's own routes.
//!
//! `cargo run --example axum_mount --features axum`, then open http://127.0.0.1:8000/jobs/
//! (`TASKDECK_ADDR`, `TASKDECK_DEMO_USER`, `TASKDECK_DEMO_PASSWORD`, `TASKDECK_SECRET` as in
//! the demo). Behind a proxy that strips a prefix and sends `X-Forwarded-Prefix`, links carry
//! both (`/ops/jobs/…`): the example trusts 127.0.0.1 for that.
#![allow(clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let demo = support::demo_scheduler(0).await?;
    let scheduler = demo.scheduler.clone();
    let (auth, how) = support::demo_login()?;
    let dashboard = demo
        .dashboard()
        .title("jobs (axum)")
        .auth(auth)
        .trust_proxy(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .build()?;

    let app = Router::new().route(
        "/",
        get(|| async { "the app's own page; the dashboard is at /jobs/" }),
    );
    let app = taskdeck::axum::nest(app, "/jobs", dashboard)?;

    let listener = tokio::net::TcpListener::bind(support::addr()?).await?;
    println!("dashboard at http://{}/jobs/", listener.local_addr()?);
    println!("{how}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(support::stop_signal())
    .await?;
    scheduler.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
