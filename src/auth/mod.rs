//! Login: who is asking, and what they may do.
//!
//! An [`AuthBackend`] says who makes a request (from a bearer token, a trusted proxy's
//! header, …) and may check a username and password from the login form. The dashboard keeps
//! its own signed session cookie for form logins, runs the gate before routing, checks CSRF
//! tokens and roles, throttles failed logins and keeps an audit log.
//!
//! Built-in backends: [`PasswordBackend`] (a user list with argon2 PHC hashes, or your own
//! verify function), [`JwtBackend`] (bearer tokens) and [`ProxyHeaderBackend`] (a header set
//! by a trusted reverse proxy). See `examples/custom_auth.rs` for writing your own.

pub(crate) mod chain;
#[cfg(feature = "jwt")]
mod claims;
#[cfg(feature = "jwt")]
mod jwks;
#[cfg(feature = "jwt")]
mod jwt;
#[cfg(feature = "oidc")]
mod oidc;
#[cfg(feature = "password")]
mod password;
mod proxy;
pub(crate) mod session;
pub(crate) mod throttle;

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::str::FromStr;

use http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};

#[cfg(feature = "jwt")]
pub use jwt::{JwtBackend, JwtError};
#[cfg(feature = "oidc")]
pub use oidc::OidcBackend;
#[cfg(feature = "password")]
pub use password::PasswordBackend;
pub use proxy::ProxyHeaderBackend;

/// The future type of [`AuthBackend`] methods.
pub type AuthFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a user may do. Each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read everything.
    Viewer,
    /// Also run, pause and resume tasks, and pause or resume the scheduler.
    Operator,
    /// Also create, edit and remove tasks.
    Admin,
}

impl Role {
    /// The lower-case name (`viewer`, `operator`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}; expected viewer, operator or admin"
            )),
        }
    }
}

/// A signed-in user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Roles; the highest counts.
    pub roles: Vec<Role>,
}

impl User {
    /// A user with one role.
    pub fn new(id: impl Into<String>, name: impl Into<String>, role: Role) -> User {
        User {
            id: id.into(),
            name: name.into(),
            roles: vec![role],
        }
    }

    /// The user's highest role, `None` without roles.
    pub fn role(&self) -> Option<Role> {
        self.roles.iter().copied().max()
    }

    /// True when the user's highest role is at least `role`.
    pub fn has(&self, role: Role) -> bool {
        self.role().is_some_and(|r| r >= role)
    }
}

/// The parts of a request a backend may look at.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RequestParts<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path relative to the dashboard's base (`/tasks`).
    pub path: &'a str,
    /// The query string, without `?` (`""` when there is none).
    pub query: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The client's address, when known: behind a trusted proxy, the address that proxy
    /// forwarded for (see `DashboardBuilder::trust_proxy`), else the connection's.
    pub client: Option<IpAddr>,
    /// The address of the connection itself (a proxy's, when there is one).
    pub peer: Option<IpAddr>,
    /// The dashboard's external base path as the browser sees it (`""` at the root,
    /// `/ops/jobs` when mounted there, with a trusted proxy's `X-Forwarded-Prefix` included):
    /// links a backend hands out (a callback URL) start with it.
    pub base: &'a str,
    /// True when the browser reached the dashboard over HTTPS, as far as it can tell (a
    /// trusted proxy's `X-Forwarded-Proto`, or `DashboardBuilder::secure_cookies`).
    pub secure: bool,
    /// On a backend's own routes: the `flow` value it handed out with
    /// [`AuthReply::Begin`] to this browser, verified and at most ten minutes old.
    pub flow: Option<&'a str>,
}

/// What a backend says of a signed-in user when re-checked ([`AuthBackend::refresh`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// Still there, with the same roles.
    Unchanged,
    /// Still there, now like this (its roles changed): the session goes on with these.
    Changed(User),
    /// Gone: every session of the user ends.
    Removed,
    /// The backend cannot tell: the session stands as signed.
    Unknown,
}

/// The answer to a login form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginResult {
    /// The credentials are good.
    Success(User),
    /// They are not (the page says so without saying which part was wrong).
    Failure,
    /// This backend has no password form.
    Unsupported,
}

