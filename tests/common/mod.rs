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

    pub(crate) async fn post_json(&self, method: Method, path: &str, json: &str) -> Reply {
        self.request(method, path, &[("content-type", "application/json")], json)
            .await
    }
}
