//! Typed view of the client's `CONNECT` headers. Lenient: anything unparsable is ignored.

use core::net::IpAddr;

use zeroize::Zeroize;

use crate::http::RequestHead;
use crate::mtu::MAX_CLIENT_MTU;
use crate::secret::SecretBytes;

/// Longest `X-CSTP-Hostname` kept, in characters.
pub const MAX_HOSTNAME_LEN: usize = 63;
/// `User-Agent` and device identifiers are truncated to this many characters.
pub const MAX_USER_AGENT_LEN: usize = 63;
/// Length of a legacy DTLS master secret (`X-DTLS-Master-Secret`, 96 hex digits).
pub const DTLS_MASTER_SECRET_LEN: usize = 48;
/// Most entries kept from a list header (cipher suites, encodings, addresses).
const MAX_LIST_ITEMS: usize = 32;
/// Longest list item kept.
const MAX_ITEM_LEN: usize = 64;

/// What the client asked for in its `CONNECT` (protocol.md §3.1). `Debug` redacts the master
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    /// `X-CSTP-Hostname`, if it is ≤ 63 characters of `[A-Za-z0-9._-]`.
    pub hostname: Option<String>,
    /// `X-CSTP-Base-MTU` (≤ 16384).
    pub base_mtu: Option<u16>,
    /// `X-CSTP-MTU` (≤ 16384).
    pub mtu: Option<u16>,
    /// `X-CSTP-Address-Type` lists `IPv4` (or the header is absent).
    pub wants_ipv4: bool,
    /// `X-CSTP-Address-Type` lists `IPv6` (or the header is absent).
    pub wants_ipv6: bool,
    /// `X-CSTP-Full-IPv6-Capability: true`.
    pub full_ipv6: bool,
    /// `X-CSTP-Address` hints sent on reconnect (previous addresses).
    pub prev_addresses: Vec<IpAddr>,
    /// `User-Agent`, control characters removed, truncated to 63 characters.
    pub user_agent: Option<String>,
    /// `X-AnyConnect-Identifier-Platform` (e.g. `android`, `apple-ios`).
    pub device_platform: Option<String>,
    /// `X-AnyConnect-Identifier-DeviceType`.
    pub device_type: Option<String>,
    /// `X-DTLS-Master-Secret`, decoded (exactly 48 bytes).
    pub dtls_master_secret: Option<SecretBytes>,
    /// `X-DTLS-CipherSuite`, split on `:`.
    pub dtls_ciphersuites: Vec<String>,
    /// `X-DTLS12-CipherSuite`, split on `:`.
    pub dtls12_ciphersuites: Vec<String>,
    /// `X-CSTP-Accept-Encoding`, split on `,`.
    pub cstp_accept_encoding: Vec<String>,
    /// `X-DTLS-Accept-Encoding`, split on `,`.
    pub dtls_accept_encoding: Vec<String>,
}

impl ConnectRequest {
    /// Extracts the tunnel parameters from a `CONNECT` head. Never fails.
    pub fn from_head(head: &RequestHead) -> ConnectRequest {
        let (wants_ipv4, wants_ipv6) = match head.header("X-CSTP-Address-Type") {
            Some(v) => {
                let v = v.to_ascii_lowercase();
                (v.contains("ipv4"), v.contains("ipv6"))
            }
            None => (true, true),
        };
        ConnectRequest {
            hostname: head.header("X-CSTP-Hostname").and_then(valid_hostname),
            base_mtu: head.header("X-CSTP-Base-MTU").and_then(parse_mtu),
            mtu: head.header("X-CSTP-MTU").and_then(parse_mtu),
            wants_ipv4,
            wants_ipv6,
            full_ipv6: head
                .header("X-CSTP-Full-IPv6-Capability")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
            prev_addresses: head
                .headers_named("X-CSTP-Address")
                .filter_map(|v| v.trim().parse().ok())
                .take(MAX_LIST_ITEMS)
                .collect(),
            user_agent: head.header("User-Agent").and_then(clean_text),
            device_platform: head
                .header("X-AnyConnect-Identifier-Platform")
                .and_then(clean_text),
            device_type: head
                .header("X-AnyConnect-Identifier-DeviceType")
                .and_then(clean_text),
            dtls_master_secret: head
                .header("X-DTLS-Master-Secret")
                .and_then(decode_master_secret),
            dtls_ciphersuites: split_list(head.header("X-DTLS-CipherSuite"), ':'),
            dtls12_ciphersuites: split_list(head.header("X-DTLS12-CipherSuite"), ':'),
            cstp_accept_encoding: split_list(head.header("X-CSTP-Accept-Encoding"), ','),
            dtls_accept_encoding: split_list(head.header("X-DTLS-Accept-Encoding"), ','),
        }
    }
}

fn valid_hostname(v: &str) -> Option<String> {
    let v = v.trim();
    let ok = !v.is_empty()
        && v.len() <= MAX_HOSTNAME_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    ok.then(|| v.to_owned())
}

fn parse_mtu(v: &str) -> Option<u16> {
    v.trim()
        .parse::<u16>()
        .ok()
        .filter(|&m| m > 0 && m <= MAX_CLIENT_MTU)
}

fn clean_text(v: &str) -> Option<String> {
    let s: String = v
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_LEN)
        .collect();
    (!s.is_empty()).then_some(s)
}

fn split_list(v: Option<&str>, sep: char) -> Vec<String> {
    v.map(|v| {
        v.split(sep)
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= MAX_ITEM_LEN)
            .take(MAX_LIST_ITEMS)
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode_master_secret(v: &str) -> Option<SecretBytes> {
    let v = v.trim().as_bytes();
    if v.len() != DTLS_MASTER_SECRET_LEN * 2 {
        return None;
    }
    let mut bytes = Vec::with_capacity(DTLS_MASTER_SECRET_LEN);
    for pair in v.chunks_exact(2) {
        let decoded = match pair {
            [hi, lo] => hex_val(*hi).zip(hex_val(*lo)),
            _ => None,
        };
        let Some((hi, lo)) = decoded else {
            bytes.zeroize();
            return None;
        };
        bytes.push((hi << 4) | lo);
    }
    Some(SecretBytes::new(bytes))
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
