//! Running a fire: misfire and coalesce rules, max instances, jitter, the job call with panic
//! capture and timeout, retries with backoff, and the run records of each attempt.
//!
//! Each attempt's job future runs in its own tokio task: a panic ends that task and is
//! reported through its `JoinError`, so it is recorded and never reaches the scheduler.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::task::JoinError;

use super::clock::{add, duration_between};
use super::duration;
use super::events::Event;
use super::history::{LogBuffer, RunCause, RunRecord, RunStatus};
use super::job::{JobError, JobFn, TaskContext};
use super::store::DueFire;
use super::task::Task;
use super::Inner;

/// Decides what to do with a claimed fire and does it. Runs in its own tokio task.
pub(crate) async fn handle_due(inner: Arc<Inner>, due: DueFire) {
    let now = inner.clock.now();
    let task = Arc::new(due.task);
    let opts = &task.options;
    let (skipped, run_times): (&[Timestamp], &[Timestamp]) = if opts.coalesce {
        due.fires.split_at(due.fires.len().saturating_sub(1))
    } else {
        (&[], &due.fires)
    };
    if !skipped.is_empty() || due.truncated {
        tracing::debug!(task = %task.id, coalesced = skipped.len(), truncated = due.truncated,
            "coalesced missed fires into one");
    }
    for &at in run_times {
        if duration_between(at, now) > opts.misfire_grace {
            record_missed(&inner, &task, at, now).await;
            continue;
        }
        match begin(&inner, &task, at, RunCause::Schedule, 1).await {
            Some(rec) if rec.status == RunStatus::Running => {
                if opts.coalesce || run_times.len() == 1 {
                    drive(inner.clone(), task.clone(), rec).await;
                } else {
                    // Several uncoalesced fires: each its own run, side by side (max_instances
                    // still applies through begin).
                    let inner2 = inner.clone();
                    let task2 = task.clone();
                    inner.spawn_tracked(async move { drive(inner2, task2, rec).await });
                }
            }
            _ => {}
        }
    }
}

/// Stores a missed fire.
async fn record_missed(inner: &Inner, task: &Task, at: Timestamp, now: Timestamp) {
    let grace = duration::format(task.options.misfire_grace);
    let late = duration::format(duration_between(at, now));
    let draft = RunRecord {
        status: RunStatus::Missed,
        finished_at: Some(now),
        error: Some(format!(
            "started {late} late, past the misfire grace time of {grace}"
        )),
        ..draft(task, at, RunCause::Schedule, 1)
    };
    tracing::warn!(task = %task.id, scheduled = %at, "fire missed: {late} late");
    match inner.store.record_run(draft).await {
        Ok(rec) => inner.emit_finished(&rec),
        Err(e) => tracing::error!(task = %task.id, error = %e, "could not record a missed fire"),
    }
}

fn draft(task: &Task, at: Timestamp, cause: RunCause, attempt: u32) -> RunRecord {
    RunRecord {
        id: 0,
        task_id: task.id.clone(),
        job: task.job.clone(),
        cause,
        scheduled_at: at,
        started_at: None,
        finished_at: None,
        status: RunStatus::Running,
        error: None,
        attempt,
        logs: Vec::new(),
        logs_dropped: 0,
    }
}

/// Starts an attempt in the store (which enforces `max_instances`). Returns the record, running
/// or skipped; `None` when the task is gone or the store failed.
pub(crate) async fn begin(
    inner: &Inner,
    task: &Task,
    at: Timestamp,
    cause: RunCause,
    attempt: u32,
) -> Option<RunRecord> {
    let now = inner.clock.now();
    if !inner.jobs.contains(&task.job) {
        // Another process may have this job; here it cannot run. Record it so it shows.
        let rec = RunRecord {
            status: RunStatus::Skipped,
            started_at: None,
            finished_at: Some(now),
            error: Some(format!(
                "job {:?} is not registered in this process",
                task.job
            )),
            ..draft(task, at, cause, attempt)
        };
        tracing::warn!(task = %task.id, job = %task.job, "skipping fire: job not registered");
        return match inner.store.record_run(rec).await {
            Ok(rec) => {
                inner.emit_finished(&rec);
                Some(rec)
            }
            Err(e) => {
                tracing::error!(task = %task.id, error = %e, "could not record a skipped fire");
                None
            }
        };
    }
    let rec = RunRecord {
        started_at: Some(now),
        ..draft(task, at, cause, attempt)
    };
    match inner.store.begin_run(rec, task.options.max_instances).await {
        Ok(rec) if rec.status == RunStatus::Skipped => {
            tracing::info!(task = %task.id, run = rec.id, "fire skipped: max_instances reached");
            inner.emit_finished(&rec);
            Some(rec)
        }
        Ok(rec) => {
            inner.events.send(Event::RunStarted {
                run_id: rec.id,
                task_id: rec.task_id.clone(),
                attempt: rec.attempt,
            });
            Some(rec)
        }
        Err(e) if e.is_not_found() => {
            tracing::debug!(task = %task.id, "task removed before its fire started");
            None
        }
        Err(e) => {
            tracing::error!(task = %task.id, error = %e, "could not start a run");
            None
        }
    }
}

