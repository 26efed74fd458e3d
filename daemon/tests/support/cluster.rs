//! A cluster of real server processes on 127.0.0.1: etcd 3.5.1 or cairn,
//! started with the same etcd flags, so one test body runs against both.
//!
//! It owns the processes, their data dirs (in a tempdir) and their logs.
//! It must never leave a process behind: dropping a [`Cluster`] kills every
//! member, and if the test is panicking it first prints the tail of each
//! member's log. It never contacts anything but loopback.

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use cairn_proto::etcdserverpb::{HashKvRequest, StatusRequest, StatusResponse};
use tempfile::TempDir;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::pki::Pki;
use super::ports::{self, PortClaim};
use super::{Ctl, Server};

/// Raft heartbeat of every test cluster. Generous for loopback, so a loaded
/// two-core machine does not see spurious elections.
pub const HEARTBEAT_MS: u64 = 100;
/// Raft election timeout of every test cluster.
pub const ELECTION_TIMEOUT_MS: u64 = 1000;
/// How long a cluster (or a restarted member) may take to become healthy.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Start attempts when a member loses a race for its port.
const START_ATTEMPTS: usize = 3;
/// Lines of each member's log printed when a test fails.
const LOG_TAIL_LINES: usize = 40;

/// One member process and what it needs to be restarted.
#[derive(Debug)]
struct Member {
    name: String,
    client: PortClaim,
    peer: PortClaim,
    data_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    id: u64,
    /// The port other members are told to dial: the peer port itself, or a
    /// proxy's port in front of it (see [`Options::advertise_ports`]).
    advertise_port: u16,
    /// Extra environment of the next start (fail points, planted bugs).
    env: Vec<(String, String)>,
    /// Joins the running cluster (`--initial-cluster-state existing`)
    /// instead of founding it.
    joins: bool,
}

/// See [`Options::on_spawn`].
pub type OnSpawn = Box<dyn Fn(usize, u32, u16) + Send + Sync>;

/// How [`Cluster::start_opts`] starts members.
#[derive(Default)]
pub struct Options {
    /// Flags every member gets on top of [`Cluster::member_args`].
    pub extra: Vec<String>,
    /// Ports, one per member, that the others dial instead of its peer
    /// port: a test-owned proxy listens there and forwards to
    /// [`Cluster::peer_port`]. `None`: members dial each other directly.
    pub advertise_ports: Option<Vec<u16>>,
    /// Environment variables of each member, by index.
    pub env: Vec<Vec<(String, String)>>,
    /// Called with (member, pid, real peer port) each time a member
    /// process starts, so a proxy knows where to forward and can tell
    /// members' connections apart.
    pub on_spawn: Option<OnSpawn>,
    /// CPUs every member runs on, in taskset's list syntax ("1", "1-3").
    /// `None`: wherever the kernel puts them.
    pub cpus: Option<String>,
    /// The server binary, instead of the kind's own ([`Server::binary`]).
    pub binary: Option<PathBuf>,
    /// Peer URLs are `https://` (the test gives the `--peer-*` TLS flags,
    /// in `extra` or `env`); client URLs stay plain.
    pub peer_https: bool,
    /// TLS on both ports of every member, with etcd's flags; the harness's
    /// own clients (Status, HashKV, /metrics, etcdctl) present `pki`'s
    /// client certificate.
    pub tls: Option<Tls>,
}

/// TLS on both ports: every member serves `https://` client and peer
/// URLs with `pki`'s member certificate (valid for 127.0.0.1 only, for
/// both server and client use), and members require each other's
/// certificates (`--peer-client-cert-auth`).
#[derive(Debug, Clone)]
pub struct Tls {
    pub pki: Arc<Pki>,
    /// Clients must present a certificate of the CA (`--client-cert-auth`).
    pub client_cert_auth: bool,
}

impl Tls {
    /// Both ports, client certificates required: how production runs.
    pub fn mutual() -> Tls {
        Tls {
            pki: Arc::new(Pki::new()),
            client_cert_auth: true,
        }
    }

