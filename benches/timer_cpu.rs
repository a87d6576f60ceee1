//! The timer's CPU cost: the process's CPU time per fire, and fire lateness, with fires
//! spread over each second (every task at its own phase) at 100 and 1,000 fires a second on
//! the real clock and the memory store.
//!
//! Each rate runs with the default timer slack (fires closer together than 3 ms share a
//! wake-up) and with none. The floor rows are what one wake-up costs with no scheduler.
//!
//! `cargo bench -p taskdeck-benches --bench timer_cpu` (runs about 50 seconds). With a
//! server at `TASKDECK_TEST_DATABASE_URL` it also measures one replica on the PostgreSQL
//! store. Linux: CPU time is the sum of
//! the threads' run time in `/proc/self/task/*/schedstat`, in nanoseconds.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[path = "support/cpu.rs"]
mod cpu;
#[cfg(feature = "postgres")]
#[path = "support/pg.rs"]
mod pg;
#[path = "support/lateness.rs"]
mod support;

use taskdeck::{Scheduler, Task, TaskContext};

/// The runtime each measurement runs on: 2 worker threads, or `TASKDECK_BENCH_WORKERS`.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::env::var("TASKDECK_BENCH_WORKERS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(2),
        )
        .enable_all()
        .build()
        .unwrap()
}

fn main() {
    // TASKDECK_BENCH_ONLY=postgres skips the floor and the memory store.
    if std::env::var("TASKDECK_BENCH_ONLY").as_deref() != Ok("postgres") {
        floor();
        for rate in [100usize, 1000] {
            for slack in [None, Some(Duration::ZERO)] {
                runtime().block_on(measure(rate, slack, "memory", |b| b));
            }
        }
    }
    // The same on the PostgreSQL store, one replica (feature `postgres`, a server at
    // `TASKDECK_TEST_DATABASE_URL`): the timer's share is as above, the rest is the
    // database's claims, begins and ends.
    #[cfg(feature = "postgres")]
    if let Ok(url) = std::env::var("TASKDECK_TEST_DATABASE_URL") {
        for rate in [100usize, 1000] {
            runtime().block_on(async {
                let schema = format!("bench_timer_{:x}", fastrand::u32(..));
                let store = taskdeck::store::PostgresStore::builder(&url)
                    .schema(&schema)
                    .connect()
                    .await
                    .unwrap();
                measure(rate, None, "PostgreSQL", |b| b.store(store)).await;
                pg::drop_schema(&url, &schema).await;
            });
        }
    }
}

/// CPU per fire and lateness at `rate` fires a second, with `slack` (None: the default), on
/// the `kind` of store that `with_store` sets.
async fn measure(
    rate: usize,
    slack: Option<Duration>,
    kind: &str,
    with_store: impl FnOnce(taskdeck::SchedulerBuilder) -> taskdeck::SchedulerBuilder,
) {
    let mut b = Scheduler::builder().history(taskdeck::store::HistoryLimits {
        per_task: 20,
        total: 100_000,
    });
    if let Some(slack) = slack {
        b = b.timer_slack(slack);
    }
    let s = with_store(b).build().unwrap();
    let fired = std::sync::Arc::new(AtomicU64::new(0));
    let f = fired.clone();
    s.register("noop", move |_ctx: TaskContext| {
        f.fetch_add(1, Ordering::Relaxed);
        async { Ok(()) }
    });
    let t0 = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1);
    for i in 0..rate {
        // Each task at its own phase within the second.
        let phase = jiff::SignedDuration::from_micros((i * 1_000_000 / rate) as i64);
        s.add(Task::new(format!("t{i}"), "noop").every_between(
            Duration::from_secs(1),
            Some(t0 + phase),
            None,
        ))
        .await
        .unwrap();
    }
    s.start().unwrap();
    // Measure whole seconds after the first, once everything is going.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (cpu0, wall0) = (cpu::own_seconds(), std::time::Instant::now());
    let before = fired.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let fires = fired.load(Ordering::Relaxed) - before;
    let (cpu, wall) = (cpu::own_seconds() - cpu0, wall0.elapsed().as_secs_f64());
    s.shutdown(Duration::from_secs(1)).await;
    let late = support::sorted_lateness(&s).await;
    let pick = |p: usize| support::percentile(&late, p) as f64 / 1000.0;
    let slack = slack.map_or("default slack".to_string(), |d| format!("slack {d:?}"));
    println!(
        "{rate} fires/s, {kind} store, {slack}: {fires} fires in {wall:.1} s, CPU {cpu:.2} s \
         = {:.1} us per fire ({:.0}% of a core); lateness median {:.3} ms, p99 {:.3} ms",
        cpu * 1e6 / fires.max(1) as f64,
        cpu / wall * 100.0,
        pick(50),
        pick(99),
    );
}

/// The floor: a task that only sleeps until each deadline of the same schedule (one wake
/// per fire) on the same runtime, with no scheduler at all.
fn floor() {
    for rate in [100u32, 1000] {
        let rt = runtime();
        rt.block_on(async move {
            let every = Duration::from_secs(1) / rate;
            let handle = tokio::spawn(async move {
                let mut next = tokio::time::Instant::now();
                loop {
                    next += every;
                    tokio::time::sleep_until(next).await;
                }
            });
            tokio::time::sleep(Duration::from_millis(500)).await;
            let cpu0 = cpu::own_seconds();
            tokio::time::sleep(Duration::from_secs(4)).await;
            let cpu = cpu::own_seconds() - cpu0;
            handle.abort();
            println!(
                "floor, {rate} wakes/s, a tokio task sleeping: {:.1} us of CPU per wake",
                cpu * 1e6 / f64::from(rate * 4)
            );
        });
        // The same on a plain thread, with no runtime: what the machine charges per wake-up.
        let every = Duration::from_secs(1) / rate;
        let cpu0 = cpu::own_seconds();
        let start = std::time::Instant::now();
        let mut next = start;
        while start.elapsed() < Duration::from_secs(4) {
            next += every;
            std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
        }
        let cpu = cpu::own_seconds() - cpu0;
        println!(
            "floor, {rate} wakes/s, a thread sleeping: {:.1} us of CPU per wake",
            cpu * 1e6 / f64::from(rate * 4)
        );
    }
}
