//! Signed session cookies and the CSRF tokens bound to them.
//!
//! A cookie value is `payload.mac`: the payload is base64url JSON (user id, name, roles,
//! issued-at, expiry, a random session id), the MAC is HMAC-SHA256 over the cookie name and
//! the payload, so a value cannot be moved to another cookie. Keys rotate: new cookies are
//! signed with the first key, any key verifies. Anything that does not verify, parse or has
//! expired is simply "not signed in".

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{Role, User};

type HmacSha256 = Hmac<Sha256>;

/// Longest cookie value accepted before any work.
const MAX_COOKIE: usize = 4096;

/// What a session cookie carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Session {
    pub(crate) sub: String,
    pub(crate) name: String,
    pub(crate) roles: Vec<Role>,
    /// Issued at, Unix seconds.
    pub(crate) iat: i64,
    /// Expires at, Unix seconds.
    pub(crate) exp: i64,
    /// Issued at, Unix milliseconds: "sign out everywhere" ends the sessions issued up to a
    /// millisecond, so a sign-in right after it stands. (0 in cookies from before it was
    /// added: such sessions end with any sign-out-everywhere of their user.)
    #[serde(default)]
    pub(crate) iat_ms: i64,
    /// Random per login: CSRF tokens are bound to it.
    pub(crate) sid: String,
    /// The name of the login backend that signed it in: re-checks and sign-out go to that
    /// one, and a session whose backend is no longer configured ends.
    #[serde(default)]
    pub(crate) via: super::chain::BackendName,
}

impl Session {
    pub(crate) fn new(user: &User, via: &str, now: i64, ttl_secs: i64) -> Session {
        let mut sid = [0u8; 16];
        crate::entropy::random_bytes(&mut sid);
        Session {
            sub: user.id.clone(),
            name: user.name.clone(),
            roles: user.roles.clone(),
            iat: now,
            exp: now.saturating_add(ttl_secs),
            iat_ms: jiff::Timestamp::now()
                .as_millisecond()
                .max(now.saturating_mul(1000)),
            sid: B64.encode(sid),
            via: super::chain::BackendName::new(via).unwrap_or_default(),
        }
    }

    pub(crate) fn user(&self) -> User {
        User {
            id: self.sub.clone(),
            name: self.name.clone(),
            roles: self.roles.clone(),
        }
    }
}

/// Signing keys (at least 32 bytes each), newest first.
#[derive(Clone)]
pub(crate) struct Keys {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are never printed.
        write!(f, "Keys({} key(s))", self.keys.len())
    }
}

impl Keys {
    pub(crate) fn new(keys: Vec<Vec<u8>>) -> Keys {
        Keys { keys }
    }

    fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
        let mut m =
            <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m
    }

    /// The cookie value for `session`, named `cookie`.
    pub(crate) fn sign(&self, cookie: &str, session: &Session) -> String {
        let payload = B64.encode(serde_json::to_vec(session).unwrap_or_default());
        let key = self.keys.first().map(Vec::as_slice).unwrap_or(&[]);
        let tag = Self::mac(key, &[cookie.as_bytes(), payload.as_bytes()])
            .finalize()
            .into_bytes();
        format!("{payload}.{}", B64.encode(tag))
    }

    /// The session in a cookie value, if it verifies under any key and has not expired.
    pub(crate) fn verify(&self, cookie: &str, value: &str, now: i64) -> Option<Session> {
        if value.len() > MAX_COOKIE {
            return None;
        }
        let (payload, tag) = value.split_once('.')?;
        let tag = B64.decode(tag).ok()?;
        let ok = self.keys.iter().any(|k| {
            Self::mac(k, &[cookie.as_bytes(), payload.as_bytes()])
                .verify_slice(&tag)
                .is_ok()
        });
        if !ok {
            return None;
        }
        let s: Session = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        (s.exp > now && s.iat <= now + 60).then_some(s)
    }

    /// A value for the cookie `cookie` that carries `payload` until `exp` (Unix seconds),
    /// MAC'd like a session: a login backend's state between its own routes (an OIDC flow).
    pub(crate) fn seal(&self, cookie: &str, payload: &str, exp: i64) -> String {
        let body = B64.encode(serde_json::json!({"v": payload, "exp": exp}).to_string());
        let key = self.keys.first().map(Vec::as_slice).unwrap_or(&[]);
        let tag = Self::mac(key, &[b"taskdeck flow", cookie.as_bytes(), body.as_bytes()])
            .finalize()
            .into_bytes();
        format!("{body}.{}", B64.encode(tag))
    }

    /// The payload of a value made by [`Keys::seal`] for `cookie`, if it verifies under any
    /// key and has not expired.
    pub(crate) fn open(&self, cookie: &str, value: &str, now: i64) -> Option<String> {
        if value.len() > MAX_COOKIE {
            return None;
        }
        let (body, tag) = value.split_once('.')?;
        let tag = B64.decode(tag).ok()?;
        let ok = self.keys.iter().any(|k| {
            Self::mac(k, &[b"taskdeck flow", cookie.as_bytes(), body.as_bytes()])
                .verify_slice(&tag)
                .is_ok()
        });
        if !ok {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&B64.decode(body).ok()?).ok()?;
        let exp = v.get("exp")?.as_i64()?;
        (exp > now).then(|| v.get("v")?.as_str().map(String::from))?
    }

    /// A keyed digest of `bytes` (HMAC-SHA256 under the current key, its first 16 bytes in
    /// hex): equal values give equal digests, but nobody without the key can confirm a guess
    /// (the audit log's fingerprint of "Run now with…" args).
    pub(crate) fn fingerprint(&self, bytes: &[u8]) -> String {
        let key = self.keys.first().map(Vec::as_slice).unwrap_or(&[]);
        let tag = Self::mac(key, &[b"taskdeck fingerprint", bytes])
            .finalize()
            .into_bytes();
        tag[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The CSRF token for a session id (or, for users without a session, their user id).
    pub(crate) fn csrf(&self, binding: &str) -> String {
        let key = self.keys.first().map(Vec::as_slice).unwrap_or(&[]);
        B64.encode(
            Self::mac(key, &[b"taskdeck csrf", binding.as_bytes()])
                .finalize()
                .into_bytes(),
        )
    }

    /// True when `token` is the CSRF token for `binding` under any key (constant time).
    pub(crate) fn csrf_ok(&self, binding: &str, token: &str) -> bool {
        let Ok(tag) = B64.decode(token) else {
            return false;
        };
        self.keys.iter().any(|k| {
            Self::mac(k, &[b"taskdeck csrf", binding.as_bytes()])
                .verify_slice(&tag)
                .is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_once_untampered_and_unexpired() {
        let k = keys();
        let v = k.seal("flow", "state-123", 1_000);
        assert_eq!(k.open("flow", &v, 999).as_deref(), Some("state-123"));
        assert_eq!(k.open("flow", &v, 1_000), None, "expired");
        assert_eq!(k.open("other", &v, 999), None, "moved to another cookie");
        let mut t = v.clone();
        t.insert(3, 'x');
        assert_eq!(k.open("flow", &t, 999), None, "tampered");
        // A session cookie is not a flow value, nor the other way round.
        let s = k.sign("flow", &session(10));
        assert_eq!(k.open("flow", &s, 11), None);
        assert!(k.verify("flow", &v, 999).is_none());
    }

    fn keys() -> Keys {
        Keys::new(vec![vec![7u8; 32]])
    }

    fn session(now: i64) -> Session {
        Session::new(&User::new("u1", "Ada", Role::Admin), "password", now, 3600)
    }

    #[test]
    fn round_trip() {
        let k = keys();
        let s = session(1000);
        let v = k.sign("taskdeck_session", &s);
        assert_eq!(k.verify("taskdeck_session", &v, 1001), Some(s));
    }

    #[test]
    fn hostile_values_are_not_signed_in() {
        let k = keys();
        let v = k.sign("taskdeck_session", &session(1000));
        let (payload, tag) = v.split_once('.').unwrap();
        let mut forged_claims = B64.decode(payload).unwrap();
        let text = String::from_utf8(forged_claims.clone())
            .unwrap()
            .replace("Ada", "Eve");
        forged_claims = text.into_bytes();
        let cases: Vec<(&str, String, i64)> = vec![
            ("expired", v.clone(), 1000 + 3600),
            ("other cookie name", v.clone(), 1001),
            (
                "tampered payload",
                format!("{}.{tag}", B64.encode(&forged_claims)),
                1001,
            ),
            (
                "tampered tag",
                format!("{payload}.{}", B64.encode([0u8; 32])),
                1001,
            ),
            ("truncated", v[..v.len() - 3].to_string(), 1001),
            ("no dot", payload.to_string(), 1001),
            ("garbage", "%%%.***".into(), 1001),
            ("empty", String::new(), 1001),
            ("huge", "a".repeat(10_000), 1001),
        ];
        for (what, value, now) in cases {
            let name = if what == "other cookie name" {
                "other"
            } else {
                "taskdeck_session"
            };
            assert_eq!(k.verify(name, &value, now), None, "{what}");
        }
    }

    #[test]
    fn rotation_signs_with_first_and_accepts_all() {
        let old = Keys::new(vec![vec![1u8; 32]]);
        let v = old.sign("c", &session(10));
        let rotated = Keys::new(vec![vec![2u8; 32], vec![1u8; 32]]);
        assert!(
            rotated.verify("c", &v, 11).is_some(),
            "old cookies still work"
        );
        let newer = rotated.sign("c", &session(10));
        assert!(
            old.verify("c", &newer, 11).is_none(),
            "signed with the new key"
        );
        let dropped = Keys::new(vec![vec![2u8; 32]]);
        assert!(
            dropped.verify("c", &v, 11).is_none(),
            "a removed key no longer verifies"
        );
    }

    #[test]
    fn csrf_tokens_bind_to_the_session() {
        let k = keys();
        let t = k.csrf("sid-1");
        assert!(k.csrf_ok("sid-1", &t));
        assert!(!k.csrf_ok("sid-2", &t));
        assert!(!k.csrf_ok("sid-1", "garbage!"));
        assert!(!k.csrf_ok("sid-1", ""));
    }
}
