//! What the PostgreSQL benches share: dropping a bench's schema when done, and a plain
//! connection for the bench's own SQL.

/// A client for the bench's own SQL (setup, vacuum, drop): the URL without its TLS settings,
/// which tokio-postgres alone does not read (the store does).
pub(crate) async fn admin(url: &str) -> tokio_postgres::Client {
    let plain = match url.split_once('?') {
        Some((base, query)) => {
            let rest: Vec<&str> = query.split('&').filter(|p| !p.starts_with("ssl")).collect();
            format!("{base}?{}", rest.join("&"))
        }
        None => url.to_string(),
    };
    let (db, conn) = tokio_postgres::connect(&plain, tokio_postgres::NoTls)
        .await
        .expect("connect for the bench's own SQL");
    tokio::spawn(conn);
    db
}

/// Drops `schema` (a million runs take gigabytes), unless `TASKDECK_BENCH_KEEP` is set to
/// look at it afterwards.
pub(crate) async fn drop_schema(url: &str, schema: &str) {
    if std::env::var_os("TASKDECK_BENCH_KEEP").is_some() {
        println!("kept schema {schema}");
        return;
    }
    admin(url)
        .await
        .batch_execute(&format!("drop schema \"{schema}\" cascade"))
        .await
        .expect("drop the bench schema");
}
