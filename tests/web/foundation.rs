//! The core running in wasm, and a real IndexedDB database opened from a
//! Dexie schema.

use fieldsync::core::schema::DatabaseSchema;
use fieldsync::core::{Clock, PushRequest, RecordState, Timestamp};
use fieldsync::storage::open_database;
use rexie::TransactionMode;
use serde_json::json;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{to_js, unique_db_name};

#[wasm_bindgen_test]
fn core_merges_the_seed_example_in_wasm() {
    let mut clock = Clock::new();
    let wall = js_sys::Date::now() as u64;
    let a = clock.now(wall);
    let b = clock.now(wall);
    assert!(b > a, "the clock is monotonic under wasm too");

    let body = json!({"clientId": "tab", "changes": [
        {"table": "todos", "id": "t1", "op": "update",
         "fields": {"title": {"value": "Buy eggs", "updatedAt": "2024-01-01T10:05:30Z"}}},
        {"table": "todos", "id": "t1", "op": "update",
         "fields": {"title": {"value": "Buy milk", "updatedAt": "2024-01-01T10:05:00Z"}}}
    ]});
    let request = PushRequest::parse(body.to_string().as_bytes()).unwrap();
    let mut state = RecordState::new();
    for change in &request.changes {
        state.merge(&change.to_state(Timestamp::ZERO));
    }
    assert_eq!(state.visible().unwrap()["title"], "Buy eggs");
}

#[wasm_bindgen_test]
async fn opens_indexeddb_from_a_dexie_schema_and_writes_atomically() {
    let name = unique_db_name("foundation");
    let schema = DatabaseSchema::parse(
        1.5,
        [(
            "todos",
            Some("++id, &email, *tags, [owner+done], address.city"),
        )],
    )
    .unwrap();
    let db = open_database(&name, &schema).await.unwrap();

    assert_eq!(
        db.version().unwrap(),
        15,
        "IndexedDB version is Dexie's x10"
    );
    let mut stores = db.store_names();
    stores.sort();
    assert_eq!(
        stores,
        ["_changes", "_fieldsync_meta", "_fieldsync_state", "todos"]
    );

    let tx = db
        .transaction(&["todos", "_changes"], TransactionMode::ReadWrite)
        .unwrap();
    let todos = tx.store("todos").unwrap();
    let mut indexes = todos.index_names();
    indexes.sort();
    assert_eq!(indexes, ["[owner+done]", "address.city", "email", "tags"]);

    let record = json!({"email": "a@example.com", "tags": ["x", "y"], "owner": "ann",
                        "done": 0, "address": {"city": "Oslo"}, "title": "Buy milk"});
    let key = todos.add(&to_js(&record), None).await.unwrap();
    let row = json!({"table": "todos", "key": key.as_f64(), "type": 1, "obj": record});
    tx.store("_changes")
        .unwrap()
        .add(&to_js(&row), None)
        .await
        .unwrap();
    tx.done().await.unwrap();

    // Read back through the multi-entry and nested-path indexes.
    let tx = db
        .transaction(&["todos", "_changes"], TransactionMode::ReadOnly)
        .unwrap();
    let todos = tx.store("todos").unwrap();
    let by_tag = todos
        .index("tags")
        .unwrap()
        .get_all(
            Some(rexie::KeyRange::only(&JsValue::from_str("y")).unwrap()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(by_tag.len(), 1);
    let by_city = todos
        .index("address.city")
        .unwrap()
        .get_all(
            Some(rexie::KeyRange::only(&JsValue::from_str("Oslo")).unwrap()),
            None,
        )
        .await
        .unwrap();
    let back: serde_json::Value = serde_wasm_bindgen::from_value(by_city[0].clone()).unwrap();
    assert_eq!(back["title"], "Buy milk");
    assert_eq!(tx.store("_changes").unwrap().count(None).await.unwrap(), 1);
    tx.done().await.unwrap();

    // A unique index violation surfaces as a typed error, not a panic.
    let tx = db
        .transaction(&["todos"], TransactionMode::ReadWrite)
        .unwrap();
    let duplicate = to_js(&json!({"email": "a@example.com"}));
    let err = tx
        .store("todos")
        .unwrap()
        .add(&duplicate, None)
        .await
        .unwrap_err();
    let err = fieldsync::Error::from_rexie("adding a todo", &err);
    assert_eq!(err.js_name(), "ConstraintError", "{err}");
    drop(tx);

    db.close();
    rexie::Rexie::delete(&name).await.unwrap();
}
