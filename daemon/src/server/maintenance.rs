//! etcd's Maintenance service: Status, Hash, HashKV, Alarm, Snapshot,
//! MoveLeader and Defragment; Downgrade is refused with Unimplemented.
//!
//! # Defragment
//! The backend writes a compact copy of itself while holding the store's
//! read lock (reads go on; the raft thread waits to apply, so writes and,
//! on a long copy, heartbeats pause — as etcd's defragmentation blocks its
//! member), then swaps it in under the write lock. Should an entry be
//! applied between the two, the copy is made again, the last time under
//! the write lock.
//!
//! # Snapshot files
//! A snapshot is the store's dump (`mvcc::backend::dump`: every tree,
//! framed and CRC-checked), zero-padded to a multiple of 512 bytes, then
//! the SHA-256 of everything before it. etcd's files are bbolt pages plus
//! the same trailing SHA-256, and etcdctl's `snapshot save` accepts a file
//! only if its size is 32 more than a multiple of 512: the padding keeps
//! etcdctl (and every etcd client's save) working against cairn. The
//! contents are cairn's own, for `cairnctl snapshot restore`.
//!
//! Owns: reporting this member's view of raft and of its store. Must never:
//! block the raft thread (it reads the published [`RaftView`] and takes the
//! store's read lock only).
//!
//! [`RaftView`]: super::state::RaftView

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use cairn_proto::etcdserverpb::maintenance_server::Maintenance;
use cairn_proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, DowngradeRequest,
    DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest,
    MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse,
};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::state::{Input, Outcome, Shared};
use super::{ETCD_VERSION, not_yet, store_status};
use crate::etcd_error::EtcdError;
use cairn_proto::internal::request::Op;

/// Copies made without the write lock before one is made with it.
const DEFRAG_ATTEMPTS: usize = 3;

