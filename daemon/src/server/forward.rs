//! Connections from this member to other members' client URLs: to the
//! leader, for the calls only a leader can answer (lease renewals, learner
//! promotion), and from the leader to each member for the corruption check.
//!
//! Owns: one lazily connected channel per URL seen. Must never:
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

/// Lazily connected channels to members' client URLs, one per URL: shared
/// by the calls forwarded to the leader and the leader's corruption check.
#[derive(Debug, Default)]
pub struct MemberChannels {
    channels: Mutex<HashMap<String, Channel>>,
}

impl MemberChannels {
    /// The channel to `url`, made on first use; it connects (within
    /// `connect_timeout`) when first called.
    pub fn to(
        &self,
        url: &str,
        connect_timeout: Duration,
    ) -> Result<Channel, tonic::transport::Error> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = channels.get(url) {
            return Ok(c.clone());
        }
        let c = Endpoint::from_shared(url.to_owned())?
            .connect_timeout(connect_timeout)
            .connect_lazy();
        channels.insert(url.to_owned(), c.clone());
        Ok(c)
    }
}

/// The client URL another member calls: a plain `http://` one when the
/// member advertises one, since these channels speak no TLS yet (moving
/// member-to-member calls onto the peer transport is issue 17's next step).
pub fn member_url(client_urls: &[String]) -> Option<&str> {
    client_urls
        .iter()
        .find(|u| u.starts_with("http://"))
        .or_else(|| client_urls.first())
        .map(String::as_str)
}

/// Channels to leaders, by client URL.
#[derive(Debug, Default)]
pub struct LeaderChannels {
    channels: MemberChannels,
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
            .and_then(|m| member_url(&m.client_ur_ls).map(str::to_owned))
            .ok_or_else(|| Status::from(EtcdError::NoLeader))?;
        self.channels
            .to(&url, Duration::from_secs(1))
            .map_err(|e| Status::internal(format!("leader URL {url}: {e}")))
    }
}
