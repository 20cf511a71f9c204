//! `/cluster/config`: GET lists the subdirectories; POST creates a cluster (root only) as a
//! `clustercreate` task. `/cluster/config/apiversion` and `/cluster/config/totem` live here too.

pub mod expected;
pub mod join;
pub mod nodes;

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use corral_api_types::cluster_config::LinkSpec;
use serde::Deserialize;
use serde_json::Value;

use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{optional, required, Kind, Prop, RawParams};
use crate::auth::Authenticated;
use crate::cluster::create::{self, CreateRequest};
use crate::cluster::ClusterConfig;
use crate::state::AppState;

/// PVE's join API version; both sides accept peers with version ≥ 0.
pub const JOIN_API_VERSION: u32 = 1;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/config", get(index).post(create_cluster))
        .route("/config/apiversion", get(apiversion))
        .route("/config/totem", get(totem))
        .route("/config/expected", axum::routing::post(expected::set_expected))
        .route("/config/join", get(join::get_join_info).post(join::join_cluster))
        .route("/config/nodes", get(nodes::list_nodes))
        .route("/config/nodes/{node}", axum::routing::post(nodes::add_node).delete(nodes::delete_node))
}

async fn index(_auth: Authenticated) -> Json<Value> {
    crate::api::listing("name", &["nodes", "totem", "join", "qdevice", "apiversion"])
}

async fn apiversion(_auth: Authenticated) -> Json<Value> {
    crate::api::data(JOIN_API_VERSION)
}

async fn totem(auth: Authenticated, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    auth.require(crate::auth::Privilege::SysAudit, "/")?;
    Ok(crate::api::data(ClusterConfig::load(&state.db).await?.map(|c| c.totem()).unwrap_or_else(|| serde_json::json!({}))))
}

const LINK_NAMES: [&str; 8] = ["link0", "link1", "link2", "link3", "link4", "link5", "link6", "link7"];

/// `base` plus the optional `link0` … `link7` property strings (`[address=]IP[,priority=N]`).
pub(super) fn with_links(base: &[Prop]) -> Vec<Prop> {
    let mut schema = base.to_vec();
    schema.extend(LINK_NAMES.iter().map(|name| optional(name, Kind::Str { max_len: 128 })));
    schema
}

const CREATE_SCHEMA: &[Prop] = &[
    required("clustername", Kind::Str { max_len: 15 }),
    optional("nodeid", Kind::Int { min: 1, max: u32::MAX as i64 }),
    optional("votes", Kind::Int { min: 1, max: 255 }),
    optional("token-coefficient", Kind::Int { min: 0, max: i64::MAX }),
];

#[derive(Deserialize)]
struct CreateParams {
    clustername: String,
    nodeid: Option<u64>,
    votes: Option<u32>,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

/// `link0`…`link7` as given, each parsed; one error per bad or repeated address.
pub(super) fn parse_links(rest: &BTreeMap<String, Value>) -> ApiResult<BTreeMap<u8, LinkSpec>> {
    let mut links = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for (n, key) in LINK_NAMES.iter().enumerate() {
        if let Some(text) = rest.get(*key).and_then(Value::as_str) {
            match LinkSpec::parse(text) {
                Ok(link) => {
                    links.insert(n as u8, link);
                }
                Err(e) => {
                    errors.insert(key.to_string(), e.to_string());
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (n, link) in &links {
        if !seen.insert(link.address) {
            errors.insert(format!("link{n}"), format!("duplicate link address '{}'", link.address));
        }
    }
    if errors.is_empty() {
        Ok(links)
    } else {
        Err(ApiError::params(errors))
    }
}

/// Links as given; without `link0`, the listen address or the first non-loopback one.
pub(super) fn links(state: &AppState, rest: &BTreeMap<String, Value>) -> ApiResult<BTreeMap<u8, LinkSpec>> {
    let mut links = parse_links(rest)?;
    if !links.contains_key(&0) {
        let address = crate::host::network::primary_address(state.listen).ok_or_else(|| ApiError::param("link0", "no link address given and none found on this node"))?;
        links.insert(0, LinkSpec { address, priority: None });
    }
    Ok(links)
}

async fn create_cluster(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    let p: CreateParams = params.check(&with_links(CREATE_SCHEMA))?;
    auth.require_root()?;
    create::check_name(&p.clustername).map_err(|why| ApiError::param("clustername", why))?;
    let req = CreateRequest { name: p.clustername.clone(), nodeid: p.nodeid.unwrap_or(1), votes: p.votes.unwrap_or(1), links: links(&state, &p.rest)? };
    create::precheck(&state, &req.links).await?;
    let task_state = state.clone();
    let upid = state
        .tasks
        .spawn("clustercreate", &p.clustername, &auth.userid, move |log| create::run(task_state, req, log))
        .await
        .map_err(|e| ApiError::internal("starting task", e))?;
    Ok(crate::api::data(upid.to_string()))
}
