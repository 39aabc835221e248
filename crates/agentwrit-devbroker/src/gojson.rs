//! Request-body decoding with the semantics of Go's `encoding/json`, so that
//! the same bodies are accepted and refused as by the real broker.
//!
//! What Go does and `serde` alone would not:
//! * `json.NewDecoder(body).Decode(&v)` reads the *first* JSON value and
//!   ignores whatever follows it; `json.Unmarshal` demands exactly one value.
//! * A top-level `null` decodes to the zero value; any other non-object is
//!   an error.
//! * Object keys match struct fields case-insensitively; unknown keys are
//!   ignored; for a repeated key the last occurrence wins.
//! * `null` leaves a plain field untouched and resets a pointer or slice.
//! * A `null` element of a string array becomes `""`.
//! * Integers must be integer literals that fit in 64 bits (`1.0`, `1e2`
//!   are type errors).
//! * Invalid UTF-8 inside strings is replaced by U+FFFD, not refused.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// How a Go struct field decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `string`.
    Str,
    /// `[]string`.
    StrList,
    /// `int`.
    Int,
    /// `*int`.
    OptInt,
    /// `*bool`.
    OptBool,
}

#[derive(Clone, Debug)]
enum Slot {
    Str(String),
    List(Vec<String>),
    Int(i64),
    Bool(bool),
}

/// A decoded Go struct: every field at its value or its zero value.
#[derive(Debug, Default)]
pub(crate) struct GoObject {
    slots: HashMap<&'static str, Slot>,
}

impl GoObject {
    /// A `string` field (`""` when absent).
    pub(crate) fn str(&self, name: &str) -> String {
        match self.slots.get(name) {
            Some(Slot::Str(s)) => s.clone(),
            _ => String::new(),
        }
    }

    /// A `[]string` field (empty when absent or `null`).
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        match self.slots.get(name) {
            Some(Slot::List(v)) => v.clone(),
            _ => Vec::new(),
        }
    }

    /// An `int` field (0 when absent).
    pub(crate) fn int(&self, name: &str) -> i64 {
        self.opt_int(name).unwrap_or(0)
    }

    /// A `*int` field (`None` when absent or `null`).
    pub(crate) fn opt_int(&self, name: &str) -> Option<i64> {
        match self.slots.get(name) {
            Some(Slot::Int(n)) => Some(*n),
            _ => None,
        }
    }

    /// A `*bool` field (`None` when absent or `null`).
    pub(crate) fn opt_bool(&self, name: &str) -> Option<bool> {
        match self.slots.get(name) {
            Some(Slot::Bool(b)) => Some(*b),
            _ => None,
        }
    }
}

/// The body is not acceptable to Go's decoder (syntax or type error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

/// A top-level JSON value as Go's decoder sees it for a struct target.
enum Top {
    Null,
    Object(Vec<(String, Value)>),
    Other,
}

