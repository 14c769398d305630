//! Shared by the server's integration tests and its soak benchmark (each
//! uses part of it).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

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
pub(crate) fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A token from a development-mode server's `POST /dev/token`.
pub(crate) async fn dev_token(http: &reqwest::Client, base: &str, user: &str) -> String {
    let res: Value = http
        .post(format!("{base}/dev/token"))
        .body(json!({ "user": user }).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["token"].as_str().unwrap().to_owned()
}

/// The user's whole `items` table in `app`, as a new client pulls it: id →
/// the change.
pub(crate) async fn pull_all(
    http: &reqwest::Client,
    base: &str,
    app: &str,
    token: &str,
) -> BTreeMap<String, Value> {
    let mut since = String::new();
    let mut state = BTreeMap::new();
    loop {
        let page: Value = http
            // Cursors are `c<number>`: nothing to escape.
            .get(format!(
                "{base}/sync/{app}/pull?collection=items&limit=1000&since={since}"
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for change in page["serverChanges"].as_array().unwrap() {
            state.insert(change["id"].as_str().unwrap().to_owned(), change.clone());
        }
        since = page["syncedUntil"].as_str().unwrap().to_owned();
        if !page["hasMore"].as_bool().unwrap() {
            return state;
        }
    }
}
