//! The auth batch's part of a run: users and roles set up before the
//! traffic, the workload's logins, the prober (callers without the right
//! ask for reads, writes, flat and nested Txns, watches and lease calls
//! on the workload's keys, and each must be refused as etcd refuses it),
//! root revoking and granting one writer's role while faults happen, and
//! the checks.
//!
//! The users (bcrypt cost 4: logins are frequent, after every restart):
//! * root: the root role. The run's own calls (final reads, HashKV,
//!   move-leader) and the role changes.
//! * alice: read-write on the workload's keys (`k` to `l`); three
//!   workload clients, every watch, and the keys `k/lease/…` that the
//!   prober attaches to the leases it probes.
//! * bob: the same role, revoked and granted again by root every second
//!   or two; the fourth workload client.
//! * rita: read on `k0`, `k1`, `k2` only; her reads there join the
//!   history (with alice's `k/lease/…` puts, under each prober's client
//!   id), everything else she asks is refused.
//! * nora: no role.
//!
//! and two callers that are no user: no token (with TLS, a client
//! certificate whose common name names no user) and a made-up token.
//!
//! The checks, each by name:
//! * `auth-bypass`: a probe was answered (a value, a revision, a watch
//!   created, a lease's keys).
//! * `auth-refusal`: a probe was refused with another code or message
//!   than etcd's for that caller.
//! * `auth-leak`: a value that a refused write carried (every probe's,
//!   and every workload write refused for its credentials) shows up in
//!   a read, a watch event, the final reads or the final scan of the
//!   whole store.
//! * `auth-lease-revoked`: a key on a lease that only refused callers
//!   tried to revoke is gone at the end.
//! * `auth-revoked-role`: bob got through while his role was surely
//!   revoked (his call began after root's revoke was acknowledged and
//!   ended before the next grant was sent).
//! * `auth-wrongly-refused`: a permitted call was refused with
//!   "permission denied" (alice's or rita's, or bob's while his role
//!   was surely granted).
//! * `auth-probes`: too few probes were refused for the run to show
//!   anything.
//!
//! Serializable reads are left out of bob's windows: a lagging member
//! judges them against the auth state it has applied, as etcd does.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cairn_proto::authpb::{Permission, permission};
use cairn_proto::etcdserverpb::auth_client::AuthClient;
use cairn_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use cairn_proto::etcdserverpb::kv_client::KvClient;
use cairn_proto::etcdserverpb::lease_client::LeaseClient;
use cairn_proto::etcdserverpb::watch_client::WatchClient;
use cairn_proto::etcdserverpb::watch_request::RequestUnion;
use cairn_proto::etcdserverpb::{
    AuthEnableRequest, AuthRoleAddRequest, AuthRoleGrantPermissionRequest, AuthUserAddRequest,
    AuthUserGrantRoleRequest, AuthUserRevokeRoleRequest, AuthenticateRequest, Compare,
    DeleteRangeRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest, PutRequest, RangeRequest,
    RequestOp, TxnRequest, WatchCreateRequest, WatchRequest, request_op,
};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tonic::Code;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::history::{
    Caller, Flip, Got, History, Kv, LeasedKey, Op, Outcome, Probe, Request, Response,
};
use super::linearize::Violation;
use super::run::{self, CALL_TIMEOUT, Recorder};
use super::support::cluster::Cluster;

/// How members hand out tokens in an auth run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Simple tokens with etcd's default TTL (5 minutes): only restarts
    /// make clients log in again.
    Simple,
    /// Simple tokens that die after 2 s unused: clients that wait out a
    /// fault, or move to another member, log in again.
    ShortTtl,
    /// JWTs (ES256) living 5 s, refused after every auth change too.
    Jwt,
}

impl AuthMode {
    /// The mode a seed runs in, so a seed replays the same way.
    pub fn of_seed(seed: u64) -> AuthMode {
        [AuthMode::Simple, AuthMode::ShortTtl, AuthMode::Jwt][(seed % 3) as usize]
    }

    /// Every member's auth flags; JWT keys are written into `dir`.
    pub fn flags(self, dir: &std::path::Path) -> Vec<String> {
        let mut flags = vec!["--bcrypt-cost=4".to_owned()];
        match self {
            AuthMode::Simple => {}
            AuthMode::ShortTtl => flags.push("--auth-token-ttl=2".into()),
            AuthMode::Jwt => {
                let key = rcgen::KeyPair::generate().expect("a P-256 key");
                let private = dir.join("jwt.key");
                let public = dir.join("jwt.pub");
                std::fs::write(&private, key.serialize_pem()).expect("write the JWT key");
                std::fs::write(&public, key.public_key_pem()).expect("write the JWT key");
                flags.push(format!(
                    "--auth-token=jwt,pub-key={},priv-key={},sign-method=ES256,ttl=5s",
                    public.display(),
                    private.display()
                ));
            }
        }
        flags
    }
}

impl std::fmt::Display for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthMode::Simple => "simple tokens",
            AuthMode::ShortTtl => "simple tokens, 2 s TTL",
            AuthMode::Jwt => "JWTs, 5 s TTL",
        })
    }
}

