//! Client certificate verification driven through in-memory rustls handshakes.

use super::*;
use crate::certauth::testpki::{alice, server, Ca, Client};
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, ClientConnection, ServerConnection};

/// Accepts any server certificate: these tests are about the client's certificate.
#[derive(Debug)]
struct AnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A CA, its client certificates and a server, with the files in a temporary directory.
struct Fixture {
    dir: tempfile::TempDir,
    ca: Ca,
    resolver: Arc<CertResolver>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("Client CA");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        let srv = server(&Ca::new("Server CA"));
        let pair = CertPair {
            cert: dir.path().join("server.pem"),
            key: dir.path().join("server.key"),
        };
        std::fs::write(&pair.cert, &srv.cert_pem).unwrap();
        std::fs::write(&pair.key, &srv.key_pem).unwrap();
        let resolver = CertResolver::new(vec![pair]).unwrap();
        Fixture { dir, ca, resolver }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn settings(&self, crl: Option<&str>, mandatory: bool) -> ClientAuth {
        ClientAuth {
            ca_cert: self.path("ca.pem"),
            crl: crl.map(|c| self.path(c)),
            mandatory,
        }
    }

    fn server_config(&self, v: &Arc<ClientVerifier>, tls13: bool) -> Arc<ServerConfig> {
        server_config_with_client_auth(self.resolver.clone(), tls13, Some(v.clone())).unwrap()
    }
}

fn client_config(client: Option<&Client>, tls13: bool) -> Arc<ClientConfig> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = if tls13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12]
    };
    let b = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)));
    Arc::new(match client {
        Some(c) => b
            .with_client_auth_cert(vec![c.cert.clone()], c.key.clone_key())
            .unwrap(),
        None => b.with_no_client_auth(),
    })
}

#[derive(Debug)]
enum Failed {
    Server(rustls::Error),
    Client(rustls::Error),
}

/// Everything `conn` has to send.
macro_rules! drain {
    ($conn:expr) => {{
        let mut buf = Vec::new();
        while $conn.wants_write() {
            $conn.write_tls(&mut buf).unwrap();
        }
        buf
    }};
}

/// Runs a handshake in memory; on success returns the server side.
fn handshake(
    server_cfg: Arc<ServerConfig>,
    client_cfg: Arc<ClientConfig>,
) -> Result<ServerConnection, Failed> {
    let name = ServerName::try_from("vpn.test").unwrap();
    let mut c = ClientConnection::new(client_cfg, name).unwrap();
    let mut s = ServerConnection::new(server_cfg).unwrap();
    for _ in 0..16 {
        let buf = drain!(c);
        let mut rd = &buf[..];
        while !rd.is_empty() {
            s.read_tls(&mut rd).unwrap();
            s.process_new_packets().map_err(Failed::Server)?;
        }
        let buf = drain!(s);
        let mut rd = &buf[..];
        while !rd.is_empty() {
            c.read_tls(&mut rd).unwrap();
            c.process_new_packets().map_err(Failed::Client)?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok(s);
        }
    }
    panic!("handshake did not finish");
}

fn bad_cert(r: Result<ServerConnection, Failed>) -> CertificateError {
    match r {
        Err(Failed::Server(rustls::Error::InvalidCertificate(e))) => e,
        Err(Failed::Server(e)) => panic!("unexpected server failure {e}"),
        Err(Failed::Client(e)) => panic!("unexpected client failure {e}"),
        Ok(_) => panic!("the handshake succeeded"),
    }
}

#[test]
fn good_certificate_is_accepted_and_reaches_the_application() {
    let f = Fixture::new();
    let v = ClientVerifier::new(f.settings(None, false)).unwrap();
    let a = alice(&f.ca, 1);
    for tls13 in [false, true] {
        let s = handshake(f.server_config(&v, tls13), client_config(Some(&a), tls13)).unwrap();
        let peer = s.peer_certificates().unwrap();
        assert_eq!(peer.first().unwrap(), &a.cert);
        let id =
            crate::certauth::identity(peer.first().unwrap(), "0.9.2342.19200300.100.1.1", None)
                .unwrap();
        assert_eq!(id.username, "alice");
        v.verify_chain(peer).unwrap();
    }
}

#[test]
fn optional_lets_a_client_without_certificate_in_mandatory_does_not() {
    let f = Fixture::new();
    let opt = ClientVerifier::new(f.settings(None, false)).unwrap();
    let req = ClientVerifier::new(f.settings(None, true)).unwrap();
    for tls13 in [false, true] {
        let s = handshake(f.server_config(&opt, tls13), client_config(None, tls13)).unwrap();
        assert!(s.peer_certificates().is_none());
        match handshake(f.server_config(&req, tls13), client_config(None, tls13)) {
            Err(Failed::Server(rustls::Error::NoCertificatesPresented)) => {}
            other => panic!("tls13={tls13}: {:?}", other.map(|_| ())),
        }
    }
    assert!(matches!(
        opt.verify_chain(&[]),
        Err(rustls::Error::NoCertificatesPresented)
    ));
}

