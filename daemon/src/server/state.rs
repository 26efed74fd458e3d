//! What the raft thread and the gRPC services share: the store, the raft
//! position as last seen, the callers waiting for their proposals and
//! reads, and the channel into the raft thread.
//!
//! Owns: [`Shared`], the [`Input`]s the raft thread accepts, and the
//! request id generator. Must never: block on the network or on disk while
//! holding one of its locks (the store lock is held only for a read or one
//! Ready's worth of applies).
//!
//! Invariants: a proposal's waiter is registered before the proposal is
//! handed to the raft thread, and removed exactly once (answered by the
//! apply loop, failed by the raft thread, or dropped by its timed-out
//! caller); `applied` only grows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cairn_proto::etcdserverpb::{
    AlarmResponse, AuthDisableResponse, AuthEnableResponse, AuthRoleAddResponse,
    AuthRoleDeleteResponse, AuthRoleGrantPermissionResponse, AuthRoleRevokePermissionResponse,
    AuthUserAddResponse, AuthUserChangePasswordResponse, AuthUserDeleteResponse,
    AuthUserGrantRoleResponse, AuthUserRevokeRoleResponse, AuthenticateResponse,
    CompactionResponse, DeleteRangeResponse, LeaseGrantResponse, LeaseRevokeResponse, PutResponse,
    ResponseHeader, TxnResponse,
};
use tokio::sync::{oneshot, watch};

use super::metrics::Metrics;
use crate::auth::AuthState;
use crate::auth::password::Passwords;
use crate::auth::tokens::TokenProvider;
use crate::etcd_error::EtcdError;
use crate::lease::{LeaseIdGen, Lessor};
use crate::mvcc::MvccStore;
use crate::mvcc::validate::Limits;
use crate::raft::{ConfChange, Message, NodeId};
use crate::watch::WatchHub;

/// What the raft thread accepts. Everything reaches it through one bounded
/// channel, so a flood of requests fails fast instead of queueing forever.
#[derive(Debug)]
pub enum Input {
    /// Propose an encoded `cairn.internal.v1.Request` whose id is `id`.
    Propose { id: u64, data: Bytes },
    /// Ask for a read index for the read batch `ctx`.
    ReadIndex { ctx: u64 },
    /// A raft message from a peer.
    Step(Message),
    /// A peer could not be reached.
    Unreachable(NodeId),
    /// A snapshot send to `to` finished.
    SnapshotStatus { to: NodeId, failed: bool },
    /// Propose a membership change; the waiter of `id` hears when this
    /// member applies it.
    ProposeConfChange { id: u64, cc: ConfChange },
    /// Promote learner `learner` to voter, if this member leads and the
    /// learner's log is close enough to its own (etcd's rule: 90%).
    PromoteLearner { id: u64, learner: NodeId },
    /// A peer says the cluster removed this member.
    RemovedFromCluster,
    /// Hand leadership to `to`.
    TransferLeader(NodeId),
    /// Stop the raft thread after flushing the store.
    Shutdown,
}

/// The result of applying one request, as its caller receives it.
#[derive(Debug, Clone)]
pub enum Outcome {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compaction(CompactionResponse),
    LeaseGrant(LeaseGrantResponse),
    LeaseRevoke(LeaseRevokeResponse),
    Alarm(AlarmResponse),
    Auth(AuthOutcome),
    /// Applied; nothing to report (member attributes, checkpoints).
    Done,
}

/// The answer to an applied auth change or login.
#[derive(Debug, Clone)]
pub enum AuthOutcome {
    Enable(AuthEnableResponse),
    Disable(AuthDisableResponse),
    /// The token, and the auth revision the login was applied under.
    Authenticate(AuthenticateResponse, u64),
    UserAdd(AuthUserAddResponse),
    UserDelete(AuthUserDeleteResponse),
    UserChangePassword(AuthUserChangePasswordResponse),
    UserGrantRole(AuthUserGrantRoleResponse),
    UserRevokeRole(AuthUserRevokeRoleResponse),
    RoleAdd(AuthRoleAddResponse),
    RoleDelete(AuthRoleDeleteResponse),
    RoleGrantPermission(AuthRoleGrantPermissionResponse),
    RoleRevokePermission(AuthRoleRevokePermissionResponse),
}

type Waiter = oneshot::Sender<Result<Outcome, EtcdError>>;
type ReadWaiter = oneshot::Sender<Result<u64, EtcdError>>;

/// The raft state as the raft thread last published it, for headers,
/// Status and metrics. Each value is individually current; together they
/// are a recent view, not an atomic snapshot.
#[derive(Debug, Default)]
pub struct RaftView {
    pub term: AtomicU64,
    pub leader: AtomicU64,
    pub commit: AtomicU64,
    pub applied: AtomicU64,
    pub is_leader: AtomicBool,
    pub is_learner: AtomicBool,
}

