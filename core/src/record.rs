//! The merge rule (SPEC §3): a record is a set of last-write-wins registers,
//! one per field plus one for its lifecycle (deleted or not).
//!
//! # Registers
//! A [`Register`] holds a field's value (or its removal) and the timestamp of
//! the write. Of two registers the one with the later timestamp wins; on an
//! exact tie the greater [canonical JSON](crate::canonical) encoding wins (a
//! removal encodes as the empty string, below every value), so every replica
//! picks the same winner without talking to the others.
//!
//! # Lifecycle
//! The [`Lifecycle`] register says whether the record is deleted, stamped
//! with the time of the delete or of the latest whole-record insert/put. It
//! merges by the same rule (on a tie, deleted wins). Field updates never touch
//! it, so an update later than a delete does not bring the record back
//! (deletes win over concurrent edits); a later insert/put does (re-creation).
//!
//! A whole-record write replaces the record: fields stamped before the
//! lifecycle register are not part of the current incarnation of the record
//! and can never become visible again (a re-creation always carries a later
//! stamp). [`RecordState`] therefore drops them as soon as it learns of a
//! later lifecycle stamp. This keeps tombstones small — a deleted record keeps
//! only its lifecycle register and the field writes made after its deletion —
//! and keeps the state a join-semilattice: merging is commutative, associative
//! and idempotent, so replicas that received the same writes in any order,
//! with any duplicates, hold identical states.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::canonical;
use crate::hlc::Timestamp;

/// One field's last-write-wins register.
#[derive(Clone, Debug, PartialEq)]
pub struct Register {
    /// The value written, or `None` if the write removed the property.
    pub value: Option<Value>,
    /// When it was written.
    pub ts: Timestamp,
}

impl Register {
    /// A register holding `value`, written at `ts`.
    pub fn new(value: Value, ts: Timestamp) -> Self {
        Register {
            value: Some(value),
            ts,
        }
    }

    /// A register recording the removal of the property at `ts`.
    pub fn removed(ts: Timestamp) -> Self {
        Register { value: None, ts }
    }

    /// The merge order: later timestamp first, then the greater canonical
    /// encoding of the value.
    pub fn cmp_lww(&self, other: &Register) -> Ordering {
        self.ts
            .cmp(&other.ts)
            .then_with(|| compare_values(&self.value, &other.value))
    }

    /// Whether both registers hold the same JSON value (`1` and `1.0` are
    /// the same), whatever their stamps.
    pub fn same_value(&self, other: &Register) -> bool {
        match (&self.value, &other.value) {
            (None, None) => true,
            (Some(a), Some(b)) => canonical::same_value(a, b),
            _ => false,
        }
    }
}

/// A total order on values: by canonical encoding, then — for values that are
/// equal in JSON but written differently, like `1` and `1.0` — by their
/// plain encoding, so that replicas also agree on the representation kept.
fn compare_values(a: &Option<Value>, b: &Option<Value>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => canonical::compare(a, b).then_with(|| {
            if a == b {
                Ordering::Equal
            } else {
                crate::json::to_string(a).cmp(&crate::json::to_string(b))
            }
        }),
    }
}

/// The record's lifecycle register: deleted or alive, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    /// Whether the record is deleted.
    pub deleted: bool,
    /// The delete's timestamp, or that of the latest whole-record write.
    pub ts: Timestamp,
}

impl Lifecycle {
    /// The merge order: later timestamp first; on a tie, deleted wins.
    pub fn cmp_lww(&self, other: &Lifecycle) -> Ordering {
        self.ts
            .cmp(&other.ts)
            .then(self.deleted.cmp(&other.deleted))
    }
}

/// A field whose value lost a merge.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldLoss {
    /// The field name.
    pub field: String,
    /// The register that lost.
    pub loser: Register,
    /// The register that won. A loss to a delete or to a whole-record
    /// replacement is reported as a removal stamped with the lifecycle.
    pub winner: Register,
}