#[test]
fn foreign_ca_fails_the_handshake() {
    let f = Fixture::new();
    let v = ClientVerifier::new(f.settings(None, false)).unwrap();
    let other = alice(&Ca::new("Other CA"), 1);
    // Same issuer name as the configured CA, other key: the signature does not verify.
    let lookalike = alice(&Ca::new("Client CA"), 1);
    for tls13 in [false, true] {
        let e = bad_cert(handshake(
            f.server_config(&v, tls13),
            client_config(Some(&other), tls13),
        ));
        assert_eq!(e, CertificateError::UnknownIssuer, "tls13={tls13}");
        let e = bad_cert(handshake(
            f.server_config(&v, tls13),
            client_config(Some(&lookalike), tls13),
        ));
        assert_eq!(e, CertificateError::BadSignature, "tls13={tls13}");
    }
    assert!(v.verify_chain(std::slice::from_ref(&other.cert)).is_err());
    assert!(v
        .verify_chain(std::slice::from_ref(&lookalike.cert))
        .is_err());
}

#[test]
fn expired_certificate_fails_the_handshake() {
    let f = Fixture::new();
    let v = ClientVerifier::new(f.settings(None, false)).unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, "old");
    p.not_before = rcgen::date_time_ymd(2019, 1, 1);
    p.not_after = rcgen::date_time_ymd(2020, 1, 1);
    let old = f.ca.issue(p, 9);
    for tls13 in [false, true] {
        let e = bad_cert(handshake(
            f.server_config(&v, tls13),
            client_config(Some(&old), tls13),
        ));
        assert!(
            matches!(
                e,
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            ),
            "{e:?}"
        );
    }
}

#[test]
fn revoked_certificate_fails_the_handshake_pem_and_der_crls() {
    let f = Fixture::new();
    let crl = f.ca.crl(&[3]);
    std::fs::write(f.path("crl.pem"), crl.pem().unwrap()).unwrap();
    std::fs::write(f.path("crl.der"), crl.der().as_ref()).unwrap();
    let good = f.ca.simple("bob", 2);
    let revoked = f.ca.simple("mallory", 3);
    for file in ["crl.pem", "crl.der"] {
        let v = ClientVerifier::new(f.settings(Some(file), false)).unwrap();
        for tls13 in [false, true] {
            handshake(
                f.server_config(&v, tls13),
                client_config(Some(&good), tls13),
            )
            .unwrap();
            let e = bad_cert(handshake(
                f.server_config(&v, tls13),
                client_config(Some(&revoked), tls13),
            ));
            assert_eq!(e, CertificateError::Revoked, "{file} tls13={tls13}");
        }
    }
}

#[test]
fn crl_is_reloaded_when_the_file_changes_and_kept_when_broken() {
    let f = Fixture::new();
    let crl_path = f.path("crl.pem");
    std::fs::write(&crl_path, f.ca.crl(&[]).pem().unwrap()).unwrap();
    let v = ClientVerifier::new(f.settings(Some("crl.pem"), false)).unwrap();
    let a = alice(&f.ca, 5);
    let chain = [a.cert.clone()];
    handshake(f.server_config(&v, true), client_config(Some(&a), true)).unwrap();
    assert!(!v.reload(false).unwrap(), "unchanged file must not reload");

    // A config built before the reload sees the new CRL too: the verifier is swapped in place.
    let cfg = f.server_config(&v, true);
    std::fs::write(&crl_path, f.ca.crl(&[5]).der().as_ref()).unwrap(); // now DER, other size
    assert!(v.reload(false).unwrap());
    let e = bad_cert(handshake(cfg.clone(), client_config(Some(&a), true)));
    assert_eq!(e, CertificateError::Revoked);
    assert!(v.verify_chain(&chain).is_err());

    std::fs::write(
        &crl_path,
        "-----BEGIN X509 CRL-----\nnot base64 !!\n-----END X509 CRL-----\n",
    )
    .unwrap();
    let err = v.reload(false).unwrap_err();
    assert!(
        err.to_string().contains(&crl_path.display().to_string()),
        "{err}"
    );
    // Broken file: the last good CRL stays in force, and the error is not repeated every tick.
    assert!(v.verify_chain(&chain).is_err());
    assert!(!v.reload(false).unwrap());

    std::fs::write(&crl_path, f.ca.crl(&[]).pem().unwrap()).unwrap();
    assert!(v.reload(true).unwrap());
    v.verify_chain(&chain).unwrap();
    handshake(cfg, client_config(Some(&a), true)).unwrap();
}

