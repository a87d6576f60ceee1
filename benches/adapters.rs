//! What the framework adapters cost: the same page (a task's detail) answered directly,
//! through axum's `nest_service`, and through an actix-web scope, all in-process.
//!
//! `cargo bench -p taskdeck-benches --bench adapters`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use taskdeck::{Dashboard, Scheduler, Task, TaskContext};
use tower::ServiceExt as _;

fn adapters(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let s = Scheduler::builder().build().expect("scheduler");
    s.register("job", |_ctx: TaskContext| async { Ok(()) });
    rt.block_on(async {
        for i in 0..100 {
            s.add(Task::new(format!("task-{i:03}"), "job").every(Duration::from_secs(60)))
                .await
                .expect("add");
        }
    });
    let direct = Dashboard::builder(s.clone())
        .prefix("/jobs")
        .build()
        .expect("dashboard");
    let nested = Dashboard::builder(s.clone()).build().expect("dashboard");
    let path = "/jobs/tasks/task-042";
    let mut g = c.benchmark_group("adapters");
    g.bench_function("direct", |b| {
        b.iter(|| {
            let req = Request::get(black_box(path))
                .body(Empty::<bytes::Bytes>::new())
                .expect("req");
            let r = rt.block_on(direct.handle(req));
            assert_eq!(r.status(), StatusCode::OK);
            rt.block_on(r.into_body().collect())
                .expect("body")
                .to_bytes()
        })
    });
    let router = axum::Router::new().nest_service("/jobs", nested.clone().into_axum());
    g.bench_function("axum nest_service", |b| {
        b.iter(|| {
            let req = Request::get(black_box(path))
                .body(axum::body::Body::empty())
                .expect("req");
            let r = rt
                .block_on(router.clone().oneshot(req))
                .expect("infallible");
            assert_eq!(r.status(), StatusCode::OK);
            rt.block_on(r.into_body().collect())
                .expect("body")
                .to_bytes()
        })
    });
    let actix_rt = actix_web::rt::Runtime::new().expect("actix runtime");
    let app = actix_rt.block_on(actix_web::test::init_service(
        actix_web::App::new()
            .service(taskdeck::actix::scope("/jobs", nested.clone()).expect("scope")),
    ));
    g.bench_function("actix-web scope", |b| {
        b.iter(|| {
            actix_rt.block_on(async {
                let req = actix_web::test::TestRequest::get()
                    .uri(black_box(path))
                    .to_request();
                let r = actix_web::test::call_service(&app, req).await;
                assert_eq!(r.status().as_u16(), 200);
                actix_web::test::read_body(r).await
            })
        })
    });
    g.finish();
}

criterion_group!(benches, adapters);
criterion_main!(benches);
