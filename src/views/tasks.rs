//! The task list: search, filters, sortable columns, paging, row and bulk actions.

use maud::{html, Markup, Render};

use jiff::Timestamp;

use super::components::{escape_into, pager, relative_into, when_into, StateBadge, StatusBadge};
use super::fragments::{Fragments, Holes, Level};
use super::View;
use crate::policy::ActionTarget;
use crate::scheduler::{Page, TaskInfo, TaskQuery, TaskSort, TaskState, TriggerKind};

/// The tasks body. `here` is the current relative URL (actions come back to it). The rows are
/// written straight into the page being rendered around them (see [`TasksBody`]), from
/// `kept` rows where they are still right.
pub(crate) fn tasks<'a>(
    v: &'a View<'a>,
    q: &TaskQuery,
    page: &'a Page<TaskInfo>,
    jobs: &[String],
    here: &str,
    kept: Option<&'a Fragments>,
    progress: &'a [crate::scheduler::LiveProgress],
) -> TasksBody<'a> {
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
        ("attention", if q.attention { "1" } else { "" }),
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
    let sort_link = |sort: TaskSort, label: &'static str| {
        let active = q.sort == sort;
        // The other filters, then this sort: at most 6 + 2 pairs.
        let mut pairs = [("", ""); 8];
        let mut n = 0;
        for &(k, val) in params
            .iter()
            .filter(|(k, _)| !matches!(*k, "sort" | "dir" | "page"))
        {
            pairs[n] = (k, val);
            n += 1;
        }
        pairs[n] = ("sort", sort.as_str());
        n += 1;
        if active && !q.desc {
            pairs[n] = ("dir", "desc");
            n += 1;
        }
        SortHead {
            urls: u,
            pairs,
            n,
            label,
            order: active.then_some(q.desc),
        }
    };
    let head = html! {
        form.filters method="get" action=(u.href("/tasks")) role="search" {
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
            label.check { input type="checkbox" name="attention" value="1" checked[q.attention]; " Needs attention" }
            @if q.sort != TaskSort::NextRun { input type="hidden" name="sort" value=(q.sort.as_str()); }
            @if q.desc { input type="hidden" name="dir" value="desc"; }
            button.btn type="submit" { "Filter" }
            a.btn href=(u.href("/tasks")) { "Reset" }
            @if v.can_admin { a.btn.btn-primary.push href=(u.href("/tasks/new")) { "+ New task" } }
        }
        // Bulk actions only when there are rows to select.
        @if v.can_operate && !page.items.is_empty() {
            form #bulk method="post" action=(u.href("/tasks/bulk/run")) {
                (v.csrf_field())
                input type="hidden" name="back" value=(here);
                div.bulkbar {
                    span.muted { "With selected:" }
                    button.btn type="submit" formaction=(u.href("/tasks/bulk/run")) { "Run now" }
                    button.btn type="submit" formaction=(u.href("/tasks/bulk/pause")) { "Pause" }
                    button.btn type="submit" formaction=(u.href("/tasks/bulk/resume")) { "Resume" }
                    @if v.can_admin {
                        button.btn.btn-danger type="submit" formaction=(u.href("/tasks/bulk/remove")) data-confirm="Remove the selected tasks? Their history is kept." { "Remove" }
                    }
                }
            }
        }
        @if v.can_operate {
            form #row-actions method="post" action=(u.href("/tasks")) hidden {
                (v.csrf_field())
                input type="hidden" name="back" value=(here);
            }
        }
    };
    let table = html! {
            @if page.items.is_empty() {
                div.empty.card {
                    @if q.attention && q.q.is_none() && q.state.is_none() && q.job.is_none() && q.trigger.is_none() {
                        p { "No task needs attention: no alert is open. " a href=(u.href("/tasks")) { "All tasks" } "." }
                    } @else if q.q.is_some() || q.state.is_some() || q.job.is_some() || q.trigger.is_some() || q.attention {
                        p { "No task matches these filters. " a href=(u.href("/tasks")) { "Clear the filters" } "." }
                    } @else {
                        p { "No tasks yet. " a href=(u.href("/tasks/new")) { "Create one" } " from a registered job, or add tasks in code with Scheduler::add." }
                    }
                }
            } @else {
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
            }
    };
    TasksBody {
        head,
        table,
        // Rows drawn with a narrowing hook differ per user and task: they are not kept.
        rows: Rows(
            v,
            &page.items,
            kept.filter(|_| !v.narrowing.is_set()),
            progress,
        ),
        pager: pager(
            v,
            "/tasks",
            &params,
            page.page,
            page.pages(),
            page.total,
            page.estimated,
            &crate::views::components::PagerCursors {
                before: page
                    .prev_cursor(q.sort, q.cursor.as_ref())
                    .map(|c| c.encode(q.sort)),
                after: page
                    .next_cursor(q.sort, q.cursor.as_ref())
                    .map(|c| c.encode(q.sort)),
                keyset: true,
            },
        ),
    }
}

