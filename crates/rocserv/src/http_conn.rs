//! One TLS connection in its HTTP phase: reads requests within the pre-authentication limits
//! (protocol.md §1.6, ocserv-reference.md §1.10) and writes responses.

use std::net::SocketAddr;

use rocserv_proto::http::{self, HttpError, RequestHead, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;

pub type Tls = TlsStream<TcpStream>;

/// A complete request: head and body.
pub struct Request {
    pub head: RequestHead,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("{0}")]
    Http(#[from] HttpError),
    #[error("pipelined request refused")]
    Pipelined,
    #[error("too many requests on one connection")]
    TooManyRequests,
    #[error("connection closed in the middle of a request")]
    Truncated,
    #[error("authentication timeout")]
    Timeout,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl ConnError {
    /// The peer just went away (EOF without close_notify, reset): not worth an info-level log line.
    pub fn is_disconnect(&self) -> bool {
        match self {
            ConnError::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
            ),
            ConnError::Truncated => true,
            _ => false,
        }
    }

    /// The HTTP answer owed to the peer before closing, if any.
    pub fn response(&self) -> Option<Response> {
        match self {
            ConnError::Http(HttpError::HeadTooLarge)
            | ConnError::Http(HttpError::TooManyHeaders) => {
                Some(Response::error(431, "Request Header Fields Too Large"))
            }
            ConnError::Http(HttpError::BodyTooLarge) => {
                Some(Response::error(413, "Payload Too Large"))
            }
            ConnError::Http(HttpError::UnsupportedTransferEncoding) => {
                Some(Response::error(501, "Not Implemented"))
            }
            ConnError::Http(_) => Some(Response::error(400, "Bad Request")),
            ConnError::Pipelined => {
                Some(Response::error(400, "Pipelined requests are not supported"))
            }
            ConnError::TooManyRequests => Some(Response::error(429, "Too Many Requests")),
            ConnError::Truncated | ConnError::Timeout | ConnError::Io(_) => None,
        }
    }
}

pub struct HttpConn {
    pub tls: Tls,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    buf: Vec<u8>,
    requests: usize,
    /// Until authentication succeeds, every read must finish before this instant (`auth-timeout`).
    pub deadline: Instant,
    out: Vec<u8>,
}

impl HttpConn {
    pub fn new(tls: Tls, peer: SocketAddr, local: SocketAddr, deadline: Instant) -> Self {
        Self {
            tls,
            peer,
            local,
            buf: Vec::with_capacity(4096),
            requests: 0,
            deadline,
            out: Vec::with_capacity(4096),
        }
    }

    /// Reads straight into `buf` (no buffer in the future's state: every connection task would
    /// carry it for the tunnel's lifetime).
    async fn fill(&mut self) -> Result<usize, ConnError> {
        const CHUNK: usize = 4096;
        let start = self.buf.len();
        self.buf.resize(start + CHUNK, 0);
        let read = tokio::time::timeout_at(
            self.deadline,
            self.tls.read(self.buf.get_mut(start..).unwrap_or_default()),
        )
        .await;
        let n = match read {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                self.buf.truncate(start);
                return Err(e.into());
            }
            Err(_) => {
                self.buf.truncate(start);
                return Err(ConnError::Timeout);
            }
        };
        self.buf.truncate(start + n);
        Ok(n)
    }

    /// The TLS stream alone, for the tunnel; the HTTP buffers are freed.
    pub fn into_tls(self) -> Tls {
        self.tls
    }

    /// Reads the next request. `Ok(None)` when the peer closed the connection cleanly between requests.
    pub async fn next_request(&mut self) -> Result<Option<Request>, ConnError> {
        loop {
            if let Some((head, used)) = http::parse_request_head(&self.buf)? {
                self.requests += 1;
                if self.requests > http::MAX_REQUESTS_PER_CONNECTION {
                    return Err(ConnError::TooManyRequests);
                }
                let len = head.content_length()?;
                while self.buf.len() < used + len {
                    if self.fill().await? == 0 {
                        return Err(ConnError::Truncated);
                    }
                }
                if self.buf.len() > used + len {
                    return Err(ConnError::Pipelined);
                }
                let body = self.buf.get(used..used + len).unwrap_or_default().to_vec();
                self.buf.clear();
                return Ok(Some(Request { head, body }));
            }
            if self.buf.len() >= http::MAX_HEAD_BYTES {
                return Err(HttpError::HeadTooLarge.into());
            }
            if self.fill().await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ConnError::Truncated)
                };
            }
        }
    }

    pub async fn send(&mut self, resp: &Response) -> std::io::Result<()> {
        self.out.clear();
        resp.write_to(&mut self.out);
        self.tls.write_all(&self.out).await?;
        self.tls.flush().await
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.tls.write_all(bytes).await?;
        self.tls.flush().await
    }

    /// Sends `resp` and closes the TLS connection (close_notify), ignoring errors: the peer may be gone.
    pub async fn close_with(&mut self, resp: Option<&Response>) {
        if let Some(resp) = resp {
            let _ = self.send(resp).await;
        }
        let _ = self.tls.shutdown().await;
    }
}
