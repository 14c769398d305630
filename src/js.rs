//! Conversions between JS values and JSON, and key-path access.
//!
//! Synced records must be JSON: a `Date`, `Map`, `Blob`, typed array,
//! `NaN`, `BigInt` or function cannot travel to other devices unchanged, so
//! [`to_json`] rejects them with the path of the offending property (instead
//! of the silent `{}` a generic converter makes of a `Date`). Properties
//! whose value is `undefined` are skipped, as `JSON.stringify` does.

use fieldsync_core::{Conflict, json};
use js_sys::{Array, Object, Reflect};
use serde_json::{Map, Number, Value};
use wasm_bindgen::{JsCast, JsValue};

use fieldsync_core::schema::KeyPath;

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/fast.js")]
extern "C" {
    /// Why a value cannot be synced (`"path: reason"`), or `null`.
    #[wasm_bindgen(js_name = firstNonJson)]
    fn first_non_json(value: &JsValue, path: &str) -> Option<String>;

    /// Runs `job` (returning a Promise) holding the Web Lock `name`.
    #[wasm_bindgen(js_name = withLock)]
    pub fn with_lock(name: &str, job: &js_sys::Function) -> js_sys::Promise;

    /// Holds the Web Lock `name` until the returned function is called;
    /// `on_acquired` runs once it is granted.
    #[wasm_bindgen(js_name = holdLock)]
    pub fn hold_lock(name: &str, on_acquired: &js_sys::Function) -> js_sys::Function;

    /// The function `on()` returns: calls `off(id)` once.
    #[wasm_bindgen(js_name = unsubscriber)]
    pub(crate) fn unsubscriber(off: &js_sys::Function, id: u32) -> js_sys::Function;

    /// Dexie's storage-mutated message for writes to tables (`parts`: per
    /// table, `[name, ...index names]`).
    #[wasm_bindgen(js_name = storageMutated)]
    pub(crate) fn storage_mutated(db_name: &str, parts: &js_sys::Array) -> JsValue;

    /// The tables among `known` that a storage-mutated message names.
    #[wasm_bindgen(js_name = mutatedTables)]
    pub(crate) fn mutated_tables(
        data: &JsValue,
        db_name: &str,
        known: &js_sys::Array,
    ) -> js_sys::Array;

    /// The `_changes` rows of synced tables, and the unstamped among them.
    #[wasm_bindgen(js_name = syncedRows)]
    pub(crate) fn synced_rows(rows: &js_sys::Array, synced: &js_sys::Array) -> js_sys::Array;

    /// fieldsync's node in Dexie.Observable's `_syncNodes`, holding back the
    /// addon's clean-up of unpushed rows.
    #[wasm_bindgen(js_name = observableNode)]
    pub(crate) fn observable_node(
        rows: &js_sys::Array,
        nodes: &js_sys::Array,
        synced: &js_sys::Array,
        url: &str,
    ) -> JsValue;

    /// A Dexie.Observable-format `_changes` row.
    #[wasm_bindgen(js_name = changeRow)]
    pub fn change_row(
        table: &str,
        key: &JsValue,
        kind: u8,
        stamp: &str,
        obj: &JsValue,
        mods: &JsValue,
        old_obj: &JsValue,
    ) -> JsValue;
}

/// Checks that a JS value is JSON (what [`to_json`] checks, without
/// converting it), naming the offending property below `path`.
pub(crate) fn check_json(value: &JsValue, path: &str) -> Result<(), String> {
    match first_non_json(value, path) {
        None => Ok(()),
        Some(problem) => Err(problem),
    }
}

/// Parses a JSON-compatible JS value through one native `JSON.stringify`:
/// far fewer boundary crossings than walking it property by property.
pub(crate) fn stringify(value: &JsValue) -> Result<String, String> {
    js_sys::JSON::stringify(value)
        .map(String::from)
        .map_err(|e| format!("cannot serialize: {e:?}"))
}

/// Many values to JS at once, each written as JSON by `write`, through one
/// native `JSON.parse`.
pub(crate) fn parse_many<T>(values: &[T], write: impl Fn(&T, &mut String)) -> Array {
    let mut text = String::new();
    json::write_array(values, &mut text, write);
    parse(&text).unchecked_into()
}

/// Conflicts as the plain objects the `Conflict` type declares.
pub(crate) fn conflicts<C: std::borrow::Borrow<Conflict>>(conflicts: &[C]) -> Array {
    parse_many(conflicts, |c, out| json::write(&c.borrow().to_json(), out))
}

/// Parses JSON text (floats through JavaScript's `parseFloat`; see
/// [`json::parse_with`]).
pub(crate) fn parse_json(text: &str) -> Result<Value, fieldsync_core::Error> {
    json::parse_with(text, |number| Some(js_sys::Number::parse_float(number)))
}

/// Parses JSON text and reads it with `read(value, "")`.
pub(crate) fn read_json<T>(
    text: &str,
    read: fn(&Value, &str) -> Result<T, fieldsync_core::Error>,
) -> Result<T, fieldsync_core::Error> {
    read(&parse_json(text)?, "")
}

/// JSON text written by fieldsync-core, as JS values.
fn parse(text: &str) -> JsValue {
    // The text is ours and valid JSON, so parsing cannot fail.
    js_sys::JSON::parse(text).unwrap_or(JsValue::UNDEFINED)
}

/// Deepest nesting accepted in a record.
const MAX_DEPTH: usize = 64;

/// Converts a JS value to JSON, or says which property cannot be synced.
pub(crate) fn to_json(value: &JsValue, path: &str) -> Result<Value, String> {
    convert(value, path, 0)
}

