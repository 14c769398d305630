//! The core's one error type. Every message names what was wrong and, where
//! the caller can fix it, what to do.

/// Errors of `fieldsync-core`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A string that is not an RFC 3339 timestamp.
    #[error("invalid RFC 3339 timestamp \"{input}\": {reason}")]
    InvalidTimestamp {
        /// The input (shortened if long).
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A record key that cannot be synced.
    #[error(
        "invalid record id {found}: expected a non-empty string, a finite number (integers within ±2^53, which JavaScript holds exactly; send larger ones as strings), or a non-empty array of strings and numbers"
    )]
    InvalidKey {
        /// The offending key, as canonical JSON.
        found: String,
    },

    /// A message that is not JSON at all (syntax error, truncated body).
    #[error("malformed JSON: {message}")]
    MalformedJson {
        /// The parser's message, with line and column.
        message: String,
    },

    /// A wire message of the wrong shape or with invalid content.
    #[error("{}{message}", if path.is_empty() || path == "." { String::new() } else { format!("{path}: ") })]
    Wire {
        /// Where in the message, e.g. `changes[2].fields.title.updatedAt`.
        path: String,
        /// What was wrong and what was expected.
        message: String,
    },

    /// A Dexie schema string that Dexie would reject or that fieldsync
    /// cannot sync.
    #[error("schema of table \"{table}\": {part}: {reason}")]
    Schema {
        /// The table whose schema is wrong.
        table: String,
        /// Which entry, e.g. `index 2 "++title"`.
        part: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// A database version Dexie cannot use.
    #[error("invalid database version {version}: {reason}")]
    InvalidVersion {
        /// The version given, as JavaScript writes it.
        version: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A `since` that is neither a cursor nor an RFC 3339 timestamp.
    #[error(
        "`since` \"{cursor}\" is neither a cursor this server returned (syncedUntil) nor an RFC 3339 timestamp; send the last syncedUntil, or omit it to start over"
    )]
    InvalidCursor {
        /// The cursor given (shortened if long).
        cursor: String,
    },

    /// A Dexie.Observable `_changes` row fieldsync cannot read.
    #[error("change log row (rev {rev}): {reason}")]
    ChangeRow {
        /// The row's `rev`, or `?` when it has none.
        rev: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// `text`, cut to `max` characters (with `…`) for an error message.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// `["a", "b"]`: names listed in messages (core's `{:?}` would pull the
/// Unicode escaping tables into the browser package).
pub fn quoted_list<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('"');
        out.push_str(item.as_ref());
        out.push('"');
    }
    out.push(']');
    out
}

impl Error {
    pub(crate) fn wire(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Wire {
            path: path.into(),
            message: message.into(),
        }
    }
}
