//! What every request shares ([`Shared`], one per dashboard) and what each handler gets
//! ([`Ctx`], one per request), with the few things every handler does through them:
//! rendering a page, answering a failure, redirecting with a flash message, auditing.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap};
use http::StatusCode;
use jiff::tz::TimeZone;

use super::request::{BadRequest, Params};
use super::response::{html, json_error, Resp};
use super::routes::Router;
use crate::audit::{AuditEntry, AuditSink};
use crate::auth::chain::Backends;
use crate::auth::session::Keys;
use crate::auth::throttle::Throttle;
use crate::auth::{Role, User};
use crate::cookies;
use crate::links::{safe_relative, MountPrefix, Urls};
use crate::scheduler::Lifecycle;
use crate::seam::{BackendError, SchedulerStatus, TaskBackend};
use crate::views::assets::Assets;
use crate::views::fragments::Fragments;
use crate::views::{self, Flash, View};

/// What every clone of a dashboard shares.
pub(crate) struct Shared {
    pub(crate) backend: Arc<dyn TaskBackend>,
    pub(crate) prefix: MountPrefix,
    pub(crate) title: String,
    pub(crate) assets: Assets,
    pub(crate) router: Router,
    pub(crate) trusted_proxies: Vec<IpAddr>,
    pub(crate) body_limit: usize,
    pub(crate) keepalive: Duration,
    /// Set when serving stops: event streams end.
    pub(crate) closing: tokio::sync::watch::Sender<bool>,
    pub(crate) auth: Option<Backends>,
    /// Where signing in and out live.
    pub(crate) sign: &'static crate::links::SignPaths,
    /// The description, logo and colours (`DashboardBuilder::description`, …).
    pub(crate) brand: crate::views::Brand,
    pub(crate) keys: Keys,
    pub(crate) session_cookie: String,
    pub(crate) session_ttl: Duration,
    pub(crate) same_site: cookie::SameSite,
    pub(crate) force_secure: bool,
    pub(crate) read_only: bool,
    /// The scrape credential that opens `/metrics` alone.
    pub(crate) metrics_token: Option<String>,
    /// `/metrics` open to anyone.
    pub(crate) public_metrics: bool,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) throttle: Throttle,
    /// Ended sessions and re-checks of live ones.
    pub(crate) sessions: Arc<super::sessions::Sessions>,
    /// Where a trusted proxy writes the client's address.
    pub(crate) client_header: super::client::ClientHeader,
    /// Refused sign-ins, folded per client and window before they reach the audit log.
    pub(crate) refusals: crate::audit::Refusals,
    /// Password checks running and waiting, bounded.
    pub(crate) login_slots: crate::auth::throttle::LoginSlots,
    /// Open event streams, bounded per session and in total.
    pub(crate) streams: Arc<super::sse::Streams>,
    /// Connection bounds for [`crate::Dashboard::serve`].
    pub(crate) limits: Limits,
    /// Task rows and JSON kept between requests.
    pub(crate) fragments: Fragments,
    /// The overview's charts as last drawn, with what they were drawn from (the minute and
    /// the count of finished runs): drawn again only when a run finishes or a minute passes.
    pub(crate) charts: std::sync::Mutex<Option<KeptCharts>>,
    /// What this process's dashboard answered, for `/metrics`.
    pub(crate) metrics: super::metrics::WebMetrics,
    /// The cluster-wide part of `/metrics`, read from the store at most every two seconds.
    pub(crate) cluster_metrics: super::ready::Kept<String>,
    /// `/health/ready`'s last answer.
    pub(crate) ready: super::ready::ReadyCache,
    /// Set once a request found a route, or once the warning about a mount the dashboard was
    /// not told about was logged: either way that warning is not looked for again.
    pub(crate) mount_checked: std::sync::atomic::AtomicBool,
    /// Trigger previews going, bounded in all and per user.
    pub(crate) previews: Arc<super::previews::Previews>,
    /// What pages, answers and forms hide of args and results.
    pub(crate) redaction: crate::policy::Redaction,
    /// The host's hook that narrows what a user may do.
    pub(crate) narrowing: crate::policy::Narrowing,
}

/// The overview's charts as drawn, and what they were drawn from: (minute, finished runs).
/// With the 24-hour chart's totals (runs, failures), which the overview's cards show too, so
/// that cards and chart agree.
pub(crate) type KeptCharts = ((i64, u64), Arc<str>, (u64, u64));

