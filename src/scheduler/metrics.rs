//! What this process's scheduler did since it started, for `/metrics` and the `metrics`
//! facade: fires claimed, runs finished by outcome, run durations per job, start lateness.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::alerts::{Alert, AlertKind};
use super::history::{RunCause, RunRecord, RunStatus};
use super::model::DURATION_BUCKETS;
use crate::metrics::{Hist, Text, LATENESS_BUCKETS};

#[derive(Debug)]
pub(crate) struct SchedulerMetrics {
    fires: AtomicU64,
    /// By position in [`RunStatus::ALL`].
    runs: [AtomicU64; RunStatus::ALL.len()],
    lateness: Hist,
    /// Per job; only jobs registered here run here, so the map stays small.
    durations: Mutex<BTreeMap<String, Arc<Hist>>>,
    /// Alerts this process raised, by position in [`AlertKind::ALL`].
    alerts: [AtomicU64; AlertKind::ALL.len()],
}

impl Default for SchedulerMetrics {
    fn default() -> Self {
        SchedulerMetrics {
            fires: AtomicU64::new(0),
            runs: std::array::from_fn(|_| AtomicU64::new(0)),
            lateness: Hist::new(&LATENESS_BUCKETS),
            durations: Mutex::default(),
            alerts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

fn since(later: Option<jiff::Timestamp>, earlier: Option<jiff::Timestamp>) -> Option<Duration> {
    let d = later?.duration_since(earlier?);
    Duration::try_from(d).ok()
}

impl SchedulerMetrics {
    /// `n` fire times claimed by this process.
    pub(crate) fn fires(&self, n: usize) {
        self.fires.fetch_add(n as u64, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        metrics::counter!("taskdeck_fires_total").increment(n as u64);
    }

    /// A run this process began: how late a scheduled one started.
    pub(crate) fn started(&self, rec: &RunRecord) {
        if rec.cause != RunCause::Schedule {
            return;
        }
        let late = since(rec.started_at, Some(rec.scheduled_at)).unwrap_or_default();
        self.lateness.observe(late);
        #[cfg(feature = "metrics")]
        metrics::histogram!("taskdeck_run_start_lateness_seconds").record(late.as_secs_f64());
    }

    /// A run this process recorded as finished (or as not run: missed, skipped, interrupted).
    pub(crate) fn finished(&self, rec: &RunRecord) {
        if let Some(i) = RunStatus::ALL.iter().position(|s| *s == rec.status) {
            self.runs[i].fetch_add(1, Ordering::Relaxed);
        }
        #[cfg(feature = "metrics")]
        metrics::counter!("taskdeck_runs_total", "status" => rec.status.as_str()).increment(1);
        let ran = matches!(
            rec.status,
            RunStatus::Succeeded
                | RunStatus::Failed
                | RunStatus::Panicked
                | RunStatus::TimedOut
                | RunStatus::Cancelled
        );
        let Some(took) = since(rec.finished_at, rec.started_at).filter(|_| ran) else {
            return;
        };
        let hist = {
            let mut map = self.durations.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(&rec.job) {
                Some(h) => h.clone(),
                None => map
                    .entry(rec.job.clone())
                    .or_insert_with(|| Arc::new(Hist::new(&DURATION_BUCKETS)))
                    .clone(),
            }
        };
        hist.observe(took);
        #[cfg(feature = "metrics")]
        metrics::histogram!("taskdeck_run_duration_seconds", "job_name" => rec.job.clone())
            .record(took.as_secs_f64());
    }

    /// An alert this process raised (resolutions are not counted).
    pub(crate) fn alert(&self, a: &Alert) {
        if a.resolved_at.is_some() {
            return;
        }
        if let Some(i) = AlertKind::ALL.iter().position(|k| *k == a.kind) {
            self.alerts[i].fetch_add(1, Ordering::Relaxed);
        }
        #[cfg(feature = "metrics")]
        metrics::counter!("taskdeck_alerts_total", "kind" => a.kind.as_str()).increment(1);
    }

    /// The families, each present even before its first sample.
    pub(crate) fn write(&self, t: &mut Text, in_progress: usize, paused: bool) {
        t.family(
            "taskdeck_scheduler_paused",
            "gauge",
            "1 while this process's scheduler is paused (pause_all / Pause scheduler): it claims no fires. Per process.",
        );
        t.sample("taskdeck_scheduler_paused", &[], u8::from(paused));
        t.family(
            "taskdeck_fires_total",
            "counter",
            "Scheduled fire times this process claimed (run, missed or skipped). Per process: sum() across replicas.",
        );
        t.sample(
            "taskdeck_fires_total",
            &[],
            self.fires.load(Ordering::Relaxed),
        );
        t.family(
            "taskdeck_runs_total",
            "counter",
            "Runs this process finished or recorded as not run, by outcome. Per process: sum() across replicas.",
        );
        for (i, st) in RunStatus::ALL.iter().enumerate() {
            if *st != RunStatus::Running {
                t.sample(
                    "taskdeck_runs_total",
                    &[("status", st.as_str())],
                    self.runs[i].load(Ordering::Relaxed),
                );
            }
        }
        t.family(
            "taskdeck_runs_in_progress",
            "gauge",
            "Runs going in this process now. Per process: sum() across replicas.",
        );
        t.sample("taskdeck_runs_in_progress", &[], in_progress);
        t.family(
            "taskdeck_run_start_lateness_seconds",
            "histogram",
            "From a scheduled run's due time to its start, runs this process started. Per process.",
        );
        t.hist("taskdeck_run_start_lateness_seconds", &[], &self.lateness);
        t.family(
            "taskdeck_run_duration_seconds",
            "histogram",
            "Durations of the runs this process executed, per job (label job_name: Prometheus keeps job for the scrape job). Per process.",
        );
        let jobs: Vec<(String, Arc<Hist>)> = self
            .durations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (job, h) in &jobs {
            t.hist("taskdeck_run_duration_seconds", &[("job_name", job)], h);
        }
        t.family(
            "taskdeck_alerts_total",
            "counter",
            "Alerts this process raised, by kind (each alert is raised by one process). Per process: sum() across replicas.",
        );
        for (i, k) in AlertKind::ALL.iter().enumerate() {
            t.sample(
                "taskdeck_alerts_total",
                &[("kind", k.as_str())],
                self.alerts[i].load(Ordering::Relaxed),
            );
        }
    }
}
