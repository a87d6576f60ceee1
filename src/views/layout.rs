//! The page frame: head, sidebar, header with the scheduler's state, and the main slot.

use maud::{html, Markup, Render, DOCTYPE};

use super::components::{action_button, ButtonKind, Esc};
use super::{Flash, Nav, View};
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
    let item = |target: Nav, href: String, label: &str, icon: &str| {
        html! {
            a.nav-item.current[nav == target] href=(href)
                aria-current=[(nav == target).then_some("page")] {
                span.nav-icon aria-hidden="true" { (icon) } (label)
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(v, title, true))
            body data-events=(Esc(u.at("/events"))) {
                a.skip href="#main" { "Skip to content" }
                div.shell {
                    nav.sidebar aria-label="Main" {
                        a.brand href=(Esc(u.root())) {
                            img src=(Esc(v.asset("favicon.svg"))) alt="" width="22" height="22";
                            span { (v.title) }
                        }
                        (item(Nav::Overview, u.root(), "Overview", "◧"))
                        (item(Nav::Tasks, u.at("/tasks"), "Tasks", "☰"))
                        (item(Nav::Runs, u.at("/runs"), "Runs", "↻"))
                        (item(Nav::Instances, u.at("/instances"), "Instances", "▦"))
                        @if v.user.is_some() {
                            (item(Nav::Audit, u.at("/audit"), "Audit", "✎"))
                        }
                        div.nav-foot {
                            a.nav-item href=(Esc(u.at("/api/stats"))) { span.nav-icon aria-hidden="true" { "{}" } "JSON API" }
                            a.nav-item href=(Esc(u.at("/metrics"))) { span.nav-icon aria-hidden="true" { "#" } "Metrics" }
                        }
                    }
                    div.content {
                        header.topbar {
                            h1 { (title) }
                            div.topbar-right {
                                (scheduler_state(v))
                                @if let Some(u) = v.user {
                                    span.user title={"Signed in as " (u.id)} {
                                        (u.name) " · " span.muted { (u.role().map(|r| r.as_str()).unwrap_or("no role")) }
                                    }
                                    form.inline method="post" action=(Esc(v.urls.at("/logout"))) {
                                        (v.csrf_field())
                                        button.btn type="submit" { "Sign out" }
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

/// The document head: our styles, icon and (optionally) script; nothing inline.
pub(crate) fn head(v: &View<'_>, title: &str, script: bool) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · " (v.title) }
            link rel="stylesheet" href=(Esc(v.asset("app.css")));
            link rel="stylesheet" href=(Esc(v.asset("theme.css")));
            link rel="icon" type="image/svg+xml" href=(Esc(v.asset("favicon.svg")));
            @if script {
                script src=(Esc(v.asset("app.js"))) defer {}
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
            span.badge.(class) data-live="scheduler" { "Scheduler: " (label) }
            span.muted.tz title="Times are shown in this zone" { (st.timezone) }
        }
        @if st.lifecycle == Lifecycle::Running && v.can_operate {
            @if st.paused {
                (action_button(v, &v.urls.at("/scheduler/resume"), "Resume all", ButtonKind::Primary, None, v.here))
            } @else {
                (action_button(v, &v.urls.at("/scheduler/pause"), "Pause all", ButtonKind::Plain, Some("Pause the whole scheduler? Nothing fires until you resume it."), v.here))
            }
        }
    }
}
