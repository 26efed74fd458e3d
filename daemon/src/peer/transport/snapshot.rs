//! Raft snapshots over `SendSnapshot`, both directions.
//!
//! Sending: one task per snapshot message opens its own connection (the
//! message stream keeps flowing meanwhile), sends a header (the raft message
//! with the snapshot's data taken out, and the data's size), the data in
//! chunks, then a trailer with the SHA-256 digest of the data; the end is
//! reported to raft as `SnapshotStatus`.
//!
//! Receiving: the header is checked like a message batch (cluster, recipient)
//! and must hold a SNAPSHOT message; the data is collected; only when the
//! trailer shows the announced size and the digest of what arrived is the
//! message, with its data put back, handed to raft.
//!
//! Must never: deliver a snapshot whose size or digest does not match, or
//! report a transfer as successful before the receiver confirmed it.

use bytes::Bytes;
use cairn_proto::peer as pb;
use cairn_proto::peer::snapshot_chunk::Chunk;
use sha2::{Digest, Sha256};
use std::sync::atomic::Ordering;
use tokio::time::timeout;
use tonic::{Status, Streaming};

use super::sender::{self, PeerLink};
use super::service::{check_message, check_stamp};
use super::{Inbound, Shared};
use crate::peer::convert;
use crate::raft;

/// The most data buffer reserved up front from a header's announced size;
/// beyond it the buffer grows as data actually arrives.
const MAX_PREALLOCATE: usize = 64 * 1024 * 1024;

/// Transfers the snapshot in `m` to the peer of `link`, trying `urls` in
/// order, and reports the outcome to raft.
pub(super) async fn send(link: PeerLink, urls: Vec<String>, m: raft::Message) {
    let limit = link.shared.options.snapshot_timeout;
    let result = match timeout(limit, transfer(&link, &urls, m)).await {
        Ok(r) => r,
        Err(_) => Err(format!("snapshot transfer timed out after {limit:?}")),
    };
    let peer = format_args!("{:x}", link.id);
    match &result {
        Ok(bytes) => {
            link.counters.snapshots_sent.fetch_add(1, Ordering::Relaxed);
            tracing::info!(peer = %peer, bytes, "snapshot sent");
        }
        Err(e) => {
            link.counters
                .snapshots_failed
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(peer = %peer, error = %e, "snapshot transfer failed");
        }
    }
    link.shared.deliver(Inbound::SnapshotStatus {
        to: link.id,
        failed: result.is_err(),
    });
}

/// Returns the number of data bytes the peer confirmed.
async fn transfer(link: &PeerLink, urls: &[String], mut m: raft::Message) -> Result<u64, String> {
    let Some(snapshot) = m.snapshot.as_mut() else {
        return Err("snapshot message without a snapshot".to_string());
    };
    let data = std::mem::take(&mut snapshot.data);
    let hashed = data.clone();
    // Hashing a large image would hold up a runtime worker.
    let digest = tokio::task::spawn_blocking(move || Sha256::digest(&hashed).to_vec())
        .await
        .map_err(|e| format!("hashing the snapshot failed: {e}"))?;
    let header = pb::SnapshotHeader {
        cluster_id: link.shared.cluster_id,
        from_member_id: link.shared.member_id,
        to_member_id: link.id,
        message: Some(convert::message_to_wire(&m)),
        total_size: data.len() as u64,
    };
    let mut last_error = "no peer URLs known".to_string();
    for url in urls {
        let mut client = match sender::connect(link, url).await {
            Ok(c) => c,
            Err(e) => {
                last_error = e.to_string();
                continue;
            }
        };
        let items = chunks(
            header.clone(),
            data.clone(),
            link.shared.options.snapshot_chunk_bytes,
            digest.clone(),
        );
        return match client.send_snapshot(tokio_stream::iter(items)).await {
            Ok(answer) => Ok(answer.into_inner().received_bytes),
            Err(status) => Err(format!(
                "{url} refused the snapshot: {:?}: {}",
                status.code(),
                status.message()
            )),
        };
    }
    Err(last_error)
}

/// The items of one transfer: header, data in pieces of `chunk` bytes,
/// trailer. Built lazily so a large image is copied one chunk at a time.
fn chunks(
    header: pb::SnapshotHeader,
    data: Bytes,
    chunk: usize,
    sha256: Vec<u8>,
) -> impl Iterator<Item = pb::SnapshotChunk> + Send + 'static {
    let chunk = chunk.max(1);
    let pieces = data.len().div_ceil(chunk);
    let item = |c| pb::SnapshotChunk { chunk: Some(c) };
    std::iter::once(item(Chunk::Header(header)))
        .chain((0..pieces).map(move |i| {
            let end = ((i + 1) * chunk).min(data.len());
            item(Chunk::Data(data.slice(i * chunk..end).to_vec()))
        }))
        .chain(std::iter::once(item(Chunk::Trailer(pb::SnapshotTrailer {
            sha256,
        }))))
}

