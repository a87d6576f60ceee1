//! End-to-end scheduler behaviour with a controlled clock: nothing here sleeps for real.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;
use taskdeck::*;

const T0: &str = "2026-01-05T10:00:00Z";

fn clock() -> ManualClock {
    ManualClock::new(T0.parse().unwrap())
}

fn scheduler(clock: &ManualClock) -> Scheduler {
    Scheduler::builder().clock(clock.clone()).build().unwrap()
}

/// Waits (bounded by a real-time deadline so a bug fails instead of hanging) for the first
/// event matching `pred`.
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

fn finished(task: &str) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::RunFinished { task_id, .. } if task_id == task)
}

async fn runs_of(s: &Scheduler, task: &str) -> Vec<RunRecord> {
    s.runs(&RunQuery {
        task_id: Some(task.into()),
        ..RunQuery::default()
    })
    .await
    .unwrap()
    .items
}

fn counter_job(s: &Scheduler, name: &str) -> Arc<AtomicU32> {
    let count = Arc::new(AtomicU32::new(0));
    let c = count.clone();
    s.register(name, move |ctx: TaskContext| {
        let c = c.clone();
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            ctx.log(format!("args {}", ctx.args()));
            Ok(())
        }
    });
    count
}

#[tokio::test]
async fn interval_task_runs_on_schedule_and_records_history() {
    let clock = clock();
    let s = scheduler(&clock);
    let count = counter_job(&s, "count");
    s.add(
        Task::new("tick", "count")
            .every(Duration::from_secs(10))
            .args(json!({"n": 1})),
    )
    .await
    .unwrap();
    s.start().unwrap();
    let mut events = s.subscribe();

    clock.advance(Duration::from_secs(9));
    s.settled().await;
    assert_eq!(count.load(Ordering::SeqCst), 0, "not due before 10s");

    clock.advance(Duration::from_secs(1));
    wait_for(&mut events, finished("tick")).await;
    s.settled().await;
    assert_eq!(count.load(Ordering::SeqCst), 1);

    let runs = runs_of(&s, "tick").await;
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(r.scheduled_at.to_string(), "2026-01-05T10:00:10Z");
    assert_eq!(r.attempt, 1);
    assert_eq!(r.cause, RunCause::Schedule);
    assert_eq!(r.logs.len(), 1);
    assert_eq!(r.logs[0].message, r#"args {"n":1}"#);
    assert_eq!(
        r.duration_ms(),
        Some(0),
        "the manual clock did not move during the run"
    );

    let info = s.get("tick").await.unwrap();
    assert_eq!(info.next_fire.unwrap().to_string(), "2026-01-05T10:00:20Z");
    assert_eq!(info.last_run.unwrap().status, RunStatus::Succeeded);
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn pause_resume_and_remove() {
    let clock = clock();
    let s = scheduler(&clock);
    let count = counter_job(&s, "count");
    s.add(Task::new("t", "count").every(Duration::from_secs(10)))
        .await
        .unwrap();
    s.start().unwrap();
    let mut events = s.subscribe();

    let info = s.pause("t").await.unwrap();
    assert_eq!(info.state, TaskState::Paused);
    assert_eq!(info.next_fire, None);
    assert!(matches!(
        wait_for(&mut events, |_| true).await,
        Event::TaskPaused { .. }
    ));
    clock.advance(Duration::from_secs(60));
    s.settled().await;
    assert_eq!(count.load(Ordering::SeqCst), 0, "paused tasks do not fire");

    let info = s.resume("t").await.unwrap();
    assert_eq!(
        info.next_fire.unwrap().to_string(),
        "2026-01-05T10:01:10Z",
        "resumes on the grid from now, missed fires not made up"
    );
    clock.advance(Duration::from_secs(10));
    wait_for(&mut events, finished("t")).await;
    assert_eq!(count.load(Ordering::SeqCst), 1);

    s.remove("t").await.unwrap();
    clock.advance(Duration::from_secs(60));
    s.settled().await;
    assert_eq!(count.load(Ordering::SeqCst), 1, "removed tasks do not fire");
    assert_eq!(runs_of(&s, "t").await.len(), 1, "history outlives the task");
    assert!(s.get("t").await.unwrap_err().is_not_found());
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn failures_are_retried_with_backoff() {
    let clock = clock();
    let s = scheduler(&clock);
    let attempts = Arc::new(AtomicU32::new(0));
    let a = attempts.clone();
    s.register("flaky", move |ctx: TaskContext| {
        let a = a.clone();
        async move {
            a.fetch_add(1, Ordering::SeqCst);
            if ctx.attempt() < 3 {
                Err(format!("attempt {} failed", ctx.attempt()).into())
            } else {
                Ok(())
            }
        }
    });
    s.add(
        Task::new("f", "flaky")
            .every(Duration::from_secs(3600))
            .retries(5)
            .retry_backoff(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    s.start().unwrap();
    let mut events = s.subscribe();
    clock.advance(Duration::from_secs(3600));
    wait_for(&mut events, finished("f")).await;
    // First retry waits 10s on the scheduler clock.
    clock.advance(Duration::from_secs(9));
    tokio::task::yield_now().await;
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_secs(1));
    wait_for(&mut events, finished("f")).await;
    // Second retry waits 20s.
    clock.advance(Duration::from_secs(20));
    wait_for(&mut events, finished("f")).await;
    s.settled().await;

    let runs = runs_of(&s, "f").await;
    let got: Vec<(u32, RunStatus, RunCause)> = runs
        .iter()
        .rev()
        .map(|r| (r.attempt, r.status, r.cause))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, RunStatus::Failed, RunCause::Schedule),
            (2, RunStatus::Failed, RunCause::Retry),
            (3, RunStatus::Succeeded, RunCause::Retry),
        ]
    );
    assert_eq!(runs[2].error.as_deref(), Some("attempt 1 failed"));
    assert_eq!(runs[0].scheduled_at.to_string(), "2026-01-05T11:00:30Z");
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn timeout_cancels_the_run() {
    let clock = clock();
    let s = scheduler(&clock);
    s.register("hang", |_ctx: TaskContext| async move {
        std::future::pending::<()>().await;
        Ok(())
    });
    s.add(
        Task::new("h", "hang")
            .every(Duration::from_secs(60))
            .timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    s.start().unwrap();
    let mut events = s.subscribe();
    clock.advance(Duration::from_secs(60));
    wait_for(&mut events, |e| matches!(e, Event::RunStarted { .. })).await;
    assert_eq!(s.get("h").await.unwrap().state, TaskState::Running);
    clock.advance(Duration::from_secs(5));
    let e = wait_for(&mut events, finished("h")).await;
    assert!(matches!(
        e,
        Event::RunFinished {
            status: RunStatus::TimedOut,
            duration_ms: Some(5000),
            ..
        }
    ));
    let run = &runs_of(&s, "h").await[0];
    assert_eq!(run.error.as_deref(), Some("timed out after 5s"));
    assert_eq!(s.get("h").await.unwrap().state, TaskState::Scheduled);
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_panicking_job_is_recorded_and_the_scheduler_keeps_going() {
    let clock = clock();
    let s = scheduler(&clock);
    s.register("boom", |_ctx: TaskContext| async move {
        panic!("exploded on purpose");
    });
    let count = counter_job(&s, "count");
    s.add(Task::new("p", "boom").every(Duration::from_secs(10)))
        .await
        .unwrap();
    s.add(Task::new("ok", "count").every(Duration::from_secs(10)))
        .await
        .unwrap();
    s.start().unwrap();
    let mut events = s.subscribe();
    for round in 1..=2 {
        clock.advance(Duration::from_secs(10));
        wait_for(&mut events, finished("p")).await;
        s.settled().await;
        assert_eq!(count.load(Ordering::SeqCst), round);
    }
    let runs = runs_of(&s, "p").await;
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].status, RunStatus::Panicked);
    assert_eq!(
        runs[0].error.as_deref(),
        Some("panicked: exploded on purpose")
    );
    assert_eq!(s.lifecycle(), Lifecycle::Running);
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn max_instances_skips_overlapping_runs() {
    let clock = clock();
    let s = scheduler(&clock);
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = gate.clone();
    s.register("slow", move |_ctx: TaskContext| {
        let g = g.clone();
        async move {
            g.notified().await;
            Ok(())
        }
    });
    s.add(
        Task::new("s", "slow")
            .every(Duration::from_secs(3600))
            .max_instances(1),
    )
    .await
    .unwrap();
    s.start().unwrap();
    let mut events = s.subscribe();

    let first = s.run_now("s").await.unwrap();
    assert_eq!(first.status, RunStatus::Running);
    assert_eq!(first.cause, RunCause::Manual);
    let second = s.run_now("s").await.unwrap();
    assert_eq!(second.status, RunStatus::Skipped);
    assert!(second.error.unwrap().contains("max_instances is 1"));

    gate.notify_one();
    let e = wait_for(
        &mut events,
        |e| matches!(e, Event::RunFinished { run_id, .. } if *run_id == first.id),
    )
    .await;
    assert!(matches!(
        e,
        Event::RunFinished {
            status: RunStatus::Succeeded,
            ..
        }
    ));
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn late_fires_are_missed_or_coalesced() {
    let clock = clock();
    let s = scheduler(&clock);
    let count = counter_job(&s, "count");
    s.add(
        Task::new("coalesced", "count")
            .every(Duration::from_secs(10))
            .misfire_grace(Duration::from_secs(15)),
    )
    .await
    .unwrap();
    s.add(
        Task::new("each", "count")
            .every(Duration::from_secs(10))
            .coalesce(false)
            .max_instances(10)
            .misfire_grace(Duration::from_secs(15)),
    )
    .await
    .unwrap();
    s.start().unwrap();
    s.pause_all();
    assert!(s.is_paused());
    clock.advance(Duration::from_secs(40)); // fires due at 10, 20, 30, 40
    s.settled().await;
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "paused scheduler fires nothing"
    );
    s.resume_all();
    s.settled().await;

    let c = runs_of(&s, "coalesced").await;
    assert_eq!(c.len(), 1, "four due fires coalesce into one run");
    assert_eq!(c[0].status, RunStatus::Succeeded);
    assert_eq!(c[0].scheduled_at.to_string(), "2026-01-05T10:00:40Z");

    let mut each: Vec<(String, RunStatus)> = runs_of(&s, "each")
        .await
        .iter()
        .map(|r| (r.scheduled_at.strftime("%S").to_string(), r.status))
        .collect();
    each.sort();
    assert_eq!(
        each,
        vec![
            ("10".into(), RunStatus::Missed),
            ("20".into(), RunStatus::Missed),
            ("30".into(), RunStatus::Succeeded),
            ("40".into(), RunStatus::Succeeded),
        ],
        "without coalescing each fire counts; those past the 15s grace are missed"
    );
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn shutdown_waits_for_cooperative_jobs_and_aborts_stubborn_ones() {
    let clock = clock();
    let s = scheduler(&clock);
    s.register("polite", |ctx: TaskContext| async move {
        ctx.cancelled().await;
        ctx.log("stopping cleanly");
        Ok(())
    });
    s.register("stubborn", |_ctx: TaskContext| async move {
        std::future::pending::<()>().await;
        Ok(())
    });
    s.add(Task::new("polite", "polite").every(Duration::from_secs(60)))
        .await
        .unwrap();
    s.add(Task::new("stubborn", "stubborn").every(Duration::from_secs(60)))
        .await
        .unwrap();
    s.start().unwrap();
    let mut events = s.subscribe();
    clock.advance(Duration::from_secs(60));
    for _ in 0..2 {
        wait_for(&mut events, |e| matches!(e, Event::RunStarted { .. })).await;
    }
    let s2 = s.clone();
    let shutdown = tokio::spawn(async move { s2.shutdown(Duration::from_secs(10)).await });
    wait_for(&mut events, finished("polite")).await;
    assert_eq!(s.lifecycle(), Lifecycle::ShuttingDown);
    clock.advance(Duration::from_secs(10));
    wait_for(&mut events, finished("stubborn")).await;
    shutdown.await.unwrap();
    assert_eq!(s.lifecycle(), Lifecycle::Stopped);

    let polite = &runs_of(&s, "polite").await[0];
    assert_eq!(polite.status, RunStatus::Succeeded);
    assert_eq!(polite.logs[0].message, "stopping cleanly");
    let stubborn = &runs_of(&s, "stubborn").await[0];
    assert_eq!(stubborn.status, RunStatus::Cancelled);

    // Stopped: nothing fires any more, and manual runs are refused.
    clock.advance(Duration::from_secs(600));
    assert_eq!(runs_of(&s, "polite").await.len(), 1);
    assert!(matches!(
        s.run_now("polite").await,
        Err(Error::ShuttingDown)
    ));
}

#[tokio::test]
async fn cron_task_in_a_zone_fires_at_local_time() {
    let clock = ManualClock::new("2026-03-28T12:00:00Z".parse().unwrap());
    let s = Scheduler::builder()
        .clock(clock.clone())
        .timezone("Europe/Berlin")
        .build()
        .unwrap();
    let count = counter_job(&s, "count");
    let info = s
        .add(Task::new("nightly", "count").cron("0 30 3 * * *").unwrap())
        .await
        .unwrap();
    assert_eq!(info.next_fire.unwrap().to_string(), "2026-03-29T01:30:00Z");
    assert!(
        info.trigger_text.ends_with("(Europe/Berlin)"),
        "{}",
        info.trigger_text
    );
    let preview = s.preview("nightly", 3).await.unwrap();
    assert_eq!(
        preview.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        [
            "2026-03-29T01:30:00Z",
            "2026-03-30T01:30:00Z",
            "2026-03-31T01:30:00Z"
        ]
    );
    s.start().unwrap();
    let mut events = s.subscribe();
    clock.set("2026-03-29T01:30:00Z".parse().unwrap());
    wait_for(&mut events, finished("nightly")).await;
    assert_eq!(count.load(Ordering::SeqCst), 1);
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn one_off_date_fires_once_then_completes() {
    let clock = clock();
    let s = scheduler(&clock);
    let count = counter_job(&s, "count");
    let at: Timestamp = "2026-01-05T10:05:00Z".parse().unwrap();
    s.add(Task::new("once", "count").at(at)).await.unwrap();
    s.start().unwrap();
    let mut events = s.subscribe();
    clock.advance(Duration::from_secs(300));
    wait_for(&mut events, finished("once")).await;
    s.settled().await;
    let info = s.get("once").await.unwrap();
    assert_eq!(info.state, TaskState::Completed);
    assert_eq!(info.next_fire, None);
    clock.advance(Duration::from_secs(3600));
    s.settled().await;
    assert_eq!(count.load(Ordering::SeqCst), 1);
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn update_changes_trigger_and_restarts_its_schedule() {
    let clock = clock();
    let s = scheduler(&clock);
    counter_job(&s, "count");
    s.add(Task::new("u", "count").every(Duration::from_secs(60)))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(25));
    let info = s
        .update(
            Task::new("u", "count")
                .every(Duration::from_secs(10))
                .name("Renamed"),
        )
        .await
        .unwrap();
    assert_eq!(info.task.name, "Renamed");
    assert_eq!(info.next_fire.unwrap().to_string(), "2026-01-05T10:00:35Z");
    assert!(s
        .update(Task::new("nope", "count"))
        .await
        .unwrap_err()
        .is_not_found());
}

struct BadInput {
    what: &'static str,
    task: Task,
    check: fn(&Error) -> bool,
}

#[tokio::test]
async fn bad_input_gets_typed_errors_that_say_what_to_fix() {
    let clock = clock();
    let s = scheduler(&clock);
    counter_job(&s, "count");
    s.add(Task::new("taken", "count")).await.unwrap();
    let past: Timestamp = "2020-01-01T00:00:00Z".parse().unwrap();
    let cases = [
        BadInput {
            what: "unknown job",
            task: Task::new("a", "nonexistent"),
            check: |e| matches!(e, Error::UnknownJob { job } if job == "nonexistent"),
        },
        BadInput {
            what: "duplicate id",
            task: Task::new("taken", "count"),
            check: |e| matches!(e, Error::DuplicateTask { .. }) && e.is_conflict(),
        },
        BadInput {
            what: "zero interval",
            task: Task::new("z", "count").every(Duration::ZERO),
            check: |e| matches!(e, Error::Trigger(TriggerError::ZeroInterval)),
        },
        BadInput {
            what: "date in the past",
            task: Task::new("d", "count").at(past),
            check: |e| matches!(e, Error::Trigger(TriggerError::DateInPast { .. })),
        },
        BadInput {
            what: "invalid cron from JSON",
            task: serde_json::from_value(json!({
                "id": "c", "job": "count", "trigger": {"kind": "cron", "expr": "every tuesday"}
            }))
            .unwrap(),
            check: |e| matches!(e, Error::Trigger(TriggerError::InvalidCron { .. })),
        },
        BadInput {
            what: "bad id",
            task: Task::new("../etc", "count"),
            check: |e| matches!(e, Error::InvalidTask { field: "id", .. }),
        },
    ];
    for c in cases {
        let err = s.add(c.task).await.unwrap_err();
        assert!((c.check)(&err), "{}: got {err:?}", c.what);
        assert!(err.to_string().len() > 10, "{}: message {err}", c.what);
    }
    for op in ["pause", "resume", "remove"] {
        let err = match op {
            "pause" => s.pause("ghost").await.map(drop),
            "resume" => s.resume("ghost").await.map(drop),
            _ => s.remove("ghost").await,
        }
        .unwrap_err();
        assert!(err.is_not_found(), "{op}: {err:?}");
        assert_eq!(err.to_string(), "no task with id \"ghost\"");
    }
    assert!(matches!(
        s.run(999).await,
        Err(Error::UnknownRun { id: 999 })
    ));
    assert!(matches!(s.run_now("taken").await, Err(Error::Start(_))));
    assert!(Scheduler::builder()
        .timezone("Nowhere/City")
        .build()
        .is_err());
}

#[tokio::test]
async fn start_twice_is_an_error() {
    let s = Scheduler::builder().build().unwrap();
    s.start().unwrap();
    assert!(matches!(s.start(), Err(Error::Start(_))));
    s.shutdown(Duration::ZERO).await;
    s.shutdown(Duration::ZERO).await;
    assert_eq!(s.lifecycle(), Lifecycle::Stopped);
}

#[test]
fn start_outside_a_runtime_is_an_error() {
    let s = Scheduler::builder().build().unwrap();
    let err = s.start().unwrap_err();
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

#[tokio::test]
async fn stats_count_states_and_windows() {
    let clock = clock();
    let s = scheduler(&clock);
    counter_job(&s, "count");
    s.register(
        "fail",
        |_ctx: TaskContext| async move { Err("nope".into()) },
    );
    s.add(Task::new("a", "count").every(Duration::from_secs(10)))
        .await
        .unwrap();
    s.add(Task::new("b", "fail").every(Duration::from_secs(10)))
        .await
        .unwrap();
    s.add(Task::new("c", "count").paused(true)).await.unwrap();
    s.start().unwrap();
    let mut events = s.subscribe();
    clock.advance(Duration::from_secs(10));
    wait_for(&mut events, finished("a")).await;
    wait_for(&mut events, finished("b")).await;
    s.settled().await;
    let st = s.stats().await.unwrap();
    assert_eq!(st.tasks.scheduled, 2);
    assert_eq!(st.tasks.paused, 1);
    assert_eq!(st.last_hour.runs, 2);
    assert_eq!(st.last_hour.failures, 1);
    let d = s.durations("a").await.unwrap();
    assert_eq!(d.count, 1);
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn backend_trait_serves_the_dashboard_view() {
    let clock = clock();
    let s = scheduler(&clock);
    counter_job(&s, "count");
    let backend: Arc<dyn TaskBackend> = Arc::new(s.clone());
    backend
        .create(Task::new("x", "count").every(Duration::from_secs(30)))
        .await
        .unwrap();
    let detail = backend.get("x").await.unwrap();
    assert_eq!(detail.upcoming.len(), 10);
    assert_eq!(detail.info.trigger_text, "every 30s");
    let out = backend
        .bulk(BulkAction::Pause, &["x".to_string(), "ghost".to_string()])
        .await
        .unwrap();
    assert_eq!(out.done, vec!["x".to_string()]);
    assert_eq!(out.failed.len(), 1);
    let err = backend.get("ghost").await.unwrap_err();
    assert!(err.is_not_found());
    let err = backend.create(Task::new("y", "missing")).await.unwrap_err();
    assert_eq!((err.is_invalid(), err.field()), (true, Some("job")));
    assert_eq!(backend.jobs().await.unwrap(), vec!["count".to_string()]);
    let preview = backend
        .preview(
            &TriggerSpec::Cron {
                expr: "0 0 * * *".into(),
                timezone: None,
            },
            2,
        )
        .await
        .unwrap();
    assert_eq!(preview.fires[0].to_string(), "2026-01-06T00:00:00Z");
}

#[tokio::test]
async fn jitter_delays_the_start_within_its_window() {
    let clock = clock();
    let s = scheduler(&clock);
    let count = counter_job(&s, "count");
    s.add(
        Task::new("j", "count")
            .every(Duration::from_secs(60))
            .jitter(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    s.start().unwrap();
    let mut events = s.subscribe();
    clock.advance(Duration::from_secs(60));
    wait_for(&mut events, |e| matches!(e, Event::RunStarted { .. })).await;
    tokio::task::yield_now().await;
    assert_eq!(count.load(Ordering::SeqCst), 0, "waits for its jitter");
    clock.advance(Duration::from_secs(10));
    wait_for(&mut events, finished("j")).await;
    let run = &runs_of(&s, "j").await[0];
    let late = run.lateness_ms().unwrap();
    assert!((0..=10_000).contains(&late), "started {late} ms late");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn runs_are_queryable_by_task_status_and_time() {
    let clock = clock();
    let s = scheduler(&clock);
    counter_job(&s, "count");
    s.register("fail", |_ctx: TaskContext| async move { Err("no".into()) });
    s.add(Task::new("ok", "count").every(Duration::from_secs(10)))
        .await
        .unwrap();
    s.add(Task::new("bad", "fail").every(Duration::from_secs(10)))
        .await
        .unwrap();
    s.start().unwrap();
    for _ in 0..3 {
        clock.advance(Duration::from_secs(10));
        s.settled().await;
    }
    let q = |task: Option<&str>, status: Option<RunStatus>, since: Option<&str>| RunQuery {
        task_id: task.map(String::from),
        status,
        since: since.map(|t| t.parse().unwrap()),
        ..RunQuery::default()
    };
    let total = |query: RunQuery| {
        let s = s.clone();
        async move { s.runs(&query).await.unwrap().total }
    };
    assert_eq!(total(q(None, None, None)).await, 6);
    assert_eq!(total(q(Some("ok"), None, None)).await, 3);
    assert_eq!(total(q(None, Some(RunStatus::Failed), None)).await, 3);
    assert_eq!(
        total(q(
            Some("bad"),
            Some(RunStatus::Failed),
            Some("2026-01-05T10:00:20Z")
        ))
        .await,
        2
    );
    let page = s
        .runs(&RunQuery {
            per_page: 4,
            page: 2,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.total, page.pages()), (2, 6, 2));
    s.shutdown(Duration::ZERO).await;
}

/// Fires closer together than the timer slack share one wake-up, each at most the slack late;
/// a fire further off than the slack still wakes the timer on time.
#[tokio::test]
async fn fires_within_the_timer_slack_share_a_wake_up() {
    let clock = clock();
    let s = Scheduler::builder()
        .clock(clock.clone())
        .timer_slack(Duration::from_millis(3))
        .build()
        .unwrap();
    counter_job(&s, "count");
    let t0: Timestamp = T0.parse().unwrap();
    let ms = |n: i64| t0 + jiff::SignedDuration::from_millis(n);
    for (id, at) in [("a", 10), ("b", 11), ("c", 30)] {
        // A grace shorter than the slack: waiting for the slack is not a miss.
        let task = Task::new(id, "count")
            .at(ms(at))
            .misfire_grace(Duration::from_millis(1));
        s.add(task).await.unwrap();
    }
    s.start().unwrap();
    let lateness = |r: &RunRecord| r.started_at.unwrap().duration_since(r.scheduled_at);

    clock.set(ms(10));
    s.settled().await;
    let a = runs_of(&s, "a").await;
    assert_eq!(a.len(), 1);
    assert_eq!(lateness(&a[0]), jiff::SignedDuration::ZERO);

    // "b" is due 1 ms after the wake-up that started "a": it waits for the slack to pass.
    clock.set(ms(11));
    s.settled().await;
    assert!(
        runs_of(&s, "b").await.is_empty(),
        "b started within the slack"
    );
    clock.set(ms(13));
    s.settled().await;
    let b = runs_of(&s, "b").await;
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].status, RunStatus::Succeeded);
    assert_eq!(lateness(&b[0]), jiff::SignedDuration::from_millis(2));

    // "c" is due long after the slack: it starts on time.
    clock.set(ms(30));
    s.settled().await;
    let c = runs_of(&s, "c").await;
    assert_eq!(c.len(), 1);
    assert_eq!(lateness(&c[0]), jiff::SignedDuration::ZERO);
    s.shutdown(Duration::ZERO).await;
}

/// With no slack each fire wakes the timer on its own; a slack over 100 ms is refused.
#[tokio::test]
async fn zero_slack_wakes_for_every_fire_and_too_much_is_refused() {
    let clock = clock();
    let s = Scheduler::builder()
        .clock(clock.clone())
        .timer_slack(Duration::ZERO)
        .build()
        .unwrap();
    counter_job(&s, "count");
    let t0: Timestamp = T0.parse().unwrap();
    let ms = |n: i64| t0 + jiff::SignedDuration::from_millis(n);
    s.add(Task::new("a", "count").at(ms(10))).await.unwrap();
    s.add(Task::new("b", "count").at(ms(11))).await.unwrap();
    s.start().unwrap();
    clock.set(ms(10));
    s.settled().await;
    clock.set(ms(11));
    s.settled().await;
    let b = runs_of(&s, "b").await;
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].started_at, Some(ms(11)));
    s.shutdown(Duration::ZERO).await;

    let err = Scheduler::builder()
        .timer_slack(Duration::from_millis(101))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("timer_slack"), "{err}");
}
