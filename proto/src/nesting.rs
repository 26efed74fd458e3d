//! Decoding etcd's nested transactions, and the entries that carry them,
//! at any depth etcd accepts.
//!
//! prost refuses to decode a message nested more than 100 levels deep; one
//! level of Txn costs two of them (`TxnRequest`, then `RequestOp`), and a
//! raft entry's envelope one more. etcd accepts 128 levels of Txn with its
//! default `--max-txn-ops`, and more with a larger one. So the gRPC layer,
//! the apply loop and the client library decode transactions here instead:
//! through the views of `views.proto`, one level per prost call, walking
//! down the levels with a depth limit of our own, [`MAX_TXN_DEPTH`].
//!
//! Owns: that limit, the decoding of `TxnRequest`, `TxnResponse` and the
//! entry envelope, and [`Codec`], the gRPC codec of every generated service
//! and client. Must never: decode one of those types with prost's own
//! `decode`, whose limit is lower than what proposals may contain.
//!
//! Invariant: every request that passes the server's proposal checks (which
//! refuse a Txn deeper than [`MAX_TXN_DEPTH`]) decodes back from its entry;
//! the round-trip tests in `tests/nesting.rs` hold that. The limit is part
//! of the log's format: lowering it could leave entries already committed
//! undecodable.

use std::any::{Any, TypeId};
use std::fmt;
use std::marker::PhantomData;

use bytes::{Buf, Bytes};
use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

use crate::etcdserverpb::{
    RequestOp, ResponseOp, TxnRequest, TxnResponse, request_op, response_op,
};
use crate::internal::{
    Request, RequestOpView, RequestView, ResponseOpView, TxnRequestView, TxnResponseView, request,
    request_op_view, request_view, response_op_view,
};

/// The most levels of Txn one request may nest, the outermost counting as
/// one. etcd has no such limit of its own, only `--max-txn-ops`, which
/// bounds the depth as well (each level uses up one op of its parent's
/// budget): its default, 128, allows 128 levels, and this allows four
/// times that. Deeper still, cairn refuses with etcd's "too many
/// operations in txn request": validating, applying, answering and
/// dropping a transaction recurse once per level, and the threads that do
/// so have bounded stacks (the server sizes them for this limit).
pub const MAX_TXN_DEPTH: usize = 512;

/// etcd's message for a txn beyond its ops budget, which a txn nested
/// beyond [`MAX_TXN_DEPTH`] gets too.
pub const TOO_MANY_OPS: &str = "etcdserver: too many operations in txn request";

/// Why a transaction or entry did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NestingError {
    /// Nested deeper than [`MAX_TXN_DEPTH`].
    TooDeep,
    /// Not a valid encoding.
    Decode(prost::DecodeError),
}

