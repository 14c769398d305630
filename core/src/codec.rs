//! The wire types read from and written to JSON without serde: what the
//! browser package uses (serde's generated code was a sixth of its wasm
//! binary). The server reads and writes the same messages with serde's
//! derives; the property tests below check that both agree on every message.
//!
//! Reading follows the derives' rules: unknown members are ignored, an
//! optional member may be missing or `null`, a required one must be there,
//! and every error names its path (`serverChanges[3].fields.title.updatedAt`).
//! Unlike serde, a duplicated member is not an error: the last one counts.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::json::{self, Members, ObjectWriter, array, expected, object, string};
use crate::{
    ChangeRow, Conflict, Cursor, Error, ErrorBody, FieldWrite, Op, PullResponse, PushRequest,
    PushResponse, RecordKey, Timestamp,
};

fn timestamp(value: &Value, path: &str) -> Result<Timestamp, Error> {
    match value {
        Value::String(s) => Timestamp::parse(s).map_err(|e| Error::wire(path, e.to_string())),
        other => Err(expected(
            path,
            "an RFC 3339 timestamp such as \"2024-01-01T10:05:30.000Z\"",
            other,
        )),
    }
}

fn record_key(value: &Value, path: &str) -> Result<RecordKey, Error> {
    RecordKey::new(value.clone()).map_err(|e| Error::wire(path, e.to_string()))
}

fn boolean(value: &Value, path: &str) -> Result<bool, Error> {
    value
        .as_bool()
        .ok_or_else(|| expected(path, "a boolean", value))
}

fn unsigned(value: &Value, path: &str) -> Result<u64, Error> {
    value
        .as_u64()
        .ok_or_else(|| expected(path, "a non-negative integer", value))
}

fn cursor(value: &Value, path: &str) -> Result<Cursor, Error> {
    string(value, path).map(Cursor)
}

