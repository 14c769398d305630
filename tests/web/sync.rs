//! `sync()` in real Chromium against the real server process that
//! `scripts/with-server` starts (its URL is compiled in).

use fieldsync::SyncClient;
use serde_json::{Value, json};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{
    dev_token, device, drop_db, error_message, error_name, from_js, open_with, server, sleep, sync,
    to_js, unique_db_name,
};

async fn title(client: &SyncClient, id: &str) -> Value {
    from_js(
        &client
            .get("todos".into(), JsValue::from_str(id))
            .await
            .unwrap(),
    )
}

#[wasm_bindgen_test]
async fn two_devices_converge_on_the_seed_examples() {
    let user = unique_db_name("user");
    let token = dev_token(&user).await;
    let (a, b) = (device(&user, &token).await, device(&user, &token).await);

    a.put(
        "todos".into(),
        to_js(&json!({"id": "todo-123", "title": "Buy milk", "completed": false})),
        None,
    )
    .await
    .unwrap();
    let report = sync(&a).await.unwrap();
    assert_eq!(report["pushed"], 1, "{report}");
    assert_eq!(a.pending_count().await.unwrap(), 0, "acknowledged");
    let report = sync(&b).await.unwrap();
    assert_eq!(report["pulled"], 1, "{report}");
    assert_eq!(title(&b, "todo-123").await["title"], "Buy milk");

    // Different fields on two devices merge; the later title wins everywhere.
    a.update(
        "todos".into(),
        JsValue::from_str("todo-123"),
        to_js(&json!({"title": "Buy milk!", "completed": true})),
    )
    .await
    .unwrap();
    // Later by the wall clock (not just by the tie rule).
    sleep(5).await;
    b.update(
        "todos".into(),
        JsValue::from_str("todo-123"),
        to_js(&json!({"title": "Buy eggs"})),
    )
    .await
    .unwrap();
    sync(&a).await.unwrap();
    sync(&b).await.unwrap();
    sync(&a).await.unwrap();
    for device in [&a, &b] {
        let record = title(device, "todo-123").await;
        assert_eq!(record["title"], "Buy eggs", "{record}");
        assert_eq!(record["completed"], true, "{record}");
    }

    // A delete travels too.
    b.delete("todos".into(), JsValue::from_str("todo-123"))
        .await
        .unwrap();
    sync(&b).await.unwrap();
    sync(&a).await.unwrap();
    assert!(
        a.get("todos".into(), JsValue::from_str("todo-123"))
            .await
            .unwrap()
            .is_undefined()
    );
    drop_db(a).await;
    drop_db(b).await;
}

#[wasm_bindgen_test]
async fn concurrent_sync_calls_share_one_run() {
    let user = unique_db_name("user");
    let a = device(&user, &dev_token(&user).await).await;
    a.put(
        "todos".into(),
        to_js(&json!({"id": "x", "completed": false})),
        None,
    )
    .await
    .unwrap();
    let (first, second) = (a.sync(), a.sync());
    let first = from_js(&JsFuture::from(first).await.unwrap());
    let second = from_js(&JsFuture::from(second).await.unwrap());
    assert_eq!(first["pushed"], 1);
    assert_eq!(second, first, "the second call joined the first run");
    drop_db(a).await;
}

#[wasm_bindgen_test]
async fn failures_are_typed_errors_and_writes_stay_pending() {
    let local = open_with(
        &unique_db_name("nosrv"),
        1.0,
        json!({"todos": "id"}),
        json!({}),
    )
    .await
    .unwrap();
    let err = sync(&local).await.unwrap_err();
    assert_eq!(error_name(&err), "NoServerError");
    drop_db(local).await;

    let user = unique_db_name("user");
    let bad = device(&user, "not-a-token").await;
    bad.put("todos".into(), to_js(&json!({"id": "kept"})), None)
        .await
        .unwrap();
    let err = sync(&bad).await.unwrap_err();
    assert_eq!(error_name(&err), "AuthError", "{}", error_message(&err));
    assert_eq!(
        bad.pending_count().await.unwrap(),
        1,
        "the write is still pending"
    );
    drop_db(bad).await;

    let unreachable = open_with(
        &unique_db_name("down"),
        1.0,
        json!({"todos": "id"}),
        json!({"serverUrl": "http://127.0.0.1:9", "appId": "web-tests", "token": "t"}),
    )
    .await
    .unwrap();
    unreachable
        .put("todos".into(), to_js(&json!({"id": "kept"})), None)
        .await
        .unwrap();
    let err = sync(&unreachable).await.unwrap_err();
    assert_eq!(error_name(&err), "NetworkError", "{}", error_message(&err));
    assert!(
        error_message(&err).contains("stay pending"),
        "{}",
        error_message(&err)
    );
    assert_eq!(unreachable.pending_count().await.unwrap(), 1);
    drop_db(unreachable).await;
}

