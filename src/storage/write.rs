//! Local writes: `put`, `bulkPut`, `update`, `delete`. On a synced table
//! each writes its Dexie.Observable-format `_changes` row, stamped by the
//! shared clock, in the record's own transaction; every argument is checked
//! before the transaction starts, and the transaction guard rolls back
//! anything a failing request leaves behind.

use fieldsync_core::schema::KeyPath;
use fieldsync_core::{RecordKey, Timestamp};
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::IdbTransactionMode;

use super::{CHANGES, META, Storage};
use crate::error::{Context, Error};
use crate::idb::{DomError, Store, Transaction, sync};
use crate::js;

/// The Dexie.Observable change types.
const CREATE: u8 = 1;
const UPDATE: u8 = 2;
const DELETE: u8 = 3;

/// A checked `put` argument.
struct Prepared {
    out_of_line_key: Option<JsValue>,
    /// The `_changes` row (synced tables), stamped once the transaction runs.
    row: Option<JsValue>,
}

/// The parts of a change-log row beyond its table, key, type and stamp.
#[derive(Default)]
struct RowParts<'a> {
    obj: Option<&'a JsValue>,
    mods: Option<&'a JsValue>,
    old_obj: Option<&'a JsValue>,
}

impl Storage {
    /// Inserts or replaces a whole record. `key` is needed only for tables
    /// with out-of-line keys. Resolves to the record's key.
    pub(crate) async fn put(
        &self,
        table: &str,
        record: JsValue,
        key: Option<JsValue>,
    ) -> Result<JsValue, Error> {
        let prepared = self.prepare_put(table, &record, key)?;
        let tx = self.begin_write(table).await?;
        let op = || format!("put into \"{table}\"");
        let stored_key = tx
            .store(table)
            .during(&op)?
            .put_returning_key(&record, prepared.out_of_line_key.as_ref());
        if let Some(row) = &prepared.row {
            let meta = self.shared_clock(&tx).await?;
            self.log(&tx, row, &meta).during(&op)?;
        }
        let key = stored_key.await.during(&op)?;
        tx.commit().await.during(&op)?;
        self.notify(&[table], "local");
        Ok(key)
    }

    /// Puts many records in one transaction: all or nothing. Every record is
    /// checked before anything is written.
    pub(crate) async fn bulk_put(&self, table: &str, records: &Array) -> Result<u32, Error> {
        let prepared: Vec<(JsValue, Prepared)> = records
            .iter()
            .enumerate()
            .map(|(i, record)| {
                self.prepare_put(table, &record, None)
                    .map_err(|e| Error::InvalidInput(format!("records[{i}]: {e}")))
                    .map(|p| (record, p))
            })
            .collect::<Result<_, _>>()?;
        let tx = self.begin_write(table).await?;
        let op = || format!("bulkPut of {} records into \"{table}\"", prepared.len());
        let store = tx.store(table).during(&op)?;
        let (changes, meta) = if self.is_synced(table) {
            let meta = self.shared_clock(&tx).await?;
            (Some(tx.store(CHANGES).during(&op)?), Some(meta))
        } else {
            (None, None)
        };
        for (record, p) in &prepared {
            store.put(record, p.out_of_line_key.as_ref()).during(&op)?;
            if let (Some(changes), Some(row)) = (&changes, &p.row) {
                self.stamp_row(row);
                changes.add(row).during(&op)?;
            }
        }
        if let Some(meta) = &meta {
            self.share_clock(meta).during(&op)?;
        }
        tx.commit().await.during(&op)?;
        self.notify(&[table], "local");
        Ok(prepared.len() as u32)
    }

    /// Updates fields of one record (`changes`: key path → new value,
    /// `undefined` removes). Resolves to 1, or 0 if there is no such record.
    pub(crate) async fn update(
        &self,
        table: &str,
        key: JsValue,
        changes: JsValue,
    ) -> Result<u32, Error> {
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
        let tx = self.begin_write(table).await?;
        let op = || format!("update in \"{table}\"");
        let store = tx.store(table).during(&op)?;
        let old = store.get(&key).await.during(&op)?;
        if old.is_undefined() {
            return Ok(0);
        }
        let new = structured_clone(&old).during(&op)?;
        for (path, value) in &entries {
            js::set_path(&new, path, value).map_err(Error::InvalidInput)?;
        }
        let out_of_line = schema.primary_key.key_path.is_none().then_some(&key);
        store.put(&new, out_of_line).during(&op)?;
        if synced {
            let meta = self.shared_clock(&tx).await?;
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
            let row = change_row(table, &key, UPDATE, parts);
            self.log(&tx, &row, &meta).during(&op)?;
        }
        tx.commit().await.during(&op)?;
        self.notify(&[table], "local");
        Ok(1)
    }

