//! The jobs view: every job the schedule knows (registered here, on another replica, or named
//! by a task), which replicas have it, its tasks, its runs and failures in the last 24 hours
//! and their mean and p95 duration; and pausing or resuming every task of a job at once.
//!
//! Built from counts kept as tasks change and runs end (each job's tasks by state, its runs
//! per hour) where the backend keeps them, else from the seam's lists, each bounded; a
//! job's durations come from its newest [`SAMPLE`] finished runs of the day.

use std::collections::BTreeSet;

use http::StatusCode;

use super::context::{public_message, Ctx};
use super::request::Params;
use super::response::{json, Resp};
use crate::scheduler::{RunQuery, TaskQuery};
use crate::seam::BulkAction;
use crate::views::jobs::JobRow;
use crate::views::{self, Nav};

/// Most runs a job's durations are taken from.
const SAMPLE: u32 = 500;

/// Most tasks one "pause every task of this job" changes.
const MOST_TASKS: u32 = 10_000;

/// Every job's row, sorted by name.
pub(crate) async fn rows(cx: &Ctx<'_>) -> Result<Vec<JobRow>, crate::seam::BackendError> {
    let b = &cx.shared.backend;
    let here: BTreeSet<String> = b.jobs().await?.into_iter().collect();
    let instances = b.instances().await.unwrap_or_default();
    // Running runs' progress, shown under their job.
    let progress = b.live_progress().await.unwrap_or_default();
    let mut names = here.clone();
    for i in instances.iter().filter(|i| !i.stale) {
        names.extend(i.jobs.iter().cloned());
    }
    // Jobs that tasks name but no live replica has registered: listed, so that they show.
    names.extend(b.task_jobs().await.unwrap_or_default());
    let now = cx.view().now;
    let day_ago = now - jiff::SignedDuration::from_hours(24);
    // Every run of the day per job, from the counters the overview's day reads, when kept.
    let day: Option<std::collections::BTreeMap<String, (u64, u64)>> = b
        .job_series(crate::scheduler::SeriesWindow::Day)
        .await?
        .map(|jobs| {
            jobs.into_iter()
                .map(|(job, s)| {
                    let runs = s.points.iter().map(|p| p.runs).sum();
                    let failures = s.points.iter().map(|p| p.failures).sum();
                    (job, (runs, failures))
                })
                .collect()
        });
    // Each job's tasks, from the counts kept as tasks change when there are some.
    let counted: Option<std::collections::BTreeMap<String, crate::StateCounts>> =
        b.job_task_counts().await?.map(|c| c.into_iter().collect());
    // Each job's durations, from its newest runs of the day, in one go when the backend can.
    let listed: Vec<String> = names.iter().cloned().collect();
    let mut durations: std::collections::BTreeMap<String, Vec<u64>> = b
        .job_run_durations(&listed, day_ago, SAMPLE)
        .await?
        .map(|d| d.into_iter().collect())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let count = |state: Option<crate::scheduler::TaskState>| TaskQuery {
            job: Some(name.clone()),
            state,
            per_page: 1,
            ..TaskQuery::default()
        };
        let (tasks, paused) = match &counted {
            Some(c) => c.get(&name).map_or((0, 0), |s| (s.total(), s.paused)),
            None => {
                let tasks = b.list(&count(None)).await?.total;
                let paused = if tasks == 0 {
                    0
                } else {
                    b.list(&count(Some(crate::scheduler::TaskState::Paused)))
                        .await?
                        .total
                };
                (tasks, paused)
            }
        };
        let runs = |failures_only: bool, per_page: u32| RunQuery {
            job: Some(name.clone()),
            since: Some(day_ago),
            failures_only,
            per_page,
            ..RunQuery::default()
        };
        let (runs_24h, failures_24h) = match &day {
            Some(day) => {
                let (r, f) = day.get(&name).copied().unwrap_or((0, 0));
                (
                    usize::try_from(r).unwrap_or(usize::MAX),
                    usize::try_from(f).unwrap_or(usize::MAX),
                )
            }
            None => (
                b.runs(&runs(false, 1)).await?.total,
                b.runs(&runs(true, 1)).await?.total,
            ),
        };
        let mut ms: Vec<u64> = match durations.remove(&name) {
            Some(ms) => ms,
            None => b
                .runs(&runs(false, SAMPLE))
                .await?
                .items
                .iter()
                .filter_map(|r| r.duration_ms())
                .collect(),
        };
        ms.sort_unstable();
        let mean = (!ms.is_empty()).then(|| ms.iter().sum::<u64>() / ms.len() as u64);
        let p95 = (!ms.is_empty()).then(|| ms[((ms.len() * 95).div_ceil(100)).max(1) - 1]);
        out.push(JobRow {
            here: here.contains(&name),
            replicas: instances
                .iter()
                .filter(|i| !i.stale && i.jobs.contains(&name))
                .map(|i| format!("{} (pid {})", i.host, i.pid))
                .collect(),
            tasks,
            paused,
            runs_24h,
            failures_24h,
            all_runs: day.is_some(),
            mean_ms: mean,
            p95_ms: p95,
            progress: progress
                .iter()
                .filter(|p| p.2 == name)
                .take(3)
                .map(|p| (p.0, p.1.clone(), p.3.clone()))
                .collect(),
            name,
        });
    }
    Ok(out)
}

