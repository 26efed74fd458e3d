//! Scenario tests of the consensus core against the Raft paper (Ongaro &
//! Ousterhout, "In Search of an Understandable Consensus Algorithm") and the
//! documented behaviours of etcd's raft library, written as specifications.
//!
//! Each test drives real `RawNode<MemStorage>` nodes through a small
//! in-process [`Network`] that carries out every `Ready` exactly as the
//! `raft` module documents (send early messages, persist snapshot, entries
//! and hard state, send the persisted messages, apply, advance) and delivers
//! messages synchronously, in order, until nothing moves.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use cairn_raft::{
    ConfChange, ConfChangeType, ConfState, Config, Entry, EntryType, Error, HardState, MemStorage,
    Message, MessageType, NONE, ProgressState, Raft, RawNode, ReadState, Ready, Snapshot,
    StateRole, Storage,
};

/// The election timeout every test node uses (`Config::new`'s default).
const ELECTION: usize = 10;

type Node = RawNode<MemStorage>;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// What the network does with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Deliver,
    Drop,
    /// Keep it aside until [`Network::release_held`].
    Hold,
}

/// Decides each message's fate; may also rewrite it in flight.
type Filter = Box<dyn FnMut(&mut Message) -> Fate>;

/// A set of nodes joined by a synchronous, in-order network that can lose
/// messages: links may be cut and a filter may drop or hold messages.
struct Network {
    nodes: BTreeMap<u64, Node>,
    queue: VecDeque<Message>,
    /// Directed links `(from, to)` that lose everything.
    cut: BTreeSet<(u64, u64)>,
    filter: Option<Filter>,
    held: Vec<Message>,
    /// Nodes whose Readies are not being carried out.
    frozen: BTreeSet<u64>,
    /// Every message any node emitted, in emission order.
    sent: Vec<Message>,
    /// Non-empty normal entries each node applied, in order.
    applied: BTreeMap<u64, Vec<Bytes>>,
    /// Snapshots each node applied.
    snapshots: BTreeMap<u64, Vec<Snapshot>>,
    reads: BTreeMap<u64, Vec<ReadState>>,
    /// Each node's membership as of its last applied change or snapshot.
    conf: BTreeMap<u64, ConfState>,
}

impl Network {
    /// A bootstrapped cluster of `ids` with default configuration.
    fn new(ids: &[u64]) -> Network {
        Network::with_config(ids, |_| {})
    }

    /// A bootstrapped cluster of `ids`, each node's config adjusted by `tweak`.
    fn with_config(ids: &[u64], tweak: impl Fn(&mut Config)) -> Network {
        let nodes = ids
            .iter()
            .map(|&id| {
                let mut c = Config::new(id);
                tweak(&mut c);
                RawNode::new(&c, MemStorage::bootstrap(ids)).expect("valid config")
            })
            .collect();
        Network::from_nodes(nodes)
    }

    fn from_nodes(nodes: Vec<Node>) -> Network {
        let mut n = Network {
            nodes: nodes.into_iter().map(|nd| (nd.raft.id, nd)).collect(),
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            filter: None,
            held: Vec::new(),
            frozen: BTreeSet::new(),
            sent: Vec::new(),
            applied: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            reads: BTreeMap::new(),
            conf: BTreeMap::new(),
        };
        n.run();
        n
    }

    fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// Adds a node (e.g. a member about to join).
    fn add(&mut self, node: Node) {
        let id = node.raft.id;
        self.nodes.insert(id, node);
        self.run();
    }

    fn node(&mut self, id: u64) -> &mut Node {
        self.nodes.get_mut(&id).expect("no such node")
    }

    fn raft(&self, id: u64) -> &Raft<MemStorage> {
        &self.nodes[&id].raft
    }

    /// Carries out every pending Ready of `id`, per the documented order.
    /// Outgoing messages are queued, not delivered. Frozen nodes are left
    /// alone (their disk is stalled).
    fn process(&mut self, id: u64) {
        if self.frozen.contains(&id) {
            return;
        }
        while self.nodes.get(&id).is_some_and(|n| n.has_ready()) {
            let rd = self.node(id).ready();
            self.carry_out(id, rd);
        }
    }

    /// Carries out one Ready of `id` and advances.
    fn carry_out(&mut self, id: u64, rd: Ready) {
        let node = self.nodes.get_mut(&id).expect("no such node");
        // Committed entries are handed out only once durable locally.
        if let Some(last) = rd.committed_entries.last() {
            let stored = node.store().last_index();
            assert!(
                last.index <= stored && rd.entries.first().is_none_or(|e| e.index > last.index),
                "node {id} was handed committed entry {} before persisting it",
                last.index
            );
        }
        // 1. Messages that may leave before persisting.
        for m in rd.messages {
            self.sent.push(m.clone());
            self.queue.push_back(m);
        }
        // 2. Persist snapshot, entries, hard state.
        if let Some(s) = &rd.snapshot {
            node.store_mut()
                .apply_snapshot(s.clone())
                .expect("a received snapshot is newer than the stored one");
        }
        node.store_mut().append(&rd.entries);
        if let Some(hs) = rd.hard_state {
            node.store_mut().set_hard_state(hs);
        }
        // 3. Messages that speak of durable state.
        for m in rd.persisted_messages {
            self.sent.push(m.clone());
            self.queue.push_back(m);
        }
        // 4. Apply.
        if let Some(s) = rd.snapshot {
            self.conf.insert(id, s.metadata.conf_state.clone());
            self.snapshots.entry(id).or_default().push(s);
        }
        for e in rd.committed_entries {
            match e.entry_type {
                EntryType::ConfChange => {
                    let cc = ConfChange::decode(&e.data).expect("well-formed conf change");
                    let cs = node.apply_conf_change(&cc);
                    self.conf.insert(id, cs);
                }
                EntryType::Normal if !e.data.is_empty() => {
                    self.applied.entry(id).or_default().push(e.data);
                }
                EntryType::Normal => {}
            }
        }
        self.reads.entry(id).or_default().extend(rd.read_states);
        // 5. Advance.
        node.advance();
    }

    fn deliver(&mut self, mut m: Message) {
        if self.cut.contains(&(m.from, m.to)) {
            return;
        }
        if let Some(f) = self.filter.as_mut() {
            match f(&mut m) {
                Fate::Drop => return,
                Fate::Hold => {
                    self.held.push(m);
                    return;
                }
                Fate::Deliver => {}
            }
        }
        self.hand_over(m);
    }

    /// Steps `m` into its target, past cuts and filter.
    fn hand_over(&mut self, m: Message) {
        let (from, to) = (m.from, m.to);
        let is_snapshot = m.msg_type == MessageType::Snapshot;
        let Some(node) = self.nodes.get_mut(&to) else {
            return;
        };
        // Refusals (e.g. a response from a peer no longer in the config) are
        // part of normal operation.
        let _ = node.step(m);
        self.process(to);
        if is_snapshot {
            // The transport reports that the snapshot went through.
            if let Some(sender) = self.nodes.get_mut(&from) {
                sender.report_snapshot(to, false);
            }
            self.process(from);
        }
    }

