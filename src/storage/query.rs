//! Reads: one record, a table, an index range, counts, and `_fieldsync_meta`
//! values. Each is one read-only transaction (dropping it after the read
//! aborts nothing: it wrote nothing).

use fieldsync_core::error::quoted_list;
use wasm_bindgen::JsValue;
use web_sys::{IdbKeyRange, IdbTransactionMode};

use super::{META, Storage};
use crate::error::{Context, Error};
use crate::idb::DomError;

/// A query on a table or an index: `equals`, or bounds, and a limit.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    /// The index (by Dexie's name, e.g. `"[a+b]"`); `None`: the primary key.
    pub(crate) index: Option<String>,
    /// Exact key.
    pub(crate) equals: Option<JsValue>,
    /// Lower bound and whether it is excluded.
    pub(crate) lower: Option<(JsValue, bool)>,
    /// Upper bound and whether it is excluded.
    pub(crate) upper: Option<(JsValue, bool)>,
    /// Most records returned.
    pub(crate) limit: Option<u32>,
}

impl Query {
    fn key_range(&self) -> Result<Option<IdbKeyRange>, String> {
        let invalid = |e: JsValue| format!("invalid key range: {}", DomError::from_js(&e).message);
        Ok(match (&self.equals, &self.lower, &self.upper) {
            (Some(v), None, None) => Some(IdbKeyRange::only(v).map_err(invalid)?),
            (Some(_), _, _) => return Err("`equals` cannot be combined with bounds".into()),
            (None, Some((l, lo)), Some((u, uo))) => Some(
                IdbKeyRange::bound_with_lower_open_and_upper_open(l, u, *lo, *uo)
                    .map_err(invalid)?,
            ),
            (None, Some((l, lo)), None) => {
                Some(IdbKeyRange::lower_bound_with_open(l, *lo).map_err(invalid)?)
            }
            (None, None, Some((u, uo))) => {
                Some(IdbKeyRange::upper_bound_with_open(u, *uo).map_err(invalid)?)
            }
            (None, None, None) => None,
        })
    }
}

impl Storage {
    /// One record, or `undefined`.
    pub(crate) async fn get(&self, table: &str, key: JsValue) -> Result<JsValue, Error> {
        self.table(table)?;
        self.read(table, Read::Get(key)).await
    }

    /// Every record of a table, in key order.
    pub(crate) async fn get_all(&self, table: &str) -> Result<JsValue, Error> {
        self.table(table)?;
        self.read(table, Read::All(JsValue::UNDEFINED, None, None))
            .await
    }

    /// Records matching `query` (an index and a key range), in index order.
    pub(crate) async fn query(&self, table: &str, query: &Query) -> Result<JsValue, Error> {
        let schema = self.table(table)?;
        if let Some(index) = &query.index {
            let declared = schema.indexes.iter().any(|i| &i.name == index)
                || schema.primary_key.name == *index;
            if !declared {
                let names: Vec<&str> = schema.indexes.iter().map(|i| i.name.as_str()).collect();
                return Err(Error::InvalidInput(format!(
                    "query on \"{table}\": no index \"{index}\"; declared indexes: {}",
                    quoted_list(&names)
                )));
            }
        }
        let range = query
            .key_range()
            .map_err(|e| Error::InvalidInput(format!("query on \"{table}\": {e}")))?;
        let range = range.as_ref().map_or(JsValue::UNDEFINED, |r| r.into());
        let index = query
            .index
            .clone()
            .filter(|i| *i != schema.primary_key.name);
        self.read(table, Read::All(range, index, query.limit)).await
    }

    /// How many records a table holds.
    pub(crate) async fn count(&self, table: &str) -> Result<u32, Error> {
        self.table(table)?;
        let n = self.read(table, Read::Count).await?;
        Ok(n.as_f64().unwrap_or(0.0) as u32)
    }

    /// Reads a value of `_fieldsync_meta`.
    pub(crate) async fn meta(&self, key: &str) -> Result<JsValue, Error> {
        self.read(META, Read::Get(JsValue::from_str(key))).await
    }

    // One non-generic function for every read: each async function is a
    // state machine of its own in the package.
    async fn read(&self, store: &str, what: Read) -> Result<JsValue, Error> {
        let tx = self.begin(&[store], IdbTransactionMode::Readonly).await?;
        let op = || format!("reading \"{store}\"");
        let store = tx.store(store).during(&op)?;
        let request = match &what {
            Read::Get(key) => store.get(key),
            Read::All(range, None, limit) => store.get_all(range, *limit),
            Read::All(range, Some(index), limit) => store.index_get_all(index, range, *limit),
            Read::Count => store.count(),
        };
        request.await.during(&op)
    }
}

/// What [`Storage::read`] reads.
enum Read {
    /// The record at a key.
    Get(JsValue),
    /// The records in a key range (of an index), at most a number.
    All(JsValue, Option<String>, Option<u32>),
    /// How many records.
    Count,
}
