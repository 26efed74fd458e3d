//! The raft transport between members: carries `crate::raft::Message`s to
//! the other members over `cairn.peer.v1` and hands the ones that arrive to
//! the member's raft thread.
//!
//! It owns the peer set (id → peer URLs), one sending task per peer, the
//! snapshot transfers, the receiving gRPC service and the counters that
//! describe all of that. Files:
//!
//! - `mod.rs` (this file): the public API, [`Transport`];
//! - `sender.rs`: one task per peer: connect, Identify, one long-lived
//!   `SendMessages` stream fed in batches, back-off and reconnection;
//! - `snapshot.rs`: `SendSnapshot` in both directions (chunking, SHA-256,
//!   reassembly and its checks);
//! - `service.rs`: the `Peer` gRPC service the server mounts on its peer
//!   listener.
//!
//! # How it is driven
//!
//! [`Transport::send`] is called from the raft driver, a plain std thread,
//! never from a tokio task. It never blocks, awaits or panics: a message is
//! put into its peer's bounded queue with `try_send`, and snapshots get a
//! task of their own spawned through the runtime [`Handle`] captured at
//! construction. Everything that arrives, and everything raft should know
//! about the network (a peer it could not reach, how a snapshot transfer
//! ended), reaches the raft thread through the one [`Deliver`] callback as an
//! [`Inbound`] value.
//!
//! # Must never
//!
//! - block the caller of `send`, or buffer without bound: a full queue, or a
//!   peer without a connection, means the message is dropped and the peer
//!   reported unreachable (raft retransmits what matters);
//! - deliver a message that was not checked: a batch is refused whole (and
//!   nothing of it delivered) if it carries another cluster's id, is meant
//!   for another member, or holds a message that does not decode; a snapshot
//!   is delivered only after its size and SHA-256 digest match;
//! - talk to a member of another cluster: the sender asks every address who
//!   answers there (Identify) before opening a stream, and backs off while
//!   the answer is wrong.
//!
//! # Invariants
//!
//! - Messages to one peer travel over one stream at a time, in the order
//!   `send` saw them; the receiver hands them to raft in that order. A lost
//!   stream loses the messages in flight, never reorders them.
//! - After [`Transport::shutdown`] no task of the transport runs and nothing
//!   more is delivered.

mod sender;
mod service;
mod snapshot;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_proto::peer::peer_server::PeerServer;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::peer::dial::PeerDialer;
use crate::raft;

pub use service::PeerService;

/// What the transport hands to the member's raft thread, which turns each
/// into `step`, `report_unreachable` or `report_snapshot`.
// Nearly every value is a `Message`: boxing it would add an allocation per
// message to shrink the rare reports.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A message from another member, checked and decoded.
    Message(raft::Message),
    /// Messages to this peer were dropped: no connection, or its queue was
    /// full.
    Unreachable(u64),
    /// A snapshot transfer to `to` ended; `failed` when it did not arrive.
    SnapshotStatus { to: u64, failed: bool },
    /// A peer refused this member's traffic because the cluster removed
    /// this member (it may have been down when that was decided).
    RemovedFromCluster,
}

/// The callback that receives [`Inbound`] values. Called from tokio tasks;
/// it must be cheap and must not block (the server `try_send`s into the raft
/// thread's channel).
pub type Deliver = Arc<dyn Fn(Inbound) + Send + Sync>;

/// Tuning of the transport. [`Default`] holds the values a server uses;
/// tests shrink them.
#[derive(Clone, Debug)]
pub struct TransportOptions {
    /// Messages waiting for one peer's stream before new ones are dropped.
    pub queue_capacity: usize,
    /// A batch stops taking queued messages once it holds this many encoded
    /// bytes (it always takes at least one).
    pub max_batch_bytes: usize,
    /// The largest single raft message sent or accepted (encoded). Larger
    /// ones are dropped by the sender; the receiver's gRPC decoding limit is
    /// derived from it.
    pub max_message_bytes: usize,
    /// Size of one data chunk of a snapshot transfer.
    pub snapshot_chunk_bytes: usize,
    /// First wait after a failed connection; doubles per failure.
    pub backoff_min: Duration,
    /// Longest wait between connection attempts. A stream that stayed up
    /// this long counts as healthy and resets the wait to `backoff_min`.
    pub backoff_max: Duration,
    /// Limit on opening a TCP connection and on the Identify call each.
    pub connect_timeout: Duration,
    /// Limit on one whole snapshot transfer.
    pub snapshot_timeout: Duration,
    /// HTTP/2 keep-alive ping interval on peer connections, so a peer that
    /// vanished without closing its socket is noticed.
    pub keepalive_interval: Duration,
    /// Opens the connections, in plain text or TLS as the URL says.
    pub dialer: PeerDialer,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            queue_capacity: 4096,
            max_batch_bytes: 1024 * 1024,
            max_message_bytes: 64 * 1024 * 1024,
            snapshot_chunk_bytes: 1024 * 1024,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            snapshot_timeout: Duration::from_secs(600),
            keepalive_interval: Duration::from_secs(10),
            dialer: crate::peer::dial::plain(),
        }
    }
}

