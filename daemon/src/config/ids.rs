//! Member and cluster IDs, derived exactly as etcd derives them, so that a
//! cairn member and an etcd member given the same configuration agree on
//! every ID (and a mixed or migrated cluster does not see strangers).
//!
//! The facts, as etcd 3.5 computes them:
//! - A member ID is the first 8 bytes, read big-endian, of the SHA-1 of the
//!   member's peer URLs sorted and concatenated with no separator, followed
//!   by the cluster token and, for a member added at run time (not one named
//!   in the initial cluster), the decimal Unix time in seconds of the add.
//! - The cluster ID is the first 8 bytes, big-endian, of the SHA-1 of all
//!   member IDs sorted ascending, each written as 8 big-endian bytes.
//!
//! The member's name plays no part, which is why renaming a member keeps
//! its ID.

use super::urls::EtcdUrl;

fn first_8_bytes_be(digest: [u8; 20]) -> u64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(head)
}

/// The ID of a member with these peer URLs in the cluster with this token.
/// `added_at_unix_secs` is `None` for members of the initial cluster and the
/// time of the add for members joined later.
pub fn member_id(
    peer_urls: &[EtcdUrl],
    cluster_token: &str,
    added_at_unix_secs: Option<i64>,
) -> u64 {
    let mut texts: Vec<&str> = peer_urls.iter().map(EtcdUrl::as_str).collect();
    texts.sort_unstable();
    let mut hasher = sha1_smol::Sha1::new();
    for text in texts {
        hasher.update(text.as_bytes());
    }
    hasher.update(cluster_token.as_bytes());
    if let Some(secs) = added_at_unix_secs {
        hasher.update(secs.to_string().as_bytes());
    }
    first_8_bytes_be(hasher.digest().bytes())
}

/// The ID of a cluster with these members (in any order).
pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let mut hasher = sha1_smol::Sha1::new();
    for id in ids {
        hasher.update(&id.to_be_bytes());
    }
    first_8_bytes_be(hasher.digest().bytes())
}

#[cfg(test)]
mod tests {
    //! The expected IDs were captured from etcd 3.5.1 itself: a member was
    //! started with the stated flags and its IDs read back with
    //! `etcdctl member list -w json` and from its startup log.

    use super::*;
    use crate::config::urls::parse_url_list;

    fn urls(list: &str) -> Vec<EtcdUrl> {
        parse_url_list(list).unwrap()
    }

    /// `etcd` with every flag at its default.
    #[test]
    fn default_member_matches_etcd() {
        let member = member_id(&urls("http://localhost:2380"), "etcd-cluster", None);
        assert_eq!(member, 0x8e9e05c52164694d);
        assert_eq!(member, 10276657743932975437);
        let cluster = cluster_id(&[member]);
        assert_eq!(cluster, 0xcdf818194e3a8c32);
        assert_eq!(cluster, 14841639068965178418);
    }

    /// `etcd --name infra1 --initial-advertise-peer-urls http://127.0.0.1:12380
    /// --initial-cluster-token cairn-test-token` (initial cluster derived from
    /// the name).
    #[test]
    fn single_member_with_token_matches_etcd() {
        let member = member_id(&urls("http://127.0.0.1:12380"), "cairn-test-token", None);
        assert_eq!(member, 2336845137281867145);
        assert_eq!(format!("{member:x}"), "206e24456ec8dd89");
        assert_eq!(cluster_id(&[member]), 1044396170071264749);
    }

    /// The same member bootstrapping a three-member cluster in which infra2
    /// has two peer URLs, listed in unsorted order.
    #[test]
    fn three_member_cluster_matches_etcd() {
        let token = "cairn-test-token";
        let infra1 = member_id(&urls("http://127.0.0.1:12380"), token, None);
        let infra2 = member_id(
            &urls("http://127.0.0.1:22380,http://10.0.0.2:22380"),
            token,
            None,
        );
        let infra3 = member_id(&urls("http://127.0.0.1:32380"), token, None);
        assert_eq!(infra1, 0x206e24456ec8dd89);
        assert_eq!(infra2, 0xb4150b41ca6c2250);
        assert_eq!(infra3, 0xa3e8ae340ff149e1);
        assert_eq!(cluster_id(&[infra3, infra1, infra2]), 0x106c62eba0066aba);
    }

    #[test]
    fn member_added_later_hashes_the_time_of_the_add() {
        let peers = urls("http://127.0.0.1:12380");
        let initial = member_id(&peers, "t", None);
        assert_ne!(member_id(&peers, "t", Some(1_700_000_000)), initial);
        assert_eq!(
            member_id(&peers, "t", Some(1_700_000_000)),
            member_id(&peers, "t", Some(1_700_000_000))
        );
    }
}
