//! Cancel and retry over a real socket: the form routes and the API, roles, CSRF, bad ids,
//! wrong states, the bulk retry, the run page's args and result, and the audit log.
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
    let s = Scheduler::builder()
        .cancel_grace(Duration::from_secs(5))
        .build()
        .unwrap();
    s.register("waits", |ctx: TaskContext| async move {
        ctx.cancelled().await;
        Ok(())
    });
    s.register("fails", |ctx: TaskContext| async move {
        Err(format!("order {} failed", ctx.args()["order"]).into())
    });
    s.register_returning("counts", |_ctx: TaskContext| async move {
        Ok(json!({"rows": 3}))
    });
    for (id, job, args) in [
        ("w", "waits", json!({})),
        ("f", "fails", json!({"order": 9})),
        ("c", "counts", json!({"day": "monday"})),
    ] {
        s.add(
            Task::new(id, job)
                .every(Duration::from_secs(3600))
                .args(args),
        )
        .await
        .unwrap();
    }
    s.start().unwrap();
    let op = PasswordBackend::hash("op-pw").unwrap();
    let viewer = PasswordBackend::hash("viewer-pw").unwrap();
    let audit = Arc::new(AuditLog::new(100));
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(
                PasswordBackend::new()
                    .user("olga", &op, Role::Operator)
                    .unwrap()
                    .user("vic", &viewer, Role::Viewer)
                    .unwrap(),
            )
            .audit_sink(audit.clone()),
    )
    .await;
    (s, srv, audit)
}

async fn sign_in(srv: &Server, user: &str, pw: &str) -> (String, String) {
    sign_in_at(srv, user, pw, "/runs").await
}

