//! The cluster as cairntop last saw it: plain data, no I/O.
//!
//! A [`ClusterSnapshot`] is what one refresh gathered: every member with the
//! outcome of its status probe, the leases and the alarms. Everything the
//! screen shows that is not stored here (role, apply lag, quorum, the
//! cluster's leader and term) is derived from it by the methods below, so
//! the screen can never disagree with the data it was drawn from.
//!
//! Invariant: a snapshot is immutable once built. The poller builds a new one
//! on each refresh and hands it over whole; nothing patches one in place.
//!
//! The key browser's data ([`KeyPage`], [`KeyValue`], [`Change`]) is plain
//! data in the same way; the browser's model (`keys.rs`) changes its own
//! copy as watch events arrive.

use std::time::{Duration, SystemTime};

/// A member's place in the raft group, as the screen names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
    Learner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Learner => "learner",
        }
    }
}

/// What a member answered to Maintenance.Status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The leader this member believes in; 0 when it knows none.
    pub leader: u64,
    pub raft_term: u64,
    /// The commit index.
    pub raft_index: u64,
    pub raft_applied_index: u64,
    pub db_size: i64,
    pub db_size_in_use: i64,
    pub version: String,
    /// The store revision this member has applied.
    pub revision: i64,
    /// How long the status call took, the health figure the table shows.
    pub latency: Duration,
    /// The errors the member itself reports (Status.errors), e.g. an alarm.
    pub errors: Vec<String>,
}

/// The outcome of probing one member on one refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Answered(StatusReport),
    /// The call failed or timed out; the text says why.
    Unreachable(String),
}

/// One member from MemberList, with its probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    /// Empty for a member that was added but has not started yet.
    pub name: String,
    /// The first client URL, the one probed.
    pub client_url: String,
    pub is_learner: bool,
    pub probe: Probe,
}

impl Member {
    pub fn report(&self) -> Option<&StatusReport> {
        match &self.probe {
            Probe::Answered(report) => Some(report),
            Probe::Unreachable(_) => None,
        }
    }

    /// The role is only known from a member that answered: a silent member
    /// might have become leader since anyone last heard from it.
    pub fn role(&self) -> Option<Role> {
        let report = self.report()?;
        Some(if self.is_learner {
            Role::Learner
        } else if report.leader == self.id {
            Role::Leader
        } else {
            Role::Follower
        })
    }

    /// Committed entries this member has not applied yet. A growing lag means
    /// the apply loop (usually the backend) cannot keep up.
    pub fn apply_lag(&self) -> Option<u64> {
        self.report()
            .map(|r| r.raft_index.saturating_sub(r.raft_applied_index))
    }

    /// The name to show; a member that never started has none yet.
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            "(unstarted)"
        } else {
            &self.name
        }
    }
}

/// One lease, from LeaseLeases plus LeaseTimeToLive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub id: i64,
    pub granted_ttl: i64,
    /// Seconds left when the snapshot was taken.
    pub remaining_ttl: i64,
    pub keys: usize,
}

/// One raised alarm (Maintenance.Alarm with action GET).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub member_id: u64,
    /// etcd's name for it: NOSPACE or CORRUPT.
    pub kind: String,
}

/// Whether the voting members can still commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quorum {
    /// Every voter answered and a leader is known.
    Healthy,
    /// A majority of voters answered and a leader is known; losing one more
    /// member may stop the cluster.
    Degraded,
    /// Fewer than a majority answered, or nobody knows a leader: writes stall.
    Lost,
}

impl Quorum {
    pub fn as_str(self) -> &'static str {
        match self {
            Quorum::Healthy => "healthy",
            Quorum::Degraded => "degraded",
            Quorum::Lost => "lost",
        }
    }
}

/// Everything one refresh gathered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSnapshot {
    /// When the refresh finished; lease countdowns start from here.
    pub taken_at: SystemTime,
    pub cluster_id: u64,
    pub members: Vec<Member>,
    pub leases: Vec<Lease>,
    pub alarms: Vec<Alarm>,
}

impl ClusterSnapshot {
    /// The freshest report: the answering member with the highest term, and
    /// among those the highest commit index. Old leaders cut off by a
    /// partition report a stale term, so they lose this comparison.
    fn freshest(&self) -> Option<&StatusReport> {
        self.members
            .iter()
            .filter_map(Member::report)
            .max_by_key(|r| (r.raft_term, r.raft_index))
    }

    /// The cluster's term: the highest any member reports.
    pub fn term(&self) -> Option<u64> {
        self.freshest().map(|r| r.raft_term)
    }

    /// The cluster's leader as the freshest member sees it.
    pub fn leader(&self) -> Option<&Member> {
        let leader = self.freshest()?.leader;
        if leader == 0 {
            return None;
        }
        self.members.iter().find(|m| m.id == leader)
    }

