//! All runs, filterable, and one run with its log.

use maud::{html, Markup};

use super::components::{
    action_button, hidden_note, millis, pager, when, ButtonKind, Esc, StatusBadge,
};
use super::View;
use crate::policy::ActionTarget;
use crate::scheduler::{LogLevel, Page, RunQuery, RunRecord, RunStatus};

/// The runs list body.
pub(crate) fn runs(
    v: &View<'_>,
    q: &RunQuery,
    page: &Page<RunRecord>,
    raw: &[(&str, &str)],
    jobs: &[String],
) -> Markup {
    let u = v.urls;
    let id = |c: Option<crate::RunCursor>| c.map(|c| c.run_id().to_string());
    let cursors = super::components::PagerCursors {
        before: id(crate::RunCursor::prev_of(page, q.cursor)),
        after: id(crate::RunCursor::next_of(page, q.cursor)),
        keyset: true,
    };
    let get = |k: &str| {
        raw.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| *v)
            .unwrap_or("")
    };
    html! {
        form.filters method="get" action=(u.href("/runs")) role="search" {
            label { span.sr-only { "Search errors and logs" } input type="search" name="q" value=(q.q.as_deref().unwrap_or("")) placeholder="Search errors and logs…" maxlength="200"; }
            label { span.sr-only { "Task id" } input type="search" name="task" value=(q.task_id.as_deref().unwrap_or("")) placeholder="Task id"; }
            label { span.sr-only { "Job" }
                select name="job" {
                    option value="" { "Any job" }
                    @for j in jobs {
                        option value=(j) selected[q.job.as_deref() == Some(j.as_str())] { (j) }
                    }
                }
            }
            label { span.sr-only { "Outcome" }
                select name="status" {
                    option value="" { "Any outcome" }
                    option value="failures" selected[q.failures_only] { "all failures" }
                    @for st in RunStatus::ALL {
                        option value=(st.as_str()) selected[q.status == Some(st)] { (st.as_str().replace('_', " ")) }
                    }
                }
            }
            label.range { "From" input type="datetime-local" name="since" value=(get("since")) step="1"; }
            label.range { "to" input type="datetime-local" name="until" value=(get("until")) step="1"; }
            button.btn.btn-primary type="submit" { "Filter" }
            a.btn href=(u.href("/runs")) { "Reset" }
        }
        div.table-wrap data-live="runs" {
            @if page.items.is_empty() {
                div.empty.card {
                    @if raw.iter().any(|(k, v)| *k != "per_page" && !v.is_empty()) {
                        p { "No run matches these filters. " a href=(u.href("/runs")) { "Clear the filters" } "." }
                    } @else {
                        p { "No runs yet. Runs appear here as tasks fire; to try one now, open a task and use " em { "Run now" } "." }
                    }
                }
            } @else {
                table.table {
                    thead { tr {
                        th scope="col" { "Run" } th scope="col" { "Task" } th scope="col" { "Outcome" }
                        th scope="col" { "Scheduled" } th scope="col" { "Took" } th scope="col" { "Try" } th scope="col" { "Error" }
                    } }
                    tbody {
                        @for r in &page.items {
                            tr {
                                td { a.mono href=(Esc(u.run(r.id))) { "#" (r.id) } }
                                td { a.mono href=(Esc(u.task(&r.task_id, ""))) { (r.task_id) } }
                                td { (StatusBadge(r.status)) }
                                td { (when(v, Some(r.scheduled_at))) }
                                td { (r.duration_ms().map(millis).unwrap_or_default()) }
                                td { (r.attempt) }
                                td.error-text { (r.error.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
        // Retry what the filter shows: the retryable runs of its first 100.
        @if v.can_operate && page.items.iter().any(|r| r.status.is_retryable()) {
            form.inline.bulk-retry method="post" action=(u.href("/runs/retry"))
                data-confirm="Retry every failed, timed-out, cancelled or interrupted run these filters show (at most 100)?" {
                (v.csrf_field())
                @for (k, val) in raw.iter().filter(|(k, _)| *k != "per_page") {
                    input type="hidden" name=(k) value=(val);
                }
                input type="hidden" name="back" value=(v.here);
                button.btn type="submit" { "Retry the failed runs shown" }
            }
        }
        (pager(v, "/runs", raw, page.page, page.pages(), page.total, page.estimated, &cursors))
    }
}

/// One run.
pub(crate) fn run(v: &View<'_>, r: &RunRecord) -> Markup {
    let u = v.urls;
    let time = |t: Option<jiff::Timestamp>| {
        html! { @match t { Some(t) => (super::components::Abs(v, t)), None => "—" } }
    };
    let here = crate::links::Urls::run_rel(r.id, "");
    let may = |action: &str| {
        v.can_operate && v.allows(action, &ActionTarget::run(r.id, &r.task_id, &r.job))
    };
    let cancel = r.status == RunStatus::Running && may("run.cancel");
    let retry = r.status.is_retryable() && may("run.retry");
    let operate = cancel || retry;
    html! {
        // Its outcome, its task and what can be done, in one bar (the title says which run).
        div.toolbar {
            (StatusBadge(r.status))
            span.muted { "of task " a href=(Esc(u.task(&r.task_id, ""))) { (r.task_id) } }
            @if operate {
                div.push {}
                @if cancel {
                    (action_button(v, &u.at(&crate::links::Urls::run_rel(r.id, "/cancel")), "Cancel run", ButtonKind::Danger,
                        Some("Cancel this run? The job is asked to stop and aborted if it does not."), &here))
                }
                @if retry {
                    (action_button(v, &u.at(&crate::links::Urls::run_rel(r.id, "/retry")), "Retry", ButtonKind::Primary, None, &here))
                }
            }
        }
        @if let Some(e) = &r.error {
            section.card.error-card {
                h2 { "Error" }
                pre.error-text { (e) }
            }
        }
        div.grid2.top {
            section.card {
                h2 { "Details" }
                dl.kv {
                    dt { "Task" } dd { a href=(Esc(u.task(&r.task_id, ""))) { (r.task_id) } }
                    dt { "Job" } dd { (r.job) }
                    dt { "Cause" } dd { (r.cause.as_str()) }
                    @if let Some(of) = r.retry_of {
                        dt { "Retry of" } dd { a href=(Esc(u.run(of))) { "run " (of) } }
                    }
                    dt { "Attempt" } dd { (r.attempt) }
                    dt { "Scheduled" } dd { (time(Some(r.scheduled_at))) }
                    dt { "Started" } dd { (time(r.started_at)) }
                    dt { "Finished" } dd { (time(r.finished_at)) }
                    dt { "Took" } dd { (r.duration_ms().map(millis).unwrap_or_else(|| "—".into())) }
                    dt { "Started late by" } dd { (r.lateness_ms().map(|l| millis(l.max(0) as u64)).unwrap_or_else(|| "—".into())) }
                }
            }
            div.stack {
                section.card {
                    h2 { "Args" }
                    @if r.args.is_null() {
                        p.empty { "No arguments." }
                    } @else {
                        pre.json aria-label="The args this run ran with" { (pretty(&r.args)) }
                        (hidden_note(&r.args))
                    }
                }
                section.card {
                    h2 { "Result" }
                    @match &r.result {
                        Some(result) => {
                            pre.json aria-label="What the job returned" { (pretty(result)) }
                            (hidden_note(result))
                        },
                        None => p.empty { "No result." },
                    }
                }
            }
        }
        section.card {
            h2 { "Log" }
            (logs(v, r))
        }
    }
}

/// JSON for reading: indented (both args and results are bounded when stored).
fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A run's log lines. While it runs, the list carries the run and the count of lines it
/// holds, so that the page's script appends what `run_log` events bring (or reloads the
/// page's main part when it cannot tell which lines are new).
pub(crate) fn logs(v: &View<'_>, r: &RunRecord) -> Markup {
    let live = r.status == RunStatus::Running;
    html! {
        @if live {
            @if let Some(p) = &r.progress { (progress(p)) }
        }
        @if r.logs_dropped > 0 {
            p.muted.small.log-dropped { (r.logs_dropped) " lines dropped (over "
                (crate::MAX_LOG_LINES) " kept, or " (crate::MAX_LOG_LINES_PER_SEC) " a second)." }
        }
        @if r.logs.is_empty() && !live {
            p.empty { "Nothing logged." }
        } @else {
            ol.log data-live-run=[live.then_some(r.id)] data-seq=[(live && r.logs_seq > 0).then_some(r.logs_seq)]
                aria-live=[live.then_some("polite")] {
                @for l in &r.logs {
                    li class={"lvl-" (level(l.level))} {
                        time datetime=(l.at.to_string()) data-clock { (l.at.to_zoned(v.tz.clone()).strftime("%H:%M:%S%.3f")) }
                        span.lvl { (level(l.level)) }
                        span.msg { (l.message) }
                    }
                }
            }
            @if r.logs.is_empty() { p.empty.muted { "Nothing logged yet." } }
        }
    }
}

/// A progress bar: done of total (or a count when the total is not known), and what the job
/// says it is doing.
pub(crate) fn progress(p: &crate::Progress) -> Markup {
    let label = match p.percent() {
        Some(pc) => format!("{pc}% ({} of {})", p.done, p.total),
        None => format!("{} done", p.done),
    };
    html! {
        div.progress {
            @match p.percent() {
                Some(_) => progress max=(p.total) value=(p.done.min(p.total)) aria-label="Progress" { (label) },
                None => progress aria-label="Progress" { (label) },
            }
            span.progress-text { (label) @if !p.message.is_empty() { " · " (p.message) } }
        }
    }
}

fn level(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}
