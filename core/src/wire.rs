//! Wire types of SPEC §2: push, pull, WebSocket messages, conflicts, errors.
//!
//! Each type is declared here once; its JSON form (member names, which are
//! optional, how each is read and written) is in [`crate::codec`], which the
//! server and the browser package both use. The server parses a body with
//! [`parse`], which reports *where* a message is wrong
//! (`changes[2].fields.title.updatedAt: …`) and what was expected; each
//! request's `validate` then checks what the shape cannot (an update without
//! fields, an empty table name, a reserved field name). Unknown fields are
//! ignored everywhere, so newer clients can add fields.
//!
//! # Extensions to the SPEC's change shape (all optional)
//! - `insertedAt` on an `insert`: when the whole-record write happened. A
//!   coalesced change can carry fields stamped later than the insert itself;
//!   without it the earliest field stamp is used.
//! - `fields` on a `delete`: field writes made after the delete (invisible
//!   while it is deleted, but needed by replicas that see a re-creation).
//! - `removed: true` in a field write: the property was removed (its `value`
//!   is `null` on the wire and ignored on reading).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::Error;
use crate::hlc::Timestamp;
use crate::key::RecordKey;
use crate::record::{FieldLoss, Lifecycle, RecordState, Register};

/// Longest table name accepted on the wire.
pub const MAX_TABLE_NAME_LEN: usize = 128;
/// Longest field name accepted on the wire.
pub const MAX_FIELD_NAME_LEN: usize = 256;
/// Most fields one change may carry (`data` and `fields` together).
pub const MAX_FIELDS_PER_CHANGE: usize = 1000;

/// Parses a JSON body as the server receives it and reads it with `read`,
/// one of [`crate::codec`]'s readers (`PushRequest::from_json`, …).
///
/// The text goes through serde_json's parser, not [`crate::json`]: it reads
/// bytes (a body need not be UTF-8, and saying so is its error) and its
/// syntax errors are the ones the server has always answered with. The
/// browser package never calls this, so no serde code reaches it.
pub fn parse<T>(
    body: &[u8],
    read: impl FnOnce(&Value, &str) -> Result<T, Error>,
) -> Result<T, Error> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Error::MalformedJson {
        message: e.to_string(),
    })?;
    read(&value, "")
}

/// An opaque sync position handed out by the server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor(pub String);

/// The kind of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A whole-record write (create, or replace/re-create).
    Insert,
    /// A field-level update.
    Update,
    /// A delete.
    Delete,
}

/// One field's write: its value and timestamp (`updatedAt`, or `at`).
#[derive(Clone, Debug)]
pub struct FieldWrite {
    /// The value written; `None` only when it was missing on the wire.
    pub value: Option<Value>,
    /// When the field was written.
    pub updated_at: Timestamp,
    /// The write removed the property.
    pub removed: bool,
}

/// Two writes are equal when they set the same register: a removal's
/// `value` is ignored (absent, or `null` as it is sent), as everywhere else.
impl PartialEq for FieldWrite {
    fn eq(&self, other: &Self) -> bool {
        self.removed == other.removed && self.to_register() == other.to_register()
    }
}

impl FieldWrite {
    /// The register this write sets.
    pub fn to_register(&self) -> Register {
        Register {
            value: if self.removed {
                None
            } else {
                Some(self.value.clone().unwrap_or(Value::Null))
            },
            ts: self.updated_at,
        }
    }

    /// The write of `register`.
    pub fn from_register(register: &Register) -> Self {
        FieldWrite {
            removed: register.value.is_none(),
            value: register.value.clone(),
            updated_at: register.ts,
        }
    }
}

/// One record's change, as pushed by clients and returned by the server.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The table (Dexie store) name.
    pub table: String,
    /// The record's primary key.
    pub id: RecordKey,
    /// What kind of write.
    pub op: Op,
    /// Per-field values with their timestamps.
    pub fields: Option<BTreeMap<String, FieldWrite>>,
    /// Plain values, stamped with the receiver's time (as other clients of
    /// this protocol send for inserts). `fields` wins where both name a field.
    pub data: Option<Map<String, Value>>,
    /// When an `insert` happened (extension; see the module docs).
    pub inserted_at: Option<Timestamp>,
    /// When a `delete` happened; the receiver's time when missing.
    pub deleted_at: Option<Timestamp>,
}

