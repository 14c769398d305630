//! The WebSocket hub: which sockets belong to which user and app, and
//! `sync-available` delivery to them. A user only ever hears of their own
//! changes: sockets are keyed by the verified `sub`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use fieldsync_core::ServerMessage;
use tokio::sync::mpsc;

/// Messages queued per socket before a slow socket starts losing them
/// (a lost `sync-available` only delays a pull until the next one).
pub const QUEUE: usize = 64;

struct Socket {
    id: u64,
    client_id: Option<String>,
    tx: mpsc::Sender<ServerMessage>,
}

/// The registry of open sockets.
#[derive(Default)]
pub struct Hub {
    sockets: Mutex<HashMap<(String, String), Vec<Socket>>>,
    next_id: AtomicU64,
}

/// A socket's registration; dropping it unregisters.
pub struct Registration<'a> {
    hub: &'a Hub,
    key: (String, String),
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Ok(mut sockets) = self.hub.sockets.lock()
            && let Some(list) = sockets.get_mut(&self.key)
        {
            list.retain(|s| s.id != self.id);
            if list.is_empty() {
                sockets.remove(&self.key);
            }
        }
    }
}

impl Hub {
    /// Registers a socket of `user` in `app`, unless the user already holds
    /// `cap` sockets there.
    pub fn register(
        &self,
        app: &str,
        user: &str,
        client_id: Option<String>,
        cap: usize,
        tx: mpsc::Sender<ServerMessage>,
    ) -> Option<Registration<'_>> {
        let key = (app.to_owned(), user.to_owned());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut sockets = self.sockets.lock().ok()?;
        let list = sockets.entry(key.clone()).or_default();
        if list.len() >= cap {
            return None;
        }
        list.push(Socket { id, client_id, tx });
        Some(Registration { hub: self, key, id })
    }

    /// Tells every socket of `user` in `app` (but those of `except_client`)
    /// that `tables` changed. Returns how many were told.
    pub fn notify(
        &self,
        app: &str,
        user: &str,
        tables: &[String],
        except_client: Option<&str>,
    ) -> usize {
        let Ok(sockets) = self.sockets.lock() else {
            return 0;
        };
        let Some(list) = sockets.get(&(app.to_owned(), user.to_owned())) else {
            return 0;
        };
        let message = ServerMessage::SyncAvailable {
            tables: tables.to_vec(),
        };
        list.iter()
            .filter(|s| except_client.is_none() || s.client_id.as_deref() != except_client)
            .filter(|s| s.tx.try_send(message.clone()).is_ok())
            .count()
    }

    /// Open sockets, and distinct users holding them.
    pub fn stats(&self) -> (usize, usize) {
        self.sockets
            .lock()
            .map(|s| (s.values().map(Vec::len).sum(), s.len()))
            .unwrap_or((0, 0))
    }
}
