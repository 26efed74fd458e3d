//! What a run records: every client call with its invocation and return
//! times and its outcome, every watch stream, and the revisions members
//! reported over time. Plain data, written by the workload and read by the
//! checkers; it does no I/O beyond serializing itself for a failed run.
//!
//! Times are nanoseconds since the run started, on one monotonic clock.
//! A call whose outcome is unknown (timeout, connection lost) has no return
//! time: it may take effect at any moment after its invocation, or never.
//!
//! Values written are unique across a run (client and sequence number), so
//! a value seen anywhere names the one write that produced it.

use std::fmt;

/// A key's current value as a read or a watch event shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Kv {
    pub key: String,
    pub value: String,
    pub mod_rev: i64,
    pub lease: i64,
}

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Put `value` at `key`, attached to `lease` (0: none).
    Put {
        key: String,
        value: String,
        lease: i64,
    },
    /// Read one key; `serializable` reads skip ReadIndex.
    Get { key: String, serializable: bool },
    /// Delete one key.
    Delete { key: String },
    /// Txn: if `key`'s value is `expect` (`None`: the key is absent), put
    /// `value`; otherwise read the key.
    Cas {
        key: String,
        expect: Option<String>,
        value: String,
    },
    /// Revoke a lease, deleting every key attached to it.
    Revoke { lease: i64 },
    /// Compact the history up to `revision`.
    Compact { revision: i64 },
}

impl Request {
    /// The one key the request touches, if it names one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Request::Put { key, .. }
            | Request::Get { key, .. }
            | Request::Delete { key }
            | Request::Cas { key, .. } => Some(key),
            Request::Revoke { .. } | Request::Compact { .. } => None,
        }
    }
}

/// What the server answered, for a call that succeeded. `rev` is always
/// the response header's revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Put {
        rev: i64,
    },
    Get {
        rev: i64,
        kv: Option<Kv>,
    },
    Delete {
        rev: i64,
        deleted: i64,
    },
    Cas {
        rev: i64,
        succeeded: bool,
        kv: Option<Kv>,
    },
    Revoke {
        rev: i64,
    },
    Compact {
        rev: i64,
    },
}

impl Response {
    /// The response header's revision.
    pub fn rev(&self) -> i64 {
        match self {
            Response::Put { rev }
            | Response::Get { rev, .. }
            | Response::Delete { rev, .. }
            | Response::Cas { rev, .. }
            | Response::Revoke { rev }
            | Response::Compact { rev } => *rev,
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with this response.
    Ok(Response),
    /// Refused in a way that proves it had no effect.
    Failed(String),
    /// Timed out or lost its connection: it may or may not take effect.
    Unknown(String),
}

/// One client call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub client: usize,
    /// Which member the call went to.
    pub member: usize,
    pub call: u64,
    /// `None` while the outcome is unknown.
    pub ret: Option<u64>,
    pub req: Request,
    pub outcome: Outcome,
}

impl Op {
    /// The return time, or "never" for an unknown outcome.
    pub fn ret_or_never(&self) -> u64 {
        self.ret.unwrap_or(u64::MAX)
    }

    /// The response, if the call succeeded.
    pub fn response(&self) -> Option<&Response> {
        match &self.outcome {
            Outcome::Ok(r) => Some(r),
            _ => None,
        }
    }

    /// The revision this call created, if it succeeded and surely wrote:
    /// no other write may share it.
    pub fn created_rev(&self) -> Option<i64> {
        match self.response()? {
            Response::Put { rev } => Some(*rev),
            Response::Delete { rev, deleted } if *deleted > 0 => Some(*rev),
            Response::Cas {
                rev,
                succeeded: true,
                ..
            } => Some(*rev),
            _ => None,
        }
    }

    /// True for a serializable read (checked apart: it may be stale).
    pub fn is_serializable(&self) -> bool {
        matches!(
            self.req,
            Request::Get {
                serializable: true,
                ..
            }
        )
    }
}

/// One watch event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub rev: i64,
    /// `true` for a PUT, `false` for a DELETE.
    pub put: bool,
    /// For a PUT, the new key-value; for a DELETE, key only (value empty).
    pub kv: Kv,
    pub prev: Option<Kv>,
}

