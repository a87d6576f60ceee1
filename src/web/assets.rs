//! Serving the embedded files of [`crate::views::assets`]: a strong `ETag`, a one-year
//! immutable cache when asked for by their content-hashed URL, and gzip when accepted.

use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;

use super::response::{text, Body, Resp};
use crate::views::assets::Assets;

/// Serves the embedded file `name`. A request carrying the current hash as `v` may be cached
/// for a year.
pub(crate) fn serve(assets: &Assets, name: &str, version: Option<&str>, req: &HeaderMap) -> Resp {
    let Some(a) = assets.find(name) else {
        return text(StatusCode::NOT_FOUND, "404 Not Found: no such asset\n");
    };
    let cache = if version == Some(a.hash.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=0, must-revalidate"
    };
    let not_modified = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == a.etag || t.trim() == "*"));
    let (status, body, gz) = if not_modified {
        (StatusCode::NOT_MODIFIED, Body::empty(), false)
    } else {
        let gzip_ok = req
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(accepts_gzip);
        match (&a.gzip, gzip_ok) {
            (Some(g), true) => (StatusCode::OK, Body::full(g.clone()), true),
            _ => (StatusCode::OK, Body::full(a.raw.clone()), false),
        }
    };
    // A 304 carries ETag, Cache-Control and Vary only (what RFC 9110 asks of it).
    let room = if not_modified { 4 } else { 12 };
    let mut r = super::response::sized(status, body, room);
    let h = r.headers_mut();
    h.insert(header::ETAG, a.etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if status == StatusCode::OK {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(a.content_type),
        );
    }
    if gz {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
}

fn accepts_gzip(v: &str) -> bool {
    v.split(',').any(|part| {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim();
        let q_zero = it.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                == Some(0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_revalidation_and_gzip() {
        let assets = Assets::default_theme();
        let path = assets.path("app.css");
        let v = path.split("v=").nth(1).unwrap();
        let r = serve(&assets, "app.css", Some(v), &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable"));
        let etag = r.headers()[header::ETAG].clone();
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(
            serve(&assets, "app.css", None, &h).status(),
            StatusCode::NOT_MODIFIED
        );
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, "br, gzip".parse().unwrap());
        let r = serve(&assets, "app.css", None, &h);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(
            serve(&assets, "nope.js", None, &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip("gzip, deflate"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("br"));
    }
}
