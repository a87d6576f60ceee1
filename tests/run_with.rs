//! "Run now with…" and "Copy as new task" over a real socket: the engine, the form and the
//! API, admin only, CSRF, bad JSON, unknown tasks, and the audit entry's hash.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use taskdeck::{
    AuditLog, Dashboard, PasswordBackend, Role, RunStatus, Scheduler, Task, TaskContext,
};

async fn setup() -> (Scheduler, Server, Arc<AuditLog>) {
    let s = Scheduler::builder().build().unwrap();
    s.register("fails", |ctx: TaskContext| async move {
        Err(format!("order {} failed", ctx.args()["order"]).into())
    });
    s.register_returning("echo", |ctx: TaskContext| async move {
        Ok(json!({ "got": ctx.args().clone() }))
    });
    for (id, job, args) in [
        ("f", "fails", json!({"order": 9})),
        ("e", "echo", json!({"day": "monday", "token": "t-1"})),
    ] {
        s.add(
            Task::new(id, job)
                .name(format!("Task {id}"))
                .every(Duration::from_secs(3600))
                .args(args),
        )
        .await
        .unwrap();
    }
    s.start().unwrap();
    let admin = PasswordBackend::hash("admin-pw").unwrap();
    let op = PasswordBackend::hash("op-pw").unwrap();
    let audit = Arc::new(AuditLog::new(100));
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(
                PasswordBackend::new()
                    .user("ada", &admin, Role::Admin)
                    .unwrap()
                    .user("olga", &op, Role::Operator)
                    .unwrap(),
            )
            .audit_sink(audit.clone())
            // Room for args over their own limit, so that the scheduler's check is reached.
            .body_limit(1 << 20),
    )
    .await;
    (s, srv, audit)
}

async fn sign_in(srv: &Server, user: &str, pw: &str) -> (String, String) {
    sign_in_at(srv, user, pw, "/tasks/e").await
}

