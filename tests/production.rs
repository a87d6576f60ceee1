//! What production asks of a replica: `/metrics` that add up (per process, apart from the
//! cluster-wide gauges), a scrape token that opens `/metrics` and nothing else, the readiness
//! probe, and the shipped Prometheus rules and Grafana dashboard naming only metrics that
//! exist. The exposition and the rules are checked with `promtool` (Debian's `prometheus`
//! package; `scripts/test` installs it).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use taskdeck::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const TOKEN: &str = "scrape-token-0123456789";

fn dashboard(s: &Scheduler) -> DashboardBuilder {
    Dashboard::builder(s.clone())
        .auth(admin_login())
        .secret(SECRET)
        .metrics_token(TOKEN)
}

async fn scrape(srv: &Server) -> String {
    let r = srv
        .request(
            Method::GET,
            "/metrics",
            &[("authorization", &format!("Bearer {TOKEN}"))],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r
        .header("content-type")
        .starts_with("text/plain; version=0.0.4"));
    r.body
}

/// The metric families the exposition declares.
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

/// Runs `task` now and waits for that run to end.
async fn run_to_end(s: &Scheduler, task: &str) {
    let mut events = s.subscribe();
    let run = s.run_now(task).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the run ends")
        {
            Recv::Event(Event::RunFinished { run_id, .. }) if run_id == run.id => return,
            Recv::Closed => panic!("closed"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn metrics_count_what_this_process_did() {
    let (s, _clock) = scheduler().await;
    let srv = serve(dashboard(&s)).await;
    let before = scrape(&srv).await;
    assert_eq!(
        sample(&before, "taskdeck_runs_total{status=\"succeeded\"}"),
        0.0
    );
    assert_eq!(sample(&before, "taskdeck_sse_clients"), 0.0);

    for task in ["alpha", "alpha", "alpha", "beta"] {
        run_to_end(&s, task).await;
    }
    // A sign-in refused and one accepted.
    srv.post_form("/login", "username=admin&password=wrong")
        .await;
    let ok = srv
        .post_form("/login", "username=admin&password=admin-pw")
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);

    let m = scrape(&srv).await;
    assert_eq!(sample(&m, "taskdeck_runs_total{status=\"succeeded\"}"), 3.0);
    assert_eq!(sample(&m, "taskdeck_runs_total{status=\"failed\"}"), 1.0);
    assert_eq!(
        sample(
            &m,
            "taskdeck_run_duration_seconds_count{job_name=\"report\"}"
        ),
        3.0
    );
    assert_eq!(
        sample(
            &m,
            "taskdeck_run_duration_seconds_bucket{job_name=\"fail\",le=\"+Inf\"}"
        ),
        1.0
    );
    // Manual runs are not late: only scheduled ones count there.
    assert_eq!(sample(&m, "taskdeck_run_start_lateness_seconds_count"), 0.0);
    assert_eq!(sample(&m, "taskdeck_sign_ins_total{via=\"password\"}"), 1.0);
    assert_eq!(
        sample(
            &m,
            "taskdeck_sign_in_refusals_total{reason=\"login_failed\"}"
        ),
        1.0
    );
    // The first scrape counted as a 200 of GET /metrics; the failed sign-in as a 4xx or a
    // redirect of POST /login.
    assert_eq!(
        sample(
            &m,
            "taskdeck_http_requests_total{method=\"GET\",route=\"/metrics\",class=\"2xx\"}"
        ),
        1.0
    );
    assert!(m.contains("taskdeck_http_requests_total{method=\"POST\",route=\"/login\""));
    // Cluster-wide figures are named apart: tasks by state and overdue come from the store.
    assert_eq!(sample(&m, "taskdeck_cluster_tasks{state=\"paused\"}"), 1.0);
    assert_eq!(sample(&m, "taskdeck_cluster_tasks_overdue"), 0.0);
    for f in families(&m) {
        assert!(f.starts_with("taskdeck_"), "{f}");
    }
}

#[tokio::test]
async fn scheduled_runs_count_their_lateness_and_fires() {
    let s = Scheduler::builder().build().unwrap();
    s.register("tick", |_: TaskContext| async { Ok(()) });
    s.add(Task::new("t", "tick").every(Duration::from_millis(20)))
        .await
        .unwrap();
    let mut events = s.subscribe();
    s.start().unwrap();
    let mut finished = 0;
    while finished < 3 {
        if let Recv::Event(Event::RunFinished { .. }) =
            tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .expect("runs finish")
        {
            finished += 1;
        }
    }
    let m = s.prometheus_metrics();
    assert!(sample(&m, "taskdeck_fires_total") >= 3.0, "{m}");
    assert!(
        sample(&m, "taskdeck_run_start_lateness_seconds_count") >= 3.0,
        "{m}"
    );
    assert_eq!(sample(&m, "taskdeck_scheduler_paused"), 0.0);
    s.pause_all();
    assert_eq!(
        sample(&s.prometheus_metrics(), "taskdeck_scheduler_paused"),
        1.0
    );
    s.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn the_scrape_token_opens_metrics_and_nothing_else() {
    let (s, _clock) = scheduler().await;
    let srv = serve(dashboard(&s)).await;
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("authorization", bearer.as_str())];
    assert_eq!(
        srv.request(Method::GET, "/metrics", &auth, "").await.status,
        StatusCode::OK
    );
    // Everywhere else it is no credential at all.
    for path in ["/api/tasks", "/api/stats", "/", "/tasks", "/events"] {
        let r = srv.request(Method::GET, path, &auth, "").await;
        assert!(
            r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::SEE_OTHER,
            "{path}: {}",
            r.status
        );
    }
    // A wrong or missing token is refused like any visitor.
    for header in [
        vec![("authorization", "Bearer scrape-token-0123456780")],
        vec![("authorization", "Bearer ")],
        vec![("authorization", "Basic c2NyYXBlOnRva2Vu")],
        vec![],
    ] {
        let r = srv.request(Method::GET, "/metrics", &header, "").await;
        assert_ne!(r.status, StatusCode::OK, "{header:?}");
        assert!(!r.body.contains("taskdeck_fires_total"), "{header:?}");
    }
    // Too short a token is a configuration error.
    let e = Dashboard::builder(s.clone())
        .metrics_token("short")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("at least 16 bytes"), "{e}");
}

#[tokio::test]
async fn public_metrics_need_no_credential_and_default_is_closed() {
    let (s, _clock) = scheduler().await;
    let closed = serve(
        Dashboard::builder(s.clone())
            .auth(admin_login())
            .secret(SECRET),
    )
    .await;
    assert_ne!(closed.get("/metrics").await.status, StatusCode::OK);
    let open = serve(
        Dashboard::builder(s.clone())
            .auth(admin_login())
            .secret(SECRET)
            .public_metrics(true),
    )
    .await;
    let r = open.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("# TYPE taskdeck_fires_total counter"));
    // It opens /metrics only.
    assert_ne!(open.get("/api/tasks").await.status, StatusCode::OK);
}

