//! Where a service should run (PVE's `select_service_node`, basic scheduler): the online
//! nodes a node-affinity rule allows, the highest priority class among them, then the node
//! with the fewest HA services, ties broken by name.

use std::collections::BTreeMap;

use crate::model::{ManagerStatus, NodeAffinityRule, Sid};

pub struct Candidates<'a> {
    /// Online nodes that are not in maintenance.
    pub online: Vec<&'a str>,
    pub rules: &'a BTreeMap<String, NodeAffinityRule>,
    pub manager: &'a ManagerStatus,
}

/// `current`: where the service is now (kept when it is among the best); `avoid`: nodes where
/// a start already failed.
pub fn select_node(c: &Candidates<'_>, sid: &Sid, current: Option<&str>, avoid: &[String]) -> Option<String> {
    let rule = c.rules.values().find(|r| !r.disable && r.resources.contains(sid));
    let priority = |node: &str| -> Option<i64> {
        match rule {
            None => Some(0),
            Some(r) => match r.nodes.get(node) {
                Some(p) => Some(i64::from(*p)),
                None if r.strict => None,
                None => Some(-1),
            },
        }
    };
    let allowed: Vec<(&str, i64)> = c.online.iter().filter(|n| !avoid.iter().any(|a| a == *n)).filter_map(|n| priority(n).map(|p| (*n, p))).collect();
    let best = allowed.iter().map(|(_, p)| *p).max()?;
    let top: Vec<&str> = allowed.iter().filter(|(_, p)| *p == best).map(|(n, _)| *n).collect();
    if let Some(current) = current {
        if top.contains(&current) {
            return Some(current.to_string());
        }
    }
    let load = |node: &str| c.manager.service_status.iter().filter(|(s, st)| *s != sid && st.node == node).count();
    top.into_iter().min_by(|a, b| load(a).cmp(&load(b)).then(a.cmp(b))).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ServiceState, ServiceStatus};

    fn status(node: &str) -> ServiceStatus {
        ServiceStatus { node: node.into(), state: ServiceState::Started, uid: "u".into(), target: None, failed_nodes: vec![], running: true, maintenance_node: None }
    }

    #[test]
    fn fewest_services_then_name_and_the_current_node_stays() {
        let mut ms = ManagerStatus::default();
        ms.service_status.insert(Sid::vm(101), status("n2"));
        let rules = BTreeMap::new();
        let c = Candidates { online: vec!["n1", "n2", "n3"], rules: &rules, manager: &ms };
        assert_eq!(select_node(&c, &Sid::vm(100), None, &[]).as_deref(), Some("n1"));
        assert_eq!(select_node(&c, &Sid::vm(100), Some("n3"), &[]).as_deref(), Some("n3"));
        assert_eq!(select_node(&c, &Sid::vm(100), None, &["n1".into()]).as_deref(), Some("n3"));
    }

    #[test]
    fn rules_prefer_higher_priority_and_strict_rules_exclude() {
        let ms = ManagerStatus::default();
        let mut rules = BTreeMap::new();
        rules.insert("r".to_string(), NodeAffinityRule { resources: vec![Sid::vm(100)], nodes: [("n3".to_string(), 2), ("n2".to_string(), 1)].into(), strict: true, ..Default::default() });
        let c = Candidates { online: vec!["n1", "n2", "n3"], rules: &rules, manager: &ms };
        assert_eq!(select_node(&c, &Sid::vm(100), Some("n1"), &[]).as_deref(), Some("n3"));
        let c = Candidates { online: vec!["n1"], rules: &rules, manager: &ms };
        assert_eq!(select_node(&c, &Sid::vm(100), None, &[]), None, "strict: no allowed node online");
    }
}
