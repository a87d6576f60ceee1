//! [`PostgresStore`]: one schedule shared by every replica of a service (feature `postgres`).
//!
//! # How replicas share the work
//! - **Claims.** The timer loop of each replica claims due fires with
//!   `SELECT … FOR UPDATE SKIP LOCKED` and advances each task's next fire in the same
//!   transaction, so a fire is handed to exactly one replica; replicas skip rows another is
//!   claiming instead of waiting for them. A replica only claims tasks whose job it has
//!   registered; a task no live replica can run stays due and shows as such.
//! - **Leases.** A run is stored as `running` with the replica's id and a lease (default 30 s)
//!   that the replica renews on every heartbeat (default every 2 s). When a replica dies its
//!   leases lapse; any other replica then records those runs as
//!   [`RunStatus::Interrupted`](crate::RunStatus::Interrupted), frees their `max_instances` slot
//!   and retries them when the task has retries left. A replica that has just (re)connected
//!   waits one lease before reaping, so after a database outage live replicas renew first.
//! - **`max_instances`** is a counter on the task row, raised with
//!   `UPDATE … WHERE running < max_instances`: it holds across replicas.
//! - **Changes.** Every change (add, edit, pause, resume, remove, run started, run finished)
//!   sends a `NOTIFY` on a channel named after the schema. Each replica `LISTEN`s on its own
//!   connection: a change wakes its timer loop at once and reaches its dashboard's live
//!   stream. LISTEN/NOTIFY costs nothing while nothing changes and delivers in about a
//!   millisecond; as a backstop (a notice lost while reconnecting) timer loops also look at
//!   the schedule every 10 s.
//! - **Counters** (runs by outcome, duration histograms, per-minute windows) are summed in
//!   memory and added to the database on each heartbeat, so finishing a run never contends
//!   on a shared counter row.
//! - **History** is pruned in the database every 30 s by one replica at a time (an advisory
//!   lock): at most [`HistoryLimits::per_task`] runs per task and [`HistoryLimits::total`] in
//!   all, like the memory store.
//!
//! # Connection loss
//! Calls fail with [`Error::Store`]; the timer loop and heartbeats retry with backoff (up to
//! 30 s) and log each failure; ends of runs are retried for about a minute. Nothing panics, and
//! since a claim commits before the fire runs, a fire claimed before the outage is not claimed
//! again after it.
//!
//! The one window where a fire can be lost: a replica that dies after committing a claim and
//! before storing the run (two consecutive statements, well under a millisecond apart).

mod listen;
mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::error::Error;
use super::events::Event;
use super::history::{LogLine, RunCause, RunId, RunQuery, RunRecord, RunStatus};
use super::memory::HistoryLimits;
use super::store::{
    paging, window_delta, Beat, DueFire, DurationStats, Histogram, InstanceInfo, LastRun, Notice,
    Page, Sharing, StateCounts, Stats, Store, StoreFuture, TaskQuery, TaskRecord, TaskSort,
    TaskState, WindowCounts,
};
use super::task::Task;
use super::trigger::Trigger;
use crate::auth::{AuditEntry, AuditPage, AuditSink};

/// Most recent runs the duration percentiles are taken over.
const DURATION_SAMPLE: i64 = 200;
/// How often history is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// Settings of a [`PostgresStore`]; see [`PostgresStore::builder`].
#[derive(Clone)]
pub struct PostgresStoreBuilder {
    url: String,
    schema: String,
    pool_size: usize,
    heartbeat: Duration,
    lease: Duration,
    poll: Duration,
    history: HistoryLimits,
    audit_capacity: usize,
    prune_every: Duration,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password: never print it.
        f.debug_struct("PostgresStoreBuilder")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("heartbeat", &self.heartbeat)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl PostgresStoreBuilder {
    /// Schema holding taskdeck's tables (created if missing). Default `public`. Replicas that
    /// share a schedule use the same schema; separate schedules use separate schemas.
    pub fn schema(mut self, schema: &str) -> Self {
        self.schema = schema.to_string();
        self
    }

    /// Connections in the pool. Default 16.
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n;
        self
    }

    /// How often this replica heartbeats and renews its run leases. Default 2 s.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// How long a run's lease lasts without renewal; after that another replica records the
    /// run as interrupted. Default 30 s; at least three heartbeats.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Longest a timer loop sleeps without looking at the schedule. Default 10 s.
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// History bounds, pruned in the database. Default 100 runs per task, 10,000 in all.
    pub fn history(mut self, limits: HistoryLimits) -> Self {
        self.history = limits;
        self
    }

    /// Audit entries kept. Default 10,000.
    pub fn audit_capacity(mut self, n: usize) -> Self {
        self.audit_capacity = n;
        self
    }

    /// How often history and the audit log are pruned to their bounds (by one replica at a
    /// time, on its heartbeat). Default 30 s.
    pub fn prune_every(mut self, every: Duration) -> Self {
        self.prune_every = every;
        self
    }

