//! etcd's Auth service, and who a client request is for.
//!
//! Owns: resolving a request's credentials into an [`AuthInfo`] (etcd's
//! order: a `token` in the request's metadata, else with
//! `--client-cert-auth` the client certificate's common name, else nobody);
//! the seventeen Auth RPCs: changes are proposed through raft (passwords
//! hashed here first, so the clear text never enters the log) and checked
//! at apply; reads of the auth state wait for a linearizable read index and
//! check the caller against the state then; logins check the password off
//! the async workers, then propose the token every member registers.
//! Must never: log a password, hash or token.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use cairn_proto::etcdserverpb::auth_server::Auth;
use cairn_proto::etcdserverpb::*;
use cairn_proto::internal::Authenticate;
use cairn_proto::internal::request::Op;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::kv::{propose_for, propose_internal};
use super::node::fill_header;
use super::read::Reads;
use super::state::{AuthOutcome, Outcome, Shared};
use super::tls::ClientIdentity;
use crate::auth::tokens::{self, TokenProvider};
use crate::auth::{Access, AuthInfo};
use crate::etcd_error::EtcdError;
use crate::watch::Admission;

/// The metadata keys etcd reads a token from: gRPC clients send `token`,
/// the HTTP gateway `authorization`.
const TOKEN_KEYS: [&str; 2] = ["token", "authorization"];

/// How many times a login is tried again when the auth state changed
/// between checking its password and applying it.
const LOGIN_ATTEMPTS: usize = 5;

/// Who `request` is for (etcd's `AuthInfoFromCtx`, then the certificate).
/// A token that is not (or no longer) valid is an error even while auth
/// is off, as in etcd.
pub async fn requester<T>(shared: &Shared, request: &Request<T>) -> Result<AuthInfo, EtcdError> {
    let identity = request.extensions().get::<ClientIdentity>();
    resolve(shared, request.metadata(), identity).await
}

/// How long a member that has not yet applied the login a simple token
/// names waits for it before calling the token invalid.
const TOKEN_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(1);

/// [`requester`] from a request's parts. A simple token names the entry
/// that made it (`<prefix>.<index>`): a member that has not applied that
/// entry yet waits for it (a little), as etcd's members do, so a token
/// fresh from another member works here at once.
pub async fn resolve(
    shared: &Shared,
    metadata: &MetadataMap,
    identity: Option<&ClientIdentity>,
) -> Result<AuthInfo, EtcdError> {
    match requester_of(shared, metadata, identity) {
        Err(EtcdError::InvalidAuthToken) => {
            let index = TOKEN_KEYS
                .iter()
                .find_map(|k| metadata.get(*k))
                .and_then(|t| t.to_str().ok())
                .and_then(tokens::entry_index);
            let applied = shared
                .raft
                .applied
                .load(std::sync::atomic::Ordering::Acquire);
            match index {
                Some(index) if index > applied => {
                    let caught_up =
                        tokio::time::timeout(TOKEN_CATCH_UP, shared.wait_applied(index)).await;
                    if !matches!(caught_up, Ok(Ok(()))) {
                        return Err(EtcdError::InvalidAuthToken);
                    }
                    requester_of(shared, metadata, identity)
                }
                _ => Err(EtcdError::InvalidAuthToken),
            }
        }
        other => other,
    }
}

/// Who a request is for, from what this member knows now.
fn requester_of(
    shared: &Shared,
    metadata: &MetadataMap,
    identity: Option<&ClientIdentity>,
) -> Result<AuthInfo, EtcdError> {
    if let Some(token) = TOKEN_KEYS.iter().find_map(|k| metadata.get(*k)) {
        // A token is looked up even while auth is off (etcd 3.5's rule):
        // one from before auth was disabled is no longer valid.
        let token = token.to_str().map_err(|_| EtcdError::InvalidAuthToken)?;
        let revision = shared.auth().revision();
        let (user, revision) = shared
            .tokens
            .resolve(token, revision, Instant::now(), SystemTime::now())
            .ok_or(EtcdError::InvalidAuthToken)?;
        return Ok(AuthInfo::user(user, revision));
    }
    if shared.client_cert_auth {
        if let Some(cn) = identity.and_then(ClientIdentity::common_name) {
            return Ok(AuthInfo::user(cn, shared.auth().revision()));
        }
    }
    Ok(AuthInfo::anonymous())
}

