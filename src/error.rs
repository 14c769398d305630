//! Errors of the browser client. Each message says what failed, why, and what
//! to do; IndexedDB failures keep the DOMException's name
//! (`QuotaExceededError`, `ConstraintError`, …), which becomes the JS
//! `Error.name`, so apps can branch on `err.name`.

use wasm_bindgen::JsValue;

use crate::idb::{DomError, DomException};

/// Errors of `fieldsync`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input caught by the core (schema, version, timestamps, keys).
    #[error(transparent)]
    Core(#[from] fieldsync_core::Error),

    /// An argument of the wrong shape (named in the message).
    #[error("{0}")]
    InvalidInput(String),

    /// A table the schema does not declare.
    #[error(
        "unknown table \"{table}\": the schema declares {known}; add it to `schema` and raise `version`"
    )]
    UnknownTable {
        /// The table asked for.
        table: String,
        /// The declared tables, listed.
        known: String,
    },

    /// The database cannot be opened or upgraded to the declared schema.
    #[error("cannot open database \"{db}\": {message}")]
    Upgrade {
        /// The database name.
        db: String,
        /// What is wrong and what to do.
        message: String,
    },

    /// The browser has no room left for this write; nothing was written.
    #[error(
        "{operation}: the browser's storage quota is exhausted and nothing was written ({message}); free space or delete data, then retry"
    )]
    QuotaExceeded {
        /// What fieldsync was doing.
        operation: String,
        /// The browser's message.
        message: String,
    },

    /// A uniqueness constraint (a `&` index, or `add` of an existing key).
    #[error(
        "{operation}: a unique index already holds this value, nothing was written ({message})"
    )]
    Constraint {
        /// What fieldsync was doing.
        operation: String,
        /// The browser's message.
        message: String,
    },

    /// Any other IndexedDB failure, with the DOMException's kind.
    #[error("{operation} failed, nothing was written: {}: {message}", kind.name())]
    IndexedDb {
        /// What fieldsync was doing.
        operation: String,
        /// The DOMException.
        kind: DomException,
        /// The browser's message.
        message: String,
    },

    /// The browser did not grant a Web Lock fieldsync needs.
    #[error(
        "{operation}: the browser did not grant the lock \"{lock}\" ({message}); retry, or reload the tab"
    )]
    Lock {
        /// What fieldsync was doing.
        operation: String,
        /// The lock's name.
        lock: String,
        /// Why.
        message: String,
    },

    /// The live connection (WebSocket) failed or the server closed it;
    /// background sync reconnects by itself.
    #[error(
        "the live connection to the sync server failed: {message}; it reconnects by itself, and sync() still works"
    )]
    Live {
        /// The server's code, if it sent one.
        code: Option<String>,
        /// What happened.
        message: String,
    },

    /// The sync server could not be reached; writes stay pending.
    #[error("{operation}: {message}; local writes stay pending and sync again later")]
    Network {
        /// What fieldsync was doing.
        operation: String,
        /// What failed.
        message: String,
    },

    /// The server refused the credentials.
    #[error("{0}")]
    Auth(String),

    /// The server answered with an error.
    #[error("{operation}: the sync server answered {status} {code}: {message}")]
    Server {
        /// What fieldsync was doing.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// The server's error code.
        code: String,
        /// The server's message.
        message: String,
        /// The change the server named as refused (`error.details.index`).
        index: Option<usize>,
    },

    /// `sync()` without a server configured.
    #[error(
        "sync() needs `serverUrl` and `appId` (and `token` or `getToken`) in SyncClient.open()"
    )]
    NoServer,

    /// The client was closed.
    #[error("the client is closed; open a new one with SyncClient.open()")]
    Closed,

    /// The sync position changed under a remote apply (another tab synced);
    /// nothing was applied.
    #[error(
        "the sync cursor \"{key}\" moved while these changes were fetched; nothing was applied, pull again"
    )]
    StaleCursor {
        /// The cursor's name.
        key: String,
    },
}

impl Error {
    /// The `name` the JS `Error` carries.
    pub fn js_name(&self) -> &str {
        match self {
            Error::Core(fieldsync_core::Error::Schema { .. })
            | Error::Core(fieldsync_core::Error::InvalidVersion { .. }) => "SchemaError",
            Error::Core(_) | Error::InvalidInput(_) => "InvalidInputError",
            Error::UnknownTable { .. } => "UnknownTableError",
            Error::Upgrade { .. } => "UpgradeError",
            Error::QuotaExceeded { .. } => "QuotaExceededError",
            Error::Constraint { .. } => "ConstraintError",
            Error::IndexedDb { kind, .. } => kind.name(),
            Error::Lock { .. } => "LockError",
            Error::Live { .. } => "LiveConnectionError",
            Error::Closed => "DatabaseClosedError",
            Error::Network { .. } => "NetworkError",
            Error::Auth(_) => "AuthError",
            Error::Server { .. } => "ServerError",
            Error::NoServer => "NoServerError",
            Error::StaleCursor { .. } => "StaleCursorError",
        }
    }

    /// Classifies a failed IndexedDB operation by its DOMException name.
    pub fn indexed_db(operation: impl Into<String>, err: DomError) -> Self {
        let operation = operation.into();
        let DomError { kind, message } = err;
        match kind {
            DomException::QuotaExceededError => Error::QuotaExceeded { operation, message },
            DomException::ConstraintError => Error::Constraint { operation, message },
            kind => Error::IndexedDb {
                operation,
                kind,
                message,
            },
        }
    }
}

impl From<Error> for JsValue {
    fn from(err: Error) -> JsValue {
        let js = js_sys::Error::new(&err.to_string());
        js.set_name(err.js_name());
        js.into()
    }
}

/// Attaches the operation to an IndexedDB result.
pub(crate) trait Context<T> {
    fn during(self, operation: &dyn Fn() -> String) -> Result<T, Error>;
}

impl<T> Context<T> for Result<T, DomError> {
    // Not generic over the closure: one copy per `T` keeps the package small.
    fn during(self, operation: &dyn Fn() -> String) -> Result<T, Error> {
        self.map_err(|e| Error::indexed_db(operation(), e))
    }
}
