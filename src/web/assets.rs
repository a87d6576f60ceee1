//! Our own static files, embedded in the binary: served with a strong `ETag`, a one-year
//! immutable cache when asked for by their content-hashed URL, and gzip when accepted.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::sync::Mutex;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;
use sha2::{Digest, Sha256};

use super::response::{text, Body, Resp};

const APP_CSS: &str = include_str!("../../assets/app.css");
const APP_JS: &str = include_str!("../../assets/app.js");
const FAVICON: &str = include_str!("../../assets/favicon.svg");

/// One embedded file.
#[derive(Debug)]
struct Asset {
    name: &'static str,
    content_type: &'static str,
    raw: Bytes,
    gzip: Option<Bytes>,
    /// First 16 hex digits of the SHA-256 of `raw`.
    hash: String,
    /// `/assets/{name}?v={hash}`.
    path: String,
    etag: HeaderValue,
}

/// `s` as a `'static` string, made once per distinct value in the process (one per asset
/// content: the built-in files and each theme colour). Headers made from static strings are
/// copied into responses without touching a reference count that concurrent requests share.
fn interned(s: String) -> &'static str {
    static SEEN: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&known) = seen.get(s.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(s.into_boxed_str());
    seen.insert(leaked);
    leaked
}

impl Asset {
    fn new(name: &'static str, content_type: &'static str, raw: Vec<u8>) -> Asset {
        let digest = Sha256::digest(&raw);
        let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        let gzip = enc
            .write_all(&raw)
            .and_then(|()| enc.finish())
            .ok()
            .filter(|g| g.len() < raw.len());
        // Hex digits in quotes: always a valid header value.
        let etag = HeaderValue::from_static(interned(format!("\"{hash}\"")));
        Asset {
            name,
            content_type,
            raw: raw.into(),
            gzip: gzip.map(Bytes::from),
            path: format!("/assets/{name}?v={hash}"),
            hash,
            etag,
        }
    }
}

/// The embedded files, hashed and compressed once at startup.
#[derive(Debug)]
pub(crate) struct Assets {
    files: Vec<Asset>,
}

impl Assets {
    /// `accent` is a validated CSS colour; it goes into the generated `theme.css`.
    pub(crate) fn new(accent: &str) -> Assets {
        let theme = format!(":root {{ --accent: {accent}; }}\n");
        Assets {
            files: vec![
                Asset::new("app.css", "text/css; charset=utf-8", APP_CSS.into()),
                Asset::new("theme.css", "text/css; charset=utf-8", theme.into_bytes()),
                Asset::new("app.js", "text/javascript; charset=utf-8", APP_JS.into()),
                Asset::new("favicon.svg", "image/svg+xml", FAVICON.into()),
            ],
        }
    }

    /// The versioned URL path (relative) of `name`: `/assets/app.css?v=0123abcd…`.
    pub(crate) fn path(&self, name: &str) -> std::borrow::Cow<'_, str> {
        match self.files.iter().find(|a| a.name == name) {
            Some(a) => a.path.as_str().into(),
            None => format!("/assets/{name}").into(),
        }
    }

    /// Serves `name`. A request carrying the current hash as `v` may be cached for a year.
    pub(crate) fn serve(&self, name: &str, version: Option<&str>, req: &HeaderMap) -> Resp {
        let Some(a) = self.files.iter().find(|a| a.name == name) else {
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
        let assets = Assets::new("#0b7285");
        let path = assets.path("app.css");
        let v = path.split("v=").nth(1).unwrap();
        let r = assets.serve("app.css", Some(v), &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable"));
        let etag = r.headers()[header::ETAG].clone();
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(
            assets.serve("app.css", None, &h).status(),
            StatusCode::NOT_MODIFIED
        );
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, "br, gzip".parse().unwrap());
        let r = assets.serve("app.css", None, &h);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(
            assets.serve("nope.js", None, &HeaderMap::new()).status(),
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
