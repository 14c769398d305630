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
//! - [`ingest`]: the server's rule for merging a pushed change into a stored
//!   record (admitting device stamps, idempotent retries).
//! - [`canonical`]: canonical JSON, which breaks exact timestamp ties.
//! - [`key`]: [`RecordKey`], the primary key of a synced record.
//! - [`wire`]: the JSON messages of the protocol, parsed with errors that
//!   name the path of the problem.
//! - [`json`] and [`codec`]: JSON text and the wire messages without serde,
//!   for the browser package's size; tested to agree with [`wire`]'s serde.
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
