//! The raft thread: one dedicated OS thread that owns the [`RawNode`] and
//! its disk storage, ticks it, feeds it proposals, reads and peer messages,
//! and carries out each `Ready` — send, persist, apply, advance — in the
//! order the raft core documents.
//!
//! Owns: the node, the WAL and snapshot files (through [`DiskStorage`]),
//! applying committed entries in order (decoding them, conf changes, the
//! store's write groups; what a request does is `apply.rs`'s), and local
//! snapshots. Must
//! never: run on a tokio worker or await anything (its file I/O blocks, by
//! design, here and only here); answer a proposal before its entry is
//! applied.
//!
//! # One Ready, step by step
//! 1. Publish the soft state (leader, role).
//! 2. Send `messages` to peers — before persisting: a leader's appends go
//!    out while its own WAL write runs, as in etcd.
//! 3. Persist snapshot, entries and hard state with one fdatasync.
//! 4. Install a received snapshot into the store.
//! 5. Send `persisted_messages` (votes, append acks): only now are the
//!    promises they make on disk.
//! 6. Release read batches whose read index arrived.
//! 7. Apply committed entries under one store write lock, then answer their
//!    proposers and publish the applied index.
//! 8. `advance()`, and take a snapshot every `snapshot_count` entries.
//!
//! # Restarts
//! Raft starts from the last snapshot (`applied` = snapshot index) and
//! hands out every committed entry after it again. Conf changes among them
//! are re-applied to raft (raft's membership is rebuilt that way); entries
//! the store already holds (its consistent index) are skipped there.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use cairn_proto::etcdserverpb::{Member, ResponseHeader};
use cairn_proto::mvccpb::Event;
use cairn_proto::nesting;
use prost::Message as _;

use super::apply::{Appliers, apply_request};
use super::state::{Input, Outcome, Shared};
use crate::etcd_error::EtcdError;
use crate::lease::Lessor;
use crate::mvcc::{EntryId, MvccStore};
use crate::raft::{
    ConfChange, ConfChangeType, Entry, EntryType, Message, NodeId, RawNode, Snapshot, StateRole,
};
use crate::raft_storage::DiskStorage;

/// Where the raft thread's outgoing traffic goes: the peer transport.
pub trait Outbox: Send + Sync {
    /// Sends raft messages; never blocks (drops and reports instead).
    fn send(&self, msgs: Vec<Message>);
    /// A member joined (or the server learned its addresses).
    fn add_peer(&self, id: NodeId, urls: Vec<String>);
    /// A member left.
    fn remove_peer(&self, id: NodeId);
}

/// Tunables of the raft thread.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// One raft tick (etcd's --heartbeat-interval).
    pub tick: Duration,
    /// Applied entries between local snapshots (etcd's --snapshot-count).
    pub snapshot_count: u64,
    /// An apply batch slower than this is logged as slow.
    pub slow_apply: Duration,
    /// A WAL write slower than this is logged as slow.
    pub slow_fsync: Duration,
    /// Added to every lease's TTL when this member becomes leader, so no
    /// lease expires because of the election (etcd does the same).
    pub election_timeout: Duration,
}

/// The raft thread's state.
pub struct NodeLoop {
    node: RawNode<DiskStorage>,
    shared: Arc<Shared>,
    inputs: Receiver<Input>,
    outbox: Arc<dyn Outbox>,
    opts: NodeOptions,
    last_snapshot: u64,
    /// When the store's size was last published for the quota check.
    size_published: Instant,
    /// The open write group: when it opened and how many entries it holds.
    group: Option<(Instant, usize)>,
    leader: NodeId,
    is_leader: bool,
    /// Membership changes this member proposed, by (kind, member), with
    /// the id of the caller waiting for each. Raft takes one change at a
    /// time, so this stays short; callers whose change was lost with a
    /// leader time out, and their entries are pushed out by later ones.
    pending_changes: Vec<(ConfChangeType, NodeId, u64)>,
    /// This member applied its own removal: it must stop.
    removed: bool,
}

