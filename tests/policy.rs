//! Secrets hidden and actions narrowed, over a real socket: a crawl of every page, API
//! answer, form and event finds no hidden value; forms saved with masks keep the stored
//! secrets; the `authorize` hook refuses (403) and hides the buttons of what it narrows.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use taskdeck::policy::{Field, MASK};
use taskdeck::{AuditLog, Dashboard, PasswordBackend, Role, Scheduler, Task, TaskContext};

/// Every secret the tasks and runs below hold starts with this.
const SECRET: &str = "S3CR3T";

async fn scheduler() -> Scheduler {
    let s = Scheduler::builder().build().unwrap();
    s.register_returning("echo", |ctx: TaskContext| async move {
        Ok(json!({ "got": ctx.args().clone() }))
    });
    s.register_returning("payroll", |_ctx: TaskContext| async move {
        Ok(json!({ "iban": format!("{SECRET}-iban"), "amount": 5 }))
    });
    s.register("mailer", |_ctx: TaskContext| async move { Ok(()) });
    let tasks = [
        (
            "deploy",
            "echo",
            json!({
                "env": "prod",
                "db": {"host": "db1", "password": format!("{SECRET}-pw")},
                "headers": [{"Authorization": format!("Bearer {SECRET}-auth")}],
                "nested": {"deeper": {"X-Api-Key": format!("{SECRET}-key")}}
            }),
        ),
        (
            "pay",
            "payroll",
            json!({"month": 3, "iban": format!("{SECRET}-iban-arg")}),
        ),
        ("mail", "mailer", json!({"to": "ops"})),
    ];
    for (id, job, args) in tasks {
        s.add(
            Task::new(id, job)
                .every(Duration::from_secs(3600))
                .args(args),
        )
        .await
        .unwrap();
    }
    s.start().unwrap();
    s
}

fn users() -> PasswordBackend {
    let admin = PasswordBackend::hash("admin-pw").unwrap();
    let op = PasswordBackend::hash("op-pw").unwrap();
    let viewer = PasswordBackend::hash("view-pw").unwrap();
    PasswordBackend::new()
        .user("ada", &admin, Role::Admin)
        .unwrap()
        .user("olga", &op, Role::Operator)
        .unwrap()
        .user("vera", &viewer, Role::Viewer)
        .unwrap()
}

/// The payroll job's values hidden by a hook: its IBANs, in args and results alike.
fn payroll_hook(job: &str, _field: Field, v: &mut Value) {
    if job == "payroll" {
        if let Some(iban) = v.get_mut("iban") {
            *iban = Value::String(MASK.into());
        }
    }
}

fn assert_clean(what: &str, body: &str) {
    assert!(
        !body.contains(SECRET),
        "{what} shows a hidden value: {}",
        &body[body.find(SECRET).unwrap().saturating_sub(200)..]
    );
}

/// The dashboard's own GET links from `start`, breadth first, at most `most`.
async fn crawl(srv: &Server, cookie: &str, start: &[String], most: usize) -> usize {
    let mut seen: BTreeSet<String> = start.iter().cloned().collect();
    let mut queue: VecDeque<String> = start.iter().cloned().collect();
    let mut fetched = 0;
    while let Some(path) = queue.pop_front() {
        let r = srv.get_as(&path, cookie).await;
        fetched += 1;
        // Form actions are in the links too: they answer GET with 405.
        assert!(
            r.status.is_success()
                || r.status.is_redirection()
                || r.status == StatusCode::METHOD_NOT_ALLOWED,
            "{path}: {}",
            r.status
        );
        assert_clean(&path, &r.body);
        for l in r.links() {
            let l = l.split('#').next().unwrap().to_string();
            let skip = !l.starts_with('/')
                || l.starts_with("//")
                || l.starts_with("/assets/")
                || l == "/events"
                || l.starts_with("/logout");
            if !skip && seen.len() < most && seen.insert(l.clone()) {
                queue.push_back(l);
            }
        }
    }
    fetched
}

