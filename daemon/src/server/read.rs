//! Linearizable reads: batched ReadIndex rounds.
//!
//! Owns: the read loop, a tokio task that gathers every linearizable read
//! waiting at a moment into one batch, asks raft for one read index for the
//! whole batch (a follower's raft asks the leader), waits until the local
//! store has applied up to that index, then releases the batch. Reads
//! arriving meanwhile form the next batch, so one heartbeat round serves
//! any number of reads.
//!
//! Must never: release a read before the store has applied the read index
//! (that would let a read miss a write acknowledged before it started).
//!
//! A ReadIndex request can be lost (a dropped message, a leader change): the
//! loop asks again every [`RETRY`] until the request timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::state::{Input, Shared};
use crate::etcd_error::EtcdError;

/// How long to wait for a read index before asking again.
const RETRY: Duration = Duration::from_millis(500);

/// Reads waiting to be served beyond which new ones are refused.
const MAX_WAITING_READS: usize = 64 * 1024;

type ReadDone = oneshot::Sender<Result<(), EtcdError>>;

/// The handle request handlers use to wait for a linearizable read point.
#[derive(Debug, Clone)]
pub struct Reads {
    tx: mpsc::Sender<ReadDone>,
}

impl Reads {
    /// Starts the read loop on the current tokio runtime.
    pub fn start(shared: Arc<Shared>) -> Reads {
        let (tx, rx) = mpsc::channel(MAX_WAITING_READS);
        tokio::spawn(read_loop(shared, rx));
        Reads { tx }
    }

    /// Returns once the local store reflects every write acknowledged
    /// before this call began.
    pub async fn linearizable(&self) -> Result<(), EtcdError> {
        #[cfg(feature = "planted-bugs")]
        if planted_local_reads() {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        self.tx.try_send(done).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => EtcdError::TooManyRequests,
            mpsc::error::TrySendError::Closed(_) => EtcdError::Stopped,
        })?;
        wait.await.unwrap_or(Err(EtcdError::Stopped))
    }
}

async fn read_loop(shared: Arc<Shared>, mut rx: mpsc::Receiver<ReadDone>) {
    static NEXT_CTX: AtomicU64 = AtomicU64::new(1);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let ctx = NEXT_CTX.fetch_add(1, Ordering::Relaxed);
        let result = read_index(&shared, ctx).await;
        let result = match result {
            Ok(index) => shared.wait_applied(index).await,
            Err(e) => Err(e),
        };
        for done in batch {
            let _ = done.send(result);
        }
    }
}

/// One ReadIndex round, retried until it answers or the request times out.
async fn read_index(shared: &Shared, ctx: u64) -> Result<u64, EtcdError> {
    shared.wait_for_leader().await?;
    shared.metrics.read_indexes.fetch_add(1, Ordering::Relaxed);
    let deadline = Instant::now() + shared.limits.request_timeout;
    loop {
        let mut answer = shared.register_read(ctx);
        if let Err(e) = shared.send_input(Input::ReadIndex { ctx }) {
            shared.forget_read(ctx);
            return Err(e);
        }
        let wait = RETRY.min(deadline.saturating_duration_since(Instant::now()));
        match tokio::time::timeout(wait, &mut answer).await {
            Ok(Ok(index)) => return index,
            Ok(Err(_)) => return Err(EtcdError::Stopped),
            Err(_) => {
                shared.forget_read(ctx);
                shared
                    .metrics
                    .read_index_failed
                    .fetch_add(1, Ordering::Relaxed);
                if Instant::now() >= deadline {
                    return Err(EtcdError::Timeout);
                }
            }
        }
    }
}

/// Planted bug `local-reads` (the robustness suite must catch it): a
/// linearizable read skips ReadIndex and reads whatever this member has
/// applied, so a lagging or partitioned member answers stale data. On when
/// the process starts with `CAIRN_PLANTED_BUG=local-reads`.
#[cfg(feature = "planted-bugs")]
fn planted_local_reads() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("CAIRN_PLANTED_BUG").is_ok_and(|v| v == "local-reads"))
}
