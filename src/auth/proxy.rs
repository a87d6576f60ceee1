//! Sign-in by a reverse proxy: a header naming the user, trusted only from the proxy.

use std::net::IpAddr;

use super::{AuthBackend, AuthFuture, RequestParts, Role, User};

/// Trusts a header such as `X-Authenticated-User` (and optionally a roles header) set by an
/// authenticating reverse proxy, but only on requests from the proxy's addresses. From any
/// other address the headers are ignored.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use taskdeck::{ProxyHeaderBackend, Role};
/// let backend = ProxyHeaderBackend::new("X-Authenticated-User")
///     .roles_header("X-Authenticated-Roles")
///     .default_role(Role::Viewer)
///     .trust(IpAddr::V4(Ipv4Addr::LOCALHOST));
/// # drop(backend);
/// ```
#[derive(Clone, Debug)]
pub struct ProxyHeaderBackend {
    user_header: String,
    roles_header: Option<String>,
    default_role: Role,
    trusted: Vec<IpAddr>,
}

impl ProxyHeaderBackend {
    /// Reads the user from `header`. Trusts no address until [`ProxyHeaderBackend::trust`].
    pub fn new(header: &str) -> Self {
        ProxyHeaderBackend {
            user_header: header.to_ascii_lowercase(),
            roles_header: None,
            default_role: Role::Viewer,
            trusted: Vec::new(),
        }
    }

    /// Reads roles (comma-separated) from this header.
    pub fn roles_header(mut self, header: &str) -> Self {
        self.roles_header = Some(header.to_ascii_lowercase());
        self
    }

    /// The role of users without a roles header. Default viewer.
    pub fn default_role(mut self, role: Role) -> Self {
        self.default_role = role;
        self
    }

    /// Trusts the headers on requests from `addr`.
    pub fn trust(mut self, addr: IpAddr) -> Self {
        self.trusted.push(addr);
        self
    }
}

impl AuthBackend for ProxyHeaderBackend {
    fn kind(&self) -> &str {
        "proxy"
    }

    fn authenticate<'a>(&'a self, req: &'a RequestParts<'a>) -> AuthFuture<'a, Option<User>> {
        let trusted = req.peer.is_some_and(|c| self.trusted.contains(&c));
        let user = if !trusted {
            if req.headers.contains_key(self.user_header.as_str()) {
                tracing::debug!(peer = ?req.peer, "ignoring a user header from an untrusted address");
            }
            None
        } else {
            req.headers
                .get(self.user_header.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|u| !u.is_empty() && u.len() <= 256)
                .map(|name| {
                    let mut roles: Vec<Role> = self
                        .roles_header
                        .as_deref()
                        .and_then(|h| req.headers.get(h))
                        .and_then(|v| v.to_str().ok())
                        .map(|v| v.split(',').filter_map(|r| r.parse().ok()).collect())
                        .unwrap_or_default();
                    if roles.is_empty() {
                        roles.push(self.default_role);
                    }
                    User {
                        id: name.to_string(),
                        name: name.to_string(),
                        roles,
                    }
                })
        };
        Box::pin(async move { user })
    }

    fn login_help(&self) -> Option<super::LoginHelp> {
        Some(super::LoginHelp::text(
            "Sign in through your company's single sign-on; this dashboard trusts the proxy in front of it.",
        ))
    }
}
