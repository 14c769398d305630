//! The JSON form of every wire type of [`crate::wire`], written once: a
//! reader (`from_json`, from a [`Value`]) and a writer (`write_json`, to
//! text) per type, which the server and the browser package both use. The
//! types carry no serde derives: serde's generated code was a sixth of the
//! browser's wasm binary, and one mapping cannot drift from another.
//!
//! Reading follows the rules the protocol has always had: unknown members
//! are ignored, an optional member may be missing or `null`, a required one
//! must be there, and every error names its path
//! (`serverChanges[3].fields.title.updatedAt`). A duplicated member is not
//! an error: the last one counts, as in `JSON.parse`.
//!
//! Writing puts members in declaration order and leaves out absent optional
//! members; the fixtures in the tests below pin the bytes.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::json::{self, Members, ObjectWriter, Path, array, expected, object, string};
use crate::wire::ErrorDetail;
use crate::{
    ChangeRow, ClientMessage, Conflict, Cursor, Error, ErrorBody, FieldWrite, Op, PullResponse,
    PushRequest, PushResponse, RecordKey, ServerMessage, Timestamp,
};

pub(crate) fn timestamp(value: &Value, path: &Path<'_>) -> Result<Timestamp, Error> {
    match value {
        Value::String(s) => {
            Timestamp::parse(s).map_err(|e| Error::wire(path.to_string(), e.to_string()))
        }
        other => Err(expected(
            path,
            "an RFC 3339 timestamp such as \"2024-01-01T10:05:30.000Z\"",
            other,
        )),
    }
}

fn record_key(value: &Value, path: &Path<'_>) -> Result<RecordKey, Error> {
    RecordKey::new(value.clone()).map_err(|e| Error::wire(path.to_string(), e.to_string()))
}

fn boolean(value: &Value, path: &Path<'_>) -> Result<bool, Error> {
    value
        .as_bool()
        .ok_or_else(|| expected(path, "a boolean", value))
}

fn unsigned(value: &Value, path: &Path<'_>) -> Result<u64, Error> {
    value
        .as_u64()
        .ok_or_else(|| expected(path, "a non-negative integer", value))
}

fn cursor(value: &Value, path: &Path<'_>) -> Result<Cursor, Error> {
    string(value, path).map(Cursor)
}

fn strings(value: &Value, path: &Path<'_>) -> Result<Vec<String>, Error> {
    array(value, path, string)
}

/// The error for a name outside `names` (an op, a message type), worded as
/// the server has always answered it.
#[cold]
fn unknown_variant(path: &Path<'_>, found: &Value, names: &[&str]) -> Error {
    let mut list = String::new();
    for (i, name) in names.iter().enumerate() {
        list.push_str(match i {
            0 if names.len() > 2 => "one of `",
            0 => "`",
            _ if names.len() == 2 => " or `",
            _ => ", `",
        });
        list.push_str(name);
        list.push('`');
    }
    match found {
        Value::String(s) => Error::wire(
            path.to_string(),
            format!(
                "unknown variant `{}`, expected {list}",
                crate::error::shorten(s, 40)
            ),
        ),
        other => expected(path, &list, other),
    }
}

/// `write` into a new string.
fn text(write: impl FnOnce(&mut String)) -> String {
    let mut out = String::new();
    write(&mut out);
    out
}

