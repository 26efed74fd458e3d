//! Locks and elections built from KV, Lease and Watch alone, with the same
//! key layout and algorithm as etcd's client (`<name>/<lease id in hex>`,
//! the owner is the key created first), so that cairnctl and etcdctl
//! contend for the same lock and see the same leader. Nothing here needs
//! the server's Lock or Election services.
//!
//! A [`Session`] is a lease kept alive in the background; every key a lock
//! or campaign writes is attached to it, so a holder that dies releases
//! what it held when its lease expires.
//!
//! The steps ([`claim`] a place in line, [`wait_deletes`] of the keys
//! ahead) run over any [`RecipeKv`]: this client, or the server's own
//! calls, for its Lock and Election services.

use cairn_proto::etcdserverpb as pb;
use cairn_proto::mvccpb;
use std::future::Future;

use pb::compare::{CompareResult, CompareTarget, TargetUnion};
use pb::range_request::{SortOrder, SortTarget};
use pb::request_op::Request;
use pb::response_op::Response;

use super::Client;
use super::error::Error;
use super::lease::KeepAlive;
use super::watch::WatchOptions;

/// A lease kept alive until dropped (or revoked with [`Session::close`]).
#[derive(Debug)]
pub struct Session {
    client: Client,
    lease: i64,
    keep_alive: KeepAlive,
}

impl Session {
    /// Grants a lease of `ttl` seconds and starts keeping it alive.
    pub async fn new(client: &Client, ttl: i64) -> Result<Session, Error> {
        let lease = client.lease_grant(ttl, 0).await?.id;
        let keep_alive = client.lease_keep_alive(lease);
        Ok(Session {
            client: client.clone(),
            lease,
            keep_alive,
        })
    }

    pub fn lease(&self) -> i64 {
        self.lease
    }

    /// Waits until the session's lease is lost (expired or revoked).
    pub async fn done(&mut self) {
        while let Some(Ok(_)) = self.keep_alive.next().await {}
    }

    /// Revokes the lease, releasing every key attached to it.
    pub async fn close(self) -> Result<(), Error> {
        self.client.lease_revoke(self.lease).await.map(|_| ())
    }
}

/// etcd's message when a lock holder's key vanished while it waited (its
/// lease ended).
pub const SESSION_EXPIRED: &str = "mutex: session is expired";

/// What the recipes need of a cluster. The client implements it over the
/// network; the server implements it over its own KV service and watch
/// hub (its Lock and Election services run these same recipes, as etcd's
/// server runs its client library's), so both contend for the same keys
/// the same way.
pub trait RecipeKv: Sync {
    type Error: Send;

    fn txn(
        &self,
        req: pb::TxnRequest,
    ) -> impl Future<Output = Result<pb::TxnResponse, Self::Error>> + Send;

    fn range(
        &self,
        req: pb::RangeRequest,
    ) -> impl Future<Output = Result<pb::RangeResponse, Self::Error>> + Send;

