//! `bench`: load generator and latency report, modelled on etcd's
//! benchmark tool, for measuring cairn against etcd with the same client.
//!
//! Workloads: `put`, `range KEY [END]`, `txn-put`, `txn-mixed`,
//! `lease-keepalive` (here), `watch` and `watch-latency` (`watch.rs`), as
//! etcd's tool has them; and cairn's own `txn-cas` (Kubernetes' update:
//! a txn that puts only if the key's mod revision is the one last seen)
//! and `lease-grant-revoke`. The
//! request workloads run `--clients` concurrent workers over `--conns`
//! connections (separate clients, so separate HTTP/2 connections) until
//! `--total` requests are done, optionally capped at `--rate` requests per
//! second ([`drive`]). With `--user`, each of those clients logs in before
//! the clock starts and sends its token on every request. A progress bar runs on stderr (on a terminal only);
//! the report (throughput, a latency histogram, percentiles, errors) goes to
//! stdout ([`report`]).

mod watch;

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_client::pb;
use cairn_client::pb::request_op::Request;
use cairn_client::{Client, Error};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::Mutex;

use crate::cli::{Ctx, Failure, Outcome, describe, exit};

#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Total number of gRPC connections
    #[arg(long, default_value_t = 1, global = true)]
    pub conns: usize,
    /// Total number of gRPC clients
    #[arg(long, default_value_t = 1, global = true)]
    pub clients: usize,
    /// Total number of requests
    #[arg(long, default_value_t = 10000, global = true)]
    pub total: u64,
    /// Maximum requests per second (0 is no limit)
    #[arg(long, default_value_t = 0, global = true)]
    pub rate: u64,
    /// Write to the leader only (found with Status)
    #[arg(long = "target-leader", global = true)]
    pub target_leader: bool,
}

#[derive(Subcommand, Debug)]
pub enum Workload {
    /// Benchmark put
    Put(KeyArgs),
    /// Benchmark range
    Range {
        /// Linearizable(l) or Serializable(s)
        #[arg(long, default_value = "l")]
        consistency: String,
        args: Vec<String>,
    },
    /// Benchmark txn with puts
    #[command(name = "txn-put")]
    TxnPut {
        #[command(flatten)]
        keys: KeyArgs,
        /// Number of puts per txn
        #[arg(long = "txn-ops", default_value_t = 1)]
        txn_ops: usize,
    },
    /// Benchmark txn with a mix of reads and writes
    #[command(name = "txn-mixed")]
    TxnMixed {
        #[command(flatten)]
        keys: KeyArgs,
        /// Read/write ops ratio
        #[arg(long = "rw-ratio", default_value_t = 1.0)]
        rw_ratio: f64,
        /// Linearizable(l) or Serializable(s)
        #[arg(long, default_value = "l")]
        consistency: String,
    },
    /// Benchmark watch: open watchers, then put to their keys and count
    /// the events
    Watch(watch::WatchArgs),
    /// Benchmark the latency from a put to each watcher's event
    #[command(name = "watch-latency")]
    WatchLatency(watch::LatencyArgs),
    /// Benchmark lease keepalive
    #[command(name = "lease-keepalive")]
    LeaseKeepalive,
    /// Benchmark compare-and-swap txns: put a key only if its mod revision
    /// is the one this client last saw, else read it again
    #[command(name = "txn-cas")]
    TxnCas(KeyArgs),
    /// Benchmark lease churn: each request grants a lease and revokes it
    #[command(name = "lease-grant-revoke")]
    LeaseGrantRevoke {
        /// TTL of each lease, in seconds
        #[arg(long, default_value_t = 60)]
        ttl: i64,
    },
}

#[derive(clap::Args, Debug, Clone)]
pub struct KeyArgs {
    /// Key size of the request
    #[arg(long = "key-size", default_value_t = 8)]
    pub key_size: usize,
    /// Value size of the request
    #[arg(long = "val-size", default_value_t = 8)]
    pub val_size: usize,
    /// Maximum possible keys
    #[arg(long = "key-space-size", default_value_t = 1)]
    pub key_space_size: u64,
    /// Use sequential keys
    #[arg(long = "sequential-keys")]
    pub sequential_keys: bool,
    /// Put every key under this prefix (cairn's own, to keep workloads'
    /// keys apart)
    #[arg(long = "key-prefix", default_value = "")]
    pub key_prefix: String,
}

