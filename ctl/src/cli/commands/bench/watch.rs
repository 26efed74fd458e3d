//! `bench watch` and `bench watch-latency`, etcd's two watch workloads.
//!
//! Both first open watches (`--streams` gRPC streams, each carrying several
//! watches, over the `--conns` connections), then put to the watched keys at
//! `--put-rate` until `--put-total` puts are done, and wait for every event:
//! one per put and watch of its key.
//!
//! - `watch`: `--watch-per-stream` watches a stream, spread in turn over
//!   `--watched-key-total` keys drawn from `--key-space-size` (in order with
//!   `--sequential-keys`); the puts go to those keys in turn, from
//!   `--clients` workers.
//! - `watch-latency`: `--watchers-per-stream` watches a stream, all on one
//!   key; one client of its own puts to it, one put at a time.
//!
//! Three reports follow: creating the watches (each create until the
//! server confirms it), the puts, and the events. An event's latency runs
//! from the start of the put that caused it (matched by revision) to its
//! arrival. etcd's tool starts that clock at the put's acknowledgement
//! instead, and clamps it at zero because on loopback most events arrive
//! first; `watch` there reports no event latency at all.
//!
//! Errors are failed creates and puts, broken streams, and events that never
//! arrived ([`EVENT_WAIT`] after the last put).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_client::{Client, WatchOptions, WatchStream};
use indicatif::ProgressBar;
use tokio::sync::mpsc;

use super::{Common, Job, Rng, Sample, connections, drive, key, progress, report};
use crate::cli::{Ctx, Failure, Outcome, describe, exit};

