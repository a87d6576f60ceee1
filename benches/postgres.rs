//! The PostgreSQL store under load (feature `postgres`, a server at
//! `TASKDECK_TEST_DATABASE_URL`; `eval "$(scripts/pg-test-server)"` starts one):
//!
//! 1. burst: 3 replicas in this process share one schedule; 20,000 one-off tasks come due
//!    within the same second; fires per second from the first due time to the last run stored.
//! 2. sustained: 3 replicas, 2,000 interval tasks each firing every second at its own phase
//!    (0.5 ms apart), for 10 s; runs per second, how late runs start (p50 / p99), and the CPU
//!    time per fire of the replicas and of the PostgreSQL server.
//! 3. dashboard queries over 100,000 stored tasks: list pages with each filter and sort, a
//!    search, and the overview counts; then the runs page over 1,000,000 stored runs and the
//!    audit page over a full log (11,000 entries); median and p99 of 200 calls each, after
//!    `vacuum (analyze)` (the steady state autovacuum keeps).
//!
//! Each part drops its schema at the end (`TASKDECK_BENCH_KEEP=1` keeps them).
//!
//! `cargo bench -p taskdeck-benches --bench postgres`
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/pg.rs"]
mod pg;
use pg::drop_schema;
use taskdeck::store::*;
use taskdeck::*;

fn main() {
    let Ok(url) = std::env::var("TASKDECK_TEST_DATABASE_URL") else {
        eprintln!(
            "set TASKDECK_TEST_DATABASE_URL (eval \"$(scripts/pg-test-server)\") to run this bench"
        );
        return;
    };
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // TASKDECK_BENCH_ONLY=fires or =queries runs one half.
    let only = std::env::var("TASKDECK_BENCH_ONLY").unwrap_or_default();
    rt.block_on(async {
        if only != "queries" {
            burst(&url).await;
            sustained(&url).await;
        }
        if only != "fires" {
            queries(&url).await;
        }
    });
}

fn schema(name: &str) -> String {
    format!("bench_{name}_{:x}", fastrand::u32(..))
}

async fn replicas(url: &str, schema: &str, n: usize) -> (Vec<Scheduler>, Arc<Mutex<Vec<i64>>>) {
    let late_us: Arc<Mutex<Vec<i64>>> = Arc::default();
    let mut out = Vec::new();
    for _ in 0..n {
        let store = PostgresStore::builder(url)
            .schema(schema)
            .pool_size(16)
            .history(HistoryLimits {
                per_task: 10,
                total: 1_000_000,
            })
            .connect()
            .await
            .unwrap();
        let s = Scheduler::builder().store(store).build().unwrap();
        let late = late_us.clone();
        s.register("work", move |ctx: TaskContext| {
            let late = late.clone();
            async move {
                let l = Timestamp::now().duration_since(ctx.scheduled_at());
                late.lock().unwrap().push(l.as_micros() as i64);
                Ok(())
            }
        });
        out.push(s);
    }
    (out, late_us)
}

async fn add_all(s: &Scheduler, tasks: Vec<Task>) {
    // Sixteen adds at a time.
    let mut set = tokio::task::JoinSet::new();
    let chunks: Vec<Vec<Task>> = tasks
        .chunks(tasks.len().div_ceil(16).max(1))
        .map(<[Task]>::to_vec)
        .collect();
    for chunk in chunks {
        let s = s.clone();
        set.spawn(async move {
            for t in chunk {
                s.add(t).await.unwrap();
            }
        });
    }
    while set.join_next().await.is_some() {}
}

fn pct(v: &mut [i64], p: usize) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let i = ((p * v.len()).div_ceil(100)).max(1) - 1;
    v[i] as f64 / 1000.0
}

async fn burst(url: &str) {
    const N: u64 = 20_000;
    let schema = schema("burst");
    let (rs, late) = replicas(url, &schema, 3).await;
    let first = Timestamp::now() + Duration::from_secs(20);
    let tasks = (0..N)
        .map(|i| Task::new(format!("b-{i:06}"), "work").at(first + Duration::from_micros(i * 50)))
        .collect();
    let t = Instant::now();
    add_all(&rs[0], tasks).await;
    println!(
        "burst: added {N} tasks in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    for s in &rs {
        s.start().unwrap();
    }
    let wait = first.duration_since(Timestamp::now());
    tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(120);
    while (late.lock().unwrap().len() as u64) < N && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let done = late.lock().unwrap().len();
    let mut l = late.lock().unwrap().clone();
    println!(
        "burst: 3 replicas ran {done} fires due within 1 s in {secs:.2} s: {:.0} fires/s; start lateness p50 {:.0} ms, p99 {:.0} ms",
        done as f64 / secs,
        pct(&mut l, 50),
        pct(&mut l, 99)
    );
    for s in &rs {
        s.shutdown(Duration::from_secs(10)).await;
    }
    drop_schema(url, &schema).await;
}

