//! A dashboard on a real socket, and a small HTTP client for the end-to-end tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use taskdeck::{Dashboard, DashboardBuilder, ManualClock, Scheduler, Task, TaskContext};
use tokio::sync::oneshot;

pub(crate) const T0: &str = "2026-03-02T09:00:00Z";

/// A scheduler with a manual clock and a few tasks.
pub(crate) async fn scheduler() -> (Scheduler, ManualClock) {
    let clock = ManualClock::new(T0.parse().unwrap());
    let s = Scheduler::builder()
        .clock(clock.clone())
        .timezone("Europe/Berlin")
        .build()
        .unwrap();
    s.register("report", |ctx: TaskContext| async move {
        ctx.log("report sent");
        Ok(())
    });
    s.register("fail", |_ctx: TaskContext| async move {
        Err("upstream said 503".into())
    });
    s.add(
        Task::new("alpha", "report")
            .name("Alpha report")
            .every(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    s.add(Task::new("beta", "fail").cron("0 3 * * *").unwrap())
        .await
        .unwrap();
    s.add(
        Task::new("gamma", "report")
            .every(Duration::from_secs(30))
            .paused(true),
    )
    .await
    .unwrap();
    s.start().unwrap();
    (s, clock)
}

/// A running server; stops when dropped.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub(crate) async fn serve(builder: DashboardBuilder) -> Server {
    serve_dashboard(builder.build().unwrap()).await
}

pub(crate) async fn serve_dashboard(d: Dashboard) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        d.serve_listener(listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server {
        addr,
        stop: Some(tx),
        client: Client::builder(TokioExecutor::new()).build_http(),
    }
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    /// The CSRF token in the page's first form.
    pub(crate) fn csrf(&self) -> String {
        self.body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .expect("a form with a CSRF token")
            .split('"')
            .next()
            .unwrap()
            .to_string()
    }

    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// Every `href`, `src`, `action` and `formaction` value in the page.
    pub(crate) fn links(&self) -> Vec<String> {
        let mut out = Vec::new();
        for attr in [
            " href=\"",
            " src=\"",
            " action=\"",
            " formaction=\"",
            " data-events=\"",
        ] {
            let mut rest = self.body.as_str();
            while let Some(i) = rest.find(attr) {
                rest = &rest[i + attr.len()..];
                let end = rest.find('"').unwrap();
                out.push(rest[..end].replace("&amp;", "&"));
                rest = &rest[end..];
            }
        }
        out
    }
}

impl Server {
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.addr, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .expect("response within 10s")
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// A GET with a cookie (a signed-in browser's).
    pub(crate) async fn get_as(&self, path: &str, cookie: &str) -> Reply {
        self.request(Method::GET, path, &[("cookie", cookie)], "")
            .await
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, &[], "").await
    }

    /// A form post as a same-origin browser sends it.
    pub(crate) async fn post_form(&self, path: &str, form: &str) -> Reply {
        self.request(
            Method::POST,
            path,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("sec-fetch-site", "same-origin"),
            ],
            form,
        )
        .await
    }

    /// A same-origin form post with a session cookie and its CSRF token.
    pub(crate) async fn post_signed_in(
        &self,
        path: &str,
        cookie: &str,
        csrf: &str,
        form: &str,
    ) -> Reply {
        let body = if form.is_empty() {
            format!("csrf={csrf}")
        } else {
            format!("csrf={csrf}&{form}")
        };
        self.request(
            Method::POST,
            path,
            &[
                ("cookie", cookie),
                ("content-type", "application/x-www-form-urlencoded"),
                ("sec-fetch-site", "same-origin"),
            ],
            &body,
        )
        .await
    }

    pub(crate) async fn post_json(&self, method: Method, path: &str, json: &str) -> Reply {
        self.request(method, path, &[("content-type", "application/json")], json)
            .await
    }
}

/// A client for a server someone else runs (an adapter's, a proxy).
pub(crate) fn client_for(addr: SocketAddr) -> Server {
    Server {
        addr,
        stop: None,
        client: Client::builder(TokioExecutor::new()).build_http(),
    }
}

/// The password backend the walks sign in with: user `admin`, password `admin-pw`.
pub(crate) fn admin_login() -> taskdeck::PasswordBackend {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = HASH.get_or_init(|| taskdeck::PasswordBackend::hash("admin-pw").unwrap());
    taskdeck::PasswordBackend::new()
        .user("admin", hash, taskdeck::Role::Admin)
        .unwrap()
}

