//! JSON text ⇄ [`Value`] without serde, and the helpers the wire codec
//! ([`crate::codec`]) reads objects with.
//!
//! The browser package parses and writes every message through here: serde's
//! generated code was a sixth of its wasm binary. The server parses bodies
//! with serde_json (into the same [`Value`]s) and writes through here too;
//! property tests check that both parsers read the same texts alike.
//!
//! - [`parse`] accepts exactly RFC 8259 JSON (what `serde_json::from_str`
//!   accepts), with the same number rules: integers stay integers where they
//!   fit `u64`/`i64`, `-0` and anything else become a correctly rounded
//!   `f64`, and a number out of the `f64` range is an error. Nesting is
//!   limited to [`MAX_DEPTH`] levels. Of an object's duplicate keys, the last
//!   one wins.
//! - [`write`] writes what `serde_json::to_string` writes, byte for byte.

use std::fmt::{self, Write as _};

use serde_json::{Map, Number, Value};

use crate::Error;

/// Deepest nesting [`parse`] accepts (serde_json's limit too).
pub const MAX_DEPTH: usize = 128;

/// Reads the text of a JSON number with a fraction or exponent (already
/// checked against the grammar) as a correctly rounded `f64`.
pub type FloatParser = fn(&str) -> Option<f64>;

/// Parses one JSON value; whitespace may surround it, nothing else.
pub fn parse(text: &str) -> Result<Value, Error> {
    parse_with(text, |number| number.parse().ok())
}

/// [`parse`], reading floats with `floats`: the browser package passes
/// JavaScript's `parseFloat`, which saves it core's 10 KB of tables.
pub fn parse_with(text: &str, floats: FloatParser) -> Result<Value, Error> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
        floats,
    };
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.pos < parser.bytes.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(value)
}

/// Writes `value` as compact JSON (object keys in the map's order).
pub fn write(value: &Value, out: &mut String) {
    write_with(value, out, write_number);
}

/// Writes an object's members, as [`write`] does.
pub fn write_object(map: &Map<String, Value>, out: &mut String) {
    write_with_map(map, out, write_number);
}

/// [`write`] with numbers written by `number` (canonical JSON writes
/// integral floats as integers).
pub(crate) fn write_with(value: &Value, out: &mut String, number: fn(&Number, &mut String)) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => write_array(items, out, |item, out| write_with(item, out, number)),
        Value::Object(map) => write_with_map(map, out, number),
    }
}

/// Writes `[a,b,…]`, each item written by `write`.
pub fn write_array<T>(items: &[T], out: &mut String, write: impl Fn(&T, &mut String)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(item, out);
    }
    out.push(']');
}

fn write_with_map(map: &Map<String, Value>, out: &mut String, number: fn(&Number, &mut String)) {
    let mut members = ObjectWriter::new(out);
    for (key, value) in map {
        write_with(value, members.key(key), number);
    }
    members.end();
}

/// `value` as compact JSON text.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// Writes a number as serde_json does (shortest round-trip form; `1.0`
/// keeps its fraction).
pub fn write_number(n: &Number, out: &mut String) {
    let _ = write!(out, "{n}");
}

/// A number as JavaScript's `String(n)` writes it for the values people
/// type (`1`, `2.5`; `NaN`, `Infinity`), without core's float formatting,
/// which costs the browser package 7 KB.
pub fn number_text(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return (n as i64).to_string();
    }
    Number::from_f64(n).map_or_else(String::new, |n| n.to_string())
}

/// Writes a JSON string literal, escaped as serde_json escapes it.
pub fn write_str(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Writes an object member by member: `{"a":1,"b":"x"}`.
pub struct ObjectWriter<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> ObjectWriter<'a> {
    /// Opens the object.
    pub fn new(out: &'a mut String) -> Self {
        out.push('{');
        ObjectWriter { out, empty: true }
    }

    /// Starts a member; the caller writes its value into the returned text.
    pub fn key(&mut self, key: &str) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        write_str(key, self.out);
        self.out.push(':');
        self.out
    }

    /// A member holding a JSON value.
    pub fn value(&mut self, key: &str, value: &Value) {
        write(value, self.key(key));
    }

    /// A member holding a string.
    pub fn str(&mut self, key: &str, value: &str) {
        write_str(value, self.key(key));
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push('}');
    }
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    floats: FloatParser,
}

