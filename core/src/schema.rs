//! Dexie schema strings → IndexedDB object stores and indexes (SPEC §4).
//!
//! Parsing follows Dexie 4's own rules, so the stores fieldsync creates are
//! the stores Dexie would create and Dexie opens the database without an
//! upgrade:
//! - entries are separated by `,` and trimmed; the first is the primary key;
//! - `++` marks auto-increment, `&` unique, `*` multi-entry, wherever they
//!   stand in the entry; the name is the entry without them;
//! - `[a+b]` is the compound key path `["a","b"]`; a dotted name is a key
//!   path into nested objects; an empty primary key means out-of-line keys;
//! - the IndexedDB version is `round(version × 10)`;
//! - index names are the names Dexie gives them (`"[a+b]"`, `"address.city"`).
//!
//! Errors name the table and entry: `++` on an index, `*` on the primary key,
//! an empty index, a duplicate index, Dexie 4's `:type` suffixes (Y.js
//! properties, which fieldsync cannot sync), an unbalanced `[`.

use crate::Error;
use crate::wire::validate_table_name;

/// fieldsync's own object stores, as a Dexie schema fragment. An app that
/// also opens the database with Dexie spreads these into its `stores({...})`,
/// because Dexie deletes undeclared stores when it upgrades.
///
/// - `_changes`: the local change log, in Dexie.Observable's row format.
/// - `_fieldsync_state`: per record, the field and lifecycle timestamps.
/// - `_fieldsync_meta`: client id, clock, cursors (out-of-line keys).
pub const INTERNAL_STORES: [(&str, &str); 3] = [
    ("_changes", "++rev"),
    ("_fieldsync_state", "[table+key]"),
    ("_fieldsync_meta", ""),
];

/// [`INTERNAL_STORES`] parsed.
pub fn internal_tables() -> Vec<TableSchema> {
    INTERNAL_STORES
        .iter()
        .map(|(name, spec)| {
            parse_table(name, spec).unwrap_or_else(|_| panic!("fieldsync's own schema is invalid"))
        })
        .collect()
}

/// An IndexedDB key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPath {
    /// One property, possibly dotted (`address.city`).
    Single(String),
    /// Several properties (`[a+b]`).
    Compound(Vec<String>),
}

/// A primary key or index as Dexie declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexSpec {
    /// The IndexedDB index name (for the primary key, Dexie's name for it).
    pub name: String,
    /// The key path; `None` for out-of-line primary keys.
    pub key_path: Option<KeyPath>,
    /// `&`: unique index.
    pub unique: bool,
    /// `*`: multi-entry index.
    pub multi_entry: bool,
    /// `++`: auto-increment primary key.
    pub auto_increment: bool,
}

impl IndexSpec {
    /// The spec in Dexie's canonical source form, e.g. `&email`, `++id`.
    pub fn source(&self, is_primary_key: bool) -> String {
        format!(
            "{}{}{}{}",
            if self.unique && !is_primary_key {
                "&"
            } else {
                ""
            },
            if self.multi_entry { "*" } else { "" },
            if self.auto_increment { "++" } else { "" },
            self.name
        )
    }
}

/// One table (object store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSchema {
    /// The object store name.
    pub name: String,
    /// The primary key.
    pub primary_key: IndexSpec,
    /// The secondary indexes, in declaration order.
    pub indexes: Vec<IndexSpec>,
}

