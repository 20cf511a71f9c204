//! Request parameters the way PVE takes them: query string for GET/DELETE, query plus a
//! form-encoded or JSON body for POST/PUT; every handler declares a schema, and anything that
//! does not fit it is a 400 "Parameter verification failed." with one reason per parameter.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{header, Method, Request, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::ApiError;

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

/// Parameters as sent, every value as text (JSON scalars are converted the way PVE reads them).
#[derive(Debug, Default, Clone)]
pub struct RawParams(pub BTreeMap<String, String>);

impl RawParams {
    /// Validate against `schema` and deserialize into `T` (whose fields mirror the schema).
    pub fn check<T: DeserializeOwned>(&self, schema: &[Prop]) -> Result<T, ApiError> {
        let mut errors = BTreeMap::new();
        let mut typed = Map::new();
        for name in self.0.keys() {
            if !schema.iter().any(|p| p.name == name) {
                errors.insert(
                    name.clone(),
                    "property is not defined in schema and the schema does not allow additional properties".into(),
                );
            }
        }
        for prop in schema {
            match self.0.get(prop.name) {
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
        if !errors.is_empty() {
            return Err(ApiError::params(errors));
        }
        serde_json::from_value(Value::Object(typed))
            .map_err(|err| ApiError::internal("parameter mapping", err))
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
            let n: i64 = text.trim().parse().map_err(|_| format!("type check ('integer') failed - got '{text}'"))?;
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
            _ => Err(format!("type check ('boolean') failed - got '{text}'")),
        },
        Kind::Enum(values) => {
            if values.contains(&text) {
                Ok(Value::String(text.into()))
            } else {
                Err(format!("value '{text}' does not have a value in the enumeration '{}'", values.join(", ")))
            }
        }
    }
}

fn parse_form(bytes: &[u8], into: &mut BTreeMap<String, String>) -> Result<(), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "malformed form-encoded parameters"))?;
    for (k, v) in pairs {
        into.insert(k, v);
    }
    Ok(())
}

fn parse_json(bytes: &[u8], into: &mut BTreeMap<String, String>) -> Result<(), ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|err| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON body: {err}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "malformed JSON body: expected an object"));
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
        Err(ApiError::params(errors))
    }
}

/// How much of an oversized body is read and thrown away before the 413 goes out, so that a
/// client still sending it gets the answer instead of a broken pipe; beyond it the connection
/// is closed. Bounded in bytes and in time.
const MAX_DRAIN_BYTES: usize = 1024 * 1024;
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The body, at most [`MAX_BODY_BYTES`]; 413 beyond that (after draining a bounded amount).
pub(crate) async fn read_body(body: Body) -> Result<Vec<u8>, ApiError> {
    use futures::StreamExt;
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body too large (limit {MAX_BODY_BYTES} bytes)"));
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "error reading the request body"))?;
        if bytes.len() + chunk.len() > MAX_BODY_BYTES {
            // Over the limit: throw away what follows, for a while, then answer.
            let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
            let mut drained = chunk.len();
            while drained <= MAX_DRAIN_BYTES {
                match tokio::time::timeout_at(deadline, stream.next()).await {
                    Ok(Some(Ok(more))) => drained += more.len(),
                    _ => break,
                }
            }
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

impl<S: Send + Sync> FromRequest<S> for RawParams {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, _state: &S) -> Result<Self, ApiError> {
        let mut params = BTreeMap::new();
        if let Some(query) = req.uri().query() {
            parse_form(query.as_bytes(), &mut params)?;
        }
        if matches!(*req.method(), Method::GET | Method::HEAD | Method::DELETE) {
            return Ok(Self(params));
        }
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        let bytes = read_body(req.into_body()).await?;
        if is_json {
            parse_json(&bytes, &mut params)?;
        } else {
            parse_form(&bytes, &mut params)?;
        }
        Ok(Self(params))
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

    const SCHEMA: &[Prop] = &[
        required("name", Kind::Str { max_len: 5 }),
        optional("count", Kind::Int { min: 1, max: 10 }),
        optional("flag", Kind::Bool),
    ];

    fn raw(pairs: &[(&str, &str)]) -> RawParams {
        RawParams(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn valid_parameters_are_typed() {
        let s: Sample = raw(&[("name", "ab"), ("count", "3"), ("flag", "1")]).check(SCHEMA).unwrap();
        assert_eq!((s.name.as_str(), s.count, s.flag), ("ab", Some(3), Some(true)));
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let err = raw(&[("count", "x"), ("flag", "True"), ("extra", "1")]).check::<Sample>(SCHEMA).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.errors.keys().cloned().collect::<Vec<_>>(), ["count", "extra", "flag", "name"]);
        assert!(err.errors["flag"].contains("type check ('boolean') failed"));
    }

    #[test]
    fn ranges_and_lengths() {
        let err = raw(&[("name", "toolong"), ("count", "11")]).check::<Sample>(SCHEMA).unwrap_err();
        assert!(err.errors["name"].contains("5 characters"));
        assert!(err.errors["count"].contains("maximum value of 10"));
    }

    #[test]
    fn json_scalars_become_pve_text() {
        let mut map = BTreeMap::new();
        parse_json(br#"{"flag":true,"count":2,"name":"a","skip":null}"#, &mut map).unwrap();
        assert_eq!(map["flag"], "1");
        assert_eq!(map["count"], "2");
        assert!(!map.contains_key("skip"));
        assert!(parse_json(br#"{"name":[1]}"#, &mut map).is_err());
        assert!(parse_json(b"[1]", &mut map).is_err());
    }
}
