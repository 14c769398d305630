//! The outbox's rules for refused pushes: which failures set a change aside
//! and which retry, and how a refused batch is narrowed down to the changes
//! the server will never accept, so that one bad change never blocks the
//! rest.
//!
//! A pending record is *pushable*, *set aside* (the server refused it for
//! good; it waits for `retryFailed()`, `discardFailed()` or a new local
//! write to it), or *retrying* (set aside, then re-queued). The wasm client
//! keeps the refusal on the record's `_changes` rows, so acknowledging the
//! rows clears it in the same transaction.

use serde_json::Value;

use crate::json::ObjectWriter;
use crate::replica::PendingRecord;

/// Why the server refused a change, as kept with its rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The server's error code (e.g. `invalid_change`).
    pub code: String,
    /// The server's message, or ours for a change over the body limit.
    pub message: String,
    /// How many pushes of it were refused.
    pub attempts: u32,
    /// Re-queued by `retryFailed()`: push it again.
    pub retry: bool,
}

impl Refusal {
    /// Reads the `failed` member of a `_changes` row (`None` if absent or
    /// not a refusal).
    pub fn from_json(value: &Value) -> Option<Refusal> {
        Some(Refusal {
            status: u16::try_from(value.get("status")?.as_u64()?).ok()?,
            code: value.get("code")?.as_str()?.to_owned(),
            message: value.get("message")?.as_str()?.to_owned(),
            attempts: u32::try_from(value.get("attempts")?.as_u64()?).ok()?,
            retry: value.get("retry").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    /// Writes it as [`Refusal::from_json`] reads it.
    pub fn write_json(&self, out: &mut String) {
        let mut members = ObjectWriter::new(out);
        members.value("status", &Value::from(self.status));
        members.str("code", &self.code);
        members.str("message", &self.message);
        members.value("attempts", &Value::from(self.attempts));
        members.value("retry", &Value::Bool(self.retry));
        members.end();
    }
}

/// The refusals kept on `_changes` rows, by revision (rows are read in
/// revision order; a sorted list is smaller in the browser package than a
/// hash map).
#[derive(Clone, Debug, Default)]
pub struct Refusals(Vec<(u64, Refusal)>);

impl Refusals {
    /// Adds the refusal of row `rev`; revisions come in increasing order.
    pub fn push(&mut self, rev: u64, refusal: Refusal) {
        self.0.push((rev, refusal));
    }

    /// The refusal kept on row `rev`.
    pub fn get(&self, rev: u64) -> Option<&Refusal> {
        let i = self.0.binary_search_by_key(&rev, |(r, _)| *r).ok()?;
        Some(&self.0[i].1)
    }

    /// Whether no row carries a refusal.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether an HTTP status refuses a push for good. Every 4xx does, except
/// 401 (a fresh token may fix it), 408 (timeout) and 429 (slow down);
/// network failures and 5xx are transient and retry with backoff.
pub fn refuses_for_good(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 401 | 408 | 429)
}

/// What to do with a batch of `len` changes the server refused for good.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Narrowing {
    /// The server named the change: set it aside and push the others.
    SetAside(usize),
    /// Push each half on its own (the server named no change, e.g. 413 for
    /// the whole batch).
    Split(usize),
}

/// Narrows a refused batch of `len` (≥ 1) changes: the named change if the
/// server named a valid index, the only change of a batch of one, or a
/// split in halves otherwise (a binary search for the refused ones).
pub fn narrow(len: usize, named: Option<usize>) -> Narrowing {
    match named {
        Some(index) if index < len => Narrowing::SetAside(index),
        _ if len <= 1 => Narrowing::SetAside(0),
        _ => Narrowing::Split(len / 2),
    }
}

/// The message kept for a single change over the server's body limit.
pub fn too_large_message(server_message: &str) -> String {
    format!(
        "this change is larger than the sync server accepts in one request ({server_message}); \
         make the record smaller (keep large files outside synced tables), then retryFailed(), \
         or discardFailed() to drop it"
    )
}

/// Pending records, split by [`partition`].
#[derive(Clone, Debug, Default)]
pub struct Partition {
    /// To push, oldest first.
    pub pushable: Vec<PendingRecord>,
    /// Set aside, each with its latest refusal.
    pub set_aside: Vec<(PendingRecord, Refusal)>,
}

/// Splits pending records into those to push and those set aside, given
/// the refusals kept on their rows (by revision). A record is set aside
/// while every one of its rows carries a refusal that is not being
/// retried; a newer local write (a row without one) makes it pushable
/// again, whole. The refusal reported for a record is its latest.
pub fn partition(records: Vec<PendingRecord>, refusals: &Refusals) -> Partition {
    let mut pushable = Vec::new();
    let mut set_aside = Vec::new();
    for record in records {
        let held: Option<&Refusal> = record
            .revs
            .iter()
            .map(|rev| refusals.get(*rev).filter(|r| !r.retry))
            .collect::<Option<Vec<_>>>()
            .and_then(|all| all.into_iter().max_by_key(|r| r.attempts));
        match held {
            Some(refusal) => {
                let refusal = refusal.clone();
                set_aside.push((record, refusal));
            }
            None => pushable.push(record),
        }
    }
    Partition {
        pushable,
        set_aside,
    }
}

/// How many refused pushes a record has behind it (0 if none).
pub fn attempts_so_far(record: &PendingRecord, refusals: &Refusals) -> u32 {
    record
        .revs
        .iter()
        .filter_map(|rev| refusals.get(*rev))
        .map(|r| r.attempts)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RecordKey, RecordState, Timestamp};
    use serde_json::json;

    fn record(id: &str, revs: &[u64]) -> PendingRecord {
        PendingRecord {
            table: "todos".into(),
            key: RecordKey::new(json!(id)).unwrap(),
            state: RecordState::update([("done", Some(json!(1)))], Timestamp::ZERO),
            revs: revs.to_vec(),
        }
    }

    fn refusal(attempts: u32, retry: bool) -> Refusal {
        Refusal {
            status: 400,
            code: "invalid_change".into(),
            message: "no".into(),
            attempts,
            retry,
        }
    }

    #[test]
    fn a_refusal_reads_back_what_it_writes() {
        let original = Refusal {
            status: 413,
            code: "payload_too_large".into(),
            message: "over \"10 MB\"".into(),
            attempts: 3,
            retry: true,
        };
        let mut text = String::new();
        original.write_json(&mut text);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(Refusal::from_json(&value), Some(original));
        assert_eq!(Refusal::from_json(&json!({"status": 400})), None);
        assert_eq!(Refusal::from_json(&json!("failed")), None);
    }

    #[test]
    fn only_permanent_client_errors_set_changes_aside() {
        for status in [400, 403, 404, 409, 413, 422] {
            assert!(refuses_for_good(status), "{status}");
        }
        for status in [200, 401, 408, 429, 500, 502, 503] {
            assert!(!refuses_for_good(status), "{status}");
        }
    }

    #[test]
    fn a_refused_batch_narrows_to_the_named_change_or_splits() {
        assert_eq!(narrow(5, Some(3)), Narrowing::SetAside(3));
        assert_eq!(
            narrow(5, Some(5)),
            Narrowing::Split(2),
            "out of range: ignored"
        );
        assert_eq!(narrow(5, None), Narrowing::Split(2));
        assert_eq!(narrow(2, None), Narrowing::Split(1));
        assert_eq!(narrow(1, None), Narrowing::SetAside(0));
        assert_eq!(narrow(1, Some(7)), Narrowing::SetAside(0));
    }

    #[test]
    fn a_record_stays_aside_until_a_new_write_or_a_retry() {
        let mut refusals = Refusals::default();
        refusals.push(1, refusal(1, false));
        refusals.push(2, refusal(2, false));
        refusals.push(3, refusal(1, true));
        assert_eq!(refusals.get(3), Some(&refusal(1, true)));
        assert_eq!(refusals.get(4), None);
        let Partition {
            pushable: push,
            set_aside: aside,
        } = partition(
            vec![
                record("aside", &[1, 2]),
                record("new-write", &[1, 4]),
                record("retried", &[3]),
                record("clean", &[5]),
            ],
            &refusals,
        );
        let ids: Vec<String> = push.iter().map(|r| r.key.canonical()).collect();
        assert_eq!(ids, ["\"new-write\"", "\"retried\"", "\"clean\""]);
        assert_eq!(aside.len(), 1);
        assert_eq!(aside[0].0.key.canonical(), "\"aside\"");
        assert_eq!(aside[0].1.attempts, 2, "the latest refusal is reported");
        assert_eq!(attempts_so_far(&push[0], &refusals), 1);
        assert_eq!(attempts_so_far(&push[2], &refusals), 0);
    }
}
