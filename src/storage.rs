//! The storage engine: app records in Dexie-compatible object stores, and
//! every local write logged to `_changes` in the same transaction.
//!
//! # Layout (SPEC §4)
//! - App stores and indexes exactly as Dexie creates them, at IndexedDB
//!   version `round(version × 10)`.
//! - `_changes` (`++rev`): one Dexie.Observable-format row per local write,
//!   `{rev, table, key, type, obj?, mods?, oldObj?}`, plus `stamp`, the
//!   write's hybrid-logical-clock timestamp. A row lives until the server
//!   acknowledges it, so the rows *are* the pending writes; rows written by
//!   Dexie with the dexie-observable addon are stamped when first read.
//! - `_fieldsync_meta` (out-of-line keys): `clientId`, `clock`, cursors.
//! - `_fieldsync_state` (`[table+key]`): reserved for per-record sync state.
//!
//! Clean (non-pending) records carry no timestamps; see
//! `fieldsync_core::replica` for why a remote change can simply replace them.
//!
//! # Transactions
//! Each write is one readwrite transaction holding the record and its log
//! row; nothing but IndexedDB requests is awaited inside it. After it
//! commits, Dexie's `x-storagemutated-1` message is posted (so `liveQuery`
//! re-runs in every tab) and the `change` event fires.
//!
//! # Faults
//! On `versionchange` (another tab upgrades) the connection closes and the
//! next operation reopens it; if this open is held up by other tabs, a
//! `blocked` event fires. A failed request aborts its whole transaction, so a
//! failed write leaves nothing half-written; the error keeps the
//! DOMException's name.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use fieldsync_core::error::quoted_list;
use fieldsync_core::replica::{apply_remote, group_pending};
use fieldsync_core::schema::{DatabaseSchema, KeyPath, TableSchema};
use fieldsync_core::{Change, ChangeRow, Clock, Conflict, RecordKey, Timestamp, codec, json};
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    BroadcastChannel, Event, IdbDatabase, IdbIndexParameters, IdbKeyRange, IdbObjectStore,
    IdbObjectStoreParameters, IdbTransaction, IdbTransactionDurability, IdbTransactionMode,
    IdbTransactionOptions, MessageEvent,
};

use crate::error::{Context, Error};
use crate::events::Events;
use crate::idb::{self, DomError, Upgrade};
use crate::js;

const CHANGES: &str = "_changes";
const META: &str = "_fieldsync_meta";
/// Dexie.Observable's node registry; present when an app uses the addon.
const SYNC_NODES: &str = "_syncNodes";
/// fieldsync's node in `_syncNodes`.
const NODE_URL: &str = "fieldsync";
/// Dexie's cross-tab mutation channel (the `-1` is its format version).
const STORAGE_MUTATED: &str = "x-storagemutated-1";

/// How hard IndexedDB should flush each commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
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
pub struct StorageOptions {
    /// The IndexedDB database name.
    pub db_name: String,
    /// The app's schema.
    pub schema: DatabaseSchema,
    /// Tables whose writes are logged for sync; `None`: all of them.
    pub synced_tables: Option<Vec<String>>,
    /// A fixed client id; `None`: the one persisted in the database.
    pub client_id: Option<String>,
    /// Commit durability.
    pub durability: Durability,
    /// Called when opening is held up by other connections (the `blocked`
    /// event covers later reopens, when listeners can be subscribed).
    pub on_blocked: Option<Function>,
}

/// A cursor check for [`Storage::apply_remote`]: apply only if the stored
/// cursor `key` still holds `expected`, and store `next` with the changes.
#[derive(Clone, Debug)]
pub struct CursorUpdate {
    /// The cursor's name in `_fieldsync_meta`.
    pub key: String,
    /// The value it must hold now (`None`: never set).
    pub expected: Option<String>,
    /// The value to store.
    pub next: String,
}

/// What a remote apply did.
#[derive(Clone, Debug, Default)]
pub struct ApplyResult {
    /// Changes applied.
    pub applied: usize,
    /// Changes for tables this client does not sync (ignored).
    pub skipped: usize,
    /// Pending local values that lost.
    pub conflicts: Vec<Conflict>,
    /// The records written or deleted, as `{table, id, deleted}`.
    pub changed: Vec<ChangedRecord>,
}

/// A record a remote apply wrote or deleted.
#[derive(Clone, Debug)]
pub struct ChangedRecord {
    /// The table.
    pub table: String,
    /// The record's key.
    pub id: RecordKey,
    /// Whether it is now deleted (or absent).
    pub deleted: bool,
}

impl ChangedRecord {
    /// Writes `{table, id, deleted}`.
    pub fn write_json(&self, out: &mut String) {
        let mut members = json::ObjectWriter::new(out);
        members.str("table", &self.table);
        members.value("id", self.id.as_value());
        members.value("deleted", &serde_json::Value::Bool(self.deleted));
        members.end();
    }
}

/// A batch of pending writes, coalesced per record.
#[derive(Clone, Debug, Default)]
pub struct PendingBatch {
    /// One change per record.
    pub changes: Vec<Change>,
    /// The `_changes` revisions they cover: acknowledge exactly these.
    pub revs: Vec<u64>,
    /// More pending rows may follow this batch.
    pub more: bool,
}

struct Connection {
    db: IdbDatabase,
    stale: Rc<Cell<bool>>,
    _on_version_change: Closure<dyn FnMut(Event)>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.db.set_onversionchange(None);
        self.db.close();
    }
}

/// The storage engine of one client.
pub struct Storage {
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
    channel: Option<BroadcastChannel>,
    _on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
    closed: Cell<bool>,
}

