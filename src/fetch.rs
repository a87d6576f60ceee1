//! The HTTP client taskdeck talks to other services with (identity providers, webhook
//! receivers): hyper's client over rustls (webpki roots), every call bounded in time and in
//! the bytes it reads. Plain `http://` only to loopback addresses, unless allowed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// Most bytes read from a provider's answer.
const MAX_BODY: usize = 1024 * 1024;

/// A shared client.
#[derive(Clone)]
pub(crate) struct Fetch {
    client: Arc<Client<Https, Full<Bytes>>>,
    timeout: Duration,
    allow_http: bool,
}

impl std::fmt::Debug for Fetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetch")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Fetch {
    pub(crate) fn new(timeout: Duration, allow_http: bool) -> Result<Fetch, String> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("TLS setup: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .build(https);
        Ok(Fetch {
            client: Arc::new(client),
            timeout,
            allow_http,
        })
    }

    /// Whether `url` may be fetched: `https://`, or `http://` to a loopback host (or any host
    /// when allowed).
    pub(crate) fn check_url(&self, url: &str) -> Result<http::Uri, String> {
        check_url(url, self.allow_http)
    }

    /// The body of a 200 answer to `GET url`.
    #[cfg(feature = "oidc")]
    pub(crate) async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        self.get_cached(url).await.map(|(body, _)| body)
    }

    /// The body of a 200 answer to `GET url` sent with `Authorization: Bearer token` (an
    /// OpenID provider's userinfo endpoint).
    #[cfg(feature = "oidc")]
    pub(crate) async fn get_bearer(&self, url: &str, token: &str) -> Result<Vec<u8>, String> {
        self.get_ok(url, Some(token)).await.map(|(body, _)| body)
    }

    /// The body of a 200 answer to `GET url`, with how long it may be kept: its
    /// `Cache-Control: max-age`, if any (`no-store` and `no-cache` count as zero).
    #[cfg(feature = "oidc")]
    pub(crate) async fn get_cached(
        &self,
        url: &str,
    ) -> Result<(Vec<u8>, Option<Duration>), String> {
        self.get_ok(url, None)
            .await
            .map(|(body, headers)| (body, max_age(&headers)))
    }

    /// `GET url` for JSON, with a bearer token if given: the body and headers of a 200
    /// answer, any other status an error.
    #[cfg(feature = "oidc")]
    async fn get_ok(
        &self,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<(Vec<u8>, http::HeaderMap), String> {
        let uri = self.check_url(url)?;
        let mut req = http::Request::get(uri).header(http::header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let (status, headers, body) = self.send_with_headers(req, url).await?;
        if status != 200 {
            return Err(format!("{url} answered {status}"));
        }
        Ok((body, headers))
    }

    /// `POST url` with a JSON body and extra headers: the status and body, whatever the
    /// status.
    #[cfg(feature = "webhook")]
    pub(crate) async fn post_json(
        &self,
        url: &str,
        json: Vec<u8>,
        headers: &[(&'static str, String)],
    ) -> Result<(u16, Vec<u8>), String> {
        let uri = self.check_url(url)?;
        let mut req =
            http::Request::post(uri).header(http::header::CONTENT_TYPE, "application/json");
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(json)))
            .map_err(|e| e.to_string())?;
        self.send(req, url).await
    }

    /// `POST url` with a form body and an optional `Authorization` value: the status and
    /// body, whatever the status.
    #[cfg(feature = "oidc")]
    pub(crate) async fn post_form(
        &self,
        url: &str,
        form: &str,
        authorization: Option<&str>,
    ) -> Result<(u16, Vec<u8>), String> {
        let uri = self.check_url(url)?;
        let mut req = http::Request::post(uri)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json");
        if let Some(a) = authorization {
            req = req.header(http::header::AUTHORIZATION, a);
        }
        let req = req
            .body(Full::new(Bytes::from(form.to_string())))
            .map_err(|e| e.to_string())?;
        self.send(req, url).await
    }

    async fn send(
        &self,
        req: http::Request<Full<Bytes>>,
        url: &str,
    ) -> Result<(u16, Vec<u8>), String> {
        self.send_with_headers(req, url)
            .await
            .map(|(status, _, body)| (status, body))
    }

    async fn send_with_headers(
        &self,
        req: http::Request<Full<Bytes>>,
        url: &str,
    ) -> Result<(u16, http::HeaderMap, Vec<u8>), String> {
        let call = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let status = resp.status().as_u16();
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("{url}: reading the answer: {e}"))?
                .to_bytes();
            Ok((status, parts.headers, body.to_vec()))
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "{url} did not answer within {} s",
                self.timeout.as_secs()
            )),
        }
    }
}

/// `Cache-Control: max-age=N` of an answer; `no-store` and `no-cache` are zero.
#[cfg(feature = "oidc")]
fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    let mut age = None;
    for v in headers.get_all(http::header::CACHE_CONTROL) {
        for d in v.to_str().ok()?.split(',').map(str::trim) {
            let d = d.to_ascii_lowercase();
            if d == "no-store" || d == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(n) = d.strip_prefix("max-age=") {
                age = n
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
                    .map(Duration::from_secs);
            }
        }
    }
    age
}

pub(crate) fn check_url(url: &str, allow_http: bool) -> Result<http::Uri, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let host = uri
        .host()
        .ok_or_else(|| format!("{url:?} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']');
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") => {
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|a| a.is_loopback());
            if loopback || allow_http {
                Ok(uri)
            } else {
                Err(format!(
                    "{url:?} is plain http: use https (http is allowed only to loopback addresses, unless allowed with allow_http)"
                ))
            }
        }
        _ => Err(format!("{url:?} must be an https:// URL")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_https_or_loopback_http() {
        assert!(super::check_url("https://id.example.com/x", false).is_ok());
        assert!(super::check_url("http://127.0.0.1:8080/x", false).is_ok());
        assert!(super::check_url("http://[::1]:8080/x", false).is_ok());
        assert!(super::check_url("http://localhost/x", false).is_ok());
        assert!(super::check_url("http://id.example.com/x", false).is_err());
        assert!(super::check_url("http://id.example.com/x", true).is_ok());
        assert!(super::check_url("ftp://id.example.com/x", true).is_err());
        assert!(super::check_url("/relative", true).is_err());
    }
}
