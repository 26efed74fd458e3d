//! Lossless translation between `crate::raft` types and `cairn.peer.v1`
//! messages. Every raft value survives a round trip unchanged; a wire
//! message with an enum value this build does not know is refused.

use bytes::Bytes;
use cairn_proto::peer as pb;

use crate::raft;

/// A wire message that cannot be turned into a raft message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown {what} value {value}")]
    UnknownEnum { what: &'static str, value: i32 },
}

pub fn message_to_wire(m: &raft::Message) -> pb::Message {
    pb::Message {
        msg_type: message_type_to_wire(m.msg_type) as i32,
        to: m.to,
        from: m.from,
        term: m.term,
        log_term: m.log_term,
        index: m.index,
        entries: m.entries.iter().map(entry_to_wire).collect(),
        commit: m.commit,
        snapshot: m.snapshot.as_ref().map(snapshot_to_wire),
        reject: m.reject,
        reject_hint: m.reject_hint,
        context: m.context.to_vec(),
    }
}

pub fn message_from_wire(m: pb::Message) -> Result<raft::Message, DecodeError> {
    let msg_type = message_type_from_wire(m.msg_type)?;
    let entries = m
        .entries
        .into_iter()
        .map(entry_from_wire)
        .collect::<Result<_, _>>()?;
    Ok(raft::Message {
        msg_type,
        to: m.to,
        from: m.from,
        term: m.term,
        log_term: m.log_term,
        index: m.index,
        entries,
        commit: m.commit,
        snapshot: m.snapshot.map(snapshot_from_wire),
        reject: m.reject,
        reject_hint: m.reject_hint,
        context: Bytes::from(m.context),
    })
}

pub fn entry_to_wire(e: &raft::Entry) -> pb::Entry {
    let entry_type = match e.entry_type {
        raft::EntryType::Normal => pb::EntryType::Normal,
        raft::EntryType::ConfChange => pb::EntryType::ConfChange,
    };
    pb::Entry {
        term: e.term,
        index: e.index,
        entry_type: entry_type as i32,
        data: e.data.to_vec(),
    }
}

pub fn entry_from_wire(e: pb::Entry) -> Result<raft::Entry, DecodeError> {
    let entry_type = match pb::EntryType::try_from(e.entry_type) {
        Ok(pb::EntryType::Normal) => raft::EntryType::Normal,
        Ok(pb::EntryType::ConfChange) => raft::EntryType::ConfChange,
        Err(_) => {
            return Err(DecodeError::UnknownEnum {
                what: "entry type",
                value: e.entry_type,
            });
        }
    };
    Ok(raft::Entry {
        term: e.term,
        index: e.index,
        entry_type,
        data: Bytes::from(e.data),
    })
}

pub fn snapshot_to_wire(s: &raft::Snapshot) -> pb::Snapshot {
    pb::Snapshot {
        data: s.data.to_vec(),
        metadata: Some(pb::SnapshotMetadata {
            conf_state: Some(pb::ConfState {
                voters: s.metadata.conf_state.voters.clone(),
                learners: s.metadata.conf_state.learners.clone(),
            }),
            index: s.metadata.index,
            term: s.metadata.term,
        }),
    }
}

pub fn snapshot_from_wire(s: pb::Snapshot) -> raft::Snapshot {
    let meta = s.metadata.unwrap_or_default();
    let cs = meta.conf_state.unwrap_or_default();
    raft::Snapshot {
        data: Bytes::from(s.data),
        metadata: raft::SnapshotMetadata {
            conf_state: raft::ConfState {
                voters: cs.voters,
                learners: cs.learners,
            },
            index: meta.index,
            term: meta.term,
        },
    }
}

