//! Vote arithmetic (corosync votequorum): quorate ⇔ present votes ≥ ⌊expected/2⌋ + 1.

use std::collections::BTreeSet;

use super::ClusterConfig;

pub fn needed(expected: u32) -> u32 {
    expected / 2 + 1
}

pub fn is_quorate(present: u32, expected: u32) -> bool {
    expected == 0 || present >= needed(expected)
}

/// Expected votes: the votes of the configured nodes that are Raft voters (all of them, except
/// after `expected` forced the membership down and before the others resynced). Without a
/// known voter set, every configured node counts.
pub fn expected_votes(config: &ClusterConfig, voters: Option<&BTreeSet<String>>) -> u32 {
    config.nodes.iter().filter(|n| voters.is_none_or(|v| v.contains(&n.name))).map(|n| n.votes).sum()
}

/// Whether the voters in `online` hold a majority of the expected votes.
pub fn config_is_quorate(config: &ClusterConfig, voters: Option<&BTreeSet<String>>, online: &BTreeSet<String>) -> bool {
    let present = config.nodes.iter().filter(|n| online.contains(&n.name) && voters.is_none_or(|v| v.contains(&n.name))).map(|n| n.votes).sum();
    is_quorate(present, expected_votes(config, voters))
}

/// How long this node must have seen itself without quorum before its writes stop waiting for
/// one: longer than gossip takes to see a joiner or a returning peer, so a fresh member's view
/// (config known, peers not heard yet) never refuses a write Raft could commit.
pub const SETTLED: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether this node may start a Raft election: only while gossip shows it a quorum and does
/// not hear the current leader. A node cut off from the others thus never raises its term (its
/// gossip loses the leader and the quorum together), so on its return it cannot depose the
/// working leader — the pre-vote openraft 0.9 lacks. Unknown (not a member yet): allowed.
pub fn election_allowed(quorate: Option<bool>, leader_heard: bool) -> bool {
    match quorate {
        None => true,
        Some(quorate) => quorate && !leader_heard,
    }
}

/// Keep the store's quorum hint and election gate current (every 250 ms): what gossip and the vote arithmetic say
/// about this node's quorum. Writes use it only to stop waiting for a leader that cannot come.
pub async fn keep_hint(db: sqlx::SqlitePool, cluster: std::sync::Arc<super::ClusterHandle>, liveness: std::sync::Arc<super::liveness::Liveness>, me: String) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let online = liveness.online(&me);
        let quorate = match ClusterConfig::load(&db).await {
            Ok(Some(config)) if cluster.raft().await.is_some() => Some(config_is_quorate(&config, cluster.voters().await.as_ref(), &online)),
            _ => None,
        };
        cluster.set_quorum_hint(quorate);
        let leader_heard = cluster.leader_name().await.is_some_and(|l| l != me && online.contains(&l));
        cluster.allow_elections(election_allowed(quorate, leader_heard)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elections_only_with_quorum_and_without_a_leader_to_hear() {
        assert!(election_allowed(Some(true), false), "the leader is gone: elect");
        assert!(!election_allowed(Some(true), true), "the leader still answers gossip: wait");
        assert!(!election_allowed(Some(false), false), "cut off: never raise the term");
        assert!(election_allowed(None, false));
    }

    #[test]
    fn majority_of_expected_votes() {
        assert!(is_quorate(1, 1));
        assert!(!is_quorate(1, 2));
        assert!(is_quorate(2, 3));
        assert!(!is_quorate(1, 3));
        assert!(is_quorate(3, 4));
        assert!(!is_quorate(2, 4));
        assert_eq!(needed(5), 3);
    }
}
