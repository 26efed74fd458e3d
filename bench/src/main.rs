//! `bench-compare`: cairn and etcd 3.5.1 side by side on this machine.
//!
//! It starts a 3-member cluster of each on loopback, runs the same
//! workloads against both with `cairnctl bench` as the load generator,
//! alternating cairn, etcd, cairn, etcd for each workload so that drift
//! over the run shows, and prints one Markdown table: throughput, p50 and
//! p99 latency, the members' CPU seconds, the cairn/etcd ratios, and the
//! members' memory after the loads and at their peak. Then (unless
//! `--quick`) the big-store steps, once per server: one DeleteRange of
//! 100,000 keys, a store of 1,000,000 keys of 256 bytes, a member
//! restarting over it, and a new member catching up from a snapshot of it.
//! `--tls` (`tls.rs`) and `--auth` (`auth.rs`) run both clusters that way,
//! to be compared with a run without.
//!
//! Progress goes to stderr, the table to stdout. `scripts/bench-compare`
//! builds what it needs and runs it; docs/benchmarks.md keeps the results.
//!
//! Owns: the workload matrix and the table. Must never: time anything but
//! whole steps (latencies are cairnctl bench's, measured per request).

mod auth;
mod cluster;
mod tls;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use cluster::{Binaries, Cluster, Kind, cpu_seconds, memory};

#[derive(Parser, Debug)]
#[command(about = "cairn and etcd 3.5.1 side by side: the same workloads, one table")]
struct Args {
    /// A one-minute subset: fewer workloads, smaller totals, no big store
    #[arg(long)]
    quick: bool,
    /// Runs of each workload per server, alternating between the servers
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Only the workloads whose names contain this text
    #[arg(long)]
    only: Option<String>,
    /// TLS on both ports of both clusters, client certificates required
    /// (certificates made for the run); compare with a run without it for
    /// the cost of TLS
    #[arg(long)]
    tls: bool,
    /// Auth enabled on both clusters with these tokens, every workload run
    /// as a user with read-write on all keys (not root); compare with a
    /// run without it for the cost of auth. The big store runs with auth
    /// disabled again
    #[arg(long, value_enum)]
    auth: Option<auth::Mode>,
}

/// One row of the matrix: what cairnctl runs, on each cluster.
struct Workload {
    name: String,
    /// cairnctl commands run once per cluster before the first round.
    setup: Vec<String>,
    /// The `cairnctl bench` arguments measured.
    bench: String,
}

fn workload(name: &str, setup: &[String], bench: String) -> Workload {
    Workload {
        name: name.into(),
        setup: setup.to_vec(),
        bench,
    }
}

/// The matrix. Totals are sized for a few seconds a run on a 2-core
/// machine; `--quick` divides them by ten.
fn matrix(quick: bool) -> Vec<Workload> {
    let s = if quick { 10 } else { 1 };
    let put = |conns: u32, clients: u32, total: u32| {
        format!(
            "bench --conns {conns} --clients {clients} --total {} put --key-size 8 --val-size 256 \
             --key-space-size 100000 --key-prefix /put/",
            total / s
        )
    };
    let one_key = vec![format!("put /range/one {}", "v".repeat(256))];
    let range = |clients: u32, conns: u32, total: u32, consistency: &str| {
        format!(
            "bench --conns {conns} --clients {clients} --total {} range /range/one --consistency {consistency}",
            total / s
        )
    };
    let list_keys = vec![
        "bench --conns 10 --clients 10 --total 1000 put --key-prefix /list/ --sequential-keys \
         --key-space-size 1000 --val-size 256"
            .to_string(),
    ];
    let mut all = vec![
        workload("put, 1 client", &[], put(1, 1, 3000)),
        workload("put, 100 clients", &[], put(10, 100, 30000)),
        workload("put, 1000 clients", &[], put(100, 1000, 50000)),
        workload(
            "range 1 key, linearizable, 1 client",
            &one_key,
            range(1, 1, 5000, "l"),
        ),
        workload(
            "range 1 key, linearizable, 100 clients",
            &one_key,
            range(100, 10, 60000, "l"),
        ),
        workload(
            "range 1 key, serializable, 100 clients",
            &one_key,
            range(100, 10, 60000, "s"),
        ),
        workload(
            "range 1,000 keys (list), 10 clients",
            &list_keys,
            format!(
                "bench --conns 10 --clients 10 --total {} range /list/ /list0 --consistency l",
                3000 / s
            ),
        ),
        workload(
            "txn compare-and-swap on mod_revision, 100 clients",
            &[],
            format!(
                "bench --conns 10 --clients 100 --total {} txn-cas --key-space-size 1000 \
                 --val-size 256 --key-prefix /cas/",
                20000 / s
            ),
        ),
        workload(
            "lease keep-alive, 100 clients",
            &[],
            format!(
                "bench --conns 10 --clients 100 --total {} lease-keepalive",
                40000 / s
            ),
        ),
        workload(
            "lease grant + revoke, 100 clients",
            &[],
            format!(
                "bench --conns 10 --clients 100 --total {} lease-grant-revoke",
                10000 / s
            ),
        ),
        workload(
            "watch fan-out: 1,000 watchers of one key, put-to-event",
            &[],
            format!(
                "bench --conns 10 watch-latency --streams 10 --watchers-per-stream 100 \
                 --put-total {} --put-rate 100 --val-size 256",
                300 / s
            ),
        ),
    ];
    if quick {
        let keep = [1, 3, 4, 5, 6, 7, 10];
        all = all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, w)| w)
            .collect();
    }
    all
}

