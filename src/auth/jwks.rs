//! Verification keys for tokens: one key, a JWKS document (keys by `kid`), or a JWKS URL
//! fetched when needed and again when a token names a key it does not hold (rotation), at
//! most once per `min_refetch`.

#[cfg(feature = "oidc")]
use std::sync::{Arc, RwLock};
#[cfg(feature = "oidc")]
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Keys by id, from a JWKS document.
#[derive(Clone, Default)]
pub(crate) struct KeySet {
    keys: Vec<(Option<String>, DecodingKey)>,
}

impl KeySet {
    /// The keys of a JWKS document. `public_only` refuses symmetric (`oct`) keys: a document
    /// fetched over the network must not hold secrets.
    pub(crate) fn from_jwks(json: &[u8], public_only: bool) -> Result<KeySet, String> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            if public_only && matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
                continue;
            }
            // Keys of kinds this build cannot use are skipped, not fatal: a provider may
            // publish more kinds than it signs with.
            match DecodingKey::from_jwk(jwk) {
                Ok(k) => keys.push((jwk.common.key_id.clone(), k)),
                Err(e) => {
                    tracing::debug!(kid = ?jwk.common.key_id, error = %e, "skipping a JWKS key")
                }
            }
        }
        if keys.is_empty() {
            return Err("the JWKS document has no usable key".into());
        }
        Ok(KeySet { keys })
    }

    #[cfg(feature = "oidc")]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key a token names (`kid`), or the only key when it names none.
    pub(crate) fn find(&self, kid: Option<&str>) -> Option<&DecodingKey> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|(k, _)| k.as_deref() == Some(kid))
                .map(|(_, key)| key),
            None if self.keys.len() == 1 => self.keys.first().map(|(_, k)| k),
            None => None,
        }
    }
}

#[cfg(feature = "oidc")]
/// A JWKS document at a URL, cached. Fetched when first needed; fetched again for a `kid` it
/// lacks, such refetches at most once per `min_refetch` (so a stream of tokens naming made-up
/// keys costs the provider one request per interval).
///
/// The keys expire: after the document's `Cache-Control: max-age` (10 minutes without one),
/// kept between 1 minute (or `min_refetch`, when shorter) and 24 hours. They are fetched again
/// in the background once 80 % of that has passed, and at the latest when they expire, so a
/// key the provider withdrew stops verifying tokens within that time. While the URL cannot be
/// reached, the known keys are kept up to 24 hours past their expiry (logged at WARN once per
/// outage), then dropped.
pub(crate) struct RemoteKeys {
    url: String,
    fetch: crate::fetch::Fetch,
    min_refetch: Duration,
    /// The keys, and when the last fetch that counts against the interval was (one for an
    /// unknown key, or one that failed; `None`: none yet).
    state: RwLock<(Arc<KeySet>, Option<Instant>)>,
    /// When to fetch again in the background, and when the keys expire (none before the
    /// first load).
    life: RwLock<Option<(Instant, Instant)>>,
    /// A background fetch is under way.
    refreshing: std::sync::atomic::AtomicBool,
    /// The outage was logged.
    warned: std::sync::atomic::AtomicBool,
    /// When the last fetch failed: expired keys are not fetched again for [`RETRY_EXPIRED`]
    /// after, so that tokens naming keys cannot make a request to the provider each.
    failed_at: RwLock<Option<Instant>>,
    /// Whether the keys were ever fetched.
    loaded: std::sync::atomic::AtomicBool,
    /// One fetch at a time; others wait for its result.
    fetching: tokio::sync::Mutex<()>,
}

#[cfg(feature = "oidc")]
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);
#[cfg(feature = "oidc")]
const MOST_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
#[cfg(feature = "oidc")]
const LEAST_MAX_AGE: Duration = Duration::from_secs(60);
/// Least time between two fetches of expired keys after one failed.
#[cfg(feature = "oidc")]
const RETRY_EXPIRED: Duration = Duration::from_secs(10);
/// How long past their expiry known keys are kept while the key set cannot be fetched.
#[cfg(feature = "oidc")]
const MOST_STALE: Duration = Duration::from_secs(24 * 3600);

