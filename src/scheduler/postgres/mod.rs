//! [`PostgresStore`]: one schedule shared by every replica of a service (feature `postgres`).

mod alerts;
mod builder;
mod instances;
mod listen;
mod runs;
mod schema;
mod tasks;
mod tls;

pub use builder::PostgresStoreBuilder;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;

use super::error::Error;
use super::events::Event;
use super::history::{LogLine, RunCause, RunId, RunQuery, RunRecord, RunStatus};
use super::index::lower;
use super::memory::HistoryLimits;
use super::model::{
    paging, DurationStats, Histogram, InstanceInfo, LastRun, Page, SeriesWindow, StateCounts,
    Stats, TaskQuery, TaskSort, TaskState, WindowCounts,
};
use super::store::{window_delta, Beat, DueFire, Notice, Sharing, Store, StoreFuture, TaskRecord};
use super::task::Task;
use super::trigger::Trigger;
use crate::audit::{AuditEntry, AuditPage, AuditSink};
use crate::revocations::{Revocation, RevocationFuture, RevocationStore};

/// Most recent runs the duration percentiles are taken over.
const DURATION_SAMPLE: i64 = 200;
/// How often history is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(30);

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A store in PostgreSQL shared by any number of scheduler processes.
///
/// # How replicas share the work
/// - **Claims.** The timer loop of each replica claims due fires with
///   `SELECT … FOR UPDATE SKIP LOCKED` and advances each task's next fire in the same
///   transaction, so a fire is handed to exactly one replica; replicas skip rows another is
///   claiming instead of waiting for them. A replica only claims tasks whose job it has
///   registered; a task no live replica can run stays due and shows as such.
/// - **Leases.** A run is stored as `running` with the replica's id and a lease (default 30 s)
///   that the replica renews on every heartbeat (default every 2 s). When a replica dies its
///   leases lapse; any other replica then records those runs as
///   [`RunStatus::Interrupted`](crate::RunStatus::Interrupted), frees their `max_instances` slot
///   and retries them when the task has retries left. A replica that has just (re)connected
///   waits one lease before reaping, so after a database outage live replicas renew first.
/// - **`max_instances`** is a counter on the task row, raised with
///   `UPDATE … WHERE running < max_instances`: it holds across replicas.
/// - **Changes.** Every change (add, edit, pause, resume, remove, run started, run finished)
///   sends a `NOTIFY` on a channel named after the schema. Each replica `LISTEN`s on its own
///   connection: a change wakes its timer loop at once and reaches its dashboard's live
///   stream. LISTEN/NOTIFY costs nothing while nothing changes and delivers in about a
///   millisecond; as a backstop (a notice lost while reconnecting) timer loops also look at
///   the schedule every 10 s.
/// - **Counters** (runs by outcome, duration histograms, per-minute windows) are summed in
///   memory and added to the database on each heartbeat, so finishing a run never contends
///   on a shared counter row.
/// - **History** is pruned in the database every 30 s by one replica at a time (an advisory
///   lock): at most [`HistoryLimits::per_task`] runs per task and [`HistoryLimits::total`] in
///   all, like the memory store.
///
/// # Connection loss
/// Calls fail with [`Error::Store`]; the timer loop and heartbeats retry with backoff (up to
/// 30 s) and log each failure; ends of runs are retried for about a minute. Nothing panics, and
/// since a claim commits before the fire runs, a fire claimed before the outage is not claimed
/// again after it.
///
/// The one window where a fire can be lost: a replica that dies after committing a claim and
/// before storing the run (two consecutive statements, well under a millisecond apart).
///
/// ```no_run
/// use taskdeck::store::PostgresStore;
/// use taskdeck::Scheduler;
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
    /// Run ends for the finisher (`runs::finisher`) to write in batches.
    finishes: tokio::sync::mpsc::Sender<runs::Finish>,
}

