//! A DTLS 1.2 PSK-NEGOTIATE client (protocol.md §5.2) on OpenSSL over one connected tokio UDP
//! socket per session: identity `psk`, key from the TLS exporter, App-ID as ClientHello
//! session_id through a fake resumable session (the technique of the daemon's DTLS tests).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use foreign_types_shared::ForeignTypeRef as _;
use openssl::ssl::{
    ErrorCode, Ssl, SslContext, SslContextBuilder, SslMethod, SslOptions, SslStream, SslVerifyMode,
    SslVersion,
};
use tokio::net::UdpSocket;
use zeroize::Zeroizing;

use crate::session_der::{build_session, DTLS1_2_VERSION};

/// Largest DTLS payload we read (type byte + packet).
const MAX_RECORD: usize = 17 * 1024;

/// A DTLS failure.
#[derive(Debug, thiserror::Error)]
pub enum DtlsError {
    /// Socket setup or I/O.
    #[error("udp: {0}")]
    Io(#[from] io::Error),
    /// OpenSSL setup (context, session, SSL object).
    #[error("openssl: {0}")]
    Setup(#[from] openssl::error::ErrorStack),
    /// The handshake failed.
    #[error("handshake: {0}")]
    Handshake(String),
    /// No handshake within the deadline.
    #[error("handshake timed out")]
    Timeout,
}

/// Non-blocking I/O of OpenSSL on the tokio socket.
#[derive(Debug)]
struct UdpIo {
    sock: Arc<UdpSocket>,
}

impl Read for UdpIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.try_recv(buf)
    }
}

impl Write for UdpIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.try_send(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A DTLS 1.2 client context for one session: OpenSSL's `PSK` cipher list, no tickets, and a
/// PSK callback that answers identity `psk` with this session's exported key (one context per
/// session keeps the key out of any shared state).
pub fn psk_context(key: &Zeroizing<[u8; 32]>) -> Result<SslContext, DtlsError> {
    let mut b = SslContextBuilder::new(SslMethod::dtls_client())?;
    b.set_min_proto_version(Some(SslVersion::DTLS1_2))?;
    b.set_max_proto_version(Some(SslVersion::DTLS1_2))?;
    b.set_verify(SslVerifyMode::NONE);
    b.set_cipher_list("PSK")?;
    b.set_options(SslOptions::NO_QUERY_MTU | SslOptions::NO_TICKET);
    let key = Zeroizing::new(**key);
    b.set_psk_client_callback(move |_ssl, _hint, identity, psk| {
        if let Some(id) = identity.get_mut(..4) {
            id.copy_from_slice(b"psk\0");
        }
        match psk.get_mut(..32) {
            Some(dst) => {
                dst.copy_from_slice(&key[..]);
                Ok(32)
            }
            None => Ok(0),
        }
    });
    Ok(b.build())
}

/// An established DTLS channel.
pub struct DtlsChannel {
    stream: SslStream<UdpIo>,
    sock: Arc<UdpSocket>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for DtlsChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsChannel")
            .field("peer", &self.sock.peer_addr().ok())
            .finish_non_exhaustive()
    }
}

/// `DTLSv1_handle_timeout`: retransmits the last flight when OpenSSL's timer has expired.
fn handle_timeout(stream: &SslStream<UdpIo>) {
    const DTLS_CTRL_HANDLE_TIMEOUT: libc::c_int = 74;
    // SAFETY: a live SSL object; this ctrl takes no pointer argument.
    unsafe {
        openssl_sys::SSL_ctrl(
            stream.ssl().as_ptr(),
            DTLS_CTRL_HANDLE_TIMEOUT,
            0,
            std::ptr::null_mut(),
        );
    }
}

impl DtlsChannel {
    /// Runs the handshake with `server`, presenting `app_id` as session_id; bounded by
    /// `deadline`.
    pub async fn connect(
        ctx: &SslContext,
        app_id: &[u8],
        server: SocketAddr,
        mtu: u16,
        deadline: Duration,
    ) -> Result<Self, DtlsError> {
        let bind: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .map_err(|_| DtlsError::Handshake("bind address".into()))?;
        let sock = Arc::new(UdpSocket::bind(bind).await?);
        sock.connect(server).await?;
        let mut ssl = Ssl::new(ctx)?;
        ssl.set_mtu(u32::from(mtu))?;
        let session = build_session(DTLS1_2_VERSION, 0x00A9, app_id, &[0u8; 48])?;
        // SAFETY: a DER-built session belongs to no context.
        unsafe { ssl.set_session(&session)? };
        ssl.set_connect_state();
        let io = UdpIo {
            sock: Arc::clone(&sock),
        };
        let mut stream = SslStream::new(ssl, io)?;
        let work = async {
            loop {
                match stream.connect() {
                    Ok(()) => return Ok(()),
                    Err(e) if e.code() == ErrorCode::WANT_READ => {
                        // OpenSSL's first retransmission timer is 1 s; poll it at 250 ms.
                        let _ =
                            tokio::time::timeout(Duration::from_millis(250), sock.readable()).await;
                        handle_timeout(&stream);
                    }
                    Err(e) if e.code() == ErrorCode::WANT_WRITE => {
                        sock.writable().await?;
                    }
                    Err(e) => return Err(DtlsError::Handshake(e.to_string())),
                }
            }
        };
        tokio::time::timeout(deadline, work)
            .await
            .map_err(|_| DtlsError::Timeout)??;
        Ok(DtlsChannel {
            stream,
            sock,
            buf: vec![0u8; MAX_RECORD],
        })
    }

    /// Sends one record (type byte + payload). Errors are reported, never fatal here.
    pub fn send(&mut self, record: &[u8]) -> Result<(), DtlsError> {
        self.stream
            .ssl_write(record)
            .map(|_| ())
            .map_err(|e| DtlsError::Handshake(e.to_string()))
    }

    /// Waits until the socket is readable (cancel-safe).
    pub async fn readable(&self) -> io::Result<()> {
        self.sock.readable().await
    }

    /// Every record that can be read now, passed to `f`. `Err` on a fatal DTLS error.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8])) -> Result<(), DtlsError> {
        loop {
            match self.stream.ssl_read(&mut self.buf) {
                Ok(n) => f(self.buf.get(..n).unwrap_or_default()),
                Err(e) if e.code() == ErrorCode::WANT_READ => return Ok(()),
                Err(e) if e.code() == ErrorCode::ZERO_RETURN => {
                    return Err(DtlsError::Handshake("peer closed DTLS".into()))
                }
                Err(e) => {
                    // A lost or garbled datagram is not fatal for DTLS; an I/O error
                    // other than would-block is.
                    if e.io_error().is_some() {
                        return Err(DtlsError::Handshake(e.to_string()));
                    }
                    return Ok(());
                }
            }
        }
    }
}
