//! The storage engine in real Chromium IndexedDB: local writes and their
//! change log, reads and queries, remote applies, pending changes, events and
//! faults.

use std::cell::RefCell;
use std::rc::Rc;

use fieldsync::core::{Change, Timestamp};
use fieldsync::testing::{self, Internals};
use serde_json::{Value, json};
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{
    drop_db, error_message, error_name, from_js, open, open_with, raw_rows, sleep, to_js,
    unique_db_name,
};

fn todos() -> Value {
    json!({"todos": "id, done, [owner+done], address.city"})
}

/// A client syncing `todos`, with a local-only auto-increment `notes` table.
async fn client(test: &str) -> fieldsync::SyncClient {
    let mut schema = todos();
    schema["notes"] = json!("++id");
    open_with(
        &unique_db_name(test),
        1.0,
        schema,
        json!({"tables": ["todos"]}),
    )
    .await
    .unwrap()
}

fn key(s: &str) -> JsValue {
    JsValue::from_str(s)
}

fn stamp_of(row: &Value) -> Timestamp {
    Timestamp::parse(row["stamp"].as_str().unwrap()).unwrap()
}

#[wasm_bindgen_test]
async fn put_update_delete_log_dexie_observable_rows_in_the_same_transaction() {
    let c = client("writes").await;
    let name = c.db_name();
    let record = json!({"id": "t1", "title": "Buy milk", "done": 0, "owner": "ann", "address": {"city": "Oslo"}});
    let k = c.put("todos".into(), to_js(&record), None).await.unwrap();
    assert_eq!(k.as_string().as_deref(), Some("t1"));
    assert_eq!(
        from_js(&c.get("todos".into(), key("t1")).await.unwrap()),
        record
    );

    let n = c
        .update(
            "todos".into(),
            key("t1"),
            to_js(&json!({"title": "Buy eggs", "address.city": "Bergen"})),
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let updated = from_js(&c.get("todos".into(), key("t1")).await.unwrap());
    assert_eq!(updated["title"], "Buy eggs");
    assert_eq!(updated["address"], json!({"city": "Bergen"}));
    assert_eq!(
        c.update("todos".into(), key("missing"), to_js(&json!({"done": 1})))
            .await
            .unwrap(),
        0,
        "updating a missing record changes nothing, as in Dexie"
    );
    c.delete("todos".into(), key("t1")).await.unwrap();
    assert!(
        c.get("todos".into(), key("t1"))
            .await
            .unwrap()
            .is_undefined()
    );

    let rows = raw_rows(&name, "_changes").await;
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert_eq!(
        (rows[0]["type"].clone(), rows[0]["key"].clone()),
        (json!(1), json!("t1"))
    );
    assert_eq!(rows[0]["obj"], record);
    assert_eq!(rows[1]["type"], 2);
    assert_eq!(
        rows[1]["mods"],
        json!({"title": "Buy eggs", "address.city": "Bergen"})
    );
    assert_eq!(rows[1]["oldObj"]["title"], "Buy milk");
    assert_eq!(rows[1]["obj"]["title"], "Buy eggs");
    assert_eq!(rows[2]["type"], 3);
    assert_eq!(rows[2]["oldObj"]["title"], "Buy eggs");
    assert!(stamp_of(&rows[0]) < stamp_of(&rows[1]) && stamp_of(&rows[1]) < stamp_of(&rows[2]));
    assert_eq!(
        rows[0]["rev"].as_f64().unwrap() + 1.0,
        rows[1]["rev"].as_f64().unwrap()
    );
    drop_db(c).await;
}

#[wasm_bindgen_test]
async fn local_only_tables_are_not_logged_and_may_auto_increment() {
    let c = client("local-only").await;
    let k = c
        .put("notes".into(), to_js(&json!({"text": "hi"})), None)
        .await
        .unwrap();
    assert_eq!(k.as_f64(), Some(1.0));
    assert_eq!(c.pending_count().await.unwrap(), 0);
    assert!(raw_rows(&c.db_name(), "_changes").await.is_empty());
    drop_db(c).await;
}

#[wasm_bindgen_test]
async fn synced_tables_cannot_auto_increment() {
    let err = open(&unique_db_name("autoinc"), 1.0, json!({"todos": "++id"}))
        .await
        .err()
        .unwrap();
    assert_eq!(error_name(&err), "InvalidInputError");
    assert!(
        error_message(&err).contains("randomUUID"),
        "{}",
        error_message(&err)
    );
}

#[wasm_bindgen_test]
async fn queries_by_index_equality_and_range() {
    let c = client("queries").await;
    let records: Vec<Value> = (0..10)
        .map(|i| json!({"id": format!("t{i}"), "done": i % 2, "owner": if i < 5 {"ann"} else {"bob"}, "address": {"city": format!("c{i}")}}))
        .collect();
    let n = c
        .bulk_put("todos".into(), to_js(&json!(records)))
        .await
        .unwrap();
    assert_eq!(n, 10);
    let q = |v: Value| to_js(&v);
    let done = from_js(
        &c.query("todos".into(), q(json!({"index": "done", "equals": 1})))
            .await
            .unwrap(),
    );
    assert_eq!(done.as_array().unwrap().len(), 5);
    let compound = from_js(
        &c.query(
            "todos".into(),
            q(json!({"index": "[owner+done]", "equals": ["ann", 0]})),
        )
        .await
        .unwrap(),
    );
    assert_eq!(compound.as_array().unwrap().len(), 3);
    let range = from_js(
        &c.query(
            "todos".into(),
            q(json!({"aboveOrEqual": "t3", "below": "t6"})),
        )
        .await
        .unwrap(),
    );
    let ids: Vec<&str> = range
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["t3", "t4", "t5"]);
    let nested = from_js(
        &c.query(
            "todos".into(),
            q(json!({"index": "address.city", "above": "c7"})),
        )
        .await
        .unwrap(),
    );
    assert_eq!(nested.as_array().unwrap().len(), 2);
    let limited = from_js(
        &c.query(
            "todos".into(),
            q(json!({"index": "done", "equals": 0, "limit": 2})),
        )
        .await
        .unwrap(),
    );
    assert_eq!(limited.as_array().unwrap().len(), 2);
    assert_eq!(c.count("todos".into()).await.unwrap(), 10);
    assert_eq!(
        from_js(&c.get_all("todos".into()).await.unwrap())
            .as_array()
            .unwrap()
            .len(),
        10
    );
    let err = c
        .query("todos".into(), q(json!({"index": "nope", "equals": 1})))
        .await
        .unwrap_err();
    assert!(
        error_message(&err).contains("no index \"nope\""),
        "{}",
        error_message(&err)
    );
    drop_db(c).await;
}

