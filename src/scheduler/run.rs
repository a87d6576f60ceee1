//! Running fires: misfire and coalesce rules, max instances, jitter, the job call with panic
//! capture and timeout, retries with backoff, and the run records of each attempt.
//!
//! A tick's due fires are begun in one store call; each started run then gets one tokio task
//! that calls the job. The job's future is polled inside `catch_unwind`, so a panic becomes a
//! recorded run and never reaches the scheduler; a timeout or shutdown drops the future.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use jiff::Timestamp;
use tracing::Instrument as _;

use super::clock::{add, duration_between};
use super::duration;
use super::events::Event;
use super::history::{LogBuffer, RunCause, RunRecord, RunStatus};
use super::job::{JobFn, JobFuture, JobResult, TaskContext};
use super::store::DueFire;
use super::task::Task;
use super::Inner;

/// Decides what each claimed fire becomes (missed, coalesced, run), begins the runs in one
/// store call and spawns them.
pub(crate) async fn dispatch(inner: &Arc<Inner>, due: Vec<DueFire>) {
    let now = inner.clock.now();
    let mut not_run = Vec::new();
    let mut tasks = Vec::with_capacity(due.len());
    let mut drafts = Vec::with_capacity(due.len());
    for fire in due {
        inner.metrics.fires(fire.fires.len());
        let task = fire.task;
        let opts = &task.options;
        let run_times: &[Timestamp] = if opts.coalesce {
            let coalesced = fire.fires.len().saturating_sub(1);
            if coalesced > 0 || fire.truncated {
                tracing::debug!(task = %task.id, coalesced, truncated = fire.truncated,
                    "coalesced missed fires into one");
            }
            &fire.fires[coalesced..]
        } else {
            &fire.fires
        };
        for &at in run_times {
            // The timer slack is the scheduler's own choice to wait: it never makes a miss.
            if duration_between(at, now) > opts.misfire_grace.saturating_add(inner.timer_slack) {
                not_run.push(missed(&task, at, now));
            } else if !inner.jobs.contains(&task.job) {
                not_run.push(unregistered(&task, at, RunCause::Schedule, 1, now));
            } else {
                drafts.push((
                    draft(&task, at, RunCause::Schedule, 1, now),
                    opts.max_instances,
                ));
                tasks.push(task.clone());
            }
        }
    }
    // Fires recorded as missed or skipped: each raises an alert (once until the task runs),
    // unless a later fire of the task began in this same tick (it ran: nothing to tell).
    let mut quiet = Vec::new();
    for rec in not_run {
        quiet.extend(record_not_run(inner, rec).await);
    }
    if !drafts.is_empty() {
        begin_and_spawn(inner, drafts, tasks, &mut quiet).await;
    }
    if !quiet.is_empty() {
        super::alerts::raise_not_run(inner, quiet);
    }
}

/// Begins a tick's runs in one store call and spawns those that began. `quiet` holds the
/// tick's fires that did not run (missed): one whose task then began a later run is dropped
/// from it, and fires skipped here (`max_instances`) are added to it.
async fn begin_and_spawn(
    inner: &Arc<Inner>,
    drafts: Vec<(RunRecord, u32)>,
    tasks: Vec<Arc<Task>>,
    quiet: &mut Vec<RunRecord>,
) {
    match inner.store.begin_runs(drafts).await {
        Ok(begun) => {
            for (task, rec) in tasks.into_iter().zip(begun) {
                match &rec {
                    Some(r) if r.status == RunStatus::Skipped => quiet.push(r.clone()),
                    // Nothing to look through on nearly every tick.
                    Some(r) if !quiet.is_empty() => {
                        quiet.retain(|q| q.task_id != r.task_id || q.id > r.id)
                    }
                    _ => {}
                }
                if let Some(rec) = started(inner, &task, rec) {
                    let inner2 = inner.clone();
                    // Boxed: a small task cell allocates faster than one holding the whole run.
                    inner.spawn_tracked(Box::pin(drive(inner2, task, rec)));
                }
            }
        }
        Err(e) => tracing::error!(error = %e, fires = tasks.len(), "could not start due runs"),
    }
}

/// What a retry carries over from the run it retries.
#[derive(Debug)]
pub(crate) struct Lineage {
    /// The args that run had.
    pub(crate) args: serde_json::Value,
    /// Its id.
    pub(crate) retry_of: super::history::RunId,
}

/// Begins a single run (manual runs and retries): the record as running or skipped; `None`
/// when the task is gone or the store failed.
pub(crate) async fn begin_one(
    inner: &Inner,
    task: &Task,
    at: Timestamp,
    cause: RunCause,
    attempt: u32,
    lineage: Option<Lineage>,
) -> Option<RunRecord> {
    match begin_one_checked(inner, task, at, cause, attempt, lineage).await {
        Ok(rec) => Some(rec),
        Err(e @ super::Error::RunState { .. }) => {
            tracing::debug!(task = %task.id, error = %e, "did not start a run");
            None
        }
        Err(e) => {
            tracing::error!(task = %task.id, error = %e, "could not start a run");
            None
        }
    }
}

