//! The jobs page: each job with its replicas, tasks, a day's runs and durations, and buttons
//! that pause or resume all its tasks.

use maud::{html, Markup};

use super::components::{action_button, millis, ButtonKind};
use super::View;
use crate::policy::ActionTarget;
use serde::Serialize;

/// One job, as the view shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct JobRow {
    pub(crate) name: String,
    /// Registered in this process.
    pub(crate) here: bool,
    /// The live replicas that have it (their host and process id).
    pub(crate) replicas: Vec<String>,
    pub(crate) tasks: usize,
    /// Of its tasks, those paused.
    pub(crate) paused: usize,
    pub(crate) runs_24h: usize,
    pub(crate) failures_24h: usize,
    /// The day's counts are of every run (the overview's counters), not of the kept history.
    pub(crate) all_runs: bool,
    pub(crate) mean_ms: Option<u64>,
    pub(crate) p95_ms: Option<u64>,
    /// Its running runs that tell their progress: (run, task, progress), at most three.
    pub(crate) progress: Vec<(u64, String, crate::Progress)>,
}

/// The jobs page body.
pub(crate) fn jobs(v: &View<'_>, rows: &[JobRow]) -> Markup {
    let u = v.urls;
    let all_runs = rows.iter().all(|r| r.all_runs);
    html! {
        @if rows.is_empty() {
            div.empty.card { p { "No job is registered. Register one in code with Scheduler::register." } }
        } @else {
            div.table-wrap {
                table.table.jobs {
                    caption.sr-only { "Registered jobs, their tasks and the last 24 hours of their runs" }
                    thead { tr {
                        th scope="col" { "Job" } th scope="col" { "Replicas" } th scope="col" { "Tasks" }
                        @if all_runs {
                            th scope="col" { "Runs, 24 h" } th scope="col" { "Failures, 24 h" }
                        } @else {
                            th scope="col" { "Kept runs, 24 h" } th scope="col" { "Kept failures, 24 h" }
                        }
                        th scope="col" { "Mean" } th scope="col" { "p95" }
                        th scope="col" { span.sr-only { "Actions" } }
                    } }
                    tbody {
                        @for j in rows {
                            tr {
                                th scope="row" {
                                    a.mono href=(u.with_query("/tasks", [("job", j.name.as_str())])) { (j.name) }
                                    @if !j.here && j.replicas.is_empty() {
                                        " " span.badge.b-failed title="No live replica has this job registered: its tasks do not fire" { "not registered on any replica" }
                                    } @else if !j.here { " " span.badge.b-skipped title="Not registered in this process" { "elsewhere" } }
                                    @for (run, task, p) in &j.progress {
                                        div.job-progress {
                                            a.small href=(u.run(*run)) { (task) }
                                            (super::runs::progress(p))
                                        }
                                    }
                                }
                                // Labelled for phones, where each row is a card (app.css).
                                td.replicas data-label="Replicas" { @if j.replicas.is_empty() { span.muted { "—" } } @else { (j.replicas.join(", ")) } }
                                td data-label="Tasks" { (j.tasks) }
                                td data-label=(if all_runs { "Runs, 24 h" } else { "Kept runs, 24 h" }) { a href=(u.with_query("/runs", [("job", j.name.as_str())])) { (j.runs_24h) } }
                                td data-label="Failures" { @if j.failures_24h > 0 {
                                    a.bad href=(u.with_query("/runs", [("job", j.name.as_str()), ("status", "failures")])) { (j.failures_24h) }
                                } @else { "0" } }
                                td data-label="Mean" { (j.mean_ms.map(millis).unwrap_or_else(|| "—".into())) }
                                td data-label="p95" { (j.p95_ms.map(millis).unwrap_or_else(|| "—".into())) }
                                td.actions {
                                    // Only what would change something: pausing while some run,
                                    // resuming while some are paused.
                                    @if v.can_operate && j.tasks > j.paused && v.allows("job.pause", &ActionTarget::job(&j.name)) {
                                        (action_button(v, &u.job(&j.name, "/pause"), "Pause all", ButtonKind::Plain,
                                            Some(&format!("Pause every task of job {}?", j.name)), "/jobs"))
                                    }
                                    @if v.can_operate && j.paused > 0 && v.allows("job.resume", &ActionTarget::job(&j.name)) {
                                        (action_button(v, &u.job(&j.name, "/resume"), "Resume all", ButtonKind::Plain, None, "/jobs"))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if all_runs {
                p.muted.small { "Runs and failures over the 24 hours the overview counts (the last 23 whole hours and this one), every run. Mean and p95 from up to 500 of the newest kept runs of that day." }
            } @else {
                p.muted.small { "Counted from the run history each task keeps (100 runs per task by default), so a job that runs often shows fewer runs here than it had; the overview counts every run. Durations from up to 500 of the newest kept runs." }
            }
        }
    }
}
