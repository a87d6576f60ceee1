//! Handlers: what each route does. Pipeline checks are done before these run.

use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;
use jiff::tz::TimeZone;

use super::api;
use super::dashboard::Shared;
use super::pages;
use super::prefix::{safe_relative, Urls};
use super::request::{BadRequest, Params};
use super::response::{html, json_error, Resp};
use super::router::{Found, Handler};
use super::sse;
use crate::auth::{Role, User};
use crate::backend::{BackendError, SchedulerStatus};
use crate::views::{self, Flash, View};

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
    /// The CSRF token for this user's forms (login on, ambient credentials).
    pub(crate) csrf: Option<&'a str>,
    /// The client's address.
    pub(crate) client: Option<std::net::IpAddr>,
    /// The current page relative to the base, with its query.
    pub(crate) here: std::borrow::Cow<'a, str>,
    /// Filled on first use by [`Ctx::view`].
    pub(crate) status: std::sync::OnceLock<(SchedulerStatus, TimeZone)>,
    /// The request came over HTTPS (as a trusted proxy says, or by configuration).
    pub(crate) secure: bool,
}

impl Ctx<'_> {
    /// The current page, relative to the base, with its query.
    pub(crate) fn here(&self) -> &str {
        &self.here
    }

    /// The flash message left by the previous action, if any.
    fn flash(&self) -> Option<Flash> {
        let cookies = self.headers.get_all(header::COOKIE);
        for v in cookies {
            let Ok(v) = v.to_str() else { continue };
            for c in v.split(';') {
                if let Some(val) = c.trim().strip_prefix("taskdeck_flash=") {
                    let decoded = percent_encoding::percent_decode_str(val).decode_utf8_lossy();
                    let (kind, msg) = decoded.split_once('|')?;
                    return Some(Flash {
                        ok: kind == "ok",
                        message: msg.chars().take(300).collect(),
                    });
                }
            }
        }
        None
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
            if let Ok(v) = HeaderValue::from_str(&format!(
                "taskdeck_flash=; Path={}; Max-Age=0; HttpOnly; SameSite=Lax",
                self.urls.cookie_path()
            )) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        r
    }

    /// The scheduler's status and zone, read once per request however many views need them.
    fn status(&self) -> &(SchedulerStatus, TimeZone) {
        self.status.get_or_init(|| {
            let st = self.shared.backend.status();
            let tz = jiff::tz::db().get(&st.timezone).unwrap_or(TimeZone::UTC);
            (st, tz)
        })
    }

    pub(crate) fn view(&self) -> View<'_> {
        let (st, tz) = self.status();
        View {
            urls: &self.urls,
            assets: &self.shared.assets,
            title: &self.shared.title,
            status: st,
            tz: tz.clone(),
            now: st.now,
            user: self.user,
            csrf: self.csrf,
            can_operate: self.may(Role::Operator),
            can_admin: self.may(Role::Admin),
            here: &self.here,
        }
    }

    /// True when this request's user may act with `role`'s rights.
    pub(crate) fn may(&self, role: Role) -> bool {
        !self.shared.read_only
            && (self.shared.auth.is_none() || self.user.is_some_and(|u| u.has(role)))
    }

    /// 303 back to `back` (a form's hidden field, checked) or `fallback`, with a flash message.
    pub(crate) fn back(&self, form: &Params, fallback: &str, ok: bool, message: &str) -> Resp {
        let rel = form.get("back").and_then(safe_relative).unwrap_or(fallback);
        self.go(rel, ok, message)
    }

    /// 303 to `rel` (relative to the base) with a flash message.
    pub(crate) fn go(&self, rel: &str, ok: bool, message: &str) -> Resp {
        let mut r = super::response::see_other(&self.urls.at(rel));
        if let Some(c) =
            super::dashboard::flash_cookie(&self.urls, if ok { "ok" } else { "err" }, message)
        {
            r.headers_mut().append(header::SET_COOKIE, c);
        }
        r
    }

    /// A backend failure as JSON or an error page.
    pub(crate) fn fail(&self, e: &BackendError) -> Resp {
        let status = status_of(e);
        if self.json {
            json_error(status, e.code(), e.message(), e.field())
        } else {
            let view = self.view();
            let body = views::errors::error(&view, status, e.message());
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

/// The 404 page (or JSON) for an unknown path.
pub(crate) fn not_found(shared: &Shared, urls: &Urls, json: bool) -> Resp {
    if json {
        return json_error(StatusCode::NOT_FOUND, "not_found", "no such URL", None);
    }
    let st = shared.backend.status();
    let view = View {
        urls,
        assets: &shared.assets,
        title: &shared.title,
        status: &st,
        tz: TimeZone::UTC,
        now: st.now,
        user: None,
        csrf: None,
        can_operate: false,
        can_admin: false,
        here: "/",
    };
    let body = views::errors::error(
        &view,
        StatusCode::NOT_FOUND,
        "There is no page at this address.",
    );
    html(
        StatusCode::NOT_FOUND,
        views::layout::page(&view, "Not found", views::Nav::None, None, body).into_string(),
    )
}

/// Runs the handler for a matched route.
pub(crate) async fn dispatch(cx: &Ctx<'_>, found: Found<'_>, body: &[u8]) -> Resp {
    let id = found.id.map(|i| {
        percent_encoding::percent_decode_str(i)
            .decode_utf8_lossy()
            .into_owned()
    });
    let id = id.as_deref().unwrap_or("");
    let action = found.action.unwrap_or("");
    let form = || Params::parse(body);
    match found.handler {
        Handler::Overview => pages::overview(cx).await,
        Handler::Tasks => pages::tasks(cx).await,
        Handler::TaskNew => pages::task_new(cx).await,
        Handler::TaskCreate => pages::task_save(cx, None, &form()).await,
        Handler::TaskDetail => pages::task_detail(cx, id).await,
        Handler::TaskEdit => pages::task_edit(cx, id).await,
        Handler::TaskUpdate => pages::task_save(cx, Some(id), &form()).await,
        Handler::TaskAction => pages::task_action(cx, id, action, &form()).await,
        Handler::Bulk => pages::bulk(cx, action, &form()).await,
        Handler::SchedulerAction => pages::scheduler_action(cx, action, &form()),
        Handler::Runs => pages::runs(cx).await,
        Handler::RunDetail => pages::run_detail(cx, id).await,
        Handler::Events => sse::stream(
            cx.shared.backend.subscribe(),
            cx.shared.keepalive,
            cx.shared.closing.subscribe(),
        ),
        Handler::ApiTasks => api::tasks(cx).await,
        Handler::ApiTaskCreate => api::create(cx, body).await,
        Handler::ApiTask => api::task(cx, id).await,
        Handler::ApiTaskUpdate => api::update(cx, id, body).await,
        Handler::ApiTaskRuns => api::task_runs(cx, id).await,
        Handler::ApiTaskAction => api::action(cx, id, action).await,
        Handler::ApiBulk => api::bulk(cx, action, body).await,
        Handler::ApiRuns => api::runs(cx).await,
        Handler::ApiRun => api::run(cx, id).await,
        Handler::ApiStats => api::stats(cx).await,
        Handler::ApiPreview => api::preview(cx, body),
        Handler::Health | Handler::Asset => {
            stateless(cx.shared, &found, cx.query.get("v"), cx.headers)
        }
        Handler::Metrics => api::metrics(cx).await,
        Handler::Login => super::login::login_page(cx),
        Handler::LoginSubmit => super::login::login_submit(cx, &form()).await,
        Handler::Logout => super::login::logout(cx).await,
        Handler::Audit => super::login::audit_page(cx).await,
        Handler::AuthRoute => super::login::backend_route(cx, body).await,
        Handler::ApiAudit => super::login::audit_api(cx).await,
        Handler::Instances => pages::instances(cx).await,
        Handler::ApiInstances => api::instances(cx).await,
    }
}

/// Routes answered without identity, body or context: static assets and the health check.
pub(crate) fn is_stateless(h: Handler) -> bool {
    matches!(h, Handler::Asset | Handler::Health)
}

/// Answers a [stateless](is_stateless) route (`version` is an asset's `v` parameter).
pub(crate) fn stateless(
    shared: &Shared,
    found: &Found<'_>,
    version: Option<&str>,
    headers: &HeaderMap,
) -> Resp {
    match found.handler {
        Handler::Asset => shared
            .assets
            .serve(found.name.unwrap_or(""), version, headers),
        _ => super::response::json_static(StatusCode::OK, br#"{"status":"ok"}"#),
    }
}
