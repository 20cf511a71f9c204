//! `GET /version`: any authenticated user.

use axum::extract::State;
use axum::Json;
use corral_api_types::VersionInfo;
use serde_json::Value;

use super::error::ApiResult;
use super::params::RawParams;
use crate::auth::Authenticated;
use crate::state::AppState;

pub async fn get_version(_auth: Authenticated, State(_state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    let version = env!("CARGO_PKG_VERSION");
    Ok(super::data(VersionInfo {
        version: version.to_string(),
        release: version.rsplit_once('.').map(|(mm, _)| mm).unwrap_or(version).to_string(),
        repoid: option_env!("CORRAL_GIT_REV").unwrap_or("unknown").to_string(),
        product: "corral".into(),
    }))
}
