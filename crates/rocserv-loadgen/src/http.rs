//! The HTTP side of the client: the requests openconnect 9.01 sends (protocol.md §1.5, §2.3,
//! §3.1) and a bounded parser for the server's response heads (§1.6).

use rocserv_proto::auth_xml::xml_escape;
use std::fmt::Write as _;

/// What openconnect 9.01 calls itself (protocol.md §1.5).
pub const USER_AGENT: &str = "Open AnyConnect VPN Agent v9.01-3";
/// The client version inside the XML.
const XML_VERSION: &str = "v9.01-3";
/// Longest response head we accept (the CONNECT reply of ocserv is about 1.2 KiB).
pub const MAX_HEAD: usize = 16 * 1024;
/// Longest response body we accept (auth forms are below 1 KiB).
pub const MAX_BODY: usize = 64 * 1024;

/// A parse failure of a server response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The status line is not `HTTP/1.x NNN ...`.
    #[error("bad status line")]
    BadStatus,
    /// A header line without a colon.
    #[error("bad header line")]
    BadHeader,
    /// The head is longer than [`MAX_HEAD`].
    #[error("response head longer than {MAX_HEAD} bytes")]
    HeadTooLong,
    /// The head is not UTF-8.
    #[error("response head is not UTF-8")]
    NotUtf8,
    /// A Content-Length that is not a number or above [`MAX_BODY`].
    #[error("bad or too large Content-Length")]
    BadLength,
}

/// A parsed response head (status and headers in wire order, names as sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The numeric status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Headers in wire order.
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    /// The first value of a header, name compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body length announced by Content-Length (0 when absent).
    pub fn content_length(&self) -> Result<usize, HttpError> {
        match self.header("Content-Length") {
            None => Ok(0),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n <= MAX_BODY => Ok(n),
                _ => Err(HttpError::BadLength),
            },
        }
    }

    /// `name=value` pairs of every `Set-Cookie` (attributes dropped, §1.6 rule 8).
    pub fn set_cookies(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Set-Cookie"))
            .filter_map(|(_, v)| {
                let pair = v.split(';').next()?.trim();
                pair.split_once('=')
            })
    }
}

/// The end of the head (index just past `\r\n\r\n`) if `buf` holds a complete one.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses a complete response head (through the blank line).
pub fn parse_response_head(head: &[u8]) -> Result<ResponseHead, HttpError> {
    if head.len() > MAX_HEAD {
        return Err(HttpError::HeadTooLong);
    }
    let text = std::str::from_utf8(head).map_err(|_| HttpError::NotUtf8)?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().ok_or(HttpError::BadStatus)?;
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .ok_or(HttpError::BadStatus)?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 {
        return Err(HttpError::BadStatus);
    }
    let status = code.parse::<u16>().map_err(|_| HttpError::BadStatus)?;
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or(HttpError::BadHeader)?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(ResponseHead {
        status,
        reason: reason.to_owned(),
        headers,
    })
}

/// The common `<version>`, `<device-id>` and `<capabilities>` of init and auth-reply.
fn client_identity() -> String {
    format!(
        "<version who=\"vpn\">{XML_VERSION}</version><device-id>linux-64</device-id>\
         <capabilities><auth-method>single-sign-on-v2</auth-method>\
         <auth-method>single-sign-on-external-browser</auth-method></capabilities>"
    )
}