/// Counter deltas summed in memory between heartbeats.
#[derive(Debug, Default)]
struct Counters {
    by_status: BTreeMap<RunStatus, u64>,
    durations: BTreeMap<String, Histogram>,
    minutes: BTreeMap<i64, WindowCounts>,
    /// Per job and hour (the hour's first minute).
    job_hours: BTreeMap<(String, i64), WindowCounts>,
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
        let hour = minute.div_euclid(60) * 60;
        self.job_hours
            .entry((run.job.clone(), hour))
            .or_default()
            .add(delta);
    }

    fn is_empty(&self) -> bool {
        self.by_status.is_empty()
            && self.durations.is_empty()
            && self.minutes.is_empty()
            && self.job_hours.is_empty()
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
        for (k, c) in other.job_hours {
            self.job_hours.entry(k).or_default().add(c);
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
        None => {
            // tokio-postgres keeps the cause (a TLS or I/O failure) out of its own message.
            let mut message = format!("PostgreSQL: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                let text = cause.to_string();
                if !message.ends_with(&text) {
                    message.push_str(": ");
                    message.push_str(&text);
                }
                source = cause.source();
            }
            Error::Store(message)
        }
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

/// A state's code in the `state` column: its display-order position, as the memory index
/// orders states.
fn state_ix(s: TaskState) -> i16 {
    super::index::state_ix(s) as i16
}

/// The stored definition and search text of a task.
fn task_columns(t: &Task) -> Result<(Value, String), Error> {
    let spec = serde_json::to_value(t).map_err(|e| Error::Store(e.to_string()))?;
    Ok((spec, super::index::haystack(t).into()))
}

/// A `where` clause built from the conditions a list query sets, with their parameters and
/// each one's type: list statements are sent with their types and planned for the values
/// given (`query_typed`, the unnamed statement), never with a generic plan. A prepared
/// statement's generic plan counted a rare job's runs by reading the whole table, its
/// estimate being the average job's (100 ms over 1,000,000 runs).
#[derive(Default)]
struct Filters {
    conds: Vec<String>,
    params: Vec<(Box<dyn ToSql + Sync + Send>, Type)>,
}

/// A value a list query filters on, and its PostgreSQL type.
trait Param: ToSql + Sync + Send + 'static {
    const TYPE: Type;
}

impl Param for String {
    const TYPE: Type = Type::TEXT;
}
impl Param for &'static str {
    const TYPE: Type = Type::TEXT;
}
impl Param for Vec<&'static str> {
    const TYPE: Type = Type::TEXT_ARRAY;
}
impl Param for i16 {
    const TYPE: Type = Type::INT2;
}
impl Param for i64 {
    const TYPE: Type = Type::INT8;
}
impl Param for Timestamp {
    const TYPE: Type = Type::TIMESTAMPTZ;
}
impl Param for Option<Timestamp> {
    const TYPE: Type = Type::TIMESTAMPTZ;
}

/// A `like` pattern matching `needle` anywhere, its `%`, `_` and `\` taken literally.
fn like_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Filters {
    /// Adds `cond`, whose `$` stands for `value`'s parameter.
    fn add<V: Param>(&mut self, cond: &str, value: V) {
        let n = self.push(value);
        self.conds.push(cond.replace('$', &format!("${n}")));
    }

    /// Adds a parameter for a condition yet to come; its number.
    fn push<V: Param>(&mut self, value: V) -> usize {
        self.params.push((Box::new(value), V::TYPE));
        self.params.len()
    }

    /// Adds `cond`, which takes no parameter.
    fn add_bare(&mut self, cond: &str) {
        self.conds.push(cond.to_string());
    }

    fn clause(&self) -> String {
        self.clause_upto(self.len())
    }

    /// The parameters with their types, as `query_typed` takes them.
    fn values(&self) -> Vec<(&(dyn ToSql + Sync), Type)> {
        self.params
            .iter()
            .map(|(p, t)| (&**p as &(dyn ToSql + Sync), t.clone()))
            .collect()
    }

    /// The conditions and parameters so far, to tell them from those added later.
    fn len(&self) -> (usize, usize) {
        (self.conds.len(), self.params.len())
    }

    /// The `where` clause of the first `n` conditions.
    fn clause_upto(&self, (n, _): (usize, usize)) -> String {
        if n == 0 {
            String::new()
        } else {
            format!("where {}", self.conds[..n].join(" and "))
        }
    }
}

/// Matches a list counts one by one, up to this many; beyond it the page total is the
/// planner's estimate, flagged [`Page::estimated`] and shown as "about N". Counting 100,000
/// matching rows took 7 to 30 ms; this many costs well under a millisecond.
pub(crate) const EXACT_COUNT_UPTO: i64 = 1_000;

