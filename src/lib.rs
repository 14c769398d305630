//! `fieldsync`: offline-first sync for web apps, compiled to wasm and
//! published on npm. App data lives in IndexedDB in a layout Dexie can open;
//! the merge engine is [`fieldsync_core`], shared with the server.
//!
//! # Layout
//! - [`storage`]: opening IndexedDB from a Dexie schema (app stores named as
//!   Dexie names them, plus fieldsync's own `_`-stores).
//! - [`error`]: the crate's one [`Error`] type; at the JS boundary each error
//!   becomes a real `Error` whose `name` says the kind of failure.
//!
//! This crate stays thin: decisions (clock, merge, schema rules, wire shapes)
//! are made in `fieldsync-core`, which runs and is tested natively.

pub mod error;
pub mod storage;

pub use error::Error;
pub use fieldsync_core as core;

/// Routes Rust panics to the browser console (default feature
/// `console_error_panic_hook`). Safe to call more than once.
pub fn install_panic_hook() {
    #[cfg(feature = "console_error_panic_hook")]
    console_error_panic_hook::set_once();
}
