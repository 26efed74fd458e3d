//! The server: one member of a cairn cluster, serving etcd's v3 API.
//!
//! Owns: start-up (bootstrap a new member or restart from its data dir),
//! the raft thread ([`node`]), the services on the client and peer ports,
//! and shutdown. Must never: serve a client before the store has been
//! opened and raft started; start when the data dir disagrees with the
//! configuration.
//!
//! # Layout
//! - [`state`]: what the raft thread and the services share;
//! - [`node`]: the raft thread, the apply loop and local snapshots;
//! - [`read`]: batched ReadIndex for linearizable reads;
//! - [`kv`], [`cluster`], [`maintenance`]: etcd's gRPC services;
//! - [`lease`]: the Lease service over raft, forwarding, and lease expiry;
//!   the Watch service and its hub live in [`crate::watch`];
//! - [`http`]: `/health`, `/version`, `/metrics`;
//! - [`metrics`]: counters and their Prometheus rendering.
//!
//! # On disk
//! `<data-dir>/member/wal` (the WAL), `<data-dir>/member/snap` (raft
//! snapshots), `<data-dir>/member/db` (the sled store).

mod access;
mod apply;
pub mod auth;
pub mod cluster;
pub mod compactor;
pub mod corruption;
pub mod election;
pub mod http;
mod join;
pub mod kv;
pub mod lease;
pub mod lock;
pub mod maintenance;
pub mod metrics;
pub mod node;
pub mod offline;
mod peer_calls;
pub mod read;
pub mod recipes;
pub mod restore;
pub mod state;
mod tls;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use cairn_proto::etcdserverpb::Member;
use cairn_proto::etcdserverpb::auth_server::AuthServer;
use cairn_proto::etcdserverpb::cluster_server::ClusterServer;
use cairn_proto::etcdserverpb::kv_server::KvServer;
use cairn_proto::etcdserverpb::lease_server::LeaseServer;
use cairn_proto::etcdserverpb::maintenance_server::MaintenanceServer;
use cairn_proto::internal::{MemberAttributes, request::Op};
use cairn_proto::v3electionpb::election_server::ElectionServer;
use cairn_proto::v3lockpb::lock_server::LockServer;
use prost::Message as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;

use crate::auth::tokens::TokenProvider;
use crate::config::{ClusterState, ServerConfig};
use crate::lease::{LeaseService, Lessor, LessorConfig};
use crate::mvcc::{Limits, MvccStore, SledBackend, SledOptions, StoreConfig};
use crate::peer::dial::PeerDialer;
use crate::peer::transport::{Deliver, Inbound, Transport, TransportOptions};
use crate::raft::{Config as RaftConfig, Message, NodeId, RawNode};
use crate::raft_storage::{Bootstrap, DiskOptions, DiskStorage};
use crate::wal::Metadata;
use crate::watch::{WatchConfig, WatchHub, WatchService};
use cairn_proto::etcdserverpb::watch_server::WatchServer;
use node::{Ended, NodeLoop, NodeOptions, Outbox};
use read::Reads;
use state::{AuthSettings, Identity, Input, ServeLimits, Shared};

/// The etcd server version cairn reports in Status and `/version`: the
/// release whose behaviour it matches, so clients that check versions
/// (Kubernetes does) accept it. cairn's own version is logged and shown
/// beside it in `/version`.
pub const ETCD_VERSION: &str = "3.5.1";
/// The cluster version reported in `/version`.
pub const ETCD_CLUSTER_VERSION: &str = "3.5.0";

/// The stack of the raft thread and of the runtime's workers. Validating,
/// applying, answering and dropping a Txn recurse once per level of
/// nesting, up to `cairn_proto::nesting::MAX_TXN_DEPTH` (512) levels: a
/// debug build overflowed 8 MiB at about 1,700 levels, Rust's default
/// 2 MiB at a few hundred. Only the pages a thread touches take memory.
pub const THREAD_STACK_BYTES: usize = 8 << 20;