#[wasm_bindgen_test]
async fn a_started_client_sees_another_devices_write_through_the_websocket() {
    let user = unique_db_name("user");
    let token = dev_token(&user).await;
    let (a, b) = (device(&user, &token).await, device(&user, &token).await);
    assert_eq!(b.status(), "idle");
    a.start().unwrap();
    b.start().unwrap();
    for _ in 0..200 {
        if a.live() && b.live() {
            break;
        }
        sleep(10).await;
    }
    assert!(a.live() && b.live(), "both sockets authenticated");
    let started = js_sys::Date::now();
    // No sync() call: A's push after the write, the server's notification
    // and B's pull do it all.
    a.put(
        "todos".into(),
        to_js(&json!({"id": "live-1", "title": "from A", "completed": false})),
        None,
    )
    .await
    .unwrap();
    let mut seen = false;
    for _ in 0..500 {
        if !b
            .get("todos".into(), JsValue::from_str("live-1"))
            .await
            .unwrap()
            .is_undefined()
        {
            seen = true;
            break;
        }
        sleep(5).await;
    }
    assert!(
        seen,
        "B received A's write without calling sync(): A pending {}, status {}/{}, last synced {:?}/{:?}",
        a.pending_count().await.unwrap(),
        a.status(),
        b.status(),
        a.last_synced_at(),
        b.last_synced_at()
    );
    web_sys::console::log_1(
        &format!(
            "write-to-visible latency: {:.0} ms",
            js_sys::Date::now() - started
        )
        .into(),
    );
    assert_eq!(a.pending_count().await.unwrap(), 0);
    assert!(b.last_synced_at().is_some());
    a.stop();
    b.stop();
    assert!(!a.live(), "stop() closed the socket");
    drop_db(a).await;
    drop_db(b).await;
}

/// A client whose `token` the server refuses, with a `getToken` that
/// resolves to a good one; also counts the `getToken` calls.
async fn with_refused_token(name: &str, good: String) -> (SyncClient, RefreshHandle) {
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let get_token = {
        let calls = calls.clone();
        // Resolves to a fresh token (a Promise, as an auth library's would).
        wasm_bindgen::prelude::Closure::<dyn FnMut() -> js_sys::Promise>::new(move || {
            calls.set(calls.get() + 1);
            js_sys::Promise::resolve(&JsValue::from_str(&good))
        })
    };
    let options = to_js(&json!({
        "dbName": unique_db_name(name), "version": 1, "schema": {"todos": "id"},
        "serverUrl": server(), "appId": "web-tests", "token": "refused-token"
    }));
    js_sys::Reflect::set(&options, &"getToken".into(), get_token.as_ref()).unwrap();
    let client = SyncClient::open(options).await.unwrap();
    (
        client,
        RefreshHandle {
            calls,
            _get_token: get_token,
        },
    )
}

/// Keeps a `getToken` callback alive and counts its calls.
struct RefreshHandle {
    calls: std::rc::Rc<std::cell::Cell<u32>>,
    _get_token: wasm_bindgen::prelude::Closure<dyn FnMut() -> js_sys::Promise>,
}

#[wasm_bindgen_test]
async fn a_refused_token_is_refreshed_once_through_get_token() {
    let user = unique_db_name("user");
    let (client, refresh) = with_refused_token("refresh", dev_token(&user).await).await;
    let calls = &refresh.calls;
    client
        .put("todos".into(), to_js(&json!({"id": "r1"})), None)
        .await
        .unwrap();
    let report = sync(&client).await.unwrap();
    assert_eq!(report["pushed"], 1, "{report}");
    assert_eq!(calls.get(), 1, "getToken was called once, after the 401");
    sync(&client).await.unwrap();
    assert_eq!(calls.get(), 1, "and the fresh token is kept");
    drop_db(client).await;
}

/// Two clients on one database in one page contend for Web Locks exactly as
/// two tabs of one profile do.
async fn two_tabs(user: &str, token: &str) -> (SyncClient, SyncClient) {
    let db = unique_db_name("tabs");
    let open_tab = || async {
        open_with(
            &db,
            1.0,
            json!({"todos": "id, completed"}),
            json!({"serverUrl": server(), "appId": "web-tests", "token": token}),
        )
        .await
        .unwrap()
    };
    let _ = user;
    (open_tab().await, open_tab().await)
}

