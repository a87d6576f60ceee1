//! What the examples share: the demo's jobs and tasks, its login, its environment.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use taskdeck::{
    AuditSink, Dashboard, DashboardBuilder, JobError, PasswordBackend, RevocationStore, Role,
    Scheduler, Task, TaskContext,
};

/// A variable from the environment, `None` when unset or empty.
pub(crate) fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// `TASKDECK_ADDR`, default `127.0.0.1:8000`.
pub(crate) fn addr() -> Result<SocketAddr, Box<dyn std::error::Error>> {
    Ok(env("TASKDECK_ADDR")
        .unwrap_or_else(|| "127.0.0.1:8000".into())
        .parse()?)
}

/// A started demo scheduler, and where its dashboards keep their audit log.
pub(crate) struct Demo {
    pub(crate) scheduler: Scheduler,
    /// The shared store's audit log and ended sessions, when the schedule lives in PostgreSQL.
    shared: Option<(Arc<dyn AuditSink>, Arc<dyn RevocationStore>)>,
}

impl Demo {
    /// A dashboard builder over the scheduler, writing to the shared audit log if there is one.
    pub(crate) fn dashboard(&self) -> DashboardBuilder {
        let builder = Dashboard::builder(self.scheduler.clone());
        match &self.shared {
            Some((audit, ended)) => builder.audit_sink(audit.clone()).revocations(ended.clone()),
            None => builder,
        }
    }
}

/// A started scheduler with the demo's dozen sample tasks and `extra` generated ones.
///
/// With `TASKDECK_DATABASE_URL` set (and the `postgres` feature), the schedule and the audit
/// log live in PostgreSQL and are shared with every other demo pointed at the same database.
pub(crate) async fn demo_scheduler(extra: usize) -> Result<Demo, Box<dyn std::error::Error>> {
    #[cfg_attr(not(feature = "postgres"), allow(unused_mut))]
    let mut builder = Scheduler::builder();
    #[cfg_attr(not(feature = "postgres"), allow(unused_mut))]
    let mut shared: Option<(Arc<dyn AuditSink>, Arc<dyn RevocationStore>)> = None;
    if let Some(url) = env("TASKDECK_DATABASE_URL") {
        #[cfg(feature = "postgres")]
        {
            let mut store = taskdeck::store::PostgresStore::builder(&url)
                .schema(&env("TASKDECK_DATABASE_SCHEMA").unwrap_or_else(|| "taskdeck_demo".into()));
            // TASKDECK_KEEP_RUNS: how many runs the history keeps in all (a long history for
            // load tests); 100 per task either way.
            if let Some(v) = env("TASKDECK_KEEP_RUNS") {
                let total = v
                    .parse()
                    .map_err(|_| format!("TASKDECK_KEEP_RUNS must be a number, not {v:?}"))?;
                store = store.history(taskdeck::store::HistoryLimits {
                    per_task: 100,
                    total,
                });
            }
            let store = store.connect().await?;
            tracing::info!(
                instance = store.instance_id(),
                "schedule shared through PostgreSQL"
            );
            shared = Some((store.audit_log(), store.revocations()));
            builder = builder.store(store);
        }
        #[cfg(not(feature = "postgres"))]
        {
            let _ = url;
            return Err(
                "TASKDECK_DATABASE_URL is set: run the demo with --features postgres".into(),
            );
        }
    }
    if shared.is_none() {
        // A week of made-up history, so that the charts show something at once.
        let store = taskdeck::store::MemoryStore::default();
        seed_history(&store).await?;
        builder = builder.store(store);
    }
    let scheduler = builder.build()?;
    register_jobs(&scheduler).await;
    add_tasks(&scheduler, extra).await?;
    scheduler.start()?;
    Ok(Demo { scheduler, shared })
}

