//! The raft transport between members, over real tonic servers on
//! 127.0.0.1: messages arrive in order, in batches of any size; a peer that
//! is down is reported unreachable and reached once it comes up; traffic
//! from another cluster, for another member, or that does not decode is
//! refused with nothing delivered; snapshots arrive intact or not at all;
//! `send` works from a plain thread and never blocks on a full queue.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cairn::peer::convert;
use cairn::peer::transport::{Deliver, Inbound, Transport, TransportOptions};
use cairn::raft::{ConfState, Entry, EntryType, Message, MessageType, Snapshot, SnapshotMetadata};
use cairn_proto::peer as pb;
use cairn_proto::peer::peer_client::PeerClient;
use cairn_proto::peer::snapshot_chunk::Chunk;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};
use tokio_stream::wrappers::TcpListenerStream;

/// Long enough for a loaded 2-core machine; only ever reached on failure.
const PATIENCE: Duration = Duration::from_secs(60);

/// One member: its transport, what it delivered, and its peer server.
struct Member {
    id: u64,
    transport: Arc<Transport>,
    inbox: mpsc::UnboundedReceiver<Inbound>,
    url: String,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

impl Member {
    /// Takes the member down as a server would: the transport ends its
    /// streams, then the server drains its connections.
    async fn stop(mut self) {
        self.transport.shutdown();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        timeout(PATIENCE, self.server)
            .await
            .expect("server stops once the transport shut down")
            .expect("server task");
    }
}

/// Logs go to the test's captured output, shown when it fails.
fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("cairn=debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

fn transport(
    cluster: u64,
    id: u64,
    options: TransportOptions,
) -> (Arc<Transport>, mpsc::UnboundedReceiver<Inbound>) {
    logs();
    let (tx, rx) = mpsc::unbounded_channel();
    let deliver: Deliver = Arc::new(move |i| {
        let _ = tx.send(i);
    });
    (Transport::with_options(cluster, id, deliver, options), rx)
}

/// Starts member `id` of `cluster`, serving on `listener`.
fn serve(cluster: u64, id: u64, options: TransportOptions, listener: TcpListener) -> Member {
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (transport, inbox) = transport(cluster, id, options);
    let (stop, stopped) = oneshot::channel::<()>();
    let service = transport.service();
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            })
            .await
            .expect("peer server");
    });
    Member {
        id,
        transport,
        inbox,
        url,
        stop: Some(stop),
        server,
    }
}

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

async fn member(cluster: u64, id: u64) -> Member {
    serve(cluster, id, TransportOptions::default(), listener().await)
}

/// Makes every member a peer of every other.
fn mesh(members: &[&Member]) {
    for a in members {
        for b in members {
            if a.id != b.id {
                a.transport.add_peer(b.id, vec![b.url.clone()]);
            }
        }
    }
}

/// An address nothing listens on (for now).
async fn free_addr() -> SocketAddr {
    listener().await.local_addr().unwrap()
}

fn append(from: u64, to: u64, index: u64, payload: usize) -> Message {
    Message {
        msg_type: MessageType::Append,
        to,
        from,
        term: 3,
        log_term: 3,
        index,
        entries: vec![Entry {
            term: 3,
            index: index + 1,
            entry_type: EntryType::Normal,
            data: Bytes::from(vec![(index % 251) as u8; payload]),
        }],
        commit: index,
        ..Message::default()
    }
}

fn snapshot_message(from: u64, to: u64, size: usize) -> Message {
    let data: Vec<u8> = (0..size)
        .map(|i| (i % 253) as u8 ^ (i >> 16) as u8)
        .collect();
    Message {
        msg_type: MessageType::Snapshot,
        to,
        from,
        term: 4,
        snapshot: Some(Snapshot {
            data: Bytes::from(data),
            metadata: SnapshotMetadata {
                conf_state: ConfState {
                    voters: vec![1, 2, 3],
                    learners: vec![],
                },
                index: 900,
                term: 4,
            },
        }),
        ..Message::default()
    }
}