    /// Connects, creates or migrates the schema, and starts listening for changes. Needs a
    /// tokio runtime.
    pub async fn connect(self) -> Result<PostgresStore, Error> {
        let invalid =
            |setting: &'static str, message: String| Error::InvalidConfig { setting, message };
        let schema = self.schema.clone();
        let valid = !schema.is_empty()
            && schema.len() <= 50
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !schema.as_bytes()[0].is_ascii_digit();
        if !valid {
            return Err(invalid(
                "schema",
                format!(
                    "{schema:?} is not a plain schema name: use 1-50 of a-z, 0-9 and _, not \
                     starting with a digit"
                ),
            ));
        }
        if self.pool_size == 0 {
            return Err(invalid("pool_size", "must be at least 1".into()));
        }
        if self.heartbeat.is_zero() || self.lease < self.heartbeat * 3 {
            return Err(invalid(
                "lease",
                format!(
                    "the lease ({:?}) must be at least three heartbeats ({:?} each)",
                    self.lease, self.heartbeat
                ),
            ));
        }
        let mut config: tokio_postgres::Config = self.url.parse().map_err(|e| {
            invalid(
                "url",
                format!("not a PostgreSQL connection string or URL: {e}"),
            )
        })?;
        config.options(format!("-c search_path={schema}"));
        if config.get_application_name().is_none() {
            config.application_name("taskdeck");
        }
        config.connect_timeout(Duration::from_secs(10));

        // Migrate on a connection of its own, before the pool's connections exist.
        let (mut client, conn) = config.connect(NoTls).await.map_err(pg)?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let version = schema::migrate(&mut client, &schema).await;
        drop(client);
        let _ = driver.await;
        version?;

        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.pool_size)
            .build()
            .map_err(|e| invalid("pool_size", e.to_string()))?;
        let mut id = [0u8; 6];
        crate::auth::random_bytes(&mut id);
        let instance: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let channel = format!("taskdeck_{schema}");
        let (notices, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            pool,
            schema,
            channel: channel.clone(),
            instance: instance.clone(),
            host: super::instance::hostname(),
            pid: std::process::id(),
            started_at: Timestamp::now(),
            tz: RwLock::new(TimeZone::UTC),
            jobs: RwLock::new(Vec::new()),
            heartbeat: self.heartbeat,
            lease: self.lease,
            poll: self.poll,
            history: HistoryLimits {
                per_task: self.history.per_task.max(1),
                total: self.history.total.max(1),
            },
            audit_capacity: self.audit_capacity.max(1),
            prune_every: self.prune_every,
            pending: Mutex::new(Counters::default()),
            connected_since: Mutex::new(None),
            last_prune: Mutex::new(None),
            notices: notices.clone(),
        });
        let listener = tokio::spawn(listen::run(config, channel, instance, notices));
        tracing::info!(schema = %shared.schema, instance = %shared.instance, "PostgreSQL store connected");
        Ok(PostgresStore {
            shared,
            _listener: Arc::new(AbortOnDrop(listener)),
        })
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A store in PostgreSQL shared by any number of scheduler processes. See the
/// [module docs](self) for how they share the work.
///
/// ```no_run
/// use taskdeck::{PostgresStore, Scheduler};
/// # async fn f() -> Result<(), taskdeck::Error> {
/// let store = PostgresStore::builder("postgres://taskdeck@127.0.0.1/app")
///     .schema("taskdeck")
///     .connect()
///     .await?;
/// let scheduler = Scheduler::builder().store(store).build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    shared: Arc<Shared>,
    _listener: Arc<AbortOnDrop>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.shared.schema)
            .field("instance", &self.shared.instance)
            .finish_non_exhaustive()
    }
}

struct Shared {
    pool: Pool,
    schema: String,
    channel: String,
    instance: String,
    host: String,
    pid: u32,
    started_at: Timestamp,
    tz: RwLock<TimeZone>,
    /// Jobs registered in this process, from the latest heartbeat: the claim filter.
    jobs: RwLock<Vec<String>>,
    heartbeat: Duration,
    lease: Duration,
    poll: Duration,
    history: HistoryLimits,
    audit_capacity: usize,
    prune_every: Duration,
    /// Counters not yet added to the database.
    pending: Mutex<Counters>,
    /// Since when heartbeats have succeeded without a gap.
    connected_since: Mutex<Option<Instant>>,
    last_prune: Mutex<Option<Instant>>,
    notices: broadcast::Sender<Notice>,
}

/// Counter deltas summed in memory between heartbeats.
#[derive(Debug, Default)]
struct Counters {
    by_status: BTreeMap<RunStatus, u64>,
    durations: BTreeMap<String, Histogram>,
    minutes: BTreeMap<i64, WindowCounts>,
}

impl Counters {
    fn count(&mut self, run: &RunRecord) {
        if run.status.is_finished() {
            *self.by_status.entry(run.status).or_default() += 1;
        }
        if let Some(ms) = run.duration_ms() {
            self.durations
                .entry(run.job.clone())
                .or_default()
                .observe(ms);
        }
        let (minute, delta) = window_delta(run);
        self.minutes.entry(minute).or_default().add(delta);
    }

    fn is_empty(&self) -> bool {
        self.by_status.is_empty() && self.durations.is_empty() && self.minutes.is_empty()
    }

    fn merge(&mut self, other: Counters) {
        for (st, n) in other.by_status {
            *self.by_status.entry(st).or_default() += n;
        }
        for (job, h) in other.durations {
            add_histogram(self.durations.entry(job).or_default(), &h);
        }
        for (m, c) in other.minutes {
            self.minutes.entry(m).or_default().add(c);
        }
    }
}

fn add_histogram(into: &mut Histogram, h: &Histogram) {
    if into.buckets.len() != h.buckets.len() {
        into.buckets
            .resize(h.buckets.len().max(into.buckets.len()), 0);
    }
    for (a, b) in into.buckets.iter_mut().zip(&h.buckets) {
        *a += b;
    }
    into.count += h.count;
    into.sum_seconds += h.sum_seconds;
}

/// A PostgreSQL failure as a store error that says what failed.
pub(crate) fn pg(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::Store(format!(
            "PostgreSQL: {} ({})",
            db.message(),
            db.code().code()
        )),
        None => Error::Store(format!("PostgreSQL: {e}")),
    }
}

fn pool_err(e: deadpool_postgres::PoolError) -> Error {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg(e),
        other => Error::Store(format!("PostgreSQL connection pool: {other}")),
    }
}

/// `"name"`, for identifiers checked to be plain.
pub(crate) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn state_ix(s: TaskState) -> i16 {
    match s {
        TaskState::Scheduled => 0,
        TaskState::Running => 1,
        TaskState::Paused => 2,
        TaskState::Completed => 3,
    }
}

fn lower(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

fn status_of(s: &str) -> Result<RunStatus, Error> {
    s.parse()
        .map_err(|e| Error::Store(format!("stored run status: {e}")))
}

fn cause_str(c: RunCause) -> &'static str {
    match c {
        RunCause::Schedule => "schedule",
        RunCause::Manual => "manual",
        RunCause::Retry => "retry",
    }
}

fn cause_of(s: &str) -> RunCause {
    match s {
        "manual" => RunCause::Manual,
        "retry" => RunCause::Retry,
        _ => RunCause::Schedule,
    }
}

