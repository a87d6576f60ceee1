//! [`Dashboard`]: the hand-written hyper service, its builder, and the request pipeline.
//!
//! Every request goes through the same steps, in this order, in [`Dashboard::handle`]:
//! 1. **mount** — the external base path (trusted `X-Forwarded-Prefix` + mount prefix) and the
//!    path relative to it;
//! 2. **security** — query and body limits, the cross-site check for unsafe methods;
//! 3. **route** — the matchit table (404 / 405 + `Allow`);
//! 4. **handler** — parse, call the [`TaskBackend`], render HTML / JSON / SSE / 303;
//!
//! and every response leaves with the security headers. Handlers never re-check.
//!
//! This module does not open sockets: see [`Dashboard::serve`] for that, or drive the service
//! from your own accept loop or framework.

use std::borrow::Borrow;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, Request, Response, StatusCode};

use super::context::{not_found, Ctx, Shared};
use super::request::{read_body, BadRequest, Params};
use super::response::{self, json_error, text, Body, Resp};
use super::routes::{Handler, Miss};
use super::{gate, handlers};
use crate::links::{MountPrefix, Urls};

/// Longest accepted query string, in bytes.
const MAX_QUERY: usize = 4096;

/// The client's address, as seen by the server. [`Dashboard::serve`] and the framework
/// adapters insert it; in your own accept loop use [`Dashboard::for_client`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Where a framework mounted the dashboard, reported by its adapter; overrides the configured
/// prefix for that request. The request path may still carry the prefix or not. Insert it as a
/// request extension when you nest the dashboard in another framework yourself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountedAt(pub MountPrefix);

/// The dashboard: a `hyper::service::Service` for any request body type.
///
/// Cheap to clone. Serve it with [`Dashboard::serve`], from your own hyper accept loop, or
/// through a framework adapter.
///
/// The tasks page and `/api/tasks` keep each listed task's rendered row and JSON between
/// requests (the page is fetched again on every live update), and reuse them while the task
/// is unchanged in every field; relative times are written per request. What is kept is
/// bounded at 4 MiB per dashboard, then dropped and refilled.
#[derive(Clone)]
pub struct Dashboard {
    pub(crate) shared: Arc<Shared>,
    pub(crate) client: Option<SocketAddr>,
}

impl fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dashboard")
            .field("prefix", &self.shared.prefix)
            .field("title", &self.shared.title)
            .finish_non_exhaustive()
    }
}

impl Dashboard {
    /// This dashboard, for requests from `addr` (a per-connection clone in an accept loop).
    pub fn for_client(&self, addr: SocketAddr) -> Dashboard {
        Dashboard {
            shared: self.shared.clone(),
            client: Some(addr),
        }
    }

    /// Ends every session of the user `user_id` (as [`crate::User::id`]) issued until now:
    /// its cookies open nothing more here, and on every replica sharing this dashboard's
    /// [`crate::RevocationStore`] within a second. For a user removed or locked out outside the
    /// dashboard. Returns once ended here (sharing failures are logged).
    pub async fn end_sessions(&self, user_id: &str) {
        let Some(auth) = &self.shared.auth else {
            return;
        };
        for via in auth.names() {
            self.shared.sessions.end_user(via, user_id).await;
        }
    }

    /// The configured mount prefix.
    pub fn prefix(&self) -> &MountPrefix {
        &self.shared.prefix
    }