type Login = (&'static str, &'static str);
pub const ROOT: Login = ("root", "rootpw");
pub const ALICE: Login = ("alice", "alicepw");
pub const BOB: Login = ("bob", "bobpw");
const RITA: Login = ("rita", "ritapw");
const NORA: Login = ("nora", "norapw");
/// The role alice and bob hold.
const WRITERS: &str = "writers";

/// The workload client that runs as bob: the last of the run's four.
pub const BOB_CLIENT: usize = 3;
/// The history's client id of the first prober's calls (after the four
/// clients, the full watch and the watch opener); the others follow.
pub const FIRST_PROBER_CLIENT: usize = 6;
/// Probers running at once: one waiting on a member that is down does
/// not stop the probing.
pub const PROBERS: usize = 3;

/// etcd's refusals, as code and message.
const DENIED: (Code, &str) = (Code::PermissionDenied, "etcdserver: permission denied");
const USER_EMPTY: (Code, &str) = (Code::InvalidArgument, "etcdserver: user name is empty");
const BAD_TOKEN: (Code, &str) = (Code::Unauthenticated, "etcdserver: invalid auth token");
const OLD_REVISION: (Code, &str) = (
    Code::InvalidArgument,
    "etcdserver: revision of auth store is old",
);
/// A watch refused at creation is cancelled with this reason, whatever
/// was wrong with its credentials.
const WATCH_DENIED: &str =
    "rpc error: code = PermissionDenied desc = etcdserver: permission denied";
/// Fewer probes refused than this and the run showed nothing.
const MIN_REFUSED: usize = 20;

/// A token for every call a gRPC client makes (none outside auth runs).
#[derive(Debug, Clone, Default)]
pub struct Token(Option<MetadataValue<Ascii>>);

impl Token {
    fn new(token: &str) -> Token {
        Token(Some(token.parse().expect("a token is ASCII")))
    }
}

impl Interceptor for Token {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(t) = &self.0 {
            req.metadata_mut().insert("token", t.clone());
        }
        Ok(req)
    }
}

/// Who one task's calls are made as: a user and its current token, or
/// nobody (runs without auth, where no call carries a token).
#[derive(Debug, Clone, Default)]
pub struct Session {
    login: Option<Login>,
    token: Option<Token>,
}

impl Session {
    pub fn user(login: Login) -> Session {
        Session {
            login: Some(login),
            token: None,
        }
    }

    /// `login` in an auth run, nobody otherwise.
    pub fn of(auth: bool, login: Login) -> Session {
        if auth {
            Session::user(login)
        } else {
            Session::default()
        }
    }

    /// The token to send, logging in on `ch` first if there is none.
    pub async fn token(&mut self, ch: &Channel) -> Result<Token, String> {
        let Some((name, password)) = self.login else {
            return Ok(Token::default());
        };
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        let mut auth = AuthClient::new(ch.clone());
        let login = auth.authenticate(AuthenticateRequest {
            name: name.into(),
            password: password.into(),
        });
        let token = tokio::time::timeout(CALL_TIMEOUT, login)
            .await
            .map_err(|_| "login timed out".to_owned())?
            .map_err(|e| format!("login: {}", e.message()))?
            .into_inner()
            .token;
        let token = Token::new(&token);
        self.token = Some(token.clone());
        Ok(token)
    }

    /// Forgets the token if `message` (a refusal's) says it no longer
    /// serves: unknown or expired here, or from before an auth change.
    pub fn note(&mut self, message: &str) {
        if [BAD_TOKEN.1, OLD_REVISION.1]
            .iter()
            .any(|m| message.contains(m))
        {
            self.token = None;
        }
    }

    /// Forgets the token (a watch was refused: the reason does not say
    /// why).
    pub fn forget(&mut self) {
        self.token = None;
    }
}

/// Whether a watch's error is a refusal at its creation.
pub fn refused_watch(error: &str) -> bool {
    error.contains(WATCH_DENIED)
}

/// Users, roles and permissions, then auth on. Sent to member 0 before
/// any traffic, while auth is still off.
pub async fn set_up(ch: &Channel) -> Result<(), String> {
    let mut auth = AuthClient::new(ch.clone());
    let e = |what: &str, s: tonic::Status| format!("auth set-up: {what}: {}", s.message());
    for (name, password) in [ROOT, ALICE, BOB, RITA, NORA] {
        auth.user_add(AuthUserAddRequest {
            name: name.into(),
            password: password.into(),
            ..Default::default()
        })
        .await
        .map_err(|s| e("user add", s))?;
    }
    let grants: [(&str, permission::Type, &[u8], &[u8]); 2] = [
        (WRITERS, permission::Type::Readwrite, b"k", b"l"),
        ("readers", permission::Type::Read, b"k0", b"k3"),
    ];
    for (role, perm, key, end) in grants {
        let _ = auth
            .role_add(AuthRoleAddRequest { name: role.into() })
            .await;
        auth.role_grant_permission(AuthRoleGrantPermissionRequest {
            name: role.into(),
            perm: Some(Permission {
                perm_type: perm as i32,
                key: key.to_vec(),
                range_end: end.to_vec(),
            }),
        })
        .await
        .map_err(|s| e("grant permission", s))?;
    }
    for (user, role) in [
        (ROOT.0, "root"),
        (ALICE.0, WRITERS),
        (BOB.0, WRITERS),
        (RITA.0, "readers"),
    ] {
        auth.user_grant_role(AuthUserGrantRoleRequest {
            user: user.into(),
            role: role.into(),
        })
        .await
        .map_err(|s| e("grant role", s))?;
    }
    auth.auth_enable(AuthEnableRequest {})
        .await
        .map_err(|s| e("enable", s))?;
    Ok(())
}

