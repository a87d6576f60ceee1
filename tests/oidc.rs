//! OpenID Connect sign-in end to end over real sockets, against a provider the tests start
//! (tests/support/oidc_provider.rs): the happy path under a mount prefix and behind a proxy's
//! prefix, key rotation, provider sign-out, combined backends, and every hostile case refused
//! with a message and an audit entry.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/oidc_provider.rs"]
mod provider;

use std::sync::Arc;
use std::time::Duration;

use common::{client_for, serve, Reply, Server};
use http::{Method, StatusCode};
use provider::{Person, Provider, Twist};
use taskdeck::{AuditLog, Dashboard, JwtBackend, OidcBackend, Role, Scheduler};

const CLIENT: &str = "taskdeck";
const SECRET: &str = "provider-client-secret";

fn sso(p: &Provider) -> OidcBackend {
    OidcBackend::new(&p.issuer, CLIENT, Some(SECRET))
        .unwrap()
        .label("Sign in with Test ID")
        .map_role("taskdeck-operators", Role::Operator)
        .map_role("taskdeck-admins", Role::Admin)
        .key_refetch_interval(Duration::ZERO)
        .sign_out_at_provider(true)
}

struct Setup {
    provider: Provider,
    srv: Server,
    audit: Arc<AuditLog>,
}

async fn setup(prefix: &str) -> Setup {
    let provider = Provider::start("127.0.0.1:0", CLIENT, SECRET).await;
    let audit = Arc::new(AuditLog::new(200));
    let s = Scheduler::builder().build().unwrap();
    let srv = serve(
        Dashboard::builder(s)
            .prefix(prefix)
            .auth(sso(&provider))
            .audit_sink(audit.clone())
            .session_recheck(Duration::ZERO)
            // Each test request names a client address of its own (see `with_cookie`), so
            // that one case's refusals do not throttle the next.
            .trust_proxy("127.0.0.1".parse().unwrap()),
    )
    .await;
    Setup {
        provider,
        srv,
        audit,
    }
}

/// The cookie `name=value` a response sets, if any.
fn set_cookie(r: &Reply, name: &str) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")) && !v.starts_with(&format!("{name}=;")))
        .map(|v| v.split(';').next().unwrap().to_string())
}

/// Starts a sign-in at the dashboard and lets the provider approve it: the callback's path
/// and query on the dashboard, and the flow cookie.
async fn approve(srv: &Server, provider: &Provider, start: &str) -> (String, String) {
    let r = srv.get(start).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let flow = set_cookie(&r, "taskdeck_session_flow").expect("flow cookie");
    let to = r.header("location").to_string();
    assert!(
        to.starts_with(&format!("{}/authorize?", provider.issuer)),
        "{to}"
    );
    for p in [
        "code_challenge=",
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "scope=openid",
    ] {
        assert!(to.contains(p), "{p} in {to}");
    }
    let at_provider = client_for(provider.addr);
    let path = to.strip_prefix(&provider.issuer).unwrap();
    let r = at_provider.get(path).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    let back = r.header("location").to_string();
    let callback = back
        .strip_prefix(&format!("http://{}", srv.addr))
        .expect("callback on the dashboard")
        .to_string();
    (callback, flow)
}

/// A GET with a cookie, from a client address of its own each time (behind the trusted test
/// proxy; elsewhere the header is ignored).
async fn with_cookie(srv: &Server, path: &str, cookie: &str) -> Reply {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let addr = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
    with_cookie_from(srv, path, cookie, &addr).await
}

async fn with_cookie_from(srv: &Server, path: &str, cookie: &str, client: &str) -> Reply {
    srv.request(
        Method::GET,
        path,
        &[("cookie", cookie), ("x-forwarded-for", client)],
        "",
    )
    .await
}

