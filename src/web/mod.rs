//! The web half: a hand-written hyper service over [`crate::TaskBackend`].
//!
//! See [`Dashboard`] for the request pipeline and the crate docs for the URL map.

mod api;
mod assets;
mod builder;
mod dashboard;
mod form;
mod fragments;
mod gate;
mod handlers;
mod json;
mod login;
mod pages;
mod prefix;
mod request;
mod response;
mod router;
mod serve;
mod sse;

pub(crate) use assets::Assets;
pub use builder::{ConfigError, DashboardBuilder};
pub use dashboard::{ClientAddr, Dashboard, MountedAt};
pub(crate) use form::{FieldErrors, TaskForm};
pub(crate) use fragments::{Fragments, Holes, Level};
pub(crate) use gate::cookie;
pub(crate) use prefix::{segment, Urls};
pub use prefix::{MountPrefix, PrefixError};
pub use response::Body;
