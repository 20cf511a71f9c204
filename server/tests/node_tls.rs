//! Mutual TLS between nodes, seen from outside on real daemons: who gets which certificate on
//! the one HTTPS port, who is asked for a client certificate, and which callers the node-to-node
//! calls accept.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use std::sync::{Arc, Mutex};

use common::cluster::{create, join, wait_status};
use common::{Endpoint, Node, Options};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};

const NODE_ALPN: &[u8] = b"corral-node/1";
const WRITE: &str = r#"{"ops":[{"Put":{"key":"test/mtls","value":"from outside"}}]}"#;

/// Accepts any server certificate and keeps it, to look at afterwards.
#[derive(Debug, Default)]
struct KeepServerCert(Mutex<Option<CertificateDer<'static>>>);

impl ServerCertVerifier for KeepServerCert {
    fn verify_server_cert(&self, cert: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap() = Some(cert.clone().into_owned());
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(&self, _: &[u8], _: &CertificateDer<'_>, _: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(&self, _: &[u8], _: &CertificateDer<'_>, _: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

/// Offers a client certificate (or none) and notes whether the server asked for one.
#[derive(Debug)]
struct ClientCert {
    key: Option<Arc<CertifiedKey>>,
    asked: AtomicBool,
}

impl ResolvesClientCert for ClientCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.asked.store(true, Ordering::SeqCst);
        self.key.clone()
    }
    fn has_certs(&self) -> bool {
        true
    }
}

fn certified_key(cert_pem: &std::path::Path, key_pem: &std::path::Path) -> Arc<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(cert_pem).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_file(key_pem).unwrap();
    let signing = rustls::crypto::ring::default_provider().key_provider.load_private_key(key).unwrap();
    Arc::new(CertifiedKey::new(chain, signing))
}

/// What one HTTPS call saw: the server's certificate fingerprint, whether the server asked for
/// a client certificate, and the answer's status line (or the failure).
struct Probe {
    server_cert: Option<String>,
    asked_for_client_cert: bool,
    answer: Result<(u16, String), String>,
}

async fn probe(node: &Endpoint, alpn: Option<&[u8]>, client_cert: Option<Arc<CertifiedKey>>, path: &str, body: &str) -> Probe {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = Arc::new(KeepServerCert::default());
    let client = Arc::new(ClientCert { key: client_cert, asked: AtomicBool::new(false) });
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(server.clone())
        .with_client_cert_resolver(client.clone());
    tls.alpn_protocols = alpn.map(|p| vec![p.to_vec()]).unwrap_or_default();
    let http = reqwest::Client::builder().use_preconfigured_tls(tls).build().unwrap();
    let answer = http
        .post(format!("https://{}/api2/json{path}", node.addr))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await;
    let answer = match answer {
        Ok(resp) => Ok((resp.status().as_u16(), resp.text().await.unwrap_or_default())),
        Err(err) => Err(format!("{err:?}")),
    };
    let server_cert = server.0.lock().unwrap().as_ref().map(|der| fingerprint(der));
    Probe { server_cert, asked_for_client_cert: client.asked.load(Ordering::SeqCst), answer }
}

fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn cluster_key(node: &Endpoint) -> Arc<CertifiedKey> {
    certified_key(&node.dir.join("pki/cluster-node.pem"), &node.dir.join("pki/cluster-node.key"))
}

fn pem_fingerprint(path: &std::path::Path) -> String {
    fingerprint(&CertificateDer::from_pem_file(path).unwrap())
}

#[tokio::test]
async fn nodes_call_each_other_only_with_a_members_cluster_certificate() {
    let mut n1 = Node::start_with(Options::named("m1", "127.0.12.1:0"));
    let t1 = n1.login().await;

    // Standalone: no node channel at all, and the public channel never takes node calls.
    let public = probe(&n1, None, None, "/cluster/raft/write", WRITE).await;
    assert_eq!(public.server_cert.as_deref(), Some(n1.fingerprint.as_str()));
    assert!(!public.asked_for_client_cert, "browsers are never asked for a client certificate");
    assert_eq!(public.answer.as_ref().map(|a| a.0), Ok(403), "{:?}", public.answer);
    assert!(probe(&n1, Some(NODE_ALPN), None, "/cluster/raft/write", WRITE).await.answer.is_err(), "a standalone node has no node channel");

    create(&n1, &t1, "mtls", "127.0.12.1").await;
    let n2 = Node::start_with(Options::named("m2", "127.0.12.2:0"));
    let t2 = n2.login().await;
    let (exit, log) = join(&n2, &t2, &n1, &n1.fingerprint, common::ROOT_PASSWORD, "127.0.12.2").await;
    assert_eq!(exit, "OK", "{log:?}");
    wait_status(&n1, &t1, 2, 1).await;

    // Browsers and API clients still get each node's own certificate, the joiner's unchanged
    // by the join (its open sessions keep working), and are not asked for a client certificate.
    for node in [&*n1, &*n2] {
        let public = probe(node, None, None, "/version", "").await;
        assert_eq!(public.server_cert.as_deref(), Some(node.fingerprint.as_str()));
        assert!(!public.asked_for_client_cert);
    }

    // A node connection gets the node's cluster certificate and must present one.
    let cluster_ca = std::fs::read_to_string(n1.dir.join("pki/cluster-ca.pem")).unwrap();
    assert_eq!(cluster_ca, std::fs::read_to_string(n2.dir.join("pki/cluster-ca.pem")).unwrap(), "one CA for the cluster");
    let bare = probe(&n1, Some(NODE_ALPN), None, "/cluster/raft/write", WRITE).await;
    assert!(bare.asked_for_client_cert);
    assert_eq!(bare.server_cert, Some(pem_fingerprint(&n1.dir.join("pki/cluster-node.pem"))));
    assert!(bare.answer.is_err(), "no client certificate, no call: {:?}", bare.answer);

    // A certificate from another CA (a standalone node's own) is refused in the handshake.
    let outsider = Node::start_with(Options::named("m3", "127.0.12.3:0"));
    let foreign = certified_key(&outsider.dir.join("pki/node.pem"), &outsider.dir.join("pki/node.key"));
    assert!(probe(&n1, Some(NODE_ALPN), Some(foreign), "/cluster/raft/write", WRITE).await.answer.is_err());

    // A member's cluster certificate works.
    let member = probe(&n1, Some(NODE_ALPN), Some(cluster_key(&n2)), "/cluster/raft/write", WRITE).await;
    let (status, body) = member.answer.expect("a member's call goes through");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"Ok\""), "the write was committed: {body}");

    // Once m2 is deleted from the cluster its certificate opens nothing any more.
    let out = common::corral().args(["cluster", "--data-dir"]).arg(&n1.dir).args(["delnode", "m2"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let removed = probe(&n1, Some(NODE_ALPN), Some(cluster_key(&n2)), "/cluster/raft/write", WRITE).await;
    let (status, body) = removed.answer.expect("the certificate still chains to the CA, the call is refused by membership");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("does not belong to a member"), "{body}");
    // Every node call, not only writes; and it cannot re-enrol itself: `join` wants a grant
    // only a password-authenticated phase 1 hands out.
    for call in ["append", "vote", "snapshot", "read-index", "membership", "join-finish", "join-abort"] {
        let (status, body) = probe(&n1, Some(NODE_ALPN), Some(cluster_key(&n2)), &format!("/cluster/raft/{call}"), "{}").await.answer.unwrap();
        assert_eq!(status, 403, "{call}: {body}");
    }
    let rejoin = r#"[{"name":"m2","nodeid":2,"votes":1,"links":{},"api":"https://127.0.12.2:8006","fingerprint":"","version":"0.1.0"},2,"guess"]"#;
    let (status, body) = probe(&n1, Some(NODE_ALPN), Some(cluster_key(&n2)), "/cluster/raft/join", rejoin).await.answer.unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("no admission grant"), "{body}");

    // The removed node can no longer mint tickets the cluster takes (the signing keys were
    // replaced without keeping the old ones) ...
    let minted = n2.login().await;
    common::eventually("a ticket the removed node signed refused", Duration::from_secs(20), || async { n1.get(&minted, "/cluster/status").await.0 == 401 }).await;
    // ... nor speak gossip: once the old key's grace is over its datagrams do not authenticate.
    let t1 = n1.login().await;
    let unauthentic = |report: &serde_json::Value| report["data"]["counters"]["dropped_unauthentic"].as_u64().unwrap_or(0);
    let before = unauthentic(&n1.get(&t1, "/cluster/gossip").await.1);
    common::eventually("the removed node's gossip dropped as unauthentic", Duration::from_secs(60), || async {
        unauthentic(&n1.get(&t1, "/cluster/gossip").await.1) > before
    })
    .await;
    n1.terminate();
}
