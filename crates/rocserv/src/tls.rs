//! TLS for the HTTPS/CSTP listener: rustls with the aws-lc-rs provider, TLS 1.2 and 1.3, AEAD suites
//! in server order, and certificates that are re-read when their files change (or on SIGHUP).
//!
//! Client certificates (`ca-cert`, `crl`): [`ClientVerifier`] asks for a certificate on every
//! handshake and verifies it with rustls' WebPKI verifier against the `ca-cert` bundle and the
//! `crl` file, which is re-read when it changes. A presented certificate that is expired, revoked
//! or from another CA fails the handshake (as ocserv does without `cisco-client-compat`); a
//! client that presents none is let through unless certificates are mandatory. Known limitation:
//! rustls (webpki) rejects X.509 v1 client certificates (`UnsupportedCertVersion`), which
//! `openssl x509 -req` produces without an extensions file; such users must be re-issued a v3
//! certificate.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read certificate file {path}: {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("cannot read private key file {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("certificate {cert} and key {key} do not belong together: {reason}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("cannot use ca-cert file {path}: {reason}")]
    Ca { path: PathBuf, reason: String },
    #[error("cannot use crl file {path}: {reason}")]
    Crl { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// One `server-cert` / `server-key` pair as configured.
#[derive(Clone, Debug)]
pub struct CertPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Loads a PEM certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or SEC1).
pub fn load_certified_key(pair: &CertPair) -> Result<CertifiedKey, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pair.cert)
        .map_err(|e| TlsError::Cert {
            path: pair.cert.clone(),
            reason: e.to_string(),
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Cert {
            path: pair.cert.clone(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Cert {
            path: pair.cert.clone(),
            reason: "no PEM CERTIFICATE block found".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&pair.key).map_err(|e| TlsError::Key {
        path: pair.key.clone(),
        reason: e.to_string(),
    })?;
    let provider = aws_lc_rs::default_provider();
    let ck = CertifiedKey::from_der(certs, key, &provider).map_err(|e| TlsError::Mismatch {
        cert: pair.cert.clone(),
        key: pair.key.clone(),
        reason: e.to_string(),
    })?;
    Ok(ck)
}

/// SHA-256 of the leaf certificate's SubjectPublicKeyInfo, base64: openconnect's `--servercert pin-sha256:`.
pub fn spki_pin(cert_der: &[u8]) -> Option<String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let spki = cert.tbs_certificate.subject_pki.raw;
    let digest = sha2::Sha256::digest(spki);
    Some(base64::engine::general_purpose::STANDARD.encode(digest))
}

#[derive(Clone, PartialEq, Eq)]
struct FileStamp(Option<(SystemTime, u64)>);

fn stamp(path: &Path) -> FileStamp {
    FileStamp(
        std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len()))),
    )
}

/// Serves the configured certificates and swaps them when the files change.
pub struct CertResolver {
    pairs: Vec<CertPair>,
    keys: RwLock<Arc<Vec<Arc<CertifiedKey>>>>,
    stamps: Mutex<Vec<(FileStamp, FileStamp)>>,
}

impl fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertResolver")
            .field("pairs", &self.pairs)
            .finish_non_exhaustive()
    }
}

