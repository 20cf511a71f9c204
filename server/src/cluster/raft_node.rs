//! This node's Raft instance, if it is in a cluster, and the one way to change cluster
//! configuration: [`ClusterHandle::write`], which fails the way PVE does without quorum.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use corral_consensus::{AppliedKeys, Command, CommandResult, ConfigStateMachine, NodeAddr, NodeId, Raft, RaftLogStore};
use sqlx::SqlitePool;
use tokio::sync::RwLock;

use openraft::ChangeMembers;

use super::network::{node_call, PeerNetwork};
use super::node_tls::NodeTls;
use super::ClusterError;

/// How long a write may wait for the leader and a quorum before it is refused.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write waits for this node to apply it before returning (see [`ClusterHandle::write`]).
const READ_YOUR_WRITES: Duration = Duration::from_secs(2);
/// How long one forwarded write may wait for the leader's answer before trying again.
const FORWARD_ATTEMPT: Duration = Duration::from_secs(1);
/// Pause between attempts while a write waits for a leader.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

fn is_in_progress(err: &openraft::error::RaftError<NodeId, openraft::error::ClientWriteError<NodeId, NodeAddr>>) -> bool {
    matches!(
        err,
        openraft::error::RaftError::APIError(openraft::error::ClientWriteError::ChangeMembershipError(openraft::error::ChangeMembershipError::InProgress(_)))
    )
}

