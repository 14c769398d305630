//! `fieldsync-server`: the sync server of SPEC §2 — push, pull and
//! `sync-available` notifications, merging with `fieldsync-core`'s rule.
//!
//! # Layout
//! - [`config`]: environment variables and flags (SPEC §6).
//! - [`routes`]: the endpoints ([`routes::app`] builds the router).
//! - [`store`]: the database — merged record states and per-user feeds.
//! - [`hub`]: open WebSockets per user and app.
//! - [`auth`]: bearer tokens.
//! - [`metrics`]: Prometheus counters.
//! - [`error`]: [`AppError`], which answers with the SPEC's error shape.
//!
//! [`run`] serves on a listener until a shutdown future resolves, finishing
//! in-flight requests; tests bind `127.0.0.1:0`.

pub mod auth;
pub mod config;
pub mod error;
pub mod hub;
pub mod metrics;
pub mod routes;
pub mod store;

use std::future::Future;
use std::sync::{Arc, Mutex};

use fieldsync_core::Clock;
use tokio::net::TcpListener;

pub use config::Config;
pub use error::AppError;
pub use routes::app;

/// Everything a request handler needs.
pub struct AppState {
    /// The configuration.
    pub config: Config,
    /// The database.
    pub store: store::Store,
    /// Token verification.
    pub auth: auth::Authenticator,
    /// Open WebSockets.
    pub hub: hub::Hub,
    /// Counters.
    pub metrics: metrics::Metrics,
    /// The server's hybrid logical clock.
    pub clock: Arc<Mutex<Clock>>,
    /// This instance's id in notices to other instances.
    pub instance: u64,
}

impl AppState {
    /// Connects the database (running migrations) and builds the state.
    pub async fn new(config: Config) -> Result<Arc<AppState>, AppError> {
        // rustls (JWKS over https) uses ring; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = store::Store::connect(&config.database_url).await?;
        let mut clock = Clock::new().with_max_drift_ms(config.max_clock_drift_ms);
        if let Some(last) = store.load_clock().await? {
            clock.observe(last);
        }
        if config.dev_mode {
            tracing::warn!(
                "DEVELOPMENT MODE: POST /dev/token mints a token for any user name. Never run this in production."
            );
        }
        if config.jwt_secret.is_none() && config.jwks_url.is_none() && !config.dev_mode {
            tracing::warn!(
                "no JWT_SECRET or JWKS_URL: every sync request will be refused with 401"
            );
        }
        let state = Arc::new(AppState {
            auth: auth::Authenticator::new(&config),
            config,
            store,
            hub: hub::Hub::default(),
            metrics: metrics::Metrics::default(),
            clock: Arc::new(Mutex::new(clock)),
            instance: instance_id(),
        });
        state.auth.prefetch().await;
        if let Some(pool) = state.store.postgres() {
            let listener = sqlx::postgres::PgListener::connect_with(pool).await?;
            tokio::spawn(relay_notices(Arc::downgrade(&state), listener));
        }
        Ok(state)
    }
}

fn instance_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

/// Forwards other instances' push notices (PostgreSQL `LISTEN`) to this
/// instance's WebSockets. The listener reconnects by itself; a notice lost
/// while it does only delays a pull until the client's next periodic sync.
async fn relay_notices(state: std::sync::Weak<AppState>, mut listener: sqlx::postgres::PgListener) {
    use std::sync::atomic::Ordering;
    if let Err(e) = listener.listen("fieldsync").await {
        tracing::error!("cannot LISTEN for other instances' pushes: {e}");
        return;
    }
    loop {
        let notification = match listener.recv().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("notification listener: {e}; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        let Some(state) = state.upgrade() else { return };
        let Ok(notice) = serde_json::from_str::<store::FeedNotice>(notification.payload()) else {
            continue;
        };
        if notice.origin == state.instance {
            continue;
        }
        let told = state.hub.notify(
            &notice.app,
            &notice.user,
            &notice.tables,
            Some(&notice.client),
        );
        state
            .metrics
            .notifications
            .fetch_add(told as u64, Ordering::Relaxed);
    }
}

/// Serves `state` on `listener` until `shutdown` resolves, then finishes the
/// requests in flight.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
