//! The server on a real socket (127.0.0.1, a free port) over a real SQLite
//! file: the protocol of SPEC §2, end to end.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fieldsync_server::{AppState, Config, run};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::{Backend, fresh_database};

struct Server {
    base: String,
    state: Arc<AppState>,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    db: std::path::PathBuf,
}

/// Runs a scenario once per backend.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await
            }
        }
    )*};
}

impl Server {
    async fn start(backend: Backend) -> Server {
        Server::start_with(backend, |_| {}).await
    }

    async fn start_with(backend: Backend, tune: impl FnOnce(&mut Config)) -> Server {
        let db = fresh_database(backend).await;
        Server::on(&db, tune).await
    }

    async fn on(database_url: &str, tune: impl FnOnce(&mut Config)) -> Server {
        let db = std::path::PathBuf::from(database_url);
        let mut config = Config {
            database_url: database_url.to_owned(),
            jwt_secret: Some("test-secret".into()),
            ws_auth_timeout: Duration::from_millis(500),
            ..Config::default()
        };
        tune(&mut config);
        let state = AppState::new(config).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        Server {
            base,
            state,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
            db,
        }
    }

    fn token(&self, user: &str) -> String {
        self.state.auth.mint(user, 3600).unwrap()
    }

    async fn push(&self, user: &str, body: Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}/sync/todo", self.base))
            .bearer_auth(self.token(user))
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }

    async fn pull(&self, user: &str, query: &str) -> (u16, Value) {
        let res = self
            .http
            .get(format!("{}/sync/todo/pull?{query}", self.base))
            .bearer_auth(self.token(user))
            .header("X-Client-Id", "puller")
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }

    /// Pulls `collection` from the start until `hasMore` is false.
    async fn pull_all(&self, user: &str, collection: &str, limit: u32) -> Vec<Value> {
        let mut since = String::new();
        let mut out = Vec::new();
        loop {
            let (status, page) = self
                .pull(
                    user,
                    &format!("collection={collection}&limit={limit}&since={since}"),
                )
                .await;
            assert_eq!(status, 200, "{page}");
            out.extend(page["serverChanges"].as_array().unwrap().iter().cloned());
            since = page["syncedUntil"].as_str().unwrap().to_owned();
            if !page["hasMore"].as_bool().unwrap() {
                return out;
            }
        }
    }

    async fn ws(&self, token: &str, client_id: &str) -> Ws {
        let url = format!("{}/ws/todo", self.base.replace("http://", "ws://"));
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let auth = json!({"type": "auth", "token": token, "clientId": client_id}).to_string();
        ws.send(Message::Text(auth.into())).await.unwrap();
        ws
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
        if !self.db.starts_with("postgres") {
            let _ = std::fs::remove_file(&self.db);
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message, or `None` if the socket closed or stayed silent.
async fn next_json(ws: &mut Ws, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => return None,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

async fn seed_001_flow(backend: Backend) {
    let s = Server::start(backend).await;
    let health: Value = s
        .http
        .get(format!("{}/health", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");

    // Client A inserts with plain `data`.
    let (status, res) = s
        .push("alice", json!({"clientId": "tab-a", "since": "1970-01-01T00:00:00.000Z", "changes": [
            {"table": "todos", "id": "todo-123", "op": "insert", "data": {"title": "Buy milk", "completed": false}}]}))
        .await;
    assert_eq!(status, 200, "{res}");
    assert!(res["syncedUntil"].is_string() && res["conflicts"] == json!([]));

    // Client B pulls it.
    let changes = s.pull_all("alice", "todos", 100).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["fields"]["title"]["value"], "Buy milk");
    assert_eq!(changes[0]["op"], "insert");

    // A updates with per-field timestamps (made after the insert); B sees it.
    let later = fieldsync_core::Timestamp::new(now() * 1000 + 1000, 1).to_string();
    let (status, _) = s
        .push(
            "alice",
            json!({"clientId": "tab-a", "changes": [
            {"table": "todos", "id": "todo-123", "op": "update", "fields": {
                "title": {"value": "Buy eggs", "updatedAt": later}}}]}),
        )
        .await;
    assert_eq!(status, 200);
    let changes = s.pull_all("alice", "todos", 100).await;
    assert_eq!(changes[0]["fields"]["title"]["value"], "Buy eggs");
    assert_eq!(
        changes[0]["fields"]["completed"]["value"], false,
        "other fields kept"
    );

    // A deletes; B sees the delete.
    let (status, _) = s
        .push("alice", json!({"clientId": "tab-a", "changes": [
            {"table": "todos", "id": "todo-123", "op": "delete", "deletedAt": "2099-01-01T00:00:00Z"}]}))
        .await;
    assert_eq!(status, 200);
    let changes = s.pull_all("alice", "todos", 100).await;
    assert_eq!(changes[0]["op"], "delete");

    // Unauthenticated.
    let res = s
        .http
        .get(format!("{}/sync/todo/pull?collection=todos", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization")
    );
    s.stop().await;
}

async fn field_level_lww_between_two_clients_reports_conflicts(backend: Backend) {
    let s = Server::start(backend).await;
    let upd = |client: &str, fields: Value| json!({"clientId": client, "changes": [{"table": "todos", "id": "t1", "op": "update", "fields": fields}]});
    s.push(
        "u",
        upd(
            "b",
            json!({"title": {"value": "Buy eggs", "updatedAt": "2024-01-01T10:05:30Z"}}),
        ),
    )
    .await;
    let (status, res) = s
        .push(
            "u",
            upd(
                "a",
                json!({
            "title": {"value": "Buy milk", "updatedAt": "2024-01-01T10:05:00Z"},
            "completed": {"value": true, "updatedAt": "2024-01-01T10:06:00Z"}}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let conflicts = res["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0]["field"], "title");
    assert_eq!(conflicts[0]["clientValue"], "Buy milk");
    assert_eq!(conflicts[0]["serverValue"], "Buy eggs");
    assert!(
        conflicts[0]["serverTimestamp"]
            .as_str()
            .unwrap()
            .starts_with("2024-01-01T10:05:30")
    );
    // The losing client is sent the record as stored.
    let sent = &res["serverChanges"][0];
    assert_eq!(sent["fields"]["title"]["value"], "Buy eggs");
    let all = s.pull_all("u", "todos", 10).await;
    assert_eq!(all[0]["fields"]["title"]["value"], "Buy eggs");
    assert_eq!(all[0]["fields"]["completed"]["value"], true);
    s.stop().await;
}

async fn a_bad_batch_is_rejected_whole_and_writes_nothing(backend: Backend) {
    let s = Server::start(backend).await;
    let (status, res) = s
        .push(
            "u",
            json!({"clientId": "a", "changes": [
            {"table": "todos", "id": "ok", "op": "insert", "data": {"x": 1}},
            {"table": "todos", "id": "bad", "op": "upsert", "data": {"x": 2}}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(res["error"]["code"], "invalid_request");
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("changes[1].op: unknown variant `upsert`"),
        "{res}"
    );
    assert_eq!(res["error"]["details"], json!({"index": 1}), "{res}");
    assert!(s.pull_all("u", "todos", 10).await.is_empty());
    s.stop().await;
}

/// Each way one change of three can be refused: the error names it by its
/// position, and nothing of the batch is stored.
async fn a_refused_change_is_named_by_its_index(backend: Backend) {
    let s = Server::start(backend).await;
    let many_fields: serde_json::Map<String, Value> =
        (0..1001).map(|i| (format!("f{i}"), json!(i))).collect();
    let ok = |id: &str| json!({"table": "todos", "id": id, "op": "insert", "data": {"x": 1}});
    for (bad, needle) in [
        (
            json!({"table": "", "id": "b", "op": "insert", "data": {"x": 1}}),
            "changes[1].table",
        ),
        (
            json!({"table": "_meta", "id": "b", "op": "insert", "data": {"x": 1}}),
            "reserved",
        ),
        (
            json!({"table": "todos", "id": {"no": 1}, "op": "insert", "data": {"x": 1}}),
            "changes[1].id",
        ),
        (
            json!({"table": "todos", "id": "", "op": "insert", "data": {"x": 1}}),
            "changes[1].id",
        ),
        (
            json!({"table": "todos", "id": "b", "op": "insert", "data": many_fields}),
            "1001 fields",
        ),
        (
            json!({"table": "todos", "id": "b", "op": "update",
                   "fields": {"x": {"value": 1, "updatedAt": "tomorrow"}}}),
            "changes[1].fields.x.updatedAt",
        ),
        (
            json!({"table": "todos", "id": "b", "op": "update"}),
            "no `data`",
        ),
    ] {
        let (status, res) = s
            .push(
                "u",
                json!({"clientId": "a", "changes": [ok("first"), bad, ok("third")]}),
            )
            .await;
        assert_eq!(status, 400, "{res}");
        let message = res["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{needle}: {res}");
        assert_eq!(res["error"]["details"], json!({"index": 1}), "{res}");
        assert_eq!(
            res["error"].as_object().unwrap().len(),
            3,
            "code, message, details: {res}"
        );
    }
    assert!(s.pull_all("u", "todos", 10).await.is_empty());
    // An error about no one change has no `details` member at all.
    let (status, res) = s.push("u", json!({"clientId": " ", "changes": []})).await;
    assert_eq!(status, 400);
    assert_eq!(
        res["error"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["code", "message"],
        "{res}"
    );
    s.stop().await;
}

/// Over the body limit is 413 `payload_too_large`, whether the body says
/// its size up front (answered before it is sent: without the server's own
/// `Content-Length` check it would wait for the body) or arrives in chunks.
async fn an_oversized_batch_is_refused_with_413(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Server::start_with(backend, |c| c.max_body_bytes = 4096).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let token = s.token("u");
    let exchange = |head: String, body: Vec<u8>| {
        let addr = addr.clone();
        async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.write_all(head.as_bytes()).await.unwrap();
            tcp.write_all(&body).await.unwrap();
            let mut answer = Vec::new();
            let mut buf = [0u8; 4096];
            // The headers and the JSON body come in one or two reads; the
            // server may keep the connection open.
            while !String::from_utf8_lossy(&answer).contains("}}") {
                match tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            String::from_utf8_lossy(&answer).into_owned()
        }
    };
    // Announced at 100 MB, not one byte sent: the answer must come anyway.
    let head = format!(
        "POST /sync/todo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
    );
    let started = std::time::Instant::now();
    let answer = exchange(head, Vec::new()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"payload_too_large\""), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Chunked, no size announced: cut off at the limit.
    let pad = "x".repeat(8000);
    let body = format!("{{\"clientId\":\"a\",\"changes\":[],\"pad\":\"{pad}\"}}");
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    let head = format!(
        "POST /sync/todo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let answer = exchange(head, chunked.into_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"payload_too_large\""), "{answer}");
    // Under the limit it goes through.
    let (status, res) = s
        .push(
            "u",
            json!({"clientId": "a", "changes": [
            {"table": "todos", "id": "t", "op": "insert", "data": {"pad": "y".repeat(3000)}}]}),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    s.stop().await;
}

async fn retrying_a_batch_changes_nothing(backend: Backend) {
    let s = Server::start(backend).await;
    let batch = json!({"clientId": "a", "changes": [
        {"table": "todos", "id": "t1", "op": "insert", "data": {"title": "x"}},
        {"table": "todos", "id": "t2", "op": "update", "fields": {
            "n": {"value": 1, "updatedAt": "2024-01-01T00:00:00Z"},
            "far": {"value": 2, "updatedAt": "2999-01-01T00:00:00Z"}}},
        {"table": "todos", "id": "t3", "op": "delete"}]});
    let (_, first) = s.push("u", batch.clone()).await;
    let before = s.pull_all("u", "todos", 10).await;
    for _ in 0..3 {
        let (status, again) = s.push("u", batch.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(
            again["syncedUntil"], first["syncedUntil"],
            "no new feed positions"
        );
        assert_eq!(again["conflicts"], json!([]));
    }
    assert_eq!(s.pull_all("u", "todos", 10).await, before);
    // The far-future stamp was bounded, and the client was told.
    let far = before.iter().find(|c| c["id"] == "t2").unwrap();
    assert!(far["fields"]["far"]["updatedAt"].as_str().unwrap() < "2100");
    assert!(
        first["serverChanges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "t2")
    );
    s.stop().await;
}

async fn users_are_isolated(backend: Backend) {
    let s = Server::start(backend).await;
    s.push("alice", json!({"clientId": "a", "changes": [{"table": "todos", "id": "secret", "op": "insert", "data": {"x": 1}}]}))
        .await;
    assert!(s.pull_all("bob", "todos", 10).await.is_empty());
    let (_, res) = s
        .push(
            "bob",
            json!({"clientId": "b", "since": "c0", "changes": []}),
        )
        .await;
    assert_eq!(res["serverChanges"], json!([]));
    assert_eq!(s.pull_all("alice", "todos", 10).await.len(), 1);
    s.stop().await;
}

async fn pulls_page_and_never_skip_a_change_committed_concurrently(backend: Backend) {
    let s = Arc::new(Server::start(backend).await);
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 50;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let s = s.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let (status, res) = s
                    .push("u", json!({"clientId": format!("w{w}"), "changes": [
                        {"table": "todos", "id": format!("w{w}-{i}"), "op": "insert", "data": {"i": i}}]}))
                    .await;
                assert_eq!(status, 200, "{res}");
            }
        }));
    }
    // Pull in small pages while the writers run, keeping the cursor.
    let mut seen = std::collections::BTreeSet::new();
    let mut since = String::new();
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        loop {
            let (status, page) = s
                .pull("u", &format!("collection=todos&limit=7&since={since}"))
                .await;
            assert_eq!(status, 200, "{page}");
            for c in page["serverChanges"].as_array().unwrap() {
                seen.insert(c["id"].as_str().unwrap().to_owned());
            }
            since = page["syncedUntil"].as_str().unwrap().to_owned();
            if !page["hasMore"].as_bool().unwrap() {
                break;
            }
        }
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(
        seen.len(),
        WRITERS * PER_WRITER,
        "every change reached the incremental puller"
    );
    Arc::try_unwrap(s).ok().unwrap().stop().await;
}

async fn bad_inputs_get_the_spec_error_shape(backend: Backend) {
    let s = Server::start(backend).await;
    let raw = |body: &'static str| {
        s.http
            .post(format!("{}/sync/todo", s.base))
            .bearer_auth(s.token("u"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let res = raw("{\"clientId\": ").await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_json"
    );
    for (body, needle) in [
        (
            "{\"clientId\":\"a\",\"changes\":[{\"id\":\"1\",\"op\":\"delete\"}]}",
            "missing field `table`",
        ),
        (
            "{\"clientId\":\"a\",\"changes\":[{\"table\":\"t\",\"op\":\"delete\"}]}",
            "missing field `id`",
        ),
        (
            "{\"clientId\":\"a\",\"changes\":[{\"table\":\"t\",\"id\":1,\"op\":\"update\",\"fields\":{\"a\":{\"value\":1,\"updatedAt\":5}}}]}",
            "RFC 3339",
        ),
        ("{\"clientId\":\"a\",\"changes\":{}}", "expected a sequence"),
    ] {
        let res = raw(body).await.unwrap();
        assert_eq!(res.status(), 400, "{body}");
        let v: Value = res.json().await.unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {v}"
        );
    }
    let (status, v) = s.pull("u", "collection=todos&since=yesterday").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("invalid_cursor"))
    );
    let (status, v) = s.pull("u", "since=c1").await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("collection"),
        "{v}"
    );

    // Over 10 MB.
    let big = format!(
        "{{\"clientId\":\"a\",\"changes\":[],\"pad\":\"{}\"}}",
        "x".repeat(10 * 1024 * 1024)
    );
    let res = s
        .http
        .post(format!("{}/sync/todo", s.base))
        .bearer_auth(s.token("u"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "payload_too_large"
    );

    // Bad and expired tokens.
    for (token, needle) in [
        ("not-a-jwt".to_owned(), "not a valid JWT"),
        (expired_token("test-secret"), "expired"),
        (expired_token_with_secret_ok("wrong-secret"), "signature"),
    ] {
        let res = s
            .http
            .get(format!("{}/sync/todo/pull?collection=todos", s.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let v: Value = res.json().await.unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{v}"
        );
    }
    s.stop().await;
}

fn token_with(secret: &str, exp: u64) -> String {
    let claims = json!({"sub": "u", "exp": exp});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn expired_token(secret: &str) -> String {
    token_with(secret, now() - 3600)
}

fn expired_token_with_secret_ok(secret: &str) -> String {
    token_with(secret, now() + 3600)
}

async fn websocket_auth_notifications_ping_and_limits(backend: Backend) {
    let s = Server::start_with(backend, |c| c.max_sockets_per_user = 3).await;
    let alice = s.token("alice");
    let mut a1 = s.ws(&alice, "tab-1").await;
    let mut a2 = s.ws(&alice, "tab-2").await;
    let mut bob = s.ws(&s.token("bob"), "bob-1").await;
    for ws in [&mut a1, &mut a2, &mut bob] {
        assert_eq!(
            next_json(ws, Duration::from_secs(2)).await.unwrap(),
            json!({"type": "auth-ok"})
        );
    }
    // A push from tab-1 notifies tab-2 only: not the pusher, not another user.
    s.push(
        "alice",
        json!({"clientId": "tab-1", "changes": [
        {"table": "todos", "id": "t", "op": "insert", "data": {"x": 1}},
        {"table": "notes", "id": "n", "op": "insert", "data": {"x": 1}}]}),
    )
    .await;
    assert_eq!(
        next_json(&mut a2, Duration::from_secs(2)).await.unwrap(),
        json!({"type": "sync-available", "tables": ["notes", "todos"]})
    );
    assert_eq!(next_json(&mut a1, Duration::from_millis(300)).await, None);
    assert_eq!(next_json(&mut bob, Duration::from_millis(300)).await, None);

    // Ping → pong.
    a1.send(Message::Text(json!({"type": "ping"}).to_string().into()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut a1, Duration::from_secs(2)).await.unwrap(),
        json!({"type": "pong"})
    );

    // The per-user cap.
    let mut a3 = s.ws(&alice, "tab-3").await;
    assert_eq!(
        next_json(&mut a3, Duration::from_secs(2)).await.unwrap()["type"],
        "auth-ok"
    );
    let mut a4 = s.ws(&alice, "tab-4").await;
    let refused = next_json(&mut a4, Duration::from_secs(2)).await.unwrap();
    assert_eq!(refused["type"], "error");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("too many open connections")
    );

    // A bad token is refused with an error, then the socket closes.
    let mut bad = s.ws("nope", "x").await;
    assert_eq!(
        next_json(&mut bad, Duration::from_secs(2)).await.unwrap()["type"],
        "error"
    );
    assert_eq!(next_json(&mut bad, Duration::from_secs(2)).await, None);

    // No auth within the timeout (500 ms here, 10 s by default).
    let url = format!("{}/ws/todo", s.base.replace("http://", "ws://"));
    let (mut silent, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let msg = next_json(&mut silent, Duration::from_secs(3))
        .await
        .unwrap();
    assert!(
        msg["message"].as_str().unwrap().contains("no auth message"),
        "{msg}"
    );

    // Oversized messages close the socket.
    a1.send(Message::Text("x".repeat(100 * 1024).into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut a1, Duration::from_secs(2)).await, None);
    let health: Value = s
        .http
        .get(format!("{}/health", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(health["connections"].as_u64().unwrap() >= 3);
    s.stop().await;
}

async fn metrics_count_requests_and_changes(backend: Backend) {
    let s = Server::start(backend).await;
    s.push("u", json!({"clientId": "a", "changes": [{"table": "todos", "id": "1", "op": "insert", "data": {"x": 1}}]}))
        .await;
    s.pull("u", "collection=todos").await;
    let text = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("fieldsync_push_requests_total 1"), "{text}");
    assert!(text.contains("fieldsync_pull_requests_total 1"));
    assert!(text.contains("fieldsync_changes_ingested_total 1"));
    assert!(text.contains("fieldsync_push_duration_ms_count 1"));
    s.stop().await;
}

async fn dev_mode_mints_tokens_and_is_off_by_default(backend: Backend) {
    let off = Server::start(backend).await;
    let res = off
        .http
        .post(format!("{}/dev/token", off.base))
        .body("{\"user\":\"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    off.stop().await;
    let dev = Server::start_with(backend, |c| {
        c.dev_mode = true;
        c.jwt_secret = None;
    })
    .await;
    let res: Value = dev
        .http
        .post(format!("{}/dev/token", dev.base))
        .body("{\"user\":\"demo\"}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = res["token"].as_str().unwrap();
    let pull = dev
        .http
        .get(format!("{}/sync/todo/pull?collection=todos", dev.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(pull.status(), 200);
    dev.stop().await;
}

async fn shutdown_finishes_a_push_in_flight(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = Server::start(backend).await;
    let changes: Vec<Value> = (0..5000)
        .map(|i| json!({"table": "todos", "id": format!("r{i}"), "op": "insert", "data": {"i": i}}))
        .collect();
    let body = json!({"clientId": "a", "changes": changes}).to_string();
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /sync/todo HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        s.token("u"),
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body.as_bytes()).await.unwrap();
    // The whole request is on the wire and being handled: now shut down.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let _ = s.stop.take().unwrap().send(());
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "{}",
        &response[..response.len().min(200)]
    );
    s.task.take().unwrap().await.unwrap().unwrap();
    // Everything committed: a new server on the same file sees it.
    let db = s.db.clone();
    let again = Server::on(&db.display().to_string(), |_| {}).await;
    assert_eq!(again.pull_all("u", "todos", 1000).await.len(), 5000);
    again.stop().await;
}

async fn concurrent_pushes_to_one_record_lose_no_field(backend: Backend) {
    const PUSHES: usize = 60;
    let s = Arc::new(Server::start(backend).await);
    let stamp = fieldsync_core::Timestamp::new(now() * 1000, 0).to_string();
    // Everyone starts together, and each transaction is long enough (30
    // more records) for unguarded transactions to overlap.
    let start = Arc::new(tokio::sync::Barrier::new(PUSHES));
    let mut tasks = Vec::new();
    for i in 0..PUSHES {
        let (s, stamp, start) = (s.clone(), stamp.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            let mut changes = vec![json!({"table": "todos", "id": "shared", "op": "update",
                "fields": {format!("f{i}"): {"value": i, "updatedAt": stamp}}})];
            changes.extend((0..30).map(|j| json!({"table": "todos", "id": format!("p{i}-{j}"), "op": "insert", "data": {"j": j}})));
            start.wait().await;
            let (status, res) = s.push("u", json!({"clientId": format!("c{i}"), "changes": changes})).await;
            assert_eq!(status, 200, "{res}");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = s.pull_all("u", "todos", 5000).await;
    let shared = all.iter().find(|c| c["id"] == "shared").unwrap();
    assert_eq!(
        shared["fields"].as_object().unwrap().len(),
        PUSHES,
        "every concurrent field write survived"
    );
    Arc::try_unwrap(s).ok().unwrap().stop().await;
}

async fn a_failing_push_does_not_affect_pushes_committed_with_it(backend: Backend) {
    const PUSHES: usize = 40;
    let s = Arc::new(Server::start(backend).await);
    let start = Arc::new(tokio::sync::Barrier::new(PUSHES));
    let mut tasks = Vec::new();
    for i in 0..PUSHES {
        let (s, start) = (s.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            // Every third push carries a cursor the server cannot read.
            let since = if i % 3 == 0 { "yesterday" } else { "c0" };
            start.wait().await;
            let (status, _) = s
                .push(
                    "u",
                    json!({"clientId": format!("c{i}"), "since": since, "changes": [
                    {"table": "todos", "id": format!("r{i}"), "op": "insert", "data": {"i": i}}]}),
                )
                .await;
            (i, status)
        }));
    }
    let mut expected = std::collections::BTreeSet::new();
    for t in tasks {
        let (i, status) = t.await.unwrap();
        assert_eq!(status, if i % 3 == 0 { 400 } else { 200 }, "push {i}");
        if i % 3 != 0 {
            expected.insert(format!("r{i}"));
        }
    }
    let stored: std::collections::BTreeSet<String> = s
        .pull_all("u", "todos", 100)
        .await
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored, expected, "exactly the valid pushes were stored");
    Arc::try_unwrap(s).ok().unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_allows_configured_origins_only() {
    let s = Server::start_with(Backend::Sqlite, |c| {
        c.cors_origins = Some(vec!["http://app.example".into()])
    })
    .await;
    let preflight = |origin: &'static str| {
        s.http
            .request(reqwest::Method::OPTIONS, format!("{}/sync/todo", s.base))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight("http://app.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    let methods = ok.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let other = preflight("http://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    s.stop().await;
}

/// A corpus of hostile requests: each gets the right error, and the stored
/// data is exactly what it was before.
async fn hostile_requests_get_clear_errors_and_change_nothing(backend: Backend) {
    let s = Server::start(backend).await;
    let (status, _) = s
        .push(
            "u",
            json!({"clientId": "c", "changes": [
                {"table": "todos", "id": "t1", "op": "insert", "data": {"title": "keep me", "n": 1}}
            ]}),
        )
        .await;
    assert_eq!(status, 200);
    let before = s.pull("u", "collection=todos").await;
    let change = |extra: Value| {
        let mut c = json!({"table": "todos", "id": "t1", "op": "update"});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"clientId": "c", "changes": [c]}).to_string()
    };
    let ts = "2030-01-01T00:00:00.000000000Z";
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let many_fields: serde_json::Map<String, Value> = (0..5000)
        .map(|i| (format!("f{i}"), json!({"value": i, "updatedAt": ts})))
        .collect();
    let cases: Vec<(&str, Vec<u8>, u16, &str, &str)> = vec![
        ("a number beyond f64", format!(r#"{{"clientId":"c","changes":[{{"table":"todos","id":"t1","op":"update","fields":{{"n":{{"value":1e400,"updatedAt":"{ts}"}}}}}}]}}"#).into_bytes(), 400, "malformed_json", "number out of range"),
        ("an id beyond 2^53", change(json!({"id": 9007199254740993u64, "fields": {"n": {"value": 1, "updatedAt": ts}}})).into_bytes(), 400, "invalid_request", "string"),
        ("5,000 levels of nesting", format!(r#"{{"clientId":"c","changes":[{{"table":"todos","id":"t1","op":"update","fields":{{"n":{{"value":{deep},"updatedAt":"{ts}"}}}}}}]}}"#).into_bytes(), 400, "malformed_json", "recursion limit"),
        ("invalid UTF-8", [&br#"{"clientId":"c","changes":[{"table":"todos","id":"t1","op":"update","fields":{"n":{"value":""#[..], &[0xff, 0xfe], &br#"","updatedAt":"2030-01-01T00:00:00Z"}}}]}"#[..]].concat(), 400, "malformed_json", "invalid unicode"),
        ("a 10 MB string", change(json!({"fields": {"n": {"value": "x".repeat(10 * 1024 * 1024), "updatedAt": ts}}})).into_bytes(), 413, "payload_too_large", "10485760"),
        ("__proto__ in data", br#"{"clientId":"c","changes":[{"table":"todos","id":"t1","op":"insert","data":{"__proto__":{"admin":true}}}]}"#.to_vec(), 400, "invalid_request", "__proto__"),
        ("__proto__ in fields", change(json!({"fields": {"__proto__": {"value": 1, "updatedAt": ts}}})).into_bytes(), 400, "invalid_request", "__proto__"),
        ("5,000 fields", change(json!({"fields": many_fields})).into_bytes(), 400, "invalid_request", "fields"),
        ("a 300-byte field name", change(json!({"fields": {"x".repeat(300): {"value": 1, "updatedAt": ts}}})).into_bytes(), 400, "invalid_request", "longer than"),
        ("a 200-byte table name", change(json!({"table": "t".repeat(200), "fields": {"n": {"value": 1, "updatedAt": ts}}})).into_bytes(), 400, "invalid_request", "table name"),
        ("a NUL in a table name", change(json!({"table": "to\u{0}dos", "fields": {"n": {"value": 1, "updatedAt": ts}}})).into_bytes(), 400, "invalid_request", "table name"),
        ("an empty id", change(json!({"id": "", "fields": {"n": {"value": 1, "updatedAt": ts}}})).into_bytes(), 400, "invalid_request", "id"),
        ("an object id", change(json!({"id": {"a": 1}, "fields": {"n": {"value": 1, "updatedAt": ts}}})).into_bytes(), 400, "invalid_request", "id"),
        ("a year-10000 timestamp", change(json!({"fields": {"n": {"value": 1, "updatedAt": "10000-01-01T00:00:00Z"}}})).into_bytes(), 400, "invalid_request", "RFC 3339"),
        ("an unknown op", change(json!({"op": "drop_table"})).into_bytes(), 400, "invalid_request", "unknown variant"),
        ("one bad change among good ones", json!({"clientId": "c", "changes": [
            {"table": "todos", "id": "t1", "op": "update", "fields": {"title": {"value": "overwritten", "updatedAt": ts}}},
            {"table": "todos", "id": "t2", "op": "update"}
        ]}).to_string().into_bytes(), 400, "invalid_request", "changes[1]"),
    ];
    for (what, body, status, code, needle) in cases {
        let res = s
            .http
            .post(format!("{}/sync/todo", s.base))
            .bearer_auth(s.token("u"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let got = res.status().as_u16();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(
            (got, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{what}: {}",
            v.to_string().chars().take(300).collect::<String>()
        );
        let message = v["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains(needle),
            "{what}: {message:?} should mention {needle:?}"
        );
        assert_eq!(
            s.pull("u", "collection=todos").await,
            before,
            "{what} changed the stored data"
        );
    }
    // A NUL inside a value, a field name and an id is data like any other:
    // stored and returned exactly.
    let (status, v) = s
        .push(
            "u",
            json!({"clientId": "c", "changes": [
                {"table": "todos", "id": "n\u{0}ul", "op": "insert", "data": {"t\u{0}itle": "a\u{0}b"}}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (_, page) = s.pull("u", "collection=todos").await;
    let stored = page["serverChanges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "n\u{0}ul")
        .expect("the NUL record is there");
    assert_eq!(stored["fields"]["t\u{0}itle"]["value"], "a\u{0}b");
    // Pulling a table nobody wrote is not an error: it is empty.
    let (status, page) = s.pull("u", "collection=never_written").await;
    assert_eq!(
        (status, page["serverChanges"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_mode_serves_the_demo_directory() {
    let dir = std::env::temp_dir().join(format!("fieldsync-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("fieldsync")).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>demo</h1>").unwrap();
    std::fs::write(dir.join("fieldsync/fieldsync_bg.wasm"), b"\0asm").unwrap();
    let static_dir = dir.clone();
    let s = Server::start_with(Backend::Sqlite, move |c| {
        c.dev_mode = true;
        c.static_dir = Some(static_dir);
    })
    .await;
    let index = s.http.get(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(index.text().await.unwrap(), "<h1>demo</h1>");
    let wasm = s
        .http
        .get(format!("{}/fieldsync/fieldsync_bg.wasm", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        wasm.headers()["content-type"],
        "application/wasm",
        "streaming compilation needs the wasm type"
    );
    let escape = s
        .http
        .get(format!("{}/../Cargo.toml", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(escape.status(), 404);
    let health = s
        .http
        .get(format!("{}/health", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the API routes still win over files");
    s.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// Two server instances on one PostgreSQL database behave as one: a push
/// to one reaches WebSockets held by the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notifications_cross_instances_on_postgres() {
    let db = fresh_database(Backend::Postgres).await;
    let a = Server::on(&db, |_| {}).await;
    let b = Server::on(&db, |_| {}).await;
    let mut on_b = b.ws(&b.token("alice"), "tab-b").await;
    assert_eq!(
        next_json(&mut on_b, Duration::from_secs(2)).await.unwrap()["type"],
        "auth-ok"
    );
    let (status, _) = a
        .push("alice", json!({"clientId": "tab-a", "changes": [{"table": "todos", "id": "t", "op": "insert", "data": {"x": 1}}]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        next_json(&mut on_b, Duration::from_secs(5)).await.unwrap(),
        json!({"type": "sync-available", "tables": ["todos"]})
    );
    // And b serves what a stored.
    assert_eq!(b.pull_all("alice", "todos", 10).await.len(), 1);
    a.stop().await;
    b.stop().await;
}

on_both_databases!(
    a_failing_push_does_not_affect_pushes_committed_with_it,
    concurrent_pushes_to_one_record_lose_no_field,
    seed_001_flow,
    field_level_lww_between_two_clients_reports_conflicts,
    a_bad_batch_is_rejected_whole_and_writes_nothing,
    a_refused_change_is_named_by_its_index,
    an_oversized_batch_is_refused_with_413,
    retrying_a_batch_changes_nothing,
    users_are_isolated,
    pulls_page_and_never_skip_a_change_committed_concurrently,
    bad_inputs_get_the_spec_error_shape,
    hostile_requests_get_clear_errors_and_change_nothing,
    websocket_auth_notifications_ping_and_limits,
    metrics_count_requests_and_changes,
    dev_mode_mints_tokens_and_is_off_by_default,
    shutdown_finishes_a_push_in_flight,
);

/// A JWKS endpoint on loopback, counting fetches; its key set can change.
struct JwksServer {
    url: String,
    fetches: Arc<std::sync::atomic::AtomicUsize>,
    keys: Arc<std::sync::Mutex<Vec<jsonwebtoken::jwk::Jwk>>>,
}

async fn jwks_server() -> JwksServer {
    use axum::{Json, Router, routing::get};
    let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let keys: Arc<std::sync::Mutex<Vec<jsonwebtoken::jwk::Jwk>>> = Arc::default();
    let app = Router::new().route(
        "/jwks.json",
        get({
            let (fetches, keys) = (fetches.clone(), keys.clone());
            move || async move {
                fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Json(jsonwebtoken::jwk::JwkSet {
                    keys: keys.lock().unwrap().clone(),
                })
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    JwksServer { url, fetches, keys }
}

/// A private key made by openssl, as a jsonwebtoken key and its public JWK.
fn keypair(
    kind: &str,
    kid: &str,
) -> (
    jsonwebtoken::EncodingKey,
    jsonwebtoken::Algorithm,
    jsonwebtoken::jwk::Jwk,
) {
    use jsonwebtoken::{Algorithm, EncodingKey};
    let dir = std::env::temp_dir().join(format!("fieldsync-keys-{}-{kid}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("key.pem");
    let args: Vec<&str> = match kind {
        "ed25519" => vec!["genpkey", "-algorithm", "ed25519"],
        "p256" => vec![
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
        _ => vec![
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
    };
    let status = std::process::Command::new("openssl")
        .args(&args)
        .arg("-out")
        .arg(&pem)
        .status()
        .expect("openssl runs");
    assert!(status.success());
    let bytes = std::fs::read(&pem).unwrap();
    let (key, alg) = match kind {
        "ed25519" => (EncodingKey::from_ed_pem(&bytes).unwrap(), Algorithm::EdDSA),
        "p256" => (EncodingKey::from_ec_pem(&bytes).unwrap(), Algorithm::ES256),
        _ => (EncodingKey::from_rsa_pem(&bytes).unwrap(), Algorithm::RS256),
    };
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    let _ = std::fs::remove_dir_all(&dir);
    (key, alg, jwk)
}

fn signed(
    key: &jsonwebtoken::EncodingKey,
    alg: jsonwebtoken::Algorithm,
    kid: &str,
    claims: Value,
) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jwks_tokens_eddsa_es256_rs256_with_rotation_and_rate_limited_refetch() {
    use std::sync::atomic::Ordering::SeqCst;
    let idp = jwks_server().await;
    let (ed, ed_alg, ed_jwk) = keypair("ed25519", "ed-1");
    let (ec, ec_alg, ec_jwk) = keypair("p256", "ec-1");
    let (rsa, rsa_alg, rsa_jwk) = keypair("rsa", "rsa-1");
    idp.keys.lock().unwrap().extend([ed_jwk, ec_jwk]);
    let url = idp.url.clone();
    let s = Server::start_with(Backend::Sqlite, move |c| {
        c.jwt_secret = None;
        c.jwks_url = Some(url);
        c.jwt_audience = Some("fieldsync".into());
        c.jwt_issuer = Some("https://id.example".into());
    })
    .await;
    assert_eq!(idp.fetches.load(SeqCst), 1, "fetched once at start-up");
    let claims = |sub: &str| json!({"sub": sub, "exp": now() + 600, "aud": "fieldsync", "iss": "https://id.example"});
    let pull = |token: String| {
        let (http, base) = (s.http.clone(), s.base.clone());
        async move {
            let res = http
                .get(format!("{base}/sync/todo/pull?collection=todos"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(
        pull(signed(&ed, ed_alg, "ed-1", claims("alice"))).await.0,
        200,
        "EdDSA"
    );
    assert_eq!(
        pull(signed(&ec, ec_alg, "ec-1", claims("alice"))).await.0,
        200,
        "ES256"
    );

    // A rotated-in key is fetched when first seen…
    idp.keys.lock().unwrap().push(rsa_jwk);
    assert_eq!(
        pull(signed(&rsa, rsa_alg, "rsa-1", claims("alice")))
            .await
            .0,
        200,
        "RS256 after rotation"
    );
    assert_eq!(
        idp.fetches.load(SeqCst),
        2,
        "the unknown key id caused one refetch"
    );
    // …and forged key ids cannot make the server hammer the provider: no
    // second refetch within 30 s.
    for i in 0..5 {
        let (status, body) =
            pull(signed(&ed, ed_alg, &format!("forged-{i}"), claims("alice"))).await;
        assert_eq!(status, 401);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not in the server's JWKS"),
            "{body}"
        );
    }
    assert_eq!(idp.fetches.load(SeqCst), 2, "at most one refetch per 30 s");

    // Claims are checked: audience, issuer, expiry, and the key must match the alg.
    let mut wrong_aud = claims("alice");
    wrong_aud["aud"] = json!("someone-else");
    let (status, body) = pull(signed(&ed, ed_alg, "ed-1", wrong_aud)).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("aud"),
        "{body}"
    );
    let mut expired = claims("alice");
    expired["exp"] = json!(now() - 3600);
    assert_eq!(pull(signed(&ec, ec_alg, "ec-1", expired)).await.0, 401);
    let (status, body) = pull(signed(&ec, ec_alg, "ed-1", claims("alice"))).await;
    assert_eq!(status, 401, "an ES256 token naming the Ed25519 key");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("ed-1"),
        "{body}"
    );
    // HS256 is refused when no secret is configured.
    let (status, body) = pull(token_with("anything", now() + 600)).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("JWT_SECRET"),
        "{body}"
    );
    s.stop().await;
}

fn hs256(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(b"test-secret"),
    )
    .unwrap()
}

/// A pull with an HS256 token of `claims`: its status and body.
async fn pull_with(s: &Server, claims: &Value) -> (u16, Value) {
    let res = s
        .http
        .get(format!("{}/sync/todo/pull?collection=todos", s.base))
        .bearer_auth(hs256(claims))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// With `JWT_AUDIENCE` and `JWT_ISSUER` configured a token must carry both
/// claims: `aud` as a string or an array naming the audience (RFC 7519
/// §4.1.3). A missing or `null` claim is refused, as is a token used before
/// its `nbf`, over HTTP and WebSocket alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audience_issuer_and_not_before_are_enforced() {
    let s = Server::start_with(Backend::Sqlite, |c| {
        c.jwt_audience = Some("fs-api".into());
        c.jwt_issuer = Some("https://id.example".into());
    })
    .await;
    let exp = now() + 3600;
    let iss = "https://id.example";
    for (claims, expected) in [
        (
            json!({"sub": "u", "exp": exp, "aud": "fs-api", "iss": iss}),
            200,
        ),
        (
            json!({"sub": "u", "exp": exp, "aud": ["other", "fs-api"], "iss": iss}),
            200,
        ),
        (
            json!({"sub": "u", "exp": exp, "aud": ["other", "more"], "iss": iss}),
            401,
        ),
        (json!({"sub": "u", "exp": exp, "aud": [], "iss": iss}), 401),
        (
            json!({"sub": "u", "exp": exp, "aud": "other", "iss": iss}),
            401,
        ),
        (json!({"sub": "u", "exp": exp, "iss": iss}), 401),
        (
            json!({"sub": "u", "exp": exp, "aud": null, "iss": iss}),
            401,
        ),
        (json!({"sub": "u", "exp": exp, "aud": "fs-api"}), 401),
        (
            json!({"sub": "u", "exp": exp, "aud": "fs-api", "iss": null}),
            401,
        ),
        (
            json!({"sub": "u", "exp": exp, "aud": "fs-api", "iss": "https://evil.example"}),
            401,
        ),
        (
            json!({"sub": "u", "exp": exp, "aud": "fs-api", "iss": iss, "nbf": now() - 60}),
            200,
        ),
        (
            json!({"sub": "u", "exp": exp, "aud": "fs-api", "iss": iss, "nbf": now() + 600}),
            401,
        ),
    ] {
        let (status, body) = pull_with(&s, &claims).await;
        assert_eq!(status, expected, "{claims}: {body}");
        if expected == 401 {
            assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        }
    }
    // The WebSocket checks tokens the same way.
    let early =
        hs256(&json!({"sub": "u", "exp": exp, "aud": ["fs-api"], "iss": iss, "nbf": now() + 600}));
    let mut ws = s.ws(&early, "tab").await;
    let answer = next_json(&mut ws, Duration::from_secs(2)).await.unwrap();
    assert_eq!(answer["type"], "error", "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("nbf"),
        "{answer}"
    );
    let mut ws = s
        .ws(&hs256(&json!({"sub": "u", "exp": exp, "iss": iss})), "tab")
        .await;
    let answer = next_json(&mut ws, Duration::from_secs(2)).await.unwrap();
    assert_eq!(answer["type"], "error", "{answer}");
    let good = hs256(&json!({"sub": "u", "exp": exp, "aud": ["fs-api"], "iss": iss}));
    let mut ws = s.ws(&good, "tab").await;
    assert_eq!(
        next_json(&mut ws, Duration::from_secs(2)).await.unwrap(),
        json!({"type": "auth-ok"})
    );
    s.stop().await;
}

/// Without a configured audience `aud` is not required, and an array is
/// read, not refused as malformed; `nbf` still holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_an_audience_any_aud_shape_passes_but_nbf_holds() {
    let s = Server::start(Backend::Sqlite).await;
    let exp = now() + 3600;
    for (claims, expected) in [
        (json!({"sub": "u", "exp": exp}), 200),
        (json!({"sub": "u", "exp": exp, "aud": ["a", "b"]}), 200),
        (json!({"sub": "u", "exp": exp, "nbf": now() + 600}), 401),
    ] {
        let (status, body) = pull_with(&s, &claims).await;
        assert_eq!(status, expected, "{claims}: {body}");
    }
    s.stop().await;
}
