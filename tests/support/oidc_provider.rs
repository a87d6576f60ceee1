//! A small OpenID Connect provider for tests and local trials: discovery, JWKS, an authorize
//! endpoint that approves at once (no login form) and a token endpoint that checks the client,
//! the redirect URI, the PKCE verifier and that each code is used once, then issues an RS256 ID
//! token. Tests steer the next token (audience, nonce, expiry, signing key) and rotate keys.
//! Never for production: it signs in whoever asks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// Signing keys: `a` is published first, `b` replaces it on rotation, `c` is never published.
pub(crate) const KEYS: [(&str, &str); 3] = [
    ("key-a", include_str!("keys/a.pem")),
    ("key-b", include_str!("keys/b.pem")),
    ("key-c", include_str!("keys/c.pem")),
];

/// What the next ID token gets wrong, for the hostile cases.
#[derive(Clone, Debug, Default)]
pub(crate) struct Twist {
    pub(crate) audience: Option<String>,
    pub(crate) nonce: Option<String>,
    /// Seconds from now to `exp` (negative: already expired).
    pub(crate) exp_in: Option<i64>,
    /// Sign with this key (by index into [`KEYS`]).
    pub(crate) key: Option<usize>,
    pub(crate) issuer: Option<String>,
    /// A second audience beside the client (with `azp` the client).
    pub(crate) extra_audience: Option<String>,
}

/// Who the provider signs in.
#[derive(Clone, Debug)]
pub(crate) struct Person {
    pub(crate) sub: String,
    pub(crate) name: String,
    pub(crate) groups: Vec<String>,
}

struct Code {
    redirect_uri: String,
    nonce: String,
    challenge: String,
    used: bool,
    person: Person,
}

struct State {
    issuer: String,
    client_id: String,
    client_secret: String,
    /// Indices into KEYS that the JWKS publishes; the first signs.
    published: Vec<usize>,
    codes: HashMap<String, Code>,
    person: Person,
    twist: Twist,
    jwks_fetches: usize,
    token_calls: usize,
    requests: usize,
    counter: u64,
    /// RFC 9207: says so in discovery, and puts `iss` on its authorization answers (this
    /// issuer, or `iss_on_answer` when set).
    advertise_iss: bool,
    iss_on_answer: Option<String>,
    /// `Cache-Control: max-age` on the key set, and whether its URL answers 503.
    jwks_max_age: Option<u64>,
    jwks_down: bool,
    /// ID tokens without `name` and `groups` (a provider's defaults), which its userinfo
    /// endpoint gives, for the person of the last token, under `userinfo_sub` if set.
    thin: bool,
    last_person: Option<Person>,
    userinfo_sub: Option<String>,
    userinfo_calls: usize,
}

