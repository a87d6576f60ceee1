//! # taskdeck
//!
//! An embeddable task scheduler for tokio services, built to sit behind a web dashboard.
//!
//! * **Jobs** are async functions registered in code under a name.
//! * **Tasks** bind a job to a **trigger** (an interval, a cron expression in a time zone, or a
//!   one-off date), JSON args and run options (max instances, coalescing, misfire grace,
//!   jitter, timeout, retries with backoff).
//! * Every fire becomes a **run record** with its outcome, timing, error, attempt and log
//!   lines; history is bounded per task and in total.
//! * A broadcast of **events** reports every change; a slow subscriber cannot block it.
//! * [`TaskBackend`] is the seam a dashboard talks to; [`Scheduler`] implements it.
//!
//! ## Quick start
//! ```
//! use std::time::Duration;
//! use taskdeck::{Scheduler, Task, TaskContext};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let scheduler = Scheduler::builder().timezone("Europe/Berlin").build()?;
//!
//! scheduler.register("send_report", |ctx: TaskContext| async move {
//!     ctx.log(format!("sending to {}", ctx.args()["to"]));
//!     Ok(())
//! });
//! scheduler.register("cleanup", |_ctx: TaskContext| async move { Ok(()) });
//!
//! scheduler
//!     .add(Task::new("nightly-report", "send_report")
//!         .cron("0 30 3 * * *")?                    // 03:30:00 Berlin time, DST-aware
//!         .args(serde_json::json!({"to": "ops"}))
//!         .retries(3)
//!         .timeout(Duration::from_secs(600)))
//!     .await?;
//! scheduler
//!     .add(Task::new("cleanup", "cleanup").every(Duration::from_secs(30)).max_instances(1))
//!     .await?;
//!
//! scheduler.start()?;                                  // the timer loop, on this runtime
//! // … run your service …
//! scheduler.shutdown(Duration::from_secs(10)).await;   // stop firing, cancel, wait
//! # Ok(())
//! # }
//! ```
//!
//! ## The dashboard
//! [`Dashboard`] is a hand-written `hyper::service::Service` over any [`TaskBackend`]: pages
//! for the overview, tasks (search, filters, sort, paging, row and bulk actions), task detail
//! and edit, runs; live updates over server-sent events; a JSON API; `/health` and
//! `/metrics`. The [URL map](#url-map) is below.
//!
//! ```no_run
//! # #[cfg(feature = "dashboard")]
//! # async fn f(scheduler: taskdeck::Scheduler) -> Result<(), Box<dyn std::error::Error>> {
//! let dashboard = taskdeck::Dashboard::builder(scheduler.clone())
//!     .prefix("/dashboard")
//!     .build()?;
//! dashboard.serve("127.0.0.1:8000".parse()?, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! }).await?;
//! # Ok(())
//! # }
//! ```
//!
//! ### Mounting
//! The external base path of a request is a trusted `X-Forwarded-Prefix` (only from addresses
//! given to [`DashboardBuilder::trust_proxy`]) followed by the mount prefix (configured with
//! [`DashboardBuilder::prefix`], or reported by a framework through the [`MountedAt`] request
//! extension). Requests may arrive with the prefix still on or already stripped. Every link,
//! form action, asset URL, `Location` and cookie `Path` is built from that base; `/dashboard`
//! answers 308 to `/dashboard/`.
//!
//! Framework adapters (cargo features) report the mount for you:
//! `taskdeck::axum::nest(router, "/jobs", dashboard)` (or `dashboard.into_axum()` for
//! `nest_service`) and `taskdeck::actix::scope("/admin", dashboard)`. Behind nginx or another
//! proxy that strips a prefix, send `X-Forwarded-Prefix` and trust the proxy's address; see
//! `examples/behind_nginx/`.
//!
//! ## Login
//! Off by default; [`DashboardBuilder::auth`] turns it on with an [`AuthBackend`]:
//! - [`PasswordBackend`]: a user list with argon2 PHC hashes ([`PasswordBackend::hash`]) or
//!   your own check ([`PasswordBackend::verify_with`]); unknown users take as long as wrong
//!   passwords;
//! - [`JwtBackend`]: bearer tokens from `Authorization` (or a header or cookie you name), one
//!   key or a JWKS document (keys by `kid`), several algorithms, `exp` required, `aud`/`iss`
//!   checked when set, claim names and role mapping configurable, a least role;
//! - `OidcBackend` (feature `oidc`): OpenID Connect single sign-on, the code flow with PKCE,
//!   discovery, rotating keys, roles from a claim;
//! - [`ProxyHeaderBackend`]: a header set by an authenticating proxy, trusted only from its
//!   addresses;
//! - or your own: implement [`AuthBackend`] (see `examples/custom_auth.rs`).
//!
//! Combine them with [`DashboardBuilder::also`]: the first that recognises a request wins,
//! and the login page offers every interactive way in.
//!
//! The dashboard signs its own session cookies (HMAC-SHA256 over the cookie name and payload;
//! [`DashboardBuilder::secret`], rotation by adding older secrets), gates every route but
//! login, logout, assets and health, checks a CSRF token on unsafe requests made with ambient
//! credentials, enforces [`Role`]s (viewer < operator < admin), throttles failed logins and
//! keeps an [`AuditLog`].
//!
//! ## Triggers
//! | trigger | builder | JSON |
//! |---|---|---|
//! | interval | [`Task::every`], [`Task::every_between`] | `{"kind":"interval","every":"30s","start":…,"end":…}` |
//! | cron | [`Task::cron`], [`Task::cron_in`] | `{"kind":"cron","expr":"0 30 3 * * *","timezone":"Europe/Berlin"}` |
//! | date | [`Task::at`] | `{"kind":"date","at":"2030-01-01T00:00:00Z"}` |
//!
//! Cron expressions have 5 fields, or 6 with seconds first, and accept `L`, `W`, `#` and
//! `@daily`-style aliases (parsing by `croner`). Zones come from the IANA database bundled
//! with `jiff`. In a DST gap a fixed-time job runs at the first valid time after the gap; when
//! a local time repeats it runs once.
//!
//! ## Task options and their defaults
//! See [`TaskOptions`]: `max_instances` 1, `coalesce` true, `misfire_grace` 60 s, `jitter` 0,
//! no `timeout`, `retries` 0, `retry_backoff` 1 s doubling up to `retry_backoff_max` 5 min.
//!
//! ## When a fire starts
//! The timer loop sleeps until the earliest due fire on tokio's timer (millisecond
//! granularity, rounded up), so a fire starts about a millisecond after its time. Fires closer
//! together than [`SchedulerBuilder::timer_slack`] (3 ms) share a wake-up, each at most that
//! much later, which saves a wake-up's CPU when many tasks fire each second; adding or changing a
//! task wakes the timer at once, and run-now does not wait for it. A task's misfire grace is
//! extended by the slack.
//!
//! ## Run outcomes
//! [`RunStatus`]: succeeded, failed (the job returned `Err`), panicked (caught), timed out,
//! cancelled (by [`Scheduler::cancel_run`] or shutdown), missed (later than the misfire grace),
//! skipped (`max_instances` reached, or the job is not registered in this process),
//! interrupted (the process running it stopped renewing its lease on a shared store).
//!
//! ## Operating runs
//! - **Cancel**: [`Scheduler::cancel_run`] tells the job ([`TaskContext::cancelled`],
//!   [`TaskContext::is_cancelled`]) and aborts it after
//!   [`SchedulerBuilder::cancel_grace`] (10 s); the run ends cancelled, saying by whom. With a
//!   shared store the cancel reaches the replica running it.
//! - **Retry**: [`Scheduler::retry_run`] starts a new run of a failed, panicked, timed-out,
//!   cancelled or interrupted run with its args, cause `retry` and `retry_of` set; each run is
//!   retried at most once (automatic retries included).
//! - **Args and results**: every [`RunRecord`] keeps the args it ran with; a job returns a result
//!   with [`Scheduler::register_returning`] or [`TaskContext::set_result`] (JSON, at most
//!   [`MAX_RESULT_BYTES`]).
//! - **Tracing**: each attempt runs in a `taskdeck.run` span with `task`, `job`, `run`,
//!   `attempt` and `cause`, so a subscriber or OpenTelemetry exporter sees which run an event
//!   came from.
//!
//! ## Testing your jobs
//! Build the scheduler with a [`ManualClock`], move time with [`ManualClock::advance`] and
//! wait with [`Scheduler::settled`] or on [`Scheduler::subscribe`] events: nothing sleeps.
//!
//! ## Cargo features
//! Pay for what you use: `default-features = false` gives the scheduler alone (tokio, jiff,
//! croner, serde), without HTTP, templates or password hashing.
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `dashboard` | yes | [`Dashboard`]: the web dashboard, JSON API, live updates, signed sessions, [`ProxyHeaderBackend`] |
//! | `password` | yes | [`PasswordBackend`]: username and password login with argon2 hashes (implies `dashboard`) |
//! | `jwt` | no | [`JwtBackend`]: bearer tokens, HMAC, RSA, ECDSA and EdDSA keys or a JWKS document (implies `dashboard`) |
//! | `webhook` | no | `WebhookNotifier`: failure alerts posted as signed JSON, retried, over HTTPS (rustls) |
//! | `oidc` | no | `OidcBackend`: OpenID Connect sign-in, and `JwtBackend::jwks_url`; HTTPS through rustls with ring (implies `jwt`) |
//! | `axum` | no | `Dashboard::into_axum` and `taskdeck::axum::nest`: mount the dashboard in an axum 0.8 app |
//! | `actix` | no | `taskdeck::actix::scope`: mount the dashboard in an actix-web 4 app |
//! | `postgres` | no | [`store::PostgresStore`]: one schedule in PostgreSQL shared by any number of replicas, each fire run once; TLS (rustls) per the URL's `sslmode` |
//! | `metrics` | no | this process's figures ([`Scheduler::prometheus_metrics`], the dashboard's `/metrics`) also sent to the `metrics` facade |
//! | `tracing-layer` | no | [`RunLogLayer`]: `tracing` events emitted inside a run become its log lines |
//!
//! ## Where things are
//! The root holds what a service names: the scheduler and its tasks, the [`TaskBackend`] seam
//! with the data it answers in, and the dashboard with its login. How tasks are stored, and
//! what a store of your own implements, is under [`store`].
//!
//! ## Logging
//! The crate logs through `tracing`: task changes and lifecycle at `info`, failed runs at
//! `warn`, panics and store failures at `error`, each fire at `debug`.
#![doc = include_str!("url-map.md")]
// Items of features that are off in this build: their links in the docs above go to docs.rs,
// which documents every feature, so that rustdoc resolves every link with any feature set
// (scripts/test checks each one with warnings as errors).
#![doc = ""]
#![cfg_attr(
    not(feature = "dashboard"),
    doc = "[`Dashboard`]: https://docs.rs/taskdeck/latest/taskdeck/struct.Dashboard.html"
)]
#![cfg_attr(
    not(feature = "dashboard"),
    doc = "[`DashboardBuilder::trust_proxy`]: https://docs.rs/taskdeck/latest/taskdeck/struct.DashboardBuilder.html#method.trust_proxy"
)]
#![cfg_attr(
    not(feature = "dashboard"),
    doc = "[`DashboardBuilder::prefix`]: https://docs.rs/taskdeck/latest/taskdeck/struct.DashboardBuilder.html#method.prefix"
)]
#![cfg_attr(
    not(feature = "dashboard"),
    doc = "[`DashboardBuilder::auth`]: https://docs.rs/taskdeck/latest/taskdeck/struct.DashboardBuilder.html#method.auth"
)]
#![cfg_attr(
    not(feature = "dashboard"),
    doc = "[`DashboardBuilder::also`]: https://docs.rs/taskdeck/latest/taskdeck/struct.DashboardBuilder.html#method.also"
)]
#![cfg_attr(
    not(feature = "dashboard"),
    doc = "[`DashboardBuilder::secret`]: https://docs.rs/taskdeck/latest/taskdeck/struct.DashboardBuilder.html#method.secret"
)]
#![cfg_attr(
    not(feature = "dashboard"),
    doc = "[`MountedAt`]: https://docs.rs/taskdeck/latest/taskdeck/struct.MountedAt.html"
)]
#![cfg_attr(
    not(feature = "dashboard"),
    doc = "[`AuthBackend`]: https://docs.rs/taskdeck/latest/taskdeck/trait.AuthBackend.html"
)]
#![cfg_attr(
    not(feature = "dashboard"),
    doc = "[`ProxyHeaderBackend`]: https://docs.rs/taskdeck/latest/taskdeck/struct.ProxyHeaderBackend.html"
)]
#![cfg_attr(
    not(feature = "dashboard"),
    doc = "[`Role`]: https://docs.rs/taskdeck/latest/taskdeck/enum.Role.html"
)]
#![cfg_attr(
    not(feature = "password"),
    doc = "[`PasswordBackend`]: https://docs.rs/taskdeck/latest/taskdeck/struct.PasswordBackend.html"
)]
#![cfg_attr(
    not(feature = "password"),
    doc = "[`PasswordBackend::hash`]: https://docs.rs/taskdeck/latest/taskdeck/struct.PasswordBackend.html#method.hash"
)]
#![cfg_attr(
    not(feature = "password"),
    doc = "[`PasswordBackend::verify_with`]: https://docs.rs/taskdeck/latest/taskdeck/struct.PasswordBackend.html#method.verify_with"
)]
#![cfg_attr(
    not(feature = "jwt"),
    doc = "[`JwtBackend`]: https://docs.rs/taskdeck/latest/taskdeck/struct.JwtBackend.html"
)]
#![cfg_attr(
    not(feature = "postgres"),
    doc = "[`store::PostgresStore`]: https://docs.rs/taskdeck/latest/taskdeck/store/struct.PostgresStore.html"
)]
#![cfg_attr(
    not(feature = "tracing-layer"),
    doc = "[`RunLogLayer`]: https://docs.rs/taskdeck/latest/taskdeck/struct.RunLogLayer.html"
)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// `Debug` for an error type writes its message, as `Display` does: an error returned from
/// `fn main() -> Result<(), Box<dyn Error>>` is printed with `Debug`, and the message is what
/// says how to fix it (a derived `Debug` showed `Prefix(PrefixError { … })` instead).
macro_rules! debug_is_display {
    ($t:ty) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(self, f)
            }
        }
    };
}

