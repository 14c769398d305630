//! A thin async layer over IndexedDB (web-sys): request and transaction
//! futures, database opening with an upgrade callback, and DOMException
//! details.
//!
//! Why not rexie: its builder deletes every object store it was not told
//! about when it upgrades (Dexie.Observable's `_syncNodes`, say, or an app's
//! Dexie-only table), panics inside the upgrade callback on any failure, hides
//! `blocked`, and awaits each request in turn; fieldsync needs the opposite on
//! all four counts, and a few hundred lines over web-sys cost fewer bytes.
//!
//! Futures resolve from IndexedDB event callbacks through wasm-bindgen's
//! microtask executor, so awaiting a request keeps its transaction alive.
//! Every callback is an owned `Closure` dropped with its future; a dropped
//! future detaches its handlers first.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{
    DomException, Event, IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbRequest, IdbTransaction,
    IdbVersionChangeEvent,
};

/// A failed IndexedDB operation: the DOMException's name and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomError {
    /// e.g. `QuotaExceededError`, `ConstraintError`, `AbortError`.
    pub name: String,
    /// The browser's message.
    pub message: String,
}

impl DomError {
    /// Reads a DOMException, an `Error` or anything else thrown.
    pub fn from_js(value: &JsValue) -> Self {
        if let Some(dom) = value.dyn_ref::<DomException>() {
            return DomError {
                name: dom.name(),
                message: dom.message(),
            };
        }
        if let Some(err) = value.dyn_ref::<js_sys::Error>() {
            return DomError {
                name: err.name().into(),
                message: err.message().into(),
            };
        }
        DomError {
            name: "Error".into(),
            message: value.as_string().unwrap_or_else(|| format!("{value:?}")),
        }
    }

    fn new(name: &str, message: impl Into<String>) -> Self {
        DomError {
            name: name.into(),
            message: message.into(),
        }
    }
}

/// The `indexedDB` factory of this window or worker.
pub fn factory() -> Result<IdbFactory, DomError> {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("indexedDB"))
        .ok()
        .filter(|f| !f.is_undefined() && !f.is_null())
        .map(JsCast::unchecked_into)
        .ok_or_else(|| {
            DomError::new(
                "MissingAPIError",
                "IndexedDB is not available in this context (private mode or an unsupported browser?)",
            )
        })
}

struct Slot<T> {
    outcome: Option<Result<T, DomError>>,
    waker: Option<Waker>,
}