/// Bound of the raft thread's input channel: beyond it requests fail with
/// "too many requests" instead of queueing.
const INPUT_QUEUE: usize = 16 * 1024;

/// etcd accepts gRPC messages this much larger than --max-request-bytes,
/// so the size check can answer with etcd's own error.
const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// How long shutdown waits for the listeners and background tasks to
/// finish on their own (a client's open watch stream keeps a listener's
/// graceful shutdown waiting) before it cancels them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A running member.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    transport: Arc<Transport>,
    raft_thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    /// The listeners and background loops, joined at shutdown.
    tasks: tokio::task::JoinSet<()>,
    stop: watch::Sender<bool>,
    /// Set once by the raft thread when it ends.
    stopped: watch::Receiver<Option<Stopped>>,
    client_addrs: Vec<SocketAddr>,
}

/// Why a member stopped on its own (see [`Server::stopped`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Asked to, by [`Server::shutdown`].
    Shutdown,
    /// Removed from the cluster: etcd exits cleanly then, and a supervisor
    /// must not restart it into a cluster that no longer knows it.
    Removed,
    /// The raft thread failed (it could not persist or apply): the member
    /// must stop answering clients; [`Server::shutdown`] returns the error.
    Failed,
}

impl Outbox for Transport {
    fn send(&self, msgs: Vec<Message>) {
        Transport::send(self, msgs);
    }
    fn add_peer(&self, id: NodeId, urls: Vec<String>) {
        Transport::add_peer(self, id, urls);
    }
    fn remove_peer(&self, id: NodeId) {
        Transport::remove_peer(self, id);
    }
}

/// The member's identity and log, after bootstrap or restart.
struct Opened {
    storage: DiskStorage,
    cluster_id: u64,
    member_id: u64,
    /// Members to talk to before the store knows any (a joining member).
    peers: Vec<Member>,
}

/// Opens the member's log, or creates it when the data dir is new.
async fn open_or_bootstrap(
    cfg: &ServerConfig,
    member_dir: &Path,
    dialer: &PeerDialer,
) -> anyhow::Result<Opened> {
    if DiskStorage::exists(member_dir) {
        let (storage, report) = DiskStorage::open(member_dir, DiskOptions::default())
            .with_context(|| format!("opening the WAL in {}", member_dir.display()))?;
        if let Some((file, offset)) = &report.truncated_tail {
            tracing::warn!(file = %file.display(), offset, "cut a torn tail from the WAL");
        }
        let Metadata {
            cluster_id,
            member_id,
        } = storage.metadata();
        warn_if_flags_describe_another_member(cfg, cluster_id, member_id);
        tracing::info!(
            member = format_args!("{member_id:x}"),
            cluster = format_args!("{cluster_id:x}"),
            "restarting member from its data dir"
        );
        return Ok(Opened {
            storage,
            cluster_id,
            member_id,
            peers: Vec::new(),
        });
    }
    if cfg.initial_cluster_state == ClusterState::Existing {
        let joined = join::discover(cfg, dialer).await?;
        let storage = DiskStorage::create(
            member_dir,
            Metadata {
                cluster_id: joined.cluster_id,
                member_id: joined.member_id,
            },
            Bootstrap::Join,
            DiskOptions::default(),
        )
        .with_context(|| format!("creating the WAL in {}", member_dir.display()))?;
        return Ok(Opened {
            storage,
            cluster_id: joined.cluster_id,
            member_id: joined.member_id,
            peers: joined.members,
        });
    }
    bootstrap_new(cfg, member_dir)
}

