use super::*;
use crate::http::parse_request_head;

/// The first CONNECT of a session as sent by openconnect 9.01-3 (protocol.md §3.1), with a
/// made-up master secret.
const OC_CONNECT: &str = "CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\n\
Host: vpn.test:4443\r\n\
User-Agent: Open AnyConnect VPN Agent v9.01-3\r\n\
Cookie: webvpn=AAAA\r\n\
X-CSTP-Version: 1\r\n\
X-CSTP-Hostname: vm\r\n\
X-AnyConnect-STRAP-Verify: MEYCIQC8\r\n\
X-AnyConnect-STRAP-Pubkey: MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\r\n\
X-CSTP-Accept-Encoding: oc-lz4,lzs\r\n\
X-CSTP-Base-MTU: 1500\r\n\
X-CSTP-MTU: 1390\r\n\
X-CSTP-Address-Type: IPv6,IPv4\r\n\
X-CSTP-Full-IPv6-Capability: true\r\n\
X-DTLS-Master-Secret: 000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F\r\n\
X-DTLS-CipherSuite: PSK-NEGOTIATE:OC-DTLS1_2-AES256-GCM:OC2-DTLS1_2-CHACHA20-POLY1305:OC-DTLS1_2-AES128-GCM:DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:AES256-SHA:AES128-SHA\r\n\
X-DTLS12-CipherSuite: ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-GCM-SHA256:DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:AES256-SHA:AES128-SHA\r\n\
X-DTLS-Accept-Encoding: oc-lz4,lzs\r\n\
\r\n";

fn head(raw: &str) -> RequestHead {
    parse_request_head(raw.as_bytes()).unwrap().unwrap().0
}

fn with_headers(lines: &[&str]) -> ConnectRequest {
    let mut raw = String::from("CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\n");
    for l in lines {
        raw.push_str(l);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    ConnectRequest::from_head(&head(&raw))
}

#[test]
fn openconnect_connect() {
    let r = ConnectRequest::from_head(&head(OC_CONNECT));
    assert_eq!(r.hostname.as_deref(), Some("vm"));
    assert_eq!(r.base_mtu, Some(1500));
    assert_eq!(r.mtu, Some(1390));
    assert!(r.wants_ipv4 && r.wants_ipv6 && r.full_ipv6);
    assert!(r.prev_addresses.is_empty());
    assert_eq!(
        r.user_agent.as_deref(),
        Some("Open AnyConnect VPN Agent v9.01-3")
    );
    assert_eq!(r.device_platform, None);
    let ms: Vec<u8> = (0u8..48).collect();
    assert_eq!(
        r.dtls_master_secret.as_ref().map(|s| s.expose()),
        Some(&ms[..])
    );
    assert_eq!(r.dtls_ciphersuites.len(), 8);
    assert_eq!(r.dtls_ciphersuites[0], "PSK-NEGOTIATE");
    assert_eq!(r.dtls12_ciphersuites[3], "AES128-GCM-SHA256");
    assert_eq!(r.cstp_accept_encoding, vec!["oc-lz4", "lzs"]);
    assert_eq!(r.dtls_accept_encoding, vec!["oc-lz4", "lzs"]);
    let dbg = format!("{r:?}");
    assert!(!dbg.contains("0A0B") && !dbg.contains("10, 11"), "{dbg}");
}

#[test]
fn address_type_variants() {
    let r = with_headers(&[]);
    assert!(r.wants_ipv4 && r.wants_ipv6 && !r.full_ipv6);
    let r = with_headers(&["X-CSTP-Address-Type: IPv4"]);
    assert!(r.wants_ipv4 && !r.wants_ipv6);
    let r = with_headers(&["X-CSTP-Address-Type: IPv6"]);
    assert!(!r.wants_ipv4 && r.wants_ipv6);
    let r = with_headers(&["X-CSTP-Full-IPv6-Capability: false"]);
    assert!(!r.full_ipv6);
}

#[test]
fn reconnect_address_hints() {
    let r = with_headers(&[
        "X-CSTP-Address: 192.168.99.50",
        "X-CSTP-Address: fd00::5",
        "X-CSTP-Address: garbage",
    ]);
    assert_eq!(
        r.prev_addresses,
        vec![
            "192.168.99.50".parse::<IpAddr>().unwrap(),
            "fd00::5".parse::<IpAddr>().unwrap()
        ]
    );
}

#[test]
fn lenient_numbers() {
    let r = with_headers(&["X-CSTP-Base-MTU: abc", "X-CSTP-MTU: 99999"]);
    assert_eq!((r.base_mtu, r.mtu), (None, None));
    let r = with_headers(&["X-CSTP-Base-MTU: 16385", "X-CSTP-MTU: 16384"]);
    assert_eq!((r.base_mtu, r.mtu), (None, Some(16384)));
    let r = with_headers(&["X-CSTP-Base-MTU: -1", "X-CSTP-MTU: 0"]);
    assert_eq!((r.base_mtu, r.mtu), (None, None));
}

#[test]
fn hostname_validation() {
    assert_eq!(
        with_headers(&["X-CSTP-Hostname: my-host_1.example"])
            .hostname
            .as_deref(),
        Some("my-host_1.example")
    );
    assert_eq!(with_headers(&["X-CSTP-Hostname: bad host"]).hostname, None);
    assert_eq!(with_headers(&["X-CSTP-Hostname: a;rm"]).hostname, None);
    assert_eq!(with_headers(&["X-CSTP-Hostname: héllo"]).hostname, None);
    let long = format!("X-CSTP-Hostname: {}", "h".repeat(64));
    assert_eq!(with_headers(&[&long]).hostname, None);
    let ok = format!("X-CSTP-Hostname: {}", "h".repeat(63));
    assert!(with_headers(&[&ok]).hostname.is_some());
}

#[test]
fn user_agent_is_truncated() {
    let ua = format!("User-Agent: {}", "u".repeat(100));
    let r = with_headers(&[&ua, "X-AnyConnect-Identifier-Platform: android"]);
    assert_eq!(r.user_agent.map(|s| s.len()), Some(63));
    assert_eq!(r.device_platform.as_deref(), Some("android"));
}

#[test]
fn master_secret_must_be_48_hex_bytes() {
    let short = format!("X-DTLS-Master-Secret: {}", "ab".repeat(47));
    assert!(with_headers(&[&short]).dtls_master_secret.is_none());
    let bad = format!("X-DTLS-Master-Secret: {}zz", "ab".repeat(47));
    assert!(with_headers(&[&bad]).dtls_master_secret.is_none());
    let good = format!("X-DTLS-Master-Secret: {}", "aB".repeat(48));
    let r = with_headers(&[&good]);
    assert_eq!(
        r.dtls_master_secret.as_ref().map(|s| s.expose().to_vec()),
        Some(vec![0xab; 48])
    );
}
