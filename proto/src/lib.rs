//! Wire protocols spoken by cairn, generated from the `.proto` files in this
//! crate's `proto/` directory.
//!
//! This crate owns two sets of definitions:
//!
//! * **etcd's v3 client API** — [`mvccpb`], [`authpb`], [`etcdserverpb`],
//!   [`v3lockpb`] and [`v3electionpb`]. cairn serves these so that unmodified
//!   etcd clients (etcdctl, client libraries, Kubernetes) can talk to it. The
//!   `.proto` files are cairn's own text, but every package name, service
//!   name, RPC name, message name, field name, field number and field type
//!   in them is fixed by etcd's wire format (as of etcd 3.5) and **must never
//!   change**. Renumbering or retyping a field silently corrupts what clients
//!   read; the integration tests compare these definitions against etcd's own
//!   `.proto` files to catch that.
//! * **cairn's peer protocol** — [`peer`] (`cairn.peer.v1`), the service
//!   members of one cluster use to exchange raft messages and snapshots. Its
//!   messages mirror the raft core's plain Rust types. It is ours to evolve,
//!   but only compatibly: new fields get new numbers, old numbers are never
//!   reused.
//!
//! Everything is generated at build time by `build.rs` with `protox`, a
//! pure-Rust protobuf compiler, so no system `protoc` is needed. Each module
//! holds prost message types plus, for every service, a tonic client
//! (`*_client`) and server (`*_server`) module; e.g. the KV service is
//! served with [`etcdserverpb::kv_server::KvServer`] and called with
//! [`etcdserverpb::kv_client::KvClient`].
//!
//! [`FILE_DESCRIPTOR_SET`] holds the encoded descriptors of all of the above,
//! for gRPC server reflection.

/// Declares a module holding one generated file. Generated code follows
/// prost's and tonic's conventions, not our lints, so they are relaxed here
/// and only here.
macro_rules! generated {
    ($(#[$doc:meta])* $name:ident, $file:literal) => {
        $(#[$doc])*
        #[allow(
            missing_docs,
            missing_debug_implementations,
            unreachable_pub,
            rust_2018_idioms,
            clippy::all,
            clippy::pedantic,
            clippy::nursery
        )]
        pub mod $name {
            include!(concat!(env!("OUT_DIR"), "/", $file));
        }
    };
}

generated!(
    /// `mvccpb`: keys, values and watch events.
    mvccpb,
    "mvccpb.rs"
);

generated!(
    /// `authpb`: users, roles and permissions.
    authpb,
    "authpb.rs"
);

generated!(
    /// `etcdserverpb`: the KV, Watch, Lease, Cluster, Maintenance and Auth
    /// services and their messages.
    etcdserverpb,
    "etcdserverpb.rs"
);

generated!(
    /// `v3lockpb`: the Lock service.
    v3lockpb,
    "v3lockpb.rs"
);

generated!(
    /// `v3electionpb`: the Election service.
    v3electionpb,
    "v3electionpb.rs"
);

/// cairn's own packages. They refer to etcd's messages, so each sits at the
/// depth its package name implies (`cairn::peer::v1`) for the generated
/// `super::` paths to reach [`etcdserverpb`]; [`peer`] and [`internal`] are
/// the short names.
pub mod cairn {
    /// See [`crate::peer`].
    pub mod peer {
        generated!(
            /// See [`crate::peer`].
            v1,
            "cairn.peer.v1.rs"
        );
    }
    /// See [`crate::internal`].
    pub mod internal {
        generated!(
            /// See [`crate::internal`].
            v1,
            "cairn.internal.v1.rs"
        );
    }
}
/// `cairn.internal.v1`: the request envelope stored in raft entries.
pub use cairn::internal::v1 as internal;
/// `cairn.peer.v1`: what the members of a cairn cluster say to each other:
/// raft messages and snapshots (`Peer`), and the calls that need a
/// particular member (`Member`).
pub use cairn::peer::v1 as peer;

pub mod nesting;

/// Encoded `google.protobuf.FileDescriptorSet` of every `.proto` file in this
/// crate (with their comments), for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/cairn_descriptor.bin"));
