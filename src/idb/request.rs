//! Request and transaction futures. They resolve from IndexedDB event
//! callbacks through wasm-bindgen's microtask executor, so awaiting a request
//! keeps its transaction alive. Every callback is an owned `Closure` dropped
//! with its future; a dropped future detaches its handlers first.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Event, IdbRequest, IdbTransaction};

use super::{DomError, DomException};

pub(crate) struct Slot<T> {
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

/// The outcome of one `IDBRequest`: its `result`, or its error (including
/// the exception that kept it from being issued).
#[must_use = "a request future does nothing unless awaited"]
pub(crate) enum RequestFuture {
    /// Issued: settles from the request's events.
    Issued {
        request: IdbRequest,
        slot: Rc<RefCell<Slot<JsValue>>>,
        _on_success: EventClosure,
        _on_error: EventClosure,
    },
    /// Never issued: the call threw.
    Failed(Option<DomError>),
}

impl RequestFuture {
    /// Awaits the request `issue` makes, or its exception.
    pub(crate) fn of(issue: Result<IdbRequest, DomError>) -> RequestFuture {
        match issue {
            Ok(req) => request(&req),
            Err(e) => RequestFuture::Failed(Some(e)),
        }
    }
}

/// Awaits `request`. Call it as soon as the request is issued, before
/// awaiting anything else: requests complete in order, and a success event
/// that fires before a listener is attached is lost. Requests of a cursor
/// may be awaited again after each `continue()`.
pub(crate) fn request(request: &IdbRequest) -> RequestFuture {
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
                _ => DomError::new(
                    DomException::UnknownError,
                    "the request failed without an error",
                ),
            };
            Slot::settle(&slot, Err(error));
        })
    };
    request.set_onsuccess(Some(on_success.as_ref().unchecked_ref()));
    request.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    RequestFuture::Issued {
        request: request.clone(),
        slot,
        _on_success: on_success,
        _on_error: on_error,
    }
}

impl Future for RequestFuture {
    type Output = Result<JsValue, DomError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            RequestFuture::Issued { slot, .. } => Slot::poll(slot, cx),
            RequestFuture::Failed(error) => Poll::Ready(Err(error.take().unwrap_or_else(|| {
                DomError::new(DomException::InvalidStateError, "polled after completion")
            }))),
        }
    }
}

impl Drop for RequestFuture {
    fn drop(&mut self) {
        if let RequestFuture::Issued { request, .. } = self {
            request.set_onsuccess(None);
            request.set_onerror(None);
        }
    }
}

/// Resolves when a transaction commits; fails with the error that aborted it.
#[must_use = "a transaction future does nothing unless awaited"]
pub(crate) struct TransactionFuture {
    tx: IdbTransaction,
    slot: Rc<RefCell<Slot<()>>>,
    _on_complete: EventClosure,
    _on_abort: EventClosure,
}

/// Awaits the end of `tx`.
pub(crate) fn done(tx: &IdbTransaction) -> TransactionFuture {
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
                None => DomError::new(DomException::AbortError, "the transaction was aborted"),
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
