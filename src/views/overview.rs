//! The overview: counts, recent activity, what fires next, what failed.

use maud::{html, Markup};

use super::components::{when, StatusBadge};
use super::View;
use crate::scheduler::{Page, RunRecord, Stats, TaskInfo, TaskState};

/// The overview body.
pub(crate) fn overview(
    v: &View<'_>,
    stats: &Stats,
    next: &Page<TaskInfo>,
    failures: &Page<RunRecord>,
) -> Markup {
    let u = v.urls;
    let count = |state: TaskState| {
        html! {
            a.stat href=(u.with_query("/tasks", [("state", state.as_str())])) {
                span.stat-num { (stats.tasks.get(state)) }
                span.stat-label { span class={"dot s-" (state.as_str())} {} (state.as_str()) }
            }
        }
    };
    html! {
        div.stats data-live="stats" {
            a.stat href=(u.at("/tasks")) {
                span.stat-num { (stats.tasks.total()) }
                span.stat-label { "tasks" }
            }
            (count(TaskState::Scheduled))
            (count(TaskState::Running))
            (count(TaskState::Paused))
            (count(TaskState::Completed))
        }
        div.stats {
            a.stat href=(u.at("/runs")) {
                span.stat-num { (stats.last_hour.runs) }
                span.stat-label { "runs, last hour" }
            }
            a.stat.stat-bad[stats.last_hour.failures > 0] href=(u.with_query("/runs", [("status", "failures")])) {
                span.stat-num { (stats.last_hour.failures) }
                span.stat-label { "failures, last hour" }
            }
            a.stat href=(u.at("/runs")) {
                span.stat-num { (stats.last_day.runs) }
                span.stat-label { "runs, 24 h" }
            }
            a.stat.stat-bad[stats.last_day.failures > 0] href=(u.with_query("/runs", [("status", "failures")])) {
                span.stat-num { (stats.last_day.failures) }
                span.stat-label { "failures, 24 h" }
            }
            div.stat {
                span.stat-num { (stats.running_runs) }
                span.stat-label { "running now" }
            }
        }
        div.grid2 {
            section.card {
                h2 { "Next up" }
                @if next.items.is_empty() {
                    p.empty { "Nothing is scheduled. " a href=(u.at("/tasks/new")) { "Create a task" } " or resume a paused one." }
                } @else {
                    table.table {
                        thead { tr { th scope="col" { "Task" } th scope="col" { "Trigger" } th scope="col" { "Next run" } } }
                        tbody {
                            @for t in &next.items {
                                tr {
                                    td { a.mono href=(u.task(&t.task.id, "")) { (t.task.id) } }
                                    td.muted { (t.trigger_text) }
                                    td { (when(v, t.next_fire)) }
                                }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "Recent failures" }
                @if failures.items.is_empty() {
                    p.empty { "No failures in the kept history. " span aria-hidden="true" { "✓" } }
                } @else {
                    table.table {
                        thead { tr { th scope="col" { "Task" } th scope="col" { "Outcome" } th scope="col" { "When" } th scope="col" { "Error" } } }
                        tbody {
                            @for r in &failures.items {
                                tr {
                                    td { a.mono href=(u.task(&r.task_id, "")) { (r.task_id) } }
                                    td { a href=(u.run(r.id)) { (StatusBadge(r.status)) } }
                                    td { (when(v, r.finished_at.or(Some(r.scheduled_at)))) }
                                    td.error-text { (r.error.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    }
                    p { a href=(u.with_query("/runs", [("status", "failures")])) { "All failures →" } }
                }
            }
        }
    }
}
