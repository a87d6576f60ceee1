//! The schema, created and migrated on connect.
//!
//! Migrations are numbered and applied in order inside one transaction that first takes a
//! transaction-scoped advisory lock keyed by the schema name, so replicas starting at once
//! wait for each other instead of racing on `CREATE TABLE`. The applied version is kept in
//! `taskdeck_meta`; a database newer than this build is refused.

use tokio_postgres::Client;

use super::{pg, quote_ident};
use crate::scheduler::error::Error;

/// Each entry moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: tasks, runs, counters, instances, audit.
    r#"
    create table taskdeck_tasks (
        id text collate "C" primary key,
        name_key text collate "C" not null,
        haystack text not null,
        job text collate "C" not null,
        trigger_kind text not null,
        spec jsonb not null,
        paused boolean not null default false,
        anchor timestamptz not null,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        next_fire timestamptz,
        running integer not null default 0,
        last_run_id bigint,
        last_status text,
        last_scheduled_at timestamptz,
        last_finished_at timestamptz,
        last_error text,
        last_at timestamptz generated always as (coalesce(last_finished_at, last_scheduled_at)) stored,
        state smallint generated always as (
            case when running > 0 then 1 when paused then 2 when next_fire is null then 3 else 0 end
        ) stored
    );
    create index taskdeck_tasks_due on taskdeck_tasks (next_fire, id) where next_fire is not null and not paused;
    create index taskdeck_tasks_next on taskdeck_tasks (next_fire, id);
    create index taskdeck_tasks_name on taskdeck_tasks (name_key, id);
    create index taskdeck_tasks_last on taskdeck_tasks (last_at, id);
    create index taskdeck_tasks_state on taskdeck_tasks (state, next_fire, id);
    create index taskdeck_tasks_job on taskdeck_tasks (job, next_fire, id);
    create index taskdeck_tasks_kind on taskdeck_tasks (trigger_kind, next_fire, id);

    create table taskdeck_runs (
        id bigint generated always as identity primary key,
        task_id text collate "C" not null,
        job text not null,
        cause text not null,
        scheduled_at timestamptz not null,
        started_at timestamptz,
        finished_at timestamptz,
        status text not null,
        error text,
        attempt integer not null,
        logs jsonb not null default '[]',
        logs_dropped integer not null default 0,
        instance_id text,
        lease_until timestamptz
    );
    create index taskdeck_runs_task on taskdeck_runs (task_id, id);
    create index taskdeck_runs_status on taskdeck_runs (status, id);
    create index taskdeck_runs_scheduled on taskdeck_runs (scheduled_at);
    create index taskdeck_runs_going on taskdeck_runs (instance_id) where status = 'running';

    create table taskdeck_status_totals (
        status text primary key,
        count bigint not null
    );
    create table taskdeck_job_durations (
        job text primary key,
        buckets bigint[] not null,
        count bigint not null,
        sum_seconds double precision not null
    );
    create table taskdeck_minutes (
        minute bigint primary key,
        runs bigint not null,
        failures bigint not null,
        not_run bigint not null
    );

    create table taskdeck_instances (
        id text primary key,
        host text not null,
        pid integer not null,
        started_at timestamptz not null,
        heartbeat_at timestamptz not null,
        running bigint not null,
        jobs text[] not null
    );

    create table taskdeck_audit (
        id bigint generated always as identity primary key,
        at timestamptz not null,
        actor text not null,
        address text,
        action text not null,
        target text,
        outcome text not null
    );
    "#,
    // 2: ended sessions, shared by every replica's dashboard.
    r#"
    create table taskdeck_revocations (
        id bigint generated always as identity primary key,
        sid text,
        user_id text not null,
        at_ms bigint not null,
        until bigint not null
    );
    create index taskdeck_revocations_until on taskdeck_revocations (until);
    "#,
    // 3: what a run ran with and returned, and the run a retry follows.
    r#"
    alter table taskdeck_runs
        add column args jsonb,
        add column result jsonb,
        add column retry_of bigint;
    -- A run is retried at most once, whichever replica starts it.
    create unique index taskdeck_runs_retry_of on taskdeck_runs (retry_of) where retry_of is not null;
    "#,
    // 4: tasks' search text in a table of its own, which fires never write: an index on it
    // (a trigram index where the database allows `pg_trgm`, see `trigram_indexes`) is not
    // rewritten each time a claim moves a task's next fire. A trigger keeps it equal to
    // `taskdeck_tasks.haystack` whoever writes the task.
    r#"
    create table taskdeck_task_text (
        id text collate "C" primary key references taskdeck_tasks (id) on delete cascade,
        haystack text not null
    );
    create function taskdeck_task_text_sync() returns trigger language plpgsql
    set search_path from current as $$
    begin
        insert into taskdeck_task_text (id, haystack) values (new.id, new.haystack)
        on conflict (id) do update set haystack = excluded.haystack
        where taskdeck_task_text.haystack is distinct from excluded.haystack;
        return null;
    end $$;
    create trigger taskdeck_task_text_sync after insert or update of haystack on taskdeck_tasks
        for each row execute function taskdeck_task_text_sync();
    lock table taskdeck_tasks in share row exclusive mode;
    insert into taskdeck_task_text (id, haystack) select id, haystack from taskdeck_tasks;
    "#,
    // 5: runs' search text (error and log lines, lower-cased, parted by U+001F), so that a
    // search reads no JSON; written with each run's end. Filled in for the newest runs, the
    // only ones a search looks through.
    r#"
    alter table taskdeck_runs add column search text;
    update taskdeck_runs set search = nullif(lower(concat_ws(E'\x1f', error,
        (select string_agg(l ->> 'message', E'\x1f' order by o)
         from jsonb_array_elements(logs) with ordinality as x(l, o)))), '')
    where status <> 'running'
      and id > (select coalesce(max(id), 0) from taskdeck_runs) - 100000;
    "#,
    // 6: the newest run id at the last prune: tasks with no run since are within their limit.
    r#"
    alter table taskdeck_meta add column pruned_through bigint not null default 0;
    "#,
    // 7: how many tasks are in each state but running (0 scheduled, 2 paused, 3 completed),
    // kept by triggers so that the overview reads a few rows instead of counting every task.
    // Each server backend adds its changes to rows of its own (`slot` = its process id), so
    // replicas never wait on each other for a count; a fold now and then moves them into
    // slot 0 (`Shared::fold_task_counts`). Fires change none of it unless a task completes.
    // Adds and removals are counted per statement, so a bulk insert costs one upsert per
    // state; a truncate clears the counts.
    r#"
    create table taskdeck_task_counts (
        slot integer not null,
        state smallint not null,
        n bigint not null,
        primary key (slot, state)
    );
    -- A change of one task's state: an update that pauses, resumes or completes it. At most
    -- a claim's batch (256 tasks) changes in one statement.
    create function taskdeck_task_counts_sync() returns trigger language plpgsql
    set search_path from current as $$
    declare
        gone smallint := case when old.paused then 2 when old.next_fire is null then 3 else 0 end;
        came smallint := case when new.paused then 2 when new.next_fire is null then 3 else 0 end;
    begin
        if gone <> came then
            insert into taskdeck_task_counts (slot, state, n)
            values (pg_backend_pid(), gone, -1), (pg_backend_pid(), came, 1)
            on conflict (slot, state) do update set n = taskdeck_task_counts.n + excluded.n;
        end if;
        return null;
    end $$;
    -- Tasks added or removed, counted per statement (one upsert per state however many rows).
    create function taskdeck_task_counts_rows() returns trigger language plpgsql
    set search_path from current as $$
    begin
        if tg_op = 'INSERT' then
            insert into taskdeck_task_counts (slot, state, n)
            select pg_backend_pid(), case when paused then 2 when next_fire is null then 3 else 0 end,
                count(*)
            from came group by 2
            on conflict (slot, state) do update set n = taskdeck_task_counts.n + excluded.n;
        elsif tg_op = 'DELETE' then
            insert into taskdeck_task_counts (slot, state, n)
            select pg_backend_pid(), case when paused then 2 when next_fire is null then 3 else 0 end,
                -count(*)
            from gone group by 2
            on conflict (slot, state) do update set n = taskdeck_task_counts.n + excluded.n;
        else
            delete from taskdeck_task_counts;
        end if;
        return null;
    end $$;
    create trigger taskdeck_task_counts_change after update of paused, next_fire on taskdeck_tasks
        for each row when (old.paused is distinct from new.paused
            or (old.next_fire is null) is distinct from (new.next_fire is null))
        execute function taskdeck_task_counts_sync();
    create trigger taskdeck_task_counts_add after insert on taskdeck_tasks
        referencing new table as came for each statement
        execute function taskdeck_task_counts_rows();
    create trigger taskdeck_task_counts_remove after delete on taskdeck_tasks
        referencing old table as gone for each statement
        execute function taskdeck_task_counts_rows();
    create trigger taskdeck_task_counts_clear after truncate on taskdeck_tasks
        for each statement execute function taskdeck_task_counts_rows();
    lock table taskdeck_tasks in share row exclusive mode;
    insert into taskdeck_task_counts (slot, state, n)
    select 0, case when paused then 2 when next_fire is null then 3 else 0 end, count(*)
    from taskdeck_tasks group by 2;
    "#,
    // 8: alerts. What a check looks for, kept on the task so that each look is an index range
    // over the few tasks that need one: failed runs in a row (written with each run's end),
    // when a success is due (tasks with `no_success_within` only) and the task's run-time
    // bound. Open alerts, one per task and kind: the process whose insert opens one tells it.
    r#"
    alter table taskdeck_tasks
        add column fail_streak integer not null default 0,
        add column last_fail_run_id bigint,
        add column last_success_at timestamptz,
        add column last_success_run_id bigint,
        add column no_success_within_ms bigint,
        add column success_due timestamptz,
        add column expect_within_ms bigint;
    create index taskdeck_tasks_failing on taskdeck_tasks (fail_streak) where fail_streak > 0;
    create index taskdeck_tasks_success_due on taskdeck_tasks (success_due, id) where success_due is not null;
    -- Each task's last success from the history kept (a window set later counts from it).
    update taskdeck_tasks t set last_success_at = s.at, last_success_run_id = s.id
    from (select task_id, max(finished_at) as at, max(id) as id from taskdeck_runs
          where status = 'succeeded' group by task_id) s
    where s.task_id = t.id;
    -- Runs per job and hour (the hour's first minute since the epoch), every run counted:
    -- the jobs page's day, which agrees with the overview's. Written with the other counters.
    create table taskdeck_job_hours (
        job text collate "C" not null,
        hour bigint not null,
        runs bigint not null,
        failures bigint not null,
        not_run bigint not null,
        primary key (job, hour)
    );
    create table taskdeck_alerts (
        task_id text collate "C" not null,
        kind text not null,
        job text not null,
        run_id bigint,
        since timestamptz not null,
        raised_at timestamptz not null,
        message text not null,
        primary key (task_id, kind)
    );
    "#,
    // 9: the list sorts' keys with nulls as `infinity` (no next fire, never run: last in
    // ascending order, as before), stored, so that a page after a cursor is one row
    // comparison the sort's index serves at any depth, and a page by number still skips its
    // offset over the index alone (an index on an expression is read with its rows).
    r#"
    alter table taskdeck_tasks
        add column if not exists next_key timestamptz not null
            generated always as (coalesce(next_fire, 'infinity'::timestamptz)) stored,
        add column if not exists last_key timestamptz not null
            generated always as (coalesce(last_finished_at, last_scheduled_at, 'infinity'::timestamptz)) stored;
    drop index if exists taskdeck_tasks_next;
    drop index if exists taskdeck_tasks_last;
    drop index if exists taskdeck_tasks_state;
    drop index if exists taskdeck_tasks_job;
    drop index if exists taskdeck_tasks_kind;
    create index taskdeck_tasks_next on taskdeck_tasks (next_key, id);
    create index taskdeck_tasks_last on taskdeck_tasks (last_key, id);
    create index taskdeck_tasks_state on taskdeck_tasks (state, next_key, id);
    create index taskdeck_tasks_job on taskdeck_tasks (job, next_key, id);
    create index taskdeck_tasks_kind on taskdeck_tasks (trigger_kind, next_key, id);
    "#,
    // 10: the task counts of migration 7 per job too (the jobs page: each job's tasks and
    // paused tasks, exact, from a few rows); a task moved to another job moves its count.
    // Made again from the tasks, so running it twice is harmless.
    r#"
    drop trigger if exists taskdeck_task_counts_change on taskdeck_tasks;
    drop trigger if exists taskdeck_task_counts_add on taskdeck_tasks;
    drop trigger if exists taskdeck_task_counts_remove on taskdeck_tasks;
    drop trigger if exists taskdeck_task_counts_clear on taskdeck_tasks;
    drop function if exists taskdeck_task_counts_sync();
    drop function if exists taskdeck_task_counts_rows();
    drop table if exists taskdeck_task_counts;
    create table taskdeck_task_counts (
        slot integer not null,
        job text collate "C" not null,
        state smallint not null,
        n bigint not null,
        primary key (slot, job, state)
    );
    create function taskdeck_task_counts_sync() returns trigger language plpgsql
    set search_path from current as $$
    declare
        gone smallint := case when old.paused then 2 when old.next_fire is null then 3 else 0 end;
        came smallint := case when new.paused then 2 when new.next_fire is null then 3 else 0 end;
    begin
        if gone <> came or old.job <> new.job then
            insert into taskdeck_task_counts (slot, job, state, n)
            values (pg_backend_pid(), old.job, gone, -1), (pg_backend_pid(), new.job, came, 1)
            on conflict (slot, job, state) do update set n = taskdeck_task_counts.n + excluded.n;
        end if;
        return null;
    end $$;
    create function taskdeck_task_counts_rows() returns trigger language plpgsql
    set search_path from current as $$
    begin
        if tg_op = 'INSERT' then
            insert into taskdeck_task_counts (slot, job, state, n)
            select pg_backend_pid(), job,
                case when paused then 2 when next_fire is null then 3 else 0 end, count(*)
            from came group by 2, 3
            on conflict (slot, job, state) do update set n = taskdeck_task_counts.n + excluded.n;
        elsif tg_op = 'DELETE' then
            insert into taskdeck_task_counts (slot, job, state, n)
            select pg_backend_pid(), job,
                case when paused then 2 when next_fire is null then 3 else 0 end, -count(*)
            from gone group by 2, 3
            on conflict (slot, job, state) do update set n = taskdeck_task_counts.n + excluded.n;
        else
            delete from taskdeck_task_counts;
        end if;
        return null;
    end $$;
    create trigger taskdeck_task_counts_change after update of paused, next_fire, job on taskdeck_tasks
        for each row when (old.paused is distinct from new.paused
            or (old.next_fire is null) is distinct from (new.next_fire is null)
            or old.job is distinct from new.job)
        execute function taskdeck_task_counts_sync();
    create trigger taskdeck_task_counts_add after insert on taskdeck_tasks
        referencing new table as came for each statement
        execute function taskdeck_task_counts_rows();
    create trigger taskdeck_task_counts_remove after delete on taskdeck_tasks
        referencing old table as gone for each statement
        execute function taskdeck_task_counts_rows();
    create trigger taskdeck_task_counts_clear after truncate on taskdeck_tasks
        for each statement execute function taskdeck_task_counts_rows();
    lock table taskdeck_tasks in share row exclusive mode;
    insert into taskdeck_task_counts (slot, job, state, n)
    select 0, job, case when paused then 2 when next_fire is null then 3 else 0 end, count(*)
    from taskdeck_tasks group by 2, 3;
    "#,
    // 11: runs by job, newest first: the runs list's job filter and the jobs page's durations
    // read a job's newest runs from it instead of walking every newer run of the others (a
    // rare job over 1,000,000 runs: 240 ms p99).
    r#"
    create index if not exists taskdeck_runs_job on taskdeck_runs (job, id);
    "#,
    // 12: a running run's progress, as its job last told; its log lines are written while
    // it runs too, so that every replica's dashboard shows them.
    r#"
    alter table taskdeck_runs add column if not exists progress jsonb;
    "#,
];