impl Op {
    fn from_json(value: &Value, path: &str) -> Result<Op, Error> {
        match value.as_str() {
            Some("insert") => Ok(Op::Insert),
            Some("update") => Ok(Op::Update),
            Some("delete") => Ok(Op::Delete),
            _ => Err(Error::wire(
                path,
                format!(
                    "unknown op {}, expected one of `insert`, `update`, `delete`",
                    crate::error::shorten(&json::to_string(value), 40)
                ),
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

impl FieldWrite {
    /// Reads a field write (`{value, updatedAt}`; `at` is accepted too).
    pub fn from_json(value: &Value, path: &str) -> Result<FieldWrite, Error> {
        let members = Members::of(value, path)?;
        let stamp_name =
            if members.optional("updatedAt").is_none() && members.optional("at").is_some() {
                "at"
            } else {
                "updatedAt"
            };
        Ok(FieldWrite {
            value: members.required("value").ok().cloned(),
            updated_at: members.read(stamp_name, timestamp)?,
            removed: members.read_optional("removed", boolean)?.unwrap_or(false),
        })
    }

    fn write_json(&self, out: &mut String) {
        let mut members = ObjectWriter::new(out);
        members.value("value", self.value.as_ref().unwrap_or(&Value::Null));
        members.str("updatedAt", &self.updated_at.to_string());
        if self.removed {
            members.value("removed", &Value::Bool(true));
        }
        members.end();
    }
}

impl crate::Change {
    /// Reads a change; what only `validate` checks is left to it.
    pub fn from_json(value: &Value, path: &str) -> Result<crate::Change, Error> {
        let members = Members::of(value, path)?;
        Ok(crate::Change {
            table: members.string("table")?,
            id: members.read("id", record_key)?,
            op: members.read("op", Op::from_json)?,
            fields: members.read_optional("fields", |fields, path| {
                let mut writes = BTreeMap::new();
                for (name, write) in Members::of(fields, path)?.entries() {
                    writes.insert(
                        name.clone(),
                        FieldWrite::from_json(write, &format!("{path}.{name}"))?,
                    );
                }
                Ok(writes)
            })?,
            data: members.read_optional("data", object)?,
            inserted_at: members.read_optional("insertedAt", timestamp)?,
            deleted_at: members.read_optional("deletedAt", timestamp)?,
        })
    }

    /// Writes the change as serde's derive does.
    pub fn write_json(&self, out: &mut String) {
        let mut members = ObjectWriter::new(out);
        members.str("table", &self.table);
        members.value("id", self.id.as_value());
        members.str("op", self.op.name());
        if let Some(fields) = &self.fields {
            let mut writes = ObjectWriter::new(members.key("fields"));
            for (name, write) in fields {
                write.write_json(writes.key(name));
            }
            writes.end();
        }
        if let Some(data) = &self.data {
            json::write_object(data, members.key("data"));
        }
        if let Some(at) = self.inserted_at {
            members.str("insertedAt", &at.to_string());
        }
        if let Some(at) = self.deleted_at {
            members.str("deletedAt", &at.to_string());
        }
        members.end();
    }
}

/// An array of changes (items named `[i]` below `path`).
pub fn changes(value: &Value, path: &str) -> Result<Vec<crate::Change>, Error> {
    array(value, path, crate::Change::from_json)
}

impl PushRequest {
    /// The request as JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        let mut members = ObjectWriter::new(&mut out);
        members.str("clientId", &self.client_id);
        match &self.since {
            Some(since) => members.str("since", &since.0),
            None => members.value("since", &Value::Null),
        }
        json::write_array(
            &self.changes,
            members.key("changes"),
            crate::Change::write_json,
        );
        members.end();
        out
    }
}

impl Conflict {
    /// Reads a conflict.
    pub fn from_json(value: &Value, path: &str) -> Result<Conflict, Error> {
        let members = Members::of(value, path)?;
        Ok(Conflict {
            table: members.string("table")?,
            id: members.read("id", record_key)?,
            field: members.string("field")?,
            client_value: members.required("clientValue")?.clone(),
            client_timestamp: members.read("clientTimestamp", timestamp)?,
            server_value: members.required("serverValue")?.clone(),
            server_timestamp: members.read("serverTimestamp", timestamp)?,
        })
    }

    /// The conflict as a JSON object, as serde's derive writes it.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("table".into(), Value::String(self.table.clone()));
        map.insert("id".into(), self.id.as_value().clone());
        map.insert("field".into(), Value::String(self.field.clone()));
        map.insert("clientValue".into(), self.client_value.clone());
        map.insert(
            "clientTimestamp".into(),
            Value::String(self.client_timestamp.to_string()),
        );
        map.insert("serverValue".into(), self.server_value.clone());
        map.insert(
            "serverTimestamp".into(),
            Value::String(self.server_timestamp.to_string()),
        );
        Value::Object(map)
    }
}

impl PushResponse {
    /// Reads a push response.
    pub fn from_json(value: &Value, path: &str) -> Result<PushResponse, Error> {
        let members = Members::of(value, path)?;
        Ok(PushResponse {
            server_changes: members.read("serverChanges", changes)?,
            conflicts: members.read("conflicts", |v, p| array(v, p, Conflict::from_json))?,
            synced_until: members.read("syncedUntil", cursor)?,
        })
    }
}

impl PullResponse {
    /// Reads a pull response.
    pub fn from_json(value: &Value, path: &str) -> Result<PullResponse, Error> {
        let members = Members::of(value, path)?;
        Ok(PullResponse {
            server_changes: members.read("serverChanges", changes)?,
            synced_until: members.read("syncedUntil", cursor)?,
            has_more: members.read("hasMore", boolean)?,
        })
    }
}

impl ErrorBody {
    /// Reads an error body.
    pub fn from_json(value: &Value, path: &str) -> Result<ErrorBody, Error> {
        let error = Members::of(value, path)?.read("error", |v, p| {
            let members = Members::of(v, p)?;
            Ok(crate::wire::ErrorDetail {
                code: members.string("code")?,
                message: members.string("message")?,
                details: members.read_optional("details", |v, p| {
                    let members = Members::of(v, p)?;
                    Ok(crate::wire::ErrorDetails {
                        index: members.read_optional("index", unsigned)?,
                    })
                })?,
            })
        })?;
        Ok(ErrorBody { error })
    }
}

/// An array of `_changes` rows (items named `path[i]`).
pub fn change_rows(value: &Value, path: &str) -> Result<Vec<ChangeRow>, Error> {
    array(value, path, ChangeRow::from_json)
}

impl ChangeRow {
    /// Reads a `_changes` row.
    pub fn from_json(value: &Value, path: &str) -> Result<ChangeRow, Error> {
        let members = Members::of(value, path)?;
        Ok(ChangeRow {
            rev: members.read_optional("rev", unsigned)?,
            source: members.optional("source").cloned(),
            table: members.string("table")?,
            key: members.required("key")?.clone(),
            kind: members.read("type", |v, p| {
                unsigned(v, p).and_then(|k| {
                    u8::try_from(k).map_err(|_| expected(p, "a change type (1, 2 or 3)", v))
                })
            })?,
            obj: members.read_optional("obj", object)?,
            mods: members.read_optional("mods", object)?,
            old_obj: members.read_optional("oldObj", object)?,
            stamp: members.read_optional("stamp", timestamp)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Change;
    use proptest::prelude::*;
    use serde_json::json;

    fn parse_with<T>(text: &str, read: fn(&Value, &str) -> Result<T, Error>) -> Result<T, Error> {
        read(&json::parse(text)?, "")
    }

    fn stamp() -> impl Strategy<Value = Timestamp> {
        (0u64..4_000_000_000_000, 0u32..5).prop_map(|(ms, counter)| Timestamp::new(ms, counter))
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|i| json!(i)),
            (-1e9f64..1e9).prop_map(|f| json!(f)),
            ".{0,8}".prop_map(Value::String),
            prop::collection::vec(".{0,3}".prop_map(Value::String), 0..3).prop_map(Value::Array),
        ]
    }

    fn key() -> impl Strategy<Value = RecordKey> {
        prop_oneof![
            "[a-z0-9\"\\\\]{1,8}".prop_map(|s| json!(s)),
            any::<i32>().prop_map(|i| json!(i)),
            (-1e6f64..1e6).prop_map(|f| json!(f)),
            prop::collection::vec(any::<u16>().prop_map(|i| json!(i)), 1..3).prop_map(Value::Array),
        ]
        .prop_map(|v| RecordKey::new(v).unwrap())
    }

    fn field_write() -> impl Strategy<Value = FieldWrite> {
        (value(), stamp(), any::<bool>()).prop_map(|(value, updated_at, removed)| FieldWrite {
            value: if removed { None } else { Some(value) },
            updated_at,
            removed,
        })
    }

    fn change() -> impl Strategy<Value = Change> {
        (
            "[a-z_]{1,6}",
            key(),
            prop_oneof![Just(Op::Insert), Just(Op::Update), Just(Op::Delete)],
            prop::option::of(prop::collection::btree_map(
                "[a-z\u{e9}\"]{1,5}",
                field_write(),
                0..4,
            )),
            prop::option::of(prop::collection::btree_map("[a-z]{1,5}", value(), 0..4)),
            prop::option::of(stamp()),
            prop::option::of(stamp()),
        )
            .prop_map(
                |(table, id, op, fields, data, inserted_at, deleted_at)| Change {
                    table,
                    id,
                    op,
                    fields,
                    data: data.map(|d| d.into_iter().collect()),
                    inserted_at,
                    deleted_at,
                },
            )
    }

    fn conflict() -> impl Strategy<Value = Conflict> {
        (
            "[a-z]{1,5}",
            key(),
            "[a-z]{1,5}",
            value(),
            stamp(),
            value(),
            stamp(),
        )
            .prop_map(
                |(
                    table,
                    id,
                    field,
                    client_value,
                    client_timestamp,
                    server_value,
                    server_timestamp,
                )| {
                    Conflict {
                        table,
                        id,
                        field,
                        client_value,
                        client_timestamp,
                        server_value,
                        server_timestamp,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A push the browser writes is the push the server reads.
        #[test]
        fn push_requests_agree_with_serde(
            client_id in "[a-z0-9-]{1,12}",
            since in prop::option::of("c[0-9]{1,4}"),
            changes in prop::collection::vec(change(), 0..4),
        ) {
            let request = PushRequest { client_id, since: since.map(Cursor), changes };
            let ours = request.to_json();
            prop_assert_eq!(&ours, &serde_json::to_string(&request).unwrap());
            let read: PushRequest = serde_json::from_str(&ours).unwrap();
            prop_assert_eq!(read, request);
        }

        /// A response the server writes is the response the browser reads.
        #[test]
        fn responses_agree_with_serde(
            server_changes in prop::collection::vec(change(), 0..4),
            conflicts in prop::collection::vec(conflict(), 0..3),
            until in "c[0-9]{1,6}",
            has_more in any::<bool>(),
        ) {
            let push = PushResponse {
                server_changes: server_changes.clone(),
                conflicts: conflicts.clone(),
                synced_until: Cursor(until.clone()),
            };
            let text = serde_json::to_string(&push).unwrap();
            prop_assert_eq!(parse_with(&text, PushResponse::from_json).unwrap(), push);
            let pull = PullResponse { server_changes, synced_until: Cursor(until), has_more };
            let text = serde_json::to_string(&pull).unwrap();
            prop_assert_eq!(parse_with(&text, PullResponse::from_json).unwrap(), pull);
            for conflict in conflicts {
                prop_assert_eq!(conflict.to_json(), serde_json::to_value(&conflict).unwrap());
            }
        }

        /// `_changes` rows read alike.
        #[test]
        fn change_rows_agree_with_serde(
            rev in prop::option::of(any::<u32>()),
            kind in 1u8..4,
            key in key(),
            obj in prop::option::of(prop::collection::btree_map("[a-z]{1,5}", value(), 0..4)),
            stamp in prop::option::of(stamp()),
        ) {
            let row = json!({
                "rev": rev, "table": "t", "key": key.as_value(), "type": kind,
                "obj": obj, "stamp": stamp.map(|s| s.to_string()), "source": null,
            });
            let theirs: ChangeRow = serde_json::from_value(row.clone()).unwrap();
            prop_assert_eq!(ChangeRow::from_json(&row, "").unwrap(), theirs);
        }

        /// Anything serde refuses is refused here too (and vice versa, but
        /// for duplicated members, which serde refuses and we read).
        #[test]
        fn refuse_what_serde_refuses(change in change(), knock in 0usize..8, junk in value()) {
            let mut v = serde_json::to_value(&change).unwrap();
            let names = ["table", "id", "op", "fields", "data", "insertedAt", "deletedAt", "extra"];
            v.as_object_mut().unwrap().insert(names[knock].to_owned(), junk);
            let theirs = serde_json::from_value::<Change>(v.clone());
            let ours = Change::from_json(&v, "");
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{} / {:?} / {:?}", v, ours, theirs);
            if let (Ok(a), Ok(b)) = (ours, theirs) {
                prop_assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn errors_name_the_path() {
        let text = r#"{"serverChanges":[{"table":"t","id":"a","op":"update",
            "fields":{"title":{"value":1,"updatedAt":"yesterday"}}}],"syncedUntil":"c1","hasMore":false}"#;
        let err = parse_with(text, PullResponse::from_json)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("serverChanges[0].fields.title.updatedAt: invalid RFC 3339 timestamp"),
            "{err}"
        );
        let err = parse_with(
            r#"{"serverChanges":[],"hasMore":false}"#,
            PullResponse::from_json,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "missing field `syncedUntil`");
        let err = parse_with(r#"{"error":{"code":5}}"#, ErrorBody::from_json).unwrap_err();
        assert_eq!(
            err.to_string(),
            "error.code: expected a string, found a number"
        );
        let err = Change::from_json(&json!({"table":"t","id":"a","op":"upsert"}), "changes[0]")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "changes[0].op: unknown op \"upsert\", expected one of `insert`, `update`, `delete`"
        );
    }

    #[test]
    fn field_writes_accept_at_and_keep_a_missing_value_missing() {
        let w = FieldWrite::from_json(&json!({"at": "2024-01-01T00:00:00Z"}), "").unwrap();
        assert_eq!(w.value, None);
        let w = FieldWrite::from_json(
            &json!({"value": null, "updatedAt": "2024-01-01T00:00:00Z"}),
            "",
        )
        .unwrap();
        assert_eq!(w.value, Some(Value::Null));
    }
}
