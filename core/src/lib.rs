//! `fieldsync-core`: the engine fieldsync's browser client and server share,
//! so that both merge alike. Pure Rust: no I/O, no browser or wasm
//! dependency; callers pass in wall-clock time and do the storing and sending.
//!
//! # Layout
//! - [`hlc`]: hybrid-logical-clock [`Timestamp`]s (nine-digit RFC 3339) and
//!   the [`Clock`], with its bound against far-future device clocks.
//! - [`record`]: the merge rule — field [`Register`]s plus the record's
//!   [`Lifecycle`], merged last-write-wins into a [`RecordState`].
//! - [`replica`]: the browser replica's rules — pending writes grouped per
//!   record, and how a remote change meets the local copy.
//! - [`outbox`]: refused pushes — what sets a change aside, how a refused
//!   batch is narrowed down to the changes the server refuses.
//! - [`ingest`]: the server's rule for merging a pushed change into a stored
//!   record (admitting device stamps, idempotent retries).
//! - [`canonical`]: canonical JSON, which breaks exact timestamp ties.
//! - [`key`]: [`RecordKey`], the primary key of a synced record.
//! - [`wire`]: the messages of the protocol, each type declared once.
//! - [`codec`]: their one JSON reader and writer, used by server and browser,
//!   with errors that name the path of the problem; no serde derives, for
//!   the browser package's size.
//! - [`json`]: JSON text ⇄ values without serde, for the browser package;
//!   tested to agree with serde_json, which the server parses bodies with.
//! - [`schema`]: Dexie schema strings → object stores and indexes.
//! - [`coalesce`]: many local writes → one push change per record, and
//!   Dexie.Observable `_changes` rows ⇄ wire changes.
//! - [`error`]: the crate's one [`Error`] type.
//!
//! # Example
//! ```
//! use fieldsync_core::{Clock, RecordState};
//! use serde_json::json;
//!
//! let mut clock = Clock::new();
//! let t1 = clock.now(1_704_103_500_000);
//! let t2 = clock.now(1_704_103_530_000);
//! let mut a = RecordState::put(json!({"title": "Buy milk"}).as_object().unwrap().clone(), t1);
//! let b = RecordState::update([("title", Some(json!("Buy eggs")))], t2);
//! let report = a.merge(&b);
//! assert_eq!(a.visible().unwrap()["title"], "Buy eggs");
//! assert_eq!(report.overwritten[0].loser.value, Some(json!("Buy milk")));
//! ```

pub mod canonical;
pub mod coalesce;
pub mod codec;
pub mod error;
pub mod hlc;
pub mod ingest;
pub mod json;
pub mod key;
pub mod outbox;
pub mod record;
pub mod replica;
pub mod schema;
pub mod wire;

pub use coalesce::{ChangeRow, Coalescer, coalesce};
pub use error::Error;
pub use hlc::{Admission, Clock, Timestamp};
pub use key::RecordKey;
pub use record::{FieldLoss, Lifecycle, MergeReport, RecordState, Register};
pub use schema::{DatabaseSchema, IndexSpec, KeyPath, TableSchema};
pub use wire::{
    Change, ClientMessage, Conflict, Cursor, ErrorBody, ErrorDetails, FieldWrite, Op, PullQuery,
    PullResponse, PushRequest, PushResponse, ServerMessage, Since,
};
