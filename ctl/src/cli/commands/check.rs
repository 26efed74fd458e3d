//! `check perf` and `check datascale`: etcdctl's load profiles and PASS /
//! FAIL criteria, run with cairnctl's client.
//!
//! perf: for 60 s, `clients` workers put 256-byte random keys with
//! 1 KiB values under `--prefix`, capped at the profile's rate; PASS when
//! throughput exceeds 90% of that rate, the slowest request took at most
//! 0.5 s and the standard deviation is at most 0.1 s. datascale: a fixed
//! number of 512-byte keys and values, then the growth of the first
//! endpoint's resident memory (from its `/metrics`). Both refuse to start
//! if the prefix holds keys and delete what they wrote at the end.
//!
//! cairnctl uses at most [`MAX_CONNS`] connections for the profile's
//! clients (etcdctl opens one per client); `--duration` (hidden, not in
//! etcdctl) shortens a perf run for tests.

use std::io::{Read, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_client::pb;
use cairn_client::{Client, Error};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget};
use tokio::sync::Mutex;

use super::bench::Rng;
use super::get::prefix_end;
use crate::cli::{Ctx, Failure, Outcome, describe, exit};

/// Connections shared by a profile's clients.
const MAX_CONNS: usize = 16;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check the performance of the etcd cluster
    Perf {
        /// The performance check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)
        #[arg(long, default_value = "s")]
        load: String,
        /// The prefix for writing the performance check's keys.
        #[arg(long, default_value = "/etcdctl-check-perf/")]
        prefix: String,
        /// Compact storage with last revision after test is finished.
        #[arg(long = "auto-compact")]
        auto_compact: bool,
        /// Defragment storage after test is finished.
        #[arg(long = "auto-defrag")]
        auto_defrag: bool,
        /// Seconds to run (cairnctl only; etcdctl always runs 60)
        #[arg(long, default_value_t = 60, hide = true)]
        duration: u64,
    },
    /// Check the memory usage of holding data for different workloads on a given server endpoint.
    Datascale {
        /// The datascale check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)
        #[arg(long, default_value = "s")]
        load: String,
        /// The prefix for writing the datascale check's keys.
        #[arg(long, default_value = "/etcdctl-check-datascale/")]
        prefix: String,
        /// Compact storage with last revision after test is finished.
        #[arg(long = "auto-compact")]
        auto_compact: bool,
        /// Defragment storage after test is finished.
        #[arg(long = "auto-defrag")]
        auto_defrag: bool,
    },
}

/// A profile: (rate limit or key count, clients).
fn profile(load: &str, perf: bool) -> Result<(u64, usize), Failure> {
    let model = match load {
        "s" | "small" => 0,
        "m" | "medium" => 1,
        "l" | "large" => 2,
        "xl" | "xLarge" => 3,
        other => {
            return Err(Failure::new(
                exit::BAD_FEATURE,
                format!("unknown load option {other}"),
            ));
        }
    };
    let clients = [50, 200, 500, 1000][model];
    let limit = if perf {
        [150, 1000, 8000, 15000][model]
    } else {
        [10_000, 100_000, 1_000_000, 3_000_000][model]
    };
    Ok((limit, clients))
}

/// A key of `size` bytes: the varint of a random number, zero-padded,
/// under `prefix` (as etcdctl builds them).
fn random_key(prefix: &str, size: usize, rng: &mut Rng) -> Vec<u8> {
    let mut k = prefix.as_bytes().to_vec();
    let mut body = vec![0u8; size];
    let mut n = (rng.next() >> 1) << 1; // zig-zag of a non-negative number
    for b in body.iter_mut() {
        *b = (n & 0x7f) as u8 | if n > 0x7f { 0x80 } else { 0 };
        n >>= 7;
        if n == 0 {
            break;
        }
    }
    k.extend_from_slice(&body);
    k
}