/// The next `n` raft messages delivered to `inbox`, skipping reports.
async fn messages(inbox: &mut mpsc::UnboundedReceiver<Inbound>, n: usize) -> Vec<Message> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        match timeout(PATIENCE, inbox.recv()).await {
            Ok(Some(Inbound::Message(m))) => got.push(m),
            Ok(Some(_)) => {}
            Ok(None) => panic!("inbox closed after {} messages", got.len()),
            Err(_) => panic!("only {} of {n} messages arrived", got.len()),
        }
    }
    got
}

/// Waits for the first delivery that `want` accepts.
async fn delivered(
    inbox: &mut mpsc::UnboundedReceiver<Inbound>,
    what: &str,
    want: impl Fn(&Inbound) -> bool,
) -> Inbound {
    timeout(PATIENCE, async {
        loop {
            let i = inbox.recv().await.expect("inbox open");
            if want(&i) {
                return i;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never delivered: {what}"))
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    timeout(PATIENCE, async {
        while !cond() {
            sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

fn nothing_delivered(inbox: &mut mpsc::UnboundedReceiver<Inbound>) -> Vec<Inbound> {
    let mut got = Vec::new();
    while let Ok(i) = inbox.try_recv() {
        got.push(i);
    }
    got
}

async fn client(url: &str) -> PeerClient<tonic::transport::Channel> {
    PeerClient::connect(url.to_string()).await.unwrap()
}

fn batch(cluster: u64, from: u64, to: u64, messages: Vec<pb::Message>) -> pb::MessageBatch {
    pb::MessageBatch {
        cluster_id: cluster,
        from_member_id: from,
        to_member_id: to,
        messages,
    }
}

async fn send_batches(url: &str, batches: Vec<pb::MessageBatch>) -> Result<u64, tonic::Status> {
    client(url)
        .await
        .send_messages(tokio_stream::iter(batches))
        .await
        .map(|r| r.into_inner().received)
}

fn peer_stats(t: &Transport, id: u64) -> cairn::peer::transport::PeerStats {
    t.stats()
        .peers
        .into_iter()
        .find(|p| p.id == id)
        .expect("peer known")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_exchange_messages_in_order() {
    let mut a = member(7, 1).await;
    let mut b = member(7, 2).await;
    mesh(&[&a, &b]);

    for i in 0..200 {
        a.transport.send(vec![append(1, 2, i, 16)]);
        b.transport.send(vec![append(2, 1, i, 16)]);
    }
    let at_b = messages(&mut b.inbox, 200).await;
    let at_a = messages(&mut a.inbox, 200).await;
    assert_eq!(
        at_b,
        (0..200).map(|i| append(1, 2, i, 16)).collect::<Vec<_>>()
    );
    assert_eq!(
        at_a,
        (0..200).map(|i| append(2, 1, i, 16)).collect::<Vec<_>>()
    );

    assert_eq!(a.transport.stats().messages_received, 200);
    wait_until("a counted what it sent", || {
        peer_stats(&a.transport, 2).messages_sent == 200
    })
    .await;
    let to_b = peer_stats(&a.transport, 2);
    assert_eq!(to_b.messages_dropped, 0);
    assert!(to_b.active);
    assert_eq!(to_b.url.as_deref(), Some(b.url.as_str()));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_each_hear_every_other_in_order() {
    let mut ms = vec![member(7, 1).await, member(7, 2).await, member(7, 3).await];
    mesh(&ms.iter().collect::<Vec<_>>());

    for i in 0..100 {
        for from in 1..=3u64 {
            let msgs = (1..=3u64)
                .filter(|&to| to != from)
                .map(|to| append(from, to, i, 8))
                .collect();
            ms[from as usize - 1].transport.send(msgs);
        }
    }
    for m in &mut ms {
        let got = messages(&mut m.inbox, 200).await;
        let mut by_sender: HashMap<u64, Vec<u64>> = HashMap::new();
        for msg in got {
            assert_eq!(msg.to, m.id);
            by_sender.entry(msg.from).or_default().push(msg.index);
        }
        assert_eq!(by_sender.len(), 2, "member {} hears both others", m.id);
        for (from, indexes) in by_sender {
            assert_eq!(
                indexes,
                (0..100).collect::<Vec<_>>(),
                "order from {from} at {}",
                m.id
            );
        }
    }
    for m in ms {
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_burst_and_an_oversized_message_arrive_whole() {
    let a = member(7, 1).await;
    let mut b = member(7, 2).await;
    mesh(&[&a, &b]);

    // 3000 messages of 4 KiB: a dozen megabytes, many batches of at most
    // about 1 MiB each.
    let burst: Vec<Message> = (0..3000).map(|i| append(1, 2, i, 4096)).collect();
    a.transport.send(burst.clone());
    assert_eq!(messages(&mut b.inbox, 3000).await, burst);

    // One message above gRPC's default 4 MiB decoding limit.
    let big = append(1, 2, 5000, 5 * 1024 * 1024);
    a.transport.send(vec![big.clone()]);
    assert_eq!(messages(&mut b.inbox, 1).await, vec![big]);

    wait_until("a counted what it sent", || {
        peer_stats(&a.transport, 2).messages_sent == 3001
    })
    .await;
    let to_b = peer_stats(&a.transport, 2);
    assert!(to_b.bytes_sent > 16 * 1024 * 1024);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_is_down_is_reported_and_reached_once_it_is_up() {
    let mut a = member(7, 1).await;
    let addr = free_addr().await;
    a.transport.add_peer(2, vec![format!("http://{addr}")]);

    a.transport.send(vec![append(1, 2, 0, 8)]);
    delivered(&mut a.inbox, "Unreachable(2) while 2 is down", |i| {
        *i == Inbound::Unreachable(2)
    })
    .await;
    wait_until("messages to the down peer are dropped", || {
        peer_stats(&a.transport, 2).messages_dropped >= 1
    })
    .await;
    assert!(!peer_stats(&a.transport, 2).active);

    let mut b = serve(
        7,
        2,
        TransportOptions::default(),
        TcpListener::bind(addr).await.unwrap(),
    );
    // Keep sending, as raft would, until messages get through.
    let mut next = 1u64;
    let first = timeout(PATIENCE, async {
        loop {
            a.transport.send(vec![append(1, 2, next, 8)]);
            next += 1;
            if let Ok(Inbound::Message(m)) = timeout(Duration::from_millis(50), b.inbox.recv())
                .await
                .map(|i| i.expect("inbox open"))
            {
                return m.index;
            }
        }
    })
    .await
    .expect("messages reach the peer once it is up");
    assert!(
        first >= 1,
        "the message sent while down was dropped, not kept"
    );
    // From here on nothing is lost and the order holds.
    let sent_before = next;
    for i in sent_before..sent_before + 50 {
        a.transport.send(vec![append(1, 2, i, 8)]);
    }
    let rest: Vec<u64> = messages(&mut b.inbox, (sent_before + 50 - first - 1) as usize)
        .await
        .into_iter()
        .map(|m| m.index)
        .collect();
    assert_eq!(rest, (first + 1..sent_before + 50).collect::<Vec<_>>());
    assert!(peer_stats(&a.transport, 2).active);

    // Down again (the transport ends its streams, the server stops), then a
    // restarted member 2 at the same address.
    nothing_delivered(&mut a.inbox);
    b.stop().await;
    wait_until("the stream to the stopped peer is gone", || {
        !peer_stats(&a.transport, 2).active
    })
    .await;
    a.transport.send(vec![append(1, 2, 10_000, 8)]);
    delivered(&mut a.inbox, "Unreachable(2) after 2 stopped", |i| {
        *i == Inbound::Unreachable(2)
    })
    .await;
    let mut b2 = serve(
        7,
        2,
        TransportOptions::default(),
        TcpListener::bind(addr).await.unwrap(),
    );
    timeout(PATIENCE, async {
        loop {
            a.transport.send(vec![append(1, 2, 20_000, 8)]);
            if let Ok(Some(Inbound::Message(m))) =
                timeout(Duration::from_millis(50), b2.inbox.recv()).await
            {
                assert_eq!(m.index, 20_000);
                return;
            }
        }
    })
    .await
    .expect("messages reach the restarted peer");
    a.stop().await;
    b2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_peer_moves_the_stream_to_the_new_url() {
    let mut a = member(7, 1).await;
    let mut b = member(7, 2).await;
    let nowhere = format!("http://{}", free_addr().await);
    a.transport.add_peer(2, vec![nowhere]);
    a.transport.send(vec![append(1, 2, 0, 8)]);
    delivered(&mut a.inbox, "Unreachable(2) at the old url", |i| {
        *i == Inbound::Unreachable(2)
    })
    .await;

    a.transport.update_peer(2, vec![b.url.clone()]);
    wait_until("a stream to the new url", || {
        peer_stats(&a.transport, 2).active
    })
    .await;
    a.transport.send(vec![append(1, 2, 1, 8)]);
    assert_eq!(messages(&mut b.inbox, 1).await, vec![append(1, 2, 1, 8)]);

    // A list holding a dead url first and the live one second still works.
    let dead = format!("http://{}", free_addr().await);
    a.transport.update_peer(2, vec![dead, b.url.clone()]);
    a.transport.send(vec![append(1, 2, 2, 8)]);
    assert_eq!(messages(&mut b.inbox, 1).await, vec![append(1, 2, 2, 8)]);

    a.transport.remove_peer(2);
    assert!(a.transport.peer_ids().is_empty());
    a.transport.send(vec![append(1, 2, 3, 8)]);
    delivered(&mut a.inbox, "Unreachable(2) once removed", |i| {
        *i == Inbound::Unreachable(2)
    })
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_from_another_cluster_is_refused() {
    let mut a = member(7, 1).await;
    let mut b = member(8, 2).await;
    a.transport.add_peer(2, vec![b.url.clone()]);
    a.transport.send(vec![append(1, 2, 0, 8)]);

    // The sender learns it from Identify, says so, and backs off.
    wait_until("the sender records the cluster mismatch", || {
        peer_stats(&a.transport, 2).last_error.is_some_and(|e| {
            e.contains("cluster id mismatch") && e.contains("cluster 8") && e.contains("cluster 7")
        })
    })
    .await;
    delivered(&mut a.inbox, "Unreachable(2)", |i| {
        *i == Inbound::Unreachable(2)
    })
    .await;
    assert!(!peer_stats(&a.transport, 2).active);

    // A batch stamped with another cluster's id is refused by the receiver.
    let wire = convert::message_to_wire(&append(1, 2, 1, 8));
    let refused = send_batches(&b.url, vec![batch(7, 1, 2, vec![wire])])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused.message().contains("cluster 7"),
        "{}",
        refused.message()
    );
    assert!(
        refused.message().contains("cluster 8"),
        "{}",
        refused.message()
    );

    assert_eq!(nothing_delivered(&mut b.inbox), vec![]);
    assert_eq!(b.transport.stats().messages_received, 0);
    assert!(b.transport.stats().refused >= 1);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_for_another_member_is_refused() {
    let mut a = member(7, 1).await;
    let mut b = member(7, 2).await;
    // a believes member 3 lives where member 2 answers.
    a.transport.add_peer(3, vec![b.url.clone()]);
    a.transport.send(vec![append(1, 3, 0, 8)]);
    wait_until("the sender records who answered", || {
        peer_stats(&a.transport, 3)
            .last_error
            .is_some_and(|e| e.contains("member 2 answers") && e.contains("expected member 3"))
    })
    .await;
    delivered(&mut a.inbox, "Unreachable(3)", |i| {
        *i == Inbound::Unreachable(3)
    })
    .await;

    let wire = convert::message_to_wire(&append(1, 9, 1, 8));
    let refused = send_batches(&b.url, vec![batch(7, 1, 9, vec![wire])])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::NotFound);

    assert_eq!(nothing_delivered(&mut b.inbox), vec![]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_an_undecodable_or_misaddressed_message_is_refused_whole() {
    let mut b = member(7, 2).await;
    let good = convert::message_to_wire(&append(1, 2, 0, 8));

    let unknown_type = pb::Message {
        msg_type: 99,
        to: 2,
        from: 1,
        ..pb::Message::default()
    };
    let refused = send_batches(
        &b.url,
        vec![batch(7, 1, 2, vec![good.clone(), unknown_type])],
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    let local_only = convert::message_to_wire(&Message {
        msg_type: MessageType::Hup,
        to: 2,
        from: 1,
        ..Message::default()
    });
    let refused = send_batches(&b.url, vec![batch(7, 1, 2, vec![good.clone(), local_only])])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    let other_recipient = convert::message_to_wire(&append(1, 3, 0, 8));
    let refused = send_batches(
        &b.url,
        vec![batch(7, 1, 2, vec![good.clone(), other_recipient])],
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(nothing_delivered(&mut b.inbox), vec![]);

    // The same stream shape with only good messages is accepted.
    let accepted = send_batches(
        &b.url,
        vec![
            batch(7, 1, 2, vec![good.clone()]),
            batch(7, 1, 2, vec![good]),
        ],
    )
    .await
    .unwrap();
    assert_eq!(accepted, 2);
    assert_eq!(messages(&mut b.inbox, 2).await.len(), 2);
    assert_eq!(b.transport.stats().refused, 3);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_several_mib_arrives_intact() {
    let mut a = member(7, 1).await;
    let mut b = member(7, 2).await;
    mesh(&[&a, &b]);

    let snap = snapshot_message(1, 2, 5 * 1024 * 1024 + 123);
    // Ordinary traffic keeps flowing alongside.
    a.transport
        .send(vec![append(1, 2, 0, 8), snap.clone(), append(1, 2, 1, 8)]);

    let got = messages(&mut b.inbox, 3).await;
    assert!(got.contains(&snap), "the snapshot arrived byte for byte");
    let indexes: Vec<u64> = got
        .iter()
        .filter(|m| m.msg_type == MessageType::Append)
        .map(|m| m.index)
        .collect();
    assert_eq!(indexes, vec![0, 1]);
    assert_eq!(
        delivered(&mut a.inbox, "SnapshotStatus", |i| matches!(
            i,
            Inbound::SnapshotStatus { .. }
        ))
        .await,
        Inbound::SnapshotStatus {
            to: 2,
            failed: false
        }
    );
    assert_eq!(peer_stats(&a.transport, 2).snapshots_sent, 1);
    assert_eq!(b.transport.stats().snapshots_received, 1);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_to_an_unreachable_peer_fails() {
    let mut a = member(7, 1).await;
    a.transport
        .add_peer(2, vec![format!("http://{}", free_addr().await)]);
    a.transport.send(vec![snapshot_message(1, 2, 1000)]);
    assert_eq!(
        delivered(&mut a.inbox, "SnapshotStatus", |i| matches!(
            i,
            Inbound::SnapshotStatus { .. }
        ))
        .await,
        Inbound::SnapshotStatus {
            to: 2,
            failed: true
        }
    );
    assert_eq!(peer_stats(&a.transport, 2).snapshots_failed, 1);
    a.stop().await;
}

/// The items of a snapshot transfer, built by hand so they can be damaged.
fn snapshot_items(
    msg: &Message,
    total_size: u64,
    data: &[u8],
    sha256: Vec<u8>,
) -> Vec<pb::SnapshotChunk> {
    let mut header_msg = msg.clone();
    header_msg.snapshot.as_mut().unwrap().data = Bytes::new();
    let item = |c| pb::SnapshotChunk { chunk: Some(c) };
    let mut items = vec![item(Chunk::Header(pb::SnapshotHeader {
        cluster_id: 7,
        from_member_id: 1,
        to_member_id: 2,
        message: Some(convert::message_to_wire(&header_msg)),
        total_size,
    }))];
    items.extend(
        data.chunks(64 * 1024)
            .map(|c| item(Chunk::Data(c.to_vec()))),
    );
    items.push(item(Chunk::Trailer(pb::SnapshotTrailer { sha256 })));
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_snapshot_is_refused() {
    let mut b = member(7, 2).await;
    let msg = snapshot_message(1, 2, 300_000);
    let data = msg.snapshot.as_ref().unwrap().data.to_vec();
    let digest = Sha256::digest(&data).to_vec();
    let send = |items: Vec<pb::SnapshotChunk>| {
        let url = b.url.clone();
        async move {
            client(&url)
                .await
                .send_snapshot(tokio_stream::iter(items))
                .await
        }
    };

    // One flipped byte.
    let mut flipped = data.clone();
    flipped[150_000] ^= 0x40;
    let refused = send(snapshot_items(
        &msg,
        data.len() as u64,
        &flipped,
        digest.clone(),
    ))
    .await
    .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::DataLoss);

    // Fewer bytes than announced, digest of what was sent.
    let short = &data[..data.len() - 10];
    let refused = send(snapshot_items(
        &msg,
        data.len() as u64,
        short,
        Sha256::digest(short).to_vec(),
    ))
    .await
    .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::DataLoss);

    // More bytes than announced.
    let refused = send(snapshot_items(&msg, 1000, &data, digest.clone()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::DataLoss);

    // Data before any header.
    let mut headless = snapshot_items(&msg, data.len() as u64, &data, digest.clone());
    headless.remove(0);
    let refused = send(headless).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    // No trailer.
    let mut tailless = snapshot_items(&msg, data.len() as u64, &data, digest.clone());
    tailless.pop();
    let refused = send(tailless).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    assert_eq!(nothing_delivered(&mut b.inbox), vec![]);
    assert_eq!(b.transport.stats().snapshots_received, 0);

    // The same hand-built transfer, undamaged, is accepted.
    let answer = send(snapshot_items(&msg, data.len() as u64, &data, digest))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.received_bytes, data.len() as u64);
    assert_eq!(messages(&mut b.inbox, 1).await, vec![msg]);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_works_from_a_plain_thread() {
    let a = member(7, 1).await;
    let mut b = member(7, 2).await;
    mesh(&[&a, &b]);

    let t = Arc::clone(&a.transport);
    let raft_thread = std::thread::spawn(move || {
        assert!(
            tokio::runtime::Handle::try_current().is_err(),
            "not a tokio thread"
        );
        for i in 0..100 {
            t.send(vec![append(1, 2, i, 32)]);
        }
        t.send(vec![snapshot_message(1, 2, 10_000)]);
    });
    let got = messages(&mut b.inbox, 101).await;
    let indexes: Vec<u64> = got
        .iter()
        .filter(|m| m.msg_type == MessageType::Append)
        .map(|m| m.index)
        .collect();
    assert_eq!(indexes, (0..100).collect::<Vec<_>>());
    assert!(got.iter().any(|m| m.msg_type == MessageType::Snapshot));
    tokio::task::spawn_blocking(move || raft_thread.join())
        .await
        .unwrap()
        .expect("the sending thread did not panic");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_and_reports_instead_of_blocking() {
    // A socket that accepts TCP connections (the kernel does) but never
    // speaks HTTP/2: the sender stays stuck connecting while raft goes on.
    let silent = listener().await;
    let options = TransportOptions {
        queue_capacity: 8,
        connect_timeout: Duration::from_secs(120),
        ..TransportOptions::default()
    };
    let (a, mut inbox) = transport(7, 1, options);
    a.add_peer(2, vec![format!("http://{}", silent.local_addr().unwrap())]);

    let t = Arc::clone(&a);
    let raft_thread = std::thread::spawn(move || {
        for i in 0..1000 {
            t.send(vec![append(1, 2, i, 8)]);
        }
    });
    timeout(
        PATIENCE,
        tokio::task::spawn_blocking(move || raft_thread.join()),
    )
    .await
    .expect("send returns although nothing drains the queue")
    .unwrap()
    .unwrap();

    let stats = peer_stats(&a, 2);
    assert!(
        stats.messages_dropped >= 1000 - 8,
        "dropped {}",
        stats.messages_dropped
    );
    assert_eq!(stats.messages_sent, 0);
    assert_eq!(
        delivered(&mut inbox, "Unreachable(2)", |_| true).await,
        Inbound::Unreachable(2)
    );
    // Reported once per outage, not once per dropped message.
    assert_eq!(nothing_delivered(&mut inbox), vec![]);
    a.shutdown();
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shutdown_nothing_is_sent_or_delivered() {
    let mut a = member(7, 1).await;
    let mut b = member(7, 2).await;
    mesh(&[&a, &b]);
    a.transport.send(vec![append(1, 2, 0, 8)]);
    messages(&mut b.inbox, 1).await;

    a.transport.shutdown();
    assert!(a.transport.peer_ids().is_empty());
    a.transport.send(vec![append(1, 2, 1, 8)]);
    // a's service ends b's stream to it, and b sees a as unreachable.
    b.transport.send(vec![append(2, 1, 0, 8)]);
    wait_until("b's stream to a is gone", || {
        !peer_stats(&b.transport, 1).active && peer_stats(&b.transport, 1).connect_failures >= 1
    })
    .await;
    assert_eq!(nothing_delivered(&mut a.inbox), vec![]);
    assert_eq!(a.transport.stats().messages_received, 0);
    a.stop().await;
    b.stop().await;
}