async fn sustained(url: &str) {
    const TASKS: u64 = 2_000;
    let schema = schema("steady");
    let (rs, late) = replicas(url, &schema, 3).await;
    // Each task at its own phase, 0.5 ms apart: 2,000 fires spread evenly over each second.
    let base = Timestamp::now() + Duration::from_secs(2);
    let tasks = (0..TASKS)
        .map(|i| {
            Task::new(format!("s-{i:05}"), "work")
                .every_between(
                    Duration::from_secs(1),
                    Some(base + Duration::from_micros(i * 1_000_000 / TASKS)),
                    None,
                )
                .misfire_grace(Duration::from_secs(30))
        })
        .collect();
    add_all(&rs[0], tasks).await;
    for s in &rs {
        s.start().unwrap();
    }
    // Let the first fires settle, then measure 10 s.
    tokio::time::sleep(Duration::from_secs(3)).await;
    late.lock().unwrap().clear();
    let t = Instant::now();
    let (own, server) = (cpu::own_seconds(), cpu::postgres_seconds());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut l = std::mem::take(&mut *late.lock().unwrap());
    let (own, server) = (cpu::own_seconds() - own, cpu::postgres_seconds() - server);
    let secs = t.elapsed().as_secs_f64();
    let fires = l.len().max(1) as f64;
    println!(
        "sustained: CPU per fire: replicas {:.0} µs, PostgreSQL {:.0} µs ({:.0}% and {:.0}% of a core)",
        own / fires * 1e6,
        server / fires * 1e6,
        own / secs * 100.0,
        server / secs * 100.0
    );
    println!(
        "sustained: {TASKS} tasks every 1 s on 3 replicas: {:.0} runs/s (offered {TASKS}/s); start lateness p50 {:.1} ms, p99 {:.1} ms",
        l.len() as f64 / secs,
        pct(&mut l, 50),
        pct(&mut l, 99)
    );
    for s in &rs {
        s.shutdown(Duration::from_secs(10)).await;
    }
    drop_schema(url, &schema).await;
}