/// With TLS on the client port: channels presenting the certificate
/// whose common name names no user.
pub fn ghost_channels(cluster: &Cluster) -> Option<Vec<Channel>> {
    let tls = cluster.tls()?;
    let read = |p: &std::path::Path| std::fs::read(p).expect("read a test PEM file");
    let config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(&tls.pki.ca)))
        .identity(Identity::from_pem(
            read(&tls.pki.ghost.cert),
            read(&tls.pki.ghost.key),
        ));
    Some(
        (0..cluster.size())
            .map(|i| {
                Endpoint::from_shared(cluster.client_url(i))
                    .expect("a client URL")
                    .tls_config(config.clone())
                    .expect("client TLS settings")
                    .connect_timeout(Duration::from_secs(1))
                    .connect_lazy()
            })
            .collect(),
    )
}

/// Root revokes bob's role and grants it back, again and again, each
/// change retried until acknowledged, until the traffic stops.
pub async fn flipper(channels: Vec<Channel>, rec: Arc<Recorder>, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut root = Session::user(ROOT);
    let mut granted = true;
    let mut member = 0;
    while !rec.stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(700..2000))).await;
        granted = !granted;
        let mut flip = Flip {
            granted,
            call: rec.clock.now(),
            ack: None,
        };
        while !rec.stop.load(Ordering::Relaxed) {
            let ch = &channels[member];
            let result = match root.token(ch).await {
                Ok(token) => {
                    let mut auth = AuthClient::with_interceptor(ch.clone(), token);
                    let call = async {
                        if granted {
                            auth.user_grant_role(AuthUserGrantRoleRequest {
                                user: BOB.0.into(),
                                role: WRITERS.into(),
                            })
                            .await
                            .map(drop)
                        } else {
                            auth.user_revoke_role(AuthUserRevokeRoleRequest {
                                name: BOB.0.into(),
                                role: WRITERS.into(),
                            })
                            .await
                            .map(drop)
                        }
                    };
                    match tokio::time::timeout(CALL_TIMEOUT, call).await {
                        Ok(Ok(())) => Ok(()),
                        // An earlier attempt of this revoke was applied.
                        Ok(Err(s)) if s.message().contains("role is not granted") => Ok(()),
                        Ok(Err(s)) => Err(s.message().to_owned()),
                        Err(_) => Err("timed out".to_owned()),
                    }
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    flip.ack = Some(rec.clock.now());
                    break;
                }
                Err(e) => {
                    root.note(&e);
                    member = (member + 1) % channels.len();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        rec.flips.lock().expect("flips").push(flip);
    }
}

/// One request of the prober.
#[derive(Debug, Clone)]
enum Ask {
    Put {
        key: String,
    },
    Get {
        key: String,
        serializable: bool,
    },
    /// A range over `key`..`end`.
    Range {
        key: String,
        end: String,
    },
    Delete {
        key: String,
    },
    /// Compares and reads a readable key, writes `key` in one branch.
    Txn {
        readable: String,
        key: String,
    },
    /// The write to `key` `depth` Txns down, every level around it
    /// reading only `readable`.
    Nested {
        readable: String,
        key: String,
        depth: usize,
        put: bool,
    },
    /// A watch of `key`..`end` from revision 1.
    Watch {
        key: String,
        end: String,
    },
    Revoke {
        lease: i64,
    },
    TimeToLive {
        lease: i64,
    },
}

/// Requests no caller of prober `id` may make, each recorded with how it
/// came out; a fifth of the time instead one of rita's permitted reads,
/// recorded in the history. Leases whose keys the callers may not write
/// are made by alice as the probes need them.
pub async fn prober(
    id: usize,
    channels: Vec<Channel>,
    ghosts: Option<Vec<Channel>>,
    rec: Arc<Recorder>,
    seed: u64,
) {
    let client = FIRST_PROBER_CLIENT + id;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut rita, mut nora, mut alice) = (
        Session::user(RITA),
        Session::user(NORA),
        Session::user(ALICE),
    );
    let mut lease: Option<(i64, usize)> = None;
    let mut seq = 0u64;
    while !rec.stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(10..60))).await;
        seq += 1;
        let member = rng.random_range(0..channels.len());
        let ch = &channels[member];
        if rng.random_bool(0.2) {
            rita_reads(ch, client, member, &mut rita, &rec, &mut rng).await;
            continue;
        }
        let caller = *[
            Caller::Nobody,
            Caller::MadeUp,
            Caller::NoRoles,
            Caller::ReadOnly,
        ]
        .choose(&mut rng)
        .expect("callers");
        let (caller, ch, token) = match caller {
            Caller::Nobody => match &ghosts {
                Some(g) => (Caller::Ghost, &g[member], Token::default()),
                None => (Caller::Nobody, ch, Token::default()),
            },
            Caller::MadeUp => (caller, ch, Token::new("NoSuchToken.1")),
            Caller::NoRoles | Caller::ReadOnly => {
                let session = if caller == Caller::NoRoles {
                    &mut nora
                } else {
                    &mut rita
                };
                match session.token(ch).await {
                    Ok(t) => (caller, ch, t),
                    Err(_) => continue,
                }
            }
            Caller::Ghost => unreachable!("chosen for Nobody under TLS"),
        };
        // Keys the caller may not read (rita reads k0..k2), may not write
        // (any), and one it may read.
        let unreadable = format!(
            "k{}",
            if caller == Caller::ReadOnly {
                rng.random_range(3..6)
            } else {
                rng.random_range(0..6)
            }
        );
        let key = format!("k{}", rng.random_range(0..6));
        let readable = format!("k{}", rng.random_range(0..3));
        let ask = match rng.random_range(0..100) {
            0..15 => Ask::Put { key },
            15..25 => Ask::Get {
                key: unreadable,
                serializable: rng.random_bool(0.3),
            },
            25..30 => Ask::Range {
                key: if rng.random_bool(0.5) { "k" } else { "k0" }.into(),
                end: if rng.random_bool(0.5) { "l" } else { "k4" }.into(),
            },
            30..40 => Ask::Delete { key },
            40..52 => Ask::Txn { readable, key },
            52..70 => Ask::Nested {
                readable,
                key,
                depth: rng.random_range(1..=3),
                put: rng.random_bool(0.5),
            },
            70..82 => Ask::Watch {
                end: if rng.random_bool(0.5) {
                    "l".into()
                } else {
                    format!("{unreadable}\0")
                },
                key: if rng.random_bool(0.5) {
                    "k".into()
                } else {
                    unreadable
                },
            },
            _ => {
                // A lease alice attached a key to; a new one now and then.
                if lease.is_none_or(|(_, uses)| uses >= 8) {
                    let key = format!("k/lease/{id}-{seq}");
                    lease = leased_key(ch, client, member, &mut alice, &rec, key)
                        .await
                        .map(|lease| (lease, 0));
                }
                let Some((lease, uses)) = lease.as_mut() else {
                    continue;
                };
                *uses += 1;
                if rng.random_bool(0.7) {
                    Ask::Revoke { lease: *lease }
                } else {
                    Ask::TimeToLive { lease: *lease }
                }
            }
        };
        let value = format!("deny{id}-{seq}");
        let call = rec.clock.now();
        let got = probe(ch, &token, &ask, &value).await;
        let ret = rec.clock.now();
        if let Got::Refused(_, m) = &got {
            let session = match caller {
                Caller::NoRoles => &mut nora,
                _ => &mut rita,
            };
            session.note(m);
        }
        let writes = matches!(ask, Ask::Put { .. } | Ask::Txn { .. } | Ask::Nested { .. });
        rec.probes.lock().expect("probes").push(Probe {
            caller,
            member,
            call,
            ret,
            what: format!("{ask:?}"),
            watch: matches!(ask, Ask::Watch { .. }),
            value: writes.then_some(value),
            got,
        });
    }
}

