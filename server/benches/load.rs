//! Load benchmark of the sync server on loopback, bounded in time.
//!
//! `cargo bench -p fieldsync-server --bench load` (or `scripts/bench-server`;
//! add `-- --quick` for a short run). The server runs in this process on
//! 127.0.0.1 with a fresh SQLite file (or `DATABASE_URL`); clients are tokio
//! tasks over real sockets. Prints:
//! 1. changes ingested per second at full speed (pushes of 10 changes), with
//!    the raw SQLite insert rate of the same rows (same pragmas, 10 rows per
//!    transaction) measured in the same run as the ceiling;
//! 2. push and pull latency p50/p95/p99 at a fixed 200 requests/s;
//! 3. `sync-available` latency p50/p95/p99 over 1,000 open WebSockets.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fieldsync_server::{AppState, Config, run};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

struct Bench {
    base: String,
    state: Arc<AppState>,
    http: reqwest::Client,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(|a, b| a.total_cmp(b));
    format!(
        "p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  (n={})",
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        percentile(&ms, 0.99),
        ms.len()
    )
}

fn batch(prefix: &str, n: usize) -> serde_json::Value {
    let changes: Vec<_> = (0..10)
        .map(|i| {
            json!({"table": "todos", "id": format!("{prefix}-{n}-{i}"), "op": "insert",
                   "data": {"title": format!("todo {n}.{i}"), "done": false, "owner": "bench", "n": n, "i": i}})
        })
        .collect();
    json!({"clientId": prefix, "changes": changes})
}

