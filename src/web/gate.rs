//! The auth gate, in one place before a handler runs, reading the route table: identify the user, refuse the
//! unauthenticated (303 to login, 401 + `HX-Redirect` for partial requests, 401 JSON for the
//! API), check the CSRF token on unsafe requests with ambient credentials, check the role, and
//! afterwards audit every change.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::StatusCode;

use super::context::{Ctx, Denied, SessionMeta, Shared};
use super::request::Params;
use super::response::{json_error, see_other_owned, text, Resp};
use super::routes::{Access, Audit, Found, Target};
use super::sessions::Known;
use crate::auth::session::Session;
use crate::auth::{RequestParts, Role, User};
use crate::cookies;
use crate::links::Urls;

/// Who a request speaks for.
#[derive(Debug, Default)]
pub(crate) struct Identity {
    pub(crate) user: Option<User>,
    /// What CSRF tokens are bound to, for credentials the browser sends by itself.
    pub(crate) binding: Option<String>,
    /// The session cookie it came from, if it did.
    pub(crate) session: Option<Box<SessionMeta>>,
}

pub(crate) async fn identify(
    shared: &Shared,
    parts: &Parts,
    rel: &str,
    urls: &Urls,
    client: Option<IpAddr>,
    peer: Option<IpAddr>,
) -> Identity {
    let Some(auth) = &shared.auth else {
        return Identity::default();
    };
    // Every cookie of the session's name is tried: a junk one set for another path or by a
    // sibling application must not hide a valid one.
    let now = jiff::Timestamp::now().as_second();
    // With a shared store of ended sessions, a session is accepted only once this replica has
    // read what the others ended (a fresh replica waits for its first read, a bounded while).
    let trusted = match unsynced(shared, &parts.headers) {
        None => true,
        Some(wait) => wait.await,
    };
    let from_cookie = if trusted {
        from_session(shared, &parts.headers, now)
    } else {
        None
    };
    let due = match from_cookie {
        Some(FromCookie::Current(identity)) => return identity,
        Some(FromCookie::Due(s)) => Some(s),
        None => None,
    };
    if let Some(s) = due {
        // Only a session due for its re-check waits, in a future of its own, boxed before it is
        // awaited so that every request's future holds a pointer, not the session's state.
        let recheck = Box::pin(async move {
            // A session of a backend no longer configured ends.
            let backend = auth.get(&s.via)?;
            let user = shared.sessions.recheck(backend, &s).await?;
            Some(signed_in(*s, user))
        });
        if let Some(identity) = recheck.await {
            return identity;
        }
    }
    if !auth.reads_credentials() {
        return Identity::default();
    }
    // Backends that read credentials from the request are asked in a future of their own, so
    // that every request's future stays small.
    Box::pin(ask_backends(shared, auth, parts, rel, urls, client, peer)).await
}

async fn ask_backends(
    shared: &Shared,
    auth: &crate::auth::chain::Backends,
    parts: &Parts,
    rel: &str,
    urls: &Urls,
    client: Option<IpAddr>,
    peer: Option<IpAddr>,
) -> Identity {
    let rp = RequestParts {
        method: &parts.method,
        path: rel,
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        client,
        peer,
        base: urls.base(),
        secure: shared.secure(&parts.headers, peer),
        flow: None,
    };
    match auth.authenticate(&rp).await {
        Some((user, ambient)) => Identity {
            binding: ambient.then(|| format!("user:{}", user.id)),
            user: Some(user),
            session: None,
        },
        None => Identity::default(),
    }
}

/// When the request carries a session cookie and this replica has not read the shared ended
/// sessions lately: the wait for that read (boxed, so that every request's future holds a
/// pointer, not the wait's state).
fn unsynced<'a>(
    shared: &'a Shared,
    headers: &HeaderMap,
) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>>> {
    if shared.sessions.in_sync()
        || cookies::values(headers, &shared.session_cookie)
            .next()
            .is_none()
    {
        return None;
    }
    Some(Box::pin(shared.sessions.sync()))
}

/// What the request's session cookies give, as far as this process knows without asking the
/// backend.
enum FromCookie {
    /// A live session, checked within the interval.
    Current(Identity),
    /// A live session due for its re-check with the backend.
    Due(Box<Session>),
}

/// The first of the request's session cookies that verifies and was not ended (signed out,
/// or its user removed); `None` when none does.
fn from_session(shared: &Shared, headers: &HeaderMap, now: i64) -> Option<FromCookie> {
    for value in cookies::values(headers, &shared.session_cookie) {
        let Some(s) = shared.keys.verify(&shared.session_cookie, value, now) else {
            continue;
        };
        match shared.sessions.known(&s) {
            Known::Ended => continue,
            Known::Current(user) => return Some(FromCookie::Current(signed_in(s, user))),
            Known::Due => return Some(FromCookie::Due(Box::new(s))),
        }
    }
    None
}

/// The identity of `user`, signed in with the session `s`.
fn signed_in(s: Session, user: User) -> Identity {
    Identity {
        user: Some(user),
        binding: Some(s.sid.clone()),
        session: Some(Box::new(SessionMeta {
            sid: s.sid,
            user: s.sub,
            iat_ms: s.iat_ms,
            exp: s.exp,
            via: s.via,
        })),
    }
}

