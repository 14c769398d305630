//! The storage engine: app records in Dexie-compatible object stores, and
//! every local write logged to `_changes` in the same transaction.
//!
//! # Layout
//! - `mod.rs`: [`Storage`], its options and the results it returns.
//! - `connection`: opening, reopening after `versionchange`, transactions,
//!   the client id and clock.
//! - `upgrade`: creating and upgrading stores inside the version change.
//! - `write`: `put`, `bulkPut`, `update`, `delete` and their log rows.
//! - `remote`: applying remote changes, merged with pending writes.
//! - `changelog`: pending changes, acknowledgements, refused changes.
//! - `observable`: keeping Dexie.Observable's clean-up off unpushed rows.
//! - `query`: reads and queries.
//! - `notify`: `change` events and Dexie's cross-tab message.
//!
//! # Stores (SPEC §4)
//! - App stores and indexes exactly as Dexie creates them, at IndexedDB
//!   version `round(version × 10)`.
//! - `_changes` (`++rev`): one Dexie.Observable-format row per local write,
//!   `{rev, table, key, type, obj?, mods?, oldObj?}`, plus `stamp`, the
//!   write's hybrid-logical-clock timestamp. A row lives until the server
//!   acknowledges it, so the rows *are* the pending writes; rows written by
//!   Dexie with the dexie-observable addon are stamped when first read.
//! - `_fieldsync_meta` (out-of-line keys): `clientId`, `clock`, cursors
//!   (`cursor:<table>`) and refused changes (`failed:<table>:<key>`).
//! - `_fieldsync_state` (`[table+key]`): reserved for per-record sync state.
//!
//! Clean (non-pending) records carry no timestamps; see
//! `fieldsync_core::replica` for why a remote change can simply replace them.
//!
//! # Transactions
//! Each write is one readwrite [`Transaction`](crate::idb::Transaction)
//! holding the record and its log row, which aborts unless committed: an
//! error anywhere in a call leaves nothing of it in the database. Nothing
//! but IndexedDB requests is awaited inside it. After it commits, Dexie's
//! `x-storagemutated-1` message is posted (so `liveQuery` re-runs in every
//! tab) and the `change` event fires.
//!
//! # Faults
//! On `versionchange` (another tab upgrades) the connection closes and the
//! next operation reopens it; if this open is held up by other tabs, a
//! `blocked` event fires.

mod changelog;
mod connection;
mod notify;
mod observable;
mod query;
mod remote;
mod upgrade;
mod write;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use fieldsync_core::error::quoted_list;
use fieldsync_core::schema::{DatabaseSchema, TableSchema};
use fieldsync_core::{Clock, Conflict, RecordKey, Timestamp, json};
use js_sys::Function;
use wasm_bindgen::JsValue;

use crate::error::Error;
use crate::events::Events;

pub(crate) use changelog::{FailedChange, Outgoing, SetAside, cursor_key};
use connection::Connection;
use notify::MutationChannel;
pub(crate) use query::Query;

const CHANGES: &str = "_changes";
const META: &str = "_fieldsync_meta";
/// Dexie.Observable's node registry; present when an app uses the addon.
const SYNC_NODES: &str = "_syncNodes";

/// How hard IndexedDB should flush each commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    /// The browser's default.
    Default,
    /// Commit once the OS has the data (survives a tab or browser crash,
    /// not a power cut); the fastest.
    Relaxed,
    /// Flush to disk before reporting the commit.
    Strict,
}

/// What the storage engine is opened with.
#[derive(Clone, Debug)]
pub(crate) struct StorageOptions {
    /// The IndexedDB database name.
    pub(crate) db_name: String,
    /// The app's schema.
    pub(crate) schema: DatabaseSchema,
    /// Tables whose writes are logged for sync; `None`: all of them.
    pub(crate) synced_tables: Option<Vec<String>>,
    /// A fixed client id; `None`: the one persisted in the database.
    pub(crate) client_id: Option<String>,
    /// Commit durability.
    pub(crate) durability: Durability,
    /// Called when opening is held up by other connections (the `blocked`
    /// event covers later reopens, when listeners can be subscribed).
    pub(crate) on_blocked: Option<Function>,
}

/// A cursor check for [`Storage::apply_remote`]: apply only if the stored
/// cursor `key` still holds `expected`, and store `next` with the changes.
#[derive(Clone, Debug)]
pub(crate) struct CursorUpdate {
    /// The cursor's name in `_fieldsync_meta`.
    pub key: String,
    /// The value it must hold now (`None`: never set).
    pub expected: Option<String>,
    /// The value to store.
    pub next: String,
}

