//! A deterministic cluster simulator for the consensus core.
//!
//! A run is a pure function of its seed: the network, the faults, the
//! clients and every node's election timer draw from seeded generators, and
//! all collections iterate in a fixed order. Each round ticks every live
//! node once, injects faults and client requests, and delivers due messages
//! in random order through a network that drops, duplicates, delays,
//! reorders and partitions. Nodes carry out their Readys under the
//! documented contract, and may crash at any point of it, losing everything
//! not yet persisted.
//!
//! After every round the invariants below are checked; after the fault
//! phase the network heals, crashed nodes restart, and the cluster must
//! elect a leader and commit a new proposal within a bounded number of
//! ticks.
//!
//! Invariants (named as they appear in violation reports):
//! - `election-safety`: at most one leader per term.
//! - `log-matching`: two entries with the same index and term carry the same
//!   payload and follow entries of the same term.
//! - `committed-immutable`: no node ever persists an entry that differs from
//!   one already committed at that index.
//! - `leader-completeness`: a new leader's log holds every committed entry.
//! - `monotonic-term` / `monotonic-commit`: within a node's life neither goes
//!   backwards, nor does the durable hard state across restarts.
//! - `state-machine-safety`: every node applies the same entry at each index,
//!   in order, without gaps.
//! - `linearizable-read`: a ReadIndex answer is at least the highest commit
//!   index any node knew when the read was requested.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use bytes::Bytes;
use cairn_raft::{
    ConfChange, ConfChangeType, ConfState, Config, Entry, EntryType, HardState, MemStorage,
    Message, MessageType, NodeId, RawNode, Snapshot, StateRole, Storage,
};

/// SplitMix64 for the simulator's own choices (the core has its own).
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> SimRng {
        SimRng(seed ^ 0x5EED_CA1E_0000_0001)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.below(items.len() as u64) as usize])
        }
    }
}

/// Which classic bug to plant, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Bug {
    #[default]
    None,
    CommitPreviousTermByCounting,
    AckBeforePersist,
    VoteWithoutLogCheck,
}

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: u64,
    /// Rounds with faults, before the healing phase.
    pub fault_rounds: u64,
    /// Ticks allowed after healing for a leader to emerge and commit.
    pub liveness_ticks: u64,
    pub bug: Bug,
    /// Include membership changes.
    pub membership: bool,
    pub profile: Profile,
}

/// How a seed chooses its faults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// Swarm testing: each seed weighs every fault kind differently.
    #[default]
    Swarm,
    /// Every new leader is cut off (or killed) within a few rounds of
    /// winning, with one entry per append: many terms with half-replicated
    /// logs, the ground on which commit-rule mistakes (the Raft paper's
    /// Figure 8) turn into lost writes.
    FlappingLeaders,
}

impl SimConfig {
    pub fn new(seed: u64, nodes: u64) -> SimConfig {
        SimConfig {
            seed,
            nodes,
            fault_rounds: 300,
            liveness_ticks: 200,
            bug: Bug::None,
            membership: true,
            profile: Profile::Swarm,
        }
    }

    pub fn flapping_leaders(seed: u64, nodes: u64) -> SimConfig {
        SimConfig {
            profile: Profile::FlappingLeaders,
            membership: false,
            ..SimConfig::new(seed, nodes)
        }
    }
}

/// A broken invariant, with the seed and the trace that led to it.
#[derive(Debug)]
pub struct Violation {
    pub seed: u64,
    pub invariant: &'static str,
    pub detail: String,
    pub trace: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "invariant `{}` violated with SIM_SEED={}: {}",
            self.invariant, self.seed, self.detail
        )?;
        writeln!(
            f,
            "replay: SIM_SEED={} cargo test -p cairn-raft --test simulator",
            self.seed
        )?;
        writeln!(f, "--- trace (last 200 lines) ---")?;
        let lines: Vec<&str> = self.trace.lines().collect();
        for l in &lines[lines.len().saturating_sub(200)..] {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

/// What a completed run saw, for the caller's statistics.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub rounds: u64,
    pub committed: u64,
    pub leaders_elected: u64,
    pub crashes: u64,
    pub snapshots_sent: u64,
    pub conf_changes: u64,
    pub transfers: u64,
    pub reads: u64,
}

/// The state machine each node applies entries to: a running hash of the
/// applied log, and its conf state. Its snapshot encodes both.
#[derive(Clone, Debug, Default)]
struct Machine {
    applied: u64,
    hash: u64,
    conf: ConfState,
}

fn mix(h: u64, e: &Entry) -> u64 {
    let mut x = h ^ e.index.wrapping_mul(0x100_0000_01B3) ^ e.term.rotate_left(17);
    for b in e.data.iter() {
        x = (x ^ *b as u64).wrapping_mul(0x100_0000_01B3);
    }
    x
}