/// [`begin_one`], saying why not.
pub(crate) async fn begin_one_checked(
    inner: &Inner,
    task: &Task,
    at: Timestamp,
    cause: RunCause,
    attempt: u32,
    lineage: Option<Lineage>,
) -> Result<RunRecord, super::Error> {
    let now = inner.clock.now();
    let with = |mut rec: RunRecord| {
        if let Some(l) = &lineage {
            rec.args = l.args.clone();
            rec.retry_of = Some(l.retry_of);
        }
        rec
    };
    let gone = || super::Error::UnknownTask {
        id: task.id.clone(),
    };
    if !inner.jobs.contains(&task.job) {
        let rec = with(unregistered(task, at, cause, attempt, now));
        return record_not_run(inner, rec).await.ok_or_else(gone);
    }
    let d = with(draft(task, at, cause, attempt, now));
    let mut begun = inner
        .store
        .begin_runs(vec![(d, task.options.max_instances)])
        .await?;
    let rec = begun.pop().flatten().ok_or_else(gone)?;
    announce(inner, task, &rec);
    Ok(rec)
}

/// Announces a begun run; returns it when it should be driven (it is running).
fn started(inner: &Inner, task: &Task, rec: Option<RunRecord>) -> Option<RunRecord> {
    let Some(rec) = rec else {
        tracing::debug!(task = %task.id, "task removed before its fire started");
        return None;
    };
    announce(inner, task, &rec);
    (rec.status == RunStatus::Running).then_some(rec)
}

fn announce(inner: &Inner, task: &Task, rec: &RunRecord) {
    if rec.status == RunStatus::Running {
        track(inner, rec.id);
        inner.metrics.started(rec);
    }
    if rec.status == RunStatus::Skipped {
        tracing::info!(task = %task.id, run = rec.id, "fire skipped: max_instances reached");
        inner.emit_finished(rec);
    } else {
        inner.events.send(Event::RunStarted {
            run_id: rec.id,
            task_id: rec.task_id.clone(),
            attempt: rec.attempt,
        });
    }
}

/// A run about to begin at `now` (its start is known while it runs, and set again when the
/// job is called, after any jitter).
fn draft(task: &Task, at: Timestamp, cause: RunCause, attempt: u32, now: Timestamp) -> RunRecord {
    RunRecord {
        id: 0,
        task_id: task.id.clone(),
        job: task.job.clone(),
        cause,
        scheduled_at: at,
        started_at: Some(now),
        finished_at: None,
        status: RunStatus::Running,
        error: None,
        attempt,
        logs: Vec::new(),
        logs_dropped: 0,
        args: task.args.clone(),
        result: None,
        retry_of: None,
        progress: None,
        logs_seq: 0,
    }
}

fn missed(task: &Task, at: Timestamp, now: Timestamp) -> RunRecord {
    let grace = duration::format(task.options.misfire_grace);
    let late = duration::format(duration_between(at, now));
    tracing::warn!(task = %task.id, scheduled = %at, "fire missed: {late} late");
    RunRecord {
        status: RunStatus::Missed,
        finished_at: Some(now),
        error: Some(format!(
            "due {late} ago, past the misfire grace time of {grace}"
        )),
        started_at: None,
        ..draft(task, at, RunCause::Schedule, 1, now)
    }
}

/// Another process may have this job; here it cannot run. Recorded so it shows.
fn unregistered(
    task: &Task,
    at: Timestamp,
    cause: RunCause,
    attempt: u32,
    now: Timestamp,
) -> RunRecord {
    tracing::warn!(task = %task.id, job = %task.job, "skipping fire: job not registered");
    RunRecord {
        status: RunStatus::Skipped,
        finished_at: Some(now),
        error: Some(format!(
            "job {:?} is not registered in this process",
            task.job
        )),
        started_at: None,
        ..draft(task, at, cause, attempt, now)
    }
}

async fn record_not_run(inner: &Inner, rec: RunRecord) -> Option<RunRecord> {
    match inner.store.record_run(rec).await {
        Ok(rec) => {
            inner.emit_finished(&rec);
            Some(rec)
        }
        Err(e) => {
            tracing::error!(error = %e, "could not record a fire that did not run");
            None
        }
    }
}

/// Makes run `id` findable by [`Inner::cancel_here`] (from the moment it begins, so that a
/// cancel right after "run now" is not lost before its task is spawned); its receiver.
fn track(inner: &Inner, id: super::history::RunId) -> tokio::sync::watch::Receiver<Option<String>> {
    let mut running = inner.running.lock().unwrap_or_else(|p| p.into_inner());
    running
        .entry(id)
        .or_insert_with(|| tokio::sync::watch::channel(None).0)
        .subscribe()
}