/// Runs a begun attempt, then its retries.
pub(crate) async fn drive(inner: Arc<Inner>, task: Arc<Task>, mut rec: RunRecord) {
    let opts = &task.options;
    if !opts.jitter.is_zero() {
        let delay = Duration::from_nanos(fastrand::u64(..=opts.jitter.as_nanos() as u64));
        let until = add(inner.clock.now(), delay);
        if !inner.sleep_unless_aborted(until).await {
            rec.started_at = None;
            finish(
                &inner,
                rec,
                RunStatus::Cancelled,
                Some("cancelled by shutdown".into()),
                LogBuffer::default(),
            )
            .await;
            return;
        }
        rec.started_at = Some(inner.clock.now());
    }
    loop {
        let Some(job) = inner.jobs.get(&task.job) else {
            finish(
                &inner,
                rec,
                RunStatus::Failed,
                Some(format!("job {:?} was unregistered", task.job)),
                LogBuffer::default(),
            )
            .await;
            return;
        };
        let logs = LogBuffer::default();
        let (status, error) = attempt(&inner, job, &task, &rec, logs.clone()).await;
        let attempt_no = rec.attempt;
        finish(&inner, rec, status, error, logs).await;
        if !status.is_failure() || attempt_no > opts.retries || inner.is_stopping() {
            return;
        }
        let wait = opts.backoff_for(attempt_no);
        let due = add(inner.clock.now(), wait);
        tracing::info!(task = %task.id, attempt = attempt_no + 1, wait = %duration::format(wait), "retrying");
        if !inner.sleep_unless_aborted(due).await {
            return;
        }
        match begin(&inner, &task, due, RunCause::Retry, attempt_no + 1).await {
            Some(next) if next.status == RunStatus::Running => rec = next,
            _ => return,
        }
    }
}

/// One call of the job: its own tokio task, raced against the timeout and shutdown's abort.
async fn attempt(
    inner: &Inner,
    job: JobFn,
    task: &Task,
    rec: &RunRecord,
    logs: LogBuffer,
) -> (RunStatus, Option<String>) {
    let ctx = TaskContext {
        task_id: Arc::from(task.id.as_str()),
        run_id: rec.id,
        attempt: rec.attempt,
        scheduled_at: rec.scheduled_at,
        args: Arc::new(task.args.clone()),
        logs: logs.clone(),
        clock: inner.clock.clone(),
        cancel: inner.cancel.subscribe(),
    };
    let fut = async move { job(ctx).await };
    let mut handle = tokio::spawn(super::capture::scope(logs, fut));
    let timeout = task.options.timeout;
    let deadline = timeout.map(|t| add(rec.started_at.unwrap_or_else(|| inner.clock.now()), t));
    let timed_out = async {
        match deadline {
            Some(d) => inner.clock.sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        joined = &mut handle => outcome(joined),
        () = timed_out => {
            handle.abort();
            let _ = handle.await;
            let t = timeout.map(duration::format).unwrap_or_default();
            (RunStatus::TimedOut, Some(format!("timed out after {t}")))
        }
        () = inner.aborted() => {
            handle.abort();
            let _ = handle.await;
            (RunStatus::Cancelled, Some("cancelled by shutdown".into()))
        }
    }
}

fn outcome(joined: Result<Result<(), JobError>, JoinError>) -> (RunStatus, Option<String>) {
    match joined {
        Ok(Ok(())) => (RunStatus::Succeeded, None),
        Ok(Err(e)) => (RunStatus::Failed, Some(error_chain(&*e))),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            (RunStatus::Panicked, Some(format!("panicked: {msg}")))
        }
        Err(_) => (RunStatus::Cancelled, Some("cancelled".into())),
    }
}

/// "outer: cause: root cause".
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    super::history::truncate(&s, 4096).to_string()
}

async fn finish(
    inner: &Inner,
    mut rec: RunRecord,
    status: RunStatus,
    error: Option<String>,
    logs: LogBuffer,
) {
    let (lines, dropped) = logs.take();
    rec.status = status;
    rec.error = error;
    rec.logs = lines;
    rec.logs_dropped = dropped;
    rec.finished_at = Some(inner.clock.now());
    match status {
        RunStatus::Succeeded => {
            tracing::debug!(task = %rec.task_id, run = rec.id, ms = rec.duration_ms(), "run succeeded")
        }
        RunStatus::Panicked => {
            tracing::error!(task = %rec.task_id, run = rec.id, error = rec.error.as_deref(), "run panicked")
        }
        _ => tracing::warn!(task = %rec.task_id, run = rec.id, status = status.as_str(),
            error = rec.error.as_deref(), "run did not succeed"),
    }
    // Store first, then tell: a subscriber that reacts by reading the run sees it finished.
    if let Err(e) = inner.store.finish_run(rec.clone()).await {
        tracing::error!(error = %e, "could not store the end of a run");
    }
    inner.emit_finished(&rec);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("sync failed")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn error_chain_includes_sources() {
        let e = Outer(std::io::Error::other("disk full"));
        assert_eq!(error_chain(&e), "sync failed: disk full");
    }
}
