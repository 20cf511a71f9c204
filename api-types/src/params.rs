//! Request parameters the way PVE takes them, without the web framework: a query string or a
//! form-encoded body as pairs, a JSON body as an object of scalars, every value kept as text
//! until a handler's schema types it. Anything that does not fit the schema is one reason per
//! parameter, which the server sends as PVE's 400 "Parameter verification failed.".

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Upper bound of an API request body; PVE's own limit for non-upload calls is 64 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Str { max_len: usize },
    Int { min: i64, max: i64 },
    Bool,
    Enum(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub struct Prop {
    pub name: &'static str,
    pub kind: Kind,
    pub optional: bool,
}

pub const fn required(name: &'static str, kind: Kind) -> Prop {
    Prop { name, kind, optional: false }
}

pub const fn optional(name: &'static str, kind: Kind) -> Prop {
    Prop { name, kind, optional: true }
}

/// Why parameters were not taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// The request's encoding itself is broken.
    #[error("{0}")]
    Malformed(String),
    /// Per parameter, why it does not fit.
    #[error("Parameter verification failed.")]
    Invalid(BTreeMap<String, String>),
    /// The schema and the handler's type disagree (a bug, not the caller's fault).
    #[error("parameter mapping: {0}")]
    Mapping(String),
}

/// Parameters as sent (name → text). JSON scalars are converted the way PVE reads them.
pub type Raw = BTreeMap<String, String>;

/// Add the pairs of a query string or form-encoded body; a later pair wins.
pub fn parse_form(bytes: &[u8], into: &mut Raw) -> Result<(), ParamError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).map_err(|_| ParamError::Malformed("malformed form-encoded parameters".into()))?;
    into.extend(pairs);
    Ok(())
}

/// Add the members of a JSON object body: booleans as `1`/`0`, numbers as written, `null`
/// left out; arrays and objects are refused per parameter.
pub fn parse_json(bytes: &[u8], into: &mut Raw) -> Result<(), ParamError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|err| ParamError::Malformed(format!("malformed JSON body: {err}")))?;
    let Value::Object(map) = value else {
        return Err(ParamError::Malformed("malformed JSON body: expected an object".into()));
    };
    let mut errors = BTreeMap::new();
    for (k, v) in map {
        match v {
            Value::Null => {}
            Value::Bool(b) => {
                into.insert(k, if b { "1" } else { "0" }.into());
            }
            Value::Number(n) => {
                into.insert(k, n.to_string());
            }
            Value::String(s) => {
                into.insert(k, s);
            }
            Value::Array(_) | Value::Object(_) => {
                errors.insert(k, "type check failed - expected a scalar value".to_string());
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ParamError::Invalid(errors))
    }
}

/// Validate `raw` against `schema` and deserialize it into `T` (whose fields mirror the
/// schema): every unknown, missing or ill-typed parameter is named.
pub fn check<T: DeserializeOwned>(raw: &Raw, schema: &[Prop]) -> Result<T, ParamError> {
    serde_json::from_value(Value::Object(typed(raw, schema)?)).map_err(|err| ParamError::Mapping(err.to_string()))
}

/// The parameters of `raw` typed by `schema`, as a JSON object.
pub fn typed(raw: &Raw, schema: &[Prop]) -> Result<Map<String, Value>, ParamError> {
    let mut errors = BTreeMap::new();
    let mut typed = Map::new();
    for name in raw.keys() {
        if !schema.iter().any(|p| p.name == name) {
            errors.insert(name.clone(), "property is not defined in schema and the schema does not allow additional properties".into());
        }
    }
    for prop in schema {
        match raw.get(prop.name) {
            None if prop.optional => {}
            None => {
                errors.insert(prop.name.into(), "property is missing and it is not optional".into());
            }
            Some(text) => match convert(prop.kind, text) {
                Ok(value) => {
                    typed.insert(prop.name.into(), value);
                }
                Err(why) => {
                    errors.insert(prop.name.into(), why);
                }
            },
        }
    }
    if errors.is_empty() {
        Ok(typed)
    } else {
        Err(ParamError::Invalid(errors))
    }
}

