//! Bearer tokens: JWTs in `Authorization: Bearer …` (or another header, or a cookie),
//! checked with jsonwebtoken.

use std::fmt;

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::claims::ClaimMap;
use super::jwks::KeySet;
use super::{strip_bearer, AuthBackend, AuthFuture, LoginHelp, RequestParts, Role, User};

/// Fewest bytes of an HMAC secret (the output size of SHA-256).
const MIN_SECRET: usize = 32;

/// A key that did not load.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtError(String);

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JWT key: {}", self.0)
    }
}

debug_is_display!(JwtError);

impl std::error::Error for JwtError {}

/// Signs users in from JWTs (HMAC, RSA, RSA-PSS, ECDSA or EdDSA), from one key or a JWKS
/// document (keys by `kid`; from a URL with the `oidc` feature, refetched when a token names
/// a key it lacks). `exp` is always required; `aud` and `iss` are checked once set.
///
/// By default the token comes from `Authorization: Bearer …`, the user's id from `sub`, the
/// name from `name` and the roles from `roles` (a list, or one string of `viewer`,
/// `operator`, `admin`, separated by commas or spaces); each is configurable, and claim
/// names may be dotted paths (`realm_access.roles`).
///
/// ```
/// use taskdeck::{JwtBackend, Role};
/// let backend = JwtBackend::hs256(b"a secret of at least thirty-two bytes!!")
///     .algorithms(&["HS256", "HS512"])
///     .audience("taskdeck")
///     .issuer("https://id.example.com")
///     .user_claim("email")
///     .roles_claim("groups")
///     .map_role("platform-team", Role::Admin)
///     .header("X-Api-Token")
///     .require_role(Role::Operator);
/// # drop(backend);
/// ```
#[derive(Clone)]
pub struct JwtBackend {
    source: Source,
    validation: Validation,
    /// Claims a token must carry: `exp`, and `aud` / `iss` once configured.
    required: Vec<&'static str>,
    /// Why the backend cannot be used (an HMAC secret under 32 bytes, an unknown algorithm),
    /// reported when the dashboard is built.
    weak: Option<String>,
    header: http::HeaderName,
    cookie: Option<String>,
    claims: ClaimMap,
    /// Keys of a shared provider: `iss` and `aud` must be configured.
    needs_scope: bool,
    help: String,
}

#[derive(Clone)]
enum Source {
    One(DecodingKey),
    Set(KeySet),
    #[cfg(feature = "oidc")]
    Remote(std::sync::Arc<super::jwks::RemoteKeys>),
}

impl fmt::Debug for JwtBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBackend")
            .field("algorithms", &self.validation.algorithms)
            .field("header", &self.header)
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}

impl JwtBackend {
    fn with(source: Source, algs: Vec<Algorithm>) -> JwtBackend {
        let mut validation = Validation::new(algs.first().copied().unwrap_or(Algorithm::RS256));
        validation.algorithms = algs;
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 30;
        JwtBackend {
            source,
            validation,
            required: vec!["exp"],
            weak: None,
            header: http::header::AUTHORIZATION,
            cookie: None,
            claims: ClaimMap::new("roles", Some(Role::Viewer)),
            needs_scope: false,
            help:
                "Scripts and API clients: send a JSON Web Token as Authorization: Bearer <token>."
                    .into(),
        }
    }

    /// HMAC-SHA256 tokens with a shared secret.
    pub fn hs256(secret: &[u8]) -> JwtBackend {
        Self::hmac(secret, Algorithm::HS256)
    }

    /// HMAC-SHA384 tokens.
    pub fn hs384(secret: &[u8]) -> JwtBackend {
        Self::hmac(secret, Algorithm::HS384)
    }

    /// HMAC-SHA512 tokens.
    pub fn hs512(secret: &[u8]) -> JwtBackend {
        Self::hmac(secret, Algorithm::HS512)
    }

    fn hmac(secret: &[u8], alg: Algorithm) -> JwtBackend {
        Self::with(Source::One(DecodingKey::from_secret(secret)), vec![alg]).checked_secret(secret)
    }

    /// RSA (RS256) tokens, verified with a PEM public key.
    pub fn rs256_pem(pem: &[u8]) -> Result<JwtBackend, JwtError> {
        let key = DecodingKey::from_rsa_pem(pem).map_err(|e| JwtError(e.to_string()))?;
        Ok(Self::with(Source::One(key), vec![Algorithm::RS256]))
    }

    /// ECDSA P-256 (ES256) tokens, verified with a PEM public key.
    pub fn es256_pem(pem: &[u8]) -> Result<JwtBackend, JwtError> {
        let key = DecodingKey::from_ec_pem(pem).map_err(|e| JwtError(e.to_string()))?;
        Ok(Self::with(Source::One(key), vec![Algorithm::ES256]))
    }

