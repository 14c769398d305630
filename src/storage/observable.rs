//! Dexie.Observable interplay: the addon deletes `_changes` rows below
//! every node's `myRevision`; fieldsync registers a node of its own so that
//! rows it has not pushed are never deleted.

use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use super::{CHANGES, SYNC_NODES, Storage};
use crate::error::{Context, Error};
use crate::idb::Transaction;
use crate::js;

/// fieldsync's node in `_syncNodes`.
const NODE_URL: &str = "fieldsync";

impl Storage {
    /// Keeps fieldsync's node in Dexie.Observable's `_syncNodes`, so that the
    /// addon's clean-up (which deletes `_changes` rows below every node's
    /// `myRevision`) never deletes a row fieldsync has not pushed. The node
    /// is of type `remote`, which the addon never garbage-collects.
    pub(super) async fn hold_observable_rows(&self, tx: &Transaction) -> Result<(), Error> {
        let op = || "registering with dexie-observable".to_owned();
        let rows: Array = tx
            .store(CHANGES)
            .during(op)?
            .get_all(&JsValue::UNDEFINED, None)
            .during(op)?
            .await
            .during(op)?
            .unchecked_into();
        let mut lowest_needed: Option<f64> = None;
        let mut highest = 0.0f64;
        for row in rows.iter() {
            let rev = js::get_path(&row, "rev").as_f64().unwrap_or(0.0);
            highest = highest.max(rev);
            let table = js::get_path(&row, "table").as_string().unwrap_or_default();
            if self.is_synced(&table) {
                lowest_needed = Some(lowest_needed.map_or(rev, |l| l.min(rev)));
            }
        }
        let my_revision = lowest_needed.unwrap_or(highest + 1.0);
        let nodes = tx.store(SYNC_NODES).during(op)?;
        let all: Array = nodes
            .get_all(&JsValue::UNDEFINED, None)
            .during(op)?
            .await
            .during(op)?
            .unchecked_into();
        let node = all
            .iter()
            .find(|n| js::get_path(n, "url").as_string().as_deref() == Some(NODE_URL))
            .unwrap_or_else(|| {
                js::object(&[
                    ("type", &JsValue::from_str("remote")),
                    ("url", &JsValue::from_str(NODE_URL)),
                    ("isMaster", &JsValue::from(0)),
                    ("deleteTimeStamp", &JsValue::NULL),
                ])
                .into()
            });
        let _ = Reflect::set(&node, &"myRevision".into(), &JsValue::from_f64(my_revision));
        let _ = Reflect::set(
            &node,
            &"lastHeartBeat".into(),
            &JsValue::from_f64(js_sys::Date::now()),
        );
        nodes.put(&node, None).during(op)?;
        Ok(())
    }
}
