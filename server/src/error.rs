//! The server's one error type: logs what is internal, answers with the
//! SPEC's error shape `{"error": {"code", "message", "details"?}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fieldsync_core::{ErrorBody, ErrorDetails};

/// Errors a request can end in.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request is wrong; `code` names the kind.
    #[error("{message}")]
    BadRequest {
        /// Machine code, e.g. `invalid_change`.
        code: &'static str,
        /// What was wrong and what to do.
        message: String,
        /// The refused change's position in a push's `changes`.
        index: Option<usize>,
    },
    /// 401: no, bad or expired token.
    #[error("{0}")]
    Unauthorized(String),
    /// 413: body too large.
    #[error("the request body is larger than {0} bytes; push in smaller batches")]
    PayloadTooLarge(usize),
    /// 429: a limit was reached.
    #[error("{0}")]
    TooManyRequests(String),
    /// 500: a storage failure (details are logged, not sent).
    #[error("storage error: {0}")]
    Storage(#[from] sqlx::Error),
    /// 500: the database's schema could not be brought up to date.
    #[error(
        "the database schema cannot be migrated: {0}; check DATABASE_URL points at a fieldsync database this version (or an older one) created"
    )]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// 500: anything else internal.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// A 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code,
            message: message.into(),
            index: None,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Storage(_) | AppError::Migrate(_) | AppError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The body's code and message.
    pub fn body(&self) -> ErrorBody {
        match self {
            AppError::BadRequest {
                code,
                message,
                index,
            } => {
                let body = ErrorBody::new(*code, message.clone());
                match index {
                    Some(i) => body.with_details(ErrorDetails {
                        index: Some(*i as u64),
                    }),
                    None => body,
                }
            }
            AppError::Unauthorized(m) => ErrorBody::new("unauthorized", m.clone()),
            AppError::PayloadTooLarge(_) => ErrorBody::new("payload_too_large", self.to_string()),
            AppError::TooManyRequests(m) => ErrorBody::new("too_many_requests", m.clone()),
            AppError::Storage(_) | AppError::Migrate(_) | AppError::Internal(_) => ErrorBody::new(
                "internal_error",
                "the server failed to process the request; it was not applied, retry later",
            ),
        }
    }
}

impl From<fieldsync_core::Error> for AppError {
    fn from(err: fieldsync_core::Error) -> Self {
        let code = match &err {
            fieldsync_core::Error::MalformedJson { .. } => "malformed_json",
            fieldsync_core::Error::InvalidCursor { .. } => "invalid_cursor",
            _ => "invalid_request",
        };
        AppError::BadRequest {
            code,
            message: err.to_string(),
            index: change_index(&err),
        }
    }
}

/// The change a push error is about: its path starts `changes[N]`, whether
/// the change could not be read or was read and refused.
fn change_index(err: &fieldsync_core::Error) -> Option<usize> {
    let fieldsync_core::Error::Wire { path, .. } = err else {
        return None;
    };
    let rest = path.strip_prefix("changes[")?;
    rest[..rest.find(']')?].parse().ok()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let content_type = HeaderValue::from_static("application/json");
        (
            status,
            [(header::CONTENT_TYPE, content_type)],
            self.body().to_json(),
        )
            .into_response()
    }
}