impl Shared {
    /// One page of `table`'s `cols` in `order`, and how many rows match in all (exact up to
    /// [`EXACT_COUNT_UPTO`], else estimated, and then `true`): the queries sent together on
    /// one connection, or one query for both (`one_pass`, for searches) on shallow pages.
    #[allow(clippy::too_many_arguments)]
    async fn fetch_page(
        &self,
        table: &str,
        cols: &str,
        filters: &Filters,
        order: &str,
        per_page: u32,
        offset: usize,
        one_pass: bool,
    ) -> Result<(Vec<Row>, usize, bool), Error> {
        let c = self.client().await?;
        let params = filters.values();
        let filter = filters.clause();
        let cap = EXACT_COUNT_UPTO as usize + 1;
        // A search's matches cost the most to find (a bitmap over the trigram index and a
        // recheck of each): there the page and the count come from one pass over them. Other
        // filters walk an index in the page's order and stop early, which is cheaper as two.
        if one_pass && offset + per_page as usize <= cap {
            return self
                .fetch_shallow_page(&c, table, cols, &filter, &params, order, per_page, offset)
                .await;
        }
        let count_sql = format!(
            "select count(*) from (select 1 from {table} {filter} limit {}) s",
            EXACT_COUNT_UPTO + 1
        );
        // A page past the first thousand matches: count first. When the matches are fewer
        // than the offset (a rare filter's page 1000), the page is empty, and walking the
        // whole sort order to find that out (every row, tens of milliseconds) is skipped.
        let mut counted_first = None;
        if offset >= cap {
            let counted = c
                .query_typed_one(&count_sql, &params)
                .await
                .map_err(pg)?
                .get::<_, i64>(0);
            if counted <= EXACT_COUNT_UPTO {
                return Ok((Vec::new(), counted.max(0) as usize, false));
            }
            counted_first = Some(counted);
        }
        let rows_sql = page_sql(
            table,
            cols,
            &filter,
            order,
            params.len(),
            offset >= DEFERRED_FROM,
        );
        let limit = i64::from(per_page);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let mut row_params = params.clone();
        row_params.push((&limit, Type::INT8));
        row_params.push((&offset, Type::INT8));
        let (counted, rows) = match counted_first {
            Some(counted) => (
                counted,
                c.query_typed(&rows_sql, &row_params).await.map_err(pg)?,
            ),
            None => {
                let (count, rows) = tokio::try_join!(
                    c.query_typed_one(&count_sql, &params),
                    c.query_typed(&rows_sql, &row_params)
                )
                .map_err(pg)?;
                (count.get::<_, i64>(0), rows)
            }
        };
        let (total, estimated) = self
            .total(&c, table, &filter, &params, counted, offset, rows.len())
            .await?;
        Ok((rows, total, estimated))
    }

    /// The page of `filters` (the first `base` of them the list's filter, the rest the
    /// cursor's place), its rows in `order`, and the list's total: the page is read from
    /// the index at the cursor, whatever its depth, and whether rows lie beyond it. `offset`
    /// is where the page number puts the page, for the total's estimate only. `rows_where`, when given, is the rows'
    /// clause instead of every filter's (the same rows, said so that the plan can use it).
    #[allow(clippy::too_many_arguments)]
    async fn fetch_keyset(
        &self,
        table: &str,
        cols: &str,
        filters: &Filters,
        base: (usize, usize),
        rows_where: Option<String>,
        order: &str,
        per_page: u32,
        offset: usize,
    ) -> Result<(Vec<Row>, usize, bool, bool), Error> {
        let c = self.client().await?;
        let params = filters.values();
        let listed = filters.clause_upto(base);
        // Counted in the page's order, so that the plan may stop at the cap walking the sort's
        // index, as the page's own does: a broad search counted its 100,000 matches through
        // the trigram index first (34 ms p99 for a page 1,000 deep; 1 ms for its rows).
        let count_sql = format!(
            "select count(*) from (select 1 from {table} {listed} order by {order} limit {}) s",
            EXACT_COUNT_UPTO + 1
        );
        let rows_sql = format!(
            "select {cols} from {table} {} order by {order} limit ${}",
            rows_where.unwrap_or_else(|| filters.clause()),
            params.len() + 1
        );
        // One row more than the page: whether any lies beyond it.
        let limit = i64::from(per_page) + 1;
        let mut row_params = params.clone();
        row_params.push((&limit, Type::INT8));
        let (count, mut rows) = tokio::try_join!(
            c.query_typed_one(&count_sql, &params[..base.1]),
            c.query_typed(&rows_sql, &row_params)
        )
        .map_err(pg)?;
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let (total, estimated) = self
            .total(
                &c,
                table,
                &listed,
                &params[..base.1],
                count.get(0),
                offset,
                rows.len(),
            )
            .await?;
        let more = rows.len() > per_page as usize;
        rows.truncate(per_page as usize);
        Ok((rows, total, estimated, more))
    }

