//! The browser replica's rules, without the browser: which local writes are
//! pending, and how a remote change meets the local copy of a record.
//!
//! # What a replica stores
//! The app's records as plain objects, and the `_changes` log of writes not
//! yet acknowledged by the server, each row stamped with its clock stamp
//! ([`ChangeRow::stamp`]). Per-field timestamps exist only for those pending
//! writes. A value that is not pending came from the server (or was pushed
//! and acknowledged), and the server only ever sends its full merged state of
//! a record, which dominates every earlier state it sent. So a non-pending
//! ("clean") value counts as older than any remote change: applying a remote
//! change to a clean record is a plain replacement, and only pending writes
//! are merged field by field — which is what keeps a remote apply as cheap as
//! a Dexie `bulkPut`.
//!
//! This requires the replica to apply server responses in the order the
//! server produced them (the sync layer checks the stored cursor in the same
//! transaction), and pending writes to be stamped after every remote stamp the
//! replica has seen (the clock observes every applied change).

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::Error;
use crate::coalesce::ChangeRow;
use crate::hlc::Timestamp;
use crate::key::RecordKey;
use crate::record::{FieldLoss, RecordState};
use crate::wire::Change;

/// One record's pending (unacknowledged) local writes, coalesced.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingRecord {
    /// The table.
    pub table: String,
    /// The record.
    pub key: RecordKey,
    /// The coalesced writes.
    pub state: RecordState,
    /// The `_changes` revisions they came from.
    pub revs: Vec<u64>,
}

impl PendingRecord {
    /// The change to push.
    pub fn to_change(&self) -> Option<Change> {
        Change::from_state(&self.table, &self.key, &self.state)
    }
}

/// Groups stamped `_changes` rows (in revision order) into one pending
/// record per `table`/`key`, in the order of their first row. Rows without a
/// stamp or revision are an error: stamp them first.
pub fn group_pending(rows: &[ChangeRow]) -> Result<Vec<PendingRecord>, Error> {
    let mut order: Vec<PendingRecord> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for row in rows {
        let rev = row.rev.ok_or_else(|| Error::ChangeRow {
            rev: "?".into(),
            reason: "a stored row has no `rev`".into(),
        })?;
        let stamp = row.stamp.ok_or_else(|| Error::ChangeRow {
            rev: rev.to_string(),
            reason: "the row has no `stamp`: stamp rows written by other libraries first".into(),
        })?;
        let key = row.record_key()?;
        let patch = row.to_state(stamp)?;
        let id = (row.table.clone(), key.canonical());
        match index.get(&id) {
            Some(&i) => {
                order[i].state.merge(&patch);
                order[i].revs.push(rev);
            }
            None => {
                index.insert(id, order.len());
                order.push(PendingRecord {
                    table: row.table.clone(),
                    key,
                    state: patch,
                    revs: vec![rev],
                });
            }
        }
    }
    Ok(order)
}

/// What applying one remote change did to the local copy of a record.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteApply {
    /// The record as the app should now see it; `None`: absent or deleted.
    pub record: Option<Map<String, Value>>,
    /// Whether that differs from what the app saw before.
    pub changed: bool,
    /// Pending local values that lost to the remote change.
    pub lost: Vec<FieldLoss>,
}

/// Applies a remote change (`incoming`, already a record state) to the local
/// copy `local` of a record that has the pending writes `pending`.
pub fn apply_remote(
    local: Option<&Map<String, Value>>,
    pending: Option<&RecordState>,
    incoming: &RecordState,
) -> RemoteApply {
    // Clean values: older than anything stamped (see the module docs).
    let mut state = match local {
        Some(record) => RecordState::put(record.clone(), Timestamp::ZERO),
        None => RecordState::new(),
    };
    if let Some(pending) = pending {
        state.merge(pending);
    }
    let before = state.visible();
    let report = state.merge(incoming);
    let record = state.visible();
    let lost = report
        .overwritten
        .into_iter()
        .filter(|loss| loss.loser.ts > Timestamp::ZERO)
        .collect();
    RemoteApply {
        changed: record != before,
        record,
        lost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(ms: u64) -> Timestamp {
        Timestamp::new(ms, 0)
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn row(rev: u64, v: Value, stamp: Timestamp) -> ChangeRow {
        let mut row = ChangeRow::from_json(&v, "").unwrap();
        row.rev = Some(rev);
        row.stamp = Some(stamp);
        row
    }

    #[test]
    fn rows_group_per_record_in_first_write_order() {
        let rows = [
            row(
                1,
                json!({"table": "todos", "key": "b", "type": 1, "obj": {"id": "b", "x": 1}}),
                t(1),
            ),
            row(2, json!({"table": "todos", "key": "a", "type": 3}), t(2)),
            row(
                3,
                json!({"table": "todos", "key": "b", "type": 2, "mods": {"x": 2}, "obj": {"id": "b", "x": 2}}),
                t(3),
            ),
        ];
        let pending = group_pending(&rows).unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].key.to_string(), "b");
        assert_eq!(pending[0].revs, [1, 3]);
        assert_eq!(pending[0].state.visible().unwrap()["x"], 2);
        assert!(pending[1].state.is_deleted());
        let mut unstamped = rows[0].clone();
        unstamped.stamp = None;
        assert!(group_pending(&[unstamped]).is_err());
    }

    #[test]
    fn clean_record_is_replaced_by_the_remote_state() {
        let local = obj(json!({"id": "t1", "title": "old", "extra": 1}));
        let incoming = RecordState::put(obj(json!({"id": "t1", "title": "new"})), t(5));
        let out = apply_remote(Some(&local), None, &incoming);
        assert_eq!(out.record, Some(obj(json!({"id": "t1", "title": "new"}))));
        assert!(out.changed && out.lost.is_empty());
    }

    #[test]
    fn pending_fields_merge_field_by_field_and_losses_are_reported() {
        let local = obj(json!({"id": "t1", "title": "mine", "done": true}));
        let pending = RecordState::update([("title", Some(json!("mine")))], t(5));
        // The server's full state: title older than ours, done newer.
        let mut server = RecordState::put(
            obj(json!({"id": "t1", "title": "theirs", "done": false})),
            t(3),
        );
        server.merge(&RecordState::update([("done", Some(json!(false)))], t(4)));
        let out = apply_remote(Some(&local), Some(&pending), &server);
        assert_eq!(
            out.record.unwrap(),
            obj(json!({"id": "t1", "title": "mine", "done": false}))
        );
        assert!(out.lost.is_empty());

        let newer = RecordState::update([("title", Some(json!("later")))], t(9));
        let out = apply_remote(Some(&local), Some(&pending), &newer);
        assert_eq!(out.record.unwrap()["title"], "later");
        assert_eq!(out.lost.len(), 1);
        assert_eq!(out.lost[0].loser.value, Some(json!("mine")));
    }

    #[test]
    fn pending_delete_survives_an_older_remote_state() {
        let pending = RecordState::delete(t(8));
        let server = RecordState::put(obj(json!({"id": "t1"})), t(2));
        let out = apply_remote(None, Some(&pending), &server);
        assert_eq!(out.record, None);
        assert!(!out.changed);
    }

    #[test]
    fn unchanged_remote_state_is_not_a_change() {
        let local = obj(json!({"id": "t1", "n": 1}));
        let out = apply_remote(Some(&local), None, &RecordState::put(local.clone(), t(1)));
        assert!(!out.changed);
    }
}
