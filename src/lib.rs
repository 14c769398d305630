//! `fieldsync`: offline-first sync for web apps, compiled to wasm and
//! published on npm. App data lives in IndexedDB in a layout Dexie can open;
//! the merge engine is [`fieldsync_core`], shared with the server.
//!
//! # Layout
//! - [`client`]: `SyncClient`, the JS API (thin: converts and delegates).
//! - [`storage`]: the storage engine — Dexie-compatible stores, the
//!   `_changes` log written in the same transaction as each write, remote
//!   applies, pending changes, change notification.
//! - [`sync`]: `sync()` — push pending writes, pull every synced table.
//! - [`live`]: background sync — WebSocket, push after writes, periodic sync.
//! - [`idb`]: a thin async layer over IndexedDB (web-sys).
//! - [`events`]: `on(event, callback)` listeners.
//! - [`js`]: JS ⇄ JSON conversion (rejecting what cannot sync) and key paths.
//! - [`error`]: the crate's one [`Error`] type; at the JS boundary each error
//!   becomes a real `Error` whose `name` says the kind of failure.
//!
//! Decisions (clock, merge, schema rules, wire shapes, the replica's rules)
//! are made in `fieldsync-core`, which runs and is tested natively.

pub mod client;
pub mod error;
pub mod events;
pub mod idb;
pub mod js;
pub mod live;
pub mod storage;
pub mod sync;

pub use client::SyncClient;
pub use error::Error;
pub use fieldsync_core as core;

/// Routes Rust panics to the browser console (default feature
/// `console_error_panic_hook`). Safe to call more than once.
pub fn install_panic_hook() {
    #[cfg(feature = "console_error_panic_hook")]
    console_error_panic_hook::set_once();
}
