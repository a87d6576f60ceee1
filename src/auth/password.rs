//! Username and password logins: a user list with argon2 PHC hashes, or your own check.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{mpsc, Arc, Mutex, OnceLock, RwLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;

use super::{AuthBackend, AuthFuture, LoginResult, Refresh, RequestParts, Role, User};

type Verify = Arc<dyn Fn(String, String) -> AuthFuture<'static, Option<User>> + Send + Sync>;

/// Form logins checked against a user list (argon2 PHC hashes) or a function of yours.
///
/// Hash checks run on tokio's blocking threads. An unknown username is checked against a
/// dummy hash, so it takes as long as a wrong password and does not reveal which users exist.
///
/// ```
/// use taskdeck::{PasswordBackend, Role};
/// let hash = PasswordBackend::hash("correct horse battery staple")?;
/// let backend = PasswordBackend::new().user("ada", &hash, Role::Admin)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PasswordBackend {
    users: Arc<RwLock<HashMap<String, (String, Role)>>>,
    verify: Option<Verify>,
    dummy: Arc<String>,
}

impl std::fmt::Debug for PasswordBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordBackend")
            .field("users", &self.read_users().len())
            .field("custom_verify", &self.verify.is_some())
            .finish()
    }
}

impl Default for PasswordBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl PasswordBackend {
    /// A backend with no users yet.
    ///
    /// In a debug build whose `argon2` is not optimized, each password check takes seconds:
    /// the first backend made logs one warning that names the profile lines to add.
    pub fn new() -> PasswordBackend {
        let began = std::time::Instant::now();
        let dummy = Self::hash("taskdeck dummy password").unwrap_or_default();
        if let Some(warning) = slow_hash_warning(began.elapsed(), cfg!(debug_assertions)) {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| tracing::warn!("{warning}"));
        }
        PasswordBackend {
            users: Arc::new(RwLock::new(HashMap::new())),
            verify: None,
            dummy: Arc::new(dummy),
        }
    }

    /// Adds a user with a PHC hash string (from [`PasswordBackend::hash`] or any argon2 tool).
    pub fn user(self, username: &str, phc: &str, role: Role) -> Result<Self, String> {
        PasswordHash::new(phc)
            .map_err(|e| format!("the password hash of {username:?} is not a PHC string: {e}"))?;
        self.set_user(username, phc, role)?;
        Ok(self)
    }

    /// Adds or replaces a user at any time: clones of a backend share one user list, so keep
    /// a clone to manage users after handing one to the dashboard. Signed-in sessions of a
    /// user whose role changes get the new role at their next re-check
    /// (`DashboardBuilder::session_recheck`).
    pub fn set_user(&self, username: &str, phc: &str, role: Role) -> Result<(), String> {
        PasswordHash::new(phc)
            .map_err(|e| format!("the password hash of {username:?} is not a PHC string: {e}"))?;
        self.write_users()
            .insert(username.to_string(), (phc.to_string(), role));
        Ok(())
    }

    /// Removes a user: no new sign-ins, and its signed-in sessions end at their next re-check
    /// (unless [`PasswordBackend::verify_with`] may still know it). True when it was there.
    pub fn remove_user(&self, username: &str) -> bool {
        self.write_users().remove(username).is_some()
    }

    fn read_users(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, (String, Role)>> {
        self.users.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_users(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, (String, Role)>> {
        self.users.write().unwrap_or_else(|p| p.into_inner())
    }

    /// A backend with the users of a list: one `name:phc-hash:role` entry per line (or
    /// separated by spaces, so one environment variable can hold several); blank lines and
    /// lines starting with `#` are skipped. Hashes are PHC strings (argon2, from
    /// [`PasswordBackend::hash`] or the `taskdeck-password` program, which
    /// `cargo install taskdeck --bin taskdeck-password` installs); a plaintext password is
    /// refused. Errors name the entry and user, never the hash.
    ///
    /// ```
    /// use taskdeck::PasswordBackend;
    /// let ada = PasswordBackend::hash("correct horse battery staple")?;
    /// let bob = PasswordBackend::hash("tr0ub4dor&3")?;
    /// let list = format!("# who:hash:role\nada:{ada}:admin\nbob:{bob}:viewer\n");
    /// let backend = PasswordBackend::from_list(&list)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_list(list: &str) -> Result<PasswordBackend, String> {
        let backend = PasswordBackend::new();
        let mut count = 0;
        let entries = list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .flat_map(str::split_whitespace);
        for (i, entry) in entries.enumerate() {
            let n = i + 1;
            let mut parts = entry.splitn(3, ':');
            let (Some(name), Some(hash), Some(role)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(format!(
                    "user entry {n} is not name:phc-hash:role (three fields separated by ':')"
                ));
            };
            if name.is_empty() || name.len() > 256 {
                return Err(format!("user entry {n} has an empty or over-long name"));
            }
            let role: Role = role
                .parse()
                .map_err(|e| format!("user entry {n} ({name}): {e}"))?;
            if !hash.starts_with('$') || PasswordHash::new(hash).is_err() {
                return Err(format!(
                    "user entry {n} ({name}): the password must be a PHC hash such as $argon2id$v=19$…, not plaintext; make one with `taskdeck-password` (cargo install taskdeck --bin taskdeck-password) or PasswordBackend::hash"
                ));
            }
            if backend.read_users().contains_key(name) {
                return Err(format!("user entry {n}: {name} is listed twice"));
            }
            backend.set_user(name, hash, role)?;
            count += 1;
        }
        if count == 0 {
            return Err("the user list has no entries".into());
        }
        Ok(backend)
    }

    /// [`PasswordBackend::from_list`] from a file.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<PasswordBackend, String> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the user list {}: {e}", path.display()))?;
        Self::from_list(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// [`PasswordBackend::from_list`] from an environment variable (entries separated by
    /// spaces or newlines).
    pub fn from_env(var: &str) -> Result<PasswordBackend, String> {
        let text = std::env::var(var).map_err(|_| format!("{var} is not set"))?;
        Self::from_list(&text).map_err(|e| format!("{var}: {e}"))
    }

    /// Checks logins with your own async function instead of (or after) the user list.
    pub fn verify_with<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(String, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<User>> + Send + 'static,
    {
        self.verify = Some(Arc::new(move |u, p| Box::pin(f(u, p))));
        self
    }

    /// Checks logins with a blocking function of yours (run on tokio's blocking threads),
    /// e.g. one that asks LDAP through a synchronous client.
    pub fn verify_blocking<F>(self, f: F) -> Self
    where
        F: Fn(&str, &str) -> Option<User> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.verify_with(move |u, p| {
            let f = f.clone();
            async move {
                tokio::task::spawn_blocking(move || f(&u, &p))
                    .await
                    .ok()
                    .flatten()
            }
        })
    }

    /// An argon2id PHC hash of `password` with a random salt.
    pub fn hash(password: &str) -> Result<String, String> {
        let mut salt = [0u8; 16];
        crate::entropy::random_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    }
}

/// A password check waiting for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Runs `f` on one of a few threads kept for password hashing (as many as the machine has
/// cores), and waits for it without blocking the runtime.
///
/// Not tokio's blocking pool: it starts a new thread whenever none is idle, and each thread's
/// allocator keeps the 19 MiB an argon2 check used, so 64 sign-ins left 450 MB resident even
/// with 2 checks at a time. Here the memory kept is a few threads' worth.
async fn on_hash_threads<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    static JOBS: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let jobs = JOBS.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("taskdeck-hash-{i}"))
                .spawn(move || loop {
                    let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Mutex::new(tx)
    });
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        // Nobody waits any more (the client went away while the check was queued): skip the
        // 19 MiB and tens of milliseconds it would cost.
        if tx.is_closed() {
            return;
        }
        let _ = tx.send(f());
    });
    jobs.lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(job)
        .ok()?;
    rx.await.ok()
}

