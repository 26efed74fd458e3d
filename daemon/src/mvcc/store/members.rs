//! The cluster's member records, kept in the `members` tree so that every
//! member answers MemberList alike and a restarted member remembers the
//! cluster without its start-up flags.
//!
//! Owns: reading and writing `Tree::Members` (member id, big-endian `u64`,
//! to an encoded `etcdserverpb::Member`). Must never: decide membership —
//! raft's applied conf changes do; this only records what was applied.
//!
//! Invariant: like every apply, a member write and its raft entry's index
//! reach the backend in one batch.

use super::{EntryId, MvccStore};
use crate::mvcc::MvccError;
use crate::mvcc::backend::{Backend, WriteBatch};
use crate::mvcc::schema::{self, Tree};
use cairn_proto::etcdserverpb::Member;
use prost::Message;

impl MvccStore {
    /// Applies raft entry `at`, recording (or replacing) `member`.
    pub fn put_member(&mut self, member: &Member, at: EntryId) -> Result<(), MvccError> {
        let mut batch = WriteBatch::new();
        batch.put(
            Tree::Members,
            schema::encode_u64(member.id),
            member.encode_to_vec(),
        );
        self.apply_raw(at, batch)
    }

    /// Applies raft entry `at`, forgetting member `id` and remembering that
    /// it was removed (a removed id never rejoins).
    pub fn remove_member(&mut self, id: u64, at: EntryId) -> Result<(), MvccError> {
        let mut batch = WriteBatch::new();
        batch.delete(Tree::Members, schema::encode_u64(id));
        batch.put(Tree::MembersRemoved, schema::encode_u64(id), Vec::new());
        self.apply_raw(at, batch)
    }

    /// Every recorded member, by id.
    pub fn members(&self) -> Result<Vec<Member>, MvccError> {
        let mut out = Vec::new();
        let mut bad = false;
        self.backend.scan(Tree::Members, &[], None, &mut |_, v| {
            match Member::decode(v) {
                Ok(m) => out.push(m),
                Err(_) => bad = true,
            }
            !bad
        })?;
        if bad {
            return Err(MvccError::Corrupt {
                what: "undecodable member record",
            });
        }
        Ok(out)
    }

    /// Every member ever removed from the cluster.
    pub fn removed_members(&self) -> Result<Vec<u64>, MvccError> {
        let mut out = Vec::new();
        self.backend
            .scan(Tree::MembersRemoved, &[], None, &mut |k, _| {
                if let Ok(id) = <[u8; 8]>::try_from(k) {
                    out.push(u64::from_be_bytes(id));
                }
                true
            })?;
        Ok(out)
    }

    /// Whether member `id` was removed from the cluster.
    pub fn is_removed_member(&self, id: u64) -> Result<bool, MvccError> {
        Ok(self
            .backend
            .get(Tree::MembersRemoved, &schema::encode_u64(id))?
            .is_some())
    }
}