fn convert(value: &JsValue, path: &str, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{path}: nested deeper than {MAX_DEPTH} levels"));
    }
    if value.is_null() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = value.as_f64() {
        return number(n).ok_or_else(|| {
            format!(
                "{path}: {} is not a JSON number (NaN and Infinity cannot be synced)",
                json::number_text(n)
            )
        });
    }
    if let Some(s) = value.as_string() {
        return Ok(Value::String(s));
    }
    if Array::is_array(value) {
        let array: &Array = value.unchecked_ref();
        let mut out = Vec::with_capacity(array.length() as usize);
        for (i, item) in array.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            out.push(if item.is_undefined() {
                Value::Null
            } else {
                convert(&item, &item_path, depth + 1)?
            });
        }
        return Ok(Value::Array(out));
    }
    if value.is_object() && is_plain_object(value) {
        let mut out = Map::new();
        let entries = Object::entries(value.unchecked_ref());
        for entry in entries.iter() {
            let entry: Array = entry.unchecked_into();
            let name = entry.get(0).as_string().unwrap_or_default();
            let item = entry.get(1);
            if item.is_undefined() {
                continue;
            }
            let item_path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            out.insert(name, convert(&item, &item_path, depth + 1)?);
        }
        return Ok(Value::Object(out));
    }
    Err(format!(
        "{path}: {} cannot be synced; store JSON values only (a Date as an ISO string or a number of milliseconds)",
        describe(value)
    ))
}

fn number(n: f64) -> Option<Value> {
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        Some(Value::Number(Number::from(n as i64)))
    } else {
        Number::from_f64(n).map(Value::Number)
    }
}

fn is_plain_object(value: &JsValue) -> bool {
    // Object.prototype is the only prototype whose own prototype is null.
    let proto = Object::get_prototype_of(value);
    proto.is_null() || Object::get_prototype_of(&proto).is_null()
}

fn describe(value: &JsValue) -> String {
    if value.is_undefined() {
        return "undefined".into();
    }
    if value.is_function() {
        return "a function".into();
    }
    if value.is_bigint() {
        return "a BigInt".into();
    }
    if value.is_symbol() {
        return "a Symbol".into();
    }
    let name = Reflect::get(value, &"constructor".into())
        .ok()
        .and_then(|c| Reflect::get(&c, &"name".into()).ok())
        .and_then(|n| n.as_string())
        .unwrap_or_else(|| "object".into());
    format!("a {name}")
}

/// Converts JSON to plain JS values (objects, not `Map`s).
pub(crate) fn to_js(value: &Value) -> JsValue {
    match value {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::String(s) => JsValue::from_str(s),
        Value::Number(n) => JsValue::from_f64(n.as_f64().unwrap_or(0.0)),
        nested => parse(&json::to_string(nested)),
    }
}

/// Reads a dotted property path (`address.city`) of a JS object.
pub(crate) fn get_path(object: &JsValue, path: &str) -> JsValue {
    let mut current = object.clone();
    for part in path.split('.') {
        if !current.is_object() {
            return JsValue::UNDEFINED;
        }
        current = Reflect::get(&current, &JsValue::from_str(part)).unwrap_or(JsValue::UNDEFINED);
    }
    current
}

/// Sets a dotted property path, creating plain objects on the way;
/// `undefined` deletes the property, as Dexie's `update()` does.
pub(crate) fn set_path(object: &JsValue, path: &str, value: &JsValue) -> Result<(), String> {
    let mut current = object.clone();
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let key = JsValue::from_str(part);
        if parts.peek().is_none() {
            let outcome = if value.is_undefined() {
                Reflect::delete_property(current.unchecked_ref::<Object>(), &key).map(|_| ())
            } else {
                Reflect::set(&current, &key, value).map(|_| ())
            };
            return outcome.map_err(|_| format!("cannot set \"{path}\""));
        }
        let mut next = Reflect::get(&current, &key).unwrap_or(JsValue::UNDEFINED);
        if !next.is_object() {
            next = Object::new().into();
            Reflect::set(&current, &key, &next).map_err(|_| format!("cannot set \"{path}\""))?;
        }
        current = next;
    }
    Ok(())
}

/// The primary key of `record` under `key_path`, if it has one.
pub(crate) fn key_of(record: &JsValue, key_path: &KeyPath) -> Option<JsValue> {
    let present = |v: JsValue| (!v.is_undefined()).then_some(v);
    match key_path {
        KeyPath::Single(path) => present(get_path(record, path)),
        KeyPath::Compound(paths) => {
            let parts = Array::new();
            for path in paths {
                parts.push(&present(get_path(record, path))?);
            }
            Some(parts.into())
        }
    }
}

/// Sets `key` on `record` under `key_path` (compound keys part by part).
pub(crate) fn set_key(record: &JsValue, key_path: &KeyPath, key: &JsValue) -> Result<(), String> {
    match key_path {
        KeyPath::Single(path) => set_path(record, path, key),
        KeyPath::Compound(paths) => {
            let parts: &Array = key.unchecked_ref();
            for (i, path) in paths.iter().enumerate() {
                set_path(record, path, &parts.get(i as u32))?;
            }
            Ok(())
        }
    }
}

/// Builds a plain object from `(name, value)` pairs.
pub(crate) fn object(entries: &[(&str, &JsValue)]) -> Object {
    let out = Object::new();
    for (name, value) in entries {
        let _ = Reflect::set(&out, &JsValue::from_str(name), value);
    }
    out
}
