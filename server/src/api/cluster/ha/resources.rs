//! `/cluster/ha/resources[/{sid}[/migrate|/relocate]]`: PVE's `resources.cfg` over the store.
//! Writes need quorum and are compare-and-set on the resource's record; the CRM picks changes
//! up in its next round. Permission: Sys.Console on `/` (as PVE).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use corral_api_types::Vmid;
use corral_consensus::{Command, Op};
use corral_ha::{CrmCommand, RequestState, ResourceConfig, ServiceState, Sid};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{optional, required, Kind, Prop, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::ha::store;
use crate::state::AppState;

const STATES: &[&str] = &["started", "stopped", "enabled", "disabled", "ignored"];

const PROPS: &[Prop] = &[
    optional("type", Kind::Enum(&["vm"])),
    optional("state", Kind::Enum(STATES)),
    optional("max_restart", Kind::Int { min: 0, max: 10 }),
    optional("max_relocate", Kind::Int { min: 0, max: 10 }),
    optional("failback", Kind::Bool),
    optional("comment", Kind::Str { max_len: 4096 }),
    optional("group", Kind::Str { max_len: 128 }),
];

#[derive(Deserialize)]
struct Props {
    state: Option<String>,
    max_restart: Option<u32>,
    max_relocate: Option<u32>,
    failback: Option<bool>,
    comment: Option<String>,
    group: Option<String>,
}

impl Props {
    fn apply(self, cfg: &mut ResourceConfig) -> Result<(), ApiError> {
        if self.group.is_some() {
            return Err(ApiError::param("group", "ha groups have been migrated to rules; use /cluster/ha/rules"));
        }
        if let Some(state) = self.state {
            cfg.state = RequestState::parse(&state);
        }
        cfg.max_restart = self.max_restart.or(cfg.max_restart);
        cfg.max_relocate = self.max_relocate.or(cfg.max_relocate);
        cfg.failback = self.failback.or(cfg.failback);
        if let Some(comment) = self.comment {
            cfg.comment = Some(comment);
        }
        Ok(())
    }
}

pub fn parse_sid(text: &str) -> Result<Sid, ApiError> {
    Sid::parse(text).map_err(|e| ApiError::param("sid", e))
}

fn digest(cfg: &ResourceConfig) -> String {
    crate::cluster::config::digest_of(cfg)
}

/// A resource as PVE lists it: only what was set, plus `sid`, `type`, `digest`.
pub fn entry(sid: &Sid, cfg: &ResourceConfig) -> Value {
    let mut v = serde_json::to_value(cfg).unwrap_or_else(|_| json!({}));
    if let Some(failback) = cfg.failback {
        v["failback"] = json!(u8::from(failback));
    }
    v["sid"] = json!(sid.to_string());
    v["type"] = json!("vm");
    v["digest"] = json!(digest(cfg));
    v
}

pub async fn list(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[optional("type", Kind::Enum(&["vm", "ct"]))])?;
    auth.require(Privilege::SysAudit, "/")?;
    let ha = store::read(&state.db).await?;
    Ok(crate::api::data(ha.resources.iter().map(|(sid, cfg)| entry(sid, cfg)).collect::<Vec<_>>()))
}

pub async fn get(auth: Authenticated, State(state): State<AppState>, Path(sid): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require(Privilege::SysAudit, "/")?;
    let sid = parse_sid(&sid)?;
    let cfg = store::resource(&state.db, &sid).await?.ok_or_else(|| no_such(&sid))?;
    Ok(crate::api::data(entry(&sid, &cfg)))
}

fn no_such(sid: &Sid) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("no such resource '{sid}'"))
}

async fn put_resource(state: &AppState, sid: &Sid, old: Option<&ResourceConfig>, new: &ResourceConfig) -> ApiResult<()> {
    let expect = old.map(|o| serde_json::to_value(o).unwrap_or_default());
    let value = serde_json::to_value(new).map_err(|e| ApiError::internal("encoding", e))?;
    let key = store::resource_key(sid);
    let result = state.cluster.write(Command::new(vec![Op::Expect { key: key.clone(), value: expect }, Op::Put { key, value }])).await?;
    if !result.applied {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("resource '{sid}' was changed concurrently; try again")));
    }
    Ok(())
}

