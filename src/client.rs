//! `SyncClient`, the JS API. Thin: converts arguments (`options`) and
//! delegates to [`Storage`] and the scheduler; errors become JS `Error`s
//! with a meaningful `name`.

use std::rc::Rc;

use fieldsync_core::Change;
use fieldsync_core::schema::INTERNAL_STORES;
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;

use crate::events::Events;
use crate::js;
use crate::live::Live;
use crate::options::{
    field, invalid, parse_changes, parse_options, parse_query, parse_sync_config,
};
use crate::scheduler::Shared;
use crate::storage::{ChangedRecord, FailedChange, SetAside, Storage};
use crate::sync::Syncer;

/// An offline-first client: app data in IndexedDB (Dexie-compatible), every
/// local write logged for sync in the same transaction. Its TypeScript
/// declaration, generic over the app's tables, with each method's
/// documentation and examples, is written in `types.rs`.
#[wasm_bindgen(skip_typescript)]
pub struct SyncClient {
    shared: Rc<Shared>,
    storage: Rc<Storage>,
    events: Rc<Events>,
}

#[wasm_bindgen]
impl SyncClient {
    /// Opens (creating or upgrading) the database and returns a client. With
    /// no `serverUrl` it is a local-only store.
    pub async fn open(options: JsValue) -> Result<SyncClient, JsValue> {
        crate::install_panic_hook();
        let sync_config = parse_sync_config(&options)?;
        let options = parse_options(&options)?;
        let events = Events::new();
        let storage = Storage::open(options.storage, events.clone()).await?;
        let syncer = sync_config.map(|c| Rc::new(Syncer::new(c)));
        let shared = Shared::new(
            storage.clone(),
            events.clone(),
            syncer,
            options.interval_ms,
            options.live,
        );
        Ok(SyncClient {
            shared,
            storage,
            events,
        })
    }

    /// fieldsync's own stores as a Dexie schema fragment. An app that also
    /// opens the database with Dexie must spread it into every
    /// `stores({...})`, because Dexie deletes undeclared stores when it
    /// upgrades.
    #[wasm_bindgen(js_name = dexieStores)]
    pub fn dexie_stores() -> JsValue {
        let fragment = Object::new();
        for (name, spec) in INTERNAL_STORES {
            let _ = Reflect::set(
                &fragment,
                &JsValue::from_str(name),
                &JsValue::from_str(spec),
            );
        }
        fragment.into()
    }

    /// This client's id: generated once and kept in the database, unless
    /// `clientId` was given to `open`.
    #[wasm_bindgen(getter, js_name = clientId)]
    pub fn client_id(&self) -> String {
        self.storage.client_id()
    }

    /// The database name.
    #[wasm_bindgen(getter, js_name = dbName)]
    pub fn db_name(&self) -> String {
        self.storage.name().to_owned()
    }

    /// Inserts or replaces a whole record (stamping every field) and logs the
    /// write, in one transaction. Resolves to the record's key. `key` is only
    /// for tables whose keys live outside the records.
    pub async fn put(
        &self,
        table: String,
        record: JsValue,
        key: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        let key = key.filter(|k| !k.is_undefined() && !k.is_null());
        let stored = self.storage.put(&table, record, key).await?;
        self.shared.after_local_write();
        Ok(stored)
    }

    /// Puts many records in one transaction: all are written, or none.
    /// Resolves to the number written.
    #[wasm_bindgen(js_name = bulkPut)]
    pub async fn bulk_put(&self, table: String, records: JsValue) -> Result<u32, JsValue> {
        if !Array::is_array(&records) {
            return Err(invalid(format!(
                "bulkPut(\"{table}\"): `records` must be an array"
            )));
        }
        let n = self
            .storage
            .bulk_put(&table, &Array::from(&records))
            .await?;
        self.shared.after_local_write();
        Ok(n)
    }

    /// Changes fields of one record: `changes` maps key paths (`"title"`,
    /// `"address.city"`) to new values; `undefined` removes a property.
    /// Resolves to 1, or 0 when there is no such record (as Dexie does).
    pub async fn update(
        &self,
        table: String,
        key: JsValue,
        changes: JsValue,
    ) -> Result<u32, JsValue> {
        let n = self.storage.update(&table, key, changes).await?;
        if n > 0 {
            self.shared.after_local_write();
        }
        Ok(n)
    }

    /// Deletes one record (a no-op when it does not exist).
    pub async fn delete(&self, table: String, key: JsValue) -> Result<(), JsValue> {
        self.storage.delete(&table, key).await?;
        self.shared.after_local_write();
        Ok(())
    }

