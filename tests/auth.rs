//! Login end to end over a real socket: the gate, sessions, next, CSRF, roles, throttling,
//! JWT and proxy backends, audit.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use taskdeck::{
    Dashboard, DashboardBuilder, JwtBackend, PasswordBackend, ProxyHeaderBackend, Role, Scheduler,
};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

fn hashes() -> &'static (String, String, String) {
    static H: OnceLock<(String, String, String)> = OnceLock::new();
    H.get_or_init(|| {
        (
            PasswordBackend::hash("admin-pw").unwrap(),
            PasswordBackend::hash("op-pw").unwrap(),
            PasswordBackend::hash("viewer-pw").unwrap(),
        )
    })
}

fn passwords() -> PasswordBackend {
    let (a, o, v) = hashes();
    PasswordBackend::new()
        .user("admin", a, Role::Admin)
        .unwrap()
        .user("op", o, Role::Operator)
        .unwrap()
        .user("viewer", v, Role::Viewer)
        .unwrap()
}

fn with_login(s: &Scheduler, prefix: &str) -> DashboardBuilder {
    Dashboard::builder(s.clone())
        .prefix(prefix)
        .auth(passwords())
        .secret(SECRET)
}

/// Signs in; returns the session cookie (`name=value`) and a CSRF token from a page.
async fn sign_in(srv: &Server, base: &str, user: &str, pw: &str) -> (String, String) {
    let r = srv
        .post_form(
            &format!("{base}/login"),
            &format!("username={user}&password={pw}"),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "login as {user}: {}",
        r.body
    );
    let cookie = r
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = srv
        .request(
            Method::GET,
            &format!("{base}/tasks"),
            &[("cookie", &cookie)],
            "",
        )
        .await;
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .unwrap_or_default();
    (cookie, csrf)
}

async fn post(srv: &Server, path: &str, cookie: &str, form: &str) -> Reply {
    srv.request(
        Method::POST,
        path,
        &[
            ("cookie", cookie),
            ("content-type", "application/x-www-form-urlencoded"),
            ("sec-fetch-site", "same-origin"),
        ],
        form,
    )
    .await
}

#[tokio::test]
async fn the_gate_answers_each_kind_of_request() {
    let (s, _c) = scheduler().await;
    let srv = serve(with_login(&s, "/ops")).await;
    let r = srv.get("/ops/tasks?q=a%20b&page=2").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.header("location"),
        "/ops/login?next=%2Fops%2Ftasks%3Fq%3Da%2520b%26page%3D2"
    );
    let r = srv
        .request(Method::GET, "/ops/tasks", &[("hx-request", "true")], "")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("hx-redirect"), "/ops/login?next=%2Fops%2Ftasks");
    for api in ["/ops/api/tasks", "/ops/api/stats", "/ops/metrics"] {
        let r = srv
            .request(Method::GET, api, &[("accept", "application/json")], "")
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{api}");
        assert!(r.header("www-authenticate").starts_with("Bearer"), "{api}");
        assert!(r.body.contains("\"error\":\"unauthenticated\""), "{api}");
    }
    assert_eq!(
        srv.get("/ops/api/tasks").await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = srv.get("/ops/events").await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "the live stream is gated"
    );
    let r = srv.post_form("/ops/tasks/alpha/pause", "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "actions too");
    assert!(!s.get("alpha").await.unwrap().task.paused);
    for open in ["/ops/login", "/ops/health"] {
        assert_eq!(
            srv.get(open).await.status,
            StatusCode::OK,
            "{open} is allowed"
        );
    }
    let page = srv.get("/ops/login").await;
    let css = page
        .links()
        .into_iter()
        .find(|l| l.contains("app.css"))
        .unwrap();
    assert_eq!(
        srv.get(&css).await.status,
        StatusCode::OK,
        "assets are allowed"
    );
}

