//! Capturing the `tracing` events a job emits into its run's log lines.
//!
//! Each attempt runs inside a tokio task-local holding its log buffer. With the
//! `tracing-layer` feature, [`RunLogLayer`](crate::RunLogLayer) appends every event emitted on
//! that task to the buffer. Events from tasks the job spawns itself are not captured (they run
//! outside the task-local); log through [`crate::TaskContext::log`] there.

use std::future::Future;

use super::history::LogBuffer;

#[cfg(feature = "tracing-layer")]
tokio::task_local! {
    static CURRENT: LogBuffer;
}

/// Runs `fut` with `logs` as the current run's buffer.
#[cfg(feature = "tracing-layer")]
pub(crate) fn scope<F: Future>(logs: LogBuffer, fut: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(logs, fut)
}

/// Without the layer there is nothing to capture into.
#[cfg(not(feature = "tracing-layer"))]
pub(crate) fn scope<F: Future>(_logs: LogBuffer, fut: F) -> F {
    fut
}

#[cfg(feature = "tracing-layer")]
pub use layer::RunLogLayer;

#[cfg(feature = "tracing-layer")]
mod layer {
    use std::fmt::{self, Write as _};

    use tracing::field::{Field, Visit};
    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::layer::{Context, Layer};

    use super::CURRENT;
    use crate::scheduler::history::LogLevel;

    /// A `tracing` layer that copies events emitted inside a run into the run's log lines.
    ///
    /// Install it next to your usual layers; outside runs it does nothing.
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    /// tracing_subscriber::registry().with(taskdeck::RunLogLayer::new()).init();
    /// ```
    #[derive(Clone, Copy, Debug, Default)]
    pub struct RunLogLayer {
        _private: (),
    }

    impl RunLogLayer {
        /// The layer.
        pub fn new() -> Self {
            RunLogLayer { _private: () }
        }
    }

    impl<S: Subscriber> Layer<S> for RunLogLayer {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            // Cheap outside runs: one task-local probe.
            let _ = CURRENT.try_with(|buf| {
                let mut line = Line::default();
                event.record(&mut line);
                let level = match *event.metadata().level() {
                    Level::ERROR => LogLevel::Error,
                    Level::WARN => LogLevel::Warn,
                    Level::INFO => LogLevel::Info,
                    _ => LogLevel::Debug,
                };
                buf.push(jiff::Timestamp::now(), level, &line.text);
            });
        }
    }

    /// "message key=value key=value".
    #[derive(Default)]
    struct Line {
        text: String,
    }

    impl Visit for Line {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                self.text.insert_str(0, value);
            } else {
                let _ = write!(self.text, " {}={}", field.name(), value);
            }
        }

        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                let msg = format!("{value:?}");
                self.text.insert_str(0, &msg);
            } else {
                let _ = write!(self.text, " {}={:?}", field.name(), value);
            }
        }
    }
}