/// What a remote apply did.
#[derive(Clone, Debug, Default)]
pub(crate) struct ApplyResult {
    /// Changes applied.
    pub applied: usize,
    /// Changes for tables this client does not sync (ignored).
    pub skipped: usize,
    /// Pending local values that lost.
    pub conflicts: Vec<Conflict>,
    /// The records written or deleted.
    pub changed: Vec<ChangedRecord>,
}

/// A record a remote apply wrote or deleted.
#[derive(Clone, Debug)]
pub(crate) struct ChangedRecord {
    /// The table.
    pub table: String,
    /// The record's key.
    pub id: RecordKey,
    /// Whether it is now deleted (or absent).
    pub deleted: bool,
}

impl ChangedRecord {
    /// Writes `{table, id, deleted}`.
    pub(crate) fn write_json(&self, out: &mut String) {
        let mut members = json::ObjectWriter::new(out);
        members.str("table", &self.table);
        members.value("id", self.id.as_value());
        members.value("deleted", &serde_json::Value::Bool(self.deleted));
        members.end();
    }
}

/// The storage engine of one client.
pub(crate) struct Storage {
    name: String,
    schema: DatabaseSchema,
    synced: Vec<String>,
    durability: Durability,
    fixed_client_id: Option<String>,
    on_blocked: Option<Function>,
    conn: RefCell<Option<Connection>>,
    clock: RefCell<Clock>,
    client_id: RefCell<String>,
    events: Rc<Events>,
    channel: Option<MutationChannel>,
    closed: Cell<bool>,
}

impl Storage {
    /// Opens (creating or upgrading) the database and loads the client id and
    /// clock.
    pub(crate) async fn open(
        options: StorageOptions,
        events: Rc<Events>,
    ) -> Result<Rc<Storage>, Error> {
        let schema = options.schema;
        let synced = match options.synced_tables {
            None => schema.tables.iter().map(|t| t.name.clone()).collect(),
            Some(tables) => tables,
        };
        for name in &synced {
            let table = schema
                .table(name)
                .ok_or_else(|| unknown_table(&schema, name))?;
            if table.primary_key.auto_increment {
                return Err(Error::InvalidInput(format!(
                    "table \"{name}\" has an auto-incremented primary key (\"{}\"): ids made on two devices would collide. \
                     Give records their own ids (e.g. crypto.randomUUID()) and declare the key without `++`, \
                     or keep the table local-only by leaving it out of `tables`",
                    table.primary_key.source(true)
                )));
            }
        }
        let channel = MutationChannel::open(&options.db_name, &schema, &events);
        let storage = Rc::new(Storage {
            name: options.db_name,
            schema,
            synced,
            durability: options.durability,
            fixed_client_id: options.client_id,
            on_blocked: options.on_blocked,
            conn: RefCell::new(None),
            clock: RefCell::new(Clock::new()),
            client_id: RefCell::new(String::new()),
            events,
            channel,
            closed: Cell::new(false),
        });
        storage.load_identity().await?;
        Ok(storage)
    }

    /// The database name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The schema.
    pub(crate) fn schema(&self) -> &DatabaseSchema {
        &self.schema
    }

    /// This client's id (persisted, or the one given to `open`).
    pub(crate) fn client_id(&self) -> String {
        self.client_id.borrow().clone()
    }

    /// The tables whose writes are synced.
    pub(crate) fn synced_tables(&self) -> &[String] {
        &self.synced
    }

    /// Closes the connection; later calls fail with `DatabaseClosedError`.
    pub(crate) fn close(&self) {
        self.closed.set(true);
        self.conn.borrow_mut().take();
        if let Some(channel) = &self.channel {
            channel.close();
        }
    }

    fn table(&self, name: &str) -> Result<&TableSchema, Error> {
        self.schema
            .table(name)
            .ok_or_else(|| unknown_table(&self.schema, name))
    }

    /// The synced tables' names, as a JS array.
    fn synced_js(&self) -> js_sys::Array {
        self.synced.iter().map(|t| JsValue::from_str(t)).collect()
    }

    fn is_synced(&self, table: &str) -> bool {
        self.synced.iter().any(|t| t == table)
    }

    fn stamp(&self) -> Timestamp {
        self.clock.borrow_mut().now(js_sys::Date::now() as u64)
    }

    pub(crate) fn clock_last(&self) -> Timestamp {
        self.clock.borrow().last()
    }
}

fn unknown_table(schema: &DatabaseSchema, name: &str) -> Error {
    let known: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    Error::UnknownTable {
        table: name.to_owned(),
        known: quoted_list(&known),
    }
}
