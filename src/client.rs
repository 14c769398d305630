//! `SyncClient`, the JS API. Thin: converts arguments and delegates to
//! [`Storage`]; errors become JS `Error`s with a meaningful `name`.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use fieldsync_core::schema::{DatabaseSchema, INTERNAL_STORES};
use fieldsync_core::{Change, Conflict, RecordKey, codec};
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::error::Error;
use crate::events::Events;
use crate::js;
use crate::live::{self, Driver, Live};
use crate::storage::{ChangedRecord, CursorUpdate, Durability, Query, Storage, StorageOptions};
use crate::sync::{SyncConfig, SyncReport, Syncer};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A Dexie schema: table name → Dexie spec ("++id, &email, *tags, [a+b]"), or null to delete a table. */
export type Schema = Record<string, string | null>;

/** Options of {@link SyncClient.open}. */
export interface SyncClientOptions {
  /** The IndexedDB database name (the one you give `new Dexie(name)`). */
  dbName: string;
  /** The tables, in Dexie's schema syntax. */
  schema: Schema;
  /** The Dexie version of this schema (IndexedDB version = version × 10). */
  version: number;
  /** Tables to sync; the others stay on this device. Default: all. */
  tables?: string[];
  /** A fixed client id. Default: one generated and kept in the database. */
  clientId?: string;
  /** Commit durability. Default: the browser's ("default"). */
  durability?: "default" | "relaxed" | "strict";
  /** The sync server (sync is not started by `open`). */
  serverUrl?: string;
  /** The app id on the sync server. */
  appId?: string;
  /** A bearer token for the sync server. */
  token?: string;
  /** Returns a fresh bearer token. */
  getToken?: () => Promise<string>;
  /** Period of background sync, in milliseconds. */
  syncIntervalMs?: number;
  /** Keep a WebSocket open for live updates. */
  live?: boolean;
  /** Called when opening waits for other tabs to close an older version. */
  onBlocked?: (event: BlockedEvent) => void;
}

/** A JSON value, as synced records hold. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A record of a table. */
export type Row = { [field: string]: Json };
/** A primary key: a string, a number, or an array of them (compound keys). */
export type Key = string | number | Array<string | number>;

/** One field's write: its value and hybrid-logical-clock timestamp. */
export interface FieldWrite { value: Json; updatedAt: string; removed?: boolean }
/** One record's change, as the sync protocol carries it. */
export interface Change {
  table: string;
  id: Key;
  op: "insert" | "update" | "delete";
  fields?: Record<string, FieldWrite>;
  data?: Row;
  insertedAt?: string;
  deletedAt?: string;
}
/** A local value that lost to a newer remote one. */
export interface Conflict {
  table: string; id: Key; field: string;
  clientValue: Json; clientTimestamp: string;
  serverValue: Json; serverTimestamp: string;
}
/** What {@link SyncClient.applyRemoteChanges} did: `changed` lists the records written or deleted. */
export interface ApplyResult {
  applied: number; skipped: number; conflicts: Conflict[];
  changed: Array<{ table: string; id: Key; deleted: boolean }>;
}
/** Pending local writes, coalesced per record; `more`: others wait behind this batch. */
export interface PendingBatch { changes: Change[]; revs: number[]; more?: boolean }
/** A query: an index (Dexie's name, e.g. "[a+b]"; default the primary key) and a key range. */
export interface Query {
  index?: string;
  equals?: Key;
  above?: Key; aboveOrEqual?: Key;
  below?: Key; belowOrEqual?: Key;
  limit?: number;
}
/** A record whose pending local values lost, for a conflict resolver. */
export interface ConflictCase { table: string; id: Key; local: Row; remote: Row | undefined; conflicts: Conflict[] }
/** A resolver's decision: keep the newest ("remote"), re-apply ours ("local"), or a merged record. */
export type ConflictDecision = "local" | "remote" | Row | undefined;
/** What {@link SyncClient.sync} did. */
export interface SyncResult { pushed: number; pulled: number; conflicts: Conflict[]; syncedUntil?: string }
/** Payload of the "change" event. "external": another tab, or Dexie, wrote. */
export interface ChangeEvent { tables: string[]; source: "local" | "remote" | "external" }
/** Payload of the "blocked" event: other tabs hold an older version open. */
export interface BlockedEvent { dbName: string }
/** Payload of the "conflict" event: local values that lost. */
export interface ConflictEvent { conflicts: Conflict[] }
/** Payload of the "status" event. */
export interface StatusEvent { status: "offline" | "idle" | "syncing" | "error" }
/** Payload of the "error" event. */
export interface ErrorEvent { error: Error }
/** Payload of the "progress" event during long pulls. */
export interface ProgressEvent { table: string; applied: number }
/** The events of {@link SyncClient.on}. */
export type SyncEventName = "change" | "status" | "conflict" | "error" | "progress" | "blocked";
/** Any event payload (see each event's payload type). */
export type SyncEvent = ChangeEvent | StatusEvent | ConflictEvent | ErrorEvent | ProgressEvent | BlockedEvent;
"#;

