//! Tasks in PostgreSQL: add, change, remove, read, list with every dashboard filter and sort,
//! and claim due fires with `FOR UPDATE SKIP LOCKED`.

use super::*;

// The claim and next-due queries test the job as `(job || '') = any(…)`, which no index
// serves, so the planner walks the due index in fire order and stops at the limit. Given
// `job = any(…)` it picked the job index on estimates gone stale as claims rewrite rows, and
// sorted every matching row: 838 µs a claim at 2,000 fires a second over 2,000 tasks, 95 µs
// now (`pg_stat_statements`).

/// A duration as whole milliseconds for a `bigint` column.
pub(super) fn millis(d: Option<std::time::Duration>) -> Option<i64> {
    d.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Shared {
    pub(super) async fn insert(&self, rec: TaskRecord) -> Result<(), Error> {
        let c = self.client().await?;
        let t = &rec.task;
        let (spec, haystack) = task_columns(t)?;
        let payload = self.notice(&Event::TaskAdded {
            task_id: t.id.clone(),
        });
        let stmt = c
            .prepare_cached(
                "with i as (insert into taskdeck_tasks (id, name_key, haystack, job, trigger_kind, \
                 spec, paused, anchor, created_at, updated_at, next_fire, expect_within_ms, \
                 no_success_within_ms, success_due) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $14, $15, \
                   $9::timestamptz + $15::int8 * interval '1 millisecond') returning id) \
                 select pg_notify($12, $13) from i",
            )
            .await
            .map_err(pg)?;
        let r = c
            .execute(
                &stmt,
                &[
                    &t.id,
                    &String::from(lower(&t.name)),
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
                    &millis(t.options.expect_within),
                    &millis(t.options.no_success_within),
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
    pub(super) async fn modify(
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
        let (spec, haystack) = task_columns(t)?;
        let update = tx
            .prepare_cached(
                "update taskdeck_tasks set name_key = $2, haystack = $3, job = $4, \
                 trigger_kind = $5, spec = $6, paused = $7, anchor = $8, updated_at = $9, \
                 next_fire = $10, expect_within_ms = $11, no_success_within_ms = $12, \
                 success_due = coalesce(last_success_at, created_at) + $12::int8 * interval '1 millisecond' \
                 where id = $1",
            )
            .await
            .map_err(pg)?;
        tx.execute(
            &update,
            &[
                &id,
                &String::from(lower(&t.name)),
                &haystack,
                &t.job,
                &rec.trigger.kind().as_str(),
                &spec,
                &t.paused,
                &rec.anchor,
                &rec.updated_at,
                &rec.next_fire,
                &millis(t.options.expect_within),
                &millis(t.options.no_success_within),
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

    pub(super) async fn remove(&self, id: &str) -> Result<TaskRecord, Error> {
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

    pub(super) async fn get(&self, id: &str) -> Result<Option<TaskRecord>, Error> {
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

    /// Every task that will fire, in one statement (the timeline's plan).
    pub(super) async fn scheduled(&self) -> Result<Vec<TaskRecord>, Error> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "select {TASK_COLS} from taskdeck_tasks \
                     where not paused and next_fire is not null"
                ),
                &[],
            )
            .await
            .map_err(pg)?;
        let tz = self.tz();
        rows.iter().map(|r| self.task_row(r, &tz)).collect()
    }

    pub(super) async fn list(&self, q: &TaskQuery) -> Result<Page<TaskRecord>, Error> {
        let (page, per_page, offset) = paging(q.page, q.per_page);
        let mut filters = Filters::default();
        let needle =
            q.q.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(lower);
        let searched = needle.is_some();
        // Through the search text's own table, where a trigram index serves `like`; `bound`
        // narrows the ids it gives (see the id sort's cursor below).
        let search = |param: usize, bound: &str| {
            format!("id in (select id from taskdeck_task_text where haystack like ${param}{bound})")
        };
        let search_param = needle.map(|n| filters.push(like_pattern(&n)));
        if let Some(p) = search_param {
            filters.add_bare(&search(p, ""));
        }
        if let Some(s) = q.state {
            filters.add("state = $", state_ix(s));
        }
        if let Some(j) = &q.job {
            filters.add("job = $", j.clone());
        }
        if let Some(k) = q.trigger {
            filters.add("trigger_kind = $", k.as_str());
        }
        if q.attention {
            filters.add_bare("id in (select task_id from taskdeck_alerts)");
        }
        // Nulls (no next fire, never run) sort last, as `infinity` in the stored keys: every
        // sort key is then a plain value, so a cursor's place is one row comparison that the
        // sort's index serves.
        const NEXT: &str = "next_key";
        const LAST: &str = "last_key";
        let keys: &[&str] = match q.sort {
            TaskSort::NextRun => &[NEXT, "id"],
            TaskSort::Name => &["name_key", "id"],
            TaskSort::Id => &["id"],
            TaskSort::LastRun => &[LAST, "id"],
            TaskSort::State => &["state", NEXT, "id"],
        };
        // A page before a cursor is read backwards from it, then turned round.
        let backwards = q.cursor.as_ref().is_some_and(|c| c.is_before());
        let dir = if q.desc != backwards { "desc" } else { "asc" };
        let order = keys
            .iter()
            .map(|k| format!("{k} {dir}"))
            .collect::<Vec<_>>()
            .join(", ");
        let (mut rows, total, estimated, more) = match &q.cursor {
            None => {
                let (rows, total, estimated) = self
                    .fetch_page(
                        "taskdeck_tasks",
                        TASK_COLS,
                        &filters,
                        &order,
                        per_page,
                        offset,
                        searched,
                    )
                    .await?;
                (rows, total, estimated, None)
            }
            Some(c) => {
                let base = filters.len();
                let mut values: Vec<String> = Vec::with_capacity(keys.len());
                for k in keys {
                    let n = match *k {
                        "id" => filters.push(c.id().to_string()),
                        "name_key" => filters.push(c.name().to_string()),
                        "state" => filters.push(i16::from(c.state_rank())),
                        _ => filters.push(c.at()),
                    };
                    values.push(match *k {
                        NEXT | LAST => {
                            format!("coalesce(${n}::timestamptz, 'infinity'::timestamptz)")
                        }
                        _ => format!("${n}"),
                    });
                }
                let op = if dir == "desc" { "<" } else { ">" };
                // In id order a search's matches are joined to the tasks by merging both in id
                // order: the search side must start at the cursor too, or it is walked from
                // its end (50,000 ids for a page 1,000 deep, 28 ms). The search is the first
                // filter; said again with the bound for the rows only (the count has none).
                let rows_where = search_param.filter(|_| q.sort == TaskSort::Id).map(|p| {
                    let mut conds = filters.conds.clone();
                    conds[0] = search(p, &format!(" and id {op} {}", values[0]));
                    conds.push(format!("id {op} {}", values[0]));
                    format!("where {}", conds.join(" and "))
                });
                filters.add_bare(&format!(
                    "({}) {op} ({})",
                    keys.join(", "),
                    values.join(", ")
                ));
                let (rows, total, estimated, more) = self
                    .fetch_keyset(
                        "taskdeck_tasks",
                        TASK_COLS,
                        &filters,
                        base,
                        rows_where,
                        &order,
                        per_page,
                        offset,
                    )
                    .await?;
                (rows, total, estimated, Some(more))
            }
        };
        if backwards {
            rows.reverse();
        }
        let tz = self.tz();
        let items = rows
            .iter()
            .map(|r| self.task_row(r, &tz))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            total,
            estimated,
            page,
            per_page,
            more,
        })
    }

    pub(super) fn jobs_filter(&self) -> Vec<String> {
        self.jobs.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) async fn claim_due(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueFire>, Error> {
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
                 where next_fire <= $1 and next_fire is not null and not paused and (job || '') = any($2) \
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

    pub(super) async fn next_due(&self) -> Result<Option<Timestamp>, Error> {
        let jobs = self.jobs_filter();
        if jobs.is_empty() {
            return Ok(None);
        }
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "select next_fire from taskdeck_tasks \
                 where next_fire is not null and not paused and (job || '') = any($1) \
                 order by next_fire limit 1",
            )
            .await
            .map_err(pg)?;
        Ok(c.query_opt(&stmt, &[&jobs])
            .await
            .map_err(pg)?
            .map(|r| r.get(0)))
    }

    pub(super) async fn jobs(&self) -> Result<Vec<String>, Error> {
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
}
