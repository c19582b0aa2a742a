//! Who a verified client certificate names: the username from `cert-user-oid` (a subject DN OID or
//! `SAN(rfc822name)`), the groups from `cert-group-oid` (every matching RDN), and the SHA-256
//! fingerprint of the leaf. The certificate must already have been verified by the TLS layer
//! (`tls::ClientVerifier`); this module only reads names out of it.

use std::fmt;

use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::extensions::GeneralName;
use x509_parser::x509::AttributeTypeAndValue;

/// Longest username or group name taken from a certificate, in bytes (ocserv's limit).
pub const MAX_NAME_LEN: usize = 63;

/// The identity a client certificate carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertIdentity {
    /// Value of the `cert-user-oid` field.
    pub username: String,
    /// Values of every `cert-group-oid` RDN, in certificate order (empty without `cert-group-oid`).
    pub groups: Vec<String>,
    /// SHA-256 of the leaf certificate's DER encoding.
    pub fingerprint: [u8; 32],
}

/// Where a name was looked for, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// A subject DN attribute, by dotted OID.
    Dn(String),
    /// The first rfc822Name (e-mail) subject alternative name.
    SanEmail,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Dn(oid) => write!(f, "subject DN attribute {oid}"),
            Field::SanEmail => f.write_str("SAN(rfc822name)"),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertAuthError {
    #[error("invalid {option} {value:?}: expected a dotted OID such as 2.5.4.3{san}")]
    BadOid {
        option: &'static str,
        value: String,
        san: &'static str,
    },
    #[error("cannot parse the client certificate: {0}")]
    Parse(String),
    #[error("the client certificate has no {0} to take the username from")]
    NoUsername(Field),
    #[error("the client certificate's {field} is not usable as a {what}: {reason}")]
    BadValue {
        field: Field,
        what: &'static str,
        reason: String,
    },
}

/// What `cert-user-oid` names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum UserSource {
    Dn(String),
    SanEmail,
}

/// Parses a dotted OID into its canonical form (`"2.5.4.03"` becomes `"2.5.4.3"`).
fn canonical_oid(s: &str) -> Option<String> {
    let arcs: Vec<u64> = s
        .trim()
        .split('.')
        .map(|a| {
            if a.is_empty() || !a.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                a.parse().ok()
            }
        })
        .collect::<Option<_>>()?;
    if arcs.len() < 2 || arcs.first().is_some_and(|&a| a > 2) {
        return None;
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

fn user_source(user_oid: &str) -> Result<UserSource, CertAuthError> {
    if user_oid.trim().eq_ignore_ascii_case("SAN(rfc822name)") {
        return Ok(UserSource::SanEmail);
    }
    canonical_oid(user_oid)
        .map(UserSource::Dn)
        .ok_or_else(|| CertAuthError::BadOid {
            option: "cert-user-oid",
            value: user_oid.to_string(),
            san: " or SAN(rfc822name)",
        })
}

/// Checks the configuration values without a certificate, so that a bad `cert-user-oid` or
/// `cert-group-oid` is reported at start-up rather than at the first login.
pub fn check_oids(user_oid: &str, group_oid: Option<&str>) -> Result<(), CertAuthError> {
    user_source(user_oid)?;
    if let Some(g) = group_oid {
        group_source(g)?;
    }
    Ok(())
}

fn group_source(group_oid: &str) -> Result<String, CertAuthError> {
    canonical_oid(group_oid).ok_or_else(|| CertAuthError::BadOid {
        option: "cert-group-oid",
        value: group_oid.to_string(),
        san: "",
    })
}

/// Decodes a DirectoryString-like attribute value to UTF-8.
fn attr_string(attr: &AttributeTypeAndValue<'_>) -> Result<String, String> {
    let value = attr.attr_value();
    let data: &[u8] = value.data;
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::NumericString => {
            std::str::from_utf8(data)
                .map(str::to_string)
                .map_err(|_| "not valid UTF-8".to_string())
        }
        Tag::BmpString => {
            if data.len() % 2 != 0 {
                return Err("malformed BMPString".into());
            }
            let units = data.chunks_exact(2).map(|c| match c {
                [hi, lo] => u16::from_be_bytes([*hi, *lo]),
                _ => 0,
            });
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .map_err(|_| "malformed BMPString".to_string())
        }
        Tag::UniversalString => {
            if data.len() % 4 != 0 {
                return Err("malformed UniversalString".into());
            }
            data.chunks_exact(4)
                .map(|c| match c {
                    [a, b, d, e] => char::from_u32(u32::from_be_bytes([*a, *b, *d, *e])),
                    _ => None,
                })
                .collect::<Option<String>>()
                .ok_or_else(|| "malformed UniversalString".to_string())
        }
        t => Err(format!("unsupported string type {t}")),
    }
}