#[tokio::test]
async fn login_sets_a_safe_session_and_lands_on_next() {
    let (s, _c) = scheduler().await;
    let srv = serve(with_login(&s, "/ops").trust_proxy(IpAddr::V4(Ipv4Addr::LOCALHOST))).await;
    let r = srv
        .post_form(
            "/ops/login",
            "username=admin&password=nope&next=%2Fops%2Ftasks",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("Wrong username or password."));
    assert!(r.header("set-cookie").is_empty());
    let unknown = srv
        .post_form("/ops/login", "username=ghost&password=nope")
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(
        unknown.body.contains("Wrong username or password."),
        "same message for unknown users"
    );

    let r = srv
        .post_form(
            "/ops/login",
            "username=admin&password=admin-pw&next=%2Fops%2Ftasks%3Fq%3Dal",
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), "/ops/tasks?q=al");
    let set = r.header("set-cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/ops;", "Max-Age=43200"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: no Secure");
    let cookie = set.split(';').next().unwrap();
    let page = srv
        .request(Method::GET, "/ops/tasks", &[("cookie", cookie)], "")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Sign out"));

    let https = srv
        .request(
            Method::POST,
            "/ops/login",
            &[
                ("x-forwarded-proto", "https"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            "username=admin&password=admin-pw",
        )
        .await;
    assert!(
        https.header("set-cookie").contains("; Secure"),
        "HTTPS behind a trusted proxy"
    );

    let out = post(&srv, "/ops/logout", cookie, "").await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.header("location"), "/ops/login");
    assert!(out.header("set-cookie").contains("Max-Age=0"));
}

#[tokio::test]
async fn hostile_next_values_go_to_the_root() {
    let (s, _c) = scheduler().await;
    let srv = serve(with_login(&s, "/ops")).await;
    let cases = [
        ("%2Fops%2Fruns", "/ops/runs"),
        ("%2Fops%2F", "/ops/"),
        ("https%3A%2F%2Fevil.example%2F", "/ops/"),
        ("%2F%2Fevil.example", "/ops/"),
        ("%2F%5Cevil.example", "/ops/"),
        ("%2F%252F%252Fevil.example", "/ops/"),
        ("%2Fops%2F..%2F..%2Fevil", "/ops/"),
        ("%2Fother%2Fapp", "/ops/"),
        ("%2Fopsevil", "/ops/"),
        ("%2Fops%2Ftasks%0D%0ASet-Cookie%3A+x%3Dy", "/ops/"),
        ("javascript%3Aalert(1)", "/ops/"),
        ("", "/ops/"),
    ];
    for (next, want) in cases {
        let r = srv
            .post_form(
                "/ops/login",
                &format!("username=viewer&password=viewer-pw&next={next}"),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{next}");
        assert_eq!(r.header("location"), want, "next={next}");
    }
    let r = srv.get("/ops/login?next=%2F%2Fevil.example").await;
    assert!(
        r.body.contains("name=\"next\" value=\"/ops/\""),
        "the form carries the safe value"
    );
}

#[tokio::test]
async fn forged_expired_and_rotated_cookies() {
    let (s, _c) = scheduler().await;
    let old_secret = b"an-old-secret-of-more-than-32-bytes!!".to_vec();
    // A restart that keeps sign-ins keeps its ended sessions too: in a file.
    let ended = std::env::temp_dir().join(format!("taskdeck-ended-{}.jsonl", std::process::id()));
    let srv_old = serve(
        Dashboard::builder(s.clone())
            .auth(passwords())
            .secret(&old_secret)
            .revocations_file(&ended),
    )
    .await;
    let (old_cookie, _) = sign_in(&srv_old, "", "viewer", "viewer-pw").await;

    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(passwords())
            .secret(SECRET)
            .secret(&old_secret)
            .revocations_file(&ended),
    )
    .await;
    let r = srv
        .request(Method::GET, "/tasks", &[("cookie", &old_cookie)], "")
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a cookie signed with a rotated-out key still works"
    );

    let srv_new_only = serve(
        Dashboard::builder(s.clone())
            .auth(passwords())
            .secret(SECRET),
    )
    .await;
    let r = srv_new_only
        .request(Method::GET, "/tasks", &[("cookie", &old_cookie)], "")
        .await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "a dropped key no longer verifies"
    );

    let (cookie, _) = sign_in(&srv, "", "viewer", "viewer-pw").await;
    let value = cookie.split_once('=').unwrap().1;
    let (payload, tag) = value.split_once('.').unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = String::from_utf8(b64.decode(payload).unwrap()).unwrap();
    let promoted = claims.replace("\"viewer\"", "\"admin\"");
    let expired = {
        let v: serde_json::Value = serde_json::from_str(&claims).unwrap();
        let mut v = v;
        v["exp"] = serde_json::json!(1);
        v.to_string()
    };
    let forged = [
        format!("taskdeck_session={}.{tag}", b64.encode(promoted.as_bytes())),
        format!("taskdeck_session={}.{tag}", b64.encode(expired.as_bytes())),
        format!("taskdeck_session={payload}.{}", b64.encode([0u8; 32])),
        format!("taskdeck_session={}", &value[..value.len() - 5]),
        "taskdeck_session=garbage".to_string(),
        "taskdeck_session=".to_string(),
        format!("taskdeck_session={}", "x".repeat(5000)),
        format!("other_name={value}"),
    ];
    for c in &forged {
        let r = srv
            .request(Method::GET, "/tasks", &[("cookie", c)], "")
            .await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "not signed in with {}",
            &c[..c.len().min(60)]
        );
    }
    let r = srv
        .request(Method::GET, "/tasks", &[("cookie", &cookie)], "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "the genuine cookie still works");
    let _ = std::fs::remove_file(&ended);
}

