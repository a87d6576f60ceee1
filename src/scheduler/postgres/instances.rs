//! Keeping replicas in touch through PostgreSQL: heartbeats that renew leases and flush
//! counters, reaping runs of dead replicas, pruning history, the Instances list, and the audit
//! log.

use super::*;
use crate::revocations::Ended;

/// Run ids before the last prune's mark that each prune looks at again: room for the ids of
/// begin batches (256 fires each) still open while the mark was taken.
const PRUNE_SLACK: i64 = 4096;

impl Shared {
    pub(super) async fn heartbeat(&self, beat: Beat) -> Result<Vec<RunRecord>, Error> {
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

    pub(super) async fn heartbeat_inner(&self, beat: Beat) -> Result<Vec<RunRecord>, Error> {
        let mut sorted = beat.jobs.clone();
        sorted.sort();
        *self.jobs.write().unwrap_or_else(|p| p.into_inner()) = sorted;
        let mut c = self.client().await?;
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
        // Rows a begin or end batch holds are skipped, not waited for: waiting, in another
        // order than the batch's, could deadlock with it. Those runs are being written now;
        // the next beat renews any still running, well within the lease.
        c.execute(
            "update taskdeck_runs set lease_until = now() + make_interval(secs => $2) \
             where id in (select id from taskdeck_runs where instance_id = $1 \
               and status = 'running' order by id for update skip locked)",
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
        // A failed reap (a deadlock the server broke, a lost connection) rolled back: the
        // next beat reaps again. It must not count as a failed beat, which would hold reaping
        // off for a whole lease.
        let reaped = if settled {
            match self.reap(&mut c).await {
                Ok(reaped) => reaped,
                Err(e) => {
                    tracing::warn!(error = %e, "reaping a stopped replica's runs failed; the next beat tries again");
                    Vec::new()
                }
            }
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
        // Runs reaped above are committed: they go back to the caller whatever the prune
        // does, or nobody would ever report them.
        if prune {
            drop(c);
            if let Err(e) = self.prune().await {
                tracing::warn!(error = %e, "pruning history failed; the next prune tries again");
            }
        }
        Ok(reaped)
    }

    /// Adds this replica's counter deltas to the database. Rows are written in key order so
    /// replicas flushing at once cannot deadlock.
    pub(super) async fn flush(&self, c: &deadpool_postgres::Object) -> Result<(), Error> {
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

    pub(super) async fn flush_counters(
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
        let keys: Vec<(&str, i64)> = p.job_hours.keys().map(|(j, h)| (j.as_str(), *h)).collect();
        let jobs: Vec<&str> = keys.iter().map(|k| k.0).collect();
        let hours: Vec<i64> = keys.iter().map(|k| k.1).collect();
        let j_runs: Vec<i64> = p.job_hours.values().map(|w| i64_of(w.runs)).collect();
        let j_failures: Vec<i64> = p.job_hours.values().map(|w| i64_of(w.failures)).collect();
        let j_not_run: Vec<i64> = p.job_hours.values().map(|w| i64_of(w.not_run)).collect();
        let job_params: [&(dyn ToSql + Sync); 5] =
            [&jobs, &hours, &j_runs, &j_failures, &j_not_run];
        let job_hours = c.execute(
            "insert into taskdeck_job_hours (job, hour, runs, failures, not_run) \
             select * from unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) \
             on conflict (job, hour) do update set runs = taskdeck_job_hours.runs + excluded.runs, \
             failures = taskdeck_job_hours.failures + excluded.failures, \
             not_run = taskdeck_job_hours.not_run + excluded.not_run",
            &job_params,
        );
        tokio::try_join!(totals, mins, job_hours).map_err(pg)?;
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
    /// freeing their `max_instances` slots. One replica reaps at a time. Their tasks are
    /// locked in id order before their `running` is lowered, the order begin and end
    /// batches take task rows in, so a reap cannot deadlock with them. The runs' notices are
    /// sent in the same transaction: reaped, lowered and told all commit together.
    pub(super) async fn reap(
        &self,
        c: &mut deadpool_postgres::Object,
    ) -> Result<Vec<RunRecord>, Error> {
        let stale = self.lease.as_secs_f64();
        let tx = c.transaction().await.map_err(pg)?;
        if !self.first_to(&tx, "reap").await? {
            return Ok(Vec::new());
        }
        let rows = tx
            .query(
                &format!(
                    "update taskdeck_runs r set status = 'interrupted', \
                       finished_at = now(), lease_until = null, \
                       error = 'instance ' || coalesce(r.instance_id, '?') || \
                         ' stopped renewing its lease (it died or lost the database)', \
                       search = lower('instance ' || coalesce(r.instance_id, '?') || \
                         ' stopped renewing its lease (it died or lost the database)') \
                     where r.status = 'running' and r.lease_until < now() \
                       and not exists (select 1 from taskdeck_instances i \
                         where i.id = r.instance_id and i.heartbeat_at > now() - make_interval(secs => $1)) \
                     returning {RUN_COLS}"
                ),
                &[&stale],
            )
            .await
            .map_err(pg)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let reaped = rows
            .iter()
            .map(Self::run_row)
            .collect::<Result<Vec<_>, _>>()?;
        // Per task: runs reaped, and the newest of them (interrupted runs are failures: they
        // lengthen the task's failure streak).
        let mut per_task: BTreeMap<&str, (i32, i64)> = BTreeMap::new();
        for run in &reaped {
            let e = per_task.entry(&run.task_id).or_default();
            e.0 += 1;
            e.1 = e.1.max(i64_of(run.id));
        }
        let ids: Vec<&str> = per_task.keys().copied().collect();
        let counts: Vec<i32> = per_task.values().map(|v| v.0).collect();
        let newest: Vec<i64> = per_task.values().map(|v| v.1).collect();
        tx.query(
            "select 1 from taskdeck_tasks where id = any($1) order by id for no key update",
            &[&ids],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "update taskdeck_tasks t set running = greatest(t.running - c.n, 0), \
               fail_streak = t.fail_streak + c.n, last_fail_run_id = c.newest \
             from unnest($1::text[], $2::int[], $3::int8[]) as c(id, n, newest) where t.id = c.id",
            &[&ids, &counts, &newest],
        )
        .await
        .map_err(pg)?;
        let payloads: Vec<String> = reaped
            .iter()
            .map(|run| self.notice(&Event::finished(run)))
            .collect();
        tx.execute(
            "select pg_notify($1, p) from unnest($2::text[]) as p",
            &[&self.channel, &payloads],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        for run in &reaped {
            self.count(run);
        }
        Ok(reaped)
    }

    /// Takes this schema's lock for `what` until the end of `tx`, unless another replica
    /// holds it: then `false`, and that one does the work.
    async fn first_to(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        what: &str,
    ) -> Result<bool, Error> {
        Ok(tx
            .query_one(
                "select pg_try_advisory_xact_lock(hashtext('taskdeck.' || $1::text || '.' || $2::text))",
                &[&what, &self.schema],
            )
            .await
            .map_err(pg)?
            .get(0))
    }

    /// Moves the task counts each server backend kept (`taskdeck_task_counts`, one row per
    /// backend, job and state) into slot 0, so that the overview sums a few rows. A row whose
    /// backend is writing it right now is left for the next fold, so this never waits for a
    /// claim and a claim waits at most for this one short transaction.
    pub(super) async fn fold_task_counts(&self) -> Result<(), Error> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        if !self.first_to(&tx, "fold").await? {
            return Ok(());
        }
        tx.execute(
            "with moved as (delete from taskdeck_task_counts k using \
               (select slot, job, state from taskdeck_task_counts where slot <> 0 \
                for update skip locked) x \
               where k.slot = x.slot and k.job = x.job and k.state = x.state \
               returning k.job, k.state, k.n) \
             insert into taskdeck_task_counts (slot, job, state, n) \
             select 0, job, state, sum(n) from moved group by job, state order by job, state \
             on conflict (slot, job, state) do update set n = taskdeck_task_counts.n + excluded.n",
            &[],
        )
        .await
        .map_err(pg)?;
        // The jobs no task names any more.
        tx.execute(
            "delete from taskdeck_task_counts where slot = 0 and n = 0",
            &[],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)
    }

    /// Prunes history, old counters, the audit log and long-gone instances; one replica at a
    /// time. Folds the task counts first, in a transaction of its own.
    pub(super) async fn prune(&self) -> Result<(), Error> {
        if let Err(e) = self.fold_task_counts().await {
            tracing::warn!(error = %e, "folding the task counts failed; the next prune tries again");
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        if !self.first_to(&tx, "prune").await? {
            return Ok(());
        }
        let per_task = self.history.per_task as i64;
        let total = self.history.total as i64;
        let now_min = Timestamp::now().as_second().div_euclid(60);
        // Only tasks with runs newer than the last prune can be over their limit: each is
        // looked up in the (task_id, id) index, so a prune costs what ran since, not the whole
        // history (ranking 1,000,000 runs per task took 0.77 s; finding the tasks over their
        // limit among 2,000 that ran since takes 14 ms). The mark is shared by every replica,
        // in `taskdeck_meta`.
        let since: i64 = tx
            .query_one("select pruned_through from taskdeck_meta", &[])
            .await
            .map_err(pg)?
            .get(0);
        // The next prune starts over from the oldest run still going (it may end over the
        // limit) and rechecks PRUNE_SLACK ids before the mark: ids taken by transactions
        // still open now, which commit after this prune with ids below the newest.
        let newest: i64 = tx
            .query_one(
                "select least(coalesce(max(id), 0), \
                   coalesce((select min(id) - 1 from taskdeck_runs where status = 'running'), \
                     max(id), 0)) from taskdeck_runs",
                &[],
            )
            .await
            .map_err(pg)?
            .get(0);
        let since = since.saturating_sub(PRUNE_SLACK).max(0);
        let over = tx
            .query(
                "select c.task_id, c.cutoff from (select t.task_id, (select x.id \
                   from taskdeck_runs x where x.task_id = t.task_id and x.status <> 'running' \
                   order by x.id desc offset $1 limit 1) as cutoff \
                 from (select distinct task_id from taskdeck_runs where id > $2) t) c \
                 where c.cutoff is not null",
                &[&per_task, &since],
            )
            .await
            .map_err(pg)?;
        if !over.is_empty() {
            let tasks: Vec<&str> = over.iter().map(|r| r.get(0)).collect();
            let cutoffs: Vec<i64> = over.iter().map(|r| r.get(1)).collect();
            tx.execute(
                "delete from taskdeck_runs r using unnest($1::text[], $2::bigint[]) c(task_id, cutoff) \
                 where r.task_id = c.task_id and r.id <= c.cutoff and r.status <> 'running'",
                &[&tasks, &cutoffs],
            )
            .await
            .map_err(pg)?;
        }
        tx.execute("update taskdeck_meta set pruned_through = $1", &[&newest])
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
            &[&(now_min - 7 * 24 * 60)],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "delete from taskdeck_job_hours where hour <= $1",
            &[&(now_min - 8 * 24 * 60)],
        )
        .await
        .map_err(pg)?;
        // Signed-in users' entries and strangers' (refused sign-ins) each within a bound of
        // their own: strangers cannot push out what users did.
        let strangers = (self.audit_capacity / 10).max(100);
        tx.execute(
            "delete from taskdeck_audit where actor <> 'anonymous' and id <= \
             (select id from taskdeck_audit where actor <> 'anonymous' \
              order by id desc offset $1 limit 1)",
            &[&(self.audit_capacity as i64)],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "delete from taskdeck_audit where actor = 'anonymous' and id <= \
             (select id from taskdeck_audit where actor = 'anonymous' \
              order by id desc offset $1 limit 1)",
            &[&(strangers as i64)],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "delete from taskdeck_revocations where until < $1",
            &[&jiff::Timestamp::now().as_second()],
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

    pub(super) async fn leave(&self) -> Result<(), Error> {
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

    pub(super) async fn instances(&self) -> Result<Vec<InstanceInfo>, Error> {
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

    pub(super) async fn revocation_insert(&self, r: Revocation) -> Result<(), Error> {
        let c = self.client().await?;
        let (sid, user) = match &r.ended {
            Ended::Session { sid, user } => (Some(sid.as_str()), user.as_str()),
            Ended::User(user) => (None, user.as_str()),
        };
        c.execute(
            "insert into taskdeck_revocations (sid, user_id, at_ms, until) values ($1, $2, $3, $4)",
            &[&sid, &user, &r.at_ms, &r.until],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    /// Ended sessions stored after `cursor` that have not expired, oldest first (at most
    /// 1,000 at a time), and the cursor to ask from next. Entries of the last 10 s are read
    /// again whatever the cursor: ids are handed out before commit, so one committed late
    /// can sit below a cursor that has passed it.
    pub(super) async fn revocations_since(
        &self,
        cursor: i64,
    ) -> Result<(Vec<Revocation>, i64), Error> {
        let c = self.client().await?;
        let now = jiff::Timestamp::now().as_second();
        let rows = c
            .query(
                "select id, sid, user_id, at_ms, until from taskdeck_revocations \
                 where id > $1 or at_ms > $2 order by id limit 1000",
                &[&cursor, &(now * 1000 - 10_000)],
            )
            .await
            .map_err(pg)?;
        let mut next = cursor;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            next = next.max(r.get::<_, i64>(0));
            let until: i64 = r.get(4);
            if until <= now {
                continue;
            }
            let sid: Option<String> = r.get(1);
            let user: String = r.get(2);
            out.push(Revocation {
                ended: match sid {
                    Some(sid) => Ended::Session { sid, user },
                    None => Ended::User(user),
                },
                at_ms: r.get(3),
                until,
            });
        }
        Ok((out, next))
    }

    pub(super) async fn audit_insert(&self, e: AuditEntry) -> Result<(), Error> {
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

    pub(super) async fn audit_page(
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
