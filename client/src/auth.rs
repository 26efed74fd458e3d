//! Logging in: the user's token, fetched with Auth/Authenticate and sent as
//! gRPC metadata `token` on every call, and fetched again when the server
//! says it no longer holds.
//!
//! It behaves as etcd's Go client (v3.5) does, which operators' scripts and
//! servers alike expect:
//!
//! - A user counts only with both a name and a password; otherwise the
//!   client sends no token at all (etcd's client does the same, so
//!   `--user root:` reaches the server as an anonymous client).
//! - The first call logs in. If the server answers that authentication is
//!   not enabled, the client goes on without a token.
//! - A unary call refused with "invalid auth token" (the token expired or
//!   the member does not know it), "revision of auth store is old" (the
//!   call was authorised against auth state that changed before it was
//!   applied, so it was not applied) or "user name is empty" (no token was
//!   sent: auth was enabled after the client started) is sent again after
//!   a new login, at most [`MAX_REFRESHES`] times. Other auth errors are
//!   the caller's.
//! - Every stream (watch, keep-alive, snapshot) opens with a token fetched
//!   just before, as etcd's client does: a watch created with a stale token
//!   is refused as "permission denied", which cannot be told from a real
//!   refusal, so a stream never risks one.
//!
//! Tokens are not tied to an endpoint: etcd's simple tokens are known to
//! every member (the login goes through raft) and JWTs are checked by each
//! member alone, so one token serves the whole cluster. But a member learns
//! a simple token only when it applies the login, a little after the member
//! that answered it: so a new login goes to the member that is about to be
//! used (the one that refused the token, or the one a stream opens on), and
//! the refused call is sent there again. A member that does not know a
//! token (after its restart) answers "invalid auth token", which the
//! refresh covers.
//!
//! Invariant: one login runs at a time; a caller that saw a token refused
//! logs in again only if nobody replaced that token since it was handed
//! out ([`Stamp::generation`]), so a burst of refusals costs one login.

use std::sync::Mutex;

use tonic::Code;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::config::User;
use super::error::Error;

/// How many times one call may log in again after its token was refused.
pub const MAX_REFRESHES: u32 = 2;

/// etcd's message for a token it does not hold (expired, unknown).
pub const INVALID_TOKEN: &str = "etcdserver: invalid auth token";
/// etcd's message for a request checked against older auth state (from
/// 3.5.2 on, code `InvalidArgument`).
pub const OLD_REVISION: &str = "etcdserver: revision of auth store is old";
/// The same refusal as etcd 3.5.0 and 3.5.1 word it (code `Unknown`: their
/// error table misses it).
pub const OLD_REVISION_3_5_1: &str = "auth: revision in header is old";
/// etcd's message for a request without a token while auth is enabled.
pub const USER_EMPTY: &str = "etcdserver: user name is empty";
/// etcd's answer to a login when auth is disabled.
pub const NOT_ENABLED: &str = "etcdserver: authentication is not enabled";

/// A channel that sends the token it was made with on every request.
pub type AuthChannel = InterceptedService<Channel, TokenInterceptor>;

/// Puts `token` in each request's metadata (nothing without one).
#[derive(Debug, Clone, Default)]
pub struct TokenInterceptor {
    token: Option<AsciiMetadataValue>,
}

impl Interceptor for TokenInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.token {
            req.metadata_mut().insert("token", token.clone());
        }
        Ok(req)
    }
}

/// `channel` sending `token`.
pub fn with_token(channel: Channel, token: Option<AsciiMetadataValue>) -> AuthChannel {
    InterceptedService::new(channel, TokenInterceptor { token })
}

/// The token handed out for one attempt, and which login produced it.
#[derive(Debug, Clone, Default)]
pub struct Stamp {
    pub token: Option<AsciiMetadataValue>,
    pub generation: u64,
}

