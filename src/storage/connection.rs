//! The connection: opened on demand, reopened after another tab's upgrade
//! closed it; transactions; the client id and clock loaded at open.

use std::cell::Cell;
use std::rc::Rc;

use fieldsync_core::error::quoted_list;
use fieldsync_core::{Clock, Timestamp, json};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Event, IdbDatabase, IdbTransactionDurability, IdbTransactionMode};

use super::{CHANGES, Durability, META, SYNC_NODES, Storage, upgrade};
use crate::error::{Context, Error};
use crate::idb::{self, DomException, OpenError, Transaction};
use crate::js;

pub(super) struct Connection {
    db: IdbDatabase,
    stale: Rc<Cell<bool>>,
    _on_version_change: Closure<dyn FnMut(Event)>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.db.set_onversionchange(None);
        self.db.close();
    }
}

impl Storage {
    /// The open connection, reopened after a `versionchange` closed it.
    pub(super) async fn connect(&self) -> Result<IdbDatabase, Error> {
        if self.closed.get() {
            return Err(Error::Closed);
        }
        if let Some(conn) = self.conn.borrow().as_ref()
            && !conn.stale.get()
        {
            return Ok(conn.db.clone());
        }
        let conn = self.open_connection().await?;
        let db = conn.db.clone();
        if self.closed.get() {
            return Err(Error::Closed);
        }
        *self.conn.borrow_mut() = Some(conn);
        if has_store(&db, SYNC_NODES) {
            let tx = self
                .transaction(&db, &[CHANGES, SYNC_NODES], IdbTransactionMode::Readwrite)
                .during(&|| "registering with dexie-observable".to_owned())?;
            self.hold_observable_rows(&tx).await?;
            tx.commit()
                .await
                .during(&|| "registering with dexie-observable".to_owned())?;
        }
        Ok(db)
    }

    async fn open_connection(&self) -> Result<Connection, Error> {
        let schema = self.schema.clone();
        let events = self.events.clone();
        let db_name = self.name.clone();
        let callback = self.on_blocked.clone();
        let on_blocked = move || {
            let payload = js::object(&[("dbName", &JsValue::from_str(&db_name))]);
            if let Some(callback) = &callback
                && let Err(thrown) = callback.call1(&JsValue::NULL, &payload)
            {
                web_sys::console::error_2(&"fieldsync: onBlocked threw:".into(), &thrown);
            }
            events.emit("blocked", &payload);
        };
        let failed = |e: OpenError| match e {
            OpenError::Refused(message) => Error::Upgrade {
                db: self.name.clone(),
                message,
            },
            OpenError::Dom(e) => {
                Error::indexed_db(format!("opening database \"{}\"", self.name), e)
            }
        };
        let opened = idb::open(
            &self.name,
            Some(self.schema.idb_version),
            Box::new(move |up| upgrade::upgrade(&schema, up)),
            Box::new(on_blocked),
        )
        .await;
        let db = match opened {
            Ok(db) => db,
            // Installed at a higher version (an app upgraded it with Dexie):
            // open it as it is, as Dexie does, and check our stores exist.
            Err(OpenError::Dom(e)) if e.kind == DomException::VersionError => {
                idb::open(&self.name, None, Box::new(|_| Ok(())), Box::new(|| {}))
                    .await
                    .map_err(failed)?
            }
            Err(e) => return Err(failed(e)),
        };
        let names = db.object_store_names();
        let missing: Vec<String> = self
            .schema
            .all_stores()
            .map(|t| t.name)
            .filter(|n| !names.contains(n))
            .collect();
        if !missing.is_empty() {
            db.close();
            return Err(Error::Upgrade {
                db: self.name.clone(),
                message: format!(
                    "it is at IndexedDB version {} (Dexie version {}) but lacks the stores {}: the schema changed without a version bump; raise `version`",
                    json::number_text(db.version()),
                    json::number_text(db.version() / 10.0),
                    quoted_list(&missing)
                ),
            });
        }
        let stale = Rc::new(Cell::new(false));
        let on_version_change = {
            let (stale, db) = (stale.clone(), db.clone());
            Closure::<dyn FnMut(Event)>::new(move |_| {
                // Let the other tab upgrade; the next operation reopens.
                stale.set(true);
                db.close();
            })
        };
        db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        Ok(Connection {
            db,
            stale,
            _on_version_change: on_version_change,
        })
    }