    /// One record, or `undefined`.
    pub async fn get(&self, table: String, key: JsValue) -> Result<JsValue, JsValue> {
        Ok(self.storage.get(&table, key).await?)
    }

    /// Every record of a table, in primary-key order.
    #[wasm_bindgen(js_name = getAll)]
    pub async fn get_all(&self, table: String) -> Result<JsValue, JsValue> {
        Ok(self.storage.get_all(&table).await?)
    }

    /// Records whose index key equals a value or lies in a range, in index
    /// order.
    pub async fn query(&self, table: String, query: JsValue) -> Result<JsValue, JsValue> {
        let query = parse_query(&query)?;
        Ok(self.storage.query(&table, &query).await?)
    }

    /// How many records a table holds.
    pub async fn count(&self, table: String) -> Result<u32, JsValue> {
        Ok(self.storage.count(&table).await?)
    }

    /// How many local writes are not yet acknowledged by the server.
    #[wasm_bindgen(js_name = pendingCount)]
    pub async fn pending_count(&self) -> Result<u32, JsValue> {
        Ok(self
            .storage
            .set_aside_changes(SetAside::List)
            .await?
            .pending_writes)
    }

    /// Pending local writes, coalesced to one change per record (at most
    /// `maxRecords`, default 500), for a custom transport. Acknowledge them
    /// with {@link SyncClient.acknowledge} once the server stored them.
    #[wasm_bindgen(js_name = pendingChanges)]
    pub async fn pending_changes(&self, max_records: Option<u32>) -> Result<JsValue, JsValue> {
        let batch = self
            .storage
            .pending(max_records.unwrap_or(500) as usize)
            .await?;
        let revs: Array = batch
            .revs()
            .iter()
            .map(|r| JsValue::from_f64(*r as f64))
            .collect();
        let changes: Vec<&Change> = batch.changes.iter().map(|c| &c.change).collect();
        Ok(js::object(&[
            (
                "changes",
                &js::parse_many(&changes, |c, out| c.write_json(out)),
            ),
            ("revs", &revs),
            ("more", &JsValue::from_bool(batch.more)),
        ])
        .into())
    }

    /// Marks a batch from {@link SyncClient.pendingChanges} as stored by the
    /// server, atomically. Writes made after the batch was read stay pending.
    pub async fn acknowledge(&self, batch: JsValue) -> Result<(), JsValue> {
        let revs = field(&batch, "revs");
        if !Array::is_array(&revs) {
            return Err(invalid(
                "acknowledge(): pass the batch pendingChanges() returned".into(),
            ));
        }
        let revs: Vec<u64> = Array::from(&revs)
            .iter()
            .filter_map(|r| r.as_f64())
            .map(|r| r as u64)
            .collect();
        Ok(self.storage.acknowledge(&revs).await?)
    }

    /// Applies changes from a server (or any peer): merged field by field
    /// with pending local writes (last write wins), in one transaction,
    /// without logging them as local writes. Resolves to what was applied and
    /// which local values lost.
    #[wasm_bindgen(js_name = applyRemoteChanges)]
    pub async fn apply_remote_changes(&self, changes: JsValue) -> Result<JsValue, JsValue> {
        let changes = parse_changes(&changes)?;
        let result = self.storage.apply_remote(&changes, None).await?;
        Ok(js::object(&[
            ("applied", &JsValue::from(result.applied as u32)),
            ("skipped", &JsValue::from(result.skipped as u32)),
            ("conflicts", &js::conflicts(&result.conflicts)),
            (
                "changed",
                &js::parse_many(&result.changed, ChangedRecord::write_json),
            ),
        ])
        .into())
    }

    /// The changes the server refused for good, set aside so they never
    /// block the rest: each with the server's status, code and message and
    /// how many pushes were refused. A new local write to the record, or
    /// {@link SyncClient.retryFailed}, queues it again.
    #[wasm_bindgen(js_name = failedChanges)]
    pub async fn failed_changes(&self) -> Result<JsValue, JsValue> {
        let failed = self.storage.set_aside_changes(SetAside::List).await?.failed;
        Ok(js::parse_many(&failed, FailedChange::write_json).into())
    }

    /// Queues every change set aside again (say, after the server's rules
    /// changed) and, when background sync runs, pushes them. Resolves to how
    /// many records were re-queued.
    #[wasm_bindgen(js_name = retryFailed)]
    pub async fn retry_failed(&self) -> Result<u32, JsValue> {
        let retried = self
            .storage
            .set_aside_changes(SetAside::Retry)
            .await?
            .failed;
        if !retried.is_empty() {
            self.shared.after_local_write();
        }
        Ok(retried.len() as u32)
    }

