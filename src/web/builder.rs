//! [`DashboardBuilder`]: the dashboard's settings, checked once at build time.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::client::ClientHeader;
use super::context::{Limits, Shared};
use super::dashboard::Dashboard;
use super::routes::Router;
use super::sessions::Sessions;
use super::sse::Streams;
use crate::audit::{AuditLog, AuditSink};
use crate::auth::chain::Backends;
use crate::auth::session::Keys;
use crate::auth::throttle::{LoginSlots, Throttle};
use crate::auth::AuthBackend;
use crate::links::{MountPrefix, PrefixError};
use crate::revocations::RevocationStore;
use crate::seam::TaskBackend;
use crate::views::assets::Assets;

/// A setting [`DashboardBuilder::build`] refused.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The prefix is not a clean path.
    Prefix(PrefixError),
    /// The accent colour is not `#rgb` or `#rrggbb`.
    Accent(String),
    /// The title is empty or too long.
    Title(String),
    /// A limit is out of range.
    Limit(String),
    /// A session secret is too short.
    Secret(String),
    /// The login backend cannot be used as configured.
    Auth(String),
    /// The dashboard cannot be mounted where asked.
    Mount(String),
    /// A colour pairing would fail WCAG AA contrast (each line names one, with its ratio).
    Contrast(Vec<String>),
    /// A branding image or text is unusable.
    Brand(String),
    /// A sign-in path or public path clashes or is malformed.
    Path(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Prefix(e) => e.fmt(f),
            ConfigError::Accent(a) => write!(
                f,
                "invalid accent colour {a:?}; write it as #rgb or #rrggbb, e.g. \"#0b7285\""
            ),
            ConfigError::Title(why) => write!(f, "invalid title: {why}"),
            ConfigError::Limit(why) => write!(f, "invalid limit: {why}"),
            ConfigError::Secret(why) => write!(f, "invalid session secret: {why}"),
            ConfigError::Mount(why) => f.write_str(why),
            ConfigError::Auth(why) => write!(f, "invalid login backend: {why}"),
            ConfigError::Contrast(short) => write!(
                f,
                "colours fail WCAG AA contrast: {}; pick darker (or lighter) colours, or call allow_low_contrast(true) to only warn",
                short.join("; ")
            ),
            ConfigError::Brand(why) => write!(f, "invalid branding: {why}"),
            ConfigError::Path(why) => write!(f, "invalid path: {why}"),
        }
    }
}

debug_is_display!(ConfigError);

impl std::error::Error for ConfigError {}

/// Builds a [`Dashboard`].
///
/// ```
/// use taskdeck::{Dashboard, Scheduler};
/// let scheduler = Scheduler::builder().build()?;
/// let dashboard = Dashboard::builder(scheduler.clone())
///     .prefix("/dashboard")
///     .title("Billing jobs")
///     .accent_color("#7048e8")
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub struct DashboardBuilder {
    backend: Arc<dyn TaskBackend>,
    prefix: String,
    title: String,
    accent: String,
    trusted_proxies: Vec<IpAddr>,
    body_limit: usize,
    readiness_timeout: Duration,
    keepalive: Duration,
    auth: Vec<Arc<dyn AuthBackend>>,
    login_path: Option<String>,
    public_paths: Vec<String>,
    description: Option<String>,
    favicon: Option<Vec<u8>>,
    logo: Option<Vec<u8>>,
    sidebar: Option<String>,
    allow_low_contrast: bool,
    secrets: Vec<Vec<u8>>,
    session_cookie: String,
    session_ttl: Duration,
    session_recheck: Duration,
    client_header: ClientHeader,
    revocations: Option<Arc<dyn RevocationStore>>,
    revocations_file: Option<std::path::PathBuf>,
    same_site_strict: bool,
    force_secure: bool,
    read_only: bool,
    metrics_token: Option<String>,
    public_metrics: bool,
    audit_capacity: usize,
    login_checks: usize,
    login_queue: usize,
    limits: Limits,
    streams_per_session: usize,
    streams_per_user: usize,
    streams_total: usize,
    audit_sink: Option<Arc<dyn AuditSink>>,
    redaction: crate::policy::Redaction,
    narrowing: crate::policy::Narrowing,
}

impl fmt::Debug for DashboardBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardBuilder")
            .field("prefix", &self.prefix)
            .field("title", &self.title)
            .finish_non_exhaustive()
    }
}