impl KeyArgs {
    /// Key number `n` of the key space, under the prefix.
    fn key(&self, n: u64) -> Vec<u8> {
        let mut k = self.key_prefix.clone().into_bytes();
        k.extend(key(n % self.key_space_size.max(1), self.key_size));
        k
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub workload: Workload,
}

/// A small fast PRNG (xorshift64*): keys need spread, not secrecy.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Key number `n` written in `size` bytes (decimal, zero-padded).
pub fn key(n: u64, size: usize) -> Vec<u8> {
    let mut k = format!("{n:0size$}").into_bytes();
    k.truncate(size.max(1));
    k
}

/// The request a worker sends, built per request.
#[derive(Debug, Clone)]
pub(super) enum Job {
    Put(KeyArgs),
    Range(pb::RangeRequest),
    TxnPut(KeyArgs, usize),
    KeepAlive(i64),
    TxnMixed(KeyArgs, f64, bool),
    /// Request `i` puts `value` to `keys[i % keys.len()]` (the watch
    /// workloads, whose watchers must know which puts reach them).
    PutKeys(Arc<Vec<Vec<u8>>>, Vec<u8>),
    TxnCas(KeyArgs),
    LeaseGrantRevoke(i64),
}

/// What one worker keeps between its requests.
#[derive(Debug)]
pub(super) struct Worker {
    rng: Rng,
    /// `txn-cas`: the mod revision this worker last saw of each key.
    seen: HashMap<Vec<u8>, i64>,
}

impl Worker {
    pub fn new(seed: u64) -> Worker {
        Worker {
            rng: Rng::new(seed),
            seen: HashMap::new(),
        }
    }
}

/// Sends request `i` of `job`; returns the revision its response carries
/// (0 when it carries none).
async fn one(client: &Client, job: &Job, i: u64, worker: &mut Worker) -> Result<i64, Error> {
    let rng = &mut worker.rng;
    let pick = |k: &KeyArgs, rng: &mut Rng| k.key(if k.sequential_keys { i } else { rng.next() });
    let rev = |h: Option<pb::ResponseHeader>| h.map_or(0, |h| h.revision);
    match job {
        Job::Put(k) => {
            let req = pb::PutRequest {
                key: pick(k, rng),
                value: vec![b'v'; k.val_size],
                ..Default::default()
            };
            client.put(req).await.map(|r| rev(r.header))
        }
        Job::PutKeys(keys, value) => {
            let req = pb::PutRequest {
                key: keys[i as usize % keys.len()].clone(),
                value: value.clone(),
                ..Default::default()
            };
            client.put(req).await.map(|r| rev(r.header))
        }
        Job::Range(req) => client.range(req.clone()).await.map(|r| rev(r.header)),
        Job::TxnPut(k, ops) => {
            // Consecutive keys: a txn may not name one key twice.
            let ops = *ops as u64;
            let success = (0..ops)
                .map(|j| pb::RequestOp {
                    request: Some(Request::RequestPut(pb::PutRequest {
                        key: k.key(i * ops + j),
                        value: vec![b'v'; k.val_size],
                        ..Default::default()
                    })),
                })
                .collect();
            client
                .txn(pb::TxnRequest {
                    success,
                    ..Default::default()
                })
                .await
                .map(|r| rev(r.header))
        }
        Job::KeepAlive(id) => client.lease_keep_alive_once(*id).await.map(|_| 0),
        Job::TxnCas(k) => {
            let key = pick(k, rng);
            let seen = worker.seen.get(&key).copied().unwrap_or(0);
            let resp = client.txn(cas(key.clone(), seen, k.val_size)).await?;
            let revision = rev(resp.header);
            // Swapped: the key's mod revision is now this txn's. Lost the
            // race: the failure branch read what the key holds now.
            let now = if resp.succeeded {
                revision
            } else {
                resp.responses
                    .first()
                    .and_then(|r| match &r.response {
                        Some(pb::response_op::Response::ResponseRange(r)) => r.kvs.first(),
                        _ => None,
                    })
                    .map_or(0, |kv| kv.mod_revision)
            };
            worker.seen.insert(key, now);
            Ok(revision)
        }
        Job::LeaseGrantRevoke(ttl) => {
            let id = client.lease_grant(*ttl, 0).await?.id;
            client.lease_revoke(id).await.map(|r| rev(r.header))
        }
        Job::TxnMixed(k, rw_ratio, serializable) => {
            let key = pick(k, rng);
            // A read with probability rw / (rw + 1).
            let read = (rng.next() % 1_000_000) as f64 / 1_000_000.0 < rw_ratio / (rw_ratio + 1.0);
            let request = if read {
                Request::RequestRange(pb::RangeRequest {
                    key,
                    serializable: *serializable,
                    ..Default::default()
                })
            } else {
                Request::RequestPut(pb::PutRequest {
                    key,
                    value: vec![b'v'; k.val_size],
                    ..Default::default()
                })
            };
            client
                .txn(pb::TxnRequest {
                    success: vec![pb::RequestOp {
                        request: Some(request),
                    }],
                    ..Default::default()
                })
                .await
                .map(|r| rev(r.header))
        }
    }
}

/// Kubernetes' optimistic update: put `key` if its mod revision is still
/// `seen` (0: it does not exist), else read it.
fn cas(key: Vec<u8>, seen: i64, val_size: usize) -> pb::TxnRequest {
    use pb::compare::{CompareResult, CompareTarget, TargetUnion};
    pb::TxnRequest {
        compare: vec![pb::Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Mod as i32,
            key: key.clone(),
            target_union: Some(TargetUnion::ModRevision(seen)),
            ..Default::default()
        }],
        success: vec![pb::RequestOp {
            request: Some(Request::RequestPut(pb::PutRequest {
                key: key.clone(),
                value: vec![b'v'; val_size],
                ..Default::default()
            })),
        }],
        failure: vec![pb::RequestOp {
            request: Some(Request::RequestRange(pb::RangeRequest {
                key,
                ..Default::default()
            })),
        }],
    }
}

