//! Databases made by the release before versioned migrations are adopted in
//! place: the first migration is that release's schema, so opening such a
//! database with this server keeps every row and records the migration.

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use fieldsync_core::{Clock, PushRequest, Timestamp};
use fieldsync_server::{AppState, Config};
use serde_json::{Value, json};
use sqlx::Row;

mod common;
use common::{Backend, fresh_database};

/// The previous release's schema, as its `Store::migrate` created it.
const PREVIOUS_SQLITE: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS fs_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS fs_feeds (app_id TEXT NOT NULL, user_id TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (app_id, user_id))",
    "CREATE TABLE IF NOT EXISTS fs_records (
        app_id TEXT NOT NULL, user_id TEXT NOT NULL, table_name TEXT NOT NULL, record_key TEXT NOT NULL,
        state TEXT NOT NULL, seq INTEGER NOT NULL, client_id TEXT NOT NULL, modified_at INTEGER NOT NULL,
        PRIMARY KEY (app_id, user_id, table_name, record_key))",
    "CREATE INDEX IF NOT EXISTS fs_records_table_feed ON fs_records (app_id, user_id, table_name, seq)",
    "CREATE INDEX IF NOT EXISTS fs_records_feed ON fs_records (app_id, user_id, seq)",
    "INSERT INTO fs_meta (key, value) VALUES ('schema_version', '1') ON CONFLICT (key) DO NOTHING",
];

const PREVIOUS_POSTGRES: &[&str] = &[
    "SELECT pg_advisory_xact_lock(7347230155)",
    "CREATE TABLE IF NOT EXISTS fs_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS fs_feeds (app_id TEXT NOT NULL, user_id TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (app_id, user_id))",
    "CREATE TABLE IF NOT EXISTS fs_records (
        app_id TEXT NOT NULL, user_id TEXT NOT NULL, table_name TEXT NOT NULL, record_key TEXT NOT NULL,
        state TEXT NOT NULL, seq BIGINT NOT NULL, client_id TEXT NOT NULL, modified_at BIGINT NOT NULL,
        PRIMARY KEY (app_id, user_id, table_name, record_key))",
    "CREATE INDEX IF NOT EXISTS fs_records_table_feed ON fs_records (app_id, user_id, table_name, seq)",
    "CREATE INDEX IF NOT EXISTS fs_records_feed ON fs_records (app_id, user_id, seq)",
    "INSERT INTO fs_meta (key, value) VALUES ('schema_version', '1') ON CONFLICT (key) DO NOTHING",
];

/// Rows as that release wrote them: alice's three records (one deleted, one
/// with a numeric id), bob's one, the feeds and the clock.
const ROWS: &[&str] = &[
    r#"INSERT INTO fs_records VALUES ('todo', 'alice', 'todos', '"t1"',
        '{"fields":{"title":{"value":"Buy milk","updatedAt":"2024-01-01T10:00:00.000000000Z"}},"insertedAt":"2024-01-01T10:00:00.000000000Z"}',
        1, 'tab-a', 1704103200000)"#,
    r#"INSERT INTO fs_records VALUES ('todo', 'alice', 'todos', '"t2"',
        '{"fields":{},"deletedAt":"2024-01-01T11:00:00.000000000Z"}',
        2, 'tab-a', 1704106800000)"#,
    r#"INSERT INTO fs_records VALUES ('todo', 'alice', 'todos', '7',
        '{"fields":{"n":{"value":7,"updatedAt":"2024-01-01T12:00:00.000000000Z"}},"insertedAt":"2024-01-01T12:00:00.000000000Z"}',
        3, 'tab-b', 1704110400000)"#,
    r#"INSERT INTO fs_records VALUES ('todo', 'bob', 'todos', '"b"',
        '{"fields":{"x":{"value":true,"updatedAt":"2024-01-01T12:00:00.000000000Z"}},"insertedAt":"2024-01-01T12:00:00.000000000Z"}',
        1, 'tab-c', 1704110400000)"#,
    "INSERT INTO fs_feeds VALUES ('todo', 'alice', 3)",
    "INSERT INTO fs_feeds VALUES ('todo', 'bob', 1)",
    "INSERT INTO fs_meta (key, value) VALUES ('clock', '2024-01-02T00:00:00.000000000Z')",
];