    fn transaction(
        &self,
        db: &IdbDatabase,
        stores: &[&str],
        mode: IdbTransactionMode,
    ) -> Result<Transaction, idb::DomError> {
        let durability = match self.durability {
            Durability::Default => IdbTransactionDurability::Default,
            Durability::Relaxed => IdbTransactionDurability::Relaxed,
            Durability::Strict => IdbTransactionDurability::Strict,
        };
        Transaction::begin(db, stores, mode, durability)
    }

    /// Opens a transaction, reconnecting once if the connection was closed
    /// under us (a `versionchange` between two operations).
    pub(super) async fn begin(
        &self,
        stores: &[&str],
        mode: IdbTransactionMode,
    ) -> Result<Transaction, Error> {
        let op = || format!("starting a transaction on {}", quoted_list(stores));
        let db = self.connect().await?;
        match self.transaction(&db, stores, mode) {
            Err(e) if e.kind == DomException::InvalidStateError => {
                if let Some(conn) = self.conn.borrow().as_ref() {
                    conn.stale.set(true);
                }
                let db = self.connect().await?;
                self.transaction(&db, stores, mode).during(&op)
            }
            other => other.during(&op),
        }
    }

    /// Loads (or creates) the client id, and resumes the clock from the
    /// highest stamp any tab persisted or logged.
    pub(super) async fn load_identity(&self) -> Result<(), Error> {
        let op = || "loading the client id and clock".to_owned();
        let tx = self
            .begin(&[META, CHANGES], IdbTransactionMode::Readwrite)
            .await?;
        let meta = tx.store(META).during(&op)?;
        let stored_id = meta.get(&"clientId".into()).await.during(&op)?;
        let client_id = match (&self.fixed_client_id, stored_id.as_string()) {
            (Some(fixed), _) => fixed.clone(),
            (None, Some(stored)) => stored,
            (None, None) => {
                let id = new_client_id();
                meta.put(&JsValue::from_str(&id), Some(&"clientId".into()))
                    .during(&op)?;
                id
            }
        };
        let stored_clock = meta.get(&"clock".into()).await.during(&op)?;
        let cursor = tx.store(CHANGES).during(&op)?.last().await.during(&op)?;
        let last_row_stamp = if cursor.is_null() || cursor.is_undefined() {
            JsValue::UNDEFINED
        } else {
            let cursor: web_sys::IdbCursorWithValue = cursor.unchecked_into();
            js::get_path(&cursor.value().unwrap_or(JsValue::UNDEFINED), "stamp")
        };
        tx.commit().await.during(&op)?;
        let parse = |v: JsValue| v.as_string().and_then(|s| Timestamp::parse(&s).ok());
        let last = [parse(stored_clock), parse(last_row_stamp)]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(Timestamp::ZERO);
        *self.clock.borrow_mut() = Clock::resume(last);
        *self.client_id.borrow_mut() = client_id;
        Ok(())
    }
}

pub(super) fn has_store(db: &IdbDatabase, name: &str) -> bool {
    db.object_store_names().contains(name)
}

fn new_client_id() -> String {
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).ok();
    let uuid = crypto
        .and_then(|c| {
            js_sys::Reflect::get(&c, &"randomUUID".into())
                .ok()
                .map(|f| (c, f))
        })
        .and_then(|(c, f)| f.dyn_into::<js_sys::Function>().ok()?.call0(&c).ok())
        .and_then(|v| v.as_string());
    uuid.unwrap_or_else(|| {
        format!(
            "{:x}{:x}",
            js_sys::Date::now() as u64,
            (js_sys::Math::random() * 1e15) as u64
        )
    })
}
