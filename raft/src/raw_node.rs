//! The application's handle on a Raft node: feed it ticks, messages and
//! proposals; collect a [`Ready`]; do the I/O; call [`RawNode::advance`].

use bytes::Bytes;

use super::Error;
use super::progress::Progress;
use super::raft::{Config, Raft};
use super::storage::Storage;
use super::types::{
    ConfChange, ConfState, Entry, EntryType, HardState, Message, MessageType, NodeId, ReadState,
    Snapshot, SoftState,
};

/// Everything the application must do after the node changed. See the
/// `raft` module docs for the order in which to do it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ready {
    /// Changed role or leader; informational, never persisted.
    pub soft_state: Option<SoftState>,
    /// Changed term, vote or commit index: persist before sending
    /// `persisted_messages`.
    pub hard_state: Option<HardState>,
    /// A snapshot received from the leader: persist, then apply.
    pub snapshot: Option<Snapshot>,
    /// New log entries: persist (after the snapshot, before the hard state).
    pub entries: Vec<Entry>,
    /// Messages that may be sent at once, even before (or while) this
    /// Ready is persisted: a leader's replication traffic.
    pub messages: Vec<Message>,
    /// Messages to send only once this Ready's snapshot, entries and hard
    /// state are durable: votes, acknowledgements, forwarded requests.
    pub persisted_messages: Vec<Message>,
    /// Committed entries to apply, in order. They are always already
    /// durable locally.
    pub committed_entries: Vec<Entry>,
    /// Linearizable reads that may be served once the application has
    /// applied up to their index.
    pub read_states: Vec<ReadState>,
    /// Whether persisting this Ready needs an fsync: entries, or a term or
    /// vote change. A commit-index-only change may be written lazily.
    pub must_sync: bool,
}

/// What `ready()` handed out, remembered for `advance()`.
#[derive(Debug, Default, Clone, Copy)]
struct Handed {
    last_entry: Option<(u64, u64)>,
    snapshot_index: Option<u64>,
    last_committed: Option<u64>,
}

/// A read-only view of the node for status displays and metrics.
#[derive(Debug, Clone)]
pub struct Status {
    pub id: NodeId,
    pub hard_state: HardState,
    pub soft_state: SoftState,
    pub applied: u64,
    pub last_index: u64,
    /// Each member's replication progress, when this node leads.
    pub progress: Vec<(NodeId, Progress)>,
    pub conf_state: ConfState,
    pub lead_transferee: NodeId,
}

#[derive(Debug)]
pub struct RawNode<S: Storage> {
    pub raft: Raft<S>,
    prev_soft: SoftState,
    prev_hard: HardState,
    handed: Handed,
}

impl<S: Storage> RawNode<S> {
    /// Starts a node over `store`, which holds whatever state survived the
    /// last run (or the initial membership, for a new cluster).
    pub fn new(config: &Config, store: S) -> Result<RawNode<S>, Error> {
        let raft = Raft::new(config, store)?;
        let prev_hard = raft.hard_state();
        let prev_soft = raft.soft_state();
        Ok(RawNode {
            raft,
            prev_soft,
            prev_hard,
            handed: Handed::default(),
        })
    }

    /// One unit of logical time.
    pub fn tick(&mut self) {
        self.raft.tick();
    }

    /// Starts an election now (if this node is allowed to).
    pub fn campaign(&mut self) -> Result<(), Error> {
        self.raft.step(Message {
            msg_type: MessageType::Hup,
            ..Message::default()
        })
    }

    /// Proposes application data. Fails with `ProposalDropped` when there is
    /// no leader to take it, or a leadership transfer is under way.
    pub fn propose(&mut self, data: Bytes) -> Result<(), Error> {
        self.propose_entry(Entry {
            entry_type: EntryType::Normal,
            data,
            ..Entry::default()
        })
    }

    /// Proposes a membership change. Only one may be pending at a time.
    pub fn propose_conf_change(&mut self, cc: &ConfChange) -> Result<(), Error> {
        self.propose_entry(Entry {
            entry_type: EntryType::ConfChange,
            data: cc.encode(),
            ..Entry::default()
        })
    }

    fn propose_entry(&mut self, e: Entry) -> Result<(), Error> {
        let id = self.raft.id;
        self.raft.step(Message {
            msg_type: MessageType::Propose,
            from: id,
            entries: vec![e],
            ..Message::default()
        })
    }

    /// Applies a committed conf change entry's change; returns the new
    /// membership, which the application records with its state.
    pub fn apply_conf_change(&mut self, cc: &ConfChange) -> ConfState {
        self.raft.apply_conf_change(cc)
    }