    /// Processes Readies and delivers messages until nothing moves.
    fn run(&mut self) {
        for _ in 0..200_000 {
            for id in self.ids() {
                self.process(id);
            }
            match self.queue.pop_front() {
                Some(m) => self.deliver(m),
                None => return,
            }
        }
        panic!("the network did not quiesce");
    }

    /// Steps `m` into its target and returns what the target says in reply,
    /// without delivering it.
    fn inject(&mut self, m: Message) -> Vec<Message> {
        let to = m.to;
        let _ = self.node(to).step(m);
        self.process(to);
        self.queue.drain(..).collect()
    }

    fn campaign(&mut self, id: u64) {
        self.node(id).campaign().expect("campaign");
        self.run();
    }

    fn propose(&mut self, id: u64, data: &str) -> Result<(), Error> {
        let r = self.node(id).propose(bytes(data));
        self.run();
        r
    }

    fn propose_conf_change(
        &mut self,
        id: u64,
        change_type: ConfChangeType,
        node_id: u64,
    ) -> Result<(), Error> {
        let r = self.node(id).propose_conf_change(&ConfChange {
            change_type,
            node_id,
            context: Bytes::new(),
        });
        self.run();
        r
    }

    fn tick(&mut self, id: u64) {
        self.node(id).tick();
        self.run();
    }

    fn tick_all(&mut self) {
        for id in self.ids() {
            self.node(id).tick();
        }
        self.run();
    }

    /// Ticks every node until one of `among` leads; returns it.
    fn tick_until_leader(&mut self, among: &[u64]) -> u64 {
        for _ in 0..50 * ELECTION {
            self.tick_all();
            if let Some(&l) = among
                .iter()
                .find(|&&id| self.raft(id).state == StateRole::Leader)
            {
                return l;
            }
        }
        panic!("no leader among {among:?} emerged");
    }

    fn cut(&mut self, a: u64, b: u64) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
    }

    fn isolate(&mut self, id: u64) {
        for other in self.ids() {
            if other != id {
                self.cut(id, other);
            }
        }
    }

    fn reconnect(&mut self, id: u64) {
        self.cut.retain(|&(a, b)| a != id && b != id);
    }

    fn heal(&mut self) {
        self.cut.clear();
        self.filter = None;
    }

    fn set_filter(&mut self, f: impl FnMut(&mut Message) -> Fate + 'static) {
        self.filter = Some(Box::new(f));
    }

    fn clear_filter(&mut self) {
        self.filter = None;
    }

    /// Delivers the oldest held message (whatever the filter says now) and
    /// runs; returns it.
    fn release_one_held(&mut self) -> Option<Message> {
        if self.held.is_empty() {
            return None;
        }
        let m = self.held.remove(0);
        self.hand_over(m.clone());
        self.run();
        Some(m)
    }

    fn leaders(&self) -> Vec<u64> {
        self.nodes
            .values()
            .filter(|n| n.raft.state == StateRole::Leader)
            .map(|n| n.raft.id)
            .collect()
    }

    /// The node's persisted log (after its snapshot, if any).
    fn log(&self, id: u64) -> Vec<Entry> {
        let s = self.nodes[&id].store();
        if s.last_index() < s.first_index() {
            return Vec::new();
        }
        s.entries(s.first_index(), s.last_index() + 1, u64::MAX)
            .expect("the stored log is readable")
    }

    fn terms(&self, id: u64) -> Vec<u64> {
        self.log(id).iter().map(|e| e.term).collect()
    }

    fn applied(&self, id: u64) -> Vec<Bytes> {
        self.applied.get(&id).cloned().unwrap_or_default()
    }

    fn reads(&self, id: u64) -> Vec<ReadState> {
        self.reads.get(&id).cloned().unwrap_or_default()
    }

    fn committed(&self, id: u64) -> u64 {
        self.raft(id).log.committed
    }

    fn last_index(&self, id: u64) -> u64 {
        self.raft(id).log.last_index()
    }

    /// Messages emitted since `mark` (an earlier `sent.len()`) matching `f`.
    fn sent_since(&self, mark: usize, f: impl Fn(&Message) -> bool) -> Vec<&Message> {
        self.sent[mark..].iter().filter(|m| f(m)).collect()
    }
}

fn bytes(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// Entries at indexes 1.. with the given terms.
fn entries(terms: &[u64]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(i, &term)| Entry {
            term,
            index: i as u64 + 1,
            ..Entry::default()
        })
        .collect()
}

/// A node of the cluster `voters` whose log holds entries of `terms` (none
/// committed) and whose current term is `term`.
fn node_with_log(id: u64, voters: &[u64], terms: &[u64], term: u64) -> Node {
    node_with_log_cfg(id, voters, terms, term, |_| {})
}

fn node_with_log_cfg(
    id: u64,
    voters: &[u64],
    terms: &[u64],
    term: u64,
    tweak: impl Fn(&mut Config),
) -> Node {
    let mut s = MemStorage::new_with_conf(voters);
    s.append(&entries(terms));
    s.set_hard_state(HardState {
        term,
        vote: NONE,
        commit: 0,
    });
    let mut c = Config::new(id);
    tweak(&mut c);
    RawNode::new(&c, s).expect("valid node")
}

fn vote_request(from: u64, to: u64, term: u64, index: u64, log_term: u64) -> Message {
    Message {
        msg_type: MessageType::RequestVote,
        from,
        to,
        term,
        index,
        log_term,
        ..Message::default()
    }
}

/// Whether `out` grants (`Some(true)`) or refuses (`Some(false)`) a vote to
/// `to`, or holds no answer at all (`None`).
fn vote_answer(out: &[Message], to: u64) -> Option<bool> {
    out.iter()
        .find(|m| m.msg_type == MessageType::RequestVoteResponse && m.to == to)
        .map(|m| !m.reject)
}

fn is_append_to(m: &Message, to: u64) -> bool {
    m.msg_type == MessageType::Append && m.to == to
}

fn is_rejection_from(m: &Message, from: u64) -> bool {
    m.msg_type == MessageType::AppendResponse && m.from == from && m.reject
}

// ---------------------------------------------------------------------------
// 1. Leader election (§5.2) and the election restriction (§5.4.1)
// ---------------------------------------------------------------------------

// Pins: one campaign in a healthy 3-node cluster yields exactly one leader,
// one term higher, followed by everyone else.
#[test]
fn a_campaign_elects_exactly_one_leader() {
    let mut n = Network::new(&[1, 2, 3]);
    let term = n.raft(1).term;
    n.campaign(1);
    assert_eq!(n.leaders(), vec![1]);
    assert_eq!(n.raft(1).term, term + 1);
    for id in [2, 3] {
        assert_eq!(n.raft(id).state, StateRole::Follower, "node {id}");
        assert_eq!(n.raft(id).lead, 1, "node {id}");
        assert_eq!(n.raft(id).term, term + 1, "node {id}");
    }
}

