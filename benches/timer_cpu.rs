//! The timer's CPU cost: the process's CPU time per fire, and fire lateness, with fires
//! spread over each second (every task at its own phase) at 100 and 1,000 fires a second on
//! the real clock and the memory store.
//!
//! Each rate runs with the default timer slack (fires closer together than 3 ms share a
//! wake-up) and with none. The floor rows are what one wake-up costs with no scheduler.
//!
//! `cargo bench --bench timer_cpu` (runs about 50 seconds). Linux: CPU time is the sum of
//! the threads' run time in `/proc/self/task/*/schedstat`, in nanoseconds.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Duration;

#[path = "support/cpu.rs"]
mod cpu;
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
    floor();
    for rate in [100usize, 1000] {
        for slack in [None, Some(Duration::ZERO)] {
            measure(rate, slack);
        }
    }
}

/// CPU per fire and lateness at `rate` fires a second, with `slack` (None: the default).
fn measure(rate: usize, slack: Option<Duration>) {
    let rt = runtime();
    rt.block_on(async move {
            let mut b = Scheduler::builder();
            if let Some(slack) = slack {
                b = b.timer_slack(slack);
            }
            let s = b
                .history(taskdeck::store::HistoryLimits {
                    per_task: 20,
                    total: 100_000,
                })
            .build()
            .unwrap();
            s.register("noop", |_ctx: TaskContext| async { Ok(()) });
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
            let before = s.stats().await.unwrap().runs_by_status.values().sum::<u64>();
            tokio::time::sleep(Duration::from_secs(8)).await;
            let fires = s.stats().await.unwrap().runs_by_status.values().sum::<u64>() - before;
            let (cpu, wall) = (cpu::own_seconds() - cpu0, wall0.elapsed().as_secs_f64());
            s.shutdown(Duration::from_secs(1)).await;
            let late = support::sorted_lateness(&s).await;
            let pick = |p: usize| support::percentile(&late, p) as f64 / 1000.0;
            let slack = slack.map_or("default slack".to_string(), |d| format!("slack {d:?}"));
            println!(
                "{rate} fires/s, {slack}: {fires} fires in {wall:.1} s, CPU {cpu:.2} s = {:.1} us per fire ({:.0}% of a core); lateness median {:.3} ms, p99 {:.3} ms",
                cpu * 1e6 / fires.max(1) as f64,
                cpu / wall * 100.0,
                pick(50),
                pick(99),
            );
    });
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
