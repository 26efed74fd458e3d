//! The WAL's record encoding: how one record becomes bytes and back.
//!
//! This file owns the byte layout (documented in the `wal` module docs) and
//! nothing else: it knows no files, offsets within segments or replay rules.
//! Decoding is a pure function of a byte slice so the fuzzer and property
//! tests can hammer it directly.
//!
//! Invariants:
//! - `decode` never panics and never allocates more than the input holds,
//!   whatever the bytes.
//! - A record `decode` returns had both checksums match, and re-encoding it
//!   yields exactly the bytes it was decoded from (the encoding is
//!   canonical).

use bytes::{BufMut, Bytes};

use crate::raft::{ConfState, Entry, EntryType, HardState, NodeId};

/// Bytes before the payload: length, payload checksum, header checksum.
pub const HEADER_LEN: usize = 12;

/// Largest payload the writer accepts. Anything bigger in a verified header
/// can only be corruption (or a bug), never a record we wrote.
pub const MAX_PAYLOAD_LEN: usize = 256 << 20;

const KIND_METADATA: u8 = 1;
const KIND_ENTRY: u8 = 2;
const KIND_HARD_STATE: u8 = 3;
const KIND_SNAPSHOT: u8 = 4;

/// Who wrote this WAL: every segment starts with it, and all must agree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    pub cluster_id: u64,
    pub member_id: NodeId,
}

/// A snapshot marker: the log up to `index` lives in a snapshot file (or, at
/// index 0, nowhere: the marker only carries a new cluster's membership).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotMarker {
    pub index: u64,
    pub term: u64,
    /// The membership as of `index`.
    pub conf_state: ConfState,
    /// True for a snapshot installed from the leader, which replaces the
    /// whole log: replay forgets every entry recorded before it. False for
    /// a local snapshot (or a segment's restatement of the current one),
    /// which only makes entries at or before `index` obsolete.
    pub replaces_log: bool,
}

/// One WAL record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Metadata(Metadata),
    Entry(Entry),
    HardState(HardState),
    Snapshot(SnapshotMarker),
}

/// Why bytes are not a record. The caller (replay) decides whether that is a
/// torn tail or corruption; only it knows where in which file the bytes are.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the header, or than the length the (verified)
    /// header announces.
    #[error("record truncated: needs {needed} bytes, {available} available")]
    Truncated { needed: usize, available: usize },
    #[error("record header checksum mismatch")]
    HeaderChecksum,
    #[error("record length {0} exceeds the maximum {MAX_PAYLOAD_LEN}")]
    TooLong(usize),
    #[error("record payload checksum mismatch")]
    PayloadChecksum,
    /// Checksums match but the payload does not parse: a writer bug or a
    /// collision, never a torn write.
    #[error("malformed record payload: {0}")]
    Malformed(&'static str),
}

/// Appends the encoding of `record` to `out`.
///
/// # Errors
/// [`DecodeError::TooLong`] if the payload would exceed [`MAX_PAYLOAD_LEN`];
/// `out` is then left as it was.
pub fn encode(record: &Record, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    match record {
        Record::Metadata(m) => {
            out.put_u8(KIND_METADATA);
            out.put_u64_le(m.cluster_id);
            out.put_u64_le(m.member_id);
        }
        Record::Entry(e) => {
            out.put_u8(KIND_ENTRY);
            out.put_u64_le(e.term);
            out.put_u64_le(e.index);
            out.put_u8(match e.entry_type {
                EntryType::Normal => 0,
                EntryType::ConfChange => 1,
            });
            out.extend_from_slice(&e.data);
        }
        Record::HardState(hs) => {
            out.put_u8(KIND_HARD_STATE);
            out.put_u64_le(hs.term);
            out.put_u64_le(hs.vote);
            out.put_u64_le(hs.commit);
        }
        Record::Snapshot(s) => {
            out.put_u8(KIND_SNAPSHOT);
            out.put_u64_le(s.index);
            out.put_u64_le(s.term);
            out.put_u8(u8::from(s.replaces_log));
            for ids in [&s.conf_state.voters, &s.conf_state.learners] {
                // A membership of 2^32 members is not a thing; saturating
                // keeps encode total, and decode would reject the mismatch.
                out.put_u32_le(u32::try_from(ids.len()).unwrap_or(u32::MAX));
                for id in ids {
                    out.put_u64_le(*id);
                }
            }
        }
    }
    let len = out.len() - start - HEADER_LEN;
    if len > MAX_PAYLOAD_LEN {
        out.truncate(start);
        return Err(DecodeError::TooLong(len));
    }
    let payload_crc = crc32c::crc32c(&out[start + HEADER_LEN..]);
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32c::crc32c(&out[start..start + 8]);
    out[start + 8..start + 12].copy_from_slice(&header_crc.to_le_bytes());
    Ok(())
}

