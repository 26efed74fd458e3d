//! One randomized run: a cluster of real cairn processes, peers through the
//! fault proxy, concurrent clients and watches recording every call, faults
//! chosen from a seed, then the checkers.
//!
//! Everything random comes from one seed (ChaCha8): cluster size, fail
//! points, the fault schedule, each client's operations. Timing still
//! varies between runs of a seed (real processes on a shared machine), so
//! a replay exercises the same faults and workload, not the same
//! interleaving.
//!
//! A run that finds a violation keeps its history, fault log, seed and the
//! members' logs in a directory and says how to replay it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use cairn_proto::etcdserverpb::kv_client::KvClient;
use cairn_proto::etcdserverpb::lease_client::LeaseClient;
use cairn_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use cairn_proto::etcdserverpb::watch_client::WatchClient;
use cairn_proto::etcdserverpb::watch_request::RequestUnion;
use cairn_proto::etcdserverpb::{
    CompactionRequest, Compare, DeleteRangeRequest, HashKvRequest, LeaseGrantRequest,
    LeaseRevokeRequest, MoveLeaderRequest, PutRequest, RangeRequest, RequestOp, StatusRequest,
    TxnRequest, WatchCreateRequest, WatchProgressRequest, WatchRequest, request_op, response_op,
};
use cairn_proto::mvccpb::{self, event::EventType};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tonic::transport::Channel;

use super::auth::{self, AuthMode, Session, Token};
use super::history::{
    Event, Flip, History, Kv, LeasedKey, Op, Outcome, Probe, Request, Response, RevisionSample,
    Watch,
};
use super::linearize::{self, Violation};
use super::proxy::{Link, Proxy};
use super::support::Server;
use super::support::cluster::{Cluster, Options, Tls};
use super::support::ports;
use super::watch as watch_check;

/// The keys clients fight over: few, so calls on one key overlap.
const KEYS: usize = 6;
/// A call not answered within this is of unknown outcome.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(4);
/// How long a member may take to come back after a restart.
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the end phase waits for agreement on a leader before looking
/// for members that exited meanwhile.
const LEADER_POLL: Duration = Duration::from_secs(5);
/// How long a watch may take to answer a progress request at the end.
const PROGRESS_PATIENCE: Duration = Duration::from_secs(15);
/// The error of a watch that never answered its progress request.
pub const STALLED: &str = "stalled: no answer to a progress request";
/// Fail points compiled into cairn with the `failpoints` feature.
const FAIL_POINTS: [&str; 8] = [
    "raft::before-persist",
    "raft::after-persist",
    "raft::before-apply",
    "mvcc::before-commit",
    "mvcc::after-commit",
    "snapshot::send",
    "snapshot::apply",
    "mvcc::compact",
];

/// What one run does.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub seed: u64,
    /// How long clients send traffic while faults happen.
    pub traffic: Duration,
    /// A planted bug to switch on in every member (`CAIRN_PLANTED_BUG`).
    pub planted_bug: Option<&'static str>,
    /// Cluster size; `None`: from the seed (3, or 1 in a fifth of runs).
    pub members: Option<usize>,
    /// Auth on, with users, roles and the prober (`auth.rs`).
    pub auth: Option<AuthMode>,
}

/// What a run did and found.
#[derive(Debug)]
pub struct RunReport {
    pub seed: u64,
    pub members: usize,
    /// TLS on both ports (odd seeds).
    pub tls: bool,
    pub auth: Option<AuthMode>,
    /// Auth runs: probes (refused as etcd refuses, of unknown outcome)
    /// and role changes.
    pub probes: (usize, usize, usize),
    pub faults: Vec<String>,
    pub ops: usize,
    pub ok: usize,
    pub unknown: usize,
    pub watch_events: usize,
    pub violations: Vec<Violation>,
    /// Keys the search gave up on (reported, never counted as passing).
    pub undecided: usize,
    /// Where the evidence of a failing run was kept.
    pub kept: Option<PathBuf>,
    /// Seconds each phase took: start, traffic, end, watches, checks.
    pub phases: [f64; 5],
    /// Peer connections through the proxy, and how many had no known
    /// source member.
    pub peer_connections: (usize, usize),
}

impl RunReport {
    pub fn summary(&self) -> String {
        let auth = match self.auth {
            None => String::new(),
            Some(mode) => format!(
                ", auth with {mode}: {} probes refused, {} of unknown outcome, {} role changes",
                self.probes.0, self.probes.1, self.probes.2
            ),
        };
        format!(
            "seed {} ({} members{}{auth}, phases {:.0?} s, peer connections {:?}): {} calls ({} ok, {} unknown), {} watch events, faults [{}], {} violations, {} undecided keys",
            self.seed,
            self.members,
            if self.tls { ", TLS on both ports" } else { "" },
            self.phases,
            self.peer_connections,
            self.ops,
            self.ok,
            self.unknown,
            self.watch_events,
            self.faults.join("; "),
            self.violations.len(),
            self.undecided
        )
    }
}

/// The run's clock: nanoseconds since it started.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    pub fn now(self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// What clients and watchers share while the run lasts.
#[derive(Debug)]
pub struct Recorder {
    pub clock: Clock,
    pub ops: Mutex<Vec<Op>>,
    watches: Mutex<Vec<Watch>>,
    samples: Mutex<Vec<RevisionSample>>,
    /// Auth runs: what the prober and root's role changes did.
    pub probes: Mutex<Vec<Probe>>,
    pub flips: Mutex<Vec<Flip>>,
    pub leased: Mutex<Vec<LeasedKey>>,
    pub stop: AtomicBool,
    /// Set once the final revision is known: watches then ask for progress
    /// and end.
    watch_stop: AtomicBool,
    /// Watches opened and not yet recorded.
    open_watches: AtomicUsize,
    /// The highest revision any response showed: where watches may start.
    seen_rev: AtomicI64,
    /// The revision of the latest acknowledged delete that removed a key:
    /// compactions sometimes land exactly there, the case etcd's issue
    /// 18089 is about (a delete at the compaction revision).
    delete_rev: AtomicI64,
    /// The revision of the latest acknowledged compaction: watches
    /// sometimes start exactly there.
    compact_rev: AtomicI64,
}

