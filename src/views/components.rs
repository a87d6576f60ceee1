//! Small widgets: badges, times, durations, action buttons, pagination.

use jiff::{SignedDuration, Timestamp};
use maud::{html, Markup, Render};

use super::View;
use crate::scheduler::{RunStatus, TaskState};

pub(crate) use crate::links::{escape_into, Href};

/// A string spliced into a template through [`escape_into`] rather than maud's escaper, which
/// goes character by character: for the URLs and tokens every page carries dozens of.
pub(crate) struct Esc<S: AsRef<str>>(pub(crate) S);

impl<S: AsRef<str>> Render for Esc<S> {
    fn render_to(&self, out: &mut String) {
        escape_into(out, self.0.as_ref());
    }
}

/// A run outcome as a coloured badge with its name (never colour alone).
pub(crate) struct StatusBadge(pub(crate) RunStatus);

/// An alert's kind as a badge, coloured like the run outcome closest to it.
pub(crate) struct AlertBadge(pub(crate) crate::scheduler::AlertKind);

impl Render for AlertBadge {
    fn render_to(&self, out: &mut String) {
        use crate::scheduler::AlertKind as K;
        let class = match self.0 {
            K::Missed | K::Skipped => "b-missed",
            K::RunningLong => "b-running",
            _ => "b-failed",
        };
        out.push_str("<span class=\"badge ");
        out.push_str(class);
        out.push_str("\">");
        out.push_str(self.0.label());
        out.push_str("</span>");
    }
}

impl Render for StatusBadge {
    fn render_to(&self, out: &mut String) {
        let name = self.0.as_str();
        out.push_str("<span class=\"badge b-");
        out.push_str(name);
        out.push_str("\">");
        out.push_str(if self.0 == RunStatus::TimedOut {
            "timed out"
        } else {
            name
        });
        out.push_str("</span>");
    }
}

/// A task state as a badge.
pub(crate) struct StateBadge(pub(crate) TaskState);

impl Render for StateBadge {
    fn render_to(&self, out: &mut String) {
        let name = self.0.as_str();
        out.push_str("<span class=\"badge s-");
        out.push_str(name);
        out.push_str("\">");
        out.push_str(name);
        out.push_str("</span>");
    }
}

/// "in 5m", "3h ago", "now".
#[cfg(test)]
fn relative(now: Timestamp, at: Timestamp) -> String {
    let mut s = String::with_capacity(12);
    relative_into(&mut s, now, at);
    s
}

/// [`relative`], appended to `out`.
pub(crate) fn relative_into(out: &mut String, now: Timestamp, at: Timestamp) {
    let d = at.duration_since(now);
    let future = d.is_positive();
    let secs = d.abs().as_secs();
    if secs < 1 {
        out.push_str("now");
        return;
    }
    if future {
        out.push_str("in ");
    }
    short_into(out, secs);
    if !future {
        out.push_str(" ago");
    }
}

fn short(d: SignedDuration) -> String {
    let mut s = String::with_capacity(8);
    short_into(&mut s, d.as_secs());
    s
}

fn short_into(out: &mut String, s: i64) {
    use std::fmt::Write as _;
    let _ = match s {
        0..60 => write!(out, "{s}s"),
        60..3600 => write!(out, "{}m", s / 60),
        3600..86400 => write!(out, "{}h {}m", s / 3600, (s % 3600) / 60),
        _ => write!(out, "{}d {}h", s / 86400, (s % 86400) / 3600),
    };
}

/// An absolute time in the scheduler's zone: `2026-11-23 18:04:05 CET`. Formatted by hand:
/// it appears twice per table row, and `strftime` costs several times more.
pub(crate) fn absolute(v: &View<'_>, at: Timestamp) -> String {
    let mut s = String::with_capacity(28);
    absolute_into(&mut s, v, at);
    s
}

