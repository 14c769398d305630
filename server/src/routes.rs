//! The HTTP and WebSocket endpoints of SPEC §2.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fieldsync_core::{ClientMessage, PullQuery, PushRequest, PushResponse, ServerMessage, wire};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::mpsc;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::AppState;
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::hub::QUEUE;
use crate::store::Since;

/// The router: every endpoint, CORS, and the body limit.
pub fn app(state: Arc<AppState>) -> Router {
    let cors = match &state.config.cors_origins {
        None => CorsLayer::new().allow_origin(Any),
        Some(origins) => CorsLayer::new().allow_origin(AllowOrigin::list(
            origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()),
        )),
    }
    .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
    .allow_headers([
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        "x-client-id".parse().expect("valid header"),
    ])
    .max_age(Duration::from_secs(600));
    let limit = state.config.max_body_bytes;
    let mut router = Router::new()
        .route("/sync/{app_id}", post(push))
        .route("/sync/{app_id}/pull", get(pull))
        .route("/ws/{app_id}", get(websocket))
        .route("/health", get(health))
        .route("/metrics", get(metrics));
    if state.config.dev_mode {
        router = router.route("/dev/token", post(dev_token));
        if let Some(dir) = &state.config.static_dir {
            router = router.fallback_service(tower_http::services::ServeDir::new(dir));
        }
    }
    router
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            announced_size,
        ))
        .layer(cors)
        .with_state(state)
}

/// Refuses a body announced larger than the limit before reading any of it
/// (a body without `Content-Length` is cut off at the limit as it arrives).
async fn announced_size(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let limit = state.config.max_body_bytes;
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        tokio::spawn(linger(request.into_body()));
        return counted::<Response>(&state, Err(AppError::PayloadTooLarge(limit)));
    }
    next.run(request).await
}

/// Longest a refused body is read on after the answer.
const LINGER: Duration = Duration::from_secs(10);

/// Reads and discards what a client still sends after its request was
/// answered (nginx's "lingering close"): a connection closed on unread data
/// is reset, and the reset can reach the client before the answer does.
async fn linger(body: axum::body::Body) {
    let mut stream = body.into_data_stream();
    let _ = tokio::time::timeout(LINGER, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
}

fn check_app_id(app_id: &str) -> Result<(), AppError> {
    let valid = !app_id.is_empty()
        && app_id.len() <= 128
        && app_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if valid {
        Ok(())
    } else {
        Err(AppError::bad_request(
            "invalid_app_id",
            "the app id must be 1-128 characters of letters, digits, '-', '_' or '.'",
        ))
    }
}

/// A 200 response carrying `text`, JSON written by the core's codec.
fn json_text(text: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        text,
    )
        .into_response()
}

fn counted<T: IntoResponse>(state: &AppState, result: Result<T, AppError>) -> Response {
    match result {
        Ok(ok) => ok.into_response(),
        Err(err) => {
            state.metrics.errors.fetch_add(1, Ordering::Relaxed);
            err.into_response()
        }
    }
}

async fn push(
    State(state): State<Arc<AppState>>,
    Path(app_id): Path<String>,
    user: Result<AuthUser, AppError>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let result = async {
        check_app_id(&app_id)?;
        let AuthUser(user) = user?;
        let body = body.map_err(|rejection| match rejection {
            BytesRejection::FailedToBufferBody(_) => {
                AppError::PayloadTooLarge(state.config.max_body_bytes)
            }
            other => AppError::bad_request("invalid_request", other.body_text()),
        })?;
        let request = PushRequest::parse(&body)?;
        let client_id = request.client_id.clone();
        let outcome = state
            .store
            .push(&app_id, &user, request, &state.clock, state.instance)
            .await?;
        state
            .metrics
            .changes_ingested
            .fetch_add(outcome.ingested as u64, Ordering::Relaxed);
        if !outcome.changed_tables.is_empty() {
            let told = state
                .hub
                .notify(&app_id, &user, &outcome.changed_tables, Some(&client_id));
            state
                .metrics
                .notifications
                .fetch_add(told as u64, Ordering::Relaxed);
        }
        let response = PushResponse {
            server_changes: outcome.server_changes,
            conflicts: outcome.conflicts,
            synced_until: outcome.synced_until,
        };
        Ok(json_text(response.to_json()))
    }
    .await;
    state.metrics.pushes.fetch_add(1, Ordering::Relaxed);
    state.metrics.observe_push(started.elapsed());
    counted(&state, result)
}

