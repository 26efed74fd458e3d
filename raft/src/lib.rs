//! The consensus core: Raft as a pure, deterministic state machine, in the
//! design of etcd's raft library.
//!
//! It does no I/O and never reads a clock. Time arrives as [`RawNode::tick`]
//! calls, messages as [`RawNode::step`], requests as [`RawNode::propose`],
//! [`RawNode::read_index`] and friends; randomness comes only from a seed in
//! [`Config`]. Given the same inputs it produces the same outputs, which is
//! what lets the simulator replay a failure byte for byte.
//!
//! # The Ready loop
//!
//! After feeding the node, the application asks [`RawNode::has_ready`] and,
//! if so, takes a [`Ready`] and carries it out **in this order**:
//!
//! 1. **Send early messages.** `ready.messages` (a leader's appends and
//!    heartbeats) may go out at once, in parallel with step 2: the leader
//!    does not count its own copy of an entry until step 2 is done.
//! 2. **Persist.** Write `ready.snapshot` (if any), then `ready.entries`,
//!    then `ready.hard_state` (if any) to stable storage, and fsync when
//!    `ready.must_sync`. Entries replace any conflicting suffix.
//! 3. **Send the rest.** Only now send `ready.persisted_messages`: votes and
//!    acknowledgements promise that what they speak of is durable.
//! 4. **Apply.** Apply `ready.snapshot` (if any), then
//!    `ready.committed_entries` in order. For a conf change entry, call
//!    [`RawNode::apply_conf_change`]. Serve each of `ready.read_states` once
//!    the applied index reaches its `index`.
//! 5. **Advance.** Call [`RawNode::advance`]. Only then ask for the next
//!    Ready.
//!
//! Crashing at any point in this loop is safe: whatever was not persisted
//! was never promised to anyone.
//!
//! ```
//! use cairn_raft::{Config, Entry, EntryType, MemStorage, RawNode};
//!
//! /// Carries out Readys until the node is quiet; returns applied data.
//! fn drive(node: &mut RawNode<MemStorage>) -> Vec<Entry> {
//!     let mut applied = Vec::new();
//!     while node.has_ready() {
//!         let rd = node.ready();
//!         // 1. rd.messages: none in a one-member cluster.
//!         // 2. persist
//!         if let Some(snap) = rd.snapshot.clone() {
//!             node.store_mut().apply_snapshot(snap).unwrap();
//!         }
//!         node.store_mut().append(&rd.entries);
//!         if let Some(hs) = rd.hard_state {
//!             node.store_mut().set_hard_state(hs);
//!         }
//!         // 3. rd.persisted_messages: none here either.
//!         // 4. apply (a real server applies conf changes too)
//!         for e in rd.committed_entries {
//!             if e.entry_type == EntryType::Normal && !e.data.is_empty() {
//!                 applied.push(e);
//!             }
//!         }
//!         // 5. advance
//!         node.advance();
//!     }
//!     applied
//! }
//!
//! let mut node = RawNode::new(&Config::new(1), MemStorage::bootstrap(&[1])).unwrap();
//! drive(&mut node); // applies the bootstrap membership
//! node.campaign().unwrap();
//! drive(&mut node);
//! node.propose("hello".into()).unwrap();
//! let applied = drive(&mut node);
//! assert_eq!(applied[0].data, "hello");
//! ```
//!
//! # What it implements
//! Leader election with randomized timeouts, PreVote and CheckQuorum;
//! replication with per-follower progress (probe, replicate, snapshot), a
//! bounded in-flight window, size-capped messages and fast backtracking;
//! commit by counting only current-term entries; ReadIndex reads;
//! snapshots for lagging followers; single-member membership changes (one at
//! a time, gated behind the new leader's first entry); learners; leadership
//! transfer. It does no I/O and reads no clock: its dependencies are `bytes`
//! and `thiserror`, so the compiler keeps async runtimes, RPC and outside
//! randomness out; files, sockets and time belong to its caller.

mod log;
mod progress;
#[allow(clippy::module_inception)]
mod raft;
mod raw_node;
mod read_only;
mod rng;
mod storage;
mod types;

pub use progress::{Progress, ProgressState};
#[cfg(feature = "planted-bugs")]
pub use raft::PlantedBugs;
pub use raft::{Config, Raft};
pub use raw_node::{RawNode, Ready, Status};
pub use storage::{MemStorage, Storage, StorageError};
pub use types::{
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message, MessageType, NONE,
    NodeId, ReadState, Snapshot, SnapshotMetadata, SoftState, StateRole, bootstrap_entries,
    bootstrap_entries_with_context,
};

/// Why the core refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No leader to take the proposal, this node was removed, or a
    /// leadership transfer is in progress. The caller may retry later.
    #[error("raft proposal dropped")]
    ProposalDropped,
    /// A membership change is already pending.
    #[error("a configuration change is already in progress")]
    ConfChangePending,
    #[error("raft: cannot step raft local message")]
    StepLocalMsg,
    #[error("raft: cannot step as peer not found")]
    StepPeerNotFound,
    #[error("invalid raft configuration: {0}")]
    InvalidConfig(String),
}
