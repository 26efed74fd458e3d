//! `--cipher-suites`: the names etcd 3.5 accepts (Go's names for every
//! cipher suite its TLS stack knows, secure or not) and which of them
//! cairn's TLS library can offer.
//!
//! As in Go, the list limits TLS 1.2 only: TLS 1.3's suites are always
//! offered. rustls has no CBC, RC4, 3DES or static-RSA suites; naming one
//! of those is accepted (an etcd configuration must keep working) and the
//! server says at start-up that it is not offered.

/// Go's name of every cipher suite etcd 3.5.1 accepts, and whether rustls
/// offers it.
const SUITES: &[(&str, bool)] = &[
    // TLS 1.3 (Go ignores them in this list, as cairn does).
    ("TLS_AES_128_GCM_SHA256", true),
    ("TLS_AES_256_GCM_SHA384", true),
    ("TLS_CHACHA20_POLY1305_SHA256", true),
    // TLS 1.2, ECDHE with AEAD: what rustls offers.
    ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", true),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", true),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", true),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", true),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", true),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", true),
    // Go's short spellings of the two above.
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", true),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", true),
    // TLS 1.2 suites Go knows and rustls does not offer.
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", false),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", false),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", false),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", false),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", false),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", false),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", false),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", false),
    ("TLS_RSA_WITH_AES_128_CBC_SHA256", false),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", false),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", false),
    ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", false),
    ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", false),
    ("TLS_RSA_WITH_RC4_128_SHA", false),
    ("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", false),
    ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", false),
];

/// Whether etcd accepts `name`: `None` if not, else whether rustls offers
/// it.
pub fn known(name: &str) -> Option<bool> {
    SUITES.iter().find(|(n, _)| *n == name).map(|(_, ok)| *ok)
}

/// The IANA name rustls uses for `name` (Go shortens two ChaCha suites).
pub fn iana_name(name: &str) -> String {
    if name.ends_with("_CHACHA20_POLY1305") {
        format!("{name}_SHA256")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_names_are_known_and_others_are_not() {
        assert_eq!(known("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), Some(true));
        assert_eq!(known("TLS_RSA_WITH_AES_128_CBC_SHA"), Some(false));
        assert_eq!(known("FOO"), None);
        assert_eq!(
            iana_name("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"),
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
        );
    }
}
