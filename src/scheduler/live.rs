//! Runs as they happen: what running runs log and how far they got, published about four
//! times a second while they change ([`Event::RunLog`], [`Event::RunProgress`]) and, with a
//! shared store, written to it in one statement per tick, so that every replica's dashboard
//! shows them.
//!
//! A job writes into its run's [`LogBuffer`] (bounded in lines kept, bytes per line and lines
//! a second); one task per process reads what is new in every live run's buffer and
//! publishes it. So a chatty run costs a mutex push per line and its share of one tick: it
//! cannot slow the timer loop (which never waits for it) or other streams (each event is
//! one per run per tick, whatever the lines).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::events::Event;
use super::history::{LiveNews, LogBuffer, RunId, RunRecord};
use super::Inner;

/// How often what running runs logged is published.
pub const LIVE_EVERY: Duration = Duration::from_millis(250);

/// A running run of this process, as the live view reads it.
#[derive(Clone, Debug)]
pub(crate) struct LiveRun {
    pub(crate) task_id: String,
    pub(crate) job: String,
    pub(crate) logs: LogBuffer,
    /// Lines or progress came since the run was last written to a shared store.
    pub(crate) unstored: Arc<std::sync::atomic::AtomicBool>,
}

/// The running runs of this process, by id.
#[derive(Debug, Default)]
pub(crate) struct Live {
    runs: std::sync::Mutex<HashMap<RunId, LiveRun>>,
    /// Woken when a run is added: the publisher sleeps while there is none.
    added: tokio::sync::Notify,
    /// Publishing ticks so far.
    ticks: std::sync::atomic::AtomicU32,
}

impl Live {
    pub(crate) fn add(&self, id: RunId, run: LiveRun) {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, run);
        self.added.notify_one();
    }

    pub(crate) fn remove(&self, id: RunId) -> Option<LiveRun> {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
    }

    pub(crate) fn get(&self, id: RunId) -> Option<LiveRun> {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    fn is_empty(&self) -> bool {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// What changed in each live run since the last call.
    fn news(&self) -> Vec<(RunId, LiveRun, LiveNews)> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.iter()
            .filter_map(|(id, r)| Some((*id, r.clone(), r.logs.news()?)))
            .collect()
    }

    /// The runs with lines or progress not yet written to the store (and now marked written).
    fn unstored(&self) -> Vec<(RunId, LiveRun)> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.iter()
            .filter(|(_, r)| r.unstored.swap(false, std::sync::atomic::Ordering::Relaxed))
            .map(|(id, r)| (*id, r.clone()))
            .collect()
    }

    /// Each live run's progress: (run, task, job, progress).
    pub(crate) fn progress(&self) -> Vec<super::LiveProgress> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.iter()
            .filter_map(|(id, r)| Some((*id, r.task_id.clone(), r.job.clone(), r.logs.progress()?)))
            .collect()
    }
}

/// A running run's record with what it has logged so far and its progress, when it runs in
/// this process (the store has them only once it ends, or, shared, as of the last tick).
pub(crate) fn overlay(inner: &Inner, rec: &mut RunRecord) {
    if let Some(live) = inner.live.get(rec.id) {
        let (lines, dropped, progress, seq) = live.logs.snapshot();
        rec.logs = lines;
        rec.logs_dropped = dropped;
        rec.progress = progress;
        rec.logs_seq = seq;
    }
}

/// A run ends: what it logged since the last tick is told now, before its end is.
pub(crate) fn ended(inner: &Inner, id: RunId) {
    let Some(run) = inner.live.remove(id) else {
        return;
    };
    if let Some(n) = run.logs.news() {
        for e in events_of(id, &run, n) {
            inner.events.send(e);
        }
    }
}

fn events_of(id: RunId, run: &LiveRun, n: LiveNews) -> Vec<Event> {
    let mut events = vec![Event::RunLog {
        run_id: id,
        task_id: run.task_id.clone(),
        lines: n.lines,
        seq: n.seq,
        dropped: n.dropped,
    }];
    if let Some(p) = n.progress {
        events.push(Event::RunProgress {
            run_id: id,
            task_id: run.task_id.clone(),
            job: run.job.clone(),
            progress: p,
        });
    }
    events
}

/// Publishes what live runs logged, every [`LIVE_EVERY`] while there are some, until the
/// scheduler stops.
pub(crate) async fn publish(inner: Arc<Inner>) {
    let mut stop = inner.lifecycle.subscribe();
    loop {
        if inner.live.is_empty() {
            tokio::select! {
                () = inner.live.added.notified() => {}
                _ = stop.wait_for(|_| inner.is_stopping()) => return,
            }
        }
        tokio::select! {
            () = tokio::time::sleep(LIVE_EVERY) => {}
            _ = stop.wait_for(|_| inner.is_stopping()) => return,
        }
        publish_once(&inner).await;
    }
}

/// Ticks between two writes of the live runs to a shared store: once a second.
const STORE_EVERY: u32 = 4;

async fn publish_once(inner: &Inner) {
    let news = inner.live.news();
    let shared = inner.store.sharing().is_some();
    for (id, run, n) in news {
        if !n.lines.is_empty() || n.progress.is_some() {
            run.unstored
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        for e in events_of(id, &run, n) {
            inner.events.send(e);
        }
    }
    let tick = inner
        .live
        .ticks
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if !shared || tick % STORE_EVERY != 0 {
        return;
    }
    // What changed since the last write (not a count of dropped lines alone), each run's
    // kept lines whole, written; then the other replicas are told, so that what they read
    // has it (their viewers are a second behind at most).
    let mut stored = Vec::new();
    let mut tell = Vec::new();
    for (id, run) in inner.live.unstored() {
        let (lines, dropped, progress, seq) = run.logs.snapshot();
        tell.push(Event::RunLog {
            run_id: id,
            task_id: run.task_id.clone(),
            lines: Vec::new(),
            seq,
            dropped,
        });
        if let Some(p) = &progress {
            tell.push(Event::RunProgress {
                run_id: id,
                task_id: run.task_id.clone(),
                job: run.job.clone(),
                progress: p.clone(),
            });
        }
        stored.push((id, lines, dropped, progress));
    }
    if stored.is_empty() {
        return;
    }
    if let Err(e) = inner.store.live_runs(stored).await {
        tracing::debug!(error = %e, "could not write what running runs logged");
        return;
    }
    for e in tell {
        if let Err(err) = inner.store.announce(e).await {
            tracing::debug!(error = %err, "could not tell other replicas what a run logged");
        }
    }
}