impl CertResolver {
    pub fn new(pairs: Vec<CertPair>) -> Result<Arc<Self>, TlsError> {
        if pairs.is_empty() {
            return Err(TlsError::Config(
                "no server-cert/server-key configured".into(),
            ));
        }
        let keys = pairs
            .iter()
            .map(|p| load_certified_key(p).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let stamps = pairs
            .iter()
            .map(|p| (stamp(&p.cert), stamp(&p.key)))
            .collect();
        Ok(Arc::new(Self {
            pairs,
            keys: RwLock::new(Arc::new(keys)),
            stamps: Mutex::new(stamps),
        }))
    }

    fn current(&self) -> Arc<Vec<Arc<CertifiedKey>>> {
        match self.keys.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The leaf certificate of the first pair (for the quickstart pin).
    pub fn first_leaf(&self) -> Option<Vec<u8>> {
        self.current()
            .first()
            .and_then(|k| k.cert.first())
            .map(|c| c.as_ref().to_vec())
    }

    /// Re-reads the files if any of them changed (or always, when `force`). On error the certificates
    /// in use are kept. Returns Ok(true) when new certificates were installed.
    pub fn reload(&self, force: bool) -> Result<bool, TlsError> {
        let now: Vec<_> = self
            .pairs
            .iter()
            .map(|p| (stamp(&p.cert), stamp(&p.key)))
            .collect();
        {
            let old = self.stamps.lock().unwrap_or_else(|p| p.into_inner());
            if !force && *old == now {
                return Ok(false);
            }
        }
        let keys = self
            .pairs
            .iter()
            .map(|p| load_certified_key(p).map(Arc::new))
            .collect::<Result<Vec<_>, _>>();
        // Remember the stamps even on failure so that a broken file is reported once, not every tick.
        *self.stamps.lock().unwrap_or_else(|p| p.into_inner()) = now;
        let keys = keys?;
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        Ok(true)
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let keys = self.current();
        let schemes = hello.signature_schemes();
        keys.iter()
            .find(|k| k.key.choose_scheme(schemes).is_some())
            .or_else(|| keys.first())
            .cloned()
    }
}

/// Client certificate settings: `ca-cert`, `crl`, and whether a certificate is mandatory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAuth {
    /// `ca-cert`: PEM bundle of the CAs that issue client certificates (read once, at start).
    pub ca_cert: PathBuf,
    /// `crl`: PEM (one or more CRLs) or DER revocation list, re-read when the file changes.
    pub crl: Option<PathBuf>,
    /// Fail handshakes that present no certificate. ocserv does so when `certificate` is the only
    /// method and `cisco-client-compat` is off; otherwise the certificate is only requested.
    pub mandatory: bool,
}

impl ClientAuth {
    /// The settings the configuration asks for: `None` without certificate authentication.
    pub fn from_config(cfg: &rocserv_config::Config) -> Result<Option<Self>, TlsError> {
        use rocserv_config::AuthMethod;
        if !cfg.wants_client_cert() {
            return Ok(None);
        }
        let ca_cert = cfg.ca_cert.clone().ok_or_else(|| {
            TlsError::Config("certificate authentication needs 'ca-cert' (the CA that issues client certificates)".into())
        })?;
        let only_cert =
            cfg.auth.iter().all(|m| *m == AuthMethod::Certificate) && cfg.enable_auth.is_empty();
        Ok(Some(Self {
            ca_cert,
            crl: cfg.crl.clone(),
            mandatory: only_cert && !cfg.cisco_client_compat,
        }))
    }
}

/// Reads the CRLs of a `crl` file: PEM (any number of `X509 CRL` blocks) or a single DER CRL.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let err = |reason: String| TlsError::Crl {
        path: path.to_path_buf(),
        reason,
    };
    let data = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let is_pem = data.windows(10).any(|w| w == b"-----BEGIN");
    if !is_pem {
        if data.is_empty() {
            return Err(err("the file is empty".into()));
        }
        return Ok(vec![CertificateRevocationListDer::from(data)]);
    }
    let crls = CertificateRevocationListDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if crls.is_empty() {
        return Err(err("no PEM X509 CRL block found".into()));
    }
    Ok(crls)
}