/// What a [`RecordState::merge`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MergeReport {
    /// Fields whose register changed (new value, new stamp, or dropped).
    pub changed: Vec<String>,
    /// Whether the lifecycle register changed.
    pub lifecycle_changed: bool,
    /// Values held here that were replaced by a different incoming value.
    pub overwritten: Vec<FieldLoss>,
    /// Incoming values that lost to a different value held here.
    pub rejected: Vec<FieldLoss>,
}

impl MergeReport {
    /// Whether the merge changed nothing.
    pub fn is_noop(&self) -> bool {
        self.changed.is_empty() && !self.lifecycle_changed
    }
}

/// A record as a set of registers. Also used as a *patch*: a local write,
/// a wire change and a coalesced batch of writes are all record states, merged
/// into the stored state with [`RecordState::merge`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordState {
    fields: BTreeMap<String, Register>,
    lifecycle: Option<Lifecycle>,
}

impl RecordState {
    /// A state that knows nothing of the record.
    pub fn new() -> Self {
        RecordState::default()
    }

    /// The patch of a whole-record insert/put of `record` at `ts`: every
    /// property stamped `ts`, and the record alive since `ts` (which replaces
    /// whatever it was before).
    pub fn put(record: Map<String, Value>, ts: Timestamp) -> Self {
        RecordState {
            fields: by_insertion(record.into_iter().map(|(k, v)| (k, Register::new(v, ts)))),
            lifecycle: Some(Lifecycle { deleted: false, ts }),
        }
    }

    /// The patch of a field-level update at `ts`; `None` removes the property.
    pub fn update<I, K>(changes: I, ts: Timestamp) -> Self
    where
        I: IntoIterator<Item = (K, Option<Value>)>,
        K: Into<String>,
    {
        RecordState {
            fields: by_insertion(
                changes
                    .into_iter()
                    .map(|(k, value)| (k.into(), Register { value, ts })),
            ),
            lifecycle: None,
        }
    }

    /// The patch of a delete at `ts`.
    pub fn delete(ts: Timestamp) -> Self {
        RecordState {
            fields: BTreeMap::new(),
            lifecycle: Some(Lifecycle { deleted: true, ts }),
        }
    }

    /// Builds a state from raw registers (as persisted), normalising it.
    pub fn from_parts(
        fields: impl IntoIterator<Item = (String, Register)>,
        lifecycle: Option<Lifecycle>,
    ) -> Self {
        let mut state = RecordState {
            fields: BTreeMap::new(),
            lifecycle,
        };
        for (name, register) in fields {
            state.merge_field(name, register);
        }
        state
    }

    /// The field registers, by name.
    pub fn fields(&self) -> &BTreeMap<String, Register> {
        &self.fields
    }

    /// One field's register.
    pub fn field(&self, name: &str) -> Option<&Register> {
        self.fields.get(name)
    }

    /// The lifecycle register, if any whole-record write or delete is known.
    pub fn lifecycle(&self) -> Option<Lifecycle> {
        self.lifecycle
    }

    /// Whether the record is deleted.
    pub fn is_deleted(&self) -> bool {
        self.lifecycle.is_some_and(|l| l.deleted)
    }

