//! A DTLS session that never existed, as OpenSSL's DER (`SSL_SESSION_ASN1`): the server "resumes"
//! it with the master secret from `X-DTLS-Master-Secret` (protocol.md §5.3, crates.md §2.4), and a
//! test or load-generating client uses one to put a chosen id in its ClientHello (§5.2). Pure
//! encoding: the caller passes the time; the result holds the master secret and is wiped on drop.

use zeroize::Zeroizing;

/// `SSL_SESSION_ASN1_VERSION`.
const ASN1_VERSION: u64 = 1;
/// `DTLS1_2_VERSION` (OpenSSL's protocol number of DTLS 1.2).
pub const DTLS1_2_VERSION: u64 = 0xFEFD;
/// Lifetime of the fake session in seconds. Without `[2] timeout` OpenSSL uses 3 s; the session
/// is consulted only by the handshake that follows the association's creation.
pub const SESSION_TIMEOUT_SECS: u64 = 3600;

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_EXPLICIT_1: u8 = 0xA1;
const TAG_EXPLICIT_2: u8 = 0xA2;

/// Appends one DER TLV.
fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
}

/// The DER content octets of a non-negative INTEGER.
fn uint(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut out = Vec::with_capacity(9);
    if bytes.get(skip).is_some_and(|b| b & 0x80 != 0) {
        out.push(0);
    }
    out.extend_from_slice(bytes.get(skip..).unwrap_or_default());
    out
}

/// DER of `SEQ { version 1, ssl_version, cipher(2B), session_id, master_key, [1] time,
/// [2] timeout }`. The result contains the master secret: it is wiped on drop.
pub fn session_der(
    ssl_version: u64,
    cipher_id: u16,
    session_id: &[u8],
    master: &[u8],
    now_unix: u64,
) -> Zeroizing<Vec<u8>> {
    let mut body = Zeroizing::new(Vec::with_capacity(160));
    tlv(&mut body, TAG_INTEGER, &uint(ASN1_VERSION));
    tlv(&mut body, TAG_INTEGER, &uint(ssl_version));
    tlv(&mut body, TAG_OCTET_STRING, &cipher_id.to_be_bytes());
    tlv(&mut body, TAG_OCTET_STRING, session_id);
    tlv(&mut body, TAG_OCTET_STRING, master);
    let mut inner = Vec::with_capacity(12);
    tlv(&mut inner, TAG_INTEGER, &uint(now_unix));
    tlv(&mut body, TAG_EXPLICIT_1, &inner);
    inner.clear();
    tlv(&mut inner, TAG_INTEGER, &uint(SESSION_TIMEOUT_SECS));
    tlv(&mut body, TAG_EXPLICIT_2, &inner);
    let mut out = Zeroizing::new(Vec::with_capacity(body.len() + 4));
    tlv(&mut out, TAG_SEQUENCE, &body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(uint(0), vec![0]);
        assert_eq!(uint(1), vec![1]);
        assert_eq!(uint(0x7F), vec![0x7F]);
        assert_eq!(uint(0x80), vec![0, 0x80]);
        assert_eq!(uint(0xFEFD), vec![0, 0xFE, 0xFD]);
        assert_eq!(uint(3600), vec![0x0E, 0x10]);
    }

    #[test]
    fn long_lengths_use_the_long_form() {
        let mut out = Vec::new();
        tlv(&mut out, TAG_OCTET_STRING, &[0u8; 200]);
        assert_eq!(out.get(..3), Some(&[0x04, 0x81, 200][..]));
        assert_eq!(out.len(), 203);
    }

    #[test]
    fn der_layout_matches_ssl_session_asn1() {
        let sid = [0x11u8; 32];
        let ms = [0x22u8; 48];
        let der = session_der(DTLS1_2_VERSION, 0x009C, &sid, &ms, 0x6000_0000);
        let mut expected = vec![0x30];
        let mut body = vec![
            0x02, 0x01, 0x01, 0x02, 0x03, 0x00, 0xFE, 0xFD, 0x04, 0x02, 0x00, 0x9C,
        ];
        body.extend_from_slice(&[0x04, 32]);
        body.extend_from_slice(&sid);
        body.extend_from_slice(&[0x04, 48]);
        body.extend_from_slice(&ms);
        body.extend_from_slice(&[0xA1, 0x06, 0x02, 0x04, 0x60, 0x00, 0x00, 0x00]);
        body.extend_from_slice(&[0xA2, 0x04, 0x02, 0x02, 0x0E, 0x10]);
        expected.push(body.len() as u8);
        expected.extend_from_slice(&body);
        assert_eq!(der.as_slice(), expected.as_slice());
    }
}
