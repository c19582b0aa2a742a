use super::*;
use crate::http::{head_end, parse_response_head};

/// The reply of protocol.md §3.3 (ocserv 1.1.6, PSK-NEGOTIATE), byte for byte.
const OCSERV_REPLY: &str = "HTTP/1.1 200 CONNECTED\r\n\
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
X-DTLS-DPD: 90\r\n\
X-DTLS-Port: 4443\r\n\
X-DTLS-Rekey-Time: 172808\r\n\
X-DTLS-Rekey-Method: ssl\r\n\
X-DTLS-Keepalive: 32400\r\n\
X-DTLS-App-ID: e8ca42f63f2e674b72de433a5600d40282e21ffedeefc43dfd7598864980b3c5\r\n\
X-DTLS-CipherSuite: PSK-NEGOTIATE\r\n\
X-CSTP-Base-MTU: 1500\r\n\
X-CSTP-MTU: 1434\r\n\
X-CSTP-Banner: Welcome to the test VPN\r\n\
\r\n";

fn head(text: &str) -> ResponseHead {
    match parse_response_head(text.as_bytes()) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn documented_ocserv_reply_parses() {
    assert_eq!(head_end(OCSERV_REPLY.as_bytes()), Some(OCSERV_REPLY.len()));
    let p = parse_connect_reply(&head(OCSERV_REPLY));
    let expected = TunnelParams {
        address: Ipv4Addr::new(192, 168, 99, 50),
        netmask: Some(Ipv4Addr::new(255, 255, 255, 0)),
        mtu: 1434,
        base_mtu: Some(1500),
        dpd: 90,
        keepalive: 32400,
        dtls: Some(PskDtls {
            app_id: decode_hex("e8ca42f63f2e674b72de433a5600d40282e21ffedeefc43dfd7598864980b3c5")
                .unwrap_or_default(),
            port: 4443,
            dpd: 90,
            keepalive: 32400,
        }),
        other_dtls_cipher: None,
    };
    assert_eq!(p, Ok(expected));
    if let Ok(TunnelParams { dtls: Some(d), .. }) = parse_connect_reply(&head(OCSERV_REPLY)) {
        assert_eq!(d.app_id.len(), 32);
        assert_eq!(d.app_id.first(), Some(&0xe8));
    }
}

#[test]
fn legacy_dtls_reply_has_no_psk_parameters() {
    let text = OCSERV_REPLY.replace(
        "X-DTLS-CipherSuite: PSK-NEGOTIATE",
        "X-DTLS-CipherSuite: AES128-SHA",
    );
    let p = parse_connect_reply(&head(&text));
    assert!(
        matches!(&p, Ok(TunnelParams { dtls: None, other_dtls_cipher: Some(c), .. }) if c == "AES128-SHA"),
        "{p:?}"
    );
}

#[test]
fn no_dtls_headers_means_cstp_only() {
    let text: String = OCSERV_REPLY
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("X-DTLS-"))
        .collect();
    let p = parse_connect_reply(&head(&text));
    assert!(
        matches!(
            p,
            Ok(TunnelParams {
                dtls: None,
                other_dtls_cipher: None,
                ..
            })
        ),
        "{p:?}"
    );
}

#[test]
fn header_names_are_case_sensitive_like_openconnect() {
    // Go-style canonicalised names are not X-CSTP-*: openconnect sees no address.
    let text = OCSERV_REPLY.replace("X-CSTP-Address:", "X-Cstp-Address:");
    assert_eq!(
        parse_connect_reply(&head(&text)),
        Err(ReplyError::NoAddress)
    );
}

#[test]
fn missing_or_bad_values_are_errors() {
    let no_mtu = OCSERV_REPLY.replace("X-CSTP-MTU: 1434\r\n", "");
    assert_eq!(parse_connect_reply(&head(&no_mtu)), Err(ReplyError::NoMtu));
    let bad_dpd = OCSERV_REPLY.replace("X-CSTP-DPD: 90", "X-CSTP-DPD: soon");
    assert_eq!(
        parse_connect_reply(&head(&bad_dpd)),
        Err(ReplyError::BadValue("X-CSTP-DPD"))
    );
    let odd_id = OCSERV_REPLY.replace("X-DTLS-App-ID: e8", "X-DTLS-App-ID: e");
    assert_eq!(
        parse_connect_reply(&head(&odd_id)),
        Err(ReplyError::BadValue("X-DTLS-App-ID"))
    );
    let no_port = OCSERV_REPLY.replace("X-DTLS-Port: 4443\r\n", "");
    assert_eq!(
        parse_connect_reply(&head(&no_port)),
        Err(ReplyError::BadValue("X-DTLS-Port"))
    );
}

#[test]
fn refusals_carry_status_and_reason() {
    let r = head("HTTP/1.1 503 Service Unavailable\r\nX-Reason: no free IP\r\n\r\n");
    assert_eq!(
        parse_connect_reply(&r),
        Err(ReplyError::Refused {
            status: 503,
            reason: "no free IP".into()
        })
    );
    let r = head("HTTP/1.1 401 Cookie is not acceptable\r\n\r\n");
    assert_eq!(
        parse_connect_reply(&r),
        Err(ReplyError::Refused {
            status: 401,
            reason: "Cookie is not acceptable".into()
        })
    );
}

#[test]
fn hex_decoding() {
    assert_eq!(decode_hex("00fF10"), Some(vec![0, 255, 16]));
    assert_eq!(decode_hex("0"), None);
    assert_eq!(decode_hex("zz"), None);
    assert_eq!(decode_hex("é0"), None);
}
