//! The dashboard under attack, over real sockets on 127.0.0.1: what a stranger or a careless
//! client can make it do, and the bounds that hold. Each test names the attack it pins.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use taskdeck::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn admin_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| PasswordBackend::hash("admin-pw").unwrap())
}

fn passwords() -> PasswordBackend {
    PasswordBackend::new()
        .user("admin", admin_hash(), Role::Admin)
        .unwrap()
}

/// A password check that counts how many attempts it judges, how many at once at most, and
/// holds each until `open` says so.
#[derive(Clone)]
struct Gate {
    judged: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    open: watch::Sender<bool>,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            judged: Arc::default(),
            running: Arc::default(),
            most: Arc::default(),
            open: watch::channel(false).0,
        }
    }

    fn backend(&self) -> PasswordBackend {
        let g = self.clone();
        PasswordBackend::new().verify_with(move |_user, _password| {
            let g = g.clone();
            async move {
                g.judged.fetch_add(1, Ordering::SeqCst);
                let now = g.running.fetch_add(1, Ordering::SeqCst) + 1;
                g.most.fetch_max(now, Ordering::SeqCst);
                let mut open = g.open.subscribe();
                let _ = open.wait_for(|o| *o).await;
                g.running.fetch_sub(1, Ordering::SeqCst);
                None
            }
        })
    }

    /// Waits until `n` checks are running.
    async fn until_running(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.running.load(Ordering::SeqCst) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "checks never started"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

async fn login(srv: &Server, form: &str, headers: &[(&str, &str)]) -> Reply {
    let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
    h.extend_from_slice(headers);
    srv.request(Method::POST, "/login", &h, form).await
}

/// Attack: 200 concurrent wrong passwords from one address. Before, every one was judged (an
/// argon2 hash each) before the throttle counted any; now the burst gets the sequential
/// allowance (3) and the rest 429 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_client_is_judged_like_one_by_one() {
    let (s, _c) = scheduler().await;
    let gate = Gate::new();
    let srv = Arc::new(
        serve(
            Dashboard::builder(s.clone())
                .auth(gate.backend())
                .secret(SECRET)
                // 200 connections from one address: this is about the sign-in throttle.
                .max_connections_per_client(1000),
        )
        .await,
    );
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let srv = srv.clone();
        tasks.push(tokio::spawn(async move {
            login(&srv, "username=admin&password=wrong", &[])
                .await
                .status
        }));
    }
    // The refused ones answer while the judged ones are still held.
    gate.until_running(2).await;
    let mut refused = 0;
    let mut pending = Vec::new();
    for t in tasks {
        if t.is_finished() {
            let st = t.await.unwrap();
            assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
            refused += 1;
        } else {
            pending.push(t);
        }
    }
    gate.open.send_replace(true);
    for t in pending {
        let st = t.await.unwrap();
        if st == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        } else {
            assert_eq!(st, StatusCode::UNAUTHORIZED);
        }
    }
    assert_eq!(gate.judged.load(Ordering::SeqCst), 3, "judged");
    assert_eq!(refused, 197);
}

/// Attack: 64 concurrent sign-ins from 64 clients. Before, all 64 hashed at once (380 to 666
/// MB of argon2 memory); now at most `login_concurrency` run, `login_queue` wait, and the rest
/// get 503 with `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sign_ins_are_capped_and_queued() {
    let (s, _c) = scheduler().await;
    let gate = Gate::new();
    let srv = Arc::new(
        serve(
            Dashboard::builder(s.clone())
                .auth(gate.backend())
                .secret(SECRET)
                .trust_proxy(LOCAL)
                .login_concurrency(2)
                .login_queue(8),
        )
        .await,
    );
    let mut tasks = Vec::new();
    for i in 0..64 {
        let srv = srv.clone();
        tasks.push(tokio::spawn(async move {
            let client = format!("198.51.100.{}", i + 1);
            let r = login(
                &srv,
                &format!("username=user{i}&password=wrong"),
                &[("x-forwarded-for", &client)],
            )
            .await;
            (r.status, r.header("retry-after").to_string())
        }));
    }
    gate.until_running(2).await;
    // Everyone beyond the 2 running and 8 waiting is refused without waiting for them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tasks.iter().filter(|t| t.is_finished()).count() < 54 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the overflow was not refused"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gate.open.send_replace(true);
    let mut busy = 0;
    let mut judged = 0;
    for t in tasks {
        let (st, retry) = t.await.unwrap();
        match st {
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(retry, "1");
                busy += 1;
            }
            StatusCode::UNAUTHORIZED => judged += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((judged, busy), (10, 54));
    assert_eq!(gate.most.load(Ordering::SeqCst), 2, "checks at once");
}