impl Storage {
    /// Opens (creating or upgrading) the database and loads the client id and
    /// clock.
    pub async fn open(options: StorageOptions, events: Rc<Events>) -> Result<Rc<Storage>, Error> {
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
        let (channel, on_message) = match BroadcastChannel::new(STORAGE_MUTATED) {
            Ok(channel) => {
                let on_message = external_change_listener(&options.db_name, &schema, &events);
                channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
                (Some(channel), Some(on_message))
            }
            Err(_) => (None, None),
        };
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
            _on_message: on_message,
            closed: Cell::new(false),
        });
        storage.load_identity().await?;
        Ok(storage)
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema.
    pub fn schema(&self) -> &DatabaseSchema {
        &self.schema
    }

    /// This client's id (persisted, or the one given to `open`).
    pub fn client_id(&self) -> String {
        self.client_id.borrow().clone()
    }

    /// Brings this tab's clock up to the stamp persisted by every tab, inside
    /// `tx` (which covers `_fieldsync_meta`). IndexedDB runs overlapping
    /// transactions one at a time across tabs, so a write stamped after this
    /// is later than every stamp any tab issued or saw.
    async fn shared_clock(&self, tx: &IdbTransaction) -> Result<IdbObjectStore, Error> {
        let op = || "reading the shared clock".to_owned();
        let meta = idb::sync(tx.object_store(META)).during(op)?;
        let stored = idb::request(&idb::sync(meta.get(&"clock".into())).during(op)?)
            .await
            .during(op)?;
        if let Some(ts) = stored.as_string().and_then(|s| Timestamp::parse(&s).ok()) {
            self.clock.borrow_mut().observe(ts);
        }
        Ok(meta)
    }

    /// Persists this tab's clock for the other tabs (in the write's own
    /// transaction).
    fn share_clock(&self, meta: &IdbObjectStore) -> Result<(), Error> {
        let last = JsValue::from_str(&self.clock_last().to_string());
        idb::sync(meta.put_with_key(&last, &"clock".into()))
            .during(|| "saving the shared clock".to_owned())?;
        Ok(())
    }

    /// Gives a prepared change-log row its stamp (taken after `shared_clock`).
    fn stamp_row(&self, row: &JsValue) {
        let _ = Reflect::set(
            row,
            &"stamp".into(),
            &JsValue::from_str(&self.stamp().to_string()),
        );
    }

    /// The tables whose writes are synced.
    pub fn synced_tables(&self) -> Vec<String> {
        self.synced.clone()
    }

    /// The clock's highest stamp.
    pub fn clock_last(&self) -> Timestamp {
        self.clock.borrow().last()
    }

    /// Closes the connection; later calls fail with `DatabaseClosedError`.
    pub fn close(&self) {
        self.closed.set(true);
        self.conn.borrow_mut().take();
        if let Some(channel) = &self.channel {
            channel.set_onmessage(None);
            channel.close();
        }
    }

    fn table(&self, name: &str) -> Result<&TableSchema, Error> {
        self.schema
            .table(name)
            .ok_or_else(|| unknown_table(&self.schema, name))
    }

    fn is_synced(&self, table: &str) -> bool {
        self.synced.iter().any(|t| t == table)
    }

    fn stamp(&self) -> Timestamp {
        self.clock.borrow_mut().now(js_sys::Date::now() as u64)
    }

    /// The open connection, reopened after a `versionchange` closed it.
    async fn connect(&self) -> Result<IdbDatabase, Error> {
        if self.closed.get() {
            return Err(Error::Closed);
        }
        if let Some(conn) = self.conn.borrow().as_ref()
            && !conn.stale.get()
        {
            return Ok(conn.db.clone());
        }
        let conn = self.open_connection().await?;
        let db = conn.db.clone();
        if self.closed.get() {
            return Err(Error::Closed);
        }
        *self.conn.borrow_mut() = Some(conn);
        if has_store(&db, SYNC_NODES) {
            let op = || "registering with dexie-observable".to_owned();
            let tx = self
                .transaction(&db, &[CHANGES, SYNC_NODES], IdbTransactionMode::Readwrite)
                .during(op)?;
            let done = idb::done(&tx);
            self.hold_observable_rows(&tx).await?;
            done.await.during(op)?;
        }
        Ok(db)
    }

    async fn open_connection(&self) -> Result<Connection, Error> {
        let schema = self.schema.clone();
        let events = self.events.clone();
        let db_name = self.name.clone();
        let callback = self.on_blocked.clone();
        let on_blocked = move || {
            let payload = js::object(&[("dbName", &JsValue::from_str(&db_name))]);
            if let Some(callback) = &callback
                && let Err(thrown) = callback.call1(&JsValue::NULL, &payload)
            {
                web_sys::console::error_2(&"fieldsync: onBlocked threw:".into(), &thrown);
            }
            events.emit("blocked", &payload);
        };
        let upgrade_error = |e: DomError| Error::Upgrade {
            db: self.name.clone(),
            message: e.message,
        };
        let opened = idb::open(
            &self.name,
            Some(self.schema.idb_version),
            move |up| upgrade(&schema, up),
            on_blocked,
        )
        .await;
        let db = match opened {
            Ok(db) => db,
            // Installed at a higher version (an app upgraded it with Dexie):
            // open it as it is, as Dexie does, and check our stores exist.
            Err(e) if e.name == "VersionError" => idb::open(&self.name, None, |_| Ok(()), || {})
                .await
                .map_err(upgrade_error)?,
            Err(e) if e.name == "UpgradeError" => return Err(upgrade_error(e)),
            Err(e) => {
                return Err(Error::indexed_db(
                    format!("opening database \"{}\"", self.name),
                    e,
                ));
            }
        };
        let names = db.object_store_names();
        let missing: Vec<String> = self
            .schema
            .all_stores()
            .map(|t| t.name)
            .filter(|n| !names.contains(n))
            .collect();
        if !missing.is_empty() {
            db.close();
            return Err(Error::Upgrade {
                db: self.name.clone(),
                message: format!(
                    "it is at IndexedDB version {} (Dexie version {}) but lacks the stores {}: the schema changed without a version bump; raise `version`",
                    json::number_text(db.version()),
                    json::number_text(db.version() / 10.0),
                    quoted_list(&missing)
                ),
            });
        }
        let stale = Rc::new(Cell::new(false));
        let on_version_change = {
            let (stale, db) = (stale.clone(), db.clone());
            Closure::<dyn FnMut(Event)>::new(move |_| {
                // Let the other tab upgrade; the next operation reopens.
                stale.set(true);
                db.close();
            })
        };
        db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        Ok(Connection {
            db,
            stale,
            _on_version_change: on_version_change,
        })
    }

    fn transaction(
        &self,
        db: &IdbDatabase,
        stores: &[&str],
        mode: IdbTransactionMode,
    ) -> Result<IdbTransaction, DomError> {
        let names: Vec<js_sys::JsString> =
            stores.iter().map(|s| js_sys::JsString::from(*s)).collect();
        let options = IdbTransactionOptions::new();
        options.set_durability(match self.durability {
            Durability::Default => IdbTransactionDurability::Default,
            Durability::Relaxed => IdbTransactionDurability::Relaxed,
            Durability::Strict => IdbTransactionDurability::Strict,
        });
        idb::sync(db.transaction_with_str_sequence_and_mode_and_options(&names, mode, &options))
    }

    /// Opens a transaction, reconnecting once if the connection was closed
    /// under us (a `versionchange` between two operations).
    async fn begin(
        &self,
        stores: &[&str],
        mode: IdbTransactionMode,
    ) -> Result<IdbTransaction, Error> {
        let db = self.connect().await?;
        match self.transaction(&db, stores, mode) {
            Ok(tx) => Ok(tx),
            Err(e) if e.name == "InvalidStateError" => {
                if let Some(conn) = self.conn.borrow().as_ref() {
                    conn.stale.set(true);
                }
                let db = self.connect().await?;
                self.transaction(&db, stores, mode)
                    .during(|| format!("starting a transaction on {}", quoted_list(stores)))
            }
            Err(e) => Err(Error::indexed_db(
                format!("starting a transaction on {}", quoted_list(stores)),
                e,
            )),
        }
    }

    async fn load_identity(&self) -> Result<(), Error> {
        let op = || "loading the client id and clock".to_owned();
        let tx = self
            .begin(&[META, CHANGES], IdbTransactionMode::Readwrite)
            .await?;
        let done = idb::done(&tx);
        let meta = idb::sync(tx.object_store(META)).during(op)?;
        let stored_id = idb::request(&idb::sync(meta.get(&"clientId".into())).during(op)?)
            .await
            .during(op)?;
        let client_id = match (&self.fixed_client_id, stored_id.as_string()) {
            (Some(fixed), _) => fixed.clone(),
            (None, Some(stored)) => stored,
            (None, None) => {
                let id = new_client_id();
                idb::sync(meta.put_with_key(&JsValue::from_str(&id), &"clientId".into()))
                    .during(op)?;
                id
            }
        };
        let stored_clock = idb::request(&idb::sync(meta.get(&"clock".into())).during(op)?)
            .await
            .during(op)?;
        let changes = idb::sync(tx.object_store(CHANGES)).during(op)?;
        let last_row = idb::sync(changes.open_cursor_with_range_and_direction(
            &JsValue::UNDEFINED,
            web_sys::IdbCursorDirection::Prev,
        ))
        .during(op)?;
        let cursor = idb::request(&last_row).await.during(op)?;
        let last_row_stamp = if cursor.is_null() || cursor.is_undefined() {
            JsValue::UNDEFINED
        } else {
            let cursor: web_sys::IdbCursorWithValue = cursor.unchecked_into();
            js::get_path(&cursor.value().unwrap_or(JsValue::UNDEFINED), "stamp")
        };
        done.await.during(op)?;
        let parse = |v: JsValue| v.as_string().and_then(|s| Timestamp::parse(&s).ok());
        let last = [parse(stored_clock), parse(last_row_stamp)]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(Timestamp::ZERO);
        *self.clock.borrow_mut() = Clock::resume(last);
        *self.client_id.borrow_mut() = client_id;
        Ok(())
    }

    /// Inserts or replaces a whole record. `key` is needed only for tables
    /// with out-of-line keys. Resolves to the record's key.
    pub async fn put(
        &self,
        table: &str,
        record: JsValue,
        key: Option<JsValue>,
    ) -> Result<JsValue, Error> {
        let prepared = self.prepare_put(table, &record, key)?;
        let stores = self.stores_for(table);
        let tx = self.begin(&stores, IdbTransactionMode::Readwrite).await?;
        let op = || format!("put into \"{table}\"");
        let done = idb::done(&tx);
        let store = idb::sync(tx.object_store(table)).during(op)?;
        let request = put_request(&store, &record, prepared.out_of_line_key.as_ref()).during(op)?;
        // Listen before awaiting anything else: requests complete in order,
        // and a success event with no listener yet would be missed.
        let stored_key = idb::request(&request);
        if let Some(row) = &prepared.row {
            let meta = self.shared_clock(&tx).await?;
            self.stamp_row(row);
            let changes = idb::sync(tx.object_store(CHANGES)).during(op)?;
            idb::sync(changes.add(row)).during(op)?;
            self.share_clock(&meta)?;
        }
        let key = stored_key.await.during(op)?;
        done.await.during(op)?;
        self.notify(&[table], "local");
        Ok(key)
    }

    /// Puts many records in one transaction: all or nothing. Every record is
    /// checked before anything is written.
    pub async fn bulk_put(&self, table: &str, records: &Array) -> Result<u32, Error> {
        let prepared: Vec<(JsValue, Prepared)> = records
            .iter()
            .enumerate()
            .map(|(i, record)| {
                self.prepare_put(table, &record, None)
                    .map_err(|e| Error::InvalidInput(format!("records[{i}]: {e}")))
                    .map(|p| (record, p))
            })
            .collect::<Result<_, _>>()?;
        let stores = self.stores_for(table);
        let tx = self.begin(&stores, IdbTransactionMode::Readwrite).await?;
        let op = || format!("bulkPut of {} records into \"{table}\"", prepared.len());
        let done = idb::done(&tx);
        let store = idb::sync(tx.object_store(table)).during(op)?;
        let (changes, meta) = if self.is_synced(table) {
            let meta = self.shared_clock(&tx).await?;
            (
                Some(idb::sync(tx.object_store(CHANGES)).during(op)?),
                Some(meta),
            )
        } else {
            (None, None)
        };
        for (record, p) in &prepared {
            put_request(&store, record, p.out_of_line_key.as_ref()).during(op)?;
            if let (Some(changes), Some(row)) = (&changes, &p.row) {
                self.stamp_row(row);
                idb::sync(changes.add(row)).during(op)?;
            }
        }
        if let Some(meta) = &meta {
            self.share_clock(meta)?;
        }
        done.await.during(op)?;
        self.notify(&[table], "local");
        Ok(prepared.len() as u32)
    }

    /// Updates fields of one record (`changes`: key path → new value,
    /// `undefined` removes). Resolves to 1, or 0 if there is no such record.
    pub async fn update(&self, table: &str, key: JsValue, changes: JsValue) -> Result<u32, Error> {
        let schema = self.table(table)?;
        let synced = self.is_synced(table);
        if !changes.is_object() || Array::is_array(&changes) {
            return Err(Error::InvalidInput(format!(
                "update of \"{table}\": `changes` must be an object of key paths to new values, e.g. {{ title: \"new\" }}"
            )));
        }
        let entries: Vec<(String, JsValue)> = Object::entries(changes.unchecked_ref())
            .iter()
            .map(|e| {
                let e: Array = e.unchecked_into();
                (e.get(0).as_string().unwrap_or_default(), e.get(1))
            })
            .collect();
        if let Some(KeyPath::Single(pk)) = &schema.primary_key.key_path
            && let Some((path, _)) = entries
                .iter()
                .find(|(p, _)| p == pk || p.starts_with(&format!("{pk}.")))
        {
            return Err(Error::InvalidInput(format!(
                "update of \"{table}\": \"{path}\" is the primary key and cannot be changed; put a new record and delete the old one"
            )));
        }
        if synced {
            self.check_key(table, &key)?;
            for (path, value) in &entries {
                if !value.is_undefined() {
                    js::check_json(value, path)
                        .map_err(|m| Error::InvalidInput(format!("update of \"{table}\": {m}")))?;
                }
            }
        }
        let stores = self.stores_for(table);
        let tx = self.begin(&stores, IdbTransactionMode::Readwrite).await?;
        let op = || format!("update in \"{table}\"");
        let done = idb::done(&tx);
        let store = idb::sync(tx.object_store(table)).during(op)?;
        let old = idb::request(&idb::sync(store.get(&key)).during(op)?)
            .await
            .during(op)?;
        if old.is_undefined() {
            done.await.during(op)?;
            return Ok(0);
        }
        let new = structured_clone(&old).map_err(|e| Error::indexed_db(op(), e))?;
        for (path, value) in &entries {
            js::set_path(&new, path, value).map_err(Error::InvalidInput)?;
        }
        let out_of_line = schema.primary_key.key_path.is_none().then_some(&key);
        put_request(&store, &new, out_of_line).during(op)?;
        if synced {
            let meta = self.shared_clock(&tx).await?;
            let stamp = self.stamp();
            self.share_clock(&meta)?;
            let mods = Object::new();
            for (path, value) in &entries {
                let logged = if value.is_undefined() {
                    JsValue::NULL
                } else {
                    value.clone()
                };
                let _ = Reflect::set(&mods, &JsValue::from_str(path), &logged);
            }
            let mods: JsValue = mods.into();
            let parts = RowParts {
                obj: Some(&new),
                mods: Some(&mods),
                old_obj: Some(&old),
            };
            let row = change_row(table, &key, 2, stamp, parts);
            idb::sync(idb::sync(tx.object_store(CHANGES)).during(op)?.add(&row)).during(op)?;
        }
        done.await.during(op)?;
        self.notify(&[table], "local");
        Ok(1)
    }

    /// Deletes one record (nothing happens if it does not exist).
    pub async fn delete(&self, table: &str, key: JsValue) -> Result<(), Error> {
        self.table(table)?;
        let synced = self.is_synced(table);
        if synced {
            self.check_key(table, &key)?;
        }
        let stores = self.stores_for(table);
        let tx = self.begin(&stores, IdbTransactionMode::Readwrite).await?;
        let op = || format!("delete from \"{table}\"");
        let done = idb::done(&tx);
        let store = idb::sync(tx.object_store(table)).during(op)?;
        if synced {
            let old = idb::request(&idb::sync(store.get(&key)).during(op)?)
                .await
                .during(op)?;
            if old.is_undefined() {
                done.await.during(op)?;
                return Ok(());
            }
            let parts = RowParts {
                old_obj: Some(&old),
                ..RowParts::default()
            };
            let meta = self.shared_clock(&tx).await?;
            let row = change_row(table, &key, 3, self.stamp(), parts);
            self.share_clock(&meta)?;
            idb::sync(idb::sync(tx.object_store(CHANGES)).during(op)?.add(&row)).during(op)?;
        }
        idb::sync(store.delete(&key)).during(op)?;
        done.await.during(op)?;
        self.notify(&[table], "local");
        Ok(())
    }

    /// One record, or `undefined`.
    pub async fn get(&self, table: &str, key: JsValue) -> Result<JsValue, Error> {
        self.table(table)?;
        self.read(table, |store| store.get(&key)).await
    }

    /// Every record of a table, in key order.
    pub async fn get_all(&self, table: &str) -> Result<JsValue, Error> {
        self.table(table)?;
        self.read(table, |store| store.get_all()).await
    }

    /// Records matching `query` (an index and a key range), in index order.
    pub async fn query(&self, table: &str, query: &Query) -> Result<JsValue, Error> {
        let schema = self.table(table)?;
        if let Some(index) = &query.index {
            let declared = schema.indexes.iter().any(|i| &i.name == index)
                || schema.primary_key.name == *index;
            if !declared {
                let names: Vec<&str> = schema.indexes.iter().map(|i| i.name.as_str()).collect();
                return Err(Error::InvalidInput(format!(
                    "query on \"{table}\": no index \"{index}\"; declared indexes: {}",
                    quoted_list(&names)
                )));
            }
        }
        let range = query
            .key_range()
            .map_err(|e| Error::InvalidInput(format!("query on \"{table}\": {e}")))?;
        let limit = query.limit;
        let index = query
            .index
            .clone()
            .filter(|i| *i != schema.primary_key.name);
        self.read(table, move |store| {
            let range = range.as_ref().map_or(JsValue::UNDEFINED, |r| r.into());
            match &index {
                Some(name) => {
                    let index = store.index(name)?;
                    match limit {
                        Some(n) => index.get_all_with_key_and_limit(&range, n),
                        None => index.get_all_with_key(&range),
                    }
                }
                None => match limit {
                    Some(n) => store.get_all_with_key_and_limit(&range, n),
                    None => store.get_all_with_key(&range),
                },
            }
        })
        .await
    }

    /// How many records a table holds.
    pub async fn count(&self, table: &str) -> Result<u32, Error> {
        self.table(table)?;
        let n = self.read(table, |store| store.count()).await?;
        Ok(n.as_f64().unwrap_or(0.0) as u32)
    }

    async fn read(
        &self,
        table: &str,
        make: impl FnOnce(&IdbObjectStore) -> Result<web_sys::IdbRequest, JsValue>,
    ) -> Result<JsValue, Error> {
        let tx = self.begin(&[table], IdbTransactionMode::Readonly).await?;
        let op = || format!("reading \"{table}\"");
        let store = idb::sync(tx.object_store(table)).during(op)?;
        let request = idb::sync(make(&store)).during(op)?;
        idb::request(&request).await.during(op)
    }

    /// Applies remote changes in one transaction, merging pending local
    /// writes field by field; writes no `_changes` rows. With `cursor`,
    /// applies only if the stored cursor still holds `expected` (else
    /// [`Error::StaleCursor`], nothing applied) and stores the new cursor in
    /// the same transaction.
    pub async fn apply_remote(
        &self,
        changes: &[Change],
        cursor: Option<CursorUpdate>,
    ) -> Result<ApplyResult, Error> {
        let received_at = self.stamp();
        let mut tables: BTreeSet<&str> = BTreeSet::new();
        let mut result = ApplyResult::default();
        for change in changes {
            if self.is_synced(&change.table) {
                tables.insert(change.table.as_str());
            } else {
                result.skipped += 1;
            }
        }
        let mut stores: Vec<&str> = tables.iter().copied().collect();
        stores.extend([CHANGES, META]);
        let tx = self.begin(&stores, IdbTransactionMode::Readwrite).await?;
        let op = || format!("applying {} remote changes", changes.len());
        let done = idb::done(&tx);
        let meta = idb::sync(tx.object_store(META)).during(op)?;
        if let Some(cursor) = &cursor {
            let stored =
                idb::request(&idb::sync(meta.get(&JsValue::from_str(&cursor.key))).during(op)?)
                    .await
                    .during(op)?;
            if stored.as_string() != cursor.expected {
                let _ = tx.abort();
                return Err(Error::StaleCursor {
                    key: cursor.key.clone(),
                });
            }
        }
        let pending = self.pending_rows(&tx, None).await?;
        let pending: HashMap<(String, String), _> = group_pending(&pending)?
            .into_iter()
            .map(|p| ((p.table.clone(), p.key.canonical()), p.state))
            .collect();

        let mut newest = Timestamp::ZERO;
        let mut writes: Vec<RemoteWrite> = Vec::with_capacity(changes.len());
        for change in changes.iter().filter(|c| self.is_synced(&c.table)) {
            let schema = self.table(&change.table)?;
            let store = idb::sync(tx.object_store(&change.table)).during(op)?;
            let incoming = change.to_state(received_at);
            newest = newest.max(incoming.max_ts().unwrap_or(Timestamp::ZERO));
            let key_js = js::to_js(change.id.as_value());
            let local_pending = pending.get(&(change.table.clone(), change.id.canonical()));
            // A clean record is replaced whole by a remote state carrying its
            // lifecycle; only pending writes or a partial update need the
            // local copy.
            let local = if local_pending.is_some() || incoming.lifecycle().is_none() {
                let found = idb::request(&idb::sync(store.get(&key_js)).during(op)?)
                    .await
                    .during(op)?;
                match js::to_json(&found, "") {
                    Ok(serde_json::Value::Object(map)) => Some(map),
                    _ => None,
                }
            } else {
                None
            };
            let outcome = apply_remote(local.as_ref(), local_pending, &incoming);
            result.conflicts.extend(
                outcome
                    .lost
                    .iter()
                    .map(|loss| Conflict::from_loss(&change.table, &change.id, loss)),
            );
            result.applied += 1;
            if outcome.changed || local.is_none() {
                result.changed.push(ChangedRecord {
                    table: change.table.clone(),
                    id: change.id.clone(),
                    deleted: outcome.record.is_none(),
                });
            }
            let key_in_record = match (&schema.primary_key.key_path, &outcome.record) {
                (Some(KeyPath::Single(path)), Some(record)) => {
                    record.get(path.as_str()) == Some(change.id.as_value())
                }
                _ => false,
            };
            writes.push(RemoteWrite {
                store,
                key_path: schema.primary_key.key_path.clone(),
                key: key_js,
                key_in_record,
                record: outcome.record,
            });
        }
        // All records cross into JS through one JSON.parse.
        let records: Vec<&serde_json::Map<String, serde_json::Value>> =
            writes.iter().filter_map(|w| w.record.as_ref()).collect();
        let objects = js::parse_many(&records, |record, out| json::write_object(record, out));
        let mut next = 0;
        for write in &writes {
            if write.record.is_none() {
                idb::sync(write.store.delete(&write.key)).during(op)?;
                continue;
            }
            let object = objects.get(next);
            next += 1;
            match &write.key_path {
                Some(path) => {
                    if !write.key_in_record {
                        js::set_key(&object, path, &write.key).map_err(Error::InvalidInput)?;
                    }
                    idb::sync(write.store.put(&object)).during(op)?;
                }
                None => {
                    idb::sync(write.store.put_with_key(&object, &write.key)).during(op)?;
                }
            }
        }
        let clock = {
            let mut clock = self.clock.borrow_mut();
            clock.observe(newest);
            clock.last()
        };
        idb::sync(meta.put_with_key(&JsValue::from_str(&clock.to_string()), &"clock".into()))
            .during(op)?;
        if let Some(cursor) = &cursor {
            idb::sync(meta.put_with_key(
                &JsValue::from_str(&cursor.next),
                &JsValue::from_str(&cursor.key),
            ))
            .during(op)?;
        }
        done.await.during(op)?;
        if !tables.is_empty() {
            self.notify(&tables.into_iter().collect::<Vec<_>>(), "remote");
        }
        Ok(result)
    }

    /// Reads the `_changes` rows of synced tables, stamping rows that other
    /// libraries (dexie-observable) wrote without a stamp. `tx` must be a
    /// readwrite transaction over `_changes`.
    async fn pending_rows(
        &self,
        tx: &IdbTransaction,
        max_rows: Option<u32>,
    ) -> Result<Vec<ChangeRow>, Error> {
        let op = || "reading pending changes".to_owned();
        let store = idb::sync(tx.object_store(CHANGES)).during(op)?;
        let request = match max_rows {
            Some(n) => store.get_all_with_key_and_limit(&JsValue::UNDEFINED, n),
            None => store.get_all(),
        };
        let all = idb::request(&idb::sync(request).during(op)?)
            .await
            .during(op)?;
        let all: Array = all.unchecked_into();
        let synced = Array::new();
        for raw in all.iter() {
            let table = js::get_path(&raw, "table").as_string().unwrap_or_default();
            if !self.is_synced(&table) {
                continue;
            }
            if js::get_path(&raw, "stamp").is_undefined() {
                // Written by another library (dexie-observable): check it is
                // JSON (ours were checked when written), then stamp it once.
                js::check_json(&raw, "").map_err(|m| {
                    Error::InvalidInput(format!(
                        "a {CHANGES} row of \"{table}\" cannot be synced: {m}"
                    ))
                })?;
                let stamp = self.stamp();
                let _ = Reflect::set(
                    &raw,
                    &"stamp".into(),
                    &JsValue::from_str(&stamp.to_string()),
                );
                idb::sync(store.put(&raw)).during(op)?;
            }
            synced.push(&raw);
        }
        // One JSON.stringify for every row: far fewer wasm boundary crossings.
        let text = js::stringify(&synced).map_err(Error::InvalidInput)?;
        js::parse_json(&text)
            .and_then(|rows| codec::change_rows(&rows, CHANGES))
            .map_err(|e| {
                Error::InvalidInput(format!(
                    "a {CHANGES} row is not in Dexie.Observable's format: {e}"
                ))
            })
    }

    /// Up to `max_records` pending records, coalesced, oldest first.
    pub async fn pending(&self, max_records: usize) -> Result<PendingBatch, Error> {
        let tx = self
            .begin(&[CHANGES], IdbTransactionMode::Readwrite)
            .await?;
        let done = idb::done(&tx);
        // A window of the oldest rows: a record's later rows, if outside it,
        // simply go in the next batch.
        let window = max_records.clamp(1, u32::MAX as usize) as u32;
        let rows = self.pending_rows(&tx, Some(window)).await?;
        done.await.during(|| "reading pending changes".to_owned())?;
        let mut batch = PendingBatch {
            more: rows.len() >= window as usize,
            ..PendingBatch::default()
        };
        for record in group_pending(&rows)?.into_iter().take(max_records) {
            if let Some(change) = record.to_change() {
                batch.changes.push(change);
            }
            batch.revs.extend(record.revs);
        }
        Ok(batch)
    }

    /// Removes acknowledged `_changes` rows, atomically.
    pub async fn acknowledge(&self, revs: &[u64]) -> Result<(), Error> {
        let db = self.connect().await?;
        let observable = has_store(&db, SYNC_NODES);
        let stores: &[&str] = if observable {
            &[CHANGES, META, SYNC_NODES]
        } else {
            &[CHANGES, META]
        };
        let tx = self.begin(stores, IdbTransactionMode::Readwrite).await?;
        let op = || format!("acknowledging {} changes", revs.len());
        let done = idb::done(&tx);
        let store = idb::sync(tx.object_store(CHANGES)).during(op)?;
        for rev in revs {
            idb::sync(store.delete(&JsValue::from_f64(*rev as f64))).during(op)?;
        }
        // The acknowledged rows held the newest stamps: keep the clock.
        let clock = self.clock_last().to_string();
        let meta = idb::sync(tx.object_store(META)).during(op)?;
        idb::sync(meta.put_with_key(&JsValue::from_str(&clock), &"clock".into())).during(op)?;
        if observable {
            self.hold_observable_rows(&tx).await?;
        }
        done.await.during(op)
    }

    /// Keeps fieldsync's node in Dexie.Observable's `_syncNodes`, so that the
    /// addon's clean-up (which deletes `_changes` rows below every node's
    /// `myRevision`) never deletes a row fieldsync has not pushed. The node
    /// is of type `remote`, which the addon never garbage-collects.
    async fn hold_observable_rows(&self, tx: &IdbTransaction) -> Result<(), Error> {
        let op = || "registering with dexie-observable".to_owned();
        let changes = idb::sync(tx.object_store(CHANGES)).during(op)?;
        let rows: Array = idb::request(&idb::sync(changes.get_all()).during(op)?)
            .await
            .during(op)?
            .unchecked_into();
        let mut lowest_needed: Option<f64> = None;
        let mut highest = 0.0f64;
        for row in rows.iter() {
            let rev = js::get_path(&row, "rev").as_f64().unwrap_or(0.0);
            highest = highest.max(rev);
            let table = js::get_path(&row, "table").as_string().unwrap_or_default();
            if self.is_synced(&table) {
                lowest_needed = Some(lowest_needed.map_or(rev, |l| l.min(rev)));
            }
        }
        let my_revision = lowest_needed.unwrap_or(highest + 1.0);
        let nodes = idb::sync(tx.object_store(SYNC_NODES)).during(op)?;
        let all: Array = idb::request(&idb::sync(nodes.get_all()).during(op)?)
            .await
            .during(op)?
            .unchecked_into();
        let node = all
            .iter()
            .find(|n| js::get_path(n, "url").as_string().as_deref() == Some(NODE_URL))
            .unwrap_or_else(|| {
                js::object(&[
                    ("type", &JsValue::from_str("remote")),
                    ("url", &JsValue::from_str(NODE_URL)),
                    ("isMaster", &JsValue::from(0)),
                    ("deleteTimeStamp", &JsValue::NULL),
                ])
                .into()
            });
        let _ = Reflect::set(&node, &"myRevision".into(), &JsValue::from_f64(my_revision));
        let _ = Reflect::set(
            &node,
            &"lastHeartBeat".into(),
            &JsValue::from_f64(js_sys::Date::now()),
        );
        idb::sync(nodes.put(&node)).during(op)?;
        Ok(())
    }

    /// How many local writes to synced tables await the server.
    pub async fn pending_count(&self) -> Result<u32, Error> {
        let rows = self.read(CHANGES, |store| store.get_all()).await?;
        let rows: Array = rows.unchecked_into();
        let count = rows
            .iter()
            .filter(|row| {
                js::get_path(row, "table")
                    .as_string()
                    .is_some_and(|t| self.is_synced(&t))
            })
            .count();
        Ok(count as u32)
    }

    /// Reads a value of `_fieldsync_meta`.
    pub async fn meta(&self, key: &str) -> Result<JsValue, Error> {
        self.read(META, |store| store.get(&JsValue::from_str(key)))
            .await
    }

    /// The stores a write to `table` touches.
    fn stores_for<'a>(&self, table: &'a str) -> Vec<&'a str> {
        if self.is_synced(table) {
            vec![table, CHANGES, META]
        } else {
            vec![table]
        }
    }

    fn prepare_put(
        &self,
        table: &str,
        record: &JsValue,
        key: Option<JsValue>,
    ) -> Result<Prepared, Error> {
        let schema = self.table(table)?;
        if !record.is_object() || Array::is_array(record) {
            return Err(Error::InvalidInput(format!(
                "put into \"{table}\": the record must be an object, got {}",
                type_name(record)
            )));
        }
        let pk = &schema.primary_key;
        let (row_key, out_of_line_key) = match &pk.key_path {
            Some(path) => match js::key_of(record, path) {
                Some(k) => (Some(k), None),
                None if pk.auto_increment => (None, None),
                None => {
                    return Err(Error::InvalidInput(format!(
                        "put into \"{table}\": the record has no primary key \"{}\"",
                        pk.name
                    )));
                }
            },
            None => match key {
                Some(k) => (Some(k.clone()), Some(k)),
                None if pk.auto_increment => (None, None),
                None => {
                    return Err(Error::InvalidInput(format!(
                        "put into \"{table}\": this table keeps keys outside the records; pass the key as the third argument"
                    )));
                }
            },
        };
        let row = if self.is_synced(table) {
            let key = row_key
                .ok_or_else(|| Error::InvalidInput(format!("put into \"{table}\": no key")))?;
            self.check_key(table, &key)?;
            js::check_json(record, "")
                .map_err(|m| Error::InvalidInput(format!("put into \"{table}\": {m}")))?;
            let parts = RowParts {
                obj: Some(record),
                ..RowParts::default()
            };
            // Stamped inside the write's transaction (see `shared_clock`).
            Some(change_row(table, &key, 1, Timestamp::ZERO, parts))
        } else {
            None
        };
        Ok(Prepared {
            out_of_line_key,
            row,
        })
    }

    fn check_key(&self, table: &str, key: &JsValue) -> Result<(), Error> {
        let value = js::to_json(key, "key")
            .map_err(|m| Error::InvalidInput(format!("\"{table}\": {m}")))?;
        RecordKey::new(value)?;
        Ok(())
    }

    /// Tells Dexie (every tab) and our listeners that `tables` changed.
    fn notify(&self, tables: &[&str], source: &str) {
        if let Some(channel) = &self.channel {
            let parts = Object::new();
            let everything = full_range();
            for table in tables {
                let Some(schema) = self.schema.table(table) else {
                    continue;
                };
                let mut names = vec![String::new(), ":dels".to_owned()];
                names.extend(schema.indexes.iter().map(|i| i.name.clone()));
                for part in names {
                    let key = format!("idb://{}/{table}/{part}", self.name);
                    let _ = Reflect::set(&parts, &JsValue::from_str(&key), &everything);
                }
            }
            let _ = channel.post_message(&parts);
        }
        if self.events.has("change") {
            let names: Array = tables.iter().map(|t| JsValue::from_str(t)).collect();
            let payload = js::object(&[("tables", &names), ("source", &JsValue::from_str(source))]);
            self.events.emit("change", &payload);
        }
    }
}

