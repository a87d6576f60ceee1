//! Our own static files (CSS, JS, favicon), embedded in the binary, hashed and compressed once
//! at startup. Pages link them by their content-hashed URL; `web::assets` serves them.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::sync::Mutex;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use http::header::HeaderValue;
use sha2::{Digest, Sha256};

const APP_CSS: &str = include_str!("../../assets/app.css");
const APP_JS: &str = include_str!("../../assets/app.js");
const FAVICON: &str = include_str!("../../assets/favicon.svg");

/// One embedded file.
#[derive(Debug)]
pub(crate) struct Asset {
    pub(crate) name: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) raw: Bytes,
    pub(crate) gzip: Option<Bytes>,
    /// First 16 hex digits of the SHA-256 of `raw`.
    pub(crate) hash: String,
    /// `/assets/{name}?v={hash}`.
    pub(crate) path: String,
    pub(crate) etag: HeaderValue,
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

    /// The embedded file called `name`.
    pub(crate) fn find(&self, name: &str) -> Option<&Asset> {
        self.files.iter().find(|a| a.name == name)
    }
}
