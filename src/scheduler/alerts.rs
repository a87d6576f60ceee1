//! Alerts when a schedule goes quiet: fires missed or skipped, tasks overdue, runs far over
//! their usual duration, tasks with no success for too long, tasks failing again and again.
//!
//! An alert is open while its condition holds, at most one per task and kind, kept in the
//! store. Whoever opens it (the store's insert decides, so with several replicas exactly one)
//! tells it: `on_alert` hooks, an [`Event::AlertRaised`], this process's
//! `taskdeck_alerts_total`, a warning in the log. Whoever closes it, once the condition has
//! ended, tells that it was resolved. Missed and skipped fires are raised where the fire is
//! recorded; the rest by [`check`], which every process runs every
//! [`AlertSettings::check_every`] on its own task, apart from the timer loop (a stuck timer
//! must not silence the alert about it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::clock::{add, duration_between};
use super::duration;
use super::error::Error;
use super::events::Event;
use super::history::{RunId, RunRecord, RunStatus};
use super::Inner;

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertKind {
    /// A fire started later than its misfire grace and was recorded as missed.
    Missed,
    /// A fire was skipped: `max_instances` runs were going, or no job to run it here.
    Skipped,
    /// The task's next fire is past by more than [`AlertSettings::overdue_after`] and no run
    /// of it is going: no live replica has its job, or no timer is firing.
    Overdue,
    /// A run has taken longer than its task's `expect_within`, or far longer than its job
    /// usually takes ([`AlertSettings::running_long_factor`]).
    RunningLong,
    /// No run succeeded within the task's `no_success_within`.
    NoSuccess,
    /// The task's last [`AlertSettings::failing_after`] runs (or more) all failed.
    Failing,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [AlertKind; 6] = [
        AlertKind::Missed,
        AlertKind::Skipped,
        AlertKind::Overdue,
        AlertKind::RunningLong,
        AlertKind::NoSuccess,
        AlertKind::Failing,
    ];

    /// `missed`, `skipped`, `overdue`, `running_long`, `no_success`, `failing`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Missed => "missed",
            AlertKind::Skipped => "skipped",
            AlertKind::Overdue => "overdue",
            AlertKind::RunningLong => "running_long",
            AlertKind::NoSuccess => "no_success",
            AlertKind::Failing => "failing",
        }
    }

    /// The kind named `s` (as [`AlertKind::as_str`] writes it).
    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// How many of `kinds` are of each kind, every kind listed.
    pub(crate) fn tally(kinds: impl IntoIterator<Item = AlertKind>) -> Vec<(AlertKind, u64)> {
        let mut out: Vec<(AlertKind, u64)> = AlertKind::ALL.iter().map(|k| (*k, 0)).collect();
        for k in kinds {
            if let Some(c) = out.iter_mut().find(|c| c.0 == k) {
                c.1 += 1;
            }
        }
        out
    }

    /// A few words for people: "fire missed", "overdue", …
    pub fn label(self) -> &'static str {
        match self {
            AlertKind::Missed => "fire missed",
            AlertKind::Skipped => "fire skipped",
            AlertKind::Overdue => "overdue",
            AlertKind::RunningLong => "running long",
            AlertKind::NoSuccess => "no success",
            AlertKind::Failing => "failing",
        }
    }
}

/// An open alert, or one just resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// What it is about.
    pub kind: AlertKind,
    /// The task.
    pub task_id: String,
    /// The task's job.
    pub job: String,
    /// The run it concerns: the missed or skipped fire's record, the long run, the last
    /// failed run.
    pub run_id: Option<RunId>,
    /// Since when the condition holds: the fire's time (missed, skipped, overdue), the run's
    /// start (running long), the last success or the task's creation (no success), the first
    /// failure of the streak as far as known (failing: the last one's time).
    pub since: Timestamp,
    /// When it was raised.
    pub raised_at: Timestamp,
    /// What happened, in a sentence.
    pub message: String,
    /// When it was found resolved; `None` while open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
}

impl Alert {
    /// An alert about task `task_id` (job `job`) raised at `now`.
    pub(crate) fn new(
        kind: AlertKind,
        task_id: &str,
        job: &str,
        run_id: Option<RunId>,
        since: Timestamp,
        now: Timestamp,
        message: String,
    ) -> Alert {
        Alert {
            kind,
            task_id: task_id.to_string(),
            job: job.to_string(),
            run_id,
            since,
            raised_at: now,
            message,
            resolved_at: None,
        }
    }

