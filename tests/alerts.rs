//! Failure alerts: the `on_failure` and `on_event` hooks, and the webhook notifier's signed
//! posts, retries and bounded queue, against a receiver on 127.0.0.1.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use taskdeck::*;

const SECRET: &[u8] = b"a shared webhook secret, 32+ bytes long";

/// What the receiver got: (signature header, alert id, body).
type Got = Arc<Mutex<Vec<(String, String, Value)>>>;

/// A receiver that refuses the first `fail_first` posts with 500, and holds every post until
/// `gate` (when given) is opened.
async fn receiver(
    fail_first: usize,
    gate: Option<Arc<tokio::sync::Semaphore>>,
) -> (String, Got, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got: Got = Arc::default();
    let seen = Arc::new(AtomicUsize::new(0));
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let (sock, _) = tokio::select! {
                a = listener.accept() => a.unwrap(),
                _ = &mut stopped => return,
            };
            let (g, seen, gate) = (g.clone(), seen.clone(), gate.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (g, seen, gate) = (g.clone(), seen.clone(), gate.clone());
                    async move {
                        let h = |n: &str| {
                            req.headers()
                                .get(n)
                                .map(|v| v.to_str().unwrap().to_string())
                                .unwrap_or_default()
                        };
                        let (sig, id) = (h("webhook-signature"), h("webhook-id"));
                        let t: i64 = h("webhook-timestamp").parse().unwrap();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let v: Value = serde_json::from_slice(&body).unwrap();
                        // Check the signature the way a receiver would: one of the
                        // space-separated signatures is ours over "id.timestamp.body".
                        let want = WebhookNotifier::signature(SECRET, &id, t, &body);
                        assert!(sig.split(' ').any(|s| s == want), "signed: {sig}");
                        assert!(id.starts_with("msg_") && id.len() == 36, "{id}");
                        g.lock().unwrap().push((sig, id, v));
                        if let Some(gate) = gate {
                            gate.acquire().await.unwrap().forget();
                        }
                        let status = if seen.fetch_add(1, Ordering::SeqCst) < fail_first {
                            StatusCode::INTERNAL_SERVER_ERROR
                        } else {
                            StatusCode::OK
                        };
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (url, got, stop)
}

/// A failed run of task `t`, as the notifier is handed it.
fn failed_run(id: u64, error: impl Into<String>) -> RunRecord {
    RunRecord {
        id,
        task_id: "t".into(),
        job: "j".into(),
        cause: RunCause::Schedule,
        scheduled_at: jiff::Timestamp::now(),
        started_at: None,
        finished_at: None,
        status: RunStatus::Failed,
        error: Some(error.into()),
        attempt: 1,
        logs: Vec::new(),
        logs_dropped: 0,
        args: Value::Null,
        result: None,
        retry_of: None,
        progress: None,
        logs_seq: 0,
    }
}

async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn failures_reach_the_hooks_and_the_webhook_signed_and_retried() {
    let (url, got, _stop) = receiver(2, None).await;
    let alerts =
        WebhookNotifier::with_limits(&url, SECRET, 10, 5, Duration::from_millis(20)).unwrap();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let events = Arc::new(AtomicUsize::new(0));
    let (f, e) = (failures.clone(), events.clone());
    let s = Scheduler::builder()
        .on_failure(alerts.hook())
        .on_failure(move |run: RunRecord| {
            let f = f.clone();
            async move { f.lock().unwrap().push((run.id, run.status)) }
        })
        .on_event(move |ev: Event| {
            let e = e.clone();
            async move {
                if matches!(ev, Event::RunFinished { .. }) {
                    e.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
        .build()
        .unwrap();
    s.register("fails", |_ctx: TaskContext| async move {
        Err("disk full".into())
    });
    s.register("works", |_ctx: TaskContext| async move { Ok(()) });
    s.add(Task::new("bad", "fails").every(Duration::from_secs(3600)))
        .await
        .unwrap();
    s.add(Task::new("good", "works").every(Duration::from_secs(3600)))
        .await
        .unwrap();
    s.start().unwrap();
    let bad = s.run_now("bad").await.unwrap();
    let _good = s.run_now("good").await.unwrap();

    until("both runs end, told as events", || {
        events.load(Ordering::SeqCst) == 2
    })
    .await;
    until("the failure hook", || failures.lock().unwrap().len() == 1).await;
    assert_eq!(
        failures.lock().unwrap()[0],
        (bad.id, RunStatus::Failed),
        "only the failure"
    );
    // Refused twice (500), then taken: three posts of the same delivery.
    until("three attempts", || got.lock().unwrap().len() == 3).await;
    let got = got.lock().unwrap().clone();
    for (_, id, body) in got.iter() {
        assert_eq!(id, &got[0].1, "one id for every attempt");
        assert_eq!(body["event"], "run_failed");
        assert_eq!(body["run"]["id"], bad.id);
        assert_eq!(body["run"]["error"], "disk full");
    }
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn the_queue_is_bounded_and_drops_the_oldest() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (url, got, _stop) = receiver(0, Some(gate.clone())).await;
    let alerts =
        WebhookNotifier::with_limits(&url, SECRET, 2, 1, Duration::from_millis(10)).unwrap();
    let run = |id: u64| failed_run(id, "x");
    alerts.notify(run(1));
    until("the first post is held", || got.lock().unwrap().len() == 1).await;
    for id in 2..=5 {
        alerts.notify(run(id));
    }
    gate.add_permits(10);
    until("the queued posts", || got.lock().unwrap().len() == 3).await;
    let runs: Vec<u64> = got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, v)| v["run"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(runs, [1, 4, 5], "a queue of two keeps the newest");
}

/// Run ids start at 1 again after a restart with the memory store; alert ids must not, or a
/// receiver that drops duplicates by id drops new alerts. Each alert has an id of its own,
/// signed with the body, and a rotated secret signs beside the current one.
#[tokio::test]
async fn alert_ids_never_repeat_and_a_rotated_secret_still_signs() {
    let (url, got, _stop) = receiver(0, None).await;
    let failed = || failed_run(1, "x");
    // "Before the restart" and "after": two notifiers, each alerting run 1.
    let before = WebhookNotifier::new(&url, SECRET).unwrap();
    before.notify(failed());
    until("the first alert", || got.lock().unwrap().len() == 1).await;
    let newer = b"the next webhook secret, 32+ bytes long!";
    let after = WebhookNotifier::new(&url, newer)
        .unwrap()
        .also_sign_with(SECRET)
        .unwrap();
    after.notify(failed());
    until("the second alert", || got.lock().unwrap().len() == 2).await;
    let got = got.lock().unwrap().clone();
    assert_ne!(got[0].1, got[1].1, "the same id for two alerts");
    let sigs: Vec<&str> = got[1].0.split(' ').collect();
    assert_eq!(sigs.len(), 2, "signed with both secrets: {}", got[1].0);
    assert!(
        after.clone().also_sign_with(newer).is_err(),
        "shared: no more secrets"
    );
}

#[test]
fn bad_settings_are_refused() {
    assert!(WebhookNotifier::new("http://alerts.example.com/x", SECRET)
        .unwrap_err()
        .contains("https"));
    assert!(
        WebhookNotifier::new("https://alerts.example.com/x", b"short")
            .unwrap_err()
            .contains("32")
    );
    assert!(format!(
        "{:?}",
        WebhookNotifier::new("https://a.example/x", SECRET).unwrap()
    )
    .contains("a.example"));
}

/// Suspected from reading the code: the queue was bounded by count only, and a failed run
/// carries up to 400 KiB of log lines. It is bounded by bytes too: past them, the oldest
/// alerts are dropped.
#[tokio::test]
async fn the_queue_is_bounded_in_bytes_too() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (url, got, _stop) = receiver(0, Some(gate.clone())).await;
    let alerts = WebhookNotifier::with_limits(&url, SECRET, 100, 1, Duration::from_millis(10))
        .unwrap()
        .max_queue_bytes(5_000)
        .unwrap();
    let run = |id: u64| failed_run(id, "e".repeat(2_000));
    alerts.notify(run(1));
    until("the first post is held", || got.lock().unwrap().len() == 1).await;
    // Each body is over 2,000 bytes: two fit in 5,000, the older ones are dropped.
    for id in 2..=6 {
        alerts.notify(run(id));
    }
    gate.add_permits(10);
    until("the queued posts", || got.lock().unwrap().len() == 3).await;
    let runs: Vec<u64> = got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, v)| v["run"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(runs, [1, 5, 6], "the newest that fit");
}

#[tokio::test]
async fn alerts_reach_the_webhook_raised_then_resolved() {
    let (url, got, _stop) = receiver(0, None).await;
    let notifier = WebhookNotifier::new(&url, SECRET).unwrap();
    let s = Scheduler::builder()
        .alerts(AlertSettings {
            failing_after: 1,
            check_every: Duration::from_secs(3600),
            ..AlertSettings::default()
        })
        .on_alert(notifier.alert_hook())
        .build()
        .unwrap();
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let f = fail.clone();
    s.register("flaky", move |_ctx: TaskContext| {
        let f = f.clone();
        async move {
            if f.load(Ordering::SeqCst) {
                Err("down".into())
            } else {
                Ok(())
            }
        }
    });
    s.add(Task::new("flaky", "flaky").every(Duration::from_secs(3600)))
        .await
        .unwrap();
    s.start().unwrap();
    s.run_now("flaky").await.unwrap();
    s.settled().await;
    assert_eq!(s.check_alerts().await.unwrap().raised.len(), 1);
    until("the raised alert posted", || got.lock().unwrap().len() == 1).await;
    fail.store(false, Ordering::SeqCst);
    s.run_now("flaky").await.unwrap();
    s.settled().await;
    assert_eq!(s.check_alerts().await.unwrap().resolved.len(), 1);
    until("the resolution posted", || got.lock().unwrap().len() == 2).await;
    let got = got.lock().unwrap().clone();
    assert_eq!(got[0].2["event"], "alert_raised");
    assert_eq!(got[0].2["alert"]["kind"], "failing");
    assert_eq!(got[0].2["alert"]["task_id"], "flaky");
    assert_eq!(got[1].2["event"], "alert_resolved");
    assert!(got[1].2["alert"]["resolved_at"].is_string());
    assert_ne!(got[0].1, got[1].1, "each post its own id");
    s.shutdown(Duration::ZERO).await;
}