fn load_ca(path: &Path) -> Result<RootCertStore, TlsError> {
    let err = |reason: String| TlsError::Ca {
        path: path.to_path_buf(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM CERTIFICATE block found".into()));
    }
    let mut roots = RootCertStore::empty();
    for (i, c) in certs.into_iter().enumerate() {
        roots
            .add(c)
            .map_err(|e| err(format!("certificate #{}: {e}", i + 1)))?;
    }
    Ok(roots)
}

/// Verifies client certificates against `ca-cert` and `crl`, swapping in a new WebPKI verifier
/// when the CRL file changes ([`ClientVerifier::reload`]).
pub struct ClientVerifier {
    settings: ClientAuth,
    roots: Arc<RootCertStore>,
    hints: Vec<DistinguishedName>,
    provider: Arc<CryptoProvider>,
    inner: RwLock<Arc<dyn ClientCertVerifier>>,
    crl_stamp: Mutex<FileStamp>,
}

impl fmt::Debug for ClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientVerifier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ClientVerifier {
    /// Reads `ca-cert` and `crl`; errors name the file at fault.
    pub fn new(settings: ClientAuth) -> Result<Arc<Self>, TlsError> {
        let roots = Arc::new(load_ca(&settings.ca_cert)?);
        let hints = roots.subjects();
        let provider = Arc::new(aws_lc_rs::default_provider());
        let crl_stamp = settings.crl.as_deref().map_or(FileStamp(None), stamp);
        let inner = build_verifier(&settings, &roots, &provider)?;
        Ok(Arc::new(Self {
            settings,
            roots,
            hints,
            provider,
            inner: RwLock::new(inner),
            crl_stamp: Mutex::new(crl_stamp),
        }))
    }

    fn current(&self) -> Arc<dyn ClientCertVerifier> {
        match self.inner.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the CRL if its file changed (or always, when `force`). On error the CRL in use is
    /// kept. Returns Ok(true) when a new CRL was installed.
    pub fn reload(&self, force: bool) -> Result<bool, TlsError> {
        let Some(path) = self.settings.crl.as_deref() else {
            return Ok(false);
        };
        let now = stamp(path);
        {
            let old = self.crl_stamp.lock().unwrap_or_else(|p| p.into_inner());
            if !force && *old == now {
                return Ok(false);
            }
        }
        let inner = build_verifier(&self.settings, &self.roots, &self.provider);
        // Remember the stamp even on failure so that a broken file is reported once, not every tick.
        *self.crl_stamp.lock().unwrap_or_else(|p| p.into_inner()) = now;
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = inner?;
        Ok(true)
    }

    /// Verifies a chain (leaf first) against the current CA and CRL, outside a handshake: for a
    /// certificate that came with a resumed TLS session, or to re-check at cookie time after a
    /// CRL update.
    #[cfg(test)]
    pub fn verify_chain(&self, chain: &[CertificateDer<'_>]) -> Result<(), rustls::Error> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err(rustls::Error::NoCertificatesPresented);
        };
        self.current()
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map(|_| ())
    }
}

fn build_verifier(
    settings: &ClientAuth,
    roots: &Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let crls = match settings.crl.as_deref() {
        Some(p) => load_crls(p)?,
        None => Vec::new(),
    };
    // A CRL covers the CA that signed it; a chain through a CA without a CRL is not refused for
    // that reason (GnuTLS does the same).
    let mut builder = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .with_crls(crls)
        .allow_unknown_revocation_status();
    if !settings.mandatory {
        builder = builder.allow_unauthenticated();
    }
    builder.build().map_err(|e| match &settings.crl {
        Some(p) => TlsError::Crl {
            path: p.clone(),
            reason: e.to_string(),
        },
        None => TlsError::Ca {
            path: settings.ca_cert.clone(),
            reason: e.to_string(),
        },
    })
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.settings.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.current()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.current().supported_verify_schemes()
    }
}

/// Builds the rustls server configuration. `allow_tls13` is false when `cisco-client-compat` is on or
/// `tls-priorities` removes TLS 1.3 (`-VERS-TLS1.3`), as ocserv does. With `client_auth` every
/// handshake asks for a client certificate and verifies it with that verifier.
pub fn server_config_with_client_auth(
    resolver: Arc<CertResolver>,
    allow_tls13: bool,
    client_auth: Option<Arc<ClientVerifier>>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    // aws-lc seeds its random generator on first use, and the first seeding runs CPU jitter
    // entropy collection (~20 ms of CPU here). Drawing once now moves that one-time cost from
    // the first client's handshake to start-up, and a broken generator stops the server here.
    provider
        .secure_random
        .fill(&mut [0u8; 16])
        .map_err(|_| TlsError::Config("the random generator (aws-lc) does not work".into()))?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = if allow_tls13 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS12]
    };
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let with_client_certs = client_auth.is_some();
    let builder = match client_auth {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_cert_resolver(resolver);
    cfg.ignore_client_order = true;
    if with_client_certs {
        // A resumed session skips certificate verification: a certificate revoked (or a CRL
        // updated) after the full handshake would still be accepted. openconnect 9.01 never
        // resumes, so resumption is simply off when client certificates are in use.
        cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        cfg.send_tls13_tickets = 0;
    } else {
        // openconnect 9.01 never resumes TLS sessions; keep a small cache anyway for other clients.
        cfg.session_storage = rustls::server::ServerSessionMemoryCache::new(256);
    }
    Ok(Arc::new(cfg))
}