async fn until_status(s: &Scheduler, id: u64, want: RunStatus) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while s.run(id).await.unwrap().status != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} never became {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn api_post(srv: &Server, path: &str, cookie: &str, csrf: &str) -> (StatusCode, Value) {
    let r = srv
        .request(
            Method::POST,
            path,
            &[
                ("cookie", cookie),
                ("x-csrf-token", csrf),
                ("sec-fetch-site", "same-origin"),
            ],
            "",
        )
        .await;
    (
        r.status,
        serde_json::from_str(&r.body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn cancel_a_running_run_from_the_page_and_the_api() {
    let (s, srv, audit) = setup().await;
    let (cookie, csrf) = sign_in(&srv, "olga", "op-pw").await;

    let run = s.run_now("w").await.unwrap();
    until_status(&s, run.id, RunStatus::Running).await;
    let page = srv
        .request(
            Method::GET,
            &format!("/runs/{}", run.id),
            &[("cookie", &cookie)],
            "",
        )
        .await;
    assert!(
        page.body.contains("Cancel run"),
        "an operator sees Cancel on a running run"
    );
    let r = srv
        .post_signed_in(&format!("/runs/{}/cancel", run.id), &cookie, &csrf, "")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), format!("/runs/{}", run.id));
    until_status(&s, run.id, RunStatus::Cancelled).await;
    assert_eq!(
        s.run(run.id).await.unwrap().error.as_deref(),
        Some("cancelled by olga")
    );
    let entries = audit.page(0, 100).0;
    let e = entries.iter().find(|e| e.action == "run.cancel").unwrap();
    assert_eq!(
        (e.actor.as_str(), e.target.as_deref()),
        ("olga", Some(run.id.to_string().as_str()))
    );

    // The API: 202 while running, 409 once it is not, 404 and 400 for bad ids.
    let run = s.run_now("w").await.unwrap();
    until_status(&s, run.id, RunStatus::Running).await;
    let (status, body) = api_post(
        &srv,
        &format!("/api/runs/{}/cancel", run.id),
        &cookie,
        &csrf,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["cancel_requested"], json!(true));
    assert!(
        body["run"]["started_at"].is_string(),
        "a running run shows its start: {body}"
    );
    until_status(&s, run.id, RunStatus::Cancelled).await;
    let (status, body) = api_post(
        &srv,
        &format!("/api/runs/{}/cancel", run.id),
        &cookie,
        &csrf,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["message"].as_str().unwrap().contains("not running"),
        "{body}"
    );
    let (status, _) = api_post(&srv, "/api/runs/424242/cancel", &cookie, &csrf).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = api_post(&srv, "/api/runs/abc/cancel", &cookie, &csrf).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn retry_one_run_or_what_a_filter_shows() {
    let (s, srv, audit) = setup().await;
    let (cookie, csrf) = sign_in(&srv, "olga", "op-pw").await;
    let first = s.run_now("f").await.unwrap();
    until_status(&s, first.id, RunStatus::Failed).await;

    let page = srv
        .request(
            Method::GET,
            &format!("/runs/{}", first.id),
            &[("cookie", &cookie)],
            "",
        )
        .await;
    assert!(page.body.contains(">Retry<"), "a failed run offers Retry");
    assert!(
        page.body.contains("&quot;order&quot;: 9"),
        "its args are shown"
    );
    let (status, body) = api_post(
        &srv,
        &format!("/api/runs/{}/retry", first.id),
        &cookie,
        &csrf,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["retry_of"], json!(first.id));
    assert_eq!(body["cause"], json!("retry"));
    assert_eq!(body["args"], json!({"order": 9}));
    let retry = body["id"].as_u64().unwrap();
    until_status(&s, retry, RunStatus::Failed).await;
    let page = srv.get_as(&format!("/runs/{retry}"), &cookie).await;
    assert!(
        page.body.contains(&format!("href=\"/runs/{}\"", first.id)),
        "linked to the original"
    );
    // Once per run.
    let (status, body) = api_post(
        &srv,
        &format!("/api/runs/{}/retry", first.id),
        &cookie,
        &csrf,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // A succeeded run: 409, and its result is on its page.
    let ok = s.run_now("c").await.unwrap();
    until_status(&s, ok.id, RunStatus::Succeeded).await;
    let (status, _) = api_post(&srv, &format!("/api/runs/{}/retry", ok.id), &cookie, &csrf).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let page = srv
        .request(
            Method::GET,
            &format!("/runs/{}", ok.id),
            &[("cookie", &cookie)],
            "",
        )
        .await;
    assert!(
        page.body.contains("&quot;rows&quot;: 3"),
        "the result is shown"
    );
    assert!(!page.body.contains(">Retry<"));

    // The bulk retry of what "failures of task f" shows: the retry run (the first is retried).
    let r = srv
        .post_signed_in(
            "/runs/retry",
            &cookie,
            &csrf,
            "task=f&status=failures&back=%2Fruns%3Ftask%3Df",
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), "/runs?task=f");
    let flash = r.header("set-cookie");
    assert!(
        flash.contains("Retried%201%20run") && flash.contains("1%20not%20retried"),
        "{flash}"
    );
    assert!(audit
        .page(0, 100)
        .0
        .iter()
        .any(|e| e.action == "runs.retry"));
    s.shutdown(Duration::ZERO).await;
}

/// A retry runs the task's job with the old run's args: once the task runs another job, those
/// args are not for it, and the retry is refused (409, one by one and in bulk, each refused
/// run named with why).
#[tokio::test]
async fn a_retry_is_refused_once_the_task_runs_another_job() {
    let (s, srv, audit) = setup().await;
    let (cookie, csrf) = sign_in(&srv, "olga", "op-pw").await;
    let failed = s.run_now("f").await.unwrap();
    until_status(&s, failed.id, RunStatus::Failed).await;
    s.update(
        Task::new("f", "counts")
            .every(Duration::from_secs(3600))
            .args(json!({"day": "tuesday"})),
    )
    .await
    .unwrap();
    let before = s.runs(&taskdeck::RunQuery::default()).await.unwrap().total;
    let (status, body) = api_post(
        &srv,
        &format!("/api/runs/{}/retry", failed.id),
        &cookie,
        &csrf,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let said = body.to_string();
    assert!(
        said.contains("now runs job") && said.contains("counts"),
        "{said}"
    );
    let r = srv
        .post_signed_in("/runs/retry", &cookie, &csrf, "task=f&status=failures")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let flash = r.header("set-cookie");
    assert!(
        flash.contains("Retried%200%20run")
            && flash.contains(&format!("%23{}", failed.id))
            && flash.contains("now%20runs%20job"),
        "{flash}"
    );
    assert_eq!(
        s.runs(&taskdeck::RunQuery::default()).await.unwrap().total,
        before,
        "nothing ran"
    );
    // The bulk retry's audit entry names what it retried and what it refused, and why.
    let entries = audit.page(0, 100).0;
    let bulk = entries
        .iter()
        .find(|e| e.action == "runs.retry")
        .expect("the bulk retry is audited");
    let target = bulk.target.as_deref().unwrap_or("");
    assert!(
        target.starts_with("retried: none; refused: #")
            && target.contains(&format!("#{}", failed.id))
            && target.contains("now runs job"),
        "{target}"
    );
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn viewers_and_forged_requests_are_refused() {
    let (s, srv, _audit) = setup().await;
    let (viewer, vcsrf) = sign_in(&srv, "vic", "viewer-pw").await;
    let run = s.run_now("w").await.unwrap();
    until_status(&s, run.id, RunStatus::Running).await;
    let page = srv
        .request(
            Method::GET,
            &format!("/runs/{}", run.id),
            &[("cookie", &viewer)],
            "",
        )
        .await;
    assert!(
        !page.body.contains("Cancel run"),
        "a viewer is not offered Cancel"
    );
    let (status, _) = api_post(
        &srv,
        &format!("/api/runs/{}/cancel", run.id),
        &viewer,
        &vcsrf,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (op, _) = sign_in(&srv, "olga", "op-pw").await;
    let (status, _) = api_post(&srv, &format!("/api/runs/{}/cancel", run.id), &op, "forged").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a missing or wrong CSRF token"
    );
    let r = srv
        .request(
            Method::GET,
            &format!("/runs/{}/cancel", run.id),
            &[("cookie", &op)],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        s.run(run.id).await.unwrap().status,
        RunStatus::Running,
        "still running"
    );
    let anon = srv.post_form(&format!("/runs/{}/cancel", run.id), "").await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert!(anon.header("location").starts_with("/login"));
    s.shutdown(Duration::ZERO).await;
}

/// `q` finds runs by their error or log text, `job` by their job, on the page and the API;
/// an over-long search is refused.
#[tokio::test]
async fn runs_search_error_and_log_text_and_filter_by_job() {
    let (s, srv, _audit) = setup().await;
    let (cookie, _) = sign_in(&srv, "olga", "op-pw").await;
    let failed = s.run_now("f").await.unwrap();
    let ok = s.run_now("c").await.unwrap();
    until_status(&s, failed.id, RunStatus::Failed).await;
    until_status(&s, ok.id, RunStatus::Succeeded).await;
    let ids = |path: &str| {
        let (srv, cookie) = (&srv, cookie.clone());
        let path = path.to_string();
        async move {
            let r = srv.get_as(&path, &cookie).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
            let v: Value = serde_json::from_str(&r.body).unwrap();
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_u64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids("/api/runs?q=ORDER+9").await,
        vec![failed.id],
        "error text, any case"
    );
    assert_eq!(ids("/api/runs?job=counts").await, vec![ok.id]);
    assert_eq!(ids("/api/runs?q=order&job=counts").await, Vec::<u64>::new());
    let long = "x".repeat(201);
    let r = srv.get_as(&format!("/api/runs?q={long}"), &cookie).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("\"field\":\"q\""), "{}", r.body);
    // Task search has the same bound.
    let r = srv.get_as(&format!("/api/tasks?q={long}"), &cookie).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("at most 200"), "{}", r.body);
    let r = srv
        .get_as(&format!("/api/tasks?q={}", "x".repeat(200)), &cookie)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let page = srv.get_as("/runs?q=order", &cookie).await;
    assert!(page.body.contains("name=\"q\" value=\"order\""));
    assert!(page.body.contains(&format!("href=\"/runs/{}\"", failed.id)));
    assert!(!page.body.contains(&format!("href=\"/runs/{}\"", ok.id)));
    s.shutdown(Duration::ZERO).await;
}

/// The task form's preview: the no-script button (`POST /tasks/preview`) renders the next five
/// fires without saving; the script's form-encoded `/api/preview` gives the same times.
#[tokio::test]
async fn the_form_previews_the_next_fires() {
    let (s, srv, audit) = setup().await;
    let (cookie, csrf) = sign_in(&srv, "olga", "op-pw").await;
    let form = "kind=cron&expr=0+30+9+*+*+*&timezone=Etc%2FUTC&id=new-one&job=counts";
    let r = srv
        .post_signed_in("/tasks/preview", &cookie, &csrf, form)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Next 5 fires"), "{}", r.body);
    let fires = r
        .body
        .split("<ol class=\"fires\">")
        .nth(1)
        .unwrap()
        .split("</ol>")
        .next()
        .unwrap();
    assert_eq!(fires.matches("<li>").count(), 5, "{fires}");
    assert!(fires.contains("09:30:00"), "{fires}");
    assert!(
        r.body.contains("value=\"0 30 9 * * *\""),
        "the form keeps what was typed"
    );
    assert!(s.get("new-one").await.is_err(), "nothing was saved");
    assert!(
        audit
            .page(0, 100)
            .0
            .iter()
            .all(|e| e.action != "task.create"),
        "nor audited as a change"
    );

    let bad = srv
        .post_signed_in(
            "/tasks/preview",
            &cookie,
            &csrf,
            "kind=cron&expr=61+*+*+*+*",
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("field-error"), "{}", bad.body);

    let r = srv
        .request(
            Method::POST,
            "/api/preview",
            &[
                ("cookie", &cookie),
                ("x-csrf-token", &csrf),
                ("content-type", "application/x-www-form-urlencoded"),
                ("sec-fetch-site", "same-origin"),
            ],
            "kind=interval&every=90m&n=5",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["fires"].as_array().unwrap().len(), 5);
    assert_eq!(v["fires_text"].as_array().unwrap().len(), 5);
    let r = srv
        .request(
            Method::POST,
            "/api/preview",
            &[
                ("cookie", &cookie),
                ("x-csrf-token", &csrf),
                ("content-type", "application/x-www-form-urlencoded"),
                ("sec-fetch-site", "same-origin"),
            ],
            "kind=interval&every=soon",
        )
        .await;
    // What the script asks while you type: an answer saying what is wrong, not a failure.
    assert_eq!(r.status, StatusCode::OK);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (v["valid"].clone(), v["field"].clone()),
        (json!(false), json!("every")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("soon"), "{v}");
    let r = srv
        .post_signed_in("/tasks/preview", &cookie, "forged", form)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "CSRF applies");
    s.shutdown(Duration::ZERO).await;
}

/// `/jobs` lists each job with its tasks, a day's runs and failures and durations; an operator
/// pauses and resumes every task of a job at once.
#[tokio::test]
async fn the_jobs_view_counts_and_pauses_a_job() {
    let (s, srv, audit) = setup().await;
    let (cookie, csrf) = sign_in(&srv, "olga", "op-pw").await;
    s.add(
        Task::new("f2", "fails")
            .every(Duration::from_secs(3600))
            .args(json!({"order": 1})),
    )
    .await
    .unwrap();
    for id in ["f", "f2"] {
        let r = s.run_now(id).await.unwrap();
        until_status(&s, r.id, RunStatus::Failed).await;
    }
    let ok = s.run_now("c").await.unwrap();
    until_status(&s, ok.id, RunStatus::Succeeded).await;

    let r = srv.get_as("/api/jobs", &cookie).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    let job = |name: &str| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == name)
            .unwrap()
            .clone()
    };
    let fails = job("fails");
    assert_eq!(
        (
            fails["tasks"].as_u64(),
            fails["runs_24h"].as_u64(),
            fails["failures_24h"].as_u64()
        ),
        (Some(2), Some(2), Some(2))
    );
    assert_eq!(fails["here"], json!(true));
    assert_eq!(
        fails["replicas"].as_array().unwrap().len(),
        1,
        "this process"
    );
    let counts = job("counts");
    assert_eq!(
        (counts["runs_24h"].as_u64(), counts["failures_24h"].as_u64()),
        (Some(1), Some(0))
    );
    assert!(
        counts["mean_ms"].is_u64() && counts["p95_ms"].is_u64(),
        "{counts}"
    );

    let page = srv.get_as("/jobs", &cookie).await;
    assert!(
        page.body.contains("Pause all")
            && page
                .body
                .contains("href=\"/runs?job=fails&amp;status=failures\""),
        "{}",
        page.body
    );

    let r = srv
        .post_signed_in("/jobs/fails/pause", &cookie, &csrf, "back=%2Fjobs")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.header("set-cookie").contains("Paused%202%20task"),
        "{}",
        r.header("set-cookie")
    );
    for id in ["f", "f2"] {
        assert!(s.get(id).await.unwrap().task.paused, "{id} paused");
    }
    // Each row offers what would change something: a job all paused, only Resume all.
    let page = srv.get_as("/jobs", &cookie).await.body;
    assert!(page.contains("/jobs/fails/resume"), "{page}");
    assert!(!page.contains("/jobs/fails/pause"), "{page}");
    assert!(page.contains("/jobs/counts/pause") && !page.contains("/jobs/counts/resume"));
    let v: Value = serde_json::from_str(&srv.get_as("/api/jobs", &cookie).await.body).unwrap();
    let fails = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "fails")
        .unwrap()
        .clone();
    assert_eq!(
        (fails["tasks"].as_u64(), fails["paused"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(
        !s.get("c").await.unwrap().task.paused,
        "other jobs' tasks untouched"
    );
    let r = srv
        .post_signed_in("/jobs/fails/resume", &cookie, &csrf, "")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(!s.get("f").await.unwrap().task.paused);
    let e = audit.page(0, 100).0;
    assert!(e
        .iter()
        .any(|e| e.action == "job.pause" && e.target.as_deref() == Some("fails")));
    // A viewer may look, not pause.
    let (viewer, vcsrf) = sign_in(&srv, "vic", "viewer-pw").await;
    let r = srv
        .post_signed_in("/jobs/fails/pause", &viewer, &vcsrf, "")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    s.shutdown(Duration::ZERO).await;
}

/// The charts: server-drawn SVG with an accessible name and a table of the numbers on the
/// overview and a task's page, and the same data from `/api/stats/series`.
#[tokio::test]
async fn charts_and_the_series_api() {
    let (s, srv, _audit) = setup().await;
    let (cookie, _) = sign_in(&srv, "olga", "op-pw").await;
    let r = s.run_now("f").await.unwrap();
    until_status(&s, r.id, RunStatus::Failed).await;
    let get = |path: &str| {
        let (srv, cookie, path) = (&srv, cookie.clone(), path.to_string());
        async move { srv.get_as(&path, &cookie).await }
    };
    let overview = get("/").await;
    for w in [
        "the last hour, per minute",
        "the last 24 hours, per hour",
        "the last 7 days, per hour",
    ] {
        assert!(
            overview
                .body
                .contains(&format!("All runs: runs and failures over {w}")),
            "{w}"
        );
    }
    assert_eq!(
        overview
            .body
            .matches("role=\"img\" aria-labelledby=\"chart-")
            .count(),
        3
    );
    assert!(overview.body.contains("<summary>The numbers</summary>"));
    assert!(
        overview.body.contains("1 run, which failed"),
        "{}",
        overview.body
    );
    let task = get("/tasks/f").await;
    assert!(task
        .body
        .contains("Runs of f: runs and failures over the last 24 hours"));

    let v: Value = serde_json::from_str(&get("/api/stats/series?window=7d").await.body).unwrap();
    assert_eq!(v["window"], json!("7d"));
    assert_eq!(v["points"].as_array().unwrap().len(), 168);
    let sum = |v: &Value, k: &str| {
        v["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[k].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!((sum(&v, "runs"), sum(&v, "failures")), (1, 1));
    let v: Value =
        serde_json::from_str(&get("/api/stats/series?window=1h&task=c").await.body).unwrap();
    assert_eq!(
        (v["points"].as_array().unwrap().len(), sum(&v, "runs")),
        (60, 0)
    );
    let bad = get("/api/stats/series?window=1y").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("expected 1h, 24h or 7d"), "{}", bad.body);
    assert_eq!(
        get("/api/stats/series?task=f&job=fails").await.status,
        StatusCode::BAD_REQUEST
    );
    s.shutdown(Duration::ZERO).await;
}

/// A retry that `max_instances` would skip (the task is busy) is refused (409) without using
/// up the run's one retry: once the task is free, the same run is retried.
#[tokio::test]
async fn a_retry_of_a_busy_task_keeps_its_one_retry() {
    let (s, srv, _audit) = setup().await;
    let (cookie, csrf) = sign_in(&srv, "olga", "op-pw").await;
    // A cancelled run of "w" (its job waits until cancelled), then another one going.
    let first = s.run_now("w").await.unwrap();
    s.cancel_run(first.id, "test").await.unwrap();
    until_status(&s, first.id, RunStatus::Cancelled).await;
    let busy = s.run_now("w").await.unwrap();
    until_status(&s, busy.id, RunStatus::Running).await;
    let (status, body) = api_post(
        &srv,
        &format!("/api/runs/{}/retry", first.id),
        &cookie,
        &csrf,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("max_instances"), "{body}");
    // Free again: the retry happens, linked to the run.
    s.cancel_run(busy.id, "test").await.unwrap();
    until_status(&s, busy.id, RunStatus::Cancelled).await;
    let (status, body) = api_post(
        &srv,
        &format!("/api/runs/{}/retry", first.id),
        &cookie,
        &csrf,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["retry_of"], json!(first.id));
    s.shutdown(Duration::ZERO).await;
}
