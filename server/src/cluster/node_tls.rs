//! Mutual TLS between nodes. Each member holds a certificate for its node name issued by the
//! cluster CA (`<data>/pki/cluster-*`); node-to-node connections offer the ALPN protocol
//! [`NODE_ALPN`], and on such a connection both sides present their cluster certificate and
//! check the other's against the cluster CA (the client also checks the server's name).
//!
//! Browsers and API clients never see any of this: they do not offer the ALPN protocol, so they
//! get the node's own HTTPS certificate (the one whose fingerprint the admin pins) and are never
//! asked for a client certificate. The joiner keeps that certificate, so its open browser
//! sessions survive the join.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::pki::{fingerprint, fingerprint_of_pem, write_file, NodeCredentials, PkiPaths};

/// The ALPN protocol a node offers when it calls another node.
pub const NODE_ALPN: &[u8] = b"corral-node/1";

/// The peer of a node-to-node connection: its client certificate chains to the cluster CA.
/// Present as a request extension only on such connections.
#[derive(Debug, Clone)]
pub struct NodePeer {
    /// SHA-256 fingerprint of the certificate it presented.
    pub fingerprint: String,
}

struct Loaded {
    server: Arc<rustls::ServerConfig>,
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    fingerprint: String,
    /// One client per peer name (and pinned certificate), kept so calls reuse connections.
    clients: Mutex<HashMap<(String, Option<String>), reqwest::Client>>,
}

/// This node's cluster credentials, loaded from its data dir; empty on a standalone node.
pub struct NodeTls {
    paths: PkiPaths,
    loaded: RwLock<Option<Arc<Loaded>>>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Checks the server's certificate against the cluster CA for the node name it is meant to be,
/// whatever address the connection went to, and, where the configuration records one, that it
/// is that member's very certificate: the CA alone would also take a certificate a former
/// member (who kept the CA key) issued itself for a member's name.
#[derive(Debug)]
struct NodeNameVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
    /// The fingerprint recorded for the member in the cluster configuration.
    pin: Option<String>,
}

impl ServerCertVerifier for NodeNameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)?;
        match &self.pin {
            Some(pin) if *pin != fingerprint(end_entity) => Err(rustls::Error::General(format!("not the certificate recorded for node {:?} in the cluster configuration", self.name))),
            _ => Ok(verified),
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn load(paths: &PkiPaths) -> anyhow::Result<Option<Loaded>> {
    if !paths.cluster_ca.exists() || !paths.cluster_cert.exists() || !paths.cluster_key.exists() {
        return Ok(None);
    }
    let ca = std::fs::read_to_string(&paths.cluster_ca)?;
    let cert = std::fs::read_to_string(&paths.cluster_cert)?;
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(der.context("cluster CA certificate")?)?;
    }
    let roots = Arc::new(roots);
    let chain = CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<Vec<_>, _>>().context("cluster node certificate")?;
    let key = PrivateKeyDer::from_pem_file(&paths.cluster_key).context("cluster node key")?;
    let client_verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider()).build()?;
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(chain.clone(), key.clone_key())?;
    server.alpn_protocols = vec![NODE_ALPN.to_vec()];
    Ok(Some(Loaded { server: Arc::new(server), roots, chain, key, fingerprint: fingerprint_of_pem(&cert)?, clients: Mutex::default() }))
}

impl NodeTls {
    pub fn open(data_dir: &std::path::Path) -> Self {
        let tls = Self { paths: PkiPaths::new(data_dir), loaded: RwLock::new(None) };
        if let Err(err) = tls.reload() {
            tracing::error!("cluster node certificate unusable, node-to-node calls will fail: {err:#}");
        }
        tls
    }

    fn reload(&self) -> anyhow::Result<()> {
        let loaded = load(&self.paths)?.map(Arc::new);
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        Ok(())
    }

