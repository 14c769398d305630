//! The change log as an outbox: pending changes read and coalesced per
//! record, acknowledged rows removed, and changes the server refused for
//! good set aside (the refusal is kept on the record's `_changes` rows as
//! `failed`, so it lives and dies with them).

use fieldsync_core::outbox::{self, Partition, Refusal, Refusals};
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
    pub(super) refusals: Refusals,
}

impl LoggedRows {
    /// Pending records: pushable and set aside.
    fn records(&self) -> Result<Partition, Error> {
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
        let store = tx.store(CHANGES).during(&op)?;
        let all: Array = store
            .get_all(&JsValue::UNDEFINED, max_rows)
            .await
            .during(&op)?
            .unchecked_into();
        let split = js::synced_rows(&all, &self.synced_js());
        let (synced, unstamped): (Array, Array) =
            (split.get(0).unchecked_into(), split.get(1).unchecked_into());
        for raw in unstamped.iter() {
            // Written by another library (dexie-observable): check it is
            // JSON (ours were checked when written), then stamp it once.
            js::check_json(&raw, "").map_err(|m| {
                Error::InvalidInput(format!("a {CHANGES} row cannot be synced: {m}"))
            })?;
            let stamp = self.stamp();
            let _ = Reflect::set(
                &raw,
                &"stamp".into(),
                &JsValue::from_str(&stamp.to_string()),
            );
            store.put(&raw, None).during(&op)?;
        }
        // One JSON.stringify for every row: far fewer wasm boundary crossings.
        let text = js::stringify(&synced).map_err(Error::InvalidInput)?;
        let parsed = js::parse_json(&text)?;
        let mut refusals = Refusals::default();
        for row in parsed.as_array().into_iter().flatten() {
            if let (Some(rev), Some(refusal)) = (
                row.get("rev").and_then(Value::as_u64),
                row.get("failed").and_then(Refusal::from_json),
            ) {
                refusals.push(rev, refusal);
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
        tx.commit().await.during(&op)?;
        let pushable = logged.records()?.pushable;
        let mut batch = PendingBatch {
            more,
            ..PendingBatch::default()
        };
        for record in pushable.into_iter().take(max_records) {
            match record.to_change() {
                Some(change) => batch.changes.push(Outgoing {
                    change,
                    attempts: outbox::attempts_so_far(&record, &logged.refusals),
                    revs: record.revs,
                }),
                None => batch.settled.extend(record.revs),
            }
        }
        Ok(batch)
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
        let store = tx.store(CHANGES).during(&op)?;
        for rev in revs {
            store.delete(&JsValue::from_f64(*rev as f64)).during(&op)?;
        }
        // The acknowledged rows held the newest stamps: keep the clock.
        self.share_clock(&tx.store(META).during(&op)?).during(&op)?;
        if observable {
            self.hold_observable_rows(&tx).await?;
        }
        tx.commit().await.during(&op)
    }

    /// The outbox's operations on changes set aside (see [`SetAside`]);
    /// resolves to the changes it listed, re-queued or discarded, oldest
    /// first, and how many writes wait to be pushed. One function for all
    /// of them keeps the package small (each async function is a state
    /// machine of its own).
    pub(crate) async fn set_aside_changes(&self, action: SetAside) -> Result<Outbox, Error> {
        let op = || "reading or updating the outbox".to_owned();
        let discard = match &action {
            SetAside::Discard { table, key } => {
                self.table(table)?;
                if !self.is_synced(table) {
                    return Ok(Outbox::default());
                }
                self.check_key(table, key)?;
                let wanted = RecordKey::new(js::to_json(key, "key").map_err(Error::InvalidInput)?)?;
                Some((table.as_str(), key, wanted))
            }
            _ => None,
        };
        let stores: &[&str] = match &discard {
            Some((table, _, _)) => &[table, CHANGES, META],
            None => &[CHANGES],
        };
        let tx = self.begin(stores, IdbTransactionMode::Readwrite).await?;
        let Partition {
            pushable,
            set_aside: mut aside,
        } = self.logged_rows(&tx, None).await?.records()?;
        let changes = tx.store(CHANGES).during(&op)?;
        match (&action, &discard) {
            (SetAside::Refuse { revs, refusal }, _) => {
                mark_rows(&changes, revs, refusal).await.during(&op)?;
            }
            (SetAside::Retry, _) => {
                for (record, refusal) in &aside {
                    let retry = Refusal {
                        retry: true,
                        ..refusal.clone()
                    };
                    mark_rows(&changes, &record.revs, &retry)
                        .await
                        .during(&op)?;
                }
            }
            (_, Some((table, key, wanted))) => {
                aside.retain(|(r, _)| r.table == *table && r.key == *wanted);
                for (record, _) in &aside {
                    for rev in &record.revs {
                        changes
                            .delete(&JsValue::from_f64(*rev as f64))
                            .during(&op)?;
                    }
                    tx.store(table).during(&op)?.delete(key).during(&op)?;
                    tx.store(META)
                        .during(&op)?
                        .delete(&JsValue::from_str(&cursor_key(table)))
                        .during(&op)?;
                }
            }
            _ => {}
        }
        tx.commit().await.during(&op)?;
        if let Some((table, _, _)) = discard
            && !aside.is_empty()
        {
            self.notify(&[table], "local");
        }
        Ok(Outbox {
            failed: aside
                .into_iter()
                .map(|(record, refusal)| FailedChange {
                    table: record.table,
                    id: record.key,
                    refusal,
                })
                .collect(),
            pending_writes: pushable.iter().map(|r| r.revs.len()).sum::<usize>() as u32,
        })
    }
}

/// What [`Storage::set_aside_changes`] found.
#[derive(Default)]
pub(crate) struct Outbox {
    /// The changes set aside that the operation listed, re-queued or
    /// discarded.
    pub(crate) failed: Vec<FailedChange>,
    /// Local writes waiting to be pushed (before the operation).
    pub(crate) pending_writes: u32,
}

/// What to do with the changes set aside.
pub(crate) enum SetAside {
    /// List them (and count the pending writes).
    List,
    /// Set aside the rows `revs` (one record's) with `refusal`. Rows the
    /// record gained since they were read stay pending, so a newer write
    /// re-queues it.
    Refuse {
        /// The rows.
        revs: Vec<u64>,
        /// Why.
        refusal: Refusal,
    },
    /// Queue them all again.
    Retry,
    /// Drop the one of `table`/`key`, and the local record; the table's
    /// next pull starts over, bringing back the server's state.
    Discard {
        /// The table.
        table: String,
        /// The record's key.
        key: JsValue,
    },
}

/// Keeps `refusal` on the rows `revs` (as their `failed` member).
async fn mark_rows(store: &Store, revs: &[u64], refusal: &Refusal) -> Result<(), DomError> {
    let mut text = String::new();
    refusal.write_json(&mut text);
    let mark = js_sys::JSON::parse(&text).unwrap_or(JsValue::UNDEFINED);
    // Issue every read first: they complete in order, in one round.
    let reads: Vec<_> = revs
        .iter()
        .map(|rev| store.get(&JsValue::from_f64(*rev as f64)))
        .collect();
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
