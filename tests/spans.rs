//! Each attempt runs in a `taskdeck.run` span carrying the task, job, run, attempt and cause,
//! so a host's subscriber sees which run a job's events came from.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskdeck::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event as TracingEvent, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

#[derive(Default)]
struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .push((field.name().to_string(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_string(), value.to_string()));
    }
}

/// For each event: its message and the name and fields of the span it happened in.
type Seen = Arc<Mutex<Vec<(String, Option<(String, HashMap<String, String>)>)>>>;

struct Spy(Seen);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spy {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut f = Fields::default();
        attrs.record(&mut f);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(f);
        }
    }

    fn on_event(&self, event: &TracingEvent<'_>, ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let message =
            f.0.iter()
                .find(|(k, _)| k == "message")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
        let span = ctx.event_span(event).map(|s| {
            let fields = s
                .extensions()
                .get::<Fields>()
                .map(|f| f.0.iter().cloned().collect())
                .unwrap_or_default();
            (s.name().to_string(), fields)
        });
        self.0.lock().unwrap().push((message, span));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_attempt_has_a_span_with_its_fields() {
    let seen: Seen = Arc::default();
    // Thread-local default: the current-thread runtime runs the jobs on this thread.
    let _guard = tracing_subscriber::registry()
        .with(Spy(seen.clone()))
        .set_default();
    let clock = ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
    let s = Scheduler::builder().clock(clock.clone()).build().unwrap();
    s.register("flaky", |ctx: TaskContext| async move {
        tracing::info!("working on it");
        if ctx.attempt() == 1 {
            Err("first try fails".into())
        } else {
            Ok(())
        }
    });
    s.add(
        Task::new("nightly", "flaky")
            .every(Duration::from_secs(60))
            .options(TaskOptions {
                retries: 1,
                retry_backoff: Duration::from_secs(1),
                ..TaskOptions::default()
            }),
    )
    .await
    .unwrap();
    s.start().unwrap();
    let mut events = s.subscribe();
    tracing::info!("outside any run");
    clock.advance(Duration::from_secs(60));
    let mut finished = Vec::new();
    while finished.len() < 2 {
        match events.recv().await {
            Recv::Event(Event::RunFinished { run_id, .. }) => finished.push(run_id),
            Recv::Event(Event::RunStarted { .. }) => {}
            // The retry waits its backoff on the manual clock.
            _ => {}
        }
        if finished.len() == 1 {
            clock.advance(Duration::from_secs(1));
        }
    }
    s.shutdown(Duration::ZERO).await;

    let seen = seen.lock().unwrap();
    let outside = seen.iter().find(|(m, _)| m == "outside any run").unwrap();
    assert!(
        outside.1.is_none(),
        "an event outside a run has no run span"
    );
    let inside: Vec<_> = seen
        .iter()
        .filter(|(m, _)| m == "working on it")
        .map(|(_, span)| span.clone().expect("inside the run's span"))
        .collect();
    assert_eq!(inside.len(), 2, "one event per attempt");
    for (i, (name, fields)) in inside.iter().enumerate() {
        assert_eq!(name, "taskdeck.run");
        assert_eq!(fields["task"], "nightly");
        assert_eq!(fields["job"], "flaky");
        assert_eq!(fields["run"], finished[i].to_string());
        assert_eq!(fields["attempt"], (i + 1).to_string());
        assert_eq!(fields["cause"], if i == 0 { "schedule" } else { "retry" });
    }
}
