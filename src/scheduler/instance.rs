//! Keeping in touch with a shared store: heartbeats (which renew this process's run leases
//! and hand back runs of dead processes), change notices from other processes, and retries of
//! interrupted runs.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use super::history::{RunCause, RunRecord, RunStatus};
use super::run::{begin_one, drive};
use super::store::{Beat, Notice, Sharing};
use super::Inner;

/// Longest wait between attempts to reach a failing store.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The host name, for the Instances page.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Doubles `wait`, capped.
pub(crate) fn backoff(wait: Duration) -> Duration {
    (wait * 2).min(MAX_BACKOFF)
}

fn beat(inner: &Inner) -> Beat {
    Beat {
        jobs: inner.jobs.names(),
        running: inner.in_flight.load(Ordering::Acquire) as u64,
    }
}

/// The first heartbeat, before the timer loop claims anything: it tells the store which jobs
/// this process has. Retries with backoff until it succeeds or the scheduler stops.
pub(crate) async fn join(inner: &Arc<Inner>) {
    let mut wait = Duration::from_millis(250);
    loop {
        match inner.store.heartbeat(beat(inner)).await {
            Ok(reaped) => {
                handle_reaped(inner, reaped).await;
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, retry_in = ?wait, "cannot reach the shared store; retrying");
            }
        }
        let mut life = inner.lifecycle.subscribe();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = life.wait_for(|_| inner.is_stopping()) => return,
        }
        wait = backoff(wait);
    }
}

/// Heartbeats every `sharing.heartbeat` until the scheduler stops, then leaves.
pub(crate) async fn heartbeats(inner: Arc<Inner>, sharing: Sharing) {
    let mut life = inner.lifecycle.subscribe();
    let mut wait = sharing.heartbeat;
    let mut failing = false;
    let mut beats: u64 = 0;
    let mut warned = std::collections::BTreeSet::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = life.wait_for(|_| inner.is_stopping()) => break,
        }
        match inner.store.heartbeat(beat(&inner)).await {
            Ok(reaped) => {
                if failing {
                    tracing::info!("shared store reachable again");
                    failing = false;
                    // Notices may have been missed meanwhile.
                    inner.poke();
                }
                wait = sharing.heartbeat;
                handle_reaped(&inner, reaped).await;
                // Now and then (the first beat, then about every 30 s): jobs that tasks name
                // but no live replica has.
                let every = (Duration::from_secs(30).as_millis()
                    / sharing.heartbeat.as_millis().max(1))
                .max(1) as u64;
                if beats % every == 0 {
                    warn_unregistered(&inner, &mut warned).await;
                }
                beats += 1;
            }
            Err(e) => {
                failing = true;
                wait = backoff(wait.max(Duration::from_millis(250)));
                tracing::error!(error = %e, retry_in = ?wait,
                    "heartbeat failed; runs keep going, their leases lapse if this lasts");
            }
        }
    }
    // Runs still going keep their leases until shutdown records them; then leave.
    inner.drained().await;
    if let Err(e) = inner.store.leave().await {
        tracing::warn!(error = %e, "could not remove this instance from the shared store");
    }
}

/// Logs, once each (again after being registered and gone again), the jobs stored tasks name
/// that no live replica has registered: their tasks stay due and never fire.
async fn warn_unregistered(inner: &Arc<Inner>, warned: &mut std::collections::BTreeSet<String>) {
    let (Ok(named), Ok(instances)) = (inner.store.jobs().await, inner.store.instances().await)
    else {
        return;
    };
    let live: std::collections::BTreeSet<&String> = instances
        .iter()
        .filter(|i| !i.stale)
        .flat_map(|i| i.jobs.iter())
        .collect();
    warned.retain(|j| !live.contains(j));
    for job in named.iter().filter(|j| !live.contains(j)) {
        if warned.insert(job.clone()) {
            tracing::warn!(job = %job,
                "tasks name job {job:?}, which no live replica has registered: they do not fire until one registers it");
        }
    }
}

