//! When sync runs: one run at a time per client (concurrent `sync()` calls
//! share it, a request during a run queues one more), one run at a time per
//! database across tabs (a Web Lock), the `status` the runs leave behind,
//! and which tab leads background sync.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::error::Error;
use crate::events::Events;
use crate::js;
use crate::live::{Driver, Live};
use crate::storage::{FailedChange, Storage};
use crate::sync::{SyncReport, Syncer};

/// The sync state of a client, shared with background callbacks (which hold
/// it weakly).
pub(crate) struct Shared {
    pub(crate) me: Weak<Shared>,
    pub(crate) storage: Rc<Storage>,
    pub(crate) events: Rc<Events>,
    pub(crate) syncer: Option<Rc<Syncer>>,
    /// The run in progress; it always resolves, to `{report}` or `{error}`.
    pub(crate) running: RefCell<Option<Promise>>,
    /// A run was requested during the current one: run again after it.
    pub(crate) again: Cell<bool>,
    pub(crate) status: Cell<Status>,
    /// The browser's `online` / `offline` state, as last reported.
    pub(crate) online: Cell<bool>,
    pub(crate) last_synced_at: Cell<Option<f64>>,
    pub(crate) live: RefCell<Option<Live>>,
    /// `start()` was called (and not `stop()`): this tab syncs its own
    /// writes, and competes to lead background sync.
    pub(crate) started: Cell<bool>,
    /// The leader lock, while `start()`ed.
    pub(crate) leader: RefCell<Option<LeaderLock>>,
    pub(crate) interval_ms: u32,
    pub(crate) live_socket: bool,
    /// `setConflictResolver` functions, by table.
    pub(crate) resolvers: RefCell<std::collections::HashMap<String, Function>>,
    /// Turns a run's `{report}` / `{error}` into a resolution / rejection.
    pub(crate) unwrap: Closure<dyn FnMut(JsValue) -> Result<JsValue, JsValue>>,
}

/// A request for the leader lock: the function that releases it, and the
/// callback the lock manager calls once it is granted (kept alive until then).
pub(crate) struct LeaderLock {
    pub(crate) release: Function,
    pub(crate) _on_acquired: Closure<dyn FnMut()>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Idle,
    Syncing,
    Offline,
    Failed,
}

impl Status {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Status::Idle => "idle",
            Status::Syncing => "syncing",
            Status::Offline => "offline",
            Status::Failed => "error",
        }
    }
}

impl Shared {
    /// The state of a new client; nothing runs until asked.
    pub(crate) fn new(
        storage: Rc<Storage>,
        events: Rc<Events>,
        syncer: Option<Rc<Syncer>>,
        interval_ms: u32,
        live_socket: bool,
    ) -> Rc<Shared> {
        Rc::new_cyclic(|me| Shared {
            me: me.clone(),
            storage,
            events,
            syncer,
            running: RefCell::new(None),
            again: Cell::new(false),
            status: Cell::new(Status::Idle),
            online: Cell::new(true),
            last_synced_at: Cell::new(None),
            live: RefCell::new(None),
            started: Cell::new(false),
            leader: RefCell::new(None),
            resolvers: RefCell::default(),
            interval_ms,
            live_socket,
            unwrap: Closure::new(|outcome: JsValue| {
                let error =
                    js_sys::Reflect::get(&outcome, &"error".into()).unwrap_or(JsValue::UNDEFINED);
                if error.is_undefined() {
                    Ok(js_sys::Reflect::get(&outcome, &"report".into())
                        .unwrap_or(JsValue::UNDEFINED))
                } else {
                    Err(error)
                }
            }),
        })
    }

    pub(crate) fn set_status(&self, status: Status) {
        if self.status.replace(status) != status && self.events.has("status") {
            let payload = js::object(&[("status", &JsValue::from_str(status.name()))]);
            self.events.emit("status", &payload);
        }
    }

    /// Starts a run now; the caller checked that none is in progress.
    pub(crate) fn start_run(&self) -> Promise {
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
                    if !report.newly_failed.is_empty() && shared.events.has("failed") {
                        let failed = js::parse_many(&report.newly_failed, FailedChange::write_json);
                        shared
                            .events
                            .emit("failed", &js::object(&[("failed", &failed)]));
                    }
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
            Err(Error::Lock {
                operation: "sync".into(),
                lock,
                message: "the lock request ended without running the sync".into(),
            })
        })
    }

    /// `start()`: competes for the leader lock and syncs this tab's writes.
    pub(crate) fn start(&self) -> Result<(), Error> {
        if self.syncer.is_none() {
            return Err(Error::NoServer);
        }
        if self.started.replace(true) {
            return Ok(());
        }
        // One tab per database leads background sync (Web Locks); when it
        // stops or closes, the next tab waiting for the lock takes over.
        let weak = self.me.clone();
        let on_acquired = Closure::<dyn FnMut()>::new(move || {
            if let Some(shared) = weak.upgrade() {
                shared.lead();
            }
        });
        let lock = format!("fieldsync:leader:{}", self.storage.name());
        let release = js::hold_lock(&lock, on_acquired.as_ref().unchecked_ref());
        *self.leader.borrow_mut() = Some(LeaderLock {
            release,
            _on_acquired: on_acquired,
        });
        self.request_sync();
        Ok(())
    }

    /// `stop()`: closes the socket, cancels the timers, hands leadership on.
    pub(crate) fn stop(&self) {
        self.started.set(false);
        self.live.borrow_mut().take();
        if let Some(lock) = self.leader.borrow_mut().take() {
            let _ = lock.release.call0(&JsValue::NULL);
        }
    }

    /// Starts the background machinery in this tab (it holds the leader lock).
    pub(crate) fn lead(&self) {
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

    pub(crate) fn after_local_write(&self) {
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
        let error: JsValue = Error::Live {
            code: None,
            message: format!("the sync server closed it: {message}"),
        }
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
