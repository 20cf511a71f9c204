//! Request parameters the way PVE takes them: query string for GET/DELETE, query plus a
//! form-encoded or JSON body for POST/PUT; every handler declares a schema, and anything that
//! does not fit it is a 400 "Parameter verification failed." with one reason per parameter.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{header, Method, Request, StatusCode};
use corral_api_types::params::{self as wire, ParamError};
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub use corral_api_types::params::{optional, required, Kind, Prop, MAX_BODY_BYTES};

/// Parameters as sent, every value as text (see [`corral_api_types::params`]).
#[derive(Debug, Default, Clone)]
pub struct RawParams(pub BTreeMap<String, String>);

impl RawParams {
    /// Validate against `schema` and deserialize into `T` (whose fields mirror the schema).
    pub fn check<T: DeserializeOwned>(&self, schema: &[Prop]) -> Result<T, ApiError> {
        wire::check(&self.0, schema).map_err(ApiError::from)
    }
}

impl From<ParamError> for ApiError {
    fn from(err: ParamError) -> Self {
        match err {
            ParamError::Malformed(why) => ApiError::new(StatusCode::BAD_REQUEST, why),
            ParamError::Invalid(errors) => ApiError::params(errors),
            ParamError::Mapping(why) => ApiError::internal("parameter mapping", why),
        }
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
            wire::parse_form(query.as_bytes(), &mut params)?;
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
            wire::parse_json(&bytes, &mut params)?;
        } else {
            wire::parse_form(&bytes, &mut params)?;
        }
        Ok(Self(params))
    }
}