/// What a request's session is, for ending it (sign-out) and for ending what it opened (a live
/// stream) once it is ended or expires.
#[derive(Clone, Debug)]
pub(crate) struct SessionMeta {
    pub(crate) sid: String,
    pub(crate) user: String,
    pub(crate) iat_ms: i64,
    pub(crate) exp: i64,
    /// The login backend that signed it in.
    pub(crate) via: crate::auth::chain::BackendName,
}

/// How long a connection may take, and how many there may be (see `DashboardBuilder`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// From accepting a connection, or finishing a response on it, to a whole request head.
    pub(crate) header_timeout: Duration,
    /// To read a whole request body once its head is in.
    pub(crate) body_timeout: Duration,
    /// Connections served at once; past it, the idlest is closed for a new one.
    pub(crate) max_connections: usize,
    /// Connections one client address (an IPv6 /64) may hold; trusted proxies are exempt.
    pub(crate) per_client: usize,
    /// A connection with no request going is closed after this.
    pub(crate) idle_timeout: Duration,
    /// HTTP/2 keep-alive ping interval (a peer that does not answer in as long is dropped).
    pub(crate) h2_keepalive: Duration,
}

/// Why the gate refuses a signed-in (or anonymous) request its role.
#[derive(Debug)]
pub(crate) enum Denied {
    /// The dashboard is read-only and this needs more than viewing.
    ReadOnly,
    /// Login is on and nobody is signed in.
    SignIn,
    /// The user lacks the role.
    Role,
}

impl Shared {
    /// True when `/metrics` may be answered without a session: it is public, or the request
    /// carries the scrape token as a bearer credential (compared in constant time).
    pub(crate) fn scrape_allowed(&self, headers: &http::HeaderMap) -> bool {
        if self.public_metrics {
            return true;
        }
        let Some(token) = &self.metrics_token else {
            return false;
        };
        let offered = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::auth::strip_bearer(v, true))
            .map(str::trim);
        offered.is_some_and(|o| crate::auth::constant_eq(o, token))
    }

    /// True when the browser reached the dashboard over HTTPS as far as it can tell: cookies
    /// are forced secure, or a trusted proxy says `X-Forwarded-Proto: https`.
    pub(crate) fn secure(&self, headers: &http::HeaderMap, peer: Option<IpAddr>) -> bool {
        self.force_secure
            || (peer.is_some_and(|p| self.trusted_proxies.contains(&p))
                && headers
                    .get("x-forwarded-proto")
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https")))
    }

    /// The one role check: may `user` act with `role`'s rights here?
    pub(crate) fn permits(&self, user: Option<&User>, role: Role) -> Result<(), Denied> {
        if self.read_only && role > Role::Viewer {
            return Err(Denied::ReadOnly);
        }
        if self.auth.is_none() {
            return Ok(());
        }
        match user {
            None => Err(Denied::SignIn),
            Some(u) if u.has(role) => Ok(()),
            Some(_) => Err(Denied::Role),
        }
    }
}

/// What a handler gets: the request, already checked, and where it is mounted.
pub(crate) struct Ctx<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) urls: Urls,
    pub(crate) query: Params,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) method: &'a http::Method,
    /// `HX-Request: true`: answer with the page's main fragment only.
    pub(crate) partial: bool,
    /// Answer errors as JSON.
    pub(crate) json: bool,
    /// The signed-in user (login on).
    pub(crate) user: Option<&'a User>,
    /// What this request's credentials are bound to: the session id for a session cookie,
    /// `user:<id>` for a browser-sent backend credential (login on).
    pub(crate) session: Option<&'a str>,
    /// The session cookie this request came with, when it did.
    pub(crate) session_meta: Option<&'a SessionMeta>,
    /// The CSRF token for this user's forms (login on, ambient credentials).
    pub(crate) csrf: Option<&'a str>,
    /// The client's address (behind a trusted proxy, the one it forwarded for).
    pub(crate) client: Option<std::net::IpAddr>,
    /// The connection's address (a proxy's, when there is one).
    pub(crate) peer: Option<std::net::IpAddr>,
    /// The current page relative to the base, with its query.
    pub(crate) here: std::borrow::Cow<'a, str>,
    /// Filled on first use by [`Ctx::view`].
    pub(crate) status: std::sync::OnceLock<(SchedulerStatus, TimeZone)>,
    /// The request came over HTTPS (as a trusted proxy says, or by configuration).
    pub(crate) secure: bool,
    /// The audit entry's target when the route's is [`super::routes::Target::Handler`]: what
    /// the handler acted on and what it refused.
    pub(crate) audit_target: std::sync::OnceLock<String>,
}

