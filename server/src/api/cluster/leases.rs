//! `/cluster/leases` (corral's own): the store's leases as this node sees them (Sys.Audit on
//! `/`), and acquiring, renewing and releasing one for this node (root only). HA takes its
//! node locks through the same functions; the API exists for scripts and for tests.

use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{optional, Kind, Prop, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::cluster::lease;
use crate::state::AppState;

const ACQUIRE_SCHEMA: &[Prop] = &[optional("duration", Kind::Int { min: 1, max: 3600 })];

#[derive(serde::Deserialize)]
struct AcquireParams {
    /// Seconds (default 60).
    duration: Option<u64>,
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::param("name", "a lease name is 1-64 letters, digits, '-', '_', '.', ':'"))
    }
}

pub async fn list(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require(Privilege::SysAudit, "/")?;
    let now = Instant::now();
    let me = state.node.as_str();
    let entries: Vec<Value> = lease::list(&state)
        .await?
        .into_iter()
        .map(|(name, record, seen)| {
            let deadline = if record.holder == me { state.leases.held_until(&name, &record) } else { Some(lease::expires_for_others(&record, seen)) };
            let left = deadline.map(|d| d.saturating_duration_since(now).as_millis() as u64);
            json!({
                "name": name,
                "holder": record.holder,
                "version": record.version,
                "duration": record.duration_ms / 1000,
                // This node's view: until the holder's own deadline, or until others may take it over.
                "expires_in_ms": left,
            })
        })
        .collect();
    Ok(crate::api::data(entries))
}

pub async fn acquire(auth: Authenticated, State(state): State<AppState>, Path(name): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    let p: AcquireParams = params.check(ACQUIRE_SCHEMA)?;
    auth.require_root()?;
    check_name(&name)?;
    let duration = Duration::from_secs(p.duration.unwrap_or(60));
    let until = lease::acquire(&state, &name, duration).await?;
    Ok(crate::api::data(json!({ "name": name, "holder": state.node.as_str(), "valid_ms": until.saturating_duration_since(Instant::now()).as_millis() as u64 })))
}

pub async fn release(auth: Authenticated, State(state): State<AppState>, Path(name): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require_root()?;
    check_name(&name)?;
    lease::release(&state, &name).await?;
    Ok(crate::api::data(Value::Null))
}