#[tokio::test]
async fn no_page_api_answer_form_or_event_shows_a_hidden_value() {
    let s = scheduler().await;
    let audit = Arc::new(AuditLog::new(200));
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(users())
            .audit_sink(audit.clone())
            .redact(payroll_hook),
    )
    .await;
    let (cookie, csrf) = sign_in_at(&srv, "ada", "admin-pw", "/tasks/deploy").await;

    // Live events while runs start and end: the stream is open before the first starts.
    let events = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stream = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
        let (mut rd, mut wr) = stream.into_split();
        wr.write_all(
            format!("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let text = String::from_utf8_lossy(&buf).to_string();
            if text.contains(": connected") {
                break;
            }
            let n = tokio::time::timeout_at(deadline, rd.read(&mut chunk))
                .await
                .unwrap_or_else(|_| panic!("the stream opened: {text:?}"))
                .unwrap();
            assert!(n > 0, "stream closed: {text:?}");
            buf.extend_from_slice(&chunk[..n]);
        }
        tokio::spawn(async move {
            let _keep = wr;
            loop {
                let text = String::from_utf8_lossy(&buf).to_string();
                if text.matches("event: run_finished").count() >= 3 {
                    return text;
                }
                let n = tokio::time::timeout_at(deadline, rd.read(&mut chunk))
                    .await
                    .unwrap_or_else(|_| panic!("three runs ended within 20 s: {text:?}"))
                    .unwrap();
                assert!(n > 0, "stream closed: {text:?}");
                buf.extend_from_slice(&chunk[..n]);
            }
        })
    };

    // Runs: from the schedule's "run now", from the API, and with other args (whose
    // answers are checked too).
    let run = s.run_now("deploy").await.unwrap();
    ended(&s, run.id).await;
    let r = srv
        .api_as(Method::POST, "/api/tasks/pay/run", (&cookie, &csrf), "")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_clean("POST /api/tasks/pay/run", &r.body);
    let pay: u64 = serde_json::from_str::<Value>(&r.body).unwrap()["id"]
        .as_u64()
        .unwrap();
    let r = srv
        .api_as(
            Method::POST,
            "/api/tasks/deploy/run-with",
            (&cookie, &csrf),
            &json!({"args": {"password": format!("{SECRET}-other"), "env": "staging"}}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_clean("POST /api/tasks/deploy/run-with", &r.body);
    let with: u64 = serde_json::from_str::<Value>(&r.body).unwrap()["id"]
        .as_u64()
        .unwrap();
    // The jobs got the real values.
    let paid = ended(&s, pay).await;
    assert_eq!(paid.result.unwrap()["iban"], format!("{SECRET}-iban"));
    let other = ended(&s, with).await;
    assert_eq!(
        other.result.unwrap()["got"]["password"],
        format!("{SECRET}-other")
    );
    let text = events.await.unwrap();
    assert_clean("the event stream", &text);

    // Every page the dashboard links to, from the overview and the pages with forms.
    let start: Vec<String> = [
        "/",
        "/tasks/deploy/edit",
        "/tasks/deploy/run-with",
        "/tasks/new?copy=deploy",
        "/tasks/pay/edit",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        format!("/runs/{pay}"),
        format!("/runs/{with}"),
        format!("/tasks/deploy?run={with}"),
    ])
    .collect();
    let pages = crawl(&srv, &cookie, &start, 400).await;
    assert!(pages > 30, "the crawl reached {pages} pages");

    // Every JSON answer that carries tasks or runs.
    for path in [
        "/api/tasks".to_string(),
        "/api/tasks?q=deploy".to_string(),
        "/api/tasks/deploy".to_string(),
        "/api/tasks/pay".to_string(),
        "/api/tasks/deploy/runs".to_string(),
        "/api/tasks/pay/runs".to_string(),
        "/api/runs".to_string(),
        format!("/api/runs/{pay}"),
        format!("/api/runs/{with}"),
        "/api/jobs".to_string(),
        "/api/alerts".to_string(),
        "/api/audit".to_string(),
    ] {
        let r = srv.get_as(&path, &cookie).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_clean(&path, &r.body);
    }
    for (path, body) in [
        ("/api/tasks/mail/pause", String::new()),
        ("/api/tasks/mail/resume", String::new()),
    ] {
        let r = srv
            .api_as(Method::POST, path, (&cookie, &csrf), &body)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
    let r = srv
        .api_as(
            Method::PUT,
            "/api/tasks/deploy",
            (&cookie, &csrf),
            &json!({"id": "deploy", "job": "echo", "trigger": {"kind": "interval", "every": "1h"},
               "args": {"env": "prod", "db": {"host": "db1", "password": MASK},
                        "token": format!("{SECRET}-new")}})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_clean("PUT /api/tasks/deploy", &r.body);
    for a in audit.page(0, 200).0 {
        assert_clean("the audit log", &format!("{a:?}"));
    }

    // What is hidden says so: the mask and the note, on the task and the run.
    let task = srv.get_as("/tasks/deploy", &cookie).await.body;
    assert!(
        task.contains(MASK) && task.contains("values are shown as"),
        "{task}"
    );
    let run = srv.get_as(&format!("/runs/{pay}"), &cookie).await.body;
    assert!(run.contains("1 value is shown as"), "{run}");
    let json: Value =
        serde_json::from_str(&srv.get_as("/api/tasks/deploy", &cookie).await.body).unwrap();
    let args = &json["info"]["task"]["args"];
    assert_eq!(args["db"]["password"], MASK);
    assert_eq!(args["token"], MASK);
    assert_eq!(
        s.get("deploy").await.unwrap().task.args["db"]["password"],
        format!("{SECRET}-pw"),
        "the stored value was kept"
    );
    assert_eq!(args["env"], "prod", "other values are shown");
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn forms_saved_with_masks_keep_the_stored_secrets() {
    let s = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone()).auth(users())).await;
    let (cookie, csrf) = sign_in_at(&srv, "ada", "admin-pw", "/tasks/deploy").await;
    let stored = s.get("deploy").await.unwrap().task.args.clone();

    // The edit form shows the masks and says what they mean.
    let form = srv.get_as("/tasks/deploy/edit", &cookie).await.body;
    assert!(
        form.contains("leave them as they are to keep them"),
        "{form}"
    );
    assert_clean("the edit form", &form);

    // Saved with the masks and one value changed: the secrets stay, the change lands.
    let mut shown = srv
        .get_as("/api/tasks/deploy", &cookie)
        .await
        .body
        .parse::<Value>()
        .unwrap()["info"]["task"]["args"]
        .clone();
    shown["env"] = json!("staging");
    let body = format!(
        "job=echo&kind=interval&every=1h&max_instances=1&retries=0&args={}",
        enc(&shown.to_string())
    );
    let r = srv
        .post_signed_in("/tasks/deploy", &cookie, &csrf, &body)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let now = s.get("deploy").await.unwrap().task.args.clone();
    let mut want = stored.clone();
    want["env"] = json!("staging");
    assert_eq!(now, want);

    // Refused, naming the place, and nothing changes: a mask where nothing is stored, a
    // mask beside a changed value (a stored password sent to another host), a mask under
    // another job.
    let form_with = |args: &Value, job: &str| {
        format!(
            "job={job}&kind=interval&every=1h&max_instances=1&retries=0&args={}",
            enc(&args.to_string())
        )
    };
    let mut bad = shown.clone();
    bad["extra"] = json!({"token": MASK});
    let mut moved = shown.clone();
    moved["db"]["host"] = json!("attacker.example");
    for (args, job, want_text) in [
        (&bad, "echo", "extra holds a hidden value"),
        (&moved, "echo", "db holds a hidden value"),
        (&shown, "mailer", "kept only for job echo"),
    ] {
        let r = srv
            .post_signed_in("/tasks/deploy", &cookie, &csrf, &form_with(args, job))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{want_text}");
        assert!(r.body.contains(want_text), "{want_text}: {}", r.body);
        assert_eq!(s.get("deploy").await.unwrap().task.args, want);
    }

    // Run now with the task's args as shown: the run gets the real ones.
    let r = srv
        .post_signed_in(
            "/tasks/deploy/run-with",
            &cookie,
            &csrf,
            &format!("args={}", enc(&shown.to_string())),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id: u64 = r
        .header("location")
        .strip_prefix("/runs/")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        ended(&s, id).await.args["db"]["password"],
        stored["db"]["password"]
    );

    // A copy keeps the secrets of the task it copies.
    let form = srv.get_as("/tasks/new?copy=deploy", &cookie).await.body;
    assert!(form.contains("name=\"copy_of\" value=\"deploy\""), "{form}");
    let body = format!(
        "id=deploy2&job=echo&kind=interval&every=1h&max_instances=1&retries=0&copy_of=deploy&args={}",
        enc(&shown.to_string())
    );
    let r = srv.post_signed_in("/tasks", &cookie, &csrf, &body).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        s.get("deploy2").await.unwrap().task.args["nested"]["deeper"]["X-Api-Key"],
        stored["nested"]["deeper"]["X-Api-Key"]
    );
    // …but not into a task of another job, where another hook, or none, would show them.
    let body = format!(
        "id=deploy3&job=mailer&kind=interval&every=1h&max_instances=1&retries=0&copy_of=deploy&args={}",
        enc(&shown.to_string())
    );
    let r = srv.post_signed_in("/tasks", &cookie, &csrf, &body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(s.get("deploy3").await.is_err());

    // The API: a mask in an update keeps the stored value; in a creation it is refused.
    let r = srv
        .api_as(
            Method::PUT,
            "/api/tasks/deploy",
            (&cookie, &csrf),
            &json!({"job": "echo", "trigger": {"kind": "interval", "every": "2h"}, "args": shown})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(s.get("deploy").await.unwrap().task.args, want);
    let r = srv
        .api_as(
            Method::POST,
            "/api/tasks",
            (&cookie, &csrf),
            &json!({"id": "x", "job": "echo", "trigger": {"kind": "interval", "every": "2h"},
               "args": {"token": MASK}})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let e: Value = r.body.parse().unwrap();
    assert_eq!(e["field"], "args", "{e}");
    assert!(s.get("x").await.is_err(), "nothing was made");
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn the_secret_keys_can_be_replaced_or_turned_off() {
    let s = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone()).secret_keys(["env"])).await;
    let args = srv
        .get("/api/tasks/deploy")
        .await
        .body
        .parse::<Value>()
        .unwrap()["info"]["task"]["args"]
        .clone();
    assert_eq!(args["env"], MASK);
    assert_eq!(
        args["db"]["password"],
        format!("{SECRET}-pw"),
        "the default is replaced"
    );
    let srv = serve(Dashboard::builder(s.clone()).secret_keys(Vec::<String>::new())).await;
    let body = srv.get("/api/tasks/deploy").await.body;
    assert!(
        !body.contains(MASK) && body.contains(&format!("{SECRET}-key")),
        "{body}"
    );
    s.shutdown(Duration::ZERO).await;
}

/// Olga, an operator, may act on the payroll job's tasks only; everyone else as their role
/// allows. Counts the hook's calls.
fn narrowed(
    calls: Arc<AtomicUsize>,
) -> impl Fn(&taskdeck::User, &str, &taskdeck::policy::ActionTarget<'_>) -> bool {
    move |user, action, target| {
        calls.fetch_add(1, Ordering::SeqCst);
        // Nobody pauses mail2; olga acts on payroll alone.
        if target.task == Some("mail2") && action == "task.pause" {
            return false;
        }
        user.id != "olga" || target.job == Some("payroll")
    }
}

#[tokio::test]
async fn a_narrowed_operator_is_refused_with_403_and_sees_no_buttons() {
    let s = scheduler().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let audit = Arc::new(AuditLog::new(200));
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(users())
            .audit_sink(audit.clone())
            .authorize(narrowed(calls.clone())),
    )
    .await;
    s.add(Task::new("mail2", "mailer").every(Duration::from_secs(3600)))
        .await
        .unwrap();
    let (olga, csrf) = sign_in_at(&srv, "olga", "op-pw", "/tasks/pay").await;
    let (ada_for_jobs, ada_csrf) = sign_in_at(&srv, "ada", "admin-pw", "/jobs").await;

    // Buttons: on the payroll task, not on the mailer's.
    let pay = srv.get_as("/tasks/pay", &olga).await.body;
    assert!(pay.contains("action=\"/tasks/pay/run\""), "{pay}");
    let mail = srv.get_as("/tasks/mail", &olga).await.body;
    assert!(!mail.contains("action=\"/tasks/mail/run\""), "{mail}");
    assert!(!mail.contains("/tasks/mail/pause"), "{mail}");
    let rows = srv.get_as("/tasks", &olga).await.body;
    assert!(rows.contains("formaction=\"/tasks/pay/run\""), "{rows}");
    assert!(!rows.contains("formaction=\"/tasks/mail/run\""), "{rows}");
    let jobs = srv.get_as("/jobs", &olga).await.body;
    assert!(
        jobs.contains("/jobs/payroll/pause") && !jobs.contains("/jobs/mailer/pause"),
        "{jobs}"
    );

    // Actions: refused with 403 on the mailer, done on payroll.
    let r = srv
        .post_signed_in("/tasks/mail/run", &olga, &csrf, "")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("task.run"), "{}", r.body);
    let r = srv.post_signed_in("/tasks/pay/run", &olga, &csrf, "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = srv
        .post_signed_in("/jobs/mailer/pause", &olga, &csrf, "")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = srv
        .request(
            Method::POST,
            "/api/tasks/mail/pause",
            &[("cookie", &olga), ("x-csrf-token", &csrf)],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body.parse::<Value>().unwrap()["error"], "forbidden");
    assert!(!s.get("mail").await.unwrap().task.paused);

    // A run of the mailer: no retry button, and a retry is refused.
    let run = s.run_now("mail").await.unwrap();
    ended(&s, run.id).await;
    let page = srv.get_as(&format!("/runs/{}", run.id), &olga).await.body;
    assert!(!page.contains(&format!("/runs/{}/retry", run.id)), "{page}");
    let r = srv
        .post_signed_in(&format!("/runs/{}/retry", run.id), &olga, &csrf, "")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Bulk: the allowed task is paused, the other reported as refused.
    let r = srv
        .post_signed_in("/tasks/bulk/pause", &olga, &csrf, "id=pay&id=mail")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(s.get("pay").await.unwrap().task.paused);
    assert!(!s.get("mail").await.unwrap().task.paused);
    let r = srv
        .request(
            Method::POST,
            "/api/tasks/bulk/resume",
            &[
                ("cookie", &olga),
                ("x-csrf-token", &csrf),
                ("content-type", "application/json"),
            ],
            r#"{"ids": ["pay", "mail"]}"#,
        )
        .await;
    let out: Value = r.body.parse().unwrap();
    assert_eq!(out["done"], json!(["pay"]), "{out}");
    assert_eq!(out["failed"][0][0], "mail", "{out}");

    // A job's tasks are asked one by one: a hook that keeps one task of a job allowed
    // pauses that one alone.
    let r = srv
        .post_signed_in("/jobs/mailer/pause", &ada_for_jobs, &ada_csrf, "")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(s.get("mail").await.unwrap().task.paused);
    assert!(
        !s.get("mail2").await.unwrap().task.paused,
        "the hook refused mail2"
    );
    s.resume("mail").await.unwrap();

    // Signing out everywhere is one's own, never narrowed.
    let r = srv.post_signed_in("/logout/all", &olga, &csrf, "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (olga, csrf) = sign_in_at(&srv, "olga", "op-pw", "/tasks/pay").await;
    let _ = (&olga, &csrf);

    // Refusals are audited.
    assert!(audit
        .page(0, 200)
        .0
        .iter()
        .any(|e| e.action == "task.run" && e.actor == "olga" && e.outcome.starts_with("403")));

    // The hook narrows, never widens: a viewer it would allow is still refused by role,
    // before the hook is asked.
    let (vera, vcsrf) = sign_in_at(&srv, "vera", "view-pw", "/tasks/pay").await;
    let before = calls.load(Ordering::SeqCst);
    let r = srv
        .post_signed_in("/tasks/pay/run", &vera, &vcsrf, "")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("operator role"), "{}", r.body);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        before,
        "the hook was not asked"
    );

    // An admin the hook allows does everything.
    let (ada, acsrf) = sign_in_at(&srv, "ada", "admin-pw", "/tasks/mail").await;
    let mail = srv.get_as("/tasks/mail", &ada).await.body;
    assert!(mail.contains("action=\"/tasks/mail/run\""), "{mail}");
    let r = srv
        .post_signed_in("/tasks/mail/pause", &ada, &acsrf, "")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(s.get("mail").await.unwrap().task.paused);
    s.shutdown(Duration::ZERO).await;
}