impl TableSchema {
    /// The table spec in Dexie's canonical form (what `stores()` takes).
    pub fn source(&self) -> String {
        std::iter::once(self.primary_key.source(true))
            .chain(self.indexes.iter().map(|i| i.source(false)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A whole database schema at one Dexie version.
#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseSchema {
    /// The Dexie version as declared.
    pub version: f64,
    /// The IndexedDB version: `round(version × 10)`.
    pub idb_version: u32,
    /// The tables, in declaration order.
    pub tables: Vec<TableSchema>,
    /// Tables declared `null` (Dexie's way of deleting a table).
    pub removed_tables: Vec<String>,
}

impl DatabaseSchema {
    /// Parses `{table: spec | null}` at Dexie `version`.
    pub fn parse<'a, I>(version: f64, tables: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (&'a str, Option<&'a str>)>,
    {
        let idb_version = idb_version(version)?;
        let mut schema = DatabaseSchema {
            version,
            idb_version,
            tables: Vec::new(),
            removed_tables: Vec::new(),
        };
        for (name, spec) in tables {
            validate_table_name(name).map_err(|reason| Error::Schema {
                table: name.to_owned(),
                part: "table name".into(),
                reason,
            })?;
            match spec {
                Some(spec) => schema.tables.push(parse_table(name, spec)?),
                None => schema.removed_tables.push(name.to_owned()),
            }
        }
        Ok(schema)
    }

    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The app's tables followed by fieldsync's own stores: what to create.
    pub fn all_stores(&self) -> impl Iterator<Item = TableSchema> + '_ {
        self.tables.iter().cloned().chain(internal_tables())
    }
}

/// Dexie's IndexedDB version for a declared version.
pub fn idb_version(version: f64) -> Result<u32, Error> {
    let invalid = |reason| Error::InvalidVersion {
        version: crate::json::number_text(version),
        reason,
    };
    if !version.is_finite() || version <= 0.0 {
        return Err(invalid("it must be a positive number, e.g. 1"));
    }
    let scaled = (version * 10.0).round();
    if scaled < 1.0 {
        return Err(invalid(
            "Dexie stores version × 10, which rounds to 0 here; use 0.1 or more",
        ));
    }
    if scaled > f64::from(u32::MAX) {
        return Err(invalid("too large for IndexedDB"));
    }
    Ok(scaled as u32)
}

/// Parses one table's spec string, e.g. `"++id, &email, *tags, [a+b]"`.
pub fn parse_table(table: &str, spec: &str) -> Result<TableSchema, Error> {
    let mut entries = spec.split(',').enumerate().map(|(i, raw)| {
        let part = if i == 0 {
            format!("primary key \"{}\"", raw.trim())
        } else {
            format!("index {i} \"{}\"", raw.trim())
        };
        let error = |reason: String| Error::Schema {
            table: table.to_owned(),
            part: part.clone(),
            reason,
        };
        parse_entry(raw)
            .map_err(error)
            .map(|spec| (spec, part.clone()))
    });
    let (mut primary_key, _) = entries.next().expect("split yields at least one entry")?;
    // A primary key is unique whether or not it says `&` (Dexie accepts the
    // `&`); recording that keeps one schema for both spellings.
    primary_key.unique = true;
    let schema_error = |part: String, reason: &str| Error::Schema {
        table: table.to_owned(),
        part,
        reason: reason.to_owned(),
    };
    if primary_key.multi_entry {
        return Err(schema_error(
            format!(
                "primary key \"{}\"",
                spec.split(',').next().unwrap_or("").trim()
            ),
            "the primary key cannot be multi-entry (`*`); index the array in a secondary `*` index instead",
        ));
    }
    let mut indexes: Vec<IndexSpec> = Vec::new();
    for entry in entries {
        let (index, part) = entry?;
        if index.auto_increment {
            return Err(schema_error(
                part,
                "only the primary key can be auto-incremented (`++`); remove `++` from this index",
            ));
        }
        if index.key_path.is_none() {
            return Err(schema_error(
                part,
                "an index needs a name (is there a stray comma?)",
            ));
        }
        if indexes.iter().any(|i| i.name == index.name) {
            return Err(schema_error(
                part,
                "this index is declared twice; declare each index once",
            ));
        }
        indexes.push(index);
    }
    Ok(TableSchema {
        name: table.to_owned(),
        primary_key,
        indexes,
    })
}

fn parse_entry(raw: &str) -> Result<IndexSpec, String> {
    let (entry, type_suffix) = match raw.split_once(':') {
        Some((entry, ty)) => (entry.trim(), Some(ty.trim())),
        None => (raw.trim(), None),
    };
    if let Some(ty) = type_suffix {
        return Err(format!(
            "typed properties (`:{ty}`, Dexie's Y.js support) cannot be synced by fieldsync; remove the suffix"
        ));
    }
    let name = entry.replace("++", "").replace(['&', '*'], "");
    let key_path = if name.starts_with('[') {
        match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
            Some(inner) => Some(KeyPath::Compound(
                inner.split('+').map(str::to_owned).collect(),
            )),
            None => {
                return Err("a compound index must look like `[a+b]` (missing `]`?)".into());
            }
        }
    } else if name.is_empty() {
        None
    } else {
        Some(KeyPath::Single(name.clone()))
    };
    match &key_path {
        Some(KeyPath::Single(path)) => check_key_path(path)?,
        Some(KeyPath::Compound(paths)) => paths.iter().try_for_each(|p| check_key_path(p))?,
        None => {}
    }
    Ok(IndexSpec {
        name,
        key_path,
        unique: entry.contains('&'),
        multi_entry: entry.contains('*'),
        auto_increment: entry.contains("++"),
    })
}

/// IndexedDB accepts only key paths of identifiers joined by dots; anything
/// else would fail later, inside the upgrade, with a bare `SyntaxError`.
fn check_key_path(path: &str) -> Result<(), String> {
    let identifier = |part: &str| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
            && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
    };
    if path.split('.').all(identifier) {
        Ok(())
    } else {
        Err(format!(
            "\"{path}\" is not a key path IndexedDB accepts: use property names (letters, digits, `_`, `$`) joined by dots, such as `address.city`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(s: &str) -> Option<KeyPath> {
        Some(KeyPath::Single(s.into()))
    }

    #[test]
    fn key_paths_must_be_identifiers() {
        for bad in ["a b", "e]", "[a + b]", "a..b", "1st", "[]", "x-y"] {
            let err = parse_table("t", &format!("id, {bad}")).unwrap_err();
            assert!(err.to_string().contains("key path"), "{bad}: {err}");
        }
        assert!(parse_table("t", "id, $meta, _x.y2, [first+addr.city], über").is_ok());
    }

    #[test]
    fn every_syntax_form() {
        let t = parse_table(
            "people",
            "++id, &email, *tags, [first+last], address.city, &[a+b.c]",
        )
        .unwrap();
        assert_eq!(t.primary_key.name, "id");
        assert_eq!(t.primary_key.key_path, single("id"));
        assert!(t.primary_key.auto_increment);
        let names: Vec<_> = t.indexes.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            ["email", "tags", "[first+last]", "address.city", "[a+b.c]"]
        );
        assert!(t.indexes[0].unique && !t.indexes[0].multi_entry);
        assert!(t.indexes[1].multi_entry && !t.indexes[1].unique);
        assert_eq!(
            t.indexes[2].key_path,
            Some(KeyPath::Compound(vec!["first".into(), "last".into()]))
        );
        assert_eq!(t.indexes[3].key_path, single("address.city"));
        assert!(t.indexes[4].unique);
        assert_eq!(
            t.source(),
            "++id,&email,*tags,[first+last],address.city,&[a+b.c]"
        );
    }

    #[test]
    fn primary_key_forms() {
        let out_of_line = parse_table("blobs", "").unwrap().primary_key;
        assert_eq!(
            (out_of_line.key_path, out_of_line.auto_increment),
            (None, false)
        );
        let auto_out_of_line = parse_table("log", "++").unwrap().primary_key;
        assert_eq!(
            (auto_out_of_line.key_path, auto_out_of_line.auto_increment),
            (None, true)
        );
        let compound = parse_table("pairs", "[a+b], c").unwrap().primary_key;
        assert_eq!(compound.name, "[a+b]");
        assert!(matches!(compound.key_path, Some(KeyPath::Compound(_))));
        // Dexie allows an index on the primary key's own path.
        assert_eq!(parse_table("users", "id, id").unwrap().indexes.len(), 1);
        let unique_pk = parse_table("users", "&id").unwrap().primary_key;
        assert!(unique_pk.unique);
        assert_eq!(unique_pk.source(true), "id");
        assert_eq!(parse_table("users", "id").unwrap().primary_key, unique_pk);
    }

    #[test]
    fn invalid_forms_name_table_and_part() {
        let cases = [
            (
                "++id, ++title",
                "index 1 \"++title\"",
                "only the primary key",
            ),
            ("*tags", "primary key \"*tags\"", "cannot be multi-entry"),
            ("id, name, name", "index 2 \"name\"", "declared twice"),
            ("id, &name, name", "index 2 \"name\"", "declared twice"),
            ("id, , name", "index 1 \"\"", "needs a name"),
            ("id, [a+b", "index 1 \"[a+b\"", "missing `]`"),
            ("id, doc:Y", "index 1 \"doc:Y\"", "Y.js"),
        ];
        for (spec, part, reason) in cases {
            match parse_table("todos", spec) {
                Err(Error::Schema {
                    table,
                    part: p,
                    reason: r,
                }) => {
                    assert_eq!(table, "todos");
                    assert_eq!(p, part, "{spec}");
                    assert!(r.contains(reason), "{spec}: {r}");
                }
                other => panic!("{spec}: expected a schema error, got {other:?}"),
            }
        }
    }

    #[test]
    fn internal_stores_parse_and_follow_the_app_tables() {
        let db = DatabaseSchema::parse(1.0, [("todos", Some("id"))]).unwrap();
        let names: Vec<_> = db.all_stores().map(|t| t.name).collect();
        assert_eq!(
            names,
            ["todos", "_changes", "_fieldsync_state", "_fieldsync_meta"]
        );
        let changes = &internal_tables()[0];
        assert!(changes.primary_key.auto_increment);
        assert_eq!(changes.primary_key.key_path, single("rev"));
    }

    #[test]
    fn database_version_and_reserved_names() {
        let db = DatabaseSchema::parse(1.5, [("todos", Some("id")), ("old", None)]).unwrap();
        assert_eq!(db.idb_version, 15);
        assert_eq!(db.removed_tables, ["old"]);
        assert_eq!(
            DatabaseSchema::parse(0.06, [("t", Some("id"))])
                .unwrap()
                .idb_version,
            1
        );
        assert!(matches!(
            DatabaseSchema::parse(0.0, [("t", Some("id"))]),
            Err(Error::InvalidVersion { .. })
        ));
        assert!(matches!(
            DatabaseSchema::parse(f64::NAN, [("t", Some("id"))]),
            Err(Error::InvalidVersion { .. })
        ));
        let err = DatabaseSchema::parse(1.0, [("_changes", Some("++rev"))]).unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
    }
}