/// Attack: behind a trusted proxy, a few wrong passwords from anyone used to give everyone
/// (the proxy's one address) 429. Now each forwarded client is throttled on its own, the
/// audit log names it, and forwarded headers from anyone else are ignored.
#[tokio::test]
async fn behind_a_trusted_proxy_each_client_counts_alone() {
    let (s, _c) = scheduler().await;
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(passwords())
            .secret(SECRET)
            .trust_proxy(LOCAL),
    )
    .await;
    let stranger = [("x-forwarded-for", "203.0.113.66")];
    for _ in 0..3 {
        let r = login(&srv, "username=mallory&password=x", &stranger).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = login(&srv, "username=mallory&password=x", &stranger).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the stranger waits"
    );
    // A client forging a chain is judged by the address the proxy appended.
    let forged = [("x-forwarded-for", "198.51.100.7, 203.0.113.66")];
    let r = login(&srv, "username=mallory&password=x", &forged).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "forged entries ignored"
    );
    // The real user, another client behind the same proxy, signs in.
    let user = [("x-forwarded-for", "192.0.2.10")];
    let r = login(&srv, "username=admin&password=admin-pw", &user).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let cookie = r
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let audit = srv
        .request(Method::GET, "/api/audit", &[("cookie", &cookie)], "")
        .await
        .body;
    assert!(audit.contains("\"address\":\"203.0.113.66\""), "{audit}");
    assert!(audit.contains("\"address\":\"192.0.2.10\""), "{audit}");

    // Not a trusted proxy: the forwarded header means nothing.
    let direct = serve(
        Dashboard::builder(s.clone())
            .auth(passwords())
            .secret(SECRET),
    )
    .await;
    for i in 0..3 {
        let claim = format!("203.0.113.{i}");
        let r = login(
            &direct,
            "username=mallory&password=x",
            &[("x-forwarded-for", &claim)],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = login(
        &direct,
        "username=other&password=x",
        &[("x-forwarded-for", "192.0.2.99")],
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "a new X-Forwarded-For does not make a new client"
    );
}

/// Attack: task ids `.` and `..` were accepted (201), and browsers resolve their links to
/// other routes.
#[tokio::test]
async fn ids_of_dots_are_refused() {
    let (s, _c) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone())).await;
    for id in [".", "..", "..."] {
        let body = format!(
            r#"{{"id":"{id}","job":"report","trigger":{{"kind":"interval","every":"1m"}}}}"#
        );
        let r = srv.post_json(Method::POST, "/api/tasks", &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{id}: {}", r.body);
        assert!(r.body.contains("dots"), "{}", r.body);
    }
}

/// Attack: a junk cookie with the session's name placed before the real one signed the user
/// out (the first match won). And the flash cookie never got `Secure`.
#[tokio::test]
async fn a_junk_cookie_does_not_hide_the_session_and_every_cookie_is_secure() {
    let (s, _c) = scheduler().await;
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(passwords())
            .secret(SECRET)
            .secure_cookies(true),
    )
    .await;
    let r = login(&srv, "username=admin&password=admin-pw", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.header("set-cookie").contains("Secure"));
    let session = r
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let both = format!("taskdeck_session=junk; {session}");
    let r = srv
        .request(Method::GET, "/api/tasks", &[("cookie", &both)], "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "the valid cookie counts");
    // A page action leaves a flash message: its cookie is Secure too.
    let page = srv
        .request(Method::GET, "/tasks", &[("cookie", &session)], "")
        .await;
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .unwrap();
    let r = srv
        .request(
            Method::POST,
            "/scheduler/pause",
            &[
                ("cookie", &session),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let flash = r.header("set-cookie");
    assert!(flash.starts_with("taskdeck_flash="), "{flash}");
    assert!(flash.contains("Secure"), "{flash}");
}

/// Attack: `.audience()` / `.issuer()` did not make `aud` / `iss` required, `nbf` was not
/// checked, and an HMAC secret of any length was accepted.
#[tokio::test]
async fn jwt_is_strict() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    let (s, _c) = scheduler().await;
    let key = b"jwt-secret-jwt-secret-jwt-secret!";
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(
                JwtBackend::hs256(key)
                    .audience("taskdeck")
                    .issuer("https://id.test")
                    .leeway(0),
            )
            .secret(SECRET),
    )
    .await;
    let now = jiff::Timestamp::now().as_second();
    let token = |claims: serde_json::Value| {
        encode(&Header::default(), &claims, &EncodingKey::from_secret(key)).unwrap()
    };
    let ask = |t: String| {
        let srv = &srv;
        async move {
            srv.request(
                Method::GET,
                "/api/tasks",
                &[("authorization", &format!("Bearer {t}"))],
                "",
            )
            .await
            .status
        }
    };
    let good = serde_json::json!({"sub": "ci", "exp": now + 300, "aud": "taskdeck", "iss": "https://id.test"});
    assert_eq!(ask(token(good.clone())).await, StatusCode::OK);
    let mut no_aud = good.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        ask(token(no_aud)).await,
        StatusCode::UNAUTHORIZED,
        "aud required"
    );
    let mut no_iss = good.clone();
    no_iss.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        ask(token(no_iss)).await,
        StatusCode::UNAUTHORIZED,
        "iss required"
    );
    let mut early = good.clone();
    early["nbf"] = serde_json::json!(now + 3600);
    assert_eq!(
        ask(token(early)).await,
        StatusCode::UNAUTHORIZED,
        "nbf checked"
    );

    let err = Dashboard::builder(s.clone())
        .auth(JwtBackend::hs256(b"short"))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("at least 32"), "{err}");
}

/// A backend whose store is down, with a message that names its database host and user.
struct Broken(Scheduler);

const LEAK: &str = "FATAL: password authentication failed for user \"prod\" at 10.9.8.7";

