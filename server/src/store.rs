//! Storage: the merged state of every record and a per-user change feed.
//!
//! # Design
//! - `fs_records` holds one row per `(app, user, table, record)`: its merged
//!   state (field values and stamps, lifecycle, re-stamp memory; see
//!   `fieldsync_core::ingest`) and `seq`, the feed position of its latest
//!   change. A pull after a long absence therefore returns each changed
//!   record once, in its current state.
//! - `fs_feeds` holds each `(app, user)` feed's last `seq`. A push takes the
//!   feed row's write lock for its whole transaction, so within a feed the
//!   `seq`s become visible in order: a reader can never see `seq` 6
//!   committed while 5 is still to come, and a cursor never skips a change.
//!   (SQLite has one writer at a time anyway; on PostgreSQL the row lock
//!   does it.)
//! - A push is one transaction: every change is validated before it starts,
//!   so a bad batch writes nothing; retries are idempotent (see `ingest`).
//! - Tombstones (deleted records' lifecycle registers) are kept for as long
//!   as the record's row exists — forever, in this version: a client offline
//!   for any length of time still learns of every delete.
//!
//! Cursors are `c<seq>`. An RFC 3339 timestamp is accepted too (records
//! changed after that server time), for clients that keep time cursors.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fieldsync_core::ingest::{StoredRecord, ingest};
use fieldsync_core::{
    Change, Clock, Conflict, Cursor, PullResponse, PushRequest, RecordKey, Timestamp,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use crate::error::AppError;

/// Where a pull or push's `since` starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// From the beginning.
    Start,
    /// After a feed position.
    Seq(i64),
    /// After a server time (ms since the epoch).
    Time(i64),
}

impl Since {
    /// Parses a cursor: `c<seq>`, an RFC 3339 timestamp, or nothing.
    pub fn parse(cursor: Option<&str>) -> Result<Since, AppError> {
        let Some(text) = cursor.map(str::trim).filter(|c| !c.is_empty()) else {
            return Ok(Since::Start);
        };
        if let Some(seq) = text.strip_prefix('c').and_then(|n| n.parse::<i64>().ok()) {
            return Ok(if seq <= 0 {
                Since::Start
            } else {
                Since::Seq(seq)
            });
        }
        match Timestamp::parse(text) {
            Ok(ts) => Ok(Since::Time(ts.ms() as i64)),
            Err(_) => Err(AppError::bad_request(
                "invalid_cursor",
                format!(
                    "`since` {text:?} is neither a cursor this server returned (syncedUntil) nor an RFC 3339 timestamp; send the last syncedUntil, or omit it to start over"
                ),
            )),
        }
    }
}