/// Runs of the past week, recorded straight into the store: a few an hour, busier in the
/// day, with some failures, so the overview's charts have a shape.
async fn seed_history(store: &taskdeck::store::MemoryStore) -> Result<(), taskdeck::Error> {
    use taskdeck::store::Store as _;
    use taskdeck::{RunCause, RunRecord, RunStatus};
    let now = jiff::Timestamp::now();
    let mut n: u64 = 0;
    for minutes_ago in (1..7 * 24 * 60).rev().step_by(7) {
        let at = now - jiff::SignedDuration::from_mins(minutes_ago);
        let hour = (at.as_second() / 3600) % 24;
        let busy = if (7..19).contains(&hour) { 3 } else { 1 };
        for k in 0..busy {
            n += 1;
            let (task, job) = [
                ("inventory-sync", "sync_inventory"),
                ("cleanup-tmp", "cleanup"),
                ("heartbeat", "heartbeat"),
            ][(n % 3) as usize];
            let failed = task == "inventory-sync" && n % 5 == 0;
            let started = at + jiff::SignedDuration::from_secs(k);
            store
                .record_run(RunRecord {
                    id: 0,
                    task_id: task.into(),
                    job: job.into(),
                    cause: RunCause::Schedule,
                    scheduled_at: started,
                    started_at: Some(started),
                    finished_at: Some(
                        started + jiff::SignedDuration::from_millis(120 + (n % 7) as i64 * 40),
                    ),
                    status: if failed {
                        RunStatus::Failed
                    } else {
                        RunStatus::Succeeded
                    },
                    error: failed.then(|| "upstream answered 503 Service Unavailable".to_string()),
                    attempt: 1,
                    logs: Vec::new(),
                    logs_dropped: 0,
                    args: serde_json::Value::Null,
                    result: None,
                    retry_of: None,
                    progress: None,
                    logs_seq: 0,
                })
                .await?;
        }
    }
    Ok(())
}

/// One admin user from `TASKDECK_DEMO_USER` / `TASKDECK_DEMO_PASSWORD` (generated when unset),
/// and a line to print saying how to sign in.
pub(crate) fn demo_login() -> Result<(PasswordBackend, String), Box<dyn std::error::Error>> {
    let user = env("TASKDECK_DEMO_USER").unwrap_or_else(|| "admin".into());
    let password = env("TASKDECK_DEMO_PASSWORD").unwrap_or_else(|| {
        std::iter::repeat_with(fastrand::alphanumeric)
            .take(16)
            .collect()
    });
    let backend =
        PasswordBackend::new().user(&user, &PasswordBackend::hash(&password)?, Role::Admin)?;
    Ok((
        backend,
        format!("sign in as {user:?} with password {password:?}"),
    ))
}

pub(crate) async fn register_jobs(s: &Scheduler) {
    // Returns a result, kept with each run and shown on its page.
    s.register_returning("send_report", |ctx: TaskContext| async move {
        ctx.log(format!("report sent to {}", ctx.args()["to"]));
        Ok(json!({ "sent_to": ctx.args()["to"], "pages": 3 + ctx.run_id() % 5 }))
    });
    // Slow, and honours cancellation: checks between batches and stops cleanly.
    // Shows its progress and a line a batch, live on its run's page.
    s.register("import_catalog", |ctx: TaskContext| async move {
        ctx.progress(0, 120, "starting");
        for batch in 1..=120 {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = ctx.cancelled() => {
                    ctx.log(format!("cancelled after {} of 120 batches; stopping cleanly", batch - 1));
                    return Ok(());
                }
            }
            ctx.log(format!("imported batch {batch} of 120 ({} products)", 250 + batch * 7 % 40));
            ctx.progress(batch, 120, format!("batch {batch} of 120"));
        }
        Ok(())
    });
    s.register("call_webhook", |ctx: TaskContext| async move {
        Err::<(), JobError>(
            format!(
                "{} answered 410 Gone",
                ctx.args()["url"].as_str().unwrap_or("the partner")
            )
            .into(),
        )
    });
    s.register("cleanup", |ctx: TaskContext| async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ctx.log("removed 12 temp files");
        Ok(())
    });
    s.register("sync_inventory", |ctx: TaskContext| async move {
        // Fails one time in three.
        if fastrand_like(ctx.run_id()) % 3 == 0 {
            return Err::<(), JobError>("upstream answered 503 Service Unavailable".into());
        }
        ctx.log("synced 418 items");
        Ok(())
    });
    s.register("slow_export", |ctx: TaskContext| async move {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(8)) => ctx.log("export done"),
            () = ctx.cancelled() => ctx.log("export interrupted: cancelled"),
        }
        Ok(())
    });
    s.register("flaky_panic", |ctx: TaskContext| async move {
        if ctx.run_id() % 2 == 0 {
            panic!("index out of bounds in the demo job");
        }
        Ok(())
    });
    s.register("heartbeat", |_ctx: TaskContext| async move { Ok(()) });
}

fn fastrand_like(seed: u64) -> u64 {
    seed.wrapping_mul(6364136223846793005).rotate_left(17)
}

