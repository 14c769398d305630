//! Canonical JSON encoding: one byte string per JSON value, identical on every
//! replica, used to break exact timestamp ties (SPEC §3) and to identify keys.
//!
//! Object keys are sorted by their UTF-8 bytes (serde_json's `Map` is a
//! `BTreeMap` here, which keeps them so); there is no white space; strings
//! are escaped as `serde_json` does; a number with an integral value of
//! magnitude below 2^53 is written as an integer (`1.0` and `1` are the same
//! value in JavaScript, so they must encode alike), any other number in
//! `serde_json`'s shortest round-trip form.

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde_json::{Number, Value};

/// 2^53: integers below it are exact in an IEEE double, as in JavaScript.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// The canonical encoding of `value`.
pub fn to_canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

/// Compares two values by their canonical encodings.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    to_canonical(a).cmp(&to_canonical(b))
}

/// Whether two values are the same JSON value (`1` equals `1.0`).
pub fn same_value(a: &Value, b: &Value) -> bool {
    compare(a, b) == Ordering::Equal
}

fn write_canonical(value: &Value, out: &mut String) {
    // serde_json's Map is a BTreeMap (no `preserve_order` feature in this
    // workspace: a test checks), so objects come out with sorted keys.
    crate::json::write_with(value, out, write_canonical_number);
}

fn write_canonical_number(n: &Number, out: &mut String) {
    if !n.is_i64() && !n.is_u64() {
        let f = n.as_f64().unwrap_or(0.0);
        if f.fract() == 0.0 && f.abs() < EXACT_INT_LIMIT {
            // -0.0 is written 0, as JSON.stringify does.
            let _ = write!(out, "{}", f as i64);
            return;
        }
    }
    let _ = write!(out, "{n}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_iterate_in_key_order() {
        // Canonical encoding relies on it; serde_json's `preserve_order`
        // feature would break it.
        let map: serde_json::Map<String, Value> = [("b", 1), ("a", 2), ("c", 3)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect();
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a", "b", "c"]);
    }

    #[test]
    fn sorts_keys_and_normalises_numbers() {
        assert_eq!(
            to_canonical(&json!({"b": 1.0, "a": [true, null, "x\"y"], "c": 1.5})),
            r#"{"a":[true,null,"x\"y"],"b":1,"c":1.5}"#
        );
        assert!(same_value(&json!(1), &json!(1.0)));
        assert!(same_value(&json!(-0.0), &json!(0)));
        assert!(!same_value(&json!(1), &json!("1")));
    }

    #[test]
    fn order_is_total_and_byte_wise() {
        assert_eq!(compare(&json!("b"), &json!("a")), Ordering::Greater);
        assert_eq!(compare(&json!(true), &json!(false)), Ordering::Greater);
        assert_eq!(compare(&json!({"a": 1}), &json!({"a": 1})), Ordering::Equal);
    }
}