impl Ctx<'_> {
    /// The current page, relative to the base, with its query.
    pub(crate) fn here(&self) -> &str {
        &self.here
    }

    /// The flash message left by the previous action, if any.
    fn flash(&self) -> Option<Flash> {
        let (ok, message) = cookies::read_flash(self.headers)?;
        Some(Flash { ok, message })
    }

    /// What every cookie this request sets shares: the base path, and `Secure` over HTTPS.
    pub(crate) fn cookie_scope(&self) -> cookies::Scope<'_> {
        cookies::Scope {
            path: self.urls.cookie_path(),
            secure: self.secure,
        }
    }

    /// Renders a page (or just its main fragment for partial requests).
    pub(crate) fn page(
        &self,
        status: StatusCode,
        title: &str,
        nav: views::Nav,
        body: impl maud::Render,
    ) -> Resp {
        let flash = self.flash();
        let view = self.view();
        let out = if self.partial {
            maud::Render::render(&views::layout::main(&view, flash.as_ref(), body))
        } else {
            views::layout::page(&view, title, nav, flash.as_ref(), body)
        };
        let mut r = html(status, out.into_string());
        if flash.is_some() {
            if let Some(v) = cookies::clear_flash(self.cookie_scope()) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        r
    }

    /// Reads the scheduler's status and zone once per request, before any view needs them
    /// (dispatch does it for every route that renders a page).
    pub(crate) async fn load_status(&self) {
        if self.status.get().is_none() {
            let st = read_status(&*self.shared.backend).await;
            let tz = jiff::tz::db().get(&st.timezone).unwrap_or(TimeZone::UTC);
            let _ = self.status.set((st, tz));
        }
    }

    /// The status [`Ctx::load_status`] read (a stopped scheduler in UTC if it did not run).
    fn status(&self) -> &(SchedulerStatus, TimeZone) {
        self.status
            .get_or_init(|| (unknown_status(), TimeZone::UTC))
    }

    pub(crate) fn view(&self) -> View<'_> {
        let (st, tz) = self.status();
        View {
            urls: &self.urls,
            assets: &self.shared.assets,
            title: &self.shared.title,
            brand: &self.shared.brand,
            status: st,
            tz: tz.clone(),
            now: st.now,
            user: self.user,
            csrf: self.csrf,
            can_operate: self.may(Role::Operator),
            can_admin: self.may(Role::Admin),
            here: &self.here,
            theme: views::Theme::from_cookie(crate::cookies::value(
                self.headers,
                views::Theme::COOKIE,
            )),
            narrowing: &self.shared.narrowing,
        }
    }

    /// True when this request's user may act with `role`'s rights (what the gate would
    /// let through; the pages use it to show only the buttons that work).
    pub(crate) fn may(&self, role: Role) -> bool {
        self.shared.permits(self.user, role).is_ok()
    }

    /// 303 back to `back` (a form's hidden field, checked) or `fallback`, with a flash message.
    pub(crate) fn back(&self, form: &Params, fallback: &str, ok: bool, message: &str) -> Resp {
        let rel = form.get("back").and_then(safe_relative).unwrap_or(fallback);
        self.go(rel, ok, message)
    }

    /// 303 to `rel` (relative to the base) with a flash message.
    pub(crate) fn go(&self, rel: &str, ok: bool, message: &str) -> Resp {
        let mut r = super::response::see_other(&self.urls.at(rel));
        let kind = if ok { "ok" } else { "err" };
        if let Some(c) = cookies::flash(kind, message, self.cookie_scope()) {
            r.headers_mut().append(header::SET_COOKIE, c);
        }
        r
    }

    /// A backend failure as JSON or an error page.
    pub(crate) fn fail(&self, e: &BackendError) -> Resp {
        let status = status_of(e);
        let message = public_message(e);
        if self.json {
            json_error(status, e.code(), message, e.field())
        } else {
            let view = self.view();
            let body = views::errors::error(&view, status, message);
            self.page(status, "Error", views::Nav::None, body)
        }
    }

    /// Malformed input as JSON or an error page.
    pub(crate) fn bad(&self, e: &BadRequest) -> Resp {
        let (field, message) = match e {
            BadRequest::Field { field, message } => (Some(field.as_str()), message.clone()),
            other => (None, other.to_string()),
        };
        let err = match field {
            Some(f) => BackendError::invalid(format!("{f}: {message}")),
            None => BackendError::invalid(message),
        };
        if self.json {
            json_error(StatusCode::BAD_REQUEST, "invalid", &err.to_string(), field)
        } else {
            self.fail(&err)
        }
    }
}

