//! `/cluster/config` wire types: cluster nodes, join information and its encoded form, and the
//! link property strings (`[address=]<IP>[,priority=<0..255>]`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::ids::IdError;

/// One row of `GET /cluster/config/nodes`; corosync-derived numbers are strings, as in PVE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterConfigNode {
    pub node: String,
    pub name: String,
    pub nodeid: String,
    pub quorum_votes: String,
    /// `ring0_addr` … `ring7_addr`
    #[serde(flatten)]
    pub rings: BTreeMap<String, String>,
}

/// An entry of `nodelist` in `GET /cluster/config/join`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinNode {
    pub name: String,
    pub nodeid: String,
    pub quorum_votes: String,
    pub pve_addr: String,
    pub pve_fp: String,
    /// Where the node's API answers (`https://ip:port`), a corral extension.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api: String,
    #[serde(flatten)]
    pub rings: BTreeMap<String, String>,
}

/// `GET /cluster/config/join`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinInfo {
    pub nodelist: Vec<JoinNode>,
    pub preferred_node: String,
    pub totem: serde_json::Value,
    pub config_digest: String,
}

/// What the GUI's *Copy Information* puts on the clipboard (base64 of this JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncodedJoinInfo {
    pub ip_address: String,
    pub fingerprint: String,
    pub peer_links: BTreeMap<String, String>,
    #[serde(rename = "ring_addr")]
    pub ring_addr: Vec<String>,
    pub totem: serde_json::Value,
}

impl EncodedJoinInfo {
    /// Built from the preferred node's entry, as PVE's GUI does.
    pub fn from_join_info(info: &JoinInfo) -> Option<Self> {
        let node = info.nodelist.iter().find(|n| n.name == info.preferred_node)?;
        let peer_links: BTreeMap<String, String> = node
            .rings
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("ring").and_then(|r| r.strip_suffix("_addr")).map(|n| (n.to_string(), v.clone())))
            .collect();
        // PVE's joiner always talks to port 8006; a node on another port says so in the address.
        let port = node.api.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).filter(|p| *p != 8006);
        let ip_address = match port {
            Some(port) if node.pve_addr.contains(':') => format!("[{}]:{port}", node.pve_addr),
            Some(port) => format!("{}:{port}", node.pve_addr),
            None => node.pve_addr.clone(),
        };
        Some(Self {
            ip_address,
            fingerprint: node.pve_fp.clone(),
            ring_addr: peer_links.values().cloned().collect(),
            peer_links,
            totem: info.totem.clone(),
        })
    }

    pub fn encode(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Lenient decode of pasted text; `None` unless it holds a `totem`.
    pub fn decode(text: &str) -> Option<Self> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD.decode(compact).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// A cluster link: `[address=]<IP>[,priority=<0..255>]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSpec {
    pub address: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
}

impl LinkSpec {
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let mut address = None;
        let mut priority = None;
        for (i, part) in text.split(',').enumerate() {
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None if i == 0 => ("address", part.trim()),
                None => return Err(IdError(format!("invalid link property '{part}'"))),
            };
            match key {
                "address" => address = Some(value.parse::<IpAddr>().map_err(|_| IdError(format!("invalid IP address '{value}'")))?),
                "priority" => priority = Some(value.parse::<u8>().map_err(|_| IdError(format!("invalid priority '{value}' (0..255)")))?),
                other => return Err(IdError(format!("unknown link property '{other}'"))),
            }
        }
        Ok(Self { address: address.ok_or_else(|| IdError("link needs an address".into()))?, priority })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_specs() {
        assert_eq!(LinkSpec::parse("10.0.0.1").unwrap(), LinkSpec { address: "10.0.0.1".parse().unwrap(), priority: None });
        assert_eq!(LinkSpec::parse("address=fd00::1,priority=20").unwrap().priority, Some(20));
        for bad in ["", "10.0.0.300", "10.0.0.1,priority=300", "10.0.0.1,speed=1", "priority=1"] {
            assert!(LinkSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encoded_join_info_round_trips_and_has_pve_keys() {
        let info = JoinInfo {
            nodelist: vec![JoinNode {
                name: "pve1".into(),
                nodeid: "1".into(),
                quorum_votes: "1".into(),
                pve_addr: "10.0.0.1".into(),
                pve_fp: "AA:BB".into(),
                api: "https://10.0.0.1:8006".into(),
                rings: BTreeMap::from([("ring0_addr".to_string(), "10.0.0.1".to_string())]),
            }],
            preferred_node: "pve1".into(),
            totem: serde_json::json!({"cluster_name": "demo"}),
            config_digest: "x".into(),
        };
        let enc = EncodedJoinInfo::from_join_info(&info).unwrap();
        let json: serde_json::Value = serde_json::to_value(&enc).unwrap();
        assert_eq!(json["ipAddress"], "10.0.0.1");
        assert_eq!(json["peerLinks"]["0"], "10.0.0.1");
        assert_eq!(json["ring_addr"][0], "10.0.0.1");
        let text = enc.encode();
        assert_eq!(EncodedJoinInfo::decode(&format!(" {text}\n")), Some(enc));
        assert_eq!(EncodedJoinInfo::decode("not base64!"), None);
        let mut other_port = info.clone();
        other_port.nodelist[0].api = "https://10.0.0.1:9006".into();
        assert_eq!(EncodedJoinInfo::from_join_info(&other_port).unwrap().ip_address, "10.0.0.1:9006");
    }
}