/// The trigram indexes: name, table, column, storage options and which rows. Made when
/// `pg_trgm` can be had, on the first connect that can (see `trigram_indexes`).
///
/// A GIN index queues new entries in a pending list that every search reads through until it
/// is merged. Tasks change rarely: theirs is merged at each write (`fastupdate = off`). Runs
/// end all the time: theirs queues, but at most 256 kB instead of the default 4 MB, so that
/// what a search reads through stays small.
const TRIGRAM_INDEXES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "taskdeck_task_text_trgm",
        "taskdeck_task_text",
        "haystack",
        "fastupdate = off",
        "",
    ),
    (
        "taskdeck_runs_search_trgm",
        "taskdeck_runs",
        "search",
        "gin_pending_list_limit = 256",
        "where search is not null",
    ),
];

/// The schema version this build writes.
pub(crate) const VERSION: i32 = MIGRATIONS.len() as i32;

/// Creates or migrates the schema `schema`. Safe to run from many processes at once.
pub(crate) async fn migrate(client: &mut Client, schema: &str) -> Result<i32, Error> {
    // Read committed whatever the server's default: a backfill under the table lock a
    // migration takes must see every task committed before it (under repeatable read its
    // snapshot would date from before the lock).
    let mut tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(pg)?;
    tx.execute(
        "select pg_advisory_xact_lock(hashtext('taskdeck.migrate.' || $1::text))",
        &[&schema],
    )
    .await
    .map_err(pg)?;
    let ident = quote_ident(schema);
    // `if not exists` on a schema, table, extension or index that is there makes the server
    // send a NOTICE ("… already exists, skipping"), which the client logs at INFO on every
    // start. They say nothing: this transaction asks for warnings and worse only.
    tx.batch_execute(&format!(
        "set local client_min_messages to warning;
         create schema if not exists {ident};
         set local search_path to {ident};
         create table if not exists taskdeck_meta (version integer not null);"
    ))
    .await
    .map_err(pg)?;
    let current: i32 = match tx
        .query_opt("select version from taskdeck_meta", &[])
        .await
        .map_err(pg)?
    {
        Some(row) => row.get(0),
        None => {
            tx.execute("insert into taskdeck_meta (version) values (0)", &[])
                .await
                .map_err(pg)?;
            0
        }
    };
    if current > VERSION {
        return Err(Error::Store(format!(
            "the database schema {schema:?} is at version {current}, newer than this build of \
             taskdeck understands ({VERSION}); upgrade taskdeck on this replica"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tracing::info!(
            schema,
            version = i + 1,
            "applying taskdeck schema migration"
        );
        tx.batch_execute(sql).await.map_err(pg)?;
    }
    // Made on the first connect that can: a database migrated without `pg_trgm` gets them
    // once an administrator has run CREATE EXTENSION pg_trgm.
    let names: Vec<&str> = TRIGRAM_INDEXES.iter().map(|i| i.0).collect();
    let missing: bool = tx
        .query_one(
            "select bool_or(to_regclass(n) is null) from unnest($1::text[]) n",
            &[&names],
        )
        .await
        .map_err(pg)?
        .get(0);
    if missing {
        trigram_indexes(&mut tx).await?;
    }
    tx.execute("update taskdeck_meta set version = $1", &[&VERSION])
        .await
        .map_err(pg)?;
    tx.commit().await.map_err(pg)?;
    Ok(VERSION)
}

/// Indexes the search texts for substring search with `pg_trgm` when the database has the
/// extension or lets this user create it (it is a trusted extension: the database's `CREATE`
/// privilege suffices). Otherwise search stays a scan, of the search text's own table for
/// tasks and of the newest runs' search column for runs.
///
/// The extension goes to `public` when this user may create there, else to this schema; the
/// index names the operator class with the schema the extension is in, wherever that is.
async fn trigram_indexes(tx: &mut tokio_postgres::Transaction<'_>) -> Result<(), Error> {
    // One creator at a time across schemas: two first migrations at once would otherwise race
    // on the extension's catalog row.
    tx.execute(
        "select pg_advisory_xact_lock(hashtext('taskdeck.pg_trgm'))",
        &[],
    )
    .await
    .map_err(pg)?;
    for create in [
        "create extension if not exists pg_trgm with schema public",
        "create extension if not exists pg_trgm",
    ] {
        let sp = tx.savepoint("taskdeck_trgm").await.map_err(pg)?;
        match sp.batch_execute(create).await {
            Ok(()) => {
                sp.commit().await.map_err(pg)?;
                break;
            }
            Err(e) => {
                tracing::debug!(error = %pg(e), "{create}: not allowed");
                sp.rollback().await.map_err(pg)?;
            }
        }
    }
    let at: Option<String> = tx
        .query_opt(
            "select n.nspname::text from pg_extension e \
             join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pg_trgm'",
            &[],
        )
        .await
        .map_err(pg)?
        .map(|r| r.get(0));
    match at {
        Some(nsp) => {
            for (name, table, column, with, rows) in TRIGRAM_INDEXES {
                // One that cannot be made (no right to use the extension's schema) leaves
                // search scanning; the replica starts all the same.
                let sp = tx.savepoint("taskdeck_trgm_index").await.map_err(pg)?;
                match sp
                    .batch_execute(&format!(
                        "create index if not exists {name} on {table} \
                         using gin ({column} {}.gin_trgm_ops) with ({with}) {rows}",
                        quote_ident(&nsp)
                    ))
                    .await
                {
                    Ok(()) => sp.commit().await.map_err(pg)?,
                    Err(e) => {
                        tracing::warn!(index = name, error = %pg(e),
                            "cannot make a trigram index: search scans instead");
                        sp.rollback().await.map_err(pg)?;
                    }
                }
            }
        }
        None => tracing::info!(
            "pg_trgm is not available to this database user: task search scans the search \
             text instead of using a trigram index (CREATE EXTENSION pg_trgm enables it)"
        ),
    }
    Ok(())
}
