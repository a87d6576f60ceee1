//! The demo: a scheduler with a dozen varied sample tasks (some failing, some slow, some
//! paused) and its dashboard on 127.0.0.1, until Ctrl-C or SIGTERM.
//!
//! `cargo run --example demo`
//!
//! Environment: `TASKDECK_ADDR` (default `127.0.0.1:8000`), `TASKDECK_PREFIX` (default
//! `/dashboard`), `TASKDECK_TASKS` (extra generated tasks for load tests, default 0),
//! `TASKDECK_DEMO_USER` (default `admin`) and `TASKDECK_DEMO_PASSWORD` (default: generated;
//! both printed at start), `TASKDECK_SECRET` (session signing key, at least 32 bytes).
//!
//! Several replicas: with `TASKDECK_DATABASE_URL` (and `--features postgres`) the schedule lives
//! in PostgreSQL (schema `TASKDECK_DATABASE_SCHEMA`, default `taskdeck_demo`), so two demos on
//! two ports share it; give both the same `TASKDECK_SECRET` and `TASKDECK_DEMO_PASSWORD` to
//! stay signed in across them.
#![allow(clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

/// The password login, and bearer tokens signed with `secret` (`TASKDECK_JWT_AUDIENCE`, when
/// set, is required in them) for scripts.
#[cfg(feature = "jwt")]
fn with_bearer_tokens(
    builder: taskdeck::DashboardBuilder,
    password: taskdeck::PasswordBackend,
    secret: &str,
) -> Result<taskdeck::DashboardBuilder, Box<dyn std::error::Error>> {
    let mut jwt = taskdeck::JwtBackend::hs256(secret.as_bytes());
    if let Some(aud) = support::env("TASKDECK_JWT_AUDIENCE") {
        jwt = jwt.audience(&aud);
    }
    Ok(builder.auth(support::PasswordOrBearer { password, jwt }))
}

#[cfg(not(feature = "jwt"))]
fn with_bearer_tokens(
    _: taskdeck::DashboardBuilder,
    _: taskdeck::PasswordBackend,
    _: &str,
) -> Result<taskdeck::DashboardBuilder, Box<dyn std::error::Error>> {
    Err("TASKDECK_JWT_SECRET is set: run the demo with --features jwt".into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,taskdeck=info".into()),
        )
        .init();
    let addr = support::addr()?;
    let prefix = support::env("TASKDECK_PREFIX").unwrap_or_else(|| "/dashboard".into());
    let extra: usize = match support::env("TASKDECK_TASKS") {
        Some(v) => v
            .parse()
            .map_err(|_| format!("TASKDECK_TASKS must be a number, not {v:?}"))?,
        None => 0,
    };
    let demo = support::demo_scheduler(extra).await?;
    let scheduler = demo.scheduler.clone();
    let (auth, how) = support::demo_login()?;
    let (auth, others) = support::demo_users(auth)?;
    // TASKDECK_SECRET, when set, signs the session cookies (so logins survive restarts).
    let mut builder = demo.dashboard().prefix(&prefix).title("taskdeck demo");
    for proxy in support::trusted_proxies()? {
        builder = builder.trust_proxy(proxy);
    }
    let builder = match support::env("TASKDECK_JWT_SECRET") {
        None => builder.auth(auth),
        Some(secret) => with_bearer_tokens(builder, auth, &secret)?,
    };
    let dashboard = builder.build()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let url = format!(
        "http://{}{}/",
        listener.local_addr()?,
        dashboard.prefix().as_str()
    );
    println!("taskdeck demo: {} tasks; dashboard at {url}", 12 + extra);
    println!("{how}");
    if let Some(others) = others {
        println!("{others}");
    }
    println!("Ctrl-C to stop");
    dashboard
        .serve_listener(listener, support::stop_signal())
        .await?;
    scheduler.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