    /// Tokens verified with the keys of a JWKS document (`{"keys": [...]}`), chosen by the
    /// token's `kid`. Accepts RS256 unless [`JwtBackend::algorithms`] says otherwise.
    ///
    /// Keys like these usually belong to an identity provider that issues tokens for many
    /// applications, so: [`JwtBackend::issuer`] and [`JwtBackend::audience`] must be set
    /// (`build` refuses the dashboard otherwise; give the dashboard's API an audience of its
    /// own, not the OIDC client id, so that sign-in ID tokens are not bearer tokens here);
    /// role names are not taken literally (a provider-wide `admin` role is not this
    /// dashboard's): grant roles with [`JwtBackend::map_role`]; and a token that maps to no
    /// role is refused unless [`JwtBackend::default_role`] says otherwise.
    pub fn jwks(document: &[u8]) -> Result<JwtBackend, JwtError> {
        let set = KeySet::from_jwks(document, false).map_err(JwtError)?;
        Ok(Self::with(Source::Set(set), vec![Algorithm::RS256]).shared_provider())
    }

    /// The defaults for keys of a shared identity provider (see [`JwtBackend::jwks`]).
    fn shared_provider(mut self) -> Self {
        self.claims.plain_names = false;
        self.claims.default_role = None;
        self.needs_scope = true;
        self
    }

    /// Whether role names in tokens stand for themselves (`viewer`, `operator`, `admin`).
    /// Default: yes with a secret or PEM key, no with JWKS keys.
    pub fn plain_role_names(mut self, yes: bool) -> Self {
        self.claims.plain_names = yes;
        self
    }

