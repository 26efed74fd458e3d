//! Encoding tests: hand-computed etcd wire bytes, and encode/decode round
//! trips of nested etcd and peer messages.

use cairn_proto::{etcdserverpb, mvccpb, peer};
use prost::Message;

/// Encodes `msg`, decodes it back, and checks nothing was lost.
fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(msg: &M) -> Vec<u8> {
    let bytes = msg.encode_to_vec();
    let back = M::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(&back, msg);
    bytes
}

#[test]
fn put_request_has_etcd_wire_bytes() {
    // key = 1 (bytes), value = 2 (bytes), lease = 3 (int64), prev_kv = 4 (bool).
    let req = etcdserverpb::PutRequest {
        key: b"foo".to_vec(),
        value: b"bar".to_vec(),
        lease: 7,
        prev_kv: true,
        ..Default::default()
    };
    let bytes = round_trip(&req);
    assert_eq!(
        bytes,
        [
            0x0a, 3, b'f', b'o', b'o', 0x12, 3, b'b', b'a', b'r', 0x18, 7, 0x20, 1
        ]
    );
}

#[test]
fn compare_range_end_uses_field_64() {
    // Compare.range_end is field 64: tag = 64 << 3 | 2 = 514 = varint [0x82, 0x04].
    let cmp = etcdserverpb::Compare {
        result: etcdserverpb::compare::CompareResult::NotEqual as i32,
        target: etcdserverpb::compare::CompareTarget::Mod as i32,
        key: b"a".to_vec(),
        range_end: b"b".to_vec(),
        target_union: Some(etcdserverpb::compare::TargetUnion::ModRevision(5)),
    };
    let bytes = round_trip(&cmp);
    assert_eq!(
        bytes,
        [
            0x08, 3, 0x10, 2, 0x1a, 1, b'a', 0x30, 5, 0x82, 0x04, 1, b'b'
        ]
    );
}

#[test]
fn watch_response_events_use_field_11() {
    let resp = etcdserverpb::WatchResponse {
        watch_id: 1,
        fragment: true,
        events: vec![mvccpb::Event {
            r#type: mvccpb::event::EventType::Delete as i32,
            kv: Some(mvccpb::KeyValue {
                key: b"k".to_vec(),
                mod_revision: 9,
                ..Default::default()
            }),
            prev_kv: None,
        }],
        ..Default::default()
    };
    let bytes = round_trip(&resp);
    // watch_id (2) = 1, fragment (7) = true, then events (11): tag 0x5a.
    assert_eq!(&bytes[..4], [0x10, 1, 0x38, 1]);
    assert_eq!(bytes[4], 0x5a);
}

#[test]
fn nested_txn_round_trips() {
    let inner = etcdserverpb::TxnRequest {
        compare: vec![],
        success: vec![etcdserverpb::RequestOp {
            request: Some(etcdserverpb::request_op::Request::RequestDeleteRange(
                etcdserverpb::DeleteRangeRequest {
                    key: b"x".to_vec(),
                    range_end: vec![0],
                    prev_kv: true,
                },
            )),
        }],
        failure: vec![],
    };
    let txn = etcdserverpb::TxnRequest {
        compare: vec![etcdserverpb::Compare {
            key: b"k".to_vec(),
            target: etcdserverpb::compare::CompareTarget::Value as i32,
            target_union: Some(etcdserverpb::compare::TargetUnion::Value(b"v".to_vec())),
            ..Default::default()
        }],
        success: vec![
            etcdserverpb::RequestOp {
                request: Some(etcdserverpb::request_op::Request::RequestPut(
                    etcdserverpb::PutRequest {
                        key: b"k".to_vec(),
                        value: b"w".to_vec(),
                        ..Default::default()
                    },
                )),
            },
            etcdserverpb::RequestOp {
                request: Some(etcdserverpb::request_op::Request::RequestTxn(inner)),
            },
        ],
        failure: vec![etcdserverpb::RequestOp {
            request: Some(etcdserverpb::request_op::Request::RequestRange(
                etcdserverpb::RangeRequest {
                    key: b"k".to_vec(),
                    sort_order: etcdserverpb::range_request::SortOrder::Descend as i32,
                    ..Default::default()
                },
            )),
        }],
    };
    round_trip(&txn);
}

