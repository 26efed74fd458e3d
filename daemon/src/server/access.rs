//! Which right each client-port RPC needs, in one table, and the gate that
//! enforces the ones decided by the call alone.
//!
//! Owns: [`rule`], the table from every gRPC path the client port serves
//! to the check it gets, and [`gate`], which refuses a management call
//! (membership, defragment, snapshot, hashes, move-leader) from a caller
//! without the root role while auth is on, before any handler runs. Checks
//! that depend on a request's keys stay with the services (`kv.rs`, the
//! watch and lease services, the recipes) and the applier; Auth
//! management is checked by the Auth service and at apply.
//! Must never: let a path through that the table does not name (a new RPC
//! must be given a rule, or it is refused).

use std::sync::Arc;

use tonic::metadata::MetadataMap;

use super::auth::{has_token, resolve};
use super::state::Shared;
use super::tls::ClientIdentity;

/// The check one RPC gets when auth is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// None: etcd serves it to anyone (Status, MemberList, health, logins,
    /// lease grants and keep-alives, and Compact, which no etcd release
    /// restricts: kube-apiserver compacts with whatever user it has).
    Open,
    /// The caller needs the root role; the gate checks it.
    Admin,
    /// What the caller needs depends on the request: permissions on the
    /// keys it names (its service checks them, or the applier for
    /// writes), or for Alarm a user to list and the root role to change.
    PerRequest,
    /// Auth management: the Auth service checks reads, the applier
    /// changes (the root role, or for a user its own record and roles).
    AuthManagement,
}

/// Every RPC the client port serves, with its rule.
pub const RULES: &[(&str, Rule)] = &[
    ("/etcdserverpb.KV/Range", Rule::PerRequest),
    ("/etcdserverpb.KV/Put", Rule::PerRequest),
    ("/etcdserverpb.KV/DeleteRange", Rule::PerRequest),
    ("/etcdserverpb.KV/Txn", Rule::PerRequest),
    ("/etcdserverpb.KV/Compact", Rule::Open),
    ("/etcdserverpb.Watch/Watch", Rule::PerRequest),
    ("/etcdserverpb.Lease/LeaseGrant", Rule::Open),
    ("/etcdserverpb.Lease/LeaseRevoke", Rule::PerRequest),
    ("/etcdserverpb.Lease/LeaseKeepAlive", Rule::Open),
    ("/etcdserverpb.Lease/LeaseTimeToLive", Rule::PerRequest),
    ("/etcdserverpb.Lease/LeaseLeases", Rule::Open),
    ("/etcdserverpb.Cluster/MemberAdd", Rule::Admin),
    ("/etcdserverpb.Cluster/MemberRemove", Rule::Admin),
    ("/etcdserverpb.Cluster/MemberUpdate", Rule::Admin),
    ("/etcdserverpb.Cluster/MemberList", Rule::Open),
    ("/etcdserverpb.Cluster/MemberPromote", Rule::Admin),
    ("/etcdserverpb.Maintenance/Alarm", Rule::PerRequest),
    ("/etcdserverpb.Maintenance/Status", Rule::Open),
    ("/etcdserverpb.Maintenance/Defragment", Rule::Admin),
    ("/etcdserverpb.Maintenance/Hash", Rule::Admin),
    ("/etcdserverpb.Maintenance/HashKV", Rule::Admin),
    ("/etcdserverpb.Maintenance/Snapshot", Rule::Admin),
    ("/etcdserverpb.Maintenance/MoveLeader", Rule::Admin),
    ("/etcdserverpb.Maintenance/Downgrade", Rule::Admin),
    ("/etcdserverpb.Auth/AuthEnable", Rule::AuthManagement),
    ("/etcdserverpb.Auth/AuthDisable", Rule::AuthManagement),
    ("/etcdserverpb.Auth/AuthStatus", Rule::AuthManagement),
    ("/etcdserverpb.Auth/Authenticate", Rule::Open),
    ("/etcdserverpb.Auth/UserAdd", Rule::AuthManagement),
    ("/etcdserverpb.Auth/UserGet", Rule::AuthManagement),
    ("/etcdserverpb.Auth/UserList", Rule::AuthManagement),
    ("/etcdserverpb.Auth/UserDelete", Rule::AuthManagement),
    (
        "/etcdserverpb.Auth/UserChangePassword",
        Rule::AuthManagement,
    ),
    ("/etcdserverpb.Auth/UserGrantRole", Rule::AuthManagement),
    ("/etcdserverpb.Auth/UserRevokeRole", Rule::AuthManagement),
    ("/etcdserverpb.Auth/RoleAdd", Rule::AuthManagement),
    ("/etcdserverpb.Auth/RoleGet", Rule::AuthManagement),
    ("/etcdserverpb.Auth/RoleList", Rule::AuthManagement),
    ("/etcdserverpb.Auth/RoleDelete", Rule::AuthManagement),
    (
        "/etcdserverpb.Auth/RoleGrantPermission",
        Rule::AuthManagement,
    ),
    (
        "/etcdserverpb.Auth/RoleRevokePermission",
        Rule::AuthManagement,
    ),
    ("/v3lockpb.Lock/Lock", Rule::PerRequest),
    ("/v3lockpb.Lock/Unlock", Rule::PerRequest),
    ("/v3electionpb.Election/Campaign", Rule::PerRequest),
    ("/v3electionpb.Election/Proclaim", Rule::PerRequest),
    ("/v3electionpb.Election/Leader", Rule::PerRequest),
    ("/v3electionpb.Election/Observe", Rule::PerRequest),
    ("/v3electionpb.Election/Resign", Rule::PerRequest),
    ("/grpc.health.v1.Health/Check", Rule::Open),
    ("/grpc.health.v1.Health/Watch", Rule::Open),
];

