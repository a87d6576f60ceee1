//! Thin framework adapters, behind cargo features. They translate types and report where the
//! dashboard is mounted ([`crate::MountedAt`]) and who the client is ([`crate::ClientAddr`]);
//! every behaviour lives in the core.

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "axum")]
pub mod axum;