/// One mount to walk: requests go to `request_base` on `srv` (with `headers`), and every URL
/// the dashboard hands out must carry `public_base`.
pub(crate) struct Walk<'a> {
    pub(crate) what: &'a str,
    pub(crate) srv: &'a Server,
    pub(crate) request_base: &'a str,
    pub(crate) public_base: &'a str,
    pub(crate) headers: &'a [(&'a str, &'a str)],
}

impl Walk<'_> {
    fn to_request_path(&self, public: &str) -> String {
        let rest = public
            .strip_prefix(self.public_base)
            .unwrap_or_else(|| panic!("{}: {public:?} is outside {}", self.what, self.public_base));
        format!("{}{rest}", self.request_base)
    }

    async fn send(&self, method: Method, path: &str, extra: &[(&str, &str)], body: &str) -> Reply {
        let headers: Vec<(&str, &str)> = self.headers.iter().chain(extra).copied().collect();
        self.srv.request(method, path, &headers, body).await
    }

    fn assert_links(&self, r: &Reply, page: &str) {
        let links = r.links();
        assert!(!links.is_empty(), "{}: {page} has links", self.what);
        for l in links.iter().filter(|l| !l.starts_with('#')) {
            assert!(
                l.starts_with(&format!("{}/", self.public_base)),
                "{}: {page} links to {l:?}, outside {}",
                self.what,
                self.public_base
            );
        }
    }

    /// Login redirect, login, pages, assets, an action with CSRF, the event stream, logout.
    pub(crate) async fn run(&self, scheduler: &taskdeck::Scheduler) {
        let (req, public, what) = (self.request_base, self.public_base, self.what);
        let cookie_path = if public.is_empty() { "/" } else { public };

        if !req.is_empty() {
            let r = self.send(Method::GET, &format!("{req}?a=1"), &[], "").await;
            assert_eq!(
                r.status,
                StatusCode::PERMANENT_REDIRECT,
                "{what}: bare prefix"
            );
            assert_eq!(r.header("location"), format!("{public}/?a=1"), "{what}");
        }
        let r = self
            .send(Method::GET, &format!("{req}/tasks?q=al"), &[], "")
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{what}: gate");
        let next = format!("{public}/tasks?q=al");
        let want = format!(
            "{public}/login?next={}",
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        assert_eq!(r.header("location"), want, "{what}: login redirect");

        let login = self
            .send(Method::GET, &self.to_request_path(&want), &[], "")
            .await;
        assert_eq!(login.status, StatusCode::OK, "{what}: login page");
        self.assert_links(&login, "login");
        assert!(
            login.body.contains(&format!("value=\"{next}\"")),
            "{what}: next kept"
        );

        let form = format!(
            "username=admin&password=admin-pw&next={}",
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        let r = self
            .send(
                Method::POST,
                &format!("{req}/login"),
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("sec-fetch-site", "same-origin"),
                ],
                &form,
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{what}: login: {}", r.body);
        assert_eq!(r.header("location"), next, "{what}: lands on next");
        let set = r.header("set-cookie").to_string();
        assert!(
            set.contains(&format!("Path={cookie_path};")),
            "{what}: cookie path in {set}"
        );
        let cookie = set.split(';').next().unwrap().to_string();
        let with = [("cookie", cookie.as_str())];

        let mut csrf = String::new();
        for page in [
            "/",
            "/tasks",
            "/tasks/alpha",
            "/runs",
            "/tasks/new",
            "/audit",
        ] {
            let r = self
                .send(Method::GET, &format!("{req}{page}"), &with, "")
                .await;
            assert_eq!(r.status, StatusCode::OK, "{what}: {page}");
            self.assert_links(&r, page);
            if csrf.is_empty() {
                csrf = r
                    .body
                    .split("name=\"csrf\" value=\"")
                    .nth(1)
                    .map(|s| s.split('"').next().unwrap().to_string())
                    .unwrap_or_default();
            }
            if page == "/" {
                for asset in r.links().iter().filter(|l| l.contains("/assets/")) {
                    let a = self
                        .send(Method::GET, &self.to_request_path(asset), &[], "")
                        .await;
                    assert_eq!(a.status, StatusCode::OK, "{what}: asset {asset}");
                }
            }
        }
        assert!(!csrf.is_empty(), "{what}: pages carry a CSRF token");

        let r = self
            .send(
                Method::POST,
                &format!("{req}/tasks/alpha/pause"),
                &[
                    ("cookie", cookie.as_str()),
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("sec-fetch-site", "same-origin"),
                ],
                &format!("csrf={csrf}&back=%2Ftasks%3Fq%3Dal"),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "{what}: action: {}",
            r.body
        );
        assert_eq!(
            r.header("location"),
            format!("{public}/tasks?q=al"),
            "{what}: back"
        );
        assert!(
            r.header("set-cookie")
                .contains(&format!("Path={cookie_path};")),
            "{what}: flash path"
        );
        assert!(
            scheduler.get("alpha").await.unwrap().task.paused,
            "{what}: paused"
        );

        self.event_stream(&cookie, scheduler).await;

        let r = self
            .send(
                Method::POST,
                &format!("{req}/logout"),
                &[
                    ("cookie", cookie.as_str()),
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("sec-fetch-site", "same-origin"),
                ],
                &format!("csrf={csrf}"),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{what}: logout");
        assert_eq!(r.header("location"), format!("{public}/login"), "{what}");
        let cleared = r.header("set-cookie");
        assert!(
            cleared.contains("Max-Age=0") && cleared.contains(&format!("Path={cookie_path};")),
            "{what}: {cleared}"
        );
        scheduler.resume("alpha").await.unwrap();
    }

    async fn event_stream(&self, cookie: &str, scheduler: &taskdeck::Scheduler) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stream = tokio::net::TcpStream::connect(self.srv.addr).await.unwrap();
        let (mut rd, mut wr) = stream.into_split();
        let mut head = format!(
            "GET {}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n",
            self.request_base
        );
        for (k, v) in self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        wr.write_all(head.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut poked = false;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = String::from_utf8_lossy(&buf).to_string();
            if text.contains("event: task_resumed") {
                break;
            }
            if !poked && text.contains(": connected") {
                assert!(
                    text.to_ascii_lowercase()
                        .contains("content-type: text/event-stream"),
                    "{}: {text}",
                    self.what
                );
                scheduler.resume("alpha").await.unwrap();
                poked = true;
            }
            let n = tokio::time::timeout_at(deadline, rd.read(&mut chunk))
                .await
                .unwrap_or_else(|_| panic!("{}: no event within 10 s; got {text:?}", self.what))
                .unwrap();
            assert!(n > 0, "{}: stream closed: {text:?}", self.what);
            buf.extend_from_slice(&chunk[..n]);
        }
        scheduler.pause("alpha").await.unwrap();
    }
}

/// Runs `cmd` with `input` on its standard input; its output, whatever its exit status.
pub(crate) fn run_with_input(mut cmd: std::process::Command, input: &[u8]) -> std::process::Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The value of the sample written exactly as `series` (name and labels) in a Prometheus text.
pub(crate) fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
        .parse()
        .unwrap()
}