/// The clients a run uses: `--conns` of them (each its own HTTP/2
/// connection) plus `extra`, on the leader alone with `--target-leader`.
pub(super) async fn connections(
    c: &Common,
    ctx: &mut Ctx,
    extra: usize,
) -> Result<Vec<Client>, Failure> {
    if c.conns == 0 || c.clients == 0 {
        return Err(Failure::bad_args(
            "--conns and --clients must be at least 1",
        ));
    }
    let mut endpoints = ctx.global.endpoints.clone();
    if c.target_leader {
        let probe = ctx.client()?;
        let mut leader = None;
        for ep in &endpoints {
            if let Ok(s) = probe.status_at(ep).await {
                if s.header.as_ref().is_some_and(|h| h.member_id == s.leader) {
                    leader = Some(ep.clone());
                }
            }
        }
        endpoints =
            vec![leader.ok_or_else(|| Failure::new(exit::ERROR, "no leader among the endpoints"))?];
    }
    let clients = (0..c.conns + extra)
        .map(|_| ctx.client_for(endpoints.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    log_in(&clients).await?;
    Ok(clients)
}

/// Logins at once: each costs the server a bcrypt check, and a thousand
/// clients' worth at once would outlast the command timeout.
const LOGINS_AT_ONCE: usize = 8;

/// With `--user`, logs every client in before the clock starts, as etcd's
/// tool does when it makes its clients: left to the first request, the
/// logins (slow on purpose) would be timed as part of the workload.
/// Without a user there is nothing to do.
async fn log_in(clients: &[Client]) -> Result<(), Failure> {
    for batch in clients.chunks(LOGINS_AT_ONCE) {
        let mut logins = tokio::task::JoinSet::new();
        for client in batch {
            let client = client.clone();
            logins.spawn(async move { client.login().await });
        }
        while let Some(done) = logins.join_next().await {
            done.map_err(|e| Failure::new(exit::ERROR, e.to_string()))??;
        }
    }
    Ok(())
}

/// A progress bar of `len` steps on stderr; indicatif draws nothing when
/// stderr is not a terminal.
pub(super) fn progress(len: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// One request that succeeded.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub start: Instant,
    pub latency: Duration,
    /// The revision of the response (0 if it has none).
    pub revision: i64,
}

/// What [`drive`] measured.
#[derive(Debug, Default)]
pub(super) struct Measured {
    pub samples: Vec<Sample>,
    pub elapsed: Duration,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Measured {
    pub fn report(&self) -> String {
        let mut latencies: Vec<Duration> = self.samples.iter().map(|s| s.latency).collect();
        report(
            &mut latencies,
            self.elapsed,
            self.errors,
            self.first_error.clone(),
        )
    }
}

/// Runs `total` requests of `job` from `clients` workers spread over
/// `conns`, at most `rate` per second (0: no limit), ticking `bar` once per
/// request.
pub(super) async fn drive(
    conns: Vec<Client>,
    clients: usize,
    total: u64,
    rate: u64,
    job: Job,
    bar: ProgressBar,
) -> Result<Measured, Failure> {
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let per_client_gap = (rate > 0).then(|| Duration::from_secs_f64(clients as f64 / rate as f64));
    let start = Instant::now();
    let mut workers = Vec::new();
    for w in 0..clients {
        let client = conns[w % conns.len()].clone();
        let (job, next, errors, first_error, bar) = (
            job.clone(),
            Arc::clone(&next),
            Arc::clone(&errors),
            Arc::clone(&first_error),
            bar.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut worker = Worker::new(
                0x9e37_79b9_7f4a_7c15
                    ^ (w as u64 + 1).wrapping_mul(start.elapsed().as_nanos() as u64 + 1),
            );
            let mut samples = Vec::new();
            let mut due = Instant::now();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return samples;
                }
                if let Some(gap) = per_client_gap {
                    tokio::time::sleep_until(due.into()).await;
                    due += gap;
                }
                let t = Instant::now();
                match one(&client, &job, i, &mut worker).await {
                    Ok(revision) => samples.push(Sample {
                        start: t,
                        latency: t.elapsed(),
                        revision,
                    }),
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error.lock().await.get_or_insert_with(|| describe(&e));
                    }
                }
                bar.inc(1);
            }
        }));
    }
    let mut samples = Vec::new();
    for w in workers {
        samples.extend(
            w.await
                .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?,
        );
    }
    let elapsed = start.elapsed();
    let first_error = first_error.lock().await.clone();
    Ok(Measured {
        samples,
        elapsed,
        errors: errors.load(Ordering::Relaxed),
        first_error,
    })
}