#[wasm_bindgen_test]
async fn bad_input_is_rejected_with_the_path_and_nothing_is_written() {
    let c = client("bad-input").await;
    let with_date = js_sys::Object::new();
    js_sys::Reflect::set(&with_date, &"id".into(), &"d1".into()).unwrap();
    js_sys::Reflect::set(&with_date, &"due".into(), &js_sys::Date::new_0()).unwrap();
    let err = c
        .put("todos".into(), with_date.clone().into(), None)
        .await
        .unwrap_err();
    assert_eq!(error_name(&err), "InvalidInputError");
    assert!(
        error_message(&err).contains("due: a Date cannot be synced"),
        "{}",
        error_message(&err)
    );

    let batch = js_sys::Array::of2(&to_js(&json!({"id": "ok", "done": 0})), &with_date.into());
    let err = c.bulk_put("todos".into(), batch.into()).await.unwrap_err();
    assert!(
        error_message(&err).contains("records[1]"),
        "{}",
        error_message(&err)
    );
    assert_eq!(
        c.count("todos".into()).await.unwrap(),
        0,
        "bulkPut is all or nothing"
    );

    let err = c
        .put("todos".into(), to_js(&json!({"title": "no id"})), None)
        .await
        .unwrap_err();
    assert!(
        error_message(&err).contains("no primary key"),
        "{}",
        error_message(&err)
    );
    let err = c
        .put("nope".into(), to_js(&json!({"id": "x"})), None)
        .await
        .unwrap_err();
    assert_eq!(error_name(&err), "UnknownTableError");
    let err = c
        .update("todos".into(), key("x"), to_js(&json!({"id": "y"})))
        .await
        .unwrap_err();
    assert!(
        error_message(&err).contains("primary key"),
        "{}",
        error_message(&err)
    );
    assert!(raw_rows(&c.db_name(), "_changes").await.is_empty());
    drop_db(c).await;
}

