//! Every tree and every meta key cairn keeps in its backend, declared here
//! and nowhere else.
//!
//! Owns: the names of the trees, the meta keys and the byte encoding of the
//! meta values. Must never: hold logic about what the values mean (that is
//! the owning module's business) or be bypassed by a string literal naming a
//! tree or a meta key elsewhere.
//!
//! Invariants: tree names and meta keys are part of the on-disk format; a
//! name, once released, never changes meaning. [`Tree::ALL`] lists every
//! tree in a fixed order, which is the order hashes and snapshots walk them.

/// A named keyspace in the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tree {
    /// The MVCC history: revision bytes (see `revision.rs`) to an encoded
    /// `mvccpb::KeyValue`. Byte order of keys is revision order.
    Key,
    /// Bookkeeping values, keyed by the `META_*` constants below.
    Meta,
    /// Leases: the lease id as an `i64`, big-endian, to 16 bytes: the
    /// granted TTL in seconds, then the remaining TTL a checkpoint recorded
    /// (0: none), each an `i64`, big-endian (see [`encode_lease`]). Written
    /// by `store/lease.rs`; the attached keys are not stored here, they are
    /// the live keys whose KeyValue names the lease.
    Lease,
    /// Cluster members: the member id, big-endian `u64`, to an encoded
    /// `etcdserverpb::Member` (see `store/members.rs`).
    Members,
    /// Ids of removed members, so they can never rejoin.
    MembersRemoved,
    /// Raised alarms (NOSPACE, CORRUPT).
    Alarm,
    /// Auth settings: [`AUTH_ENABLED`] and [`AUTH_REVISION`].
    Auth,
    /// Auth users: the user name to an encoded `authpb::User`, whose
    /// password is a bcrypt hash (see `store/auth.rs`).
    AuthUsers,
    /// Auth roles: the role name to an encoded `authpb::Role`.
    AuthRoles,
}

impl Tree {
    /// Every tree, in the fixed order used by hashes and snapshots.
    pub const ALL: [Tree; 9] = [
        Tree::Key,
        Tree::Meta,
        Tree::Lease,
        Tree::Members,
        Tree::MembersRemoved,
        Tree::Alarm,
        Tree::Auth,
        Tree::AuthUsers,
        Tree::AuthRoles,
    ];

    /// The tree's name on disk.
    pub const fn name(self) -> &'static str {
        match self {
            Tree::Key => "key",
            Tree::Meta => "meta",
            Tree::Lease => "lease",
            Tree::Members => "members",
            Tree::MembersRemoved => "members_removed",
            Tree::Alarm => "alarm",
            Tree::Auth => "auth",
            Tree::AuthUsers => "auth_users",
            Tree::AuthRoles => "auth_roles",
        }
    }

    /// Position in [`Tree::ALL`]; also the tree's tag in snapshot dumps.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The tree with the given [`Tree::index`], if any.
    pub fn from_index(i: usize) -> Option<Tree> {
        Tree::ALL.get(i).copied()
    }
}

/// Raft index of the last entry whose effects are in the backend; written in
/// the same atomic batch as those effects. `u64`, big-endian.
pub const META_CONSISTENT_INDEX: &[u8] = b"consistent_index";
/// Raft term of that entry. `u64`, big-endian.
pub const META_TERM: &[u8] = b"term";
/// Revision of the last compaction that was accepted (recorded before any
/// history is removed). `i64`, big-endian.
pub const META_SCHEDULED_COMPACT_REV: &[u8] = b"scheduled_compact_rev";
/// Revision of the last compaction whose removals are all done. `i64`,
/// big-endian. Less than the scheduled one only after a crash mid-compaction.
pub const META_FINISHED_COMPACT_REV: &[u8] = b"finished_compact_rev";
/// Version of the storage layout, so a future format change can refuse or
/// migrate an old directory instead of misreading it. `u64`, big-endian.
pub const META_STORAGE_VERSION: &[u8] = b"storage_version";

/// In [`Tree::Auth`]: whether auth is on, one byte (0 or 1); absent until
/// auth is first enabled. etcd's key name.
pub const AUTH_ENABLED: &[u8] = b"authEnabled";
/// In [`Tree::Auth`]: the auth revision, `u64`, big-endian; absent means
/// 1, where etcd starts it. etcd's key name.
pub const AUTH_REVISION: &[u8] = b"authRevision";

/// The layout this code writes and understands.
pub const STORAGE_VERSION: u64 = 1;

/// Encodes a meta value holding a `u64`.
pub fn encode_u64(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// Decodes a meta value holding a `u64`; `None` if it is not 8 bytes.
pub fn decode_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

/// Encodes a meta value holding an `i64` (a revision).
pub fn encode_i64(v: i64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// Decodes a meta value holding an `i64`; `None` if it is not 8 bytes.
pub fn decode_i64(b: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(b.try_into().ok()?))
}

/// Encodes a `lease`-tree value: granted TTL, then remaining TTL (0 when no
/// checkpoint recorded one), each an `i64`, big-endian.
pub fn encode_lease(ttl: i64, remaining_ttl: i64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&ttl.to_be_bytes());
    v.extend_from_slice(&remaining_ttl.to_be_bytes());
    v
}

/// Decodes a `lease`-tree value into `(ttl, remaining_ttl)`; `None` if it is
/// not 16 bytes.
pub fn decode_lease(b: &[u8]) -> Option<(i64, i64)> {
    if b.len() != 16 {
        return None;
    }
    Some((decode_i64(&b[..8])?, decode_i64(&b[8..])?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_names_are_unique_and_indexes_round_trip() {
        let mut names: Vec<_> = Tree::ALL.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Tree::ALL.len());
        for (i, t) in Tree::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
            assert_eq!(Tree::from_index(i), Some(*t));
        }
        assert_eq!(Tree::from_index(Tree::ALL.len()), None);
    }

    #[test]
    fn meta_values_round_trip() {
        assert_eq!(decode_u64(&encode_u64(u64::MAX)), Some(u64::MAX));
        assert_eq!(decode_i64(&encode_i64(-7)), Some(-7));
        assert_eq!(decode_u64(b"short"), None);
        assert_eq!(decode_lease(&encode_lease(60, 17)), Some((60, 17)));
        assert_eq!(decode_lease(&encode_i64(60)), None);
    }
}