/// One record a remote apply writes (or deletes, when `record` is `None`).
struct RemoteWrite {
    store: IdbObjectStore,
    key_path: Option<KeyPath>,
    key: JsValue,
    key_in_record: bool,
    record: Option<serde_json::Map<String, serde_json::Value>>,
}

struct Prepared {
    out_of_line_key: Option<JsValue>,
    row: Option<JsValue>,
}

/// A query on a table or an index: `equals`, or bounds, and a limit.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// The index (by Dexie's name, e.g. `"[a+b]"`); `None`: the primary key.
    pub index: Option<String>,
    /// Exact key.
    pub equals: Option<JsValue>,
    /// Lower bound and whether it is excluded.
    pub lower: Option<(JsValue, bool)>,
    /// Upper bound and whether it is excluded.
    pub upper: Option<(JsValue, bool)>,
    /// Most records returned.
    pub limit: Option<u32>,
}

impl Query {
    fn key_range(&self) -> Result<Option<IdbKeyRange>, String> {
        let invalid = |e: JsValue| format!("invalid key range: {}", DomError::from_js(&e).message);
        Ok(match (&self.equals, &self.lower, &self.upper) {
            (Some(v), None, None) => Some(IdbKeyRange::only(v).map_err(invalid)?),
            (Some(_), _, _) => return Err("`equals` cannot be combined with bounds".into()),
            (None, Some((l, lo)), Some((u, uo))) => Some(
                IdbKeyRange::bound_with_lower_open_and_upper_open(l, u, *lo, *uo)
                    .map_err(invalid)?,
            ),
            (None, Some((l, lo)), None) => {
                Some(IdbKeyRange::lower_bound_with_open(l, *lo).map_err(invalid)?)
            }
            (None, None, Some((u, uo))) => {
                Some(IdbKeyRange::upper_bound_with_open(u, *uo).map_err(invalid)?)
            }
            (None, None, None) => None,
        })
    }
}