// Pins: a node grants at most one vote per term (a repeat to the same
// candidate is fine), records it durably, and votes afresh in a later term.
#[test]
fn a_vote_is_granted_at_most_once_per_term() {
    let voter = RawNode::new(&Config::new(1), MemStorage::bootstrap(&[1, 2, 3])).unwrap();
    let mut n = Network::from_nodes(vec![voter]);
    let (last, term) = (n.last_index(1), n.raft(1).term);

    let out = n.inject(vote_request(2, 1, term + 1, last, term));
    assert_eq!(
        vote_answer(&out, 2),
        Some(true),
        "first request of the term"
    );
    assert_eq!(n.node(1).store().hard_state().vote, 2, "vote persisted");

    let out = n.inject(vote_request(3, 1, term + 1, last, term));
    assert_eq!(
        vote_answer(&out, 3),
        Some(false),
        "second candidate, same term"
    );

    let out = n.inject(vote_request(2, 1, term + 1, last, term));
    assert_eq!(
        vote_answer(&out, 2),
        Some(true),
        "retransmission from the same candidate"
    );

    let out = n.inject(vote_request(3, 1, term + 2, last, term));
    assert_eq!(
        vote_answer(&out, 3),
        Some(true),
        "a new term frees the vote"
    );
    assert_eq!(n.node(1).store().hard_state().vote, 3);
}

// Pins §5.4.1: a vote goes only to a candidate whose log is at least as
// up-to-date: higher last term, or same last term and at least as long.
#[test]
fn a_voter_refuses_candidates_whose_log_is_less_up_to_date() {
    // The voter's log: terms [1, 1, 2], i.e. last index 3, last term 2.
    let cases = [
        ("longer but lower last term", 4, 1, false),
        ("same last term but shorter", 2, 2, false),
        ("identical", 3, 2, true),
        ("same last term and longer", 4, 2, true),
        ("higher last term though shorter", 2, 3, true),
    ];
    for (what, index, log_term, granted) in cases {
        let voter = node_with_log(1, &[1, 2, 3], &[1, 1, 2], 2);
        let mut n = Network::from_nodes(vec![voter]);
        let out = n.inject(vote_request(2, 1, 3, index, log_term));
        assert_eq!(vote_answer(&out, 2), Some(granted), "candidate log {what}");
        let expected_vote = if granted { 2 } else { NONE };
        assert_eq!(n.raft(1).vote, expected_vote, "{what}");
    }
}

// Pins §5.4.1 end to end: a candidate missing the last entry loses, and the
// up-to-date node that then campaigns wins and repairs its log.
#[test]
fn a_candidate_with_a_stale_log_cannot_win_an_election() {
    let no_pre_vote = |c: &mut Config| c.pre_vote = false;
    let mut n = Network::from_nodes(vec![
        node_with_log_cfg(1, &[1, 2, 3], &[1, 1], 2, no_pre_vote),
        node_with_log_cfg(2, &[1, 2, 3], &[1, 1, 2], 2, no_pre_vote),
        node_with_log_cfg(3, &[1, 2, 3], &[1, 1, 2], 2, no_pre_vote),
    ]);
    n.campaign(1);
    assert!(
        n.leaders().is_empty(),
        "stale candidate won: {:?}",
        n.leaders()
    );
    assert_eq!(n.raft(1).state, StateRole::Follower);
    let refusals = n.sent_since(0, |m| {
        m.msg_type == MessageType::RequestVoteResponse && m.to == 1 && m.reject
    });
    assert_eq!(refusals.len(), 2, "both peers refuse");

    n.campaign(2);
    assert_eq!(n.leaders(), vec![2]);
    assert_eq!(n.terms(1), n.terms(2));
    assert_eq!(&n.terms(1)[..3], &[1, 1, 2]);
}

// ---------------------------------------------------------------------------
// 2. Log replication: Figure 7, log matching, fast backtracking (§5.3)
// ---------------------------------------------------------------------------

/// The leader's log of Figure 7, before it appends its term-8 entry.
const FIG7_LEADER: [u64; 10] = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];

/// A cluster of the Figure 7 leader (node 1, current term 7 so its
/// campaign makes it leader at term 8), a supporter holding the leader's log
/// (node 2, so the leader wins even when the follower under test refuses
/// its vote), and the follower under test (node 3), with `tweak` applied to
/// every node's config.
fn figure_7_cluster(follower: &[u64], tweak: impl Fn(&mut Config) + Copy) -> Network {
    let voters = [1, 2, 3];
    let mut n = Network::from_nodes(vec![
        node_with_log_cfg(1, &voters, &FIG7_LEADER, 7, tweak),
        node_with_log_cfg(2, &voters, &FIG7_LEADER, 7, tweak),
        node_with_log_cfg(3, &voters, follower, 7, tweak),
    ]);
    n.campaign(1);
    assert_eq!(n.leaders(), vec![1]);
    assert_eq!(n.raft(1).term, 8);
    n
}

// Pins Figure 7: whatever the follower's log (missing entries, extra
// uncommitted entries, or both), after the leader replicates it equals the
// leader's, including the leader's own term-8 entry, and is fully committed.
#[test]
fn figure_7_every_follower_log_converges_to_the_leaders() {
    let followers: [(&str, &[u64]); 6] = [
        ("a", &[1, 1, 1, 4, 4, 5, 5, 6, 6]),
        ("b", &[1, 1, 1, 4]),
        ("c", &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]),
        ("d", &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]),
        ("e", &[1, 1, 1, 4, 4, 4, 4]),
        ("f", &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]),
    ];
    let mut expected = FIG7_LEADER.to_vec();
    expected.push(8);
    for (name, follower) in followers {
        let n = figure_7_cluster(follower, |_| {});
        assert_eq!(n.terms(1), expected, "leader log ({name})");
        assert_eq!(n.terms(3), expected, "follower ({name})");
        assert_eq!(n.committed(3), 11, "follower ({name}) learns the commit");
        let rejections = n.sent_since(0, |m| is_rejection_from(m, 3)).len();
        assert!(
            rejections <= 1,
            "follower ({name}) needed {rejections} rejections to find the match point"
        );
    }
}

