//! taskdeck: an embeddable task scheduler.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod scheduler;

pub use backend::{
    BackendError, BackendFuture, BulkAction, BulkOutcome, SchedulerStatus, TaskBackend, TaskDetail,
    TriggerPreview,
};
pub use scheduler::*;
