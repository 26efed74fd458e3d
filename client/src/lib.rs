//! The cairn client library, used by `cairnctl`, `cairntop` and the
//! server's own tests: a client of etcd's v3 gRPC API that balances unary
//! calls over several endpoints, retries the calls that are safe to repeat
//! on another endpoint, and keeps watches and lease keep-alives alive
//! across the loss of a member. It speaks to cairn and to etcd alike, and
//! links nothing of the server.
//!
//! [`Client`] is the entry point; [`ClientConfig`] says how to reach the
//! cluster. Every call returns a typed [`Error`]; nothing here prints.
//!
//! Unary calls go through [`Client::unary`]: pick an endpoint, run the
//! attempt, and on a failure the [`retry`] policy allows, mark the endpoint
//! and try the next, until the command timeout. The timeout bounds the
//! whole call, retries included, as etcdctl's `--command-timeout` does.
//! The streaming parts start in [`watch`] and [`lease`]; [`concurrency`]
//! holds the lock and election recipes.
//!
//! Two small pieces of etcd's conventions live here because client and
//! server both need them: [`prefix_end`] and Go's [`duration`] syntax.

pub mod concurrency;
pub mod config;
pub mod dial;
pub mod duration;
pub mod endpoints;
pub mod error;
pub mod lease;
pub mod retry;
pub mod watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use pb::cluster_client::ClusterClient;
use pb::kv_client::KvClient;
use pb::lease_client::LeaseClient;
use pb::maintenance_client::MaintenanceClient;
use tokio::time::{Instant, sleep, timeout_at};
use tonic::transport::Channel;

use endpoints::Endpoints;
use retry::{Policy, Verdict};

pub use config::{ClientConfig, Credentials};
pub use error::Error;
pub use lease::KeepAlive;
pub use watch::{WatchOptions, WatchStream, Watcher};

/// The gRPC messages the client sends and receives, re-exported so callers
/// need not depend on `cairn-proto` themselves.
pub use cairn_proto::{etcdserverpb as pb, mvccpb};

/// The `range_end` that selects every key starting with `prefix`: `prefix`
/// with its last byte below 0xff incremented (and what follows it
/// dropped); `[0]` (every key from `prefix` on) if there is none. The
/// server's recipes and key ranges use this same definition.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Pause before retrying on another endpoint, so a cluster electing a new
/// leader is not hammered.
const RETRY_PAUSE: Duration = Duration::from_millis(25);

/// A client of one cluster. Cheap to clone; clones share endpoints and
/// their health.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoints: Endpoints,
    config: ClientConfig,
}

/// The error of a call whose command timeout passed, `last` being the
/// last attempt's failure: a server's answer is returned as it is; a
/// connection that could not be made (refused, a TLS handshake failed) is
/// "context deadline exceeded", as etcdctl, whose balancer waits for a
/// connection until the deadline, reports it.
fn deadline_passed(timeout: Duration, last: Option<tonic::Status>) -> Error {
    match last {
        Some(status) if !retry::never_sent(&status) => Error::Server(status),
        _ => Error::Timeout(timeout),
    }
}

