//! Locks and elections built from KV, Lease and Watch alone, with the same
//! key layout and algorithm as etcd's client (`<name>/<lease id in hex>`,
//! the owner is the key created first), so that cairnctl and etcdctl
//! contend for the same lock and see the same leader. Nothing here needs
//! the server's Lock or Election services.
//!
//! A [`Session`] is a lease kept alive in the background; every key a lock
//! or campaign writes is attached to it, so a holder that dies releases
//! what it held when its lease expires.

use cairn_proto::etcdserverpb as pb;
use cairn_proto::mvccpb;
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

/// The key a session owns under `prefix`, as etcd's client names it.
fn own_key(prefix: &str, lease: i64) -> Vec<u8> {
    format!("{prefix}{lease:x}").into_bytes()
}

/// The key under `prefix` created first (the owner or leader).
fn first_created(prefix: &[u8]) -> pb::RangeRequest {
    pb::RangeRequest {
        key: prefix.to_vec(),
        range_end: super::prefix_end(prefix),
        limit: 1,
        sort_order: SortOrder::Ascend as i32,
        sort_target: SortTarget::Create as i32,
        ..Default::default()
    }
}

/// Takes `key` for the session if no one has it yet (with `value`), and
/// returns the revision at which the session's key was created, the header
/// of the answer, and the current owner.
async fn claim(
    client: &Client,
    prefix: &[u8],
    key: &[u8],
    value: &[u8],
    lease: i64,
) -> Result<
    (
        i64,
        pb::ResponseHeader,
        Option<mvccpb::KeyValue>,
        Option<mvccpb::KeyValue>,
    ),
    Error,
> {
    let absent = pb::Compare {
        result: CompareResult::Equal as i32,
        target: CompareTarget::Create as i32,
        key: key.to_vec(),
        target_union: Some(TargetUnion::CreateRevision(0)),
        ..Default::default()
    };
    let put = pb::RequestOp {
        request: Some(Request::RequestPut(pb::PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            lease,
            ..Default::default()
        })),
    };
    let get_own = pb::RequestOp {
        request: Some(Request::RequestRange(pb::RangeRequest {
            key: key.to_vec(),
            ..Default::default()
        })),
    };
    let get_owner = pb::RequestOp {
        request: Some(Request::RequestRange(first_created(prefix))),
    };
    let resp = client
        .txn(pb::TxnRequest {
            compare: vec![absent],
            success: vec![put, get_owner.clone()],
            failure: vec![get_own, get_owner],
        })
        .await?;
    let header = resp.header.unwrap_or_default();
    let ranges: Vec<pb::RangeResponse> = resp
        .responses
        .into_iter()
        .filter_map(|r| match r.response {
            Some(Response::ResponseRange(r)) => Some(r),
            _ => None,
        })
        .collect();
    let owner = ranges.last().and_then(|r| r.kvs.first().cloned());
    let (my_rev, mine) = if resp.succeeded {
        (header.revision, None)
    } else {
        let mine = ranges.first().and_then(|r| r.kvs.first().cloned());
        (mine.as_ref().map_or(0, |kv| kv.create_revision), mine)
    };
    Ok((my_rev, header, owner, mine))
}

/// Waits until no key under `prefix` created at or before `max_rev`
/// remains: every earlier contender has gone. Returns the last header seen.
async fn wait_deletes(
    client: &Client,
    prefix: &[u8],
    max_rev: i64,
    mut header: pb::ResponseHeader,
) -> Result<pb::ResponseHeader, Error> {
    loop {
        let resp = client
            .range(pb::RangeRequest {
                key: prefix.to_vec(),
                range_end: super::prefix_end(prefix),
                limit: 1,
                sort_order: SortOrder::Descend as i32,
                sort_target: SortTarget::Create as i32,
                max_create_revision: max_rev,
                ..Default::default()
            })
            .await?;
        let rev = resp.header.as_ref().map_or(0, |h| h.revision);
        if let Some(h) = resp.header {
            header = h;
        }
        let Some(last) = resp.kvs.first() else {
            return Ok(header);
        };
        // Wait for that key's deletion, then look again.
        let mut watcher = client.watch(WatchOptions {
            key: last.key.clone(),
            start_revision: rev + 1,
            ..Default::default()
        });
        loop {
            match watcher.next().await {
                Some(Ok(r)) if r.events.iter().any(|e| e.r#type == 1) => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Err(Error::Stream("watch ended while waiting".into())),
            }
        }
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
    let key = own_key(&prefix, session.lease);
    let (my_rev, header, owner, _) =
        claim(client, prefix.as_bytes(), &key, b"", session.lease).await?;
    if owner.is_none_or(|o| o.create_revision == my_rev) {
        return Ok(Locked { key, header });
    }
    let header = wait_deletes(client, prefix.as_bytes(), my_rev - 1, header).await?;
    Ok(Locked { key, header })
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
    let key = own_key(&prefix, session.lease);
    let (my_rev, header, _, mine) =
        claim(client, prefix.as_bytes(), &key, value, session.lease).await?;
    if mine.is_some_and(|kv| kv.value != value) {
        // Already campaigning with another value: proclaim the new one.
        client
            .put(pb::PutRequest {
                key: key.clone(),
                value: value.to_vec(),
                lease: session.lease,
                ..Default::default()
            })
            .await?;
    }
    wait_deletes(client, prefix.as_bytes(), my_rev - 1, header).await?;
    Ok(key)
}

/// The current leader of election `name`, as a Range response (empty when
/// there is none).
pub async fn leader(client: &Client, name: &str) -> Result<pb::RangeResponse, Error> {
    client
        .range(first_created(format!("{name}/").as_bytes()))
        .await
}