/// Results of a load run.
#[derive(Debug, Default)]
struct Stats {
    latencies: Vec<f64>,
    errors: Vec<(String, u64)>,
}

async fn ensure_empty(client: &Client, prefix: &str, del_hint: &str) -> Outcome {
    let resp = client
        .range(pb::RangeRequest {
            key: prefix.as_bytes().to_vec(),
            range_end: prefix_end(prefix.as_bytes()),
            limit: 1,
            ..Default::default()
        })
        .await?;
    if !resp.kvs.is_empty() {
        return Err(Failure::new(
            exit::INVALID_INPUT,
            format!("prefix {prefix:?} has keys. Delete with {del_hint} {prefix} first"),
        ));
    }
    Ok(())
}

async fn cleanup(
    ctx: &mut Ctx,
    client: &Client,
    prefix: &str,
    compact: bool,
    defrag: bool,
) -> Outcome {
    match client
        .delete_range(pb::DeleteRangeRequest {
            key: prefix.as_bytes().to_vec(),
            range_end: prefix_end(prefix.as_bytes()),
            ..Default::default()
        })
        .await
    {
        Ok(r) => {
            if compact {
                let revision = r.header.map_or(0, |h| h.revision);
                client
                    .compact(pb::CompactionRequest {
                        revision,
                        physical: true,
                    })
                    .await?;
                writeln!(ctx.out, "Compacted with revision {revision}")?;
            }
        }
        Err(e) => writeln!(
            ctx.out,
            "FAIL: Cleanup failed during key deletion: ERROR({})",
            describe(&e)
        )?,
    }
    if defrag {
        for ep in ctx.global.endpoints.clone() {
            match client.defragment_at(&ep).await {
                Ok(_) => writeln!(ctx.out, "Finished defragmenting etcd member[{ep}]")?,
                Err(e) => eprintln!("Failed to defragment etcd member[{ep}] ({})", describe(&e)),
            }
        }
    }
    Ok(())
}

/// The next key to put and when it is due (`None`: at once); `None` when
/// the run is over.
type NextKey = Arc<dyn Fn() -> Option<(Vec<u8>, Option<Instant>)> + Send + Sync>;

/// Runs `workers` putting keys from `next_key` until it returns `None`.
async fn load(
    conns: &[Client],
    workers: usize,
    next_key: NextKey,
    value: Vec<u8>,
    bar: &ProgressBar,
) -> Stats {
    let errors = Arc::new(Mutex::new(Vec::<(String, u64)>::new()));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let client = conns[w % conns.len()].clone();
        let (next_key, value, errors, bar) = (
            Arc::clone(&next_key),
            value.clone(),
            Arc::clone(&errors),
            bar.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while let Some((key, due)) = next_key() {
                if let Some(due) = due {
                    tokio::time::sleep_until(due.into()).await;
                }
                let t = Instant::now();
                let r: Result<_, Error> = client
                    .put(pb::PutRequest {
                        key,
                        value: value.clone(),
                        ..Default::default()
                    })
                    .await;
                match r {
                    Ok(_) => latencies.push(t.elapsed().as_secs_f64()),
                    Err(e) => {
                        let text = describe(&e);
                        let mut errs = errors.lock().await;
                        match errs.iter_mut().find(|(t, _)| *t == text) {
                            Some((_, n)) => *n += 1,
                            None => errs.push((text, 1)),
                        }
                    }
                }
                bar.inc(1);
            }
            latencies
        }));
    }
    let mut stats = Stats::default();
    for t in tasks {
        if let Ok(l) = t.await {
            stats.latencies.extend(l);
        }
    }
    stats.errors = errors.lock().await.clone();
    stats
}

fn connections(ctx: &mut Ctx, clients: usize) -> Result<Vec<Client>, Failure> {
    let endpoints = ctx.global.endpoints.clone();
    (0..clients.min(MAX_CONNS))
        .map(|_| ctx.client_for(endpoints.clone()))
        .collect()
}

