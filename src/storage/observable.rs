//! Dexie.Observable interplay: the addon deletes `_changes` rows below
//! every node's `myRevision`; fieldsync registers a node of its own so that
//! rows it has not pushed are never deleted.

use js_sys::Array;
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
            .during(&op)?
            .get_all(&JsValue::UNDEFINED, None)
            .await
            .during(&op)?
            .unchecked_into();
        let nodes = tx.store(SYNC_NODES).during(&op)?;
        let all: Array = nodes
            .get_all(&JsValue::UNDEFINED, None)
            .await
            .during(&op)?
            .unchecked_into();
        let node = js::observable_node(&rows, &all, &self.synced_js(), NODE_URL);
        nodes.put(&node, None).during(&op)?;
        Ok(())
    }
}
