//! `cairn_proto::nesting`: transactions and entries decode back at every
//! depth up to the limit, the views have exactly the layout of the messages
//! they stand for, and nothing deeper than the limit decodes.

use bytes::Bytes;
use cairn_proto::authpb::{Permission, UserAddOptions};
use cairn_proto::etcdserverpb::{
    AlarmRequest, AuthRoleAddRequest, AuthRoleDeleteRequest, AuthRoleGrantPermissionRequest,
    AuthRoleRevokePermissionRequest, AuthUserAddRequest, AuthUserChangePasswordRequest,
    AuthUserDeleteRequest, AuthUserGrantRoleRequest, AuthUserRevokeRoleRequest, CompactionRequest,
    Compare, DeleteRangeRequest, DeleteRangeResponse, LeaseCheckpoint, LeaseCheckpointRequest,
    LeaseGrantRequest, LeaseRevokeRequest, PutRequest, PutResponse, RangeRequest, RangeResponse,
    RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse, request_op, response_op,
};
use cairn_proto::internal::{Authenticate, MemberAttributes, Request, Requester, request::Op};
use cairn_proto::nesting::{
    MAX_TXN_DEPTH, NestingError, decode_request, decode_txn_request, decode_txn_response,
};
use proptest::prelude::*;
use prost::Message;

fn leaf_op() -> impl Strategy<Value = RequestOp> {
    let key = prop::collection::vec(any::<u8>(), 0..4);
    prop_oneof![
        (key.clone(), any::<bool>()).prop_map(|(key, serializable)| {
            request_op::Request::RequestRange(RangeRequest {
                key,
                serializable,
                ..RangeRequest::default()
            })
        }),
        (
            key.clone(),
            prop::collection::vec(any::<u8>(), 0..8),
            any::<i64>()
        )
            .prop_map(|(key, value, lease)| {
                request_op::Request::RequestPut(PutRequest {
                    key,
                    value,
                    lease,
                    ..PutRequest::default()
                })
            }),
        (key.clone(), key).prop_map(|(key, range_end)| {
            request_op::Request::RequestDeleteRange(DeleteRangeRequest {
                key,
                range_end,
                ..DeleteRangeRequest::default()
            })
        }),
    ]
    .prop_map(|r| RequestOp { request: Some(r) })
}

/// One level of a txn: its compares and leaf ops, and on which side (if
/// any) the next level hangs.
type Level = (Vec<Compare>, Vec<RequestOp>, Vec<RequestOp>, Option<bool>);

fn level() -> impl Strategy<Value = Level> {
    let compare =
        (prop::collection::vec(any::<u8>(), 1..4), any::<i64>()).prop_map(|(key, v)| Compare {
            key,
            target_union: Some(cairn_proto::etcdserverpb::compare::TargetUnion::Version(v)),
            ..Compare::default()
        });
    (
        prop::collection::vec(compare, 0..2),
        prop::collection::vec(leaf_op(), 0..3),
        prop::collection::vec(leaf_op(), 0..2),
        any::<bool>(),
    )
        .prop_map(|(c, s, f, side)| (c, s, f, Some(side)))
}

/// Folds levels, innermost last, into one txn as deep as there are levels.
fn fold(levels: Vec<Level>) -> TxnRequest {
    let mut inner: Option<TxnRequest> = None;
    for (compare, mut success, mut failure, side) in levels.into_iter().rev() {
        if let Some(txn) = inner.take() {
            let op = RequestOp {
                request: Some(request_op::Request::RequestTxn(txn)),
            };
            if side == Some(true) {
                success.push(op);
            } else {
                failure.push(op);
            }
        }
        inner = Some(TxnRequest {
            compare,
            success,
            failure,
        });
    }
    inner.expect("at least one level")
}

fn txn_tree(max_depth: usize) -> impl Strategy<Value = TxnRequest> {
    (1..=max_depth).prop_flat_map(|depth| prop::collection::vec(level(), depth).prop_map(fold))
}

/// A txn `depth` levels deep with one put at the bottom.
fn chain(depth: usize) -> TxnRequest {
    fold(vec![(vec![], vec![], vec![], Some(true)); depth])
}

