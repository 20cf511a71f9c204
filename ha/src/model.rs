//! What HA keeps in the store: resource configuration, the manager's status (desired state of
//! every service, written by the master CRM) and each node's LRM status (what it did), in
//! PVE's shapes (`manager_status`, `lrm_status`) so the API can hand them out as they are.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An HA resource id: `vm:<vmid>` (PVE also accepts the bare VMID as input).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sid(u32);

impl Sid {
    pub fn vm(vmid: u32) -> Self {
        Sid(vmid)
    }

    pub fn vmid(&self) -> u32 {
        self.0
    }

    /// `vm:100`, `100`; VMIDs 100–999999999 as PVE.
    pub fn parse(text: &str) -> Result<Self, String> {
        let number = text.strip_prefix("vm:").unwrap_or(text);
        if text.starts_with("ct:") {
            return Err("containers are not supported by corral".into());
        }
        match number.parse::<u32>() {
            Ok(n) if (100..=999_999_999).contains(&n) && !number.starts_with('+') => Ok(Sid(n)),
            _ => Err(format!("unable to parse service id '{text}'")),
        }
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vm:{}", self.0)
    }
}

impl TryFrom<String> for Sid {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Sid::parse(&s)
    }
}

impl From<Sid> for String {
    fn from(s: Sid) -> String {
        s.to_string()
    }
}

/// The state an admin asks for (`resources.cfg` `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    #[default]
    Started,
    Stopped,
    Disabled,
    Ignored,
}

impl RequestState {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "started" | "enabled" => Self::Started,
            "stopped" => Self::Stopped,
            "disabled" => Self::Disabled,
            "ignored" => Self::Ignored,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Stopped => "stopped",
            Self::Disabled => "disabled",
            Self::Ignored => "ignored",
        }
    }
}

/// One HA resource. `None` = not set (the API shows only what was set, as PVE).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<RequestState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_restart: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_relocate: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl ResourceConfig {
    pub fn request(&self) -> RequestState {
        self.state.unwrap_or_default()
    }
    pub fn max_restart(&self) -> u32 {
        self.max_restart.unwrap_or(1)
    }
    pub fn max_relocate(&self) -> u32 {
        self.max_relocate.unwrap_or(1)
    }
    pub fn failback(&self) -> bool {
        self.failback.unwrap_or(true)
    }
}

/// A node-affinity rule (PVE 9 `rules.cfg`): where the listed resources prefer to run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAffinityRule {
    pub resources: Vec<Sid>,
    /// Node → priority (higher is preferred).
    pub nodes: BTreeMap<String, u32>,
    /// Only the listed nodes may run the resources.
    #[serde(default)]
    pub strict: bool,
    #[serde(default)]
    pub disable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The CRM's view of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    Online,
    Maintenance,
    Unknown,
    Fence,
    Gone,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Maintenance => "maintenance",
            Self::Unknown => "unknown",
            Self::Fence => "fence",
            Self::Gone => "gone",
        }
    }
}

/// A service's state in the manager (PVE's `$valid_service_states`, less CRS balancing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    RequestStart,
    Started,
    RequestStop,
    Stopped,
    Fence,
    Recovery,
    Migrate,
    Relocate,
    Freeze,
    Error,
}

impl ServiceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequestStart => "request_start",
            Self::Started => "started",
            Self::RequestStop => "request_stop",
            Self::Stopped => "stopped",
            Self::Fence => "fence",
            Self::Recovery => "recovery",
            Self::Migrate => "migrate",
            Self::Relocate => "relocate",
            Self::Freeze => "freeze",
            Self::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub node: String,
    pub state: ServiceState,
    /// Changes with every command to the LRM; the LRM answers each uid once.
    pub uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_nodes: Vec<String>,
    /// Set once the LRM reported the guest running in state `started`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub running: bool,
    /// The node a service left for maintenance (it returns when maintenance ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_node: Option<String>,
}

/// `manager_status`, written by the master CRM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_node: Option<String>,
    #[serde(default)]
    pub timestamp: i64,
    #[serde(default)]
    pub node_status: BTreeMap<String, NodeState>,
    #[serde(default)]
    pub service_status: BTreeMap<Sid, ServiceStatus>,
}