    /// The alert a fire recorded as missed or skipped raises, if it is one.
    pub(crate) fn for_not_run(rec: &RunRecord, now: Timestamp) -> Option<Alert> {
        let kind = match rec.status {
            RunStatus::Missed => AlertKind::Missed,
            RunStatus::Skipped => AlertKind::Skipped,
            _ => return None,
        };
        let what = rec.error.as_deref().unwrap_or("not run");
        let message = format!("a scheduled fire was {}: {what}", rec.status.as_str());
        Some(Alert::new(
            kind,
            &rec.task_id,
            &rec.job,
            Some(rec.id),
            rec.scheduled_at,
            now,
            message,
        ))
    }

    /// Task overdue since `next_fire`. (Messages say what happened, not how long ago: they
    /// are read long after they were written; `since` and `raised_at` give the times.)
    pub fn overdue(task_id: &str, job: &str, next_fire: Timestamp, now: Timestamp) -> Alert {
        let late = whole_seconds(duration_between(next_fire, now));
        Alert::new(
            AlertKind::Overdue,
            task_id,
            job,
            None,
            next_fire,
            now,
            format!("not fired: {late} past its fire when found"),
        )
    }

    /// No success since `since` (the last success, or the task's creation), for `within`.
    pub fn no_success(
        task_id: &str,
        job: &str,
        since: Timestamp,
        within: Duration,
        now: Timestamp,
    ) -> Alert {
        Alert::new(
            AlertKind::NoSuccess,
            task_id,
            job,
            None,
            since,
            now,
            format!("no run succeeded within {}", duration::format(within)),
        )
    }

    /// The last `streak` runs failed, the latest being `last_run` at `at`.
    pub fn failing(
        task_id: &str,
        job: &str,
        streak: u32,
        last_run: Option<RunId>,
        at: Timestamp,
        now: Timestamp,
    ) -> Alert {
        Alert::new(
            AlertKind::Failing,
            task_id,
            job,
            last_run,
            at,
            now,
            format!("its last {streak} runs failed"),
        )
    }
}

/// `d` for people, to the second.
fn whole_seconds(d: Duration) -> String {
    duration::format(Duration::from_secs(d.as_secs()))
}

/// A run going that may be running long, as a store lists it for [`Store::sweep_alerts`].
///
/// [`Store::sweep_alerts`]: super::Store::sweep_alerts
#[derive(Clone, Debug, PartialEq)]
pub struct LongRun {
    /// The run.
    pub run_id: RunId,
    /// Its task.
    pub task_id: String,
    /// Its job.
    pub job: String,
    /// When it started.
    pub started_at: Timestamp,
    /// Its task's `expect_within`, if set.
    pub expect_within: Option<Duration>,
}

/// What [`Store::sweep_alerts`] is asked.
///
/// [`Store::sweep_alerts`]: super::Store::sweep_alerts
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlertScan {
    /// The clock's reading.
    pub now: Timestamp,
    /// Tasks not paused, with no run going, whose next fire is before this are overdue.
    pub overdue_before: Timestamp,
    /// Tasks whose last this many runs failed are failing.
    pub failing_after: u32,
    /// Runs going that started before this are listed as [`LongRun`]s.
    pub long_before: Timestamp,
    /// Most alerts or runs listed of each kind.
    pub limit: usize,
}

/// What [`Store::sweep_alerts`] answers.
///
/// [`Store::sweep_alerts`]: super::Store::sweep_alerts
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertSweep {
    /// Open alerts whose condition ended (or whose task is gone), now closed, with
    /// `resolved_at` set. The caller tells them.
    pub resolved: Vec<Alert>,
    /// Overdue, no-success and failing tasks with no open alert of that kind: to raise with
    /// [`Store::raise_alerts`](super::Store::raise_alerts).
    pub found: Vec<Alert>,
    /// Runs going that started before [`AlertScan::long_before`], with no open
    /// `running_long` alert for their task.
    pub long_runs: Vec<LongRun>,
}

/// When the scheduler raises alerts. Every field has a documented default.
///
/// ```
/// use std::time::Duration;
/// use taskdeck::{AlertSettings, Scheduler};
/// let scheduler = Scheduler::builder()
///     .alerts(AlertSettings { overdue_after: Duration::from_secs(120), ..AlertSettings::default() })
///     .build()?;
/// # Ok::<(), taskdeck::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlertSettings {
    /// How often each process looks for overdue, long-running, failing and no-success
    /// tasks. Default 10 s; at least 1 s.
    pub check_every: Duration,
    /// A task whose next fire is past by more than this, with no run going, is overdue.
    /// Default 60 s (as the overview's overdue count).
    pub overdue_after: Duration,
    /// A run going longer than this many times its job's usual duration (the 95th percentile
    /// of its newest successful runs, at least 5 of them) is running long. Default 3.
    pub running_long_factor: f64,
    /// ... but never before it has run this long, so that short jobs do not flap. Default
    /// 60 s.
    pub running_long_floor: Duration,
    /// A task whose last this many runs all failed is failing. Default 3.
    pub failing_after: u32,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            check_every: Duration::from_secs(10),
            overdue_after: super::model::OVERDUE_AFTER,
            running_long_factor: 3.0,
            running_long_floor: Duration::from_secs(60),
            failing_after: 3,
        }
    }
}