    /// The highest revision any member has applied.
    pub fn revision(&self) -> Option<i64> {
        self.members
            .iter()
            .filter_map(Member::report)
            .map(|r| r.revision)
            .max()
    }

    /// The highest commit index any member reports.
    pub fn raft_index(&self) -> Option<u64> {
        self.freshest().map(|r| r.raft_index)
    }

    pub fn reachable(&self) -> usize {
        self.members.iter().filter(|m| m.report().is_some()).count()
    }

    /// Learners do not vote, so they count neither for nor against quorum.
    pub fn quorum(&self) -> Quorum {
        let voters: Vec<&Member> = self.members.iter().filter(|m| !m.is_learner).collect();
        let answering = voters.iter().filter(|m| m.report().is_some()).count();
        let majority = voters.len() / 2 + 1;
        if self.leader().is_none() || answering < majority {
            Quorum::Lost
        } else if answering < voters.len() {
            Quorum::Degraded
        } else {
            Quorum::Healthy
        }
    }
}

/// One key with its value and metadata, as Range or a watch event gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    /// 0 when the key has no lease.
    pub lease: i64,
}

/// The keys under a prefix (names only), as one Range saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<Vec<u8>>,
    /// Keys under the prefix, including those past the listing's limit.
    pub count: i64,
    /// The store revision the listing was read at.
    pub revision: i64,
}

impl KeyPage {
    /// More keys exist than were listed.
    pub fn truncated(&self) -> bool {
        (self.keys.len() as i64) < self.count
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Put,
    Delete,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Put => "PUT",
            ChangeKind::Delete => "DELETE",
        }
    }
}

/// One watch event. A deletion carries the key and, as `mod_revision`,
/// the revision that deleted it; its other fields are zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub kv: KeyValue,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, leader: u64, term: u64, up: bool) -> Member {
        Member {
            id,
            name: format!("m{id}"),
            client_url: format!("http://127.0.0.1:{id}"),
            is_learner: false,
            probe: if up {
                Probe::Answered(StatusReport {
                    leader,
                    raft_term: term,
                    raft_index: 10,
                    raft_applied_index: 8,
                    db_size: 0,
                    db_size_in_use: 0,
                    version: "3.5.0".into(),
                    revision: 1,
                    latency: Duration::from_millis(1),
                    errors: vec![],
                })
            } else {
                Probe::Unreachable("timed out".into())
            },
        }
    }

    fn snapshot(members: Vec<Member>) -> ClusterSnapshot {
        ClusterSnapshot {
            taken_at: SystemTime::UNIX_EPOCH,
            cluster_id: 1,
            members,
            leases: vec![],
            alarms: vec![],
        }
    }

    #[test]
    fn quorum_degrades_with_one_voter_down_and_is_lost_with_two() {
        let all = snapshot(vec![
            member(1, 1, 2, true),
            member(2, 1, 2, true),
            member(3, 1, 2, true),
        ]);
        assert_eq!(all.quorum(), Quorum::Healthy);
        let one_down = snapshot(vec![
            member(1, 1, 2, true),
            member(2, 1, 2, true),
            member(3, 1, 2, false),
        ]);
        assert_eq!(one_down.quorum(), Quorum::Degraded);
        let two_down = snapshot(vec![
            member(1, 1, 2, true),
            member(2, 1, 2, false),
            member(3, 1, 2, false),
        ]);
        assert_eq!(two_down.quorum(), Quorum::Lost);
    }

    #[test]
    fn a_majority_without_a_leader_has_lost_quorum() {
        let electing = snapshot(vec![
            member(1, 0, 3, true),
            member(2, 0, 3, true),
            member(3, 0, 3, true),
        ]);
        assert_eq!(electing.quorum(), Quorum::Lost);
    }

    #[test]
    fn a_learner_does_not_count_towards_quorum() {
        let mut learner = member(4, 1, 2, false);
        learner.is_learner = true;
        let s = snapshot(vec![
            member(1, 1, 2, true),
            member(2, 1, 2, true),
            member(3, 1, 2, true),
            learner,
        ]);
        assert_eq!(s.quorum(), Quorum::Healthy);
    }

    #[test]
    fn the_leader_is_taken_from_the_highest_term() {
        // m1 was cut off and still believes in itself at term 2; the others
        // elected m2 at term 3.
        let s = snapshot(vec![
            member(1, 1, 2, true),
            member(2, 2, 3, true),
            member(3, 2, 3, true),
        ]);
        assert_eq!(s.leader().map(|m| m.id), Some(2));
        assert_eq!(s.term(), Some(3));
        assert_eq!(s.members[0].role(), Some(Role::Leader), "m1's own view");
        assert_eq!(s.members[1].apply_lag(), Some(2));
    }
}
