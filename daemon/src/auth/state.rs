//! The auth state every member applies in log order: whether auth is on,
//! the auth revision, users and roles; what each management request does
//! to it; and the permission checks etcd runs against it.
//!
//! Owns: [`AuthState`] and its changes, as pure data (no I/O, no clock):
//! the store persists the [`Record`]s a change returns, in the same batch
//! as the entry's index. Must never: hash or compare passwords (the
//! proposing member did that before proposing) or decide anything from
//! this member's configuration.
//!
//! Invariants: every change that can alter what a user may do bumps the
//! revision (etcd's rule, so a request authorised under older rules is
//! refused at apply); enabling auth does not, disabling does. Users' role
//! lists and roles' permissions are kept sorted as etcd keeps them.

use std::collections::BTreeMap;

use cairn_proto::authpb::{Permission, Role, User, UserAddOptions, permission};
use cairn_proto::etcdserverpb::{
    AuthRoleAddRequest, AuthRoleDeleteRequest, AuthRoleGrantPermissionRequest,
    AuthRoleRevokePermissionRequest, AuthUserAddRequest, AuthUserChangePasswordRequest,
    AuthUserDeleteRequest, AuthUserGrantRoleRequest, AuthUserRevokeRoleRequest,
};

use super::perms::{KeySpan, covered};
use crate::etcd_error::EtcdError;

/// The user whose root role lets it do everything, and that role.
pub const ROOT: &str = "root";

/// The auth revision of a store that never had an auth change (etcd's).
pub const FIRST_REVISION: u64 = 1;

/// Who a request is for, once its credentials are resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthInfo {
    /// Empty: no credentials were given.
    pub user: String,
    /// The auth revision the credentials speak for; 0 with no user.
    pub revision: u64,
}

impl AuthInfo {
    pub fn user(user: impl Into<String>, revision: u64) -> AuthInfo {
        AuthInfo {
            user: user.into(),
            revision,
        }
    }

    pub fn anonymous() -> AuthInfo {
        AuthInfo::default()
    }
}

/// What a request does to keys, for the permission check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A piece of the auth state to write to (`Some`) or remove from (`None`)
/// the backend, after a change.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Enabled(bool),
    Revision(u64),
    User(String, Option<User>),
    Role(String, Option<Role>),
}

/// Users, roles and the switch, as of some point in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthState {
    enabled: bool,
    revision: u64,
    users: BTreeMap<String, User>,
    roles: BTreeMap<String, Role>,
}

impl Default for AuthState {
    fn default() -> Self {
        AuthState {
            enabled: false,
            revision: FIRST_REVISION,
            users: BTreeMap::new(),
            roles: BTreeMap::new(),
        }
    }
}