/// Creates the log of a member of a new cluster: the founding members as
/// conf changes, each carrying its member record.
fn bootstrap_new(cfg: &ServerConfig, member_dir: &Path) -> anyhow::Result<Opened> {
    cfg.verify_bootstrap()?;
    let member_id = cfg
        .local_member_id()
        .context("this member is not in --initial-cluster")?;
    let cluster_id = cfg.initial_cluster_id();
    let members: Vec<(NodeId, Bytes)> = cfg
        .initial_cluster
        .iter()
        .zip(cfg.initial_member_ids())
        .map(|((name, urls), (_, id))| {
            let record = Member {
                id,
                name: name.clone(),
                peer_ur_ls: urls.iter().map(ToString::to_string).collect(),
                ..Member::default()
            };
            (id, Bytes::from(record.encode_to_vec()))
        })
        .collect();
    let storage = DiskStorage::create(
        member_dir,
        Metadata {
            cluster_id,
            member_id,
        },
        Bootstrap::NewClusterWithContext { members },
        DiskOptions::default(),
    )
    .with_context(|| format!("creating the WAL in {}", member_dir.display()))?;
    tracing::info!(
        member = format_args!("{member_id:x}"),
        cluster = format_args!("{cluster_id:x}"),
        "bootstrapped a new member"
    );
    Ok(Opened {
        storage,
        cluster_id,
        member_id,
        peers: Vec::new(),
    })
}

/// `--wal-dir`: the WAL lives in its own directory (often another disk);
/// `<data-dir>/member/wal` is a symbolic link to it, so everything else
/// finds the WAL where it always is. A data dir whose WAL is elsewhere is
/// refused rather than silently given a second, empty WAL.
fn link_wal_dir(member_dir: &Path, wal_dir: &Path) -> anyhow::Result<()> {
    let link = member_dir.join("wal");
    std::fs::create_dir_all(wal_dir)
        .with_context(|| format!("creating --wal-dir {}", wal_dir.display()))?;
    let target = std::fs::canonicalize(wal_dir)?;
    match std::fs::read_link(&link) {
        Ok(existing) if std::fs::canonicalize(&existing).ok().as_ref() == Some(&target) => Ok(()),
        Ok(existing) => bail!(
            "{} points to {}, not to --wal-dir {}",
            link.display(),
            existing.display(),
            wal_dir.display()
        ),
        Err(_) if link.exists() => bail!(
            "{} already holds a WAL; move it to --wal-dir {} or drop the flag",
            link.display(),
            wal_dir.display()
        ),
        Err(_) => std::os::unix::fs::symlink(&target, &link)
            .with_context(|| format!("linking {} to {}", link.display(), target.display())),
    }
}

/// A data dir that holds a member is what the member is: the bootstrap
/// flags (`--initial-cluster`, `--initial-cluster-token`,
/// `--initial-advertise-peer-urls`) no longer matter, as in etcd, which
/// ignores them once its data dir is initialized. They legitimately stop
/// describing the member after `member update` changed its peer URLs (the
/// move from http to https peers). When they describe another member, say
/// so, for the operator who pointed a member at the wrong data dir.
fn warn_if_flags_describe_another_member(cfg: &ServerConfig, cluster_id: u64, member_id: u64) {
    if cfg.initial_cluster_state != ClusterState::New {
        return;
    }
    let Some(configured_member) = cfg.local_member_id() else {
        return;
    };
    let configured_cluster = cfg.initial_cluster_id();
    if configured_cluster != cluster_id || configured_member != member_id {
        tracing::warn!(
            data_dir = %cfg.data_dir.display(),
            member = format_args!("{member_id:x}"),
            cluster = format_args!("{cluster_id:x}"),
            flags_member = format_args!("{configured_member:x}"),
            flags_cluster = format_args!("{configured_cluster:x}"),
            "the data dir holds another member than --name, --initial-cluster and \
             --initial-cluster-token describe; starting as the data dir's member (the bootstrap \
             flags only matter for a new data dir, as in etcd)"
        );
    }
}

fn listen_addr(url: &crate::config::urls::EtcdUrl) -> anyhow::Result<SocketAddr> {
    let host = url.host().trim_start_matches('[').trim_end_matches(']');
    let port = url.port().with_context(|| format!("{url} has no port"))?;
    let ip = if host == "localhost" {
        "127.0.0.1".parse()?
    } else {
        host.parse()
            .with_context(|| format!("cannot listen on {url}: host must be an IP address"))?
    };
    Ok(SocketAddr::new(ip, port))
}

