//! The timeline at 100,000 tasks, with the memory store and (when
//! `TASKDECK_TEST_DATABASE_URL` is set) PostgreSQL: how long `Scheduler::timeline` takes
//! for the 24-hour and the 7-day view in each of its three cases:
//!
//! - **a new minute**: the window moved, so the answer is counted again from the kept tasks
//!   (what the first request of every minute pays);
//! - **after a change**: a task was paused or resumed, so the tasks are read from the store
//!   again and counted (what the first request after any change pays);
//! - **kept**: the same minute, nothing changed.
//!
//! The tasks are shaped like the demo's generated ones (intervals of 60 s to an hour, one in
//! seven paused) plus one in fifty on one of 40 cron expressions. Median, p99 and max of
//! `TASKDECK_TIMELINE_CALLS` calls (default 100) per case.
//!
//! `cargo bench -p taskdeck-benches --bench timeline`
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use taskdeck::{ManualClock, Scheduler, Task, TaskContext, TimelineQuery, TimelineWindow};

#[cfg(feature = "postgres")]
#[path = "support/pg.rs"]
mod pg;

const TASKS: usize = 100_000;

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let calls: usize = std::env::var("TASKDECK_TIMELINE_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("| store | view | case | median | p99 | max | calls |");
        println!("|---|---|---|---|---|---|---|");
        let clock = ManualClock::new("2026-12-07T10:17:30Z".parse().unwrap());
        let s = Scheduler::builder().clock(clock.clone()).build().unwrap();
        fill(&s).await;
        measure(&s, &clock, "memory", calls).await;
        s.shutdown(Duration::ZERO).await;
        #[cfg(feature = "postgres")]
        if let Ok(url) = std::env::var("TASKDECK_TEST_DATABASE_URL") {
            let schema = format!("bench_timeline_{:x}", fastrand::u32(..));
            let store = taskdeck::store::PostgresStore::builder(&url)
                .schema(&schema)
                .pool_size(16)
                .connect()
                .await
                .unwrap();
            let clock = ManualClock::new("2026-12-07T10:17:30Z".parse().unwrap());
            let s = Scheduler::builder()
                .clock(clock.clone())
                .store(store)
                .build()
                .unwrap();
            fill(&s).await;
            measure(&s, &clock, "PostgreSQL", calls).await;
            s.shutdown(Duration::ZERO).await;
            pg::drop_schema(&url, &schema).await;
        }
    });
}

async fn fill(s: &Scheduler) {
    s.register("heartbeat", |_ctx: TaskContext| async { Ok(()) });
    s.register("report", |_ctx: TaskContext| async { Ok(()) });
    let tasks: Vec<Task> = (0..TASKS)
        .map(|i| {
            let t = if i % 50 == 0 {
                let expr = format!("0 {} {} * * *", i % 60, (i / 50) % 24);
                Task::new(format!("cron-{i:06}"), "report")
                    .cron(&expr)
                    .unwrap()
            } else {
                Task::new(format!("generated-{i:06}"), "heartbeat")
                    .every(Duration::from_secs(60 + (i % 3600) as u64))
            };
            t.paused(i % 7 == 0)
        })
        .collect();
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for chunk in tasks.chunks(TASKS.div_ceil(16)) {
        let (s, chunk) = (s.clone(), chunk.to_vec());
        set.spawn(async move {
            for t in chunk {
                s.add(t).await.unwrap();
            }
        });
    }
    while set.join_next().await.is_some() {}
    eprintln!(
        "added {TASKS} tasks in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

async fn measure(s: &Scheduler, clock: &ManualClock, store: &str, calls: usize) {
    for window in [TimelineWindow::Day, TimelineWindow::Week] {
        let q = TimelineQuery {
            window,
            ..TimelineQuery::default()
        };
        let first = s.timeline(&q).await.unwrap();
        assert!(first.total_fires > 0);
        let mut minute = Vec::with_capacity(calls);
        let mut change = Vec::with_capacity(calls);
        let mut kept = Vec::with_capacity(calls);
        for i in 0..calls {
            clock.advance(Duration::from_secs(60));
            let t = Instant::now();
            s.timeline(&q).await.unwrap();
            minute.push(t.elapsed());
            let t = Instant::now();
            s.timeline(&q).await.unwrap();
            kept.push(t.elapsed());
            // A change: the plan is read again.
            let id = "generated-000001";
            if i % 2 == 0 {
                s.pause(id).await.unwrap();
            } else {
                s.resume(id).await.unwrap();
            }
            let t = Instant::now();
            s.timeline(&q).await.unwrap();
            change.push(t.elapsed());
        }
        for (case, mut v) in [
            ("a new minute", minute),
            ("after a change", change),
            ("kept", kept),
        ] {
            v.sort();
            let at = |p: usize| v[((p * v.len()).div_ceil(100)).max(1) - 1];
            println!(
                "| {store} | {} | {case} | {} | {} | {} | {} |",
                window.as_str(),
                ms(at(50)),
                ms(at(99)),
                ms(v[v.len() - 1]),
                v.len()
            );
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