/// What one run of a workload measured.
#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    ops_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// CPU seconds the cluster's members used during the run.
    cpu_secs: f64,
}

/// The numbers of the last summary in a `cairnctl bench` report (the
/// watch workloads print three; the last is the events').
fn parse_report(text: &str) -> anyhow::Result<Measure> {
    let last = text
        .rfind("Summary:")
        .map(|at| &text[at..])
        .context("no summary in the report")?;
    let field = |prefix: &str| -> Option<f64> {
        let line = last.lines().find(|l| l.trim_start().starts_with(prefix))?;
        let rest = line.trim_start().strip_prefix(prefix)?;
        rest.split_whitespace().next()?.parse().ok()
    };
    let errors = field("Errors:").context("no error count")? as u64;
    Ok(Measure {
        ops_per_sec: field("Requests/sec:").unwrap_or(0.0),
        p50_ms: field("50% in").unwrap_or(0.0) * 1000.0,
        p99_ms: field("99% in").unwrap_or(0.0) * 1000.0,
        errors,
        cpu_secs: 0.0,
    })
}

fn cpu_of(pids: &[u32]) -> f64 {
    pids.iter().map(|&p| cpu_seconds(p)).sum()
}

/// Runs `bench` (cairnctl arguments) against `cluster` and measures it.
fn run_bench(cluster: &Cluster, bench: &str) -> anyhow::Result<Measure> {
    let pids = cluster.pids();
    let cpu = cpu_of(&pids);
    let args: Vec<String> = bench.split_whitespace().map(String::from).collect();
    let out = cluster.ctl(&cluster.endpoints(), &args)?;
    let mut m = parse_report(&out).with_context(|| format!("{bench}: {out}"))?;
    m.cpu_secs = cpu_of(&pids) - cpu;
    Ok(m)
}

/// A row of the big-store table: how long each server took, or why not.
struct Timed {
    name: String,
    cairn: Result<Duration, String>,
    etcd: Result<Duration, String>,
    note: String,
}

