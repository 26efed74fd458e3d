//! What the leader knows about each follower's log, and the membership it
//! counts quorums over.
//!
//! A follower's progress is in one of three states:
//! - **Probe**: we do not know where its log ends; send one append at a time
//!   and wait for the answer (or a heartbeat response) before the next.
//! - **Replicate**: its log is known to match up to `matched`; stream appends
//!   optimistically, bounded by the in-flight window.
//! - **Snapshot**: it needs entries we compacted; a snapshot is on its way and
//!   nothing else is sent until the transport reports the outcome.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::types::{ConfState, NodeId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    Probe,
    Replicate,
    Snapshot,
}

/// A bounded window of in-flight appends, identified by the last index each
/// carried.
#[derive(Clone, Debug)]
pub struct Inflights {
    cap: usize,
    queue: VecDeque<u64>,
}

impl Inflights {
    pub fn new(cap: usize) -> Inflights {
        Inflights {
            cap,
            queue: VecDeque::new(),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn full(&self) -> bool {
        self.queue.len() >= self.cap
    }

    pub fn add(&mut self, last_index: u64) {
        assert!(!self.full(), "in-flight window overflow");
        self.queue.push_back(last_index);
    }

    /// Frees every in-flight append whose last index is `<= to`.
    pub fn free_to(&mut self, to: u64) {
        while self.queue.front().is_some_and(|&i| i <= to) {
            self.queue.pop_front();
        }
    }

    pub fn free_first(&mut self) {
        self.queue.pop_front();
    }

    pub fn reset(&mut self) {
        self.queue.clear();
    }
}

#[derive(Clone, Debug)]
pub struct Progress {
    /// Highest index known to match the leader's log.
    pub matched: u64,
    /// Next index to send.
    pub next: u64,
    pub state: ProgressState,
    /// In Snapshot state: the index of the snapshot being sent.
    pub pending_snapshot: u64,
    /// In Probe state: an append was sent and we wait before sending more.
    pub probe_sent: bool,
    /// Heard from this peer since the last CheckQuorum round.
    pub recent_active: bool,
    pub inflights: Inflights,
    pub is_learner: bool,
}

impl Progress {
    pub fn new(next: u64, inflight_cap: usize, is_learner: bool) -> Progress {
        Progress {
            matched: 0,
            next,
            state: ProgressState::Probe,
            pending_snapshot: 0,
            probe_sent: false,
            recent_active: false,
            inflights: Inflights::new(inflight_cap),
            is_learner,
        }
    }

    pub fn inflights_cap(&self) -> usize {
        self.inflights.cap()
    }

    fn reset_state(&mut self, state: ProgressState) {
        self.probe_sent = false;
        self.pending_snapshot = 0;
        self.state = state;
        self.inflights.reset();
    }

    pub fn become_probe(&mut self) {
        if self.state == ProgressState::Snapshot {
            let pending = self.pending_snapshot;
            self.reset_state(ProgressState::Probe);
            self.next = (self.matched + 1).max(pending + 1);
        } else {
            self.reset_state(ProgressState::Probe);
            self.next = self.matched + 1;
        }
    }

    pub fn become_replicate(&mut self) {
        self.reset_state(ProgressState::Replicate);
        self.next = self.matched + 1;
    }

    pub fn become_snapshot(&mut self, snapshot_index: u64) {
        self.reset_state(ProgressState::Snapshot);
        self.pending_snapshot = snapshot_index;
    }

    /// Records an acknowledgement up to `n`. Returns whether it was news.
    pub fn maybe_update(&mut self, n: u64) -> bool {
        let updated = self.matched < n;
        if updated {
            self.matched = n;
            self.probe_sent = false;
        }
        self.next = self.next.max(n + 1);
        updated
    }

    /// Handles a rejected append for `rejected` with the follower's hint of
    /// where its log might match. Returns false if the rejection is stale.
    pub fn maybe_decr_to(&mut self, rejected: u64, match_hint: u64) -> bool {
        if self.state == ProgressState::Replicate {
            // Stale if we already know it matches past the rejected index.
            if rejected <= self.matched {
                return false;
            }
            self.next = self.matched + 1;
            return true;
        }
        // Probe: only the answer to the append we last sent counts.
        if self.next - 1 != rejected {
            return false;
        }
        self.next = (match_hint + 1).min(rejected).max(self.matched + 1).max(1);
        self.probe_sent = false;
        true
    }

    /// Whether sending must wait for an answer first.
    pub fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.full(),
            ProgressState::Snapshot => true,
        }
    }

    /// Bookkeeping after sending an append whose entries end at `last`.
    pub fn sent_entries(&mut self, count: usize, last: u64) {
        match self.state {
            ProgressState::Replicate => {
                if count > 0 {
                    self.next = last + 1;
                    self.inflights.add(last);
                }
            }
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Snapshot => {}
        }
    }
}

