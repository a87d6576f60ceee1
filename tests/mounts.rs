//! The whole walk (login, pages, assets, an action with CSRF, the event stream, logout) under
//! every way of mounting the dashboard, asserting every URL carries the public prefix.
#![cfg(all(feature = "axum", feature = "actix"))]
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::*;
use taskdeck::Dashboard;

const SECRET: &[u8] = b"mount-walk-secret-0123456789abcdef!!";

fn dashboard(s: &taskdeck::Scheduler, prefix: &str) -> Dashboard {
    Dashboard::builder(s.clone())
        .prefix(prefix)
        .auth(admin_login())
        .secret(SECRET)
        .trust_proxy(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .build()
        .unwrap()
}

#[tokio::test]
async fn served_directly_at_the_root_and_under_a_prefix() {
    let (s, _c) = scheduler().await;
    for prefix in ["", "/dashboard"] {
        let srv = serve_dashboard(dashboard(&s, prefix)).await;
        Walk {
            what: prefix,
            srv: &srv,
            request_base: prefix,
            public_base: prefix,
            headers: &[],
        }
        .run(&s)
        .await;
    }
}

async fn axum_server(app: axum::Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    client_for(addr)
}

#[tokio::test]
async fn nested_in_axum_and_behind_a_proxy_prefix() {
    let (s, _c) = scheduler().await;
    let app = taskdeck::axum::nest(axum::Router::new(), "/jobs", dashboard(&s, "")).unwrap();
    let srv = axum_server(app).await;
    Walk {
        what: "axum /jobs",
        srv: &srv,
        request_base: "/jobs",
        public_base: "/jobs",
        headers: &[],
    }
    .run(&s)
    .await;
    Walk {
        what: "axum /jobs behind /ops",
        srv: &srv,
        request_base: "/jobs",
        public_base: "/ops/jobs",
        headers: &[("x-forwarded-prefix", "/ops")],
    }
    .run(&s)
    .await;

    // Nested two levels deep: axum reports the whole path.
    let inner = taskdeck::axum::nest(axum::Router::new(), "/jobs", dashboard(&s, "")).unwrap();
    let outer = axum::Router::new().nest("/team", inner);
    let srv = axum_server(outer).await;
    Walk {
        what: "axum /team/jobs",
        srv: &srv,
        request_base: "/team/jobs",
        public_base: "/team/jobs",
        headers: &[],
    }
    .run(&s)
    .await;
}

#[tokio::test]
async fn actix_scope() {
    let (s, _c) = scheduler().await;
    let d = dashboard(&s, "");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(move || {
                actix_web::App::new().service(taskdeck::actix::scope("/admin", d.clone()).unwrap())
            })
            .workers(1)
            .listen(listener)
            .unwrap()
            .run();
            tx.send(server.handle()).unwrap();
            server.await.unwrap();
        })
    });
    let handle = rx.recv().unwrap();
    let srv = client_for(addr);
    Walk {
        what: "actix /admin",
        srv: &srv,
        request_base: "/admin",
        public_base: "/admin",
        headers: &[],
    }
    .run(&s)
    .await;
    handle.stop(true).await;
    thread.join().unwrap();
}

#[test]
fn misconfigured_mounts_say_what_to_do() {
    let s = taskdeck::Scheduler::builder().build().unwrap();
    let d = Dashboard::builder(s).build().unwrap();
    let err = taskdeck::axum::nest(axum::Router::<()>::new(), "/", d.clone()).unwrap_err();
    assert!(err.to_string().contains("fallback_service"), "{err}");
    let err = taskdeck::axum::nest(axum::Router::<()>::new(), "jobs", d.clone()).unwrap_err();
    assert!(err.to_string().contains("must start with '/'"), "{err}");
    let err = taskdeck::actix::scope("/", d.clone()).err().unwrap();
    assert!(err.to_string().contains("default_service"), "{err}");
    let err = Dashboard::builder(taskdeck::Scheduler::builder().build().unwrap())
        .prefix("dashboard")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("must start with '/'"), "{err}");
}
