//! Proposals committed per second by the consensus core alone: a 3-node
//! cluster in one process, messages passed in memory, storage in memory, no
//! I/O. This is the ceiling the server's Raft layer can reach; everything the
//! server adds (WAL fsync, network, apply) comes on top.
//!
//! Run: `cargo bench -p cairn-raft --bench raft_propose`

use std::collections::VecDeque;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use cairn_raft::{Config, MemStorage, Message, RawNode, StateRole};

struct Cluster {
    nodes: Vec<RawNode<MemStorage>>,
    inbox: VecDeque<Message>,
    committed: u64,
}

impl Cluster {
    fn new() -> Cluster {
        let voters = [1, 2, 3];
        let nodes = voters
            .iter()
            .map(|id| {
                let mut cfg = Config::new(*id);
                cfg.max_inflight_msgs = 512;
                RawNode::new(&cfg, MemStorage::bootstrap(&voters)).expect("valid config")
            })
            .collect();
        let mut c = Cluster {
            nodes,
            inbox: VecDeque::new(),
            committed: 0,
        };
        // Apply the bootstrap membership first: a node refuses to campaign
        // while it has committed conf changes it has not applied.
        c.settle();
        c.nodes[0].campaign().expect("campaign");
        c.settle();
        assert_eq!(c.nodes[0].raft.state, StateRole::Leader);
        c
    }

    /// Carries out every Ready and delivers every message until quiet.
    fn settle(&mut self) {
        loop {
            let mut busy = false;
            for i in 0..self.nodes.len() {
                let node = &mut self.nodes[i];
                while node.has_ready() {
                    busy = true;
                    let rd = node.ready();
                    self.inbox.extend(rd.messages);
                    if let Some(s) = rd.snapshot {
                        node.store_mut().apply_snapshot(s).expect("newer snapshot");
                    }
                    node.store_mut().append(&rd.entries);
                    if let Some(hs) = rd.hard_state {
                        node.store_mut().set_hard_state(hs);
                    }
                    self.inbox.extend(rd.persisted_messages);
                    if i == 0 {
                        self.committed += rd.committed_entries.len() as u64;
                    }
                    node.advance();
                }
            }
            while let Some(m) = self.inbox.pop_front() {
                busy = true;
                let to = (m.to - 1) as usize;
                let _ = self.nodes[to].step(m);
            }
            if !busy {
                return;
            }
        }
    }

    /// Proposes `n` entries in batches of `batch`, settling after each
    /// batch, and returns once all are committed on the leader.
    fn propose(&mut self, n: u64, batch: u64, payload: &Bytes) {
        let target = self.committed + n;
        let mut sent = 0;
        while sent < n {
            for _ in 0..batch.min(n - sent) {
                self.nodes[0]
                    .propose(payload.clone())
                    .expect("leader accepts");
                sent += 1;
            }
            self.settle();
        }
        assert!(self.committed >= target, "all proposals commit");
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("raft_3_nodes_in_memory");
    let payload = Bytes::from(vec![7u8; 128]);
    const N: u64 = 1000;
    group.throughput(Throughput::Elements(N));
    for batch in [1u64, 16, 256] {
        group.bench_with_input(
            BenchmarkId::new("proposals_batch", batch),
            &batch,
            |b, &batch| {
                let mut cluster = Cluster::new();
                b.iter(|| cluster.propose(N, batch, &payload));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
