//! Field merges per second of the core merge rule, natively, on one core.
//!
//! `cargo bench -p fieldsync-core --bench merge` (add `-- --quick` for a short
//! run). Prints merges/s for the full merge (with its report of changed and
//! lost fields) and for the `merge_field` fast path, against a baseline
//! measured in the same run: overwriting the same values in a plain
//! `BTreeMap<String, Value>` with no timestamps at all.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use fieldsync_core::{RecordState, Register, Timestamp};
use serde_json::{Map, Value, json};

const RECORDS: usize = 10_000;
const FIELDS: usize = 10;

struct Workload {
    stored: Vec<RecordState>,
    incoming: Vec<RecordState>,
    plain_stored: Vec<BTreeMap<String, Value>>,
}

fn field_name(f: usize) -> String {
    format!("field{f}")
}

fn workload() -> Workload {
    let mut stored = Vec::with_capacity(RECORDS);
    let mut incoming = Vec::with_capacity(RECORDS);
    let mut plain_stored = Vec::with_capacity(RECORDS);
    // A cheap deterministic mix: about half the incoming fields are newer.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for r in 0..RECORDS {
        let mut record = Map::new();
        for f in 0..FIELDS {
            record.insert(field_name(f), json!(format!("value {r}.{f}")));
        }
        plain_stored.push(record.clone().into_iter().collect());
        stored.push(RecordState::put(record, Timestamp::new(1_000_000, 0)));
        let mut changes = Vec::with_capacity(FIELDS);
        for f in 0..FIELDS {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let ms = if seed.is_multiple_of(2) {
                2_000_000
            } else {
                500_000
            };
            changes.push((
                field_name(f),
                Register::new(
                    json!(format!("new {r}.{f}")),
                    Timestamp::new(ms, (seed % 1000) as u32),
                ),
            ));
        }
        incoming.push(RecordState::from_parts(changes, None));
    }
    Workload {
        stored,
        incoming,
        plain_stored,
    }
}

/// Runs `round` on fresh copies until `budget` has passed; returns merges/s.
fn measure<S: Clone>(budget: Duration, template: &[S], mut round: impl FnMut(&mut [S])) -> f64 {
    let mut merges = 0usize;
    let mut spent = Duration::ZERO;
    while spent < budget {
        let mut copy = template.to_vec();
        let start = Instant::now();
        round(&mut copy);
        spent += start.elapsed();
        merges += RECORDS * FIELDS;
        black_box(copy);
    }
    merges as f64 / spent.as_secs_f64()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = Duration::from_millis(if quick { 300 } else { 2_000 });
    let w = workload();

    let full = measure(budget, &w.stored, |states| {
        for (state, patch) in states.iter_mut().zip(&w.incoming) {
            black_box(state.merge(patch));
        }
    });
    let fast = measure(budget, &w.stored, |states| {
        for (state, patch) in states.iter_mut().zip(&w.incoming) {
            for (name, register) in patch.fields() {
                black_box(state.merge_field(name.clone(), register.clone()));
            }
        }
    });
    let baseline = measure(budget, &w.plain_stored, |maps| {
        for (map, patch) in maps.iter_mut().zip(&w.incoming) {
            for (name, register) in patch.fields() {
                let value = register.value.clone().unwrap_or(Value::Null);
                match map.get_mut(name) {
                    Some(slot) => *slot = value,
                    None => {
                        map.insert(name.clone(), value);
                    }
                }
            }
        }
    });

    println!(
        "fieldsync-core merge benchmark ({RECORDS} records x {FIELDS} fields, ~half incoming newer)"
    );
    println!("{:<46} {:>14}  {:>8}", "case", "field merges/s", "vs base");
    for (name, rate) in [
        ("RecordState::merge (with report)", full),
        ("RecordState::merge_field (fast path)", fast),
        ("baseline: BTreeMap overwrite, no clock", baseline),
    ] {
        println!("{name:<46} {rate:>14.0}  {:>7.2}x", rate / baseline);
    }
    println!("target: >= 2000000 field merges/s on one core");
}
