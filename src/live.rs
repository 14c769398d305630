//! Background sync (`start()` / `stop()`): a WebSocket that hears
//! `sync-available`, a push right after local writes, a periodic sync, and
//! the browser's `online` / `offline` events.
//!
//! Local writes need no debounce: a write during a run only marks that
//! another run is wanted, so a burst of writes becomes one push after the
//! run in flight (and an isolated write is pushed at once).
//!
//! Every callback is a `Closure` owned by [`Live`] and every timer a
//! gloo-timers handle owned by it, so `stop()` (dropping `Live`) closes the
//! socket and cancels everything. Callbacks hold only a `Weak` reference to
//! the client's shared state, so a forgotten client is not kept alive.
//!
//! Reconnection uses exponential backoff with jitter: 0.5 s, 1 s, 2 s … up
//! to 30 s, each ±25 %, reset once the server accepts the socket's `auth`.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use fieldsync_core::{ClientMessage, ServerMessage};
use gloo_timers::callback::{Interval, Timeout};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

/// Keepalive period of the WebSocket.
pub(crate) const PING_MS: u32 = 25_000;
/// Default period of the background sync.
pub(crate) const DEFAULT_INTERVAL_MS: u32 = 30_000;

/// What the background machinery asks of the client.
pub(crate) trait Driver {
    /// Run a sync now (joining one in progress, or queueing another after it).
    fn request_sync(&self);
    /// The current token for the socket's `auth` message.
    fn token(&self) -> Option<String>;
    /// The client id the server uses to skip this client's own pushes.
    fn client_id(&self) -> String;
    /// Report that the browser went offline or came back.
    fn set_online(&self, online: bool);
    /// Report a message the server sent as an error (the socket then
    /// closes; a refused token is refreshed before the reconnect).
    fn report_error(&self, message: &str);
    /// Whether any of `tables` is synced by this client.
    fn syncs_any(&self, tables: &[String]) -> bool;
}

struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

/// The running background sync of one client.
pub(crate) struct Live {
    inner: Rc<LiveInner>,
    _periodic: Interval,
    _ping: Interval,
    _on_online: Option<Closure<dyn FnMut(Event)>>,
    _on_offline: Option<Closure<dyn FnMut(Event)>>,
}

struct LiveInner {
    driver: Weak<dyn Driver>,
    ws_url: Option<String>,
    socket: RefCell<Option<Socket>>,
    reconnect: RefCell<Option<Timeout>>,
    attempt: Cell<u32>,
    stopped: Cell<bool>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.inner.stopped.set(true);
        self.inner.socket.borrow_mut().take();
        self.inner.reconnect.borrow_mut().take();
        if let Some(window) = web_sys::window() {
            if let Some(f) = &self._on_online {
                let _ = window
                    .remove_event_listener_with_callback("online", f.as_ref().unchecked_ref());
            }
            if let Some(f) = &self._on_offline {
                let _ = window
                    .remove_event_listener_with_callback("offline", f.as_ref().unchecked_ref());
            }
        }
    }
}

impl Live {
    /// Starts background sync. `ws_url` is the server's `/ws/{appId}` URL
    /// (`None`: no live updates, periodic sync only).
    pub(crate) fn start(
        driver: Weak<dyn Driver>,
        ws_url: Option<String>,
        interval_ms: u32,
    ) -> Live {
        let inner = Rc::new(LiveInner {
            driver: driver.clone(),
            ws_url,
            socket: RefCell::new(None),
            reconnect: RefCell::new(None),
            attempt: Cell::new(0),
            stopped: Cell::new(false),
        });
        LiveInner::connect(&inner);
        let periodic = {
            let driver = driver.clone();
            Interval::new(interval_ms.max(1_000), move || {
                if let Some(d) = driver.upgrade() {
                    d.request_sync();
                }
            })
        };
        let ping = {
            let weak = Rc::downgrade(&inner);
            Interval::new(PING_MS, move || {
                if let Some(inner) = weak.upgrade()
                    && let Some(socket) = inner.socket.borrow().as_ref()
                    && socket.ws.ready_state() == WebSocket::OPEN
                {
                    let _ = socket.ws.send_with_str(&ClientMessage::Ping.to_json());
                }
            })
        };
        let listener = |online: bool| {
            let (driver, weak) = (driver.clone(), Rc::downgrade(&inner));
            Closure::<dyn FnMut(Event)>::new(move |_| {
                let Some(d) = driver.upgrade() else { return };
                d.set_online(online);
                if online {
                    d.request_sync();
                    if let Some(inner) = weak.upgrade() {
                        inner.attempt.set(0);
                        LiveInner::connect(&inner);
                    }
                }
            })
        };
        let (on_online, on_offline) = match web_sys::window() {
            Some(window) => {
                let (on, off) = (listener(true), listener(false));
                let _ =
                    window.add_event_listener_with_callback("online", on.as_ref().unchecked_ref());
                let _ = window
                    .add_event_listener_with_callback("offline", off.as_ref().unchecked_ref());
                (Some(on), Some(off))
            }
            None => (None, None),
        };
        if let Some(d) = driver.upgrade() {
            d.request_sync();
        }
        Live {
            inner,
            _periodic: periodic,
            _ping: ping,
            _on_online: on_online,
            _on_offline: on_offline,
        }
    }

