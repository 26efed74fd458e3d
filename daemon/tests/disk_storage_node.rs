//! The consensus core running on `DiskStorage` and restarting from it: the
//! Ready loop persists through `persist`, a snapshot compacts the log, and
//! after a restart the node keeps its term, log and commit and goes on
//! committing where it left off.

use std::path::Path;

use bytes::Bytes;
use cairn::raft::{Config, EntryType, RawNode, StateRole, Storage};
use cairn::raft_storage::{Bootstrap, DiskOptions, DiskStorage};
use cairn::wal::{Metadata, WalOptions};

fn options() -> DiskOptions {
    DiskOptions {
        wal: WalOptions { segment_size: 1024 },
        snapshots_kept: 2,
    }
}

/// Carries out Readys in the documented order until the node is quiet;
/// returns the data of applied normal entries.
fn drive(node: &mut RawNode<DiskStorage>) -> Vec<Bytes> {
    let mut applied = Vec::new();
    while node.has_ready() {
        let rd = node.ready();
        node.store_mut()
            .persist(
                rd.snapshot.as_ref(),
                &rd.entries,
                rd.hard_state,
                rd.must_sync,
            )
            .expect("persist");
        for e in rd.committed_entries {
            if e.entry_type == EntryType::Normal && !e.data.is_empty() {
                applied.push(e.data);
            }
        }
        node.advance();
    }
    applied
}

fn start(dir: &Path, fresh: bool) -> RawNode<DiskStorage> {
    let storage = if fresh {
        DiskStorage::create(
            dir,
            Metadata {
                cluster_id: 5,
                member_id: 1,
            },
            Bootstrap::NewCluster { voters: vec![1] },
            options(),
        )
        .unwrap()
    } else {
        DiskStorage::open(dir, options()).unwrap().0
    };
    RawNode::new(&Config::new(1), storage).unwrap()
}

#[test]
fn a_single_member_commits_restarts_and_carries_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("member");

    let mut node = start(&dir, true);
    drive(&mut node);
    node.campaign().unwrap();
    drive(&mut node);
    assert_eq!(node.status().soft_state.role, StateRole::Leader);
    let mut applied = Vec::new();
    for i in 0..30 {
        node.propose(Bytes::from(format!("put {i}"))).unwrap();
        applied.extend(drive(&mut node));
    }
    assert_eq!(applied.len(), 30);
    let status = node.status();
    let snap_at = status.applied - 5;
    let cs = status.conf_state.clone();
    let store = node.store_mut();
    store
        .create_snapshot(snap_at, cs, Bytes::from_static(b"state machine image"))
        .unwrap();
    store.compact(snap_at).unwrap();
    let before = (node.status().hard_state, node.store().last_index());
    drop(node);

    let mut node = start(&dir, false);
    assert_eq!(node.store().first_index(), snap_at + 1);
    assert_eq!(
        (node.store().initial_state().0, node.store().last_index()),
        before
    );
    // Entries committed after the snapshot are handed out again for the
    // state machine to re-apply (it restores from the snapshot first).
    let replayed = drive(&mut node);
    assert_eq!(replayed, applied[applied.len() - 5..].to_vec());
    node.campaign().unwrap();
    drive(&mut node);
    assert_eq!(node.status().soft_state.role, StateRole::Leader);
    assert!(node.status().hard_state.term > before.0.term);
    node.propose(Bytes::from_static(b"after restart")).unwrap();
    assert_eq!(drive(&mut node), vec![Bytes::from_static(b"after restart")]);
}
