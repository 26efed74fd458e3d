//! The auth state's records: the store's half of auth management.
//!
//! Owns: the records in [`Tree::Auth`] (the enabled flag and the auth
//! revision, under [`schema::AUTH_ENABLED`] and [`schema::AUTH_REVISION`]),
//! [`Tree::AuthUsers`] (user name to an encoded `authpb::User`, the
//! password as a bcrypt hash) and [`Tree::AuthRoles`] (role name to an
//! encoded `authpb::Role`), and the [`AuthState`] they describe, cached.
//! Must never: decide what a change means (the `auth` module does) or
//! check permissions.

use std::sync::Arc;

use cairn_proto::authpb::{Role, User};
use prost::Message as _;

use super::{EntryId, MvccStore};
use crate::auth::{AuthState, Record};
use crate::etcd_error::EtcdError;
use crate::mvcc::MvccError;
use crate::mvcc::backend::{Backend, WriteBatch};
use crate::mvcc::schema::{self, Tree};

impl MvccStore {
    /// Reads the auth state from the backend (on open and restore).
    pub(super) fn load_auth(&mut self) -> Result<(), MvccError> {
        let malformed = MvccError::Corrupt {
            what: "malformed record in the auth trees",
        };
        let enabled = match self.backend.get(Tree::Auth, schema::AUTH_ENABLED)? {
            None => false,
            Some(v) => match v.as_slice() {
                [0] => false,
                [1] => true,
                _ => return Err(malformed),
            },
        };
        let revision = match self.backend.get(Tree::Auth, schema::AUTH_REVISION)? {
            None => crate::auth::state::FIRST_REVISION,
            Some(v) => schema::decode_u64(&v).ok_or(MvccError::Corrupt {
                what: "malformed auth revision",
            })?,
        };
        let mut users = Vec::new();
        let mut roles = Vec::new();
        let mut bad = false;
        self.backend.scan(Tree::AuthUsers, &[], None, &mut |_, v| {
            match User::decode(v) {
                Ok(u) => users.push(u),
                Err(_) => bad = true,
            }
            !bad
        })?;
        self.backend.scan(Tree::AuthRoles, &[], None, &mut |_, v| {
            match Role::decode(v) {
                Ok(r) => roles.push(r),
                Err(_) => bad = true,
            }
            !bad
        })?;
        if bad {
            return Err(malformed);
        }
        self.auth = Arc::new(AuthState::from_records(enabled, revision, users, roles));
        Ok(())
    }

    /// The auth state as of the last applied entry. Cheap to clone; each
    /// change makes a new one, so a handler holding it sees one version.
    pub fn auth(&self) -> &Arc<AuthState> {
        &self.auth
    }

    /// Applies raft entry `at`, an auth change: `change` edits a copy of
    /// the auth state and names the records to write; they reach the
    /// backend with the entry's position. A refused change (`Err` inside)
    /// still consumes the entry. Creates no revision.
    pub fn apply_auth(
        &mut self,
        at: EntryId,
        change: impl FnOnce(&mut AuthState) -> Result<Vec<Record>, EtcdError>,
    ) -> Result<Result<(), EtcdError>, MvccError> {
        let mut next = AuthState::clone(&self.auth);
        let records = match change(&mut next) {
            Ok(records) => records,
            Err(refused) => {
                self.mark_applied(at)?;
                return Ok(Err(refused));
            }
        };
        let mut batch = WriteBatch::new();
        for record in records {
            match record {
                Record::Enabled(on) => {
                    batch.put(
                        Tree::Auth,
                        schema::AUTH_ENABLED.to_vec(),
                        vec![u8::from(on)],
                    );
                }
                Record::Revision(r) => {
                    batch.put(
                        Tree::Auth,
                        schema::AUTH_REVISION.to_vec(),
                        schema::encode_u64(r),
                    );
                }
                Record::User(name, Some(u)) => {
                    batch.put(Tree::AuthUsers, name.into_bytes(), u.encode_to_vec());
                }
                Record::User(name, None) => batch.delete(Tree::AuthUsers, name.into_bytes()),
                Record::Role(name, Some(r)) => {
                    batch.put(Tree::AuthRoles, name.into_bytes(), r.encode_to_vec());
                }
                Record::Role(name, None) => batch.delete(Tree::AuthRoles, name.into_bytes()),
            }
        }
        self.apply_raw(at, batch)?;
        if next != *self.auth {
            self.auth = Arc::new(next);
        }
        Ok(Ok(()))
    }
}