impl Change {
    /// Checks what reading cannot; `path` prefixes the error, e.g. `changes[3]`.
    pub fn validate(&self, path: &str) -> Result<(), Error> {
        validate_table_name(&self.table).map_err(|m| Error::wire(format!("{path}.table"), m))?;
        if self.op == Op::Update && self.fields.is_none() && self.data.is_none() {
            return Err(Error::wire(
                path,
                format!(
                    "the update of {}/{} carries no `fields` (send {{\"fields\": {{\"name\": {{\"value\": …, \"updatedAt\": \"…\"}}}}}}) and no `data`",
                    self.table, self.id
                ),
            ));
        }
        let fields =
            self.data.as_ref().map_or(0, Map::len) + self.fields.as_ref().map_or(0, BTreeMap::len);
        if fields > MAX_FIELDS_PER_CHANGE {
            return Err(Error::wire(
                path,
                format!(
                    "{fields} fields in one change; at most {MAX_FIELDS_PER_CHANGE} per record (keep large collections in arrays or in records of their own)"
                ),
            ));
        }
        for name in self.data.iter().flat_map(|d| d.keys()) {
            validate_field_name(name).map_err(|m| Error::wire(format!("{path}.data"), m))?;
        }
        for (name, write) in self.fields.iter().flatten() {
            validate_field_name(name).map_err(|m| Error::wire(format!("{path}.fields"), m))?;
            if write.value.is_none() && !write.removed {
                return Err(Error::wire(
                    format!("{path}.fields.{name}"),
                    "missing `value` (send {\"value\": …, \"updatedAt\": \"…\"}, or \"removed\": true to remove the property)",
                ));
            }
        }
        Ok(())
    }

    /// The change as a record patch. Fields sent as plain `data`, and a
    /// delete without `deletedAt`, take `received_at`.
    pub fn to_state(&self, received_at: Timestamp) -> RecordState {
        let mut registers: BTreeMap<String, Register> = BTreeMap::new();
        for (name, value) in self.data.iter().flatten() {
            registers.insert(name.clone(), Register::new(value.clone(), received_at));
        }
        for (name, write) in self.fields.iter().flatten() {
            registers.insert(name.clone(), write.to_register());
        }
        let lifecycle = match self.op {
            Op::Update => None,
            Op::Delete => Some(Lifecycle {
                deleted: true,
                ts: self.deleted_at.unwrap_or(received_at),
            }),
            Op::Insert => Some(Lifecycle {
                deleted: false,
                ts: self
                    .inserted_at
                    .or_else(|| registers.values().map(|r| r.ts).min())
                    .unwrap_or(received_at),
            }),
        };
        RecordState::from_parts(registers, lifecycle)
    }

    /// The change that carries `state` to another replica; `None` when the
    /// state holds nothing.
    pub fn from_state(table: &str, id: &RecordKey, state: &RecordState) -> Option<Change> {
        if state.is_empty() {
            return None;
        }
        let fields = crate::record::by_insertion(
            state
                .fields()
                .iter()
                .map(|(name, register)| (name.clone(), FieldWrite::from_register(register))),
        );
        let lifecycle = state.lifecycle();
        let op = match lifecycle {
            None => Op::Update,
            Some(l) if l.deleted => Op::Delete,
            Some(_) => Op::Insert,
        };
        Some(Change {
            table: table.to_owned(),
            id: id.clone(),
            op,
            fields: (op != Op::Delete || !fields.is_empty()).then_some(fields),
            data: None,
            inserted_at: lifecycle.filter(|l| !l.deleted).map(|l| l.ts),
            deleted_at: lifecycle.filter(|l| l.deleted).map(|l| l.ts),
        })
    }
}

/// Checks a table name for the wire and for schemas.
pub fn validate_table_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("the table name is empty".into())
    } else if name.len() > MAX_TABLE_NAME_LEN {
        Err(format!(
            "the table name is longer than {MAX_TABLE_NAME_LEN} bytes"
        ))
    } else if name.chars().any(char::is_control) {
        Err(format!(
            "the table name \"{name}\" contains control characters; use letters, digits and punctuation"
        ))
    } else if name.starts_with('_') {
        Err(format!(
            "table \"{name}\": names starting with `_` are reserved for fieldsync's own stores; rename the table"
        ))
    } else {
        Ok(())
    }
}

