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
    /// The facade's handles for `requests`, registered at the first request (with the
    /// recorder installed by then): building a labelled key per request would allocate.
    #[cfg(feature = "metrics")]
    facade: std::sync::OnceLock<Vec<[metrics::Counter; 5]>>,
}

impl Default for WebMetrics {
    fn default() -> Self {
        WebMetrics {
            requests: (0..=ROUTES.len())
                .map(|_| std::array::from_fn(|_| AtomicU64::new(0)))
                .collect(),
            sign_ins: Mutex::default(),
            refusals: Mutex::default(),
            #[cfg(feature = "metrics")]
            facade: std::sync::OnceLock::new(),
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

/// Most distinct label values kept per family; later ones count as `other`. The built-in
/// backends' names and reasons are a few dozen literals, but a backend of the application's
/// could make up new ones.
const MAX_KEYS: usize = 64;

/// Counts one for `key` (or `other`, past the bound); returns the label value used.
fn bump<'k>(map: &Mutex<BTreeMap<String, u64>>, key: &'k str) -> &'k str {
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(n) = m.get_mut(key) {
        *n += 1;
        return key;
    }
    let key = if m.len() < MAX_KEYS { key } else { "other" };
    *m.entry(key.to_string()).or_insert(0) += 1;
    key
}

impl WebMetrics {
    /// A request answered with `status`, by `route` (`None`: no route matched).
    pub(crate) fn request(&self, route: Option<&'static Route>, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[row(route)][class].fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.facade.get_or_init(|| {
            (0..=ROUTES.len())
                .map(|i| {
                    let (method, path) = ROUTES
                        .get(i)
                        .map_or(("", "unmatched"), |r| (r.method.as_str(), r.path));
                    std::array::from_fn(|c| {
                        metrics::counter!("taskdeck_http_requests_total", "method" => method, "route" => path, "class" => CLASSES[c])
                    })
                })
                .collect()
        })[row(route)][class]
            .increment(1);
    }

    /// A user signed in `via` a backend.
    pub(crate) fn signed_in(&self, via: &str) {
        let _via = bump(&self.sign_ins, via);
        #[cfg(feature = "metrics")]
        metrics::counter!("taskdeck_sign_ins_total", "via" => _via.to_string()).increment(1);
    }

    /// A sign-in refused, for `reason`.
    pub(crate) fn refused(&self, reason: &str) {
        let _reason = bump(&self.refusals, reason);
        #[cfg(feature = "metrics")]
        metrics::counter!("taskdeck_sign_in_refusals_total", "reason" => _reason.to_string())
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
