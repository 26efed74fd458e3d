//! Talking to the other members of the cluster: the `cairn.peer.v1`
//! protocol. `convert` translates between the consensus core's plain types
//! and their wire form; `transport` moves them: one batched gRPC stream per
//! peer, reconnection with backoff, snapshots in chunks, and refusal of
//! members of another cluster; `dial` opens connections to peer URLs, in
//! plain text or TLS.
//!
//! Must never: hand the consensus core a message it could not have produced
//! itself. Decoding rejects unknown enum values instead of guessing.

pub mod convert;
pub mod dial;
pub mod transport;