/// Whether the server refused a call in a way a new login can fix.
pub fn needs_new_token(status: &tonic::Status, has_user: bool) -> bool {
    if !has_user {
        return false;
    }
    match status.code() {
        Code::Unauthenticated => status.message() == INVALID_TOKEN,
        Code::InvalidArgument => status.message() == OLD_REVISION || status.message() == USER_EMPTY,
        Code::Unknown => status.message() == OLD_REVISION_3_5_1,
        _ => false,
    }
}

/// Whether a login failed only because auth is off.
pub fn auth_disabled(status: &tonic::Status) -> bool {
    status.code() == Code::FailedPrecondition && status.message() == NOT_ENABLED
}

/// The client's login state.
#[derive(Debug)]
pub struct Auth {
    user: Option<User>,
    state: Mutex<State>,
    /// Held for the length of one login.
    login: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    stamp: Stamp,
    /// A login has been tried (successfully, or auth was off).
    tried: bool,
}

impl Auth {
    /// The login state of a client configured with `user`; a user without
    /// a name or a password is no user (see the module docs).
    pub fn new(user: Option<User>) -> Auth {
        Auth {
            user: user.filter(|u| !u.name.is_empty() && !u.password.is_empty()),
            state: Mutex::new(State::default()),
            login: tokio::sync::Mutex::new(()),
        }
    }

    /// The user the client logs in as.
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// The token for the next attempt; logs in first if nobody has yet
    /// (`login` runs Authenticate). A failure of that first login is
    /// [`Error::Login`].
    pub async fn stamp<F, Fut>(&self, login: F) -> Result<Stamp, Error>
    where
        F: FnOnce(User) -> Fut,
        Fut: Future<Output = Result<String, Error>>,
    {
        let Some(user) = &self.user else {
            return Ok(Stamp::default());
        };
        {
            let state = self.state.lock().expect("auth state lock");
            if state.tried {
                return Ok(state.stamp.clone());
            }
        }
        let _one = self.login.lock().await;
        let seen = {
            let state = self.state.lock().expect("auth state lock");
            if state.tried {
                return Ok(state.stamp.clone());
            }
            state.stamp.generation
        };
        self.run_login(user.clone(), seen, login)
            .await
            .map_err(|e| Error::Login(Box::new(e)))
    }

    /// Logs in again after the token of `seen` was refused, unless another
    /// caller already replaced it.
    pub async fn refresh<F, Fut>(&self, seen: u64, login: F) -> Result<Stamp, Error>
    where
        F: FnOnce(User) -> Fut,
        Fut: Future<Output = Result<String, Error>>,
    {
        let Some(user) = &self.user else {
            return Ok(Stamp::default());
        };
        let _one = self.login.lock().await;
        {
            let state = self.state.lock().expect("auth state lock");
            if state.stamp.generation != seen {
                return Ok(state.stamp.clone());
            }
        }
        self.run_login(user.clone(), seen, login).await
    }

    /// A token fetched now, for a stream about to open (see the module
    /// docs); none without a user.
    pub async fn fresh<F, Fut>(&self, login: F) -> Result<Stamp, Error>
    where
        F: FnOnce(User) -> Fut,
        Fut: Future<Output = Result<String, Error>>,
    {
        let Some(user) = &self.user else {
            return Ok(Stamp::default());
        };
        let _one = self.login.lock().await;
        let (seen, tried) = {
            let state = self.state.lock().expect("auth state lock");
            (state.stamp.generation, state.tried)
        };
        let stamp = self.run_login(user.clone(), seen, login).await;
        if tried {
            stamp
        } else {
            stamp.map_err(|e| Error::Login(Box::new(e)))
        }
    }