/// One of rita's reads of `k0`..`k2`, recorded with the workload's calls.
async fn rita_reads(
    ch: &Channel,
    client: usize,
    member: usize,
    rita: &mut Session,
    rec: &Recorder,
    rng: &mut ChaCha8Rng,
) {
    let Ok(token) = rita.token(ch).await else {
        return;
    };
    let req = Request::Get {
        key: format!("k{}", rng.random_range(0..3)),
        serializable: rng.random_bool(0.3),
    };
    let call = rec.clock.now();
    let outcome = tokio::time::timeout(CALL_TIMEOUT, run::send(ch, &token, &req))
        .await
        .unwrap_or(Outcome::Unknown("client timeout".into()));
    let ret = (!matches!(outcome, Outcome::Unknown(_))).then(|| rec.clock.now());
    if let Outcome::Failed(m) | Outcome::Unknown(m) = &outcome {
        rita.note(m);
    }
    if let Outcome::Ok(r) = &outcome {
        rec.note_rev(r.rev());
    }
    rec.ops.lock().expect("ops").push(Op {
        client,
        member,
        call,
        ret,
        req,
        outcome,
    });
}

/// Alice grants a lease and puts `key` on it (a call of the history, as
/// `client`: the watches see it); the lease's id once that put is
/// acknowledged.
async fn leased_key(
    ch: &Channel,
    client: usize,
    member: usize,
    alice: &mut Session,
    rec: &Recorder,
    key: String,
) -> Option<i64> {
    let token = alice.token(ch).await.ok()?;
    let lease = run::grant(ch, &token).await?;
    let value = format!("held-{key}");
    let req = Request::Put {
        key: key.clone(),
        value: value.clone(),
        lease,
    };
    let call = rec.clock.now();
    let outcome = tokio::time::timeout(CALL_TIMEOUT, run::send(ch, &token, &req))
        .await
        .unwrap_or(Outcome::Unknown("client timeout".into()));
    let ret = (!matches!(outcome, Outcome::Unknown(_))).then(|| rec.clock.now());
    let acked = match &outcome {
        Outcome::Ok(r) => {
            rec.note_rev(r.rev());
            rec.leased
                .lock()
                .expect("leased")
                .push(LeasedKey { lease, key, value });
            true
        }
        Outcome::Failed(m) | Outcome::Unknown(m) => {
            alice.note(m);
            false
        }
    };
    rec.ops.lock().expect("ops").push(Op {
        client,
        member,
        call,
        ret,
        req,
        outcome,
    });
    acked.then_some(lease)
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn put_op(key: &str, value: &str) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key: b(key),
            value: b(value),
            ..Default::default()
        })),
    }
}