/// What the header at the front of `buf` announces, once its own checksum
/// is verified: the payload length and checksum.
///
/// Split from [`decode`] because replay needs to know whether a length that
/// runs past the end of the file is genuine (a torn write) or corrupt.
pub fn decode_header(buf: &[u8]) -> Result<(usize, u32), DecodeError> {
    if buf.len() < HEADER_LEN {
        return Err(DecodeError::Truncated {
            needed: HEADER_LEN,
            available: buf.len(),
        });
    }
    let header_crc = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]);
    if crc32c::crc32c(&buf[..8]) != header_crc {
        return Err(DecodeError::HeaderChecksum);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_PAYLOAD_LEN {
        return Err(DecodeError::TooLong(len));
    }
    let payload_crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    Ok((len, payload_crc))
}

/// Decodes the record at `buf[offset..]`, returning it and its encoded
/// length. Entry data is a zero-copy slice of `buf`.
pub fn decode_at(buf: &Bytes, offset: usize) -> Result<(Record, usize), DecodeError> {
    let rest = buf.get(offset..).unwrap_or_default();
    let (len, payload_crc) = decode_header(rest)?;
    let total = HEADER_LEN + len;
    if rest.len() < total {
        return Err(DecodeError::Truncated {
            needed: total,
            available: rest.len(),
        });
    }
    let payload = &rest[HEADER_LEN..total];
    if crc32c::crc32c(payload) != payload_crc {
        return Err(DecodeError::PayloadChecksum);
    }
    let start = offset + HEADER_LEN;
    let record = parse_payload(payload, || buf.slice(start..start + len))?;
    Ok((record, total))
}

/// Decodes one record from the front of `buf`: the entry point for fuzzing
/// and property tests. Copies `buf`; replay decodes in place instead.
pub fn decode(buf: &[u8]) -> Result<(Record, usize), DecodeError> {
    decode_at(&Bytes::copy_from_slice(buf), 0)
}

/// A cursor over a verified payload that turns running short into an error.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self
            .0
            .split_first()
            .ok_or(DecodeError::Malformed("payload too short"))?;
        self.0 = rest;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or(DecodeError::Malformed("payload too short"))?;
        self.0 = rest;
        Ok(u32::from_le_bytes(*head))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<8>()
            .ok_or(DecodeError::Malformed("payload too short"))?;
        self.0 = rest;
        Ok(u64::from_le_bytes(*head))
    }

    fn ids(&mut self) -> Result<Vec<NodeId>, DecodeError> {
        let n = self.u32()? as usize;
        // Check before allocating: a forged count must not reserve memory
        // the payload could never fill.
        if n > self.0.len() / 8 {
            return Err(DecodeError::Malformed("member count exceeds payload"));
        }
        (0..n).map(|_| self.u64()).collect()
    }

    fn end(&self) -> Result<(), DecodeError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Malformed("trailing bytes after record fields"))
        }
    }
}

