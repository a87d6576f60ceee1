//! Failure alerts to a webhook: each failed run is posted as JSON, signed with HMAC-SHA256,
//! retried with exponential backoff, from a bounded queue.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::fetch::Fetch;
use crate::scheduler::RunRecord;

/// Posts each failed run to a URL: `{"event": "run_failed", "run": {…}}`, with
///
/// - `X-Taskdeck-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the
///   shared secret, so the receiver can check who sent it and when (refuse old `t` to stop
///   replays);
/// - `X-Taskdeck-Delivery: <run id>`, the same for every attempt, to drop duplicates.
///
/// A post that fails (no answer, or a status other than 2xx) is tried again after 1 s, 2 s,
/// 4 s … up to 5 attempts. Alerts wait in a queue of at most 1,000; past it the oldest is
/// dropped, with a warning. Hand it to `SchedulerBuilder::on_failure` through
/// [`WebhookNotifier::hook`]:
///
/// ```no_run
/// use taskdeck::{Scheduler, WebhookNotifier};
/// let alerts = WebhookNotifier::new("https://alerts.example.com/taskdeck", b"a shared secret of 32+ bytes!!!!")?;
/// let scheduler = Scheduler::builder().on_failure(alerts.hook()).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct WebhookNotifier {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    secret: Vec<u8>,
    fetch: Fetch,
    queue: Mutex<VecDeque<(RunRecord, String)>>,
    capacity: usize,
    attempts: u32,
    backoff: Duration,
    wake: Notify,
    started: std::sync::OnceLock<()>,
    dropped: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is never printed.
        f.debug_struct("WebhookNotifier")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// Alerts to `url` (`https://`, or `http://` to a loopback address), signed with
    /// `secret` (at least 32 bytes).
    pub fn new(url: &str, secret: &[u8]) -> Result<WebhookNotifier, String> {
        Self::build(url, secret, 1000, 5, Duration::from_secs(1))
    }

    /// The queue's bound, attempts per alert and first backoff (doubling), instead of 1,000,
    /// 5 and 1 s.
    pub fn with_limits(
        url: &str,
        secret: &[u8],
        queue: usize,
        attempts: u32,
        backoff: Duration,
    ) -> Result<WebhookNotifier, String> {
        Self::build(url, secret, queue, attempts, backoff)
    }

    fn build(
        url: &str,
        secret: &[u8],
        capacity: usize,
        attempts: u32,
        backoff: Duration,
    ) -> Result<WebhookNotifier, String> {
        if secret.len() < 32 {
            return Err(format!(
                "the webhook secret is {} bytes; use at least 32 random bytes",
                secret.len()
            ));
        }
        let fetch = Fetch::new(Duration::from_secs(10), false)?;
        fetch.check_url(url)?;
        Ok(WebhookNotifier {
            inner: Arc::new(Inner {
                url: url.to_string(),
                secret: secret.to_vec(),
                fetch,
                queue: Mutex::new(VecDeque::new()),
                capacity: capacity.max(1),
                attempts: attempts.max(1),
                backoff,
                wake: Notify::new(),
                started: std::sync::OnceLock::new(),
                dropped: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// The hook for `SchedulerBuilder::on_failure`.
    pub fn hook(
        &self,
    ) -> impl Fn(RunRecord) -> std::future::Ready<()> + Send + Sync + Clone + 'static {
        let me = self.clone();
        move |run| {
            me.notify(run);
            std::future::ready(())
        }
    }

    /// Queues an alert for `run` (needs a tokio runtime: the sender starts on first use).
    pub fn notify(&self, run: RunRecord) {
        let body = serde_json::json!({ "event": "run_failed", "run": &run }).to_string();
        {
            let mut q = self.inner.queue.lock().unwrap_or_else(|p| p.into_inner());
            if q.len() >= self.inner.capacity {
                q.pop_front();
                let n = self
                    .inner
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1;
                tracing::warn!(
                    dropped = n,
                    "webhook alerts are behind; the oldest was dropped"
                );
            }
            q.push_back((run, body));
        }
        if self.inner.started.set(()).is_ok() {
            let inner = self.inner.clone();
            tokio::spawn(async move { inner.send_all().await });
        }
        self.inner.wake.notify_one();
    }

    /// The signature header's value for `body` sent at `t` (Unix seconds): what a receiver
    /// computes to check an alert.
    pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        format!("t={t},v1={hex}")
    }
}

impl Inner {
    async fn send_all(self: Arc<Self>) {
        loop {
            let next = self
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
            match next {
                Some((run, body)) => self.deliver(&run, body).await,
                None => self.wake.notified().await,
            }
        }
    }

    async fn deliver(&self, run: &RunRecord, body: String) {
        let mut wait = self.backoff;
        for attempt in 1..=self.attempts {
            let t = jiff::Timestamp::now().as_second();
            let headers = [
                (
                    "x-taskdeck-signature",
                    WebhookNotifier::signature(&self.secret, t, body.as_bytes()),
                ),
                ("x-taskdeck-delivery", run.id.to_string()),
            ];
            match self
                .fetch
                .post_json(&self.url, body.clone().into_bytes(), &headers)
                .await
            {
                Ok((status, _)) if (200..300).contains(&status) => return,
                Ok((status, _)) => {
                    tracing::warn!(
                        run = run.id,
                        attempt,
                        status,
                        "the webhook refused an alert"
                    )
                }
                Err(e) => {
                    tracing::warn!(run = run.id, attempt, error = %e, "could not post an alert")
                }
            }
            if attempt < self.attempts {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(300));
            }
        }
        tracing::error!(run = run.id, "gave up posting an alert");
    }
}