/// Resolves once `metrics` names a leader other than `from` (or none: an election started);
/// never, if the store stopped.
async fn leader_moved(metrics: &mut tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, NodeAddr>>, from: Option<NodeId>) {
    if metrics.wait_for(|m| m.current_leader != from).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A membership change, as the leader applies it (also the body of the `membership` node call).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum MembershipChange {
    AddLearner(NodeId, NodeAddr),
    /// Learner first (it catches up), then voter.
    AddVoter(NodeId, NodeAddr),
    Promote(NodeId),
    RemoveVoter(NodeId),
    /// Voter or learner; nothing to do if it is neither.
    RemoveNode(NodeId),
}

/// Apply `change` on the leader `raft`, waiting its turn behind other membership changes.
pub async fn apply_membership(raft: &Raft, change: &MembershipChange) -> Result<(), ClusterError> {
    /// Run `step` until no other membership change is in progress.
    async fn in_turn<T, Fut>(what: &str, step: impl Fn() -> Fut) -> Result<(), ClusterError>
    where
        Fut: std::future::Future<Output = Result<T, openraft::error::RaftError<NodeId, openraft::error::ClientWriteError<NodeId, NodeAddr>>>>,
    {
        loop {
            match step().await {
                Ok(_) => return Ok(()),
                Err(e) if is_in_progress(&e) => tokio::time::sleep(RETRY_PAUSE).await,
                Err(e) => return Err(ClusterError::Refused(format!("{what}: {e}"))),
            }
        }
    }
    async fn change_membership(raft: &Raft, members: ChangeMembers<NodeId, NodeAddr>) -> Result<(), ClusterError> {
        in_turn("changing membership", || raft.change_membership(members.clone(), false)).await
    }
    async fn add_learner(raft: &Raft, id: NodeId, addr: &NodeAddr) -> Result<(), ClusterError> {
        in_turn("adding learner", || raft.add_learner(id, addr.clone(), true)).await
    }
    match change {
        MembershipChange::AddLearner(id, addr) => add_learner(raft, *id, addr).await,
        MembershipChange::AddVoter(id, addr) => {
            add_learner(raft, *id, addr).await?;
            change_membership(raft, ChangeMembers::AddVoterIds(BTreeSet::from([*id]))).await
        }
        MembershipChange::Promote(id) => change_membership(raft, ChangeMembers::AddVoterIds(BTreeSet::from([*id]))).await,
        MembershipChange::RemoveVoter(id) => change_membership(raft, ChangeMembers::RemoveVoters(BTreeSet::from([*id]))).await,
        MembershipChange::RemoveNode(id) => {
            let membership = raft.metrics().borrow().membership_config.membership().clone();
            if membership.voter_ids().any(|v| v == *id) {
                change_membership(raft, ChangeMembers::RemoveVoters(BTreeSet::from([*id]))).await?;
            }
            let still_there = raft.metrics().borrow().membership_config.membership().nodes().any(|(n, _)| n == id);
            if still_there {
                change_membership(raft, ChangeMembers::RemoveNodes(BTreeSet::from([*id]))).await?;
            }
            Ok(())
        }
    }
}

enum Attempt {
    Retry(String),
    Final(ClusterError),
}

/// Adding a member includes copying the whole store to it.
pub const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(60);

pub struct ClusterHandle {
    db: SqlitePool,
    /// This node's cluster certificate, for every call to another member.
    tls: Arc<NodeTls>,
    raft: RwLock<Option<(NodeId, Raft)>>,
    /// Set from start-up until this member's Raft runs (see `epoch::start_store`): writes
    /// meanwhile fail as without quorum, not as "not in a cluster".
    starting: std::sync::atomic::AtomicBool,
    /// Node ids handed to joiners in phase 1, so that two joiners at once get different ones.
    reserved_ids: std::sync::Mutex<std::collections::HashMap<NodeId, std::time::Instant>>,
    /// Set while this node joins a cluster (see [`JoinGuard`]).
    joining: std::sync::atomic::AtomicBool,
    /// The keys of every change applied to this node's tree (see [`Self::subscribe_changes`]).
    changes: AppliedKeys,
    /// Since when this node has seen itself without quorum (see [`super::quorum::keep_hint`]).
    no_quorum_since: std::sync::Mutex<Option<std::time::Instant>>,
    /// When this node last took entries or a heartbeat from a leader (see
    /// [`super::quorum::election_allowed`]).
    last_append: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Held for the whole of a join on the joiner: a second join is refused meanwhile, and so are
/// changes to the standalone tree, which the cluster's is about to replace (a guest created
/// after the peer checked for guests would be lost).
pub struct JoinGuard(Arc<ClusterHandle>);

impl Drop for JoinGuard {
    fn drop(&mut self) {
        self.0.joining.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn local_node_id(db: &SqlitePool) -> sqlx::Result<Option<NodeId>> {
    let text: Option<String> = sqlx::query_scalar("SELECT value FROM local_state WHERE name = 'raft_node_id'").fetch_optional(db).await?;
    Ok(text.and_then(|t| t.parse().ok()))
}

/// Raft's timers. A follower campaigns once it has missed the leader for openraft's leader
/// lease (`election_timeout_max`) plus its own election timeout: 1.2-1.4 s, so that the
/// survivors of a leader's loss commit again within 2 s. The heartbeat interval is also
/// openraft's deadline for one append call, so batches stay small enough to meet it.
fn raft_config() -> anyhow::Result<Arc<openraft::Config>> {
    let config = openraft::Config {
        cluster_name: "corral".into(),
        heartbeat_interval: 150,
        election_timeout_min: 500,
        election_timeout_max: 700,
        max_payload_entries: 64,
        ..Default::default()
    };
    Ok(Arc::new(config.validate()?))
}

impl ClusterHandle {
    /// Open the handle. A node that was in a cluster does not start its Raft here: it first
    /// checks, through gossip, that the cluster has not moved to a newer epoch without it
    /// ([`super::epoch::start_store`] calls [`Self::resume`]).
    pub async fn open(db: SqlitePool, tls: Arc<NodeTls>) -> anyhow::Result<Arc<Self>> {
        let was_member = local_node_id(&db).await?.is_some();
        Ok(Arc::new(Self { db, tls, raft: RwLock::new(None), starting: std::sync::atomic::AtomicBool::new(was_member), reserved_ids: Default::default(), joining: Default::default(), changes: AppliedKeys::new(64), no_quorum_since: Default::default(), last_append: Default::default() }))
    }

    /// The lowest node id not in `used`, not a Raft member and not recently handed to another
    /// joiner; reserved for two minutes.
    pub async fn allocate_node_id(&self, used: &BTreeSet<NodeId>) -> NodeId {
        let members: BTreeSet<NodeId> =
            self.raft().await.map(|(_, r)| r.metrics().borrow().membership_config.membership().nodes().map(|(id, _)| *id).collect()).unwrap_or_default();
        let now = std::time::Instant::now();
        let mut reserved = self.reserved_ids.lock().unwrap_or_else(|p| p.into_inner());
        reserved.retain(|_, at| now.duration_since(*at) < Duration::from_secs(120));
        let id = (1..).find(|id| !used.contains(id) && !members.contains(id) && !reserved.contains_key(id)).unwrap_or(1);
        reserved.insert(id, now);
        id
    }

    /// The Raft node id of a member whose Raft has not been started yet.
    pub async fn pending_start(&self) -> Option<NodeId> {
        if !self.starting.load(std::sync::atomic::Ordering::SeqCst) || self.raft.read().await.is_some() {
            return None;
        }
        local_node_id(&self.db).await.ok().flatten()
    }

    /// Start this member's Raft on the store it has.
    pub async fn resume(&self, id: NodeId) -> anyhow::Result<()> {
        self.start(id).await.map(|_| ())
    }

    async fn start(&self, id: NodeId) -> anyhow::Result<Raft> {
        let network = PeerNetwork { db: self.db.clone(), tls: self.tls.clone(), reachable: Default::default() };
        let raft = Raft::new(id, raft_config()?, network, RaftLogStore::new(self.db.clone()), ConfigStateMachine::new(self.db.clone()).with_change_feed(self.changes.clone())).await?;
        *self.raft.write().await = Some((id, raft.clone()));
        self.starting.store(false, std::sync::atomic::Ordering::SeqCst);
        // A new membership (resumed, created, forced alone): what was known of quorum is stale.
        self.set_quorum_hint(None);
        Ok(raft)
    }

    /// Record what gossip says of this node's quorum (`None`: not a member, or not known).
    pub fn set_quorum_hint(&self, quorate: Option<bool>) {
        let mut since = self.no_quorum_since.lock().unwrap_or_else(|p| p.into_inner());
        match quorate {
            Some(false) => {
                since.get_or_insert_with(std::time::Instant::now);
            }
            _ => *since = None,
        }
    }

    /// Take the leader's entries or heartbeat (the `append` node call), noting when a leader was
    /// last followed. `None`: no store runs here.
    pub async fn accept_append(
        &self,
        req: openraft::raft::AppendEntriesRequest<corral_consensus::TypeConfig>,
    ) -> Option<Result<openraft::raft::AppendEntriesResponse<NodeId>, openraft::error::RaftError<NodeId>>> {
        use openraft::raft::AppendEntriesResponse as R;
        let (_, raft) = self.raft().await?;
        let answer = raft.append_entries(req).await;
        if matches!(answer, Ok(R::Success | R::PartialSuccess(_) | R::Conflict)) {
            *self.last_append.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::time::Instant::now());
        }
        Some(answer)
    }

    /// When this node last followed a leader (took its entries or heartbeat).
    pub fn last_append(&self) -> Option<std::time::Instant> {
        *self.last_append.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this node leads its Raft group.
    pub async fn is_leader(&self) -> bool {
        let Some((id, raft)) = self.raft().await else { return false };
        let leader = raft.metrics().borrow().current_leader;
        leader == Some(id)
    }

    /// Whether a majority of the Raft voters (this node counted) answer a node-channel ping
    /// within `within`, right now: the proof of reach a node needs before it may campaign
    /// (see [`super::quorum::election_allowed`]).
    pub async fn majority_answers(&self, within: Duration) -> bool {
        let Some((id, raft)) = self.raft().await else { return false };
        let membership = raft.metrics().borrow().membership_config.membership().clone();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let needed = super::quorum::needed(voters.len() as u32) as usize;
        let mut answered = usize::from(voters.contains(&id));
        if answered >= needed {
            return true;
        }
        let mut pings: futures::stream::FuturesUnordered<_> = voters
            .iter()
            .filter(|v| **v != id)
            .filter_map(|v| membership.get_node(v).cloned())
            .map(|peer| async move { node_call::<_, ()>(&self.tls, &self.db, &peer, "ping", &(), within).await.is_ok() })
            .collect();
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(Some(ok)) = tokio::time::timeout_at(deadline, futures::StreamExt::next(&mut pings)).await {
            answered += usize::from(ok);
            if answered >= needed {
                return true;
            }
        }
        false
    }

    /// This node's current Raft term.
    pub async fn term(&self) -> Option<u64> {
        let (_, raft) = self.raft().await?;
        let term = raft.metrics().borrow().current_term;
        Some(term)
    }

    /// Let this node's Raft start elections, or not (see [`super::quorum::election_allowed`]).
    pub async fn allow_elections(&self, allowed: bool) {
        if let Some((_, raft)) = self.raft().await {
            raft.runtime_config().elect(allowed);
        }
    }

    /// Whether this node has seen itself without quorum for [`super::quorum::SETTLED`].
    pub fn knows_no_quorum(&self) -> bool {
        self.no_quorum_since.lock().unwrap_or_else(|p| p.into_inner()).is_some_and(|t| t.elapsed() >= super::quorum::SETTLED)
    }

    /// The keys of each change applied to this node's copy of the tree, as it applies them
    /// (`"*"`: the whole tree was replaced). A slow receiver misses batches (`Lagged`).
    pub fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<Arc<Vec<String>>> {
        self.changes.subscribe()
    }

    /// Whether this node is joining a cluster right now.
    pub fn is_joining(&self) -> bool {
        self.joining.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Mark this node as joining a cluster until the guard is dropped.
    pub fn begin_join(self: &Arc<Self>) -> Result<JoinGuard, ClusterError> {
        if self.joining.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(ClusterError::Refused("a join is already in progress on this node".into()));
        }
        Ok(JoinGuard(self.clone()))
    }

    /// A node-to-node call to `peer`'s `/cluster/raft/<what>`.
    pub async fn call<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(&self, peer: &NodeAddr, what: &str, body: &Req, timeout: Duration) -> anyhow::Result<Resp> {
        node_call(&self.tls, &self.db, peer, what, body, timeout).await
    }

    pub fn tls(&self) -> &NodeTls {
        &self.tls
    }

    pub async fn raft(&self) -> Option<(NodeId, Raft)> {
        self.raft.read().await.clone()
    }

    /// Wait (at most `within`) until this node's state machine has applied log `index`: after
    /// that, local reads see everything committed before the write that got `index`.
    pub async fn catch_up(&self, index: u64, within: Duration) -> bool {
        let Some((_, raft)) = self.raft().await else { return index == 0 };
        let mut metrics = raft.metrics();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if metrics.borrow().last_applied.is_some_and(|l| l.index >= index) {
                return true;
            }
            if tokio::time::timeout_at(deadline, metrics.changed()).await.map(|r| r.is_err()).unwrap_or(true) {
                return false;
            }
        }
    }

    /// The leader's read index: the log index up to which everything committed is known, after
    /// the leader has confirmed with a quorum that it still leads (openraft's
    /// `ensure_linearizable`; no log entry is written). Asked of the leader by a follower.
    pub async fn read_index(&self, within: Duration) -> Result<u64, ClusterError> {
        match self.leader().await? {
            (_, None) => self.leader_read_index(within).await,
            (_, Some(leader)) => match node_call::<_, Result<u64, String>>(&self.tls, &self.db, &leader, "read-index", &(), within).await {
                Ok(Ok(index)) => Ok(index),
                Ok(Err(text)) => Err(ClusterError::Refused(format!("read index from {}: {text}", leader.name))),
                Err(err) => Err(ClusterError::Refused(format!("read index from {}: {err:#}", leader.name))),
            },
        }
    }

    /// [`Self::read_index`] on the leader itself (a follower's call is refused, never passed on).
    pub async fn leader_read_index(&self, within: Duration) -> Result<u64, ClusterError> {
        let (raft, None) = self.leader().await? else { return Err(ClusterError::NoQuorum) };
        let id = tokio::time::timeout(within, raft.ensure_linearizable()).await.map_err(|_| ClusterError::NoQuorum)?.map_err(|_| ClusterError::NoQuorum)?;
        Ok(id.map_or(0, |l| l.index))
    }

    /// A read barrier: once it returns, this node's copy of the store holds everything committed
    /// before the call.
    pub async fn read_barrier(&self, within: Duration) -> Result<(), ClusterError> {
        let index = self.read_index(within).await?;
        if self.catch_up(index, within).await {
            Ok(())
        } else {
            Err(ClusterError::NoQuorum)
        }
    }

    /// The name of the Raft leader as this node knows it.
    pub async fn leader_name(&self) -> Option<String> {
        let (_, raft) = self.raft().await?;
        let leader = raft.current_leader().await?;
        let name = raft.metrics().borrow().membership_config.membership().get_node(&leader).map(|n| n.name.clone());
        name
    }

    /// Become the first member of a new cluster with Raft node id `id`.
    pub async fn bootstrap(&self, id: NodeId, me: NodeAddr) -> Result<(), ClusterError> {
        if self.raft.read().await.is_some() {
            return Err(ClusterError::Refused("this node already runs a cluster store".into()));
        }
        sqlx::query("INSERT INTO local_state (name, value) VALUES ('raft_node_id', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
            .bind(id.to_string())
            .execute(&self.db)
            .await?;
        let raft = self.start(id).await.map_err(|e| ClusterError::Store(e.to_string()))?;
        raft.initialize(BTreeMap::from([(id, me)])).await.map_err(|e| ClusterError::Store(e.to_string()))?;
        raft.wait(Some(WRITE_TIMEOUT)).current_leader(id, "first leader").await.map_err(|_| ClusterError::NoQuorum)?;
        Ok(())
    }

    /// Start Raft as a new member that the leader will fill (join): no initialisation here.
    pub async fn start_member(&self, id: NodeId) -> Result<(), ClusterError> {
        sqlx::query("INSERT INTO local_state (name, value) VALUES ('raft_node_id', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
            .bind(id.to_string())
            .execute(&self.db)
            .await?;
        self.start(id).await.map_err(|e| ClusterError::Store(e.to_string()))?;
        Ok(())
    }

    async fn leader(&self) -> Result<(Raft, Option<NodeAddr>), ClusterError> {
        let Some((id, raft)) = self.raft().await else {
            if self.starting.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(ClusterError::NoQuorum);
            }
            return Err(ClusterError::Refused("this node is not in a cluster".into()));
        };
        let leader = raft.current_leader().await.ok_or(ClusterError::NoQuorum)?;
        if leader == id {
            return Ok((raft, None));
        }
        let node = raft.metrics().borrow().membership_config.membership().get_node(&leader).cloned();
        Ok((raft, Some(node.ok_or(ClusterError::NoQuorum)?)))
    }

    /// Commit a change through Raft, on the leader (forwarded there from a follower). While
    /// there is no leader (an election after the leader died) the write is retried; without a
    /// leader and quorum within [`WRITE_TIMEOUT`] this is PVE's "cluster not ready - no quorum?".
    /// Retrying a write whose answer was lost is safe: every attempt carries the same request
    /// id, and the state machine applies a request once and answers a retry with its result.
    pub async fn write(&self, mut command: Command) -> Result<CommandResult, ClusterError> {
        command.request.get_or_insert_with(|| uuid::Uuid::new_v4().to_string());
        let deadline = tokio::time::Instant::now() + WRITE_TIMEOUT;
        loop {
            // PVE refuses at once without quorum; waiting out the timeout helps only while a
            // quorate cluster elects a leader.
            if self.knows_no_quorum() {
                return Err(ClusterError::NoQuorum);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.try_write(&command, left)).await {
                Ok(Ok(result)) => {
                    // Read your writes, as PVE's pmxcfs gives them: once a write through this
                    // node returns, reads on this node see it (a follower applies it a moment
                    // after the leader commits).
                    if !self.catch_up(result.index, READ_YOUR_WRITES).await {
                        tracing::debug!(index = result.index, "cluster write: committed, not applied here yet");
                    }
                    return Ok(result);
                }
                Ok(Err(Attempt::Final(err))) => return Err(err),
                Ok(Err(Attempt::Retry(why))) => tracing::debug!(%why, "cluster write: retrying"),
                Err(_) => {
                    tracing::warn!("cluster write: no leader with quorum within {WRITE_TIMEOUT:?}");
                    return Err(ClusterError::NoQuorum);
                }
            }
            if tokio::time::Instant::now() + RETRY_PAUSE >= deadline {
                return Err(ClusterError::NoQuorum);
            }
            self.leader_change(RETRY_PAUSE).await;
        }
    }

    /// Wait until this node's view of the leader changes (an election started or ended), at
    /// most `within`.
    async fn leader_change(&self, within: Duration) {
        let Some((_, raft)) = self.raft().await else {
            return tokio::time::sleep(within).await;
        };
        let mut metrics = raft.metrics();
        let leader = metrics.borrow_and_update().current_leader;
        let _ = tokio::time::timeout(within, leader_moved(&mut metrics, leader)).await;
    }

    async fn try_write(&self, command: &Command, left: Duration) -> Result<CommandResult, Attempt> {
        match self.leader().await {
            Err(ClusterError::NoQuorum) => Err(Attempt::Retry("no leader known".into())),
            Err(err) => Err(Attempt::Final(err)),
            Ok((raft, None)) => raft.client_write(command.clone()).await.map(|r| r.data).map_err(|err| match err {
                openraft::error::RaftError::APIError(openraft::error::ClientWriteError::ForwardToLeader(_)) => {
                    Attempt::Retry("leadership moved".into())
                }
                err => {
                    tracing::warn!(%err, "cluster write refused");
                    Attempt::Final(ClusterError::NoQuorum)
                }
            }),
            // A leader that lost power would hold the whole budget in a TCP connect; ask again
            // as soon as this node sees an election (or after FORWARD_ATTEMPT) rather than wait
            // for it. The retry carries the same request id, so a write that did reach the old
            // leader is not applied twice.
            Ok((raft, Some(leader))) => {
                let mut metrics = raft.metrics();
                let leader_id = metrics.borrow_and_update().current_leader;
                let forward = node_call::<_, Result<CommandResult, String>>(&self.tls, &self.db, &leader, "write", command, left.min(FORWARD_ATTEMPT));
                let answer = tokio::select! {
                    answer = forward => answer,
                    _ = leader_moved(&mut metrics, leader_id) => return Err(Attempt::Retry(format!("leadership moved from {}", leader.name))),
                };
                match answer {
                    Ok(Ok(result)) => Ok(result),
                    Ok(Err(text)) if text == ClusterError::NoQuorum.to_string() => Err(Attempt::Final(ClusterError::NoQuorum)),
                    Ok(Err(text)) => Err(Attempt::Final(ClusterError::Refused(text))),
                    Err(err) => Err(Attempt::Retry(format!("forwarding to the leader {}: {err}", leader.name))),
                }
            }
        }
    }

    /// Commit a change to the configuration tree: through Raft in a cluster, straight into the
    /// local tree on a standalone node (creating a cluster carries that tree into its first
    /// entry; a joiner must have nothing in it that would be lost, see `join::precheck`).
    pub async fn write_config(&self, command: Command) -> Result<CommandResult, ClusterError> {
        let standalone = self.raft().await.is_none() && !self.starting.load(std::sync::atomic::Ordering::SeqCst) && local_node_id(&self.db).await?.is_none();
        if !standalone {
            return self.write(command).await;
        }
        if self.joining.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ClusterError::Refused("this node is joining a cluster; try again when the join has finished".into()));
        }
        let applied = ConfigStateMachine::apply_standalone(&self.db, &command).await?;
        if applied {
            let _ = self.changes.send(Arc::new(ConfigStateMachine::keys_of(&command).map(str::to_string).collect()));
        }
        Ok(CommandResult { index: 0, applied })
    }

    /// Change the Raft membership on the leader (forwarded there from a follower).
    pub async fn change_members(&self, change: MembershipChange) -> Result<(), ClusterError> {
        let work = async {
            match self.leader().await? {
                (raft, None) => apply_membership(&raft, &change).await,
                (_, Some(leader)) => node_call::<_, Result<(), String>>(&self.tls, &self.db, &leader, "membership", &change, MEMBERSHIP_TIMEOUT)
                    .await
                    .map_err(|e| ClusterError::Refused(format!("asking the leader to change the membership: {e}")))?
                    .map_err(ClusterError::Refused),
            }
        };
        tokio::time::timeout(MEMBERSHIP_TIMEOUT, work).await.unwrap_or(Err(ClusterError::NoQuorum))
    }

    /// Make `id` a voting member: the leader first brings it up to date as a learner.
    pub async fn add_member(&self, id: NodeId, addr: NodeAddr) -> Result<(), ClusterError> {
        self.change_members(MembershipChange::AddVoter(id, addr)).await
    }

    /// Add `id` as a learner (no vote, quorum unchanged); returns once it has caught up.
    pub async fn add_learner(&self, id: NodeId, addr: NodeAddr) -> Result<(), ClusterError> {
        self.change_members(MembershipChange::AddLearner(id, addr)).await
    }

    /// Make the learner `id` a voter.
    pub async fn promote(&self, id: NodeId) -> Result<(), ClusterError> {
        self.change_members(MembershipChange::Promote(id)).await
    }

    /// Remove a voting member.
    pub async fn remove_member(&self, id: NodeId) -> Result<(), ClusterError> {
        self.change_members(MembershipChange::RemoveVoter(id)).await
    }

    /// Take `id` out of the membership whatever it is (voter, learner, or already gone).
    pub async fn remove_node(&self, id: NodeId) -> Result<(), ClusterError> {
        self.change_members(MembershipChange::RemoveNode(id)).await
    }

    /// The unsafe recovery behind `expected`: throw away this node's Raft log and membership
    /// (keeping the configuration it has) and start a new group with this node as its only
    /// voter. The caller bumps the cluster epoch right after.
    pub async fn restart_alone(&self, id: NodeId, me: NodeAddr) -> Result<(), ClusterError> {
        self.reset_raft().await?;
        let raft = self.start(id).await.map_err(|e| ClusterError::Store(e.to_string()))?;
        raft.initialize(BTreeMap::from([(id, me)])).await.map_err(|e| ClusterError::Store(e.to_string()))?;
        raft.wait(Some(WRITE_TIMEOUT)).current_leader(id, "leader of the new epoch").await.map_err(|_| ClusterError::NoQuorum)?;
        Ok(())
    }

    /// Snapshot the whole store and drop the log before it, so that members added later receive
    /// the snapshot (the complete configuration) rather than a log that starts mid-history.
    pub async fn compact(&self) -> Result<(), ClusterError> {
        let (_, raft) = self.raft().await.ok_or_else(|| ClusterError::Refused("this node is not in a cluster".into()))?;
        let Some(applied) = raft.metrics().borrow().last_applied else { return Ok(()) };
        let store_err = |e: &dyn std::fmt::Display| ClusterError::Store(e.to_string());
        raft.trigger().snapshot().await.map_err(|e| store_err(&e))?;
        raft.wait(Some(WRITE_TIMEOUT))
            .metrics(|m| m.snapshot.is_some_and(|s| s.index >= applied.index), "snapshot of the new epoch")
            .await
            .map_err(|e| store_err(&e))?;
        raft.trigger().purge_log(applied.index).await.map_err(|e| store_err(&e))?;
        raft.wait(Some(WRITE_TIMEOUT))
            .metrics(|m| m.purged.is_some_and(|p| p.index >= applied.index), "log purged up to the snapshot")
            .await
            .map_err(|e| store_err(&e))?;
        Ok(())
    }

    /// Names of the Raft voters: whose votes count towards quorum.
    pub async fn voters(&self) -> Option<BTreeSet<String>> {
        let (_, raft) = self.raft().await?;
        let metrics = raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let names = membership.voter_ids().filter_map(|id| membership.get_node(&id).map(|n| n.name.clone())).collect();
        Some(names)
    }

    /// Restart this member's Raft if it stopped on a fatal error (openraft stops for good on a
    /// storage error, e.g. a full disk); the store on disk is consistent, so it picks up again.
    /// A store that keeps failing is restarted less and less often (2 s doubling to a minute;
    /// back to 2 s once it has run for a minute), and each restart is reported on `report`
    /// (the daemon writes it to the cluster log).
    pub async fn watchdog(self: Arc<Self>, report: tokio::sync::mpsc::UnboundedSender<String>) {
        const FIRST: Duration = Duration::from_secs(2);
        const LONGEST: Duration = Duration::from_secs(60);
        let mut wait = FIRST;
        let mut restarted_at: Option<std::time::Instant> = None;
        loop {
            tokio::time::sleep(FIRST).await;
            let Some((id, raft)) = self.raft().await else { continue };
            let fatal = raft.metrics().borrow().running_state.clone().err();
            let Some(fatal) = fatal else {
                if restarted_at.is_some_and(|at| at.elapsed() >= LONGEST) {
                    wait = FIRST;
                    restarted_at = None;
                }
                continue;
            };
            if restarted_at.is_some_and(|at| at.elapsed() < LONGEST) {
                wait = (wait * 2).min(LONGEST);
            }
            tracing::error!(%fatal, "configuration store stopped; restarting it in {} s", wait.as_secs());
            let _ = report.send(format!("configuration store stopped on an error ({fatal}); restarting it in {} s", wait.as_secs()));
            let _ = raft.shutdown().await;
            tokio::time::sleep(wait).await;
            let mut slot = self.raft.write().await;
            // Unless something else replaced it meanwhile (resync, expected).
            if slot.as_ref().is_some_and(|(_, current)| current.metrics().borrow().running_state.is_err()) {
                *slot = None;
                drop(slot);
                restarted_at = Some(std::time::Instant::now());
                if let Err(err) = self.start(id).await {
                    tracing::error!("restarting the configuration store failed: {err:#}");
                    let _ = report.send(format!("restarting the configuration store failed: {err:#}"));
                }
            }
        }
    }

    /// Stop Raft and forget its log and membership, keeping the configuration tree readable
    /// until a snapshot from the cluster replaces it (resync).
    /// One transaction: a crash leaves either the old Raft state or none, never a log without
    /// its vote or a vote without its log.
    pub async fn reset_raft(&self) -> Result<(), ClusterError> {
        self.shutdown().await;
        self.forget(&["raft_log", "raft_meta", "raft_snapshot"], false).await
    }

    /// Undo a join that did not finish: stop Raft and forget the store's contents (one
    /// transaction).
    pub async fn abandon(&self) {
        self.shutdown().await;
        if let Err(err) = self.forget(&["raft_log", "raft_meta", "raft_snapshot", "config_kv"], true).await {
            tracing::warn!(%err, "forgetting the unfinished join's store failed");
        }
        self.tls.remove();
    }

    async fn forget(&self, tables: &[&str], node_id_too: bool) -> Result<(), ClusterError> {
        let mut tx = self.db.begin_with("BEGIN IMMEDIATE").await?;
        for table in tables {
            sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *tx).await?;
        }
        if node_id_too {
            sqlx::query("DELETE FROM local_state WHERE name = 'raft_node_id'").execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn shutdown(&self) {
        if let Some((_, raft)) = self.raft.write().await.take() {
            let _ = raft.shutdown().await;
        }
    }
}