impl Server {
    /// Starts the member described by `cfg` on the current tokio runtime.
    pub async fn start(cfg: &ServerConfig) -> anyhow::Result<Server> {
        if cfg.experimental_initial_corrupt_check {
            tracing::warn!(
                "--experimental-initial-corrupt-check has no effect in cairn: the periodic \
                 corruption check (--experimental-corrupt-check-time) runs from start-up"
            );
        }
        for line in &cfg.ignored_flags {
            tracing::warn!("{line}");
        }
        for name in &cfg.cipher_suites_not_offered {
            tracing::warn!(
                "--cipher-suites: {name} is not offered by cairn's TLS library; ignoring it"
            );
        }
        // Certificate problems stop the start before anything is written.
        let fixtures = cfg.data_dir.join("fixtures");
        let years = cfg.self_signed_cert_validity;
        let peer_tls = tls::self_signed(
            &cfg.peer_tls,
            &fixtures.join("peer"),
            &cfg.listen_peer_urls,
            years,
            "--peer-auto-tls",
        )?;
        let client_tls = tls::self_signed(
            &cfg.client_tls,
            &fixtures.join("client"),
            &cfg.listen_client_urls,
            years,
            "--auto-tls",
        )?;
        let dialer = tls::peer_dialer(&peer_tls)?;
        let peer_tls = tls::acceptor(&peer_tls)?;
        let client_tls = tls::acceptor(&client_tls)?;
        let member_dir = cfg.data_dir.join("member");
        std::fs::create_dir_all(&member_dir)
            .with_context(|| format!("creating {}", member_dir.display()))?;
        if let Some(wal_dir) = &cfg.wal_dir {
            link_wal_dir(&member_dir, wal_dir)?;
        }
        let Opened {
            storage,
            cluster_id,
            member_id,
            peers: joined_peers,
        } = open_or_bootstrap(cfg, &member_dir, &dialer).await?;
        let fsync = storage.fsync_histogram();
        let backend = SledBackend::open(&member_dir.join("db"), &SledOptions::default())
            .context("opening the sled store")?;
        let store = MvccStore::open(Box::new(backend), StoreConfig::default())
            .context("opening the MVCC store")?;

        let heartbeat = cfg.heartbeat_interval.max(Duration::from_millis(1));
        let election_tick =
            (cfg.election_timeout.as_millis() / heartbeat.as_millis()).max(2) as usize;
        let mut raft_cfg = RaftConfig::new(member_id);
        raft_cfg.election_tick = election_tick;
        raft_cfg.heartbeat_tick = 1;
        raft_cfg.pre_vote = cfg.pre_vote;
        raft_cfg.check_quorum = true;
        raft_cfg.applied = storage_first_index(&storage) - 1;
        raft_cfg.seed = member_id
            ^ SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        let peers = store.members().context("reading members")?;
        let removed_members = store.removed_members().context("reading removed members")?;
        let mut lessor = Lessor::new(LessorConfig::new(heartbeat, cfg.election_timeout));
        lessor.rebuild(&store).context("rebuilding leases")?;
        let node = RawNode::new(&raft_cfg, storage).context("starting raft")?;

        let limits = ServeLimits {
            request: Limits {
                max_txn_ops: cfg.max_txn_ops as usize,
                max_request_bytes: cfg.max_request_bytes as usize,
            },
            request_timeout: Duration::from_secs(5) + 2 * cfg.election_timeout,
            leader_wait: 3 * cfg.election_timeout,
            max_apply_lag: 5000,
            quota_bytes: match cfg.quota_backend_bytes {
                crate::config::BackendQuota::Disabled => None,
                crate::config::BackendQuota::Bytes(n) => Some(n),
            },
        };
        let store = Arc::new(std::sync::RwLock::new(store));
        let hub = WatchHub::new(
            Arc::clone(&store),
            WatchConfig {
                fragment_bytes: cfg.max_request_bytes as usize + GRPC_OVERHEAD_BYTES,
                progress_notify_interval: cfg.experimental_watch_progress_notify_interval,
                ..WatchConfig::default()
            },
        );
        let (tx, rx) = std::sync::mpsc::sync_channel(INPUT_QUEUE);
        let identity = Identity {
            cluster_id,
            member_id,
            name: cfg.name.clone(),
        };
        let shared = Arc::new(Shared::new(
            identity,
            store,
            hub,
            lessor,
            limits,
            AuthSettings {
                tokens: token_provider(cfg)?,
                bcrypt_cost: cfg.bcrypt_cost,
                client_cert_auth: cfg.client_tls.client_cert_auth,
            },
            tx.clone(),
        ));
        let size = shared
            .read_store()
            .size_on_disk()
            .context("reading the store's size")?;
        shared.metrics.db_size_bytes.store(size, Ordering::Relaxed);

        // Peer traffic enters the raft thread through the same bounded
        // channel as everything else; when it is full, raft messages are
        // dropped (raft retries) rather than waited for.
        let to_raft = tx.clone();
        let deliver: Deliver = Arc::new(move |inbound| {
            let input = match inbound {
                Inbound::Message(m) => Input::Step(m),
                Inbound::Unreachable(id) => Input::Unreachable(id),
                Inbound::SnapshotStatus { to, failed } => Input::SnapshotStatus { to, failed },
                Inbound::RemovedFromCluster => Input::RemovedFromCluster,
            };
            let _ = to_raft.try_send(input);
        });
        let transport = Transport::with_options(
            cluster_id,
            member_id,
            deliver,
            TransportOptions {
                dialer: dialer.clone(),
                ..TransportOptions::default()
            },
        );
        for m in peers
            .iter()
            .chain(&joined_peers)
            .filter(|m| m.id != member_id)
        {
            transport.add_peer(m.id, m.peer_ur_ls.clone());
        }
        for id in removed_members {
            transport.mark_removed(id);
        }
        let outbox: Arc<dyn Outbox> = transport.clone();
        let node_loop = NodeLoop::new(
            node,
            Arc::clone(&shared),
            rx,
            outbox,
            NodeOptions {
                tick: heartbeat,
                snapshot_count: cfg.snapshot_count.max(1),
                slow_apply: Duration::from_millis(100),
                slow_fsync: Duration::from_secs(1),
                election_timeout: cfg.election_timeout,
            },
        );
        let (stopped_tx, stopped) = watch::channel(None);
        let raft_thread = std::thread::Builder::new()
            .name("raft".into())
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || {
                let result = node_loop.run();
                let why = match &result {
                    Err(e) => {
                        tracing::error!(error = format!("{e:#}"), "raft thread stopped");
                        Stopped::Failed
                    }
                    Ok(Ended::Removed) => Stopped::Removed,
                    Ok(Ended::Shutdown) => Stopped::Shutdown,
                };
                let _ = stopped_tx.send(Some(why));
                result.map(|_| ())
            })
            .context("spawning the raft thread")?;

