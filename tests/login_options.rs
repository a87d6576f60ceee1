//! The login and branding options over real sockets: JWT settings (algorithms, claims, header,
//! cookie, JWKS file and URL, least role), the sign-in path, public paths, where sign-out goes,
//! help links, users from a list, and branding with its contrast check.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/oidc_provider.rs"]
mod provider;

use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use taskdeck::{
    AuthBackend, AuthFuture, AuthReply, ConfigError, Dashboard, JwtBackend, LoginHelp,
    PasswordBackend, RequestParts, Role, Scheduler, User,
};

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn rs256(key: usize, claims: serde_json::Value) -> String {
    let (kid, pem) = provider::KEYS[key];
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(
        &h,
        &claims,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn hs(alg: Algorithm, secret: &[u8], claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

async fn api(srv: &Server, headers: &[(&str, &str)]) -> StatusCode {
    let r = srv.request(Method::GET, "/api/tasks", headers, "").await;
    if r.status == StatusCode::NOT_FOUND {
        panic!("{r:?}");
    }
    r.status
}

#[tokio::test]
async fn jwt_claims_header_cookie_jwks_file_and_least_role() {
    let dir = std::env::temp_dir().join(format!("taskdeck-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jwks.json");
    std::fs::write(
        &file,
        json!({"keys": [provider::jwk(0), provider::jwk(1)]}).to_string(),
    )
    .unwrap();
    // Keys of a shared provider need an issuer and an audience.
    let s = Scheduler::builder().build().unwrap();
    let e = Dashboard::builder(s.clone())
        .auth(
            JwtBackend::jwks_file(&file)
                .unwrap()
                .audience("taskdeck-api"),
        )
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("needs .issuer"), "{e}");
    let backend = JwtBackend::jwks_file(&file)
        .unwrap()
        .issuer("https://id.test")
        .audience("taskdeck-api")
        .algorithms(&["RS256", "ES256"])
        .user_claim("email")
        .name_claim("display")
        .roles_claim("realm_access.roles")
        .map_role("ops", Role::Operator)
        .header("X-Api-Token")
        .cookie("id_token")
        .require_role(Role::Operator);
    let s = Scheduler::builder().build().unwrap();
    let srv = serve(Dashboard::builder(s).auth(backend)).await;
    let claims = |roles: &[&str], exp: i64| {
        json!({"email": "ci@example.com", "display": "CI", "realm_access": {"roles": roles},
               "exp": exp, "iss": "https://id.test", "aud": "taskdeck-api"})
    };
    let good_a = rs256(0, claims(&["ops"], now() + 60));
    let good_b = rs256(1, claims(&["ops"], now() + 60));
    // The header, bare or with Bearer; any key of the set, chosen by kid.
    assert_eq!(api(&srv, &[("x-api-token", &good_a)]).await, StatusCode::OK);
    assert_eq!(
        api(&srv, &[("x-api-token", &format!("Bearer {good_b}"))]).await,
        StatusCode::OK
    );
    // Authorization is not read once another header is named.
    assert_eq!(
        api(&srv, &[("authorization", &format!("Bearer {good_a}"))]).await,
        StatusCode::UNAUTHORIZED
    );
    // The cookie, with Bearer.
    let cookie = format!("id_token=Bearer {good_a}");
    let r = srv.get_as("/", &cookie).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("CI"), "the name claim");
    // Below the least role, with a key not in the set, expired, without exp: refused.
    for bad in [
        rs256(0, claims(&["viewer"], now() + 60)),
        // A provider-wide role called admin is not this dashboard's (JWKS keys: mapped only).
        rs256(0, claims(&["admin"], now() + 60)),
        // A token for another audience (say, the OIDC client's ID token).
        rs256(
            0,
            json!({"email": "ci@example.com", "realm_access": {"roles": ["ops"]},
                        "exp": now() + 60, "iss": "https://id.test", "aud": "taskdeck"}),
        ),
        rs256(2, claims(&["ops"], now() + 60)),
        rs256(0, claims(&["ops"], now() - 3600)),
        rs256(
            0,
            json!({"email": "ci@example.com", "realm_access": {"roles": ["ops"]},
                   "iss": "https://id.test", "aud": "taskdeck-api"}),
        ),
        // An HMAC token "signed" with a public key's text: not an accepted algorithm.
        hs(
            Algorithm::HS256,
            provider::KEYS[0].1.as_bytes(),
            claims(&["ops"], now() + 60),
        ),
    ] {
        assert_eq!(
            api(&srv, &[("x-api-token", &bad)]).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // A token in a header needs no CSRF token; one in a cookie does.
    let post = |h: Vec<(&'static str, String)>| {
        let srv = &srv;
        async move {
            let hs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut hs = hs;
            hs.push(("content-type", "application/json"));
            let body = r#"{"kind":"interval","every":"1m"}"#;
            srv.request(Method::POST, "/api/preview", &hs, body)
                .await
                .status
        }
    };
    assert_eq!(
        post(vec![("x-api-token", good_a.clone())]).await,
        StatusCode::OK
    );
    assert_eq!(
        post(vec![
            ("cookie", cookie.clone()),
            ("sec-fetch-site", "same-origin".into())
        ])
        .await,
        StatusCode::FORBIDDEN
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn jwt_several_algorithms_and_a_jwks_url() {
    let secret = b"one shared secret of at least 32 bytes";
    let s = Scheduler::builder().build().unwrap();
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(JwtBackend::hs256(secret).algorithms(&["HS256", "HS512"])),
    )
    .await;
    let c = json!({"sub": "u", "exp": now() + 60});
    for (alg, ok) in [
        (Algorithm::HS256, true),
        (Algorithm::HS512, true),
        (Algorithm::HS384, false),
    ] {
        let t = hs(alg, secret, c.clone());
        let status = api(&srv, &[("authorization", &format!("Bearer {t}"))]).await;
        assert_eq!(status == StatusCode::OK, ok, "{alg:?}: {status}");
    }
    // Clock leeway: a token expired 20 s ago passes with the default 30 s, not with 5 s.
    let late = hs(
        Algorithm::HS256,
        secret,
        json!({"sub": "u", "exp": now() - 20}),
    );
    let late = format!("Bearer {late}");
    for (leeway, want) in [(30, StatusCode::OK), (5, StatusCode::UNAUTHORIZED)] {
        let srv =
            serve(Dashboard::builder(s.clone()).auth(JwtBackend::hs256(secret).leeway(leeway)))
                .await;
        assert_eq!(
            api(&srv, &[("authorization", &late)]).await,
            want,
            "leeway {leeway}"
        );
    }
    let bad = Dashboard::builder(s.clone())
        .auth(JwtBackend::hs256(secret).algorithms(&["HS999"]))
        .build()
        .unwrap_err();
    assert!(
        bad.to_string().contains("unknown JWT algorithm \"HS999\""),
        "{bad}"
    );

    // Keys from the provider's JWKS URL, fetched again when it rotates.
    let p = provider::Provider::start("127.0.0.1:0", "c", "s").await;
    let srv = serve(
        Dashboard::builder(s).auth(
            JwtBackend::jwks_url(&format!("{}/jwks", p.issuer))
                .unwrap()
                .issuer(&p.issuer)
                .audience("taskdeck-api")
                .map_role("svc-operators", Role::Operator),
        ),
    )
    .await;
    let c = json!({"sub": "svc", "exp": now() + 60, "roles": "svc-operators",
                   "iss": p.issuer, "aud": "taskdeck-api"});
    let bearer = |t: String| format!("Bearer {t}");
    assert_eq!(
        api(&srv, &[("authorization", &bearer(rs256(0, c.clone())))]).await,
        StatusCode::OK
    );
    assert_eq!(p.jwks_fetches(), 1);
    p.rotate();
    assert_eq!(
        api(&srv, &[("authorization", &bearer(rs256(1, c.clone())))]).await,
        StatusCode::OK
    );
    assert_eq!(p.jwks_fetches(), 2);
    // An unknown key right after a fetch is refused without asking again (at most a fetch a
    // minute).
    assert_eq!(
        api(&srv, &[("authorization", &bearer(rs256(2, c)))]).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(p.jwks_fetches(), 2);
    // A key set that cannot be fetched is not asked again at every token: strangers sending
    // tokens with made-up keys cost the provider one request per interval.
    let s = Scheduler::builder().build().unwrap();
    let srv = serve(
        Dashboard::builder(s).auth(
            JwtBackend::jwks_url(&format!("{}/no-such-jwks", p.issuer))
                .unwrap()
                .issuer(&p.issuer)
                .audience("taskdeck-api"),
        ),
    )
    .await;
    let before = p.requests();
    for _ in 0..5 {
        let t = bearer(rs256(0, json!({"sub": "x", "exp": now() + 60})));
        assert_eq!(
            api(&srv, &[("authorization", &t)]).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(p.requests(), before + 1, "one fetch for five tokens");
    assert!(
        JwtBackend::jwks_url("http://id.example.com/jwks").is_err(),
        "plain http"
    );
}

/// A backend with a route outside /auth/, a help link, and a sign-out elsewhere.
struct Custom {
    logout_to: Option<String>,
}

impl AuthBackend for Custom {
    fn authenticate<'a>(&'a self, _req: &'a RequestParts<'a>) -> AuthFuture<'a, Option<User>> {
        Box::pin(async { None })
    }

    fn login<'a>(&'a self, user: &'a str, pw: &'a str) -> AuthFuture<'a, taskdeck::LoginResult> {
        let ok = user == "kim" && pw == "kim-pw";
        Box::pin(async move {
            if ok {
                taskdeck::LoginResult::Success(User::new("kim", "Kim", Role::Operator))
            } else {
                taskdeck::LoginResult::Failure
            }
        })
    }

    fn sign_in_methods(&self) -> Vec<taskdeck::SignInMethod> {
        vec![taskdeck::SignInMethod::Password]
    }

    fn login_help(&self) -> Option<LoginHelp> {
        Some(
            LoginHelp::text("No account? <script>alert(1)</script>")
                .link(
                    "https://wiki.example.com/access?a=1&b=2",
                    "Ask for <access>",
                )
                .unwrap(),
        )
    }

    fn public_paths(&self) -> Vec<String> {
        vec!["/sso/{file}".into()]
    }

    fn extra_route<'a>(
        &'a self,
        req: &'a RequestParts<'a>,
        _body: &'a [u8],
    ) -> AuthFuture<'a, Option<AuthReply>> {
        let path = req.path.to_string();
        Box::pin(async move {
            (path == "/sso/metadata.xml" || path == "/extra")
                .then(|| AuthReply::Html(200, format!("metadata for {path}")))
        })
    }

    fn logout<'a>(&'a self, _user: &'a User) -> AuthFuture<'a, Option<String>> {
        let to = self.logout_to.clone();
        Box::pin(async move { to })
    }
}

async fn form_login(srv: &Server, at: &str, next: &str) -> (String, String) {
    let r = srv
        .post_form(at, &format!("username=kim&password=kim-pw&next={next}"))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let cookie = r
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = srv.get_as("/ops/tasks", &cookie).await;
    let csrf = page.csrf();
    (cookie, csrf)
}

async fn logout(srv: &Server, at: &str, cookie: &str, csrf: &str) -> Reply {
    srv.post_signed_in(at, cookie, csrf, "").await
}

#[tokio::test]
async fn sign_in_path_public_paths_help_link_and_sign_out_target() {
    let s = Scheduler::builder().build().unwrap();
    let srv = serve(
        Dashboard::builder(s.clone())
            .prefix("/ops")
            .login_path("/account/signin")
            .public_path("/extra")
            .auth(Custom {
                logout_to: Some("https://id.example.com/logout?from=taskdeck".into()),
            }),
    )
    .await;
    // The gate sends strangers to the configured page; /login is no more.
    let r = srv.get("/ops/tasks?state=paused").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.header("location"),
        "/ops/account/signin?next=%2Fops%2Ftasks%3Fstate%3Dpaused"
    );
    assert_eq!(srv.get("/ops/login").await.status, StatusCode::NOT_FOUND);
    let page = srv.get("/ops/account/signin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("action=\"/ops/account/signin\""),
        "{}",
        page.body
    );
    // The help: text and link escaped, the link's URL kept.
    assert!(page
        .body
        .contains("No account? &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page
        .body
        .contains("href=\"https://wiki.example.com/access?a=1&amp;b=2\""));
    assert!(page.body.contains("Ask for &lt;access&gt;"));

    // Public paths, the backend's own and the builder's, reach it without signing in.
    let r = srv.get("/ops/sso/metadata.xml").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, "metadata for /sso/metadata.xml")
    );
    assert_eq!(srv.get("/ops/extra").await.body, "metadata for /extra");
    assert_eq!(
        srv.get("/ops/sso/other").await.status,
        StatusCode::NOT_FOUND
    );

    // Sign in at the new path; sign-out beside it goes where the backend says.
    let (cookie, csrf) = form_login(&srv, "/ops/account/signin", "%2Fops%2Fruns").await;
    let tasks = srv.get_as("/ops/tasks", &cookie).await;
    assert!(tasks.body.contains("action=\"/ops/account/logout\""));
    assert!(tasks.body.contains("action=\"/ops/account/logout/all\""));
    let out = logout(&srv, "/ops/account/logout", &cookie, &csrf).await;
    assert_eq!(out.status, StatusCode::OK, "a page that goes on off-site");
    assert!(out
        .links()
        .contains(&"https://id.example.com/logout?from=taskdeck".to_string()));
    assert!(out.body.contains("http-equiv=\"refresh\""));

    // A hostile sign-out target goes to the sign-in page instead.
    let srv = serve(
        Dashboard::builder(s.clone())
            .prefix("/ops")
            .login_path("/signin")
            .auth(Custom {
                logout_to: Some("javascript:alert(1)".into()),
            }),
    )
    .await;
    let (cookie, csrf) = form_login(&srv, "/ops/signin", "%2Fops%2F").await;
    let out = logout(&srv, "/ops/logout", &cookie, &csrf).await;
    assert_eq!(out.header("location"), "/ops/signin");

    // Paths that clash or are not paths are refused at build, saying which.
    for (login, public, want) in [
        ("/tasks", None, "clashes"),
        ("/sign in", None, "login_path"),
        ("/logout", None, "sign-out path"),
        ("/signin", Some("/tasks"), "public path /tasks clashes"),
        ("/signin", Some("nope"), "must start with '/'"),
    ] {
        let mut b = Dashboard::builder(s.clone())
            .login_path(login)
            .auth(Custom { logout_to: None });
        if let Some(p) = public {
            b = b.public_path(p);
        }
        let e = b.build().unwrap_err();
        assert!(matches!(e, ConfigError::Path(_)), "{e:?}");
        assert!(e.to_string().contains(want), "{login} {public:?}: {e}");
    }
}