impl TransportOptions {
    /// The decoding limit of the receiving service: one batch may exceed
    /// `max_batch_bytes` by one message, plus framing.
    fn max_decoding_bytes(&self) -> usize {
        self.max_batch_bytes
            .saturating_add(self.max_message_bytes)
            .saturating_add(64 * 1024)
    }
}

/// A point-in-time copy of the transport's counters, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Raft messages received and handed to raft (snapshots included).
    pub messages_received: u64,
    /// Encoded bytes of those messages (snapshot data included).
    pub bytes_received: u64,
    /// Snapshots received, verified and handed to raft.
    pub snapshots_received: u64,
    /// Batches or snapshot transfers this member refused.
    pub refused: u64,
    /// One entry per peer, ordered by id.
    pub peers: Vec<PeerStats>,
}

/// Counters of one peer, as sent by this member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    pub id: u64,
    /// A message stream to the peer is open.
    pub active: bool,
    /// The URL of the open stream, or of the last connection attempt.
    pub url: Option<String>,
    /// Messages handed to the peer's stream.
    pub messages_sent: u64,
    /// Encoded bytes of those messages.
    pub bytes_sent: u64,
    /// Messages dropped: queue full, no connection, lost with a stream, or
    /// too large.
    pub messages_dropped: u64,
    /// Snapshot transfers the peer confirmed.
    pub snapshots_sent: u64,
    /// Snapshot transfers that failed.
    pub snapshots_failed: u64,
    /// Connection attempts that failed (refused, timed out, wrong identity,
    /// stream ended with an error).
    pub connect_failures: u64,
    /// Why the last connection attempt or stream failed; cleared when a
    /// connection succeeds.
    pub last_error: Option<String>,
}

/// What the sending task of one peer and `send` share.
#[derive(Debug, Default)]
struct PeerCounters {
    active: AtomicBool,
    messages_sent: AtomicU64,
    bytes_sent: AtomicU64,
    messages_dropped: AtomicU64,
    snapshots_sent: AtomicU64,
    snapshots_failed: AtomicU64,
    connect_failures: AtomicU64,
    /// Set once `Unreachable` was delivered, cleared when a batch goes out:
    /// raft needs to hear it once per outage, not once per dropped message.
    unreachable_reported: AtomicBool,
    url: Mutex<Option<String>>,
    last_error: Mutex<Option<String>>,
}

/// Counters of the receiving side.
#[derive(Debug, Default)]
struct ReceiveCounters {
    messages: AtomicU64,
    bytes: AtomicU64,
    snapshots: AtomicU64,
    refused: AtomicU64,
}

/// State shared by the transport, its tasks and its service.
struct Shared {
    cluster_id: u64,
    member_id: u64,
    deliver: Deliver,
    options: TransportOptions,
    received: ReceiveCounters,
    /// Flips to `true` once, on shutdown; the service's open streams end.
    shutdown: watch::Sender<bool>,
    /// Members removed from the cluster: their traffic is refused with
    /// [`REMOVED_CODE`], which tells them to stop.
    removed: Mutex<std::collections::HashSet<u64>>,
}

/// The status code a member's traffic is refused with once the cluster
/// removed it; nothing else in the peer protocol answers with it.
pub(crate) const REMOVED_CODE: tonic::Code = tonic::Code::PermissionDenied;

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("cluster_id", &format_args!("{:x}", self.cluster_id))
            .field("member_id", &format_args!("{:x}", self.member_id))
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Tells raft that messages to `id` were lost, once per outage.
    fn report_unreachable(&self, id: u64, counters: Option<&PeerCounters>) {
        let first = counters.is_none_or(|c| !c.unreachable_reported.swap(true, Ordering::Relaxed));
        if first {
            self.deliver(Inbound::Unreachable(id));
        }
    }

    /// Hands `inbound` to raft, unless the transport is shut down.
    fn deliver(&self, inbound: Inbound) {
        if !self.is_shut_down() {
            (self.deliver)(inbound);
        }
    }

    fn is_shut_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// One peer as the transport holds it.
