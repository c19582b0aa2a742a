use super::*;

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("<not utf-8>")
}

/// Splits a request into (head lines, body) and checks Content-Length.
fn split(req: &[u8]) -> (Vec<String>, String) {
    let t = text(req);
    let Some((head, body)) = t.split_once("\r\n\r\n") else {
        panic!("no blank line in {t}");
    };
    let lines: Vec<String> = head.split("\r\n").map(str::to_owned).collect();
    if let Some(cl) = lines
        .iter()
        .find_map(|l| l.strip_prefix("Content-Length: "))
    {
        assert_eq!(cl.parse::<usize>().ok(), Some(body.len()));
    }
    (lines, body.to_owned())
}

#[test]
fn init_post_is_openconnects() {
    let req = init_request("10.251.0.1:443", "/", "https://10.251.0.1:443/");
    let (lines, body) = split(&req);
    assert_eq!(lines.first().map(String::as_str), Some("POST / HTTP/1.1"));
    for h in [
        "Host: 10.251.0.1:443",
        "User-Agent: Open AnyConnect VPN Agent v9.01-3",
        "X-Transcend-Version: 1",
        "X-Aggregate-Auth: 1",
        "X-Support-HTTP-Auth: true",
        "Content-Type: application/xml; charset=utf-8",
    ] {
        assert!(lines.iter().any(|l| l == h), "missing {h}");
    }
    assert!(
        body.contains("<config-auth client=\"vpn\" type=\"init\" aggregate-auth-version=\"2\">")
    );
    assert!(body.contains("<group-access>https://10.251.0.1:443/</group-access>"));
    assert!(body.contains("<device-id>linux-64</device-id>"));
    // X-Pad makes body + pad a multiple of 64
    let pad = lines
        .iter()
        .find_map(|l| l.strip_prefix("X-Pad: "))
        .map_or(0, str::len);
    assert_eq!((body.len() + pad) % 64, 0);
    assert!(pad <= 64);
    assert!(!lines.iter().any(|l| l.starts_with("Cookie:")));
}

#[test]
fn auth_reply_escapes_values_echoes_opaque_and_cookies() {
    let cookies = vec![
        ("webvpncontext".to_owned(), "ctx1".to_owned()),
        ("webvpnc".to_owned(), String::new()),
    ];
    let fields = vec![
        ("username".to_owned(), "bob".to_owned()),
        ("password".to_owned(), "p<&>\"w".to_owned()),
    ];
    let req = auth_reply_request(
        "h",
        "/auth",
        &cookies,
        &fields,
        Some("<opaque is-for=\"sg\">x</opaque>"),
    );
    let (lines, body) = split(&req);
    assert_eq!(
        lines.first().map(String::as_str),
        Some("POST /auth HTTP/1.1")
    );
    assert!(
        lines.iter().any(|l| l == "Cookie: webvpncontext=ctx1"),
        "{lines:?}"
    );
    assert!(body.contains("type=\"auth-reply\""));
    assert!(
        body.contains(
            "<auth><username>bob</username><password>p&lt;&amp;&gt;&quot;w</password></auth>"
        ),
        "{body}"
    );
    assert!(body.contains("<opaque is-for=\"sg\">x</opaque>"));
}

#[test]
fn connect_request_with_and_without_dtls() {
    let ms = [0xABu8; 48];
    let p = ConnectParams {
        host: "10.251.0.1:443",
        cookie: "COOKIE==",
        hostname: "lg1",
        base_mtu: 1500,
        mtu: 1406,
        dtls_master: Some(&ms),
    };
    assert!(!format!("{p:?}").contains("COOKIE"));
    let req = connect_request(&p);
    let (lines, body) = split(&req);
    assert!(body.is_empty());
    assert_eq!(
        lines.first().map(String::as_str),
        Some("CONNECT /CSCOSSLC/tunnel HTTP/1.1")
    );
    for h in [
        "Cookie: webvpn=COOKIE==",
        "X-CSTP-Version: 1",
        "X-CSTP-Hostname: lg1",
        "X-CSTP-Base-MTU: 1500",
        "X-CSTP-MTU: 1406",
        "X-CSTP-Address-Type: IPv4",
    ] {
        assert!(lines.iter().any(|l| l == h), "missing {h}");
    }
    let secret = lines
        .iter()
        .find_map(|l| l.strip_prefix("X-DTLS-Master-Secret: "));
    assert_eq!(secret, Some("AB".repeat(48).as_str()));
    let suites = lines
        .iter()
        .find_map(|l| l.strip_prefix("X-DTLS-CipherSuite: "));
    assert!(suites.is_some_and(|s| s.split(':').next() == Some("PSK-NEGOTIATE")));
    let no = connect_request(&ConnectParams {
        dtls_master: None,
        ..p
    });
    let (lines, _) = split(&no);
    assert!(!lines.iter().any(|l| l.starts_with("X-DTLS")));
}

#[test]
fn response_heads_parse_and_refuse_garbage() {
    let raw = b"HTTP/1.1 200 OK\r\nSet-Cookie: webvpncontext=abc; Secure; HttpOnly\r\n\
set-cookie: webvpn=C00K=; Secure\r\nContent-Length: 12\r\n\r\n";
    let Ok(h) = parse_response_head(raw) else {
        panic!("parse")
    };
    assert_eq!(h.status, 200);
    assert_eq!(h.reason, "OK");
    assert_eq!(h.content_length(), Ok(12));
    let cookies: Vec<_> = h.set_cookies().collect();
    assert_eq!(cookies, vec![("webvpncontext", "abc"), ("webvpn", "C00K=")]);
    assert_eq!(
        parse_response_head(b"HTTP/2 200\r\n\r\n"),
        Err(HttpError::BadStatus)
    );
    assert_eq!(
        parse_response_head(b"HTTP/1.1 20x OK\r\n\r\n"),
        Err(HttpError::BadStatus)
    );
    assert_eq!(
        parse_response_head(b"HTTP/1.1 200 OK\r\nnocolon\r\n\r\n"),
        Err(HttpError::BadHeader)
    );
    let Ok(big) = parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n")
    else {
        panic!("parse")
    };
    assert_eq!(big.content_length(), Err(HttpError::BadLength));
    assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n"), None);
}
