//! Runs in PostgreSQL: begun under `max_instances` and a lease, recorded, finished, listed; and
//! the overview's counts.

use super::*;
use crate::scheduler::RunCursor;

impl Shared {
    pub(super) async fn begin_runs(
        &self,
        drafts: Vec<(RunRecord, u32)>,
    ) -> Result<Vec<Option<RunRecord>>, Error> {
        let mut c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "with t as (update taskdeck_tasks set running = running + 1 \
                   where id = $1::text and running < $2::int returning id), \
                 i as (insert into taskdeck_runs (task_id, job, cause, scheduled_at, finished_at, \
                   status, error, attempt, instance_id, lease_until, started_at, args, retry_of, \
                   search) \
                   select $1::text, $3::text, $4::text, $5::timestamptz, \
                     case when exists (select 1 from t) then null else $5::timestamptz end, \
                     case when exists (select 1 from t) then 'running' else 'skipped' end, \
                     case when exists (select 1 from t) then null else $6::text end, \
                     $7::int, $8::text, \
                     case when exists (select 1 from t) \
                       then now() + make_interval(secs => $9::float8) else null end, \
                     case when exists (select 1 from t) then $11::timestamptz else null end, \
                     $12::jsonb, case when exists (select 1 from t) then $13::bigint else null end, \
                     case when exists (select 1 from t) then null else $14::text end \
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
        let mut results = None;
        // A batch (a tick's due fires) is one transaction, so one commit, with its statements
        // sent together: one round trip's wait for the whole batch. Task rows are locked in id
        // order, the order every batch takes them in, so two batches cannot deadlock.
        if drafts.len() > 1 {
            let mut order: Vec<usize> = (0..drafts.len()).collect();
            order.sort_by(|&a, &b| drafts[a].0.task_id.cmp(&drafts[b].0.task_id));
            let tx = c.transaction().await.map_err(pg)?;
            let calls = order
                .iter()
                .map(|&i| self.begin_statement(&*tx, &stmt, &drafts[i]));
            let sorted = futures_util::future::join_all(calls).await;
            if sorted.iter().all(Result::is_ok) && tx.commit().await.is_ok() {
                let mut by_draft: Vec<Option<_>> = (0..drafts.len()).map(|_| None).collect();
                for (i, r) in order.into_iter().zip(sorted) {
                    by_draft[i] = Some(r);
                }
                results = Some(by_draft.into_iter().flatten().collect::<Vec<_>>());
            }
            // Otherwise the transaction is rolled back: each fire is begun on its own below,
            // so that one failing fire does not stop the others.
        }
        let results = match results {
            Some(r) => r,
            None => {
                let client: &tokio_postgres::Client = &c;
                let calls = drafts
                    .iter()
                    .map(|d| self.begin_statement(client, &stmt, d));
                futures_util::future::join_all(calls).await
            }
        };
        let batch = drafts.len() > 1;
        let mut out = Vec::with_capacity(drafts.len());
        for ((mut draft, _), r) in drafts.into_iter().zip(results) {
            let r = r.map_err(|e| match (e.code(), draft.retry_of) {
                (Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION), Some(of)) => {
                    Error::RunState {
                        id: of,
                        message: format!("run {of} was already retried"),
                    }
                }
                _ => pg(e),
            });
            let r = match r {
                Ok(r) => r,
                // Begun one by one after the batch failed: the others are stored and must
                // run; this one is reported and not run.
                Err(e) if batch => {
                    tracing::error!(task = %draft.task_id, error = %e, "could not start a due run");
                    None
                }
                Err(e) => return Err(e),
            };
            match r {
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

    /// One fire's begin statement: its run's id, status and the refusal it would carry.
    async fn begin_statement<C: tokio_postgres::GenericClient + Sync>(
        &self,
        c: &C,
        stmt: &tokio_postgres::Statement,
        (d, max): &(RunRecord, u32),
    ) -> Result<Option<(i64, String, String)>, tokio_postgres::Error> {
        let error = format!("{max} run(s) already going; max_instances is {max}");
        let lease = self.lease.as_secs_f64();
        let row = c
            .query_opt(
                stmt,
                &[
                    &d.task_id,
                    &i32_of(*max),
                    &d.job,
                    &cause_str(d.cause),
                    &d.scheduled_at,
                    &error,
                    &i32_of(d.attempt),
                    &self.instance,
                    &lease,
                    &self.channel,
                    &d.started_at,
                    &d.args,
                    &d.retry_of.map(i64_of),
                    &error.to_lowercase(),
                ],
            )
            .await?;
        Ok(row.map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1), error)))
    }

    pub(super) async fn record_run(&self, mut draft: RunRecord) -> Result<RunRecord, Error> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "with i as (insert into taskdeck_runs (task_id, job, cause, scheduled_at, \
                   started_at, finished_at, status, error, attempt, logs, logs_dropped, instance_id, \
                   args, result, retry_of, search) \
                   values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $14, $15, $16, $17) \
                   returning id) \
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
                    &draft.args,
                    &draft.result,
                    &draft.retry_of.map(i64_of),
                    &search_text(&draft),
                ],
            )
            .await
            .map_err(pg)?;
        draft.id = row.get::<_, i64>(0) as u64;
        self.count(&draft);
        Ok(draft)
    }

    /// Hands `run`'s end to this replica's finisher, which writes the ends waiting together
    /// in one transaction (see [`Shared::finish_batch`]), and waits for its outcome.
    pub(super) async fn finish_run(&self, run: RunRecord) -> Result<(), Error> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        match self.finishes.send((run, tx)).await {
            Ok(()) => rx
                .await
                .unwrap_or_else(|_| Err(Error::Store("the run finisher stopped".into()))),
            // The finisher is gone (the store is being dropped): write it here.
            Err(e) => {
                let (run, _) = e.0;
                self.finish_batch(vec![run])
                    .await
                    .pop()
                    .unwrap_or_else(|| Err(Error::Store("no outcome".into())))
            }
        }
    }

    /// Writes the ends of `runs` and says how each went, in their order: one transaction for
    /// them all (one commit, statements sent together), rows locked in task then run order as
    /// in every batch. Should the transaction fail, each is written on its own, so one failure
    /// does not fail the others.
    pub(super) async fn finish_batch(&self, runs: Vec<RunRecord>) -> Vec<Result<(), Error>> {
        let fail_all = |e: Error| -> Vec<Result<(), Error>> {
            let m = e.to_string();
            runs.iter().map(|_| Err(Error::Store(m.clone()))).collect()
        };
        let mut c = match self.client().await {
            Ok(c) => c,
            Err(e) => return fail_all(e),
        };
        let stmt = match c
            .prepare_cached(
                "with old as (select id, task_id, status from taskdeck_runs where id = $1 for update), \
                 r as (update taskdeck_runs u set status = $2, started_at = $3, finished_at = $4, \
                   error = $5, logs = $6, logs_dropped = $7, lease_until = null, result = $11, search = $12, \
                   progress = $14 \
                   from old where u.id = old.id returning u.id, u.task_id, old.status as was), \
                 t as (update taskdeck_tasks t set \
                   running = case when r.was = 'running' then greatest(t.running - 1, 0) else t.running end, \
                   last_run_id = case when t.last_run_id is null or t.last_run_id <= r.id then r.id else t.last_run_id end, \
                   last_status = case when t.last_run_id is null or t.last_run_id <= r.id then $2 else t.last_status end, \
                   last_scheduled_at = case when t.last_run_id is null or t.last_run_id <= r.id then $8 else t.last_scheduled_at end, \
                   last_finished_at = case when t.last_run_id is null or t.last_run_id <= r.id then $4 else t.last_finished_at end, \
                   last_error = case when t.last_run_id is null or t.last_run_id <= r.id then $5 else t.last_error end, \
                   fail_streak = case when $13::bool then t.fail_streak + 1 when $2 = 'succeeded' then 0 else t.fail_streak end, \
                   last_fail_run_id = case when $13::bool then r.id else t.last_fail_run_id end, \
                   last_success_at = case when $2 = 'succeeded' then greatest(t.last_success_at, $4) else t.last_success_at end, \
                   last_success_run_id = case when $2 = 'succeeded' then greatest(t.last_success_run_id, r.id) else t.last_success_run_id end, \
                   success_due = case when $2 = 'succeeded' and t.no_success_within_ms is not null \
                     then greatest(t.last_success_at, $4) + t.no_success_within_ms * interval '1 millisecond' \
                     else t.success_due end \
                   from r where t.id = r.task_id) \
                 select r.was, pg_notify($9, $10) from r",
            )
            .await
        {
            Ok(s) => s,
            Err(e) => return fail_all(pg(e)),
        };
        if runs.len() > 1 {
            let mut order: Vec<usize> = (0..runs.len()).collect();
            order.sort_by(|&a, &b| {
                (&runs[a].task_id, runs[a].id).cmp(&(&runs[b].task_id, runs[b].id))
            });
            if let Ok(tx) = c.transaction().await {
                let calls = order
                    .iter()
                    .map(|&i| self.finish_statement(&*tx, &stmt, &runs[i]));
                let rows = futures_util::future::join_all(calls).await;
                if rows.iter().all(Result::is_ok) && tx.commit().await.is_ok() {
                    for (&i, row) in order.iter().zip(rows) {
                        self.finished(&runs[i], row.ok().flatten());
                    }
                    return runs.iter().map(|_| Ok(())).collect();
                }
            }
        }
        let client: &tokio_postgres::Client = &c;
        let calls = runs.iter().map(|r| self.finish_statement(client, &stmt, r));
        let rows = futures_util::future::join_all(calls).await;
        runs.iter()
            .zip(rows)
            .map(|(run, row)| {
                let row = row.map_err(pg)?;
                self.finished(run, row);
                Ok(())
            })
            .collect()
    }

    /// What running runs logged and how far they got, each run's kept lines, count not kept
    /// and progress written in one statement: every replica's dashboard reads them.
    pub(super) async fn live(
        &self,
        runs: Vec<crate::scheduler::store::LiveRunState>,
    ) -> Result<(), Error> {
        if runs.is_empty() {
            return Ok(());
        }
        let c = self.client().await?;
        let ids: Vec<i64> = runs.iter().map(|r| i64_of(r.0)).collect();
        let logs: Vec<Value> = runs
            .iter()
            .map(|r| serde_json::to_value(&r.1).unwrap_or(Value::Null))
            .collect();
        let dropped: Vec<i32> = runs.iter().map(|r| i32_of(r.2)).collect();
        let progress: Vec<Option<Value>> = runs
            .iter()
            .map(|r| r.3.as_ref().and_then(|p| serde_json::to_value(p).ok()))
            .collect();
        c.execute(
            // A run the finisher holds is skipped, never waited for: its end writes its
            // whole log anyway.
            "with l as (select * from unnest($1::bigint[], $2::jsonb[], $3::int[], $4::jsonb[]) \
               as l(id, logs, dropped, progress)), \
             going as (select r.id from taskdeck_runs r join l on r.id = l.id \
               where r.status = 'running' for update of r skip locked) \
             update taskdeck_runs r set logs = l.logs, logs_dropped = l.dropped, \
               progress = coalesce(l.progress, r.progress) \
             from l, going where r.id = l.id and r.id = going.id",
            &[&ids, &logs, &dropped, &progress],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    /// The progress of running runs that told one, newest first, at most `most`.
    pub(super) async fn live_progress(
        &self,
        most: i64,
    ) -> Result<Vec<crate::scheduler::LiveProgress>, Error> {
        let c = self.client().await?;
        let rows = c
            .query(
                "select id, task_id, job, progress from taskdeck_runs \
                 where status = 'running' and progress is not null order by id desc limit $1",
                &[&most],
            )
            .await
            .map_err(pg)?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let p: Value = r.get(3);
                Some((
                    r.get::<_, i64>(0) as u64,
                    r.get(1),
                    r.get(2),
                    serde_json::from_value(p).ok()?,
                ))
            })
            .collect())
    }

    /// One run's end statement: the status it had before, when it is still stored.
    async fn finish_statement<C: tokio_postgres::GenericClient + Sync>(
        &self,
        c: &C,
        stmt: &tokio_postgres::Statement,
        run: &RunRecord,
    ) -> Result<Option<String>, tokio_postgres::Error> {
        let logs = serde_json::to_value(&run.logs).unwrap_or(Value::Null);
        let payload = self.notice(&Event::finished(run));
        let row = c
            .query_opt(
                stmt,
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
                    &run.result,
                    &search_text(run),
                    &run.status.is_failure(),
                    &run.progress
                        .as_ref()
                        .and_then(|p| serde_json::to_value(p).ok()),
                ],
            )
            .await?;
        Ok(row.map(|r| r.get::<_, String>(0)))
    }

    /// Counts a written end, or says why it did not count.
    fn finished(&self, run: &RunRecord, was: Option<String>) {
        match was {
            Some(was) if was == "running" => self.count(run),
            Some(was) => tracing::warn!(run = run.id, was = %was,
                "a run ended after another replica had recorded it as {was}; kept its real outcome"),
            None => tracing::warn!(run = run.id, "a run ended that is no longer in the history"),
        }
    }

    pub(super) async fn get_run(&self, id: RunId) -> Result<Option<RunRecord>, Error> {
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

    pub(super) async fn list_runs(&self, q: &RunQuery) -> Result<Page<RunRecord>, Error> {
        let (page, per_page, offset) = paging(q.page, q.per_page);
        let mut filters = Filters::default();
        if let Some(t) = &q.task_id {
            filters.add("task_id = $", t.clone());
        }
        if let Some(s) = q.status {
            filters.add("status = $", s.as_str());
        }
        if q.failures_only {
            let failures: Vec<&str> = RunStatus::ALL
                .iter()
                .filter(|s| s.is_failure())
                .map(|s| s.as_str())
                .collect();
            filters.add("status = any($)", failures);
        }
        if let Some(t) = q.since {
            filters.add("scheduled_at >= $", t);
        }
        if let Some(t) = q.until {
            filters.add("scheduled_at < $", t);
        }
        if let Some(j) = &q.job {
            filters.add("job = $", j.clone());
        }
        // An empty search matches every run, as in the memory store.
        if let Some(text) = q.q.as_ref().filter(|t| !t.is_empty()) {
            // The newest runs only (ids grow), so that a search's cost is bounded.
            filters.add(
                "id > (select coalesce(max(id), 0) from taskdeck_runs) - $",
                i64::try_from(crate::scheduler::SEARCH_WINDOW).unwrap_or(i64::MAX),
            );
            let needle = text.to_lowercase();
            if needle.contains(SEARCH_PART) {
                // It could match across two parts of the search text: look at each part.
                filters.add(
                    "(strpos(lower(coalesce(error, '')), $) > 0 or exists (select 1 from \
                     jsonb_array_elements(logs) l where strpos(lower(l ->> 'message'), $) > 0))",
                    needle,
                );
            } else {
                // Through the runs' search text (error and log lines, lower-cased), which a
                // trigram index serves where the database has `pg_trgm`.
                filters.add("search like $", like_pattern(&needle));
            }
        }
        let (rows, total, estimated, more) = match q.cursor {
            None => {
                let (rows, total, estimated) = self
                    .fetch_page(
                        "taskdeck_runs",
                        RUN_COLS,
                        &filters,
                        "id desc",
                        per_page,
                        offset,
                        q.q.as_ref().is_some_and(|t| !t.is_empty()),
                    )
                    .await?;
                (rows, total, estimated, None)
            }
            Some(c) => {
                let base = filters.len();
                let id = i64::try_from(c.run_id()).unwrap_or(i64::MAX);
                let (cond, order) = match c {
                    RunCursor::After(_) => ("id < $", "id desc"),
                    // The page before, read upwards from the cursor and turned round.
                    RunCursor::Before(_) => ("id > $", "id asc"),
                };
                filters.add(cond, id);
                let (mut rows, total, estimated, more) = self
                    .fetch_keyset(
                        "taskdeck_runs",
                        RUN_COLS,
                        &filters,
                        base,
                        None,
                        order,
                        per_page,
                        offset,
                    )
                    .await?;
                if matches!(c, RunCursor::Before(_)) {
                    rows.reverse();
                }
                (rows, total, estimated, Some(more))
            }
        };
        let items = rows
            .iter()
            .map(Self::run_row)
            .collect::<Result<Vec<_>, _>>()?;
        // A search looks at the newest SEARCH_WINDOW runs only; the planner's estimate does
        // not know that.
        let window = crate::scheduler::SEARCH_WINDOW;
        let total = if estimated && q.q.is_some() {
            total.min(window)
        } else {
            total
        };
        Ok(Page {
            items,
            total,
            estimated,
            page,
            per_page,
            more,
        })
    }

    pub(super) async fn stats(&self, now: Timestamp) -> Result<Stats, Error> {
        let c = self.client().await?;
        let now_min = now.as_second().div_euclid(60);
        // Tasks by state but running, from the counts the triggers keep (a few rows); then
        // the tasks with a run going (state 1, through the state index), each moved from the
        // state it has apart from that to running. One statement, so both parts see one
        // snapshot.
        let states = c.query(
            "select coalesce(k.state, b.state), coalesce(k.n, 0)::int8, coalesce(b.n, 0)::int8 \
             from (select state, sum(n) as n from taskdeck_task_counts group by state) k \
             full join (select case when t.paused then 2 when t.next_fire is null then 3 \
                 else 0 end::int2 as state, count(*) as n from taskdeck_tasks t \
               where t.state = 1 group by 1) b on b.state = k.state",
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
        // Through the due index: normally it finds nothing at once.
        let overdue_before = now - crate::scheduler::model::OVERDUE_AFTER;
        let overdue_params: [&(dyn ToSql + Sync); 1] = [&overdue_before];
        let overdue = c.query_one(
            "select count(*) from taskdeck_tasks where next_fire < $1 and not paused",
            &overdue_params,
        );
        let durations = c.query(
            "select job, buckets, count, sum_seconds from taskdeck_job_durations",
            &[],
        );
        let (states, running, minutes, totals, durations, overdue) =
            tokio::try_join!(states, running, minutes, totals, durations, overdue).map_err(pg)?;
        let mut stats = Stats {
            running_runs: running.get::<_, i64>(0) as u64,
            overdue: overdue.get::<_, i64>(0).max(0) as u64,
            ..Stats::default()
        };
        let mut counts = StateCounts::default();
        for r in &states {
            let busy = r.get::<_, i64>(2).max(0) as usize;
            let n = (r.get::<_, i64>(1).max(0) as usize).saturating_sub(busy);
            counts.running += busy;
            match r.get::<_, i16>(0) {
                0 => counts.scheduled += n,
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
                job_hours: std::collections::BTreeMap::new(),
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

    pub(super) async fn durations(&self, task_id: &str) -> Result<DurationStats, Error> {
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
}

/// A run's end waiting for the finisher, and where its outcome goes.
pub(super) type Finish = (RunRecord, tokio::sync::oneshot::Sender<Result<(), Error>>);

/// Most run ends written in one transaction.
const FINISH_BATCH: usize = 256;

/// Writes run ends for this replica: whatever has queued up while the last batch was written
/// goes in the next, so under load a commit carries many ends and when idle each is written at
/// once. Ends when the store is dropped.
pub(super) async fn finisher(
    shared: std::sync::Weak<Shared>,
    mut queue: tokio::sync::mpsc::Receiver<Finish>,
) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(FINISHERS));
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < FINISH_BATCH {
            match queue.try_recv() {
                Ok(f) => batch.push(f),
                Err(_) => break,
            }
        }
        let (runs, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let Some(strong) = shared.upgrade() else {
            return;
        };
        // A few batches at once, so that one waiting for its commit to reach the disk does
        // not hold up the ends queued behind it.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        tokio::spawn(async move {
            let results = strong.finish_batch(runs).await;
            drop((strong, permit));
            for (reply, r) in replies.into_iter().zip(results) {
                let _ = reply.send(r);
            }
        });
    }
}

/// Finisher batches written at once.
const FINISHERS: usize = 4;

/// Parts a run's search text.
const SEARCH_PART: char = '\u{1f}';

/// The text [`RunRecord::mentions`] looks through, lower-cased: the error, then each log
/// line, parted by U+001F (a control character no one searches for, so a search does not
/// match across two parts); `None` when there is none. Kept in the runs' `search` column, so
/// that a search reads no JSON.
fn search_text(run: &RunRecord) -> Option<String> {
    let parts = run
        .error
        .iter()
        .map(String::as_str)
        .chain(run.logs.iter().map(|l| l.message.as_str()));
    let mut out = String::new();
    for (i, part) in parts.enumerate() {
        if i > 0 {
            out.push(SEARCH_PART);
        }
        out.push_str(&part.to_lowercase());
    }
    (!out.is_empty()).then_some(out)
}