/// Percent-encodes a query or form value.
#[allow(dead_code)]
pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Signs `user` in with the password form; the session cookie and the CSRF token `page`
/// carries.
#[allow(dead_code)]
pub(crate) async fn sign_in_at(srv: &Server, user: &str, pw: &str, page: &str) -> (String, String) {
    let r = srv
        .post_form("/login", &format!("username={user}&password={pw}"))
        .await;
    assert_eq!(r.status, http::StatusCode::SEE_OTHER, "{user} signs in");
    let cookie = r
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = srv.get_as(page, &cookie).await.csrf();
    (cookie, csrf)
}

/// The run `id` once it has ended (within 10 s).
#[allow(dead_code)]
pub(crate) async fn ended(s: &taskdeck::Scheduler, id: u64) -> taskdeck::RunRecord {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = s.run(id).await.unwrap();
        if r.status.is_finished() {
            return r;
        }
        assert!(tokio::time::Instant::now() < deadline, "run {id} ended");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl Server {
    /// A JSON API request with a session cookie and its CSRF token.
    #[allow(dead_code)]
    pub(crate) async fn api_as(
        &self,
        method: Method,
        path: &str,
        (cookie, csrf): (&str, &str),
        body: &str,
    ) -> Reply {
        let headers = [
            ("cookie", cookie),
            ("x-csrf-token", csrf),
            ("content-type", "application/json"),
        ];
        self.request(method, path, &headers, body).await
    }
}
