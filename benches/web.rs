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
use taskdeck::{Dashboard, PasswordBackend, Role, Scheduler, Task, TaskContext};

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

/// The per-request cost of a signed session: `/health` (public, but the gate still reads and
/// verifies a session cookie when one is sent) with and without a valid cookie, and a gated
/// page with one.
fn session(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let s = Scheduler::builder().build().expect("scheduler");
    s.register("job", |_ctx: TaskContext| async { Ok(()) });
    let hash = PasswordBackend::hash("pw").expect("hash");
    let d = Dashboard::builder(s.clone())
        .auth(
            PasswordBackend::new()
                .user("ada", &hash, Role::Admin)
                .expect("user"),
        )
        .secret([7u8; 32])
        .build()
        .expect("dashboard");
    let login = Request::post("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"username=ada&password=pw",
        )))
        .expect("request");
    let r = rt.block_on(d.handle(login));
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    let with_cookie = |path: &str| {
        Request::get(path)
            .header("cookie", cookie.as_str())
            .body(Empty::<bytes::Bytes>::new())
            .expect("request")
    };
    let mut g = c.benchmark_group("session");
    g.bench_function("health, no cookie", |b| {
        b.iter(|| rt.block_on(d.handle(get("/health"))).status())
    });
    g.bench_function("health, verified session cookie", |b| {
        b.iter(|| rt.block_on(d.handle(with_cookie("/health"))).status())
    });
    g.bench_function("gate refuses, no cookie (303)", |b| {
        b.iter(|| {
            let r = rt.block_on(d.handle(get("/tasks")));
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
        })
    });
    g.finish();
}

criterion_group!(benches, web, session);
criterion_main!(benches);