/// The rule of the RPC at `path`; `None` for a path that is not an RPC
/// the client port serves.
pub fn rule(path: &str) -> Option<Rule> {
    RULES.iter().find(|(p, _)| *p == path).map(|&(_, r)| r)
}

/// Whether `path` names a gRPC call (as opposed to /health, /metrics...).
fn is_rpc(path: &str) -> bool {
    ["/etcdserverpb.", "/v3lockpb.", "/v3electionpb.", "/grpc."]
        .iter()
        .any(|p| path.starts_with(p))
}

/// The gate: refuses an [`Rule::Admin`] call from a caller without the
/// root role, and an RPC the table does not know, while auth is on.
pub async fn gate(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    if is_rpc(path) {
        let verdict = match rule(path) {
            Some(Rule::Admin) => {
                let metadata = MetadataMap::from_headers(request.headers().clone());
                let identity = request.extensions().get::<ClientIdentity>().cloned();
                admin(&shared, metadata, identity).await
            }
            Some(_) => Ok(()),
            None => Err(unknown(path)),
        };
        if let Err(status) = verdict {
            return status.into_http();
        }
    }
    next.run(request).await
}

/// grpc-go's answer to a path no service serves, word for word.
fn unknown(path: &str) -> tonic::Status {
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    let known = RULES
        .iter()
        .any(|(p, _)| p[1..].split_once('/').is_some_and(|(s, _)| s == service));
    tonic::Status::unimplemented(if known {
        format!("unknown method {method} for service {service}")
    } else {
        format!("unknown service {service}")
    })
}

async fn admin(
    shared: &Shared,
    metadata: MetadataMap,
    identity: Option<ClientIdentity>,
) -> Result<(), tonic::Status> {
    if !shared.auth().enabled() && !has_token(&metadata) {
        return Ok(());
    }
    let who = resolve(shared, &metadata, identity.as_ref()).await?;
    Ok(shared.auth().check_admin(&who)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_of_the_client_port_has_exactly_one_rule() {
        use prost::Message as _;
        let set = prost_types::FileDescriptorSet::decode(cairn_proto::FILE_DESCRIPTOR_SET)
            .expect("descriptor set");
        let mut served = Vec::new();
        for file in &set.file {
            // The peer port's services are not the client port's.
            if file.package().starts_with("cairn.") {
                continue;
            }
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    served.push(path);
                }
            }
        }
        served.extend(
            [
                "/grpc.health.v1.Health/Check",
                "/grpc.health.v1.Health/Watch",
            ]
            .map(String::from),
        );
        for path in &served {
            assert!(
                rule(path).is_some(),
                "{path} has no rule: say what it needs"
            );
        }
        let mut listed: Vec<&str> = RULES.iter().map(|(p, _)| *p).collect();
        listed.sort_unstable();
        listed.dedup();
        assert_eq!(listed.len(), RULES.len(), "a path is listed twice");
        for (path, _) in RULES {
            assert!(served.iter().any(|p| p == path), "{path} is not served");
        }
    }

    #[test]
    fn unknown_paths_are_answered_as_grpc_go_answers_them() {
        let m = |p: &str| unknown(p).message().to_owned();
        assert_eq!(
            m("/etcdserverpb.KV/Nope"),
            "unknown method Nope for service etcdserverpb.KV"
        );
        assert_eq!(
            m("/etcdserverpb.Nope/Range"),
            "unknown service etcdserverpb.Nope"
        );
        assert_eq!(unknown("/x.Y/z").code(), tonic::Code::Unimplemented);
    }
}
