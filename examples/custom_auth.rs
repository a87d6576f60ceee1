//! A custom `AuthBackend`: API keys looked up in a (here simulated) database, plus form
//! logins checked against the same user table.
//!
//! `cargo run --example custom_auth`, then
//! `curl -H 'X-Api-Key: key-ops-7f3a' http://127.0.0.1:8000/api/tasks`
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use taskdeck::{
    AuthBackend, AuthFuture, Dashboard, LoginResult, PasswordBackend, RequestParts, Role,
    Scheduler, Task, TaskContext, User,
};
use tokio::sync::RwLock;

/// A stand-in for your database: rows of users and their API keys.
#[derive(Default)]
struct Db {
    users: RwLock<HashMap<String, Row>>,
}

struct Row {
    name: String,
    role: Role,
    api_key: String,
    password_hash: String,
}

impl Db {
    async fn by_api_key(&self, key: &str) -> Option<User> {
        // A real database would look the key's hash up by index.
        let users = self.users.read().await;
        users
            .iter()
            .find(|(_, r)| r.api_key == key)
            .map(|(id, r)| User::new(id, &r.name, r.role))
    }
}

struct DbBackend {
    db: Arc<Db>,
    /// Reuses the built-in argon2 checking for the password hashes in the table.
    passwords: PasswordBackend,
}

impl AuthBackend for DbBackend {
    fn authenticate<'a>(&'a self, req: &'a RequestParts<'a>) -> AuthFuture<'a, Option<User>> {
        Box::pin(async move {
            let key = req.headers.get("x-api-key")?.to_str().ok()?;
            self.db.by_api_key(key).await
        })
    }

    fn login<'a>(&'a self, username: &'a str, password: &'a str) -> AuthFuture<'a, LoginResult> {
        Box::pin(async move {
            match self.passwords.login(username, password).await {
                LoginResult::Success(_) => {
                    let users = self.db.users.read().await;
                    match users.get(username) {
                        Some(r) => LoginResult::Success(User::new(username, &r.name, r.role)),
                        None => LoginResult::Failure,
                    }
                }
                other => other,
            }
        })
    }

    fn is_ambient(&self, _req: &RequestParts<'_>) -> bool {
        // An API key header is sent on purpose, never added by the browser: no CSRF needed.
        false
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = Arc::new(Db::default());
    let hash = PasswordBackend::hash("ops-password")?;
    db.users.write().await.insert(
        "ops".into(),
        Row {
            name: "Ops team".into(),
            role: Role::Operator,
            api_key: "key-ops-7f3a".into(),
            password_hash: hash.clone(),
        },
    );
    let mut passwords = PasswordBackend::new();
    for (id, row) in db.users.read().await.iter() {
        passwords = passwords.user(id, &row.password_hash, row.role)?;
    }

    let scheduler = Scheduler::builder().build()?;
    scheduler.register("noop", |_ctx: TaskContext| async { Ok(()) });
    scheduler
        .add(Task::new("tick", "noop").every(Duration::from_secs(15)))
        .await?;
    scheduler.start()?;

    let dashboard = Dashboard::builder(scheduler.clone())
        .auth(DbBackend { db, passwords })
        .build()?;
    let addr = std::env::var("TASKDECK_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "dashboard at http://{}/ (user ops / ops-password, or X-Api-Key: key-ops-7f3a)",
        listener.local_addr()?
    );
    dashboard
        .serve_listener(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    scheduler.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