pub async fn create(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    let mut schema = PROPS.to_vec();
    schema.push(required("sid", Kind::Str { max_len: 32 }));
    #[derive(Deserialize)]
    struct P {
        sid: String,
        #[serde(flatten)]
        props: Props,
    }
    let p: P = params.check(&schema)?;
    auth.require(Privilege::SysConsole, "/")?;
    let sid = parse_sid(&p.sid)?;
    state.require_quorum().await?;
    let vmid = Vmid::new(sid.vmid()).map_err(|e| ApiError::param("sid", e.to_string()))?;
    if crate::guests::get(&state.db, vmid).await?.is_none() {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("resource '{sid}' does not exist in cluster")));
    }
    if store::resource(&state.db, &sid).await?.is_some() {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("resource ID '{sid}' already defined")));
    }
    let mut cfg = ResourceConfig::default();
    p.props.apply(&mut cfg)?;
    put_resource(&state, &sid, None, &cfg).await?;
    Ok(crate::api::data(Value::Null))
}

pub async fn update(auth: Authenticated, State(state): State<AppState>, Path(sid): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    let mut schema = PROPS.to_vec();
    schema.push(optional("digest", Kind::Str { max_len: 64 }));
    schema.push(optional("delete", Kind::Str { max_len: 256 }));
    #[derive(Deserialize)]
    struct P {
        digest: Option<String>,
        delete: Option<String>,
        #[serde(flatten)]
        props: Props,
    }
    let p: P = params.check(&schema)?;
    auth.require(Privilege::SysConsole, "/")?;
    let sid = parse_sid(&sid)?;
    state.require_quorum().await?;
    let old = store::resource(&state.db, &sid).await?.ok_or_else(|| no_such(&sid))?;
    if p.digest.as_ref().is_some_and(|d| *d != digest(&old)) {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "detected modified configuration - file changed by other user? Try again."));
    }
    let in_error = store::manager_status(&state.db).await?.service_status.get(&sid).is_some_and(|s| s.state == ServiceState::Error);
    if in_error && p.props.state.as_deref() != Some("disabled") {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("service '{sid}' in error state, must be disabled and fixed first")));
    }
    let mut cfg = old.clone();
    for key in p.delete.iter().flat_map(|d| d.split([',', ';', ' '])).filter(|k| !k.is_empty()) {
        match key {
            "state" => cfg.state = None,
            "max_restart" => cfg.max_restart = None,
            "max_relocate" => cfg.max_relocate = None,
            "failback" => cfg.failback = None,
            "comment" => cfg.comment = None,
            other => return Err(ApiError::param("delete", format!("cannot delete '{other}'"))),
        }
    }
    p.props.apply(&mut cfg)?;
    put_resource(&state, &sid, Some(&old), &cfg).await?;
    Ok(crate::api::data(Value::Null))
}

/// `DELETE`: HA lets go of the guest (which keeps running or stays stopped as it is); with
/// `purge` (the default, as PVE) the resource also leaves every rule, and a rule left without
/// resources goes too. One write, so a rule never names a resource that is gone.
pub async fn remove(auth: Authenticated, State(state): State<AppState>, Path(sid): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    #[derive(Deserialize)]
    struct P {
        purge: Option<bool>,
    }
    let p: P = params.check(&[optional("purge", Kind::Bool)])?;
    auth.require(Privilege::SysConsole, "/")?;
    let sid = parse_sid(&sid)?;
    state.require_quorum().await?;
    let ha = store::read(&state.db).await?;
    let old = ha.resources.get(&sid).ok_or_else(|| no_such(&sid))?;
    let key = store::resource_key(&sid);
    let expect = serde_json::to_value(old).unwrap_or_default();
    let mut ops = vec![Op::Expect { key: key.clone(), value: Some(expect) }, Op::Delete { key }];
    if p.purge.unwrap_or(true) {
        for (id, rule) in ha.rules.iter().filter(|(_, r)| r.resources.contains(&sid)) {
            let key = store::rule_key(id);
            ops.push(Op::Expect { key: key.clone(), value: Some(serde_json::to_value(rule).unwrap_or_default()) });
            let mut rule = rule.clone();
            rule.resources.retain(|r| *r != sid);
            ops.push(if rule.resources.is_empty() { Op::Delete { key } } else { Op::Put { key, value: serde_json::to_value(&rule).unwrap_or_default() } });
        }
    }
    let result = state.cluster.write(Command::new(ops)).await?;
    if !result.applied {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("resource '{sid}' was changed concurrently; try again")));
    }
    Ok(crate::api::data(Value::Null))
}