/// Why the raft thread ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Asked to ([`Input::Shutdown`]), or every sender is gone.
    Shutdown,
    /// The cluster removed this member; like etcd, it stops for good.
    Removed,
}

/// How long applied entries may stay in the store's write group before they
/// go down to the backend as one batch, and how many may gather there. sled
/// pays a log write and a wake-up of its I/O pool per batch; one batch per
/// tenth of a second (etcd's backend batch interval) instead of one per
/// Ready takes that cost off every write. The WAL holds whatever a crash
/// loses from the group.
const GROUP_SPAN: Duration = Duration::from_millis(100);
const GROUP_ENTRIES: usize = 10_000;

/// Most membership changes remembered as waiting for their apply.
const MAX_PENDING_CHANGES: usize = 8;

/// A learner is promoted only once its log holds this share of the
/// leader's (etcd's readiness rule).
const LEARNER_READY: f64 = 0.9;

impl std::fmt::Debug for NodeLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeLoop")
            .field("member", &self.shared.member_id)
            .finish_non_exhaustive()
    }
}

/// At most this many inputs are taken before the next Ready is handled, so
/// a flood of proposals still gets ticks and persistence in between.
const MAX_INPUTS_PER_ROUND: usize = 4096;

impl NodeLoop {
    pub fn new(
        node: RawNode<DiskStorage>,
        shared: Arc<Shared>,
        inputs: Receiver<Input>,
        outbox: Arc<dyn Outbox>,
        opts: NodeOptions,
    ) -> NodeLoop {
        let last_snapshot = node.raft.log.first_index() - 1;
        NodeLoop {
            node,
            shared,
            inputs,
            outbox,
            opts,
            last_snapshot,
            size_published: Instant::now(),
            group: None,
            leader: 0,
            is_leader: false,
            pending_changes: Vec::new(),
            removed: false,
        }
    }

    /// Runs until [`Input::Shutdown`] or until every sender is gone. An
    /// error means the member cannot go on safely (disk failure, corrupt
    /// store): the caller must stop the process.
    pub fn run(mut self) -> anyhow::Result<Ended> {
        let result = self.run_inner();
        self.shared.fail_all(EtcdError::Stopped);
        // Whatever was applied becomes durable; the WAL covers the rest.
        self.shared.write_store().force_commit()?;
        result
    }

