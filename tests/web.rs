//! Browser tests, run in real headless Chromium with real IndexedDB:
//! `scripts/with-server cargo test --target wasm32-unknown-unknown --test web`
//! with `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner`
//! and `CHROMEDRIVER=/usr/bin/chromedriver` (as `scripts/test` does).
//! One entry mounts every module, so the wasm test binary is built once.
//! Each test opens its own uniquely named database.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::wasm_bindgen_test_configure;

wasm_bindgen_test_configure!(run_in_browser);

#[path = "web/atomicity.rs"]
mod atomicity;
#[path = "web/foundation.rs"]
mod foundation;
#[path = "web/outbox.rs"]
mod outbox;
#[path = "web/storage.rs"]
mod storage;
#[path = "web/support.rs"]
mod support;
#[path = "web/sync.rs"]
mod sync;
