//! `--tls`: certificates for both clusters, made at start-up with rcgen
//! and valid for a day: a CA, one member certificate (server and client
//! use, 127.0.0.1) every member serves on both ports, and a client
//! certificate cairnctl presents. The members require client certificates
//! on both ports, as production clusters run.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The files of one run's certificates.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    ca: PathBuf,
    member: (PathBuf, PathBuf),
    client: (PathBuf, PathBuf),
}

fn params(cn: &str, sans: &[&str]) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    p.distinguished_name.push(DnType::CommonName, cn);
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(1);
    Ok(p)
}

impl TlsFiles {
    /// Makes the certificates under `dir`.
    pub fn make(dir: &Path) -> anyhow::Result<TlsFiles> {
        std::fs::create_dir_all(dir)?;
        let write = |name: &str, text: &str| -> anyhow::Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        };
        let mut ca = params("bench CA", &[])?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
        let leaf = |name: &str, cn: &str, sans: &[&str], usage: &[ExtendedKeyUsagePurpose]| {
            let mut p = params(cn, sans)?;
            p.extended_key_usages = usage.to_vec();
            let key = KeyPair::generate()?;
            let cert = p.signed_by(&key, &ca)?;
            anyhow::Ok((
                write(&format!("{name}.pem"), &cert.pem())?,
                write(&format!("{name}-key.pem"), &key.serialize_pem())?,
            ))
        };
        let member = leaf(
            "member",
            "member",
            &["127.0.0.1"],
            &[
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        )?;
        let client = leaf(
            "client",
            "root",
            &[],
            &[ExtendedKeyUsagePurpose::ClientAuth],
        )?;
        Ok(TlsFiles {
            ca: write("ca.pem", &ca.pem())?,
            member,
            client,
        })
    }

    /// The server flags, the same for etcd and cairn.
    pub fn server_flags(&self) -> Vec<String> {
        let path = |name: &str, p: &Path| format!("--{name}={}", p.display());
        vec![
            path("cert-file", &self.member.0),
            path("key-file", &self.member.1),
            path("trusted-ca-file", &self.ca),
            "--client-cert-auth".into(),
            path("peer-cert-file", &self.member.0),
            path("peer-key-file", &self.member.1),
            path("peer-trusted-ca-file", &self.ca),
            "--peer-client-cert-auth".into(),
        ]
    }

    /// cairnctl's flags.
    pub fn ctl_flags(&self) -> Vec<String> {
        vec![
            format!("--cacert={}", self.ca.display()),
            format!("--cert={}", self.client.0.display()),
            format!("--key={}", self.client.1.display()),
        ]
    }
}