impl AlertSettings {
    pub(crate) fn check(&self) -> Result<(), Error> {
        let bad = |m: &str| {
            Err(Error::InvalidConfig {
                setting: "alerts",
                message: m.to_string(),
            })
        };
        if self.check_every < Duration::from_secs(1) {
            return bad("check_every must be at least 1 s");
        }
        if !(self.running_long_factor.is_finite() && self.running_long_factor >= 1.0) {
            return bad("running_long_factor must be a number of at least 1");
        }
        if self.failing_after == 0 {
            return bad("failing_after must be at least 1");
        }
        Ok(())
    }
}

/// What one check told: alerts it raised and alerts it found resolved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertCheck {
    /// Raised by this check (and told by this process).
    pub raised: Vec<Alert>,
    /// Resolved by this check (and told by this process).
    pub resolved: Vec<Alert>,
}

/// How long a job's usual duration is kept before it is read again.
const USUAL_KEPT: Duration = Duration::from_secs(300);
/// Fewest successful runs for a usual duration: with fewer, only `expect_within` applies.
const USUAL_MIN_RUNS: usize = 5;
/// Most alerts of each kind a check raises or resolves.
const CHECK_LIMIT: usize = 1000;

/// Per job: its usual duration (p95 of its newest successful runs), and when it was read.
#[derive(Debug, Default)]
pub(crate) struct Usual {
    jobs: std::sync::Mutex<HashMap<String, (Option<Duration>, Timestamp)>>,
}

impl Usual {
    async fn of(&self, inner: &Inner, job: &str, now: Timestamp) -> Option<Duration> {
        let kept = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(job)
            .copied();
        if let Some((d, at)) = kept {
            if duration_between(at, now) < USUAL_KEPT {
                return d;
            }
        }
        let d = match inner.store.job_durations(job).await {
            Ok(s) if s.count >= USUAL_MIN_RUNS => Some(Duration::from_millis(s.p95_ms.max(1))),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(job, error = %e, "could not read the job's usual duration");
                None
            }
        };
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.to_string(), (d, now));
        d
    }
}

/// Looks once for overdue, long-running, failing and no-success tasks and for alerts whose
/// condition ended; raises and resolves them, telling what this process opened or closed.
pub(crate) async fn check(inner: &Arc<Inner>) -> Result<AlertCheck, Error> {
    let s = inner.alert_settings;
    let now = inner.clock.now();
    let floor = s.running_long_floor.min(Duration::from_secs(1));
    let scan = AlertScan {
        now,
        overdue_before: super::clock::sub(now, s.overdue_after),
        failing_after: s.failing_after,
        long_before: super::clock::sub(now, floor),
        limit: CHECK_LIMIT,
    };
    let sweep = inner.store.sweep_alerts(scan).await?;
    for a in &sweep.resolved {
        tell(inner, a).await;
    }
    let mut found = sweep.found;
    // This process's own pause is on purpose: its fires are not late.
    if inner.paused.load(std::sync::atomic::Ordering::SeqCst) {
        found.retain(|a| a.kind != AlertKind::Overdue);
    }
    if found.iter().any(|a| a.kind == AlertKind::Overdue) {
        explain_overdue(inner, &mut found).await;
    }
    for r in sweep.long_runs {
        if let Some(a) = running_long(inner, &s, &r, now).await {
            found.push(a);
        }
    }
    let raised = raise(inner, found).await?;
    Ok(AlertCheck {
        raised,
        resolved: sweep.resolved,
    })
}

/// The alert for run `r` if it has run long.
async fn running_long(
    inner: &Inner,
    s: &AlertSettings,
    r: &LongRun,
    now: Timestamp,
) -> Option<Alert> {
    let took = duration_between(r.started_at, now);
    let expected = r
        .expect_within
        .filter(|d| took > *d)
        .map(|d| format!("ran past the {} expected", duration::format(d)));
    let message = match expected {
        Some(m) => m,
        None => {
            if took <= s.running_long_floor {
                return None;
            }
            let usual = inner.usual.of(inner, &r.job, now).await?;
            let bound = usual
                .mul_f64(s.running_long_factor)
                .max(s.running_long_floor);
            if took <= bound {
                return None;
            }
            format!(
                "ran past {}: over {} × its job's usual {} (p95 of its newest successful runs)",
                whole_seconds(bound),
                s.running_long_factor,
                duration::format(usual)
            )
        }
    };
    Some(Alert::new(
        AlertKind::RunningLong,
        &r.task_id,
        &r.job,
        Some(r.run_id),
        r.started_at,
        now,
        message,
    ))
}

