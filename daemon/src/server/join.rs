//! Joining a running cluster (`--initial-cluster-state existing` with an
//! empty data dir), after an operator announced the member with
//! `member add`.
//!
//! Owns: asking the other members named in `--initial-cluster`, at their
//! peer URLs, for the member list, and finding this member in it by its
//! advertised peer URLs. Must never: invent an id or a cluster id — a
//! member the cluster does not know is refused with a message saying what
//! to do.
//!
//! The joining member starts with an empty log and no membership; the
//! leader sends it the log (or a snapshot), which brings the member
//! records and raft's configuration with it.

use std::time::Duration;

use crate::config::ServerConfig;
use crate::peer::dial::PeerDialer;
use anyhow::bail;
use cairn_proto::etcdserverpb::cluster_client::ClusterClient;
use cairn_proto::etcdserverpb::{Member, MemberListRequest};

/// Attempts over every peer URL before giving up; members that were just
/// started next to this one may need a moment to listen.
const ATTEMPTS: usize = 5;
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// What the running cluster told a joining member.
#[derive(Debug)]
pub struct Joined {
    pub cluster_id: u64,
    pub member_id: u64,
    /// The other members, to send raft traffic to before the log arrives.
    pub members: Vec<Member>,
}

/// Finds this member in the cluster its `--initial-cluster` names.
pub async fn discover(cfg: &ServerConfig, dialer: &PeerDialer) -> anyhow::Result<Joined> {
    let mut own: Vec<String> = cfg
        .initial_advertise_peer_urls
        .iter()
        .map(ToString::to_string)
        .collect();
    own.sort();
    let urls: Vec<String> = cfg
        .initial_cluster
        .iter()
        .filter(|(name, _)| *name != cfg.name)
        .flat_map(|(_, urls)| urls.iter().map(ToString::to_string))
        .filter(|u| !own.contains(u))
        .collect();
    if urls.is_empty() {
        bail!(
            "--initial-cluster-state existing: --initial-cluster names no other member to join \
             through"
        );
    }
    let mut last_error = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        for url in &urls {
            match member_list(dialer, url).await {
                Ok((cluster_id, members)) => {
                    let found = members.iter().find(|m| {
                        let mut theirs = m.peer_ur_ls.clone();
                        theirs.sort();
                        theirs == own
                    });
                    let Some(me) = found else {
                        bail!(
                            "cluster {cluster_id:x} (asked at {url}) has no member with peer \
                             URLs {}: add this member first (cairnctl member add {} \
                             --peer-urls={})",
                            own.join(","),
                            cfg.name,
                            own.join(",")
                        );
                    };
                    let member_id = me.id;
                    tracing::info!(
                        member = format_args!("{member_id:x}"),
                        cluster = format_args!("{cluster_id:x}"),
                        through = %url,
                        "joining an existing cluster"
                    );
                    return Ok(Joined {
                        cluster_id,
                        member_id,
                        members: members.into_iter().filter(|m| m.id != member_id).collect(),
                    });
                }
                Err(e) => last_error = format!("{url}: {e}"),
            }
        }
    }
    bail!("could not reach any member of the existing cluster (last error: {last_error})")
}

/// The cluster id and members, as the member at peer URL `url` sees them.
async fn member_list(dialer: &PeerDialer, url: &str) -> anyhow::Result<(u64, Vec<Member>)> {
    let channel = dialer
        .endpoint(url)?
        .map(|e| {
            e.connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(5))
        })
        .connect()
        .await?;
    let resp = ClusterClient::new(channel)
        .member_list(MemberListRequest {
            linearizable: false,
        })
        .await?
        .into_inner();
    let cluster_id = resp.header.map_or(0, |h| h.cluster_id);
    Ok((cluster_id, resp.members))
}