fn payload_hash(data: &Bytes) -> u64 {
    let mut x = 0xCBF2_9CE4_8422_2325u64;
    for b in data.iter() {
        x = (x ^ *b as u64).wrapping_mul(0x100_0000_01B3);
    }
    x
}

fn encode_snapshot(m: &Machine) -> Bytes {
    let mut v = Vec::new();
    v.extend_from_slice(&m.applied.to_be_bytes());
    v.extend_from_slice(&m.hash.to_be_bytes());
    Bytes::from(v)
}

fn decode_snapshot(s: &Snapshot) -> Machine {
    let d = &s.data;
    let applied = u64::from_be_bytes(d[0..8].try_into().expect("8 bytes"));
    let hash = u64::from_be_bytes(d[8..16].try_into().expect("8 bytes"));
    Machine {
        applied,
        hash,
        conf: s.metadata.conf_state.clone(),
    }
}

struct Node {
    id: NodeId,
    raw: Option<RawNode<MemStorage>>,
    /// What survives a crash: the storage the node persisted into.
    durable: MemStorage,
    machine: Machine,
    /// Highest term and commit seen in this incarnation.
    seen_term: u64,
    seen_commit: u64,
    /// The durable hard state's high-water marks, across restarts.
    durable_term: u64,
    durable_commit: u64,
}

/// A fault set to happen at a later round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheduled {
    Crash(NodeId),
    Isolate(NodeId),
    Reconnect(NodeId),
}

/// The kinds of fault the simulator injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    CrashLeader,
    CrashAny,
    Restart,
    Partition,
    OneWayCut,
    IsolateLeader,
    Heal,
    NetworkQuality,
    TransferLeader,
    Compact,
    Membership,
}

impl Fault {
    const ALL: [Fault; 11] = [
        Fault::CrashLeader,
        Fault::CrashAny,
        Fault::Restart,
        Fault::Partition,
        Fault::OneWayCut,
        Fault::IsolateLeader,
        Fault::Heal,
        Fault::NetworkQuality,
        Fault::TransferLeader,
        Fault::Compact,
        Fault::Membership,
    ];
}

#[derive(Clone, Debug)]
struct InFlight {
    deliver_at: u64,
    msg: Message,
}

struct World {
    cfg: SimConfig,
    rng: SimRng,
    round: u64,
    nodes: BTreeMap<NodeId, Node>,
    net: Vec<InFlight>,
    /// Directed links currently cut: (from, to).
    cut: BTreeSet<(NodeId, NodeId)>,
    drop_per_mille: u64,
    dup_per_mille: u64,
    max_delay: u64,
    /// Per-seed replication limits, so some runs send one entry per append.
    max_size_per_msg: u64,
    max_inflight: usize,
    /// Per-seed chance of a fault each round, in per mille.
    fault_per_mille: u64,
    /// Per-seed chance that a newly elected leader is killed a few rounds
    /// later (a flapping leader), in per mille.
    flap_per_mille: u64,
    /// Swarm testing: each seed weighs the fault kinds differently.
    fault_weights: Vec<(Fault, u64)>,
    /// Faults scheduled for a later round.
    scheduled: Vec<(u64, Scheduled)>,
    trace: String,
    next_id: NodeId,
    proposal_seq: u64,
    read_seq: u64,
    // --- what the checkers remember ---
    leader_of_term: BTreeMap<u64, NodeId>,
    /// (index, term) -> (payload hash, predecessor's term)
    entries_seen: BTreeMap<(u64, u64), (u64, u64)>,
    /// index -> (term, payload hash) of committed entries.
    committed: BTreeMap<u64, (u64, u64)>,
    /// index -> running hash after applying that index.
    applied_hash: BTreeMap<u64, u64>,
    /// Read context -> the highest commit index known at request time.
    reads: BTreeMap<Bytes, u64>,
    /// Terms whose leader has had its log checked for completeness.
    completeness_checked: BTreeSet<(u64, NodeId)>,
    stats: Stats,
}