/// A running provider; stops when dropped.
pub(crate) struct Provider {
    pub(crate) addr: SocketAddr,
    pub(crate) issuer: String,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Provider {
    /// Starts on `addr` (port 0 for any), for this client.
    pub(crate) async fn start(addr: &str, client_id: &str, client_secret: &str) -> Provider {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let issuer = format!("http://{addr}");
        let state = Arc::new(Mutex::new(State {
            issuer: issuer.clone(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            published: vec![0],
            thin: false,
            last_person: None,
            userinfo_sub: None,
            userinfo_calls: 0,
            jwks_max_age: None,
            jwks_down: false,
            advertise_iss: false,
            iss_on_answer: None,
            codes: HashMap::new(),
            person: Person {
                sub: "u-1001".into(),
                name: "Olive Operator".into(),
                groups: vec!["taskdeck-operators".into()],
            },
            twist: Twist::default(),
            jwks_fetches: 0,
            token_calls: 0,
            requests: 0,
            counter: 0,
        }));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let (sock, _) = tokio::select! {
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                    _ = &mut rx => break,
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(&st, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
        Provider {
            addr,
            issuer,
            state,
            stop: Some(tx),
        }
    }

    /// The next ID token is twisted so; later ones are not.
    pub(crate) fn twist_next(&self, t: Twist) {
        self.state.lock().unwrap().twist = t;
    }

    /// RFC 9207 from now on: `iss` on every authorization answer (`Some`: that one instead of
    /// the issuer, as a mixed-up answer would carry), announced in discovery.
    pub(crate) fn send_iss(&self, wrong: Option<&str>) {
        let mut s = self.state.lock().unwrap();
        s.advertise_iss = true;
        s.iss_on_answer = wrong.map(str::to_string);
    }

    /// No `iss` on authorization answers, though discovery still announces it.
    pub(crate) fn drop_iss(&self) {
        let mut s = self.state.lock().unwrap();
        s.iss_on_answer = Some(String::new());
    }

    /// The key set's `Cache-Control: max-age` from now on.
    pub(crate) fn keys_max_age(&self, secs: Option<u64>) {
        self.state.lock().unwrap().jwks_max_age = secs;
    }

    /// The key set's URL answers 503 (`true`) or the keys again.
    pub(crate) fn keys_down(&self, down: bool) {
        self.state.lock().unwrap().jwks_down = down;
    }

    /// ID tokens carry only `sub` and the protocol's claims from now on; `name` and
    /// `groups` come from userinfo, whose `sub` is `userinfo_sub` when given (a mix-up).
    pub(crate) fn thin_tokens(&self, userinfo_sub: Option<&str>) {
        let mut s = self.state.lock().unwrap();
        s.thin = true;
        s.userinfo_sub = userinfo_sub.map(str::to_string);
    }

    pub(crate) fn userinfo_calls(&self) -> usize {
        self.state.lock().unwrap().userinfo_calls
    }

    /// Who signs in from now on.
    pub(crate) fn sign_in_as(&self, p: Person) {
        self.state.lock().unwrap().person = p;
    }

    /// Publishes and signs with key `b` only (key `a` is withdrawn).
    pub(crate) fn rotate(&self) {
        self.state.lock().unwrap().published = vec![1];
    }

    pub(crate) fn jwks_fetches(&self) -> usize {
        self.state.lock().unwrap().jwks_fetches
    }

    /// Every request it answered, whatever the path.
    pub(crate) fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }

    pub(crate) fn token_calls(&self) -> usize {
        self.state.lock().unwrap().token_calls
    }
}

fn reply(status: StatusCode, ctype: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", ctype)
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn json_reply(status: StatusCode, v: Value) -> Response<Full<Bytes>> {
    reply(status, "application/json", v.to_string())
}

fn params(s: &str) -> HashMap<String, String> {
    form_urlencoded::parse(s.as_bytes()).into_owned().collect()
}

pub(crate) fn jwk(index: usize) -> Value {
    let (kid, pem) = KEYS[index];
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let public =
        jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::RS256).unwrap();
    let mut v = serde_json::to_value(public).unwrap();
    v["kid"] = json!(kid);
    v["use"] = json!("sig");
    v
}

async fn answer(st: &Mutex<State>, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut s = st.lock().unwrap();
    s.requests += 1;
    match (method, path.as_str()) {
        (Method::GET, "/.well-known/openid-configuration") => {
            let i = s.issuer.clone();
            json_reply(
                StatusCode::OK,
                json!({
                    "issuer": i,
                    "authorization_endpoint": format!("{i}/authorize"),
                    "token_endpoint": format!("{i}/token"),
                    "jwks_uri": format!("{i}/jwks"),
                    "end_session_endpoint": format!("{i}/logout"),
                    "userinfo_endpoint": format!("{i}/userinfo"),
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                    "authorization_response_iss_parameter_supported": s.advertise_iss,
                }),
            )
        }
        (Method::GET, "/jwks") => {
            s.jwks_fetches += 1;
            if s.jwks_down {
                return reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "down".into());
            }
            let keys: Vec<Value> = s.published.iter().map(|&i| jwk(i)).collect();
            let mut r = json_reply(StatusCode::OK, json!({ "keys": keys }));
            if let Some(age) = s.jwks_max_age {
                r.headers_mut().insert(
                    "cache-control",
                    format!("public, max-age={age}").parse().unwrap(),
                );
            }
            r
        }
        (Method::GET, "/authorize") => {
            let q = params(&query);
            let need = [
                "response_type",
                "client_id",
                "redirect_uri",
                "state",
                "nonce",
                "code_challenge",
            ];
            if let Some(missing) = need.iter().find(|k| !q.contains_key(**k)) {
                return reply(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    format!("missing {missing}"),
                );
            }
            if q["client_id"] != s.client_id
                || q["response_type"] != "code"
                || q.get("code_challenge_method").map(String::as_str) != Some("S256")
            {
                return reply(StatusCode::BAD_REQUEST, "text/plain", "bad request".into());
            }
            s.counter += 1;
            let code = format!("code-{}-{}", s.counter, B64.encode(rand_bytes()));
            let person = s.person.clone();
            s.codes.insert(
                code.clone(),
                Code {
                    redirect_uri: q["redirect_uri"].clone(),
                    nonce: q["nonce"].clone(),
                    challenge: q["code_challenge"].clone(),
                    used: false,
                    person,
                },
            );
            let mut answer = form_urlencoded::Serializer::new(String::new());
            answer
                .append_pair("code", &code)
                .append_pair("state", &q["state"]);
            if s.advertise_iss {
                match s.iss_on_answer.as_deref() {
                    None => {
                        answer.append_pair("iss", &s.issuer);
                    }
                    Some("") => {}
                    Some(other) => {
                        answer.append_pair("iss", other);
                    }
                }
            }
            let back = format!("{}?{}", q["redirect_uri"], answer.finish());
            Response::builder()
                .status(StatusCode::FOUND)
                .header("location", back)
                .body(Full::new(Bytes::new()))
                .unwrap()
        }
        (Method::POST, "/token") => {
            s.token_calls += 1;
            let f = params(&body);
            let (client_id, secret) = match auth.as_deref().and_then(|a| a.strip_prefix("Basic ")) {
                Some(b) => {
                    let pair = String::from_utf8(
                        base64::engine::general_purpose::STANDARD
                            .decode(b)
                            .unwrap_or_default(),
                    )
                    .unwrap_or_default();
                    let (u, p) = pair.split_once(':').unwrap_or(("", ""));
                    let dec = |x: &str| {
                        form_urlencoded::parse(format!("a={x}").as_bytes())
                            .next()
                            .map(|(_, v)| v.into_owned())
                            .unwrap_or_default()
                    };
                    (dec(u), dec(p))
                }
                None => (
                    f.get("client_id").cloned().unwrap_or_default(),
                    f.get("client_secret").cloned().unwrap_or_default(),
                ),
            };
            if client_id != s.client_id || secret != s.client_secret {
                return json_reply(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
            }
            let code = f.get("code").cloned().unwrap_or_default();
            let verifier = f.get("code_verifier").cloned().unwrap_or_default();
            let redirect = f.get("redirect_uri").cloned().unwrap_or_default();
            let Some(c) = s.codes.get_mut(&code) else {
                return json_reply(StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
            };
            if c.used {
                return json_reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "invalid_grant", "error_description": "code already used"}),
                );
            }
            c.used = true;
            if c.redirect_uri != redirect
                || B64.encode(Sha256::digest(verifier.as_bytes())) != c.challenge
            {
                return json_reply(StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
            }
            let (nonce, person) = (c.nonce.clone(), c.person.clone());
            let twist = std::mem::take(&mut s.twist);
            let now = jiff::Timestamp::now().as_second();
            let key = twist.key.unwrap_or(s.published[0]);
            let (kid, pem) = KEYS[key];
            let aud = match (&twist.extra_audience, twist.audience) {
                (Some(extra), _) => json!([s.client_id.clone(), extra]),
                (None, a) => json!(a.unwrap_or_else(|| s.client_id.clone())),
            };
            s.last_person = Some(person.clone());
            let mut claims = json!({
                "iss": twist.issuer.unwrap_or_else(|| s.issuer.clone()),
                "aud": aud,
                "azp": s.client_id.clone(),
                "sub": person.sub,
                "name": person.name,
                "groups": person.groups,
                "nonce": twist.nonce.unwrap_or(nonce),
                "iat": now,
                "exp": now + twist.exp_in.unwrap_or(300),
            });
            if s.thin {
                let c = claims.as_object_mut().unwrap();
                c.remove("name");
                c.remove("groups");
            }

            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(kid.into());
            let token = jsonwebtoken::encode(
                &header,
                &claims,
                &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            )
            .unwrap();
            json_reply(
                StatusCode::OK,
                json!({"access_token": "opaque", "token_type": "Bearer", "expires_in": 300, "id_token": token}),
            )
        }
        (Method::GET, "/userinfo") => {
            s.userinfo_calls += 1;
            if auth.as_deref() != Some("Bearer opaque") {
                return json_reply(StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"}));
            }
            let Some(p) = s.last_person.clone() else {
                return json_reply(StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"}));
            };
            let sub = s.userinfo_sub.clone().unwrap_or(p.sub);
            json_reply(
                StatusCode::OK,
                json!({"sub": sub, "name": p.name, "groups": p.groups}),
            )
        }
        (Method::GET, "/logout") => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<!doctype html><title>Signed out</title><h1>Signed out at the provider</h1>".into(),
        ),
        // Browsers ask for an icon on every page they show.
        (Method::GET, "/favicon.ico") => {
            reply(StatusCode::NO_CONTENT, "image/x-icon", String::new())
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found".into()),
    }
}

fn rand_bytes() -> [u8; 12] {
    let mut b = [0u8; 12];
    for x in &mut b {
        *x = fastrand::u8(..);
    }
    b
}
