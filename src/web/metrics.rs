//! What this process's dashboard answered since it started: requests per route and status
//! class, sign-ins and refused sign-ins. Written into `/metrics` beside the scheduler's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::routes::{Route, ROUTES};
use crate::metrics::Text;

/// Status classes counted: 1xx to 5xx.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Debug)]
pub(crate) struct WebMetrics {
    /// One row per route of [`ROUTES`], then one for requests no route matched.
    requests: Vec<[AtomicU64; 5]>,
    /// Sign-ins by the way in (`password`, `oidc`, …).
    sign_ins: Mutex<BTreeMap<String, u64>>,
    /// Refused sign-ins by reason (`login_failed`, `login_throttled`, `oidc_wrong_nonce`, …).
    refusals: Mutex<BTreeMap<String, u64>>,
}

impl Default for WebMetrics {
    fn default() -> Self {
        WebMetrics {
            requests: (0..=ROUTES.len())
                .map(|_| std::array::from_fn(|_| AtomicU64::new(0)))
                .collect(),
            sign_ins: Mutex::default(),
            refusals: Mutex::default(),
        }
    }
}

/// The row of `route`: its place in the table (found by address, no search).
fn row(route: Option<&'static Route>) -> usize {
    match route {
        Some(r) => {
            let offset = (r as *const Route as usize).wrapping_sub(ROUTES.as_ptr() as usize);
            (offset / std::mem::size_of::<Route>()).min(ROUTES.len())
        }
        None => ROUTES.len(),
    }
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: &str) {
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    match m.get_mut(key) {
        Some(n) => *n += 1,
        // The keys are the backends' own names and reasons: a bounded set.
        None => {
            m.insert(key.to_string(), 1);
        }
    }
}

impl WebMetrics {
    /// A request answered with `status`, by `route` (`None`: no route matched).
    pub(crate) fn request(&self, route: Option<&'static Route>, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[row(route)][class].fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        {
            let (method, path) = route.map_or(("", "unmatched"), |r| (r.method.as_str(), r.path));
            metrics::counter!("taskdeck_http_requests_total", "method" => method, "route" => path, "class" => CLASSES[class])
                .increment(1);
        }
    }

    /// A user signed in `via` a backend.
    pub(crate) fn signed_in(&self, via: &str) {
        bump(&self.sign_ins, via);
        #[cfg(feature = "metrics")]
        metrics::counter!("taskdeck_sign_ins_total", "via" => via.to_string()).increment(1);
    }

    /// A sign-in refused, for `reason`.
    pub(crate) fn refused(&self, reason: &str) {
        bump(&self.refusals, reason);
        #[cfg(feature = "metrics")]
        metrics::counter!("taskdeck_sign_in_refusals_total", "reason" => reason.to_string())
            .increment(1);
    }

    /// The families, each present even before its first sample.
    pub(crate) fn write(&self, t: &mut Text, sse_clients: usize) {
        t.family(
            "taskdeck_http_requests_total",
            "counter",
            "Dashboard requests this process answered, by route and status class. Per process: sum() across replicas.",
        );
        for (i, counts) in self.requests.iter().enumerate() {
            let (method, path) = ROUTES
                .get(i)
                .map_or(("", "unmatched"), |r| (r.method.as_str(), r.path));
            for (class, n) in CLASSES.iter().zip(counts) {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    t.sample(
                        "taskdeck_http_requests_total",
                        &[("method", method), ("route", path), ("class", class)],
                        n,
                    );
                }
            }
        }
        t.family(
            "taskdeck_sign_ins_total",
            "counter",
            "Sign-ins this process accepted, by way in. Per process: sum() across replicas.",
        );
        for (via, n) in self
            .sign_ins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            t.sample("taskdeck_sign_ins_total", &[("via", via)], n);
        }
        t.family(
            "taskdeck_sign_in_refusals_total",
            "counter",
            "Sign-ins this process refused, by reason. Per process: sum() across replicas.",
        );
        for (reason, n) in self
            .refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            t.sample("taskdeck_sign_in_refusals_total", &[("reason", reason)], n);
        }
        t.family(
            "taskdeck_sse_clients",
            "gauge",
            "Live-update streams open on this process now. Per process: sum() across replicas.",
        );
        t.sample("taskdeck_sse_clients", &[], sse_clients);
    }
}
