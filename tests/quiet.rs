//! Alerts when a schedule goes quiet, one kind per test, on the memory store with a manual
//! clock: each raised once (hook, event, metric, `Scheduler::alerts`), resolved when its
//! condition ends, and raised again only after that. The PostgreSQL replicas' side is in
//! `tests/postgres.rs`.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskdeck::*;
use tokio::sync::Notify;

const T0: &str = "2026-03-02T09:00:00Z";

/// Alerts the hook heard of.
type Heard = Arc<Mutex<Vec<Alert>>>;

/// Settings whose own check never comes within a test's clock steps: each test checks with
/// `check_alerts`, so that what a check returns is what it told.
fn settings() -> AlertSettings {
    AlertSettings {
        check_every: Duration::from_secs(400 * 86_400),
        ..AlertSettings::default()
    }
}

fn scheduler_with(settings: AlertSettings) -> (Scheduler, ManualClock, Heard) {
    let clock = ManualClock::new(T0.parse().unwrap());
    let heard: Heard = Arc::default();
    let h = heard.clone();
    let s = Scheduler::builder()
        .clock(clock.clone())
        .timer_slack(Duration::ZERO)
        .alerts(settings)
        .on_alert(move |a: Alert| {
            let h = h.clone();
            async move { h.lock().unwrap().push(a) }
        })
        .build()
        .unwrap();
    (s, clock, heard)
}

fn scheduler() -> (Scheduler, ManualClock, Heard) {
    scheduler_with(settings())
}

/// Waits (with a deadline) until the hook has heard `n` alerts, and returns them.
async fn heard(h: &Heard, n: usize) -> Vec<Alert> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = h.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hook heard {got:?}, waited for {n}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits for the event `pred` accepts.
async fn event(events: &mut EventStream, pred: impl Fn(&Event) -> bool) -> Event {
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
        .expect("the event came within the deadline")
}

fn kinds(alerts: &[Alert]) -> Vec<(String, AlertKind)> {
    alerts.iter().map(|a| (a.task_id.clone(), a.kind)).collect()
}

async fn step(s: &Scheduler, clock: &ManualClock, by: Duration) {
    clock.advance(by);
    s.settled().await;
}

