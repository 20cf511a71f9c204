//! `GET /cluster/tasks`: recent tasks of every node (see `task_list`), running first; a user
//! sees its own, Sys.Audit on `/` sees all.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::RawParams;
use crate::auth::{Authenticated, Privilege};
use crate::state::AppState;

pub async fn get_tasks(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    let all_users = auth.require(Privilege::SysAudit, "/").is_ok();
    let tasks: Vec<_> = crate::task_list::merged(&state.db, &state.tasks, state.node.as_str()).await?.into_iter().filter(|t| all_users || t.user == auth.userid.as_str()).collect();
    Ok(crate::api::data(tasks))
}
