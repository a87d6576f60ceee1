//! Every cookie the dashboard reads or sets, through the `cookie` crate: one reader for
//! `Cookie` headers and one writer per kind of `Set-Cookie` (session, flash, clearing), so that
//! every cookie we set follows the same attribute rules:
//!
//! - `Path` is the dashboard's base path (`/` at the root), never wider;
//! - `HttpOnly` always, `SameSite` as configured for the session (`Lax` for the flash);
//! - `Secure` whenever the request came over HTTPS (or the dashboard is told it always does).
//!
//! This layer sits below `auth` and `web` and imports neither.

use cookie::time::Duration;
use cookie::{Cookie, SameSite};
use http::header::{self, HeaderMap, HeaderValue};

/// Name of the one-time message cookie.
pub(crate) const FLASH: &str = "taskdeck_flash";

/// How many cookies of one name are looked at: a request sending more is not a browser's.
const MAX_SAME_NAME: usize = 8;

/// The values of every cookie called `name` the request sent, in order (at most eight). A
/// browser sends several when cookies of one name were set for different paths or by a
/// sibling application; callers try each rather than trust the first.
pub(crate) fn values<'h: 'n, 'n>(
    headers: &'h HeaderMap,
    name: &'n str,
) -> impl Iterator<Item = &'h str> + 'n {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(move |c| c.name() == name)
        .filter_map(|c| c.value_raw())
        .take(MAX_SAME_NAME)
}

/// The value of the first cookie called `name`, if sent.
pub(crate) fn value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    values(headers, name).next()
}

/// What every cookie we set shares.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scope<'a> {
    /// The base path (see [`crate::links::Urls::cookie_path`]).
    pub(crate) path: &'a str,
    /// Add `Secure`.
    pub(crate) secure: bool,
}

fn header(c: Cookie<'_>) -> Option<HeaderValue> {
    HeaderValue::from_str(&c.to_string()).ok()
}

fn build<'c>(name: &'c str, value: &'c str, scope: Scope<'c>, max_age: i64) -> Cookie<'c> {
    let mut c = Cookie::new(name, value);
    c.set_path(scope.path);
    c.set_max_age(Duration::seconds(max_age));
    c.set_http_only(true);
    c.set_secure(scope.secure);
    c
}

/// The session cookie carrying `value` for `max_age` seconds.
pub(crate) fn session(
    name: &str,
    value: &str,
    scope: Scope<'_>,
    max_age: i64,
    same_site: SameSite,
) -> Option<HeaderValue> {
    let mut c = build(name, value, scope, max_age);
    c.set_same_site(same_site);
    header(c)
}

/// A cookie that tells the browser to forget `name` (same path and attributes as when set).
pub(crate) fn clearing(name: &str, scope: Scope<'_>, same_site: SameSite) -> Option<HeaderValue> {
    let mut c = build(name, "", scope, 0);
    c.set_same_site(same_site);
    header(c)
}

/// The one-time message shown on the next page: `kind|message`, percent-encoded, for a
/// minute.
pub(crate) fn flash(kind: &str, message: &str, scope: Scope<'_>) -> Option<HeaderValue> {
    let value = percent_encoding::utf8_percent_encode(
        &format!("{kind}|{message}"),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string();
    let mut c = build(FLASH, &value, scope, 60);
    c.set_same_site(SameSite::Lax);
    header(c)
}

/// Name of the cookie a browser keeps once it has signed in: it names the users who signed
/// in on it, signed, so that strangers' failed sign-ins as those users do not slow it.
pub(crate) const DEVICE: &str = "taskdeck_device";

/// The device cookie, for a year.
pub(crate) fn device(value: &str, scope: Scope<'_>) -> Option<HeaderValue> {
    let mut c = build(DEVICE, value, scope, 365 * 24 * 3600);
    c.set_same_site(SameSite::Lax);
    header(c)
}

/// A login backend's flow state (an OIDC sign-in under way), for ten minutes. `Lax` whatever
/// the session's setting: the identity provider sends the browser back with a cross-site
/// top-level GET, which must carry it.
pub(crate) fn flow(name: &str, value: &str, scope: Scope<'_>) -> Option<HeaderValue> {
    let mut c = build(name, value, scope, FLOW_TTL);
    c.set_same_site(SameSite::Lax);
    header(c)
}

/// How long a backend's flow state lasts, in seconds.
pub(crate) const FLOW_TTL: i64 = 600;

/// The flash message the request carries, as `(ok, message)`; at most 300 characters.
pub(crate) fn read_flash(headers: &HeaderMap) -> Option<(bool, String)> {
    let raw = value(headers, FLASH)?;
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let (kind, msg) = decoded.split_once('|')?;
    Some((kind == "ok", msg.chars().take(300).collect()))
}

/// Clears the flash cookie once shown.
pub(crate) fn clear_flash(scope: Scope<'_>) -> Option<HeaderValue> {
    clearing(FLASH, scope, SameSite::Lax)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(header::COOKIE, c.parse().unwrap());
        }
        h
    }

    #[test]
    fn reads_every_value_of_a_name() {
        let h = headers(&["a=1; sid=junk; b=2", "sid=good"]);
        assert_eq!(values(&h, "sid").collect::<Vec<_>>(), ["junk", "good"]);
        assert_eq!(value(&h, "b"), Some("2"));
        assert_eq!(value(&h, "c"), None);
        assert_eq!(value(&headers(&["sidx=1; xsid=2"]), "sid"), None);
        let many = headers(&[&"s=1; ".repeat(50)]);
        assert_eq!(values(&many, "s").count(), MAX_SAME_NAME);
    }

    #[test]
    fn every_cookie_we_set_keeps_the_rules() {
        let scope = Scope {
            path: "/ops",
            secure: true,
        };
        let all = [
            session("sid", "v", scope, 3600, SameSite::Strict).unwrap(),
            clearing("sid", scope, SameSite::Strict).unwrap(),
            flash("ok", "Saved a; b=c", scope).unwrap(),
            clear_flash(scope).unwrap(),
        ];
        for c in &all {
            let s = c.to_str().unwrap();
            for want in ["Path=/ops", "HttpOnly", "Secure", "SameSite="] {
                assert!(s.contains(want), "{s} lacks {want}");
            }
        }
        assert!(all[1].to_str().unwrap().contains("Max-Age=0"));
        let plain = flash(
            "err",
            "x",
            Scope {
                path: "/",
                secure: false,
            },
        )
        .unwrap();
        assert!(!plain.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn flash_round_trips() {
        let scope = Scope {
            path: "/",
            secure: false,
        };
        let set = flash("ok", "Paused a; b=\"c\" ✓", scope).unwrap();
        let pair = set.to_str().unwrap().split(';').next().unwrap().to_string();
        let h = headers(&[&pair]);
        assert_eq!(read_flash(&h), Some((true, "Paused a; b=\"c\" ✓".into())));
        assert_eq!(read_flash(&headers(&["taskdeck_flash=nobar"])), None);
    }
}
