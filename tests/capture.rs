//! The tracing layer copies events emitted inside a run into the run's log lines.
#![cfg(feature = "tracing-layer")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use taskdeck::*;
use tracing_subscriber::prelude::*;

#[tokio::test(flavor = "current_thread")]
async fn events_inside_a_run_become_log_lines() {
    // Thread-local default: the current-thread runtime runs the job on this thread.
    let _guard = tracing_subscriber::registry()
        .with(RunLogLayer::new())
        .set_default();
    let clock = ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
    let s = Scheduler::builder().clock(clock.clone()).build().unwrap();
    s.register("chatty", |ctx: TaskContext| async move {
        tracing::info!(rows = 42, "imported");
        tracing::warn!("slow upstream");
        ctx.log("via context");
        Ok(())
    });
    s.add(Task::new("c", "chatty").every(Duration::from_secs(5)))
        .await
        .unwrap();
    s.start().unwrap();
    let mut events = s.subscribe();
    tracing::info!("outside any run: not captured");
    clock.advance(Duration::from_secs(5));
    loop {
        if let Recv::Event(Event::RunFinished { .. }) = events.recv().await {
            break;
        }
    }
    let run = s.runs(&RunQuery::default()).await.unwrap().items.remove(0);
    let lines: Vec<(LogLevel, &str)> = run
        .logs
        .iter()
        .map(|l| (l.level, l.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (LogLevel::Info, "imported rows=42"),
            (LogLevel::Warn, "slow upstream"),
            (LogLevel::Info, "via context"),
        ]
    );
    s.shutdown(Duration::ZERO).await;
}