#[test]
fn load_errors_name_the_file() {
    let f = Fixture::new();
    let missing = ClientAuth {
        ca_cert: f.path("nope.pem"),
        crl: None,
        mandatory: false,
    };
    let e = ClientVerifier::new(missing).unwrap_err();
    assert!(
        matches!(e, TlsError::Ca { .. }) && e.to_string().contains("nope.pem"),
        "{e}"
    );

    std::fs::write(f.path("empty.pem"), "no pem here\n").unwrap();
    let e = ClientVerifier::new(ClientAuth {
        ca_cert: f.path("empty.pem"),
        crl: None,
        mandatory: false,
    })
    .unwrap_err();
    assert!(e.to_string().contains("empty.pem"), "{e}");

    for (name, body) in [
        ("none.crl", &b""[..]),
        ("junk.crl", b"\x30\x03\x02\x01\x00"),
        (
            "nopem.crl",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ),
    ] {
        std::fs::write(f.path(name), body).unwrap();
        let e = ClientVerifier::new(f.settings(Some(name), false)).unwrap_err();
        assert!(
            matches!(e, TlsError::Crl { .. }) && e.to_string().contains(name),
            "{name}: {e}"
        );
    }
    let e = ClientVerifier::new(f.settings(Some("absent.crl"), false)).unwrap_err();
    assert!(e.to_string().contains("absent.crl"), "{e}");
}

#[test]
fn from_config_decides_mandatory_like_ocserv() {
    use rocserv_config::{AuthMethod, Config};
    let plain = AuthMethod::Plain {
        passwd: "/etc/ocpasswd".into(),
        otp: None,
    };
    let mut cfg = Config {
        auth: vec![plain.clone()],
        ..Config::default()
    };
    assert_eq!(ClientAuth::from_config(&cfg).unwrap(), None);

    cfg.auth = vec![AuthMethod::Certificate];
    let e = ClientAuth::from_config(&cfg).unwrap_err();
    assert!(e.to_string().contains("ca-cert"), "{e}");

    cfg.ca_cert = Some("/etc/ca.pem".into());
    cfg.crl = Some("/etc/crl.pem".into());
    let ca = ClientAuth::from_config(&cfg).unwrap().unwrap();
    assert_eq!(
        ca,
        ClientAuth {
            ca_cert: "/etc/ca.pem".into(),
            crl: Some("/etc/crl.pem".into()),
            mandatory: true,
        }
    );
    // cisco-client-compat: requested only.
    cfg.cisco_client_compat = true;
    assert!(!ClientAuth::from_config(&cfg).unwrap().unwrap().mandatory);
    cfg.cisco_client_compat = false;
    // certificate AND password: still a second method, so requested (the auth flow insists).
    cfg.auth = vec![AuthMethod::Certificate, plain.clone()];
    assert!(!ClientAuth::from_config(&cfg).unwrap().unwrap().mandatory);
    // password OR certificate.
    cfg.auth = vec![plain];
    cfg.enable_auth = vec![AuthMethod::Certificate];
    assert!(!ClientAuth::from_config(&cfg).unwrap().unwrap().mandatory);
}

/// Known limitation (crates.md §3.1): webpki refuses X.509 v1 client certificates, which
/// `openssl x509 -req` issues without an extensions file. The names in them are still readable.
#[test]
fn v1_client_certificate_is_refused_known_limitation() {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::{X509Builder, X509NameBuilder, X509};

    let f = Fixture::new();
    let v = ClientVerifier::new(f.settings(None, false)).unwrap();
    let ca = X509::from_der(f.ca.cert.der()).unwrap();
    let ca_key = PKey::private_key_from_pem(f.ca.key.serialize_pem().as_bytes()).unwrap();
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, "v1user").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(0).unwrap();
    let serial = BigNum::from_u32(77).unwrap().to_asn1_integer().unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(ca.subject_name()).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let der = b.build().to_der().unwrap();
    let v1 = Client {
        cert: CertificateDer::from(der.clone()),
        key: PrivateKeyDer::Pkcs8(key.private_key_to_pkcs8().unwrap().into()),
        cert_pem: String::new(),
        key_pem: String::new(),
    };
    // The rustls client refuses to load a v1 certificate itself; present it through a resolver.
    #[derive(Debug)]
    struct Present(Arc<rustls::sign::CertifiedKey>);
    impl rustls::client::ResolvesClientCert for Present {
        fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }
        fn has_certs(&self) -> bool {
            true
        }
    }
    let provider = Arc::new(aws_lc_rs::default_provider());
    let signing = provider
        .key_provider
        .load_private_key(v1.key.clone_key())
        .unwrap();
    let present = Arc::new(Present(Arc::new(CertifiedKey::new(
        vec![v1.cert.clone()],
        signing,
    ))));
    for tls13 in [false, true] {
        let versions: &[&'static rustls::SupportedProtocolVersion] = if tls13 {
            &[&rustls::version::TLS13]
        } else {
            &[&rustls::version::TLS12]
        };
        let client = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider.clone())))
            .with_client_cert_resolver(present.clone());
        match handshake(f.server_config(&v, tls13), Arc::new(client)) {
            Err(Failed::Server(rustls::Error::InvalidCertificate(_))) => {}
            other => panic!("tls13={tls13}: {:?}", other.map(|_| ())),
        }
    }
    let id = crate::certauth::identity(&der, "2.5.4.3", None).unwrap();
    assert_eq!(id.username, "v1user");
}