    async fn run_login<F, Fut>(&self, user: User, seen: u64, login: F) -> Result<Stamp, Error>
    where
        F: FnOnce(User) -> Fut,
        Fut: Future<Output = Result<String, Error>>,
    {
        let token =
            match login(user).await {
                Ok(token) => Some(MetadataValue::try_from(token.as_str()).map_err(|_| {
                    Error::Stream("the server sent a token that is not ASCII".into())
                })?),
                Err(Error::Server(status)) if auth_disabled(&status) => None,
                Err(e) => return Err(e),
            };
        let mut state = self.state.lock().expect("auth state lock");
        state.stamp = Stamp {
            token,
            generation: seen + 1,
        };
        state.tried = true;
        Ok(state.stamp.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn user() -> Option<User> {
        Some(User {
            name: "root".into(),
            password: "pw".into(),
        })
    }

    #[test]
    fn only_token_problems_call_for_a_new_login() {
        let invalid = tonic::Status::unauthenticated(INVALID_TOKEN);
        let old = tonic::Status::invalid_argument(OLD_REVISION);
        let empty = tonic::Status::invalid_argument(USER_EMPTY);
        let old_3_5_1 = tonic::Status::unknown(OLD_REVISION_3_5_1);
        let denied = tonic::Status::permission_denied("etcdserver: permission denied");
        let failed = tonic::Status::invalid_argument(
            "etcdserver: authentication failed, invalid user ID or password",
        );
        for s in [&invalid, &old, &empty, &old_3_5_1] {
            assert!(needs_new_token(s, true), "{s:?}");
            assert!(!needs_new_token(s, false), "{s:?} without a user");
        }
        assert!(!needs_new_token(&denied, true));
        assert!(!needs_new_token(&failed, true));
    }

    #[test]
    fn a_user_needs_a_name_and_a_password() {
        let half = |name: &str, password: &str| {
            Auth::new(Some(User {
                name: name.into(),
                password: password.into(),
            }))
            .user()
            .is_none()
        };
        assert!(half("root", ""));
        assert!(half("", "pw"));
        assert!(!half("root", "pw"));
    }

    #[tokio::test]
    async fn logs_in_once_and_again_only_for_a_refused_token() {
        let auth = Auth::new(user());
        let logins = Arc::new(AtomicU32::new(0));
        let login = |_| {
            let logins = Arc::clone(&logins);
            async move {
                let n = logins.fetch_add(1, Ordering::SeqCst);
                Ok(format!("token-{n}"))
            }
        };
        let first = auth.stamp(login).await.unwrap();
        assert_eq!(first.token.as_ref().unwrap(), "token-0");
        let again = auth.stamp(login).await.unwrap();
        assert_eq!(again.generation, first.generation);
        // Two callers saw the same token refused: one login between them.
        let a = auth.refresh(first.generation, login).await.unwrap();
        let b = auth.refresh(first.generation, login).await.unwrap();
        assert_eq!(a.token.as_ref().unwrap(), "token-1");
        assert_eq!(b.generation, a.generation);
        assert_eq!(logins.load(Ordering::SeqCst), 2);
        // A stream always gets a new one.
        let s = auth.fresh(login).await.unwrap();
        assert_eq!(s.token.as_ref().unwrap(), "token-2");
    }

    #[tokio::test]
    async fn auth_disabled_means_no_token() {
        let auth = Auth::new(user());
        let stamp = auth
            .stamp(|_| async {
                Err(Error::Server(tonic::Status::failed_precondition(
                    NOT_ENABLED,
                )))
            })
            .await
            .unwrap();
        assert!(stamp.token.is_none());
        let failed = Auth::new(user())
            .stamp(|_| async {
                Err(Error::Server(tonic::Status::invalid_argument(
                    "etcdserver: authentication failed, invalid user ID or password",
                )))
            })
            .await;
        assert!(matches!(failed, Err(Error::Login(_))), "{failed:?}");
    }

    #[tokio::test]
    async fn no_user_no_login() {
        let auth = Auth::new(None);
        let stamp = auth
            .stamp(|_| async { panic!("no login without a user") })
            .await
            .unwrap();
        assert!(stamp.token.is_none());
    }
}