impl Recorder {
    pub fn note_rev(&self, rev: i64) {
        self.seen_rev.fetch_max(rev, Ordering::Relaxed);
    }
}

/// Runs one seed to the end and checks its history.
pub async fn run(cfg: &RunConfig) -> RunReport {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let one = rng.random_bool(0.2);
    let members = cfg.members.unwrap_or(if one { 1 } else { 3 });
    let mut env: Vec<(String, String)> = Vec::new();
    if let Some(bug) = cfg.planted_bug {
        env.push(("CAIRN_PLANTED_BUG".into(), bug.into()));
    }
    let mut faults = Vec::new();
    let mut member_env = vec![env.clone(); members];
    // One member in three runs gets a fail point: a crash (once) or a
    // repeated sleep.
    if cfg.planted_bug.is_none() && rng.random_bool(0.4) {
        let at = rng.random_range(0..members);
        let point = *FAIL_POINTS.choose(&mut rng).expect("fail points");
        let action = if rng.random_bool(0.5) {
            // Snapshot and compaction points are rarely reached: fire on
            // the first hit. The hot paths are hit from bootstrap on: pass
            // a random number of hits first, so the crash comes mid-run.
            if point.starts_with("snapshot") || point == "mvcc::compact" {
                "1*panic".to_owned()
            } else {
                format!("{}*off->1*panic", rng.random_range(30..300))
            }
        } else {
            // The store's points are hit once per entry, the others once
            // per Ready: a fifth of entries sleeping made a member minutes
            // behind (seed 1069), a slow disk no cluster keeps up with.
            let percent = if point.starts_with("mvcc::") && point != "mvcc::compact" {
                2
            } else {
                20
            };
            format!("{percent}%sleep({})", rng.random_range(50..=300))
        };
        member_env[at].push(("FAILPOINTS".into(), format!("{point}={action}")));
        faults.push(format!("member {at} fail point {point}={action}"));
    }
    let snapshot_count = if rng.random_bool(0.5) { 200 } else { 10_000 };

    // The proxy listens on the ports members advertise and learns each
    // member's pid and real peer port as the cluster starts it.
    let claims: Vec<ports::PortClaim> = (0..members).map(|_| ports::claim()).collect();
    let listeners: Vec<std::net::TcpListener> = claims
        .iter()
        .map(|c| std::net::TcpListener::bind(("127.0.0.1", c.port)).expect("bind a proxy port"))
        .collect();
    let proxy = Arc::new(Proxy::start(listeners, cfg.seed));
    let on_spawn = {
        let proxy = Arc::clone(&proxy);
        Box::new(move |member: usize, pid: u32, peer_port: u16| {
            proxy.set_member(member, pid, peer_port);
        })
    };
    // Odd seeds run with TLS on both ports (mutual, as production does):
    // the proxy forwards bytes, so its faults hit TLS streams the same.
    let tls = cfg.seed % 2 == 1;
    let mut extra = vec![format!("--snapshot-count={snapshot_count}")];
    // Auth runs: the JWT keys live as long as the run.
    let auth_dir = tempfile::tempdir().expect("a temp dir");
    if let Some(mode) = cfg.auth {
        extra.extend(mode.flags(auth_dir.path()));
    }
    let opts = Options {
        extra,
        advertise_ports: Some(claims.iter().map(|c| c.port).collect()),
        env: member_env,
        on_spawn: Some(on_spawn),
        tls: tls.then(Tls::mutual),
        ..Options::default()
    };
    let began = Instant::now();
    let mut phases = [0.0; 5];
    let mut cluster = Cluster::start_opts(Server::Cairn, members, opts).await;
    phases[0] = began.elapsed().as_secs_f64();
    let channels: Vec<Channel> = (0..members).map(|i| channel(&cluster, i)).collect();
    let mut problems: Vec<Violation> = Vec::new();
    let on = cfg.auth.is_some();
    if on {
        if let Err(e) = auth::set_up(&channels[0]).await {
            problems.push(Violation::new("liveness", e));
        }
    }

    let rec = Arc::new(Recorder {
        clock: Clock(Instant::now()),
        ops: Mutex::new(Vec::new()),
        watches: Mutex::new(Vec::new()),
        samples: Mutex::new(Vec::new()),
        probes: Mutex::new(Vec::new()),
        flips: Mutex::new(Vec::new()),
        leased: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        watch_stop: AtomicBool::new(false),
        open_watches: AtomicUsize::new(0),
        seen_rev: AtomicI64::new(1),
        delete_rev: AtomicI64::new(0),
        compact_rev: AtomicI64::new(0),
    });
    let clients = 4;
    assert_eq!(
        (auth::BOB_CLIENT, auth::FIRST_PROBER_CLIENT),
        (clients - 1, clients + 2),
        "auth.rs numbers the clients so"
    );
    let mut tasks = Vec::new();
    // A watch over the whole keyspace from revision 1, resumed on another
    // member when its stream breaks: the complete log of writes.
    rec.open_watches.fetch_add(1, Ordering::Relaxed);
    tasks.push(tokio::spawn(full_watch(
        channels.clone(),
        Arc::clone(&rec),
        clients,
        Session::of(on, auth::ALICE),
    )));
    for c in 0..clients {
        let user = if c == auth::BOB_CLIENT {
            auth::BOB
        } else {
            auth::ALICE
        };
        tasks.push(tokio::spawn(client(
            c,
            channels.clone(),
            Arc::clone(&rec),
            rng.random(),
            Session::of(on, user),
        )));
    }
    tasks.push(tokio::spawn(watch_opener(
        clients + 1,
        channels.clone(),
        Arc::clone(&rec),
        rng.random(),
        Session::of(on, auth::ALICE),
    )));
    tasks.push(tokio::spawn(sampler(channels.clone(), Arc::clone(&rec))));
    if on {
        // Drawn after the others, so a seed's workload is the same with
        // auth and without.
        for p in 0..auth::PROBERS {
            tasks.push(tokio::spawn(auth::prober(
                p,
                channels.clone(),
                auth::ghost_channels(&cluster),
                Arc::clone(&rec),
                rng.random(),
            )));
        }
        tasks.push(tokio::spawn(auth::flipper(
            channels.clone(),
            Arc::clone(&rec),
            rng.random(),
        )));
    }

    // Faults until the traffic time is over; members a fail point crashed
    // come back (without their fail points).
    let until = Instant::now() + cfg.traffic;
    let mut root = Session::of(on, auth::ROOT);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    while Instant::now() < until {
        let fault = inject(&mut cluster, &proxy, &mut rng, &env, &channels, &mut root).await;
        match fault {
            Ok(f) => faults.push(format!("{:.1}s {f}", rec.clock.now() as f64 / 1e9)),
            Err(e) => problems.push(Violation::new("liveness", e)),
        }
        let pause = Duration::from_millis(rng.random_range(200..1200));
        let settle = Instant::now() + pause;
        while Instant::now() < settle {
            revive_crashed(&mut cluster, &env, &mut faults, &mut problems, rec.clock).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    rec.stop.store(true, Ordering::Relaxed);
    proxy.heal();
    revive_crashed(&mut cluster, &env, &mut faults, &mut problems, rec.clock).await;
    for t in tasks.drain(1..) {
        let _ = tokio::time::timeout(CALL_TIMEOUT * 2, t).await;
    }

    // The end: every member up, final reads, watches caught up, hashes.
    phases[1] = began.elapsed().as_secs_f64() - phases[0];
    let mut final_kvs = BTreeMap::new();
    let final_rev = match finish(
        &mut cluster,
        &channels,
        &rec,
        clients,
        &env,
        &mut final_kvs,
        &mut root,
    )
    .await
    {
        Ok(rev) => rev,
        Err(e) => {
            problems.push(Violation::new("liveness", e));
            0
        }
    };
    let mut final_scan = None;
    if on && final_rev > 0 {
        match auth::final_scan(&channels[0]).await {
            Ok(scan) => final_scan = Some(scan),
            Err(e) => problems.push(Violation::new("liveness", e)),
        }
    }
    phases[2] = began.elapsed().as_secs_f64() - phases[..2].iter().sum::<f64>();
    rec.watch_stop.store(true, Ordering::Relaxed);
    let waiting = Instant::now();
    while rec.open_watches.load(Ordering::Relaxed) > 0
        && waiting.elapsed() < PROGRESS_PATIENCE + CALL_TIMEOUT
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tasks.clear();
    let mut history = History {
        ops: std::mem::take(&mut *rec.ops.lock().expect("ops")),
        watches: std::mem::take(&mut *rec.watches.lock().expect("watches")),
        samples: std::mem::take(&mut *rec.samples.lock().expect("samples")),
        final_hashes: Vec::new(),
        probes: std::mem::take(&mut *rec.probes.lock().expect("probes")),
        flips: std::mem::take(&mut *rec.flips.lock().expect("flips")),
        leased: std::mem::take(&mut *rec.leased.lock().expect("leased")),
        final_scan,
    };
    if final_rev > 0 {
        match final_hashes(&cluster, final_rev, on).await {
            Ok(h) => history.final_hashes = h,
            Err(e) => problems.push(Violation::new("liveness", e)),
        }
    }

    phases[3] = began.elapsed().as_secs_f64() - phases[..3].iter().sum::<f64>();
    let (violations, undecided) = check(&mut history, &final_kvs, final_rev, problems, on);
    phases[4] = began.elapsed().as_secs_f64() - phases[..4].iter().sum::<f64>();
    let ops = history.ops.len();
    let ok = history
        .ops
        .iter()
        .filter(|o| o.response().is_some())
        .count();
    let unknown = history
        .ops
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Unknown(_)))
        .count();
    let watch_events = history.watches.iter().map(|w| w.events.len()).sum();
    let (refused, unsure) = auth::probe_counts(&history);
    let mut report = RunReport {
        seed: cfg.seed,
        members,
        tls,
        auth: cfg.auth,
        probes: (refused, unsure, history.flips.len()),
        faults,
        ops,
        ok,
        unknown,
        watch_events,
        violations,
        undecided,
        kept: None,
        phases,
        peer_connections: proxy.connections(),
    };
    if !report.violations.is_empty() || std::env::var_os("ROBUSTNESS_KEEP").is_some() {
        report.kept = Some(keep(&report, &history, &cluster, cfg));
    }
    drop(cluster);
    drop(claims);
    report
}

