//! Where HA lives in the configuration tree, and reading it in one go.
//!
//! `ha/resources/<sid>` (resources.cfg), `ha/rules/<id>` (rules.cfg), `ha/manager_status`
//! (written by the master CRM), `ha/lrm/<node>` (each node's LRM status), `ha/commands/<id>`
//! (queued migrate/relocate requests), `ha/maintenance/<node>` (nodes an admin put into
//! maintenance). The guests' owners come from their records (`qemu/<vmid>`).

use corral_ha::{CrmCommand, HaState, LrmStatus, ManagerStatus, NodeAffinityRule, ResourceConfig, Sid};
use sqlx::SqlitePool;

pub const PREFIX: &str = "ha/";
pub const RESOURCES: &str = "ha/resources/";
pub const RULES: &str = "ha/rules/";
pub const MANAGER_STATUS: &str = "ha/manager_status";
pub const LRM: &str = "ha/lrm/";
pub const COMMANDS: &str = "ha/commands/";
pub const MAINTENANCE: &str = "ha/maintenance/";

pub fn resource_key(sid: &Sid) -> String {
    format!("{RESOURCES}{sid}")
}

pub fn rule_key(id: &str) -> String {
    format!("{RULES}{id}")
}

pub fn lrm_key(node: &str) -> String {
    format!("{LRM}{node}")
}

pub fn maintenance_key(node: &str) -> String {
    format!("{MAINTENANCE}{node}")
}

/// Everything HA reads, from this node's copy of the store.
pub async fn read(db: &SqlitePool) -> sqlx::Result<HaState> {
    let mut ha = HaState::default();
    let mut commands: Vec<(String, CrmCommand)> = Vec::new();
    for (key, value) in corral_consensus::read_prefix(db, PREFIX).await? {
        if let Some(sid) = key.strip_prefix(RESOURCES) {
            if let (Ok(sid), Ok(cfg)) = (Sid::parse(sid), serde_json::from_value::<ResourceConfig>(value)) {
                ha.resources.insert(sid, cfg);
            }
        } else if let Some(id) = key.strip_prefix(RULES) {
            if let Ok(rule) = serde_json::from_value::<NodeAffinityRule>(value) {
                ha.rules.insert(id.to_string(), rule);
            }
        } else if key == MANAGER_STATUS {
            ha.manager = serde_json::from_value::<ManagerStatus>(value).unwrap_or_default();
        } else if let Some(node) = key.strip_prefix(LRM) {
            if let Ok(status) = serde_json::from_value::<LrmStatus>(value) {
                ha.lrm.insert(node.to_string(), status);
            }
        } else if let Some(id) = key.strip_prefix(COMMANDS) {
            if let Ok(command) = serde_json::from_value::<CrmCommand>(value) {
                commands.push((id.to_string(), command));
            }
        } else if let Some(node) = key.strip_prefix(MAINTENANCE) {
            ha.maintenance.insert(node.to_string());
        }
    }
    // Command ids start with a zero-padded time, so their order is the queue's.
    commands.sort_by(|a, b| a.0.cmp(&b.0));
    ha.commands = commands;
    for (vmid, record) in crate::guests::list(db).await? {
        ha.owners.insert(Sid::vm(vmid.get()), record.node);
    }
    Ok(ha)
}

/// The resource configuration of `sid`, if HA manages it.
pub async fn resource(db: &SqlitePool, sid: &Sid) -> sqlx::Result<Option<ResourceConfig>> {
    Ok(corral_consensus::read(db, &resource_key(sid)).await?.and_then(|v| serde_json::from_value(v).ok()))
}

/// The master's last written status.
pub async fn manager_status(db: &SqlitePool) -> sqlx::Result<ManagerStatus> {
    Ok(corral_consensus::read(db, MANAGER_STATUS).await?.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
}

/// A new command id: sortable by time, unique.
pub fn command_id() -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    format!("{ms:015}-{}", uuid::Uuid::new_v4().simple())
}
