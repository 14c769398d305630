//! A pull's query string and its cursor: decoding never panics, and a
//! decoded query holds a valid table name.
#![no_main]

use fieldsync_core::wire::validate_table_name;
use fieldsync_core::{PullQuery, Since};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Since::parse(Some(text));
    if let Ok(query) = PullQuery::from_query(text) {
        assert!(validate_table_name(&query.collection).is_ok());
        assert!(query.limit != Some(0));
        let _ = Since::parse(query.since.as_deref());
    }
});