/// The request, as the gate sees it.
pub(crate) struct Asked<'a> {
    pub(crate) access: Access,
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
    let Access::Role(role) = a.access else {
        return Ok(());
    };
    let user = a.identity.user.as_ref();
    match shared.permits(user, role) {
        Ok(()) => {}
        Err(Denied::ReadOnly) => return Err(forbidden(a.json, "the dashboard is read-only")),
        Err(Denied::SignIn) => return Err(unauthenticated(a)),
        // CSRF is checked first: a forged request learns nothing about roles.
        Err(Denied::Role) => {}
    }
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
    if let Some(user) = user.filter(|u| !u.has(role)) {
        let have = user.role().map(Role::as_str).unwrap_or("no role");
        return Err(forbidden(
            a.json,
            &format!("this needs the {} role; you are {have}", role.as_str()),
        ));
    }
    Ok(())
}

/// The action the host's narrowing hook ([`crate::DashboardBuilder::authorize`]) is asked
/// about for a route, at the gate: the audit action of a change to a task, a run, a job or
/// the scheduler, and for a form that leads to one, that change's. `None`: nothing to narrow
/// (reads; sign-in and sign-out, which are one's own), or the handler asks per target
/// (creating a task, whose job is in the body; bulk actions; retrying what a filter shows;
/// a job's tasks, each paused or resumed on its own).
pub(crate) fn narrowed_action(found: &Found<'_>) -> Option<&'static str> {
    use super::routes::Handler::*;
    let changes = match found.route.audit {
        super::routes::Audit::Change { action, .. }
        | super::routes::Audit::Confirmed { action, .. } => Some(action),
        _ => None,
    };
    match found.route.handler {
        TaskUpdate | TaskAction(_) | RunWithSubmit | ApiTaskUpdate | ApiTaskAction(_)
        | ApiRunWith | RunAction(_) | ApiRunAction(_) | JobPause(_) | SchedulerPause(_) => changes,
        TaskEdit => Some("task.update"),
        RunWith => Some("task.run_with"),
        _ => None,
    }
}

/// After the role check: the host's narrowing hook on the route's action and target, `Some`
/// with the answer to send instead: 403 when it refuses, the failure when the target could
/// not be read (never let through unchecked). An id the backend does not know is left to the
/// handler's 404.
pub(crate) async fn narrow(cx: &Ctx<'_>, found: &Found<'_>) -> Option<Resp> {
    use super::routes::Handler::*;
    use crate::policy::ActionTarget;
    if !cx.shared.narrowing.is_set() || cx.user.is_none() {
        return None;
    }
    let action = narrowed_action(found)?;
    let id = found.id.map(decode).unwrap_or_default();
    let b = &cx.shared.backend;
    let allowed = match found.route.handler {
        TaskUpdate | TaskEdit | TaskAction(_) | RunWith | RunWithSubmit | ApiTaskUpdate
        | ApiTaskAction(_) | ApiRunWith => match b.job_of(&id).await {
            Ok(Some(job)) => cx.allows(action, &ActionTarget::task(&id, &job)),
            Ok(None) => return None,
            Err(e) => return Some(cx.fail(&e)),
        },
        RunAction(_) | ApiRunAction(_) => {
            let run_id = id.parse().ok()?;
            match b.run(run_id).await {
                Ok(run) => cx.allows(action, &ActionTarget::run(run.id, &run.task_id, &run.job)),
                Err(e) if e.is_not_found() => return None,
                Err(e) => return Some(cx.fail(&e)),
            }
        }
        // The job as a whole; each of its tasks is asked again as it is paused or resumed.
        JobPause(_) => cx.allows(action, &ActionTarget::job(&id)),
        _ => cx.allows(action, &ActionTarget::default()),
    };
    (!allowed).then(|| refuse_action(cx.json, action))
}

/// The 403 for an action the narrowing hook refused.
pub(crate) fn refuse_action(json: bool, action: &str) -> Resp {
    forbidden(
        json,
        &format!("you may not do {action} to this; the dashboard's rules narrow your role here"),
    )
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

/// Records what the route's [`Audit`] entry says, once the handler has answered `status`.
pub(crate) fn audit(cx: &Ctx<'_>, found: &Found<'_>, form: &[u8], status: StatusCode) {
    let (action, target, confirmed) = match found.route.audit {
        Audit::Change { action, target } => (action, target, false),
        Audit::Confirmed { action, target } => (action, target, true),
        Audit::ByHandler(_) | Audit::Not(_) => return,
    };
    let params = Params::parse(form);
    // A page post without `confirm` that answered 200 only asked for confirmation.
    if confirmed && params.get("confirm") != Some("yes") && status == StatusCode::OK {
        return;
    }
    let target = match target {
        Target::PathId => found.id.map(decode),
        Target::FormId => params.get("id").map(String::from),
        Target::FormIds => Some(params.all("id").collect::<Vec<_>>().join(",")),
        Target::JsonId => serde_json::from_slice::<serde_json::Value>(form)
            .ok()
            .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(String::from)),
        Target::Handler => cx.audit_target.get().cloned(),
        Target::None => None,
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
    cx.record(action, target, outcome);
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