#[cfg(feature = "dashboard")]
mod adapters;
#[cfg(feature = "actix")]
pub use adapters::actix;
#[cfg(feature = "axum")]
pub use adapters::axum;
mod audit;
#[cfg(feature = "dashboard")]
mod auth;
#[cfg(feature = "dashboard")]
mod cookies;
#[cfg(any(feature = "dashboard", feature = "postgres"))]
mod entropy;
#[cfg(any(feature = "oidc", feature = "webhook"))]
mod fetch;
#[cfg(feature = "dashboard")]
mod links;
mod metrics;
#[cfg(feature = "dashboard")]
pub mod policy;
#[cfg(any(feature = "dashboard", feature = "postgres"))]
mod revocations;
mod scheduler;
mod seam;
#[cfg(feature = "dashboard")]
mod views;
#[cfg(feature = "dashboard")]
mod web;
#[cfg(feature = "webhook")]
mod webhook;

// The scheduler: jobs, tasks, triggers, runs, events, clocks.
#[cfg(feature = "tracing-layer")]
pub use scheduler::RunLogLayer;
pub use scheduler::{
    Alert, AlertCheck, AlertKind, AlertSettings, Clock, Error, Event, EventStream, HookFuture,
    JobError, JobResult, Lifecycle, LiveProgress, LogLevel, LogLine, ManualClock, Progress,
    Readiness, ReadinessCheck, Recv, RunCause, RunCursor, RunId, RunQuery, RunRecord, RunStatus,
    Scheduler, SchedulerBuilder, Sleep, Slot, SlotTask, SlotTasks, SystemClock, Task, TaskContext,
    TaskOptions, Timeline, TimelineQuery, TimelineWindow, TriggerError, TriggerKind, TriggerSpec,
    LIVE_EVERY, MAX_ARGS_BYTES, MAX_ID_LEN, MAX_LOG_LINES, MAX_LOG_LINES_PER_SEC,
    MAX_LOG_LINE_BYTES, MAX_PROGRESS_MESSAGE_BYTES, MAX_RESULT_BYTES, MAX_SEARCH_BYTES,
    MOST_SLOT_TASKS, PILEUP_TASKS, SEARCH_WINDOW,
};