#[derive(Debug)]
struct Peer {
    queue: mpsc::Sender<raft::Message>,
    urls: watch::Sender<Vec<String>>,
    counters: Arc<PeerCounters>,
    task: JoinHandle<()>,
}

/// The raft transport of one member. Shared (`Arc`) between the raft thread
/// (which calls [`send`](Transport::send)), the server (which mounts
/// [`service`](Transport::service) and manages the peer set) and its own
/// tasks.
#[derive(Debug)]
pub struct Transport {
    shared: Arc<Shared>,
    handle: Handle,
    peers: Mutex<HashMap<u64, Peer>>,
    snapshot_tasks: Mutex<JoinSet<()>>,
}

impl Transport {
    /// A transport for member `member_id` of cluster `cluster_id`, with
    /// default options. Must be called inside a tokio runtime: its handle is
    /// kept for spawning tasks from [`send`](Transport::send).
    pub fn new(cluster_id: u64, member_id: u64, deliver: Deliver) -> Arc<Transport> {
        Transport::with_options(cluster_id, member_id, deliver, TransportOptions::default())
    }

    /// Like [`new`](Transport::new) with explicit options.
    pub fn with_options(
        cluster_id: u64,
        member_id: u64,
        deliver: Deliver,
        options: TransportOptions,
    ) -> Arc<Transport> {
        Transport::on_runtime(cluster_id, member_id, deliver, options, Handle::current())
    }

    /// Like [`with_options`](Transport::with_options) on the runtime behind
    /// `handle`; callable from any thread.
    pub fn on_runtime(
        cluster_id: u64,
        member_id: u64,
        deliver: Deliver,
        options: TransportOptions,
        handle: Handle,
    ) -> Arc<Transport> {
        let (shutdown, _) = watch::channel(false);
        Arc::new(Transport {
            shared: Arc::new(Shared {
                cluster_id,
                member_id,
                deliver,
                options,
                received: ReceiveCounters::default(),
                shutdown,
                removed: Mutex::new(std::collections::HashSet::new()),
            }),
            handle,
            peers: Mutex::new(HashMap::new()),
            snapshot_tasks: Mutex::new(JoinSet::new()),
        })
    }

    /// This member's id.
    pub fn member_id(&self) -> u64 {
        self.shared.member_id
    }

    /// This member's cluster id.
    pub fn cluster_id(&self) -> u64 {
        self.shared.cluster_id
    }

    /// Starts sending to member `id` at `urls` (peer URLs such as
    /// `http://127.0.0.1:2380`; the first that answers is used). Adding a
    /// peer that is already known only replaces its URLs; adding this member
    /// itself, or adding after shutdown, does nothing.
    pub fn add_peer(&self, id: u64, urls: Vec<String>) {
        if id == self.shared.member_id || self.shared.is_shut_down() {
            return;
        }
        let mut peers = self.peers.lock().expect("peer set lock");
        if let Some(peer) = peers.get(&id) {
            peer.urls.send_replace(urls);
            return;
        }
        let (queue, queue_rx) = mpsc::channel(self.shared.options.queue_capacity.max(1));
        let (urls, urls_rx) = watch::channel(urls);
        let counters = Arc::new(PeerCounters::default());
        let task = self.handle.spawn(sender::run(
            sender::PeerLink {
                shared: Arc::clone(&self.shared),
                id,
                counters: Arc::clone(&counters),
            },
            queue_rx,
            urls_rx,
        ));
        peers.insert(
            id,
            Peer {
                queue,
                urls,
                counters,
                task,
            },
        );
    }

    /// Stops sending to member `id`; messages still queued for it are
    /// dropped. Unknown ids are ignored.
    pub fn remove_peer(&self, id: u64) {
        self.mark_removed(id);
        let removed = self.peers.lock().expect("peer set lock").remove(&id);
        if let Some(peer) = removed {
            peer.task.abort();
        }
    }

    /// Refuses member `id`'s traffic from now on, telling it that it was
    /// removed (for members removed before this member started).
    pub fn mark_removed(&self, id: u64) {
        self.shared
            .removed
            .lock()
            .expect("removed set lock")
            .insert(id);
    }

