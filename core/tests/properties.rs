//! Property tests of the merge engine. Each property runs 1,000 cases by
//! default (`PROPTEST_CASES` overrides it).

use std::collections::BTreeMap;

use fieldsync_core::canonical;
use fieldsync_core::schema::parse_table;
use fieldsync_core::{
    Change, Clock, Coalescer, Lifecycle, RecordKey, RecordState, Register, Timestamp, wire,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1000);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Few distinct stamps, so exact ties are common.
fn timestamp() -> impl Strategy<Value = Timestamp> {
    (0u64..6, 0u32..3).prop_map(|(ms, c)| Timestamp::new(1_700_000_000_000 + ms, c))
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..3).prop_map(|n| json!(n)),
        Just(json!(1.0)),
        Just(json!(2.5)),
        "[ab]{0,2}".prop_map(Value::String),
        Just(json!([1, "x"])),
        Just(json!({"b": 1, "a": [true]})),
    ]
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("c".to_owned())
    ]
}

fn register() -> impl Strategy<Value = Register> {
    (proptest::option::weighted(0.85, value()), timestamp())
        .prop_map(|(value, ts)| Register { value, ts })
}

/// A write as an app makes it: a put, a field update or a delete.
fn write() -> impl Strategy<Value = RecordState> {
    prop_oneof![
        (
            proptest::collection::btree_map(field_name(), value(), 0..3),
            timestamp()
        )
            .prop_map(|(fields, ts)| RecordState::put(fields.into_iter().collect(), ts)),
        (
            proptest::collection::btree_map(
                field_name(),
                proptest::option::weighted(0.8, value()),
                1..3
            ),
            timestamp()
        )
            .prop_map(|(fields, ts)| RecordState::update(fields, ts)),
        timestamp().prop_map(RecordState::delete),
    ]
}

/// Any state: arbitrary registers and lifecycle (not only those writes make).
fn state() -> impl Strategy<Value = RecordState> {
    (
        proptest::collection::btree_map(field_name(), register(), 0..4),
        proptest::option::of((any::<bool>(), timestamp())),
    )
        .prop_map(|(fields, lifecycle)| {
            RecordState::from_parts(
                fields,
                lifecycle.map(|(deleted, ts)| Lifecycle { deleted, ts }),
            )
        })
}

fn joined(a: &RecordState, b: &RecordState) -> RecordState {
    let mut out = a.clone();
    out.merge(b);
    out
}