/// What a user is told of a backend failure. Bad input, unknown ids and conflicts say what to
/// fix; a store that failed (a database's own message, which can name tables, hosts or
/// users) is logged in full and answered with a generic sentence.
pub(crate) fn public_message(e: &BackendError) -> &str {
    if e.is_unavailable() {
        tracing::error!(error = %e.message(), "the scheduler's store failed");
        "The scheduler's store did not answer. The details are in the server's log."
    } else {
        e.message()
    }
}

/// The one place a backend error becomes an HTTP status.
pub(crate) fn status_of(e: &BackendError) -> StatusCode {
    if e.is_invalid() {
        StatusCode::BAD_REQUEST
    } else if e.is_not_found() {
        StatusCode::NOT_FOUND
    } else if e.is_conflict() {
        StatusCode::CONFLICT
    } else if e.is_unsupported() {
        StatusCode::NOT_IMPLEMENTED
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// The scheduler's status, or, when the backend cannot say, a stopped one in UTC (logged).
pub(crate) async fn read_status(backend: &dyn TaskBackend) -> SchedulerStatus {
    match backend.status().await {
        Ok(st) => st,
        Err(e) => {
            tracing::warn!(error = %e, "the backend could not report the scheduler's status");
            unknown_status()
        }
    }
}

fn unknown_status() -> SchedulerStatus {
    SchedulerStatus {
        lifecycle: Lifecycle::Stopped,
        paused: false,
        timezone: "UTC".into(),
        now: jiff::Timestamp::now(),
    }
}

/// The 404 page (or JSON) for an unknown path.
/// The answer to a URL no route has. It comes before anyone is identified, so the page shows
/// neither the navigation nor the scheduler's state: a stranger learns nothing from it.
pub(crate) async fn not_found(shared: &Shared, urls: &Urls, json: bool) -> Resp {
    if json {
        return json_error(StatusCode::NOT_FOUND, "not_found", "no such URL", None);
    }
    let st = unknown_status();
    let view = View {
        urls,
        assets: &shared.assets,
        title: &shared.title,
        brand: &shared.brand,
        status: &st,
        tz: TimeZone::UTC,
        now: jiff::Timestamp::now(),
        user: None,
        csrf: None,
        can_operate: false,
        can_admin: false,
        here: "/",
        theme: views::Theme::System,
        narrowing: &views::NO_NARROWING,
    };
    html(
        StatusCode::NOT_FOUND,
        views::errors::not_found(&view).into_string(),
    )
}

impl Ctx<'_> {
    /// Who asks, for bounds per person: the signed-in user, else the client's address (an
    /// IPv6 client by its /64), else `anonymous`.
    pub(crate) fn who(&self) -> String {
        match (self.user, self.client) {
            (Some(u), _) => format!("user:{}", u.id),
            (None, Some(ip)) => format!("addr:{}", crate::auth::throttle::client_key(ip)),
            (None, None) => "anonymous".to_string(),
        }
    }

    /// The next `n` fires of `spec` from the backend, within the bounds of
    /// [`super::previews::Previews`]; `Err` holds the answer to send instead (429).
    pub(crate) async fn preview(
        &self,
        spec: &crate::TriggerSpec,
        n: usize,
    ) -> Result<Result<crate::seam::TriggerPreview, BackendError>, Resp> {
        let place = match self.shared.previews.enter(&self.who()).await {
            Ok(place) => place,
            Err(why) => {
                let status = StatusCode::TOO_MANY_REQUESTS;
                let mut r = if self.json {
                    json_error(status, "too_many_previews", why.message(), None)
                } else {
                    let view = self.view();
                    let body = views::errors::error(&view, status, why.message());
                    self.page(status, "Error", views::Nav::None, body)
                };
                r.headers_mut().insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from_static("1"),
                );
                return Err(r);
            }
        };
        // The work runs in a task of its own that holds the place until it ends: a client
        // that hangs up drops this request, not the search it started.
        let backend = self.shared.backend.clone();
        let spec = spec.clone();
        let work = tokio::spawn(async move {
            let _place = place;
            backend.preview(&spec, n).await
        });
        Ok(work.await.unwrap_or_else(|_| {
            Err(BackendError::unavailable(
                "the preview could not be worked out",
            ))
        }))
    }
}

/// Why args from a form or the API could not be saved as given.
pub(crate) enum ArgsError {
    /// What is wrong with the `args` field.
    Field(String),
    /// The stored task could not be read.
    Backend(BackendError),
}