/// `GET /jobs`.
pub(crate) async fn page(cx: &Ctx<'_>) -> Resp {
    match rows(cx).await {
        Ok(rows) => {
            let body = views::jobs::jobs(&cx.view(), &rows);
            cx.page(StatusCode::OK, "Jobs", Nav::Jobs, body)
        }
        Err(e) => cx.fail(&e),
    }
}

/// `GET /api/jobs`.
pub(crate) async fn api(cx: &Ctx<'_>) -> Resp {
    match rows(cx).await {
        Ok(rows) => json(StatusCode::OK, &serde_json::json!({ "items": rows })),
        Err(e) => cx.fail(&e),
    }
}

/// `POST /jobs/{name}/pause` and `/resume`: every task of the job (at most [`MOST_TASKS`]),
/// back to the jobs page with a count.
pub(crate) async fn set_paused(cx: &Ctx<'_>, name: &str, pause: bool, p: &Params) -> Resp {
    let b = &cx.shared.backend;
    // Page through the job's tasks in id order (500 a page, each from the last one's
    // cursor), at most MOST_TASKS of them.
    let mut ids: Vec<String> = Vec::new();
    let mut refused = 0usize;
    let task_action = if pause { "task.pause" } else { "task.resume" };
    let mut cursor = None;
    for page in 1..=MOST_TASKS.div_ceil(500) {
        let tasks = match b
            .list(&TaskQuery {
                job: Some(name.to_string()),
                sort: crate::scheduler::TaskSort::Id,
                page,
                per_page: 500,
                cursor: cursor.take(),
                ..TaskQuery::default()
            })
            .await
        {
            Ok(p) => p,
            Err(e) => return cx.fail(&e),
        };
        let last = tasks.items.len() < 500;
        cursor = tasks
            .items
            .last()
            .map(|t| crate::TaskCursor::of_info(t, crate::scheduler::TaskSort::Id, false));
        // Each task is asked of the narrowing hook as a pause or resume of its own.
        for t in tasks.items.iter().filter(|t| t.task.paused != pause) {
            let target = crate::policy::ActionTarget::task(&t.task.id, &t.task.job);
            if cx.allows(task_action, &target) {
                ids.push(t.task.id.clone());
            } else {
                refused += 1;
            }
        }
        if last {
            break;
        }
    }
    let action = if pause {
        BulkAction::Pause
    } else {
        BulkAction::Resume
    };
    let verb = if pause { "Paused" } else { "Resumed" };
    match b.bulk(action, &ids).await {
        Ok(out) => {
            let mut msg = format!("{verb} {} task(s) of job {name}.", out.done.len());
            if !out.failed.is_empty() {
                msg.push_str(&format!(" {} could not be changed.", out.failed.len()));
            }
            if refused > 0 {
                msg.push_str(&format!(" {refused} not allowed for you."));
            }
            cx.back(p, "/jobs", out.failed.is_empty() && refused == 0, &msg)
        }
        Err(e) => cx.back(p, "/jobs", false, public_message(&e)),
    }
}
