//! The task list: search, filters, sortable columns, paging, row and bulk actions.

use maud::{html, Markup, Render};

use super::components::{escape_into, pager, when, Esc, StateBadge, StatusBadge};
use super::View;
use crate::scheduler::{Page, TaskInfo, TaskQuery, TaskSort, TaskState, TriggerKind};

/// The tasks body. `here` is the current relative URL (actions come back to it).
pub(crate) fn tasks(
    v: &View<'_>,
    q: &TaskQuery,
    page: &Page<TaskInfo>,
    jobs: &[String],
    here: &str,
) -> Markup {
    let u = v.urls;
    let page_s = page.page.to_string();
    let per_page_s = if q.per_page == 0 {
        String::new()
    } else {
        page.per_page.to_string()
    };
    let params: Vec<(&str, &str)> = vec![
        ("q", q.q.as_deref().unwrap_or("")),
        ("state", q.state.map(TaskState::as_str).unwrap_or("")),
        ("job", q.job.as_deref().unwrap_or("")),
        ("trigger", q.trigger.map(TriggerKind::as_str).unwrap_or("")),
        (
            "sort",
            if q.sort == TaskSort::NextRun {
                ""
            } else {
                q.sort.as_str()
            },
        ),
        ("dir", if q.desc { "desc" } else { "" }),
        ("per_page", &per_page_s),
        ("page", &page_s),
    ];
    let sort_link = |sort: TaskSort, label: &str| {
        let active = q.sort == sort;
        let desc = active && !q.desc;
        let mut pairs: Vec<(&str, &str)> = params
            .iter()
            .filter(|(k, _)| !matches!(*k, "sort" | "dir" | "page"))
            .copied()
            .collect();
        pairs.push(("sort", sort.as_str()));
        if desc {
            pairs.push(("dir", "desc"));
        }
        let arrow = match (active, q.desc) {
            (true, false) => " ▲",
            (true, true) => " ▼",
            _ => "",
        };
        let aria = match (active, q.desc) {
            (true, false) => Some("ascending"),
            (true, true) => Some("descending"),
            _ => None,
        };
        html! {
            th scope="col" aria-sort=[aria] { a href=(u.with_query("/tasks", pairs)) { (label) (arrow) } }
        }
    };
    html! {
        form.filters method="get" action=(u.at("/tasks")) role="search" {
            label.grow { span.sr-only { "Search" }
                input type="search" name="q" value=(q.q.as_deref().unwrap_or("")) placeholder="Search id, name or job…";
            }
            label { span.sr-only { "State" }
                select name="state" {
                    option value="" { "Any state" }
                    @for st in TaskState::ALL {
                        option value=(st.as_str()) selected[q.state == Some(st)] { (st.as_str()) }
                    }
                }
            }
            label { span.sr-only { "Job" }
                select name="job" {
                    option value="" { "Any job" }
                    @for j in jobs {
                        option value=(j) selected[q.job.as_deref() == Some(j.as_str())] { (j) }
                    }
                }
            }
            label { span.sr-only { "Trigger" }
                select name="trigger" {
                    option value="" { "Any trigger" }
                    @for k in [TriggerKind::Interval, TriggerKind::Cron, TriggerKind::Date] {
                        option value=(k.as_str()) selected[q.trigger == Some(k)] { (k.as_str()) }
                    }
                }
            }
            @if q.sort != TaskSort::NextRun { input type="hidden" name="sort" value=(q.sort.as_str()); }
            @if q.desc { input type="hidden" name="dir" value="desc"; }
            button.btn.btn-primary type="submit" { "Filter" }
            a.btn href=(u.at("/tasks")) { "Reset" }
            @if v.can_admin { a.btn.btn-primary.push href=(u.at("/tasks/new")) { "+ New task" } }
        }
        // Bulk actions only when there are rows to select.
        @if v.can_operate && !page.items.is_empty() {
            form #bulk method="post" action=(u.at("/tasks/bulk/run")) {
                (v.csrf_field())
                input type="hidden" name="back" value=(here);
                div.bulkbar {
                    span.muted { "With selected:" }
                    button.btn type="submit" formaction=(u.at("/tasks/bulk/run")) { "Run now" }
                    button.btn type="submit" formaction=(u.at("/tasks/bulk/pause")) { "Pause" }
                    button.btn type="submit" formaction=(u.at("/tasks/bulk/resume")) { "Resume" }
                    @if v.can_admin {
                        button.btn.btn-danger type="submit" formaction=(u.at("/tasks/bulk/remove")) data-confirm="Remove the selected tasks? Their history is kept." { "Remove" }
                    }
                }
            }
        }
        @if v.can_operate {
            form #row-actions method="post" action=(u.at("/tasks")) hidden {
                (v.csrf_field())
                input type="hidden" name="back" value=(here);
            }
        }
        div.table-wrap data-live="tasks" {
            @if page.items.is_empty() {
                div.empty.card {
                    @if q.q.is_some() || q.state.is_some() || q.job.is_some() || q.trigger.is_some() {
                        p { "No task matches these filters. " a href=(u.at("/tasks")) { "Clear the filters" } "." }
                    } @else {
                        p { "No tasks yet. " a href=(u.at("/tasks/new")) { "Create one" } " from a registered job, or add tasks in code with Scheduler::add." }
                    }
                }
            } @else {
                table.table.tasks {
                    caption.sr-only { "Tasks" }
                    thead {
                        tr {
                            @if v.can_operate { th scope="col" { input type="checkbox" data-select-all="id" aria-label="Select all tasks on this page"; } }
                            (sort_link(TaskSort::Name, "Task"))
                            th scope="col" { "Job" }
                            th scope="col" { "Trigger" }
                            (sort_link(TaskSort::NextRun, "Next run"))
                            (sort_link(TaskSort::LastRun, "Last run"))
                            (sort_link(TaskSort::State, "State"))
                            th scope="col" { span.sr-only { "Actions" } }
                        }
                    }
                    tbody {
                        (Rows(v, &page.items))
                    }
                }
            }
        }
        (pager(v, "/tasks", &params, page.page, page.pages(), page.total))
    }
}