fn audited(audit: &AuditLog, action: &str) -> Vec<taskdeck::AuditEntry> {
    audit
        .page(0, 500)
        .0
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

#[tokio::test]
async fn signs_in_under_a_prefix_and_out_at_the_provider() {
    let t = setup("/ops").await;
    let login = t.srv.get("/ops/login?next=%2Fops%2Ftasks").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(
        login.body.contains("Sign in with Test ID"),
        "{}",
        login.body
    );
    assert!(
        !login.body.contains("type=\"password\""),
        "no password form without a password backend"
    );
    let start = login
        .links()
        .into_iter()
        .find(|l| l.contains("/auth/oidc/start"))
        .unwrap();
    assert_eq!(start, "/ops/auth/oidc/start?next=%2Fops%2Ftasks");

    let (callback, flow) = approve(&t.srv, &t.provider, &start).await;
    assert!(
        callback.starts_with("/ops/auth/oidc/callback?code="),
        "{callback}"
    );
    let r = with_cookie(&t.srv, &callback, &flow).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.header("location"), "/ops/tasks");
    let session = set_cookie(&r, "taskdeck_session").expect("session cookie");
    let cleared = r
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("taskdeck_session_flow=;"));
    assert!(cleared, "the flow cookie is cleared once used");

    // Signed in, as an operator (the provider's group), re-checked on every request.
    let page = with_cookie(&t.srv, "/ops/tasks", &session).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Olive Operator"), "{}", page.body);
    assert!(page.body.contains("operator"));
    let again = with_cookie(&t.srv, "/ops/", &session).await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "a re-check keeps an OIDC session"
    );
    assert_eq!(audited(&t.audit, "login").len(), 1);

    // The sign-in kept its ID token for the sign-out, in a sealed cookie of its own.
    let kept = set_cookie(&r, "taskdeck_session_kept").expect("the kept ID token");

    // Sign-out ends the session here and goes to the provider's end-session endpoint, with
    // the ID token as `id_token_hint` so that the provider does not ask the user first.
    let csrf = page.csrf();
    let both = format!("{session}; {kept}");
    let out = t.srv.post_signed_in("/ops/logout", &both, &csrf, "").await;
    // A page that sends the browser on: a form's answer may not redirect off-site under the
    // dashboard's CSP (form-action 'self').
    assert_eq!(out.status, StatusCode::OK);
    let provider_logout = format!(
        "{}/logout?client_id={CLIENT}&id_token_hint=",
        t.provider.issuer
    );
    let link = out
        .links()
        .into_iter()
        .find(|l| l.starts_with(&provider_logout))
        .unwrap_or_else(|| panic!("no end-session link with a hint: {}", out.body));
    assert!(
        out.body.contains(&format!(
            "http-equiv=\"refresh\" content=\"0; url={}\"",
            link.replace('&', "&amp;")
        )),
        "{}",
        out.body
    );
    // The hint is the ID token this sign-in got: three parts, the middle naming the user.
    use base64::Engine as _;
    let hint = link.strip_prefix(&provider_logout).unwrap();
    let parts: Vec<&str> = hint.split('.').collect();
    assert_eq!(parts.len(), 3, "{hint}");
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap();
    assert_eq!(claims["sub"], "u-1001", "{claims}");
    let cleared: Vec<_> = out
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        cleared.iter().any(|c| c.starts_with("taskdeck_session=;")),
        "{cleared:?}"
    );
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("taskdeck_session_kept=;")),
        "{cleared:?}"
    );
    let after = with_cookie(&t.srv, "/ops/tasks", &session).await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "the old cookie opens nothing"
    );
}

