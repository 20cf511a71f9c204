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

#[cfg(test)]
mod tests {
    use super::*;

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