    /// A page within the first 1,001 matches, and their count, from one pass over the matches:
    /// the first 1,001 are numbered in order, counted, and the page's rows read by id.
    #[allow(clippy::too_many_arguments)]
    async fn fetch_shallow_page(
        &self,
        c: &deadpool_postgres::Object,
        table: &str,
        cols: &str,
        filter: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
        order: &str,
        per_page: u32,
        offset: usize,
    ) -> Result<(Vec<Row>, usize, bool), Error> {
        let ncols = cols.split(',').count();
        let sql = shallow_page_sql(table, cols, filter, order, params.len());
        let (limit, offset) = (i64::from(per_page), offset as i64);
        let mut all = params.to_vec();
        all.push((&limit, Type::INT8));
        all.push((&offset, Type::INT8));
        let mut rows = c.query_typed(&sql, &all).await.map_err(pg)?;
        let counted = rows.first().map_or(0, |r| r.get::<_, i64>(ncols + 1));
        // With no row on this page the one row left holds the count alone.
        rows.retain(|r| r.get::<_, Option<i64>>(ncols).is_some());
        let (total, estimated) = self
            .total(c, table, filter, params, counted, offset, rows.len())
            .await?;
        Ok((rows, total, estimated))
    }

    /// A list's total from the matches `counted` (up to the cap): exact within
    /// [`EXACT_COUNT_UPTO`]; beyond, the planner's estimate, never below what was counted nor
    /// below what a page of `shown` rows at `offset` proves (an empty page, a page number past
    /// the end, proves nothing), and `true`.
    #[allow(clippy::too_many_arguments)]
    async fn total(
        &self,
        c: &deadpool_postgres::Object,
        table: &str,
        filter: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
        counted: i64,
        offset: i64,
        shown: usize,
    ) -> Result<(usize, bool), Error> {
        if counted <= EXACT_COUNT_UPTO {
            return Ok((counted as usize, false));
        }
        let explain = format!("explain (format json) select 1 from {table} {filter}");
        let plan: Value = c
            .query_typed_one(&explain, params)
            .await
            .map_err(pg)?
            .get(0);
        let estimate = plan
            .pointer("/0/Plan/Plan Rows")
            .and_then(Value::as_f64)
            .unwrap_or(0.0) as i64;
        let seen = if shown == 0 {
            0
        } else {
            offset.saturating_add(shown as i64)
        };
        Ok((estimate.max(counted).max(seen) as usize, true))
    }
}

/// The statement for a page within the first `EXACT_COUNT_UPTO + 1` matches after `n` filter
/// parameters (then the page's limit and offset): the page's rows, each with its position
/// and the count of matches up to the cap; a single row of nulls and the count when the page
/// is empty.
fn shallow_page_sql(table: &str, cols: &str, filter: &str, order: &str, n: usize) -> String {
    let (limit, offset) = (n + 1, n + 2);
    let cols: Vec<String> = cols.split(',').map(|c| format!("t.{}", c.trim())).collect();
    format!(
        "with m as (select id, row_number() over (order by {order}) as n from {table} {filter} \
           order by {order} limit {cap}) \
         select {cols}, m.n, c.total from (select count(*) as total from m) c \
         left join m on m.n > ${offset} and m.n <= ${offset} + ${limit} \
         left join {table} t on t.id = m.id order by m.n",
        cap = EXACT_COUNT_UPTO + 1,
        cols = cols.join(", ")
    )
}

/// From this offset on, a page finds its rows' ids first and reads the rows after.
const DEFERRED_FROM: usize = 500;

