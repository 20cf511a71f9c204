//! PVE's error shape: the message is the HTTP reason phrase, the body is
//! `{"data":null,"message":"…\n","errors":{param: why}}`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub errors: BTreeMap<String, String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), errors: BTreeMap::new() }
    }

    /// 400 "Parameter verification failed." with one reason per parameter.
    pub fn params(errors: BTreeMap<String, String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: "Parameter verification failed.".into(), errors }
    }

    pub fn param(name: &str, why: impl Into<String>) -> Self {
        Self::params(BTreeMap::from([(name.to_string(), why.into())]))
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// A failure that is not the client's fault; the detail goes to the log, not the client.
    /// A failure inside this node: logged in full, answered without its details, except a
    /// full disk, which the admin must hear of to fix it.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        let text = err.to_string();
        tracing::error!(err = %text, "{context}");
        if is_disk_full(&text) {
            return Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{context}: no space left on device (the data directory's filesystem is full)"));
        }
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{context}: internal error"))
    }
}

impl From<crate::cluster::ClusterError> for ApiError {
    fn from(err: crate::cluster::ClusterError) -> Self {
        match err {
            crate::cluster::ClusterError::Store(e) => Self::internal("cluster store", e),
            other => Self::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        Self::internal("database", err)
    }
}

/// Whether an error's text says the disk is full (SQLite's SQLITE_FULL, or ENOSPC).
fn is_disk_full(text: &str) -> bool {
    text.contains("database or disk is full") || text.contains("No space left on device") || text.contains("os error 28")
}

/// A reason phrase may only hold visible ASCII and spaces; PVE uses the first line of the message.
fn reason_phrase(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    let cleaned: String = first
        .chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .take(200)
        .collect();
    if cleaned.trim().is_empty() {
        "error".into()
    } else {
        cleaned
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "data": null, "message": format!("{}\n", self.message) });
        if !self.errors.is_empty() {
            body["errors"] = serde_json::to_value(&self.errors).unwrap_or_default();
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reason_phrase(&self.message)) {
            response.extensions_mut().insert(phrase);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_phrase_is_first_line_and_printable() {
        assert_eq!(reason_phrase("no quorum?\nmore"), "no quorum?");
        assert_eq!(reason_phrase("tab\there"), "tab?here");
        assert_eq!(reason_phrase(""), "error");
    }
}
