//! The in-memory index from user key to the revisions that wrote it.
//!
//! Owns: [`KeyIndex`] and [`KeyRange`] (how etcd's `key`/`range_end` pair
//! selects keys). Must never: read or write the backend; it is rebuilt from
//! the `key` tree on open by the store, which also keeps it in step with
//! every write.
//!
//! A key's history is a list of *generations*. A generation starts with the
//! put that created the key (or re-created it after a deletion), holds every
//! later put, and ends at the tombstone that deleted it; the last generation
//! may still be open. Which revision of a key a read at revision `r` sees:
//! the newest write at or below `r`, unless that write is a tombstone, in
//! which case the key does not exist at `r`.
//!
//! Invariants:
//! - within a key, revisions strictly increase across and within
//!   generations; every generation holds at least one put;
//! - only the last generation may be open (no tombstone);
//! - a generation's `version` is the version of its newest put, so the
//!   version of any put in it follows by counting back (compaction drops old
//!   puts but keeps `created` and `version`).

use super::revision::Revision;
use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

type Bounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

pub use cairn_client::prefix_end;

/// Which keys a request selects, decoded from etcd's `key` and `range_end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRange {
    /// `range_end` empty: exactly `key`.
    Single(Vec<u8>),
    /// `range_end` is `"\0"`: every key `>= key`.
    From(Vec<u8>),
    /// Otherwise `[key, range_end)`; empty when `range_end <= key`.
    Span(Vec<u8>, Vec<u8>),
}

impl KeyRange {
    pub fn new(key: &[u8], range_end: &[u8]) -> Self {
        match range_end {
            [] => KeyRange::Single(key.to_vec()),
            [0] => KeyRange::From(key.to_vec()),
            end => KeyRange::Span(key.to_vec(), end.to_vec()),
        }
    }

    pub fn contains(&self, k: &[u8]) -> bool {
        match self {
            KeyRange::Single(s) => k == s.as_slice(),
            KeyRange::From(s) => k >= s.as_slice(),
            KeyRange::Span(s, e) => k >= s.as_slice() && k < e.as_slice(),
        }
    }

    /// Map bounds, or `None` when the range is empty.
    fn bounds(&self) -> Option<Bounds<'_>> {
        match self {
            KeyRange::Single(s) => Some((Bound::Included(s), Bound::Included(s))),
            KeyRange::From(s) => Some((Bound::Included(s), Bound::Unbounded)),
            KeyRange::Span(s, e) if e > s => Some((Bound::Included(s), Bound::Excluded(e))),
            KeyRange::Span(..) => None,
        }
    }
}

/// What a read sees of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visible {
    /// The put the read sees (its `mod_revision` is `modified.main`).
    pub modified: Revision,
    /// `create_revision` of the key's current life.
    pub created: i64,
    /// `version` of that put (1 for the put that created the key).
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Generation {
    created: i64,
    version: i64,
    puts: Vec<Revision>,
    tombstone: Option<Revision>,
}

