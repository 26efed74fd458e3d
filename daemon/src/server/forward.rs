//! Connections from this member to the leader's client URL, for the calls
//! only a leader can answer (lease renewals, learner promotion).
//!
//! Owns: one lazily connected channel per leader URL seen. Must never:
//! block; connecting happens on first use of the channel.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tonic::Status;
use tonic::transport::{Channel, Endpoint};

use super::state::Shared;
use super::store_status;
use crate::etcd_error::EtcdError;

/// Channels to leaders, by client URL.
#[derive(Debug, Default)]
pub struct LeaderChannels {
    channels: Mutex<HashMap<String, Channel>>,
}

impl LeaderChannels {
    /// A channel to the current leader's first client URL; "no leader"
    /// when there is none or its address is not known yet.
    pub fn leader(&self, shared: &Shared) -> Result<Channel, Status> {
        let leader = shared.raft.leader.load(Ordering::Relaxed);
        if leader == 0 {
            return Err(EtcdError::NoLeader.into());
        }
        let url = shared
            .read_store()
            .members()
            .map_err(|e| store_status(&e))?
            .into_iter()
            .find(|m| m.id == leader)
            .and_then(|m| m.client_ur_ls.into_iter().next())
            .ok_or_else(|| Status::from(EtcdError::NoLeader))?;
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = channels.get(&url) {
            return Ok(c.clone());
        }
        let c = Endpoint::from_shared(url.clone())
            .map_err(|e| Status::internal(format!("leader URL {url}: {e}")))?
            .connect_timeout(Duration::from_secs(1))
            .connect_lazy();
        channels.insert(url, c.clone());
        Ok(c)
    }
}
