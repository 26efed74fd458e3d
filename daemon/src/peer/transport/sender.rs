//! The sending side for one peer: a task that connects, asks who answers
//! (Identify), and keeps one `SendMessages` stream open, feeding it batches
//! of whatever the peer's queue holds whenever the stream can take more.
//!
//! It must never hold messages while it has no stream to put them on: when a
//! connection fails, what is queued is dropped (raft was told the peer is
//! unreachable) and so is everything that arrives during the back-off.
//!
//! Connection states, in a loop:
//!
//! 1. *connecting* to the current URL (TCP, then Identify, each under
//!    `connect_timeout`); meanwhile messages wait in the bounded queue;
//! 2. *streaming*: batches go out in queue order until the stream fails, the
//!    peer's URLs change so the current one is gone, or the peer is removed;
//! 3. *backing off* after a failure: `backoff_min` doubling to `backoff_max`,
//!    reset once a stream stayed up for `backoff_max`; messages arriving
//!    meanwhile are dropped. A failed connection moves on to the next URL; a
//!    URL that worked is kept until it fails.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cairn_proto::peer as pb;
use cairn_proto::peer::peer_client::PeerClient;
use prost::Message as _;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, timeout};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::{PeerCounters, Shared};
use crate::peer::convert;
use crate::raft;

/// Responses of the peer service are a few bytes; anything bigger is wrong.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What a task working for one peer needs.
#[derive(Debug, Clone)]
pub(super) struct PeerLink {
    pub(super) shared: Arc<Shared>,
    pub(super) id: u64,
    pub(super) counters: Arc<PeerCounters>,
}

/// Why a connection to a peer, or a stream on it, failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum LinkError {
    #[error("no peer URLs known")]
    NoUrls,
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("connecting to {url} timed out")]
    Timeout { url: String },
    #[error("Identify at {url} failed: {code:?}: {message}")]
    Identify {
        url: String,
        code: tonic::Code,
        message: String,
    },
    #[error(
        "cluster id mismatch: {url} belongs to cluster {remote:x}, this member to cluster {local:x}"
    )]
    ClusterMismatch {
        url: String,
        local: u64,
        remote: u64,
    },
    #[error("member {remote:x} answers at {url}, expected member {expected:x}")]
    WrongMember {
        url: String,
        expected: u64,
        remote: u64,
    },
    #[error("stream to {url} ended: {code:?}: {message}")]
    Stream {
        url: String,
        code: tonic::Code,
        message: String,
    },
}

impl LinkError {
    fn stream(url: &str, status: &tonic::Status) -> LinkError {
        LinkError::Stream {
            url: url.to_string(),
            code: status.code(),
            message: status.message().to_string(),
        }
    }

    /// A failure that needs an operator (wrong cluster, wrong member),
    /// rather than a peer that is merely down.
    fn is_misconfiguration(&self) -> bool {
        match self {
            LinkError::ClusterMismatch { .. } | LinkError::WrongMember { .. } => true,
            LinkError::Stream { code, .. } => {
                matches!(
                    code,
                    tonic::Code::FailedPrecondition | tonic::Code::NotFound
                )
            }
            _ => false,
        }
    }
}

impl PeerLink {
    /// Records a failed connection or stream. Logged at warn (error for a
    /// misconfiguration) when the reason differs from the previous one, at
    /// debug otherwise, so a peer that stays down does not flood the log.
    fn failed(&self, err: &LinkError) {
        if let LinkError::Stream { code, .. } = err
            && *code == super::REMOVED_CODE
        {
            self.shared.deliver(super::Inbound::RemovedFromCluster);
        }
        self.counters
            .connect_failures
            .fetch_add(1, Ordering::Relaxed);
        let text = err.to_string();
        let mut last = self.counters.last_error.lock().expect("error lock");
        let repeated = last.as_deref() == Some(text.as_str());
        let peer = format_args!("{:x}", self.id);
        if repeated {
            tracing::debug!(peer = %peer, error = %text, "peer still unreachable");
        } else if err.is_misconfiguration() {
            tracing::error!(
                peer = %peer,
                local_cluster = format_args!("{:x}", self.shared.cluster_id),
                error = %text,
                "peer refused or is not the expected member; backing off"
            );
        } else {
            tracing::warn!(peer = %peer, error = %text, "peer unreachable; backing off");
        }
        *last = Some(text);
    }