/// Whether an ocserv `tls-priorities` string keeps TLS 1.3 enabled.
pub fn priorities_allow_tls13(priorities: Option<&str>) -> bool {
    priorities.is_none_or(|p| !p.to_ascii_uppercase().contains("-VERS-TLS1.3"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, alg: &'static rcgen::SignatureAlgorithm) -> CertPair {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let params = rcgen::CertificateParams::new(vec!["vpn.test".to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let pair = CertPair {
            cert: dir.join("c.pem"),
            key: dir.join("k.pem"),
        };
        std::fs::write(&pair.cert, cert.pem()).unwrap();
        std::fs::write(&pair.key, key.serialize_pem()).unwrap();
        pair
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rocserv-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn loads_ecdsa_and_ed25519_and_rsa() {
        for (i, alg) in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ED25519,
            &rcgen::PKCS_RSA_SHA256,
        ]
        .into_iter()
        .enumerate()
        {
            let d = tempdir(&format!("alg{i}"));
            let pair = match rcgen::KeyPair::generate_for(alg) {
                Ok(_) => write_pair(&d, alg),
                Err(_) => continue, // aws-lc-rs cannot generate RSA keys through rcgen here
            };
            load_certified_key(&pair).unwrap();
        }
    }

    #[test]
    fn mismatched_key_is_refused_with_both_paths() {
        let d1 = tempdir("m1");
        let d2 = tempdir("m2");
        let a = write_pair(&d1, &rcgen::PKCS_ECDSA_P256_SHA256);
        let b = write_pair(&d2, &rcgen::PKCS_ECDSA_P256_SHA256);
        let err = load_certified_key(&CertPair {
            cert: a.cert,
            key: b.key,
        })
        .unwrap_err();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = load_certified_key(&CertPair {
            cert: "/nonexistent/c.pem".into(),
            key: "/x".into(),
        })
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/c.pem"));
    }

    #[test]
    fn reload_picks_up_a_new_certificate_and_keeps_old_on_error() {
        let d = tempdir("reload");
        let pair = write_pair(&d, &rcgen::PKCS_ECDSA_P256_SHA256);
        let r = CertResolver::new(vec![pair.clone()]).unwrap();
        let before = r.first_leaf().unwrap();
        assert!(!r.reload(false).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_pair(&d, &rcgen::PKCS_ECDSA_P256_SHA256);
        r.reload(true).unwrap();
        let after = r.first_leaf().unwrap();
        assert_ne!(before, after);
        std::fs::write(&pair.cert, "garbage").unwrap();
        assert!(r.reload(true).is_err());
        assert_eq!(r.first_leaf().unwrap(), after);
    }

    #[test]
    fn pin_is_base64_sha256() {
        let d = tempdir("pin");
        let pair = write_pair(&d, &rcgen::PKCS_ECDSA_P256_SHA256);
        let r = CertResolver::new(vec![pair]).unwrap();
        let pin = spki_pin(&r.first_leaf().unwrap()).unwrap();
        assert_eq!(pin.len(), 44);
    }

    #[test]
    fn priorities() {
        assert!(priorities_allow_tls13(None));
        assert!(priorities_allow_tls13(Some("NORMAL:%SERVER_PRECEDENCE")));
        assert!(!priorities_allow_tls13(Some("NORMAL:-VERS-TLS1.3")));
    }
}

#[cfg(test)]
mod client_auth_tests;