/// Limits and timeouts the services apply before proposing.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    pub request: Limits,
    /// How long a proposal or read may wait for raft before the caller gets
    /// "request timed out" (etcd: 5 s plus two election timeouts).
    pub request_timeout: Duration,
    /// How long a request waits for a leader to appear before failing with
    /// "no leader".
    pub leader_wait: Duration,
    /// Committed-but-unapplied entries beyond which new proposals fail with
    /// "too many requests" (etcd's 5000).
    pub max_apply_lag: u64,
    /// `--quota-backend-bytes`: writes that would take the backend beyond
    /// it raise NOSPACE (`None`: no quota).
    pub quota_bytes: Option<u64>,
}

/// Who this member is.
#[derive(Debug, Clone)]
pub struct Identity {
    pub cluster_id: u64,
    pub member_id: u64,
    pub name: String,
}

/// State shared between the raft thread and the request handlers.
#[derive(Debug)]
pub struct Shared {
    pub cluster_id: u64,
    pub member_id: u64,
    pub name: String,
    /// Shared with the watch hub, which reads history from it.
    pub store: Arc<RwLock<MvccStore>>,
    pub raft: RaftView,
    pub limits: ServeLimits,
    pub metrics: Metrics,
    /// Watchers; the apply loop announces events to it after releasing the
    /// store's lock.
    pub hub: Arc<WatchHub>,
    /// Lease table; lock order: store before lessor.
    pub lessor: Mutex<Lessor>,
    inputs: SyncSender<Input>,
    waiters: Mutex<HashMap<u64, Waiter>>,
    reads: Mutex<HashMap<u64, ReadWaiter>>,
    applied_tx: watch::Sender<u64>,
    leader_tx: watch::Sender<u64>,
    ids: LeaseIdGen,
    /// The auth state as of the last applied entry, published by the raft
    /// thread before it publishes the applied index.
    auth: RwLock<Arc<AuthState>>,
    /// This member's tokens; the apply loop fills the simple ones.
    pub tokens: TokenProvider,
    pub passwords: Passwords,
    /// `--client-cert-auth`: a client certificate's common name is the
    /// user when no token is given.
    pub client_cert_auth: bool,
}

/// The auth settings of the server's flags.
#[derive(Debug)]
pub struct AuthSettings {
    /// `--auth-token` (with `--auth-token-ttl` for simple tokens).
    pub tokens: TokenProvider,
    /// `--bcrypt-cost`.
    pub bcrypt_cost: u32,
    /// `--client-cert-auth`.
    pub client_cert_auth: bool,
}

impl Shared {
    pub fn new(
        Identity {
            cluster_id,
            member_id,
            name,
        }: Identity,
        store: Arc<RwLock<MvccStore>>,
        hub: Arc<WatchHub>,
        lessor: Lessor,
        limits: ServeLimits,
        auth: AuthSettings,
        inputs: SyncSender<Input>,
    ) -> Shared {
        let (applied, auth_state) = {
            let store = store.read().unwrap_or_else(|e| e.into_inner());
            (store.applied().index, Arc::clone(store.auth()))
        };
        let raft = RaftView::default();
        raft.applied.store(applied, Ordering::Relaxed);
        Shared {
            cluster_id,
            member_id,
            name,
            store,
            hub,
            raft,
            limits,
            metrics: Metrics::default(),
            lessor: Mutex::new(lessor),
            inputs,
            waiters: Mutex::new(HashMap::new()),
            reads: Mutex::new(HashMap::new()),
            applied_tx: watch::channel(applied).0,
            leader_tx: watch::channel(0).0,
            ids: LeaseIdGen::new(
                member_id,
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
            ),
            auth: RwLock::new(auth_state),
            tokens: auth.tokens,
            passwords: Passwords::new(auth.bcrypt_cost),
            client_cert_auth: auth.client_cert_auth,
        }
    }

    /// The auth state as of the last applied entry.
    pub fn auth(&self) -> Arc<AuthState> {
        Arc::clone(&self.auth.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Publishes the store's auth state if it changed (by the raft thread,
    /// after applying, before publishing the applied index).
    pub fn publish_auth(&self, state: &Arc<AuthState>) {
        if Arc::ptr_eq(&self.auth.read().unwrap_or_else(|e| e.into_inner()), state) {
            return;
        }
        *self.auth.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(state);
    }

    /// A response header as of now.
    pub fn header(&self) -> ResponseHeader {
        let revision = self.read_store().current_revision();
        self.header_at(revision)
    }

    /// A response header reporting `revision`.
    pub fn header_at(&self, revision: i64) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.member_id,
            revision,
            raft_term: self.raft.term.load(Ordering::Relaxed),
        }
    }

    /// The store, for reading. A poisoned lock means the raft thread died
    /// mid-apply; the process is already on its way down.
    pub fn read_store(&self) -> std::sync::RwLockReadGuard<'_, MvccStore> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write_store(&self) -> std::sync::RwLockWriteGuard<'_, MvccStore> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh id in etcd's layout, unique among this member's requests
    /// and lease ids: positive, never 0.
    pub fn next_id(&self) -> i64 {
        self.ids.next()
    }

