//! Change coalescing and Dexie.Observable change-log rows.
//!
//! Many local writes to one record become one push change: the patches are
//! merged with the same rule as everything else ([`RecordState::merge`]), so
//! the result carries the newest value and timestamp of each field, a delete
//! after edits becomes the delete, and a put after a delete becomes the put.
//! Changes come out in the order their records were first written.
//!
//! [`ChangeRow`] is a row of the `_changes` store in Dexie.Observable's
//! format, `{rev, source, table, key, type, obj?, mods?, oldObj?}` with type
//! 1 create, 2 update, 3 delete. Rows written by Dexie with the
//! dexie-observable addon carry no field timestamps: [`ChangeRow::to_state`]
//! stamps them with the time it is given.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::Error;
use crate::hlc::Timestamp;
use crate::key::RecordKey;
use crate::record::RecordState;
use crate::wire::{Change, Op};

/// Accumulates record patches and yields one [`Change`] per record.
#[derive(Debug, Default)]
pub struct Coalescer {
    order: Vec<(String, String)>,
    records: HashMap<(String, String), (RecordKey, RecordState)>,
}

impl Coalescer {
    /// An empty coalescer.
    pub fn new() -> Self {
        Coalescer::default()
    }

    /// Adds one write to `table`/`key`.
    pub fn add(&mut self, table: &str, key: &RecordKey, patch: &RecordState) {
        let id = (table.to_owned(), key.canonical());
        match self.records.get_mut(&id) {
            Some((_, state)) => {
                state.merge(patch);
            }
            None => {
                self.order.push(id.clone());
                self.records.insert(id, (key.clone(), patch.clone()));
            }
        }
    }

    /// How many records have writes.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no write was added.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// One change per record, in first-write order.
    pub fn into_changes(mut self) -> Vec<Change> {
        self.order
            .iter()
            .filter_map(|id| {
                let (key, state) = self.records.remove(id)?;
                Change::from_state(&id.0, &key, &state)
            })
            .collect()
    }
}

/// Coalesces `(table, key, patch)` writes into one change per record.
pub fn coalesce<'a, I>(writes: I) -> Vec<Change>
where
    I: IntoIterator<Item = (&'a str, &'a RecordKey, &'a RecordState)>,
{
    let mut coalescer = Coalescer::new();
    for (table, key, patch) in writes {
        coalescer.add(table, key, patch);
    }
    coalescer.into_changes()
}

/// Dexie.Observable's type of a create row.
pub const CREATE: u8 = 1;
/// Dexie.Observable's type of an update row.
pub const UPDATE: u8 = 2;
/// Dexie.Observable's type of a delete row.
pub const DELETE: u8 = 3;

/// A `_changes` row in Dexie.Observable's format (read by
/// `ChangeRow::from_json` in [`crate::codec`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeRow {
    /// The row's auto-incremented revision (absent before it is stored).
    pub rev: Option<u64>,
    /// The node that made the change (Dexie.Observable's node id).
    pub source: Option<Value>,
    /// The table.
    pub table: String,
    /// The record's primary key.
    pub key: Value,
    /// 1 create, 2 update, 3 delete.
    pub kind: u8,
    /// The whole record after a create or update.
    pub obj: Option<Map<String, Value>>,
    /// Key path → new value for an update (`null` for a removed property).
    pub mods: Option<Map<String, Value>>,
    /// The record before an update or delete.
    pub old_obj: Option<Map<String, Value>>,
    /// fieldsync's extension: the hybrid-logical-clock stamp of the write.
    /// Rows written by Dexie.Observable lack it until fieldsync stamps them.
    pub stamp: Option<Timestamp>,
}

impl ChangeRow {
    fn error(&self, reason: impl Into<String>) -> Error {
        Error::ChangeRow {
            rev: self.rev.map_or_else(|| "?".to_owned(), |r| r.to_string()),
            reason: reason.into(),
        }
    }

    /// The record key, checked for syncing.
    pub fn record_key(&self) -> Result<RecordKey, Error> {
        RecordKey::new(self.key.clone()).map_err(|e| self.error(e.to_string()))
    }

