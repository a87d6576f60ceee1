//! The PostgreSQL store over TLS, against a real server with `ssl = on` and a certificate
//! authority made for the test (`TASKDECK_PG_TLS=1 scripts/pg-test-server`, which
//! `scripts/test` starts beside the plain one):
//!
//! ```text
//! eval "$(TASKDECK_PG_TLS=1 scripts/pg-test-server /tmp/tdpg-tls 54330)"
//! eval "$(scripts/pg-test-server)"
//! cargo test --features postgres --test postgres_tls
//! ```
//!
//! `TASKDECK_TEST_TLS_DATABASE_URL` is the TLS server (host name `localhost`, address
//! 127.0.0.1), `TASKDECK_TEST_TLS_DIR` holds its CA, another CA and a client certificate, and
//! `TASKDECK_TEST_DATABASE_URL` is a server without TLS. Without them
//! `postgres_tls_tests_need_a_server` fails, unless `TASKDECK_SKIP_POSTGRES=1`.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use taskdeck::store::PostgresStore;
use taskdeck::*;

struct Server {
    /// `postgres://taskdeck@localhost:PORT/taskdeck?hostaddr=127.0.0.1`
    url: String,
    dir: String,
}

fn server() -> Option<Server> {
    match (
        std::env::var("TASKDECK_TEST_TLS_DATABASE_URL"),
        std::env::var("TASKDECK_TEST_TLS_DIR"),
    ) {
        (Ok(url), Ok(dir)) if !url.is_empty() && !dir.is_empty() => Some(Server { url, dir }),
        _ => {
            eprintln!("skipped: start a TLS server with TASKDECK_PG_TLS=1 scripts/pg-test-server");
            None
        }
    }
}

