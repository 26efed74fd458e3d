//! The receiving side: the `cairn.peer.v1.Peer` gRPC service.
//!
//! It checks every batch and snapshot header against this member (cluster
//! id, recipient) and every message inside (decodes, is addressed here, comes
//! from the stamped sender, is a kind that crosses the network) before
//! handing anything to raft. Refusals end the call with etcd-style codes:
//! FAILED_PRECONDITION for another cluster, NOT_FOUND for another recipient,
//! INVALID_ARGUMENT for a malformed message or stream, DATA_LOSS for a
//! snapshot whose size or digest is wrong.
//!
//! Must never: deliver part of a refused batch (a batch is checked whole
//! first), or keep a stream open after the transport shut down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use cairn_proto::peer as pb;
use prost::Message as _;
use tonic::{Code, Request, Response, Status, Streaming};

use super::{Inbound, Shared, snapshot};
use crate::peer::convert;
use crate::raft;

/// Kinds of raft message that only ever arise inside a member; one arriving
/// over the network is refused.
const LOCAL_ONLY: [raft::MessageType; 5] = [
    raft::MessageType::Hup,
    raft::MessageType::Beat,
    raft::MessageType::Unreachable,
    raft::MessageType::SnapshotStatus,
    raft::MessageType::CheckQuorum,
];

/// The `Peer` service of one member, created by
/// [`Transport::service`](super::Transport::service).
#[derive(Debug, Clone)]
pub struct PeerService {
    shared: Arc<Shared>,
}

impl PeerService {
    pub(super) fn new(shared: Arc<Shared>) -> PeerService {
        PeerService { shared }
    }

    /// Counts and logs a refusal; passes other failures (a sender that went
    /// away) through quietly.
    fn refused(&self, status: Status, remote: Option<SocketAddr>) -> Status {
        if matches!(
            status.code(),
            Code::FailedPrecondition | Code::NotFound | Code::InvalidArgument | Code::DataLoss
        ) {
            self.shared.received.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                remote = ?remote,
                code = ?status.code(),
                reason = status.message(),
                "peer traffic refused"
            );
        }
        status
    }

    /// The batch's messages, if all of it may be handed to raft.
    fn accept(&self, batch: pb::MessageBatch) -> Result<Vec<raft::Message>, Status> {
        check_stamp(
            &self.shared,
            batch.cluster_id,
            batch.from_member_id,
            batch.to_member_id,
        )?;
        let messages = batch
            .messages
            .into_iter()
            .map(|m| check_message(&self.shared, batch.from_member_id, m))
            .collect::<Result<Vec<_>, _>>()?;
        if messages
            .iter()
            .any(|m| m.msg_type == raft::MessageType::Snapshot)
        {
            return Err(Status::invalid_argument(
                "SNAPSHOT messages travel over SendSnapshot",
            ));
        }
        Ok(messages)
    }
}

/// Checks the stamp of a batch or snapshot header: same cluster, meant for
/// this member.
pub(super) fn check_stamp(
    shared: &Shared,
    cluster_id: u64,
    from: u64,
    to: u64,
) -> Result<(), Status> {
    if cluster_id != shared.cluster_id {
        return Err(Status::failed_precondition(format!(
            "cluster id mismatch: sender {from:x} is in cluster {cluster_id:x}, \
             member {:x} is in cluster {:x}",
            shared.member_id, shared.cluster_id
        )));
    }
    if shared
        .removed
        .lock()
        .expect("removed set lock")
        .contains(&from)
    {
        return Err(Status::new(
            super::REMOVED_CODE,
            format!("member {from:x} was removed from cluster {cluster_id:x}"),
        ));
    }
    if to != shared.member_id {
        return Err(Status::not_found(format!(
            "member {to:x} is not here: this is member {:x}",
            shared.member_id
        )));
    }
    Ok(())
}