    fn run_inner(&mut self) -> anyhow::Result<Ended> {
        // Entries committed before a restart (and a new cluster's founding
        // conf changes) are applied first: raft refuses to campaign while
        // conf changes are pending.
        self.drive()?;
        self.publish_learner();
        let voters = self.node.raft.prs.conf_state().voters;
        if voters == [self.shared.member_id] {
            // Alone in the cluster: no one to wait for, lead at once.
            self.node.campaign()?;
        }
        let mut next_tick = Instant::now() + self.opts.tick;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match self.inputs.recv_timeout(wait) {
                Ok(Input::Shutdown) => return Ok(Ended::Shutdown),
                Ok(input) => self.handle(input),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(Ended::Shutdown),
            }
            for _ in 0..MAX_INPUTS_PER_ROUND {
                match self.inputs.try_recv() {
                    Ok(Input::Shutdown) => return Ok(Ended::Shutdown),
                    Ok(input) => self.handle(input),
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                self.node.tick();
                next_tick = now + self.opts.tick;
            }
            self.drive()?;
            self.between_readies()?;
            if self.removed {
                tracing::warn!("this member was removed from the cluster; stopping");
                // Time for the answer to a member removing itself to go
                // out (etcd waits the same ten ticks).
                std::thread::sleep(self.opts.tick * 10);
                return Ok(Ended::Removed);
            }
        }
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Propose { id, data } => {
                if self.node.propose(data).is_err() {
                    self.shared.finish(id, Err(EtcdError::NoLeader));
                }
            }
            Input::ReadIndex { ctx } => {
                if self
                    .node
                    .read_index(read_context(self.shared.member_id, ctx))
                    .is_err()
                {
                    self.shared.finish_read(ctx, Err(EtcdError::NoLeader));
                }
            }
            Input::Step(m) => {
                // Messages from unknown members or stale terms are refused
                // by raft itself; nothing to do with the error.
                let _ = self.node.step(m);
            }
            Input::Unreachable(id) => self.node.report_unreachable(id),
            Input::SnapshotStatus { to, failed } => self.node.report_snapshot(to, failed),
            Input::ProposeConfChange { id, cc } => self.propose_change(id, cc),
            Input::PromoteLearner { id, learner } => match self.learner_ready(learner) {
                Ok(()) => self.propose_change(
                    id,
                    ConfChange {
                        change_type: ConfChangeType::AddNode,
                        node_id: learner,
                        context: Bytes::new(),
                    },
                ),
                Err(e) => self.shared.finish(id, Err(e)),
            },
            Input::RemovedFromCluster => self.removed = true,
            Input::TransferLeader(to) => self.node.transfer_leader(to),
            Input::Shutdown => {}
        }
    }

    /// Publishes whether this member is a learner (for Status, and for
    /// refusing what learners do not serve).
    fn publish_learner(&self) {
        let raft = &self.node.raft;
        self.shared
            .raft
            .is_learner
            .store(raft.prs.learners.contains(&raft.id), Ordering::Relaxed);
    }

    /// Proposes a membership change and remembers who waits for it.
    fn propose_change(&mut self, id: u64, cc: ConfChange) {
        let key = (cc.change_type, cc.node_id);
        match self.node.propose_conf_change(&cc) {
            Ok(()) => {
                if self.pending_changes.len() == MAX_PENDING_CHANGES {
                    self.pending_changes.remove(0);
                }
                self.pending_changes.push((key.0, key.1, id));
            }
            // Another change is still on its way: etcd's callers see a
            // timeout then, as raft drops the second change.
            Err(crate::raft::Error::ConfChangePending) => {
                self.shared.finish(id, Err(EtcdError::Timeout));
            }
            Err(_) => self.shared.finish(id, Err(EtcdError::NoLeader)),
        }
    }

    /// Whether `learner` may be promoted now: this member leads, and the
    /// learner has most of the leader's log.
    fn learner_ready(&self, learner: NodeId) -> Result<(), EtcdError> {
        let raft = &self.node.raft;
        if raft.state != StateRole::Leader {
            return Err(EtcdError::NotLeader);
        }
        let prs = &raft.prs;
        if !prs.learners.contains(&learner) {
            return Err(EtcdError::MemberNotLearner);
        }
        let leader_match = prs.progress.get(&raft.id).map_or(0, |p| p.matched);
        let learner_match = prs.progress.get(&learner).map_or(0, |p| p.matched);
        if (learner_match as f64) < (leader_match as f64) * LEARNER_READY {
            return Err(EtcdError::LearnerNotReady);
        }
        Ok(())
    }

    /// Carries out Readys until raft has nothing more to do.
    fn drive(&mut self) -> anyhow::Result<()> {
        while self.node.has_ready() {
            let rd = self.node.ready();
            if let Some(ss) = rd.soft_state {
                self.on_soft_state(ss.leader_id, ss.role);
            }
            if !rd.messages.is_empty() {
                let messages = self.attach_snapshot_data(rd.messages)?;
                self.outbox.send(messages);
            }
            let started = Instant::now();
            fail::fail_point!("raft::before-persist");
            // A disk that refuses writes: the raft thread fails, and the
            // member must stop (tests/poison_entry.rs).
            fail::fail_point!("raft::persist-fails", |_| Err(anyhow::anyhow!(
                "persisting raft state: the raft::persist-fails fail point"
            )));
            self.node
                .store_mut()
                .persist(
                    rd.snapshot.as_ref(),
                    &rd.entries,
                    rd.hard_state,
                    rd.must_sync,
                )
                .context("persisting raft state")?;
            fail::fail_point!("raft::after-persist");
            let took = started.elapsed();
            if took > self.opts.slow_fsync {
                tracing::warn!(
                    took_ms = took.as_millis() as u64,
                    entries = rd.entries.len(),
                    "slow WAL write"
                );
            }
            if let Some(hs) = rd.hard_state {
                self.shared.raft.term.store(hs.term, Ordering::Relaxed);
                self.shared.raft.commit.store(hs.commit, Ordering::Relaxed);
            }
            if let Some(snapshot) = &rd.snapshot {
                self.install_snapshot(snapshot)?;
            }
            if !rd.persisted_messages.is_empty() {
                self.outbox.send(rd.persisted_messages);
            }
            for rs in rd.read_states {
                if let Some(ctx) = our_read(self.shared.member_id, &rs.request_ctx) {
                    self.shared.finish_read(ctx, Ok(rs.index));
                }
            }
            if !rd.committed_entries.is_empty() {
                fail::fail_point!("raft::before-apply");
                self.apply(&rd.committed_entries)?;
            }
            self.node.advance();
            self.maybe_snapshot()?;
        }
        Ok(())
    }

    fn on_soft_state(&mut self, leader: NodeId, role: StateRole) {
        let is_leader = role == StateRole::Leader;
        if leader != self.leader {
            if leader != 0 {
                self.shared
                    .metrics
                    .leader_changes
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    leader = format_args!("{leader:x}"),
                    term = self.node.raft.term,
                    "leader elected"
                );
            } else {
                tracing::warn!(
                    previous = format_args!("{:x}", self.leader),
                    term = self.node.raft.term,
                    "leader lost"
                );
            }
            self.leader = leader;
        }
        if is_leader != self.is_leader {
            let mut lessor = self.shared.lock_lessor();
            if is_leader {
                lessor.promote(Instant::now(), self.opts.election_timeout);
            } else {
                lessor.demote();
            }
            self.is_leader = is_leader;
        }
        self.shared.set_leader(leader, is_leader);
        self.shared
            .raft
            .term
            .store(self.node.raft.term, Ordering::Relaxed);
    }

    /// Replaces the store's contents with a snapshot received from the
    /// leader (raft has already persisted it).
    fn install_snapshot(&mut self, snapshot: &Snapshot) -> anyhow::Result<()> {
        let index = snapshot.metadata.index;
        if snapshot.data.is_empty() {
            anyhow::bail!("received a snapshot at index {index} without data");
        }
        tracing::info!(index, term = snapshot.metadata.term, "installing snapshot");
        fail::fail_point!("snapshot::apply");
        let members = {
            let mut store = self.shared.write_store();
            end_group(&mut self.group, &mut store)?;
            store
                .restore(&snapshot.data)
                .context("restoring the store from a snapshot")?;
            let mut lessor = self.shared.lock_lessor();
            lessor.rebuild(&store).context("rebuilding leases")?;
            if self.is_leader {
                lessor.promote(Instant::now(), self.opts.election_timeout);
            }
            self.shared.publish_auth(store.auth());
            store.members().context("reading members")?
        };
        for m in members {
            if m.id != self.shared.member_id {
                self.outbox.add_peer(m.id, m.peer_ur_ls.clone());
            }
        }
        self.shared.hub.store_restored();
        self.publish_learner();
        self.last_snapshot = index;
        let applied = self.shared.read_store().applied().index;
        self.shared.set_applied(applied.max(index));
        Ok(())
    }

    /// Applies committed entries under one store write lock, then answers
    /// their proposers.
    fn apply(&mut self, entries: &[Entry]) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut answers: Vec<(u64, Result<Outcome, EtcdError>)> = Vec::new();
        let mut events: Vec<Event> = Vec::new();
        let shared = Arc::clone(&self.shared);
        let mut store = shared.write_store();
        let mut lessor = shared.lock_lessor();
        // Entries reach the backend in groups of many Readies: see GROUP_SPAN.
        let (opened, grouped) = *self.group.get_or_insert_with(|| {
            store.begin_group();
            (Instant::now(), 0)
        });
        let applying =
            self.apply_entries(&mut store, &mut lessor, entries, &mut answers, &mut events);
        if let Err(e) = applying {
            // Half an entry must never become durable; the member stops,
            // and the WAL still holds the rest of the group.
            store.discard_group();
            self.group = None;
            return Err(e);
        }
        self.group = Some((opened, grouped + entries.len()));
        if group_due(self.group) {
            end_group(&mut self.group, &mut store)?;
        }
        let applied = store
            .applied()
            .index
            .max(entries.last().map_or(0, |e| e.index));
        // sled's size costs an fstat and a readdir: publish it at most
        // every SIZE_REFRESH, not after every Ready.
        if self.size_published.elapsed() >= SIZE_REFRESH {
            let size = store.size_on_disk().context("reading the store's size")?;
            self.shared
                .metrics
                .db_size_bytes
                .store(size, Ordering::Relaxed);
            self.size_published = Instant::now();
        }
        drop(lessor);
        self.shared.publish_auth(store.auth());
        drop(store);
        if !events.is_empty() {
            self.shared.hub.notify(&events);
        }
        self.shared.set_applied(applied);
        self.shared
            .metrics
            .proposals_applied
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        for (id, outcome) in answers {
            self.shared.finish(id, outcome);
        }
        let took = started.elapsed();
        if took > self.opts.slow_apply {
            self.shared
                .metrics
                .slow_applies
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                took_ms = took.as_millis() as u64,
                entries = entries.len(),
                "slow apply"
            );
        }
        Ok(())
    }

    /// Applies `entries` to the store and the lessor, collecting the
    /// proposers' answers and the watch events.
    fn apply_entries(
        &mut self,
        store: &mut MvccStore,
        lessor: &mut Lessor,
        entries: &[Entry],
        answers: &mut Vec<(u64, Result<Outcome, EtcdError>)>,
        events: &mut Vec<Event>,
    ) -> anyhow::Result<()> {
        for e in entries {
            let at = EntryId {
                index: e.index,
                term: e.term,
            };
            match e.entry_type {
                EntryType::ConfChange => {
                    let cc = ConfChange::decode(&e.data).context("undecodable conf change")?;
                    self.node.apply_conf_change(&cc);
                    // Only a conf change (or a snapshot) makes or ends a learner.
                    self.publish_learner();
                    if !store.is_applied(e.index) {
                        self.apply_conf_change(store, &cc, at)?;
                    }
                    let key = (cc.change_type, cc.node_id);
                    if let Some(at) = self
                        .pending_changes
                        .iter()
                        .position(|&(t, n, _)| (t, n) == key)
                    {
                        let (_, _, id) = self.pending_changes.remove(at);
                        answers.push((id, Ok(Outcome::Done)));
                    }
                }
                EntryType::Normal if store.is_applied(e.index) => {}
                EntryType::Normal if e.data.is_empty() => store.mark_applied(at)?,
                EntryType::Normal => match nesting::decode_request(e.data.clone()) {
                    Ok(req) => {
                        let id = req.id;
                        let appliers = Appliers {
                            store,
                            lessor,
                            tokens: &self.shared.tokens,
                        };
                        let outcome = apply_request(appliers, req, at, events)?;
                        if id != 0 {
                            answers.push((id, outcome));
                        }
                    }
                    Err(error) => self.skip_undecodable(store, at, &error)?,
                },
            }
        }
        Ok(())
    }

    /// A committed entry that does not decode is applied as a no-op. The
    /// proposal checks make this impossible for anything a client sends
    /// (every accepted request decodes back: `cairn_proto::nesting`), so
    /// reaching here means a bug. Decoding depends only on the entry's
    /// bytes, so every member running this version reaches the same
    /// verdict and skips the same entry: the stores stay equal, and one
    /// bad entry cannot stop every member on every restart, as stopping
    /// would. Its proposer is not answered and times out; nothing it asked
    /// for happened. docs/operations.md tells operators what to do.
    fn skip_undecodable(
        &self,
        store: &mut MvccStore,
        at: EntryId,
        error: &nesting::NestingError,
    ) -> anyhow::Result<()> {
        self.shared
            .metrics
            .undecodable_entries
            .fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            index = at.index,
            term = at.term,
            error = %error,
            "a committed entry does not decode; applying it as a no-op"
        );
        store.mark_applied(at)?;
        Ok(())
    }

    fn apply_conf_change(
        &mut self,
        store: &mut MvccStore,
        cc: &ConfChange,
        at: EntryId,
    ) -> anyhow::Result<()> {
        match cc.change_type {
            ConfChangeType::AddNode
            | ConfChangeType::AddLearnerNode
            | ConfChangeType::UpdateNode => {
                let mut member = if cc.context.is_empty() {
                    Member {
                        id: cc.node_id,
                        ..Member::default()
                    }
                } else {
                    Member::decode(cc.context.as_ref()).context("undecodable member record")?
                };
                member.id = cc.node_id;
                let old = store.members()?.into_iter().find(|m| m.id == cc.node_id);
                member.is_learner = match cc.change_type {
                    ConfChangeType::AddLearnerNode => true,
                    // New addresses leave a learner a learner.
                    ConfChangeType::UpdateNode => old.as_ref().is_some_and(|m| m.is_learner),
                    _ => false,
                };
                // A learner promoted to voter keeps its name and addresses.
                if let Some(old) = old {
                    if member.name.is_empty() {
                        member.name = old.name;
                    }
                    if member.client_ur_ls.is_empty() {
                        member.client_ur_ls = old.client_ur_ls;
                    }
                    if member.peer_ur_ls.is_empty() {
                        member.peer_ur_ls = old.peer_ur_ls;
                    }
                }
                if member.id != self.shared.member_id {
                    self.outbox.add_peer(member.id, member.peer_ur_ls.clone());
                }
                store.put_member(&member, at)?;
            }
            ConfChangeType::RemoveNode => {
                if cc.node_id == self.shared.member_id {
                    self.removed = true;
                } else {
                    self.outbox.remove_peer(cc.node_id);
                }
                store.remove_member(cc.node_id, at)?;
            }
        }
        Ok(())
    }

    /// A snapshot message carries the store as it is now: local snapshots
    /// hold no data (the store itself is the snapshot), so the image is
    /// taken when a follower actually needs one, as etcd does, and the
    /// message's metadata moves up to the applied entry the image shows.
    fn attach_snapshot_data(&self, mut messages: Vec<Message>) -> anyhow::Result<Vec<Message>> {
        for m in &mut messages {
            if let Some(snapshot) = &mut m.snapshot {
                let mut store = self.shared.write_store();
                store.force_commit()?;
                fail::fail_point!("snapshot::send");
                snapshot.data = Bytes::from(store.snapshot()?);
                // The image is of the store as applied now, so it says so
                // (as etcd's merged snapshot message does): the index and
                // term of the last applied entry and the membership at
                // that point. A member that joined after the last local
                // snapshot finds itself in it; an older membership would
                // make it refuse the snapshot.
                let local_index = snapshot.metadata.index;
                let applied = store.applied();
                if applied.index > local_index {
                    snapshot.metadata.index = applied.index;
                    snapshot.metadata.term = applied.term;
                    snapshot.metadata.conf_state = self.node.raft.prs.conf_state();
                }
                tracing::info!(
                    to = format_args!("{:x}", m.to),
                    index = snapshot.metadata.index,
                    local_snapshot = local_index,
                    bytes = snapshot.data.len(),
                    "sending a snapshot"
                );
            }
        }
        Ok(messages)
    }

    fn maybe_snapshot(&mut self) -> anyhow::Result<()> {
        let applied = self.node.raft.log.applied;
        if applied < self.last_snapshot + self.opts.snapshot_count {
            return Ok(());
        }
        {
            let mut store = self.shared.write_store();
            // The store must hold everything up to the snapshot durably
            // before the WAL may forget it.
            store.force_commit()?;
            if store.applied().index < applied {
                return Ok(());
            }
        }
        let conf = self.node.raft.prs.conf_state();
        let storage = self.node.store_mut();
        // No data: see `attach_snapshot_data`.
        storage.create_snapshot(applied, conf, Bytes::new())?;
        storage.compact(applied)?;
        tracing::info!(index = applied, "took a local snapshot");
        self.last_snapshot = applied;
        Ok(())
    }

    /// Between Readys: writes down a write group that has been open for
    /// its span with nothing more applied, and removes one batch of
    /// compacted history.
    fn between_readies(&mut self) -> anyhow::Result<()> {
        let mut store = self.shared.write_store();
        if group_due(self.group) {
            end_group(&mut self.group, &mut store)?;
        }
        store.compact_step()?;
        Ok(())
    }
}