// Pins the log matching repair: a follower's conflicting, uncommitted
// entries are truncated (in its storage too) and never applied.
#[test]
fn conflicting_uncommitted_entries_are_replaced_and_never_applied() {
    let voters = [1, 2, 3];
    let mut doomed = MemStorage::new_with_conf(&voters);
    let mut ents = entries(&[1, 1, 2, 2, 2]);
    for e in &mut ents[2..] {
        e.data = bytes("doomed");
    }
    doomed.append(&ents);
    doomed.set_hard_state(HardState {
        term: 3,
        vote: NONE,
        commit: 0,
    });
    let mut n = Network::from_nodes(vec![
        node_with_log(1, &voters, &[1, 1, 3], 3),
        node_with_log(2, &voters, &[1, 1, 3], 3),
        RawNode::new(&Config::new(3), doomed).unwrap(),
    ]);
    n.campaign(1);
    assert_eq!(n.leaders(), vec![1]);
    assert_eq!(n.terms(3), vec![1, 1, 3, 4]);
    assert_eq!(n.node(3).store().last_index(), 4, "stale suffix truncated");
    assert!(n.log(3).iter().all(|e| e.data != bytes("doomed")));
    assert_eq!(n.committed(3), 4);
    n.propose(1, "kept").unwrap();
    assert_eq!(n.applied(3), vec![bytes("kept")]);
}

// Pins fast backtracking: a follower whose log diverges over a long run of
// one term is repaired in one rejection, not one per divergent entry.
#[test]
fn fast_backtracking_skips_a_divergent_term_in_one_round_trip() {
    let run = |first: u64, len: usize| {
        let mut t = vec![1];
        t.extend(std::iter::repeat_n(first, len));
        t
    };
    // (leader log, follower log): a follower with a long lower-term tail,
    // and one with a long higher-term tail (which the supporter outvotes).
    let cases = [
        ("follower tail of a lower term", run(3, 50), run(2, 100)),
        ("follower tail of a higher term", run(2, 50), run(3, 60)),
    ];
    for (what, leader, follower) in cases {
        let voters = [1, 2, 3];
        let mut n = Network::from_nodes(vec![
            node_with_log(1, &voters, &leader, 3),
            node_with_log(2, &voters, &leader, 3),
            node_with_log(3, &voters, &follower, 3),
        ]);
        n.campaign(1);
        assert_eq!(n.leaders(), vec![1], "{what}");
        assert_eq!(n.terms(3), n.terms(1), "{what}");
        let rejections = n.sent_since(0, |m| is_rejection_from(m, 3)).len();
        assert!(
            (1..=2).contains(&rejections),
            "{what}: {rejections} rejections (one per entry would be 50)"
        );
        let appends = n.sent_since(0, |m| is_append_to(m, 3)).len();
        assert!(
            appends <= 4,
            "{what}: {appends} appends to repair the follower"
        );
    }
}

// ---------------------------------------------------------------------------
// 3. Commit rule: Figure 8 (§5.4.2)
// ---------------------------------------------------------------------------

// Pins Figure 8: a term-4 leader does not commit the term-2 entry at index 2
// even once it sits on 4 of 5 servers; it commits it together with its own
// term-4 entry, after which the term-3 server can no longer win and
// overwrite it.
#[test]
fn figure_8_an_earlier_term_entry_commits_only_with_an_entry_of_the_current_term() {
    let voters = [1, 2, 3, 4, 5];
    let mut n = Network::from_nodes(vec![
        // S1 led term 2 and replicated index 2 to S2 only; S5 led term 3.
        node_with_log(1, &voters, &[1, 2], 3),
        node_with_log(2, &voters, &[1, 2], 3),
        node_with_log(3, &voters, &[1], 3),
        node_with_log(4, &voters, &[1], 3),
        node_with_log(5, &voters, &[1, 3], 3),
    ]);
    // S5 is down. S1 wins term 4 with S2, S3 and S4.
    n.isolate(5);
    // S3 and S4 receive the term-2 entry, but the term-4 entry is delayed:
    // appends reach them without it.
    n.set_filter(|m| {
        if m.msg_type == MessageType::Append && (m.to == 3 || m.to == 4) {
            m.entries.retain(|e| e.term != 4);
        }
        Fate::Deliver
    });
    n.campaign(1);
    assert_eq!(n.leaders(), vec![1]);
    assert_eq!(n.raft(1).term, 4);

    for id in [1, 2, 3, 4] {
        assert_eq!(n.log(id)[1].term, 2, "S{id} holds the term-2 entry");
    }
    for id in [3, 4] {
        assert_eq!(
            n.raft(1).prs.progress[&id].matched,
            2,
            "leader knows S{id} has it"
        );
    }
    assert_eq!(n.terms(3), vec![1, 2], "the term-4 entry did not reach S3");
    assert_eq!(
        n.committed(1),
        0,
        "replicated on a majority, yet not committed"
    );

    // The term-4 entry reaches a majority: everything up to it commits.
    n.clear_filter();
    n.tick(1);
    assert_eq!(n.committed(1), 3);
    assert!(n.committed(3) >= 2);

    // S1 crashes and S5 comes back: S5's term-3 entry must not win.
    n.reconnect(5);
    n.isolate(1);
    let leader = n.tick_until_leader(&[2, 3, 4, 5]);
    assert!(
        leader == 2 || leader == 3,
        "S{leader} lacks a committed entry yet won"
    );
    n.propose(leader, "after").unwrap();
    for id in [2, 3, 4, 5] {
        assert_eq!(&n.terms(id)[..3], &[1, 2, 4], "S{id}");
        assert_eq!(n.applied(id), vec![bytes("after")], "S{id}");
    }
}

// Pins the leader's persistence rule: its own copy of an entry counts
// toward commit only after advance() reports it persisted, even if a
// follower already acknowledged it.
#[test]
fn a_leader_counts_its_own_copy_only_once_persisted() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    n.cut(1, 3);
    n.node(1).propose(bytes("x")).unwrap();
    // The leader's disk stalls: its appends go out, its own write waits.
    let mut rd = n.node(1).ready();
    let index = rd.entries.last().expect("the proposal to persist").index;
    n.frozen.insert(1);
    n.queue.extend(std::mem::take(&mut rd.messages));
    n.run();
    assert_eq!(
        n.raft(1).prs.progress[&2].matched,
        index,
        "follower 2 acknowledged"
    );
    assert!(
        n.committed(1) < index,
        "committed on the strength of an unpersisted copy"
    );

    n.frozen.remove(&1);
    n.carry_out(1, rd);
    n.run();
    assert_eq!(n.committed(1), index);
    assert_eq!(n.applied(2), vec![bytes("x")]);
}

// ---------------------------------------------------------------------------
// 4. Leader completeness (§5.4)
// ---------------------------------------------------------------------------

