//! Dexie schema strings (`"++id, &email, *tags, [a+b]"`): parsing never
//! panics, and a parsed table survives a round trip through its canonical
//! form. Input: a table name, a newline, the spec.
#![no_main]

use fieldsync_core::DatabaseSchema;
use fieldsync_core::schema::parse_table;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (table, spec) = text.split_once('\n').unwrap_or(("t", text));
    if let Ok(parsed) = parse_table(table, spec) {
        // Dexie's canonical form of what was parsed parses to the same.
        let again = parse_table(table, &parsed.source()).expect("the canonical form parses");
        assert_eq!(again, parsed, "round trip through {:?}", parsed.source());
    }
    let _ = DatabaseSchema::parse(1.0, [(table, Some(spec))]);
});
