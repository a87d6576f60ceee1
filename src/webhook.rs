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

/// Posts each failed run to a URL: `{"event": "run_failed", "run": {…}}`, signed the
/// Standard Webhooks way:
///
/// - `webhook-id: msg_<32 hex digits>`, unique to the alert (random, so ids never repeat
///   across restarts, where run ids may) and the same for every attempt: drop duplicates by
///   it;
/// - `webhook-timestamp: <unix seconds>` of the attempt (refuse old ones to stop replays);
/// - `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, one per
///   secret separated by spaces, so that a secret can be rotated
///   ([`WebhookNotifier::also_sign_with`]); [`WebhookNotifier::signature`] computes one.
///
/// A post that fails (no answer, or a status other than 2xx) is tried again after 1 s, 2 s,
/// 4 s … up to 5 attempts. Alerts wait in a queue of at most 1,000 alerts and 16 MiB of
/// bodies ([`WebhookNotifier::max_queue_bytes`]); past either the oldest are dropped, with a
/// warning. Hand it to `SchedulerBuilder::on_failure` through
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
    /// Every alert is signed with each, the first being the current one.
    secrets: Vec<Vec<u8>>,
    fetch: Fetch,
    /// Alerts waiting: what it is about (for logs), the alert's id and its body.
    queue: Mutex<VecDeque<(String, String, String)>>,
    capacity: usize,
    /// Most bytes of alert bodies waiting (a failed run carries up to 400 KiB of log lines).
    capacity_bytes: usize,
    queued_bytes: std::sync::atomic::AtomicUsize,
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
                secrets: vec![secret.to_vec()],
                fetch,
                queue: Mutex::new(VecDeque::new()),
                capacity: capacity.max(1),
                capacity_bytes: 16 * 1024 * 1024,
                queued_bytes: std::sync::atomic::AtomicUsize::new(0),
                attempts: attempts.max(1),
                backoff,
                wake: Notify::new(),
                started: std::sync::OnceLock::new(),
                dropped: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// Signs every alert with `secret` too (after the ones given before), so that a receiver
    /// still checking an older secret, or already the newer one, accepts them while a secret
    /// is rotated. Before the notifier is shared (`hook`, clones).
    pub fn also_sign_with(mut self, secret: &[u8]) -> Result<WebhookNotifier, String> {
        if secret.len() < 32 {
            return Err(format!(
                "the webhook secret is {} bytes; use at least 32 random bytes",
                secret.len()
            ));
        }
        Arc::get_mut(&mut self.inner)
            .ok_or("also_sign_with must be called before the notifier is shared")?
            .secrets
            .push(secret.to_vec());
        Ok(self)
    }

    /// Most bytes of alert bodies waiting, instead of 16 MiB: past it the oldest alerts are
    /// dropped, as past the count. Before the notifier is shared (`hook`, clones).
    pub fn max_queue_bytes(mut self, bytes: usize) -> Result<WebhookNotifier, String> {
        Arc::get_mut(&mut self.inner)
            .ok_or("max_queue_bytes must be called before the notifier is shared")?
            .capacity_bytes = bytes.max(1);
        Ok(self)
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

    /// The hook for `SchedulerBuilder::on_alert`: posts `{"event": "alert_raised", "alert":
    /// {…}}` for each alert raised and `{"event": "alert_resolved", "alert": {…}}` (with
    /// `resolved_at`) when it ends, signed and retried like failures.
    pub fn alert_hook(
        &self,
    ) -> impl Fn(crate::scheduler::Alert) -> std::future::Ready<()> + Send + Sync + Clone + 'static
    {
        let me = self.clone();
        move |alert| {
            me.notify_alert(&alert);
            std::future::ready(())
        }
    }

    /// Queues an alert's news (needs a tokio runtime: the sender starts on first use).
    pub fn notify_alert(&self, alert: &crate::scheduler::Alert) {
        let event = if alert.resolved_at.is_some() {
            "alert_resolved"
        } else {
            "alert_raised"
        };
        let body = serde_json::json!({ "event": event, "alert": alert }).to_string();
        let what = format!("{} alert on task {}", alert.kind.as_str(), alert.task_id);
        self.enqueue(what, body);
    }

    /// Queues an alert for `run` (needs a tokio runtime: the sender starts on first use).
    pub fn notify(&self, run: RunRecord) {
        let body = serde_json::json!({ "event": "run_failed", "run": &run }).to_string();
        self.enqueue(format!("run {}", run.id), body);
    }

    fn enqueue(&self, what: String, body: String) {
        let id = format!("msg_{:032x}", fastrand::u128(..));
        {
            use std::sync::atomic::Ordering::Relaxed;
            let inner = &self.inner;
            let mut q = inner.queue.lock().unwrap_or_else(|p| p.into_inner());
            // Past the count or the bytes, the oldest alerts make room.
            while !q.is_empty()
                && (q.len() >= inner.capacity
                    || inner.queued_bytes.load(Relaxed) + body.len() > inner.capacity_bytes)
            {
                if let Some((_, _, old)) = q.pop_front() {
                    inner.queued_bytes.fetch_sub(old.len(), Relaxed);
                }
                let n = inner.dropped.fetch_add(1, Relaxed) + 1;
                tracing::warn!(
                    dropped = n,
                    "webhook alerts are behind; the oldest was dropped"
                );
            }
            inner.queued_bytes.fetch_add(body.len(), Relaxed);
            q.push_back((what, id, body));
        }
        if self.inner.started.set(()).is_ok() {
            let inner = self.inner.clone();
            tokio::spawn(async move { inner.send_all().await });
        }
        self.inner.wake.notify_one();
    }

    /// One signature of the `webhook-signature` header: `v1,<base64>` of alert `id`'s `body`
    /// sent at `t` (Unix seconds) under `secret`, as a receiver computes it to check an alert.
    pub fn signature(secret: &[u8], id: &str, t: i64, body: &[u8]) -> String {
        use base64::Engine as _;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(tag)
        )
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
                Some((what, id, body)) => {
                    self.queued_bytes
                        .fetch_sub(body.len(), std::sync::atomic::Ordering::Relaxed);
                    self.deliver(&what, &id, body).await
                }
                None => self.wake.notified().await,
            }
        }
    }

    async fn deliver(&self, what: &str, id: &str, body: String) {
        let mut wait = self.backoff;
        for attempt in 1..=self.attempts {
            let t = jiff::Timestamp::now().as_second();
            let signatures: Vec<String> = self
                .secrets
                .iter()
                .map(|k| WebhookNotifier::signature(k, id, t, body.as_bytes()))
                .collect();
            let headers = [
                ("webhook-id", id.to_string()),
                ("webhook-timestamp", t.to_string()),
                ("webhook-signature", signatures.join(" ")),
            ];
            match self
                .fetch
                .post_json(&self.url, body.clone().into_bytes(), &headers)
                .await
            {
                Ok((status, _)) if (200..300).contains(&status) => return,
                Ok((status, _)) => {
                    tracing::warn!(
                        about = what,
                        attempt,
                        status,
                        "the webhook refused an alert"
                    )
                }
                Err(e) => {
                    tracing::warn!(about = what, attempt, error = %e, "could not post an alert")
                }
            }
            if attempt < self.attempts {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(300));
            }
        }
        tracing::error!(about = what, "gave up posting an alert");
    }
}