type Check = Result<(), (&'static str, String)>;

fn fail(invariant: &'static str, detail: String) -> Check {
    Err((invariant, detail))
}

impl World {
    fn new(cfg: SimConfig) -> World {
        let mut rng = SimRng::new(cfg.seed);
        let (max_size_per_msg, max_inflight, fault_per_mille, flap_per_mille, fault_weights) =
            match cfg.profile {
                Profile::Swarm => (
                    [1, 64, 256, 4096][rng.below(4) as usize],
                    1 + rng.below(8) as usize,
                    [60, 120, 250, 400][rng.below(4) as usize],
                    [0, 0, 300, 700][rng.below(4) as usize],
                    Fault::ALL
                        .iter()
                        .map(|f| (*f, [0, 1, 1, 3][rng.below(4) as usize]))
                        .collect(),
                ),
                Profile::FlappingLeaders => (
                    1,
                    1 + rng.below(4) as usize,
                    60,
                    1000,
                    vec![
                        (Fault::NetworkQuality, 1),
                        (Fault::Restart, 2),
                        (Fault::Compact, 1),
                    ],
                ),
            };
        let mut w = World {
            fault_weights,
            flap_per_mille,
            scheduled: Vec::new(),
            rng,
            fault_per_mille,
            max_size_per_msg,
            max_inflight,
            round: 0,
            nodes: BTreeMap::new(),
            net: Vec::new(),
            cut: BTreeSet::new(),
            drop_per_mille: 0,
            dup_per_mille: 0,
            max_delay: 1,
            trace: String::new(),
            next_id: cfg.nodes + 1,
            proposal_seq: 0,
            read_seq: 0,
            leader_of_term: BTreeMap::new(),
            entries_seen: BTreeMap::new(),
            committed: BTreeMap::new(),
            applied_hash: BTreeMap::new(),
            reads: BTreeMap::new(),
            completeness_checked: BTreeSet::new(),
            stats: Stats::default(),
            cfg,
        };
        let voters: Vec<NodeId> = (1..=w.cfg.nodes).collect();
        for id in voters.clone() {
            let storage = MemStorage::bootstrap(&voters);
            w.add_node(id, storage);
        }
        w
    }

    fn log(&mut self, line: String) {
        let _ = writeln!(self.trace, "[r{:04}] {}", self.round, line);
    }

    fn raft_config(&self, id: NodeId, applied: u64) -> Config {
        let mut c = Config::new(id);
        c.election_tick = 10;
        c.heartbeat_tick = 1;
        c.applied = applied;
        c.max_size_per_msg = self.max_size_per_msg;
        c.max_inflight_msgs = self.max_inflight;
        c.seed = self.cfg.seed.wrapping_mul(31).wrapping_add(id);
        #[cfg(feature = "planted-bugs")]
        {
            c.bugs.commit_previous_term_by_counting =
                self.cfg.bug == Bug::CommitPreviousTermByCounting;
            c.bugs.ack_before_persist = self.cfg.bug == Bug::AckBeforePersist;
            c.bugs.vote_without_log_check = self.cfg.bug == Bug::VoteWithoutLogCheck;
        }
        c
    }

    fn add_node(&mut self, id: NodeId, storage: MemStorage) {
        let mut node = Node {
            id,
            raw: None,
            durable: storage,
            machine: Machine::default(),
            seen_term: 0,
            seen_commit: 0,
            durable_term: 0,
            durable_commit: 0,
        };
        node.machine.conf = node.durable.initial_state().1;
        self.nodes.insert(id, node);
        self.start(id);
    }

    /// Starts (or restarts) a node from its durable storage.
    fn start(&mut self, id: NodeId) {
        let snap = self.nodes[&id].durable.snapshot().expect("mem snapshot");
        let machine = if snap.is_empty() {
            Machine {
                conf: self.nodes[&id].durable.initial_state().1,
                ..Machine::default()
            }
        } else {
            decode_snapshot(&snap)
        };
        let cfg = self.raft_config(id, machine.applied);
        let node = self.nodes.get_mut(&id).expect("node exists");
        let raw = RawNode::new(&cfg, node.durable.clone()).expect("valid config");
        node.machine = machine;
        node.seen_term = raw.raft.term;
        node.seen_commit = raw.raft.log.committed;
        node.raw = Some(raw);
        self.log(format!("start n{id}"));
    }

    fn crash(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node exists");
        if let Some(raw) = node.raw.take() {
            // Only what was persisted survives.
            node.durable = raw.store().clone();
            self.stats.crashes += 1;
            self.log(format!("crash n{id}"));
        }
    }

    fn live(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.raw.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    fn leader(&self) -> Option<NodeId> {
        // The live leader with the highest term.
        self.nodes
            .iter()
            .filter_map(|(id, n)| n.raw.as_ref().map(|r| (*id, r)))
            .filter(|(_, r)| r.raft.state == StateRole::Leader)
            .max_by_key(|(_, r)| r.raft.term)
            .map(|(id, _)| id)
    }

    fn max_known_commit(&self) -> u64 {
        self.nodes
            .values()
            .filter_map(|n| n.raw.as_ref())
            .map(|r| r.raft.log.committed)
            .max()
            .unwrap_or(0)
            .max(self.committed.keys().next_back().copied().unwrap_or(0))
    }

    // ----- the network -----------------------------------------------------

    fn send(&mut self, msgs: Vec<Message>) {
        for m in msgs {
            if self.cut.contains(&(m.from, m.to)) || self.rng.chance(self.drop_per_mille) {
                self.log(format!("drop {:?} n{}->n{}", m.msg_type, m.from, m.to));
                self.report_snapshot_outcome(&m, true);
                continue;
            }
            let copies = if self.rng.chance(self.dup_per_mille) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let delay = self.rng.below(self.max_delay + 1);
                self.net.push(InFlight {
                    deliver_at: self.round + delay,
                    msg: m.clone(),
                });
            }
            self.report_snapshot_outcome(&m, false);
        }
    }

    /// The transport tells the leader how a snapshot send went.
    fn report_snapshot_outcome(&mut self, m: &Message, failed: bool) {
        if m.msg_type != MessageType::Snapshot {
            return;
        }
        self.stats.snapshots_sent += 1;
        if let Some(raw) = self.nodes.get_mut(&m.from).and_then(|n| n.raw.as_mut()) {
            raw.report_snapshot(m.to, failed);
        }
    }

    fn deliver_due(&mut self) -> Check {
        let mut due = Vec::new();
        let mut later = Vec::new();
        for f in std::mem::take(&mut self.net) {
            if f.deliver_at <= self.round {
                due.push(f);
            } else {
                later.push(f);
            }
        }
        self.net = later;
        // Reorder: deliver due messages in a random order.
        while !due.is_empty() {
            let i = self.rng.below(due.len() as u64) as usize;
            let f = due.swap_remove(i);
            let m = f.msg;
            let to = m.to;
            if self.cut.contains(&(m.from, to)) {
                continue;
            }
            let Some(raw) = self.nodes.get_mut(&to).and_then(|n| n.raw.as_mut()) else {
                continue;
            };
            let _ = raw.step(m);
            self.process(to)?;
        }
        Ok(())
    }

    // ----- carrying out Readys ---------------------------------------------

    fn crash_chance(&self) -> u64 {
        // Crashes inside the Ready loop are rare but always possible in the
        // fault phase.
        if self.round < self.cfg.fault_rounds {
            4
        } else {
            0
        }
    }

    fn process(&mut self, id: NodeId) -> Check {
        loop {
            let crash_chance = self.crash_chance();
            let Some(raw) = self.nodes.get_mut(&id).and_then(|n| n.raw.as_mut()) else {
                return Ok(());
            };
            if !raw.has_ready() {
                return Ok(());
            }
            let rd = raw.ready();
            if let Some(ss) = rd.soft_state {
                self.log(format!("n{id} soft {:?} leader n{}", ss.role, ss.leader_id));
            }

            // 1. Early messages.
            self.send(rd.messages.clone());
            if self.rng.chance(crash_chance) {
                self.crash(id);
                return Ok(());
            }

            // 2. Persist.
            self.persist(id, &rd.snapshot, &rd.entries, rd.hard_state)?;
            if self.rng.chance(crash_chance) {
                self.crash(id);
                return Ok(());
            }

            // 3. Messages that needed persistence.
            self.send(rd.persisted_messages.clone());

            // 4. Apply.
            if let Some(snap) = &rd.snapshot {
                self.apply_snapshot(id, snap)?;
            }
            for e in &rd.committed_entries {
                self.apply_entry(id, e)?;
            }
            for rs in &rd.read_states {
                self.check_read(id, rs.index, &rs.request_ctx)?;
            }
            if self.rng.chance(crash_chance) {
                self.crash(id);
                return Ok(());
            }

            // 5. Advance.
            let raw = self
                .nodes
                .get_mut(&id)
                .and_then(|n| n.raw.as_mut())
                .expect("still live");
            raw.advance();
        }
    }

    fn persist(
        &mut self,
        id: NodeId,
        snapshot: &Option<Snapshot>,
        entries: &[Entry],
        hs: Option<HardState>,
    ) -> Check {
        let node = self.nodes.get_mut(&id).expect("node exists");
        let raw = node.raw.as_mut().expect("live");
        if let Some(s) = snapshot {
            raw.store_mut()
                .apply_snapshot(s.clone())
                .expect("newer snapshot");
        }
        // Entries this append replaces: none may be a committed entry.
        let mut replaced = Vec::new();
        if let Some(first) = entries.first() {
            let store = raw.store();
            for i in first.index..=store.last_index() {
                if let Ok(t) = store.term(i) {
                    replaced.push((i, t));
                }
            }
        }
        raw.store_mut().append(entries);
        for (i, t) in replaced {
            let now = raw.store().term(i).ok();
            if now != Some(t) && self.committed.get(&i).is_some_and(|&(ct, _)| ct == t) {
                return fail(
                    "committed-immutable",
                    format!("n{id} overwrote committed entry ({i}, {t}) with {now:?}"),
                );
            }
        }
        if let Some(hs) = hs {
            raw.store_mut().set_hard_state(hs);
            if hs.term < node.durable_term {
                return fail(
                    "monotonic-term",
                    format!(
                        "n{id} persisted term {} after {}",
                        hs.term, node.durable_term
                    ),
                );
            }
            if hs.commit < node.durable_commit {
                return fail(
                    "monotonic-commit",
                    format!(
                        "n{id} persisted commit {} after {}",
                        hs.commit, node.durable_commit
                    ),
                );
            }
            node.durable_term = hs.term;
            node.durable_commit = hs.commit;
        }
        // Log matching and immutability of committed entries, checked on
        // everything that reaches a disk.
        let store = raw.store().clone();
        for e in entries {
            let prev_term = store.term(e.index - 1).ok();
            let key = (e.index, e.term);
            let ph = payload_hash(&e.data);
            match (self.entries_seen.get(&key), prev_term) {
                (Some(&(h, pt)), Some(prev)) if h != ph || pt != prev => {
                    return fail(
                        "log-matching",
                        format!(
                            "n{id} entry ({}, {}) payload {ph:x} prev term {prev}, elsewhere {h:x} prev term {pt}",
                            e.index, e.term
                        ),
                    );
                }
                (Some(&(h, _)), None) if h != ph => {
                    return fail(
                        "log-matching",
                        format!(
                            "n{id} entry ({}, {}) has a different payload",
                            e.index, e.term
                        ),
                    );
                }
                (None, Some(prev)) => {
                    self.entries_seen.insert(key, (ph, prev));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn apply_snapshot(&mut self, id: NodeId, snap: &Snapshot) -> Check {
        let m = decode_snapshot(snap);
        if let Some(&h) = self.applied_hash.get(&m.applied) {
            if h != m.hash {
                return fail(
                    "state-machine-safety",
                    format!(
                        "n{id} snapshot at {} has state {:x}, expected {h:x}",
                        m.applied, m.hash
                    ),
                );
            }
        }
        self.log(format!("n{id} restore snapshot at {}", m.applied));
        self.nodes.get_mut(&id).expect("node").machine = m;
        Ok(())
    }

    fn apply_entry(&mut self, id: NodeId, e: &Entry) -> Check {
        let node = self.nodes.get_mut(&id).expect("node");
        if e.index != node.machine.applied + 1 {
            return fail(
                "state-machine-safety",
                format!("n{id} applied {} after {}", e.index, node.machine.applied),
            );
        }
        node.machine.applied = e.index;
        node.machine.hash = mix(node.machine.hash, e);
        let h = node.machine.hash;
        if e.entry_type == EntryType::ConfChange {
            let cc = ConfChange::decode(&e.data).expect("well-formed conf change");
            let raw = node.raw.as_mut().expect("live");
            node.machine.conf = raw.apply_conf_change(&cc);
            let conf = node.machine.conf.clone();
            self.log(format!("n{id} applied conf change {cc:?} -> {conf:?}"));
        }
        match self.applied_hash.get(&e.index) {
            Some(&prev) if prev != h => fail(
                "state-machine-safety",
                format!("n{id} applied a different entry at index {}", e.index),
            ),
            Some(_) => Ok(()),
            None => {
                self.applied_hash.insert(e.index, h);
                Ok(())
            }
        }
    }

    fn check_read(&mut self, id: NodeId, index: u64, ctx: &Bytes) -> Check {
        let Some(&known) = self.reads.get(ctx) else {
            return Ok(());
        };
        self.stats.reads += 1;
        if index < known {
            return fail(
                "linearizable-read",
                format!("n{id} read index {index} below commit {known} known at request time"),
            );
        }
        Ok(())
    }

    // ----- checks after every round ------------------------------------------

    fn check_round(&mut self) -> Check {
        for id in self.live() {
            let (state, term, commit) = {
                let r = &self.nodes[&id].raw.as_ref().expect("live").raft;
                (r.state, r.term, r.log.committed)
            };
            let node = self.nodes.get_mut(&id).expect("node");
            if term < node.seen_term {
                return fail(
                    "monotonic-term",
                    format!("n{id} term {term} after {}", node.seen_term),
                );
            }
            if commit < node.seen_commit {
                return fail(
                    "monotonic-commit",
                    format!("n{id} commit {commit} after {}", node.seen_commit),
                );
            }
            node.seen_term = term;
            node.seen_commit = commit;
            if state == StateRole::Leader {
                match self.leader_of_term.get(&term) {
                    Some(&other) if other != id => {
                        return fail(
                            "election-safety",
                            format!("n{id} and n{other} both lead term {term}"),
                        );
                    }
                    Some(_) => {}
                    None => {
                        self.leader_of_term.insert(term, id);
                        self.stats.leaders_elected += 1;
                        self.log(format!("n{id} leads term {term}"));
                        if self.round < self.cfg.fault_rounds
                            && self.rng.chance(self.flap_per_mille)
                        {
                            // A flapping leader: it dies, or is cut off
                            // (losing what it has in flight), soon after
                            // winning, with its writes half replicated.
                            let at = self.round + self.rng.below(6);
                            if self.rng.chance(500) {
                                self.scheduled
                                    .push((at.max(self.round + 1), Scheduled::Crash(id)));
                            } else {
                                self.scheduled.push((at, Scheduled::Isolate(id)));
                                let back = at + 5 + self.rng.below(35);
                                self.scheduled.push((back, Scheduled::Reconnect(id)));
                            }
                        }
                    }
                }
                if self.completeness_checked.insert((term, id)) {
                    self.check_leader_completeness(id)?;
                }
            }
            self.record_committed(id)?;
        }
        Ok(())
    }

    fn record_committed(&mut self, id: NodeId) -> Check {
        let raw = self.nodes[&id].raw.as_ref().expect("live");
        let log = &raw.raft.log;
        let from = self
            .committed
            .keys()
            .next_back()
            .map_or(1, |k| k + 1)
            .max(log.first_index());
        let mut found = Vec::new();
        if from <= log.committed {
            let ents = log
                .slice(from, log.committed + 1, u64::MAX)
                .expect("committed entries in the log");
            for e in ents {
                found.push((e.index, e.term, payload_hash(&e.data)));
            }
        }
        // Also compare the committed entries this node still holds that
        // were recorded before (a cheap spot check of the last few).
        let lo = log
            .first_index()
            .max(log.committed.saturating_sub(8))
            .max(1);
        let mut spot = Vec::new();
        if lo <= log.committed {
            for e in log.slice(lo, log.committed + 1, u64::MAX).expect("in log") {
                spot.push((e.index, e.term, payload_hash(&e.data)));
            }
        }
        for (i, t, h) in spot {
            if let Some(&(ct, ch)) = self.committed.get(&i) {
                if ct != t || ch != h {
                    return fail(
                        "committed-immutable",
                        format!("n{id} has ({i}, {t}) committed where ({i}, {ct}) was committed"),
                    );
                }
            }
        }
        for (i, t, h) in found {
            self.committed.insert(i, (t, h));
            self.stats.committed = self.stats.committed.max(i);
        }
        Ok(())
    }

    fn check_leader_completeness(&self, id: NodeId) -> Check {
        let log = &self.nodes[&id].raw.as_ref().expect("live").raft.log;
        for (&i, &(t, h)) in self.committed.range(log.first_index()..) {
            let ok = log.term(i).is_ok_and(|lt| lt == t)
                && log
                    .slice(i, i + 1, u64::MAX)
                    .is_ok_and(|e| payload_hash(&e[0].data) == h);
            if !ok {
                return fail(
                    "leader-completeness",
                    format!(
                        "n{id} leads term {} without committed entry ({i}, {t})",
                        self.nodes[&id].raw.as_ref().expect("live").raft.term
                    ),
                );
            }
        }
        Ok(())
    }

    // ----- faults and clients ----------------------------------------------

    fn inject_fault(&mut self) {
        let total: u64 = self.fault_weights.iter().map(|(_, w)| w).sum();
        if total == 0 {
            return;
        }
        let mut pick = self.rng.below(total);
        let mut fault = Fault::Heal;
        for (f, w) in &self.fault_weights {
            if pick < *w {
                fault = *f;
                break;
            }
            pick -= w;
        }
        let live = self.live();
        let all: Vec<NodeId> = self.nodes.keys().copied().collect();
        let crashed: Vec<NodeId> = all
            .iter()
            .copied()
            .filter(|id| !live.contains(id))
            .collect();
        match fault {
            Fault::CrashLeader => {
                if let Some(l) = self.leader() {
                    self.crash(l);
                }
            }
            Fault::CrashAny => {
                if let Some(id) = self.rng.pick(&live) {
                    if live.len() > 1 {
                        self.crash(id);
                    }
                }
            }
            Fault::Restart => {
                if let Some(id) = self.rng.pick(&crashed) {
                    self.start(id);
                }
            }
            Fault::Partition => {
                self.cut.clear();
                let mut side = BTreeMap::new();
                for id in &all {
                    side.insert(*id, self.rng.chance(500));
                }
                for a in &all {
                    for b in &all {
                        if side[a] != side[b] {
                            self.cut.insert((*a, *b));
                        }
                    }
                }
                self.log(format!("partition {side:?}"));
            }
            Fault::OneWayCut => {
                if let (Some(a), Some(b)) = (self.rng.pick(&all), self.rng.pick(&all)) {
                    if a != b {
                        self.cut.insert((a, b));
                        self.log(format!("cut n{a}->n{b}"));
                    }
                }
            }
            Fault::IsolateLeader => {
                if let Some(l) = self.leader() {
                    self.isolate(l);
                }
            }
            Fault::Heal => {
                self.cut.clear();
                self.log("heal".to_string());
            }
            Fault::NetworkQuality => {
                self.drop_per_mille = self.rng.below(300);
                self.dup_per_mille = self.rng.below(200);
                self.max_delay = self.rng.below(6);
                self.log(format!(
                    "network drop {} dup {} delay {}",
                    self.drop_per_mille, self.dup_per_mille, self.max_delay
                ));
            }
            Fault::TransferLeader => {
                if let (Some(l), Some(to)) = (self.leader(), self.rng.pick(&live)) {
                    self.stats.transfers += 1;
                    self.log(format!("transfer leader n{l} -> n{to}"));
                    let raw = self
                        .nodes
                        .get_mut(&l)
                        .and_then(|n| n.raw.as_mut())
                        .expect("live");
                    raw.transfer_leader(to);
                }
            }
            Fault::Compact => {
                if let Some(id) = self.rng.pick(&live) {
                    self.compact(id);
                }
            }
            Fault::Membership => {
                if self.cfg.membership {
                    self.change_membership();
                }
            }
        }
    }

    /// Takes a snapshot at the applied index and discards the log before it.
    fn compact(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node");
        let machine = node.machine.clone();
        let Some(raw) = node.raw.as_mut() else {
            return;
        };
        let applied = raw.raft.log.applied;
        if applied != machine.applied || applied == 0 {
            return;
        }
        // The node's conf state at `applied` is the machine's.
        if raw
            .store_mut()
            .create_snapshot(applied, machine.conf.clone(), encode_snapshot(&machine))
            .is_err()
        {
            return;
        }
        // Sometimes keep a few entries behind the snapshot, as a server does
        // so that slightly lagging followers need no snapshot.
        let keep = self.rng.below(8);
        let to = applied.saturating_sub(keep);
        let raw = self
            .nodes
            .get_mut(&id)
            .and_then(|n| n.raw.as_mut())
            .expect("live");
        let compacted = raw.store_mut().compact(to).is_ok();
        self.log(format!(
            "n{id} snapshot at {applied}, compacted to {to}: {compacted}"
        ));
    }

    fn change_membership(&mut self) {
        let Some(l) = self.leader() else {
            return;
        };
        let conf = self.nodes[&l]
            .raw
            .as_ref()
            .expect("live")
            .raft
            .prs
            .conf_state();
        let cc = match self.rng.below(3) {
            0 if conf.learners.is_empty() => {
                let id = self.next_id;
                self.next_id += 1;
                // A brand-new member starts empty and learns everything from
                // the leader.
                self.add_node(id, MemStorage::default());
                ConfChange {
                    change_type: ConfChangeType::AddLearnerNode,
                    node_id: id,
                    context: Bytes::new(),
                }
            }
            1 if !conf.learners.is_empty() => ConfChange {
                change_type: ConfChangeType::AddNode,
                node_id: conf.learners[0],
                context: Bytes::new(),
            },
            2 if conf.voters.len() > 3 => {
                let victim = self.rng.pick(&conf.voters).expect("non-empty");
                ConfChange {
                    change_type: ConfChangeType::RemoveNode,
                    node_id: victim,
                    context: Bytes::new(),
                }
            }
            _ => return,
        };
        let raw = self
            .nodes
            .get_mut(&l)
            .and_then(|n| n.raw.as_mut())
            .expect("live");
        let res = raw.propose_conf_change(&cc);
        self.stats.conf_changes += u64::from(res.is_ok());
        self.log(format!("n{l} propose {cc:?}: {res:?}"));
    }

    fn client_requests(&mut self) {
        let live = self.live();
        if let Some(id) = self.rng.pick(&live) {
            if self.rng.chance(600) {
                self.proposal_seq += 1;
                let data = Bytes::from(format!("p{}", self.proposal_seq));
                let raw = self
                    .nodes
                    .get_mut(&id)
                    .and_then(|n| n.raw.as_mut())
                    .expect("live");
                let res = raw.propose(data.clone());
                let _ = res;
            }
        }
        if let Some(id) = self.rng.pick(&live) {
            if self.rng.chance(200) {
                self.read_seq += 1;
                let ctx = Bytes::from(format!("r{}", self.read_seq));
                let known = self.max_known_commit();
                self.reads.insert(ctx.clone(), known);
                let raw = self
                    .nodes
                    .get_mut(&id)
                    .and_then(|n| n.raw.as_mut())
                    .expect("live");
                let _ = raw.read_index(ctx);
            }
        }
    }

    fn tick_all(&mut self) -> Check {
        for id in self.live() {
            if let Some(raw) = self.nodes.get_mut(&id).and_then(|n| n.raw.as_mut()) {
                raw.tick();
            }
            self.process(id)?;
        }
        Ok(())
    }

    fn round_once(&mut self, faults: bool) -> Check {
        self.round += 1;
        if faults && self.rng.chance(self.fault_per_mille) {
            self.inject_fault();
        }
        if faults {
            self.run_scheduled();
        }
        self.client_requests();
        self.tick_all()?;
        self.deliver_due()?;
        for id in self.live() {
            self.process(id)?;
        }
        self.check_round()
    }

    fn run_scheduled(&mut self) {
        let now = self.round;
        let due: Vec<Scheduled> = self
            .scheduled
            .iter()
            .filter(|(at, _)| *at <= now)
            .map(|(_, f)| *f)
            .collect();
        self.scheduled.retain(|(at, _)| *at > now);
        for f in due {
            match f {
                Scheduled::Crash(id) => self.crash(id),
                Scheduled::Isolate(id) => self.isolate(id),
                Scheduled::Reconnect(id) => {
                    self.cut.retain(|(a, b)| *a != id && *b != id);
                    self.log(format!("reconnect n{id}"));
                }
            }
        }
    }

    fn isolate(&mut self, id: NodeId) {
        let all: Vec<NodeId> = self.nodes.keys().copied().collect();
        for other in all.into_iter().filter(|o| *o != id) {
            self.cut.insert((id, other));
            self.cut.insert((other, id));
        }
        self.log(format!("isolate n{id}"));
    }

    fn heal(&mut self) {
        self.cut.clear();
        self.drop_per_mille = 0;
        self.dup_per_mille = 0;
        self.max_delay = 1;
        let crashed: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.raw.is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in crashed {
            self.start(id);
        }
        self.log("heal all; liveness phase".to_string());
    }

    /// After healing: a leader must emerge and commit a fresh proposal.
    fn check_liveness(&mut self) -> Check {
        let deadline = self.round + self.cfg.liveness_ticks;
        let marker = Bytes::from(format!("liveness-{}", self.cfg.seed));
        let mut proposed_in_term = None;
        while self.round < deadline {
            self.round_once(false)?;
            if let Some(l) = self.leader() {
                let term = self.nodes[&l].raw.as_ref().expect("live").raft.term;
                if proposed_in_term != Some(term) {
                    let raw = self
                        .nodes
                        .get_mut(&l)
                        .and_then(|n| n.raw.as_mut())
                        .expect("live");
                    if raw.propose(marker.clone()).is_ok() {
                        proposed_in_term = Some(term);
                    }
                }
                let log = &self.nodes[&l].raw.as_ref().expect("live").raft.log;
                let committed = log.committed;
                let first = log.first_index();
                if committed >= first {
                    let ents = log.slice(first, committed + 1, u64::MAX).expect("in log");
                    if ents.iter().any(|e| e.data == marker) {
                        return Ok(());
                    }
                }
            }
        }
        let states: Vec<String> = self
            .nodes
            .iter()
            .map(|(id, n)| match &n.raw {
                Some(r) => format!(
                    "n{id}:{:?} t{} lead n{} commit {} last {} conf {:?}",
                    r.raft.state,
                    r.raft.term,
                    r.raft.lead,
                    r.raft.log.committed,
                    r.raft.log.last_index(),
                    r.raft.prs.conf_state()
                ),
                None => format!("n{id}: down"),
            })
            .collect();
        fail(
            "liveness",
            format!(
                "no proposal committed within {} ticks after healing: {}",
                self.cfg.liveness_ticks,
                states.join("; ")
            ),
        )
    }
}

impl World {
    /// The whole life of a seed: the fault phase (after the first leader has
    /// had time to emerge), then healing and the liveness check.
    fn play(&mut self) -> Check {
        while self.round < self.cfg.fault_rounds {
            self.round_once(self.round > 30)?;
        }
        self.heal();
        self.check_liveness()
    }
}

/// Runs one seed: faults, then healing and the liveness check.
pub fn run(cfg: SimConfig) -> Result<Stats, Violation> {
    let seed = cfg.seed;
    let mut w = World::new(cfg);
    let result = w.play();
    w.stats.rounds = w.round;
    match result {
        Ok(()) => Ok(w.stats),
        Err((invariant, detail)) => Err(Violation {
            seed,
            invariant,
            detail,
            trace: std::mem::take(&mut w.trace),
        }),
    }
}

/// The full trace of a seed, for the determinism check.
pub fn trace_of(cfg: SimConfig) -> String {
    let mut w = World::new(cfg);
    let _ = w.play();
    w.trace
}

/// Seeds to run: `SIM_SEED` replays one; otherwise `SIM_SEEDS` (or the
/// given default) seeds from 0.
pub fn seeds(default_count: u64) -> Vec<u64> {
    if let Ok(s) = std::env::var("SIM_SEED") {
        return vec![s.parse().expect("SIM_SEED must be a number")];
    }
    let n = std::env::var("SIM_SEEDS")
        .ok()
        .map(|s| s.parse().expect("SIM_SEEDS must be a number"))
        .unwrap_or(default_count);
    (0..n).collect()
}
