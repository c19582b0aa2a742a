//! HTTP/1.x for the authentication exchange and the tunnel `CONNECT`: a bounded request-head
//! parser (built on `httparse`) and a hand-written response writer that keeps header case.
//!
//! Bodies are not parsed here: the caller reads [`RequestHead::content_length`] bytes after the
//! head and hands them to, e.g., [`crate::auth_xml::parse_client_auth`].

mod request;
mod response;

pub use request::{parse_request_head, Method, RequestHead, MAX_HEADERS};
pub use response::Response;

/// Largest request head (request line + headers + blank line) accepted, in bytes.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Requests served on one connection before it is closed (ocserv: 16).
pub const MAX_REQUESTS_PER_CONNECTION: usize = 16;

/// Why a request head was rejected. Messages are short enough for an HTTP reason phrase or a
/// log line and never contain request data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// No complete request head within [`MAX_HEAD_BYTES`].
    #[error("request head larger than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    /// `Content-Length` above [`MAX_BODY_BYTES`].
    #[error("request body larger than {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    /// More header lines than [`MAX_HEADERS`].
    #[error("too many request headers (max {MAX_HEADERS})")]
    TooManyHeaders,
    /// The request line or a header line is not valid HTTP/1.x.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// `Content-Length` is not a decimal number, or several disagree.
    #[error("invalid Content-Length")]
    BadContentLength,
    /// `Transfer-Encoding` (e.g. chunked) is not supported for requests.
    #[error("Transfer-Encoding is not supported")]
    UnsupportedTransferEncoding,
}

impl HttpError {
    /// A suitable HTTP status code for answering the peer before closing the connection.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::HeadTooLarge | HttpError::TooManyHeaders => 431,
            HttpError::BodyTooLarge => 413,
            HttpError::Malformed(_) | HttpError::BadContentLength => 400,
            HttpError::UnsupportedTransferEncoding => 501,
        }
    }
}

/// Headers whose values are credentials and must be redacted from any log or debug output:
/// `Cookie`, `Set-Cookie`, `Authorization`, `Proxy-Authorization`, `X-DTLS-Master-Secret`,
/// `X-CSTP-Post-Auth-XML` and the `X-AnyConnect-STRAP-*` values. Case-insensitive.
pub fn is_sensitive_header(name: &str) -> bool {
    const SENSITIVE: &[&str] = &[
        "cookie",
        "set-cookie",
        "authorization",
        "proxy-authorization",
        "x-dtls-master-secret",
        "x-cstp-post-auth-xml",
        "x-anyconnect-strap-verify",
        "x-anyconnect-strap-pubkey",
        "x-anyconnect-strap-dh-pubkey",
    ];
    SENSITIVE.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// Removes CR and LF (and NUL) so a value cannot break out of its header line.
pub(crate) fn strip_crlf(value: &str) -> String {
    value
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_headers_are_case_insensitive() {
        assert!(is_sensitive_header("Cookie"));
        assert!(is_sensitive_header("set-cookie"));
        assert!(is_sensitive_header("X-DTLS-Master-Secret"));
        assert!(is_sensitive_header("x-cstp-post-auth-xml"));
        assert!(is_sensitive_header("AUTHORIZATION"));
        assert!(!is_sensitive_header("Host"));
        assert!(!is_sensitive_header("X-CSTP-MTU"));
    }

    #[test]
    fn strip_crlf_removes_line_breaks() {
        assert_eq!(strip_crlf("a\r\nb\nc\rd"), "abcd");
        assert_eq!(strip_crlf("plain"), "plain");
    }

    #[test]
    fn error_statuses() {
        assert_eq!(HttpError::HeadTooLarge.status(), 431);
        assert_eq!(HttpError::BodyTooLarge.status(), 413);
        assert_eq!(HttpError::Malformed("x".into()).status(), 400);
        assert_eq!(HttpError::UnsupportedTransferEncoding.status(), 501);
    }
}
