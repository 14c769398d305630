//! The browser's JSON reader and writer (core::json) against serde_json, the
//! server's parser: the same texts parse to the same values and write back
//! to the same bytes. On whatever the wire codec reads, its writer's text
//! reads back (by either parser) to the same message.
#![no_main]

use fieldsync_core::{Error, PullResponse, PushRequest, PushResponse, codec, json};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// `message`, written by the codec and read back through both parsers.
fn round_trip<T: PartialEq + std::fmt::Debug>(
    message: &T,
    text: String,
    read: fn(&Value, &str) -> Result<T, Error>,
) {
    let ours = json::parse(&text).expect("the codec writes JSON");
    let theirs: Value = serde_json::from_str(&text).expect("serde_json reads it");
    assert_eq!(ours, theirs, "{text}");
    assert_eq!(&read(&ours, "").expect("it reads back"), message, "{text}");
}

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

    if let Ok(pull) = PullResponse::from_json(&value, "") {
        round_trip(&pull, pull.to_json(), PullResponse::from_json);
    }
    if let Ok(push) = PushResponse::from_json(&value, "") {
        round_trip(&push, push.to_json(), PushResponse::from_json);
    }
    if let Ok(push) = PushRequest::from_json(&value, "") {
        round_trip(&push, push.to_json(), PushRequest::from_json);
    }
    let _ = codec::change_rows(&value, "");
});