async fn pull(
    State(state): State<Arc<AppState>>,
    Path(app_id): Path<String>,
    user: Result<AuthUser, AppError>,
    RawQuery(query): RawQuery,
) -> Response {
    let started = Instant::now();
    let result = async {
        check_app_id(&app_id)?;
        let AuthUser(user) = user?;
        let query = PullQuery::from_query(query.as_deref().unwrap_or(""))?;
        let since = Since::parse(query.since.as_deref())?;
        let limit = query
            .limit
            .unwrap_or(state.config.max_page)
            .clamp(1, state.config.max_page);
        let page = state
            .store
            .pull(&app_id, &user, &query.collection, since, limit)
            .await?;
        Ok(json_text(page.to_json()))
    }
    .await;
    state.metrics.pulls.fetch_add(1, Ordering::Relaxed);
    state.metrics.observe_pull(started.elapsed());
    counted(&state, result)
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let (sockets, users) = state.hub.stats();
    let database = state.store.ping().await.is_ok();
    let body = json!({
        "status": if database { "ok" } else { "degraded" },
        "database": state.store.kind(),
        "databaseReachable": database,
        "connections": sockets,
        "connectedUsers": users,
        "devMode": state.config.dev_mode,
    });
    Json(body).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn dev_token(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let result = (|| {
        // A missing or non-string `user` is refused as an empty one.
        let user = wire::parse(&body, |value, _| {
            Ok(value["user"].as_str().unwrap_or_default().trim().to_owned())
        })?;
        let user = user.as_str();
        if user.is_empty() || user.len() > 64 {
            return Err(AppError::bad_request(
                "invalid_request",
                "`user` must be 1-64 characters",
            ));
        }
        let token = state
            .auth
            .mint(user, 24 * 3600)
            .ok_or_else(|| AppError::Internal("cannot mint tokens without a secret".into()))?;
        Ok(Json(json!({ "token": token, "user": user })))
    })();
    counted(&state, result)
}

async fn websocket(
    State(state): State<Arc<AppState>>,
    Path(app_id): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Err(err) = check_app_id(&app_id) {
        return err.into_response();
    }
    let max = state.config.max_ws_message_bytes;
    // Sockets mostly idle and their messages are small: tungstenite's
    // default 128 KiB read and write buffers per socket held 1.3 GB at
    // 10,000 sockets (scripts/soak). Reads grow past 4 KiB when needed;
    // writes go out at once.
    upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve_socket(state, app_id, socket))
}

async fn send(socket: &mut WebSocket, message: &ServerMessage) -> bool {
    socket
        .send(Message::Text(message.to_json().into()))
        .await
        .is_ok()
}

async fn serve_socket(state: Arc<AppState>, app_id: String, mut socket: WebSocket) {
    // Authentication first, within the configured time (10 s by default).
    let timeout = state.config.ws_auth_timeout;
    let first = tokio::time::timeout(timeout, socket.next()).await;
    let (user, client_id) = match first {
        Ok(Some(Ok(Message::Text(text)))) => {
            match wire::parse(text.as_bytes(), ClientMessage::from_json) {
                Ok(ClientMessage::Auth { token, client_id }) => {
                    match state.auth.verify(&token).await {
                        Ok(user) => (user, client_id),
                        Err(e) => return reject(socket, &e.to_string()).await,
                    }
                }
                Ok(ClientMessage::Ping) => {
                    let message = "the first message must be {\"type\":\"auth\",\"token\":\"<JWT>\",\"clientId\":\"<id>\"}";
                    return reject(socket, message).await;
                }
                Err(e) => return reject(socket, &e.to_string()).await,
            }
        }
        Err(_) => {
            let message = format!("no auth message within {} s", timeout.as_secs_f64());
            return reject(socket, &message).await;
        }
        _ => return,
    };
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let Some(_registration) = state.hub.register(
        &app_id,
        &user,
        client_id,
        state.config.max_sockets_per_user,
        tx,
    ) else {
        let message = format!(
            "too many open connections for this user (at most {}); close other tabs or clients",
            state.config.max_sockets_per_user
        );
        return reject(socket, &message).await;
    };
    if !send(&mut socket, &ServerMessage::AuthOk).await {
        return;
    }
    state.metrics.ws_connections.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            outgoing = rx.recv() => {
                let Some(message) = outgoing else { break };
                if sink.send(Message::Text(message.to_json().into())).await.is_err() { break; }
            }
            incoming = stream.next() => {
                let reply = match incoming {
                    Some(Ok(Message::Text(text))) => match wire::parse(text.as_bytes(), ClientMessage::from_json) {
                        Ok(ClientMessage::Ping) => ServerMessage::Pong,
                        Ok(ClientMessage::Auth { .. }) => continue,
                        Err(e) => ServerMessage::Error { message: e.to_string() },
                    },
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                if sink.send(Message::Text(reply.to_json().into())).await.is_err() { break; }
            }
        }
    }
    state.metrics.ws_connections.fetch_sub(1, Ordering::Relaxed);
}

async fn reject(mut socket: WebSocket, message: &str) {
    let _ = send(
        &mut socket,
        &ServerMessage::Error {
            message: message.to_owned(),
        },
    )
    .await;
    let _ = socket.send(Message::Close(None)).await;
}