/// A sortable column's header: a link that sorts by it (the other way when it is the sort
/// already), marked with the current order. Written straight into the page.
struct SortHead<'a> {
    urls: &'a crate::links::Urls,
    pairs: [(&'a str, &'a str); 8],
    n: usize,
    label: &'static str,
    /// `Some(descending)` when this is the current sort.
    order: Option<bool>,
}

impl Render for SortHead<'_> {
    fn render_to(&self, out: &mut String) {
        out.push_str("<th scope=\"col\"");
        let (aria, arrow) = match self.order {
            Some(false) => (" aria-sort=\"ascending\"", " ▲"),
            Some(true) => (" aria-sort=\"descending\"", " ▼"),
            None => ("", ""),
        };
        out.push_str(aria);
        out.push_str("><a href=\"");
        self.urls
            .href_query("/tasks", &self.pairs[..self.n])
            .render_to(out);
        out.push_str("\">");
        out.push_str(self.label);
        out.push_str(arrow);
        out.push_str("</a></th>");
    }
}

/// The tasks body: filters and forms, then the table, whose rows go straight into the output
/// instead of through a template's buffer of their own, then the pager.
pub(crate) struct TasksBody<'a> {
    head: Markup,
    /// The empty state, or the table's caption and header.
    table: Markup,
    rows: Rows<'a>,
    pager: Markup,
}

impl Render for TasksBody<'_> {
    fn render_to(&self, out: &mut String) {
        out.push_str(&self.head.0);
        out.push_str("<div class=\"table-wrap\" data-live=\"tasks\">");
        if self.rows.1.is_empty() {
            // The empty state.
            out.push_str(&self.table.0);
        } else {
            out.push_str("<table class=\"table tasks\">");
            out.push_str(&self.table.0);
            out.push_str("<tbody>");
            self.rows.render_to(out);
            out.push_str("</tbody></table>");
        }
        out.push_str("</div>");
        out.push_str(&self.pager.0);
    }
}

/// The table's rows, with room for all of them reserved once instead of the page growing by
/// doubling as rows arrive; copied from kept rows when there are some (see [`Fragments`]).
/// The fourth part: the progress of running runs, drawn into their tasks' rows (which are
/// then written afresh, not kept).
struct Rows<'a>(
    &'a View<'a>,
    &'a [TaskInfo],
    Option<&'a Fragments>,
    &'a [crate::scheduler::LiveProgress],
);

/// About what one row takes, in bytes.
const ROW_BYTES: usize = 1100;