fn has_store(db: &IdbDatabase, name: &str) -> bool {
    db.object_store_names().contains(name)
}

fn unknown_table(schema: &DatabaseSchema, name: &str) -> Error {
    let known: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    Error::UnknownTable {
        table: name.to_owned(),
        known: quoted_list(&known),
    }
}

fn put_request(
    store: &IdbObjectStore,
    record: &JsValue,
    out_of_line_key: Option<&JsValue>,
) -> Result<web_sys::IdbRequest, DomError> {
    idb::sync(match out_of_line_key {
        Some(key) => store.put_with_key(record, key),
        None => store.put(record),
    })
}

/// The parts of a change-log row beyond its table, key, type and stamp.
#[derive(Default)]
struct RowParts<'a> {
    obj: Option<&'a JsValue>,
    mods: Option<&'a JsValue>,
    old_obj: Option<&'a JsValue>,
}

fn change_row(
    table: &str,
    key: &JsValue,
    kind: u8,
    stamp: Timestamp,
    parts: RowParts<'_>,
) -> JsValue {
    let or_undefined = |v: Option<&JsValue>| v.cloned().unwrap_or(JsValue::UNDEFINED);
    js::change_row(
        table,
        key,
        kind,
        &stamp.to_string(),
        &or_undefined(parts.obj),
        &or_undefined(parts.mods),
        &or_undefined(parts.old_obj),
    )
}

