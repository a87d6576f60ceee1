//! The web half: a hand-written hyper service over [`crate::TaskBackend`].
//!
//! See [`Dashboard`] for the request pipeline and the crate docs for the URL map.

mod api;
mod assets;
mod builder;
mod client;
mod conns;
mod context;
mod dashboard;
mod form;
mod gate;
mod handlers;
mod jobs;
mod json;
mod login;
mod metrics;
mod pages;
mod previews;
mod ready;
mod request;
mod response;
mod routes;
mod run_with;
mod serve;
mod sessions;
mod sse;
mod timeline;

pub use builder::{ConfigError, DashboardBuilder};
pub use dashboard::{ClientAddr, Dashboard, MountedAt};
pub use response::Body;

#[cfg(test)]
pub(crate) use client::{real_client, ClientHeader};
#[cfg(test)]
pub(crate) use request::Params;