        let reads = Reads::start(Arc::clone(&shared));
        let peer_calls = Arc::new(peer_calls::PeerCalls::new(
            Arc::clone(&shared),
            dialer.clone(),
        ));
        let leases = Arc::new(lease::ServerLeases::new(
            Arc::clone(&shared),
            Arc::clone(&peer_calls),
        ));
        let membership = cluster::ClusterService::new(
            Arc::clone(&shared),
            reads.clone(),
            Arc::clone(&transport),
            cluster::MembershipRules {
                token: cfg.initial_cluster_token.clone(),
                strict: cfg.strict_reconfig_check,
            },
            Arc::clone(&peer_calls),
        );
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for url in &cfg.listen_peer_urls {
            let listener = bind(url, "peers").await?;
            // The Cluster service on the peer port too: a joining member
            // knows only peer URLs, and learns the cluster from them.
            let routes = tonic::service::Routes::new(transport.service())
                .add_service(peer_calls::MemberService::new(
                    Arc::clone(&shared),
                    Arc::clone(&leases),
                    membership.clone(),
                ))
                .add_service(ClusterServer::new(membership.clone()));
            let tls = peer_tls.clone().filter(|_| url.scheme().is_tls());
            tasks.spawn(serve(listener, routes, false, tls, stop_rx.clone()));
            tracing::info!(url = %url, "serving peer traffic");
        }
        let tls_for = |url: &crate::config::urls::EtcdUrl| {
            client_tls.clone().filter(|_| url.scheme().is_tls())
        };
        let mut client_addrs = Vec::new();
        for url in &cfg.listen_client_urls {
            let listener = bind(url, "clients").await?;
            client_addrs.push(listener.local_addr()?);
            let routes = client_routes(&shared, &reads, &fsync, &membership, &leases);
            tasks.spawn(serve(listener, routes, true, tls_for(url), stop_rx.clone()));
            tracing::info!(url = %url, "serving client requests");
        }
        for url in &cfg.listen_metrics_urls {
            let listener = bind(url, "metrics").await?;
            let router = http::router(http::HttpState {
                shared: Arc::clone(&shared),
                reads: reads.clone(),
                fsync: Arc::clone(&fsync),
            });
            let routes = tonic::service::Routes::from(router);
            tasks.spawn(serve(listener, routes, true, tls_for(url), stop_rx.clone()));
        }
        let advertised: Vec<String> = cfg
            .advertise_client_urls
            .iter()
            .map(ToString::to_string)
            .collect();
        tasks.spawn(lease::expiry_loop(Arc::clone(&shared), stop_rx.clone()));
        if cfg.experimental_enable_lease_checkpoint {
            tasks.spawn(lease::checkpoint_loop(
                Arc::clone(&shared),
                cfg.experimental_lease_checkpoint_interval,
                stop_rx.clone(),
            ));
        }
        tasks.spawn(corruption::corruption_check_loop(
            Arc::clone(&shared),
            Arc::clone(&peer_calls),
            cfg.experimental_corrupt_check_time,
            stop_rx.clone(),
        ));
        tasks.spawn(compactor::compactor_loop(
            Arc::clone(&shared),
            cfg.auto_compaction,
            stop_rx.clone(),
        ));
        tasks.spawn(publish_attributes(
            Arc::clone(&shared),
            cfg.name.clone(),
            advertised,
            stop_rx,
        ));
        tracing::info!(
            name = %cfg.name,
            version = env!("CARGO_PKG_VERSION"),
            etcd_api = ETCD_VERSION,
            "cairn is ready to serve client requests"
        );
        Ok(Server {
            shared,
            transport,
            raft_thread: Some(raft_thread),
            tasks,
            stop,
            stopped,
            client_addrs,
        })
    }

    /// Where client requests are served (resolved listen addresses).
    pub fn client_addrs(&self) -> &[SocketAddr] {
        &self.client_addrs
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Resolves when the member stops on its own: removed from the
    /// cluster, or its raft thread failed. The caller then shuts it down.
    pub async fn stopped(&mut self) -> Stopped {
        match self.stopped.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or(Stopped::Failed),
            // The raft thread is gone without a word: it panicked.
            Err(_) => Stopped::Failed,
        }
    }

    /// Stops serving, stops the raft thread and makes the store durable;
    /// joins every task the member started. The raft thread's error, if
    /// it failed.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        // The transport first: graceful shutdown of the peer listener
        // would otherwise wait for the peers' open streams.
        self.transport.shutdown();
        let _ = self.stop.send(true);
        let _ = self.shared.send_input(Input::Shutdown);
        let raft = match self.raft_thread.take() {
            Some(t) => tokio::task::spawn_blocking(move || t.join())
                .await?
                .map_err(|_| anyhow::anyhow!("the raft thread panicked"))
                .and_then(|ended| ended),
            None => Ok(()),
        };
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::debug!(
                left = self.tasks.len(),
                "cancelling tasks still busy after the shutdown grace"
            );
            self.tasks.shutdown().await;
        }
        raft
    }
}

