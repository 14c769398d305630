//! Errors of the browser client. Each message carries its cause; IndexedDB
//! failures keep the DOMException's name (`QuotaExceededError`,
//! `ConstraintError`, …), which becomes the JS `Error.name`.

use wasm_bindgen::JsValue;

/// Errors of `fieldsync`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input caught by the core (schema, timestamps, keys, wire shapes).
    #[error(transparent)]
    Core(#[from] fieldsync_core::Error),

    /// The browser has no room left for this write; nothing was written.
    #[error(
        "{operation}: the browser's storage quota is exhausted, nothing was written ({message}); free space or delete data, then retry"
    )]
    QuotaExceeded {
        /// What fieldsync was doing.
        operation: String,
        /// The browser's message.
        message: String,
    },

    /// A uniqueness constraint (a `&` index or an existing key) was violated.
    #[error("{operation}: a unique index or primary key already holds this value ({message})")]
    Constraint {
        /// What fieldsync was doing.
        operation: String,
        /// The browser's message.
        message: String,
    },

    /// Any other IndexedDB failure, with the DOMException name when known.
    #[error("{operation} failed: {name}: {message}")]
    IndexedDb {
        /// What fieldsync was doing.
        operation: String,
        /// The DOMException name, or `Error` when unknown.
        name: String,
        /// The browser's message.
        message: String,
    },
}

impl Error {
    /// The `name` the JS `Error` carries.
    pub fn js_name(&self) -> &str {
        match self {
            Error::Core(fieldsync_core::Error::Schema { .. }) => "SchemaError",
            Error::Core(fieldsync_core::Error::InvalidVersion { .. }) => "SchemaError",
            Error::Core(_) => "InvalidInputError",
            Error::QuotaExceeded { .. } => "QuotaExceededError",
            Error::Constraint { .. } => "ConstraintError",
            Error::IndexedDb { name, .. } => name,
        }
    }

    /// Classifies a failed IndexedDB operation by its DOMException name.
    pub fn indexed_db(
        operation: impl Into<String>,
        name: &str,
        message: impl Into<String>,
    ) -> Self {
        let (operation, message) = (operation.into(), message.into());
        match name {
            "QuotaExceededError" => Error::QuotaExceeded { operation, message },
            "ConstraintError" => Error::Constraint { operation, message },
            _ => Error::IndexedDb {
                operation,
                name: if name.is_empty() { "Error" } else { name }.to_owned(),
                message,
            },
        }
    }

    /// Classifies a rexie error. rexie keeps the browser's exception only in
    /// its message (`"…: ConstraintError: Key already exists…"`), so the
    /// DOMException name is read from there.
    pub fn from_rexie(operation: impl Into<String>, err: &rexie::Error) -> Self {
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        let name = DOM_EXCEPTION_NAMES
            .iter()
            .find(|n| message.contains(*n))
            .copied()
            .unwrap_or("");
        Error::indexed_db(operation, name, message)
    }
}

const DOM_EXCEPTION_NAMES: [&str; 9] = [
    "QuotaExceededError",
    "ConstraintError",
    "VersionError",
    "InvalidStateError",
    "TransactionInactiveError",
    "DataError",
    "NotFoundError",
    "AbortError",
    "UnknownError",
];

impl From<Error> for JsValue {
    fn from(err: Error) -> JsValue {
        let js = js_sys::Error::new(&err.to_string());
        js.set_name(err.js_name());
        js.into()
    }
}
