//! `fieldsync`: offline-first sync for web apps, compiled to wasm.
