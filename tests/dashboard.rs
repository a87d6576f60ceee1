//! The dashboard end to end over a real socket: every route and action, under several mounts.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use taskdeck::{Dashboard, Event, Recv};

/// Pages of the URL map reachable by GET (relative to the base).
const PAGES: &[&str] = &[
    "/",
    "/tasks",
    "/tasks?q=alp&state=scheduled&trigger=interval&sort=name&dir=desc&page=1",
    "/tasks/new",
    "/tasks/alpha",
    "/tasks/alpha/edit",
    "/runs",
    "/runs?status=failures",
];

struct Mount {
    what: &'static str,
    prefix: &'static str,
    forwarded: Option<&'static str>,
    /// The path the client requests, before the base.
    request_base: &'static str,
    /// The public base every link must carry.
    public_base: &'static str,
}

#[tokio::test]
async fn every_page_links_under_its_base_in_every_mount() {
    let mounts = [
        Mount {
            what: "root",
            prefix: "",
            forwarded: None,
            request_base: "",
            public_base: "",
        },
        Mount {
            what: "/dashboard",
            prefix: "/dashboard",
            forwarded: None,
            request_base: "/dashboard",
            public_base: "/dashboard",
        },
        Mount {
            what: "/ops/jobs",
            prefix: "/ops/jobs",
            forwarded: None,
            request_base: "/ops/jobs",
            public_base: "/ops/jobs",
        },
        Mount {
            what: "proxy strips /ops, dashboard at /jobs",
            prefix: "/jobs",
            forwarded: Some("/ops"),
            request_base: "/jobs",
            public_base: "/ops/jobs",
        },
        Mount {
            what: "proxy strips everything, prefix already removed",
            prefix: "/jobs",
            forwarded: Some("/ops"),
            request_base: "",
            public_base: "/ops/jobs",
        },
    ];
    let (s, _clock) = scheduler().await;
    for m in mounts {
        let srv = serve(
            Dashboard::builder(s.clone())
                .prefix(m.prefix)
                .trust_proxy(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        )
        .await;
        let headers: Vec<(&str, &str)> = m
            .forwarded
            .iter()
            .map(|f| ("x-forwarded-prefix", *f))
            .collect();
        for page in PAGES {
            let path = format!("{}{}", m.request_base, page);
            let r = srv.request(Method::GET, &path, &headers, "").await;
            assert_eq!(
                r.status,
                StatusCode::OK,
                "{}: GET {path}: {}",
                m.what,
                r.body
            );
            assert!(
                r.header("content-type").starts_with("text/html"),
                "{}: {path}",
                m.what
            );
            let links = r.links();
            assert!(links.len() > 5, "{}: {path} has links", m.what);
            for l in links.into_iter().filter(|l| !l.starts_with('#')) {
                assert!(
                    l.starts_with(&format!("{}/", m.public_base)),
                    "{}: {path} links to {l:?}, outside {}",
                    m.what,
                    m.public_base
                );
            }
        }
        if !m.request_base.is_empty() {
            let r = srv
                .request(
                    Method::GET,
                    &format!("{}?x=1", m.request_base),
                    &headers,
                    "",
                )
                .await;
            assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT, "{}", m.what);
            assert_eq!(
                r.header("location"),
                format!("{}/?x=1", m.public_base),
                "{}",
                m.what
            );
        }
        // An action comes back under the public base.
        let r = srv
            .request(
                Method::POST,
                &format!("{}/tasks/alpha/pause", m.request_base),
                &[&headers[..], &[("sec-fetch-site", "same-origin")]].concat(),
                "back=%2Ftasks%3Fq%3Dal",
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", m.what);
        assert_eq!(
            r.header("location"),
            format!("{}/tasks?q=al", m.public_base),
            "{}",
            m.what
        );
        let path = if m.public_base.is_empty() {
            "/"
        } else {
            m.public_base
        };
        assert!(
            r.header("set-cookie").contains(&format!("Path={path};")),
            "{}: {}",
            m.what,
            r.header("set-cookie")
        );
        s.resume("alpha").await.unwrap();
    }
}

#[tokio::test]
async fn forwarded_prefix_only_from_trusted_proxies_and_only_when_clean() {
    let (s, _clock) = scheduler().await;
    let untrusted = serve(Dashboard::builder(s.clone()).prefix("/d")).await;
    let r = untrusted
        .request(
            Method::GET,
            "/d/tasks",
            &[("x-forwarded-prefix", "/evil")],
            "",
        )
        .await;
    assert!(
        r.links()
            .iter()
            .all(|l| l.starts_with("/d/") || l.starts_with('#')),
        "untrusted header ignored"
    );
    let trusted = serve(
        Dashboard::builder(s.clone())
            .prefix("/d")
            .trust_proxy(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    )
    .await;
    for bad in [
        "//evil.example",
        "https://evil.example",
        "/a\"b",
        "/a/../b",
        "evil",
    ] {
        let r = trusted
            .request(Method::GET, "/d/tasks", &[("x-forwarded-prefix", bad)], "")
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.links()
                .iter()
                .all(|l| l.starts_with("/d/") || l.starts_with('#')),
            "{bad:?} ignored"
        );
    }
}

#[tokio::test]
async fn errors_not_found_method_not_allowed_and_head() {
    let (s, _clock) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone()).prefix("/dashboard")).await;
    let r = srv.get("/dashboard/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("There is no page at this address"));
    let r = srv.get("/dashboard/tasks/ghost").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("no task with id"), "{}", r.body);
    let r = srv
        .request(Method::DELETE, "/dashboard/tasks/alpha", &[], "")
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), "GET, POST, HEAD");
    let r = srv.get("/dashboard/tasks/alpha/pause").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), "POST");
    let r = srv.request(Method::HEAD, "/dashboard/tasks", &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    let r = srv.get("/dashboard/tasks?page=x").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("page"), "names the field: {}", r.body);
    let r = srv.get("/dashboard/tasks?state=exploded").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let long = format!("/dashboard/tasks?q={}", "a".repeat(5000));
    assert_eq!(srv.get(&long).await.status, StatusCode::URI_TOO_LONG);
    let r = srv.get("/dashboard/runs/notanumber").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_response_carries_security_headers() {
    let (s, _clock) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone())).await;
    for path in ["/", "/tasks", "/api/tasks", "/nope", "/health"] {
        let r = srv.get(path).await;
        let csp = r.header("content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(r.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(r.header("referrer-policy"), "same-origin", "{path}");
        assert_eq!(r.header("cache-control"), "no-store", "{path}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            "",
            "no CORS: {path}"
        );
    }
    // Redirects are never rendered: they carry nosniff and a cache policy only (304s, with no
    // body, carry only what RFC 9110 asks: see the assets test).
    let r = srv.post_form("/tasks/alpha/pause", "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.header("x-content-type-options"), "nosniff");
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(r.header("content-security-policy"), "");
    let page = srv.get("/tasks").await.body;
    assert!(
        !page.contains("<script>") && !page.contains(" style="),
        "no inline script or style"
    );
}

#[tokio::test]
async fn row_actions_post_redirect_get_with_flash() {
    let (s, clock) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone()).prefix("/dashboard")).await;
    let mut events = s.subscribe();

    let r = srv
        .post_form("/dashboard/tasks/alpha/run", "back=%2Ftasks%3Fpage%3D1")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), "/dashboard/tasks?page=1");
    let cookie = r
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("taskdeck_flash="), "{cookie}");
    loop {
        if let Recv::Event(Event::RunFinished { task_id, .. }) = events.recv().await {
            if task_id == "alpha" {
                break;
            }
        }
    }
    let page = srv
        .request(
            Method::GET,
            "/dashboard/tasks?page=1",
            &[("cookie", &cookie)],
            "",
        )
        .await;
    assert!(page.body.contains("Started run #"), "flash shown");
    assert!(
        page.header("set-cookie").contains("Max-Age=0"),
        "flash cleared"
    );

    let r = srv.post_form("/dashboard/tasks/alpha/pause", "").await;
    assert_eq!(
        r.header("location"),
        "/dashboard/tasks/alpha",
        "no back: the task page"
    );
    assert!(s.get("alpha").await.unwrap().task.paused);
    srv.post_form("/dashboard/tasks/alpha/resume", "back=/")
        .await;
    assert!(!s.get("alpha").await.unwrap().task.paused);

    for hostile in [
        "back=%2F%2Fevil.example",
        "back=https%3A%2F%2Fevil.example",
        "back=%2F%5Cevil.example",
    ] {
        let r = srv.post_form("/dashboard/tasks/alpha/pause", hostile).await;
        assert_eq!(
            r.header("location"),
            "/dashboard/tasks/alpha",
            "{hostile} ignored"
        );
    }

    // Remove asks first (a page of its own without the script), then removes.
    let r = srv
        .post_form("/dashboard/tasks/gamma/remove", "back=%2Ftasks")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Please confirm") && r.body.contains("name=\"confirm\" value=\"yes\""));
    assert!(s.get("gamma").await.is_ok(), "not removed yet");
    let r = srv
        .post_form(
            "/dashboard/tasks/gamma/remove",
            "back=%2Ftasks%2Fgamma&confirm=yes",
        )
        .await;
    assert_eq!(
        r.header("location"),
        "/dashboard/tasks",
        "its own page is gone"
    );
    assert!(s.get("gamma").await.is_err());
    let r = srv.post_form("/dashboard/tasks/gamma/pause", "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "action on a removed task");
    let r = srv.post_form("/dashboard/tasks/alpha/explode", "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    drop(clock);
}

#[tokio::test]
async fn bulk_actions() {
    let (s, _clock) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone())).await;
    let r = srv
        .post_form(
            "/tasks/bulk/pause",
            "id=alpha&id=beta&id=ghost&back=%2Ftasks",
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.header("set-cookie").contains("2%20done"),
        "{}",
        r.header("set-cookie")
    );
    assert!(s.get("alpha").await.unwrap().task.paused && s.get("beta").await.unwrap().task.paused);
    let r = srv
        .post_form("/tasks/bulk/remove", "id=alpha&id=beta")
        .await;
    assert_eq!(r.status, StatusCode::OK, "asks first");
    assert!(r.body.contains("alpha, beta"));
    let r = srv
        .post_form("/tasks/bulk/remove", "id=alpha&confirm=yes")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(s.get("alpha").await.is_err());
    let r = srv.post_form("/tasks/bulk/resume", "").await;
    assert!(
        r.header("set-cookie").contains("Select"),
        "nothing selected says so"
    );
    assert_eq!(
        srv.post_form("/tasks/bulk/explode", "id=beta").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn create_and_edit_with_inline_validation() {
    let (s, _clock) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone()).prefix("/d")).await;
    let form = srv.get("/d/tasks/new").await;
    assert!(
        form.body
            .contains("<option value=\"report\">report</option>"),
        "registered jobs offered"
    );

    let r = srv
        .post_form(
            "/d/tasks",
            "id=new-one&job=report&kind=interval&every=soon&args=%7Bbad",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("is not a duration"), "every error inline");
    assert!(r.body.contains("not valid JSON"), "args error inline");
    assert!(r.body.contains("value=\"new-one\""), "typed values kept");

    let r = srv
        .post_form("/d/tasks", "id=alpha&job=report&kind=interval&every=30s")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("already exists"), "duplicate id");

    let r = srv
        .post_form("/d/tasks", "id=nightly&job=nope&kind=cron&expr=0+3+*+*+*")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("unknown job"), "{}", r.body);

    let r = srv
        .post_form("/d/tasks", "id=nightly&name=Nightly&job=report&kind=cron&expr=0+3+*+*+*&timezone=Europe%2FBerlin&args=%7B%22to%22%3A%22ops%22%7D&coalesce=on")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.header("location"), "/d/tasks/nightly");
    let t = s.get("nightly").await.unwrap();
    assert_eq!(t.task.args["to"], "ops");

    let r = srv
        .post_form("/d/tasks/nightly", "job=report&kind=cron&expr=61+*+*+*+*")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("invalid cron expression"), "{}", r.body);
    let r = srv
        .post_form(
            "/d/tasks/nightly",
            "job=report&kind=interval&every=2m&name=Renamed",
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(s.get("nightly").await.unwrap().task.name, "Renamed");
    let r = srv
        .post_form("/d/tasks/ghost", "job=report&kind=interval&every=2m")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn task_page_shows_history_chart_logs_and_next_fires() {
    let (s, clock) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone())).await;
    let mut events = s.subscribe();
    clock.advance(Duration::from_secs(60));
    loop {
        if let Recv::Event(Event::RunFinished { .. }) = events.recv().await {
            break;
        }
    }
    let page = srv.get("/tasks/alpha").await.body;
    assert!(page.contains("<svg class=\"chart\""), "duration chart");
    assert!(page.contains("report sent"), "log lines of the latest run");
    assert_eq!(
        page.matches("<li><time datetime=").count(),
        10,
        "next 10 fires"
    );
    let run = s.runs(&Default::default()).await.unwrap().items.remove(0);
    let r = srv.get(&format!("/runs/{}", run.id)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("report sent"));
    assert_eq!(srv.get("/runs/999999").await.status, StatusCode::NOT_FOUND);
    let r = srv.get(&format!("/tasks/beta?run={}", run.id)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a run of another task");
}