fn progress(len: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let bins = Binaries::find()?;
    let work = tempfile::Builder::new()
        .prefix("bench-compare-")
        .tempdir()?;
    let mut workloads = matrix(args.quick);
    if let Some(only) = &args.only {
        workloads.retain(|w| w.name.contains(only.as_str()));
    }
    let big_steps = if args.quick { 0 } else { 4 };
    let bar = progress((workloads.len() * 2 * args.rounds + 2 + 2 * big_steps) as u64);

    let started = Instant::now();
    bar.set_message("starting a 3-member cluster of each");
    let tls = if args.tls {
        Some(tls::TlsFiles::make(&work.path().join("pki"))?)
    } else {
        None
    };
    let auth = args
        .auth
        .map(|mode| auth::Auth::make(mode, &work.path().join("jwt")))
        .transpose()?;
    let flags = auth
        .iter()
        .flat_map(auth::Auth::server_flags)
        .collect::<Vec<_>>();
    let mut clusters = [
        Cluster::start(Kind::Cairn, 3, &bins, work.path(), tls.as_ref(), &flags)?,
        Cluster::start(Kind::Etcd, 3, &bins, work.path(), tls.as_ref(), &flags)?,
    ];
    if let Some(auth) = &auth {
        bar.set_message("users, roles and auth enable on each cluster");
        for c in &mut clusters {
            auth.enable(c)?;
        }
    }
    bar.inc(2);

    let mut rows: Vec<(String, [Vec<Measure>; 2])> = Vec::new();
    for w in &workloads {
        for c in &clusters {
            for cmd in &w.setup {
                let args: Vec<String> = cmd.split_whitespace().map(String::from).collect();
                c.ctl(&c.endpoints(), &args)?;
            }
        }
        let mut runs: [Vec<Measure>; 2] = [Vec::new(), Vec::new()];
        for round in 0..args.rounds {
            for (k, c) in clusters.iter().enumerate() {
                bar.set_message(format!(
                    "{} on {} ({}/{})",
                    w.name,
                    c.kind.label(),
                    round + 1,
                    args.rounds
                ));
                runs[k].push(run_bench(c, &w.bench)?);
                bar.inc(1);
            }
        }
        rows.push((w.name.clone(), runs));
    }
    let after_loads: Vec<[u64; 2]> = (0..3)
        .map(|i| [0, 1].map(|k| memory(clusters[k].pids()[i], "VmRSS")))
        .collect();
    // Printed now, so that a failure in the big store keeps these.
    bar.suspend(|| {
        if args.tls {
            println!("TLS on both ports of both clusters, client certificates required.\n");
        }
        match &auth {
            Some(auth) => println!("{}\n", auth.describe()),
            None => println!("Auth disabled on both clusters.\n"),
        }
        print!("{}", workload_table(&rows, args.rounds));
    });

    let mut failed = false;
    if !args.quick {
        // The big store measures storage, not permission checks; and
        // adding a member needs root.
        if let Some(auth) = &auth {
            for c in &mut clusters {
                auth.disable(c)?;
            }
        }
        let timed = big_store(&mut clusters, &bar);
        failed = timed.iter().any(|t| t.cairn.is_err() || t.etcd.is_err());
        bar.suspend(|| print!("{}", big_store_table(&timed, auth.is_some())));
    }
    let peaks: Vec<[u64; 2]> = (0..3)
        .map(|i| [0, 1].map(|k| memory(clusters[k].pids()[i], "VmHWM")))
        .collect();
    bar.finish_and_clear();
    print!("{}", memory_table(&after_loads, &peaks, started.elapsed()));
    if failed {
        drop(clusters);
        let kept = work.keep();
        bail!(
            "a big-store step failed; the members' logs are in {}",
            kept.display()
        );
    }
    Ok(())
}

/// The big-store steps on each cluster in turn. A step that fails is
/// reported in its row, and the steps after it on that cluster are skipped
/// (they build on it).
fn big_store(clusters: &mut [Cluster; 2], bar: &ProgressBar) -> Vec<Timed> {
    let names = [
        "one DeleteRange of 100,000 keys",
        "write 1,000,000 keys of 256 B (1000 clients)",
        "restart a member over 1,000,000 keys, until it serves",
        "new member catches up from a snapshot of 1,000,000 keys",
    ];
    let mut results: [Vec<Result<Duration, String>>; 2] = [Vec::new(), Vec::new()];
    let mut notes: Vec<String> = vec![String::new(); names.len()];
    for (k, c) in clusters.iter_mut().enumerate() {
        for (step, name) in names.iter().enumerate() {
            if results[k].iter().any(Result::is_err) {
                results[k].push(Err("skipped".into()));
                bar.inc(1);
                continue;
            }
            bar.set_message(format!("{name} on {}", c.kind.label()));
            let outcome = big_step(c, step, &mut notes[step]).map_err(|e| format!("{e:#}"));
            results[k].push(outcome);
            bar.inc(1);
        }
    }
    let [cairn, etcd] = results;
    names
        .iter()
        .zip(cairn.into_iter().zip(etcd))
        .zip(notes)
        .map(|((name, (cairn, etcd)), note)| Timed {
            name: (*name).into(),
            cairn,
            etcd,
            note: note.trim_end_matches("; ").into(),
        })
        .collect()
}

