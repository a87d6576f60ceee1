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

#[cfg(feature = "jwt")]
mod jwt;
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
#[derive(Debug)]
pub struct RequestParts<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path relative to the dashboard's base (`/tasks`).
    pub path: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The client's address, when known: behind a trusted proxy, the address that proxy
    /// forwarded for (see `DashboardBuilder::trust_proxy`), else the connection's.
    pub client: Option<IpAddr>,
    /// The address of the connection itself (a proxy's, when there is one).
    pub peer: Option<IpAddr>,
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
    /// Go elsewhere (303), e.g. to an identity provider.
    Redirect(String),
    /// A page of the backend's own, with a status.
    Html(u16, String),
}

/// Who is asking. Object-safe: the dashboard holds an `Arc<dyn AuthBackend>`.
pub trait AuthBackend: Send + Sync + 'static {
    /// The user a request speaks for, from credentials it carries itself (a bearer token, a
    /// trusted header). `None`: not signed in this way. Session cookies from the login form
    /// are checked by the dashboard before this is asked.
    fn authenticate<'a>(&'a self, req: &'a RequestParts<'a>) -> AuthFuture<'a, Option<User>>;

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

    /// Called when a user signs out (after the session cookie is cleared).
    fn logout<'a>(&'a self, _user: &'a User) -> AuthFuture<'a, ()> {
        Box::pin(async {})
    }

    /// Why this backend cannot be used as configured (a secret too short to be safe), asked
    /// once when the dashboard is built, which then fails with this message. Default: none.
    fn config_error(&self) -> Option<String> {
        None
    }

    /// Text for the login page when there is no password form: how to get in.
    fn login_help(&self) -> Option<String> {
        None
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
}
