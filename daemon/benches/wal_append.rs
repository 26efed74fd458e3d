//! Entries made durable per second by the WAL alone: batches of 1, 16 and
//! 256 entries of 256 bytes, each batch one `save` with one fdatasync, into
//! a temp directory (so on whatever disk backs it). The gap between batch
//! sizes is what group commit buys; batch 1 approximates the disk's fsync
//! rate.
//!
//! Run: `cargo bench -p cairn --bench wal_append`

use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use cairn::raft::{Entry, EntryType, HardState};
use cairn::wal::{Metadata, SnapshotMarker, Wal, WalOptions};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_append_fdatasync");
    group.measurement_time(Duration::from_secs(5));
    let data = Bytes::from(vec![0x5a; 256]);
    for batch in [1u64, 16, 256] {
        group.throughput(Throughput::Elements(batch));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut wal = Wal::create(
                dir.path(),
                WalOptions::default(),
                Metadata {
                    cluster_id: 1,
                    member_id: 1,
                },
                SnapshotMarker::default(),
                HardState::default(),
                &[],
            )
            .expect("create WAL");
            let mut next = 1;
            b.iter(|| {
                let entries: Vec<Entry> = (next..next + batch)
                    .map(|index| Entry {
                        term: 1,
                        index,
                        entry_type: EntryType::Normal,
                        data: data.clone(),
                    })
                    .collect();
                next += batch;
                let hs = HardState {
                    term: 1,
                    vote: 1,
                    commit: next - 1,
                };
                wal.save(Some(hs), &entries, true).expect("save");
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