    /// Whether this state knows nothing at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.lifecycle.is_none()
    }

    /// The newest stamp anywhere in the state.
    pub fn max_ts(&self) -> Option<Timestamp> {
        let fields = self.fields.values().map(|r| r.ts);
        fields.chain(self.lifecycle.map(|l| l.ts)).max()
    }

    /// The record as the app sees it: `None` if it is deleted or nothing
    /// about it is known, else its present properties.
    pub fn visible(&self) -> Option<Map<String, Value>> {
        if self.is_deleted() {
            return None;
        }
        let mut record = Map::new();
        for (k, r) in &self.fields {
            if let Some(v) = &r.value {
                record.insert(k.clone(), v.clone());
            }
        }
        if record.is_empty() && self.lifecycle.is_none() {
            None
        } else {
            Some(record)
        }
    }

    /// Merges one field register into the state. Returns whether it changed
    /// the state: the fast path for bulk merges that need no report.
    pub fn merge_field(&mut self, name: String, incoming: Register) -> bool {
        if self.lifecycle.is_some_and(|l| incoming.ts < l.ts) {
            return false;
        }
        match self.fields.get_mut(&name) {
            Some(current) => {
                if incoming.cmp_lww(current) == Ordering::Greater {
                    *current = incoming;
                    true
                } else {
                    false
                }
            }
            None => {
                self.fields.insert(name, incoming);
                true
            }
        }
    }

    /// Merges `incoming` into this state (the join of the two) and reports
    /// what changed and which values lost.
    pub fn merge(&mut self, incoming: &RecordState) -> MergeReport {
        let mut report = MergeReport::default();

        if let Some(theirs) = incoming.lifecycle {
            let newer = match self.lifecycle {
                Some(ours) => theirs.cmp_lww(&ours) == Ordering::Greater,
                None => true,
            };
            if newer {
                self.lifecycle = Some(theirs);
                report.lifecycle_changed = true;
                self.drop_fields_before(theirs.ts, incoming, &mut report);
            }
        }
        let floor = self.lifecycle.map(|l| l.ts);

        for (name, theirs) in &incoming.fields {
            if floor.is_some_and(|floor| theirs.ts < floor) {
                let winner = self
                    .fields
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| Register::removed(floor.unwrap_or(Timestamp::ZERO)));
                if !theirs.same_value(&winner) {
                    report.rejected.push(FieldLoss {
                        field: name.clone(),
                        loser: theirs.clone(),
                        winner,
                    });
                }
                continue;
            }
            match self.fields.get_mut(name) {
                None => {
                    self.fields.insert(name.clone(), theirs.clone());
                    report.changed.push(name.clone());
                }
                Some(ours) => match theirs.cmp_lww(ours) {
                    Ordering::Greater => {
                        let loser = std::mem::replace(ours, theirs.clone());
                        if !loser.same_value(theirs) {
                            report.overwritten.push(FieldLoss {
                                field: name.clone(),
                                loser,
                                winner: theirs.clone(),
                            });
                        }
                        report.changed.push(name.clone());
                    }
                    Ordering::Less => {
                        if !theirs.same_value(ours) {
                            report.rejected.push(FieldLoss {
                                field: name.clone(),
                                loser: theirs.clone(),
                                winner: ours.clone(),
                            });
                        }
                    }
                    Ordering::Equal => {}
                },
            }
        }
        report
    }

    /// Drops the registers a newer lifecycle stamp made unreachable, reporting
    /// present values as lost (to `incoming`'s own register for the same
    /// field, which the caller then inserts, or else to the lifecycle).
    fn drop_fields_before(
        &mut self,
        floor: Timestamp,
        incoming: &RecordState,
        report: &mut MergeReport,
    ) {
        self.fields.retain(|name, ours| {
            if ours.ts >= floor {
                return true;
            }
            let replacement = incoming.fields.get(name).filter(|r| r.ts >= floor);
            let winner = replacement
                .cloned()
                .unwrap_or_else(|| Register::removed(floor));
            if !ours.same_value(&winner) {
                report.overwritten.push(FieldLoss {
                    field: name.clone(),
                    loser: ours.clone(),
                    winner,
                });
            }
            if replacement.is_none() {
                report.changed.push(name.clone());
            }
            false
        });
    }
}