impl Client {
    /// A client for `config`. Nothing is dialled until the first call.
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let endpoints = Endpoints::new(&config)?;
        let client = Client {
            inner: Arc::new(Inner { endpoints, config }),
        };
        if let Some(every) = client.inner.config.auto_sync_interval {
            client.spawn_auto_sync(every);
        }
        Ok(client)
    }

    /// The resolved configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The endpoints currently balanced over.
    pub fn endpoints(&self) -> Vec<String> {
        self.inner.endpoints.urls()
    }

    pub(crate) fn balancer(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// Runs `attempt` on one endpoint after another until it succeeds, the
    /// policy refuses a retry, or the command timeout passes.
    pub async fn unary<T, F, Fut>(&self, policy: Policy, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let timeout = self.inner.config.command_timeout;
        let deadline = Instant::now() + timeout;
        let mut last: Option<tonic::Status> = None;
        loop {
            let picked = self.inner.endpoints.pick();
            let outcome = timeout_at(deadline, attempt(picked.channel.clone())).await;
            let status = match outcome {
                Ok(Ok(response)) => {
                    self.inner.endpoints.succeeded(picked.index);
                    return Ok(response.into_inner());
                }
                Ok(Err(status)) => status,
                Err(_) => return Err(deadline_passed(timeout, last)),
            };
            if retry::endpoint_failed(&status) {
                self.inner.endpoints.failed(picked.index);
            }
            if retry::judge(policy, &status) == Verdict::GiveUp {
                return Err(Error::Server(status));
            }
            last = Some(status);
            if Instant::now() + RETRY_PAUSE >= deadline {
                return Err(Error::Timeout(timeout));
            }
            sleep(RETRY_PAUSE).await;
        }
    }

    /// Runs `attempt` against the endpoint `url` only (commands about one
    /// member: endpoint status, health, hashkv), within the command timeout.
    pub async fn at<T, F, Fut>(&self, url: &str, attempt: F) -> Result<T, Error>
    where
        F: FnOnce(Channel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let channel = self.inner.endpoints.channel_for(url)?;
        let timeout = self.inner.config.command_timeout;
        match tokio::time::timeout(timeout, attempt(channel)).await {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(s)) => Err(Error::Server(s)),
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }

    // ----------------------------------------------------------------- KV

    pub async fn range(&self, req: pb::RangeRequest) -> Result<pb::RangeResponse, Error> {
        self.unary(Policy::Repeatable, |ch| {
            let req = req.clone();
            async move { KvClient::new(ch).range(req).await }
        })
        .await
    }

    pub async fn put(&self, req: pb::PutRequest) -> Result<pb::PutResponse, Error> {
        self.unary(Policy::NonRepeatable, |ch| {
            let req = req.clone();
            async move { KvClient::new(ch).put(req).await }
        })
        .await
    }

    pub async fn delete_range(
        &self,
        req: pb::DeleteRangeRequest,
    ) -> Result<pb::DeleteRangeResponse, Error> {
        self.unary(Policy::NonRepeatable, |ch| {
            let req = req.clone();
            async move { KvClient::new(ch).delete_range(req).await }
        })
        .await
    }

    pub async fn txn(&self, req: pb::TxnRequest) -> Result<pb::TxnResponse, Error> {
        self.unary(Policy::NonRepeatable, |ch| {
            let req = req.clone();
            async move { KvClient::new(ch).txn(req).await }
        })
        .await
    }

    pub async fn compact(
        &self,
        req: pb::CompactionRequest,
    ) -> Result<pb::CompactionResponse, Error> {
        self.unary(Policy::NonRepeatable, |ch| async move {
            KvClient::new(ch).compact(req).await
        })
        .await
    }

    // -------------------------------------------------------------- Lease

    pub async fn lease_grant(&self, ttl: i64, id: i64) -> Result<pb::LeaseGrantResponse, Error> {
        let req = pb::LeaseGrantRequest { ttl, id };
        self.unary(Policy::Repeatable, |ch| async move {
            LeaseClient::new(ch).lease_grant(req).await
        })
        .await
    }

    pub async fn lease_revoke(&self, id: i64) -> Result<pb::LeaseRevokeResponse, Error> {
        let req = pb::LeaseRevokeRequest { id };
        self.unary(Policy::Repeatable, |ch| async move {
            LeaseClient::new(ch).lease_revoke(req).await
        })
        .await
    }

    pub async fn lease_time_to_live(
        &self,
        id: i64,
        keys: bool,
    ) -> Result<pb::LeaseTimeToLiveResponse, Error> {
        let req = pb::LeaseTimeToLiveRequest { id, keys };
        self.unary(Policy::Repeatable, |ch| async move {
            LeaseClient::new(ch).lease_time_to_live(req).await
        })
        .await
    }

    pub async fn lease_leases(&self) -> Result<pb::LeaseLeasesResponse, Error> {
        self.unary(Policy::Repeatable, |ch| async move {
            LeaseClient::new(ch)
                .lease_leases(pb::LeaseLeasesRequest {})
                .await
        })
        .await
    }

    // ------------------------------------------------------------ Cluster

    pub async fn member_list(&self) -> Result<pb::MemberListResponse, Error> {
        self.unary(Policy::Repeatable, |ch| async move {
            ClusterClient::new(ch)
                .member_list(pb::MemberListRequest { linearizable: true })
                .await
        })
        .await
    }

    pub async fn member_add(
        &self,
        peer_urls: Vec<String>,
        is_learner: bool,
    ) -> Result<pb::MemberAddResponse, Error> {
        let req = pb::MemberAddRequest {
            peer_ur_ls: peer_urls,
            is_learner,
        };
        self.unary(Policy::NonRepeatable, |ch| {
            let req = req.clone();
            async move { ClusterClient::new(ch).member_add(req).await }
        })
        .await
    }

    pub async fn member_remove(&self, id: u64) -> Result<pb::MemberRemoveResponse, Error> {
        self.unary(Policy::NonRepeatable, |ch| async move {
            ClusterClient::new(ch)
                .member_remove(pb::MemberRemoveRequest { id })
                .await
        })
        .await
    }

    pub async fn member_update(
        &self,
        id: u64,
        peer_urls: Vec<String>,
    ) -> Result<pb::MemberUpdateResponse, Error> {
        let req = pb::MemberUpdateRequest {
            id,
            peer_ur_ls: peer_urls,
        };
        self.unary(Policy::NonRepeatable, |ch| {
            let req = req.clone();
            async move { ClusterClient::new(ch).member_update(req).await }
        })
        .await
    }

    pub async fn member_promote(&self, id: u64) -> Result<pb::MemberPromoteResponse, Error> {
        self.unary(Policy::NonRepeatable, |ch| async move {
            ClusterClient::new(ch)
                .member_promote(pb::MemberPromoteRequest { id })
                .await
        })
        .await
    }

    // -------------------------------------------------------- Maintenance

    pub async fn alarm(&self, req: pb::AlarmRequest) -> Result<pb::AlarmResponse, Error> {
        self.unary(Policy::Repeatable, |ch| async move {
            MaintenanceClient::new(ch).alarm(req).await
        })
        .await
    }

    pub async fn status_at(&self, url: &str) -> Result<pb::StatusResponse, Error> {
        self.at(url, |ch| async move {
            MaintenanceClient::new(ch)
                .status(pb::StatusRequest {})
                .await
        })
        .await
    }

    pub async fn hash_kv_at(&self, url: &str, revision: i64) -> Result<pb::HashKvResponse, Error> {
        self.at(url, |ch| async move {
            MaintenanceClient::new(ch)
                .hash_kv(pb::HashKvRequest { revision })
                .await
        })
        .await
    }

    pub async fn defragment_at(&self, url: &str) -> Result<pb::DefragmentResponse, Error> {
        self.at(url, |ch| async move {
            MaintenanceClient::new(ch)
                .defragment(pb::DefragmentRequest {})
                .await
        })
        .await
    }

    pub async fn range_at(
        &self,
        url: &str,
        req: pb::RangeRequest,
    ) -> Result<pb::RangeResponse, Error> {
        self.at(url, |ch| async move { KvClient::new(ch).range(req).await })
            .await
    }

    /// MoveLeader sent to `url`, which must be the current leader.
    pub async fn move_leader_at(
        &self,
        url: &str,
        target_id: u64,
    ) -> Result<pb::MoveLeaderResponse, Error> {
        self.at(url, |ch| async move {
            MaintenanceClient::new(ch)
                .move_leader(pb::MoveLeaderRequest { target_id })
                .await
        })
        .await
    }

    /// Streams a snapshot of the backend of the member at `url` into
    /// `sink`, chunk by chunk, with the bytes the server says remain after
    /// each chunk. Not retried: a snapshot is of one member, and a broken
    /// stream leaves a partial file the caller must discard.
    pub async fn snapshot_at(
        &self,
        url: &str,
        mut sink: impl FnMut(&[u8], u64) -> std::io::Result<()>,
    ) -> Result<u64, Error> {
        let channel = self.inner.endpoints.channel_for(url)?;
        let mut stream = MaintenanceClient::new(channel)
            .snapshot(pb::SnapshotRequest {})
            .await?
            .into_inner();
        let mut total = 0u64;
        while let Some(chunk) = stream.message().await? {
            total += chunk.blob.len() as u64;
            sink(&chunk.blob, chunk.remaining_bytes)?;
        }
        Ok(total)
    }

    /// Refreshes the endpoint list from MemberList every `every`.
    fn spawn_auto_sync(&self, every: Duration) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                let client = Client { inner };
                if let Ok(list) = client.member_list().await {
                    let urls: Vec<String> = list
                        .members
                        .iter()
                        .flat_map(|m| m.client_ur_ls.iter().cloned())
                        .collect();
                    let _ = client.inner.endpoints.replace(&urls);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(b"lock/"), b"lock0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }
}
