//! `/cluster/ha/rules[/{rule}]`: node-affinity rules (PVE 9 `rules.cfg`): which nodes the listed
//! resources prefer (`nodes` = `node[:priority],…`, higher first), `strict` to allow only those.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use corral_consensus::{Command, Op};
use corral_ha::NodeAffinityRule;
use serde::Deserialize;
use serde_json::{json, Value};

use super::resources::parse_sid;
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{optional, required, Kind, Prop, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::ha::store;
use crate::state::AppState;

fn entry(id: &str, rule: &NodeAffinityRule) -> Value {
    let nodes: Vec<String> = rule.nodes.iter().map(|(n, p)| if *p == 0 { n.clone() } else { format!("{n}:{p}") }).collect();
    let mut v = json!({
        "rule": id, "type": "node-affinity",
        "resources": rule.resources.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        "nodes": nodes.join(","), "strict": u8::from(rule.strict), "disable": u8::from(rule.disable),
        "digest": crate::cluster::config::digest_of(rule),
    });
    if let Some(c) = &rule.comment {
        v["comment"] = json!(c);
    }
    v
}

pub async fn list(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[optional("type", Kind::Enum(&["node-affinity", "resource-affinity"])), optional("resource", Kind::Str { max_len: 32 })])?;
    auth.require(Privilege::SysAudit, "/")?;
    let ha = store::read(&state.db).await?;
    Ok(crate::api::data(ha.rules.iter().map(|(id, r)| entry(id, r)).collect::<Vec<_>>()))
}

pub async fn get(auth: Authenticated, State(state): State<AppState>, Path(id): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require(Privilege::SysAudit, "/")?;
    let ha = store::read(&state.db).await?;
    let rule = ha.rules.get(&id).ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("no such ha rule '{id}'")))?;
    Ok(crate::api::data(entry(&id, rule)))
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && id.len() <= 64 && chars.all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn parse_resources(text: &str) -> ApiResult<Vec<corral_ha::Sid>> {
    let list = text.split(',').filter(|s| !s.is_empty()).map(parse_sid).collect::<Result<Vec<_>, _>>().map_err(|_| ApiError::param("resources", "a list of service ids like vm:100"))?;
    if list.is_empty() {
        return Err(ApiError::param("resources", "a rule needs at least one resource"));
    }
    Ok(list)
}

fn parse_nodes(text: &str) -> ApiResult<std::collections::BTreeMap<String, u32>> {
    let mut nodes = std::collections::BTreeMap::new();
    for part in text.split(',').filter(|s| !s.is_empty()) {
        let (name, prio) = part.split_once(':').unwrap_or((part, "0"));
        let prio: u32 = prio.parse().ok().filter(|p| *p <= 1000).ok_or_else(|| ApiError::param("nodes", format!("invalid priority in '{part}'")))?;
        nodes.insert(name.to_string(), prio);
    }
    if nodes.is_empty() {
        return Err(ApiError::param("nodes", "a node-affinity rule needs at least one node"));
    }
    Ok(nodes)
}

const COMMON: &[Prop] = &[
    optional("nodes", Kind::Str { max_len: 4096 }),
    optional("strict", Kind::Bool),
    optional("disable", Kind::Bool),
    optional("comment", Kind::Str { max_len: 4096 }),
];

pub async fn create(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    #[derive(Deserialize)]
    struct P {
        rule: String,
        resources: String,
        nodes: Option<String>,
        strict: Option<bool>,
        disable: Option<bool>,
        comment: Option<String>,
    }
    let mut schema = COMMON.to_vec();
    schema.extend([required("rule", Kind::Str { max_len: 64 }), required("type", Kind::Enum(&["node-affinity"])), required("resources", Kind::Str { max_len: 4096 })]);
    let p: P = params.check(&schema)?;
    auth.require(Privilege::SysConsole, "/")?;
    if !valid_id(&p.rule) {
        return Err(ApiError::param("rule", "a rule id starts with a letter; then letters, digits, '-', '_', '.'"));
    }
    let resources = parse_resources(&p.resources)?;
    let nodes = parse_nodes(p.nodes.as_deref().unwrap_or_default())?;
    state.require_quorum().await?;
    let rule = NodeAffinityRule { resources, nodes, strict: p.strict.unwrap_or(false), disable: p.disable.unwrap_or(false), comment: p.comment };
    let key = store::rule_key(&p.rule);
    let value = serde_json::to_value(&rule).map_err(|e| ApiError::internal("encoding", e))?;
    let result = state.cluster.write(Command::new(vec![Op::Expect { key: key.clone(), value: None }, Op::Put { key, value }])).await?;
    if !result.applied {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("ha rule '{}' already defined", p.rule)));
    }
    Ok(crate::api::data(Value::Null))
}

/// `PUT /cluster/ha/rules/{rule}`: change what is given, `delete` clears `comment` (or resets
/// `strict`/`disable`), `digest` guards against a concurrent change.
pub async fn update(auth: Authenticated, State(state): State<AppState>, Path(id): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    #[derive(Deserialize)]
    struct P {
        resources: Option<String>,
        nodes: Option<String>,
        strict: Option<bool>,
        disable: Option<bool>,
        comment: Option<String>,
        digest: Option<String>,
        delete: Option<String>,
    }
    let mut schema = COMMON.to_vec();
    schema.extend([
        optional("type", Kind::Enum(&["node-affinity"])),
        optional("resources", Kind::Str { max_len: 4096 }),
        optional("digest", Kind::Str { max_len: 64 }),
        optional("delete", Kind::Str { max_len: 256 }),
    ]);
    let p: P = params.check(&schema)?;
    auth.require(Privilege::SysConsole, "/")?;
    state.require_quorum().await?;
    let ha = store::read(&state.db).await?;
    let old = ha.rules.get(&id).ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("no such ha rule '{id}'")))?;
    if p.digest.as_ref().is_some_and(|d| *d != crate::cluster::config::digest_of(old)) {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "detected modified configuration - file changed by other user? Try again."));
    }
    let mut rule = old.clone();
    for key in p.delete.iter().flat_map(|d| d.split([',', ';', ' '])).filter(|k| !k.is_empty()) {
        match key {
            "comment" => rule.comment = None,
            "strict" => rule.strict = false,
            "disable" => rule.disable = false,
            other => return Err(ApiError::param("delete", format!("cannot delete '{other}'"))),
        }
    }
    if let Some(resources) = &p.resources {
        rule.resources = parse_resources(resources)?;
    }
    if let Some(nodes) = &p.nodes {
        rule.nodes = parse_nodes(nodes)?;
    }
    rule.strict = p.strict.unwrap_or(rule.strict);
    rule.disable = p.disable.unwrap_or(rule.disable);
    if p.comment.is_some() {
        rule.comment = p.comment;
    }
    let key = store::rule_key(&id);
    let expect = serde_json::to_value(old).map_err(|e| ApiError::internal("encoding", e))?;
    let value = serde_json::to_value(&rule).map_err(|e| ApiError::internal("encoding", e))?;
    let result = state.cluster.write(Command::new(vec![Op::Expect { key: key.clone(), value: Some(expect) }, Op::Put { key, value }])).await?;
    if !result.applied {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "detected modified configuration - file changed by other user? Try again."));
    }
    Ok(crate::api::data(Value::Null))
}

pub async fn remove(auth: Authenticated, State(state): State<AppState>, Path(id): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require(Privilege::SysConsole, "/")?;
    state.require_quorum().await?;
    state.cluster.write(Command::new(vec![Op::Delete { key: store::rule_key(&id) }])).await?;
    Ok(crate::api::data(Value::Null))
}
