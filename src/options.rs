//! Reading the JS API's option objects and arguments, with errors that name
//! the option and say what it must be.

use fieldsync_core::schema::DatabaseSchema;
use fieldsync_core::{Change, codec};
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::error::Error;
use crate::js;
use crate::live;
use crate::storage::{Durability, Query, StorageOptions};
use crate::sync::SyncConfig;

pub(crate) fn field(options: &JsValue, name: &str) -> JsValue {
    Reflect::get(options, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

pub(crate) fn invalid(message: String) -> JsValue {
    Error::InvalidInput(message).into()
}

/// `open()`'s options beyond the sync server's.
pub(crate) struct ClientOptions {
    pub(crate) storage: StorageOptions,
    pub(crate) interval_ms: u32,
    pub(crate) live: bool,
}

pub(crate) fn parse_options(options: &JsValue) -> Result<ClientOptions, JsValue> {
    if !options.is_object() {
        return Err(invalid(
            "SyncClient.open() needs an options object: { dbName, schema, version }".into(),
        ));
    }
    let db_name = field(options, "dbName")
        .as_string()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid("SyncClient.open(): `dbName` must be a non-empty string".into()))?;
    let version = field(options, "version").as_f64().ok_or_else(|| {
        invalid("SyncClient.open(): `version` must be a number (the Dexie version, e.g. 1)".into())
    })?;
    let schema_js = field(options, "schema");
    if !schema_js.is_object() {
        return Err(invalid(
            "SyncClient.open(): `schema` must be an object such as { todos: \"id, done\" }".into(),
        ));
    }
    let mut tables: Vec<(String, Option<String>)> = Vec::new();
    for entry in Object::entries(schema_js.unchecked_ref()).iter() {
        let entry: Array = entry.unchecked_into();
        let name = entry.get(0).as_string().unwrap_or_default();
        let spec = entry.get(1);
        let spec = if spec.is_null() {
            None
        } else {
            Some(spec.as_string().ok_or_else(|| {
                invalid(format!(
                    "SyncClient.open(): schema.{name} must be a Dexie spec string such as \"id, done\", or null"
                ))
            })?)
        };
        tables.push((name, spec));
    }
    let schema = DatabaseSchema::parse(
        version,
        tables.iter().map(|(n, s)| (n.as_str(), s.as_deref())),
    )
    .map_err(Error::from)?;
    let synced_tables = match field(options, "tables") {
        v if v.is_undefined() || v.is_null() => None,
        v if Array::is_array(&v) => Some(
            Array::from(&v)
                .iter()
                .map(|t| t.as_string())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    invalid("SyncClient.open(): `tables` must be an array of table names".into())
                })?,
        ),
        _ => {
            return Err(invalid(
                "SyncClient.open(): `tables` must be an array of table names".into(),
            ));
        }
    };
    let durability = match field(options, "durability").as_string().as_deref() {
        None | Some("default") => Durability::Default,
        Some("relaxed") => Durability::Relaxed,
        Some("strict") => Durability::Strict,
        Some(other) => {
            return Err(invalid(format!(
                "SyncClient.open(): `durability` must be \"default\", \"relaxed\" or \"strict\", got \"{other}\""
            )));
        }
    };
    let interval_ms = match field(options, "syncIntervalMs") {
        v if v.is_undefined() || v.is_null() => live::DEFAULT_INTERVAL_MS,
        v => v
            .as_f64()
            .filter(|n| *n >= 1000.0 && *n <= 86_400_000.0)
            .ok_or_else(|| invalid("SyncClient.open(): `syncIntervalMs` must be a number of milliseconds between 1000 and 86400000".into()))?
            as u32,
    };
    let live = field(options, "live").as_bool().unwrap_or(true);
    let storage = StorageOptions {
        db_name,
        schema,
        synced_tables,
        client_id: field(options, "clientId").as_string(),
        durability,
        on_blocked: match field(options, "onBlocked") {
            v if v.is_undefined() || v.is_null() => None,
            v => Some(v.dyn_into::<Function>().map_err(|_| {
                invalid("SyncClient.open(): `onBlocked` must be a function".into())
            })?),
        },
    };
    Ok(ClientOptions {
        storage,
        interval_ms,
        live,
    })
}

pub(crate) fn parse_sync_config(options: &JsValue) -> Result<Option<SyncConfig>, JsValue> {
    let server_url = field(options, "serverUrl")
        .as_string()
        .filter(|u| !u.is_empty());
    let app_id = field(options, "appId")
        .as_string()
        .filter(|a| !a.is_empty());
    let (server_url, app_id) = match (server_url, app_id) {
        (None, None) => return Ok(None),
        (Some(url), Some(app)) => (url, app),
        _ => {
            return Err(invalid(
                "SyncClient.open(): give both `serverUrl` and `appId` to sync, or neither for a local store".into(),
            ));
        }
    };
    if !server_url.starts_with("http://") && !server_url.starts_with("https://") {
        return Err(invalid(format!(
            "SyncClient.open(): `serverUrl` must be an http(s) URL, got \"{server_url}\""
        )));
    }
    let get_token = match field(options, "getToken") {
        v if v.is_undefined() || v.is_null() => None,
        v => Some(v.dyn_into::<Function>().map_err(|_| {
            invalid("SyncClient.open(): `getToken` must be a function returning a token (or a Promise of one)".into())
        })?),
    };
    let token = field(options, "token").as_string();
    if token.is_none() && get_token.is_none() {
        return Err(invalid(
            "SyncClient.open(): syncing needs `token` or `getToken`".into(),
        ));
    }
    Ok(Some(SyncConfig {
        server_url,
        app_id,
        token,
        get_token,
    }))
}

pub(crate) fn parse_query(query: &JsValue) -> Result<Query, JsValue> {
    if !query.is_object() {
        return Err(invalid(
            "query(): expected { index?, equals? | above? / aboveOrEqual? / below? / belowOrEqual?, limit? }"
                .into(),
        ));
    }
    let present = |name: &str| Some(field(query, name)).filter(|v| !v.is_undefined());
    let bound = |open: &str, closed: &str| -> Result<Option<(JsValue, bool)>, JsValue> {
        match (present(open), present(closed)) {
            (Some(_), Some(_)) => Err(invalid(format!(
                "query(): give `{open}` or `{closed}`, not both"
            ))),
            (Some(v), None) => Ok(Some((v, true))),
            (None, Some(v)) => Ok(Some((v, false))),
            (None, None) => Ok(None),
        }
    };
    let limit = match present("limit") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|n| *n >= 1.0 && n.fract() == 0.0)
                .ok_or_else(|| invalid("query(): `limit` must be a positive integer".into()))?
                as u32,
        ),
    };
    Ok(Query {
        index: present("index").and_then(|v| v.as_string()),
        equals: present("equals"),
        lower: bound("above", "aboveOrEqual")?,
        upper: bound("below", "belowOrEqual")?,
        limit,
    })
}

pub(crate) fn parse_changes(changes: &JsValue) -> Result<Vec<Change>, JsValue> {
    if !Array::is_array(changes) {
        return Err(invalid(
            "applyRemoteChanges(): `changes` must be an array of changes".into(),
        ));
    }
    let text = js::stringify(changes).map_err(invalid)?;
    let changes = js::parse_json(&text)
        .and_then(|value| codec::changes(&value, "changes"))
        .map_err(Error::from)?;
    for (i, change) in changes.iter().enumerate() {
        change
            .validate(&format!("changes[{i}]"))
            .map_err(Error::from)?;
    }
    Ok(changes)
}