/// A name is usable when it is non-empty, at most [`MAX_NAME_LEN`] bytes and free of control
/// characters.
fn check_name(field: &Field, what: &'static str, value: String) -> Result<String, CertAuthError> {
    let bad = |reason: String| CertAuthError::BadValue {
        field: field.clone(),
        what,
        reason,
    };
    if value.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(bad(format!(
            "it is {} bytes long, the limit is {MAX_NAME_LEN}",
            value.len()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(bad("it contains control characters".into()));
    }
    Ok(value)
}

/// Reads the identity out of a (verified) leaf certificate. `user_oid` is ocserv's
/// `cert-user-oid`: a dotted OID looked up in the subject DN (the first matching attribute counts)
/// or the literal `SAN(rfc822name)` (the first e-mail subject alternative name). `group_oid` is
/// `cert-group-oid`: every subject DN attribute with that OID is a group.
pub fn identity(
    leaf_der: &[u8],
    user_oid: &str,
    group_oid: Option<&str>,
) -> Result<CertIdentity, CertAuthError> {
    use sha2::Digest as _;
    let source = user_source(user_oid)?;
    let group_oid = group_oid.map(group_source).transpose()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf_der)
        .map_err(|e| CertAuthError::Parse(e.to_string()))?;
    let subject = cert.subject();

    let username = match &source {
        UserSource::Dn(oid) => {
            let field = Field::Dn(oid.clone());
            let attr = subject
                .iter_attributes()
                .find(|a| a.attr_type().to_id_string() == *oid)
                .ok_or_else(|| CertAuthError::NoUsername(field.clone()))?;
            let value = attr_string(attr).map_err(|reason| CertAuthError::BadValue {
                field: field.clone(),
                what: "username",
                reason,
            })?;
            check_name(&field, "username", value)?
        }
        UserSource::SanEmail => {
            let field = Field::SanEmail;
            let san = cert
                .subject_alternative_name()
                .map_err(|e| CertAuthError::Parse(e.to_string()))?;
            let email = san
                .and_then(|ext| {
                    ext.value.general_names.iter().find_map(|n| match n {
                        GeneralName::RFC822Name(s) => Some((*s).to_string()),
                        _ => None,
                    })
                })
                .ok_or_else(|| CertAuthError::NoUsername(field.clone()))?;
            check_name(&field, "username", email)?
        }
    };

    let mut groups = Vec::new();
    if let Some(oid) = group_oid {
        let field = Field::Dn(oid.clone());
        for attr in subject
            .iter_attributes()
            .filter(|a| a.attr_type().to_id_string() == oid)
        {
            let value = attr_string(attr).map_err(|reason| CertAuthError::BadValue {
                field: field.clone(),
                what: "group name",
                reason,
            })?;
            groups.push(check_name(&field, "group name", value)?);
        }
    }

    Ok(CertIdentity {
        username,
        groups,
        fingerprint: sha2::Sha256::digest(leaf_der).into(),
    })
}

#[cfg(test)]
pub(crate) mod testpki;
#[cfg(test)]
mod tests;
