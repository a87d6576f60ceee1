//! The demo: a scheduler with a dozen varied sample tasks (some failing, some slow, some
//! paused) and its dashboard on 127.0.0.1, until Ctrl-C or SIGTERM.
//!
//! `cargo run --example demo`
//!
//! Environment: `TASKDECK_ADDR` (default `127.0.0.1:8000`), `TASKDECK_PREFIX` (default
//! `/dashboard`), `TASKDECK_TASKS` (extra generated tasks for load tests, default 0),
//! `TASKDECK_KEEP_RUNS` (with PostgreSQL: runs the history keeps, default 10,000),
//! `TASKDECK_DEMO_USER` (default `admin`) and `TASKDECK_DEMO_PASSWORD` (default: generated;
//! both printed at start), `TASKDECK_SECRET` (session signing key, at least 32 bytes).
//!
//! Single sign-on (`--features oidc`): `TASKDECK_OIDC_ISSUER`, `TASKDECK_OIDC_CLIENT_ID` and
//! `TASKDECK_OIDC_CLIENT_SECRET` add a "Sign in with single sign-on" button beside the password
//! form; the provider's `groups` claim maps `taskdeck-admins`, `taskdeck-operators` and
//! `taskdeck-viewers` to roles (`TASKDECK_OIDC_LABEL` names the button). For another provider:
//! `TASKDECK_OIDC_SCOPES` (e.g. `openid profile groups`), `TASKDECK_OIDC_ROLES_CLAIM` and
//! `TASKDECK_OIDC_ROLE_MAP` (`group:role,…`, replacing the three above). Try it with
//! `cargo run --example oidc_provider --features oidc`, a provider for local trials.
//! Bearer tokens (`--features jwt`): `TASKDECK_JWT_SECRET` (and `TASKDECK_JWT_AUDIENCE`).
//! Branding: `TASKDECK_ACCENT` and `TASKDECK_SIDEBAR_COLOR` (`#rrggbb`), `TASKDECK_LOGO_FILE`.
//! Metrics: `TASKDECK_METRICS_TOKEN` (at least 16 bytes) lets a scraper read `/metrics` as a
//! bearer token; `/health/ready` is the readiness probe.
//!
//! Several replicas: with `TASKDECK_DATABASE_URL` (and `--features postgres`) the schedule lives
//! in PostgreSQL (schema `TASKDECK_DATABASE_SCHEMA`, default `taskdeck_demo`), so two demos on
//! two ports share it; give both the same `TASKDECK_SECRET` and `TASKDECK_DEMO_PASSWORD` to
//! stay signed in across them. Over TLS: `?sslmode=verify-full&sslrootcert=/path/to/ca.pem`.
#![allow(clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

/// Bearer tokens signed with `secret` (`TASKDECK_JWT_AUDIENCE`, when set, is required in
/// them) for scripts, beside the password form.
#[cfg(feature = "jwt")]
fn with_bearer_tokens(
    builder: taskdeck::DashboardBuilder,
    secret: &str,
) -> Result<taskdeck::DashboardBuilder, Box<dyn std::error::Error>> {
    let mut jwt = taskdeck::JwtBackend::hs256(secret.as_bytes());
    if let Some(aud) = support::env("TASKDECK_JWT_AUDIENCE") {
        jwt = jwt.audience(&aud);
    }
    Ok(builder.also(jwt))
}

#[cfg(not(feature = "jwt"))]
fn with_bearer_tokens(
    _: taskdeck::DashboardBuilder,
    _: &str,
) -> Result<taskdeck::DashboardBuilder, Box<dyn std::error::Error>> {
    Err("TASKDECK_JWT_SECRET is set: run the demo with --features jwt".into())
}

