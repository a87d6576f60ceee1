//! Runs as they happen: lines and progress while a run goes, from the engine, over HTTP (the
//! run's page, its JSON, the event stream, the tasks and jobs pages), and within the bounds.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use taskdeck::{
    Dashboard, Event, Recv, RunStatus, Scheduler, Task, TaskContext, MAX_LOG_LINES_PER_SEC,
};

/// A scheduler whose "import" job logs a line, says it is at 1 of 4, and waits for `go`
/// before it logs another and ends.
async fn setup() -> (Scheduler, Arc<tokio::sync::Notify>) {
    let s = Scheduler::builder().build().unwrap();
    let go = Arc::new(tokio::sync::Notify::new());
    let g = go.clone();
    s.register("import", move |ctx: TaskContext| {
        let g = g.clone();
        async move {
            ctx.log("batch 1 of 4");
            ctx.progress(1, 4, "batch 1");
            g.notified().await;
            ctx.log("batch 4 of 4");
            ctx.progress(4, 4, "done");
            Ok(())
        }
    });
    s.register("chatty", |ctx: TaskContext| async move {
        for i in 0..500 {
            ctx.log(format!("line {i}"));
        }
        Ok(())
    });
    for (id, job) in [("import", "import"), ("chatty", "chatty")] {
        s.add(Task::new(id, job).every(Duration::from_secs(3600)))
            .await
            .unwrap();
    }
    s.start().unwrap();
    (s, go)
}

async fn next_event(events: &mut taskdeck::EventStream, pred: impl Fn(&Event) -> bool) -> Event {
    let fut = async {
        loop {
            match events.recv().await {
                Recv::Event(e) if pred(&e) => return e,
                Recv::Closed => panic!("closed"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("the event came within 10 s")
}

#[tokio::test]
async fn lines_and_progress_are_told_while_the_run_goes_and_kept_when_it_ends() {
    let (s, go) = setup().await;
    let mut events = s.subscribe();
    let run = s.run_now("import").await.unwrap();
    let id = run.id;
    // Told while it runs: the line, then how far it got.
    match next_event(
        &mut events,
        |e| matches!(e, Event::RunLog { run_id, .. } if *run_id == id),
    )
    .await
    {
        Event::RunLog {
            lines,
            seq,
            dropped,
            task_id,
            ..
        } => {
            assert_eq!(task_id, "import");
            assert_eq!(lines.len(), 1);
            assert_eq!(lines[0].message, "batch 1 of 4");
            assert_eq!((seq, dropped), (1, 0));
        }
        e => panic!("{e:?}"),
    }
    next_event(&mut events, |e| {
        matches!(e, Event::RunProgress { run_id, progress, .. } if *run_id == id && progress.done == 1)
    })
    .await;
    // The run as it stands: its line, its progress, the count of lines so far.
    let now = s.run(id).await.unwrap();
    assert_eq!(now.status, RunStatus::Running);
    assert_eq!(now.logs.len(), 1);
    assert_eq!(now.logs_seq, 1);
    assert_eq!(now.progress.as_ref().unwrap().percent(), Some(25));
    assert_eq!(s.live_progress().await.unwrap().len(), 1);
    go.notify_one();
    next_event(
        &mut events,
        |e| matches!(e, Event::RunFinished { run_id, .. } if *run_id == id),
    )
    .await;
    let done = s.run(id).await.unwrap();
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.logs.len(), 2, "kept with the run");
    assert_eq!(done.progress.unwrap().message, "done");
    assert!(s.live_progress().await.unwrap().is_empty());
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_chatty_run_is_held_to_its_rate_and_says_how_many_lines_it_dropped() {
    let (s, _go) = setup().await;
    let mut events = s.subscribe();
    let run = s.run_now("chatty").await.unwrap();
    next_event(
        &mut events,
        |e| matches!(e, Event::RunFinished { run_id, .. } if *run_id == run.id),
    )
    .await;
    let r = s.run(run.id).await.unwrap();
    // 500 lines in a few microseconds, so within one second or two (three on a machine busy
    // enough to pause the job between two): at most that many seconds' worth kept, the rest
    // counted, none lost without a count.
    let kept = r.logs.len() as u32;
    assert!(
        (MAX_LOG_LINES_PER_SEC..=3 * MAX_LOG_LINES_PER_SEC).contains(&kept),
        "{kept}"
    );
    assert_eq!(kept + r.logs_dropped, 500);
    assert_eq!(r.logs[0].message, "line 0", "the first second's lines");
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn the_dashboard_shows_a_run_as_it_goes() {
    let (s, go) = setup().await;
    let srv = serve(Dashboard::builder(s.clone())).await;
    let mut events = s.subscribe();
    let run = s.run_now("import").await.unwrap();
    let id = run.id;
    next_event(
        &mut events,
        |e| matches!(e, Event::RunProgress { run_id, .. } if *run_id == id),
    )
    .await;

    // The run's page: the line so far, the bar, and what the script needs to append more.
    let page = srv.get(&format!("/runs/{id}")).await.body;
    assert!(page.contains(&format!("data-live-run=\"{id}\"")), "{page}");
    assert!(page.contains("data-seq=\"1\""), "{page}");
    assert!(page.contains("batch 1 of 4"), "{page}");
    assert!(page.contains("<progress max=\"4\" value=\"1\""), "{page}");
    assert!(page.contains("25% (1 of 4) · batch 1"), "{page}");
    // Its JSON.
    let json: serde_json::Value = srv
        .get(&format!("/api/runs/{id}"))
        .await
        .body
        .parse()
        .unwrap();
    assert_eq!(json["progress"]["done"], 1);
    assert_eq!(json["logs"][0]["message"], "batch 1 of 4");
    // The task's row and its job's row.
    let tasks = srv.get("/tasks").await.body;
    assert!(tasks.contains("25% (1 of 4)"), "{tasks}");
    let jobs = srv.get("/jobs").await.body;
    assert!(jobs.contains("25% (1 of 4)"), "{jobs}");

    // The event stream carries the next line as it is published.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut poked = false;
    loop {
        let text = String::from_utf8_lossy(&buf).to_string();
        if text.contains("event: run_log") && text.contains("batch 4 of 4") {
            assert!(text.contains("\"seq\":2"), "{text}");
            break;
        }
        if !poked && text.contains(": connected") {
            go.notify_one();
            poked = true;
        }
        let n = tokio::time::timeout_at(deadline, rd.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("no run_log within 10 s: {text}"))
            .unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    next_event(
        &mut events,
        |e| matches!(e, Event::RunFinished { run_id, .. } if *run_id == id),
    )
    .await;
    // Ended: the whole log, no live parts.
    let page = srv.get(&format!("/runs/{id}")).await.body;
    assert!(!page.contains("data-live-run"), "{page}");
    assert!(page.contains("batch 4 of 4"), "{page}");
    s.shutdown(Duration::ZERO).await;
}
