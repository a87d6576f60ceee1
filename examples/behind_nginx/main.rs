//! The dashboard behind nginx at `/ops/taskdeck/` (see `nginx.conf` and `README.md` here).
//!
//! `cargo run --example behind_nginx` (listens on `TASKDECK_ADDR`, default 127.0.0.1:8000;
//! login from `TASKDECK_DEMO_USER` / `TASKDECK_DEMO_PASSWORD` as in the demo).
#![allow(clippy::print_stdout)]

#[path = "../support/mod.rs"]
mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let demo = support::demo_scheduler(0).await?;
    let scheduler = demo.scheduler.clone();
    let (auth, how) = support::demo_login()?;
    // Served at the root of this listener; nginx strips /ops/taskdeck and says so in
    // X-Forwarded-Prefix, which is believed only from nginx's address.
    let dashboard = demo
        .dashboard()
        .title("taskdeck behind nginx")
        .auth(auth)
        .trust_proxy(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .build()?;
    let listener = tokio::net::TcpListener::bind(support::addr()?).await?;
    println!(
        "dashboard listening on {} for nginx",
        listener.local_addr()?
    );
    println!("start nginx: nginx -p \"$PWD/examples/behind_nginx\" -c nginx.conf");
    println!("then open http://127.0.0.1:8080/ops/taskdeck/ ; {how}");
    dashboard
        .serve_listener(listener, support::stop_signal())
        .await?;
    scheduler.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