/// Dexie's "every key" range: `{d: 1, from: -Infinity, to: [[]]}`.
fn full_range() -> JsValue {
    let to = Array::of1(&Array::new());
    js::object(&[
        ("d", &JsValue::from(1)),
        ("from", &JsValue::from_f64(f64::NEG_INFINITY)),
        ("to", &to),
    ])
    .into()
}

fn structured_clone(value: &JsValue) -> Result<JsValue, DomError> {
    let clone: Function = Reflect::get(&js_sys::global(), &"structuredClone".into())
        .map_err(|e| DomError::from_js(&e))?
        .unchecked_into();
    clone
        .call1(&JsValue::NULL, value)
        .map_err(|e| DomError::from_js(&e))
}

fn new_client_id() -> String {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).ok();
    let uuid = crypto
        .and_then(|c| Reflect::get(&c, &"randomUUID".into()).ok().map(|f| (c, f)))
        .and_then(|(c, f)| f.dyn_into::<Function>().ok()?.call0(&c).ok())
        .and_then(|v| v.as_string());
    uuid.unwrap_or_else(|| {
        format!(
            "{:x}{:x}",
            js_sys::Date::now() as u64,
            (js_sys::Math::random() * 1e15) as u64
        )
    })
}

fn type_name(value: &JsValue) -> String {
    if value.is_null() {
        "null".into()
    } else if Array::is_array(value) {
        "an array".into()
    } else {
        value.js_typeof().as_string().unwrap_or_default()
    }
}

