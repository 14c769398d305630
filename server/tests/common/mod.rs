//! Shared by the server's integration tests.

use std::time::{SystemTime, UNIX_EPOCH};

/// Where a test's data lives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    /// A SQLite file in the temporary directory.
    Sqlite,
    /// A database on the server `scripts/with-postgres` started.
    Postgres,
}

/// A fresh database for one test: a SQLite file, or a new PostgreSQL
/// database on the server `scripts/with-postgres` started.
pub(crate) async fn fresh_database(backend: Backend) -> String {
    let unique = format!(
        "fs_test_{}_{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    match backend {
        Backend::Sqlite => std::env::temp_dir()
            .join(format!("{unique}.sqlite"))
            .display()
            .to_string(),
        Backend::Postgres => {
            let admin = std::env::var("FIELDSYNC_TEST_POSTGRES_URL").expect(
                "FIELDSYNC_TEST_POSTGRES_URL is not set: run the tests through scripts/test, or `scripts/with-postgres cargo test -p fieldsync-server`",
            );
            let pool = sqlx::PgPool::connect(&admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {unique}")))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let base = admin.rsplit_once('/').unwrap().0;
            format!("{base}/{unique}")
        }
    }
}

/// An HTTP client (rustls needs its crypto provider installed first).
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