#[tokio::test]
async fn the_callback_follows_a_proxy_prefix() {
    let provider = Provider::start("127.0.0.1:0", CLIENT, SECRET).await;
    let s = Scheduler::builder().build().unwrap();
    let srv = serve(
        Dashboard::builder(s)
            .prefix("/ops")
            .auth(sso(&provider))
            .trust_proxy("127.0.0.1".parse().unwrap()),
    )
    .await;
    let r = srv
        .request(
            Method::GET,
            "/ops/auth/oidc/start",
            &[
                ("x-forwarded-prefix", "/edge"),
                ("x-forwarded-proto", "https"),
                ("host", "ops.example.com"),
            ],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let to = r.header("location");
    let redirect = form_urlencoded::parse(to.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        redirect,
        "https://ops.example.com/edge/ops/auth/oidc/callback"
    );
    let cookie = r.header("set-cookie");
    assert!(
        cookie.contains("Path=/edge/ops") && cookie.contains("Secure"),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}

#[tokio::test]
async fn keys_rotate_and_unknown_keys_are_refused() {
    let t = setup("/").await;
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    assert_eq!(
        with_cookie(&t.srv, &cb, &flow).await.status,
        StatusCode::SEE_OTHER
    );
    let fetched = t.provider.jwks_fetches();
    assert_eq!(fetched, 1);

    // The provider rotates to key b: the dashboard fetches the key set again and signs in.
    t.provider.rotate();
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    let r = with_cookie(&t.srv, &cb, &flow).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(set_cookie(&r, "taskdeck_session").is_some());
    assert_eq!(t.provider.jwks_fetches(), fetched + 1);

    // A token signed with a key the provider never published.
    t.provider.twist_next(Twist {
        key: Some(2),
        ..Twist::default()
    });
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    let r = with_cookie(&t.srv, &cb, &flow).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("did not verify"), "{}", r.body);
    assert!(set_cookie(&r, "taskdeck_session").is_none());
    let e = audited(&t.audit, "oidc_unknown_key");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].target.as_deref().unwrap().contains("key-c"), "{e:?}");
}

/// Each twist of the ID token is refused with a message, no session, and an audit entry of
/// its own kind.
#[tokio::test]
async fn bad_id_tokens_are_refused_and_audited() {
    let t = setup("/").await;
    let cases = [
        (
            Twist {
                nonce: Some("not-the-nonce".into()),
                ..Twist::default()
            },
            "oidc_wrong_nonce",
        ),
        (
            Twist {
                audience: Some("another-client".into()),
                ..Twist::default()
            },
            "oidc_wrong_audience",
        ),
        (
            Twist {
                exp_in: Some(-3600),
                ..Twist::default()
            },
            "oidc_expired",
        ),
        (
            Twist {
                issuer: Some("https://evil.example".into()),
                ..Twist::default()
            },
            "oidc_wrong_issuer",
        ),
    ];
    for (twist, action) in cases {
        t.provider.twist_next(twist);
        let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
        let r = with_cookie(&t.srv, &cb, &flow).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}");
        assert!(r.body.contains("did not verify"), "{action}: {}", r.body);
        assert!(set_cookie(&r, "taskdeck_session").is_none(), "{action}");
        assert_eq!(audited(&t.audit, action).len(), 1, "{action}");
    }
    assert!(audited(&t.audit, "login").is_empty());

    // The issuer written with a trailing slash (as some providers do) is the same issuer.
    t.provider.twist_next(Twist {
        issuer: Some(format!("{}/", t.provider.issuer)),
        ..Twist::default()
    });
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    assert_eq!(
        with_cookie(&t.srv, &cb, &flow).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn replays_forged_states_and_missing_flows_are_refused() {
    let t = setup("/").await;
    // A good sign-in, then its callback replayed with the same flow cookie.
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    assert_eq!(
        with_cookie(&t.srv, &cb, &flow).await.status,
        StatusCode::SEE_OTHER
    );
    let r = with_cookie(&t.srv, &cb, &flow).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("already used"), "{}", r.body);
    assert_eq!(audited(&t.audit, "oidc_replayed").len(), 1);

    // The used code with a fresh flow: its state matches, the provider refuses the code.
    let calls = t.provider.token_calls();
    let fresh = t.srv.get("/auth/oidc/start").await;
    let fresh_flow = set_cookie(&fresh, "taskdeck_session_flow").unwrap();
    let fresh_state = form_urlencoded::parse(
        fresh
            .header("location")
            .split_once('?')
            .unwrap()
            .1
            .as_bytes(),
    )
    .find(|(k, _)| k == "state")
    .unwrap()
    .1
    .into_owned();
    let old_code = form_urlencoded::parse(cb.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let replay = format!(
        "/auth/oidc/callback?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("code", &old_code)
            .append_pair("state", &fresh_state)
            .finish()
    );
    let r = with_cookie(&t.srv, &replay, &fresh_flow).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body.contains("did not accept the sign-in code"),
        "{}",
        r.body
    );
    assert_eq!(t.provider.token_calls(), calls + 1);
    assert_eq!(audited(&t.audit, "oidc_code_refused").len(), 1);

    // A state that is not the one this browser's flow holds.
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    let forged = cb.replace("state=", "state=x");
    let r = with_cookie(&t.srv, &forged, &flow).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("does not match"), "{}", r.body);
    assert_eq!(audited(&t.audit, "oidc_state_mismatch").len(), 1);

    // No flow cookie (another browser, or over ten minutes), and a tampered one.
    let r = t.srv.get(&cb).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Start again"), "{}", r.body);
    let tampered = format!("{}x", flow);
    assert_eq!(
        with_cookie(&t.srv, &cb, &tampered).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        audited(&t.audit, "oidc_no_flow").len(),
        2,
        "one entry per client"
    );

    // The provider's own refusal, for the flow this browser began: known codes are named,
    // anything else is not repeated.
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    let state = cb.split("state=").nth(1).unwrap().to_string();
    let denied = format!("/auth/oidc/callback?error=access_denied&state={state}");
    let r = with_cookie(&t.srv, &denied, &flow).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("(access_denied)"), "{}", r.body);
    assert_eq!(audited(&t.audit, "oidc_provider_error").len(), 1);
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    let state = cb.split("state=").nth(1).unwrap().to_string();
    let phish = format!("/auth/oidc/callback?error=Call+555-0100+now&state={state}");
    let r = with_cookie(&t.srv, &phish, &flow).await;
    assert!(
        r.body.contains("(an unknown error)") && !r.body.contains("555-0100"),
        "{}",
        r.body
    );
    // Without this browser's flow, the provider's error is not even read.
    let r = t.srv.get("/auth/oidc/callback?error=access_denied").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// Refused callbacks count as failed sign-ins of their client: past three, the next waits