fn validate_field_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("a field name is empty".into())
    } else if name.len() > MAX_FIELD_NAME_LEN {
        Err(format!(
            "field name \"{}…\" is longer than {MAX_FIELD_NAME_LEN} bytes",
            name.chars().take(32).collect::<String>()
        ))
    } else if name == "__proto__" {
        Err(
            "the field name \"__proto__\" is not allowed (it would rewrite JavaScript prototypes)"
                .into(),
        )
    } else {
        Ok(())
    }
}

/// `POST /sync/{appId}` body.
#[derive(Clone, Debug, PartialEq)]
pub struct PushRequest {
    /// The pushing client (one per tab or device).
    pub client_id: String,
    /// Where the client's previous sync ended; `None` on the first sync.
    pub since: Option<Cursor>,
    /// The changes, applied atomically.
    pub changes: Vec<Change>,
}

impl PushRequest {
    /// Parses and validates a push body.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let request = parse(body, PushRequest::from_json)?;
        request.validate()?;
        Ok(request)
    }

    /// Checks every change; the first problem rejects the whole batch.
    pub fn validate(&self) -> Result<(), Error> {
        if self.client_id.trim().is_empty() {
            return Err(Error::wire("clientId", "the client id is empty"));
        }
        for (i, change) in self.changes.iter().enumerate() {
            change.validate(&format!("changes[{i}]"))?;
        }
        Ok(())
    }
}

/// A pushed field that lost to a newer value already on the server.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    /// The table.
    pub table: String,
    /// The record.
    pub id: RecordKey,
    /// The field.
    pub field: String,
    /// The value the client pushed (`null` for a removal).
    pub client_value: Value,
    /// Its timestamp.
    pub client_timestamp: Timestamp,
    /// The value that won (`null` if the record was deleted or replaced).
    pub server_value: Value,
    /// Its timestamp.
    pub server_timestamp: Timestamp,
}

impl Conflict {
    /// The conflict for a pushed register (`loss.loser`) that lost to the
    /// server's (`loss.winner`).
    pub fn from_loss(table: &str, id: &RecordKey, loss: &FieldLoss) -> Self {
        Conflict {
            table: table.to_owned(),
            id: id.clone(),
            field: loss.field.clone(),
            client_value: loss.loser.value.clone().unwrap_or(Value::Null),
            client_timestamp: loss.loser.ts,
            server_value: loss.winner.value.clone().unwrap_or(Value::Null),
            server_timestamp: loss.winner.ts,
        }
    }
}

/// Response to a push.
#[derive(Clone, Debug, PartialEq)]
pub struct PushResponse {
    /// Changes other clients made since the request's `since`.
    pub server_changes: Vec<Change>,
    /// Pushed fields that lost.
    pub conflicts: Vec<Conflict>,
    /// The cursor to send as `since` next time.
    pub synced_until: Cursor,
}

/// Query of `GET /sync/{appId}/pull`.
#[derive(Clone, Debug, PartialEq)]
pub struct PullQuery {
    /// The table to pull.
    pub collection: String,
    /// Where the previous pull ended (a cursor or an RFC 3339 timestamp).
    pub since: Option<String>,
    /// Largest page wanted; the server may return fewer.
    pub limit: Option<u32>,
}

impl PullQuery {
    /// Decodes a pull's query string (`collection=todos&since=c41&limit=500`,
    /// URL-encoded as browsers send it) and checks it. Unknown parameters are
    /// ignored; a parameter given twice is an error.
    pub fn from_query(query: &str) -> Result<PullQuery, Error> {
        const EXPECTED: &str = "expected ?collection=<table>&since=<cursor>[&limit=N]";
        let (mut collection, mut since, mut limit) = (None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = form_decode(name).map_err(|m| Error::wire("query", m))?;
            let slot = match name.as_str() {
                "collection" => &mut collection,
                "since" => &mut since,
                "limit" => &mut limit,
                _ => continue,
            };
            if slot.is_some() {
                return Err(Error::wire(name, format!("given twice; {EXPECTED}")));
            }
            *slot = Some(form_decode(value).map_err(|m| Error::wire(name.clone(), m))?);
        }
        let collection =
            collection.ok_or_else(|| Error::wire("collection", format!("missing; {EXPECTED}")))?;
        validate_table_name(&collection).map_err(|m| Error::wire("collection", m))?;
        let limit = match limit {
            None => None,
            Some(text) => Some(text.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::wire(
                    "limit",
                    format!(
                        "\"{}\" is not a whole number from 1 to 4294967295",
                        shorten(&text)
                    ),
                )
            })?),
        };
        Ok(PullQuery {
            collection,
            since,
            limit,
        })
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte;
/// the bytes must be UTF-8.
fn form_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("a `%` not followed by two hex digits")?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once percent-decoded".to_owned())
}