#[tokio::test]
async fn json_api() {
    let (s, _clock) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone()).prefix("/dashboard")).await;
    let r = srv.get("/dashboard/api/tasks?sort=name&per_page=2").await;
    assert_eq!(r.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["total"], 3);
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    assert_eq!(v["items"][0]["task"]["id"], "alpha");

    let r = srv.get("/dashboard/api/tasks/alpha").await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["upcoming"].as_array().unwrap().len(), 10);

    let r = srv.get("/dashboard/api/tasks/ghost").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["error"], "not_found");

    let created = srv
        .post_json(
            Method::POST,
            "/dashboard/api/tasks",
            r#"{"id":"api-1","job":"report","trigger":{"kind":"interval","every":"10s"}}"#,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let dup = srv
        .post_json(
            Method::POST,
            "/dashboard/api/tasks",
            r#"{"id":"api-1","job":"report","trigger":{"kind":"interval","every":"10s"}}"#,
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let bad = srv
        .post_json(
            Method::POST,
            "/dashboard/api/tasks",
            r#"{"id":"x","job":"report","trigger":{"kind":"cron","expr":"nope"}}"#,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let v: serde_json::Value = serde_json::from_str(&bad.body).unwrap();
    assert_eq!(v["field"], "trigger");
    let malformed = srv
        .post_json(Method::POST, "/dashboard/api/tasks", "{not json")
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(malformed.body.contains("invalid JSON"));

    let upd = srv
        .post_json(
            Method::PUT,
            "/dashboard/api/tasks/api-1",
            r#"{"job":"report","trigger":{"kind":"interval","every":"20s"}}"#,
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK, "{}", upd.body);
    let mismatch = srv
        .post_json(
            Method::PUT,
            "/dashboard/api/tasks/api-1",
            r#"{"id":"other","job":"report","trigger":{"kind":"interval","every":"20s"}}"#,
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);

    let run = srv
        .post_json(Method::POST, "/dashboard/api/tasks/api-1/run", "")
        .await;
    assert_eq!(run.status, StatusCode::ACCEPTED);
    let pause = srv
        .post_json(Method::POST, "/dashboard/api/tasks/api-1/pause", "")
        .await;
    assert_eq!(pause.status, StatusCode::OK);
    let unknown = srv
        .post_json(Method::POST, "/dashboard/api/tasks/api-1/explode", "")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bulk = srv
        .post_json(
            Method::POST,
            "/dashboard/api/tasks/bulk/resume",
            r#"{"ids":["api-1","ghost"]}"#,
        )
        .await;
    let v: serde_json::Value = serde_json::from_str(&bulk.body).unwrap();
    assert_eq!(v["done"][0], "api-1");
    assert_eq!(v["failed"][0][0], "ghost");
    let removed = srv
        .post_json(Method::POST, "/dashboard/api/tasks/api-1/remove", "")
        .await;
    assert_eq!(removed.status, StatusCode::OK);
    let again = srv
        .post_json(Method::POST, "/dashboard/api/tasks/api-1/pause", "")
        .await;
    assert_eq!(
        again.status,
        StatusCode::NOT_FOUND,
        "action on a removed task"
    );

    let runs = srv.get("/dashboard/api/runs?status=succeeded").await;
    assert_eq!(runs.status, StatusCode::OK);
    let bad_status = srv.get("/dashboard/api/runs?status=exploded").await;
    assert_eq!(bad_status.status, StatusCode::BAD_REQUEST);
    let v: serde_json::Value = serde_json::from_str(&bad_status.body).unwrap();
    assert_eq!(v["field"], "status");
    let stats = srv.get("/dashboard/api/stats").await;
    let v: serde_json::Value = serde_json::from_str(&stats.body).unwrap();
    assert_eq!(v["scheduler"]["timezone"], "Europe/Berlin");
    let wrong = srv
        .request(Method::DELETE, "/dashboard/api/tasks", &[], "")
        .await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong.header("content-type").starts_with("application/json"));

    let big = format!(
        r#"{{"id":"big","job":"report","trigger":{{"kind":"interval","every":"1m"}},"args":"{}"}}"#,
        "x".repeat(70_000)
    );
    let r = srv
        .post_json(Method::POST, "/dashboard/api/tasks", &big)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let preview = srv
        .post_json(
            Method::POST,
            "/dashboard/api/preview",
            r#"{"kind":"cron","expr":"0 9 * * MON"}"#,
        )
        .await;
    let v: serde_json::Value = serde_json::from_str(&preview.body).unwrap();
    assert_eq!(v["fires"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let (s, _clock) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone())).await;
    let r = srv
        .request(
            Method::POST,
            "/tasks/alpha/pause",
            &[("sec-fetch-site", "cross-site")],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("Sec-Fetch-Site"));
    let host = srv.addr.to_string();
    let r = srv
        .request(
            Method::POST,
            "/tasks/alpha/pause",
            &[("origin", "https://evil.example"), ("host", &host)],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!s.get("alpha").await.unwrap().task.paused);
}

#[tokio::test]
async fn health_metrics_and_assets() {
    let (s, _clock) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone()).prefix("/dashboard")).await;
    let r = srv.get("/dashboard/health").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, r#"{"status":"ok"}"#)
    );
    let m = srv.get("/dashboard/metrics").await.body;
    assert!(
        m.contains("taskdeck_cluster_tasks{state=\"paused\"} 1"),
        "{m}"
    );
    assert!(m.contains("# TYPE taskdeck_run_duration_seconds histogram"));

    let page = srv.get("/dashboard/").await;
    let css = page
        .links()
        .into_iter()
        .find(|l| l.contains("app.css"))
        .unwrap();
    let r = srv
        .request(Method::GET, &css, &[("accept-encoding", "gzip")], "")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-encoding"), "gzip");
    assert!(r.header("cache-control").contains("immutable"));
    let etag = r.header("etag").to_string();
    let r = srv
        .request(Method::GET, &css, &[("if-none-match", &etag)], "")
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());
    // What RFC 9110 asks a 304 to repeat from the 200, and nothing for a body it lacks.
    assert_eq!(r.header("etag"), etag);
    assert!(r.header("cache-control").contains("immutable"));
    assert_eq!(r.header("vary"), "Accept-Encoding");
    assert_eq!(r.header("x-content-type-options"), "");
    // The version is matched as written: another one is revalidated, not cached for a year.
    let stale = format!("{}0", css);
    let r = srv
        .request(Method::GET, &stale, &[("if-none-match", &etag)], "")
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.header("cache-control").contains("must-revalidate"));
    assert_eq!(
        srv.get("/dashboard/assets/nope.js").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn partial_requests_get_the_main_fragment() {
    let (s, _clock) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone())).await;
    let r = srv
        .request(Method::GET, "/tasks", &[("hx-request", "true")], "")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.starts_with("<main id=\"main\""),
        "{}",
        &r.body[..80.min(r.body.len())]
    );
    assert!(!r.body.contains("<html"));
}

