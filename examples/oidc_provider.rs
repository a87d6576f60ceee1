//! A small OpenID Connect provider on 127.0.0.1, for trying the dashboard's single sign-on
//! locally and for the browser tests. It approves every sign-in at once as one person (no
//! login form): never use it for anything real.
//!
//! ```text
//! cargo run --example oidc_provider --features oidc
//! # prints: issuer http://127.0.0.1:PORT
//! TASKDECK_OIDC_ISSUER=http://127.0.0.1:PORT TASKDECK_OIDC_CLIENT_ID=taskdeck \
//!   TASKDECK_OIDC_CLIENT_SECRET=demo-secret cargo run --example demo --features oidc
//! ```
//!
//! Environment: `OIDC_PROVIDER_ADDR` (default `127.0.0.1:0`), `OIDC_CLIENT_ID` (default
//! `taskdeck`), `OIDC_CLIENT_SECRET` (default `demo-secret`), `OIDC_GROUPS` (the person's
//! groups, comma-separated; default `taskdeck-operators`).
#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "../tests/support/oidc_provider.rs"]
mod provider;

use std::io::Write as _;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let addr = var("OIDC_PROVIDER_ADDR", "127.0.0.1:0");
    let p = provider::Provider::start(
        &addr,
        &var("OIDC_CLIENT_ID", "taskdeck"),
        &var("OIDC_CLIENT_SECRET", "demo-secret"),
    )
    .await;
    let groups = var("OIDC_GROUPS", "taskdeck-operators");
    p.sign_in_as(provider::Person {
        sub: "u-1001".into(),
        name: "Olive Operator".into(),
        groups: groups.split(',').map(|g| g.trim().to_string()).collect(),
    });
    println!("issuer {}", p.issuer);
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
}