fn alerts_total(s: &Scheduler, kind: &str) -> f64 {
    let text = s.prometheus_metrics();
    let line = format!("taskdeck_alerts_total{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no {line} in {text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn missed() {
    let (s, clock, heard_) = scheduler();
    s.register("report", |_ctx: TaskContext| async { Ok(()) });
    s.add(
        Task::new("report", "report")
            .every(Duration::from_secs(60))
            .misfire_grace(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    let mut events = s.subscribe();
    s.start().unwrap();
    // The fire due at 60 s is handled at 90 s: missed, and an alert says so.
    step(&s, &clock, Duration::from_secs(90)).await;
    let raised = event(&mut events, |e| matches!(e, Event::AlertRaised { .. })).await;
    let Event::AlertRaised {
        kind,
        task_id,
        run_id,
        message,
    } = raised
    else {
        unreachable!()
    };
    assert_eq!((kind, task_id.as_str()), (AlertKind::Missed, "report"));
    assert!(
        message.contains("missed") && message.contains("misfire grace"),
        "{message}"
    );
    let run = s.run(run_id.unwrap()).await.unwrap();
    assert_eq!(run.status, RunStatus::Missed);
    let h = heard(&heard_, 1).await;
    assert_eq!(kinds(&h), [("report".into(), AlertKind::Missed)]);
    assert_eq!(
        kinds(&s.alerts(None).await.unwrap()),
        [("report".into(), AlertKind::Missed)]
    );
    assert_eq!(alerts_total(&s, "missed"), 1.0);

    // Missed again while the alert is open: not told again.
    step(&s, &clock, Duration::from_secs(60)).await;
    assert!(s.check_alerts().await.unwrap().resolved.is_empty());
    assert_eq!(s.alerts(None).await.unwrap().len(), 1);

    // Run by hand: the schedule is no better for it, the alert stays.
    s.run_now("report").await.unwrap();
    s.settled().await;
    assert!(s.check_alerts().await.unwrap().resolved.is_empty());

    // A fire on time runs: the alert is resolved, once.
    clock.set("2026-03-02T09:03:00Z".parse().unwrap());
    s.settled().await;
    let check = s.check_alerts().await.unwrap();
    assert_eq!(
        kinds(&check.resolved),
        [("report".into(), AlertKind::Missed)]
    );
    assert!(check.resolved[0].resolved_at.is_some());
    assert!(s.alerts(None).await.unwrap().is_empty());
    assert!(
        s.check_alerts().await.unwrap().resolved.is_empty(),
        "resolved once"
    );

    // Missed after recovering: told again.
    step(&s, &clock, Duration::from_secs(90)).await;
    let h = heard(&heard_, 3).await;
    assert_eq!(
        h.iter().filter(|a| a.resolved_at.is_none()).count(),
        2,
        "{h:?}"
    );
    assert_eq!(alerts_total(&s, "missed"), 2.0);
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn skipped() {
    let (s, clock, heard_) = scheduler();
    let release = Arc::new(Notify::new());
    let r = release.clone();
    s.register("slow", move |_ctx: TaskContext| {
        let r = r.clone();
        async move {
            r.notified().await;
            Ok(())
        }
    });
    s.add(Task::new("slow", "slow").every(Duration::from_secs(60)))
        .await
        .unwrap();
    let mut events = s.subscribe();
    s.start().unwrap();
    clock.advance(Duration::from_secs(60));
    event(&mut events, |e| matches!(e, Event::RunStarted { .. })).await;
    // The next fire finds the first run still going (max_instances 1): skipped.
    clock.advance(Duration::from_secs(60));
    let raised = event(&mut events, |e| matches!(e, Event::AlertRaised { .. })).await;
    assert!(
        matches!(
            raised,
            Event::AlertRaised {
                kind: AlertKind::Skipped,
                ..
            }
        ),
        "{raised:?}"
    );
    clock.advance(Duration::from_secs(60));
    event(&mut events, |e| {
        matches!(
            e,
            Event::RunFinished {
                status: RunStatus::Skipped,
                ..
            }
        )
    })
    .await;
    assert!(s.check_alerts().await.unwrap().raised.is_empty());
    assert_eq!(heard(&heard_, 1).await.len(), 1, "skipped twice, told once");

    // The run ends and the next fire runs: resolved.
    release.notify_one();
    event(&mut events, |e| {
        matches!(
            e,
            Event::RunFinished {
                status: RunStatus::Succeeded,
                ..
            }
        )
    })
    .await;
    clock.advance(Duration::from_secs(60));
    event(&mut events, |e| matches!(e, Event::RunStarted { .. })).await;
    let check = s.check_alerts().await.unwrap();
    assert_eq!(
        kinds(&check.resolved),
        [("slow".into(), AlertKind::Skipped)]
    );
    release.notify_one();
    s.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn overdue() {
    // Never started: its timer is as good as stuck.
    let (s, clock, _) = scheduler();
    every_minute(&s, "sync").await;
    s.add(
        Task::new("resting", "sync")
            .every(Duration::from_secs(60))
            .paused(true),
    )
    .await
    .unwrap();
    let mut events = s.subscribe();
    // Due at 60 s; at 110 s it is 50 s past, within the 60 s grace.
    clock.advance(Duration::from_secs(110));
    assert!(s.check_alerts().await.unwrap().raised.is_empty());
    clock.advance(Duration::from_secs(20));
    let check = s.check_alerts().await.unwrap();
    assert_eq!(
        kinds(&check.raised),
        [("sync".into(), AlertKind::Overdue)],
        "not the paused one"
    );
    let a = &check.raised[0];
    assert_eq!(a.since, "2026-03-02T09:01:00Z".parse().unwrap());
    assert!(
        a.message.contains("not fired: 1m 10s past its fire"),
        "{}",
        a.message
    );
    assert!(
        a.message.contains("timer loop may be stuck"),
        "{}",
        a.message
    );
    event(&mut events, |e| {
        matches!(
            e,
            Event::AlertRaised {
                kind: AlertKind::Overdue,
                ..
            }
        )
    })
    .await;
    assert!(
        s.check_alerts().await.unwrap().raised.is_empty(),
        "told once"
    );

    // The tasks list filters on it; pausing the task resolves it.
    let q = TaskQuery {
        attention: true,
        ..TaskQuery::default()
    };
    let page = s.list(&q).await.unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|t| t.task.id.as_str())
            .collect::<Vec<_>>(),
        ["sync"]
    );
    s.pause("sync").await.unwrap();
    let check = s.check_alerts().await.unwrap();
    assert_eq!(
        kinds(&check.resolved),
        [("sync".into(), AlertKind::Overdue)]
    );
    assert_eq!(s.list(&q).await.unwrap().total, 0);

    // Started, the timer fires it on time: overdue no more, whatever the clock does.
    s.resume("sync").await.unwrap();
    s.start().unwrap();
    step(&s, &clock, Duration::from_secs(60)).await;
    step(&s, &clock, Duration::from_secs(60)).await;
    assert!(s.check_alerts().await.unwrap().raised.is_empty());
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_paused_scheduler_raises_no_overdue() {
    let (s, clock, _) = scheduler();
    every_minute(&s, "sync").await;
    s.pause_all();
    clock.advance(Duration::from_secs(600));
    assert!(s.check_alerts().await.unwrap().raised.is_empty());
}

/// Registers job `sync` (which succeeds) and adds task `id` running it every minute.
async fn every_minute(s: &Scheduler, id: &str) {
    s.register("sync", |_ctx: TaskContext| async { Ok(()) });
    s.add(Task::new(id, "sync").every(Duration::from_secs(60)))
        .await
        .unwrap();
}

/// A job that fails while the flag it returns is set.
fn flaky_job(s: &Scheduler, name: &str) -> Arc<AtomicBool> {
    let failing = Arc::new(AtomicBool::new(true));
    let f = failing.clone();
    s.register(name, move |_ctx: TaskContext| {
        let f = f.clone();
        async move {
            if f.load(Ordering::SeqCst) {
                Err("the upstream is gone".into())
            } else {
                Ok(())
            }
        }
    });
    failing
}

/// A job that says when it began and waits for the test: each run takes as long as the
/// test advances the clock meanwhile.
fn waiting_job(s: &Scheduler, name: &str) -> (Arc<Notify>, Arc<Notify>) {
    let (began, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (b, r) = (began.clone(), release.clone());
    s.register(name, move |_ctx: TaskContext| {
        let (b, r) = (b.clone(), r.clone());
        async move {
            b.notify_one();
            r.notified().await;
            Ok(())
        }
    });
    (began, release)
}

/// Runs `task` now and waits until its job has begun (the run's clock has started).
async fn begin(s: &Scheduler, task: &str, began: &Notify) -> RunRecord {
    let run = s.run_now(task).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), began.notified())
        .await
        .expect("the job began");
    run
}

#[tokio::test]
async fn running_long() {
    let (s, clock, heard_) = scheduler();
    let (began, release) = waiting_job(&s, "import");
    s.add(Task::new("import", "import").every(Duration::from_secs(86_400)))
        .await
        .unwrap();
    s.add(
        Task::new("bounded", "import")
            .every(Duration::from_secs(86_400))
            .expect_within(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    let mut events = s.subscribe();
    s.start().unwrap();
    // Five runs of 30 s: the job's usual duration.
    for _ in 0..5 {
        begin(&s, "import", &began).await;
        clock.advance(Duration::from_secs(30));
        release.notify_one();
        event(&mut events, |e| {
            matches!(
                e,
                Event::RunFinished {
                    status: RunStatus::Succeeded,
                    ..
                }
            )
        })
        .await;
    }
    let slow = begin(&s, "import", &began).await;
    // 61 s: past the 60 s floor but not three times 30 s.
    clock.advance(Duration::from_secs(61));
    assert!(s.check_alerts().await.unwrap().raised.is_empty());
    clock.advance(Duration::from_secs(30));
    let check = s.check_alerts().await.unwrap();
    assert_eq!(
        kinds(&check.raised),
        [("import".into(), AlertKind::RunningLong)]
    );
    let a = &check.raised[0];
    assert_eq!(a.run_id, Some(slow.id));
    assert!(
        a.message.contains("ran past 1m 30s") && a.message.contains("usual 30s"),
        "{}",
        a.message
    );
    assert!(
        s.check_alerts().await.unwrap().raised.is_empty(),
        "told once"
    );
    heard(&heard_, 1).await;

    // Its task's own bound: 5 s.
    let bounded = begin(&s, "bounded", &began).await;
    clock.advance(Duration::from_secs(6));
    let check = s.check_alerts().await.unwrap();
    assert_eq!(
        kinds(&check.raised),
        [("bounded".into(), AlertKind::RunningLong)]
    );
    assert_eq!(check.raised[0].run_id, Some(bounded.id));
    assert!(
        check.raised[0].message.contains("ran past the 5s expected"),
        "{}",
        check.raised[0].message
    );

    // Both end: resolved.
    release.notify_one();
    release.notify_one();
    event(&mut events, |e| matches!(e, Event::RunFinished { .. })).await;
    event(&mut events, |e| matches!(e, Event::RunFinished { .. })).await;
    let mut resolved = kinds(&s.check_alerts().await.unwrap().resolved);
    resolved.sort();
    assert_eq!(
        resolved,
        [
            ("bounded".into(), AlertKind::RunningLong),
            ("import".into(), AlertKind::RunningLong)
        ]
    );
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_short_job_does_not_flap() {
    let (s, clock, _) = scheduler();
    let (began, release) = waiting_job(&s, "ping");
    s.add(Task::new("ping", "ping").every(Duration::from_secs(86_400)))
        .await
        .unwrap();
    let mut events = s.subscribe();
    s.start().unwrap();
    for _ in 0..5 {
        begin(&s, "ping", &began).await;
        clock.advance(Duration::from_millis(10));
        release.notify_one();
        event(&mut events, |e| matches!(e, Event::RunFinished { .. })).await;
    }
    begin(&s, "ping", &began).await;
    // Far over three times 10 ms, but under the 60 s floor.
    clock.advance(Duration::from_secs(59));
    assert!(s.check_alerts().await.unwrap().raised.is_empty());
    clock.advance(Duration::from_secs(2));
    assert_eq!(s.check_alerts().await.unwrap().raised.len(), 1);
    release.notify_one();
    s.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn no_success() {
    let (s, clock, heard_) = scheduler();
    let failing = flaky_job(&s, "export");
    s.add(
        Task::new("export", "export")
            .every(Duration::from_secs(3600))
            .alert_if_no_success_within(Duration::from_secs(600)),
    )
    .await
    .unwrap();
    s.start().unwrap();
    s.run_now("export").await.unwrap();
    s.settled().await;
    clock.advance(Duration::from_secs(599));
    assert!(s.check_alerts().await.unwrap().raised.is_empty());
    clock.advance(Duration::from_secs(2));
    let check = s.check_alerts().await.unwrap();
    assert_eq!(
        kinds(&check.raised),
        [("export".into(), AlertKind::NoSuccess)]
    );
    let a = &check.raised[0];
    assert_eq!(a.since, T0.parse().unwrap(), "since the task was added");
    assert!(
        a.message.contains("no run succeeded within 10m"),
        "{}",
        a.message
    );
    assert!(
        s.check_alerts().await.unwrap().raised.is_empty(),
        "told once"
    );

    failing.store(false, Ordering::SeqCst);
    s.run_now("export").await.unwrap();
    s.settled().await;
    let check = s.check_alerts().await.unwrap();
    assert_eq!(
        kinds(&check.resolved),
        [("export".into(), AlertKind::NoSuccess)]
    );
    // The window starts again from that success.
    clock.advance(Duration::from_secs(599));
    assert!(s.check_alerts().await.unwrap().raised.is_empty());
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        kinds(&s.check_alerts().await.unwrap().raised),
        [("export".into(), AlertKind::NoSuccess)]
    );
    let h = heard(&heard_, 3).await;
    assert_eq!(
        h.iter()
            .map(|a| a.resolved_at.is_some())
            .collect::<Vec<_>>(),
        [false, true, false],
        "raised, resolved, raised"
    );
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn failing() {
    let (s, _clock, _) = scheduler();
    let failing = flaky_job(&s, "charge");
    s.add(Task::new("charge", "charge").every(Duration::from_secs(3600)))
        .await
        .unwrap();
    s.start().unwrap();
    let fail = || async {
        s.run_now("charge").await.unwrap();
        s.settled().await;
    };
    fail().await;
    fail().await;
    assert!(
        s.check_alerts().await.unwrap().raised.is_empty(),
        "two failures: not yet"
    );
    fail().await;
    let check = s.check_alerts().await.unwrap();
    assert_eq!(
        kinds(&check.raised),
        [("charge".into(), AlertKind::Failing)]
    );
    assert!(check.raised[0].message.contains("last 3 runs failed"));
    let last = s.runs(&RunQuery::default()).await.unwrap().items[0].id;
    assert_eq!(check.raised[0].run_id, Some(last));
    fail().await;
    assert!(
        s.check_alerts().await.unwrap().raised.is_empty(),
        "told once"
    );

    failing.store(false, Ordering::SeqCst);
    fail().await;
    assert_eq!(
        kinds(&s.check_alerts().await.unwrap().resolved),
        [("charge".into(), AlertKind::Failing)]
    );
    failing.store(true, Ordering::SeqCst);
    fail().await;
    fail().await;
    assert!(
        s.check_alerts().await.unwrap().raised.is_empty(),
        "counted from the success"
    );
    fail().await;
    assert_eq!(
        s.check_alerts().await.unwrap().raised.len(),
        1,
        "told again"
    );
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_removed_task_resolves_its_alerts() {
    let (s, clock, _) = scheduler();
    every_minute(&s, "gone").await;
    clock.advance(Duration::from_secs(200));
    assert_eq!(s.check_alerts().await.unwrap().raised.len(), 1);
    s.remove("gone").await.unwrap();
    assert_eq!(
        kinds(&s.check_alerts().await.unwrap().resolved),
        [("gone".into(), AlertKind::Overdue)]
    );
    assert!(s.alerts(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_watch_checks_on_its_own() {
    let (s, clock, heard_) = scheduler_with(AlertSettings {
        check_every: Duration::from_secs(10),
        ..AlertSettings::default()
    });
    s.register("sync", |_ctx: TaskContext| async { Ok(()) });
    let task = Task::new("sync", "sync").every(Duration::from_secs(60));
    s.add(
        task.clone()
            .alert_if_no_success_within(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    s.pause("sync").await.unwrap();
    s.start().unwrap();
    // Paused: no success is expected. Resumed, the window runs from the task's creation.
    s.resume("sync").await.unwrap();
    clock.advance(Duration::from_secs(40));
    let h = heard(&heard_, 1).await;
    assert_eq!(
        kinds(&h),
        [("sync".into(), AlertKind::NoSuccess)],
        "no check call: the watch did"
    );
    s.shutdown(Duration::ZERO).await;
}

#[test]
fn bad_settings_and_options_are_refused() {
    for bad in [
        AlertSettings {
            check_every: Duration::ZERO,
            ..AlertSettings::default()
        },
        AlertSettings {
            running_long_factor: 0.0,
            ..AlertSettings::default()
        },
        AlertSettings {
            failing_after: 0,
            ..AlertSettings::default()
        },
    ] {
        let e = Scheduler::builder().alerts(bad).build().unwrap_err();
        assert!(e.to_string().contains("alerts"), "{e}");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Scheduler::builder().build().unwrap();
        s.register("j", |_ctx: TaskContext| async { Ok(()) });
        for t in [
            Task::new("a", "j").expect_within(Duration::from_millis(10)),
            Task::new("b", "j").alert_if_no_success_within(Duration::ZERO),
            Task::new("c", "j").alert_if_no_success_within(Duration::from_secs(400 * 86_400)),
        ] {
            let e = s.add(t).await.unwrap_err();
            assert!(e.to_string().contains("within"), "{e}");
        }
    });
}

#[test]
fn options_round_trip_through_json() {
    let t = Task::new("a", "j")
        .expect_within(Duration::from_secs(300))
        .alert_if_no_success_within(Duration::from_secs(86_400));
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["options"]["expect_within"], "5m");
    assert_eq!(json["options"]["no_success_within"], "24h");
    let back: Task = serde_json::from_value(json).unwrap();
    assert_eq!(back, t);
}

#[tokio::test]
async fn a_miss_followed_by_a_run_in_the_same_tick_is_not_told() {
    let (s, clock, _) = scheduler();
    s.register("report", |_ctx: TaskContext| async { Ok(()) });
    let mut task = Task::new("report", "report")
        .every(Duration::from_secs(60))
        .misfire_grace(Duration::from_secs(10));
    task.options.coalesce = false;
    s.add(task).await.unwrap();
    s.start().unwrap();
    // At 125 s: the fire at 60 s is missed, the one at 120 s runs, in one tick.
    step(&s, &clock, Duration::from_secs(125)).await;
    let runs = s.runs(&RunQuery::default()).await.unwrap();
    let statuses: Vec<RunStatus> = runs.items.iter().rev().map(|r| r.status).collect();
    assert_eq!(statuses, [RunStatus::Missed, RunStatus::Succeeded]);
    assert!(
        s.alerts(None).await.unwrap().is_empty(),
        "it ran: nothing to tell"
    );
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_clock_behind_does_not_resolve_what_a_clock_ahead_raised() {
    // One replica's clock ahead raises; another's behind (or with a longer grace) looks
    // next: the alert stays, since nothing happened to the task.
    let (s, clock, _) = scheduler();
    every_minute(&s, "sync").await;
    clock.advance(Duration::from_secs(130));
    assert_eq!(s.check_alerts().await.unwrap().raised.len(), 1);
    clock.set("2026-03-02T09:01:30Z".parse().unwrap());
    let check = s.check_alerts().await.unwrap();
    assert!(
        check.resolved.is_empty() && check.raised.is_empty(),
        "{check:?}"
    );
    assert_eq!(s.alerts(None).await.unwrap().len(), 1);
}
