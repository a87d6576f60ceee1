//! OpenID Connect sign-in: the authorization-code flow with PKCE, `state` and `nonce`,
//! against a provider found by discovery, its ID tokens checked with jsonwebtoken against the
//! provider's JWKS (cached, fetched again for an unknown `kid`).
//!
//! Routes, under the dashboard's base: `/auth/oidc/start` sends the browser to the provider;
//! `/auth/oidc/callback` takes it back, exchanges the code and signs the user in. The flow's
//! secrets (state, nonce, PKCE verifier, where to go after) stay in a cookie the dashboard
//! signs, so any replica can finish a sign-in another began.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use jsonwebtoken::{decode, decode_header, Algorithm, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::claims::{ClaimMap, NoUser};
use super::jwks::RemoteKeys;
use super::{AuthBackend, AuthFuture, AuthReply, RequestParts, Role, SignInMethod, User};
use crate::fetch::Fetch;

/// Sign-in through an OpenID Connect provider (Keycloak, Entra ID, Okta, Google, Dex, …).
///
/// Roles come from a claim of the ID token (`groups` unless set) through
/// [`OidcBackend::map_role`]; a user the map grants nothing is refused, unless a
/// [`OidcBackend::default_role`] is set. Register `{origin}{base}/auth/oidc/callback` as the
/// redirect URI at the provider, e.g. `https://ops.example.com/jobs/auth/oidc/callback`.
///
/// A session it signs in lasts the dashboard's `session_ttl`: the provider is not asked again
/// until the user signs in anew, so end the sessions of a user you disable there with
/// `Dashboard::end_sessions`. Refused callbacks count as failed sign-ins of their client.
///
/// ```no_run
/// use taskdeck::{Dashboard, OidcBackend, Role, Scheduler};
/// let scheduler = Scheduler::builder().build()?;
/// let sso = OidcBackend::new("https://id.example.com/realms/ops", "taskdeck", Some("client-secret"))?
///     .label("Sign in with Example ID")
///     .map_role("ops-admins", Role::Admin)
///     .map_role("ops", Role::Operator)
///     .redirect_origin("https://ops.example.com")
///     .sign_out_at_provider(true);
/// let dashboard = Dashboard::builder(scheduler).auth(sso).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct OidcBackend {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    issuer: String,
    /// `/auth/{name}/start` and `/auth/{name}/callback` (`route_name`, default `oidc`).
    start_path: String,
    callback_path: String,
    client_id: String,
    client_secret: Option<String>,
    scopes: String,
    label: String,
    claims: ClaimMap,
    origin: Option<String>,
    sign_out: bool,
    post_logout: Option<String>,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    /// Ask the userinfo endpoint always, not only when the ID token lacks a claim it needs.
    userinfo_always: bool,
    /// Audiences besides this client an ID token may name (OIDC Core 3.1.3.7 (3)).
    trusted_audiences: Vec<String>,
    fetch: Fetch,
    min_refetch: Duration,
    /// What clones share: the discovered provider, when discovery last failed, the used
    /// states.
    provider: Arc<RwLock<Option<Arc<Provider>>>>,
    discovering: Arc<tokio::sync::Mutex<Option<Instant>>>,
    /// `state`s already used on this replica (a replayed callback), newest last, bounded.
    used: Arc<Mutex<VecDeque<String>>>,
    error: Option<String>,
}

/// What discovery found.
struct Provider {
    authorization_endpoint: String,
    token_endpoint: String,
    end_session_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    basic_auth: bool,
    /// The provider puts `iss` on its authorization responses (RFC 9207): a callback without
    /// it is refused.
    sends_iss: bool,
    keys: Arc<RemoteKeys>,
}

/// What the flow cookie keeps between the start and the callback.
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    redirect_uri: String,
    next: Option<String>,
}

/// The error codes of OAuth 2.0 (RFC 6749 4.1.2.1) and OpenID Connect Core (3.1.2.6).
const KNOWN_ERRORS: [&str; 13] = [
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
];

/// Most remembered used states.
const USED: usize = 4096;

impl fmt::Debug for OidcBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client secret is never printed.
        f.debug_struct("OidcBackend")
            .field("issuer", &self.inner.issuer)
            .field("client_id", &self.inner.client_id)
            .finish_non_exhaustive()
    }
}