/// Set the requested state (what `qm start|stop` on an HA guest does: `hastart`/`hastop`).
pub async fn request(state: &AppState, sid: &Sid, request: RequestState) -> ApiResult<()> {
    state.require_quorum().await?;
    let old = store::resource(&state.db, sid).await?.ok_or_else(|| no_such(sid))?;
    let cfg = ResourceConfig { state: Some(request), ..old.clone() };
    put_resource(state, sid, Some(&old), &cfg).await
}

/// Queue a migrate or relocate for the CRM.
pub async fn queue_move(state: &AppState, sid: &Sid, target: &str, relocate: bool) -> ApiResult<()> {
    state.require_quorum().await?;
    if store::resource(&state.db, sid).await?.is_none() {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("service '{sid}' is not managed by HA")));
    }
    let config = crate::cluster::ClusterConfig::load(&state.db).await?;
    if config.is_none_or(|c| c.node(target).is_none()) {
        return Err(ApiError::param("node", format!("no such cluster node '{target}'")));
    }
    let command = if relocate { CrmCommand::Relocate { sid: sid.clone(), target: target.into() } } else { CrmCommand::Migrate { sid: sid.clone(), target: target.into() } };
    let key = format!("{}{}", store::COMMANDS, store::command_id());
    let value = serde_json::to_value(&command).map_err(|e| ApiError::internal("encoding", e))?;
    state.cluster.write(Command::new(vec![Op::Put { key, value }])).await?;
    Ok(())
}

async fn move_to(auth: Authenticated, state: AppState, sid: String, params: RawParams, relocate: bool) -> ApiResult<Json<Value>> {
    #[derive(Deserialize)]
    struct P {
        node: String,
    }
    let p: P = params.check(&[required("node", Kind::Str { max_len: 63 })])?;
    auth.require(Privilege::SysConsole, "/")?;
    let sid = parse_sid(&sid)?;
    queue_move(&state, &sid, &p.node, relocate).await?;
    Ok(crate::api::data(json!({ "sid": sid.to_string(), "requested-node": p.node, "comigrated-resources": [], "blocking-resources": [] })))
}

pub async fn migrate(auth: Authenticated, State(state): State<AppState>, Path(sid): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    move_to(auth, state, sid, params, false).await
}

pub async fn relocate(auth: Authenticated, State(state): State<AppState>, Path(sid): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    move_to(auth, state, sid, params, true).await
}

/// `PUT /cluster/ha/maintenance/{node}` (corral's own; PVE: `ha-manager crm-command
/// node-maintenance`): `enable=1` moves the node's HA guests away, `enable=0` brings them back.
/// Kept in the store, so it survives reboots as PVE's does.
pub async fn maintenance(auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    #[derive(Deserialize)]
    struct P {
        enable: bool,
    }
    let p: P = params.check(&[required("enable", Kind::Bool)])?;
    auth.require(Privilege::SysConsole, "/")?;
    let config = crate::cluster::ClusterConfig::load(&state.db).await?;
    if config.is_none_or(|c| c.node(&node).is_none()) {
        return Err(ApiError::param("node", format!("no such cluster node '{node}'")));
    }
    state.require_quorum().await?;
    let key = store::maintenance_key(&node);
    let op = if p.enable { Op::Put { key, value: json!(true) } } else { Op::Delete { key } };
    state.cluster.write(Command::new(vec![op])).await?;
    Ok(crate::api::data(Value::Null))
}
