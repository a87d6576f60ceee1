//! Several login backends on one dashboard (`DashboardBuilder::auth(a).also(b)`): the first
//! that recognises a request wins; the login page offers every interactive way in.

use std::sync::Arc;

use super::{AuthBackend, AuthReply, LoginHelp, LoginResult, RequestParts, SignInMethod, User};

/// The configured backends, in the order they were given. Never empty.
#[derive(Clone)]
pub(crate) struct Backends {
    list: Vec<Arc<dyn AuthBackend>>,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backends({})", self.list.len())
    }
}

impl Backends {
    pub(crate) fn new(list: Vec<Arc<dyn AuthBackend>>) -> Option<Backends> {
        (!list.is_empty()).then_some(Backends { list })
    }

    /// The backend at `index` (a session remembers which one signed it in).
    pub(crate) fn get(&self, index: u8) -> Option<&dyn AuthBackend> {
        self.list.get(usize::from(index)).map(|b| &**b)
    }

    /// True when some backend reads credentials from requests.
    pub(crate) fn reads_credentials(&self) -> bool {
        self.list.iter().any(|b| b.reads_credentials())
    }

    /// The first backend's answer that names a user, with that backend's index and whether
    /// the credentials were ambient (sent by the browser by itself).
    pub(crate) async fn authenticate(&self, rp: &RequestParts<'_>) -> Option<(User, bool)> {
        for b in self.list.iter().filter(|b| b.reads_credentials()) {
            if let Some(user) = b.authenticate(rp).await {
                return Some((user, b.is_ambient(rp)));
            }
        }
        None
    }

    /// The first backend with a password form that judges these credentials, and which one.
    pub(crate) async fn login(&self, username: &str, password: &str) -> (u8, LoginResult) {
        for (i, b) in self.list.iter().enumerate() {
            match b.login(username, password).await {
                LoginResult::Unsupported => continue,
                judged => return (index(i), judged),
            }
        }
        (0, LoginResult::Unsupported)
    }

    /// The first backend that answers one of its own routes.
    pub(crate) async fn extra_route(
        &self,
        rp: &RequestParts<'_>,
        body: &[u8],
    ) -> Option<(u8, AuthReply)> {
        for (i, b) in self.list.iter().enumerate() {
            if let Some(reply) = b.extra_route(rp, body).await {
                return Some((index(i), reply));
            }
        }
        None
    }

    /// Every interactive way in, in order (the password form once).
    pub(crate) fn methods(&self) -> Vec<SignInMethod> {
        let mut out: Vec<SignInMethod> = Vec::new();
        for m in self.list.iter().flat_map(|b| b.sign_in_methods()) {
            if !out.contains(&m) {
                out.push(m);
            }
        }
        out
    }

    /// Every backend's help text.
    pub(crate) fn helps(&self) -> Vec<LoginHelp> {
        self.list.iter().filter_map(|b| b.login_help()).collect()
    }

    /// The public paths every backend asks for.
    pub(crate) fn public_paths(&self) -> Vec<String> {
        self.list.iter().flat_map(|b| b.public_paths()).collect()
    }

    /// The first configuration error.
    pub(crate) fn config_error(&self) -> Option<String> {
        self.list.iter().find_map(|b| b.config_error())
    }
}

fn index(i: usize) -> u8 {
    u8::try_from(i).unwrap_or(u8::MAX)
}
