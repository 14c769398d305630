//! Load and soak of the real `fieldsync-server` process on loopback.
//!
//! `scripts/soak` (or `cargo bench -p fieldsync-server --bench soak`; add
//! `-- --quick` for a 10 s run with 2,000 sockets). The server binary runs as
//! a child process on a fresh SQLite file, so its memory is its own. Prints:
//! 1. 200 concurrent clients (20 users) pushing and pulling for 60 s: pushes,
//!    changes and pulls per second, push latency, and the check that every
//!    acknowledged change is stored — zero lost, or the run fails;
//! 2. 10,000 WebSockets (1,000 users × 10) held open on the one server, and
//!    `sync-available` latency p50/p95/p99 from a push to each socket;
//! 3. the server's resident memory before, at its peak during, and after.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

#[path = "../tests/common/mod.rs"]
mod common;
use common::{dev_token, pull_all};

struct Server {
    child: Child,
    base: String,
    db: std::path::PathBuf,
}

impl Server {
    fn start() -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let db = std::env::temp_dir().join(format!("fieldsync-soak-{stamp}.sqlite"));
        let bin = std::env::var("FIELDSYNC_SERVER_BIN")
            .expect("FIELDSYNC_SERVER_BIN is not set: run scripts/soak");
        let child = Command::new(bin)
            .env("PORT", port.to_string())
            .env("DATABASE_URL", db.display().to_string())
            .env("FIELDSYNC_DEV", "1")
            .env("JWT_SECRET", "soak")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("the server starts");
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            db,
        }
    }

    /// Resident memory of the server process, in MB.
    fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
    }
}

fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms (n = {})",
        at(0.5),
        at(0.95),
        at(0.99),
        ms.len()
    )
}

