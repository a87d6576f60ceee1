//! The timer's CPU cost: the process's CPU time per fire, and fire lateness, with fires
//! spread over each second (every task at its own phase) at 100 and 1,000 fires a second on
//! the real clock and the memory store.
//!
//! `cargo bench --bench timer_cpu` (runs about 20 seconds). Linux: CPU time from
//! `/proc/self/stat`, in clock ticks (1/100 s), so a run lasts long enough for that to be fine.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Duration;

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/lateness.rs"]
mod support;

use taskdeck::{Scheduler, Task, TaskContext};

fn main() {
    for rate in [100usize, 1000] {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let s = Scheduler::builder()
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
            println!(
                "{rate} fires/s: {fires} fires in {wall:.1} s, CPU {cpu:.2} s = {:.1} us per fire ({:.0}% of a core); lateness median {:.3} ms, p99 {:.3} ms",
                cpu * 1e6 / fires.max(1) as f64,
                cpu / wall * 100.0,
                pick(50),
                pick(99),
            );
        });
    }
}
