//! Browser tests, run in real headless Chromium with real IndexedDB:
//! `wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver`.
//! One entry mounts every module, so the wasm test binary is built once.
//! Each test opens its own uniquely named database.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::wasm_bindgen_test_configure;

wasm_bindgen_test_configure!(run_in_browser);

#[path = "web/foundation.rs"]
mod foundation;
#[path = "web/storage.rs"]
mod storage;
#[path = "web/support.rs"]
mod support;
#[path = "web/sync.rs"]
mod sync;