/// What a backend's own route answers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthReply {
    /// Sign this user in (the dashboard sets its session cookie) and go to `next` (checked
    /// like the login form's).
    SignIn {
        /// Who.
        user: User,
        /// Where to go, a path under the dashboard.
        next: Option<String>,
    },
    /// As [`AuthReply::SignIn`], and keep `keep` (at most 3 KiB) until this session signs
    /// out, when it is handed to [`AuthBackend::logout_keeping`]: what the sign-out needs
    /// from the sign-in (an OIDC ID token, sent to the provider as `id_token_hint`). The
    /// dashboard keeps it in a cookie of its own, sealed with its session keys; a value too
    /// large for a cookie is not kept.
    SignInKeeping {
        /// Who.
        user: User,
        /// Where to go, a path under the dashboard.
        next: Option<String>,
        /// What the sign-out will need.
        keep: String,
    },
    /// Go elsewhere (303), e.g. to an identity provider.
    Redirect(String),
    /// Go to `to` (303) and keep `flow` (at most 2 KiB) for this browser's next visit to the
    /// backend's routes, within ten minutes: it comes back as [`RequestParts::flow`]. The
    /// dashboard keeps it in a cookie signed with its session keys, so it cannot be forged
    /// and works across replicas; a sign-in or refusal clears it.
    Begin {
        /// Where to send the browser, e.g. the provider's authorization endpoint.
        to: String,
        /// What to remember (a `state`, a `nonce`, a PKCE verifier, where to go after).
        flow: String,
    },
    /// A page of the backend's own, with a status.
    Html(u16, String),
    /// A sign-in refused for a reason worth recording (a forged `state`, a token for another
    /// audience): the login page shows `message` with `status`, and the audit log records
    /// `action` with `reason`.
    Refused {
        /// The HTTP status, e.g. 400 or 403.
        status: u16,
        /// What the person is told, in plain words.
        message: String,
        /// The audit action, e.g. `oidc_refused`.
        action: String,
        /// What the audit log records of why (no secrets).
        reason: String,
    },
}

/// An interactive way in, offered on the login page.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignInMethod {
    /// The username and password form ([`AuthBackend::login`]).
    Password,
    /// A button that goes to one of the backend's routes, e.g. `/auth/oidc/start`; the
    /// dashboard adds its base path and `?next=`.
    Link {
        /// The button's text, e.g. "Sign in with Example ID".
        label: String,
        /// A path under the dashboard, beginning `/auth/`.
        path: String,
    },
}

/// The login page's text for a backend: plain text and at most one link, both escaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginHelp {
    text: String,
    link: Option<(String, String)>,
}

impl LoginHelp {
    /// Plain text.
    pub fn text(text: impl Into<String>) -> LoginHelp {
        LoginHelp {
            text: text.into(),
            link: None,
        }
    }

    /// Adds one link after the text: `url` must be an absolute `http://` or `https://` URL
    /// (anything else, `javascript:` included, is refused with a message saying so).
    pub fn link(mut self, url: &str, label: &str) -> Result<LoginHelp, String> {
        let url = url.trim();
        if !crate::links::is_absolute_http(url) {
            return Err(format!(
                "the login help link {url:?} is not an absolute http(s) URL"
            ));
        }
        if label.trim().is_empty() {
            return Err("the login help link needs a text".into());
        }
        self.link = Some((url.to_string(), label.trim().to_string()));
        Ok(self)
    }

    /// The text.
    pub fn as_text(&self) -> &str {
        &self.text
    }

    /// The link's URL and text, if there is one.
    pub fn as_link(&self) -> Option<(&str, &str)> {
        self.link.as_ref().map(|(u, l)| (u.as_str(), l.as_str()))
    }
}

impl From<&str> for LoginHelp {
    fn from(s: &str) -> LoginHelp {
        LoginHelp::text(s)
    }
}

impl From<String> for LoginHelp {
    fn from(s: String) -> LoginHelp {
        LoginHelp::text(s)
    }
}

