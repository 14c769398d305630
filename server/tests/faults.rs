//! Fault injection on the real processes: the `fieldsync-server` binary is
//! `kill -9`ed while several clients stream pushes at it, and restarted on
//! the same database (SQLite and PostgreSQL); PostgreSQL itself is restarted
//! under load. Clients behave as the browser client does: a push that gets no
//! answer is sent again, unchanged, until one arrives.
//!
//! Afterwards: every acknowledged write is there, replaying every batch
//! changes nothing (nothing was applied twice in effect), and every client
//! pulls the same state.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fieldsync_core::Clock;
use serde_json::json;

mod common;
use common::{Backend, dev_token, fresh_database, pull_all};

const CLIENTS: usize = 6;
/// One test at a time: restarting PostgreSQL would disturb the others.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const BATCHES: usize = 40;

struct ServerProcess {
    child: Option<Child>,
    port: u16,
    database_url: String,
}

impl ServerProcess {
    async fn start(database_url: String) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = ServerProcess {
            child: None,
            port,
            database_url,
        };
        server.spawn().await;
        server
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
            .env("PORT", self.port.to_string())
            .env("DATABASE_URL", &self.database_url)
            .env("FIELDSYNC_DEV", "1")
            .env("JWT_SECRET", "fault-injection")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server binary starts");
        self.child = Some(child);
        common::wait_for_health(&common::http(), &self.base()).await;
    }

    /// `kill -9`: no shutdown, no flush, possibly in the middle of a commit.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Every client's batches, made up front so a retry sends the very same
/// bytes: updates of ten records per client (each batch overwrites `n`), and
/// one `data`-form insert per batch, which the server stamps on receipt.
fn batches(client: usize) -> Vec<String> {
    let mut clock = Clock::new();
    (0..BATCHES)
        .map(|i| {
            let mut changes = vec![json!({
                "table": "items", "id": format!("c{client}-d{i}"), "op": "insert",
                "data": { "batch": i, "client": client },
            })];
            for r in 0..3 {
                let id = format!("c{client}-r{}", (i * 3 + r) % 10);
                changes.push(json!({
                    "table": "items", "id": id, "op": "update",
                    "fields": { "n": { "value": i, "updatedAt": clock.now(now_ms()).to_string() } },
                }));
            }
            json!({ "clientId": format!("client-{client}"), "changes": changes }).to_string()
        })
        .collect()
}

/// Sends one push until the server answers 200, as the browser client
/// retries: the same batch, with backoff. Returns how many attempts failed.
async fn push_until_acknowledged(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    body: &str,
) -> usize {
    let mut failures = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sent = http
            .post(format!("{base}/sync/faults"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        match sent {
            Ok(res) if res.status() == 200 => return failures,
            Ok(res) if res.status().is_client_error() => {
                panic!(
                    "push refused: {} {}",
                    res.status(),
                    res.text().await.unwrap()
                )
            }
            _ => failures += 1,
        }
        assert!(
            Instant::now() < deadline,
            "a push was not acknowledged within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Streams every client's batches at the server while `disrupt` runs, then
/// checks that nothing acknowledged was lost or applied twice.
async fn storm<F, Fut>(base: String, disrupt: F)
where
    F: FnOnce(Arc<AtomicBool>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let http = common::http();
    let user = format!("u{}", now_ms());
    let token = dev_token(&http, &base, &user).await;
    let all: Vec<Vec<String>> = (0..CLIENTS).map(batches).collect();
    let done = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = all
        .iter()
        .cloned()
        .map(|batches| {
            let (http, base, token, failures) =
                (http.clone(), base.clone(), token.clone(), failures.clone());
            tokio::spawn(async move {
                for body in &batches {
                    let failed = push_until_acknowledged(&http, &base, &token, body).await;
                    failures.fetch_add(failed, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let watcher = {
        let done = done.clone();
        async move {
            for client in clients {
                client.await.unwrap();
            }
            done.store(true, Ordering::SeqCst);
        }
    };
    tokio::join!(watcher, disrupt(done));
    let failures = failures.load(Ordering::Relaxed);
    assert!(
        failures > 0,
        "the disruption hit no push: the test proved nothing"
    );

    let state = pull_all(&http, &base, "faults", &token).await;
    for client in 0..CLIENTS {
        for i in 0..BATCHES {
            let id = format!("c{client}-d{i}");
            assert_eq!(
                state
                    .get(&id)
                    .map(|c| c["fields"]["batch"]["value"].clone()),
                Some(json!(i)),
                "acknowledged insert {id} is there"
            );
        }
        // Each record's last write was in the last batch that touched it.
        for r in 0..10 {
            let last = (0..BATCHES)
                .rev()
                .find(|i| (0..3).any(|k| (i * 3 + k) % 10 == r))
                .unwrap();
            let id = format!("c{client}-r{r}");
            assert_eq!(
                state[&id]["fields"]["n"]["value"],
                json!(last),
                "{id} holds its latest acknowledged value"
            );
        }
    }
    assert_eq!(state.len(), CLIENTS * (BATCHES + 10));

    // A late duplicate of every batch (a retry whose first attempt had
    // committed) changes nothing, stamps included.
    for batches in &all {
        for body in batches {
            push_until_acknowledged(&http, &base, &token, body).await;
        }
    }
    assert_eq!(
        pull_all(&http, &base, "faults", &token).await,
        state,
        "replaying acknowledged batches changed the stored state"
    );
    eprintln!(
        "storm: {} pushes acknowledged, {failures} attempts failed during the disruption",
        CLIENTS * BATCHES
    );
}

/// Kills the server with SIGKILL three times while pushes stream in, and
/// restarts it on the same database.
async fn kill_nine_during_pushes(backend: Backend) {
    let _serial = SERIAL.lock().await;
    let mut server = ServerProcess::start(fresh_database(backend).await).await;
    let base = server.base();
    let server = &mut server;
    storm(base, |done| async move {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            if done.load(Ordering::SeqCst) {
                break;
            }
            server.kill();
            tokio::time::sleep(Duration::from_millis(100)).await;
            server.spawn().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_on_sqlite_loses_nothing_acknowledged() {
    kill_nine_during_pushes(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_on_postgres_loses_nothing_acknowledged() {
    kill_nine_during_pushes(Backend::Postgres).await;
}

/// PostgreSQL restarts (fast shutdown: connections dropped) under load; the
/// server's pool reconnects by itself and the same server process serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_rides_out_a_postgres_restart() {
    let _serial = SERIAL.lock().await;
    let (dir, bin) = common::postgres().local.clone().expect(
        "restarting PostgreSQL needs its data directory: set FIELDSYNC_TEST_POSTGRES_DIR and _BIN with _URL (scripts/with-postgres does), or unset FIELDSYNC_TEST_POSTGRES_URL to let the tests start their own",
    );
    let server = ServerProcess::start(fresh_database(Backend::Postgres).await).await;
    let pid = server.pid();
    storm(server.base(), |_done| async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut restart = common::postgres_command(bin.join("pg_ctl"));
        let status = restart
            .args([
                "-D".as_ref(),
                dir.join("data").as_os_str(),
                "-l".as_ref(),
                dir.join("server.log").as_os_str(),
            ])
            .args(["-m", "fast", "-w", "restart"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl restart failed");
    })
    .await;
    assert_eq!(
        server.pid(),
        pid,
        "the same server process served throughout"
    );
}
