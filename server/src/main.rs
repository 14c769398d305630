//! `fieldsync-server`: reads the configuration, serves until SIGINT/SIGTERM.

use fieldsync_server::Config;
use fieldsync_server::{AppState, run};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "fieldsync_server=info".into()),
        )
        .init();
    // `--help` and `--version` print and exit 0; a bad setting prints what
    // is wrong and exits 2.
    let config = Config::from_args(std::env::args_os()).unwrap_or_else(|e| e.exit());
    let port = config.port;
    let database = config.database_url.clone();
    let state = match AppState::new(config).await {
        Ok(state) => state,
        Err(e) => {
            eprintln!("fieldsync-server: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let listener = match tokio::net::TcpListener::bind(("0.0.0.0", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fieldsync-server: cannot listen on port {port}: {e}");
            std::process::exit(1);
        }
    };
    tracing::info!("fieldsync-server listening on http://0.0.0.0:{port} (database: {database})");
    if let Err(e) = run(listener, state, shutdown_signal()).await {
        eprintln!("fieldsync-server: {e}");
        std::process::exit(1);
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