/// Reads one `SendSnapshot` stream to its end and returns the verified
/// SNAPSHOT message, its data in place, with the number of data bytes.
pub(super) async fn receive(
    shared: &Shared,
    stream: &mut Streaming<pb::SnapshotChunk>,
) -> Result<(raft::Message, u64), Status> {
    let Some(Chunk::Header(header)) = next(stream).await? else {
        return Err(Status::invalid_argument(
            "a snapshot stream must start with its header",
        ));
    };
    check_stamp(
        shared,
        header.cluster_id,
        header.from_member_id,
        header.to_member_id,
    )?;
    let Some(wire) = header.message else {
        return Err(Status::invalid_argument(
            "snapshot header without a message",
        ));
    };
    let mut message = check_message(shared, header.from_member_id, wire)?;
    if message.msg_type != raft::MessageType::Snapshot || message.snapshot.is_none() {
        return Err(Status::invalid_argument(
            "snapshot header must carry a SNAPSHOT message with its metadata",
        ));
    }
    let total = header.total_size;
    let reserve = usize::try_from(total).map_or(MAX_PREALLOCATE, |t| t.min(MAX_PREALLOCATE));
    let mut data = Vec::with_capacity(reserve);
    let mut hasher = Sha256::new();
    let trailer = loop {
        match next(stream).await? {
            Some(Chunk::Data(piece)) => {
                if data.len() as u64 + piece.len() as u64 > total {
                    return Err(Status::data_loss(format!(
                        "snapshot data exceeds the {total} bytes its header announced"
                    )));
                }
                hasher.update(&piece);
                data.extend_from_slice(&piece);
            }
            Some(Chunk::Trailer(t)) => break t,
            Some(Chunk::Header(_)) => {
                return Err(Status::invalid_argument(
                    "a snapshot stream has only one header",
                ));
            }
            None => {
                return Err(Status::invalid_argument(
                    "snapshot stream ended before its trailer",
                ));
            }
        }
    };
    if data.len() as u64 != total {
        return Err(Status::data_loss(format!(
            "snapshot has {} data bytes, its header announced {total}",
            data.len()
        )));
    }
    if hasher.finalize().as_slice() != trailer.sha256.as_slice() {
        return Err(Status::data_loss(
            "snapshot data does not match its SHA-256 digest",
        ));
    }
    if stream.message().await?.is_some() {
        return Err(Status::invalid_argument(
            "nothing may follow a snapshot's trailer",
        ));
    }
    if let Some(s) = message.snapshot.as_mut() {
        s.data = Bytes::from(data);
    }
    Ok((message, total))
}

/// The next item's content; `None` at the end of the stream. An item
/// without content is refused.
async fn next(stream: &mut Streaming<pb::SnapshotChunk>) -> Result<Option<Chunk>, Status> {
    match stream.message().await? {
        None => Ok(None),
        Some(pb::SnapshotChunk { chunk: Some(c) }) => Ok(Some(c)),
        Some(pb::SnapshotChunk { chunk: None }) => {
            Err(Status::invalid_argument("empty snapshot stream item"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(len: usize, chunk: usize) -> (usize, Vec<u8>) {
        let data = Bytes::from((0..len).map(|i| i as u8).collect::<Vec<u8>>());
        let items: Vec<_> = chunks(pb::SnapshotHeader::default(), data, chunk, vec![7]).collect();
        assert!(matches!(items[0].chunk, Some(Chunk::Header(_))));
        assert!(matches!(
            items.last().unwrap().chunk,
            Some(Chunk::Trailer(_))
        ));
        let mut joined = Vec::new();
        for item in &items[1..items.len() - 1] {
            let Some(Chunk::Data(d)) = &item.chunk else {
                panic!("only data between header and trailer")
            };
            assert!(!d.is_empty() && d.len() <= chunk);
            joined.extend_from_slice(d);
        }
        (items.len() - 2, joined)
    }

    #[test]
    fn chunking_covers_the_data_exactly_once() {
        for (len, chunk, count) in [(0, 4, 0), (1, 4, 1), (8, 4, 2), (9, 4, 3), (5, 1, 5)] {
            let (n, joined) = pieces(len, chunk);
            assert_eq!(n, count, "len {len} chunk {chunk}");
            assert_eq!(joined, (0..len).map(|i| i as u8).collect::<Vec<u8>>());
        }
    }
}
