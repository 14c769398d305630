//! The change log as an outbox: pending changes read and coalesced per
//! record, acknowledged rows removed, and changes the server refused for
//! good set aside (the refusal is kept on the record's `_changes` rows as
//! `failed`, so it lives and dies with them).

use std::collections::HashMap;

use fieldsync_core::outbox::{self, Partition, Refusal};
use fieldsync_core::replica::group_pending;
use fieldsync_core::{Change, ChangeRow, RecordKey, codec, json};
use js_sys::{Array, Reflect};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::IdbTransactionMode;

use super::connection::has_store;
use super::{CHANGES, META, SYNC_NODES, Storage};
use crate::error::{Context, Error};
use crate::idb::{DomError, Store, Transaction};
use crate::js;

/// One record's pending change, ready to push.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    /// The coalesced change.
    pub(crate) change: Change,
    /// The `_changes` revisions it covers: acknowledge exactly these.
    pub(crate) revs: Vec<u64>,
    /// Refused pushes so far (when retried or rewritten after a refusal).
    pub(crate) attempts: u32,
}

/// A batch of pending writes, coalesced per record.
#[derive(Clone, Debug, Default)]
pub(crate) struct PendingBatch {
    /// One change per record.
    pub(crate) changes: Vec<Outgoing>,
    /// Revisions that need no push (e.g. a record inserted and deleted
    /// locally): acknowledge them with the batch.
    pub(crate) settled: Vec<u64>,
    /// More pending rows may follow this batch.
    pub(crate) more: bool,
}

impl PendingBatch {
    /// Every revision the batch covers.
    pub(crate) fn revs(&self) -> Vec<u64> {
        let mut revs = self.settled.clone();
        revs.extend(self.changes.iter().flat_map(|c| c.revs.iter().copied()));
        revs
    }
}

/// A change the server refused for good, set aside.
#[derive(Clone, Debug)]
pub(crate) struct FailedChange {
    /// The table.
    pub(crate) table: String,
    /// The record.
    pub(crate) id: RecordKey,
    /// Why, and how often.
    pub(crate) refusal: Refusal,
}

impl FailedChange {
    /// Writes `{table, id, status, code, message, attempts}`.
    pub(crate) fn write_json(&self, out: &mut String) {
        let mut members = json::ObjectWriter::new(out);
        members.str("table", &self.table);
        members.value("id", self.id.as_value());
        members.value("status", &Value::from(self.refusal.status));
        members.str("code", &self.refusal.code);
        members.str("message", &self.refusal.message);
        members.value("attempts", &Value::from(self.refusal.attempts));
        members.end();
    }
}

/// The synced `_changes` rows, parsed, and the refusals kept on them.
pub(super) struct LoggedRows {
    pub(super) rows: Vec<ChangeRow>,
    pub(super) refusals: HashMap<u64, Refusal>,
}

impl LoggedRows {
    /// Pending records: (pushable, set aside).
    fn records(self) -> Result<Partition, Error> {
        let grouped = group_pending(&self.rows)?;
        Ok(outbox::partition(grouped, &self.refusals))
    }
}

