//! The transaction guard: atomic by construction.
//!
//! A synchronous throw from an IndexedDB call (`DataError` for an invalid
//! key, `DataCloneError`) does not abort its transaction, and a transaction
//! left alone auto-commits whatever was issued before the throw. So every
//! read-write transaction is a [`Transaction`] that aborts when dropped
//! unless [`Transaction::commit`] was called: any `?` between `begin` and
//! `commit` rolls the whole call back. Requests go through [`Store`], whose
//! methods attach their listeners as they issue the request (a success event
//! fired before a listener is attached would be lost).
//!
//! With the `testing` feature, [`fail_at_step`] makes the n-th request
//! issued from now throw, so tests can break every path at every step.

use js_sys::JsString;
use wasm_bindgen::JsValue;
use web_sys::{
    IdbCursorDirection, IdbDatabase, IdbObjectStore, IdbRequest, IdbTransaction,
    IdbTransactionDurability, IdbTransactionMode, IdbTransactionOptions,
};

use super::{DomError, RequestFuture, TransactionFuture, done, sync};

/// An open transaction that aborts on drop unless committed.
#[must_use = "a transaction aborts when dropped: call commit()"]
pub(crate) struct Transaction {
    tx: IdbTransaction,
    done: Option<TransactionFuture>,
}

impl Transaction {
    /// Starts a transaction over `stores`.
    pub(crate) fn begin(
        db: &IdbDatabase,
        stores: &[&str],
        mode: IdbTransactionMode,
        durability: IdbTransactionDurability,
    ) -> Result<Transaction, DomError> {
        let names: Vec<JsString> = stores.iter().map(|s| JsString::from(*s)).collect();
        let options = IdbTransactionOptions::new();
        options.set_durability(durability);
        let tx =
            sync(db.transaction_with_str_sequence_and_mode_and_options(&names, mode, &options))?;
        let done = Some(done(&tx));
        Ok(Transaction { tx, done })
    }

    /// One of the transaction's stores.
    pub(crate) fn store(&self, name: &str) -> Result<Store, DomError> {
        Ok(Store(sync(self.tx.object_store(name))?))
    }

    /// Lets the transaction commit; the future resolves once it has, or
    /// fails with the error that aborted it.
    pub(crate) fn commit(mut self) -> TransactionFuture {
        // Taken out, so that dropping the guard no longer aborts.
        self.done.take().unwrap_or_else(|| done(&self.tx))
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.done.take().is_some() {
            // Throws only if the transaction already finished: nothing to undo.
            let _ = self.tx.abort();
        }
    }
}

/// An object store of a [`Transaction`]: each method issues one request.
pub(crate) struct Store(IdbObjectStore);

impl Store {
    /// The record at `key` (`undefined` if none).
    pub(crate) fn get(&self, key: &JsValue) -> RequestFuture {
        RequestFuture::of(step().and_then(|()| sync(self.0.get(key))))
    }

    /// Every record in `range` (all when `undefined`), at most `limit`.
    pub(crate) fn get_all(&self, range: &JsValue, limit: Option<u32>) -> RequestFuture {
        RequestFuture::of(step().and_then(|()| {
            sync(match limit {
                Some(n) => self.0.get_all_with_key_and_limit(range, n),
                None => self.0.get_all_with_key(range),
            })
        }))
    }

    /// Every record of the index `index` in `range`, at most `limit`.
    pub(crate) fn index_get_all(
        &self,
        index: &str,
        range: &JsValue,
        limit: Option<u32>,
    ) -> RequestFuture {
        RequestFuture::of(step().and_then(|()| {
            let index = sync(self.0.index(index))?;
            sync(match limit {
                Some(n) => index.get_all_with_key_and_limit(range, n),
                None => index.get_all_with_key(range),
            })
        }))
    }

    /// How many records the store holds.
    pub(crate) fn count(&self) -> RequestFuture {
        RequestFuture::of(step().and_then(|()| sync(self.0.count())))
    }

    /// A cursor on the last record (its value is the request's `result`).
    pub(crate) fn last(&self) -> RequestFuture {
        RequestFuture::of(step().and_then(|()| {
            sync(self.0.open_cursor_with_range_and_direction(
                &JsValue::UNDEFINED,
                IdbCursorDirection::Prev,
            ))
        }))
    }

    /// Writes `value` (at `key`, for out-of-line keys).
    pub(crate) fn put(&self, value: &JsValue, key: Option<&JsValue>) -> Result<(), DomError> {
        self.issue_put(value, key).map(drop)
    }

    /// [`Store::put`], resolving to the key the record was stored at.
    pub(crate) fn put_returning_key(
        &self,
        value: &JsValue,
        key: Option<&JsValue>,
    ) -> RequestFuture {
        RequestFuture::of(self.issue_put(value, key))
    }

    fn issue_put(&self, value: &JsValue, key: Option<&JsValue>) -> Result<IdbRequest, DomError> {
        step()?;
        sync(match key {
            Some(key) => self.0.put_with_key(value, key),
            None => self.0.put(value),
        })
    }

    /// Adds `value` (a `ConstraintError` aborts the transaction if the key
    /// is taken).
    pub(crate) fn add(&self, value: &JsValue) -> Result<(), DomError> {
        step()?;
        sync(self.0.add(value)).map(drop)
    }

    /// Deletes the record at `key`.
    pub(crate) fn delete(&self, key: &JsValue) -> Result<(), DomError> {
        step()?;
        sync(self.0.delete(key)).map(drop)
    }
}

#[cfg(feature = "testing")]
thread_local! {
    static FAULT: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// Counts a request; with the `testing` feature, throws the armed fault.
fn step() -> Result<(), DomError> {
    #[cfg(feature = "testing")]
    {
        if let Some(n) = FAULT.get() {
            if n == 0 {
                FAULT.set(None);
                return Err(DomError::new(
                    super::DomException::DataError,
                    "injected fault (fieldsync's tests)",
                ));
            }
            FAULT.set(Some(n - 1));
        }
    }
    Ok(())
}

/// Makes the request issued `n` requests from now (0: the next) throw a
/// `DataError`, as a bad key would.
#[cfg(feature = "testing")]
pub fn fail_at_step(n: u32) {
    FAULT.set(Some(n));
}

/// Whether the fault armed by [`fail_at_step`] has not been reached yet;
/// disarms it.
#[cfg(feature = "testing")]
pub fn disarm() -> bool {
    FAULT.replace(None).is_some()
}