    /// Answers one request: the whole pipeline, ending in the security headers.
    pub fn handle<B>(&self, req: Request<B>) -> impl Future<Output = Response<Body>> + '_
    where
        B: http_body::Body + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let answer = Self::respond(self, parts, body);
        async move {
            match answer.await {
                Ok(resp) => resp,
                Err(never) => match never {},
            }
        }
    }

    fn client(&self, ext: &http::Extensions) -> Option<IpAddr> {
        self.client
            .or_else(|| ext.get::<ClientAddr>().map(|c| c.0))
            .map(|a| a.ip().to_canonical())
    }

    /// The trusted forwarded prefix, if the peer is a trusted proxy and the header is clean.
    fn forwarded_prefix(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> MountPrefix {
        let Some(raw) = headers.get(X_FORWARDED_PREFIX) else {
            return MountPrefix::default();
        };
        let trusted = peer.is_some_and(|p| self.shared.trusted_proxies.contains(&p));
        if !trusted {
            tracing::debug!(peer = ?peer, "ignoring X-Forwarded-Prefix from an untrusted address");
            return MountPrefix::default();
        }
        match raw.to_str().ok().map(MountPrefix::new) {
            Some(Ok(p)) => p,
            _ => {
                tracing::debug!("ignoring a malformed X-Forwarded-Prefix");
                MountPrefix::default()
            }
        }
    }

    /// The whole pipeline for one request, ending in the security headers. One async fn,
    /// generic over owning or borrowing the dashboard, so the future that every request
    /// boxes holds the request's parts once (nested `async` layers each kept a copy).
    async fn respond<D, B>(
        this: D,
        parts: http::request::Parts,
        body: B,
    ) -> Result<Resp, Infallible>
    where
        D: Borrow<Dashboard>,
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let this = this.borrow();
        let head = parts.method == Method::HEAD;
        let mut matched = None;
        let mut resp = 'answer: {
            let shared = &*this.shared;
            let peer = this.client(&parts.extensions);

            // 1. mount
            let forwarded = this.forwarded_prefix(&parts.headers, peer);
            let path = parts.uri.path();
            // The path may carry the mount prefix (served directly, or an adapter passing the
            // original URI) or not (a framework that stripped it): both work.
            let mount = match parts.extensions.get::<MountedAt>() {
                Some(m) => &m.0,
                None => &shared.prefix,
            };
            let rel = mount.strip(path).unwrap_or(path);
            // Built when needed: assets and the health check have no links (and joining
            // shares the prefix, a reference count every request would fight over).
            let urls = || Urls::with_sign(forwarded.join(mount), shared.sign);
            let query = parts.uri.query().unwrap_or("");
            let wants_json = rel.starts_with("/api/") || accepts_json(&parts.headers);
            if rel.is_empty() {
                let mut to = urls().root();
                if !query.is_empty() {
                    to.push('?');
                    to.push_str(query);
                }
                break 'answer response::permanent_redirect(&to);
            }

            // 2. security
            if query.len() > MAX_QUERY {
                break 'answer refuse(
                    StatusCode::URI_TOO_LONG,
                    "uri_too_long",
                    &format!("the query string is longer than {MAX_QUERY} bytes"),
                    wants_json,
                );
            }
            let unsafe_method =
                !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            if unsafe_method {
                if let Err(why) = same_origin(&parts.headers) {
                    break 'answer refuse(StatusCode::FORBIDDEN, "cross_site", why, wants_json);
                }
            }

            // 3. route
            let found = match shared.router.find(&parts.method, rel) {
                Ok(f) => f,
                Err(Miss::Method(allow)) => {
                    break 'answer response::method_not_allowed(&allow, wants_json)
                }
                Err(Miss::NotFound) => {
                    if parts.extensions.get::<MountedAt>().is_none() && forwarded.is_root() {
                        unexplained_mount(shared, path);
                    }
                    break 'answer not_found(shared, &urls(), wants_json).await;
                }
            };
            matched = Some(found.route);
            // The scrape credential (or public metrics) opens /metrics and nothing else.
            if found.route.handler == Handler::Metrics && shared.scrape_allowed(&parts.headers) {
                break 'answer super::api::metrics(shared).await;
            }
            if !shared.mount_checked.load(Ordering::Relaxed) {
                shared.mount_checked.store(true, Ordering::Relaxed);
            }
            // Assets and the health check need no identity, body or context: answer them first
            // (a browser sends its session cookie with every asset; verifying it would be waste).
            if handlers::is_stateless(found.route.handler) {
                // An asset's version is hex digits: no decoding needed (an encoded one simply
                // does not match).
                let version = query.split('&').find_map(|p| p.strip_prefix("v="));
                break 'answer handlers::stateless(shared, &found, version, &parts.headers);
            }
            let form = if unsafe_method {
                let read = read_body(&parts.headers, body, shared.body_limit);
                match Box::pin(tokio::time::timeout(shared.limits.body_timeout, read)).await {
                    Err(_elapsed) => {
                        let mut r = refuse(
                            StatusCode::REQUEST_TIMEOUT,
                            "body_timeout",
                            &format!(
                                "the request body did not arrive within {} s",
                                shared.limits.body_timeout.as_secs()
                            ),
                            wants_json,
                        );
                        // What is left of the body will not be read: do not reuse this
                        // connection.
                        r.headers_mut()
                            .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
                        break 'answer r;
                    }
                    Ok(Ok(b)) => b,
                    Ok(Err(e @ BadRequest::TooLarge { .. })) => {
                        break 'answer refuse(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "too_large",
                            &e.to_string(),
                            wants_json,
                        )
                    }
                    Ok(Err(e)) => {
                        break 'answer refuse(
                            StatusCode::BAD_REQUEST,
                            "bad_body",
                            &e.to_string(),
                            wants_json,
                        )
                    }
                }
            } else {
                Bytes::new()
            };

            let urls = urls();

            // 3b. auth: who is asking, and may they
            let partial = parts
                .headers
                .get(HX_REQUEST)
                .is_some_and(|v| v.as_bytes() == b"true");
            // Behind a trusted proxy, the address it forwarded for; else the connection's.
            let client = super::client::real_client(
                &parts.headers,
                peer,
                &shared.trusted_proxies,
                shared.client_header,
            );
            let identity = gate::identify(shared, &parts, rel, &urls, client, peer).await;
            if let Some(refusal) = gate::check(
                shared,
                &gate::Asked {
                    access: found.route.access,
                    identity: &identity,
                    unsafe_method,
                    headers: &parts.headers,
                    form: &form,
                    urls: &urls,
                    rel,
                    query,
                    partial,
                    json: wants_json || rel == "/events",
                },
            ) {
                break 'answer refusal;
            }

            // 4. handler
            let secure = shared.secure(&parts.headers, peer);
            // The handler's context lives in the boxed handler future, not in every request's.
            Box::pin(async {
                let csrf = identity.binding.as_deref().map(|b| shared.keys.csrf(b));
                let cx = Ctx {
                    shared,
                    urls,
                    query: Params::parse(query.as_bytes()),
                    headers: &parts.headers,
                    method: &parts.method,
                    partial,
                    json: wants_json,
                    user: identity.user.as_ref(),
                    csrf: csrf.as_deref(),
                    session: identity.binding.as_deref(),
                    session_meta: identity.session.as_deref(),
                    client,
                    peer,
                    secure,
                    status: std::sync::OnceLock::new(),
                    audit_target: std::sync::OnceLock::new(),
                    here: if query.is_empty() {
                        rel.into()
                    } else {
                        format!("{rel}?{query}").into()
                    },
                };
                // The host's narrowing hook, after the role check: refusals are audited.
                let resp = match gate::narrow(&cx, &found).await {
                    Some(refusal) => refusal,
                    None => handlers::dispatch(&cx, &found, &form).await,
                };
                gate::audit(&cx, &found, &form, resp.status());
                resp
            })
            .await
        };
        this.shared.metrics.request(matched, resp.status().as_u16());
        response::secure(resp.status(), resp.headers_mut());
        if head {
            *resp.body_mut() = Body::empty();
        }
        Ok(resp)
    }
}