/// Whether `metadata` carries a token.
pub(super) fn has_token(metadata: &MetadataMap) -> bool {
    TOKEN_KEYS.iter().any(|k| metadata.contains_key(*k))
}

/// The Watch service's permission check: a stream may watch what its
/// caller may read, judged at each create request with the stream's
/// credentials as they resolve then. Any failure to resolve them (a bad
/// token, nobody, stale credentials) refuses the watch, as in etcd.
pub fn watch_admission(shared: &Arc<Shared>) -> Admission {
    let shared = Arc::clone(shared);
    Arc::new(move |metadata, extensions| {
        let shared = Arc::clone(&shared);
        let metadata = metadata.clone();
        let identity = extensions.get::<ClientIdentity>().cloned();
        Box::new(move |req: &WatchCreateRequest| {
            let (shared, metadata) = (Arc::clone(&shared), metadata.clone());
            let identity = identity.clone();
            // The hub watches "\0" for an empty key; so is it checked.
            let key = if req.key.is_empty() {
                vec![0]
            } else {
                req.key.clone()
            };
            let range_end = req.range_end.clone();
            Box::pin(async move {
                if !shared.auth().enabled() && !has_token(&metadata) {
                    return true;
                }
                let Ok(who) = resolve(&shared, &metadata, identity.as_ref()).await else {
                    return false;
                };
                shared
                    .auth()
                    .check_keys(&who, &key, &range_end, Access::Read)
                    .is_ok()
            })
        })
    })
}

/// Serves the Auth service of one member.
#[derive(Debug, Clone)]
pub struct AuthService {
    shared: Arc<Shared>,
    reads: Reads,
}

impl AuthService {
    pub fn new(shared: Arc<Shared>, reads: Reads) -> AuthService {
        AuthService { shared, reads }
    }

    /// Proposes an auth change for `who` and hands back its answer.
    async fn change(&self, op: Op, who: &AuthInfo) -> Result<AuthOutcome, Status> {
        match propose_for(&self.shared, op, who).await? {
            Outcome::Auth(outcome) => Ok(outcome),
            other => Err(Status::internal(format!("unexpected outcome {other:?}"))),
        }
    }

    /// Waits for a linearizable read index, then returns the caller and
    /// the auth state as of it.
    async fn read<T>(
        &self,
        request: &Request<T>,
    ) -> Result<(AuthInfo, Arc<crate::auth::AuthState>), Status> {
        let who = requester(&self.shared, request).await?;
        self.reads.linearizable().await?;
        Ok((who, self.shared.auth()))
    }

    fn header(&self) -> Option<ResponseHeader> {
        let mut header = None;
        fill_header(&self.shared, &mut header);
        header
    }

    /// Hashes a password on the blocking pool.
    async fn hash(&self, password: String) -> Result<String, Status> {
        self.shared
            .passwords
            .hash(password)
            .await
            .map_err(|e| Status::internal(format!("hashing the password: {e}")))
    }
}

