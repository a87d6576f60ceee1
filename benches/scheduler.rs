//! Scheduler benches: adding tasks, and listing a filtered, sorted page over many tasks.
//!
//! `cargo bench -p taskdeck-benches --bench scheduler`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use taskdeck::{Scheduler, Task, TaskContext, TaskQuery, TaskSort, TaskState, TriggerKind};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn scheduler() -> Scheduler {
    let s = Scheduler::builder().build().expect("scheduler");
    s.register("job", |_ctx: TaskContext| async { Ok(()) });
    s.register("other", |_ctx: TaskContext| async { Ok(()) });
    s
}

/// The i-th of a varied task population: intervals and crons, two jobs, some paused.
fn task(i: usize) -> Task {
    let t = Task::new(
        format!("task-{i:06}"),
        if i % 3 == 0 { "other" } else { "job" },
    )
    .name(format!("Task number {i}"));
    let t = if i % 2 == 0 {
        t.every(Duration::from_secs(30 + (i % 600) as u64))
    } else {
        t.cron(&format!("{} {} * * *", i % 60, i % 24))
            .expect("cron")
    };
    t.paused(i % 10 == 0)
}

async fn fill(s: &Scheduler, n: usize) {
    for i in 0..n {
        s.add(task(i)).await.expect("add");
    }
}

fn add(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("add");
    g.sample_size(10);
    g.bench_function("100k tasks", |b| {
        b.iter_batched(
            scheduler,
            |s| {
                rt.block_on(fill(&s, 100_000));
                s
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn list(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("list");
    for n in [1_000usize, 100_000] {
        let s = scheduler();
        rt.block_on(fill(&s, n));
        let query = TaskQuery {
            state: Some(TaskState::Scheduled),
            trigger: Some(TriggerKind::Interval),
            sort: TaskSort::NextRun,
            page: 3,
            per_page: 50,
            ..TaskQuery::default()
        };
        g.bench_function(format!("50 rows, filter + sort, {n} tasks"), |b| {
            b.iter(|| {
                let page = rt.block_on(s.list(black_box(&query))).expect("list");
                assert_eq!(page.items.len(), 50);
                page
            })
        });
        let search = TaskQuery {
            q: Some("number 42".into()),
            sort: TaskSort::Name,
            ..TaskQuery::default()
        };
        g.bench_function(format!("search + name sort, {n} tasks"), |b| {
            b.iter(|| {
                let page = rt.block_on(s.list(black_box(&search))).expect("list");
                assert!(!page.items.is_empty());
                page
            })
        });
    }
    g.finish();
}

criterion_group!(benches, add, list);
criterion_main!(benches);