/// How long the events may stop arriving, once every put is answered,
/// before the missing ones count as errors.
pub const EVENT_WAIT: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug, Clone)]
pub struct WatchArgs {
    /// Total watch streams
    #[arg(long, default_value_t = 10)]
    pub streams: usize,
    /// Total watchers per stream
    #[arg(long = "watch-per-stream", default_value_t = 100)]
    pub watch_per_stream: usize,
    /// Total number of keys to be watched
    #[arg(long = "watched-key-total", default_value_t = 1)]
    pub watched_key_total: usize,
    /// Number of keys to put per second (0 is no limit)
    #[arg(long = "put-rate", default_value_t = 0)]
    pub put_rate: u64,
    /// Number of put requests
    #[arg(long = "put-total", default_value_t = 1000)]
    pub put_total: u64,
    /// Key size of watch request
    #[arg(long = "key-size", default_value_t = 32)]
    pub key_size: usize,
    /// Maximum possible keys
    #[arg(long = "key-space-size", default_value_t = 1)]
    pub key_space_size: u64,
    /// Use sequential keys
    #[arg(long = "sequential-keys")]
    pub sequential_keys: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct LatencyArgs {
    /// Total watch streams
    #[arg(long, default_value_t = 10)]
    pub streams: usize,
    /// Total watchers per stream
    #[arg(long = "watchers-per-stream", default_value_t = 10)]
    pub watchers_per_stream: usize,
    /// PrevKV enabled on watch requests
    #[arg(long)]
    pub prevkv: bool,
    /// Total number of put requests
    #[arg(long = "put-total", default_value_t = 1000)]
    pub put_total: u64,
    /// Number of keys to put per second (0 is no limit)
    #[arg(long = "put-rate", default_value_t = 100)]
    pub put_rate: u64,
    /// Key size of watch response
    #[arg(long = "key-size", default_value_t = 32)]
    pub key_size: usize,
    /// Value size of watch response
    #[arg(long = "val-size", default_value_t = 32)]
    pub val_size: usize,
}

/// The keys `bench watch` watches: `total` of them, numbered in order or at
/// random within the key space.
pub fn watched_keys(a: &WatchArgs, rng: &mut Rng) -> Vec<Vec<u8>> {
    let space = a.key_space_size.max(1);
    (0..a.watched_key_total as u64)
        .map(|i| {
            let n = if a.sequential_keys { i } else { rng.next() };
            key(n % space, a.key_size)
        })
        .collect()
}

pub async fn watch(a: WatchArgs, c: &Common, ctx: &mut Ctx) -> Outcome {
    if a.streams == 0 || a.watch_per_stream == 0 || a.watched_key_total == 0 {
        return Err(Failure::bad_args(
            "--streams, --watch-per-stream and --watched-key-total must be at least 1",
        ));
    }
    if a.key_space_size == 0 {
        return Err(Failure::bad_args("--key-space-size must be at least 1"));
    }
    let conns = connections(c, ctx, 0).await?;
    let keys = Arc::new(watched_keys(&a, &mut Rng::new(seed())));
    let plan = Plan {
        streams: a.streams,
        per_stream: a.watch_per_stream,
        key_of_watch: keys
            .iter()
            .cycle()
            .take(a.streams * a.watch_per_stream)
            .cloned()
            .collect(),
        prev_kv: false,
        put_conns: conns.clone(),
        put_clients: c.clients,
        put_total: a.put_total,
        put_rate: a.put_rate,
        put_keys: keys,
        value: b"data".to_vec(),
    };
    let text = plan.run(&conns).await?;
    write!(ctx.out, "{text}")?;
    Ok(())
}

pub async fn latency(a: LatencyArgs, c: &Common, ctx: &mut Ctx) -> Outcome {
    if a.streams == 0 || a.watchers_per_stream == 0 {
        return Err(Failure::bad_args(
            "--streams and --watchers-per-stream must be at least 1",
        ));
    }
    // The puts get a connection of their own, as in etcd's tool.
    let mut conns = connections(c, ctx, 1).await?;
    let put_conn = conns.pop().expect("one extra connection");
    let key = key(Rng::new(seed()).next(), a.key_size);
    let plan = Plan {
        streams: a.streams,
        per_stream: a.watchers_per_stream,
        key_of_watch: vec![key.clone(); a.streams * a.watchers_per_stream],
        prev_kv: a.prevkv,
        put_conns: vec![put_conn],
        put_clients: 1,
        put_total: a.put_total,
        put_rate: a.put_rate,
        put_keys: Arc::new(vec![key]),
        value: vec![b'v'; a.val_size],
    };
    let text = plan.run(&conns).await?;
    write!(ctx.out, "{text}")?;
    Ok(())
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// One run of either workload.
struct Plan {
    streams: usize,
    per_stream: usize,
    /// The key of each watch, stream by stream: watch `k` of stream `s` is
    /// `key_of_watch[s * per_stream + k]`.
    key_of_watch: Vec<Vec<u8>>,
    prev_kv: bool,
    put_conns: Vec<Client>,
    put_clients: usize,
    put_total: u64,
    put_rate: u64,
    put_keys: Arc<Vec<Vec<u8>>>,
    value: Vec<u8>,
}

/// What one stream's reader passes on: the revision of an event and when
/// it arrived, or why the stream broke.
type Arrival = Result<(i64, Instant), String>;

impl Plan {
    /// Opens the watches over `conns`, puts, collects the events; returns
    /// the three reports.
    async fn run(self, conns: &[Client]) -> Result<String, Failure> {
        let (streams, created) = self.open(conns).await?;
        let mut text = format!("Watch creation summary:\n{}", created.report());

        // Events expected: each put, once per watch created on its key.
        let mut watches_on: HashMap<&[u8], u64> = HashMap::new();
        for key in &created.keys {
            *watches_on.entry(key.as_slice()).or_default() += 1;
        }
        let expected: u64 = (0..self.put_total)
            .map(|i| {
                let key = &self.put_keys[i as usize % self.put_keys.len()];
                watches_on.get(key.as_slice()).copied().unwrap_or(0)
            })
            .sum();

        let (tx, mut rx) = mpsc::unbounded_channel::<Arrival>();
        let readers: Vec<_> = streams
            .into_iter()
            .map(|s| tokio::spawn(read(s, tx.clone())))
            .collect();
        drop(tx);

        let bar = progress(expected);
        let start = Instant::now();
        let mut puts = tokio::spawn(drive(
            self.put_conns,
            self.put_clients,
            self.put_total,
            self.put_rate,
            Job::PutKeys(self.put_keys, self.value),
            ProgressBar::hidden(),
        ));
        let mut arrivals = Vec::with_capacity(expected as usize);
        let mut broken = 0u64;
        let mut first_error = None;
        let mut put_result = None;
        let mut last = start;
        while (arrivals.len() as u64) < expected {
            tokio::select! {
                a = rx.recv() => match a {
                    Some(Ok(a)) => {
                        arrivals.push(a);
                        last = a.1;
                        bar.inc(1);
                    }
                    Some(Err(e)) => {
                        broken += 1;
                        first_error.get_or_insert(e);
                    }
                    None => break,
                },
                r = &mut puts, if put_result.is_none() => put_result = Some(r),
                () = tokio::time::sleep(EVENT_WAIT), if put_result.is_some() => break,
            }
        }
        let put_result = match put_result {
            Some(r) => r,
            None => puts.await,
        };
        let put = put_result.map_err(|e| Failure::new(exit::ERROR, e.to_string()))??;
        for r in readers {
            r.abort();
        }
        bar.finish_and_clear();
        text.push_str(&format!("\nPut summary:\n{}", put.report()));

        let started: HashMap<i64, Instant> = put
            .samples
            .iter()
            .map(|s: &Sample| (s.revision, s.start))
            .collect();
        let mut latencies: Vec<Duration> = arrivals
            .iter()
            .filter_map(|(rev, at)| started.get(rev).map(|s| at.saturating_duration_since(*s)))
            .collect();
        let received = arrivals.len() as u64;
        let missing = expected.saturating_sub(received);
        if missing > 0 {
            first_error.get_or_insert(format!("{missing} events never arrived"));
        }
        if first_error.is_none() {
            first_error = put.first_error.clone();
        }
        text.push_str(&format!(
            "\nWatch events summary ({received} of {expected} events received):\n{}",
            report(
                &mut latencies,
                last.saturating_duration_since(start),
                put.errors + broken + missing,
                first_error,
            )
        ));
        Ok(text)
    }

    /// Opens the streams at once, each creating its watches one after
    /// another; returns the streams and what creating them measured.
    async fn open(&self, conns: &[Client]) -> Result<(Vec<WatchStream>, Created), Failure> {
        let bar = progress((self.streams * self.per_stream) as u64);
        let start = Instant::now();
        let tasks: Vec<_> = (0..self.streams)
            .map(|s| {
                let mut stream = conns[s % conns.len()].watch_stream();
                let keys =
                    self.key_of_watch[s * self.per_stream..(s + 1) * self.per_stream].to_vec();
                let (prev_kv, bar) = (self.prev_kv, bar.clone());
                tokio::spawn(async move {
                    let mut done = Created::default();
                    for key in keys {
                        let options = WatchOptions {
                            key: key.clone(),
                            prev_kv,
                            ..Default::default()
                        };
                        let t = Instant::now();
                        match stream.create(&options).await {
                            Ok(_) => {
                                done.latencies.push(t.elapsed());
                                done.keys.push(key);
                            }
                            Err(e) => {
                                done.errors += 1;
                                done.first_error.get_or_insert_with(|| describe(&e));
                            }
                        }
                        bar.inc(1);
                    }
                    (stream, done)
                })
            })
            .collect();
        let mut streams = Vec::new();
        let mut all = Created::default();
        for t in tasks {
            let (stream, done) = t
                .await
                .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
            streams.push(stream);
            all.latencies.extend(done.latencies);
            all.keys.extend(done.keys);
            all.errors += done.errors;
            all.first_error = all.first_error.or(done.first_error);
        }
        all.elapsed = start.elapsed();
        bar.finish_and_clear();
        Ok((streams, all))
    }
}

/// What creating the watches measured, and the key of each watch created.
#[derive(Debug, Default)]
struct Created {
    latencies: Vec<Duration>,
    keys: Vec<Vec<u8>>,
    elapsed: Duration,
    errors: u64,
    first_error: Option<String>,
}

impl Created {
    fn report(&self) -> String {
        report(
            &mut self.latencies.clone(),
            self.elapsed,
            self.errors,
            self.first_error.clone(),
        )
    }
}

/// Passes on every event of `stream` with its arrival time, until the
/// stream ends or the task is aborted.
async fn read(mut stream: WatchStream, out: mpsc::UnboundedSender<Arrival>) {
    while let Some(resp) = stream.next().await {
        let resp = match resp {
            Ok(resp) => resp,
            Err(e) => {
                let _ = out.send(Err(describe(&e)));
                return;
            }
        };
        let at = Instant::now();
        for e in &resp.events {
            let rev = e.kv.as_ref().map_or(0, |kv| kv.mod_revision);
            if out.send(Ok((rev, at))).is_err() {
                return;
            }
        }
        if resp.canceled {
            let _ = out.send(Err(resp.cancel_reason));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Args, Workload};
    use super::*;
    use crate::cli::commands::{Command, parse};

    fn bench(args: &[&str]) -> Args {
        match parse(args).unwrap().command {
            Command::Bench(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn watch_flags_and_defaults() {
        let a = bench(&["bench", "--clients=4", "watch"]);
        let Workload::Watch(w) = a.workload else {
            panic!("{:?}", a.workload)
        };
        assert_eq!(
            (w.streams, w.watch_per_stream, w.watched_key_total),
            (10, 100, 1)
        );
        assert_eq!((w.put_total, w.put_rate, w.key_size), (1000, 0, 32));
        let a = bench(&[
            "bench",
            "watch",
            "--streams=2",
            "--watch-per-stream=5",
            "--watched-key-total=3",
            "--put-total=30",
            "--put-rate=50",
            "--key-size=8",
            "--key-space-size=3",
            "--sequential-keys",
        ]);
        let Workload::Watch(w) = a.workload else {
            panic!("{:?}", a.workload)
        };
        assert_eq!(
            watched_keys(&w, &mut Rng::new(1)),
            [b"00000000", b"00000001", b"00000002"]
        );
        assert_eq!((w.put_total, w.put_rate), (30, 50));
    }

    #[test]
    fn watch_latency_flags_and_defaults() {
        let a = bench(&["bench", "watch-latency"]);
        let Workload::WatchLatency(l) = a.workload else {
            panic!("{:?}", a.workload)
        };
        assert_eq!(
            (l.streams, l.watchers_per_stream, l.prevkv),
            (10, 10, false)
        );
        assert_eq!(
            (l.put_total, l.put_rate, l.key_size, l.val_size),
            (1000, 100, 32, 32)
        );
        let a = bench(&[
            "bench",
            "watch-latency",
            "--streams=3",
            "--watchers-per-stream=4",
            "--prevkv",
            "--put-total=7",
            "--put-rate=0",
        ]);
        let Workload::WatchLatency(l) = a.workload else {
            panic!("{:?}", a.workload)
        };
        assert_eq!((l.streams, l.watchers_per_stream, l.prevkv), (3, 4, true));
        assert_eq!((l.put_total, l.put_rate), (7, 0));
    }

    #[test]
    fn random_watched_keys_stay_in_the_key_space() {
        let a = WatchArgs {
            streams: 1,
            watch_per_stream: 1,
            watched_key_total: 50,
            put_rate: 0,
            put_total: 1,
            key_size: 4,
            key_space_size: 7,
            sequential_keys: false,
        };
        for k in watched_keys(&a, &mut Rng::new(9)) {
            let n: u64 = String::from_utf8(k).unwrap().parse().unwrap();
            assert!(n < 7);
        }
    }
}