    /// Deletes one record (nothing happens if it does not exist).
    pub(crate) async fn delete(&self, table: &str, key: JsValue) -> Result<(), Error> {
        self.table(table)?;
        let synced = self.is_synced(table);
        if synced {
            self.check_key(table, &key)?;
        }
        let tx = self.begin_write(table).await?;
        let op = || format!("delete from \"{table}\"");
        let store = tx.store(table).during(&op)?;
        if synced {
            let old = store.get(&key).await.during(&op)?;
            if old.is_undefined() {
                return Ok(());
            }
            let parts = RowParts {
                old_obj: Some(&old),
                ..RowParts::default()
            };
            let meta = self.shared_clock(&tx).await?;
            let row = change_row(table, &key, DELETE, parts);
            self.log(&tx, &row, &meta).during(&op)?;
        }
        store.delete(&key).during(&op)?;
        tx.commit().await.during(&op)?;
        self.notify(&[table], "local");
        Ok(())
    }

    /// A read-write transaction over `table`, plus `_changes` and
    /// `_fieldsync_meta` when it is synced.
    async fn begin_write(&self, table: &str) -> Result<Transaction, Error> {
        let synced = [table, CHANGES, META];
        let stores = if self.is_synced(table) {
            &synced[..]
        } else {
            &synced[..1]
        };
        self.begin(stores, IdbTransactionMode::Readwrite).await
    }

    /// Brings this tab's clock up to the stamp persisted by every tab, inside
    /// `tx` (which covers `_fieldsync_meta`). IndexedDB runs overlapping
    /// transactions one at a time across tabs, so a write stamped after this
    /// is later than every stamp any tab issued or saw.
    pub(super) async fn shared_clock(&self, tx: &Transaction) -> Result<Store, Error> {
        let op = || "reading the shared clock".to_owned();
        let meta = tx.store(META).during(&op)?;
        let stored = meta.get(&"clock".into()).await.during(&op)?;
        if let Some(ts) = stored.as_string().and_then(|s| Timestamp::parse(&s).ok()) {
            self.clock.borrow_mut().observe(ts);
        }
        Ok(meta)
    }

    /// Persists this tab's clock for the other tabs (in the write's own
    /// transaction).
    pub(super) fn share_clock(&self, meta: &Store) -> Result<(), DomError> {
        let last = JsValue::from_str(&self.clock_last().to_string());
        meta.put(&last, Some(&"clock".into()))
    }

    /// Stamps `row` and adds it to `_changes`, sharing the clock.
    fn log(&self, tx: &Transaction, row: &JsValue, meta: &Store) -> Result<(), DomError> {
        self.stamp_row(row);
        tx.store(CHANGES)?.add(row)?;
        self.share_clock(meta)
    }

    /// Gives a prepared change-log row its stamp (taken after `shared_clock`).
    fn stamp_row(&self, row: &JsValue) {
        let _ = Reflect::set(
            row,
            &"stamp".into(),
            &JsValue::from_str(&self.stamp().to_string()),
        );
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
            Some(change_row(table, &key, CREATE, parts))
        } else {
            None
        };
        Ok(Prepared {
            out_of_line_key,
            row,
        })
    }

    pub(super) fn check_key(&self, table: &str, key: &JsValue) -> Result<(), Error> {
        let value = js::to_json(key, "key")
            .map_err(|m| Error::InvalidInput(format!("\"{table}\": {m}")))?;
        RecordKey::new(value)?;
        Ok(())
    }
}

/// A `_changes` row, stamped later (inside the write's transaction).
fn change_row(table: &str, key: &JsValue, kind: u8, parts: RowParts<'_>) -> JsValue {
    let or_undefined = |v: Option<&JsValue>| v.cloned().unwrap_or(JsValue::UNDEFINED);
    js::change_row(
        table,
        key,
        kind,
        &Timestamp::ZERO.to_string(),
        &or_undefined(parts.obj),
        &or_undefined(parts.mods),
        &or_undefined(parts.old_obj),
    )
}

fn structured_clone(value: &JsValue) -> Result<JsValue, DomError> {
    let clone: Function =
        sync(Reflect::get(&js_sys::global(), &"structuredClone".into()))?.unchecked_into();
    sync(clone.call1(&JsValue::NULL, value))
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