fn convert(kind: Kind, text: &str) -> Result<Value, String> {
    match kind {
        Kind::Str { max_len } => {
            if text.chars().count() > max_len {
                Err(format!("value may only be {max_len} characters long"))
            } else {
                Ok(Value::String(text.into()))
            }
        }
        Kind::Int { min, max } => {
            let n: i64 = text.trim().parse().map_err(|_| format!("type check ('integer') failed - got '{}'", shown(text)))?;
            if n < min {
                Err(format!("value must have a minimum value of {min}"))
            } else if n > max {
                Err(format!("value must have a maximum value of {max}"))
            } else {
                Ok(Value::from(n))
            }
        }
        Kind::Bool => match text {
            "1" | "true" | "yes" | "on" => Ok(Value::Bool(true)),
            "0" | "false" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("type check ('boolean') failed - got '{}'", shown(text))),
        },
        Kind::Enum(values) => {
            if values.contains(&text) {
                Ok(Value::String(text.into()))
            } else {
                Err(format!("value '{}' does not have a value in the enumeration '{}'", shown(text), values.join(", ")))
            }
        }
    }
}

/// A rejected value as quoted back in the error: at most 64 characters of it (a 64 KiB
/// value must not come back 64 KiB long, once per parameter).
fn shown(text: &str) -> String {
    const SHOWN: usize = 64;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Sample {
        name: String,
        count: Option<i64>,
        flag: Option<bool>,
    }

    const SCHEMA: &[Prop] = &[required("name", Kind::Str { max_len: 5 }), optional("count", Kind::Int { min: 1, max: 10 }), optional("flag", Kind::Bool)];

    fn raw(pairs: &[(&str, &str)]) -> Raw {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn invalid(err: ParamError) -> BTreeMap<String, String> {
        match err {
            ParamError::Invalid(errors) => errors,
            other => panic!("expected per-parameter errors, got {other:?}"),
        }
    }

    #[test]
    fn valid_parameters_are_typed() {
        let s: Sample = check(&raw(&[("name", "ab"), ("count", "3"), ("flag", "1")]), SCHEMA).unwrap();
        assert_eq!((s.name.as_str(), s.count, s.flag), ("ab", Some(3), Some(true)));
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let errors = invalid(check::<Sample>(&raw(&[("count", "x"), ("flag", "True"), ("extra", "1")]), SCHEMA).unwrap_err());
        assert_eq!(errors.keys().cloned().collect::<Vec<_>>(), ["count", "extra", "flag", "name"]);
        assert!(errors["flag"].contains("type check ('boolean') failed"));
    }

    #[test]
    fn ranges_and_lengths() {
        let errors = invalid(check::<Sample>(&raw(&[("name", "toolong"), ("count", "11")]), SCHEMA).unwrap_err());
        assert!(errors["name"].contains("5 characters"));
        assert!(errors["count"].contains("maximum value of 10"));
    }

    #[test]
    fn a_long_bad_value_is_quoted_short() {
        let long = "x".repeat(10_000);
        let errors = invalid(check::<Sample>(&raw(&[("name", "a"), ("count", &long)]), SCHEMA).unwrap_err());
        assert!(errors["count"].len() < 200, "{}", errors["count"]);
    }

    #[test]
    fn json_scalars_become_pve_text() {
        let mut map = Raw::new();
        parse_json(br#"{"flag":true,"count":2,"name":"a","skip":null}"#, &mut map).unwrap();
        assert_eq!(map["flag"], "1");
        assert_eq!(map["count"], "2");
        assert!(!map.contains_key("skip"));
        assert!(parse_json(br#"{"name":[1]}"#, &mut map).is_err());
        assert!(parse_json(b"[1]", &mut map).is_err());
    }

    #[test]
    fn form_pairs_later_wins() {
        let mut map = Raw::new();
        parse_form(b"a=1&b=x%20y&a=2", &mut map).unwrap();
        assert_eq!((map["a"].as_str(), map["b"].as_str()), ("2", "x y"));
    }
}