    /// The server flags, the same for etcd and cairn.
    fn server_flags(&self) -> Vec<String> {
        let pki = &self.pki;
        let path = |name: &str, p: &std::path::Path| format!("--{name}={}", p.display());
        let mut flags = vec![
            path("cert-file", &pki.peer.cert),
            path("key-file", &pki.peer.key),
            path("peer-cert-file", &pki.peer.cert),
            path("peer-key-file", &pki.peer.key),
            path("peer-trusted-ca-file", &pki.ca),
            "--peer-client-cert-auth".to_owned(),
        ];
        if self.client_cert_auth {
            flags.push(path("trusted-ca-file", &pki.ca));
            flags.push("--client-cert-auth".to_owned());
        }
        flags
    }

    /// etcdctl's flags for a client that trusts the CA and presents the
    /// client certificate.
    pub fn ctl_flags(&self) -> Vec<String> {
        let pki = &self.pki;
        vec![
            format!("--cacert={}", pki.ca.display()),
            format!("--cert={}", pki.client.cert.display()),
            format!("--key={}", pki.client.key.display()),
        ]
    }

    /// tonic's settings for the same client.
    pub fn tonic(&self) -> ClientTlsConfig {
        let read = |p: &std::path::Path| std::fs::read(p).expect("read a test PEM file");
        let pki = &self.pki;
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&pki.ca)))
            .identity(Identity::from_pem(
                read(&pki.client.cert),
                read(&pki.client.key),
            ))
    }
}

/// A running cluster of `members` processes of one [`Server`] kind.
pub struct Cluster {
    kind: Server,
    dir: TempDir,
    members: Vec<Member>,
    cluster_id: u64,
    /// Flags every member gets on top of [`Cluster::member_args`].
    extra_args: Vec<String>,
    on_spawn: Option<OnSpawn>,
    cpus: Option<String>,
    binary: PathBuf,
    /// `http` or `https`, for peer URLs.
    peer_scheme: &'static str,
    /// TLS on both ports (see [`Options::tls`]).
    tls: Option<Tls>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("kind", &self.kind)
            .field("dir", &self.dir.path())
            .field("endpoints", &self.endpoints())
            .finish()
    }
}

impl Cluster {
    /// Starts `members` processes of `kind` as one new cluster and waits
    /// until every member answers Status and all agree on a leader. Panics
    /// (after printing the logs) if that does not happen in time.
    pub async fn start(kind: Server, members: usize) -> Cluster {
        Cluster::start_with(kind, members, &[]).await
    }

    /// [`Cluster::start`] with `extra` flags for every member (flags both
    /// servers take, such as `--snapshot-count`).
    pub async fn start_with(kind: Server, members: usize, extra: &[&str]) -> Cluster {
        let opts = Options {
            extra: extra.iter().map(|a| (*a).to_owned()).collect(),
            ..Options::default()
        };
        Cluster::start_opts(kind, members, opts).await
    }

