//! JSON Web Tokens (`--auth-token jwt,...`), interchangeable with etcd
//! 3.5's: a token one signs, the other accepts, given the same key.
//!
//! Owns: loading the keys named by [`JwtOptions`] (PEM files; for HS* the
//! priv-key file's bytes are the shared secret, as in etcd), signing a
//! token for a user and auth revision, and checking one. Must never: read
//! a clock (callers pass `now`), log a token or key, or decide what the
//! user may do (the auth state does, from the name and revision).
//!
//! What etcd 3.5 puts in a token and looks for, which this module follows:
//! - the header names the signing method (`alg`), and a token whose `alg`
//!   is not the configured method is refused;
//! - the claims are `username` (a string), `revision` (the auth revision,
//!   a number) and `exp` (Unix seconds: signing time plus the `ttl` option);
//! - a token is valid up to and including its `exp` second; one without
//!   `exp` never expires (etcd's JWT library checks `exp`, `nbf` and `iat`
//!   only when present, and so does this module); a non-numeric one counts
//!   as absent, as there;
//! - with only `pub-key` a member verifies but cannot sign (etcd's
//!   "verify-only" mode: Authenticate fails on it).
//!
//! Keys: RSA private keys in PKCS#1 or PKCS#8, EC private keys in SEC1 or
//! PKCS#8, public keys as SubjectPublicKeyInfo or a certificate, which is
//! what etcd's library reads. ring, which does the cryptography, takes RSA
//! keys of 2048 bits or more only and has no P-521 (ES512 is refused by
//! the configuration). When both keys are given they must be a pair (etcd
//! does not check this in practice and verifies with the private key's
//! public half, which is the same thing when they are a pair).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{self as ring_sig, KeyPair};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use serde::Serialize;
use serde_json::{Map, Value};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::config::JwtOptions;

