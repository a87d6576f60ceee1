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
pub(crate) struct RemoteKeys {
    url: String,
    fetch: crate::fetch::Fetch,
    min_refetch: Duration,
    /// The keys, and when the last fetch that counts against the interval was (one for an
    /// unknown key, or one that failed; `None`: none yet).
    state: RwLock<(Arc<KeySet>, Option<Instant>)>,
    /// Whether the keys were ever fetched.
    loaded: std::sync::atomic::AtomicBool,
    /// One fetch at a time; others wait for its result.
    fetching: tokio::sync::Mutex<()>,
}

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
            loaded: std::sync::atomic::AtomicBool::new(false),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> (Arc<KeySet>, Option<Instant>) {
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        (s.0.clone(), s.1)
    }

    /// The key for `kid`: from the cache, else after fetching the document again (at most
    /// once per `min_refetch`, whoever asks).
    pub(crate) async fn find(&self, kid: Option<&str>) -> Result<DecodingKey, String> {
        let (set, _) = self.current();
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
        let fresh = match self.fetch.get(&self.url).await {
            Ok(body) => KeySet::from_jwks(&body, true),
            Err(e) => Err(e),
        };
        let fresh = match fresh {
            Ok(f) => f,
            Err(e) => {
                let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
                st.1 = Some(Instant::now());
                return Err(e);
            }
        };
        tracing::debug!(url = %self.url, keys = fresh.len(), "fetched the JWKS document");
        let found = fresh.find(kid).cloned();
        let refetched = if first { None } else { Some(Instant::now()) };
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = (Arc::new(fresh), refetched);
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
