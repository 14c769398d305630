//! Event listeners (`client.on(event, callback)`).
//!
//! A listener that throws is reported on the console and never breaks the
//! caller or the other listeners. `on()` returns an unsubscribe function: a
//! JS function bound to the listener's id over one `off` closure owned by
//! the registry, so unsubscribing drops the listener and nothing else is
//! kept per subscription.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::Function;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::Closure;

/// The events a client emits.
pub(crate) const EVENTS: [&str; 7] = [
    "change", "status", "conflict", "error", "progress", "blocked", "failed",
];

struct Listener {
    id: u32,
    event: String,
    callback: Function,
}

/// The listeners of one client.
pub(crate) struct Events {
    listeners: RefCell<Vec<Listener>>,
    next_id: Cell<u32>,
    /// `off(id)`: what every unsubscribe function calls.
    off: Closure<dyn FnMut(u32)>,
}

impl Events {
    /// An empty registry.
    pub(crate) fn new() -> Rc<Events> {
        Rc::new_cyclic(|me: &Weak<Events>| {
            let me = me.clone();
            Events {
                listeners: RefCell::default(),
                next_id: Cell::new(0),
                off: Closure::new(move |id: u32| {
                    if let Some(events) = me.upgrade() {
                        events.listeners.borrow_mut().retain(|l| l.id != id);
                    }
                }),
            }
        })
    }

    /// Adds a listener; returns the JS function that removes it.
    pub(crate) fn on(&self, event: &str, callback: Function) -> Result<Function, String> {
        if !EVENTS.contains(&event) {
            return Err(format!(
                "unknown event \"{event}\": expected one of {}",
                EVENTS.join(", ")
            ));
        }
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        self.listeners.borrow_mut().push(Listener {
            id,
            event: event.to_owned(),
            callback,
        });
        Ok(crate::js::unsubscriber(
            self.off.as_ref().unchecked_ref(),
            id,
        ))
    }

    /// How many listeners are subscribed (to any event).
    #[cfg(feature = "testing")]
    pub(crate) fn len(&self) -> usize {
        self.listeners.borrow().len()
    }

    /// Whether anyone listens to `event` (to skip building payloads).
    pub(crate) fn has(&self, event: &str) -> bool {
        self.listeners.borrow().iter().any(|l| l.event == event)
    }

    /// Calls every listener of `event` with `payload`.
    pub(crate) fn emit(&self, event: &str, payload: &JsValue) {
        // Clone first: a listener may subscribe or unsubscribe while called.
        let callbacks: Vec<Function> = self
            .listeners
            .borrow()
            .iter()
            .filter(|l| l.event == event)
            .map(|l| l.callback.clone())
            .collect();
        for callback in callbacks {
            if let Err(thrown) = callback.call1(&JsValue::NULL, payload) {
                web_sys::console::error_2(
                    &JsValue::from_str(&format!("fieldsync: a \"{event}\" listener threw:")),
                    &thrown,
                );
            }
        }
    }

    /// Removes every listener (the unsubscribe functions stay callable).
    pub(crate) fn clear(&self) {
        self.listeners.borrow_mut().clear();
    }
}