pub async fn run(a: Args, ctx: &mut Ctx) -> Outcome {
    let c = a.common;
    let job = match a.workload {
        Workload::Watch(w) => return watch::watch(w, &c, ctx).await,
        Workload::WatchLatency(w) => return watch::latency(w, &c, ctx).await,
        Workload::Put(k) => Job::Put(k),
        Workload::TxnPut { keys, txn_ops } => Job::TxnPut(keys, txn_ops),
        Workload::Range { consistency, args } => {
            let Some(key) = args.first() else {
                return Err(Failure::bad_args("range needs a key"));
            };
            Job::Range(pb::RangeRequest {
                key: key.clone().into_bytes(),
                range_end: args
                    .get(1)
                    .map(|e| e.clone().into_bytes())
                    .unwrap_or_default(),
                serializable: consistency == "s",
                ..Default::default()
            })
        }
        Workload::TxnMixed {
            keys,
            rw_ratio,
            consistency,
        } => Job::TxnMixed(keys, rw_ratio, consistency == "s"),
        Workload::LeaseKeepalive => {
            let id = ctx.client()?.lease_grant(100, 0).await?.id;
            Job::KeepAlive(id)
        }
        Workload::TxnCas(k) => Job::TxnCas(k),
        Workload::LeaseGrantRevoke { ttl } => Job::LeaseGrantRevoke(ttl),
    };
    let conns = connections(&c, ctx, 0).await?;
    let bar = progress(c.total);
    let measured = drive(conns, c.clients, c.total, c.rate, job, bar.clone()).await?;
    bar.finish_and_clear();
    write!(ctx.out, "{}", measured.report())?;
    Ok(())
}

