//! The Raft protocol proper: roles, terms, elections, replication, commit,
//! ReadIndex, membership and leadership transfer. Everything here is a
//! reaction to a `step` (a message) or a `tick` (time passing); the outputs
//! are queued messages and state the `RawNode` hands out in a `Ready`.

use bytes::Bytes;

use super::Error;
use super::log::RaftLog;
use super::progress::{ProgressState, ProgressTracker, VoteResult};
use super::read_only::ReadOnly;
use super::rng::Rng;
use super::storage::{Storage, StorageError};
use super::types::{
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message, MessageType, NONE,
    NodeId, ReadState, Snapshot, SoftState, StateRole,
};

/// Context marking vote requests of a leadership transfer: they bypass the
/// leader-lease check, since the old leader asked for them.
const CAMPAIGN_TRANSFER: &[u8] = b"CampaignTransfer";

/// Classic Raft bugs that the simulator must catch, compiled in only for its
/// tests. Each defaults to off.
#[cfg(feature = "planted-bugs")]
#[derive(Clone, Copy, Debug, Default)]
pub struct PlantedBugs {
    /// Commit an entry of an earlier term by counting replicas (the mistake
    /// Figure 8 of the Raft paper warns about).
    pub commit_previous_term_by_counting: bool,
    /// Acknowledge appended entries before they are persisted.
    pub ack_before_persist: bool,
    /// Grant votes without checking the candidate's log is up to date.
    pub vote_without_log_check: bool,
}

/// How a node is configured. Times are in ticks.
#[derive(Clone, Debug)]
pub struct Config {
    pub id: NodeId,
    /// Ticks without hearing from a leader before a follower campaigns; the
    /// actual timeout is drawn from `[election_tick, 2 * election_tick)`.
    pub election_tick: usize,
    /// Ticks between leader heartbeats; must be less than `election_tick`.
    pub heartbeat_tick: usize,
    /// The application's applied index at start (after a restart).
    pub applied: u64,
    /// Largest total entry size in one append message.
    pub max_size_per_msg: u64,
    /// Largest total size of committed entries handed out in one Ready.
    pub max_committed_size_per_ready: u64,
    /// Appends in flight to one follower in Replicate state.
    pub max_inflight_msgs: usize,
    pub check_quorum: bool,
    pub pre_vote: bool,
    /// Seeds the randomized election timeout.
    pub seed: u64,
    #[cfg(feature = "planted-bugs")]
    pub bugs: PlantedBugs,
}

impl Config {
    pub fn new(id: NodeId) -> Config {
        Config {
            id,
            election_tick: 10,
            heartbeat_tick: 1,
            applied: 0,
            max_size_per_msg: 1024 * 1024,
            max_committed_size_per_ready: 64 * 1024 * 1024,
            max_inflight_msgs: 256,
            check_quorum: true,
            pre_vote: true,
            seed: id,
            #[cfg(feature = "planted-bugs")]
            bugs: PlantedBugs::default(),
        }
    }

