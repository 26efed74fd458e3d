//! Alarms: the store's half of the Alarm request (activate, deactivate,
//! get), and the set of raised alarms every member applies in log order.
//!
//! Owns: the records in [`Tree::Alarm`] (key: member id, big-endian `u64`,
//! then the alarm type, big-endian `i32`; empty value) and their cached
//! set. Must never: decide when an alarm should be raised (the server's
//! quota check and corruption check do) or refuse writes itself (the apply
//! path asks [`MvccStore::has_alarm`]).

use super::{EntryId, MvccStore};
use crate::mvcc::MvccError;
use crate::mvcc::backend::{Backend, WriteBatch};
use crate::mvcc::schema::Tree;
use crate::mvcc::write::Written;
use cairn_proto::etcdserverpb::alarm_request::AlarmAction;
use cairn_proto::etcdserverpb::{AlarmMember, AlarmRequest, AlarmResponse, AlarmType};

fn record(member: u64, alarm: i32) -> Vec<u8> {
    let mut k = member.to_be_bytes().to_vec();
    k.extend_from_slice(&alarm.to_be_bytes());
    k
}

fn member(m: u64, alarm: i32) -> AlarmMember {
    AlarmMember {
        member_id: m,
        alarm,
    }
}

impl MvccStore {
    /// Reads the raised alarms from the backend (on open and restore).
    pub(super) fn load_alarms(&mut self) -> Result<(), MvccError> {
        let mut alarms = std::collections::BTreeSet::new();
        let mut bad = false;
        self.backend.scan(
            Tree::Alarm,
            &[],
            None,
            &mut |k, _| match (k.get(..8), k.get(8..12)) {
                (Some(m), Some(a)) if k.len() == 12 => {
                    let m = u64::from_be_bytes(m.try_into().expect("8 bytes"));
                    let a = i32::from_be_bytes(a.try_into().expect("4 bytes"));
                    alarms.insert((m, a));
                    true
                }
                _ => {
                    bad = true;
                    false
                }
            },
        )?;
        if bad {
            return Err(MvccError::Corrupt {
                what: "malformed record in the alarm tree",
            });
        }
        self.alarms = alarms;
        Ok(())
    }

    /// Whether any member has raised an alarm of type `kind`.
    pub fn has_alarm(&self, kind: AlarmType) -> bool {
        self.alarms.iter().any(|&(_, a)| a == kind as i32)
    }

    /// Every raised alarm, by member then type.
    pub fn alarm_list(&self) -> Vec<AlarmMember> {
        self.alarms.iter().map(|&(m, a)| member(m, a)).collect()
    }

    /// Applies raft entry `at`, an Alarm request, as etcd does: ACTIVATE
    /// answers with the alarm if it was not raised yet, DEACTIVATE with the
    /// alarm if it was, GET with the raised alarms of the requested type
    /// (NONE: all). Creates no revision.
    pub fn alarm(&mut self, req: &AlarmRequest, at: EntryId) -> Result<AlarmResponse, MvccError> {
        let key = (req.member_id, req.alarm);
        let action = AlarmAction::try_from(req.action).unwrap_or(AlarmAction::Get);
        let applied = self.apply(at, |s| {
            let mut batch = WriteBatch::new();
            let alarms = match action {
                AlarmAction::Activate if req.alarm != AlarmType::None as i32 => {
                    if s.alarms.contains(&key) {
                        Vec::new()
                    } else {
                        batch.put(Tree::Alarm, record(key.0, key.1), Vec::new());
                        vec![member(key.0, key.1)]
                    }
                }
                AlarmAction::Activate => Vec::new(),
                AlarmAction::Deactivate => {
                    if s.alarms.contains(&key) {
                        batch.delete(Tree::Alarm, record(key.0, key.1));
                        vec![member(key.0, key.1)]
                    } else {
                        Vec::new()
                    }
                }
                AlarmAction::Get => s
                    .alarms
                    .iter()
                    .filter(|&&(_, a)| req.alarm == AlarmType::None as i32 || a == req.alarm)
                    .map(|&(m, a)| member(m, a))
                    .collect(),
            };
            let written = Written {
                batch,
                events: Vec::new(),
                rev: s.current,
            };
            Ok((
                AlarmResponse {
                    header: None,
                    alarms,
                },
                written,
            ))
        })?;
        match action {
            AlarmAction::Activate if !applied.response.alarms.is_empty() => {
                self.alarms.insert(key);
            }
            AlarmAction::Deactivate => {
                self.alarms.remove(&key);
            }
            _ => {}
        }
        Ok(applied.response)
    }
}