impl Parser<'_> {
    fn value(&mut self) -> Result<Value, Error> {
        self.skip_whitespace();
        match self.bytes.get(self.pos) {
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
            None => Err(self.error("unexpected end of input")),
        }
    }

    fn nested(&mut self, read: fn(&mut Self) -> Result<Value, Error>) -> Result<Value, Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.pos += 1;
        let value = read(self)?;
        self.depth -= 1;
        Ok(value)
    }

    fn object(&mut self) -> Result<Value, Error> {
        let mut map = Map::new();
        if self.peek_after_whitespace() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            if self.peek_after_whitespace() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            if self.peek_after_whitespace() != Some(b':') {
                return Err(self.error("expected `:`"));
            }
            self.pos += 1;
            let value = self.value()?;
            map.insert(key, value);
            match self.peek_after_whitespace() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, Error> {
        let mut items = Vec::new();
        if self.peek_after_whitespace() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            match self.peek_after_whitespace() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, Error> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a value"))
        }
    }

    /// A string literal; `pos` is at its opening quote.
    fn string(&mut self) -> Result<String, Error> {
        self.pos += 1;
        let mut out = String::new();
        let mut start = self.pos;
        loop {
            match self.bytes.get(self.pos) {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    out.push_str(&self.text[start..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(&self.text[start..self.pos]);
                    self.pos += 1;
                    self.escape(&mut out)?;
                    start = self.pos;
                }
                Some(0..=0x1f) => {
                    return Err(self.error("control character in string (escape it)"));
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// One escape; `pos` is just after its backslash.
    fn escape(&mut self, out: &mut String) -> Result<(), Error> {
        let Some(&byte) = self.bytes.get(self.pos) else {
            return Err(self.error("unterminated string"));
        };
        self.pos += 1;
        let c = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                let code = match unit {
                    0xd800..=0xdbff => {
                        if !self.text[self.pos..].starts_with("\\u") {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                    }
                    0xdc00..=0xdfff => {
                        return Err(self.error("lone trailing surrogate in hex escape"));
                    }
                    _ => unit,
                };
                // Surrogates were handled above, so this cannot fail.
                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            _ => return Err(self.error("invalid escape")),
        };
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("invalid \\u escape (four hex digits expected)"))?;
        self.pos += 4;
        // Four hex digits always fit.
        Ok(u32::from_str_radix(digits, 16).unwrap_or(0))
    }

    fn number(&mut self) -> Result<Value, Error> {
        let start = self.pos;
        let negative = self.bytes[self.pos] == b'-';
        if negative {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        let mut integer = true;
        if self.bytes.get(self.pos) == Some(&b'.') {
            integer = false;
            self.pos += 1;
            if !self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            integer = false;
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        let text = &self.text[start..self.pos];
        if integer {
            // serde_json's rules: `-0` is a float, and integers beyond 64
            // bits fall back to floats.
            if negative {
                if let Ok(i) = text.parse::<i64>()
                    && i != 0
                {
                    return Ok(Value::Number(i.into()));
                }
            } else if let Ok(u) = text.parse::<u64>() {
                return Ok(Value::Number(u.into()));
            }
        }
        (self.floats)(text)
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| self.error("number out of range"))
    }

    fn digits(&mut self) {
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.bytes.get(self.pos), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.pos += 1;
        }
    }

    fn peek_after_whitespace(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes.get(self.pos).copied()
    }

    #[cold]
    fn error(&self, what: &str) -> Error {
        let before = &self.bytes[..self.pos.min(self.bytes.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = self.pos
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1)
            + 1;
        Error::MalformedJson {
            message: format!("{what} at line {line} column {column}"),
        }
    }
}

/// Where a value sits in a message (`changes[2].fields.title`), built as
/// the codec descends and written out only when an error names it: a push
/// of 500 changes reads thousands of members, and formatting each path up
/// front cost about as much as reading them.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    /// The value a reader was given, with its path as text (`""` at the top).
    Text(&'a str),
    /// Member `name` of an object.
    Member(&'a Path<'a>, &'a str),
    /// Item `i` of an array.
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn is_empty(&self) -> bool {
        matches!(self, Path::Text(text) if text.is_empty())
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Text(text) => f.write_str(text),
            Path::Member(parent, name) if parent.is_empty() => f.write_str(name),
            Path::Member(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// Reads an object's members for the wire codec, naming the member's path
/// in every error (`changes[2].fields.title.updatedAt: …`).
pub(crate) struct Members<'a> {
    map: &'a Map<String, Value>,
    path: &'a Path<'a>,
}

impl<'a> Members<'a> {
    /// The members of `value`, which must be an object.
    pub(crate) fn of(value: &'a Value, path: &'a Path<'a>) -> Result<Self, Error> {
        match value {
            Value::Object(map) => Ok(Members { map, path }),
            other => Err(expected(path, "an object", other)),
        }
    }

    /// Every member, in key order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.map.iter()
    }

    /// The path of member `name`.
    pub(crate) fn path<'n>(&self, name: &'n str) -> Path<'n>
    where
        'a: 'n,
    {
        Path::Member(self.path, name)
    }

    /// A member that may be missing; `null` counts as missing.
    pub(crate) fn optional(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// A member that must be there (it may be `null`).
    pub(crate) fn required(&self, name: &str) -> Result<&'a Value, Error> {
        match self.map.get(name) {
            Some(value) => Ok(value),
            None => Err(Error::wire(
                self.path.to_string(),
                format!("missing field `{name}`"),
            )),
        }
    }

    /// A member read by `read(value, path)`.
    pub(crate) fn read<T>(
        &self,
        name: &str,
        read: impl FnOnce(&'a Value, &Path<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        read(self.required(name)?, &self.path(name))
    }

    /// A member that may be missing or `null`, read by `read(value, path)`.
    pub(crate) fn read_optional<T>(
        &self,
        name: &str,
        read: impl FnOnce(&'a Value, &Path<'_>) -> Result<T, Error>,
    ) -> Result<Option<T>, Error> {
        self.optional(name)
            .map(|value| read(value, &self.path(name)))
            .transpose()
    }

    /// A string member.
    pub(crate) fn string(&self, name: &str) -> Result<String, Error> {
        self.read(name, string)
    }
}

/// A JSON string.
pub(crate) fn string(value: &Value, path: &Path<'_>) -> Result<String, Error> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(expected(path, "a string", other)),
    }
}

/// A JSON object.
pub(crate) fn object(value: &Value, path: &Path<'_>) -> Result<Map<String, Value>, Error> {
    match value {
        Value::Object(map) => Ok(map.clone()),
        other => Err(expected(path, "an object", other)),
    }
}

/// A JSON array, each item read by `read(item, path[i])`.
pub(crate) fn array<T>(
    value: &Value,
    path: &Path<'_>,
    read: impl Fn(&Value, &Path<'_>) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| read(item, &Path::Index(path, i)))
            .collect(),
        // "sequence": the word of the server's messages since its first
        // version, which clients may match on.
        other => Err(expected(path, "a sequence (an array)", other)),
    }
}

/// The error for a value of the wrong kind.
#[cold]
pub(crate) fn expected(path: &Path<'_>, what: &str, found: &Value) -> Error {
    let found = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    Error::wire(path.to_string(), format!("expected {what}, found {found}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|u| json!(u)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::String),
            "[\\x00-\\x1f\"\\\\/\u{7f}\u{2028}\u{1F600}a]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Byte for byte what serde_json writes, and read back as serde_json
        /// reads it.
        #[test]
        fn writes_and_reads_as_serde_json_does(value in any_value()) {
            let ours = to_string(&value);
            prop_assert_eq!(&ours, &serde_json::to_string(&value).unwrap());
            prop_assert_eq!(parse(&ours).unwrap(), value.clone());
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            prop_assert_eq!(parse(&pretty).unwrap(), value);
        }

        /// Numbers as text: the same value, or the same verdict, as serde_json.
        #[test]
        fn reads_numbers_as_serde_json_does(
            text in "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?"
        ) {
            let ours = parse(&text).ok();
            let theirs = serde_json::from_str::<Value>(&text).ok();
            prop_assert_eq!(ours, theirs, "{}", text);
        }

        /// Any text: accepted exactly when serde_json accepts it.
        #[test]
        fn accepts_what_serde_json_accepts(text in "[ \\[\\]{}:,\"\\\\a-z0-9.eE+\\-\u{e9}\\n]{0,24}") {
            let ours = parse(&text);
            let theirs = serde_json::from_str::<Value>(&text);
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}: {:?} vs {:?}", text, ours, theirs);
            if let (Ok(a), Ok(b)) = (ours, theirs) {
                prop_assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn escapes_and_surrogates() {
        let v = parse(r#"["\u00e9\ud83d\ude00\n\/", "a\"b"]"#).unwrap();
        assert_eq!(v, json!(["é😀\n/", "a\"b"]));
        for bad in [
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\ud83dx""#,
            r#""\x""#,
            r#""\u12""#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_say_where() {
        let err = parse("{\"a\": 1,\n  \"b\" 2}").unwrap_err().to_string();
        assert_eq!(err, "malformed JSON: expected `:` at line 2 column 7");
        let err = parse("[1, 2").unwrap_err().to_string();
        assert!(
            err.contains("expected `,` or `]` at line 1 column 6"),
            "{err}"
        );
        assert!(
            parse("1e400")
                .unwrap_err()
                .to_string()
                .contains("out of range")
        );
        assert!(parse("[1] x").unwrap_err().to_string().contains("trailing"));
    }

    #[test]
    fn nesting_is_limited() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(
            parse(&deep)
                .unwrap_err()
                .to_string()
                .contains("nested too deeply")
        );
    }

    #[test]
    fn reads_members_with_paths() {
        let v = json!({"a": {"b": 5}, "n": null, "list": [1, {"c": 2}]});
        let root = Path::Text("");
        let top = Members::of(&v, &root).unwrap();
        let err = top
            .read("a", |a, path| Members::of(a, path)?.string("b"))
            .unwrap_err();
        assert_eq!(err.to_string(), "a.b: expected a string, found a number");
        let err = top
            .read("a", |a, path| Members::of(a, path)?.string("c"))
            .unwrap_err();
        assert_eq!(err.to_string(), "a: missing field `c`");
        let err = top
            .read("list", |list, path| {
                array(list, path, |item, path| {
                    Members::of(item, path)?.string("c")
                })
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "list[0]: expected an object, found a number"
        );
        let within = Path::Text("changes[3]");
        let err = Members::of(&v, &within).unwrap().string("n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "changes[3].n: expected a string, found null"
        );
        assert!(top.optional("n").is_none());
        assert!(top.read_optional("n", string).unwrap().is_none());
    }
}