// Pins leader completeness: after the leader is cut off, the next leader's
// log holds every committed entry, and the old leader's uncommitted entry
// is discarded, never applied.
#[test]
fn the_next_leader_holds_every_committed_entry() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    for i in 0..5 {
        n.propose(1, &format!("c{i}")).unwrap();
    }
    let committed = n.committed(1);
    assert_eq!(committed, n.last_index(1));
    let committed_log = n.log(1)[..committed as usize].to_vec();

    n.isolate(1);
    n.propose(1, "lost").unwrap();
    assert_eq!(n.committed(1), committed, "no quorum: nothing commits");

    let leader = n.tick_until_leader(&[2, 3]);
    assert_eq!(&n.log(leader)[..committed as usize], &committed_log[..]);

    n.heal();
    n.propose(leader, "new").unwrap();
    for _ in 0..3 {
        n.tick_all();
    }
    assert_eq!(n.raft(1).lead, leader);
    assert_eq!(n.log(1), n.log(leader));
    assert!(!n.log(1).iter().any(|e| e.data == bytes("lost")));
    let mut want: Vec<Bytes> = (0..5).map(|i| bytes(&format!("c{i}"))).collect();
    want.push(bytes("new"));
    for id in [1, 2, 3] {
        assert_eq!(n.applied(id), want, "node {id}");
    }
}

// ---------------------------------------------------------------------------
// 5. PreVote and CheckQuorum (thesis §9.6, §6.2)
// ---------------------------------------------------------------------------

/// A 3-node cluster led by 1, where 3 is partitioned for ten election
/// timeouts and then rejoins. Returns the network and the term before.
fn partitioned_node_rejoins(tweak: impl Fn(&mut Config)) -> (Network, u64) {
    let mut n = Network::with_config(&[1, 2, 3], tweak);
    n.campaign(1);
    let term = n.raft(1).term;
    n.isolate(3);
    for _ in 0..10 * ELECTION {
        n.tick_all();
    }
    (n, term)
}

// Pins PreVote: a node partitioned for a long time keeps pre-campaigning
// without raising its term, and on rejoining neither raises the cluster's
// term nor deposes the leader.
#[test]
fn with_pre_vote_a_rejoining_partitioned_node_leaves_term_and_leader_alone() {
    let (mut n, term) = partitioned_node_rejoins(|_| {});
    assert_eq!(
        n.raft(3).term,
        term,
        "pre-campaigning does not raise the term"
    );
    let pre_votes = n.sent_since(0, |m| m.msg_type == MessageType::PreVote && m.from == 3);
    assert!(!pre_votes.is_empty(), "the partitioned node did try");
    assert!(
        n.sent_since(0, |m| m.msg_type == MessageType::RequestVote && m.from == 3)
            .is_empty()
    );

    n.heal();
    for _ in 0..3 * ELECTION {
        n.tick_all();
    }
    assert_eq!(n.leaders(), vec![1]);
    for id in [1, 2, 3] {
        assert_eq!(n.raft(id).term, term, "node {id}");
    }
    assert_eq!(n.raft(3).lead, 1);
}

// Pins why PreVote matters (the contrast to the test above): without it the
// partitioned node inflates its term and disrupts the cluster on return.
#[test]
fn without_pre_vote_a_rejoining_partitioned_node_raises_the_term() {
    let (mut n, term) = partitioned_node_rejoins(|c| {
        c.pre_vote = false;
        c.check_quorum = false;
    });
    assert!(
        n.raft(3).term > term + 1,
        "term {} after isolation",
        n.raft(3).term
    );
    n.heal();
    for _ in 0..3 * ELECTION {
        n.tick_all();
    }
    assert!(n.raft(1).term > term, "the cluster's term was raised");
}

// Pins CheckQuorum: a leader that hears from no quorum for a full election
// timeout steps down (keeping its term); one that does hear stays.
#[test]
fn check_quorum_steps_down_an_isolated_leader() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    let term = n.raft(1).term;
    for _ in 0..5 * ELECTION {
        n.tick(1);
    }
    assert_eq!(n.leaders(), vec![1], "a connected leader keeps its role");

    n.isolate(1);
    for _ in 0..ELECTION - 1 {
        n.tick(1);
    }
    assert_eq!(
        n.raft(1).state,
        StateRole::Leader,
        "not before an election timeout"
    );
    for _ in 0..ELECTION + 1 {
        n.tick(1);
    }
    assert_eq!(n.raft(1).state, StateRole::Follower, "stepped down");
    assert_eq!(n.raft(1).term, term);
    assert_eq!(n.raft(1).lead, NONE);
}

// Pins the leader lease that CheckQuorum enables: a follower that heard from
// its leader within the election timeout ignores a vote request of a higher
// term; once the timeout has passed it considers it.
#[test]
fn a_follower_in_a_leader_lease_ignores_a_disruptive_vote_request() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    n.tick(1);
    let term = n.raft(3).term;
    let (last, last_term) = (n.last_index(2), n.raft(2).log.last_term());
    let disruptive = vote_request(2, 3, term + 3, last, last_term);

    let out = n.inject(disruptive.clone());
    assert!(out.is_empty(), "no answer at all: {out:?}");
    assert_eq!(n.raft(3).term, term);
    assert_eq!(n.raft(3).lead, 1);

    n.isolate(3);
    for _ in 0..ELECTION {
        n.tick(3);
    }
    let out = n.inject(disruptive);
    assert_eq!(
        n.raft(3).term,
        term + 3,
        "lease expired: the term is adopted"
    );
    assert_eq!(vote_answer(&out, 2), Some(true));
}

// ---------------------------------------------------------------------------
// 6. ReadIndex (thesis §6.4)
// ---------------------------------------------------------------------------

// Pins ReadIndex on the leader: the read is answered at the commit index,
// and only after a heartbeat round carrying its context.
#[test]
fn a_leader_read_is_answered_at_the_commit_index_after_a_heartbeat_round() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    n.propose(1, "x").unwrap();
    let commit = n.committed(1);

    n.node(1).read_index(bytes("r1")).unwrap();
    n.process(1);
    assert!(
        n.reads(1).is_empty(),
        "answered before confirming leadership"
    );
    let beats: Vec<u64> = n
        .queue
        .iter()
        .filter(|m| m.msg_type == MessageType::Heartbeat && m.context == bytes("r1"))
        .map(|m| m.to)
        .collect();
    assert_eq!(beats, vec![2, 3]);

    n.run();
    assert_eq!(
        n.reads(1),
        vec![ReadState {
            index: commit,
            request_ctx: bytes("r1")
        }]
    );
}

// Pins ReadIndex safety: a leader that cannot reach a quorum answers no
// read, since it might have been deposed.
#[test]
fn a_leader_without_a_quorum_answers_no_read() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    n.isolate(1);
    n.node(1).read_index(bytes("r")).unwrap();
    n.run();
    for _ in 0..3 {
        n.tick(1);
    }
    assert!(n.reads(1).is_empty());
    n.heal();
    n.tick(1);
    assert_eq!(n.reads(1).len(), 1, "answered once a quorum acknowledges");
}