#[wasm_bindgen]
extern "C" {
    /// A primary key argument (typed `Key` in TypeScript).
    #[wasm_bindgen(typescript_type = "Key")]
    pub type KeyArg;
}

/// An offline-first client: app data in IndexedDB (Dexie-compatible), every
/// local write logged for sync in the same transaction.
///
/// @example
/// ```ts
/// const client = await SyncClient.open({
///   dbName: "todos-app", version: 1,
///   schema: { todos: "id, done, [owner+done]" },
/// });
/// await client.put("todos", { id: crypto.randomUUID(), title: "Buy milk", done: 0 });
/// const open = await client.query("todos", { index: "done", equals: 0 });
/// ```
#[wasm_bindgen]
pub struct SyncClient {
    shared: Rc<Shared>,
    storage: Rc<Storage>,
    events: Rc<Events>,
}

/// The sync state of a client, shared with background callbacks (which hold
/// it weakly).
struct Shared {
    me: Weak<Shared>,
    storage: Rc<Storage>,
    events: Rc<Events>,
    syncer: Option<Rc<Syncer>>,
    /// The run in progress; it always resolves, to `{report}` or `{error}`.
    running: RefCell<Option<Promise>>,
    /// A run was requested during the current one: run again after it.
    again: Cell<bool>,
    status: Cell<Status>,
    /// The browser's `online` / `offline` state, as last reported.
    online: Cell<bool>,
    last_synced_at: Cell<Option<f64>>,
    live: RefCell<Option<Live>>,
    /// `start()` was called (and not `stop()`): this tab syncs its own
    /// writes, and competes to lead background sync.
    started: Cell<bool>,
    /// The leader lock, while `start()`ed.
    leader: RefCell<Option<LeaderLock>>,
    interval_ms: u32,
    live_socket: bool,
    /// `setConflictResolver` functions, by table.
    resolvers: RefCell<std::collections::HashMap<String, Function>>,
    /// Turns a run's `{report}` / `{error}` into a resolution / rejection.
    unwrap: Closure<dyn FnMut(JsValue) -> Result<JsValue, JsValue>>,
}

/// A request for the leader lock: the function that releases it, and the
/// callback the lock manager calls once it is granted (kept alive until then).
struct LeaderLock {
    release: Function,
    _on_acquired: Closure<dyn FnMut()>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Idle,
    Syncing,
    Offline,
    Failed,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Idle => "idle",
            Status::Syncing => "syncing",
            Status::Offline => "offline",
            Status::Failed => "error",
        }
    }
}

impl Shared {
    fn set_status(&self, status: Status) {
        if self.status.replace(status) != status && self.events.has("status") {
            let payload = js::object(&[("status", &JsValue::from_str(status.name()))]);
            self.events.emit("status", &payload);
        }
    }

