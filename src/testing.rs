//! For this crate's browser tests (feature `testing`): raw IndexedDB access
//! beside a client, JSON ⇄ JS conversion, and fault injection into the
//! transaction layer. Not part of the package's API.

use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};

use fieldsync_core::{Change, Conflict, RecordKey, Timestamp};

use crate::storage::CursorUpdate;
use crate::{Error, SyncClient, idb};

pub use crate::idb::{disarm, fail_at_step};

/// A JSON value as plain JS objects.
pub fn to_js(value: &Value) -> JsValue {
    crate::js::to_js(value)
}

/// A JS value read back as JSON (`Err`: why it is not JSON).
pub fn to_json(value: &JsValue) -> Result<Value, String> {
    crate::js::to_json(value, "")
}

/// Parses JSON text as the browser client does.
pub fn parse_json(text: &str) -> Result<Value, crate::core::Error> {
    crate::js::parse_json(text)
}

/// Every row of `store`, read with a fresh raw connection.
pub async fn raw_rows(db: &str, store: &str) -> Vec<Value> {
    let conn = idb::open(db, None, Box::new(|_| Ok(())), Box::new(|| {}))
        .await
        .expect("open");
    let tx = conn.transaction_with_str(store).expect("transaction");
    let req = tx
        .object_store(store)
        .expect("store")
        .get_all()
        .expect("getAll");
    let rows = idb::request(&req).await.expect("read");
    conn.close();
    let rows: js_sys::Array = rows.unchecked_into();
    rows.iter()
        .map(|r| to_json(&r).expect("rows are JSON"))
        .collect()
}

/// Opens `db` raw at its current version; `upgrade_to`: a version to open
/// at instead, running `upgrade` (creating stores, say) in the version
/// change.
pub async fn raw_open(
    db: &str,
    upgrade_to: Option<u32>,
    upgrade: impl FnMut(&web_sys::IdbDatabase) + 'static,
    on_blocked: impl FnMut() + 'static,
) -> web_sys::IdbDatabase {
    let mut upgrade = upgrade;
    idb::open(
        db,
        upgrade_to,
        Box::new(move |up| {
            upgrade(up.db);
            Ok(())
        }),
        Box::new(on_blocked),
    )
    .await
    .expect("raw open")
}

/// Awaits a raw request.
pub async fn raw_request(request: &web_sys::IdbRequest) -> Result<JsValue, String> {
    idb::request(request).await.map_err(|e| e.message)
}

/// Deletes a database.
pub async fn delete_database(name: &str) {
    idb::delete_database(name).await.expect("delete database");
}

/// What a remote apply did.
#[derive(Debug)]
pub struct Applied {
    /// Changes applied.
    pub applied: usize,
    /// Changes for tables the client does not sync.
    pub skipped: usize,
    /// Pending local values that lost.
    pub conflicts: Vec<Conflict>,
    /// The records written or deleted.
    pub changed: Vec<Changed>,
}

/// A record a remote apply wrote or deleted.
#[derive(Debug)]
pub struct Changed {
    /// The table.
    pub table: String,
    /// The record's key.
    pub id: RecordKey,
    /// Whether it is now deleted.
    pub deleted: bool,
}

/// Pending changes as a push would send them.
#[derive(Debug)]
pub struct Pending {
    /// One change per record.
    pub changes: Vec<Change>,
    /// Every `_changes` revision covered.
    pub revs: Vec<u64>,
}

/// The storage engine of a client, seen from the tests.
pub struct Storage<'a>(&'a crate::storage::Storage);

impl Storage<'_> {
    /// Applies remote changes (with a cursor check: `(key, expected, next)`).
    pub async fn apply_remote(
        &self,
        changes: &[Change],
        cursor: Option<(&str, Option<&str>, &str)>,
    ) -> Result<Applied, Error> {
        let cursor = cursor.map(|(key, expected, next)| CursorUpdate {
            key: key.to_owned(),
            expected: expected.map(str::to_owned),
            next: next.to_owned(),
        });
        let result = self.0.apply_remote(changes, cursor).await?;
        Ok(Applied {
            applied: result.applied,
            skipped: result.skipped,
            conflicts: result.conflicts,
            changed: result
                .changed
                .into_iter()
                .map(|c| Changed {
                    table: c.table,
                    id: c.id,
                    deleted: c.deleted,
                })
                .collect(),
        })
    }

    /// Up to `max_records` pending records, coalesced.
    pub async fn pending(&self, max_records: usize) -> Result<Pending, Error> {
        let batch = self.0.pending(max_records).await?;
        Ok(Pending {
            revs: batch.revs(),
            changes: batch.changes.into_iter().map(|c| c.change).collect(),
        })
    }

    /// Removes acknowledged `_changes` rows.
    pub async fn acknowledge(&self, revs: &[u64]) -> Result<(), Error> {
        self.0.acknowledge(revs).await
    }

    /// The clock's highest stamp.
    pub fn clock_last(&self) -> Timestamp {
        self.0.clock_last()
    }

    /// A value of `_fieldsync_meta`.
    pub async fn meta(&self, key: &str) -> Result<JsValue, Error> {
        self.0.meta(key).await
    }
}

/// Access to a client's internals.
pub trait Internals {
    /// The storage engine.
    fn storage(&self) -> Storage<'_>;
}

impl Internals for SyncClient {
    fn storage(&self) -> Storage<'_> {
        Storage(self.storage())
    }
}

/// How many listeners `client` holds (unsubscribed ones are dropped).
pub fn listener_count(client: &SyncClient) -> usize {
    client.events().len()
}