#[wasm_bindgen_test]
async fn a_failed_write_leaves_nothing_half_written() {
    let name = unique_db_name("constraint");
    let c = open(&name, 1.0, json!({"users": "id, &email"}))
        .await
        .unwrap();
    c.put(
        "users".into(),
        to_js(&json!({"id": "u1", "email": "a@x"})),
        None,
    )
    .await
    .unwrap();
    let err = c
        .bulk_put(
            "users".into(),
            to_js(&json!([{"id": "u2", "email": "b@x"}, {"id": "u3", "email": "a@x"}])),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error_name(&err),
        "ConstraintError",
        "{}",
        error_message(&err)
    );
    assert!(
        error_message(&err).contains("bulkPut of 2 records into \"users\""),
        "{}",
        error_message(&err)
    );
    assert_eq!(
        c.count("users".into()).await.unwrap(),
        1,
        "u2 was rolled back with u3"
    );
    assert_eq!(
        raw_rows(&name, "_changes").await.len(),
        1,
        "no log row for the failed batch"
    );
    drop_db(c).await;
}

#[wasm_bindgen_test]
async fn client_id_and_clock_survive_a_reload() {
    let name = unique_db_name("identity");
    let c = open(&name, 1.0, todos()).await.unwrap();
    let id = c.client_id();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    c.put("todos".into(), to_js(&json!({"id": "a"})), None)
        .await
        .unwrap();
    let first = stamp_of(&raw_rows(&name, "_changes").await[0]);
    c.close().await;

    let again = open(&name, 1.0, todos()).await.unwrap();
    assert_eq!(again.client_id(), id);
    assert!(
        again.storage().clock_last() >= first,
        "the clock resumes from the log"
    );
    // Acknowledge everything: the clock must still not go back after a reload.
    let batch = again.storage().pending(100).await.unwrap();
    again.storage().acknowledge(&batch.revs).await.unwrap();
    again.close().await;
    let third = open(&name, 1.0, todos()).await.unwrap();
    assert!(
        third.storage().clock_last() >= first,
        "and from the persisted clock"
    );
    drop_db(third).await;
}

fn remote(v: Value) -> Vec<Change> {
    serde_json::from_value(v).unwrap()
}