async fn queries(url: &str) {
    const N: u64 = 100_000;
    let schema = schema("list");
    let store = PostgresStore::builder(url)
        .schema(&schema)
        .pool_size(16)
        .connect()
        .await
        .unwrap();
    let s = Scheduler::builder().store(store.clone()).build().unwrap();
    for j in ["alpha", "beta", "gamma"] {
        s.register(j, |_ctx: TaskContext| async { Ok(()) });
    }
    let t = Instant::now();
    let tasks = (0..N)
        .map(|i| {
            let job = ["alpha", "beta", "gamma"][(i % 3) as usize];
            let t = Task::new(format!("task-{i:06}"), job).name(format!("Task number {i}"));
            let t = if i % 2 == 0 {
                t.every(Duration::from_secs(60 + i % 5000))
            } else {
                t.cron("0 */5 * * * *").unwrap()
            };
            t.paused(i % 7 == 0)
        })
        .collect();
    add_all(&s, tasks).await;
    println!(
        "queries: added {N} tasks in {:.1} s; resident memory of this replica: {:.0} MiB",
        t.elapsed().as_secs_f64(),
        resident_mib()
    );
    let calls = 200;
    let cases: Vec<(&str, TaskQuery)> = vec![
        ("first page, next-run order", TaskQuery::default()),
        (
            "page 100, next-run order",
            TaskQuery {
                page: 100,
                ..TaskQuery::default()
            },
        ),
        (
            "state=paused, name order",
            TaskQuery {
                state: Some(TaskState::Paused),
                sort: TaskSort::Name,
                ..TaskQuery::default()
            },
        ),
        (
            "job=beta, id order desc",
            TaskQuery {
                job: Some("beta".into()),
                sort: TaskSort::Id,
                desc: true,
                ..TaskQuery::default()
            },
        ),
        (
            "trigger=cron, last-run order",
            TaskQuery {
                trigger: Some(TriggerKind::Cron),
                sort: TaskSort::LastRun,
                ..TaskQuery::default()
            },
        ),
        (
            "state order",
            TaskQuery {
                sort: TaskSort::State,
                ..TaskQuery::default()
            },
        ),
        (
            "search \"number 4242\"",
            TaskQuery {
                q: Some("number 4242".into()),
                ..TaskQuery::default()
            },
        ),
    ];
    // A steady state: autovacuum has been by (statistics and visibility map up to date).
    let db = pg::admin(url).await;
    db.batch_execute(&format!("set search_path to {schema}"))
        .await
        .unwrap();
    db.batch_execute("vacuum (analyze) taskdeck_tasks")
        .await
        .unwrap();
    let settings: Vec<String> = db
        .query("select name || '=' || setting from pg_settings where name in ('fsync', 'synchronous_commit') order by name", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    println!("server: {}", settings.join(", "));
    println!("| query over {N} tasks (50 rows) | median | p99 |");
    println!("|---|---|---|");
    let mut cases = cases;
    cases.push((
        "page 1000, next-run order",
        TaskQuery {
            page: 1000,
            ..TaskQuery::default()
        },
    ));
    for (name, q) in cases {
        time(name, calls, || async {
            let page = s.list(&q).await.unwrap();
            assert!(page.total > 0);
        })
        .await;
    }
    time("overview counts (stats)", calls, || async {
        s.stats().await.unwrap();
    })
    .await;
    time("task detail (get + runs + durations)", calls, || async {
        let b: &dyn TaskBackend = &s;
        b.get("task-004242").await.unwrap();
    })
    .await;

    // A million stored runs, one in ten failed, spread over the last 11.5 days.
    const RUNS: i64 = 1_000_000;
    let t = Instant::now();
    db.execute(
        "insert into taskdeck_runs (task_id, job, cause, scheduled_at, started_at, finished_at, \
           status, error, attempt, logs) \
         select 'task-' || lpad((g % 100000)::text, 6, '0'), (array['alpha','beta','gamma'])[g % 3 + 1], \
           'schedule', now() - make_interval(secs => ($1::bigint - g)::float8), \
           now() - make_interval(secs => ($1::bigint - g)::float8), \
           now() - make_interval(secs => ($1::bigint - g)::float8 - 0.05), \
           case when g % 10 = 0 then 'failed' else 'succeeded' end, \
           case when g % 10 = 0 then 'connection refused by host-' || (g % 977) end, 1, \
           jsonb_build_array(jsonb_build_object('level', 'info', 'message', 'processed batch ' || g)) \
         from generate_series(1, $1::bigint) g",
        &[&RUNS],
    )
    .await
    .unwrap();
    // The runs' search text, as a run's end writes it (where this build has the column).
    let has_search: i64 = db
        .query_one(
            "select count(*) from information_schema.columns where table_schema = $1 \
             and table_name = 'taskdeck_runs' and column_name = 'search'",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    if has_search == 1 {
        db.batch_execute(
            "update taskdeck_runs set search = lower(concat_ws(E'\\x1f', error, logs -> 0 ->> 'message'))",
        )
        .await
        .unwrap();
    }
    db.batch_execute("vacuum (analyze) taskdeck_runs")
        .await
        .unwrap();
    println!(
        "runs: stored {RUNS} runs in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let hour_ago = Timestamp::now() - Duration::from_secs(3600);
    let run_cases: Vec<(&str, RunQuery)> = vec![
        ("runs: newest first", RunQuery::default()),
        (
            "runs: page 100",
            RunQuery {
                page: 100,
                ..RunQuery::default()
            },
        ),
        (
            "runs: status=failed",
            RunQuery {
                status: Some(RunStatus::Failed),
                ..RunQuery::default()
            },
        ),
        (
            "runs: failures only",
            RunQuery {
                failures_only: true,
                ..RunQuery::default()
            },
        ),
        (
            "runs: one task",
            RunQuery {
                task_id: Some("task-004242".into()),
                ..RunQuery::default()
            },
        ),
        (
            "runs: job=beta",
            RunQuery {
                job: Some("beta".into()),
                ..RunQuery::default()
            },
        ),
        (
            "runs: last hour",
            RunQuery {
                since: Some(hour_ago),
                ..RunQuery::default()
            },
        ),
        (
            "runs: search \"host-42\"",
            RunQuery {
                q: Some("host-42".into()),
                ..RunQuery::default()
            },
        ),
    ];
    println!("| query over {RUNS} runs (50 rows) | median | p99 |");
    println!("|---|---|---|");
    for (name, q) in run_cases {
        time(name, calls, || async {
            let page = s.runs(&q).await.unwrap();
            assert!(page.total > 0, "{name}");
        })
        .await;
    }

    // A full audit log: 10,000 entries by users and 1,000 by strangers.
    db.execute(
        "insert into taskdeck_audit (at, actor, address, action, target, outcome) \
         select now() - make_interval(secs => (11000 - g)::float8), \
           case when g % 11 = 0 then 'anonymous' else 'user-' || (g % 7) end, '127.0.0.1', \
           'task.pause', 'task-' || g, 'ok' from generate_series(1, 11000) g",
        &[],
    )
    .await
    .unwrap();
    db.batch_execute("vacuum (analyze) taskdeck_audit")
        .await
        .unwrap();
    let audit = store.audit_log();
    for (name, offset) in [("audit: first page", 0), ("audit: page 100", 4950)] {
        time(name, calls, || async {
            let (rows, total) = audit.page(offset, 50).await.unwrap();
            assert!(!rows.is_empty() && total > 0);
        })
        .await;
    }
    drop(s);
    drop_schema(url, &schema).await;
}

/// Calls `f` `calls` times and prints the median and p99 as a table row.
async fn time<F: std::future::Future<Output = ()>>(name: &str, calls: usize, f: impl Fn() -> F) {
    let mut us = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        f().await;
        us.push(t.elapsed().as_micros() as i64);
    }
    println!(
        "| {name} | {:.2} ms | {:.2} ms |",
        pct(&mut us, 50),
        pct(&mut us, 99)
    );
}

/// This process's resident set (`VmRSS`), in MiB.
fn resident_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}
