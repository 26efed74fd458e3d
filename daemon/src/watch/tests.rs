//! The hub's state machine, driven by hand: writes applied to a real store,
//! `notify` called by the test, background rounds run with `sync_once`.

use super::WatchConfig;
use super::hub::{DUPLICATE_ID, EMPTY_RANGE, Outgoing, Pending, WatchHub, WatchStream};
use super::service::fragment;
use crate::mvcc::{EntryId, MemBackend, MvccStore, StoreConfig};
use cairn_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, WatchCreateRequest, WatchResponse,
    watch_create_request::FilterType,
};
use cairn_proto::mvccpb::{Event, KeyValue, event::EventType};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

struct Rig {
    store: Arc<RwLock<MvccStore>>,
    hub: Arc<WatchHub>,
    index: u64,
}

impl Rig {
    fn new(cfg: WatchConfig) -> Rig {
        let store = MvccStore::open(Box::new(MemBackend::new()), StoreConfig::default()).unwrap();
        let store = Arc::new(RwLock::new(store));
        let hub = WatchHub::without_thread(store.clone(), cfg);
        Rig {
            store,
            hub,
            index: 0,
        }
    }

    /// Applies a put without announcing it.
    fn put_quietly(&mut self, k: &str, v: &str) -> Vec<Event> {
        self.index += 1;
        let req = PutRequest {
            key: k.into(),
            value: v.into(),
            ..Default::default()
        };
        let at = EntryId {
            index: self.index,
            term: 1,
        };
        self.store
            .write()
            .unwrap()
            .put(&req, at, None)
            .unwrap()
            .events
    }

    fn put(&mut self, k: &str, v: &str) {
        let evs = self.put_quietly(k, v);
        self.hub.notify(&evs);
    }

    fn delete(&mut self, k: &str) {
        self.delete_range(k, "");
    }

    fn delete_range(&mut self, k: &str, end: &str) {
        self.index += 1;
        let req = DeleteRangeRequest {
            key: k.into(),
            range_end: end.into(),
            ..Default::default()
        };
        let at = EntryId {
            index: self.index,
            term: 1,
        };
        let evs = self
            .store
            .write()
            .unwrap()
            .delete_range(&req, at)
            .unwrap()
            .events;
        self.hub.notify(&evs);
    }

    /// Runs background rounds until there is nothing left but waiting.
    fn settle(&self) {
        for _ in 0..1000 {
            if self.hub.sync_once() != Pending::CatchUp {
                return;
            }
        }
        panic!("catch-up never finished");
    }
}

fn create(key: &str, start: i64) -> WatchCreateRequest {
    WatchCreateRequest {
        key: key.into(),
        start_revision: start,
        ..Default::default()
    }
}

fn drain(rx: &mut mpsc::Receiver<Outgoing>) -> Vec<Outgoing> {
    let mut out = Vec::new();
    while let Ok(o) = rx.try_recv() {
        out.push(o);
    }
    out
}

/// (revision, key, value or "<del>") of every event in `out`, in order.
fn events(out: &[Outgoing]) -> Vec<(i64, String, String)> {
    out.iter()
        .flat_map(|o| o.response.events.iter())
        .map(|e| {
            let kv = e.kv.as_ref().unwrap();
            let v = if e.r#type == EventType::Delete as i32 {
                "<del>".to_string()
            } else {
                String::from_utf8_lossy(&kv.value).into_owned()
            };
            (
                kv.mod_revision,
                String::from_utf8_lossy(&kv.key).into_owned(),
                v,
            )
        })
        .collect()
}

fn ev(rev: i64, k: &str, v: &str) -> (i64, String, String) {
    (rev, k.to_string(), v.to_string())
}

async fn open(rig: &Rig) -> (WatchStream, mpsc::Receiver<Outgoing>) {
    rig.hub.open_stream()
}