    /// Starts a run now; the caller checked that none is in progress.
    fn start_run(&self) -> Promise {
        let Some(shared) = self.me.upgrade() else {
            return Promise::resolve(&JsValue::UNDEFINED);
        };
        self.set_status(Status::Syncing);
        let promise = wasm_bindgen_futures::future_to_promise(async move {
            let result = shared.run_locked().await;
            shared.running.borrow_mut().take();
            let outcome = match result {
                Ok(report) => {
                    shared.last_synced_at.set(Some(js_sys::Date::now()));
                    shared.set_status(Status::Idle);
                    if !report.conflicts.is_empty() {
                        if shared.events.has("conflict") {
                            let payload =
                                js::object(&[("conflicts", &js::conflicts(&report.conflicts))]);
                            shared.events.emit("conflict", &payload);
                        }
                        if shared.resolve(&report.conflicts).await {
                            shared.again.set(true);
                        }
                    }
                    js::object(&[("report", &report.to_js())])
                }
                Err(error) => {
                    let offline = matches!(error, Error::Network { .. });
                    shared.set_status(if offline {
                        Status::Offline
                    } else {
                        Status::Failed
                    });
                    let error: JsValue = error.into();
                    let payload = js::object(&[("error", &error)]);
                    shared.events.emit("error", &payload);
                    payload
                }
            };
            if shared.again.replace(false) {
                shared.request_sync();
            }
            Ok(outcome.into())
        });
        *self.running.borrow_mut() = Some(promise.clone());
        promise
    }

    /// Lets each table's resolver decide its conflicting records; a decision
    /// other than "remote" is written as a new local write (stamped now, so
    /// it wins and is pushed). Returns whether anything was written.
    async fn resolve(&self, conflicts: &[Conflict]) -> bool {
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

    /// One sync run holding this database's sync lock: runs in other tabs
    /// (or clients) of the same database wait, so nothing is pushed twice.
    async fn run_locked(&self) -> Result<SyncReport, Error> {
        let Some(syncer) = self.syncer.clone() else {
            return Err(Error::NoServer);
        };
        let storage = self.storage.clone();
        let events = self.events.clone();
        let outcome: Rc<RefCell<Option<Result<SyncReport, Error>>>> = Rc::default();
        let job = {
            let outcome = outcome.clone();
            Closure::<dyn FnMut() -> Promise>::new(move || {
                let (syncer, storage, outcome) = (syncer.clone(), storage.clone(), outcome.clone());
                let events = events.clone();
                wasm_bindgen_futures::future_to_promise(async move {
                    let progress = |table: &str, applied: usize| {
                        if events.has("progress") {
                            let payload = js::object(&[
                                ("table", &JsValue::from_str(table)),
                                ("applied", &JsValue::from(applied as u32)),
                            ]);
                            events.emit("progress", &payload);
                        }
                    };
                    let result = syncer.sync(&storage, &progress).await;
                    *outcome.borrow_mut() = Some(result);
                    Ok(JsValue::UNDEFINED)
                })
            })
        };
        let lock = format!("fieldsync:sync:{}", self.storage.name());
        let _ = JsFuture::from(js::with_lock(&lock, job.as_ref().unchecked_ref())).await;
        drop(job);
        let result = outcome.borrow_mut().take();
        result.unwrap_or_else(|| {
            Err(Error::indexed_db(
                "sync",
                crate::idb::DomError::from_js(&JsValue::from_str("the sync lock was not granted")),
            ))
        })
    }

    /// Starts the background machinery in this tab (it holds the leader lock).
    fn lead(&self) {
        if !self.started.get() || self.live.borrow().is_some() {
            return;
        }
        let Some(syncer) = &self.syncer else { return };
        let Some(me) = self.me.upgrade() else { return };
        let ws_url = self.live_socket.then(|| syncer.ws_url());
        let driver: Weak<dyn Driver> = Rc::downgrade(&me) as Weak<dyn Driver>;
        let live = Live::start(driver, ws_url, self.interval_ms);
        *self.live.borrow_mut() = Some(live);
    }

    fn after_local_write(&self) {
        // Leader or follower, a started tab pushes its own writes at once.
        if self.started.get() {
            self.request_sync();
        }
    }
}

impl Driver for Shared {
    fn request_sync(&self) {
        // Background work pauses while the browser says it is offline (the
        // `online` event resumes it); an explicit sync() still tries.
        if !self.online.get() {
            return;
        }
        if self.running.borrow().is_some() {
            self.again.set(true);
        } else {
            // Never rejects: failures went to the `error` event.
            let _run = self.start_run();
        }
    }

