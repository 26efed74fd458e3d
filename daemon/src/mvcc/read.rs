//! The read view: answering Range requests and evaluating Compares against
//! one consistent state of the store.
//!
//! Owns: etcd's Range semantics (revision checks, count, limit and `more`,
//! the mod/create revision filters, sorting, `keys_only`, `count_only`) and
//! Compare semantics. Must never: write anything. The write path builds a
//! view over its own in-progress state, so later ops of a txn see earlier
//! ones through exactly this code.

use super::MvccError;
use super::backend::Backend;
use super::key_index::{KeyIndex, KeyRange, Visible};
use super::revision::REV_BYTES;
use super::schema::Tree;
use cairn_proto::etcdserverpb::{
    Compare, RangeRequest, RangeResponse, ResponseHeader, TxnRequest,
    compare::{CompareResult, CompareTarget, TargetUnion},
    range_request::{SortOrder, SortTarget},
    request_op::Request,
};
use cairn_proto::mvccpb::KeyValue;
use prost::Message;
use std::cmp::Ordering;
use std::collections::HashMap;

/// Encoded KeyValues written by a txn still in progress, by revision.
pub(crate) type Pending = HashMap<[u8; REV_BYTES], Vec<u8>>;

/// One consistent state to read from.
#[derive(Clone, Copy)]
pub(crate) struct ReadView<'a> {
    pub index: &'a KeyIndex,
    pub backend: &'a dyn Backend,
    /// Values a txn in progress wrote and has not handed to the backend.
    pub pending: Option<&'a Pending>,
    /// The revision reads default to and headers report.
    pub current: i64,
    /// Reads below this revision fail with `Compacted`.
    pub compacted: i64,
}

impl std::fmt::Debug for ReadView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadView")
            .field("current", &self.current)
            .field("compacted", &self.compacted)
            .finish_non_exhaustive()
    }
}

/// The keys a range selects at one revision, before filters and sorting.
pub(crate) struct Selected {
    pub kvs: Vec<KeyValue>,
    /// Every key in the range at the revision, however many were fetched.
    pub count: i64,
}