impl TaskBackend for Broken {
    fn list<'a>(&'a self, _q: &'a TaskQuery) -> BackendFuture<'a, Page<TaskInfo>> {
        Box::pin(async { Err(BackendError::unavailable(LEAK)) })
    }
    fn get<'a>(&'a self, _id: &'a str) -> BackendFuture<'a, TaskDetail> {
        Box::pin(async { Err(BackendError::unavailable(LEAK)) })
    }
    fn create(&self, t: Task) -> BackendFuture<'_, TaskInfo> {
        TaskBackend::create(&self.0, t)
    }
    fn update(&self, t: Task) -> BackendFuture<'_, TaskInfo> {
        TaskBackend::update(&self.0, t)
    }
    fn remove<'a>(&'a self, id: &'a str) -> BackendFuture<'a, ()> {
        TaskBackend::remove(&self.0, id)
    }
    fn pause<'a>(&'a self, _id: &'a str) -> BackendFuture<'a, TaskInfo> {
        Box::pin(async { Err(BackendError::unavailable(LEAK)) })
    }
    fn resume<'a>(&'a self, id: &'a str) -> BackendFuture<'a, TaskInfo> {
        TaskBackend::resume(&self.0, id)
    }
    fn run_now<'a>(&'a self, id: &'a str) -> BackendFuture<'a, RunRecord> {
        TaskBackend::run_now(&self.0, id)
    }
    fn runs<'a>(&'a self, q: &'a RunQuery) -> BackendFuture<'a, Page<RunRecord>> {
        TaskBackend::runs(&self.0, q)
    }
    fn run(&self, id: RunId) -> BackendFuture<'_, RunRecord> {
        TaskBackend::run(&self.0, id)
    }
    fn stats(&self) -> BackendFuture<'_, Stats> {
        TaskBackend::stats(&self.0)
    }
    fn subscribe(&self) -> EventStream {
        self.0.subscribe()
    }
    fn preview<'a>(&'a self, spec: &'a TriggerSpec, n: usize) -> BackendFuture<'a, TriggerPreview> {
        TaskBackend::preview(&self.0, spec, n)
    }
    fn jobs(&self) -> BackendFuture<'_, Vec<String>> {
        TaskBackend::jobs(&self.0)
    }
    fn status(&self) -> BackendFuture<'_, SchedulerStatus> {
        TaskBackend::status(&self.0)
    }
    fn set_paused(&self, paused: bool) -> BackendFuture<'_, ()> {
        TaskBackend::set_paused(&self.0, paused)
    }
}

/// Attack: store errors, with the database's own message, were shown to viewers.
#[tokio::test]
async fn store_errors_are_not_shown() {
    let (s, _c) = scheduler().await;
    let srv = serve(Dashboard::builder(Broken(s.clone()))).await;
    for path in ["/tasks", "/api/tasks", "/tasks/alpha", "/api/tasks/alpha"] {
        let r = srv.get(path).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(
            !r.body.contains("10.9.8.7") && !r.body.contains("prod"),
            "{path}: {}",
            r.body
        );
        assert!(r.body.contains("did not answer"), "{path}: {}", r.body);
    }
    let r = srv.post_form("/tasks/alpha/pause", "back=%2Ftasks").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        !r.header("set-cookie").contains("10.9.8.7"),
        "{}",
        r.header("set-cookie")
    );
}

/// Sends `raw` on a new connection and reads until the head of the answer is in (or the
/// connection ends), within `within`.
async fn raw_head(addr: std::net::SocketAddr, raw: &str, within: Duration) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    (s, String::from_utf8_lossy(&got).into_owned())
}

/// True when the server closes `s` within `within` (a read returns end of stream).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
    .await;
    closed.unwrap_or(false)
}

/// Attack: connections that send nothing stayed open for good (1,200 held, none closed after
/// 35 s), and a request whose body stalls held its connection for good.
#[tokio::test]
async fn idle_and_stalled_connections_are_closed() {
    let (s, _c) = scheduler().await;
    let srv = serve(
        Dashboard::builder(s.clone())
            .header_timeout(Duration::from_millis(300))
            .body_timeout(Duration::from_millis(300)),
    )
    .await;
    // Fifty connections that never send a byte.
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(srv.addr).await.unwrap());
    }
    for (i, c) in idle.iter_mut().enumerate() {
        assert!(
            closed_within(c, Duration::from_secs(5)).await,
            "idle connection {i} left open"
        );
    }
    // The first bytes of what could be the HTTP/2 preface, then nothing.
    for start in ["P", "PRI * HTTP/2.0\r\n"] {
        let (mut c, _) = raw_head(srv.addr, start, Duration::ZERO).await;
        assert!(
            closed_within(&mut c, Duration::from_secs(5)).await,
            "a stall after {start:?}"
        );
    }
    // A head that never ends.
    let (mut half, _) = raw_head(
        srv.addr,
        "GET /health HTTP/1.1\r\nHost: x\r\n",
        Duration::ZERO,
    )
    .await;
    assert!(
        closed_within(&mut half, Duration::from_secs(5)).await,
        "half a head"
    );
    // A body that stalls after its head: 408, and the connection is closed.
    let (mut stalled, head) = raw_head(
        srv.addr,
        "POST /api/preview HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"kind\":",
        Duration::from_secs(5),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(
        closed_within(&mut stalled, Duration::from_secs(5)).await,
        "stalled body"
    );
}