/// Most argon2 working memory a stored hash may ask for (its `m` parameter), in KiB: 256 MiB.
const MAX_MEMORY_KIB: u32 = 256 * 1024;

thread_local! {
    /// This hashing thread's argon2 working memory, kept between checks: freeing and
    /// allocating 19 MiB per check left the allocator holding about that much more after each
    /// of the first ten sign-ins (230 MB in all), whatever ran at once.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// True when `password` matches the argon2 PHC string `phc`, compared in constant time.
fn check(phc: &str, password: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        argon2::Params::try_from(&hash),
        argon2::Algorithm::try_from(hash.algorithm),
    ) else {
        return false;
    };
    let version = match hash.version.map(argon2::Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    if params.m_cost() > MAX_MEMORY_KIB {
        tracing::warn!("a stored password hash asks for more than 256 MiB; refused");
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let hashed = BLOCKS.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        argon.hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut out,
            &mut memory[..blocks],
        )
    });
    // `Output` compares in constant time.
    hashed.is_ok() && password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

/// Above this, one hash (what each sign-in costs) was made by unoptimized code: optimized it
/// takes 20 to 60 ms, and under 150 ms on a busy machine; unoptimized, 1 to 2.5 s.
const SLOW_HASH: std::time::Duration = std::time::Duration::from_millis(400);

/// The warning for a debug build whose password hashing is unoptimized, if this one is.
fn slow_hash_warning(took: std::time::Duration, debug_build: bool) -> Option<String> {
    (debug_build && took > SLOW_HASH).then(|| {
        format!(
            "one password hash took {} ms: argon2 is not optimized in this debug build, so every \
             sign-in takes as long. Add to your Cargo.toml (profile settings of a dependency are \
             not inherited): [profile.dev.package.argon2] opt-level = 3 and \
             [profile.dev.package.blake2] opt-level = 3",
            took.as_millis()
        )
    })
}

impl AuthBackend for PasswordBackend {
    fn kind(&self) -> &str {
        "password"
    }

    fn reads_credentials(&self) -> bool {
        false
    }