pub(crate) async fn add_tasks(s: &Scheduler, extra: usize) -> Result<(), taskdeck::Error> {
    let secs = Duration::from_secs;
    let tasks = [
        Task::new("heartbeat", "heartbeat")
            .name("Heartbeat")
            .every(secs(5)),
        Task::new("nightly-report", "send_report")
            .name("Nightly report")
            .cron("0 30 3 * * *")?
            .args(json!({"to": "ops@example.com"})),
        Task::new("hourly-report", "send_report")
            .name("Hourly summary")
            .cron("0 * * * *")?
            .args(json!({"to": "team@example.com"})),
        Task::new("cleanup-tmp", "cleanup")
            .name("Clean temp files")
            .every(secs(20)),
        Task::new("inventory-sync", "sync_inventory")
            .name("Inventory sync")
            .every(secs(15))
            .retries(2)
            .retry_backoff(secs(2)),
        Task::new("export-orders", "slow_export")
            .name("Export orders")
            .every(secs(30))
            .timeout(secs(6)),
        Task::new("panicky", "flaky_panic")
            .name("Panicky job")
            .every(secs(25)),
        Task::new("weekly-digest", "send_report")
            .name("Weekly digest")
            .cron_in("0 9 * * MON", "America/New_York")?
            .args(json!({"to": "all@example.com"})),
        Task::new("month-end", "send_report")
            .name("Month-end close")
            .cron("0 0 L * *")?
            .args(json!({"to": "finance@example.com"})),
        Task::new("paused-cleanup", "cleanup")
            .name("Paused cleanup")
            .every(secs(60))
            .paused(true),
        Task::new("one-off-migration", "cleanup")
            .name("One-off migration")
            .at(jiff::Timestamp::now() + secs(45)),
        Task::new("jittery-sync", "sync_inventory")
            .name("Jittered sync")
            .every(secs(40))
            .jitter(secs(5)),
        Task::new("catalog-import", "import_catalog")
            .name("Catalog import (2 min, cancellable)")
            .every(secs(6 * 3600))
            .paused(true),
        Task::new("partner-webhook", "call_webhook")
            .name("Partner webhook")
            .every(secs(3600))
            .paused(true)
            // The token shows as •••• on the dashboard (a key that looks secret).
            .args(json!({"url": "https://partner.example.com/hooks/orders", "token": "demo-token-not-secret"})),
    ];
    // A shared store may hold them already (another replica added them): keep those.
    let add = |t: Task| async move {
        match s.add(t).await {
            Ok(_) | Err(taskdeck::Error::DuplicateTask { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    };
    for t in tasks {
        add(t).await?;
    }
    // Generated ones, sixteen adds at a time (100,000 take seconds, not minutes, on
    // PostgreSQL): interval tasks of one job, one in seven paused, most never run yet.
    let mut set = tokio::task::JoinSet::new();
    for part in 0..16 {
        let s = s.clone();
        set.spawn(async move {
            for i in (part..extra).step_by(16) {
                let t = Task::new(format!("generated-{i:06}"), "heartbeat")
                    .every(secs(60 + (i % 3600) as u64))
                    .paused(i % 7 == 0);
                match s.add(t).await {
                    Ok(_) | Err(taskdeck::Error::DuplicateTask { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r.map_err(|e| taskdeck::Error::Store(format!("adding tasks: {e}")))??;
    }
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Extra users from `TASKDECK_DEMO_USERS`: `name:password:role`, comma-separated (roles
/// `viewer`, `operator`, `admin`), added to `backend`; and a line saying who they are.
pub(crate) fn demo_users(
    backend: PasswordBackend,
) -> Result<(PasswordBackend, Option<String>), Box<dyn std::error::Error>> {
    let Some(list) = env("TASKDECK_DEMO_USERS") else {
        return Ok((backend, None));
    };
    let mut names = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut parts = entry.splitn(3, ':');
        let (Some(name), Some(password), Some(role)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("TASKDECK_DEMO_USERS: {entry:?} is not name:password:role").into());
        };
        let role: Role = role
            .parse()
            .map_err(|e| format!("TASKDECK_DEMO_USERS: {e}"))?;
        backend.set_user(name, &PasswordBackend::hash(password)?, role)?;
        names.push(format!("{name} ({})", role.as_str()));
    }
    Ok((backend, Some(format!("also: {}", names.join(", ")))))
}

/// The proxies the demo trusts, from `TASKDECK_TRUSTED_PROXIES` (comma-separated addresses):
/// their `X-Forwarded-For` / `Forwarded` client address, prefix and scheme are believed.
pub(crate) fn trusted_proxies() -> Result<Vec<std::net::IpAddr>, Box<dyn std::error::Error>> {
    let Some(list) = env("TASKDECK_TRUSTED_PROXIES") else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse()
                .map_err(|_| format!("TASKDECK_TRUSTED_PROXIES: {a:?} is not an IP address").into())
        })
        .collect()
}