fn range_op(key: &str) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestRange(RangeRequest {
            key: b(key),
            ..Default::default()
        })),
    }
}

fn value_is(key: &str, value: &str) -> Compare {
    Compare {
        result: CompareResult::Equal as i32,
        target: CompareTarget::Value as i32,
        key: b(key),
        target_union: Some(TargetUnion::Value(b(value))),
        range_end: Vec::new(),
    }
}

/// A Txn `depth` levels deep whose innermost level writes `key`: a put
/// on success, which its compare picks if `put` (were the Txn let in),
/// a delete on failure; the levels around it read only `readable`.
fn nested(readable: &str, key: &str, value: &str, depth: usize, put: bool) -> TxnRequest {
    if depth == 0 {
        let compare = if put {
            // Any version is above -1.
            Compare {
                result: CompareResult::Greater as i32,
                target: CompareTarget::Version as i32,
                key: b(readable),
                target_union: Some(TargetUnion::Version(-1)),
                range_end: Vec::new(),
            }
        } else {
            value_is(readable, "x")
        };
        return TxnRequest {
            compare: vec![compare],
            success: vec![put_op(key, value)],
            failure: vec![RequestOp {
                request: Some(request_op::Request::RequestDeleteRange(
                    DeleteRangeRequest {
                        key: b(key),
                        ..Default::default()
                    },
                )),
            }],
        };
    }
    let inner = RequestOp {
        request: Some(request_op::Request::RequestTxn(nested(
            readable,
            key,
            value,
            depth - 1,
            put,
        ))),
    };
    TxnRequest {
        compare: vec![value_is(readable, "x")],
        success: vec![range_op(readable), inner.clone()],
        failure: vec![inner, range_op(readable)],
    }
}

/// What an answered Txn said, in short.
fn txn_answer(r: &cairn_proto::etcdserverpb::TxnResponse) -> String {
    format!(
        "txn succeeded={} at revision {}",
        r.succeeded,
        r.header.as_ref().map_or(0, |h| h.revision)
    )
}

/// A status as a probe's outcome: errors of the transport and of an
/// unavailable cluster say nothing either way.
fn status(s: &tonic::Status) -> Got {
    match s.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
            Got::Unknown(format!("{:?}: {}", s.code(), s.message()))
        }
        code => Got::Refused(code, s.message().to_owned()),
    }
}

/// Sends one probe and says how it came out.
async fn probe(ch: &Channel, token: &Token, ask: &Ask, value: &str) -> Got {
    let mut kv = KvClient::with_interceptor(ch.clone(), token.clone());
    let mut lease = LeaseClient::with_interceptor(ch.clone(), token.clone());
    let answered = async {
        match ask {
            Ask::Put { key } => kv
                .put(PutRequest {
                    key: b(key),
                    value: b(value),
                    ..Default::default()
                })
                .await
                .map(|r| format!("put at revision {:?}", r.into_inner().header)),
            Ask::Get { key, serializable } => kv
                .range(RangeRequest {
                    key: b(key),
                    serializable: *serializable,
                    ..Default::default()
                })
                .await
                .map(|r| format!("read {:?}", r.into_inner().kvs)),
            Ask::Range { key, end } => kv
                .range(RangeRequest {
                    key: b(key),
                    range_end: b(end),
                    ..Default::default()
                })
                .await
                .map(|r| format!("read {:?}", r.into_inner().kvs)),
            Ask::Delete { key } => kv
                .delete_range(DeleteRangeRequest {
                    key: b(key),
                    ..Default::default()
                })
                .await
                .map(|r| format!("deleted {}", r.into_inner().deleted)),
            Ask::Txn { readable, key } => kv
                .txn(TxnRequest {
                    compare: vec![value_is(readable, "x")],
                    success: vec![put_op(key, value)],
                    failure: vec![range_op(readable)],
                })
                .await
                .map(|r| txn_answer(&r.into_inner())),
            Ask::Nested {
                readable,
                key,
                depth,
                put,
            } => kv
                .txn(nested(readable, key, value, *depth, *put))
                .await
                .map(|r| txn_answer(&r.into_inner())),
            Ask::Watch { key, end } => return watch_probe(ch, token, key, end).await,
            Ask::Revoke { lease: id } => lease
                .lease_revoke(LeaseRevokeRequest { id: *id })
                .await
                .map(|r| format!("revoked at {:?}", r.into_inner().header)),
            Ask::TimeToLive { lease: id } => lease
                .lease_time_to_live(LeaseTimeToLiveRequest {
                    id: *id,
                    keys: true,
                })
                .await
                .map(|r| format!("time to live {:?}", r.into_inner())),
        }
        .map_or_else(|s| status(&s), Got::Answered)
    };
    tokio::time::timeout(CALL_TIMEOUT, answered)
        .await
        .unwrap_or(Got::Unknown("client timeout".into()))
}

