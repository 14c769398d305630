//! Change notification: the `change` event, and Dexie's cross-tab
//! `x-storagemutated-1` message (so Dexie's `liveQuery` re-runs in every
//! tab), in both directions.

use std::rc::Rc;

use fieldsync_core::schema::DatabaseSchema;
use js_sys::Array;
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
            let parts: Array = tables
                .iter()
                .filter_map(|table| self.schema.table(table))
                .map(|schema| {
                    let part = Array::of1(&JsValue::from_str(&schema.name));
                    for index in &schema.indexes {
                        part.push(&JsValue::from_str(&index.name));
                    }
                    JsValue::from(part)
                })
                .collect();
            let parts = js::storage_mutated(&self.name, &parts);
            let _ = channel.post_message(&parts);
        }
        if self.events.has("change") {
            let names: Array = tables.iter().map(|t| JsValue::from_str(t)).collect();
            let payload = js::object(&[("tables", &names), ("source", &JsValue::from_str(source))]);
            self.events.emit("change", &payload);
        }
    }
}

/// Emits `change` (source `external`) when another tab, or Dexie, changes
/// one of our tables.
fn external_change_listener(
    db_name: &str,
    schema: &DatabaseSchema,
    events: &Rc<Events>,
) -> Closure<dyn FnMut(MessageEvent)> {
    let db_name = db_name.to_owned();
    let tables: Array = schema
        .tables
        .iter()
        .map(|t| JsValue::from_str(&t.name))
        .collect();
    let events = Rc::downgrade(events);
    Closure::new(move |event: MessageEvent| {
        let Some(events) = events.upgrade() else {
            return;
        };
        if !events.has("change") {
            return;
        }
        let changed = js::mutated_tables(&event.data(), &db_name, &tables);
        if changed.length() > 0 {
            let payload = js::object(&[
                ("tables", &changed),
                ("source", &JsValue::from_str("external")),
            ]);
            events.emit("change", &payload);
        }
    })
}