/// Runs every checker; fills in what the history settles first.
fn check(
    history: &mut History,
    final_kvs: &BTreeMap<String, Option<Kv>>,
    final_rev: i64,
    mut out: Vec<Violation>,
    auth_on: bool,
) -> (Vec<Violation>, usize) {
    let (log, v) = watch_check::check_watches(history);
    out.extend(v);
    for w in history
        .watches
        .iter()
        .filter(|w| w.error.as_deref() == Some(STALLED))
    {
        out.push(Violation::new(
            "watch-stalled",
            format!(
                "watch from {} on member {} never answered a progress request after the run",
                w.start_rev, w.member
            ),
        ));
    }
    if final_rev > 0 {
        watch_check::settle_unknown_writes(history, &log, final_rev);
    }
    out.extend(watch_check::check_events_against_calls(history, &log));
    let (v, undecided) = linearize::check_keys(history);
    out.extend(v);
    out.extend(linearize::check_revisions(history));
    out.extend(linearize::check_serializable(history));
    out.extend(watch_check::check_final(history, final_kvs, &log));
    if auth_on {
        let finals: Vec<Kv> = final_kvs.values().flatten().cloned().collect();
        out.extend(auth::check(history, &finals));
    }
    (out, undecided)
}

/// Writes the evidence of a run under the target dir and returns where.
fn keep(report: &RunReport, history: &History, cluster: &Cluster, cfg: &RunConfig) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("robustness")
        .join(format!("seed-{}", cfg.seed));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the evidence dir");
    let mut text = format!(
        "{}\nplanted bug: {:?}\n\nviolations:\n",
        report.summary(),
        cfg.planted_bug
    );
    for v in &report.violations {
        let _ = writeln!(text, "  [{}] {}", v.check, v.detail);
    }
    let _ = writeln!(text, "\nfaults:");
    for f in &report.faults {
        let _ = writeln!(text, "  {f}");
    }
    let _ = writeln!(text, "\nreplay: {}", replay_command(cfg));
    std::fs::write(dir.join("report.txt"), text).expect("write report");
    std::fs::write(dir.join("history.txt"), history.to_string()).expect("write history");
    for i in 0..cluster.size() {
        let _ = std::fs::write(dir.join(format!("m{i}.log")), cluster.log(i));
    }
    dir
}

