//! Storage: the merged state of every record and a per-user change feed, on
//! SQLite (one file, nothing to install) or PostgreSQL (several server
//! instances on one database).
//!
//! # Design
//! - `fs_records` holds one row per `(app, user, table, record)`: its merged
//!   state (field values and stamps, lifecycle, re-stamp memory; see
//!   `fieldsync_core::ingest`) and `seq`, the feed position of its latest
//!   change. A pull after a long absence therefore returns each changed
//!   record once, in its current state.
//! - `fs_feeds` holds each `(app, user)` feed's last `seq`. A push holds the
//!   feed row's lock for its whole transaction (SQLite: the single writer;
//!   PostgreSQL: `SELECT … FOR UPDATE` first). So one user's pushes never
//!   merge into a record at the same time (no lost update), and a feed's
//!   `seq`s commit in order: a reader never sees `seq` 6 while 5 is still to
//!   come, and a cursor never skips a change. A pull reads its rows and the
//!   feed position in one snapshot.
//! - A push is one transaction: every change is validated before it starts,
//!   so a bad batch writes nothing; retries are idempotent (see `ingest`).
//! - Tombstones (deleted records' lifecycle registers) are kept for as long
//!   as the record's row exists — forever, in this version: a client offline
//!   for any length of time still learns of every delete.
//! - On PostgreSQL a push also `NOTIFY`s channel `fieldsync` in its
//!   transaction, so every instance's WebSockets hear of it once it commits.
//!
//! - The schema is made by versioned migrations, one folder per database
//!   (`server/migrations/`); the code is one generic implementation over
//!   [`FeedTx`], and [`Dialect`] holds the few operations that differ.
//!
//! Cursors are `c<seq>`. An RFC 3339 timestamp is accepted too (records
//! changed after that server time), for clients that keep time cursors.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fieldsync_core::ingest::{StoredRecord, ingest};
use fieldsync_core::{
    Change, Clock, Conflict, Cursor, PullResponse, PushRequest, RecordKey, Timestamp,
};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, Postgres};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{
    Acquire, ColumnIndex, Connection, Database, Decode, Encode, Executor, IntoArguments, Pool,
    QueryBuilder, Row, Transaction, Type,
};
use tokio::sync::{mpsc, oneshot};

use crate::error::AppError;

pub use fieldsync_core::Since;

