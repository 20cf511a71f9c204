//! `GET /cluster/tasks`: recent tasks of all nodes. No long-running work exists on a bare node
//! yet, so the list is empty until the task runner arrives with cluster creation.

use axum::Json;
use corral_api_types::cluster::TaskSummary;
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::RawParams;
use crate::auth::Authenticated;

pub async fn get_tasks(_auth: Authenticated, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    Ok(crate::api::data(Vec::<TaskSummary>::new()))
}