/// Decodes one message of sender `from` and checks it may reach raft.
pub(super) fn check_message(
    shared: &Shared,
    from: u64,
    wire: pb::Message,
) -> Result<raft::Message, Status> {
    let m = convert::message_from_wire(wire)
        .map_err(|e| Status::invalid_argument(format!("undecodable raft message: {e}")))?;
    if m.to != shared.member_id || m.from != from {
        return Err(Status::invalid_argument(format!(
            "raft message from {:x} to {:x} in traffic stamped from {from:x} to {:x}",
            m.from, m.to, shared.member_id
        )));
    }
    if LOCAL_ONLY.contains(&m.msg_type) {
        return Err(Status::invalid_argument(format!(
            "{:?} messages never cross the network",
            m.msg_type
        )));
    }
    Ok(m)
}

#[tonic::async_trait]
impl pb::peer_server::Peer for PeerService {
    async fn identify(
        &self,
        request: Request<pb::IdentifyRequest>,
    ) -> Result<Response<pb::IdentifyResponse>, Status> {
        let caller = request.into_inner();
        if caller.cluster_id != 0 && caller.cluster_id != self.shared.cluster_id {
            tracing::debug!(
                caller = format_args!("{:x}", caller.member_id),
                caller_cluster = format_args!("{:x}", caller.cluster_id),
                cluster = format_args!("{:x}", self.shared.cluster_id),
                "Identify from a member of another cluster"
            );
        }
        Ok(Response::new(pb::IdentifyResponse {
            cluster_id: self.shared.cluster_id,
            member_id: self.shared.member_id,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }

    async fn send_messages(
        &self,
        request: Request<Streaming<pb::MessageBatch>>,
    ) -> Result<Response<pb::SendMessagesResponse>, Status> {
        let remote = request.remote_addr();
        let mut stream = request.into_inner();
        let mut shutdown = self.shared.shutdown.subscribe();
        let mut received = 0u64;
        loop {
            let item = tokio::select! {
                biased;
                _ = shutdown.wait_for(|down| *down) => None,
                item = stream.message() => Some(item?),
            };
            // Checked again after the wait: a batch and the shutdown can
            // become ready together.
            let Some(item) = item.filter(|_| !self.shared.is_shut_down()) else {
                return Err(Status::unavailable("member is shutting down"));
            };
            let Some(batch) = item else { break };
            let bytes = batch.encoded_len() as u64;
            let messages = self.accept(batch).map_err(|s| self.refused(s, remote))?;
            let count = messages.len() as u64;
            // Counted first, so the counters never lag what raft has seen.
            let r = &self.shared.received;
            r.messages.fetch_add(count, Ordering::Relaxed);
            r.bytes.fetch_add(bytes, Ordering::Relaxed);
            received += count;
            for m in messages {
                self.shared.deliver(Inbound::Message(m));
            }
        }
        Ok(Response::new(pb::SendMessagesResponse { received }))
    }

    async fn send_snapshot(
        &self,
        request: Request<Streaming<pb::SnapshotChunk>>,
    ) -> Result<Response<pb::SendSnapshotResponse>, Status> {
        let remote = request.remote_addr();
        let mut stream = request.into_inner();
        let mut shutdown = self.shared.shutdown.subscribe();
        let received = tokio::select! {
            biased;
            _ = shutdown.wait_for(|down| *down) => None,
            result = snapshot::receive(&self.shared, &mut stream) => Some(result),
        };
        let Some(result) = received.filter(|_| !self.shared.is_shut_down()) else {
            return Err(Status::unavailable("member is shutting down"));
        };
        let (message, bytes) = result.map_err(|s| self.refused(s, remote))?;
        tracing::info!(
            from = format_args!("{:x}", message.from),
            bytes,
            "snapshot received"
        );
        let r = &self.shared.received;
        r.messages.fetch_add(1, Ordering::Relaxed);
        r.snapshots.fetch_add(1, Ordering::Relaxed);
        r.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.shared.deliver(Inbound::Message(message));
        Ok(Response::new(pb::SendSnapshotResponse {
            received_bytes: bytes,
        }))
    }
}
