//! The server's ingestion rule: a pushed change merged into the stored state
//! of its record, with every device stamp admitted through the server's
//! clock (see [`Clock::admit`] for the far-future bound).
//!
//! Retries change nothing: a change is the same registers again, and merging
//! is idempotent — except where the server chose a stamp itself, which it
//! remembers:
//! - a far-future stamp it re-stamped (the original stamp is kept, so the
//!   same stamp pushed again is recognised and skipped);
//! - fields sent as plain `data` (and a delete without `deletedAt`), which
//!   take the receive time: they are skipped when the stored record already
//!   holds the same value (the same deleted flag).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Error;
use crate::codec::timestamp;
use crate::hlc::{Admission, Clock, Timestamp};
use crate::json::{Members, ObjectWriter, Path};
use crate::key::RecordKey;
use crate::record::{FieldLoss, Lifecycle, RecordState, Register};
use crate::wire::{Change, FieldWrite, Op};

/// What the server stores for one record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredRecord {
    /// The merged state.
    pub state: RecordState,
    /// Fields the server re-stamped → the device's original stamp.
    pub restamped_fields: BTreeMap<String, Timestamp>,
    /// The device's original lifecycle stamp, if the server re-stamped it.
    pub restamped_lifecycle: Option<Timestamp>,
}

impl StoredRecord {
    /// The JSON the server stores: the wire change's `fields`, `insertedAt`
    /// and `deletedAt`, plus the re-stamp memory (`restamped`,
    /// `restampedLifecycle`) when there is any.
    pub fn to_json(&self) -> String {
        let lifecycle = self.state.lifecycle();
        let mut out = String::new();
        let mut members = ObjectWriter::new(&mut out);
        let mut fields = ObjectWriter::new(members.key("fields"));
        for (name, register) in self.state.fields() {
            FieldWrite::from_register(register).write_json(fields.key(name));
        }
        fields.end();
        if let Some(l) = lifecycle.filter(|l| !l.deleted) {
            members.str("insertedAt", &l.ts.to_string());
        }
        if let Some(l) = lifecycle.filter(|l| l.deleted) {
            members.str("deletedAt", &l.ts.to_string());
        }
        if !self.restamped_fields.is_empty() {
            let mut restamped = ObjectWriter::new(members.key("restamped"));
            for (name, ts) in &self.restamped_fields {
                restamped.str(name, &ts.to_string());
            }
            restamped.end();
        }
        if let Some(ts) = self.restamped_lifecycle {
            members.str("restampedLifecycle", &ts.to_string());
        }
        members.end();
        out
    }

    /// Reads what [`StoredRecord::to_json`] wrote.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        crate::wire::parse(text.as_bytes(), |value, path| {
            let root = Path::Text(path);
            let members = Members::of(value, &root)?;
            let stamps = |value: &Value, path: &Path<'_>| {
                let mut stamps = BTreeMap::new();
                for (name, ts) in Members::of(value, path)?.entries() {
                    stamps.insert(name.clone(), timestamp(ts, &Path::Member(path, name))?);
                }
                Ok(stamps)
            };
            let fields = members
                .read_optional("fields", |value, path| {
                    let mut writes = Vec::new();
                    for (name, write) in Members::of(value, path)?.entries() {
                        let write = FieldWrite::decode(write, &Path::Member(path, name))?;
                        writes.push((name.clone(), write.to_register()));
                    }
                    Ok(writes)
                })?
                .unwrap_or_default();
            let inserted_at = members.read_optional("insertedAt", timestamp)?;
            let deleted_at = members.read_optional("deletedAt", timestamp)?;
            let lifecycle = match (inserted_at, deleted_at) {
                (_, Some(ts)) => Some(Lifecycle { deleted: true, ts }),
                (Some(ts), None) => Some(Lifecycle { deleted: false, ts }),
                (None, None) => None,
            };
            Ok(StoredRecord {
                state: RecordState::from_parts(fields, lifecycle),
                restamped_fields: members
                    .read_optional("restamped", stamps)?
                    .unwrap_or_default(),
                restamped_lifecycle: members.read_optional("restampedLifecycle", timestamp)?,
            })
        })
    }

    /// The change that carries this record to clients.
    pub fn to_change(&self, table: &str, id: &RecordKey) -> Option<Change> {
        Change::from_state(table, id, &self.state)
    }
}

