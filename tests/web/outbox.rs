//! Changes the server refuses for good are set aside, never blocking the
//! rest: in real Chromium against the real server process.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{Value, json};
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{dev_token, device, drop_db, from_js, sync, to_js, unique_db_name};

/// A record with more fields than the server accepts in one change (1,000).
fn too_wide(id: &str) -> Value {
    let mut record = json!({"id": id});
    for i in 0..1001 {
        record[format!("f{i}")] = json!(i);
    }
    record
}

async fn failed(client: &fieldsync::SyncClient) -> Vec<Value> {
    match from_js(&client.failed_changes().await.unwrap()) {
        Value::Array(list) => list,
        other => panic!("failedChanges() returned {other}"),
    }
}

#[wasm_bindgen_test]
async fn a_refused_first_write_is_set_aside_and_every_later_write_syncs() {
    let user = unique_db_name("refused");
    let token = dev_token(&user).await;
    let (a, b) = (device(&user, &token).await, device(&user, &token).await);
    let events = Rc::new(RefCell::new(Vec::<Value>::new()));
    let listener = {
        let events = events.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| events.borrow_mut().push(from_js(&e)))
    };
    let _off = a
        .on("failed".into(), listener.as_ref().clone().into())
        .unwrap();

    a.put("todos".into(), to_js(&too_wide("wide")), None)
        .await
        .unwrap();
    for id in ["t1", "t2"] {
        a.put("todos".into(), to_js(&json!({"id": id, "title": id})), None)
            .await
            .unwrap();
    }
    let report = sync(&a)
        .await
        .expect("a refused change does not fail sync()");
    assert_eq!(report["pushed"], 2, "{report}");
    let listed = report["failed"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{report}");
    let refused = &listed[0];
    assert_eq!(
        (
            &refused["table"],
            &refused["id"],
            &refused["status"],
            &refused["attempts"]
        ),
        (&json!("todos"), &json!("wide"), &json!(400), &json!(1)),
        "{refused}"
    );
    assert!(
        refused["message"].as_str().unwrap().contains("1000"),
        "the server's message: {refused}"
    );
    assert_eq!(events.borrow().len(), 1, "one `failed` event");
    assert_eq!(events.borrow()[0]["failed"][0]["id"], "wide");
    assert_eq!(
        a.pending_count().await.unwrap(),
        0,
        "set aside, not pending"
    );
    assert_eq!(failed(&a).await, *listed);

    // Set aside: not pushed again, while later writes keep syncing.
    a.update(
        "todos".into(),
        "t1".into(),
        to_js(&json!({"title": "later"})),
    )
    .await
    .unwrap();
    let report = sync(&a).await.unwrap();
    assert_eq!(report["pushed"], 1, "{report}");
    assert_eq!(report["failed"][0]["attempts"], 1, "{report}");
    assert_eq!(events.borrow().len(), 1, "no new refusal, no event");
    sync(&b).await.unwrap();
    let seen = from_js(&b.get_all("todos".into()).await.unwrap());
    assert_eq!(
        seen,
        json!([{"id": "t1", "title": "later"}, {"id": "t2", "title": "t2"}])
    );

    // retryFailed() re-queues it; refused again, it counts the attempt.
    assert_eq!(a.retry_failed().await.unwrap(), 1);
    assert_eq!(a.pending_count().await.unwrap(), 1);
    assert!(failed(&a).await.is_empty(), "re-queued: no longer listed");
    let report = sync(&a).await.unwrap();
    assert_eq!(report["failed"][0]["attempts"], 2, "{report}");
    assert_eq!(events.borrow().len(), 2);

    // discardFailed() drops the local change and the local copy.
    assert!(
        a.discard_failed("todos".into(), "wide".into())
            .await
            .unwrap()
    );
    assert!(
        !a.discard_failed("todos".into(), "wide".into())
            .await
            .unwrap()
    );
    assert!(failed(&a).await.is_empty());
    assert!(
        a.get("todos".into(), "wide".into())
            .await
            .unwrap()
            .is_undefined()
    );
    let report = sync(&a).await.unwrap();
    assert_eq!(report["failed"], json!([]), "{report}");
    assert_eq!(report["pulled"], 2, "the table is read again: {report}");
    assert_eq!(from_js(&a.get_all("todos".into()).await.unwrap()), seen);
    drop_db(a).await;
    drop_db(b).await;
}

#[wasm_bindgen_test]
async fn a_batch_over_the_body_limit_is_split_and_a_record_over_it_set_aside() {
    let user = unique_db_name("large");
    let token = dev_token(&user).await;
    let (a, b) = (device(&user, &token).await, device(&user, &token).await);
    // The server takes bodies up to 10 MB: two 6 MB records fit one each.
    let six_mb = "x".repeat(6 * 1024 * 1024);
    for id in ["big1", "big2"] {
        a.put(
            "todos".into(),
            to_js(&json!({"id": id, "body": six_mb})),
            None,
        )
        .await
        .unwrap();
    }
    let eleven_mb = "y".repeat(11 * 1024 * 1024);
    a.put(
        "todos".into(),
        to_js(&json!({"id": "huge", "body": eleven_mb})),
        None,
    )
    .await
    .unwrap();
    let report = sync(&a)
        .await
        .expect("an oversized batch does not fail sync()");
    assert_eq!(report["pushed"], 2, "split in two pushes");
    let refused = &report["failed"][0];
    assert_eq!(
        (&refused["id"], &refused["status"]),
        (&json!("huge"), &json!(413)),
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("larger than the sync server accepts"),
        "{refused}"
    );
    sync(&b).await.unwrap();
    assert_eq!(b.count("todos".into()).await.unwrap(), 2);
    drop_db(a).await;
    drop_db(b).await;
}