/// A watch from revision 1: refused, its first message is a cancellation
/// with no events; a created watch would send what the keys held.
async fn watch_probe(ch: &Channel, token: &Token, key: &str, end: &str) -> Got {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let create = WatchCreateRequest {
        key: b(key),
        range_end: b(end),
        start_revision: 1,
        prev_kv: true,
        ..Default::default()
    };
    let _ = tx
        .send(WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(create)),
        })
        .await;
    let mut c = WatchClient::with_interceptor(ch.clone(), token.clone());
    let mut stream = match c
        .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
    {
        Ok(s) => s.into_inner(),
        Err(s) => return status(&s),
    };
    let first = tokio::time::timeout(Duration::from_secs(2), stream.message()).await;
    drop(tx);
    match first {
        Ok(Ok(Some(r))) if r.canceled && r.events.is_empty() => Got::Cancelled(r.cancel_reason),
        Ok(Ok(Some(r))) => Got::Answered(format!(
            "watch created={} canceled={} with events {:?}",
            r.created, r.canceled, r.events
        )),
        Ok(Ok(None)) => Got::Unknown("stream ended".into()),
        Ok(Err(s)) => status(&s),
        Err(_) => Got::Unknown("no answer in 2 s".into()),
    }
}

/// Root's read of every key in the store, at the end.
pub async fn final_scan(ch: &Channel) -> Result<Vec<Kv>, String> {
    let mut root = Session::user(ROOT);
    let mut last = String::new();
    for _ in 0..10 {
        match root.token(ch).await {
            Ok(token) => {
                let mut kv = KvClient::with_interceptor(ch.clone(), token);
                let read = kv.range(RangeRequest {
                    key: vec![0],
                    range_end: vec![0],
                    ..Default::default()
                });
                match tokio::time::timeout(CALL_TIMEOUT, read).await {
                    Ok(Ok(r)) => return Ok(r.into_inner().kvs.iter().map(run::to_kv).collect()),
                    Ok(Err(s)) => {
                        root.note(s.message());
                        last = s.message().to_owned();
                    }
                    Err(_) => last = "timed out".into(),
                }
            }
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!("root's final scan of the store failed: {last}"))
}

/// The refusals etcd gives `caller` for a request it has no right to.
fn expected(caller: Caller) -> &'static [(Code, &'static str)] {
    match caller {
        // No user at all: etcd says so before looking at anything else.
        Caller::Nobody => &[USER_EMPTY],
        Caller::MadeUp => &[BAD_TOKEN],
        // A certificate's name is judged under the auth revision current
        // when the request arrived, a user's under its token's: a role
        // change before the write is applied refuses it as stale.
        Caller::Ghost => &[DENIED, OLD_REVISION],
        // Users' tokens may also expire, or vanish with a restart.
        Caller::NoRoles | Caller::ReadOnly => &[DENIED, BAD_TOKEN, OLD_REVISION],
    }
}

/// What the probes showed: (refused as etcd refuses, of unknown outcome).
pub fn probe_counts(history: &History) -> (usize, usize) {
    let refused = history
        .probes
        .iter()
        .filter(|p| matches!(p.got, Got::Refused(..) | Got::Cancelled(_)))
        .count();
    let unknown = history
        .probes
        .iter()
        .filter(|p| matches!(p.got, Got::Unknown(_)))
        .count();
    (refused, unknown)
}

/// Every auth check over a run's history; `final_kvs` the final reads.
pub fn check(history: &History, final_kvs: &[Kv]) -> Vec<Violation> {
    let mut out = Vec::new();
    out.extend(check_probes(history));
    out.extend(check_leaks(history, final_kvs));
    out.extend(check_leases(history));
    out.extend(check_role_windows(history));
    out
}

/// Each probe refused as etcd refuses it, none answered.
pub fn check_probes(history: &History) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut refused = 0;
    for p in &history.probes {
        match &p.got {
            Got::Answered(what) => out.push(Violation::new(
                "auth-bypass",
                format!(
                    "{:?} on member {}: {} was answered: {what}",
                    p.caller, p.member, p.what
                ),
            )),
            Got::Cancelled(reason) if p.watch && reason == WATCH_DENIED => refused += 1,
            Got::Refused(code, message)
                if !p.watch && expected(p.caller).contains(&(*code, message.as_str())) =>
            {
                refused += 1;
            }
            Got::Unknown(_) => {}
            other => out.push(Violation::new(
                "auth-refusal",
                format!(
                    "{:?} on member {}: {} got {other:?}; etcd refuses with one of {:?}{}",
                    p.caller,
                    p.member,
                    p.what,
                    expected(p.caller),
                    if p.watch {
                        format!(" (a watch: cancelled with {WATCH_DENIED:?})")
                    } else {
                        String::new()
                    }
                ),
            )),
        }
    }
    if refused < MIN_REFUSED {
        out.push(Violation::new(
            "auth-probes",
            format!(
                "only {refused} of {} probes were refused; at least {MIN_REFUSED} must be for the run to count",
                history.probes.len()
            ),
        ));
    }
    out
}