/// Attack: there was no cap on connections. Past `max_connections` the server stops
/// accepting until one closes.
/// At the cap, the connection idle the longest makes room for a new client; only while
/// every connection has a request going is a new one refused.
#[tokio::test]
async fn connections_are_capped() {
    let (s, _c) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone()).max_connections(4)).await;
    let get = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..4 {
        let (c, head) = raw_head(srv.addr, get, Duration::from_secs(5)).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        held.push(c);
    }
    // Four idle keep-alive connections: a fifth is served, and the idlest is closed.
    let (_fifth, head) = raw_head(srv.addr, get, Duration::from_secs(5)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "the fifth: {head}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    'made_room: loop {
        for c in held.iter_mut() {
            if closed_within(c, Duration::from_millis(10)).await {
                break 'made_room;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no idle connection made room"
        );
    }
    drop(held);
    drop(_fifth);

    // Four live streams: every connection is busy, so a fifth is refused.
    let events = "GET /events HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut streams = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while streams.len() < 4 {
        let (c, head) = raw_head(srv.addr, events, Duration::from_secs(5)).await;
        if head.starts_with("HTTP/1.1 200") {
            streams.push(c);
        } else {
            // The closed connections above may not have given their places back yet.
            assert!(tokio::time::Instant::now() < deadline, "{head}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (mut refused, head) = raw_head(srv.addr, get, Duration::from_secs(5)).await;
    assert!(
        head.is_empty(),
        "served past the cap while all were busy: {head}"
    );
    assert!(closed_within(&mut refused, Duration::from_secs(5)).await);
}

/// Attack: one address opens 2,000 keep-alive connections (each asked `/health` once and then
/// left open), more than the 1,024 the dashboard serves at once; the accept loop used to stop
/// at the cap, and nobody else was answered. Now one address holds at most
/// `max_connections_per_client` (128), idle ones make room at the cap, and a new client from
/// another address is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_connection() {
    let (s, _c) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone())).await;
    // Two sockets per connection live in this process: stay within its descriptor limit.
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    let attack = 2000.min(limit.saturating_sub(200) / 2);
    assert!(
        attack > 200,
        "{limit} file descriptors are too few for this test: raise `ulimit -n`"
    );
    let get = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut held = Vec::new();
    let mut answered = 0;
    for _ in 0..attack {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let Ok(mut c) = socket.connect(srv.addr).await else {
            continue;
        };
        if c.write_all(get.as_bytes()).await.is_err() {
            continue;
        }
        let mut buf = [0u8; 256];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await {
            if n > 0 {
                answered += 1;
            }
        }
        held.push(c);
    }
    assert!(
        answered <= 128,
        "one address was served on {answered} connections at once"
    );
    // A newcomer from another address is answered while the attacker holds on.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut c = socket.connect(srv.addr).await.unwrap();
    c.write_all(get.as_bytes()).await.unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
        .await
        .expect("the newcomer was not answered")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    drop(held);
}

/// Attack: one session could hold any number of `/events` streams.
#[tokio::test]
async fn live_streams_are_capped() {
    let (s, _c) = scheduler().await;
    let srv = serve(
        Dashboard::builder(s.clone())
            .max_streams_per_session(2)
            .max_streams(3),
    )
    .await;
    let open = || {
        raw_head(
            srv.addr,
            "GET /events HTTP/1.1\r\nHost: x\r\n\r\n",
            Duration::from_secs(5),
        )
    };
    let (a, head) = open().await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (_b, head) = open().await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (_c, head) = open().await;
    assert!(
        head.starts_with("HTTP/1.1 429"),
        "a third from the same client: {head}"
    );
    assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
    // A closed stream gives its place back.
    drop(a);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_d, head) = open().await;
        if head.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place never came back: {head}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Attack: 1,100 failed sign-ins in 4 s, no account needed, pushed every earlier entry (the
/// admin's own sign-in included) out of the 1,000-entry audit log, and viewers could read the
/// usernames tried there.
#[tokio::test]
async fn strangers_cannot_flush_the_audit_log() {
    let (s, _c) = scheduler().await;
    let viewer = PasswordBackend::hash("viewer-pw").unwrap();
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(passwords().user("viewer", &viewer, Role::Viewer).unwrap())
            .secret(SECRET)
            .trust_proxy(LOCAL)
            .audit_sink(Arc::new(AuditLog::with_bounds(50, 20))),
    )
    .await;
    let r = login(&srv, "username=admin&password=admin-pw", &[]).await;
    let admin = r
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    // One client, 1,100 wrong passwords; then 60 more clients, one each.
    for _ in 0..1100 {
        let r = login(
            &srv,
            "username=root&password=x",
            &[("x-forwarded-for", "203.0.113.9")],
        )
        .await;
        assert!(r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::TOO_MANY_REQUESTS);
    }
    for i in 0..60 {
        let client = format!("198.51.100.{}", i + 1);
        login(
            &srv,
            &format!("username=guess{i}&password=x"),
            &[("x-forwarded-for", &client)],
        )
        .await;
    }
    let audit: serde_json::Value = serde_json::from_str(
        &srv.request(
            Method::GET,
            "/api/audit?per_page=500",
            &[("cookie", &admin)],
            "",
        )
        .await
        .body,
    )
    .unwrap();
    let items = audit["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|e| e["action"] == "login" && e["actor"] == "admin"),
        "the admin's sign-in is still there"
    );
    let from_one = items
        .iter()
        .filter(|e| e["address"] == "203.0.113.9")
        .count();
    assert!(
        from_one <= 2,
        "one client's 1,100 refusals fold into {from_one} entries"
    );
    let strangers = items.iter().filter(|e| e["actor"] == "anonymous").count();
    assert_eq!(strangers, 20, "strangers' entries keep their own bound");
    assert!(
        audit.to_string().contains("guess59"),
        "admins see the usernames tried"
    );

    let r = login(&srv, "username=viewer&password=viewer-pw", &[]).await;
    let viewer = r
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let seen = srv
        .request(
            Method::GET,
            "/api/audit?per_page=500",
            &[("cookie", &viewer)],
            "",
        )
        .await
        .body;
    assert!(
        !seen.contains("guess59") && !seen.contains("root"),
        "{seen}"
    );
    assert!(seen.contains("admins only"));
}

async fn csrf_of(srv: &Server, cookie: &str) -> String {
    let page = srv
        .request(Method::GET, "/tasks", &[("cookie", cookie)], "")
        .await;
    page.body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .unwrap_or_default()
}

