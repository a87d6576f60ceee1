//! Your code, told of what happens: `on_failure` for each run that failed here (a run is
//! finished by one process, so with several replicas each failure is told once), `on_alert`
//! for each alert this process raised or resolved (once across replicas: see `alerts`) and
//! `on_event` for every event this process's subscribers see.
//!
//! Calls go through a bounded queue to one task that runs them in order, each within a time
//! limit: a slow or stuck hook never holds up the scheduler, and past the queue's bound calls
//! are dropped (and counted in a warning), not buffered without end.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;

use super::events::{EventStream, Recv};
use super::history::RunRecord;
use super::Event;

/// What a hook returns.
pub type HookFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

pub(crate) type FailureHook = Arc<dyn Fn(RunRecord) -> HookFuture + Send + Sync>;
pub(crate) type AlertHook = Arc<dyn Fn(super::Alert) -> HookFuture + Send + Sync>;
pub(crate) type EventHook = Arc<dyn Fn(Event) -> HookFuture + Send + Sync>;

/// Calls waiting at most; past it, new ones are dropped.
const QUEUE: usize = 1024;

/// Longest a hook call may take before it is given up.
const LIMIT: Duration = Duration::from_secs(30);

enum Call {
    Failure(RunRecord),
    Alert(super::Alert),
}

/// The hooks, and their queue once started.
#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) failure: Vec<FailureHook>,
    pub(crate) alert: Vec<AlertHook>,
    pub(crate) event: Vec<EventHook>,
    tx: OnceLock<mpsc::Sender<Call>>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("failure", &self.failure.len())
            .field("alert", &self.alert.len())
            .field("event", &self.event.len())
            .finish_non_exhaustive()
    }
}

impl Hooks {
    /// Starts the task that runs them (with a runtime, once), given the scheduler's events.
    pub(crate) fn start(self: &Arc<Self>, events: EventStream) {
        if self.failure.is_empty() && self.alert.is_empty() && self.event.is_empty() {
            return;
        }
        let (tx, mut rx) = mpsc::channel::<Call>(QUEUE);
        if self.tx.set(tx).is_err() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let mut events = events;
            let watch_events = !me.event.is_empty();
            loop {
                tokio::select! {
                    call = rx.recv() => match call {
                        Some(Call::Failure(run)) => {
                            for h in &me.failure {
                                within(h(run.clone()), "on_failure").await;
                            }
                        }
                        Some(Call::Alert(a)) => {
                            for h in &me.alert {
                                within(h(a.clone()), "on_alert").await;
                            }
                        }
                        None => return,
                    },
                    e = events.recv(), if watch_events => match e {
                        Recv::Event(e) => {
                            for h in &me.event {
                                within(h(e.clone()), "on_event").await;
                            }
                        }
                        Recv::Lagged(n) => tracing::warn!(missed = n, "on_event hooks fell behind; events were missed"),
                        Recv::Closed => return,
                    },
                }
            }
        });
    }

    /// Tells the alert hooks of `alert`, without waiting.
    pub(crate) fn alert(&self, alert: &super::Alert) {
        if self.alert.is_empty() {
            return;
        }
        if let Some(n) = self.queue(|| Call::Alert(alert.clone())) {
            tracing::warn!(
                task = %alert.task_id,
                dropped = n,
                "on_alert hooks are behind; an alert was not told"
            );
        }
    }

    /// Tells the failure hooks of `run`, without waiting.
    pub(crate) fn failed(&self, run: &RunRecord) {
        if self.failure.is_empty() {
            return;
        }
        if let Some(n) = self.queue(|| Call::Failure(run.clone())) {
            tracing::warn!(
                run = run.id,
                dropped = n,
                "on_failure hooks are behind; a failure was not told"
            );
        }
    }

    /// Queues a call once the hooks have started; when the queue is full, the call is dropped
    /// and the count of calls dropped so far is returned.
    fn queue(&self, call: impl FnOnce() -> Call) -> Option<u64> {
        let tx = self.tx.get()?;
        tx.try_send(call())
            .is_err()
            .then(|| self.dropped.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

async fn within(f: HookFuture, what: &str) {
    if tokio::time::timeout(LIMIT, f).await.is_err() {
        tracing::warn!(hook = what, "a hook took over 30 s and was given up");
    }
}
