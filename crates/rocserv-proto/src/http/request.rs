//! Request-head parsing with hard limits.

use std::fmt;

use super::{is_sensitive_header, HttpError, MAX_BODY_BYTES, MAX_HEAD_BYTES};

/// Most header lines accepted in one request head.
pub const MAX_HEADERS: usize = 64;

/// The request method. Only the ones the server routes on get a variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `CONNECT` (the tunnel request)
    Connect,
    /// `HEAD`
    Head,
    /// Anything else, verbatim.
    Other(String),
}

impl Method {
    fn from_token(token: &str) -> Self {
        match token {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "CONNECT" => Method::Connect,
            "HEAD" => Method::Head,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The method token as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Connect => "CONNECT",
            Method::Head => "HEAD",
            Method::Other(s) => s,
        }
    }
}

/// A parsed HTTP/1.x request head. `Debug` redacts credentials (see
/// [`super::is_sensitive_header`]) and the query string (it may carry a camouflage secret).
#[derive(Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The request target without the query string, e.g. `/auth` or `/CSCOSSLC/tunnel`.
    pub path: String,
    /// The query string without the leading `?`, if there was one.
    pub query: Option<String>,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    headers: Vec<(String, String)>,
}

impl RequestHead {
    /// Builds a head directly (for tests and for callers that parsed elsewhere).
    pub fn new(
        method: Method,
        target: &str,
        minor_version: u8,
        headers: Vec<(String, String)>,
    ) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };
        Self {
            method,
            path,
            query,
            minor_version,
            headers,
        }
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The values of all headers called `name` (case-insensitive), in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All headers in wire order, names as sent.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body length announced by `Content-Length`: `0` when absent. Several
    /// `Content-Length` headers must agree.
    pub fn content_length(&self) -> Result<usize, HttpError> {
        let mut found: Option<usize> = None;
        for value in self.headers_named("Content-Length") {
            let value = value.trim();
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HttpError::BadContentLength);
            }
            // Too many digits to fit is certainly too large.
            let n = value
                .parse::<usize>()
                .map_err(|_| HttpError::BodyTooLarge)?;
            match found {
                Some(prev) if prev != n => return Err(HttpError::BadContentLength),
                _ => found = Some(n),
            }
        }
        let n = found.unwrap_or(0);
        if n > MAX_BODY_BYTES {
            return Err(HttpError::BodyTooLarge);
        }
        Ok(n)
    }

    /// The value of cookie `name` (case-sensitive) from any `Cookie` header; the headers are
    /// `;`-separated `name=value` lists. First match wins.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers_named("Cookie")
            .flat_map(|h| h.split(';'))
            .filter_map(|pair| pair.split_once('='))
            .find(|(n, _)| n.trim() == name)
            .map(|(_, v)| v.trim())
    }

    /// Whether the connection should be closed after answering this request:
    /// `Connection: close`, or HTTP/1.0 without `Connection: keep-alive`.
    pub fn wants_close(&self) -> bool {
        let has_token = |token: &str| {
            self.headers_named("Connection")
                .flat_map(|v| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if has_token("close") {
            return true;
        }
        self.minor_version == 0 && !has_token("keep-alive")
    }
}

impl fmt::Debug for RequestHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a [(String, String)]);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list()
                    .entries(self.0.iter().map(|(n, v)| {
                        let v = if is_sensitive_header(n) {
                            "<redacted>"
                        } else {
                            v.as_str()
                        };
                        (n.as_str(), v)
                    }))
                    .finish()
            }
        }
        f.debug_struct("RequestHead")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query.as_ref().map(|_| "<redacted>"))
            .field("minor_version", &self.minor_version)
            .field("headers", &Headers(&self.headers))
            .finish()
    }
}