/// Who is asking. Object-safe: the dashboard holds an `Arc<dyn AuthBackend>`.
pub trait AuthBackend: Send + Sync + 'static {
    /// The user a request speaks for, from credentials it carries itself (a bearer token, a
    /// trusted header). `None`: not signed in this way. Session cookies from the login form
    /// are checked by the dashboard before this is asked.
    fn authenticate<'a>(&'a self, req: &'a RequestParts<'a>) -> AuthFuture<'a, Option<User>>;

    /// A short name for this kind of backend (`password`, `jwt`, `oidc`, …): letters, digits,
    /// `-` and `_`. Sessions remember the backend that signed them in by it (with `-2`, `-3`
    /// for a second and third backend of one kind), so keep it stable. Default `custom`.
    fn kind(&self) -> &str {
        "custom"
    }

    /// False when [`AuthBackend::authenticate`] never names a user (the backend signs people
    /// in only through the login form or its own routes, after which the dashboard's session
    /// cookie speaks for them): the dashboard then does not ask it. Default `true`.
    fn reads_credentials(&self) -> bool {
        true
    }

    /// Checks a username and password from the login form.
    fn login<'a>(&'a self, _username: &'a str, _password: &'a str) -> AuthFuture<'a, LoginResult> {
        Box::pin(async { LoginResult::Unsupported })
    }

    /// Who a signed-in user is now, asked for each session at most once per
    /// `DashboardBuilder::session_recheck` interval (default 60 s), so a user removed or
    /// demoted in the backend loses access or roles without waiting for the cookie to expire.
    /// Default: [`Refresh::Unknown`] (the session stands as signed).
    fn refresh<'a>(&'a self, _user: &'a User) -> AuthFuture<'a, Refresh> {
        Box::pin(std::future::ready(Refresh::Unknown))
    }

    /// Called when a user who signed in through this backend signs out (after the session
    /// cookie is cleared and the session ended). May say where to send the browser next: an
    /// absolute `https://` (or `http://`) URL such as an identity provider's sign-out
    /// endpoint, or a path under the dashboard. `None` (the default): the sign-in page.
    fn logout<'a>(&'a self, _user: &'a User) -> AuthFuture<'a, Option<String>> {
        Box::pin(async { None })
    }

    /// [`AuthBackend::logout`], with what the sign-in kept ([`AuthReply::SignInKeeping`]),
    /// when the browser still holds it. Default: `logout(user)`.
    fn logout_keeping<'a>(
        &'a self,
        user: &'a User,
        _kept: Option<&'a str>,
    ) -> AuthFuture<'a, Option<String>> {
        self.logout(user)
    }

    /// Why this backend cannot be used as configured (a secret too short to be safe), asked
    /// once when the dashboard is built, which then fails with this message. Default: none.
    fn config_error(&self) -> Option<String> {
        None
    }

    /// What the login page says of this backend: how to get in, with at most one link.
    fn login_help(&self) -> Option<LoginHelp> {
        None
    }

    /// The interactive ways in this backend offers on the login page: a password form, a
    /// "Sign in with …" button. Default: the password form when the backend gives no
    /// [`AuthBackend::login_help`], else none.
    fn sign_in_methods(&self) -> Vec<SignInMethod> {
        if self.login_help().is_none() {
            vec![SignInMethod::Password]
        } else {
            Vec::new()
        }
    }

    /// Extra public paths under the dashboard's base (besides `/auth/…`) that this backend
    /// answers through [`AuthBackend::extra_route`], such as files an identity provider
    /// fetches. matchit syntax (`/sso/{file}`). Default: none.
    fn public_paths(&self) -> Vec<String> {
        Vec::new()
    }

    /// Answers the backend's own routes under `{base}/auth/…` (an OAuth callback, a magic
    /// link), which are public. `None` (the default) is a 404.
    fn extra_route<'a>(
        &'a self,
        _req: &'a RequestParts<'a>,
        _body: &'a [u8],
    ) -> AuthFuture<'a, Option<AuthReply>> {
        Box::pin(async { None })
    }

    /// True when [`AuthBackend::authenticate`] trusts credentials the browser adds by itself
    /// (cookies, a proxy's SSO header): unsafe requests then need a CSRF token. Bearer tokens
    /// in `Authorization` are not ambient. Default `true`.
    fn is_ambient(&self, _req: &RequestParts<'_>) -> bool {
        true
    }
}

impl fmt::Debug for dyn AuthBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthBackend")
    }
}

/// `Bearer <token>` or, where bare tokens are fine, the value itself.
pub(crate) fn strip_bearer(v: &str, must: bool) -> Option<&str> {
    let v = v.trim();
    match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => Some(&v[7..]),
        _ if must => None,
        _ => Some(v),
    }
}

/// `a == b` in constant time: MACs of both (equal length whatever the inputs) compared by
/// `verify_slice`, so neither the length nor the first differing byte shows in the time.
pub(crate) fn constant_eq(a: &str, b: &str) -> bool {
    use hmac::Mac as _;
    let mac = |s: &str| {
        <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(b"taskdeck compare")
            .expect("HMAC takes any key length")
            .chain_update(s.as_bytes())
    };
    mac(a).verify_slice(&mac(b).finalize().into_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_and_parse() {
        let u = User {
            id: "a".into(),
            name: "A".into(),
            roles: vec![Role::Viewer, Role::Operator],
        };
        assert!(u.has(Role::Viewer) && u.has(Role::Operator) && !u.has(Role::Admin));
        assert_eq!(" Admin ".parse::<Role>().unwrap(), Role::Admin);
        assert!("root".parse::<Role>().is_err());
        let none = User { roles: vec![], ..u };
        assert!(!none.has(Role::Viewer));
    }

    #[test]
    fn help_links_must_be_http() {
        let ok =
            LoginHelp::text("Ask").link("https://wiki.example.com/access", "How to get access");
        assert_eq!(
            ok.unwrap().as_link(),
            Some(("https://wiki.example.com/access", "How to get access"))
        );
        for bad in [
            "javascript:alert(1)",
            "//evil.example",
            "/relative",
            "https://",
            "https://a b",
            "data:text/html,x",
        ] {
            assert!(LoginHelp::text("x").link(bad, "t").is_err(), "{bad}");
        }
        assert!(LoginHelp::text("x").link("https://a.example", " ").is_err());
    }
}
