//! `GET /cluster/backup-info/not-backed-up`: guests no backup job covers. corral has no backup
//! jobs yet, so every guest the caller may see is listed.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::api::error::ApiResult;
use crate::auth::{Authenticated, Privilege};
use crate::state::AppState;

pub async fn not_backed_up(auth: Authenticated, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let out: Vec<Value> = crate::guests::list(&state.db)
        .await?
        .into_iter()
        .filter(|(vmid, _)| auth.require(Privilege::VmAudit, &format!("/vms/{vmid}")).is_ok())
        .map(|(vmid, record)| json!({ "type": "qemu", "vmid": vmid, "name": record.name(vmid) }))
        .collect();
    Ok(crate::api::data(out))
}