impl Render for Rows<'_> {
    fn render_to(&self, out: &mut String) {
        let (v, items) = (self.0, self.1);
        out.reserve(items.len() * ROW_BYTES);
        // The newest running run's progress of each running task.
        let progress_of = |t: &TaskInfo| {
            (t.running > 0)
                .then(|| self.3.iter().find(|p| p.1 == t.task.id).map(|p| &p.3))
                .flatten()
        };
        let Some(kept) = self.2 else {
            for t in items {
                Row(v, t, progress_of(t)).write(out, None);
            }
            return;
        };
        let level = Level::of(v.can_operate, v.can_admin);
        let now = v.now;
        kept.with_slots(items, |slots| {
            for (slot, t) in slots.iter().zip(items) {
                // A row with a progress bar changes as the run goes: written afresh.
                if let Some(p) = progress_of(t) {
                    Row(v, t, Some(p)).write(out, None);
                    continue;
                }
                let key = (v.urls.base(), v.status.timezone.as_str());
                let row = kept.row(slot, level, key, |text, holes| {
                    Row(v, t, None).write(text, Some(holes))
                });
                match row {
                    Some(row) => row.write(out, |out, at| relative_into(out, now, at)),
                    None => Row(v, t, None).write(out, None),
                }
            }
        });
    }
}

/// One table row, written straight into the page: the tasks table is the dashboard's
/// hottest view, and a maud template per row cost an allocation and a copy per row plus one
/// per cell widget. Same markup as a template would give (a test compares them); every task
/// value goes through [`escape_into`], and URLs are built from encoded parts that need no escaping.
struct Row<'a>(&'a View<'a>, &'a TaskInfo, Option<&'a crate::Progress>);

impl Row<'_> {
    /// Appends the row. With `holes`, its relative times are left out and their places
    /// noted instead (offsets from where the row starts).
    fn write(&self, out: &mut String, mut holes: Option<&mut Holes>) {
        let (v, t) = (self.0, self.1);
        let start = out.len();
        let mut when = |out: &mut String, at: Option<Timestamp>| {
            when_into(out, v, at, |out, at| match holes.as_deref_mut() {
                Some(h) => h.push(out.len() - start, at),
                None => relative_into(out, v.now, at),
            })
        };
        let u = v.urls;
        // Taken apart without `..`: a new field does not compile until this row says
        // whether it shows it.
        let TaskInfo {
            task,
            state,
            trigger_kind: _,
            trigger_text,
            next_fire,
            last_run,
            running: _,
            created_at: _,
            updated_at: _,
            job_registered,
        } = t;
        let id = task.id.as_str();
        out.push_str(if *state == TaskState::Paused {
            "<tr class=\"paused\">"
        } else {
            "<tr>"
        });
        if v.can_operate {
            out.push_str("<td class=\"sel\"><input type=\"checkbox\" name=\"id\" value=\"");
            escape_into(out, id);
            out.push_str("\" form=\"bulk\" aria-label=\"Select ");
            escape_into(out, id);
            out.push_str("\"></td>");
        }
        out.push_str("<td class=\"name\"><a class=\"task-name\" href=\"");
        u.push_task(out, id, "");
        out.push_str("\">");
        escape_into(out, &task.name);
        out.push_str("</a>");
        if task.name != id {
            out.push_str("<div class=\"mono muted small\">");
            escape_into(out, id);
            out.push_str("</div>");
        }
        out.push_str("</td><td class=\"mono job\">");
        escape_into(out, &task.job);
        if !job_registered {
            out.push_str(" <span class=\"badge b-failed\" title=\"No job of this name is registered in this process\">unregistered</span>");
        }
        out.push_str("</td><td class=\"trigger\">");
        escape_into(out, trigger_text);
        out.push_str("</td><td class=\"next\">");
        when(out, *next_fire);
        out.push_str("</td><td class=\"last\">");
        match last_run {
            Some(l) => {
                out.push_str("<a href=\"");
                u.push_run(out, l.run_id);
                out.push_str("\">");
                StatusBadge(l.status).render_to(out);
                out.push_str("</a> ");
                when(out, l.finished_at.or(Some(l.scheduled_at)));
            }
            None => out.push_str("<span class=\"muted\">never</span>"),
        }
        out.push_str("</td><td class=\"state\">");
        StateBadge(*state).render_to(out);
        if let Some(p) = self.2 {
            super::runs::progress(p).render_to(out);
        }
        out.push_str("</td><td class=\"actions\">");
        if v.can_operate {
            // The host's narrowing hook per button; with one set, rows are not kept.
            let may = |action| v.allows(action, &ActionTarget::task(id, &task.job));
            if may("task.run") {
                button(out, u, id, "/run", "Run", "btn", false);
            }
            // A completed task has nothing left to pause.
            if task.paused {
                if may("task.resume") {
                    button(out, u, id, "/resume", "Resume", "btn", false);
                }
            } else if *state != TaskState::Completed && may("task.pause") {
                button(out, u, id, "/pause", "Pause", "btn", false);
            }
        }
        // Removing is on the task's page and in the bulk bar, not a red button on every row.
        out.push_str("</td></tr>");
    }
}

