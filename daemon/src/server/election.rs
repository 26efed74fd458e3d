//! etcd's v3election service: Campaign, Proclaim, Leader, Observe, Resign.
//!
//! etcd's election recipe (cairn_client's, run over the member's own
//! calls), so that etcdctl's client-side `elect`, other etcd clients and
//! this service take part in the same elections: a
//! candidate writes `<name>/<lease id in hex>` with its value and lease;
//! the oldest key under `<name>/` is the leader and its value the
//! proclamation. A leader is named by its key and that key's create
//! revision, so a stale leader (its key deleted and made again) can
//! neither proclaim nor resign.
//!
//! Must never: answer Campaign before every older candidate is gone, or
//! let Proclaim and Resign touch a key of another incarnation.

use std::pin::Pin;

use cairn_client::concurrency::{self, RecipeKv, created_at, delete_op, put_op};
use cairn_proto::etcdserverpb::{ResponseHeader, TxnRequest, WatchCreateRequest};
use cairn_proto::mvccpb::KeyValue;
use cairn_proto::mvccpb::event::EventType;
use cairn_proto::v3electionpb::election_server::Election;
use cairn_proto::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderKey, LeaderRequest, LeaderResponse, ProclaimRequest,
    ProclaimResponse, ResignRequest, ResignResponse,
};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::recipes::Recipes;

/// etcd's messages (its server returns them as plain errors: code Unknown).
const MISSING_LEADER_KEY: &str = "\"leader\" field must be provided";
const NOT_LEADER: &str = "election: not leader";
const NO_LEADER: &str = "election: no leader";

#[derive(Debug, Clone)]
pub struct ElectionService {
    recipes: Recipes,
}

impl ElectionService {
    pub fn new(recipes: Recipes) -> ElectionService {
        ElectionService { recipes }
    }

    /// This service acting with the credentials of `request`'s client.
    fn acting_for<T>(&self, request: &Request<T>) -> ElectionService {
        ElectionService {
            recipes: self.recipes.for_request(request),
        }
    }

    /// Replaces the leader's value if `leader` still names the current
    /// incarnation of its key.
    async fn proclaim_as(
        &self,
        leader: &LeaderKey,
        value: Vec<u8>,
    ) -> Result<Option<ResponseHeader>, Status> {
        let resp = self
            .recipes
            .txn(TxnRequest {
                compare: vec![created_at(&leader.key, leader.rev)],
                success: vec![put_op(&leader.key, value, leader.lease)],
                failure: vec![],
            })
            .await?;
        if !resp.succeeded {
            return Err(Status::unknown(NOT_LEADER));
        }
        Ok(resp.header)
    }

    /// Deletes the leader's key if it is still the same incarnation.
    async fn resign_as(&self, leader: &LeaderKey) -> Result<Option<ResponseHeader>, Status> {
        let resp = self
            .recipes
            .txn(TxnRequest {
                compare: vec![created_at(&leader.key, leader.rev)],
                success: vec![delete_op(&leader.key)],
                failure: vec![],
            })
            .await?;
        Ok(resp.header)
    }
}

/// The election's key prefix: `<name>/`.
fn prefix(name: &[u8]) -> Vec<u8> {
    let mut p = name.to_vec();
    p.push(b'/');
    p
}

/// Resigns a candidate whose Campaign request was dropped (the client
/// gave up) before it was elected.
struct GiveUp {
    service: Option<ElectionService>,
    leader: LeaderKey,
}

impl Drop for GiveUp {
    fn drop(&mut self) {
        if let Some(service) = self.service.take() {
            let leader = std::mem::take(&mut self.leader);
            tokio::spawn(async move {
                let _ = service.resign_as(&leader).await;
            });
        }
    }
}

