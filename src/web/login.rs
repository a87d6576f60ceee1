//! Sign in, sign out, and the audit log.

use std::time::Instant;

use http::header::{self, HeaderValue};
use http::StatusCode;

use super::context::{not_found, Ctx};
use super::request::Params;
use super::response::{html, json, see_other, Resp};
use crate::auth::session::Session;
use crate::auth::LoginResult;
use crate::cookies;
use crate::links::safe_relative;
use crate::seam::BackendError;
use crate::views;

/// `next` if it is a path under this dashboard's base, else the dashboard root.
pub(crate) fn safe_next(cx: &Ctx<'_>, next: Option<&str>) -> String {
    let base = cx.urls.at("");
    next.and_then(safe_relative)
        .and_then(|n| {
            let rest = n.strip_prefix(base.as_str())?;
            (rest.starts_with('/')).then_some(n)
        })
        .map(String::from)
        .unwrap_or_else(|| cx.urls.root())
}

fn page(cx: &Ctx<'_>, status: StatusCode, next: &str, username: &str, error: Option<&str>) -> Resp {
    let v = cx.view();
    let (methods, helps) = match &cx.shared.auth {
        Some(a) => (a.methods(), a.helps()),
        None => (Vec::new(), Vec::new()),
    };
    let link = |path: &str| cx.urls.with_query(path, [("next", next)]);
    let mut offer = views::login::Offer::of(&methods, &helps, link);
    if cx.shared.auth.is_none() {
        offer.closed = Some("Login is not enabled for this dashboard.");
    }
    html(
        status,
        views::login::login(&v, next, username, error, &offer).into_string(),
    )
}

pub(crate) fn login_page(cx: &Ctx<'_>) -> Resp {
    let next = safe_next(cx, cx.query.get("next"));
    if cx.user.is_some() {
        return see_other(&next);
    }
    page(cx, StatusCode::OK, &next, "", None)
}

