//! Event listeners (`client.on(event, callback)`).
//!
//! A listener that throws is reported on the console and never breaks the
//! caller or the other listeners. `on()` returns an unsubscribe function: a
//! `Closure` owned by the registry and dropped with it (never forgotten).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::Function;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::Closure;

/// The events a client emits.
pub const EVENTS: [&str; 6] = [
    "change", "status", "conflict", "error", "progress", "blocked",
];

struct Listener {
    id: u32,
    event: String,
    callback: Function,
}

/// The listeners of one client.
#[derive(Default)]
pub struct Events {
    listeners: RefCell<Vec<Listener>>,
    unsubscribers: RefCell<Vec<Closure<dyn FnMut()>>>,
    next_id: Cell<u32>,
}

impl Events {
    /// Adds a listener; returns the JS function that removes it.
    pub fn on(self: &Rc<Self>, event: &str, callback: Function) -> Result<Function, String> {
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
        let registry: Weak<Events> = Rc::downgrade(self);
        let unsubscribe = Closure::<dyn FnMut()>::new(move || {
            if let Some(events) = registry.upgrade() {
                events.listeners.borrow_mut().retain(|l| l.id != id);
            }
        });
        let function: Function = wasm_bindgen::JsCast::unchecked_into(unsubscribe.as_ref().clone());
        self.unsubscribers.borrow_mut().push(unsubscribe);
        Ok(function)
    }

    /// Whether anyone listens to `event` (to skip building payloads).
    pub fn has(&self, event: &str) -> bool {
        self.listeners.borrow().iter().any(|l| l.event == event)
    }

    /// Calls every listener of `event` with `payload`.
    pub fn emit(&self, event: &str, payload: &JsValue) {
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
    pub fn clear(&self) {
        self.listeners.borrow_mut().clear();
    }
}