impl AuthState {
    /// The state the backend's records describe.
    pub fn from_records(
        enabled: bool,
        revision: u64,
        users: impl IntoIterator<Item = User>,
        roles: impl IntoIterator<Item = Role>,
    ) -> AuthState {
        AuthState {
            enabled,
            revision,
            users: users
                .into_iter()
                .map(|u| (String::from_utf8_lossy(&u.name).into_owned(), u))
                .collect(),
            roles: roles
                .into_iter()
                .map(|r| (String::from_utf8_lossy(&r.name).into_owned(), r))
                .collect(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    /// User names in byte order.
    pub fn user_names(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    /// Role names in byte order.
    pub fn role_names(&self) -> Vec<String> {
        self.roles.keys().cloned().collect()
    }

    /// Whether `user` exists and has been granted `role`.
    pub fn has_role(&self, user: &str, role: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|u| u.roles.iter().any(|r| r == role))
    }

    // ---- the checks ----

    /// etcd's check for management calls: with auth on, only a user with
    /// the root role passes.
    pub fn check_admin(&self, who: &AuthInfo) -> Result<(), EtcdError> {
        if !self.enabled {
            return Ok(());
        }
        if who.user.is_empty() {
            return Err(EtcdError::UserEmpty);
        }
        match self.users.get(&who.user) {
            None => Err(EtcdError::UserNotFound),
            Some(u) if is_root(u) => Ok(()),
            Some(_) => Err(EtcdError::PermissionDenied),
        }
    }

    /// etcd's check for a key operation: with auth on, the credentials must
    /// be current and the user's roles must cover `key`..`range_end` for
    /// `access` (root covers everything).
    pub fn check_keys(
        &self,
        who: &AuthInfo,
        key: &[u8],
        range_end: &[u8],
        access: Access,
    ) -> Result<(), EtcdError> {
        if !self.enabled {
            return Ok(());
        }
        if who.revision == 0 {
            return Err(EtcdError::UserEmpty);
        }
        if who.revision < self.revision {
            return Err(EtcdError::AuthOldRevision);
        }
        let Some(user) = self.users.get(&who.user) else {
            return Err(EtcdError::PermissionDenied);
        };
        if is_root(user) {
            return Ok(());
        }
        let granted: Vec<KeySpan> = user
            .roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .flat_map(|r| &r.key_permission)
            .filter(|p| grants(p, access))
            .map(|p| KeySpan::new(&p.key, &p.range_end))
            .collect();
        if covered(&granted, &KeySpan::new(key, range_end)) {
            Ok(())
        } else {
            Err(EtcdError::PermissionDenied)
        }
    }

    // ---- the changes (applied in log order; each returns what to persist) ----

    /// AuthEnable: needs a root user holding the root role; enabling twice
    /// is not an error.
    pub fn enable(&mut self) -> Result<Vec<Record>, EtcdError> {
        if self.enabled {
            return Ok(Vec::new());
        }
        let root = self.users.get(ROOT).ok_or(EtcdError::RootUserNotExist)?;
        if !is_root(root) {
            return Err(EtcdError::RootRoleNotExist);
        }
        self.enabled = true;
        Ok(vec![Record::Enabled(true)])
    }

    /// AuthDisable; disabling twice is not an error.
    pub fn disable(&mut self) -> Vec<Record> {
        if !self.enabled {
            return Vec::new();
        }
        self.enabled = false;
        vec![Record::Enabled(false), self.bump()]
    }

    /// Whether `name` may log in with a password now: auth is on, the user
    /// exists and has one. Before proposing, the service asks this and
    /// then checks the password; the applier asks again, where a user
    /// without a password is simply refused.
    pub fn check_login(&self, name: &str) -> Result<&User, EtcdError> {
        if !self.enabled {
            return Err(EtcdError::AuthNotEnabled);
        }
        match self.users.get(name) {
            Some(u) if no_password(u) => Err(EtcdError::NoPasswordUser),
            Some(u) => Ok(u),
            None => Err(EtcdError::AuthFailed),
        }
    }

    pub fn user_add(&mut self, r: &AuthUserAddRequest) -> Result<Vec<Record>, EtcdError> {
        if r.name.is_empty() {
            return Err(EtcdError::UserEmpty);
        }
        if self.users.contains_key(&r.name) {
            return Err(EtcdError::UserAlreadyExist);
        }
        let options = r.options.unwrap_or(UserAddOptions { no_password: false });
        let user = User {
            name: r.name.clone().into_bytes(),
            password: if options.no_password {
                Vec::new()
            } else {
                r.hashed_password.clone().into_bytes()
            },
            roles: Vec::new(),
            options: Some(options),
        };
        Ok(self.put_user(user))
    }

    pub fn user_delete(&mut self, r: &AuthUserDeleteRequest) -> Result<Vec<Record>, EtcdError> {
        if self.enabled && r.name == ROOT {
            return Err(EtcdError::InvalidAuthMgmt);
        }
        if self.users.remove(&r.name).is_none() {
            return Err(EtcdError::UserNotFound);
        }
        Ok(vec![Record::User(r.name.clone(), None), self.bump()])
    }

    pub fn user_change_password(
        &mut self,
        r: &AuthUserChangePasswordRequest,
    ) -> Result<Vec<Record>, EtcdError> {
        let mut user = self
            .users
            .get(&r.name)
            .cloned()
            .ok_or(EtcdError::UserNotFound)?;
        user.password = if no_password(&user) {
            Vec::new()
        } else {
            r.hashed_password.clone().into_bytes()
        };
        Ok(self.put_user(user))
    }

    pub fn user_grant_role(
        &mut self,
        r: &AuthUserGrantRoleRequest,
    ) -> Result<Vec<Record>, EtcdError> {
        let mut user = self
            .users
            .get(&r.user)
            .cloned()
            .ok_or(EtcdError::UserNotFound)?;
        if r.role != ROOT && !self.roles.contains_key(&r.role) {
            return Err(EtcdError::RoleNotFound);
        }
        match user.roles.binary_search(&r.role) {
            // Granted already: etcd answers success and changes nothing.
            Ok(_) => Ok(Vec::new()),
            Err(at) => {
                user.roles.insert(at, r.role.clone());
                Ok(self.put_user(user))
            }
        }
    }

    pub fn user_revoke_role(
        &mut self,
        r: &AuthUserRevokeRoleRequest,
    ) -> Result<Vec<Record>, EtcdError> {
        if self.enabled && r.name == ROOT && r.role == ROOT {
            return Err(EtcdError::InvalidAuthMgmt);
        }
        let mut user = self
            .users
            .get(&r.name)
            .cloned()
            .ok_or(EtcdError::UserNotFound)?;
        let before = user.roles.len();
        user.roles.retain(|role| *role != r.role);
        if user.roles.len() == before {
            return Err(EtcdError::RoleNotGranted);
        }
        Ok(self.put_user(user))
    }

    pub fn role_add(&mut self, r: &AuthRoleAddRequest) -> Result<Vec<Record>, EtcdError> {
        if r.name.is_empty() {
            return Err(EtcdError::RoleEmpty);
        }
        if self.roles.contains_key(&r.name) {
            return Err(EtcdError::RoleAlreadyExist);
        }
        Ok(self.put_role(Role {
            name: r.name.clone().into_bytes(),
            key_permission: Vec::new(),
        }))
    }

    /// RoleDelete also takes the role from every user holding it.
    pub fn role_delete(&mut self, r: &AuthRoleDeleteRequest) -> Result<Vec<Record>, EtcdError> {
        if self.enabled && r.role == ROOT {
            return Err(EtcdError::InvalidAuthMgmt);
        }
        if self.roles.remove(&r.role).is_none() {
            return Err(EtcdError::RoleNotFound);
        }
        let mut records = vec![Record::Role(r.role.clone(), None)];
        for (name, user) in &mut self.users {
            let before = user.roles.len();
            user.roles.retain(|role| *role != r.role);
            if user.roles.len() != before {
                records.push(Record::User(name.clone(), Some(user.clone())));
            }
        }
        records.push(self.bump());
        Ok(records)
    }

    /// RoleGrantPermission: a permission with the same key and range end
    /// as one the role has changes that one's type; any other is added, the
    /// list kept sorted by key.
    pub fn role_grant_permission(
        &mut self,
        r: &AuthRoleGrantPermissionRequest,
    ) -> Result<Vec<Record>, EtcdError> {
        let mut role = self
            .roles
            .get(&r.name)
            .cloned()
            .ok_or(EtcdError::RoleNotFound)?;
        let perm = r.perm.as_ref().ok_or(EtcdError::PermissionNotGiven)?;
        match role
            .key_permission
            .iter_mut()
            .find(|p| p.key == perm.key && p.range_end == perm.range_end)
        {
            Some(existing) => existing.perm_type = perm.perm_type,
            None => {
                role.key_permission.push(Permission {
                    perm_type: perm.perm_type,
                    key: perm.key.clone(),
                    range_end: perm.range_end.clone(),
                });
                role.key_permission.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
        Ok(self.put_role(role))
    }

    /// RoleRevokePermission removes the permissions with exactly that key
    /// and range end.
    pub fn role_revoke_permission(
        &mut self,
        r: &AuthRoleRevokePermissionRequest,
    ) -> Result<Vec<Record>, EtcdError> {
        let mut role = self
            .roles
            .get(&r.role)
            .cloned()
            .ok_or(EtcdError::RoleNotFound)?;
        let before = role.key_permission.len();
        role.key_permission
            .retain(|p| p.key != r.key || p.range_end != r.range_end);
        if role.key_permission.len() == before {
            return Err(EtcdError::PermissionNotGranted);
        }
        Ok(self.put_role(role))
    }

    fn put_user(&mut self, user: User) -> Vec<Record> {
        let name = String::from_utf8_lossy(&user.name).into_owned();
        self.users.insert(name.clone(), user.clone());
        vec![Record::User(name, Some(user)), self.bump()]
    }

    fn put_role(&mut self, role: Role) -> Vec<Record> {
        let name = String::from_utf8_lossy(&role.name).into_owned();
        self.roles.insert(name.clone(), role.clone());
        vec![Record::Role(name, Some(role)), self.bump()]
    }

    fn bump(&mut self) -> Record {
        self.revision += 1;
        Record::Revision(self.revision)
    }
}

fn is_root(user: &User) -> bool {
    user.roles.iter().any(|r| r == ROOT)
}

fn no_password(user: &User) -> bool {
    user.options.is_some_and(|o| o.no_password)
}

/// Whether permission `p` allows `access`.
fn grants(p: &Permission, access: Access) -> bool {
    let kind = permission::Type::try_from(p.perm_type).ok();
    matches!(
        (kind, access),
        (Some(permission::Type::Readwrite), _)
            | (Some(permission::Type::Read), Access::Read)
            | (Some(permission::Type::Write), Access::Write)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_add(s: &mut AuthState, name: &str) {
        s.user_add(&AuthUserAddRequest {
            name: name.into(),
            hashed_password: "hash".into(),
            ..Default::default()
        })
        .unwrap();
    }

    fn grant_role(s: &mut AuthState, user: &str, role: &str) -> Result<Vec<Record>, EtcdError> {
        s.user_grant_role(&AuthUserGrantRoleRequest {
            user: user.into(),
            role: role.into(),
        })
    }

    fn grant(s: &mut AuthState, role: &str, kind: permission::Type, key: &str, end: &str) {
        s.role_grant_permission(&AuthRoleGrantPermissionRequest {
            name: role.into(),
            perm: Some(Permission {
                perm_type: kind as i32,
                key: key.into(),
                range_end: end.into(),
            }),
        })
        .unwrap();
    }

    /// Auth on, with root and a user "alice" holding role "r".
    fn enabled() -> AuthState {
        let mut s = AuthState::default();
        user_add(&mut s, ROOT);
        grant_role(&mut s, ROOT, ROOT).unwrap();
        user_add(&mut s, "alice");
        s.role_add(&AuthRoleAddRequest { name: "r".into() })
            .unwrap();
        grant_role(&mut s, "alice", "r").unwrap();
        s.enable().unwrap();
        s
    }

    #[test]
    fn enabling_needs_root_with_the_root_role() {
        let mut s = AuthState::default();
        assert_eq!(s.enable(), Err(EtcdError::RootUserNotExist));
        user_add(&mut s, ROOT);
        assert_eq!(s.enable(), Err(EtcdError::RootRoleNotExist));
        grant_role(&mut s, ROOT, ROOT).unwrap();
        let revision = s.revision();
        assert_eq!(s.enable(), Ok(vec![Record::Enabled(true)]));
        assert_eq!(s.revision(), revision, "enabling keeps the revision");
        assert_eq!(s.enable(), Ok(vec![]));
        assert_eq!(s.disable().len(), 2);
        assert_eq!(s.revision(), revision + 1, "disabling bumps it");
        assert!(s.disable().is_empty());
    }

    #[test]
    fn root_cannot_be_taken_apart_while_auth_is_on() {
        let mut s = enabled();
        let del = AuthUserDeleteRequest { name: ROOT.into() };
        assert_eq!(s.user_delete(&del), Err(EtcdError::InvalidAuthMgmt));
        let revoke = AuthUserRevokeRoleRequest {
            name: ROOT.into(),
            role: ROOT.into(),
        };
        assert_eq!(s.user_revoke_role(&revoke), Err(EtcdError::InvalidAuthMgmt));
        let del_role = AuthRoleDeleteRequest { role: ROOT.into() };
        assert_eq!(s.role_delete(&del_role), Err(EtcdError::InvalidAuthMgmt));
        s.disable();
        assert!(s.user_revoke_role(&revoke).is_ok());
        assert!(s.user_delete(&del).is_ok());
    }

    #[test]
    fn management_errors_are_etcds() {
        let mut s = enabled();
        let add = AuthUserAddRequest {
            name: "alice".into(),
            ..Default::default()
        };
        assert_eq!(s.user_add(&add), Err(EtcdError::UserAlreadyExist));
        let empty = AuthUserAddRequest::default();
        assert_eq!(s.user_add(&empty), Err(EtcdError::UserEmpty));
        assert_eq!(grant_role(&mut s, "bob", "r"), Err(EtcdError::UserNotFound));
        assert_eq!(
            grant_role(&mut s, "alice", "x"),
            Err(EtcdError::RoleNotFound)
        );
        let revision = s.revision();
        assert_eq!(grant_role(&mut s, "alice", "r"), Ok(vec![]));
        assert_eq!(s.revision(), revision, "a repeated grant changes nothing");
        let revoke = AuthUserRevokeRoleRequest {
            name: "alice".into(),
            role: "x".into(),
        };
        assert_eq!(s.user_revoke_role(&revoke), Err(EtcdError::RoleNotGranted));
        let role = AuthRoleAddRequest { name: "r".into() };
        assert_eq!(s.role_add(&role), Err(EtcdError::RoleAlreadyExist));
        let role = AuthRoleAddRequest { name: "".into() };
        assert_eq!(s.role_add(&role), Err(EtcdError::RoleEmpty));
        let perm = AuthRoleRevokePermissionRequest {
            role: "r".into(),
            key: b"k".to_vec(),
            range_end: vec![],
        };
        assert_eq!(
            s.role_revoke_permission(&perm),
            Err(EtcdError::PermissionNotGranted)
        );
        let no_perm = AuthRoleGrantPermissionRequest {
            name: "r".into(),
            perm: None,
        };
        assert_eq!(
            s.role_grant_permission(&no_perm),
            Err(EtcdError::PermissionNotGiven)
        );
    }

    #[test]
    fn key_checks_follow_the_users_roles() {
        let mut s = enabled();
        let alice = AuthInfo::user("alice", s.revision());
        assert_eq!(
            s.check_keys(&alice, b"foo", b"", Access::Read),
            Err(EtcdError::PermissionDenied)
        );
        grant(&mut s, "r", permission::Type::Read, "foo", "");
        let alice = AuthInfo::user("alice", s.revision());
        assert_eq!(s.check_keys(&alice, b"foo", b"", Access::Read), Ok(()));
        assert_eq!(
            s.check_keys(&alice, b"foo", b"", Access::Write),
            Err(EtcdError::PermissionDenied)
        );
        // Same key and range end: the type is replaced, not added.
        grant(&mut s, "r", permission::Type::Write, "foo", "");
        assert_eq!(s.role("r").unwrap().key_permission.len(), 1);
        let alice = AuthInfo::user("alice", s.revision());
        assert_eq!(
            s.check_keys(&alice, b"foo", b"", Access::Read),
            Err(EtcdError::PermissionDenied)
        );
        assert_eq!(s.check_keys(&alice, b"foo", b"", Access::Write), Ok(()));
        let root = AuthInfo::user(ROOT, s.revision());
        assert_eq!(s.check_keys(&root, b"", &[0], Access::Write), Ok(()));
    }

    #[test]
    fn stale_missing_or_absent_credentials_are_refused() {
        let mut s = enabled();
        grant(&mut s, "r", permission::Type::Readwrite, "a", "z");
        let old = AuthInfo::user("alice", s.revision() - 1);
        assert_eq!(
            s.check_keys(&old, b"b", b"", Access::Read),
            Err(EtcdError::AuthOldRevision)
        );
        let nobody = AuthInfo::anonymous();
        assert_eq!(
            s.check_keys(&nobody, b"b", b"", Access::Read),
            Err(EtcdError::UserEmpty)
        );
        assert_eq!(s.check_admin(&nobody), Err(EtcdError::UserEmpty));
        let ghost = AuthInfo::user("ghost", s.revision());
        assert_eq!(
            s.check_keys(&ghost, b"b", b"", Access::Read),
            Err(EtcdError::PermissionDenied)
        );
        assert_eq!(s.check_admin(&ghost), Err(EtcdError::UserNotFound));
        let alice = AuthInfo::user("alice", s.revision());
        assert_eq!(s.check_admin(&alice), Err(EtcdError::PermissionDenied));
        // With auth off everything passes.
        s.disable();
        assert_eq!(s.check_keys(&nobody, b"b", b"", Access::Write), Ok(()));
        assert_eq!(s.check_admin(&nobody), Ok(()));
    }

    #[test]
    fn deleting_a_role_takes_it_from_its_users() {
        let mut s = enabled();
        grant(&mut s, "r", permission::Type::Read, "foo", "");
        let records = s
            .role_delete(&AuthRoleDeleteRequest { role: "r".into() })
            .unwrap();
        assert!(s.user("alice").unwrap().roles.is_empty());
        assert!(
            records
                .iter()
                .any(|r| matches!(r, Record::User(n, Some(_)) if n == "alice"))
        );
        let alice = AuthInfo::user("alice", s.revision());
        assert_eq!(
            s.check_keys(&alice, b"foo", b"", Access::Read),
            Err(EtcdError::PermissionDenied)
        );
    }

    #[test]
    fn logins_need_auth_on_and_a_password_user() {
        let mut s = AuthState::default();
        user_add(&mut s, "alice");
        assert_eq!(
            s.check_login("alice").map(|_| ()),
            Err(EtcdError::AuthNotEnabled)
        );
        let mut s = enabled();
        s.user_add(&AuthUserAddRequest {
            name: "cn-only".into(),
            options: Some(UserAddOptions { no_password: true }),
            ..Default::default()
        })
        .unwrap();
        assert!(s.check_login("alice").is_ok());
        assert_eq!(
            s.check_login("cn-only").map(|_| ()),
            Err(EtcdError::NoPasswordUser)
        );
        assert_eq!(
            s.check_login("ghost").map(|_| ()),
            Err(EtcdError::AuthFailed)
        );
    }
}