/// (429) and the provider is not asked.
#[tokio::test]
async fn repeated_refusals_are_throttled_before_the_provider_is_asked() {
    let t = setup("/").await;
    let mut last = StatusCode::OK;
    let mut refused = 0;
    for _ in 0..6 {
        let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
        let code = cb.replace("code=", "code=forged");
        let calls = t.provider.token_calls();
        last = with_cookie_from(&t.srv, &code, &flow, "10.200.0.1")
            .await
            .status;
        if last == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(
                t.provider.token_calls(),
                calls,
                "no token request once throttled"
            );
            break;
        }
        assert_eq!(last, StatusCode::FORBIDDEN);
        refused += 1;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused, 3);
    // Another client is not slowed by this one.
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    let r = with_cookie_from(&t.srv, &cb, &flow, "10.200.0.2").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn users_without_a_mapped_role_are_refused() {
    let t = setup("/").await;
    t.provider.sign_in_as(Person {
        sub: "u-2002".into(),
        name: "Nora Nobody".into(),
        groups: vec!["marketing".into()],
    });
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    let r = with_cookie(&t.srv, &cb, &flow).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("no role on this dashboard"), "{}", r.body);
    let e = audited(&t.audit, "oidc_no_role");
    assert_eq!(e.len(), 1);
    assert!(e[0].target.as_deref().unwrap().contains("u-2002"));

    t.provider.sign_in_as(Person {
        sub: "u-3003".into(),
        name: "Ada Admin".into(),
        groups: vec!["marketing".into(), "taskdeck-admins".into()],
    });
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    let r = with_cookie(&t.srv, &cb, &flow).await;
    let session = set_cookie(&r, "taskdeck_session").unwrap();
    let page = with_cookie(&t.srv, "/tasks/new", &session).await;
    assert_eq!(page.status, StatusCode::OK, "admins may create tasks");
}