#[tokio::test]
async fn a_synced_watcher_gets_each_revision_as_one_response_with_its_revision() {
    let mut rig = Rig::new(WatchConfig::default());
    let (s, mut rx) = open(&rig).await;
    s.watch(&WatchCreateRequest {
        key: "a".into(),
        range_end: "c".into(),
        ..Default::default()
    })
    .await;
    let created = drain(&mut rx);
    assert_eq!(created.len(), 1);
    assert!(created[0].response.created);
    assert_eq!(
        (created[0].response.watch_id, created[0].revision),
        (0, Some(1))
    );

    rig.put("a", "1");
    rig.put("c", "x"); // outside [a, c)
    rig.put("b", "1");
    rig.delete("a");
    let out = drain(&mut rx);
    assert_eq!(
        events(&out),
        vec![ev(2, "a", "1"), ev(4, "b", "1"), ev(5, "a", "<del>")]
    );
    assert_eq!(
        out.iter().map(|o| o.revision).collect::<Vec<_>>(),
        vec![Some(2), Some(4), Some(5)]
    );
    assert!(
        out.iter()
            .all(|o| o.response.events.iter().all(|e| e.prev_kv.is_none()))
    );
}

#[tokio::test]
async fn filters_and_prev_kv_apply_per_watcher() {
    let mut rig = Rig::new(WatchConfig::default());
    let (s, mut rx) = open(&rig).await;
    let mut no_put = create("k", 0);
    no_put.filters = vec![FilterType::Noput as i32];
    no_put.prev_kv = true;
    let mut no_del = create("k", 0);
    no_del.filters = vec![FilterType::Nodelete as i32];
    s.watch(&no_put).await;
    s.watch(&no_del).await;
    drain(&mut rx);
    rig.put("k", "1");
    rig.put("k", "2");
    rig.delete("k");
    let out = drain(&mut rx);
    let of =
        |id: i64| -> Vec<&Outgoing> { out.iter().filter(|o| o.response.watch_id == id).collect() };
    let dels = of(0);
    assert_eq!(dels.len(), 1);
    let e = &dels[0].response.events[0];
    assert_eq!(e.r#type, EventType::Delete as i32);
    assert_eq!(e.prev_kv.as_ref().unwrap().value, b"2");
    let puts: Vec<_> = of(1).into_iter().cloned().collect();
    assert_eq!(events(&puts), vec![ev(2, "k", "1"), ev(3, "k", "2")]);
}

#[tokio::test]
async fn ids_are_chosen_like_etcd_and_bad_requests_are_refused() {
    let rig = Rig::new(WatchConfig::default());
    let (s, mut rx) = open(&rig).await;
    let mut seven = create("a", 0);
    seven.watch_id = 7;
    s.watch(&seven).await;
    s.watch(&seven).await;
    let mut auto0 = create("a", 0);
    auto0.watch_id = 0;
    s.watch(&auto0).await;
    s.watch(&auto0).await;
    s.watch(&WatchCreateRequest {
        key: "b".into(),
        range_end: "a".into(),
        ..Default::default()
    })
    .await;
    let out = drain(&mut rx);
    let got: Vec<(i64, bool, bool, &str)> = out
        .iter()
        .map(|o| {
            let r = &o.response;
            (r.watch_id, r.created, r.canceled, r.cancel_reason.as_str())
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (7, true, false, ""),
            (-1, true, true, DUPLICATE_ID),
            (0, true, false, ""),
            (1, true, false, ""),
            (-1, true, true, EMPTY_RANGE),
        ]
    );
}

#[tokio::test]
async fn a_watcher_in_the_past_catches_up_from_history_then_follows_live() {
    // A ring of one revision: the catch-up goes through history, and its
    // read reaches the unannounced revision 13.
    let mut rig = Rig::new(WatchConfig {
        catchup_chunk: 1000,
        recent_revisions: 1,
        ..WatchConfig::default()
    });
    for i in 0..10 {
        rig.put("k", &i.to_string());
    }
    let (s, mut rx) = open(&rig).await;
    s.watch(&create("k", 3)).await;
    drain(&mut rx);
    // Announced writes continue before the first round and the store runs
    // ahead of the announcements: the hand-over must not lose or repeat.
    rig.put("k", "10");
    let quiet = rig.put_quietly("k", "11");
    assert_eq!(rig.hub.sync_once(), Pending::Idle, "synced in one read");
    // Announced late: the watcher already has it and must not get it twice.
    rig.hub.notify(&quiet);
    rig.put("k", "12");
    let got: Vec<i64> = events(&drain(&mut rx)).iter().map(|e| e.0).collect();
    assert_eq!(got, (3..=14).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_ring_of_recent_revisions_finishes_a_hand_over_without_another_read() {
    let mut rig = Rig::new(WatchConfig {
        catchup_chunk: 1,
        ..WatchConfig::default()
    });
    rig.put("k", "a"); // 2
    let (s, mut rx) = open(&rig).await;
    s.watch(&create("k", 2)).await;
    for v in ["b", "c", "d"] {
        rig.put("k", v); // 3, 4, 5: in the ring
    }
    drain(&mut rx);
    // One round reads revision 2 only (limit 1), the ring has 3..=5.
    assert_eq!(rig.hub.sync_once(), Pending::Idle);
    let got: Vec<i64> = events(&drain(&mut rx)).iter().map(|e| e.0).collect();
    assert_eq!(got, vec![2, 3, 4, 5]);
    rig.put("k", "e");
    assert_eq!(events(&drain(&mut rx)), vec![ev(6, "k", "e")]);
}

/// The previous value of each DELETE event of a watcher with prev_kv.
fn deleted_prevs(out: &[Outgoing]) -> Vec<Option<String>> {
    out.iter()
        .flat_map(|o| o.response.events.iter())
        .filter(|e| e.r#type == EventType::Delete as i32)
        .map(|e| {
            e.prev_kv
                .as_ref()
                .map(|p| String::from_utf8_lossy(&p.value).into_owned())
        })
        .collect()
}

#[tokio::test]
async fn the_hub_fetches_prev_kv_of_deletes_for_watchers_that_want_it() {
    // The apply loop's delete events carry no previous value; live
    // watchers and hand-overs from the ring get it from the store.
    let mut rig = Rig::new(WatchConfig {
        catchup_chunk: 1,
        ..WatchConfig::default()
    });
    rig.put("k", "a"); // 2
    let (s, mut rx) = open(&rig).await;
    let with_prev = |start| WatchCreateRequest {
        key: "k".into(),
        start_revision: start,
        prev_kv: true,
        ..Default::default()
    };
    s.watch(&with_prev(0)).await; // synced
    s.watch(&with_prev(2)).await; // catches up: history, then the ring
    rig.put("k", "b"); // 3
    rig.delete("k"); // 4
    while rig.hub.sync_once() != Pending::Idle {}
    let out = drain(&mut rx);
    assert_eq!(deleted_prevs(&out), vec![Some("b".to_string()); 2]);
}

#[tokio::test]
async fn a_revision_too_big_for_the_ring_is_read_back_from_the_store() {
    let mut rig = Rig::new(WatchConfig {
        catchup_chunk: 1,
        recent_events: 3,
        ..WatchConfig::default()
    });
    rig.put("k/1", "a"); // 2
    let (s, mut rx) = open(&rig).await;
    s.watch(&WatchCreateRequest {
        key: "k/".into(),
        range_end: "k0".into(),
        start_revision: 2,
        ..Default::default()
    })
    .await;
    for k in ["k/2", "k/3", "k/4"] {
        rig.put(k, "b"); // 3, 4, 5
    }
    rig.delete_range("k/", "k0"); // 6: four events, more than the ring holds
    rig.put("k/5", "c"); // 7
    drain(&mut rx);
    while rig.hub.sync_once() != Pending::Idle {}
    let got = events(&drain(&mut rx));
    let mut want = vec![ev(2, "k/1", "a")];
    want.extend([ev(3, "k/2", "b"), ev(4, "k/3", "b"), ev(5, "k/4", "b")]);
    want.extend(["k/1", "k/2", "k/3", "k/4"].map(|k| ev(6, k, "<del>")));
    want.push(ev(7, "k/5", "c"));
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_full_stream_makes_victims_without_blocking_notify_and_loses_nothing() {
    let mut rig = Rig::new(WatchConfig {
        stream_buffer: 2,
        recent_revisions: 2,
        ..WatchConfig::default()
    });
    let (slow, mut slow_rx) = open(&rig).await;
    let (fast, mut fast_rx) = open(&rig).await;
    slow.watch(&create("k", 0)).await;
    fast.watch(&create("k", 0)).await;
    drain(&mut fast_rx);
    let mut fast_got = Vec::new();
    for i in 0..20 {
        rig.put("k", &i.to_string()); // must return although slow is full
        fast_got.extend(events(&drain(&mut fast_rx)));
    }
    assert_eq!(fast_got.len(), 20, "the other stream is not held up");
    // The slow client reads a little at a time; retries fill the gaps from
    // its pending response, then from history.
    let mut slow_got = Vec::new();
    for _ in 0..100 {
        slow_got.extend(drain(&mut slow_rx));
        rig.hub.sync_once();
        if events(&slow_got).len() == 20 {
            break;
        }
    }
    assert!(slow_got[0].response.created);
    let revs: Vec<i64> = events(&slow_got).iter().map(|e| e.0).collect();
    assert_eq!(revs, (2..=21).collect::<Vec<_>>());
    rig.put("k", "live");
    assert_eq!(events(&drain(&mut slow_rx)), vec![ev(22, "k", "live")]);
}

#[tokio::test]
async fn a_compacted_start_gets_created_then_canceled_with_the_compact_revision() {
    let mut rig = Rig::new(WatchConfig::default());
    for i in 0..5 {
        rig.put("k", &i.to_string());
    }
    rig.index += 1;
    let at = EntryId {
        index: rig.index,
        term: 1,
    };
    rig.store.write().unwrap().compact(4, at).unwrap();
    let (s, mut rx) = open(&rig).await;
    s.watch(&create("k", 2)).await;
    s.watch(&create("k", 4)).await;
    rig.settle();
    let out = drain(&mut rx);
    let compacted = WatchResponse {
        watch_id: 0,
        canceled: true,
        compact_revision: 4,
        ..Default::default()
    };
    assert!(out[0].response.created && out[1].response.created);
    assert_eq!(out[2].response, compacted);
    assert_eq!(out[2].revision, Some(0));
    assert_eq!(
        events(&out[3..]),
        vec![ev(4, "k", "2"), ev(5, "k", "3"), ev(6, "k", "4")]
    );
    // The compacted watcher keeps its id until cancelled.
    s.cancel(0).await;
    s.cancel(0).await;
    let out = drain(&mut rx);
    assert_eq!(out.len(), 1);
    assert!(out[0].response.canceled && out[0].response.watch_id == 0);
}

#[tokio::test]
async fn cancel_stops_events_and_unknown_ids_get_no_answer() {
    let mut rig = Rig::new(WatchConfig::default());
    let (s, mut rx) = open(&rig).await;
    s.watch(&create("k", 0)).await;
    s.cancel(42).await;
    rig.put("k", "1");
    s.cancel(0).await;
    rig.put("k", "2");
    let out = drain(&mut rx);
    assert_eq!(out.len(), 3);
    assert_eq!(events(&out), vec![ev(2, "k", "1")]);
    assert!(out[2].response.canceled);
}

#[tokio::test]
async fn a_progress_request_waits_until_every_watcher_is_synced() {
    let mut rig = Rig::new(WatchConfig::default());
    rig.put("k", "1");
    rig.put("k", "2");
    let (s, mut rx) = open(&rig).await;
    s.request_progress().await;
    let out = drain(&mut rx);
    assert_eq!((out[0].response.watch_id, out[0].revision), (-1, Some(3)));

    s.watch(&create("k", 2)).await;
    s.request_progress().await;
    assert_eq!(drain(&mut rx).len(), 1, "only the created response so far");
    rig.settle();
    let out = drain(&mut rx);
    assert_eq!(events(&out), vec![ev(2, "k", "1"), ev(3, "k", "2")]);
    let last = out.last().unwrap();
    assert_eq!((last.response.watch_id, last.revision), (-1, Some(3)));
    assert!(last.response.events.is_empty());
}

#[tokio::test]
async fn progress_ticks_skip_watchers_that_just_got_events() {
    let mut rig = Rig::new(WatchConfig::default());
    let (s, mut rx) = open(&rig).await;
    let mut req = create("k", 0);
    req.progress_notify = true;
    s.watch(&req).await;
    s.watch(&create("other", 0)).await;
    drain(&mut rx);
    s.progress_tick();
    let out = drain(&mut rx);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].response.watch_id, out[0].revision), (0, Some(1)));
    rig.put("k", "1");
    drain(&mut rx);
    s.progress_tick();
    assert!(drain(&mut rx).is_empty(), "an event since the last tick");
    s.progress_tick();
    assert_eq!(drain(&mut rx)[0].revision, Some(2));
}

#[tokio::test]
async fn a_restored_store_sends_every_watcher_back_to_history() {
    let mut rig = Rig::new(WatchConfig::default());
    let (s, mut rx) = open(&rig).await;
    s.watch(&create("k", 0)).await;
    drain(&mut rx);
    rig.put("k", "1");
    let dump = rig.store.write().unwrap().snapshot().unwrap();
    // Another member went further; we restore its state.
    let mut other = MvccStore::open(Box::new(MemBackend::new()), StoreConfig::default()).unwrap();
    other.restore(&dump).unwrap();
    let put = |v: &str| PutRequest {
        key: "k".into(),
        value: v.into(),
        ..Default::default()
    };
    other
        .put(
            &put("2"),
            EntryId {
                index: 100,
                term: 1,
            },
            None,
        )
        .unwrap();
    let dump = other.snapshot().unwrap();
    rig.store.write().unwrap().restore(&dump).unwrap();
    rig.hub.store_restored();
    rig.settle();
    assert_eq!(
        events(&drain(&mut rx)),
        vec![ev(2, "k", "1"), ev(3, "k", "2")]
    );
}

#[test]
fn fragments_follow_etcd_and_a_single_event_is_never_split() {
    let big = |i: i64| Event {
        r#type: EventType::Put as i32,
        kv: Some(KeyValue {
            key: format!("k{i}").into_bytes(),
            value: vec![b'x'; 100],
            mod_revision: 2,
            ..Default::default()
        }),
        prev_kv: None,
    };
    let resp = WatchResponse {
        watch_id: 3,
        events: (0..5).map(big).collect(),
        ..Default::default()
    };
    let parts = fragment(resp.clone(), 250);
    assert_eq!(parts.len(), 3);
    assert_eq!(
        parts
            .iter()
            .map(|p| (p.events.len(), p.fragment))
            .collect::<Vec<_>>(),
        vec![(2, true), (2, true), (1, false)]
    );
    let joined: Vec<Event> = parts.into_iter().flat_map(|p| p.events).collect();
    assert_eq!(joined, resp.events);
    assert_eq!(fragment(resp.clone(), 1 << 20), vec![resp]);
    let one = WatchResponse {
        events: vec![big(0)],
        ..Default::default()
    };
    assert_eq!(fragment(one.clone(), 10), vec![one]);
}
