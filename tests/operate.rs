//! Operating runs in the engine: cancel (honoured, or aborted after the grace period),
//! retry with the original args and a link, results, and the start time of a running run.
//! A manual clock drives every wait; nothing sleeps for real.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use taskdeck::*;

const T0: &str = "2026-01-05T10:00:00Z";

/// Waits (bounded by a real-time deadline, so a bug fails instead of hanging) for an event.
async fn wait_for(events: &mut EventStream, pred: impl Fn(&Event) -> bool) -> Event {
    let fut = async {
        loop {
            match events.recv().await {
                Recv::Event(e) if pred(&e) => return e,
                Recv::Closed => panic!("event stream closed"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("event did not come within the deadline")
}

fn started(e: &Event) -> bool {
    matches!(e, Event::RunStarted { .. })
}

fn finished(e: &Event) -> bool {
    matches!(e, Event::RunFinished { .. })
}

async fn setup() -> (Scheduler, ManualClock) {
    let clock = ManualClock::new(T0.parse().unwrap());
    let s = Scheduler::builder()
        .clock(clock.clone())
        .cancel_grace(Duration::from_secs(30))
        .build()
        .unwrap();
    // Honours cancellation: stops as soon as it is asked.
    s.register("polite", |ctx: TaskContext| async move {
        ctx.log("working");
        ctx.cancelled().await;
        ctx.log("asked to stop; stopping");
        Ok(())
    });
    // Ignores it: only the grace period's abort ends it.
    s.register("stubborn", |_ctx: TaskContext| async move {
        std::future::pending::<()>().await;
        Ok(())
    });
    s.register("fails", |ctx: TaskContext| async move {
        Err(format!("upstream refused {}", ctx.args()["order"]).into())
    });
    s.register_returning("counts", |ctx: TaskContext| async move {
        Ok(json!({ "orders": ctx.args()["n"], "ok": true }))
    });
    s.register("huge", |ctx: TaskContext| async move {
        ctx.set_result("x".repeat(MAX_RESULT_BYTES + 10));
        Ok(())
    });
    for (id, job, args) in [
        ("p", "polite", json!({})),
        ("s", "stubborn", json!({})),
        ("f", "fails", json!({"order": 7})),
        ("c", "counts", json!({"n": 42})),
        ("h", "huge", json!({})),
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
    (s, clock)
}

#[tokio::test]
async fn a_cancelled_run_that_listens_stops_and_ends_cancelled() {
    let (s, _clock) = setup().await;
    let mut events = s.subscribe();
    let run = s.run_now("p").await.unwrap();
    wait_for(&mut events, started).await;
    // While it runs, its start is known.
    let now = s.run(run.id).await.unwrap();
    assert_eq!(now.status, RunStatus::Running);
    assert!(
        now.started_at.is_some(),
        "a running run shows when it started"
    );

    s.cancel_run(run.id, "ada").await.unwrap();
    wait_for(&mut events, finished).await;
    let done = s.run(run.id).await.unwrap();
    assert_eq!(done.status, RunStatus::Cancelled);
    assert_eq!(done.error.as_deref(), Some("cancelled by ada"));
    let lines: Vec<&str> = done.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(lines, ["working", "asked to stop; stopping"]);

    // Cancelling it again, or a run that never ran, says why not.
    let e = s.cancel_run(run.id, "ada").await.unwrap_err();
    assert!(
        e.is_conflict() && e.to_string().contains("not running (it cancelled)"),
        "{e}"
    );
    assert!(s
        .cancel_run(999_999, "ada")
        .await
        .unwrap_err()
        .is_not_found());
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_cancelled_run_that_ignores_it_is_aborted_after_the_grace_period() {
    let (s, clock) = setup().await;
    let mut events = s.subscribe();
    let run = s.run_now("s").await.unwrap();
    wait_for(&mut events, started).await;
    s.cancel_run(run.id, "ops-bot").await.unwrap();
    wait_for(
        &mut events,
        |e| matches!(e, Event::RunCancelRequested { by, .. } if by == "ops-bot"),
    )
    .await;
    // Turns for the run to hear of it and start its grace period at this clock reading.
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    // Not before the grace period is over.
    clock.advance(Duration::from_secs(29));
    // (`settled` would wait for the run itself; give the runtime turns to act on the clock.)
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert_eq!(s.run(run.id).await.unwrap().status, RunStatus::Running);
    clock.advance(Duration::from_secs(1));
    wait_for(&mut events, finished).await;
    let done = s.run(run.id).await.unwrap();
    assert_eq!(done.status, RunStatus::Cancelled);
    assert_eq!(
        done.error.as_deref(),
        Some("cancelled by ops-bot; aborted after the grace period of 30s")
    );
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_retry_runs_with_the_original_args_and_links_to_it() {
    let (s, _clock) = setup().await;
    let mut events = s.subscribe();
    let first = s.run_now("f").await.unwrap();
    wait_for(&mut events, finished).await;
    let failed = s.run(first.id).await.unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.args, json!({"order": 7}), "each run keeps its args");

    // The task's args change; the retry still runs with the failed run's.
    let mut task = (*s.get("f").await.unwrap().task).clone();
    task.args = json!({"order": 8});
    s.update(task).await.unwrap();
    let retry = s.retry_run(first.id).await.unwrap().expect("started here");
    assert_eq!(retry.cause, RunCause::Retry);
    assert_eq!(retry.retry_of, Some(first.id));
    assert_eq!(retry.args, json!({"order": 7}));
    wait_for(&mut events, finished).await;
    let done = s.run(retry.id).await.unwrap();
    assert_eq!(done.error.as_deref(), Some("upstream refused 7"));

    // A run that succeeded, or one still going, is not retried.
    let ok = s.run_now("c").await.unwrap();
    wait_for(&mut events, finished).await;
    let e = s.retry_run(ok.id).await.unwrap_err();
    assert!(
        e.is_conflict() && e.to_string().contains("succeeded"),
        "{e}"
    );
    let going = s.run_now("p").await.unwrap();
    wait_for(&mut events, started).await;
    assert!(s.retry_run(going.id).await.unwrap_err().is_conflict());

    // A cancelled run may be retried.
    s.cancel_run(going.id, "ada").await.unwrap();
    wait_for(&mut events, finished).await;
    let again = s.retry_run(going.id).await.unwrap().expect("started here");
    // At most once.
    let e = s.retry_run(going.id).await.unwrap_err();
    assert!(e.to_string().contains("already retried"), "{e}");
    assert_eq!(again.retry_of, Some(going.id));
    s.cancel_run(again.id, "ada").await.unwrap();
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn jobs_return_results_kept_within_a_bound() {
    let (s, _clock) = setup().await;
    let mut events = s.subscribe();
    let c = s.run_now("c").await.unwrap();
    wait_for(&mut events, finished).await;
    let done = s.run(c.id).await.unwrap();
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.result, Some(json!({"orders": 42, "ok": true})));

    let h = s.run_now("h").await.unwrap();
    wait_for(&mut events, finished).await;
    let big = s.run(h.id).await.unwrap().result.unwrap();
    assert_eq!(big["truncated"], json!(true));
    assert!(big["bytes"].as_u64().unwrap() > MAX_RESULT_BYTES as u64);
    s.shutdown(Duration::ZERO).await;
}

/// Runs and failures over time, bucketed per minute for the hour and per hour for a day or a
/// week; for all runs (the store's counters) or one task's (its history).
#[tokio::test]
async fn series_count_runs_and_failures_per_bucket() {
    let clock = ManualClock::new(T0.parse().unwrap());
    let s = Scheduler::builder().clock(clock.clone()).build().unwrap();
    s.register_returning("counts", |_ctx: TaskContext| async move { Ok(1) });
    s.register("fails", |_ctx: TaskContext| async move { Err("no".into()) });
    // Paused: only "run now" runs them, whatever the clock does.
    for (id, job) in [("c", "counts"), ("f", "fails")] {
        s.add(
            Task::new(id, job)
                .every(Duration::from_secs(60))
                .paused(true),
        )
        .await
        .unwrap();
    }
    s.start().unwrap();
    let mut events = s.subscribe();
    // Two runs now, a failure among them; two hours later, one more failure.
    for id in ["c", "f"] {
        s.run_now(id).await.unwrap();
        wait_for(&mut events, finished).await;
    }
    clock.advance(Duration::from_secs(2 * 3600));
    s.run_now("f").await.unwrap();
    wait_for(&mut events, finished).await;

    let hour = s.series(SeriesWindow::Hour, None, None).await.unwrap();
    assert_eq!(hour.points.len(), 60);
    assert_eq!(hour.bucket_minutes, 1);
    let last = hour.points.last().unwrap();
    assert_eq!((last.runs, last.failures), (1, 1), "this minute's run");
    assert_eq!(
        hour.points.iter().map(|p| p.runs).sum::<u64>(),
        1,
        "the others are two hours old"
    );

    let day = s.series(SeriesWindow::Day, None, None).await.unwrap();
    assert_eq!(day.points.len(), 24);
    let totals = |s: &Series| {
        (
            s.points.iter().map(|p| p.runs).sum::<u64>(),
            s.points.iter().map(|p| p.failures).sum::<u64>(),
        )
    };
    assert_eq!(totals(&day), (3, 2));
    let two_hours_ago = &day.points[day.points.len() - 3];
    assert_eq!((two_hours_ago.runs, two_hours_ago.failures), (2, 1));
    let week = s.series(SeriesWindow::Week, None, None).await.unwrap();
    assert_eq!((week.points.len(), totals(&week)), (168, (3, 2)));

    let task = s.series(SeriesWindow::Day, Some("f"), None).await.unwrap();
    assert_eq!(totals(&task), (2, 2), "only task f's runs");
    let job = s
        .series(SeriesWindow::Day, None, Some("counts"))
        .await
        .unwrap();
    assert_eq!(totals(&job), (1, 0), "only job counts' runs");
    s.shutdown(Duration::ZERO).await;
}