fn u32_of(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

fn i32_of(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

const TASK_COLS: &str = "id, spec, paused, anchor, created_at, updated_at, next_fire, running, \
     last_run_id, last_status, last_scheduled_at, last_finished_at, last_error";

const RUN_COLS: &str = "id, task_id, job, cause, scheduled_at, started_at, finished_at, status, \
     error, attempt, logs, logs_dropped";

impl Shared {
    async fn client(&self) -> Result<deadpool_postgres::Object, Error> {
        self.pool.get().await.map_err(pool_err)
    }

    fn tz(&self) -> TimeZone {
        self.tz.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn task_row(&self, row: &Row, tz: &TimeZone) -> Result<TaskRecord, Error> {
        let id: String = row.get(0);
        let spec: Value = row.get(1);
        let mut task: Task = serde_json::from_value(spec)
            .map_err(|e| Error::Store(format!("task {id:?}: stored definition unreadable: {e}")))?;
        task.paused = row.get(2);
        let trigger = Trigger::new(&task.trigger, tz)
            .map_err(|e| Error::Store(format!("task {id:?}: stored trigger invalid: {e}")))?;
        let last_run = match (row.get::<_, Option<i64>>(8), row.get::<_, Option<&str>>(9)) {
            (Some(run_id), Some(status)) => Some(LastRun {
                run_id: run_id as u64,
                status: status_of(status)?,
                scheduled_at: row
                    .get::<_, Option<Timestamp>>(10)
                    .unwrap_or(Timestamp::UNIX_EPOCH),
                finished_at: row.get(11),
                error: row.get(12),
            }),
            _ => None,
        };
        Ok(TaskRecord {
            task: Arc::new(task),
            trigger,
            anchor: row.get(3),
            created_at: row.get(4),
            updated_at: row.get(5),
            next_fire: row.get(6),
            last_run,
            running: u32_of(row.get(7)),
        })
    }

    fn notice(&self, event: &Event) -> String {
        listen::payload(&self.instance, event)
    }

    fn run_row(row: &Row) -> Result<RunRecord, Error> {
        let logs: Value = row.get(10);
        let logs: Vec<LogLine> = serde_json::from_value(logs).unwrap_or_default();
        Ok(RunRecord {
            id: row.get::<_, i64>(0) as u64,
            task_id: row.get(1),
            job: row.get(2),
            cause: cause_of(row.get(3)),
            scheduled_at: row.get(4),
            started_at: row.get(5),
            finished_at: row.get(6),
            status: status_of(row.get(7))?,
            error: row.get(8),
            attempt: u32_of(row.get(9)),
            logs,
            logs_dropped: u32_of(row.get(11)),
        })
    }

    fn count(&self, run: &RunRecord) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .count(run);
    }

    async fn insert(&self, rec: TaskRecord) -> Result<(), Error> {
        let c = self.client().await?;
        let t = &rec.task;
        let spec = serde_json::to_value(&**t).map_err(|e| Error::Store(e.to_string()))?;
        let haystack = lower(&format!("{}\n{}\n{}", t.id, t.name, t.job));
        let payload = self.notice(&Event::TaskAdded {
            task_id: t.id.clone(),
        });
        let stmt = c
            .prepare_cached(
                "with i as (insert into taskdeck_tasks (id, name_key, haystack, job, trigger_kind, \
                 spec, paused, anchor, created_at, updated_at, next_fire) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning id) \
                 select pg_notify($12, $13) from i",
            )
            .await
            .map_err(pg)?;
        let r = c
            .execute(
                &stmt,
                &[
                    &t.id,
                    &lower(&t.name),
                    &haystack,
                    &t.job,
                    &rec.trigger.kind().as_str(),
                    &spec,
                    &t.paused,
                    &rec.anchor,
                    &rec.created_at,
                    &rec.updated_at,
                    &rec.next_fire,
                    &self.channel,
                    &payload,
                ],
            )
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                Err(Error::DuplicateTask { id: t.id.clone() })
            }
            Err(e) => Err(pg(e)),
        }
    }

    /// Reads a task for change inside `tx`, applies `change`, writes it back and notifies.
    async fn modify(
        &self,
        id: &str,
        event: Event,
        change: impl FnOnce(&mut TaskRecord) + Send,
    ) -> Result<TaskRecord, Error> {
        let mut c = self.client().await?;
        let tz = self.tz();
        let tx = c.transaction().await.map_err(pg)?;
        let select = tx
            .prepare_cached(&format!(
                "select {TASK_COLS} from taskdeck_tasks where id = $1 for update"
            ))
            .await
            .map_err(pg)?;
        let Some(row) = tx.query_opt(&select, &[&id]).await.map_err(pg)? else {
            return Err(Error::UnknownTask { id: id.to_string() });
        };
        let mut rec = self.task_row(&row, &tz)?;
        change(&mut rec);
        let t = &rec.task;
        let spec = serde_json::to_value(&**t).map_err(|e| Error::Store(e.to_string()))?;
        let haystack = lower(&format!("{}\n{}\n{}", t.id, t.name, t.job));
        let update = tx
            .prepare_cached(
                "update taskdeck_tasks set name_key = $2, haystack = $3, job = $4, \
                 trigger_kind = $5, spec = $6, paused = $7, anchor = $8, updated_at = $9, \
                 next_fire = $10 where id = $1",
            )
            .await
            .map_err(pg)?;
        tx.execute(
            &update,
            &[
                &id,
                &lower(&t.name),
                &haystack,
                &t.job,
                &rec.trigger.kind().as_str(),
                &spec,
                &t.paused,
                &rec.anchor,
                &rec.updated_at,
                &rec.next_fire,
            ],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "select pg_notify($1, $2)",
            &[&self.channel, &self.notice(&event)],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(rec)
    }

    async fn remove(&self, id: &str) -> Result<TaskRecord, Error> {
        let c = self.client().await?;
        let payload = self.notice(&Event::TaskRemoved {
            task_id: id.to_string(),
        });
        let stmt = c
            .prepare_cached(&format!(
                "with d as (delete from taskdeck_tasks where id = $1 returning {TASK_COLS}) \
                 select d.*, pg_notify($2, $3) from d"
            ))
            .await
            .map_err(pg)?;
        let row = c
            .query_opt(&stmt, &[&id, &self.channel, &payload])
            .await
            .map_err(pg)?
            .ok_or_else(|| Error::UnknownTask { id: id.to_string() })?;
        self.task_row(&row, &self.tz())
    }

    async fn get(&self, id: &str) -> Result<Option<TaskRecord>, Error> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "select {TASK_COLS} from taskdeck_tasks where id = $1"
            ))
            .await
            .map_err(pg)?;
        match c.query_opt(&stmt, &[&id]).await.map_err(pg)? {
            Some(row) => Ok(Some(self.task_row(&row, &self.tz())?)),
            None => Ok(None),
        }
    }

    async fn list(&self, q: &TaskQuery) -> Result<Page<TaskRecord>, Error> {
        let (page, per_page, offset) = paging(q.page, q.per_page);
        let mut filters = Vec::new();
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        let needle =
            q.q.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(lower);
        if let Some(n) = needle {
            params.push(Box::new(n));
            filters.push(format!("strpos(haystack, ${}) > 0", params.len()));
        }
        if let Some(s) = q.state {
            params.push(Box::new(state_ix(s)));
            filters.push(format!("state = ${}", params.len()));
        }
        if let Some(j) = &q.job {
            params.push(Box::new(j.clone()));
            filters.push(format!("job = ${}", params.len()));
        }
        if let Some(k) = q.trigger {
            params.push(Box::new(k.as_str()));
            filters.push(format!("trigger_kind = ${}", params.len()));
        }
        let filter = if filters.is_empty() {
            String::new()
        } else {
            format!("where {}", filters.join(" and "))
        };
        let (asc, desc) = match q.sort {
            TaskSort::NextRun => (
                "next_fire asc nulls last, id asc",
                "next_fire desc nulls first, id desc",
            ),
            TaskSort::Name => ("name_key asc, id asc", "name_key desc, id desc"),
            TaskSort::Id => ("id asc", "id desc"),
            TaskSort::LastRun => (
                "last_at asc nulls last, id asc",
                "last_at desc nulls first, id desc",
            ),
            TaskSort::State => (
                "state asc, next_fire asc nulls last, id asc",
                "state desc, next_fire desc nulls first, id desc",
            ),
        };
        let order = if q.desc { desc } else { asc };
        let c = self.client().await?;
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
        let count_sql = format!("select count(*) from taskdeck_tasks {filter}");
        let rows_sql = format!(
            "select {TASK_COLS} from taskdeck_tasks {filter} order by {order} limit {per_page} offset {offset}"
        );
        let (count, rows) = {
            let count_stmt = c.prepare_cached(&count_sql);
            let rows_stmt = c.prepare_cached(&rows_sql);
            let (count_stmt, rows_stmt) = tokio::try_join!(count_stmt, rows_stmt).map_err(pg)?;
            tokio::try_join!(c.query_one(&count_stmt, &refs), c.query(&rows_stmt, &refs))
                .map_err(pg)?
        };
        let tz = self.tz();
        let items = rows
            .iter()
            .map(|r| self.task_row(r, &tz))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            total: count.get::<_, i64>(0) as usize,
            page,
            per_page,
        })
    }

    fn jobs_filter(&self) -> Vec<String> {
        self.jobs.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn claim_due(&self, now: Timestamp, limit: usize) -> Result<Vec<DueFire>, Error> {
        let jobs = self.jobs_filter();
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.client().await?;
        let tz = self.tz();
        let tx = c.transaction().await.map_err(pg)?;
        let select = tx
            .prepare_cached(&format!(
                "select {TASK_COLS} from taskdeck_tasks \
                 where next_fire <= $1 and next_fire is not null and not paused and job = any($2) \
                 order by next_fire limit $3 for update skip locked"
            ))
            .await
            .map_err(pg)?;
        let rows = tx
            .query(&select, &[&now, &jobs, &(limit as i64)])
            .await
            .map_err(pg)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        let mut nexts: Vec<Option<Timestamp>> = Vec::with_capacity(rows.len());
        for row in &rows {
            let rec = match self.task_row(row, &tz) {
                Ok(r) => r,
                Err(e) => {
                    // An unreadable row must not block the others: take it off the schedule.
                    let id: String = row.get(0);
                    tracing::error!(task = %id, error = %e, "cannot schedule a stored task");
                    ids.push(id);
                    nexts.push(None);
                    continue;
                }
            };
            let Some(first) = rec.next_fire else {
                continue;
            };
            let (due, next) = rec.due_fires(first, now);
            ids.push(rec.task.id.clone());
            nexts.push(next);
            out.push(due);
        }
        let update = tx
            .prepare_cached(
                "update taskdeck_tasks t set next_fire = u.next \
                 from unnest($1::text[], $2::timestamptz[]) as u(id, next) where t.id = u.id",
            )
            .await
            .map_err(pg)?;
        tx.execute(&update, &[&ids, &nexts]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(out)
    }

    async fn next_due(&self) -> Result<Option<Timestamp>, Error> {
        let jobs = self.jobs_filter();
        if jobs.is_empty() {
            return Ok(None);
        }
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "select next_fire from taskdeck_tasks \
                 where next_fire is not null and not paused and job = any($1) \
                 order by next_fire limit 1",
            )
            .await
            .map_err(pg)?;
        Ok(c.query_opt(&stmt, &[&jobs])
            .await
            .map_err(pg)?
            .map(|r| r.get(0)))
    }

    async fn begin_runs(
        &self,
        drafts: Vec<(RunRecord, u32)>,
    ) -> Result<Vec<Option<RunRecord>>, Error> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "with t as (update taskdeck_tasks set running = running + 1 \
                   where id = $1::text and running < $2::int returning id), \
                 i as (insert into taskdeck_runs (task_id, job, cause, scheduled_at, finished_at, \
                   status, error, attempt, instance_id, lease_until) \
                   select $1::text, $3::text, $4::text, $5::timestamptz, \
                     case when exists (select 1 from t) then null else $5::timestamptz end, \
                     case when exists (select 1 from t) then 'running' else 'skipped' end, \
                     case when exists (select 1 from t) then null else $6::text end, \
                     $7::int, $8::text, \
                     case when exists (select 1 from t) \
                       then now() + make_interval(secs => $9::float8) else null end \
                   where exists (select 1 from taskdeck_tasks where id = $1::text) \
                   returning id, status) \
                 select i.id, i.status, pg_notify($10::text, case when i.status = 'running' \
                   then json_build_object('i', $8::text, 'e', json_build_object('type', \
                     'run_started', 'run_id', i.id, 'task_id', $1::text, 'attempt', $7::int))::text \
                   else json_build_object('i', $8::text, 'e', json_build_object('type', \
                     'run_finished', 'run_id', i.id, 'task_id', $1::text, 'status', 'skipped', \
                     'duration_ms', null))::text end) from i",
            )
            .await
            .map_err(pg)?;
        let lease = self.lease.as_secs_f64();
        let calls = drafts.iter().map(|(d, max)| {
            let error = format!("{max} run(s) already going; max_instances is {max}");
            let max = i32_of(*max);
            let attempt = i32_of(d.attempt);
            let stmt = &stmt;
            let c = &c;
            async move {
                c.query_opt(
                    stmt,
                    &[
                        &d.task_id,
                        &max,
                        &d.job,
                        &cause_str(d.cause),
                        &d.scheduled_at,
                        &error,
                        &attempt,
                        &self.instance,
                        &lease,
                        &self.channel,
                    ],
                )
                .await
                .map(|row| row.map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1), error)))
            }
        });
        // Sent together on one connection: one round trip's wait for the whole batch.
        let results = futures_util::future::join_all(calls).await;
        let mut out = Vec::with_capacity(drafts.len());
        for ((mut draft, _), r) in drafts.into_iter().zip(results) {
            match r.map_err(pg)? {
                None => out.push(None),
                Some((id, status, error)) => {
                    draft.id = id as u64;
                    if status == "running" {
                        draft.status = RunStatus::Running;
                    } else {
                        draft.status = RunStatus::Skipped;
                        draft.started_at = None;
                        draft.finished_at = Some(draft.scheduled_at);
                        draft.error = Some(error);
                        self.count(&draft);
                    }
                    out.push(Some(draft));
                }
            }
        }
        Ok(out)
    }

    async fn record_run(&self, mut draft: RunRecord) -> Result<RunRecord, Error> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "with i as (insert into taskdeck_runs (task_id, job, cause, scheduled_at, \
                   started_at, finished_at, status, error, attempt, logs, logs_dropped, instance_id) \
                   values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning id) \
                 select i.id, pg_notify($13, json_build_object('i', $12::text, 'e', \
                   json_build_object('type', 'run_finished', 'run_id', i.id, 'task_id', $1::text, \
                   'status', $7::text, 'duration_ms', null))::text) from i",
            )
            .await
            .map_err(pg)?;
        let logs = serde_json::to_value(&draft.logs).map_err(|e| Error::Store(e.to_string()))?;
        let row = c
            .query_one(
                &stmt,
                &[
                    &draft.task_id,
                    &draft.job,
                    &cause_str(draft.cause),
                    &draft.scheduled_at,
                    &draft.started_at,
                    &draft.finished_at,
                    &draft.status.as_str(),
                    &draft.error,
                    &i32_of(draft.attempt),
                    &logs,
                    &i32_of(draft.logs_dropped),
                    &self.instance,
                    &self.channel,
                ],
            )
            .await
            .map_err(pg)?;
        draft.id = row.get::<_, i64>(0) as u64;
        self.count(&draft);
        Ok(draft)
    }

    async fn finish_run(&self, run: RunRecord) -> Result<(), Error> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "with old as (select id, task_id, status from taskdeck_runs where id = $1 for update), \
                 r as (update taskdeck_runs u set status = $2, started_at = $3, finished_at = $4, \
                   error = $5, logs = $6, logs_dropped = $7, lease_until = null \
                   from old where u.id = old.id returning u.id, u.task_id, old.status as was), \
                 t as (update taskdeck_tasks t set \
                   running = case when r.was = 'running' then greatest(t.running - 1, 0) else t.running end, \
                   last_run_id = case when t.last_run_id is null or t.last_run_id <= r.id then r.id else t.last_run_id end, \
                   last_status = case when t.last_run_id is null or t.last_run_id <= r.id then $2 else t.last_status end, \
                   last_scheduled_at = case when t.last_run_id is null or t.last_run_id <= r.id then $8 else t.last_scheduled_at end, \
                   last_finished_at = case when t.last_run_id is null or t.last_run_id <= r.id then $4 else t.last_finished_at end, \
                   last_error = case when t.last_run_id is null or t.last_run_id <= r.id then $5 else t.last_error end \
                   from r where t.id = r.task_id) \
                 select r.was, pg_notify($9, $10) from r",
            )
            .await
            .map_err(pg)?;
        let logs = serde_json::to_value(&run.logs).map_err(|e| Error::Store(e.to_string()))?;
        let payload = self.notice(&Event::RunFinished {
            run_id: run.id,
            task_id: run.task_id.clone(),
            status: run.status,
            duration_ms: run.duration_ms(),
        });
        let row = c
            .query_opt(
                &stmt,
                &[
                    &i64_of(run.id),
                    &run.status.as_str(),
                    &run.started_at,
                    &run.finished_at,
                    &run.error,
                    &logs,
                    &i32_of(run.logs_dropped),
                    &run.scheduled_at,
                    &self.channel,
                    &payload,
                ],
            )
            .await
            .map_err(pg)?;
        match row.as_ref().map(|r| r.get::<_, String>(0)) {
            Some(was) if was == "running" => self.count(&run),
            Some(was) => tracing::warn!(run = run.id, was = %was,
                "a run ended after another replica had recorded it as {was}; kept its real outcome"),
            None => tracing::warn!(run = run.id, "a run ended that is no longer in the history"),
        }
        Ok(())
    }

    async fn get_run(&self, id: RunId) -> Result<Option<RunRecord>, Error> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "select {RUN_COLS} from taskdeck_runs where id = $1"
            ))
            .await
            .map_err(pg)?;
        match c.query_opt(&stmt, &[&i64_of(id)]).await.map_err(pg)? {
            Some(row) => Ok(Some(Self::run_row(&row)?)),
            None => Ok(None),
        }
    }

    async fn list_runs(&self, q: &RunQuery) -> Result<Page<RunRecord>, Error> {
        let (page, per_page, offset) = paging(q.page, q.per_page);
        let mut filters = Vec::new();
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        if let Some(t) = &q.task_id {
            params.push(Box::new(t.clone()));
            filters.push(format!("task_id = ${}", params.len()));
        }
        if let Some(s) = q.status {
            params.push(Box::new(s.as_str()));
            filters.push(format!("status = ${}", params.len()));
        }
        if q.failures_only {
            let failures: Vec<&str> = RunStatus::ALL
                .iter()
                .filter(|s| s.is_failure())
                .map(|s| s.as_str())
                .collect();
            params.push(Box::new(failures));
            filters.push(format!("status = any(${})", params.len()));
        }
        if let Some(t) = q.since {
            params.push(Box::new(t));
            filters.push(format!("scheduled_at >= ${}", params.len()));
        }
        if let Some(t) = q.until {
            params.push(Box::new(t));
            filters.push(format!("scheduled_at < ${}", params.len()));
        }
        let filter = if filters.is_empty() {
            String::new()
        } else {
            format!("where {}", filters.join(" and "))
        };
        let c = self.client().await?;
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
        let count_sql = format!("select count(*) from taskdeck_runs {filter}");
        let rows_sql = format!(
            "select {RUN_COLS} from taskdeck_runs {filter} order by id desc limit {per_page} offset {offset}"
        );
        let (count_stmt, rows_stmt) =
            tokio::try_join!(c.prepare_cached(&count_sql), c.prepare_cached(&rows_sql))
                .map_err(pg)?;
        let (count, rows) =
            tokio::try_join!(c.query_one(&count_stmt, &refs), c.query(&rows_stmt, &refs))
                .map_err(pg)?;
        let items = rows
            .iter()
            .map(Self::run_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            total: count.get::<_, i64>(0) as usize,
            page,
            per_page,
        })
    }

    async fn stats(&self, now: Timestamp) -> Result<Stats, Error> {
        let c = self.client().await?;
        let now_min = now.as_second().div_euclid(60);
        let states = c.query(
            "select state, count(*) from taskdeck_tasks group by state",
            &[],
        );
        let running = c.query_one(
            "select count(*) from taskdeck_runs where status = 'running'",
            &[],
        );
        let day_ago = now_min - 24 * 60;
        let day_params: [&(dyn ToSql + Sync); 1] = [&day_ago];
        let minutes = c.query(
            "select minute, runs, failures, not_run from taskdeck_minutes where minute > $1",
            &day_params,
        );
        let totals = c.query("select status, count from taskdeck_status_totals", &[]);
        let durations = c.query(
            "select job, buckets, count, sum_seconds from taskdeck_job_durations",
            &[],
        );
        let (states, running, minutes, totals, durations) =
            tokio::try_join!(states, running, minutes, totals, durations).map_err(pg)?;
        let mut stats = Stats {
            running_runs: running.get::<_, i64>(0) as u64,
            ..Stats::default()
        };
        let mut counts = StateCounts::default();
        for r in &states {
            let n = r.get::<_, i64>(1) as usize;
            match r.get::<_, i16>(0) {
                0 => counts.scheduled += n,
                1 => counts.running += n,
                2 => counts.paused += n,
                _ => counts.completed += n,
            }
        }
        stats.tasks = counts;
        let mut pending = Counters::default();
        for r in &minutes {
            pending.minutes.insert(
                r.get(0),
                WindowCounts {
                    runs: r.get::<_, i64>(1) as u64,
                    failures: r.get::<_, i64>(2) as u64,
                    not_run: r.get::<_, i64>(3) as u64,
                },
            );
        }
        for r in &totals {
            if let Ok(st) = status_of(r.get(0)) {
                pending.by_status.insert(st, r.get::<_, i64>(1) as u64);
            }
        }
        for r in &durations {
            let buckets: Vec<i64> = r.get(1);
            pending.durations.insert(
                r.get(0),
                Histogram {
                    buckets: buckets.into_iter().map(|b| b as u64).collect(),
                    count: r.get::<_, i64>(2) as u64,
                    sum_seconds: r.get(3),
                },
            );
        }
        // Include what this replica has not flushed yet, so its own runs count at once.
        {
            let mine = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let copy = Counters {
                by_status: mine.by_status.clone(),
                durations: mine.durations.clone(),
                minutes: mine.minutes.clone(),
            };
            drop(mine);
            pending.merge(copy);
        }
        for (m, w) in &pending.minutes {
            if *m > now_min - 60 && *m <= now_min {
                stats.last_hour.add(*w);
            }
            if *m > now_min - 24 * 60 && *m <= now_min {
                stats.last_day.add(*w);
            }
        }
        stats.runs_by_status = pending.by_status;
        stats.job_durations = pending.durations;
        Ok(stats)
    }

    async fn durations(&self, task_id: &str) -> Result<DurationStats, Error> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "select (extract(epoch from finished_at - started_at) * 1000)::bigint \
                 from taskdeck_runs where task_id = $1 and status <> 'running' \
                 and started_at is not null and finished_at is not null \
                 order by id desc limit $2",
            )
            .await
            .map_err(pg)?;
        let rows = c
            .query(&stmt, &[&task_id, &DURATION_SAMPLE])
            .await
            .map_err(pg)?;
        let mut d: Vec<u64> = rows
            .iter()
            .map(|r| r.get::<_, i64>(0).max(0) as u64)
            .collect();
        Ok(DurationStats::from_durations(&mut d))
    }

    async fn jobs(&self) -> Result<Vec<String>, Error> {
        let c = self.client().await?;
        // A loose index scan over (job, …): one probe per distinct job, not one per task.
        let rows = c
            .query(
                "with recursive j as ( \
                   (select job from taskdeck_tasks order by job limit 1) \
                   union all \
                   select (select t.job from taskdeck_tasks t where t.job > j.job order by t.job limit 1) \
                   from j where j.job is not null) \
                 select job from j where job is not null",
                &[],
            )
            .await
            .map_err(pg)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn heartbeat(&self, beat: Beat) -> Result<Vec<RunRecord>, Error> {
        let result = self.heartbeat_inner(beat).await;
        let mut since = self
            .connected_since
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(_) => {
                since.get_or_insert_with(Instant::now);
            }
            Err(_) => *since = None,
        }
        result
    }

    async fn heartbeat_inner(&self, beat: Beat) -> Result<Vec<RunRecord>, Error> {
        let mut sorted = beat.jobs.clone();
        sorted.sort();
        *self.jobs.write().unwrap_or_else(|p| p.into_inner()) = sorted;
        let c = self.client().await?;
        let lease = self.lease.as_secs_f64();
        c.execute(
            "insert into taskdeck_instances (id, host, pid, started_at, heartbeat_at, running, jobs) \
             values ($1, $2, $3, $4, now(), $5, $6) \
             on conflict (id) do update set heartbeat_at = now(), running = excluded.running, \
             jobs = excluded.jobs",
            &[
                &self.instance,
                &self.host,
                &(self.pid as i32),
                &self.started_at,
                &i64_of(beat.running),
                &beat.jobs,
            ],
        )
        .await
        .map_err(pg)?;
        c.execute(
            "update taskdeck_runs set lease_until = now() + make_interval(secs => $2) \
             where instance_id = $1 and status = 'running'",
            &[&self.instance, &lease],
        )
        .await
        .map_err(pg)?;
        self.flush(&c).await?;
        let settled = self
            .connected_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() >= self.lease);
        let reaped = if settled {
            self.reap(&c).await?
        } else {
            Vec::new()
        };
        let prune = {
            let mut last = self.last_prune.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= self.prune_every);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if prune {
            drop(c);
            self.prune().await?;
        }
        Ok(reaped)
    }

    /// Adds this replica's counter deltas to the database. Rows are written in key order so
    /// replicas flushing at once cannot deadlock.
    async fn flush(&self, c: &deadpool_postgres::Object) -> Result<(), Error> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if pending.is_empty() {
            return Ok(());
        }
        let r = self.flush_counters(c, &pending).await;
        if r.is_err() {
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .merge(pending);
        }
        r
    }

    async fn flush_counters(
        &self,
        c: &deadpool_postgres::Object,
        p: &Counters,
    ) -> Result<(), Error> {
        let statuses: Vec<&str> = p.by_status.keys().map(|s| s.as_str()).collect();
        let counts: Vec<i64> = p.by_status.values().map(|n| i64_of(*n)).collect();
        let minutes: Vec<i64> = p.minutes.keys().copied().collect();
        let runs: Vec<i64> = p.minutes.values().map(|w| i64_of(w.runs)).collect();
        let failures: Vec<i64> = p.minutes.values().map(|w| i64_of(w.failures)).collect();
        let not_run: Vec<i64> = p.minutes.values().map(|w| i64_of(w.not_run)).collect();
        let totals_params: [&(dyn ToSql + Sync); 2] = [&statuses, &counts];
        let minutes_params: [&(dyn ToSql + Sync); 4] = [&minutes, &runs, &failures, &not_run];
        let totals = c.execute(
            "insert into taskdeck_status_totals (status, count) \
             select * from unnest($1::text[], $2::bigint[]) \
             on conflict (status) do update set count = taskdeck_status_totals.count + excluded.count",
            &totals_params,
        );
        let mins = c.execute(
            "insert into taskdeck_minutes (minute, runs, failures, not_run) \
             select * from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) \
             on conflict (minute) do update set runs = taskdeck_minutes.runs + excluded.runs, \
             failures = taskdeck_minutes.failures + excluded.failures, \
             not_run = taskdeck_minutes.not_run + excluded.not_run",
            &minutes_params,
        );
        tokio::try_join!(totals, mins).map_err(pg)?;
        for (job, h) in &p.durations {
            let buckets: Vec<i64> = h.buckets.iter().map(|b| i64_of(*b)).collect();
            c.execute(
                "insert into taskdeck_job_durations (job, buckets, count, sum_seconds) \
                 values ($1, $2, $3, $4) on conflict (job) do update set \
                 buckets = (select array_agg(coalesce(a, 0) + coalesce(b, 0) order by n) \
                   from unnest(taskdeck_job_durations.buckets, excluded.buckets) \
                   with ordinality as u(a, b, n)), \
                 count = taskdeck_job_durations.count + excluded.count, \
                 sum_seconds = taskdeck_job_durations.sum_seconds + excluded.sum_seconds",
                &[job, &buckets, &i64_of(h.count), &h.sum_seconds],
            )
            .await
            .map_err(pg)?;
        }
        Ok(())
    }

    /// Records runs whose lease lapsed and whose instance stopped heartbeating as interrupted,
    /// freeing their `max_instances` slots.
    async fn reap(&self, c: &deadpool_postgres::Object) -> Result<Vec<RunRecord>, Error> {
        let stale = self.lease.as_secs_f64();
        let rows = c
            .query(
                &format!(
                    "with x as (update taskdeck_runs r set status = 'interrupted', \
                       finished_at = now(), lease_until = null, \
                       error = 'instance ' || coalesce(r.instance_id, '?') || \
                         ' stopped renewing its lease (it died or lost the database)' \
                     where r.status = 'running' and r.lease_until < now() \
                       and not exists (select 1 from taskdeck_instances i \
                         where i.id = r.instance_id and i.heartbeat_at > now() - make_interval(secs => $1)) \
                     returning r.*), \
                   t as (update taskdeck_tasks set running = greatest(running - c.n, 0) \
                     from (select task_id, count(*)::int as n from x group by task_id) c \
                     where taskdeck_tasks.id = c.task_id) \
                   select {RUN_COLS} from x"
                ),
                &[&stale],
            )
            .await
            .map_err(pg)?;
        let reaped = rows
            .iter()
            .map(Self::run_row)
            .collect::<Result<Vec<_>, _>>()?;
        for run in &reaped {
            self.count(run);
            let payload = self.notice(&Event::RunFinished {
                run_id: run.id,
                task_id: run.task_id.clone(),
                status: run.status,
                duration_ms: run.duration_ms(),
            });
            c.execute("select pg_notify($1, $2)", &[&self.channel, &payload])
                .await
                .map_err(pg)?;
        }
        Ok(reaped)
    }

    /// Prunes history, old counters, the audit log and long-gone instances; one replica at a
    /// time.
    async fn prune(&self) -> Result<(), Error> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let locked: bool = tx
            .query_one(
                "select pg_try_advisory_xact_lock(hashtext('taskdeck.prune.' || $1::text))",
                &[&self.schema],
            )
            .await
            .map_err(pg)?
            .get(0);
        if !locked {
            return Ok(());
        }
        let per_task = self.history.per_task as i64;
        let total = self.history.total as i64;
        let now_min = Timestamp::now().as_second().div_euclid(60);
        tx.execute(
            "delete from taskdeck_runs where id in (select id from ( \
               select id, row_number() over (partition by task_id order by id desc) as n \
               from taskdeck_runs where status <> 'running') x where x.n > $1)",
            &[&per_task],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "delete from taskdeck_runs where status <> 'running' and id <= \
             (select id from taskdeck_runs order by id desc offset $1 limit 1)",
            &[&total],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "delete from taskdeck_minutes where minute <= $1",
            &[&(now_min - 24 * 60)],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "delete from taskdeck_audit where id <= \
             (select id from taskdeck_audit order by id desc offset $1 limit 1)",
            &[&(self.audit_capacity as i64)],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "delete from taskdeck_instances where heartbeat_at < now() - interval '1 day'",
            &[],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)
    }

    async fn leave(&self) -> Result<(), Error> {
        let c = self.client().await?;
        self.flush(&c).await?;
        c.execute(
            "delete from taskdeck_instances where id = $1",
            &[&self.instance],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    async fn instances(&self) -> Result<Vec<InstanceInfo>, Error> {
        let c = self.client().await?;
        let rows = c
            .query(
                "select i.id, i.host, i.pid, i.started_at, i.heartbeat_at, \
                   (select count(*) from taskdeck_runs r where r.status = 'running' and r.instance_id = i.id), \
                   i.jobs, i.heartbeat_at < now() - make_interval(secs => $1) \
                 from taskdeck_instances i order by i.started_at, i.id",
                &[&self.lease.as_secs_f64()],
            )
            .await
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| {
                let id: String = r.get(0);
                InstanceInfo {
                    this: id == self.instance,
                    id,
                    host: r.get(1),
                    pid: r.get::<_, i32>(2) as u32,
                    started_at: r.get(3),
                    heartbeat_at: r.get(4),
                    running: r.get::<_, i64>(5) as u64,
                    jobs: r.get(6),
                    stale: r.get(7),
                }
            })
            .collect())
    }

    async fn audit_insert(&self, e: AuditEntry) -> Result<(), Error> {
        let c = self.client().await?;
        c.execute(
            "insert into taskdeck_audit (at, actor, address, action, target, outcome) \
             values ($1, $2, $3, $4, $5, $6)",
            &[
                &e.at, &e.actor, &e.address, &e.action, &e.target, &e.outcome,
            ],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    async fn audit_page(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, usize), Error> {
        let c = self.client().await?;
        let (offset, limit) = (offset as i64, limit as i64);
        let params: [&(dyn ToSql + Sync); 2] = [&offset, &limit];
        let rows = c.query(
            "select at, actor, address, action, target, outcome from taskdeck_audit \
             order by id desc offset $1 limit $2",
            &params,
        );
        let count = c.query_one("select count(*) from taskdeck_audit", &[]);
        let (rows, count) = tokio::try_join!(rows, count).map_err(pg)?;
        let entries = rows
            .iter()
            .map(|r| AuditEntry {
                at: r.get(0),
                actor: r.get(1),
                address: r.get(2),
                action: r.get(3),
                target: r.get(4),
                outcome: r.get(5),
            })
            .collect();
        Ok((entries, count.get::<_, i64>(0) as usize))
    }
}

impl PostgresStore {
    /// Settings for a store at `url`: a `postgres://user:password@host:port/db` URL or a
    /// `host=… user=…` string (see `tokio_postgres::Config`). TLS is not built in: reach the
    /// database over a trusted network or a local socket proxy.
    pub fn builder(url: &str) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            url: url.to_string(),
            schema: "public".into(),
            pool_size: 16,
            heartbeat: Duration::from_secs(2),
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(10),
            history: HistoryLimits::default(),
            audit_capacity: 10_000,
            prune_every: PRUNE_EVERY,
        }
    }

    /// Connects with the default settings.
    pub async fn connect(url: &str) -> Result<PostgresStore, Error> {
        Self::builder(url).connect().await
    }

    /// This process's instance id, as on the Instances page.
    pub fn instance_id(&self) -> &str {
        &self.shared.instance
    }

    /// The schema version this build creates.
    pub const SCHEMA_VERSION: i32 = schema::VERSION;
}