    pub fn lock_lessor(&self) -> std::sync::MutexGuard<'_, Lessor> {
        self.lessor.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `input` to the raft thread without waiting.
    pub fn send_input(&self, input: Input) -> Result<(), EtcdError> {
        match self.inputs.try_send(input) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(EtcdError::TooManyRequests),
            Err(TrySendError::Disconnected(_)) => Err(EtcdError::Stopped),
        }
    }

    /// Waits up to the configured time for some member to be leader.
    /// Waits until `target` leads, for at most `timeout`; false if it did
    /// not in time.
    pub async fn wait_for_leader_to_be(&self, target: u64, timeout: Duration) -> bool {
        let mut rx = self.leader_tx.subscribe();
        matches!(
            tokio::time::timeout(timeout, rx.wait_for(|l| *l == target)).await,
            Ok(Ok(_))
        )
    }

    pub async fn wait_for_leader(&self) -> Result<(), EtcdError> {
        let mut rx = self.leader_tx.subscribe();
        match tokio::time::timeout(self.limits.leader_wait, rx.wait_for(|l| *l != 0)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(EtcdError::NoLeader),
        }
    }

    /// Proposes `data` (an encoded request with id `id`) and waits for the
    /// outcome of applying it.
    pub async fn propose(&self, id: u64, data: Bytes) -> Result<Outcome, EtcdError> {
        self.submit(id, Input::Propose { id, data }).await
    }

    /// Hands `input`, which carries proposal `id`, to the raft thread and
    /// waits for the outcome of applying what it proposes.
    pub async fn submit(&self, id: u64, input: Input) -> Result<Outcome, EtcdError> {
        let commit = self.raft.commit.load(Ordering::Relaxed);
        let applied = self.raft.applied.load(Ordering::Relaxed);
        if commit.saturating_sub(applied) > self.limits.max_apply_lag {
            return Err(EtcdError::TooManyRequests);
        }
        self.wait_for_leader().await?;
        let (tx, rx) = oneshot::channel();
        self.lock_waiters().insert(id, tx);
        if let Err(e) = self.send_input(input) {
            self.lock_waiters().remove(&id);
            return Err(e);
        }
        self.metrics
            .proposals_pending
            .fetch_add(1, Ordering::Relaxed);
        let result = tokio::time::timeout(self.limits.request_timeout, rx).await;
        self.metrics
            .proposals_pending
            .fetch_sub(1, Ordering::Relaxed);
        match result {
            Ok(Ok(outcome)) => outcome,
            // The raft thread is gone.
            Ok(Err(_)) => Err(EtcdError::Stopped),
            Err(_) => {
                self.lock_waiters().remove(&id);
                self.metrics
                    .proposals_failed
                    .fetch_add(1, Ordering::Relaxed);
                Err(EtcdError::Timeout)
            }
        }
    }

    /// Answers the caller waiting for proposal `id`, if it is still waiting
    /// (only the proposing member has a waiter).
    pub fn finish(&self, id: u64, outcome: Result<Outcome, EtcdError>) {
        if let Some(tx) = self.lock_waiters().remove(&id) {
            let _ = tx.send(outcome);
        }
    }

    /// Registers read batch `ctx`; the raft thread answers it with
    /// [`Shared::finish_read`].
    pub fn register_read(&self, ctx: u64) -> oneshot::Receiver<Result<u64, EtcdError>> {
        let (tx, rx) = oneshot::channel();
        self.lock_reads().insert(ctx, tx);
        rx
    }

    pub fn forget_read(&self, ctx: u64) {
        self.lock_reads().remove(&ctx);
    }

    pub fn finish_read(&self, ctx: u64, index: Result<u64, EtcdError>) {
        if let Some(tx) = self.lock_reads().remove(&ctx) {
            let _ = tx.send(index);
        }
    }

    /// Publishes the applied index and wakes readers waiting for it.
    pub fn set_applied(&self, index: u64) {
        self.raft.applied.store(index, Ordering::Release);
        self.applied_tx.send_replace(index);
    }

    /// Waits until everything up to `index` is applied.
    pub async fn wait_applied(&self, index: u64) -> Result<(), EtcdError> {
        let mut rx = self.applied_tx.subscribe();
        let wait = rx.wait_for(|a| *a >= index);
        match tokio::time::timeout(self.limits.request_timeout, wait).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(EtcdError::Stopped),
            Err(_) => Err(EtcdError::Timeout),
        }
    }

    /// Publishes who leads now (0: nobody known).
    pub fn set_leader(&self, leader: u64, is_leader: bool) {
        self.raft.leader.store(leader, Ordering::Relaxed);
        self.raft.is_leader.store(is_leader, Ordering::Relaxed);
        self.leader_tx.send_replace(leader);
    }

    /// Fails every waiting caller (on shutdown, or when the raft thread
    /// dies), so none hangs until its timeout.
    pub fn fail_all(&self, e: EtcdError) {
        for (_, tx) in self.lock_waiters().drain() {
            let _ = tx.send(Err(e));
        }
        for (_, tx) in self.lock_reads().drain() {
            let _ = tx.send(Err(e));
        }
    }

    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waiter>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_reads(&self) -> std::sync::MutexGuard<'_, HashMap<u64, ReadWaiter>> {
        self.reads.lock().unwrap_or_else(|e| e.into_inner())
    }
}
