//! `GET /health/ready`: the backend's readiness, asked at most once a second however many
//! probes (or strangers: the route is open) call.

use std::time::{Duration, Instant};

use crate::scheduler::{Readiness, ReadinessCheck};
use crate::seam::TaskBackend;

/// How long an answer is reused.
const FRESH: Duration = Duration::from_secs(1);

/// The last answer, and the bound each check gets.
#[derive(Debug)]
pub(crate) struct ReadyCache {
    last: tokio::sync::Mutex<Option<(Instant, Readiness)>>,
    bound: Duration,
}

impl ReadyCache {
    pub(crate) fn new(bound: Duration) -> ReadyCache {
        ReadyCache {
            last: tokio::sync::Mutex::new(None),
            bound,
        }
    }

    /// The readiness of `backend`, from the last second's answer when there is one. Callers
    /// that arrive while it is asked wait for that answer rather than ask again.
    pub(crate) async fn get(&self, backend: &dyn TaskBackend) -> Readiness {
        let mut last = self.last.lock().await;
        if let Some((at, r)) = &*last {
            if at.elapsed() < FRESH {
                return r.clone();
            }
        }
        // A backend that ignores the bound still gets an answer in time.
        let answer = tokio::time::timeout(self.bound * 2, backend.readiness(self.bound)).await;
        let r = match answer {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: the backend failed to answer");
                Readiness::from_checks(vec![ReadinessCheck {
                    name: "backend",
                    ok: false,
                    detail: "failed to answer (the error is logged)".into(),
                }])
            }
            Err(_) => Readiness::from_checks(vec![ReadinessCheck {
                name: "backend",
                ok: false,
                detail: format!("did not answer within {} ms", (self.bound * 2).as_millis()),
            }]),
        };
        *last = Some((Instant::now(), r.clone()));
        r
    }
}