/// The statement for one page of rows after `n` filter parameters. The page's limit and
/// offset are parameters too, not text: the statement is the key of the prepared-statement
/// cache of each pooled connection, so there is one per filter shape and order, whatever
/// page is asked for (a page number pasted in made one more per page and connection).
///
/// Deep pages (`deferred`) skip their offset over ids alone, which an index on the order's
/// columns serves without reading the rows skipped, then read the page's rows by id: at offset
/// 50,000 of 100,000 tasks, 31 ms became 4.5 ms.
fn page_sql(
    table: &str,
    cols: &str,
    filter: &str,
    order: &str,
    n: usize,
    deferred: bool,
) -> String {
    let (limit, offset) = (n + 1, n + 2);
    if deferred {
        format!(
            "select {cols} from {table} where id = any(array(select id from {table} {filter} \
             order by {order} limit ${limit} offset ${offset})) order by {order}"
        )
    } else {
        format!(
            "select {cols} from {table} {filter} order by {order} limit ${limit} offset ${offset}"
        )
    }
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
     error, attempt, logs, logs_dropped, args, result, retry_of, progress";

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
            args: row.get::<_, Option<Value>>(12).unwrap_or(Value::Null),
            result: row.get(13),
            retry_of: row.get::<_, Option<i64>>(14).map(|r| r as u64),
            progress: row
                .get::<_, Option<Value>>(15)
                .and_then(|p| serde_json::from_value(p).ok()),
            logs_seq: 0,
        })
    }

    fn count(&self, run: &RunRecord) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .count(run);
    }
}

impl PostgresStore {
    /// Settings for a store at `url`: a `postgres://user:password@host:port/db` URL or a
    /// `host=… user=…` string (see `tokio_postgres::Config`).
    ///
    /// TLS follows libpq's settings in the URL: `sslmode` (`disable`, `prefer` — the default —,
    /// `require`, `verify-ca`, `verify-full`), `sslrootcert` (a PEM file of the certificate
    /// authorities, or `system` for the public roots bundled with webpki-roots; default
    /// `~/.postgresql/root.crt` when it exists), and `sslcert` / `sslkey` for a client
    /// certificate (default `~/.postgresql/postgresql.crt` / `.key` when they exist). A managed
    /// database: `postgres://app:…@db.example.com/app?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem`.
    /// Every connection of the store (the pool's and the listener's) uses them.
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

    /// The dashboard's audit log in this database, shared by every replica (bounded by the
    /// builder's `audit_capacity`). Give it to the dashboard:
    ///
    /// ```no_run
    /// # async fn f(scheduler: taskdeck::Scheduler, store: taskdeck::store::PostgresStore)
    /// # -> Result<(), Box<dyn std::error::Error>> {
    /// let dashboard = taskdeck::Dashboard::builder(scheduler)
    ///     .audit_sink(store.audit_log())
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn audit_log(&self) -> Arc<dyn AuditSink> {
        Arc::new(PgAudit(self.shared.clone()))
    }

    /// Sessions ended on any replica's dashboard, kept in this database until they would
    /// have expired. Give it to every replica's dashboard so that a sign-out on one holds on
    /// all within a second:
    ///
    /// ```no_run
    /// # async fn f(scheduler: taskdeck::Scheduler, store: taskdeck::store::PostgresStore)
    /// # -> Result<(), Box<dyn std::error::Error>> {
    /// let dashboard = taskdeck::Dashboard::builder(scheduler)
    ///     .audit_sink(store.audit_log())
    ///     .revocations(store.revocations())
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn revocations(&self) -> Arc<dyn RevocationStore> {
        Arc::new(PgRevocations(self.shared.clone()))
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

    fn scheduled(&self) -> StoreFuture<'_, Vec<TaskRecord>> {
        boxed(self.shared.scheduled())
    }