/// The response shape of `txn`, as a server would answer it.
fn response_for(txn: &TxnRequest) -> TxnResponse {
    let responses = txn
        .success
        .iter()
        .map(|op| ResponseOp {
            response: Some(match &op.request {
                Some(request_op::Request::RequestTxn(t)) => {
                    response_op::Response::ResponseTxn(response_for(t))
                }
                Some(request_op::Request::RequestRange(_)) => {
                    response_op::Response::ResponseRange(RangeResponse {
                        count: 1,
                        ..RangeResponse::default()
                    })
                }
                Some(request_op::Request::RequestPut(_)) => {
                    response_op::Response::ResponsePut(PutResponse::default())
                }
                _ => response_op::Response::ResponseDeleteRange(DeleteRangeResponse {
                    deleted: 2,
                    ..DeleteRangeResponse::default()
                }),
            }),
        })
        .collect();
    TxnResponse {
        header: Some(ResponseHeader {
            revision: 7,
            ..ResponseHeader::default()
        }),
        succeeded: true,
        responses,
    }
}

/// Runs `f` on a thread with a stack as large as the server gives its
/// threads: a debug build's recursion through 512 levels of encoding,
/// comparing and dropping needs more than a test thread's 2 MiB.
fn deep<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn entry(txn: TxnRequest) -> Bytes {
    Bytes::from(
        Request {
            id: 42,
            op: Some(Op::Txn(txn)),
            requester: None,
        }
        .encode_to_vec(),
    )
}

#[test]
fn prost_alone_cannot_decode_the_txns_etcd_accepts() {
    // Why the module exists: 128 levels is what etcd's default allows.
    let bytes = chain(128).encode_to_vec();
    assert!(TxnRequest::decode(bytes.as_slice()).is_err());
    assert_eq!(
        decode_txn_request(Bytes::from(bytes)).expect("decodes"),
        chain(128)
    );
}

#[test]
fn the_deepest_txn_decodes_and_one_level_more_does_not() {
    deep(deepest_txn_decodes_and_one_level_more_does_not);
}

fn deepest_txn_decodes_and_one_level_more_does_not() {
    let deepest = chain(MAX_TXN_DEPTH);
    let bytes = Bytes::from(deepest.encode_to_vec());
    assert_eq!(decode_txn_request(bytes).expect("decodes"), deepest);
    let decoded = decode_request(entry(deepest.clone())).expect("decodes");
    assert_eq!(decoded.op, Some(Op::Txn(deepest.clone())));
    let resp = response_for(&deepest);
    let bytes = Bytes::from(resp.encode_to_vec());
    assert_eq!(decode_txn_response(bytes).expect("decodes"), resp);

    let too_deep = chain(MAX_TXN_DEPTH + 1);
    assert_eq!(
        decode_txn_request(Bytes::from(too_deep.encode_to_vec())),
        Err(NestingError::TooDeep)
    );
    assert_eq!(
        decode_request(entry(too_deep.clone())),
        Err(NestingError::TooDeep)
    );
    let bytes = Bytes::from(response_for(&too_deep).encode_to_vec());
    assert_eq!(decode_txn_response(bytes), Err(NestingError::TooDeep));
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Put(PutRequest {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            prev_kv: true,
            ..PutRequest::default()
        })),
        Just(Op::DeleteRange(DeleteRangeRequest {
            key: b"a".to_vec(),
            range_end: b"z".to_vec(),
            ..DeleteRangeRequest::default()
        })),
        txn_tree(4).prop_map(Op::Txn),
        any::<i64>().prop_map(|revision| Op::Compaction(CompactionRequest {
            revision,
            physical: true
        })),
        (any::<i64>(), any::<i64>())
            .prop_map(|(ttl, id)| Op::LeaseGrant(LeaseGrantRequest { ttl, id })),
        any::<i64>().prop_map(|id| Op::LeaseRevoke(LeaseRevokeRequest { id })),
        any::<i64>().prop_map(|id| Op::LeaseCheckpoint(LeaseCheckpointRequest {
            checkpoints: vec![LeaseCheckpoint {
                id,
                remaining_ttl: 5
            }],
        })),
        any::<u64>().prop_map(|member_id| Op::Alarm(AlarmRequest {
            action: 1,
            member_id,
            alarm: 1
        })),
        any::<u64>().prop_map(|member_id| Op::MemberAttributes(MemberAttributes {
            member_id,
            name: "m1".into(),
            client_urls: vec!["http://127.0.0.1:2379".into()],
        })),
        Just(Op::AuthEnable(Default::default())),
        Just(Op::AuthDisable(Default::default())),
        Just(Op::Authenticate(Authenticate {
            name: "alice".into(),
            token_prefix: "abcdefghijklmnop".into(),
        })),
        Just(Op::UserAdd(AuthUserAddRequest {
            name: "alice".into(),
            hashed_password: "$2b$10$hash".into(),
            options: Some(UserAddOptions { no_password: true }),
            ..Default::default()
        })),
        Just(Op::UserDelete(AuthUserDeleteRequest {
            name: "alice".into()
        })),
        Just(Op::UserChangePassword(AuthUserChangePasswordRequest {
            name: "alice".into(),
            hashed_password: "$2b$10$other".into(),
            ..Default::default()
        })),
        Just(Op::UserGrantRole(AuthUserGrantRoleRequest {
            user: "alice".into(),
            role: "r".into(),
        })),
        Just(Op::UserRevokeRole(AuthUserRevokeRoleRequest {
            name: "alice".into(),
            role: "r".into(),
        })),
        Just(Op::RoleAdd(AuthRoleAddRequest { name: "r".into() })),
        Just(Op::RoleDelete(AuthRoleDeleteRequest { role: "r".into() })),
        Just(Op::RoleGrantPermission(AuthRoleGrantPermissionRequest {
            name: "r".into(),
            perm: Some(Permission {
                perm_type: 2,
                key: b"a".to_vec(),
                range_end: b"b".to_vec(),
            }),
        })),
        Just(Op::RoleRevokePermission(AuthRoleRevokePermissionRequest {
            role: "r".into(),
            key: b"a".to_vec(),
            range_end: b"b".to_vec(),
        })),
    ]
}

