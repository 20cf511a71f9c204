//! HTTPS to a node that is not (yet) a cluster peer: pinned by the certificate fingerprint the
//! admin pasted (the joiner's first contact). Calls between members use mutual TLS instead
//! (`node_tls.rs`).

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

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
