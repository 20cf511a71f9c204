//! The failover timeline (`GET /cluster/ha/timeline`): for each recovery of an HA service from
//! a fenced node, the cluster log entries that tell it — node lost, lease expired and fenced,
//! recovery node chosen, started there — with their times, nodes and words. Pure: built from
//! the merged cluster log, which every node already shares.

use corral_api_types::cluster::ClusterLogEntry;
use corral_api_types::ha::{Failover, FailoverStep};

fn step(step: &str, e: &ClusterLogEntry) -> FailoverStep {
    FailoverStep { step: step.into(), time: e.time, node: e.node.clone(), msg: e.msg.clone() }
}

/// `recover service 'vm:100' from fenced node 'n1' to node 'n2'` → (sid, from, to).
fn recovery(msg: &str) -> Option<(String, String, String)> {
    let rest = msg.strip_prefix("recover service '")?;
    let (sid, rest) = rest.split_once("' from fenced node '")?;
    let (from, rest) = rest.split_once("' to node '")?;
    let to = rest.strip_suffix('\'')?;
    Some((sid.into(), from.into(), to.into()))
}

/// The failovers in `log` (any order), newest first.
pub fn failovers(log: &[ClusterLogEntry]) -> Vec<Failover> {
    let mut log: Vec<&ClusterLogEntry> = log.iter().collect();
    log.sort_by_key(|e| (e.time, e.uid));
    let mut out = Vec::new();
    for e in &log {
        let Some((sid, from, to)) = recovery(&e.msg) else { continue };
        // Times are whole seconds and each node numbers its own entries, so within the
        // recovery's second the merged order says nothing: the target may log the start
        // before the manager's recovery line sorts. Steps are matched by time, not position.
        let latest_before = |msg: String| log.iter().filter(|b| b.time <= e.time && b.msg == msg).last();
        let lost = latest_before(format!("node '{from}': state changed from 'online' => 'unknown'"));
        let fenced = latest_before(format!("fencing: acknowledged - got agent lock for node '{from}'"));
        let started = log.iter().find(|a| a.time >= e.time && a.node == to && a.msg == format!("service '{sid}' started"));
        let mut steps = Vec::new();
        steps.extend(lost.map(|l| step("lost", l)));
        steps.extend(fenced.map(|f| step("fenced", f)));
        steps.push(step("recovery", e));
        steps.extend(started.map(|s| step("started", s)));
        out.push(Failover { sid, from, to, steps });
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uid: i64, time: i64, node: &str, msg: &str) -> ClusterLogEntry {
        ClusterLogEntry { uid, time, pri: 6, tag: "pve-ha-crm".into(), pid: 1, node: node.into(), user: "root@pam".into(), msg: msg.into(), id: format!("{uid}:{node}") }
    }

    #[test]
    fn a_recovery_is_told_from_loss_to_start() {
        let log = vec![
            entry(9, 107, "n3", "service 'vm:100' started"),
            entry(5, 100, "n2", "node 'n1': state changed from 'online' => 'unknown'"),
            entry(6, 105, "n2", "fencing: acknowledged - got agent lock for node 'n1'"),
            entry(7, 105, "n2", "recover service 'vm:100' from fenced node 'n1' to node 'n3'"),
            entry(8, 106, "n2", "service 'vm:100' started"),
            entry(1, 50, "n1", "service 'vm:100' started"),
        ];
        let all = failovers(&log);
        assert_eq!(all.len(), 1);
        let f = &all[0];
        assert_eq!((f.sid.as_str(), f.from.as_str(), f.to.as_str()), ("vm:100", "n1", "n3"));
        assert_eq!(f.steps.iter().map(|s| (s.step.as_str(), s.time, s.node.as_str())).collect::<Vec<_>>(), [("lost", 100, "n2"), ("fenced", 105, "n2"), ("recovery", 105, "n2"), ("started", 107, "n3")]);
    }

    #[test]
    fn a_start_logged_in_the_recovery_second_by_another_node_counts() {
        // n3 numbers its entries on its own: its start may sort before n2's recovery line.
        let log = vec![
            entry(40, 100, "n2", "node 'n1': state changed from 'online' => 'unknown'"),
            entry(41, 105, "n2", "fencing: acknowledged - got agent lock for node 'n1'"),
            entry(42, 105, "n2", "recover service 'vm:100' from fenced node 'n1' to node 'n3'"),
            entry(7, 105, "n3", "service 'vm:100' started"),
        ];
        let steps: Vec<String> = failovers(&log)[0].steps.iter().map(|s| s.step.clone()).collect();
        assert_eq!(steps, ["lost", "fenced", "recovery", "started"]);
    }

    #[test]
    fn other_lines_are_not_recoveries() {
        assert_eq!(recovery("recovering service 'vm:100' from fenced node 'n1' failed, no recovery node found"), None);
        assert!(failovers(&[entry(1, 1, "n1", "fencing: acknowledged - got agent lock for node 'n2'")]).is_empty());
    }
}
