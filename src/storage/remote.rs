//! Remote applies: changes from the server (or any peer) merged field by
//! field with pending local writes, in one transaction that also checks and
//! moves the pull cursor, without logging them as local writes.

use std::collections::{BTreeSet, HashMap};

use fieldsync_core::replica::{apply_remote, group_pending};
use fieldsync_core::schema::KeyPath;
use fieldsync_core::{Change, Conflict, Timestamp, json};
use wasm_bindgen::JsValue;
use web_sys::IdbTransactionMode;

use super::{ApplyResult, CHANGES, ChangedRecord, CursorUpdate, META, Storage};
use crate::error::{Context, Error};
use crate::idb::Store;
use crate::js;

/// One record a remote apply writes (or deletes, when `record` is `None`).
struct RemoteWrite {
    store: Store,
    key_path: Option<KeyPath>,
    key: JsValue,
    key_in_record: bool,
    record: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Storage {
    /// Applies remote changes in one transaction, merging pending local
    /// writes field by field; writes no `_changes` rows. With `cursor`,
    /// applies only if the stored cursor still holds `expected` (else
    /// [`Error::StaleCursor`], nothing applied) and stores the new cursor in
    /// the same transaction.
    pub(crate) async fn apply_remote(
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
        let meta = tx.store(META).during(&op)?;
        if let Some(cursor) = &cursor {
            let stored = meta
                .get(&JsValue::from_str(&cursor.key))
                .await
                .during(&op)?;
            if stored.as_string() != cursor.expected {
                return Err(Error::StaleCursor {
                    key: cursor.key.clone(),
                });
            }
        }
        let logged = self.logged_rows(&tx, None).await?;
        let pending: HashMap<(String, String), _> = group_pending(&logged.rows)?
            .into_iter()
            .map(|p| ((p.table.clone(), p.key.canonical()), p.state))
            .collect();

        let mut newest = Timestamp::ZERO;
        let mut writes: Vec<RemoteWrite> = Vec::with_capacity(changes.len());
        for change in changes.iter().filter(|c| self.is_synced(&c.table)) {
            let schema = self.table(&change.table)?;
            let store = tx.store(&change.table).during(&op)?;
            let incoming = change.to_state(received_at);
            newest = newest.max(incoming.max_ts().unwrap_or(Timestamp::ZERO));
            let key_js = js::to_js(change.id.as_value());
            let local_pending = pending.get(&(change.table.clone(), change.id.canonical()));
            // A clean record is replaced whole by a remote state carrying its
            // lifecycle; only pending writes or a partial update need the
            // local copy.
            let local = if local_pending.is_some() || incoming.lifecycle().is_none() {
                let found = store.get(&key_js).await.during(&op)?;
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
                write.store.delete(&write.key).during(&op)?;
                continue;
            }
            let object = objects.get(next);
            next += 1;
            match &write.key_path {
                Some(path) => {
                    if !write.key_in_record {
                        js::set_key(&object, path, &write.key).map_err(Error::InvalidInput)?;
                    }
                    write.store.put(&object, None).during(&op)?;
                }
                None => write.store.put(&object, Some(&write.key)).during(&op)?,
            }
        }
        let clock = {
            let mut clock = self.clock.borrow_mut();
            clock.observe(newest);
            clock.last()
        };
        meta.put(
            &JsValue::from_str(&clock.to_string()),
            Some(&"clock".into()),
        )
        .during(&op)?;
        if let Some(cursor) = &cursor {
            meta.put(
                &JsValue::from_str(&cursor.next),
                Some(&JsValue::from_str(&cursor.key)),
            )
            .during(&op)?;
        }
        tx.commit().await.during(&op)?;
        if !tables.is_empty() {
            self.notify(&tables.into_iter().collect::<Vec<_>>(), "remote");
        }
        Ok(result)
    }
}