#[tokio::test]
async fn csrf_is_required_for_cookie_sessions() {
    let (s, _c) = scheduler().await;
    let srv = serve(with_login(&s, "")).await;
    let (cookie, csrf) = sign_in(&srv, "", "admin", "admin-pw").await;
    assert!(!csrf.is_empty(), "pages carry the token");
    let r = post(&srv, "/tasks/alpha/pause", &cookie, "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("CSRF"));
    let r = post(&srv, "/tasks/alpha/pause", &cookie, "csrf=forged").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let (other_cookie, other_csrf) = sign_in(&srv, "", "admin", "admin-pw").await;
    let r = post(
        &srv,
        "/tasks/alpha/pause",
        &cookie,
        &format!("csrf={other_csrf}"),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a token from another session does not fit"
    );
    drop(other_cookie);
    assert!(!s.get("alpha").await.unwrap().task.paused);
    let r = post(&srv, "/tasks/alpha/pause", &cookie, &format!("csrf={csrf}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(s.get("alpha").await.unwrap().task.paused);
    let r = srv
        .request(
            Method::POST,
            "/api/tasks/alpha/resume",
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "the header works for scripts");
    let r = srv
        .request(
            Method::POST,
            "/tasks/alpha/pause",
            &[
                ("cookie", &cookie),
                ("sec-fetch-site", "cross-site"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "cross-site even with a token"
    );
}

#[tokio::test]
async fn roles_limit_what_users_see_and_do() {
    let (s, _c) = scheduler().await;
    let srv = serve(with_login(&s, "")).await;

    let (viewer, vcsrf) = sign_in(&srv, "", "viewer", "viewer-pw").await;
    let page = srv
        .request(Method::GET, "/tasks", &[("cookie", &viewer)], "")
        .await;
    assert!(
        !page.body.contains("/tasks/alpha/pause"),
        "no buttons a viewer may not use"
    );
    assert!(!page.body.contains("New task"));
    let r = post(
        &srv,
        "/tasks/alpha/pause",
        &viewer,
        &format!("csrf={vcsrf}"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("operator role"), "{}", r.body);
    assert_eq!(
        srv.request(Method::GET, "/tasks/new", &[("cookie", &viewer)], "")
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let (op, ocsrf) = sign_in(&srv, "", "op", "op-pw").await;
    let page = srv
        .request(Method::GET, "/tasks", &[("cookie", &op)], "")
        .await;
    assert!(page.body.contains("/tasks/alpha/pause"));
    assert!(!page.body.contains("/tasks/alpha/remove"));
    assert_eq!(
        post(&srv, "/tasks/alpha/pause", &op, &format!("csrf={ocsrf}"))
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let r = post(
        &srv,
        "/tasks/alpha/remove",
        &op,
        &format!("csrf={ocsrf}&confirm=yes"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("admin role"));
    let r = post(
        &srv,
        "/tasks",
        &op,
        &format!("csrf={ocsrf}&id=x&job=report&kind=interval&every=1m"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let (admin, acsrf) = sign_in(&srv, "", "admin", "admin-pw").await;
    let r = post(
        &srv,
        "/tasks/alpha/remove",
        &admin,
        &format!("csrf={acsrf}&confirm=yes"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(s.get("alpha").await.is_err());

    let ro = serve(with_login(&s, "").read_only(true)).await;
    let (admin, acsrf) = sign_in(&ro, "", "admin", "admin-pw").await;
    let page = ro
        .request(Method::GET, "/tasks", &[("cookie", &admin)], "")
        .await;
    assert!(
        !page.body.contains("/tasks/beta/pause"),
        "read-only hides actions"
    );
    let r = post(&ro, "/tasks/beta/pause", &admin, &format!("csrf={acsrf}")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("read-only"));
}

#[tokio::test]
async fn failed_logins_are_throttled() {
    let (s, _c) = scheduler().await;
    let srv = serve(with_login(&s, "")).await;
    for _ in 0..3 {
        let r = srv
            .post_form("/login", "username=admin&password=wrong")
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = srv
        .post_form("/login", "username=admin&password=admin-pw")
        .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let retry: u64 = r.header("retry-after").parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let audit = sign_in_after_wait(&srv).await;
    assert!(
        audit.contains("login_failed") && audit.contains("login_throttled"),
        "{audit}"
    );
}

async fn sign_in_after_wait(srv: &Server) -> String {
    // The delay is a second or two; retry with a deadline rather than sleeping blindly.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = srv
            .post_form("/login", "username=admin&password=admin-pw")
            .await;
        if r.status == StatusCode::SEE_OTHER {
            let cookie = r
                .header("set-cookie")
                .split(';')
                .next()
                .unwrap()
                .to_string();
            return srv
                .request(Method::GET, "/api/audit", &[("cookie", &cookie)], "")
                .await
                .body;
        }
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            tokio::time::Instant::now() < deadline,
            "throttle never lifted"
        );
        let wait: u64 = r.header("retry-after").parse().unwrap();
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
}

fn token(claims: serde_json::Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .unwrap()
}

#[tokio::test]
async fn jwt_bearer_tokens() {
    let (s, _c) = scheduler().await;
    let key = b"jwt-secret-jwt-secret-jwt-secret!";
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(
                JwtBackend::hs256(key)
                    .audience("taskdeck")
                    .issuer("https://id.test"),
            )
            .secret(SECRET),
    )
    .await;
    let exp = jiff::Timestamp::now().as_second() + 600;
    let good = token(
        serde_json::json!({"sub": "u1", "name": "Una", "roles": ["operator"], "exp": exp, "aud": "taskdeck", "iss": "https://id.test"}),
        key,
    );
    let bearer = |t: &str| format!("Bearer {t}");
    let r = srv
        .request(
            Method::GET,
            "/api/tasks",
            &[("authorization", &bearer(&good))],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = srv
        .request(
            Method::POST,
            "/api/tasks/alpha/pause",
            &[("authorization", &bearer(&good))],
            "",
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "bearer calls need no CSRF token: {}",
        r.body
    );
    let r = srv
        .request(
            Method::POST,
            "/api/tasks/alpha/remove",
            &[("authorization", &bearer(&good))],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "roles claim respected");
    let bad = [
        (
            "bad signature",
            token(
                serde_json::json!({"sub": "u1", "exp": exp, "aud": "taskdeck", "iss": "https://id.test"}),
                b"another-secret-another-secret-xx",
            ),
        ),
        (
            "no exp",
            token(
                serde_json::json!({"sub": "u1", "aud": "taskdeck", "iss": "https://id.test"}),
                key,
            ),
        ),
        (
            "expired",
            token(
                serde_json::json!({"sub": "u1", "exp": exp - 7200, "aud": "taskdeck", "iss": "https://id.test"}),
                key,
            ),
        ),
        (
            "wrong aud",
            token(
                serde_json::json!({"sub": "u1", "exp": exp, "aud": "other", "iss": "https://id.test"}),
                key,
            ),
        ),
        (
            "wrong iss",
            token(
                serde_json::json!({"sub": "u1", "exp": exp, "aud": "taskdeck", "iss": "https://evil.test"}),
                key,
            ),
        ),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (what, t) in bad {
        let r = srv
            .request(
                Method::GET,
                "/api/tasks",
                &[("authorization", &bearer(&t))],
                "",
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}");
    }
    let page = srv.get("/login").await;
    assert!(
        page.body.contains("Authorization: Bearer"),
        "the login page explains how to get in"
    );
    assert!(!page.body.contains("type=\"password\""));
}

#[tokio::test]
async fn proxy_header_only_from_trusted_addresses() {
    let (s, _c) = scheduler().await;
    let trusted = serve(
        Dashboard::builder(s.clone())
            .auth(
                ProxyHeaderBackend::new("X-Authenticated-User")
                    .roles_header("X-Authenticated-Roles")
                    .trust(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            )
            .secret(SECRET),
    )
    .await;
    let r = trusted
        .request(
            Method::GET,
            "/tasks",
            &[
                ("x-authenticated-user", "carol"),
                ("x-authenticated-roles", "operator"),
            ],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("carol"));
    let untrusted = serve(
        Dashboard::builder(s.clone())
            .auth(
                ProxyHeaderBackend::new("X-Authenticated-User")
                    .trust(IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7))),
            )
            .secret(SECRET),
    )
    .await;
    let r = untrusted
        .request(
            Method::GET,
            "/tasks",
            &[("x-authenticated-user", "mallory")],
            "",
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "a spoofed header from elsewhere is ignored"
    );
}

#[tokio::test]
async fn audit_log_records_logins_and_changes() {
    let (s, _c) = scheduler().await;
    let srv = serve(with_login(&s, "")).await;
    let (cookie, csrf) = sign_in(&srv, "", "admin", "admin-pw").await;
    post(&srv, "/tasks/alpha/pause", &cookie, &format!("csrf={csrf}")).await;
    post(&srv, "/tasks/ghost/pause", &cookie, &format!("csrf={csrf}")).await;
    let r = srv
        .request(Method::GET, "/api/audit", &[("cookie", &cookie)], "")
        .await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let items = v["items"].as_array().unwrap();
    let summary: Vec<(String, String, String)> = items
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().into(),
                e["target"].as_str().unwrap_or("").into(),
                e["outcome"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        summary[0],
        ("task.pause".into(), "ghost".into(), "404 Not Found".into())
    );
    assert_eq!(
        summary[1],
        ("task.pause".into(), "alpha".into(), "ok".into())
    );
    assert_eq!(summary[2].0, "login");
    assert_eq!(items[1]["actor"], "admin");
    assert_eq!(items[1]["address"], "127.0.0.1");
    let page = srv
        .request(Method::GET, "/audit", &[("cookie", &cookie)], "")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("task.pause"));
}

#[test]
fn short_secrets_are_refused() {
    let s = Scheduler::builder().build().unwrap();
    let err = Dashboard::builder(s)
        .auth(passwords())
        .secret(b"short")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("at least 32"), "{err}");
}

/// A backend with a route of its own: `/auth/magic?token=…` signs in (a magic link).
struct MagicLinks;

impl taskdeck::AuthBackend for MagicLinks {
    fn authenticate<'a>(
        &'a self,
        _req: &'a taskdeck::RequestParts<'a>,
    ) -> taskdeck::AuthFuture<'a, Option<taskdeck::User>> {
        Box::pin(async { None })
    }

    fn extra_route<'a>(
        &'a self,
        req: &'a taskdeck::RequestParts<'a>,
        _body: &'a [u8],
    ) -> taskdeck::AuthFuture<'a, Option<taskdeck::AuthReply>> {
        let path = req.path.to_string();
        Box::pin(async move {
            match path.as_str() {
                "/auth/magic" => Some(taskdeck::AuthReply::SignIn {
                    user: taskdeck::User::new("m1", "Magic", Role::Viewer),
                    next: Some("/runs".into()),
                }),
                "/auth/idp" => Some(taskdeck::AuthReply::Redirect(
                    "https://id.example/authorize".into(),
                )),
                _ => None,
            }
        })
    }
}

#[tokio::test]
async fn backends_can_answer_routes_of_their_own() {
    let (s, _c) = scheduler().await;
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(MagicLinks)
            .secret(SECRET),
    )
    .await;
    let r = srv.get("/auth/magic").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), "/runs");
    let cookie = r
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        srv.request(Method::GET, "/tasks", &[("cookie", &cookie)], "")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        srv.get("/auth/idp").await.header("location"),
        "https://id.example/authorize"
    );
    assert_eq!(srv.get("/auth/unknown").await.status, StatusCode::NOT_FOUND);
}