    fn refresh<'a>(&'a self, user: &'a User) -> AuthFuture<'a, Refresh> {
        let now = match self.read_users().get(&user.id) {
            Some((_, role)) => {
                let current = User::new(&user.id, &user.name, *role);
                if current.roles == user.roles {
                    Refresh::Unchanged
                } else {
                    Refresh::Changed(current)
                }
            }
            // Users of the verify function are not listed: it cannot say without a password.
            None if self.verify.is_some() => Refresh::Unknown,
            None => Refresh::Removed,
        };
        Box::pin(std::future::ready(now))
    }

    fn authenticate<'a>(&'a self, _req: &'a RequestParts<'a>) -> AuthFuture<'a, Option<User>> {
        // Form logins live in the dashboard's session cookie.
        Box::pin(async { None })
    }

    fn login<'a>(&'a self, username: &'a str, password: &'a str) -> AuthFuture<'a, LoginResult> {
        Box::pin(async move {
            let known = self.read_users().get(username).cloned();
            let (phc, role) = match &known {
                Some((h, r)) => (h.clone(), Some(*r)),
                None => (self.dummy.to_string(), None),
            };
            let pw = password.to_string();
            let ok = on_hash_threads(move || check(&phc, &pw))
                .await
                .unwrap_or(false);
            if let (true, Some(role)) = (ok, role) {
                return LoginResult::Success(User::new(username, username, role));
            }
            if let Some(verify) = &self.verify {
                if let Some(user) = verify(username.to_string(), password.to_string()).await {
                    return LoginResult::Success(user);
                }
            }
            LoginResult::Failure
        })
    }
}

#[cfg(test)]
mod list_tests {
    use super::*;

    #[test]
    fn lists_parse_and_refuse_plaintext() {
        let h = PasswordBackend::hash("pw").unwrap();
        let b = PasswordBackend::from_list(&format!(
            "# users\n\nada:{h}:admin\n  bob:{h}:viewer  carl:{h}:operator\n"
        ))
        .unwrap();
        assert_eq!(b.read_users().len(), 3);
        assert_eq!(b.read_users()["carl"].1, Role::Operator);
        let e = PasswordBackend::from_list("ada:hunter2:admin").unwrap_err();
        assert!(
            e.contains("entry 1 (ada)") && e.contains("not plaintext") && !e.contains("hunter2"),
            "{e}"
        );
        assert!(PasswordBackend::from_list(&format!("ada:{h}:root"))
            .unwrap_err()
            .contains("unknown role"));
        assert!(PasswordBackend::from_list(&format!("ada:{h}"))
            .unwrap_err()
            .contains("three fields"));
        assert!(
            PasswordBackend::from_list(&format!("ada:{h}:admin ada:{h}:viewer"))
                .unwrap_err()
                .contains("twice")
        );
        assert!(PasswordBackend::from_list("# nobody\n")
            .unwrap_err()
            .contains("no entries"));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unoptimized_hash_in_a_debug_build_names_the_profile_lines() {
        use std::time::Duration;
        let w = super::slow_hash_warning(Duration::from_millis(2100), true).expect("a warning");
        assert!(w.contains("2100 ms"), "{w}");
        assert!(
            w.contains("[profile.dev.package.argon2] opt-level = 3"),
            "{w}"
        );
        assert!(
            w.contains("[profile.dev.package.blake2] opt-level = 3"),
            "{w}"
        );
        // Fast enough, or a release build (where the hint would not help): nothing.
        assert_eq!(
            super::slow_hash_warning(Duration::from_millis(60), true),
            None
        );
        assert_eq!(
            super::slow_hash_warning(Duration::from_millis(2100), false),
            None
        );
    }

    use super::*;

    #[tokio::test]
    async fn users_and_custom_verify() {
        let hash = PasswordBackend::hash("s3cret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let b = PasswordBackend::new()
            .user("ada", &hash, Role::Operator)
            .unwrap()
            .verify_with(|u, p| async move {
                (u == "bob" && p == "builder").then(|| User::new("bob", "Bob", Role::Viewer))
            });
        assert_eq!(
            b.login("ada", "s3cret").await,
            LoginResult::Success(User::new("ada", "ada", Role::Operator))
        );
        assert_eq!(b.login("ada", "wrong").await, LoginResult::Failure);
        assert_eq!(b.login("nobody", "s3cret").await, LoginResult::Failure);
        assert!(matches!(
            b.login("bob", "builder").await,
            LoginResult::Success(_)
        ));
        assert!(PasswordBackend::new()
            .user("x", "plaintext", Role::Admin)
            .is_err());
        let sync = PasswordBackend::new().verify_blocking(|u, p| {
            (u == "carol" && p == "pw").then(|| User::new("carol", "Carol", Role::Admin))
        });
        assert!(matches!(
            sync.login("carol", "pw").await,
            LoginResult::Success(_)
        ));
        assert_eq!(sync.login("carol", "no").await, LoginResult::Failure);
    }
}