#[test]
fn postgres_tls_tests_need_a_server() {
    let set = std::env::var("TASKDECK_TEST_TLS_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    let skip = std::env::var_os("TASKDECK_SKIP_POSTGRES").is_some_and(|v| v == "1");
    assert!(
        set || skip,
        "the PostgreSQL TLS tests did not run: start a server with  eval \"$(TASKDECK_PG_TLS=1 \
         scripts/pg-test-server /tmp/tdpg-tls 54330)\"  (scripts/test does), or set \
         TASKDECK_SKIP_POSTGRES=1 to skip them knowingly"
    );
}

fn schema(name: &str) -> String {
    format!("tls_{name}_{:x}", fastrand::u32(..))
}

async fn connect(url: &str, schema: &str) -> Result<PostgresStore, Error> {
    PostgresStore::builder(url)
        .schema(schema)
        .pool_size(2)
        .heartbeat(Duration::from_millis(200))
        .lease(Duration::from_secs(2))
        .connect()
        .await
}

/// Whether every connection named `app` is encrypted, and how many there are: asked over a
/// plain connection of the test's own.
async fn encrypted(server: &Server, app: &str) -> (usize, usize) {
    let plain = server
        .url
        .replace("@localhost:", "@127.0.0.1:")
        .replace("?hostaddr=127.0.0.1", "");
    let (client, conn) = tokio_postgres::connect(&plain, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = client
        .query(
            "select s.ssl from pg_stat_ssl s join pg_stat_activity a using (pid) \
             where a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap();
    let tls = rows.iter().filter(|r| r.get::<_, bool>(0)).count();
    (rows.len(), tls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_the_right_ca_and_host_runs_the_schedule_encrypted() {
    let Some(server) = server() else { return };
    let app = format!("tls_full_{:x}", fastrand::u32(..));
    let url = format!(
        "{}&sslmode=verify-full&sslrootcert={}/ca.pem&application_name={app}",
        server.url, server.dir
    );
    let store = connect(&url, &schema("full")).await.unwrap();
    let s = Scheduler::builder().store(store).build().unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    s.register("tick", move |_ctx: TaskContext| {
        let c = c.clone();
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    s.add(Task::new("soon", "tick").every(Duration::from_millis(100)))
        .await
        .unwrap();
    s.start().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while calls.load(Ordering::SeqCst) < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no runs over TLS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The pool's connections and the listener's: every one encrypted, at least two of them.
    let (all, tls) = encrypted(&server, &app).await;
    assert!(all >= 2, "connections of the store: {all}");
    assert_eq!(tls, all, "encrypted connections of {all}");
    s.shutdown(Duration::from_secs(5)).await;
}

async fn refused(url: &str) -> String {
    match connect(url, &schema("no")).await {
        Ok(_) => panic!("connected with {url}"),
        Err(e) => {
            eprintln!("refused: {e}");
            e.to_string()
        }
    }
}

#[tokio::test]
async fn a_certificate_signed_by_another_ca_is_refused() {
    let Some(server) = server() else { return };
    let e = refused(&format!(
        "{}&sslmode=verify-full&sslrootcert={}/other-ca.pem",
        server.url, server.dir
    ))
    .await;
    assert!(e.contains("TLS"), "{e}");
    assert!(e.contains("not signed by a certificate authority"), "{e}");
    assert!(e.contains("other-ca.pem"), "names the CA file: {e}");
    // verify-ca checks the chain too.
    let e = refused(&format!(
        "{}&sslmode=verify-ca&sslrootcert={}/other-ca.pem",
        server.url, server.dir
    ))
    .await;
    assert!(e.contains("not signed by a certificate authority"), "{e}");
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused_by_verify_full_only() {
    let Some(server) = server() else { return };
    // The certificate names `localhost`; reach the same server as 127.0.0.1.
    let by_address = server
        .url
        .replace("@localhost:", "@127.0.0.1:")
        .replace("?hostaddr=127.0.0.1", "?");
    let e = refused(&format!(
        "{by_address}sslmode=verify-full&sslrootcert={}/ca.pem",
        server.dir
    ))
    .await;
    assert!(e.contains("TLS"), "{e}");
    assert!(e.contains("does not name the host"), "{e}");
    // verify-ca checks the chain, not the name.
    connect(
        &format!(
            "{by_address}sslmode=verify-ca&sslrootcert={}/ca.pem",
            server.dir
        ),
        &schema("ca"),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn require_against_a_server_without_tls_is_refused() {
    let Some(_) = server() else { return };
    let Ok(plain) = std::env::var("TASKDECK_TEST_DATABASE_URL") else {
        panic!("TASKDECK_TEST_DATABASE_URL (a server without TLS) is not set");
    };
    let e = refused(&format!("{plain}?sslmode=require")).await;
    assert!(e.contains("TLS"), "{e}");
    assert!(e.contains("does not support TLS"), "{e}");
    // prefer falls back to plain there, as libpq does.
    connect(&format!("{plain}?sslmode=prefer"), &schema("prefer"))
        .await
        .unwrap();
}

#[tokio::test]
async fn prefer_encrypts_when_offered_and_disable_does_not() {
    let Some(server) = server() else { return };
    for (mode, want_tls) in [("prefer", true), ("require", true), ("disable", false)] {
        let app = format!("tls_{}_{:x}", mode, fastrand::u32(..));
        let store = connect(
            &format!("{}&sslmode={mode}&application_name={app}", server.url),
            &schema(mode),
        )
        .await
        .unwrap();
        let (all, tls) = encrypted(&server, &app).await;
        assert!(all >= 1, "{mode}: no connection");
        assert_eq!(tls, if want_tls { all } else { 0 }, "{mode}");
        drop(store);
    }
}

#[tokio::test]
async fn a_client_certificate_signs_in() {
    let Some(server) = server() else { return };
    // The role taskdeck_cert may sign in with its certificate only.
    let url = server.url.replace("taskdeck@", "taskdeck_cert@");
    let with_cert = format!(
        "{url}&sslmode=verify-full&sslrootcert={d}/ca.pem&sslcert={d}/client.crt&sslkey={d}/client.key",
        d = server.dir
    );
    connect(&with_cert, &schema("cert")).await.unwrap();
    let e = refused(&format!(
        "{url}&sslmode=verify-full&sslrootcert={}/ca.pem",
        server.dir
    ))
    .await;
    assert!(e.contains("PostgreSQL"), "{e}");
    let e = refused(&format!(
        "{url}&sslmode=verify-full&sslrootcert={d}/ca.pem&sslcert={d}/missing.crt&sslkey={d}/client.key",
        d = server.dir
    ))
    .await;
    assert!(e.contains("missing.crt"), "names the file: {e}");
}

/// A `?` left unencoded in a password hides the query from a naive split: the store refuses
/// rather than connect with the default `prefer`, which a man in the middle could downgrade.
#[tokio::test]
async fn an_unencoded_question_mark_is_no_silent_downgrade() {
    let e = refused("postgres://u:p?x@127.0.0.1:1/db?sslmode=require").await;
    assert!(e.contains("percent-encode"), "{e}");
    assert!(!e.contains("p?x"), "the password is not repeated: {e}");
}