/// The value `name=…` of the cookie `name` a reply sets.
fn cookie_set(r: &Reply, name: &str) -> String {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

async fn sign_in(srv: &Server, user: &str, pw: &str) -> String {
    let r = login(srv, &format!("username={user}&password={pw}"), &[]).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "sign in as {user}: {}",
        r.body
    );
    r.header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

async fn api_status(srv: &Server, cookie: &str) -> StatusCode {
    srv.request(Method::GET, "/api/tasks", &[("cookie", cookie)], "")
        .await
        .status
}

async fn post_as(srv: &Server, path: &str, cookie: &str) -> Reply {
    let csrf = csrf_of(srv, cookie).await;
    srv.request(
        Method::POST,
        path,
        &[
            ("cookie", cookie),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        &format!("csrf={csrf}"),
    )
    .await
}

/// Attack: after `POST /logout`, a copied session cookie still opened every page and the API
/// until it expired 12 h later.
#[tokio::test]
async fn signed_out_sessions_stay_out() {
    let (s, _c) = scheduler().await;
    let dashboard = Dashboard::builder(s.clone())
        .auth(passwords())
        .secret(SECRET)
        .build()
        .unwrap();
    let srv = serve_dashboard(dashboard.clone()).await;
    let laptop = sign_in(&srv, "admin", "admin-pw").await;
    let phone = sign_in(&srv, "admin", "admin-pw").await;
    let copied = laptop.clone();
    let r = post_as(&srv, "/logout", &laptop).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        api_status(&srv, &copied).await,
        StatusCode::UNAUTHORIZED,
        "copied cookie"
    );
    assert_eq!(
        srv.request(Method::GET, "/tasks", &[("cookie", &copied)], "")
            .await
            .status,
        StatusCode::SEE_OTHER,
        "pages send it to sign in"
    );
    assert_eq!(
        api_status(&srv, &phone).await,
        StatusCode::OK,
        "other sessions stay"
    );

    // Sign out everywhere: every session of the user ends, a new sign-in works at once.
    let tablet = sign_in(&srv, "admin", "admin-pw").await;
    let r = post_as(&srv, "/logout/all", &phone).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(api_status(&srv, &phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(api_status(&srv, &tablet).await, StatusCode::UNAUTHORIZED);
    let again = sign_in(&srv, "admin", "admin-pw").await;
    assert_eq!(
        api_status(&srv, &again).await,
        StatusCode::OK,
        "a new sign-in"
    );

    // The library call.
    dashboard.end_sessions("admin").await;
    assert_eq!(api_status(&srv, &again).await, StatusCode::UNAUTHORIZED);
}

/// A user removed or demoted in the backend kept access and roles until the cookie expired.
#[tokio::test]
async fn removed_and_demoted_users_lose_access_at_the_next_recheck() {
    let (s, _c) = scheduler().await;
    let users = passwords();
    let op = PasswordBackend::hash("op-pw").unwrap();
    users.set_user("op", &op, Role::Operator).unwrap();
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(users.clone())
            .secret(SECRET)
            .session_recheck(Duration::ZERO),
    )
    .await;
    let operator = sign_in(&srv, "op", "op-pw").await;
    let admin = sign_in(&srv, "admin", "admin-pw").await;
    let r = post_as(&srv, "/tasks/alpha/run", &operator).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "an operator runs tasks");
    users.set_user("op", &op, Role::Viewer).unwrap();
    let r = post_as(&srv, "/tasks/alpha/run", &operator).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "demoted: {}", r.body);
    assert_eq!(
        api_status(&srv, &operator).await,
        StatusCode::OK,
        "still a viewer"
    );
    assert!(users.remove_user("op"));
    assert_eq!(
        api_status(&srv, &operator).await,
        StatusCode::UNAUTHORIZED,
        "removed"
    );
    assert_eq!(
        api_status(&srv, &admin).await,
        StatusCode::OK,
        "others unaffected"
    );
}

/// A live stream opened with a session kept delivering events after the session was signed
/// out.
#[tokio::test]
async fn live_streams_end_with_their_session() {
    let (s, _c) = scheduler().await;
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(passwords())
            .secret(SECRET)
            .sse_keepalive(Duration::from_secs(1)),
    )
    .await;
    let cookie = sign_in(&srv, "admin", "admin-pw").await;
    let (mut stream, head) = raw_head(
        srv.addr,
        &format!("GET /events HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n"),
        Duration::from_secs(5),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let r = post_as(&srv, "/logout", &cookie).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // The stream's chunked body ends (`0\r\n\r\n`) within a few keep-alive ticks.
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(5).any(|w| w == b"0\r\n\r\n") {
                        return true;
                    }
                }
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(ended, "the stream outlived its session");
}