/// Why the keys could not be loaded, or a token not signed.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("--auth-token: cannot read {which} {}: {source}", path.display())]
    ReadKey {
        which: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--auth-token: {which} {}: {why}", path.display())]
    BadKey {
        which: &'static str,
        path: PathBuf,
        why: String,
    },
    #[error("--auth-token: sign-method {0} is not one cairn knows")]
    SignMethod(String),
    /// etcd: "auth: missing key data".
    #[error("--auth-token: sign-method {0} needs a key file")]
    NoKey(String),
    #[error("--auth-token: pub-key {} is not the public half of priv-key {}", pub_key.display(), priv_key.display())]
    KeyMismatch { pub_key: PathBuf, priv_key: PathBuf },
    /// etcd's `ErrVerifyOnly`, word for word.
    #[error("auth: token signing attempted with verify-only key")]
    VerifyOnly,
    #[error("signing a token failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// A member's JWT signer and verifier, built once at start-up.
pub struct JwtTokens {
    algorithm: Algorithm,
    /// `None`: verify-only (only `pub-key` was given).
    signing: Option<EncodingKey>,
    verifying: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for JwtTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No key material.
        f.debug_struct("JwtTokens")
            .field("algorithm", &self.algorithm)
            .field("verify_only", &self.verify_only())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// The claims etcd writes, in the order Go's JSON encoder writes a map's
/// keys (sorted), so cairn's tokens look like etcd's.
#[derive(Serialize)]
struct Claims<'a> {
    exp: u64,
    revision: u64,
    username: &'a str,
}

impl JwtTokens {
    /// Reads and checks the key files named by `opts`: the files must be
    /// readable and of the kind the sign method needs (etcd fails to start
    /// on the same problems).
    pub fn new(opts: &JwtOptions) -> Result<JwtTokens, JwtError> {
        let public = read_key("pub-key", opts.pub_key.as_deref())?;
        let private = read_key("priv-key", opts.priv_key.as_deref())?;
        JwtTokens::from_keys(
            &opts.sign_method,
            opts.pub_key.as_deref().zip(public.as_deref()),
            opts.priv_key.as_deref().zip(private.as_deref()),
            opts.ttl,
        )
    }

    /// [`JwtTokens::new`] on key bytes already read; each key comes with
    /// the path it is named by in errors.
    pub fn from_keys(
        sign_method: &str,
        pub_key: Option<(&Path, &[u8])>,
        priv_key: Option<(&Path, &[u8])>,
        ttl: Duration,
    ) -> Result<JwtTokens, JwtError> {
        let algorithm = algorithm(sign_method)?;
        let (signing, verifying) = match family(algorithm) {
            Family::Hmac => {
                // The whole file is the secret, newline and all, as in etcd.
                // The public key, if any, is not used.
                let Some((path, secret)) = priv_key else {
                    return Err(JwtError::NoKey(sign_method.to_owned()));
                };
                if secret.is_empty() {
                    return Err(bad("priv-key", path, "empty, and HS* needs a secret"));
                }
                (
                    Some(EncodingKey::from_secret(secret)),
                    DecodingKey::from_secret(secret),
                )
            }
            kind => {
                let public = pub_key
                    .map(|(path, pem)| public_key(kind, algorithm, path, pem))
                    .transpose()?;
                let private = priv_key
                    .map(|(path, pem)| private_key(kind, algorithm, path, pem))
                    .transpose()?;
                match (private, public) {
                    (None, None) => return Err(JwtError::NoKey(sign_method.to_owned())),
                    (None, Some(verifying)) => (None, verifying),
                    (Some((signing, own_public)), None) => (Some(signing), own_public),
                    (Some((signing, _)), Some(verifying)) => {
                        let probe = b"cairn: is pub-key the public half of priv-key?";
                        let signature = jsonwebtoken::crypto::sign(probe, &signing, algorithm)?;
                        if !jsonwebtoken::crypto::verify(&signature, probe, &verifying, algorithm)
                            .unwrap_or(false)
                        {
                            let path = |k: Option<(&Path, &[u8])>| {
                                k.map_or_else(PathBuf::new, |(p, _)| p.to_owned())
                            };
                            return Err(JwtError::KeyMismatch {
                                pub_key: path(pub_key),
                                priv_key: path(priv_key),
                            });
                        }
                        (Some(signing), verifying)
                    }
                }
            }
        };
        let mut validation = Validation::new(algorithm);
        // Time is checked in `verify`, against the caller's clock, with
        // etcd's rules; the audience is not looked at, as in etcd.
        validation.required_spec_claims = HashSet::new();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        Ok(JwtTokens {
            algorithm,
            signing,
            verifying,
            validation,
            ttl,
        })
    }

    /// Whether this member only verifies (no private key).
    pub fn verify_only(&self) -> bool {
        self.signing.is_none()
    }

    /// How long a token signed now stays valid.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token for `user` at auth revision `revision`, expiring `ttl` after
    /// `now` (whole seconds, rounded down, as etcd computes it).
    pub fn sign(&self, user: &str, revision: u64, now: SystemTime) -> Result<String, JwtError> {
        let key = self.signing.as_ref().ok_or(JwtError::VerifyOnly)?;
        let exp = unix_seconds(now + self.ttl).max(0).unsigned_abs();
        let claims = Claims {
            exp,
            revision,
            username: user,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(self.algorithm),
            &claims,
            key,
        )?)
    }

    /// The user name and auth revision `token` carries, if its signature
    /// is this member's method and key and it is valid at `now`.
    pub fn verify(&self, token: &str, now: SystemTime) -> Option<(String, u64)> {
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &self.verifying, &self.validation)
                .ok()?;
        let claims = data.claims;
        let now = unix_seconds(now);
        // Go's float-to-integer conversion truncates; a claim that is not
        // a number is treated as absent, as etcd's library does.
        let second = |name: &str| claims.get(name).and_then(Value::as_f64).map(|f| f as i64);
        if second("exp").is_some_and(|exp| now > exp)
            || second("nbf").is_some_and(|nbf| now < nbf)
            || second("iat").is_some_and(|iat| now < iat)
        {
            return None;
        }
        let user = claims.get("username")?.as_str()?.to_owned();
        let revision = claims.get("revision")?.as_f64()?;
        if !(revision >= 0.0 && revision < u64::MAX as f64) {
            return None;
        }
        Some((user, revision as u64))
    }
}

/// The bytes of a key file, if one is named.
fn read_key(which: &'static str, path: Option<&Path>) -> Result<Option<Vec<u8>>, JwtError> {
    path.map(|p| {
        std::fs::read(p).map_err(|source| JwtError::ReadKey {
            which,
            path: p.to_owned(),
            source,
        })
    })
    .transpose()
}

/// Seconds since the Unix epoch, negative before it (Go's `Unix()`).
fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            // Go rounds towards negative infinity.
            if d.subsec_nanos() > 0 {
                -whole - 1
            } else {
                -whole
            }
        }
    }
}

