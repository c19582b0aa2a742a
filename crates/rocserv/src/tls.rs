//! TLS for the HTTPS/CSTP listener: rustls with the aws-lc-rs provider, TLS 1.2 and 1.3, AEAD suites
//! in server order, and certificates that are re-read when their files change (or on SIGHUP).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use rustls::crypto::aws_lc_rs;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

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

/// Builds the rustls server configuration. `allow_tls13` is false when `cisco-client-compat` is on or
/// `tls-priorities` removes TLS 1.3 (`-VERS-TLS1.3`), as ocserv does.
pub fn server_config(
    resolver: Arc<CertResolver>,
    allow_tls13: bool,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = if allow_tls13 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS12]
    };
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    cfg.ignore_client_order = true;
    // openconnect 9.01 never resumes TLS sessions; keep a small cache anyway for other clients.
    cfg.session_storage = rustls::server::ServerSessionMemoryCache::new(256);
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
