//! DOMException names as a type: IndexedDB and the other browser APIs
//! report failures as `DOMException`s whose `name` is the only stable part,
//! so fieldsync matches on [`DomException`], never on strings.

use wasm_bindgen::{JsCast, JsValue};

/// The `DOMException` names fieldsync meets (WebIDL §2.8.1), and any other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomException {
    /// The transaction was aborted (by `abort()` or a failed request).
    AbortError,
    /// A uniqueness constraint failed (a `&` index, or `add` of a taken key).
    ConstraintError,
    /// A value cannot be stored: it is not structured-cloneable.
    DataCloneError,
    /// A key or key range is invalid.
    DataError,
    /// The object is in the wrong state (e.g. the connection is closing).
    InvalidStateError,
    /// A store or index does not exist.
    NotFoundError,
    /// The API is missing here (private mode, an old browser, a worker).
    NotSupportedError,
    /// The browser's storage quota is exhausted.
    QuotaExceededError,
    /// A write in a read-only transaction.
    ReadOnlyError,
    /// A request on a transaction that already finished.
    TransactionInactiveError,
    /// The browser failed for a reason of its own (e.g. disk I/O).
    UnknownError,
    /// The database exists at a higher version than asked for.
    VersionError,
    /// Any other name (a plain `Error`'s `name`, say).
    Other(String),
}

impl DomException {
    /// Reads a `name`.
    pub fn from_name(name: &str) -> Self {
        use DomException::*;
        match name {
            "AbortError" => AbortError,
            "ConstraintError" => ConstraintError,
            "DataCloneError" => DataCloneError,
            "DataError" => DataError,
            "InvalidStateError" => InvalidStateError,
            "NotFoundError" => NotFoundError,
            "NotSupportedError" => NotSupportedError,
            "QuotaExceededError" => QuotaExceededError,
            "ReadOnlyError" => ReadOnlyError,
            "TransactionInactiveError" => TransactionInactiveError,
            "UnknownError" => UnknownError,
            "VersionError" => VersionError,
            other => Other(other.to_owned()),
        }
    }

    /// The `name`, as the browser spells it.
    pub fn name(&self) -> &str {
        use DomException::*;
        match self {
            AbortError => "AbortError",
            ConstraintError => "ConstraintError",
            DataCloneError => "DataCloneError",
            DataError => "DataError",
            InvalidStateError => "InvalidStateError",
            NotFoundError => "NotFoundError",
            NotSupportedError => "NotSupportedError",
            QuotaExceededError => "QuotaExceededError",
            ReadOnlyError => "ReadOnlyError",
            TransactionInactiveError => "TransactionInactiveError",
            UnknownError => "UnknownError",
            VersionError => "VersionError",
            Other(name) => name,
        }
    }
}

/// A failed browser operation: the exception's kind and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomError {
    /// What kind of failure.
    pub kind: DomException,
    /// The browser's message.
    pub message: String,
}

impl DomError {
    /// A failure of `kind`.
    pub fn new(kind: DomException, message: impl Into<String>) -> Self {
        DomError {
            kind,
            message: message.into(),
        }
    }

    /// Reads a DOMException, an `Error` or anything else thrown.
    pub fn from_js(value: &JsValue) -> Self {
        if let Some(dom) = value.dyn_ref::<web_sys::DomException>() {
            return DomError::new(DomException::from_name(&dom.name()), dom.message());
        }
        if let Some(err) = value.dyn_ref::<js_sys::Error>() {
            return DomError::new(
                DomException::from_name(&String::from(err.name())),
                String::from(err.message()),
            );
        }
        DomError::new(
            DomException::Other("Error".into()),
            value.as_string().unwrap_or_else(|| format!("{value:?}")),
        )
    }
}

/// Converts a synchronous call's exception.
pub(crate) fn sync<T>(result: Result<T, JsValue>) -> Result<T, DomError> {
    result.map_err(|e| DomError::from_js(&e))
}
