//! Several login backends on one dashboard (`DashboardBuilder::auth(a).also(b)`): the first
//! that recognises a request wins; the login page offers every interactive way in.
//!
//! Each backend has a stable name (its [`AuthBackend::kind`], with `-2`, `-3`, … for repeats of
//! a kind), kept in the sessions it signs in and in the flow state it hands out: re-checks,
//! sign-out and flows go back to the same backend even when others are added or reordered,
//! and a session whose backend is gone ends.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{AuthBackend, AuthReply, LoginHelp, LoginResult, RequestParts, SignInMethod, User};

/// A backend's name, kept inline: sessions carry one, and reading a session cookie on every
/// request should not allocate for it. At most [`BackendName::MAX`] bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct BackendName {
    len: u8,
    buf: [u8; BackendName::MAX],
}

impl BackendName {
    /// Longest name: a 32-byte kind and a `-NN` suffix.
    pub(crate) const MAX: usize = 40;

    /// `name`, or `None` when it is too long.
    pub(crate) fn new(name: &str) -> Option<BackendName> {
        let bytes = name.as_bytes();
        if bytes.len() > Self::MAX {
            return None;
        }
        let mut buf = [0u8; Self::MAX];
        buf[..bytes.len()].copy_from_slice(bytes);
        Some(BackendName {
            len: u8::try_from(bytes.len()).ok()?,
            buf,
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        // Built from a `&str` cut at its end: always UTF-8.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }
}

impl std::ops::Deref for BackendName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Default for BackendName {
    fn default() -> Self {
        BackendName {
            len: 0,
            buf: [0; Self::MAX],
        }
    }
}

impl std::fmt::Debug for BackendName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for BackendName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BackendName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = BackendName;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a backend name of at most {} bytes", BackendName::MAX)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BackendName, E> {
                BackendName::new(v).ok_or_else(|| E::custom("backend name too long"))
            }
        }
        d.deserialize_str(Visit)
    }
}

/// The configured backends, in the order they were given, with their names. Never empty.
#[derive(Clone)]
pub(crate) struct Backends {
    list: Vec<(String, Arc<dyn AuthBackend>)>,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(|(n, _)| n))
            .finish()
    }
}

impl Backends {
    pub(crate) fn new(list: Vec<Arc<dyn AuthBackend>>) -> Option<Backends> {
        let mut named: Vec<(String, Arc<dyn AuthBackend>)> = Vec::with_capacity(list.len());
        for b in list {
            let kind: String = b
                .kind()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                .take(32)
                .collect();
            // `take(32)` of ASCII: the name with its suffix fits a `BackendName`.
            let kind = if kind.is_empty() {
                "custom".into()
            } else {
                kind
            };
            let same = named
                .iter()
                .filter(|(n, _)| n == &kind || n.starts_with(&format!("{kind}-")))
                .count();
            let name = if same == 0 {
                kind
            } else {
                format!("{kind}-{}", same + 1)
            };
            named.push((name, b));
        }
        (!named.is_empty()).then_some(Backends { list: named })
    }

    /// The backend called `name` (a session remembers which one signed it in).
    pub(crate) fn get(&self, name: &str) -> Option<&dyn AuthBackend> {
        self.list.iter().find(|(n, _)| n == name).map(|(_, b)| &**b)
    }

    /// Every backend's name.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|(n, _)| n.as_str())
    }

    /// True when some backend reads credentials from requests.
    pub(crate) fn reads_credentials(&self) -> bool {
        self.list.iter().any(|(_, b)| b.reads_credentials())
    }

    /// The first backend's answer that names a user, and whether the credentials were
    /// ambient (sent by the browser by itself).
    pub(crate) async fn authenticate(&self, rp: &RequestParts<'_>) -> Option<(User, bool)> {
        for (_, b) in self.list.iter().filter(|(_, b)| b.reads_credentials()) {
            if let Some(user) = b.authenticate(rp).await {
                return Some((user, b.is_ambient(rp)));
            }
        }
        None
    }

    /// The first backend with a password form that judges these credentials, and its name.
    pub(crate) async fn login(&self, username: &str, password: &str) -> (&str, LoginResult) {
        for (name, b) in &self.list {
            match b.login(username, password).await {
                LoginResult::Unsupported => continue,
                judged => return (name, judged),
            }
        }
        ("", LoginResult::Unsupported)
    }

    /// The first backend that answers one of its own routes, and its name. `flow` is the
    /// sealed flow state with the name of the backend that handed it out: only that backend
    /// sees it.
    pub(crate) async fn extra_route(
        &self,
        rp: &RequestParts<'_>,
        body: &[u8],
        flow: Option<(&str, &str)>,
    ) -> Option<(&str, AuthReply)> {
        for (name, b) in &self.list {
            let own = RequestParts {
                flow: flow.filter(|(by, _)| by == name).map(|(_, f)| f),
                ..*rp
            };
            if let Some(reply) = b.extra_route(&own, body).await {
                return Some((name, reply));
            }
        }
        None
    }

    /// Every interactive way in, in order (the password form once).
    pub(crate) fn methods(&self) -> Vec<SignInMethod> {
        let mut out: Vec<SignInMethod> = Vec::new();
        for m in self.list.iter().flat_map(|(_, b)| b.sign_in_methods()) {
            if !out.contains(&m) {
                out.push(m);
            }
        }
        out
    }

    /// Every backend's help text.
    pub(crate) fn helps(&self) -> Vec<LoginHelp> {
        self.list
            .iter()
            .filter_map(|(_, b)| b.login_help())
            .collect()
    }

    /// The public paths every backend asks for.
    pub(crate) fn public_paths(&self) -> Vec<String> {
        self.list
            .iter()
            .flat_map(|(_, b)| b.public_paths())
            .collect()
    }

    /// The first configuration error: a backend's own, or two backends offering the same
    /// sign-in button (their routes would collide).
    pub(crate) fn config_error(&self) -> Option<String> {
        if let Some(e) = self.list.iter().find_map(|(_, b)| b.config_error()) {
            return Some(e);
        }
        let mut seen: Vec<String> = Vec::new();
        for (name, b) in &self.list {
            for m in b.sign_in_methods() {
                if let SignInMethod::Link { path, .. } = m {
                    if seen.contains(&path) {
                        return Some(format!(
                            "two login backends start sign-in at {path} ({name} is the second); give each its own route name"
                        ));
                    }
                    seen.push(path);
                }
            }
        }
        None
    }
}