impl OidcBackend {
    /// A provider at `issuer` (its discovery document is
    /// `{issuer}/.well-known/openid-configuration`), this dashboard registered there as
    /// `client_id`, with a client secret for confidential clients (`None` for a public
    /// client, which PKCE protects). `issuer` must be `https://`, or `http://` to a loopback
    /// address (for local testing).
    pub fn new(
        issuer: &str,
        client_id: &str,
        client_secret: Option<&str>,
    ) -> Result<OidcBackend, String> {
        let issuer = issuer.trim().trim_end_matches('/').to_string();
        let fetch = Fetch::new(Duration::from_secs(10), false)?;
        fetch.check_url(&issuer)?;
        if client_id.trim().is_empty() {
            return Err("the OIDC client id is empty".into());
        }
        Ok(OidcBackend {
            inner: Arc::new(Inner {
                issuer,
                start_path: "/auth/oidc/start".into(),
                callback_path: "/auth/oidc/callback".into(),
                client_id: client_id.trim().to_string(),
                client_secret: client_secret.map(str::to_string).filter(|s| !s.is_empty()),
                scopes: "openid profile email".into(),
                label: "Sign in with single sign-on".into(),
                claims: ClaimMap {
                    plain_names: false,
                    ..ClaimMap::new("groups", None)
                },
                origin: None,
                sign_out: false,
                post_logout: None,
                algorithms: vec![Algorithm::RS256],
                leeway: 30,
                trusted_audiences: Vec::new(),
                userinfo_always: false,
                fetch,
                min_refetch: Duration::from_secs(10),
                provider: Arc::new(RwLock::new(None)),
                discovering: Arc::new(tokio::sync::Mutex::new(None)),
                used: Arc::new(Mutex::new(VecDeque::new())),
                error: None,
            }),
        })
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        // A clone keeps its own settings (and shares what was discovered).
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// The name in this backend's routes: `/auth/{name}/start` and `/auth/{name}/callback`
    /// (register the latter at the provider). Give each of several `OidcBackend`s its own.
    /// Letters, digits, `-` and `_`; default `oidc`.
    pub fn route_name(self, name: &str) -> Self {
        let ok = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        let name = name.to_string();
        self.edit(|i| {
            if ok {
                i.start_path = format!("/auth/{name}/start");
                i.callback_path = format!("/auth/{name}/callback");
            } else {
                i.error = Some(format!(
                    "route_name {name:?} must be 1 to 32 letters, digits, '-' or '_'"
                ));
            }
        })
    }

    /// The sign-in button's text. Default "Sign in with single sign-on".
    pub fn label(self, text: &str) -> Self {
        let text = text.trim().to_string();
        self.edit(|i| i.label = text)
    }

    /// Scopes asked for besides `openid` (e.g. `"profile email groups"`). Default
    /// `"profile email"`.
    pub fn scopes(self, scopes: &str) -> Self {
        let mut s = String::from("openid");
        for scope in scopes.split_whitespace().filter(|s| *s != "openid") {
            s.push(' ');
            s.push_str(scope);
        }
        self.edit(|i| i.scopes = s)
    }

    /// A value of the roles claim that grants `role` (a group name, an app role).
    pub fn map_role(self, value: &str, role: Role) -> Self {
        let value = value.to_string();
        self.edit(|i| i.claims.map.push((value, role)))
    }

    /// The claim the roles come from. Default `groups`. Dotted paths reach nested claims
    /// (`realm_access.roles`).
    pub fn roles_claim(self, claim: &str) -> Self {
        let claim = claim.to_string();
        self.edit(|i| i.claims.roles = claim)
    }

    /// The claim holding the user's id. Default `sub`.
    pub fn user_claim(self, claim: &str) -> Self {
        let claim = claim.to_string();
        self.edit(|i| i.claims.user = claim)
    }

    /// The claim holding the display name. Default `name`.
    pub fn name_claim(self, claim: &str) -> Self {
        let claim = claim.to_string();
        self.edit(|i| i.claims.name = claim)
    }

    /// The role of a user the map grants nothing. Default none: such users are refused.
    pub fn default_role(self, role: Option<Role>) -> Self {
        self.edit(|i| i.claims.default_role = role)
    }

    /// The scheme and host the browser reaches the dashboard at (`https://ops.example.com`),
    /// for the redirect URI. Default: taken from each request (its `Host`, and HTTPS as the
    /// dashboard sees it); set it in production, where a proxy may rewrite `Host`.
    pub fn redirect_origin(self, origin: &str) -> Self {
        let origin = origin.trim().trim_end_matches('/').to_string();
        let bad = !(origin.starts_with("https://") || origin.starts_with("http://"))
            || origin
                .split("://")
                .nth(1)
                .is_some_and(|h| h.is_empty() || h.contains('/'));
        self.edit(|i| {
            if bad {
                i.error = Some(format!(
                    "redirect_origin {origin:?} must be a scheme and host, like https://ops.example.com"
                ));
            }
            i.origin = Some(origin);
        })
    }

    /// On sign-out, also end the session at the provider (its `end_session_endpoint`, when
    /// discovery lists one). Default `false`.
    pub fn sign_out_at_provider(self, yes: bool) -> Self {
        self.edit(|i| i.sign_out = yes)
    }

    /// Where the provider sends the browser after its sign-out
    /// (`post_logout_redirect_uri`; it must be registered there too).
    pub fn post_logout_redirect(self, url: &str) -> Self {
        let url = url.to_string();
        self.edit(|i| i.post_logout = Some(url))
    }

    /// ID-token algorithms accepted. Default `RS256`.
    pub fn algorithms(self, names: &[&str]) -> Self {
        let parsed: Result<Vec<Algorithm>, String> = names
            .iter()
            .map(|n| super::jwks::parse_algorithm(n))
            .collect();
        self.edit(|i| match parsed {
            Ok(a) if !a.is_empty() && a.iter().all(|a| !is_hmac(*a)) => i.algorithms = a,
            Ok(_) => i.error = Some("OIDC ID tokens need at least one public-key algorithm".into()),
            Err(e) => i.error = Some(e),
        })
    }

    /// Plain `http://` to a provider that is not on a loopback address. Only for a provider on
    /// a trusted network. Default `false`.
    pub fn allow_http(self, yes: bool) -> Self {
        let fetch = Fetch::new(Duration::from_secs(10), yes);
        self.edit(|i| match fetch {
            Ok(f) => i.fetch = f,
            Err(e) => i.error = Some(e),
        })
    }

    /// Least time between two fetches of the provider's keys for an unknown `kid`. Default
    /// 10 s.
    pub fn key_refetch_interval(self, every: Duration) -> Self {
        self.edit(|i| i.min_refetch = every)
    }

    /// Asks the provider's userinfo endpoint (OIDC Core 5.3) at every sign-in, not only when
    /// the ID token lacks the name or roles claim (which providers often release there
    /// only). Its claims fill in what the ID token lacks; one whose `sub` differs is refused.
    pub fn userinfo(self, always: bool) -> Self {
        self.edit(|i| i.userinfo_always = always)
    }

    /// Audiences besides this client's id that an ID token may name (OIDC Core 3.1.3.7 (3)):
    /// a token naming any other is refused. Empty by default.
    pub fn trusted_audiences(self, audiences: &[&str]) -> Self {
        let list = audiences.iter().map(|a| a.to_string()).collect();
        self.edit(|i| i.trusted_audiences = list)
    }

    /// Clock leeway for `exp`, `iat` and `nbf`. Default 30 s.
    pub fn leeway(self, secs: u64) -> Self {
        self.edit(|i| i.leeway = secs)
    }
}

fn is_hmac(a: Algorithm) -> bool {
    matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn random(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    crate::entropy::random_bytes(&mut b);
    B64.encode(b)
}

/// The value of `name` in a query string, decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

use super::constant_eq;

/// A refused sign-in: `action` names the check that failed (`oidc_wrong_nonce`, …), so each
/// kind has its own audit entry (repeats from one client are folded per kind).
fn refused(status: u16, action: &str, message: &str, reason: impl Into<String>) -> AuthReply {
    AuthReply::Refused {
        status,
        message: message.to_string(),
        action: action.to_string(),
        reason: reason.into(),
    }
}

/// Why an ID token was refused: the audit action and what it records.
type Refusal = (&'static str, String);

fn token_refusal(e: &jsonwebtoken::errors::Error) -> Refusal {
    use jsonwebtoken::errors::ErrorKind as K;
    let action = match e.kind() {
        K::InvalidAudience => "oidc_wrong_audience",
        K::InvalidIssuer => "oidc_wrong_issuer",
        K::ExpiredSignature => "oidc_expired",
        K::ImmatureSignature => "oidc_not_yet_valid",
        K::InvalidSignature => "oidc_bad_signature",
        K::InvalidAlgorithm => "oidc_bad_algorithm",
        K::MissingRequiredClaim(_) => "oidc_missing_claim",
        _ => "oidc_bad_token",
    };
    (action, format!("ID token: {e}"))
}

impl Inner {
    /// The provider's endpoints, discovered at first use and kept; a failed discovery is
    /// tried again at most every 10 s.
    async fn provider(&self) -> Result<Arc<Provider>, String> {
        if let Some(p) = self
            .provider
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(p);
        }
        let mut last = self.discovering.lock().await;
        if let Some(p) = self
            .provider
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(p);
        }
        if last.is_some_and(|at| at.elapsed() < Duration::from_secs(10)) {
            return Err("the identity provider could not be reached a moment ago".into());
        }
        *last = Some(Instant::now());
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let doc: Value = serde_json::from_slice(&self.fetch.get(&url).await?)
            .map_err(|e| format!("{url}: not JSON: {e}"))?;
        let field = |name: &str| -> Result<String, String> {
            doc.get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("{url}: no {name}"))
        };
        let issuer = field("issuer")?;
        if issuer.trim_end_matches('/') != self.issuer {
            return Err(format!(
                "the discovery document names issuer {issuer:?}, not {:?}",
                self.issuer
            ));
        }
        let authorization_endpoint = field("authorization_endpoint")?;
        let token_endpoint = field("token_endpoint")?;
        let jwks_uri = field("jwks_uri")?;
        for u in [&authorization_endpoint, &token_endpoint, &jwks_uri] {
            self.fetch.check_url(u)?;
        }
        let methods: Vec<&str> = doc
            .get("token_endpoint_auth_methods_supported")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        // client_secret_basic is the default when the provider lists none.
        let basic_auth = methods.is_empty() || methods.contains(&"client_secret_basic");
        let p = Arc::new(Provider {
            authorization_endpoint,
            token_endpoint,
            end_session_endpoint: doc
                .get("end_session_endpoint")
                .and_then(Value::as_str)
                .filter(|u| self.fetch.check_url(u).is_ok())
                .map(str::to_string),
            userinfo_endpoint: doc
                .get("userinfo_endpoint")
                .and_then(Value::as_str)
                .filter(|u| self.fetch.check_url(u).is_ok())
                .map(str::to_string),
            basic_auth,
            sends_iss: doc
                .get("authorization_response_iss_parameter_supported")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            keys: Arc::new(RemoteKeys::new(
                jwks_uri,
                self.fetch.clone(),
                self.min_refetch,
            )),
        });
        *self.provider.write().unwrap_or_else(|p| p.into_inner()) = Some(p.clone());
        Ok(p)
    }