/// Samples the server's memory every 200 ms until `stop`; returns the peak.
fn watch_memory(server: &Arc<Server>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<f64> {
    let server = server.clone();
    tokio::spawn(async move {
        let mut peak: f64 = 0.0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(server.rss_mb());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        peak
    })
}

/// 200 clients over 20 users push batches of 5 new records and pull, for
/// `secs`. Returns (pushes, pulls, push latencies, acknowledged ids per user).
async fn soak(base: &str, http: &reqwest::Client, clients: usize, secs: f64) {
    let users = 20;
    let mut tokens = Vec::new();
    for u in 0..users {
        tokens.push(dev_token(http, base, &format!("soak{u}")).await);
    }
    let acked: Arc<Mutex<HashMap<usize, Vec<String>>>> = Arc::default();
    let pulls = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (http, base, acked, pulls, retries) = (
                http.clone(),
                base.to_owned(),
                acked.clone(),
                pulls.clone(),
                retries.clone(),
            );
            let user = c % users;
            let token = tokens[user].clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut since = String::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    let ids: Vec<String> = (0..5).map(|k| format!("c{c}-{n}-{k}")).collect();
                    let changes: Vec<Value> = ids
                        .iter()
                        .map(|id| json!({"table": "items", "id": id, "op": "insert", "data": {"client": c, "n": n}}))
                        .collect();
                    let body = json!({"clientId": format!("soak-{c}"), "changes": changes}).to_string();
                    let sent = Instant::now();
                    loop {
                        let res = http
                            .post(format!("{base}/sync/soak"))
                            .bearer_auth(&token)
                            .header("content-type", "application/json")
                            .body(body.clone())
                            .send()
                            .await;
                        match res {
                            Ok(r) if r.status().is_success() => {
                                let _ = r.bytes().await;
                                break;
                            }
                            _ => {
                                retries.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                    }
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    acked.lock().await.entry(user).or_default().extend(ids);
                    n += 1;
                    if n % 4 == 0 {
                        let page: Value = http
                            .get(format!("{base}/sync/soak/pull?collection=items&limit=500&since={since}"))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .unwrap()
                            .json()
                            .await
                            .unwrap();
                        since = page["syncedUntil"].as_str().unwrap_or_default().to_owned();
                        pulls.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let pushes = latencies.len();
    println!(
        "1. soak: {clients} clients, {users} users, {elapsed:.0} s: {:.0} pushes/s ({:.0} changes/s), {:.0} pulls/s, {} retries",
        pushes as f64 / elapsed,
        pushes as f64 * 5.0 / elapsed,
        pulls.load(Ordering::Relaxed) as f64 / elapsed,
        retries.load(Ordering::Relaxed)
    );
    println!("   push latency under this load: {}", summary(latencies));
    // Every acknowledged change must be stored.
    let acked = acked.lock().await;
    let mut lost = 0;
    let mut checked = 0;
    for (user, ids) in acked.iter() {
        let token = &tokens[*user];
        let stored = pull_all(http, base, "soak", token).await;
        checked += ids.len();
        lost += ids.iter().filter(|id| !stored.contains_key(*id)).count();
    }
    println!("   acknowledged changes checked: {checked}; lost: {lost}");
    assert_eq!(lost, 0, "acknowledged changes were lost");
}

/// `sockets` WebSockets over `users` users; pushes by `samples` users are
/// timed until each of their sockets hears `sync-available`.
async fn sockets(
    base: &str,
    http: &reqwest::Client,
    users: usize,
    sockets: usize,
    samples: usize,
) -> Vec<f64> {
    let url = format!("{}/ws/soak", base.replace("http://", "ws://"));
    let mut tokens = Vec::new();
    for u in 0..users {
        tokens.push(dev_token(http, base, &format!("ws{u}")).await);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let opened = Instant::now();
    let mut readers = Vec::with_capacity(sockets);
    // Open in waves of 200 so the accept queue is never the bottleneck.
    for wave in (0..sockets).collect::<Vec<_>>().chunks(200) {
        let mut handshakes = Vec::new();
        for &s in wave {
            let (url, user) = (url.clone(), s % users);
            let token = tokens[user].clone();
            handshakes.push(tokio::spawn(async move {
                let (mut ws, _) = tokio_tungstenite::connect_async(&url)
                    .await
                    .expect("socket opened");
                let auth = json!({"type": "auth", "token": token, "clientId": format!("sock{s}")})
                    .to_string();
                ws.send(Message::Text(auth.into())).await.unwrap();
                let first = ws.next().await.unwrap().unwrap();
                assert!(first.to_text().unwrap().contains("auth-ok"), "{first:?}");
                (user, ws)
            }));
        }
        for h in handshakes {
            let (user, mut ws) = h.await.unwrap();
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
    }
    println!(
        "2. {sockets} WebSockets ({users} users × {}) open in {:.1} s",
        sockets / users,
        opened.elapsed().as_secs_f64()
    );
    let per_user = sockets / users;
    let mut latencies = Vec::new();
    for p in 0..samples {
        let user = (p * 7919) % users;
        let body = json!({"clientId": "notifier", "changes": [
            {"table": "items", "id": format!("n{p}"), "op": "insert", "data": {"p": p}}
        ]})
        .to_string();
        let started = Instant::now();
        let res = http
            .post(format!("{base}/sync/soak"))
            .bearer_auth(&tokens[user])
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        for _ in 0..per_user {
            let (heard, at) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("every socket is notified within 10 s")
                .unwrap();
            assert_eq!(heard, user, "only the pushing user's sockets hear of it");
            latencies.push((at - started).as_secs_f64() * 1000.0);
        }
    }
    for r in readers {
        r.abort();
    }
    latencies
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (secs, socket_count) = if quick { (10.0, 2_000) } else { (60.0, 10_000) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server = Arc::new(Server::start());
        let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
        for _ in 0..200 {
            if http.get(format!("{}/health", server.base)).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        println!("fieldsync-server soak (loopback, SQLite, {} cores)", std::thread::available_parallelism().map_or(0, |n| n.get()));
        let before = server.rss_mb();
        let stop = Arc::new(AtomicBool::new(false));
        let peak = watch_memory(&server, stop.clone());
        soak(&server.base, &http, 200, secs).await;
        let latencies = sockets(&server.base, &http, socket_count / 10, socket_count, if quick { 50 } else { 100 }).await;
        println!("   sync-available latency: {}   (target p99 <= 100 ms)", summary(latencies));
        stop.store(true, Ordering::Relaxed);
        let peak = peak.await.unwrap().max(server.rss_mb());
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = server.rss_mb();
        println!("3. server memory (RSS): before {before:.0} MB, peak {peak:.0} MB, after {after:.0} MB (sockets closed)");
    });
}
