//! The Watch gRPC service end to end: a real tonic server on 127.0.0.1, a
//! real store, writes applied by the test the way the apply loop does
//! (store write lock, release, then `hub.notify`), and clients reading
//! their streams as etcd's clients do.

use cairn::mvcc::key_index::KeyRange;
use cairn::mvcc::{EntryId, MvccStore, SledBackend, SledOptions, StoreConfig};
use cairn::watch::{HeaderSource, WatchConfig, WatchHub, WatchService};
use cairn_proto::etcdserverpb::watch_client::WatchClient;
use cairn_proto::etcdserverpb::watch_request::RequestUnion;
use cairn_proto::etcdserverpb::watch_server::WatchServer;
use cairn_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RequestOp, ResponseHeader, TxnRequest, WatchCancelRequest,
    WatchCreateRequest, WatchProgressRequest, WatchRequest, WatchResponse, request_op,
};
use cairn_proto::mvccpb::event::EventType;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::Streaming;

/// Generous: the machine is shared and slow.
const PATIENCE: Duration = Duration::from_secs(60);

struct Node {
    store: Arc<RwLock<MvccStore>>,
    hub: Arc<WatchHub>,
    index: AtomicU64,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Node {
    async fn start(cfg: WatchConfig) -> Arc<Node> {
        let dir = tempfile::tempdir().unwrap();
        let backend = SledBackend::open(dir.path(), &SledOptions::default()).unwrap();
        let store = MvccStore::open(Box::new(backend), StoreConfig::default()).unwrap();
        let store = Arc::new(RwLock::new(store));
        let hub = WatchHub::new(store.clone(), cfg);
        let s = store.clone();
        let header: HeaderSource = Arc::new(move || ResponseHeader {
            cluster_id: 7,
            member_id: 9,
            raft_term: 3,
            revision: s.read().unwrap().current_revision(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let svc = WatchServer::new(WatchService::open(hub.clone(), header));
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        Arc::new(Node {
            store,
            hub,
            index: AtomicU64::new(0),
            addr,
            _dir: dir,
        })
    }

    fn next_entry(&self) -> EntryId {
        EntryId {
            index: self.index.fetch_add(1, Ordering::SeqCst) + 1,
            term: 1,
        }
    }

    /// Applies a put as the apply loop does: under the write lock, then
    /// announces it after releasing the lock. Callers serialise writes.
    fn put(&self, k: &str, v: &[u8]) -> i64 {
        let req = PutRequest {
            key: k.into(),
            value: v.to_vec(),
            ..Default::default()
        };
        let at = self.next_entry();
        let applied = self.store.write().unwrap().put(&req, at, None).unwrap();
        self.hub.notify(&applied.events);
        applied.response.header.unwrap().revision
    }

    fn delete(&self, k: &str) {
        let req = DeleteRangeRequest {
            key: k.into(),
            ..Default::default()
        };
        let at = self.next_entry();
        let applied = self.store.write().unwrap().delete_range(&req, at).unwrap();
        self.hub.notify(&applied.events);
    }

    fn txn_puts(&self, kvs: &[(String, Vec<u8>)]) {
        let ops = kvs
            .iter()
            .map(|(k, v)| RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key: k.clone().into_bytes(),
                    value: v.clone(),
                    ..Default::default()
                })),
            })
            .collect();
        let req = TxnRequest {
            success: ops,
            ..Default::default()
        };
        let at = self.next_entry();
        let applied = self.store.write().unwrap().txn(&req, at, None).unwrap();
        self.hub.notify(&applied.events);
    }

    fn compact(&self, rev: i64) {
        let at = self.next_entry();
        self.store.write().unwrap().compact(rev, at).unwrap();
    }

    /// (revision, key, is-put) of every event in `range` from `from` on.
    fn history(&self, range: KeyRange, from: i64) -> Vec<(i64, Vec<u8>, bool)> {
        let h = self
            .store
            .read()
            .unwrap()
            .history(&range, from, i64::MAX, usize::MAX, false)
            .unwrap();
        h.events.iter().map(summary).collect()
    }