fn algorithm(sign_method: &str) -> Result<Algorithm, JwtError> {
    Ok(match sign_method {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        other => return Err(JwtError::SignMethod(other.to_owned())),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Hmac,
    Rsa,
    Ec,
}

fn family(algorithm: Algorithm) -> Family {
    match algorithm {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
        Algorithm::ES256 | Algorithm::ES384 => Family::Ec,
        _ => Family::Rsa,
    }
}

fn bad(which: &'static str, path: &Path, why: impl Into<String>) -> JwtError {
    JwtError::BadKey {
        which,
        path: path.to_owned(),
        why: why.into(),
    }
}

/// DER of the OIDs that matter here (contents only, no tag or length).
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];

/// The curve an ES* method signs on: its OID and ring's algorithm.
fn curve(
    algorithm: Algorithm,
) -> (
    &'static [u8],
    &'static ring_sig::EcdsaSigningAlgorithm,
    &'static str,
) {
    match algorithm {
        Algorithm::ES384 => (
            OID_P384,
            &ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            "P-384",
        ),
        _ => (
            OID_P256,
            &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            "P-256",
        ),
    }
}

/// A PEM private key of `kind`: the signing key, and the verifying key
/// made from its public half.
fn private_key(
    kind: Family,
    algorithm: Algorithm,
    path: &Path,
    pem: &[u8],
) -> Result<(EncodingKey, DecodingKey), JwtError> {
    let key = PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| bad("priv-key", path, format!("no PEM private key in it ({e})")))?;
    let rejected = |what: &str, e: ring::error::KeyRejected| {
        bad("priv-key", path, format!("not {what} ({e})"))
    };
    // What the key is: PKCS#1 is RSA and SEC1 is EC; PKCS#8 says.
    let key_family = match &key {
        PrivateKeyDer::Pkcs1(_) => Some(Family::Rsa),
        PrivateKeyDer::Sec1(_) => Some(Family::Ec),
        PrivateKeyDer::Pkcs8(der) => match pkcs8_algorithm(der.secret_pkcs8_der()) {
            Some(OID_RSA_ENCRYPTION) => Some(Family::Rsa),
            Some(OID_EC_PUBLIC_KEY) => Some(Family::Ec),
            _ => None,
        },
        _ => None,
    };
    if key_family != Some(kind) {
        let wanted = match kind {
            Family::Rsa => "an RSA private key (PKCS#1 or PKCS#8)",
            _ => "an EC private key (SEC1 or PKCS#8)",
        };
        return Err(bad(
            "priv-key",
            path,
            format!("{algorithm:?} needs {wanted}"),
        ));
    }
    match (kind, key) {
        (Family::Rsa, PrivateKeyDer::Pkcs1(der)) => {
            let der = der.secret_pkcs1_der();
            let pair = ring_sig::RsaKeyPair::from_der(der)
                .map_err(|e| rejected("an RSA key of 2048 bits or more", e))?;
            Ok((
                EncodingKey::from_rsa_der(der),
                DecodingKey::from_rsa_der(pair.public().as_ref()),
            ))
        }
        (Family::Rsa, PrivateKeyDer::Pkcs8(der)) => {
            let der = der.secret_pkcs8_der();
            let pair = ring_sig::RsaKeyPair::from_pkcs8(der)
                .map_err(|e| rejected("an RSA key of 2048 bits or more", e))?;
            // jsonwebtoken signs with the PKCS#1 form the PKCS#8 one wraps.
            let pkcs1 = pkcs8_inner_key(der)
                .ok_or_else(|| bad("priv-key", path, "a PKCS#8 key that cannot be read"))?;
            Ok((
                EncodingKey::from_rsa_der(pkcs1),
                DecodingKey::from_rsa_der(pair.public().as_ref()),
            ))
        }
        (Family::Ec, key @ (PrivateKeyDer::Sec1(_) | PrivateKeyDer::Pkcs8(_))) => {
            let (curve_oid, signing, curve_name) = curve(algorithm);
            let pkcs8 = match &key {
                PrivateKeyDer::Sec1(der) => sec1_to_pkcs8(der.secret_sec1_der(), curve_oid),
                other => other.secret_der().to_vec(),
            };
            let rng = ring::rand::SystemRandom::new();
            let pair = ring_sig::EcdsaKeyPair::from_pkcs8(signing, &pkcs8, &rng)
                .map_err(|e| rejected(&format!("an EC key on {curve_name}"), e))?;
            Ok((
                EncodingKey::from_ec_der(&pkcs8),
                DecodingKey::from_ec_der(pair.public_key().as_ref()),
            ))
        }
        _ => unreachable!("the key's family was checked above"),
    }
}

/// A PEM public key (SubjectPublicKeyInfo) or certificate of `kind`, as
/// a verifying key. Like etcd's library, the first PEM block is used.
fn public_key(
    kind: Family,
    algorithm: Algorithm,
    path: &Path,
    pem: &[u8],
) -> Result<DecodingKey, JwtError> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem)
        .map_err(|e| bad("pub-key", path, format!("no PEM block in it ({e})")))?;
    let unreadable = |e: String| bad("pub-key", path, format!("not a public key ({e})"));
    let certificate;
    let spki = if block.label == "CERTIFICATE" {
        certificate = x509_parser::parse_x509_certificate(&block.contents)
            .map_err(|e| unreadable(e.to_string()))?
            .1;
        certificate.public_key().clone()
    } else {
        SubjectPublicKeyInfo::from_der(&block.contents)
            .map_err(|e| unreadable(e.to_string()))?
            .1
    };
    match (kind, spki.parsed()) {
        (Family::Rsa, Ok(PublicKey::RSA(rsa))) => {
            if rsa.key_size() < 2048 {
                return Err(bad(
                    "pub-key",
                    path,
                    format!("an RSA key of {} bits: 2048 or more needed", rsa.key_size()),
                ));
            }
            // The key's bit string is the PKCS#1 form ring reads.
            Ok(DecodingKey::from_rsa_der(&spki.subject_public_key.data))
        }
        (Family::Ec, Ok(PublicKey::EC(point))) => {
            let (curve_oid, _, curve_name) = curve(algorithm);
            let on_curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .is_some_and(|oid| oid.as_bytes() == curve_oid);
            if !on_curve {
                return Err(bad(
                    "pub-key",
                    path,
                    format!("{algorithm:?} needs a key on {curve_name}"),
                ));
            }
            Ok(DecodingKey::from_ec_der(point.data()))
        }
        (Family::Rsa, _) => Err(bad(
            "pub-key",
            path,
            format!("{algorithm:?} needs an RSA public key"),
        )),
        _ => Err(bad(
            "pub-key",
            path,
            format!("{algorithm:?} needs an EC public key"),
        )),
    }
}