/// [`absolute`], appended to `out` (escaped: the zone abbreviation comes from the database).
pub(crate) fn absolute_into(out: &mut String, v: &View<'_>, at: Timestamp) {
    let info = v.tz.to_offset_info(at);
    let dt = info.offset().to_datetime(at);
    let year = dt.year();
    if (0..=9999).contains(&year) {
        let y = year as u16;
        push2(out, (y / 100) as u8);
        push2(out, (y % 100) as u8);
    } else {
        out.push_str(&year.to_string());
    }
    for (sep, n) in [
        ('-', dt.month()),
        ('-', dt.day()),
        (' ', dt.hour()),
        (':', dt.minute()),
        (':', dt.second()),
    ] {
        out.push(sep);
        push2(out, n as u8);
    }
    out.push(' ');
    escape_into(out, info.abbreviation());
}

/// Two decimal digits.
fn push2(out: &mut String, n: u8) {
    out.push(char::from(b'0' + n / 10 % 10));
    out.push(char::from(b'0' + n % 10));
}

/// A relative time with the absolute one on hover.
pub(crate) fn when<'a>(v: &'a View<'a>, at: Option<Timestamp>) -> When<'a> {
    When(v, at)
}

/// See [`when`]: written straight into the page (it appears twice per table row).
pub(crate) struct When<'a>(&'a View<'a>, Option<Timestamp>);

impl Render for When<'_> {
    fn render_to(&self, out: &mut String) {
        let now = self.0.now;
        when_into(out, self.0, self.1, |out, at| relative_into(out, now, at));
    }
}

/// [`when`], with its relative part written by `relative` (which may also leave it out and
/// note the place: see the kept task rows).
pub(crate) fn when_into(
    out: &mut String,
    v: &View<'_>,
    at: Option<Timestamp>,
    relative: impl FnOnce(&mut String, Timestamp),
) {
    let Some(at) = at else {
        out.push_str("<span class=\"muted\">—</span>");
        return;
    };
    time_open_into(out, v, at);
    relative(out, at);
    out.push_str("</time>");
}

/// An absolute time in the scheduler's zone, as `<time datetime=… data-abs>`: the page's
/// script may show it in the viewer's zone instead.
pub(crate) struct Abs<'a>(pub(crate) &'a View<'a>, pub(crate) Timestamp);

impl Render for Abs<'_> {
    fn render_to(&self, out: &mut String) {
        out.push_str("<time datetime=\"");
        let _ = jiff::fmt::temporal::DateTimePrinter::new().print_timestamp(&self.1, &mut *out);
        out.push_str("\" data-abs>");
        absolute_into(out, self.0, self.1);
        out.push_str("</time>");
    }
}

/// The opening tag of [`when`]'s `<time>`: machine-readable and absolute forms.
fn time_open_into(out: &mut String, v: &View<'_>, at: Timestamp) {
    // Digits, letters, `-`, `:`, `.` and a zone abbreviation: nothing to escape but the
    // abbreviation, which comes from the time zone database.
    out.push_str("<time datetime=\"");
    let _ = jiff::fmt::temporal::DateTimePrinter::new().print_timestamp(&at, &mut *out);
    out.push_str("\" title=\"");
    absolute_into(out, v, at);
    out.push_str("\">");
}

/// A duration in milliseconds for people: `850 ms`, `12.4 s`, `3m 20s`.
pub(crate) fn millis(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => short(SignedDuration::from_millis(ms as i64)),
    }
}

/// How a button looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ButtonKind {
    Primary,
    Plain,
    Danger,
}

/// A one-button POST form that comes back to `back` (relative) afterwards. With `confirm`,
/// the script asks first; without the script, the server asks on a page of its own.
pub(crate) fn action_button(
    v: &View<'_>,
    action: &str,
    label: &str,
    kind: ButtonKind,
    confirm: Option<&str>,
    back: &str,
) -> Markup {
    let class = match kind {
        ButtonKind::Primary => "btn btn-primary",
        ButtonKind::Plain => "btn",
        ButtonKind::Danger => "btn btn-danger",
    };
    html! {
        form.inline method="post" action=(Esc(action)) data-confirm=[confirm] {
            (v.csrf_field())
            input type="hidden" name="back" value=(Esc(back));
            button.(class) type="submit" { (label) }
        }
    }
}

/// A pager link: `rel` with `params`, its `page` replaced, and the cursor (`after=` or
/// `before=`) given, if any, in place of the old one.
struct PageLink<'a> {
    urls: &'a crate::links::Urls,
    rel: &'a str,
    params: &'a [(&'a str, &'a str)],
    page: u32,
    cursor: Option<(&'static str, &'a str)>,
}

