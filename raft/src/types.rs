//! The plain data the consensus core exchanges with its caller: log entries,
//! messages between members, persistent state and snapshots.
//!
//! These are ordinary Rust values with no wire format of their own. The peer
//! transport and the WAL translate them to and from `cairn.peer.v1` protobuf
//! messages; the core never sees bytes on a wire.

use bytes::Bytes;

/// Identifies a member. Zero means "nobody" (no vote, no known leader).
pub type NodeId = u64;

/// The "nobody" node id.
pub const NONE: NodeId = 0;

/// What an entry carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EntryType {
    /// Opaque application data (or empty: a new leader's no-op).
    #[default]
    Normal,
    /// An encoded [`ConfChange`].
    ConfChange,
}

/// One slot of the replicated log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub term: u64,
    pub index: u64,
    pub entry_type: EntryType,
    pub data: Bytes,
}

impl Entry {
    /// Approximate size used for message and batch caps.
    pub fn size(&self) -> u64 {
        self.data.len() as u64 + 24
    }
}

/// The state Raft needs on stable storage before it answers anyone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: u64,
    pub vote: NodeId,
    pub commit: u64,
}

impl HardState {
    pub fn is_empty(&self) -> bool {
        *self == HardState::default()
    }
}

/// The role a node plays in its current term.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StateRole {
    #[default]
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// Volatile state worth telling the application about (for logs and metrics);
/// never needs persisting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SoftState {
    pub leader_id: NodeId,
    pub role: StateRole,
}

/// The membership: who votes, who only learns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfState {
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
}

/// A single-member change, carried in a [`EntryType::ConfChange`] entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfChangeType {
    /// Add a voter, or promote an existing learner to voter.
    AddNode,
    RemoveNode,
    AddLearnerNode,
    /// The member's record (its addresses) changes; raft's membership does
    /// not. Carried through the log so every member applies it in order.
    UpdateNode,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfChange {
    pub change_type: ConfChangeType,
    pub node_id: NodeId,
    /// Opaque to Raft; the server stores the member's URLs here.
    pub context: Bytes,
}

impl ConfChange {
    /// A compact, self-describing encoding for the entry payload. The layout
    /// is: one byte for the change type, eight bytes big-endian node id, the
    /// rest is the context.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(9 + self.context.len());
        out.push(match self.change_type {
            ConfChangeType::AddNode => 0,
            ConfChangeType::RemoveNode => 1,
            ConfChangeType::AddLearnerNode => 2,
            ConfChangeType::UpdateNode => 3,
        });
        out.extend_from_slice(&self.node_id.to_be_bytes());
        out.extend_from_slice(&self.context);
        Bytes::from(out)
    }

    /// Inverse of [`ConfChange::encode`]; `None` for a malformed payload.
    pub fn decode(data: &Bytes) -> Option<ConfChange> {
        if data.len() < 9 {
            return None;
        }
        let change_type = match data[0] {
            0 => ConfChangeType::AddNode,
            1 => ConfChangeType::RemoveNode,
            2 => ConfChangeType::AddLearnerNode,
            3 => ConfChangeType::UpdateNode,
            _ => return None,
        };
        let mut id = [0u8; 8];
        id.copy_from_slice(&data[1..9]);
        Some(ConfChange {
            change_type,
            node_id: u64::from_be_bytes(id),
            context: data.slice(9..),
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotMetadata {
    pub conf_state: ConfState,
    /// Index of the last entry the snapshot covers.
    pub index: u64,
    /// Term of that entry.
    pub term: u64,
}

/// A point-in-time image of the applied state plus the membership at that
/// point. `data` is opaque to Raft.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub data: Bytes,
    pub metadata: SnapshotMetadata,
}

impl Snapshot {
    pub fn is_empty(&self) -> bool {
        self.metadata.index == 0
    }
}

/// Every kind of message the core consumes or produces. Local kinds (Hup,
/// Beat, Propose, Unreachable, SnapshotStatus, CheckQuorum, TransferLeader
/// when local, ReadIndex when local) never cross the network from the core's
/// own sends, except where forwarded to the leader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Local: start an election.
    #[default]
    Hup,
    /// Local: leader sends heartbeats.
    Beat,
    /// Propose entries (local, or forwarded from a follower to the leader).
    Propose,
    Append,
    AppendResponse,
    RequestVote,
    RequestVoteResponse,
    Snapshot,
    Heartbeat,
    HeartbeatResponse,
    /// Local: the transport could not reach `from`.
    Unreachable,
    /// Local: the transport reports how sending a snapshot to `from` went.
    SnapshotStatus,
    /// Local: leader checks it still hears from a quorum.
    CheckQuorum,
    TransferLeader,
    TimeoutNow,
    ReadIndex,
    ReadIndexResponse,
    PreVote,
    PreVoteResponse,
}

impl MessageType {
    /// Messages that only make sense inside one node.
    pub fn is_local(self) -> bool {
        matches!(
            self,
            MessageType::Hup
                | MessageType::Beat
                | MessageType::Unreachable
                | MessageType::SnapshotStatus
                | MessageType::CheckQuorum
        )
    }

    /// Responses, as opposed to requests.
    pub fn is_response(self) -> bool {
        matches!(
            self,
            MessageType::AppendResponse
                | MessageType::RequestVoteResponse
                | MessageType::HeartbeatResponse
                | MessageType::ReadIndexResponse
                | MessageType::PreVoteResponse
        )
    }
}

/// A message between members (or from the application into the core).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub msg_type: MessageType,
    pub to: NodeId,
    pub from: NodeId,
    pub term: u64,
    /// Append: term of the entry preceding `entries`. Votes: candidate's last
    /// log term.
    pub log_term: u64,
    /// Append: index preceding `entries`. Votes: candidate's last index.
    /// AppendResponse: the index acknowledged or rejected.
    pub index: u64,
    pub entries: Vec<Entry>,
    pub commit: u64,
    pub snapshot: Option<Snapshot>,
    pub reject: bool,
    /// On a rejected append: the follower's hint of where to retry.
    pub reject_hint: u64,
    /// ReadIndex request context, echoed in heartbeats and read states.
    pub context: Bytes,
}

/// A linearizable read that may proceed once the application has applied up
/// to `index`. `request_ctx` is the caller's context passed to `read_index`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadState {
    pub index: u64,
    pub request_ctx: Bytes,
}

/// The first entries and hard state of a new cluster's log: an AddNode conf
/// change per initial voter, all committed at term 1.
pub fn bootstrap_entries(voters: &[NodeId]) -> (Vec<Entry>, HardState) {
    let members: Vec<(NodeId, Bytes)> = voters.iter().map(|id| (*id, Bytes::new())).collect();
    bootstrap_entries_with_context(&members)
}

/// Like [`bootstrap_entries`], with each AddNode change carrying the given
/// context (the server puts the encoded member record there, so every
/// member learns the founders' names and addresses from the log itself).
pub fn bootstrap_entries_with_context(members: &[(NodeId, Bytes)]) -> (Vec<Entry>, HardState) {
    let entries: Vec<Entry> = members
        .iter()
        .enumerate()
        .map(|(i, (id, context))| Entry {
            term: 1,
            index: i as u64 + 1,
            entry_type: EntryType::ConfChange,
            data: ConfChange {
                change_type: ConfChangeType::AddNode,
                node_id: *id,
                context: context.clone(),
            }
            .encode(),
        })
        .collect();
    let hs = HardState {
        term: 1,
        vote: NONE,
        commit: entries.len() as u64,
    };
    (entries, hs)
}