    /// Waits for a delete of `key` at a revision after `after`.
    fn wait_delete(
        &self,
        key: Vec<u8>,
        after: i64,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

impl RecipeKv for Client {
    type Error = Error;

    async fn txn(&self, req: pb::TxnRequest) -> Result<pb::TxnResponse, Error> {
        Client::txn(self, req).await
    }

    async fn range(&self, req: pb::RangeRequest) -> Result<pb::RangeResponse, Error> {
        Client::range(self, req).await
    }

    async fn wait_delete(&self, key: Vec<u8>, after: i64) -> Result<(), Error> {
        let mut watcher = self.watch(WatchOptions {
            key,
            start_revision: after + 1,
            ..Default::default()
        });
        loop {
            match watcher.next().await {
                Some(Ok(r)) if r.events.iter().any(is_delete) => return Ok(()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Err(Error::Stream("watch ended while waiting".into())),
            }
        }
    }
}

fn is_delete(event: &mvccpb::Event) -> bool {
    event.r#type == mvccpb::event::EventType::Delete as i32
}

/// The key a session owns under `prefix`, as etcd's client names it:
/// `<prefix><lease id in lower-case hex>`.
pub fn session_key(prefix: &[u8], lease: i64) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(format!("{lease:x}").as_bytes());
    key
}

/// The key under `prefix` created first (the owner or leader), as a
/// Range (etcd's `WithFirstCreate`).
pub fn first_created(prefix: &[u8]) -> pb::RangeRequest {
    by_create_revision(prefix, SortOrder::Ascend, 0)
}

/// One key under `prefix` sorted by create revision, optionally only
/// among keys created at or below `max_create_rev` (0: any).
fn by_create_revision(prefix: &[u8], order: SortOrder, max_create_rev: i64) -> pb::RangeRequest {
    pb::RangeRequest {
        key: prefix.to_vec(),
        range_end: super::prefix_end(prefix),
        limit: 1,
        sort_order: order as i32,
        sort_target: SortTarget::Create as i32,
        max_create_revision: max_create_rev,
        ..Default::default()
    }
}

/// `key`'s create revision equals `rev` (0: the key does not exist).
pub fn created_at(key: &[u8], rev: i64) -> pb::Compare {
    pb::Compare {
        result: CompareResult::Equal as i32,
        target: CompareTarget::Create as i32,
        key: key.to_vec(),
        target_union: Some(TargetUnion::CreateRevision(rev)),
        ..Default::default()
    }
}

pub fn put_op(key: &[u8], value: Vec<u8>, lease: i64) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(Request::RequestPut(pb::PutRequest {
            key: key.to_vec(),
            value,
            lease,
            ..Default::default()
        })),
    }
}

pub fn range_op(req: pb::RangeRequest) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(Request::RequestRange(req)),
    }
}

pub fn get_key_op(key: &[u8]) -> pb::RequestOp {
    range_op(pb::RangeRequest {
        key: key.to_vec(),
        ..Default::default()
    })
}

pub fn delete_op(key: &[u8]) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(Request::RequestDeleteRange(pb::DeleteRangeRequest {
            key: key.to_vec(),
            ..Default::default()
        })),
    }
}

/// The range response of a txn's `i`th operation.
pub fn range_at(resp: &pb::TxnResponse, i: usize) -> Option<&pb::RangeResponse> {
    match resp.responses.get(i)?.response.as_ref()? {
        Response::ResponseRange(r) => Some(r),
        _ => None,
    }
}

/// A session's place in line under a prefix, after [`claim`].
#[derive(Debug, Clone)]
pub struct Claim {
    /// The session's key.
    pub key: Vec<u8>,
    /// That key's create revision: its place in line.
    pub rev: i64,
    /// The header of the claiming txn.
    pub header: Option<pb::ResponseHeader>,
    /// The key created first under the prefix (the owner or leader).
    pub owner: Option<mvccpb::KeyValue>,
    /// The session's key as it was, when it existed before the claim.
    pub existing: Option<mvccpb::KeyValue>,
}

impl Claim {
    /// Whether the session is first in line already.
    pub fn is_first(&self) -> bool {
        self.owner
            .as_ref()
            .is_none_or(|o| o.create_revision == self.rev)
    }
}

/// Writes the session's key under `prefix` with `value` and `lease`
/// unless it exists already (a session keeps its place in line), and
/// reads who is first, in one txn.
pub async fn claim<K: RecipeKv>(
    kv: &K,
    prefix: &[u8],
    lease: i64,
    value: &[u8],
) -> Result<Claim, K::Error> {
    let key = session_key(prefix, lease);
    let resp = kv
        .txn(pb::TxnRequest {
            compare: vec![created_at(&key, 0)],
            success: vec![
                put_op(&key, value.to_vec(), lease),
                range_op(first_created(prefix)),
            ],
            failure: vec![get_key_op(&key), range_op(first_created(prefix))],
        })
        .await?;
    let owner = range_at(&resp, 1).and_then(|r| r.kvs.first().cloned());
    let (rev, existing) = if resp.succeeded {
        (resp.header.as_ref().map_or(0, |h| h.revision), None)
    } else {
        let existing = range_at(&resp, 0).and_then(|r| r.kvs.first().cloned());
        (
            existing.as_ref().map_or(0, |kv| kv.create_revision),
            existing,
        )
    };
    Ok(Claim {
        key,
        rev,
        header: resp.header,
        owner,
        existing,
    })
}

