//! A test tool, not part of the product: one member's write path in
//! miniature (proposal → Raft → WAL fdatasync → apply to the MVCC store on
//! sled → acknowledgement), for the crash tests in
//! `daemon/tests/crash_recovery.rs`, which SIGKILL it at random moments.
//!
//! Usage: `cairn-crash-writer <data-dir> write <run> <seconds>` proposes puts
//! in random batches until killed or until `seconds` pass, printing
//! `ack <key> <value> <revision>` once each write is applied, the way a
//! server answers a client. `cairn-crash-writer <data-dir> recover` replays
//! the WAL into the store, makes the store durable, prints `recovered
//! <revision>` and exits. Both print `start <revision>` once the store is
//! open and the WAL replayed.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use cairn::mvcc::{EntryId, MvccStore, SledBackend, SledOptions, StoreConfig};
use cairn::raft::{ConfChange, Config, EntryType, RawNode, StateRole};
use cairn::raft_storage::{Bootstrap, DiskOptions, DiskStorage};
use cairn::wal::{Metadata, WalOptions};
use cairn_proto::etcdserverpb::PutRequest;
use prost::Message as _;

/// Take a snapshot (and release WAL segments) every this many entries, so
/// kills also land around snapshots and segment deletion.
const SNAPSHOT_EVERY: u64 = 300;

struct Member {
    node: RawNode<DiskStorage>,
    store: MvccStore,
    last_snapshot: u64,
}

fn open(dir: &Path) -> anyhow::Result<Member> {
    let member = dir.join("member");
    let options = DiskOptions {
        // Small segments: rotation and release happen often.
        wal: WalOptions {
            segment_size: 64 * 1024,
        },
        ..DiskOptions::default()
    };
    let storage = if DiskStorage::exists(&member) {
        DiskStorage::open(&member, options)
            .context("opening the WAL")?
            .0
    } else {
        let metadata = Metadata {
            cluster_id: 1,
            member_id: 1,
        };
        DiskStorage::create(
            &member,
            metadata,
            Bootstrap::NewCluster { voters: vec![1] },
            options,
        )
        .context("creating the WAL")?
    };
    let backend = SledBackend::open(&member.join("db"), &SledOptions::default())
        .context("opening the sled backend")?;
    let store = MvccStore::open(Box::new(backend), StoreConfig::default())
        .context("opening the MVCC store")?;
    let mut cfg = Config::new(1);
    cfg.applied = store.applied().index;
    let node = RawNode::new(&cfg, storage).context("starting raft")?;
    let last_snapshot = node.raft.log.first_index() - 1;
    Ok(Member {
        node,
        store,
        last_snapshot,
    })
}

impl Member {
    /// Carries out Readys until the node is quiet, in the documented order.
    /// A one-member cluster sends no messages.
    fn drive(&mut self, out: &mut impl Write) -> anyhow::Result<()> {
        while self.node.has_ready() {
            let rd = self.node.ready();
            self.node.store_mut().persist(
                rd.snapshot.as_ref(),
                &rd.entries,
                rd.hard_state,
                rd.must_sync,
            )?;
            for e in &rd.committed_entries {
                let at = EntryId {
                    index: e.index,
                    term: e.term,
                };
                if self.store.is_applied(e.index) {
                    continue;
                }
                match e.entry_type {
                    EntryType::ConfChange => {
                        let cc = ConfChange::decode(&e.data).context("bad conf change entry")?;
                        self.node.apply_conf_change(&cc);
                        self.store.mark_applied(at)?;
                    }
                    EntryType::Normal if e.data.is_empty() => self.store.mark_applied(at)?,
                    EntryType::Normal => {
                        let req = PutRequest::decode(e.data.as_ref()).context("bad entry")?;
                        let applied = self.store.put(&req, at, None)?;
                        let rev = applied.response.header.map_or(0, |h| h.revision);
                        writeln!(
                            out,
                            "ack {} {} {rev}",
                            String::from_utf8_lossy(&req.key),
                            String::from_utf8_lossy(&req.value)
                        )?;
                    }
                }
            }
            out.flush()?;
            self.node.advance();
            self.maybe_snapshot()?;
        }
        Ok(())
    }

    fn maybe_snapshot(&mut self) -> anyhow::Result<()> {
        let applied = self.node.raft.log.applied;
        if applied < self.last_snapshot + SNAPSHOT_EVERY {
            return Ok(());
        }
        // The store must hold everything up to the snapshot durably before
        // the WAL may forget it.
        self.store.force_commit()?;
        let conf = self.node.raft.prs.conf_state();
        let storage = self.node.store_mut();
        storage.create_snapshot(applied, conf, Bytes::new())?;
        storage.compact(applied)?;
        self.last_snapshot = applied;
        Ok(())
    }

    fn become_leader(&mut self, out: &mut impl Write) -> anyhow::Result<()> {
        self.drive(out)?;
        self.node.campaign()?;
        self.drive(out)?;
        if self.node.raft.state != StateRole::Leader {
            bail!("a one-member cluster did not elect itself");
        }
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: cairn-crash-writer <data-dir> (write <run> <seconds> | recover)";
    let (dir, mode) = match args.as_slice() {
        [_, dir, mode, ..] => (Path::new(dir), mode.as_str()),
        _ => bail!(usage),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut m = open(dir)?;
    m.become_leader(&mut out)?;
    writeln!(out, "start {}", m.store.current_revision())?;
    out.flush()?;
    match mode {
        "recover" => {
            m.store.force_commit()?;
            writeln!(out, "recovered {}", m.store.current_revision())?;
        }
        "write" => {
            let run: u64 = args.get(3).context(usage)?.parse()?;
            let seconds: u64 = args.get(4).context(usage)?.parse()?;
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut n = 0u64;
            // A cheap deterministic spread of batch sizes (1..=32) so many
            // writes share one fdatasync, and some do not.
            let mut x = run.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            while Instant::now() < deadline {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                for _ in 0..(1 + x % 32) {
                    let req = PutRequest {
                        key: format!("key{}", n % 500).into_bytes(),
                        value: format!("r{run}-{n}").into_bytes(),
                        ..PutRequest::default()
                    };
                    m.node.propose(Bytes::from(req.encode_to_vec()))?;
                    n += 1;
                }
                m.drive(&mut out)?;
            }
            m.store.force_commit()?;
        }
        _ => bail!(usage),
    }
    Ok(())
}
