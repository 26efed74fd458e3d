//! Which failures are worth another attempt, on another endpoint.
//!
//! A call is [`Policy::Repeatable`] when running it twice has the effect of
//! running it once (reads, status, lease grant and keep-alive, member list:
//! etcd's client treats the same set as repeatable). Such a call is retried
//! on any sign the member is gone or cannot serve (`Unavailable`, transport
//! failures). A [`Policy::NonRepeatable`] call (put, delete, txn, compact,
//! member changes) is retried only when the failure proves the request
//! never left the client: the connection could not be opened. An error that
//! arrives after the request was written is ambiguous (the write may have
//! been applied) and is returned to the caller.

use std::error::Error as StdError;

use tonic::Code;

/// Whether a call may be sent again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Repeatable,
    NonRepeatable,
}

/// What to do after an attempt failed with `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Mark the endpoint unhealthy and try another.
    RetryElsewhere,
    /// The server's answer: return it.
    GiveUp,
}

/// Decides whether a failed attempt is retried.
pub fn judge(policy: Policy, status: &tonic::Status) -> Verdict {
    let retry = match policy {
        Policy::Repeatable => status.code() == Code::Unavailable || is_transport(status),
        Policy::NonRepeatable => never_sent(status),
    };
    if retry {
        Verdict::RetryElsewhere
    } else {
        Verdict::GiveUp
    }
}

/// True if the endpoint itself failed (as opposed to the server refusing
/// the request): the balancer should avoid it for a while.
pub fn endpoint_failed(status: &tonic::Status) -> bool {
    is_transport(status) || status.code() == Code::Unavailable
}

/// A failure of the connection rather than an answer from a server: tonic
/// attaches the transport error as the status's source.
fn is_transport(status: &tonic::Status) -> bool {
    status.source().is_some()
}

/// The request provably never reached a server: the TCP connection could
/// not be established (refused, unreachable, connect timeout), or its TLS
/// handshake failed.
pub fn never_sent(status: &tonic::Status) -> bool {
    if status.code() != Code::Unavailable {
        return false;
    }
    let mut source: Option<&(dyn StdError + 'static)> = status.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            // The TLS handshake failed (a certificate refused by either
            // side): no request is written before it completes. (An I/O
            // error's own source skips the error it wraps.)
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return true;
            }
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused | AddrNotAvailable | HostUnreachable | NetworkUnreachable
            ) {
                return true;
            }
        }
        let text = err.to_string();
        if text.contains("tcp connect error") || text.contains("error trying to connect") {
            return true;
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_answers_are_never_retried() {
        let s =
            tonic::Status::out_of_range("etcdserver: mvcc: required revision is a future revision");
        assert_eq!(judge(Policy::Repeatable, &s), Verdict::GiveUp);
        assert_eq!(judge(Policy::NonRepeatable, &s), Verdict::GiveUp);
    }

    #[test]
    fn unavailable_is_retried_only_for_repeatable_calls() {
        let s = tonic::Status::unavailable("etcdserver: leader changed");
        assert_eq!(judge(Policy::Repeatable, &s), Verdict::RetryElsewhere);
        assert_eq!(judge(Policy::NonRepeatable, &s), Verdict::GiveUp);
    }

    #[test]
    fn a_refused_connection_makes_any_call_retryable() {
        let refused = unavailable_from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(
            judge(Policy::NonRepeatable, &refused),
            Verdict::RetryElsewhere
        );
        let reset = unavailable_from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(judge(Policy::NonRepeatable, &reset), Verdict::GiveUp);
        assert_eq!(judge(Policy::Repeatable, &reset), Verdict::RetryElsewhere);
    }

    #[test]
    fn a_failed_tls_handshake_makes_any_call_retryable() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let s = unavailable_from(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            refused,
        ));
        assert!(never_sent(&s));
        assert_eq!(judge(Policy::NonRepeatable, &s), Verdict::RetryElsewhere);
    }

    fn unavailable_from(io: std::io::Error) -> tonic::Status {
        let mut s = tonic::Status::unavailable("transport error");
        s.set_source(std::sync::Arc::new(io));
        s
    }
}
