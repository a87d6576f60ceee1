//! Our own static files (CSS, JS, favicon), embedded in the binary, hashed and compressed once
//! at startup. Pages link them by their content-hashed URL; `web::assets` serves them.

use std::io::Write as _;

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
        let etag = HeaderValue::from_static(crate::links::intern(format!("\"{hash}\"")));
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
    /// `theme` is the generated `theme.css` (validated colours); `favicon` and `logo` are the
    /// host's images with their sniffed types (our own icon without a favicon).
    pub(crate) fn new(
        theme: String,
        favicon: Option<(Vec<u8>, &'static str)>,
        logo: Option<(Vec<u8>, &'static str)>,
    ) -> Assets {
        let icon = favicon.unwrap_or_else(|| (FAVICON.into(), "image/svg+xml"));
        let mut files = vec![
            Asset::new("app.css", "text/css; charset=utf-8", APP_CSS.into()),
            Asset::new("theme.css", "text/css; charset=utf-8", theme.into_bytes()),
            Asset::new("app.js", "text/javascript; charset=utf-8", APP_JS.into()),
            Asset::new("favicon", icon.1, icon.0),
        ];
        if let Some((bytes, kind)) = logo {
            files.push(Asset::new("logo", kind, bytes));
        }
        Assets { files }
    }

    /// The built-in files with the default theme.
    #[cfg(test)]
    pub(crate) fn default_theme() -> Assets {
        Assets::new(":root { --accent: #0b7285; }\n".into(), None, None)
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