impl Render for PageLink<'_> {
    fn render_to(&self, out: &mut String) {
        let page = self.page.to_string();
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(self.params.len() + 2);
        pairs.extend(
            self.params
                .iter()
                .filter(|(k, _)| !matches!(*k, "page" | "after" | "before"))
                .copied(),
        );
        pairs.push(("page", &page));
        pairs.extend(self.cursor);
        self.urls.href_query(self.rel, &pairs).render_to(out);
    }
}

/// Where the pager's links start their pages: the previous page ends before `before` and the
/// next starts after `after`, found by index at any depth. Without them (or for the first
/// page) the links go by page number.
/// With `keyset`, the cursors alone say whether there is a page before or after (the page
/// number and the total may be stale once the list changed); a Previous to page 1 goes to
/// the list's start.
#[derive(Default)]
pub(crate) struct PagerCursors {
    pub(crate) before: Option<String>,
    pub(crate) after: Option<String>,
    pub(crate) keyset: bool,
}

/// Previous / next links keeping the other query parameters.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pager<'a>(
    v: &View<'a>,
    rel: &'a str,
    params: &'a [(&'a str, &'a str)],
    page: u32,
    pages: u32,
    total: usize,
    about: bool,
    cursors: &'a PagerCursors,
) -> Markup {
    let link = |page: u32, cursor: Option<(&'static str, &'a str)>| PageLink {
        urls: v.urls,
        rel,
        params,
        page,
        cursor,
    };
    // Page 1 is the list's start: no cursor needed, and none would be right after changes.
    let prev = cursors
        .before
        .as_deref()
        .filter(|_| page > 2)
        .map(|c| ("before", c));
    let next = cursors.after.as_deref().map(|c| ("after", c));
    html! {
        nav.pager aria-label="Pages" {
            span.muted {
                @if about { "about " }
                (total) " total · page " (page) " of " @if about { "about " } (pages)
            }
            @let (has_prev, has_next) = if cursors.keyset {
                (cursors.before.is_some() && page > 1, next.is_some())
            } else {
                (page > 1, page < pages)
            };
            @if has_prev {
                a.btn href=(link(page - 1, prev)) rel="prev" { "← Previous" }
            }
            @if has_next {
                a.btn href=(link(page + 1, next)) rel="next" { "Next →" }
            }
        }
    }
}