/// Password, bearer tokens and OIDC on one dashboard: the login page offers the form and the
/// button, API calls use a token, and each session is re-checked by the backend that made it.
#[tokio::test]
async fn combined_backends_each_do_their_part() {
    let provider = Provider::start("127.0.0.1:0", CLIENT, SECRET).await;
    let secret = b"a shared secret for machine tokens, 32+ bytes";
    let s = Scheduler::builder().build().unwrap();
    let srv = serve(
        Dashboard::builder(s)
            .auth(common::admin_login())
            .also(JwtBackend::hs256(secret).audience("taskdeck"))
            .also(sso(&provider))
            .session_recheck(Duration::ZERO),
    )
    .await;
    let login = srv.get("/login").await;
    assert!(
        login.body.contains("type=\"password\""),
        "the password form"
    );
    assert!(
        login.body.contains("Sign in with Test ID"),
        "the SSO button"
    );
    assert!(
        login.body.contains("Authorization: Bearer"),
        "the token help"
    );

    // A machine token on the API.
    let now = jiff::Timestamp::now().as_second();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"sub": "ci", "aud": "taskdeck", "exp": now + 60, "roles": ["operator"]}),
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap();
    let auth = format!("Bearer {token}");
    let r = srv
        .request(Method::GET, "/api/tasks", &[("authorization", &auth)], "")
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // The password form.
    let r = srv
        .post_form("/login", "username=admin&password=admin-pw&next=%2Ftasks")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let pw_session = set_cookie(&r, "taskdeck_session").unwrap();
    assert_eq!(
        with_cookie(&srv, "/tasks", &pw_session).await.status,
        StatusCode::OK
    );

    // OIDC: the password backend, asked first, does not know u-1001; the session stands
    // because the backend that made it is the one re-checking it.
    let (cb, flow) = approve(&srv, &provider, "/auth/oidc/start").await;
    let r = with_cookie(&srv, &cb, &flow).await;
    let sso_session = set_cookie(&r, "taskdeck_session").unwrap();
    for _ in 0..2 {
        let page = with_cookie(&srv, "/tasks", &sso_session).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Olive Operator"));
    }
}

