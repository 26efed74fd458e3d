//! Reads an etcd snapshot (a bbolt database file) far enough to report what
//! `snapshot status` reports: a CRC-32C over every bucket name, key and
//! value in key order, the store revision (the last key of the `key`
//! bucket), the number of keys and the database size.
//!
//! It only reads: it follows the newest valid meta page to the root bucket
//! and walks each bucket's B+tree (branch pages, leaf pages, inline
//! buckets). Any offset that points outside the file is an error, never a
//! panic.

use std::fmt;

/// What `snapshot status` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub hash: u32,
    pub revision: i64,
    pub total_key: u64,
    pub total_size: u64,
}

/// A file that is not a bbolt database this reader understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid snapshot file: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

const MAGIC: u32 = 0xED0C_DAED;
const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const BUCKET_FLAG: u32 = 0x01;

fn bad(what: &str) -> Malformed {
    Malformed(what.to_owned())
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, Malformed> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| bad("truncated"))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, Malformed> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().unwrap_or([0; 4])))
        .ok_or_else(|| bad("truncated"))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, Malformed> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
        .ok_or_else(|| bad("truncated"))
}

/// The newest valid meta page: (page size, root bucket page, high-water pgid).
fn meta(file: &[u8]) -> Result<(usize, u64, u64), Malformed> {
    let page_size = u32_at(file, PAGE_HEADER + 8)? as usize;
    if !(512..=1 << 20).contains(&page_size) {
        return Err(bad("page size"));
    }
    let mut best: Option<(u64, u64, u64)> = None;
    for page in 0..2 {
        let m = page * page_size + PAGE_HEADER;
        if u32_at(file, m)? != MAGIC {
            continue;
        }
        // FNV-1a 64 over the meta fields before the checksum.
        let fields = file.get(m..m + 56).ok_or_else(|| bad("truncated meta"))?;
        let sum = fields.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        if sum != u64_at(file, m + 56)? {
            continue;
        }
        let (root, pgid, txid) = (
            u64_at(file, m + 16)?,
            u64_at(file, m + 40)?,
            u64_at(file, m + 48)?,
        );
        if best.is_none_or(|(_, _, t)| txid > t) {
            best = Some((root, pgid, txid));
        }
    }
    let (root, pgid, _) = best.ok_or_else(|| bad("no valid meta page"))?;
    Ok((page_size, root, pgid))
}

/// Called with each key, value and element flags of a tree.
type Visit<'a> = dyn FnMut(&[u8], &[u8], u32) -> Result<(), Malformed> + 'a;

/// Visits the key-value pairs of the tree whose root page is `page` (a
/// slice starting at a page header), in key order.
fn walk(
    file: &[u8],
    page_size: usize,
    page: &[u8],
    depth: usize,
    visit: &mut Visit<'_>,
) -> Result<(), Malformed> {
    if depth > 64 {
        return Err(bad("tree too deep"));
    }
    let flags = u16_at(page, 8)?;
    let count = usize::from(u16_at(page, 10)?);
    for i in 0..count {
        let e = PAGE_HEADER + i * ELEMENT;
        if flags & BRANCH != 0 {
            let child = u64_at(page, e + 8)? as usize;
            let at = child.checked_mul(page_size).ok_or_else(|| bad("page id"))?;
            let child_page = file.get(at..).ok_or_else(|| bad("page out of file"))?;
            walk(file, page_size, child_page, depth + 1, visit)?;
        } else if flags & LEAF != 0 {
            let (eflags, pos) = (u32_at(page, e)?, u32_at(page, e + 4)? as usize);
            let (ksize, vsize) = (
                u32_at(page, e + 8)? as usize,
                u32_at(page, e + 12)? as usize,
            );
            let k = e + pos;
            let key = page
                .get(k..k + ksize)
                .ok_or_else(|| bad("key out of page"))?;
            let value = page
                .get(k + ksize..k + ksize + vsize)
                .ok_or_else(|| bad("value out of page"))?;
            visit(key, value, eflags)?;
        } else {
            return Err(bad("unexpected page type"));
        }
    }
    Ok(())
}

/// The status of the snapshot in `file`.
pub fn status(file: &[u8]) -> Result<Status, Malformed> {
    let (page_size, root, pgid) = meta(file)?;
    let root_page = file
        .get(root as usize * page_size..)
        .ok_or_else(|| bad("root out of file"))?;
    let mut buckets: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    walk(file, page_size, root_page, 0, &mut |k, v, flags| {
        if flags & BUCKET_FLAG != 0 {
            buckets.push((k.to_vec(), v.to_vec()));
        }
        Ok(())
    })?;
    let mut crc = 0u32;
    let mut revision = 0;
    let mut total_key = 0;
    for (name, header) in &buckets {
        crc = crc32c::crc32c_append(crc, name);
        let bucket_root = u64_at(header, 0)?;
        let page = if bucket_root == 0 {
            header.get(16..).ok_or_else(|| bad("inline bucket"))?
        } else {
            file.get(bucket_root as usize * page_size..)
                .ok_or_else(|| bad("bucket out of file"))?
        };
        let is_key = name.as_slice() == b"key";
        walk(file, page_size, page, 0, &mut |k, v, _| {
            crc = crc32c::crc32c_append(crc, k);
            crc = crc32c::crc32c_append(crc, v);
            if is_key && k.len() >= 8 {
                revision = i64::from_be_bytes(k[..8].try_into().unwrap_or([0; 8]));
            }
            total_key += 1;
            Ok(())
        })?;
    }
    Ok(Status {
        hash: crc,
        revision,
        total_key,
        total_size: pgid * page_size as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(status(&[]).is_err());
        assert!(status(&[0u8; 8192]).is_err());
        let mut noise = vec![0u8; 16384];
        for (i, b) in noise.iter_mut().enumerate() {
            *b = (i * 7919 % 251) as u8;
        }
        assert!(status(&noise).is_err());
    }
}