fn cursor(seq: i64) -> Cursor {
    Cursor(format!("c{seq}"))
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What a push did.
#[derive(Debug, Default)]
pub struct PushOutcome {
    /// Records changed by others since `since`, and pushed records whose
    /// stored state differs from what the client sent (conflicts, re-stamps).
    pub server_changes: Vec<Change>,
    /// Pushed fields that lost.
    pub conflicts: Vec<Conflict>,
    /// The cursor to pull from next.
    pub synced_until: Cursor,
    /// Tables whose records changed (for notifications).
    pub changed_tables: Vec<String>,
    /// Changes that changed a record.
    pub ingested: usize,
}

/// The database.
pub enum Store {
    /// A SQLite file: one writer connection (writes are serial in SQLite
    /// anyway; one connection avoids lock contention), several readers.
    Sqlite {
        /// The writer.
        writer: SqlitePool,
        /// The readers.
        reader: SqlitePool,
    },
}

const CHANGED_SINCE_SEQ: &str = "SELECT table_name, record_key, seq FROM fs_records \
    WHERE app_id = ? AND user_id = ? AND seq > ? ORDER BY seq LIMIT ?";
const CHANGED_SINCE_TIME: &str = "SELECT table_name, record_key, seq FROM fs_records \
    WHERE app_id = ? AND user_id = ? AND modified_at > ? ORDER BY seq LIMIT ?";
const PAGE_SINCE_SEQ: &str = "SELECT record_key, state, seq FROM fs_records \
    WHERE app_id = ? AND user_id = ? AND table_name = ? AND seq > ? ORDER BY seq LIMIT ?";
const PAGE_SINCE_TIME: &str = "SELECT record_key, state, seq FROM fs_records \
    WHERE app_id = ? AND user_id = ? AND table_name = ? AND modified_at > ? ORDER BY seq LIMIT ?";

/// Most server changes returned by a push (the rest come by pulling).
const PUSH_SERVER_CHANGES: i64 = 1000;

const SQLITE_SCHEMA: &[&str] = &[
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

impl Store {
    /// Connects to `url` (a SQLite URL or file path) and runs migrations.
    pub async fn connect(url: &str) -> Result<Store, AppError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Err(AppError::Internal(
                "PostgreSQL support is not built into this version yet; use a SQLite DATABASE_URL"
                    .into(),
            ));
        }
        let url = if url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite://{url}")
        };
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(|e| {
                AppError::Internal(format!("DATABASE_URL {url:?} is not a SQLite URL: {e}"))
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Every acknowledged push is on disk: clients delete their copy
            // of a change once the server acknowledged it.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let store = Store::Sqlite { writer, reader };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), AppError> {
        let Store::Sqlite { writer, .. } = self;
        let mut tx = writer.begin().await?;
        for statement in SQLITE_SCHEMA {
            sqlx::query(*statement).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The server clock's last persisted stamp.
    pub async fn load_clock(&self) -> Result<Option<Timestamp>, AppError> {
        let Store::Sqlite { reader, .. } = self;
        let row = sqlx::query("SELECT value FROM fs_meta WHERE key = 'clock'")
            .fetch_optional(reader)
            .await?;
        Ok(row.and_then(|r| Timestamp::parse(&r.get::<String, _>(0)).ok()))
    }

    /// A cheap liveness check.
    pub async fn ping(&self) -> Result<(), AppError> {
        let Store::Sqlite { reader, .. } = self;
        sqlx::query("SELECT 1").execute(reader).await?;
        Ok(())
    }

    /// The database kind, for `/health`.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Sqlite { .. } => "sqlite",
        }
    }

    /// Applies a validated push atomically.
    pub async fn push(
        &self,
        app: &str,
        user: &str,
        request: &PushRequest,
        clock: &Mutex<Clock>,
    ) -> Result<PushOutcome, AppError> {
        let since = Since::parse(request.since.as_ref().map(|c| c.0.as_str()))?;
        let Store::Sqlite { writer, .. } = self;
        let mut tx = writer.begin().await?;

        // Records changed since `since` (before this push), for the response.
        let others: Vec<(String, String, i64)> = match (since, request.since.is_some()) {
            (_, false) => Vec::new(),
            (since, true) => {
                let (sql, bound) = match since {
                    Since::Start => (CHANGED_SINCE_SEQ, 0),
                    Since::Seq(s) => (CHANGED_SINCE_SEQ, s),
                    Since::Time(ms) => (CHANGED_SINCE_TIME, ms),
                };
                sqlx::query(sql)
                    .bind(app)
                    .bind(user)
                    .bind(bound)
                    .bind(PUSH_SERVER_CHANGES + 1)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect()
            }
        };
        let truncated = others.len() as i64 > PUSH_SERVER_CHANGES;

        // Merge every change into its record, in order.
        let mut records: BTreeMap<(String, String), (StoredRecord, RecordKey, bool)> =
            BTreeMap::new();
        let mut out = PushOutcome::default();
        let mut differs: BTreeSet<(String, String)> = BTreeSet::new();
        for change in &request.changes {
            let id = (change.table.clone(), change.id.canonical());
            if !records.contains_key(&id) {
                let stored = load(&mut tx, app, user, &id.0, &id.1).await?;
                records.insert(id.clone(), (stored, change.id.clone(), false));
            }
            let (stored, key, changed) = records.get_mut(&id).expect("just inserted");
            let result = {
                let mut clock = clock
                    .lock()
                    .map_err(|_| AppError::Internal("clock lock poisoned".into()))?;
                ingest(stored, change, &mut clock, wall_ms())
            };
            if result.changed {
                *changed = true;
                out.ingested += 1;
            }
            if result.restamped || !result.conflicts.is_empty() {
                differs.insert(id.clone());
            }
            out.conflicts.extend(
                result
                    .conflicts
                    .iter()
                    .map(|loss| Conflict::from_loss(&change.table, key, loss)),
            );
        }

        // Feed positions for the changed records, under the feed row's lock.
        let changed: Vec<&(String, String)> = records
            .iter()
            .filter(|(_, r)| r.2)
            .map(|(id, _)| id)
            .collect();
        let last_seq = allocate(&mut tx, app, user, changed.len() as i64).await?;
        let now = wall_ms() as i64;
        let mut seq = last_seq - changed.len() as i64;
        for id in &changed {
            seq += 1;
            let (stored, _, _) = &records[*id];
            sqlx::query(
                "INSERT INTO fs_records (app_id, user_id, table_name, record_key, state, seq, client_id, modified_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (app_id, user_id, table_name, record_key)
                 DO UPDATE SET state = excluded.state, seq = excluded.seq, client_id = excluded.client_id, modified_at = excluded.modified_at",
            )
            .bind(app)
            .bind(user)
            .bind(&id.0)
            .bind(&id.1)
            .bind(stored.to_json())
            .bind(seq)
            .bind(&request.client_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if !changed.is_empty() {
            let clock_value = clock
                .lock()
                .map(|c| c.last().to_string())
                .unwrap_or_default();
            sqlx::query("INSERT INTO fs_meta (key, value) VALUES ('clock', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(clock_value)
                .execute(&mut *tx)
                .await?;
        }

        // The response: others' changes (in their current state, which for a
        // record this push touched includes the push), then pushed records
        // whose stored state is not what the client sent.
        let mut listed: BTreeSet<(String, String)> = BTreeSet::new();
        let delivered: Vec<&(String, String, i64)> =
            others.iter().take(PUSH_SERVER_CHANGES as usize).collect();
        for (table, key, _) in &delivered {
            let id = (table.clone(), key.clone());
            let stored = match records.get(&id) {
                Some((stored, _, _)) => stored.clone(),
                None => load(&mut tx, app, user, table, key).await?,
            };
            if let Some(change) = stored.to_change(table, &parse_key(key)?) {
                out.server_changes.push(change);
            }
            listed.insert(id);
        }
        for id in differs.difference(&listed) {
            let (stored, key, _) = &records[id];
            if let Some(change) = stored.to_change(&id.0, key) {
                out.server_changes.push(change);
            }
        }
        out.synced_until = match delivered.last() {
            Some((_, _, seq)) if truncated => cursor(*seq),
            _ => cursor(last_seq),
        };
        let tables: BTreeSet<String> = changed.iter().map(|id| id.0.clone()).collect();
        out.changed_tables = tables.into_iter().collect();
        tx.commit().await?;
        Ok(out)
    }

    /// One page of a table's changes after `since`.
    pub async fn pull(
        &self,
        app: &str,
        user: &str,
        table: &str,
        since: Since,
        limit: u32,
    ) -> Result<PullResponse, AppError> {
        let Store::Sqlite { reader, .. } = self;
        // One read transaction: the rows and the feed position are one
        // snapshot, so the cursor returned covers exactly what was read.
        let mut tx = reader.begin().await?;
        let (sql, bound) = match since {
            Since::Start => (PAGE_SINCE_SEQ, 0),
            Since::Seq(s) => (PAGE_SINCE_SEQ, s),
            Since::Time(ms) => (PAGE_SINCE_TIME, ms),
        };
        let rows = sqlx::query(sql)
            .bind(app)
            .bind(user)
            .bind(table)
            .bind(bound)
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *tx)
            .await?;
        let has_more = rows.len() > limit as usize;
        let mut server_changes = Vec::with_capacity(rows.len().min(limit as usize));
        let mut last = None;
        for row in rows.iter().take(limit as usize) {
            let key: String = row.get(0);
            let stored = StoredRecord::from_json(row.get::<&str, _>(1))
                .map_err(|e| AppError::Internal(format!("stored record {table}/{key}: {e}")))?;
            if let Some(change) = stored.to_change(table, &parse_key(&key)?) {
                server_changes.push(change);
            }
            last = Some(row.get::<i64, _>(2));
        }
        let synced_until = match last {
            Some(seq) if has_more => cursor(seq),
            _ => {
                let feed: Option<i64> =
                    sqlx::query("SELECT seq FROM fs_feeds WHERE app_id = ? AND user_id = ?")
                        .bind(app)
                        .bind(user)
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|r| r.get(0));
                let floor = match since {
                    Since::Seq(s) => s,
                    _ => 0,
                };
                cursor(feed.unwrap_or(0).max(last.unwrap_or(0)).max(floor))
            }
        };
        tx.commit().await?;
        Ok(PullResponse {
            server_changes,
            synced_until,
            has_more,
        })
    }
}

async fn load(
    tx: &mut Transaction<'_, Sqlite>,
    app: &str,
    user: &str,
    table: &str,
    key: &str,
) -> Result<StoredRecord, AppError> {
    let row = sqlx::query(
        "SELECT state FROM fs_records WHERE app_id = ? AND user_id = ? AND table_name = ? AND record_key = ?",
    )
    .bind(app)
    .bind(user)
    .bind(table)
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        None => Ok(StoredRecord::default()),
        Some(row) => StoredRecord::from_json(row.get::<&str, _>(0))
            .map_err(|e| AppError::Internal(format!("stored record {table}/{key}: {e}"))),
    }
}

/// Takes `n` feed positions; returns the last one (the current one if 0).
async fn allocate(
    tx: &mut Transaction<'_, Sqlite>,
    app: &str,
    user: &str,
    n: i64,
) -> Result<i64, AppError> {
    let row = sqlx::query(
        "INSERT INTO fs_feeds (app_id, user_id, seq) VALUES (?, ?, ?)
         ON CONFLICT (app_id, user_id) DO UPDATE SET seq = seq + excluded.seq
         RETURNING seq",
    )
    .bind(app)
    .bind(user)
    .bind(n)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.get(0))
}

fn parse_key(canonical: &str) -> Result<RecordKey, AppError> {
    serde_json::from_str::<serde_json::Value>(canonical)
        .ok()
        .and_then(|v| RecordKey::new(v).ok())
        .ok_or_else(|| AppError::Internal(format!("stored record key {canonical:?} is unreadable")))
}