/// The provider-facing options: the redirect origin, scopes, claims, a default role and where
/// the provider sends the browser after its sign-out.
#[tokio::test]
async fn oidc_options_reach_the_provider() {
    let provider = Provider::start("127.0.0.1:0", CLIENT, SECRET).await;
    provider.sign_in_as(Person {
        sub: "u-4004".into(),
        name: "Vic Viewer".into(),
        groups: vec!["marketing".into()],
    });
    let backend = OidcBackend::new(&provider.issuer, CLIENT, Some(SECRET))
        .unwrap()
        .redirect_origin("https://ops.example.com")
        .scopes("email groups")
        .user_claim("name")
        .default_role(Some(Role::Viewer))
        .sign_out_at_provider(true)
        .post_logout_redirect("https://ops.example.com/signed-out");
    let s = Scheduler::builder().build().unwrap();
    let srv = serve(Dashboard::builder(s).prefix("/ops").auth(backend)).await;
    let r = srv.get("/ops/auth/oidc/start").await;
    let q: std::collections::HashMap<String, String> =
        form_urlencoded::parse(r.header("location").split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        q["redirect_uri"],
        "https://ops.example.com/ops/auth/oidc/callback"
    );
    assert_eq!(q["scope"], "openid email groups");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43, "base64url of a SHA-256");

    // The provider sends the browser to the registered origin; here the test carries the
    // callback to the dashboard itself.
    let (cb, flow) = {
        let flow = set_cookie(&r, "taskdeck_session_flow").unwrap();
        let at = client_for(provider.addr);
        let path = r
            .header("location")
            .strip_prefix(&provider.issuer)
            .unwrap()
            .to_string();
        let back = at.get(&path).await.header("location").to_string();
        let cb = back
            .strip_prefix("https://ops.example.com")
            .unwrap()
            .to_string();
        (cb, flow)
    };
    let r = with_cookie(&srv, &cb, &flow).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let session = set_cookie(&r, "taskdeck_session").unwrap();
    let page = with_cookie(&srv, "/ops/", &session).await;
    assert!(
        page.body.contains("title=\"Signed in as Vic Viewer\""),
        "the id from the name claim"
    );
    assert!(page.body.contains("viewer"), "the default role");
    let csrf = page.csrf();
    let out = srv.post_signed_in("/ops/logout", &session, &csrf, "").await;
    let want = format!(
        "{}/logout?client_id={CLIENT}&post_logout_redirect_uri=https%3A%2F%2Fops.example.com%2Fsigned-out",
        provider.issuer
    );
    assert!(out.links().contains(&want), "{}", out.body);

    // Two providers: each needs a route name of its own.
    let s2 = Scheduler::builder().build().unwrap();
    let e = Dashboard::builder(s2.clone())
        .auth(sso(&provider))
        .also(sso(&provider))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("/auth/oidc/start"), "{e}");
    let two = serve(
        Dashboard::builder(s2).auth(sso(&provider)).also(
            sso(&provider)
                .route_name("corp")
                .label("Sign in with Corp ID"),
        ),
    )
    .await;
    let login = two.get("/login").await;
    assert!(login
        .links()
        .iter()
        .any(|l| l.starts_with("/auth/corp/start")));
    let r = two.get("/auth/corp/start").await;
    assert!(
        r.header("location").contains("auth%2Fcorp%2Fcallback"),
        "{}",
        r.header("location")
    );

    // Settings that cannot work are refused when the dashboard is built, or at once.
    assert!(
        OidcBackend::new("http://id.example.com", CLIENT, None).is_err(),
        "plain http"
    );
    assert!(
        OidcBackend::new(&provider.issuer, " ", None).is_err(),
        "no client id"
    );
    let s = Scheduler::builder().build().unwrap();
    for b in [
        OidcBackend::new(&provider.issuer, CLIENT, None)
            .unwrap()
            .redirect_origin("ops.example.com"),
        OidcBackend::new(&provider.issuer, CLIENT, None)
            .unwrap()
            .algorithms(&["HS256"]),
        OidcBackend::new(&provider.issuer, CLIENT, None)
            .unwrap()
            .route_name("a/b"),
    ] {
        let e = Dashboard::builder(s.clone()).auth(b).build().unwrap_err();
        assert!(matches!(e, taskdeck::ConfigError::Auth(_)), "{e:?}");
    }
}

/// RFC 9207: a provider that names itself on its authorization answers (and says so in
/// discovery) must name this issuer; an answer naming another, or none, is refused.
#[tokio::test]
async fn the_issuer_on_the_authorization_answer_must_be_this_one() {
    let t = setup("/").await;
    t.provider.send_iss(None);
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    assert!(cb.contains("iss="), "{cb}");
    assert_eq!(
        with_cookie(&t.srv, &cb, &flow).await.status,
        StatusCode::SEE_OTHER,
        "its own issuer signs in"
    );
    t.provider.send_iss(Some("https://other-idp.example"));
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    let r = with_cookie(&t.srv, &cb, &flow).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("another identity provider"), "{}", r.body);
    assert!(set_cookie(&r, "taskdeck_session").is_none());
    t.provider.drop_iss();
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    assert!(!cb.contains("iss="), "{cb}");
    let r = with_cookie(&t.srv, &cb, &flow).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "announced but missing");
    assert!(set_cookie(&r, "taskdeck_session").is_none());
    assert_eq!(audited(&t.audit, "oidc_wrong_issuer").len(), 2);
}

