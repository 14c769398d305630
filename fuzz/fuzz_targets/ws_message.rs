//! WebSocket messages both ways: what the server reads from clients and what
//! clients read from the server. Decoding never panics; what decodes
//! survives a round trip.
#![no_main]

use fieldsync_core::{ClientMessage, ServerMessage, wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = wire::parse::<ClientMessage>(data) {
        let json = serde_json::to_vec(&message).expect("serialises");
        assert_eq!(
            wire::parse::<ClientMessage>(&json).expect("parses"),
            message
        );
    }
    if let Ok(message) = wire::parse::<ServerMessage>(data) {
        let json = serde_json::to_vec(&message).expect("serialises");
        assert_eq!(
            wire::parse::<ServerMessage>(&json).expect("parses"),
            message
        );
    }
});
