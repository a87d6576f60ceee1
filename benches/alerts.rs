//! What looking for alerts costs at 100,000 tasks: one `check_alerts` (the look every process
//! makes every `check_every`, 10 s by default) over the memory store and, with
//! `TASKDECK_TEST_DATABASE_URL` set, the PostgreSQL store; median and p99 of 200 looks, with
//! nothing overdue, then with about 90 tasks overdue and their alerts open (each look then
//! finds them open and raises nothing).
//!
//! The tasks: intervals of 60 s to about 83 min, one in seven paused, one in a thousand with
//! `alert_if_no_success_within` (10 min, not yet due). The scheduler is not started and the
//! clock is moved 125 s on, so that the tasks firing every 60 to 64 s are over a minute past
//! their first fire.
//!
//! `cargo bench -p taskdeck-benches --bench alerts`
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

#[path = "support/pg.rs"]
mod pg;
use taskdeck::store::*;
use taskdeck::*;

const N: u64 = 100_000;
const T0: &str = "2026-03-02T09:00:00Z";

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let clock = ManualClock::new(T0.parse().unwrap());
        let s = Scheduler::builder()
            .clock(clock.clone())
            .build()
            .unwrap();
        measure("memory", &s, &clock, None).await;
        match std::env::var("TASKDECK_TEST_DATABASE_URL") {
            Ok(url) => {
                let schema = format!("bench_alerts_{:x}", fastrand::u32(..));
                let store = PostgresStore::builder(&url)
                    .schema(&schema)
                    .pool_size(16)
                    .connect()
                    .await
                    .unwrap();
                let clock = ManualClock::new(jiff::Timestamp::now());
                let s = Scheduler::builder()
                    .clock(clock.clone())
                    .store(store)
                    .build()
                    .unwrap();
                measure("postgres", &s, &clock, Some((&url, &schema))).await;
                pg::drop_schema(&url, &schema).await;
            }
            Err(_) => eprintln!(
                "set TASKDECK_TEST_DATABASE_URL (eval \"$(scripts/pg-test-server)\") for the PostgreSQL rows"
            ),
        }
    });
}

async fn measure(what: &str, s: &Scheduler, clock: &ManualClock, db: Option<(&str, &str)>) {
    s.register("work", |_ctx: TaskContext| async { Ok(()) });
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for part in 0..16u64 {
        let s = s.clone();
        set.spawn(async move {
            for i in (part..N).step_by(16) {
                let t = Task::new(format!("task-{i:06}"), "work")
                    .every(Duration::from_secs(60 + i % 5000))
                    .paused(i % 7 == 0);
                let t = if i % 1000 == 1 {
                    t.alert_if_no_success_within(Duration::from_secs(600))
                } else {
                    t
                };
                s.add(t).await.unwrap();
            }
        });
    }
    while set.join_next().await.is_some() {}
    println!(
        "{what}: added {N} tasks in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    if let Some((url, schema)) = db {
        // The steady state autovacuum keeps.
        pg::admin(url)
            .await
            .batch_execute(&format!("vacuum (analyze) \"{schema}\".taskdeck_tasks"))
            .await
            .unwrap();
    }
    // Nothing due yet: a look finds nothing.
    report(what, "nothing overdue, no alert open", s, 200).await;
    // 125 s on, the tasks every 60 to 64 s are over a minute past their first fire.
    clock.advance(Duration::from_secs(125));
    let first = s.check_alerts().await.unwrap();
    println!(
        "{what}: the first look raised {} alerts ({} overdue, {} no success)",
        first.raised.len(),
        first
            .raised
            .iter()
            .filter(|a| a.kind == AlertKind::Overdue)
            .count(),
        first
            .raised
            .iter()
            .filter(|a| a.kind == AlertKind::NoSuccess)
            .count()
    );
    report(what, "alerts open, nothing new", s, 200).await;
}

async fn report(what: &str, case: &str, s: &Scheduler, calls: usize) {
    let mut us = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let c = s.check_alerts().await.unwrap();
        us.push(t.elapsed().as_secs_f64() * 1e6);
        assert!(
            c.raised.is_empty(),
            "a look in the steady state raised {:?}",
            c.raised
        );
    }
    us.sort_by(f64::total_cmp);
    let pick = |p: usize| us[((p * us.len()).div_ceil(100)).max(1) - 1];
    println!(
        "{what}: check_alerts, {case}: median {:.0} µs, p99 {:.0} µs ({calls} looks)",
        pick(50),
        pick(99)
    );
}
