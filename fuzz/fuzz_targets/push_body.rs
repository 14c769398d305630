//! A push body, as the server receives it: parsing never panics; what parses
//! survives a round trip, and merging its changes is idempotent.
#![no_main]

use fieldsync_core::{PushRequest, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = PushRequest::parse(data) else {
        return;
    };
    let json = request.to_json();
    let again = PushRequest::parse(json.as_bytes()).expect("a written request parses");
    assert_eq!(again, request, "round trip");
    for change in &request.changes {
        let state = change.to_state(Timestamp::ZERO);
        let mut merged = state.clone();
        merged.merge(&state);
        assert_eq!(merged, state, "merging a state into itself changes nothing");
        let _ = merged.visible();
    }
});