/// The tokens `--auth-token` asks for; JWT keys that do not load stop
/// start-up, as they stop etcd's.
fn token_provider(cfg: &ServerConfig) -> anyhow::Result<TokenProvider> {
    use crate::auth::tokens::SimpleTokens;
    use crate::config::AuthToken;
    Ok(match &cfg.auth_token {
        AuthToken::Off => TokenProvider::Off,
        AuthToken::Simple => TokenProvider::Simple(SimpleTokens::new(cfg.auth_token_ttl)),
        AuthToken::Jwt(opts) => {
            TokenProvider::Jwt(Box::new(crate::auth::jwt::JwtTokens::new(opts)?))
        }
    })
}

fn storage_first_index(storage: &DiskStorage) -> u64 {
    use crate::raft::Storage as _;
    storage.first_index()
}

/// The gRPC services and HTTP endpoints of the client port.
fn client_routes(
    shared: &Arc<Shared>,
    reads: &Reads,
    fsync: &Arc<crate::wal::Histogram>,
    membership: &cluster::ClusterService,
    leases: &Arc<lease::ServerLeases>,
) -> tonic::service::Routes {
    let max = shared.limits.request.max_request_bytes + GRPC_OVERHEAD_BYTES;
    let http = http::router(http::HttpState {
        shared: Arc::clone(shared),
        reads: reads.clone(),
        fsync: Arc::clone(fsync),
    });
    let recipes = recipes::Recipes::new(Arc::clone(shared), reads.clone(), Arc::clone(leases));
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    drop(health_reporter);
    let routes = tonic::service::Routes::from(http)
        .add_service(
            KvServer::new(kv::KvService::new(Arc::clone(shared), reads.clone()))
                .max_decoding_message_size(max),
        )
        .add_service(WatchServer::new(WatchService::new(
            Arc::clone(&shared.hub),
            {
                let shared = Arc::clone(shared);
                Arc::new(move || shared.header())
            },
            auth::watch_admission(shared),
        )))
        .add_service(LeaseServer::new(LeaseService::new(Arc::clone(leases))))
        .add_service(LockServer::new(lock::LockService::new(recipes.clone())))
        .add_service(ElectionServer::new(election::ElectionService::new(recipes)))
        .add_service(ClusterServer::new(membership.clone()))
        .add_service(AuthServer::new(auth::AuthService::new(
            Arc::clone(shared),
            reads.clone(),
        )))
        .add_service(MaintenanceServer::new(
            maintenance::MaintenanceService::new(Arc::clone(shared)),
        ))
        .add_service(health_service);
    let gated = routes
        .into_axum_router()
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(shared),
            access::gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(shared),
            learner_gate,
        ))
        .layer(axum::middleware::from_fn(identify));
    tonic::service::Routes::from(gated)
}