    fn live_runs(&self, runs: Vec<crate::scheduler::store::LiveRunState>) -> StoreFuture<'_, ()> {
        boxed(self.shared.live(runs))
    }

    fn live_progress(&self, most: usize) -> StoreFuture<'_, Vec<crate::scheduler::LiveProgress>> {
        boxed(
            self.shared
                .live_progress(i64::try_from(most).unwrap_or(i64::MAX)),
        )
    }

    fn raise_alerts(
        &self,
        alerts: Vec<crate::scheduler::Alert>,
    ) -> StoreFuture<'_, Vec<crate::scheduler::Alert>> {
        boxed(self.shared.raise_alerts(alerts))
    }

    fn sweep_alerts(
        &self,
        scan: crate::scheduler::AlertScan,
    ) -> StoreFuture<'_, crate::scheduler::AlertSweep> {
        boxed(self.shared.sweep_alerts(scan))
    }

    fn alerts<'a>(
        &'a self,
        task_id: Option<&'a str>,
    ) -> StoreFuture<'a, Vec<crate::scheduler::Alert>> {
        boxed(self.shared.alerts(task_id))
    }

    fn alert_counts(&self) -> StoreFuture<'_, Vec<(crate::scheduler::AlertKind, u64)>> {
        boxed(self.shared.alert_counts())
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

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let c = self.shared.client().await?;
            c.simple_query("select 1").await.map_err(pg)?;
            Ok(())
        })
    }

    fn series_of<'a>(
        &'a self,
        now: Timestamp,
        window: SeriesWindow,
        task: Option<&'a str>,
        job: Option<&'a str>,
    ) -> StoreFuture<'a, Vec<(i64, WindowCounts)>> {
        Box::pin(async move {
            let c = self.shared.client().await?;
            let since = now - jiff::SignedDuration::from_mins(window.minutes());
            // Summed per minute and outcome in the database.
            let rows = c
                .query(
                    "select (extract(epoch from coalesce(finished_at, scheduled_at))::bigint / 60), \
                       status, count(*) from taskdeck_runs \
                     where ($1::text is null or task_id = $1) and ($2::text is null or job = $2) \
                       and coalesce(finished_at, scheduled_at) >= $3 and status <> 'running' \
                     group by 1, 2",
                    &[&task, &job, &since],
                )
                .await
                .map_err(pg)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let status = status_of(r.get(1))?;
                let n = u64::try_from(r.get::<_, i64>(2)).unwrap_or(0);
                let mut d = WindowCounts::default();
                match status {
                    RunStatus::Missed | RunStatus::Skipped => d.not_run = n,
                    st => {
                        d.runs = n;
                        d.failures = if st.is_failure() { n } else { 0 };
                    }
                }
                out.push((r.get::<_, i64>(0), d));
            }
            Ok(out)
        })
    }

    fn series_counts(
        &self,
        now: Timestamp,
        window: SeriesWindow,
    ) -> StoreFuture<'_, Vec<(i64, WindowCounts)>> {
        Box::pin(async move {
            let c = self.shared.client().await?;
            let now_min = now.as_second().div_euclid(60);
            let size = window.bucket_minutes();
            // Summed per bucket in the database: at most 168 rows back.
            let rows = c
                .query(
                    "select (minute / $3) * $3, sum(runs)::bigint, sum(failures)::bigint, \
                       sum(not_run)::bigint from taskdeck_minutes \
                     where minute > $1 and minute <= $2 group by 1",
                    &[&(now_min - window.minutes() - size), &now_min, &size],
                )
                .await
                .map_err(pg)?;
            Ok(rows
                .iter()
                .map(|r| {
                    let n = |i: usize| u64::try_from(r.get::<_, i64>(i)).unwrap_or(0);
                    (
                        r.get::<_, i64>(0),
                        WindowCounts {
                            runs: n(1),
                            failures: n(2),
                            not_run: n(3),
                        },
                    )
                })
                .collect())
        })
    }

    fn job_run_durations<'a>(
        &'a self,
        jobs: &'a [String],
        since: Timestamp,
        per_job: u32,
    ) -> StoreFuture<'a, Vec<(String, Vec<u64>)>> {
        Box::pin(async move {
            let c = self.shared.client().await?;
            // Each job's newest runs, durations only (whole milliseconds, rounded down as
            // `RunRecord::duration_ms` does): a statement per job, planned for that job (a rare
            // one reads the job index; as one statement over all jobs, each job's share was
            // guessed and a rare one walked every newer run: 440 ms over 1,000,000 runs), all
            // sent at once on one connection.
            // The id bound stops the walk at the window's first run (ids grow as runs are
            // recorded, each after its scheduled time): a job whose runs stopped yesterday
            // is not read back through its whole history.
            const SQL: &str =
                "select floor(extract(epoch from finished_at - started_at) * 1000)::int8 \
                from taskdeck_runs where job = $1 and scheduled_at >= $2 \
                  and id >= coalesce((select id from taskdeck_runs where scheduled_at >= $2 \
                                      order by scheduled_at limit 1), 9223372036854775807) \
                  and finished_at is not null and started_at is not null \
                order by id desc limit $3";
            let limit = i64::from(per_job);
            let each = jobs.iter().map(|job| {
                let c = &c;
                let params: [(&(dyn ToSql + Sync), Type); 3] = [
                    (job, Type::TEXT),
                    (&since, Type::TIMESTAMPTZ),
                    (&limit, Type::INT8),
                ];
                async move {
                    let rows = c.query_typed(SQL, &params).await.map_err(pg)?;
                    let ms = rows
                        .iter()
                        .map(|r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0))
                        .collect();
                    Ok::<_, Error>((job.clone(), ms))
                }
            });
            futures_util::future::try_join_all(each).await
        })
    }

    fn job_task_counts(&self) -> StoreFuture<'_, Option<Vec<(String, StateCounts)>>> {
        Box::pin(async move {
            let c = self.shared.client().await?;
            let rows = c
                .query(
                    "select job, state, sum(n)::int8 from taskdeck_task_counts \
                     group by job, state having sum(n) <> 0",
                    &[],
                )
                .await
                .map_err(pg)?;
            let mut out: BTreeMap<String, StateCounts> = BTreeMap::new();
            for r in &rows {
                let n = usize::try_from(r.get::<_, i64>(2)).unwrap_or(0);
                let counts = out.entry(r.get(0)).or_default();
                match r.get::<_, i16>(1) {
                    2 => counts.paused += n,
                    3 => counts.completed += n,
                    _ => counts.scheduled += n,
                }
            }
            Ok(Some(out.into_iter().collect()))
        })
    }

    fn job_series_counts(
        &self,
        now: Timestamp,
        window: SeriesWindow,
    ) -> StoreFuture<'_, Option<Vec<(String, i64, WindowCounts)>>> {
        Box::pin(async move {
            if window.bucket_minutes() != 60 {
                return Ok(None);
            }
            let c = self.shared.client().await?;
            let now_min = now.as_second().div_euclid(60);
            let rows = c
                .query(
                    "select job, hour, runs, failures, not_run from taskdeck_job_hours \
                     where hour > $1 and hour <= $2",
                    &[&(now_min - window.minutes() - 60), &now_min],
                )
                .await
                .map_err(pg)?;
            Ok(Some(
                rows.iter()
                    .map(|r| {
                        let n = |i: usize| u64::try_from(r.get::<_, i64>(i)).unwrap_or(0);
                        (
                            r.get::<_, String>(0),
                            r.get::<_, i64>(1),
                            WindowCounts {
                                runs: n(2),
                                failures: n(3),
                                not_run: n(4),
                            },
                        )
                    })
                    .collect(),
            ))
        })
    }

    fn announce(&self, event: Event) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let c = self.shared.client().await?;
            let payload = self.shared.notice(&event);
            c.execute(
                "select pg_notify($1, $2)",
                &[&self.shared.channel, &payload],
            )
            .await
            .map_err(pg)?;
            Ok(())
        })
    }

    fn notices(&self) -> Option<broadcast::Receiver<Notice>> {
        Some(self.shared.notices.subscribe())
    }
}

