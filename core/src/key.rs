//! Record keys as they travel on the wire.
//!
//! IndexedDB keys may be strings, numbers, dates, binary or arrays. Synced
//! records use the JSON-representable subset: a non-empty string, a finite
//! number, or a non-empty array of those (compound primary keys). The
//! canonical JSON encoding of the key identifies the record everywhere, so the
//! string `"1"` and the number `1` are different records, as in IndexedDB.

use std::fmt;

use serde_json::Value;

use crate::{Error, canonical};

/// The primary key of a synced record.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordKey(Value);

impl RecordKey {
    /// Checks that `value` can be a synced record key.
    pub fn new(value: Value) -> Result<Self, Error> {
        if is_valid_key(&value, true) {
            Ok(RecordKey(value))
        } else {
            Err(Error::InvalidKey {
                found: shorten(&canonical::to_canonical(&value)),
            })
        }
    }

    /// The key as a JSON value.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The key's canonical JSON encoding: its identity.
    pub fn canonical(&self) -> String {
        canonical::to_canonical(&self.0)
    }
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Value::String(s) => f.write_str(s),
            other => f.write_str(&canonical::to_canonical(other)),
        }
    }
}

/// 2^53: the largest integer JavaScript holds exactly (with its neighbours).
const MAX_EXACT_INTEGER: u64 = 1 << 53;

fn is_valid_key(value: &Value, top: bool) -> bool {
    match value {
        Value::String(s) => !s.is_empty() || !top,
        // Integers beyond 2^53 would reach JavaScript (and IndexedDB) as a
        // different number: another record.
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u <= MAX_EXACT_INTEGER,
            (None, Some(i)) => i.unsigned_abs() <= MAX_EXACT_INTEGER,
            _ => n.as_f64().is_some_and(f64::is_finite),
        },
        Value::Array(items) if top => {
            !items.is_empty() && items.iter().all(|item| is_valid_key(item, false))
        }
        _ => false,
    }
}

fn shorten(s: &str) -> String {
    crate::error::shorten(s, 48)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_strings_numbers_and_compound_keys() {
        for ok in [
            json!("t1"),
            json!(7),
            json!(1.5),
            json!(["a", 2]),
            json!(["", 1]),
        ] {
            assert!(RecordKey::new(ok.clone()).is_ok(), "{ok}");
        }
        assert_ne!(
            RecordKey::new(json!("1")).unwrap().canonical(),
            RecordKey::new(json!(1)).unwrap().canonical()
        );
    }

    #[test]
    fn rejects_what_cannot_be_a_synced_key() {
        for bad in [
            json!(""),
            json!(null),
            json!(true),
            json!({}),
            json!([]),
            json!([[1]]),
            json!(9_007_199_254_740_993u64),
            json!(-9_007_199_254_740_993i64),
            json!(["a", 9_007_199_254_740_993u64]),
        ] {
            let err = RecordKey::new(bad.clone()).unwrap_err().to_string();
            assert!(err.contains("non-empty string"), "{bad}: {err}");
        }
        assert!(
            RecordKey::new(json!(9_007_199_254_740_992u64)).is_ok(),
            "2^53 itself is exact"
        );
        assert!(
            RecordKey::new(json!(1e300)).is_ok(),
            "a double is what it is"
        );
    }
}