/// Whether the open write group (when it opened, how many entries it holds)
/// should go down to the backend now: see [`GROUP_SPAN`].
fn group_due(group: Option<(Instant, usize)>) -> bool {
    group
        .is_some_and(|(opened, entries)| entries >= GROUP_ENTRIES || opened.elapsed() >= GROUP_SPAN)
}

/// Writes the open write group, if any, down to the backend and forgets it.
fn end_group(group: &mut Option<(Instant, usize)>, store: &mut MvccStore) -> anyhow::Result<()> {
    if group.take().is_some() {
        store.end_group().context("writing applied entries")?;
    }
    Ok(())
}

/// The context of a ReadIndex request: the asking member's id, then its
/// own counter. The leader keeps one pending read per context and ignores
/// a second with the same one, so contexts must differ across members:
/// with the counter alone, members' reads collided at the leader and the
/// loser waited for its retry (500 ms) under concurrent load.
fn read_context(member_id: u64, ctx: u64) -> Bytes {
    let mut bytes = Vec::with_capacity(16);
    bytes.extend_from_slice(&member_id.to_be_bytes());
    bytes.extend_from_slice(&ctx.to_be_bytes());
    Bytes::from(bytes)
}

/// The counter of a ReadIndex context that this member made.
fn our_read(member_id: u64, ctx: &[u8]) -> Option<u64> {
    let (member, counter) = ctx.split_at_checked(8)?;
    (member == member_id.to_be_bytes()).then_some(())?;
    Some(u64::from_be_bytes(counter.try_into().ok()?))
}

/// How stale the size the quota check reads may get.
const SIZE_REFRESH: Duration = Duration::from_millis(100);

/// Fills in the header fields the store does not know.
pub fn fill_header(shared: &Shared, header: &mut Option<ResponseHeader>) {
    let revision = header
        .as_ref()
        .map_or_else(|| shared.read_store().current_revision(), |h| h.revision);
    *header = Some(shared.header_at(revision));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_contexts_name_the_member_that_asked() {
        let ctx = read_context(0xabc, 7);
        assert_eq!(our_read(0xabc, &ctx), Some(7));
        // Another member's round with the same counter is not ours, and
        // differs at the leader.
        assert_eq!(our_read(0xdef, &ctx), None);
        assert_ne!(read_context(0xdef, 7), ctx);
        assert_eq!(our_read(0xabc, &ctx[..8]), None);
    }
}