// Header names `http` has no constants for, as constants: looking one up by `&str` parses
// the name on every request.
const X_FORWARDED_PREFIX: http::HeaderName = http::HeaderName::from_static("x-forwarded-prefix");
const HX_REQUEST: http::HeaderName = http::HeaderName::from_static("hx-request");
const SEC_FETCH_SITE: http::HeaderName = http::HeaderName::from_static("sec-fetch-site");

fn accepts_json(h: &HeaderMap) -> bool {
    h.get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json") && !v.contains("text/html"))
}

/// Unsafe methods must come from our own pages: `Sec-Fetch-Site: same-origin` (or `none`, a
/// user-typed request), or, from browsers that do not send it, an `Origin` matching `Host`.
/// Requests with neither header are not from a browser page and pass.
fn same_origin(h: &HeaderMap) -> Result<(), &'static str> {
    if let Some(site) = h.get(SEC_FETCH_SITE) {
        return match site.as_bytes() {
            b"same-origin" | b"none" => Ok(()),
            _ => Err("cross-site request refused: Sec-Fetch-Site is not same-origin"),
        };
    }
    let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or("");
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err("cross-site request refused: Origin does not match Host")
    }
}

fn refuse(status: StatusCode, code: &str, message: &str, json: bool) -> Resp {
    if json {
        json_error(status, code, message, None)
    } else {
        text(
            status,
            format!(
                "{} {}: {message}\n",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
        )
    }
}

impl<B> hyper::service::Service<Request<B>> for Dashboard
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, req: Request<B>) -> Self::Future {
        let (parts, body) = req.into_parts();
        Box::pin(Dashboard::respond(self.clone(), parts, body))
    }
}

/// Looks once, while no request has found a route, for a dashboard mounted under a path it was
/// not told about: `path` found no route, but dropping its first segments leaves one that
/// would. Every link it draws would then miss that path, and every page answer 404: one
/// warning names the path and the fix.
fn unexplained_mount(shared: &Shared, path: &str) {
    if shared.mount_checked.load(Ordering::Relaxed) {
        return;
    }
    let mut at = 0;
    for _ in 0..4 {
        let Some(next) = path[at + 1..].find('/') else {
            return;
        };
        at += 1 + next;
        let (outer, rest) = path.split_at(at);
        if shared.router.find(&Method::GET, rest).is_ok() {
            if shared.mount_checked.swap(true, Ordering::Relaxed) {
                return;
            }
            let told = if shared.prefix.is_root() {
                "/"
            } else {
                shared.prefix.as_str()
            };
            let outer: String = outer.chars().take(200).collect();
            tracing::warn!(
                "the dashboard (prefix {told:?}) answered 404 for a request that looks mounted \
                 at {outer:?}: tell it where it lives with DashboardBuilder::prefix({outer:?}), \
                 mount it with taskdeck::axum::nest or taskdeck::actix::scope, or have a trusted \
                 proxy send X-Forwarded-Prefix; until then its links miss that path"
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_table() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[], true),
            (&[("sec-fetch-site", "same-origin")], true),
            (&[("sec-fetch-site", "none")], true),
            (&[("sec-fetch-site", "cross-site")], false),
            (&[("sec-fetch-site", "same-site")], false),
            (&[("origin", "http://a.test"), ("host", "a.test")], true),
            (
                &[("origin", "https://evil.test"), ("host", "a.test")],
                false,
            ),
            (&[("origin", "null"), ("host", "a.test")], false),
        ];
        for (headers, ok) in cases {
            let mut h = HeaderMap::new();
            for (k, v) in *headers {
                h.insert(*k, v.parse().unwrap());
            }
            assert_eq!(same_origin(&h).is_ok(), *ok, "{headers:?}");
        }
    }
}
