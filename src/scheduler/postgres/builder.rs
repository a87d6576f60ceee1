//! [`PostgresStoreBuilder`]: settings, checks, and connecting (migrate, pool, listener).

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};

use super::*;

/// Settings of a [`PostgresStore`]; see [`PostgresStore::builder`].
#[derive(Clone)]
pub struct PostgresStoreBuilder {
    pub(super) url: String,
    pub(super) schema: String,
    pub(super) pool_size: usize,
    pub(super) heartbeat: Duration,
    pub(super) lease: Duration,
    pub(super) poll: Duration,
    pub(super) history: HistoryLimits,
    pub(super) audit_capacity: usize,
    pub(super) prune_every: Duration,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password: never print it.
        f.debug_struct("PostgresStoreBuilder")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("heartbeat", &self.heartbeat)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl PostgresStoreBuilder {
    /// Schema holding taskdeck's tables (created if missing). Default `public`. Replicas that
    /// share a schedule use the same schema; separate schedules use separate schemas.
    pub fn schema(mut self, schema: &str) -> Self {
        self.schema = schema.to_string();
        self
    }

    /// Connections in the pool. Default 16.
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n;
        self
    }

    /// How often this replica heartbeats and renews its run leases. Default 2 s.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// How long a run's lease lasts without renewal; after that another replica records the
    /// run as interrupted. Default 30 s; at least three heartbeats.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Longest a timer loop sleeps without looking at the schedule. Default 10 s.
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// History bounds, pruned in the database. Default 100 runs per task, 10,000 in all.
    pub fn history(mut self, limits: HistoryLimits) -> Self {
        self.history = limits;
        self
    }

    /// Audit entries kept. Default 10,000.
    pub fn audit_capacity(mut self, n: usize) -> Self {
        self.audit_capacity = n;
        self
    }

    /// How often history and the audit log are pruned to their bounds (by one replica at a
    /// time, on its heartbeat). Default 30 s.
    pub fn prune_every(mut self, every: Duration) -> Self {
        self.prune_every = every;
        self
    }

    /// Connects, creates or migrates the schema, and starts listening for changes. Needs a
    /// tokio runtime.
    pub async fn connect(self) -> Result<PostgresStore, Error> {
        let invalid =
            |setting: &'static str, message: String| Error::InvalidConfig { setting, message };
        let schema = self.schema.clone();
        let valid = !schema.is_empty()
            && schema.len() <= 50
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !schema.as_bytes()[0].is_ascii_digit();
        if !valid {
            return Err(invalid(
                "schema",
                format!(
                    "{schema:?} is not a plain schema name: use 1-50 of a-z, 0-9 and _, not \
                     starting with a digit"
                ),
            ));
        }
        if self.pool_size == 0 {
            return Err(invalid("pool_size", "must be at least 1".into()));
        }
        if self.heartbeat.is_zero() || self.lease < self.heartbeat * 3 {
            return Err(invalid(
                "lease",
                format!(
                    "the lease ({:?}) must be at least three heartbeats ({:?} each)",
                    self.lease, self.heartbeat
                ),
            ));
        }
        let (url, tls) = tls::split(&self.url)?;
        let tls = tls::Connector::new(&tls)?;
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            invalid(
                "url",
                format!("not a PostgreSQL connection string or URL: {e}"),
            )
        })?;
        // JIT compiles a query first when its estimated cost is high; for this store's short
        // queries that took longer than running them (113 of 176 ms for a prune's lookups).
        config.options(format!("-c search_path={schema} -c jit=off"));
        if config.get_application_name().is_none() {
            config.application_name("taskdeck");
        }
        config.connect_timeout(Duration::from_secs(10));
        // An sslmode only tokio-postgres saw means the split looked in the wrong place (a `?`
        // in an unencoded password): refuse rather than silently use the default.
        if config.get_ssl_mode() != tokio_postgres::config::SslMode::Prefer
            && config.get_ssl_mode() != tls.ssl_mode()
        {
            return Err(invalid(
                "url",
                "sslmode could not be read reliably: percent-encode special characters (such as ? and @) in the user name and password"
                    .into(),
            ));
        }
        config.ssl_mode(tls.ssl_mode());

        // Migrate on a connection of its own, before the pool's connections exist.
        let (mut client, conn) = config.connect(tls.clone()).await.map_err(pg)?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let version = schema::migrate(&mut client, &schema).await;
        drop(client);
        let _ = driver.await;
        version?;

        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.pool_size)
            .build()
            .map_err(|e| invalid("pool_size", e.to_string()))?;
        let mut id = [0u8; 6];
        crate::entropy::random_bytes(&mut id);
        let instance: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let channel = format!("taskdeck_{schema}");
        let (notices, _) = broadcast::channel(1024);
        let (finishes, finish_queue) = tokio::sync::mpsc::channel(1024);
        let shared = Arc::new(Shared {
            pool,
            schema,
            channel: channel.clone(),
            instance: instance.clone(),
            host: crate::scheduler::instance::hostname(),
            pid: std::process::id(),
            started_at: Timestamp::now(),
            tz: RwLock::new(TimeZone::UTC),
            jobs: RwLock::new(Vec::new()),
            heartbeat: self.heartbeat,
            lease: self.lease,
            poll: self.poll,
            history: HistoryLimits {
                per_task: self.history.per_task.max(1),
                total: self.history.total.max(1),
            },
            audit_capacity: self.audit_capacity.max(1),
            prune_every: self.prune_every,
            pending: Mutex::new(Counters::default()),
            connected_since: Mutex::new(None),
            last_prune: Mutex::new(None),
            notices: notices.clone(),
            finishes,
        });
        tokio::spawn(super::runs::finisher(Arc::downgrade(&shared), finish_queue));
        let (listening, listening_rx) = tokio::sync::oneshot::channel();
        let listener = tokio::spawn(listen::run(
            config, tls, channel, instance, notices, listening,
        ));
        // Changes made by others from here on reach this replica: wait until it listens (it
        // retries on its own if the database is slow to accept the connection).
        if tokio::time::timeout(Duration::from_secs(10), listening_rx)
            .await
            .is_err()
        {
            tracing::warn!("not listening for changes yet; carrying on (they are also polled)");
        }
        tracing::info!(schema = %shared.schema, instance = %shared.instance, "PostgreSQL store connected");
        Ok(PostgresStore {
            shared,
            _listener: Arc::new(AbortOnDrop(listener)),
        })
    }
}