/// Single sign-on through the provider at `issuer`, beside the password form.
#[cfg(feature = "oidc")]
fn with_sso(
    builder: taskdeck::DashboardBuilder,
    issuer: &str,
) -> Result<taskdeck::DashboardBuilder, Box<dyn std::error::Error>> {
    use taskdeck::Role;
    let client_id = support::env("TASKDECK_OIDC_CLIENT_ID")
        .ok_or("TASKDECK_OIDC_ISSUER is set: set TASKDECK_OIDC_CLIENT_ID too")?;
    let secret = support::env("TASKDECK_OIDC_CLIENT_SECRET");
    let label =
        support::env("TASKDECK_OIDC_LABEL").unwrap_or_else(|| "Sign in with single sign-on".into());
    let mut sso = taskdeck::OidcBackend::new(issuer, &client_id, secret.as_deref())?
        .label(&label)
        .sign_out_at_provider(true);
    if let Some(scopes) = support::env("TASKDECK_OIDC_SCOPES") {
        sso = sso.scopes(&scopes);
    }
    if let Some(claim) = support::env("TASKDECK_OIDC_ROLES_CLAIM") {
        sso = sso.roles_claim(&claim);
    }
    match support::env("TASKDECK_OIDC_ROLE_MAP") {
        // `group:role,…`, e.g. `ops-admins:admin,ops:operator`.
        Some(map) => {
            for pair in map.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (group, role) = pair
                    .rsplit_once(':')
                    .ok_or_else(|| format!("TASKDECK_OIDC_ROLE_MAP: {pair:?} is not group:role"))?;
                let role: Role = role
                    .parse()
                    .map_err(|e| format!("TASKDECK_OIDC_ROLE_MAP: {pair:?}: {e}"))?;
                sso = sso.map_role(group, role);
            }
        }
        None => {
            sso = sso
                .map_role("taskdeck-admins", Role::Admin)
                .map_role("taskdeck-operators", Role::Operator)
                .map_role("taskdeck-viewers", Role::Viewer);
        }
    }
    Ok(builder.also(sso))
}

#[cfg(not(feature = "oidc"))]
fn with_sso(
    _: taskdeck::DashboardBuilder,
    _: &str,
) -> Result<taskdeck::DashboardBuilder, Box<dyn std::error::Error>> {
    Err("TASKDECK_OIDC_ISSUER is set: run the demo with --features oidc".into())
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
    // TASKDECK_SECRET, when set, signs the session cookies (replicas sharing PostgreSQL then
    // share sign-ins; without a store of ended sessions a restart signs everyone out).
    let mut builder = demo
        .dashboard()
        .prefix(&prefix)
        .title("taskdeck demo")
        .description("Sample tasks that report, sync, fail and run slow, to try the dashboard on.")
        .auth(auth)
        // Roles narrowed per job: the partner webhook is for admins alone, even to run.
        .authorize(|user, _action, target| {
            user.has(taskdeck::Role::Admin) || target.job != Some("call_webhook")
        });
    // Branding to try: TASKDECK_ACCENT, TASKDECK_SIDEBAR_COLOR (#rrggbb), TASKDECK_LOGO_FILE.
    if let Some(c) = support::env("TASKDECK_ACCENT") {
        builder = builder.accent_color(&c);
    }
    if let Some(c) = support::env("TASKDECK_SIDEBAR_COLOR") {
        builder = builder.sidebar_color(&c);
    }
    if let Some(path) = support::env("TASKDECK_LOGO_FILE") {
        let logo = std::fs::read(&path).map_err(|e| format!("TASKDECK_LOGO_FILE {path}: {e}"))?;
        builder = builder.logo(logo);
    }
    // Prometheus scrapes /metrics with `Authorization: Bearer $TASKDECK_METRICS_TOKEN`.
    if let Some(token) = support::env("TASKDECK_METRICS_TOKEN") {
        builder = builder.metrics_token(token);
    }
    for proxy in support::trusted_proxies()? {
        builder = builder.trust_proxy(proxy);
    }
    if let Some(secret) = support::env("TASKDECK_JWT_SECRET") {
        builder = with_bearer_tokens(builder, &secret)?;
    }
    if let Some(issuer) = support::env("TASKDECK_OIDC_ISSUER") {
        builder = with_sso(builder, &issuer)?;
    }
    let dashboard = builder.build()?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        format!("cannot listen on {addr}: {e}; set TASKDECK_ADDR to another address, e.g. 127.0.0.1:8001")
    })?;
    let url = format!(
        "http://{}{}/",
        listener.local_addr()?,
        dashboard.prefix().as_str()
    );
    println!("taskdeck demo: {} tasks; dashboard at {url}", 14 + extra);
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
