//! Shared by the server's integration tests and its soak benchmark (each
//! uses part of it).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Where a test's data lives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    /// A SQLite file in the temporary directory.
    Sqlite,
    /// A database on the test PostgreSQL server ([`postgres`]).
    Postgres,
}

/// The PostgreSQL server of this test binary.
pub(crate) struct TestPostgres {
    /// An administrator's URL (database `postgres`).
    pub(crate) url: String,
    /// Its data directory's parent and its binaries, when this machine runs
    /// it (so a test can restart it); `None` for a server given by URL only.
    pub(crate) local: Option<(PathBuf, PathBuf)>,
}

/// `FIELDSYNC_TEST_POSTGRES_URL` when set (`scripts/with-postgres` sets it,
/// with `_DIR` and `_BIN`); otherwise a throwaway server started on first
/// use, shared by this test binary's tests and removed when it exits. Fails
/// — never skips — when PostgreSQL is not installed.
pub(crate) fn postgres() -> &'static TestPostgres {
    static SERVER: OnceLock<TestPostgres> = OnceLock::new();
    SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("FIELDSYNC_TEST_POSTGRES_URL") {
            let dir = std::env::var_os("FIELDSYNC_TEST_POSTGRES_DIR");
            let bin = std::env::var_os("FIELDSYNC_TEST_POSTGRES_BIN");
            return TestPostgres {
                url,
                local: dir.zip(bin).map(|(d, b)| (d.into(), b.into())),
            };
        }
        start_postgres()
    })
}

fn postgres_bin() -> PathBuf {
    let mut bins: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .collect();
    bins.sort();
    match bins.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "these tests need PostgreSQL and it is not installed (no /usr/lib/postgresql/*/bin/initdb): \
             install it with `apt-get install postgresql` (or scripts/install-tools), \
             or set FIELDSYNC_TEST_POSTGRES_URL to an administrator's URL of a server to use"
        ),
    }
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `program` run as the `postgres` user when we are root (PostgreSQL
/// refuses to run as root), as scripts/with-postgres does.
pub(crate) fn postgres_command(program: PathBuf) -> Command {
    if as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run_checked(mut command: Command, what: &str) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start_postgres() -> TestPostgres {
    let bin = postgres_bin();
    let dir = std::env::temp_dir().join(format!(
        "fieldsync-pg-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir(&dir).unwrap();
    if as_root() {
        let mut chown = Command::new("chown");
        chown.arg("postgres").arg(&dir);
        run_checked(chown, "chown postgres on the test database directory");
    }
    let data = dir.join("data");
    let mut initdb = postgres_command(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres"]);
    run_checked(initdb, "initdb");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut start = postgres_command(bin.join("pg_ctl"));
    start
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("server.log"))
        .arg("-w")
        .arg("-o")
        .arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300",
            dir.display()
        ))
        .arg("start");
    run_checked(start, "pg_ctl start");
    // Statics are not dropped at exit: a watcher stops the server and
    // removes its files once this test binary has exited, however it ends.
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; \
         {runas}'{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        runas = if as_root() {
            "runuser -u postgres -- "
        } else {
            ""
        },
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    // The watcher runs in the background of a shell that exits at once, so
    // nothing is left for this process to wait for.
    let mut watcher = Command::new("sh");
    watcher
        .args(["-c", &format!("({stop}) >/dev/null 2>&1 &")])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    run_checked(watcher, "the clean-up watcher");
    TestPostgres {
        url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        local: Some((dir, bin)),
    }
}

/// A fresh database for one test: a SQLite file, or a new PostgreSQL
/// database on the test server ([`postgres`]).
pub(crate) async fn fresh_database(backend: Backend) -> String {
    let unique = format!(
        "fs_test_{}_{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    match backend {
        Backend::Sqlite => std::env::temp_dir()
            .join(format!("{unique}.sqlite"))
            .display()
            .to_string(),
        Backend::Postgres => {
            let admin = &postgres().url;
            let pool = sqlx::PgPool::connect(admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {unique}")))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let base = admin.rsplit_once('/').unwrap().0;
            format!("{base}/{unique}")
        }
    }
}

/// Waits until the server at `base` answers `/health` (at most 20 s).
pub(crate) async fn wait_for_health(http: &reqwest::Client, base: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Ok(res) = http.get(format!("{base}/health")).send().await
            && res.status().is_success()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the server did not come up at {base}");
}

/// An HTTP client (rustls needs its crypto provider installed first).
pub(crate) fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A token from a development-mode server's `POST /dev/token`.
pub(crate) async fn dev_token(http: &reqwest::Client, base: &str, user: &str) -> String {
    let res: Value = http
        .post(format!("{base}/dev/token"))
        .body(json!({ "user": user }).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["token"].as_str().unwrap().to_owned()
}

/// The user's whole `items` table in `app`, as a new client pulls it: id →
/// the change.
pub(crate) async fn pull_all(
    http: &reqwest::Client,
    base: &str,
    app: &str,
    token: &str,
) -> BTreeMap<String, Value> {
    let mut since = String::new();
    let mut state = BTreeMap::new();
    loop {
        let page: Value = http
            // Cursors are `c<number>`: nothing to escape.
            .get(format!(
                "{base}/sync/{app}/pull?collection=items&limit=1000&since={since}"
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for change in page["serverChanges"].as_array().unwrap() {
            state.insert(change["id"].as_str().unwrap().to_owned(), change.clone());
        }
        since = page["syncedUntil"].as_str().unwrap().to_owned();
        if !page["hasMore"].as_bool().unwrap() {
            return state;
        }
    }
}
