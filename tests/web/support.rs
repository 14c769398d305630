//! Helpers shared by the browser tests.

use fieldsync::SyncClient;
use fieldsync::testing;
use serde_json::Value;
use serde_json::json;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A database name no other test (or earlier run) uses.
pub(crate) fn unique_db_name(test: &str) -> String {
    format!(
        "fieldsync-test-{test}-{}-{}",
        js_sys::Date::now() as u64,
        (js_sys::Math::random() * 1e9) as u64
    )
}

/// A JSON value as plain JS objects (not `Map`s).
pub(crate) fn to_js(value: &Value) -> JsValue {
    testing::to_js(value)
}

/// A JS value read back as JSON.
pub(crate) fn from_js(value: &JsValue) -> Value {
    testing::to_json(value).expect("test values are JSON")
}

/// Opens a client on `db` with `schema` at `version`.
pub(crate) async fn open(db: &str, version: f64, schema: Value) -> Result<SyncClient, JsValue> {
    open_with(db, version, schema, serde_json::json!({})).await
}

/// Opens a client with extra options.
pub(crate) async fn open_with(
    db: &str,
    version: f64,
    schema: Value,
    extra: Value,
) -> Result<SyncClient, JsValue> {
    let mut options = serde_json::json!({"dbName": db, "version": version, "schema": schema});
    for (k, v) in extra.as_object().unwrap() {
        options[k] = v.clone();
    }
    SyncClient::open(to_js(&options)).await
}

/// The `name` of a JS error.
pub(crate) fn error_name(err: &JsValue) -> String {
    err.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.name()))
        .unwrap_or_else(|| format!("not an Error: {err:?}"))
}

/// The message of a JS error.
pub(crate) fn error_message(err: &JsValue) -> String {
    err.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_default()
}

/// Every row of `store`, read with a fresh raw connection.
pub(crate) async fn raw_rows(db: &str, store: &str) -> Vec<Value> {
    testing::raw_rows(db, store).await
}

/// Deletes a test database.
pub(crate) async fn drop_db(client: SyncClient) {
    let name = client.db_name();
    client.close().await;
    testing::delete_database(&name).await;
}

/// Waits `ms` milliseconds (a real timer, off the IndexedDB event loop).
pub(crate) async fn sleep(ms: i32) {
    use wasm_bindgen::JsCast;
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout: js_sys::Function =
            js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into())
                .unwrap()
                .unchecked_into();
        set_timeout
            .call2(
                &wasm_bindgen::JsValue::NULL,
                &resolve,
                &wasm_bindgen::JsValue::from(ms),
            )
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

/// Fails (at run time, so the crate still builds for clippy) when the tests
/// were built without a server.
pub(crate) fn server() -> &'static str {
    match option_env!("FIELDSYNC_TEST_SERVER") {
        Some(url) => url,
        None => panic!(
            "FIELDSYNC_TEST_SERVER was not set when the tests were built: run them through scripts/test or scripts/with-server"
        ),
    }
}

/// A token for `user` from the server's development mode.
pub(crate) async fn dev_token(user: &str) -> String {
    let response = gloo_net::http::Request::post(&format!("{}/dev/token", server()))
        .body(json!({"user": user}).to_string())
        .unwrap()
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    body["token"].as_str().unwrap().to_owned()
}

pub(crate) async fn device(user: &str, token: &str) -> SyncClient {
    let db = unique_db_name(&format!("sync-{user}"));
    open_with(
        &db,
        1.0,
        json!({"todos": "id, completed"}),
        json!({"serverUrl": server(), "appId": "web-tests", "token": token}),
    )
    .await
    .unwrap()
}

pub(crate) async fn sync(client: &SyncClient) -> Result<Value, JsValue> {
    JsFuture::from(client.sync()).await.map(|v| from_js(&v))
}
