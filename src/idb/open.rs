//! Opening (with an upgrade callback) and deleting databases.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{
    Event, IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbTransaction, IdbVersionChangeEvent,
};

use super::{DomError, DomException, request, sync};

/// Why a database could not be opened.
#[derive(Clone, Debug)]
pub(crate) enum OpenError {
    /// The upgrade callback refused the upgrade (the message says why).
    Refused(String),
    /// The browser failed.
    Dom(DomError),
}

impl From<DomError> for OpenError {
    fn from(err: DomError) -> Self {
        OpenError::Dom(err)
    }
}

/// The `indexedDB` factory of this window or worker.
pub(super) fn factory() -> Result<IdbFactory, DomError> {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("indexedDB"))
        .ok()
        .filter(|f| !f.is_undefined() && !f.is_null())
        .map(JsCast::unchecked_into)
        .ok_or_else(|| {
            DomError::new(
                DomException::NotSupportedError,
                "IndexedDB is not available in this context (private mode or an unsupported browser?)",
            )
        })
}

/// What an upgrade callback gets: the database, the version-change
/// transaction, and the version the database had (0 when new).
pub(crate) struct Upgrade<'a> {
    /// The database being upgraded.
    pub db: &'a IdbDatabase,
    /// The version-change transaction.
    pub tx: &'a IdbTransaction,
}

/// The upgrade callback of [`open`].
pub(crate) type OnUpgrade = Box<dyn FnMut(Upgrade<'_>) -> Result<(), OpenError>>;

/// Opens `name` at `version` (or at its current version when `None`),
/// running `upgrade` inside the version-change transaction. An `Err` from
/// `upgrade` aborts the upgrade and is returned as the open's error.
/// `on_blocked` runs if other connections hold the database open. Boxed
/// callbacks: one copy of this function in the package, not one per caller.
pub(crate) async fn open(
    name: &str,
    version: Option<u32>,
    upgrade: OnUpgrade,
    mut on_blocked: Box<dyn FnMut()>,
) -> Result<IdbDatabase, OpenError> {
    let factory = factory()?;
    let open_request: IdbOpenDbRequest = sync(match version {
        Some(v) => factory.open_with_u32(name, v),
        None => factory.open(name),
    })?;

    let upgrade_error: Rc<RefCell<Option<OpenError>>> = Rc::new(RefCell::new(None));
    let upgrade = RefCell::new(upgrade);
    let on_upgrade = {
        let (upgrade_error, open_request) = (upgrade_error.clone(), open_request.clone());
        Closure::<dyn FnMut(IdbVersionChangeEvent)>::new(move |_: IdbVersionChangeEvent| {
            let (Ok(result), Some(tx)) = (open_request.result(), open_request.transaction()) else {
                return;
            };
            let db: IdbDatabase = result.unchecked_into();
            let outcome = (upgrade.borrow_mut())(Upgrade { db: &db, tx: &tx });
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
    Ok(outcome.map(JsCast::unchecked_into)?)
}

#[cfg(feature = "testing")]
/// Deletes the database `name` (resolves once no connection holds it open).
pub(crate) async fn delete_database(name: &str) -> Result<(), DomError> {
    let req = sync(factory()?.delete_database(name))?;
    request(&req).await.map(|_| ())
}