impl Dashboard {
    /// A builder over `backend` (usually a [`crate::Scheduler`]).
    pub fn builder(backend: impl TaskBackend) -> DashboardBuilder {
        Self::builder_arc(Arc::new(backend))
    }

    /// A builder over a shared backend.
    pub fn builder_arc(backend: Arc<dyn TaskBackend>) -> DashboardBuilder {
        DashboardBuilder::new(backend)
    }
}

impl DashboardBuilder {
    /// The defaults, over `backend`.
    pub(crate) fn new(backend: Arc<dyn TaskBackend>) -> DashboardBuilder {
        DashboardBuilder {
            backend,
            prefix: String::new(),
            title: "taskdeck".into(),
            accent: "#0b7285".into(),
            trusted_proxies: Vec::new(),
            body_limit: 64 * 1024,
            readiness_timeout: Duration::from_millis(500),
            keepalive: Duration::from_secs(15),
            auth: Vec::new(),
            login_path: None,
            public_paths: Vec::new(),
            description: None,
            favicon: None,
            logo: None,
            sidebar: None,
            allow_low_contrast: false,
            secrets: Vec::new(),
            session_cookie: "taskdeck_session".into(),
            session_ttl: Duration::from_secs(12 * 3600),
            session_recheck: Duration::from_secs(60),
            client_header: ClientHeader::XForwardedFor,
            revocations: None,
            revocations_file: None,
            same_site_strict: false,
            force_secure: false,
            read_only: false,
            metrics_token: None,
            public_metrics: false,
            audit_capacity: 1000,
            login_checks: std::thread::available_parallelism().map_or(2, |n| n.get()),
            login_queue: 64,
            limits: Limits {
                header_timeout: Duration::from_secs(10),
                body_timeout: Duration::from_secs(30),
                max_connections: 1024,
                per_client: 128,
                idle_timeout: Duration::from_secs(60),
                h2_keepalive: Duration::from_secs(20),
            },
            streams_per_session: 8,
            streams_per_user: 16,
            streams_total: 1024,
            audit_sink: None,
            redaction: crate::policy::Redaction::default(),
            narrowing: crate::policy::Narrowing::default(),
        }
    }

