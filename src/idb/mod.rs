//! A thin async layer over IndexedDB (web-sys).
//!
//! # Layout
//! - [`dom`]: DOMException names as a type ([`DomException`], [`DomError`]).
//! - `request`: request and transaction futures.
//! - `transaction`: the [`Transaction`] guard (aborts unless committed) and
//!   its [`Store`] requests.
//! - `open`: opening with an upgrade callback, deleting.
//!
//! Why not rexie: its builder deletes every object store it was not told
//! about when it upgrades (Dexie.Observable's `_syncNodes`, say, or an app's
//! Dexie-only table), panics inside the upgrade callback on any failure, hides
//! `blocked`, and awaits each request in turn; fieldsync needs the opposite on
//! all four counts, and a few hundred lines over web-sys cost fewer bytes.

mod dom;
mod open;
mod request;
mod transaction;

pub use dom::DomException;
pub(crate) use dom::{DomError, sync};
#[cfg(feature = "testing")]
pub(crate) use open::delete_database;
pub(crate) use open::{OpenError, Upgrade, open};
pub(crate) use request::{RequestFuture, TransactionFuture, done, request};
pub(crate) use transaction::{Store, Transaction};
#[cfg(feature = "testing")]
pub use transaction::{disarm, fail_at_step};
