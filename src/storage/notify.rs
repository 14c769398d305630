//! Change notification: the `change` event, and Dexie's cross-tab
//! `x-storagemutated-1` message (so Dexie's `liveQuery` re-runs in every
//! tab), in both directions.

use std::collections::BTreeSet;
use std::rc::Rc;

use fieldsync_core::schema::DatabaseSchema;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BroadcastChannel, MessageEvent};

use super::Storage;
use crate::events::Events;
use crate::js;

/// Dexie's cross-tab mutation channel (the `-1` is its format version).
const STORAGE_MUTATED: &str = "x-storagemutated-1";

/// Dexie's mutation channel and our listener on it.
pub(super) struct MutationChannel {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl MutationChannel {
    /// Listens for other tabs' (and Dexie's) changes to `schema`'s tables;
    /// `None` where BroadcastChannel is missing.
    pub(super) fn open(
        db_name: &str,
        schema: &DatabaseSchema,
        events: &Rc<Events>,
    ) -> Option<MutationChannel> {
        let channel = BroadcastChannel::new(STORAGE_MUTATED).ok()?;
        let on_message = external_change_listener(db_name, schema, events);
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Some(MutationChannel {
            channel,
            _on_message: on_message,
        })
    }

    /// Stops listening.
    pub(super) fn close(&self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}

impl Storage {
    /// Tells Dexie (every tab) and our listeners that `tables` changed.
    pub(super) fn notify(&self, tables: &[&str], source: &str) {
        if let Some(MutationChannel { channel, .. }) = &self.channel {
            let parts = Object::new();
            let everything = full_range();
            for table in tables {
                let Some(schema) = self.schema.table(table) else {
                    continue;
                };
                let mut names = vec![String::new(), ":dels".to_owned()];
                names.extend(schema.indexes.iter().map(|i| i.name.clone()));
                for part in names {
                    let key = format!("idb://{}/{table}/{part}", self.name);
                    let _ = Reflect::set(&parts, &JsValue::from_str(&key), &everything);
                }
            }
            let _ = channel.post_message(&parts);
        }
        if self.events.has("change") {
            let names: Array = tables.iter().map(|t| JsValue::from_str(t)).collect();
            let payload = js::object(&[("tables", &names), ("source", &JsValue::from_str(source))]);
            self.events.emit("change", &payload);
        }
    }
}

/// Dexie's "every key" range: `{d: 1, from: -Infinity, to: [[]]}`.
fn full_range() -> JsValue {
    let to = Array::of1(&Array::new());
    js::object(&[
        ("d", &JsValue::from(1)),
        ("from", &JsValue::from_f64(f64::NEG_INFINITY)),
        ("to", &to),
    ])
    .into()
}

/// Emits `change` (source `external`) when another tab, or Dexie, changes
/// one of our tables.
fn external_change_listener(
    db_name: &str,
    schema: &DatabaseSchema,
    events: &Rc<Events>,
) -> Closure<dyn FnMut(MessageEvent)> {
    let prefix = format!("idb://{db_name}/");
    let tables: Vec<String> = schema.tables.iter().map(|t| t.name.clone()).collect();
    let events = Rc::downgrade(events);
    Closure::new(move |event: MessageEvent| {
        let Some(events) = events.upgrade() else {
            return;
        };
        if !events.has("change") {
            return;
        }
        let data = event.data();
        if !data.is_object() {
            return;
        }
        let mut changed: BTreeSet<String> = BTreeSet::new();
        for key in Object::keys(data.unchecked_ref::<Object>()).iter() {
            let key = key.as_string().unwrap_or_default();
            if let Some(rest) = key.strip_prefix(&prefix) {
                let table = rest.split('/').next().unwrap_or_default();
                if tables.iter().any(|t| t == table) {
                    changed.insert(table.to_owned());
                }
            }
        }
        if !changed.is_empty() {
            let names: Array = changed.iter().map(|t| JsValue::from_str(t)).collect();
            let payload = js::object(&[
                ("tables", &names),
                ("source", &JsValue::from_str("external")),
            ]);
            events.emit("change", &payload);
        }
    })
}
