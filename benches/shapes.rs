//! Every list shape the dashboard offers, measured over HTTP against a running dashboard (the
//! demo on PostgreSQL with its schedule firing: `scripts/load-shapes` starts both): the tasks
//! list with each filter alone and combined (state, job, trigger, search), each sort in both
//! directions, first and deep pages (page 1000 by number and by the pager's cursor, which
//! is left out where the list has no page 1000); the runs list with each filter; the overview, the stats
//! and the jobs page. One client, one request at a time on one kept-alive connection, like
//! `wrk -t1 -c1`; median and p99 of each shape, and the shapes over the bound listed.
//!
//! Environment: `TASKDECK_SHAPES_URL` (the dashboard's base, e.g.
//! `http://127.0.0.1:8000/dashboard`), `TASKDECK_DEMO_USER` and `TASKDECK_DEMO_PASSWORD`,
//! `TASKDECK_SHAPES_CALLS` (requests per shape, default 200), `TASKDECK_SHAPES_BOUND_MS`
//! (default 10), `TASKDECK_SHAPES_ONLY` (substrings, comma-separated: only the shapes whose path holds one).
//!
//! `cargo bench -p taskdeck-benches --bench shapes`
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let Ok(base) = std::env::var("TASKDECK_SHAPES_URL") else {
        eprintln!("set TASKDECK_SHAPES_URL to a running dashboard (scripts/load-shapes does)");
        return;
    };
    let base = base.trim_end_matches('/').to_string();
    let calls: usize = env_num("TASKDECK_SHAPES_CALLS", 200);
    let bound: f64 = env_num("TASKDECK_SHAPES_BOUND_MS", 10) as f64;
    let only = std::env::var("TASKDECK_SHAPES_ONLY").unwrap_or_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut builder = Client::builder(TokioExecutor::new());
        builder.pool_max_idle_per_host(1);
        let client: Http = builder.build_http();
        let cookie = sign_in(&client, &base).await;
        let jobs = facts(&client, &base, &cookie).await;
        let shapes: Vec<String> = shapes(&jobs)
            .into_iter()
            .filter(|s| only.split(',').any(|o| s.contains(o)))
            .collect();
        println!("| path (relative to the dashboard) | median | p99 | max | calls |");
        println!("|---|---|---|---|---|");
        let mut over = Vec::new();
        for shape in &shapes {
            // A deep page by cursor: the cursor the page before it gives (`next_after`).
            let path = match shape.strip_suffix("&after=*") {
                None => shape.clone(),
                Some(page) => {
                    let before = page.replace("&page=1000", "&page=999");
                    let body = get(&client, &base, &before, &cookie).await;
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    match v["next_after"].as_str() {
                        Some(c) => format!("{page}&{}", form_urlencoded(&[("after", c)])),
                        None => continue,
                    }
                }
            };
            let path = &path;
            let mut ms = Vec::with_capacity(calls);
            // One unmeasured call first: the statement is prepared on that connection.
            get(&client, &base, path, &cookie).await;
            for _ in 0..calls {
                let t = Instant::now();
                get(&client, &base, path, &cookie).await;
                ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            ms.sort_by(f64::total_cmp);
            let pick = |p: usize| ms[((p * ms.len()).div_ceil(100)).max(1) - 1];
            let (p50, p99, max) = (pick(50), pick(99), ms[ms.len() - 1]);
            println!("| `{path}` | {p50:.2} ms | {p99:.2} ms | {max:.1} ms | {calls} |");
            if p99 > bound {
                over.push((path.clone(), p99));
            }
        }
        println!();
        if over.is_empty() {
            println!("every shape ({}) at p99 ≤ {bound} ms", shapes.len());
        } else {
            println!(
                "over {bound} ms at p99 ({} of {} shapes):",
                over.len(),
                shapes.len()
            );
            for (p, v) in over {
                println!("- `{p}`: {v:.2} ms");
            }
        }
    });
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Signs in with the demo's password form; the session cookie.
async fn sign_in(client: &Http, base: &str) -> String {
    let user = std::env::var("TASKDECK_DEMO_USER").unwrap_or_else(|_| "admin".into());
    let password = std::env::var("TASKDECK_DEMO_PASSWORD").expect("TASKDECK_DEMO_PASSWORD");
    let form: String = form_urlencoded(&[("username", &user), ("password", &password)]);
    let req = http::Request::post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(Full::new(Bytes::from(form)))
        .unwrap();
    let r = client.request(req).await.unwrap();
    assert_eq!(r.status(), http::StatusCode::SEE_OTHER, "sign-in refused");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let _ = r.into_body().collect().await;
    cookie
}

fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A GET that must answer 200; the body is read and dropped.
async fn get(client: &Http, base: &str, path: &str, cookie: &str) -> Bytes {
    let req = http::Request::get(format!("{base}{path}"))
        .header("cookie", cookie)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(30), client.request(req))
        .await
        .expect("an answer within 30 s")
        .unwrap();
    let status = r.status();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        status,
        http::StatusCode::OK,
        "GET {path}: {}",
        String::from_utf8_lossy(&body)
    );
    body
}

/// The jobs the schedule has, most tasks first: the commonest and the rarest name the
/// shapes' job filters.
async fn facts(client: &Http, base: &str, cookie: &str) -> Vec<(String, u64)> {
    let body = get(client, base, "/api/jobs", cookie).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut jobs: Vec<(String, u64)> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["name"].as_str().unwrap().to_string(),
                j["tasks"].as_u64().unwrap(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    jobs.sort_by_key(|j| std::cmp::Reverse(j.1));
    jobs
}

/// Every shape: the tasks list's filters alone and combined, with each sort both ways, on
/// the first page and a deep one; the runs list's filters; the pages.
fn shapes(jobs: &[(String, u64)]) -> Vec<String> {
    let common = jobs.first().map(|j| j.0.clone()).unwrap_or_default();
    let rare = jobs.last().map(|j| j.0.clone()).unwrap_or_default();
    let filters: Vec<String> = vec![
        String::new(),
        "state=scheduled".into(),
        "state=paused".into(),
        "state=running".into(),
        "state=completed".into(),
        format!("job={common}"),
        format!("job={rare}"),
        "trigger=interval".into(),
        "trigger=cron".into(),
        "trigger=date".into(),
        "q=generated-0042".into(),
        "q=report".into(),
        "q=generated".into(),
        format!("job={common}&state=paused"),
        "trigger=cron&state=scheduled".into(),
        format!("job={rare}&trigger=cron"),
        format!("q=generated&job={common}&state=scheduled&trigger=interval"),
        "attention=1".into(),
    ];
    let mut out = Vec::new();
    for f in &filters {
        for sort in ["next_run", "name", "id", "last_run", "state"] {
            for dir in ["asc", "desc"] {
                for page in [1, 1000] {
                    let mut q = vec![format!("sort={sort}"), format!("dir={dir}")];
                    if !f.is_empty() {
                        q.insert(0, f.clone());
                    }
                    if page > 1 {
                        q.push(format!("page={page}"));
                    }
                    out.push(format!("/api/tasks?{}", q.join("&")));
                    if page > 1 {
                        // The same page reached by the pager's cursor (when the list has it).
                        out.push(format!("/api/tasks?{}&after=*", q.join("&")));
                    }
                }
            }
        }
    }
    for runs in [
        "",
        "?status=succeeded",
        "?status=failed",
        "?status=failures",
        "?status=skipped",
        "?status=running",
        "?task=generated-000042",
        "?job=heartbeat",
        "?job=sync_inventory",
        "?q=upstream",
        "?page=100",
        "?status=failures&page=20",
    ] {
        out.push(format!("/api/runs{runs}"));
    }
    for page in ["/api/stats", "/api/jobs", "/", "/tasks", "/runs", "/jobs"] {
        out.push(page.to_string());
    }
    out
}