/// Emits `change` (source `external`) when another tab, or Dexie, changes
/// one of our tables.
fn external_change_listener(
    db_name: &str,
    schema: &DatabaseSchema,
    events: &Rc<Events>,
) -> Closure<dyn FnMut(MessageEvent)> {
    let prefix = format!("idb://{db_name}/");
    let tables: Vec<String> = schema.tables.iter().map(|t| t.name.clone()).collect();
    let events = Rc::downgrade(events);
    Closure::new(move |event: MessageEvent| {
        let Some(events) = events.upgrade() else {
            return;
        };
        if !events.has("change") {
            return;
        }
        let data = event.data();
        if !data.is_object() {
            return;
        }
        let mut changed: BTreeSet<String> = BTreeSet::new();
        for key in Object::keys(data.unchecked_ref::<Object>()).iter() {
            let key = key.as_string().unwrap_or_default();
            if let Some(rest) = key.strip_prefix(&prefix) {
                let table = rest.split('/').next().unwrap_or_default();
                if tables.iter().any(|t| t == table) {
                    changed.insert(table.to_owned());
                }
            }
        }
        if !changed.is_empty() {
            let names: Array = changed.iter().map(|t| JsValue::from_str(t)).collect();
            let payload = js::object(&[
                ("tables", &names),
                ("source", &JsValue::from_str("external")),
            ]);
            events.emit("change", &payload);
        }
    })
}