// The seam: what a dashboard asks of a scheduler, and the data it answers in.
pub use scheduler::{
    DurationStats, Histogram, InstanceInfo, LastRun, Page, Series, SeriesPoint, SeriesWindow,
    StateCounts, Stats, TaskCursor, TaskInfo, TaskQuery, TaskSort, TaskState, TriggerText,
    WindowCounts, DEFAULT_PER_PAGE, DURATION_BUCKETS, MAX_PER_PAGE, OVERDUE_AFTER,
};
pub use seam::{
    BackendError, BackendFuture, BulkAction, BulkOutcome, JobDurations, SchedulerStatus,
    TaskBackend, TaskDetail, TriggerPreview,
};

// The dashboard, its login and its audit log.
pub use audit::{AuditEntry, AuditLog, AuditPage, AuditSink};
#[cfg(feature = "oidc")]
pub use auth::OidcBackend;
#[cfg(feature = "password")]
pub use auth::PasswordBackend;
#[cfg(feature = "dashboard")]
pub use auth::{
    AuthBackend, AuthFuture, AuthReply, LoginHelp, LoginResult, ProxyHeaderBackend, Refresh,
    RequestParts, Role, SignInMethod, User,
};
#[cfg(feature = "jwt")]
pub use auth::{JwtBackend, JwtError};
#[cfg(feature = "dashboard")]
pub use links::{MountPrefix, PrefixError};
#[cfg(any(feature = "dashboard", feature = "postgres"))]
pub use revocations::{
    Ended, Revocation, RevocationFile, RevocationFuture, RevocationStore, PAGE as REVOCATION_PAGE,
};
#[cfg(feature = "dashboard")]
pub use web::{Body, ClientAddr, ConfigError, Dashboard, DashboardBuilder, MountedAt};
#[cfg(feature = "webhook")]
pub use webhook::WebhookNotifier;

/// Where tasks and runs are kept: the [`Store`](store::Store) trait a scheduler reads and
/// writes through, the in-memory store (the default) and the PostgreSQL store shared by
/// replicas (feature `postgres`), and the types a store implementation deals in.
///
/// Most services never name anything here but a store to build the scheduler with:
///
/// ```
/// use taskdeck::store::{HistoryLimits, MemoryStore};
/// let store = MemoryStore::with_limits(HistoryLimits::default());
/// let scheduler = taskdeck::Scheduler::builder().store(store).build()?;
/// # Ok::<(), taskdeck::Error>(())
/// ```
pub mod store {
    pub use crate::scheduler::{
        AlertScan, AlertSweep, Beat, DueFire, HistoryLimits, LiveRunState, LongRun, MemoryStore,
        Notice, Sharing, Store, StoreFuture, TaskRecord, Trigger,
    };
    #[cfg(feature = "postgres")]
    pub use crate::scheduler::{PostgresStore, PostgresStoreBuilder};
}

#[cfg(all(test, feature = "dashboard"))]
mod properties;

#[cfg(all(doctest, feature = "password", feature = "oidc", feature = "webhook"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