/// Big-store step `step` on one cluster: how long it took.
fn big_step(c: &mut Cluster, step: usize, note: &mut String) -> anyhow::Result<Duration> {
    let label = c.kind.label();
    let ctl = |c: &Cluster, cmd: &str| -> anyhow::Result<String> {
        let args: Vec<String> = cmd.split_whitespace().map(String::from).collect();
        c.ctl(&c.endpoints(), &args)
    };
    match step {
        0 => {
            ctl(
                c,
                "bench --conns 10 --clients 100 --total 100000 put --key-prefix /del/ \
                 --sequential-keys --key-space-size 100000 --val-size 64",
            )?;
            let t = Instant::now();
            let deleted = ctl(c, "del /del/ --prefix --command-timeout=120s")?;
            let took = t.elapsed();
            if deleted.trim() != "100000" {
                bail!("the DeleteRange deleted {} keys", deleted.trim());
            }
            Ok(took)
        }
        1 => {
            let t = Instant::now();
            ctl(
                c,
                "bench --conns 100 --clients 1000 --total 1000000 put --key-prefix /big/ \
                 --sequential-keys --key-space-size 1000000 --val-size 256",
            )?;
            Ok(t.elapsed())
        }
        2 => {
            let f = c.follower(Duration::from_secs(60))?;
            c.stop(f)?;
            let t = Instant::now();
            c.restart(f)?;
            wait_serving(c, f)?;
            let took = t.elapsed();
            let rss = memory(c.pids()[f], "VmRSS");
            note.push_str(&format!("{label} RSS after: {} MiB; ", rss >> 20));
            Ok(took)
        }
        _ => {
            let t = Instant::now();
            let new = c.add_member()?;
            wait_caught_up(c, new)?;
            let took = t.elapsed();
            let rss = memory(c.pids()[new], "VmRSS");
            note.push_str(&format!("{label} new member's RSS: {} MiB; ", rss >> 20));
            Ok(took)
        }
    }
}

/// Waits until member `i` answers with a leader and a serializable read.
fn wait_serving(c: &Cluster, i: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        let led = c
            .status(i)
            .and_then(|s| s["leader"].as_u64())
            .is_some_and(|l| l != 0);
        let args = ["get", "/range/one", "--consistency=s"].map(String::from);
        if led && c.ctl(&c.endpoint(i), &args).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("member {i} of {} did not come back", c.kind.label())
}

/// Waits until member `i` has the revision the leader had when it started.
fn wait_caught_up(c: &Cluster, i: usize) -> anyhow::Result<()> {
    let target = c
        .status(0)
        .and_then(|s| s["header"]["revision"].as_i64())
        .context("the cluster's revision")?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        let rev = c.status(i).and_then(|s| s["header"]["revision"].as_i64());
        if rev.is_some_and(|r| r >= target) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the new member of {} did not catch up", c.kind.label())
}

fn mean(runs: &[Measure], f: impl Fn(&Measure) -> f64) -> f64 {
    runs.iter().map(&f).sum::<f64>() / runs.len().max(1) as f64
}

/// The largest distance of a run from the mean, in percent.
fn spread(runs: &[Measure]) -> f64 {
    let m = mean(runs, |r| r.ops_per_sec);
    let far = runs
        .iter()
        .map(|r| (r.ops_per_sec - m).abs())
        .fold(0.0, f64::max);
    if m > 0.0 { 100.0 * far / m } else { 0.0 }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn workload_table(rows: &[(String, [Vec<Measure>; 2])], rounds: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Throughput (ops/s, mean of {rounds} runs each, cairn and etcd alternating; ± the farthest \
         run from the mean), latency (ms), and the CPU seconds all members used per run.\n"
    );
    let _ = writeln!(
        out,
        "| workload | etcd ops/s | cairn ops/s | cairn/etcd | etcd p50 / p99 | cairn p50 / p99 | CPU s etcd / cairn | errors |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (name, [cairn, etcd]) in rows {
        let ops = |r: &[Measure]| mean(r, |m| m.ops_per_sec);
        let ratio = ops(cairn) / ops(etcd).max(f64::MIN_POSITIVE);
        let errors: u64 = cairn.iter().chain(etcd).map(|m| m.errors).sum();
        let _ = writeln!(
            out,
            "| {name} | {:.0} ±{:.0}% | {:.0} ±{:.0}% | {ratio:.2}× | {:.2} / {:.2} | {:.2} / {:.2} | {:.1} / {:.1} | {errors} |",
            ops(etcd),
            spread(etcd),
            ops(cairn),
            spread(cairn),
            mean(etcd, |m| m.p50_ms),
            mean(etcd, |m| m.p99_ms),
            mean(cairn, |m| m.p50_ms),
            mean(cairn, |m| m.p99_ms),
            mean(etcd, |m| m.cpu_secs),
            mean(cairn, |m| m.cpu_secs),
        );
    }
    out
}