/// The summary, histogram and percentiles of a run.
pub fn report(
    latencies: &mut [Duration],
    elapsed: Duration,
    errors: u64,
    first_error: Option<String>,
) -> String {
    let mut out = String::new();
    latencies.sort_unstable();
    let secs: Vec<f64> = latencies.iter().map(Duration::as_secs_f64).collect();
    let n = secs.len();
    out.push_str("\nSummary:\n");
    out.push_str(&format!("  Total:\t{:.4} secs.\n", elapsed.as_secs_f64()));
    if n > 0 {
        let avg = secs.iter().sum::<f64>() / n as f64;
        let var = secs.iter().map(|s| (s - avg).powi(2)).sum::<f64>() / n as f64;
        out.push_str(&format!("  Slowest:\t{:.4} secs.\n", secs[n - 1]));
        out.push_str(&format!("  Fastest:\t{:.4} secs.\n", secs[0]));
        out.push_str(&format!("  Average:\t{avg:.4} secs.\n"));
        out.push_str(&format!("  Stddev:\t{:.4} secs.\n", var.sqrt()));
        out.push_str(&format!(
            "  Requests/sec:\t{:.4}\n",
            n as f64 / elapsed.as_secs_f64()
        ));
        out.push_str("\nResponse time histogram:\n");
        let buckets = 10;
        let (lo, hi) = (secs[0], secs[n - 1]);
        let step = (hi - lo) / buckets as f64;
        let mut counts = vec![0usize; buckets + 1];
        for s in &secs {
            let b = if step > 0.0 {
                ((s - lo) / step) as usize
            } else {
                0
            };
            counts[b.min(buckets)] += 1;
        }
        let max = counts.iter().copied().max().unwrap_or(1).max(1);
        for (b, count) in counts.iter().enumerate() {
            let bar = "∎".repeat(count * 40 / max);
            out.push_str(&format!(
                "  {:.4} [{count}]\t|{bar}\n",
                lo + step * b as f64
            ));
        }
        out.push_str("\nLatency distribution:\n");
        for p in [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9] {
            let idx = (((p / 100.0) * n as f64).ceil() as usize).clamp(1, n) - 1;
            out.push_str(&format!("  {p}% in {:.4} secs.\n", secs[idx]));
        }
    }
    out.push_str(&format!("\nErrors: {errors}\n"));
    if let Some(e) = first_error {
        out.push_str(&format!("  first error: {e}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::{Command, parse};

    #[test]
    fn put_flags() {
        let cli = parse(&[
            "bench",
            "--conns=2",
            "--clients=8",
            "--total=100",
            "put",
            "--key-size=16",
            "--val-size=256",
            "--key-space-size=1000",
            "--sequential-keys",
        ])
        .unwrap();
        match cli.command {
            Command::Bench(a) => {
                assert_eq!(
                    (a.common.conns, a.common.clients, a.common.total),
                    (2, 8, 100)
                );
                match a.workload {
                    Workload::Put(k) => {
                        assert!(k.sequential_keys && k.key_size == 16 && k.val_size == 256)
                    }
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cairns_own_workloads_parse() {
        let cli = parse(&[
            "bench",
            "txn-cas",
            "--key-space-size=1000",
            "--key-prefix=/cas/",
        ])
        .unwrap();
        match cli.command {
            Command::Bench(Args {
                workload: Workload::TxnCas(k),
                ..
            }) => {
                assert_eq!(k.key(1234), b"/cas/00000234");
            }
            other => panic!("{other:?}"),
        }
        let cli = parse(&["bench", "lease-grant-revoke", "--ttl=5"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Bench(Args {
                workload: Workload::LeaseGrantRevoke { ttl: 5 },
                ..
            })
        ));
    }

    #[test]
    fn cas_puts_only_at_the_revision_last_seen() {
        let t = cas(b"k".to_vec(), 42, 3);
        let c = &t.compare[0];
        assert_eq!(c.target, pb::compare::CompareTarget::Mod as i32);
        assert_eq!(
            c.target_union,
            Some(pb::compare::TargetUnion::ModRevision(42))
        );
        assert!(matches!(
            &t.success[0].request,
            Some(Request::RequestPut(p)) if p.value == b"vvv"
        ));
        assert!(matches!(
            &t.failure[0].request,
            Some(Request::RequestRange(r)) if r.key == b"k"
        ));
    }

    #[test]
    fn keys_have_the_requested_size() {
        assert_eq!(key(42, 8), b"00000042");
        assert_eq!(key(7, 1), b"7");
    }

    #[test]
    fn report_has_percentiles_and_errors() {
        let mut l: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let r = report(&mut l, Duration::from_secs(1), 2, Some("boom".into()));
        assert!(r.contains("Requests/sec:\t100.0000"), "{r}");
        assert!(r.contains("50% in 0.0500 secs."), "{r}");
        assert!(r.contains("99.9% in 0.1000 secs."), "{r}");
        assert!(r.contains("Errors: 2") && r.contains("boom"), "{r}");
    }
}