/// One watch stream, from its creation to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub client: usize,
    pub member: usize,
    /// The revision asked for (the first event may be at or after it).
    pub start_rev: i64,
    pub events: Vec<Event>,
    /// The highest revision the stream vouched for: the header revision of
    /// its last response (events or progress), 0 if it never answered.
    pub last_rev: i64,
    /// Why the stream ended early, if it did (compacted, connection lost).
    pub error: Option<String>,
}

/// A revision a member reported, with when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevisionSample {
    pub member: usize,
    pub at: u64,
    pub rev: i64,
}

/// Who an auth probe was sent as (auth runs, see `auth.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// No token, and no client certificate.
    Nobody,
    /// No token, a client certificate whose common name names no user.
    Ghost,
    /// A token no login handed out.
    MadeUp,
    /// A user with no role.
    NoRoles,
    /// A user who may read `k0`..`k2` and nothing else.
    ReadOnly,
}

/// How an auth probe came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    /// Refused with this status.
    Refused(tonic::Code, String),
    /// A watch cancelled at its creation with this reason, no event sent.
    Cancelled(String),
    /// Answered: what came back.
    Answered(String),
    /// No verdict: a timeout, a lost connection, no leader.
    Unknown(String),
}

/// A request its caller has no right to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub caller: Caller,
    pub member: usize,
    pub call: u64,
    pub ret: u64,
    /// What was asked.
    pub what: String,
    /// A watch (refused by a cancellation, not a status).
    pub watch: bool,
    /// The value the request would have written, if it writes.
    pub value: Option<String>,
    pub got: Got,
}

/// Root granting or revoking the flipping writer's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flip {
    /// The role's state the change leads to.
    pub granted: bool,
    /// When the first attempt was sent.
    pub call: u64,
    /// When an attempt was acknowledged; `None` if none was before the
    /// run ended.
    pub ack: Option<u64>,
}

/// A key put with a lease that callers without the right to write it
/// then tried to revoke: it must outlive the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedKey {
    pub lease: i64,
    pub key: String,
    pub value: String,
}

/// Everything one run recorded.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub ops: Vec<Op>,
    pub watches: Vec<Watch>,
    pub samples: Vec<RevisionSample>,
    /// Each member's (revision, HashKV) at the end, once traffic stopped.
    pub final_hashes: Vec<(usize, i64, u32)>,
    /// Auth runs: the requests that had to be refused.
    pub probes: Vec<Probe>,
    /// Auth runs: the changes of the flipping writer's role.
    pub flips: Vec<Flip>,
    /// Auth runs: the keys attached to the leases probes tried to revoke.
    pub leased: Vec<LeasedKey>,
    /// Auth runs: every key of the store at the end, as root reads it
    /// (`None` if that read failed).
    pub final_scan: Option<Vec<Kv>>,
}

impl fmt::Display for History {
    /// One line per call, watch and sample: what a failed run keeps.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for op in &self.ops {
            writeln!(f, "{op:?}")?;
        }
        for w in &self.watches {
            writeln!(
                f,
                "watch client={} member={} start={} last={} error={:?}",
                w.client, w.member, w.start_rev, w.last_rev, w.error
            )?;
            for e in &w.events {
                writeln!(f, "  {e:?}")?;
            }
        }
        for s in &self.samples {
            writeln!(f, "{s:?}")?;
        }
        for h in &self.final_hashes {
            writeln!(f, "final member={} rev={} hash={:08x}", h.0, h.1, h.2)?;
        }
        for p in &self.probes {
            writeln!(f, "{p:?}")?;
        }
        for flip in &self.flips {
            writeln!(f, "{flip:?}")?;
        }
        for l in &self.leased {
            writeln!(f, "{l:?}")?;
        }
        for kv in self.final_scan.iter().flatten() {
            writeln!(f, "final scan {kv:?}")?;
        }
        Ok(())
    }
}