/// Parses a checksummed payload. `payload_bytes` hands out the payload as
/// `Bytes` so entry data can share the segment buffer instead of copying.
fn parse_payload(
    payload: &[u8],
    payload_bytes: impl FnOnce() -> Bytes,
) -> Result<Record, DecodeError> {
    let mut f = Fields(payload);
    let record = match f.u8()? {
        KIND_METADATA => Record::Metadata(Metadata {
            cluster_id: f.u64()?,
            member_id: f.u64()?,
        }),
        KIND_ENTRY => {
            let term = f.u64()?;
            let index = f.u64()?;
            let entry_type = match f.u8()? {
                0 => EntryType::Normal,
                1 => EntryType::ConfChange,
                _ => return Err(DecodeError::Malformed("unknown entry type")),
            };
            // kind + term + index + type
            let data = payload_bytes().slice(18..);
            return Ok(Record::Entry(Entry {
                term,
                index,
                entry_type,
                data,
            }));
        }
        KIND_HARD_STATE => Record::HardState(HardState {
            term: f.u64()?,
            vote: f.u64()?,
            commit: f.u64()?,
        }),
        KIND_SNAPSHOT => {
            let index = f.u64()?;
            let term = f.u64()?;
            let replaces_log = match f.u8()? {
                0 => false,
                1 => true,
                _ => return Err(DecodeError::Malformed("bad replaces_log flag")),
            };
            let voters = f.ids()?;
            let learners = f.ids()?;
            Record::Snapshot(SnapshotMarker {
                index,
                term,
                conf_state: ConfState { voters, learners },
                replaces_log,
            })
        }
        _ => return Err(DecodeError::Malformed("unknown record kind")),
    };
    f.end()?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoded(r: &Record) -> Vec<u8> {
        let mut out = Vec::new();
        encode(r, &mut out).unwrap();
        out
    }

    fn entry_strategy() -> impl Strategy<Value = Entry> {
        (
            any::<u64>(),
            any::<u64>(),
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(term, index, cc, data)| Entry {
                term,
                index,
                entry_type: if cc {
                    EntryType::ConfChange
                } else {
                    EntryType::Normal
                },
                data: data.into(),
            })
    }

    fn record_strategy() -> impl Strategy<Value = Record> {
        let ids = || proptest::collection::vec(any::<u64>(), 0..7);
        prop_oneof![
            (any::<u64>(), any::<u64>()).prop_map(|(cluster_id, member_id)| {
                Record::Metadata(Metadata {
                    cluster_id,
                    member_id,
                })
            }),
            entry_strategy().prop_map(Record::Entry),
            (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(term, vote, commit)| {
                Record::HardState(HardState { term, vote, commit })
            }),
            (any::<u64>(), any::<u64>(), any::<bool>(), ids(), ids()).prop_map(
                |(index, term, replaces_log, voters, learners)| {
                    Record::Snapshot(SnapshotMarker {
                        index,
                        term,
                        conf_state: ConfState { voters, learners },
                        replaces_log,
                    })
                }
            ),
        ]
    }

    #[test]
    fn header_layout_is_length_then_payload_crc_then_header_crc() {
        let hs = Record::HardState(HardState {
            term: 2,
            vote: 3,
            commit: 4,
        });
        let buf = encoded(&hs);
        assert_eq!(buf.len(), HEADER_LEN + 25);
        assert_eq!(&buf[0..4], &25u32.to_le_bytes());
        assert_eq!(&buf[4..8], &crc32c::crc32c(&buf[12..]).to_le_bytes());
        assert_eq!(&buf[8..12], &crc32c::crc32c(&buf[0..8]).to_le_bytes());
        assert_eq!(buf[12], KIND_HARD_STATE);
        assert_eq!(&buf[13..21], &2u64.to_le_bytes());
    }

    #[test]
    fn all_zero_header_is_rejected_not_read_as_an_empty_record() {
        // A zero-filled tail must never decode; replay relies on it.
        assert_eq!(decode(&[0; 64]), Err(DecodeError::HeaderChecksum));
    }

    #[test]
    fn trailing_bytes_inside_a_checksummed_payload_are_malformed() {
        let mut buf = encoded(&Record::Metadata(Metadata::default()));
        buf.push(7);
        let len = (buf.len() - HEADER_LEN) as u32;
        buf[0..4].copy_from_slice(&len.to_le_bytes());
        let crc = crc32c::crc32c(&buf[HEADER_LEN..]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        let hcrc = crc32c::crc32c(&buf[0..8]);
        buf[8..12].copy_from_slice(&hcrc.to_le_bytes());
        assert!(matches!(decode(&buf), Err(DecodeError::Malformed(_))));
    }

    proptest! {
        #[test]
        fn round_trips(record in record_strategy()) {
            let buf = encoded(&record);
            let (back, used) = decode(&buf).unwrap();
            prop_assert_eq!(back, record);
            prop_assert_eq!(used, buf.len());
        }

        #[test]
        fn arbitrary_bytes_never_panic_nor_yield_an_unverified_record(
            buf in proptest::collection::vec(any::<u8>(), 0..200)
        ) {
            if let Ok((record, used)) = decode(&buf) {
                let len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
                prop_assert_eq!(used, HEADER_LEN + len);
                let crc = u32::from_le_bytes(buf[4..8].try_into().unwrap());
                prop_assert_eq!(crc32c::crc32c(&buf[HEADER_LEN..used]), crc);
                prop_assert_eq!(encoded(&record), buf[..used].to_vec());
            }
        }

        /// Random bytes almost never pass the header checksum, so this
        /// forges valid checksums around a random payload to reach the
        /// field parser.
        #[test]
        fn arbitrary_checksummed_payloads_never_panic_and_round_trip_if_accepted(
            payload in proptest::collection::vec(any::<u8>(), 1..120),
            kind in 0u8..6,
        ) {
            let mut payload = payload;
            payload[0] = kind;
            let mut buf = (payload.len() as u32).to_le_bytes().to_vec();
            buf.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
            buf.extend_from_slice(&crc32c::crc32c(&buf).to_le_bytes());
            buf.extend_from_slice(&payload);
            if let Ok((record, used)) = decode(&buf) {
                prop_assert_eq!(used, buf.len());
                prop_assert_eq!(encoded(&record), buf);
            }
        }

        #[test]
        fn any_single_byte_flip_is_detected(
            record in record_strategy(),
            pos in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let mut buf = encoded(&record);
            let at = pos.index(buf.len());
            buf[at] ^= flip;
            prop_assert!(decode(&buf).is_err());
        }
    }
}
