//! Mounting the dashboard in an axum 0.8 app.
//!
//! ```no_run
//! # async fn f(scheduler: taskdeck::Scheduler) -> Result<(), Box<dyn std::error::Error>> {
//! use axum::Router;
//! let dashboard = taskdeck::Dashboard::builder(scheduler.clone()).build()?;
//! let app: Router = Router::new().nest_service("/jobs", dashboard.into_axum());
//! # Ok(())
//! # }
//! ```
//!
//! The adapter reads axum's `NestedPath` (so links and redirects carry `/jobs`, also when
//! nested several levels deep), its `OriginalUri`, and `ConnectInfo<SocketAddr>` when the app
//! is served with `into_make_service_with_connect_info` (needed to trust a proxy's headers).
//! Do not nest at `/`: axum refuses it; use `Router::fallback_service(dashboard.into_axum())`
//! for a dashboard at the root, or [`nest`] which says so in an error.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, NestedPath, OriginalUri, Request};
use axum::response::Response;

use crate::links::MountPrefix;
use crate::web::{ClientAddr, ConfigError, Dashboard, MountedAt};

/// The dashboard as a tower service for axum: see [`Dashboard::into_axum`].
#[derive(Clone, Debug)]
pub struct AxumService {
    dashboard: Dashboard,
}

impl Dashboard {
    /// This dashboard as a service for `axum::Router::nest_service` or `fallback_service`.
    pub fn into_axum(self) -> AxumService {
        AxumService { dashboard: self }
    }
}

/// `router.nest_service(path, dashboard)`, refusing a path axum would reject or that is not a
/// clean prefix, with a message saying what to do instead.
pub fn nest<S>(
    router: axum::Router<S>,
    path: &str,
    dashboard: Dashboard,
) -> Result<axum::Router<S>, ConfigError>
where
    S: Clone + Send + Sync + 'static,
{
    let prefix = MountPrefix::new(path).map_err(ConfigError::Prefix)?;
    if prefix.is_root() {
        return Err(ConfigError::Mount(
            "cannot nest the dashboard at \"/\"; use Router::fallback_service(dashboard.into_axum()) \
             for the root, or nest it at a path like \"/jobs\""
                .into(),
        ));
    }
    Ok(router.nest_service(prefix.as_str(), dashboard.into_axum()))
}

impl tower_service::Service<Request> for AxumService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let dashboard = self.dashboard.clone();
        let ext = req.extensions();
        let mounted = ext
            .get::<NestedPath>()
            .and_then(|n| match MountPrefix::new(n.as_str()) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(error = %e, "unusable axum nest path; links use the configured prefix");
                    None
                }
            });
        let client = ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        let original = ext.get::<OriginalUri>().map(|o| o.0.clone());
        if let Some(p) = mounted {
            req.extensions_mut().insert(MountedAt(p));
            // The original URI still carries the nest path; the core strips it, and can tell
            // `/jobs` (redirect to `/jobs/`) from `/jobs/`.
            if let Some(uri) = original {
                *req.uri_mut() = uri;
            }
        }
        if let Some(addr) = client {
            req.extensions_mut().insert(ClientAddr(addr));
        }
        Box::pin(async move {
            let resp = dashboard.handle(req).await;
            Ok(resp.map(axum::body::Body::new))
        })
    }
}