#[tokio::test]
async fn readiness_is_open_fresh_and_says_why_not() {
    let (s, _clock) = scheduler().await;
    let srv = serve(dashboard(&s)).await;
    let r = srv.get("/health/ready").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["reason"], serde_json::Value::Null);
    let names: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["scheduler", "store", "timer"]);
    // Wrong methods are refused, not answered.
    let r = srv.request(Method::POST, "/health/ready", &[], "").await;
    assert!(r.status.is_client_error(), "{}", r.status);

    s.shutdown(Duration::from_secs(1)).await;
    // Answers are reused for a second: poll until the shutdown shows.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let r = loop {
        let r = srv.get("/health/ready").await;
        if r.status != StatusCode::OK {
            break r;
        }
        assert!(tokio::time::Instant::now() < deadline, "still ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["status"], "not ready");
    assert_eq!(v["reason"], "scheduler: stopped");
}

/// `promtool`, or `None` when it is missing and the caller may skip.
fn promtool() -> Option<&'static str> {
    let found = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("promtool");
    }
    let skip = std::env::var_os("TASKDECK_SKIP_PROMTOOL").is_some_and(|v| v == "1");
    assert!(
        skip,
        "promtool is not installed: install Debian's prometheus package (scripts/test does), \
         or set TASKDECK_SKIP_PROMTOOL=1 to skip these checks knowingly"
    );
    eprintln!("skipped: promtool is not installed");
    None
}

fn run_promtool(args: &[&str], stdin: &str) -> String {
    let mut cmd = std::process::Command::new("promtool");
    cmd.args(args);
    let out = run_with_input(cmd, stdin.as_bytes());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{said}");
    said
}

/// A scrape after some of everything happened: runs, requests, a sign-in.
async fn busy_scrape() -> String {
    let (s, _clock) = scheduler().await;
    let srv = serve(dashboard(&s)).await;
    run_to_end(&s, "alpha").await;
    srv.post_form("/login", "username=admin&password=admin-pw")
        .await;
    srv.get("/nowhere").await;
    scrape(&srv).await
}

#[tokio::test]
async fn the_exposition_passes_promtool() {
    let Some(_) = promtool() else { return };
    let m = busy_scrape().await;
    // `check metrics` parses the text and lints names, help and units.
    let said = run_promtool(&["check", "metrics"], &m);
    assert!(!said.contains("error"), "{said}");
}