/// Under a value shown redacted: how many of its values are hidden (nothing when none is).
pub(crate) fn hidden_note(v: &serde_json::Value) -> Markup {
    let n = crate::policy::hidden(v);
    html! {
        @if n > 0 {
            p.hint.hidden-note {
                span.badge.b-hidden { "hidden" } " "
                (n) @if n == 1 { " value is" } @else { " values are" }
                " shown as " (crate::policy::MASK) ": secrets are not shown on the dashboard."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_escape_matches_maud() {
        for s in [
            "",
            "plain",
            "a&b",
            "<script>alert(\"x\")</script>",
            "&&&",
            "\"",
            "ünï<cödé>&",
            "tail&",
            "<lead",
            "a > b & c < d",
            "it's 'quoted'",
        ] {
            let mut ours = String::new();
            escape_into(&mut ours, s);
            assert_eq!(ours, html! { (s) }.into_string(), "{s:?}");
        }
    }

    #[test]
    fn badges_render_as_before() {
        assert_eq!(
            html! { (StatusBadge(RunStatus::TimedOut)) }.into_string(),
            r#"<span class="badge b-timed_out">timed out</span>"#
        );
        assert_eq!(
            html! { (StateBadge(TaskState::Paused)) }.into_string(),
            r#"<span class="badge s-paused">paused</span>"#
        );
    }

    #[test]
    fn badges_render_exact_html() {
        assert_eq!(
            StatusBadge(RunStatus::TimedOut).render().into_string(),
            r#"<span class="badge b-timed_out">timed out</span>"#
        );
        assert_eq!(
            StateBadge(TaskState::Paused).render().into_string(),
            r#"<span class="badge s-paused">paused</span>"#
        );
    }

    #[test]
    fn relative_times() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let cases = [
            ("2026-01-01T00:00:00Z", "now"),
            ("2026-01-01T00:00:30Z", "in 30s"),
            ("2025-12-31T23:55:00Z", "5m ago"),
            ("2026-01-01T02:30:00Z", "in 2h 30m"),
            ("2026-01-03T03:00:00Z", "in 2d 3h"),
        ];
        for (at, want) in cases {
            assert_eq!(relative(now, at.parse().unwrap()), want);
        }
        assert_eq!(millis(850), "850 ms");
        assert_eq!(millis(12_400), "12.4 s");
        assert_eq!(millis(200_000), "3m");
    }

    #[test]
    fn action_button_escapes_and_carries_back_and_csrf() {
        let urls = crate::links::Urls::new(crate::links::MountPrefix::default());
        let assets = crate::views::assets::Assets::default_theme();
        let st = crate::views::test_status("UTC", Timestamp::UNIX_EPOCH);
        let v = View {
            csrf: Some("tok\"<"),
            ..View::test(&urls, &assets, &st, true, true)
        };
        let html = action_button(
            &v,
            "/t/x/run",
            "Run <now>",
            ButtonKind::Plain,
            Some("Sure?"),
            "/tasks?q=a&b",
        )
        .into_string();
        assert_eq!(
            html,
            r#"<form class="inline" method="post" action="/t/x/run" data-confirm="Sure?"><input type="hidden" name="csrf" value="tok&quot;&lt;"><input type="hidden" name="back" value="/tasks?q=a&amp;b"><button class="btn" type="submit">Run &lt;now&gt;</button></form>"#
        );
    }

    #[test]
    fn pager_links_keep_the_query_and_encode_it() {
        let urls = crate::links::Urls::new(crate::links::MountPrefix::new("/ops").unwrap());
        let assets = crate::views::assets::Assets::default_theme();
        let st = crate::views::test_status("UTC", Timestamp::UNIX_EPOCH);
        let v = View::test(&urls, &assets, &st, false, false);
        let params = [("q", "a b&<\"x\">"), ("state", ""), ("page", "2")];
        let html = pager(
            &v,
            "/tasks",
            &params,
            2,
            3,
            123,
            false,
            &PagerCursors::default(),
        )
        .into_string();
        assert!(
            html.contains(
                r#"<a class="btn" href="/ops/tasks?q=a+b%26%3C%22x%22%3E&amp;page=1" rel="prev">"#
            ),
            "{html}"
        );
        assert!(
            html.contains(
                r#"<a class="btn" href="/ops/tasks?q=a+b%26%3C%22x%22%3E&amp;page=3" rel="next">"#
            ),
            "{html}"
        );
        assert!(html.contains("123 total · page 2 of 3"), "{html}");
        // The same as escaping the string the URL helper builds.
        let built = urls.with_query("/tasks", [("q", params[0].1), ("page", "3")]);
        assert!(html.contains(&maud::html! { (built) }.into_string()));
        // An estimated total says so, and so does the page count drawn from it.
        let html = pager(
            &v,
            "/tasks",
            &params,
            2,
            3,
            123,
            true,
            &PagerCursors::default(),
        )
        .into_string();
        assert!(
            html.contains("about 123 total · page 2 of about 3"),
            "{html}"
        );
    }

    #[test]
    fn times_in_the_scheduler_zone() {
        let urls = crate::links::Urls::new(crate::links::MountPrefix::default());
        let assets = crate::views::assets::Assets::default_theme();
        let now: Timestamp = "2026-11-23T17:04:05Z".parse().unwrap();
        let st = crate::views::test_status("Europe/Berlin", now);
        let v = View::test(&urls, &assets, &st, false, false);
        assert_eq!(absolute(&v, now), "2026-11-23 18:04:05 CET");
        let summer: Timestamp = "2026-07-01T00:00:09Z".parse().unwrap();
        assert_eq!(absolute(&v, summer), "2026-07-01 02:00:09 CEST");
        let later = now + std::time::Duration::from_secs(300);
        assert_eq!(
            html! { (when(&v, Some(later))) }.into_string(),
            r#"<time datetime="2026-11-23T17:09:05Z" title="2026-11-23 18:09:05 CET">in 5m</time>"#
        );
        assert_eq!(
            html! { (when(&v, None)) }.into_string(),
            r#"<span class="muted">—</span>"#
        );
    }
}