    fn redirect_uri(&self, req: &RequestParts<'_>) -> Option<String> {
        let origin = match &self.origin {
            Some(o) => o.clone(),
            None => {
                let host = req.headers.get(http::header::HOST)?.to_str().ok()?;
                let clean = !host.is_empty()
                    && host.len() <= 255
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
                if !clean {
                    return None;
                }
                let scheme = if req.secure { "https" } else { "http" };
                format!("{scheme}://{host}")
            }
        };
        Some(format!("{origin}{}{}", req.base, self.callback_path))
    }

    async fn start(&self, req: &RequestParts<'_>) -> AuthReply {
        let provider = match self.provider().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "OIDC discovery failed");
                return refused(
                    503,
                    "oidc_unavailable",
                    "The identity provider cannot be reached. Try again in a moment.",
                    format!("discovery: {e}"),
                );
            }
        };
        let Some(redirect_uri) = self.redirect_uri(req) else {
            return refused(
                400,
                "oidc_no_host",
                "The request has no usable Host header.",
                "no Host",
            );
        };
        // Where to go after: a path (the dashboard checks it again at sign-in), kept short so
        // that the flow cookie stays small.
        let next = query_param(req.query, "next").filter(|n| n.starts_with('/') && n.len() <= 512);
        let flow = Flow {
            state: random(24),
            nonce: random(24),
            verifier: random(48),
            redirect_uri,
            next,
        };
        let challenge = B64.encode(Sha256::digest(flow.verifier.as_bytes()));
        let mut url = provider.authorization_endpoint.clone();
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", &flow.redirect_uri)
                .append_pair("scope", &self.scopes)
                .append_pair("state", &flow.state)
                .append_pair("nonce", &flow.nonce)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256")
                .finish(),
        );
        AuthReply::Begin {
            to: url,
            flow: serde_json::to_string(&flow).unwrap_or_default(),
        }
    }

    async fn callback(&self, req: &RequestParts<'_>) -> AuthReply {
        let query = req.query;
        let Some(flow) = req.flow.and_then(|f| serde_json::from_str::<Flow>(f).ok()) else {
            return refused(
                400,
                "oidc_no_flow",
                "This sign-in has expired or was started in another browser. Start again.",
                "no flow cookie",
            );
        };
        let state = query_param(query, "state").unwrap_or_default();
        if !constant_eq(&state, &flow.state) {
            return refused(
                403,
                "oidc_state_mismatch",
                "The sign-in answer does not match the sign-in this browser started. Start again.",
                "state mismatch",
            );
        }
        if let Some(err) = query_param(query, "error") {
            // Only the codes OAuth and OIDC define are shown: the rest of the URL is anyone's.
            let known = KNOWN_ERRORS.contains(&err.as_str());
            let shown = if known {
                err.as_str()
            } else {
                "an unknown error"
            };
            let logged: String = err.chars().take(64).collect();
            return refused(
                403,
                "oidc_provider_error",
                &format!("The identity provider did not sign you in ({shown})."),
                format!("provider error: {logged}"),
            );
        }
        if !self.first_use(&flow.state) {
            return refused(
                403,
                "oidc_replayed",
                "This sign-in answer was already used. Start again.",
                "replayed callback",
            );
        }
        let Some(code) = query_param(query, "code").filter(|c| !c.is_empty() && c.len() <= 2048)
        else {
            return refused(
                400,
                "oidc_no_code",
                "The sign-in answer has no code.",
                "no code",
            );
        };
        let provider = match self.provider().await {
            Ok(p) => p,
            Err(e) => {
                return refused(
                    503,
                    "oidc_unavailable",
                    "The identity provider cannot be reached. Try again in a moment.",
                    format!("discovery: {e}"),
                )
            }
        };
        // RFC 9207: the issuer the provider names on its answer must be this one (a mix-up
        // with another provider's answer is refused), and a provider that says it always
        // names it must have.
        match query_param(query, "iss") {
            Some(iss) if iss.trim_end_matches('/') != self.issuer => {
                let shown: String = iss.chars().take(100).collect();
                return refused(
                    403,
                    "oidc_wrong_issuer",
                    "The sign-in answer came from another identity provider. Start again.",
                    format!("authorization response iss {shown:?}"),
                );
            }
            None if provider.sends_iss => {
                return refused(
                    403,
                    "oidc_wrong_issuer",
                    "The sign-in answer does not name its identity provider. Start again.",
                    "authorization response without iss",
                );
            }
            _ => {}
        }
        let (id_token, access_token) = match self.exchange(&provider, &code, &flow).await {
            Ok(t) => t,
            Err(e) => {
                return refused(
                    403,
                    "oidc_code_refused",
                    "The identity provider did not accept the sign-in code (it may have been used already). Start again.",
                    format!("token exchange: {e}"),
                )
            }
        };
        let claims = match self.verify(&provider, &id_token, &flow.nonce).await {
            Ok(c) => c,
            Err((action, reason)) => {
                return refused(
                    403,
                    action,
                    "The identity provider's answer did not verify. Start again.",
                    reason,
                )
            }
        };
        let claims = match self
            .with_userinfo(&provider, access_token.as_deref(), claims)
            .await
        {
            Ok(c) => c,
            Err((action, reason)) => {
                return refused(
                    403,
                    action,
                    "The identity provider's account details could not be used. Start again.",
                    reason,
                )
            }
        };
        match self.claims.user_of(&claims) {
            // Signing out at the provider sends the ID token as `id_token_hint`, so that the
            // provider ends its session without asking the user first.
            Ok(user) if self.sign_out => AuthReply::SignInKeeping {
                user,
                next: flow.next,
                keep: id_token,
            },
            Ok(user) => AuthReply::SignIn {
                user,
                next: flow.next,
            },
            Err(NoUser::NoId(claim)) => refused(
                403,
                "oidc_no_user",
                "The identity provider did not say who you are.",
                format!("no {claim} claim"),
            ),
            Err(NoUser::NoRole) => {
                let who = claims
                    .get("sub")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .chars()
                    .take(64)
                    .collect::<String>();
                refused(
                    403,
                    "oidc_no_role",
                    "Your account has no role on this dashboard. Ask an administrator for access.",
                    format!("no role for {who}"),
                )
            }
        }
    }

    /// True the first time this replica sees `state` finish.
    fn first_use(&self, state: &str) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if used.iter().any(|s| s == state) {
            return false;
        }
        if used.len() >= USED {
            used.pop_front();
        }
        used.push_back(state.to_string());
        true
    }

    /// The ID token and the access token (for userinfo) the code is exchanged for.
    async fn exchange(
        &self,
        p: &Provider,
        code: &str,
        flow: &Flow,
    ) -> Result<(String, Option<String>), String> {
        let (form, auth) = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", &flow.redirect_uri)
                .append_pair("code_verifier", &flow.verifier);
            let mut auth = None;
            match (&self.client_secret, p.basic_auth) {
                (Some(secret), true) => {
                    let enc =
                        |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                    let pair = format!("{}:{}", enc(&self.client_id), enc(secret));
                    auth = Some(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair)
                    ));
                }
                (Some(secret), false) => {
                    form.append_pair("client_id", &self.client_id)
                        .append_pair("client_secret", secret);
                }
                (None, _) => {
                    form.append_pair("client_id", &self.client_id);
                }
            }
            (form.finish(), auth)
        };
        let (status, body) = self
            .fetch
            .post_form(&p.token_endpoint, &form, auth.as_deref())
            .await?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status != 200 {
            let err = v
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no error code");
            return Err(format!("the token endpoint answered {status} ({err})"));
        }
        let id_token = v
            .get("id_token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or("the token endpoint's answer has no id_token")?;
        let access_token = v
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| t.len() <= 16 * 1024)
            .map(str::to_string);
        Ok((id_token, access_token))
    }

    /// The claims of the userinfo endpoint added to the ID token's (which win where both
    /// have one), when the ID token lacks a claim the backend needs or `userinfo(true)`
    /// asks always (OIDC Core 5.3). Refused when its `sub` is not the ID token's (5.3.2).
    async fn with_userinfo(
        &self,
        p: &Provider,
        access_token: Option<&str>,
        mut claims: Value,
    ) -> Result<Value, Refusal> {
        if !(self.userinfo_always || self.claims.lacks_any(&claims)) {
            return Ok(claims);
        }
        let (Some(url), Some(token)) = (&p.userinfo_endpoint, access_token) else {
            return Ok(claims);
        };
        let body = self
            .fetch
            .get_bearer(url, token)
            .await
            .map_err(|e| ("oidc_userinfo_failed", format!("userinfo: {e}")))?;
        let info: Value = serde_json::from_slice(&body)
            .map_err(|e| ("oidc_userinfo_failed", format!("userinfo: not JSON: {e}")))?;
        let sub = claims.get("sub").and_then(Value::as_str);
        if info.get("sub").and_then(Value::as_str) != sub || sub.is_none() {
            return Err((
                "oidc_userinfo_sub_mismatch",
                "userinfo: its sub is not the ID token's".into(),
            ));
        }
        if let (Some(into), Some(from)) = (claims.as_object_mut(), info.as_object()) {
            for (k, v) in from {
                into.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        Ok(claims)
    }

    async fn verify(&self, p: &Provider, token: &str, nonce: &str) -> Result<Value, Refusal> {
        if token.len() > 16 * 1024 {
            return Err(("oidc_bad_token", "ID token longer than 16 KiB".into()));
        }
        let header = decode_header(token).map_err(|e| token_refusal(&e))?;
        if !self.algorithms.contains(&header.alg) {
            return Err((
                "oidc_bad_algorithm",
                format!("ID token algorithm {:?} is not accepted", header.alg),
            ));
        }
        let key = p
            .keys
            .find(header.kid.as_deref())
            .await
            .map_err(|e| ("oidc_unknown_key", format!("ID token: {e}")))?;
        // The token's own algorithm, accepted above (a list of several families would never
        // suit one key).
        let mut v = Validation::new(header.alg);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Some providers write their issuer with a trailing slash (the configured one is kept
        // without): either form is this issuer.
        let slashed = format!("{}/", self.issuer);
        v.set_issuer(&[self.issuer.as_str(), slashed.as_str()]);
        v.set_audience(&[&self.client_id]);
        v.leeway = self.leeway;
        let data = decode::<Value>(token, &key, &v).map_err(|e| token_refusal(&e))?;
        let claims = data.claims;
        let got = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if !constant_eq(got, nonce) {
            return Err(("oidc_wrong_nonce", "ID token: nonce mismatch".into()));
        }
        // With several audiences, each must be trusted (OIDC Core 3.1.3.7 (3)) and the token
        // meant for this client (`azp`).
        if let Some(Value::Array(aud)) = claims.get("aud") {
            if let Some(other) = aud
                .iter()
                .filter_map(Value::as_str)
                .find(|a| *a != self.client_id && !self.trusted_audiences.iter().any(|t| t == a))
            {
                let shown: String = other.chars().take(100).collect();
                return Err((
                    "oidc_wrong_audience",
                    format!("ID token: audience {shown:?} is not trusted"),
                ));
            }
            if aud.len() > 1 {
                let azp = claims.get("azp").and_then(Value::as_str);
                if azp != Some(self.client_id.as_str()) {
                    return Err((
                        "oidc_wrong_audience",
                        "ID token: several audiences and azp is not this client".into(),
                    ));
                }
            }
        }
        Ok(claims)
    }
}

impl AuthBackend for OidcBackend {
    fn kind(&self) -> &str {
        "oidc"
    }

    fn reads_credentials(&self) -> bool {
        false
    }

    fn authenticate<'a>(&'a self, _req: &'a RequestParts<'a>) -> AuthFuture<'a, Option<User>> {
        // Signed-in users carry the dashboard's session cookie.
        Box::pin(std::future::ready(None))
    }

    fn config_error(&self) -> Option<String> {
        self.inner.error.clone()
    }

    fn sign_in_methods(&self) -> Vec<SignInMethod> {
        vec![SignInMethod::Link {
            label: self.inner.label.clone(),
            path: self.inner.start_path.clone(),
        }]
    }

    fn extra_route<'a>(
        &'a self,
        req: &'a RequestParts<'a>,
        _body: &'a [u8],
    ) -> AuthFuture<'a, Option<AuthReply>> {
        Box::pin(async move {
            if req.method != http::Method::GET {
                return None;
            }
            if req.path == self.inner.start_path {
                Some(self.inner.start(req).await)
            } else if req.path == self.inner.callback_path {
                Some(self.inner.callback(req).await)
            } else {
                None
            }
        })
    }

    fn logout<'a>(&'a self, user: &'a User) -> AuthFuture<'a, Option<String>> {
        self.logout_keeping(user, None)
    }

    /// RP-initiated logout: the provider's end-session endpoint with `client_id`, the ID
    /// token of the sign-in as `id_token_hint` (kept since; without it providers ask the user
    /// whether to sign out) and `post_logout_redirect_uri` when configured.
    fn logout_keeping<'a>(
        &'a self,
        _user: &'a User,
        kept: Option<&'a str>,
    ) -> AuthFuture<'a, Option<String>> {
        Box::pin(async move {
            if !self.inner.sign_out {
                return None;
            }
            let p = self.inner.provider().await.ok()?;
            let end = p.end_session_endpoint.as_ref()?;
            let mut q = form_urlencoded::Serializer::new(String::new());
            q.append_pair("client_id", &self.inner.client_id);
            if let Some(hint) = kept {
                q.append_pair("id_token_hint", hint);
            }
            if let Some(to) = &self.inner.post_logout {
                q.append_pair("post_logout_redirect_uri", to);
            }
            let sep = if end.contains('?') { '&' } else { '?' };
            Some(format!("{end}{sep}{}", q.finish()))
        })
    }
}