// Pins ReadIndex on a follower: the request is forwarded to the leader and
// the answer (the leader's commit index) comes back as a ReadState.
#[test]
fn a_follower_read_is_forwarded_to_the_leader_and_answered() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    n.propose(1, "x").unwrap();
    let commit = n.committed(1);
    let mark = n.sent.len();
    n.node(3).read_index(bytes("f")).unwrap();
    n.run();
    assert_eq!(
        n.reads(3),
        vec![ReadState {
            index: commit,
            request_ctx: bytes("f")
        }]
    );
    assert!(
        n.reads(1).is_empty(),
        "the leader answers the follower, not itself"
    );
    let forwarded = n.sent_since(mark, |m| {
        m.msg_type == MessageType::ReadIndex && m.from == 3 && m.to == 1
    });
    assert_eq!(forwarded.len(), 1);
}

// Pins that a new leader defers reads until an entry of its own term is
// committed, since until then its commit index may lag.
#[test]
fn a_new_leader_answers_reads_only_after_committing_an_entry_of_its_term() {
    let mut n = Network::new(&[1, 2, 3]);
    n.set_filter(|m| {
        if m.msg_type == MessageType::AppendResponse {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    n.campaign(1);
    assert_eq!(n.leaders(), vec![1]);
    let own_entry = n.last_index(1);
    assert!(n.committed(1) < own_entry);

    n.node(1).read_index(bytes("early")).unwrap();
    n.run();
    assert!(
        n.reads(1).is_empty(),
        "answered before its term's entry committed"
    );

    n.clear_filter();
    n.tick(1);
    assert_eq!(n.committed(1), own_entry);
    assert_eq!(
        n.reads(1),
        vec![ReadState {
            index: own_entry,
            request_ctx: bytes("early")
        }]
    );
}

// Pins that a read with no leader known is refused at once.
#[test]
fn read_index_without_a_leader_is_dropped() {
    let mut n = Network::new(&[1, 2, 3]);
    assert_eq!(
        n.node(1).read_index(bytes("r")),
        Err(Error::ProposalDropped)
    );
    n.isolate(1);
    n.campaign(1);
    assert_eq!(n.raft(1).state, StateRole::PreCandidate);
    assert_eq!(
        n.node(1).read_index(bytes("r")),
        Err(Error::ProposalDropped)
    );
}

// ---------------------------------------------------------------------------
// 7. Proposals
// ---------------------------------------------------------------------------

// Pins that a follower forwards proposals to the leader, which commits them
// on every member.
#[test]
fn a_follower_forwards_proposals_to_the_leader() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    let mark = n.sent.len();
    n.propose(3, "fwd").unwrap();
    let forwarded = n.sent_since(mark, |m| {
        m.msg_type == MessageType::Propose && m.from == 3 && m.to == 1
    });
    assert_eq!(forwarded.len(), 1);
    for id in [1, 2, 3] {
        assert_eq!(n.applied(id), vec![bytes("fwd")], "node {id}");
    }
}

// Pins that a proposal with no leader to take it is dropped with an error.
#[test]
fn proposals_without_a_leader_are_dropped() {
    let mut n = Network::new(&[1, 2, 3]);
    assert_eq!(n.propose(2, "x"), Err(Error::ProposalDropped));
    n.isolate(2);
    n.campaign(2);
    assert_eq!(n.raft(2).state, StateRole::PreCandidate);
    assert_eq!(n.propose(2, "x"), Err(Error::ProposalDropped));
    assert!(n.applied.values().all(|a| a.is_empty()));
}

// ---------------------------------------------------------------------------
// 8. Snapshots (§7)
// ---------------------------------------------------------------------------

// Pins log compaction: a follower that needs entries the leader compacted
// receives the leader's snapshot, installs it, then replicates the rest.
#[test]
fn a_follower_behind_the_compacted_log_catches_up_by_snapshot() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    n.isolate(3);
    for i in 0..10 {
        n.propose(1, &format!("p{i}")).unwrap();
    }
    let snap_index = n.raft(1).log.applied;
    assert_eq!(snap_index, n.committed(1));
    let conf = n.conf[&1].clone();
    assert_eq!(conf.voters, vec![1, 2, 3]);
    n.node(1)
        .store_mut()
        .create_snapshot(snap_index, conf, bytes("image"))
        .unwrap();
    n.node(1).store_mut().compact(snap_index).unwrap();
    n.propose(1, "tail1").unwrap();
    n.propose(1, "tail2").unwrap();
    assert_eq!(n.node(1).store().first_index(), snap_index + 1);

    n.heal();
    let mark = n.sent.len();
    n.tick(1);
    let snaps = n.sent_since(mark, |m| m.msg_type == MessageType::Snapshot && m.to == 3);
    assert_eq!(snaps.len(), 1);
    let installed = n.snapshots.get(&3).cloned().unwrap_or_default();
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0].metadata.index, snap_index);
    assert_eq!(installed[0].data, bytes("image"));
    assert_eq!(n.node(3).store().first_index(), snap_index + 1);
    assert_eq!(n.log(3), n.log(1), "the tail after the snapshot replicated");
    assert_eq!(n.committed(3), n.committed(1));
    assert_eq!(n.applied(3), vec![bytes("tail1"), bytes("tail2")]);
    assert_eq!(n.raft(1).prs.progress[&3].state, ProgressState::Replicate);

    n.propose(1, "later").unwrap();
    assert_eq!(n.applied(3).last(), Some(&bytes("later")));
}

// Pins that a snapshot arriving while a Ready is being carried out (stepped
// between ready() and advance(), as a server that keeps receiving from the
// network does) leaves advance() and the apply pointers consistent.
#[test]
fn a_snapshot_stepped_between_ready_and_advance_is_safe() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    n.propose(1, "a").unwrap();
    let old_commit = n.committed(3);
    // Node 3 persists "b" but does not yet hear that it is committed.
    n.set_filter(move |m| {
        if m.to == 3 && matches!(m.msg_type, MessageType::Append | MessageType::Heartbeat) {
            m.commit = m.commit.min(old_commit);
        }
        Fate::Deliver
    });
    n.propose(1, "b").unwrap();
    let b = n.last_index(1);
    assert_eq!(n.last_index(3), b);
    assert_eq!(n.committed(3), old_commit);
    n.clear_filter();
    n.isolate(3);
    for i in 0..4 {
        n.propose(1, &format!("p{i}")).unwrap();
    }
    let snap_index = n.raft(1).log.applied;
    let conf = n.conf[&1].clone();
    let snap = n
        .node(1)
        .store_mut()
        .create_snapshot(snap_index, conf, bytes("img"))
        .unwrap();
    let term = n.raft(1).term;

    // The leader's heartbeat tells node 3 that "b" is committed...
    let heartbeat = Message {
        msg_type: MessageType::Heartbeat,
        from: 1,
        to: 3,
        term,
        commit: b,
        ..Message::default()
    };
    n.node(3).step(heartbeat).unwrap();
    let rd = n.node(3).ready();
    assert_eq!(rd.committed_entries.last().map(|e| e.index), Some(b));
    // ...and while node 3 is applying "b", the leader's snapshot arrives.
    let install = Message {
        msg_type: MessageType::Snapshot,
        from: 1,
        to: 3,
        term,
        snapshot: Some(snap),
        ..Message::default()
    };
    n.node(3).step(install).unwrap();
    n.carry_out(3, rd); // applies "b", then advance()
    n.heal();
    n.run();
    n.tick(1);
    assert_eq!(n.committed(3), n.committed(1));
    assert_eq!(n.raft(3).log.applied, n.committed(1));
    assert_eq!(n.snapshots[&3][0].metadata.index, snap_index);
}

