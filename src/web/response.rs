//! The one response body type, response constructors named for what they do, and the security
//! headers every response gets.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body::{Frame, SizeHint};
use serde::Serialize;
use tokio::sync::mpsc;

/// The body of every dashboard response: a whole buffer, or a server-sent event stream.
#[derive(Debug)]
pub struct Body {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
        let b = bytes.into();
        Body {
            kind: Kind::Full((!b.is_empty()).then_some(b)),
        }
    }

    pub(crate) fn empty() -> Body {
        Body {
            kind: Kind::Full(None),
        }
    }

    pub(crate) fn stream(rx: mpsc::Receiver<Bytes>) -> Body {
        Body {
            kind: Kind::Stream(rx),
        }
    }

    /// The whole body, when it is not a stream.
    #[cfg_attr(not(feature = "actix"), allow(dead_code))]
    pub(crate) fn into_bytes(self) -> Result<Bytes, Body> {
        match self.kind {
            Kind::Full(b) => Ok(b.unwrap_or_default()),
            kind @ Kind::Stream(_) => Err(Body { kind }),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}

pub(crate) type Resp = Response<Body>;

/// A response whose header map already has room for the security headers, so adding them
/// does not grow it.
pub(crate) fn response(status: StatusCode, body: Body) -> Resp {
    // Content type, six security headers, perhaps a cookie and a Vary: twelve fit unrounded.
    sized(status, body, 12)
}

/// A response whose header map has room for `headers` headers.
pub(crate) fn sized(status: StatusCode, body: Body, headers: usize) -> Resp {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = HeaderMap::with_capacity(headers);
    r
}

fn with_type(status: StatusCode, content_type: &'static str, body: Body) -> Resp {
    let mut r = response(status, body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An HTML page or fragment.
pub(crate) fn html(status: StatusCode, markup: String) -> Resp {
    with_type(status, "text/html; charset=utf-8", Body::full(markup))
}

/// Plain text.
pub(crate) fn text(status: StatusCode, s: impl Into<Bytes>) -> Resp {
    with_type(status, "text/plain; charset=utf-8", Body::full(s))
}

/// JSON known at compile time.
pub(crate) fn json_static(status: StatusCode, body: &'static [u8]) -> Resp {
    with_type(
        status,
        "application/json",
        Body::full(Bytes::from_static(body)),
    )
}

/// A JSON document already written.
pub(crate) fn json_bytes(status: StatusCode, body: Vec<u8>) -> Resp {
    with_type(status, "application/json", Body::full(body))
}

/// A JSON document.
pub(crate) fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Resp {
    json_sized(status, value, 128)
}

/// A JSON document about `capacity` bytes long, written into a buffer of that size (a page
/// of rows would otherwise grow it by doubling, copying as it goes).
pub(crate) fn json_sized<T: Serialize + ?Sized>(
    status: StatusCode,
    value: &T,
    capacity: usize,
) -> Resp {
    let mut buf = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut buf, value).map(|()| buf) {
        Ok(v) => with_type(status, "application/json", Body::full(v)),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &format!("could not encode the answer: {e}"),
            None,
        ),
    }
}

/// The JSON error shape: `{"error": code, "message": …, "field": …}`.
pub(crate) fn json_error(
    status: StatusCode,
    code: &str,
    message: &str,
    field: Option<&str>,
) -> Resp {
    #[derive(Serialize)]
    struct E<'a> {
        error: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        field: Option<&'a str>,
    }
    let body = serde_json::to_vec(&E {
        error: code,
        message,
        field,
    })
    .unwrap_or_else(|_| br#"{"error":"internal"}"#.to_vec());
    with_type(status, "application/json", Body::full(body))
}

/// 303 See Other: after a form post, go (GET) here.
pub(crate) fn see_other(location: &str) -> Resp {
    redirect(StatusCode::SEE_OTHER, location)
}

/// 308 Permanent Redirect: same method, new URL (`/dashboard` → `/dashboard/`).
pub(crate) fn permanent_redirect(location: &str) -> Resp {
    redirect(StatusCode::PERMANENT_REDIRECT, location)
}

/// 303 to a location built for it, moved into the header without a copy.
pub(crate) fn see_other_owned(location: String) -> Resp {
    match HeaderValue::from_maybe_shared(Bytes::from(location)) {
        Ok(v) => redirect_to(StatusCode::SEE_OTHER, v),
        Err(_) => response(StatusCode::INTERNAL_SERVER_ERROR, Body::empty()),
    }
}

fn redirect(status: StatusCode, location: &str) -> Resp {
    match HeaderValue::from_str(location) {
        Ok(v) => redirect_to(status, v),
        Err(_) => response(StatusCode::INTERNAL_SERVER_ERROR, Body::empty()),
    }
}

fn redirect_to(status: StatusCode, location: HeaderValue) -> Resp {
    // Location, nosniff, Cache-Control and perhaps a cookie: a small map.
    let mut r = sized(status, Body::empty(), 6);
    r.headers_mut().insert(header::LOCATION, location);
    r
}

/// 405 with the methods the path accepts.
pub(crate) fn method_not_allowed(allow: &str, wants_json: bool) -> Resp {
    let mut r = if wants_json {
        json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("this URL accepts {allow}"),
            None,
        )
    } else {
        text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("405 Method Not Allowed: this URL accepts {allow}\n"),
        )
    };
    if let Ok(v) = HeaderValue::from_str(allow) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

/// The Content-Security-Policy: our own script and styles only, nothing inline.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// A name `http` has no constant for; a const so inserting it never allocates.
const COOP: http::HeaderName = http::HeaderName::from_static("cross-origin-opener-policy");

/// Adds the security headers; HTML and JSON are never cached.
///
/// Every response but a 304 gets `nosniff` and a `Cache-Control` (a 304 has no body, and
/// keeps the `Cache-Control` its asset sets). The policies that govern a rendered document
/// (CSP, framing, referrer, opener) go on every response that has a body to render, not on
/// redirects and 304s: a browser renders neither, and those two are the hottest responses
/// (the sign-in gate, asset revalidation), where every header byte costs.
pub(crate) fn secure(status: StatusCode, headers: &mut HeaderMap) {
    // A 304 has no body to sniff, and the cached response it revalidates keeps its headers.
    if status == StatusCode::NOT_MODIFIED {
        return;
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if status.is_redirection() {
        return;
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(COOP, HeaderValue::from_static("same-origin"));
}
