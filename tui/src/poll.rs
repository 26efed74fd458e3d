//! Gathering a [`ClusterSnapshot`] from a live cluster, and the background
//! task that does it on an interval.
//!
//! This module owns the cluster refresh (the key browser's calls are in
//! `browse.rs`). It never touches the screen: the task sends each result to the render loop as an
//! [`Event::Refreshed`], so drawing never waits on a member that is timing
//! out. One refresh asks the cluster (balanced over the endpoints) for its
//! members, leases and alarms, then asks every member for its own status at
//! its own client URL, all at once, so one slow member costs one timeout
//! and not one per member.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use cairn_client::pb::{self, AlarmType, alarm_request::AlarmAction};
use cairn_client::{Client, Error};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

use crate::app::Event;
use crate::state::{Alarm, ClusterSnapshot, Lease, Member, Probe, StatusReport};

/// The most leases asked for their time to live on one refresh: each is a
/// call, and a screen shows a few dozen at most.
const MAX_LEASES: usize = 256;

/// Refreshes every `every` (or at once when `now` is notified) and sends
/// each outcome on `tx`, until the receiver is dropped.
pub async fn run(
    client: Client,
    every: std::time::Duration,
    now: Arc<Notify>,
    tx: mpsc::Sender<Event>,
) {
    loop {
        let outcome = refresh(&client).await;
        if tx.send(Event::Refreshed(outcome)).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = now.notified() => {}
        }
    }
}

/// One refresh. `Err` only when the cluster as a whole could not be
/// reached (MemberList failed on every endpoint); a member that does not
/// answer is part of a successful snapshot.
pub async fn refresh(client: &Client) -> Result<ClusterSnapshot, String> {
    let list = client.member_list().await.map_err(|e| describe(&e))?;
    let cluster_id = list.header.as_ref().map_or(0, |h| h.cluster_id);

    let mut probes = JoinSet::new();
    for (i, m) in list.members.iter().enumerate() {
        let client = client.clone();
        let url = m.client_ur_ls.first().cloned();
        probes.spawn(async move {
            let probe = match url {
                None => Probe::Unreachable("no client URL".into()),
                Some(url) => probe(&client, &url).await,
            };
            (i, probe)
        });
    }
    let leases = leases(client);
    let alarms = client.alarm(pb::AlarmRequest {
        action: AlarmAction::Get as i32,
        ..Default::default()
    });
    let (leases, alarms) = tokio::join!(leases, alarms);

    let mut members: Vec<Member> = list
        .members
        .iter()
        .map(|m| Member {
            id: m.id,
            name: m.name.clone(),
            client_url: m.client_ur_ls.first().cloned().unwrap_or_default(),
            is_learner: m.is_learner,
            probe: Probe::Unreachable("not probed".into()),
        })
        .collect();
    while let Some(joined) = probes.join_next().await {
        if let Ok((i, probe)) = joined {
            members[i].probe = probe;
        }
    }
    // MemberList's order is the server's map order; sorting keeps each
    // member on the same row from one refresh to the next.
    members.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
    // An alarm list that cannot be read is shown as no alarms; the members
    // table already says which members are in trouble.
    let alarms = alarms
        .map(|a| {
            a.alarms
                .iter()
                .map(|a| Alarm {
                    member_id: a.member_id,
                    kind: AlarmType::try_from(a.alarm)
                        .map_or_else(|_| a.alarm.to_string(), |t| t.as_str_name().to_string()),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ClusterSnapshot {
        taken_at: SystemTime::now(),
        cluster_id,
        members,
        leases,
        alarms,
    })
}

async fn probe(client: &Client, url: &str) -> Probe {
    let start = Instant::now();
    match client.status_at(url).await {
        Ok(s) => Probe::Answered(StatusReport {
            leader: s.leader,
            raft_term: s.raft_term,
            raft_index: s.raft_index,
            raft_applied_index: s.raft_applied_index,
            db_size: s.db_size,
            db_size_in_use: s.db_size_in_use,
            version: s.version,
            revision: s.header.map_or(0, |h| h.revision),
            latency: start.elapsed(),
            errors: s.errors,
        }),
        Err(e) => Probe::Unreachable(describe(&e)),
    }
}

/// Every lease with its remaining time and key count. A lease that expires
/// between the listing and its TimeToLive answers with TTL -1: it is left
/// out, it is gone.
async fn leases(client: &Client) -> Vec<Lease> {
    let Ok(list) = client.lease_leases().await else {
        return Vec::new();
    };
    let mut asks = JoinSet::new();
    for l in list.leases.iter().take(MAX_LEASES) {
        let client = client.clone();
        let id = l.id;
        asks.spawn(async move { client.lease_time_to_live(id, true).await });
    }
    let mut out = Vec::new();
    while let Some(joined) = asks.join_next().await {
        if let Ok(Ok(t)) = joined
            && t.ttl >= 0
        {
            out.push(Lease {
                id: t.id,
                granted_ttl: t.granted_ttl,
                remaining_ttl: t.ttl,
                keys: t.keys.len(),
            });
        }
    }
    out
}

fn describe(e: &Error) -> String {
    e.to_string()
}
