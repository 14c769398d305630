//! The core running in wasm, and a real IndexedDB database opened from a
//! Dexie schema exactly as Dexie lays it out.

use fieldsync::core::{Clock, PushRequest, RecordState, Timestamp};
use fieldsync::idb;
use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{drop_db, open_with, unique_db_name};

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
async fn stores_and_indexes_are_laid_out_as_dexie_does() {
    let name = unique_db_name("layout");
    let client = open_with(
        &name,
        1.5,
        json!({"people": "id, &email, *tags, [owner+done], address.city", "blobs": "", "log": "++"}),
        json!({"tables": ["people", "blobs"]}),
    )
    .await
    .unwrap();

    let conn = idb::open(&name, None, |_| Ok(()), || {}).await.unwrap();
    assert_eq!(conn.version(), 15.0, "IndexedDB version is Dexie's x10");
    let names = conn.object_store_names();
    let mut stores: Vec<String> = (0..names.length()).filter_map(|i| names.get(i)).collect();
    stores.sort();
    assert_eq!(
        stores,
        [
            "_changes",
            "_fieldsync_meta",
            "_fieldsync_state",
            "blobs",
            "log",
            "people"
        ]
    );
    let tx = conn
        .transaction_with_str_sequence(&js_sys::Array::of3(
            &"people".into(),
            &"blobs".into(),
            &"_changes".into(),
        ))
        .unwrap();
    let people = tx.object_store("people").unwrap();
    assert_eq!(
        people.key_path().unwrap().as_string().as_deref(),
        Some("id")
    );
    assert!(!people.auto_increment());
    let index_names = people.index_names();
    let mut indexes: Vec<String> = (0..index_names.length())
        .filter_map(|i| index_names.get(i))
        .collect();
    indexes.sort();
    assert_eq!(indexes, ["[owner+done]", "address.city", "email", "tags"]);
    let email = people.index("email").unwrap();
    assert!(email.unique() && !email.multi_entry());
    assert!(people.index("tags").unwrap().multi_entry());
    let compound = people.index("[owner+done]").unwrap().key_path().unwrap();
    assert!(js_sys::Array::is_array(&compound));
    assert!(
        tx.object_store("blobs")
            .unwrap()
            .key_path()
            .unwrap()
            .is_null()
    );
    let changes = tx.object_store("_changes").unwrap();
    assert!(changes.auto_increment());
    assert_eq!(
        changes.key_path().unwrap().as_string().as_deref(),
        Some("rev")
    );
    drop(tx);
    conn.close();
    drop_db(client).await;
}