/// The LRM's own state (PVE's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LrmState {
    #[default]
    WaitForAgentLock,
    Active,
    LostAgentLock,
    Maintenance,
}

impl LrmState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitForAgentLock => "wait_for_agent_lock",
            Self::Active => "active",
            Self::LostAgentLock => "lost_agent_lock",
            Self::Maintenance => "maintenance",
        }
    }
}

/// Exit codes of LRM commands (PVE's `Tools.pm`).
pub const SUCCESS: i32 = 0;
pub const ERROR: i32 = 1;
pub const EWRONG_NODE: i32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LrmResult {
    pub sid: Sid,
    pub exit_code: i32,
    pub state: ServiceState,
}

/// `lrm_status` of one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LrmStatus {
    pub state: LrmState,
    /// `active` or `maintenance`.
    pub mode: String,
    #[serde(default)]
    pub timestamp: i64,
    #[serde(default)]
    pub results: BTreeMap<String, LrmResult>,
}

/// A queued admin request for the CRM (PVE's `crm_commands`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum CrmCommand {
    Migrate { sid: Sid, target: String },
    Relocate { sid: Sid, target: String },
}

/// Everything HA reads from the store in one round.
#[derive(Debug, Clone, Default)]
pub struct HaState {
    pub resources: BTreeMap<Sid, ResourceConfig>,
    pub rules: BTreeMap<String, NodeAffinityRule>,
    pub manager: ManagerStatus,
    pub lrm: BTreeMap<String, LrmStatus>,
    /// Queued commands by id, oldest first.
    pub commands: Vec<(String, CrmCommand)>,
    /// Nodes an admin put into maintenance.
    pub maintenance: std::collections::BTreeSet<String>,
    /// The node each guest's configuration belongs to.
    pub owners: BTreeMap<Sid, String>,
}

/// What `status/current` shows for a service (PVE's `get_verbose_service_state`).
pub fn verbose_state(status: Option<&ServiceStatus>, config: &ResourceConfig) -> &'static str {
    let request = config.request();
    let Some(status) = status else {
        return if request == RequestState::Ignored { "ignored" } else { "queued" };
    };
    match (status.state, request) {
        (_, RequestState::Ignored) => "ignored",
        (ServiceState::Error, RequestState::Disabled) => "clearing error flag",
        (ServiceState::Stopped, RequestState::Disabled) => "disabled",
        (ServiceState::Stopped, RequestState::Started) => "starting",
        (ServiceState::Started, _) if !status.running => "starting",
        (ServiceState::RequestStart, _) => "starting",
        (ServiceState::RequestStop, _) => "stopping",
        (state, _) => state.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_parse_as_pve_accepts_them() {
        assert_eq!(Sid::parse("vm:100").unwrap().to_string(), "vm:100");
        assert_eq!(Sid::parse("101").unwrap(), Sid::vm(101));
        assert!(Sid::parse("vm:99").is_err());
        assert!(Sid::parse("vm:abc").is_err());
        assert!(Sid::parse("ct:100").unwrap_err().contains("containers"));
        assert!(Sid::parse("+100").is_err());
    }

    #[test]
    fn statuses_use_pve_names_on_the_wire() {
        let mut ms = ManagerStatus { master_node: Some("n1".into()), timestamp: 5, ..Default::default() };
        ms.node_status.insert("n1".into(), NodeState::Online);
        ms.service_status.insert(Sid::vm(100), ServiceStatus { node: "n1".into(), state: ServiceState::RequestStart, uid: "u1".into(), target: None, failed_nodes: vec![], running: false, maintenance_node: None });
        let text = serde_json::to_string(&ms).unwrap();
        assert_eq!(text, r#"{"master_node":"n1","timestamp":5,"node_status":{"n1":"online"},"service_status":{"vm:100":{"node":"n1","state":"request_start","uid":"u1"}}}"#);
        assert_eq!(serde_json::from_str::<ManagerStatus>(&text).unwrap(), ms);
    }
}
