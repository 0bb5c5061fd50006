//! The cluster as the follower sees it: each host's role, lag and position, and the rule that
//! picks the primary among writable hosts. No I/O: the probes are `probe`'s.

/// A host's role as the last probe saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    Primary,
    Standby,
    /// Takes writes, but on an older timeline than the primary: an old primary cut off from
    /// the cluster by a partition, until its keeper demotes it. Its commits wait for standbys
    /// that no longer follow it, so it takes no requests at all.
    Superseded,
    /// No answer within a second.
    Down,
}

/// What the last probe saw of one host.
#[derive(Debug, Clone, Copy)]
pub struct NodeState {
    pub role: NodeRole,
    /// Seconds the standby's replay trails its last received WAL (0 when caught up or primary).
    pub lag_secs: f64,
    /// WAL replayed (standby) or written (primary), as a byte position (`pg_lsn - '0/0'`).
    pub lsn: u64,
    /// The timeline a writable node writes on (0 for a standby): each promotion starts a new one.
    pub timeline: i64,
}

impl NodeState {
    pub(crate) const DOWN: NodeState = NodeState {
        role: NodeRole::Down,
        lag_secs: 0.0,
        lsn: 0,
        timeline: 0,
    };
}

/// The cluster as the follower sees it, one entry per host in the order of the URL.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    pub nodes: Vec<NodeState>,
    /// The index of the host that accepts writes, if one answered the last round.
    pub primary: Option<usize>,
    /// How many times the primary has moved (a failover or switchover) since start-up.
    pub generation: u64,
    /// Probe rounds completed; a waiter knows a round saw the cluster after its failure.
    pub round: u64,
}

/// The host the primary pool should use: a writable one (the probe calls it `Primary`), the
/// newest timeline first. Two can answer during a network partition: the old primary, cut off
/// from its standbys (its commits wait for them and are never acknowledged) until its keeper
/// demotes it, and the promoted standby; the first in the list would keep the service writing
/// to the old one (failure test (e)). The other writable ones become `Superseded`.
pub(crate) fn pick_primary(seen: &mut [NodeState]) -> Option<usize> {
    let primary = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.role == NodeRole::Primary)
        // min_by_key keeps the first of equals: the host list's order breaks ties.
        .min_by_key(|(_, s)| std::cmp::Reverse(s.timeline))
        .map(|(i, _)| i)?;
    // Only an older timeline is a superseded primary: two writable hosts on the same timeline
    // are one server under two names (or a cluster this service cannot tell apart), and
    // fencing one would end the service's sessions on the primary itself.
    let newest = seen[primary].timeline;
    for (i, node) in seen.iter_mut().enumerate() {
        if i != primary && node.role == NodeRole::Primary && node.timeline < newest {
            node.role = NodeRole::Superseded;
        }
    }
    Some(primary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(role: NodeRole, timeline: i64) -> NodeState {
        NodeState {
            role,
            timeline,
            ..NodeState::DOWN
        }
    }

    #[test]
    fn the_primary_is_the_writable_node_on_the_newest_timeline() {
        use NodeRole::*;
        // One primary: wherever it is in the list.
        let mut one = [node(Standby, 0), node(Down, 0), node(Primary, 3)];
        assert_eq!(pick_primary(&mut one), Some(2));
        // A partition: the old primary (timeline 3) still answers; the promoted one (4) wins
        // and the old one takes nothing.
        let mut split = [node(Primary, 3), node(Primary, 4)];
        assert_eq!(pick_primary(&mut split), Some(1));
        assert_eq!(split[0].role, Superseded);
        // Equals (one server under two names): the list's order, and nobody is fenced.
        let mut tie = [node(Primary, 2), node(Primary, 2)];
        assert_eq!(pick_primary(&mut tie), Some(0));
        assert_eq!(tie[1].role, Primary);
        let mut none = [node(Down, 0), node(Standby, 0)];
        assert_eq!(pick_primary(&mut none), None);
    }
}
