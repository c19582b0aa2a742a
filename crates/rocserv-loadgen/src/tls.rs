//! The rustls client configuration: server authenticated by a CA file or by openconnect's
//! `pin-sha256:` (base64 SHA-256 of the certificate's SubjectPublicKeyInfo).

use std::sync::Arc;

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

/// Why the TLS configuration cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// `--servercert` is not `pin-sha256:<base64 of 32 bytes>`.
    #[error("--servercert must be pin-sha256:<base64 SHA-256 of the SPKI>")]
    BadPin,
    /// The CA file cannot be read or holds no certificate.
    #[error("--cafile {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// How the server certificate is checked.
#[derive(Debug, Clone)]
pub enum ServerAuth {
    /// SHA-256 of the server certificate's SubjectPublicKeyInfo.
    Pin([u8; 32]),
    /// A PEM file of trusted CA certificates.
    CaFile(String),
}

impl ServerAuth {
    /// Parses `pin-sha256:BASE64`.
    pub fn pin(s: &str) -> Result<Self, TlsSetupError> {
        let b64 = s.strip_prefix("pin-sha256:").ok_or(TlsSetupError::BadPin)?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| TlsSetupError::BadPin)?;
        let pin: [u8; 32] = raw.try_into().map_err(|_| TlsSetupError::BadPin)?;
        Ok(ServerAuth::Pin(pin))
    }
}

/// SHA-256 of the SubjectPublicKeyInfo of a DER certificate.
pub fn spki_sha256(cert: &[u8]) -> Option<[u8; 32]> {
    let x509 = openssl::x509::X509::from_der(cert).ok()?;
    let spki = x509.public_key().ok()?.public_key_to_der().ok()?;
    Some(Sha256::digest(&spki).into())
}

/// Accepts exactly the pinned key; handshake signatures are still verified.
#[derive(Debug)]
struct PinVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match spki_sha256(end_entity) {
            Some(h) if h == self.pin => Ok(ServerCertVerified::assertion()),
            _ => Err(rustls::Error::General(
                "server certificate does not match --servercert".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The client configuration shared by every session. TLS resumption is off: every session
/// costs the server a full handshake, as separate openconnect processes would.
pub fn client_config(auth: &ServerAuth) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let mut config = match auth {
        ServerAuth::Pin(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinVerifier {
                pin: *pin,
                provider,
            }))
            .with_no_client_auth(),
        ServerAuth::CaFile(path) => {
            let err = |reason: String| TlsSetupError::CaFile {
                path: path.clone(),
                reason,
            };
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| err(e.to_string()))? {
                roots
                    .add(cert.map_err(|e| err(e.to_string()))?)
                    .map_err(|e| err(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(err("no certificate in the file".into()));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_only_in_openconnects_form() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(
            matches!(ServerAuth::pin(&format!("pin-sha256:{b64}")), Ok(ServerAuth::Pin(p)) if p == [7u8; 32])
        );
        assert!(ServerAuth::pin(&format!("sha256:{b64}")).is_err());
        assert!(ServerAuth::pin("pin-sha256:AAAA").is_err());
        assert!(ServerAuth::pin("pin-sha256:!!").is_err());
    }

    #[test]
    fn missing_ca_file_is_an_error() {
        let r = client_config(&ServerAuth::CaFile("/nonexistent/ca.pem".into()));
        assert!(matches!(r, Err(TlsSetupError::CaFile { .. })));
        assert_eq!(spki_sha256(b"not a certificate"), None);
    }
}