    fn dropped(&self, n: u64) {
        if n > 0 {
            self.counters
                .messages_dropped
                .fetch_add(n, Ordering::Relaxed);
            self.shared
                .report_unreachable(self.id, Some(&self.counters));
        }
    }

    fn set_url(&self, url: &str) {
        *self.counters.url.lock().expect("url lock") = Some(url.to_string());
    }
}

/// Opens a connection to `url` and checks that member `link.id` of this
/// cluster answers there.
pub(super) async fn connect(link: &PeerLink, url: &str) -> Result<PeerClient<Channel>, LinkError> {
    let opts = &link.shared.options;
    let endpoint = opts
        .dialer
        .endpoint(url)
        .map_err(|e| LinkError::Connect {
            url: url.to_string(),
            reason: e.to_string(),
        })?
        .map(|e| {
            e.connect_timeout(opts.connect_timeout)
                .http2_keep_alive_interval(opts.keepalive_interval)
                .keep_alive_timeout(opts.keepalive_interval)
                .keep_alive_while_idle(true)
        });
    let channel = timeout(opts.connect_timeout, endpoint.connect())
        .await
        .map_err(|_| LinkError::Timeout {
            url: url.to_string(),
        })?
        .map_err(|e| LinkError::Connect {
            url: url.to_string(),
            reason: error_chain(&e),
        })?;
    let mut client = PeerClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES);
    let request = pb::IdentifyRequest {
        cluster_id: link.shared.cluster_id,
        member_id: link.shared.member_id,
    };
    let answer = timeout(opts.connect_timeout, client.identify(request))
        .await
        .map_err(|_| LinkError::Timeout {
            url: url.to_string(),
        })?
        .map_err(|s| LinkError::Identify {
            url: url.to_string(),
            code: s.code(),
            message: s.message().to_string(),
        })?
        .into_inner();
    if answer.cluster_id != link.shared.cluster_id {
        return Err(LinkError::ClusterMismatch {
            url: url.to_string(),
            local: link.shared.cluster_id,
            remote: answer.cluster_id,
        });
    }
    if answer.member_id != link.id {
        return Err(LinkError::WrongMember {
            url: url.to_string(),
            expected: link.id,
            remote: answer.member_id,
        });
    }
    Ok(client)
}

/// A transport error's own text is often just "transport error"; the cause
/// ("connection refused") is further down the chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// How a stream ended.
enum StreamEnd {
    /// The peer was removed (its queue or URL list is gone).
    Removed,
    /// The URL in use is no longer one of the peer's; reconnect at once.
    UrlGone,
    Failed(LinkError),
}

/// The task of one peer; runs until the peer is removed or the transport
/// shuts down (both abort it; it also ends once its queue is closed).
pub(super) async fn run(
    link: PeerLink,
    mut queue: mpsc::Receiver<raft::Message>,
    mut urls: watch::Receiver<Vec<String>>,
) {
    let opts = link.shared.options.clone();
    let mut backoff = opts.backoff_min;
    let mut next_url = 0usize;
    loop {
        let list = urls.borrow_and_update().clone();
        let failure = if list.is_empty() {
            LinkError::NoUrls
        } else {
            let url = &list[next_url % list.len()];
            link.set_url(url);
            match connect(&link, url).await {
                Err(e) => {
                    next_url = next_url.wrapping_add(1);
                    e
                }
                Ok(client) => {
                    *link.counters.last_error.lock().expect("error lock") = None;
                    let opened = Instant::now();
                    link.counters.active.store(true, Ordering::Relaxed);
                    let end = stream(&link, client, url, &mut queue, &mut urls).await;
                    link.counters.active.store(false, Ordering::Relaxed);
                    if opened.elapsed() >= opts.backoff_max {
                        backoff = opts.backoff_min;
                    }
                    match end {
                        StreamEnd::Removed => return,
                        StreamEnd::UrlGone => {
                            next_url = 0;
                            continue;
                        }
                        StreamEnd::Failed(e) => e,
                    }
                }
            }
        };
        link.failed(&failure);
        // Whatever waited for this connection will not be sent.
        let mut lost = 0;
        while queue.try_recv().is_ok() {
            lost += 1;
        }
        link.dropped(lost);
        link.shared
            .report_unreachable(link.id, Some(&link.counters));
        match back_off(&link, backoff, &mut queue, &mut urls).await {
            Waited::Elapsed => {}
            Waited::UrlsChanged => next_url = 0,
            Waited::Removed => return,
        }
        backoff = (backoff * 2).min(opts.backoff_max);
    }
}

