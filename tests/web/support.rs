//! Helpers shared by the browser tests.

/// A database name no other test (or earlier run) uses.
pub(crate) fn unique_db_name(test: &str) -> String {
    format!(
        "fieldsync-test-{test}-{}-{}",
        js_sys::Date::now() as u64,
        (js_sys::Math::random() * 1e9) as u64
    )
}

/// A JSON value as plain JS objects (not `Map`s), as IndexedDB key paths need.
pub(crate) fn to_js(value: &serde_json::Value) -> wasm_bindgen::JsValue {
    use serde::Serialize;
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .expect("JSON values always convert")
}
