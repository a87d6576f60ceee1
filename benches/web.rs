//! Dashboard benches, in-process (no sockets): the smallest request through the whole pipeline
//! and router (`/health`), the tasks page (50 rows of 10,000 tasks), its JSON twin, and a task
//! page with history.
//!
//! `cargo bench --bench web`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use taskdeck::{Dashboard, Scheduler, Task, TaskContext};

fn get(path: &str) -> Request<Empty<bytes::Bytes>> {
    Request::get(path).body(Empty::new()).expect("request")
}

fn web(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let s = Scheduler::builder().build().expect("scheduler");
    s.register("job", |_ctx: TaskContext| async { Ok(()) });
    rt.block_on(async {
        for i in 0..10_000 {
            let t = Task::new(format!("task-{i:05}"), "job").name(format!("Task {i}"));
            let t = if i % 2 == 0 {
                t.every(Duration::from_secs(60 + i as u64))
            } else {
                t.cron(&format!("{} {} * * *", i % 60, i % 24))
                    .expect("cron")
            };
            s.add(t.paused(i % 10 == 0)).await.expect("add");
        }
    });
    let d = Dashboard::builder(s.clone())
        .prefix("/dashboard")
        .build()
        .expect("dashboard");
    let mut g = c.benchmark_group("web");
    for (name, path) in [
        ("health (pipeline + route)", "/dashboard/health"),
        ("tasks page, 50 of 10k", "/dashboard/tasks?sort=next_run"),
        ("tasks API, 50 of 10k", "/dashboard/api/tasks?sort=next_run"),
        ("task page", "/dashboard/tasks/task-00042"),
        ("overview", "/dashboard/"),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = rt.block_on(d.handle(get(black_box(path))));
                assert_eq!(r.status(), StatusCode::OK);
                rt.block_on(r.into_body().collect())
                    .expect("body")
                    .to_bytes()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, web);
criterion_main!(benches);