pub async fn run(c: Command, ctx: &mut Ctx) -> Outcome {
    match c {
        Command::Perf {
            load: l,
            prefix,
            auto_compact,
            auto_defrag,
            duration,
        } => {
            let (limit, clients) = profile(&l, true)?;
            let conns = connections(ctx, clients)?;
            ensure_empty(&conns[0], &prefix, "'etcdctl del --prefix")
                .await
                .map_err(|e| match e {
                    Failure::Exit { code, message } => Failure::Exit {
                        code,
                        message: message.replace(" first", "' first"),
                    },
                    other => other,
                })?;
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            // Requests are handed out at the profile's rate until the time is up.
            let start = Instant::now();
            let end = start + Duration::from_secs(duration);
            let issued = Arc::new(AtomicU64::new(0));
            let rng = Arc::new(std::sync::Mutex::new(Rng::new(
                start.elapsed().as_nanos() as u64 ^ 0xa076_1d64_78bd_642f,
            )));
            let gap = Duration::from_secs_f64(1.0 / limit as f64);
            let p = prefix.clone();
            // Request i is due at start + i / rate, until the time is up.
            let next_key: NextKey = Arc::new(move || {
                let i = issued.fetch_add(1, Ordering::Relaxed);
                let due = start + gap.mul_f64(i as f64);
                (due < end).then(|| {
                    (
                        random_key(&p, 256, &mut rng.lock().expect("rng lock")),
                        Some(due),
                    )
                })
            });
            let stats = load(&conns, clients, next_key, vec![0u8; 1024], &bar).await;
            let elapsed = start.elapsed().as_secs_f64();
            bar.finish_and_clear();
            cleanup(ctx, &conns[0], &prefix, auto_compact, auto_defrag).await?;
            verdict_perf(ctx, &stats, elapsed, limit)
        }
        Command::Datascale {
            load: l,
            prefix,
            auto_compact,
            auto_defrag,
        } => {
            let (count, clients) = profile(&l, false)?;
            let conns = connections(ctx, clients)?;
            ensure_empty(&conns[0], &prefix, "etcdctl del --prefix").await?;
            let ep = ctx.global.endpoints[0].clone();
            let Some(before) = resident_memory(&ep, &mut ctx.out) else {
                writeln!(
                    ctx.out,
                    "FAIL: Could not read process_resident_memory_bytes before the put operations."
                )?;
                return Err(Failure::Quiet(exit::ERROR));
            };
            writeln!(
                ctx.out,
                "Start data scale check for work load [{count} key-value pairs, 1024 bytes per key-value, {clients} concurrent clients]."
            )?;
            ctx.out.flush()?;
            let bar = ProgressBar::with_draw_target(Some(count), ProgressDrawTarget::stderr());
            let issued = Arc::new(AtomicU64::new(0));
            let rng = Arc::new(std::sync::Mutex::new(Rng::new(0x243f_6a88_85a3_08d3)));
            let p = prefix.clone();
            let next_key: NextKey = Arc::new(move || {
                (issued.fetch_add(1, Ordering::Relaxed) < count).then(|| {
                    (
                        random_key(&p, 512, &mut rng.lock().expect("rng lock")),
                        None,
                    )
                })
            });
            let stats = load(&conns, clients, next_key, vec![0u8; 512], &bar).await;
            bar.finish_and_clear();
            let Some(after) = resident_memory(&ep, &mut ctx.out) else {
                writeln!(
                    ctx.out,
                    "FAIL: Could not read process_resident_memory_bytes after the put operations."
                )?;
                return Err(Failure::Quiet(exit::ERROR));
            };
            cleanup(ctx, &conns[0], &prefix, auto_compact, auto_defrag).await?;
            if !stats.errors.is_empty() {
                writeln!(ctx.out, "FAIL: too many errors")?;
                for (e, n) in &stats.errors {
                    writeln!(ctx.out, "FAIL: ERROR({e}) -> {n}")?;
                }
                return Err(Failure::Quiet(exit::ERROR));
            }
            let mb = (after - before) / (1024.0 * 1024.0);
            writeln!(
                ctx.out,
                "PASS: Approximate system memory used : {mb:.2} MB."
            )?;
            Ok(())
        }
    }
}

