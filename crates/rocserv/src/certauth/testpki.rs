//! Test PKI built with rcgen: a CA, a second (foreign) CA, client certificates and CRLs.

use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams,
    CertificateRevocationListParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// OID arcs of the UID attribute (0.9.2342.19200300.100.1.1).
pub const UID: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 1];

pub struct Ca {
    pub cert: Certificate,
    pub key: KeyPair,
}

/// A client certificate and its key.
pub struct Client {
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// Issues a client certificate from `params` with the given serial number.
    pub fn issue(&self, mut params: CertificateParams, serial: u64) -> Client {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        params.serial_number = Some(SerialNumber::from(serial));
        if params.extended_key_usages.is_empty() {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Client {
            cert: cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A client certificate with UID=`uid` and CN=`uid`.
    pub fn simple(&self, uid: &str, serial: u64) -> Client {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(DnType::CustomDnType(UID.to_vec()), uid);
        p.distinguished_name.push(DnType::CommonName, uid);
        self.issue(p, serial)
    }

    /// A CRL revoking the given serial numbers.
    pub fn crl(&self, revoked: &[u64]) -> rcgen::CertificateRevocationList {
        CertificateRevocationListParams {
            this_update: date_time_ymd(2024, 1, 1),
            next_update: date_time_ymd(2099, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: date_time_ymd(2024, 1, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.cert, &self.key)
        .unwrap()
    }
}

/// alice: UID=alice, CN="Alice Example", OU=staff, OU=admins, e-mail SAN alice@example.com.
pub fn alice(ca: &Ca, serial: u64) -> Client {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    let dn = &mut p.distinguished_name;
    dn.push(DnType::CustomDnType(UID.to_vec()), "alice");
    dn.push(DnType::CommonName, "Alice Example");
    dn.push(DnType::OrganizationalUnitName, "staff");
    // rcgen keeps one value per DnType; the same OID as a custom type gives a second OU RDN.
    dn.push(DnType::CustomDnType(vec![2, 5, 4, 11]), "admins");
    p.subject_alt_names = vec![
        SanType::DnsName("alice.example.com".try_into().unwrap()),
        SanType::Rfc822Name("alice@example.com".try_into().unwrap()),
        SanType::Rfc822Name("second@example.com".try_into().unwrap()),
    ];
    ca.issue(p, serial)
}

/// A server certificate for `vpn.test` issued by `ca`.
pub fn server(ca: &Ca) -> Client {
    let mut p = CertificateParams::new(vec!["vpn.test".to_string()]).unwrap();
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    ca.issue(p, 1000)
}
