use super::testpki::{alice, Ca, UID};
use super::*;
use rcgen::{CertificateParams, DnType, DnValue};

const UID_OID: &str = "0.9.2342.19200300.100.1.1";
const CN_OID: &str = "2.5.4.3";
const OU_OID: &str = "2.5.4.11";

fn cert_with(dn: &[(DnType, DnValue)], sans: Vec<rcgen::SanType>) -> Vec<u8> {
    let ca = Ca::new("Test CA");
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    for (t, v) in dn {
        p.distinguished_name.push(t.clone(), v.clone());
    }
    p.subject_alt_names = sans;
    ca.issue(p, 7).cert.to_vec()
}

#[test]
fn username_from_uid_cn_and_email_san() {
    let ca = Ca::new("Test CA");
    let der = alice(&ca, 1).cert.to_vec();
    assert_eq!(identity(&der, UID_OID, None).unwrap().username, "alice");
    assert_eq!(
        identity(&der, CN_OID, None).unwrap().username,
        "Alice Example"
    );
    // The first rfc822Name, not the DNS name before it nor the second e-mail.
    assert_eq!(
        identity(&der, "SAN(rfc822name)", None).unwrap().username,
        "alice@example.com"
    );
    assert_eq!(
        identity(&der, "san(RFC822NAME)", None).unwrap().username,
        "alice@example.com"
    );
    // Leading zeros in an arc name the same OID.
    assert_eq!(
        identity(&der, "2.5.4.03", None).unwrap().username,
        "Alice Example"
    );
}

#[test]
fn groups_are_every_matching_rdn_in_order() {
    let ca = Ca::new("Test CA");
    let der = alice(&ca, 1).cert.to_vec();
    let id = identity(&der, UID_OID, Some(OU_OID)).unwrap();
    assert_eq!(id.groups, vec!["staff".to_string(), "admins".to_string()]);
    assert!(identity(&der, UID_OID, None).unwrap().groups.is_empty());
    // A group OID the certificate does not carry gives no groups, not an error.
    let id = identity(&der, UID_OID, Some("2.5.4.10")).unwrap();
    assert!(id.groups.is_empty());
}

#[test]
fn fingerprint_is_sha256_of_the_leaf() {
    use sha2::Digest as _;
    let ca = Ca::new("Test CA");
    let a = alice(&ca, 1).cert.to_vec();
    let b = alice(&ca, 2).cert.to_vec();
    let ia = identity(&a, UID_OID, None).unwrap();
    let ib = identity(&b, UID_OID, None).unwrap();
    let want: [u8; 32] = sha2::Sha256::digest(&a).into();
    assert_eq!(ia.fingerprint, want);
    assert_ne!(ia.fingerprint, ib.fingerprint);
}

#[test]
fn missing_field_is_a_clear_error() {
    let ca = Ca::new("Test CA");
    let der = ca.simple("bob", 3).cert.to_vec();
    let e = identity(&der, "SAN(rfc822name)", None).unwrap_err();
    assert_eq!(e, CertAuthError::NoUsername(Field::SanEmail));
    assert!(e.to_string().contains("SAN(rfc822name)"), "{e}");
    let e = identity(&der, "2.5.4.10", None).unwrap_err();
    assert!(e.to_string().contains("2.5.4.10"), "{e}");
}

#[test]
fn bad_oids_are_refused() {
    let ca = Ca::new("Test CA");
    let der = ca.simple("bob", 3).cert.to_vec();
    for bad in ["", "CN", "2.5..3", "2", "7.1.2", "2.5.4.x", "SAN(dnsname)"] {
        let e = identity(&der, bad, None).unwrap_err();
        assert!(
            matches!(
                e,
                CertAuthError::BadOid {
                    option: "cert-user-oid",
                    ..
                }
            ),
            "{bad}: {e}"
        );
    }
    let e = identity(&der, UID_OID, Some("SAN(rfc822name)")).unwrap_err();
    assert!(matches!(
        e,
        CertAuthError::BadOid {
            option: "cert-group-oid",
            ..
        }
    ));
    assert!(check_oids(UID_OID, Some(OU_OID)).is_ok());
    assert!(check_oids("SAN(rfc822name)", None).is_ok());
    assert!(check_oids("x", None).is_err());
}

#[test]
fn garbage_is_a_parse_error() {
    for junk in [&b""[..], b"\x30\x03\x02\x01", b"not a certificate at all"] {
        let e = identity(junk, UID_OID, None).unwrap_err();
        assert!(matches!(e, CertAuthError::Parse(_)), "{e}");
    }
}

#[test]
fn names_must_be_short_printable_and_non_empty() {
    let long = "a".repeat(64);
    let der = cert_with(&[(DnType::CommonName, long.as_str().into())], vec![]);
    let e = identity(&der, CN_OID, None).unwrap_err();
    assert!(e.to_string().contains("64 bytes"), "{e}");

    let ok = "é".repeat(31); // 62 bytes
    let der = cert_with(&[(DnType::CommonName, ok.as_str().into())], vec![]);
    assert_eq!(identity(&der, CN_OID, None).unwrap().username, ok);

    let der = cert_with(&[(DnType::CommonName, "ali\nce".into())], vec![]);
    let e = identity(&der, CN_OID, None).unwrap_err();
    assert!(e.to_string().contains("control"), "{e}");

    let der = cert_with(&[(DnType::CommonName, "".into())], vec![]);
    let e = identity(&der, CN_OID, None).unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");

    // A bad group value is an error too, naming the group OID.
    let der = cert_with(
        &[
            (DnType::CommonName, "carol".into()),
            (DnType::OrganizationalUnitName, "bad\u{7}group".into()),
        ],
        vec![],
    );
    let e = identity(&der, CN_OID, Some(OU_OID)).unwrap_err();
    assert!(
        e.to_string().contains("group name") && e.to_string().contains(OU_OID),
        "{e}"
    );
}

#[test]
fn string_encodings_bmp_printable_ia5() {
    let bmp = rcgen::BmpString::try_from("jürgen").unwrap();
    let der = cert_with(
        &[
            (DnType::CustomDnType(UID.to_vec()), DnValue::BmpString(bmp)),
            (
                DnType::CommonName,
                DnValue::PrintableString("Dave".try_into().unwrap()),
            ),
            (
                DnType::OrganizationalUnitName,
                DnValue::Ia5String("ops".try_into().unwrap()),
            ),
        ],
        vec![],
    );
    let id = identity(&der, UID_OID, Some(OU_OID)).unwrap();
    assert_eq!(id.username, "jürgen");
    assert_eq!(id.groups, vec!["ops".to_string()]);
    assert_eq!(identity(&der, CN_OID, None).unwrap().username, "Dave");
}
