//! The core running in wasm, and a real IndexedDB database opened from a
//! Dexie schema exactly as Dexie lays it out.

use fieldsync::core::{Clock, PushRequest, RecordState, Timestamp};
use fieldsync::testing;
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

    let conn = testing::raw_open(&name, None, |_| {}, || {}).await;
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

#[wasm_bindgen_test]
fn json_is_read_and_written_as_javascript_does() {
    // The browser's JSON goes through core::json with parseFloat for
    // fractions and exponents: every number must come out as JSON.parse
    // makes it, and survive being written back.
    let numbers = [
        "0.1",
        "0.30000000000000004",
        "-2.5e-7",
        "5e-324",
        "1.7976931348623157e308",
        "2.2250738585072014e-308",
        "123456789012345678901234567890",
        "9007199254740993",
        "-0",
        "1E2",
        "0.1e1",
        "3.0",
    ];
    for text in numbers {
        let ours = fieldsync::testing::parse_json(text).unwrap();
        let theirs = js_sys::JSON::parse(text).unwrap();
        let ours_js = fieldsync::testing::to_js(&ours);
        assert!(
            js_sys::Object::is(&ours_js, &theirs),
            "{text}: {ours_js:?} vs JSON.parse {theirs:?}"
        );
        let written = fieldsync::core::json::to_string(&ours);
        let again = js_sys::JSON::parse(&written).unwrap();
        assert!(
            js_sys::Object::is(&again, &theirs),
            "{text} written as {written}"
        );
    }
    let err = fieldsync::testing::parse_json("[1e400]")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("number out of range at line 1 column 7"),
        "{err}"
    );
    let text = r#"{"a":"\u00e9\ud83d\ude00\n","b":[true,null,{"c":-1}]}"#;
    let value = fieldsync::testing::parse_json(text).unwrap();
    assert_eq!(
        js_sys::JSON::stringify(&fieldsync::testing::to_js(&value)).unwrap(),
        js_sys::JSON::stringify(&js_sys::JSON::parse(text).unwrap()).unwrap()
    );
}