// ---------------------------------------------------------------------------
// 9. Membership changes (§6, thesis §4)
// ---------------------------------------------------------------------------

/// A 3-node cluster led by 1 that has added node 4 (started with an empty
/// log) as a learner, which then caught up.
fn cluster_with_learner_4() -> Network {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    n.add(RawNode::new(&Config::new(4), MemStorage::new_with_conf(&[])).unwrap());
    n.propose_conf_change(1, ConfChangeType::AddLearnerNode, 4)
        .unwrap();
    n.tick(1);
    n
}

// Pins learners: a learner receives the log but does not campaign and its
// acknowledgement does not count toward commit.
#[test]
fn a_learner_replicates_but_neither_campaigns_nor_counts_toward_commit() {
    let mut n = cluster_with_learner_4();
    assert_eq!(n.conf[&1].learners, vec![4]);
    assert_eq!(n.conf[&1].voters, vec![1, 2, 3]);
    assert_eq!(n.log(4), n.log(1), "the learner replicated the log");
    assert_eq!(n.conf[&4].learners, vec![4], "and applied its own addition");

    n.cut(1, 2);
    n.cut(1, 3);
    let commit = n.committed(1);
    n.propose(1, "x").unwrap();
    assert_eq!(n.log(4).last().map(|e| e.data.clone()), Some(bytes("x")));
    assert_eq!(n.raft(1).prs.progress[&4].matched, n.last_index(1));
    assert_eq!(
        n.committed(1),
        commit,
        "the learner's copy does not commit it"
    );

    n.isolate(4);
    for _ in 0..5 * ELECTION {
        n.tick(4);
    }
    assert_eq!(n.raft(4).state, StateRole::Follower);
    let campaigns = n.sent_since(0, |m| {
        m.from == 4 && matches!(m.msg_type, MessageType::PreVote | MessageType::RequestVote)
    });
    assert!(campaigns.is_empty(), "a learner never campaigns");
}

// Pins promotion: once the learner is promoted, the quorum grows to 3 of 4,
// so the leader and one old voter no longer suffice, and the new voter's
// copy does count.
#[test]
fn a_promoted_learner_counts_toward_the_quorum() {
    let mut n = cluster_with_learner_4();
    n.propose_conf_change(1, ConfChangeType::AddNode, 4)
        .unwrap();
    for id in [1, 2, 3, 4] {
        assert_eq!(n.conf[&id].voters, vec![1, 2, 3, 4], "node {id}");
        assert!(n.conf[&id].learners.is_empty(), "node {id}");
    }
    assert!(n.raft(4).promotable());

    n.cut(1, 3);
    n.cut(1, 4);
    let commit = n.committed(1);
    n.propose(1, "y").unwrap();
    assert_eq!(n.committed(1), commit, "leader + node 2 are 2 of 4");

    n.reconnect(4);
    n.cut(1, 3);
    n.tick(1);
    assert_eq!(
        n.committed(1),
        n.last_index(1),
        "node 4's copy makes 3 of 4"
    );
}

// Pins removal: a removed voter gets no more traffic and no longer counts.
#[test]
fn a_removed_voter_no_longer_receives_messages_nor_counts() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    n.propose_conf_change(1, ConfChangeType::RemoveNode, 3)
        .unwrap();
    assert_eq!(n.conf[&1].voters, vec![1, 2]);
    assert!(!n.raft(1).prs.progress.contains_key(&3));
    assert!(!n.raft(3).promotable(), "node 3 applied its own removal");

    let mark = n.sent.len();
    n.cut(1, 2);
    let commit = n.committed(1);
    n.propose(1, "z").unwrap();
    for _ in 0..3 {
        n.tick(1);
    }
    assert!(
        n.sent_since(mark, |m| m.to == 3).is_empty(),
        "traffic to node 3"
    );
    assert_eq!(n.committed(1), commit, "1 of {{1, 2}} is no quorum");
    n.heal();
    n.tick(1);
    assert_eq!(n.applied(2), vec![bytes("z")]);
}

// Pins the one-at-a-time rule: a conf change proposed while another is not
// yet applied (including a new leader's implicit one, before its first
// entry) is refused with ConfChangePending; normal proposals still go in.
#[test]
fn a_second_conf_change_while_one_is_pending_is_refused() {
    let mut n = Network::new(&[1, 2, 3]);
    n.set_filter(|m| {
        if m.msg_type == MessageType::AppendResponse {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    n.campaign(1);
    let cc = |change_type, node_id| ConfChange {
        change_type,
        node_id,
        context: Bytes::new(),
    };
    assert_eq!(
        n.node(1)
            .propose_conf_change(&cc(ConfChangeType::AddLearnerNode, 4)),
        Err(Error::ConfChangePending),
        "before the new leader's first entry is applied"
    );
    n.clear_filter();
    n.tick(1);

    n.node(1)
        .propose_conf_change(&cc(ConfChangeType::AddLearnerNode, 4))
        .unwrap();
    assert_eq!(
        n.node(1)
            .propose_conf_change(&cc(ConfChangeType::AddLearnerNode, 5)),
        Err(Error::ConfChangePending)
    );
    assert_eq!(n.node(1).propose(bytes("data")), Ok(()));
    n.run();
    assert_eq!(n.conf[&1].learners, vec![4]);
    n.node(1)
        .propose_conf_change(&cc(ConfChangeType::AddLearnerNode, 5))
        .unwrap();
    n.run();
    assert_eq!(n.conf[&1].learners, vec![4, 5]);
}

// Pins that a leader that applies its own removal steps down, never
// campaigns again, and the remaining voters elect a leader among themselves.
#[test]
fn a_removed_leader_steps_down_and_the_rest_elect_a_new_one() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    n.propose_conf_change(1, ConfChangeType::RemoveNode, 1)
        .unwrap();
    assert_eq!(n.raft(1).state, StateRole::Follower);
    assert_eq!(n.conf[&2].voters, vec![2, 3]);
    assert_eq!(n.conf[&3].voters, vec![2, 3]);

    let mark = n.sent.len();
    let leader = n.tick_until_leader(&[2, 3]);
    n.propose(leader, "after").unwrap();
    assert_eq!(n.applied(2), vec![bytes("after")]);
    assert_eq!(n.applied(3), vec![bytes("after")]);
    let campaigns = n.sent_since(mark, |m| {
        m.from == 1 && matches!(m.msg_type, MessageType::PreVote | MessageType::RequestVote)
    });
    assert!(campaigns.is_empty(), "the removed node campaigned");
    assert_ne!(n.raft(1).state, StateRole::Leader);
}

// ---------------------------------------------------------------------------
// 10. Leadership transfer (thesis §3.10)
// ---------------------------------------------------------------------------

// Pins transfer_leader: the leader sends TimeoutNow to an up-to-date
// follower, which wins at once (one term higher) despite the leader lease.
#[test]
fn transfer_leader_hands_leadership_to_an_up_to_date_follower() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    n.propose(1, "x").unwrap();
    let term = n.raft(1).term;
    let mark = n.sent.len();
    n.node(1).transfer_leader(2);
    n.run();
    assert_eq!(n.leaders(), vec![2]);
    assert_eq!(n.raft(2).term, term + 1);
    assert_eq!(n.raft(1).lead, 2);
    assert_eq!(n.raft(3).lead, 2);
    let timeout_now = n.sent_since(mark, |m| {
        m.msg_type == MessageType::TimeoutNow && m.from == 1 && m.to == 2
    });
    assert_eq!(timeout_now.len(), 1);
    n.propose(2, "y").unwrap();
    assert_eq!(n.applied(1), vec![bytes("x"), bytes("y")]);
}

// Pins that the leader drops proposals while a transfer is in progress, and
// accepts them again once an unfinished transfer is abandoned after an
// election timeout.
#[test]
fn proposals_during_a_leadership_transfer_are_dropped_until_it_is_abandoned() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    n.cut(1, 2); // the TimeoutNow is lost
    n.node(1).transfer_leader(2);
    n.run();
    assert_eq!(n.raft(1).lead_transferee, 2);
    assert_eq!(n.propose(1, "during"), Err(Error::ProposalDropped));

    for _ in 0..ELECTION {
        n.tick(1);
    }
    assert_eq!(n.leaders(), vec![1]);
    assert_eq!(n.raft(1).lead_transferee, NONE, "transfer abandoned");
    assert_eq!(n.propose(1, "after"), Ok(()));
    assert_eq!(n.applied(3), vec![bytes("after")]);
}

