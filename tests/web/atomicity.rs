//! Every write path is all or nothing: a throw injected at each request of
//! each path (through `fieldsync::testing::fail_at_step`) leaves the
//! database exactly as it was — app stores, `_changes` and
//! `_fieldsync_meta` alike.

use std::future::Future;

use fieldsync::SyncClient;
use fieldsync::core::Change;
use fieldsync::testing::{self, Internals};
use serde_json::{Value, json};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{
    drop_db, error_message, error_name, open_with, raw_rows, to_js, unique_db_name,
};

/// A client syncing `todos`, with a local-only `notes` table.
async fn client(test: &str) -> SyncClient {
    open_with(
        &unique_db_name(test),
        1.0,
        json!({"todos": "id, done", "notes": "++id"}),
        json!({"tables": ["todos"]}),
    )
    .await
    .unwrap()
}

/// Everything the database holds.
async fn snapshot(db: &str) -> Value {
    let mut all = serde_json::Map::new();
    for store in ["todos", "notes", "_changes", "_fieldsync_meta"] {
        all.insert(store.into(), Value::Array(raw_rows(db, store).await));
    }
    Value::Object(all)
}

/// Runs `op` with a fault injected at its first request, then its second,
/// and so on until it completes without reaching the fault; after each
/// failed run the database must be unchanged. Returns how many requests the
/// path issues.
async fn break_every_step<F, Fut>(db: &str, path: &str, op: F) -> u32
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), JsValue>>,
{
    for step in 0..200 {
        let before = snapshot(db).await;
        testing::fail_at_step(step);
        let outcome = op().await;
        let fault_unreached = testing::disarm();
        match outcome {
            Ok(()) => {
                assert!(
                    fault_unreached,
                    "{path}: the fault at request {step} was swallowed"
                );
                assert!(step > 0, "{path}: issued no request");
                return step;
            }
            Err(err) => {
                assert!(!fault_unreached, "{path}: failed before request {step}");
                assert_eq!(error_name(&err), "DataError", "{path}, request {step}");
                assert!(
                    error_message(&err).contains("nothing was written"),
                    "{path}: {}",
                    error_message(&err)
                );
                assert_eq!(
                    snapshot(db).await,
                    before,
                    "{path}: a fault at request {step} left part of the call behind"
                );
            }
        }
    }
    panic!("{path}: more than 200 requests");
}

fn changes(value: Value) -> Vec<Change> {
    fieldsync::core::codec::changes(&value, "changes").unwrap()
}

#[wasm_bindgen_test]
async fn a_throw_at_any_request_of_any_write_path_leaves_nothing_behind() {
    let c = client("atomic").await;
    let db = c.db_name();
    c.put("todos".into(), to_js(&json!({"id": "t0", "done": 0})), None)
        .await
        .unwrap();

    let steps = break_every_step(&db, "put", || async {
        c.put("todos".into(), to_js(&json!({"id": "t1", "done": 0})), None)
            .await
            .map(drop)
    })
    .await;
    assert!(
        steps >= 4,
        "put: record, clock read, log row, clock: {steps}"
    );

    break_every_step(&db, "bulkPut (synced)", || async {
        let records = to_js(&json!([{"id": "a"}, {"id": "b"}, {"id": "c"}]));
        c.bulk_put("todos".into(), records).await.map(drop)
    })
    .await;

    break_every_step(&db, "bulkPut (local-only)", || async {
        let records = to_js(&json!([{"id": 1}, {"id": 2}, {"id": 3}]));
        c.bulk_put("notes".into(), records).await.map(drop)
    })
    .await;

    break_every_step(&db, "update", || async {
        c.update("todos".into(), "t0".into(), to_js(&json!({"done": 1})))
            .await
            .map(drop)
    })
    .await;

    break_every_step(&db, "delete", || async {
        c.delete("todos".into(), "t1".into()).await
    })
    .await;

    let page = changes(json!([
        {"table": "todos", "id": "r1", "op": "insert", "data": {"done": 0}},
        {"table": "todos", "id": "t0", "op": "update", "fields": {
            "done": {"value": 5, "updatedAt": "2999-01-01T00:00:00Z"}}},
        {"table": "todos", "id": "r2", "op": "delete", "deletedAt": "2000-01-01T00:00:00Z"}
    ]));
    let steps = break_every_step(&db, "remote page with its cursor", || async {
        c.storage()
            .apply_remote(&page, Some(("cursor:todos", None, "c1")))
            .await
            .map(drop)
            .map_err(JsValue::from)
    })
    .await;
    assert!(steps >= 5, "a remote page: {steps} requests");
    assert_eq!(
        c.storage().meta("cursor:todos").await.unwrap().as_string(),
        Some("c1".into()),
        "the page and its cursor landed together"
    );

    let pending = c.storage().pending(100).await.unwrap();
    assert!(pending.revs.len() >= 4);
    break_every_step(&db, "acknowledge", || async {
        c.storage()
            .acknowledge(&pending.revs)
            .await
            .map_err(JsValue::from)
    })
    .await;
    assert_eq!(c.pending_count().await.unwrap(), 0);

    c.put("todos".into(), to_js(&json!({"id": "t2"})), None)
        .await
        .unwrap();
    break_every_step(&db, "retryFailed", || async {
        c.retry_failed().await.map(drop)
    })
    .await;
    drop_db(c).await;
}

#[wasm_bindgen_test]
async fn a_bad_key_in_the_middle_of_a_bulk_put_writes_none_of_it() {
    let c = client("bad-key").await;
    let db = c.db_name();
    // A synchronous DataError from IndexedDB on the second record: the
    // first one's put was already issued and must be rolled back.
    let err = c
        .bulk_put("notes".into(), to_js(&json!([{"id": "a"}, {"id": null}])))
        .await
        .unwrap_err();
    assert_eq!(error_name(&err), "DataError", "{}", error_message(&err));
    assert!(
        raw_rows(&db, "notes").await.is_empty(),
        "\"a\" was rolled back"
    );

    // The same on a synced table is caught before anything is written.
    let err = c
        .bulk_put("todos".into(), to_js(&json!([{"id": "a"}, {"id": null}])))
        .await
        .unwrap_err();
    assert_eq!(error_name(&err), "InvalidInputError");
    assert!(raw_rows(&db, "todos").await.is_empty());
    assert!(raw_rows(&db, "_changes").await.is_empty());
    drop_db(c).await;
}