#[wasm_bindgen_test]
async fn two_tabs_push_each_change_once() {
    let user = unique_db_name("user");
    let token = dev_token(&user).await;
    let (tab1, tab2) = two_tabs(&user, &token).await;
    tab1.put("todos".into(), to_js(&json!({"id": "from-1"})), None)
        .await
        .unwrap();
    tab2.put("todos".into(), to_js(&json!({"id": "from-2"})), None)
        .await
        .unwrap();
    let (r1, r2) = (tab1.sync(), tab2.sync());
    let r1 = from_js(&JsFuture::from(r1).await.unwrap());
    let r2 = from_js(&JsFuture::from(r2).await.unwrap());
    let pushed = r1["pushed"].as_u64().unwrap() + r2["pushed"].as_u64().unwrap();
    assert_eq!(pushed, 2, "each change pushed once: {r1} / {r2}");
    let other = device(&user, &token).await;
    assert_eq!(sync(&other).await.unwrap()["pulled"], 2);
    drop_db(other).await;
    tab2.close().await;
    drop_db(tab1).await;
}

#[wasm_bindgen_test]
async fn one_tab_leads_background_sync_and_another_takes_over() {
    let user = unique_db_name("user");
    let token = dev_token(&user).await;
    let (tab1, tab2) = two_tabs(&user, &token).await;
    tab1.start().unwrap();
    tab2.start().unwrap();
    for _ in 0..100 {
        if tab1.leader() || tab2.leader() {
            break;
        }
        sleep(10).await;
    }
    sleep(50).await;
    assert!(tab1.leader() ^ tab2.leader(), "exactly one leader");
    let (leader, follower) = if tab1.leader() {
        (&tab1, &tab2)
    } else {
        (&tab2, &tab1)
    };
    // A follower's own writes are still pushed.
    follower
        .put("todos".into(), to_js(&json!({"id": "by-follower"})), None)
        .await
        .unwrap();
    for _ in 0..200 {
        if follower.pending_count().await.unwrap() == 0 {
            break;
        }
        sleep(10).await;
    }
    assert_eq!(
        follower.pending_count().await.unwrap(),
        0,
        "the follower pushed its write"
    );
    // The leader goes away: the follower takes over.
    leader.stop();
    for _ in 0..200 {
        if follower.leader() {
            break;
        }
        sleep(10).await;
    }
    assert!(follower.leader(), "the follower took over");
    follower.stop();
    tab2.close().await;
    drop_db(tab1).await;
}

/// A's pending title is older than B's synced one: A's next sync loses it.
async fn lost_title_on_a(token: &str, user: &str) -> (SyncClient, SyncClient) {
    let (a, b) = (device(user, token).await, device(user, token).await);
    a.put(
        "todos".into(),
        to_js(&json!({"id": "n1", "title": "base", "completed": false})),
        None,
    )
    .await
    .unwrap();
    sync(&a).await.unwrap();
    sync(&b).await.unwrap();
    a.update(
        "todos".into(),
        JsValue::from_str("n1"),
        to_js(&json!({"title": "from A"})),
    )
    .await
    .unwrap();
    sleep(5).await;
    b.update(
        "todos".into(),
        JsValue::from_str("n1"),
        to_js(&json!({"title": "from B"})),
    )
    .await
    .unwrap();
    sync(&b).await.unwrap();
    (a, b)
}

fn resolver(
    f: impl FnMut(JsValue) -> JsValue + 'static,
) -> wasm_bindgen::prelude::Closure<dyn FnMut(JsValue) -> JsValue> {
    wasm_bindgen::prelude::Closure::new(f)
}

