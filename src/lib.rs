//! `fieldsync`: offline-first sync for web apps, compiled to wasm and
//! published on npm. App data lives in IndexedDB in a layout Dexie can open;
//! the merge engine is [`fieldsync_core`], shared with the server.
//!
//! # Layout
//! - `client`: [`SyncClient`], the JS API (bindings only: converts and
//!   delegates); `options` reads its arguments, `types` holds the
//!   TypeScript types wasm-bindgen cannot derive.
//! - `scheduler`: when sync runs (one run at a time, across tabs), status,
//!   which tab leads; `resolve`: conflict resolvers.
//! - `storage`: the storage engine — Dexie-compatible stores, the
//!   `_changes` log written in the same transaction as each write, remote
//!   applies, the outbox (pending and refused changes), notification.
//! - `sync`: one run — push pending writes (setting aside what the server
//!   refuses), pull every synced table.
//! - `live`: background sync — WebSocket, push after writes, periodic sync.
//! - `idb`: a thin async layer over IndexedDB (web-sys), with the
//!   transaction guard that makes every write all or nothing.
//! - `events`: `on(event, callback)` listeners.
//! - `js`: JS ⇄ JSON conversion (rejecting what cannot sync) and key paths.
//! - `error`: the crate's one [`Error`] type; at the JS boundary each error
//!   becomes a real `Error` whose `name` says the kind of failure.
//! - `testing` (feature `testing`, for this crate's browser tests only):
//!   raw IndexedDB access and fault injection.
//!
//! Decisions (clock, merge, schema rules, wire shapes, the replica's rules)
//! are made in `fieldsync-core`, which runs and is tested natively.

mod client;
mod error;
mod events;
mod idb;
mod js;
mod live;
mod options;
mod resolve;
mod scheduler;
mod storage;
mod sync;
#[cfg(feature = "testing")]
pub mod testing;
mod types;

pub use client::SyncClient;
pub use error::Error;
pub use fieldsync_core as core;
pub use idb::DomException;

/// Routes Rust panics to the browser console (default feature
/// `console_error_panic_hook`). Safe to call more than once.
pub(crate) fn install_panic_hook() {
    #[cfg(feature = "console_error_panic_hook")]
    console_error_panic_hook::set_once();
}
