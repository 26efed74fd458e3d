//! [`WatchService`]: etcd's `Watch` gRPC service (one bidirectional stream
//! per client call, many watchers per stream) over the [`WatchHub`].
//!
//! Owns: reading a stream's requests, turning the hub's responses into
//! wire responses (header, fragments) and the progress-notify timer. Must
//! never: decide which events a watcher gets (the hub does) or let one
//! stream's slow client slow another (each stream has its own tasks and
//! channel).

use super::hub::{Outgoing, WatchHub};
use cairn_proto::etcdserverpb::{
    ResponseHeader, WatchCreateRequest, WatchRequest, WatchResponse, watch_request::RequestUnion,
    watch_server::Watch,
};
use prost::Message;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// Gives the header of every response (cluster id, member id, raft term and
/// the current revision); the service overrides the revision where etcd
/// reports another one (events, progress, compaction).
pub type HeaderSource = Arc<dyn Fn() -> ResponseHeader + Send + Sync>;

/// Whether a stream may create the watch a request asks for: made once per
/// stream from its metadata and extensions (its credentials), asked at
/// every create request (credentials are resolved again each time, as
/// etcd does).
pub type Admission =
    Arc<dyn Fn(&tonic::metadata::MetadataMap, &tonic::Extensions) -> Admit + Send + Sync>;

/// One stream's permission check for create requests.
pub type Admit = Box<
    dyn Fn(&WatchCreateRequest) -> Pin<Box<dyn std::future::Future<Output = bool> + Send>>
        + Send
        + Sync,
>;

/// What a refused create request is told, word for word as etcd 3.5
/// writes it (the text of a gRPC error, though it travels in-band).
pub const PERMISSION_DENIED: &str =
    "rpc error: code = PermissionDenied desc = etcdserver: permission denied";

/// The `etcdserverpb.Watch` service. Serve it with
/// `WatchServer::new(WatchService::new(hub, header, admission))`.
#[derive(Clone)]
pub struct WatchService {
    hub: Arc<WatchHub>,
    header: HeaderSource,
    admission: Admission,
}

impl std::fmt::Debug for WatchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchService").finish_non_exhaustive()
    }
}

impl WatchService {
    /// A service over `hub`; `header` is called for every response,
    /// `admission` for every stream.
    pub fn new(hub: Arc<WatchHub>, header: HeaderSource, admission: Admission) -> Self {
        WatchService {
            hub,
            header,
            admission,
        }
    }

    /// A service that lets every create request through (no auth).
    pub fn open(hub: Arc<WatchHub>, header: HeaderSource) -> Self {
        WatchService::new(
            hub,
            header,
            Arc::new(|_, _| Box::new(|_| Box::pin(std::future::ready(true)))),
        )
    }
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = ResponseStream;

    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let admit = (self.admission)(request.metadata(), request.extensions());
        let mut inbound = request.into_inner();
        let (stream, mut rx) = self.hub.open_stream();
        let stream = Arc::new(stream);
        let (out_tx, out_rx) = mpsc::channel::<Result<WatchResponse, Status>>(16);

        // Requests. A client that closes its sending side keeps its
        // watchers (etcd does the same); the stream ends when the client
        // stops listening.
        let requests = stream.clone();
        tokio::spawn(async move {
            while let Ok(Some(req)) = inbound.message().await {
                match req.request_union {
                    Some(RequestUnion::CreateRequest(c)) => {
                        if admit(&c).await {
                            requests.watch(&c).await;
                        } else {
                            requests.deny(c.watch_id, PERMISSION_DENIED).await;
                        }
                    }
                    Some(RequestUnion::CancelRequest(c)) => requests.cancel(c.watch_id).await,
                    Some(RequestUnion::ProgressRequest(_)) => requests.request_progress().await,
                    None => {}
                }
            }
        });

        // Responses, and the progress-notify timer.
        let header = self.header.clone();
        let cfg = self.hub.config();
        let (limit, every) = (cfg.fragment_bytes, cfg.progress_notify_interval);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    out = rx.recv() => {
                        let Some(out) = out else { break };
                        for resp in to_wire(out, &header, limit) {
                            if out_tx.send(Ok(resp)).await.is_err() {
                                return;
                            }
                        }
                    }
                    _ = tick.tick() => stream.progress_tick(),
                    () = out_tx.closed() => break,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }
}

/// The wire responses for one of the hub's: header filled in, split into
/// fragments if the watcher asked for it and it is too large.
fn to_wire(out: Outgoing, header: &HeaderSource, limit: usize) -> Vec<WatchResponse> {
    let mut h = header();
    if let Some(rev) = out.revision {
        h.revision = rev;
    }
    let mut resp = out.response;
    resp.header = Some(h);
    if out.fragment {
        fragment(resp, limit)
    } else {
        vec![resp]
    }
}

/// etcd's fragmenting: a response of at least `limit` bytes with two or
/// more events goes out as several, each holding as many events as keep it
/// under `limit` (at least one), all but the last marked `fragment`.
pub(crate) fn fragment(resp: WatchResponse, limit: usize) -> Vec<WatchResponse> {
    if resp.encoded_len() < limit || resp.events.len() < 2 {
        return vec![resp];
    }
    let mut events = resp.events.clone().into_iter().peekable();
    let empty = WatchResponse {
        events: Vec::new(),
        fragment: true,
        ..resp
    };
    let mut out = Vec::new();
    while events.peek().is_some() {
        let mut cur = empty.clone();
        while let Some(e) = events.peek() {
            cur.events.push(e.clone());
            if cur.events.len() > 1 && cur.encoded_len() >= limit {
                cur.events.pop();
                break;
            }
            events.next();
        }
        if events.peek().is_none() {
            cur.fragment = false;
        }
        out.push(cur);
    }
    out
}