/// One DER element of `input`: its tag, its contents and what follows.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A DER element made of `tag` and `contents`.
fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

/// The key a PKCS#8 PrivateKeyInfo wraps: SEQUENCE { version, algorithm,
/// OCTET STRING key, ... }.
fn pkcs8_inner_key(pkcs8: &[u8]) -> Option<&[u8]> {
    let (0x30, info, _) = der_element(pkcs8)? else {
        return None;
    };
    let (0x02, _, rest) = der_element(info)? else {
        return None;
    };
    let (0x30, _, rest) = der_element(rest)? else {
        return None;
    };
    let (0x04, key, _) = der_element(rest)? else {
        return None;
    };
    Some(key)
}

/// The algorithm OID of a PKCS#8 PrivateKeyInfo: SEQUENCE { version,
/// SEQUENCE { OID, parameters }, ... }.
fn pkcs8_algorithm(pkcs8: &[u8]) -> Option<&[u8]> {
    let (0x30, info, _) = der_element(pkcs8)? else {
        return None;
    };
    let (0x02, _, rest) = der_element(info)? else {
        return None;
    };
    let (0x30, algorithm, _) = der_element(rest)? else {
        return None;
    };
    let (0x06, oid, _) = der_element(algorithm)? else {
        return None;
    };
    Some(oid)
}

