//! Opening IndexedDB from a Dexie schema.
//!
//! Object stores and indexes are created exactly as Dexie creates them (see
//! `fieldsync_core::schema`), at IndexedDB version `round(version × 10)`, so
//! `new Dexie(name).version(v).stores(sameSchema)` opens the database
//! without an upgrade. fieldsync's own `_`-stores are created beside them.

use fieldsync_core::schema::{DatabaseSchema, IndexSpec, KeyPath, TableSchema};
use rexie::{Index, ObjectStore, Rexie};

use crate::Error;

/// Opens (creating or upgrading) the database `name` with `schema`.
pub async fn open_database(name: &str, schema: &DatabaseSchema) -> Result<Rexie, Error> {
    let mut builder = Rexie::builder(name).version(schema.idb_version);
    for table in schema.all_stores() {
        builder = builder.add_object_store(object_store(&table));
    }
    builder
        .build()
        .await
        .map_err(|e| Error::from_rexie(format!("opening database {name:?}"), &e))
}

fn object_store(table: &TableSchema) -> ObjectStore {
    let pk = &table.primary_key;
    let mut store = ObjectStore::new(&table.name).auto_increment(pk.auto_increment);
    store = match &pk.key_path {
        Some(KeyPath::Single(path)) => store.key_path(path),
        Some(KeyPath::Compound(paths)) => store.key_path_array(paths.iter().map(String::as_str)),
        None => store,
    };
    for index in &table.indexes {
        store = store.add_index(index_spec(index));
    }
    store
}

fn index_spec(index: &IndexSpec) -> Index {
    let built = match &index.key_path {
        Some(KeyPath::Compound(paths)) => {
            Index::new_array(&index.name, paths.iter().map(String::as_str))
        }
        Some(KeyPath::Single(path)) => Index::new(&index.name, path),
        // The schema parser rejects secondary indexes without a key path.
        None => Index::new(&index.name, &index.name),
    };
    built.unique(index.unique).multi_entry(index.multi_entry)
}
