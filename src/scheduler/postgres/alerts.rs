//! Alerts in PostgreSQL: one row per open alert (task, kind). The insert that opens one
//! decides which replica tells it, and the delete that closes one which replica tells that.
//! A check's look is five statements sent together on one connection, each an index range
//! over the few rows that need an alert (or a scan of the open ones): see `schema.rs`,
//! migration 8.

use super::*;
use crate::scheduler::alerts::{Alert, AlertKind, AlertScan, AlertSweep, LongRun};

const ALERT_COLS: &str = "task_id, kind, job, run_id, since, raised_at, message";
/// The same, of the row a resolving `delete … using` removes (qualified: the other side has
/// some of the names too).
const DELETED_COLS: &str = "d.task_id, d.kind, d.job, d.run_id, d.since, d.raised_at, d.message";

fn alert_row(row: &Row) -> Option<Alert> {
    let kind = AlertKind::parse(row.get::<_, &str>(1))?;
    Some(Alert {
        kind,
        task_id: row.get(0),
        job: row.get(2),
        run_id: row.get::<_, Option<i64>>(3).map(|i| i.max(0) as RunId),
        since: row.get(4),
        raised_at: row.get(5),
        message: row.get(6),
        resolved_at: None,
    })
}

fn duration_ms(ms: Option<i64>) -> Option<Duration> {
    ms.map(|ms| Duration::from_millis(ms.max(0) as u64))
}