    fn token(&self) -> Option<String> {
        self.syncer.as_ref().and_then(|s| s.cached_token())
    }

    fn client_id(&self) -> String {
        self.storage.client_id()
    }

    fn set_online(&self, online: bool) {
        self.online.set(online);
        if !online {
            self.set_status(Status::Offline);
        }
    }

    fn report_error(&self, message: &str) {
        let error: JsValue = Error::Auth(format!(
            "the sync server closed the live connection: {message}"
        ))
        .into();
        self.events.emit("error", &js::object(&[("error", &error)]));
        // Most likely a refused token: get a fresh one before the reconnect.
        if let Some(syncer) = self.syncer.clone() {
            let events = self.events.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(e) = syncer.refresh_token().await {
                    let error: JsValue = e.into();
                    events.emit("error", &js::object(&[("error", &error)]));
                }
            });
        }
    }

    fn syncs_any(&self, tables: &[String]) -> bool {
        let synced = self.storage.synced_tables();
        tables.iter().any(|t| synced.contains(t))
    }
}

fn field(options: &JsValue, name: &str) -> JsValue {
    Reflect::get(options, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

fn invalid(message: String) -> JsValue {
    Error::InvalidInput(message).into()
}

/// `open()`'s options beyond the sync server's.
struct ClientOptions {
    storage: StorageOptions,
    interval_ms: u32,
    live: bool,
}

fn parse_options(options: &JsValue) -> Result<ClientOptions, JsValue> {
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

fn parse_sync_config(options: &JsValue) -> Result<Option<SyncConfig>, JsValue> {
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

fn parse_query(query: &JsValue) -> Result<Query, JsValue> {
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

fn parse_changes(changes: &JsValue) -> Result<Vec<Change>, JsValue> {
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

#[wasm_bindgen]
impl SyncClient {
    /// Opens (creating or upgrading) the database and returns a client. With
    /// no `serverUrl` it is a local-only store.
    ///
    /// @example
    /// ```ts
    /// const client = await SyncClient.open({ dbName: "app", version: 1, schema: { todos: "id, done" } });
    /// ```
    pub async fn open(
        #[wasm_bindgen(unchecked_param_type = "SyncClientOptions")] options: JsValue,
    ) -> Result<SyncClient, JsValue> {
        crate::install_panic_hook();
        let sync_config = parse_sync_config(&options)?;
        let options = parse_options(&options)?;
        let events = Rc::new(Events::default());
        let storage = Storage::open(options.storage, events.clone()).await?;
        let shared = Rc::new_cyclic(|me| Shared {
            me: me.clone(),
            storage: storage.clone(),
            events: events.clone(),
            syncer: sync_config.map(|c| Rc::new(Syncer::new(c))),
            running: RefCell::new(None),
            again: Cell::new(false),
            status: Cell::new(Status::Idle),
            online: Cell::new(true),
            last_synced_at: Cell::new(None),
            live: RefCell::new(None),
            started: Cell::new(false),
            leader: RefCell::new(None),
            resolvers: RefCell::default(),
            interval_ms: options.interval_ms,
            live_socket: options.live,
            unwrap: Closure::new(|outcome: JsValue| {
                let error = Reflect::get(&outcome, &"error".into()).unwrap_or(JsValue::UNDEFINED);
                if error.is_undefined() {
                    Ok(Reflect::get(&outcome, &"report".into()).unwrap_or(JsValue::UNDEFINED))
                } else {
                    Err(error)
                }
            }),
        });
        Ok(SyncClient {
            shared,
            storage,
            events,
        })
    }

    /// fieldsync's own stores as a Dexie schema fragment. An app that also
    /// opens the database with Dexie must spread it into every
    /// `stores({...})`, because Dexie deletes undeclared stores when it
    /// upgrades.
    ///
    /// @example
    /// ```ts
    /// db.version(2).stores({ ...SyncClient.dexieStores(), todos: "id, done" });
    /// ```
    #[wasm_bindgen(js_name = dexieStores, unchecked_return_type = "Record<string, string>")]
    pub fn dexie_stores() -> JsValue {
        let fragment = Object::new();
        for (name, spec) in INTERNAL_STORES {
            let _ = Reflect::set(
                &fragment,
                &JsValue::from_str(name),
                &JsValue::from_str(spec),
            );
        }
        fragment.into()
    }

    /// This client's id: generated once and kept in the database, unless
    /// `clientId` was given to `open`.
    #[wasm_bindgen(getter, js_name = clientId)]
    pub fn client_id(&self) -> String {
        self.storage.client_id()
    }

    /// The database name.
    #[wasm_bindgen(getter, js_name = dbName)]
    pub fn db_name(&self) -> String {
        self.storage.name().to_owned()
    }

    /// Inserts or replaces a whole record (stamping every field) and logs the
    /// write, in one transaction. Resolves to the record's key. `key` is only
    /// for tables whose keys live outside the records.
    ///
    /// @example
    /// ```ts
    /// await client.put("todos", { id: "t1", title: "Buy milk", done: 0 });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Key")]
    pub async fn put(
        &self,
        table: String,
        #[wasm_bindgen(unchecked_param_type = "Row")] record: JsValue,
        key: Option<KeyArg>,
    ) -> Result<JsValue, JsValue> {
        let key = key
            .map(JsValue::from)
            .filter(|k| !k.is_undefined() && !k.is_null());
        let stored = self.storage.put(&table, record, key).await?;
        self.shared.after_local_write();
        Ok(stored)
    }

    /// Puts many records in one transaction: all are written, or none.
    /// Resolves to the number written.
    ///
    /// @example
    /// ```ts
    /// await client.bulkPut("todos", [{ id: "a", done: 0 }, { id: "b", done: 1 }]);
    /// ```
    #[wasm_bindgen(js_name = bulkPut)]
    pub async fn bulk_put(
        &self,
        table: String,
        #[wasm_bindgen(unchecked_param_type = "Row[]")] records: JsValue,
    ) -> Result<u32, JsValue> {
        if !Array::is_array(&records) {
            return Err(invalid(format!(
                "bulkPut(\"{table}\"): `records` must be an array"
            )));
        }
        let n = self
            .storage
            .bulk_put(&table, &Array::from(&records))
            .await?;
        self.shared.after_local_write();
        Ok(n)
    }

    /// Changes fields of one record: `changes` maps key paths (`"title"`,
    /// `"address.city"`) to new values; `undefined` removes a property.
    /// Resolves to 1, or 0 when there is no such record (as Dexie does).
    ///
    /// @example
    /// ```ts
    /// await client.update("todos", "t1", { done: 1 });
    /// ```
    pub async fn update(
        &self,
        table: String,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Record<string, Json | undefined>")] changes: JsValue,
    ) -> Result<u32, JsValue> {
        let n = self.storage.update(&table, key, changes).await?;
        if n > 0 {
            self.shared.after_local_write();
        }
        Ok(n)
    }

    /// Deletes one record (a no-op when it does not exist).
    ///
    /// @example
    /// ```ts
    /// await client.delete("todos", "t1");
    /// ```
    pub async fn delete(
        &self,
        table: String,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
    ) -> Result<(), JsValue> {
        self.storage.delete(&table, key).await?;
        self.shared.after_local_write();
        Ok(())
    }

    /// One record, or `undefined`.
    ///
    /// @example
    /// ```ts
    /// const todo = await client.get("todos", "t1");
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Row | undefined")]
    pub async fn get(
        &self,
        table: String,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
    ) -> Result<JsValue, JsValue> {
        Ok(self.storage.get(&table, key).await?)
    }

    /// Every record of a table, in primary-key order.
    ///
    /// @example
    /// ```ts
    /// const all = await client.getAll("todos");
    /// ```
    #[wasm_bindgen(js_name = getAll, unchecked_return_type = "Row[]")]
    pub async fn get_all(&self, table: String) -> Result<JsValue, JsValue> {
        Ok(self.storage.get_all(&table).await?)
    }

    /// Records whose index key equals a value or lies in a range, in index
    /// order.
    ///
    /// @example
    /// ```ts
    /// const open = await client.query("todos", { index: "done", equals: 0 });
    /// const recent = await client.query("todos", { index: "createdAt", aboveOrEqual: since, limit: 50 });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Row[]")]
    pub async fn query(
        &self,
        table: String,
        #[wasm_bindgen(unchecked_param_type = "Query")] query: JsValue,
    ) -> Result<JsValue, JsValue> {
        let query = parse_query(&query)?;
        Ok(self.storage.query(&table, &query).await?)
    }

    /// How many records a table holds.
    ///
    /// @example
    /// ```ts
    /// const n = await client.count("todos");
    /// ```
    pub async fn count(&self, table: String) -> Result<u32, JsValue> {
        Ok(self.storage.count(&table).await?)
    }

    /// How many local writes are not yet acknowledged by the server.
    ///
    /// @example
    /// ```ts
    /// badge.textContent = String(await client.pendingCount());
    /// ```
    #[wasm_bindgen(js_name = pendingCount)]
    pub async fn pending_count(&self) -> Result<u32, JsValue> {
        Ok(self.storage.pending_count().await?)
    }

    /// Pending local writes, coalesced to one change per record (at most
    /// `maxRecords`, default 500), for a custom transport. Acknowledge them
    /// with {@link SyncClient.acknowledge} once the server stored them.
    ///
    /// @example
    /// ```ts
    /// const batch = await client.pendingChanges(100);
    /// await myTransport.send(batch.changes);
    /// await client.acknowledge(batch);
    /// ```
    #[wasm_bindgen(js_name = pendingChanges, unchecked_return_type = "PendingBatch")]
    pub async fn pending_changes(&self, max_records: Option<u32>) -> Result<JsValue, JsValue> {
        let batch = self
            .storage
            .pending(max_records.unwrap_or(500) as usize)
            .await?;
        let revs: Array = batch
            .revs
            .iter()
            .map(|r| JsValue::from_f64(*r as f64))
            .collect();
        Ok(js::object(&[
            (
                "changes",
                &js::parse_many(&batch.changes, Change::write_json),
            ),
            ("revs", &revs),
            ("more", &JsValue::from_bool(batch.more)),
        ])
        .into())
    }

    /// Marks a batch from {@link SyncClient.pendingChanges} as stored by the
    /// server, atomically. Writes made after the batch was read stay pending.
    ///
    /// @example
    /// ```ts
    /// await client.acknowledge(batch);
    /// ```
    pub async fn acknowledge(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PendingBatch")] batch: JsValue,
    ) -> Result<(), JsValue> {
        let revs = field(&batch, "revs");
        if !Array::is_array(&revs) {
            return Err(invalid(
                "acknowledge(): pass the batch pendingChanges() returned".into(),
            ));
        }
        let revs: Vec<u64> = Array::from(&revs)
            .iter()
            .filter_map(|r| r.as_f64())
            .map(|r| r as u64)
            .collect();
        Ok(self.storage.acknowledge(&revs).await?)
    }

    /// Applies changes from a server (or any peer): merged field by field
    /// with pending local writes (last write wins), in one transaction,
    /// without logging them as local writes. Resolves to what was applied and
    /// which local values lost.
    ///
    /// @example
    /// ```ts
    /// const { conflicts } = await client.applyRemoteChanges(response.serverChanges);
    /// ```
    #[wasm_bindgen(js_name = applyRemoteChanges, unchecked_return_type = "ApplyResult")]
    pub async fn apply_remote_changes(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Change[]")] changes: JsValue,
    ) -> Result<JsValue, JsValue> {
        let changes = parse_changes(&changes)?;
        let result = self.storage.apply_remote(&changes, None).await?;
        Ok(js::object(&[
            ("applied", &JsValue::from(result.applied as u32)),
            ("skipped", &JsValue::from(result.skipped as u32)),
            ("conflicts", &js::conflicts(&result.conflicts)),
            (
                "changed",
                &js::parse_many(&result.changed, ChangedRecord::write_json),
            ),
        ])
        .into())
    }

    /// Pushes pending writes and pulls every synced table. Concurrent calls
    /// share one run. Resolves to what was pushed, pulled and lost; rejects
    /// with a `NetworkError`, `AuthError` or `ServerError` — writes stay
    /// pending either way.
    ///
    /// @example
    /// ```ts
    /// const { pushed, pulled, conflicts } = await client.sync();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncResult>")]
    pub fn sync(&self) -> Promise {
        let running = self.shared.running.borrow().clone();
        let run = running.unwrap_or_else(|| self.shared.start_run());
        // run.then(unwrap): the run itself never rejects.
        let then: Function = Reflect::get(&run, &"then".into())
            .map(JsCast::unchecked_into)
            .unwrap_or_else(|_| Function::new_no_args(""));
        then.call1(&run, self.shared.unwrap.as_ref())
            .map(JsCast::unchecked_into)
            .unwrap_or(run)
    }

    /// Starts background sync: a sync now, a push shortly after each local
    /// write, a sync every `syncIntervalMs` (default 30 s) and whenever the
    /// browser comes back online, and — unless `live: false` — a WebSocket on
    /// which the server announces other devices' changes. Idempotent.
    ///
    /// @example
    /// ```ts
    /// client.start();
    /// ```
    pub fn start(&self) -> Result<(), JsValue> {
        if self.shared.syncer.is_none() {
            return Err(Error::NoServer.into());
        }
        if self.shared.started.replace(true) {
            return Ok(());
        }
        // One tab per database leads background sync (Web Locks); when it
        // stops or closes, the next tab waiting for the lock takes over.
        let weak = Rc::downgrade(&self.shared);
        let on_acquired = Closure::<dyn FnMut()>::new(move || {
            if let Some(shared) = weak.upgrade() {
                shared.lead();
            }
        });
        let lock = format!("fieldsync:leader:{}", self.storage.name());
        let release = js::hold_lock(&lock, on_acquired.as_ref().unchecked_ref());
        *self.shared.leader.borrow_mut() = Some(LeaderLock {
            release,
            _on_acquired: on_acquired,
        });
        self.shared.request_sync();
        Ok(())
    }

    /// Stops background sync: closes the WebSocket, cancels every timer and
    /// hands leadership to another tab. A run in progress finishes.
    ///
    /// @example
    /// ```ts
    /// client.stop();
    /// ```
    pub fn stop(&self) {
        self.shared.started.set(false);
        self.shared.live.borrow_mut().take();
        if let Some(lock) = self.shared.leader.borrow_mut().take() {
            let _ = lock.release.call0(&JsValue::NULL);
        }
    }

    /// Whether this tab leads background sync for its database.
    #[wasm_bindgen(getter)]
    pub fn leader(&self) -> bool {
        self.shared.live.borrow().is_some()
    }

    /// `"idle"`, `"syncing"`, `"offline"` (the server could not be reached,
    /// or the browser is offline) or `"error"`; the `status` event reports
    /// changes.
    #[wasm_bindgen(
        getter,
        unchecked_return_type = "\"idle\" | \"syncing\" | \"offline\" | \"error\""
    )]
    pub fn status(&self) -> String {
        self.shared.status.get().name().to_owned()
    }

    /// When the last successful sync ended (ms since the epoch), if any.
    #[wasm_bindgen(getter, js_name = lastSyncedAt)]
    pub fn last_synced_at(&self) -> Option<f64> {
        self.shared.last_synced_at.get()
    }

    /// Whether the live WebSocket is open and authenticated.
    #[wasm_bindgen(getter)]
    pub fn live(&self) -> bool {
        self.shared
            .live
            .borrow()
            .as_ref()
            .is_some_and(Live::connected)
    }

    /// Decides conflicts of `table` yourself: after a sync, `resolver` gets
    /// each record whose pending local values lost — `{table, id, local,
    /// remote, conflicts}` — and returns `"remote"` (keep last write wins),
    /// `"local"` (write the local values again, so they win), or a merged
    /// record (written whole); a Promise of these works too. A resolver
    /// that throws leaves last write wins in place and emits `error`; sync
    /// goes on. `null` removes the resolver.
    ///
    /// @example
    /// ```ts
    /// client.setConflictResolver("notes", ({ local, remote }) =>
    ///   ({ ...remote, body: `${remote.body}\n${local.body}` }));
    /// ```
    #[wasm_bindgen(js_name = setConflictResolver)]
    pub fn set_conflict_resolver(
        &self,
        table: String,
        #[wasm_bindgen(
            unchecked_param_type = "((conflict: ConflictCase) => ConflictDecision | Promise<ConflictDecision>) | null"
        )]
        resolver: JsValue,
    ) -> Result<(), JsValue> {
        self.storage
            .schema()
            .table(&table)
            .ok_or_else(|| invalid(format!("setConflictResolver(): unknown table \"{table}\"")))?;
        let mut resolvers = self.shared.resolvers.borrow_mut();
        if resolver.is_null() || resolver.is_undefined() {
            resolvers.remove(&table);
            return Ok(());
        }
        let resolver = resolver.dyn_into::<Function>().map_err(|_| {
            invalid("setConflictResolver(): the resolver must be a function (or null)".into())
        })?;
        resolvers.insert(table, resolver);
        Ok(())
    }

    /// Subscribes to an event; returns a function that unsubscribes. A
    /// callback that throws is reported on the console and never breaks
    /// fieldsync.
    ///
    /// @example
    /// ```ts
    /// const off = client.on("change", (e) => render((e as ChangeEvent).tables));
    /// off();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SyncEventName")] event: String,
        #[wasm_bindgen(unchecked_param_type = "(payload: SyncEvent) => void")] callback: Function,
    ) -> Result<Function, JsValue> {
        self.events.on(&event, callback).map_err(invalid)
    }

    /// Closes the database connection and drops every listener.
    ///
    /// @example
    /// ```ts
    /// await client.close();
    /// ```
    pub async fn close(&self) {
        self.stop();
        self.events.clear();
        self.storage.close();
    }
}

impl SyncClient {
    /// The storage engine (for the sync layer and tests).
    pub fn storage(&self) -> &Rc<Storage> {
        &self.storage
    }

    /// Applies remote changes with a cursor check (see [`Storage::apply_remote`]).
    pub async fn apply_with_cursor(
        &self,
        changes: &[Change],
        cursor: CursorUpdate,
    ) -> Result<crate::storage::ApplyResult, Error> {
        self.storage.apply_remote(changes, Some(cursor)).await
    }
}