type ObserveStream = Pin<Box<dyn Stream<Item = Result<LeaderResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Election for ElectionService {
    async fn campaign(
        &self,
        request: Request<CampaignRequest>,
    ) -> Result<Response<CampaignResponse>, Status> {
        let service = self.acting_for(&request);
        let req = request.into_inner();
        let lease = service.recipes.session_lease(req.lease).await?;
        let prefix = prefix(&req.name);
        let claim = concurrency::claim(&service.recipes, &prefix, lease, &req.value).await?;
        let leader = LeaderKey {
            name: req.name.clone(),
            key: claim.key.clone(),
            rev: claim.rev,
            lease,
        };
        let mut give_up = GiveUp {
            service: Some(service.clone()),
            leader: leader.clone(),
        };
        if claim.existing.is_some_and(|kv| kv.value != req.value) {
            // This lease campaigned before with another value: keep its
            // place in line, with the new value.
            service.proclaim_as(&leader, req.value).await?;
        }
        concurrency::wait_deletes(&service.recipes, &prefix, leader.rev - 1).await?;
        give_up.service = None;
        Ok(Response::new(CampaignResponse {
            header: claim.header,
            leader: Some(leader),
        }))
    }

    async fn proclaim(
        &self,
        request: Request<ProclaimRequest>,
    ) -> Result<Response<ProclaimResponse>, Status> {
        let service = self.acting_for(&request);
        let req = request.into_inner();
        let leader = req
            .leader
            .ok_or_else(|| Status::unknown(MISSING_LEADER_KEY))?;
        let header = service.proclaim_as(&leader, req.value).await?;
        Ok(Response::new(ProclaimResponse { header }))
    }

    async fn leader(
        &self,
        request: Request<LeaderRequest>,
    ) -> Result<Response<LeaderResponse>, Status> {
        let service = self.acting_for(&request);
        let prefix = prefix(&request.into_inner().name);
        let resp = service
            .recipes
            .range(concurrency::first_created(&prefix))
            .await?;
        let kv = resp
            .kvs
            .into_iter()
            .next()
            .ok_or_else(|| Status::unknown(NO_LEADER))?;
        Ok(Response::new(LeaderResponse {
            header: resp.header,
            kv: Some(kv),
        }))
    }

    type ObserveStream = ObserveStream;

    async fn observe(
        &self,
        request: Request<LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let service = self.acting_for(&request);
        let prefix = prefix(&request.into_inner().name);
        let (tx, rx) = mpsc::channel(16);
        let recipes = service.recipes.clone();
        tokio::spawn(async move {
            if let Err(e) = observe(&recipes, &prefix, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn resign(
        &self,
        request: Request<ResignRequest>,
    ) -> Result<Response<ResignResponse>, Status> {
        let service = self.acting_for(&request);
        let leader = request
            .into_inner()
            .leader
            .ok_or_else(|| Status::unknown(MISSING_LEADER_KEY))?;
        let header = service.resign_as(&leader).await?;
        Ok(Response::new(ResignResponse { header }))
    }
}

/// Streams the election's leader and each of its proclamations, then the
/// next leader's, until the observer goes away.
async fn observe(
    recipes: &Recipes,
    prefix: &[u8],
    tx: &mpsc::Sender<Result<LeaderResponse, Status>>,
) -> Result<(), Status> {
    loop {
        let resp = recipes.range(concurrency::first_created(prefix)).await?;
        let at = resp.header.map_or(0, |h| h.revision);
        let (mut header, kv) = match resp.kvs.into_iter().next() {
            Some(kv) => (resp.header, kv),
            None => {
                let (rev, kv) = first_put(recipes, prefix, at).await?;
                (
                    Some(ResponseHeader {
                        revision: rev,
                        ..recipes.header()
                    }),
                    kv,
                )
            }
        };
        let key = kv.key.clone();
        let next = header.map_or(0, |h| h.revision) + 1;
        if tx
            .send(Ok(LeaderResponse {
                header: header.take(),
                kv: Some(kv),
            }))
            .await
            .is_err()
        {
            return Ok(());
        }
        // Follow this leader's key until it is deleted.
        let mut watch = recipes
            .watch(WatchCreateRequest {
                key,
                start_revision: next,
                ..Default::default()
            })
            .await?;
        'leader: loop {
            let batch = watch.next().await?;
            for ev in batch.events {
                if ev.r#type == EventType::Delete as i32 {
                    break 'leader;
                }
                let update = LeaderResponse {
                    header: Some(ResponseHeader {
                        revision: batch.revision,
                        ..recipes.header()
                    }),
                    kv: ev.kv,
                };
                if tx.send(Ok(update)).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
}

/// Waits for the first put under `prefix` from revision `from` on; its
/// revision and key.
async fn first_put(recipes: &Recipes, prefix: &[u8], from: i64) -> Result<(i64, KeyValue), Status> {
    let mut watch = recipes
        .watch(WatchCreateRequest {
            key: prefix.to_vec(),
            range_end: cairn_client::prefix_end(prefix),
            start_revision: from,
            ..Default::default()
        })
        .await?;
    loop {
        let batch = watch.next().await?;
        if let Some(kv) = batch
            .events
            .into_iter()
            .filter(|e| e.r#type == EventType::Put as i32)
            .find_map(|e| e.kv)
        {
            return Ok((kv.mod_revision, kv));
        }
    }
}