    /// Replaces the URLs of member `id`. An open stream to a URL that is
    /// still listed stays open; otherwise the peer reconnects. Unknown ids
    /// are ignored (use [`add_peer`](Transport::add_peer)).
    pub fn update_peer(&self, id: u64, urls: Vec<String>) {
        if let Some(peer) = self.peers.lock().expect("peer set lock").get(&id) {
            peer.urls.send_replace(urls);
        }
    }

    /// Ids of the peers messages can be sent to, ascending.
    pub fn peer_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .peers
            .lock()
            .expect("peer set lock")
            .keys()
            .copied()
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Sends raft's messages, routed by `to`. Never blocks, awaits or
    /// panics; callable from any thread. A message that cannot be queued
    /// (unknown peer, full queue, shut down) is dropped and its peer reported
    /// [`Inbound::Unreachable`]; snapshot messages start a transfer whose end
    /// is reported as [`Inbound::SnapshotStatus`].
    pub fn send(&self, msgs: Vec<raft::Message>) {
        if msgs.is_empty() || self.shared.is_shut_down() {
            return;
        }
        let peers = self.peers.lock().expect("peer set lock");
        for m in msgs {
            let to = m.to;
            let Some(peer) = peers.get(&to) else {
                tracing::debug!(
                    to = format_args!("{to:x}"),
                    "message to an unknown peer dropped"
                );
                if m.msg_type == raft::MessageType::Snapshot {
                    self.shared
                        .deliver(Inbound::SnapshotStatus { to, failed: true });
                }
                self.shared.report_unreachable(to, None);
                continue;
            };
            if m.msg_type == raft::MessageType::Snapshot {
                let urls = peer.urls.borrow().clone();
                let transfer = snapshot::send(
                    sender::PeerLink {
                        shared: Arc::clone(&self.shared),
                        id: to,
                        counters: Arc::clone(&peer.counters),
                    },
                    urls,
                    m,
                );
                let mut tasks = self.snapshot_tasks.lock().expect("snapshot task lock");
                while tasks.try_join_next().is_some() {}
                tasks.spawn_on(transfer, &self.handle);
                continue;
            }
            if peer.queue.try_send(m).is_err() {
                peer.counters
                    .messages_dropped
                    .fetch_add(1, Ordering::Relaxed);
                self.shared.report_unreachable(to, Some(&peer.counters));
            }
        }
    }

    /// The gRPC service that receives other members' traffic; mount it on
    /// the peer listener.
    pub fn service(&self) -> PeerServer<PeerService> {
        let limit = self.shared.options.max_decoding_bytes();
        PeerServer::new(PeerService::new(Arc::clone(&self.shared))).max_decoding_message_size(limit)
    }

    /// A copy of the counters.
    pub fn stats(&self) -> TransportStats {
        let r = &self.shared.received;
        let mut peers: Vec<PeerStats> = self
            .peers
            .lock()
            .expect("peer set lock")
            .iter()
            .map(|(&id, p)| {
                let c = &p.counters;
                PeerStats {
                    id,
                    active: c.active.load(Ordering::Relaxed),
                    url: c.url.lock().expect("url lock").clone(),
                    messages_sent: c.messages_sent.load(Ordering::Relaxed),
                    bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
                    messages_dropped: c.messages_dropped.load(Ordering::Relaxed),
                    snapshots_sent: c.snapshots_sent.load(Ordering::Relaxed),
                    snapshots_failed: c.snapshots_failed.load(Ordering::Relaxed),
                    connect_failures: c.connect_failures.load(Ordering::Relaxed),
                    last_error: c.last_error.lock().expect("error lock").clone(),
                }
            })
            .collect();
        peers.sort_unstable_by_key(|p| p.id);
        TransportStats {
            messages_received: r.messages.load(Ordering::Relaxed),
            bytes_received: r.bytes.load(Ordering::Relaxed),
            snapshots_received: r.snapshots.load(Ordering::Relaxed),
            refused: r.refused.load(Ordering::Relaxed),
            peers,
        }
    }

    /// Stops every task of the transport and ends the service's open
    /// streams. Afterwards `send` drops everything silently and nothing is
    /// delivered. Idempotent.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        let peers: Vec<Peer> = self
            .peers
            .lock()
            .expect("peer set lock")
            .drain()
            .map(|(_, p)| p)
            .collect();
        for peer in peers {
            peer.task.abort();
        }
        self.snapshot_tasks
            .lock()
            .expect("snapshot task lock")
            .abort_all();
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.shutdown();
    }
}
