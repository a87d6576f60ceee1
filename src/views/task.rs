//! A task's page: its trigger and options, next fires, a duration chart, runs and logs.

use maud::{html, Markup};

use super::components::{
    action_button, hidden_note, millis, pager, when, AlertBadge, ButtonKind, Esc, StateBadge,
    StatusBadge,
};
use super::runs::logs;
use super::View;
use crate::policy::ActionTarget;
use crate::scheduler::{format_duration, Page, RunRecord};
use crate::seam::TaskDetail;

/// The task page body.
/// `run_with`: the backend can run the task with other args ("Run now with…").
#[allow(clippy::too_many_arguments)]
pub(crate) fn task(
    v: &View<'_>,
    d: &TaskDetail,
    runs: &Page<RunRecord>,
    selected: Option<&RunRecord>,
    here: &str,
    series: Option<&crate::scheduler::Series>,
    alerts: &[crate::scheduler::Alert],
    run_with: bool,
) -> Markup {
    let u = v.urls;
    let t = &d.info.task;
    let o = &t.options;
    let id = &t.id;
    let last_error = d.info.last_run.as_ref().filter(|l| l.status.is_failure());
    // The host's narrowing hook, per button (the role is `can_operate` / `can_admin`).
    let may = |action: &str| v.allows(action, &ActionTarget::task(id, &t.job));
    // A cron trigger in a zone of its own lists its fires in that zone (the header's toggle
    // still shows them in the viewer's).
    let trigger_zone = match &t.trigger {
        crate::scheduler::TriggerSpec::Cron {
            timezone: Some(zone),
            ..
        } => jiff::tz::db().get(zone).ok(),
        _ => None,
    };
    let fires_view = View {
        tz: trigger_zone.unwrap_or_else(|| v.tz.clone()),
        ..*v
    };
    html! {
        div.toolbar {
            (StateBadge(d.info.state))
            span.mono.muted { (id) }
            div.push {}
            @if v.can_operate && may("task.run") {
                (action_button(v, &u.task(id, "/run"), "Run now", ButtonKind::Primary, None, here))
            }
            @if v.can_operate && t.paused && may("task.resume") {
                (action_button(v, &u.task(id, "/resume"), "Resume", ButtonKind::Plain, None, here))
            } @else if v.can_operate && !t.paused && d.info.state != crate::scheduler::TaskState::Completed && may("task.pause") {
                (action_button(v, &u.task(id, "/pause"), "Pause", ButtonKind::Plain, None, here))
            }
            @if v.can_admin {
                @if run_with && may("task.run_with") { a.btn href=(Esc(u.task(id, "/run-with"))) { "Run now with…" } }
                @if may("task.update") { a.btn href=(Esc(u.task(id, "/edit"))) { "Edit" } }
                @if may("task.create") { a.btn href=(Esc(u.with_query("/tasks/new", [("copy", id.as_str())]))) { "Copy as new task" } }
                @if may("task.remove") {
                    (action_button(v, &u.task(id, "/remove"), "Remove", ButtonKind::Danger, Some(&format!("Remove task {id}? Its history is kept.")), "/tasks"))
                }
            }
        }
        @if !d.info.job_registered {
            div.flash.flash-err role="alert" { "Job " code { (t.job) } " is not registered in this process, so it does not run here. With a shared store, instances that register it run it (see " a href=(v.urls.href("/instances")) { "Instances" } ")." }
        }
        @if !alerts.is_empty() {
            section.card.attention aria-label="Needs attention" {
                h2 { "Needs attention" }
                ul.alerts {
                    @for a in alerts {
                        li {
                            @match a.run_id {
                                Some(id) => a href=(Esc(u.run(id))) { (AlertBadge(a.kind)) },
                                None => (AlertBadge(a.kind)),
                            }
                            " " (a.message) " " span.muted { "(since " (when(v, Some(a.since))) ")" }
                        }
                    }
                }
            }
        }
        @if let Some(l) = last_error {
            div.card.error-card {
                h2 { "Last run failed " (when(v, l.finished_at)) }
                pre.error-text { (l.error.as_deref().unwrap_or("")) }
            }
        }
        div.grid3 data-live="task" {
            section.card {
                h2 { "Schedule" }
                dl.kv {
                    dt { "Job" } dd.mono { (t.job) }
                    dt { "Trigger" } dd { (d.info.trigger_text) }
                    dt { "Next run" } dd { (when(v, d.info.next_fire)) }
                    dt { "Running" } dd { (d.info.running) }
                    dt { "Added" } dd { (when(v, Some(d.info.created_at))) }
                    dt { "Changed" } dd { (when(v, Some(d.info.updated_at))) }
                }
            }
            section.card {
                h2 { "Options" }
                dl.kv {
                    dt { "Max instances" } dd { (o.max_instances) }
                    dt { "Coalesce" } dd { (if o.coalesce { "yes" } else { "no" }) }
                    dt { "Misfire grace" } dd { (format_duration(o.misfire_grace)) }
                    dt { "Jitter" } dd { (if o.jitter.is_zero() { "none".to_string() } else { format_duration(o.jitter) }) }
                    dt { "Timeout" } dd { (o.timeout.map(format_duration).unwrap_or_else(|| "none".into())) }
                    dt { "Retries" } dd { (o.retries) " (backoff " (format_duration(o.retry_backoff)) ")" }
                    dt { "Alert if a run takes over" } dd { (o.expect_within.map(format_duration).unwrap_or_else(|| "far over its usual".into())) }
                    dt { "Alert if no success for" } dd { (o.no_success_within.map(format_duration).unwrap_or_else(|| "never".into())) }
                }
                h3 { "Args" }
                @if t.args.is_null() {
                    p.empty { "No arguments." }
                } @else {
                    pre.code { (serde_json::to_string_pretty(&t.args).unwrap_or_default()) }
                    (hidden_note(&t.args))
                }
            }
            section.card {
                h2 { "Next 10 fires" }
                @if d.upcoming.is_empty() {
                    p.empty { @if t.paused { "Paused: resume it to schedule fires." } @else { "This trigger will not fire again." } }
                } @else {
                    ol.fires {
                        @for f in &d.upcoming {
                            li { (super::components::Abs(&fires_view, *f)) }
                        }
                    }
                }
            }
        }
        @if let Some(s) = series {
            section.card {
                h2 { "Runs over time" }
                (super::charts::chart(v, "chart-task", &format!("Runs of {id}"), s))
                p.muted.small { "From the runs kept in its history." }
            }
        }
        section.card {
            h2 { "Recent durations" }
            @if d.durations.count > 0 {
                p.muted.small { "p50 " (millis(d.durations.p50_ms)) " · p90 " (millis(d.durations.p90_ms)) " · p99 " (millis(d.durations.p99_ms)) " · max " (millis(d.durations.max_ms)) " over " (d.durations.count) " runs" }
            }
            (chart(&runs.items))
        }
        div.grid2 {
            section.card {
                h2 { "Runs" }
                @if runs.items.is_empty() {
                    p.empty { "No runs yet. Use " em { "Run now" } " to try it." }
                } @else {
                    div.table-wrap { table.table {
                        thead { tr { th scope="col" { "Run" } th scope="col" { "Outcome" } th scope="col" { "Scheduled" } th scope="col" { "Took" } th scope="col" { "Try" } } }
                        tbody {
                            @for r in &runs.items {
                                tr.selected[selected.is_some_and(|s| s.id == r.id)] {
                                    td { a.mono href=(Esc(u.with_query(&crate::links::Urls::task_rel(id, ""), [("run", r.id.to_string().as_str())]))) { "#" (r.id) } }
                                    td { (StatusBadge(r.status)) }
                                    td { (when(v, Some(r.scheduled_at))) }
                                    td { (r.duration_ms().map(millis).unwrap_or_default()) }
                                    td { (r.attempt) }
                                }
                            }
                        }
                    } }
                    (pager(v, &crate::links::Urls::task_rel(id, ""), &[], runs.page, runs.pages(), runs.total, runs.estimated, &Default::default()))
                }
            }
            section.card {
                @if let Some(r) = selected {
                    h2 { "Run " a href=(Esc(u.run(r.id))) { "#" (r.id) } " " (StatusBadge(r.status)) }
                    @if let Some(e) = &r.error { pre.error-text { (e) } }
                    (logs(v, r))
                } @else {
                    h2 { "Logs" }
                    p.empty { "Pick a run to see what it logged." }
                }
            }
        }
    }
}