/// Parses a request head from the start of `buf`.
///
/// * `Ok(None)`: the head is incomplete; read more bytes and call again.
/// * `Ok(Some((head, n)))`: the head occupies `buf[..n]`; the body (if any) follows.
/// * `Err(HeadTooLarge)`: no complete head within [`MAX_HEAD_BYTES`].
/// * `Err(UnsupportedTransferEncoding)`: the request has a `Transfer-Encoding` header.
/// * `Err(BadContentLength | BodyTooLarge)`: `Content-Length` is invalid or too large.
/// * `Err(TooManyHeaders | Malformed(..))`: not an acceptable HTTP/1.x head.
pub fn parse_request_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HttpError> {
    let limited = buf.get(..MAX_HEAD_BYTES).unwrap_or(buf);
    let mut raw_headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut raw_headers);
    let consumed = match req.parse(limited) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if limited.len() >= MAX_HEAD_BYTES {
                Err(HttpError::HeadTooLarge)
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(e) => return Err(HttpError::Malformed(e.to_string())),
    };
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(HttpError::Malformed("incomplete request line".to_owned()));
    };
    let headers = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).trim().to_owned(),
            )
        })
        .collect();
    let head = RequestHead::new(Method::from_token(method), target, minor_version, headers);
    if head.header("Transfer-Encoding").is_some() {
        return Err(HttpError::UnsupportedTransferEncoding);
    }
    head.content_length()?;
    Ok(Some((head, consumed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INIT: &[u8] = b"POST / HTTP/1.1\r\n\
Host: vpn.test:4443\r\n\
User-Agent: Open AnyConnect VPN Agent v9.01-3\r\n\
Accept: */*\r\n\
Accept-Encoding: identity\r\n\
X-Transcend-Version: 1\r\n\
X-Aggregate-Auth: 1\r\n\
X-Support-HTTP-Auth: true\r\n\
X-Pad: 0000000000000000\r\n\
Content-Type: application/xml; charset=utf-8\r\n\
Content-Length: 368\r\n\
\r\n\
<?xml";

    fn parse_ok(buf: &[u8]) -> (RequestHead, usize) {
        parse_request_head(buf).unwrap().unwrap()
    }

    #[test]
    fn parses_openconnect_init_head() {
        let (head, n) = parse_ok(INIT);
        assert_eq!(&INIT[n..], b"<?xml");
        assert_eq!(head.method, Method::Post);
        assert_eq!(head.path, "/");
        assert_eq!(head.query, None);
        assert_eq!(head.minor_version, 1);
        assert_eq!(head.header("x-aggregate-auth"), Some("1"));
        assert_eq!(
            head.header("CONTENT-TYPE"),
            Some("application/xml; charset=utf-8")
        );
        assert_eq!(head.content_length(), Ok(368));
        assert!(!head.wants_close());
        assert_eq!(head.headers().len(), 10);
        assert_eq!(head.headers()[0].0, "Host");
    }

    #[test]
    fn incomplete_head_needs_more() {
        for cut in 0..INIT.len() - 6 {
            assert_eq!(parse_request_head(&INIT[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn query_is_split_off() {
        let (head, _) = parse_ok(b"GET /auth?secret=1&x HTTP/1.0\r\n\r\n");
        assert_eq!(head.path, "/auth");
        assert_eq!(head.query.as_deref(), Some("secret=1&x"));
        assert_eq!(head.minor_version, 0);
        assert!(head.wants_close());
    }

    #[test]
    fn connect_method() {
        let (head, _) = parse_ok(b"CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(head.method, Method::Connect);
        assert_eq!(head.path, "/CSCOSSLC/tunnel");
        let (head, _) = parse_ok(b"DELETE /x HTTP/1.1\r\n\r\n");
        assert_eq!(head.method, Method::Other("DELETE".into()));
    }

    #[test]
    fn head_too_large() {
        let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
        while buf.len() < MAX_HEAD_BYTES + 10 {
            buf.extend_from_slice(format!("X-Filler: {}\r\n", "a".repeat(1000)).as_bytes());
        }
        assert_eq!(parse_request_head(&buf), Err(HttpError::HeadTooLarge));
    }

    #[test]
    fn large_buffer_with_small_head_is_fine() {
        let mut buf = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n".to_vec();
        buf.extend(std::iter::repeat_n(b'a', MAX_HEAD_BYTES * 2));
        let (head, n) = parse_ok(&buf);
        assert_eq!(n, 38);
        assert_eq!(head.content_length(), Ok(5));
    }

    #[test]
    fn too_many_headers() {
        let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            buf.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(parse_request_head(&buf), Err(HttpError::TooManyHeaders));
    }

    #[test]
    fn chunked_is_rejected() {
        let buf = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            parse_request_head(buf),
            Err(HttpError::UnsupportedTransferEncoding)
        );
    }

    #[test]
    fn content_length_validation() {
        let bad = |v: &str| {
            let buf = format!("POST / HTTP/1.1\r\nContent-Length: {v}\r\n\r\n");
            parse_request_head(buf.as_bytes())
        };
        assert_eq!(bad("-1"), Err(HttpError::BadContentLength));
        assert_eq!(bad("12a"), Err(HttpError::BadContentLength));
        assert_eq!(bad("+5"), Err(HttpError::BadContentLength));
        assert_eq!(bad("262145"), Err(HttpError::BodyTooLarge));
        assert_eq!(
            bad("99999999999999999999999999"),
            Err(HttpError::BodyTooLarge)
        );
        assert!(matches!(bad("262144"), Ok(Some(_))));
        let two = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(parse_request_head(two), Err(HttpError::BadContentLength));
        let same = b"POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\n";
        assert_eq!(parse_ok(same).0.content_length(), Ok(2));
    }

    #[test]
    fn malformed_is_rejected() {
        assert!(matches!(
            parse_request_head(b"GET / HTTP/2.0\r\n\r\n"),
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(
            parse_request_head(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(
            parse_request_head(b"\x00\x01\x02 / HTTP/1.1\r\n\r\n"),
            Err(HttpError::Malformed(_))
        ));
    }

    #[test]
    fn cookies_from_all_headers() {
        let buf = b"CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\n\
Cookie: webvpncontext=abc; other=1\r\n\
Cookie: webvpn=Zm9v+/==\r\n\r\n";
        let (head, _) = parse_ok(buf);
        assert_eq!(head.cookie("webvpn"), Some("Zm9v+/=="));
        assert_eq!(head.cookie("webvpncontext"), Some("abc"));
        assert_eq!(head.cookie("other"), Some("1"));
        assert_eq!(head.cookie("WEBVPN"), None);
        assert_eq!(head.cookie("missing"), None);
    }

    #[test]
    fn connection_handling() {
        let (h, _) = parse_ok(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n");
        assert!(h.wants_close());
        let (h, _) = parse_ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(!h.wants_close());
        let (h, _) = parse_ok(b"GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n");
        assert!(h.wants_close());
    }

    #[test]
    fn debug_redacts_secrets() {
        let buf = b"GET /?camosecret HTTP/1.1\r\nCookie: webvpn=SECRETCOOKIE\r\n\
X-DTLS-Master-Secret: ABCDEF0123\r\nHost: h\r\n\r\n";
        let (head, _) = parse_ok(buf);
        let dbg = format!("{head:?}");
        assert!(!dbg.contains("SECRETCOOKIE"), "{dbg}");
        assert!(!dbg.contains("ABCDEF0123"), "{dbg}");
        assert!(!dbg.contains("camosecret"), "{dbg}");
        assert!(dbg.contains("Host"), "{dbg}");
    }
}
