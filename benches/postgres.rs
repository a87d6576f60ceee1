//! The PostgreSQL store under load (feature `postgres`, a server at
//! `TASKDECK_TEST_DATABASE_URL`; `eval "$(scripts/pg-test-server)"` starts one):
//!
//! 1. burst: 3 replicas in this process share one schedule; 20,000 one-off tasks come due
//!    within the same second; fires per second from the first due time to the last run stored.
//! 2. sustained: 3 replicas, 2,000 interval tasks each firing every second, for 10 s; runs per
//!    second and how late runs start (p50 / p99).
//! 3. dashboard queries over 100,000 stored tasks: list pages with each filter and sort, a
//!    search, and the overview counts; median and p99 of 200 calls each.
//!
//! `cargo bench --features postgres --bench postgres`
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
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
    rt.block_on(async {
        burst(&url).await;
        sustained(&url).await;
        queries(&url).await;
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
}

async fn sustained(url: &str) {
    const TASKS: u64 = 2_000;
    let schema = schema("steady");
    let (rs, late) = replicas(url, &schema, 3).await;
    let tasks = (0..TASKS)
        .map(|i| {
            Task::new(format!("s-{i:05}"), "work")
                .every(Duration::from_secs(1))
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
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut l = std::mem::take(&mut *late.lock().unwrap());
    let secs = t.elapsed().as_secs_f64();
    println!(
        "sustained: {TASKS} tasks every 1 s on 3 replicas: {:.0} runs/s (offered {TASKS}/s); start lateness p50 {:.1} ms, p99 {:.1} ms",
        l.len() as f64 / secs,
        pct(&mut l, 50),
        pct(&mut l, 99)
    );
    for s in &rs {
        s.shutdown(Duration::from_secs(10)).await;
    }
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
    let s = Scheduler::builder().store(store).build().unwrap();
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
        "queries: added {N} tasks in {:.1} s",
        t.elapsed().as_secs_f64()
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
    println!("| query over {N} tasks (50 rows) | median | p99 |");
    println!("|---|---|---|");
    for (name, q) in cases {
        let mut us = Vec::with_capacity(calls);
        for _ in 0..calls {
            let t = Instant::now();
            let page = s.list(&q).await.unwrap();
            us.push(t.elapsed().as_micros() as i64);
            assert!(page.total > 0);
        }
        println!(
            "| {name} | {:.2} ms | {:.2} ms |",
            pct(&mut us, 50),
            pct(&mut us, 99)
        );
    }
    for (name, which) in [
        ("overview counts (stats)", 0),
        ("task detail (get + runs + durations)", 1),
    ] {
        let mut us = Vec::with_capacity(calls);
        for _ in 0..calls {
            let t = Instant::now();
            if which == 0 {
                s.stats().await.unwrap();
            } else {
                let b: &dyn TaskBackend = &s;
                b.get("task-004242").await.unwrap();
            }
            us.push(t.elapsed().as_micros() as i64);
        }
        println!(
            "| {name} | {:.2} ms | {:.2} ms |",
            pct(&mut us, 50),
            pct(&mut us, 99)
        );
    }
}