#[wasm_bindgen_test]
async fn remote_changes_merge_field_by_field_without_logging() {
    let c = client("remote").await;
    let name = c.db_name();
    // A pending local edit of the title…
    c.put(
        "todos".into(),
        to_js(&json!({"id": "t1", "title": "local", "done": 0})),
        None,
    )
    .await
    .unwrap();
    let rows_before = raw_rows(&name, "_changes").await.len();
    let far_future = "2999-01-01T00:00:00.000000000Z";
    let long_ago = "2000-01-01T00:00:00.000000000Z";
    let result = c
        .storage()
        .apply_remote(
            &remote(json!([
                // …beats an older remote title, while a newer remote field lands;
                {"table": "todos", "id": "t1", "op": "update", "fields": {
                    "title": {"value": "remote", "updatedAt": long_ago},
                    "done": {"value": 1, "updatedAt": far_future}}},
                // a record this client never saw is created;
                {"table": "todos", "id": "t2", "op": "insert", "fields": {
                    "title": {"value": "from afar", "updatedAt": long_ago}}},
                // a table this client does not sync is skipped.
                {"table": "notes", "id": 5, "op": "delete"}
            ])),
            None,
        )
        .await
        .unwrap();
    assert_eq!((result.applied, result.skipped), (2, 1));
    let changed: Vec<String> = result.changed.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(changed, ["t1", "t2"]);
    // The pending local `done: 0` lost to the newer remote value.
    assert_eq!(result.conflicts.len(), 1);
    assert_eq!(result.conflicts[0].field, "done");
    assert_eq!(result.conflicts[0].client_value, json!(0));
    let t1 = from_js(&c.get("todos".into(), key("t1")).await.unwrap());
    assert_eq!(
        (t1["title"].clone(), t1["done"].clone()),
        (json!("local"), json!(1))
    );
    let t2 = from_js(&c.get("todos".into(), key("t2")).await.unwrap());
    assert_eq!(
        t2,
        json!({"id": "t2", "title": "from afar"}),
        "the key is set on the record"
    );
    assert_eq!(
        raw_rows(&name, "_changes").await.len(),
        rows_before,
        "remote applies are not logged"
    );
    // The clock observed the far-future stamp: the next local write beats it.
    assert!(c.storage().clock_last() >= Timestamp::parse(far_future).unwrap());

    // A newer remote title beats the pending local one: reported as a conflict.
    let result = c
        .storage()
        .apply_remote(
            &remote(
                json!([{"table": "todos", "id": "t1", "op": "update", "fields": {
                "title": {"value": "newest", "updatedAt": "3000-01-01T00:00:00Z"}}}]),
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(result.conflicts.len(), 1);
    assert_eq!(result.conflicts[0].client_value, json!("local"));
    assert_eq!(result.conflicts[0].server_value, json!("newest"));
    assert_eq!(
        from_js(&c.get("todos".into(), key("t1")).await.unwrap())["title"],
        "newest"
    );

    // A remote delete removes the record.
    c.storage()
        .apply_remote(&remote(json!([{"table": "todos", "id": "t2", "op": "delete", "deletedAt": "3000-01-01T00:00:00Z"}])), None)
        .await
        .unwrap();
    assert!(
        c.get("todos".into(), key("t2"))
            .await
            .unwrap()
            .is_undefined()
    );
    drop_db(c).await;
}

#[wasm_bindgen_test]
async fn remote_apply_checks_and_moves_the_cursor_atomically() {
    let c = client("cursor").await;
    let change =
        remote(json!([{"table": "todos", "id": "t1", "op": "insert", "data": {"title": "x"}}]));
    let cursor = |expected, next| Some(("cursor:todos", expected, next));
    c.storage()
        .apply_remote(&change, cursor(None, "c1"))
        .await
        .unwrap();
    assert_eq!(
        c.storage()
            .meta("cursor:todos")
            .await
            .unwrap()
            .as_string()
            .as_deref(),
        Some("c1")
    );
    // A response fetched from an older cursor is refused whole.
    let stale =
        remote(json!([{"table": "todos", "id": "t9", "op": "insert", "data": {"title": "y"}}]));
    let err = c
        .storage()
        .apply_remote(&stale, cursor(None, "c2"))
        .await
        .unwrap_err();
    assert_eq!(err.js_name(), "StaleCursorError");
    assert!(
        c.get("todos".into(), key("t9"))
            .await
            .unwrap()
            .is_undefined()
    );
    assert_eq!(
        c.storage()
            .meta("cursor:todos")
            .await
            .unwrap()
            .as_string()
            .as_deref(),
        Some("c1")
    );
    drop_db(c).await;
}

#[wasm_bindgen_test]
async fn pending_changes_coalesce_and_acknowledge_exactly_what_was_read() {
    let c = client("pending").await;
    c.put(
        "todos".into(),
        to_js(&json!({"id": "a", "title": "1", "done": 0})),
        None,
    )
    .await
    .unwrap();
    c.update("todos".into(), key("a"), to_js(&json!({"title": "2"})))
        .await
        .unwrap();
    c.put("todos".into(), to_js(&json!({"id": "b", "done": 0})), None)
        .await
        .unwrap();
    c.delete("todos".into(), key("b")).await.unwrap();
    assert_eq!(c.pending_count().await.unwrap(), 4);

    let batch = c.storage().pending(100).await.unwrap();
    assert_eq!(batch.changes.len(), 2, "one change per record");
    let a = &batch.changes[0];
    assert_eq!(a.op, fieldsync::core::Op::Insert);
    assert_eq!(a.fields.as_ref().unwrap()["title"].value, Some(json!("2")));
    assert_eq!(batch.changes[1].op, fieldsync::core::Op::Delete);
    assert_eq!(batch.revs.len(), 4);

    // A write made after the batch was read stays pending.
    c.update("todos".into(), key("a"), to_js(&json!({"done": 1})))
        .await
        .unwrap();
    c.storage().acknowledge(&batch.revs).await.unwrap();
    assert_eq!(c.pending_count().await.unwrap(), 1);
    let next = c.storage().pending(100).await.unwrap();
    assert_eq!(next.changes.len(), 1);
    assert_eq!(next.changes[0].op, fieldsync::core::Op::Update);
    let limited = c.storage().pending(0).await.unwrap();
    assert!(limited.changes.is_empty() && limited.revs.is_empty());
    drop_db(c).await;
}

#[wasm_bindgen_test]
async fn change_events_fire_after_commit_and_can_be_unsubscribed() {
    let c = client("events").await;
    let seen: Rc<RefCell<Vec<Value>>> = Rc::default();
    let record = {
        let seen = seen.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| seen.borrow_mut().push(from_js(&e)))
    };
    let throwing = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
        wasm_bindgen::throw_str("a listener that throws");
    });
    let off = c
        .on("change".into(), record.as_ref().clone().unchecked_into())
        .unwrap();
    c.on("change".into(), throwing.as_ref().clone().unchecked_into())
        .unwrap();
    c.put("todos".into(), to_js(&json!({"id": "a", "done": 0})), None)
        .await
        .unwrap();
    c.storage()
        .apply_remote(
            &remote(json!([{"table": "todos", "id": "r", "op": "insert", "data": {"x": 1}}])),
            None,
        )
        .await
        .unwrap();
    off.call0(&JsValue::NULL).unwrap();
    c.put("todos".into(), to_js(&json!({"id": "b", "done": 0})), None)
        .await
        .unwrap();
    assert_eq!(
        *seen.borrow(),
        [
            json!({"tables": ["todos"], "source": "local"}),
            json!({"tables": ["todos"], "source": "remote"})
        ],
        "the throwing listener broke nothing; no event after unsubscribing"
    );
    let err = c
        .on("nope".into(), js_sys::Function::new_no_args(""))
        .unwrap_err();
    assert!(error_message(&err).contains("unknown event"));
    drop_db(c).await;
}

