//! Revisions and their byte encoding, the only place that knows it.
//!
//! Owns: [`Revision`] and the layout of keys in the `key` tree. Must never:
//! be bypassed by code that slices revision bytes itself.
//!
//! A revision is `(main, sub)`: `main` is the store revision a request or
//! txn created (one per request, however many keys it wrote) and `sub`
//! numbers the writes inside it from 0. The encoding is `main` then `sub`,
//! each 8 bytes big-endian, so that comparing encodings byte by byte gives
//! the same answer as comparing revisions; scans of the `key` tree therefore
//! walk history in the order it was written. A deletion is stored under its
//! revision followed by one marker byte ([`TOMBSTONE_MARK`]). Because no two
//! writes share a `(main, sub)`, the marker never changes the relative order
//! of two stored entries.
//!
//! Invariant: revisions are never negative (main starts at 1 for the empty
//! store and only grows), which is what makes the signed-to-unsigned cast in
//! the encoding order-preserving.

use std::fmt;

/// Length of an encoded revision without the tombstone marker.
pub const REV_BYTES: usize = 16;
/// Appended to the revision bytes of a deletion.
pub const TOMBSTONE_MARK: u8 = b't';

/// A point in the store's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Revision {
    /// The store revision of the request or txn that wrote it.
    pub main: i64,
    /// The write's position inside that request or txn.
    pub sub: i64,
}

impl Revision {
    pub const fn new(main: i64, sub: i64) -> Self {
        Revision { main, sub }
    }

    /// Encodes as the `key`-tree key of a put.
    pub fn to_bytes(self) -> [u8; REV_BYTES] {
        debug_assert!(self.main >= 0 && self.sub >= 0, "negative revision {self}");
        let mut b = [0u8; REV_BYTES];
        b[..8].copy_from_slice(&(self.main as u64).to_be_bytes());
        b[8..].copy_from_slice(&(self.sub as u64).to_be_bytes());
        b
    }

    /// Encodes as the `key`-tree key of a put (`tombstone == false`) or of
    /// a deletion.
    pub fn to_key(self, tombstone: bool) -> Vec<u8> {
        let mut k = self.to_bytes().to_vec();
        if tombstone {
            k.push(TOMBSTONE_MARK);
        }
        k
    }

    /// The smallest encoding of any write at `main`: scanning the `key` tree
    /// up to `Revision::first_of(r + 1)` visits exactly the writes at or
    /// below `r`.
    pub fn first_of(main: i64) -> [u8; REV_BYTES] {
        Revision::new(main, 0).to_bytes()
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.main, self.sub)
    }
}

/// A decoded `key`-tree key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevKey {
    pub rev: Revision,
    pub tombstone: bool,
}

/// Decodes a `key`-tree key; `None` if it is not one this module wrote.
pub fn decode_key(b: &[u8]) -> Option<RevKey> {
    let tombstone = match b.len() {
        REV_BYTES => false,
        n if n == REV_BYTES + 1 && b[REV_BYTES] == TOMBSTONE_MARK => true,
        _ => return None,
    };
    let main = u64::from_be_bytes(b[..8].try_into().ok()?);
    let sub = u64::from_be_bytes(b[8..REV_BYTES].try_into().ok()?);
    let (main, sub) = (i64::try_from(main).ok()?, i64::try_from(sub).ok()?);
    Some(RevKey {
        rev: Revision::new(main, sub),
        tombstone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips_with_and_without_tombstone() {
        for rev in [
            Revision::new(0, 0),
            Revision::new(5, 3),
            Revision::new(i64::MAX, 9),
        ] {
            for tomb in [false, true] {
                let k = rev.to_key(tomb);
                assert_eq!(
                    decode_key(&k),
                    Some(RevKey {
                        rev,
                        tombstone: tomb
                    })
                );
            }
        }
        assert_eq!(decode_key(b"short"), None);
        assert_eq!(decode_key(&[0u8; 17]), None, "17th byte must be the mark");
    }

    #[test]
    fn sub_revisions_sort_after_their_main_and_before_the_next() {
        let a = Revision::new(1, 200).to_key(true);
        let b = Revision::new(2, 0).to_key(false);
        let c = Revision::new(2, 1).to_key(false);
        assert!(a < b && b < c);
        assert!(Revision::first_of(2).as_slice() <= b.as_slice());
        assert!(Revision::first_of(3).as_slice() > c.as_slice());
    }

    proptest! {
        #[test]
        fn byte_order_is_revision_order(
            a in (0i64..i64::MAX, 0i64..i64::MAX), b in (0i64..i64::MAX, 0i64..i64::MAX),
            ta: bool, tb: bool,
        ) {
            let (ra, rb) = (Revision::new(a.0, a.1), Revision::new(b.0, b.1));
            prop_assume!(ra != rb);
            prop_assert_eq!(ra.cmp(&rb), ra.to_key(ta).cmp(&rb.to_key(tb)));
        }
    }
}