/// Whether a workload call was refused for its credentials.
fn refused_for_credentials(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Failed(m)
        if [DENIED.1, USER_EMPTY.1, BAD_TOKEN.1, OLD_REVISION.1].contains(&m.as_str()))
}

/// No value a refused write carried is ever seen.
pub fn check_leaks(history: &History, final_kvs: &[Kv]) -> Vec<Violation> {
    let mut refused: HashMap<&str, String> = HashMap::new();
    for p in &history.probes {
        if let Some(v) = &p.value {
            refused.insert(v, format!("{:?}'s {}", p.caller, p.what));
        }
    }
    for op in &history.ops {
        if let (Request::Put { value, .. } | Request::Cas { value, .. }, true) =
            (&op.req, refused_for_credentials(&op.outcome))
        {
            refused.insert(value, format!("{op:?}"));
        }
    }
    let mut seen: Vec<(String, &Kv)> = Vec::new();
    for op in &history.ops {
        if let Some(Response::Get { kv: Some(kv), .. } | Response::Cas { kv: Some(kv), .. }) =
            op.response()
        {
            seen.push((format!("read by client {}", op.client), kv));
        }
    }
    for (w_i, w) in history.watches.iter().enumerate() {
        for e in &w.events {
            seen.push((format!("watch {w_i}"), &e.kv));
            if let Some(prev) = &e.prev {
                seen.push((format!("watch {w_i} (prev_kv)"), prev));
            }
        }
    }
    for kv in final_kvs {
        seen.push(("the final reads".into(), kv));
    }
    for kv in history.final_scan.iter().flatten() {
        seen.push(("root's final scan".into(), kv));
    }
    let mut out = Vec::new();
    let mut reported = std::collections::HashSet::new();
    for (where_, kv) in seen {
        if let Some(by) = refused.get(kv.value.as_str()) {
            if reported.insert(kv.value.as_str()) {
                out.push(Violation::new(
                    "auth-leak",
                    format!("{where_} shows {kv:?}, written by the refused {by}"),
                ));
            }
        }
    }
    out
}

/// Keys on leases that only refused callers tried to revoke are still
/// there at the end.
pub fn check_leases(history: &History) -> Vec<Violation> {
    let Some(scan) = &history.final_scan else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for l in &history.leased {
        let now = scan.iter().find(|kv| kv.key == l.key);
        if now.is_none_or(|kv| kv.value != l.value || kv.lease != l.lease) {
            let tried: Vec<&Probe> = history
                .probes
                .iter()
                .filter(|p| p.what.contains(&format!("lease: {}", l.lease)))
                .collect();
            out.push(Violation::new(
                "auth-lease-revoked",
                format!(
                    "{l:?} holds {now:?} at the end; only these tried to revoke its lease: {tried:?}"
                ),
            ));
        }
    }
    out
}

/// The spans of the run's clock during which bob's role was surely
/// revoked (`false`) or surely granted (`true`): from an acknowledged
/// change until the next one was sent.
fn role_windows(flips: &[Flip]) -> Vec<(bool, u64, u64)> {
    let mut out = Vec::new();
    let first_call = flips.first().map_or(u64::MAX, |f| f.call);
    out.push((true, 0, first_call));
    for (i, f) in flips.iter().enumerate() {
        let Some(ack) = f.ack else { break };
        let end = flips.get(i + 1).map_or(u64::MAX, |next| next.call);
        out.push((f.granted, ack, end));
    }
    out
}