/// Unwraps the one outcome shape an auth change can have, filling the
/// header.
macro_rules! answer {
    ($self:ident, $outcome:expr, $variant:ident) => {
        match $outcome {
            AuthOutcome::$variant(mut resp) => {
                resp.header = $self.header();
                Ok(Response::new(resp))
            }
            other => Err(Status::internal(format!("unexpected outcome {other:?}"))),
        }
    };
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_enable(
        &self,
        request: Request<AuthEnableRequest>,
    ) -> Result<Response<AuthEnableResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let outcome = self
            .change(Op::AuthEnable(request.into_inner()), &who)
            .await?;
        answer!(self, outcome, Enable)
    }

    async fn auth_disable(
        &self,
        request: Request<AuthDisableRequest>,
    ) -> Result<Response<AuthDisableResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let outcome = self
            .change(Op::AuthDisable(request.into_inner()), &who)
            .await?;
        answer!(self, outcome, Disable)
    }

    async fn auth_status(
        &self,
        request: Request<AuthStatusRequest>,
    ) -> Result<Response<AuthStatusResponse>, Status> {
        let (who, auth) = self.read(&request).await?;
        auth.check_admin(&who)?;
        Ok(Response::new(AuthStatusResponse {
            header: self.header(),
            enabled: auth.enabled(),
            auth_revision: auth.revision(),
        }))
    }

    async fn authenticate(
        &self,
        request: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        let r = request.into_inner();
        self.reads.linearizable().await?;
        for _ in 0..LOGIN_ATTEMPTS {
            let auth = self.shared.auth();
            let hash = auth.check_login(&r.name)?.password.clone();
            let password = r.password.clone();
            let matches = self.shared.passwords.matches(password, hash).await;
            if !matches {
                tracing::warn!(user = %r.name, "authentication failed: wrong password");
                return Err(EtcdError::AuthFailed.into());
            }
            match &self.shared.tokens {
                // etcd hands out no token then: every login fails.
                TokenProvider::Off => return Err(EtcdError::AuthFailed.into()),
                TokenProvider::Jwt(jwt) if jwt.verify_only() => {
                    return Err(EtcdError::JwtVerifyOnly.into());
                }
                _ => {}
            }
            let login = Authenticate {
                name: r.name.clone(),
                token_prefix: tokens::new_prefix(),
            };
            let outcome = propose_internal(&self.shared, Op::Authenticate(login)).await?;
            match outcome {
                // The password was checked against this very auth state.
                Outcome::Auth(AuthOutcome::Authenticate(mut resp, at)) if at == auth.revision() => {
                    // A JWT is signed here, for the revision the login
                    // was applied under; a simple token came from the
                    // entry.
                    if let TokenProvider::Jwt(jwt) = &self.shared.tokens {
                        resp.token = jwt
                            .sign(&r.name, at, SystemTime::now())
                            .map_err(|e| Status::internal(e.to_string()))?;
                    }
                    resp.header = self.header();
                    return Ok(Response::new(resp));
                }
                // Users changed in between (perhaps this password): check
                // it again.
                Outcome::Auth(AuthOutcome::Authenticate(..)) => continue,
                other => return Err(Status::internal(format!("unexpected outcome {other:?}"))),
            }
        }
        Err(EtcdError::AuthOldRevision.into())
    }

    async fn user_add(
        &self,
        request: Request<AuthUserAddRequest>,
    ) -> Result<Response<AuthUserAddResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let mut r = request.into_inner();
        let no_password = r.options.is_some_and(|o| o.no_password);
        let password = std::mem::take(&mut r.password);
        r.hashed_password = if no_password {
            String::new()
        } else {
            self.hash(password).await?
        };
        let outcome = self.change(Op::UserAdd(r), &who).await?;
        answer!(self, outcome, UserAdd)
    }

    async fn user_get(
        &self,
        request: Request<AuthUserGetRequest>,
    ) -> Result<Response<AuthUserGetResponse>, Status> {
        let (who, auth) = self.read(&request).await?;
        let r = request.into_inner();
        // A user may read its own record.
        if let Err(e) = auth.check_admin(&who) {
            if who.user != r.name {
                return Err(e.into());
            }
        }
        let user = auth.user(&r.name).ok_or(EtcdError::UserNotFound)?;
        Ok(Response::new(AuthUserGetResponse {
            header: self.header(),
            roles: user.roles.clone(),
        }))
    }

    async fn user_list(
        &self,
        request: Request<AuthUserListRequest>,
    ) -> Result<Response<AuthUserListResponse>, Status> {
        let (who, auth) = self.read(&request).await?;
        auth.check_admin(&who)?;
        Ok(Response::new(AuthUserListResponse {
            header: self.header(),
            users: auth.user_names(),
        }))
    }

    async fn user_delete(
        &self,
        request: Request<AuthUserDeleteRequest>,
    ) -> Result<Response<AuthUserDeleteResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let outcome = self
            .change(Op::UserDelete(request.into_inner()), &who)
            .await?;
        answer!(self, outcome, UserDelete)
    }

    async fn user_change_password(
        &self,
        request: Request<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let mut r = request.into_inner();
        // An empty password leaves no password anyone can log in with.
        let password = std::mem::take(&mut r.password);
        r.hashed_password = if password.is_empty() {
            String::new()
        } else {
            self.hash(password).await?
        };
        let outcome = self.change(Op::UserChangePassword(r), &who).await?;
        answer!(self, outcome, UserChangePassword)
    }

    async fn user_grant_role(
        &self,
        request: Request<AuthUserGrantRoleRequest>,
    ) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let outcome = self
            .change(Op::UserGrantRole(request.into_inner()), &who)
            .await?;
        answer!(self, outcome, UserGrantRole)
    }

    async fn user_revoke_role(
        &self,
        request: Request<AuthUserRevokeRoleRequest>,
    ) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let outcome = self
            .change(Op::UserRevokeRole(request.into_inner()), &who)
            .await?;
        answer!(self, outcome, UserRevokeRole)
    }

    async fn role_add(
        &self,
        request: Request<AuthRoleAddRequest>,
    ) -> Result<Response<AuthRoleAddResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let outcome = self.change(Op::RoleAdd(request.into_inner()), &who).await?;
        answer!(self, outcome, RoleAdd)
    }

    async fn role_get(
        &self,
        request: Request<AuthRoleGetRequest>,
    ) -> Result<Response<AuthRoleGetResponse>, Status> {
        let (who, auth) = self.read(&request).await?;
        let r = request.into_inner();
        // A user may read the roles it holds.
        if let Err(e) = auth.check_admin(&who) {
            if !auth.has_role(&who.user, &r.role) {
                return Err(e.into());
            }
        }
        // The root role's record (if any) is shown as stored, without
        // the rights the role name itself gives (etcd 3.5.1).
        let role = auth.role(&r.role).ok_or(EtcdError::RoleNotFound)?;
        Ok(Response::new(AuthRoleGetResponse {
            header: self.header(),
            perm: role.key_permission.clone(),
        }))
    }

    async fn role_list(
        &self,
        request: Request<AuthRoleListRequest>,
    ) -> Result<Response<AuthRoleListResponse>, Status> {
        let (who, auth) = self.read(&request).await?;
        auth.check_admin(&who)?;
        Ok(Response::new(AuthRoleListResponse {
            header: self.header(),
            roles: auth.role_names(),
        }))
    }

    async fn role_delete(
        &self,
        request: Request<AuthRoleDeleteRequest>,
    ) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let outcome = self
            .change(Op::RoleDelete(request.into_inner()), &who)
            .await?;
        answer!(self, outcome, RoleDelete)
    }

    async fn role_grant_permission(
        &self,
        request: Request<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let outcome = self
            .change(Op::RoleGrantPermission(request.into_inner()), &who)
            .await?;
        answer!(self, outcome, RoleGrantPermission)
    }

    async fn role_revoke_permission(
        &self,
        request: Request<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let outcome = self
            .change(Op::RoleRevokePermission(request.into_inner()), &who)
            .await?;
        answer!(self, outcome, RoleRevokePermission)
    }
}
