//! Server-rendered pages: one function per page returning `maud::Markup`, widgets as small
//! `Render` types. maud escapes everything; no task or user data goes through `PreEscaped`.

pub(crate) mod assets;
pub(crate) mod audit;
pub(crate) mod brand;
pub(crate) mod charts;
pub(crate) mod components;
pub(crate) mod errors;
pub(crate) mod form;
pub(crate) mod fragments;
pub(crate) mod instances;
pub(crate) mod jobs;
pub(crate) mod layout;
pub(crate) mod login;
pub(crate) mod overview;
pub(crate) mod run_with;
pub(crate) mod runs;
pub(crate) mod task;
pub(crate) mod task_form;
pub(crate) mod tasks;
pub(crate) mod timeline;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::auth::User;
use crate::links::Urls;
use crate::policy::{ActionTarget, Narrowing};
use crate::seam::SchedulerStatus;
use assets::Assets;
pub(crate) use brand::Brand;

/// What every page needs to render.
pub(crate) struct View<'a> {
    pub(crate) urls: &'a Urls,
    pub(crate) assets: &'a Assets,
    pub(crate) title: &'a str,
    /// The host's description, logo and favicon.
    pub(crate) brand: &'a Brand,
    pub(crate) status: &'a SchedulerStatus,
    pub(crate) tz: TimeZone,
    pub(crate) now: Timestamp,
    /// The signed-in user, when login is on.
    pub(crate) user: Option<&'a User>,
    /// The CSRF token forms must carry, when login is on.
    pub(crate) csrf: Option<&'a str>,
    /// May run, pause and resume.
    pub(crate) can_operate: bool,
    /// May create, edit and remove.
    pub(crate) can_admin: bool,
    /// The current page, relative to the base, with its query (actions come back here).
    pub(crate) here: &'a str,
    /// The theme the viewer chose (the theme switch's cookie), written into the page so that
    /// it is right from the first paint.
    pub(crate) theme: Theme,
    /// The host's hook that narrows what the user may do, per action and target.
    pub(crate) narrowing: &'a Narrowing,
}

/// No narrowing hook: pages drawn before anyone is identified, and tests.
pub(crate) static NO_NARROWING: Narrowing = Narrowing(None);

/// Light, dark, or whatever the viewer's system prefers (the default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

impl Theme {
    /// The cookie the theme switch sets (`light` or `dark`; anything else is the system's).
    pub(crate) const COOKIE: &'static str = "taskdeck_theme";

    /// The theme a cookie value names; the system's for anything unknown.
    pub(crate) fn from_cookie(value: Option<&str>) -> Theme {
        match value {
            Some("light") => Theme::Light,
            Some("dark") => Theme::Dark,
            _ => Theme::System,
        }
    }

    /// The page's `data-theme`, none when following the system.
    pub(crate) fn attr(self) -> Option<&'static str> {
        match self {
            Theme::System => None,
            Theme::Light => Some("light"),
            Theme::Dark => Some("dark"),
        }
    }

    /// The `color-scheme` meta tag's content: the browser paints its first frame in it.
    pub(crate) fn color_scheme(self) -> &'static str {
        self.attr().unwrap_or("light dark")
    }
}

/// The scheduler as a test view shows it: running, times in `zone` at `now`.
#[cfg(test)]
pub(crate) fn test_status(zone: &str, now: Timestamp) -> SchedulerStatus {
    SchedulerStatus {
        lifecycle: crate::scheduler::Lifecycle::Running,
        paused: false,
        timezone: zone.into(),
        now,
    }
}

#[cfg(test)]
impl<'a> View<'a> {
    /// A view for tests: nobody signed in, no CSRF token, times in the status's zone at its
    /// time, with the given permissions.
    pub(crate) fn test(
        urls: &'a Urls,
        assets: &'a Assets,
        status: &'a SchedulerStatus,
        can_operate: bool,
        can_admin: bool,
    ) -> View<'a> {
        View {
            urls,
            assets,
            title: "t",
            brand: &brand::DEFAULT,
            status,
            tz: TimeZone::get(&status.timezone).expect("zone"),
            now: status.now,
            user: None,
            csrf: None,
            can_operate,
            can_admin,
            here: "/",
            theme: Theme::System,
            narrowing: &NO_NARROWING,
        }
    }
}

impl View<'_> {
    /// True when the narrowing hook lets the user do `action` to `target` (the role is
    /// `can_operate` / `can_admin`'s): a button shows only when both say yes.
    pub(crate) fn allows(&self, action: &str, target: &ActionTarget<'_>) -> bool {
        self.narrowing.allows(self.user, action, target)
    }
}

impl View<'_> {
    /// URL of an embedded asset, versioned by its content hash.
    pub(crate) fn asset(&self, name: &str) -> components::Href<'_> {
        components::Href(self.urls.base(), self.assets.path(name))
    }

    /// The hidden CSRF field for a POST form (nothing when login is off).
    pub(crate) fn csrf_field(&self) -> maud::Markup {
        maud::html! {
            @if let Some(t) = self.csrf {
                input type="hidden" name="csrf" value=(components::Esc(t));
            }
        }
    }
}

/// Which sidebar entry is current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Tasks,
    Runs,
    Jobs,
    Timeline,
    Instances,
    Audit,
    None,
}

/// A one-time message after an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Flash {
    pub(crate) ok: bool,
    pub(crate) message: String,
}