/// How a back-off ended.
enum Waited {
    Elapsed,
    UrlsChanged,
    Removed,
}

/// Waits `wait`, dropping the messages that arrive meanwhile; cut short
/// when the peer's URLs change or the peer is removed.
async fn back_off(
    link: &PeerLink,
    wait: Duration,
    queue: &mut mpsc::Receiver<raft::Message>,
    urls: &mut watch::Receiver<Vec<String>>,
) -> Waited {
    let sleep = tokio::time::sleep(wait);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return Waited::Elapsed,
            m = queue.recv() => match m {
                Some(_) => link.dropped(1),
                None => return Waited::Removed,
            },
            changed = urls.changed() => {
                return if changed.is_ok() { Waited::UrlsChanged } else { Waited::Removed };
            }
        }
    }
}

/// Feeds one `SendMessages` stream until it ends.
async fn stream(
    link: &PeerLink,
    mut client: PeerClient<Channel>,
    url: &str,
    queue: &mut mpsc::Receiver<raft::Message>,
    urls: &mut watch::Receiver<Vec<String>>,
) -> StreamEnd {
    // Capacity 1: the next batch is assembled only once the previous one
    // was taken, so messages keep accumulating into bigger batches while the
    // connection is busy.
    let (batches, batches_rx) = mpsc::channel::<pb::MessageBatch>(1);
    let call = client.send_messages(ReceiverStream::new(batches_rx));
    tokio::pin!(call);
    loop {
        tokio::select! {
            result = &mut call => {
                // The receiver answers only when it ends the stream; we
                // never end it, so any answer is a failure.
                let err = match result {
                    Ok(_) => LinkError::Stream {
                        url: url.to_string(),
                        code: tonic::Code::Unavailable,
                        message: "closed by the peer".to_string(),
                    },
                    Err(status) => LinkError::stream(url, &status),
                };
                return StreamEnd::Failed(err);
            }
            changed = urls.changed() => {
                if changed.is_err() {
                    return StreamEnd::Removed;
                }
                if !urls.borrow_and_update().iter().any(|u| u == url) {
                    return StreamEnd::UrlGone;
                }
            }
            first = queue.recv() => {
                let Some(first) = first else {
                    return StreamEnd::Removed;
                };
                let Some((batch, bytes)) = assemble(link, first, queue) else {
                    continue;
                };
                let count = batch.messages.len() as u64;
                tokio::select! {
                    result = &mut call => {
                        link.dropped(count);
                        let status = result.err().unwrap_or_else(|| tonic::Status::unavailable("closed by the peer"));
                        return StreamEnd::Failed(LinkError::stream(url, &status));
                    }
                    sent = batches.send(batch) => {
                        if sent.is_err() {
                            link.dropped(count);
                            return StreamEnd::Failed(LinkError::Stream {
                                url: url.to_string(),
                                code: tonic::Code::Unavailable,
                                message: "request stream closed".to_string(),
                            });
                        }
                        let c = &link.counters;
                        c.messages_sent.fetch_add(count, Ordering::Relaxed);
                        c.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
                        c.unreachable_reported.store(false, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

/// A batch of `first` and whatever else is queued, up to `max_batch_bytes`,
/// with its encoded size; `None` when nothing in it could be sent.
fn assemble(
    link: &PeerLink,
    first: raft::Message,
    queue: &mut mpsc::Receiver<raft::Message>,
) -> Option<(pb::MessageBatch, usize)> {
    let opts = &link.shared.options;
    let mut messages = Vec::new();
    let mut bytes = 0usize;
    let mut next = Some(first);
    while let Some(m) = next {
        let wire = convert::message_to_wire(&m);
        let len = wire.encoded_len();
        if len > opts.max_message_bytes {
            tracing::warn!(
                peer = format_args!("{:x}", link.id),
                bytes = len,
                limit = opts.max_message_bytes,
                "raft message larger than the transport's limit dropped"
            );
            link.dropped(1);
        } else {
            bytes += len;
            messages.push(wire);
        }
        next = if bytes < opts.max_batch_bytes {
            queue.try_recv().ok()
        } else {
            None
        };
    }
    if messages.is_empty() {
        return None;
    }
    Some((
        pb::MessageBatch {
            cluster_id: link.shared.cluster_id,
            from_member_id: link.shared.member_id,
            to_member_id: link.id,
            messages,
        },
        bytes,
    ))
}