fn record_key(i: usize) -> RecordKey {
    RecordKey::new(json!(format!("r{i}"))).unwrap()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn merge_is_commutative(a in state(), b in state()) {
        prop_assert_eq!(joined(&a, &b), joined(&b, &a));
    }

    #[test]
    fn merge_is_associative(a in state(), b in state(), c in state()) {
        prop_assert_eq!(joined(&joined(&a, &b), &c), joined(&a, &joined(&b, &c)));
    }

    #[test]
    fn merge_is_idempotent(a in state(), b in state()) {
        prop_assert_eq!(joined(&a, &a), a.clone());
        let ab = joined(&a, &b);
        prop_assert_eq!(joined(&ab, &b), ab.clone());
        prop_assert!(ab.clone().merge(&b).is_noop());
    }

    /// N replicas receiving the same set of changes, in any order and with
    /// duplicates, end in identical states.
    #[test]
    fn replicas_converge_whatever_the_delivery_order(
        changes in proptest::collection::vec((0usize..3, write()), 1..24),
        deliveries in proptest::collection::vec(
            proptest::collection::vec(any::<proptest::sample::Index>(), 0..48), 3..7),
    ) {
        let mut replicas: Vec<BTreeMap<usize, RecordState>> = Vec::new();
        for extra in &deliveries {
            // Every change at least once, plus duplicates, in a shuffled order.
            let mut order: Vec<usize> = (0..changes.len()).collect();
            order.extend(extra.iter().map(|ix| ix.index(changes.len())));
            for (i, ix) in extra.iter().enumerate() {
                let len = order.len();
                order.swap(i % len, ix.index(len));
            }
            let mut replica: BTreeMap<usize, RecordState> = BTreeMap::new();
            for i in order {
                let (record, patch) = &changes[i];
                replica.entry(*record).or_default().merge(patch);
            }
            replicas.push(replica);
        }
        for replica in &replicas[1..] {
            prop_assert_eq!(replica, &replicas[0]);
        }
    }

    /// Merging a coalesced batch equals merging its writes one by one, into
    /// any state: coalescing loses nothing.
    #[test]
    fn coalescing_preserves_the_effect_of_every_write(
        base in state(),
        writes in proptest::collection::vec(write(), 1..10),
    ) {
        let key = record_key(0);
        let mut one_by_one = base.clone();
        let mut coalescer = Coalescer::new();
        for w in &writes {
            one_by_one.merge(w);
            coalescer.add("todos", &key, w);
        }
        let changes = coalescer.into_changes();
        prop_assert!(changes.len() <= 1);
        let mut batched = base.clone();
        for change in &changes {
            batched.merge(&change.to_state(Timestamp::ZERO));
        }
        prop_assert_eq!(batched, one_by_one);
    }

    /// State → wire change → JSON → parsed change → state is the identity.
    #[test]
    fn wire_round_trip_preserves_state(s in state()) {
        let key = record_key(1);
        if let Some(change) = Change::from_state("todos", &key, &s) {
            let back = wire::parse(change.to_json().as_bytes(), Change::from_json).unwrap();
            back.validate("change").unwrap();
            prop_assert_eq!(back.to_state(Timestamp::MAX), s);
        } else {
            prop_assert!(s.is_empty());
        }
    }

    /// Every loss reported names a loser that is gone and a winner that is
    /// what the state now holds (or the lifecycle that hid it).
    #[test]
    fn merge_reports_are_truthful(a in state(), b in state()) {
        let mut merged = a.clone();
        let report = merged.merge(&b);
        for loss in report.overwritten.iter().chain(&report.rejected) {
            prop_assert!(!loss.loser.same_value(&loss.winner));
            match merged.field(&loss.field) {
                Some(held) => prop_assert_eq!(held, &loss.winner),
                None => {
                    prop_assert_eq!(loss.winner.value.clone(), None);
                    prop_assert_eq!(Some(loss.winner.ts), merged.lifecycle().map(|l| l.ts));
                }
            }
        }
        for name in &report.changed {
            prop_assert_ne!(a.field(name), merged.field(name));
        }
    }

    #[test]
    fn timestamps_round_trip_and_sort_like_instants(
        ms in 0u64..253_402_300_799_999, counter in 0u32..1_000_000,
        ms2 in 0u64..253_402_300_799_999, counter2 in 0u32..1_000_000,
    ) {
        let a = Timestamp::new(ms, counter);
        let b = Timestamp::new(ms2, counter2);
        let text = a.to_string();
        prop_assert_eq!(text.len(), 30);
        prop_assert_eq!(Timestamp::parse(&text).unwrap(), a);
        // The nine-digit form is valid RFC 3339 for an independent parser.
        let parsed = chrono::DateTime::parse_from_rfc3339(&text).unwrap();
        prop_assert_eq!(parsed.timestamp_nanos_opt().map(|n| n as u128), Some(a.as_nanos()).filter(|n| *n <= i64::MAX as u128));
        prop_assert_eq!(a.cmp(&b), a.as_nanos().cmp(&b.as_nanos()));
    }

    /// Any RFC 3339 text (any offset and precision) reads as the instant an
    /// independent parser reads.
    #[test]
    fn parses_what_chrono_writes(
        secs in 0i64..4_102_444_800, nanos in 0u32..1_000_000_000,
        offset_min in -1439i32..1440, digits in 0usize..10,
    ) {
        use chrono::{FixedOffset, SecondsFormat, TimeZone};
        let tz = FixedOffset::east_opt(offset_min * 60).unwrap();
        let t = tz.timestamp_opt(secs, nanos).unwrap();
        let format = match digits {
            0 => SecondsFormat::Secs,
            1..=3 => SecondsFormat::Millis,
            4..=6 => SecondsFormat::Micros,
            _ => SecondsFormat::Nanos,
        };
        let text = t.to_rfc3339_opts(format, offset_min == 0);
        let ours = Timestamp::parse(&text).unwrap();
        let theirs = chrono::DateTime::parse_from_rfc3339(&text).unwrap();
        prop_assert_eq!(ours.as_nanos(), theirs.timestamp_nanos_opt().unwrap() as u128, "{}", text);
    }

    /// The clock never goes backwards and never undercuts what it observed.
    #[test]
    fn clock_is_monotonic(events in proptest::collection::vec(
        prop_oneof![
            (0u64..5_000).prop_map(|w| (true, w, Timestamp::ZERO)),
            timestamp().prop_map(|t| (false, 0, t)),
        ], 1..64)) {
        let mut clock = Clock::new();
        let mut highest = Timestamp::ZERO;
        for (issue, wall, remote) in events {
            if issue {
                let t = clock.now(1_700_000_000_000 + wall);
                prop_assert!(t > highest, "{} <= {}", t, highest);
                highest = t;
            } else {
                clock.observe(remote);
                highest = highest.max(remote);
            }
        }
    }

    #[test]
    fn canonical_order_is_a_total_order(a in value(), b in value(), c in value()) {
        use std::cmp::Ordering::*;
        let ab = canonical::compare(&a, &b);
        prop_assert_eq!(ab.reverse(), canonical::compare(&b, &a));
        if ab != Greater && canonical::compare(&b, &c) != Greater {
            prop_assert_ne!(canonical::compare(&a, &c), Greater);
        }
        if ab == Equal {
            prop_assert_eq!(canonical::to_canonical(&a), canonical::to_canonical(&b));
        }
    }

    /// A parsed table schema written back in Dexie's form parses to itself.
    #[test]
    fn schema_source_round_trips(
        pk in prop_oneof![Just(""), Just("++"), Just("id"), Just("++id"), Just("&id"), Just("[a+b]")],
        indexes in proptest::collection::btree_map(
            prop_oneof![Just("x"), Just("y.z"), Just("[x+y]"), Just("tags"), Just("w")],
            (any::<bool>(), any::<bool>()), 0..5),
    ) {
        let mut spec = pk.to_owned();
        for (name, (unique, multi)) in &indexes {
            spec.push(',');
            if *unique { spec.push('&'); }
            if *multi { spec.push('*'); }
            spec.push_str(name);
        }
        let table = parse_table("t", &spec).unwrap();
        let again = parse_table("t", &table.source()).unwrap();
        prop_assert_eq!(&again.indexes, &table.indexes);
        prop_assert_eq!(again.primary_key.key_path, table.primary_key.key_path);
        prop_assert_eq!(table.indexes.len(), indexes.len());
    }
}

#[test]
fn visible_record_ignores_map_order() {
    let mut a = Map::new();
    a.insert("x".into(), json!(1));
    let s = RecordState::put(a, Timestamp::new(1, 0));
    assert_eq!(s.visible().unwrap()["x"], 1);
}