/// The command that runs one seed again.
pub fn replay_command(cfg: &RunConfig) -> String {
    format!(
        "ROBUSTNESS_SEED={} ROBUSTNESS_SECONDS={} cargo nextest run -p cairn --features failpoints,planted-bugs --test robustness {}",
        cfg.seed,
        cfg.traffic.as_secs(),
        match (cfg.planted_bug, cfg.auth) {
            (Some(bug), _) => format!("planted_{}_is_caught", bug.replace('-', "_")),
            (None, Some(_)) => "auth_batch".to_owned(),
            (None, None) => "randomized_batch".to_owned(),
        }
    )
}

fn channel(cluster: &Cluster, i: usize) -> Channel {
    cluster
        .endpoint(i)
        .connect_timeout(Duration::from_secs(1))
        .connect_lazy()
}

pub fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn to_kv(kv: &mvccpb::KeyValue) -> Kv {
    Kv {
        key: text(&kv.key),
        value: text(&kv.value),
        mod_rev: kv.mod_revision,
        lease: kv.lease,
    }
}

/// How an error ends a call that might write: only refusals that prove the
/// request was never applied count as failed — etcd's refusals of the
/// request itself, and a connection that could not be opened (the request
/// was never sent).
fn write_outcome(status: &tonic::Status) -> Outcome {
    use tonic::Code;
    let never_sent = status.code() == Code::Unavailable && never_connected(status);
    match status.code() {
        // Auth refusals too: a token refused before the request was
        // proposed, permissions checked when it was applied.
        Code::InvalidArgument
        | Code::NotFound
        | Code::OutOfRange
        | Code::FailedPrecondition
        | Code::Unauthenticated
        | Code::PermissionDenied => Outcome::Failed(status.message().to_owned()),
        _ if never_sent => Outcome::Failed(format!("not connected: {}", status.message())),
        _ => Outcome::Unknown(format!("{:?}: {}", status.code(), status.message())),
    }
}

/// True if the error comes from opening the connection, before anything
/// was sent on it.
fn never_connected(status: &tonic::Status) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    let mut text = status.message().to_owned();
    while let Some(e) = source {
        text.push_str(&e.to_string());
        source = e.source();
    }
    text.contains("tcp connect error") || text.contains("Connection refused")
}

