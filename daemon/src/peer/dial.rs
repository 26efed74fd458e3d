//! Opening connections to other members' peer URLs: in plain text for
//! `http://` URLs, under TLS for `https://` ones, with this member's peer
//! certificate as its client identity (`--peer-cert-file`, `--peer-key-file`)
//! and the peer CA (`--peer-trusted-ca-file`) to check the other member's
//! (`server::tls::peer_dialer` builds that configuration).
//!
//! Every connection to a peer URL goes through a [`PeerDialer`]: the raft
//! stream and snapshot transfers, the calls that need a particular member
//! (`server::peer_calls`), and a new member asking the cluster who its
//! members are. The dialer itself is the client library's
//! ([`cairn_client::dial`]), which clients use for their endpoints too.

pub use cairn_client::dial::{ClientTls as PeerClientTls, DialError};

/// Opens channels to peer URLs. Cheap to clone.
pub type PeerDialer = cairn_client::dial::Dialer;

/// A dialer for `http://` peer URLs only: a member without a peer
/// certificate refuses `https://` ones, naming the flags that give one.
pub fn plain() -> PeerDialer {
    PeerDialer::plain("--peer-cert-file and --peer-key-file, or --peer-auto-tls")
}
