//! Creates and upgrades the stores of the schema inside the version-change
//! transaction, as Dexie does — but never deletes a store the schema does
//! not mention (Dexie.Observable's, or an app's Dexie-only table).

use fieldsync_core::schema::{DatabaseSchema, KeyPath};
use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbIndexParameters, IdbObjectStoreParameters};

use crate::idb::{OpenError, Upgrade, sync};

/// Creates or upgrades the stores of `schema` inside the version-change
/// transaction. Never deletes a store the schema does not mention (only
/// tables declared `null`); indexes of declared stores follow the schema.
pub(super) fn upgrade(schema: &DatabaseSchema, up: Upgrade<'_>) -> Result<(), OpenError> {
    let fail = OpenError::Refused;
    let existing = up.db.object_store_names();
    for name in &schema.removed_tables {
        if existing.contains(name) {
            sync(up.db.delete_object_store(name))?;
        }
    }
    for table in schema.all_stores() {
        let pk = &table.primary_key;
        let store = if existing.contains(&table.name) {
            let store = sync(up.tx.object_store(&table.name))?;
            let current = store.key_path().unwrap_or(JsValue::NULL);
            if !same_key_path(&current, pk.key_path.as_ref())
                || store.auto_increment() != pk.auto_increment
            {
                return Err(fail(format!(
                    "table \"{}\": its primary key changed to \"{}\"; IndexedDB cannot change a primary key in place. \
                     Keep the old key, or declare a new table (and `{}: null` to delete the old one)",
                    table.name,
                    pk.source(true),
                    table.name
                )));
            }
            store
        } else {
            let params = IdbObjectStoreParameters::new();
            params.set_auto_increment(pk.auto_increment);
            if let Some(path) = &pk.key_path {
                params.set_key_path(&key_path_js(path));
            }
            sync(
                up.db
                    .create_object_store_with_optional_parameters(&table.name, &params),
            )?
        };
        let current = store.index_names();
        for i in 0..current.length() {
            let Some(name) = current.get(i) else { continue };
            if !table.indexes.iter().any(|idx| idx.name == name) {
                sync(store.delete_index(&name))?;
            }
        }
        for index in &table.indexes {
            let Some(path) = &index.key_path else {
                continue;
            };
            if current.contains(&index.name) {
                let found = sync(store.index(&index.name))?;
                let same = same_key_path(&found.key_path().unwrap_or(JsValue::NULL), Some(path))
                    && found.unique() == index.unique
                    && found.multi_entry() == index.multi_entry;
                if same {
                    continue;
                }
                sync(store.delete_index(&index.name))?;
            }
            let params = IdbIndexParameters::new();
            params.set_unique(index.unique);
            params.set_multi_entry(index.multi_entry);
            // One JS createIndex() takes a string or an array key path.
            sync(
                store.create_index_with_str_sequence_and_optional_parameters(
                    &index.name,
                    &key_path_js(path),
                    &params,
                ),
            )?;
        }
    }
    Ok(())
}

pub(super) fn key_path_js(path: &KeyPath) -> JsValue {
    match path {
        KeyPath::Single(p) => JsValue::from_str(p),
        KeyPath::Compound(parts) => parts
            .iter()
            .map(|p| JsValue::from_str(p))
            .collect::<Array>()
            .into(),
    }
}

pub(super) fn same_key_path(current: &JsValue, declared: Option<&KeyPath>) -> bool {
    match declared {
        None => current.is_null() || current.is_undefined(),
        Some(KeyPath::Single(p)) => current.as_string().as_deref() == Some(p.as_str()),
        Some(KeyPath::Compound(parts)) => {
            Array::is_array(current) && {
                let array: &Array = current.unchecked_ref();
                array.length() as usize == parts.len()
                    && parts.iter().enumerate().all(|(i, p)| {
                        array.get(i as u32).as_string().as_deref() == Some(p.as_str())
                    })
            }
        }
    }
}
