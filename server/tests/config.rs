//! Settings reach the running server: `--help` lists every limit with its
//! environment variable, and a limit set either way is enforced end to end
//! (the binary with only the given environment, and `run()` in process).

use std::process::{Child, Command, Stdio};

use fieldsync_server::{AppState, Config, run};
use serde_json::{Value, json};
use tokio::net::TcpListener;

mod common;
use common::{Backend, dev_token, fresh_database};

const BIN: &str = env!("CARGO_BIN_EXE_fieldsync-server");

/// Every limit: flag, environment variable.
const LIMITS: &[(&str, &str)] = &[
    ("--max-body-bytes", "FIELDSYNC_MAX_BODY_BYTES"),
    ("--max-ws-message-bytes", "FIELDSYNC_MAX_WS_MESSAGE_BYTES"),
    ("--max-sockets-per-user", "FIELDSYNC_MAX_SOCKETS_PER_USER"),
    ("--ws-auth-timeout-secs", "FIELDSYNC_WS_AUTH_TIMEOUT_SECS"),
    ("--max-page", "FIELDSYNC_MAX_PAGE"),
    ("--max-clock-drift-ms", "FIELDSYNC_MAX_CLOCK_DRIFT_MS"),
];

/// The other settings, as earlier releases named them.
const SETTINGS: &[(&str, &str)] = &[
    ("--port", "PORT"),
    ("--database-url", "DATABASE_URL"),
    ("--jwt-secret", "JWT_SECRET"),
    ("--jwks-url", "JWKS_URL"),
    ("--jwt-audience", "JWT_AUDIENCE"),
    ("--jwt-issuer", "JWT_ISSUER"),
    ("--cors-origins", "CORS_ORIGINS"),
    ("--dev", "FIELDSYNC_DEV"),
    ("--static-dir", "FIELDSYNC_STATIC_DIR"),
];

/// The binary with exactly `env` (nothing inherited) and `args`.
fn binary(env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.env_clear().envs(env.iter().copied()).args(args);
    command
}

#[test]
fn help_lists_every_setting_with_its_variable() {
    let out = binary(&[], &["--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for (flag, var) in LIMITS.iter().chain(SETTINGS) {
        let line = help
            .lines()
            .position(|l| l.trim_start().starts_with(flag))
            .unwrap_or_else(|| panic!("{flag} is not in --help:\n{help}"));
        // clap prints `[env: VAR=]` at the end of the setting's entry.
        let entry: String = help.lines().skip(line).take(6).collect();
        assert!(
            entry.contains(&format!("[env: {var}")),
            "{flag} without {var}:\n{help}"
        );
    }
    let out = binary(&[("JWT_SECRET", "hunter2")], &["--help"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("hunter2"),
        "--help shows no secret"
    );
}

#[test]
fn bad_values_are_refused_naming_the_setting() {
    for (env, args, needles) in [
        (
            &[("FIELDSYNC_MAX_PAGE", "0")][..],
            &[][..],
            &["--max-page", "FIELDSYNC_MAX_PAGE"][..],
        ),
        (
            &[("FIELDSYNC_MAX_BODY_BYTES", "10MB")][..],
            &[][..],
            &["FIELDSYNC_MAX_BODY_BYTES", "whole number"][..],
        ),
        (
            &[][..],
            &["--ws-auth-timeout-secs", "never"][..],
            &["FIELDSYNC_WS_AUTH_TIMEOUT_SECS"][..],
        ),
        (&[("PORT", "x")][..], &[][..], &["--port", "x"][..]),
        (
            &[("FIELDSYNC_DEV", "maybe")][..],
            &[][..],
            &["FIELDSYNC_DEV"][..],
        ),
        (
            &[("FIELDSYNC_STATIC_DIR", "/tmp")][..],
            &[][..],
            &["--dev"][..],
        ),
        (&[][..], &["--nope"][..], &["--nope"][..]),
    ] {
        let out = binary(env, args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?} {args:?}: {err}");
        for needle in needles {
            assert!(err.contains(needle), "{env:?} {args:?}: {err}");
        }
    }
}

struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary serving with `env` and `args` (plus a free port and a fresh
/// SQLite database, given as flags), once it is up: the process and its URL.
async fn serve(env: &[(&str, &str)], args: &[&str]) -> (Spawned, String) {
    let port = free_port().to_string();
    let db = fresh_database(Backend::Sqlite).await;
    let child = binary(env, args)
        .args(["--port", &port, "--database-url", &db])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let spawned = Spawned(child);
    common::wait_for_health(&common::http(), &base).await;
    (spawned, base)
}

/// A 3,000-byte push is refused with 413 and a small one accepted; a pull
/// returns pages of 2.
async fn limits_hold(http: &reqwest::Client, base: &str, token: &str) {
    let push = |body: Value| {
        http.post(format!("{base}/sync/todo"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let big = json!({"clientId": "a", "changes": [
        {"table": "t", "id": "big", "op": "insert", "data": {"pad": "x".repeat(3000)}}]});
    let res = push(big).await.unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "payload_too_large"
    );
    let changes: Vec<Value> = (0..5)
        .map(|i| json!({"table": "t", "id": i, "op": "insert", "data": {"i": i}}))
        .collect();
    let res = push(json!({"clientId": "a", "changes": changes}))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value = http
        .get(format!("{base}/sync/todo/pull?collection=t&limit=100"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["serverChanges"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["hasMore"], true);
}

/// The binary, its limits set by environment variables.
#[tokio::test]
async fn environment_variables_set_limits() {
    let env = [
        ("FIELDSYNC_DEV", "1"),
        ("FIELDSYNC_MAX_BODY_BYTES", "2000"),
        ("FIELDSYNC_MAX_PAGE", "2"),
    ];
    let (_server, base) = serve(&env, &[]).await;
    let http = common::http();
    let token = dev_token(&http, &base, "u").await;
    limits_hold(&http, &base, &token).await;
}

/// The binary, its limits set by flags.
#[tokio::test]
async fn flags_set_limits() {
    let args = ["--dev", "--max-body-bytes=2000", "--max-page", "2"];
    let (_server, base) = serve(&[], &args).await;
    let http = common::http();
    let token = dev_token(&http, &base, "u").await;
    limits_hold(&http, &base, &token).await;
}

/// `Config::from_args` feeding `run()` in this process.
#[tokio::test]
async fn parsed_flags_reach_run() {
    let db = fresh_database(Backend::Sqlite).await;
    let config = Config::from_args([
        "fieldsync-server",
        "--database-url",
        &db,
        "--jwt-secret",
        "s",
        "--max-body-bytes",
        "2000",
        "--max-page",
        "2",
    ])
    .unwrap();
    let state = AppState::new(config).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    let token = state.auth.mint("u", 60).unwrap();
    limits_hold(&common::http(), &base, &token).await;
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