/// Puts the client's [`tls::ClientIdentity`] (its certificate's common
/// name) into every request's extensions, where gRPC handlers find it with
/// `request.extensions()`.
async fn identify(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let identity = tls::ClientIdentity::of(request.extensions());
    if tracing::enabled!(tracing::Level::DEBUG) {
        if let Some(cn) = identity.common_name() {
            tracing::debug!(cn = %cn, path = %request.uri().path(), "request from a client certificate");
        }
    }
    request.extensions_mut().insert(identity);
    next.run(request).await
}

/// etcd's rule for learners: they answer Status and serializable Range
/// (the KV service checks the latter) and refuse every other etcd call
/// with "rpc not supported for learner". Health, /health, /version and
/// /metrics stay open.
async fn learner_gate(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    let etcd_call = ["/etcdserverpb.", "/v3lockpb.", "/v3electionpb."]
        .iter()
        .any(|p| path.starts_with(p));
    let open_to_learners = matches!(
        path,
        "/etcdserverpb.Maintenance/Status" | "/etcdserverpb.KV/Range"
    );
    if etcd_call && !open_to_learners && shared.raft.is_learner.load(Ordering::Relaxed) {
        return tonic::Status::from(crate::etcd_error::EtcdError::NotSupportedForLearner)
            .into_http();
    }
    next.run(request).await
}