/// A map built by inserting (the last of equal keys wins, as with
/// `collect`): `collect` into a `BTreeMap` sorts first, and each sort
/// instance costs the browser package kilobytes.
pub(crate) fn by_insertion<K: Ord, V>(entries: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    let mut map = BTreeMap::new();
    for (k, v) in entries {
        map.insert(k, v);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(ms: u64) -> Timestamp {
        Timestamp::new(ms, 0)
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn later_field_write_wins_and_reports_the_loser() {
        let mut state = RecordState::put(obj(json!({"title": "Buy milk"})), t(1));
        let report = state.merge(&RecordState::update(
            [("title", Some(json!("Buy eggs")))],
            t(2),
        ));
        assert_eq!(state.visible().unwrap()["title"], "Buy eggs");
        assert_eq!(report.changed, ["title"]);
        assert_eq!(report.overwritten.len(), 1);
        assert_eq!(report.overwritten[0].loser.value, Some(json!("Buy milk")));

        let report = state.merge(&RecordState::update([("title", Some(json!("old")))], t(1)));
        assert!(report.is_noop());
        assert_eq!(report.rejected[0].winner.value, Some(json!("Buy eggs")));
        assert_eq!(state.visible().unwrap()["title"], "Buy eggs");
    }

    #[test]
    fn exact_tie_goes_to_the_greater_canonical_value_on_both_sides() {
        let a = RecordState::update([("x", Some(json!("apple")))], t(5));
        let b = RecordState::update([("x", Some(json!("banana")))], t(5));
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!(ab.field("x").unwrap().value, Some(json!("banana")));
        // A removal loses a tie against any value.
        let mut r = RecordState::update([("x", None::<Value>)], t(5));
        r.merge(&a);
        assert_eq!(r.field("x").unwrap().value, Some(json!("apple")));
    }

    #[test]
    fn update_after_delete_does_not_resurrect() {
        let mut state = RecordState::put(obj(json!({"title": "a"})), t(1));
        state.merge(&RecordState::delete(t(2)));
        state.merge(&RecordState::update([("title", Some(json!("b")))], t(3)));
        assert!(state.is_deleted());
        assert_eq!(state.visible(), None);
        // The older fields are gone; the later update is kept under the tombstone.
        assert_eq!(state.fields().len(), 1);
    }

    #[test]
    fn later_put_recreates_and_replaces_the_whole_record() {
        let mut state = RecordState::put(obj(json!({"title": "a", "note": "n"})), t(1));
        state.merge(&RecordState::delete(t(2)));
        state.merge(&RecordState::put(obj(json!({"title": "again"})), t(3)));
        assert_eq!(state.visible().unwrap(), obj(json!({"title": "again"})));
        // A delete older than the re-creation changes nothing.
        let report = state.merge(&RecordState::delete(t(2)));
        assert!(report.is_noop());
        assert!(!state.is_deleted());
    }

    #[test]
    fn delete_wins_a_lifecycle_tie() {
        let mut a = RecordState::put(obj(json!({"x": 1})), t(4));
        a.merge(&RecordState::delete(t(4)));
        let mut b = RecordState::delete(t(4));
        b.merge(&RecordState::put(obj(json!({"x": 1})), t(4)));
        assert!(a.is_deleted() && b.is_deleted());
        assert_eq!(a, b);
    }

    #[test]
    fn edits_lost_to_a_delete_are_reported() {
        let mut state = RecordState::update([("title", Some(json!("mine")))], t(1));
        let report = state.merge(&RecordState::delete(t(2)));
        assert_eq!(report.overwritten.len(), 1);
        assert_eq!(report.overwritten[0].winner, Register::removed(t(2)));
        let mut server = RecordState::delete(t(2));
        let report = server.merge(&RecordState::update([("title", Some(json!("late")))], t(1)));
        assert!(report.is_noop());
        assert_eq!(report.rejected[0].field, "title");
    }

    #[test]
    fn removal_hides_a_property() {
        let mut state = RecordState::put(obj(json!({"a": 1, "b": 2})), t(1));
        state.merge(&RecordState::update([("b", None::<Value>)], t(2)));
        assert_eq!(state.visible().unwrap(), obj(json!({"a": 1})));
    }

    #[test]
    fn equal_values_with_different_stamps_are_not_losses() {
        let mut state = RecordState::update([("n", Some(json!(1)))], t(1));
        let report = state.merge(&RecordState::update([("n", Some(json!(1.0)))], t(2)));
        assert_eq!(report.changed, ["n"]);
        assert!(report.overwritten.is_empty());
    }

    #[test]
    fn merge_field_agrees_with_merge() {
        let mut a = RecordState::delete(t(3));
        assert!(!a.merge_field("x".into(), Register::new(json!(1), t(2))));
        assert!(a.merge_field("x".into(), Register::new(json!(1), t(4))));
        assert!(!a.merge_field("x".into(), Register::new(json!(0), t(4))));
        let mut b = RecordState::delete(t(3));
        b.merge(&RecordState::update([("x", Some(json!(1)))], t(4)));
        assert_eq!(a, b);
    }
}