fn boxed<'a, T: Send + 'a>(
    f: impl std::future::Future<Output = Result<T, Error>> + Send + 'a,
) -> StoreFuture<'a, T> {
    Box::pin(f)
}

impl Store for PostgresStore {
    fn insert(&self, rec: TaskRecord) -> StoreFuture<'_, ()> {
        boxed(self.shared.insert(rec))
    }

    fn update(&self, task: Task, trigger: Trigger, now: Timestamp) -> StoreFuture<'_, TaskRecord> {
        let id = task.id.clone();
        let event = Event::TaskUpdated {
            task_id: id.clone(),
        };
        boxed(async move {
            self.shared
                .modify(&id, event, move |r| r.apply_update(task, trigger, now))
                .await
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, TaskRecord> {
        boxed(self.shared.remove(id))
    }

    fn set_paused<'a>(
        &'a self,
        id: &'a str,
        paused: bool,
        now: Timestamp,
    ) -> StoreFuture<'a, TaskRecord> {
        let task_id = id.to_string();
        let event = if paused {
            Event::TaskPaused { task_id }
        } else {
            Event::TaskResumed { task_id }
        };
        boxed(
            self.shared
                .modify(id, event, move |r| r.apply_paused(paused, now)),
        )
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<TaskRecord>> {
        boxed(self.shared.get(id))
    }

    fn list<'a>(&'a self, query: &'a TaskQuery) -> StoreFuture<'a, Page<TaskRecord>> {
        boxed(self.shared.list(query))
    }

    fn claim_due(&self, now: Timestamp, limit: usize) -> StoreFuture<'_, Vec<DueFire>> {
        boxed(self.shared.claim_due(now, limit))
    }

    fn next_due(&self) -> StoreFuture<'_, Option<Timestamp>> {
        boxed(self.shared.next_due())
    }

    fn begin_runs(&self, drafts: Vec<(RunRecord, u32)>) -> StoreFuture<'_, Vec<Option<RunRecord>>> {
        boxed(self.shared.begin_runs(drafts))
    }

    fn record_run(&self, draft: RunRecord) -> StoreFuture<'_, RunRecord> {
        boxed(self.shared.record_run(draft))
    }

    fn finish_run(&self, run: RunRecord) -> StoreFuture<'_, ()> {
        boxed(self.shared.finish_run(run))
    }

    fn get_run(&self, id: RunId) -> StoreFuture<'_, Option<RunRecord>> {
        boxed(self.shared.get_run(id))
    }

    fn list_runs<'a>(&'a self, query: &'a RunQuery) -> StoreFuture<'a, Page<RunRecord>> {
        boxed(self.shared.list_runs(query))
    }

    fn stats(&self, now: Timestamp) -> StoreFuture<'_, Stats> {
        boxed(self.shared.stats(now))
    }

    fn durations<'a>(&'a self, task_id: &'a str) -> StoreFuture<'a, DurationStats> {
        boxed(self.shared.durations(task_id))
    }

    fn jobs(&self) -> StoreFuture<'_, Vec<String>> {
        boxed(self.shared.jobs())
    }

    fn bind(&self, timezone: &TimeZone) {
        *self.shared.tz.write().unwrap_or_else(|p| p.into_inner()) = timezone.clone();
    }

    fn sharing(&self) -> Option<Sharing> {
        Some(Sharing {
            heartbeat: self.shared.heartbeat,
            poll: self.shared.poll,
        })
    }

    fn heartbeat(&self, beat: Beat) -> StoreFuture<'_, Vec<RunRecord>> {
        boxed(self.shared.heartbeat(beat))
    }

    fn leave(&self) -> StoreFuture<'_, ()> {
        boxed(self.shared.leave())
    }

    fn instances(&self) -> StoreFuture<'_, Vec<InstanceInfo>> {
        boxed(self.shared.instances())
    }

    fn notices(&self) -> Option<broadcast::Receiver<Notice>> {
        Some(self.shared.notices.subscribe())
    }

    fn audit_sink(&self) -> Option<Arc<dyn AuditSink>> {
        Some(Arc::new(PgAudit(self.shared.clone())))
    }
}

/// The audit log in PostgreSQL.
struct PgAudit(Arc<Shared>);

impl AuditSink for PgAudit {
    fn record(&self, entry: AuditEntry) {
        crate::auth::trace_audit(&entry);
        let shared = self.0.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(async move {
                    if let Err(e) = shared.audit_insert(entry).await {
                        tracing::error!(error = %e, "could not store an audit entry");
                    }
                });
            }
            Err(_) => tracing::error!("could not store an audit entry: no tokio runtime"),
        }
    }

    fn page(&self, offset: usize, limit: usize) -> AuditPage<'_> {
        Box::pin(async move {
            self.0
                .audit_page(offset, limit)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