    /// The row as a record patch stamped `ts`.
    ///
    /// An update's key paths are reduced to top-level fields: a nested path
    /// (`address.city`) takes the whole top-level value from `obj`. A `null`
    /// modification is a removal when `obj` lacks the property, else the
    /// value `null`.
    pub fn to_state(&self, ts: Timestamp) -> Result<RecordState, Error> {
        match self.kind {
            CREATE => {
                let obj = self
                    .obj
                    .clone()
                    .ok_or_else(|| self.error("a create row (type 1) needs `obj`"))?;
                Ok(RecordState::put(obj, ts))
            }
            UPDATE => {
                let mods = self
                    .mods
                    .as_ref()
                    .ok_or_else(|| self.error("an update row (type 2) needs `mods`"))?;
                let mut fields: Vec<(String, Option<Value>)> = Vec::with_capacity(mods.len());
                for (path, value) in mods {
                    let top = path.split('.').next().unwrap_or(path);
                    let new_value = if top.len() != path.len() {
                        let obj = self.obj.as_ref().ok_or_else(|| {
                            self.error(format!(
                                "the nested modification \"{path}\" needs the row's `obj`"
                            ))
                        })?;
                        obj.get(top).cloned()
                    } else if value.is_null() {
                        match &self.obj {
                            Some(obj) if !obj.contains_key(top) => None,
                            _ => Some(Value::Null),
                        }
                    } else {
                        Some(value.clone())
                    };
                    if !fields.iter().any(|(name, _)| name == top) {
                        fields.push((top.to_owned(), new_value));
                    }
                }
                Ok(RecordState::update(fields, ts))
            }
            DELETE => Ok(RecordState::delete(ts)),
            other => Err(self.error(format!(
                "unknown type {other}: expected 1 (create), 2 (update) or 3 (delete)"
            ))),
        }
    }

    /// The row as a wire change stamped `ts`.
    pub fn to_change(&self, ts: Timestamp) -> Result<Change, Error> {
        let key = self.record_key()?;
        let state = self.to_state(ts)?;
        Change::from_state(&self.table, &key, &state)
            .ok_or_else(|| self.error("the row changes nothing"))
    }

