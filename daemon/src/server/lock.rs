//! etcd's v3lock service: Lock and Unlock, a distributed mutex per name.
//!
//! The recipe is etcd's (cairn_client's, run over the member's own calls),
//! so that holders using etcdctl's client-side `lock`, other etcd clients
//! and this service exclude one another: a
//! waiter writes `<name>/<lease id in hex>` with its lease (unless that key
//! exists already) and owns the lock once no key under `<name>/` is older
//! than its own. It waits for the key just ahead of it to be deleted (by
//! Unlock, or its lease ending), never polling.
//!
//! Must never: return a key as locked while an older key exists, or leave
//! its key behind when the caller gives up waiting.

use cairn_client::concurrency::{self, RecipeKv, SESSION_EXPIRED};
use cairn_proto::v3lockpb::lock_server::Lock;
use cairn_proto::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};
use tonic::{Request, Response, Status};

use super::recipes::Recipes;

#[derive(Debug, Clone)]
pub struct LockService {
    recipes: Recipes,
}

impl LockService {
    pub fn new(recipes: Recipes) -> LockService {
        LockService { recipes }
    }
}

/// Deletes a waiter's key if the request is dropped (the client gave up)
/// before the lock was acquired.
struct GiveUp {
    recipes: Option<Recipes>,
    key: Vec<u8>,
}

impl GiveUp {
    fn disarm(mut self) {
        self.recipes = None;
    }
}

impl Drop for GiveUp {
    fn drop(&mut self) {
        if let Some(recipes) = self.recipes.take() {
            let key = std::mem::take(&mut self.key);
            tokio::spawn(async move {
                let _ = recipes.delete(key).await;
            });
        }
    }
}

#[tonic::async_trait]
impl Lock for LockService {
    async fn lock(&self, request: Request<LockRequest>) -> Result<Response<LockResponse>, Status> {
        let recipes = self.recipes.for_request(&request);
        let req = request.into_inner();
        let lease = self.recipes.session_lease(req.lease).await?;
        let mut prefix = req.name;
        prefix.push(b'/');
        let claim = concurrency::claim(&recipes, &prefix, lease, b"").await?;
        if claim.is_first() {
            return Ok(Response::new(LockResponse {
                header: claim.header,
                key: claim.key,
            }));
        }
        let give_up = GiveUp {
            recipes: Some(recipes.clone()),
            key: claim.key.clone(),
        };
        let waited = concurrency::wait_deletes(&recipes, &prefix, claim.rev - 1).await;
        let checked = match waited {
            Ok(_) => recipes.range(get_key(&claim.key)).await,
            Err(e) => Err(e),
        };
        let held = checked?;
        give_up.disarm();
        if held.kvs.is_empty() {
            return Err(Status::unknown(SESSION_EXPIRED));
        }
        Ok(Response::new(LockResponse {
            header: held.header,
            key: claim.key,
        }))
    }

    async fn unlock(
        &self,
        request: Request<UnlockRequest>,
    ) -> Result<Response<UnlockResponse>, Status> {
        let recipes = self.recipes.for_request(&request);
        let resp = recipes.delete(request.into_inner().key).await?;
        Ok(Response::new(UnlockResponse {
            header: resp.header,
        }))
    }
}

fn get_key(key: &[u8]) -> cairn_proto::etcdserverpb::RangeRequest {
    cairn_proto::etcdserverpb::RangeRequest {
        key: key.to_vec(),
        ..Default::default()
    }
}
