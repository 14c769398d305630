//! The field-level examples of the server protocol seed (`001_…`), run through
//! the wire format exactly as clients send them, applied in both orders.

use fieldsync_core::{Conflict, PushRequest, RecordState, Timestamp};
use serde_json::{Value, json};

/// Applies the pushes to one server-side record in the given order and
/// returns the visible record and the conflicts each push reported.
fn apply(pushes: &[Value]) -> (serde_json::Map<String, Value>, Vec<Vec<Conflict>>) {
    let mut server = RecordState::new();
    let mut conflicts = Vec::new();
    for push in pushes {
        let request = PushRequest::parse(&serde_json::to_vec(push).unwrap()).unwrap();
        let mut lost = Vec::new();
        for change in &request.changes {
            let report = server.merge(&change.to_state(Timestamp::ZERO));
            lost.extend(
                report
                    .rejected
                    .iter()
                    .map(|loss| Conflict::from_loss(&change.table, &change.id, loss)),
            );
        }
        conflicts.push(lost);
    }
    (server.visible().unwrap(), conflicts)
}

fn push(client: &str, fields: Value) -> Value {
    json!({
        "clientId": client,
        "since": "2024-01-01T10:00:00.000Z",
        "changes": [{ "table": "todos", "id": "todo-123", "op": "update", "fields": fields }]
    })
}

#[test]
fn seed_001_later_timestamp_wins_buy_eggs() {
    let a = push(
        "client-a",
        json!({"title": {"value": "Buy milk", "updatedAt": "2024-01-01T10:05:00Z"}}),
    );
    let b = push(
        "client-b",
        json!({"title": {"value": "Buy eggs", "updatedAt": "2024-01-01T10:05:30Z"}}),
    );
    for order in [[a.clone(), b.clone()], [b, a]] {
        let (record, conflicts) = apply(&order);
        assert_eq!(record["title"], "Buy eggs");
        // Client A's value lost whenever it arrived second.
        let lost: Vec<_> = conflicts.concat();
        if order[1]["clientId"] == "client-a" {
            assert_eq!(lost.len(), 1);
            assert_eq!(lost[0].client_value, "Buy milk");
            assert_eq!(lost[0].server_value, "Buy eggs");
            assert_eq!(lost[0].field, "title");
        } else {
            assert!(lost.is_empty());
        }
    }
}

#[test]
fn seed_001_different_fields_merge() {
    let a = push(
        "client-a",
        json!({
            "title": {"value": "Buy milk", "updatedAt": "2024-01-01T10:05:00Z"},
            "completed": {"value": true, "updatedAt": "2024-01-01T10:06:00Z"}
        }),
    );
    let b = push(
        "client-b",
        json!({"title": {"value": "Buy eggs", "updatedAt": "2024-01-01T10:05:30Z"}}),
    );
    for order in [[a.clone(), b.clone()], [b, a]] {
        let (record, _) = apply(&order);
        assert_eq!(record["title"], "Buy eggs");
        assert_eq!(record["completed"], true);
    }
}