#[wasm_bindgen_test]
async fn conflict_resolvers_keep_local_merge_or_fall_back_to_lww() {
    use wasm_bindgen::JsCast;
    let user = unique_db_name("user");
    let token = dev_token(&user).await;

    // "local": A's value wins after all, everywhere.
    let (a, b) = lost_title_on_a(&token, &user).await;
    let keep_local = resolver(|case: JsValue| {
        let case = from_js(&case);
        assert_eq!(case["local"]["title"], "from A");
        assert_eq!(case["remote"]["title"], "from B");
        JsValue::from_str("local")
    });
    a.set_conflict_resolver("todos".into(), keep_local.as_ref().clone())
        .unwrap();
    let report = sync(&a).await.unwrap();
    assert_eq!(report["conflicts"].as_array().unwrap().len(), 1, "{report}");
    sync(&a).await.unwrap();
    sync(&b).await.unwrap();
    assert_eq!(title(&b, "n1").await["title"], "from A");
    assert_eq!(title(&a, "n1").await["title"], "from A");
    drop_db(a).await;
    drop_db(b).await;

    // A merged record.
    let (a, b) = lost_title_on_a(&token, &user).await;
    let merge = resolver(|case: JsValue| {
        let case = from_js(&case);
        let mut merged = case["remote"].clone();
        merged["title"] = json!(format!(
            "{} + {}",
            case["remote"]["title"].as_str().unwrap(),
            case["local"]["title"].as_str().unwrap()
        ));
        to_js(&merged)
    });
    a.set_conflict_resolver("todos".into(), merge.as_ref().clone())
        .unwrap();
    sync(&a).await.unwrap();
    sync(&a).await.unwrap();
    sync(&b).await.unwrap();
    assert_eq!(title(&b, "n1").await["title"], "from B + from A");
    drop_db(a).await;
    drop_db(b).await;

    // A resolver that throws: last write wins stands, an error event says why.
    let (a, b) = lost_title_on_a(&token, &user).await;
    let throws = resolver(|_| wasm_bindgen::throw_str("resolver bug"));
    a.set_conflict_resolver("todos".into(), throws.as_ref().clone())
        .unwrap();
    let errors = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let on_error = {
        let errors = errors.clone();
        wasm_bindgen::prelude::Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            let error = js_sys::Reflect::get(&e, &"error".into()).unwrap();
            errors.borrow_mut().push(error_message(&error));
        })
    };
    a.on("error".into(), on_error.as_ref().clone().unchecked_into())
        .unwrap();
    sync(&a).await.unwrap();
    assert_eq!(title(&a, "n1").await["title"], "from B");
    assert!(
        errors.borrow().iter().any(|m| m.contains("resolver bug")),
        "{:?}",
        errors.borrow()
    );
    drop_db(a).await;
    drop_db(b).await;
}

#[wasm_bindgen_test]
async fn progress_events_report_pulled_records() {
    use wasm_bindgen::JsCast;
    let user = unique_db_name("user");
    let token = dev_token(&user).await;
    let (a, b) = (device(&user, &token).await, device(&user, &token).await);
    let records: Vec<Value> = (0..3)
        .map(|i| json!({"id": format!("p{i}"), "completed": false}))
        .collect();
    a.bulk_put("todos".into(), to_js(&json!(records)))
        .await
        .unwrap();
    sync(&a).await.unwrap();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::<Value>::new()));
    let on_progress = {
        let seen = seen.clone();
        wasm_bindgen::prelude::Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            seen.borrow_mut().push(from_js(&e))
        })
    };
    b.on(
        "progress".into(),
        on_progress.as_ref().clone().unchecked_into(),
    )
    .unwrap();
    sync(&b).await.unwrap();
    assert_eq!(
        seen.borrow().last().cloned(),
        Some(json!({"table": "todos", "applied": 3}))
    );
    drop_db(a).await;
    drop_db(b).await;
}

#[wasm_bindgen_test]
async fn a_live_socket_with_a_refused_token_refreshes_it_and_connects() {
    let user = unique_db_name("user");
    let (client, _refresh) = with_refused_token("ws-refresh", dev_token(&user).await).await;
    client.start().unwrap();
    for _ in 0..500 {
        if client.live() {
            break;
        }
        sleep(10).await;
    }
    assert!(
        client.live(),
        "the socket authenticated with a refreshed token"
    );
    client.stop();
    drop_db(client).await;
}

#[wasm_bindgen_test]
async fn local_only_tables_never_leave_the_device() {
    let user = unique_db_name("user");
    let token = dev_token(&user).await;
    let schema = json!({"todos": "id", "drafts": "++id"});
    let sync_options = |tables: Value| json!({"serverUrl": server(), "appId": "web-tests", "token": token, "tables": tables});
    let a = open_with(
        &unique_db_name("selective-a"),
        1.0,
        schema.clone(),
        sync_options(json!(["todos"])),
    )
    .await
    .unwrap();
    a.put("todos".into(), to_js(&json!({"id": "shared"})), None)
        .await
        .unwrap();
    a.put("drafts".into(), to_js(&json!({"text": "private"})), None)
        .await
        .unwrap();
    assert_eq!(
        sync(&a).await.unwrap()["pushed"],
        1,
        "only the synced table's write"
    );
    // A device that would sync `drafts` finds nothing of A's on the server.
    let b = open_with(
        &unique_db_name("selective-b"),
        1.0,
        json!({"todos": "id", "drafts": "id"}),
        sync_options(json!(["todos", "drafts"])),
    )
    .await
    .unwrap();
    let report = sync(&b).await.unwrap();
    assert_eq!(report["pulled"], 1, "{report}");
    assert_eq!(b.count("drafts".into()).await.unwrap(), 0);
    assert_eq!(
        a.count("drafts".into()).await.unwrap(),
        1,
        "the draft stays on A"
    );
    drop_db(a).await;
    drop_db(b).await;
}