#[tokio::test]
async fn the_shipped_rules_and_dashboard_name_only_exported_metrics() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = std::fs::read_to_string(root.join("contrib/prometheus/alerts.yml")).unwrap();
    let grafana = std::fs::read_to_string(root.join("contrib/grafana/taskdeck.json")).unwrap();
    let board: serde_json::Value = serde_json::from_str(&grafana).unwrap();
    assert!(!board["panels"].as_array().unwrap().is_empty());

    let exported = families(&busy_scrape().await);
    let mut named = BTreeSet::new();
    for text in [&rules, &grafana] {
        let mut rest = text.as_str();
        while let Some(i) = rest.find("taskdeck_") {
            rest = &rest[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            // "taskdeck_*" and "taskdeck_cluster_*" in prose name kinds, not metrics.
            if !rest[..end].ends_with('_') {
                named.insert(rest[..end].to_string());
            }
            rest = &rest[end..];
        }
    }
    assert!(named.len() >= 8, "{named:?}");
    for name in &named {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        assert!(
            exported.contains(family),
            "{name} is named by contrib/ but not exported; exported: {exported:?}"
        );
    }
    if promtool().is_some() {
        let path = root.join("contrib/prometheus/alerts.yml");
        let said = run_promtool(&["check", "rules", path.to_str().unwrap()], "");
        assert!(said.contains("SUCCESS"), "{said}");
    }
}

/// With the `metrics` feature, the application's own recorder gets the per-process figures
/// under the same names and labels as `/metrics`.
#[cfg(feature = "metrics")]
#[test]
fn the_metrics_facade_gets_the_same_figures() {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<BTreeMap<String, f64>>>;
    struct Handle(Seen, String);
    impl Handle {
        fn add(&self, v: f64) {
            *self.0.lock().unwrap().entry(self.1.clone()).or_default() += v;
        }
    }
    impl metrics::CounterFn for Handle {
        fn increment(&self, v: u64) {
            self.add(v as f64);
        }
        fn absolute(&self, v: u64) {
            self.0.lock().unwrap().insert(self.1.clone(), v as f64);
        }
    }
    impl metrics::GaugeFn for Handle {
        fn increment(&self, v: f64) {
            self.add(v);
        }
        fn decrement(&self, v: f64) {
            self.add(-v);
        }
        fn set(&self, v: f64) {
            self.0.lock().unwrap().insert(self.1.clone(), v);
        }
    }
    impl metrics::HistogramFn for Handle {
        /// Counts observations, as `_count` does.
        fn record(&self, _: f64) {
            self.add(1.0);
        }
    }
    struct Rec(Seen);
    impl Rec {
        fn handle(&self, key: &metrics::Key) -> Arc<Handle> {
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            Arc::new(Handle(
                self.0.clone(),
                format!("{}{{{}}}", key.name(), labels.join(",")),
            ))
        }
    }
    impl metrics::Recorder for Rec {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            metrics::Counter::from_arc(self.handle(key))
        }
        fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::from_arc(self.handle(key))
        }
        fn register_histogram(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            metrics::Histogram::from_arc(self.handle(key))
        }
    }

    let seen: Seen = Arc::default();
    let rec = Rec(seen.clone());
    // A runtime on this thread: every task it polls sees the local recorder.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = metrics::with_local_recorder(&rec, || {
        rt.block_on(async {
            let (s, _clock) = scheduler().await;
            let srv = serve(dashboard(&s)).await;
            run_to_end(&s, "alpha").await;
            srv.post_form("/login", "username=admin&password=admin-pw")
                .await;
            scrape(&srv).await
        })
    });
    let seen = seen.lock().unwrap().clone();
    let get = |k: &str| {
        seen.get(k)
            .copied()
            .unwrap_or_else(|| panic!("{k} not in {seen:?}"))
    };
    assert_eq!(get("taskdeck_runs_total{status=succeeded}"), 1.0);
    assert_eq!(get("taskdeck_run_duration_seconds{job_name=report}"), 1.0);
    assert_eq!(get("taskdeck_sign_ins_total{via=password}"), 1.0);
    assert_eq!(
        get("taskdeck_http_requests_total{class=3xx,method=POST,route=/login}"),
        1.0
    );
    // The same figures as the dashboard's /metrics.
    assert_eq!(
        sample(&text, "taskdeck_runs_total{status=\"succeeded\"}"),
        1.0
    );
    assert_eq!(
        sample(&text, "taskdeck_sign_ins_total{via=\"password\"}"),
        1.0
    );
}
