//! etcd's plain-HTTP endpoints on the client port (and on
//! --listen-metrics-urls): `/health`, `/version` and `/metrics`.
//!
//! Owns: the JSON shapes of `/health` and `/version` (etcd 3.5's, field for
//! field) and gathering the values `/metrics` renders. Must never: answer
//! healthy without a leader or without a read that went through raft.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::metrics::{Gauges, render};
use super::read::Reads;
use super::state::Shared;
use super::{ETCD_CLUSTER_VERSION, ETCD_VERSION};
use crate::wal::Histogram;

/// What the HTTP handlers need.
#[derive(Debug, Clone)]
pub struct HttpState {
    pub shared: Arc<Shared>,
    pub reads: Reads,
    pub fsync: Arc<Histogram>,
}

/// The routes, ready to be merged with the gRPC services.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .with_state(state)
}

fn json(status: StatusCode, body: String) -> impl IntoResponse {
    (status, [(header::CONTENT_TYPE, "application/json")], body)
}

/// etcd's answer: healthy only with a leader and a linearizable read that
/// succeeds in time.
async fn health(State(s): State<HttpState>) -> impl IntoResponse {
    let reason = if s.shared.raft.leader.load(Ordering::Relaxed) == 0 {
        Some("RAFT NO LEADER")
    } else if s.reads.linearizable().await.is_err() {
        Some("QGET ERROR")
    } else {
        None
    };
    let (status, health, reason) = match reason {
        None => (StatusCode::OK, "true", ""),
        Some(r) => (StatusCode::SERVICE_UNAVAILABLE, "false", r),
    };
    let body = serde_json::json!({ "health": health, "reason": reason }).to_string();
    json(status, body)
}

async fn version() -> impl IntoResponse {
    let body = serde_json::json!({
        "etcdserver": ETCD_VERSION,
        "etcdcluster": ETCD_CLUSTER_VERSION,
        "cairn": env!("CARGO_PKG_VERSION"),
    })
    .to_string();
    json(StatusCode::OK, body)
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    let raft = &s.shared.raft;
    let mut g = Gauges {
        has_leader: raft.leader.load(Ordering::Relaxed) != 0,
        is_leader: raft.is_leader.load(Ordering::Relaxed),
        is_learner: raft.is_learner.load(Ordering::Relaxed),
        term: raft.term.load(Ordering::Relaxed),
        commit: raft.commit.load(Ordering::Relaxed),
        applied: raft.applied.load(Ordering::Relaxed),
        fsync: Some(s.fsync.snapshot()),
        resident_bytes: super::metrics::resident_memory_bytes(),
        ..Gauges::default()
    };
    {
        let store = s.shared.read_store();
        g.current_revision = store.current_revision();
        g.compacted_revision = store.compacted_revision();
        if let Ok(size) = store.size() {
            g.db_total_bytes = size.on_disk;
            g.db_in_use_bytes = size.in_use;
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&s.shared.metrics, &g),
    )
}
