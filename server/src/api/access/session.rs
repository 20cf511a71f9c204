//! `DELETE /access/session` (corral extension): log the console out. The session cookie is the
//! credential, so no CSRF token is needed to give it up.

use axum::Json;
use serde_json::Value;
use tower_sessions::Session;

use crate::api::error::{ApiError, ApiResult};

pub async fn logout(session: Session) -> ApiResult<Json<Value>> {
    session.flush().await.map_err(|e| ApiError::internal("session", e))?;
    Ok(crate::api::data(Value::Null))
}
