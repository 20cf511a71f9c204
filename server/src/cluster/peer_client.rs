//! HTTPS to other nodes: a peer is pinned by its certificate fingerprint (pasted by the admin at
//! join, from the replicated node list afterwards), and node-to-node calls carry a MAC under a
//! key derived from the cluster authkey.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use ring::hmac;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::auth::unix_now;
use crate::pki::fingerprint;

/// Accepts exactly the certificate whose SHA-256 fingerprint was given, and still checks that
/// the server holds its key.
#[derive(Debug)]
struct PinnedFingerprint {
    expected: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedFingerprint {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if fingerprint(end_entity).eq_ignore_ascii_case(&self.expected) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!("fingerprint '{}' not verified, abort!", self.expected)))
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client that talks only to the server whose certificate has `fingerprint`.
pub fn pinned_client(fingerprint: &str, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    let verifier = Arc::new(PinnedFingerprint { expected: fingerprint.to_string(), provider: provider() });
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(reqwest::Client::builder().use_preconfigured_tls(tls).timeout(timeout).build()?)
}

/// The `data` of a PVE API answer, or its message (with the per-parameter reasons) as the error.
pub async fn pve_data(response: reqwest::Response) -> anyhow::Result<serde_json::Value> {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() {
        return Ok(body["data"].clone());
    }
    let mut message = body["message"].as_str().map(|m| m.trim_end().to_string()).unwrap_or_else(|| status.to_string());
    for (param, why) in body["errors"].as_object().into_iter().flatten() {
        message.push_str(&format!("\n  {param}: {}", why.as_str().unwrap_or_default()));
    }
    anyhow::bail!("{message}")
}

/// A pinned client per fingerprint, kept so node-to-node calls reuse their connections instead
/// of a TLS handshake per Raft message.
pub fn shared_pinned_client(fingerprint: &str) -> anyhow::Result<reqwest::Client> {
    static CLIENTS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, reqwest::Client>>> = std::sync::OnceLock::new();
    let mut clients = CLIENTS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(client) = clients.get(fingerprint) {
        return Ok(client.clone());
    }
    // Per-request timeouts are set by the caller; this bounds only a hung connect.
    let client = pinned_client(fingerprint, Duration::from_secs(600))?;
    clients.insert(fingerprint.to_string(), client.clone());
    Ok(client)
}

/// The header node-to-node calls carry: `<unix time>:<base64 HMAC(key, "<time>:<path>:" + body)>`.
pub const NODE_AUTH_HEADER: &str = "X-Corral-Node-Auth";
/// How old a node-to-node call may be (clock skew plus transit).
pub const NODE_AUTH_WINDOW_SECS: i64 = 300;

/// The key node-to-node calls are authenticated with, derived from the cluster authkey.
pub fn node_auth_key(authkey: &[u8]) -> hmac::Key {
    let derived = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"corral node rpc v1")
        .extract(authkey)
        .expand(&[b"node-rpc"], ring::hkdf::HKDF_SHA256)
        .and_then(|okm| {
            let mut out = [0u8; 32];
            okm.fill(&mut out).map(|_| out)
        })
        .unwrap_or([0u8; 32]);
    hmac::Key::new(hmac::HMAC_SHA256, &derived)
}

fn mac_input(time: i64, path: &str, body: &[u8]) -> Vec<u8> {
    let mut input = format!("{time}:{path}:").into_bytes();
    input.extend_from_slice(body);
    input
}

pub fn sign_node_call(key: &hmac::Key, path: &str, body: &[u8]) -> String {
    let time = unix_now();
    let tag = hmac::sign(key, &mac_input(time, path, body));
    format!("{time}:{}", base64::engine::general_purpose::STANDARD.encode(tag.as_ref()))
}

pub fn verify_node_call(key: &hmac::Key, header: &str, path: &str, body: &[u8]) -> bool {
    let Some((time, tag)) = header.split_once(':') else { return false };
    let Ok(time) = time.parse::<i64>() else { return false };
    let Ok(tag) = base64::engine::general_purpose::STANDARD.decode(tag) else { return false };
    (unix_now() - time).abs() <= NODE_AUTH_WINDOW_SECS && hmac::verify(key, &mac_input(time, path, body), &tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_calls_are_bound_to_key_path_and_body() {
        let key = node_auth_key(&[7u8; 256]);
        let other = node_auth_key(&[8u8; 256]);
        let header = sign_node_call(&key, "/raft/vote", b"{}");
        assert!(verify_node_call(&key, &header, "/raft/vote", b"{}"));
        assert!(!verify_node_call(&other, &header, "/raft/vote", b"{}"));
        assert!(!verify_node_call(&key, &header, "/raft/append", b"{}"));
        assert!(!verify_node_call(&key, &header, "/raft/vote", b"{ }"));
        assert!(!verify_node_call(&key, "0:AAAA", "/raft/vote", b"{}"));
    }
}