/// Rewrites this member's backend compactly (see the module docs).
fn defragment(shared: &Shared) -> Result<(), crate::mvcc::MvccError> {
    let started = std::time::Instant::now();
    for attempt in 1..=DEFRAG_ATTEMPTS {
        let copied_at = {
            let store = shared.read_store();
            store.defragment_copy()?;
            store.applied()
        };
        let mut store = shared.write_store();
        if store.applied() != copied_at {
            if attempt < DEFRAG_ATTEMPTS {
                continue;
            }
            store.defragment_copy()?;
        }
        let before = store.size_on_disk()?;
        store.defragment_swap()?;
        let after = store.size_on_disk()?;
        shared.metrics.db_size_bytes.store(after, Ordering::Relaxed);
        tracing::info!(
            before,
            after,
            took_ms = started.elapsed().as_millis() as u64,
            "defragmented the store"
        );
        break;
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct MaintenanceService {
    shared: Arc<Shared>,
}

impl MaintenanceService {
    pub fn new(shared: Arc<Shared>) -> MaintenanceService {
        MaintenanceService { shared }
    }
}

/// Bytes per Snapshot message (etcd's chunk size).
const SNAPSHOT_CHUNK: usize = 32 * 1024;

/// A snapshot file from a store dump: see the module docs.
pub fn snapshot_file(mut dump: Vec<u8>) -> Vec<u8> {
    use sha2::Digest as _;
    dump.resize(dump.len().div_ceil(512) * 512, 0);
    let sum = sha2::Sha256::digest(&dump);
    dump.extend_from_slice(&sum);
    dump
}

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<SnapshotResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(
        &self,
        request: Request<AlarmRequest>,
    ) -> Result<Response<AlarmResponse>, Status> {
        // Every action goes through raft, as in etcd, so each member
        // applies the same alarm set in log order.
        let who = super::auth::requester(&self.shared, &request).await?;
        crate::auth::check::alarm(&self.shared.auth(), &who, request.get_ref())?;
        let op = Op::Alarm(request.into_inner());
        match super::kv::propose_for(&self.shared, op, &who).await? {
            Outcome::Alarm(mut resp) => {
                super::node::fill_header(&self.shared, &mut resp.header);
                Ok(Response::new(resp))
            }
            other => Err(Status::internal(format!("unexpected outcome {other:?}"))),
        }
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let raft = &self.shared.raft;
        let size = self
            .shared
            .read_store()
            .size()
            .map_err(|e| store_status(&e))?;
        Ok(Response::new(StatusResponse {
            header: Some(self.shared.header()),
            version: ETCD_VERSION.to_string(),
            db_size: size.on_disk as i64,
            leader: raft.leader.load(Ordering::Relaxed),
            raft_index: raft.commit.load(Ordering::Relaxed),
            raft_term: raft.term.load(Ordering::Relaxed),
            raft_applied_index: raft.applied.load(Ordering::Relaxed),
            errors: Vec::new(),
            db_size_in_use: size.in_use as i64,
            is_learner: raft.is_learner.load(Ordering::Relaxed),
        }))
    }

    async fn defragment(
        &self,
        _: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || defragment(&shared))
            .await
            .map_err(|e| Status::internal(format!("defragment: {e}")))?
            .map_err(|e| {
                tracing::error!(error = %e, "defragment failed");
                store_status(&e)
            })?;
        Ok(Response::new(DefragmentResponse {
            header: Some(self.shared.header()),
        }))
    }

    async fn hash(&self, _: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        let store = self.shared.read_store();
        let hash = store.hash().map_err(|e| store_status(&e))?;
        let header = self.shared.header_at(store.current_revision());
        Ok(Response::new(HashResponse {
            header: Some(header),
            hash,
        }))
    }

    async fn hash_kv(
        &self,
        request: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        let revision = request.into_inner().revision;
        Ok(Response::new(hash_kv(&self.shared, revision)?))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(
        &self,
        _: Request<SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        // The dump is consistent: it is taken under the store's lock, at
        // one applied index. (A huge store holds applies up meanwhile.)
        let dump = self
            .shared
            .write_store()
            .snapshot()
            .map_err(|e| store_status(&e))?;
        let file = snapshot_file(dump);
        let header = self.shared.header();
        let total = file.len();
        let mut sent = 0;
        let mut messages = Vec::with_capacity(total.div_ceil(SNAPSHOT_CHUNK));
        for blob in file.chunks(SNAPSHOT_CHUNK) {
            sent += blob.len();
            messages.push(Ok(SnapshotResponse {
                header: Some(header),
                remaining_bytes: (total - sent) as u64,
                blob: blob.to_vec(),
            }));
        }
        Ok(Response::new(Box::pin(tokio_stream::iter(messages))))
    }

    /// Hands leadership to `target_id`, a voting member, and answers once
    /// it leads. Only the leader takes the request (etcdctl move-leader
    /// finds it among the endpoints); raft catches the target up first.
    async fn move_leader(
        &self,
        request: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        let target = request.into_inner().target_id;
        if !self.shared.raft.is_leader.load(Ordering::Relaxed) {
            return Err(EtcdError::NotLeader.into());
        }
        let voter = self
            .shared
            .read_store()
            .members()
            .map_err(|e| store_status(&e))?
            .iter()
            .any(|m| m.id == target && !m.is_learner);
        if !voter {
            return Err(EtcdError::BadLeaderTransferee.into());
        }
        if target != self.shared.member_id {
            self.shared.send_input(Input::TransferLeader(target))?;
            let timeout = self.shared.limits.request_timeout;
            if !self.shared.wait_for_leader_to_be(target, timeout).await {
                return Err(EtcdError::TimeoutLeaderTransfer.into());
            }
        }
        // etcd answers with no header at all.
        Ok(Response::new(MoveLeaderResponse { header: None }))
    }

    async fn downgrade(
        &self,
        _: Request<DowngradeRequest>,
    ) -> Result<Response<DowngradeResponse>, Status> {
        Err(not_yet("downgrade"))
    }
}

/// This member's HashKV answer at `revision` (0: the current one); the
/// Maintenance service and the leader's corruption check (over the peer
/// port) both ask it.
pub fn hash_kv(shared: &Shared, revision: i64) -> Result<HashKvResponse, Status> {
    let store = shared.read_store();
    let h = store.hash_kv(revision).map_err(|e| store_status(&e))?;
    Ok(HashKvResponse {
        header: Some(shared.header_at(h.hash_revision)),
        hash: h.hash,
        // etcd reports -1 for a store that was never compacted.
        compact_revision: if h.compact_revision == 0 {
            -1
        } else {
            h.compact_revision
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    #[test]
    fn snapshot_files_end_with_a_sha256_after_512_byte_padding_as_etcdctl_requires() {
        for len in [0, 1, 511, 512, 513, 40_000] {
            let dump: Vec<u8> = (0..len).map(|i| (i % 251) as u8 + 1).collect();
            let file = snapshot_file(dump.clone());
            assert_eq!(file.len() % 512, 32, "dump of {len} bytes");
            let (body, sum) = file.split_at(file.len() - 32);
            assert_eq!(sha2::Sha256::digest(body).as_slice(), sum);
            assert_eq!(&body[..len], dump.as_slice());
            assert!(body[len..].iter().all(|&b| b == 0), "padding is zeros");
        }
    }
}
