//! Conflict resolvers (`setConflictResolver`): after a run, each table's
//! resolver decides the records whose pending local values lost; a decision
//! other than "remote" is written as a new local write.

use fieldsync_core::{Conflict, RecordKey};
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::error::Error;
use crate::js;
use crate::scheduler::Shared;

impl Shared {
    /// Lets each table's resolver decide its conflicting records; a decision
    /// other than "remote" is written as a new local write (stamped now, so
    /// it wins and is pushed). Returns whether anything was written.
    pub(crate) async fn resolve(&self, conflicts: &[Conflict]) -> bool {
        let mut groups: Vec<(String, RecordKey, Vec<&Conflict>)> = Vec::new();
        for conflict in conflicts {
            match groups
                .iter_mut()
                .find(|(t, k, _)| *t == conflict.table && *k == conflict.id)
            {
                Some(group) => group.2.push(conflict),
                None => groups.push((conflict.table.clone(), conflict.id.clone(), vec![conflict])),
            }
        }
        let mut wrote = false;
        for (table, id, fields) in groups {
            let Some(resolver) = self.resolvers.borrow().get(&table).cloned() else {
                continue;
            };
            match self.resolve_one(&resolver, &table, &id, &fields).await {
                Ok(w) => wrote |= w,
                Err(thrown) => {
                    // Last write wins stands; the app hears why.
                    let message = format!(
                        "the conflict resolver of \"{table}\" failed for {id}; the newest value was kept: {}",
                        crate::idb::DomError::from_js(&thrown).message
                    );
                    let error: JsValue = Error::InvalidInput(message).into();
                    self.events.emit("error", &js::object(&[("error", &error)]));
                }
            }
        }
        wrote
    }

    async fn resolve_one(
        &self,
        resolver: &Function,
        table: &str,
        id: &RecordKey,
        conflicts: &[&Conflict],
    ) -> Result<bool, JsValue> {
        let key = js::to_js(id.as_value());
        let local = Object::new();
        for c in conflicts {
            let _ = Reflect::set(
                &local,
                &JsValue::from_str(&c.field),
                &js::to_js(&c.client_value),
            );
        }
        let remote = self.storage.get(table, key.clone()).await?;
        let argument = js::object(&[
            ("table", &JsValue::from_str(table)),
            ("id", &key),
            ("local", &local),
            ("remote", &remote),
            ("conflicts", &js::conflicts(conflicts)),
        ]);
        let mut decision = resolver.call1(&JsValue::NULL, &argument)?;
        if let Some(promise) = decision.dyn_ref::<Promise>() {
            decision = JsFuture::from(promise.clone()).await?;
        }
        match decision.as_string().as_deref() {
            None if decision.is_undefined() || decision.is_null() => Ok(false),
            Some("remote") => Ok(false),
            Some("local") => {
                if remote.is_undefined() {
                    return Ok(false);
                }
                Ok(self.storage.update(table, key, local.into()).await? > 0)
            }
            Some(other) => Err(JsValue::from_str(&format!(
                "a resolver returns \"local\", \"remote\" or a merged record, not \"{other}\""
            ))),
            None if decision.is_object() => {
                self.storage.put(table, decision, None).await?;
                Ok(true)
            }
            None => Err(JsValue::from_str(
                "a resolver returns \"local\", \"remote\" or a merged record",
            )),
        }
    }
}