impl ReadView<'_> {
    pub fn header(&self) -> Option<ResponseHeader> {
        Some(ResponseHeader {
            revision: self.current,
            ..Default::default()
        })
    }

    /// The stored KeyValue of a put the index points at.
    pub fn kv(&self, v: &Visible) -> Result<KeyValue, MvccError> {
        let rev = v.modified.to_bytes();
        let bytes = match self.pending.and_then(|p| p.get(&rev)) {
            Some(b) => b.clone(),
            None => self
                .backend
                .get(Tree::Key, &rev)?
                .ok_or(MvccError::Corrupt {
                    what: "key index points at a revision missing from the key tree",
                })?,
        };
        KeyValue::decode(bytes.as_slice()).map_err(|_| MvccError::Corrupt {
            what: "undecodable KeyValue in the key tree",
        })
    }

    /// The read revision a request's `revision` field asks for, or why it
    /// cannot be served. Zero or negative means the current revision.
    pub fn read_rev(&self, rev: i64) -> Result<i64, MvccError> {
        if rev > self.current {
            return Err(MvccError::FutureRev);
        }
        let rev = if rev <= 0 { self.current } else { rev };
        if rev < self.compacted {
            return Err(MvccError::Compacted);
        }
        Ok(rev)
    }

    /// Keys of `range` live at `rev`; fetches values for the first `fetch`
    /// of them (all when `None`).
    pub fn select(
        &self,
        range: &KeyRange,
        rev: i64,
        fetch: Option<usize>,
    ) -> Result<Selected, MvccError> {
        let mut count = 0i64;
        let mut kvs = Vec::new();
        for (_, v) in self.index.range(range, rev) {
            if fetch.is_none_or(|n| kvs.len() < n) {
                kvs.push(self.kv(&v)?);
            }
            count += 1;
        }
        Ok(Selected { kvs, count })
    }

    /// The value of one key now, if it exists.
    pub fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, MvccError> {
        self.index
            .get(key, self.current)
            .map(|v| self.kv(&v))
            .transpose()
    }

    /// Answers a Range request the way etcd does.
    pub fn range(&self, r: &RangeRequest) -> Result<RangeResponse, MvccError> {
        let rev = self.read_rev(r.revision)?;
        let range = KeyRange::new(&r.key, &r.range_end);
        let order = SortOrder::try_from(r.sort_order).map_err(|_| MvccError::InvalidSortOption)?;
        let target =
            SortTarget::try_from(r.sort_target).map_err(|_| MvccError::InvalidSortOption)?;
        let filtered = r.min_mod_revision != 0
            || r.max_mod_revision != 0
            || r.min_create_revision != 0
            || r.max_create_revision != 0;
        let limit = usize::try_from(r.limit).ok().filter(|l| *l > 0);

        if r.count_only {
            // Counting needs no values. `more` stays false: nothing is
            // returned, so nothing was cut off.
            let Selected { count, .. } = self.select(&range, rev, Some(0))?;
            return Ok(RangeResponse {
                header: self.header(),
                kvs: Vec::new(),
                more: false,
                count,
            });
        }

        // Sorting and filtering need every match; otherwise one more than
        // the limit is enough to know whether there are more. Like etcd,
        // this looks at the order as given: a non-key target with no order
        // is sorted below, but only among the `limit + 1` keys fetched here.
        // That is etcd's behaviour (not its documentation), and clients see
        // it, so cairn keeps it.
        let fetch = if order != SortOrder::None || filtered {
            None
        } else {
            limit.map(|l| l + 1)
        };
        let Selected { mut kvs, count } = self.select(&range, rev, fetch)?;

        // `count` is what the range holds at `rev`; the filters below narrow
        // what is returned, not what is counted.
        kvs.retain(|kv| {
            (r.max_mod_revision == 0 || kv.mod_revision <= r.max_mod_revision)
                && (r.min_mod_revision == 0 || kv.mod_revision >= r.min_mod_revision)
                && (r.max_create_revision == 0 || kv.create_revision <= r.max_create_revision)
                && (r.min_create_revision == 0 || kv.create_revision >= r.min_create_revision)
        });

        // Results come out of the index in ascending key order, so a sort
        // by key with no explicit order is no sort at all; any other target
        // with no order means ascending. Ties keep ascending key order (a
        // stable sort), which etcd's unstable sort does not promise.
        let order = match (order, target) {
            (SortOrder::None, SortTarget::Key) => SortOrder::None,
            (SortOrder::None, _) => SortOrder::Ascend,
            (o, _) => o,
        };
        if order != SortOrder::None {
            let by = |a: &KeyValue, b: &KeyValue| -> Ordering {
                match target {
                    SortTarget::Key => a.key.cmp(&b.key),
                    SortTarget::Version => a.version.cmp(&b.version),
                    SortTarget::Create => a.create_revision.cmp(&b.create_revision),
                    SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
                    SortTarget::Value => a.value.cmp(&b.value),
                }
            };
            match order {
                SortOrder::Descend => kvs.sort_by(|a, b| by(b, a)),
                _ => kvs.sort_by(by),
            }
        }

        let mut more = false;
        if let Some(l) = limit {
            if kvs.len() > l {
                kvs.truncate(l);
                more = true;
            }
        }
        if r.keys_only {
            for kv in &mut kvs {
                kv.value.clear();
            }
        }
        Ok(RangeResponse {
            header: self.header(),
            kvs,
            more,
            count,
        })
    }

    /// Whether a Compare holds: every key of its range must satisfy it; a
    /// range with no keys compares as one zero-valued key, except on VALUE,
    /// which then fails (an absent value cannot be told from an empty one).
    pub fn compare(&self, c: &Compare) -> Result<bool, MvccError> {
        let range = KeyRange::new(&c.key, &c.range_end);
        let Selected { kvs, .. } = self.select(&range, self.current, None)?;
        let target = CompareTarget::try_from(c.target).ok();
        if kvs.is_empty() {
            if target == Some(CompareTarget::Value) {
                return Ok(false);
            }
            return Ok(compare_kv(c, target, &KeyValue::default()));
        }
        Ok(kvs.iter().all(|kv| compare_kv(c, target, kv)))
    }

    /// Which branch every txn in the tree takes, in the order the apply walk
    /// meets them (a txn, then its nested txns depth-first). All compares,
    /// nested ones included, see the state before the txn started.
    pub fn branches(&self, t: &TxnRequest) -> Result<Vec<bool>, MvccError> {
        let mut path = Vec::new();
        self.branches_into(t, &mut path)?;
        Ok(path)
    }

    fn branches_into(&self, t: &TxnRequest, path: &mut Vec<bool>) -> Result<bool, MvccError> {
        let mut ok = true;
        for c in &t.compare {
            if !self.compare(c)? {
                ok = false;
                break;
            }
        }
        path.push(ok);
        let ops = if ok { &t.success } else { &t.failure };
        for op in ops {
            if let Some(Request::RequestTxn(inner)) = &op.request {
                self.branches_into(inner, path)?;
            }
        }
        Ok(ok)
    }
}

fn compare_kv(c: &Compare, target: Option<CompareTarget>, kv: &KeyValue) -> bool {
    // A target_union of the wrong kind counts as zero (or empty), as in
    // etcd.
    let int = |pick: fn(&TargetUnion) -> Option<i64>| c.target_union.as_ref().and_then(pick);
    let ord = match target {
        Some(CompareTarget::Value) => {
            let want = match &c.target_union {
                Some(TargetUnion::Value(v)) => v.as_slice(),
                _ => &[],
            };
            kv.value.as_slice().cmp(want)
        }
        Some(CompareTarget::Version) => kv.version.cmp(
            &int(|t| match t {
                TargetUnion::Version(v) => Some(*v),
                _ => None,
            })
            .unwrap_or(0),
        ),
        Some(CompareTarget::Create) => kv.create_revision.cmp(
            &int(|t| match t {
                TargetUnion::CreateRevision(v) => Some(*v),
                _ => None,
            })
            .unwrap_or(0),
        ),
        Some(CompareTarget::Mod) => kv.mod_revision.cmp(
            &int(|t| match t {
                TargetUnion::ModRevision(v) => Some(*v),
                _ => None,
            })
            .unwrap_or(0),
        ),
        Some(CompareTarget::Lease) => kv.lease.cmp(
            &int(|t| match t {
                TargetUnion::Lease(v) => Some(*v),
                _ => None,
            })
            .unwrap_or(0),
        ),
        None => Ordering::Equal,
    };
    match CompareResult::try_from(c.result) {
        Ok(CompareResult::Equal) => ord == Ordering::Equal,
        Ok(CompareResult::NotEqual) => ord != Ordering::Equal,
        Ok(CompareResult::Greater) => ord == Ordering::Greater,
        Ok(CompareResult::Less) => ord == Ordering::Less,
        // etcd lets an unknown result through.
        Err(_) => true,
    }
}
