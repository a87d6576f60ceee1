//! What the PostgreSQL benches share: dropping a bench's schema when done.

/// Drops `schema` (a million runs take gigabytes), unless `TASKDECK_BENCH_KEEP` is set to
/// look at it afterwards.
pub(crate) async fn drop_schema(url: &str, schema: &str) {
    if std::env::var_os("TASKDECK_BENCH_KEEP").is_some() {
        println!("kept schema {schema}");
        return;
    }
    let (db, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to drop the bench schema");
    tokio::spawn(conn);
    db.batch_execute(&format!("drop schema \"{schema}\" cascade"))
        .await
        .expect("drop the bench schema");
}