impl Generation {
    fn first_main(&self) -> i64 {
        self.puts[0].main
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeyIndex {
    keys: BTreeMap<Vec<u8>, Vec<Generation>>,
}

impl KeyIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a put at `rev`; returns the `(create_revision, version)` the
    /// written KeyValue carries.
    pub fn put(&mut self, key: &[u8], rev: Revision) -> (i64, i64) {
        let gens = self.keys.entry(key.to_vec()).or_default();
        match gens.last_mut() {
            Some(g) if g.tombstone.is_none() => {
                debug_assert!(g.puts.last().is_some_and(|r| *r < rev), "revisions go up");
                g.puts.push(rev);
                g.version += 1;
                (g.created, g.version)
            }
            _ => {
                gens.push(Generation {
                    created: rev.main,
                    version: 1,
                    puts: vec![rev],
                    tombstone: None,
                });
                (rev.main, 1)
            }
        }
    }

    /// Records a deletion at `rev`, ending the key's open generation.
    /// Returns `false` (and changes nothing) if the key is not live.
    pub fn tombstone(&mut self, key: &[u8], rev: Revision) -> bool {
        match self.keys.get_mut(key).and_then(|g| g.last_mut()) {
            Some(g) if g.tombstone.is_none() => {
                g.tombstone = Some(rev);
                true
            }
            _ => false,
        }
    }

    /// Replays a put read back from the `key` tree, trusting the
    /// `create_revision` and `version` stored with it (history before it may
    /// have been compacted away).
    pub fn restore_put(&mut self, key: &[u8], rev: Revision, created: i64, version: i64) {
        let gens = self.keys.entry(key.to_vec()).or_default();
        match gens.last_mut() {
            Some(g) if g.tombstone.is_none() => {
                g.puts.push(rev);
                g.version = version;
            }
            _ => gens.push(Generation {
                created,
                version,
                puts: vec![rev],
                tombstone: None,
            }),
        }
    }

    /// Replays a tombstone read back from the `key` tree. A tombstone with
    /// nothing before it is left over from an interrupted compaction (which
    /// removes a key's older puts before the tombstone itself) and is
    /// ignored.
    pub fn restore_tombstone(&mut self, key: &[u8], rev: Revision) {
        self.tombstone(key, rev);
    }

    /// The write of `key` a read at revision `at` sees, if the key exists
    /// then.
    pub fn get(&self, key: &[u8], at: i64) -> Option<Visible> {
        visible(self.keys.get(key)?, at)
    }

    /// Keys in `range` that exist at `at`, in key order, with what a read
    /// there sees of each.
    pub fn range<'a>(
        &'a self,
        range: &'a KeyRange,
        at: i64,
    ) -> impl Iterator<Item = (&'a [u8], Visible)> + 'a {
        let iter = range.bounds().map(|b| self.keys.range::<[u8], _>(b));
        iter.into_iter()
            .flatten()
            .filter_map(move |(k, gens)| Some((k.as_slice(), visible(gens, at)?)))
    }

    /// Number of keys with any history (live or not) still indexed.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The revisions at or below `at` that a compaction at `at` keeps: for
    /// each key, its newest write at or below `at`, unless that write is a
    /// tombstone.
    pub fn keep(&self, at: i64) -> HashSet<Revision> {
        let mut keep = HashSet::new();
        for gens in self.keys.values() {
            if let Some(r) = kept(gens, at) {
                keep.insert(r);
            }
        }
        keep
    }

    /// Forgets history below `at` (see [`KeyIndex::keep`] for what stays)
    /// and returns the revisions kept at or below `at`.
    pub fn compact(&mut self, at: i64) -> HashSet<Revision> {
        let mut keep = HashSet::new();
        self.keys.retain(|_, gens| {
            // Generations that ended at or below `at` are invisible to every
            // read at or above `at`.
            let dead = gens
                .iter()
                .take_while(|g| g.tombstone.is_some_and(|t| t.main <= at))
                .count();
            gens.drain(..dead);
            if let Some(g) = gens.first_mut() {
                if let Some(i) = g.puts.iter().rposition(|r| r.main <= at) {
                    keep.insert(g.puts[i]);
                    g.puts.drain(..i);
                }
            }
            !gens.is_empty()
        });
        keep
    }
}

fn visible(gens: &[Generation], at: i64) -> Option<Visible> {
    let g = gens.iter().rev().find(|g| g.first_main() <= at)?;
    if g.tombstone.is_some_and(|t| t.main <= at) {
        return None;
    }
    let i = g.puts.iter().rposition(|r| r.main <= at)?;
    Some(Visible {
        modified: g.puts[i],
        created: g.created,
        version: g.version - (g.puts.len() - 1 - i) as i64,
    })
}

fn kept(gens: &[Generation], at: i64) -> Option<Revision> {
    let g = gens
        .iter()
        .find(|g| g.tombstone.is_none_or(|t| t.main > at))?;
    g.puts.iter().rev().find(|r| r.main <= at).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    /// foo: put@2 put@3 del@4 put@6 put@7 del@8 put@10
    fn sample() -> KeyIndex {
        let mut ix = KeyIndex::new();
        assert_eq!(ix.put(b"foo", r(2)), (2, 1));
        assert_eq!(ix.put(b"foo", r(3)), (2, 2));
        assert!(ix.tombstone(b"foo", r(4)));
        assert_eq!(ix.put(b"foo", r(6)), (6, 1));
        assert_eq!(ix.put(b"foo", r(7)), (6, 2));
        assert!(ix.tombstone(b"foo", r(8)));
        assert_eq!(ix.put(b"foo", r(10)), (10, 1));
        ix
    }

    fn seen(ix: &KeyIndex, at: i64) -> Option<(i64, i64, i64)> {
        ix.get(b"foo", at)
            .map(|v| (v.modified.main, v.created, v.version))
    }

    #[test]
    fn a_generation_ends_at_its_tombstone() {
        let ix = sample();
        assert_eq!(seen(&ix, 1), None);
        assert_eq!(seen(&ix, 2), Some((2, 2, 1)));
        assert_eq!(seen(&ix, 3), Some((3, 2, 2)));
        assert_eq!(seen(&ix, 4), None);
        assert_eq!(seen(&ix, 5), None);
        assert_eq!(seen(&ix, 7), Some((7, 6, 2)));
        assert_eq!(seen(&ix, 9), None);
        assert_eq!(seen(&ix, 10), Some((10, 10, 1)));
        assert_eq!(seen(&ix, 100), Some((10, 10, 1)));
    }

    #[test]
    fn tombstone_of_a_missing_or_dead_key_is_refused() {
        let mut ix = sample();
        assert!(!ix.tombstone(b"nope", r(11)));
        assert!(ix.tombstone(b"foo", r(11)));
        assert!(!ix.tombstone(b"foo", r(12)));
    }

    #[test]
    fn compaction_keeps_the_newest_put_at_or_below_and_answers_the_same_above() {
        for at in 1..=11 {
            let full = sample();
            let mut ix = sample();
            let keep = ix.compact(at);
            assert_eq!(keep, full.keep(at), "keep() agrees with compact() at {at}");
            for read in at..=12 {
                assert_eq!(
                    ix.get(b"foo", read),
                    full.get(b"foo", read),
                    "at {at} read {read}"
                );
            }
            let expected: HashSet<_> = match at {
                2 | 3 => [r(at)].into(),
                6 | 7 => [r(at)].into(),
                9 => [].into(),
                10 | 11 => [r(10)].into(),
                _ => [].into(),
            };
            assert_eq!(keep, expected, "keep at {at}");
        }
    }

    #[test]
    fn compaction_drops_keys_whose_last_write_is_a_tombstone() {
        let mut ix = KeyIndex::new();
        ix.put(b"a", r(2));
        ix.tombstone(b"a", r(3));
        ix.put(b"b", r(4));
        assert!(ix.compact(2).contains(&r(2)));
        assert_eq!(ix.len(), 2);
        assert!(ix.compact(3).is_empty());
        assert_eq!(ix.len(), 1, "a is gone, b stays");
        assert_eq!(ix.compact(4), [r(4)].into());
        assert_eq!(ix.get(b"b", 4).unwrap().version, 1);
    }

    #[test]
    fn versions_survive_compaction() {
        let mut ix = KeyIndex::new();
        for m in 2..=6 {
            ix.put(b"k", r(m));
        }
        ix.compact(4);
        assert_eq!(ix.get(b"k", 4).unwrap().version, 3);
        assert_eq!(ix.get(b"k", 6).unwrap().version, 5);
        assert_eq!(ix.put(b"k", r(7)), (2, 6));
    }

    #[test]
    fn restore_rebuilds_what_puts_built() {
        let live = sample();
        let mut ix = KeyIndex::new();
        // The same history as read back from the key tree.
        for (m, tomb, created, version) in [
            (2, false, 2, 1),
            (3, false, 2, 2),
            (4, true, 0, 0),
            (6, false, 6, 1),
            (7, false, 6, 2),
            (8, true, 0, 0),
            (10, false, 10, 1),
        ] {
            if tomb {
                ix.restore_tombstone(b"foo", r(m));
            } else {
                ix.restore_put(b"foo", r(m), created, version);
            }
        }
        assert_eq!(ix, live);
        // A stray tombstone (interrupted compaction) is ignored.
        let mut ix = KeyIndex::new();
        ix.restore_tombstone(b"x", r(3));
        assert!(ix.get(b"x", 3).is_none() && ix.is_empty());
    }

    #[test]
    fn key_ranges_follow_etcds_range_end_rules() {
        let mut ix = KeyIndex::new();
        for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
            ix.put(k.as_bytes(), r(i as i64 + 2));
        }
        let keys = |kr: KeyRange| -> Vec<String> {
            ix.range(&kr, 10)
                .map(|(k, _)| String::from_utf8(k.to_vec()).unwrap())
                .collect()
        };
        assert_eq!(keys(KeyRange::new(b"b", b"")), ["b"]);
        assert_eq!(keys(KeyRange::new(b"b", b"\0")), ["b", "c", "d"]);
        assert_eq!(keys(KeyRange::new(b"b", b"d")), ["b", "c"]);
        assert!(keys(KeyRange::new(b"c", b"b")).is_empty());
        assert!(keys(KeyRange::new(b"c", b"c")).is_empty());
        assert_eq!(keys(KeyRange::new(b"\0", b"\0")), ["a", "b", "c", "d"]);
        assert_eq!(ix.range(&KeyRange::new(b"a", b"\0"), 3).count(), 2);
    }
}