    /// Whether the socket is open and authenticated.
    pub(crate) fn connected(&self) -> bool {
        self.inner.attempt.get() == 0
            && self
                .inner
                .socket
                .borrow()
                .as_ref()
                .is_some_and(|s| s.ws.ready_state() == WebSocket::OPEN)
    }
}

impl LiveInner {
    fn connect(inner: &Rc<LiveInner>) {
        if inner.stopped.get() {
            return;
        }
        let Some(url) = inner.ws_url.clone() else {
            return;
        };
        inner.socket.borrow_mut().take();
        let Ok(ws) = WebSocket::new(&url) else {
            LiveInner::schedule_reconnect(inner);
            return;
        };
        let weak = Rc::downgrade(inner);
        let on_open = {
            let (weak, ws) = (weak.clone(), ws.clone());
            Closure::<dyn FnMut(Event)>::new(move |_| {
                let Some(inner) = weak.upgrade() else { return };
                let Some(driver) = inner.driver.upgrade() else {
                    return;
                };
                let auth = ClientMessage::Auth {
                    token: driver.token().unwrap_or_default(),
                    client_id: Some(driver.client_id()),
                };
                let _ = ws.send_with_str(&auth.to_json());
            })
        };
        let on_message = {
            let weak = weak.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let Some(inner) = weak.upgrade() else { return };
                let Some(driver) = inner.driver.upgrade() else {
                    return;
                };
                let Some(text) = event.data().as_string() else {
                    return;
                };
                // A message this client cannot read (a newer server's) is
                // skipped: the periodic sync still runs.
                let Ok(message) = crate::js::read_json(&text, ServerMessage::from_json) else {
                    return;
                };
                match message {
                    ServerMessage::AuthOk => {
                        inner.attempt.set(0);
                        driver.request_sync();
                    }
                    ServerMessage::SyncAvailable { tables } => {
                        // No tables named: something changed, sync to find out.
                        if tables.is_empty() || driver.syncs_any(&tables) {
                            driver.request_sync();
                        }
                    }
                    ServerMessage::Error { message } => driver.report_error(&message),
                    ServerMessage::Pong => {}
                }
            })
        };
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_| {
            if let Some(inner) = weak.upgrade() {
                LiveInner::schedule_reconnect(&inner);
            }
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        *inner.socket.borrow_mut() = Some(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        });
    }

    fn schedule_reconnect(inner: &Rc<LiveInner>) {
        if inner.stopped.get() {
            return;
        }
        let attempt = inner.attempt.get();
        inner.attempt.set(attempt.saturating_add(1));
        let base = (500.0 * 2f64.powi(attempt.min(6) as i32)).min(30_000.0);
        let jitter = 0.75 + js_sys::Math::random() * 0.5;
        let weak = Rc::downgrade(inner);
        let timeout = Timeout::new((base * jitter) as u32, move || {
            if let Some(inner) = weak.upgrade() {
                LiveInner::connect(&inner);
            }
        });
        *inner.reconnect.borrow_mut() = Some(timeout);
    }
}
