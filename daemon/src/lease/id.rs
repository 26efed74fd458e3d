//! Lease ids for grants that ask for id 0, made the way etcd makes them.
//!
//! Owns: the id layout. Must never: read a clock (the caller passes the
//! start time once) or be used at apply time — the proposing member picks
//! the id and puts it in the LeaseGrant entry, so every member applies the
//! same one.
//!
//! Layout of an id, high bits first: the low 16 bits of the member id (with
//! the top bit cleared so the id is positive), then 48 bits that start as
//! the start time in Unix milliseconds (low 40 bits) shifted left by 8 and
//! count up by one per id. A restart more than a millisecond later starts
//! past every id handed out before, as long as fewer than 256 ids per
//! millisecond were made; the count may carry into the time bits, which
//! only widens the window.

use std::sync::atomic::{AtomicU64, Ordering};

const TIME_BITS: u32 = 40;
const COUNT_BITS: u32 = 8;
const SUFFIX_BITS: u32 = TIME_BITS + COUNT_BITS;
const SUFFIX_MASK: u64 = (1 << SUFFIX_BITS) - 1;

/// Hands out lease ids unique to this member's run; shareable across
/// threads.
#[derive(Debug)]
pub struct LeaseIdGen {
    prefix: u64,
    suffix: AtomicU64,
}

impl LeaseIdGen {
    /// A generator for member `member_id` started at `unix_millis`
    /// (milliseconds since the Unix epoch, read once by the caller).
    pub fn new(member_id: u64, unix_millis: u64) -> Self {
        LeaseIdGen {
            prefix: (member_id & 0xffff) << SUFFIX_BITS,
            suffix: AtomicU64::new((unix_millis & ((1 << TIME_BITS) - 1)) << COUNT_BITS),
        }
    }

    /// The next id: positive, never 0 (0 means "no lease").
    pub fn next(&self) -> i64 {
        loop {
            let suffix = self.suffix.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            let id = (self.prefix | (suffix & SUFFIX_MASK)) & (i64::MAX as u64);
            if id != 0 {
                return id as i64;
            }
        }
    }
}