/// Creates or upgrades the stores of `schema` inside the version-change
/// transaction. Never deletes a store the schema does not mention (only
/// tables declared `null`); indexes of declared stores follow the schema.
fn upgrade(schema: &DatabaseSchema, up: Upgrade<'_>) -> Result<(), DomError> {
    let fail = |message: String| DomError {
        name: "UpgradeError".into(),
        message,
    };
    let existing = up.db.object_store_names();
    for name in &schema.removed_tables {
        if existing.contains(name) {
            idb::sync(up.db.delete_object_store(name))?;
        }
    }
    for table in schema.all_stores() {
        let pk = &table.primary_key;
        let store = if existing.contains(&table.name) {
            let store = idb::sync(up.tx.object_store(&table.name))?;
            let current = store.key_path().unwrap_or(JsValue::NULL);
            if !same_key_path(&current, pk.key_path.as_ref())
                || store.auto_increment() != pk.auto_increment
            {
                return Err(fail(format!(
                    "table \"{}\": its primary key changed to \"{}\"; IndexedDB cannot change a primary key in place. \
                     Keep the old key, or declare a new table (and `{}: null` to delete the old one)",
                    table.name,
                    pk.source(true),
                    table.name
                )));
            }
            store
        } else {
            let params = IdbObjectStoreParameters::new();
            params.set_auto_increment(pk.auto_increment);
            if let Some(path) = &pk.key_path {
                params.set_key_path(&key_path_js(path));
            }
            idb::sync(
                up.db
                    .create_object_store_with_optional_parameters(&table.name, &params),
            )?
        };
        let current = store.index_names();
        for i in 0..current.length() {
            let Some(name) = current.get(i) else { continue };
            if !table.indexes.iter().any(|idx| idx.name == name) {
                idb::sync(store.delete_index(&name))?;
            }
        }
        for index in &table.indexes {
            let Some(path) = &index.key_path else {
                continue;
            };
            if current.contains(&index.name) {
                let found = idb::sync(store.index(&index.name))?;
                let same = same_key_path(&found.key_path().unwrap_or(JsValue::NULL), Some(path))
                    && found.unique() == index.unique
                    && found.multi_entry() == index.multi_entry;
                if same {
                    continue;
                }
                idb::sync(store.delete_index(&index.name))?;
            }
            let params = IdbIndexParameters::new();
            params.set_unique(index.unique);
            params.set_multi_entry(index.multi_entry);
            // One JS createIndex() takes a string or an array key path.
            idb::sync(
                store.create_index_with_str_sequence_and_optional_parameters(
                    &index.name,
                    &key_path_js(path),
                    &params,
                ),
            )?;
        }
    }
    Ok(())
}

fn key_path_js(path: &KeyPath) -> JsValue {
    match path {
        KeyPath::Single(p) => JsValue::from_str(p),
        KeyPath::Compound(parts) => parts
            .iter()
            .map(|p| JsValue::from_str(p))
            .collect::<Array>()
            .into(),
    }
}

fn same_key_path(current: &JsValue, declared: Option<&KeyPath>) -> bool {
    match declared {
        None => current.is_null() || current.is_undefined(),
        Some(KeyPath::Single(p)) => current.as_string().as_deref() == Some(p.as_str()),
        Some(KeyPath::Compound(parts)) => {
            Array::is_array(current) && {
                let array: &Array = current.unchecked_ref();
                array.length() as usize == parts.len()
                    && parts.iter().enumerate().all(|(i, p)| {
                        array.get(i as u32).as_string().as_deref() == Some(p.as_str())
                    })
            }
        }
    }
}