/// Ended sessions in PostgreSQL.
struct PgRevocations(Arc<Shared>);

impl RevocationStore for PgRevocations {
    fn publish(&self, r: Revocation) -> RevocationFuture<'_, ()> {
        Box::pin(async move { self.0.revocation_insert(r).await.map_err(|e| e.to_string()) })
    }

    fn since(&self, cursor: i64) -> RevocationFuture<'_, (Vec<Revocation>, i64)> {
        Box::pin(async move {
            self.0
                .revocations_since(cursor)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// The audit log in PostgreSQL.
struct PgAudit(Arc<Shared>);

impl AuditSink for PgAudit {
    fn record(&self, entry: AuditEntry) {
        crate::audit::trace(&entry);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_take_wildcards_literally() {
        assert_eq!(like_pattern("number 42"), "%number 42%");
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn every_page_is_one_statement() {
        let a = page_sql("t", "id", "where job = $1", "id asc", 1, false);
        assert_eq!(
            a,
            "select id from t where job = $1 order by id asc limit $2 offset $3"
        );
        // The text, which keys the statement cache, holds no page number to vary.
        assert!(!a.contains("50") && !a.contains("100"));
        assert_eq!(
            page_sql("t", "id", "", "id asc", 0, false)
                .matches('$')
                .count(),
            2
        );
        let deep = page_sql("t", "id", "where job = $1", "id asc", 1, true);
        assert_eq!(
            deep,
            "select id from t where id = any(array(select id from t where job = $1 \
             order by id asc limit $2 offset $3)) order by id asc"
        );
    }
}