/// The SQL filter's bound of a `since`, and whether it is a time.
fn bound(since: Since) -> (i64, bool) {
    match since {
        Since::Start => (0, false),
        Since::Seq(s) => (s, false),
        Since::Time(ms) => (ms, true),
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
    /// Records changed since `since`, and pushed records whose stored state
    /// differs from what the client sent (conflicts, re-stamps).
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

/// A change notification crossing server instances (PostgreSQL `NOTIFY`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeedNotice {
    /// The instance that committed the push (it told its own sockets).
    pub origin: u64,
    /// The app.
    pub app: String,
    /// The user.
    pub user: String,
    /// The pushing client, whose sockets are not told.
    pub client: String,
    /// The tables that changed.
    pub tables: Vec<String>,
}

/// `NOTIFY` payloads must stay under 8,000 bytes.
const MAX_NOTICE_TABLES: usize = 50;

/// One push waiting for the SQLite writer.
pub struct PushJob {
    app: String,
    user: String,
    request: PushRequest,
    clock: Arc<Mutex<Clock>>,
    origin: u64,
    reply: oneshot::Sender<Result<PushOutcome, AppError>>,
}

/// Most pushes committed together.
const MAX_GROUP: usize = 64;

/// The database.
pub enum Store {
    /// A SQLite file: one writer task (SQLite writes one at a time anyway)
    /// that commits every push queued at that moment in one transaction —
    /// one fsync for many pushes, each in its own savepoint so a failing push
    /// rolls back alone — and several reader connections.
    Sqlite {
        /// The writer's connection (migrations, then the writer task).
        writer: SqlitePool,
        /// Pushes for the writer task.
        jobs: mpsc::Sender<PushJob>,
        /// The readers.
        reader: SqlitePool,
    },
    /// PostgreSQL, possibly shared by several server instances.
    Postgres {
        /// The pool.
        pool: PgPool,
    },
}

/// Records read per query when a push loads its records.
const LOAD_CHUNK: usize = 200;

/// Most server changes returned by a push (the rest come by pulling).
const PUSH_SERVER_CHANGES: i64 = 1000;

// Shared SQL: both drivers read `$N` placeholders (in order of first use)
// and `ON CONFLICT … excluded`, so one text serves both; what truly differs
// is in [`Dialect`].
const CHANGED_SINCE_SEQ: &str = "SELECT table_name, record_key, seq, state FROM fs_records \
    WHERE app_id = $1 AND user_id = $2 AND seq > $3 ORDER BY seq LIMIT $4";
const CHANGED_SINCE_TIME: &str = "SELECT table_name, record_key, seq, state FROM fs_records \
    WHERE app_id = $1 AND user_id = $2 AND modified_at > $3 ORDER BY seq LIMIT $4";
const PAGE_SINCE_SEQ: &str = "SELECT record_key, state, seq FROM fs_records \
    WHERE app_id = $1 AND user_id = $2 AND table_name = $3 AND seq > $4 ORDER BY seq LIMIT $5";
const PAGE_SINCE_TIME: &str = "SELECT record_key, state, seq FROM fs_records \
    WHERE app_id = $1 AND user_id = $2 AND table_name = $3 AND modified_at > $4 ORDER BY seq LIMIT $5";
const LOAD_MANY: &str = "SELECT table_name, record_key, state FROM fs_records WHERE app_id = ";
const ALLOCATE: &str = "INSERT INTO fs_feeds (app_id, user_id, seq) VALUES ($1, $2, $3) \
    ON CONFLICT (app_id, user_id) DO UPDATE SET seq = fs_feeds.seq + excluded.seq RETURNING seq";
const UPSERT: &str = "INSERT INTO fs_records \
    (app_id, user_id, table_name, record_key, state, seq, client_id, modified_at) ";
const UPSERT_CONFLICT: &str = " ON CONFLICT (app_id, user_id, table_name, record_key) DO UPDATE SET \
    state = excluded.state, seq = excluded.seq, client_id = excluded.client_id, modified_at = excluded.modified_at";
/// Records per upsert statement (8 parameters each, well under both
/// databases' limits).
const UPSERT_CHUNK: usize = 500;
const FEED_SEQ: &str = "SELECT seq FROM fs_feeds WHERE app_id = $1 AND user_id = $2";
const SAVE_CLOCK: &str = "INSERT INTO fs_meta (key, value) VALUES ('clock', $1) \
    ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const LOAD_CLOCK: &str = "SELECT value FROM fs_meta WHERE key = 'clock'";
const PG_LOCK_FEED_INSERT: &str = "INSERT INTO fs_feeds (app_id, user_id, seq) VALUES ($1, $2, 0) \
    ON CONFLICT (app_id, user_id) DO NOTHING";
const PG_LOCK_FEED: &str = "SELECT seq FROM fs_feeds WHERE app_id = $1 AND user_id = $2 FOR UPDATE";
const PG_SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ";
const PG_NOTIFY: &str = "SELECT pg_notify('fieldsync', $1)";

/// The schema's versioned migrations, one folder per database. A released
/// migration is never edited (sqlx checks each applied one's checksum):
/// schema changes are new files.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// One record row to write.
struct RecordRow<'a> {
    table: &'a str,
    key: &'a str,
    state: String,
    seq: i64,
}

/// A record changed since a cursor: `(table, key, seq, state)`.
type ChangedRow = (String, String, i64, String);