/// bob is refused exactly while his role is surely revoked; the others
/// are never refused for want of permission.
pub fn check_role_windows(history: &History) -> Vec<Violation> {
    let windows = role_windows(&history.flips);
    let within = |op: &Op| {
        windows
            .iter()
            .find(|(_, from, to)| op.call > *from && op.ret.is_some_and(|r| r < *to))
            .map(|w| w.0)
    };
    let mut out = Vec::new();
    for op in &history.ops {
        let keyed = matches!(
            op.req,
            Request::Put { .. }
                | Request::Get { .. }
                | Request::Delete { .. }
                | Request::Cas { .. }
        );
        let denied = matches!(&op.outcome, Outcome::Failed(m) if m == DENIED.1);
        if op.client != BOB_CLIENT {
            if denied {
                out.push(Violation::new(
                    "auth-wrongly-refused",
                    format!("{op:?}: refused, but its user's permissions never change"),
                ));
            }
            continue;
        }
        if !keyed || op.is_serializable() {
            continue;
        }
        match (within(op), &op.outcome) {
            (Some(false), Outcome::Ok(_)) => out.push(Violation::new(
                "auth-revoked-role",
                format!("{op:?}: bob got through while his role was surely revoked"),
            )),
            (Some(true), _) if denied => out.push(Violation::new(
                "auth-wrongly-refused",
                format!("{op:?}: bob refused while his role was surely granted"),
            )),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::history::{Event, Watch};
    use super::*;

    fn probe(caller: Caller, got: Got, value: Option<&str>) -> Probe {
        Probe {
            caller,
            member: 0,
            call: 1,
            ret: 2,
            what: "Put".into(),
            watch: false,
            value: value.map(str::to_owned),
            got,
        }
    }

    fn refused(n: usize) -> Vec<Probe> {
        (0..n)
            .map(|_| {
                probe(
                    Caller::NoRoles,
                    Got::Refused(DENIED.0, DENIED.1.into()),
                    None,
                )
            })
            .collect()
    }

    fn kv(key: &str, value: &str) -> Kv {
        Kv {
            key: key.into(),
            value: value.into(),
            mod_rev: 5,
            lease: 0,
        }
    }

    fn names(v: &[Violation]) -> Vec<&str> {
        v.iter().map(|v| v.check).collect()
    }

    #[test]
    fn refusals_must_be_etcds_and_answers_are_bypasses() {
        let mut h = History {
            probes: refused(MIN_REFUSED),
            ..History::default()
        };
        assert_eq!(check_probes(&h), vec![]);
        h.probes.push(probe(
            Caller::Nobody,
            Got::Refused(DENIED.0, DENIED.1.into()),
            None,
        ));
        h.probes
            .push(probe(Caller::MadeUp, Got::Answered("ok".into()), None));
        h.probes
            .push(probe(Caller::NoRoles, Got::Unknown("timeout".into()), None));
        assert_eq!(names(&check_probes(&h)), ["auth-refusal", "auth-bypass"]);
        h.probes.truncate(3);
        assert_eq!(names(&check_probes(&h)), ["auth-probes"]);
    }

    #[test]
    fn a_refused_value_seen_anywhere_is_a_leak() {
        let h = History {
            probes: vec![probe(
                Caller::ReadOnly,
                Got::Refused(DENIED.0, DENIED.1.into()),
                Some("deny-1"),
            )],
            watches: vec![Watch {
                client: 0,
                member: 0,
                start_rev: 1,
                events: vec![Event {
                    rev: 5,
                    put: true,
                    kv: kv("k1", "deny-1"),
                    prev: None,
                }],
                last_rev: 5,
                error: None,
            }],
            ..History::default()
        };
        assert_eq!(names(&check_leaks(&h, &[])), ["auth-leak"]);
        let clean = History {
            watches: Vec::new(),
            final_scan: Some(vec![kv("k1", "c0-1")]),
            ..h.clone()
        };
        assert_eq!(check_leaks(&clean, &[]), vec![]);
        assert_eq!(
            names(&check_leaks(&clean, &[kv("k1", "deny-1")])),
            ["auth-leak"]
        );
    }

    #[test]
    fn a_leased_key_must_outlive_refused_revokes() {
        let mut h = History {
            leased: vec![LeasedKey {
                lease: 7,
                key: "k/lease/1".into(),
                value: "held-1".into(),
            }],
            final_scan: Some(vec![Kv {
                lease: 7,
                ..kv("k/lease/1", "held-1")
            }]),
            ..History::default()
        };
        assert_eq!(check_leases(&h), vec![]);
        h.final_scan = Some(Vec::new());
        assert_eq!(names(&check_leases(&h)), ["auth-lease-revoked"]);
    }

    fn bob_put(call: u64, ret: Option<u64>, outcome: Outcome) -> Op {
        Op {
            client: BOB_CLIENT,
            member: 0,
            call,
            ret,
            req: Request::Put {
                key: "k1".into(),
                value: format!("c3-{call}"),
                lease: 0,
            },
            outcome,
        }
    }

    #[test]
    fn bob_is_refused_exactly_while_surely_revoked() {
        let denied = || Outcome::Failed(DENIED.1.into());
        let ok = || Outcome::Ok(Response::Put { rev: 3 });
        let mut h = History {
            // Revoked from 100 (acknowledged 150) to the grant sent at 300.
            flips: vec![
                Flip {
                    granted: false,
                    call: 100,
                    ack: Some(150),
                },
                Flip {
                    granted: true,
                    call: 300,
                    ack: Some(350),
                },
            ],
            ops: vec![
                bob_put(160, Some(200), denied()),
                bob_put(120, Some(200), ok()),
                bob_put(200, Some(320), ok()),
                bob_put(200, None, ok()),
                bob_put(10, Some(20), ok()),
                bob_put(400, Some(420), ok()),
            ],
            ..History::default()
        };
        assert_eq!(check_role_windows(&h), vec![]);
        h.ops.push(bob_put(160, Some(290), ok()));
        h.ops.push(bob_put(360, Some(380), denied()));
        h.ops.push(Op {
            client: 0,
            ..bob_put(10, Some(20), denied())
        });
        assert_eq!(
            names(&check_role_windows(&h)),
            [
                "auth-revoked-role",
                "auth-wrongly-refused",
                "auth-wrongly-refused"
            ]
        );
    }
}