/// OIDC Core 3.1.3.7 (3): an ID token naming an audience besides this client is refused,
/// even with `azp` this client, unless that audience is trusted.
#[tokio::test]
async fn extra_audiences_must_be_trusted() {
    let t = setup("/").await;
    t.provider.twist_next(Twist {
        extra_audience: Some("some-other-client".into()),
        ..Twist::default()
    });
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    let r = with_cookie(&t.srv, &cb, &flow).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(set_cookie(&r, "taskdeck_session").is_none());
    let e = audited(&t.audit, "oidc_wrong_audience");
    assert_eq!(e.len(), 1, "{e:?}");

    let s = Scheduler::builder().build().unwrap();
    let trusting = serve(
        Dashboard::builder(s)
            .auth(sso(&t.provider).trusted_audiences(&["some-other-client"]))
            .trust_proxy("127.0.0.1".parse().unwrap()),
    )
    .await;
    t.provider.twist_next(Twist {
        extra_audience: Some("some-other-client".into()),
        ..Twist::default()
    });
    let (cb, flow) = approve(&trusting, &t.provider, "/auth/oidc/start").await;
    assert_eq!(
        with_cookie(&trusting, &cb, &flow).await.status,
        StatusCode::SEE_OTHER,
        "a trusted audience signs in"
    );
}

/// The provider's keys expire after the key set's `max-age`: a key it withdrew (rotated out
/// after a leak) stops verifying ID tokens once they do. While the key set cannot be
/// fetched, the known keys are kept.
#[tokio::test]
async fn keys_expire_and_a_withdrawn_key_stops_verifying() {
    let t = setup("/").await;
    t.provider.keys_max_age(Some(1));
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    assert_eq!(
        with_cookie(&t.srv, &cb, &flow).await.status,
        StatusCode::SEE_OTHER
    );
    // Key a is withdrawn; a token still signed with it is refused once the keys expire.
    t.provider.rotate();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        t.provider.twist_next(Twist {
            key: Some(0),
            ..Twist::default()
        });
        let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
        let r = with_cookie(&t.srv, &cb, &flow).await;
        if r.status == StatusCode::FORBIDDEN {
            assert!(set_cookie(&r, "taskdeck_session").is_none());
            break;
        }
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the withdrawn key still verified tokens"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!audited(&t.audit, "oidc_unknown_key").is_empty());

    // The key set goes down: once a fetch has failed, the known key (b) still signs in.
    t.provider.keys_down(true);
    let fetches = t.provider.jwks_fetches();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while t.provider.jwks_fetches() == fetches {
        let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
        assert_eq!(
            with_cookie(&t.srv, &cb, &flow).await.status,
            StatusCode::SEE_OTHER,
            "the known key while the key set is down"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the expired keys were never fetched again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    assert_eq!(
        with_cookie(&t.srv, &cb, &flow).await.status,
        StatusCode::SEE_OTHER,
        "after a failed fetch, the known key still signs in"
    );
}

/// A provider's default ID token carries only `sub` and the protocol's claims; the name and
/// groups are at its userinfo endpoint (OIDC Core 5.3), which is asked when a needed claim
/// is missing. Userinfo naming another `sub` is refused (5.3.2) and audited as such.
#[tokio::test]
async fn thin_id_tokens_are_completed_from_userinfo() {
    let t = setup("/").await;
    t.provider.sign_in_as(Person {
        sub: "u-7".into(),
        name: "Olive Operator".into(),
        groups: vec!["taskdeck-operators".into()],
    });
    // Full ID tokens: userinfo is not asked.
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    assert_eq!(
        with_cookie(&t.srv, &cb, &flow).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(t.provider.userinfo_calls(), 0);

    t.provider.thin_tokens(None);
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    let r = with_cookie(&t.srv, &cb, &flow).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(t.provider.userinfo_calls(), 1);
    let cookie = set_cookie(&r, "taskdeck_session").expect("signed in");
    let page = with_cookie(&t.srv, "/", &cookie).await;
    assert!(
        page.body.contains("Olive Operator"),
        "the name from userinfo"
    );

    t.provider.thin_tokens(Some("someone-else"));
    let (cb, flow) = approve(&t.srv, &t.provider, "/auth/oidc/start").await;
    let r = with_cookie(&t.srv, &cb, &flow).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(set_cookie(&r, "taskdeck_session").is_none());
    assert_eq!(audited(&t.audit, "oidc_userinfo_sub_mismatch").len(), 1);
}