    /// Feeds a message from a peer. Local-only message kinds are refused.
    pub fn step(&mut self, m: Message) -> Result<(), Error> {
        if m.msg_type.is_local() {
            return Err(Error::StepLocalMsg);
        }
        if m.msg_type.is_response() && !self.raft.prs.progress.contains_key(&m.from) {
            return Err(Error::StepPeerNotFound);
        }
        self.raft.step(m)
    }

    /// Asks for a linearizable read point. The answer arrives as a
    /// [`ReadState`] carrying `ctx` in a later Ready; `ctx` must be unique
    /// among the reads in flight.
    pub fn read_index(&mut self, ctx: Bytes) -> Result<(), Error> {
        let id = self.raft.id;
        self.raft.step(Message {
            msg_type: MessageType::ReadIndex,
            from: id,
            context: ctx,
            ..Message::default()
        })
    }

    /// Asks the leader to hand leadership to `transferee`.
    pub fn transfer_leader(&mut self, transferee: NodeId) {
        let _ = self.raft.step(Message {
            msg_type: MessageType::TransferLeader,
            from: transferee,
            ..Message::default()
        });
    }

    /// The transport could not deliver to `id`.
    pub fn report_unreachable(&mut self, id: NodeId) {
        let _ = self.raft.step(Message {
            msg_type: MessageType::Unreachable,
            from: id,
            ..Message::default()
        });
    }

    /// The transport finished (or failed) sending a snapshot to `id`.
    pub fn report_snapshot(&mut self, id: NodeId, failed: bool) {
        let _ = self.raft.step(Message {
            msg_type: MessageType::SnapshotStatus,
            from: id,
            reject: failed,
            ..Message::default()
        });
    }

    pub fn has_ready(&self) -> bool {
        let r = &self.raft;
        r.soft_state() != self.prev_soft
            || r.hard_state() != self.prev_hard
            || r.log.unstable_snapshot().is_some()
            || !r.log.unstable_entries().is_empty()
            || r.log.has_next_committed_entries()
            || !r.msgs.is_empty()
            || !r.msgs_after_persist.is_empty()
            || !r.read_states.is_empty()
    }

    /// Collects what the application must do next. Call [`advance`] once
    /// it is done, before the next `ready`.
    ///
    /// [`advance`]: RawNode::advance
    pub fn ready(&mut self) -> Ready {
        let r = &mut self.raft;
        let mut rd = Ready::default();
        let ss = r.soft_state();
        if ss != self.prev_soft {
            rd.soft_state = Some(ss);
            self.prev_soft = ss;
        }
        let hs = r.hard_state();
        if hs != self.prev_hard {
            rd.must_sync = hs.term != self.prev_hard.term || hs.vote != self.prev_hard.vote;
            rd.hard_state = Some(hs);
            self.prev_hard = hs;
        }
        rd.snapshot = r.log.unstable_snapshot().cloned();
        rd.entries = r.log.unstable_entries().to_vec();
        rd.must_sync |= !rd.entries.is_empty() || rd.snapshot.is_some();
        rd.committed_entries = r.log.next_committed_entries(r.max_committed_size_per_ready);
        rd.messages = std::mem::take(&mut r.msgs);
        rd.persisted_messages = std::mem::take(&mut r.msgs_after_persist);
        rd.read_states = std::mem::take(&mut r.read_states);

        self.handed = Handed {
            last_entry: rd.entries.last().map(|e| (e.index, e.term)),
            snapshot_index: rd.snapshot.as_ref().map(|s| s.metadata.index),
            last_committed: rd.committed_entries.last().map(|e| e.index),
        };
        if let Some(i) = self.handed.last_committed {
            r.log.applying = i;
        }
        rd
    }

    /// Tells the node the last Ready was handled: its state persisted, its
    /// messages sent and its committed entries applied.
    pub fn advance(&mut self) {
        let handed = std::mem::take(&mut self.handed);
        if let Some(index) = handed.snapshot_index {
            self.raft.log.stable_snap_to(index);
            self.raft.log.applied_to(index);
        }
        if let Some((index, term)) = handed.last_entry {
            self.raft.on_persisted_entries(index, term);
        }
        if let Some(index) = handed.last_committed {
            self.raft.log.applied_to(index);
        }
    }

    pub fn status(&self) -> Status {
        let r = &self.raft;
        let progress = if r.state == super::types::StateRole::Leader {
            r.prs
                .progress
                .iter()
                .map(|(id, p)| (*id, p.clone()))
                .collect()
        } else {
            Vec::new()
        };
        Status {
            id: r.id,
            hard_state: r.hard_state(),
            soft_state: r.soft_state(),
            applied: r.log.applied,
            last_index: r.log.last_index(),
            progress,
            conf_state: r.prs.conf_state(),
            lead_transferee: r.lead_transferee,
        }
    }

    pub fn store(&self) -> &S {
        &self.raft.log.store
    }

    pub fn store_mut(&mut self) -> &mut S {
        &mut self.raft.log.store
    }
}