impl<'de> Deserialize<'de> for Top {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TopVisitor;
        impl<'de> Visitor<'de> for TopVisitor {
            type Value = Top;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Top, E> {
                Ok(Top::Null)
            }
            fn visit_none<E>(self) -> Result<Top, E> {
                Ok(Top::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Top, E> {
                Ok(Top::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Top, E> {
                Ok(Top::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Top, E> {
                Ok(Top::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Top, E> {
                Ok(Top::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Top, E> {
                Ok(Top::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Top, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Top::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    entries.push((k, v));
                }
                Ok(Top::Object(entries))
            }
        }
        deserializer.deserialize_any(TopVisitor)
    }
}

fn lossy(body: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(body)
}

/// `json.NewDecoder(body).Decode(&v)`: the first JSON value, trailing bytes
/// ignored.
pub(crate) fn decode_first(
    body: &[u8],
    fields: &[(&'static str, Kind)],
) -> Result<GoObject, Malformed> {
    let text = lossy(body);
    let mut stream = serde_json::Deserializer::from_str(&text).into_iter::<Top>();
    match stream.next() {
        Some(Ok(top)) => assemble(top, fields),
        _ => Err(Malformed),
    }
}

/// `json.Unmarshal(body, &v)`: exactly one JSON value (and whitespace).
pub(crate) fn decode_exact(
    body: &[u8],
    fields: &[(&'static str, Kind)],
) -> Result<GoObject, Malformed> {
    let text = lossy(body);
    match serde_json::from_str::<Top>(&text) {
        Ok(top) => assemble(top, fields),
        Err(_) => Err(Malformed),
    }
}

/// Go's case folding of ASCII field names: ASCII letters fold to lower
/// case, and the Kelvin sign and the long s fold to `k` and `s`.
fn folds_to(key: &str, field: &str) -> bool {
    let mut k = key.chars().map(|c| match c {
        '\u{212A}' => 'k',
        '\u{017F}' => 's',
        c => c.to_ascii_lowercase(),
    });
    let mut f = field.chars();
    loop {
        match (k.next(), f.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

fn assemble(top: Top, fields: &[(&'static str, Kind)]) -> Result<GoObject, Malformed> {
    let entries = match top {
        Top::Null => return Ok(GoObject::default()),
        Top::Other => return Err(Malformed),
        Top::Object(entries) => entries,
    };
    let mut out = GoObject::default();
    for (key, value) in entries {
        let field = fields
            .iter()
            .find(|(name, _)| *name == key)
            .or_else(|| fields.iter().find(|(name, _)| folds_to(&key, name)));
        let Some(&(name, kind)) = field else {
            continue;
        };
        match (kind, value) {
            (Kind::Str | Kind::Int, Value::Null) => {}
            (Kind::StrList | Kind::OptInt | Kind::OptBool, Value::Null) => {
                out.slots.remove(name);
            }
            (Kind::Str, Value::String(s)) => {
                out.slots.insert(name, Slot::Str(s));
            }
            (Kind::StrList, Value::Array(items)) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => list.push(s),
                        Value::Null => list.push(String::new()),
                        _ => return Err(Malformed),
                    }
                }
                out.slots.insert(name, Slot::List(list));
            }
            (Kind::Int | Kind::OptInt, Value::Number(n)) => match n.as_i64().or_else(|| {
                // serde_json reads `-0` as a float; Go reads it as the int 0.
                n.as_f64()
                    .filter(|f| *f == 0.0 && f.is_sign_negative())
                    .map(|_| 0)
            }) {
                Some(i) => {
                    out.slots.insert(name, Slot::Int(i));
                }
                None => return Err(Malformed),
            },
            (Kind::OptBool, Value::Bool(b)) => {
                out.slots.insert(name, Slot::Bool(b));
            }
            _ => return Err(Malformed),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: &[(&str, Kind)] = &[
        ("name", Kind::Str),
        ("scopes", Kind::StrList),
        ("token_ttl", Kind::OptInt),
        ("ttl", Kind::Int),
        ("single_use", Kind::OptBool),
    ];

    #[test]
    fn decoder_takes_first_value_only() {
        let o = decode_first(br#"{"name":"a"} trailing garbage"#, F).unwrap();
        assert_eq!(o.str("name"), "a");
        assert!(decode_exact(br#"{"name":"a"} trailing garbage"#, F).is_err());
        assert!(decode_exact(b"{\"name\":\"a\"}\n ", F).is_ok());
    }

    #[test]
    fn go_quirks() {
        assert!(decode_first(b"", F).is_err());
        assert!(decode_first(b"   ", F).is_err());
        assert!(decode_first(b"[]", F).is_err());
        assert!(decode_first(b"\"x\"", F).is_err());
        let o = decode_first(b"null", F).unwrap();
        assert_eq!(o.str("name"), "");
        let o = decode_first(br#"{"NAME":"x","Name":"y","unknown":[1]}"#, F).unwrap();
        assert_eq!(o.str("name"), "y");
        let o = decode_first(br#"{"scopes":["a",null]}"#, F).unwrap();
        assert_eq!(o.list("scopes"), ["a", ""]);
        assert!(decode_first(br#"{"ttl":1.0}"#, F).is_err());
        assert!(decode_first(br#"{"ttl":1e2}"#, F).is_err());
        assert!(decode_first(br#"{"ttl":"1"}"#, F).is_err());
        assert_eq!(decode_first(br#"{"ttl":-0}"#, F).unwrap().int("ttl"), 0);
        let o = decode_first(br#"{"token_ttl":5,"token_ttl":null,"ttl":3,"ttl":null}"#, F).unwrap();
        assert_eq!(o.opt_int("token_ttl"), None);
        assert_eq!(o.int("ttl"), 3);
        let o = decode_first(br#"{"single_use":false}"#, F).unwrap();
        assert_eq!(o.opt_bool("single_use"), Some(false));
        assert!(decode_first(br#"{"single_use":0}"#, F).is_err());
        let o = decode_first(b"{\"name\":\"a\xffb\"}", F).unwrap();
        assert_eq!(o.str("name"), "a\u{fffd}b");
        let o = decode_first("{\"\u{17F}COPES\":[\"x\"]}".as_bytes(), F).unwrap();
        assert_eq!(o.list("scopes"), ["x"]);
    }
}
