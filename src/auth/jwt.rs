//! Bearer tokens: JWTs in `Authorization: Bearer …` (or a cookie), checked with jsonwebtoken.

use std::fmt;

use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::{AuthBackend, AuthFuture, RequestParts, Role, User};

/// Fewest bytes of an HMAC secret (the output size of SHA-256).
const MIN_SECRET: usize = 32;

/// A key that did not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtError(String);

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JWT key: {}", self.0)
    }
}

impl std::error::Error for JwtError {}

/// Signs users in from JWTs: HS256/384/512, RS256 or ES256. `exp` is required; `aud` and
/// `iss` are checked when set; claims map to the user's id (`sub`), name (`name`) and roles
/// (`roles`: a list or one string of `viewer`, `operator`, `admin`).
///
/// ```
/// use taskdeck::JwtBackend;
/// let backend = JwtBackend::hs256(b"a secret of at least thirty-two bytes!!")
///     .audience("taskdeck")
///     .issuer("https://id.example.com");
/// # drop(backend);
/// ```
#[derive(Clone)]
pub struct JwtBackend {
    key: DecodingKey,
    validation: Validation,
    /// Claims a token must carry: `exp`, and `aud` / `iss` once configured.
    required: Vec<&'static str>,
    /// Why the key cannot be used (an HMAC secret under 32 bytes), reported when the
    /// dashboard is built.
    weak: Option<String>,
    cookie: Option<String>,
    default_role: Option<Role>,
    help: String,
}

impl fmt::Debug for JwtBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBackend")
            .field("algorithms", &self.validation.algorithms)
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}

impl JwtBackend {
    fn with(key: DecodingKey, alg: Algorithm) -> JwtBackend {
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 30;
        JwtBackend {
            key,
            validation,
            required: vec!["exp"],
            weak: None,
            cookie: None,
            default_role: Some(Role::Viewer),
            help: "Send a JSON Web Token from your identity provider as \
                   Authorization: Bearer <token>."
                .into(),
        }
    }

    /// HMAC-SHA256 tokens with a shared secret.
    pub fn hs256(secret: &[u8]) -> JwtBackend {
        Self::with(DecodingKey::from_secret(secret), Algorithm::HS256).checked_secret(secret)
    }

    /// HMAC-SHA384 tokens.
    pub fn hs384(secret: &[u8]) -> JwtBackend {
        Self::with(DecodingKey::from_secret(secret), Algorithm::HS384).checked_secret(secret)
    }

    /// HMAC-SHA512 tokens.
    pub fn hs512(secret: &[u8]) -> JwtBackend {
        Self::with(DecodingKey::from_secret(secret), Algorithm::HS512).checked_secret(secret)
    }

    /// RSA (RS256) tokens, verified with a PEM public key.
    pub fn rs256_pem(pem: &[u8]) -> Result<JwtBackend, JwtError> {
        let key = DecodingKey::from_rsa_pem(pem).map_err(|e| JwtError(e.to_string()))?;
        Ok(Self::with(key, Algorithm::RS256))
    }

    /// ECDSA P-256 (ES256) tokens, verified with a PEM public key.
    pub fn es256_pem(pem: &[u8]) -> Result<JwtBackend, JwtError> {
        let key = DecodingKey::from_ec_pem(pem).map_err(|e| JwtError(e.to_string()))?;
        Ok(Self::with(key, Algorithm::ES256))
    }

    /// An HMAC secret shorter than the hash is guessable offline from one token: refuse it
    /// (the dashboard's `build` reports why).
    fn checked_secret(mut self, secret: &[u8]) -> Self {
        if secret.len() < MIN_SECRET {
            self.weak = Some(format!(
                "the JWT HMAC secret is {} bytes; use at least {MIN_SECRET} random bytes",
                secret.len()
            ));
        }
        self
    }

    fn require(&mut self, claim: &'static str) {
        if !self.required.contains(&claim) {
            self.required.push(claim);
        }
        self.validation.set_required_spec_claims(&self.required);
    }

    /// Requires this `aud`: a token without an `aud` claim, or with another, is refused.
    pub fn audience(mut self, aud: &str) -> Self {
        self.validation.set_audience(&[aud]);
        self.require("aud");
        self
    }

    /// Requires this `iss`: a token without an `iss` claim, or with another, is refused.
    pub fn issuer(mut self, iss: &str) -> Self {
        self.validation.set_issuer(&[iss]);
        self.require("iss");
        self
    }

    /// Clock leeway for `exp` and `nbf`. Default 30 s.
    pub fn leeway(mut self, secs: u64) -> Self {
        self.validation.leeway = secs;
        self
    }

    /// Also accept the token from this cookie.
    pub fn cookie(mut self, name: &str) -> Self {
        self.cookie = Some(name.to_string());
        self
    }

    /// The role of tokens without a `roles` claim (default viewer; `None` refuses them).
    pub fn default_role(mut self, role: Option<Role>) -> Self {
        self.default_role = role;
        self
    }

    /// The login page's explanation of how to get a token.
    pub fn login_help_text(mut self, text: &str) -> Self {
        self.help = text.to_string();
        self
    }

    fn bearer<'a>(&self, req: &'a RequestParts<'a>) -> Option<&'a str> {
        req.headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
    }

    fn cookie_token<'a>(&self, req: &'a RequestParts<'a>) -> Option<&'a str> {
        let name = self.cookie.as_deref()?;
        crate::cookies::value(req.headers, name)
    }

    /// The user a token stands for, if it verifies.
    pub fn user_of(&self, token: &str) -> Option<User> {
        if token.len() > 8192 {
            return None;
        }
        let data = decode::<Value>(token, &self.key, &self.validation).ok()?;
        let c = data.claims;
        let id = c.get("sub").and_then(Value::as_str)?.to_string();
        let name = c
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&id)
            .to_string();
        let mut roles: Vec<Role> = match c.get("roles") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|r| r.parse().ok())
                .collect(),
            Some(Value::String(s)) => s.split([',', ' ']).filter_map(|r| r.parse().ok()).collect(),
            _ => Vec::new(),
        };
        if roles.is_empty() {
            roles.extend(self.default_role);
        }
        Some(User { id, name, roles })
    }
}

impl AuthBackend for JwtBackend {
    fn config_error(&self) -> Option<String> {
        self.weak.clone()
    }

    fn authenticate<'a>(&'a self, req: &'a RequestParts<'a>) -> AuthFuture<'a, Option<User>> {
        let token = self.bearer(req).or_else(|| self.cookie_token(req));
        let user = token.and_then(|t| self.user_of(t));
        Box::pin(async move { user })
    }

    fn login_help(&self) -> Option<String> {
        Some(self.help.clone())
    }

    fn is_ambient(&self, req: &RequestParts<'_>) -> bool {
        // A token in Authorization was put there on purpose; one in a cookie was not.
        self.bearer(req).is_none()
    }
}