/// Serves a port until `stop`: gRPC, and with `http1` HTTP/1.1 too (for
/// /health and friends on the client and metrics ports; the peer port
/// speaks gRPC only), under TLS for an `https://` URL.
async fn serve(
    listener: TcpListener,
    routes: tonic::service::Routes,
    http1: bool,
    tls: Option<tls::ServerTls>,
    stop: watch::Receiver<bool>,
) {
    let Some(server_tls) = tls else {
        return serve_with(listener, routes, http1, stop).await;
    };
    // Only the peer port speaks gRPC alone.
    let port = if http1 {
        tls::Port::Client
    } else {
        tls::Port::Peer
    };
    let accepted = tls::accept(listener, server_tls, port, stop.clone());
    let accepted = tokio_stream::wrappers::ReceiverStream::new(accepted);
    run(accepted, routes, http1, stop).await;
}

/// Serves `routes` in plain text on `listener` until `stop`.
async fn serve_with(
    listener: TcpListener,
    routes: tonic::service::Routes,
    http1: bool,
    stop: watch::Receiver<bool>,
) {
    // The builder's tcp_nodelay applies only to sockets tonic binds
    // itself; these come from our listener, so the incoming stream sets
    // it. Without it Nagle's algorithm and the client's delayed ACK held
    // every small response about 40 ms.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    run(incoming, routes, http1, stop).await;
}

/// Runs tonic's server, as every port runs it, over `incoming` connections
/// (plain TCP or established TLS) until `stop`.
async fn run<IO, IE>(
    incoming: impl tokio_stream::Stream<Item = Result<IO, IE>>,
    routes: tonic::service::Routes,
    http1: bool,
    mut stop: watch::Receiver<bool>,
) where
    IO: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected
        + Unpin
        + Send
        + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let result = tonic::transport::Server::builder()
        .accept_http1(http1)
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "a listener stopped");
    }
}

/// Binds the address `url` names, for `what` ("peers", "clients", ...).
async fn bind(url: &crate::config::urls::EtcdUrl, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen_addr(url)?)
        .await
        .with_context(|| format!("listening for {what} on {url}"))
}

/// Records this member's name and client URLs in the cluster's member list
/// (through raft), retrying until it is done.
async fn publish_attributes(
    shared: Arc<Shared>,
    name: String,
    client_urls: Vec<String>,
    stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let current = shared
            .read_store()
            .members()
            .ok()
            .and_then(|ms| ms.into_iter().find(|m| m.id == shared.member_id));
        if current.is_some_and(|m| m.name == name && m.client_ur_ls == client_urls) {
            return;
        }
        let attrs = MemberAttributes {
            member_id: shared.member_id,
            name: name.clone(),
            client_urls: client_urls.clone(),
        };
        if let Err(e) = kv::propose_internal(&shared, Op::MemberAttributes(attrs)).await {
            tracing::debug!(error = %e.message(), "publishing member attributes; will retry");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = shared.raft.applied.load(Ordering::Relaxed);
    }
}

/// A store error as the gRPC status etcd answers with.
pub(crate) fn store_status(e: &crate::mvcc::MvccError) -> tonic::Status {
    crate::etcd_error::EtcdError::from(e).into()
}

/// The answer to an etcd call cairn does not serve yet.
pub(crate) fn not_yet(what: &str) -> tonic::Status {
    tonic::Status::unimplemented(format!("cairn: {what} is not supported yet"))
}