fn any_requester() -> impl Strategy<Value = Option<Requester>> {
    prop_oneof![
        Just(None),
        (".{0,8}", any::<u64>()).prop_map(|(user, auth_revision)| Some(Requester {
            user,
            auth_revision
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any txn up to the limit survives encoding, as a request, as the
    /// entry that wraps it, and as the response a server gives.
    #[test]
    fn txns_round_trip_at_every_depth(txn in txn_tree(MAX_TXN_DEPTH)) {
        deep(move || {
            let bytes = Bytes::from(txn.encode_to_vec());
            assert_eq!(&decode_txn_request(bytes).expect("decodes"), &txn);
            let decoded = decode_request(entry(txn.clone())).expect("decodes");
            assert_eq!(decoded.id, 42);
            assert_eq!(decoded.op, Some(Op::Txn(txn.clone())));
            let resp = response_for(&txn);
            let bytes = Bytes::from(resp.encode_to_vec());
            assert_eq!(decode_txn_response(bytes).expect("decodes"), resp);
        });
    }

    /// Every kind of entry decodes through the view as prost decodes it.
    #[test]
    fn entries_decode_as_prost_decodes_them(
        id in any::<u64>(),
        op in any_op(),
        requester in any_requester(),
    ) {
        let req = Request { id, op: Some(op), requester };
        let bytes = req.encode_to_vec();
        prop_assert_eq!(&Request::decode(bytes.as_slice()).expect("prost"), &req);
        prop_assert_eq!(decode_request(Bytes::from(bytes)).expect("view"), req);
    }

    /// Whatever bytes an entry holds, the views agree with prost wherever
    /// prost can decode at all, and never panic.
    #[test]
    fn views_agree_with_prost_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let ours = decode_request(Bytes::from(bytes.clone()));
        if let Ok(theirs) = Request::decode(bytes.as_slice()) {
            prop_assert_eq!(ours.expect("prost decoded it"), theirs);
        }
        let ours = decode_txn_request(Bytes::from(bytes.clone()));
        if let Ok(theirs) = TxnRequest::decode(bytes.as_slice()) {
            prop_assert_eq!(ours.expect("prost decoded it"), theirs);
        }
    }
}