/// Recent run durations as bars, oldest left; failures in the failure colour. Inline SVG
/// drawn here, styled by classes (no inline styles: the CSP forbids them).
pub(crate) fn chart(runs: &[RunRecord]) -> Markup {
    let points: Vec<(u64, bool, u64)> = runs
        .iter()
        .rev()
        .filter_map(|r| r.duration_ms().map(|d| (d, r.status.is_failure(), r.id)))
        .collect();
    if points.is_empty() {
        return html! { p.empty { "No finished runs to chart yet." } };
    }
    let max = points.iter().map(|p| p.0).max().unwrap_or(1).max(1);
    let (w, h, gap) = (600u64, 80u64, 2u64);
    let n = points.len() as u64;
    let bar = (w.saturating_sub(gap * n.saturating_sub(1)) / n).clamp(2, 40);
    html! {
        svg.chart viewBox={"0 0 " (w) " " (h + 14)} preserveAspectRatio="xMinYMid meet" role="img" aria-label={"Durations of the last " (n) " runs, longest " (millis(max))} {
            @for (i, (ms, failed, id)) in points.iter().enumerate() {
                @let bh = (ms * h / max).max(1);
                @let x = i as u64 * (bar + gap);
                rect class=(if *failed { "bar bar-fail" } else { "bar" }) x=(x) y=(h - bh) width=(bar) height=(bh) {
                    title { "#" (id) ": " (millis(*ms)) }
                }
            }
            text.axis x="0" y=(h + 12) { "oldest" }
            text.axis x=(n * (bar + gap)) y=(h + 12) text-anchor="end" { "newest · tallest " (millis(max)) }
        }
    }
}