    fn current(&self) -> Option<Arc<Loaded>> {
        self.loaded.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Keep `credentials` (key file mode 0600) and use them from now on.
    pub fn install(&self, credentials: &NodeCredentials) -> anyhow::Result<()> {
        if let Some(dir) = self.paths.cluster_ca.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_file(&self.paths.cluster_key, &credentials.key, 0o600)?;
        write_file(&self.paths.cluster_cert, &credentials.cert, 0o644)?;
        write_file(&self.paths.cluster_ca, &credentials.ca_cert, 0o644)?;
        self.reload()
    }

    /// Forget the cluster credentials (a join that failed half-way).
    pub fn remove(&self) {
        for path in [&self.paths.cluster_ca, &self.paths.cluster_cert, &self.paths.cluster_key] {
            let _ = std::fs::remove_file(path);
        }
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Fingerprint of this node's cluster certificate.
    pub fn fingerprint(&self) -> Option<String> {
        self.current().map(|l| l.fingerprint.clone())
    }

    /// The TLS configuration for node-to-node connections to this node (client certificate
    /// required); none on a standalone node.
    pub fn server_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.current().map(|l| l.server.clone())
    }

    /// A client for calls to node `name`: presents this node's cluster certificate and accepts
    /// only a server certificate the cluster CA issued for `name` and, given `pin` (the
    /// fingerprint the cluster configuration records for it), that very certificate. Without a
    /// pin (a joiner, before it has the configuration) the CA and the name decide.
    pub fn client(&self, name: &str, pin: Option<&str>) -> anyhow::Result<reqwest::Client> {
        let loaded = self.current().ok_or_else(|| anyhow::anyhow!("this node has no cluster certificate"))?;
        let key = (name.to_string(), pin.map(str::to_string));
        let mut clients = loaded.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let verifier = NodeNameVerifier {
            inner: WebPkiServerVerifier::builder_with_provider(loaded.roots.clone(), provider()).build()?,
            name: ServerName::try_from(name.to_string()).with_context(|| format!("node name '{name}' as a TLS name"))?,
            pin: key.1.clone(),
        };
        let mut tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(loaded.chain.clone(), loaded.key.clone_key())?;
        tls.alpn_protocols = vec![NODE_ALPN.to_vec()];
        // Per-request timeouts are set by the caller; this bounds only a hung connect.
        let client = reqwest::Client::builder().use_preconfigured_tls(tls).timeout(Duration::from_secs(600)).build()?;
        // A member's new certificate replaces its old client.
        clients.retain(|(n, _), _| n != name);
        clients.insert(key, client.clone());
        Ok(client)
    }
}

/// The peer identity of a finished node-to-node handshake.
pub fn peer_of(connection: &rustls::ServerConnection) -> Option<NodePeer> {
    let cert = connection.peer_certificates()?.first()?;
    Some(NodePeer { fingerprint: fingerprint(cert) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_then_remove() {
        let dir = tempfile::tempdir().unwrap();
        crate::pki::ensure(dir.path(), "n1", &[]).unwrap();
        let paths = PkiPaths::new(dir.path());
        let ca = std::fs::read_to_string(&paths.ca_cert).unwrap();
        let ca_key = std::fs::read_to_string(&paths.ca_key).unwrap();
        let tls = NodeTls::open(dir.path());
        assert!(tls.server_config().is_none());
        assert!(tls.client("n2", None).is_err());
        let creds = crate::pki::issue_node_credentials(&ca, &ca_key, "n1").unwrap();
        tls.install(&creds).unwrap();
        assert_eq!(tls.fingerprint(), Some(fingerprint_of_pem(&creds.cert).unwrap()));
        assert!(tls.client("n2", None).is_ok());
        let mode = std::fs::metadata(&paths.cluster_key).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
        assert!(NodeTls::open(dir.path()).server_config().is_some(), "credentials survive a restart");
        tls.remove();
        assert!(tls.server_config().is_none());
        assert!(NodeTls::open(dir.path()).server_config().is_none());
    }

    #[test]
    fn a_pinned_member_certificate_is_the_only_one_taken_for_its_name() {
        let dir = tempfile::tempdir().unwrap();
        crate::pki::ensure(dir.path(), "n1", &[]).unwrap();
        let paths = PkiPaths::new(dir.path());
        let ca = std::fs::read_to_string(&paths.ca_cert).unwrap();
        let ca_key = std::fs::read_to_string(&paths.ca_key).unwrap();
        let member = crate::pki::issue_node_credentials(&ca, &ca_key, "n2").unwrap();
        // What a former member holding the CA key could make for itself.
        let impostor = crate::pki::issue_node_credentials(&ca, &ca_key, "n2").unwrap();
        let der = |pem: &str| CertificateDer::pem_slice_iter(pem.as_bytes()).next().unwrap().unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(der(&ca)).unwrap();
        let verifier = |pin: Option<String>| NodeNameVerifier {
            inner: WebPkiServerVerifier::builder_with_provider(Arc::new(roots.clone()), provider()).build().unwrap(),
            name: ServerName::try_from("n2".to_string()).unwrap(),
            pin,
        };
        let name = ServerName::try_from("any").unwrap();
        let check = |v: &NodeNameVerifier, pem: &str| v.verify_server_cert(&der(pem), &[], &name, &[], UnixTime::now()).is_ok();
        let pinned = verifier(Some(fingerprint_of_pem(&member.cert).unwrap()));
        assert!(check(&pinned, &member.cert));
        assert!(!check(&pinned, &impostor.cert), "another certificate for the member's name is refused");
        let unpinned = verifier(None);
        assert!(check(&unpinned, &impostor.cert), "without a recorded certificate (a joiner) the CA and the name decide");
        let other_name = crate::pki::issue_node_credentials(&ca, &ca_key, "n3").unwrap();
        assert!(!check(&unpinned, &other_name.cert));
    }
}
