//! The periodic corruption check (`--experimental-corrupt-check-time`):
//! the leader compares its HashKV with every other member's at the same
//! revision (asked on their peer URLs) and raises the CORRUPT alarm,
//! through raft, for a member whose hash differs while its compaction point
//! is the same. etcd has the same check, off by default; cairn runs it
//! unless the interval is 0.
//!
//! Owns: deciding that a member diverged. Must never: run on a member that
//! is not the leader (the alarm would race the leader's own check), or
//! hold the store's lock while waiting on the network.
//!
//! Once CORRUPT is raised the apply loop refuses writes (see
//! `node::apply_request`); reads go on, and `alarm disarm` lifts it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cairn_proto::etcdserverpb::alarm_request::AlarmAction;
use cairn_proto::etcdserverpb::{AlarmRequest, AlarmType, HashKvRequest};
use cairn_proto::internal::request::Op;
use tokio::sync::watch;

use super::kv::propose_internal;
use super::peer_calls::PeerCalls;
use super::state::Shared;

/// How long one member gets to answer HashKV.
const HASH_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the check every `interval` while this member leads, until `stop`.
pub async fn corruption_check_loop(
    shared: Arc<Shared>,
    peers: Arc<PeerCalls>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    if interval.is_zero() {
        return;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        if !shared.raft.is_leader.load(Ordering::Relaxed) {
            continue;
        }
        if let Err(e) = check_once(&shared, &peers).await {
            tracing::warn!(error = %e, "corruption check could not run");
        }
    }
}

/// One round: this member's hash, then each other member's at the same
/// revision.
async fn check_once(shared: &Arc<Shared>, peers: &PeerCalls) -> anyhow::Result<()> {
    let (mine, members) = {
        let store = shared.read_store();
        let rev = store.current_revision();
        (store.hash_kv(rev)?, store.members()?)
    };
    for m in members.iter().filter(|m| m.id != shared.member_id) {
        let Ok(mut client) = peers.member(m) else {
            continue;
        };
        let answer = tokio::time::timeout(
            HASH_TIMEOUT,
            client.hash_kv(peers.request(HashKvRequest {
                revision: mine.hash_revision,
            })),
        )
        .await;
        // A member that is down, slow, behind (future revision) or
        // compacted past the revision has nothing comparable to say this
        // round.
        let Ok(Ok(theirs)) = answer.map(|a| a.map(tonic::Response::into_inner)) else {
            continue;
        };
        // etcd reports -1 for a store never compacted; the store says 0.
        let their_compact = theirs.compact_revision.max(0);
        if their_compact != mine.compact_revision || theirs.hash == mine.hash {
            continue;
        }
        tracing::error!(
            member = format_args!("{:x}", m.id),
            revision = mine.hash_revision,
            leader_hash = mine.hash,
            member_hash = theirs.hash,
            "member's data differs from the leader's; raising CORRUPT"
        );
        let alarm = AlarmRequest {
            action: AlarmAction::Activate as i32,
            member_id: m.id,
            alarm: AlarmType::Corrupt as i32,
        };
        if let Err(e) = propose_internal(shared, Op::Alarm(alarm)).await {
            tracing::warn!(error = %e.message(), "raising the CORRUPT alarm");
        }
    }
    Ok(())
}
