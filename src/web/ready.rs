//! Answers that strangers may ask for as often as they like but that cost the store a query:
//! `/health/ready` and the cluster part of `/metrics`. Each is kept for a while, and callers
//! that arrive while it is asked wait for that answer rather than ask again.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::scheduler::{Readiness, ReadinessCheck};
use crate::seam::TaskBackend;

/// One answer, reused for `fresh` after it was made.
#[derive(Debug)]
pub(crate) struct Kept<T> {
    last: tokio::sync::Mutex<Option<(Instant, T)>>,
    fresh: Duration,
}

impl<T: Clone> Kept<T> {
    pub(crate) fn new(fresh: Duration) -> Kept<T> {
        Kept {
            last: tokio::sync::Mutex::new(None),
            fresh,
        }
    }

    /// The kept answer while fresh, else `make`'s (kept when it is `Ok`).
    pub(crate) async fn get<E, F>(&self, make: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, v)) = &*last {
            if at.elapsed() < self.fresh {
                return Ok(v.clone());
            }
        }
        let v = make.await?;
        *last = Some((Instant::now(), v.clone()));
        Ok(v)
    }
}

/// `/health/ready`'s answer: asked at most once a second, each check within `bound`.
#[derive(Debug)]
pub(crate) struct ReadyCache {
    kept: Kept<Readiness>,
    bound: Duration,
}

impl ReadyCache {
    pub(crate) fn new(bound: Duration) -> ReadyCache {
        ReadyCache {
            kept: Kept::new(Duration::from_secs(1)),
            bound,
        }
    }

    /// The readiness of `backend`, from the last second's answer when there is one.
    pub(crate) async fn get(&self, backend: &dyn TaskBackend) -> Readiness {
        let ask = async {
            // A backend that ignores the bound still gets an answer in time.
            let answer = tokio::time::timeout(self.bound * 2, backend.readiness(self.bound)).await;
            let r = match answer {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "readiness: the backend failed to answer");
                    failed("failed to answer (the error is logged)".into())
                }
                Err(_) => failed(format!(
                    "did not answer within {} ms",
                    (self.bound * 2).as_millis()
                )),
            };
            Ok::<_, std::convert::Infallible>(r)
        };
        match self.kept.get(ask).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }
}

fn failed(detail: String) -> Readiness {
    Readiness::from_checks(vec![ReadinessCheck {
        name: "backend",
        ok: false,
        detail,
    }])
}
