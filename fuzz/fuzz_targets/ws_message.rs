//! WebSocket messages both ways: what the server reads from clients and what
//! clients read from the server. Decoding never panics; what decodes
//! survives a round trip.
#![no_main]

use fieldsync_core::{ClientMessage, ServerMessage, wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = wire::parse(data, ClientMessage::from_json) {
        let json = message.to_json();
        assert_eq!(
            wire::parse(json.as_bytes(), ClientMessage::from_json).expect("parses"),
            message
        );
    }
    if let Ok(message) = wire::parse(data, ServerMessage::from_json) {
        let json = message.to_json();
        assert_eq!(
            wire::parse(json.as_bytes(), ServerMessage::from_json).expect("parses"),
            message
        );
    }
});