/// Announces runs of dead processes recorded as interrupted, and retries those whose task
/// asks for retries.
async fn handle_reaped(inner: &Arc<Inner>, reaped: Vec<RunRecord>) {
    for rec in reaped {
        // Interrupted: told once, by the replica that reaped it.
        inner.hooks.failed(&rec);
        tracing::warn!(task = %rec.task_id, run = rec.id, error = rec.error.as_deref(),
            "run interrupted: its process stopped renewing its lease");
        inner.emit_finished(&rec);
        if inner.is_stopping() {
            continue;
        }
        let task = match inner.store.get(&rec.task_id).await {
            Ok(Some(t)) => t.task,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(error = %e, task = %rec.task_id, "cannot read an interrupted run's task");
                continue;
            }
        };
        if rec.attempt > task.options.retries || !inner.jobs.contains(&task.job) {
            continue;
        }
        let inner2 = inner.clone();
        inner.spawn_tracked(async move {
            let wait = task.options.backoff_for(rec.attempt);
            let due = super::clock::add(inner2.clock.now(), wait);
            if !inner2.sleep_unless_aborted(due).await {
                return;
            }
            let lineage = super::run::Lineage {
                args: rec.args.clone(),
                retry_of: rec.id,
            };
            let next = begin_one(
                &inner2,
                &task,
                due,
                RunCause::Retry,
                rec.attempt + 1,
                Some(lineage),
            )
            .await;
            if let Some(next) = next.filter(|r| r.status == RunStatus::Running) {
                drive(inner2, task, next).await;
            }
        });
    }
}

/// Relays a shared store's notices: any change wakes the timer loop (the schedule may have
/// moved), and changes made by other processes go to this process's subscribers, so every
/// replica's dashboard shows every replica's runs.
pub(crate) async fn relay(inner: Arc<Inner>, mut notices: broadcast::Receiver<Notice>) {
    /// Says, while it lives, that notices are relayed; and, once not, that what was worked
    /// out from the schedule may have missed some.
    struct Relaying(Arc<Inner>);
    impl Drop for Relaying {
        fn drop(&mut self) {
            self.0
                .relaying
                .store(false, std::sync::atomic::Ordering::Release);
            self.0.events.schedule_changed();
        }
    }
    inner
        .relaying
        .store(true, std::sync::atomic::Ordering::Release);
    let _relaying = Relaying(inner.clone());
    let mut life = inner.lifecycle.subscribe();
    loop {
        let notice = tokio::select! {
            n = notices.recv() => n,
            _ = life.wait_for(|_| inner.is_stopping()) => return,
        };
        match notice {
            Ok(Notice { event, foreign }) => {
                let schedule = event.as_ref().is_none_or(|e| {
                    !matches!(
                        e,
                        super::Event::RunStarted { .. }
                            | super::Event::RunFinished { .. }
                            | super::Event::RunLog { .. }
                            | super::Event::RunProgress { .. }
                            | super::Event::RunCancelRequested { .. }
                            | super::Event::RetryRequested { .. }
                            | super::Event::AlertRaised { .. }
                            | super::Event::AlertResolved { .. }
                    )
                });
                if foreign && schedule {
                    inner.poke();
                    if event.is_none() {
                        // Notices were missed: what was worked out from the schedule is stale.
                        inner.events.schedule_changed();
                    }
                }
                // A cancel asked on another replica, for a run that may be running here.
                if let (true, Some(super::Event::RunCancelRequested { run_id, by, .. })) =
                    (foreign, &event)
                {
                    inner.cancel_here(*run_id, by);
                }
                // A retry asked where its job is not registered: each process that has it
                // tries, and the store lets one begin it.
                if let (true, Some(super::Event::RetryRequested { run_id, .. })) = (foreign, &event)
                {
                    let (inner2, id) = (inner.clone(), *run_id);
                    inner.spawn_tracked(async move {
                        if let Err(e) = super::retry_here(&inner2, id).await {
                            tracing::debug!(run = id, error = %e, "did not start a requested retry");
                        }
                    });
                }
                if let (true, Some(event)) = (foreign, event) {
                    inner.events.send(event);
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!(missed = n, "store notices lagged");
                inner.poke();
                inner.events.schedule_changed();
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
