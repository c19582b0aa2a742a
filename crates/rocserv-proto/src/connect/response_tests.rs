use super::*;

/// The parameters of the ocserv 1.1.6 reply observed in protocol.md §3.3.
fn observed() -> TunnelParams {
    TunnelParams {
        server_name: "ocserv 1.1.6".into(),
        hostname: Some("vm".into()),
        ipv4: Some((
            "192.168.99.50".parse().unwrap(),
            "255.255.255.0".parse().unwrap(),
        )),
        ipv6: Some(("fd00:99:0:8e4f:9a7c:c09f:b76e:58ef".parse().unwrap(), 64)),
        full_ipv6: true,
        dns: vec!["192.168.99.1".parse().unwrap()],
        nbns: vec![],
        default_domain: Some("example.test".into()),
        split_dns: vec![],
        split_include: vec![
            "10.10.0.0/16".parse().unwrap(),
            "fd00:1234::/32".parse().unwrap(),
        ],
        split_exclude: vec!["10.10.5.0/24".parse().unwrap()],
        tunnel_all_dns: false,
        keepalive: 32400,
        dpd: 90,
        idle_timeout: None,
        session_timeout: Some(0),
        session_timeout_remaining: Some(0),
        rekey_time: 172798,
        rekey_method: RekeyMethod::Ssl,
        base_mtu: 1500,
        mtu: 1434,
        banner: Some("Welcome to the test VPN".into()),
        dtls: None,
    }
}