    /// Drops the local change set aside for one record, and the local copy
    /// of the record: the server's state (if it has the record) comes back
    /// with the next sync, which re-reads that table. Resolves to whether
    /// such a change existed.
    #[wasm_bindgen(js_name = discardFailed)]
    pub async fn discard_failed(&self, table: String, key: JsValue) -> Result<bool, JsValue> {
        let discarded = self
            .storage
            .set_aside_changes(SetAside::Discard { table, key })
            .await?
            .failed;
        if !discarded.is_empty() {
            self.shared.after_local_write();
        }
        Ok(!discarded.is_empty())
    }

    /// Pushes pending writes and pulls every synced table. Concurrent calls
    /// share one run. Resolves to what was pushed, pulled and lost; rejects
    /// with a `NetworkError`, `AuthError` or `ServerError` — writes stay
    /// pending either way.
    pub fn sync(&self) -> Promise {
        let running = self.shared.running.borrow().clone();
        let run = running.unwrap_or_else(|| self.shared.start_run());
        // run.then(unwrap): the run itself never rejects.
        let then: Function = Reflect::get(&run, &"then".into())
            .map(JsCast::unchecked_into)
            .unwrap_or_else(|_| Function::new_no_args(""));
        then.call1(&run, self.shared.unwrap.as_ref())
            .map(JsCast::unchecked_into)
            .unwrap_or(run)
    }

    /// Starts background sync: a sync now, a push shortly after each local
    /// write, a sync every `syncIntervalMs` (default 30 s) and whenever the
    /// browser comes back online, and — unless `live: false` — a WebSocket on
    /// which the server announces other devices' changes. Idempotent.
    pub fn start(&self) -> Result<(), JsValue> {
        Ok(self.shared.start()?)
    }

    /// Stops background sync: closes the WebSocket, cancels every timer and
    /// hands leadership to another tab. A run in progress finishes.
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// Whether this tab leads background sync for its database.
    #[wasm_bindgen(getter)]
    pub fn leader(&self) -> bool {
        self.shared.live.borrow().is_some()
    }

    /// `"idle"`, `"syncing"`, `"offline"` (the server could not be reached,
    /// or the browser is offline) or `"error"`; the `status` event reports
    /// changes.
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> String {
        self.shared.status.get().name().to_owned()
    }

    /// When the last successful sync ended (ms since the epoch), if any.
    #[wasm_bindgen(getter, js_name = lastSyncedAt)]
    pub fn last_synced_at(&self) -> Option<f64> {
        self.shared.last_synced_at.get()
    }

    /// Whether the live WebSocket is open and authenticated.
    #[wasm_bindgen(getter)]
    pub fn live(&self) -> bool {
        self.shared
            .live
            .borrow()
            .as_ref()
            .is_some_and(Live::connected)
    }

    /// Decides conflicts of `table` yourself: after a sync, `resolver` gets
    /// each record whose pending local values lost — `{table, id, local,
    /// remote, conflicts}` — and returns `"remote"` (keep last write wins),
    /// `"local"` (write the local values again, so they win), or a merged
    /// record (written whole); a Promise of these works too. A resolver
    /// that throws leaves last write wins in place and emits `error`; sync
    /// goes on. `null` removes the resolver.
    #[wasm_bindgen(js_name = setConflictResolver)]
    pub fn set_conflict_resolver(&self, table: String, resolver: JsValue) -> Result<(), JsValue> {
        self.storage
            .schema()
            .table(&table)
            .ok_or_else(|| invalid(format!("setConflictResolver(): unknown table \"{table}\"")))?;
        let mut resolvers = self.shared.resolvers.borrow_mut();
        if resolver.is_null() || resolver.is_undefined() {
            resolvers.remove(&table);
            return Ok(());
        }
        let resolver = resolver.dyn_into::<Function>().map_err(|_| {
            invalid("setConflictResolver(): the resolver must be a function (or null)".into())
        })?;
        resolvers.insert(table, resolver);
        Ok(())
    }

    /// Subscribes to an event; returns a function that unsubscribes. A
    /// callback that throws is reported on the console and never breaks
    /// fieldsync.
    pub fn on(&self, event: String, callback: Function) -> Result<Function, JsValue> {
        self.events.on(&event, callback).map_err(invalid)
    }

    /// Closes the database connection and drops every listener.
    pub async fn close(&self) {
        self.stop();
        self.events.clear();
        self.storage.close();
    }
}

impl SyncClient {
    /// The storage engine (for the tests).
    #[cfg(feature = "testing")]
    pub(crate) fn storage(&self) -> &Rc<Storage> {
        &self.storage
    }

    /// The listeners (for the tests).
    #[cfg(feature = "testing")]
    pub(crate) fn events(&self) -> &Events {
        &self.events
    }
}