/// A POST with openconnect's header set; `X-Pad` pads the body to a multiple of 64 (§1.5).
fn post(host: &str, path: &str, cookies: &[(String, String)], body: &str) -> Vec<u8> {
    let pad = (64 - body.len() % 64) % 64;
    let mut req = String::with_capacity(512 + body.len());
    let _ = write!(
        req,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\n\
         Accept-Encoding: identity\r\nX-Transcend-Version: 1\r\nX-Aggregate-Auth: 1\r\n\
         X-Support-HTTP-Auth: true\r\n"
    );
    if pad > 0 {
        let _ = write!(req, "X-Pad: {}\r\n", "0".repeat(pad));
    }
    if let Some(c) = cookie_header(cookies) {
        let _ = write!(req, "Cookie: {c}\r\n");
    }
    let _ = write!(
        req,
        "Content-Type: application/xml; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    req.into_bytes()
}

/// `a=1; b=2` from the non-empty cookies.
fn cookie_header(cookies: &[(String, String)]) -> Option<String> {
    let parts: Vec<String> = cookies
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The first request: `POST <path>` with a `type="init"` document (§1.5).
pub fn init_request(host: &str, path: &str, group_access: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<config-auth client=\"vpn\" type=\"init\" \
         aggregate-auth-version=\"2\">{}<group-access>{}</group-access></config-auth>\n",
        client_identity(),
        xml_escape(group_access)
    );
    post(host, path, &[], &body)
}

/// An `auth-reply` to `action` carrying the filled-in `fields` and the server's `opaque`
/// block verbatim (§2.3).
pub fn auth_reply_request(
    host: &str,
    action: &str,
    cookies: &[(String, String)],
    fields: &[(String, String)],
    opaque: Option<&str>,
) -> Vec<u8> {
    let mut auth = String::new();
    for (name, value) in fields {
        let name = xml_escape(name);
        let _ = write!(auth, "<{name}>{}</{name}>", xml_escape(value));
    }
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<config-auth client=\"vpn\" \
         type=\"auth-reply\" aggregate-auth-version=\"2\">{}{}<auth>{auth}</auth></config-auth>\n",
        client_identity(),
        opaque.unwrap_or_default()
    );
    post(host, action, cookies, &body)
}

/// Tunnel parameters the client asks for in its CONNECT (§3.1).
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectParams<'a> {
    /// `Host:` value.
    pub host: &'a str,
    /// The `webvpn` cookie (secret).
    pub cookie: &'a str,
    /// `X-CSTP-Hostname`.
    pub hostname: &'a str,
    /// `X-CSTP-Base-MTU`.
    pub base_mtu: u16,
    /// `X-CSTP-MTU`.
    pub mtu: u16,
    /// 48 random bytes for `X-DTLS-Master-Secret`; `None`: no DTLS headers (`--no-dtls`).
    pub dtls_master: Option<&'a [u8; 48]>,
}

impl std::fmt::Debug for ConnectParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectParams")
            .field("host", &self.host)
            .field("cookie", &"<redacted>")
            .field("hostname", &self.hostname)
            .field("base_mtu", &self.base_mtu)
            .field("mtu", &self.mtu)
            .field("dtls", &self.dtls_master.is_some())
            .finish()
    }
}

/// openconnect 9.01's `X-DTLS-CipherSuite` list (§3.1).
pub const DTLS_CIPHERSUITE: &str = "PSK-NEGOTIATE:OC-DTLS1_2-AES256-GCM:\
OC2-DTLS1_2-CHACHA20-POLY1305:OC-DTLS1_2-AES128-GCM:DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:\
AES256-SHA:AES128-SHA";
/// openconnect 9.01's `X-DTLS12-CipherSuite` list (§3.1).
pub const DTLS12_CIPHERSUITE: &str = "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:\
AES256-GCM-SHA384:AES128-GCM-SHA256:DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:AES256-SHA:AES128-SHA";

/// `CONNECT /CSCOSSLC/tunnel` with openconnect's headers (no STRAP, IPv4 only as with
/// `--disable-ipv6`). The result contains the cookie and the master secret.
pub fn connect_request(p: &ConnectParams<'_>) -> zeroize::Zeroizing<Vec<u8>> {
    let mut req = String::with_capacity(1024);
    let _ = write!(
        req,
        "CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\n\
         Cookie: webvpn={}\r\nX-CSTP-Version: 1\r\nX-CSTP-Hostname: {}\r\n\
         X-CSTP-Accept-Encoding: oc-lz4,lzs\r\nX-CSTP-Base-MTU: {}\r\nX-CSTP-MTU: {}\r\n\
         X-CSTP-Address-Type: IPv4\r\n",
        p.host, p.cookie, p.hostname, p.base_mtu, p.mtu
    );
    if let Some(ms) = p.dtls_master {
        let hex: String = ms.iter().map(|b| format!("{b:02X}")).collect();
        let _ = write!(
            req,
            "X-DTLS-Master-Secret: {hex}\r\nX-DTLS-CipherSuite: {DTLS_CIPHERSUITE}\r\n\
             X-DTLS12-CipherSuite: {DTLS12_CIPHERSUITE}\r\nX-DTLS-Accept-Encoding: oc-lz4,lzs\r\n"
        );
    }
    req.push_str("\r\n");
    zeroize::Zeroizing::new(req.into_bytes())
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