/// What ingesting one change did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ingested {
    /// The stored state changed (the record must be written and fed).
    pub changed: bool,
    /// Pushed values that lost to newer stored ones.
    pub conflicts: Vec<FieldLoss>,
    /// Some stamp was too far in the future and was replaced.
    pub restamped: bool,
}

/// Merges `change` into `stored`. `clock` is the server's clock, `wall_ms`
/// its wall time.
pub fn ingest(
    stored: &mut StoredRecord,
    change: &Change,
    clock: &mut Clock,
    wall_ms: u64,
) -> Ingested {
    let received = clock.now(wall_ms);
    let incoming = change.to_state(received);
    let mut out = Ingested::default();
    let stamped_by_device =
        |name: &str| change.fields.as_ref().is_some_and(|f| f.contains_key(name));

    let mut fields: Vec<(String, Register)> = Vec::with_capacity(incoming.fields().len());
    for (name, register) in incoming.fields() {
        if !stamped_by_device(name) {
            // Plain `data`: stamped on arrival; a retry finds the same value.
            let same = stored
                .state
                .field(name)
                .is_some_and(|r| r.same_value(register));
            if !same {
                fields.push((name.clone(), register.clone()));
            }
            continue;
        }
        if stored.restamped_fields.get(name) == Some(&register.ts) {
            continue;
        }
        match clock.admit(register.ts, wall_ms) {
            Admission::Accepted(_) => fields.push((name.clone(), register.clone())),
            Admission::Restamped { original, assigned } => {
                out.restamped = true;
                stored.restamped_fields.insert(name.clone(), original);
                fields.push((
                    name.clone(),
                    Register {
                        value: register.value.clone(),
                        ts: assigned,
                    },
                ));
            }
        }
    }

    let lifecycle = incoming.lifecycle().and_then(|l| {
        let device_stamped = match change.op {
            Op::Delete => change.deleted_at.is_some(),
            Op::Insert => {
                change.inserted_at.is_some()
                    || change.fields.as_ref().is_some_and(|f| !f.is_empty())
            }
            Op::Update => false,
        };
        if !device_stamped {
            let same = stored
                .state
                .lifecycle()
                .is_some_and(|s| s.deleted == l.deleted);
            return (!same).then_some(l);
        }
        if stored.restamped_lifecycle == Some(l.ts) {
            return None;
        }
        match clock.admit(l.ts, wall_ms) {
            Admission::Accepted(_) => Some(l),
            Admission::Restamped { original, assigned } => {
                out.restamped = true;
                stored.restamped_lifecycle = Some(original);
                Some(Lifecycle {
                    deleted: l.deleted,
                    ts: assigned,
                })
            }
        }
    });

    let patch = RecordState::from_parts(fields, lifecycle);
    let report = stored.state.merge(&patch);
    out.changed = !report.is_noop();
    out.conflicts = report.rejected;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WALL: u64 = 1_700_000_000_000;

    fn change(v: serde_json::Value) -> Change {
        Change::from_json(&v, "").unwrap()
    }

    fn at(ms: u64) -> String {
        Timestamp::new(ms, 0).to_string()
    }

    #[test]
    fn retries_change_nothing() {
        let mut clock = Clock::new();
        let mut records: BTreeMap<String, StoredRecord> = BTreeMap::new();
        let batch = [
            change(
                json!({"table": "todos", "id": "t1", "op": "insert", "data": {"title": "Buy milk"}}),
            ),
            change(
                json!({"table": "todos", "id": "t1", "op": "update", "fields": {
                "done": {"value": true, "updatedAt": at(WALL)},
                "far": {"value": 1, "updatedAt": at(WALL + 86_400_000)}}}),
            ),
            change(json!({"table": "todos", "id": "t2", "op": "delete"})),
        ];
        let mut push = |clock: &mut Clock, wall| -> Vec<bool> {
            batch
                .iter()
                .map(|c| {
                    let stored = records.entry(c.id.to_string()).or_default();
                    ingest(stored, c, clock, wall).changed
                })
                .collect()
        };
        assert_eq!(push(&mut clock, WALL), [true, true, true]);
        for retry in 1..=3 {
            assert_eq!(
                push(&mut clock, WALL + retry),
                [false, false, false],
                "retry {retry}"
            );
        }
    }

    #[test]
    fn far_future_stamps_are_restamped_and_do_not_win_forever() {
        let mut clock = Clock::new();
        let mut stored = StoredRecord::default();
        let future = change(json!({"table": "t", "id": "a", "op": "update", "fields": {
            "x": {"value": "future", "updatedAt": at(WALL + 365 * 86_400_000)}}}));
        let out = ingest(&mut stored, &future, &mut clock, WALL);
        assert!(out.restamped && out.changed);
        assert!(stored.state.field("x").unwrap().ts.ms() < WALL + 60_000);
        // A later honest write (two seconds on) beats it.
        let later = change(json!({"table": "t", "id": "a", "op": "update", "fields": {
            "x": {"value": "later", "updatedAt": at(WALL + 2_000)}}}));
        let out = ingest(&mut stored, &later, &mut clock, WALL + 2_000);
        assert!(out.changed && out.conflicts.is_empty());
        assert_eq!(stored.state.visible().unwrap()["x"], "later");
    }

    #[test]
    fn older_pushed_values_are_conflicts() {
        let mut clock = Clock::new();
        let mut stored = StoredRecord::default();
        let newer = change(json!({"table": "t", "id": "a", "op": "update", "fields": {
            "title": {"value": "Buy eggs", "updatedAt": at(WALL - 1_000)}}}));
        let older = change(json!({"table": "t", "id": "a", "op": "update", "fields": {
            "title": {"value": "Buy milk", "updatedAt": at(WALL - 5_000)}}}));
        ingest(&mut stored, &newer, &mut clock, WALL);
        let out = ingest(&mut stored, &older, &mut clock, WALL);
        assert!(!out.changed);
        assert_eq!(out.conflicts.len(), 1);
        assert_eq!(out.conflicts[0].loser.value, Some(json!("Buy milk")));
    }

    /// Records stored before the codec wrote them: existing databases
    /// must read alike, and the bytes must not move.
    #[test]
    fn stored_json_is_pinned() {
        let ts = |s| Timestamp::parse(s).unwrap();
        let mut stored = StoredRecord {
            state: RecordState::from_parts(
                [
                    (
                        "title".to_owned(),
                        Register::new(json!("a"), ts("2024-01-01T10:05:30Z")),
                    ),
                    (
                        "gone".to_owned(),
                        Register {
                            value: None,
                            ts: ts("2024-01-01T10:05:31Z"),
                        },
                    ),
                ],
                Some(Lifecycle {
                    deleted: false,
                    ts: ts("2024-01-01T10:05:00Z"),
                }),
            ),
            ..StoredRecord::default()
        };
        stored
            .restamped_fields
            .insert("title".into(), ts("2099-01-01T00:00:00Z"));
        stored.restamped_lifecycle = Some(ts("2098-01-01T00:00:00Z"));
        let text = r#"{"fields":{"gone":{"value":null,"updatedAt":"2024-01-01T10:05:31.000000000Z","removed":true},"title":{"value":"a","updatedAt":"2024-01-01T10:05:30.000000000Z"}},"insertedAt":"2024-01-01T10:05:00.000000000Z","restamped":{"title":"2099-01-01T00:00:00.000000000Z"},"restampedLifecycle":"2098-01-01T00:00:00.000000000Z"}"#;
        assert_eq!(stored.to_json(), text);
        assert_eq!(StoredRecord::from_json(text).unwrap(), stored);
        let deleted = StoredRecord {
            state: RecordState::delete(ts("2024-01-01T10:07:00Z")),
            ..StoredRecord::default()
        };
        let text = r#"{"fields":{},"deletedAt":"2024-01-01T10:07:00.000000000Z"}"#;
        assert_eq!(deleted.to_json(), text);
        assert_eq!(StoredRecord::from_json(text).unwrap(), deleted);
    }

    #[test]
    fn stored_json_round_trips() {
        let mut clock = Clock::new();
        let mut stored = StoredRecord::default();
        let c = change(json!({"table": "t", "id": "a", "op": "insert", "fields": {
            "x": {"value": 1, "updatedAt": at(WALL + 365 * 86_400_000)}}}));
        ingest(&mut stored, &c, &mut clock, WALL);
        let back = StoredRecord::from_json(&stored.to_json()).unwrap();
        assert_eq!(back, stored);
        assert!(StoredRecord::from_json("{\"fields\": 3}").is_err());
    }
}
