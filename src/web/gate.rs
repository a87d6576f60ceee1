//! The auth gate, in one place before routing hands over: identify the user, refuse the
//! unauthenticated (303 to login, 401 + `HX-Redirect` for partial requests, 401 JSON for the
//! API), check the CSRF token on unsafe requests with ambient credentials, check the role, and
//! afterwards audit every change.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::StatusCode;

use super::dashboard::Shared;
use super::handlers::Ctx;
use super::prefix::Urls;
use super::request::Params;
use super::response::{json_error, see_other_owned, text, Resp};
use super::router::Handler;
use crate::auth::{AuditEntry, Need, RequestParts, Role, User};

/// Who a request speaks for.
#[derive(Debug, Default)]
pub(crate) struct Identity {
    pub(crate) user: Option<User>,
    /// What CSRF tokens are bound to, for credentials the browser sends by itself.
    pub(crate) binding: Option<String>,
}

/// What each handler needs.
pub(crate) fn need(h: Handler, action: Option<&str>) -> Need {
    use Handler::*;
    let removing = action == Some("remove");
    match h {
        Login | LoginSubmit | Logout | Asset | Health | AuthRoute => Need::Public,
        TaskNew | TaskCreate | TaskEdit | TaskUpdate | ApiTaskCreate | ApiTaskUpdate => {
            Need::Role(Role::Admin)
        }
        TaskAction | ApiTaskAction | Bulk | ApiBulk if removing => Need::Role(Role::Admin),
        TaskAction | ApiTaskAction | Bulk | ApiBulk | SchedulerAction => Need::Role(Role::Operator),
        _ => Need::Role(Role::Viewer),
    }
}

/// The value of cookie `name`, if sent.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(crate) async fn identify(
    shared: &Shared,
    parts: &Parts,
    rel: &str,
    client: Option<IpAddr>,
) -> Identity {
    let Some(auth) = &shared.auth else {
        return Identity::default();
    };
    if let Some(value) = cookie(&parts.headers, &shared.session_cookie) {
        let now = jiff::Timestamp::now().as_second();
        if let Some(s) = shared.keys.verify(&shared.session_cookie, value, now) {
            return Identity {
                user: Some(s.user()),
                binding: Some(s.sid),
            };
        }
    }
    let rp = RequestParts {
        method: &parts.method,
        path: rel,
        headers: &parts.headers,
        client,
    };
    match auth.authenticate(&rp).await {
        Some(user) => Identity {
            binding: auth.is_ambient(&rp).then(|| format!("user:{}", user.id)),
            user: Some(user),
        },
        None => Identity::default(),
    }
}

/// The request, as the gate sees it.
pub(crate) struct Asked<'a> {
    pub(crate) need: Need,
    pub(crate) identity: &'a Identity,
    pub(crate) unsafe_method: bool,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) form: &'a [u8],
    pub(crate) urls: &'a Urls,
    pub(crate) rel: &'a str,
    pub(crate) query: &'a str,
    pub(crate) partial: bool,
    pub(crate) json: bool,
}

/// `None` to go on, or the refusal to send.
pub(crate) fn check(shared: &Shared, a: &Asked<'_>) -> Option<Resp> {
    refusal(shared, a).err()
}

#[allow(clippy::result_large_err)] // the error is the response itself, sent once
fn refusal(shared: &Shared, a: &Asked<'_>) -> Result<(), Resp> {
    let Need::Role(role) = a.need else {
        return Ok(());
    };
    if shared.read_only && role > Role::Viewer {
        return Err(forbidden(a.json, "the dashboard is read-only"));
    }
    if shared.auth.is_none() {
        return Ok(());
    }
    let Some(user) = &a.identity.user else {
        return Err(unauthenticated(a));
    };
    if a.unsafe_method {
        if let Some(binding) = &a.identity.binding {
            let token = a
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| Params::parse(a.form).get("csrf").map(str::to_string));
            let ok = token.is_some_and(|t| shared.keys.csrf_ok(binding, &t));
            if !ok {
                return Err(forbidden(
                    a.json,
                    "missing or invalid CSRF token; reload the page and try again",
                ));
            }
        }
    }
    if !user.has(role) {
        let have = user.role().map(Role::as_str).unwrap_or("no role");
        return Err(forbidden(
            a.json,
            &format!("this needs the {} role; you are {have}", role.as_str()),
        ));
    }
    Ok(())
}

fn forbidden(json: bool, why: &str) -> Resp {
    if json {
        json_error(StatusCode::FORBIDDEN, "forbidden", why, None)
    } else {
        text(StatusCode::FORBIDDEN, format!("403 Forbidden: {why}\n"))
    }
}

fn unauthenticated(a: &Asked<'_>) -> Resp {
    if a.json {
        let mut r = json_error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in first, or send Authorization: Bearer <token>",
            None,
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"taskdeck\""),
        );
        r
    } else if a.partial {
        let login = a.urls.login_for(a.rel, a.query);
        let mut r = text(
            StatusCode::UNAUTHORIZED,
            "401 Unauthorized: sign in first\n",
        );
        if let Ok(v) = HeaderValue::from_str(&login) {
            r.headers_mut().insert("hx-redirect", v);
        }
        r
    } else {
        // The hottest refusal: one buffer, handed to the header without a copy.
        see_other_owned(a.urls.login_for(a.rel, a.query))
    }
}

/// Audits a request that changes state (anything needing more than the viewer role).
pub(crate) fn audit_change(
    cx: &Ctx<'_>,
    need: Need,
    handler: Handler,
    id: Option<&str>,
    action: Option<&str>,
    form: &[u8],
    status: StatusCode,
) {
    if !matches!(need, Need::Role(r) if r > Role::Viewer) {
        return;
    }
    let params = Params::parse(form);
    // A remove from a page without `confirm` only asked for confirmation.
    if matches!(handler, Handler::TaskAction | Handler::Bulk)
        && action == Some("remove")
        && params.get("confirm") != Some("yes")
        && status == StatusCode::OK
    {
        return;
    }
    use Handler::*;
    let (what, target) = match handler {
        TaskAction | ApiTaskAction => (format!("task.{}", action.unwrap_or("")), id.map(decode)),
        Bulk => (
            format!("bulk.{}", action.unwrap_or("")),
            Some(params.all("id").collect::<Vec<_>>().join(",")),
        ),
        ApiBulk => (format!("bulk.{}", action.unwrap_or("")), None),
        TaskCreate => ("task.create".into(), params.get("id").map(String::from)),
        ApiTaskCreate => (
            "task.create".into(),
            serde_json::from_slice::<serde_json::Value>(form)
                .ok()
                .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(String::from)),
        ),
        TaskUpdate | ApiTaskUpdate => ("task.update".into(), id.map(decode)),
        SchedulerAction => (format!("scheduler.{}", action.unwrap_or("")), None),
        _ => return,
    };
    let outcome = if status.is_success() || status.is_redirection() {
        "ok".to_string()
    } else {
        format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
    };
    record(cx, &what, target, outcome);
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Adds an audit entry for this request's user.
pub(crate) fn record(cx: &Ctx<'_>, action: &str, target: Option<String>, outcome: String) {
    cx.shared.audit.record(AuditEntry {
        at: jiff::Timestamp::now(),
        actor: cx
            .user
            .map(|u| u.id.clone())
            .unwrap_or_else(|| "anonymous".into()),
        address: cx.client.map(|a| a.to_string()),
        action: action.to_string(),
        target,
        outcome,
    });
}
