//! `/cluster/ha/status/current` and `/status/manager_status` in PVE's shapes and wording,
//! from this node's copy of the store (reads never need quorum).

use axum::extract::State;
use axum::Json;
use corral_ha::{verbose_state, HaState, LrmState};
use serde_json::{json, Value};

use crate::api::error::ApiResult;
use crate::api::params::RawParams;
use crate::auth::{Authenticated, Privilege};
use crate::cluster::ClusterConfig;
use crate::ha::store;
use crate::state::AppState;

/// A master or LRM timestamp older than this reads "old timestamp - dead?" (PVE: 30 s).
const STALE_SECS: i64 = 30;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// `Tue Jan  6 10:00:00 2026`, as Perl's `localtime` prints it (in UTC here).
fn ctime(t: i64) -> String {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(t) else { return t.to_string() };
    let format = time::macros::format_description!("[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]");
    at.format(&format).unwrap_or_else(|_| t.to_string())
}

async fn quorate(state: &AppState, config: Option<&ClusterConfig>) -> bool {
    match config {
        Some(config) => state.sees_quorum(config).await,
        None => false,
    }
}

pub async fn current(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require(Privilege::SysAudit, "/")?;
    let ha = store::read(&state.db).await?;
    let me = state.node.to_string();
    let config = ClusterConfig::load(&state.db).await?;
    let quorate = quorate(&state, config.as_ref()).await;
    let mut rows = vec![json!({
        "id": "quorum", "type": "quorum", "node": me, "quorate": u8::from(quorate),
        "status": if quorate { "OK".to_string() } else { format!("No quorum on node '{me}'!") },
    })];
    let now = now();
    if let Some(master) = &ha.manager.master_node {
        let ts = ha.manager.timestamp;
        let mode = if now - ts > STALE_SECS { "old timestamp - dead?" } else if ha.manager.service_status.is_empty() { "idle" } else { "active" };
        rows.push(json!({ "id": "master", "type": "master", "node": master, "timestamp": ts, "status": format!("{master} ({mode}, {})", ctime(ts)) }));
    }
    for node in config.iter().flat_map(|c| &c.nodes) {
        rows.push(lrm_row(&ha, &node.name, now));
    }
    for (sid, cfg) in &ha.resources {
        let st = ha.manager.service_status.get(sid);
        let node = st.map(|s| s.node.clone()).or_else(|| ha.owners.get(sid).cloned()).unwrap_or_default();
        let verbose = verbose_state(st, cfg);
        let mut row = json!({
            "id": format!("service:{sid}"), "type": "service", "sid": sid.to_string(), "node": node,
            "crm_state": st.map_or("", |s| s.state.as_str()), "state": verbose,
            "request_state": cfg.request().as_str(), "status": format!("{sid} ({node}, {verbose})"),
        });
        for (key, value) in [("max_restart", cfg.max_restart.map(Value::from)), ("max_relocate", cfg.max_relocate.map(Value::from)), ("failback", cfg.failback.map(|f| Value::from(u8::from(f)))), ("comment", cfg.comment.clone().map(Value::from))] {
            if let Some(value) = value {
                row[key] = value;
            }
        }
        rows.push(row);
    }
    Ok(crate::api::data(rows))
}

fn lrm_row(ha: &HaState, node: &str, now: i64) -> Value {
    let Some(lrm) = ha.lrm.get(node) else {
        return json!({ "id": format!("lrm:{node}"), "type": "lrm", "node": node, "status": format!("{node} (unable to read lrm status)") });
    };
    let mode = if now - lrm.timestamp > STALE_SECS {
        "old timestamp - dead?".to_string()
    } else if lrm.mode != "active" {
        format!("{} mode", lrm.mode)
    } else {
        match lrm.state {
            LrmState::WaitForAgentLock => "idle".to_string(),
            state => state.as_str().to_string(),
        }
    };
    let watchdog = if lrm.state == LrmState::Active { "watchdog active" } else { "watchdog standby" };
    json!({ "id": format!("lrm:{node}"), "type": "lrm", "node": node, "timestamp": lrm.timestamp, "status": format!("{node} ({mode}, {watchdog}, {})", ctime(lrm.timestamp)) })
}

pub async fn manager_status(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require(Privilege::SysAudit, "/")?;
    let ha = store::read(&state.db).await?;
    let config = ClusterConfig::load(&state.db).await?;
    let quorate = quorate(&state, config.as_ref()).await;
    Ok(crate::api::data(json!({
        "manager_status": ha.manager,
        "quorum": { "node": state.node.as_str(), "quorate": u8::from(quorate) },
        "lrm_status": ha.lrm,
    })))
}