/// Says why overdue tasks were not fired, where it can tell: their job is registered on no
/// live process.
async fn explain_overdue(inner: &Inner, found: &mut [Alert]) {
    let live: Option<Vec<String>> = if inner.store.sharing().is_some() {
        match inner.store.instances().await {
            Ok(list) => Some(
                list.into_iter()
                    .filter(|i| !i.stale)
                    .flat_map(|i| i.jobs)
                    .collect(),
            ),
            Err(_) => None,
        }
    } else {
        Some(inner.jobs.names())
    };
    for a in found.iter_mut().filter(|a| a.kind == AlertKind::Overdue) {
        match &live {
            Some(jobs) if !jobs.contains(&a.job) => a
                .message
                .push_str(&format!("; no live replica has job {:?} registered", a.job)),
            Some(_) => a
                .message
                .push_str("; its job is registered: a timer loop may be stuck or overloaded"),
            None => {}
        }
    }
}

/// Opens `alerts` in the store and tells those this call opened.
pub(crate) async fn raise(inner: &Arc<Inner>, mut alerts: Vec<Alert>) -> Result<Vec<Alert>, Error> {
    if alerts.is_empty() {
        return Ok(Vec::new());
    }
    // One per task and kind: the newest (a tick may record several misses of one task).
    alerts.reverse();
    let mut seen = std::collections::HashSet::new();
    alerts.retain(|a| seen.insert((a.task_id.clone(), a.kind)));
    alerts.reverse();
    let opened = inner.store.raise_alerts(alerts).await?;
    for a in &opened {
        tell(inner, a).await;
    }
    Ok(opened)
}

/// Raises the alerts of fires just recorded as missed or skipped, on a task of its own: a
/// burst of them (an outage's worth) must not hold up the timer loop. A failure is logged.
pub(crate) fn raise_not_run(inner: &Arc<Inner>, recs: Vec<RunRecord>) {
    let now = inner.clock.now();
    let alerts: Vec<Alert> = recs
        .iter()
        .filter_map(|r| Alert::for_not_run(r, now))
        .collect();
    if alerts.is_empty() {
        return;
    }
    let inner2 = inner.clone();
    inner.spawn_tracked(async move {
        if let Err(e) = raise(&inner2, alerts).await {
            tracing::error!(error = %e, "could not raise alerts for fires not run");
        }
    });
}

/// Tells an alert this process opened or closed: the log, the metric, the event (to every
/// replica's subscribers) and the `on_alert` hooks.
async fn tell(inner: &Inner, a: &Alert) {
    let event = match a.resolved_at {
        None => {
            tracing::warn!(task = %a.task_id, kind = a.kind.as_str(), run = a.run_id, "alert: {}", a.message);
            Event::AlertRaised {
                kind: a.kind,
                task_id: a.task_id.clone(),
                run_id: a.run_id,
                message: a.message.clone(),
            }
        }
        Some(_) => {
            tracing::info!(task = %a.task_id, kind = a.kind.as_str(), "alert resolved");
            Event::AlertResolved {
                kind: a.kind,
                task_id: a.task_id.clone(),
            }
        }
    };
    inner.metrics.alert(a);
    if let Err(e) = inner.store.announce(event.clone()).await {
        tracing::debug!(error = %e, "could not tell other replicas of an alert");
    }
    inner.events.send(event);
    inner.hooks.alert(a);
}

/// Runs [`check`] every [`AlertSettings::check_every`] until shutdown, the first time one
/// interval after `from` (the scheduler's start).
pub(crate) async fn watch(inner: Arc<Inner>, from: Timestamp) {
    let mut stop = inner.lifecycle.subscribe();
    let mut from = from;
    loop {
        let at = add(from, inner.alert_settings.check_every);
        tokio::select! {
            () = inner.clock.sleep_until(at) => {}
            _ = stop.wait_for(|_| inner.is_stopping()) => return,
        }
        if let Err(e) = check(&inner).await {
            tracing::warn!(error = %e, "looking for alerts failed; trying again next time");
        }
        from = inner.clock.now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in AlertKind::ALL {
            assert_eq!(AlertKind::parse(k.as_str()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert_eq!(AlertKind::parse("bogus"), None);
    }

    #[test]
    fn settings_are_checked() {
        assert!(AlertSettings::default().check().is_ok());
        for bad in [
            AlertSettings {
                check_every: Duration::from_millis(10),
                ..AlertSettings::default()
            },
            AlertSettings {
                running_long_factor: 0.5,
                ..AlertSettings::default()
            },
            AlertSettings {
                running_long_factor: f64::NAN,
                ..AlertSettings::default()
            },
            AlertSettings {
                failing_after: 0,
                ..AlertSettings::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
