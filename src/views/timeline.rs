//! The week ahead: a heat map of upcoming fires (a row an hour of minutes, or a row a day of
//! hours), the busiest slots, the minutes where many tasks start together, and one slot's
//! tasks. Every time is a `<time>` the zone switch can show in the viewer's zone.

use maud::{html, Markup, Render};

use super::components::{escape_into, Abs};
use super::View;
use crate::scheduler::{Slot, SlotTasks, Timeline, TimelineQuery, TimelineWindow, TriggerKind};

/// The load where a trigger's fires fall, for the task form's preview.
pub(crate) struct Load {
    /// Per previewed fire: its slot in the 24-hour (minute) or 7-day (hour) timeline and
    /// that slot's length in seconds; `None` past 7 days.
    pub(crate) per_fire: Vec<Option<(Slot, i64)>>,
    /// The minute of the hour where the fewest tasks start, and how many start in it in an
    /// average hour.
    pub(crate) quietest: (u8, u64),
    /// A minute with this many tasks is a pile-up.
    pub(crate) pileup: u32,
}

impl Load {
    /// The first previewed fire that lands on a pile-up, if one does.
    pub(crate) fn crowded(&self) -> Option<&Slot> {
        self.per_fire
            .iter()
            .flatten()
            .find(|(s, step)| *step == 60 && s.tasks >= self.pileup)
            .map(|(s, _)| s)
    }
}

impl Load {
    /// What else fires where previewed fire `i` falls, and whether that is a pile-up.
    pub(crate) fn note(&self, i: usize) -> Option<(String, bool)> {
        match self.per_fire.get(i).copied().flatten()? {
            (s, 60) => Some((
                format!(
                    "{} {} in that minute",
                    s.tasks,
                    if s.tasks == 1 {
                        "task fires"
                    } else {
                        "tasks fire"
                    }
                ),
                s.tasks >= self.pileup,
            )),
            (s, _) => Some((format!("{} fires in that hour", s.fires), false)),
        }
    }

    /// The advice when a previewed fire lands on a pile-up, the time shown by `when`.
    pub(crate) fn advice(&self, when: impl Fn(jiff::Timestamp) -> String) -> Option<String> {
        let s = self.crowded()?;
        Some(format!(
            "{} tasks already start at {}. Spread them: add a jitter (e.g. 30s), or move to minute :{:02} of the hour, where about {} start an hour.",
            s.tasks,
            when(s.at),
            self.quietest.0,
            self.quietest.1
        ))
    }
}

/// The line under a previewed fire: what else fires there.
pub(crate) fn load_note(load: &Load, i: usize) -> Markup {
    html! {
        @if let Some((text, crowded)) = load.note(i) {
            " " span.load.crowded[crowded] { "· " (text) }
        }
    }
}

/// The advice under the preview when a fire lands on a pile-up.
pub(crate) fn advice(v: &View<'_>, load: &Load) -> Markup {
    html! {
        @if let Some(text) = load.advice(|at| at.to_zoned(v.tz.clone()).strftime("%H:%M %Z").to_string()) {
            p.flash.flash-err.advice role="status" { (text) }
        }
    }
}

/// A slot's start, as the page shows it: in the scheduler's zone, to the minute.
fn slot_time(v: &View<'_>, at: jiff::Timestamp) -> Markup {
    let z = at.to_zoned(v.tz.clone());
    let text = z.strftime("%Y-%m-%d %H:%M %Z").to_string();
    html! { time datetime=(at.to_string()) data-short { (text) } }
}

fn label(window: TimelineWindow) -> &'static str {
    match window {
        TimelineWindow::Day => "the next 24 hours, per minute",
        TimelineWindow::Week => "the next 7 days, per hour",
    }
}

