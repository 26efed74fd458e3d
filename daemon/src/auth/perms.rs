//! Key-range permissions as etcd matches them: which keys one permission
//! covers, and whether a request's key or range is covered by the union
//! of a user's permissions.
//!
//! A permission or request names keys as etcd's Range does: `key` alone is
//! that one key; `key` with `range_end` is `[key, range_end)`; a
//! `range_end` of a single zero byte means every key from `key` on. A
//! request's range counts as permitted when the permissions of the right
//! kind cover all of it together, not necessarily one alone (etcd merges
//! them into one interval tree per user).

/// The end of a half-open key interval; `None` is beyond every key.
type End = Option<Vec<u8>>;

/// The keys `[key, end)` a permission or a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpan {
    start: Vec<u8>,
    end: End,
}

impl KeySpan {
    /// The span etcd's Range would read for `key` and `range_end`.
    pub fn new(key: &[u8], range_end: &[u8]) -> KeySpan {
        let end = match range_end {
            [] => Some(successor(key)),
            [0] => None,
            end => Some(end.to_vec()),
        };
        KeySpan {
            start: key.to_vec(),
            end,
        }
    }

    fn is_empty(&self) -> bool {
        self.end.as_ref().is_some_and(|end| *end <= self.start)
    }
}

/// The smallest key after `key`: `key` followed by a zero byte.
fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// Whether the union of `granted` covers every key of `wanted`. A request
/// whose range is empty (an end at or before its start) names no key; it is
/// judged by its first key alone, so that it is refused where a read of
/// that key would be.
pub fn covered(granted: &[KeySpan], wanted: &KeySpan) -> bool {
    let wanted = if wanted.is_empty() {
        KeySpan::new(&wanted.start, &[])
    } else {
        wanted.clone()
    };
    let mut spans: Vec<&KeySpan> = granted.iter().filter(|s| !s.is_empty()).collect();
    spans.sort_by(|a, b| a.start.cmp(&b.start));
    // Sweep from the wanted start: `reached` is how far the spans seen so
    // far cover without a gap.
    let mut reached: Vec<u8> = wanted.start.clone();
    for span in spans {
        if span.start > reached {
            break;
        }
        match &span.end {
            None => return true,
            Some(end) if *end > reached => reached.clone_from(end),
            Some(_) => {}
        }
        if wanted.end.as_ref().is_some_and(|w| reached >= *w) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(key: &str, end: &str) -> KeySpan {
        KeySpan::new(key.as_bytes(), end.as_bytes())
    }

    fn from_key(key: &str) -> KeySpan {
        KeySpan::new(key.as_bytes(), &[0])
    }

    #[test]
    fn a_single_key_is_covered_by_itself_or_a_range_holding_it() {
        assert!(covered(&[span("foo", "")], &span("foo", "")));
        assert!(!covered(&[span("foo", "")], &span("foo0", "")));
        assert!(!covered(&[span("foo", "")], &span("fo", "")));
        assert!(covered(&[span("a", "c")], &span("b", "")));
        assert!(!covered(&[span("a", "c")], &span("c", "")));
        assert!(covered(&[from_key("m")], &span("zzz", "")));
        assert!(!covered(&[from_key("m")], &span("l", "")));
    }

    #[test]
    fn a_range_needs_the_union_of_permissions_to_cover_it() {
        let granted = [span("a", "c"), span("c", "e")];
        assert!(covered(&granted, &span("a", "e")));
        assert!(covered(&granted, &span("b", "d")));
        assert!(!covered(&granted, &span("a", "f")));
        // A gap in the middle.
        assert!(!covered(&[span("a", "b"), span("c", "e")], &span("a", "d")));
        // Overlapping and out of order.
        assert!(covered(&[span("c", "z"), span("a", "d")], &span("a", "y")));
        // A single key glued to a range: "b" then [b\0, d).
        let glued = [span("b", ""), KeySpan::new(b"b\0", b"d")];
        assert!(covered(&glued, &span("b", "d")));
    }

    #[test]
    fn open_ended_ranges_need_open_ended_permissions() {
        assert!(covered(&[from_key("a")], &from_key("b")));
        assert!(!covered(&[span("a", "z")], &from_key("b")));
        assert!(covered(&[span("a", "m"), from_key("m")], &from_key("a")));
        // Every key: "" with range end "\0".
        assert!(covered(&[from_key("")], &from_key("")));
        assert!(!covered(&[from_key("a")], &from_key("")));
    }

    #[test]
    fn a_prefix_permission_covers_the_prefix_and_nothing_beside_it() {
        let prefix = [span("/app/", "/app0")];
        assert!(covered(&prefix, &span("/app/", "/app0")));
        assert!(covered(&prefix, &span("/app/x", "")));
        assert!(!covered(&prefix, &span("/app", "")));
        assert!(!covered(&prefix, &span("/", "/0")));
    }

    #[test]
    fn no_permission_covers_nothing() {
        assert!(!covered(&[], &span("a", "")));
        assert!(!covered(&[span("b", "a")], &span("a", "")));
    }
}
