//! `GET /cluster/config/join`: what another node needs to join this cluster (Sys.Audit on `/`).
//! A standalone node answers 424, which the GUI reads as "not in a cluster".

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{optional, Kind, Prop, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::cluster::ClusterConfig;
use crate::state::AppState;

const SCHEMA: &[Prop] = &[optional("node", Kind::Str { max_len: 63 })];

#[derive(Deserialize)]
struct Query {
    node: Option<String>,
}

pub async fn get_join_info(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    let query: Query = params.check(SCHEMA)?;
    auth.require(Privilege::SysAudit, "/")?;
    let Some(config) = ClusterConfig::load(&state.db).await? else {
        return Err(ApiError::new(StatusCode::FAILED_DEPENDENCY, "node is not in a cluster, no join info available!"));
    };
    let preferred = query.node.unwrap_or_else(|| state.node.to_string());
    if config.node(&preferred).is_none() {
        return Err(ApiError::param("node", format!("unknown node '{preferred}'")));
    }
    Ok(crate::api::data(config.join_info(&preferred)))
}

const JOIN_SCHEMA: &[Prop] = &[
    crate::api::params::required("hostname", Kind::Str { max_len: 256 }),
    crate::api::params::required("password", Kind::Str { max_len: 128 }),
    crate::api::params::required("fingerprint", Kind::Str { max_len: 95 }),
    optional("nodeid", Kind::Int { min: 1, max: u32::MAX as i64 }),
    optional("votes", Kind::Int { min: 0, max: 255 }),
    optional("force", Kind::Bool),
];

#[derive(Deserialize)]
struct JoinParams {
    hostname: String,
    password: String,
    fingerprint: String,
    nodeid: Option<u64>,
    votes: Option<u32>,
    #[serde(flatten)]
    rest: std::collections::BTreeMap<String, Value>,
}

fn is_fingerprint(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    parts.len() == 32 && parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `POST /cluster/config/join`: join this node to the cluster of `hostname` (root only); a
/// `clusterjoin` task.
pub async fn join_cluster(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    use crate::cluster::join::{self, JoinRequest};
    let p: JoinParams = params.check(&super::with_links(JOIN_SCHEMA))?;
    auth.require_root()?;
    if !is_fingerprint(&p.fingerprint) {
        return Err(ApiError::param("fingerprint", format!("value does not match the regex pattern: {}", p.fingerprint)));
    }
    let links = super::links(&state, &p.rest)?;
    let guard = state.cluster.begin_join()?;
    let req = JoinRequest {
        hostname: p.hostname,
        password: p.password,
        fingerprint: p.fingerprint.to_ascii_uppercase(),
        nodeid: p.nodeid,
        votes: p.votes.unwrap_or(1),
        links,
        // The cluster's store replaces this node's: the peer refuses a joiner that has guests.
        guests: crate::guests::list(&state.db).await?.into_iter().map(|(id, _)| id).collect(),
    };
    crate::cluster::create::precheck(&state, &req.links).await?;
    let task_state = state.clone();
    let upid = state
        .tasks
        .spawn("clusterjoin", "", &auth.userid, move |log| async move {
            let _joining = guard;
            join::run(task_state, req, log).await
        })
        .await
        .map_err(|e| ApiError::internal("starting task", e))?;
    Ok(crate::api::data(upid.to_string()))
}
