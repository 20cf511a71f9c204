//! The node's certificates: a CA created at first start (the cluster CA once a cluster exists)
//! and the node's HTTPS certificate signed by it. ECDSA P-256 keys; files under `<data>/pki`,
//! private keys mode 0600. The fingerprint is the SHA-256 of the certificate's DER, formatted as
//! PVE shows it (uppercase hex pairs joined by `:`).

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use time::{Duration, OffsetDateTime};

pub struct NodePki {
    pub cert_pem: String,
    pub key_pem: String,
    pub fingerprint: String,
}

pub struct PkiPaths {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub node_cert: PathBuf,
    pub node_key: PathBuf,
    /// The cluster's CA and this node's certificate under it (mutual TLS between nodes).
    pub cluster_ca: PathBuf,
    pub cluster_cert: PathBuf,
    pub cluster_key: PathBuf,
}

impl PkiPaths {
    pub fn new(data_dir: &Path) -> Self {
        let dir = data_dir.join("pki");
        Self {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            node_cert: dir.join("node.pem"),
            node_key: dir.join("node.key"),
            cluster_ca: dir.join("cluster-ca.pem"),
            cluster_cert: dir.join("cluster-node.pem"),
            cluster_key: dir.join("cluster-node.key"),
        }
    }
}

pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Fingerprint of the first certificate in a PEM file.
pub fn fingerprint_of_pem(pem_text: &str) -> anyhow::Result<String> {
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem_text.as_bytes())
        .map(|c: rustls::pki_types::CertificateDer<'static>| c)
        .map_err(|e| anyhow::anyhow!("parsing certificate: {e:?}"))?;
    Ok(fingerprint(&der))
}

pub fn write_file(path: &Path, contents: &str, mode: u32) -> anyhow::Result<()> {
    Ok(crate::atomic_write::write(path, contents.as_bytes(), mode)?)
}

fn validity(params: &mut CertificateParams, days: i64) {
    // Start yesterday, as PVE does, so a peer with a slightly slow clock accepts the certificate.
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(days);
}

fn create_ca(paths: &PkiPaths) -> anyhow::Result<()> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, "corral Cluster Manager CA");
    params.distinguished_name.push(DnType::OrganizationName, "corral");
    params.distinguished_name.push(DnType::OrganizationalUnitName, uuid::Uuid::new_v4().to_string());
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    validity(&mut params, 3650);
    let cert = params.self_signed(&key)?;
    write_file(&paths.ca_key, &key.serialize_pem(), 0o600)?;
    write_file(&paths.ca_cert, &cert.pem(), 0o644)?;
    Ok(())
}

fn create_node_cert(paths: &PkiPaths, node: &str, addresses: &[IpAddr]) -> anyhow::Result<()> {
    let ca_key = KeyPair::from_pem(&fs::read_to_string(&paths.ca_key)?)?;
    let issuer = Issuer::from_ca_cert_pem(&fs::read_to_string(&paths.ca_cert)?, ca_key)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_string(), node.to_string()])?;
    for addr in addresses {
        params.subject_alt_names.push(SanType::IpAddress(*addr));
    }
    params.distinguished_name.push(DnType::CommonName, node);
    params.distinguished_name.push(DnType::OrganizationName, "corral");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    validity(&mut params, 730);
    let cert = params.signed_by(&key, &issuer)?;
    write_file(&paths.node_key, &key.serialize_pem(), 0o600)?;
    write_file(&paths.node_cert, &cert.pem(), 0o644)?;
    Ok(())
}

/// A node's identity inside the cluster: the cluster CA and a certificate it issued for the
/// node's name, used for mutual TLS between nodes (never shown to browsers).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct NodeCredentials {
    pub ca_cert: String,
    pub cert: String,
    pub key: String,
}

impl std::fmt::Debug for NodeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCredentials").field("cert", &fingerprint_of_pem(&self.cert).unwrap_or_default()).finish_non_exhaustive()
    }
}

/// Issue `node`'s cluster certificate under the cluster CA: its name as the only subject name
/// (peers check it by name, not by address), usable as TLS server and client.
pub fn issue_node_credentials(ca_cert_pem: &str, ca_key_pem: &str, node: &str) -> anyhow::Result<NodeCredentials> {
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, KeyPair::from_pem(ca_key_pem)?)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![node.to_string()])?;
    params.distinguished_name.push(DnType::CommonName, node);
    params.distinguished_name.push(DnType::OrganizationName, "corral");
    params.distinguished_name.push(DnType::OrganizationalUnitName, "cluster node");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    validity(&mut params, 3650);
    let cert = params.signed_by(&key, &issuer)?;
    Ok(NodeCredentials { ca_cert: ca_cert_pem.to_string(), cert: cert.pem(), key: key.serialize_pem() })
}

/// Load the node's PKI, creating the CA and the node certificate on first start.
pub fn ensure(data_dir: &Path, node: &str, addresses: &[IpAddr]) -> anyhow::Result<NodePki> {
    let paths = PkiPaths::new(data_dir);
    fs::create_dir_all(paths.ca_cert.parent().unwrap_or(data_dir))?;
    if !paths.ca_cert.exists() || !paths.ca_key.exists() {
        create_ca(&paths).context("creating the node CA")?;
        let _ = fs::remove_file(&paths.node_cert);
    }
    if !paths.node_cert.exists() || !paths.node_key.exists() {
        create_node_cert(&paths, node, addresses).context("creating the node certificate")?;
    }
    let cert_pem = fs::read_to_string(&paths.node_cert)?;
    Ok(NodePki {
        fingerprint: fingerprint_of_pem(&cert_pem)?,
        key_pem: fs::read_to_string(&paths.node_key)?,
        cert_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_and_keeps_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure(dir.path(), "n1", &["127.0.0.1".parse().unwrap()]).unwrap();
        let again = ensure(dir.path(), "n1", &[]).unwrap();
        assert_eq!(first.fingerprint, again.fingerprint);
        let parts: Vec<&str> = first.fingerprint.split(':').collect();
        assert_eq!(parts.len(), 32);
        assert!(parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())));
        let mode = fs::metadata(dir.path().join("pki/node.key")).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
    }
}
