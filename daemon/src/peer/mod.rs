//! Talking to the other members of the cluster: the `cairn.peer.v1`
//! protocol. So far this holds the translation between the consensus core's
//! plain types and their wire form; the transport (streams, reconnection,
//! snapshot chunks) arrives with the server.
//!
//! Must never: hand the consensus core a message it could not have produced
//! itself. Decoding rejects unknown enum values instead of guessing.

pub mod convert;
