//! A minimal HTTP/1.1 response writer that keeps header names exactly as given.

use std::fmt;

use super::{is_sensitive_header, strip_crlf};

/// An HTTP/1.1 response. Header names keep their case; values are stripped of CR/LF;
/// [`Response::write_to`] always emits `Content-Length`. `Debug` redacts `Set-Cookie` and
/// shows only the body length.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// A response with no headers and an empty body.
    pub fn new(status: u16, reason: &str) -> Self {
        Self {
            status,
            reason: strip_crlf(reason),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Appends a header (repeatable, e.g. `Set-Cookie`). A `Content-Length` given here is
    /// ignored by [`Response::write_to`], which computes its own.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        let value: String = value.into();
        self.headers.push((strip_crlf(name), strip_crlf(&value)));
        self
    }

    /// Sets the body and its `Content-Type` (replacing an earlier `Content-Type`).
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("Content-Type"));
        self.headers
            .push(("Content-Type".to_owned(), strip_crlf(content_type)));
        self.body = body.into();
        self
    }

    /// `200 OK` carrying an auth XML document: `Content-Type: text/xml`,
    /// `X-Transcend-Version: 1`.
    pub fn xml(body: String) -> Self {
        Self::new(200, "OK")
            .body("text/xml", body)
            .header("X-Transcend-Version", "1")
    }

    /// `404 Not Found` with a tiny HTML body and `Connection: close`.
    pub fn not_found() -> Self {
        Self::new(404, "Not Found")
            .header("Connection", "close")
            .body(
                "text/html",
                "<html><body><h1>404 Not Found</h1></body></html>\n",
            )
    }

    /// Terminal authentication failure: `401 <reason>`, empty body. The caller closes the
    /// connection afterwards.
    pub fn unauthorized(reason: &str) -> Self {
        Self::new(401, reason)
    }

    /// Any other error status with an empty body.
    pub fn error(status: u16, reason: &str) -> Self {
        Self::new(status, reason)
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Headers in the order they will be written (without `Content-Length`).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body bytes.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// Appends the serialized response to `out`: status line, headers in insertion order,
    /// `Content-Length`, blank line, body.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", self.status, self.reason).as_bytes());
        for (name, value) in &self.headers {
            if name.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
    }

    /// The serialized response as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        self.write_to(&mut out);
        out
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let v = if is_sensitive_header(n) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (n.as_str(), v)
            })
            .collect();
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Response) -> String {
        String::from_utf8(r.to_bytes()).unwrap()
    }

    #[test]
    fn writes_status_headers_and_length() {
        let r = Response::new(200, "OK")
            .header("Set-Cookie", "webvpn=abc; Secure; HttpOnly")
            .header("X-CSTP-Version", "1")
            .body("text/plain", "hello");
        assert_eq!(
            text(&r),
            "HTTP/1.1 200 OK\r\nSet-Cookie: webvpn=abc; Secure; HttpOnly\r\n\
X-CSTP-Version: 1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
        );
    }

    #[test]
    fn crlf_injection_is_stripped() {
        let r = Response::new(200, "OK\r\nEvil: 1")
            .header("X-A", "v\r\nInjected: yes")
            .header("X-B\n", "w");
        let t = text(&r);
        assert!(t.starts_with("HTTP/1.1 200 OKEvil: 1\r\n"), "{t}");
        assert!(t.contains("X-A: vInjected: yes\r\n"), "{t}");
        assert!(t.contains("X-B: w\r\n"), "{t}");
        assert!(!t.contains("\r\nInjected"), "{t}");
    }

    #[test]
    fn caller_content_length_is_replaced() {
        let r = Response::new(200, "OK")
            .header("Content-Length", "999")
            .body("text/plain", "ab");
        let t = text(&r);
        assert!(!t.contains("999"), "{t}");
        assert!(t.contains("Content-Length: 2\r\n"), "{t}");
    }

    #[test]
    fn body_replaces_content_type() {
        let r = Response::new(200, "OK")
            .body("text/plain", "a")
            .body("text/xml", "b");
        let n = r
            .headers()
            .iter()
            .filter(|(n, _)| n == "Content-Type")
            .count();
        assert_eq!(n, 1);
        assert_eq!(r.body_bytes(), b"b");
    }

    #[test]
    fn convenience_constructors() {
        let x = text(&Response::xml("<x/>".into()));
        assert!(x.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(x.contains("Content-Type: text/xml\r\n"));
        assert!(x.contains("X-Transcend-Version: 1\r\n"));
        assert!(x.ends_with("Content-Length: 4\r\n\r\n<x/>"));

        let nf = text(&Response::not_found());
        assert!(nf.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(nf.contains("Connection: close\r\n"));
        assert!(!nf.contains("Content-Length: 0\r\n"));

        let u = text(&Response::unauthorized("Authentication failed"));
        assert_eq!(
            u,
            "HTTP/1.1 401 Authentication failed\r\nContent-Length: 0\r\n\r\n"
        );

        let e = text(&Response::error(503, "Service Unavailable"));
        assert_eq!(
            e,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn debug_redacts_set_cookie() {
        let r = Response::new(200, "OK").header("Set-Cookie", "webvpn=TOPSECRET");
        let d = format!("{r:?}");
        assert!(!d.contains("TOPSECRET"), "{d}");
    }
}