#[tokio::test]
async fn a_run_with_other_args_keeps_them_and_its_retry_too() {
    let (s, _srv, _audit) = setup().await;
    let run = s.run_now_with("f", json!({"order": 7})).await.unwrap();
    assert_eq!(run.args, json!({"order": 7}));
    let run = ended(&s, run.id).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_deref(), Some("order 7 failed"));
    // The task keeps its own args; a retry of the run uses the run's.
    assert_eq!(s.get("f").await.unwrap().task.args, json!({"order": 9}));
    let retry = s.retry_run(run.id).await.unwrap().expect("a retry");
    let retry = ended(&s, retry.id).await;
    assert_eq!(retry.error.as_deref(), Some("order 7 failed"));
    // An unknown task is refused.
    assert!(matches!(
        s.run_now_with("ghost", json!(1)).await,
        Err(taskdeck::Error::UnknownTask { .. })
    ));
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn the_form_starts_one_run_with_the_args_given_and_audits_their_hash() {
    let (s, srv, audit) = setup().await;
    let (cookie, csrf) = sign_in(&srv, "ada", "admin-pw").await;
    let task = srv.get_as("/tasks/e", &cookie).await.body;
    assert!(task.contains("href=\"/tasks/e/run-with\""), "{task}");
    assert!(task.contains("href=\"/tasks/new?copy=e\""), "{task}");

    // The form holds the task's args, pretty-printed.
    let form = srv.get_as("/tasks/e/run-with", &cookie).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains("&quot;day&quot;: &quot;monday&quot;"),
        "{}",
        form.body
    );

    let r = srv
        .post_signed_in(
            "/tasks/e/run-with",
            &cookie,
            &csrf,
            &format!("args={}", enc(r#"{"day": "friday", "n": 2}"#)),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id: u64 = r
        .header("location")
        .strip_prefix("/runs/")
        .unwrap()
        .parse()
        .unwrap();
    let run = ended(&s, id).await;
    assert_eq!(run.args, json!({"day": "friday", "n": 2}));
    assert_eq!(run.result, Some(json!({"got": {"day": "friday", "n": 2}})));
    assert_eq!(run.cause, taskdeck::RunCause::Manual);
    assert_eq!(
        s.get("e").await.unwrap().task.args,
        json!({"day": "monday", "token": "t-1"})
    );
    let page = srv.get_as(&format!("/runs/{id}"), &cookie).await.body;
    assert!(
        page.contains("&quot;friday&quot;"),
        "the run shows its args"
    );

    // Audited with a keyed fingerprint of the args, not the args.
    let entries = audit.page(0, 100).0;
    let e = entries
        .iter()
        .find(|e| e.action == "task.run_with")
        .unwrap();
    let target = e.target.as_deref().unwrap();
    assert!(target.starts_with("e args hmac:"), "{target}");
    assert_eq!(target.len(), "e args hmac:".len() + 32);
    assert!(!target.contains("friday"));
    assert_eq!((e.actor.as_str(), e.outcome.as_str()), ("ada", "ok"));

    // Empty args run with null; bad JSON comes back in the form with a 400, nothing run.
    let before = s.runs(&Default::default()).await.unwrap().total;
    let bad = srv
        .post_signed_in("/tasks/e/run-with", &cookie, &csrf, "args=%7Bnope")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("not valid JSON"), "{}", bad.body);
    assert!(
        bad.body.contains("{nope"),
        "the text given is kept: {}",
        bad.body
    );
    assert_eq!(s.runs(&Default::default()).await.unwrap().total, before);
    let empty = srv
        .post_signed_in("/tasks/e/run-with", &cookie, &csrf, "args=")
        .await;
    assert_eq!(empty.status, StatusCode::SEE_OTHER);
    let id: u64 = empty
        .header("location")
        .strip_prefix("/runs/")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(s.run(id).await.unwrap().args, Value::Null);

    // Unknown task: 404 for the form and the post; no CSRF token: refused, nothing run.
    assert_eq!(
        srv.get_as("/tasks/ghost/run-with", &cookie).await.status,
        StatusCode::NOT_FOUND
    );
    let r = srv
        .post_signed_in("/tasks/ghost/run-with", &cookie, &csrf, "args=1")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let before = s.runs(&Default::default()).await.unwrap().total;
    let r = srv
        .request(
            Method::POST,
            "/tasks/e/run-with",
            &[
                ("cookie", &cookie),
                ("content-type", "application/x-www-form-urlencoded"),
                ("sec-fetch-site", "same-origin"),
            ],
            "args=1",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(s.runs(&Default::default()).await.unwrap().total, before);
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn the_api_runs_with_args_and_refuses_what_is_wrong() {
    let (s, srv, _audit) = setup().await;
    let (cookie, csrf) = sign_in(&srv, "ada", "admin-pw").await;
    let post = |body: &'static str, path: &'static str| {
        let (cookie, csrf) = (cookie.clone(), csrf.clone());
        let srv = &srv;
        async move {
            let r = srv
                .request(
                    Method::POST,
                    path,
                    &[
                        ("cookie", &cookie),
                        ("x-csrf-token", &csrf),
                        ("content-type", "application/json"),
                        ("sec-fetch-site", "same-origin"),
                    ],
                    body,
                )
                .await;
            (
                r.status,
                serde_json::from_str::<Value>(&r.body).unwrap_or(Value::Null),
            )
        }
    };
    let (status, run) = post(r#"{"args": {"order": 3}}"#, "/api/tasks/f/run-with").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{run}");
    assert_eq!(run["args"], json!({"order": 3}));
    let run = ended(&s, run["id"].as_u64().unwrap()).await;
    assert_eq!(run.error.as_deref(), Some("order 3 failed"));
    for (body, field) in [
        ("{}", "body"),
        ("{not json", "body"),
        (r#"{"args": 1, "extra": 2}"#, "body"),
    ] {
        let (status, v) = post(body, "/api/tasks/f/run-with").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["field"], field, "{body}");
    }
    let (status, _) = post(r#"{"args": 1}"#, "/api/tasks/ghost/run-with").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Args are bounded as a task's are (64 KiB): a bigger run is refused, none started.
    let before = s.runs(&Default::default()).await.unwrap().total;
    let big: &'static str = Box::leak(
        format!("{{\"args\": \"{}\"}}", "x".repeat(taskdeck::MAX_ARGS_BYTES)).into_boxed_str(),
    );
    let (status, v) = post(big, "/api/tasks/f/run-with").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["field"], "args");
    assert_eq!(s.runs(&Default::default()).await.unwrap().total, before);
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn an_operator_may_neither_run_with_args_nor_copy() {
    let (s, srv, _audit) = setup().await;
    let (cookie, csrf) = sign_in(&srv, "olga", "op-pw").await;
    let task = srv.get_as("/tasks/e", &cookie).await.body;
    assert!(task.contains("Run now"), "an operator may run it as it is");
    assert!(!task.contains("/run-with"), "{task}");
    assert!(!task.contains("copy=e"), "{task}");
    assert_eq!(
        srv.get_as("/tasks/e/run-with", &cookie).await.status,
        StatusCode::FORBIDDEN
    );
    let r = srv
        .post_signed_in("/tasks/e/run-with", &cookie, &csrf, "args=1")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = srv
        .request(
            Method::POST,
            "/api/tasks/e/run-with",
            &[
                ("cookie", &cookie),
                ("x-csrf-token", &csrf),
                ("content-type", "application/json"),
                ("sec-fetch-site", "same-origin"),
            ],
            r#"{"args": 1}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        srv.get_as("/tasks/new?copy=e", &cookie).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.runs(&Default::default()).await.unwrap().total, 0);
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn copy_as_new_task_fills_the_form_from_the_task() {
    let (s, srv, _audit) = setup().await;
    let (cookie, _csrf) = sign_in(&srv, "ada", "admin-pw").await;
    let form = srv.get_as("/tasks/new?copy=e", &cookie).await;
    assert_eq!(form.status, StatusCode::OK);
    let b = &form.body;
    assert!(b.contains("value=\"e-copy\""), "{b}");
    assert!(b.contains("value=\"Task e (copy)\""), "{b}");
    assert!(b.contains("<option value=\"echo\" selected"), "{b}");
    assert!(b.contains("&quot;monday&quot;"), "{b}");
    // The form posts to create: the original is untouched.
    assert!(b.contains("action=\"/tasks\""), "{b}");
    assert_eq!(
        srv.get_as("/tasks/new?copy=ghost", &cookie).await.status,
        StatusCode::NOT_FOUND
    );
    s.shutdown(Duration::ZERO).await;
}