    pub fn validate(&self) -> Result<(), Error> {
        let bad = |why: &str| Err(Error::InvalidConfig(why.to_string()));
        if self.id == NONE {
            return bad("id must not be zero");
        }
        if self.heartbeat_tick == 0 {
            return bad("heartbeat tick must be greater than 0");
        }
        if self.election_tick <= self.heartbeat_tick {
            return bad("election tick must be greater than heartbeat tick");
        }
        if self.max_inflight_msgs == 0 {
            return bad("max inflight messages must be greater than 0");
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CampaignKind {
    PreElection,
    Election,
    Transfer,
}

#[derive(Debug)]
pub struct Raft<S: Storage> {
    pub id: NodeId,
    pub term: u64,
    pub vote: NodeId,
    pub state: StateRole,
    /// The leader this node follows in `term` (itself when leading).
    pub lead: NodeId,
    pub log: RaftLog<S>,
    pub prs: ProgressTracker,
    /// Messages that may be sent as soon as they are produced.
    pub msgs: Vec<Message>,
    /// Messages that may be sent only after this round's state is durable.
    pub msgs_after_persist: Vec<Message>,
    pub read_states: Vec<ReadState>,
    /// Target of a leadership transfer in progress.
    pub lead_transferee: NodeId,
    /// Index of the latest conf change proposed; no new one is accepted
    /// until the application has applied past it.
    pending_conf_index: u64,
    read_only: ReadOnly,
    /// Reads that arrived before this leader committed an entry of its term.
    pending_reads: Vec<Message>,
    election_elapsed: usize,
    heartbeat_elapsed: usize,
    randomized_election_timeout: usize,
    election_timeout: usize,
    heartbeat_timeout: usize,
    check_quorum: bool,
    pre_vote: bool,
    max_msg_size: u64,
    pub max_committed_size_per_ready: u64,
    rng: Rng,
    #[cfg(feature = "planted-bugs")]
    bugs: PlantedBugs,
}

impl<S: Storage> Raft<S> {
    pub fn new(config: &Config, store: S) -> Result<Raft<S>, Error> {
        config.validate()?;
        let (hs, cs) = store.initial_state();
        let mut log = RaftLog::new(store);
        let mut prs = ProgressTracker::new(config.max_inflight_msgs);
        let next = log.last_index() + 1;
        for id in &cs.voters {
            prs.add_voter(*id, next);
        }
        for id in &cs.learners {
            prs.add_learner(*id, next);
        }
        if !hs.is_empty() {
            if hs.commit < log.committed || hs.commit > log.last_index() {
                return Err(Error::InvalidConfig(format!(
                    "hard state commit {} outside the log [{}, {}]",
                    hs.commit,
                    log.committed,
                    log.last_index()
                )));
            }
            log.committed = hs.commit;
        }
        if config.applied > 0 {
            if config.applied > log.committed {
                return Err(Error::InvalidConfig(format!(
                    "applied {} is past commit {}",
                    config.applied, log.committed
                )));
            }
            log.applied_to(config.applied);
        }
        let mut raft = Raft {
            id: config.id,
            term: 0,
            vote: NONE,
            state: StateRole::Follower,
            lead: NONE,
            log,
            prs,
            msgs: Vec::new(),
            msgs_after_persist: Vec::new(),
            read_states: Vec::new(),
            lead_transferee: NONE,
            pending_conf_index: 0,
            read_only: ReadOnly::default(),
            pending_reads: Vec::new(),
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_election_timeout: config.election_tick,
            election_timeout: config.election_tick,
            heartbeat_timeout: config.heartbeat_tick,
            check_quorum: config.check_quorum,
            pre_vote: config.pre_vote,
            max_msg_size: config.max_size_per_msg,
            max_committed_size_per_ready: config.max_committed_size_per_ready,
            rng: Rng::new(config.seed),
            #[cfg(feature = "planted-bugs")]
            bugs: config.bugs,
        };
        raft.become_follower(hs.term, NONE);
        raft.vote = hs.vote;
        Ok(raft)
    }

    pub fn soft_state(&self) -> SoftState {
        SoftState {
            leader_id: self.lead,
            role: self.state,
        }
    }

    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.log.committed,
        }
    }

    /// Whether this node may become leader: it is a voter in its config.
    pub fn promotable(&self) -> bool {
        self.prs.is_voter(self.id)
    }

    // ----- sending -------------------------------------------------------

    fn send(&mut self, mut m: Message) {
        // A forwarded transfer request keeps the transferee in `from`.
        if m.from == NONE {
            m.from = self.id;
        }
        match m.msg_type {
            MessageType::RequestVote
            | MessageType::RequestVoteResponse
            | MessageType::PreVote
            | MessageType::PreVoteResponse => {
                assert!(m.term != 0, "vote messages carry their term explicitly");
            }
            // Forwarded requests travel as if local: the leader treats them
            // on their own merits, whatever term the sender is in.
            MessageType::Propose | MessageType::ReadIndex => m.term = 0,
            _ => m.term = self.term,
        }
        if self.sends_before_persist(m.msg_type) {
            self.msgs.push(m);
        } else {
            self.msgs_after_persist.push(m);
        }
    }

    /// A leader's replication traffic may go out while its own disk write
    /// is still running (Raft thesis §10.2.1): its term is already durable
    /// and followers acknowledge only what they persisted. Everything else a
    /// node says depends on state it must not forget after a crash.
    fn sends_before_persist(&self, t: MessageType) -> bool {
        #[cfg(feature = "planted-bugs")]
        if self.bugs.ack_before_persist && t == MessageType::AppendResponse {
            return true;
        }
        self.state == StateRole::Leader
            && matches!(
                t,
                MessageType::Append
                    | MessageType::Heartbeat
                    | MessageType::Snapshot
                    | MessageType::TimeoutNow
                    | MessageType::ReadIndexResponse
            )
    }

    /// Sends an append (or a snapshot) to `to` if its progress allows.
    /// Returns whether a message was sent.
    fn maybe_send_append(&mut self, to: NodeId, send_if_empty: bool) -> bool {
        let Some(pr) = self.prs.progress.get(&to) else {
            return false;
        };
        if pr.is_paused() {
            return false;
        }
        let next = pr.next;
        let prev_term = self.log.term(next - 1);
        let ents = self.log.entries_from(next, self.max_msg_size);
        match (prev_term, ents) {
            (Ok(log_term), Ok(entries)) => {
                if entries.is_empty() && !send_if_empty {
                    return false;
                }
                let count = entries.len();
                let last = entries.last().map_or(next - 1, |e| e.index);
                let commit = self.log.committed;
                self.send(Message {
                    msg_type: MessageType::Append,
                    to,
                    index: next - 1,
                    log_term,
                    entries,
                    commit,
                    ..Message::default()
                });
                self.prs
                    .progress
                    .get_mut(&to)
                    .expect("checked above")
                    .sent_entries(count, last);
                true
            }
            _ => self.send_snapshot(to),
        }
    }

    /// The entries `to` needs were compacted: send the latest snapshot.
    fn send_snapshot(&mut self, to: NodeId) -> bool {
        let pr = &self.prs.progress[&to];
        if !pr.recent_active {
            // Not worth a snapshot until it shows signs of life.
            return false;
        }
        let snapshot = match self.log.snapshot() {
            Ok(s) if !s.is_empty() => s,
            Ok(_) | Err(StorageError::SnapshotTemporarilyUnavailable) => return false,
            Err(e) => panic!("cannot read snapshot to send to {to}: {e}"),
        };
        let index = snapshot.metadata.index;
        self.prs
            .progress
            .get_mut(&to)
            .expect("checked above")
            .become_snapshot(index);
        self.send(Message {
            msg_type: MessageType::Snapshot,
            to,
            snapshot: Some(snapshot),
            ..Message::default()
        });
        true
    }

    fn send_heartbeat(&mut self, to: NodeId, ctx: Bytes) {
        // Never tell a follower to commit past what it is known to hold.
        let commit = self.prs.progress[&to].matched.min(self.log.committed);
        self.send(Message {
            msg_type: MessageType::Heartbeat,
            to,
            commit,
            context: ctx,
            ..Message::default()
        });
    }

    fn peers(&self) -> Vec<NodeId> {
        self.prs
            .progress
            .keys()
            .copied()
            .filter(|id| *id != self.id)
            .collect()
    }

    fn bcast_append(&mut self) {
        for id in self.peers() {
            self.maybe_send_append(id, true);
        }
    }

    fn bcast_heartbeat(&mut self, ctx: Bytes) {
        for id in self.peers() {
            self.send_heartbeat(id, ctx.clone());
        }
    }

    // ----- role changes ---------------------------------------------------

    fn reset(&mut self, term: u64) {
        if self.term != term {
            self.term = term;
            self.vote = NONE;
        }
        self.lead = NONE;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.reset_randomized_election_timeout();
        self.lead_transferee = NONE;
        self.prs.reset_votes();
        let next = self.log.last_index() + 1;
        let persisted = self.log.persisted;
        let self_id = self.id;
        for (id, pr) in self.prs.progress.iter_mut() {
            let is_learner = pr.is_learner;
            *pr = super::progress::Progress::new(next, pr.inflights_cap(), is_learner);
            if *id == self_id {
                pr.matched = persisted;
                pr.recent_active = true;
            }
        }
        self.pending_conf_index = 0;
        self.read_only = ReadOnly::default();
        self.pending_reads.clear();
    }

    fn reset_randomized_election_timeout(&mut self) {
        self.randomized_election_timeout =
            self.election_timeout + self.rng.below(self.election_timeout as u64) as usize;
    }

    pub fn become_follower(&mut self, term: u64, lead: NodeId) {
        self.reset(term);
        self.lead = lead;
        self.state = StateRole::Follower;
    }

    fn become_pre_candidate(&mut self) {
        assert!(
            self.state != StateRole::Leader,
            "a leader cannot become a pre-candidate"
        );
        // A pre-election changes neither term nor vote: that is its point.
        self.prs.reset_votes();
        self.lead = NONE;
        self.state = StateRole::PreCandidate;
    }

    fn become_candidate(&mut self) {
        assert!(
            self.state != StateRole::Leader,
            "a leader cannot become a candidate"
        );
        self.reset(self.term + 1);
        self.vote = self.id;
        self.state = StateRole::Candidate;
    }

    fn become_leader(&mut self) {
        assert!(
            self.state != StateRole::Follower,
            "a follower cannot become leader without an election"
        );
        self.reset(self.term);
        self.lead = self.id;
        self.state = StateRole::Leader;
        // Followers' logs are unknown: probe them.
        // An empty entry of the new term lets the leader learn what is
        // committed (§5.4.2) and gates conf changes and reads behind it.
        let index = self.log.last_index() + 1;
        self.append_entries(vec![Entry {
            term: self.term,
            index,
            ..Entry::default()
        }]);
        self.pending_conf_index = self.log.last_index();
    }

    // ----- ticks ----------------------------------------------------------

    pub fn tick(&mut self) {
        match self.state {
            StateRole::Leader => self.tick_heartbeat(),
            _ => self.tick_election(),
        }
    }

    fn tick_election(&mut self) {
        self.election_elapsed += 1;
        if self.promotable() && self.election_elapsed >= self.randomized_election_timeout {
            self.election_elapsed = 0;
            let _ = self.step(local(MessageType::Hup, self.id));
        }
    }

    fn tick_heartbeat(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        if self.election_elapsed >= self.election_timeout {
            self.election_elapsed = 0;
            if self.check_quorum {
                let _ = self.step(local(MessageType::CheckQuorum, self.id));
            }
            // A transfer that did not finish within an election timeout is
            // abandoned so the leader accepts proposals again.
            if self.state == StateRole::Leader && self.lead_transferee != NONE {
                self.lead_transferee = NONE;
            }
        }
        if self.state != StateRole::Leader {
            return;
        }
        if self.heartbeat_elapsed >= self.heartbeat_timeout {
            self.heartbeat_elapsed = 0;
            let _ = self.step(local(MessageType::Beat, self.id));
        }
    }

    // ----- elections ------------------------------------------------------

    fn hup(&mut self, kind: CampaignKind) {
        if self.state == StateRole::Leader || !self.promotable() {
            return;
        }
        // A node must not lead with a membership it has not applied yet.
        if self.has_unapplied_conf_change() {
            return;
        }
        self.campaign(kind);
    }

    fn has_unapplied_conf_change(&self) -> bool {
        if self.log.applied >= self.log.committed {
            return false;
        }
        let lo = self.log.applied.max(self.log.first_index() - 1) + 1;
        let hi = self.log.committed + 1;
        self.log
            .slice(lo, hi, u64::MAX)
            .map(|ents| ents.iter().any(|e| e.entry_type == EntryType::ConfChange))
            .unwrap_or(false)
    }

    fn campaign(&mut self, kind: CampaignKind) {
        let (vote_type, term) = if kind == CampaignKind::PreElection {
            self.become_pre_candidate();
            (MessageType::PreVote, self.term + 1)
        } else {
            self.become_candidate();
            (MessageType::RequestVote, self.term)
        };
        self.prs.record_vote(self.id, true);
        if self.prs.tally() == VoteResult::Won {
            // A single-voter cluster wins at once.
            if kind == CampaignKind::PreElection {
                self.campaign(CampaignKind::Election);
            } else {
                self.become_leader();
            }
            return;
        }
        let context = if kind == CampaignKind::Transfer {
            Bytes::from_static(CAMPAIGN_TRANSFER)
        } else {
            Bytes::new()
        };
        let voters: Vec<NodeId> = self.prs.voters.iter().copied().collect();
        let (index, log_term) = (self.log.last_index(), self.log.last_term());
        let self_id = self.id;
        for to in voters.into_iter().filter(|id| *id != self_id) {
            self.send(Message {
                msg_type: vote_type,
                to,
                term,
                index,
                log_term,
                context: context.clone(),
                ..Message::default()
            });
        }
    }

    /// Whether this node would grant a vote (or pre-vote) for `m`.
    fn can_grant_vote(&self, m: &Message) -> bool {
        let free = self.vote == m.from
            || (self.vote == NONE && self.lead == NONE)
            || (m.msg_type == MessageType::PreVote && m.term > self.term);
        if !free {
            return false;
        }
        #[cfg(feature = "planted-bugs")]
        if self.bugs.vote_without_log_check {
            return true;
        }
        self.log.is_up_to_date(m.index, m.log_term)
    }

    // ----- stepping -------------------------------------------------------

    /// Feeds one message into the state machine.
    pub fn step(&mut self, m: Message) -> Result<(), Error> {
        if m.term > self.term {
            if matches!(m.msg_type, MessageType::RequestVote | MessageType::PreVote) {
                let forced = m.context.as_ref() == CAMPAIGN_TRANSFER;
                let in_lease = self.check_quorum
                    && self.lead != NONE
                    && self.election_elapsed < self.election_timeout;
                if !forced && in_lease {
                    // We heard from a live leader recently: this candidate
                    // cannot win legitimately, so do not let it disturb us.
                    return Ok(());
                }
            }
            match m.msg_type {
                // A pre-vote is a question about the future; it changes
                // nothing now.
                MessageType::PreVote => {}
                // A granted pre-vote is answered in a future term; the term
                // moves when the real election starts.
                MessageType::PreVoteResponse if !m.reject => {}
                MessageType::Append | MessageType::Heartbeat | MessageType::Snapshot => {
                    self.become_follower(m.term, m.from);
                }
                _ => self.become_follower(m.term, NONE),
            }
        } else if m.term < self.term && m.term != 0 {
            if (self.check_quorum || self.pre_vote)
                && matches!(m.msg_type, MessageType::Heartbeat | MessageType::Append)
            {
                // A leader cut off from the cluster keeps its old term; tell
                // it about ours so it steps down rather than wait for votes
                // we will ignore.
                self.send(Message {
                    msg_type: MessageType::AppendResponse,
                    to: m.from,
                    ..Message::default()
                });
            } else if m.msg_type == MessageType::PreVote {
                let term = self.term;
                self.send(Message {
                    msg_type: MessageType::PreVoteResponse,
                    to: m.from,
                    term,
                    reject: true,
                    ..Message::default()
                });
            }
            return Ok(());
        }

        match m.msg_type {
            MessageType::Hup => {
                let kind = if self.pre_vote {
                    CampaignKind::PreElection
                } else {
                    CampaignKind::Election
                };
                self.hup(kind);
                Ok(())
            }
            MessageType::RequestVote | MessageType::PreVote => {
                let resp_type = if m.msg_type == MessageType::RequestVote {
                    MessageType::RequestVoteResponse
                } else {
                    MessageType::PreVoteResponse
                };
                if self.can_grant_vote(&m) {
                    // Pre-votes are answered in the term asked about; real
                    // votes in our (now equal) term.
                    self.send(Message {
                        msg_type: resp_type,
                        to: m.from,
                        term: m.term,
                        ..Message::default()
                    });
                    if m.msg_type == MessageType::RequestVote {
                        self.election_elapsed = 0;
                        self.vote = m.from;
                    }
                } else {
                    let term = self.term;
                    self.send(Message {
                        msg_type: resp_type,
                        to: m.from,
                        term,
                        reject: true,
                        ..Message::default()
                    });
                }
                Ok(())
            }
            _ => match self.state {
                StateRole::Leader => self.step_leader(m),
                StateRole::Candidate | StateRole::PreCandidate => self.step_candidate(m),
                StateRole::Follower => self.step_follower(m),
            },
        }
    }

    fn step_leader(&mut self, m: Message) -> Result<(), Error> {
        match m.msg_type {
            MessageType::Beat => {
                let ctx = self.read_only.last_pending_ctx().unwrap_or_default();
                self.bcast_heartbeat(ctx);
                return Ok(());
            }
            MessageType::CheckQuorum => {
                if !self.prs.quorum_active(self.id) {
                    let term = self.term;
                    self.become_follower(term, NONE);
                }
                return Ok(());
            }
            MessageType::Propose => return self.propose(m),
            MessageType::ReadIndex => {
                if !self.committed_entry_in_current_term() {
                    // Our commit index may lag the true one until an entry
                    // of our term commits; answer once it has.
                    self.pending_reads.push(m);
                    return Ok(());
                }
                self.handle_read_index(m);
                return Ok(());
            }
            MessageType::TransferLeader => {
                self.handle_transfer_leader(m.from);
                return Ok(());
            }
            _ => {}
        }

        if !self.prs.progress.contains_key(&m.from) {
            return Ok(());
        }
        match m.msg_type {
            MessageType::AppendResponse => self.handle_append_response(&m),
            MessageType::HeartbeatResponse => self.handle_heartbeat_response(&m),
            MessageType::SnapshotStatus => {
                let pr = self.prs.progress.get_mut(&m.from).expect("checked");
                if pr.state == ProgressState::Snapshot {
                    if m.reject {
                        pr.pending_snapshot = 0;
                    }
                    pr.become_probe();
                    // Wait for a heartbeat answer before probing again.
                    pr.probe_sent = true;
                }
            }
            MessageType::Unreachable => {
                let pr = self.prs.progress.get_mut(&m.from).expect("checked");
                if pr.state == ProgressState::Replicate {
                    pr.become_probe();
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn propose(&mut self, mut m: Message) -> Result<(), Error> {
        assert!(!m.entries.is_empty(), "a proposal carries entries");
        if !self.prs.progress.contains_key(&self.id) {
            // Removed from the cluster: we will step down shortly.
            return Err(Error::ProposalDropped);
        }
        if self.lead_transferee != NONE {
            return Err(Error::ProposalDropped);
        }
        for (i, e) in m.entries.iter().enumerate() {
            if e.entry_type == EntryType::ConfChange {
                if self.pending_conf_index > self.log.applied {
                    return Err(Error::ConfChangePending);
                }
                self.pending_conf_index = self.log.last_index() + i as u64 + 1;
            }
        }
        let first = self.log.last_index() + 1;
        for (i, e) in m.entries.iter_mut().enumerate() {
            e.index = first + i as u64;
            e.term = self.term;
        }
        self.append_entries(std::mem::take(&mut m.entries));
        self.bcast_append();
        Ok(())
    }

    fn append_entries(&mut self, ents: Vec<Entry>) {
        self.log.append(&ents);
        // The leader's own copy counts toward commit only once persisted:
        // see `on_persisted`.
    }

    fn committed_entry_in_current_term(&self) -> bool {
        self.log.term_or_zero(self.log.committed) == self.term
    }

    fn handle_read_index(&mut self, m: Message) {
        let index = self.log.committed;
        if self.prs.voters.len() == 1 {
            self.answer_read(m.from, m.context, index);
            return;
        }
        self.read_only
            .add_request(index, m.from, m.context.clone(), self.id);
        self.bcast_heartbeat(m.context);
    }

    fn answer_read(&mut self, from: NodeId, ctx: Bytes, index: u64) {
        if from == NONE || from == self.id {
            self.read_states.push(ReadState {
                index,
                request_ctx: ctx,
            });
        } else {
            self.send(Message {
                msg_type: MessageType::ReadIndexResponse,
                to: from,
                index,
                context: ctx,
                ..Message::default()
            });
        }
    }

    fn release_pending_reads(&mut self) {
        if self.pending_reads.is_empty() || !self.committed_entry_in_current_term() {
            return;
        }
        for m in std::mem::take(&mut self.pending_reads) {
            self.handle_read_index(m);
        }
    }

    fn handle_transfer_leader(&mut self, transferee: NodeId) {
        let Some(pr) = self.prs.progress.get(&transferee) else {
            return;
        };
        if pr.is_learner || transferee == self.id || self.lead_transferee == transferee {
            return;
        }
        self.election_elapsed = 0;
        self.lead_transferee = transferee;
        if pr.matched == self.log.last_index() {
            self.send_timeout_now(transferee);
        } else {
            self.maybe_send_append(transferee, true);
        }
    }

    fn send_timeout_now(&mut self, to: NodeId) {
        self.send(Message {
            msg_type: MessageType::TimeoutNow,
            to,
            ..Message::default()
        });
    }

    fn handle_append_response(&mut self, m: &Message) {
        let last_index = self.log.last_index();
        let pr = self
            .prs
            .progress
            .get_mut(&m.from)
            .expect("checked by caller");
        pr.recent_active = true;
        if m.reject {
            // Skip straight past the follower's conflicting term.
            let mut hint = m.reject_hint;
            if m.log_term > 0 {
                hint = find_conflict_by_term(&self.log, hint, m.log_term);
            }
            let pr = self.prs.progress.get_mut(&m.from).expect("checked");
            if pr.maybe_decr_to(m.index, hint) {
                if pr.state == ProgressState::Replicate {
                    pr.become_probe();
                }
                self.maybe_send_append(m.from, true);
            }
            return;
        }
        let was_paused = pr.is_paused();
        if !pr.maybe_update(m.index) {
            return;
        }
        match pr.state {
            ProgressState::Probe => pr.become_replicate(),
            ProgressState::Snapshot if pr.matched >= pr.pending_snapshot => {
                pr.become_probe();
                pr.become_replicate();
            }
            ProgressState::Replicate => pr.inflights.free_to(m.index),
            ProgressState::Snapshot => {}
        }
        if self.maybe_commit() {
            self.bcast_append();
        } else if was_paused {
            self.maybe_send_append(m.from, true);
        }
        // Stream whatever else the follower is missing.
        while self.maybe_send_append(m.from, false) {}
        if m.from == self.lead_transferee && self.prs.progress[&m.from].matched == last_index {
            self.send_timeout_now(m.from);
        }
    }

    fn handle_heartbeat_response(&mut self, m: &Message) {
        let last_index = self.log.last_index();
        let pr = self
            .prs
            .progress
            .get_mut(&m.from)
            .expect("checked by caller");
        pr.recent_active = true;
        pr.probe_sent = false;
        if pr.state == ProgressState::Replicate && pr.inflights.full() {
            pr.inflights.free_first();
        }
        if pr.matched < last_index {
            self.maybe_send_append(m.from, true);
        }
        if m.context.is_empty() {
            return;
        }
        let quorum = self.prs.quorum();
        let voters = &self.prs.voters;
        let Some(acks) = self.read_only.recv_ack(m.from, &m.context) else {
            return;
        };
        if acks.iter().filter(|id| voters.contains(id)).count() < quorum {
            return;
        }
        for rs in self.read_only.advance(&m.context) {
            self.answer_read(rs.from, rs.ctx, rs.index);
        }
    }

    /// Advances the commit index to what a quorum has persisted, but only by
    /// counting replicas of an entry from the current term (§5.4.2).
    fn maybe_commit(&mut self) -> bool {
        let mci = self.prs.committed_index();
        if mci <= self.log.committed {
            return false;
        }
        #[cfg(feature = "planted-bugs")]
        let current_term_only = !self.bugs.commit_previous_term_by_counting;
        #[cfg(not(feature = "planted-bugs"))]
        let current_term_only = true;
        if current_term_only && self.log.term_or_zero(mci) != self.term {
            return false;
        }
        self.log.commit_to(mci);
        self.release_pending_reads();
        true
    }

    fn step_candidate(&mut self, m: Message) -> Result<(), Error> {
        let my_vote_resp = if self.state == StateRole::PreCandidate {
            MessageType::PreVoteResponse
        } else {
            MessageType::RequestVoteResponse
        };
        match m.msg_type {
            MessageType::Propose => Err(Error::ProposalDropped),
            MessageType::ReadIndex => Err(Error::ProposalDropped),
            MessageType::Append | MessageType::Heartbeat | MessageType::Snapshot => {
                // Someone won this term: follow it.
                self.become_follower(m.term, m.from);
                self.handle_from_leader(m);
                Ok(())
            }
            t if t == my_vote_resp => {
                self.prs.record_vote(m.from, !m.reject);
                match self.prs.tally() {
                    VoteResult::Won => {
                        if self.state == StateRole::PreCandidate {
                            self.campaign(CampaignKind::Election);
                        } else {
                            self.become_leader();
                            self.bcast_append();
                        }
                    }
                    VoteResult::Lost => {
                        let term = self.term;
                        self.become_follower(term, NONE);
                    }
                    VoteResult::Pending => {}
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn step_follower(&mut self, mut m: Message) -> Result<(), Error> {
        match m.msg_type {
            MessageType::Propose | MessageType::ReadIndex | MessageType::TransferLeader => {
                if self.lead == NONE {
                    return Err(Error::ProposalDropped);
                }
                m.to = self.lead;
                self.send(m);
                Ok(())
            }
            MessageType::Append | MessageType::Heartbeat | MessageType::Snapshot => {
                self.election_elapsed = 0;
                self.lead = m.from;
                self.handle_from_leader(m);
                Ok(())
            }
            MessageType::TimeoutNow => {
                // Our leader asked us to take over: campaign at once,
                // skipping the pre-vote (the leader vouches for us).
                if self.promotable() {
                    self.hup(CampaignKind::Transfer);
                }
                Ok(())
            }
            MessageType::ReadIndexResponse => {
                self.read_states.push(ReadState {
                    index: m.index,
                    request_ctx: m.context,
                });
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A follower's handling of its leader's appends, heartbeats and
    /// snapshots.
    fn handle_from_leader(&mut self, m: Message) {
        match m.msg_type {
            MessageType::Append => self.handle_append_entries(m),
            MessageType::Heartbeat => self.handle_heartbeat(m),
            MessageType::Snapshot => self.handle_snapshot(m),
            other => unreachable!("{other:?} is not a leader's message"),
        }
    }

    fn handle_append_entries(&mut self, m: Message) {
        if m.index < self.log.committed {
            let committed = self.log.committed;
            self.send(Message {
                msg_type: MessageType::AppendResponse,
                to: m.from,
                index: committed,
                ..Message::default()
            });
            return;
        }
        if let Some(last) = self
            .log
            .maybe_append(m.index, m.log_term, m.commit, &m.entries)
        {
            self.send(Message {
                msg_type: MessageType::AppendResponse,
                to: m.from,
                index: last,
                ..Message::default()
            });
            return;
        }
        // Tell the leader where our log might match, skipping a whole term
        // of disagreeing entries at once.
        let hint = find_conflict_by_term(&self.log, m.index.min(self.log.last_index()), m.log_term);
        let log_term = self.log.term_or_zero(hint);
        self.send(Message {
            msg_type: MessageType::AppendResponse,
            to: m.from,
            index: m.index,
            reject: true,
            reject_hint: hint,
            log_term,
            ..Message::default()
        });
    }

    fn handle_heartbeat(&mut self, m: Message) {
        self.log.commit_to(m.commit.min(self.log.last_index()));
        self.send(Message {
            msg_type: MessageType::HeartbeatResponse,
            to: m.from,
            context: m.context,
            ..Message::default()
        });
    }

    fn handle_snapshot(&mut self, m: Message) {
        let snapshot = m.snapshot.unwrap_or_default();
        let index = if self.restore(snapshot) {
            self.log.last_index()
        } else {
            self.log.committed
        };
        self.send(Message {
            msg_type: MessageType::AppendResponse,
            to: m.from,
            index,
            ..Message::default()
        });
    }

    /// Installs a snapshot from the leader. Returns false when it brings
    /// nothing new.
    pub fn restore(&mut self, snapshot: Snapshot) -> bool {
        let meta = &snapshot.metadata;
        if meta.index <= self.log.committed {
            return false;
        }
        let cs = &meta.conf_state;
        if !cs.voters.contains(&self.id) && !cs.learners.contains(&self.id) {
            // A snapshot of a configuration we are not part of is a sign of
            // a misdirected message; ignore it.
            return false;
        }
        if self.log.match_term(meta.index, meta.term) {
            // We already have the entries: just learn they are committed.
            self.log.commit_to(meta.index);
            return false;
        }
        let cs = cs.clone();
        self.log.restore(snapshot);
        self.apply_conf_state(&cs);
        true
    }

    fn apply_conf_state(&mut self, cs: &ConfState) {
        let next = self.log.last_index() + 1;
        let mut prs = ProgressTracker::new(self.prs.inflight_cap());
        for id in &cs.voters {
            prs.add_voter(*id, next);
        }
        for id in &cs.learners {
            prs.add_learner(*id, next);
        }
        if let Some(pr) = prs.progress.get_mut(&self.id) {
            pr.matched = next - 1;
        }
        self.prs = prs;
    }

    /// Applies a committed membership change; returns the new membership.
    pub fn apply_conf_change(&mut self, cc: &ConfChange) -> ConfState {
        let next = self.log.last_index() + 1;
        match cc.change_type {
            ConfChangeType::AddNode => {
                let is_new = !self.prs.progress.contains_key(&cc.node_id);
                self.prs.add_voter(cc.node_id, next);
                if is_new {
                    // A newcomer gets the benefit of the doubt for one
                    // CheckQuorum round.
                    if let Some(pr) = self.prs.progress.get_mut(&cc.node_id) {
                        pr.recent_active = true;
                    }
                }
            }
            ConfChangeType::AddLearnerNode => {
                self.prs.add_learner(cc.node_id, next);
                if let Some(pr) = self.prs.progress.get_mut(&cc.node_id) {
                    pr.recent_active = true;
                }
            }
            ConfChangeType::RemoveNode => self.prs.remove(cc.node_id),
            ConfChangeType::UpdateNode => return self.prs.conf_state(),
        }
        if self.state == StateRole::Leader && !self.prs.is_voter(self.id) {
            // Removed (or never promoted): hand over by stepping down.
            let term = self.term;
            self.become_follower(term, NONE);
            return self.prs.conf_state();
        }
        if self.state == StateRole::Leader {
            if self.lead_transferee != NONE && !self.prs.is_voter(self.lead_transferee) {
                self.lead_transferee = NONE;
            }
            if self.maybe_commit() {
                self.bcast_append();
            } else {
                for id in self.peers() {
                    self.maybe_send_append(id, false);
                }
            }
        }
        self.prs.conf_state()
    }

    /// The application persisted entries up to `(index, term)`.
    pub fn on_persisted_entries(&mut self, index: u64, term: u64) {
        self.log.stable_to(index, term);
        if self.state == StateRole::Leader {
            let persisted = self.log.persisted;
            if let Some(pr) = self.prs.progress.get_mut(&self.id) {
                pr.maybe_update(persisted);
            }
            if self.maybe_commit() {
                self.bcast_append();
            }
        }
    }
}

/// The largest index `<= index` whose term is `<= term`: where a follower's
/// log and the leader's may agree, skipping a whole term of conflict.
fn find_conflict_by_term<S: Storage>(log: &RaftLog<S>, index: u64, term: u64) -> u64 {
    let mut i = index;
    while i > 0 {
        match log.term(i) {
            Ok(t) if t > term => i -= 1,
            _ => break,
        }
    }
    i
}

fn local(t: MessageType, from: NodeId) -> Message {
    Message {
        msg_type: t,
        from,
        ..Message::default()
    }
}
