//! Memory per idle task: heap bytes held by the scheduler per added task, measured with a
//! counting allocator, for interval and cron tasks with `null` args.
//!
//! `cargo bench -p taskdeck-benches --bench footprint`

#![allow(clippy::print_stdout, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use taskdeck::{Scheduler, Task, TaskContext};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: delegates to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    const N: usize = 100_000;
    for kind in ["interval", "cron"] {
        rt.block_on(async {
            let s = Scheduler::builder().build().expect("scheduler");
            s.register("job", |_ctx: TaskContext| async { Ok(()) });
            let before = LIVE.load(Ordering::Relaxed);
            for i in 0..N {
                let t = Task::new(format!("task-{i:06}"), "job");
                let t = match kind {
                    "interval" => t.every(Duration::from_secs(60)),
                    _ => t.cron("*/5 * * * *").expect("cron"),
                };
                s.add(t).await.expect("add");
            }
            let after = LIVE.load(Ordering::Relaxed);
            println!(
                "{kind}: {} bytes per idle task ({N} tasks, {:.1} MiB)",
                (after - before) / N as isize,
                (after - before) as f64 / (1024.0 * 1024.0)
            );
        });
    }
}