/// The membership plus each member's progress.
#[derive(Clone, Debug, Default)]
pub struct ProgressTracker {
    pub voters: BTreeSet<NodeId>,
    pub learners: BTreeSet<NodeId>,
    pub progress: BTreeMap<NodeId, Progress>,
    /// Votes received in the current election (granted or not).
    pub votes: BTreeMap<NodeId, bool>,
    max_inflight: usize,
}

/// Outcome of an election tally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    Won,
    Lost,
    Pending,
}

impl ProgressTracker {
    pub fn new(max_inflight: usize) -> ProgressTracker {
        ProgressTracker {
            max_inflight,
            ..ProgressTracker::default()
        }
    }

    pub fn inflight_cap(&self) -> usize {
        self.max_inflight
    }

    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
    }

    pub fn conf_state(&self) -> ConfState {
        ConfState {
            voters: self.voters.iter().copied().collect(),
            learners: self.learners.iter().copied().collect(),
        }
    }

    /// Adds (or promotes) a voter. A newly known member starts probing at
    /// `next`.
    pub fn add_voter(&mut self, id: NodeId, next: u64) {
        self.learners.remove(&id);
        self.voters.insert(id);
        let cap = self.max_inflight;
        self.progress
            .entry(id)
            .or_insert_with(|| Progress::new(next, cap, false))
            .is_learner = false;
    }

    /// Adds a learner. Demoting a voter is not supported (etcd refuses it
    /// too); the caller checks.
    pub fn add_learner(&mut self, id: NodeId, next: u64) {
        if self.voters.contains(&id) {
            return;
        }
        self.learners.insert(id);
        let cap = self.max_inflight;
        self.progress
            .entry(id)
            .or_insert_with(|| Progress::new(next, cap, true));
    }

    pub fn remove(&mut self, id: NodeId) {
        self.voters.remove(&id);
        self.learners.remove(&id);
        self.progress.remove(&id);
        self.votes.remove(&id);
    }

    /// The largest index replicated on a quorum of voters.
    pub fn committed_index(&self) -> u64 {
        if self.voters.is_empty() {
            // No voters: nothing can commit. (Never true for a live cluster.)
            return 0;
        }
        let mut matched: Vec<u64> = self
            .voters
            .iter()
            .map(|id| self.progress.get(id).map_or(0, |p| p.matched))
            .collect();
        matched.sort_unstable_by(|a, b| b.cmp(a));
        matched[self.quorum() - 1]
    }

    pub fn reset_votes(&mut self) {
        self.votes.clear();
    }

    pub fn record_vote(&mut self, id: NodeId, granted: bool) {
        self.votes.entry(id).or_insert(granted);
    }

    pub fn tally(&self) -> VoteResult {
        let granted = self
            .voters
            .iter()
            .filter(|id| self.votes.get(id) == Some(&true))
            .count();
        let rejected = self
            .voters
            .iter()
            .filter(|id| self.votes.get(id) == Some(&false))
            .count();
        let q = self.quorum();
        if granted >= q {
            VoteResult::Won
        } else if self.voters.len() - rejected < q {
            VoteResult::Lost
        } else {
            VoteResult::Pending
        }
    }

    /// Whether a quorum of voters was active since the last check (the
    /// leader itself always counts). Resets the activity marks.
    pub fn quorum_active(&mut self, self_id: NodeId) -> bool {
        let mut active = 0;
        for id in &self.voters {
            if *id == self_id || self.progress.get(id).is_some_and(|p| p.recent_active) {
                active += 1;
            }
        }
        for (id, p) in self.progress.iter_mut() {
            if *id != self_id {
                p.recent_active = false;
            }
        }
        active >= self.quorum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_index_is_the_quorum_th_highest_match() {
        let mut t = ProgressTracker::new(8);
        for id in 1..=5 {
            t.add_voter(id, 1);
        }
        for (id, m) in [(1, 9), (2, 7), (3, 5), (4, 2), (5, 1)] {
            t.progress.get_mut(&id).unwrap().matched = m;
        }
        assert_eq!(t.committed_index(), 5);
    }

    #[test]
    fn learners_do_not_count_for_commit_or_votes() {
        let mut t = ProgressTracker::new(8);
        t.add_voter(1, 1);
        t.add_learner(2, 1);
        t.add_learner(3, 1);
        t.progress.get_mut(&1).unwrap().matched = 4;
        assert_eq!(t.committed_index(), 4);
        t.record_vote(1, true);
        assert_eq!(t.tally(), VoteResult::Won);
    }

    #[test]
    fn probe_backs_off_to_hint() {
        let mut p = Progress::new(10, 8, false);
        p.probe_sent = true;
        assert!(p.maybe_decr_to(9, 4));
        assert_eq!(p.next, 5);
        assert!(!p.probe_sent);
        assert!(!p.maybe_decr_to(9, 4), "stale rejection is ignored");
    }
}