#[cfg(feature = "oidc")]
impl RemoteKeys {
    pub(crate) fn new(
        url: String,
        fetch: crate::fetch::Fetch,
        min_refetch: Duration,
    ) -> RemoteKeys {
        RemoteKeys {
            url,
            fetch,
            min_refetch,
            state: RwLock::new((Arc::new(KeySet::default()), None)),
            life: RwLock::new(None),
            refreshing: std::sync::atomic::AtomicBool::new(false),
            warned: std::sync::atomic::AtomicBool::new(false),
            failed_at: RwLock::new(None),
            loaded: std::sync::atomic::AtomicBool::new(false),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> (Arc<KeySet>, Option<Instant>) {
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        (s.0.clone(), s.1)
    }

    fn life(&self) -> Option<(Instant, Instant)> {
        *self.life.read().unwrap_or_else(|p| p.into_inner())
    }

    /// How long keys fetched with `max_age` are kept.
    fn keep_for(&self, max_age: Option<Duration>) -> Duration {
        let least = LEAST_MAX_AGE.min(self.min_refetch.max(Duration::from_secs(1)));
        max_age
            .unwrap_or(DEFAULT_MAX_AGE)
            .clamp(least, MOST_MAX_AGE)
    }

    /// Fetches the document; on success the keys and their life are replaced.
    async fn load(&self) -> Result<Arc<KeySet>, String> {
        use std::sync::atomic::Ordering;
        let fetched = match self.fetch.get_cached(&self.url).await {
            Ok((body, max_age)) => KeySet::from_jwks(&body, true).map(|k| (k, max_age)),
            Err(e) => Err(e),
        };
        match fetched {
            Ok((keys, max_age)) => {
                let keep = self.keep_for(max_age);
                let now = Instant::now();
                *self.life.write().unwrap_or_else(|p| p.into_inner()) =
                    Some((now + keep.mul_f64(0.8), now + keep));
                tracing::debug!(url = %self.url, keys = keys.len(), keep_s = keep.as_secs(),
                    "fetched the JWKS document");
                let keys = Arc::new(keys);
                self.state.write().unwrap_or_else(|p| p.into_inner()).0 = keys.clone();
                if self.warned.swap(false, Ordering::AcqRel) {
                    tracing::info!(url = %self.url, "the JWKS document can be fetched again");
                }
                Ok(keys)
            }
            Err(e) => {
                *self.failed_at.write().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                // The next background try waits a little, so an outage is not hammered.
                if let Some((_, expires)) = self.life() {
                    let retry = Instant::now() + self.min_refetch.max(Duration::from_secs(10));
                    *self.life.write().unwrap_or_else(|p| p.into_inner()) = Some((retry, expires));
                    if Instant::now() >= expires && !self.warned.swap(true, Ordering::AcqRel) {
                        tracing::warn!(url = %self.url, error = %e,
                            "the JWKS document cannot be fetched: keeping the known keys, at most 24 h past their expiry");
                    }
                }
                Err(e)
            }
        }
    }

    /// Keys that are not expired (fetched again first, when they are), or kept within
    /// [`MOST_STALE`] of their expiry while fetching fails; a background fetch is started
    /// once they are due for one.
    async fn live_keys(self: &Arc<Self>) -> Result<Arc<KeySet>, String> {
        use std::sync::atomic::Ordering;
        let Some((refresh_at, expires)) = self.life() else {
            return Ok(self.current().0);
        };
        let now = Instant::now();
        if now >= expires {
            let stale_ok = now.saturating_duration_since(expires) < MOST_STALE;
            // After a failed fetch, or while another is under way, the known keys serve
            // (within their bound): expired keys are fetched at most every RETRY_EXPIRED.
            let failed_lately = self
                .failed_at
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .is_some_and(|at| {
                    at.elapsed()
                        < RETRY_EXPIRED.min(self.min_refetch.max(Duration::from_millis(100)))
                });
            if stale_ok && failed_lately {
                return Ok(self.current().0);
            }
            let _one = match self.fetching.try_lock() {
                Ok(guard) => guard,
                Err(_) if stale_ok => return Ok(self.current().0),
                Err(_) => self.fetching.lock().await,
            };
            let still = self.life().is_some_and(|(_, e)| Instant::now() >= e);
            if !still {
                return Ok(self.current().0);
            }
            return match self.load().await {
                Ok(keys) => Ok(keys),
                Err(e) if now.saturating_duration_since(expires) < MOST_STALE => {
                    tracing::debug!(error = %e, "using the known keys past their expiry");
                    Ok(self.current().0)
                }
                Err(e) => {
                    self.state.write().unwrap_or_else(|p| p.into_inner()).0 =
                        Arc::new(KeySet::default());
                    Err(format!(
                        "the provider's keys expired a day ago and cannot be fetched: {e}"
                    ))
                }
            };
        }
        if now >= refresh_at && !self.refreshing.swap(true, Ordering::AcqRel) {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let me = self.clone();
                rt.spawn(async move {
                    let _one = me.fetching.lock().await;
                    let _ = me.load().await;
                    me.refreshing.store(false, Ordering::Release);
                });
            } else {
                self.refreshing.store(false, Ordering::Release);
            }
        }
        Ok(self.current().0)
    }

    /// The key for `kid`: from the cache, else after fetching the document again (at most
    /// once per `min_refetch`, whoever asks).
    pub(crate) async fn find(self: &Arc<Self>, kid: Option<&str>) -> Result<DecodingKey, String> {
        let set = self.live_keys().await?;
        if let Some(k) = set.find(kid) {
            return Ok(k.clone());
        }
        let _one = self.fetching.lock().await;
        // Someone else may have fetched while this waited.
        let (set, fetched_now) = self.current();
        if let Some(k) = set.find(kid) {
            return Ok(k.clone());
        }
        use std::sync::atomic::Ordering;
        let first = !self.loaded.load(Ordering::Acquire);
        // After the first load, or after any failed fetch, wait an interval before the next
        // (failures at most 10 s, so that a provider back up is used soon).
        if let Some(at) = fetched_now {
            let wait = if first {
                self.min_refetch.min(Duration::from_secs(10))
            } else {
                self.min_refetch
            };
            if at.elapsed() < wait {
                return Err(format!("no key {kid:?} in the provider's key set"));
            }
        }
        let fresh = match self.load().await {
            Ok(f) => f,
            Err(e) => {
                let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
                st.1 = Some(Instant::now());
                return Err(e);
            }
        };
        let found = fresh.find(kid).cloned();
        let refetched = if first { None } else { Some(Instant::now()) };
        self.state.write().unwrap_or_else(|p| p.into_inner()).1 = refetched;
        self.loaded.store(true, Ordering::Release);
        found.ok_or_else(|| format!("no key {kid:?} in the provider's key set"))
    }
}

/// The algorithm family names accept, as written in tokens (`RS256`, …).
pub(crate) fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    use std::str::FromStr as _;
    match Algorithm::from_str(name) {
        Ok(a) => Ok(a),
        Err(_) => Err(format!(
            "unknown JWT algorithm {name:?}; expected one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
        )),
    }
}