    /// Where the dashboard is mounted when served directly, e.g. `/dashboard`. Default: the
    /// root. Requests may arrive with the prefix on or already stripped; both work.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_string();
        self
    }

    /// The title in the header and the browser tab. Default "taskdeck".
    pub fn title(mut self, title: &str) -> Self {
        self.title = title.to_string();
        self
    }

    /// Accent colour, `#rgb` or `#rrggbb`. Default `#0b7285`. It must reach WCAG AA (4.5:1)
    /// as white button text's background and as link text on the light and dark pages, else
    /// [`DashboardBuilder::build`] refuses it with the ratios it measured.
    pub fn accent_color(mut self, colour: &str) -> Self {
        self.accent = colour.to_string();
        self
    }

    /// The sidebar's background, `#rgb` or `#rrggbb`, in both themes. Its text is white or
    /// dark, whichever reads better, and must reach 4.5:1. Default: the panel colour.
    pub fn sidebar_color(mut self, colour: &str) -> Self {
        self.sidebar = Some(colour.to_string());
        self
    }

    /// Build with colours that fail WCAG AA, logging a warning with the ratios instead of
    /// refusing them. Default `false`.
    pub fn allow_low_contrast(mut self, yes: bool) -> Self {
        self.allow_low_contrast = yes;
        self
    }

    /// A sentence or two on the login page and the overview (plain text, at most 500 bytes).
    pub fn description(mut self, text: &str) -> Self {
        self.description = Some(text.to_string());
        self
    }

    /// The browser tab's icon: PNG, ICO, GIF, JPEG, WebP or SVG bytes (at most 256 KiB),
    /// served under a content-hashed URL. Default: taskdeck's.
    pub fn favicon(mut self, image: impl Into<Vec<u8>>) -> Self {
        self.favicon = Some(image.into());
        self
    }

    /// A logo shown beside the title in the sidebar and on the login page, in place of the
    /// icon: image bytes as for [`DashboardBuilder::favicon`].
    pub fn logo(mut self, image: impl Into<Vec<u8>>) -> Self {
        self.logo = Some(image.into());
        self
    }

    /// Where the sign-in page lives, relative to the base, e.g. `/signin`. Sign-out is beside
    /// it (`/logout` for `/signin`, `/account/logout` for `/account/signin`), and sign-out
    /// everywhere below that (`…/logout/all`). Default `/login`.
    pub fn login_path(mut self, path: &str) -> Self {
        self.login_path = Some(path.to_string());
        self
    }

    /// Opens a path (matchit syntax, e.g. `/sso/metadata.xml` or `/sso/{file}`) to everyone
    /// and hands it to the login backends' `AuthBackend::extra_route`, as `/auth/…` is.
    /// For a backend's own routes or files outside `/auth/`. A path the dashboard already
    /// serves is refused at build.
    pub fn public_path(mut self, path: &str) -> Self {
        self.public_paths.push(path.to_string());
        self
    }

    /// Trusts this proxy address: its `X-Forwarded-Prefix` and `X-Forwarded-Proto`, and the
    /// client address it forwards (`Forwarded` or `X-Forwarded-For`: the rightmost address
    /// that is not itself a trusted proxy), which then counts for the login throttle, the
    /// audit log and login backends. From any other address those headers are ignored.
    /// Default: trust none.
    pub fn trust_proxy(mut self, addr: IpAddr) -> Self {
        self.trusted_proxies.push(addr.to_canonical());
        self
    }

    /// Reads the client's address from a trusted proxy's RFC 7239 `Forwarded` header instead
    /// of `X-Forwarded-For`. Only for a proxy that sets `Forwarded` itself and drops the
    /// client's own: one that passes it through would let any client name any address.
    /// Default: `X-Forwarded-For`.
    pub fn client_from_forwarded(mut self, yes: bool) -> Self {
        self.client_header = if yes {
            ClientHeader::Forwarded
        } else {
            ClientHeader::XForwardedFor
        };
        self
    }

    /// How long `GET /health/ready` waits for the store to answer before it says not ready.
    /// Default 500 ms: under the 1 s a Kubernetes probe waits by default.
    pub fn readiness_timeout(mut self, bound: Duration) -> Self {
        self.readiness_timeout = bound;
        self
    }

    /// Largest accepted request body. Default 64 KiB.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Interval of keep-alive comments on the event stream. Default 15 s.
    pub fn sse_keepalive(mut self, every: Duration) -> Self {
        self.keepalive = every;
        self
    }

    /// Turns login on with this backend, in place of any given before. Default: off (everyone
    /// may do everything; put the dashboard behind your own access control).
    pub fn auth(mut self, backend: impl AuthBackend) -> Self {
        self.auth = vec![Arc::new(backend)];
        self
    }

    /// Adds another login backend after those given: the first that recognises a request
    /// wins, the login page offers every interactive way in (a password form, "Sign in
    /// with …" buttons), and API calls may use any non-interactive one (a bearer token).
    ///
    /// ```
    /// # #[cfg(feature = "jwt")] {
    /// use taskdeck::{Dashboard, JwtBackend, PasswordBackend, Role, Scheduler};
    /// let scheduler = Scheduler::builder().build()?;
    /// let hash = PasswordBackend::hash("correct horse battery staple")?;
    /// let dashboard = Dashboard::builder(scheduler)
    ///     .auth(PasswordBackend::new().user("ada", &hash, Role::Admin)?)
    ///     .also(JwtBackend::hs256(b"thirty-two bytes of shared secret!!").audience("taskdeck"))
    ///     .build()?;
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn also(mut self, backend: impl AuthBackend) -> Self {
        self.auth.push(Arc::new(backend));
        self
    }

    /// A session-signing secret, at least 32 bytes. Call again to add older secrets for
    /// rotation: the first signs, all verify. Default: `TASKDECK_SECRET`, else (with login on)
    /// a random key, with a warning that sessions end at restart and differ between replicas.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secrets.push(secret.as_ref().to_vec());
        self
    }

    /// The session cookie's name. Default `taskdeck_session`.
    pub fn session_cookie(mut self, name: &str) -> Self {
        self.session_cookie = name.to_string();
        self
    }

    /// How often a signed-in session is re-checked with the login backend
    /// ([`crate::AuthBackend::refresh`]): a user removed or demoted there loses access or roles
    /// within this time. `Duration::ZERO` checks on every request. Default 60 s.
    pub fn session_recheck(mut self, every: Duration) -> Self {
        self.session_recheck = every;
        self
    }

    /// Where sessions ended on this dashboard are shared with other replicas, and read from
    /// them (at least twice a second): `PostgresStore::revocations`. Default: this process
    /// only, and then sessions issued before it started are not accepted (see
    /// [`DashboardBuilder::revocations_file`]).
    pub fn revocations(mut self, store: Arc<dyn RevocationStore>) -> Self {
        self.revocations = Some(store);
        self
    }

    /// Keeps ended sessions in a file (created if missing), so that a single process keeps
    /// its sign-ins across restarts without letting signed-out sessions back in. Without
    /// this or [`DashboardBuilder::revocations`], a restart signs everyone out. An unusable
    /// path fails [`DashboardBuilder::build`].
    pub fn revocations_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.revocations_file = Some(path.into());
        self
    }

    /// How long a login lasts. Default 12 hours.
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// `SameSite=Strict` instead of `Lax` on the session cookie.
    pub fn same_site_strict(mut self, strict: bool) -> Self {
        self.same_site_strict = strict;
        self
    }

    /// Always mark cookies `Secure` (by default only when the request came over HTTPS, as
    /// told by a trusted proxy's `X-Forwarded-Proto`).
    pub fn secure_cookies(mut self, always: bool) -> Self {
        self.force_secure = always;
        self
    }

    /// Refuses every change (run, pause, create, …) to everyone, and hides their buttons.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// A scrape credential: `GET /metrics` with `Authorization: Bearer <token>` is answered
    /// without a session. It opens `/metrics` only, is compared in constant time, and must be
    /// at least 16 bytes (make one with `head -c 32 /dev/urandom | base64`). Viewers signed
    /// in still see `/metrics` as before.
    pub fn metrics_token(mut self, token: impl Into<String>) -> Self {
        self.metrics_token = Some(token.into());
        self
    }

    /// Serves `/metrics` to anyone who can reach it, for a dashboard on a private network
    /// where the scraper cannot carry a credential. Default `false`: `/metrics` needs a viewer
    /// or the [`metrics_token`](Self::metrics_token).
    pub fn public_metrics(mut self, public: bool) -> Self {
        self.public_metrics = public;
        self
    }

    /// How long a connection served by [`Dashboard::serve`] may take to send a whole request
    /// head: from being accepted, and again after each response. A connection that sends
    /// nothing is closed after it. Default 10 s.
    pub fn header_timeout(mut self, t: Duration) -> Self {
        self.limits.header_timeout = t;
        self
    }

    /// How long a request body may take to arrive once its head is in; past it the answer is
    /// 408 and the connection is closed. Applies however the dashboard is served. Default 30 s.
    pub fn body_timeout(mut self, t: Duration) -> Self {
        self.limits.body_timeout = t;
        self
    }

    /// Most connections [`Dashboard::serve`] serves at once. At the cap, the connection that
    /// has been idle the longest (no request going) is closed to make room for a new one; a
    /// new connection is refused only while every one is busy. Default 1,024.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n.max(1);
        self
    }

    /// Most connections one client address (an IPv6 client by its /64) may hold open with
    /// [`Dashboard::serve`]; past it, new ones are closed at once. Trusted proxies
    /// ([`DashboardBuilder::trust_proxy`]) are exempt: they carry many clients. Default 128.
    pub fn max_connections_per_client(mut self, n: usize) -> Self {
        self.limits.per_client = n.max(1);
        self
    }

    /// How long [`Dashboard::serve`] keeps a connection with no request going (HTTP/1
    /// keep-alive, or HTTP/2 without an open stream; a live event stream is a request going)
    /// before closing it. Default 60 s.
    pub fn idle_timeout(mut self, t: Duration) -> Self {
        self.limits.idle_timeout = t.max(Duration::from_millis(100));
        self
    }

    /// HTTP/2 keep-alive: [`Dashboard::serve`] pings an HTTP/2 peer this often and drops it
    /// when a ping goes unanswered as long. Default 20 s.
    pub fn http2_keep_alive(mut self, every: Duration) -> Self {
        self.limits.h2_keepalive = every;
        self
    }

    /// Most live event streams (`/events`) one session may hold open (a bearer user or, with
    /// login off, a client address counts as one); past it, 429. Default 8.
    pub fn max_streams_per_session(mut self, n: usize) -> Self {
        self.streams_per_session = n.max(1);
        self
    }

    /// Most live event streams one signed-in user may hold over all their sessions; past it,
    /// 429. Default 16, and never more than half of [`DashboardBuilder::max_streams`], so that
    /// one account signed in many times cannot take every place.
    pub fn max_streams_per_user(mut self, n: usize) -> Self {
        self.streams_per_user = n.max(1);
        self
    }

    /// Most live event streams in total; past it, 429. Default 1,024.
    pub fn max_streams(mut self, n: usize) -> Self {
        self.streams_total = n.max(1);
        self
    }

    /// Most password checks running at once (each argon2 check holds about 19 MiB while it
    /// runs). Default: the available parallelism.
    pub fn login_concurrency(mut self, n: usize) -> Self {
        self.login_checks = n.max(1);
        self
    }

    /// Most sign-ins waiting for a password check; beyond, a sign-in is answered 503 with
    /// `Retry-After` at once. Default 64.
    pub fn login_queue(mut self, n: usize) -> Self {
        self.login_queue = n;
        self
    }

    /// Audit entries kept in memory. Default 1,000. Not used when the audit log lives
    /// elsewhere ([`DashboardBuilder::audit_sink`]).
    pub fn audit_capacity(mut self, n: usize) -> Self {
        self.audit_capacity = n;
        self
    }

    /// Where the audit log goes. Default: memory ([`DashboardBuilder::audit_capacity`]).
    /// With several replicas, give every dashboard the shared store's log
    /// (`PostgresStore::audit_log`) so that each shows every replica's entries.
    pub fn audit_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit_sink = Some(sink);
        self
    }

    /// Hides parts of args and results on the dashboard: `hook` gets the job's name, which
    /// value it is ([`Field`](crate::policy::Field)) and the value, and changes it in place;
    /// it runs after the default, which replaces the values of keys that look secret
    /// ([`secret_keys`](Self::secret_keys)) with [`MASK`](crate::policy::MASK). Pages, the
    /// JSON API, forms and the live events show what it leaves; jobs and the store keep the
    /// real values. A form saved with a mask left in it keeps the stored value there, for
    /// the same job and in the same place only (see `docs/login-and-security.md`). What a
    /// job logs or puts in its error is not redacted. Make the hook a plain function of its
    /// arguments: listed tasks' JSON is kept redacted until the task changes.
    ///
    /// ```
    /// # fn f(scheduler: taskdeck::Scheduler) -> Result<(), taskdeck::ConfigError> {
    /// use taskdeck::policy::{Field, MASK};
    /// let dashboard = taskdeck::Dashboard::builder(scheduler)
    ///     .redact(|job, field, value| {
    ///         // A payment job's results are nobody's business.
    ///         if job == "charge_cards" && field == Field::RunResult {
    ///             *value = serde_json::Value::String(MASK.into());
    ///         }
    ///     })
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    /// A hook that changes every value costs a copy of each listed task's args per request.
    pub fn redact(
        mut self,
        hook: impl Fn(&str, crate::policy::Field, &mut serde_json::Value) + Send + Sync + 'static,
    ) -> Self {
        self.redaction = self.redaction.with_hook(Arc::new(hook));
        self
    }

    /// The key fragments whose values are hidden, replacing
    /// [`DEFAULT_SECRET_KEYS`](crate::policy::DEFAULT_SECRET_KEYS): a key matches when,
    /// lower-cased and without `_`, `-`, `.` and spaces, it contains one of them, at any
    /// depth. An empty list turns the default off (a [`redact`](Self::redact) hook still runs).
    pub fn secret_keys<S: AsRef<str>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        let keys: Vec<S> = keys.into_iter().collect();
        self.redaction = self.redaction.with_keys(keys.iter().map(AsRef::as_ref));
        self
    }

    /// Narrows what signed-in users may do, per action and target: after the route table's
    /// role check lets a request through, `hook(user, action, target)` is asked, and `false`
    /// answers 403. `action` is the audit log's name for it (`task.run`, `task.update`,
    /// `job.pause`, `run.retry`, …; the URL map lists them); the target names the task, its
    /// job and the run. It can only take away: a user without the route's role never
    /// reaches it. Buttons the hook refuses are not shown; bulk actions skip (and report) the
    /// tasks it refuses. It is asked about actions and the forms that lead to them, not
    /// about reading, never about signing in or out, and not at all with login off. A
    /// target the backend cannot read is a 503, never let through.
    ///
    /// ```
    /// # fn f(scheduler: taskdeck::Scheduler) -> Result<(), taskdeck::ConfigError> {
    /// // The billing team's operators act on billing jobs only.
    /// let dashboard = taskdeck::Dashboard::builder(scheduler)
    ///     .authorize(|user, _action, target| {
    ///         user.has(taskdeck::Role::Admin)
    ///             || !user.id.starts_with("billing-")
    ///             || target.job.is_some_and(|j| j.starts_with("billing_"))
    ///     })
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn authorize(
        mut self,
        hook: impl Fn(&crate::auth::User, &str, &crate::policy::ActionTarget<'_>) -> bool
            + Send
            + Sync
            + 'static,
    ) -> Self {
        self.narrowing = crate::policy::Narrowing(Some(Arc::new(hook)));
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<Dashboard, ConfigError> {
        let prefix = MountPrefix::new(&self.prefix).map_err(ConfigError::Prefix)?;
        if self.auth.len() > 32 {
            return Err(ConfigError::Auth("at most 32 login backends".into()));
        }
        if self.readiness_timeout.is_zero() || self.readiness_timeout > Duration::from_secs(60) {
            return Err(ConfigError::Limit(format!(
                "readiness_timeout must be between 1 ms and 60 s, not {:?}",
                self.readiness_timeout
            )));
        }
        if self
            .metrics_token
            .as_ref()
            .is_some_and(|t| t.trim().len() < 16)
        {
            return Err(ConfigError::Secret(
                "the metrics token must be at least 16 bytes (e.g. head -c 32 /dev/urandom | base64)"
                    .into(),
            ));
        }
        let auth = Backends::new(self.auth);
        if let Some(why) = auth.as_ref().and_then(Backends::config_error) {
            return Err(ConfigError::Auth(why));
        }
        let title = self.title.trim().to_string();
        if title.is_empty() || title.len() > 80 {
            return Err(ConfigError::Title(
                "it must be 1 to 80 bytes long".to_string(),
            ));
        }
        if crate::views::brand::parse_hex(&self.accent).is_none() {
            return Err(ConfigError::Accent(self.accent.clone()));
        }
        let theme = match crate::views::brand::theme(&self.accent, self.sidebar.as_deref()) {
            Ok(css) => css,
            Err(short) if short.iter().any(|s| s.contains("is not a colour")) => {
                return Err(ConfigError::Brand(short.join("; ")))
            }
            Err(short) if self.allow_low_contrast => {
                tracing::warn!(pairs = %short.join("; "), "dashboard colours fail WCAG AA contrast");
                crate::views::brand::theme_unchecked(&self.accent, self.sidebar.as_deref())
            }
            Err(short) => return Err(ConfigError::Contrast(short)),
        };
        let description = match self.description.map(|d| d.trim().to_string()) {
            Some(d) if d.len() > 500 => {
                return Err(ConfigError::Brand(format!(
                    "the description is {} bytes; at most 500",
                    d.len()
                )))
            }
            Some(d) if d.is_empty() => None,
            d => d,
        };
        let image = |what: &str, bytes: Option<Vec<u8>>| match bytes {
            None => Ok(None),
            Some(b) => crate::views::brand::image_type(&b)
                .map(|t| Some((b, t)))
                .map_err(|e| ConfigError::Brand(format!("{what}: {e}"))),
        };
        let favicon = image("favicon", self.favicon)?;
        let logo = image("logo", self.logo)?;
        let brand = crate::views::Brand {
            description,
            favicon_type: favicon.as_ref().map_or("image/svg+xml", |f| f.1),
            logo: logo.is_some(),
        };
        let sign = match &self.login_path {
            Some(p) => crate::links::SignPaths::at(p).map_err(ConfigError::Path)?,
            None => crate::links::SignPaths::default_paths(),
        };
        let mut public = self.public_paths;
        public.extend(
            auth.as_ref()
                .map(Backends::public_paths)
                .unwrap_or_default(),
        );
        let router = Router::new(sign, &public).map_err(ConfigError::Path)?;
        if !(1024..=16 * 1024 * 1024).contains(&self.body_limit) {
            return Err(ConfigError::Limit(
                "body_limit must be between 1 KiB and 16 MiB".into(),
            ));
        }
        if self.keepalive < Duration::from_secs(1) {
            return Err(ConfigError::Limit(
                "sse_keepalive must be at least 1 s".into(),
            ));
        }
        let revocations = match (self.revocations, &self.revocations_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Auth(
                    "give either revocations(store) or revocations_file(path), not both".into(),
                ))
            }
            (Some(store), None) => Some(store),
            (None, Some(path)) => Some(Arc::new(
                crate::revocations::RevocationFile::open(path).map_err(|e| {
                    ConfigError::Auth(format!(
                        "revocations_file {}: {e}; give a path this process may write",
                        path.display()
                    ))
                })?,
            ) as Arc<dyn RevocationStore>),
            (None, None) => None,
        };
        let mut secrets = self.secrets;
        if secrets.is_empty() {
            if let Ok(env) = std::env::var("TASKDECK_SECRET") {
                if !env.is_empty() {
                    secrets.push(env.into_bytes());
                }
            }
        }
        if let Some(short) = secrets.iter().position(|s| s.len() < 32) {
            return Err(ConfigError::Secret(format!(
                "secret #{} is {} bytes; use at least 32 random bytes (e.g. `openssl rand -base64 48`)",
                short + 1,
                secrets[short].len()
            )));
        }
        if secrets.is_empty() {
            let mut key = vec![0u8; 32];
            crate::entropy::random_bytes(&mut key);
            if auth.is_some() {
                tracing::warn!(
                    "no session secret configured (TASKDECK_SECRET or DashboardBuilder::secret): using a random key; sessions end when the process restarts and are not shared between replicas"
                );
            }
            secrets.push(key);
        }
        let audit_sink = match self.audit_sink {
            Some(sink) => sink,
            None => Arc::new(AuditLog::new(self.audit_capacity)),
        };
        let cookie = self.session_cookie.trim().to_string();
        if cookie.is_empty()
            || !cookie
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        {
            return Err(ConfigError::Limit(
                "session_cookie must be letters, digits, '_' or '-'".into(),
            ));
        }
        if self.session_ttl < Duration::from_secs(60) {
            return Err(ConfigError::Limit(
                "session_ttl must be at least 1 minute".into(),
            ));
        }
        Ok(Dashboard {
            shared: Arc::new(Shared {
                backend: self.backend,
                prefix,
                title,
                assets: Assets::new(theme, favicon, logo),
                brand,
                sign,
                router,
                trusted_proxies: self.trusted_proxies,
                body_limit: self.body_limit,
                keepalive: self.keepalive,
                closing: tokio::sync::watch::Sender::new(false),
                auth,
                keys: Keys::new(secrets),
                session_cookie: cookie,
                session_ttl: self.session_ttl,
                same_site: if self.same_site_strict {
                    cookie::SameSite::Strict
                } else {
                    cookie::SameSite::Lax
                },
                force_secure: self.force_secure,
                read_only: self.read_only,
                metrics_token: self.metrics_token.clone().map(|t| t.trim().to_string()),
                public_metrics: self.public_metrics,
                audit: audit_sink,
                throttle: Throttle::default(),
                refusals: crate::audit::Refusals::default(),
                client_header: self.client_header,
                sessions: Arc::new(Sessions::new(
                    revocations,
                    self.session_recheck,
                    self.session_ttl,
                )),
                login_slots: LoginSlots::new(self.login_checks, self.login_queue),
                streams: Arc::new(Streams::new(
                    self.streams_per_session,
                    self.streams_per_user,
                    self.streams_total,
                )),
                limits: self.limits,
                fragments: Default::default(),
                charts: std::sync::Mutex::new(None),
                ready: super::ready::ReadyCache::new(self.readiness_timeout),
                metrics: Default::default(),
                cluster_metrics: super::ready::Kept::new(Duration::from_secs(2)),
                mount_checked: std::sync::atomic::AtomicBool::new(false),
                // Half the cores: previews never hold every thread of the machine.
                redaction: self.redaction,
                narrowing: self.narrowing,
                previews: Arc::new(super::previews::Previews::new(
                    std::thread::available_parallelism().map_or(1, |n| n.get() / 2),
                )),
            }),
            client: None,
        })
    }
}