fn shorten(text: &str) -> String {
    crate::error::shorten(text, 40)
}

/// Where a pull (or a push's `since`) starts, decoded from a cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// From the beginning.
    Start,
    /// After a feed position (cursor `c<seq>`).
    Seq(i64),
    /// After a server time (ms since the epoch), from an RFC 3339 `since`.
    Time(i64),
}

impl Since {
    /// Decodes `since`: empty or absent is the start; `c<seq>` a cursor the
    /// server returned; anything else must be an RFC 3339 timestamp.
    pub fn parse(cursor: Option<&str>) -> Result<Since, Error> {
        let Some(text) = cursor.map(str::trim).filter(|c| !c.is_empty()) else {
            return Ok(Since::Start);
        };
        if let Some(seq) = text.strip_prefix('c').and_then(|n| n.parse::<i64>().ok()) {
            return Ok(if seq <= 0 {
                Since::Start
            } else {
                Since::Seq(seq)
            });
        }
        match Timestamp::parse(text) {
            Ok(ts) => Ok(Since::Time(ts.ms() as i64)),
            Err(_) => Err(Error::InvalidCursor {
                cursor: shorten(text),
            }),
        }
    }
}

/// Response to a pull.
#[derive(Clone, Debug, PartialEq)]
pub struct PullResponse {
    /// Changed records, each once, in the server's order.
    pub server_changes: Vec<Change>,
    /// The cursor to send as `since` next time.
    pub synced_until: Cursor,
    /// More pages follow: pull again from `synced_until`.
    pub has_more: bool,
}

/// A WebSocket message from a client.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientMessage {
    /// Authenticate the socket (must come first, within 10 s).
    Auth {
        /// The bearer token (JWT).
        token: String,
        /// The client (tab or device) the socket belongs to (JSON
        /// `clientId`): it is not told of its own pushes.
        client_id: Option<String>,
    },
    /// Keepalive.
    Ping,
}

/// A WebSocket message from the server.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMessage {
    /// The token was accepted.
    AuthOk,
    /// Something went wrong; the server closes the socket after it.
    Error {
        /// What went wrong.
        message: String,
    },
    /// Another client of the same user and app pushed changes to `tables`.
    SyncAvailable {
        /// The tables that changed.
        tables: Vec<String>,
    },
    /// Answer to a ping.
    Pong,
}

/// The body of every non-2xx response.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A machine code and a human sentence.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorDetail {
    /// Machine-readable code, e.g. `invalid_change`.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
    /// Particulars a program can act on; absent (not `null`) when there
    /// are none.
    pub details: Option<ErrorDetails>,
}

/// Machine-readable particulars of an error.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ErrorDetails {
    /// The position in the push's `changes` of the change that was refused
    /// (the whole batch was).
    pub index: Option<u64>,
}

