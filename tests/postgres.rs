//! The PostgreSQL store against a real server: replicas sharing one schedule.
//!
//! Needs `TASKDECK_TEST_DATABASE_URL`; `.ci/run` starts a server for it. Locally:
//! `eval "$(scripts/pg-test-server)" && cargo test --features postgres --test postgres`.
//! Without the variable the tests return at once, and `postgres_tests_need_a_database` fails
//! saying how to run them, unless `TASKDECK_SKIP_POSTGRES=1` asks to skip them knowingly: tests
//! that did not run must not look like tests that passed.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use taskdeck::store::*;
use taskdeck::*;

fn url() -> Option<String> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    match std::env::var("TASKDECK_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!(
                "skipped: set TASKDECK_TEST_DATABASE_URL (eval \"$(scripts/pg-test-server)\") \
                 to run the PostgreSQL tests"
            );
            None
        }
    }
}

/// The one test that says, in the summary, when the others did not run.
#[test]
fn postgres_tests_need_a_database() {
    let set = std::env::var("TASKDECK_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    let skip = std::env::var_os("TASKDECK_SKIP_POSTGRES").is_some_and(|v| v == "1");
    assert!(
        set || skip,
        "the PostgreSQL tests did not run: TASKDECK_TEST_DATABASE_URL is not set. Start a \
         throwaway server with  eval \"$(scripts/pg-test-server)\"  (or run scripts/test, \
         which does), or set TASKDECK_SKIP_POSTGRES=1 to skip them knowingly"
    );
}

/// Takes a schema back to before migration 8 (alerts, job hours) and 9 (stored sort keys).
const UNDO_ALERTS: &str = "alter table taskdeck_tasks drop column next_key, drop column last_key; \
    drop table taskdeck_alerts; drop table taskdeck_job_hours; alter table taskdeck_tasks \
    drop column fail_streak, drop column last_fail_run_id, drop column last_success_at, \
    drop column last_success_run_id, \
    drop column no_success_within_ms, drop column success_due, drop column expect_within_ms;";

/// A schema of its own per test, so tests run in parallel without seeing each other.
fn schema(name: &str) -> String {
    format!("t_{name}_{:x}", fastrand::u32(..))
}

fn builder(url: &str, schema: &str) -> PostgresStoreBuilder {
    PostgresStore::builder(url)
        .schema(schema)
        .pool_size(8)
        .heartbeat(Duration::from_millis(100))
        .lease(Duration::from_millis(600))
        .poll(Duration::from_secs(2))
}

async fn replica(url: &str, schema: &str) -> Scheduler {
    replica_with_audit(url, schema).await.0
}

/// A replica and the shared audit log its dashboard writes to.
async fn replica_with_audit(url: &str, schema: &str) -> (Scheduler, Arc<dyn AuditSink>) {
    let store = builder(url, schema).connect().await.unwrap();
    let audit = store.audit_log();
    (Scheduler::builder().store(store).build().unwrap(), audit)
}

/// A replica that keeps `history` and prunes (and folds the task counts) every 100 ms.
async fn pruning_replica(url: &str, schema: &str, history: HistoryLimits) -> Scheduler {
    let store = builder(url, schema)
        .history(history)
        .prune_every(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    Scheduler::builder().store(store).build().unwrap()
}

/// Raw SQL access for checks the API does not offer.
async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// Polls `check` until it holds, failing after `secs` seconds.
async fn until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_event(events: &mut EventStream, pred: impl Fn(&Event) -> bool) -> Event {
    let fut = async {
        loop {
            match events.recv().await {
                Recv::Event(e) if pred(&e) => return e,
                Recv::Closed => panic!("event stream closed"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .expect("event did not come within the deadline")
}

async fn runs(s: &Scheduler, q: RunQuery) -> Page<RunRecord> {
    s.runs(&q).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_run_a_thousand_fires_exactly_once() {
    let Some(url) = url() else { return };
    let schema = schema("once");
    let seen: Arc<Mutex<Vec<(String, Timestamp, usize)>>> = Arc::default();
    let mut replicas = Vec::new();
    for n in 0..3 {
        let s = replica(&url, &schema).await;
        let seen = seen.clone();
        s.register("tick", move |ctx: TaskContext| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push((ctx.task_id().to_string(), ctx.scheduled_at(), n));
                Ok(())
            }
        });
        replicas.push(s);
    }
    // 1,000 one-off fires spread over one second, starting five seconds from now: adding
    // them (all at once, through the three replicas) must end before the first is due, also
    // on a busy machine, where adding them one after another took over two seconds.
    let start = Timestamp::now() + Duration::from_secs(5);
    let adds = (0..1000u64).map(|i| {
        let s = &replicas[(i % 3) as usize];
        let at = start + Duration::from_millis(i);
        s.add(Task::new(format!("once-{i:04}"), "tick").at(at))
    });
    for added in futures_util::future::join_all(adds).await {
        added.unwrap();
    }
    for s in &replicas {
        s.start().unwrap();
    }
    let probe = &replicas[0];
    until(60, "1,000 succeeded runs", || async {
        runs(
            probe,
            RunQuery {
                status: Some(RunStatus::Succeeded),
                per_page: 1,
                ..RunQuery::default()
            },
        )
        .await
        .total
            >= 1000
    })
    .await;
    for s in &replicas {
        s.shutdown(Duration::from_secs(5)).await;
    }
    let seen = seen.lock().unwrap().clone();
    let distinct: HashSet<&String> = seen.iter().map(|(id, _, _)| id).collect();
    let mut times: HashMap<&String, Vec<(Timestamp, usize)>> = HashMap::new();
    for (id, at, n) in &seen {
        times.entry(id).or_default().push((*at, *n));
    }
    let twice: Vec<_> = times.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "ran more than once (task, [(scheduled, replica)]): {twice:?}"
    );
    assert_eq!(seen.len(), 1000, "jobs executed");
    assert_eq!(distinct.len(), 1000, "each task ran once");
    let all = runs(
        probe,
        RunQuery {
            per_page: 1,
            ..RunQuery::default()
        },
    )
    .await;
    assert_eq!(all.total, 1000, "run records, of any status");
    let mut by_replica: HashMap<usize, usize> = HashMap::new();
    for (_, _, n) in &seen {
        *by_replica.entry(*n).or_default() += 1;
    }
    eprintln!("runs per replica: {by_replica:?}");
    let stats = replicas[1].stats().await.unwrap();
    assert_eq!(stats.tasks.completed, 1000);
    assert_eq!(
        stats.runs_by_status.get(&RunStatus::Succeeded).copied(),
        Some(1000),
        "counters flushed by all replicas add up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_run_is_interrupted_then_retried_elsewhere() {
    let Some(url) = url() else { return };
    let schema = schema("kill");
    // Replica A runs on a runtime of its own, which the test drops mid-run: the process "dies".
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
    let url_a = url.clone();
    let schema_a = schema.clone();
    let a = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let s = rt.block_on(async {
            let s = replica(&url_a, &schema_a).await;
            s.register("work", move |_ctx: TaskContext| {
                let started = started_tx.clone();
                async move {
                    started.send(()).unwrap();
                    std::future::pending::<()>().await;
                    Ok(())
                }
            });
            s.add(
                Task::new("victim", "work")
                    .every(Duration::from_secs(3600))
                    .retries(1)
                    .retry_backoff(Duration::from_millis(50)),
            )
            .await
            .unwrap();
            s.start().unwrap();
            let run = s.run_now("victim").await.unwrap();
            assert_eq!(run.status, RunStatus::Running);
            s
        });
        kill_rx.recv().unwrap();
        rt.shutdown_background();
        drop(s);
    });
    started_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("replica A started the run");

    let b = replica(&url, &schema).await;
    let ran_on_b = Arc::new(AtomicU32::new(0));
    let r = ran_on_b.clone();
    b.register("work", move |_ctx: TaskContext| {
        let r = r.clone();
        async move {
            r.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let mut events = b.subscribe();
    b.start().unwrap();
    // While A is alive its lease is renewed: B must not take the run over.
    let alive = wait_event(
        &mut events,
        |e| matches!(e, Event::RunFinished { task_id, .. } if task_id == "victim"),
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), alive)
            .await
            .is_err(),
        "a run with a live lease was taken over"
    );
    assert_eq!(ran_on_b.load(Ordering::SeqCst), 0);
    let going = b.get("victim").await.unwrap();
    assert_eq!(going.state, TaskState::Running);

    kill_tx.send(()).unwrap();
    a.join().unwrap();
    let finished = wait_event(&mut events, |e| {
        matches!(e, Event::RunFinished { task_id, status: RunStatus::Succeeded, .. } if task_id == "victim")
    })
    .await;
    let Event::RunFinished { run_id, .. } = finished else {
        unreachable!()
    };
    let retry = b.run(run_id).await.unwrap();
    assert_eq!((retry.cause, retry.attempt), (RunCause::Retry, 2));
    let all = runs(
        &b,
        RunQuery {
            task_id: Some("victim".into()),
            ..RunQuery::default()
        },
    )
    .await
    .items;
    let first = all.iter().find(|r| r.attempt == 1).unwrap();
    assert_eq!(first.status, RunStatus::Interrupted);
    assert!(
        first
            .error
            .as_deref()
            .unwrap()
            .contains("stopped renewing its lease"),
        "{:?}",
        first.error
    );
    assert!(retry.started_at.unwrap() >= first.finished_at.unwrap());
    assert_eq!(ran_on_b.load(Ordering::SeqCst), 1);
    until(10, "the task is no longer running", || async {
        b.get("victim").await.unwrap().state == TaskState::Scheduled
    })
    .await;
    // A is gone from the live instances: marked stale, then removed by nobody (it died).
    let instances = b.instances().await.unwrap();
    assert!(instances.iter().any(|i| i.this && !i.stale));
    assert!(instances.iter().any(|i| !i.this && i.stale));
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_one_replica_reach_the_others() {
    let Some(url) = url() else { return };
    let schema = schema("pause");
    let a = replica(&url, &schema).await;
    let b = replica(&url, &schema).await;
    // When each run of "beat" was due.
    let fired: Arc<Mutex<Vec<Timestamp>>> = Arc::default();
    for s in [&a, &b] {
        let fired = fired.clone();
        s.register("beat", move |ctx: TaskContext| {
            let fired = fired.clone();
            async move {
                fired.lock().unwrap().push(ctx.scheduled_at());
                Ok(())
            }
        });
    }
    // Only A has this job: B skips its fires and flags it, but sees A's runs.
    a.register("a_only", |_ctx: TaskContext| async { Ok(()) });
    a.start().unwrap();
    b.start().unwrap();
    let mut b_events = b.subscribe();
    a.add(Task::new("beat", "beat").every(Duration::from_millis(100)))
        .await
        .unwrap();
    a.add(Task::new("only-a", "a_only").every(Duration::from_millis(100)))
        .await
        .unwrap();
    wait_event(
        &mut b_events,
        |e| matches!(e, Event::TaskAdded { task_id } if task_id == "beat"),
    )
    .await;
    wait_event(&mut b_events, |e| {
        matches!(e, Event::RunFinished { task_id, status: RunStatus::Succeeded, .. } if task_id == "only-a")
    })
    .await;
    let only_a = b.get("only-a").await.unwrap();
    assert!(
        !only_a.job_registered,
        "flagged on the replica without the job"
    );
    let b_runs_of_only_a = runs(
        &b,
        RunQuery {
            task_id: Some("only-a".into()),
            status: Some(RunStatus::Skipped),
            ..RunQuery::default()
        },
    )
    .await;
    assert_eq!(
        b_runs_of_only_a.total, 0,
        "B never claimed a fire it cannot run"
    );

    // Pause on A: B hears of it, and nobody runs the task any more.
    a.pause("beat").await.unwrap();
    let paused_at = Timestamp::now();
    wait_event(
        &mut b_events,
        |e| matches!(e, Event::TaskPaused { task_id } if task_id == "beat"),
    )
    .await;
    // A run begun before the pause may still be going (the task reads running until it
    // ends), and a fire claimed just before it may still begin.
    until(10, "runs going end", || async {
        b.get("beat").await.unwrap().state == TaskState::Paused
            && runs(
                &b,
                RunQuery {
                    task_id: Some("beat".into()),
                    status: Some(RunStatus::Running),
                    ..RunQuery::default()
                },
            )
            .await
            .total
                == 0
    })
    .await;
    // Five periods with nothing due: no fire due after the pause may run (a bounded look,
    // not a wait for something).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let late: Vec<Timestamp> = fired
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|at| *at > paused_at)
        .collect();
    assert!(late.is_empty(), "fires due after the pause ran: {late:?}");

    // Resume and remove on B reach A.
    let mut a_events = a.subscribe();
    b.resume("beat").await.unwrap();
    wait_event(
        &mut a_events,
        |e| matches!(e, Event::TaskResumed { task_id } if task_id == "beat"),
    )
    .await;
    wait_event(
        &mut a_events,
        |e| matches!(e, Event::RunFinished { task_id, .. } if task_id == "beat"),
    )
    .await;
    b.remove("only-a").await.unwrap();
    wait_event(
        &mut a_events,
        |e| matches!(e, Event::TaskRemoved { task_id } if task_id == "only-a"),
    )
    .await;
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_at_once_create_the_schema_once() {
    let Some(url) = url() else { return };
    let schema = schema("migrate");
    let connects = (0..8).map(|_| builder(&url, &schema).connect());
    let stores = futures_join_all(connects).await;
    for s in &stores {
        assert!(s.is_ok(), "{:?}", s.as_ref().err());
    }
    let c = sql(&url).await;
    let v: i32 = c
        .query_one(&format!("select version from {schema}.taskdeck_meta"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, PostgresStore::SCHEMA_VERSION);
    let rows: i64 = c
        .query_one(&format!("select count(*) from {schema}.taskdeck_meta"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
    // Connecting again is a no-op; a bad schema name is refused before any SQL.
    builder(&url, &schema).connect().await.unwrap();
    let err = builder(&url, "bad; drop table x")
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("schema"), "{err}");
    let err = PostgresStore::builder("postgres://nobody@127.0.0.1:1/none")
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
}

/// `join_all` without pulling in a futures crate for the tests.
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filters_and_sorts_like_the_memory_store() {
    let Some(url) = url() else { return };
    let schema = schema("list");
    let clock = ManualClock::new("2026-03-01T08:00:00Z".parse().unwrap());
    let store = builder(&url, &schema).connect().await.unwrap();
    let audit = store.audit_log();
    let pg = Scheduler::builder()
        .clock(clock.clone())
        .store(store)
        .build()
        .unwrap();
    let mem = Scheduler::builder().clock(clock.clone()).build().unwrap();
    for s in [&pg, &mem] {
        s.register("alpha", |_ctx: TaskContext| async { Ok(()) });
        s.register("beta", |_ctx: TaskContext| async { Ok(()) });
    }
    let mut rng = fastrand::Rng::with_seed(7);
    for i in 0..120 {
        let job = if rng.bool() { "alpha" } else { "beta" };
        let mut t = Task::new(format!("t-{:03}", rng.u32(..1000) * 1000 + i), job).name(format!(
            "{} Report {}",
            ["Daily", "hourly", "Émile", "zeta"][i as usize % 4],
            i
        ));
        t = match i % 3 {
            0 => t.every(Duration::from_secs(rng.u64(1..5000))),
            1 => t.cron("0 */5 * * * *").unwrap(),
            _ => t.at(clock.now() + Duration::from_secs(rng.u64(10..100_000))),
        };
        if i % 7 == 0 {
            t = t.paused(true);
        }
        pg.add(t.clone()).await.unwrap();
        mem.add(t).await.unwrap();
    }
    let err = pg.add(Task::new("t-dup", "alpha")).await;
    assert!(err.is_ok());
    assert!(matches!(
        pg.add(Task::new("t-dup", "alpha")).await,
        Err(Error::DuplicateTask { .. })
    ));
    pg.remove("t-dup").await.unwrap();
    assert!(matches!(
        pg.remove("t-dup").await,
        Err(Error::UnknownTask { .. })
    ));
    assert!(matches!(
        pg.pause("nope").await,
        Err(Error::UnknownTask { .. })
    ));

    let ids = |p: Page<TaskInfo>| {
        (
            p.total,
            p.items
                .into_iter()
                .map(|t| t.task.id.clone())
                .collect::<Vec<_>>(),
        )
    };
    for sort in TaskSort::ALL {
        for desc in [false, true] {
            for state in [None, Some(TaskState::Paused), Some(TaskState::Scheduled)] {
                for (job, trigger, q) in [
                    (None, None, None),
                    (Some("alpha"), None, None),
                    (None, Some(TriggerKind::Cron), None),
                    (None, None, Some("émile")),
                    (None, None, Some("T-1")),
                ] {
                    let query = TaskQuery {
                        q: q.map(String::from),
                        state,
                        job: job.map(String::from),
                        trigger,
                        attention: false,
                        sort,
                        desc,
                        page: 2,
                        per_page: 7,
                        cursor: None,
                    };
                    assert_eq!(
                        ids(pg.list(&query).await.unwrap()),
                        ids(mem.list(&query).await.unwrap()),
                        "{query:?}"
                    );
                    // Walked by cursor, forwards then back, both stores give the pages the
                    // page numbers give.
                    let mut at = TaskQuery {
                        page: 1,
                        ..query.clone()
                    };
                    let mut walked = Vec::new();
                    loop {
                        let (p, m) = (pg.list(&at).await.unwrap(), mem.list(&at).await.unwrap());
                        let numbered = pg
                            .list(&TaskQuery {
                                cursor: None,
                                ..at.clone()
                            })
                            .await
                            .unwrap();
                        assert_eq!(ids(p.clone()).1, ids(numbered).1, "{at:?}");
                        assert_eq!(ids(p.clone()), ids(m), "{at:?}");
                        walked.push(p.clone());
                        match p.next_cursor(sort, at.cursor.as_ref()) {
                            Some(c) => {
                                at.cursor = Some(c);
                                at.page += 1;
                            }
                            None => break,
                        }
                    }
                    while let Some(c) = walked.last().and_then(|p| p.prev_cursor(sort, None)) {
                        let back = TaskQuery {
                            cursor: Some(c),
                            page: at.page - 1,
                            ..at.clone()
                        };
                        let (p, m) = (
                            pg.list(&back).await.unwrap(),
                            mem.list(&back).await.unwrap(),
                        );
                        walked.pop();
                        let expected = walked.last().expect("a page before").clone();
                        assert_eq!(ids(p.clone()), ids(expected), "{back:?}");
                        assert_eq!(ids(p), ids(m), "{back:?}");
                        at.page -= 1;
                    }
                }
            }
        }
    }
    assert_eq!(
        pg.stats().await.unwrap().tasks,
        mem.stats().await.unwrap().tasks
    );

    // Edits keep the paused flag and restart the schedule when the trigger changes.
    let mut t = pg
        .get("t-000000")
        .await
        .map(|i| Task::clone(&i.task))
        .unwrap_or_else(|_| Task::new("t-000000", "alpha"));
    t.id = mem.list(&TaskQuery::default()).await.unwrap().items[0]
        .task
        .id
        .clone();
    t.trigger = TriggerSpec::Interval {
        every: Duration::from_secs(90),
        start: None,
        end: None,
    };
    let a = pg.update(t.clone()).await.unwrap();
    let b = mem.update(t).await.unwrap();
    assert_eq!(a.next_fire, b.next_fire);
    assert_eq!(a.task.paused, b.task.paused);

    // The audit log lives in the database.
    let sink = audit;
    sink.record(AuditEntry {
        at: Timestamp::now(),
        actor: "ops".into(),
        address: None,
        action: "task.pause".into(),
        target: Some("t-1".into()),
        outcome: "ok".into(),
    });
    until(10, "the audit entry is stored", || async {
        sink.page(0, 10).await.unwrap().1 == 1
    })
    .await;
    let (entries, _) = sink.page(0, 10).await.unwrap();
    assert_eq!(entries[0].actor, "ops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_lists_estimate_beyond_a_thousand_and_page_deep_like_memory() {
    let Some(url) = url() else { return };
    let schema = schema("big");
    let clock = ManualClock::new("2026-03-01T08:00:00Z".parse().unwrap());
    let store = builder(&url, &schema).connect().await.unwrap();
    let pg = Scheduler::builder()
        .clock(clock.clone())
        .store(store)
        .build()
        .unwrap();
    let mem = Scheduler::builder().clock(clock.clone()).build().unwrap();
    for s in [&pg, &mem] {
        s.register("alpha", |_ctx: TaskContext| async { Ok(()) });
        s.register("beta", |_ctx: TaskContext| async { Ok(()) });
    }
    // 1,300 tasks: 1,040 of job alpha (beyond the exact count), 260 of beta (within it).
    let names = ["50% off_sale", "back\\slash", "Plain report", "Ünïcode run"];
    let tasks: Vec<Task> = (0..1300u64)
        .map(|i| {
            let job = if i % 5 == 0 { "beta" } else { "alpha" };
            Task::new(format!("k-{:04}", (i * 7919) % 1300), job)
                .name(format!("{} {i}", names[i as usize % 4]))
                .every(Duration::from_secs(60 + (i * 37) % 3000))
                .paused(i % 9 == 0)
        })
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for chunk in tasks.chunks(130) {
        let (pg, chunk) = (pg.clone(), chunk.to_vec());
        set.spawn(async move {
            for t in chunk {
                pg.add(t).await.unwrap();
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    for t in tasks {
        mem.add(t).await.unwrap();
    }

    // Beyond 1,000 matches the total is the planner's estimate, flagged; within, exact. The
    // estimate comes from statistics, which autovacuum keeps; here they are taken at once.
    let db = sql(&url).await;
    db.batch_execute(&format!("analyze \"{schema}\".taskdeck_tasks"))
        .await
        .unwrap();
    let all = pg.list(&TaskQuery::default()).await.unwrap();
    assert!(all.estimated, "1,300 tasks are counted up to 1,000 only");
    assert!(
        all.total > 1000 && all.total < 2000,
        "a plausible estimate, not {}",
        all.total
    );
    // A page number far past the end proves nothing about the total.
    let far = pg
        .list(&TaskQuery {
            page: 100_000,
            ..TaskQuery::default()
        })
        .await
        .unwrap();
    assert!(far.items.is_empty() && far.total < 2000, "{}", far.total);
    let beta = TaskQuery {
        job: Some("beta".into()),
        ..TaskQuery::default()
    };
    let page = pg.list(&beta).await.unwrap();
    assert!(!page.estimated);
    assert_eq!(page.total, 260);
    assert_eq!(page.total, mem.list(&beta).await.unwrap().total);
    // A deep page of a filter with fewer matches than its offset: empty, with the exact
    // total (counted first, so the sort order is not walked to the end to find that out).
    for sort in TaskSort::ALL {
        let deep = TaskQuery {
            sort,
            page: 30,
            ..beta.clone()
        };
        let p = pg.list(&deep).await.unwrap();
        assert!(p.items.is_empty(), "{deep:?}");
        assert_eq!((p.total, p.estimated), (260, false), "{deep:?}");
    }

    // Deep pages (read by id after skipping over the index) hold the memory store's rows,
    // in every order.
    let ids = |p: Page<TaskInfo>| {
        p.items
            .into_iter()
            .map(|t| t.task.id.clone())
            .collect::<Vec<_>>()
    };
    for sort in TaskSort::ALL {
        for desc in [false, true] {
            for (page, per_page, job) in [(12, 50, None), (26, 50, None), (3, 100, Some("alpha"))] {
                let query = TaskQuery {
                    job: job.map(String::from),
                    sort,
                    desc,
                    page,
                    per_page,
                    ..TaskQuery::default()
                };
                let (a, b) = (
                    pg.list(&query).await.unwrap(),
                    mem.list(&query).await.unwrap(),
                );
                assert_eq!(ids(a), ids(b), "{query:?}");
            }
        }
    }

    // Search takes `%`, `_` and `\` literally, as the memory store does, through the index.
    for q in [
        "50%",
        "% off_",
        "_",
        "k\\s",
        "back\\sl",
        "ünïcode run 1",
        "plain report 12",
    ] {
        let query = TaskQuery {
            q: Some(q.into()),
            per_page: 500,
            ..TaskQuery::default()
        };
        let (a, b) = (
            pg.list(&query).await.unwrap(),
            mem.list(&query).await.unwrap(),
        );
        assert_eq!(a.total, b.total, "{q}");
        assert_eq!(ids(a), ids(b), "{q}");
        // A page past the matches is empty and still says how many there are.
        let past = TaskQuery {
            page: 40,
            per_page: 20,
            ..query
        };
        let (a, b) = (
            pg.list(&past).await.unwrap(),
            mem.list(&past).await.unwrap(),
        );
        assert_eq!((a.total, a.estimated), (b.total, false), "{q}");
        assert_eq!(ids(a), ids(b), "{q}");
    }
    let indexed: i64 = db
        .query_one(
            "select count(*) from pg_indexes where schemaname = $1 \
             and indexname = 'taskdeck_task_text_trgm'",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        indexed, 1,
        "the test server allows pg_trgm: search is indexed"
    );

    // A rename reaches the search text; a removal takes it away.
    let mut t = Task::clone(&pg.get("k-0007").await.unwrap().task);
    t.name = "Quarterly ledger".into();
    pg.update(t).await.unwrap();
    let find = |q: &str| TaskQuery {
        q: Some(q.into()),
        ..TaskQuery::default()
    };
    assert_eq!(
        ids(pg.list(&find("quarterly ledg")).await.unwrap()),
        ["k-0007"]
    );
    pg.remove("k-0007").await.unwrap();
    assert_eq!(pg.list(&find("quarterly ledg")).await.unwrap().total, 0);
    let left: i64 = db
        .query_one(
            &format!("select count(*) from \"{schema}\".taskdeck_task_text where id = 'k-0007'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_search_matches_the_memory_store_and_survives_the_upgrade() {
    let Some(url) = url() else { return };
    let schema = schema("rsearch");
    let pg = replica(&url, &schema).await;
    let mem = Scheduler::builder().build().unwrap();
    for s in [&pg, &mem] {
        s.register("talk", |ctx: TaskContext| async move {
            let n = ctx.args()["n"].as_u64().unwrap_or(0);
            ctx.log(format!("Processed 50% of Batch_{n}"));
            ctx.log(format!("line two of {n}"));
            if n % 2 == 0 {
                Err(format!("Upstream said NO to {n}").into())
            } else {
                Ok(())
            }
        });
        s.start().unwrap();
    }
    for n in 0..8 {
        let t = Task::new(format!("talk-{n}"), "talk")
            .args(serde_json::json!({ "n": n }))
            .every(Duration::from_secs(3600));
        for s in [&pg, &mem] {
            s.add(t.clone()).await.unwrap();
            s.run_now(&t.id).await.unwrap();
        }
    }
    for s in [&pg, &mem] {
        until(10, "every run has ended", || async {
            let r = s.runs(&RunQuery::default()).await.unwrap();
            r.total == 8 && r.items.iter().all(|r| r.status.is_finished())
        })
        .await;
    }
    let tasks = |s: Page<RunRecord>| {
        let mut v: Vec<String> = s.items.into_iter().map(|r| r.task_id).collect();
        v.sort();
        v
    };
    // The jobs page's durations: each job's newest finished runs since a time, read from
    // the job index, the same as through the list.
    let jobs = ["talk".to_string(), "nobody".to_string()];
    let since = Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let d = pg.job_run_durations(&jobs, since, 3).await.unwrap();
    let newest: Vec<u64> = pg
        .runs(&RunQuery {
            job: Some("talk".into()),
            per_page: 3,
            ..RunQuery::default()
        })
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(RunRecord::duration_ms)
        .collect();
    assert_eq!(d, [(jobs[0].clone(), newest), (jobs[1].clone(), vec![])]);
    let later = Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let none = pg.job_run_durations(&jobs, later, 3).await.unwrap();
    assert!(none.iter().all(|(_, ms)| ms.is_empty()));
    assert_eq!(
        mem.job_run_durations(&jobs, since, 3).await.unwrap()[0]
            .1
            .len(),
        3
    );

    // Paged by cursor, forwards then back, each store gives its whole list in order.
    for base in [
        RunQuery::default(),
        RunQuery {
            status: Some(RunStatus::Failed),
            ..RunQuery::default()
        },
        RunQuery {
            task_id: Some("talk-3".into()),
            ..RunQuery::default()
        },
        RunQuery {
            q: Some("batch".into()),
            ..RunQuery::default()
        },
    ] {
        let mut orders = Vec::new();
        for s in [&pg, &mem] {
            let all: Vec<u64> = s
                .runs(&base)
                .await
                .unwrap()
                .items
                .iter()
                .map(|r| r.id)
                .collect();
            let mut q = RunQuery {
                per_page: 3,
                page: 1,
                ..base.clone()
            };
            let mut pages: Vec<Vec<u64>> = Vec::new();
            loop {
                let p = s.runs(&q).await.unwrap();
                assert_eq!(p.total, all.len(), "{q:?}");
                pages.push(p.items.iter().map(|r| r.id).collect());
                match RunCursor::next_of(&p, q.cursor) {
                    Some(c) => {
                        q.cursor = Some(c);
                        q.page += 1;
                    }
                    None => break,
                }
            }
            assert_eq!(pages.concat(), all, "{base:?}");
            for i in (1..pages.len()).rev() {
                let back = RunQuery {
                    cursor: Some(RunCursor::Before(pages[i][0])),
                    page: i as u32,
                    ..q.clone()
                };
                let p = s.runs(&back).await.unwrap();
                let ids: Vec<u64> = p.items.iter().map(|r| r.id).collect();
                assert_eq!(ids, pages[i - 1], "{back:?}");
            }
            orders.push(all.len());
        }
        assert_eq!(orders[0], orders[1], "{base:?}");
    }
    for q in [
        "50%",
        "batch_3",
        "BATCH",
        "upstream said no",
        "_",
        "%",
        "two of 5",
        "of batch",
        "said no to 7",
        "0\u{1f}line",
        "nothing",
        "",
    ] {
        let query = RunQuery {
            q: Some(q.into()),
            ..RunQuery::default()
        };
        assert_eq!(
            tasks(pg.runs(&query).await.unwrap()),
            tasks(mem.runs(&query).await.unwrap()),
            "{q:?}"
        );
    }
    assert_eq!(
        pg.runs(&RunQuery {
            q: Some("batch_3".into()),
            ..RunQuery::default()
        })
        .await
        .unwrap()
        .total,
        1
    );
    pg.shutdown(Duration::from_secs(5)).await;

    // A database from before the search column (version 4): migrating fills it in for
    // stored runs.
    let db = sql(&url).await;
    db.batch_execute(&format!(
        "set search_path to \"{schema}\"; \
         {UNDO_ALERTS} \
         drop index taskdeck_runs_search_trgm; \
         alter table taskdeck_runs drop column search; \
         alter table taskdeck_meta drop column pruned_through; \
         drop table taskdeck_task_counts; \
         drop function taskdeck_task_counts_sync() cascade; \
         drop function taskdeck_task_counts_rows() cascade; \
         update taskdeck_meta set version = 4;"
    ))
    .await
    .unwrap();
    let pg = replica(&url, &schema).await;
    for (q, n) in [("batch_3", 1), ("upstream said no", 4), ("line two", 8)] {
        let query = RunQuery {
            q: Some(q.into()),
            ..RunQuery::default()
        };
        assert_eq!(pg.runs(&query).await.unwrap().total, n, "{q}");
    }
    let indexed: i64 = db
        .query_one(
            "select count(*) from pg_indexes where schemaname = $1 \
             and indexname = 'taskdeck_runs_search_trgm'",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(indexed, 1);
}

/// Tasks by state, counted in full.
async fn task_states(db: &tokio_postgres::Client, schema: &str) -> StateCounts {
    let rows = db
        .query(
            &format!("select state, count(*) from \"{schema}\".taskdeck_tasks group by state"),
            &[],
        )
        .await
        .unwrap();
    let mut c = StateCounts::default();
    for r in rows {
        let n = r.get::<_, i64>(1) as usize;
        match r.get::<_, i16>(0) {
            0 => c.scheduled = n,
            1 => c.running = n,
            2 => c.paused = n,
            _ => c.completed = n,
        }
    }
    c
}

/// Both replicas' overview counts equal a full count; returns it.
async fn counts_agree(
    a: &Scheduler,
    b: &Scheduler,
    db: &tokio_postgres::Client,
    schema: &str,
    what: &str,
) -> StateCounts {
    let want = task_states(db, schema).await;
    assert_eq!(a.stats().await.unwrap().tasks, want, "{what}: replica a");
    assert_eq!(b.stats().await.unwrap().tasks, want, "{what}: replica b");
    // Each job's tasks and paused tasks (the jobs page) equal a full count too.
    let rows = db
        .query(
            &format!(
                "select job, count(*), count(*) filter (where paused) \
                 from \"{schema}\".taskdeck_tasks group by job order by job"
            ),
            &[],
        )
        .await
        .unwrap();
    let jobs: Vec<(String, usize, usize)> = rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get::<_, i64>(1) as usize,
                r.get::<_, i64>(2) as usize,
            )
        })
        .collect();
    for s in [a, b] {
        let kept: Vec<(String, usize, usize)> = s
            .job_task_counts()
            .await
            .unwrap()
            .expect("kept per job")
            .into_iter()
            .map(|(job, c)| (job, c.total(), c.paused))
            .collect();
        assert_eq!(kept, jobs, "{what}: jobs");
    }
    want
}

/// The overview's counts come from rows the triggers keep; they must equal a full count of
/// the tasks after adds, pauses, resumes, removals, one-off tasks completing and runs going,
/// made through two replicas, across folds, and after an upgrade from a schema without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_counts_equal_a_full_count() {
    let Some(url) = url() else { return };
    let schema = schema("counts");
    let a = pruning_replica(&url, &schema, HistoryLimits::default()).await;
    let b = replica(&url, &schema).await;
    let release = Arc::new(tokio::sync::Notify::new());
    for s in [&a, &b] {
        s.register("quick", |_ctx: TaskContext| async { Ok(()) });
        let release = release.clone();
        s.register("hold", move |_ctx: TaskContext| {
            let release = release.clone();
            async move {
                release.notified().await;
                Ok(())
            }
        });
        s.start().unwrap();
    }
    let db = sql(&url).await;
    let truth = || task_states(&db, &schema);
    let agree = |what: &'static str| counts_agree(&a, &b, &db, &schema, what);

    for i in 0..12 {
        let s = if i % 2 == 0 { &a } else { &b };
        s.add(Task::new(format!("i{i}"), "quick").every(Duration::from_secs(3600)))
            .await
            .unwrap();
    }
    a.add(Task::new("held", "hold").every(Duration::from_secs(3600)))
        .await
        .unwrap();
    b.add(
        Task::new("p0", "quick")
            .every(Duration::from_secs(3600))
            .paused(true),
    )
    .await
    .unwrap();
    let want = agree("after adds").await;
    assert_eq!((want.scheduled, want.paused), (13, 1));

    a.pause("i0").await.unwrap();
    b.pause("i1").await.unwrap();
    a.pause("i2").await.unwrap();
    b.resume("i2").await.unwrap();
    a.remove("i3").await.unwrap();
    b.remove("p0").await.unwrap();
    let want = agree("after pauses, a resume and removals").await;
    assert_eq!((want.scheduled, want.paused), (10, 2));

    // A task moved to another job (paused, then as it is) moves its count.
    for id in ["i0", "i4"] {
        let t = a.get(id).await.unwrap().task;
        let mut moved = Task::clone(&t);
        moved.job = "hold".into();
        b.update(moved).await.unwrap();
    }
    agree("after moving tasks to another job").await;

    // One-off tasks that fire complete.
    let soon = Timestamp::now() + jiff::SignedDuration::from_millis(200);
    for i in 0..3 {
        b.add(Task::new(format!("once{i}"), "quick").at(soon))
            .await
            .unwrap();
    }
    // A one-off task reads completed from the moment its fire is claimed (it has no next
    // fire), then running once its run begins, then completed again when the run ends: wait
    // for the runs to have ended, not for the first completed state.
    until(10, "the one-off tasks' runs ended", || async {
        let ended = runs(
            &a,
            RunQuery {
                status: Some(RunStatus::Succeeded),
                job: Some("quick".into()),
                ..RunQuery::default()
            },
        )
        .await;
        ended.total == 3 && truth().await.completed == 3
    })
    .await;
    agree("after one-off tasks completed").await;

    // A run going moves its task from scheduled to running, and back when it ends.
    let mut events = a.subscribe();
    a.run_now("held").await.unwrap();
    until(10, "the held run is going", || async {
        truth().await.running == 1
    })
    .await;
    let want = agree("with a run going").await;
    assert_eq!((want.scheduled, want.running), (9, 1));
    release.notify_waiters();
    wait_event(
        &mut events,
        |e| matches!(e, Event::RunFinished { task_id, .. } if task_id == "held"),
    )
    .await;
    until(10, "the held run ended", || async {
        truth().await.running == 0
    })
    .await;
    agree("after the run ended").await;

    // The fold moves every backend's rows into slot 0 and changes no total.
    let folded = format!("select count(*) from \"{schema}\".taskdeck_task_counts where slot <> 0");
    until(10, "the counts folded into slot 0", || async {
        db.query_one(&folded, &[]).await.unwrap().get::<_, i64>(0) == 0
    })
    .await;
    agree("after a fold").await;
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;

    // A database from before the counts (version 6): migrating counts the stored tasks.
    db.batch_execute(&format!(
        "set search_path to \"{schema}\"; \
         {UNDO_ALERTS} \
         drop table taskdeck_task_counts; \
         drop function taskdeck_task_counts_sync() cascade; \
         drop function taskdeck_task_counts_rows() cascade; \
         update taskdeck_meta set version = 6;"
    ))
    .await
    .unwrap();
    let a = replica(&url, &schema).await;
    a.register("quick", |_ctx: TaskContext| async { Ok(()) });
    let want = truth().await;
    assert_eq!(a.stats().await.unwrap().tasks, want);
    assert_eq!((want.scheduled, want.paused, want.completed), (10, 2, 3));
    // ...and the triggers it installs keep them from then on.
    a.add(Task::new("late", "quick").every(Duration::from_secs(3600)))
        .await
        .unwrap();
    a.pause("i4").await.unwrap();
    a.remove("i5").await.unwrap();
    let want = truth().await;
    assert_eq!(a.stats().await.unwrap().tasks, want);
    assert_eq!((want.scheduled, want.paused, want.completed), (9, 3, 3));

    // A bulk insert and delete in one transaction each, and a truncate, as an administrator
    // might run them.
    db.batch_execute(&format!(
        "set search_path to \"{schema}\"; \
         insert into taskdeck_tasks (id, name_key, haystack, job, trigger_kind, spec, paused, \
           anchor, created_at, updated_at, next_fire) \
         select 'bulk' || i, 'bulk', 'bulk', 'quick', 'interval', '{{}}', i % 2 = 0, now(), \
           now(), now(), now() + interval '1 hour' from generate_series(1, 5000) i; \
         delete from taskdeck_tasks where id like 'bulk%' and id like '%7';"
    ))
    .await
    .unwrap();
    let want = truth().await;
    assert_eq!(a.stats().await.unwrap().tasks, want);
    // Even numbers are paused; the 500 ending in 7 (all odd) are gone.
    assert_eq!((want.scheduled, want.paused), (9 + 2500 - 500, 3 + 2500));
    db.batch_execute(&format!("truncate \"{schema}\".taskdeck_tasks cascade"))
        .await
        .unwrap();
    assert_eq!(a.stats().await.unwrap().tasks, StateCounts::default());
    a.add(Task::new("after", "quick").every(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(a.stats().await.unwrap().tasks.scheduled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_losing_its_connections() {
    let Some(url) = url() else { return };
    let schema = schema("loss");
    let app = format!("taskdeck_{schema}");
    let sep = if url.contains('?') { '&' } else { '?' };
    let app_url = format!("{url}{sep}application_name={app}");
    let s = replica(&app_url, &schema).await;
    let seen: Arc<Mutex<Vec<Timestamp>>> = Arc::default();
    let sn = seen.clone();
    s.register("beat", move |ctx: TaskContext| {
        let sn = sn.clone();
        async move {
            sn.lock().unwrap().push(ctx.scheduled_at());
            Ok(())
        }
    });
    s.add(Task::new("beat", "beat").every(Duration::from_millis(100)))
        .await
        .unwrap();
    s.start().unwrap();
    until(10, "runs before the cut", || async {
        seen.lock().unwrap().len() >= 3
    })
    .await;
    let admin = sql(&url).await;
    // Cut three times, 100 ms apart; the pool may not have reconnected by the next cut, so
    // a cut that finds no connection does not undo an earlier one.
    let cut = AtomicBool::new(false);
    for _ in 0..3 {
        let killed = admin
            .execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1",
                &[&app],
            )
            .await
            .unwrap();
        cut.fetch_or(killed > 0, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cut.load(Ordering::SeqCst), "no connection was cut");
    let before = seen.lock().unwrap().len();
    until(20, "runs after the cut", || async {
        seen.lock().unwrap().len() >= before + 5
    })
    .await;
    s.shutdown(Duration::from_secs(5)).await;
    let seen = seen.lock().unwrap().clone();
    let distinct: HashSet<&Timestamp> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "a fire ran twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replicas_dashboard_shows_the_shared_state() {
    let Some(url) = url() else { return };
    let schema = schema("dash");
    let (a, audit_a) = replica_with_audit(&url, &schema).await;
    let (b, audit_b) = replica_with_audit(&url, &schema).await;
    for s in [&a, &b] {
        s.register("beat", |_ctx: TaskContext| async { Ok(()) });
        s.start().unwrap();
    }
    a.add(Task::new("shared", "beat").every(Duration::from_secs(3600)))
        .await
        .unwrap();
    let web_a = common::serve(Dashboard::builder(a.clone()).audit_sink(audit_a)).await;
    let web_b = common::serve(Dashboard::builder(b.clone()).audit_sink(audit_b)).await;

    // A change through A's dashboard shows on B's, and lands in the shared audit log.
    let r = web_a
        .post_json(http::Method::POST, "/api/tasks/shared/pause", "")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = web_b.get("/api/tasks/shared").await;
    assert!(r.body.contains("\"state\":\"paused\""), "{}", r.body);
    until(10, "B's audit log shows A's change", || async {
        web_b.get("/api/audit").await.body.contains("shared")
    })
    .await;

    // Both replicas appear, live, on either Instances page.
    until(10, "both instances heartbeat", || async {
        b.instances()
            .await
            .unwrap()
            .iter()
            .filter(|i| !i.stale)
            .count()
            == 2
    })
    .await;
    let page = web_b.get("/instances").await;
    assert_eq!(page.status, 200);
    for i in a.instances().await.unwrap() {
        assert!(page.body.contains(&i.id), "instance {} missing", i.id);
    }
    assert!(page.body.contains("(this one)"));
    let api = web_a.get("/api/instances").await;
    assert_eq!(
        api.body.matches("\"stale\":false").count(),
        2,
        "{}",
        api.body
    );

    // A replica that stops leaves the list.
    a.shutdown(Duration::from_secs(5)).await;
    until(10, "A left", || async {
        b.instances().await.unwrap().len() == 1
    })
    .await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_instances_holds_across_replicas() {
    let Some(url) = url() else { return };
    let schema = schema("maxi");
    let going = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicU32::new(0));
    let mut rs = Vec::new();
    for _ in 0..2 {
        let s = replica(&url, &schema).await;
        let (going, most, done) = (going.clone(), most.clone(), done.clone());
        s.register("slow", move |_ctx: TaskContext| {
            let (going, most, done) = (going.clone(), most.clone(), done.clone());
            async move {
                let now = going.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(250)).await;
                going.fetch_sub(1, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        });
        s.start().unwrap();
        rs.push(s);
    }
    // Fires every 50 ms, each run takes 250 ms, one at a time: most fires are skipped, on
    // whichever replica claims them.
    rs[0]
        .add(Task::new("slow", "slow").every(Duration::from_millis(50)))
        .await
        .unwrap();
    until(20, "four runs", || async {
        done.load(Ordering::SeqCst) >= 4
    })
    .await;
    rs[1].pause("slow").await.unwrap();
    for s in &rs {
        s.shutdown(Duration::from_secs(5)).await;
    }
    assert_eq!(most.load(Ordering::SeqCst), 1, "two runs overlapped");
    let skipped = runs(
        &rs[0],
        RunQuery {
            task_id: Some("slow".into()),
            status: Some(RunStatus::Skipped),
            ..RunQuery::default()
        },
    )
    .await;
    assert!(skipped.total > 0, "no fire was skipped");
    assert!(skipped.items[0]
        .error
        .as_deref()
        .unwrap()
        .contains("max_instances is 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_task_keeps_its_newest_runs_prune_after_prune() {
    let Some(url) = url() else { return };
    let schema = schema("prunetask");
    let limits = HistoryLimits {
        per_task: 2,
        total: 1000,
    };
    let s = pruning_replica(&url, &schema, limits).await;
    s.register("quick", |_ctx: TaskContext| async { Ok(()) });
    for id in ["busy", "calm"] {
        s.add(Task::new(id, "quick").every(Duration::from_secs(3600)))
            .await
            .unwrap();
    }
    s.start().unwrap();
    let mut events = s.subscribe();
    let run = |id: &'static str| {
        let s = s.clone();
        async move { s.run_now(id).await.unwrap().id }
    };
    let kept = |id: &'static str| {
        let s = s.clone();
        async move {
            let q = RunQuery {
                task_id: Some(id.into()),
                ..RunQuery::default()
            };
            let mut ids: Vec<u64> = runs(&s, q).await.items.iter().map(|r| r.id).collect();
            ids.sort_unstable();
            ids
        }
    };
    // Two rounds: the second prune looks only at tasks that ran since the first.
    let mut newest = Vec::new();
    for round in 0..2 {
        let mut last = 0;
        for _ in 0..(5 - round * 2) {
            last = run("busy").await;
            wait_event(
                &mut events,
                |e| matches!(e, Event::RunFinished { run_id, .. } if *run_id == last),
            )
            .await;
            newest.push(last);
        }
        if round == 0 {
            let calm = run("calm").await;
            wait_event(
                &mut events,
                |e| matches!(e, Event::RunFinished { run_id, .. } if *run_id == calm),
            )
            .await;
        }
        let want = newest[newest.len() - 2..].to_vec();
        until(10, "the busy task pruned to its newest two", || {
            let (kept, want) = (kept("busy"), want.clone());
            async move { kept.await == want }
        })
        .await;
        assert_eq!(
            kept("calm").await.len(),
            1,
            "round {round}: within its limit"
        );
        assert!(last > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_pruned_in_the_database() {
    let Some(url) = url() else { return };
    let schema = schema("prune");
    let limits = HistoryLimits {
        per_task: 3,
        total: 5,
    };
    let s = pruning_replica(&url, &schema, limits).await;
    s.register("quick", |_ctx: TaskContext| async { Ok(()) });
    for id in ["p1", "p2", "p3"] {
        s.add(Task::new(id, "quick").every(Duration::from_secs(3600)))
            .await
            .unwrap();
    }
    s.start().unwrap();
    let mut events = s.subscribe();
    for _ in 0..4 {
        for id in ["p1", "p2", "p3"] {
            let run = s.run_now(id).await.unwrap();
            wait_event(
                &mut events,
                |e| matches!(e, Event::RunFinished { run_id, .. } if *run_id == run.id),
            )
            .await;
        }
    }
    until(10, "history pruned to 5 runs", || async {
        runs(&s, RunQuery::default()).await.total == 5
    })
    .await;
    let kept = runs(&s, RunQuery::default()).await.items;
    // The newest five survive, and no task keeps more than three.
    assert_eq!(kept[0].id, 12);
    assert_eq!(kept[4].id, 8);
    for id in ["p1", "p2", "p3"] {
        assert!(kept.iter().filter(|r| r.task_id == id).count() <= 3);
    }
    // Totals survive pruning: they are counters, not a count of kept rows.
    until(10, "counters flushed", || async {
        s.stats()
            .await
            .unwrap()
            .runs_by_status
            .get(&RunStatus::Succeeded)
            == Some(&12)
    })
    .await;
    s.shutdown(Duration::from_secs(5)).await;
}

/// A sign-out on one replica's dashboard holds on every replica's within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_holds_on_every_replica() {
    let Some(url) = url() else { return };
    let schema = schema("revoke");
    let store_a = builder(&url, &schema).connect().await.unwrap();
    let store_b = builder(&url, &schema).connect().await.unwrap();
    let (ended_a, ended_b) = (store_a.revocations(), store_b.revocations());
    let a = Scheduler::builder().store(store_a).build().unwrap();
    let b = Scheduler::builder().store(store_b).build().unwrap();
    let secret = b"0123456789abcdef0123456789abcdef-replicas";
    let web = |s: &Scheduler, ended: Arc<dyn RevocationStore>| {
        Dashboard::builder(s.clone())
            .auth(common::admin_login())
            .secret(secret)
            .revocations(ended)
    };
    let web_a = common::serve(web(&a, ended_a)).await;
    let web_b = common::serve(web(&b, ended_b.clone())).await;
    let r = web_a
        .request(
            http::Method::POST,
            "/login",
            &[("content-type", "application/x-www-form-urlencoded")],
            "username=admin&password=admin-pw",
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = r
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(status(&web_b, &cookie).await, 200, "B takes A's session");
    // Sign out on A.
    let page = web_a
        .request(http::Method::GET, "/tasks", &[("cookie", &cookie)], "")
        .await;
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let out = web_a
        .request(
            http::Method::POST,
            "/logout",
            &[
                ("cookie", &cookie),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(status(&web_a, &cookie).await, 401, "at once on A");
    let signed_out = tokio::time::Instant::now();
    until(5, "B refuses the signed-out session", || async {
        status(&web_b, &cookie).await == 401
    })
    .await;
    let took = signed_out.elapsed();
    eprintln!("B refused the signed-out session after {took:?}");
    // The entry is in the database until the session would have expired.
    let (entries, _) = ended_b.since(0).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].until > jiff::Timestamp::now().as_second() + 3600);
}

async fn status(srv: &common::Server, cookie: &str) -> http::StatusCode {
    srv.request(http::Method::GET, "/api/tasks", &[("cookie", cookie)], "")
        .await
        .status
}

/// A cancel asked on one replica stops the run another replica is running; a retry asked on
/// one replica runs (with the original args) wherever the job is registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_retry_reach_across_replicas() {
    let Some(url) = url() else { return };
    let schema = schema("operate");
    // Replica A runs the jobs; replica B has none of them registered, so it never claims
    // their fires and can only act through the store.
    let a = replica(&url, &schema).await;
    let b = replica(&url, &schema).await;
    a.register("waits", |ctx: TaskContext| async move {
        ctx.log("waiting to be cancelled");
        ctx.cancelled().await;
        Ok(())
    });
    let attempts = Arc::new(AtomicU32::new(0));
    let seen = attempts.clone();
    a.register("flaky", move |ctx: TaskContext| {
        let seen = seen.clone();
        async move {
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(format!("order {} failed", ctx.args()["order"]).into())
            } else {
                ctx.set_result(serde_json::json!({"order": ctx.args()["order"]}));
                Ok(())
            }
        }
    });
    a.start().unwrap();
    b.start().unwrap();
    a.add(Task::new("w", "waits").every(Duration::from_secs(3600)))
        .await
        .unwrap();
    a.add(
        Task::new("f", "flaky")
            .every(Duration::from_secs(3600))
            .args(serde_json::json!({"order": 5})),
    )
    .await
    .unwrap();

    // Cancel from B what runs on A.
    let run = a.run_now("w").await.unwrap();
    until(10, "the run is going", || async {
        b.run(run.id).await.unwrap().status == RunStatus::Running
    })
    .await;
    assert!(b.run(run.id).await.unwrap().started_at.is_some());
    b.cancel_run(run.id, "bob").await.unwrap();
    until(10, "the run ends cancelled", || async {
        b.run(run.id).await.unwrap().status == RunStatus::Cancelled
    })
    .await;
    assert_eq!(
        a.run(run.id).await.unwrap().error.as_deref(),
        Some("cancelled by bob")
    );

    // Retry from B what failed on A: it runs on A, with the failed run's args.
    let first = a.run_now("f").await.unwrap();
    until(10, "the first attempt fails", || async {
        b.run(first.id).await.unwrap().status == RunStatus::Failed
    })
    .await;
    // B has no such job: the retry is handed to A.
    assert_eq!(b.retry_run(first.id).await.unwrap(), None);
    // A job no live replica has cannot be retried: said, not lost.
    let c = replica(&url, &schema).await;
    c.register(
        "only_here",
        |_ctx: TaskContext| async move { Err("x".into()) },
    );
    c.start().unwrap();
    c.add(Task::new("o", "only_here").every(Duration::from_secs(3600)))
        .await
        .unwrap();
    let lone = c.run_now("o").await.unwrap();
    until(10, "the lone run fails", || async {
        b.run(lone.id).await.unwrap().status == RunStatus::Failed
    })
    .await;
    c.shutdown(Duration::from_secs(5)).await;
    until(10, "C has left", || async {
        b.instances()
            .await
            .unwrap()
            .iter()
            .all(|i| i.stale || !i.jobs.contains(&"only_here".to_string()))
    })
    .await;
    let e = b.retry_run(lone.id).await.unwrap_err();
    assert!(e.to_string().contains("no running replica has job"), "{e}");
    let retried = || async {
        let page = b
            .runs(&RunQuery {
                task_id: Some("f".into()),
                status: Some(RunStatus::Succeeded),
                ..RunQuery::default()
            })
            .await
            .unwrap();
        page.items.into_iter().next()
    };
    until(10, "the retry succeeds on A", || async {
        retried().await.is_some()
    })
    .await;
    let done = retried().await.unwrap();
    assert_eq!(done.cause, RunCause::Retry);
    assert_eq!(done.args, serde_json::json!({"order": 5}));
    assert_eq!(done.result, Some(serde_json::json!({"order": 5})));
    assert_eq!(done.retry_of, Some(first.id));
    // Search by error text and filter by job, in the database.
    let found = b
        .runs(&RunQuery {
            q: Some("ORDER 5 FAILED".into()),
            job: Some("flaky".into()),
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        found.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![first.id]
    );
    // The charts' counts cover every replica: B sees A's runs (counted at A's heartbeat).
    until(10, "the series counts A's runs", || async {
        let day = b.series(SeriesWindow::Day, None, None).await.unwrap();
        day.points.iter().map(|p| p.runs).sum::<u64>() >= 3
    })
    .await;
    let task = b.series(SeriesWindow::Day, Some("f"), None).await.unwrap();
    assert_eq!(
        task.points
            .iter()
            .map(|p| (p.runs, p.failures))
            .fold((0, 0), |a, p| (a.0 + p.0, a.1 + p.1)),
        (2, 1)
    );
    // Once: a second request finds it retried.
    let e = a.retry_run(first.id).await.unwrap_err();
    assert!(e.to_string().contains("already retried"), "{e}");
    for s in [&a, &b] {
        s.shutdown(Duration::from_secs(5)).await;
    }
}

/// With several replicas each failure is told once: by the replica that finished the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_is_told_once_across_replicas() {
    let Some(url) = url() else { return };
    let schema = schema("alerts");
    let told = Arc::new(Mutex::new(Vec::new()));
    let mut rs = Vec::new();
    for _ in 0..2 {
        let store = builder(&url, &schema).connect().await.unwrap();
        let t = told.clone();
        let s = Scheduler::builder()
            .store(store)
            .on_failure(move |run: RunRecord| {
                let t = t.clone();
                async move { t.lock().unwrap().push(run.id) }
            })
            .build()
            .unwrap();
        s.register("fails", |_ctx: TaskContext| async move { Err("no".into()) });
        s.start().unwrap();
        rs.push(s);
    }
    rs[0]
        .add(Task::new("f", "fails").every(Duration::from_millis(100)))
        .await
        .unwrap();
    until(20, "ten failures", || async {
        runs(
            &rs[1],
            RunQuery {
                status: Some(RunStatus::Failed),
                ..RunQuery::default()
            },
        )
        .await
        .total
            >= 10
    })
    .await;
    rs[0].pause("f").await.unwrap();
    for s in &rs {
        s.shutdown(Duration::from_secs(5)).await;
    }
    let failed = runs(
        &rs[0],
        RunQuery {
            status: Some(RunStatus::Failed),
            per_page: 500,
            ..RunQuery::default()
        },
    )
    .await;
    // The hooks run from their own queue: wait for them to catch up.
    until(10, "every failure told", || async {
        told.lock().unwrap().len() >= failed.items.len()
    })
    .await;
    let mut ids = told.lock().unwrap().clone();
    ids.sort_unstable();
    let mut want: Vec<u64> = failed.items.iter().map(|r| r.id).collect();
    want.sort_unstable();
    assert_eq!(ids, want, "every failure told, none twice");
}

/// A task whose job no live replica has: the Jobs page lists the job as registered nowhere,
/// and the overview marks the task overdue once its fire is past.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_no_replica_has_is_listed_and_its_task_marked_overdue() {
    let Some(url) = url() else { return };
    let schema = schema("nojob");
    let a = replica(&url, &schema).await;
    a.register("gone", |_ctx: TaskContext| async { Ok(()) });
    a.add(Task::new("orphan", "gone").every(Duration::from_secs(1)))
        .await
        .unwrap();
    a.start().unwrap();
    let b = replica(&url, &schema).await;
    b.register("other", |_ctx: TaskContext| async { Ok(()) });
    b.start().unwrap();
    // The only replica with the job leaves.
    a.shutdown(Duration::from_secs(5)).await;
    let srv = common::serve(Dashboard::builder(b.clone())).await;
    until(15, "the job listed as registered nowhere", || async {
        srv.get("/jobs")
            .await
            .body
            .contains("not registered on any replica")
    })
    .await;
    until(15, "the orphan task marked overdue", || async {
        let page = srv.get("/").await.body;
        page.contains("orphan") && page.contains(">overdue<")
    })
    .await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_add_up_across_replicas_and_cluster_gauges_agree() {
    let Some(url) = url() else { return };
    let schema = schema("metrics");
    let (a, b) = (replica(&url, &schema).await, replica(&url, &schema).await);
    for s in [&a, &b] {
        s.register("quick", |_: TaskContext| async { Ok(()) });
    }
    const N: usize = 60;
    let start = Timestamp::now() + Duration::from_secs(2);
    let adds = (0..N).map(|i| {
        a.add(
            Task::new(format!("m{i:02}"), "quick").at(start + Duration::from_millis(10 * i as u64)),
        )
    });
    for added in futures_util::future::join_all(adds).await {
        added.unwrap();
    }
    a.start().unwrap();
    b.start().unwrap();
    until(60, "every fire ran", || async {
        runs(
            &a,
            RunQuery {
                status: Some(RunStatus::Succeeded),
                per_page: 1,
                ..RunQuery::default()
            },
        )
        .await
        .total
            >= N
    })
    .await;
    // Per process: what each did, adding up to what the store holds.
    let (ma, mb) = (a.prometheus_metrics(), b.prometheus_metrics());
    let succeeded = |m: &str| common::sample(m, "taskdeck_runs_total{status=\"succeeded\"}");
    assert_eq!(succeeded(&ma) + succeeded(&mb), N as f64, "{ma}\n{mb}");
    let fires = |m: &str| common::sample(m, "taskdeck_fires_total");
    assert_eq!(fires(&ma) + fires(&mb), N as f64);
    let durations =
        |m: &str| common::sample(m, "taskdeck_run_duration_seconds_count{job_name=\"quick\"}");
    assert_eq!(durations(&ma) + durations(&mb), N as f64);
    // Cluster-wide: the same figures from either replica's dashboard.
    let web_a = common::serve(Dashboard::builder(a.clone()).public_metrics(true)).await;
    let web_b = common::serve(Dashboard::builder(b.clone()).public_metrics(true)).await;
    let (ta, tb) = (
        web_a.get("/metrics").await.body,
        web_b.get("/metrics").await.body,
    );
    for series in [
        "taskdeck_cluster_tasks{state=\"completed\"}",
        "taskdeck_cluster_replicas{state=\"live\"}",
        "taskdeck_cluster_tasks_overdue",
    ] {
        assert_eq!(
            common::sample(&ta, series),
            common::sample(&tb, series),
            "{series}"
        );
    }
    assert_eq!(
        common::sample(&ta, "taskdeck_cluster_tasks{state=\"completed\"}"),
        N as f64
    );
    assert_eq!(
        common::sample(&ta, "taskdeck_cluster_replicas{state=\"live\"}"),
        2.0
    );
    // Readiness over the shared store.
    let r = web_a.get("/health/ready").await;
    assert_eq!(r.status, http::StatusCode::OK, "{}", r.body);
    for s in [&a, &b] {
        s.shutdown(Duration::from_secs(5)).await;
    }
}

/// A replica whose alerts are heard by `heard`, checking every `check_every`.
async fn alerting_replica(
    url: &str,
    schema: &str,
    check_every: Duration,
    heard: Arc<Mutex<Vec<Alert>>>,
) -> Scheduler {
    let store = builder(url, schema).connect().await.unwrap();
    Scheduler::builder()
        .store(store)
        .alerts(AlertSettings {
            check_every,
            overdue_after: Duration::from_secs(2),
            ..AlertSettings::default()
        })
        .on_alert(move |a: Alert| {
            let h = heard.clone();
            async move { h.lock().unwrap().push(a) }
        })
        .build()
        .unwrap()
}

/// Two replicas checking at once raise each alert once between them, and resolve it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_alert_is_told_once_across_replicas() {
    let Some(url) = url() else { return };
    let schema = schema("quiet");
    let heard: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let never = Duration::from_secs(400 * 86_400);
    let a = alerting_replica(&url, &schema, never, heard.clone()).await;
    let b = alerting_replica(&url, &schema, never, heard.clone()).await;
    let failing = Arc::new(AtomicBool::new(true));
    for s in [&a, &b] {
        let f = failing.clone();
        s.register("charge", move |_ctx: TaskContext| {
            let f = f.clone();
            async move {
                if f.load(Ordering::SeqCst) {
                    Err("declined".into())
                } else {
                    Ok(())
                }
            }
        });
        s.start().unwrap();
    }
    a.add(Task::new("charge", "charge").every(Duration::from_secs(3600)))
        .await
        .unwrap();
    // A job no replica has: added by one that never starts.
    let c = replica(&url, &schema).await;
    c.register("nobody", |_ctx: TaskContext| async { Ok(()) });
    c.add(Task::new("orphan", "nobody").every(Duration::from_secs(1)))
        .await
        .unwrap();
    drop(c);
    let mut events = a.subscribe();
    for _ in 0..3 {
        a.run_now("charge").await.unwrap();
        wait_event(&mut events, |e| {
            matches!(
                e,
                Event::RunFinished {
                    status: RunStatus::Failed,
                    ..
                }
            )
        })
        .await;
    }
    let mut raised = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while raised.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "failing and overdue not raised: {raised:?}"
        );
        let (x, y) = tokio::join!(a.check_alerts(), b.check_alerts());
        raised.extend(x.unwrap().raised);
        raised.extend(y.unwrap().raised);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut kinds: Vec<(String, AlertKind)> =
        raised.iter().map(|x| (x.task_id.clone(), x.kind)).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("charge".to_string(), AlertKind::Failing),
            ("orphan".to_string(), AlertKind::Overdue)
        ],
        "each raised by one replica"
    );
    let orphan = raised
        .iter()
        .find(|x| x.kind == AlertKind::Overdue)
        .unwrap();
    assert!(
        orphan
            .message
            .contains("no live replica has job \"nobody\""),
        "{}",
        orphan.message
    );
    // Both replicas list them; checking again raises nothing.
    assert_eq!(a.alerts(None).await.unwrap().len(), 2);
    assert_eq!(b.alerts(None).await.unwrap().len(), 2);
    let (x, y) = tokio::join!(a.check_alerts(), b.check_alerts());
    assert!(x.unwrap().raised.is_empty() && y.unwrap().raised.is_empty());
    // The tasks list filters on them, on either replica.
    let q = TaskQuery {
        attention: true,
        ..TaskQuery::default()
    };
    assert_eq!(b.list(&q).await.unwrap().total, 2);

    // A success resolves the failing alert, once.
    failing.store(false, Ordering::SeqCst);
    b.run_now("charge").await.unwrap();
    wait_event(&mut events, |e| {
        matches!(
            e,
            Event::RunFinished {
                status: RunStatus::Succeeded,
                ..
            }
        )
    })
    .await;
    let (x, y) = tokio::join!(a.check_alerts(), b.check_alerts());
    let mut resolved = x.unwrap().resolved;
    resolved.extend(y.unwrap().resolved);
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0].kind, AlertKind::Failing);
    assert_eq!(b.list(&q).await.unwrap().total, 1);
    // The hooks heard each once: two raised, one resolved.
    until(10, "the hooks heard three", || async {
        heard.lock().unwrap().len() >= 3
    })
    .await;
    assert_eq!(heard.lock().unwrap().len(), 3);
    for s in [a, b] {
        s.shutdown(Duration::from_secs(5)).await;
    }
}

/// A replica dies: the other raises the long run it left and, once the dead one's task is
/// past due by the grace, the task's overdue alert, each once; the time from the death to the
/// overdue alert is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_replicas_tasks_raise_alerts_on_the_survivor() {
    let Some(url) = url() else { return };
    let schema = schema("deadalert");
    let heard_a: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let (began_tx, began_rx) = std::sync::mpsc::channel::<()>();
    let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
    let (url_a, schema_a, h) = (url.clone(), schema.clone(), heard_a.clone());
    let never = Duration::from_secs(400 * 86_400);
    let a = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let s = rt.block_on(async {
            // A never checks: whatever it would have told, the survivor tells.
            let s = alerting_replica(&url_a, &schema_a, never, h).await;
            s.register("only_a", move |_ctx: TaskContext| {
                let began = began_tx.clone();
                async move {
                    let _ = began.send(());
                    std::future::pending::<()>().await;
                    Ok(())
                }
            });
            s.add(
                Task::new("hang", "only_a")
                    .every(Duration::from_secs(3600))
                    .expect_within(Duration::from_secs(1)),
            )
            .await
            .unwrap();
            s.start().unwrap();
            s.run_now("hang").await.unwrap();
            s.add(
                Task::new("ticker", "only_a")
                    .every(Duration::from_secs(1))
                    .max_instances(100),
            )
            .await
            .unwrap();
            s
        });
        kill_rx.recv().unwrap();
        rt.shutdown_background();
        drop(s);
    });
    began_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("replica A began the run");
    let heard_b: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let b = alerting_replica(&url, &schema, Duration::from_secs(1), heard_b.clone()).await;
    b.register("other", |_ctx: TaskContext| async { Ok(()) });
    let mut events = b.subscribe();
    b.start().unwrap();
    // A is alive and its run is over its 1 s: B tells it, A's process is not needed.
    let long = wait_event(&mut events, |e| {
        matches!(
            e,
            Event::AlertRaised {
                kind: AlertKind::RunningLong,
                ..
            }
        )
    })
    .await;
    assert!(
        matches!(&long, Event::AlertRaised { task_id, .. } if task_id == "hang"),
        "{long:?}"
    );
    kill_tx.send(()).unwrap();
    let died = std::time::Instant::now();
    a.join().unwrap();
    // Its run is taken over as interrupted: the long-run alert resolves.
    wait_event(&mut events, |e| {
        matches!(
            e,
            Event::AlertResolved {
                kind: AlertKind::RunningLong,
                ..
            }
        )
    })
    .await;
    let overdue = wait_event(&mut events, |e| {
        matches!(e, Event::AlertRaised { kind: AlertKind::Overdue, task_id, .. } if task_id == "ticker")
    })
    .await;
    let took = died.elapsed();
    eprintln!(
        "replica death to overdue alert: {:.2} s (fires every 1 s, overdue after 2 s, checks every 1 s)",
        took.as_secs_f64()
    );
    let Event::AlertRaised { message, .. } = overdue else {
        unreachable!()
    };
    assert!(
        message.contains("no live replica has job \"only_a\""),
        "{message}"
    );
    // (The ticker's hung runs, recorded as interrupted, are failures too: a `failing` alert
    // may come as well when three of them had begun; it is not what this test is about.)
    let about = |x: &Alert| matches!(x.kind, AlertKind::RunningLong | AlertKind::Overdue);
    until(10, "B's hook heard them", || async {
        heard_b.lock().unwrap().iter().filter(|x| about(x)).count() >= 3
    })
    .await;
    let heard: Vec<(String, AlertKind, bool)> = heard_b
        .lock()
        .unwrap()
        .iter()
        .filter(|x| about(x))
        .map(|x| (x.task_id.clone(), x.kind, x.resolved_at.is_some()))
        .collect();
    assert_eq!(
        heard,
        [
            ("hang".to_string(), AlertKind::RunningLong, false),
            ("hang".to_string(), AlertKind::RunningLong, true),
            ("ticker".to_string(), AlertKind::Overdue, false)
        ]
    );
    assert!(heard_a.lock().unwrap().is_empty(), "A told nothing");
    b.shutdown(Duration::from_secs(5)).await;
}

/// A database from before alerts: migrating reads each task's last success from its runs, so
/// a no-success window set afterwards counts from that success, not from the task's creation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_database_counts_no_success_from_the_last_success() {
    let Some(url) = url() else { return };
    let schema = schema("upsucc");
    let a = replica(&url, &schema).await;
    a.register("sync", |_ctx: TaskContext| async { Ok(()) });
    a.add(Task::new("old", "sync").every(Duration::from_secs(3600)))
        .await
        .unwrap();
    let mut events = a.subscribe();
    a.start().unwrap();
    a.run_now("old").await.unwrap();
    wait_event(&mut events, |e| {
        matches!(
            e,
            Event::RunFinished {
                status: RunStatus::Succeeded,
                ..
            }
        )
    })
    .await;
    a.shutdown(Duration::from_secs(5)).await;
    let db = sql(&url).await;
    db.batch_execute(&format!(
        "set search_path to \"{schema}\"; {UNDO_ALERTS} \
         update taskdeck_tasks set created_at = now() - interval '30 days'; \
         update taskdeck_meta set version = 7;"
    ))
    .await
    .unwrap();
    let b = replica(&url, &schema).await;
    b.register("sync", |_ctx: TaskContext| async { Ok(()) });
    let task = b.get("old").await.unwrap().task;
    b.update(
        task.as_ref()
            .clone()
            .alert_if_no_success_within(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    let check = b.check_alerts().await.unwrap();
    assert!(check.raised.is_empty(), "{check:?}");
    // Without a success the window counts from the task's creation, 30 days ago.
    db.batch_execute(&format!(
        "update \"{schema}\".taskdeck_tasks set last_success_at = null, \
         success_due = created_at + interval '1 hour'"
    ))
    .await
    .unwrap();
    let check = b.check_alerts().await.unwrap();
    assert_eq!(check.raised.len(), 1, "{check:?}");
    assert_eq!(check.raised[0].kind, AlertKind::NoSuccess);
}

/// Each job's day counts every run, every replica's, beyond the kept history, and sums to the
/// overview's day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_days_count_every_run_and_sum_to_the_overview() {
    let Some(url) = url() else { return };
    let schema = schema("jobday");
    let history = HistoryLimits {
        per_task: 2,
        total: 1000,
    };
    let a = pruning_replica(&url, &schema, history).await;
    let b = pruning_replica(&url, &schema, history).await;
    for s in [&a, &b] {
        s.register("report", |_ctx: TaskContext| async { Ok(()) });
        s.register("flaky", |_ctx: TaskContext| async { Err("down".into()) });
        s.start().unwrap();
    }
    a.add(Task::new("r", "report").every(Duration::from_secs(86_400)))
        .await
        .unwrap();
    a.add(Task::new("f", "flaky").every(Duration::from_secs(86_400)))
        .await
        .unwrap();
    let mut events = a.subscribe();
    for (s, id, n) in [(&a, "r", 4), (&b, "r", 3), (&b, "f", 2)] {
        for _ in 0..n {
            s.run_now(id).await.unwrap();
            wait_event(
                &mut events,
                |e| matches!(e, Event::RunFinished { task_id, .. } if task_id == id),
            )
            .await;
        }
    }
    let day = |s: &Scheduler| {
        let s = s.clone();
        async move {
            let jobs = s.job_series(SeriesWindow::Day).await.unwrap().unwrap();
            let total = |name: &str| -> (u64, u64) {
                jobs.iter()
                    .find(|(j, _)| j == name)
                    .map_or((0, 0), |(_, s)| {
                        (
                            s.points.iter().map(|p| p.runs).sum(),
                            s.points.iter().map(|p| p.failures).sum(),
                        )
                    })
            };
            (total("report"), total("flaky"))
        }
    };
    until(15, "every replica's counts flushed", || async {
        day(&a).await == ((7, 0), (2, 2))
    })
    .await;
    assert_eq!(day(&b).await, ((7, 0), (2, 2)), "the same on every replica");
    let overview = b.series(SeriesWindow::Day, None, None).await.unwrap();
    let runs: u64 = overview.points.iter().map(|p| p.runs).sum();
    let failures: u64 = overview.points.iter().map(|p| p.failures).sum();
    assert_eq!(
        (runs, failures),
        (9, 2),
        "the jobs' days sum to the overview's"
    );
    until(15, "the history pruned to 2 runs a task", || async {
        runs_total(&a, "r").await <= 2
    })
    .await;
    assert_eq!(day(&a).await, ((7, 0), (2, 2)), "pruning takes nothing off");
    for s in [a, b] {
        s.shutdown(Duration::from_secs(5)).await;
    }
}

async fn runs_total(s: &Scheduler, task: &str) -> usize {
    runs(
        s,
        RunQuery {
            task_id: Some(task.into()),
            ..RunQuery::default()
        },
    )
    .await
    .total
}

/// A running run's lines and progress, on a replica that does not run it: told by event
/// (the lines read from the store, written while it runs), and listed.
#[tokio::test]
async fn a_running_runs_lines_and_progress_reach_every_replica() {
    let Some(url) = url() else { return };
    let schema = schema("live");
    let a = replica(&url, &schema).await;
    let b = replica(&url, &schema).await;
    let go = Arc::new(tokio::sync::Notify::new());
    let g = go.clone();
    a.register("import", move |ctx: TaskContext| {
        let g = g.clone();
        async move {
            ctx.log("batch 1 of 4");
            ctx.progress(1, 4, "batch 1");
            g.notified().await;
            ctx.log("done");
            Ok(())
        }
    });
    a.start().unwrap();
    b.start().unwrap();
    let mut b_events = b.subscribe();
    a.add(Task::new("import", "import").every(Duration::from_secs(3600)))
        .await
        .unwrap();
    let run = a.run_now("import").await.unwrap();
    let id = run.id;
    match wait_event(
        &mut b_events,
        |e| matches!(e, Event::RunLog { run_id, .. } if *run_id == id),
    )
    .await
    {
        Event::RunLog { lines, seq, .. } => {
            assert!(lines.is_empty(), "the lines are read from the store");
            assert_eq!(seq, 1);
        }
        e => panic!("{e:?}"),
    }
    wait_event(&mut b_events, |e| {
        matches!(e, Event::RunProgress { run_id, progress, job, .. }
            if *run_id == id && progress.done == 1 && job == "import")
    })
    .await;
    until(10, "B reads the line and the progress", || async {
        let r = b.run(id).await.unwrap();
        r.status == RunStatus::Running
            && r.logs
                .iter()
                .map(|l| l.message.as_str())
                .eq(["batch 1 of 4"])
            && r.progress.as_ref().is_some_and(|p| p.total == 4)
    })
    .await;
    let live = b.live_progress().await.unwrap();
    assert!(
        live.iter()
            .any(|p| p.0 == id && p.1 == "import" && p.3.percent() == Some(25)),
        "{live:?}"
    );
    go.notify_one();
    until(10, "the run ends", || async {
        b.run(id).await.unwrap().status == RunStatus::Succeeded
    })
    .await;
    let r = b.run(id).await.unwrap();
    assert_eq!(r.logs.len(), 2);
    assert_eq!(r.progress.unwrap().done, 1, "the last progress is kept");
    assert!(b.live_progress().await.unwrap().is_empty());
    a.shutdown(Duration::ZERO).await;
    b.shutdown(Duration::ZERO).await;
}

/// A dashboard's process whose scheduler is not started relays no notices: its timeline
/// hears the store's itself, and shows another replica's changes.
#[tokio::test]
async fn a_timeline_without_a_started_scheduler_hears_other_replicas_changes() {
    let Some(url) = url() else { return };
    let schema = schema("tlidle");
    let worker = replica(&url, &schema).await;
    worker.register("report", |_ctx: TaskContext| async { Ok(()) });
    worker.start().unwrap();
    let store = builder(&url, &schema).connect().await.unwrap();
    let dashboard_only = Scheduler::builder().store(store).build().unwrap();
    let q = TimelineQuery {
        job: Some("report".into()),
        ..TimelineQuery::default()
    };
    assert_eq!(dashboard_only.timeline(&q).await.unwrap().tasks_counted, 0);
    for (i, want) in [(0, 1), (1, 2)] {
        worker
            .add(
                Task::new(format!("nightly-{i}"), "report")
                    .cron("0 0 3 * * *")
                    .unwrap(),
            )
            .await
            .unwrap();
        until(
            10,
            "the dashboard's timeline shows the new task",
            || async { dashboard_only.timeline(&q).await.unwrap().tasks_counted == want },
        )
        .await;
    }
    worker.pause("nightly-0").await.unwrap();
    until(
        10,
        "the dashboard's timeline drops the paused task",
        || async { dashboard_only.timeline(&q).await.unwrap().tasks_counted == 1 },
    )
    .await;
    worker.shutdown(Duration::ZERO).await;
}