impl Shared {
    pub(super) async fn raise_alerts(&self, mut alerts: Vec<Alert>) -> Result<Vec<Alert>, Error> {
        if alerts.is_empty() {
            return Ok(Vec::new());
        }
        // Rows taken in one order by every replica: two raising at once cannot deadlock.
        alerts.sort_by(|a, b| (&a.task_id, a.kind).cmp(&(&b.task_id, b.kind)));
        alerts.dedup_by(|a, b| a.task_id == b.task_id && a.kind == b.kind);
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "insert into taskdeck_alerts (task_id, kind, job, run_id, since, raised_at, message) \
                 select u.* from unnest($1::text[], $2::text[], $3::text[], $4::int8[], \
                   $5::timestamptz[], $6::timestamptz[], $7::text[]) \
                   as u(task_id, kind, job, run_id, since, raised_at, message) \
                 where exists (select 1 from taskdeck_tasks t where t.id = u.task_id) \
                 on conflict (task_id, kind) do update \
                   set run_id = greatest(taskdeck_alerts.run_id, excluded.run_id) \
                   where taskdeck_alerts.kind in ('missed', 'skipped') \
                 returning task_id, kind, xmax = 0",
            )
            .await
            .map_err(pg)?;
        let ids: Vec<&str> = alerts.iter().map(|a| a.task_id.as_str()).collect();
        let kinds: Vec<&str> = alerts.iter().map(|a| a.kind.as_str()).collect();
        let jobs: Vec<&str> = alerts.iter().map(|a| a.job.as_str()).collect();
        let runs: Vec<Option<i64>> = alerts.iter().map(|a| a.run_id.map(i64_of)).collect();
        let since: Vec<Timestamp> = alerts.iter().map(|a| a.since).collect();
        let raised: Vec<Timestamp> = alerts.iter().map(|a| a.raised_at).collect();
        let messages: Vec<&str> = alerts.iter().map(|a| a.message.as_str()).collect();
        let rows = c
            .query(
                &stmt,
                &[&ids, &kinds, &jobs, &runs, &since, &raised, &messages],
            )
            .await
            .map_err(pg)?;
        let opened: std::collections::HashSet<(String, String)> = rows
            .iter()
            .filter(|r| r.get::<_, bool>(2))
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        alerts.retain(|a| opened.contains(&(a.task_id.clone(), a.kind.as_str().to_string())));
        Ok(alerts)
    }

    pub(super) async fn sweep_alerts(&self, scan: AlertScan) -> Result<AlertSweep, Error> {
        let c = self.client().await?;
        let limit = i64::try_from(scan.limit).unwrap_or(i64::MAX);
        let failing_after = i32::try_from(scan.failing_after).unwrap_or(i32::MAX);
        // Ended by what happened, never by a clock (see `Store::sweep_alerts`). Joined on the
        // run id too: a raise that moved a missed alert on to a newer miss meanwhile makes the
        // row no longer match, and the delete leaves it (under read committed the row is
        // checked again as it now is).
        let resolve = c
            .prepare_cached(&format!(
                "delete from taskdeck_alerts d using ( \
                   select a.task_id, a.kind, a.run_id from taskdeck_alerts a \
                   left join taskdeck_tasks t on t.id = a.task_id \
                   where t.id is null \
                   or (a.kind = 'overdue' and (t.paused or t.next_fire is distinct from a.since)) \
                   or (a.kind = 'no_success' and (t.paused or t.success_due is null \
                       or t.last_success_at > a.since)) \
                   or (a.kind = 'failing' and t.last_success_run_id > coalesce(a.run_id, 0)) \
                   or (a.kind = 'running_long' and not exists (select 1 from taskdeck_runs r \
                       where r.id = a.run_id and r.status = 'running')) \
                   or (a.kind in ('missed', 'skipped') and exists (select 1 from taskdeck_runs r \
                       where r.task_id = a.task_id and r.id > a.run_id and r.cause = 'schedule' \
                       and r.status not in ('missed', 'skipped'))) \
                   limit $1) e \
                 where d.task_id = e.task_id and d.kind = e.kind \
                   and d.run_id is not distinct from e.run_id \
                 returning {DELETED_COLS}"
            ))
            .await
            .map_err(pg)?;
        let overdue = c
            .prepare_cached(
                "select id, job, next_fire from taskdeck_tasks t \
                 where next_fire < $1 and next_fire is not null and not paused and running = 0 \
                 and not exists (select 1 from taskdeck_alerts a \
                   where a.task_id = t.id and a.kind = 'overdue') \
                 order by next_fire limit $2",
            )
            .await
            .map_err(pg)?;
        let no_success = c
            .prepare_cached(
                "select id, job, coalesce(last_success_at, created_at), no_success_within_ms \
                 from taskdeck_tasks t \
                 where success_due < $1 and success_due is not null and not paused \
                 and not exists (select 1 from taskdeck_alerts a \
                   where a.task_id = t.id and a.kind = 'no_success') \
                 order by success_due limit $2",
            )
            .await
            .map_err(pg)?;
        let failing = c
            .prepare_cached(
                "select id, job, fail_streak, last_fail_run_id, \
                   coalesce(last_finished_at, updated_at) \
                 from taskdeck_tasks t where fail_streak >= $1 and fail_streak > 0 \
                 and not exists (select 1 from taskdeck_alerts a \
                   where a.task_id = t.id and a.kind = 'failing') \
                 limit $2",
            )
            .await
            .map_err(pg)?;
        // The oldest first (ids grow with their start): the longest runs are looked at first.
        let long = c
            .prepare_cached(
                "select r.id, r.task_id, r.job, r.started_at, t.expect_within_ms \
                 from taskdeck_runs r left join taskdeck_tasks t on t.id = r.task_id \
                 where r.status = 'running' and r.started_at < $1 \
                 and not exists (select 1 from taskdeck_alerts a \
                   where a.task_id = r.task_id and a.kind = 'running_long') \
                 order by r.id limit $2",
            )
            .await
            .map_err(pg)?;
        // Sent together; the server runs them in this order, each seeing what the one
        // before committed.
        let p_resolve: [&(dyn ToSql + Sync); 1] = [&limit];
        let p_overdue: [&(dyn ToSql + Sync); 2] = [&scan.overdue_before, &limit];
        let p_no_success: [&(dyn ToSql + Sync); 2] = [&scan.now, &limit];
        let p_failing: [&(dyn ToSql + Sync); 2] = [&failing_after, &limit];
        let p_long: [&(dyn ToSql + Sync); 2] = [&scan.long_before, &limit];
        let (resolved, overdue, no_success, failing, long) = tokio::join!(
            c.query(&resolve, &p_resolve),
            c.query(&overdue, &p_overdue),
            c.query(&no_success, &p_no_success),
            c.query(&failing, &p_failing),
            c.query(&long, &p_long),
        );
        let now = scan.now;
        let mut out = AlertSweep {
            resolved: resolved
                .map_err(pg)?
                .iter()
                .filter_map(alert_row)
                .map(|a| Alert {
                    resolved_at: Some(now),
                    ..a
                })
                .collect(),
            ..AlertSweep::default()
        };
        for r in overdue.map_err(pg)? {
            out.found
                .push(Alert::overdue(r.get(0), r.get(1), r.get(2), now));
        }
        for r in no_success.map_err(pg)? {
            let within = duration_ms(r.get(3)).unwrap_or_default();
            out.found
                .push(Alert::no_success(r.get(0), r.get(1), r.get(2), within, now));
        }
        for r in failing.map_err(pg)? {
            let streak = r.get::<_, i32>(2).max(0) as u32;
            let run = r.get::<_, Option<i64>>(3).map(|i| i.max(0) as RunId);
            out.found.push(Alert::failing(
                r.get(0),
                r.get(1),
                streak,
                run,
                r.get(4),
                now,
            ));
        }
        out.long_runs = long
            .map_err(pg)?
            .iter()
            .map(|r| LongRun {
                run_id: r.get::<_, i64>(0).max(0) as RunId,
                task_id: r.get(1),
                job: r.get(2),
                started_at: r.get(3),
                expect_within: duration_ms(r.get(4)),
            })
            .collect();
        Ok(out)
    }

    pub(super) async fn alerts(&self, task_id: Option<&str>) -> Result<Vec<Alert>, Error> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "select {ALERT_COLS} from taskdeck_alerts where $1::text is null or task_id = $1 \
                 order by raised_at, task_id limit 1000"
            ))
            .await
            .map_err(pg)?;
        let rows = c.query(&stmt, &[&task_id]).await.map_err(pg)?;
        Ok(rows.iter().filter_map(alert_row).collect())
    }

    pub(super) async fn alert_counts(&self) -> Result<Vec<(AlertKind, u64)>, Error> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("select kind, count(*) from taskdeck_alerts group by kind")
            .await
            .map_err(pg)?;
        let rows = c.query(&stmt, &[]).await.map_err(pg)?;
        Ok(AlertKind::ALL
            .iter()
            .map(|k| {
                let n = rows
                    .iter()
                    .find(|r| r.get::<_, &str>(0) == k.as_str())
                    .map_or(0, |r| r.get::<_, i64>(1).max(0) as u64);
                (*k, n)
            })
            .collect())
    }
}
