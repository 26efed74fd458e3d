//! The client's errors. A server's answer ([`Error::Server`]) keeps its gRPC
//! code and message unchanged, because callers (and etcdctl-compatible
//! output) print etcd's message verbatim; everything else says which part of
//! the client gave up.

use std::time::Duration;

/// What went wrong with a call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration named no endpoint.
    #[error("no endpoints given")]
    NoEndpoints,
    /// An endpoint is not a URL the client can dial.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    /// The configuration asks for something the client does not do yet.
    #[error("{0} is not supported by cairnctl yet")]
    Unsupported(&'static str),
    /// A TLS setting could not be used (a file, a certificate).
    #[error("{0}")]
    Tls(String),
    /// The client's first login failed (a wrong password, no member
    /// reachable): the client could not be set up, as etcd's client fails
    /// to connect then.
    #[error("{0}")]
    Login(Box<Error>),
    /// The server answered with an error status.
    #[error("{}", .0.message())]
    Server(tonic::Status),
    /// The call did not finish within the command timeout.
    #[error("context deadline exceeded")]
    Timeout(Duration),
    /// A keep-alive found the lease gone (expired or revoked).
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    /// Writing what a stream delivered failed (a snapshot file).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A stream (watch, keep-alive) ended and could not be resumed.
    #[error("{0}")]
    Stream(String),
}

impl Error {
    /// The gRPC status of a server error.
    pub fn status(&self) -> Option<&tonic::Status> {
        match self {
            Error::Server(s) => Some(s),
            Error::Login(e) => e.status(),
            _ => None,
        }
    }
}

impl Error {
    /// True if the call failed because its member could not be reached or
    /// could not serve (a login included): another member may do better.
    pub fn endpoint_failed(&self) -> bool {
        match self {
            Error::Timeout(_) => true,
            Error::Server(status) => crate::retry::endpoint_failed(status),
            Error::Login(e) => e.endpoint_failed(),
            _ => false,
        }
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Error {
        Error::Server(status)
    }
}
