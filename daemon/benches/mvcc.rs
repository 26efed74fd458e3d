//! Puts and ranges per second on the MVCC store over the sled backend, in a
//! temporary directory, with the default commit policy (sled flushes on its
//! own every 100 ms; no size-bound flush, see `StoreConfig::batch_limit`). Each put is one
//! applied raft entry: value, key index update and consistent index in one
//! atomic batch.
//!
//! Run: `cargo bench -p cairn --bench mvcc`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use cairn::mvcc::{EntryId, MvccStore, SledBackend, SledOptions, StoreConfig};
use cairn_proto::etcdserverpb::{PutRequest, RangeRequest};

/// Keys the range benchmarks read from.
const KEYS: u64 = 10_000;

fn open(dir: &tempfile::TempDir) -> MvccStore {
    let backend = SledBackend::open(dir.path(), &SledOptions::default()).expect("open sled");
    MvccStore::open(Box::new(backend), StoreConfig::default()).expect("open store")
}

fn key(i: u64) -> Vec<u8> {
    format!("key/{i:08}").into_bytes()
}

fn puts(c: &mut Criterion) {
    let mut g = c.benchmark_group("mvcc_sled_put");
    for value_len in [128usize, 1024] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = open(&dir);
        let mut index = 0u64;
        let value = vec![b'v'; value_len];
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("value_bytes", value_len), |b| {
            b.iter(|| {
                index += 1;
                let req = PutRequest {
                    key: key(index % KEYS),
                    value: value.clone(),
                    ..Default::default()
                };
                store
                    .put(&req, EntryId { index, term: 1 }, None)
                    .expect("put");
            })
        });
    }
    g.finish();
}

fn ranges(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = open(&dir);
    for i in 0..KEYS {
        let req = PutRequest {
            key: key(i),
            value: vec![b'v'; 128],
            ..Default::default()
        };
        store
            .put(
                &req,
                EntryId {
                    index: i + 1,
                    term: 1,
                },
                None,
            )
            .expect("put");
    }
    store.force_commit().expect("flush");

    let mut g = c.benchmark_group("mvcc_sled_range");
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function("single_key", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            let req = RangeRequest {
                key: key(i),
                ..Default::default()
            };
            let resp = store.range(&req).expect("range");
            assert_eq!(resp.kvs.len(), 1);
        })
    });
    g.bench_function("prefix_limit_100", |b| {
        b.iter(|| {
            i = (i + 7919) % (KEYS - 100);
            let req = RangeRequest {
                key: key(i),
                range_end: b"key0".to_vec(),
                limit: 100,
                ..Default::default()
            };
            let resp = store.range(&req).expect("range");
            assert_eq!(resp.kvs.len(), 100);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    // A few seconds per case is enough for a throughput figure.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(4));
    targets = puts, ranges
}
criterion_main!(benches);