impl Storage {
    /// Reads the `_changes` rows of synced tables (at most `max_rows` when
    /// given), stamping rows that other libraries (dexie-observable) wrote
    /// without a stamp. `tx` must be a readwrite transaction over `_changes`.
    pub(super) async fn logged_rows(
        &self,
        tx: &Transaction,
        max_rows: Option<u32>,
    ) -> Result<LoggedRows, Error> {
        let op = || "reading pending changes".to_owned();
        let store = tx.store(CHANGES).during(op)?;
        let all: Array = store
            .get_all(&JsValue::UNDEFINED, max_rows)
            .during(op)?
            .await
            .during(op)?
            .unchecked_into();
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
                store.put(&raw, None).during(op)?;
            }
            synced.push(&raw);
        }
        // One JSON.stringify for every row: far fewer wasm boundary crossings.
        let text = js::stringify(&synced).map_err(Error::InvalidInput)?;
        let parsed = js::parse_json(&text)?;
        let mut refusals = HashMap::new();
        for row in parsed.as_array().into_iter().flatten() {
            if let (Some(rev), Some(refusal)) = (
                row.get("rev").and_then(Value::as_u64),
                row.get("failed").and_then(Refusal::from_json),
            ) {
                refusals.insert(rev, refusal);
            }
        }
        let rows = codec::change_rows(&parsed, CHANGES).map_err(|e| {
            Error::InvalidInput(format!(
                "a {CHANGES} row is not in Dexie.Observable's format: {e}"
            ))
        })?;
        Ok(LoggedRows { rows, refusals })
    }

    /// Up to `max_records` pending records, coalesced, oldest first; records
    /// set aside are left out.
    pub(crate) async fn pending(&self, max_records: usize) -> Result<PendingBatch, Error> {
        let op = || "reading pending changes".to_owned();
        let tx = self
            .begin(&[CHANGES], IdbTransactionMode::Readwrite)
            .await?;
        // A window of the oldest rows: a record's later rows, if outside it,
        // simply go in the next batch. Rows set aside would fill the window
        // for ever, so with any in it, read them all.
        let window = max_records.clamp(1, u32::MAX as usize) as u32;
        let mut logged = self.logged_rows(&tx, Some(window)).await?;
        let mut more = logged.rows.len() >= window as usize;
        if more && !logged.refusals.is_empty() {
            logged = self.logged_rows(&tx, None).await?;
            more = false;
        }
        tx.commit().await.during(op)?;
        let refusals = logged.refusals.clone();
        let pushable = logged.records()?.pushable;
        let mut batch = PendingBatch {
            more,
            ..PendingBatch::default()
        };
        for record in pushable.into_iter().take(max_records) {
            match record.to_change() {
                Some(change) => batch.changes.push(Outgoing {
                    change,
                    attempts: outbox::attempts_so_far(&record, &refusals),
                    revs: record.revs,
                }),
                None => batch.settled.extend(record.revs),
            }
        }
        Ok(batch)
    }

    /// How many local writes to synced tables await the server (writes set
    /// aside are counted by `failedChanges()` instead).
    pub(crate) async fn pending_count(&self) -> Result<u32, Error> {
        let op = || "counting pending changes".to_owned();
        let tx = self
            .begin(&[CHANGES], IdbTransactionMode::Readwrite)
            .await?;
        let logged = self.logged_rows(&tx, None).await?;
        tx.commit().await.during(op)?;
        let pushable = logged.records()?.pushable;
        Ok(pushable.iter().map(|r| r.revs.len()).sum::<usize>() as u32)
    }

    /// Removes acknowledged `_changes` rows, atomically.
    pub(crate) async fn acknowledge(&self, revs: &[u64]) -> Result<(), Error> {
        let db = self.connect().await?;
        let observable = has_store(&db, SYNC_NODES);
        let stores: &[&str] = if observable {
            &[CHANGES, META, SYNC_NODES]
        } else {
            &[CHANGES, META]
        };
        let tx = self.begin(stores, IdbTransactionMode::Readwrite).await?;
        let op = || format!("acknowledging {} changes", revs.len());
        let store = tx.store(CHANGES).during(op)?;
        for rev in revs {
            store.delete(&JsValue::from_f64(*rev as f64)).during(op)?;
        }
        // The acknowledged rows held the newest stamps: keep the clock.
        self.share_clock(&tx.store(META).during(op)?).during(op)?;
        if observable {
            self.hold_observable_rows(&tx).await?;
        }
        tx.commit().await.during(op)
    }

    /// Sets aside the rows `revs` (one record's) with `refusal`. Rows the
    /// record gained since it was read stay pending, so a newer write
    /// re-queues it.
    pub(crate) async fn set_aside(&self, revs: &[u64], refusal: &Refusal) -> Result<(), Error> {
        let tx = self
            .begin(&[CHANGES], IdbTransactionMode::Readwrite)
            .await?;
        let op = || "setting aside a refused change".to_owned();
        mark_rows(&tx.store(CHANGES).during(op)?, revs, refusal)
            .await
            .during(op)?;
        tx.commit().await.during(op)
    }

    /// The changes set aside, oldest first.
    pub(crate) async fn failed_changes(&self) -> Result<Vec<FailedChange>, Error> {
        let op = || "reading refused changes".to_owned();
        let tx = self
            .begin(&[CHANGES], IdbTransactionMode::Readwrite)
            .await?;
        let logged = self.logged_rows(&tx, None).await?;
        tx.commit().await.during(op)?;
        let aside = logged.records()?.set_aside;
        Ok(aside
            .into_iter()
            .map(|(record, refusal)| FailedChange {
                table: record.table,
                id: record.key,
                refusal,
            })
            .collect())
    }

    /// Re-queues every change set aside; resolves to how many records.
    pub(crate) async fn retry_failed(&self) -> Result<u32, Error> {
        let op = || "re-queueing refused changes".to_owned();
        let tx = self
            .begin(&[CHANGES], IdbTransactionMode::Readwrite)
            .await?;
        let aside = self.logged_rows(&tx, None).await?.records()?.set_aside;
        let store = tx.store(CHANGES).during(op)?;
        for (record, refusal) in &aside {
            let retry = Refusal {
                retry: true,
                ..refusal.clone()
            };
            mark_rows(&store, &record.revs, &retry).await.during(op)?;
        }
        tx.commit().await.during(op)?;
        Ok(aside.len() as u32)
    }

    /// Drops the local change set aside for `table`/`key` and the local
    /// record; the table's next pull starts over, bringing back the
    /// server's state (if the server has the record). Resolves to whether
    /// there was such a change.
    pub(crate) async fn discard_failed(&self, table: &str, key: JsValue) -> Result<bool, Error> {
        self.table(table)?;
        if !self.is_synced(table) {
            return Ok(false);
        }
        self.check_key(table, &key)?;
        let wanted = RecordKey::new(js::to_json(&key, "key").map_err(Error::InvalidInput)?)?;
        let tx = self
            .begin(&[table, CHANGES, META], IdbTransactionMode::Readwrite)
            .await?;
        let op = || format!("discarding the refused change of \"{table}\"");
        let logged = self.logged_rows(&tx, None).await?;
        let aside = logged.records()?.set_aside;
        let Some((record, _)) = aside
            .iter()
            .find(|(r, _)| r.table == table && r.key == wanted)
        else {
            return Ok(false);
        };
        let changes = tx.store(CHANGES).during(op)?;
        for rev in &record.revs {
            changes.delete(&JsValue::from_f64(*rev as f64)).during(op)?;
        }
        tx.store(table).during(op)?.delete(&key).during(op)?;
        tx.store(META)
            .during(op)?
            .delete(&JsValue::from_str(&cursor_key(table)))
            .during(op)?;
        tx.commit().await.during(op)?;
        self.notify(&[table], "local");
        Ok(true)
    }
}

/// Keeps `refusal` on the rows `revs` (as their `failed` member).
async fn mark_rows(store: &Store, revs: &[u64], refusal: &Refusal) -> Result<(), DomError> {
    let mut text = String::new();
    refusal.write_json(&mut text);
    let mark = js_sys::JSON::parse(&text).unwrap_or(JsValue::UNDEFINED);
    // Issue every read first: they complete in order, in one round.
    let reads = revs
        .iter()
        .map(|rev| store.get(&JsValue::from_f64(*rev as f64)))
        .collect::<Result<Vec<_>, _>>()?;
    for read in reads {
        let row = read.await?;
        if row.is_object() {
            let _ = Reflect::set(&row, &"failed".into(), &mark);
            store.put(&row, None)?;
        }
    }
    Ok(())
}

/// The `_fieldsync_meta` key of a table's pull cursor.
pub(crate) fn cursor_key(table: &str) -> String {
    format!("cursor:{table}")
}
