//! A member's own client for the Lock and Election services: its KV,
//! lease and watch calls, on which the recipes of `cairn_client::
//! concurrency` run.
//!
//! etcd serves v3lock and v3election by running its client library's
//! recipes (a mutex, an election) inside the server. cairn does the same
//! with its client library's recipes over [`Recipes`], so cairnctl's and
//! etcdctl's client-side `lock` and `elect`, other etcd clients and these
//! services contend for the very same keys (`<name>/<lease id in hex>`)
//! with the very same requests.
//!
//! Owns: issuing KV requests exactly as a client would (through the KV
//! service, so every check and the raft path apply), with the credentials
//! of the client the service call came from (as etcd's in-process client
//! carries the caller's token), and waiting for keys to go away. Must never: write the store directly or hold a lock across
//! an await.

use std::sync::Arc;

use cairn_client::concurrency::RecipeKv;
use cairn_proto::etcdserverpb::kv_server::Kv;
use cairn_proto::etcdserverpb::{
    DeleteRangeRequest, DeleteRangeResponse, LeaseGrantRequest, RangeRequest, RangeResponse,
    TxnRequest, TxnResponse, WatchCreateRequest,
};
use cairn_proto::mvccpb::event::EventType;
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

use super::auth::resolve;
use super::kv::KvService;
use super::lease::ServerLeases;
use super::read::Reads;
use super::state::Shared;
use super::tls::ClientIdentity;
use crate::auth::{Access, AuthInfo};
use crate::lease::LeaseApi;

/// The TTL of the lease a recipe grants itself when the caller gives none
/// (etcd's default session TTL, in seconds).
const SESSION_TTL: i64 = 60;

/// A member's own client: what the lock and election recipes call.
#[derive(Debug, Clone)]
pub struct Recipes {
    shared: Arc<Shared>,
    kv: KvService,
    leases: Arc<ServerLeases>,
    caller: Caller,
}

/// The credentials of the client a recipe acts for: its request metadata
/// (a token) and its certificate, resolved again on every call as they
/// would be for the client's own calls.
#[derive(Debug, Clone, Default)]
struct Caller {
    metadata: MetadataMap,
    identity: Option<ClientIdentity>,
}

impl Recipes {
    pub fn new(shared: Arc<Shared>, reads: Reads, leases: Arc<ServerLeases>) -> Recipes {
        let kv = KvService::new(Arc::clone(&shared), reads);
        Recipes {
            shared,
            kv,
            leases,
            caller: Caller::default(),
        }
    }

    /// These recipes acting for the client that sent `request`.
    pub fn for_request<T>(&self, request: &Request<T>) -> Recipes {
        Recipes {
            caller: Caller {
                metadata: request.metadata().clone(),
                identity: request.extensions().get::<ClientIdentity>().cloned(),
            },
            ..self.clone()
        }
    }

    /// `req` as a request from the caller.
    fn request<T>(&self, req: T) -> Request<T> {
        let mut extensions = tonic::Extensions::new();
        if let Some(identity) = &self.caller.identity {
            extensions.insert(identity.clone());
        }
        Request::from_parts(self.caller.metadata.clone(), extensions, req)
    }

    async fn who(&self) -> Result<AuthInfo, Status> {
        let identity = self.caller.identity.as_ref();
        Ok(resolve(&self.shared, &self.caller.metadata, identity).await?)
    }

    /// A header for a response this member makes up itself.
    pub fn header(&self) -> cairn_proto::etcdserverpb::ResponseHeader {
        self.shared.header()
    }

    /// The lease a session runs on: `lease`, or a new one with etcd's
    /// default session TTL when it is 0. etcd's recipes do not check that
    /// a given lease exists; the put that uses it does.
    pub async fn session_lease(&self, lease: i64) -> Result<i64, Status> {
        if lease != 0 {
            return Ok(lease);
        }
        let who = self.who().await?;
        let granted = self
            .leases
            .grant(
                LeaseGrantRequest {
                    ttl: SESSION_TTL,
                    id: 0,
                },
                &who,
            )
            .await
            .map_err(plain)?;
        Ok(granted.id)
    }

    pub async fn delete(&self, key: Vec<u8>) -> Result<DeleteRangeResponse, Status> {
        let req = DeleteRangeRequest {
            key,
            ..Default::default()
        };
        Ok(self
            .kv
            .delete_range(self.request(req))
            .await
            .map_err(plain)?
            .into_inner())
    }

    /// Opens a watch on this member's hub, if the caller may read what it
    /// watches (the Watch service's check).
    pub async fn watch(&self, req: WatchCreateRequest) -> Result<Watch, Status> {
        let who = self.who().await?;
        self.shared
            .auth()
            .check_keys(&who, &req.key, &req.range_end, Access::Read)
            .map_err(|e| plain(e.into()))?;
        let (stream, rx) = self.shared.hub.open_stream();
        stream.watch(&req).await;
        Ok(Watch {
            _stream: stream,
            rx,
            shared: Arc::clone(&self.shared),
        })
    }
}

impl RecipeKv for Recipes {
    type Error = Status;

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, Status> {
        Ok(self
            .kv
            .txn(self.request(req))
            .await
            .map_err(plain)?
            .into_inner())
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, Status> {
        Ok(self
            .kv
            .range(self.request(req))
            .await
            .map_err(plain)?
            .into_inner())
    }

    async fn wait_delete(&self, key: Vec<u8>, after: i64) -> Result<(), Status> {
        let mut watch = self
            .watch(WatchCreateRequest {
                key,
                start_revision: after + 1,
                ..Default::default()
            })
            .await?;
        loop {
            let batch = watch.next().await?;
            if batch
                .events
                .iter()
                .any(|e| e.r#type == EventType::Delete as i32)
            {
                return Ok(());
            }
        }
    }
}

/// One watch opened by a recipe; closed when dropped.
#[derive(Debug)]
pub struct Watch {
    _stream: crate::watch::WatchStream,
    rx: tokio::sync::mpsc::Receiver<crate::watch::Outgoing>,
    shared: Arc<Shared>,
}

/// What a recipe gets from a watch: its events and the header revision.
#[derive(Debug)]
pub struct WatchBatch {
    pub events: Vec<cairn_proto::mvccpb::Event>,
    pub revision: i64,
}

impl Watch {
    /// The next response carrying events. A cancelled watch (its start
    /// revision was compacted) or a closed hub is an error, as a client's
    /// watch channel closing is for etcd's recipes.
    pub async fn next(&mut self) -> Result<WatchBatch, Status> {
        loop {
            let Some(out) = self.rx.recv().await else {
                return Err(Status::unknown("etcdserver: server stopped"));
            };
            let resp = out.response;
            if resp.canceled {
                return Err(Status::unknown(
                    "etcdserver: mvcc: required revision has been compacted",
                ));
            }
            if !resp.events.is_empty() {
                let revision = out
                    .revision
                    .unwrap_or_else(|| self.shared.header().revision);
                return Ok(WatchBatch {
                    events: resp.events,
                    revision,
                });
            }
        }
    }
}

/// etcd runs its recipes on its own client, so a failed call reaches the
/// caller as a plain error: code Unknown, the message kept.
fn plain(status: Status) -> Status {
    Status::unknown(status.message())
}
