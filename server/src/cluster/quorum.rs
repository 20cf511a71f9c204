//! Vote arithmetic (corosync votequorum): quorate ⇔ present votes ≥ ⌊expected/2⌋ + 1.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
pub const SETTLED: Duration = Duration::from_secs(3);

/// How long a node that has not followed a leader since it regained quorum keeps out of
/// elections while gossip still hears the leader: time for the leader (which retries an
/// unreachable follower every 500 ms) to reach it first.
pub const ELECTION_SETTLE: Duration = Duration::from_secs(2);
/// Missing heartbeats for this long (three intervals) make a follower check its reach.
const LEADER_SUSPECT: Duration = Duration::from_millis(450);
/// How long a reach check may take, and how long its success lets the node campaign.
const REACH_CHECK: Duration = Duration::from_millis(250);
const REACH_FRESH: Duration = Duration::from_millis(400);
/// How often the gate is decided. Openraft campaigns 1.2 s after the last heartbeat at the
/// earliest; the gate has closed well before that on a node cut off at that heartbeat.
const GATE_EVERY: Duration = Duration::from_millis(100);

/// What this node knows when deciding whether its Raft may campaign.
#[derive(Debug, Clone, Copy, Default)]
pub struct ElectionView {
    /// What gossip says of this node's quorum (`None`: not a member, or not known).
    pub quorate: Option<bool>,
    /// How long it has been quorate without a break.
    pub quorate_for: Duration,
    /// Whether it took a leader's entries or heartbeat since it regained quorum.
    pub followed_since_quorate: bool,
    /// Whether gossip hears the leader this node last knew.
    pub leader_heard: bool,
    /// Whether this node is the only voter (nobody to depose).
    pub sole_voter: bool,
    /// Whether a majority of the voters answered this node's ping since the leader's
    /// heartbeats stopped, within the last [`REACH_FRESH`].
    pub majority_reached: bool,
}

/// Whether this node may start a Raft election; openraft's timers then decide when. This is
/// the pre-vote openraft 0.9 lacks, from what gossip, the Raft traffic and a ping show:
/// - never without quorum in gossip's view, nor without a majority answering a ping sent after
///   the leader's heartbeats stopped: a node cut off does not raise its term (gossip takes 2 s
///   to see the cut; the ping fails at once), so on its return it cannot depose the leader;
/// - a follower that has taken the leader's heartbeats since it last had quorum then campaigns
///   on openraft's timers, without waiting for gossip to declare the leader dead;
/// - a node back from a cut (or a restart) that has not heard the leader's Raft yet waits
///   while gossip hears the leader, and [`ELECTION_SETTLE`] in any case.
pub fn election_allowed(view: &ElectionView) -> bool {
    match view.quorate {
        None => true,
        Some(false) => false,
        Some(true) if view.sole_voter => true,
        Some(true) => view.majority_reached && (view.followed_since_quorate || (!view.leader_heard && view.quorate_for >= ELECTION_SETTLE)),
    }
}

/// Keep the store's quorum hint and election gate current (every [`GATE_EVERY`]): what gossip
/// and the vote arithmetic say about this node's quorum (writes use it only to stop waiting for
/// a leader that cannot come), and whether this node may campaign.
pub async fn keep_hint(db: sqlx::SqlitePool, cluster: Arc<super::ClusterHandle>, liveness: Arc<super::liveness::Liveness>, me: String) {
    let mut tick = tokio::time::interval(GATE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut quorate_since: Option<Instant> = None;
    let mut reached_at: Option<Instant> = None;
    loop {
        tick.tick().await;
        let online = liveness.online(&me);
        let voters = cluster.voters().await;
        let quorate = match ClusterConfig::load(&db).await {
            Ok(Some(config)) if cluster.raft().await.is_some() => Some(config_is_quorate(&config, voters.as_ref(), &online)),
            _ => None,
        };
        cluster.set_quorum_hint(quorate);
        let now = Instant::now();
        quorate_since = if quorate == Some(true) { Some(quorate_since.unwrap_or(now)) } else { None };
        let sole_voter = voters.is_some_and(|v| v.len() == 1 && v.contains(&me));
        let leader_silent = cluster.last_append().is_none_or(|at| at.elapsed() >= LEADER_SUSPECT);
        if quorate == Some(true) && !sole_voter && leader_silent && !cluster.is_leader().await {
            if cluster.majority_answers(REACH_CHECK).await {
                reached_at = Some(Instant::now());
            }
        } else {
            reached_at = None;
        }
        let view = ElectionView {
            quorate,
            quorate_for: quorate_since.map_or(Duration::ZERO, |since| now - since),
            followed_since_quorate: quorate_since.zip(cluster.last_append()).is_some_and(|(since, append)| append >= since),
            leader_heard: cluster.leader_name().await.is_some_and(|l| l != me && online.contains(&l)),
            sole_voter,
            majority_reached: reached_at.is_some_and(|at| at.elapsed() < REACH_FRESH),
        };
        cluster.allow_elections(election_allowed(&view)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elections_need_quorum_a_reached_majority_and_a_followed_leader_or_a_settled_silence() {
        let settled = ElectionView { quorate: Some(true), quorate_for: ELECTION_SETTLE, majority_reached: true, ..Default::default() };
        assert!(election_allowed(&settled), "quorate a while, the leader gone: elect");
        assert!(!election_allowed(&ElectionView { leader_heard: true, ..settled }), "back from a cut, the leader still answers gossip: wait for its heartbeat");
        assert!(!election_allowed(&ElectionView { quorate_for: ELECTION_SETTLE / 2, ..settled }), "just back: give the leader time to reach this node");
        let follower = ElectionView { followed_since_quorate: true, leader_heard: true, quorate_for: Duration::ZERO, ..settled };
        assert!(election_allowed(&follower), "a follower of the majority campaigns on Raft's timers, before gossip declares the leader dead");
        assert!(!election_allowed(&ElectionView { majority_reached: false, ..follower }), "just cut off, gossip not aware yet: the ping decides");
        assert!(!election_allowed(&ElectionView { quorate: Some(false), ..follower }), "cut off: never raise the term");
        assert!(election_allowed(&ElectionView { sole_voter: true, leader_heard: true, majority_reached: false, quorate_for: Duration::ZERO, ..settled }));
        assert!(election_allowed(&ElectionView::default()), "not a member yet");
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