pub(crate) async fn login_submit(cx: &Ctx<'_>, p: &Params) -> Resp {
    let next = safe_next(cx, p.get("next"));
    let Some(auth) = &cx.shared.auth else {
        return page(cx, StatusCode::NOT_FOUND, &next, "", None);
    };
    let username = p.get("username").unwrap_or("");
    let password = p.raw("password");
    if username.is_empty() || password.is_empty() || username.len() > 256 || password.len() > 1024 {
        return page(
            cx,
            StatusCode::BAD_REQUEST,
            &next,
            username,
            Some("Enter a username and a password."),
        );
    }
    // The attempt is counted before the password is checked: a burst of concurrent attempts
    // gets no more judgements than the same attempts one after another.
    // A browser that signed in as this user before is not slowed by strangers' failures
    // against the username (only by its own address's).
    let known = known_device(cx, username);
    let throttled_as = (!known).then_some(username);
    let attempt = match cx
        .shared
        .throttle
        .begin(cx.client, throttled_as, Instant::now())
    {
        Ok(a) => a,
        Err(wait) => return throttled(cx, &next, username, wait),
    };
    // At most so many password checks at once; a bounded queue waits, beyond it 503.
    let Some(_slot) = cx.shared.login_slots.enter().await else {
        // Not judged: no failure counted, or a flood from many addresses would lock out a
        // user who only ever sent the right password.
        attempt.withdrawn();
        cx.record_refused("login_busy", username, "503 Service Unavailable");
        let mut r = page(
            cx,
            StatusCode::SERVICE_UNAVAILABLE,
            &next,
            username,
            Some("Too many sign-ins at once. Try again in a moment."),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    };
    let (via, judged) = auth.login(username, password).await;
    let via = via.to_string();
    match judged {
        LoginResult::Success(user) => {
            attempt.succeeded();
            let mut r = start_session(cx, &user, &via, &next);
            if let Some(c) = cookies::device(&device_token(cx, username), cx.cookie_scope()) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        LoginResult::Failure => {
            attempt.failed(Instant::now());
            cx.record_refused("login_failed", username, "bad credentials");
            page(
                cx,
                StatusCode::UNAUTHORIZED,
                &next,
                username,
                Some("Wrong username or password."),
            )
        }
        LoginResult::Unsupported => page(cx, StatusCode::BAD_REQUEST, &next, username, None),
    }
}

/// What a device cookie's MAC is bound to: its username, apart from every CSRF binding.
fn device_binding(username: &str, issued_ms: i64) -> String {
    format!("device:{issued_ms}:{username}")
}

/// How long a device cookie counts.
const DEVICE_DAYS: i64 = 365;

/// The device cookie's value for `username`: the name, when it was issued and a MAC of both
/// under the session keys. Issued afresh at each sign-in.
fn device_token(cx: &Ctx<'_>, username: &str) -> String {
    use base64::Engine as _;
    let name = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(username);
    let issued = jiff::Timestamp::now().as_millisecond();
    let mac = cx.shared.keys.csrf(&device_binding(username, issued));
    format!("{name}.{issued}.{mac}")
}

/// True when the request carries a device cookie this dashboard signed for `username`,
/// issued within a year and after the last time the user's sessions were all ended ("sign
/// out everywhere", a removed user): ending them ends the devices' standing too.
fn known_device(cx: &Ctx<'_>, username: &str) -> bool {
    use base64::Engine as _;
    let now = jiff::Timestamp::now().as_millisecond();
    cookies::values(cx.headers, cookies::DEVICE).any(|v| {
        let mut parts = v.splitn(3, '.');
        let (Some(name), Some(issued), Some(mac)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let Ok(issued) = issued.parse::<i64>() else {
            return false;
        };
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(name);
        decoded.is_ok_and(|n| n == username.as_bytes())
            && now.saturating_sub(issued) < DEVICE_DAYS * 24 * 3600 * 1000
            && cx
                .shared
                .keys
                .csrf_ok(&device_binding(username, issued), mac)
            && !cx.shared.sessions.user_ended_since(username, issued)
    })
}

/// 429 with `Retry-After`: this client or username must wait before another attempt.
fn throttled(cx: &Ctx<'_>, next: &str, username: &str, wait: std::time::Duration) -> Resp {
    {
        cx.record_refused("login_throttled", username, "429 Too Many Requests");
        let secs = wait.as_secs().max(1);
        let mut r = page(
            cx,
            StatusCode::TOO_MANY_REQUESTS,
            next,
            username,
            Some(&format!("Too many failed sign-ins. Try again in {secs} s.")),
        );
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

/// Signs `user` in: a new session cookie, an audit entry, 303 to `next`.
fn start_session(cx: &Ctx<'_>, user: &crate::auth::User, via: &str, next: &str) -> Resp {
    let now = jiff::Timestamp::now().as_second();
    let ttl = i64::try_from(cx.shared.session_ttl.as_secs()).unwrap_or(i64::MAX);
    let session = Session::new(user, via, now, ttl);
    let value = cx.shared.keys.sign(&cx.shared.session_cookie, &session);
    let mut r = see_other(next);
    let c = cookies::session(
        &cx.shared.session_cookie,
        &value,
        cx.cookie_scope(),
        ttl,
        cx.shared.same_site,
    );
    if let Some(c) = c {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    // What an earlier sign-in kept for its sign-out is not this one's.
    clear_kept(cx, &mut r);
    cx.shared.metrics.signed_in(via);
    cx.shared.audit.record(crate::audit::AuditEntry {
        at: jiff::Timestamp::now(),
        actor: user.id.clone(),
        address: cx.client.map(|a| a.to_string()),
        action: "login".into(),
        target: None,
        outcome: "ok".into(),
    });
    r
}

/// `/auth/…` and the backends' public paths: the backends' own routes.
pub(crate) async fn backend_route(cx: &Ctx<'_>, body: &[u8]) -> Resp {
    let Some(auth) = &cx.shared.auth else {
        return not_found(cx.shared, &cx.urls, cx.json).await;
    };
    let (path, query) = cx.here.split_once('?').unwrap_or((&cx.here, ""));
    let flow_cookie = flow_cookie(cx);
    let now = jiff::Timestamp::now().as_second();
    // The sealed value is `backend-name\nflow`: only the backend that began the flow sees it.
    let sealed = cookies::values(cx.headers, &flow_cookie)
        .find_map(|v| cx.shared.keys.open(&flow_cookie, v, now));
    let flow = sealed.as_deref().and_then(|s| s.split_once('\n'));
    let rp = crate::auth::RequestParts {
        method: cx.method,
        path,
        query,
        headers: cx.headers,
        client: cx.client,
        peer: cx.peer,
        base: cx.urls.base(),
        secure: cx.secure,
        flow: None,
    };
    use crate::auth::AuthReply;
    // Refusals (a forged state, a replayed code) count as failed sign-ins of this client:
    // past a few, its next tries wait, before the backend asks the provider anything.
    let attempt = match cx.shared.throttle.begin(cx.client, None, Instant::now()) {
        Ok(a) => a,
        Err(wait) => return throttled(cx, &safe_next(cx, None), "", wait),
    };
    let reply = auth.extra_route(&rp, body, flow).await;
    match &reply {
        Some((_, AuthReply::SignIn { .. } | AuthReply::SignInKeeping { .. })) => {
            attempt.succeeded()
        }
        Some((_, AuthReply::Refused { .. })) => attempt.failed(Instant::now()),
        _ => attempt.withdrawn(),
    }
    let clear_flow = |mut r: Resp| {
        if flow.is_some() {
            if let Some(c) =
                cookies::clearing(&flow_cookie, cx.cookie_scope(), cookie::SameSite::Lax)
            {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
        }
        r
    };
    match reply {
        None => not_found(cx.shared, &cx.urls, cx.json).await,
        Some((via, AuthReply::SignIn { user, next })) => {
            let next = safe_next(cx, next.as_deref());
            clear_flow(start_session(cx, &user, via, &next))
        }
        Some((via, AuthReply::SignInKeeping { user, next, keep })) => {
            let next = safe_next(cx, next.as_deref());
            let mut r = start_session(cx, &user, via, &next);
            let name = kept_cookie(cx);
            let ttl = i64::try_from(cx.shared.session_ttl.as_secs()).unwrap_or(i64::MAX);
            let sealed =
                cx.shared
                    .keys
                    .seal(&name, &format!("{via}\n{keep}"), now.saturating_add(ttl));
            // Browsers drop cookies over 4 KiB: then the sign-out goes without it.
            if keep.len() <= 3 * 1024 && sealed.len() <= 3800 {
                let c =
                    cookies::session(&name, &sealed, cx.cookie_scope(), ttl, cx.shared.same_site);
                if let Some(c) = c {
                    r.headers_mut().append(header::SET_COOKIE, c);
                }
            } else {
                tracing::debug!(
                    bytes = sealed.len(),
                    "what a sign-in keeps is too large for a cookie; not kept"
                );
            }
            clear_flow(r)
        }
        Some((_, AuthReply::Redirect(to))) => see_other(&to),
        Some((via, AuthReply::Begin { to, flow })) => {
            if flow.len() > 2048 {
                tracing::warn!(
                    bytes = flow.len(),
                    "a login backend's flow state is over 2 KiB; refused"
                );
                return cx.fail(&BackendError::unavailable("the sign-in could not start"));
            }
            let sealed = cx.shared.keys.seal(
                &flow_cookie,
                &format!("{via}\n{flow}"),
                now + cookies::FLOW_TTL,
            );
            // Browsers drop cookies over 4 KiB, which would break the sign-in silently.
            if sealed.len() > 3800 {
                tracing::warn!(
                    bytes = sealed.len(),
                    "a login backend's sealed flow state is too large for a cookie; refused"
                );
                return cx.fail(&BackendError::unavailable("the sign-in could not start"));
            }
            let mut r = see_other(&to);
            if let Some(c) = cookies::flow(&flow_cookie, &sealed, cx.cookie_scope()) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        Some((_, AuthReply::Html(status, page))) => {
            html(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), page)
        }
        Some((
            _,
            AuthReply::Refused {
                status,
                message,
                action,
                reason,
            },
        )) => {
            cx.record_refused(&action, &reason, &message);
            let status = StatusCode::from_u16(status)
                .ok()
                .filter(|s| s.is_client_error() || s.is_server_error())
                .unwrap_or(StatusCode::BAD_REQUEST);
            let next = safe_next(cx, None);
            clear_flow(page(cx, status, &next, "", Some(&message)))
        }
    }
}

/// The name of the cookie that keeps a backend's flow state.
fn flow_cookie(cx: &Ctx<'_>) -> String {
    format!("{}_flow", cx.shared.session_cookie)
}

/// 303 to `to` (the sign-in page unless a backend says otherwise), clearing the session
/// cookie.
fn signed_out(cx: &Ctx<'_>, to: Option<String>) -> Resp {
    let mut r = match to {
        // Off-site (an identity provider's sign-out): a sign-out form may not be answered
        // with a redirect to another origin (CSP `form-action 'self'` covers redirects), so a
        // page sends the browser on, by a refresh and by a link.
        Some(to) if !to.starts_with('/') => html(
            StatusCode::OK,
            views::login::leaving(&cx.view(), &to).into_string(),
        ),
        Some(to) => see_other(&to),
        None => see_other(&cx.urls.at(cx.urls.sign().login)),
    };
    // The session cookie, and what its sign-in kept for the sign-out, if the browser has it.
    let scope = cx.cookie_scope();
    if let Some(c) = cookies::clearing(&cx.shared.session_cookie, scope, cx.shared.same_site) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    clear_kept(cx, &mut r);
    r
}

/// Clears the cookie of what a sign-in kept for its sign-out, when the browser sent one.
fn clear_kept(cx: &Ctx<'_>, r: &mut Resp) {
    let kept = kept_cookie(cx);
    if cookies::value(cx.headers, &kept).is_none() {
        return;
    }
    if let Some(c) = cookies::clearing(&kept, cx.cookie_scope(), cx.shared.same_site) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
}

/// Where a backend's `logout` may send the browser: an absolute http(s) URL, or a path under
/// this dashboard (anything else goes to the sign-in page).
fn after_logout(cx: &Ctx<'_>, to: Option<String>) -> Option<String> {
    let to = to?;
    if crate::links::is_absolute_http(&to) {
        return Some(to);
    }
    let next = safe_next(cx, Some(&to));
    (next == to).then_some(next)
}

/// The cookie that keeps what a backend's sign-in kept for its sign-out.
fn kept_cookie(cx: &Ctx<'_>) -> String {
    format!("{}_kept", cx.shared.session_cookie)
}

/// What the sign-in of backend `via` kept for this browser's sign-out, if it holds it.
fn kept(cx: &Ctx<'_>, via: &str) -> Option<String> {
    let name = kept_cookie(cx);
    let now = jiff::Timestamp::now().as_second();
    let found = cookies::values(cx.headers, &name).find_map(|v| {
        let open = cx.shared.keys.open(&name, v, now)?;
        let (by, keep) = open.split_once('\n')?;
        (by == via).then(|| keep.to_string())
    });
    found
}

/// The backend that signed this request's session in (none for a bearer token: it has no
/// session to end and nowhere to send the browser).
fn signed_in_by<'s>(cx: &Ctx<'s>) -> Option<&'s dyn crate::auth::AuthBackend> {
    let auth = cx.shared.auth.as_ref()?;
    auth.get(&cx.session_meta?.via)
}

pub(crate) async fn logout(cx: &Ctx<'_>) -> Resp {
    let mut to = None;
    if let Some(user) = cx.user {
        // The cookie is cleared, and a copy of it no longer opens anything.
        if let Some(s) = cx.session_meta {
            cx.shared
                .sessions
                .end_session(&s.sid, &s.via, &user.id, s.exp)
                .await;
        }
        if let Some(b) = signed_in_by(cx) {
            let keep = cx.session_meta.and_then(|s| kept(cx, &s.via));
            to = after_logout(cx, b.logout_keeping(user, keep.as_deref()).await);
        }
        cx.record("logout", None, "ok".into());
    }
    signed_out(cx, to)
}

/// `POST /logout/all`: ends every session of this user, on every replica, and signs out here.
pub(crate) async fn logout_all(cx: &Ctx<'_>) -> Resp {
    let mut to = None;
    if let Some(user) = cx.user {
        if let Some(s) = cx.session_meta {
            cx.shared.sessions.end_user(&s.via, &user.id).await;
        }
        if let Some(b) = signed_in_by(cx) {
            let keep = cx.session_meta.and_then(|s| kept(cx, &s.via));
            to = after_logout(cx, b.logout_keeping(user, keep.as_deref()).await);
        }
    }
    signed_out(cx, to)
}

pub(crate) async fn audit_page(cx: &Ctx<'_>) -> Resp {
    let page = match cx.query.parse_opt::<u32>("page") {
        Ok(p) => p.unwrap_or(1).max(1),
        Err(e) => return cx.bad(&e),
    };
    let per = 50usize;
    let (entries, total) = match cx.shared.audit.page((page as usize - 1) * per, per).await {
        Ok(p) => p,
        Err(e) => return cx.fail(&BackendError::unavailable(format!("audit log: {e}"))),
    };
    let entries = for_viewer(cx, entries);
    let pages = u32::try_from(total.div_ceil(per).max(1)).unwrap_or(u32::MAX);
    let body = views::audit::audit(&cx.view(), &entries, page, pages, total);
    cx.page(StatusCode::OK, "Audit log", views::Nav::Audit, body)
}

pub(crate) async fn audit_api(cx: &Ctx<'_>) -> Resp {
    let page = match cx.query.parse_opt::<u32>("page") {
        Ok(p) => p.unwrap_or(1).max(1),
        Err(e) => return cx.bad(&e),
    };
    let per = match cx.query.parse_opt::<u32>("per_page") {
        Ok(p) => p.unwrap_or(50).clamp(1, 500) as usize,
        Err(e) => return cx.bad(&e),
    };
    let (items, total) = match cx.shared.audit.page((page as usize - 1) * per, per).await {
        Ok(p) => p,
        Err(e) => return cx.fail(&BackendError::unavailable(format!("audit log: {e}"))),
    };
    let items = for_viewer(cx, items);
    json(
        StatusCode::OK,
        &serde_json::json!({"items": items, "total": total, "page": page, "per_page": per}),
    )
}

/// The audit entries as this user may see them: the usernames strangers tried are for admins
/// only (they are often a real user's password typed in the wrong field).
fn for_viewer(
    cx: &Ctx<'_>,
    mut entries: Vec<crate::audit::AuditEntry>,
) -> Vec<crate::audit::AuditEntry> {
    // By role, not by `may`: a read-only dashboard still shows its admins everything.
    let admin =
        cx.shared.auth.is_none() || cx.user.is_some_and(|u| u.has(crate::auth::Role::Admin));
    if !admin {
        for e in entries.iter_mut().filter(|e| e.is_anonymous()) {
            if e.target.is_some() {
                e.target = Some("(hidden: admins only)".into());
            }
        }
    }
    entries
}