    async fn client(&self) -> Client {
        let mut wc = WatchClient::connect(self.addr.clone()).await.unwrap();
        let (tx, rx) = mpsc::channel(64);
        let inbound = wc
            .watch(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        Client { tx, inbound }
    }
}

fn summary(e: &cairn_proto::mvccpb::Event) -> (i64, Vec<u8>, bool) {
    let kv = e.kv.as_ref().unwrap();
    (
        kv.mod_revision,
        kv.key.clone(),
        e.r#type == EventType::Put as i32,
    )
}

struct Client {
    tx: mpsc::Sender<WatchRequest>,
    inbound: Streaming<WatchResponse>,
}

impl Client {
    async fn send(&self, r: RequestUnion) {
        self.tx
            .send(WatchRequest {
                request_union: Some(r),
            })
            .await
            .unwrap();
    }

    async fn create(&self, c: WatchCreateRequest) {
        self.send(RequestUnion::CreateRequest(c)).await;
    }

    async fn next(&mut self) -> WatchResponse {
        tokio::time::timeout(PATIENCE, self.inbound.message())
            .await
            .expect("a response in time")
            .unwrap()
            .expect("stream open")
    }

    /// Reads responses until `n` events of `watch_id` arrived; returns them
    /// and checks nothing else arrived for it meanwhile but events.
    async fn events(&mut self, watch_id: i64, n: usize) -> Vec<(i64, Vec<u8>, bool)> {
        let mut got = Vec::new();
        while got.len() < n {
            let r = self.next().await;
            if r.watch_id != watch_id {
                continue;
            }
            assert!(!r.canceled && !r.created, "unexpected {r:?}");
            got.extend(r.events.iter().map(summary));
        }
        got
    }
}

fn watch(key: &str, end: &str, start: i64) -> WatchCreateRequest {
    WatchCreateRequest {
        key: key.into(),
        range_end: end.into(),
        start_revision: start,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_every_watcher_exactly_once_in_order_under_concurrent_writes() {
    // A small buffer so streams overflow and watchers go through the
    // victim and catch-up paths while writes continue.
    let node = Node::start(WatchConfig {
        stream_buffer: 4,
        catchup_chunk: 16,
        recent_revisions: 8,
        ..WatchConfig::default()
    })
    .await;
    for i in 0..20 {
        node.put(&format!("a/{}", i % 5), b"seed");
    }
    // Watchers per stream: a prefix from history, one key live, everything
    // from an old revision, and a prefix from a future revision.
    let specs: Vec<(&str, &str, i64)> = vec![
        ("a/", "a0", 3),
        ("a/1", "", 22),
        ("", "\0", 1),
        ("b/", "b0", 60),
    ];
    let mut clients = Vec::new();
    for _ in 0..4 {
        let c = node.client().await;
        for (k, e, s) in &specs {
            c.create(watch(k, e, *s)).await;
        }
        clients.push(c);
    }
    let writer = {
        let node = node.clone();
        std::thread::spawn(move || {
            for i in 0..300 {
                let v = format!("{i}");
                match i % 7 {
                    3 => node.delete(&format!("a/{}", i % 5)),
                    5 => _ = node.put(&format!("b/{}", i % 3), v.as_bytes()),
                    _ => _ = node.put(&format!("a/{}", i % 5), v.as_bytes()),
                }
            }
        })
    };
    writer.join().unwrap();
    let ranges = [
        KeyRange::Span(b"a/".to_vec(), b"a0".to_vec()),
        KeyRange::Single(b"a/1".to_vec()),
        KeyRange::From(vec![0]),
        KeyRange::Span(b"b/".to_vec(), b"b0".to_vec()),
    ];
    let want: Vec<_> = ranges
        .iter()
        .zip(&specs)
        .map(|(r, s)| node.history(r.clone(), s.2))
        .collect();
    let mut tasks = Vec::new();
    for mut c in clients {
        let want = want.clone();
        tasks.push(tokio::spawn(async move {
            // Responses of different watchers interleave; sort them out.
            // Each watcher's created response comes before its events.
            let mut got: Vec<Vec<(i64, Vec<u8>, bool)>> = vec![Vec::new(); 4];
            let mut created = Vec::new();
            while created.len() < 4 || got.iter().zip(&want).any(|(g, w)| g.len() < w.len()) {
                let r = c.next().await;
                assert!(!r.canceled, "{r:?}");
                if r.created {
                    created.push(r.watch_id);
                    continue;
                }
                assert!(created.contains(&r.watch_id), "events before created");
                let id = r.watch_id as usize;
                if let Some(first) = r.events.first() {
                    let rev = first.kv.as_ref().unwrap().mod_revision;
                    assert!(rev <= r.header.unwrap().revision);
                }
                got[id].extend(r.events.iter().map(summary));
            }
            assert_eq!(created, vec![0, 1, 2, 3]);
            assert_eq!(got, want);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_holds_up_no_one_and_later_gets_everything_in_order() {
    let node = Node::start(WatchConfig {
        stream_buffer: 8,
        ..WatchConfig::default()
    })
    .await;
    let mut slow = node.client().await;
    let mut fast = node.client().await;
    slow.create(watch("k", "", 0)).await;
    fast.create(watch("k", "", 0)).await;
    assert!(slow.next().await.created);
    assert!(fast.next().await.created);
    // 4 MiB of events: far more than HTTP/2's windows and our buffers.
    let value = vec![b'v'; 16 * 1024];
    let writes = 256;
    let writer = {
        let node = node.clone();
        let value = value.clone();
        std::thread::spawn(move || {
            (0..writes)
                .map(|_| node.put("k", &value))
                .collect::<Vec<_>>()
        })
    };
    // The fast client gets everything while the slow one reads nothing:
    // notify never waited on the slow stream.
    let fast_got = fast.events(0, writes).await;
    let revs = writer.join().unwrap();
    assert_eq!(fast_got.iter().map(|e| e.0).collect::<Vec<_>>(), revs);
    let slow_got = slow.events(0, writes).await;
    assert_eq!(slow_got.iter().map(|e| e.0).collect::<Vec<_>>(), revs);
}

#[tokio::test]
async fn a_compacted_start_is_created_then_canceled_like_etcd() {
    let node = Node::start(WatchConfig::default()).await;
    for i in 0..6 {
        node.put(&format!("k{i}"), b"v");
    }
    node.compact(4);
    let mut c = node.client().await;
    c.create(watch("k", "\0", 2)).await;
    let created = c.next().await;
    assert!(created.created && !created.canceled);
    assert_eq!(created.header.unwrap().revision, 7);
    let r = c.next().await;
    assert_eq!(
        (r.watch_id, r.canceled, r.compact_revision, r.created),
        (0, true, 4, false)
    );
    // etcd reports revision 0 in this header.
    let h = r.header.unwrap();
    assert_eq!(
        (h.revision, h.cluster_id, h.member_id, h.raft_term),
        (0, 7, 9, 3)
    );
    assert!(r.events.is_empty());
}

/// etcd issue 18089: a watch starting at the compaction revision gets the
/// delete made at that revision, then what followed.
#[tokio::test]
async fn a_watch_from_the_compaction_revision_gets_its_delete() {
    let node = Node::start(WatchConfig::default()).await;
    for v in [b"2", b"3", b"4"] {
        node.put("k", v);
    }
    node.delete("k"); // revision 5
    node.put("k", b"6");
    node.compact(5);
    let mut c = node.client().await;
    c.create(watch("k", "", 5)).await;
    let created = c.next().await;
    assert!(created.created && !created.canceled, "{created:?}");
    assert_eq!(
        c.events(0, 2).await,
        vec![(5, b"k".to_vec(), false), (6, b"k".to_vec(), true)]
    );
}

#[tokio::test]
async fn options_prev_kv_filters_cancel_and_ids() {
    let node = Node::start(WatchConfig::default()).await;
    node.put("k", b"1");
    let mut c = node.client().await;
    c.create(WatchCreateRequest {
        key: "k".into(),
        prev_kv: true,
        filters: vec![1], // NODELETE
        watch_id: 5,
        ..Default::default()
    })
    .await;
    c.create(WatchCreateRequest {
        key: "k".into(),
        filters: vec![0], // NOPUT
        watch_id: 5,
        ..Default::default()
    })
    .await;
    let r = c.next().await;
    assert_eq!((r.watch_id, r.created, r.canceled), (5, true, false));
    let r = c.next().await;
    assert_eq!((r.watch_id, r.created, r.canceled), (-1, true, true));
    assert_eq!(
        r.cancel_reason,
        "mvcc: duplicate watch ID provided on the WatchStream"
    );
    c.create(watch("k", "", 0)).await; // auto id 0
    assert_eq!(c.next().await.watch_id, 0);
    node.put("k", b"2");
    node.delete("k");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let r = c.next().await;
        for e in &r.events {
            let prev = e.prev_kv.as_ref().map(|p| p.value.clone());
            seen.push((r.watch_id, e.r#type, prev));
        }
    }
    let put = EventType::Put as i32;
    let del = EventType::Delete as i32;
    assert!(seen.contains(&(5, put, Some(b"1".to_vec()))));
    assert!(seen.contains(&(0, put, None)));
    assert!(seen.contains(&(0, del, None)));
    assert!(!seen.iter().any(|s| s.0 == 5 && s.1 == del));
    c.send(RequestUnion::CancelRequest(WatchCancelRequest {
        watch_id: 5,
    }))
    .await;
    let r = c.next().await;
    assert_eq!((r.watch_id, r.canceled, r.created), (5, true, false));
    node.put("k", b"3");
    let r = c.next().await;
    assert_eq!(r.watch_id, 0, "the cancelled watcher is silent");
}

#[tokio::test]
async fn progress_request_and_progress_notify() {
    let node = Node::start(WatchConfig {
        progress_notify_interval: Duration::from_millis(100),
        ..WatchConfig::default()
    })
    .await;
    node.put("k", b"1");
    let mut c = node.client().await;
    c.send(RequestUnion::ProgressRequest(WatchProgressRequest {}))
        .await;
    let r = c.next().await;
    assert_eq!((r.watch_id, r.header.unwrap().revision), (-1, 2));
    c.create(WatchCreateRequest {
        key: "k".into(),
        progress_notify: true,
        ..Default::default()
    })
    .await;
    assert!(c.next().await.created);
    // A progress notification names the watcher and carries no events.
    let r = c.next().await;
    assert_eq!(
        (r.watch_id, r.events.len(), r.header.unwrap().revision),
        (0, 0, 2)
    );
    node.put("other", b"x");
    loop {
        let r = c.next().await;
        if r.header.unwrap().revision == 3 {
            assert_eq!((r.watch_id, r.events.len()), (0, 0));
            break;
        }
    }
}

#[tokio::test]
async fn large_responses_come_in_fragments_only_when_asked() {
    let node = Node::start(WatchConfig {
        fragment_bytes: 4096,
        ..WatchConfig::default()
    })
    .await;
    let mut c = node.client().await;
    c.create(WatchCreateRequest {
        key: "f/".into(),
        range_end: "f0".into(),
        fragment: true,
        ..Default::default()
    })
    .await;
    c.create(watch("f/", "f0", 0)).await;
    assert!(c.next().await.created);
    assert!(c.next().await.created);
    let kvs: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| (format!("f/{i}"), vec![b'x'; 1000]))
        .collect();
    node.txn_puts(&kvs);
    let (mut frags, mut whole) = (Vec::new(), Vec::new());
    while frags.last().is_none_or(|r: &WatchResponse| r.fragment) || whole.is_empty() {
        let r = c.next().await;
        if r.watch_id == 0 {
            frags.push(r);
        } else {
            whole.push(r);
        }
    }
    assert!(frags.len() > 1);
    assert!(frags.iter().all(|f| !f.events.is_empty()));
    assert_eq!(frags.iter().map(|f| f.events.len()).sum::<usize>(), 10);
    assert_eq!(
        (whole.len(), whole[0].events.len(), whole[0].fragment),
        (1, 10, false)
    );
}