    /// A wire change as a row in Dexie.Syncable's reduced form
    /// (`{type, table, key, obj | mods}`; `rev` and `source` unset).
    pub fn from_change(change: &Change) -> ChangeRow {
        let state = change.to_state(Timestamp::ZERO);
        let (kind, obj, mods) = match change.op {
            Op::Insert => (CREATE, Some(state.visible().unwrap_or_default()), None),
            Op::Update => {
                let mods = state
                    .fields()
                    .iter()
                    .map(|(name, r)| (name.clone(), r.value.clone().unwrap_or(Value::Null)))
                    .collect();
                (UPDATE, None, Some(mods))
            }
            Op::Delete => (DELETE, None, None),
        };
        ChangeRow {
            rev: None,
            source: None,
            table: change.table.clone(),
            key: change.id.as_value().clone(),
            kind,
            obj,
            mods,
            old_obj: None,
            stamp: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(ms: u64) -> Timestamp {
        Timestamp::new(ms, 0)
    }

    fn key(s: &str) -> RecordKey {
        RecordKey::new(json!(s)).unwrap()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn many_edits_become_one_change_with_newest_field_values() {
        let k = key("t1");
        let writes = [
            RecordState::put(obj(json!({"title": "a", "done": false})), t(1)),
            RecordState::update([("title", Some(json!("b")))], t(2)),
            RecordState::update([("done", Some(json!(true)))], t(3)),
            RecordState::update([("title", Some(json!("c")))], t(4)),
        ];
        let changes = coalesce(writes.iter().map(|w| ("todos", &k, w)));
        assert_eq!(changes.len(), 1);
        let c = &changes[0];
        assert_eq!(c.op, Op::Insert);
        assert_eq!(c.inserted_at, Some(t(1)));
        let fields = c.fields.as_ref().unwrap();
        assert_eq!(fields["title"].value, Some(json!("c")));
        assert_eq!(fields["title"].updated_at, t(4));
        assert_eq!(fields["done"].updated_at, t(3));
    }

    #[test]
    fn delete_after_edits_becomes_the_delete() {
        let k = key("t1");
        let writes = [
            RecordState::update([("title", Some(json!("b")))], t(2)),
            RecordState::delete(t(5)),
        ];
        let changes = coalesce(writes.iter().map(|w| ("todos", &k, w)));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].op, Op::Delete);
        assert_eq!(changes[0].deleted_at, Some(t(5)));
        assert!(changes[0].fields.is_none());
    }

    #[test]
    fn records_keep_first_write_order() {
        let (a, b) = (key("a"), key("b"));
        let w = RecordState::update([("x", Some(json!(1)))], t(1));
        let changes = coalesce([("t", &b, &w), ("t", &a, &w), ("t", &b, &w), ("u", &b, &w)]);
        let ids: Vec<_> = changes
            .iter()
            .map(|c| format!("{}/{}", c.table, c.id))
            .collect();
        assert_eq!(ids, ["t/b", "t/a", "u/b"]);
    }

    #[test]
    fn observable_rows_convert_to_wire_changes() {
        let create = ChangeRow::from_json(
            &json!({
                "rev": 1, "source": 7, "table": "todos", "key": "t1", "type": 1,
                "obj": {"id": "t1", "title": "Buy milk"}
            }),
            "",
        )
        .unwrap();
        let change = create.to_change(t(10)).unwrap();
        assert_eq!(change.op, Op::Insert);
        assert_eq!(
            change.fields.as_ref().unwrap()["title"].value,
            Some(json!("Buy milk"))
        );

        let update = ChangeRow::from_json(&json!({
            "rev": 2, "table": "todos", "key": "t1", "type": 2,
            "mods": {"title": "Buy eggs", "address.city": "Oslo", "gone": null, "kept": null},
            "obj": {"id": "t1", "title": "Buy eggs", "address": {"city": "Oslo", "zip": "1"}, "kept": null},
            "oldObj": {"id": "t1", "title": "Buy milk", "gone": 1}
        }), "")
        .unwrap();
        let state = update.to_state(t(11)).unwrap();
        assert_eq!(
            state.field("address").unwrap().value,
            Some(json!({"city": "Oslo", "zip": "1"}))
        );
        assert_eq!(state.field("gone").unwrap().value, None);
        assert_eq!(state.field("kept").unwrap().value, Some(Value::Null));
        assert!(state.lifecycle().is_none());

        let delete = ChangeRow::from_json(
            &json!({
                "rev": 3, "table": "todos", "key": "t1", "type": 3, "oldObj": {"id": "t1"}
            }),
            "",
        )
        .unwrap();
        let change = delete.to_change(t(12)).unwrap();
        assert_eq!((change.op, change.deleted_at), (Op::Delete, Some(t(12))));
    }

    #[test]
    fn wire_changes_convert_to_reduced_rows_and_back() {
        let k = key("t1");
        for patch in [
            RecordState::put(obj(json!({"id": "t1", "title": "x"})), t(1)),
            RecordState::update([("title", Some(json!("y")))], t(2)),
            RecordState::delete(t(3)),
        ] {
            let change = Change::from_state("todos", &k, &patch).unwrap();
            let row = ChangeRow::from_change(&change);
            let back = row.to_state(patch.max_ts().unwrap()).unwrap();
            assert_eq!(back, patch, "{row:?}");
        }
    }

    #[test]
    fn bad_rows_say_what_is_missing() {
        let row = |v: Value| ChangeRow::from_json(&v, "").unwrap();
        let err = row(json!({"rev": 4, "table": "t", "key": "k", "type": 1})).to_state(t(1));
        assert!(err.unwrap_err().to_string().contains("rev 4"));
        let err = row(json!({"table": "t", "key": "k", "type": 9})).to_state(t(1));
        assert!(err.unwrap_err().to_string().contains("unknown type 9"));
        let err = row(json!({"table": "t", "key": null, "type": 3})).to_change(t(1));
        assert!(err.unwrap_err().to_string().contains("invalid record id"));
    }
}
