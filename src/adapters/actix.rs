//! Mounting the dashboard in an actix-web 4 app.
//!
//! ```no_run
//! # async fn f(scheduler: taskdeck::Scheduler) -> Result<(), Box<dyn std::error::Error>> {
//! use actix_web::{App, HttpServer};
//! let dashboard = taskdeck::Dashboard::builder(scheduler.clone()).build()?;
//! HttpServer::new(move || {
//!     App::new().service(taskdeck::actix::scope("/admin", dashboard.clone()).expect("a clean prefix"))
//! })
//! .bind(("127.0.0.1", 8000))?
//! .run()
//! .await?;
//! # Ok(())
//! # }
//! ```
//!
//! actix-web uses `http` 0.2 types; this adapter converts requests and responses to and from
//! `http` 1.x, streams request and response bodies (the event stream flows through it), and
//! reports the scope's path as the mount prefix and the peer address as the client.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_core::Stream;
use http_body::{Body as _, Frame};

use crate::links::MountPrefix;
use crate::web::{Body, ClientAddr, ConfigError, Dashboard, MountedAt};

/// An actix scope at `path` that serves the dashboard. Refuses `/` (serve the dashboard
/// directly, or use [`default_service`]) and unclean prefixes, saying why.
pub fn scope(path: &str, dashboard: Dashboard) -> Result<actix_web::Scope, ConfigError> {
    let prefix = MountPrefix::new(path).map_err(ConfigError::Prefix)?;
    if prefix.is_root() {
        return Err(ConfigError::Mount(
            "cannot mount the dashboard in a scope at \"/\"; use \
             App::default_service(taskdeck::actix::default_service(dashboard)) for the root, or a \
             scope like \"/admin\""
                .into(),
        ));
    }
    Ok(web::scope(prefix.as_str()).default_service(route(dashboard, Some(prefix))))
}

/// A route answering every request with the dashboard, for `App::default_service` (the
/// dashboard at the root, with its configured prefix).
pub fn default_service(dashboard: Dashboard) -> actix_web::Route {
    route(dashboard, None)
}

fn route(dashboard: Dashboard, prefix: Option<MountPrefix>) -> actix_web::Route {
    web::to(move |req: HttpRequest, payload: web::Payload| {
        let dashboard = dashboard.clone();
        let prefix = prefix.clone();
        async move { handle(dashboard, prefix, req, payload).await }
    })
}

async fn handle(
    dashboard: Dashboard,
    prefix: Option<MountPrefix>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let mut b = http::Request::builder()
        .method(req.method().as_str())
        .uri(req.uri().to_string());
    for (k, v) in req.headers() {
        b = b.header(k.as_str(), v.as_bytes());
    }
    let Ok(mut request) = b.body(PayloadBody(payload)) else {
        return HttpResponse::BadRequest().body("400 Bad Request: malformed request\n");
    };
    if let Some(p) = prefix {
        request.extensions_mut().insert(MountedAt(p));
    }
    if let Some(addr) = req.peer_addr() {
        request.extensions_mut().insert(ClientAddr(addr));
    }
    let resp = dashboard.handle(request).await;
    let status = actix_web::http::StatusCode::from_u16(resp.status().as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = HttpResponse::build(status);
    for (k, v) in resp.headers() {
        out.append_header((k.as_str(), v.as_bytes()));
    }
    match resp.into_body().into_bytes() {
        Ok(bytes) => out.body(bytes),
        Err(stream) => out.streaming(BodyStream(stream)),
    }
}

/// actix's request payload as an `http_body::Body`.
struct PayloadBody(web::Payload);

impl http_body::Body for PayloadBody {
    type Data = Bytes;
    type Error = PayloadError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, PayloadError>>> {
        Pin::new(&mut self.0)
            .poll_next(cx)
            .map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// Our streaming body as the stream actix sends.
struct BodyStream(Body);

impl Stream for BodyStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match Pin::new(&mut self.0).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => Poll::Ready(Some(Ok(data))),
                    Err(_) => continue,
                },
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}
