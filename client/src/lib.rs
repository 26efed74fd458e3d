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
//! holds the lock and election recipes. With a user configured, [`auth`]
//! logs in and every call, unary or stream, carries the token; a call
//! refused for its token is sent again after a new login.
//!
//! Two small pieces of etcd's conventions live here because client and
//! server both need them: [`prefix_end`] and Go's [`duration`] syntax.

pub mod auth;
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
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use pb::auth_client::AuthClient;
use pb::cluster_client::ClusterClient;
use pb::kv_client::KvClient;
use pb::lease_client::LeaseClient;
use pb::maintenance_client::MaintenanceClient;
use tokio::time::{Instant, sleep, timeout_at};
use tonic::transport::Channel;

use auth::{Auth, AuthChannel, Stamp};
use endpoints::Endpoints;
use retry::{Policy, Verdict};

pub use config::{ClientConfig, Credentials, User};
pub use error::Error;
pub use lease::KeepAlive;
pub use watch::{WatchOptions, WatchStream, Watcher};

/// The gRPC messages the client sends and receives, re-exported so callers
/// need not depend on `cairn-proto` themselves.
pub use cairn_proto::{authpb, etcdserverpb as pb, mvccpb};

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
    auth: Auth,
}

/// A login in flight: boxed, because logging in is itself a call and a
/// call may log in.
type Login<'a> = Pin<Box<dyn Future<Output = Result<String, Error>> + Send + 'a>>;

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
        let auth = Auth::new(config.user.clone());
        let client = Client {
            inner: Arc::new(Inner {
                endpoints,
                config,
                auth,
            }),
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
    /// policy refuses a retry, or the command timeout passes. The channel
    /// it gets sends the login token; a token the server refuses is
    /// replaced and the attempt made again (see [`auth`]).
    pub async fn unary<T, F, Fut>(&self, policy: Policy, attempt: F) -> Result<T, Error>
    where
        F: FnMut(AuthChannel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.call(policy, true, attempt).await
    }

    /// [`Client::unary`], without a token when `authed` is false (the
    /// login itself).
    async fn call<T, F, Fut>(
        &self,
        policy: Policy,
        authed: bool,
        mut attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut(AuthChannel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let timeout = self.inner.config.command_timeout;
        let deadline = Instant::now() + timeout;
        let mut stamp = if authed {
            match timeout_at(deadline, self.stamp()).await {
                Ok(stamp) => stamp?,
                Err(_) => return Err(Error::Login(Box::new(Error::Timeout(timeout)))),
            }
        } else {
            Stamp::default()
        };
        let mut refreshes = 0;
        let mut last: Option<tonic::Status> = None;
        // After a new login, the attempt goes again to the member that
        // refused the token, which has just issued the new one.
        let mut again: Option<endpoints::Picked> = None;
        loop {
            let picked = again.take().unwrap_or_else(|| self.inner.endpoints.pick());
            let channel = auth::with_token(picked.channel.clone(), stamp.token.clone());
            let outcome = timeout_at(deadline, attempt(channel)).await;
            let status = match outcome {
                Ok(Ok(response)) => {
                    self.inner.endpoints.succeeded(picked.index);
                    return Ok(response.into_inner());
                }
                Ok(Err(status)) => status,
                Err(_) => return Err(deadline_passed(timeout, last)),
            };
            if authed
                && refreshes < auth::MAX_REFRESHES
                && auth::needs_new_token(&status, self.inner.auth.user().is_some())
            {
                // The server refused the token before acting on the
                // request: any call may be sent again with a new one.
                refreshes += 1;
                let refresh = self.refresh(stamp.generation, &picked.channel);
                stamp = match timeout_at(deadline, refresh).await {
                    Ok(stamp) => stamp?,
                    Err(_) => return Err(deadline_passed(timeout, Some(status))),
                };
                again = Some(picked);
                continue;
            }
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
    pub async fn at<T, F, Fut>(&self, url: &str, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut(AuthChannel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let channel = self.inner.endpoints.channel_for(url)?;
        let timeout = self.inner.config.command_timeout;
        let work = async {
            let mut stamp = self.stamp().await?;
            let mut refreshes = 0;
            loop {
                let authed = auth::with_token(channel.clone(), stamp.token.clone());
                match attempt(authed).await {
                    Ok(r) => return Ok(r.into_inner()),
                    Err(s)
                        if refreshes < auth::MAX_REFRESHES
                            && auth::needs_new_token(&s, self.inner.auth.user().is_some()) =>
                    {
                        refreshes += 1;
                        stamp = self.refresh(stamp.generation, &channel).await?;
                    }
                    Err(s) => return Err(Error::Server(s)),
                }
            }
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }

    /// Logs in now (with a user configured) rather than on the first call,
    /// so that a wrong password is reported before anything else happens.
    /// A failure is [`Error::Login`].
    pub async fn login(&self) -> Result<(), Error> {
        let timeout = self.inner.config.command_timeout;
        match tokio::time::timeout(timeout, self.stamp()).await {
            Ok(stamp) => stamp.map(|_| ()),
            Err(_) => Err(Error::Login(Box::new(Error::Timeout(timeout)))),
        }
    }

    /// The token for the next call, logging in first if nobody has.
    async fn stamp(&self) -> Result<Stamp, Error> {
        self.inner
            .auth
            .stamp(|user| self.authenticate(user, None))
            .await
    }

    /// A new token after the one of `generation` was refused by the
    /// member at `on`, fetched from that member.
    async fn refresh(&self, generation: u64, on: &Channel) -> Result<Stamp, Error> {
        self.inner
            .auth
            .refresh(generation, |user| self.authenticate(user, Some(on.clone())))
            .await
    }

    /// A token fetched just now from the member at `on`, for a stream about
    /// to open there. From that member: another one may not have applied
    /// the login yet, and would refuse the token.
    pub(crate) async fn stream_stamp(&self, on: &Channel) -> Result<Stamp, Error> {
        self.inner
            .auth
            .fresh(|user| self.authenticate(user, Some(on.clone())))
            .await
    }

    /// Auth/Authenticate as `user`: the token. On the member at `on` only
    /// (once, within the command timeout), or on any member.
    fn authenticate(&self, user: User, on: Option<Channel>) -> Login<'_> {
        Box::pin(async move {
            let req = pb::AuthenticateRequest {
                name: user.name,
                password: user.password,
            };
            let resp = match on {
                Some(channel) => {
                    let timeout = self.inner.config.command_timeout;
                    let mut auth = AuthClient::new(auth::with_token(channel, None));
                    match tokio::time::timeout(timeout, auth.authenticate(req)).await {
                        Ok(r) => r?.into_inner(),
                        Err(_) => return Err(Error::Timeout(timeout)),
                    }
                }
                // Repeatable: a second login only makes a second token.
                None => {
                    self.call(Policy::Repeatable, false, |ch| {
                        let req = req.clone();
                        async move { AuthClient::new(ch).authenticate(req).await }
                    })
                    .await?
                }
            };
            Ok(resp.token)
        })
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
        self.at(url, |ch| {
            let req = req.clone();
            async move { KvClient::new(ch).range(req).await }
        })
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
        let stamp = self.stream_stamp(&channel).await?;
        let mut stream = MaintenanceClient::new(auth::with_token(channel, stamp.token))
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

    // --------------------------------------------------------------- Auth
    //
    // Reads may be repeated on another member; changes are sent once, as
    // etcd's client does.

    pub async fn auth_enable(&self) -> Result<pb::AuthEnableResponse, Error> {
        self.unary(Policy::NonRepeatable, |ch| async move {
            AuthClient::new(ch)
                .auth_enable(pb::AuthEnableRequest {})
                .await
        })
        .await
    }

    pub async fn auth_disable(&self) -> Result<pb::AuthDisableResponse, Error> {
        self.unary(Policy::NonRepeatable, |ch| async move {
            AuthClient::new(ch)
                .auth_disable(pb::AuthDisableRequest {})
                .await
        })
        .await
    }

    pub async fn auth_status(&self) -> Result<pb::AuthStatusResponse, Error> {
        self.unary(Policy::Repeatable, |ch| async move {
            AuthClient::new(ch)
                .auth_status(pb::AuthStatusRequest {})
                .await
        })
        .await
    }

    /// UserAdd; with `no_password` the user can log in only by its
    /// certificate's common name.
    pub async fn user_add(
        &self,
        name: &str,
        password: &str,
        no_password: bool,
    ) -> Result<pb::AuthUserAddResponse, Error> {
        let req = pb::AuthUserAddRequest {
            name: name.to_owned(),
            password: password.to_owned(),
            options: Some(authpb::UserAddOptions { no_password }),
            hashed_password: String::new(),
        };
        self.unary(Policy::NonRepeatable, |ch| {
            let req = req.clone();
            async move { AuthClient::new(ch).user_add(req).await }
        })
        .await
    }

    pub async fn user_get(&self, name: &str) -> Result<pb::AuthUserGetResponse, Error> {
        let req = pb::AuthUserGetRequest { name: name.into() };
        self.unary(Policy::Repeatable, |ch| {
            let req = req.clone();
            async move { AuthClient::new(ch).user_get(req).await }
        })
        .await
    }

    pub async fn user_list(&self) -> Result<pb::AuthUserListResponse, Error> {
        self.unary(Policy::Repeatable, |ch| async move {
            AuthClient::new(ch)
                .user_list(pb::AuthUserListRequest {})
                .await
        })
        .await
    }

    pub async fn user_delete(&self, name: &str) -> Result<pb::AuthUserDeleteResponse, Error> {
        let req = pb::AuthUserDeleteRequest { name: name.into() };
        self.unary(Policy::NonRepeatable, |ch| {
            let req = req.clone();
            async move { AuthClient::new(ch).user_delete(req).await }
        })
        .await
    }

    pub async fn user_change_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<pb::AuthUserChangePasswordResponse, Error> {
        let req = pb::AuthUserChangePasswordRequest {
            name: name.into(),
            password: password.into(),
            hashed_password: String::new(),
        };
        self.unary(Policy::NonRepeatable, |ch| {
            let req = req.clone();
            async move { AuthClient::new(ch).user_change_password(req).await }
        })
        .await
    }

    pub async fn user_grant_role(
        &self,
        user: &str,
        role: &str,
    ) -> Result<pb::AuthUserGrantRoleResponse, Error> {
        let req = pb::AuthUserGrantRoleRequest {
            user: user.into(),
            role: role.into(),
        };
        self.unary(Policy::NonRepeatable, |ch| {
            let req = req.clone();
            async move { AuthClient::new(ch).user_grant_role(req).await }
        })
        .await
    }

    pub async fn user_revoke_role(
        &self,
        name: &str,
        role: &str,
    ) -> Result<pb::AuthUserRevokeRoleResponse, Error> {
        let req = pb::AuthUserRevokeRoleRequest {
            name: name.into(),
            role: role.into(),
        };
        self.unary(Policy::NonRepeatable, |ch| {
            let req = req.clone();
            async move { AuthClient::new(ch).user_revoke_role(req).await }
        })
        .await
    }

    pub async fn role_add(&self, name: &str) -> Result<pb::AuthRoleAddResponse, Error> {
        let req = pb::AuthRoleAddRequest { name: name.into() };
        self.unary(Policy::NonRepeatable, |ch| {
            let req = req.clone();
            async move { AuthClient::new(ch).role_add(req).await }
        })
        .await
    }

    pub async fn role_get(&self, role: &str) -> Result<pb::AuthRoleGetResponse, Error> {
        let req = pb::AuthRoleGetRequest { role: role.into() };
        self.unary(Policy::Repeatable, |ch| {
            let req = req.clone();
            async move { AuthClient::new(ch).role_get(req).await }
        })
        .await
    }

    pub async fn role_list(&self) -> Result<pb::AuthRoleListResponse, Error> {
        self.unary(Policy::Repeatable, |ch| async move {
            AuthClient::new(ch)
                .role_list(pb::AuthRoleListRequest {})
                .await
        })
        .await
    }

    pub async fn role_delete(&self, role: &str) -> Result<pb::AuthRoleDeleteResponse, Error> {
        let req = pb::AuthRoleDeleteRequest { role: role.into() };
        self.unary(Policy::NonRepeatable, |ch| {
            let req = req.clone();
            async move { AuthClient::new(ch).role_delete(req).await }
        })
        .await
    }

    pub async fn role_grant_permission(
        &self,
        name: &str,
        perm: authpb::Permission,
    ) -> Result<pb::AuthRoleGrantPermissionResponse, Error> {
        let req = pb::AuthRoleGrantPermissionRequest {
            name: name.into(),
            perm: Some(perm),
        };
        self.unary(Policy::NonRepeatable, |ch| {
            let req = req.clone();
            async move { AuthClient::new(ch).role_grant_permission(req).await }
        })
        .await
    }

    pub async fn role_revoke_permission(
        &self,
        role: &str,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<pb::AuthRoleRevokePermissionResponse, Error> {
        let req = pb::AuthRoleRevokePermissionRequest {
            role: role.into(),
            key: key.to_vec(),
            range_end: range_end.to_vec(),
        };
        self.unary(Policy::NonRepeatable, |ch| {
            let req = req.clone();
            async move { AuthClient::new(ch).role_revoke_permission(req).await }
        })
        .await
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