fn big_store_table(timed: &[Timed], auth_disabled: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nBig store, once per server{} (seconds; cairn/etcd is etcd's time over cairn's, so above 1 is faster):\n",
        if auth_disabled {
            ", auth disabled again first"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "| step | etcd s | cairn s | cairn/etcd | notes |");
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | --- |");
    let secs = |r: &Result<Duration, String>| match r {
        Ok(d) => format!("{:.2}", d.as_secs_f64()),
        Err(e) => format!("failed: {e}"),
    };
    for t in timed {
        let ratio = match (&t.cairn, &t.etcd) {
            (Ok(c), Ok(e)) => format!("{:.2}×", e.as_secs_f64() / c.as_secs_f64().max(1e-9)),
            _ => "—".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {ratio} | {} |",
            t.name,
            secs(&t.etcd),
            secs(&t.cairn),
            t.note
        );
    }
    out
}

fn memory_table(after_loads: &[[u64; 2]], peaks: &[[u64; 2]], took: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nMembers' memory (MiB): resident after the workloads above the big store, and peak over the whole run:\n"
    );
    let _ = writeln!(
        out,
        "| member | etcd RSS | cairn RSS | cairn/etcd | etcd peak | cairn peak | cairn/etcd |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (i, ([c_rss, e_rss], [c_peak, e_peak])) in after_loads.iter().zip(peaks).enumerate() {
        let _ = writeln!(
            out,
            "| m{i} | {:.0} | {:.0} | {:.2}× | {:.0} | {:.0} | {:.2}× |",
            mib(*e_rss),
            mib(*c_rss),
            mib(*c_rss) / mib(*e_rss).max(f64::MIN_POSITIVE),
            mib(*e_peak),
            mib(*c_peak),
            mib(*c_peak) / mib(*e_peak).max(f64::MIN_POSITIVE),
        );
    }
    let _ = writeln!(out, "\nThe whole run took {:.0} s.", took.as_secs_f64());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_last_summary_of_a_report() {
        let report = "Watch creation summary:\n\nSummary:\n  Total:\t1.0 secs.\n  Requests/sec:\t5.0\n\
            \nLatency distribution:\n  50% in 0.0010 secs.\n  99% in 0.0020 secs.\n\nErrors: 0\n\
            \nWatch events summary (10 of 10 events received):\n\nSummary:\n  Total:\t2.0000 secs.\n\
            \x20 Requests/sec:\t1234.5000\n\nLatency distribution:\n  10% in 0.0001 secs.\n\
            \x20 50% in 0.0005 secs.\n  99% in 0.0030 secs.\n  99.9% in 0.0100 secs.\n\nErrors: 3\n";
        let m = parse_report(report).expect("parses");
        assert_eq!(m.ops_per_sec, 1234.5);
        assert!((m.p50_ms - 0.5).abs() < 1e-9);
        assert!((m.p99_ms - 3.0).abs() < 1e-9);
        assert_eq!(m.errors, 3);
    }

    #[test]
    fn a_report_without_a_summary_is_an_error() {
        assert!(parse_report("Error: connection refused\n").is_err());
    }

    #[test]
    fn quick_keeps_a_subset() {
        let quick = matrix(true);
        assert!(quick.len() < matrix(false).len());
        assert!(
            quick
                .iter()
                .any(|w| w.name.contains("linearizable, 1 client"))
        );
    }
}