// Pins that a transfer to a lagging follower first brings its log up to
// date and only then sends TimeoutNow.
#[test]
fn a_transfer_to_a_lagging_follower_first_catches_it_up() {
    let mut n = Network::new(&[1, 2, 3]);
    n.campaign(1);
    n.isolate(3);
    for i in 0..5 {
        n.propose(1, &format!("p{i}")).unwrap();
    }
    let last = n.last_index(1);
    assert!(n.last_index(3) < last);
    n.heal();

    let mark = n.sent.len();
    n.node(1).transfer_leader(3);
    n.run();
    assert_eq!(n.leaders(), vec![3]);
    let trace = &n.sent[mark..];
    let timeout_at = trace
        .iter()
        .position(|m| m.msg_type == MessageType::TimeoutNow && m.to == 3)
        .expect("TimeoutNow sent");
    let caught_up_at = trace
        .iter()
        .position(|m| {
            m.msg_type == MessageType::AppendResponse && m.from == 3 && !m.reject && m.index == last
        })
        .expect("node 3 acknowledged the leader's last entry");
    assert!(
        caught_up_at < timeout_at,
        "TimeoutNow before the transferee caught up"
    );
    let want: Vec<Bytes> = (0..5).map(|i| bytes(&format!("p{i}"))).collect();
    assert_eq!(n.applied(3), want);
}

// ---------------------------------------------------------------------------
// 11. Flow control: message size cap and in-flight window
// ---------------------------------------------------------------------------

/// Entries per append the leader sends to node 3 while catching it up on 5
/// entries it missed, with `tweak` applied to every config.
fn catch_up_batches(tweak: impl Fn(&mut Config)) -> Vec<usize> {
    let mut n = Network::with_config(&[1, 2, 3], tweak);
    n.campaign(1);
    n.isolate(3);
    for i in 0..5 {
        n.propose(1, &format!("p{i}")).unwrap();
    }
    n.heal();
    let mark = n.sent.len();
    n.tick(1);
    assert_eq!(n.log(3), n.log(1), "caught up");
    n.sent_since(mark, |m| is_append_to(m, 3) && !m.entries.is_empty())
        .iter()
        .map(|m| m.entries.len())
        .collect()
}

// Pins max_size_per_msg: with a tiny cap every append carries exactly one
// entry (never zero: progress is never blocked); without it, one batch.
#[test]
fn a_tiny_size_cap_sends_one_entry_per_append() {
    let tiny = catch_up_batches(|c| c.max_size_per_msg = 1);
    assert_eq!(tiny, vec![1; 5]);
    let roomy = catch_up_batches(|_| {});
    assert_eq!(roomy, vec![5]);
}

// Pins max_inflight_msgs: a replicating follower never has more appends
// outstanding than the window, and catches up as acknowledgements return.
#[test]
fn the_in_flight_window_bounds_outstanding_appends() {
    let mut n = Network::with_config(&[1, 2, 3], |c| {
        c.max_inflight_msgs = 2;
        c.max_size_per_msg = 0;
    });
    n.campaign(1);
    assert_eq!(n.raft(1).prs.progress[&2].state, ProgressState::Replicate);

    // Node 2's acknowledgements are held back by the network.
    n.set_filter(|m| {
        let ack = m.msg_type == MessageType::AppendResponse && m.from == 2;
        if ack { Fate::Hold } else { Fate::Deliver }
    });
    let mark = n.sent.len();
    for i in 0..6 {
        n.propose(1, &format!("p{i}")).unwrap();
    }
    // Appends carrying entries that node 2 has not yet acknowledged, as far
    // as the leader could know from the acknowledgements delivered to it.
    let outstanding = |n: &Network, acked: u64| {
        n.sent_since(mark, |m| {
            is_append_to(m, 2) && m.entries.last().is_some_and(|e| e.index > acked)
        })
        .len()
    };
    assert_eq!(outstanding(&n, 0), 2, "window of 2 filled, then paused");
    assert!(n.raft(1).prs.progress[&2].is_paused());
    assert_eq!(n.applied(3).len(), 6, "node 3 kept the cluster committing");

    // Release acknowledgements one at a time; the window never grows.
    let mut acked = 0;
    let mut releases = 0;
    while let Some(ack) = n.release_one_held() {
        assert!(releases < 100, "acknowledgements keep coming: {:?}", n.held);
        acked = acked.max(ack.index);
        releases += 1;
        let now = outstanding(&n, acked);
        assert!(
            now <= 2,
            "{now} appends outstanding after acknowledging {acked}"
        );
    }
    assert!(releases >= 6, "{releases} acknowledgements");
    let with_entries = n.sent_since(mark, |m| is_append_to(m, 2) && !m.entries.is_empty());
    assert_eq!(with_entries.len(), 6, "one entry per append, none resent");
    assert_eq!(n.log(2), n.log(1));
}