/// A row's action: a button of the page's one shared action form (so the CSRF token and the
/// way back are sent once per page, not once per button).
/// The table's rows, with room for all of them reserved once instead of the page growing by
/// doubling as rows arrive.
struct Rows<'a>(&'a View<'a>, &'a [TaskInfo]);

/// About what one row takes, in bytes.
const ROW_BYTES: usize = 1100;

impl Render for Rows<'_> {
    fn render_to(&self, out: &mut String) {
        out.reserve(self.1.len() * ROW_BYTES);
        for t in self.1 {
            row(self.0, t).render_to(out);
        }
    }
}

/// A row's action button, submitting the page's shared action form to `action`; written
/// straight into the page (up to three per row).
struct RowButton {
    action: String,
    label: &'static str,
    class: &'static str,
    confirm: Option<String>,
}

fn row_button(
    action: String,
    label: &'static str,
    class: &'static str,
    confirm: Option<String>,
) -> RowButton {
    RowButton {
        action,
        label,
        class,
        confirm,
    }
}

impl Render for RowButton {
    fn render_to(&self, out: &mut String) {
        out.push_str("<button class=\"");
        out.push_str(self.class);
        out.push_str("\" type=\"submit\" form=\"row-actions\" formaction=\"");
        escape_into(out, &self.action);
        out.push('"');
        if let Some(c) = &self.confirm {
            out.push_str(" data-confirm=\"");
            escape_into(out, c);
            out.push('"');
        }
        out.push('>');
        out.push_str(self.label);
        out.push_str("</button>");
    }
}

fn row(v: &View<'_>, t: &TaskInfo) -> Markup {
    let u = v.urls;
    let id = &t.task.id;
    html! {
        tr.paused[t.state == TaskState::Paused] {
            @if v.can_operate { td { input type="checkbox" name="id" value=(Esc(id)) form="bulk" aria-label={"Select " (Esc(id))}; } }
            td {
                a.task-name href=(Esc(&u.task(id, ""))) { (Esc(&t.task.name)) }
                @if t.task.name != *id { div.mono.muted.small { (Esc(id)) } }
            }
            td.mono { (Esc(&t.task.job)) @if !t.job_registered { " " span.badge.b-failed title="No job of this name is registered in this process" { "unregistered" } } }
            td.trigger { (Esc(&t.trigger_text)) }
            td { (when(v, t.next_fire)) }
            td {
                @if let Some(l) = &t.last_run {
                    a href=(Esc(&u.run(l.run_id))) { (StatusBadge(l.status)) }
                    " " (when(v, l.finished_at.or(Some(l.scheduled_at))))
                } @else { span.muted { "never" } }
            }
            td { (StateBadge(t.state)) }
            td.actions {
                @if v.can_operate {
                    (row_button(u.task(id, "/run"), "Run", "btn", None))
                    @if t.task.paused {
                        (row_button(u.task(id, "/resume"), "Resume", "btn", None))
                    } @else {
                        (row_button(u.task(id, "/pause"), "Pause", "btn", None))
                    }
                }
                @if v.can_admin {
                    (row_button(u.task(id, "/remove"), "Remove", "btn btn-danger", Some(format!("Remove task {id}? Its history is kept."))))
                }
            }
        }
    }
}