impl Op {
    const NAMES: [&'static str; 3] = ["insert", "update", "delete"];

    fn decode(value: &Value, path: &Path<'_>) -> Result<Op, Error> {
        match value.as_str() {
            Some("insert") => Ok(Op::Insert),
            Some("update") => Ok(Op::Update),
            Some("delete") => Ok(Op::Delete),
            _ => Err(unknown_variant(path, value, &Op::NAMES)),
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
        Self::decode(value, &Path::Text(path))
    }

    pub(crate) fn decode(value: &Value, path: &Path<'_>) -> Result<FieldWrite, Error> {
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

    /// Writes `{value, updatedAt[, removed]}` (a removal's value as `null`).
    pub fn write_json(&self, out: &mut String) {
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
        Self::decode(value, &Path::Text(path))
    }

    pub(crate) fn decode(value: &Value, path: &Path<'_>) -> Result<crate::Change, Error> {
        let members = Members::of(value, path)?;
        Ok(crate::Change {
            table: members.string("table")?,
            id: members.read("id", record_key)?,
            op: members.read("op", Op::decode)?,
            fields: members.read_optional("fields", |fields, path| {
                let mut writes = BTreeMap::new();
                for (name, write) in Members::of(fields, path)?.entries() {
                    writes.insert(
                        name.clone(),
                        FieldWrite::decode(write, &Path::Member(path, name))?,
                    );
                }
                Ok(writes)
            })?,
            data: members.read_optional("data", object)?,
            inserted_at: members.read_optional("insertedAt", timestamp)?,
            deleted_at: members.read_optional("deletedAt", timestamp)?,
        })
    }

    /// Writes the change.
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

impl crate::Change {
    /// The change as JSON text.
    pub fn to_json(&self) -> String {
        text(|out| self.write_json(out))
    }
}

/// An array of changes (items named `[i]` below `path`).
pub fn changes(value: &Value, path: &str) -> Result<Vec<crate::Change>, Error> {
    decode_changes(value, &Path::Text(path))
}

fn decode_changes(value: &Value, path: &Path<'_>) -> Result<Vec<crate::Change>, Error> {
    array(value, path, crate::Change::decode)
}

fn write_changes(changes: &[crate::Change], out: &mut String) {
    json::write_array(changes, out, crate::Change::write_json);
}

impl PushRequest {
    /// Reads a push body; [`PushRequest::parse`] also validates it.
    pub fn from_json(value: &Value, path: &str) -> Result<PushRequest, Error> {
        Self::decode(value, &Path::Text(path))
    }

    pub(crate) fn decode(value: &Value, path: &Path<'_>) -> Result<PushRequest, Error> {
        let members = Members::of(value, path)?;
        Ok(PushRequest {
            client_id: members.string("clientId")?,
            since: members.read_optional("since", cursor)?,
            changes: members.read("changes", decode_changes)?,
        })
    }

    /// Writes the request (`since` as `null` on a first sync).
    pub fn write_json(&self, out: &mut String) {
        let mut members = ObjectWriter::new(out);
        members.str("clientId", &self.client_id);
        match &self.since {
            Some(since) => members.str("since", &since.0),
            None => members.value("since", &Value::Null),
        }
        write_changes(&self.changes, members.key("changes"));
        members.end();
    }

    /// The request as JSON text.
    pub fn to_json(&self) -> String {
        text(|out| self.write_json(out))
    }
}

impl Conflict {
    /// Reads a conflict.
    pub fn from_json(value: &Value, path: &str) -> Result<Conflict, Error> {
        Self::decode(value, &Path::Text(path))
    }

    pub(crate) fn decode(value: &Value, path: &Path<'_>) -> Result<Conflict, Error> {
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

    /// Writes the conflict.
    pub fn write_json(&self, out: &mut String) {
        let mut members = ObjectWriter::new(out);
        members.str("table", &self.table);
        members.value("id", self.id.as_value());
        members.str("field", &self.field);
        members.value("clientValue", &self.client_value);
        members.str("clientTimestamp", &self.client_timestamp.to_string());
        members.value("serverValue", &self.server_value);
        members.str("serverTimestamp", &self.server_timestamp.to_string());
        members.end();
    }
}

impl PushResponse {
    /// Reads a push response.
    pub fn from_json(value: &Value, path: &str) -> Result<PushResponse, Error> {
        Self::decode(value, &Path::Text(path))
    }

    pub(crate) fn decode(value: &Value, path: &Path<'_>) -> Result<PushResponse, Error> {
        let members = Members::of(value, path)?;
        Ok(PushResponse {
            server_changes: members.read("serverChanges", decode_changes)?,
            conflicts: members.read("conflicts", |v, p| array(v, p, Conflict::decode))?,
            synced_until: members.read("syncedUntil", cursor)?,
        })
    }

    /// Writes the response.
    pub fn write_json(&self, out: &mut String) {
        let mut members = ObjectWriter::new(out);
        write_changes(&self.server_changes, members.key("serverChanges"));
        json::write_array(
            &self.conflicts,
            members.key("conflicts"),
            Conflict::write_json,
        );
        members.str("syncedUntil", &self.synced_until.0);
        members.end();
    }

    /// The response as JSON text.
    pub fn to_json(&self) -> String {
        text(|out| self.write_json(out))
    }
}

impl PullResponse {
    /// Reads a pull response.
    pub fn from_json(value: &Value, path: &str) -> Result<PullResponse, Error> {
        Self::decode(value, &Path::Text(path))
    }

    pub(crate) fn decode(value: &Value, path: &Path<'_>) -> Result<PullResponse, Error> {
        let members = Members::of(value, path)?;
        Ok(PullResponse {
            server_changes: members.read("serverChanges", decode_changes)?,
            synced_until: members.read("syncedUntil", cursor)?,
            has_more: members.read("hasMore", boolean)?,
        })
    }

    /// Writes the response.
    pub fn write_json(&self, out: &mut String) {
        let mut members = ObjectWriter::new(out);
        write_changes(&self.server_changes, members.key("serverChanges"));
        members.str("syncedUntil", &self.synced_until.0);
        members.value("hasMore", &Value::Bool(self.has_more));
        members.end();
    }

    /// The response as JSON text.
    pub fn to_json(&self) -> String {
        text(|out| self.write_json(out))
    }
}

impl ErrorBody {
    /// Reads an error body.
    pub fn from_json(value: &Value, path: &str) -> Result<ErrorBody, Error> {
        Self::decode(value, &Path::Text(path))
    }

    pub(crate) fn decode(value: &Value, path: &Path<'_>) -> Result<ErrorBody, Error> {
        let error = Members::of(value, path)?.read("error", |v, p| {
            let members = Members::of(v, p)?;
            Ok(ErrorDetail {
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

    /// Writes `{"error":{"code","message"}}`, with `"details"` when there
    /// are any.
    pub fn write_json(&self, out: &mut String) {
        let mut members = ObjectWriter::new(out);
        let mut detail = ObjectWriter::new(members.key("error"));
        detail.str("code", &self.error.code);
        detail.str("message", &self.error.message);
        if let Some(details) = &self.error.details {
            let mut particulars = ObjectWriter::new(detail.key("details"));
            if let Some(index) = details.index {
                particulars.key("index").push_str(&index.to_string());
            }
            particulars.end();
        }
        detail.end();
        members.end();
    }

    /// The body as JSON text.
    pub fn to_json(&self) -> String {
        text(|out| self.write_json(out))
    }
}

impl ClientMessage {
    const TYPES: [&'static str; 2] = ["auth", "ping"];

    /// Reads a message a client sent over the WebSocket.
    pub fn from_json(value: &Value, path: &str) -> Result<ClientMessage, Error> {
        Self::decode(value, &Path::Text(path))
    }

    pub(crate) fn decode(value: &Value, path: &Path<'_>) -> Result<ClientMessage, Error> {
        let members = Members::of(value, path)?;
        let kind = members.required("type")?;
        match kind.as_str() {
            Some("auth") => Ok(ClientMessage::Auth {
                token: members.string("token")?,
                client_id: members.read_optional("clientId", string)?,
            }),
            Some("ping") => Ok(ClientMessage::Ping),
            _ => Err(unknown_variant(
                &members.path("type"),
                kind,
                &ClientMessage::TYPES,
            )),
        }
    }

    /// Writes the message (`clientId` only when there is one).
    pub fn write_json(&self, out: &mut String) {
        let mut members = ObjectWriter::new(out);
        match self {
            ClientMessage::Auth { token, client_id } => {
                members.str("type", "auth");
                members.str("token", token);
                if let Some(id) = client_id {
                    members.str("clientId", id);
                }
            }
            ClientMessage::Ping => members.str("type", "ping"),
        }
        members.end();
    }

    /// The message as JSON text.
    pub fn to_json(&self) -> String {
        text(|out| self.write_json(out))
    }
}

impl ServerMessage {
    const TYPES: [&'static str; 4] = ["auth-ok", "error", "sync-available", "pong"];

    /// Reads a message the server sent over the WebSocket.
    pub fn from_json(value: &Value, path: &str) -> Result<ServerMessage, Error> {
        Self::decode(value, &Path::Text(path))
    }

    pub(crate) fn decode(value: &Value, path: &Path<'_>) -> Result<ServerMessage, Error> {
        let members = Members::of(value, path)?;
        let kind = members.required("type")?;
        match kind.as_str() {
            Some("auth-ok") => Ok(ServerMessage::AuthOk),
            Some("error") => Ok(ServerMessage::Error {
                message: members.string("message")?,
            }),
            Some("sync-available") => Ok(ServerMessage::SyncAvailable {
                tables: members.read("tables", strings)?,
            }),
            Some("pong") => Ok(ServerMessage::Pong),
            _ => Err(unknown_variant(
                &members.path("type"),
                kind,
                &ServerMessage::TYPES,
            )),
        }
    }

    /// Writes the message.
    pub fn write_json(&self, out: &mut String) {
        let mut members = ObjectWriter::new(out);
        match self {
            ServerMessage::AuthOk => members.str("type", "auth-ok"),
            ServerMessage::Error { message } => {
                members.str("type", "error");
                members.str("message", message);
            }
            ServerMessage::SyncAvailable { tables } => {
                members.str("type", "sync-available");
                json::write_array(tables, members.key("tables"), |t, out| {
                    json::write_str(t, out)
                });
            }
            ServerMessage::Pong => members.str("type", "pong"),
        }
        members.end();
    }

    /// The message as JSON text.
    pub fn to_json(&self) -> String {
        text(|out| self.write_json(out))
    }
}

/// An array of `_changes` rows (items named `path[i]`).
pub fn change_rows(value: &Value, path: &str) -> Result<Vec<ChangeRow>, Error> {
    array(value, &Path::Text(path), ChangeRow::decode)
}

impl ChangeRow {
    /// Reads a `_changes` row.
    pub fn from_json(value: &Value, path: &str) -> Result<ChangeRow, Error> {
        Self::decode(value, &Path::Text(path))
    }

    pub(crate) fn decode(value: &Value, path: &Path<'_>) -> Result<ChangeRow, Error> {
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
    use serde_json::{Map, json};

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

    /// A change's member replaced by `junk` is read only when the member
    /// allows that value; otherwise the error names the member.
    fn allows(member: &str, junk: &Value) -> bool {
        match member {
            "table" => junk.is_string(),
            "id" => RecordKey::new(junk.clone()).is_ok(),
            "op" => matches!(junk.as_str(), Some("insert" | "update" | "delete")),
            // `value()` makes no objects, so only `null` (absent) fits.
            "fields" | "data" => junk.is_null(),
            "insertedAt" | "deletedAt" => {
                junk.is_null() || junk.as_str().is_some_and(|s| Timestamp::parse(s).is_ok())
            }
            _ => true,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A push the browser writes is the push the server reads, and its
        /// text is JSON to serde_json (the server's parser) as to ours.
        #[test]
        fn push_requests_round_trip(
            client_id in "[a-z0-9-]{1,12}",
            since in prop::option::of("c[0-9]{1,4}"),
            changes in prop::collection::vec(change(), 0..4),
        ) {
            let request = PushRequest { client_id, since: since.map(Cursor), changes };
            let text = request.to_json();
            prop_assert_eq!(
                serde_json::from_str::<Value>(&text).unwrap(),
                json::parse(&text).unwrap()
            );
            // The server's parser; `PushRequest::parse` would also refuse
            // what these random changes do not respect (reserved names, …).
            prop_assert_eq!(
                &crate::wire::parse(text.as_bytes(), PushRequest::from_json).unwrap(),
                &request
            );
            prop_assert_eq!(parse_with(&text, PushRequest::from_json).unwrap(), request);
        }

        /// A response the server writes is the response the browser reads.
        #[test]
        fn responses_round_trip(
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
            prop_assert_eq!(parse_with(&push.to_json(), PushResponse::from_json).unwrap(), push);
            let pull = PullResponse { server_changes, synced_until: Cursor(until), has_more };
            prop_assert_eq!(parse_with(&pull.to_json(), PullResponse::from_json).unwrap(), pull);
        }

        /// WebSocket messages survive their round trip.
        #[test]
        fn websocket_messages_round_trip(
            token in ".{0,12}",
            client_id in prop::option::of(".{0,8}"),
            text in ".{0,12}",
            tables in prop::collection::vec(".{0,6}", 0..3),
        ) {
            for message in [ClientMessage::Auth { token, client_id }, ClientMessage::Ping] {
                prop_assert_eq!(parse_with(&message.to_json(), ClientMessage::from_json).unwrap(), message);
            }
            for message in [
                ServerMessage::AuthOk,
                ServerMessage::Pong,
                ServerMessage::Error { message: text },
                ServerMessage::SyncAvailable { tables },
            ] {
                prop_assert_eq!(parse_with(&message.to_json(), ServerMessage::from_json).unwrap(), message);
            }
        }

        /// `_changes` rows read member by member.
        #[test]
        fn change_rows_read(
            rev in prop::option::of(any::<u32>()),
            kind in 1u8..4,
            key in key(),
            obj in prop::option::of(prop::collection::btree_map("[a-z]{1,5}", value(), 0..4)),
            stamp in prop::option::of(stamp()),
        ) {
            let obj: Option<Map<String, Value>> = obj.map(|o| o.into_iter().collect());
            let row = json!({
                "rev": rev, "table": "t", "key": key.as_value(), "type": kind,
                "obj": obj, "stamp": stamp.map(|s| s.to_string()), "source": null,
            });
            let expected = ChangeRow {
                rev: rev.map(u64::from),
                source: None,
                table: "t".into(),
                key: key.as_value().clone(),
                kind,
                obj,
                mods: None,
                old_obj: None,
                stamp,
            };
            prop_assert_eq!(ChangeRow::from_json(&row, "").unwrap(), expected);
        }

        /// A member of the wrong kind is refused, and the error names it.
        #[test]
        fn members_of_the_wrong_kind_are_refused(change in change(), knock in 0usize..8, junk in value()) {
            let names = ["table", "id", "op", "fields", "data", "insertedAt", "deletedAt", "extra"];
            let name = names[knock];
            let mut v = json::parse(&change.to_json()).unwrap();
            v.as_object_mut().unwrap().insert(name.to_owned(), junk.clone());
            match Change::from_json(&v, "c") {
                Ok(read) => {
                    prop_assert!(allows(name, &junk), "{} read as {:?}", v, read);
                    if name == "extra" {
                        prop_assert_eq!(read, change);
                    }
                }
                Err(Error::Wire { path, message }) => {
                    prop_assert!(!allows(name, &junk), "{}: {}", v, message);
                    prop_assert_eq!(path, format!("c.{name}"), "{}", message);
                }
                Err(other) => prop_assert!(false, "{}: {:?}", v, other),
            }
        }
    }

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn write(field: &str, value: Option<Value>, at: &str) -> (String, FieldWrite) {
        let removed = value.is_none();
        (
            field.to_owned(),
            FieldWrite {
                value,
                updated_at: ts(at),
                removed,
            },
        )
    }

    /// `text` is exactly what `written` is, and reads back as `value`.
    fn pinned<T: PartialEq + std::fmt::Debug>(
        value: &T,
        written: String,
        text: &str,
        read: fn(&Value, &str) -> Result<T, Error>,
    ) {
        assert_eq!(written, text);
        assert_eq!(&parse_with(text, read).unwrap(), value);
    }

    /// Texts the server wrote (and the browser read) before the codec was
    /// the only mapping: the wire format must not move.
    #[test]
    fn fixtures_pin_the_wire_format() {
        let insert = Change {
            table: "todos".into(),
            id: RecordKey::new(json!("t1")).unwrap(),
            op: Op::Insert,
            fields: Some(BTreeMap::from([
                write(
                    "title",
                    Some(json!("Buy \"eggs\"\u{1} é")),
                    "2024-01-01T10:05:30.000000001Z",
                ),
                write("gone", None, "2024-01-01T10:05:31Z"),
                write("n", Some(json!(1.5)), "2024-01-01T10:05:32Z"),
            ])),
            data: Some(
                json!({"done": false, "tags": ["a", 2, null], "z": {"b": 1, "a": -0.0}})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            inserted_at: Some(ts("2024-01-01T10:05:00Z")),
            deleted_at: None,
        };
        let update = Change {
            table: "notes".into(),
            id: RecordKey::new(json!(42)).unwrap(),
            op: Op::Update,
            fields: Some(BTreeMap::from([write(
                "done",
                Some(json!(true)),
                "2024-01-01T10:06:00Z",
            )])),
            data: None,
            inserted_at: None,
            deleted_at: None,
        };
        let delete = Change {
            table: "todos".into(),
            id: RecordKey::new(json!(["a", 1.25])).unwrap(),
            op: Op::Delete,
            fields: None,
            data: None,
            inserted_at: None,
            deleted_at: Some(ts("2024-01-01T10:07:00Z")),
        };

        let push = PushRequest {
            client_id: "tab-abc".into(),
            since: Some(Cursor("c41".into())),
            changes: vec![insert.clone(), update.clone(), delete.clone()],
        };
        pinned(
            &push,
            push.to_json(),
            r#"{"clientId":"tab-abc","since":"c41","changes":[{"table":"todos","id":"t1","op":"insert","fields":{"gone":{"value":null,"updatedAt":"2024-01-01T10:05:31.000000000Z","removed":true},"n":{"value":1.5,"updatedAt":"2024-01-01T10:05:32.000000000Z"},"title":{"value":"Buy \"eggs\"\u0001 é","updatedAt":"2024-01-01T10:05:30.000000001Z"}},"data":{"done":false,"tags":["a",2,null],"z":{"a":-0.0,"b":1}},"insertedAt":"2024-01-01T10:05:00.000000000Z"},{"table":"notes","id":42,"op":"update","fields":{"done":{"value":true,"updatedAt":"2024-01-01T10:06:00.000000000Z"}}},{"table":"todos","id":["a",1.25],"op":"delete","deletedAt":"2024-01-01T10:07:00.000000000Z"}]}"#,
            PushRequest::from_json,
        );
        let first = PushRequest {
            client_id: "tab-abc".into(),
            since: None,
            changes: vec![],
        };
        pinned(
            &first,
            first.to_json(),
            r#"{"clientId":"tab-abc","since":null,"changes":[]}"#,
            PushRequest::from_json,
        );

        let conflict = Conflict {
            table: "todos".into(),
            id: RecordKey::new(json!("t1")).unwrap(),
            field: "title".into(),
            client_value: json!("Buy milk"),
            client_timestamp: ts("2024-01-01T10:05:30Z"),
            server_value: Value::Null,
            server_timestamp: ts("2024-01-01T10:05:31Z"),
        };
        let response = PushResponse {
            server_changes: vec![update, delete],
            conflicts: vec![conflict],
            synced_until: Cursor("c42".into()),
        };
        pinned(
            &response,
            response.to_json(),
            r#"{"serverChanges":[{"table":"notes","id":42,"op":"update","fields":{"done":{"value":true,"updatedAt":"2024-01-01T10:06:00.000000000Z"}}},{"table":"todos","id":["a",1.25],"op":"delete","deletedAt":"2024-01-01T10:07:00.000000000Z"}],"conflicts":[{"table":"todos","id":"t1","field":"title","clientValue":"Buy milk","clientTimestamp":"2024-01-01T10:05:30.000000000Z","serverValue":null,"serverTimestamp":"2024-01-01T10:05:31.000000000Z"}],"syncedUntil":"c42"}"#,
            PushResponse::from_json,
        );

        let page = PullResponse {
            server_changes: vec![insert],
            synced_until: Cursor("c43".into()),
            has_more: true,
        };
        pinned(
            &page,
            page.to_json(),
            r#"{"serverChanges":[{"table":"todos","id":"t1","op":"insert","fields":{"gone":{"value":null,"updatedAt":"2024-01-01T10:05:31.000000000Z","removed":true},"n":{"value":1.5,"updatedAt":"2024-01-01T10:05:32.000000000Z"},"title":{"value":"Buy \"eggs\"\u0001 é","updatedAt":"2024-01-01T10:05:30.000000001Z"}},"data":{"done":false,"tags":["a",2,null],"z":{"a":-0.0,"b":1}},"insertedAt":"2024-01-01T10:05:00.000000000Z"}],"syncedUntil":"c43","hasMore":true}"#,
            PullResponse::from_json,
        );

        let error = ErrorBody::new(
            "invalid_request",
            "changes[3].fields.title.updatedAt: invalid",
        );
        pinned(
            &error,
            error.to_json(),
            r#"{"error":{"code":"invalid_request","message":"changes[3].fields.title.updatedAt: invalid"}}"#,
            ErrorBody::from_json,
        );

        let server = [
            (ServerMessage::AuthOk, r#"{"type":"auth-ok"}"#),
            (ServerMessage::Pong, r#"{"type":"pong"}"#),
            (
                ServerMessage::Error {
                    message: "bad \"token\"".into(),
                },
                r#"{"type":"error","message":"bad \"token\""}"#,
            ),
            (
                ServerMessage::SyncAvailable {
                    tables: vec!["notes".into(), "todos".into()],
                },
                r#"{"type":"sync-available","tables":["notes","todos"]}"#,
            ),
        ];
        for (message, text) in server {
            pinned(&message, message.to_json(), text, ServerMessage::from_json);
        }
        let client = [
            (ClientMessage::Ping, r#"{"type":"ping"}"#),
            (
                ClientMessage::Auth {
                    token: "jwt".into(),
                    client_id: None,
                },
                r#"{"type":"auth","token":"jwt"}"#,
            ),
            (
                ClientMessage::Auth {
                    token: "jwt".into(),
                    client_id: Some("tab-1".into()),
                },
                r#"{"type":"auth","token":"jwt","clientId":"tab-1"}"#,
            ),
        ];
        for (message, text) in client {
            pinned(&message, message.to_json(), text, ClientMessage::from_json);
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
            "changes[0].op: unknown variant `upsert`, expected one of `insert`, `update`, `delete`"
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