/// The page body.
pub(crate) fn timeline(
    v: &View<'_>,
    q: &TimelineQuery,
    t: &Timeline,
    slot: Option<&SlotTasks>,
    jobs: &[String],
) -> Markup {
    let u = v.urls;
    // The filters as query pairs, for every link the page makes.
    let mut pairs: Vec<(&str, String)> = vec![("window", q.window.as_str().to_string())];
    if let Some(j) = &q.job {
        pairs.push(("job", j.clone()));
    }
    if let Some(k) = q.trigger {
        pairs.push(("trigger", k.as_str().to_string()));
    }
    if let Some(s) = &q.q {
        pairs.push(("q", s.clone()));
    }
    let with = |extra: &[(&str, String)]| {
        let all: Vec<(&str, &str)> = pairs
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .chain(extra.iter())
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        u.with_query("/timeline", all)
    };
    let slot_href = |s: &Slot| {
        let mut h = with(&[("at", s.at.as_second().to_string())]);
        h.push_str("#slot");
        h
    };
    html! {
        form.filters method="get" action=(u.href("/timeline")) role="search" {
            label.grow { span.sr-only { "Search" }
                input type="search" name="q" value=(q.q.as_deref().unwrap_or("")) placeholder="Search id, name or job…";
            }
            label { span.sr-only { "Job" }
                select name="job" {
                    option value="" { "Any job" }
                    @for j in jobs { option value=(j) selected[q.job.as_deref() == Some(j.as_str())] { (j) } }
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
            label { span.sr-only { "Window" }
                select name="window" {
                    option value="24h" selected[q.window == TimelineWindow::Day] { "24 hours, per minute" }
                    option value="7d" selected[q.window == TimelineWindow::Week] { "7 days, per hour" }
                }
            }
            button.btn type="submit" { "Show" }
            a.btn href=(u.href("/timeline")) { "Reset" }
        }
        @if v.status.paused {
            div.flash.flash-err role="status" { "The scheduler is paused: these fires happen only once it is resumed." }
        }
        section.card {
            h2 { "Upcoming fires, " (label(q.window)) }
            p.muted {
                (t.total_fires) " fires from " (t.tasks_firing) " of the " (t.tasks_counted)
                " tasks that will fire (paused tasks are not counted; jitter is not shown), counted from "
                (slot_time(v, t.from)) "."
            }
            (Heatmap { v, t, href: &slot_href })
            p.hm-legend.muted aria-hidden="true" {
                "Fewer " @for l in 0..=5 { span class={"c l" (l)} {} } " more fires"
            }
        }
        div.grid2 {
            section.card {
                h2 { "Busiest " @if q.window == TimelineWindow::Day { "minutes" } @else { "hours" } }
                @if t.busiest.is_empty() {
                    p.empty { "Nothing fires in this window." }
                } @else {
                    ol.slots {
                        @for s in &t.busiest {
                            li { a href=(slot_href(s)) { (slot_time(v, s.at)) } ": " (s.fires) " fires from " (s.tasks) @if s.tasks == 1 { " task" } @else { " tasks" } }
                        }
                    }
                }
            }
            section.card {
                h2 { "Pile-ups" }
                @if q.window == TimelineWindow::Week {
                    p.muted { "Minutes where many tasks start together are found over the next 24 hours." }
                    a.btn href=(with(&[("window", "24h".into())])) { "Show the next 24 hours" }
                } @else if t.pileups.is_empty() {
                    p.empty { "No minute has " (crate::scheduler::PILEUP_TASKS) " or more tasks starting together (and four times the average)." }
                } @else {
                    p.muted { "Minutes where at least " (crate::scheduler::PILEUP_TASKS) " tasks start together, four times the average or more: spread them with a jitter or another minute." }
                    ul.slots {
                        @for s in &t.pileups {
                            li { span.badge.b-failed { "pile-up" } " " a href=(slot_href(s)) { (slot_time(v, s.at)) } ": " (s.tasks) " tasks start together" }
                        }
                    }
                }
            }
        }
        @if let Some(st) = slot {
            section.card #slot {
                h2 { "Tasks firing at " (slot_time(v, st.at)) @if st.step_secs == 3600 { " (that hour)" } }
                p.muted { (st.total) @if st.total == 1 { " task fires" } @else { " tasks fire" } " in this slot"
                    @if st.total as usize > st.tasks.len() { "; the " (st.tasks.len()) " with the most fires are listed" } "." }
                @if !st.tasks.is_empty() {
                    div.table-wrap {
                        table.table {
                            thead { tr { th scope="col" { "Task" } th scope="col" { "Job" } th scope="col" { "Fires" } th scope="col" { "First" } } }
                            tbody {
                                @for task in &st.tasks {
                                    tr {
                                        td { a href=(u.task(&task.id, "")) { (task.name) } @if task.name != task.id { div.mono.muted.small { (task.id) } } }
                                        td.mono { (task.job) }
                                        td { (task.fires) }
                                        td { (Abs(v, task.first)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The heat map: a row per hour of minutes (24 hours) or per day of hours (7 days), each cell
/// shaded by its fires against the busiest and linking to its tasks.
struct Heatmap<'a> {
    v: &'a View<'a>,
    t: &'a Timeline,
    href: &'a dyn Fn(&Slot) -> String,
}

impl Render for Heatmap<'_> {
    fn render_to(&self, out: &mut String) {
        let t = self.t;
        let per_row = match t.window {
            TimelineWindow::Day => 60,
            TimelineWindow::Week => 24,
        };
        // Shades spread between the quietest and the busiest slot that fire, so that peaks
        // stand out of a schedule busy all the time.
        let most = t.fires.iter().copied().max().unwrap_or(0);
        let least = t
            .fires
            .iter()
            .copied()
            .filter(|&f| f > 0)
            .min()
            .unwrap_or(0);
        let unit = if t.window == TimelineWindow::Day {
            "minute"
        } else {
            "hour"
        };
        out.push_str(if per_row == 60 {
            "<div class=\"heatmap per-minute\" role=\"group\" tabindex=\"0\" aria-label=\"Fires per "
        } else {
            "<div class=\"heatmap per-hour\" role=\"group\" tabindex=\"0\" aria-label=\"Fires per "
        });
        out.push_str(unit);
        out.push_str(", a row per ");
        out.push_str(if per_row == 60 { "hour" } else { "day" });
        out.push_str("; the busiest are listed below\">");
        for (r, row) in t.fires.chunks(per_row).enumerate() {
            let first = t.slot(r * per_row);
            out.push_str("<div class=\"hm-row\"><span class=\"hm-label\">");
            slot_time(self.v, first.at).render_to(out);
            out.push_str("</span><span class=\"hm-cells\">");
            for (c, &fires) in row.iter().enumerate() {
                let s = t.slot(r * per_row + c);
                let level = match fires {
                    0 => 0,
                    _ if most == least => 3,
                    f => 1 + u64::from(f - least) * 4 / u64::from(most - least),
                };
                if fires == 0 {
                    out.push_str("<span class=\"c l0\"></span>");
                    continue;
                }
                let what = format!(
                    ": {fires} fire{} from {} task{}",
                    if fires == 1 { "" } else { "s" },
                    s.tasks,
                    if s.tasks == 1 { "" } else { "s" }
                );
                out.push_str("<a class=\"c l");
                out.push_str(&level.to_string());
                out.push_str("\" tabindex=\"-1\" href=\"");
                escape_into(out, &(self.href)(&s));
                out.push_str("\"><time datetime=\"");
                out.push_str(&s.at.to_string());
                out.push_str("\" data-suffix=\"");
                escape_into(out, &what);
                out.push_str("\" title=\"");
                let z = s.at.to_zoned(self.v.tz.clone());
                escape_into(out, &z.strftime("%Y-%m-%d %H:%M:%S %Z").to_string());
                escape_into(out, &what);
                out.push_str("\"></time></a>");
            }
            out.push_str("</span></div>");
        }
        out.push_str("</div>");
    }
}