/// One client: a random mix of calls on one member, moving to the next
/// member after a call of unknown outcome.
async fn client(
    id: usize,
    channels: Vec<Channel>,
    rec: Arc<Recorder>,
    seed: u64,
    mut session: Session,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut member = id % channels.len();
    let mut seq = 0u64;
    let mut lease: i64 = 0;
    let mut last_seen: BTreeMap<String, Option<String>> = BTreeMap::new();
    while !rec.stop.load(Ordering::Relaxed) {
        // Auth runs: log in (again) where there is no token; a login that
        // fails is no call, so the client just moves on.
        let Ok(token) = session.token(&channels[member]).await else {
            member = (member + 1) % channels.len();
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        seq += 1;
        let key = format!("k{}", rng.random_range(0..KEYS));
        let value = format!("c{id}-{seq}");
        let roll = rng.random_range(0..100);
        let req = match roll {
            0..30 => Request::Put {
                key,
                value,
                lease: 0,
            },
            30..50 => Request::Get {
                key,
                serializable: false,
            },
            50..60 => Request::Get {
                key,
                serializable: true,
            },
            60..68 => Request::Delete { key },
            68..83 => {
                let expect = last_seen.get(&key).cloned().flatten();
                Request::Cas { key, expect, value }
            }
            83..93 => {
                if lease == 0 {
                    lease = grant(&channels[member], &token).await.unwrap_or(0);
                    if lease == 0 {
                        continue;
                    }
                }
                Request::Put { key, value, lease }
            }
            93..97 if lease != 0 => Request::Revoke {
                lease: std::mem::take(&mut lease),
            },
            97..100 => {
                let deleted_at = rec.delete_rev.load(Ordering::Relaxed);
                let rev = if rng.random_bool(0.5) && deleted_at > 0 {
                    deleted_at
                } else {
                    rec.seen_rev.load(Ordering::Relaxed) - rng.random_range(20..200)
                };
                if rev < 2 {
                    continue;
                }
                Request::Compact { revision: rev }
            }
            _ => continue,
        };
        let at = member;
        let call = rec.clock.now();
        let outcome =
            tokio::time::timeout(CALL_TIMEOUT, send(&channels[member], &token, &req)).await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(_) => Outcome::Unknown("client timeout".into()),
        };
        if let Outcome::Failed(m) | Outcome::Unknown(m) = &outcome {
            session.note(m);
        }
        let ret = (!matches!(outcome, Outcome::Unknown(_))).then(|| rec.clock.now());
        match &outcome {
            Outcome::Ok(resp) => {
                rec.note_rev(resp.rev());
                match (&req, resp) {
                    (Request::Get { key, .. }, Response::Get { kv, .. }) => {
                        last_seen.insert(key.clone(), kv.as_ref().map(|kv| kv.value.clone()));
                    }
                    (Request::Put { key, value, .. }, _)
                    | (
                        Request::Cas { key, value, .. },
                        Response::Cas {
                            succeeded: true, ..
                        },
                    ) => {
                        last_seen.insert(key.clone(), Some(value.clone()));
                    }
                    (Request::Cas { key, .. }, Response::Cas { kv, .. }) => {
                        last_seen.insert(key.clone(), kv.as_ref().map(|kv| kv.value.clone()));
                    }
                    (Request::Delete { key }, Response::Delete { rev, deleted }) => {
                        last_seen.insert(key.clone(), None);
                        if *deleted > 0 {
                            rec.delete_rev.fetch_max(*rev, Ordering::Relaxed);
                        }
                    }
                    (Request::Compact { revision }, _) => {
                        rec.compact_rev.fetch_max(*revision, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
            // Move on, and give the cluster a moment: a client hammering
            // a dead member would only fill the history with refusals.
            Outcome::Unknown(_) => {
                member = (member + 1) % channels.len();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Outcome::Failed(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
        rec.ops.lock().expect("ops").push(Op {
            client: id,
            member: at,
            call,
            ret,
            req,
            outcome,
        });
    }
}

pub async fn grant(ch: &Channel, token: &Token) -> Option<i64> {
    let mut c = LeaseClient::with_interceptor(ch.clone(), token.clone());
    let r = tokio::time::timeout(
        CALL_TIMEOUT,
        c.lease_grant(LeaseGrantRequest { ttl: 600, id: 0 }),
    )
    .await
    .ok()?
    .ok()?;
    Some(r.into_inner().id)
}

/// Sends one request with `token` and turns the answer into an outcome.
pub async fn send(ch: &Channel, token: &Token, req: &Request) -> Outcome {
    let mut kv = KvClient::with_interceptor(ch.clone(), token.clone());
    match req {
        Request::Put { key, value, lease } => {
            match kv
                .put(PutRequest {
                    key: bytes(key),
                    value: bytes(value),
                    lease: *lease,
                    ..Default::default()
                })
                .await
            {
                Ok(r) => Outcome::Ok(Response::Put {
                    rev: header_rev(r.get_ref().header.as_ref()),
                }),
                Err(e) => write_outcome(&e),
            }
        }
        Request::Get { key, serializable } => {
            match kv
                .range(RangeRequest {
                    key: bytes(key),
                    serializable: *serializable,
                    ..Default::default()
                })
                .await
            {
                Ok(r) => {
                    let r = r.into_inner();
                    Outcome::Ok(Response::Get {
                        rev: header_rev(r.header.as_ref()),
                        kv: r.kvs.first().map(to_kv),
                    })
                }
                Err(e) => Outcome::Failed(e.message().to_owned()),
            }
        }
        Request::Delete { key } => {
            match kv
                .delete_range(DeleteRangeRequest {
                    key: bytes(key),
                    ..Default::default()
                })
                .await
            {
                Ok(r) => {
                    let r = r.into_inner();
                    Outcome::Ok(Response::Delete {
                        rev: header_rev(r.header.as_ref()),
                        deleted: r.deleted,
                    })
                }
                Err(e) => write_outcome(&e),
            }
        }
        Request::Cas { key, expect, value } => {
            let compare = match expect {
                Some(v) => Compare {
                    result: CompareResult::Equal as i32,
                    target: CompareTarget::Value as i32,
                    key: bytes(key),
                    target_union: Some(TargetUnion::Value(bytes(v))),
                    range_end: Vec::new(),
                },
                None => Compare {
                    result: CompareResult::Equal as i32,
                    target: CompareTarget::Version as i32,
                    key: bytes(key),
                    target_union: Some(TargetUnion::Version(0)),
                    range_end: Vec::new(),
                },
            };
            let txn = TxnRequest {
                compare: vec![compare],
                success: vec![RequestOp {
                    request: Some(request_op::Request::RequestPut(PutRequest {
                        key: bytes(key),
                        value: bytes(value),
                        ..Default::default()
                    })),
                }],
                failure: vec![RequestOp {
                    request: Some(request_op::Request::RequestRange(RangeRequest {
                        key: bytes(key),
                        ..Default::default()
                    })),
                }],
            };
            match kv.txn(txn).await {
                Ok(r) => {
                    let r = r.into_inner();
                    let kv = r.responses.iter().find_map(|op| match &op.response {
                        Some(response_op::Response::ResponseRange(range)) => {
                            Some(range.kvs.first().map(to_kv))
                        }
                        _ => None,
                    });
                    Outcome::Ok(Response::Cas {
                        rev: header_rev(r.header.as_ref()),
                        succeeded: r.succeeded,
                        kv: kv.flatten(),
                    })
                }
                Err(e) => write_outcome(&e),
            }
        }
        Request::Revoke { lease } => {
            let mut c = LeaseClient::with_interceptor(ch.clone(), token.clone());
            match c.lease_revoke(LeaseRevokeRequest { id: *lease }).await {
                Ok(r) => Outcome::Ok(Response::Revoke {
                    rev: header_rev(r.get_ref().header.as_ref()),
                }),
                Err(e) => write_outcome(&e),
            }
        }
        Request::Compact { revision } => {
            match kv
                .compact(CompactionRequest {
                    revision: *revision,
                    physical: false,
                })
                .await
            {
                Ok(r) => Outcome::Ok(Response::Compact {
                    rev: header_rev(r.get_ref().header.as_ref()),
                }),
                Err(e) => write_outcome(&e),
            }
        }
    }
}

fn header_rev(h: Option<&cairn_proto::etcdserverpb::ResponseHeader>) -> i64 {
    h.map_or(0, |h| h.revision)
}

/// Opens a watch on `ch` from `start_rev` over every key and records it
/// until the run stops, the stream breaks, or (with `until`) it has seen
/// that revision. Returns the recorded watch.
async fn watch_once(
    ch: &Channel,
    token: &Token,
    client: usize,
    member: usize,
    start_rev: i64,
    rec: &Recorder,
) -> Watch {
    let mut w = Watch {
        client,
        member,
        start_rev,
        events: Vec::new(),
        last_rev: 0,
        error: None,
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let create = WatchCreateRequest {
        key: bytes("k"),
        range_end: bytes("l"),
        start_revision: start_rev,
        prev_kv: true,
        ..Default::default()
    };
    let _ = tx
        .send(WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(create)),
        })
        .await;
    let mut c = WatchClient::with_interceptor(ch.clone(), token.clone());
    let opened = tokio::time::timeout(
        CALL_TIMEOUT,
        c.watch(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
    .await;
    let mut stream = match opened {
        Ok(Ok(s)) => s.into_inner(),
        Ok(Err(e)) => {
            w.error = Some(e.message().to_owned());
            return w;
        }
        Err(_) => {
            w.error = Some("open timed out".into());
            return w;
        }
    };
    let mut progress_asked = false;
    let mut asked_at = Instant::now();
    loop {
        let stopping = rec.watch_stop.load(Ordering::Relaxed);
        if stopping && !progress_asked {
            asked_at = Instant::now();
            // Ask where the stream stands, so the last revision it vouches
            // for is known.
            progress_asked = true;
            let _ = tx
                .send(WatchRequest {
                    request_union: Some(RequestUnion::ProgressRequest(WatchProgressRequest {})),
                })
                .await;
        }
        let next = tokio::time::timeout(Duration::from_millis(200), stream.message()).await;
        let resp = match next {
            Err(_) if progress_asked && asked_at.elapsed() > PROGRESS_PATIENCE => {
                w.error = Some(STALLED.into());
                return w;
            }
            Err(_) => continue,
            Ok(Ok(Some(r))) => r,
            Ok(Ok(None)) => {
                w.error = Some("stream ended".into());
                return w;
            }
            Ok(Err(e)) => {
                w.error = Some(e.message().to_owned());
                return w;
            }
        };
        if resp.canceled {
            w.error = Some(format!(
                "canceled: {} (compacted to {})",
                resp.cancel_reason, resp.compact_revision
            ));
            return w;
        }
        let rev = header_rev(resp.header.as_ref());
        for e in &resp.events {
            let Some(kv) = e.kv.as_ref() else { continue };
            w.events.push(Event {
                rev: kv.mod_revision,
                put: e.r#type == EventType::Put as i32,
                kv: Kv {
                    value: if e.r#type == EventType::Put as i32 {
                        text(&kv.value)
                    } else {
                        String::new()
                    },
                    ..to_kv(kv)
                },
                prev: e.prev_kv.as_ref().map(to_kv),
            });
        }
        if resp.events.is_empty() && !resp.created && progress_asked {
            // The progress answer: everything up to `rev` was delivered.
            w.last_rev = rev;
            return w;
        }
    }
}

/// The watch from revision 1, resumed after the last event it saw on the
/// next member whenever its stream breaks, until the run stops.
async fn full_watch(
    channels: Vec<Channel>,
    rec: Arc<Recorder>,
    client: usize,
    mut session: Session,
) {
    let mut start = 1;
    let mut member = 0;
    let deadline = Duration::from_secs(30);
    let begun = Instant::now();
    loop {
        let mut done = false;
        if let Ok(token) = session.token(&channels[member]).await {
            let w = watch_once(&channels[member], &token, client, member, start, &rec).await;
            done = w.error.is_none();
            if w.error.as_deref().is_some_and(auth::refused_watch) {
                session.forget();
            }
            start = w.events.last().map_or(start, |e| e.rev + 1);
            rec.watches.lock().expect("watches").push(w);
        }
        if done || (rec.watch_stop.load(Ordering::Relaxed) && begun.elapsed() > deadline) {
            rec.open_watches.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        member = (member + 1) % channels.len();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens watches at random recent revisions on random members, each
/// logging in afresh in auth runs.
async fn watch_opener(
    client: usize,
    channels: Vec<Channel>,
    rec: Arc<Recorder>,
    seed: u64,
    session: Session,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    while !rec.stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(500..1500))).await;
        let member = rng.random_range(0..channels.len());
        let compacted = rec.compact_rev.load(Ordering::Relaxed);
        let start = if rng.random_bool(0.25) && compacted > 0 {
            compacted
        } else {
            (rec.seen_rev.load(Ordering::Relaxed) - rng.random_range(0..50)).max(1)
        };
        let (ch, rec) = (channels[member].clone(), Arc::clone(&rec));
        let mut session = session.clone();
        rec.open_watches.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Ok(token) = session.token(&ch).await {
                let w = watch_once(&ch, &token, client, member, start, &rec).await;
                rec.watches.lock().expect("watches").push(w);
            }
            rec.open_watches.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Samples every member's revision a few times a second.
async fn sampler(channels: Vec<Channel>, rec: Arc<Recorder>) {
    while !rec.stop.load(Ordering::Relaxed) {
        for (member, ch) in channels.iter().enumerate() {
            let mut c = MaintenanceClient::new(ch.clone());
            let r =
                tokio::time::timeout(Duration::from_millis(500), c.status(StatusRequest {})).await;
            if let Ok(Ok(s)) = r {
                rec.samples.lock().expect("samples").push(RevisionSample {
                    member,
                    at: rec.clock.now(),
                    rev: header_rev(s.get_ref().header.as_ref()),
                });
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The leader as the running members see it, if a majority agree.
async fn current_leader(cluster: &Cluster) -> Option<usize> {
    let mut votes: BTreeMap<u64, usize> = BTreeMap::new();
    for i in cluster.running() {
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(500), cluster.status(i)).await
        {
            *votes.entry(s.leader).or_default() += 1;
        }
    }
    let (id, n) = votes.into_iter().max_by_key(|(_, n)| *n)?;
    (n * 2 > cluster.size())
        .then(|| cluster.index_of(id))
        .flatten()
}

/// Restarts member `v` without fail points and waits for a leader. A
/// member that a fail point crashes meanwhile (the wait sees it exit) is
/// restarted too, and named in the result: that is the fault working, not
/// the cluster failing to recover.
async fn restart(
    cluster: &mut Cluster,
    v: usize,
    env: &[(String, String)],
) -> Result<Vec<usize>, String> {
    cluster.set_env(v, env.to_vec());
    let mut result = cluster.try_restart(v, RESTART_TIMEOUT).await;
    let mut crashed = Vec::new();
    while result.is_err() {
        let now: Vec<usize> = (0..cluster.size())
            .filter(|&i| cluster.reap_if_exited(i).is_some())
            .collect();
        if now.is_empty() || crashed.len() > cluster.size() {
            break;
        }
        for &c in &now {
            cluster.set_env(c, env.to_vec());
            result = cluster.try_restart(c, RESTART_TIMEOUT).await;
        }
        crashed.extend(now);
    }
    result.map(|()| crashed)
}

/// Restarts members that died on their own (a fail point's panic).
async fn revive_crashed(
    cluster: &mut Cluster,
    env: &[(String, String)],
    faults: &mut Vec<String>,
    problems: &mut Vec<Violation>,
    clock: Clock,
) {
    for i in 0..cluster.size() {
        if let Some(status) = cluster.reap_if_exited(i) {
            faults.push(format!(
                "{:.1}s member {i} crashed ({status}), restarted",
                clock.now() as f64 / 1e9
            ));
            if let Err(e) = restart(cluster, i, env).await {
                problems.push(Violation::new(
                    "liveness",
                    format!("member {i} did not come back after a crash: {e}"),
                ));
            }
        }
    }
}

/// Injects one fault, holds it, and undoes it. Says what it did.
async fn inject(
    cluster: &mut Cluster,
    proxy: &Proxy,
    rng: &mut ChaCha8Rng,
    env: &[(String, String)],
    channels: &[Channel],
    root: &mut Session,
) -> Result<String, String> {
    let n = cluster.size();
    let leader = current_leader(cluster).await;
    let pick_follower = |rng: &mut ChaCha8Rng| {
        let others: Vec<usize> = (0..n).filter(|&i| Some(i) != leader).collect();
        *others.choose(rng).unwrap_or(&0)
    };
    let hold = Duration::from_millis(rng.random_range(300..2500));
    let kinds: &[&str] = if n == 1 {
        &["kill", "pause"]
    } else {
        &[
            "kill-leader",
            "kill-follower",
            "kill-majority",
            "pause-leader",
            "pause-follower",
            "isolate-leader",
            "isolate-follower",
            "one-way",
            "delay",
            "move-leader",
        ]
    };
    let kind = *kinds.choose(rng).expect("kinds");
    let held = format!("{kind} for {} ms", hold.as_millis());
    let running = |c: &Cluster, i: usize| c.running().contains(&i);
    match kind {
        "kill" | "kill-leader" | "kill-follower" | "kill-majority" => {
            let victims: Vec<usize> = match kind {
                "kill-leader" => leader.into_iter().collect(),
                "kill-follower" => vec![pick_follower(rng)],
                "kill-majority" => {
                    let first = rng.random_range(0..n);
                    vec![first, (first + 1) % n]
                }
                _ => vec![0],
            };
            let victims: Vec<usize> = victims
                .into_iter()
                .filter(|&i| running(cluster, i))
                .collect();
            for &v in &victims {
                cluster.kill(v);
            }
            tokio::time::sleep(hold).await;
            let mut crashed = Vec::new();
            for &v in &victims {
                crashed.extend(
                    restart(cluster, v, env)
                        .await
                        .map_err(|e| format!("member {v} did not come back after SIGKILL: {e}"))?,
                );
            }
            let also = if crashed.is_empty() {
                String::new()
            } else {
                format!("; meanwhile members {crashed:?} crashed (fail point) and were restarted")
            };
            Ok(format!(
                "{held}: SIGKILL members {victims:?}, restarted{also}"
            ))
        }
        "pause" | "pause-leader" | "pause-follower" => {
            let v = match kind {
                "pause-leader" => leader.unwrap_or(0),
                "pause-follower" => pick_follower(rng),
                _ => 0,
            };
            if !running(cluster, v) {
                return Ok(format!("{held}: member {v} not running, skipped"));
            }
            cluster.stop(v);
            tokio::time::sleep(hold).await;
            cluster.cont(v);
            Ok(format!("{held}: SIGSTOP/SIGCONT member {v}"))
        }
        "isolate-leader" | "isolate-follower" => {
            let v = if kind == "isolate-leader" {
                leader.unwrap_or(0)
            } else {
                pick_follower(rng)
            };
            let link = if rng.random_bool(0.5) {
                Link::Blackhole
            } else {
                Link::Drop
            };
            proxy.isolate(v, n, link);
            tokio::time::sleep(hold).await;
            proxy.heal();
            Ok(format!("{held}: member {v} isolated ({link:?})"))
        }
        "one-way" => {
            let from = leader.unwrap_or(0);
            let link = if rng.random_bool(0.5) {
                Link::Blackhole
            } else {
                Link::Drop
            };
            for to in (0..n).filter(|&t| t != from) {
                proxy.set(from, to, link);
            }
            tokio::time::sleep(hold).await;
            proxy.heal();
            Ok(format!(
                "{held}: member {from} cannot send to the others ({link:?})"
            ))
        }
        "delay" => {
            let base_ms = rng.random_range(20..200);
            let jitter_ms = rng.random_range(0..100);
            for from in 0..n {
                for to in (0..n).filter(|&t| t != from) {
                    proxy.set(from, to, Link::Delay { base_ms, jitter_ms });
                }
            }
            tokio::time::sleep(hold).await;
            proxy.heal();
            Ok(format!(
                "{held}: every peer link delayed {base_ms}+{jitter_ms} ms"
            ))
        }
        "move-leader" => {
            let Some(l) = leader else {
                return Ok("move-leader: no leader, skipped".into());
            };
            let to = pick_follower(rng);
            let token = match root.token(&channels[l]).await {
                Ok(t) => t,
                Err(e) => return Ok(format!("move-leader {l} -> {to}: {e}, skipped")),
            };
            let mut c = MaintenanceClient::with_interceptor(channels[l].clone(), token);
            let target = cluster.member_id(to);
            let r = tokio::time::timeout(
                CALL_TIMEOUT,
                c.move_leader(MoveLeaderRequest { target_id: target }),
            )
            .await;
            if let Ok(Err(e)) = &r {
                root.note(e.message());
            }
            Ok(format!(
                "move-leader {l} -> {to}: {}",
                match r {
                    Ok(Ok(_)) => "done".to_owned(),
                    Ok(Err(e)) => e.message().to_owned(),
                    Err(_) => "timed out".to_owned(),
                }
            ))
        }
        other => unreachable!("fault {other}"),
    }
}

/// After the traffic: every member running and agreeing on a leader, a
/// final linearizable read of every key (recorded), and the revision the
/// run ends at.
async fn finish(
    cluster: &mut Cluster,
    channels: &[Channel],
    rec: &Recorder,
    client: usize,
    env: &[(String, String)],
    final_kvs: &mut BTreeMap<String, Option<Kv>>,
    root: &mut Session,
) -> Result<i64, String> {
    for i in 0..cluster.size() {
        if !cluster.running().contains(&i) {
            restart(cluster, i, env).await?;
        }
    }
    // A member can still trip a fail point while the others catch it up
    // (a snapshot send), so wait for a leader a few seconds at a time and
    // revive whoever exited in between.
    let deadline = Instant::now() + RESTART_TIMEOUT;
    loop {
        restart_exited(cluster, env).await?;
        match cluster.leader_among(&cluster.running(), LEADER_POLL).await {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => {}
        }
    }
    let mut final_rev = 0;
    for k in 0..KEYS {
        let key = format!("k{k}");
        let req = Request::Get {
            key: key.clone(),
            serializable: false,
        };
        let mut outcome = Outcome::Failed("not tried".into());
        let mut call = 0;
        for _ in 0..10 {
            restart_exited(cluster, env).await?;
            call = rec.clock.now();
            outcome = match root.token(&channels[0]).await {
                Ok(token) => tokio::time::timeout(CALL_TIMEOUT, send(&channels[0], &token, &req))
                    .await
                    .unwrap_or(Outcome::Failed("timeout".into())),
                Err(e) => Outcome::Failed(e),
            };
            if matches!(outcome, Outcome::Ok(_)) {
                break;
            }
            if let Outcome::Failed(m) | Outcome::Unknown(m) = &outcome {
                root.note(m);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let Outcome::Ok(Response::Get { rev, kv }) = &outcome else {
            return Err(format!("the final read of {key} failed: {outcome:?}"));
        };
        final_rev = final_rev.max(*rev);
        final_kvs.insert(key, kv.clone());
        rec.ops.lock().expect("ops").push(Op {
            client,
            member: 0,
            call,
            ret: Some(rec.clock.now()),
            req,
            outcome: outcome.clone(),
        });
    }
    // Every member catches up to the final revision.
    let deadline = Instant::now() + RESTART_TIMEOUT;
    for i in 0..cluster.size() {
        loop {
            let rev = cluster
                .status(i)
                .await
                .ok()
                .and_then(|s| s.header.map(|h| h.revision))
                .unwrap_or(0);
            if rev >= final_rev {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("member {i} stuck at revision {rev} < {final_rev}"));
            }
            restart_exited(cluster, env).await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(final_rev)
}

/// Restarts (without fail points) any member that exited. Members that
/// never crashed keep their fail points armed, and catching up a member in
/// the end phase can trip one (a leader panicking in `snapshot::send`), so
/// the end phase revives members too: a planned crash is not a liveness
/// failure.
async fn restart_exited(cluster: &mut Cluster, env: &[(String, String)]) -> Result<(), String> {
    for i in 0..cluster.size() {
        if cluster.reap_if_exited(i).is_some() {
            restart(cluster, i, env)
                .await
                .map_err(|e| format!("member {i} did not come back after a crash: {e}"))?;
        }
    }
    Ok(())
}

/// Every member's HashKV at `rev`, the final reads' revision. When the
/// run's last call compacted exactly there, HashKV at `rev` is refused
/// (by etcd too); then each member hashes its current revision instead,
/// asked again until they all answer for the same one, so the check still
/// compares equal states and can catch them differing.
async fn final_hashes(
    cluster: &Cluster,
    rev: i64,
    auth_on: bool,
) -> Result<Vec<(usize, i64, u32)>, String> {
    let mut out = Vec::new();
    for _ in 0..20 {
        out.clear();
        for i in 0..cluster.size() {
            let ch = cluster.channel(i).await?;
            // HashKV needs the root role in auth runs.
            let token = Session::of(auth_on, auth::ROOT)
                .token(&ch)
                .await
                .map_err(|e| format!("member {i}: {e}"))?;
            let mut maintenance = MaintenanceClient::with_interceptor(ch, token);
            let (at, r) = match maintenance.hash_kv(HashKvRequest { revision: rev }).await {
                Ok(r) => (rev, r.into_inner()),
                Err(e) if e.message().contains("compacted") => {
                    let r = maintenance
                        .hash_kv(HashKvRequest { revision: 0 })
                        .await
                        .map_err(|e| format!("HashKV of member {i}: {e}"))?
                        .into_inner();
                    (r.header.as_ref().map_or(0, |h| h.revision), r)
                }
                Err(e) => return Err(format!("HashKV of member {i}: {e}")),
            };
            out.push((i, at, r.hash));
        }
        if out.iter().all(|h| h.1 == out[0].1) {
            break;
        }
        // A lease expired meanwhile: some members applied its revoke.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(out)
}