/// A run executing in this process, findable by [`Inner::cancel_here`] until dropped.
struct Tracked<'a> {
    inner: &'a Inner,
    id: super::history::RunId,
    cancel: tokio::sync::watch::Receiver<Option<String>>,
}

impl<'a> Tracked<'a> {
    /// The run's entry, made when it began ([`track`]) or now.
    fn new(inner: &'a Inner, id: super::history::RunId) -> Tracked<'a> {
        let rx = track(inner, id);
        Tracked {
            inner,
            id,
            cancel: rx,
        }
    }

    /// Who cancelled the run, if anyone did.
    fn cancelled_by(&self) -> Option<String> {
        self.cancel.borrow().clone()
    }
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.inner
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// Runs a begun attempt, then its retries.
pub(crate) async fn drive(inner: Arc<Inner>, task: Arc<Task>, mut rec: RunRecord) {
    let opts = &task.options;
    if !opts.jitter.is_zero() && rec.cause == RunCause::Schedule {
        let nanos = u64::try_from(opts.jitter.as_nanos()).unwrap_or(u64::MAX);
        let until = add(
            inner.clock.now(),
            Duration::from_nanos(fastrand::u64(..=nanos)),
        );
        let tracked = Tracked::new(&inner, rec.id);
        let mut cancel = tracked.cancel.clone();
        let slept = tokio::select! {
            ok = inner.sleep_unless_aborted(until) => ok.then_some(None),
            _ = cancel.wait_for(|c| c.is_some()) => Some(Some(tracked.cancelled_by().unwrap_or_default())),
        };
        match slept {
            Some(None) => {}
            Some(Some(by)) => {
                let cancelled = (
                    RunStatus::Cancelled,
                    Some(format!("cancelled by {by} before it started")),
                );
                drop(tracked);
                finish(&inner, rec, cancelled, LogBuffer::default()).await;
                return;
            }
            None => {
                let cancelled = (RunStatus::Cancelled, Some("cancelled by shutdown".into()));
                drop(tracked);
                finish(&inner, rec, cancelled, LogBuffer::default()).await;
                return;
            }
        }
    }
    loop {
        let Some(job) = inner.jobs.get(&task.job) else {
            let gone = (
                RunStatus::Failed,
                Some(format!("job {:?} was unregistered", task.job)),
            );
            finish(&inner, rec, gone, LogBuffer::default()).await;
            return;
        };
        let logs = LogBuffer::default();
        let result_slot = Arc::new(std::sync::Mutex::new(None));
        let tracked = Tracked::new(&inner, rec.id);
        let result = Box::pin(attempt(
            &inner,
            job,
            &task,
            &mut rec,
            logs.clone(),
            &tracked,
            result_slot.clone(),
        ))
        .await;
        drop(tracked);
        rec.result = result_slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        let failed = result.0.is_failure();
        let attempt_no = rec.attempt;
        let (previous, args) = (rec.id, rec.args.clone());
        finish(&inner, rec, result, logs).await;
        if !failed || attempt_no > opts.retries || inner.is_stopping() {
            return;
        }
        let wait = opts.backoff_for(attempt_no);
        let due = add(inner.clock.now(), wait);
        tracing::info!(task = %task.id, attempt = attempt_no + 1, wait = %duration::format(wait), "retrying");
        if !inner.sleep_unless_aborted(due).await {
            return;
        }
        // A retry runs with the args of the attempt it follows, and links to it.
        let lineage = Lineage {
            args,
            retry_of: previous,
        };
        match begin_one(
            &inner,
            &task,
            due,
            RunCause::Retry,
            attempt_no + 1,
            Some(lineage),
        )
        .await
        {
            Some(next) if next.status == RunStatus::Running => rec = next,
            _ => return,
        }
    }
}

type Outcome = (RunStatus, Option<String>);

/// One call of the job, raced against the timeout, a cancel (after its grace period) and
/// shutdown's abort.
async fn attempt(
    inner: &Inner,
    job: JobFn,
    task: &Task,
    rec: &mut RunRecord,
    logs: LogBuffer,
    tracked: &Tracked<'_>,
    result: Arc<std::sync::Mutex<Option<serde_json::Value>>>,
) -> Outcome {
    let started = inner.clock.now();
    rec.started_at = Some(started);
    inner.live.add(
        rec.id,
        super::live::LiveRun {
            task_id: task.id.clone(),
            job: task.job.clone(),
            logs: logs.clone(),
            unstored: Default::default(),
        },
    );
    let ctx = TaskContext {
        task_id: Arc::from(task.id.as_str()),
        run_id: rec.id,
        attempt: rec.attempt,
        scheduled_at: rec.scheduled_at,
        args: Arc::new(rec.args.clone()),
        logs: logs.clone(),
        clock: inner.clock.clone(),
        cancel: inner.cancel.subscribe(),
        run_cancel: tracked.cancel.clone(),
        result,
    };
    // One span per attempt: a host's subscriber (or OpenTelemetry exporter) sees the job's
    // events under it. Disabled spans cost a callsite check.
    let span = tracing::info_span!(
        "taskdeck.run",
        task = %task.id,
        job = %task.job,
        run = rec.id,
        attempt = rec.attempt,
        cause = rec.cause.as_str(),
    );
    // The call itself happens on first poll, inside `catch_unwind` like every later poll.
    let mut fut: JobFuture = Box::pin(super::capture::scope(
        logs,
        async move { job(ctx).await }.instrument(span),
    ));
    let run =
        std::future::poll_fn(
            |cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
                Err(panic) => Poll::Ready(Err(panic)),
            },
        );
    let timeout = task.options.timeout;
    let timed_out = async {
        match timeout {
            Some(t) => inner.clock.sleep_until(add(started, t)).await,
            None => std::future::pending().await,
        }
    };
    // Cancelled: the job is told at once (its context), and aborted after the grace period.
    let mut cancel = tracked.cancel.clone();
    let grace_over = async {
        let _ = cancel.wait_for(|c| c.is_some()).await;
        let until = add(inner.clock.now(), inner.cancel_grace);
        inner.clock.sleep_until(until).await;
    };
    let outcome = tokio::select! {
        r = run => outcome(r),
        () = timed_out => {
            let t = timeout.map(duration::format).unwrap_or_default();
            (RunStatus::TimedOut, Some(format!("timed out after {t}")))
        }
        () = grace_over => {
            let by = tracked.cancelled_by().unwrap_or_default();
            let g = duration::format(inner.cancel_grace);
            return (RunStatus::Cancelled, Some(format!("cancelled by {by}; aborted after the grace period of {g}")));
        }
        () = inner.aborted() => (RunStatus::Cancelled, Some("cancelled by shutdown".into())),
    };
    // A job that stopped because it was cancelled (however it ended) was cancelled.
    match tracked.cancelled_by() {
        Some(by) if outcome.0 != RunStatus::Cancelled => {
            (RunStatus::Cancelled, Some(format!("cancelled by {by}")))
        }
        _ => outcome,
    }
}

fn outcome(r: Result<JobResult, Box<dyn Any + Send>>) -> Outcome {
    match r {
        Ok(Ok(())) => (RunStatus::Succeeded, None),
        Ok(Err(e)) => (RunStatus::Failed, Some(error_chain(&*e))),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            (RunStatus::Panicked, Some(format!("panicked: {msg}")))
        }
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

async fn finish(inner: &Inner, mut rec: RunRecord, (status, error): Outcome, logs: LogBuffer) {
    super::live::ended(inner, rec.id);
    rec.progress = logs.progress();
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
    let event = inner.finished_event(&rec);
    let failed = rec.status.is_failure().then(|| rec.clone());
    store_finish(inner, rec).await;
    inner.events.send(event);
    if let Some(run) = failed {
        inner.hooks.failed(&run);
    }
}

/// Stores the end of a run. A shared store may be unreachable for a moment: try again with
/// backoff for about a minute (the run's lease lapses after that and another process records
/// it as interrupted).
async fn store_finish(inner: &Inner, rec: RunRecord) {
    if inner.store.sharing().is_none() {
        if let Err(e) = inner.store.finish_run(rec).await {
            tracing::error!(error = %e, "could not store the end of a run");
        }
        return;
    }
    let mut wait = Duration::from_millis(100);
    for attempt in 1.. {
        match inner.store.finish_run(rec.clone()).await {
            Ok(()) => return,
            Err(e) if attempt < 10 => {
                tracing::warn!(error = %e, run = rec.id, retry_in = ?wait,
                    "could not store the end of a run; retrying");
                tokio::time::sleep(wait).await;
                wait = super::instance::backoff(wait);
            }
            Err(e) => {
                tracing::error!(error = %e, run = rec.id, "could not store the end of a run; giving up");
                return;
            }
        }
    }
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

    #[test]
    fn panic_payloads_become_messages() {
        let (st, msg) = outcome(Err(Box::new("static str")));
        assert_eq!(
            (st, msg.as_deref()),
            (RunStatus::Panicked, Some("panicked: static str"))
        );
        let (_, msg) = outcome(Err(Box::new(String::from("owned"))));
        assert_eq!(msg.as_deref(), Some("panicked: owned"));
        let (_, msg) = outcome(Err(Box::new(42u8)));
        assert_eq!(msg.as_deref(), Some("panicked: non-string panic payload"));
    }
}