impl fmt::Display for NestingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NestingError::TooDeep => {
                write!(f, "a txn nested more than {MAX_TXN_DEPTH} levels deep")
            }
            NestingError::Decode(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for NestingError {}

impl From<prost::DecodeError> for NestingError {
    fn from(e: prost::DecodeError) -> Self {
        NestingError::Decode(e)
    }
}

impl From<NestingError> for Status {
    fn from(e: NestingError) -> Self {
        match e {
            NestingError::TooDeep => Status::invalid_argument(TOO_MANY_OPS),
            // What tonic answers for any message it cannot decode.
            NestingError::Decode(e) => Status::internal(e.to_string()),
        }
    }
}

/// Decodes a `TxnRequest` nested up to [`MAX_TXN_DEPTH`] levels.
pub fn decode_txn_request(buf: Bytes) -> Result<TxnRequest, NestingError> {
    txn_request(buf, 1)
}

/// Decodes a `TxnResponse` nested up to [`MAX_TXN_DEPTH`] levels.
pub fn decode_txn_response(buf: Bytes) -> Result<TxnResponse, NestingError> {
    txn_response(buf, 1)
}

/// Decodes the envelope of a raft entry, whatever Txn it holds.
pub fn decode_request(buf: Bytes) -> Result<Request, NestingError> {
    use request::Op;
    use request_view::Op as View;
    let view = RequestView::decode(buf)?;
    let op = match view.op {
        None => None,
        Some(View::Txn(txn)) => Some(Op::Txn(txn_request(txn, 1)?)),
        Some(View::Put(r)) => Some(Op::Put(r)),
        Some(View::DeleteRange(r)) => Some(Op::DeleteRange(r)),
        Some(View::Compaction(r)) => Some(Op::Compaction(r)),
        Some(View::LeaseGrant(r)) => Some(Op::LeaseGrant(r)),
        Some(View::LeaseRevoke(r)) => Some(Op::LeaseRevoke(r)),
        Some(View::LeaseCheckpoint(r)) => Some(Op::LeaseCheckpoint(r)),
        Some(View::Alarm(r)) => Some(Op::Alarm(r)),
        Some(View::MemberAttributes(r)) => Some(Op::MemberAttributes(r)),
        Some(View::AuthEnable(r)) => Some(Op::AuthEnable(r)),
        Some(View::AuthDisable(r)) => Some(Op::AuthDisable(r)),
        Some(View::Authenticate(r)) => Some(Op::Authenticate(r)),
        Some(View::UserAdd(r)) => Some(Op::UserAdd(r)),
        Some(View::UserDelete(r)) => Some(Op::UserDelete(r)),
        Some(View::UserChangePassword(r)) => Some(Op::UserChangePassword(r)),
        Some(View::UserGrantRole(r)) => Some(Op::UserGrantRole(r)),
        Some(View::UserRevokeRole(r)) => Some(Op::UserRevokeRole(r)),
        Some(View::RoleAdd(r)) => Some(Op::RoleAdd(r)),
        Some(View::RoleDelete(r)) => Some(Op::RoleDelete(r)),
        Some(View::RoleGrantPermission(r)) => Some(Op::RoleGrantPermission(r)),
        Some(View::RoleRevokePermission(r)) => Some(Op::RoleRevokePermission(r)),
    };
    Ok(Request {
        id: view.id,
        op,
        requester: view.requester,
    })
}

fn txn_request(buf: Bytes, depth: usize) -> Result<TxnRequest, NestingError> {
    if depth > MAX_TXN_DEPTH {
        return Err(NestingError::TooDeep);
    }
    let view = TxnRequestView::decode(buf)?;
    let ops = |views: Vec<RequestOpView>| -> Result<Vec<RequestOp>, NestingError> {
        views.into_iter().map(|v| request_op(v, depth)).collect()
    };
    Ok(TxnRequest {
        compare: view.compare,
        success: ops(view.success)?,
        failure: ops(view.failure)?,
    })
}

fn request_op(view: RequestOpView, depth: usize) -> Result<RequestOp, NestingError> {
    use request_op::Request as Op;
    use request_op_view::Request as View;
    let request = match view.request {
        None => None,
        Some(View::RequestTxn(txn)) => Some(Op::RequestTxn(txn_request(txn, depth + 1)?)),
        Some(View::RequestRange(r)) => Some(Op::RequestRange(r)),
        Some(View::RequestPut(r)) => Some(Op::RequestPut(r)),
        Some(View::RequestDeleteRange(r)) => Some(Op::RequestDeleteRange(r)),
    };
    Ok(RequestOp { request })
}

fn txn_response(buf: Bytes, depth: usize) -> Result<TxnResponse, NestingError> {
    if depth > MAX_TXN_DEPTH {
        return Err(NestingError::TooDeep);
    }
    let view = TxnResponseView::decode(buf)?;
    let responses = view
        .responses
        .into_iter()
        .map(|v| response_op(v, depth))
        .collect::<Result<_, _>>()?;
    Ok(TxnResponse {
        header: view.header,
        succeeded: view.succeeded,
        responses,
    })
}

fn response_op(view: ResponseOpView, depth: usize) -> Result<ResponseOp, NestingError> {
    use response_op::Response as Op;
    use response_op_view::Response as View;
    let response = match view.response {
        None => None,
        Some(View::ResponseTxn(txn)) => Some(Op::ResponseTxn(txn_response(txn, depth + 1)?)),
        Some(View::ResponseRange(r)) => Some(Op::ResponseRange(r)),
        Some(View::ResponsePut(r)) => Some(Op::ResponsePut(r)),
        Some(View::ResponseDeleteRange(r)) => Some(Op::ResponseDeleteRange(r)),
    };
    Ok(ResponseOp { response })
}

/// The gRPC codec of every service and client in this crate: prost's, except
/// that `TxnRequest` and `TxnResponse` decode through this module.
#[derive(Debug)]
pub struct Codec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Codec {
            _types: PhantomData,
        }
    }
}

impl<T, U> tonic::codec::Codec for Codec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = NestingDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        NestingDecoder { _type: PhantomData }
    }
}

/// The decoding half of [`Codec`].
#[derive(Debug)]
pub struct NestingDecoder<U> {
    _type: PhantomData<U>,
}

impl<U: Message + Default + 'static> Decoder for NestingDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        // The generated code is generic over the message type; the two
        // types that nest are picked out by their type id, and the value
        // handed back through `Any`, which needs no unsafe code.
        let decoded: Box<dyn Any> = if TypeId::of::<U>() == TypeId::of::<TxnRequest>() {
            Box::new(decode_txn_request(buf.copy_to_bytes(buf.remaining()))?)
        } else if TypeId::of::<U>() == TypeId::of::<TxnResponse>() {
            Box::new(decode_txn_response(buf.copy_to_bytes(buf.remaining()))?)
        } else {
            return U::decode(buf)
                .map(Some)
                .map_err(|e| NestingError::Decode(e).into());
        };
        match decoded.downcast::<U>() {
            Ok(item) => Ok(Some(*item)),
            Err(_) => unreachable!("the type id was compared above"),
        }
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}