async fn previous_release_database(backend: Backend) -> String {
    let url = fresh_database(backend).await;
    match backend {
        Backend::Sqlite => {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{url}"))
                .unwrap()
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            let mut tx = pool.begin().await.unwrap();
            for sql in PREVIOUS_SQLITE.iter().chain(ROWS) {
                sqlx::query(*sql).execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let mut tx = pool.begin().await.unwrap();
            for sql in PREVIOUS_POSTGRES.iter().chain(ROWS) {
                sqlx::query(*sql).execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
            pool.close().await;
        }
    }
    url
}

/// `(version, success)` of each applied migration, and the row counts.
async fn recorded(backend: Backend, url: &str) -> (Vec<(i64, bool)>, i64, i64) {
    const MIGRATIONS: &str = "SELECT version, success FROM _sqlx_migrations ORDER BY version";
    const RECORDS: &str = "SELECT COUNT(*) FROM fs_records";
    const FEEDS: &str = "SELECT COUNT(*) FROM fs_feeds";
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{url}"))
                .await
                .unwrap();
            let migrations = sqlx::query(MIGRATIONS).fetch_all(&pool).await.unwrap();
            let records = sqlx::query(RECORDS).fetch_one(&pool).await.unwrap().get(0);
            let feeds = sqlx::query(FEEDS).fetch_one(&pool).await.unwrap().get(0);
            pool.close().await;
            let migrations = migrations.iter().map(|r| (r.get(0), r.get(1))).collect();
            (migrations, records, feeds)
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let migrations = sqlx::query(MIGRATIONS).fetch_all(&pool).await.unwrap();
            let records = sqlx::query(RECORDS).fetch_one(&pool).await.unwrap().get(0);
            let feeds = sqlx::query(FEEDS).fetch_one(&pool).await.unwrap().get(0);
            pool.close().await;
            let migrations = migrations.iter().map(|r| (r.get(0), r.get(1))).collect();
            (migrations, records, feeds)
        }
    }
}

async fn open(url: &str) -> Arc<AppState> {
    AppState::new(Config {
        database_url: url.to_owned(),
        jwt_secret: Some("s".into()),
        ..Config::default()
    })
    .await
    .unwrap()
}

async fn a_previous_release_database_is_adopted_in_place(backend: Backend) {
    let url = previous_release_database(backend).await;
    let state = open(&url).await;

    // Every row reads back as it was written.
    let page = state
        .store
        .pull("todo", "alice", "todos", fieldsync_core::Since::Start, 100)
        .await
        .unwrap();
    let page: Value = serde_json::from_str(&page.to_json()).unwrap();
    assert_eq!(
        page,
        json!({
            "serverChanges": [
                {"table": "todos", "id": "t1", "op": "insert",
                 "fields": {"title": {"value": "Buy milk", "updatedAt": "2024-01-01T10:00:00.000000000Z"}},
                 "insertedAt": "2024-01-01T10:00:00.000000000Z"},
                {"table": "todos", "id": "t2", "op": "delete", "deletedAt": "2024-01-01T11:00:00.000000000Z"},
                {"table": "todos", "id": 7, "op": "insert",
                 "fields": {"n": {"value": 7, "updatedAt": "2024-01-01T12:00:00.000000000Z"}},
                 "insertedAt": "2024-01-01T12:00:00.000000000Z"},
            ],
            "syncedUntil": "c3",
            "hasMore": false,
        })
    );
    // The clock resumes after the stored stamp; the feed after seq 3.
    let stored = Timestamp::parse("2024-01-02T00:00:00.000000000Z").unwrap();
    assert!(state.clock.lock().unwrap().last() >= stored);
    let push = PushRequest::parse(
        json!({
            "clientId": "tab-a", "since": "c3",
            "changes": [{"table": "todos", "id": "t3", "op": "insert", "data": {"title": "new"}}]
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let clock = Arc::new(Mutex::new(Clock::new()));
    let out = state
        .store
        .push("todo", "alice", push, &clock, 1)
        .await
        .unwrap();
    assert_eq!(out.synced_until.0, "c4");
    let bob = state
        .store
        .pull("todo", "bob", "todos", fieldsync_core::Since::Start, 100)
        .await
        .unwrap();
    assert_eq!(bob.server_changes.len(), 1);
    assert_eq!(bob.server_changes[0].id.as_value(), &json!("b"));
    drop(state);

    let (migrations, records, feeds) = recorded(backend, &url).await;
    assert_eq!(migrations, [(1, true)], "the first migration is recorded");
    assert_eq!((records, feeds), (5, 2));

    // Opening it again runs nothing twice and still reads.
    let again = open(&url).await;
    let page = again
        .store
        .pull("todo", "alice", "todos", fieldsync_core::Since::Start, 100)
        .await
        .unwrap();
    let ids: Vec<Value> = page
        .server_changes
        .iter()
        .map(|c| c.id.as_value().clone())
        .collect();
    assert_eq!(ids, [json!("t1"), json!("t2"), json!(7), json!("t3")]);
    assert_eq!(recorded(backend, &url).await.0, [(1, true)]);
}

/// A new database gets the same schema through the same migration.
async fn a_new_database_is_migrated(backend: Backend) {
    let url = fresh_database(backend).await;
    let state = open(&url).await;
    assert!(state.store.load_clock().await.unwrap().is_none());
    drop(state);
    assert_eq!(recorded(backend, &url).await, (vec![(1, true)], 0, 0));
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn previous_release_adopted() {
        a_previous_release_database_is_adopted_in_place(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn new_database() {
        a_new_database_is_migrated(Backend::Sqlite).await
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn previous_release_adopted() {
        a_previous_release_database_is_adopted_in_place(Backend::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn new_database() {
        a_new_database_is_migrated(Backend::Postgres).await
    }
}