#[test]
fn status_response_round_trips() {
    let status = etcdserverpb::StatusResponse {
        header: Some(etcdserverpb::ResponseHeader {
            cluster_id: u64::MAX,
            member_id: 0x8e9e_05c5_2164_694d,
            revision: 12,
            raft_term: 3,
        }),
        version: "3.5.0".to_owned(),
        db_size: 1 << 20,
        leader: 0x8e9e_05c5_2164_694d,
        raft_index: 40,
        raft_term: 3,
        raft_applied_index: 40,
        errors: vec!["NOSPACE".to_owned()],
        db_size_in_use: 1 << 19,
        is_learner: false,
    };
    round_trip(&status);
}

#[test]
fn peer_messages_round_trip() {
    let entry = peer::Entry {
        term: 2,
        index: 10,
        entry_type: peer::EntryType::ConfChange as i32,
        data: peer::ConfChange {
            change_type: peer::ConfChangeType::AddLearnerNode as i32,
            node_id: 4,
            context: b"member".to_vec(),
        }
        .encode_to_vec(),
    };
    let snapshot_msg = peer::Message {
        msg_type: peer::MessageType::Snapshot as i32,
        to: 2,
        from: 1,
        term: 3,
        snapshot: Some(peer::Snapshot {
            data: Vec::new(),
            metadata: Some(peer::SnapshotMetadata {
                conf_state: Some(peer::ConfState {
                    voters: vec![1, 2, 3],
                    learners: vec![4],
                }),
                index: 100,
                term: 3,
            }),
        }),
        ..Default::default()
    };
    let batch = peer::MessageBatch {
        cluster_id: 0xdead_beef,
        from_member_id: 1,
        to_member_id: 2,
        messages: vec![
            peer::Message {
                msg_type: peer::MessageType::Append as i32,
                to: 2,
                from: 1,
                term: 2,
                log_term: 2,
                index: 9,
                entries: vec![entry.clone()],
                commit: 9,
                ..Default::default()
            },
            peer::Message {
                msg_type: peer::MessageType::AppendResponse as i32,
                reject: true,
                reject_hint: 7,
                ..Default::default()
            },
            snapshot_msg.clone(),
        ],
    };
    round_trip(&batch);
    round_trip(&peer::HardState {
        term: 3,
        vote: 1,
        commit: 100,
    });

    let chunks = [
        peer::SnapshotChunk {
            chunk: Some(peer::snapshot_chunk::Chunk::Header(peer::SnapshotHeader {
                cluster_id: 0xdead_beef,
                from_member_id: 1,
                to_member_id: 2,
                message: Some(snapshot_msg),
                total_size: 3,
            })),
        },
        peer::SnapshotChunk {
            chunk: Some(peer::snapshot_chunk::Chunk::Data(vec![1, 2, 3])),
        },
        peer::SnapshotChunk {
            chunk: Some(peer::snapshot_chunk::Chunk::Trailer(
                peer::SnapshotTrailer {
                    sha256: vec![0xab; 32],
                },
            )),
        },
    ];
    for chunk in &chunks {
        round_trip(chunk);
    }

    // The decoded entry's data is the ConfChange it was built from.
    let cc = peer::ConfChange::decode(entry.data.as_slice()).unwrap();
    assert_eq!(cc.change_type(), peer::ConfChangeType::AddLearnerNode);
}

#[test]
fn message_type_numbers_follow_raft_core_order() {
    use peer::MessageType as T;
    let order = [
        T::Hup,
        T::Beat,
        T::Propose,
        T::Append,
        T::AppendResponse,
        T::RequestVote,
        T::RequestVoteResponse,
        T::Snapshot,
        T::Heartbeat,
        T::HeartbeatResponse,
        T::Unreachable,
        T::SnapshotStatus,
        T::CheckQuorum,
        T::TransferLeader,
        T::TimeoutNow,
        T::ReadIndex,
        T::ReadIndexResponse,
        T::PreVote,
        T::PreVoteResponse,
    ];
    for (n, t) in order.iter().enumerate() {
        assert_eq!(*t as i32, n as i32, "{t:?}");
    }
    assert!(T::try_from(order.len() as i32).is_err());
    assert_eq!(peer::EntryType::Normal as i32, 0);
    assert_eq!(peer::EntryType::ConfChange as i32, 1);
    assert_eq!(peer::ConfChangeType::AddNode as i32, 0);
    assert_eq!(peer::ConfChangeType::RemoveNode as i32, 1);
    assert_eq!(peer::ConfChangeType::AddLearnerNode as i32, 2);
}