/// A row's action button, submitting the page's shared action form (`submit` is a button's
/// default type; fifty rows of three buttons make the attribute worth leaving out).
fn button(
    out: &mut String,
    u: &crate::links::Urls,
    id: &str,
    action: &str,
    label: &str,
    class: &str,
    confirm: bool,
) {
    out.push_str("<button class=\"");
    out.push_str(class);
    out.push_str("\" form=\"row-actions\" formaction=\"");
    u.push_task(out, id, action);
    out.push('"');
    if confirm {
        out.push_str(" data-confirm=\"Remove task ");
        escape_into(out, id);
        out.push_str("? Its history is kept.\"");
    }
    out.push('>');
    out.push_str(label);
    out.push_str("</button>");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use maud::html;

    use super::*;
    use crate::scheduler::{LastRun, RunStatus, Task, TaskInfo, TaskRecord, Trigger};
    use crate::views::components::when;

    /// The row as a maud template: what [`Row`] must write.
    fn template(v: &View<'_>, t: &TaskInfo) -> Markup {
        let u = v.urls;
        let id = &t.task.id;
        let button = |action: &str, label: &str, class: &str, confirm: Option<String>| {
            html! { button class=(class) form="row-actions" formaction=(u.task(id, action)) data-confirm=[confirm] { (label) } }
        };
        html! {
            tr.paused[t.state == TaskState::Paused] {
                @if v.can_operate { td.sel { input type="checkbox" name="id" value=(id) form="bulk" aria-label={"Select " (id)}; } }
                td.name {
                    a.task-name href=(u.task(id, "")) { (t.task.name) }
                    @if t.task.name != *id { div.mono.muted.small { (id) } }
                }
                td.mono.job { (t.task.job) @if !t.job_registered { " " span.badge.b-failed title="No job of this name is registered in this process" { "unregistered" } } }
                td.trigger { (t.trigger_text) }
                td.next { (when(v, t.next_fire)) }
                td.last {
                    @if let Some(l) = &t.last_run {
                        a href=(u.run(l.run_id)) { (StatusBadge(l.status)) }
                        " " (when(v, l.finished_at.or(Some(l.scheduled_at))))
                    } @else { span.muted { "never" } }
                }
                td.state { (StateBadge(t.state)) }
                td.actions {
                    @if v.can_operate {
                        @let may = |action| v.allows(action, &ActionTarget::task(id, &t.task.job));
                        @if may("task.run") { (button("/run", "Run", "btn", None)) }
                        @if t.task.paused { @if may("task.resume") { (button("/resume", "Resume", "btn", None)) } }
                        @else if t.state != TaskState::Completed && may("task.pause") { (button("/pause", "Pause", "btn", None)) }
                    }

                }
            }
        }
    }

    fn info(
        id: &str,
        name: &str,
        paused: bool,
        last: Option<RunStatus>,
        registered: bool,
    ) -> TaskInfo {
        let at: jiff::Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        let mut task = Task::new(id, "job<&>").name(name);
        task.paused = paused;
        let trigger = Trigger::new(&task.trigger, &jiff::tz::TimeZone::UTC).unwrap();
        let rec = TaskRecord {
            task: Arc::new(task),
            trigger,
            anchor: at,
            created_at: at,
            updated_at: at,
            next_fire: (!paused).then(|| at + std::time::Duration::from_secs(90)),
            last_run: last.map(|status| LastRun {
                run_id: 42,
                status,
                scheduled_at: at,
                finished_at: Some(at + std::time::Duration::from_secs(3)),
                error: None,
            }),
            running: 0,
        };
        TaskInfo::new(rec, registered)
    }

    #[test]
    fn hand_written_row_matches_the_template() {
        let assets = crate::views::assets::Assets::default_theme();
        let now: jiff::Timestamp = "2026-03-01T10:00:30Z".parse().unwrap();
        let st = crate::views::test_status("Europe/Berlin", now);
        let rows = [
            info("plain", "plain", false, None, true),
            info(
                "with-name",
                "Nightly <report> & \"more\"",
                false,
                Some(RunStatus::TimedOut),
                true,
            ),
            info(
                "paused.one",
                "Paused",
                true,
                Some(RunStatus::Succeeded),
                false,
            ),
            info("odd:id_1", "odd", false, Some(RunStatus::Failed), true),
        ];
        for prefix in ["", "/ops/jobs"] {
            let urls = crate::links::Urls::new(crate::links::MountPrefix::new(prefix).unwrap());
            for (operate, admin) in [(false, false), (true, false), (true, true)] {
                let v = View::test(&urls, &assets, &st, operate, admin);
                for t in &rows {
                    let mut ours = String::new();
                    Row(&v, t, None).write(&mut ours, None);
                    // maud writes an empty `class=""` for an unset class toggle; the row omits it.
                    let want = template(&v, t)
                        .into_string()
                        .replace("<tr class=\"\">", "<tr>");
                    assert_eq!(ours, want, "{} {operate} {admin}", t.task.id);
                }
            }
        }
    }

    /// Rows copied from kept ones equal rows written afresh: at a later time (relative
    /// times move on), for every permission level, after a task changes, and for a second
    /// base path or time zone sharing the kept rows.
    #[test]
    fn kept_rows_match_fresh_ones() {
        let assets = crate::views::assets::Assets::default_theme();
        let kept = Fragments::default();
        let mut rows = vec![
            info("plain", "plain", false, None, true),
            info("named", "Named <x>", false, Some(RunStatus::Failed), true),
            info(
                "paused.one",
                "Paused",
                true,
                Some(RunStatus::Succeeded),
                false,
            ),
        ];
        let render = |rows: &[TaskInfo],
                      (prefix, zone): (&str, &str),
                      now: jiff::Timestamp,
                      level: usize,
                      kept: Option<&Fragments>| {
            let urls = crate::links::Urls::new(crate::links::MountPrefix::new(prefix).unwrap());
            let st = crate::views::test_status(zone, now);
            let v = View::test(&urls, &assets, &st, level & 1 != 0, level & 2 != 0);
            let mut out = String::new();
            Rows(&v, rows, kept, &[]).render_to(&mut out);
            out
        };
        let t0: jiff::Timestamp = "2026-03-01T10:00:30Z".parse().unwrap();
        for (step, now) in [
            t0,
            t0 + std::time::Duration::from_secs(45),
            t0 + std::time::Duration::from_secs(7200),
        ]
        .into_iter()
        .enumerate()
        {
            if step == 2 {
                // A task changes: its kept rows must not be used.
                rows[0] = info("plain", "Renamed", true, Some(RunStatus::TimedOut), true);
            }
            for level in 0..4 {
                for key in [
                    ("/ops", "UTC"),
                    ("/other/base", "UTC"),
                    ("/ops", "America/New_York"),
                ] {
                    let fresh = render(&rows, key, now, level, None);
                    assert_eq!(
                        render(&rows, key, now, level, Some(&kept)),
                        fresh,
                        "{step} {level} {key:?}"
                    );
                }
            }
            let fresh = render(&rows, ("/ops", "UTC"), now, 2, None);
            assert!(
                fresh.contains(if step == 0 { ">in 1m" } else { "ago<" }),
                "{fresh}"
            );
        }
        assert_eq!(kept.len(), 3);
    }
}
