//! Fire lateness: 1,000 interval tasks due every second on the real clock; prints the median
//! and p99 of (actual start − scheduled time) over the runs of a few seconds.
//!
//! `cargo bench -p taskdeck-benches --bench lateness` (runs about 6 seconds)

#![allow(clippy::print_stdout)]

use std::time::Duration;

#[path = "support/lateness.rs"]
mod support;

use taskdeck::{Scheduler, Task, TaskContext};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let s = Scheduler::builder()
            .history(taskdeck::store::HistoryLimits {
                per_task: 100,
                total: 100_000,
            })
            .build()
            .expect("scheduler");
        s.register("noop", |_ctx: TaskContext| async { Ok(()) });
        let start = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(1))
            .expect("time");
        for i in 0..1000 {
            s.add(Task::new(format!("t{i}"), "noop").every_between(
                Duration::from_secs(1),
                Some(start),
                None,
            ))
            .await
            .expect("add");
        }
        s.start().expect("start");
        tokio::time::sleep(Duration::from_millis(5500)).await;
        s.shutdown(Duration::from_secs(1)).await;
        let late = support::sorted_lateness(&s).await;
        let pick = |p: usize| support::percentile(&late, p);
        println!(
            "fire lateness over {} runs of 1,000 tasks/s: min {:.3} ms, median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            late.len(),
            late[0] as f64 / 1000.0,
            pick(50) as f64 / 1000.0,
            pick(99) as f64 / 1000.0,
            late[late.len() - 1] as f64 / 1000.0
        );
    });
}