#[tokio::test]
async fn event_stream_delivers_backend_events() {
    let (s, _clock) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone()).prefix("/dashboard")).await;
    let stream = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    wr.write_all(b"GET /dashboard/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let has = |needle: &str, buf: &[u8]| String::from_utf8_lossy(buf).contains(needle);
    // Headers and the opening comment.
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), rd.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        buf.extend_from_slice(&chunk[..n]);
        if has(": connected", &buf) {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    assert!(head.contains("content-type: text/event-stream"));
    assert!(head.contains("x-accel-buffering: no"));
    s.pause("alpha").await.unwrap();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), rd.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        buf.extend_from_slice(&chunk[..n]);
        if has("event: task_paused", &buf) {
            break;
        }
    }
    assert!(
        String::from_utf8_lossy(&buf).contains(r#"data: {"type":"task_paused","task_id":"alpha"}"#)
    );
}

/// A `tracing` writer into a shared buffer, to read what the dashboard logged.
#[derive(Clone, Default)]
struct Logged(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logged {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logged {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A dashboard mounted under a path it was not told about (here: every request arrives with
/// `/ops` in front of a dashboard built for `/`) says so once, with the fix; a stranger's 404
/// page shows neither the navigation nor the scheduler's state.
#[tokio::test(flavor = "current_thread")]
async fn a_mount_it_was_not_told_about_is_logged_once_with_the_fix() {
    let logged = Logged::default();
    let writer = logged.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (s, _clock) = scheduler().await;
    let d = Dashboard::builder(s.clone())
        .auth(admin_login())
        .secret(b"mount-hint-secret-0123456789abcdef!!")
        .build()
        .unwrap();
    let get = |path: &str| {
        http::Request::get(path)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap()
    };
    let body = |r: http::Response<taskdeck::Body>| async move {
        use http_body_util::BodyExt as _;
        let b = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(b.to_vec()).unwrap()
    };
    // Scanners' paths that leave no route behind say nothing.
    let r = d.handle(get("/wp-admin/setup.php")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(logged.text(), "");

    let r = d.handle(get("/ops/tasks")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let page = body(r).await;
    assert!(page.contains("There is no page at this address"), "{page}");
    for hidden in [
        "Scheduler:",
        "nav-item",
        "Overview",
        "Pause scheduler",
        "Sign out",
    ] {
        assert!(
            !page.contains(hidden),
            "a stranger's 404 shows {hidden:?}: {page}"
        );
    }
    let log = logged.text();
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("looks mounted at \"/ops\""), "{log}");
    assert!(log.contains("DashboardBuilder::prefix(\"/ops\")"), "{log}");
    // Once: the next miss logs nothing more.
    let r = d.handle(get("/ops/runs")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(logged.text().matches("looks mounted at").count(), 1);

    // A dashboard that has answered at its own prefix does not guess afterwards.
    let logged2 = Logged::default();
    let writer2 = logged2.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer2.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let d = Dashboard::builder(s.clone())
        .prefix("/dashboard")
        .build()
        .unwrap();
    let r = d.handle(get("/dashboard/health")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = d.handle(get("/elsewhere/tasks")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        !logged2.text().contains("looks mounted at"),
        "{}",
        logged2.text()
    );
}

/// What `fn main() -> Result<(), Box<dyn Error>>` prints of an error is its `Debug`: it must
/// carry the message and its hint, and a failed bind must name the address.
#[tokio::test]
async fn errors_from_main_carry_their_hint_and_a_busy_address_is_named() {
    let (s, _clock) = scheduler().await;
    let err = Dashboard::builder(s.clone())
        .prefix("jobs")
        .build()
        .unwrap_err();
    let printed = format!("{:?}", Box::<dyn std::error::Error>::from(err));
    assert!(
        printed.contains("write it like \"/dashboard\""),
        "{printed}"
    );
    assert!(!printed.contains("PrefixError"), "{printed}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let d = Dashboard::builder(s.clone()).build().unwrap();
    let err = d.serve(addr, async {}).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    let printed = format!("{err:?}");
    assert!(
        printed.contains(&format!("cannot listen on {addr}")),
        "{printed}"
    );
    assert!(printed.contains("choose another port"), "{printed}");
}

/// `taskdeck-password` (the crate's program for user lists) prints an entry the password
/// backend takes, for the password read from standard input.
#[tokio::test]
async fn the_password_program_prints_an_entry_the_backend_takes() {
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskdeck-password"));
    cmd.args(["ada", "admin"]);
    let out = run_with_input(cmd, b"correct horse\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entry = String::from_utf8(out.stdout).unwrap();
    let entry = entry.trim();
    assert!(entry.starts_with("ada:$argon2id$"), "{entry}");
    assert!(entry.ends_with(":admin"), "{entry}");
    taskdeck::PasswordBackend::from_list(entry).unwrap();
    // The hash is of the password given, not of the line's end.
    use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
    let phc = &entry["ada:".len()..entry.len() - ":admin".len()];
    let parsed = PasswordHash::new(phc).unwrap();
    argon2::Argon2::default()
        .verify_password(b"correct horse", &parsed)
        .unwrap();
    assert!(argon2::Argon2::default()
        .verify_password(b"correct horse\n", &parsed)
        .is_err());

    // A bad role is refused with the usage, not a hash.
    let out = Command::new(env!("CARGO_BIN_EXE_taskdeck-password"))
        .args(["ada", "boss"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}

/// Pages say things in words an operator reads: a completed one-off task offers no Pause, a
/// run without args or result says so instead of `null` or a hint for developers.
#[tokio::test]
async fn completed_tasks_and_empty_values_read_plainly() {
    let s = taskdeck::Scheduler::builder().build().unwrap();
    s.register("once", |_ctx: taskdeck::TaskContext| async { Ok(()) });
    let at = jiff::Timestamp::now() + Duration::from_millis(200);
    s.add(taskdeck::Task::new("one-off", "once").at(at))
        .await
        .unwrap();
    s.start().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while s.get("one-off").await.unwrap().state != taskdeck::TaskState::Completed
        || s.runs(&taskdeck::RunQuery::default()).await.unwrap().total == 0
    {
        assert!(tokio::time::Instant::now() < deadline, "never completed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let srv = serve(Dashboard::builder(s.clone())).await;
    let page = srv.get("/tasks/one-off").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("/tasks/one-off/pause"), "{}", page.body);
    assert!(
        page.body.contains("/tasks/one-off/run"),
        "it may still run now"
    );
    assert!(page.body.contains("No arguments."), "{}", page.body);
    let list = srv.get("/tasks").await;
    assert!(!list.body.contains("/tasks/one-off/pause"), "{}", list.body);
    let run = s.runs(&taskdeck::RunQuery::default()).await.unwrap().items[0].id;
    let run_page = srv.get(&format!("/runs/{run}")).await;
    assert!(run_page.body.contains("No arguments."), "{}", run_page.body);
    assert!(run_page.body.contains("No result."), "{}", run_page.body);
    assert!(!run_page.body.contains("set_result"), "no developer hint");
    s.shutdown(Duration::ZERO).await;
}

/// A cron task in a zone of its own lists its next fires in that zone, as its trigger reads
/// ("At 09:00 … (Europe/Berlin)"), not in the scheduler's.
#[tokio::test]
async fn fires_are_listed_in_the_triggers_zone() {
    let s = taskdeck::Scheduler::builder()
        .timezone("UTC")
        .build()
        .unwrap();
    s.register("report", |_ctx: taskdeck::TaskContext| async { Ok(()) });
    s.add(
        taskdeck::Task::new("berlin", "report")
            .cron_in("0 0 9 * * *", "Europe/Berlin")
            .unwrap(),
    )
    .await
    .unwrap();
    let srv = serve(Dashboard::builder(s.clone())).await;
    let page = srv.get("/tasks/berlin").await;
    assert_eq!(page.status, StatusCode::OK);
    let fires = &page.body[page.body.find("Next 10 fires").expect("the fires")..];
    let first = &fires[..fires.find("</ol>").unwrap()];
    assert!(first.matches("09:00:00 CE").count() >= 10, "{first}");
    assert!(!first.contains("UTC"), "{first}");
}

/// The overview's "24 h" cards and its 24-hour chart count the same runs, even one that ran
/// 23 h 55 min ago, within the last 1,440 minutes but before the chart's first hour.
#[tokio::test]
async fn the_day_cards_and_the_day_chart_agree() {
    let (s, clock) = scheduler().await;
    s.pause("alpha").await.unwrap();
    clock.advance(Duration::from_secs(55 * 60));
    let run = s.run_now("alpha").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while s.run(run.id).await.unwrap().status == taskdeck::RunStatus::Running {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run never ended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    clock.advance(Duration::from_secs((23 * 60 + 55) * 60));
    let srv = serve(Dashboard::builder(s.clone())).await;
    let page = srv.get("/").await.body;
    let card = |label: &str| -> u64 {
        let at = page.find(&format!(">{label}<")).expect(label);
        let num = &page[..at];
        let start = num.rfind("stat-num\">").unwrap() + "stat-num\">".len();
        num[start..start + num[start..].find('<').unwrap()]
            .parse()
            .unwrap()
    };
    let day = &page[page
        .find("over the last 24 hours, per hour")
        .expect("the day chart")..];
    let chart_says_none = day[..day.find("</figure>").unwrap_or(day.len())].contains("No runs.");
    let cards = card("runs, 24 h");
    assert!(
        (cards == 0) == chart_says_none,
        "cards say {cards} runs in 24 h, the chart says none: {chart_says_none}"
    );
}

/// An open alert shows on the overview ("Needs attention"), on its task's page, in the tasks
/// list's filter, in `/api/alerts` and in `/metrics`.
#[tokio::test]
async fn alerts_are_shown_filtered_and_served() {
    let clock = taskdeck::ManualClock::new(T0.parse().unwrap());
    let s = taskdeck::Scheduler::builder()
        .clock(clock.clone())
        .build()
        .unwrap();
    s.register("sync", |_ctx: taskdeck::TaskContext| async { Ok(()) });
    for id in ["stuck", "fine"] {
        s.add(taskdeck::Task::new(id, "sync").every(Duration::from_secs(3600)))
            .await
            .unwrap();
    }
    s.pause("fine").await.unwrap();
    let srv = serve(Dashboard::builder(s.clone())).await;
    let empty = srv.get("/tasks?attention=1").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(
        empty.body.contains("No task needs attention"),
        "{}",
        empty.body
    );
    assert!(!srv.get("/").await.body.contains("Needs attention"));

    // Never started: past its fire by more than the grace, it is overdue.
    clock.advance(Duration::from_secs(3600 + 120));
    let raised = s.check_alerts().await.unwrap().raised;
    assert_eq!(raised.len(), 1);
    let home = srv.get("/").await.body;
    assert!(home.contains("Needs attention"), "{home}");
    assert!(home.contains("not fired: 2m past its fire"), "{home}");
    assert!(home.contains("/tasks?attention=1"), "{home}");
    let list = srv.get("/tasks?attention=1").await.body;
    assert!(list.contains("/tasks/stuck\""), "{list}");
    assert!(!list.contains("/tasks/fine\""), "{list}");
    let task = srv.get("/tasks/stuck").await.body;
    assert!(
        task.contains("Needs attention") && task.contains("not fired"),
        "{task}"
    );
    assert!(!srv
        .get("/tasks/fine")
        .await
        .body
        .contains("Needs attention"));
    let api = srv.get("/api/alerts").await;
    assert_eq!(api.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(v["items"][0]["kind"], "overdue");
    assert_eq!(v["items"][0]["task_id"], "stuck");
    let filtered: serde_json::Value =
        serde_json::from_str(&srv.get("/api/tasks?attention=1").await.body).unwrap();
    assert_eq!(filtered["total"], 1);
    let metrics = srv.get("/metrics").await.body;
    assert!(
        metrics.contains("taskdeck_cluster_alerts_open{kind=\"overdue\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("taskdeck_alerts_total{kind=\"overdue\"} 1"));
    // A filter value that means nothing is refused, saying which.
    let bad = srv.get("/api/tasks?attention=maybe").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("attention"), "{}", bad.body);
}

/// The run page: the outcome, the task and the actions in one bar; an error card only when
/// there is an error; no repeated "run #"; nothing addressed to developers.
#[tokio::test]
async fn the_run_page_reads_plainly() {
    let (s, _clock) = scheduler().await;
    let ok = s.run_now("alpha").await.unwrap();
    let bad = s.run_now("beta").await.unwrap();
    s.settled().await;
    let srv = serve(Dashboard::builder(s.clone())).await;
    let page = srv.get(&format!("/runs/{}", ok.id)).await.body;
    assert!(
        !page.contains(&format!("run #{}<", ok.id)),
        "the title says which run"
    );
    assert!(
        !page.contains("<h2>Error</h2>"),
        "no error card for a success"
    );
    assert!(page.contains("of task <a"), "{page}");
    let page = srv.get(&format!("/runs/{}", bad.id)).await.body;
    let bar = page.find("class=\"toolbar\"").unwrap();
    let retry = page.find(">Retry<").unwrap();
    let details = page.find("<h2>Details</h2>").unwrap();
    assert!(
        bar < retry && retry < details,
        "Retry sits in the bar above the cards"
    );
    assert!(page.contains("<h2>Error</h2>") && page.contains("upstream said 503"));
    assert!(page.contains("Nothing logged."));
    assert!(!page.contains("ctx.log"), "no developer hint");
    s.shutdown(Duration::ZERO).await;
}

/// The overview's 24 h cards, its day chart and the jobs page count the same runs, beyond
/// the history each task keeps (3 runs here).
#[tokio::test]
async fn the_overview_the_day_chart_and_the_jobs_page_agree() {
    let clock = taskdeck::ManualClock::new(T0.parse().unwrap());
    let s = taskdeck::Scheduler::builder()
        .clock(clock.clone())
        .history(taskdeck::store::HistoryLimits {
            per_task: 3,
            total: 1000,
        })
        .build()
        .unwrap();
    s.register("report", |_ctx: taskdeck::TaskContext| async { Ok(()) });
    s.register("flaky", |_ctx: taskdeck::TaskContext| async {
        Err("down".into())
    });
    for (id, job) in [("a", "report"), ("b", "report"), ("c", "flaky")] {
        s.add(taskdeck::Task::new(id, job).every(Duration::from_secs(86_400)))
            .await
            .unwrap();
    }
    s.start().unwrap();
    // 7 + 5 runs of report and 4 failed runs of flaky, spread over two hours.
    for (id, n) in [("a", 7), ("b", 5), ("c", 4)] {
        for _ in 0..n {
            s.run_now(id).await.unwrap();
            s.settled().await;
            clock.advance(Duration::from_secs(7 * 60));
        }
    }
    let srv = serve(Dashboard::builder(s.clone())).await;
    let jobs: serde_json::Value = serde_json::from_str(&srv.get("/api/jobs").await.body).unwrap();
    let job = |name: &str| {
        jobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(job("report")["runs_24h"], 12, "beyond the 3 kept per task");
    assert_eq!(job("flaky")["runs_24h"], 4);
    assert_eq!(job("flaky")["failures_24h"], 4);
    assert_eq!(job("report")["all_runs"], true);
    let day: serde_json::Value =
        serde_json::from_str(&srv.get("/api/stats/series?window=24h").await.body).unwrap();
    let sum = |k: &str| -> u64 {
        day["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[k].as_u64().unwrap())
            .sum()
    };
    assert_eq!((sum("runs"), sum("failures")), (16, 4), "the chart");
    let page = srv.get("/").await.body;
    assert!(
        page.contains(">16</span><span class=\"stat-label\">runs, 24 h<"),
        "{page}"
    );
    assert!(page.contains(">4</span><span class=\"stat-label\">failures, 24 h<"));
    let jobs_page = srv.get("/jobs").await.body;
    assert!(
        jobs_page.contains(">Runs, 24 h<"),
        "says it counts every run"
    );
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn pages_follow_the_pagers_cursor_and_refuse_a_bad_one() {
    let (s, _clock) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone()).prefix("/dashboard")).await;
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["task"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    let json = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap();
    for sort in ["name", "next_run", "last_run", "state", "id"] {
        for dir in ["asc", "desc"] {
            let base = format!("/dashboard/api/tasks?sort={sort}&dir={dir}");
            let all = json(&srv.get(&format!("{base}&per_page=50")).await.body);
            let all = names(&all);
            assert_eq!(all.len(), 3);
            // Forwards by `next_after`, one task a page, then back by `prev_before`.
            let mut seen = Vec::new();
            let mut url = format!("{base}&per_page=1");
            let mut pages = Vec::new();
            loop {
                let r = srv.get(&url).await;
                assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
                let v = json(&r.body);
                assert_eq!(v["total"], 3);
                seen.extend(names(&v));
                pages.push(v.clone());
                match v["next_after"].as_str() {
                    Some(c) => {
                        let page = v["page"].as_u64().unwrap() + 1;
                        url = format!("{base}&per_page=1&page={page}&after={}", enc(c));
                    }
                    None => break,
                }
            }
            assert_eq!(seen, all, "{base}");
            let last = pages.last().unwrap();
            let before = last["prev_before"].as_str().unwrap();
            let back = json(
                &srv.get(&format!("{base}&per_page=1&page=2&before={}", enc(before)))
                    .await
                    .body,
            );
            assert_eq!(names(&back), [all[1].clone()], "{base}");
            assert_eq!(pages[0]["prev_before"], serde_json::Value::Null);
        }
    }
    // The page's pager links carry the cursor: Next starts after the page's last row.
    let link = |page: &str, rel: &str| -> String {
        let end = page.find(&format!("rel=\"{rel}\"")).expect(rel);
        let start = page[..end].rfind("href=\"").unwrap() + 6;
        let href = &page[start..end];
        href[..href.find('"').unwrap()].replace("&amp;", "&")
    };
    let page1 = srv.get("/dashboard/tasks?sort=name&per_page=1").await.body;
    assert!(page1.contains("href=\"/dashboard/tasks/alpha\""));
    let next = link(&page1, "next");
    assert!(next.contains("after=") && next.contains("page=2"), "{next}");
    let page2 = srv.get(&next).await.body;
    assert!(
        !page2.contains("href=\"/dashboard/tasks/alpha\""),
        "{page2}"
    );
    assert!(page2.contains("href=\"/dashboard/tasks/beta\""), "{page2}");
    // Previous from page 2 goes back to the list's start, by number; from page 3, by cursor.
    assert!(!link(&page2, "prev").contains("before="));
    let page3 = srv.get(&link(&page2, "next")).await.body;
    assert!(page3.contains("href=\"/dashboard/tasks/gamma\""), "{page3}");
    let prev = link(&page3, "prev");
    assert!(
        prev.contains("before=") && prev.contains("page=2"),
        "{prev}"
    );
    assert!(srv
        .get(&prev)
        .await
        .body
        .contains("href=\"/dashboard/tasks/beta\""));

    // Bad cursors: each refused with a 400 naming the parameter.
    for (url, field) in [
        ("/dashboard/api/tasks?sort=next_run&after=alpha", "after"),
        (
            "/dashboard/api/tasks?sort=next_run&after=alpha~soon",
            "after",
        ),
        ("/dashboard/api/tasks?sort=state&before=alpha~9~-", "before"),
        ("/dashboard/api/tasks?sort=name&after=~x", "after"),
        (
            "/dashboard/api/tasks?after=alpha~-&before=alpha~-",
            "before",
        ),
        (
            "/dashboard/api/tasks?sort=last_run&after=alpha~999999999999999999999999999999",
            "after",
        ),
        // Times no store can compare with, and a NUL no store can hold.
        (
            "/dashboard/api/tasks?sort=next_run&after=alpha~-300000000000000000000",
            "after",
        ),
        ("/dashboard/api/tasks?sort=id&after=al%00pha", "after"),
    ] {
        let r = srv.get(url).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.body);
        assert_eq!(json(&r.body)["field"], field, "{url}");
    }
    // The runs list's cursor is a run id.
    for (url, field) in [
        ("/dashboard/api/runs?after=x", "after"),
        ("/dashboard/api/runs?before=-1", "before"),
        ("/dashboard/api/runs?after=1&before=2", "before"),
    ] {
        let r = srv.get(url).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.body);
        assert_eq!(json(&r.body)["field"], field, "{url}");
    }
    for n in 0..3 {
        s.run_now("alpha").await.unwrap();
        let want = n + 1;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while s.runs(&Default::default()).await.unwrap().total < want {
            assert!(std::time::Instant::now() < deadline, "run {want} recorded");
            tokio::task::yield_now().await;
        }
    }
    let v = json(&srv.get("/dashboard/api/runs?per_page=2").await.body);
    let after = v["next_after"].as_u64().expect("a next page");
    assert_eq!(v["prev_before"], serde_json::Value::Null);
    let v2 = json(
        &srv.get(&format!(
            "/dashboard/api/runs?per_page=2&page=2&after={after}"
        ))
        .await
        .body,
    );
    assert_eq!(v2["items"].as_array().unwrap().len(), 1);
    assert!(v2["items"][0]["id"].as_u64().unwrap() < after);
    assert_eq!(v2["next_after"], serde_json::Value::Null);
    let runs_page = srv.get("/dashboard/runs?per_page=2").await.body;
    assert!(runs_page.contains(&format!("after={after}")), "{runs_page}");
    let r = srv
        .get("/dashboard/tasks?sort=next_run&after=nowhere")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body
            .contains("is not a place in a list sorted by next_run"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn the_chosen_theme_is_drawn_from_the_first_frame() {
    let (s, _clock) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone()).prefix("/ops")).await;
    let with = |cookie: &'static str| {
        let srv = &srv;
        async move {
            srv.request(Method::GET, "/ops/tasks", &[("cookie", cookie)], "")
                .await
                .body
        }
    };
    // No choice: the system's, both schemes offered to the browser.
    let page = srv.get("/ops/tasks").await.body;
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    assert!(page.contains("<meta name=\"color-scheme\" content=\"light dark\">"));
    assert!(page.contains("data-theme-cookie=\"taskdeck_theme\" data-theme-path=\"/ops\""));
    for (cookie, theme) in [
        ("taskdeck_theme=dark", "dark"),
        ("taskdeck_theme=light", "light"),
    ] {
        let page = with(cookie).await;
        assert!(
            page.contains(&format!("<html lang=\"en\" data-theme=\"{theme}\">")),
            "{page}"
        );
        assert!(page.contains(&format!("<meta name=\"color-scheme\" content=\"{theme}\">")));
        assert!(page.contains(&format!("Theme: {theme}")));
    }
    // Anything else is the system's, never echoed into the page.
    for cookie in [
        "taskdeck_theme=%22%3E%3Cscript%3E",
        "taskdeck_theme=DARK",
        "taskdeck_theme=",
    ] {
        let page = with(cookie).await;
        assert!(page.contains("<html lang=\"en\">"), "{cookie}: {page}");
        assert!(!page.contains("<script>"));
    }
}

#[tokio::test]
async fn a_cursor_page_still_leads_on_when_rows_before_it_went_away() {
    let (s, _clock) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone()).prefix("/dashboard")).await;
    let json = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap();
    let first = json(
        &srv.get("/dashboard/api/tasks?sort=id&per_page=1")
            .await
            .body,
    );
    let after = first["next_after"].as_str().unwrap().to_string();
    let page2 = format!("/dashboard/api/tasks?sort=id&per_page=1&page=2&after={after}");
    assert_eq!(
        json(&srv.get(&page2).await.body)["items"][0]["task"]["id"],
        "beta"
    );
    // The first task goes: page 2 of 2 now, by the count, but gamma still follows beta.
    s.remove("alpha").await.unwrap();
    let v = json(&srv.get(&page2).await.body);
    assert_eq!(
        (v["total"].as_u64(), v["page"].as_u64()),
        (Some(2), Some(2))
    );
    let next = v["next_after"]
        .as_str()
        .expect("a next page after a full cursor page");
    let v3 = json(
        &srv.get(&format!(
            "/dashboard/api/tasks?sort=id&per_page=1&page=3&after={next}"
        ))
        .await
        .body,
    );
    assert_eq!(v3["items"][0]["task"]["id"], "gamma");
    // A page before a cursor always has the page it came from after it, and the page's own
    // Previous and Next links say the same.
    let back = json(
        &srv.get("/dashboard/api/tasks?sort=id&per_page=5&page=2&before=gamma")
            .await
            .body,
    );
    assert_eq!(back["items"].as_array().unwrap().len(), 1, "{back}");
    assert_eq!(back["next_after"], "beta");
    assert_eq!(
        back["prev_before"],
        serde_json::Value::Null,
        "the list's start"
    );
    let html = srv
        .get(&format!(
            "/dashboard/tasks?sort=id&per_page=1&page=2&after={after}"
        ))
        .await
        .body;
    assert!(html.contains("rel=\"next\""), "{html}");
}
