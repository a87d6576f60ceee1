//! The overview: counts, recent activity, what fires next, what failed.

use maud::{html, Markup};

use super::components::{when, AlertBadge, Esc, StatusBadge};
use super::View;
use crate::scheduler::{Alert, Page, RunRecord, Stats, TaskInfo, TaskState};

/// Most alerts the overview lists; the rest are behind the tasks list's filter.
const ATTENTION_SHOWN: usize = 12;

/// "Needs attention": the open alerts (the oldest listed), one row each; `open` of them in all.
fn attention(v: &View<'_>, alerts: &[Alert], open: u64) -> Markup {
    let u = v.urls;
    let all = u.href_query("/tasks", &[("attention", "1")]);
    html! {
        section.card.attention id="attention" {
            h2 { "Needs attention" }
            div.table-wrap { table.table {
                thead { tr { th scope="col" { "Task" } th scope="col" { "What" } th scope="col" { "Since" } th scope="col" { "Detail" } } }
                tbody {
                    @for a in alerts.iter().take(ATTENTION_SHOWN) {
                        tr {
                            td { a.mono href=(Esc(u.task(&a.task_id, ""))) { (a.task_id) } }
                            td {
                                @match a.run_id {
                                    Some(id) => a href=(Esc(u.run(id))) { (AlertBadge(a.kind)) },
                                    None => (AlertBadge(a.kind)),
                                }
                            }
                            td { (when(v, Some(a.since))) }
                            td.error-text { (a.message) }
                        }
                    }
                }
            } }
            p {
                a href=(all) {
                    @if open > ATTENTION_SHOWN as u64 { "The tasks of all " (open) " alerts →" } @else { "These tasks in the list →" }
                }
            }
        }
    }
}

/// A linked counter card; `bad` colours the number as a problem.
fn stat(href: &str, n: u64, label: &str, bad: bool) -> Markup {
    html! {
        a.stat.stat-bad[bad] href=(href) {
            span.stat-num { (n) }
            span.stat-label { (label) }
        }
    }
}

/// The overview body.
pub(crate) fn overview(
    v: &View<'_>,
    stats: &Stats,
    next: &Page<TaskInfo>,
    failures: &Page<RunRecord>,
    (alerts, open): (&[Alert], u64),
    charts: Option<&str>,
) -> Markup {
    let u = v.urls;
    let failures_url = u.with_query("/runs", [("status", "failures")]);
    let count = |state: TaskState| {
        html! {
            a.stat href=(u.href_query("/tasks", &[("state", state.as_str())])) {
                span.stat-num { (stats.tasks.get(state)) }
                span.stat-label { span class={"dot s-" (state.as_str())} {} (state.as_str()) }
            }
        }
    };
    html! {
        @if let Some(d) = &v.brand.description {
            p.description { (d) }
        }
        div.stats data-live="stats" {
            a.stat href=(u.href("/tasks")) {
                span.stat-num { (stats.tasks.total()) }
                span.stat-label { "tasks" }
            }
            (count(TaskState::Scheduled))
            (count(TaskState::Running))
            (count(TaskState::Paused))
            (count(TaskState::Completed))
            a.stat.stat-bad[open > 0] href=(u.href_query("/tasks", &[("attention", "1")])) {
                span.stat-num { (open) }
                span.stat-label { (if open == 1 { "needs attention" } else { "need attention" }) }
            }
        }
        div.stats.stats-runs {
            (stat(&u.at("/runs"), stats.last_hour.runs, "runs, last hour", false))
            (stat(&failures_url, stats.last_hour.failures, "failures, last hour", stats.last_hour.failures > 0))
            (stat(&u.at("/runs"), stats.last_day.runs, "runs, 24 h", false))
            (stat(&failures_url, stats.last_day.failures, "failures, 24 h", stats.last_day.failures > 0))
        }
        @if !alerts.is_empty() {
            (attention(v, alerts, open))
        }
        @if let Some(c) = charts {
            section.card {
                h2 { "Runs over time" }
                // Rendered by `charts::overview_charts` (and kept while no run finishes).
                div.charts { (maud::PreEscaped(c)) }
            }
        }
        div.grid2 {
            section.card {
                h2 { "Next up" }
                @if next.items.is_empty() {
                    p.empty { "Nothing is scheduled. " a href=(u.href("/tasks/new")) { "Create a task" } " or resume a paused one." }
                } @else {
                    div.table-wrap { table.table {
                        thead { tr { th scope="col" { "Task" } th scope="col" { "Trigger" } th scope="col" { "Next run" } } }
                        tbody {
                            @for t in &next.items {
                                tr {
                                    td { a.mono href=(Esc(u.task(&t.task.id, ""))) { (t.task.id) } }
                                    td.muted { (t.trigger_text) }
                                    td {
                                        (when(v, t.next_fire))
                                        // Due a while ago and not fired: its job may be registered nowhere.
                                        @if t.next_fire.is_some_and(|at| at < v.now - jiff::SignedDuration::from_secs(5)) {
                                            " " span.badge.b-failed title=(if t.job_registered { "Past due and not fired" } else { "Past due: its job is not registered here" }) { "overdue" }
                                        }
                                    }
                                }
                            }
                        }
                    } }
                }
            }
            section.card {
                h2 { "Recent failures" }
                @if failures.items.is_empty() {
                    p.empty { "No failures in the kept history. " span aria-hidden="true" { "✓" } }
                } @else {
                    div.table-wrap { table.table {
                        thead { tr { th scope="col" { "Task" } th scope="col" { "Outcome" } th scope="col" { "When" } th scope="col" { "Error" } } }
                        tbody {
                            @for r in &failures.items {
                                tr {
                                    td { a.mono href=(Esc(u.task(&r.task_id, ""))) { (r.task_id) } }
                                    td { a href=(Esc(u.run(r.id))) { (StatusBadge(r.status)) } }
                                    td { (when(v, r.finished_at.or(Some(r.scheduled_at)))) }
                                    td.error-text { (r.error.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    } }
                    p { a href=(u.href_query("/runs", &[("status", "failures")])) { "All failures →" } }
                }
            }
        }
    }
}
