//! The browser's JSON path (core::json and core::codec, no serde) against
//! the server's (serde_json and the serde derives): the same texts parse to
//! the same values; every message serde reads, the codec reads alike; every
//! push the codec writes is what serde writes.
#![no_main]

use fieldsync_core::{ChangeRow, PullResponse, PushRequest, PushResponse, codec, json};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = json::parse(text);
    let theirs = serde_json::from_str::<Value>(text);
    assert_eq!(ours.is_ok(), theirs.is_ok(), "{ours:?} vs {theirs:?}");
    let (Ok(value), Ok(expected)) = (ours, theirs) else {
        return;
    };
    assert_eq!(value, expected);
    assert_eq!(
        json::to_string(&value),
        serde_json::to_string(&value).unwrap()
    );

    if let Ok(pull) = serde_json::from_value::<PullResponse>(value.clone()) {
        assert_eq!(PullResponse::from_json(&value, "").unwrap(), pull);
    }
    if let Ok(push) = serde_json::from_value::<PushResponse>(value.clone()) {
        assert_eq!(PushResponse::from_json(&value, "").unwrap(), push);
    }
    if let Ok(rows) = serde_json::from_value::<Vec<ChangeRow>>(value.clone()) {
        assert_eq!(codec::change_rows(&value, "").unwrap(), rows);
    }
    if let Ok(push) = serde_json::from_value::<PushRequest>(value.clone()) {
        assert_eq!(push.to_json(), serde_json::to_string(&push).unwrap());
    }
});