/// A SEC1 EC private key (`EC PRIVATE KEY`, what `openssl ecparam
/// -genkey` writes) wrapped as PKCS#8, the only form ring reads.
fn sec1_to_pkcs8(sec1: &[u8], curve_oid: &[u8]) -> Vec<u8> {
    let algorithm = der(
        0x30,
        &[der(0x06, OID_EC_PUBLIC_KEY), der(0x06, curve_oid)].concat(),
    );
    der(
        0x30,
        &[der(0x02, &[0]), algorithm, der(0x04, sec1)].concat(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Keys made with openssl for these tests only (they protect nothing):
    // an RSA 2048 key in PKCS#8 with its public key, a P-256 key in SEC1
    // (`openssl ecparam -genkey -noout`), a P-384 key in PKCS#8.
    const RSA_PRIV: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDLF1DiqVScGOoR\n\
pP51+ZXFK5QGeGeRMx4K16L92VPe3I8yUlzShtu8bESy/ElYdDDRSJni0bNpzFHx\n\
wZPbuVNCd6NF64JGt21SXdEcKYQPVzYLvShZDyoHMfUp0eaD0YOBd2iL6wvst3e+\n\
4nYTIz5JRj0NFewv3OxBy2p1tbUQuJjShZJjd6z6M7xk5zv4Xb8ZMqU2RXWDeVPQ\n\
GYGyvcrqcetEOQ1+6dcF0krkKlwzVts65S48iAPKgEVBEmnS/MK7qzIFGSFRlZZb\n\
LRADRX/ZKs/D+dztgnHbN8w1qsQxai8uBKG1VdgOn4ANod6zS/q0GxHKt31F3EMM\n\
29E0BFlTAgMBAAECggEAH+eMSedPBuy1DMuOPAtW93AWo4OTxZAxtoNUtCtJjTe5\n\
+S5OLbaI24toqXOPtCkgqCgPIL5PwJ2b++4so7Zz+Xug9zF9uE1Fi8x4NsPg3qYV\n\
M/fl2EPVFudGu+ihHXEzBwoyrtRgfbH+ykp6QRxmww0ZNy6L+aLrrJRfp5lBlhwZ\n\
9jkdqY/dpB920GUcGMw3HXNDP4Q1L1w/BLVyi7aPavkf/SIG56RmP9ra7rvBvEwK\n\
Cnkk4Ie+gtEF8+73BJ8yz+v6fvYX9BQ5QQt716kmrb0sbjx7pDT689EZ8hWr7kud\n\
i2x5BGL+V9Gh7nJKtHLpYvbhXt4FpCTCyP0twSuf6QKBgQD1CY+AMyDWqkUov/4Z\n\
1Gb+12L2dE3zqZ272woRE0d8O3mJ1P+fGh9YGzNGFghxst7bFdlAVeGIsvbBsjtu\n\
TaduPlojFpKxICAPap9tdfFbHrUpC+P44S7NN/K5UFVoUIouXac4hhZeRfDQFjRe\n\
ZnOrD1H0zYRkmsEBgo6RtL/dOQKBgQDULVcZGNDlQatLAQA+7J5YR2vhkBaYoDjN\n\
zdYU+mRDrgY4E8HXSJLmWXruorm7Qa1diciSt0ERI8HwWCz0i0Ifj5XZnBg815qq\n\
4CxwiDTkUVVCk5xAzZ0UIEdHwTOKs1IdHA3hgst8cvwmFjrvF/qEb4eyaReupr67\n\
+G5Gg0x26wKBgQCW0gWjcNTbi/35cQLjvxqN7OCatUdtnI7bm5x8mhM74heSwKl9\n\
skRspIFQuCsGYIRO8QnBUZr52r2KxztRTzao4nP0eOZdY1qYYpYyd4/Q9/ulgg4V\n\
l/SIl9EsQsfu5vPGShqs7ctCx2XLjn85Q3IabdmSBhVhHueBGGzMPiaB8QKBgQCj\n\
Xx33ZxJB1CSupeCoks0BsEyy651ae9QBM4KpuHrHWhHTz/Krb2gdEb0ETiuwsctp\n\
gJP91Di3l87W3y4ORcPuRULewcAv6Ntgwye0pkwDmVSK5NmlVCykuI3qBCtJmvWZ\n\
EGbnwywncOoR8YADZXUx0CauCxl/E0k9tvZCOQsBbQKBgGbjWx8jSFbJeUb3xNqG\n\
RmS/RZYZbh8b4hVnbQCMOgGJhKM1gNIDzXy5O5gHTdoYivL/rFyZDyX+VQHIgWZK\n\
c+pFe6P7Jy/tmVeA11Sy2SI52HWqhjX0GwI5dQtvcvKqcXDrtcWsvUSOK0MYNlEn\n\
pTsEV6qg5SNnFCho6WU3uiUn\n\
-----END PRIVATE KEY-----\n\
";
    const RSA_PUB: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyxdQ4qlUnBjqEaT+dfmV\n\
xSuUBnhnkTMeCtei/dlT3tyPMlJc0obbvGxEsvxJWHQw0UiZ4tGzacxR8cGT27lT\n\
QnejReuCRrdtUl3RHCmED1c2C70oWQ8qBzH1KdHmg9GDgXdoi+sL7Ld3vuJ2EyM+\n\
SUY9DRXsL9zsQctqdbW1ELiY0oWSY3es+jO8ZOc7+F2/GTKlNkV1g3lT0BmBsr3K\n\
6nHrRDkNfunXBdJK5CpcM1bbOuUuPIgDyoBFQRJp0vzCu6syBRkhUZWWWy0QA0V/\n\
2SrPw/nc7YJx2zfMNarEMWovLgShtVXYDp+ADaHes0v6tBsRyrd9RdxDDNvRNARZ\n\
UwIDAQAB\n\
-----END PUBLIC KEY-----\n\
";
    const EC256_PRIV: &str = "\
-----BEGIN EC PRIVATE KEY-----\n\
MHcCAQEEICSqf13JmHg/dW6aVmiYFfdg90v6LDSJggDT2RCj6XrjoAoGCCqGSM49\n\
AwEHoUQDQgAEu4Co7RZqF/EvuUCG/OzprRy2PFUKKjXWqXmvRQRJOw9PqwbWguXZ\n\
XY84fEjX/bsDBMo5vR2w27eSeFLr76GIhw==\n\
-----END EC PRIVATE KEY-----\n\
";
    const EC256_PUB: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEu4Co7RZqF/EvuUCG/OzprRy2PFUK\n\
KjXWqXmvRQRJOw9PqwbWguXZXY84fEjX/bsDBMo5vR2w27eSeFLr76GIhw==\n\
-----END PUBLIC KEY-----\n\
";
    const EC384_PRIV: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDApxU6lVFBd1v2njaz3\n\
jzIUgFlRiyvd9eT+O/D6Y+zmMpUvHp682vQ+AAJ5FmQ5duChZANiAASgX2+XFKEi\n\
09P4MSrXaWUXUANJy4s/tXzfy1tJcOaqi8PSo6V/sgEB4IY0cbqRLyqRYAJfabaA\n\
wMEOjRix5zEYOBINg5QrecxoVM3ldsJ+zhZmlz9EfYzI8OsbAsht6yY=\n\
-----END PRIVATE KEY-----\n\
";
    const EC384_PUB: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEoF9vlxShItPT+DEq12llF1ADScuLP7V8\n\
38tbSXDmqovD0qOlf7IBAeCGNHG6kS8qkWACX2m2gMDBDo0YsecxGDgSDYOUK3nM\n\
aFTN5XbCfs4WZpc/RH2MyPDrGwLIbesm\n\
-----END PUBLIC KEY-----\n\
";
    /// The HS* secret file: its bytes, newline included, are the secret.
    const SECRET: &[u8] = b"a shared secret\n";

    // Tokens etcd 3.5.1 signed for user root at auth revision 4, started
    // with `--auth-token jwt,sign-method=<method>,priv-key=<the key
    // above>,ttl=876000h` (RS512 also with pub-key), read from
    // /v3/auth/authenticate. Their exp is in the year 2126.
    const ETCD_RS256: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQ5NTAyODY4NzUsInJldmlzaW9uIjo0LCJ\
         1c2VybmFtZSI6InJvb3QifQ.W_S9_Q0paEud4L3SdDuuQZL-Yw1mnHioKYOHdO0leGYh_4lsqvVQrzcy\
         9cS8CoLHQ7zZ2lvbRh0ssretxMtWJXKFgXU0PeS7TuiQprnC_1LyAWi6ax9l1CWloQ8ummdD4PfmmbNT\
         UH38-ZOCxGdWr44W97idLEHnHHiqmGlpRFcAd7v5ap1VSfiCbujeJnaPCvibLlhUxzvHF7Z3h0D9GLVv\
         NqXpaGXf34WEJvMOLmozd9nidj_xPiUv3NBMlZ9CsgqDTavAU2KuWV3_dvib_uYsERUb1S4YmQdyidk1\
         YxC-V6RH10SZC9Xqh0MouGxV6l7ZxWT4IjOYzAGNXZwdtA";
    const ETCD_RS512: &str = "eyJhbGciOiJSUzUxMiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQ5NTAyODY4ODQsInJldmlzaW9uIjo0LCJ\
         1c2VybmFtZSI6InJvb3QifQ.fIjFEWjuFj4tRLp7btHXjyJtvMmarRbJ9-3qLj2GWBj8Bk1pF3P1dsz8\
         eawsKd_p5EIge2uW71Tz1IZzQO5fyjqBe0FylHbL4oTFT8nhENiAsJ2wJkCOQLWQPGcefZJk1HTwiQhK\
         buVWgn2ydbN69MxzZSJAamETqofr3j_8p_Ie1j7rp7oAnDARhtuyl1heVtCTiEThw1EgECYzF3TnJI2Q\
         XHbbgP7f7FTlWg8lgIHIHExN6MIae78JXYrkfPpwQEMpIjFoy9K_JwOWvxAwMzdrEwSPlV_J3X8_Gptl\
         vbCHfhcwDm1B4AN0gd5-ZNoJNXIWIz6hWgXwBztRa9XwhQ";
    const ETCD_PS256: &str = "eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQ5NTAyODY4ODEsInJldmlzaW9uIjo0LCJ\
         1c2VybmFtZSI6InJvb3QifQ.TiOHXNknkcaLBMgzONWpB6Rn0-MgALPCaQT0xaR0aOWwSnkNmxJcoDNd\
         kOykaFyyjvCCaBRlsqsu1PFDXR7jHYA_LWTwzT7uQKgi8vN6DFTK6Rir_7chnk2VB6T3GSWTfGdcH0ym\
         JLlUb3spp_2zGRBSGc6JhCCabOhA6h12xeUfJaepT_SM-P74axDQaAT9c81-9mdxp95lniUtKgijQxaL\
         uXRW6mTPnlYSnVm5x9ny4IXO-oPuopjwQU3oHITf__cKFg5JKzYQU-TRl27kVYunP-aPAa9qRVqH8fJ6\
         K7iYPiTXDqkMlPftBA3G04ULJf6UsxNmJkF3fGBLKVRJYA";
    const ETCD_ES256: &str = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQ5NTAyODY4NzgsInJldmlzaW9uIjo0LCJ\
         1c2VybmFtZSI6InJvb3QifQ._wVr-6VEjBQVqTTojwdTqclBfqd_QfT0XfBHVVyoNBRMdwc3U8a-JZ_3\
         OeRGRmM1SqGRlrB0sVBxZ7A9iBGq5g";
    const ETCD_ES384: &str = "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJleHAiOjQ5NTAyODY4NzksInJldmlzaW9uIjo0LCJ\
         1c2VybmFtZSI6InJvb3QifQ.cS6OdgXVHes9Hq98Ld7psUrUFL1qwpdxAEEHjW_0YqA19UxZEZIJsp5s\
         OkZ4PQZhPyph6DrXdhv9o2ShEi3uzknNJyszsY0LTeQQzgRA3XM9-9YG3sx_aBp-HTj44B-v";
    const ETCD_HS256: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQ5NTAyODY4ODIsInJldmlzaW9uIjo0LCJ\
         1c2VybmFtZSI6InJvb3QifQ.dNP6oxqujEYwRSBYq-KCyAYJob4LdFDpiDyJNQylNKs";

    const ALL: &[&str] = &[
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "HS256", "HS384",
        "HS512",
    ];
    const TTL: Duration = Duration::from_secs(300);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// Signer and verifier for `method` from the keys above.
    fn tokens(method: &str) -> JwtTokens {
        let (public, private): (&[u8], &[u8]) = match method {
            m if m.starts_with("HS") => (b"", SECRET),
            "ES256" => (EC256_PUB.as_bytes(), EC256_PRIV.as_bytes()),
            "ES384" => (EC384_PUB.as_bytes(), EC384_PRIV.as_bytes()),
            _ => (RSA_PUB.as_bytes(), RSA_PRIV.as_bytes()),
        };
        let public = (!public.is_empty()).then_some((Path::new("k.pub"), public));
        JwtTokens::from_keys(method, public, Some((Path::new("k.pem"), private)), TTL)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    fn verify_only(method: &str, public: &str) -> JwtTokens {
        JwtTokens::from_keys(
            method,
            Some((Path::new("k.pub"), public.as_bytes())),
            None,
            TTL,
        )
        .unwrap()
    }

    fn load_error(method: &str, public: Option<&str>, private: Option<&[u8]>) -> String {
        JwtTokens::from_keys(
            method,
            public.map(|k| (Path::new("k.pub"), k.as_bytes())),
            private.map(|k| (Path::new("k.pem"), k)),
            TTL,
        )
        .map(|_| ())
        .expect_err("loaded")
        .to_string()
    }

    #[test]
    fn tokens_etcd_signed_verify() {
        let now = SystemTime::now();
        let cases = [
            ("RS256", ETCD_RS256),
            ("RS512", ETCD_RS512),
            ("PS256", ETCD_PS256),
            ("ES256", ETCD_ES256),
            ("ES384", ETCD_ES384),
            ("HS256", ETCD_HS256),
        ];
        for (method, token) in cases {
            let got = tokens(method).verify(token, now);
            assert_eq!(got, Some(("root".to_owned(), 4)), "{method}");
        }
        // With only the public key, as a verify-only member.
        assert!(
            verify_only("RS256", RSA_PUB)
                .verify(ETCD_RS256, now)
                .is_some()
        );
        assert!(
            verify_only("ES256", EC256_PUB)
                .verify(ETCD_ES256, now)
                .is_some()
        );
    }

    /// etcd's RS256 token says exp 4950286875: valid through that second.
    #[test]
    fn a_token_is_valid_through_its_exp_second() {
        let t = tokens("RS256");
        assert!(t.verify(ETCD_RS256, at(4_950_286_875)).is_some());
        let last = at(4_950_286_875) + Duration::from_millis(999);
        assert!(t.verify(ETCD_RS256, last).is_some());
        assert_eq!(t.verify(ETCD_RS256, at(4_950_286_876)), None);
    }

    #[test]
    fn a_token_for_another_method_or_key_is_refused() {
        let now = SystemTime::now();
        // Same RSA key, other method.
        assert_eq!(tokens("RS384").verify(ETCD_RS256, now), None);
        assert_eq!(tokens("PS256").verify(ETCD_RS256, now), None);
        // Same method, other secret (no newline).
        let other = JwtTokens::from_keys(
            "HS256",
            None,
            Some((Path::new("s"), b"a shared secret")),
            TTL,
        )
        .unwrap();
        assert_eq!(other.verify(ETCD_HS256, now), None);
        // A changed payload (revision 5 instead of 4).
        let (head, rest) = ETCD_HS256.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged = format!(
            "{head}.eyJleHAiOjQ5NTAyODY4ODIsInJldmlzaW9uIjo1LCJ1c2VybmFtZSI6InJvb3QifQ.{signature}"
        );
        assert_eq!(tokens("HS256").verify(&forged, now), None);
        assert_eq!(tokens("HS256").verify("not a token", now), None);
    }

    /// Every method: a token cairn signs carries etcd's claims (byte for
    /// byte the payload etcd writes), verifies until its exp, and not
    /// after.
    #[test]
    fn round_trip_per_sign_method() {
        // etcd's RS256 token: root, revision 4, exp 4950286875. Signing
        // with a 300s ttl 300.6s before that exp gives the same claims.
        let etcd_payload = ETCD_RS256.split('.').nth(1).unwrap();
        let signed_at = at(4_950_286_875 - 300) + Duration::from_millis(600);
        for method in ALL {
            let t = tokens(method);
            let token = t.sign("root", 4, signed_at).unwrap();
            assert_eq!(token.split('.').nth(1), Some(etcd_payload), "{method}");
            let root = Some(("root".to_owned(), 4));
            assert_eq!(t.verify(&token, signed_at), root, "{method}");
            assert!(t.verify(&token, at(4_950_286_875)).is_some(), "{method}");
            assert_eq!(t.verify(&token, at(4_950_286_876)), None, "{method}");
            let name = "ünïcode \"user\"";
            let token = t.sign(name, 1 << 50, signed_at).unwrap();
            let got = t.verify(&token, signed_at);
            assert_eq!(got, Some((name.to_owned(), 1 << 50)), "{method}");
        }
        // A verify-only member checks what a signing member signs.
        let token = tokens("PS512").sign("alice", 9, signed_at).unwrap();
        let reader = verify_only("PS512", RSA_PUB);
        assert!(reader.verify_only());
        let alice = Some(("alice".to_owned(), 9));
        assert_eq!(reader.verify(&token, signed_at), alice);
        let refused = reader.sign("alice", 9, signed_at);
        assert!(matches!(refused, Err(JwtError::VerifyOnly)));
    }

    /// Claims as etcd's library reads them: no exp, never expires; a
    /// missing or mistyped user or revision, invalid; numbers truncated.
    #[test]
    fn claims_are_read_as_etcd_reads_them() {
        let t = tokens("HS384");
        let sign = |claims: &serde_json::Value| {
            let key = EncodingKey::from_secret(SECRET);
            jsonwebtoken::encode(&Header::new(Algorithm::HS384), claims, &key).unwrap()
        };
        let far = at(u64::from(u32::MAX) * 4);
        let no_exp = sign(&serde_json::json!({"username": "u", "revision": 2}));
        assert_eq!(t.verify(&no_exp, far), Some(("u".to_owned(), 2)));
        let float = sign(&serde_json::json!({"username": "u", "revision": 7.9, "exp": 100.5}));
        assert_eq!(t.verify(&float, at(100)), Some(("u".to_owned(), 7)));
        assert_eq!(t.verify(&float, at(101)), None);
        for claims in [
            serde_json::json!({"revision": 2}),
            serde_json::json!({"username": "u"}),
            serde_json::json!({"username": 3, "revision": 2}),
            serde_json::json!({"username": "u", "revision": "2"}),
            serde_json::json!({"username": "u", "revision": -1}),
            serde_json::json!({"username": "u", "revision": 1, "nbf": 200}),
            serde_json::json!({"username": "u", "revision": 1, "iat": 200}),
        ] {
            assert_eq!(t.verify(&sign(&claims), at(100)), None, "{claims}");
        }
        let now = serde_json::json!({"username": "u", "revision": 1, "nbf": 100, "iat": 100});
        assert!(t.verify(&sign(&now), at(100)).is_some());
    }

    #[test]
    fn keys_that_do_not_fit_the_method_are_refused() {
        let rsa = Some(RSA_PRIV.as_bytes());
        let ec = Some(EC256_PRIV.as_bytes());
        assert_eq!(
            load_error("ES256", None, rsa),
            "--auth-token: priv-key k.pem: ES256 needs an EC private key (SEC1 or PKCS#8)"
        );
        assert_eq!(
            load_error("RS256", None, ec),
            "--auth-token: priv-key k.pem: RS256 needs an RSA private key (PKCS#1 or PKCS#8)"
        );
        let e = load_error("ES384", None, ec);
        assert!(
            e.starts_with("--auth-token: priv-key k.pem: not an EC key on P-384"),
            "{e}"
        );
        assert_eq!(
            load_error("ES384", Some(EC256_PUB), None),
            "--auth-token: pub-key k.pub: ES384 needs a key on P-384"
        );
        assert_eq!(
            load_error("PS256", Some(EC256_PUB), None),
            "--auth-token: pub-key k.pub: PS256 needs an RSA public key"
        );
        let e = load_error("RS256", None, Some(b"not pem"));
        assert!(
            e.starts_with("--auth-token: priv-key k.pem: no PEM private key in it"),
            "{e}"
        );
        assert_eq!(
            load_error("HS256", None, Some(b"")),
            "--auth-token: priv-key k.pem: empty, and HS* needs a secret"
        );
        assert_eq!(
            load_error("ES256", Some(EC384_PUB), ec),
            "--auth-token: pub-key k.pub: ES256 needs a key on P-256"
        );
        // Two keys that are not a pair.
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        assert_eq!(
            load_error("ES256", Some(&other.public_key_pem()), ec),
            "--auth-token: pub-key k.pub is not the public half of priv-key k.pem"
        );
        // A P-256 key in PKCS#8, as rcgen writes it, signs too.
        let pkcs8 = other.serialize_pem();
        let key = Some((Path::new("k.pem"), pkcs8.as_bytes()));
        let t = JwtTokens::from_keys("ES256", None, key, TTL).unwrap();
        let token = t.sign("u", 1, at(10)).unwrap();
        assert!(t.verify(&token, at(10)).is_some());
        assert_eq!(tokens("ES256").verify(&token, at(10)), None);
    }

    #[test]
    fn key_files_are_read_from_the_options() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, SECRET).unwrap();
        let opts = JwtOptions {
            pub_key: None,
            priv_key: Some(secret),
            sign_method: "HS256".to_owned(),
            ttl: Duration::from_secs(876_000 * 3600),
        };
        let t = JwtTokens::new(&opts).unwrap();
        assert_eq!(t.ttl(), opts.ttl);
        let root = Some(("root".to_owned(), 4));
        assert_eq!(t.verify(ETCD_HS256, SystemTime::now()), root);
        let missing = JwtOptions {
            pub_key: Some(dir.path().join("nope.pub")),
            ..opts
        };
        let e = JwtTokens::new(&missing).unwrap_err().to_string();
        assert!(
            e.starts_with("--auth-token: cannot read pub-key ") && e.contains("nope.pub: "),
            "{e}"
        );
    }
}