impl ErrorBody {
    /// An error body.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                details: None,
            },
        }
    }

    /// The body with `details`.
    pub fn with_details(mut self, details: ErrorDetails) -> Self {
        self.error.details = Some(details);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn spec_push_example_parses() {
        let req = PushRequest::parse(&body(json!({
            "clientId": "tab-abc", "since": "c1",
            "changes": [
                { "table": "todos", "id": "t1", "op": "insert",
                  "data": { "title": "Buy milk", "completed": false } },
                { "table": "todos", "id": "t1", "op": "update",
                  "fields": { "title": { "value": "Buy eggs", "updatedAt": "2024-01-01T10:05:30.000000001Z" } } },
                { "table": "todos", "id": "t2", "op": "delete", "deletedAt": "2024-01-01T10:06:00.000000000Z" }
            ]})))
        .unwrap();
        assert_eq!(req.changes.len(), 3);
        assert_eq!(req.changes[2].op, Op::Delete);
        assert_eq!(req.since, Some(Cursor("c1".into())));
    }

    #[test]
    fn at_is_a_synonym_of_updated_at_and_unknown_fields_are_ignored() {
        let change = parse(
            &body(json!({
                "table": "todos", "id": 5, "op": "update", "extra": [1],
                "fields": { "done": { "value": true, "at": "2024-01-01T00:00:00Z", "who": "x" } }
            })),
            Change::from_json,
        )
        .unwrap();
        let write = &change.fields.unwrap()["done"];
        assert_eq!(
            write.updated_at,
            Timestamp::parse("2024-01-01T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn shape_errors_name_the_path_and_the_expectation() {
        let cases = [
            (
                json!({"clientId": "c", "changes": [{"table": "t", "id": "1", "op": "upsert"}]}),
                "changes[0].op",
                "unknown variant `upsert`, expected one of `insert`, `update`, `delete`",
            ),
            (
                json!({"clientId": "c", "changes": [{"table": "t", "id": "1", "op": 3}]}),
                "changes[0].op",
                "expected one of `insert`, `update`, `delete`, found a number",
            ),
            (
                json!({"clientId": "c", "changes": [{"id": "1", "op": "delete"}]}),
                "changes[0]",
                "missing field `table`",
            ),
            (
                json!({"clientId": "c", "changes": [{"table": "t", "op": "delete"}]}),
                "changes[0]",
                "missing field `id`",
            ),
            (
                json!({"clientId": "c", "changes": [{"table": "t", "id": "", "op": "delete"}]}),
                "changes[0].id",
                "non-empty string",
            ),
            (
                json!({"clientId": "c", "changes": [{"table": "t", "id": "1", "op": "update",
                "fields": {"a": {"value": 1, "updatedAt": 17}}}]}),
                "changes[0].fields.a.updatedAt",
                "expected an RFC 3339 timestamp",
            ),
            (
                json!({"clientId": "c", "changes": [{"table": "t", "id": "1", "op": "update",
                "fields": {"a": {"value": 1, "updatedAt": "yesterday"}}}]}),
                "changes[0].fields.a.updatedAt",
                "invalid RFC 3339 timestamp",
            ),
            (
                json!({"clientId": "c", "changes": [{"table": "", "id": "1", "op": "delete"}]}),
                "changes[0].table",
                "empty",
            ),
            (
                json!({"clientId": "c", "changes": [{"table": "t", "id": "1", "op": "update"}]}),
                "changes[0]",
                "carries no `fields`",
            ),
            (
                json!({"clientId": "c", "changes": [{"table": "t", "id": "1", "op": "update",
                "fields": {"a": {"updatedAt": "2024-01-01T00:00:00Z"}}}]}),
                "changes[0].fields.a",
                "missing `value`",
            ),
            (
                json!({"clientId": "c", "changes": [{"table": "t", "id": "1", "op": "insert",
                "data": {"__proto__": {}}}]}),
                "changes[0].data",
                "__proto__",
            ),
            (
                json!({"clientId": "c", "changes": "nope"}),
                "changes",
                "expected a sequence",
            ),
            (
                json!({"clientId": "c", "since": 41, "changes": []}),
                "since",
                "expected a string, found a number",
            ),
            (json!({"changes": []}), "", "missing field `clientId`"),
            (json!([]), "", "expected an object, found an array"),
        ];
        for (input, path, needle) in cases {
            match PushRequest::parse(&body(input.clone())) {
                Err(Error::Wire { path: p, message }) => {
                    assert_eq!(p, path, "{input}: {message}");
                    assert!(message.contains(needle), "{input}: {message}");
                }
                other => panic!("{input}: expected a wire error, got {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_json_is_its_own_error() {
        for bad in [
            &b"{\"clientId\": "[..],
            b"not json",
            b"{} trailing",
            b"{\"clientId\": \"\xff\"}",
        ] {
            assert!(matches!(
                PushRequest::parse(bad),
                Err(Error::MalformedJson { .. })
            ));
        }
    }

    #[test]
    fn data_takes_receive_time_and_fields_win() {
        let change = parse(
            &body(json!({
                "table": "todos", "id": "t1", "op": "insert",
                "data": { "title": "plain", "done": false },
                "fields": { "title": { "value": "stamped", "updatedAt": "2024-01-01T00:00:05Z" } }
            })),
            Change::from_json,
        )
        .unwrap();
        let received = Timestamp::parse("2024-01-01T00:00:09Z").unwrap();
        let state = change.to_state(received);
        assert_eq!(state.field("done").unwrap().ts, received);
        assert_eq!(state.field("title").unwrap().value, Some(json!("stamped")));
        // The insert happened at its earliest field stamp.
        assert_eq!(state.lifecycle().unwrap().ts.ms() % 60_000, 5_000);
    }

    #[test]
    fn change_state_round_trip() {
        let ts = |s| Timestamp::parse(s).unwrap();
        let key = RecordKey::new(json!("t1")).unwrap();
        let mut state = RecordState::put(
            json!({"title": "a", "n": 1}).as_object().unwrap().clone(),
            ts("2024-01-01T00:00:01Z"),
        );
        state.merge(&RecordState::update(
            [("n", None::<Value>)],
            ts("2024-01-01T00:00:02Z"),
        ));
        let change = Change::from_state("todos", &key, &state).unwrap();
        assert_eq!(change.op, Op::Insert);
        let text = change.to_json();
        let json = crate::json::parse(&text).unwrap();
        assert_eq!(
            json["fields"]["n"],
            json!({"value": null, "updatedAt": "2024-01-01T00:00:02.000000000Z", "removed": true})
        );
        let back = parse(text.as_bytes(), Change::from_json).unwrap();
        assert_eq!(back.to_state(Timestamp::ZERO), state);

        let deleted = RecordState::delete(ts("2024-01-01T00:00:03Z"));
        let change = Change::from_state("todos", &key, &deleted).unwrap();
        assert_eq!(change.op, Op::Delete);
        assert!(change.fields.is_none());
        assert_eq!(change.to_state(Timestamp::ZERO), deleted);
    }

    #[test]
    fn websocket_messages_match_the_spec() {
        let client = |text: &str| parse(text.as_bytes(), ClientMessage::from_json);
        assert_eq!(
            client(r#"{"type":"auth","token":"jwt"}"#),
            Ok(ClientMessage::Auth {
                token: "jwt".into(),
                client_id: None
            })
        );
        assert_eq!(
            client(r#"{"type":"auth","token":"jwt","clientId":"tab-1","v":2}"#),
            Ok(ClientMessage::Auth {
                token: "jwt".into(),
                client_id: Some("tab-1".into())
            })
        );
        assert_eq!(client(r#"{"type":"ping"}"#), Ok(ClientMessage::Ping));
        let refused = [
            (
                r#"{"type":"shout"}"#,
                "type: unknown variant `shout`, expected `auth` or `ping`",
            ),
            (
                r#"{"type":7}"#,
                "type: expected `auth` or `ping`, found a number",
            ),
            (r#"{"token":"jwt"}"#, "missing field `type`"),
            (r#"{"type":"auth"}"#, "missing field `token`"),
            (
                r#"{"type":"auth","token":5}"#,
                "token: expected a string, found a number",
            ),
            (
                r#"{"type":"auth","token":"t","clientId":[]}"#,
                "clientId: expected a string, found an array",
            ),
            (r#""ping""#, "expected an object, found a string"),
        ];
        for (text, message) in refused {
            assert_eq!(client(text).unwrap_err().to_string(), message, "{text}");
        }
        assert!(matches!(client("{"), Err(Error::MalformedJson { .. })));

        let server = |text: &str| parse(text.as_bytes(), ServerMessage::from_json);
        assert_eq!(server(r#"{"type":"auth-ok"}"#), Ok(ServerMessage::AuthOk));
        assert_eq!(server(r#"{"type":"pong"}"#), Ok(ServerMessage::Pong));
        assert_eq!(
            server(r#"{"type":"sync-available","tables":["todos"]}"#),
            Ok(ServerMessage::SyncAvailable {
                tables: vec!["todos".into()]
            })
        );
        assert_eq!(
            server(r#"{"type":"error","message":"bad token"}"#),
            Ok(ServerMessage::Error {
                message: "bad token".into()
            })
        );
        let refused = [
            (
                r#"{"type":"ping"}"#,
                "type: unknown variant `ping`, expected one of `auth-ok`, `error`, `sync-available`, `pong`",
            ),
            (r#"{"type":"sync-available"}"#, "missing field `tables`"),
            (
                r#"{"type":"sync-available","tables":[1]}"#,
                "tables[0]: expected a string, found a number",
            ),
            (r#"{"type":"error"}"#, "missing field `message`"),
        ];
        for (text, message) in refused {
            assert_eq!(server(text).unwrap_err().to_string(), message, "{text}");
        }
    }

    #[test]
    fn responses_and_errors_use_spec_names() {
        let resp = PullResponse {
            server_changes: vec![],
            synced_until: Cursor("42".into()),
            has_more: true,
        };
        assert_eq!(
            resp.to_json(),
            r#"{"serverChanges":[],"syncedUntil":"42","hasMore":true}"#
        );
        assert_eq!(
            ErrorBody::new("unauthorized", "token expired").to_json(),
            r#"{"error":{"code":"unauthorized","message":"token expired"}}"#
        );
        let refused = ErrorBody::new("invalid_request", "changes[1].table: empty")
            .with_details(ErrorDetails { index: Some(1) });
        assert_eq!(
            refused.to_json(),
            r#"{"error":{"code":"invalid_request","message":"changes[1].table: empty","details":{"index":1}}}"#
        );
        assert_eq!(
            ErrorBody::from_json(&serde_json::from_str(&refused.to_json()).unwrap(), ""),
            Ok(refused)
        );
        let loss = FieldLoss {
            field: "title".into(),
            loser: Register::new(json!("Buy milk"), Timestamp::new(1, 0)),
            winner: Register::new(json!("Buy eggs"), Timestamp::new(2, 0)),
        };
        let c = Conflict::from_loss("todos", &RecordKey::new(json!("t1")).unwrap(), &loss);
        let mut text = String::new();
        c.write_json(&mut text);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for key in [
            "table",
            "id",
            "field",
            "clientValue",
            "clientTimestamp",
            "serverValue",
            "serverTimestamp",
        ] {
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
    }

    #[test]
    fn pull_queries_decode_like_browsers_encode_them() {
        let q = PullQuery::from_query("collection=my+to%64os&since=c5&limit=10&extra=1").unwrap();
        assert_eq!(
            (q.collection.as_str(), q.since.as_deref(), q.limit),
            ("my todos", Some("c5"), Some(10))
        );
        let q = PullQuery::from_query("collection=t").unwrap();
        assert_eq!((q.since, q.limit), (None, None));
        let cases = [
            ("", "collection", "missing"),
            ("since=c1", "collection", "missing"),
            ("collection=", "collection", "empty"),
            ("collection=a&collection=b", "collection", "given twice"),
            ("collection=t&since=%zz", "since", "hex"),
            ("collection=%FF", "collection", "UTF-8"),
            ("collection=t&limit=0", "limit", "whole number"),
            ("collection=t&limit=-1", "limit", "whole number"),
            ("collection=t&limit=99999999999", "limit", "whole number"),
        ];
        for (query, path, needle) in cases {
            match PullQuery::from_query(query) {
                Err(Error::Wire { path: p, message }) => {
                    assert_eq!(p, path, "{query}: {message}");
                    assert!(message.contains(needle), "{query}: {message}");
                }
                other => panic!("{query}: expected a wire error, got {other:?}"),
            }
        }
    }

    #[test]
    fn since_takes_cursors_and_timestamps() {
        assert_eq!(Since::parse(None), Ok(Since::Start));
        assert_eq!(Since::parse(Some("  ")), Ok(Since::Start));
        assert_eq!(Since::parse(Some("c0")), Ok(Since::Start));
        assert_eq!(Since::parse(Some("c42")), Ok(Since::Seq(42)));
        assert_eq!(
            Since::parse(Some("1970-01-01T00:00:01.000Z")),
            Ok(Since::Time(1000))
        );
        let err = Since::parse(Some("yesterday")).unwrap_err();
        assert!(matches!(err, Error::InvalidCursor { .. }));
        assert!(err.to_string().contains("syncedUntil"), "{err}");
    }
}
