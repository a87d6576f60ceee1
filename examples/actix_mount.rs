//! The dashboard in an actix-web app, in a scope at `/admin`.
//!
//! `cargo run --example actix_mount --features actix`, then open http://127.0.0.1:8000/admin/
//! (`TASKDECK_ADDR`, `TASKDECK_DEMO_USER`, `TASKDECK_DEMO_PASSWORD`, `TASKDECK_SECRET` as in
//! the demo).
#![allow(clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use actix_web::{web, App, HttpServer};

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let demo = support::demo_scheduler(0).await?;
    let scheduler = demo.scheduler.clone();
    let (auth, how) = support::demo_login()?;
    let dashboard = demo.dashboard().title("admin (actix)").auth(auth).build()?;
    // Fail at start, with the reason, rather than inside the worker factory.
    taskdeck::actix::scope("/admin", dashboard.clone())?;

    let addr = support::addr()?;
    println!("dashboard at http://{addr}/admin/");
    println!("{how}");
    HttpServer::new(move || {
        App::new()
            .route(
                "/",
                web::get().to(|| async { "the app's own page; the dashboard is at /admin/" }),
            )
            .service(taskdeck::actix::scope("/admin", dashboard.clone()).expect("checked above"))
    })
    .bind(addr)?
    .run()
    .await?;
    scheduler.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