#[tokio::test]
async fn users_from_a_list_sign_in() {
    let a = PasswordBackend::hash("ada-pw").unwrap();
    let b = PasswordBackend::hash("bo-pw").unwrap();
    let list = format!("# name:hash:role\nada:{a}:admin\nbo:{b}:viewer\n");
    let s = Scheduler::builder().build().unwrap();
    let srv =
        serve(Dashboard::builder(s.clone()).auth(PasswordBackend::from_list(&list).unwrap())).await;
    for (user, pw, ok) in [
        ("ada", "ada-pw", true),
        ("bo", "bo-pw", true),
        ("bo", "ada-pw", false),
    ] {
        let r = srv
            .post_form("/login", &format!("username={user}&password={pw}"))
            .await;
        assert_eq!(
            r.status == StatusCode::SEE_OTHER,
            ok,
            "{user}: {}",
            r.status
        );
    }
    // The same list from a file and from an environment variable (entries on one line).
    let file = std::env::temp_dir().join(format!("taskdeck-users-{}", std::process::id()));
    std::fs::write(&file, &list).unwrap();
    let var = format!("TASKDECK_TEST_USERS_{}", std::process::id());
    std::env::set_var(&var, format!("ada:{a}:admin bo:{b}:viewer"));
    for backend in [
        PasswordBackend::from_file(&file).unwrap(),
        PasswordBackend::from_env(&var).unwrap(),
    ] {
        let srv = serve(Dashboard::builder(s.clone()).auth(backend)).await;
        let r = srv.post_form("/login", "username=bo&password=bo-pw").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
    }
    std::fs::remove_file(&file).unwrap();
    assert!(PasswordBackend::from_env("TASKDECK_TEST_NO_SUCH_VAR")
        .unwrap_err()
        .contains("not set"));
    let e = PasswordBackend::from_list("ada:plaintext-password:admin").unwrap_err();
    assert!(
        e.contains("not plaintext") && !e.contains("plaintext-password"),
        "{e}"
    );
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99=\x1d\0\0\0\0IEND\xaeB`\x82";
const LOGO: &[u8] = b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"80\" height=\"20\"><rect width=\"80\" height=\"20\" fill=\"#1e1b4b\"/></svg>";

#[tokio::test]
async fn branding_shows_and_colours_are_checked() {
    let s = Scheduler::builder().build().unwrap();
    let srv = serve(
        Dashboard::builder(s.clone())
            .prefix("/ops")
            .title("Billing jobs")
            .description("Nightly invoicing and reminders. Ask #billing-ops for access.")
            .favicon(PNG)
            .logo(LOGO)
            .accent_color("#7048e8")
            .sidebar_color("#1e1b4b")
            .auth(common::admin_login()),
    )
    .await;
    let login = srv.get("/ops/login").await;
    assert!(login.body.contains("Nightly invoicing and reminders."));
    let links = login.links();
    let icon = links
        .iter()
        .find(|l| l.starts_with("/ops/assets/favicon?v="))
        .unwrap();
    let logo = links
        .iter()
        .find(|l| l.starts_with("/ops/assets/logo?v="))
        .unwrap();
    assert!(
        login.body.contains("rel=\"icon\" type=\"image/png\""),
        "{}",
        login.body
    );
    let r = srv.get(icon).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "image/png");
    assert!(r.header("cache-control").contains("immutable"));
    let r = srv.get(logo).await;
    assert_eq!(r.header("content-type"), "image/svg+xml");
    let theme = links
        .iter()
        .find(|l| l.starts_with("/ops/assets/theme.css"))
        .unwrap();
    let css = srv.get(theme).await.body;
    assert!(
        css.contains("--accent: #7048e8") && css.contains(".sidebar { --panel: #1e1b4b"),
        "{css}"
    );

    let (cookie, _) = {
        let r = srv
            .post_form("/ops/login", "username=admin&password=admin-pw")
            .await;
        (
            r.header("set-cookie")
                .split(';')
                .next()
                .unwrap()
                .to_string(),
            (),
        )
    };
    let overview = srv.get_as("/ops/", &cookie).await;
    assert!(overview.body.contains("Nightly invoicing and reminders."));
    assert!(overview.body.contains("/ops/assets/logo?v="));

    // Colours that fail AA are refused with the measured ratio, or allowed with a warning.
    let e = Dashboard::builder(s.clone())
        .accent_color("#ffd43b")
        .build()
        .unwrap_err();
    assert!(matches!(e, ConfigError::Contrast(_)), "{e:?}");
    assert!(
        e.to_string()
            .contains("white text on the accent #ffd43b: 1."),
        "{e}"
    );
    let e = Dashboard::builder(s.clone())
        .sidebar_color("#808080")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("sidebar"), "{e}");
    assert!(Dashboard::builder(s.clone())
        .accent_color("#ffd43b")
        .allow_low_contrast(true)
        .build()
        .is_ok());
    // Images and text that cannot be used.
    for b in [
        Dashboard::builder(s.clone()).favicon(&b"<html><script>x</script>"[..]),
        Dashboard::builder(s.clone()).logo(vec![0u8; 300 * 1024]),
        Dashboard::builder(s.clone()).description(&"x".repeat(501)),
        Dashboard::builder(s.clone()).sidebar_color("navy"),
    ] {
        assert!(matches!(b.build().unwrap_err(), ConfigError::Brand(_)));
    }
    let _ = Duration::ZERO;
}