/// The two enums list the same kinds in the same order; this table is the
/// one place that says so.
const MESSAGE_TYPES: [(raft::MessageType, pb::MessageType); 19] = [
    (raft::MessageType::Hup, pb::MessageType::Hup),
    (raft::MessageType::Beat, pb::MessageType::Beat),
    (raft::MessageType::Propose, pb::MessageType::Propose),
    (raft::MessageType::Append, pb::MessageType::Append),
    (
        raft::MessageType::AppendResponse,
        pb::MessageType::AppendResponse,
    ),
    (raft::MessageType::RequestVote, pb::MessageType::RequestVote),
    (
        raft::MessageType::RequestVoteResponse,
        pb::MessageType::RequestVoteResponse,
    ),
    (raft::MessageType::Snapshot, pb::MessageType::Snapshot),
    (raft::MessageType::Heartbeat, pb::MessageType::Heartbeat),
    (
        raft::MessageType::HeartbeatResponse,
        pb::MessageType::HeartbeatResponse,
    ),
    (raft::MessageType::Unreachable, pb::MessageType::Unreachable),
    (
        raft::MessageType::SnapshotStatus,
        pb::MessageType::SnapshotStatus,
    ),
    (raft::MessageType::CheckQuorum, pb::MessageType::CheckQuorum),
    (
        raft::MessageType::TransferLeader,
        pb::MessageType::TransferLeader,
    ),
    (raft::MessageType::TimeoutNow, pb::MessageType::TimeoutNow),
    (raft::MessageType::ReadIndex, pb::MessageType::ReadIndex),
    (
        raft::MessageType::ReadIndexResponse,
        pb::MessageType::ReadIndexResponse,
    ),
    (raft::MessageType::PreVote, pb::MessageType::PreVote),
    (
        raft::MessageType::PreVoteResponse,
        pb::MessageType::PreVoteResponse,
    ),
];

fn message_type_to_wire(t: raft::MessageType) -> pb::MessageType {
    MESSAGE_TYPES
        .iter()
        .find(|(r, _)| *r == t)
        .map(|(_, w)| *w)
        .expect("every raft message type has a wire form")
}

fn message_type_from_wire(v: i32) -> Result<raft::MessageType, DecodeError> {
    MESSAGE_TYPES
        .iter()
        .find(|(_, w)| *w as i32 == v)
        .map(|(r, _)| *r)
        .ok_or(DecodeError::UnknownEnum {
            what: "message type",
            value: v,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_entry() -> impl Strategy<Value = raft::Entry> {
        (
            any::<u64>(),
            any::<u64>(),
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(term, index, conf, data)| raft::Entry {
                term,
                index,
                entry_type: if conf {
                    raft::EntryType::ConfChange
                } else {
                    raft::EntryType::Normal
                },
                data: Bytes::from(data),
            })
    }

    fn arb_snapshot() -> impl Strategy<Value = raft::Snapshot> {
        (
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(1u64..10, 0..5),
            prop::collection::vec(1u64..10, 0..3),
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(|(data, voters, learners, index, term)| raft::Snapshot {
                data: Bytes::from(data),
                metadata: raft::SnapshotMetadata {
                    conf_state: raft::ConfState { voters, learners },
                    index,
                    term,
                },
            })
    }

    fn arb_message() -> impl Strategy<Value = raft::Message> {
        (
            0..MESSAGE_TYPES.len(),
            (
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
            ),
            prop::collection::vec(arb_entry(), 0..4),
            prop::option::of(arb_snapshot()),
            (any::<u64>(), any::<bool>(), any::<u64>()),
            prop::collection::vec(any::<u8>(), 0..16),
        )
            .prop_map(
                |(
                    t,
                    (to, from, term, log_term, index),
                    entries,
                    snapshot,
                    (commit, reject, hint),
                    ctx,
                )| {
                    raft::Message {
                        msg_type: MESSAGE_TYPES[t].0,
                        to,
                        from,
                        term,
                        log_term,
                        index,
                        entries,
                        commit,
                        snapshot,
                        reject,
                        reject_hint: hint,
                        context: Bytes::from(ctx),
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn every_message_survives_the_wire(m in arb_message()) {
            let wire = prost::Message::encode_to_vec(&message_to_wire(&m));
            let decoded: pb::Message = prost::Message::decode(wire.as_slice()).unwrap();
            prop_assert_eq!(message_from_wire(decoded).unwrap(), m);
        }
    }

    #[test]
    fn unknown_message_type_is_refused() {
        let wire = pb::Message {
            msg_type: 99,
            ..pb::Message::default()
        };
        assert_eq!(
            message_from_wire(wire),
            Err(DecodeError::UnknownEnum {
                what: "message type",
                value: 99
            })
        );
    }

    #[test]
    fn the_table_covers_every_wire_value_once() {
        for v in 0..=18 {
            assert!(message_type_from_wire(v).is_ok(), "wire value {v} unmapped");
        }
        let mut seen: Vec<_> = MESSAGE_TYPES.iter().map(|(_, w)| *w as i32).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), MESSAGE_TYPES.len());
    }
}