fn verdict_perf(ctx: &mut Ctx, stats: &Stats, elapsed: f64, limit: u64) -> Outcome {
    let mut ok = true;
    if !stats.errors.is_empty() {
        writeln!(ctx.out, "FAIL: too many errors")?;
        for (e, n) in &stats.errors {
            writeln!(ctx.out, "FAIL: ERROR({e}) -> {n}")?;
        }
        ok = false;
    }
    let n = stats.latencies.len();
    let rps = n as f64 / elapsed;
    let slowest = stats.latencies.iter().copied().fold(0.0, f64::max);
    let avg = if n > 0 {
        stats.latencies.iter().sum::<f64>() / n as f64
    } else {
        0.0
    };
    let stddev = if n > 0 {
        (stats
            .latencies
            .iter()
            .map(|l| (l - avg).powi(2))
            .sum::<f64>()
            / n as f64)
            .sqrt()
    } else {
        0.0
    };
    if rps / limit as f64 <= 0.9 {
        writeln!(
            ctx.out,
            "FAIL: Throughput too low: {} writes/s",
            rps as u64 + 1
        )?;
        ok = false;
    } else {
        writeln!(ctx.out, "PASS: Throughput is {} writes/s", rps as u64 + 1)?;
    }
    if slowest > 0.5 {
        writeln!(ctx.out, "Slowest request took too long: {slowest:.6}s")?;
        ok = false;
    } else {
        writeln!(ctx.out, "PASS: Slowest request took {slowest:.6}s")?;
    }
    if stddev > 0.1 {
        writeln!(ctx.out, "Stddev too high: {stddev:.6}s")?;
        ok = false;
    } else {
        writeln!(ctx.out, "PASS: Stddev is {stddev:.6}s")?;
    }
    if ok {
        writeln!(ctx.out, "PASS")?;
        Ok(())
    } else {
        writeln!(ctx.out, "FAIL")?;
        Err(Failure::Quiet(exit::ERROR))
    }
}

/// `process_resident_memory_bytes` from `<endpoint>/metrics`; says so on
/// `out`, as etcdctl does, when the page lacks it.
fn resident_memory(endpoint: &str, out: &mut dyn std::io::Write) -> Option<f64> {
    let body = metrics_page(endpoint)?;
    let value = body
        .lines()
        .find(|l| l.starts_with("process_resident_memory_bytes "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok());
    if value.is_none() {
        let _ = writeln!(out, "could not find: process_resident_memory_bytes");
    }
    value
}

/// The `/metrics` page of `endpoint` (plain HTTP/1.0).
fn metrics_page(endpoint: &str) -> Option<String> {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::{Command as Top, parse};

    #[test]
    fn profiles_are_etcdctls() {
        assert_eq!(profile("s", true).unwrap(), (150, 50));
        assert_eq!(profile("xLarge", true).unwrap(), (15000, 1000));
        assert_eq!(profile("m", false).unwrap(), (100_000, 200));
        assert!(profile("huge", true).is_err());
    }

    #[test]
    fn keys_have_the_prefix_and_size() {
        let k = random_key("/p/", 256, &mut Rng::new(7));
        assert_eq!(k.len(), 3 + 256);
        assert!(k.starts_with(b"/p/"));
    }

    #[test]
    fn flags() {
        match parse(&["check", "perf", "--load=m", "--auto-compact"])
            .unwrap()
            .command
        {
            Top::Check(Command::Perf {
                load,
                auto_compact,
                duration,
                ..
            }) => {
                assert_eq!((load.as_str(), auto_compact, duration), ("m", true, 60));
            }
            other => panic!("{other:?}"),
        }
    }
}