    /// [`Cluster::start`] with [`Options`]. With advertised proxy ports a
    /// lost port race is not retried: the caller owns those ports.
    pub async fn start_opts(kind: Server, members: usize, mut opts: Options) -> Cluster {
        assert!(members > 0);
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let mut cluster = Cluster::spawn(kind, members, &mut opts);
            match cluster.wait_ready(START_TIMEOUT).await {
                Ok(()) => return cluster,
                Err(e) if cluster.lost_port_race() => last_error = e,
                Err(e) => {
                    cluster.print_logs();
                    panic!("{kind:?} cluster of {members} did not start: {e}");
                }
            }
        }
        panic!("{kind:?} cluster of {members} lost its ports {START_ATTEMPTS} times: {last_error}");
    }

    fn spawn(kind: Server, count: usize, opts: &mut Options) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("cairn-cluster-")
            .tempdir()
            .expect("tempdir");
        let members: Vec<Member> = (0..count)
            .map(|i| {
                let peer = ports::claim();
                let advertise_port = opts
                    .advertise_ports
                    .as_ref()
                    .map_or(peer.port, |ports| ports[i]);
                Member {
                    name: format!("m{i}"),
                    client: ports::claim(),
                    peer,
                    data_dir: dir.path().join(format!("m{i}.data")),
                    log_path: dir.path().join(format!("m{i}.log")),
                    child: None,
                    id: 0,
                    advertise_port,
                    env: opts.env.get(i).cloned().unwrap_or_default(),
                    joins: false,
                }
            })
            .collect();
        let mut cluster = Cluster {
            kind,
            dir,
            members,
            cluster_id: 0,
            extra_args: opts.extra.clone(),
            cpus: opts.cpus.clone(),
            binary: opts.binary.clone().unwrap_or_else(|| kind.binary()),
            on_spawn: opts.on_spawn.take(),
            peer_scheme: if opts.peer_https || opts.tls.is_some() {
                "https"
            } else {
                "http"
            },
            tls: opts.tls.clone(),
        };
        for i in 0..count {
            cluster.spawn_member(i);
        }
        cluster
    }

    /// The `--initial-cluster` value naming every member.
    fn initial_cluster(&self) -> String {
        let parts: Vec<String> = self
            .members
            .iter()
            .map(|m| {
                let scheme = self.peer_scheme;
                format!("{}={scheme}://127.0.0.1:{}", m.name, m.advertise_port)
            })
            .collect();
        parts.join(",")
    }

    /// The flags of member `i`: identical for etcd and cairn, and identical
    /// on a restart (both servers ignore the bootstrap flags once the data
    /// dir holds a member).
    pub fn member_args(&self, i: usize) -> Vec<String> {
        let m = &self.members[i];
        let client = self.client_url(i);
        let scheme = self.peer_scheme;
        let peer = format!("{scheme}://127.0.0.1:{}", m.peer.port);
        let advertised = format!("{scheme}://127.0.0.1:{}", m.advertise_port);
        vec![
            format!("--name={}", m.name),
            format!("--data-dir={}", m.data_dir.display()),
            format!("--listen-client-urls={client}"),
            format!("--advertise-client-urls={client}"),
            format!("--listen-peer-urls={peer}"),
            format!("--initial-advertise-peer-urls={advertised}"),
            format!("--initial-cluster={}", self.initial_cluster()),
            format!(
                "--initial-cluster-state={}",
                if m.joins { "existing" } else { "new" }
            ),
            format!(
                "--initial-cluster-token=compat-{}",
                self.dir.path().display()
            ),
            format!("--heartbeat-interval={HEARTBEAT_MS}"),
            format!("--election-timeout={ELECTION_TIMEOUT_MS}"),
        ]
        .into_iter()
        .chain(self.tls.iter().flat_map(Tls::server_flags))
        .collect()
    }

    fn spawn_member(&mut self, i: usize) {
        let mut args = self.member_args(i);
        args.extend(self.extra_args.iter().cloned());
        let m = &mut self.members[i];
        assert!(m.child.is_none(), "member {i} is already running");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&m.log_path)
            .expect("open log");
        // taskset execs the server, so the child's pid is the server's.
        let mut command = match &self.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.args(["--cpu-list", cpus]).arg(&self.binary);
                c
            }
            None => Command::new(&self.binary),
        };
        let child = command
            .args(&args)
            .envs(m.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.binary.display()));
        let pid = child.id();
        let peer_port = m.peer.port;
        m.child = Some(child);
        if let Some(on_spawn) = &self.on_spawn {
            on_spawn(i, pid, peer_port);
        }
    }

    /// Waits until every running member answers Status, all name the same
    /// leader, and that leader is a running member. Records member ids.
    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            for (i, m) in self.members.iter_mut().enumerate() {
                let exited = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                if let Some(status) = exited {
                    return Err(format!("member {i} exited early with {status}"));
                }
            }
            let last = match self.poll_statuses().await {
                Ok(statuses) => {
                    let leaders: Vec<u64> = statuses.iter().map(|(_, s)| s.leader).collect();
                    let ids: Vec<u64> = statuses.iter().map(|(_, s)| member_id(s)).collect();
                    let leader = leaders[0];
                    if leader != 0 && leaders.iter().all(|&l| l == leader) && ids.contains(&leader)
                    {
                        for (i, s) in &statuses {
                            self.members[*i].id = member_id(s);
                            self.cluster_id = s.header.as_ref().map_or(0, |h| h.cluster_id);
                        }
                        return Ok(());
                    }
                    format!("leaders reported: {leaders:x?}, ids: {ids:x?}")
                }
                Err(e) => e,
            };
            if Instant::now() > deadline {
                return Err(format!("not ready after {timeout:?}: {last}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Status of every running member, or the first error.
    async fn poll_statuses(&self) -> Result<Vec<(usize, StatusResponse)>, String> {
        let mut out = Vec::new();
        for i in self.running() {
            let status = self
                .status(i)
                .await
                .map_err(|e| format!("member {i}: {e}"))?;
            out.push((i, status));
        }
        Ok(out)
    }

    /// Maintenance.Status of member `i`.
    pub async fn status(&self, i: usize) -> Result<StatusResponse, String> {
        let channel = self.channel(i).await?;
        let mut client = MaintenanceClient::new(channel);
        client
            .status(StatusRequest {})
            .await
            .map(|r| r.into_inner())
            .map_err(|e| e.to_string())
    }

    /// Waits (up to `patience`) until every member has reached revision
    /// `rev`, then checks that all report the same HashKV (and compaction
    /// revision) at `rev`.
    pub async fn assert_hashes_agree_at(&self, rev: i64, patience: Duration) {
        let deadline = Instant::now() + patience;
        let mut hashes = Vec::new();
        for i in 0..self.size() {
            loop {
                let status = self.status(i).await;
                let at = status
                    .as_ref()
                    .ok()
                    .and_then(|s| s.header.as_ref())
                    .map_or(0, |h| h.revision);
                if at >= rev {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "member {i} stuck at revision {at} < {rev}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let mut maintenance = MaintenanceClient::new(self.channel(i).await.expect("channel"));
            let hash = maintenance
                .hash_kv(HashKvRequest { revision: rev })
                .await
                .unwrap_or_else(|e| panic!("HashKV on member {i}: {e}"))
                .into_inner();
            hashes.push((hash.hash, hash.compact_revision));
        }
        assert!(
            hashes.iter().all(|h| *h == hashes[0]),
            "members disagree on HashKV at revision {rev}: {hashes:?}"
        );
    }

    /// The body of an HTTP GET of `path` on member `i`'s client port
    /// (`/metrics`, `/health`, ...), over TLS if the cluster has it.
    pub fn http_get(&self, i: usize, path: &str) -> Result<String, String> {
        use std::io::Write as _;
        let addr = format!("127.0.0.1:{}", self.members[i].client.port);
        let tcp = std::net::TcpStream::connect(&addr).map_err(|e| format!("{addr}: {e}"))?;
        tcp.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut conn: Box<dyn ReadWrite> = match &self.tls {
            None => Box::new(tcp),
            Some(tls) => Box::new(tls.pki.tls_stream(tcp)),
        };
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        // A TLS peer that closes without close_notify still sent a whole
        // response (Connection: close); keep what arrived.
        if let Err(e) = conn.read_to_end(&mut bytes) {
            if bytes.is_empty() {
                return Err(format!("{addr}: {e}"));
            }
        }
        let response = String::from_utf8_lossy(&bytes);
        let (_, body) = response
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("no HTTP response from {addr}: {response}"))?;
        Ok(body.to_owned())
    }

    /// The value of the unlabelled metric `name` on member `i`.
    pub fn metric(&self, i: usize, name: &str) -> Result<f64, String> {
        let body = self.http_get(i, "/metrics")?;
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .ok_or_else(|| format!("member {i} has no metric {name}"))
    }

    /// A gRPC endpoint for member `i`'s client URL, with the cluster's
    /// client TLS settings if it has TLS.
    pub fn endpoint(&self, i: usize) -> Endpoint {
        let endpoint = Endpoint::from_shared(self.client_url(i)).expect("a client URL");
        match &self.tls {
            None => endpoint,
            Some(tls) => endpoint
                .tls_config(tls.tonic())
                .expect("client TLS settings"),
        }
    }

    /// A gRPC channel to member `i`'s client URL.
    pub async fn channel(&self, i: usize) -> Result<Channel, String> {
        self.endpoint(i)
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(|e| format!("connect {}: {e}", self.client_url(i)))
    }

    /// True if some member's log says its address was taken: the port was
    /// claimed but another program bound it before the server did.
    fn lost_port_race(&self) -> bool {
        self.members.iter().any(|m| {
            std::fs::read_to_string(&m.log_path)
                .is_ok_and(|log| log.to_lowercase().contains("address already in use"))
        })
    }

    /// Which kind of server this cluster runs.
    pub fn kind(&self) -> Server {
        self.kind
    }

    /// Number of members (running or not).
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// Indexes of the members whose process is running (or stopped).
    pub fn running(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| self.members[i].child.is_some())
            .collect()
    }

    /// `http://127.0.0.1:<port>` (or `https://`) of member `i`.
    pub fn client_url(&self, i: usize) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.members[i].client.port)
    }

    /// The cluster's TLS settings, if it has TLS.
    pub fn tls(&self) -> Option<&Tls> {
        self.tls.as_ref()
    }

    /// `http://127.0.0.1:<port>` (or `https://`) of member `i`'s peer
    /// listener.
    pub fn peer_url(&self, i: usize) -> String {
        format!(
            "{}://127.0.0.1:{}",
            self.peer_scheme, self.members[i].peer.port
        )
    }

    /// Every member's client URL, comma-separated, for `--endpoints`
    /// (members that joined or were removed too, while they run).
    pub fn endpoints(&self) -> String {
        let urls: Vec<String> = (0..self.members.len())
            .filter(|&i| !self.members[i].joins || self.members[i].child.is_some())
            .map(|i| self.client_url(i))
            .collect();
        urls.join(",")
    }

    /// Member `i`'s name (`m<i>`).
    pub fn name(&self, i: usize) -> &str {
        &self.members[i].name
    }

    /// Member `i`'s id, as its Status reported it at start.
    pub fn member_id(&self, i: usize) -> u64 {
        self.members[i].id
    }

    /// The index of the member with id `id`.
    pub fn index_of(&self, id: u64) -> Option<usize> {
        self.members.iter().position(|m| m.id == id)
    }

    /// The cluster id, as Status reported it at start.
    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    /// The index of the current leader: the leader every running member
    /// agrees on. Waits (up to the start timeout) for an agreement.
    pub async fn leader(&self) -> usize {
        self.leader_among(&self.running(), START_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("no agreed leader: {e}"))
    }

    /// Polls the members in `among` until each answers Status and all name
    /// the same leader, which must be one of `among`; returns its index.
    pub async fn leader_among(&self, among: &[usize], timeout: Duration) -> Result<usize, String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no status yet");
        loop {
            let mut leaders = Vec::new();
            for &i in among {
                match self.status(i).await {
                    Ok(s) => leaders.push(s.leader),
                    Err(e) => last = format!("member {i}: {e}"),
                }
            }
            if leaders.len() == among.len() && leaders.iter().all(|&l| l == leaders[0]) {
                if let Some(i) = self.index_of(leaders[0]).filter(|i| among.contains(i)) {
                    return Ok(i);
                }
                last = format!("leader {:x} is not among {among:?}", leaders[0]);
            } else if leaders.len() == among.len() {
                last = format!("members disagree on the leader: {leaders:x?}");
            }
            if Instant::now() > deadline {
                return Err(format!("after {timeout:?}: {last}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills member `i` with SIGKILL and reaps it.
    pub fn kill(&mut self, i: usize) {
        let mut child = self.members[i].child.take().expect("member is running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }

    /// Stops member `i` the way an operator does (SIGTERM) and waits until
    /// it has exited, so its data dir is closed and complete.
    pub async fn terminate(&mut self, i: usize) {
        self.signal(i, "-TERM");
        if let Err(e) = self.wait_exit(i, START_TIMEOUT).await {
            panic!("member {i} did not stop on SIGTERM: {e}");
        }
    }

    /// Member `i`'s data dir.
    pub fn data_dir(&self, i: usize) -> &std::path::Path {
        &self.members[i].data_dir
    }

    /// Freezes member `i` with SIGSTOP.
    pub fn stop(&self, i: usize) {
        self.signal(i, "-STOP");
    }

    /// Resumes member `i` with SIGCONT.
    pub fn cont(&self, i: usize) {
        self.signal(i, "-CONT");
    }

    fn signal(&self, i: usize, sig: &str) {
        let pid = self.members[i]
            .child
            .as_ref()
            .expect("member is running")
            .id();
        let status = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill {sig} {pid} failed");
    }

    /// Starts member `i` again on its data dir, with the same flags, and
    /// waits until every running member agrees on a leader again.
    pub async fn restart(&mut self, i: usize) {
        if let Err(e) = self.try_restart(i, START_TIMEOUT).await {
            self.print_logs();
            panic!("member {i} did not come back: {e}");
        }
    }

    /// Replaces the extra flags members get from their next (re)start on,
    /// e.g. to restart with another quota.
    pub fn set_extra_args(&mut self, extra: &[&str]) {
        self.extra_args = extra.iter().map(|a| (*a).to_owned()).collect();
    }

    /// Starts several stopped members together (a majority cannot come
    /// back one at a time: the first would wait for a quorum) and waits
    /// until every running member agrees on a leader.
    pub async fn restart_all(&mut self, members: &[usize]) {
        for &i in members {
            self.spawn_member(i);
        }
        if let Err(e) = self.wait_ready(START_TIMEOUT).await {
            self.print_logs();
            panic!("members {members:?} did not come back: {e}");
        }
    }

    /// Starts stopped member `i` again without waiting for anything (for a
    /// member the others are expected to shut out).
    pub fn relaunch(&mut self, i: usize) {
        self.spawn_member(i);
    }

    /// [`Cluster::restart`] that reports instead of panicking.
    pub async fn try_restart(&mut self, i: usize, timeout: Duration) -> Result<(), String> {
        self.spawn_member(i);
        self.wait_ready(timeout).await
    }

    /// Makes room for a member that will join the running cluster, after
    /// the test announced it with `member add` (its peer URL is
    /// [`Cluster::peer_url`]). Not started: see [`Cluster::start_joining`].
    pub fn add_member_slot(&mut self) -> usize {
        let i = self.members.len();
        let peer = ports::claim();
        let advertise_port = peer.port;
        self.members.push(Member {
            name: format!("m{i}"),
            client: ports::claim(),
            peer,
            data_dir: self.dir.path().join(format!("m{i}.data")),
            log_path: self.dir.path().join(format!("m{i}.log")),
            child: None,
            id: 0,
            advertise_port,
            env: Vec::new(),
            joins: true,
        });
        i
    }

    /// Starts the joining member `i` (its `--initial-cluster` names every
    /// member) and waits until all running members agree on a leader.
    pub async fn start_joining(&mut self, i: usize) {
        assert!(self.members[i].joins, "member {i} founded the cluster");
        self.restart(i).await;
    }

    /// Waits until member `i`'s process exits on its own (a removed
    /// member stops) and reaps it; how it ended, or an error on timeout.
    pub async fn wait_exit(&mut self, i: usize, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.reap_if_exited(i) {
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(format!("member {i} still running after {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sets the extra environment of member `i`'s next start.
    pub fn set_env(&mut self, i: usize, env: Vec<(String, String)>) {
        self.members[i].env = env;
    }

    /// If member `i`'s process has exited on its own (a crash), reaps it
    /// and says how it ended.
    pub fn reap_if_exited(&mut self, i: usize) -> Option<String> {
        let child = self.members[i].child.as_mut()?;
        let status = child.try_wait().ok().flatten()?;
        self.members[i].child = None;
        Some(status.to_string())
    }

    /// The real peer port member `i` listens on.
    pub fn peer_port(&self, i: usize) -> u16 {
        self.members[i].peer.port
    }

    /// The cluster's directory: data dirs and logs (`m<i>.log`).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Runs `etcdctl <args>` of version `ctl` against every member.
    pub fn etcdctl(&self, ctl: Ctl, args: &[&str]) -> Output {
        self.run_ctl(ctl, &self.endpoints(), args, None)
    }

    /// Runs `etcdctl <args>` against member `i` only.
    pub fn etcdctl_at(&self, ctl: Ctl, i: usize, args: &[&str]) -> Output {
        self.run_ctl(ctl, &self.client_url(i), args, None)
    }

    /// [`Ctl::run`] with the cluster's client TLS flags, if it has TLS.
    pub fn run_ctl(&self, ctl: Ctl, endpoints: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let flags = self.tls.as_ref().map(Tls::ctl_flags).unwrap_or_default();
        let mut all: Vec<&str> = flags.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        ctl.run(endpoints, &all, stdin)
    }

    /// Everything member `i` has logged so far.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.members[i].log_path).unwrap_or_default()
    }

    /// Prints the tail of every member's log to stderr.
    pub fn print_logs(&self) {
        for m in &self.members {
            eprintln!(
                "----- {:?} {} log ({}) -----",
                self.kind,
                m.name,
                m.log_path.display()
            );
            eprintln!("{}", tail(&m.log_path, LOG_TAIL_LINES));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_logs();
        }
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A byte stream both ways: a TCP connection, plain or under TLS.
trait ReadWrite: Read + std::io::Write {}
impl<T: Read + std::io::Write> ReadWrite for T {}

fn member_id(status: &StatusResponse) -> u64 {
    status.header.as_ref().map_or(0, |h| h.member_id)
}

/// The last `lines` lines of a file (reading at most its last 64 KiB).
fn tail(path: &PathBuf, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::from("(no log)");
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut text = String::new();
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_ok() {
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
