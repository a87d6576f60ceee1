//! Dashboard benches, in-process (no sockets): the smallest request through the whole pipeline
//! and router (`/health`); the tasks page, its JSON twin and the overview at 1,000 and
//! 100,000 tasks, and the tasks page with its rows written afresh; a task page with 100 and 10,000 runs of history; session verification.
//!
//! `cargo bench -p taskdeck-benches --bench web`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use taskdeck::store::HistoryLimits;
use taskdeck::{Dashboard, ManualClock, PasswordBackend, Role, Scheduler, Task, TaskContext};

fn get(path: &str) -> Request<Empty<bytes::Bytes>> {
    Request::get(path).body(Empty::new()).expect("request")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A dashboard over `n` varied tasks; task `task-00042` has `runs` finished runs.
fn dashboard(rt: &tokio::runtime::Runtime, n: usize, runs: usize) -> Dashboard {
    let clock = ManualClock::new("2026-01-01T00:00:00Z".parse().expect("time"));
    let s = Scheduler::builder()
        .clock(clock.clone())
        .history(HistoryLimits {
            per_task: 10_000,
            total: 100_000,
        })
        .build()
        .expect("scheduler");
    s.register("job", |_ctx: TaskContext| async { Ok(()) });
    rt.block_on(async {
        for i in 0..n {
            let t = Task::new(format!("task-{i:05}"), "job").name(format!("Task {i}"));
            let t = if i % 2 == 0 {
                t.every(Duration::from_secs(86_400 + i as u64))
            } else {
                t.cron(&format!("{} {} * * *", i % 60, i % 24))
                    .expect("cron")
            };
            s.add(t.paused(i % 10 == 0)).await.expect("add");
        }
        s.add(Task::new("busy", "job").every(Duration::from_secs(1)))
            .await
            .expect("add");
        s.start().expect("start");
        for _ in 0..runs {
            clock.advance(Duration::from_secs(1));
            s.settled().await;
        }
    });
    Dashboard::builder(s)
        .prefix("/dashboard")
        .build()
        .expect("dashboard")
}

fn page(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, d: &Dashboard, path: &str) {
    c.bench_function(name, |b| {
        b.iter(|| {
            let r = rt.block_on(d.handle(get(black_box(path))));
            assert_eq!(r.status(), StatusCode::OK);
            rt.block_on(r.into_body().collect())
                .expect("body")
                .to_bytes()
        })
    });
}

fn web(c: &mut Criterion) {
    let rt = runtime();
    for n in [1_000usize, 100_000] {
        let d = dashboard(&rt, n, 0);
        if n == 1_000 {
            page(c, &rt, "health (pipeline + route)", &d, "/dashboard/health");
        }
        page(
            c,
            &rt,
            &format!("tasks page, 50 of {n}"),
            &d,
            "/dashboard/tasks",
        );
        page(
            c,
            &rt,
            &format!("tasks API, 50 of {n}"),
            &d,
            "/dashboard/api/tasks",
        );
        page(
            c,
            &rt,
            &format!("tasks page, state filter + name sort, {n}"),
            &d,
            "/dashboard/tasks?state=scheduled&sort=name",
        );
        page(c, &rt, &format!("overview, {n} tasks"), &d, "/dashboard/");
        // The same page reached under a second mount path: its rows were kept with the first
        // path's links, so every row is written afresh (what a first view costs).
        let first = rt.block_on(d.handle(get("/dashboard/tasks")));
        assert_eq!(first.status(), StatusCode::OK);
        let other = taskdeck::MountedAt(taskdeck::MountPrefix::new("/other").expect("prefix"));
        c.bench_function(
            &format!("tasks page, 50 of {n}, rows written afresh"),
            |b| {
                b.iter(|| {
                    let mut req = get(black_box("/other/tasks"));
                    req.extensions_mut().insert(other.clone());
                    let r = rt.block_on(d.handle(req));
                    assert_eq!(r.status(), StatusCode::OK);
                    rt.block_on(r.into_body().collect())
                        .expect("body")
                        .to_bytes()
                })
            },
        );
    }
    for runs in [100usize, 10_000] {
        let d = dashboard(&rt, 100, runs);
        page(
            c,
            &rt,
            &format!("task page, {runs} runs"),
            &d,
            "/dashboard/tasks/busy",
        );
    }
}

/// The per-request cost of a signed session: `/health` (public, but the gate still reads and
/// verifies a session cookie when one is sent) with and without a valid cookie, and the
/// gate's refusal.
fn session(c: &mut Criterion) {
    let rt = runtime();
    let s = Scheduler::builder().build().expect("scheduler");
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
    // /health and assets skip identity; a gated route shows what verifying a session costs.
    g.bench_function("audit API, no cookie (401)", |b| {
        b.iter(|| {
            let r = rt.block_on(d.handle(get("/api/audit?per_page=1")));
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        })
    });
    g.bench_function("audit API, verified session cookie (200)", |b| {
        b.iter(|| {
            let r = rt.block_on(d.handle(with_cookie("/api/audit?per_page=1")));
            assert_eq!(r.status(), StatusCode::OK);
        })
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