/// Waits until no key under `prefix` created at or before `max_rev`
/// remains: every earlier contender has gone. Each time the newest such
/// key is waited out, as etcd's recipes do, so a waiter only ever watches
/// the one key just ahead of it. Returns the last header seen.
pub async fn wait_deletes<K: RecipeKv>(
    kv: &K,
    prefix: &[u8],
    max_rev: i64,
) -> Result<Option<pb::ResponseHeader>, K::Error> {
    loop {
        let resp = kv
            .range(by_create_revision(prefix, SortOrder::Descend, max_rev))
            .await?;
        let Some(last) = resp.kvs.first() else {
            return Ok(resp.header);
        };
        let rev = resp.header.as_ref().map_or(0, |h| h.revision);
        kv.wait_delete(last.key.clone(), rev).await?;
    }
}

/// A held lock: its key and the header of the moment it was taken.
#[derive(Debug, Clone)]
pub struct Locked {
    pub key: Vec<u8>,
    pub header: pb::ResponseHeader,
}

/// Takes the lock `name` for `session`, waiting for earlier holders.
pub async fn lock(client: &Client, session: &Session, name: &str) -> Result<Locked, Error> {
    let prefix = format!("{name}/");
    let claim = claim(client, prefix.as_bytes(), session.lease, b"").await?;
    if claim.is_first() {
        return Ok(Locked {
            key: claim.key,
            header: claim.header.unwrap_or_default(),
        });
    }
    wait_deletes(client, prefix.as_bytes(), claim.rev - 1).await?;
    let held = client.range(get_key(&claim.key)).await?;
    if held.kvs.is_empty() {
        return Err(Error::Stream(SESSION_EXPIRED.into()));
    }
    Ok(Locked {
        key: claim.key,
        header: held.header.unwrap_or_default(),
    })
}

fn get_key(key: &[u8]) -> pb::RangeRequest {
    pb::RangeRequest {
        key: key.to_vec(),
        ..Default::default()
    }
}

/// Releases a lock by deleting its key.
pub async fn unlock(client: &Client, locked: &Locked) -> Result<(), Error> {
    client
        .delete_range(pb::DeleteRangeRequest {
            key: locked.key.clone(),
            ..Default::default()
        })
        .await
        .map(|_| ())
}

/// Campaigns in election `name` with `value`; returns the leader key once
/// this session leads.
pub async fn campaign(
    client: &Client,
    session: &Session,
    name: &str,
    value: &[u8],
) -> Result<Vec<u8>, Error> {
    let prefix = format!("{name}/");
    let claim = claim(client, prefix.as_bytes(), session.lease, value).await?;
    if claim.existing.is_some_and(|kv| kv.value != value) {
        // Already campaigning with another value: proclaim the new one.
        client
            .put(pb::PutRequest {
                key: claim.key.clone(),
                value: value.to_vec(),
                lease: session.lease,
                ..Default::default()
            })
            .await?;
    }
    wait_deletes(client, prefix.as_bytes(), claim.rev - 1).await?;
    Ok(claim.key)
}

/// The current leader of election `name`, as a Range response (empty when
/// there is none).
pub async fn leader(client: &Client, name: &str) -> Result<pb::RangeResponse, Error> {
    client
        .range(first_created(format!("{name}/").as_bytes()))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_use_the_lease_id_in_lower_case_hex() {
        assert_eq!(
            session_key(b"mylock/", 0x12c8a20e1a69e302),
            b"mylock/12c8a20e1a69e302".to_vec()
        );
    }
}