#[wasm_bindgen_test]
async fn storage_mutated_message_reaches_dexie_listeners() {
    let c = client("broadcast").await;
    let channel = web_sys::BroadcastChannel::new("x-storagemutated-1").unwrap();
    let got: Rc<RefCell<Option<Value>>> = Rc::default();
    let on_message = {
        let got = got.clone();
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let keys = js_sys::Object::keys(e.data().unchecked_ref::<js_sys::Object>());
            *got.borrow_mut() = Some(json!(
                keys.iter()
                    .filter_map(|k| k.as_string())
                    .collect::<Vec<_>>()
            ));
        })
    };
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    c.put("todos".into(), to_js(&json!({"id": "a", "done": 0})), None)
        .await
        .unwrap();
    for _ in 0..50 {
        if got.borrow().is_some() {
            break;
        }
        sleep(10).await;
    }
    let keys = got.borrow().clone().expect("the message arrived");
    let prefix = format!("idb://{}/todos/", c.db_name());
    for part in ["", ":dels", "done", "[owner+done]", "address.city"] {
        assert!(
            keys.as_array()
                .unwrap()
                .contains(&json!(format!("{prefix}{part}"))),
            "{part}: {keys}"
        );
    }
    channel.close();
    drop_db(c).await;
}

#[wasm_bindgen_test]
async fn upgrading_keeps_data_and_pending_changes() {
    let name = unique_db_name("upgrade");
    let v1 = open(&name, 1.0, json!({"todos": "id"})).await.unwrap();
    v1.put("todos".into(), to_js(&json!({"id": "a", "done": 0})), None)
        .await
        .unwrap();
    // v1 stays open: its connection must step aside for the upgrade.
    let v2 = open(
        &name,
        2.0,
        json!({"todos": "id, done", "tags": "id, *names"}),
    )
    .await
    .unwrap();
    assert_eq!(
        from_js(&v2.get("todos".into(), key("a")).await.unwrap())["done"],
        0
    );
    assert_eq!(v2.pending_count().await.unwrap(), 1);
    let by_done = from_js(
        &v2.query(
            "todos".into(),
            to_js(&json!({"index": "done", "equals": 0})),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        by_done.as_array().unwrap().len(),
        1,
        "the new index covers old records"
    );
    // The v1 client reopens on next use (the database is now at a higher version).
    v1.put("todos".into(), to_js(&json!({"id": "b"})), None)
        .await
        .unwrap();
    assert_eq!(v2.count("todos".into()).await.unwrap(), 2);
    v1.close().await;
    // A primary-key change cannot be an upgrade: a clear error, nothing lost.
    let err = open(&name, 3.0, json!({"todos": "title"}))
        .await
        .err()
        .unwrap();
    assert_eq!(error_name(&err), "UpgradeError", "{}", error_message(&err));
    assert!(
        error_message(&err).contains("primary key"),
        "{}",
        error_message(&err)
    );
    assert_eq!(v2.count("todos".into()).await.unwrap(), 2);
    drop_db(v2).await;
}

#[wasm_bindgen_test]
async fn schema_errors_name_the_table_and_part() {
    let err = open(
        &unique_db_name("schema"),
        1.0,
        json!({"todos": "id, ++title"}),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(error_name(&err), "SchemaError");
    let message = error_message(&err);
    assert!(
        message.contains("\"todos\"") && message.contains("++title"),
        "{message}"
    );
}

#[wasm_bindgen_test]
async fn on_blocked_fires_while_an_old_connection_holds_the_database() {
    let name = unique_db_name("blocked");
    open(&name, 1.0, todos()).await.unwrap().close().await;
    // A raw connection that ignores versionchange, like a stuck tab.
    let stuck = testing::raw_open(&name, None, |_| {}, || {}).await;
    let calls = Rc::new(RefCell::new(Vec::<Value>::new()));
    let on_blocked = {
        let calls = calls.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            calls.borrow_mut().push(from_js(&e));
            stuck.close(); // the "tab" goes away; the upgrade proceeds
        })
    };
    let options = to_js(&json!({"dbName": name, "version": 2, "schema": todos()}));
    js_sys::Reflect::set(&options, &"onBlocked".into(), on_blocked.as_ref()).unwrap();
    let v2 = fieldsync::SyncClient::open(options).await.unwrap();
    assert_eq!(*calls.borrow(), [json!({"dbName": name})]);
    drop_db(v2).await;
}

#[wasm_bindgen_test]
async fn tabs_share_one_clock_so_a_later_write_is_stamped_later() {
    let name = unique_db_name("shared-clock");
    let tab1 = open(&name, 1.0, todos()).await.unwrap();
    let tab2 = open(&name, 1.0, todos()).await.unwrap();
    // Tab 1 learns of a stamp 30 s ahead (within the server's drift bound).
    let ahead = Timestamp::new(js_sys::Date::now() as u64 + 30_000, 0);
    tab1.storage()
        .apply_remote(
            &remote(json!([{"table": "todos", "id": "r", "op": "insert",
                "fields": {"done": {"value": 0, "updatedAt": ahead.to_string()}}}])),
            None,
        )
        .await
        .unwrap();
    // Tab 2, which never saw it, writes afterwards: its write must win.
    tab2.update("todos".into(), key("r"), to_js(&json!({"done": 1})))
        .await
        .unwrap();
    tab2.put("todos".into(), to_js(&json!({"id": "s", "done": 0})), None)
        .await
        .unwrap();
    let rows = raw_rows(&name, "_changes").await;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert!(stamp_of(row) > ahead, "{} <= {ahead}", stamp_of(row));
    }
    tab2.close().await;
    drop_db(tab1).await;
}