impl Ctx<'_> {
    /// Puts the stored values of task `from`'s args back wherever `args` (typed into a form
    /// that showed them redacted) still holds [`crate::policy::MASK`], for a task of job
    /// `job`. Without masks nothing is read. A secret is kept only under the job it was
    /// stored with, and only where it was ([`crate::policy::restore`]); anything else is a
    /// field error.
    pub(crate) async fn unmask(
        &self,
        args: &mut serde_json::Value,
        from: Option<&str>,
        job: &str,
    ) -> Result<(), ArgsError> {
        if crate::policy::hidden(args) == 0 {
            return Ok(());
        }
        let stored = match from {
            Some(id) => match self.shared.backend.get(id).await {
                Ok(d) => Some(d.info.task),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(ArgsError::Backend(e)),
            },
            None => None,
        };
        if let Some(t) = &stored {
            if t.job != job {
                return Err(ArgsError::Field(format!(
                    "hidden values ({}) are kept only for job {}; type them to use them with job {job}",
                    crate::policy::MASK,
                    t.job
                )));
            }
        }
        crate::policy::restore(args, stored.as_ref().map(|t| &t.args)).map_err(ArgsError::Field)
    }

    /// A bulk action's ids split by the narrowing hook, asked once per task with the task's
    /// own action (`task.run`, …): those it allows (and ids the backend does not know, which
    /// the action reports as failed), and those it refuses, each with why.
    pub(crate) async fn narrow_ids(
        &self,
        action: crate::seam::BulkAction,
        ids: Vec<String>,
    ) -> (Vec<String>, Vec<(String, String)>) {
        if !self.shared.narrowing.is_set() || self.user.is_none() {
            return (ids, Vec::new());
        }
        let action = format!("task.{}", action.as_str());
        let (mut allowed, mut refused) = (Vec::new(), Vec::new());
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            if !seen.insert(id.clone()) {
                continue;
            }
            let job = match self.shared.backend.job_of(&id).await {
                Ok(Some(job)) => job,
                // Unknown: the action reports it as failed.
                Ok(None) => {
                    allowed.push(id);
                    continue;
                }
                // Not known to be allowed: refused (fail closed).
                Err(e) => {
                    refused.push((id, format!("could not be checked: {}", public_message(&e))));
                    continue;
                }
            };
            if self.allows(&action, &crate::policy::ActionTarget::task(&id, &job)) {
                allowed.push(id);
            } else {
                refused.push((id, "not allowed for you".to_string()));
            }
        }
        (allowed, refused)
    }

    /// May this request's user do `action` to `target`: the host's narrowing hook, if any
    /// (the role is the gate's, already checked). Pages ask it to hide buttons; the gate and
    /// the handlers of bulk actions to refuse.
    pub(crate) fn allows(&self, action: &str, target: &crate::policy::ActionTarget<'_>) -> bool {
        self.shared.narrowing.allows(self.user, action, target)
    }
}

/// Adds an audit entry for this request's user.
impl Ctx<'_> {
    /// Audits a refused sign-in of nobody signed in (`username` tried), folded with the same
    /// client's other refusals of the same window.
    /// Who asks, as a run's "cancelled by" names them: the user's id, or with login off the
    /// client's address.
    pub(crate) fn actor(&self) -> String {
        match (self.user, self.client) {
            (Some(u), _) => u.id.clone(),
            (None, Some(ip)) => ip.to_string(),
            (None, None) => "anonymous".into(),
        }
    }

    pub(crate) fn record_refused(&self, action: &str, username: &str, outcome: &str) {
        let entry = AuditEntry {
            at: jiff::Timestamp::now(),
            actor: crate::audit::ANONYMOUS.into(),
            address: self.client.map(|a| a.to_string()),
            action: action.to_string(),
            target: Some(username.chars().take(64).collect()),
            outcome: outcome.to_string(),
        };
        self.shared.metrics.refused(action);
        for e in self.shared.refusals.note(entry) {
            self.shared.audit.record(e);
        }
    }

    pub(crate) fn record(&self, action: &str, target: Option<String>, outcome: String) {
        let cx = self;
        cx.shared.audit.record(AuditEntry {
            at: jiff::Timestamp::now(),
            actor: cx
                .user
                .map(|u| u.id.clone())
                .unwrap_or_else(|| crate::audit::ANONYMOUS.into()),
            address: cx.client.map(|a| a.to_string()),
            action: action.to_string(),
            target,
            outcome,
        });
    }
}