/// What differs between the databases: everything else is written once,
/// over [`FeedTx`].
trait Dialect: Database {
    /// The schema's migrations.
    fn migrator() -> &'static Migrator;
    /// Takes the feed's lock for the rest of the transaction.
    async fn lock_feed(
        tx: &mut Transaction<'_, Self>,
        app: &str,
        user: &str,
    ) -> Result<(), sqlx::Error>;
    /// Makes the rest of a read transaction one snapshot.
    async fn snapshot(tx: &mut Transaction<'_, Self>) -> Result<(), sqlx::Error>;
    /// Announces a committed push to other instances.
    async fn notify(tx: &mut Transaction<'_, Self>, notice: &FeedNotice)
    -> Result<(), sqlx::Error>;
}

// SQLite: the single writer connection already serialises pushes, and a
// read transaction is a snapshot; notifications stay in this process.
impl Dialect for Sqlite {
    fn migrator() -> &'static Migrator {
        &SQLITE_MIGRATIONS
    }
    async fn lock_feed(_: &mut Transaction<'_, Self>, _: &str, _: &str) -> Result<(), sqlx::Error> {
        Ok(())
    }
    async fn snapshot(_: &mut Transaction<'_, Self>) -> Result<(), sqlx::Error> {
        Ok(())
    }
    async fn notify(_: &mut Transaction<'_, Self>, _: &FeedNotice) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

impl Dialect for Postgres {
    fn migrator() -> &'static Migrator {
        &POSTGRES_MIGRATIONS
    }
    async fn lock_feed(
        tx: &mut Transaction<'_, Self>,
        app: &str,
        user: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(PG_LOCK_FEED_INSERT)
            .bind(app)
            .bind(user)
            .execute(&mut **tx)
            .await?;
        sqlx::query(PG_LOCK_FEED)
            .bind(app)
            .bind(user)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
    async fn snapshot(tx: &mut Transaction<'_, Self>) -> Result<(), sqlx::Error> {
        sqlx::query(PG_SNAPSHOT).execute(&mut **tx).await?;
        Ok(())
    }
    async fn notify(
        tx: &mut Transaction<'_, Self>,
        notice: &FeedNotice,
    ) -> Result<(), sqlx::Error> {
        let payload = serde_json::to_string(notice).unwrap_or_default();
        sqlx::query(PG_NOTIFY)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// One transaction's feed operations; the push and pull logic is written
/// once over this, for both databases.
trait FeedTx {
    async fn lock_feed(&mut self, app: &str, user: &str) -> Result<(), sqlx::Error>;
    async fn snapshot(&mut self) -> Result<(), sqlx::Error>;
    /// Records changed since `since`, with their stored states: a push's
    /// response reads them in this one query.
    async fn changed_since(
        &mut self,
        app: &str,
        user: &str,
        since: Since,
        limit: i64,
    ) -> Result<Vec<ChangedRow>, sqlx::Error>;
    async fn page(
        &mut self,
        app: &str,
        user: &str,
        table: &str,
        since: Since,
        limit: i64,
    ) -> Result<Vec<(String, String, i64)>, sqlx::Error>;
    /// The stored states of many records at once: `(table, key, state)`.
    async fn load_many(
        &mut self,
        app: &str,
        user: &str,
        ids: &[(String, String)],
    ) -> Result<Vec<(String, String, String)>, sqlx::Error>;
    async fn allocate(&mut self, app: &str, user: &str, n: i64) -> Result<i64, sqlx::Error>;
    /// Writes changed records, many per statement.
    async fn upsert_many(
        &mut self,
        app: &str,
        user: &str,
        client: &str,
        now: i64,
        rows: &[RecordRow<'_>],
    ) -> Result<(), sqlx::Error>;
    async fn feed_seq(&mut self, app: &str, user: &str) -> Result<Option<i64>, sqlx::Error>;
    async fn save_clock(&mut self, clock: &str) -> Result<(), sqlx::Error>;
    async fn load_clock(&mut self) -> Result<Option<String>, sqlx::Error>;
    async fn notify(&mut self, notice: &FeedNotice) -> Result<(), sqlx::Error>;
}

impl<DB> FeedTx for Transaction<'_, DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    i64: for<'a> Encode<'a, DB> + for<'r> Decode<'r, DB> + Type<DB>,
    String: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn lock_feed(&mut self, app: &str, user: &str) -> Result<(), sqlx::Error> {
        DB::lock_feed(self, app, user).await
    }

    async fn snapshot(&mut self) -> Result<(), sqlx::Error> {
        DB::snapshot(self).await
    }

    async fn changed_since(
        &mut self,
        app: &str,
        user: &str,
        since: Since,
        limit: i64,
    ) -> Result<Vec<ChangedRow>, sqlx::Error> {
        let (bound, by_time) = bound(since);
        let sql = if by_time {
            CHANGED_SINCE_TIME
        } else {
            CHANGED_SINCE_SEQ
        };
        let rows = sqlx::query(sql)
            .bind(app)
            .bind(user)
            .bind(bound)
            .bind(limit)
            .fetch_all(&mut **self)
            .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    async fn page(
        &mut self,
        app: &str,
        user: &str,
        table: &str,
        since: Since,
        limit: i64,
    ) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
        let (bound, by_time) = bound(since);
        let sql = if by_time {
            PAGE_SINCE_TIME
        } else {
            PAGE_SINCE_SEQ
        };
        let rows = sqlx::query(sql)
            .bind(app)
            .bind(user)
            .bind(table)
            .bind(bound)
            .bind(limit)
            .fetch_all(&mut **self)
            .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    async fn load_many(
        &mut self,
        app: &str,
        user: &str,
        ids: &[(String, String)],
    ) -> Result<Vec<(String, String, String)>, sqlx::Error> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(LOAD_CHUNK) {
            let mut query = QueryBuilder::<DB>::new(LOAD_MANY);
            query.push_bind(app).push(" AND user_id = ").push_bind(user);
            query.push(" AND (table_name, record_key) IN (");
            let mut list = query.separated(", ");
            for (table, key) in chunk {
                list.push("(")
                    .push_bind_unseparated(table.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(key.as_str())
                    .push_unseparated(")");
            }
            query.push(")");
            let rows = query.build().fetch_all(&mut **self).await?;
            for r in rows {
                out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
            }
        }
        Ok(out)
    }

    async fn allocate(&mut self, app: &str, user: &str, n: i64) -> Result<i64, sqlx::Error> {
        let row = sqlx::query(ALLOCATE)
            .bind(app)
            .bind(user)
            .bind(n)
            .fetch_one(&mut **self)
            .await?;
        row.try_get(0)
    }

    async fn upsert_many(
        &mut self,
        app: &str,
        user: &str,
        client: &str,
        now: i64,
        rows: &[RecordRow<'_>],
    ) -> Result<(), sqlx::Error> {
        for chunk in rows.chunks(UPSERT_CHUNK) {
            let mut query = QueryBuilder::<DB>::new(UPSERT);
            query.push_values(chunk, |mut values, row| {
                values
                    .push_bind(app)
                    .push_bind(user)
                    .push_bind(row.table)
                    .push_bind(row.key)
                    .push_bind(row.state.as_str())
                    .push_bind(row.seq)
                    .push_bind(client)
                    .push_bind(now);
            });
            query.push(UPSERT_CONFLICT);
            query.build().execute(&mut **self).await?;
        }
        Ok(())
    }

    async fn feed_seq(&mut self, app: &str, user: &str) -> Result<Option<i64>, sqlx::Error> {
        let row = sqlx::query(FEED_SEQ)
            .bind(app)
            .bind(user)
            .fetch_optional(&mut **self)
            .await?;
        row.map(|r| r.try_get(0)).transpose()
    }

    async fn save_clock(&mut self, clock: &str) -> Result<(), sqlx::Error> {
        sqlx::query(SAVE_CLOCK)
            .bind(clock)
            .execute(&mut **self)
            .await?;
        Ok(())
    }

    async fn load_clock(&mut self) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query(LOAD_CLOCK).fetch_optional(&mut **self).await?;
        row.map(|r| r.try_get(0)).transpose()
    }

    async fn notify(&mut self, notice: &FeedNotice) -> Result<(), sqlx::Error> {
        DB::notify(self, notice).await
    }
}

/// The persisted clock stamp.
async fn read_clock<DB: Dialect>(pool: &Pool<DB>) -> Result<Option<String>, AppError>
where
    for<'t> Transaction<'t, DB>: FeedTx,
{
    let mut tx = pool.begin().await?;
    let value = tx.load_clock().await?;
    tx.commit().await?;
    Ok(value)
}

async fn pull_from<DB: Dialect>(
    pool: &Pool<DB>,
    app: &str,
    user: &str,
    table: &str,
    since: Since,
    limit: u32,
) -> Result<PullResponse, AppError>
where
    for<'t> Transaction<'t, DB>: FeedTx,
{
    let mut tx = pool.begin().await?;
    let out = pull_in(&mut tx, app, user, table, since, limit).await?;
    tx.commit().await?;
    Ok(out)
}

async fn ping<DB: Database>(pool: &Pool<DB>) -> Result<(), AppError> {
    pool.acquire().await?.ping().await?;
    Ok(())
}

/// Brings the schema up to date. The first migration is the schema of the
/// releases before migrations (`CREATE … IF NOT EXISTS`), so their
/// databases are adopted in place.
async fn migrate<DB: Dialect>(pool: &Pool<DB>) -> Result<(), AppError>
where
    DB::Connection: Migrate,
{
    DB::migrator().run(pool).await?;
    Ok(())
}

impl Store {
    /// Connects to `url` and runs migrations: `postgres://…`, or a SQLite
    /// URL or file path (created if missing).
    pub async fn connect(url: &str) -> Result<Store, AppError> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(|e| {
                AppError::Internal(format!("DATABASE_URL is not a PostgreSQL URL: {e}"))
            })?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Store::Postgres { pool }
        } else {
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
                // Every acknowledged push is on disk: clients delete their
                // copy of a change once the server acknowledged it.
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
            let (jobs, queue) = mpsc::channel(4 * MAX_GROUP);
            tokio::spawn(sqlite_writer(writer.clone(), queue));
            Store::Sqlite {
                writer,
                jobs,
                reader,
            }
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), AppError> {
        match self {
            Store::Sqlite { writer, .. } => migrate(writer).await,
            Store::Postgres { pool } => migrate(pool).await,
        }
    }

    /// The server clock's last persisted stamp.
    pub async fn load_clock(&self) -> Result<Option<Timestamp>, AppError> {
        let value = match self {
            Store::Sqlite { reader, .. } => read_clock(reader).await?,
            Store::Postgres { pool } => read_clock(pool).await?,
        };
        Ok(value.and_then(|v| Timestamp::parse(&v).ok()))
    }

    /// A cheap liveness check.
    pub async fn ping(&self) -> Result<(), AppError> {
        match self {
            Store::Sqlite { reader, .. } => ping(reader).await,
            Store::Postgres { pool } => ping(pool).await,
        }
    }

    /// The database kind, for `/health`.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Sqlite { .. } => "sqlite",
            Store::Postgres { .. } => "postgres",
        }
    }

    /// The PostgreSQL pool, for the notification listener.
    pub fn postgres(&self) -> Option<&PgPool> {
        match self {
            Store::Postgres { pool } => Some(pool),
            Store::Sqlite { .. } => None,
        }
    }

    /// Applies a validated push atomically. `origin` identifies this
    /// instance in notices to the others.
    pub async fn push(
        &self,
        app: &str,
        user: &str,
        request: PushRequest,
        clock: &Arc<Mutex<Clock>>,
        origin: u64,
    ) -> Result<PushOutcome, AppError> {
        match self {
            Store::Sqlite { jobs, .. } => {
                let (reply, answer) = oneshot::channel();
                let job = PushJob {
                    app: app.to_owned(),
                    user: user.to_owned(),
                    request,
                    clock: clock.clone(),
                    origin,
                    reply,
                };
                let gone = || AppError::Internal("the SQLite writer stopped".into());
                jobs.send(job).await.map_err(|_| gone())?;
                answer.await.map_err(|_| gone())?
            }
            Store::Postgres { pool } => {
                let mut tx = pool.begin().await?;
                let out = push_in(&mut tx, app, user, &request, clock, origin).await?;
                tx.commit().await?;
                Ok(out)
            }
        }
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
        match self {
            Store::Sqlite { reader, .. } => pull_from(reader, app, user, table, since, limit).await,
            Store::Postgres { pool } => pull_from(pool, app, user, table, since, limit).await,
        }
    }
}

/// The SQLite writer: commits queued pushes in groups.
async fn sqlite_writer(pool: SqlitePool, mut queue: mpsc::Receiver<PushJob>) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        match commit_group(&pool, &group).await {
            Ok(outcomes) => {
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    let _ = job.reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!("a group of {} pushes failed to commit: {e}", group.len());
                for job in group {
                    let _ = job
                        .reply
                        .send(Err(AppError::Internal(format!("commit failed: {e}"))));
                }
            }
        }
    }
}

async fn commit_group(
    pool: &SqlitePool,
    group: &[PushJob],
) -> Result<Vec<Result<PushOutcome, AppError>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut outcomes = Vec::with_capacity(group.len());
    for job in group {
        // A savepoint per push: one that fails leaves the others intact.
        let mut savepoint = tx.begin().await?;
        let outcome = push_in(
            &mut savepoint,
            &job.app,
            &job.user,
            &job.request,
            &job.clock,
            job.origin,
        )
        .await;
        match outcome {
            Ok(outcome) => {
                savepoint.commit().await?;
                outcomes.push(Ok(outcome));
            }
            Err(e) => {
                savepoint.rollback().await?;
                outcomes.push(Err(e));
            }
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}

async fn push_in(
    tx: &mut impl FeedTx,
    app: &str,
    user: &str,
    request: &PushRequest,
    clock: &Mutex<Clock>,
    origin: u64,
) -> Result<PushOutcome, AppError> {
    let since = Since::parse(request.since.as_ref().map(|c| c.0.as_str()))?;
    tx.lock_feed(app, user).await?;

    // Records changed since `since` (before this push), for the response.
    let others = if request.since.is_some() {
        tx.changed_since(app, user, since, PUSH_SERVER_CHANGES + 1)
            .await?
    } else {
        Vec::new()
    };
    let truncated = others.len() as i64 > PUSH_SERVER_CHANGES;

    // Merge every change into its record, in order.
    let mut records: BTreeMap<(String, String), (StoredRecord, RecordKey, bool)> = BTreeMap::new();
    let mut out = PushOutcome::default();
    let mut differs: BTreeSet<(String, String)> = BTreeSet::new();
    // Every touched record, read in a few queries.
    let mut ids: Vec<(String, String)> = request
        .changes
        .iter()
        .map(|c| (c.table.clone(), c.id.canonical()))
        .collect();
    ids.sort();
    ids.dedup();
    let mut stored_states: BTreeMap<(String, String), String> = tx
        .load_many(app, user, &ids)
        .await?
        .into_iter()
        .map(|(table, key, state)| ((table, key), state))
        .collect();
    for change in &request.changes {
        let id = (change.table.clone(), change.id.canonical());
        if !records.contains_key(&id) {
            let stored = match stored_states.remove(&id) {
                None => StoredRecord::default(),
                Some(json) => StoredRecord::from_json(&json).map_err(|e| {
                    AppError::Internal(format!("stored record {}/{}: {e}", id.0, id.1))
                })?,
            };
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

    // Feed positions for the changed records, under the feed's lock.
    let changed: Vec<&(String, String)> = records
        .iter()
        .filter(|(_, r)| r.2)
        .map(|(id, _)| id)
        .collect();
    let last_seq = tx.allocate(app, user, changed.len() as i64).await?;
    let now = wall_ms() as i64;
    let first_seq = last_seq - changed.len() as i64;
    let rows: Vec<RecordRow<'_>> = changed
        .iter()
        .enumerate()
        .map(|(i, id)| RecordRow {
            table: &id.0,
            key: &id.1,
            state: records[*id].0.to_json(),
            seq: first_seq + 1 + i as i64,
        })
        .collect();
    tx.upsert_many(app, user, &request.client_id, now, &rows)
        .await?;
    if !changed.is_empty() {
        let clock_value = clock
            .lock()
            .map(|c| c.last().to_string())
            .unwrap_or_default();
        tx.save_clock(&clock_value).await?;
    }

    // The response: changes since `since` in their current state (for a
    // record this push touched, that includes the push), then pushed records
    // whose stored state is not what the client sent.
    let mut listed: BTreeSet<(String, String)> = BTreeSet::new();
    let delivered = &others[..others.len().min(PUSH_SERVER_CHANGES as usize)];
    for (table, key, _, state) in delivered {
        let id = (table.clone(), key.clone());
        // A record this push touched is listed as it is now; the others'
        // states came with the listing (the feed's lock kept them as read).
        let change = match records.get(&id) {
            Some((stored, _, _)) => stored.to_change(table, &parse_key(key)?),
            None => StoredRecord::from_json(state)
                .map_err(|e| AppError::Internal(format!("stored record {table}/{key}: {e}")))?
                .to_change(table, &parse_key(key)?),
        };
        if let Some(change) = change {
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
        Some((_, _, seq, _)) if truncated => cursor(*seq),
        _ => cursor(last_seq),
    };
    let tables: BTreeSet<String> = changed.iter().map(|id| id.0.clone()).collect();
    out.changed_tables = tables.into_iter().collect();
    if !out.changed_tables.is_empty() {
        let notice = FeedNotice {
            origin,
            app: app.to_owned(),
            user: user.to_owned(),
            client: request.client_id.chars().take(128).collect(),
            tables: out
                .changed_tables
                .iter()
                .take(MAX_NOTICE_TABLES)
                .cloned()
                .collect(),
        };
        tx.notify(&notice).await?;
    }
    Ok(out)
}

async fn pull_in(
    tx: &mut impl FeedTx,
    app: &str,
    user: &str,
    table: &str,
    since: Since,
    limit: u32,
) -> Result<PullResponse, AppError> {
    // One snapshot: the cursor returned covers exactly what was read.
    tx.snapshot().await?;
    let rows = tx
        .page(app, user, table, since, i64::from(limit) + 1)
        .await?;
    let has_more = rows.len() > limit as usize;
    let mut server_changes = Vec::with_capacity(rows.len().min(limit as usize));
    let mut last = None;
    for (key, state, seq) in rows.iter().take(limit as usize) {
        let stored = StoredRecord::from_json(state)
            .map_err(|e| AppError::Internal(format!("stored record {table}/{key}: {e}")))?;
        if let Some(change) = stored.to_change(table, &parse_key(key)?) {
            server_changes.push(change);
        }
        last = Some(*seq);
    }
    let synced_until = match last {
        Some(seq) if has_more => cursor(seq),
        _ => {
            let feed = tx.feed_seq(app, user).await?.unwrap_or(0);
            let floor = match since {
                Since::Seq(s) => s,
                _ => 0,
            };
            cursor(feed.max(last.unwrap_or(0)).max(floor))
        }
    };
    Ok(PullResponse {
        server_changes,
        synced_until,
        has_more,
    })
}

fn parse_key(canonical: &str) -> Result<RecordKey, AppError> {
    serde_json::from_str::<serde_json::Value>(canonical)
        .ok()
        .and_then(|v| RecordKey::new(v).ok())
        .ok_or_else(|| AppError::Internal(format!("stored record key {canonical:?} is unreadable")))
}