    /// [`JwtBackend::jwks`] from a file.
    pub fn jwks_file(path: impl AsRef<std::path::Path>) -> Result<JwtBackend, JwtError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| JwtError(format!("reading {}: {e}", path.display())))?;
        Self::jwks(&bytes)
    }

    /// Tokens verified with the keys of the JWKS document at `url` (`https://`, or `http://`
    /// to a loopback address), fetched at the first token and again when a token names a key
    /// it lacks (key rotation), such refetches at most once a minute. Public keys only. The
    /// same rules as [`JwtBackend::jwks`]: issuer and audience required, roles mapped.
    #[cfg(feature = "oidc")]
    pub fn jwks_url(url: &str) -> Result<JwtBackend, JwtError> {
        let fetch = crate::fetch::Fetch::new(std::time::Duration::from_secs(10), false)
            .map_err(JwtError)?;
        fetch.check_url(url).map_err(JwtError)?;
        let remote = super::jwks::RemoteKeys::new(
            url.to_string(),
            fetch,
            std::time::Duration::from_secs(60),
        );
        Ok(Self::with(
            Source::Remote(std::sync::Arc::new(remote)),
            vec![Algorithm::RS256],
        )
        .shared_provider())
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

    /// The algorithms accepted (`"HS256"`, `"RS256"`, `"ES256"`, `"EdDSA"`, …); a token
    /// signed with any other is refused. They must suit the key (HMAC ones for a secret).
    /// Default: the constructor's one.
    pub fn algorithms(mut self, names: &[&str]) -> Self {
        let mut algs = Vec::new();
        for n in names {
            match super::jwks::parse_algorithm(n) {
                Ok(a) => algs.push(a),
                Err(e) => self.weak = Some(e),
            }
        }
        if algs.is_empty() {
            self.weak.get_or_insert_with(|| {
                "JwtBackend::algorithms needs at least one algorithm".into()
            });
        } else {
            self.validation.algorithms = algs;
        }
        self
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

    /// The header the token comes in, as `Bearer <token>` or bare. Default `Authorization`.
    /// Tokens in a header are not ambient: unsafe requests need no CSRF token.
    pub fn header(mut self, name: &str) -> Self {
        match http::HeaderName::from_bytes(name.trim().as_bytes()) {
            Ok(h) => self.header = h,
            Err(_) => self.weak = Some(format!("{name:?} is not a header name")),
        }
        self
    }

    /// Also accept the token from this cookie (bare, or `Bearer <token>`). A browser sends
    /// cookies by itself, so unsafe requests signed in this way need a CSRF token.
    pub fn cookie(mut self, name: &str) -> Self {
        self.cookie = Some(name.to_string());
        self
    }

    /// The claim holding the user's id. Default `sub`.
    pub fn user_claim(mut self, claim: &str) -> Self {
        self.claims.user = claim.to_string();
        self
    }

    /// The claim holding the display name (the id when absent). Default `name`.
    pub fn name_claim(mut self, claim: &str) -> Self {
        self.claims.name = claim.to_string();
        self
    }

    /// The claim holding roles or groups. Default `roles`.
    pub fn roles_claim(mut self, claim: &str) -> Self {
        self.claims.roles = claim.to_string();
        self
    }

    /// A value of the roles claim (a group name) that grants `role`. `viewer`, `operator` and
    /// `admin` always grant themselves.
    pub fn map_role(mut self, value: &str, role: Role) -> Self {
        self.claims.map.push((value.to_string(), role));
        self
    }

    /// The role of tokens whose roles claim grants none (default viewer; `None` refuses
    /// them).
    pub fn default_role(mut self, role: Option<Role>) -> Self {
        self.claims.default_role = role;
        self
    }

    /// The least role that gets in at all: a valid token with less is refused as if it were
    /// no token (for example `Role::Admin` for an admins-only dashboard). Default: any role.
    pub fn require_role(mut self, role: Role) -> Self {
        self.claims.require = Some(role);
        self
    }

    /// The login page's explanation of how to get a token.
    pub fn login_help_text(mut self, text: &str) -> Self {
        self.help = text.to_string();
        self
    }

    fn header_token<'a>(&self, req: &'a RequestParts<'a>) -> Option<&'a str> {
        let v = req.headers.get(&self.header)?.to_str().ok()?;
        Some(strip_bearer(v, self.header == http::header::AUTHORIZATION)?.trim())
    }

    fn cookie_token<'a>(&self, req: &'a RequestParts<'a>) -> Option<&'a str> {
        let name = self.cookie.as_deref()?;
        let v = crate::cookies::value(req.headers, name)?;
        strip_bearer(v, false)
    }

    /// The user a token stands for, if it verifies (with a JWKS URL: only once its keys
    /// have been fetched; the dashboard uses the asynchronous check).
    pub fn user_of(&self, token: &str) -> Option<User> {
        let header = decode_header(token).ok()?;
        let key = match &self.source {
            Source::One(k) => k.clone(),
            Source::Set(set) => set.find(header.kid.as_deref())?.clone(),
            #[cfg(feature = "oidc")]
            Source::Remote(_) => return None,
        };
        self.claims_with(token, &key).ok()
    }

    async fn check(&self, token: &str) -> Result<User, String> {
        if token.len() > 8192 {
            return Err("token longer than 8 KiB".into());
        }
        let header = decode_header(token).map_err(|e| e.to_string())?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let key = match &self.source {
            Source::One(k) => k.clone(),
            Source::Set(set) => set
                .find(header.kid.as_deref())
                .ok_or_else(|| format!("no key {:?}", header.kid))?
                .clone(),
            #[cfg(feature = "oidc")]
            Source::Remote(r) => r.find(header.kid.as_deref()).await?,
        };
        self.claims_with(token, &key)
    }

    fn claims_with(&self, token: &str, key: &DecodingKey) -> Result<User, String> {
        if token.len() > 8192 {
            return Err("token longer than 8 KiB".into());
        }
        let alg = decode_header(token).map_err(|e| e.to_string())?.alg;
        if !self.validation.algorithms.contains(&alg) {
            return Err(format!("algorithm {alg:?} is not accepted"));
        }
        // Checked against the token's own (accepted) algorithm: jsonwebtoken wants every
        // listed algorithm to suit the key, which a list of several families never does.
        let mut validation = self.validation.clone();
        validation.algorithms = vec![alg];
        let data = decode::<Value>(token, key, &validation).map_err(|e| e.to_string())?;
        self.claims
            .user_of(&data.claims)
            .map_err(|e| format!("{e:?}"))
    }
}

impl AuthBackend for JwtBackend {
    fn kind(&self) -> &str {
        "jwt"
    }

    fn config_error(&self) -> Option<String> {
        if let Some(w) = &self.weak {
            return Some(w.clone());
        }
        let scoped = self.required.contains(&"iss") && self.required.contains(&"aud");
        (self.needs_scope && !scoped).then(|| {
            "a JwtBackend with JWKS keys needs .issuer(…) and .audience(…): the provider's keys sign tokens for other applications too".to_string()
        })
    }

    fn authenticate<'a>(&'a self, req: &'a RequestParts<'a>) -> AuthFuture<'a, Option<User>> {
        let token = self.header_token(req).or_else(|| self.cookie_token(req));
        Box::pin(async move {
            let token = token.filter(|t| !t.is_empty())?;
            match self.check(token).await {
                Ok(u) => Some(u),
                Err(why) => {
                    tracing::debug!(%why, "refused a bearer token");
                    None
                }
            }
        })
    }

    fn login_help(&self) -> Option<LoginHelp> {
        Some(LoginHelp::text(self.help.clone()))
    }

    fn sign_in_methods(&self) -> Vec<super::SignInMethod> {
        Vec::new()
    }

    fn is_ambient(&self, req: &RequestParts<'_>) -> bool {
        // A token in a header was put there on purpose; one in a cookie was not.
        self.header_token(req).is_none()
    }
}
