//! The page frame: head, sidebar, header with the scheduler's state, and the main slot.

use maud::{html, Markup, Render, DOCTYPE};

use super::components::{action_button, ButtonKind};
use super::{Flash, Nav, Theme, View};
use crate::scheduler::Lifecycle;

/// A whole page around `body`.
pub(crate) fn page(
    v: &View<'_>,
    title: &str,
    nav: Nav,
    flash: Option<&Flash>,
    body: impl Render,
) -> Markup {
    let u = v.urls;
    const ITEMS: [(Nav, &str, &str, &str); 7] = [
        (Nav::Overview, "/", "Overview", "◧"),
        (Nav::Tasks, "/tasks", "Tasks", "☰"),
        (Nav::Runs, "/runs", "Runs", "↻"),
        (Nav::Jobs, "/jobs", "Jobs", "⚙"),
        (Nav::Timeline, "/timeline", "Timeline", "▥"),
        (Nav::Instances, "/instances", "Instances", "▦"),
        (Nav::Audit, "/audit", "Audit", "✎"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" data-theme=[v.theme.attr()] {
            (head(v, title, true))
            body data-events=(u.href("/events")) {
                a.skip href="#main" { "Skip to content" }
                div.shell {
                    nav.sidebar aria-label="Main" {
                        a.brand href=(u.href("/")) {
                            (brand_mark(v, 22))
                            span { (v.title) }
                        }
                        // The audit log records who did what: only with sign-in.
                        @for (target, rel, label, icon) in ITEMS {
                            @if target != Nav::Audit || v.user.is_some() {
                                a.nav-item.current[nav == target] href=(u.href(rel))
                                    aria-current=[(nav == target).then_some("page")] {
                                    span.nav-icon aria-hidden="true" { (icon) } (label)
                                }
                            }
                        }
                        div.nav-foot {
                            a.nav-item href=(u.href("/api/stats")) { span.nav-icon aria-hidden="true" { "{}" } "JSON API" }
                            a.nav-item href=(u.href("/metrics")) { span.nav-icon aria-hidden="true" { "#" } "Metrics" }
                        }
                    }
                    div.content {
                        header.topbar {
                            h1 { (title) }
                            div.topbar-right {
                                (scheduler_state(v))
                                @if let Some(u) = v.user {
                                    // One menu for who is signed in and the ways out (works
                                    // without script: a disclosure).
                                    details.user-menu {
                                        summary.btn.user title={"Signed in as " (u.id)} {
                                            (u.name)
                                            @if u.name != u.role().map(|r| r.as_str()).unwrap_or("") {
                                                " · " span.muted { (u.role().map(|r| r.as_str()).unwrap_or("no role")) }
                                            }
                                        }
                                        div.user-menu-items {
                                            p.muted.small { "Signed in as " (u.id) ", " (u.role().map(|r| r.as_str()).unwrap_or("no role")) }
                                            form method="post" action=(v.urls.href(v.urls.sign().logout)) {
                                                (v.csrf_field())
                                                button.btn.btn-block type="submit" { "Sign out" }
                                            }
                                            form method="post" action=(v.urls.href(v.urls.sign().logout_all)) {
                                                (v.csrf_field())
                                                button.btn.btn-block type="submit" title="End every session of yours, in every browser and on every replica" data-confirm="Sign out everywhere? Every browser signed in as you must sign in again." { "Sign out everywhere" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        (main(v, flash, body))
                    }
                }
            }
        }
    }
}

/// The host's logo, else the favicon, `size` pixels high; decorative (the title beside it
/// names the dashboard). A `Render` type: written straight into the page.
pub(crate) fn brand_mark<'a>(v: &'a View<'a>, size: u32) -> BrandMark<'a> {
    BrandMark(v, size)
}

/// See [`brand_mark`].
pub(crate) struct BrandMark<'a>(&'a View<'a>, u32);

impl Render for BrandMark<'_> {
    fn render_to(&self, out: &mut String) {
        let (v, size) = (self.0, self.1);
        if v.brand.logo {
            out.push_str("<img class=\"logo\" src=\"");
            v.asset("logo").render_to(out);
            out.push_str("\" alt=\"\" height=\"");
            size.render_to(out);
            out.push_str("\">");
        } else {
            out.push_str("<img src=\"");
            v.asset("favicon").render_to(out);
            out.push_str("\" alt=\"\" width=\"");
            size.render_to(out);
            out.push_str("\" height=\"");
            size.render_to(out);
            out.push_str("\">");
        }
    }
}

/// The document head: our styles, icon and (optionally) script; nothing inline.
pub(crate) fn head(v: &View<'_>, title: &str, script: bool) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content=(v.theme.color_scheme());
            title { (title) " · " (v.title) }
            link rel="stylesheet" href=(v.asset("app.css"));
            link rel="stylesheet" href=(v.asset("theme.css"));
            link rel="icon" type=(v.brand.favicon_type) href=(v.asset("favicon"));
            @if script {
                script src=(v.asset("app.js")) defer {}
            }
        }
    }
}

/// The main slot alone: what partial (live) refreshes swap in. A `Render` type, not a
/// template: the body is written straight into the page around it, not copied in (the tasks
/// page's body is most of its 50 KB).
pub(crate) fn main<'a, B: Render>(_v: &View<'_>, flash: Option<&'a Flash>, body: B) -> Main<'a, B> {
    Main { flash, body }
}

/// See [`main`].
pub(crate) struct Main<'a, B> {
    flash: Option<&'a Flash>,
    body: B,
}

impl<B: Render> Render for Main<'_, B> {
    fn render_to(&self, out: &mut String) {
        out.push_str("<main id=\"main\" tabindex=\"-1\">");
        if let Some(f) = self.flash {
            html! { div.flash.flash-ok[f.ok].flash-err[!f.ok] role="status" { (f.message) } }
                .render_to(out);
        }
        self.body.render_to(out);
        out.push_str("</main>");
    }
}

fn scheduler_state(v: &View<'_>) -> Markup {
    let st = v.status;
    let (label, class) = match (st.lifecycle, st.paused) {
        (Lifecycle::Running, false) => ("Running", "b-succeeded"),
        (Lifecycle::Running, true) => ("Paused", "b-paused"),
        (Lifecycle::Created, _) => ("Not started", "b-skipped"),
        (Lifecycle::ShuttingDown, _) => ("Shutting down", "b-failed"),
        (Lifecycle::Stopped, _) => ("Stopped", "b-failed"),
    };
    html! {
        span.sched-state {
            span.badge.(class) data-live="scheduler" { span.sched-prefix { "Scheduler: " } (label) }
            span.muted.tz title="Times are shown in this zone" data-zone=(st.timezone) { (st.timezone) }
            // Shown by the script, which remembers the choice; pages without it stay in the
            // scheduler's zone.
            button.btn.btn-small.tz-toggle type="button" hidden aria-pressed="false" { "Show my time zone" }
            // The theme switch: system, light, dark, remembered in a cookie the server reads,
            // so that a page is drawn in its theme from the first frame. Shown by the script.
            button.btn.btn-small.theme-toggle type="button" hidden title="Switch the theme"
                data-theme-cookie=(Theme::COOKIE) data-theme-path=(v.urls.cookie_path()) {
                span aria-hidden="true" { "◐ " } span.theme-label { "Theme: " (v.theme.attr().unwrap_or("system")) }
            }
        }
        @if st.lifecycle == Lifecycle::Running && v.can_operate {
            @if st.paused && v.allows("scheduler.resume", &Default::default()) {
                (action_button(v, &v.urls.at("/scheduler/resume"), "Resume scheduler", ButtonKind::Primary, None, v.here))
            } @else if !st.paused && v.allows("scheduler.pause", &Default::default()) {
                (action_button(v, &v.urls.at("/scheduler/pause"), "Pause scheduler", ButtonKind::Danger, Some("Pause the whole scheduler? No task fires on any replica until you resume it."), v.here))
            }
        }
    }
}

/// A page of one box with the brand above it and no navigation: the sign-in page and the
/// pages a stranger may see (a URL that does not exist).
pub(crate) fn boxed(v: &View<'_>, title: &str, content: impl Render) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" data-theme=[v.theme.attr()] {
            (head(v, title, false))
            body.login-page {
                main #main.login-box {
                    div.brand {
                        (brand_mark(v, 28))
                        span { (v.title) }
                    }
                    (content)
                }
            }
        }
    }
}