impl Bench {
    async fn push(&self, token: &str, body: &serde_json::Value) -> Duration {
        let started = Instant::now();
        let res = self
            .http
            .post(format!("{}/sync/bench", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("push sent");
        assert!(res.status().is_success(), "push failed: {}", res.status());
        let _ = res.bytes().await;
        started.elapsed()
    }

    async fn pull(&self, token: &str) -> Duration {
        let started = Instant::now();
        let res = self
            .http
            .get(format!(
                "{}/sync/bench/pull?collection=todos&limit=100&since=c1",
                self.base
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("pull sent");
        assert!(res.status().is_success(), "pull failed: {}", res.status());
        let _ = res.bytes().await;
        started.elapsed()
    }
}

/// Full speed: `clients` tasks push batches of 10 for `secs`.
async fn full_speed(bench: &Arc<Bench>, clients: usize, secs: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let pushed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (bench, pushed) = (bench.clone(), pushed.clone());
            tokio::spawn(async move {
                let token = bench.state.auth.mint(&format!("user{c}"), 3600).unwrap();
                let mut n = 0;
                while Instant::now() < deadline {
                    bench.push(&token, &batch(&format!("full{c}"), n)).await;
                    pushed.fetch_add(10, Ordering::Relaxed);
                    n += 1;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    pushed.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Fixed rate: `rate` requests/s for `secs`, alternating push and pull.
async fn fixed_rate(bench: &Arc<Bench>, rate: u32, secs: f64) -> (Vec<f64>, Vec<f64>) {
    let token = bench.state.auth.mint("rate", 3600).unwrap();
    bench.push(&token, &batch("seed", 0)).await;
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    let total = (f64::from(rate) * secs) as usize;
    let mut tasks = Vec::with_capacity(total);
    for n in 0..total {
        interval.tick().await;
        let (bench, token) = (bench.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            if n % 2 == 0 {
                (true, bench.push(&token, &batch("rate", n + 1)).await)
            } else {
                (false, bench.pull(&token).await)
            }
        }));
    }
    let (mut pushes, mut pulls) = (Vec::new(), Vec::new());
    for t in tasks {
        let (is_push, d) = t.await.unwrap();
        let ms = d.as_secs_f64() * 1000.0;
        if is_push {
            pushes.push(ms)
        } else {
            pulls.push(ms)
        }
    }
    (pushes, pulls)
}

/// `sockets` WebSockets over `users` users; each push of a user is timed
/// until every one of that user's sockets heard of it.
async fn notifications(
    bench: &Arc<Bench>,
    users: usize,
    sockets: usize,
    pushes: usize,
) -> Vec<f64> {
    let url = format!("{}/ws/bench", bench.base.replace("http://", "ws://"));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let mut readers = Vec::new();
    for s in 0..sockets {
        let user = s % users;
        let token = bench.state.auth.mint(&format!("ws{user}"), 3600).unwrap();
        let (mut ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("socket opened");
        let auth =
            json!({"type": "auth", "token": token, "clientId": format!("sock{s}")}).to_string();
        ws.send(Message::Text(auth.into())).await.unwrap();
        let first = ws.next().await.unwrap().unwrap();
        assert!(first.to_text().unwrap().contains("auth-ok"), "{first:?}");
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                if message
                    .to_text()
                    .is_ok_and(|t| t.contains("sync-available"))
                    && tx.send((user, Instant::now())).is_err()
                {
                    break;
                }
            }
        }));
    }
    let per_user = sockets / users;
    let mut latencies = Vec::with_capacity(pushes * per_user);
    for p in 0..pushes {
        let user = p % users;
        let token = bench.state.auth.mint(&format!("ws{user}"), 3600).unwrap();
        let started = Instant::now();
        bench.push(&token, &batch("notify", p)).await;
        for _ in 0..per_user {
            let (_, at) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("every socket is notified within 5 s")
                .unwrap();
            latencies.push((at - started).as_secs_f64() * 1000.0);
        }
    }
    for r in readers {
        r.abort();
    }
    latencies
}

/// The ceiling: the same rows inserted straight into SQLite, 10 per
/// transaction, with the server's pragmas.
async fn raw_sqlite(secs: f64) -> f64 {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let path = std::env::temp_dir().join(format!("fieldsync-raw-{}.sqlite", std::process::id()));
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE r (a TEXT, u TEXT, t TEXT, k TEXT, state TEXT, seq INTEGER, c TEXT, m INTEGER, PRIMARY KEY (a, u, t, k))")
        .execute(&pool)
        .await
        .unwrap();
    let state = r#"{"fields":{"done":{"value":false,"updatedAt":"2026-01-01T00:00:00.000000000Z"},"title":{"value":"todo 1.1","updatedAt":"2026-01-01T00:00:00.000000000Z"}},"insertedAt":"2026-01-01T00:00:00.000000000Z"}"#;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut rows = 0;
    while Instant::now() < deadline {
        let mut tx = pool.begin().await.unwrap();
        for _ in 0..10 {
            sqlx::query("INSERT INTO r VALUES ('bench', 'u', 'todos', $1, $2, $3, 'c', 0)")
                .bind(format!("k{rows}"))
                .bind(state)
                .bind(rows as i64)
                .execute(&mut *tx)
                .await
                .unwrap();
            rows += 1;
        }
        tx.commit().await.unwrap();
    }
    let rate = rows as f64 / started.elapsed().as_secs_f64();
    pool.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    rate
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let secs = if quick { 1.5 } else { 5.0 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let db = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| std::env::temp_dir().join(format!("fieldsync-load-{stamp}.sqlite")).display().to_string());
        let config = Config {
            database_url: db.clone(),
            jwt_secret: Some("bench".into()),
            max_sockets_per_user: 1000,
            ..Config::default()
        };
        let state = AppState::new(config).await.expect("server starts");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(run(listener, state.clone(), std::future::pending()));
        let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
        let bench = Arc::new(Bench { base, state, http });

        println!("fieldsync-server load benchmark (loopback, {} database, {} cores)", bench.state.store.kind(), std::thread::available_parallelism().map_or(0, |n| n.get()));
        let ceiling = raw_sqlite(secs).await;
        let rate = full_speed(&bench, 16, secs).await;
        println!("1. full speed, 16 clients pushing 10 changes:  {rate:>9.0} changes/s   (target >= 20000)");
        println!("   ceiling: raw SQLite insert, same rows:        {ceiling:>9.0} rows/s    ratio {:.2}x", rate / ceiling);
        let (pushes, pulls) = fixed_rate(&bench, 200, secs).await;
        println!("2. at 200 requests/s: push {}   (target p95 <= 20 ms)", summary(pushes));
        println!("                       pull {}   (target p95 <= 10 ms)", summary(pulls));
        let sockets = 1000;
        let latencies = notifications(&bench, 10, sockets, if quick { 5 } else { 20 }).await;
        println!("3. sync-available over {sockets} WebSockets: {}   (target p99 <= 100 ms)", summary(latencies));
        if !db.starts_with("postgres") {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{db}{suffix}"));
            }
        }
    });
}
