//! Pending linearizable reads at the leader (the ReadIndex protocol).
//!
//! A read request records the commit index at arrival, then rides on a
//! heartbeat round carrying its context. Once a quorum has answered that
//! round, the leader knows it was still leader when the request arrived, so
//! every read queued up to that context may be served at its recorded index.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use super::types::NodeId;

#[derive(Clone, Debug)]
pub struct ReadIndexStatus {
    /// Who asked: this node itself, or a follower that forwarded the read.
    pub from: NodeId,
    pub ctx: Bytes,
    /// The leader's commit index when the request arrived.
    pub index: u64,
    pub acks: BTreeSet<NodeId>,
}

#[derive(Clone, Debug, Default)]
pub struct ReadOnly {
    pending: BTreeMap<Bytes, ReadIndexStatus>,
    queue: VecDeque<Bytes>,
}

impl ReadOnly {
    /// Queues a read. A context already pending is left as it is.
    pub fn add_request(&mut self, index: u64, from: NodeId, ctx: Bytes, self_id: NodeId) {
        if self.pending.contains_key(&ctx) {
            return;
        }
        let mut acks = BTreeSet::new();
        acks.insert(self_id);
        self.pending.insert(
            ctx.clone(),
            ReadIndexStatus {
                from,
                ctx: ctx.clone(),
                index,
                acks,
            },
        );
        self.queue.push_back(ctx);
    }

    /// Records a heartbeat answer for `ctx`; returns the acks so far.
    pub fn recv_ack(&mut self, from: NodeId, ctx: &Bytes) -> Option<&BTreeSet<NodeId>> {
        let status = self.pending.get_mut(ctx)?;
        status.acks.insert(from);
        Some(&status.acks)
    }

    /// Releases every read queued up to and including `ctx`, oldest first.
    pub fn advance(&mut self, ctx: &Bytes) -> Vec<ReadIndexStatus> {
        let Some(pos) = self.queue.iter().position(|c| c == ctx) else {
            return Vec::new();
        };
        self.queue
            .drain(..=pos)
            .filter_map(|c| self.pending.remove(&c))
            .collect()
    }

    pub fn last_pending_ctx(&self) -> Option<Bytes> {
        self.queue.back().cloned()
    }
}