impl<T> Slot<T> {
    fn settle(slot: &Rc<RefCell<Slot<T>>>, outcome: Result<T, DomError>) {
        let waker = {
            let mut s = slot.borrow_mut();
            if s.outcome.is_none() {
                s.outcome = Some(outcome);
            }
            s.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn poll(slot: &Rc<RefCell<Slot<T>>>, cx: &Context<'_>) -> Poll<Result<T, DomError>> {
        let mut s = slot.borrow_mut();
        match s.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

type EventClosure = Closure<dyn FnMut(Event)>;

/// The outcome of one `IDBRequest`: its `result`, or its error.
pub struct RequestFuture {
    request: IdbRequest,
    slot: Rc<RefCell<Slot<JsValue>>>,
    _on_success: EventClosure,
    _on_error: EventClosure,
}

/// Awaits `request`. Call it as soon as the request is issued, before
/// awaiting anything else: requests complete in order, and a success event
/// that fires before a listener is attached is lost. Requests of a cursor
/// may be awaited again after each `continue()`.
pub fn request(request: &IdbRequest) -> RequestFuture {
    let slot = Rc::new(RefCell::new(Slot {
        outcome: None,
        waker: None,
    }));
    let on_success = {
        let (slot, request) = (slot.clone(), request.clone());
        Closure::<dyn FnMut(Event)>::new(move |_| {
            Slot::settle(&slot, Ok(request.result().unwrap_or(JsValue::UNDEFINED)));
        })
    };
    let on_error = {
        let (slot, request) = (slot.clone(), request.clone());
        Closure::<dyn FnMut(Event)>::new(move |_| {
            let error = match request.error() {
                Ok(Some(dom)) => DomError::from_js(&dom),
                _ => DomError::new("UnknownError", "the request failed without an error"),
            };
            Slot::settle(&slot, Err(error));
        })
    };
    request.set_onsuccess(Some(on_success.as_ref().unchecked_ref()));
    request.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    RequestFuture {
        request: request.clone(),
        slot,
        _on_success: on_success,
        _on_error: on_error,
    }
}

impl Future for RequestFuture {
    type Output = Result<JsValue, DomError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Slot::poll(&self.slot, cx)
    }
}

impl Drop for RequestFuture {
    fn drop(&mut self) {
        self.request.set_onsuccess(None);
        self.request.set_onerror(None);
    }
}

/// Resolves when a transaction commits; fails with the error that aborted it.
pub struct TransactionFuture {
    tx: IdbTransaction,
    slot: Rc<RefCell<Slot<()>>>,
    _on_complete: EventClosure,
    _on_abort: EventClosure,
}

/// Awaits the end of `tx`.
pub fn done(tx: &IdbTransaction) -> TransactionFuture {
    let slot = Rc::new(RefCell::new(Slot {
        outcome: None,
        waker: None,
    }));
    let on_complete = {
        let slot = slot.clone();
        Closure::<dyn FnMut(Event)>::new(move |_| Slot::settle(&slot, Ok(())))
    };
    let on_abort = {
        let (slot, tx) = (slot.clone(), tx.clone());
        Closure::<dyn FnMut(Event)>::new(move |_| {
            let error = match tx.error() {
                Some(dom) => DomError::from_js(&dom),
                None => DomError::new("AbortError", "the transaction was aborted"),
            };
            Slot::settle(&slot, Err(error));
        })
    };
    tx.set_oncomplete(Some(on_complete.as_ref().unchecked_ref()));
    tx.set_onabort(Some(on_abort.as_ref().unchecked_ref()));
    TransactionFuture {
        tx: tx.clone(),
        slot,
        _on_complete: on_complete,
        _on_abort: on_abort,
    }
}

impl Future for TransactionFuture {
    type Output = Result<(), DomError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Slot::poll(&self.slot, cx)
    }
}

impl Drop for TransactionFuture {
    fn drop(&mut self) {
        self.tx.set_oncomplete(None);
        self.tx.set_onabort(None);
    }
}

/// What an upgrade callback gets: the database, the version-change
/// transaction, and the version the database had (0 when new).
pub struct Upgrade<'a> {
    /// The database being upgraded.
    pub db: &'a IdbDatabase,
    /// The version-change transaction.
    pub tx: &'a IdbTransaction,
    /// The version before the upgrade.
    pub old_version: u32,
}

/// Opens `name` at `version` (or at its current version when `None`),
/// running `upgrade` inside the version-change transaction. An `Err` from
/// `upgrade` aborts the upgrade and is returned as the open's error.
/// `on_blocked` runs if other connections hold the database open.
pub async fn open(
    name: &str,
    version: Option<u32>,
    upgrade: impl FnMut(Upgrade<'_>) -> Result<(), DomError> + 'static,
    mut on_blocked: impl FnMut() + 'static,
) -> Result<IdbDatabase, DomError> {
    let factory = factory()?;
    let open_request: IdbOpenDbRequest = match version {
        Some(v) => factory.open_with_u32(name, v),
        None => factory.open(name),
    }
    .map_err(|e| DomError::from_js(&e))?;

    let upgrade_error: Rc<RefCell<Option<DomError>>> = Rc::new(RefCell::new(None));
    let upgrade = RefCell::new(upgrade);
    let on_upgrade = {
        let (upgrade_error, open_request) = (upgrade_error.clone(), open_request.clone());
        Closure::<dyn FnMut(IdbVersionChangeEvent)>::new(move |event: IdbVersionChangeEvent| {
            let (Ok(result), Some(tx)) = (open_request.result(), open_request.transaction()) else {
                return;
            };
            let db: IdbDatabase = result.unchecked_into();
            let outcome = (upgrade.borrow_mut())(Upgrade {
                db: &db,
                tx: &tx,
                old_version: event.old_version() as u32,
            });
            if let Err(err) = outcome {
                *upgrade_error.borrow_mut() = Some(err);
                let _ = tx.abort();
            }
        })
    };
    let on_blocked = Closure::<dyn FnMut(Event)>::new(move |_| on_blocked());
    open_request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    open_request.set_onblocked(Some(on_blocked.as_ref().unchecked_ref()));

    let outcome = request(&open_request).await;
    open_request.set_onupgradeneeded(None);
    open_request.set_onblocked(None);
    if let Some(err) = upgrade_error.borrow_mut().take() {
        return Err(err);
    }
    outcome.map(JsCast::unchecked_into)
}

/// Deletes the database `name` (resolves once no connection holds it open).
pub async fn delete_database(name: &str) -> Result<(), DomError> {
    let req = factory()?
        .delete_database(name)
        .map_err(|e| DomError::from_js(&e))?;
    request(&req).await.map(|_| ())
}

/// Converts a synchronous IndexedDB call's exception.
pub fn sync<T>(result: Result<T, JsValue>) -> Result<T, DomError> {
    result.map_err(|e| DomError::from_js(&e))
}