fn render(p: &TunnelParams) -> String {
    let mut out = Vec::new();
    render_connect_response(p, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn matches_observed_ocserv_reply_exactly() {
    // ocserv 1.1.6's reply minus its X-DTLS-* lines (DTLS is not offered yet).
    let expected = "HTTP/1.1 200 CONNECTED\r\n\
X-CSTP-Version: 1\r\n\
X-CSTP-Server-Name: ocserv 1.1.6\r\n\
X-CSTP-Hostname: vm\r\n\
X-CSTP-DPD: 90\r\n\
X-CSTP-Default-Domain: example.test\r\n\
X-CSTP-Address: 192.168.99.50\r\n\
X-CSTP-Netmask: 255.255.255.0\r\n\
X-CSTP-Address-IP6: fd00:99:0:8e4f:9a7c:c09f:b76e:58ef/64\r\n\
X-CSTP-DNS: 192.168.99.1\r\n\
X-CSTP-Split-Include: 10.10.0.0/255.255.0.0\r\n\
X-CSTP-Split-Include-IP6: fd00:1234::/32\r\n\
X-CSTP-Tunnel-All-DNS: false\r\n\
X-CSTP-Client-Bypass-Protocol: false\r\n\
X-CSTP-Split-Exclude: 10.10.5.0/255.255.255.0\r\n\
X-CSTP-Keepalive: 32400\r\n\
X-CSTP-Idle-Timeout: none\r\n\
X-CSTP-Smartcard-Removal-Disconnect: true\r\n\
X-CSTP-Rekey-Time: 172798\r\n\
X-CSTP-Rekey-Method: ssl\r\n\
X-CSTP-Session-Timeout: 0\r\n\
X-CSTP-Session-Timeout-Remaining: 0\r\n\
X-CSTP-Disconnected-Timeout: none\r\n\
X-CSTP-Keep: true\r\n\
X-CSTP-TCP-Keepalive: true\r\n\
X-CSTP-License: accept\r\n\
X-CSTP-Base-MTU: 1500\r\n\
X-CSTP-MTU: 1434\r\n\
X-CSTP-Banner: Welcome to the test VPN\r\n\
\r\n";
    assert_eq!(render(&observed()), expected);
}

#[test]
fn full_tunnel_has_no_includes_and_all_dns() {
    let mut p = observed();
    p.split_include.clear();
    p.split_exclude.clear();
    p.tunnel_all_dns = false;
    let r = render(&p);
    assert!(!r.contains("Split-Include"), "{r}");
    assert!(!r.contains("Split-Exclude"), "{r}");
    assert!(r.contains("X-CSTP-Tunnel-All-DNS: true\r\n"), "{r}");
}

#[test]
fn tunnel_all_dns_flag_is_honoured_with_routes() {
    let mut p = observed();
    p.tunnel_all_dns = true;
    assert!(render(&p).contains("X-CSTP-Tunnel-All-DNS: true\r\n"));
}

#[test]
fn host_bits_are_zeroed() {
    let mut p = observed();
    p.split_include = vec![
        "10.10.3.7/16".parse().unwrap(),
        "fd00:1234::99/32".parse().unwrap(),
    ];
    p.split_exclude = vec!["192.168.1.77/24".parse().unwrap()];
    let r = render(&p);
    assert!(
        r.contains("X-CSTP-Split-Include: 10.10.0.0/255.255.0.0\r\n"),
        "{r}"
    );
    assert!(
        r.contains("X-CSTP-Split-Include-IP6: fd00:1234::/32\r\n"),
        "{r}"
    );
    assert!(
        r.contains("X-CSTP-Split-Exclude: 192.168.1.0/255.255.255.0\r\n"),
        "{r}"
    );
}

#[test]
fn legacy_ipv6_style() {
    let mut p = observed();
    p.full_ipv6 = false;
    let r = render(&p);
    assert!(!r.contains("X-CSTP-Address-IP6"), "{r}");
    assert!(
        r.contains(
            "X-CSTP-Address: 192.168.99.50\r\nX-CSTP-Netmask: 255.255.255.0\r\n\
X-CSTP-Address: fd00:99:0:8e4f:9a7c:c09f:b76e:58ef\r\nX-CSTP-Netmask: fd00:99:0:8e4f::/64\r\n"
        ),
        "{r}"
    );
    assert!(
        r.contains("X-CSTP-Split-Include: fd00:1234::/32\r\n"),
        "{r}"
    );
    assert!(!r.contains("-IP6"), "{r}");
}

#[test]
fn ipv4_only_client_gets_no_ipv6_routes_or_dns() {
    let mut p = observed();
    p.ipv6 = None;
    p.dns.push("fd00::53".parse().unwrap());
    let r = render(&p);
    assert!(!r.contains("IP6"), "{r}");
    assert!(!r.contains("fd00"), "{r}");
    assert!(r.contains("X-CSTP-Split-Include: 10.10.0.0/255.255.0.0\r\n"));
}

#[test]
fn dns_capped_at_three_mixed_families() {
    let mut p = observed();
    p.dns = vec![
        "10.0.0.1".parse().unwrap(),
        "fd00::1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
        "10.0.0.3".parse().unwrap(),
    ];
    p.nbns = vec!["10.0.0.9".parse().unwrap(), "fd00::9".parse().unwrap()];
    let r = render(&p);
    assert_eq!(r.matches("X-CSTP-DNS: ").count(), 3, "{r}");
    assert!(r.contains("X-CSTP-DNS: fd00::1\r\n"));
    assert!(!r.contains("10.0.0.3"));
    assert!(r.contains("X-CSTP-NBNS: 10.0.0.9\r\n"));
    assert!(!r.contains("X-CSTP-NBNS: fd00::9"));
}

#[test]
fn optional_headers_and_values() {
    let mut p = observed();
    p.hostname = None;
    p.default_domain = None;
    p.banner = None;
    p.idle_timeout = Some(1200);
    p.session_timeout = None;
    p.session_timeout_remaining = None;
    p.rekey_method = RekeyMethod::NewTunnel;
    p.split_dns = vec!["corp.example".into(), "lab.example".into()];
    let r = render(&p);
    assert!(!r.contains("X-CSTP-Hostname"));
    assert!(!r.contains("X-CSTP-Default-Domain"));
    assert!(!r.contains("X-CSTP-Banner"));
    assert!(!r.contains("Session-Timeout-Remaining"));
    assert!(r.contains("X-CSTP-Idle-Timeout: 1200\r\n"));
    assert!(r.contains("X-CSTP-Session-Timeout: none\r\n"));
    assert!(r.contains("X-CSTP-Rekey-Method: new-tunnel\r\n"));
    assert!(r.contains("X-CSTP-Split-DNS: corp.example\r\nX-CSTP-Split-DNS: lab.example\r\n"));
    assert_eq!(RekeyMethod::None.as_str(), "none");
}

#[test]
fn no_dtls_no_compression_no_content_length() {
    let r = render(&observed());
    assert!(!r.contains("X-DTLS"));
    assert!(!r.contains("Content-Encoding"));
    assert!(!r.contains("Content-Length"));
    assert!(r.ends_with("\r\n\r\n"));
}

#[test]
fn values_cannot_inject_headers() {
    let mut p = observed();
    p.server_name = "evil\r\nX-CSTP-MTU: 1".into();
    p.banner = Some("line one\nline two\r\nline three".into());
    p.default_domain = Some("a.example\rX".into());
    let r = render(&p);
    assert_eq!(r.matches("\r\nX-CSTP-MTU:").count(), 1, "{r}");
    assert!(
        r.contains("X-CSTP-Server-Name: evilX-CSTP-MTU: 1\r\n"),
        "{r}"
    );
    assert!(
        r.contains("X-CSTP-Banner: line one line two line three\r\n"),
        "{r}"
    );
    assert!(r.contains("X-CSTP-Default-Domain: a.exampleX\r\n"), "{r}");
    // Every line is a header line except the status line and the terminator.
    for line in r.trim_end().split("\r\n").skip(1) {
        assert!(line.starts_with("X-CSTP-"), "{line:?}");
    }
}

#[test]
fn refusals() {
    let mut out = Vec::new();
    render_connect_refusal(401, "Cookie is not acceptable", None, &mut out);
    assert_eq!(
        out,
        b"HTTP/1.1 401 Cookie is not acceptable\r\nContent-Length: 0\r\n\r\n"
    );
    out.clear();
    render_connect_refusal(
        503,
        "Service Unavailable",
        Some("Server configuration error"),
        &mut out,
    );
    assert_eq!(
        out,
        b"HTTP/1.1 503 Service Unavailable\r\nX-Reason: Server configuration error\r\nContent-Length: 0\r\n\r\n"
    );
    out.clear();
    render_connect_refusal(404, "Not Found", Some("a\r\nb"), &mut out);
    assert_eq!(
        out,
        b"HTTP/1.1 404 Not Found\r\nX-Reason: ab\r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn psk_dtls_headers_match_the_observed_ocserv_block() {
    use crate::dtls::{DtlsMode, DtlsParams};
    let mut p = observed();
    let mut id = [0u8; 32];
    id[0] = 0xe8;
    id[31] = 0xc5;
    p.dtls = Some(DtlsParams {
        port: 4443,
        id,
        mode: DtlsMode::Psk,
        dpd: 90,
        keepalive: 32400,
        mtu: 1434,
    });
    let text = render(&p);
    let expected = "X-CSTP-License: accept\r\n\
X-DTLS-DPD: 90\r\n\
X-DTLS-Port: 4443\r\n\
X-DTLS-Keepalive: 32400\r\n\
X-DTLS-App-ID: e8000000000000000000000000000000000000000000000000000000000000c5\r\n\
X-DTLS-CipherSuite: PSK-NEGOTIATE\r\n\
X-CSTP-Base-MTU: 1500\r\n";
    assert!(text.contains(expected), "{text}");
    assert!(!text.contains("X-DTLS-MTU"));
    assert!(!text.contains("X-DTLS-Session-ID"));
}

#[test]
fn legacy_dtls_headers_use_the_offered_family_and_a_64_digit_session_id() {
    use crate::dtls::{Dtls09Suite, DtlsMode, DtlsParams, HeaderFamily, Legacy12Suite};
    let mut p = observed();
    let modes = [
        (
            DtlsMode::Legacy12 {
                suite: Legacy12Suite::Aes256GcmSha384,
                name: "AES256-GCM-SHA384".into(),
                family: HeaderFamily::Dtls12CipherSuite,
            },
            "X-DTLS12-CipherSuite: AES256-GCM-SHA384\r\nX-DTLS-MTU: 1434\r\n",
        ),
        (
            DtlsMode::Dtls09 {
                suite: Dtls09Suite::Aes128Sha,
                name: "AES128-SHA".into(),
            },
            "X-DTLS-CipherSuite: AES128-SHA\r\nX-DTLS-MTU: 1434\r\n",
        ),
    ];
    for (mode, want) in modes {
        p.dtls = Some(DtlsParams {
            port: 443,
            id: [0xab; 32],
            mode,
            dpd: 90,
            keepalive: 32400,
            mtu: 1434,
        });
        let text = render(&p);
        assert!(text.contains(want), "{text}");
        let sid = text
            .lines()
            .find_map(|l| l.strip_prefix("X-DTLS-Session-ID: "))
            .unwrap();
        assert_eq!(sid.len(), 64);
        assert!(!text.contains("X-DTLS-App-ID"));
    }
}