/// A stranger guessing the admin's password elsewhere kept the admin out: the per-username wait
/// applied to everyone, renewed by one wrong guess a minute. A browser that has signed in as
/// the admin before is not slowed by it.
#[tokio::test]
async fn strangers_cannot_keep_a_user_out() {
    let (s, _c) = scheduler().await;
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(passwords())
            .secret(SECRET)
            .trust_proxy(LOCAL),
    )
    .await;
    let office = [("x-forwarded-for", "192.0.2.10")];
    let r = login(&srv, "username=admin&password=admin-pw", &office).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let device = cookie_set(&r, "taskdeck_device");
    // Someone else guesses the admin's password.
    for i in 0..3 {
        let from = format!("203.0.113.{i}");
        let r = login(
            &srv,
            "username=admin&password=x",
            &[("x-forwarded-for", &from)],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = login(&srv, "username=admin&password=admin-pw", &office).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "a new browser waits"
    );
    let r = login(
        &srv,
        "username=admin&password=admin-pw",
        &[("x-forwarded-for", "192.0.2.10"), ("cookie", &device)],
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "the admin's own browser gets in"
    );
    // A forged device cookie counts for nothing.
    let forged = format!("{}x", device.trim_end_matches(|c: char| c != '.'));
    let r = login(
        &srv,
        "username=admin&password=admin-pw",
        &[("x-forwarded-for", "192.0.2.11"), ("cookie", &forged)],
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Attack: an attacker with one working account interleaves its own sign-ins with guesses at
/// other users. Before, each success wiped the address's failures: 20 of 20 guesses were
/// judged. Now a success forgets only its username's record: 3 are judged, 17 refused.
#[tokio::test]
async fn own_sign_ins_between_guesses_do_not_reset_the_address() {
    let (s, _c) = scheduler().await;
    let users = passwords()
        .user("mallory", admin_hash(), Role::Viewer)
        .unwrap();
    let srv = serve(Dashboard::builder(s.clone()).auth(users).secret(SECRET)).await;
    let (mut judged, mut refused) = (0, 0);
    for i in 0..20 {
        // Its own account: signed in while the address may still try.
        let own = login(&srv, "username=mallory&password=admin-pw", &[]).await;
        assert!(
            own.status == StatusCode::SEE_OTHER || own.status == StatusCode::TOO_MANY_REQUESTS,
            "{}",
            own.status
        );
        let guess = login(&srv, &format!("username=victim{i}&password=guess"), &[]).await;
        match guess.status {
            StatusCode::UNAUTHORIZED => judged += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((judged, refused), (3, 17));
}

/// Attack: a flood of sign-ins from many addresses while every password check is busy. Each
/// 503 ("too many sign-ins at once") used to count as a failed password for the username, so
/// the flood locked out a user who only ever sent the right one. Now a refusal for lack of a
/// slot withdraws the attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_refusals_do_not_lock_a_user_out() {
    let (s, _c) = scheduler().await;
    let (open, _) = watch::channel(false);
    let (entered, mut inside) = watch::channel(false);
    let hold = open.clone();
    let backend = PasswordBackend::new().verify_with(move |user, password| {
        let mut open = hold.subscribe();
        let entered = entered.clone();
        async move {
            if user == "holder" {
                entered.send_replace(true);
                let _ = open.wait_for(|o| *o).await;
                return None;
            }
            (user == "admin" && password == "admin-pw")
                .then(|| taskdeck::User::new("admin", "Admin", Role::Admin))
        }
    });
    let srv = Arc::new(
        serve(
            Dashboard::builder(s.clone())
                .auth(backend)
                .secret(SECRET)
                .trust_proxy(LOCAL)
                .login_concurrency(1)
                .login_queue(0),
        )
        .await,
    );
    // One check holds the only slot.
    let holder = {
        let srv = srv.clone();
        tokio::spawn(async move {
            login(
                &srv,
                "username=holder&password=x",
                &[("x-forwarded-for", "198.51.100.200")],
            )
            .await
            .status
        })
    };
    tokio::time::timeout(Duration::from_secs(10), inside.wait_for(|i| *i))
        .await
        .expect("the holder's check never started")
        .unwrap();
    // The flood: twenty addresses, each refused for lack of a slot.
    for i in 0..20 {
        let from = format!("203.0.113.{}", i + 10);
        let r = login(
            &srv,
            "username=admin&password=wrong",
            &[("x-forwarded-for", &from)],
        )
        .await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    open.send_replace(true);
    assert_eq!(holder.await.unwrap(), StatusCode::UNAUTHORIZED);
    // The admin, from the office, with the right password: judged and let in.
    let r = login(
        &srv,
        "username=admin&password=admin-pw",
        &[("x-forwarded-for", "192.0.2.10")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the admin was locked out");
}

/// Attack: one viewer signs in again and again and opens the most streams each session may
/// (130 sessions × 8 = 1,024 took every place; the admin got 429). Now one user's streams are
/// bounded over all their sessions, and never more than half of the places.
#[tokio::test]
async fn one_user_cannot_take_every_live_stream() {
    let (s, _c) = scheduler().await;
    let users = passwords().user("vic", admin_hash(), Role::Viewer).unwrap();
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(users)
            .secret(SECRET)
            .max_streams_per_session(2)
            .max_streams_per_user(3)
            .max_streams(8),
    )
    .await;
    let addr = srv.addr;
    let stream = |cookie: String| async move {
        let head = format!("GET /events HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n");
        raw_head(addr, &head, Duration::from_secs(5)).await
    };
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..4 {
        let cookie = sign_in(&srv, "vic", "admin-pw").await;
        for _ in 0..2 {
            let (conn, head) = stream(cookie.clone()).await;
            if head.starts_with("HTTP/1.1 200") {
                open.push(conn);
            } else {
                assert!(head.starts_with("HTTP/1.1 429"), "{head}");
                refused += 1;
            }
        }
    }
    assert_eq!((open.len(), refused), (3, 5), "the viewer's streams");
    let admin = sign_in(&srv, "admin", "admin-pw").await;
    let (_a, head) = stream(admin).await;
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "the admin gets a place: {head}"
    );
}

/// Attack: viewers looping on previews of a cron expression that never fires, each searched
/// for millennia on the async threads, took `/health` from 1 ms to seconds. Now previews run
/// on the blocking pool, a few at once, at most two per user or client (429 beyond), and the
/// search covers one Gregorian cycle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_of_a_never_firing_cron_are_bounded() {
    let (s, _c) = scheduler().await;
    let srv = Arc::new(serve(Dashboard::builder(s.clone())).await);
    let body = r#"{"kind":"cron","expr":"0 0 LW * +SAT"}"#;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let srv = srv.clone();
        tasks.push(tokio::spawn(async move {
            let r = srv
                .request(
                    Method::POST,
                    "/api/preview",
                    &[("content-type", "application/json")],
                    body,
                )
                .await;
            (r.status, r.header("retry-after").to_string(), r.body)
        }));
    }
    let (mut judged, mut refused) = (0, 0);
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        match status {
            StatusCode::BAD_REQUEST => {
                assert!(body.contains("never matches"), "{body}");
                judged += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(retry, "1");
                assert!(body.contains("too_many_previews"), "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        judged >= 1 && refused >= 1,
        "judged {judged}, refused {refused}"
    );
    // The dashboard still answers, and a preview that fires is worked out as before.
    let ok = srv
        .request(
            Method::POST,
            "/api/preview",
            &[("content-type", "application/json")],
            r#"{"kind":"cron","expr":"0 0 29 2 1"}"#,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(srv.get("/health").await.status, StatusCode::OK);
}

/// A shared store of ended sessions for two dashboards in one test, which can be made to
/// fail.
#[derive(Clone, Default)]
struct SharedEnded {
    list: Arc<std::sync::Mutex<Vec<Revocation>>>,
    down: Arc<std::sync::atomic::AtomicBool>,
    /// Each read takes this long (a database across a network).
    slow: Arc<std::sync::atomic::AtomicU64>,
}

impl RevocationStore for SharedEnded {
    fn publish(&self, r: Revocation) -> RevocationFuture<'_, ()> {
        self.list.lock().unwrap().push(r);
        Box::pin(async { Ok(()) })
    }
    fn since(&self, cursor: i64) -> RevocationFuture<'_, (Vec<Revocation>, i64)> {
        let down = self.down.load(Ordering::SeqCst);
        let list = self.list.lock().unwrap().clone();
        let slow = Duration::from_millis(self.slow.load(Ordering::SeqCst));
        Box::pin(async move {
            tokio::time::sleep(slow).await;
            if down {
                return Err("the store is down".to_string());
            }
            let from = usize::try_from(cursor).unwrap_or(0).min(list.len());
            Ok((list[from..].to_vec(), list.len() as i64))
        })
    }
}

/// Attack: a session signed out on replica A, replayed at a replica B that just started.
/// B used to answer from its still-empty set while its first read of the shared store was
/// under way, and let the session in. Now a replica accepts sessions only once it has read
/// what the others ended, and again only after a fresh read when reading failed.
#[tokio::test]
async fn a_fresh_replica_refuses_sessions_ended_elsewhere() {
    let (s, _c) = scheduler().await;
    let shared = SharedEnded::default();
    let replica = || {
        Dashboard::builder(s.clone())
            .auth(passwords())
            .secret(SECRET)
            .revocations(Arc::new(shared.clone()))
    };
    let a = serve(replica()).await;
    let ended = sign_in(&a, "admin", "admin-pw").await;
    let kept = sign_in(&a, "admin", "admin-pw").await;
    assert_eq!(
        post_as(&a, "/logout", &ended).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(api_status(&a, &ended).await, StatusCode::UNAUTHORIZED);

    // Reads take 300 ms from now on: B's first one is still under way at its first request.
    shared.slow.store(300, Ordering::SeqCst);
    let b = serve(replica()).await;
    assert_eq!(
        api_status(&b, &ended).await,
        StatusCode::UNAUTHORIZED,
        "the fresh replica let a signed-out session in"
    );
    assert_eq!(api_status(&b, &kept).await, StatusCode::OK);

    // The store stops answering: once B's last read is stale, sessions wait for a read and,
    // without one, are not accepted.
    shared.down.store(true, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while api_status(&b, &kept).await == StatusCode::OK {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sessions were still accepted without reads"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shared.down.store(false, Ordering::SeqCst);
    assert_eq!(
        api_status(&b, &kept).await,
        StatusCode::OK,
        "back once read again"
    );
}

/// Attack: a restart with the same secret and the default (in-process) record of ended
/// sessions let a signed-out session, and one ended by "sign out everywhere", back in, a
/// state-changing POST with its old CSRF token included. Now, without a store of ended
/// sessions, a restart does not accept sessions issued before it; with
/// `revocations_file`, sign-ins survive a restart and sign-outs hold.
#[tokio::test]
async fn a_restart_does_not_bring_back_signed_out_sessions() {
    let (s, _c) = scheduler().await;
    let dashboard = || {
        Dashboard::builder(s.clone())
            .auth(passwords())
            .secret(SECRET)
    };

    // The default: ended sessions live in the process.
    let first = serve(dashboard()).await;
    let out = sign_in(&first, "admin", "admin-pw").await;
    let csrf = csrf_of(&first, &out).await;
    assert_eq!(
        post_as(&first, "/logout", &out).await.status,
        StatusCode::SEE_OTHER
    );
    drop(first);
    let restarted = serve(dashboard()).await;
    assert_eq!(api_status(&restarted, &out).await, StatusCode::UNAUTHORIZED);
    let pause = restarted
        .request(
            Method::POST,
            "/scheduler/pause",
            &[
                ("cookie", out.as_str()),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(pause.status, StatusCode::SEE_OTHER);
    assert!(
        pause.header("location").contains("/login"),
        "sent to sign in, not obeyed: {}",
        pause.header("location")
    );
    assert!(!s.is_paused(), "the old session paused the scheduler");

    // With a file: a kept session survives the restart, ended ones stay ended.
    let path = std::env::temp_dir().join(format!("taskdeck-restart-{}.jsonl", std::process::id()));
    let with_file = || dashboard().revocations_file(&path);
    let first = serve(with_file()).await;
    let kept = sign_in(&first, "admin", "admin-pw").await;
    let signed_out = sign_in(&first, "admin", "admin-pw").await;
    assert_eq!(
        post_as(&first, "/logout", &signed_out).await.status,
        StatusCode::SEE_OTHER
    );
    drop(first);
    let restarted = serve(with_file()).await;
    assert_eq!(api_status(&restarted, &kept).await, StatusCode::OK);
    assert_eq!(
        api_status(&restarted, &signed_out).await,
        StatusCode::UNAUTHORIZED
    );
    // "Sign out everywhere", then a restart: every earlier session stays out.
    assert_eq!(
        post_as(&restarted, "/logout/all", &kept).await.status,
        StatusCode::SEE_OTHER
    );
    drop(restarted);
    let again = serve(with_file()).await;
    assert_eq!(api_status(&again, &kept).await, StatusCode::UNAUTHORIZED);
    let _ = std::fs::remove_file(&path);
}

/// A keep-alive connection with no request going is closed after `idle_timeout`; a live
/// event stream is a request going and stays.
#[tokio::test]
async fn idle_connections_are_closed_but_live_streams_stay() {
    let (s, _c) = scheduler().await;
    let srv = serve(Dashboard::builder(s.clone()).idle_timeout(Duration::from_millis(200))).await;
    let (mut idle, head) = raw_head(
        srv.addr,
        "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (mut stream, head) = raw_head(
        srv.addr,
        "GET /events HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)).await,
        "the idle connection stayed open"
    );
    // A bounded look: five idle times later the stream is still open.
    assert!(
        !closed_within(&mut stream, Duration::from_secs(1)).await,
        "the live stream was closed as idle"
    );
}

/// Suspected from reading the code: `/api/runs?per_page=500` answered every run with its
/// log lines (up to 400 KiB each), args and result, hundreds of megabytes at worst. Now an
/// answer holds 4 MiB of full runs; the rest come without logs, args and result, counted in
/// `trimmed`.
#[tokio::test]
async fn the_runs_api_answer_is_bounded_in_bytes() {
    let s = Scheduler::builder().build().unwrap();
    s.register("chatty", |ctx: TaskContext| async move {
        for i in 0..200 {
            ctx.log(format!("{i:04} {}", "x".repeat(2000)));
        }
        Ok(())
    });
    s.add(
        Task::new("chatty", "chatty")
            .every(Duration::from_secs(3600))
            .max_instances(60),
    )
    .await
    .unwrap();
    s.start().unwrap();
    // A burst keeps at most MAX_LOG_LINES_PER_SEC lines a run (100 KB here): sixty runs
    // hold 6 MB.
    for _ in 0..60 {
        s.run_now("chatty").await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while s
        .runs(&RunQuery {
            status: Some(RunStatus::Succeeded),
            ..RunQuery::default()
        })
        .await
        .unwrap()
        .total
        < 60
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the runs did not end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let srv = serve(Dashboard::builder(s.clone())).await;
    let r = srv.get("/api/runs?per_page=500").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.len() < 4_300_000, "{} bytes", r.body.len());
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["total"], 60);
    assert_eq!(v["items"].as_array().unwrap().len(), 60);
    let trimmed = v["trimmed"].as_u64().unwrap();
    assert!(trimmed >= 10, "trimmed {trimmed}");
    let last = &v["items"][59];
    assert_eq!(
        last["omitted"],
        serde_json::json!(["logs", "args", "result"])
    );
    // The full run is one request away.
    let id = last["id"].as_u64().unwrap();
    let one = srv.get(&format!("/api/runs/{id}")).await;
    assert!(one.body.len() > 100_000, "{} bytes", one.body.len());
    s.shutdown(Duration::ZERO).await;
}

/// Suspected from reading the code: the device cookie (which spares a browser the waits that
/// strangers' guesses at its user cause) was a fixed MAC of the username, valid for a year and
/// untouched by "sign out everywhere". Now it carries when it was issued, is issued afresh at
/// each sign-in, and counts for nothing once the user's sessions were all ended after it.
#[tokio::test]
async fn sign_out_everywhere_ends_a_devices_standing() {
    let (s, _c) = scheduler().await;
    let srv = serve(
        Dashboard::builder(s.clone())
            .auth(passwords())
            .secret(SECRET)
            .trust_proxy(LOCAL),
    )
    .await;
    let office = [("x-forwarded-for", "192.0.2.20")];
    let r = login(&srv, "username=admin&password=admin-pw", &office).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let session = cookie_set(&r, "taskdeck_session");
    let device = cookie_set(&r, "taskdeck_device");
    assert_eq!(device.matches('.').count(), 2, "name.issued.mac: {device}");
    // The user ends every session (a lost laptop, say).
    assert_eq!(
        post_as(&srv, "/logout/all", &session).await.status,
        StatusCode::SEE_OTHER
    );
    for i in 0..3 {
        let from = format!("203.0.113.{}", 50 + i);
        let r = login(
            &srv,
            "username=admin&password=x",
            &[("x-forwarded-for", &from)],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = login(
        &srv,
        "username=admin&password=admin-pw",
        &[("x-forwarded-for", "192.0.2.20"), ("cookie", &device)],
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the old device cookie still spared its browser"
    );
}
