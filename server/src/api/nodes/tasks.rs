//! `/nodes/{node}/tasks[/{upid}[/status|/log]]`: a user sees its own tasks; others' need
//! Sys.Audit on `/nodes/{node}` (stopping them: Sys.Modify in PVE; root only here).

use axum::extract::{Path, State};
use axum::Json;
use corral_api_types::cluster::TaskSummary;
use corral_api_types::Upid;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{optional, Kind, Prop, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::state::AppState;
use crate::tasks::TaskFilter;

fn parse_upid(text: &str) -> ApiResult<Upid> {
    Upid::parse(text).map_err(|e| ApiError::param("upid", e.to_string()))
}

async fn visible_task(auth: &Authenticated, state: &AppState, node: &str, upid: &str) -> ApiResult<(Upid, TaskSummary)> {
    super::local_node(state, node)?;
    let upid = parse_upid(upid)?;
    let task = state.tasks.find(&upid).await?.ok_or_else(|| ApiError::param("upid", format!("no such task '{upid}'")))?;
    if upid.user != auth.userid {
        auth.require(Privilege::SysAudit, &format!("/nodes/{}", state.node))?;
    }
    Ok((upid, task))
}

const LIST_SCHEMA: &[Prop] = &[
    optional("start", Kind::Int { min: 0, max: i64::MAX }),
    optional("limit", Kind::Int { min: 0, max: 10_000 }),
    optional("userfilter", Kind::Str { max_len: 128 }),
    optional("typefilter", Kind::Str { max_len: 64 }),
    optional("vmid", Kind::Int { min: 100, max: 999_999_999 }),
    optional("errors", Kind::Bool),
    optional("source", Kind::Enum(&["archive", "active", "all"])),
    optional("since", Kind::Int { min: 0, max: i64::MAX }),
    optional("until", Kind::Int { min: 0, max: i64::MAX }),
    optional("statusfilter", Kind::Str { max_len: 256 }),
];

#[derive(Deserialize)]
struct ListQuery {
    start: Option<i64>,
    limit: Option<i64>,
    userfilter: Option<String>,
    typefilter: Option<String>,
    vmid: Option<i64>,
    errors: Option<bool>,
    source: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    statusfilter: Option<String>,
}

impl ListQuery {
    fn filter(self, only_user: Option<String>) -> TaskFilter {
        TaskFilter {
            only_user,
            userfilter: self.userfilter,
            typefilter: self.typefilter,
            vmid: self.vmid,
            errors: self.errors == Some(true),
            source: self.source,
            since: self.since,
            until: self.until,
            statusfilter: self.statusfilter,
        }
    }
}

pub async fn list_tasks(auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    let query: ListQuery = params.check(LIST_SCHEMA)?;
    super::local_node(&state, &node)?;
    let all_users = auth.require(Privilege::SysAudit, &format!("/nodes/{}", state.node)).is_ok();
    let (start, limit) = (query.start.unwrap_or(0), query.limit.unwrap_or(50));
    let filter = query.filter((!all_users).then(|| auth.userid.to_string()));
    let (page, total) = state.tasks.page(&filter, start, limit).await?;
    Ok(Json(json!({ "data": page, "total": total })))
}

pub async fn task_index(auth: Authenticated, State(state): State<AppState>, Path((node, upid)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    visible_task(&auth, &state, &node, &upid).await?;
    Ok(crate::api::listing("name", &["log", "status"]))
}

pub async fn task_status(auth: Authenticated, State(state): State<AppState>, Path((node, upid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    let (_, task) = visible_task(&auth, &state, &node, &upid).await?;
    let mut status = serde_json::to_value(&task).map_err(|e| ApiError::internal("task status", e))?;
    status["status"] = json!(if task.status.is_some() { "stopped" } else { "running" });
    if let Some(exit) = &task.status {
        status["exitstatus"] = json!(exit);
    }
    if let Some(obj) = status.as_object_mut() {
        obj.remove("endtime");
    }
    Ok(crate::api::data(status))
}

/// Lines one log page may hold (the page is built in memory).
const MAX_LOG_PAGE: i64 = 100_000;

const LOG_SCHEMA: &[Prop] = &[
    optional("start", Kind::Int { min: 0, max: i64::MAX }),
    optional("limit", Kind::Int { min: 0, max: MAX_LOG_PAGE }),
    optional("download", Kind::Bool),
];

#[derive(Deserialize)]
struct LogQuery {
    start: Option<i64>,
    limit: Option<i64>,
    #[allow(dead_code)]
    download: Option<bool>,
}

pub async fn task_log(auth: Authenticated, State(state): State<AppState>, Path((node, upid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    let query: LogQuery = params.check(LOG_SCHEMA)?;
    let (upid, _) = visible_task(&auth, &state, &node, &upid).await?;
    let (start, limit) = (query.start.unwrap_or(0) as u64, query.limit.unwrap_or(50) as u64);
    let (lines, total) = state.tasks.log_page(&upid, start, limit).await.map_err(|e| ApiError::internal("reading the task log", e))?;
    let page: Vec<Value> = lines.into_iter().map(|(n, t)| json!({ "n": n, "t": t })).collect();
    Ok(Json(json!({ "data": page, "total": total })))
}

pub async fn stop_task(auth: Authenticated, State(state): State<AppState>, Path((node, upid)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let (upid, _) = visible_task(&auth, &state, &node, &upid).await?;
    if upid.user != auth.userid {
        auth.require(Privilege::SysAudit, &format!("/nodes/{}", state.node))?;
    }
    state.tasks.stop(&upid).await;
    Ok(crate::api::data(Value::Null))
}
